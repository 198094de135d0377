"""The facts a certificate states about a checked program: its limits, termination, arithmetic,
reward bounds and host access. Each function reads the compilation record or its IR.

The magnitude of every value comes from the one abstract interpreter, carc.ir.intervals; which
operations saturate and how each implicit division is made total come from the op table.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from carc import ir
from carc.audit.worker import COMPILE_BUDGET_S, compile_in_subprocess
from carc.backend.codegen import generate
from carc.backend.srccheck import NJIT_OPTIONS, GeneratedSourceError, check_generated_source
from carc.core.limits import LIMITS, Limit
from carc.ir.intervals import magnitudes, node_intervals, reward_interval
from carc.ir.ops import OBJECT_QUERIES, SPECS, Op
from carc.lang import ast
from carc.lang.expressions import MAX_HELPER_NESTING
from carc.lang.record import Compilation

MAX_OBJECTS = int(LIMITS["max_objects"].cap)
# A magnitude bound above this is treated as unbounded (a margin for rounding in the bound itself).
FINITE_MARGIN = 1e300
SATURATED = tuple(op for op, spec in SPECS.items() if spec.saturated)


# ---- limits --------------------------------------------------------------------------------------


def limit_row(limit: Limit, measured: float | int | None) -> dict[str, Any]:
    floor = limit.name.startswith("min_")
    ok = None if measured is None else (measured >= limit.cap if floor else measured <= limit.cap)
    cap = int(limit.cap) if float(limit.cap).is_integer() else limit.cap
    return {"name": limit.name, "code": limit.code, "what": limit.what, "kind": "floor" if floor else "cap",
            "cap": cap, "measured": measured, "ok": ok}


def measure_limits(record: Compilation) -> tuple[dict[str, Any], ...]:
    """Every limit of carc/core/limits.py with this program's measured value (None: enforced at run
    time). Sizes are the record's own: the gate's, parser's and checker's counts."""
    unit, program, metrics = record.unit, record.checked(), record.metrics
    assert unit is not None
    numbers: list[float] = []
    literal_chars: list[int] = []
    strings = [len(unit.description)]
    names: list[int] = []
    params = [0]
    stack: list[object] = [unit]
    while stack:
        node = stack.pop()
        stack.extend(ast.children(node))
        match node:
            case ast.Number(value=value, span=span):
                numbers.append(abs(value))
                literal_chars.append(len(span.text().lstrip("- \t\r\n")))
            case ast.Name(id=name):
                names.append(len(name))
            case ast.Subtask(description=text) | ast.Group(description=text):
                strings.append(len(text))
            case ast.Def(params=ps):
                params.append(len(ps))
    nonzero = [n for n in numbers if n > 0.0]
    measured: dict[str, float | int | None] = {
        "max_bytes": metrics.bytes,
        "max_tokens": metrics.tokens,
        "max_depth": metrics.depth,
        "max_nodes": metrics.nodes,
        "max_inlined_nodes": metrics.inlined_nodes,
        "max_subtasks": len(program.subtasks),
        "max_colors": len(program.colors),
        "max_shades": sum(len(c.shades) for c in program.colors),
        "max_objects": None,
        "max_number": max(numbers, default=0.0),
        "min_number": min(nonzero, default=None),
        "max_literal_chars": max(literal_chars, default=0),
        "max_string_chars": max(strings),
        "max_name_chars": max(names, default=0),
        "max_params": max(params),
        "max_tile": program.tile,
    }
    rows = []
    for limit in LIMITS.values():
        row = limit_row(limit, measured.get(limit.name))
        if limit.name == "max_objects":
            row["enforced"] = f"at run time: at most {MAX_OBJECTS} objects of a colour are kept, first in raster order"
        if limit.name == "max_inlined_nodes":
            row["note"] = "IR operations after helpers are inlined and unused ones pruned"
        if limit.name in ("max_colors", "max_shades"):
            row["note"] = "colours the checked program reads"
        rows.append(row)
    return tuple(rows)


# ---- termination ---------------------------------------------------------------------------------


def termination_facts(program: ir.Program, unit: ast.Unit) -> dict[str, Any]:
    ops: dict[str, int] = {}
    for node in program.nodes:
        ops[str(node.op)] = ops.get(str(node.op), 0) + 1
    helpers = sum(isinstance(item, ast.Def) for item in unit.items)
    bounded = []
    if program.pixel_colors:
        bounded.append(f"pixels(): {len(program.pixel_colors)} colour(s), one pass over H*W pixels")
    if program.object_colors:
        bounded.append(f"objects(): {len(program.object_colors)} colour(s), connected components in O(H*W), "
                       f"at most {MAX_OBJECTS} objects kept per colour")
    object_nodes = sum(ops.get(op, 0) for op in OBJECT_QUERIES)
    if object_nodes:
        bounded.append(f"largest/smallest/count with size filters: {object_nodes} queries, each at most "
                       f"{MAX_OBJECTS} objects per filter")
    return {
        "proved": True,
        "reasons": [
            "the language has no loop, recursion or user-defined iteration (grammar/carc.lark)",
            f"helpers ({helpers} defined in the program) are inlined at check time, nested at most {MAX_HELPER_NESTING} deep "
            "(E116): a recursive helper is refused",
            f"the checked program is an acyclic graph of {len(program.nodes)} operations in topological order, each "
            "evaluated at most once per frame",
            f"the stage loop advances over at most {len(program.stages)} stages ({len(program.subtasks)} sub-tasks) per frame",
            "every built-in over the frame is bounded by H*W; every built-in over objects by "
            f"{MAX_OBJECTS} objects",
        ],
        "bounded_builtins": bounded,
        "operations": dict(sorted(ops.items())),
    }


# ---- arithmetic ----------------------------------------------------------------------------------


def arithmetic_facts(program: ir.Program) -> dict[str, Any]:
    """How every partial operation is made total, and a proof (or not) that every value is finite."""
    intervals = node_intervals(program)
    divisions = []
    for i, node in enumerate(program.nodes):
        if node.op == Op.DIV:
            lo, hi = intervals[node.args[1]][0]
            divisions.append({"node": i, "divisor_interval": [lo, hi], "divisor_may_be_zero": lo <= 0.0 <= hi,
                              "rule": "x / 0 = 0; otherwise the quotient is saturated to [-1e15, 1e15]"})
    implicit = [{"node": i, "op": str(n.op), "rule": SPECS[n.op].division} for i, n in enumerate(program.nodes) if SPECS[n.op].division]
    bounds = magnitudes(program, intervals)
    unbounded = next((i for i, m in enumerate(bounds) if not m <= FINITE_MARGIN), None)
    counts = {str(op): sum(n.op == op for n in program.nodes) for op in (*SATURATED, Op.SQRT, Op.FLOOR)}
    return {
        "finite": unbounded is None,
        "unbounded_node": unbounded,
        "max_magnitude": max((m for m in bounds if m <= FINITE_MARGIN), default=0.0),
        "saturation": ir.BIG,
        "divisions": divisions,
        "implicit_divisions": implicit,
        "operation_counts": counts,
        "rules": [
            "x / 0 = 0",
            f"+ - * /, width, height, aspect, distance and manhattan are saturated to [-{ir.BIG:g}, {ir.BIG:g}] "
            f"({sum(counts[o] for o in SATURATED)} such operations)",
            "sqrt of a negative number is 0",
            "centre, fill, aspect and tile divisions of an empty region, a zero height or a zero tile give 0",
            "literals are finite with magnitude in [1e-9, 1e9] (E112)",
            "no NaN: NaN needs an infinite or NaN operand, and every value is bounded (max_magnitude)",
            "the reward is clamped to reward_bounds.clamp",
        ],
    }


# ---- reward bounds -------------------------------------------------------------------------------


def reward_facts(program: ir.Program) -> dict[str, Any]:
    derived = reward_interval(program)
    bonuses = [s.bonus for s in program.subtasks]
    shaping = None
    if program.shaping is not None:
        plo, phi = node_intervals(program)[program.shaping.potential][0]
        shaping = {"gamma": program.shaping.gamma, "potential_interval": [plo, phi],
                   "term": "gamma * potential(s') - potential(s)",
                   "term_interval": [program.shaping.gamma * plo - phi, program.shaping.gamma * phi - plo]}
    return {
        "derived": list(derived),
        "declared": list(program.bounds) if program.bounds_declared else None,
        "clamp": list(program.bounds),
        "bonuses": {"sum_negative": sum(b for b in bonuses if b < 0.0), "sum_positive": sum(b for b in bonuses if b > 0.0),
                    "per_subtask": {s.name: s.bonus for s in program.subtasks}},
        "shaping": shaping,
        "finite": all(math.isfinite(v) for v in (*derived, *program.bounds)),
        "statement": ("every step's reward is finite and inside clamp: the kernel clamps the sum of the bonuses of the "
                      "sub-tasks completed on the step plus the shaping term to clamp, "
                      + ("the declared bounds" if program.bounds_declared else "the derived interval")),
    }


# ---- host access ---------------------------------------------------------------------------------


def host_access_facts(program: ir.Program, raw: bytes, name: str, compile_check: bool) -> dict[str, Any]:
    """The generated-source whitelist report and, when asked, a numba compile timed in a subprocess."""
    source = generate(program)
    try:
        report = dict(check_generated_source(source))
    except GeneratedSourceError as err:
        return {"ok": False, "srccheck": {"verdict": "refused", "error": str(err)}, "compile": None,
                "summary": f"generated source failed the whitelist: {err}"}
    names = report.pop("names", [])
    vocabulary = [n for n in names if not _GENERATED_NAME.match(n)]
    report["names"] = {"generated_identifiers": len(names) - len(vocabulary), "vocabulary": vocabulary}
    facts: dict[str, Any] = {
        "ok": True,
        "srccheck": report,
        "generated_lines": source.count("\n") + 1,
        "generated_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "determinism": {
            "fastmath": False,
            "statement": f"njit options are limited to {', '.join(f'{k}={v!r}' for k, v in NJIT_OPTIONS.items())} "
                         "(no fastmath, parallel or nogil); the whitelist admits no clock, random source, I/O or object mode",
        },
        "compile": None,
    }
    summary = f"generated source ({facts['generated_lines']} lines) passed the whitelist"
    if compile_check:
        facts["compile"] = compile_in_subprocess(raw, name)
        if facts["compile"]["ok"]:
            c = facts["compile"]
            made = "loaded it (bounds-checked, cached by an earlier audit)" if c.get("cached") else "compiled it"
            summary += (f"; numba {made} in {c['compile_seconds']:.2f} s (budget {COMPILE_BUDGET_S:g} s) and ran it with "
                        f"bounds checking on {c['frames_run']} edge-case frames: no index out of range, equal to the interpreter")
        else:
            facts["ok"] = False
            summary = f"numba compile check failed: {facts['compile']['error']}"
    else:
        summary += "; numba compile not checked (--no-compile)"
    facts["summary"] = summary
    return facts


_GENERATED_NAME = re.compile(r"(v\d+(_\d)?|c\d+_\w+|a\d|[A-Z][A-Z0-9_]*|_\w+)\Z")
