"""Interval analysis over the IR: a sound range for every component of every value.

Frames are assumed at most MAX_SIDE pixels on a side (the kernel refuses larger ones). The reward
interval follows from the bonuses and the shaping potential's range: gamma*phi' - phi.

>>> from carc.lang.checker import check_text
>>> check_text('program p "d" observe rgb subtask s "s" bonus 0.5 : true').bounds
(0.0, 0.5)
"""

from __future__ import annotations

import math

from carc import ir
from carc.core.limits import LIMITS
from carc.ir.layout import MAX_SIDE

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


def node_intervals(program: ir.Program) -> list[list[Interval]]:
    """Per node, one interval per scalar component (booleans as [0, 1])."""
    out: list[list[Interval]] = []
    latch_of = {latch.offset: latch.source for latch in program.latches}
    for node in program.nodes:
        a = [out[i] for i in node.args]
        out.append(_node_interval(node, a, out, latch_of, program.nodes))
    return out


def _node_interval(
    node: ir.Node, a: list[list[Interval]], out: list[list[Interval]], latch_of: dict[int, int], nodes: tuple[ir.Node, ...]
) -> list[Interval]:
    side = float(MAX_SIDE - 1)
    match node.op:
        case "const":
            v = float(node.const[0])
            return [(v, v)]
        case "pixels" | "largest" | "smallest":
            return _region()
        case "count":
            return [(0.0, float(MAX_SIDE * MAX_SIDE))]
        case "start":
            return out[latch_of[int(node.const[0])]]
        case "area":
            return [a[0][0]]
        case "center":
            return [(0.0, side), (0.0, side)]
        case "bbox":
            return a[0][3:7]
        case "fill":
            # A region's fill is at most 1; so is any area over its own bounding box.
            return [(0.0, 1.0)]
        case "width":
            return [_extent(a[0][0], a[0][2])]
        case "height":
            return [_extent(a[0][1], a[0][3])]
        case "aspect":
            return [_aspect(a[0], integral=nodes[node.args[0]].op == "bbox")]
        case "point":
            return [a[0][0], a[1][0]]
        case "box":
            return [a[0][0], a[1][0], a[2][0], a[3][0]]
        case "x":
            return [a[0][0]]
        case "y":
            return [a[0][1]]
        case "distance":
            dx, dy = _span(a[0][0], a[1][0]), _span(a[0][1], a[1][1])
            return [_clip(0.0, math.sqrt(dx * dx + dy * dy))]
        case "manhattan":
            return [_clip(0.0, _span(a[0][0], a[1][0]) + _span(a[0][1], a[1][1]))]
        case "frame_width" | "frame_height":
            return [(0.0, float(MAX_SIDE))]
        case "tile":
            return [(1.0, float(MAX_TILE))]
        case "cell":
            return [(math.floor(min(lo, 0.0)), math.floor(max(hi, 0.0))) for lo, hi in a[0]]
        case "cells":
            lo, hi = a[0][0]
            return [(min(lo, 0.0), max(hi, 0.0))]
        case "neg":
            lo, hi = a[0][0]
            return [(-hi, -lo)]
        case "add":
            return [_clip(a[0][0][0] + a[1][0][0], a[0][0][1] + a[1][0][1])]
        case "sub":
            return [_clip(a[0][0][0] - a[1][0][1], a[0][0][1] - a[1][0][0])]
        case "mul":
            return [_products(a[0][0], a[1][0])]
        case "div":
            return [_divide(a[0][0], a[1][0])]
        case "abs":
            lo, hi = a[0][0]
            return [(0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))]
        case "min":
            return [(min(a[0][0][0], a[1][0][0]), min(a[0][0][1], a[1][0][1]))]
        case "max":
            return [(max(a[0][0][0], a[1][0][0]), max(a[0][0][1], a[1][0][1]))]
        case "clamp":
            (xl, xh), (ll, lh), (hl, hh) = a[0][0], a[1][0], a[2][0]
            lo, hi = max(xl, ll), max(xh, lh)
            return [(min(lo, hl), min(hi, hh))]
        case "sqrt":
            lo, hi = a[0][0]
            return [(math.sqrt(max(lo, 0.0)), math.sqrt(max(hi, 0.0)))]
        case "floor":
            lo, hi = a[0][0]
            return [(float(math.floor(lo)), float(math.floor(hi)))]
        case "if":
            return [(min(t[0], e[0]), max(t[1], e[1])) for t, e in zip(a[1], a[2])]
    return [(0.0, 1.0)]  # booleans


def reward_interval(program: ir.Program) -> tuple[float, float]:
    """Sound bounds on one step's reward, before any declared clamp."""
    bonuses = [s.bonus for s in program.subtasks]
    lo = sum(b for b in bonuses if b < 0.0)
    hi = sum(b for b in bonuses if b > 0.0)
    if program.shaping is not None:
        plo, phi = node_intervals(program)[program.shaping.potential][0]
        gamma = program.shaping.gamma
        lo += gamma * plo - phi
        hi += gamma * phi - plo
    return _clip(lo, hi)
