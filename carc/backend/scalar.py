"""The scalar emitter: every needed IR node as straight-line float64 code, in node order, with the
interpreter's operation order (saturation, defined division, empty-region defaults, ties).

`EMITTERS` holds one rule per op (tests/test_ops.py checks it covers every IR op); each takes the
node's context and returns its lines, mirroring carc.interpreter.SEMANTICS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from carc import ir
from carc.backend.emit import Out, comment_name, components, literal
from carc.backend.perception import HEADER, MAX_OBJECTS, REGION, Plan
from carc.ir.layout import TILE, StateLayout
from carc.ir.ops import BINARY_OPERATORS, OBJECT_QUERIES, Op

EMPTY_REGION = ("0.0", "0.0", "0.0", "0.0", "0.0", "-1.0", "-1.0")
MEASURES = {"area": "a0", "fill": "_fill(a0, a3, a4, a5, a6)", "aspect": "_aspect(a3, a4, a5, a6)"}
TILE_SLOT = f"state[{TILE}]"


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

    @property
    def r(self) -> str:
        return self.v[0]

    @property
    def x(self) -> list[str]:
        """The first component of each argument."""
        return [c[0] for c in self.a]


Emitter = Callable[[NodeCode], list[str]]


def emit_nodes(out: Out, program: ir.Program, plan: Plan, nodes: list[int], indent: int) -> None:
    """The code computing `nodes` (in order) from the perception results and the state."""
    base = StateLayout.of(program).latch_base
    for i in nodes:
        node = program.nodes[i]
        code = NodeCode(i, node, components(i, node.type), [components(j, program.nodes[j].type) for j in node.args],
                        program, plan, base)
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


def _objects(n: NodeCode) -> list[str]:
    """largest / smallest / count: a scan of the colour's kept objects through its size filters."""
    node, v, a = n.node, n.v, n.a
    color = int(node.const[0])
    slot = n.plan.object_slot[color]
    counting = node.op == Op.COUNT
    lines = [f"# v{n.index}: {node.op} of c{color} {comment_name(n.program.colors[color].name)}"]
    lines += ["cnt = 0"] if counting else [f"{name} = {init}" for name, init in zip(v, EMPTY_REGION)]
    lines.append(f"for k in range(min(iw[{HEADER + slot}], {MAX_OBJECTS})):")
    inner = [f"ob = {n.plan.obj_base + REGION * MAX_OBJECTS * slot} + {REGION} * k"]
    inner += [f"a{k} = fw[ob + {k}]" for k in range(REGION)]
    for f, kind in enumerate(str(k) for k in node.const[1:]):
        inner += [f"m = {MEASURES[kind]}", f"if not ({a[2 * f][0]} <= m and m <= {a[2 * f + 1][0]}):", "    continue"]
    if counting:
        inner.append("cnt += 1")
    else:
        inner.append(f"if {v[0]} == 0.0 or a0 {'>' if node.op == Op.LARGEST else '<'} {v[0]}:")
        inner += [f"    {v[k]} = a{k}" for k in range(REGION)]
    lines += ["    " + line for line in inner]
    if counting:
        lines.append(f"{v[0]} = float(cnt)")
    return lines


def _compare(n: NodeCode) -> list[str]:
    symbol = next(s for s, op in BINARY_OPERATORS.items() if op == n.node.op)
    return [f"{n.r} = {n.x[0]} {symbol} {n.x[1]}"]


def _connective(n: NodeCode) -> list[str]:
    return [f"{n.r} = {f' {n.node.op} '.join(n.x)}"]


def _same_cell(n: NodeCode) -> list[str]:
    p, q = n.a
    cell = [f"_floor(_per({c}, {TILE_SLOT}))" for c in (p[0], q[0], p[1], q[1])]
    return [f"{n.r} = {cell[0]} == {cell[1]} and {cell[2]} == {cell[3]}"]


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


def _distance(p: list[str], q: list[str]) -> str:
    return f"_distance({p[0]}, {p[1]}, {q[0]}, {q[1]})"


EMITTERS: dict[Op, Emitter] = {
    Op.CONST: _const,
    Op.PIXELS: _pixels,
    **{op: _objects for op in OBJECT_QUERIES},
    Op.FRAME_WIDTH: lambda n: [f"{n.r} = float(W)"],
    Op.FRAME_HEIGHT: lambda n: [f"{n.r} = float(H)"],
    Op.START: _start,
    Op.TILE: lambda n: [f"{n.r} = {TILE_SLOT}"],
    Op.NEG: lambda n: [f"{n.r} = -{n.x[0]}"],
    Op.ADD: lambda n: [f"{n.r} = _sat({n.x[0]} + {n.x[1]})"],
    Op.SUB: lambda n: [f"{n.r} = _sat({n.x[0]} - {n.x[1]})"],
    Op.MUL: lambda n: [f"{n.r} = _sat({n.x[0]} * {n.x[1]})"],
    Op.DIV: lambda n: [f"{n.r} = _sat({n.x[0]} / {n.x[1]}) if {n.x[1]} != 0.0 else 0.0"],
    Op.ABS: lambda n: [f"{n.r} = abs({n.x[0]})"],
    Op.MIN: lambda n: [f"{n.r} = {n.x[1]} if {n.x[1]} < {n.x[0]} else {n.x[0]}"],
    Op.MAX: lambda n: [f"{n.r} = {n.x[1]} if {n.x[1]} > {n.x[0]} else {n.x[0]}"],
    Op.CLAMP: lambda n: [f"{n.r} = {n.x[1]} if {n.x[1]} > {n.x[0]} else {n.x[0]}", f"{n.r} = {n.x[2]} if {n.x[2]} < {n.r} else {n.r}"],
    Op.SQRT: lambda n: [f"{n.r} = math.sqrt({n.x[0]}) if {n.x[0]} > 0.0 else 0.0"],
    Op.FLOOR: lambda n: [f"{n.r} = _floor({n.x[0]})"],
    **{op: _compare for op in (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)},
    Op.NOT: lambda n: [f"{n.r} = not {n.x[0]}"],
    Op.AND: _connective,
    Op.OR: _connective,
    Op.IF: lambda n: [f"{name} = {t} if {n.x[0]} else {e}" for name, t, e in zip(n.v, n.a[1], n.a[2])],
    Op.EXISTS: lambda n: [f"{n.r} = {n.x[0]} > 0.0"],
    Op.AREA: lambda n: [f"{n.r} = {n.x[0]}"],
    Op.CENTER: _center,
    Op.BBOX: lambda n: [f"{n.v[k]} = {n.a[0][3 + k]}" for k in range(4)],
    Op.FILL: lambda n: [f"{n.r} = _fill({n.a[0][0]}, {n.a[0][3]}, {n.a[0][4]}, {n.a[0][5]}, {n.a[0][6]})"],
    Op.WIDTH: lambda n: [f"{n.r} = _extent({n.a[0][0]}, {n.a[0][2]})"],
    Op.HEIGHT: lambda n: [f"{n.r} = _extent({n.a[0][1]}, {n.a[0][3]})"],
    Op.ASPECT: lambda n: [f"{n.r} = _aspect({n.a[0][0]}, {n.a[0][1]}, {n.a[0][2]}, {n.a[0][3]})"],
    **{op: _edge(k) for k, op in enumerate((Op.LEFT, Op.TOP, Op.RIGHT, Op.BOTTOM))},
    Op.POINT: lambda n: [f"{n.v[0]} = {n.x[0]}", f"{n.v[1]} = {n.x[1]}"],
    Op.BOX: lambda n: [f"{n.v[k]} = {n.x[k]}" for k in range(4)],
    Op.X: lambda n: [f"{n.r} = {n.a[0][0]}"],
    Op.Y: lambda n: [f"{n.r} = {n.a[0][1]}"],
    Op.DISTANCE: lambda n: [f"{n.r} = {_distance(n.a[0], n.a[1])}"],
    Op.MANHATTAN: lambda n: [f"{n.r} = _sat(abs({n.a[0][0]} - {n.a[1][0]}) + abs({n.a[0][1]} - {n.a[1][1]}))"],
    Op.LEFT_OF: lambda n: [f"{n.r} = {n.a[0][0]} < {n.a[1][0]}"],
    Op.RIGHT_OF: lambda n: [f"{n.r} = {n.a[0][0]} > {n.a[1][0]}"],
    Op.ABOVE: lambda n: [f"{n.r} = {n.a[0][1]} < {n.a[1][1]}"],
    Op.BELOW: lambda n: [f"{n.r} = {n.a[0][1]} > {n.a[1][1]}"],
    Op.NEAR: lambda n: [f"{n.r} = {_distance(n.a[0], n.a[1])} <= {n.a[2][0]}"],
    Op.INSIDE: _inside,
    Op.CONTAINS: _contains,
    Op.OVERLAPS: _overlaps,
    Op.CELL: lambda n: [f"{n.v[k]} = _floor(_per({n.a[0][k]}, {TILE_SLOT}))" for k in range(2)],
    Op.CELLS: lambda n: [f"{n.r} = _per({n.x[0]}, {TILE_SLOT})"],
    Op.SAME_CELL: _same_cell,
}
