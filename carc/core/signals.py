"""Stop requests (Ctrl-C, SIGTERM) that unwind cleanly wherever they arrive.

The command line's handlers raise at once (`KeyboardInterrupt` for Ctrl-C, `Terminated` for
SIGTERM), which unwinds through every cleanup, except where an exception raised by a signal handler
would be lost or turned into something else: inside a finaliser (a `__del__`) or a ctypes callback
(llvmlite calls Python back while numba loads a function: Python prints the exception and carries
on), or while a module is being imported (an extension module's import turns it into an
ImportError, which optional-import code then swallows), or inside a block that asks for it
(`stops_deferred()`: writing a file through library code that an exception at an arbitrary point
leaves broken, such as zipfile's writer, which then raises its own error in place of the interrupt).
There the handler records the request and re-arms a 20 ms timer (SIGALRM) that raises it as soon as
the program is back in plain code. Long loops also call `raise_if_terminated()` between units of
work.

>>> raise_if_terminated()      # nothing requested: returns
"""

from __future__ import annotations

import signal

# typing.TYPE_CHECKING without importing typing (slow): the command line installs these handlers
# before anything else loads (mypy reads any name TYPE_CHECKING the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import Any

RETRY_S = 0.02


class Terminated(BaseException):
    """SIGTERM arrived: unwind (so temporary files are removed), then exit 143."""


_requested: type[BaseException] | None = None
_deferring = 0  # how many stops_deferred() blocks are running


def request_termination() -> None:
    """Record a termination request (as the SIGTERM handler does)."""
    global _requested
    _requested = Terminated


def request_interrupt() -> None:
    """Record an interrupt (as the Ctrl-C handler does)."""
    global _requested
    _requested = KeyboardInterrupt


def clear_termination() -> None:
    """Forget a request (a command has ended, or a new one starts)."""
    global _requested
    _requested = None
    _cancel_retry()


def raise_if_terminated() -> None:
    """Raise `Terminated` (or `KeyboardInterrupt`) when that was requested and not yet honoured."""
    if _requested is not None:
        _cancel_retry()  # raised here, in plain code: no retry may interrupt the unwinding
        raise _requested()


def _cancel_retry() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0.0)


# The two blocks below are classes, not contextlib generators: this module loads before anything
# else, and contextlib is an import the command line does not pay before its handlers are in.
class _StopsDeferred:
    def __enter__(self) -> None:
        global _deferring
        _deferring += 1

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, traceback: Any) -> None:
        global _deferring
        _deferring -= 1
        if kind is None and _deferring == 0:
            raise_if_terminated()


def stops_deferred() -> _StopsDeferred:
    """A block in which Ctrl-C and SIGTERM wait: a request that arrives is raised when the block ends
    (or, if the block raises, by the retry timer just after)."""
    return _StopsDeferred()


def unsafe_to_raise(frame: FrameType | None) -> bool:
    """True inside a finaliser, a callback from llvmlite, an import in progress or a `stops_deferred()`
    block: places where an exception raised by a signal handler is lost or changed."""
    if _deferring > 0:
        return True
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or "importlib._bootstrap" in code.co_filename or "llvmlite" in code.co_filename:
            return True
        frame = frame.f_back
    return False


def _raise_when_safe(frame: FrameType | None) -> None:
    if _requested is None:
        return
    if unsafe_to_raise(frame):
        signal.setitimer(signal.ITIMER_REAL, RETRY_S)
        return
    _cancel_retry()
    raise _requested()


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    request_interrupt()
    _raise_when_safe(frame)


def _on_terminate(signum: int, frame: FrameType | None) -> None:
    request_termination()
    _raise_when_safe(frame)


def _on_retry(signum: int, frame: FrameType | None) -> None:
    _raise_when_safe(frame)


def install_stop_handlers() -> Callable[[], None]:
    """Install the Ctrl-C, SIGTERM and retry handlers; returns a function that puts back the
    previous ones. Outside the main thread nothing is installed (Python allows signals only there)."""
    saved: dict[int, Any] = {}
    try:
        for number, handler in ((signal.SIGINT, _on_interrupt), (signal.SIGTERM, _on_terminate), (signal.SIGALRM, _on_retry)):
            saved[number] = signal.signal(number, handler)
    except ValueError:  # not the main thread
        pass

    def restore() -> None:
        _cancel_retry()
        for number, handler in saved.items():
            signal.signal(number, handler)

    return restore


class _StopHandlers:
    def __enter__(self) -> None:
        self._restore = install_stop_handlers()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, traceback: Any) -> None:
        self._restore()
        clear_termination()


def stop_handlers() -> _StopHandlers:
    """A block with carc's Ctrl-C, SIGTERM and retry handlers installed; after it, the previous
    handlers are back and no request is left over."""
    return _StopHandlers()
