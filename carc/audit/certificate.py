"""The safety audit: a certificate that a reward program is safe and bounded, or why it is refused.

`audit_source` runs the same gate as every other command (`carc.api.check_text`: input gate,
parser, limits, checker), then proves and reports, from the checked IR:

- limits: every named limit of carc/limits.py, measured on this program, against its cap;
- cost: a static bound on operations per frame as a formula in H and W (and its value for a frame
  size), with `measured_cost` counting the same operations on a real frame (measured <= bound);
- termination: why every evaluation ends (no loops, no recursion, bounded built-ins);
- arithmetic: how each division, overflow and NaN is made total, and a bound on the magnitude of
  every value, which proves no value is ever infinite or NaN;
- reward_bounds: the interval derived from bonuses and shaping, the declared bounds, the clamp;
- host_access: the generated-source whitelist report, and a timed numba compile in a subprocess;
- lints: warnings (carc/lints.py).

It never raises for any program input: a refused program gives verdict "rejected" with its
diagnostics. docs/audit.md documents every field of the JSON form.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from carc import __version__, ir
from carc.core.diagnostics import CarcError, Diagnostic, Source, Span
from carc.core.limits import LIMITS
from carc.ir.layout import MAX_SIDE
from carc.lang import ast

SCHEMA = "carc-audit/1"
COMPILE_BUDGET_S = 60.0
MAX_OBJECTS = int(LIMITS["max_objects"].cap)
# Connected components, per matched pixel of an object colour: visit it, check its 8 neighbours,
# add it to its object's statistics, and at most one new object; plus one seed test per pixel.
COMPONENT_WORK_PER_PIXEL = 12
# The smallest positive height y1 - y0 + 1 of a box in float64: 2**-53 (see _magnitudes).
_MAX_TILE = 256.0
# A magnitude bound above this is treated as unbounded (a margin for rounding in the bound itself).
_FINITE_MARGIN = 1e300



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
    started = time.perf_counter()
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    height, width = (int(v) for v in frame_shape)
    if not (0 <= height <= MAX_SIDE and 0 <= width <= MAX_SIDE):
        raise ValueError(f"frame sides must be 0..{MAX_SIDE}, not {frame_shape}")
    base: dict[str, Any] = {
        "file": name,
        "input": {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()},
        "frame_shape": (height, width),
    }
    from carc.api import check_text

    try:
        program = check_text(raw, name)
    except CarcError as err:
        return _rejected(base, err.diagnostics, started)
    try:
        return _certify(base, raw, program, compile_check, started)
    except CarcError as err:
        return _rejected(base, err.diagnostics, started, program=program)
    except Exception as err:  # noqa: BLE001 - the auditor refuses rather than crash on its own bug
        source = Source(name, raw.decode("utf-8", "replace"))
        internal = Diagnostic("E799", f"internal error in the auditor: {type(err).__name__}: {err}", Span(source, 0, 0),
                              note="the program is refused; please report this as a carc bug")
        return _rejected(base, [internal], started, program=program)


def _rejected(base: dict[str, Any], diagnostics: list[Diagnostic], started: float, program: ir.Program | None = None) -> Certificate:
    """A refusal: the diagnostics, and the limits with only the byte count measured."""
    size = base["input"]["bytes"]
    limits = tuple(_limit_row(limit, size if limit.name == "max_bytes" else None) for limit in LIMITS.values())
    ordered = sorted(diagnostics, key=lambda d: (d.span.start, d.code))
    return Certificate(
        verdict="rejected", program=program.name if program else None, hash=None, limits=limits,
        diagnostics=tuple(_diagnostic_json(d) for d in ordered), rendered_diagnostics=tuple(d.render() for d in ordered),
        seconds=time.perf_counter() - started, **base,
    )


def _certify(base: dict[str, Any], raw: bytes, program: ir.Program, compile_check: bool, started: float) -> Certificate:
    from carc.analysis.lints import lint
    from carc.backend.kernel import program_hash
    from carc.lang.parser import parse_text

    unit = parse_text(raw, base["file"])
    source = unit.span.source
    arithmetic = arithmetic_facts(program)
    if not arithmetic["finite"]:
        node = arithmetic["unbounded_node"]
        raise CarcError([Diagnostic(
            "E703", f"cannot prove every value finite: n{node} ({program.nodes[node].op}) may overflow to infinity",
            _root_span(unit, program, node) or unit.name.span,
            note="a value this stage cannot bound reached the reward")])
    host_access = host_access_facts(program, raw, base["file"], compile_check)
    if not host_access["ok"]:
        code = "E701" if host_access["srccheck"].get("verdict") != "ok" else "E702"
        raise CarcError([Diagnostic(code, host_access["summary"], Span(source, 0, 0))])
    limits = measure_limits(raw, source, unit, program)
    warnings = lint(unit, program)
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
        for a in (latch_source[int(n.const[0])],) if n.op == "start" else n.args:
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


# ---- limits --------------------------------------------------------------------------------------


def _limit_row(limit: Any, measured: float | int | None) -> dict[str, Any]:
    floor = limit.name.startswith("min_")
    ok = None if measured is None else (measured >= limit.cap if floor else measured <= limit.cap)
    cap = int(limit.cap) if float(limit.cap).is_integer() else limit.cap
    return {"name": limit.name, "code": limit.code, "what": limit.what, "kind": "floor" if floor else "cap",
            "cap": cap, "measured": measured, "ok": ok}


def _tree_shape(text: str) -> tuple[int, int, int]:
    """Tokens, syntax nodes and expression depth, counted as the parser's own limit check does."""
    from lark import Token, Tree

    from carc.lang.parser import _lark

    tokens = nodes = depth = 0
    stack: list[tuple[Any, int]] = [(_lark().parse(text), 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, Token):
            tokens += 1
        elif isinstance(node, Tree):
            nodes += 1
            depth = max(depth, level - 2)
            stack.extend((child, level + 1) for child in node.children)
    return tokens, nodes, depth


def measure_limits(raw: bytes, source: Source, unit: ast.Unit, program: ir.Program) -> tuple[dict[str, Any], ...]:
    """Every limit of carc/limits.py with this program's measured value (None: enforced at run time)."""
    tokens, nodes, depth = _tree_shape(source.text)
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
        "max_bytes": len(raw),
        "max_tokens": tokens,
        "max_depth": depth,
        "max_nodes": nodes,
        "max_inlined_nodes": len(program.nodes),
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
        row = _limit_row(limit, measured.get(limit.name))
        if limit.name == "max_objects":
            row["enforced"] = f"at run time: at most {MAX_OBJECTS} objects of a colour are kept, first in raster order"
        if limit.name == "max_inlined_nodes":
            row["note"] = "IR operations after helpers are inlined and unused ones pruned"
        if limit.name in ("max_colors", "max_shades"):
            row["note"] = "colours the checked program reads"
        rows.append(row)
    return tuple(rows)


# ---- cost ----------------------------------------------------------------------------------------


def cost_terms(program: ir.Program) -> dict[str, dict[str, int]]:
    """Per-pixel coefficients and per-frame constants of the operation-count bound."""
    colors = len(program.colors)
    shades = sum(len(c.shades) for c in program.colors)
    object_colors = len(program.object_colors)
    object_nodes = [n for n in program.nodes if n.op in ir.OBJECT_OPS]
    per_pixel = {
        "pixel_scan": 1 if colors else 0,
        "shade_tests": shades,
        "color_matches": colors,
        "components": COMPONENT_WORK_PER_PIXEL * object_colors,
    }
    constant = {
        # const = (colour, *size filters): one scan per filter and one to select
        "object_scans": sum(MAX_OBJECTS * len(n.const) for n in object_nodes),
        "nodes_evaluated": len(program.nodes),
        "subtask_checks": len(program.subtasks),
        "reward_update": 2,
    }
    return {"per_pixel": per_pixel, "constant": constant}


def cost_bound(program: ir.Program, frame_shape: tuple[int, int]) -> dict[str, Any]:
    """The static bound on operations per frame, as a formula in H and W and its value."""
    terms = cost_terms(program)
    a, b = sum(terms["per_pixel"].values()), sum(terms["constant"].values())
    h, w = frame_shape
    return {
        "formula": f"{a}*H*W + {b}",
        "per_pixel": a,
        "constant": b,
        "terms": terms,
        "H": h,
        "W": w,
        "value": a * h * w + b,
        "model": (
            "operations of one step on an HxW frame: one pass over the pixels with one test per colour shade and one "
            f"accumulation per matching colour; connected components at most {COMPONENT_WORK_PER_PIXEL} operations per pixel "
            f"per object colour; each object query scans at most {MAX_OBJECTS} objects once per size filter and once to select; "
            "each IR node evaluated once; each sub-task predicate checked at most once; reward update and clamp. "
            "reset() evaluates a subset of the same nodes, so the same bound holds. measured_cost() counts these on a frame."
        ),
    }


def measured_cost(program: ir.Program, frame: np.ndarray, state: np.ndarray | None = None) -> int:
    """Operations one step performs on `frame`, counted as the cost model counts them."""
    return sum(measured_cost_terms(program, frame, state).values())


def measured_cost_terms(program: ir.Program, frame: np.ndarray, state: np.ndarray | None = None) -> dict[str, int]:
    """The terms of `measured_cost`: the same names as `cost_terms`, counted on a real frame."""
    from scipy import ndimage

    from carc.interpreter import EIGHT_CONNECTED, Interpreter, _measure, check_frame, color_mask, objects_of
    from carc.ir.layout import DONE, PROGRESS

    check_frame(frame)
    interpreter = Interpreter(program)
    if state is None:
        state = interpreter.new_state(1)[0]
    pixels = int(frame.shape[0] * frame.shape[1])
    masks = [color_mask(frame, color) for color in program.colors]
    counts = {"pixel_scan": pixels if program.colors else 0,
              "shade_tests": pixels * sum(len(c.shades) for c in program.colors),
              "color_matches": int(sum(int(m.sum()) for m in masks)), "components": 0}
    objects: dict[int, list[tuple[float, ...]]] = {}
    for c in program.object_colors:
        matched = int(masks[c].sum())
        found = ndimage.label(masks[c], structure=EIGHT_CONNECTED)[1] if matched else 0
        counts["components"] += pixels + 10 * matched + int(found)
        objects[c] = objects_of(masks[c])
    values = interpreter.evaluate(frame, state)
    scans = 0
    for i, node in enumerate(program.nodes):
        if node.op in ir.OBJECT_OPS:
            kept = objects[int(node.const[0])]
            bounds = [values[a] for a in node.args]
            for k, measure in enumerate(node.const[1:]):
                scans += len(kept)
                kept = [r for r in kept if bounds[2 * k] <= _measure(str(measure), r) <= bounds[2 * k + 1]]
            scans += len(kept)
    checks, stage = 0, int(state[PROGRESS])
    done = {s.index for s in program.subtasks if state[DONE + s.index] != 0.0}
    while stage < len(program.stages):
        complete = True
        for sub in program.stages[stage].subtasks:
            if sub.index not in done:
                checks += 1
                if values[sub.predicate]:
                    done.add(sub.index)
                else:
                    complete = False
        if not complete:
            break
        stage += 1
    counts.update({"object_scans": scans, "nodes_evaluated": len(program.nodes), "subtask_checks": checks, "reward_update": 2})
    return counts


# ---- termination ---------------------------------------------------------------------------------


def termination_facts(program: ir.Program, unit: ast.Unit) -> dict[str, Any]:
    from carc.lang.checker import MAX_HELPER_NESTING

    ops: dict[str, int] = {}
    for node in program.nodes:
        ops[node.op] = ops.get(node.op, 0) + 1
    helpers = sum(isinstance(item, ast.Def) for item in unit.items)
    bounded = []
    if program.pixel_colors:
        bounded.append(f"pixels(): {len(program.pixel_colors)} colour(s), one pass over H*W pixels")
    if program.object_colors:
        bounded.append(f"objects(): {len(program.object_colors)} colour(s), connected components in O(H*W), "
                       f"at most {MAX_OBJECTS} objects kept per colour")
    object_nodes = ops.get("largest", 0) + ops.get("smallest", 0) + ops.get("count", 0)
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

_SATURATED = ("add", "sub", "mul", "div", "width", "height", "aspect", "distance", "manhattan")
_IMPLICIT_DIVISIONS = {
    "center": "sum / area; an empty region's centre is (0, 0)",
    "fill": "area / box area; 0 for an empty region",
    "aspect": "width / height; 0 when the height is 0",
    "cell": "position / tile, floored; 0 when the tile is 0",
    "cells": "length / tile; 0 when the tile is 0",
    "same_cell": "positions / tile, floored; 0 when the tile is 0",
}


def _magnitudes(program: ir.Program) -> list[list[float]]:
    """Per node, a sound bound on |component| for each scalar component (float64; inf: no bound).

    Saturated operations (+ - * /, width, height, aspect, distance, manhattan) are at most 1e15
    whatever their operands; frame measures are bounded by the frame size; the rest grow from
    their operands.
    """
    side = float(MAX_SIDE)
    pixels = side * side
    region = [pixels, pixels * side, pixels * side, side, side, side, side]
    latch_source = {latch.offset: latch.source for latch in program.latches}
    out: list[list[float]] = []
    for node in program.nodes:
        m = [out[a] for a in node.args]
        match node.op:
            case "const":
                value = [abs(float(node.const[0]))]
            case "pixels" | "largest" | "smallest":
                value = region
            case "start":
                value = out[latch_source[int(node.const[0])]]
            case "count":
                value = [pixels]
            case "area":
                value = [m[0][0]]
            case "center":
                value = [side, side]
            case "bbox":
                value = m[0][3:7]
            case "fill" | "frame_width" | "frame_height":
                value = [side]
            case "tile":
                value = [_MAX_TILE]
            case "point" | "box":
                value = [c[0] for c in m]
            case "x" | "y":
                value = [m[0][0 if node.op == "x" else 1]]
            case "cells" | "neg" | "abs" | "sqrt":
                value = [math.sqrt(m[0][0]) if node.op == "sqrt" else m[0][0]]  # cells: a length over a tile >= 1
            case "cell":
                value = [c + 1.0 for c in m[0]]
            case "floor":
                value = [m[0][0] + 1.0]
            case "min" | "max" | "clamp":
                value = [max(c[0] for c in m)]
            case "if":
                value = [max(a, b) for a, b in zip(m[1], m[2])]
            case op if op in _SATURATED:
                value = [ir.BIG]
            case _:
                value = [1.0]  # booleans
        out.append(value)
    return out


def arithmetic_facts(program: ir.Program) -> dict[str, Any]:
    """How every partial operation is made total, and a proof (or not) that every value is finite."""
    from carc.ir.intervals import node_intervals

    intervals = node_intervals(program)
    divisions = []
    for i, node in enumerate(program.nodes):
        if node.op == "div":
            lo, hi = intervals[node.args[1]][0]
            divisions.append({"node": i, "divisor_interval": [lo, hi], "divisor_may_be_zero": lo <= 0.0 <= hi,
                              "rule": "x / 0 = 0; otherwise the quotient is saturated to [-1e15, 1e15]"})
    implicit = [{"node": i, "op": n.op, "rule": _IMPLICIT_DIVISIONS[n.op]} for i, n in enumerate(program.nodes) if n.op in _IMPLICIT_DIVISIONS]
    magnitudes = [max(m) for m in _magnitudes(program)]
    unbounded = next((i for i, m in enumerate(magnitudes) if not m <= _FINITE_MARGIN), None)
    counts = {op: sum(n.op == op for n in program.nodes) for op in (*_SATURATED, "sqrt", "floor")}
    return {
        "finite": unbounded is None,
        "unbounded_node": unbounded,
        "max_magnitude": max((m for m in magnitudes if m <= _FINITE_MARGIN), default=0.0),
        "saturation": ir.BIG,
        "divisions": divisions,
        "implicit_divisions": implicit,
        "operation_counts": counts,
        "rules": [
            "x / 0 = 0",
            f"+ - * /, width, height, aspect, distance and manhattan are saturated to [-{ir.BIG:g}, {ir.BIG:g}] "
            f"({sum(counts[o] for o in _SATURATED)} such operations)",
            "sqrt of a negative number is 0",
            "centre, fill, aspect and tile divisions of an empty region, a zero height or a zero tile give 0",
            "literals are finite with magnitude in [1e-9, 1e9] (E112)",
            "no NaN: NaN needs an infinite or NaN operand, and every value is bounded (max_magnitude)",
            "the reward is clamped to reward_bounds.clamp",
        ],
    }


# ---- reward bounds -------------------------------------------------------------------------------


def reward_facts(program: ir.Program) -> dict[str, Any]:
    from carc.ir.intervals import node_intervals, reward_interval

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
    from carc.backend.codegen import generate
    from carc.backend.srccheck import GeneratedSourceError, check_generated_source

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
            "statement": "njit options are limited to cache=True and error_model (no fastmath, parallel or nogil); "
                         "the whitelist admits no clock, random source, I/O or object mode",
        },
        "compile": None,
    }
    summary = f"generated source ({facts['generated_lines']} lines) passed the whitelist"
    if compile_check:
        facts["compile"] = compile_in_subprocess(raw, name)
        if facts["compile"]["ok"]:
            c = facts["compile"]
            summary += (f"; numba compiled it in {c['compile_seconds']:.2f} s (budget {COMPILE_BUDGET_S:g} s) and ran it with "
                        f"bounds checking on {c['frames_run']} edge-case frames: no index out of range, equal to the interpreter")
        else:
            facts["ok"] = False
            summary = f"numba compile check failed: {facts['compile']['error']}"
    else:
        summary += "; numba compile not checked (--no-compile)"
    facts["summary"] = summary
    return facts


_GENERATED_NAME = re.compile(r"(v\d+(_\d)?|c\d+_\w+|a\d|[A-Z][A-Z0-9_]*|_\w+)\Z")


def compile_in_subprocess(raw: bytes, name: str, budget: float = COMPILE_BUDGET_S) -> dict[str, Any]:
    """Check, compile (numba bounds checking on) and run the program in a fresh Python process,
    killed after `budget` seconds."""
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "carc.audit.certificate", "--compile-worker", name], input=raw, capture_output=True,
                              timeout=budget, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"did not finish within {budget:g} s", "budget_seconds": budget, "subprocess": True}
    wall = time.perf_counter() - started
    try:
        result = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return {"ok": False, "error": f"compile process exited with {done.returncode}: {tail[0][:200]}", "subprocess": True}
    return {**result, "budget_seconds": budget, "wall_seconds": round(wall, 3), "subprocess": True}


def edge_frames(program: ir.Program) -> list[np.ndarray]:
    """Frames at the edges of what a kernel must handle: no pixels, one pixel, one row or column,
    every pixel of one shade, a checkerboard (the most objects), noise."""
    shades = [s for c in program.colors for s in c.shades] or [(255, 255, 255)]
    frames = [np.zeros(shape, np.uint8) for shape in ((0, 0, 3), (0, 5, 3), (5, 0, 3), (1, 1, 3), (1, 9, 3), (9, 1, 3))]
    for shade in shades[:8]:
        frames.append(np.full((7, 5, 3), shade, np.uint8))
        frames.append(np.full((1, 1, 3), shade, np.uint8))
    board = np.zeros((33, 31, 3), np.uint8)
    board[(np.indices((33, 31)).sum(axis=0) % 2) == 0] = shades[0]
    frames.append(board)
    frames.append(np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8))
    return frames


def _compile_worker(name: str) -> None:
    """Subprocess side of `compile_in_subprocess`: source on stdin, one JSON line on stdout."""
    import tempfile

    from carc.api import check_text
    from carc.backend.kernel import compile_program
    from carc.interpreter import Interpreter

    raw = sys.stdin.buffer.read()
    try:
        program = check_text(raw, name)
        with tempfile.TemporaryDirectory(prefix="carc-audit-") as cache:
            started = time.perf_counter()
            kernel = compile_program(program, cache_dir=Path(cache))
            seconds = time.perf_counter() - started
            interpreter = Interpreter(program)
            frames = edge_frames(program)
            for frame in frames:
                states = [interpreter.new_state(1), kernel.new_state(1)]
                interpreter.reset(frame, states[0][0])
                kernel.reset(frame, states[1][0])
                ours, theirs = interpreter.step(frame, states[0][0]), kernel.step(frame, states[1][0])
                if (float(ours[0]), int(ours[1])) != (float(theirs[0]), int(theirs[1])):
                    raise AssertionError(f"kernel gave {theirs} where the interpreter gives {ours} on a {frame.shape} frame")
        print(json.dumps({"ok": True, "compile_seconds": round(seconds, 4), "boundscheck": os.environ.get("NUMBA_BOUNDSCHECK") == "1",
                          "frames_run": len(frames), "cache": "fresh (a temporary cache directory)"}))
    except Exception as err:  # noqa: BLE001 - reported to the parent as a failed compile check
        print(json.dumps({"ok": False, "error": f"{type(err).__name__}: {str(err)[:300]}"}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--compile-worker":
        _compile_worker(sys.argv[2])
    else:
        print("usage: python -m carc.audit.certificate --compile-worker NAME  (internal; use `carc audit`)", file=sys.stderr)
        sys.exit(2)
