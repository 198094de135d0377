"""The top layer: the `carc` command line.

``main`` is the entry point of the `carc` script and of `python -m carc`. It installs carc's stop
handlers (carc.core.signals) before it loads the command line (and with it the compiler), so Ctrl-C
or SIGTERM while modules are still loading is the same one line and exit 130 / 143 as at any later
moment. After an interrupt (130) or SIGTERM (143) the process
ends at once, once the command has unwound and its output is flushed: nothing a library left behind
(threads, LLVM's own signal handlers) runs at interpreter exit and turns the status into a signal death.
"""

from __future__ import annotations

import os
import sys

_SIGNAL_EXITS = (130, 143)


def _end(status: int) -> int:
    if status in _SIGNAL_EXITS:
        for stream in (sys.stdout, sys.stderr):
            try:  # noqa: SIM105 - contextlib costs an import before Ctrl-C is carc's
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    return status


def main(argv: list[str] | None = None) -> int:
    try:  # a Ctrl-C from the first line on is the one line and 130, even before the handlers are in
        from carc.core.signals import install_stop_handlers, raise_if_terminated

        install_stop_handlers()  # from here on a stop request waits for the imports to finish, then ends the run
        from carc.cli.main import main as run

        raise_if_terminated()
    except KeyboardInterrupt:
        print("carc: interrupted", file=sys.stderr)
        return _end(130)
    except BaseException as stop:
        from carc.core.signals import Terminated

        if not isinstance(stop, Terminated):
            raise
        print("carc: terminated", file=sys.stderr)
        return _end(143)
    return _end(run(argv))


__all__ = ["main"]
