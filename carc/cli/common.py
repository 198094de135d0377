"""What every command shares: exit codes, the usage error, argument types, JSON output, and the
process-level guards (signals, a standard output that carries JSON alone, output encodings).

>>> positive("3")
3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from carc.core.limits import LIMITS, MAX_EPISODES, MAX_SIDE
from carc.core.signals import stop_handlers

if TYPE_CHECKING:
    from carc import ir

MAX_TILE = int(LIMITS["max_tile"].cap)

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED = 130, 141, 143
_JSON_STREAMS: list[TextIO] = []  # the real standard output while a --json command runs

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
    """Print the JSON document of a command: to the real standard output, whatever else is redirected."""
    stream = _JSON_STREAMS[-1] if _JSON_STREAMS else sys.stdout
    stream.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def process_guards() -> Iterator[None]:
    """While a command runs: Ctrl-C raises KeyboardInterrupt and SIGTERM raises Terminated (both unwind
    through every cleanup; see carc.core.signals for where they wait a moment), and text that cannot
    be encoded for the terminal is escaped, not fatal."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    with stop_handlers():
        yield


@contextlib.contextmanager
def json_only_stdout(enabled: bool) -> Iterator[None]:
    """With ``--json``, standard output carries the JSON document alone: while the command runs, file
    descriptor 1 and ``sys.stdout`` point at standard error (so what a library prints, even from C
    like pybullet, lands there), and ``emit_json`` writes to the real standard output."""
    if not enabled:
        yield
        return
    real = sys.stdout
    real.flush()
    try:
        on_fd_1 = real.fileno() == 1
    except (AttributeError, ValueError, OSError):
        on_fd_1 = False
    try:
        restore = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        restore = None
    stream: TextIO = real
    if on_fd_1 and restore is not None:
        stream = os.fdopen(os.dup(restore), "w", encoding="utf-8", errors="backslashreplace")
    _JSON_STREAMS.append(stream)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        _JSON_STREAMS.pop()
        sys.stdout = real
        try:
            stream.flush() if stream is real else stream.close()
        finally:
            if restore is not None:
                os.dup2(restore, 1)
                os.close(restore)


def quiet_stdout() -> None:
    """Point standard output at /dev/null, so a broken or full output is not written to again at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def checked_for_env(path: str, env_id: str) -> ir.Program:
    """The program in ``path``, checked (CarcError with its diagnostics if not), with a warning on
    stderr when its stdlib palette belongs to another env family than ``env_id``'s."""
    from carc.api import compile_record, read_program
    from carc.envs.registry import palette_mismatch

    record = compile_record(read_program(path), path, lints=False)
    program = record.checked()
    mismatch = palette_mismatch(record.used_modules, env_id)
    if mismatch is not None:
        print(f"carc: warning: {mismatch}", file=sys.stderr)
    return program


def say_error(message: str) -> None:
    """One line on standard error (which may itself be gone: then nothing)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"carc: {message}", file=sys.stderr, flush=True)


def shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 64x64, not {text!r}") from None
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"frame sides must be 1..{MAX_SIDE}, not {text!r}")
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


def at_most(cap: int, what: str) -> Callable[[str], int]:
    """An argument type: a whole number of ``what`` from 1 to ``cap``.

    >>> at_most(1_000, "repeats")("1000000")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a number of repeats from 1 to 1,000, not 1000000
    """
    def parse(text: str) -> int:
        return integer(text, 1, cap, f"expected a number of {what} from 1 to {cap:,}")

    return parse


episode_count = at_most(MAX_EPISODES, "episodes")


def seed(text: str) -> int:
    return integer(text, 0, 2**31 - 1, "a seed is in [0, 2**31)")


def tile(text: str) -> int:
    return integer(text, 1, MAX_TILE, f"a tile size is 1 to {MAX_TILE} pixels")


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], not {value}")
    return value
