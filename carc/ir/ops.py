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

from carc.core.limits import LIMITS


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
    LEFT = "left"
    RIGHT = "right"
    TOP = "top"
    BOTTOM = "bottom"
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
    them (`pos`: point or region, `rect`: box or region, `any`: any value type), what it means,
    and what it gives when an argument is an empty region (an absent object; "" if no argument can
    be a region). `doc` is both, the one line the README, docs/language.md and the model's card show.

    >>> Op.CENTER.spec.builtin.doc
    'mean position (x, y) of its pixels, not rounded; an empty region gives (0, 0)'
    """

    name: str
    params: tuple[str, ...]
    result: str
    meaning: str
    empty: str = ""
    names: tuple[str, ...] = ()  # the parameters' names, as the meaning calls them

    @property
    def doc(self) -> str:
        return f"{self.meaning}; {self.empty}" if self.empty else self.meaning


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


def _spec(group: Group, args: str | None, result: str | None, builtin: tuple[str, ...] | None = None,
          **facts: object) -> OpSpec:
    """A row; `builtin` is (name, "name:kind ...", result, meaning[, on an empty region])."""
    made = None
    if builtin is not None:
        names, kinds = zip(*(p.split(":") for p in builtin[1].split())) if builtin[1] else ((), ())
        empty = builtin[4] if len(builtin) > 4 else ""
        made = Builtin(builtin[0], tuple(kinds), builtin[2], builtin[3], empty, tuple(names))
    return OpSpec(group, None if args is None else tuple(args.split()), result, made, **facts)  # type: ignore[arg-type]


_OBJECTS = int(LIMITS["max_objects"].cap)
_P, _R, _G, _F, _A, _C, _L = Group.PERCEPTION, Group.REGION, Group.GEOMETRY, Group.FRAME, Group.ARITH, Group.COMPARE, Group.LOGIC

SPECS: dict[Op, OpSpec] = {
    Op.CONST: _spec(Group.VALUE, "", None),
    Op.PARAM: _spec(Group.VALUE, "", None, in_ir=False),
    # perception
    Op.PIXELS: _spec(_P, "", "region", ("pixels", "c:color", "region", "every pixel of colour c, as one region",
                                        "no matching pixel gives the empty region"), reads="pixels"),
    Op.OBJECTS: _spec(_P, None, "objects", ("objects", "c:color", "objects", f"the 8-connected objects of colour c: the first {_OBJECTS} "
                                            "in raster order of their first pixel", "no matching pixel gives no objects"), in_ir=False),
    Op.LARGEST: _spec(_P, None, "region", ("largest", "o:objects", "region", "the object with the most pixels (on a tie, the first "
                                           "in raster order)", "no object gives the empty region"), reads="pixels"),
    Op.SMALLEST: _spec(_P, None, "region", ("smallest", "o:objects", "region", "the object with the fewest pixels (on a tie, the first "
                                            "in raster order)", "no object gives the empty region"), reads="pixels"),
    Op.COUNT: _spec(_P, None, "num", ("count", "o:objects", "num", f"how many objects (at most {_OBJECTS})", "no object gives 0"),
                    reads="pixels"),
    Op.FILTER_AREA: _spec(_P, None, "objects", ("area_between", "o:objects lo:num hi:num", "objects",
                                                "the objects with lo <= area <= hi (bounds included)"), in_ir=False),
    Op.FILTER_FILL: _spec(_P, None, "objects", ("fill_between", "o:objects lo:num hi:num", "objects",
                                                "the objects with lo <= fill <= hi (bounds included)"), in_ir=False),
    Op.FILTER_ASPECT: _spec(_P, None, "objects", ("aspect_between", "o:objects lo:num hi:num", "objects",
                                                  "the objects with lo <= aspect <= hi (bounds included)"), in_ir=False),
    # regions
    Op.EXISTS: _spec(_R, "region", "bool", ("exists", "r:region", "bool", "the region has at least one pixel (the object is seen)",
                                            "an empty region gives false")),
    Op.AREA: _spec(_R, "region", "num", ("area", "r:region", "num", "number of pixels", "an empty region gives 0")),
    Op.CENTER: _spec(_R, "region", "point", ("center", "r:region", "point", "mean position (x, y) of its pixels, not rounded",
                                             "an empty region gives (0, 0)"), division="sum / area; an empty region's centre is (0, 0)"),
    Op.BBOX: _spec(_R, "region", "box", ("bbox", "r:region", "box", "the smallest box holding every pixel, (x0, y0, x1, y1) inclusive",
                                         "an empty region gives (0, 0, -1, -1): width and height 0")),
    Op.FILL: _spec(_R, "region", "num", ("fill", "r:region", "num", "area / (width * height of its bounding box), in (0, 1]: "
                                         "1 for a filled rectangle, about 0.79 for a disc, 0.5 for a right triangle", "an empty region gives 0"),
                   division="area / box area; 0 for an empty region"),
    Op.WIDTH: _spec(_R, "box", "num", ("width", "b:rect", "num", "x1 - x0 + 1 pixels (0 if x1 < x0)", "an empty region gives 0"), saturated=True),
    Op.HEIGHT: _spec(_R, "box", "num", ("height", "b:rect", "num", "y1 - y0 + 1 pixels (0 if y1 < y0)", "an empty region gives 0"), saturated=True),
    Op.ASPECT: _spec(_R, "box", "num", ("aspect", "b:rect", "num", "width / height: above 1 wide, below 1 tall, 1 square; "
                                        "0 when the height is 0", "an empty region gives 0"), saturated=True,
                     division="width / height; 0 when the height is 0"),
    Op.LEFT: _spec(_R, "box", "num", ("left", "b:rect", "num", "x0, the x of the box's leftmost pixel column", "an empty region gives 0")),
    Op.RIGHT: _spec(_R, "box", "num", ("right", "b:rect", "num", "x1, the x of the box's rightmost pixel column", "an empty region gives -1")),
    Op.TOP: _spec(_R, "box", "num", ("top", "b:rect", "num", "y0, the y of the box's highest pixel row (y grows downwards)", "an empty region gives 0")),
    Op.BOTTOM: _spec(_R, "box", "num", ("bottom", "b:rect", "num", "y1, the y of the box's lowest pixel row (y grows downwards)",
                                        "an empty region gives -1")),
    # points and boxes
    Op.POINT: _spec(_G, "num num", "point", ("point", "x:num y:num", "point", "the point (x, y) in pixels")),
    Op.BOX: _spec(_G, "num num num num", "box", ("box", "x0:num y0:num x1:num y1:num", "box", "the box (x0, y0, x1, y1) in pixels, "
                                                 "corners included")),
    Op.X: _spec(_G, "point", "num", ("x", "p:pos", "num", "x of point p (a region: of its centre)", "an empty region gives 0")),
    Op.Y: _spec(_G, "point", "num", ("y", "p:pos", "num", "y of point p (a region: of its centre)", "an empty region gives 0")),
    # geometry
    Op.DISTANCE: _spec(_G, "point point", "num", ("distance", "a:pos b:pos", "num", "Euclidean distance between a and b in pixels "
                                                  "(a region: its centre)", "an empty region stands for (0, 0): guard it with exists"),
                       saturated=True),
    Op.MANHATTAN: _spec(_G, "point point", "num", ("manhattan", "a:pos b:pos", "num", "|dx| + |dy| between a and b in pixels "
                                                   "(a region: its centre)", "an empty region stands for (0, 0): guard it with exists"),
                        saturated=True),
    Op.LEFT_OF: _spec(_G, "point point", "bool", ("left_of", "a:pos b:pos", "bool", "x of a < x of b (a region: its centre)", "an empty region gives false")),
    Op.RIGHT_OF: _spec(_G, "point point", "bool", ("right_of", "a:pos b:pos", "bool", "x of a > x of b (a region: its centre)", "an empty region gives false")),
    Op.ABOVE: _spec(_G, "point point", "bool", ("above", "a:pos b:pos", "bool", "y of a < y of b: a is higher in the frame "
                                                "(a region: its centre)", "an empty region gives false")),
    Op.BELOW: _spec(_G, "point point", "bool", ("below", "a:pos b:pos", "bool", "y of a > y of b: a is lower in the frame "
                                                "(a region: its centre)", "an empty region gives false")),
    Op.NEAR: _spec(_G, "point point num", "bool", ("near", "a:pos b:pos d:num", "bool", "distance(a, b) <= d", "an empty region gives false")),
    Op.INSIDE: _spec(_G, "point box", "bool", ("inside", "p:pos b:rect", "bool", "point p (a region: its centre) lies in box b "
                                               "(a region: its bounding box), edges included", "an empty region gives false")),
    Op.CONTAINS: _spec(_G, "box box", "bool", ("contains", "a:rect b:rect", "bool", "box a holds all of box b, edges included "
                                               "(a region: its bounding box)", "an empty region gives false")),
    Op.OVERLAPS: _spec(_G, "box box", "bool", ("overlaps", "a:rect b:rect", "bool", "boxes a and b share at least one pixel "
                                               "(a region: its bounding box)", "an empty region gives false")),
    # frame and grid
    Op.FRAME_WIDTH: _spec(_F, "", "num", ("frame_width", "", "num", "frame width in pixels"), reads="shape"),
    Op.FRAME_HEIGHT: _spec(_F, "", "num", ("frame_height", "", "num", "frame height in pixels"), reads="shape"),
    Op.TILE: _spec(_F, "", "num", ("tile", "", "num", "grid tile size in pixels (observe ... tile N, or set per env)"), reads="tile"),
    Op.CELL: _spec(_F, "point", "point", ("cell", "p:pos", "point", "grid cell (column, row) = (floor(x / tile), floor(y / tile)) "
                                          "of point p (a region: its centre)", "an empty region gives (0, 0)"), reads="tile",
                   division="position / tile, floored; 0 when the tile is 0"),
    Op.CELLS: _spec(_F, "num", "num", ("cells", "d:num", "num", "a pixel length d in tiles: d / tile"), reads="tile",
                    division="length / tile; 0 when the tile is 0"),
    Op.SAME_CELL: _spec(_F, "point point", "bool", ("same_cell", "a:pos b:pos", "bool", "cell(a) == cell(b) (a region: its centre)",
                                                    "an empty region gives false"), reads="tile", division="positions / tile, floored; 0 when the tile is 0"),
    # arithmetic (the operators have no built-in function)
    Op.NEG: _spec(_A, "num", "num"),
    Op.ADD: _spec(_A, "num num", "num", saturated=True),
    Op.SUB: _spec(_A, "num num", "num", saturated=True),
    Op.MUL: _spec(_A, "num num", "num", saturated=True),
    Op.DIV: _spec(_A, "num num", "num", saturated=True),
    Op.ABS: _spec(_A, "num", "num", ("abs", "x:num", "num", "absolute value")),
    Op.MIN: _spec(_A, "num num", "num", ("min", "a:num b:num", "num", "the smaller of a and b")),
    Op.MAX: _spec(_A, "num num", "num", ("max", "a:num b:num", "num", "the larger of a and b")),
    Op.CLAMP: _spec(_A, "num num num", "num", ("clamp", "x:num lo:num hi:num", "num", "min(max(x, lo), hi): x limited to [lo, hi]")),
    Op.SQRT: _spec(_A, "num", "num", ("sqrt", "x:num", "num", "square root (0 for a negative)")),
    Op.FLOOR: _spec(_A, "num", "num", ("floor", "x:num", "num", "the largest whole number <= x")),
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
    Op.START: _spec(Group.MEMORY, "", None, ("start", "e:any", "any", "the value of expression e on the episode's first frame (after reset), "
                                             "kept all episode", "a region empty on the first frame stays empty all episode"),
                    reads="memory"),
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
