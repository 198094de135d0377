"""The library entry points: check and compile reward programs from text or files.

>>> prog = check_text('program p "d" observe rgb subtask s "s" bonus 1 : true')
>>> prog.name
'p'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from carc import ir
from carc.core.diagnostics import CarcError, Diagnostic, Source, Span
from carc.lang.checker import check_text as _check_text

if TYPE_CHECKING:
    from carc.backend.kernel import Kernel


class ProgramFileError(Exception):
    """A program file that cannot be read at all (missing, a directory, unreadable)."""


def read_program(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ProgramFileError(f"cannot read {path}: {err.strerror or err}") from None


def check_text(text: str | bytes, name: str = "<string>") -> ir.Program:
    """Gate, parse and type-check program text; raise CarcError with every problem."""
    try:
        return _check_text(text, name)
    except RecursionError:
        # Limits make this unreachable; if it ever happens it is still a clean carc error.
        source = Source(name, "")
        raise CarcError([Diagnostic("E106", "program is nested too deeply", Span(source, 0, 0))]) from None


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

    program = check_text(text, name)
    return Compiled(program, compile_program(program, cache_dir=cache_dir))


def compile_file(path: str | Path, cache_dir: Path | None = None) -> Compiled:
    return compile_text(read_program(path), str(path), cache_dir=cache_dir)
