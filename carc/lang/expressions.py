"""Checking expressions: type every expression, resolve calls to built-ins and helpers (inlined,
memoised per helper and arguments) and emit their IR nodes.

>>> from carc.lang.parser import parse_text
>>> unit = parse_text('program p "d" observe rgb subtask s "go" bonus 1 : 1 + 2 > 2')
>>> checker = ExpressionChecker()
>>> value = checker.expr(unit.items[1].predicate, {})
>>> [str(n.op) for n in checker.nodes]
['const', 'const', 'add', 'gt']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from carc import ir
from carc.core.diagnostics import Span
from carc.ir.ops import BINARY_OPERATORS, FILTERS, OBJECT_QUERIES, Op
from carc.lang import ast
from carc.lang.builtins import BUILTINS, TYPE_NAMES, Signature
from carc.lang.scope import ErrorVal, ObjectsVal, Scope, Val, Value, type_of

MAX_HELPER_NESTING = 16


@dataclass
class ExpressionChecker(Scope):
    """The checker's expression half: `expr(node, env)` gives the value of an expression."""

    def expr(self, node: ast.Expr, env: dict[str, Value]) -> Value:
        method: Callable[[ast.Expr, dict[str, Value]], Value] = getattr(self, f"expr_{type(node).__name__.lower()}")
        return method(node, env)

    def expr_number(self, node: ast.Number, env: dict[str, Value]) -> Value:
        return self.emit(Op.CONST, "num", const=(node.value,))

    def expr_bool(self, node: ast.Bool, env: dict[str, Value]) -> Value:
        return self.emit(Op.CONST, "bool", const=(node.value,))

    def expr_name(self, node: ast.Name, env: dict[str, Value]) -> Value:
        return self.lookup(node, env)

    def want(self, value: Value, wanted: str, what: str, span: Span) -> Value:
        if isinstance(value, ErrorVal) or type_of(value) == wanted:
            return value
        return self.error("E401", f"{what} must be {wanted}, not {type_of(value)}", span)

    def expr_negate(self, node: ast.Negate, env: dict[str, Value]) -> Value:
        value = self.want(self.expr(node.operand, env), "num", "the operand of '-'", node.operand.span)
        return self.emit(Op.NEG, "num", (value.node,)) if isinstance(value, Val) else value

    def expr_not(self, node: ast.Not, env: dict[str, Value]) -> Value:
        value = self.want(self.expr(node.operand, env), "bool", "the operand of 'not'", node.operand.span)
        return self.emit(Op.NOT, "bool", (value.node,)) if isinstance(value, Val) else value

    def expr_logic(self, node: ast.Logic, env: dict[str, Value]) -> Value:
        values = [self.want(self.expr(o, env), "bool", f"each operand of '{node.op}'", o.span) for o in node.operands]
        if any(isinstance(v, ErrorVal) for v in values):
            return ErrorVal()
        return self.emit(Op(node.op), "bool", tuple(v.node for v in values))  # type: ignore[union-attr]

    def expr_arith(self, node: ast.Arith, env: dict[str, Value]) -> Value:
        values = [self.want(self.expr(o, env), "num", "each operand of arithmetic", o.span) for o in node.operands]
        if any(isinstance(v, ErrorVal) for v in values):
            return ErrorVal()
        result: Val = values[0]  # type: ignore[assignment]
        for op, value in zip(node.ops, values[1:]):
            result = self.emit(BINARY_OPERATORS[op], "num", (result.node, value.node))  # type: ignore[union-attr]
        return result

    def expr_compare(self, node: ast.Compare, env: dict[str, Value]) -> Value:
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        if isinstance(left, ErrorVal) or isinstance(right, ErrorVal):
            return ErrorVal()
        allowed = ("num", "bool") if node.op in ("==", "!=") else ("num",)
        if type_of(left) not in allowed or type_of(right) != type_of(left):
            return self.error("E401", f"cannot compare {type_of(left)} {node.op} {type_of(right)}", node.span,
                              "comparisons take two numbers (== and != also two booleans)")
        return self.emit(BINARY_OPERATORS[node.op], "bool", (left.node, right.node))  # type: ignore[union-attr]

    def expr_if(self, node: ast.If, env: dict[str, Value]) -> Value:
        cond = self.want(self.expr(node.cond, env), "bool", "the condition of 'if'", node.cond.span)
        then, orelse = self.expr(node.then, env), self.expr(node.orelse, env)
        if any(isinstance(v, ErrorVal) for v in (cond, then, orelse)):
            return ErrorVal()
        if type_of(then) != type_of(orelse) or not isinstance(then, Val):
            return self.error("E401", f"'if' branches must have one value type, not {type_of(then)} and {type_of(orelse)}", node.span)
        return self.emit(Op.IF, then.type, (cond.node, then.node, orelse.node))  # type: ignore[union-attr]

    def expr_call(self, node: ast.Call, env: dict[str, Value]) -> Value:
        name = node.func.id
        binding = self.scope.get(name)
        if binding is not None and binding.helper is not None and name not in env:
            return self.call_helper(node, binding.helper, env)
        hider = self.hider(name, env)
        if hider is not None:
            return self.error("E401", f"'{name}' here is {hider}, which hides the built-in {name}(...)", node.func.span,
                              f"rename the value (e.g. {name}_value) to call the built-in")
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
                return self.emit(Op.START, value.type, const=(latch.offset,))
        offset = sum(ir.WIDTH[latch.type] for latch in self.latches)
        self.latches.append(ir.Latch(value.node, value.type, offset))  # type: ignore[arg-type]
        return self.emit(Op.START, value.type, const=(offset,))

    def uses_start(self, root: int) -> bool:
        """Whether IR node `root` reads a start(...) value, walked iteratively."""
        stack, seen = [root], set()
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            if self.nodes[i].op == Op.START:
                return True
            stack.extend(self.nodes[i].args)
        return False

    def coerce(self, value: Value, kind: str) -> tuple[Value, int | None]:
        """Fit a value to a parameter kind; returns the value and, for a region, its exists node."""
        actual = type_of(value)
        if kind == actual or kind == "any" and isinstance(value, Val):
            return value, None
        if actual == "region" and kind in ("pos", "rect"):
            exists = self.emit(Op.EXISTS, "bool", (value.node,)).node  # type: ignore[union-attr]
            op, t = (Op.CENTER, "point") if kind == "pos" else (Op.BBOX, "box")
            return self.emit(op, t, (value.node,)), exists  # type: ignore[union-attr]
        if (kind, actual) in (("pos", "point"), ("rect", "box")):
            return value, None
        return ErrorVal(), None

    def call_builtin(self, node: ast.Call, sig: Signature, args: list[Value]) -> Value:
        name = node.func.id
        if len(args) != len(sig.params):
            shown = ", ".join(sig.params)
            return self.error("E402", f"{name} takes {len(sig.params)} argument{'s' if len(sig.params) != 1 else ''} ({shown}), not {len(args)}", node.span)
        fitted: list[Value] = []
        guards: list[int] = []
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
            return self.emit(Op.AND, "bool", (*guards, result.node))
        return result

    def apply(self, sig: Signature, args: list[Value]) -> Value:
        if sig.op in (Op.PIXELS, Op.OBJECTS):
            color: ir.Color = args[0].color  # type: ignore[union-attr]
            if sig.op == Op.OBJECTS:
                return ObjectsVal(color)
            return self.emit(Op.PIXELS, "region", const=(self.color_index(color),))
        if sig.op in FILTERS:
            objects: ObjectsVal = args[0]  # type: ignore[assignment]
            measure = (FILTERS[sig.op], args[1].node, args[2].node)  # type: ignore[union-attr]
            return ObjectsVal(objects.color, objects.filters + (measure,))
        if sig.op in OBJECT_QUERIES:
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
