"""Syntax: the AST of carc programs, the parser that builds it, and the canonical printer."""
