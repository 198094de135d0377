"""Diagnostics: every error carc reports has a file, a line, a column, a code and a message.

>>> src = Source("prog.car", "let x = )")
>>> print(Diagnostic("E202", "unexpected ')'", Span(src, 8, 9)).render())
prog.car:1:9: error[E202]: unexpected ')'
  1 | let x = )
    |         ^
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]

ECHO_WIDTH = 100


@dataclass(frozen=True)
class Source:
    """The text of one program file (or `<string>`), with line lookup."""

    name: str
    text: str
    line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
        object.__setattr__(self, "line_starts", tuple(starts))

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.line_starts[lo] + 1

    def line_text(self, line: int) -> str:
        start = self.line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]


@dataclass(frozen=True)
class Span:
    """A half-open range of character offsets in a source."""

    source: Source
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.source.line_col(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.line_col(self.start)[1]

    def text(self) -> str:
        return self.source.text[self.start : self.end]


def escape_echo(text: str) -> str:
    """Printable ASCII echo of a source line: anything else shows as a \\x/\\u escape."""
    out = []
    for ch in text:
        if ch == "\t":
            out.append(" ")
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    severity: Severity = "error"
    note: str | None = None

    def location(self) -> str:
        return f"{self.span.source.name}:{self.span.line}:{self.span.column}"

    def render(self) -> str:
        """`FILE:LINE:COL: error[CODE]: message`, the source line (escaped, truncated) and a caret."""
        line, column = self.span.line, self.span.column
        raw = self.span.source.line_text(line)
        prefix, caret_width = escape_echo(raw[: column - 1]), max(1, len(escape_echo(self.span.text().split("\n")[0])))
        echo = escape_echo(raw)
        if len(echo) > ECHO_WIDTH:
            start = max(0, len(prefix) - ECHO_WIDTH // 2)
            echo = ("..." if start else "") + echo[start : start + ECHO_WIDTH] + "..."
            prefix = ("..." if start else "") + prefix[start:]
        caret_width = max(1, min(caret_width, ECHO_WIDTH - len(prefix) + 3))
        gutter = " " * len(str(line))
        lines = [
            f"{self.location()}: {self.severity}[{self.code}]: {escape_echo(self.message)}",
            f"  {line} | {echo}",
            f"  {gutter} | {' ' * len(prefix)}{'^' * caret_width}",
        ]
        if self.note:
            lines.append(f"  {gutter} = note: {escape_echo(self.note)}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.span.source.name,
            "line": self.span.line,
            "column": self.span.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "note": self.note,
        }


class CarcError(Exception):
    """A program was rejected: one or more error diagnostics, in source order."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.span.start, d.code))
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diagnostics]


def fail(code: str, message: str, span: Span, note: str | None = None) -> CarcError:
    """One-diagnostic error, for stages that stop at the first problem."""
    return CarcError([Diagnostic(code, message, span, note=note)])
