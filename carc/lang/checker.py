"""Check a parsed program and build its IR: items, stages, shaping and bounds, then prune and verify.

Expressions are checked by carc.lang.expressions, names and values live in carc.lang.scope.
Diagnostics are collected, not raised one at a time: a program with three mistakes gets three
errors. Helpers are inlined by binding their parameters to already-checked values and memoised
per (helper, arguments), so nested helpers cost linear work whatever their fan-out.

>>> from carc.lang.parser import parse_text
>>> prog = check_unit(parse_text('program p "d" observe rgb subtask s "go" bonus 1 : 1 < 2'))
>>> [s.name for s in prog.subtasks]
['s']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from carc import ir
from carc.core.diagnostics import CarcError, Diagnostic, Span
from carc.core.limits import LIMITS
from carc.core.resources import STDLIB_MODULES, stdlib_path
from carc.ir.intervals import reward_interval
from carc.ir.ops import OBJECT_QUERIES, Op
from carc.ir.verifier import CHANNEL_MAX, verify_program
from carc.lang import ast
from carc.lang.builtins import TYPE_NAMES
from carc.lang.expressions import MAX_HELPER_NESTING, ExpressionChecker
from carc.lang.scope import Binding, ColorVal, ErrorVal, ObjectsVal, TooBig, Val, Value, type_of

__all__ = ["MAX_HELPER_NESTING", "OBSERVATION_KINDS", "DEFAULT_TILE", "check_text", "check_unit", "prune_program"]

OBSERVATION_KINDS = ("rgb",)
DEFAULT_TILE = 8


# ---- items -------------------------------------------------------------------------------------


@dataclass
class _Checker(ExpressionChecker):
    """The whole checker: expressions, plus the items of a program or module."""

    def check_color(self, item: ast.ColorDef, origin: str) -> None:
        channels = [n for shade in item.shades for n in shade.rgb] + [item.tolerance]
        bad = [n for n in channels if not (0 <= n.value <= CHANNEL_MAX and n.value == int(n.value))]
        for n in bad:
            self.error("E508", "colour channels and tolerance are whole numbers from 0 to 255", n.span)
        if bad:
            # Still define the name (as an already-reported error) so its uses add no E301.
            self.define(item.name, Binding(ErrorVal(), None, item.span, origin))
            return
        shades = tuple(tuple(int(n.value) for n in shade.rgb) for shade in item.shades)
        color = ir.Color(item.name.id, shades, int(item.tolerance.value))  # type: ignore[arg-type]
        self.define(item.name, Binding(ColorVal(color), None, item.span, origin))

    def check_helper(self, item: ast.Def, origin: str) -> None:
        if len(item.params) > LIMITS["max_params"].cap:
            self.error("E115", f"helper has {len(item.params)} parameters; the limit is {int(LIMITS['max_params'].cap)}", item.span)
        seen: set[str] = set()
        for type_name in (*(p.type_name for p in item.params), item.result_type):
            if type_name.id not in TYPE_NAMES:
                hint = "numbers are 'num'" if type_name.id in ("int", "float", "number", "double") else self.suggest(type_name.id, list(TYPE_NAMES))
                self.error("E403", f"unknown type '{type_name.id}'", type_name.span, hint or f"types: {', '.join(TYPE_NAMES)}")
        for param in item.params:
            if param.name.id in seen:
                self.error("E302", f"parameter '{param.name.id}' appears twice", param.name.span)
            seen.add(param.name.id)
        if all(t.id in TYPE_NAMES for t in (*(p.type_name for p in item.params), item.result_type)):
            self.check_helper_body(item)
        self.define(item.name, Binding(None, item, item.span, origin))

    def check_helper_body(self, item: ast.Def) -> None:
        """Check a helper once at its definition, with stand-ins for its parameters.

        Stand-in nodes are never read by a sub-task, so pruning drops them; calls re-check the
        body with real arguments (and identical diagnostics are reported once).
        """
        env: dict[str, Value] = {}
        for param in item.params:
            kind = param.type_name.id
            if kind == "color":
                env[param.name.id] = ColorVal(_STAND_IN_COLOR)
            elif kind == "objects":
                env[param.name.id] = ObjectsVal(_STAND_IN_COLOR)
            else:
                env[param.name.id] = self.emit(Op.PARAM, kind, const=(param.name.id,))
        value = self.expr(item.body, env)
        if not isinstance(value, ErrorVal) and type_of(value) != item.result_type.id:
            self.error("E401", f"{item.name.id} is declared -> {item.result_type.id} but its body is {type_of(value)}", item.body.span)

    def check_let(self, item: ast.Let, origin: str) -> None:
        value = self.expr(item.value, {})
        self.define(item.name, Binding(value, None, item.span, origin))


_STAND_IN_COLOR = ir.Color("parameter", ((0, 0, 0),), 0)


# ---- modules and programs ----------------------------------------------------------------------


def _load_module(checker: _Checker, use: ast.Use) -> None:
    from carc.lang.parser import parse_text

    name = use.module.id
    if name in checker.modules:
        checker.error("E302", f"module '{name}' is already used", use.span)
        return
    path = stdlib_path(name)
    if path is None:
        checker.error("E304", f"unknown module '{name}'", use.module.span,
                      checker.suggest(name, list(STDLIB_MODULES)) or f"modules: {', '.join(STDLIB_MODULES)}")
        return
    checker.modules.add(name)
    unit = parse_text(path.read_bytes(), str(path))
    if unit.kind != "module":
        checker.error("E509", f"stdlib file for '{name}' is not a module", use.span)
        return
    _check_items(checker, unit, origin=name)


_PROGRAM_ONLY = (ast.Observe, ast.Subtask, ast.Group, ast.Shaping, ast.Bounds, ast.Use)


def _check_items(checker: _Checker, unit: ast.Unit, origin: str) -> None:
    for item in unit.items:
        match item:
            case _ if origin != "program" and isinstance(item, _PROGRAM_ONLY):
                checker.error("E509", f"a module holds colours, lets and helpers only, not '{type(item).__name__.lower()}'", item.span)
            case ast.Use():
                _load_module(checker, item)
            case ast.ColorDef():
                checker.check_color(item, origin)
            case ast.Let():
                checker.check_let(item, origin)
            case ast.Def():
                checker.check_helper(item, origin)


def _number(checker: _Checker, number: ast.Number, lo: float, hi: float, what: str) -> float:
    if not lo <= number.value <= hi:
        checker.error("E506", f"{what} must lie in [{lo:g}, {hi:g}], not {number.value:g}", number.span)
    return number.value


def _single(checker: _Checker, unit: ast.Unit, kind: type, what: str) -> list[Any]:
    found = [item for item in unit.items if isinstance(item, kind)]
    for extra in found[1:]:
        checker.error("E505", f"a program has at most one '{what}'", extra.span)
    return found[:1]


def _stages(checker: _Checker, unit: ast.Unit) -> list[ir.Stage]:
    stages: list[ir.Stage] = []
    names: dict[str, Span] = {}
    index = 0

    def subtask(item: ast.Subtask) -> ir.Subtask | None:
        nonlocal index
        if item.name.id in names:
            checker.error("E302", f"sub-task '{item.name.id}' is already defined (line {names[item.name.id].line})", item.name.span)
        names[item.name.id] = item.name.span
        bonus = _number(checker, item.bonus, -1e6, 1e6, "a bonus")
        value = checker.want(checker.expr(item.predicate, {}), "bool", "a sub-task's predicate", item.predicate.span)
        index += 1
        if isinstance(value, Val):
            return ir.Subtask(index - 1, item.name.id, item.description, bonus, value.node)
        return None

    for item in unit.items:
        if isinstance(item, ast.Subtask):
            checked = subtask(item)
            if checked:
                stages.append(ir.Stage(item.name.id, item.description, (checked,), unordered=False))
        elif isinstance(item, ast.Group):
            if item.name.id in names:
                checker.error("E302", f"'{item.name.id}' is already defined (line {names[item.name.id].line})", item.name.span)
            names[item.name.id] = item.name.span
            members = [subtask(s) for s in item.subtasks]
            stages.append(ir.Stage(item.name.id, item.description, tuple(m for m in members if m), unordered=True))
    if index == 0:
        checker.error("E504", "a program needs at least one subtask: the last one is the goal", unit.name.span)
    if index > LIMITS["max_subtasks"].cap:
        checker.error("E109", f"program has {index} sub-tasks; the limit is {int(LIMITS['max_subtasks'].cap)}", unit.name.span)
    return stages


def check_unit(unit: ast.Unit) -> ir.Program:
    """Check a parsed program and return its IR, or raise a CarcError with every problem found."""
    checker = _Checker()
    if unit.kind != "program":
        raise CarcError([Diagnostic("E509", f"'{unit.name.id}' is a module: programs import it with 'use {unit.name.id}'", unit.name.span)])
    try:
        return _check_program(checker, unit)
    except TooBig:
        cap = int(LIMITS["max_inlined_nodes"].cap)
        checker.diagnostics.append(Diagnostic("E108", f"program grows past {cap} operations once helpers are inlined", unit.span))
        raise CarcError(checker.diagnostics) from None


def _check_program(checker: _Checker, unit: ast.Unit) -> ir.Program:
    observes = _single(checker, unit, ast.Observe, "observe")
    tile = DEFAULT_TILE
    if not observes:
        checker.error("E502", "a program declares its observation, e.g. 'observe rgb'", unit.name.span)
    else:
        observe = observes[0]
        if observe.kind.id not in OBSERVATION_KINDS:
            checker.error("E503", f"unknown observation kind '{observe.kind.id}'", observe.kind.span, f"kinds: {', '.join(OBSERVATION_KINDS)}")
        if observe.tile is not None:
            value = _number(checker, observe.tile, 1, LIMITS["max_tile"].cap, "a tile size")
            if value != int(value):
                checker.error("E506", "a tile size is a whole number of pixels", observe.tile.span)
            tile = int(value)
    _check_items(checker, unit, origin="program")
    stages = _stages(checker, unit)
    shaping = None
    for item in _single(checker, unit, ast.Shaping, "shaping"):
        gamma = _number(checker, item.gamma, 1e-9, 1.0, "gamma")
        potential = checker.want(checker.expr(item.potential, {}), "num", "a shaping potential", item.potential.span)
        if isinstance(potential, Val):
            shaping = ir.Shaping(gamma, potential.node)
    declared = None
    for item in _single(checker, unit, ast.Bounds, "reward in [...]"):
        if not item.low.value < item.high.value:
            checker.error("E507", f"reward bounds need low < high, got [{item.low.value:g}, {item.high.value:g}]", item.span)
        declared = (item.low.value, item.high.value)
    if checker.diagnostics:
        raise CarcError(checker.diagnostics)
    program = prune_program(ir.Program(
        name=unit.name.id, description=unit.description, observe="rgb", tile=tile,
        colors=tuple(checker.colors), nodes=tuple(checker.nodes), latches=tuple(checker.latches),
        stages=tuple(stages), shaping=shaping, bounds=(0.0, 0.0), bounds_declared=declared is not None,
    ))
    _check_palette_size(program, unit)
    bounds = declared if declared is not None else reward_interval(program)
    checked = replace(program, bounds=bounds)
    verify_program(checked)
    return checked


def _check_palette_size(program: ir.Program, unit: ast.Unit) -> None:
    """Caps on the colours the kernel really scans (after pruning unused stdlib ones)."""
    shades = sum(len(c.shades) for c in program.colors)
    if len(program.colors) > LIMITS["max_colors"].cap:
        raise CarcError([Diagnostic("E110", f"program uses {len(program.colors)} colours; the limit is {int(LIMITS['max_colors'].cap)}", unit.name.span)])
    if shades > LIMITS["max_shades"].cap:
        used = ", ".join(f"{c.name} {len(c.shades)}" for c in sorted(program.colors, key=lambda c: -len(c.shades)))
        raise CarcError([Diagnostic("E110", f"program uses {shades} colour shades; the limit is {int(LIMITS['max_shades'].cap)} (shades per colour it reaches: {used})", unit.name.span)])


_COLORED = OBJECT_QUERIES | {Op.PIXELS}


def prune_program(program: ir.Program) -> ir.Program:
    """Drop nodes, colours and latches nothing reads (unused stdlib lets and colours), renumbering the
    nodes in canonical order (``ir.canonical_order``), so the IR does not depend on unused helpers."""
    roots = [s.predicate for s in program.subtasks]
    if program.shaping is not None:
        roots.append(program.shaping.potential)
    order = ir.canonical_order(program, roots)
    live = set(order)
    renumber = {old: new for new, old in enumerate(order)}
    used_colors = sorted({int(program.nodes[i].const[0]) for i in order if program.nodes[i].op in _COLORED})
    recolor = {old: new for new, old in enumerate(used_colors)}
    latches: list[ir.Latch] = []
    reoffset: dict[int, int] = {}
    for latch in program.latches:
        if latch.source in live and any(program.nodes[i].op == Op.START and int(program.nodes[i].const[0]) == latch.offset for i in order):
            offset = sum(ir.WIDTH[l.type] for l in latches)
            reoffset[latch.offset] = offset
            latches.append(ir.Latch(renumber[latch.source], latch.type, offset))
    nodes = []
    for i in order:
        node = program.nodes[i]
        const = node.const
        if node.op in _COLORED:
            const = (recolor[int(const[0])], *const[1:])
        elif node.op == Op.START:
            const = (reoffset[int(const[0])],)
        nodes.append(ir.Node(node.op, node.type, tuple(renumber[a] for a in node.args), const))
    stages = tuple(
        ir.Stage(st.name, st.description, tuple(ir.Subtask(s.index, s.name, s.description, s.bonus, renumber[s.predicate]) for s in st.subtasks), st.unordered)
        for st in program.stages
    )
    shaping = None if program.shaping is None else ir.Shaping(program.shaping.gamma, renumber[program.shaping.potential])
    pruned = replace(program, colors=tuple(program.colors[c] for c in used_colors), nodes=tuple(nodes),
                     latches=tuple(latches), stages=stages, shaping=shaping)
    verify_program(pruned, caps=False)
    return pruned


def check_text(text: str | bytes, name: str = "<string>") -> ir.Program:
    """Gate, parse and check program text."""
    from carc.lang.parser import parse_text

    return check_unit(parse_text(text, name))
