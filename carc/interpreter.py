"""The reference interpreter: evaluates a checked program on frames with numpy, no numba.

It is the oracle for the compiled kernel (equal bit for bit) and the `--no-jit` path. Perception
is vectorised numpy (colour masks, scipy's connected components); everything after it is scalar
float64 arithmetic in the order the IR gives, exactly as generated code does it.

>>> from carc.lang.checker import check_text
>>> prog = check_text('program p "d" observe rgb color red = rgb(255, 0, 0) tol 10 '
...                   'subtask s "red seen" bonus 1 : exists(pixels(red))')
>>> interp = Interpreter(prog)
>>> state = interp.new_state(1)
>>> frame = np.zeros((4, 4, 3), np.uint8); interp.reset(frame, state[0])
>>> frame[1, 2] = (250, 0, 0); interp.step(frame, state[0])
(1.0, 0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage

from carc import ir
from carc.core.limits import LIMITS
from carc.ir.layout import DONE, MAX_SIDE, PREVIOUS_POTENTIAL, PROGRESS, TILE, StateLayout

MAX_TILE = int(LIMITS["max_tile"].cap)
MAX_OBJECTS = int(LIMITS["max_objects"].cap)
EMPTY_REGION = (0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0)
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)

Value = Any  # float, bool, or a tuple of floats


def check_frame(frame: np.ndarray) -> None:
    """Refuse anything but an (H, W, 3) uint8 array with sides at most MAX_SIDE."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"a frame is an (H, W, 3) uint8 array, got {getattr(frame, 'dtype', type(frame))} {getattr(frame, 'shape', '')}")
    if max(frame.shape[:2]) > MAX_SIDE:
        raise ValueError(f"frame {frame.shape[:2]} is larger than {MAX_SIDE} pixels on a side")


def color_mask(frame: np.ndarray, color: ir.Color) -> np.ndarray:
    """Pixels within `tolerance` (max over channels) of any shade of the colour."""
    pixels = frame.astype(np.int16)
    mask = np.zeros(frame.shape[:2], dtype=bool)
    for shade in color.shades:
        distance = np.abs(pixels - np.array(shade, dtype=np.int16)).max(axis=2)
        mask |= distance <= color.tolerance
    return mask


def region_of(ys: np.ndarray, xs: np.ndarray) -> tuple[float, ...]:
    if len(xs) == 0:
        return EMPTY_REGION
    return (float(len(xs)), float(xs.sum()), float(ys.sum()), float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))


def objects_of(mask: np.ndarray) -> list[tuple[float, ...]]:
    """8-connected components in raster order of their first pixel; the first MAX_OBJECTS kept."""
    if mask.size == 0:
        return []
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    kept = min(count, MAX_OBJECTS)
    ys, xs = np.nonzero((labels > 0) & (labels <= kept))
    which = labels[ys, xs]
    return [region_of(ys[which == k], xs[which == k]) for k in range(1, kept + 1)]


def _sat(x: float) -> float:
    return min(max(x, -ir.BIG), ir.BIG)


def _extent(low: float, high: float) -> float:
    extent = high - low + 1.0
    return _sat(extent) if extent > 0.0 else 0.0


def _width(box: tuple[float, ...]) -> float:
    return _extent(box[0], box[2])


def _height(box: tuple[float, ...]) -> float:
    return _extent(box[1], box[3])


def _measure(kind: str, region: tuple[float, ...]) -> float:
    box = region[3:7]
    if kind == "area":
        return region[0]
    if kind == "fill":
        cover = _width(box) * _height(box)
        return _sat(region[0] / cover) if cover > 0.0 else 0.0
    height = _height(box)
    return _sat(_width(box) / height) if height > 0.0 else 0.0


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx, dy = a[0] - b[0], a[1] - b[1]
    return _sat(math.sqrt(dx * dx + dy * dy))


def _tile(state: np.ndarray) -> float:
    return float(state[TILE])


def _per_tile(value: float, tile: float) -> float:
    return value / tile if tile > 0.0 else 0.0


def _scalar_op(op: str, a: list[Value], state: np.ndarray) -> Value:
    match op:
        case "neg":
            return -a[0]
        case "add":
            return _sat(a[0] + a[1])
        case "sub":
            return _sat(a[0] - a[1])
        case "mul":
            return _sat(a[0] * a[1])
        case "div":
            return _sat(a[0] / a[1]) if a[1] != 0.0 else 0.0
        case "abs":
            return abs(a[0])
        case "min":
            return min(a[0], a[1])
        case "max":
            return max(a[0], a[1])
        case "clamp":
            return min(max(a[0], a[1]), a[2])
        case "sqrt":
            return math.sqrt(a[0]) if a[0] > 0.0 else 0.0
        case "floor":
            return float(math.floor(a[0]))
        case "lt":
            return a[0] < a[1]
        case "le":
            return a[0] <= a[1]
        case "gt":
            return a[0] > a[1]
        case "ge":
            return a[0] >= a[1]
        case "eq":
            return a[0] == a[1]
        case "ne":
            return a[0] != a[1]
        case "not":
            return not a[0]
        case "and":
            return all(a)
        case "or":
            return any(a)
        case "if":
            return a[1] if a[0] else a[2]
        case "exists":
            return a[0][0] > 0.0
        case "area":
            return a[0][0]
        case "center":
            area = a[0][0]
            return (a[0][1] / area, a[0][2] / area) if area > 0.0 else (0.0, 0.0)
        case "bbox":
            return a[0][3:7]
        case "fill":
            return _measure("fill", a[0])
        case "width":
            return _width(a[0])
        case "height":
            return _height(a[0])
        case "aspect":
            height = _height(a[0])
            return _sat(_width(a[0]) / height) if height > 0.0 else 0.0
        case "point":
            return (a[0], a[1])
        case "box":
            return (a[0], a[1], a[2], a[3])
        case "x":
            return a[0][0]
        case "y":
            return a[0][1]
        case "distance":
            return _distance(a[0], a[1])
        case "manhattan":
            return _sat(abs(a[0][0] - a[1][0]) + abs(a[0][1] - a[1][1]))
        case "left_of":
            return a[0][0] < a[1][0]
        case "right_of":
            return a[0][0] > a[1][0]
        case "above":
            return a[0][1] < a[1][1]
        case "below":
            return a[0][1] > a[1][1]
        case "near":
            return _distance(a[0], a[1]) <= a[2]
        case "inside":
            p, box = a
            return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]
        case "contains":
            outer, inner = a
            return outer[0] <= inner[0] and inner[2] <= outer[2] and outer[1] <= inner[1] and inner[3] <= outer[3]
        case "overlaps":
            p, q = a
            return p[0] <= q[2] and q[0] <= p[2] and p[1] <= q[3] and q[1] <= p[3]
        case "tile":
            return _tile(state)
        case "cell":
            t = _tile(state)
            return (float(math.floor(_per_tile(a[0][0], t))), float(math.floor(_per_tile(a[0][1], t))))
        case "cells":
            return _per_tile(a[0], _tile(state))
        case "same_cell":
            t = _tile(state)
            return all(math.floor(_per_tile(a[0][k], t)) == math.floor(_per_tile(a[1][k], t)) for k in (0, 1))
    raise AssertionError(f"no semantics for op {op!r}")


class _Perception:
    """Per-frame colour statistics, computed on first use."""

    def __init__(self, program: ir.Program, frame: np.ndarray) -> None:
        self.program, self.frame = program, frame
        self.masks: dict[int, np.ndarray] = {}
        self.objects: dict[int, list[tuple[float, ...]]] = {}

    def mask(self, color: int) -> np.ndarray:
        if color not in self.masks:
            self.masks[color] = color_mask(self.frame, self.program.colors[color])
        return self.masks[color]

    def pixels(self, color: int) -> tuple[float, ...]:
        ys, xs = np.nonzero(self.mask(color))
        return region_of(ys, xs)

    def select(self, node: ir.Node, bounds: list[float]) -> list[tuple[float, ...]]:
        color = int(node.const[0])
        if color not in self.objects:
            self.objects[color] = objects_of(self.mask(color))
        kept = self.objects[color]
        for k, kind in enumerate(node.const[1:]):
            lo, hi = bounds[2 * k], bounds[2 * k + 1]
            kept = [r for r in kept if lo <= _measure(str(kind), r) <= hi]
        return kept


def _pick(objects: list[tuple[float, ...]], largest: bool) -> tuple[float, ...]:
    best = EMPTY_REGION
    for region in objects:
        if best[0] == 0.0 or (region[0] > best[0] if largest else region[0] < best[0]):
            best = region
    return best


class Interpreter:
    """Evaluates a checked program: `new_state`, `reset`, `step`, the same API as a kernel."""

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self.layout = StateLayout.of(program)

    def new_state(self, n: int = 1, tile: int | None = None) -> np.ndarray:
        if tile is not None and not 1 <= tile <= MAX_TILE:
            raise ValueError(f"tile must be a size from 1 to {MAX_TILE} pixels, not {tile!r}")
        state = np.zeros((n, self.layout.size), dtype=np.float64)
        state[:, TILE] = self.program.tile if tile is None else tile
        return state

    def evaluate(self, frame: np.ndarray, state: np.ndarray, wanted: set[int] | None = None) -> list[Value]:
        """Values of every node (or only those `wanted` need) on one frame."""
        check_frame(frame)
        program = self.program
        needed = _needed(program, wanted)
        perception = _Perception(program, frame)
        values: list[Value] = [None] * len(program.nodes)
        base = self.layout.latch_base
        for i, node in enumerate(program.nodes):
            if i not in needed:
                continue
            a = [values[j] for j in node.args]
            match node.op:
                case "const":
                    values[i] = node.const[0]
                case "pixels":
                    values[i] = perception.pixels(int(node.const[0]))
                case "largest" | "smallest":
                    values[i] = _pick(perception.select(node, a), node.op == "largest")
                case "count":
                    values[i] = float(len(perception.select(node, a)))
                case "frame_width":
                    values[i] = float(frame.shape[1])
                case "frame_height":
                    values[i] = float(frame.shape[0])
                case "start":
                    offset = base + int(node.const[0])
                    width = ir.WIDTH[node.type]
                    stored = state[offset : offset + width]
                    values[i] = _from_slots(node.type, stored)
                case _:
                    values[i] = _scalar_op(node.op, a, state)
        return values

    def reset(self, frame: np.ndarray, state: np.ndarray) -> None:
        check_frame(frame)
        program = self.program
        state[PROGRESS] = 0.0
        state[DONE : DONE + self.layout.subtasks] = 0.0
        if program.latches:
            values = self.evaluate(frame, state, {latch.source for latch in program.latches})
            base = self.layout.latch_base
            for latch in program.latches:
                slots = _to_slots(latch.type, values[latch.source])
                state[base + latch.offset : base + latch.offset + len(slots)] = slots
        state[PREVIOUS_POTENTIAL] = 0.0
        if program.shaping is not None:
            state[PREVIOUS_POTENTIAL] = self.evaluate(frame, state, {program.shaping.potential})[program.shaping.potential]

    def step(self, frame: np.ndarray, state: np.ndarray) -> tuple[float, int]:
        """Reward for arriving at `frame`, and the last sub-task completed (-1 if none)."""
        program = self.program
        values = self.evaluate(frame, state)
        reward, event = 0.0, -1
        stage = int(state[PROGRESS])
        while stage < len(program.stages):
            complete = True
            for subtask in program.stages[stage].subtasks:
                if state[DONE + subtask.index] == 0.0:
                    if values[subtask.predicate]:
                        state[DONE + subtask.index] = 1.0
                        reward += subtask.bonus
                        event = subtask.index
                    else:
                        complete = False
            if not complete:
                break
            stage += 1
        state[PROGRESS] = float(stage)
        if program.shaping is not None:
            potential = values[program.shaping.potential]
            reward += program.shaping.gamma * potential - state[PREVIOUS_POTENTIAL]
            state[PREVIOUS_POTENTIAL] = potential
        low, high = program.bounds
        return float(min(max(reward, low), high)), event


def _needed(program: ir.Program, wanted: set[int] | None) -> set[int]:
    return set(range(len(program.nodes))) if wanted is None else ir.reachable(program, wanted)


def _to_slots(type_: str, value: Value) -> list[float]:
    if type_ in ("num", "bool"):
        return [float(value)]
    return [float(v) for v in value]


def _from_slots(type_: str, slots: np.ndarray) -> Value:
    if type_ == "num":
        return float(slots[0])
    if type_ == "bool":
        return bool(slots[0] != 0.0)
    return tuple(float(v) for v in slots)
