"""The built-in functions of the language: signatures, overloads and the IR op each becomes.

Derived from the op table (carc.ir.ops): a built-in is an op with a `Builtin` row. Parameter kinds
beyond the value types: `pos` takes a point, or a region (its centre); `rect` takes a box, or a
region (its bounding box); `any` takes any value type. A boolean relation whose operand was a
region is false when that region is empty (the object is absent).

>>> BUILTINS["near"][0].params, BUILTINS["near"][0].op
(('pos', 'pos', 'num'), <Op.NEAR: 'near'>)
"""

from __future__ import annotations

from dataclasses import dataclass

from carc.ir.ops import SPECS, Op


@dataclass(frozen=True)
class Signature:
    """One way to call a built-in. `doc` is `meaning` and `empty` (what an empty region as an
    argument gives, "" where no argument can be a region) in one line."""

    params: tuple[str, ...]
    result: str
    op: Op
    doc: str
    meaning: str = ""
    empty: str = ""
    names: tuple[str, ...] = ()  # the parameters' names, as `meaning` calls them


BUILTINS: dict[str, tuple[Signature, ...]] = {
    spec.builtin.name: (Signature(spec.builtin.params, spec.builtin.result, op, spec.builtin.doc, spec.builtin.meaning,
                                  spec.builtin.empty, spec.builtin.names),)
    for op, spec in SPECS.items() if spec.builtin is not None
}

TYPE_NAMES = ("num", "bool", "point", "box", "region", "objects", "color")
