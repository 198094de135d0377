"""The reference interpreter: evaluates a checked program on frames with numpy, no numba.

It is the oracle for the compiled kernel (equal bit for bit) and the `--no-jit` path. Perception
is vectorised numpy (colour masks, row runs) with union-find over runs for connected components (no
scipy); everything after it is scalar float64 arithmetic in the order the IR gives, exactly as
generated code does it. Each op's semantics is one entry of `SEMANTICS`, keyed by `Op`.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from carc import ir
from carc.core.args import new_state_args
from carc.core.limits import LIMITS
from carc.ir.layout import DONE, MAX_SIDE, PREVIOUS_POTENTIAL, PROGRESS, TILE, StateLayout
from carc.ir.ops import Op

MAX_TILE = int(LIMITS["max_tile"].cap)
MAX_OBJECTS = int(LIMITS["max_objects"].cap)
EMPTY_REGION: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0)

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


def row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal horizontal runs of set pixels in raster order: row, first and last column (inclusive).

    >>> [r.tolist() for r in row_runs(np.array([[1, 1, 0, 1], [0, 1, 0, 0]], bool))]
    [[0, 0, 1], [0, 3, 1], [1, 3, 1]]
    """
    height, width = mask.shape
    padded = np.zeros((height, width + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, stops = np.nonzero(edges == -1)
    return rows, starts, stops - 1


def components(mask: np.ndarray) -> list[tuple[float, ...]]:
    """Every 8-connected component of a mask as a region, in raster order of its first pixel.

    Runs of one row join the runs of the row above that touch them, diagonals included (union-find,
    the earlier run is the root): the same procedure as the compiled kernel's ``_objects``.

    >>> [c[0] for c in components(np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]], bool))]
    [3.0, 2.0]
    """
    rows, starts, stops = (a.tolist() for a in row_runs(mask))
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    above = 0  # the first run that may touch the current run from the row above
    for r, (y, a, b) in enumerate(zip(rows, starts, stops)):
        while rows[above] < y - 1 or (rows[above] == y - 1 and stops[above] + 1 < a):
            above += 1
        j = above
        while j < r and rows[j] == y - 1 and starts[j] <= b + 1:
            p, q = root(r), root(j)
            parent[max(p, q)] = min(p, q)
            j += 1
    stats: dict[int, list[int]] = {}
    for r, (y, a, b) in enumerate(zip(rows, starts, stops)):
        s = stats.setdefault(root(r), [0, 0, 0, a, y, b, y])
        length = b - a + 1
        s[0] += length
        s[1] += (a + b) * length // 2
        s[2] += y * length
        s[3], s[5], s[6] = min(s[3], a), max(s[5], b), y
    return [tuple(float(v) for v in stats[k]) for k in sorted(stats)]


def objects_of(mask: np.ndarray) -> list[tuple[float, ...]]:
    """8-connected components in raster order of their first pixel; the first MAX_OBJECTS kept."""
    return components(mask)[:MAX_OBJECTS]


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


Scalar = Callable[[list[Value], Any], Value]

# The value of each op from its arguments' values (and the state row, for the tile).
SCALAR: dict[Op, Scalar] = {
    Op.NEG: lambda a, s: -a[0],
    Op.ADD: lambda a, s: _sat(a[0] + a[1]),
    Op.SUB: lambda a, s: _sat(a[0] - a[1]),
    Op.MUL: lambda a, s: _sat(a[0] * a[1]),
    Op.DIV: lambda a, s: _sat(a[0] / a[1]) if a[1] != 0.0 else 0.0,
    Op.ABS: lambda a, s: abs(a[0]),
    Op.MIN: lambda a, s: min(a[0], a[1]),
    Op.MAX: lambda a, s: max(a[0], a[1]),
    Op.CLAMP: lambda a, s: min(max(a[0], a[1]), a[2]),
    Op.SQRT: lambda a, s: math.sqrt(a[0]) if a[0] > 0.0 else 0.0,
    Op.FLOOR: lambda a, s: float(math.floor(a[0])),
    Op.LT: lambda a, s: a[0] < a[1],
    Op.LE: lambda a, s: a[0] <= a[1],
    Op.GT: lambda a, s: a[0] > a[1],
    Op.GE: lambda a, s: a[0] >= a[1],
    Op.EQ: lambda a, s: a[0] == a[1],
    Op.NE: lambda a, s: a[0] != a[1],
    Op.NOT: lambda a, s: not a[0],
    Op.AND: lambda a, s: all(a),
    Op.OR: lambda a, s: any(a),
    Op.IF: lambda a, s: a[1] if a[0] else a[2],
    Op.EXISTS: lambda a, s: a[0][0] > 0.0,
    Op.AREA: lambda a, s: a[0][0],
    Op.CENTER: lambda a, s: (a[0][1] / a[0][0], a[0][2] / a[0][0]) if a[0][0] > 0.0 else (0.0, 0.0),
    Op.BBOX: lambda a, s: a[0][3:7],
    Op.FILL: lambda a, s: _measure("fill", a[0]),
    Op.WIDTH: lambda a, s: _width(a[0]),
    Op.HEIGHT: lambda a, s: _height(a[0]),
    Op.ASPECT: lambda a, s: _aspect(a[0]),
    Op.LEFT: lambda a, s: a[0][0],
    Op.TOP: lambda a, s: a[0][1],
    Op.RIGHT: lambda a, s: a[0][2],
    Op.BOTTOM: lambda a, s: a[0][3],
    Op.POINT: lambda a, s: (a[0], a[1]),
    Op.BOX: lambda a, s: (a[0], a[1], a[2], a[3]),
    Op.X: lambda a, s: a[0][0],
    Op.Y: lambda a, s: a[0][1],
    Op.DISTANCE: lambda a, s: _distance(a[0], a[1]),
    Op.MANHATTAN: lambda a, s: _sat(abs(a[0][0] - a[1][0]) + abs(a[0][1] - a[1][1])),
    Op.LEFT_OF: lambda a, s: a[0][0] < a[1][0],
    Op.RIGHT_OF: lambda a, s: a[0][0] > a[1][0],
    Op.ABOVE: lambda a, s: a[0][1] < a[1][1],
    Op.BELOW: lambda a, s: a[0][1] > a[1][1],
    Op.NEAR: lambda a, s: _distance(a[0], a[1]) <= a[2],
    Op.INSIDE: lambda a, s: a[1][0] <= a[0][0] <= a[1][2] and a[1][1] <= a[0][1] <= a[1][3],
    Op.CONTAINS: lambda a, s: a[0][0] <= a[1][0] and a[1][2] <= a[0][2] and a[0][1] <= a[1][1] and a[1][3] <= a[0][3],
    Op.OVERLAPS: lambda a, s: a[0][0] <= a[1][2] and a[1][0] <= a[0][2] and a[0][1] <= a[1][3] and a[1][1] <= a[0][3],
    Op.TILE: lambda a, s: _tile(s),
    Op.CELL: lambda a, s: _cell(a[0], _tile(s)),
    Op.CELLS: lambda a, s: _per_tile(a[0], _tile(s)),
    Op.SAME_CELL: lambda a, s: _cell(a[0], _tile(s)) == _cell(a[1], _tile(s)),
}


def _aspect(box: tuple[float, ...]) -> float:
    height = _height(box)
    return _sat(_width(box) / height) if height > 0.0 else 0.0


def _cell(p: tuple[float, float], tile: float) -> tuple[float, float]:
    return (float(math.floor(_per_tile(p[0], tile))), float(math.floor(_per_tile(p[1], tile))))


def scalar_op(op: Op, a: list[Value], state: Any) -> Value:
    """The value of a scalar op (every op but constants, perception, frame size and memory)."""
    return SCALAR[op](a, state)


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


@dataclass(frozen=True)
class _Frame:
    """What an op that reads more than its arguments sees: the node, its argument values, the frame,
    the state row, the frame's perception and where the latches start in the state."""

    node: ir.Node
    args: list[Value]
    frame: np.ndarray
    state: np.ndarray
    perception: _Perception
    latch_base: int


def _start(f: _Frame) -> Value:
    offset = f.latch_base + int(f.node.const[0])
    return _from_slots(f.node.type, f.state[offset : offset + ir.WIDTH[f.node.type]])


# The value of each op that reads the frame, the state or its own payload.
_CONTEXT: dict[Op, Callable[[_Frame], Value]] = {
    Op.CONST: lambda f: f.node.const[0],
    Op.PIXELS: lambda f: f.perception.pixels(int(f.node.const[0])),
    Op.LARGEST: lambda f: _pick(f.perception.select(f.node, f.args), largest=True),
    Op.SMALLEST: lambda f: _pick(f.perception.select(f.node, f.args), largest=False),
    Op.COUNT: lambda f: float(len(f.perception.select(f.node, f.args))),
    Op.FRAME_WIDTH: lambda f: float(f.frame.shape[1]),
    Op.FRAME_HEIGHT: lambda f: float(f.frame.shape[0]),
    Op.START: _start,
}
SEMANTICS: dict[Op, object] = {**SCALAR, **_CONTEXT}
"""Every IR op's semantics (tests/test_ops.py checks that the keys are exactly IR_OPS)."""


def selected_objects(program: ir.Program, frame: np.ndarray, node: ir.Node, bounds: list[float]) -> list[tuple[float, ...]]:
    """The objects an object query node (largest, smallest, count) chooses among on this frame,
    its filters' bounds evaluated: what `carc explain` draws for an `objects` let."""
    return _Perception(program, frame).select(node, bounds)


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

    def new_state(self, n: int = 1, tile: float | None = None) -> np.ndarray:
        n, tile = new_state_args(n, tile)
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
            special = _CONTEXT.get(node.op)
            if special is None:
                values[i] = SCALAR[node.op](a, state)
            else:
                values[i] = special(_Frame(node, a, frame, state, perception, base))
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
