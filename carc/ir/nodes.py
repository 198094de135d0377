"""The checked program: a typed, hash-consed graph of operations with every helper inlined.

The checker builds it; the interpreter, the code generator and the auditor read it. Nodes are in
topological order (arguments before users), so one forward walk evaluates a frame.

Value types and their scalar components, shared by the interpreter and generated code:

====== ===================================================== ==========================
type   components (float64 unless said)                      empty / default
====== ===================================================== ==========================
num    value                                                 --
bool   value (Python/numba bool)                             --
point  x, y                                                  --
box    x0, y0, x1, y1 (inclusive pixel bounds)               0, 0, -1, -1
region area, sum_x, sum_y, x0, y0, x1, y1                    0, 0, 0, 0, 0, -1, -1
====== ===================================================== ==========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from carc.ir.ops import OBJECT_QUERIES, Op

ValueType = Literal["num", "bool", "point", "box", "region"]

WIDTH: dict[str, int] = {"num": 1, "bool": 1, "point": 2, "box": 4, "region": 7}

# Saturation bound: every arithmetic result is clamped to [-BIG, BIG], so no value is ever
# infinite or NaN (division by zero gives 0; sqrt of a negative gives 0).
BIG = 1e15


@dataclass(frozen=True)
class Node:
    """One operation. `args` index earlier nodes; `const` holds literal payload (numbers, ids)."""

    op: Op
    type: ValueType
    args: tuple[int, ...] = ()
    const: tuple[float | int | str, ...] = ()


@dataclass(frozen=True)
class Color:
    """A palette colour: a pixel matches when max(|p - shade|) <= tolerance for any shade."""

    name: str
    shades: tuple[tuple[int, int, int], ...]
    tolerance: int


@dataclass(frozen=True)
class Subtask:
    index: int
    name: str
    description: str
    bonus: float
    predicate: int


@dataclass(frozen=True)
class Stage:
    """One step of the sequence: a single sub-task, or an unordered group of them."""

    name: str
    description: str
    subtasks: tuple[Subtask, ...]
    unordered: bool


@dataclass(frozen=True)
class Latch:
    """A value taken from the episode's first frame: node `source` at reset, kept in state."""

    source: int
    type: ValueType
    offset: int


@dataclass(frozen=True)
class Shaping:
    gamma: float
    potential: int


@dataclass(frozen=True)
class Program:
    name: str
    description: str
    observe: str
    tile: int
    colors: tuple[Color, ...]
    nodes: tuple[Node, ...]
    latches: tuple[Latch, ...]
    stages: tuple[Stage, ...]
    shaping: Shaping | None
    bounds: tuple[float, float]
    bounds_declared: bool

    @property
    def subtasks(self) -> tuple[Subtask, ...]:
        return tuple(s for stage in self.stages for s in stage.subtasks)

    @property
    def pixel_colors(self) -> tuple[int, ...]:
        """Colours whose whole-frame pixel statistics some node reads."""
        return tuple(sorted({int(n.const[0]) for n in self.nodes if n.op == Op.PIXELS}))

    @property
    def object_colors(self) -> tuple[int, ...]:
        """Colours split into connected objects."""
        return tuple(sorted({int(n.const[0]) for n in self.nodes if n.op in OBJECT_QUERIES}))

    @property
    def latch_width(self) -> int:
        return sum(WIDTH[latch.type] for latch in self.latches)



def reachable(program: Program, roots: list[int] | set[int], through_latches: bool = False) -> set[int]:
    """Nodes the roots read, directly or not (iteratively); optionally through `start` to the
    latched source nodes, which are evaluated on the first frame."""
    latch_source = {latch.offset: latch.source for latch in program.latches}
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        node = program.nodes[i]
        stack.extend(node.args)
        if through_latches and node.op == Op.START:
            stack.append(latch_source[int(node.const[0])])
    return seen


def canonical_order(program: Program, roots: list[int]) -> list[int]:
    """The nodes the roots read (through latches), arguments before their users, in the order a
    depth-first walk from the roots first finishes them: the same program gives the same order
    however many unused helpers or constants the checker made on the way.

    >>> from carc.ir.ops import Op
    >>> nodes = (Node(Op.CONST, "num", (), (2.0,)), Node(Op.CONST, "num", (), (1.0,)), Node(Op.LT, "bool", (1, 0), ()))
    >>> p = Program("p", "", "rgb", 8, (), nodes, (), (), None, (0.0, 1.0), False)
    >>> canonical_order(p, [2])
    [1, 0, 2]
    """
    latch_source = {latch.offset: latch.source for latch in program.latches}
    order: list[int] = []
    done: set[int] = set()
    for root in roots:
        stack: list[tuple[int, bool]] = [(root, False)]
        while stack:
            i, expanded = stack.pop()
            if i in done:
                continue
            if expanded:
                done.add(i)
                order.append(i)
                continue
            stack.append((i, True))
            node = program.nodes[i]
            reads = list(node.args)
            if node.op == Op.START:
                reads.append(latch_source[int(node.const[0])])
            stack.extend((j, False) for j in reversed(reads) if j not in done)
    return order

