"""The `carc` command line. Each command group is a module with a `register(subparsers)`.

Exit codes: 0 ok; 1 program rejected or verification failed; 2 usage or input error (bad flag,
missing or malformed file); 130 interrupted. Every reporting command has --json. A Python traceback
on any input is a bug; exit 3 ("internal error") is the last line of defence only.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import NoReturn

from carc import __version__
from carc.api import ProgramFileError
from carc.cli import bench, demo, episodes, program
from carc.cli.common import EXIT_INTERNAL, EXIT_REJECTED, EXIT_USAGE, UsageError, emit_json
from carc.core.diagnostics import CarcError

COMMAND_GROUPS: tuple[ModuleType, ...] = (program, bench, episodes, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carc", description="Compile, audit and verify reward programs written by a VLM.")
    parser.add_argument("--version", action="version", version=f"carc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _fail_usage(message: str) -> NoReturn:
    print(f"carc: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _is_input_error(err: Exception) -> bool:
    """A bad trajectory file or an unknown environment id: the user's input, so exit 2."""
    import gymnasium

    from carc.verify.trajectories import TrajectoryError

    return isinstance(err, (TrajectoryError, gymnasium.error.Error))


def _internal_error(err: Exception) -> int:
    if os.environ.get("CARC_DEBUG"):
        raise err
    print(f"carc: internal error: {type(err).__name__}: {err}\n(this is a bug in carc; CARC_DEBUG=1 shows the traceback)", file=sys.stderr)
    return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CarcError as err:
        if getattr(args, "json", False):
            emit_json({"ok": False, "diagnostics": [d.to_json() for d in err.diagnostics]})
        else:
            print(err, file=sys.stderr)
        return EXIT_REJECTED
    except (ProgramFileError, UsageError) as err:
        _fail_usage(str(err))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - inputs named on the command line, not carc bugs
        if not _is_input_error(err):
            return _internal_error(err)
        _fail_usage(str(err))


if __name__ == "__main__":
    sys.exit(main())
