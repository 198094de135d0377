"""The canonical printer: an AST back to carc text, one item per line, minimal parentheses.

`parse_text(print_unit(u)) == u` for every unit the parser accepts, and printing is idempotent
(`print_unit(parse_text(print_unit(u))) == print_unit(u)`). Comments and layout are not kept.

>>> from carc.lang.parser import parse_text
>>> print(print_unit(parse_text('program p "d" let x = (1 - (2 - 3)) * -(4)')), end="")
program p "d"
let x = (1 - (2 - 3)) * -4

Precedence, loosest first, as the grammar (grammar/carc.lark) fixes it::

    if  <  or  <  and  <  not  <  comparison  <  + -  <  * /  <  unary -  <  call, atom

Chains (`a or b or c`, `a + b - c`) are flat n-ary nodes. An operand that is itself a chain of the
same level is parenthesised wherever it stands (first operand included), since unparenthesised it
would merge into the outer chain; a comparison does not chain, so one inside another is wrapped.
"""

from __future__ import annotations

from carc.core.text import format_number, format_string
from carc.lang import ast

# Binding levels, loosest first. A node printed where the grammar expects level `need` or tighter
# is parenthesised when its own level is looser (see _operand).
IF, OR, AND, NOT, COMPARE, SUM, PRODUCT, UNARY, ATOM = range(9)

INDENT = "    "


def level(node: ast.Expr) -> int:
    match node:
        case ast.If():
            return IF
        case ast.Logic(op="or"):
            return OR
        case ast.Logic():
            return AND
        case ast.Not():
            return NOT
        case ast.Compare():
            return COMPARE
        case ast.Arith(ops=ops) if ops and ops[0] in "+-":
            return SUM
        case ast.Arith():
            return PRODUCT
        case ast.Negate():
            return UNARY
    return ATOM


def print_expr(node: ast.Expr) -> str:
    """One expression, with the fewest parentheses that keep its shape."""
    match node:
        case ast.Number(value):
            if value < 0:
                raise ValueError(f"a negative number in an expression is written -{format_number(-value)}")
            return format_number(value)
        case ast.Bool(value):
            return "true" if value else "false"
        case ast.Name(id):
            return id
        case ast.Call(func, args):
            return f"{func.id}({', '.join(print_expr(a) for a in args)})"
        case ast.Negate(operand):
            return "-" + _operand(operand, UNARY)
        case ast.Not(operand):
            return "not " + _operand(operand, NOT)
        case ast.Logic(op, operands):
            need = AND if op == "or" else NOT
            return f" {op} ".join(_operand(o, need) for o in operands)
        case ast.Arith(operands, ops):
            need = PRODUCT if ops and ops[0] in "+-" else UNARY
            parts = [_operand(operands[0], need)]
            for op, operand in zip(ops, operands[1:]):
                parts.append(f"{op} {_operand(operand, need)}")
            return " ".join(parts)
        case ast.Compare(op, left, right):
            return f"{_operand(left, SUM)} {op} {_operand(right, SUM)}"
        case ast.If(cond, then, orelse):
            return f"if {print_expr(cond)} then {print_expr(then)} else {print_expr(orelse)}"
    raise TypeError(f"not an expression: {node!r}")


def _operand(node: ast.Expr, need: int) -> str:
    """An operand where the grammar expects level `need` or tighter: looser ones get parentheses.

    Each chain's operands are one level tighter than the chain (`or` takes `and` operands), so a
    nested chain of the same level, which would otherwise merge into the outer one, is wrapped too.
    """
    text = print_expr(node)
    return f"({text})" if level(node) < need else text


def print_item(item: ast.Item) -> str:
    """One item, on one line (a group on several)."""
    match item:
        case ast.Observe(kind, tile):
            return f"observe {kind.id}" + ("" if tile is None else f" tile {format_number(tile.value)}")
        case ast.Use(module):
            return f"use {module.id}"
        case ast.ColorDef(name, shades, tolerance):
            shown = " | ".join("rgb(" + ", ".join(format_number(n.value) for n in s.rgb) + ")" for s in shades)
            return f"color {name.id} = {shown} tol {format_number(tolerance.value)}"
        case ast.Let(name, value):
            return f"let {name.id} = {print_expr(value)}"
        case ast.Def(name, params, result_type, body):
            shown = ", ".join(f"{p.name.id}: {p.type_name.id}" for p in params)
            return f"def {name.id}({shown}) -> {result_type.id} = {print_expr(body)}"
        case ast.Subtask(name, description, bonus, predicate):
            return f"subtask {name.id} {format_string(description)} bonus {format_number(bonus.value)} : {print_expr(predicate)}"
        case ast.Group(name, description, subtasks):
            lines = [f"group {name.id} {format_string(description)} {{"]
            lines.extend(INDENT + print_item(s) for s in subtasks)
            lines.append("}")
            return "\n".join(lines)
        case ast.Shaping(gamma, potential):
            return f"shaping gamma {format_number(gamma.value)} : {print_expr(potential)}"
        case ast.Bounds(low, high):
            return f"reward in [{format_number(low.value)}, {format_number(high.value)}]"
    raise TypeError(f"not an item: {item!r}")


def print_unit(unit: ast.Unit) -> str:
    """The canonical text of a whole file, ending with a newline."""
    lines = [f"{unit.kind} {unit.name.id} {format_string(unit.description)}"]
    lines.extend(print_item(item) for item in unit.items)
    return "\n".join(lines) + "\n"
