"""A termination request (SIGTERM) that long work also honours at safe points.

The command line's SIGTERM handler raises `Terminated` at once, which unwinds through every cleanup.
A signal handler's exception can be lost, though: when it fires inside a finaliser (a `__del__`,
a weakref callback), Python prints it and carries on. So the handler also records the request,
and long loops (recording episodes, say) call `raise_if_terminated()` between units of work.

>>> raise_if_terminated()      # nothing requested: returns
"""

from __future__ import annotations


class Terminated(BaseException):
    """SIGTERM arrived: unwind (so temporary files are removed), then exit 143."""


_requested = False


def request_termination() -> None:
    """Record a termination request (called by the SIGTERM handler)."""
    global _requested
    _requested = True


def clear_termination() -> None:
    """Forget an earlier request (a new command starts)."""
    global _requested
    _requested = False


def raise_if_terminated() -> None:
    """Raise `Terminated` when termination was requested and not yet honoured."""
    if _requested:
        raise Terminated()
