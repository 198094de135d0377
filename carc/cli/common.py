"""What every command shares: exit codes, the usage error, argument types, JSON output.

>>> positive("3")
3
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, Protocol

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A bad flag value or a missing input: exit 2."""


class Subparsers(Protocol):
    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def add_command(sub: Subparsers, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    """A sub-command with its handler and the `--json` flag every command has."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def emit_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, sort_keys=False))


def shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 64x64, not {text!r}") from None
    if not (1 <= h <= 4096 and 1 <= w <= 4096):
        raise argparse.ArgumentTypeError(f"frame sides must be 1..4096, not {text!r}")
    return h, w


def integer(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what}, not {value}")
    return value


def positive(text: str) -> int:
    return integer(text, 1, 10**9, "expected a number from 1 to 10**9")


def seed(text: str) -> int:
    return integer(text, 0, 2**31 - 1, "a seed is in [0, 2**31)")


def tile(text: str) -> int:
    return integer(text, 1, 256, "a tile size is 1 to 256 pixels")


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], not {value}")
    return value
