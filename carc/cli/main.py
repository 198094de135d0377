"""The `carc` command line. Each command group is a module with a `register(subparsers)`.

Exit codes: 0 ok; 1 program rejected or verification failed; 2 usage or input error (bad flag,
missing or malformed file, an output or cache path carc will not write, a full disk); 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM), 141 standard output closed (a quiet exit, as `| head`). Every
reporting command has --json, and with it standard output carries the JSON document alone. A Python
traceback on any input is a bug; exit 3 ("internal error") is the last line of defence only.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import NoReturn

from carc import __version__
from carc.api import ProgramFileError
from carc.backend.cache import CacheError
from carc.cli import bench, demo, episodes, explain, generate, program, train
from carc.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_REJECTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageError,
    emit_json,
    json_only_stdout,
    process_guards,
    quiet_stdout,
    say_error,
)
from carc.core.diagnostics import CarcError
from carc.core.files import OutputError
from carc.core.signals import Terminated

COMMAND_GROUPS: tuple[ModuleType, ...] = (program, bench, episodes, explain, demo, generate, train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carc", description="Compile, audit and verify reward programs written by a VLM.")
    parser.add_argument("--version", action="version", version=f"carc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _fail_usage(message: str) -> NoReturn:
    say_error("error: " + "; ".join(line.strip() for line in message.splitlines() if line.strip()))
    raise SystemExit(EXIT_USAGE)


def _is_input_error(err: Exception) -> bool:
    """A bad trajectory file, an env carc cannot use, an output or cache path it will not write: the
    user's input or environment, so exit 2.

    The trajectory and env errors need the `envs` extra; without gymnasium installed they cannot occur.
    """
    if isinstance(err, (OutputError, CacheError)):
        return True
    try:
        import gymnasium

        from carc.envs.registry import EnvError
        from carc.verify.trajectories import TrajectoryError
    except ImportError:
        return False
    return isinstance(err, (TrajectoryError, EnvError, gymnasium.error.Error))


# The optional dependencies, by top-level module, and the extra that installs each.
EXTRA_OF_MODULE = {
    "gymnasium": "envs", "minigrid": "envs", "tqdm": "envs", "hypothesis": "verify", "pybullet": "panda",
    "panda_gym": "panda", "openai": "generate", "PIL": "generate", "torch": "train", "stable_baselines3": "train",
    "tensorboard": "train", "matplotlib": "train", "rich": "train", "ray": "ray",
}


def _missing_extra(err: ModuleNotFoundError) -> str | None:
    """The one-line advice for a command that needs an extra the install lacks, or None."""
    module = (err.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    return f"this command needs the '{extra}' extra ({module} is not installed): pip install 'carc[{extra}]'"


def _internal_error(err: Exception) -> int:
    if os.environ.get("CARC_DEBUG"):
        raise err
    say_error(f"internal error: {type(err).__name__}: {err} (this is a bug in carc; CARC_DEBUG=1 shows the traceback)")
    return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args))
    except CarcError as err:
        if getattr(args, "json", False):
            emit_json({"ok": False, "diagnostics": [d.to_json() for d in err.diagnostics]})
        else:
            print(err, file=sys.stderr)
        return EXIT_REJECTED
    except (ProgramFileError, UsageError) as err:
        _fail_usage(str(err))
    except OSError:
        raise  # standard output gone or full, or a file the environment refused: main decides
    except ModuleNotFoundError as err:
        advice = _missing_extra(err)
        if advice is None:
            return _internal_error(err)
        _fail_usage(advice)
    except Exception as err:  # noqa: BLE001 - inputs named on the command line, not carc bugs
        if not _is_input_error(err):
            return _internal_error(err)
        _fail_usage(str(err))


def _os_error(err: OSError) -> int:
    """A write to standard output that failed (closed pipe, full device), or a file the system refused."""
    if isinstance(err, BrokenPipeError):
        quiet_stdout()
        return EXIT_BROKEN_PIPE
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        quiet_stdout()
    where = f": {err.filename}" if err.filename else ""
    say_error(f"error: {err.strerror or err}{where}")
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit status; Ctrl-C is 130 and SIGTERM 143 (one line each), a
    closed output pipe a quiet 141."""
    with process_guards():
        try:
            args = build_parser().parse_args(argv)
            with json_only_stdout(bool(getattr(args, "json", False))):
                status = _dispatch(args)
            sys.stdout.flush()
            return status
        except KeyboardInterrupt:
            say_error("interrupted")
            return EXIT_INTERRUPTED
        except Terminated:
            say_error("terminated")
            return EXIT_TERMINATED
        except OSError as err:
            return _os_error(err)


if __name__ == "__main__":
    sys.exit(main())
