"""The carc AST: frozen dataclasses, each with the source span it came from.

Spans take no part in equality, so a program and its pretty-printed re-parse compare equal.
Chains (`a + b - c`, `p and q and r`) are flat n-ary nodes, evaluated left to right.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Literal

from carc.core.diagnostics import Span


def _span() -> Span:
    return field(compare=False, repr=False)


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


Expr = Number | Bool | Name | Call | Negate | Not | Logic | Arith | Compare | If


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


Item = Observe | Use | ColorDef | Let | Def | Subtask | Group | Shaping | Bounds


@dataclass(frozen=True)
class Unit:
    """A whole file: a `program` (a reward) or a `module` (a stdlib library)."""

    kind: Literal["program", "module"]
    name: Name
    description: str
    items: tuple[Item, ...]
    span: Span = _span()


def children(node: object) -> tuple[object, ...]:
    """The direct sub-nodes of an AST node in field order, for iterative walks (names, numbers and
    nested items; not the strings, operators and spans a node also holds).

    >>> from carc.lang.parser import parse_text
    >>> let = parse_text('program p "d" observe rgb let x = not true subtask s "s" bonus 1 : x').items[1]
    >>> [type(c).__name__ for c in children(let)]
    ['Name', 'Not']
    """
    if not is_dataclass(node) or isinstance(node, type):
        return ()
    found: list[object] = []
    for f in fields(node):
        if f.name == "span":
            continue
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            found.extend(v for v in value if is_dataclass(v))
        elif is_dataclass(value):
            found.append(value)
    return tuple(found)
