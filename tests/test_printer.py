"""The canonical printer: round trip (`parse(print(u)) == u`) and idempotence, on every fixture,
stdlib module and example, and on random ASTs over every syntax form (tests/strategies.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import SPAN, call, expressions, name, number, units

from carc.core.diagnostics import CarcError
from carc.lang import ast
from carc.lang.parser import parse_text
from carc.lang.printer import format_number, print_expr, print_unit

ROOT = Path(__file__).resolve().parent.parent


def _parsable_files() -> list[Path]:
    files = [
        *sorted((ROOT / "stdlib").glob("*.car")),
        *sorted((ROOT / "examples").rglob("*.car")),
        *sorted((ROOT / "tests" / "fixtures" / "parse").glob("*.car")),
        *sorted((ROOT / "tests" / "fixtures" / "check").glob("*.car")),
    ]
    for path in sorted((ROOT / "tests" / "fixtures" / "errors").glob("*.car")):
        try:
            parse_text(path.read_bytes(), path.name)
        except CarcError:
            continue  # a syntax or gate error: nothing to print
        files.append(path)
    return files


def _assert_round_trip(unit: ast.Unit) -> str:
    text = print_unit(unit)
    again = parse_text(text, "<printed>")
    assert again == unit, text
    assert print_unit(again) == text, "printing is not idempotent"
    return text


@pytest.mark.parametrize("path", _parsable_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_round_trip_files(path: Path) -> None:
    _assert_round_trip(parse_text(path.read_bytes(), path.name))


@pytest.mark.parametrize("path", [p for p in _parsable_files() if p.parent.name == "errors"], ids=lambda p: p.stem)
def test_printed_error_fixture_reports_the_same_codes(path: Path) -> None:
    """Printing keeps meaning: a program that parses gets the same checker errors once printed."""
    from carc import check_text

    unit = parse_text(path.read_bytes(), path.name)
    with pytest.raises(CarcError) as original:
        check_text(path.read_bytes(), path.name)
    with pytest.raises(CarcError) as printed:
        check_text(print_unit(unit), "<printed>")
    assert sorted(printed.value.codes) == sorted(original.value.codes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(units())
def test_round_trip_random_units(unit: ast.Unit) -> None:
    _assert_round_trip(unit)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_round_trip_random_expressions(expr: ast.Expr) -> None:
    unit = ast.Unit("program", name("p"), "", (ast.Let(name("x"), expr, SPAN),), SPAN)
    _assert_round_trip(unit)


# ---- parentheses: exactly where the grammar needs them ----------------------------------------


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        ("((a))", "a"),
        ("a + (b - c)", "a + (b - c)"),
        ("(a + b) - c", "(a + b) - c"),
        ("a + b - c", "a + b - c"),
        ("a * (b + c)", "a * (b + c)"),
        ("(a * b) + c", "a * b + c"),
        ("-(a)", "-a"),
        ("-(-a)", "--a"),
        ("-(a * b)", "-(a * b)"),
        ("(-a) * b", "-a * b"),
        ("-f(x)", "-f(x)"),
        ("not (not p)", "not not p"),
        ("not (a < b)", "not a < b"),
        ("(not p) and q", "not p and q"),
        ("not (p and q)", "not (p and q)"),
        ("p or (q and r)", "p or q and r"),
        ("(p or q) and r", "(p or q) and r"),
        ("(p or q) or r", "(p or q) or r"),
        ("p and (q and r)", "p and (q and r)"),
        ("(a < b) == (c < d)", "(a < b) == (c < d)"),
        ("(a + b) < (c * d)", "a + b < c * d"),
        ("(if p then a else b) + 1", "(if p then a else b) + 1"),
        ("if p then a else (b + 1)", "if p then a else b + 1"),
        ("if (if p then q else r) then a else b", "if if p then q else r then a else b"),
        ("not (if p then q else r)", "not (if p then q else r)"),
        ("f((a), (b or c), (if p then 1 else 2))", "f(a, b or c, if p then 1 else 2)"),
        ("a - -b", "a - -b"),
        ("a-1", "a - 1"),
    ],
)
def test_minimal_parentheses(source: str, canonical: str) -> None:
    unit = parse_text(f'program p "d" let x = {source}')
    assert print_expr(unit.items[0].value) == canonical
    _assert_round_trip(unit)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"), (1.0, "1"), (42.0, "42"), (0.5, "0.5"), (1e-05, "1e-05"), (1e-09, "1e-09"),
        (1e9, "1000000000"), (1e16, "1e+16"), (0.1, "0.1"), (123456789.123456789, "123456789.12345679"),
        (1.5e-07, "1.5e-07"), (-2.0, "-2"), (-0.0, "0"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize("value", [1e-05, 1e-09, 1.5e-07, 0.1, 0.3333333333333333, 123456789.12345679, 2.5e-06, 1e9])
def test_numbers_read_back_exactly(value: float) -> None:
    unit = parse_text(f'program p "d" let x = {format_number(value)}')
    assert unit.items[0].value.value == value


def test_negative_bounds_print_signed() -> None:
    unit = parse_text('program p "d" reward in [-1.5, -0.25]')
    assert print_unit(unit).splitlines()[1] == "reward in [-1.5, -0.25]"
    _assert_round_trip(unit)


def test_group_is_indented() -> None:
    unit = parse_text('program p "d" group g "both" { subtask a "a" bonus 1 : true subtask b "b" bonus 1 : false }')
    assert print_unit(unit) == (
        'program p "d"\n'
        'group g "both" {\n'
        '    subtask a "a" bonus 1 : true\n'
        '    subtask b "b" bonus 1 : false\n'
        "}\n"
    )


def test_printer_refuses_what_the_grammar_cannot_write() -> None:
    with pytest.raises(ValueError):
        print_expr(number(-1))
    with pytest.raises(ValueError):
        print_unit(ast.Unit("program", name("p"), 'say "hi"', (), SPAN))
    with pytest.raises(ValueError):
        print_expr(number(float("nan")))
    assert print_expr(ast.Negate(number(1), SPAN)) == "-1"
    assert print_expr(call("f")) == "f()"
