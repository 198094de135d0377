"""Check a parsed program and build its IR: resolve names, inline helpers, type every expression.

Diagnostics are collected, not raised one at a time: a program with three mistakes gets three
errors. Helpers are inlined by binding their parameters to already-checked values and memoised
per (helper, arguments), so nested helpers cost linear work whatever their fan-out.

>>> from carc.lang.parser import parse_text
>>> prog = check_unit(parse_text('program p "d" observe rgb subtask s "go" bonus 1 : 1 < 2'))
>>> [s.name for s in prog.subtasks]
['s']
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Union

from carc import ir
from carc.core.diagnostics import CarcError, Diagnostic, Span
from carc.core.limits import LIMITS
from carc.core.resources import STDLIB_MODULES, stdlib_path
from carc.ir.intervals import reward_interval
from carc.lang import ast
from carc.lang.builtins import BUILTINS, TYPE_NAMES, Signature

MAX_HELPER_NESTING = 16
OBSERVATION_KINDS = ("rgb",)
DEFAULT_TILE = 8


# ---- values during checking --------------------------------------------------------------------


@dataclass(frozen=True)
class Val:
    """A runtime value: a node of the IR."""

    type: str
    node: int


@dataclass(frozen=True)
class ColorVal:
    color: ir.Color


@dataclass(frozen=True)
class ObjectsVal:
    color: ir.Color
    filters: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class ErrorVal:
    """Stands in for a value whose checking already failed, to avoid cascades of errors."""


Value = Union[Val, ColorVal, ObjectsVal, ErrorVal]


def type_of(value: Value) -> str:
    match value:
        case Val(type=t):
            return t
        case ColorVal():
            return "color"
        case ObjectsVal():
            return "objects"
    return "error"


@dataclass(frozen=True)
class Binding:
    """What a name means: a value (let, colour, parameter) or a helper."""

    value: Value | None
    helper: ast.Def | None
    span: Span
    origin: str


# ---- the checker -------------------------------------------------------------------------------


@dataclass
class _Checker:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    nodes: list[ir.Node] = field(default_factory=list)
    node_ids: dict[ir.Node, int] = field(default_factory=dict)
    colors: list[ir.Color] = field(default_factory=list)
    latches: list[ir.Latch] = field(default_factory=list)
    scope: dict[str, Binding] = field(default_factory=dict)
    memo: dict[tuple[int, tuple[Value, ...]], Value] = field(default_factory=dict)
    helper_depth: int = 0
    in_start: bool = False
    modules: set[str] = field(default_factory=set)

    def error(self, code: str, message: str, span: Span, note: str | None = None) -> ErrorVal:
        diagnostic = Diagnostic(code, message, span, note=note)
        if diagnostic not in self.diagnostics:
            self.diagnostics.append(diagnostic)
        return ErrorVal()

    # ---- IR construction ----
    def emit(self, op: str, type_: str, args: tuple[int, ...] = (), const: tuple = ()) -> Val:
        node = ir.Node(op, type_, args, const)  # type: ignore[arg-type]
        if node not in self.node_ids:
            self.node_ids[node] = len(self.nodes)
            self.nodes.append(node)
            if len(self.nodes) > LIMITS["max_inlined_nodes"].cap:
                raise _TooBig()
        return Val(type_, self.node_ids[node])

    def color_index(self, color: ir.Color) -> int:
        if color not in self.colors:
            self.colors.append(color)
        return self.colors.index(color)

    # ---- names ----
    def define(self, name: ast.Name, binding: Binding) -> None:
        previous = self.scope.get(name.id)
        if previous is not None:
            where = f"line {previous.span.line}" if previous.origin == "program" else f"module {previous.origin}"
            self.error("E302", f"'{name.id}' is already defined ({where})", name.span)
            return
        if name.id in BUILTINS:
            self.error("E302", f"'{name.id}' is a built-in function and cannot be redefined", name.span)
            return
        self.scope[name.id] = binding

    def suggest(self, name: str, candidates: list[str]) -> str | None:
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        return f"did you mean '{close[0]}'?" if close else None

    def lookup(self, name: ast.Name, env: dict[str, Value]) -> Value:
        if name.id in env:
            return env[name.id]
        binding = self.scope.get(name.id)
        if binding is not None and binding.value is not None:
            return binding.value
        if binding is not None:
            return self.error("E401", f"'{name.id}' is a helper: call it, e.g. {name.id}(...)", name.span)
        if name.id in BUILTINS:
            return self.error("E401", f"'{name.id}' is a built-in function: call it, e.g. {name.id}(...)", name.span)
        if name.id in TYPE_NAMES:
            return self.error("E301", f"'{name.id}' is a type, not a value", name.span)
        return self.error("E301", f"undefined name '{name.id}'", name.span, self.suggest(name.id, [*env, *self.scope]))

    # ---- expressions ----
    def expr(self, node: ast.Expr, env: dict[str, Value]) -> Value:
        method: Callable[[ast.Expr, dict[str, Value]], Value] = getattr(self, f"expr_{type(node).__name__.lower()}")
        return method(node, env)

    def expr_number(self, node: ast.Number, env: dict[str, Value]) -> Value:
        return self.emit("const", "num", const=(node.value,))

    def expr_bool(self, node: ast.Bool, env: dict[str, Value]) -> Value:
        return self.emit("const", "bool", const=(node.value,))

    def expr_name(self, node: ast.Name, env: dict[str, Value]) -> Value:
        return self.lookup(node, env)

    def want(self, value: Value, wanted: str, what: str, span: Span) -> Value:
        if isinstance(value, ErrorVal) or type_of(value) == wanted:
            return value
        return self.error("E401", f"{what} must be {wanted}, not {type_of(value)}", span)

    def expr_negate(self, node: ast.Negate, env: dict[str, Value]) -> Value:
        value = self.want(self.expr(node.operand, env), "num", "the operand of '-'", node.operand.span)
        return value if isinstance(value, ErrorVal) else self.emit("neg", "num", (value.node,))

    def expr_not(self, node: ast.Not, env: dict[str, Value]) -> Value:
        value = self.want(self.expr(node.operand, env), "bool", "the operand of 'not'", node.operand.span)
        return value if isinstance(value, ErrorVal) else self.emit("not", "bool", (value.node,))

    def expr_logic(self, node: ast.Logic, env: dict[str, Value]) -> Value:
        values = [self.want(self.expr(o, env), "bool", f"each operand of '{node.op}'", o.span) for o in node.operands]
        if any(isinstance(v, ErrorVal) for v in values):
            return ErrorVal()
        return self.emit(node.op, "bool", tuple(v.node for v in values))  # type: ignore[union-attr]

    def expr_arith(self, node: ast.Arith, env: dict[str, Value]) -> Value:
        values = [self.want(self.expr(o, env), "num", "each operand of arithmetic", o.span) for o in node.operands]
        if any(isinstance(v, ErrorVal) for v in values):
            return ErrorVal()
        ops = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
        result: Val = values[0]  # type: ignore[assignment]
        for op, value in zip(node.ops, values[1:]):
            result = self.emit(ops[op], "num", (result.node, value.node))  # type: ignore[union-attr]
        return result

    def expr_compare(self, node: ast.Compare, env: dict[str, Value]) -> Value:
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        if isinstance(left, ErrorVal) or isinstance(right, ErrorVal):
            return ErrorVal()
        allowed = ("num", "bool") if node.op in ("==", "!=") else ("num",)
        if type_of(left) not in allowed or type_of(right) != type_of(left):
            return self.error("E401", f"cannot compare {type_of(left)} {node.op} {type_of(right)}", node.span,
                              "comparisons take two numbers (== and != also two booleans)")
        ops = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
        return self.emit(ops[node.op], "bool", (left.node, right.node))  # type: ignore[union-attr]

    def expr_if(self, node: ast.If, env: dict[str, Value]) -> Value:
        cond = self.want(self.expr(node.cond, env), "bool", "the condition of 'if'", node.cond.span)
        then, orelse = self.expr(node.then, env), self.expr(node.orelse, env)
        if any(isinstance(v, ErrorVal) for v in (cond, then, orelse)):
            return ErrorVal()
        if type_of(then) != type_of(orelse) or not isinstance(then, Val):
            return self.error("E401", f"'if' branches must have one value type, not {type_of(then)} and {type_of(orelse)}", node.span)
        return self.emit("if", then.type, (cond.node, then.node, orelse.node))  # type: ignore[union-attr]

    def expr_call(self, node: ast.Call, env: dict[str, Value]) -> Value:
        name = node.func.id
        binding = self.scope.get(name)
        if binding is not None and binding.helper is not None and name not in env:
            return self.call_helper(node, binding.helper, env)
        if name not in BUILTINS:
            if name in env or binding is not None:
                return self.error("E401", f"'{name}' is a value, not a function", node.func.span)
            candidates = [*BUILTINS, *(n for n, b in self.scope.items() if b.helper is not None)]
            return self.error("E301", f"undefined function '{name}'", node.func.span, self.suggest(name, candidates))
        if name == "start":
            return self.call_start(node, env)
        args = [self.expr(a, env) for a in node.args]
        if any(isinstance(a, ErrorVal) for a in args):
            return ErrorVal()
        return self.call_builtin(node, BUILTINS[name][0], args)

    def call_start(self, node: ast.Call, env: dict[str, Value]) -> Value:
        if len(node.args) != 1:
            return self.error("E402", f"start takes 1 argument, not {len(node.args)}", node.span)
        if self.in_start:
            return self.error("E405", "start(...) inside start(...) means nothing more: remove the inner one", node.span)
        self.in_start = True
        try:
            value = self.expr(node.args[0], env)
        finally:
            self.in_start = False
        if isinstance(value, ErrorVal):
            return value
        if not isinstance(value, Val):
            return self.error("E401", f"start takes a value (num, bool, point, box or region), not {type_of(value)}", node.args[0].span)
        if self.uses_start(value.node):
            # A latch whose source reads another latch would depend on the order latches are set.
            return self.error("E405", "start(...) of a value that already uses start(...): apply start to the parts, "
                              "e.g. f(start(a), start(b))", node.span)
        for latch in self.latches:
            if latch.source == value.node:
                return self.emit("start", value.type, const=(latch.offset,))
        offset = sum(ir.WIDTH[latch.type] for latch in self.latches)
        self.latches.append(ir.Latch(value.node, value.type, offset))  # type: ignore[arg-type]
        return self.emit("start", value.type, const=(offset,))

    def uses_start(self, root: int) -> bool:
        """Whether IR node `root` reads a start(...) value, walked iteratively."""
        stack, seen = [root], set()
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            if self.nodes[i].op == "start":
                return True
            stack.extend(self.nodes[i].args)
        return False

    def coerce(self, value: Value, kind: str) -> tuple[Value, int | None]:
        """Fit a value to a parameter kind; returns the value and, for a region, its exists node."""
        actual = type_of(value)
        if kind == actual or kind == "any" and isinstance(value, Val):
            return value, None
        if actual == "region" and kind in ("pos", "rect"):
            exists = self.emit("exists", "bool", (value.node,)).node  # type: ignore[union-attr]
            op, t = ("center", "point") if kind == "pos" else ("bbox", "box")
            return self.emit(op, t, (value.node,)), exists  # type: ignore[union-attr]
        if (kind, actual) in (("pos", "point"), ("rect", "box")):
            return value, None
        return ErrorVal(), None

    def call_builtin(self, node: ast.Call, sig: Signature, args: list[Value]) -> Value:
        name = node.func.id
        if len(args) != len(sig.params):
            shown = ", ".join(sig.params)
            return self.error("E402", f"{name} takes {len(sig.params)} argument{'s' if len(sig.params) != 1 else ''} ({shown}), not {len(args)}", node.span)
        fitted, guards = [], []
        kinds = {"pos": "point or region", "rect": "box or region", "any": "a value"}
        for i, (arg, kind, arg_node) in enumerate(zip(args, sig.params, node.args)):
            value, guard = self.coerce(arg, kind)
            if isinstance(value, ErrorVal):
                return self.error("E401", f"argument {i + 1} of {name} must be {kinds.get(kind, kind)}, not {type_of(arg)}", arg_node.span)
            fitted.append(value)
            if guard is not None:
                guards.append(guard)
        result = self.apply(sig, fitted)
        if sig.result == "bool" and guards and isinstance(result, Val):
            return self.emit("and", "bool", (*guards, result.node))
        return result

    def apply(self, sig: Signature, args: list[Value]) -> Value:
        if sig.op in ("pixels", "objects"):
            color: ir.Color = args[0].color  # type: ignore[union-attr]
            if sig.op == "objects":
                return ObjectsVal(color)
            return self.emit("pixels", "region", const=(self.color_index(color),))
        if sig.op.startswith("filter_"):
            objects: ObjectsVal = args[0]  # type: ignore[assignment]
            measure = (sig.op.removeprefix("filter_"), args[1].node, args[2].node)  # type: ignore[union-attr]
            return ObjectsVal(objects.color, objects.filters + (measure,))
        if sig.op in ir.OBJECT_OPS:
            objects = args[0]  # type: ignore[assignment]
            const = (self.color_index(objects.color), *(m for m, _, _ in objects.filters))
            bounds = tuple(i for _, lo, hi in objects.filters for i in (lo, hi))
            return self.emit(sig.op, sig.result, bounds, const)  # type: ignore[arg-type]
        return self.emit(sig.op, sig.result, tuple(a.node for a in args))  # type: ignore[union-attr]

    def call_helper(self, node: ast.Call, helper: ast.Def, env: dict[str, Value]) -> Value:
        if len(node.args) != len(helper.params):
            return self.error("E402", f"{helper.name.id} takes {len(helper.params)} arguments, not {len(node.args)}", node.span,
                              f"defined at line {helper.span.line}" if helper.span.source is node.span.source else None)
        args = [self.expr(a, env) for a in node.args]
        if any(isinstance(a, ErrorVal) for a in args):
            return ErrorVal()
        for i, (arg, param, arg_node) in enumerate(zip(args, helper.params, node.args)):
            if type_of(arg) != param.type_name.id:
                return self.error("E401", f"argument {i + 1} of {helper.name.id} must be {param.type_name.id}, not {type_of(arg)}", arg_node.span)
        key = (id(helper), tuple(args))
        if key not in self.memo:
            if self.helper_depth >= MAX_HELPER_NESTING:
                return self.error("E116", f"helpers call each other more than {MAX_HELPER_NESTING} deep", node.span)
            self.helper_depth += 1
            try:
                body_env = {p.name.id: a for p, a in zip(helper.params, args)}
                result = self.expr(helper.body, body_env)
                declared = helper.result_type.id
                if not isinstance(result, ErrorVal) and declared in TYPE_NAMES and type_of(result) != declared:
                    message = f"{helper.name.id} is declared -> {declared} but its body is {type_of(result)}"
                    if not any(d.message == message and d.span == helper.body.span for d in self.diagnostics):
                        self.error("E401", message, helper.body.span)
                    result = ErrorVal()
                self.memo[key] = result
            finally:
                self.helper_depth -= 1
        return self.memo[key]

    # ---- items ----
    def check_color(self, item: ast.ColorDef, origin: str) -> None:
        channels = [n for shade in item.shades for n in shade.rgb] + [item.tolerance]
        bad = [n for n in channels if not (0 <= n.value <= 255 and n.value == int(n.value))]
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
        for param in (*item.params, item.result_type):
            type_name = param.type_name if isinstance(param, ast.Param) else param
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
                env[param.name.id] = self.emit("param", kind, const=(param.name.id,))
        value = self.expr(item.body, env)
        if not isinstance(value, ErrorVal) and type_of(value) != item.result_type.id:
            self.error("E401", f"{item.name.id} is declared -> {item.result_type.id} but its body is {type_of(value)}", item.body.span)

    def check_let(self, item: ast.Let, origin: str) -> None:
        value = self.expr(item.value, {})
        self.define(item.name, Binding(value, None, item.span, origin))


_STAND_IN_COLOR = ir.Color("parameter", ((0, 0, 0),), 0)


class _TooBig(Exception):
    """Raised when inlining grows the IR past its cap."""


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


def _single(checker: _Checker, unit: ast.Unit, kind: type, what: str) -> list:
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
    except _TooBig:
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
        value = checker.want(checker.expr(item.potential, {}), "num", "a shaping potential", item.potential.span)
        if isinstance(value, Val):
            shaping = ir.Shaping(gamma, value.node)
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
    return ir.Program(**{**program.__dict__, "bounds": bounds})


def _check_palette_size(program: ir.Program, unit: ast.Unit) -> None:
    """Caps on the colours the kernel really scans (after pruning unused stdlib ones)."""
    shades = sum(len(c.shades) for c in program.colors)
    if len(program.colors) > LIMITS["max_colors"].cap:
        raise CarcError([Diagnostic("E110", f"program uses {len(program.colors)} colours; the limit is {int(LIMITS['max_colors'].cap)}", unit.name.span)])
    if shades > LIMITS["max_shades"].cap:
        raise CarcError([Diagnostic("E110", f"program uses {shades} colour shades; the limit is {int(LIMITS['max_shades'].cap)}", unit.name.span)])


def prune_program(program: ir.Program) -> ir.Program:
    """Drop nodes, colours and latches nothing reads (unused stdlib lets and colours), renumbering."""
    roots = [s.predicate for s in program.subtasks]
    if program.shaping is not None:
        roots.append(program.shaping.potential)
    live = ir.reachable(program, roots, through_latches=True)
    order = sorted(live)
    renumber = {old: new for new, old in enumerate(order)}
    used_colors = sorted({int(program.nodes[i].const[0]) for i in order if program.nodes[i].op == "pixels" or program.nodes[i].op in ir.OBJECT_OPS})
    recolor = {old: new for new, old in enumerate(used_colors)}
    latches, reoffset = [], {}
    for latch in program.latches:
        if latch.source in live and any(program.nodes[i].op == "start" and int(program.nodes[i].const[0]) == latch.offset for i in order):
            offset = sum(ir.WIDTH[l.type] for l in latches)
            reoffset[latch.offset] = offset
            latches.append(ir.Latch(renumber[latch.source], latch.type, offset))
    nodes = []
    for i in order:
        node = program.nodes[i]
        const = node.const
        if node.op == "pixels" or node.op in ir.OBJECT_OPS:
            const = (recolor[int(const[0])], *const[1:])
        elif node.op == "start":
            const = (reoffset[int(const[0])],)
        nodes.append(ir.Node(node.op, node.type, tuple(renumber[a] for a in node.args), const))
    stages = tuple(
        ir.Stage(st.name, st.description, tuple(ir.Subtask(s.index, s.name, s.description, s.bonus, renumber[s.predicate]) for s in st.subtasks), st.unordered)
        for st in program.stages
    )
    shaping = None if program.shaping is None else ir.Shaping(program.shaping.gamma, renumber[program.shaping.potential])
    return ir.Program(**{
        **program.__dict__, "colors": tuple(program.colors[c] for c in used_colors), "nodes": tuple(nodes),
        "latches": tuple(latches), "stages": stages, "shaping": shaping,
    })


def check_text(text: str | bytes, name: str = "<string>") -> ir.Program:
    """Gate, parse and check program text."""
    from carc.lang.parser import parse_text

    return check_unit(parse_text(text, name))
