"""A stable, readable dump of a checked program (the IR), for golden fixtures and debugging.

>>> from carc.lang.checker import check_text
>>> print(dump_program(check_text('program p "d" observe rgb subtask s "go" bonus 1 : 1 < 2')))
program p "d"
observe rgb tile 8
colors
nodes
  n0 num = const 1
  n1 num = const 2
  n2 bool = lt n0 n1
latches
stages
  0 s "go" bonus 1 : n2
reward in [0, 1] (inferred)

Nodes are listed in topological order as `nI TYPE = OP ARGS`; colours are `cI`, latches (values from
the episode's first frame) `@OFFSET`. An object query shows its colour and each size filter with
the nodes of its bounds: `largest c2 area(n2, n6)`.
"""

from __future__ import annotations

from carc import ir
from carc.core.text import format_number
from carc.ir.ops import Op


def _num(value: float) -> str:
    return format_number(float(value))


def _color(color: ir.Color) -> str:
    shades = " | ".join(f"rgb({r}, {g}, {b})" for r, g, b in color.shades)
    return f"{color.name} = {shades} tol {color.tolerance}"


def _node(node: ir.Node) -> str:
    args = [f"n{a}" for a in node.args]
    if node.op == Op.CONST:
        (value,) = node.const
        shown = ("true" if value else "false") if isinstance(value, bool) else _num(value)  # type: ignore[arg-type]
        return f"const {shown}"
    if node.op == Op.PIXELS:
        return f"pixels c{node.const[0]}"
    if node.op in ir.OBJECT_QUERIES:
        color, *measures = node.const
        filters = [f"{m}({args[2 * i]}, {args[2 * i + 1]})" for i, m in enumerate(measures)]
        return " ".join([node.op, f"c{color}", *filters])
    if node.op == Op.START:
        return f"start @{node.const[0]}"
    extra = [repr(c) for c in node.const]
    return " ".join([node.op, *args, *extra])


def _subtask(sub: ir.Subtask) -> str:
    return f'{sub.index} {sub.name} "{sub.description}" bonus {_num(sub.bonus)} : n{sub.predicate}'


def dump_program(program: ir.Program) -> str:
    """The dump of a checked program, one fact per line, without a trailing newline."""
    lines = [f'program {program.name} "{program.description}"', f"observe {program.observe} tile {program.tile}", "colors"]
    lines.extend(f"  c{i} {_color(c)}" for i, c in enumerate(program.colors))
    lines.append("nodes")
    width = len(f"n{len(program.nodes) - 1}") if program.nodes else 0
    for i, node in enumerate(program.nodes):
        lines.append(f"  {f'n{i}':<{width}} {node.type} = {_node(node)}")
    lines.append("latches")
    lines.extend(f"  @{latch.offset} {latch.type} <- n{latch.source}" for latch in program.latches)
    lines.append("stages")
    for stage in program.stages:
        if stage.unordered:
            lines.append(f'  group {stage.name} "{stage.description}" (any order)')
            lines.extend(f"    {_subtask(s)}" for s in stage.subtasks)
        else:
            lines.extend(f"  {_subtask(s)}" for s in stage.subtasks)
    if program.shaping is not None:
        lines.append(f"shaping gamma {_num(program.shaping.gamma)} : n{program.shaping.potential}")
    low, high = program.bounds
    lines.append(f"reward in [{_num(low)}, {_num(high)}] ({'declared' if program.bounds_declared else 'inferred'})")
    return "\n".join(lines)
