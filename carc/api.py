"""The library entry points: check and compile reward programs from text or files.

>>> prog = check_text('program p "d" observe rgb subtask s "s" bonus 1 : true')
>>> prog.name
'p'
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from carc import ir
from carc.core.diagnostics import CarcError, Diagnostic, Source, Span
from carc.core.limits import LIMITS
from carc.lang.record import Compilation
from carc.lang.record import compile_record as _compile_record

if TYPE_CHECKING:
    from carc.backend.kernel import Kernel


class ProgramFileError(Exception):
    """A program file that cannot be read at all (missing, a directory, a device, a FIFO, unreadable)."""


def _require_text(text: object, what: str) -> str | bytes:
    if isinstance(text, (str, bytes)):
        return text
    if isinstance(text, bytearray):
        return bytes(text)
    raise TypeError(f"{what} expects the program text as str or bytes, not {type(text).__name__}")


def _require_name(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} expects name as a str, not {type(name).__name__}")
    return name


def _require_path(path: object, what: str) -> str | os.PathLike[str]:
    if isinstance(path, str) or (isinstance(path, os.PathLike) and isinstance(os.fspath(path), str)):
        return path
    raise TypeError(f"{what} expects a path as a str or os.PathLike, not {type(path).__name__}")


def _too_big(name: str, size: str) -> CarcError:
    cap = int(LIMITS["max_bytes"].cap)
    return CarcError([Diagnostic("E104", f"program is {size} bytes; the limit is {cap}", Span(Source(name, ""), 0, 0))])


def _open_regular(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor of a regular file; never waits on a FIFO (O_NONBLOCK) and never opens a device for reading."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise ProgramFileError(f"cannot read {path}: {err.strerror or err}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "it is a directory" if stat.S_ISDIR(mode) else "not a regular file (a device, FIFO or socket)"
        raise ProgramFileError(f"cannot read {path}: {what}")
    return fd


def read_program(path: str | Path) -> bytes:
    """The bytes of a program file, read with a bound: at most the size cap plus one byte, from a regular
    file only (a directory, a device such as /dev/zero, a FIFO or a socket is refused without waiting).

    A file over the cap is a CarcError (E104), like program text over the cap."""
    fd = _open_regular(_require_path(path, "read_program"))
    cap = int(LIMITS["max_bytes"].cap)
    try:
        size = os.fstat(fd).st_size
        if size > cap:
            raise _too_big(str(path), str(size))
        chunks: list[bytes] = []
        size = 0
        while size <= cap:
            chunk = os.read(fd, cap + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise ProgramFileError(f"cannot read {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    if size > cap:
        raise _too_big(str(path), f"more than {cap}")
    return b"".join(chunks)


def compile_record(text: str | bytes, name: str = "<string>", lints: bool = True) -> Compilation:
    """Gate, parse and check program text once into a record (carc.lang.record.Compilation: source,
    AST, IR, diagnostics, structural metrics) with, when `lints`, the lint warnings of a checked
    program. Never raises for any program text; the audit and the repair loop read it."""
    text = _require_text(text, "compile_record")
    name = _require_name(name, "compile_record")
    record = _compile_record(text, name)
    if lints and record.unit is not None and record.program is not None:
        from dataclasses import replace

        from carc.analysis.lints import lint

        record = replace(record, lints=tuple(lint(record.unit, record.program)))
    return record


def check_text(text: str | bytes, name: str = "<string>") -> ir.Program:
    """Gate, parse and type-check program text; raise CarcError with every problem.

    ``text`` is str or bytes (a bytearray is copied); anything else is a TypeError, as is a non-str name."""
    text = _require_text(text, "check_text")
    name = _require_name(name, "check_text")
    return _compile_record(text, name).checked()


def check_file(path: str | Path) -> ir.Program:
    return check_text(read_program(path), str(path))


@dataclass(frozen=True)
class Compiled:
    """A checked program and its compiled kernel."""

    program: ir.Program
    kernel: Kernel


def compile_text(text: str | bytes, name: str = "<string>", cache_dir: Path | None = None) -> Compiled:
    """Check, then compile to a cached numba kernel (generated source is whitelisted first)."""
    from carc.backend.kernel import compile_program

    if cache_dir is not None:
        cache_dir = Path(_require_path(cache_dir, "compile_text"))
    program = check_text(text, name)
    return Compiled(program, compile_program(program, cache_dir=cache_dir))


def compile_file(path: str | Path, cache_dir: Path | None = None) -> Compiled:
    return compile_text(read_program(path), str(path), cache_dir=cache_dir)
