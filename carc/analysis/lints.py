"""Lints: warnings about programs that check but are probably not what the model meant.

A lint never rejects a program; the auditor lists them in the certificate. Each is a Diagnostic
with severity "warning" and a span at the sub-task, colour or expression concerned.

Constant facts come from folding the IR with the interpreter's own scalar semantics, from the
interval analysis (a comparison whose operand ranges cannot overlap has one answer), and from
structure (`x == x`, `a or not a`: the IR is hash-consed, so equal sub-expressions are one node).

>>> from carc.lang.parser import parse_text
>>> from carc.lang.checker import check_unit
>>> unit = parse_text('program p "d" observe rgb color c = rgb(1, 2, 3) tol 4 '
...                   'subtask s "d" bonus 1 : area(pixels(c)) >= 0')
>>> [d.code for d in lint(unit, check_unit(unit))]
['W604']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carc import ir
from carc.core.diagnostics import Diagnostic, Span
from carc.core.resources import stdlib_path
from carc.interpreter import scalar_op
from carc.ir.intervals import node_intervals, reward_interval
from carc.ir.ops import BINARY_OPERATORS, IR_OPS, SPECS, Op
from carc.lang import ast

# Ops whose value depends on the frame content (the observation).
PERCEPTION_OPS = frozenset(op for op in IR_OPS if SPECS[op].reads == "pixels")

_ALWAYS_WHEN_EQUAL = {Op.EQ: True, Op.LE: True, Op.GE: True, Op.NE: False, Op.LT: False, Op.GT: False}


# ---- facts about IR nodes ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fold:
    """What a folding rule sees: the node, its arguments' constant values (None: not constant),
    the constants and intervals of every node, and the program."""

    program: ir.Program
    index: int
    node: ir.Node
    args: list[Any]
    known: list[Any]
    intervals: list[list[tuple[float, float]]]


def constant_values(program: ir.Program) -> list[Any]:
    """Per node, its value when it is the same on every frame, else None."""
    intervals = node_intervals(program)
    known: list[Any] = []
    for i, node in enumerate(program.nodes):
        known.append(FOLD[node.op](_Fold(program, i, node, [known[j] for j in node.args], known, intervals)))
    return known


def _start(f: _Fold) -> Any:
    latch_source = {latch.offset: latch.source for latch in f.program.latches}
    return f.known[latch_source[int(f.node.const[0])]]


def _connective(f: _Fold) -> Any:
    decisive = f.node.op == Op.OR  # an `or` is decided by one true operand, an `and` by one false
    if any(a is decisive for a in f.args) or complement(f.program, f.node) is not None:
        return decisive
    return (not decisive) if all(a is (not decisive) for a in f.args) else None


def _if(f: _Fold) -> Any:
    cond, then, orelse = f.node.args
    if f.args[0] is not None:
        return f.known[then] if f.args[0] else f.known[orelse]
    return f.known[then] if then == orelse or (f.args[1] is not None and f.args[1] == f.args[2]) else None


def _comparison(f: _Fold) -> Any:
    op = Op(f.node.op)
    if f.node.args[0] == f.node.args[1]:
        return _ALWAYS_WHEN_EQUAL[op]
    if None in f.args:
        return _compare_intervals(op, f.intervals[f.node.args[0]][0], f.intervals[f.node.args[1]][0])
    return _by_value(f)


def _by_value(f: _Fold) -> Any:
    """An op that depends on its arguments only: its value when they are all constant."""
    if f.node.args and None not in f.args:
        return scalar_op(f.node.op, f.args, None)
    return _by_interval(f)


def _by_interval(f: _Fold) -> Any:
    """A number whose interval is a single point (whatever else it reads)."""
    if f.node.type == "num":
        lo, hi = f.intervals[f.index][0]
        return lo if lo == hi else None
    return None


# How each op folds: by its own rule, by its arguments' values, or (reading the frame, the tile or
# memory) only when its interval is one point.
FOLD: dict[Op, Callable[[_Fold], Any]] = {
    **{op: (_by_interval if SPECS[op].reads else _by_value) for op in IR_OPS},
    Op.CONST: lambda f: f.node.const[0],
    Op.START: _start,
    Op.AND: _connective,
    Op.OR: _connective,
    Op.NOT: lambda f: None if f.args[0] is None else not f.args[0],
    Op.IF: _if,
    **{op: _comparison for op in _ALWAYS_WHEN_EQUAL},
}


def complement(program: ir.Program, node: ir.Node) -> int | None:
    """The operand `a` when an and/or node holds both `a` and `not a` (equal sub-expressions are
    one node: the checker hash-conses the IR)."""
    operands = set(node.args)
    for a in node.args:
        inner = program.nodes[a]
        if inner.op == Op.NOT and inner.args[0] in operands:
            return inner.args[0]
    return None


def _compare_intervals(op: Op, a: tuple[float, float], b: tuple[float, float]) -> bool | None:
    (alo, ahi), (blo, bhi) = a, b
    if op in (Op.GT, Op.GE):
        op, (alo, ahi), (blo, bhi) = {Op.GT: Op.LT, Op.GE: Op.LE}[op], b, a
    if op == Op.LT:
        return True if ahi < blo else False if alo >= bhi else None
    if op == Op.LE:
        return True if ahi <= blo else False if alo > bhi else None
    disjoint = ahi < blo or bhi < alo
    same_point = alo == ahi == blo == bhi
    if op == Op.EQ:
        return False if disjoint else True if same_point else None
    return True if disjoint else False if same_point else None


def reads_perception(program: ir.Program) -> list[bool]:
    """Per node: does its value depend on the pixels of the frame?"""
    latch_source = {latch.offset: latch.source for latch in program.latches}
    out: list[bool] = []
    for node in program.nodes:
        if node.op == Op.START:
            out.append(out[latch_source[int(node.const[0])]])
        else:
            out.append(node.op in PERCEPTION_OPS or any(out[a] for a in node.args))
    return out


# ---- expressions shown in messages ---------------------------------------------------------------

_SYMBOLS = {op: symbol for symbol, op in BINARY_OPERATORS.items()}


def describe(program: ir.Program, index: int, budget: int = 60) -> str:
    """A short carc-like rendering of an IR node (for messages), truncated with '...'."""
    parts: list[str] = []
    stack: list[Any] = [index]
    while stack and sum(map(len, parts)) < budget:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        node = program.nodes[item]
        if node.op == Op.CONST:
            value = node.const[0]
            parts.append(("true" if value else "false") if isinstance(value, bool) else f"{float(value):g}")
        elif node.op == Op.PIXELS or node.op in ir.OBJECT_QUERIES:
            color = program.colors[int(node.const[0])].name
            parts.append(f"pixels({color})" if node.op == Op.PIXELS else f"{node.op}(objects({color}){'...' if node.args else ''})")
        elif node.op == Op.START:
            parts.append("start(...)")
        elif node.op in _SYMBOLS or node.op in (Op.AND, Op.OR):
            sep = f" {_SYMBOLS.get(node.op, node.op)} "
            seq: list[Any] = []
            for k, a in enumerate(node.args):
                seq.extend(([sep] if k else []) + [a])
            stack.extend(reversed(seq))
        elif node.op in (Op.NOT, Op.NEG):
            stack.extend(reversed(["not " if node.op == Op.NOT else "-", node.args[0]]))
        else:
            seq = [f"{node.op}("]
            for k, a in enumerate(node.args):
                seq.extend(([", "] if k else []) + [a])
            stack.extend(reversed(seq + [")"]))
    text = "".join(parts)
    return text if not stack else text[:budget] + "..."


# ---- the lints -----------------------------------------------------------------------------------


def lint(unit: ast.Unit, program: ir.Program) -> list[Diagnostic]:
    """Warnings for a checked program (`unit` is its AST, for spans), in source order."""
    known = constant_values(program)
    perceives = reads_perception(program)
    written = _syntactic_lints(unit)
    inferred = [d for d in _subtask_lints(unit, program, known, perceives)
                # a tautology already shown where it is written needs no second, vaguer report
                if not (d.code == "W606" and any(d.span.start <= w.span.start < d.span.end for w in written))]
    found = _program_lints(unit, program, known, perceives) + inferred + written + _palette_lints(unit, program)
    unique = {(d.code, d.span.start, d.message): d for d in found}
    return sorted(unique.values(), key=lambda d: (d.span.start, d.code))


def _warn(code: str, message: str, span: Span, note: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, span, severity="warning", note=note)


def _subtask_spans(unit: ast.Unit) -> dict[str, ast.Subtask]:
    found: dict[str, ast.Subtask] = {}
    for item in unit.items:
        members = item.subtasks if isinstance(item, ast.Group) else (item,) if isinstance(item, ast.Subtask) else ()
        for sub in members:
            found.setdefault(sub.name.id, sub)
    return found


def _program_lints(unit: ast.Unit, program: ir.Program, known: list[Any], perceives: list[bool]) -> list[Diagnostic]:
    roots = [s.predicate for s in program.subtasks] + ([program.shaping.potential] if program.shaping else [])
    low, high = reward_interval(program)
    shaping_constant = program.shaping is None or known[program.shaping.potential] is not None
    if low == high or (all(s.bonus == 0.0 for s in program.subtasks) and shaping_constant):
        value = low if low == high else 0.0
        return [_warn("W601", f"the reward is constant ({value:g} on every step): it cannot guide learning", unit.name.span)]
    if not any(perceives[r] for r in roots):
        return [_warn("W602", "the reward ignores the observation: no sub-task and no shaping reads a pixel of the frame",
                      unit.name.span, "use pixels(...) or objects(...) of a colour")]
    return []


def _subtask_lints(unit: ast.Unit, program: ir.Program, known: list[Any], perceives: list[bool]) -> list[Diagnostic]:
    spans = _subtask_spans(unit)
    out: list[Diagnostic] = []
    first_with: dict[int, ir.Subtask] = {}
    for sub in program.subtasks:
        item = spans.get(sub.name)
        if item is None:
            continue
        value = known[sub.predicate]
        if value is False:
            out.append(_warn("W603", f"sub-task '{sub.name}' can never fire: its predicate is always false", item.predicate.span))
        elif value is True:
            out.append(_warn("W604", f"sub-task '{sub.name}' is always true: it completes as soon as it becomes current", item.predicate.span))
        elif not perceives[sub.predicate]:
            out.append(_warn("W607", f"sub-task '{sub.name}' reads no perception: its predicate does not look at the frame's pixels", item.predicate.span))
        earlier = first_with.setdefault(sub.predicate, sub)
        if earlier is not sub:
            out.append(_warn("W605", f"sub-task '{sub.name}' has the same predicate as '{earlier.name}'", item.span,
                             "both complete on the same frame; merge them or tell them apart"))
        if value is None:
            out.extend(_inner_constants(program, sub, item, known))
    return out


def _inner_constants(program: ir.Program, sub: ir.Subtask, item: ast.Subtask, known: list[Any]) -> list[Diagnostic]:
    """Comparisons and logic inside a non-constant predicate that have one answer on every frame."""
    out: list[Diagnostic] = []
    seen: set[int] = set()
    stack = [sub.predicate]
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        node = program.nodes[i]
        if node.type == "bool" and known[i] is not None and node.op != Op.CONST and i != sub.predicate:
            if node.op in _ALWAYS_WHEN_EQUAL or node.op in (Op.AND, Op.OR):
                out.append(_warn("W606", f"in sub-task '{sub.name}', `{describe(program, i)}` is always {'true' if known[i] else 'false'}",
                                 item.predicate.span))
            continue
        stack.extend(node.args)
    return out


def _syntactic_lints(unit: ast.Unit) -> list[Diagnostic]:
    """`x == x`, `x < x`, `a or not a`, `a and not a` written out in the program's own text."""
    out: list[Diagnostic] = []
    stack: list[object] = list(unit.items)
    while stack:
        node = stack.pop()
        stack.extend(ast.children(node))
        if isinstance(node, ast.Compare) and node.left == node.right:
            value = node.op in ("==", "<=", ">=")
            out.append(_warn("W606", f"both sides of '{node.op}' are the same expression: it is always {'true' if value else 'false'}", node.span))
        elif isinstance(node, ast.Logic):
            negated = [o.operand for o in node.operands if isinstance(o, ast.Not)]
            if any(n == o for n in negated for o in node.operands):
                value = node.op == "or"
                out.append(_warn("W606", f"'{node.op}' of an expression and its negation is always {'true' if value else 'false'}", node.span))
    return out


def _palette_lints(unit: ast.Unit, program: ir.Program) -> list[Diagnostic]:
    """A colour the program defines itself that matches no colour of a `use`d environment's palette."""
    palette: dict[str, ir.Color] = {}
    modules = [item.module.id for item in unit.items if isinstance(item, ast.Use)]
    for module in modules:
        palette.update(module_palette(module))
    if not palette:
        return []
    used = {color.name for color in program.colors}
    out: list[Diagnostic] = []
    for item in unit.items:
        if not isinstance(item, ast.ColorDef) or item.name.id not in used:
            continue
        tolerance = int(item.tolerance.value)
        for shade in item.shades:
            rgb = tuple(int(n.value) for n in shade.rgb)
            gap, _, nearest = min((max(abs(a - b) for a, b in zip(rgb, s)) - max(tolerance, p.tolerance), k, p.name)
                                  for k, p in enumerate(palette.values()) for s in p.shades)
            if gap > 0:
                out.append(_warn("W608", f"colour '{item.name.id}' shade rgb{rgb} matches no colour of the {'/'.join(modules)} palette",
                                 shade.span, f"nearest is '{nearest}', {gap} beyond tolerance: frames of this environment may never show it"))
    return out


_PALETTES: dict[str, dict[str, ir.Color]] = {}


def module_palette(module: str) -> dict[str, ir.Color]:
    """The colours a stdlib module defines (its environment's palette), by name."""
    if module not in _PALETTES:
        from carc.core.diagnostics import CarcError
        from carc.lang.parser import parse_text

        path = stdlib_path(module)
        colors: dict[str, ir.Color] = {}
        if path is not None and path.is_file():
            try:
                unit = parse_text(path.read_bytes(), str(path))
            except CarcError:
                unit = None
            for item in unit.items if unit else ():
                if isinstance(item, ast.ColorDef):
                    shades = tuple(tuple(int(n.value) for n in s.rgb) for s in item.shades)
                    colors[item.name.id] = ir.Color(item.name.id, shades, int(item.tolerance.value))  # type: ignore[arg-type]
        _PALETTES[module] = colors
    return _PALETTES[module]
