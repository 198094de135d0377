"""The scalar emitter: every needed IR node as straight-line float64 code, in node order, with the
interpreter's operation order (saturation, defined division, empty-region defaults, ties).

`EMITTERS` holds one rule per op (tests/test_ops.py checks it covers every IR op); each takes the
node's context and returns its lines, mirroring carc.interpreter.SEMANTICS. The shared measures
(saturation, extents, fill, aspect, distance, cells) are written out in place by the small functions
below rather than called: a program's code then compiles as one function, with no helper to type,
compile and link per program (the code LLVM makes is the same: it inlined the helpers anyway).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from carc import ir
from carc.backend.emit import NJIT, Out, comment_name, components, literal
from carc.backend.perception import HEADER, MAX_OBJECTS, REGION, Plan
from carc.core.limits import MAX_SIDE
from carc.ir.layout import TILE, StateLayout
from carc.ir.ops import BINARY_OPERATORS, OBJECT_QUERIES, Op

EMPTY_REGION = ("0.0", "0.0", "0.0", "0.0", "0.0", "-1.0", "-1.0")
TILE_SLOT = f"state[{TILE}]"
SATURATION = repr(float(ir.BIG))


# ---- the shared measures: written out into a target variable, or (for big programs) called -------


@dataclass(frozen=True)
class Measures:
    """The code of the shared measures. Written out in place (``inline``), a program compiles as one
    function with nothing to type, compile and link besides; numba's cost grows faster than linearly
    with the branches of one function, though, so a big program calls them instead, as the small
    functions ``helpers()`` writes from these same lines."""

    inline: bool = True

    def sat(self, target: str, expr: str, bound: float = math.inf) -> list[str]:
        """``target = expr`` saturated to [-BIG, BIG] (the interpreter's ``_sat``). ``bound``: a proven
        bound on ``|expr|`` as the kernel computes it (rounding is monotone, so a bound computed with the
        same float operations on the operands' bounds holds); within [-BIG, BIG] the clamps are left out,
        as they cannot change the value.

        >>> Measures().sat("v3", "v1 * v2", 6.0)
        ['v3 = v1 * v2']
        >>> Measures(inline=False).sat("v3", "v1 * v2")
        ['v3 = _sat(v1 * v2)']
        """
        if bound <= ir.BIG:
            return [f"{target} = {expr}"]
        if not self.inline:
            return [f"{target} = _sat({expr})"]
        return [f"{target} = {expr}", f"{target} = -{SATURATION} if -{SATURATION} > {target} else {target}",
                f"{target} = {SATURATION} if {SATURATION} < {target} else {target}"]

    def extent(self, target: str, lo: str, hi: str, bound: float = math.inf) -> list[str]:
        """The pixel extent ``hi - lo + 1`` of a box side, 0 for an empty one (``bound``: on |lo| and |hi|)."""
        if not self.inline:
            return [f"{target} = _extent({lo}, {hi})"]
        return [*self.sat(target, f"{hi} - {lo} + 1.0", bound + bound + 1.0), f"{target} = {target} if {target} > 0.0 else 0.0"]

    def fill(self, target: str, area: str, x0: str, y0: str, x1: str, y1: str, bound: float = math.inf) -> list[str]:
        """Area over box area, 0 for an empty box (``bound``: on the box's coordinates)."""
        if not self.inline:
            return [f"{target} = _fill({area}, {x0}, {y0}, {x1}, {y1})"]
        return [*self.extent("w", x0, x1, bound), *self.extent("h", y0, y1, bound), "cover = w * h",
                *self.sat(target, f"{area} / cover if cover > 0.0 else 0.0")]

    def aspect(self, target: str, x0: str, y0: str, x1: str, y1: str, bound: float = math.inf) -> list[str]:
        """Width over height, 0 for an empty box (``bound``: on the box's coordinates)."""
        if not self.inline:
            return [f"{target} = _aspect({x0}, {y0}, {x1}, {y1})"]
        return [*self.extent("w", x0, x1, bound), *self.extent("h", y0, y1, bound), *self.sat(target, "w / h if h > 0.0 else 0.0")]

    def distance(self, target: str, p: list[str], q: list[str]) -> list[str]:
        """Euclidean distance of two points, saturated."""
        if not self.inline:
            return [f"{target} = _distance({p[0]}, {p[1]}, {q[0]}, {q[1]})"]
        return [f"dx = {p[0]} - {q[0]}", f"dy = {p[1]} - {q[1]}", *self.sat(target, "math.sqrt(dx * dx + dy * dy)")]


def helpers() -> str:
    """The measures as small functions (what ``Measures(inline=False)`` calls), from their inline lines."""
    m = Measures()
    bodies = {
        "_sat(x)": m.sat("r", "x"),
        "_extent(lo, hi)": m.extent("r", "lo", "hi"),
        "_fill(area, x0, y0, x1, y1)": m.fill("r", "area", "x0", "y0", "x1", "y1"),
        "_aspect(x0, y0, x1, y1)": m.aspect("r", "x0", "y0", "x1", "y1"),
        "_distance(ax, ay, bx, by)": m.distance("r", ["ax", "ay"], ["bx", "by"]),
    }
    return "\n\n".join(f"{NJIT}\ndef {head}:\n" + "".join(f"    {line}\n" for line in [*body, "return r"])
                         for head, body in bodies.items())


def per_tile(x: str) -> str:
    """x in tiles (0 when the tile is not positive)."""
    return f"{x} / {TILE_SLOT} if {TILE_SLOT} > 0.0 else 0.0"


def cell(target: str, x: str) -> list[str]:
    """The grid cell of a coordinate: floor of x in tiles."""
    return [f"{target} = {per_tile(x)}", f"{target} = np.floor({target}) + 0.0"]


MEASURE_FIELDS = {"area": (0,), "fill": (0, 3, 4, 5, 6), "aspect": (3, 4, 5, 6)}  # the region fields each measure reads
COORDINATE = float(MAX_SIDE)  # a bound on a kept object's box coordinates (pixels, -1 when empty)
MEASURES: dict[str, Callable[[str, Measures], list[str]]] = {
    "area": lambda t, ms: [f"{t} = a0"],
    "fill": lambda t, ms: ms.fill(t, "a0", "a3", "a4", "a5", "a6", COORDINATE),
    "aspect": lambda t, ms: ms.aspect(t, "a3", "a4", "a5", "a6", COORDINATE),
}


@dataclass(frozen=True)
class NodeCode:
    """One node to emit: its index, the IR node, the variables of its value (`v`) and of each
    argument (`a`), the program, the perception plan and where latches start in the state."""

    index: int
    node: ir.Node
    v: list[str]
    a: list[list[str]]
    program: ir.Program
    plan: Plan
    latch_base: int
    m: list[float]  # per argument, a bound on the magnitude of its components (carc.ir.intervals)
    ms: Measures

    @property
    def r(self) -> str:
        return self.v[0]

    @property
    def x(self) -> list[str]:
        """The first component of each argument."""
        return [c[0] for c in self.a]


Emitter = Callable[[NodeCode], list[str]]


def emit_nodes(out: Out, program: ir.Program, plan: Plan, nodes: list[int], indent: int, measures: Measures,
               bounds: list[float]) -> None:
    """The code computing `nodes` (in order) from the perception results and the state; ``bounds``:
    each node's magnitude bound (``carc.ir.intervals.magnitudes``, computed once per program)."""
    base = StateLayout.of(program).latch_base
    for i in nodes:
        node = program.nodes[i]
        code = NodeCode(i, node, components(i, node.type), [components(j, program.nodes[j].type) for j in node.args],
                        program, plan, base, [bounds[j] for j in node.args], measures)
        for line in EMITTERS[node.op](code):
            out(indent, line)


def _const(n: NodeCode) -> list[str]:
    value = n.node.const[0]
    return [f"{n.r} = {value!r}" if isinstance(value, bool) else f"{n.r} = {literal(value, 'a constant')}"]


def _pixels(n: NodeCode) -> list[str]:
    b = n.plan.pix_base + REGION * n.plan.pixel_slot[int(n.node.const[0])]
    return [f"{n.v[k]} = fw[{b + k}]" for k in range(REGION)]


def _start(n: NodeCode) -> list[str]:
    off = n.latch_base + int(n.node.const[0])
    if n.node.type == "bool":
        return [f"{n.r} = state[{off}] != 0.0"]
    return [f"{name} = state[{off + k}]" for k, name in enumerate(n.v)]


def empty_region_at(program: ir.Program) -> int:
    """Where ``ow`` holds an empty region (0, 0, 0, 0, 0, -1, -1): after each sub-task's value and the potential."""
    return len(program.subtasks) + 1


def _objects(n: NodeCode) -> list[str]:
    """largest / smallest / count: a scan of the colour's kept objects through its size filters; the
    chosen object's fields are read once, after the scan (from ``ow``'s empty region if none passed)."""
    node, v, a = n.node, n.v, n.a
    color = int(node.const[0])
    slot = n.plan.object_slot[color]
    counting = node.op == Op.COUNT
    filters = [str(k) for k in node.const[1:]]
    fields = sorted(({0} if not counting else set()) | {k for kind in filters for k in MEASURE_FIELDS[kind]})
    lines = [f"# v{n.index}: {node.op} of c{color} {comment_name(n.program.colors[color].name)}"]
    lines += ["cnt = 0"] if counting else ["area = 0.0", "o = -1"]
    count = f"iw[{HEADER + slot}]"
    lines.append(f"for k in range({count} if {count} < {MAX_OBJECTS} else {MAX_OBJECTS}):")
    inner = [f"ob = {n.plan.obj_base + REGION * MAX_OBJECTS * slot} + {REGION} * k"]
    inner += [f"a{k} = fw[ob + {k}]" for k in fields]
    for f, kind in enumerate(filters):
        inner += [*MEASURES[kind]("m", n.ms), f"if not ({a[2 * f][0]} <= m and m <= {a[2 * f + 1][0]}):", "    continue"]
    if counting:
        inner.append("cnt += 1")
    else:
        inner += [f"if area == 0.0 or a0 {'>' if node.op == Op.LARGEST else '<'} area:", "    area = a0", "    o = ob"]
    lines += ["    " + line for line in inner]
    if counting:
        lines.append(f"{v[0]} = float(cnt)")
    else:
        lines += ["src = fw if o >= 0 else ow", f"o = o if o >= 0 else {empty_region_at(n.program)}"]
        lines += [f"{name} = src[o + {k}]" for k, name in enumerate(v)]
    return lines


def _compare(n: NodeCode) -> list[str]:
    symbol = next(s for s, op in BINARY_OPERATORS.items() if op == n.node.op)
    return [f"{n.r} = {n.x[0]} {symbol} {n.x[1]}"]


def _connective(n: NodeCode) -> list[str]:
    return [f"{n.r} = {f' {n.node.op} '.join(n.x)}"]


def _same_cell(n: NodeCode) -> list[str]:
    p, q = n.a
    return [*cell("x0", p[0]), *cell("x1", q[0]), *cell("y0", p[1]), *cell("y1", q[1]), f"{n.r} = x0 == x1 and y0 == y1"]


def _inside(n: NodeCode) -> list[str]:
    p, b = n.a
    return [f"{n.r} = ({b[0]} <= {p[0]} and {p[0]} <= {b[2]}) and ({b[1]} <= {p[1]} and {p[1]} <= {b[3]})"]


def _contains(n: NodeCode) -> list[str]:
    o, i = n.a
    return [f"{n.r} = {o[0]} <= {i[0]} and {i[2]} <= {o[2]} and {o[1]} <= {i[1]} and {i[3]} <= {o[3]}"]


def _overlaps(n: NodeCode) -> list[str]:
    p, q = n.a
    return [f"{n.r} = {p[0]} <= {q[2]} and {q[0]} <= {p[2]} and {p[1]} <= {q[3]} and {q[1]} <= {p[3]}"]


def _center(n: NodeCode) -> list[str]:
    g = n.a[0]
    return [f"{n.v[0]} = {g[1]} / {g[0]} if {g[0]} > 0.0 else 0.0", f"{n.v[1]} = {g[2]} / {g[0]} if {g[0]} > 0.0 else 0.0"]


def _edge(k: int) -> Emitter:
    """left, top, right, bottom: component k of the box."""
    return lambda n: [f"{n.r} = {n.a[0][k]}"]


def _near(n: NodeCode) -> list[str]:
    return [*n.ms.distance("m", n.a[0], n.a[1]), f"{n.r} = m <= {n.a[2][0]}"]


EMITTERS: dict[Op, Emitter] = {
    Op.CONST: _const,
    Op.PIXELS: _pixels,
    **{op: _objects for op in OBJECT_QUERIES},
    Op.FRAME_WIDTH: lambda n: [f"{n.r} = float(W)"],
    Op.FRAME_HEIGHT: lambda n: [f"{n.r} = float(H)"],
    Op.START: _start,
    Op.TILE: lambda n: [f"{n.r} = {TILE_SLOT}"],
    Op.NEG: lambda n: [f"{n.r} = -{n.x[0]}"],
    Op.ADD: lambda n: n.ms.sat(n.r, f"{n.x[0]} + {n.x[1]}", n.m[0] + n.m[1]),
    Op.SUB: lambda n: n.ms.sat(n.r, f"{n.x[0]} - {n.x[1]}", n.m[0] + n.m[1]),
    Op.MUL: lambda n: n.ms.sat(n.r, f"{n.x[0]} * {n.x[1]}", n.m[0] * n.m[1]),
    Op.DIV: lambda n: n.ms.sat(n.r, f"{n.x[0]} / {n.x[1]} if {n.x[1]} != 0.0 else 0.0"),
    Op.ABS: lambda n: [f"{n.r} = abs({n.x[0]})"],
    Op.MIN: lambda n: [f"{n.r} = {n.x[1]} if {n.x[1]} < {n.x[0]} else {n.x[0]}"],
    Op.MAX: lambda n: [f"{n.r} = {n.x[1]} if {n.x[1]} > {n.x[0]} else {n.x[0]}"],
    Op.CLAMP: lambda n: [f"{n.r} = {n.x[1]} if {n.x[1]} > {n.x[0]} else {n.x[0]}", f"{n.r} = {n.x[2]} if {n.x[2]} < {n.r} else {n.r}"],
    Op.SQRT: lambda n: [f"{n.r} = math.sqrt({n.x[0]}) if {n.x[0]} > 0.0 else 0.0"],
    Op.FLOOR: lambda n: [f"{n.r} = np.floor({n.x[0]}) + 0.0"],
    **{op: _compare for op in (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)},
    Op.NOT: lambda n: [f"{n.r} = not {n.x[0]}"],
    Op.AND: _connective,
    Op.OR: _connective,
    Op.IF: lambda n: [f"{name} = {t} if {n.x[0]} else {e}" for name, t, e in zip(n.v, n.a[1], n.a[2])],
    Op.EXISTS: lambda n: [f"{n.r} = {n.x[0]} > 0.0"],
    Op.AREA: lambda n: [f"{n.r} = {n.x[0]}"],
    Op.CENTER: _center,
    Op.BBOX: lambda n: [f"{n.v[k]} = {n.a[0][3 + k]}" for k in range(4)],
    Op.FILL: lambda n: n.ms.fill(n.r, n.a[0][0], n.a[0][3], n.a[0][4], n.a[0][5], n.a[0][6], n.m[0]),
    Op.WIDTH: lambda n: n.ms.extent(n.r, n.a[0][0], n.a[0][2], n.m[0]),
    Op.HEIGHT: lambda n: n.ms.extent(n.r, n.a[0][1], n.a[0][3], n.m[0]),
    Op.ASPECT: lambda n: n.ms.aspect(n.r, n.a[0][0], n.a[0][1], n.a[0][2], n.a[0][3], n.m[0]),
    **{op: _edge(k) for k, op in enumerate((Op.LEFT, Op.TOP, Op.RIGHT, Op.BOTTOM))},
    Op.POINT: lambda n: [f"{n.v[0]} = {n.x[0]}", f"{n.v[1]} = {n.x[1]}"],
    Op.BOX: lambda n: [f"{n.v[k]} = {n.x[k]}" for k in range(4)],
    Op.X: lambda n: [f"{n.r} = {n.a[0][0]}"],
    Op.Y: lambda n: [f"{n.r} = {n.a[0][1]}"],
    Op.DISTANCE: lambda n: n.ms.distance(n.r, n.a[0], n.a[1]),
    Op.MANHATTAN: lambda n: n.ms.sat(n.r, f"abs({n.a[0][0]} - {n.a[1][0]}) + abs({n.a[0][1]} - {n.a[1][1]})", 2 * (n.m[0] + n.m[1])),
    Op.LEFT_OF: lambda n: [f"{n.r} = {n.a[0][0]} < {n.a[1][0]}"],
    Op.RIGHT_OF: lambda n: [f"{n.r} = {n.a[0][0]} > {n.a[1][0]}"],
    Op.ABOVE: lambda n: [f"{n.r} = {n.a[0][1]} < {n.a[1][1]}"],
    Op.BELOW: lambda n: [f"{n.r} = {n.a[0][1]} > {n.a[1][1]}"],
    Op.NEAR: _near,
    Op.INSIDE: _inside,
    Op.CONTAINS: _contains,
    Op.OVERLAPS: _overlaps,
    Op.CELL: lambda n: [*cell(n.v[0], n.a[0][0]), *cell(n.v[1], n.a[0][1])],
    Op.CELLS: lambda n: [f"{n.r} = {per_tile(n.x[0])}"],
    Op.SAME_CELL: _same_cell,
}
