"""A stable, readable dump of an AST as indented s-expressions, without spans.

Used for golden fixtures (tests/fixtures/parse/*.ast) and `carc compile --emit ast`. A node that
fits in the line width stays on one line; a longer one puts each child on its own line, indented.
The top-level unit always lists one item per line.

>>> from carc.lang.parser import parse_text
>>> print(dump(parse_text('program p "d" let x = -a + 2 * f(b)')))
(program p "d"
  (let x (arith (neg a) + (arith 2 * (call f b)))))
"""

from __future__ import annotations

from carc.core.text import format_number
from carc.lang import ast

WIDTH = 96
STEP = "  "


def _head_and_children(node: object) -> tuple[str, list[object]]:
    """A node's head words and its child nodes (already-rendered leaves are plain strings)."""
    found = _expression(node) or _item(node)
    if found is None:
        raise TypeError(f"cannot dump {node!r}")
    return found


def _expression(node: object) -> tuple[str, list[object]] | None:
    match node:
        case ast.Number(value):
            return format_number(value), []
        case ast.Bool(value):
            return ("true" if value else "false"), []
        case ast.Name(id):
            return id, []
        case ast.Call(func, args):
            return f"call {func.id}", list(args)
        case ast.Negate(operand):
            return "neg", [operand]
        case ast.Not(operand):
            return "not", [operand]
        case ast.Logic(op, operands):
            return op, list(operands)
        case ast.Arith(operands, ops):
            children: list[object] = [operands[0]]
            for op, operand in zip(ops, operands[1:]):
                children.extend((op, operand))
            return "arith", children
        case ast.Compare(op, left, right):
            return op, [left, right]
        case ast.If(cond, then, orelse):
            return "if", [cond, then, orelse]
    return None


def _item(node: object) -> tuple[str, list[object]] | None:
    match node:
        case ast.Observe(kind, tile):
            return f"observe {kind.id}", [] if tile is None else [("tile", [tile])]
        case ast.Use(module):
            return f"use {module.id}", []
        case ast.ColorDef(name, shades, tolerance):
            return f"color {name.id}", [*(("rgb", list(s.rgb)) for s in shades), ("tol", [tolerance])]
        case ast.Let(name, value):
            return f"let {name.id}", [value]
        case ast.Def(name, params, result_type, body):
            shown = ("params", [f"({p.name.id} {p.type_name.id})" for p in params])
            return f"def {name.id}", [shown, ("result", [result_type]), body]
        case ast.Subtask(name, description, bonus, predicate):
            return f'subtask {name.id} "{description}"', [("bonus", [bonus]), predicate]
        case ast.Group(name, description, subtasks):
            return f'group {name.id} "{description}"', list(subtasks)
        case ast.Shaping(gamma, potential):
            return "shaping", [("gamma", [gamma]), potential]
        case ast.Bounds(low, high):
            return "reward-in", [low, high]
        case ast.Unit(kind, name, description, items):
            return f'{kind} {name.id} "{description}"', list(items)
        case (str() as head, list() as children):
            return head, children
    return None


def _is_leaf(node: object) -> bool:
    return isinstance(node, (str, ast.Number, ast.Bool, ast.Name))


def _flat(node: object) -> str:
    if isinstance(node, str):
        return node
    head, children = _head_and_children(node)
    if _is_leaf(node):
        return head
    return "(" + " ".join([head, *(_flat(c) for c in children)]) + ")"


def _render(node: object, indent: int, out: list[str], suffix: str, force_break: bool = False) -> None:
    pad = STEP * indent
    flat = _flat(node)
    if _is_leaf(node) or (not force_break and len(pad) + len(flat) + len(suffix) <= WIDTH):
        out.append(pad + flat + suffix)
        return
    head, children = _head_and_children(node)
    # Leaves right after the head stay on its line: `(arith a + ...`, `(subtask s "d" (bonus 1)`.
    first = 0
    words = [head]
    while first < len(children) and _is_leaf(children[first]) and not force_break:
        words.append(_flat(children[first]))
        first += 1
    if first == len(children):
        out.append(pad + "(" + " ".join(words) + ")" + suffix)
        return
    out.append(pad + "(" + " ".join(words))
    rest = children[first:]
    for i, child in enumerate(rest):
        _render(child, indent + 1, out, ")" + suffix if i == len(rest) - 1 else "")


def dump(node: object) -> str:
    """The dump of a unit (or any AST node), without a trailing newline."""
    out: list[str] = []
    if isinstance(node, ast.Unit) and not node.items:
        return _flat(node)
    _render(node, 0, out, "", force_break=isinstance(node, ast.Unit))
    return "\n".join(out)
