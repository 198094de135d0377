"""Hypothesis strategies for carc programs, shared by the printer tests and the audit's fuzzer.

Two families:

- `units()` / `expressions()`: random ASTs that the *parser* accepts, over every syntax form (names
  valid and not reserved, numbers in the literal range, strings the grammar can hold). They need
  not type-check. Property: `parse_text(print_unit(u)) == u`.
- `well_typed_units()` / `well_typed_programs()`: programs that pass `check_text`: expressions
  built by type (num, bool, point, box, region, objects, color) from the built-in table in
  carc/builtins.py, the colours, lets and helpers of `use minigrid`, and the program's own lets and
  helpers.

AST nodes carry a dummy span (spans take no part in equality).

>>> from hypothesis import given
>>> @given(well_typed_programs())
... def test_checks(text): check_text(text)          # doctest: +SKIP
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import strategies as st

from carc.core.diagnostics import Source, Span
from carc.core.limits import LIMITS
from carc.core.resources import stdlib_path
from carc.lang import ast
from carc.lang.builtins import BUILTINS
from carc.lang.parser import RESERVED, parse_text
from carc.lang.printer import print_unit

SPAN = Span(Source("<hypothesis>", ""), 0, 0)
MAX_DEPTH = 8

COMPARE_OPS = ("<", "<=", ">", ">=", "==", "!=")
ORDER_OPS = ("<", "<=", ">", ">=")


# ---- AST construction helpers ------------------------------------------------------------------


def name(text: str) -> ast.Name:
    return ast.Name(text, SPAN)


def number(value: float) -> ast.Number:
    return ast.Number(float(value), SPAN)


def call(func: str, *args: ast.Expr) -> ast.Call:
    return ast.Call(name(func), tuple(args), SPAN)


# ---- leaves ------------------------------------------------------------------------------------


def _valid_name(text: str) -> bool:
    return text not in RESERVED and not text.startswith("__")


def names(max_size: int = 8) -> st.SearchStrategy[str]:
    """Identifiers the parser accepts as names (not reserved, no leading '__')."""
    return st.from_regex(rf"[A-Za-z_][A-Za-z0-9_]{{0,{max_size - 1}}}", fullmatch=True).filter(_valid_name)


def literal_values() -> st.SearchStrategy[float]:
    """Non-negative floats a NUMBER literal may hold: 0, or a magnitude in [min_number, max_number]."""
    low, high = LIMITS["min_number"].cap, LIMITS["max_number"].cap
    return st.one_of(
        st.integers(0, 1000).map(float),
        st.sampled_from([0.5, 0.25, 0.1, 0.99, 1e-05, 1e-09, 1e9, 123456789.123]),
        st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False),
    )


_STRING_CHARS = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters='"\\'),
    st.sampled_from(["\t", "\u00e9", "\u00df", "\u65e5", "\u00a0", "\u20ac"]),
)


def descriptions(max_size: int = 40) -> st.SearchStrategy[str]:
    """Texts a STRING literal may hold and the input gate admits."""
    return st.text(_STRING_CHARS, max_size=max_size)


# ---- parser-valid ASTs -------------------------------------------------------------------------

_LEAF_KINDS = ("number", "name", "bool")
_KINDS = _LEAF_KINDS * 2 + ("call", "negate", "not", "logic", "arith", "compare", "if")


def _expr(draw: Any, depth: int) -> ast.Expr:
    kind = draw(st.sampled_from(_KINDS if depth > 1 else _LEAF_KINDS))
    sub = lambda: _expr(draw, depth - 1)  # noqa: E731
    if kind == "number":
        return number(draw(literal_values()))
    if kind == "name":
        return name(draw(names()))
    if kind == "bool":
        return ast.Bool(draw(st.booleans()), SPAN)
    if kind == "call":
        return ast.Call(name(draw(names())), tuple(sub() for _ in range(draw(st.integers(0, 3)))), SPAN)
    if kind == "negate":
        return ast.Negate(sub(), SPAN)
    if kind == "not":
        return ast.Not(sub(), SPAN)
    if kind == "logic":
        return ast.Logic(draw(st.sampled_from(("and", "or"))), tuple(sub() for _ in range(draw(st.integers(2, 3)))), SPAN)
    if kind == "arith":
        level = draw(st.sampled_from(("+-", "*/")))
        operands = tuple(sub() for _ in range(draw(st.integers(2, 3))))
        return ast.Arith(operands, tuple(draw(st.sampled_from(level)) for _ in operands[1:]), SPAN)
    if kind == "compare":
        return ast.Compare(draw(st.sampled_from(COMPARE_OPS)), sub(), sub(), SPAN)
    return ast.If(sub(), sub(), sub(), SPAN)


@st.composite
def expressions(draw: Any, max_depth: int = MAX_DEPTH) -> ast.Expr:
    """Any expression the grammar can write, at most `max_depth` levels deep."""
    return _expr(draw, max_depth)


@st.composite
def _items(draw: Any, max_depth: int) -> ast.Item:
    expr = lambda: _expr(draw, max_depth)  # noqa: E731
    num = lambda: number(draw(literal_values()))  # noqa: E731
    kind = draw(st.sampled_from(("let", "subtask", "def", "color", "observe", "use", "group", "shaping", "bounds")))
    if kind == "observe":
        return ast.Observe(name(draw(names())), draw(st.none() | literal_values().map(number)), SPAN)
    if kind == "use":
        return ast.Use(name(draw(names())), SPAN)
    if kind == "color":
        shades = tuple(ast.Shade((num(), num(), num()), SPAN) for _ in range(draw(st.integers(1, 3))))
        return ast.ColorDef(name(draw(names())), shades, num(), SPAN)
    if kind == "let":
        return ast.Let(name(draw(names())), expr(), SPAN)
    if kind == "def":
        params = tuple(ast.Param(name(draw(names())), name(draw(names())), SPAN) for _ in range(draw(st.integers(0, 3))))
        return ast.Def(name(draw(names())), params, name(draw(names())), expr(), SPAN)
    if kind == "subtask":
        return _subtask(draw, expr)
    if kind == "group":
        return ast.Group(name(draw(names())), draw(descriptions()), tuple(_subtask(draw, expr) for _ in range(draw(st.integers(1, 3)))), SPAN)
    if kind == "shaping":
        return ast.Shaping(num(), expr(), SPAN)
    signed = lambda: number(draw(literal_values()) * draw(st.sampled_from((1, -1))))  # noqa: E731
    return ast.Bounds(signed(), signed(), SPAN)


def _subtask(draw: Any, expr: Any) -> ast.Subtask:
    return ast.Subtask(name(draw(names())), draw(descriptions()), number(draw(literal_values())), expr(), SPAN)


@st.composite
def units(draw: Any, max_depth: int = MAX_DEPTH, max_items: int = 6) -> ast.Unit:
    """A whole file (program or module) the parser accepts; not necessarily well typed."""
    kind = draw(st.sampled_from(("program", "module")))
    items = tuple(draw(_items(max_depth)) for _ in range(draw(st.integers(0, max_items))))
    return ast.Unit(kind, name(draw(names())), draw(descriptions()), items, SPAN)


# ---- well-typed programs -----------------------------------------------------------------------

VALUE_TYPES = ("num", "bool", "point", "box", "region")
PARAM_TYPES = (*VALUE_TYPES, "color", "objects")
# What a built-in parameter kind accepts, as value types.
_KIND_TYPES = {"pos": ("point", "region"), "rect": ("box", "region")}


@cache
def minigrid_names() -> tuple[tuple[str, ...], dict[str, str], dict[str, tuple[tuple[str, ...], str]]]:
    """Colours, typed lets and helper signatures of `use minigrid`, read from the stdlib itself."""
    path = stdlib_path("minigrid")
    assert path is not None
    unit = parse_text(path.read_bytes(), str(path))
    items = _within_shade_cap(unit.items)
    colors = tuple(item.name.id for item in items if isinstance(item, ast.ColorDef))
    helpers = {
        item.name.id: (tuple(p.type_name.id for p in item.params), item.result_type.id)
        for item in items if isinstance(item, ast.Def)
    }
    lets = {item.name.id: _type_of_let(item.name.id) for item in items if isinstance(item, ast.Let)}
    return colors, lets, helpers


def _within_shade_cap(items: tuple[ast.Item, ...]) -> list[ast.Item]:
    """The stdlib items but the `*_shades` colours and what uses them: together with the rest of the
    palette they hold more shades than one program may use (max_shades), so a program drawing on
    every stdlib colour would be rightly refused (E110)."""
    dropped = {item.name.id for item in items if isinstance(item, ast.ColorDef) and item.name.id.endswith("_shades")}
    kept = []
    for item in items:
        if isinstance(item, ast.ColorDef) and item.name.id in dropped:
            continue
        if isinstance(item, (ast.Let, ast.Def)) and _names_in(item.value if isinstance(item, ast.Let) else item.body) & dropped:
            dropped.add(item.name.id)
            continue
        kept.append(item)
    return kept


def _names_in(expr: ast.Expr) -> set[str]:
    names: set[str] = set()
    stack: list[object] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            names.add(node.id)
        stack.extend(ast.children(node))
    return names


@cache
def latching_helpers() -> frozenset[str]:
    """The `use minigrid` helpers whose body uses start(...): never called where start is not allowed."""
    path = stdlib_path("minigrid")
    assert path is not None
    unit = parse_text(path.read_bytes(), str(path))
    return frozenset(item.name.id for item in unit.items if isinstance(item, ast.Def) and uses_start(item.body))


def _callable(scope: _Scope, type_: str, allow_start: bool) -> list[str]:
    """The helpers giving `type_` that may be called here."""
    return sorted(h for h, (_, result) in scope.helpers.items() if result == type_ and (allow_start or h not in latching_helpers()))


def _type_of_let(let: str) -> str:
    """The type of a stdlib let, found by which typed helper parameter accepts it."""
    from carc import check_text
    from carc.core.diagnostics import CarcError

    for type_ in PARAM_TYPES:
        probe = f'program p "" observe rgb use minigrid def probe(a: {type_}) -> bool = true subtask s "" bonus 1 : probe({let})'
        try:
            check_text(probe)
        except CarcError:
            continue
        return type_
    raise AssertionError(f"cannot type the minigrid let {let!r}")


class _Scope:
    """Names visible to generated expressions; `latched` lets hold start(...) values, which may not
    appear inside another start(...) (the checker refuses a latch that reads a latch)."""

    def __init__(self, values: dict[str, str], helpers: dict[str, tuple[tuple[str, ...], str]], colors: tuple[str, ...],
                 latched: frozenset[str] = frozenset()):
        self.values = values
        self.helpers = helpers
        self.colors = colors
        self.latched = latched

    def of_type(self, type_: str, in_start: bool = False) -> list[str]:
        return sorted(n for n, t in self.values.items() if t == type_ and not (in_start and n in self.latched))


def uses_start(expr: ast.Expr, latched: frozenset[str] = frozenset()) -> bool:
    """Whether an expression calls start(...) or names a let that does."""
    stack: list[object] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call) and node.func.id == "start" or isinstance(node, ast.Name) and node.id in latched:
            return True
        stack.extend(ast.children(node))
    return False


def _typed(draw: Any, type_: str, depth: int, scope: _Scope, allow_start: bool) -> ast.Expr:
    """A well-typed expression of `type_`, at most `depth` levels deep."""
    if type_ == "color":
        options = [*scope.colors, *scope.of_type("color")]
        return name(draw(st.sampled_from(options)))
    variables = scope.of_type(type_, in_start=not allow_start)
    if depth <= 1 or draw(st.integers(0, 3)) == 0:
        return _typed_leaf(draw, type_, scope, variables)
    choice = draw(st.sampled_from(_choices(type_, scope, variables, allow_start)))
    if choice == "builtin":
        return _typed_builtin(draw, type_, depth, scope, allow_start)
    if choice == "variable":
        return name(draw(st.sampled_from(variables)))
    return _typed_form(draw, choice, type_, depth, scope, allow_start)


def _choices(type_: str, scope: _Scope, variables: list[str], allow_start: bool) -> list[str]:
    """The kinds of expression that can have `type_` here (built-ins twice as likely)."""
    choices = ["builtin", "builtin"]
    if type_ in VALUE_TYPES:
        choices.append("if")
        if allow_start:
            choices.append("start")
    if variables:
        choices.append("variable")
    if _callable(scope, type_, allow_start):
        choices.append("helper")
    if type_ == "num":
        choices += ["arith", "negate"]
    if type_ == "bool":
        choices += ["logic", "not", "compare", "compare"]
    return choices


def _typed_form(draw: Any, choice: str, type_: str, depth: int, scope: _Scope, allow_start: bool) -> ast.Expr:
    """An expression of one syntactic form (not a built-in call or a variable)."""
    sub = lambda t: _typed(draw, t, depth - 1, scope, allow_start)  # noqa: E731
    if choice == "if":
        return ast.If(sub("bool"), sub(type_), sub(type_), SPAN)
    if choice == "start":
        return call("start", _typed(draw, type_, depth - 1, scope, allow_start=False))
    if choice == "helper":
        helper = draw(st.sampled_from(_callable(scope, type_, allow_start)))
        return call(helper, *(sub(t) for t in scope.helpers[helper][0]))
    if choice == "arith":
        level = draw(st.sampled_from(("+-", "*/")))
        operands = tuple(sub("num") for _ in range(draw(st.integers(2, 3))))
        return ast.Arith(operands, tuple(draw(st.sampled_from(level)) for _ in operands[1:]), SPAN)
    if choice == "negate":
        return ast.Negate(sub("num"), SPAN)
    if choice == "logic":
        return ast.Logic(draw(st.sampled_from(("and", "or"))), tuple(sub("bool") for _ in range(draw(st.integers(2, 3)))), SPAN)
    if choice == "not":
        return ast.Not(sub("bool"), SPAN)
    if choice == "compare":
        op = draw(st.sampled_from(COMPARE_OPS))
        operand = "num" if op in ORDER_OPS else draw(st.sampled_from(("num", "bool")))
        return ast.Compare(op, sub(operand), sub(operand), SPAN)
    raise AssertionError(f"unknown expression form {choice!r}")


def _typed_builtin(draw: Any, type_: str, depth: int, scope: _Scope, allow_start: bool) -> ast.Expr:
    candidates = sorted(f for f, (sig,) in BUILTINS.items() if sig.result == type_ and "any" not in sig.params)
    if not candidates:
        return _typed_leaf(draw, type_, scope, scope.of_type(type_, in_start=not allow_start))
    func = draw(st.sampled_from(candidates))
    args = []
    for kind in BUILTINS[func][0].params:
        arg_type = draw(st.sampled_from(_KIND_TYPES[kind])) if kind in _KIND_TYPES else kind
        args.append(_typed(draw, arg_type, depth - 1, scope, allow_start))
    return call(func, *args)


def _typed_leaf(draw: Any, type_: str, scope: _Scope, variables: list[str]) -> ast.Expr:
    if variables and draw(st.booleans()):
        return name(draw(st.sampled_from(variables)))
    color = lambda: name(draw(st.sampled_from(scope.colors)))  # noqa: E731
    small = lambda: number(draw(st.integers(0, 64)))  # noqa: E731
    if type_ == "num":
        return draw(st.one_of(literal_values().map(number), st.sampled_from(("frame_width", "frame_height", "tile")).map(call)))
    if type_ == "bool":
        return ast.Bool(draw(st.booleans()), SPAN)
    if type_ == "point":
        return call("point", small(), small())
    if type_ == "box":
        return call("box", small(), small(), small(), small())
    if type_ == "region":
        pick = draw(st.sampled_from(("pixels", "largest", "smallest")))
        return call(pick, color()) if pick == "pixels" else call(pick, call("objects", color()))
    if type_ == "objects":
        return call("objects", color())
    return color()


@st.composite
def well_typed_units(draw: Any, max_depth: int = 5) -> ast.Unit:
    """A program that `check_text` accepts: `use minigrid`, lets, helpers, sub-tasks, shaping, bounds."""
    colors, stdlib_lets, stdlib_helpers = minigrid_names()
    items: list[ast.Item] = [ast.Observe(name("rgb"), draw(st.none() | st.integers(1, 256).map(number)), SPAN), ast.Use(name("minigrid"), SPAN)]
    values = dict(stdlib_lets)
    helpers = dict(stdlib_helpers)
    # Helpers first: their bodies see their parameters, the stdlib and the colours.
    for i in range(draw(st.integers(0, 2))):
        params = tuple(draw(st.sampled_from(PARAM_TYPES)) for _ in range(draw(st.integers(0, 3))))
        result = draw(st.sampled_from((*VALUE_TYPES, "objects")))
        inner = _Scope({**stdlib_lets, **{f"p{j}": t for j, t in enumerate(params)}}, dict(stdlib_helpers), colors)
        body = _typed(draw, result, max_depth, inner, allow_start=False)
        items.append(ast.Def(name(f"h{i}"), tuple(ast.Param(name(f"p{j}"), name(t), SPAN) for j, t in enumerate(params)), name(result), body, SPAN))
        helpers[f"h{i}"] = (params, result)
    latched: frozenset[str] = frozenset()
    for i in range(draw(st.integers(0, 3))):
        type_ = draw(st.sampled_from((*VALUE_TYPES, "objects")))
        value = _typed(draw, type_, max_depth, _Scope(values, helpers, colors, latched), allow_start=True)
        items.append(ast.Let(name(f"v{i}"), value, SPAN))
        values[f"v{i}"] = type_
        if uses_start(value, latched):
            latched |= {f"v{i}"}
    scope = _Scope(values, helpers, colors, latched)
    bonus = lambda: number(draw(st.sampled_from((0, 0.1, 0.25, 0.5, 1, 2, 10))))  # noqa: E731
    predicate = lambda: _typed(draw, "bool", max_depth, scope, allow_start=True)  # noqa: E731
    count = 0
    for i in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 3)) == 0:
            members = []
            for _ in range(draw(st.integers(1, 3))):
                members.append(ast.Subtask(name(f"s{count}"), draw(descriptions()), bonus(), predicate(), SPAN))
                count += 1
            items.append(ast.Group(name(f"g{i}"), draw(descriptions()), tuple(members), SPAN))
        else:
            items.append(ast.Subtask(name(f"s{count}"), draw(descriptions()), bonus(), predicate(), SPAN))
            count += 1
    if draw(st.booleans()):
        gamma = number(draw(st.sampled_from((0.9, 0.99, 1.0, 0.5))))
        items.append(ast.Shaping(gamma, _typed(draw, "num", max_depth, scope, allow_start=True), SPAN))
    if draw(st.booleans()):
        low = draw(st.integers(-100, 0))
        high = low + draw(st.integers(1, 200))
        items.append(ast.Bounds(number(low), number(high), SPAN))
    return ast.Unit("program", name(draw(names())), draw(descriptions()), tuple(items), SPAN)


def well_typed_programs(max_depth: int = 5) -> st.SearchStrategy[str]:
    """The canonical text of well-typed programs."""
    return well_typed_units(max_depth).map(print_unit)
