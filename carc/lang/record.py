"""The compilation record: a program gated, parsed and checked once, with everything later stages
read from it (the audit, the lints, the repair loop): the source, the AST, the IR, the diagnostics
and the structural metrics the limits are measured on.

>>> record = compile_record(b'program p "d" observe rgb subtask s "s" bonus 1 : true', "p.car")
>>> record.ok, record.program.name, record.metrics.tokens, record.metrics.inlined_nodes
(True, 'p', 12, 1)
>>> bad = compile_record(b'program p "d" observe rgb subtask s "s" bonus 1 : nope', "p.car")
>>> bad.ok, [d.code for d in bad.diagnostics], bad.metrics.bytes
(False, ['E301'], 54)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from carc import ir
from carc.core.diagnostics import CarcError, Diagnostic, Source, Span
from carc.lang import ast
from carc.lang.checker import check_unit
from carc.lang.gate import admit
from carc.lang.parser import parse_measured


@dataclass(frozen=True)
class Metrics:
    """Structural measures of a program, as the gate, parser and checker count them (None: the
    stage that measures it did not run, because an earlier one refused the program)."""

    bytes: int
    tokens: int | None = None
    depth: int | None = None
    nodes: int | None = None
    inlined_nodes: int | None = None


@dataclass(frozen=True)
class Compilation:
    """One program's trip through gate, parser and checker. `program` is None when it was refused;
    `diagnostics` then holds every error found. `lints` are added by carc.api.compile_record."""

    name: str
    data: bytes
    source: Source | None
    unit: ast.Unit | None
    program: ir.Program | None
    diagnostics: tuple[Diagnostic, ...]
    metrics: Metrics
    lints: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return self.program is not None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def used_modules(self) -> tuple[str, ...]:
        """The stdlib modules the program says `use` of, in order (none when it did not parse)."""
        items = self.unit.items if self.unit is not None else ()
        return tuple(item.module.id for item in items if isinstance(item, ast.Use))

    def checked(self) -> ir.Program:
        """The checked program, or CarcError with the diagnostics."""
        if self.program is None:
            raise CarcError(list(self.diagnostics))
        return self.program


def compile_record(data: bytes | str, name: str = "<string>") -> Compilation:
    """Gate, parse and check program text once; never raises for any text (errors are recorded)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    metrics = Metrics(bytes=len(raw))
    source = unit = None
    try:
        source = admit(raw, name)
        unit, shape = parse_measured(source)
        metrics = Metrics(len(raw), shape.tokens, shape.depth, shape.nodes)
        program = check_unit(unit)
    except CarcError as err:
        return Compilation(name, raw, source, unit, None, tuple(err.diagnostics), metrics)
    except RecursionError:
        # Limits make this unreachable; if it ever happens it is still a clean carc error.
        where = Span(source or Source(name, ""), 0, 0)
        return Compilation(name, raw, source, unit, None, (Diagnostic("E106", "program is nested too deeply", where),), metrics)
    metrics = Metrics(len(raw), shape.tokens, shape.depth, shape.nodes, len(program.nodes))
    return Compilation(name, raw, source, unit, program, (), metrics)
