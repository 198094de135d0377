"""The safety audit: a certificate that a reward program is safe and bounded, or why it is refused.

`audit_source` gates, parses and checks the program once into a compilation record
(`carc.api.compile_record`: the same gate, parser, limits and checker as every other command), then
proves and reports, from that record:

- limits: every named limit of carc/core/limits.py, measured on this program, against its cap;
- cost: a static bound on operations per frame as a formula in H and W (and its value for a frame
  size), with `measured_cost` (carc.analysis.cost) counting the same operations on a real frame;
- termination: why every evaluation ends (no loops, no recursion, bounded built-ins);
- arithmetic: how each division, overflow and NaN is made total, and a bound on the magnitude of
  every value, which proves no value is ever infinite or NaN;
- reward_bounds: the interval derived from bonuses and shaping, the declared bounds, the clamp;
- host_access: the generated-source whitelist report, and a timed numba compile in a subprocess
  (carc.audit.worker);
- lints: warnings (carc.analysis.lints).

It never raises for any program input: a refused program gives verdict "rejected" with its
diagnostics. docs/audit.md documents every field of the JSON form. (carc.audit.facts states the
facts; this module assembles and renders them.)
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from carc import __version__, ir
from carc.analysis.cost import cost_bound
from carc.audit.facts import (
    arithmetic_facts,
    host_access_facts,
    limit_row,
    measure_limits,
    reward_facts,
    termination_facts,
)
from carc.backend.kernel import program_hash
from carc.core.diagnostics import CarcError, Diagnostic, Source, Span
from carc.core.limits import LIMITS, MAX_SIDE
from carc.ir.ops import Op
from carc.lang import ast
from carc.lang.record import Compilation

__all__ = ["SCHEMA", "Certificate", "audit_record", "audit_source"]

SCHEMA = "carc-audit/1"


# ---- the certificate -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """The result of an audit. `to_json()` is the documented JSON form; `render()` the text form."""

    verdict: Literal["safe", "rejected"]
    file: str
    program: str | None
    hash: str | None
    input: dict[str, Any]
    frame_shape: tuple[int, int]
    limits: tuple[dict[str, Any], ...] = ()
    cost: dict[str, Any] | None = None
    termination: dict[str, Any] | None = None
    arithmetic: dict[str, Any] | None = None
    reward_bounds: dict[str, Any] | None = None
    host_access: dict[str, Any] | None = None
    lints: tuple[dict[str, Any], ...] = ()
    diagnostics: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0
    carc_version: str = __version__
    schema: str = SCHEMA
    rendered_diagnostics: tuple[str, ...] = field(default=(), repr=False)

    @property
    def safe(self) -> bool:
        return self.verdict == "safe"

    @property
    def codes(self) -> list[str]:
        """Error codes (empty when safe), then warning codes."""
        return [d["code"] for d in self.diagnostics] + [d["code"] for d in self.lints]

    def to_json(self) -> dict[str, Any]:
        return copy.deepcopy({
            "schema": self.schema,
            "verdict": self.verdict,
            "file": self.file,
            "program": self.program,
            "hash": self.hash,
            "carc_version": self.carc_version,
            "input": self.input,
            "frame_shape": list(self.frame_shape),
            "limits": list(self.limits),
            "cost": self.cost,
            "termination": self.termination,
            "arithmetic": self.arithmetic,
            "reward_bounds": self.reward_bounds,
            "host_access": self.host_access,
            "lints": list(self.lints),
            "diagnostics": list(self.diagnostics),
            "seconds": round(self.seconds, 4),
        })

    def render(self) -> str:
        """The text form: the verdict, then one section per field (or the diagnostics of a refusal)."""
        head = f"carc audit {self.file}: {self.verdict.upper()}"
        if self.verdict == "rejected":
            return "\n".join([head, *self.rendered_diagnostics])
        cost, arith, bounds, host = self.cost or {}, self.arithmetic or {}, self.reward_bounds or {}, self.host_access or {}
        h, w = self.frame_shape
        measured = [x for x in self.limits if x["measured"] is not None]
        lines = [
            head,
            f"program       {self.program} (carc {self.carc_version})",
            f"hash          {self.hash}",
            "limits        " + ", ".join(f"{x['name'].removeprefix('max_')} {_show(x['measured'])}/{_show(x['cap'])}" for x in measured),
            f"cost          <= {cost.get('formula')} operations per frame; {cost.get('value', 0):,} at {h}x{w}",
            "termination   " + "\n              ".join(self.termination["reasons"] if self.termination else []),
            "arithmetic    " + "\n              ".join(arith.get("rules", [])),
            f"              {len(arith.get('divisions', []))} division(s), {len(arith.get('implicit_divisions', []))} implicit; "
            f"largest possible magnitude of any value {_show(arith.get('max_magnitude'))}",
            f"reward        derived [{_show(bounds['derived'][0])}, {_show(bounds['derived'][1])}], declared "
            f"{_interval(bounds.get('declared'))}, clamped to [{_show(bounds['clamp'][0])}, {_show(bounds['clamp'][1])}]",
            f"host access   {host.get('summary', '')}",
            f"lints         {len(self.lints) or 'none'}",
        ]
        lines.extend(self.rendered_diagnostics)
        return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _interval(pair: Any) -> str:
    return "none" if pair is None else f"[{_show(pair[0])}, {_show(pair[1])}]"


def _diagnostic_json(diagnostic: Diagnostic) -> dict[str, Any]:
    return {**diagnostic.to_json(), "rendered": diagnostic.render()}


# ---- the audit -----------------------------------------------------------------------------------


def audit_source(data: bytes | str, name: str, frame_shape: tuple[int, int] = (64, 64), compile_check: bool = True) -> Certificate:
    """Audit program text: a certificate with verdict "safe", or "rejected" with the diagnostics.

    Never raises for any program text: an unexpected failure inside the auditor itself is reported
    as a rejection with code E799 (and is a bug to fix).
    """
    from carc.api import compile_record

    started = time.perf_counter()
    return audit_record(compile_record(data, name), frame_shape, compile_check, started)


def audit_record(record: Compilation, frame_shape: tuple[int, int] = (64, 64), compile_check: bool = True,
                 started: float | None = None) -> Certificate:
    """Audit a compilation record (`carc.api.compile_record`, lints included); see audit_source."""
    started = time.perf_counter() if started is None else started
    height, width = (int(v) for v in frame_shape)
    if not (0 <= height <= MAX_SIDE and 0 <= width <= MAX_SIDE):
        raise ValueError(f"frame sides must be 0..{MAX_SIDE}, not {frame_shape}")
    base: dict[str, Any] = {
        "file": record.name,
        "input": {"bytes": record.metrics.bytes, "sha256": record.sha256},
        "frame_shape": (height, width),
    }
    program = record.program
    if program is None:
        return _rejected(base, list(record.diagnostics), started)
    try:
        return _certify(base, record, program, compile_check, started)
    except CarcError as err:
        return _rejected(base, err.diagnostics, started, program=program)
    except Exception as err:  # noqa: BLE001 - the auditor refuses rather than crash on its own bug
        source = Source(record.name, record.data.decode("utf-8", "replace"))
        internal = Diagnostic("E799", f"internal error in the auditor: {type(err).__name__}: {err}", Span(source, 0, 0),
                              note="the program is refused; please report this as a carc bug")
        return _rejected(base, [internal], started, program=program)


def _rejected(base: dict[str, Any], diagnostics: list[Diagnostic], started: float, program: ir.Program | None = None) -> Certificate:
    """A refusal: the diagnostics, and the limits with only the byte count measured."""
    size = base["input"]["bytes"]
    limits = tuple(limit_row(limit, size if limit.name == "max_bytes" else None) for limit in LIMITS.values())
    ordered = sorted(diagnostics, key=lambda d: (d.span.start, d.code))
    return Certificate(
        verdict="rejected", program=program.name if program else None, hash=None, limits=limits,
        diagnostics=tuple(_diagnostic_json(d) for d in ordered), rendered_diagnostics=tuple(d.render() for d in ordered),
        seconds=time.perf_counter() - started, **base,
    )


def _certify(base: dict[str, Any], record: Compilation, program: ir.Program, compile_check: bool, started: float) -> Certificate:
    unit = record.unit
    assert unit is not None
    source = unit.span.source
    arithmetic = arithmetic_facts(program)
    if not arithmetic["finite"]:
        node = arithmetic["unbounded_node"]
        raise CarcError([Diagnostic(
            "E703", f"cannot prove every value finite: n{node} ({program.nodes[node].op}) may overflow to infinity",
            _root_span(unit, program, node) or unit.name.span,
            note="a value this stage cannot bound reached the reward")])
    host_access = host_access_facts(program, record.data, base["file"], compile_check)
    if not host_access["ok"]:
        code = "E701" if host_access["srccheck"].get("verdict") != "ok" else "E702"
        raise CarcError([Diagnostic(code, host_access["summary"], Span(source, 0, 0))])
    limits = measure_limits(record)
    warnings = record.lints
    return Certificate(
        verdict="safe", program=program.name, hash=program_hash(program), limits=limits,
        cost=cost_bound(program, base["frame_shape"]), termination=termination_facts(program, unit),
        arithmetic=arithmetic, reward_bounds=reward_facts(program), host_access=host_access,
        lints=tuple(_diagnostic_json(d) for d in warnings), rendered_diagnostics=tuple(d.render() for d in warnings),
        seconds=time.perf_counter() - started, **base,
    )


def _root_span(unit: ast.Unit, program: ir.Program, node: int) -> Span | None:
    """The span of the first sub-task (or the shaping) whose value depends on `node`."""
    users: dict[int, set[int]] = {}
    latch_source = {latch.offset: latch.source for latch in program.latches}
    for i, n in enumerate(program.nodes):
        for a in (latch_source[int(n.const[0])],) if n.op == Op.START else n.args:
            users.setdefault(a, set()).add(i)
    reach, stack = set(), [node]
    while stack:
        i = stack.pop()
        if i not in reach:
            reach.add(i)
            stack.extend(users.get(i, ()))
    names = {s.name for s in program.subtasks if s.predicate in reach}
    for item in unit.items:
        for sub in item.subtasks if isinstance(item, ast.Group) else (item,):
            if isinstance(sub, ast.Subtask) and sub.name.id in names:
                return sub.predicate.span
        if isinstance(item, ast.Shaping) and program.shaping is not None and program.shaping.potential in reach:
            return item.potential.span
    return None
