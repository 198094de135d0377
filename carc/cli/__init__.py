"""The top layer: the `carc` command line."""

from carc.cli.main import main

__all__ = ["main"]
