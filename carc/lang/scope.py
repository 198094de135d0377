"""The checker's scope: the values an expression can have while checking, name bindings, and the
IR under construction (hash-consed: an equal node is one node).

>>> scope = Scope()
>>> scope.emit(Op.CONST, "num", const=(1.0,)) == scope.emit(Op.CONST, "num", const=(1.0,))
True
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from carc import ir
from carc.core.diagnostics import Diagnostic, Span
from carc.core.limits import LIMITS
from carc.ir.ops import Op
from carc.lang import ast
from carc.lang.builtins import BUILTINS, TYPE_NAMES

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


Value = Val | ColorVal | ObjectsVal | ErrorVal


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


# ---- the scope -------------------------------------------------------------------------------


@dataclass
class Scope:
    """Diagnostics, names and the IR built so far; the expression checker extends it."""

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
    def emit(self, op: Op, type_: str, args: tuple[int, ...] = (), const: tuple[float | int | str, ...] = ()) -> Val:
        node = ir.Node(op, type_, args, const)  # type: ignore[arg-type]
        if node not in self.node_ids:
            self.node_ids[node] = len(self.nodes)
            self.nodes.append(node)
            if len(self.nodes) > LIMITS["max_inlined_nodes"].cap:
                raise TooBig()
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
        if name.id in BUILTINS and binding.helper is not None:
            self.error("E302", f"'{name.id}' is a built-in function and cannot be redefined", name.span)
            return
        self.scope[name.id] = binding

    def hider(self, name: str, env: dict[str, Value]) -> str | None:
        """Where the value that hides the built-in `name` was defined (None: nothing hides it).

        A value (let, colour or parameter) may take a built-in's name; the program then cannot call
        that built-in where the value is in scope. Helper bodies are checked once where they are
        defined, so only a call at that depth (0) is judged: later names do not reach into them.
        """
        if name not in BUILTINS or self.helper_depth > 0:
            return None
        if name in env:
            return "a parameter of this helper"
        binding = self.scope.get(name)
        if binding is None or binding.value is None:
            return None
        return f"a value defined at line {binding.span.line}" if binding.origin == "program" else f"a value of module {binding.origin}"

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


class TooBig(Exception):
    """Raised when inlining grows the IR past its cap."""
