"""The op table: every operation of the language and the IR, its group, its types and the
built-in function (if any) that a program calls to make it.

Each pass keeps its own semantics in a dict keyed by `Op` (interpreter, code generator, interval
analysis, cost model, lints) and tests/test_ops.py checks that every such table covers every op
that can appear in a checked program (`IR_OPS`). Adding a built-in is one entry here plus its
semantics in those tables; the built-ins table of the language (carc.lang.builtins) is derived
from this one.

>>> Op.ADD.group, Op("near").spec.args, Op.NEAR.spec.result
(<Group.ARITH: 'arith'>, ('point', 'point', 'num'), 'bool')
>>> Op.OBJECTS in IR_OPS, Op.LARGEST in IR_OPS
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Group(StrEnum):
    """What an op works on (the built-in reference is ordered by group)."""

    VALUE = "value"
    PERCEPTION = "perception"
    REGION = "region"
    GEOMETRY = "geometry"
    FRAME = "frame"
    ARITH = "arith"
    COMPARE = "compare"
    LOGIC = "logic"
    MEMORY = "memory"


class Op(StrEnum):
    """An operation. A str enum: it prints, compares and hashes as its name, so IR dumps and
    program hashes read the same as plain strings."""

    __hash__ = str.__hash__

    CONST = "const"
    PARAM = "param"
    PIXELS = "pixels"
    OBJECTS = "objects"
    FILTER_AREA = "filter_area"
    FILTER_FILL = "filter_fill"
    FILTER_ASPECT = "filter_aspect"
    LARGEST = "largest"
    SMALLEST = "smallest"
    COUNT = "count"
    EXISTS = "exists"
    AREA = "area"
    CENTER = "center"
    BBOX = "bbox"
    FILL = "fill"
    WIDTH = "width"
    HEIGHT = "height"
    ASPECT = "aspect"
    POINT = "point"
    BOX = "box"
    X = "x"
    Y = "y"
    DISTANCE = "distance"
    MANHATTAN = "manhattan"
    LEFT_OF = "left_of"
    RIGHT_OF = "right_of"
    ABOVE = "above"
    BELOW = "below"
    NEAR = "near"
    INSIDE = "inside"
    CONTAINS = "contains"
    OVERLAPS = "overlaps"
    FRAME_WIDTH = "frame_width"
    FRAME_HEIGHT = "frame_height"
    TILE = "tile"
    CELL = "cell"
    CELLS = "cells"
    SAME_CELL = "same_cell"
    NEG = "neg"
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    ABS = "abs"
    MIN = "min"
    MAX = "max"
    CLAMP = "clamp"
    SQRT = "sqrt"
    FLOOR = "floor"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    EQ = "eq"
    NE = "ne"
    NOT = "not"
    AND = "and"
    OR = "or"
    IF = "if"
    START = "start"

    @property
    def spec(self) -> OpSpec:
        return SPECS[self]

    @property
    def group(self) -> Group:
        return SPECS[self].group


@dataclass(frozen=True)
class Builtin:
    """The language function that makes an op: parameter kinds and result as the checker sees
    them (`pos`: point or region, `rect`: box or region, `any`: any value type), and its doc."""

    name: str
    params: tuple[str, ...]
    result: str
    doc: str


@dataclass(frozen=True)
class OpSpec:
    """One row of the op table.

    `args` and `result` are the IR value types of a node of this op; None means the IR verifier
    applies the op's own rule (constants, object queries, polymorphic and variadic ops). `reads` is
    what besides its arguments the value depends on: "" (nothing: constant-foldable), "pixels",
    "shape" (the frame's size), "tile" (the tile parameter) or "memory" (the first frame).
    `in_ir`: False for ops the checker folds into others (a helper parameter stand-in, object sets
    and their filters). `saturated`: the result is clamped to [-BIG, BIG]. `division`: how an
    implicit division by zero is made total.
    """

    group: Group
    args: tuple[str, ...] | None
    result: str | None
    builtin: Builtin | None = None
    reads: str = ""
    in_ir: bool = True
    saturated: bool = False
    division: str | None = None


def _spec(group: Group, args: str | None, result: str | None, builtin: tuple[str, str, str, str] | None = None,
          **facts: object) -> OpSpec:
    made = None if builtin is None else Builtin(builtin[0], tuple(builtin[1].split()), builtin[2], builtin[3])
    return OpSpec(group, None if args is None else tuple(args.split()), result, made, **facts)  # type: ignore[arg-type]


_P, _R, _G, _F, _A, _C, _L = Group.PERCEPTION, Group.REGION, Group.GEOMETRY, Group.FRAME, Group.ARITH, Group.COMPARE, Group.LOGIC

SPECS: dict[Op, OpSpec] = {
    Op.CONST: _spec(Group.VALUE, "", None),
    Op.PARAM: _spec(Group.VALUE, "", None, in_ir=False),
    # perception
    Op.PIXELS: _spec(_P, "", "region", ("pixels", "color", "region", "all pixels of a colour, as one region"), reads="pixels"),
    Op.OBJECTS: _spec(_P, None, "objects", ("objects", "color", "objects", "the connected objects (8-connected) of a colour"),
                      in_ir=False),
    Op.LARGEST: _spec(_P, None, "region", ("largest", "objects", "region", "the object with the most pixels (empty if none)"),
                      reads="pixels"),
    Op.SMALLEST: _spec(_P, None, "region", ("smallest", "objects", "region", "the object with the fewest pixels (empty if none)"),
                       reads="pixels"),
    Op.COUNT: _spec(_P, None, "num", ("count", "objects", "num", "how many objects"), reads="pixels"),
    Op.FILTER_AREA: _spec(_P, None, "objects", ("area_between", "objects num num", "objects", "objects with lo <= area <= hi"),
                          in_ir=False),
    Op.FILTER_FILL: _spec(_P, None, "objects", ("fill_between", "objects num num", "objects", "objects with lo <= fill <= hi"),
                          in_ir=False),
    Op.FILTER_ASPECT: _spec(_P, None, "objects", ("aspect_between", "objects num num", "objects",
                                                  "objects with lo <= width/height <= hi"), in_ir=False),
    # regions
    Op.EXISTS: _spec(_R, "region", "bool", ("exists", "region", "bool", "the region has at least one pixel")),
    Op.AREA: _spec(_R, "region", "num", ("area", "region", "num", "number of pixels")),
    Op.CENTER: _spec(_R, "region", "point", ("center", "region", "point", "mean pixel position (0, 0 if empty)"),
                     division="sum / area; an empty region's centre is (0, 0)"),
    Op.BBOX: _spec(_R, "region", "box", ("bbox", "region", "box", "bounding box")),
    Op.FILL: _spec(_R, "region", "num", ("fill", "region", "num", "area / bounding-box area (0 if empty)"),
                   division="area / box area; 0 for an empty region"),
    Op.WIDTH: _spec(_R, "box", "num", ("width", "rect", "num", "width in pixels"), saturated=True),
    Op.HEIGHT: _spec(_R, "box", "num", ("height", "rect", "num", "height in pixels"), saturated=True),
    Op.ASPECT: _spec(_R, "box", "num", ("aspect", "rect", "num", "width / height (0 if empty)"), saturated=True,
                     division="width / height; 0 when the height is 0"),
    # points and boxes
    Op.POINT: _spec(_G, "num num", "point", ("point", "num num", "point", "a point (x, y) in pixels")),
    Op.BOX: _spec(_G, "num num num num", "box", ("box", "num num num num", "box", "a box (x0, y0, x1, y1), inclusive")),
    Op.X: _spec(_G, "point", "num", ("x", "pos", "num", "x coordinate")),
    Op.Y: _spec(_G, "point", "num", ("y", "pos", "num", "y coordinate")),
    # geometry
    Op.DISTANCE: _spec(_G, "point point", "num", ("distance", "pos pos", "num", "Euclidean distance in pixels"), saturated=True),
    Op.MANHATTAN: _spec(_G, "point point", "num", ("manhattan", "pos pos", "num", "|dx| + |dy| in pixels"), saturated=True),
    Op.LEFT_OF: _spec(_G, "point point", "bool", ("left_of", "pos pos", "bool", "a is left of b")),
    Op.RIGHT_OF: _spec(_G, "point point", "bool", ("right_of", "pos pos", "bool", "a is right of b")),
    Op.ABOVE: _spec(_G, "point point", "bool", ("above", "pos pos", "bool", "a is above b (smaller y)")),
    Op.BELOW: _spec(_G, "point point", "bool", ("below", "pos pos", "bool", "a is below b (larger y)")),
    Op.NEAR: _spec(_G, "point point num", "bool", ("near", "pos pos num", "bool", "distance(a, b) <= d")),
    Op.INSIDE: _spec(_G, "point box", "bool", ("inside", "pos rect", "bool", "point (or centre) lies within the box")),
    Op.CONTAINS: _spec(_G, "box box", "bool", ("contains", "rect rect", "bool", "box a contains box b")),
    Op.OVERLAPS: _spec(_G, "box box", "bool", ("overlaps", "rect rect", "bool", "the boxes intersect")),
    # frame and grid
    Op.FRAME_WIDTH: _spec(_F, "", "num", ("frame_width", "", "num", "frame width in pixels"), reads="shape"),
    Op.FRAME_HEIGHT: _spec(_F, "", "num", ("frame_height", "", "num", "frame height in pixels"), reads="shape"),
    Op.TILE: _spec(_F, "", "num", ("tile", "", "num", "grid tile size in pixels (observe ... tile N, or set per env)"), reads="tile"),
    Op.CELL: _spec(_F, "point", "point", ("cell", "pos", "point", "grid cell (column, row) of a position"), reads="tile",
                   division="position / tile, floored; 0 when the tile is 0"),
    Op.CELLS: _spec(_F, "num", "num", ("cells", "num", "num", "a pixel length in tiles"), reads="tile",
                    division="length / tile; 0 when the tile is 0"),
    Op.SAME_CELL: _spec(_F, "point point", "bool", ("same_cell", "pos pos", "bool", "both positions are in one grid cell"),
                        reads="tile", division="positions / tile, floored; 0 when the tile is 0"),
    # arithmetic (the operators have no built-in function)
    Op.NEG: _spec(_A, "num", "num"),
    Op.ADD: _spec(_A, "num num", "num", saturated=True),
    Op.SUB: _spec(_A, "num num", "num", saturated=True),
    Op.MUL: _spec(_A, "num num", "num", saturated=True),
    Op.DIV: _spec(_A, "num num", "num", saturated=True),
    Op.ABS: _spec(_A, "num", "num", ("abs", "num", "num", "absolute value")),
    Op.MIN: _spec(_A, "num num", "num", ("min", "num num", "num", "smaller of two")),
    Op.MAX: _spec(_A, "num num", "num", ("max", "num num", "num", "larger of two")),
    Op.CLAMP: _spec(_A, "num num num", "num", ("clamp", "num num num", "num", "x limited to [lo, hi]")),
    Op.SQRT: _spec(_A, "num", "num", ("sqrt", "num", "num", "square root (0 for negatives)")),
    Op.FLOOR: _spec(_A, "num", "num", ("floor", "num", "num", "round down")),
    # comparison and logic (operators)
    Op.LT: _spec(_C, "num num", "bool"),
    Op.LE: _spec(_C, "num num", "bool"),
    Op.GT: _spec(_C, "num num", "bool"),
    Op.GE: _spec(_C, "num num", "bool"),
    Op.EQ: _spec(_C, None, "bool"),
    Op.NE: _spec(_C, None, "bool"),
    Op.NOT: _spec(_L, "bool", "bool"),
    Op.AND: _spec(_L, None, "bool"),
    Op.OR: _spec(_L, None, "bool"),
    Op.IF: _spec(_L, None, None),
    # memory
    Op.START: _spec(Group.MEMORY, "", None, ("start", "any", "any", "the value on the episode's first frame"), reads="memory"),
}

IR_OPS = frozenset(op for op in Op if SPECS[op].in_ir)
"""The ops a checked program's nodes may hold."""

OBJECT_QUERIES = frozenset({Op.LARGEST, Op.SMALLEST, Op.COUNT})
"""Ops that read the connected objects of a colour (const: colour index, then size filters)."""

FILTERS: dict[Op, str] = {Op.FILTER_AREA: "area", Op.FILTER_FILL: "fill", Op.FILTER_ASPECT: "aspect"}
"""Object-set filters and the measure each keeps objects by (stored in the query node's const)."""

BINARY_OPERATORS: dict[str, Op] = {"+": Op.ADD, "-": Op.SUB, "*": Op.MUL, "/": Op.DIV,
                                   "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE, "==": Op.EQ, "!=": Op.NE}
"""The language's infix operators."""
