"""The IR verifier: refuse any program that is not well formed (ops, types, indices, numbers).

It runs after every pass that builds or rewrites a program (the checker, pruning) and again in the
code generator before any source is written, so a hand-made or corrupted IR never reaches numba.
Argument and result types come from the op table (carc.ir.ops); ops whose row says None have
their own rule here.

>>> from carc.lang.checker import check_text
>>> verify_program(check_text('program p "d" observe rgb subtask s "s" bonus 1 : 1 < 2'))
>>> import dataclasses
>>> p = check_text('program p "d" observe rgb subtask s "s" bonus 1 : 1 < 2')
>>> verify_program(dataclasses.replace(p, nodes=p.nodes[:2]))
Traceback (most recent call last):
...
carc.ir.verifier.IRError: a predicate is a boolean node
"""

from __future__ import annotations

import math
import re

from carc.core.limits import LIMITS
from carc.ir.nodes import WIDTH, Node, Program
from carc.ir.ops import IR_OPS, OBJECT_QUERIES, SPECS, Op

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
CHANNEL_MAX = 255
MEASURES = ("area", "fill", "aspect")


class IRError(ValueError):
    """The IR is not well formed (a checker bug, or a hand-made IR)."""


def finite(x: object, what: str) -> float:
    """`x` as a float when it is a finite number (not a bool), else IRError."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise IRError(f"{what} must be a finite number, not {x!r}")
    return float(x)


def whole(x: object, what: str, lo: int, hi: int) -> int:
    """`x` as an int when it is a whole number in [lo, hi], else IRError."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)) or float(x) != int(x) \
            or not lo <= int(x) <= hi:
        raise IRError(f"{what} must be a whole number in [{lo}, {hi}], not {x!r}")
    return int(x)


def verify_program(program: Program, caps: bool = True) -> None:
    """Raise IRError unless the program is well formed; see the module docstring.

    `caps`: also check the palette caps (pruning runs before the checker reports E110 for them).
    """
    _verify_colors(program, caps)
    for i, node in enumerate(program.nodes):
        _verify_node(program, i, node)
    _verify_latches(program)
    _verify_stages(program)


def _verify_colors(program: Program, caps: bool) -> None:
    if caps and len(program.colors) > int(LIMITS["max_colors"].cap):
        raise IRError(f"too many colours: {len(program.colors)}")
    if caps and sum(len(c.shades) for c in program.colors) > int(LIMITS["max_shades"].cap):
        raise IRError("too many colour shades")
    for color in program.colors:
        if not color.shades:
            raise IRError("a colour has no shade")
        whole(color.tolerance, "a tolerance", 0, CHANNEL_MAX)
        for shade in color.shades:
            if len(shade) != 3:
                raise IRError("a shade has three channels")
            for v in shade:
                whole(v, "a colour channel", 0, CHANNEL_MAX)


def _verify_node(program: Program, i: int, node: Node) -> None:
    if node.op not in IR_OPS:
        raise IRError(f"node {i}: unknown op {node.op!r}")
    if node.type not in WIDTH:
        raise IRError(f"node {i}: unknown type {node.type!r}")
    for a in node.args:
        if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < i:
            raise IRError(f"node {i}: argument {a!r} is not an earlier node")
    types = tuple(program.nodes[a].type for a in node.args)
    expected = _RULES.get(Op(node.op), _by_table)(program, i, node, types)
    if node.type != expected:
        raise IRError(f"node {i}: {node.op} gives {expected}, not {node.type}")


def _by_table(program: Program, i: int, node: Node, types: tuple[str, ...]) -> str:
    spec = SPECS[Op(node.op)]
    if types != spec.args or node.const or spec.result is None:
        raise IRError(f"node {i}: {node.op} takes {spec.args}, not {types}")
    return spec.result


def _const(program: Program, i: int, node: Node, types: tuple[str, ...]) -> str:
    if node.args or len(node.const) != 1:
        raise IRError(f"node {i}: bad constant")
    if node.type == "bool":
        if not isinstance(node.const[0], bool):
            raise IRError(f"node {i}: bad boolean constant")
    elif node.type == "num":
        finite(node.const[0], f"node {i}: a constant")
    else:
        raise IRError(f"node {i}: constants are num or bool")
    return node.type


def _object_query(program: Program, i: int, node: Node, types: tuple[str, ...]) -> str:
    if not node.const:
        raise IRError(f"node {i}: an object query needs a colour")
    whole(node.const[0], f"node {i}: a colour index", 0, len(program.colors) - 1)
    kinds = node.const[1:]
    if any(k not in MEASURES for k in kinds) or len(node.args) != 2 * len(kinds):
        raise IRError(f"node {i}: bad object filters")
    if any(t != "num" for t in types):
        raise IRError(f"node {i}: filter bounds are numbers")
    return SPECS[Op(node.op)].result or "region"


def _pixels(program: Program, i: int, node: Node, types: tuple[str, ...]) -> str:
    if len(node.const) != 1 or node.args:
        raise IRError(f"node {i}: bad pixels node")
    whole(node.const[0], f"node {i}: a colour index", 0, len(program.colors) - 1)
    return "region"


def _start(program: Program, i: int, node: Node, types: tuple[str, ...]) -> str:
    if len(node.const) != 1 or node.args:
        raise IRError(f"node {i}: bad start node")
    offset = whole(node.const[0], f"node {i}: a latch offset", 0, max(0, program.latch_width - 1))
    latch = next((latch for latch in program.latches if latch.offset == offset), None)
    if latch is None or latch.type != node.type:
        raise IRError(f"node {i}: no latch of type {node.type} at offset {offset}")
    return node.type


def _if(program: Program, i: int, node: Node, types: tuple[str, ...]) -> str:
    if len(types) != 3 or types[0] != "bool" or types[1] != types[2] or node.const:
        raise IRError(f"node {i}: bad if")
    return types[1]


def _equality(program: Program, i: int, node: Node, types: tuple[str, ...]) -> str:
    if len(types) != 2 or types[0] != types[1] or types[0] not in ("num", "bool") or node.const:
        raise IRError(f"node {i}: bad comparison")
    return "bool"


def _connective(program: Program, i: int, node: Node, types: tuple[str, ...]) -> str:
    if len(types) < 1 or any(t != "bool" for t in types) or node.const:
        raise IRError(f"node {i}: bad {node.op}")
    return "bool"


_RULES = {
    Op.CONST: _const, Op.PIXELS: _pixels, Op.START: _start, Op.IF: _if, Op.EQ: _equality, Op.NE: _equality,
    Op.AND: _connective, Op.OR: _connective, **{op: _object_query for op in OBJECT_QUERIES},
}


def _verify_latches(program: Program) -> None:
    width = 0
    for latch in program.latches:
        if latch.offset != width or latch.type not in WIDTH:
            raise IRError("latches are packed in order")
        if not 0 <= latch.source < len(program.nodes) or program.nodes[latch.source].type != latch.type:
            raise IRError("a latch reads a node of its own type")
        width += WIDTH[latch.type]


def _verify_stages(program: Program) -> None:
    count = 0
    for stage in program.stages:
        for s in stage.subtasks:
            if s.index != count:
                raise IRError("sub-tasks are numbered in order")
            count += 1
            finite(s.bonus, "a bonus")
            if not 0 <= s.predicate < len(program.nodes) or program.nodes[s.predicate].type != "bool":
                raise IRError("a predicate is a boolean node")
    if count == 0:
        raise IRError("a program has at least one sub-task")
    if program.shaping is not None:
        finite(program.shaping.gamma, "gamma")
        p = program.shaping.potential
        if not 0 <= p < len(program.nodes) or program.nodes[p].type != "num":
            raise IRError("a potential is a number node")
    low, high = program.bounds
    finite(low, "a reward bound")
    finite(high, "a reward bound")
    whole(program.tile, "the tile size", 1, int(LIMITS["max_tile"].cap))
