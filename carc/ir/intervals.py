"""Interval analysis over the IR: a sound range for every component of every value.

Frames are assumed at most MAX_SIDE pixels on a side (the kernel refuses larger ones). The reward
interval follows from the bonuses and the shaping potential's range: gamma*phi' - phi.

>>> from carc.lang.checker import check_text
>>> check_text('program p "d" observe rgb subtask s "s" bonus 0.5 : true').bounds
(0.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from carc import ir
from carc.core.limits import LIMITS
from carc.ir.layout import MAX_SIDE
from carc.ir.ops import Op

MAX_TILE = int(LIMITS["max_tile"].cap)

Interval = tuple[float, float]


def _clip(lo: float, hi: float) -> Interval:
    return (max(-ir.BIG, min(ir.BIG, lo)), max(-ir.BIG, min(ir.BIG, hi)))


def _region() -> list[Interval]:
    pixels = float(MAX_SIDE * MAX_SIDE)
    side = float(MAX_SIDE - 1)
    return [(0.0, pixels), (0.0, pixels * side), (0.0, pixels * side), (0.0, side), (0.0, side), (-1.0, side), (-1.0, side)]


def _products(a: Interval, b: Interval) -> Interval:
    values = [x * y for x in a for y in b]
    return _clip(min(values), max(values))


def _divide(a: Interval, b: Interval) -> Interval:
    if b[0] <= 0.0 <= b[1]:
        # A divisor near zero can make any magnitude; exactly zero gives 0.
        return (-ir.BIG, ir.BIG) if b[0] < 0.0 or b[1] > 0.0 or a != (0.0, 0.0) else (0.0, 0.0)
    return _products(a, (1.0 / b[1], 1.0 / b[0]))


def _extent(low: Interval, high: Interval) -> Interval:
    """hi - lo + 1, at least 0: the width of a box whose corners lie in these intervals."""
    return _clip(max(0.0, high[0] - low[1] + 1.0), max(0.0, high[1] - low[0] + 1.0))


def _aspect(box: list[Interval], integral: bool) -> Interval:
    """width / height (0 for an empty box). A bounding box has whole-pixel sides: height >= 1."""
    width, height = _extent(box[0], box[2]), _extent(box[1], box[3])
    smallest = max(height[0], 1.0) if integral else height[0]
    if smallest <= 0.0:
        return (0.0, ir.BIG)
    return _clip(0.0, width[1] / smallest)


def _span(a: Interval, b: Interval) -> float:
    return max(abs(a[1] - b[0]), abs(b[1] - a[0]))


@dataclass(frozen=True)
class _Node:
    """What a transfer function sees: the node, its arguments' intervals, the intervals so far and
    the program (for latches and argument ops)."""

    node: ir.Node
    a: list[list[Interval]]
    out: list[list[Interval]]
    program: ir.Program


def _side() -> float:
    return float(MAX_SIDE - 1)


def _start(n: _Node) -> list[Interval]:
    latch_of = {latch.offset: latch.source for latch in n.program.latches}
    return n.out[latch_of[int(n.node.const[0])]]


def _clamp(n: _Node) -> list[Interval]:
    (xl, xh), (ll, lh), (hl, hh) = n.a[0][0], n.a[1][0], n.a[2][0]
    lo, hi = max(xl, ll), max(xh, lh)
    return [(min(lo, hl), min(hi, hh))]


def _abs(x: Interval) -> Interval:
    lo, hi = x
    return (0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))


def _distance(p: list[Interval], q: list[Interval]) -> Interval:
    dx, dy = _span(p[0], q[0]), _span(p[1], q[1])
    return _clip(0.0, math.sqrt(dx * dx + dy * dy))


def _boolean(n: _Node) -> list[Interval]:
    return [(0.0, 1.0)]


Transfer = Callable[[_Node], list[Interval]]


def _edge(k: int) -> Transfer:
    """left, top, right, bottom: component k of the box, exactly its interval."""
    return lambda n: [n.a[0][k]]


# The interval of each op's value from its arguments' intervals.
TRANSFER: dict[Op, Transfer] = {
    Op.CONST: lambda n: [(float(n.node.const[0]), float(n.node.const[0]))],
    Op.PIXELS: lambda n: _region(),
    Op.LARGEST: lambda n: _region(),
    Op.SMALLEST: lambda n: _region(),
    Op.COUNT: lambda n: [(0.0, float(MAX_SIDE * MAX_SIDE))],
    Op.START: _start,
    Op.AREA: lambda n: [n.a[0][0]],
    Op.CENTER: lambda n: [(0.0, _side()), (0.0, _side())],
    Op.BBOX: lambda n: n.a[0][3:7],
    # A region's fill is at most 1; so is any area over its own bounding box.
    Op.FILL: lambda n: [(0.0, 1.0)],
    Op.WIDTH: lambda n: [_extent(n.a[0][0], n.a[0][2])],
    Op.HEIGHT: lambda n: [_extent(n.a[0][1], n.a[0][3])],
    Op.ASPECT: lambda n: [_aspect(n.a[0], integral=n.program.nodes[n.node.args[0]].op == Op.BBOX)],
    **{op: _edge(k) for k, op in enumerate((Op.LEFT, Op.TOP, Op.RIGHT, Op.BOTTOM))},
    Op.POINT: lambda n: [n.a[0][0], n.a[1][0]],
    Op.BOX: lambda n: [n.a[0][0], n.a[1][0], n.a[2][0], n.a[3][0]],
    Op.X: lambda n: [n.a[0][0]],
    Op.Y: lambda n: [n.a[0][1]],
    Op.DISTANCE: lambda n: [_distance(n.a[0], n.a[1])],
    Op.MANHATTAN: lambda n: [_clip(0.0, _span(n.a[0][0], n.a[1][0]) + _span(n.a[0][1], n.a[1][1]))],
    Op.FRAME_WIDTH: lambda n: [(0.0, float(MAX_SIDE))],
    Op.FRAME_HEIGHT: lambda n: [(0.0, float(MAX_SIDE))],
    Op.TILE: lambda n: [(1.0, float(MAX_TILE))],
    Op.CELL: lambda n: [(math.floor(min(lo, 0.0)), math.floor(max(hi, 0.0))) for lo, hi in n.a[0]],
    Op.CELLS: lambda n: [(min(n.a[0][0][0], 0.0), max(n.a[0][0][1], 0.0))],
    Op.NEG: lambda n: [(-n.a[0][0][1], -n.a[0][0][0])],
    Op.ADD: lambda n: [_clip(n.a[0][0][0] + n.a[1][0][0], n.a[0][0][1] + n.a[1][0][1])],
    Op.SUB: lambda n: [_clip(n.a[0][0][0] - n.a[1][0][1], n.a[0][0][1] - n.a[1][0][0])],
    Op.MUL: lambda n: [_products(n.a[0][0], n.a[1][0])],
    Op.DIV: lambda n: [_divide(n.a[0][0], n.a[1][0])],
    Op.ABS: lambda n: [_abs(n.a[0][0])],
    Op.MIN: lambda n: [(min(n.a[0][0][0], n.a[1][0][0]), min(n.a[0][0][1], n.a[1][0][1]))],
    Op.MAX: lambda n: [(max(n.a[0][0][0], n.a[1][0][0]), max(n.a[0][0][1], n.a[1][0][1]))],
    Op.CLAMP: _clamp,
    Op.SQRT: lambda n: [(math.sqrt(max(n.a[0][0][0], 0.0)), math.sqrt(max(n.a[0][0][1], 0.0)))],
    Op.FLOOR: lambda n: [(float(math.floor(n.a[0][0][0])), float(math.floor(n.a[0][0][1])))],
    Op.IF: lambda n: [(min(t[0], e[0]), max(t[1], e[1])) for t, e in zip(n.a[1], n.a[2])],
    **{op: _boolean for op in (Op.EXISTS, Op.LEFT_OF, Op.RIGHT_OF, Op.ABOVE, Op.BELOW, Op.NEAR, Op.INSIDE, Op.CONTAINS,
                               Op.OVERLAPS, Op.SAME_CELL, Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE, Op.NOT, Op.AND, Op.OR)},
}


def node_intervals(program: ir.Program) -> list[list[Interval]]:
    """Per node, one interval per scalar component (booleans as [0, 1])."""
    out: list[list[Interval]] = []
    for node in program.nodes:
        out.append(TRANSFER[node.op](_Node(node, [out[i] for i in node.args], out, program)))
    return out


def magnitudes(program: ir.Program, intervals: list[list[Interval]] | None = None) -> list[float]:
    """Per node, a bound on the magnitude of every component of its value (from the intervals).

    >>> from carc.lang.checker import check_text
    >>> magnitudes(check_text('program p "d" observe rgb subtask s "s" bonus 1 : -3 < 2'))
    [3.0, 3.0, 2.0, 1.0]
    """
    intervals = node_intervals(program) if intervals is None else intervals
    return [max((max(abs(lo), abs(hi)) for lo, hi in node), default=0.0) for node in intervals]


def reward_interval(program: ir.Program) -> tuple[float, float]:
    """Sound bounds on one step's reward, before any declared clamp."""
    bonuses = [s.bonus for s in program.subtasks]
    lo = float(sum(b for b in bonuses if b < 0.0))
    hi = float(sum(b for b in bonuses if b > 0.0))
    if program.shaping is not None:
        plo, phi = node_intervals(program)[program.shaping.potential][0]
        gamma = program.shaping.gamma
        lo += gamma * plo - phi
        hi += gamma * phi - plo
    return _clip(lo, hi)
