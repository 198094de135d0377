"""Layer 0: diagnostics and error codes, limits, text formatting of literals, packaged resources.

Imports nothing else from carc.
"""
