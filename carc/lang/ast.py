"""The carc AST: frozen dataclasses, each with the source span it came from.

Spans take no part in equality, so a program and its pretty-printed re-parse compare equal.
Chains (`a + b - c`, `p and q and r`) are flat n-ary nodes, evaluated left to right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from carc.core.diagnostics import Span


def _span() -> Span:
    return field(compare=False, repr=False)  # type: ignore[return-value]


# ---- expressions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float
    span: Span = _span()


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    func: Name
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Negate:
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Logic:
    """`a and b and c` or `a or b`: two or more operands, one operator."""

    op: Literal["and", "or"]
    operands: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Arith:
    """`a + b - c` or `a * b / c`: operands[0] ops[0] operands[1] ... left to right."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Compare:
    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class If:
    cond: Expr
    then: Expr
    orelse: Expr
    span: Span = _span()


Expr = Union[Number, Bool, Name, Call, Negate, Not, Logic, Arith, Compare, If]


# ---- items -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observe:
    kind: Name
    tile: Number | None
    span: Span = _span()


@dataclass(frozen=True)
class Use:
    module: Name
    span: Span = _span()


@dataclass(frozen=True)
class Shade:
    rgb: tuple[Number, Number, Number]
    span: Span = _span()


@dataclass(frozen=True)
class ColorDef:
    name: Name
    shades: tuple[Shade, ...]
    tolerance: Number
    span: Span = _span()


@dataclass(frozen=True)
class Let:
    name: Name
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Param:
    name: Name
    type_name: Name
    span: Span = _span()


@dataclass(frozen=True)
class Def:
    name: Name
    params: tuple[Param, ...]
    result_type: Name
    body: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Subtask:
    name: Name
    description: str
    bonus: Number
    predicate: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Group:
    """Sub-tasks that may complete in any order; the group is done when all are."""

    name: Name
    description: str
    subtasks: tuple[Subtask, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Shaping:
    """Potential-based shaping: r += gamma * phi(s') - phi(s)."""

    gamma: Number
    potential: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Bounds:
    low: Number
    high: Number
    span: Span = _span()


Item = Union[Observe, Use, ColorDef, Let, Def, Subtask, Group, Shaping, Bounds]


@dataclass(frozen=True)
class Unit:
    """A whole file: a `program` (a reward) or a `module` (a stdlib library)."""

    kind: Literal["program", "module"]
    name: Name
    description: str
    items: tuple[Item, ...]
    span: Span = _span()


def children(node: object) -> tuple[object, ...]:
    """The direct sub-nodes of an AST node, for iterative walks."""
    match node:
        case Call(func, args):
            return (func, *args)
        case Negate(operand) | Not(operand):
            return (operand,)
        case Logic(_, operands) | Arith(operands, _):
            return operands
        case Compare(_, left, right):
            return (left, right)
        case If(cond, then, orelse):
            return (cond, then, orelse)
        case Observe(kind, tile):
            return (kind,) if tile is None else (kind, tile)
        case Use(module):
            return (module,)
        case Shade(rgb):
            return rgb
        case ColorDef(name, shades, tolerance):
            return (name, *shades, tolerance)
        case Let(name, value):
            return (name, value)
        case Param(name, type_name):
            return (name, type_name)
        case Def(name, params, result_type, body):
            return (name, *params, result_type, body)
        case Subtask(name, _, bonus, predicate):
            return (name, bonus, predicate)
        case Group(name, _, subtasks):
            return (name, *subtasks)
        case Shaping(gamma, potential):
            return (gamma, potential)
        case Bounds(low, high):
            return (low, high)
        case Unit(_, name, _, items):
            return (name, *items)
    return ()
