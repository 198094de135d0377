"""Focused parser and input-gate tests where golden files are awkward: huge and deep inputs, every
reserved word, positions of every diagnostic, and random damage to valid programs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import well_typed_programs

from carc import check_text
from carc.core.diagnostics import CarcError, Diagnostic, Source
from carc.core.limits import LIMITS
from carc.lang import ast
from carc.lang.parser import RESERVED, parse_source, parse_text

ROOT = Path(__file__).resolve().parent.parent
HEAD = 'program p "d" observe rgb subtask s "d" bonus 1 : '


def _reject(text: str | bytes) -> CarcError:
    with pytest.raises(CarcError) as caught:
        parse_text(text, "t.car")
    _assert_positions(caught.value.diagnostics)
    return caught.value


def _assert_positions(diagnostics: list[Diagnostic]) -> None:
    assert diagnostics
    for d in diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1, d.render()
        assert d.span.line <= len(d.span.source.line_starts)
        assert 0 <= d.span.start <= max(d.span.end, d.span.start) <= len(d.span.source.text) + 1
        assert d.render().startswith(f"t.car:{d.span.line}:{d.span.column}: error[{d.code}]: ")


# ---- depth and size: quick carc errors, never a RecursionError ---------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "not " * 10_000 + "true",
        "(" * 10_000 + "1" + ")" * 10_000 + " > 0",
        "abs(" * 10_000 + "1" + ")" * 10_000 + " > 0",
        "-" * 10_000 + "1 > 0",
        "if " * 2_000 + "true" + " then true else false" * 2_000,
        "1 + (" * 5_000 + "1" + ")" * 5_000 + " > 0",
        "(((" * 3_000 + "true" + ") and true)" * 3_000 + ")" * 6_000,
    ],
    ids=["not", "parentheses", "calls", "negation", "if", "right-nested-sum", "mixed"],
)
def test_deep_nesting_is_rejected_quickly(expr: str) -> None:
    assert _reject(HEAD + expr).codes[0] in ("E105", "E106")


def test_depth_limit_is_exact() -> None:
    cap = int(LIMITS["max_depth"].cap)
    ok = HEAD + "not " * (cap - 1) + "true"
    parse_text(ok)
    assert _reject(HEAD + "not " * (cap + 1) + "true").codes == ["E106"]
    parse_text(HEAD + "(" * cap + "true" + ")" * cap)
    assert _reject(HEAD + "(" * (cap + 1) + "true" + ")" * (cap + 1)).codes == ["E106"]


def test_parentheses_in_strings_and_comments_do_not_count() -> None:
    deep = "(" * 200
    parse_text(f'program p "{deep}" # {deep}\nobserve rgb subtask s "{deep}" bonus 1 : true')


def test_100k_term_chain_is_rejected_by_size() -> None:
    assert _reject(HEAD + " + ".join(["1"] * 100_000) + " > 0").codes == ["E104"]


def test_long_chain_under_the_byte_cap_is_rejected_by_the_node_cap() -> None:
    text = HEAD + "+".join(["1"] * 20_000) + " > 0"
    assert len(text.encode()) <= LIMITS["max_bytes"].cap
    assert _reject(text).codes == ["E107"]


def test_tokens_are_counted_with_punctuation() -> None:
    # 5,000 numbers are under the node cap; with the 5,000 '+' they pass the token cap.
    assert _reject(HEAD + "+".join(["1"] * 5_000) + " > 0").codes == ["E105"]


def test_chain_below_the_caps_parses_flat() -> None:
    unit = parse_text(HEAD + " + ".join(["1"] * 2_000) + " > 0")
    compare = unit.items[1].predicate
    assert isinstance(compare, ast.Compare) and len(compare.left.operands) == 2_000


def test_100k_chain_without_the_gate_stops_at_the_node_cap() -> None:
    source = Source("t.car", HEAD + "+".join(["1"] * 100_000) + " > 0")
    with pytest.raises(CarcError) as caught:
        parse_source(source)
    assert caught.value.codes == ["E107"]


def test_one_megabyte_program() -> None:
    err = _reject(HEAD + "true" + " " * 1_000_000)
    assert err.codes == ["E104"]
    assert "1000" in err.diagnostics[0].message


def test_node_cap() -> None:
    text = 'program p "d" let x = max(' + ", ".join(["true"] * 9_000) + ")"
    assert _reject(text).codes == ["E107"]


# ---- input gate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "column"),
    [
        (b'program p "caf\xe9"', "E101", 15),
        (b"program p \"d\" let x = \xff", "E101", 23),
        ('program p "d" let caf\u00e9 = 1', "E102", 22),
        ('program p "d" # \u00e9', "E102", 17),
        ('program p "d \u202e"', "E103", 14),
        ('program p "d" let a\u200bb = 1', "E103", 20),
        ("\ufeffprogram p \"d\"", "E103", 1),
        ('program p "d" let x = 1\x00', "E103", 24),
        ('program p "d" let x = 1\x7f', "E103", 24),
        ('program p "d"\x1b', "E103", 14),
        ('program p "\ud800"', "E101", 12),
    ],
)
def test_gate(text: str | bytes, code: str, column: int) -> None:
    err = _reject(text)
    assert err.codes[0] == code
    assert err.diagnostics[0].span.column == column


def test_gate_allows_tabs_crlf_and_unicode_in_strings() -> None:
    unit = parse_text('program p "caf\u00e9 \u65e5\u672c"\r\n\tobserve\trgb\r\n')
    assert unit.description == "caf\u00e9 \u65e5\u672c"


def test_gate_reports_several_characters() -> None:
    err = _reject('program p "d" let \u00e9 = \u00e8\n')
    assert err.codes == ["E102", "E102"]


# ---- names and syntax errors -------------------------------------------------------------------


@pytest.mark.parametrize("word", sorted(RESERVED))
def test_reserved_words_are_not_names(word: str) -> None:
    texts = [f'program p "d" let {word} = 1', f'program p "d" def f({word}: num) -> num = 1', f'program p "d" use {word}']
    if word not in ("true", "false"):
        texts.append(f'program p "d" let x = {word}')
    for text in texts:
        err = _reject(text)
        assert all(code.startswith("E2") for code in err.codes), (text, err.codes)


def test_keywords_outside_reserved_are_names() -> None:
    unit = parse_text('program p "d" let rgb = tile() let tile_size = rgb')
    assert [i.name.id for i in unit.items] == ["rgb", "tile_size"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('program p "d" let __x = 1', "E210"),
        ('program p "d" let x = a.b', "E209"),
        ('program p "d" let x = "s', "E204"),
        ('program p "d" let x = a $ b', "E201"),
        ('program p "d" let x = )', "E202"),
        ('program p "d" let x =', "E203"),
        ("let x = 1", "E205"),
        ("", "E205"),
        ("   \n# only a comment\n", "E205"),
        ('program p "' + "x" * 201 + '"', "E113"),
        ('program p "d" let ' + "x" * 65 + " = 1", "E114"),
        ('program p "d" let x = 1e10', "E112"),
        ('program p "d" let x = 0.0000000001', "E112"),
        ('program p "d" let x = ' + "1" * 33, "E112"),
        ('program p "d" reward in [-1e10, 1]', "E112"),
        # lark's match_examples used to raise TypeError here (a debug message formatted with %d)
        ('program p "d" observe rgb let v = f(p[x)', "E202"),
    ],
)
def test_named_errors(text: str, code: str) -> None:
    assert _reject(text).codes[0] == code


@pytest.mark.parametrize(
    "prefix",
    ['program p "d"', 'program p "d" observe rgb use minigrid', 'program p "d" let a = 1 let b = 2 group g "g" {'],
)
def test_missing_bonus_and_single_equals_after_any_items(prefix: str) -> None:
    """Named errors must not depend on how many items (parser stack entries) come before them."""
    assert _reject(prefix + ' subtask s "d" : true').codes == ["E206"]
    assert _reject(prefix + ' subtask s "d" bonus 1 : a = b').codes == ["E207"]
    assert _reject(prefix + ' subtask s "d" bonus 1 : f(g(a = b))').codes == ["E207"]
    assert _reject(prefix + ' subtask s "d" bonus 1 : if a = b then true else false').codes == ["E207"]


def test_signed_bounds() -> None:
    unit = parse_text('program p "d" reward in [-1, 2.5]')
    bounds = unit.items[0]
    assert isinstance(bounds, ast.Bounds) and (bounds.low.value, bounds.high.value) == (-1.0, 2.5)
    assert bounds.low.span.column == 26  # the span of a negative bound starts at its '-'
    unit = parse_text('program p "d" reward in [0, 1]')
    assert (unit.items[0].low.value, unit.items[0].high.value) == (0.0, 1.0)


def test_spans_point_at_the_source() -> None:
    text = 'program p "d"\nobserve rgb\nsubtask s "d" bonus 1 :\n    exists(key) and\n    not   done\n'
    unit = parse_text(text)
    pred = unit.items[1].predicate
    assert (pred.span.line, pred.span.column) == (4, 5)
    assert (pred.operands[1].span.line, pred.operands[1].span.column) == (5, 5)
    assert (pred.operands[1].operand.span.line, pred.operands[1].operand.span.column) == (5, 11)
    assert pred.operands[0].func.span.text() == "exists"


def test_unexpected_end_points_after_the_last_character() -> None:
    err = _reject('program p "d"\nlet x =\n\n   \n')
    d = err.diagnostics[0]
    assert d.code == "E203" and (d.span.line, d.span.column) == (2, 8)


def test_error_fixtures_have_positions() -> None:
    for path in sorted((ROOT / "tests" / "fixtures" / "errors").glob("*.car")):
        with pytest.raises(CarcError) as caught:
            check_text(path.read_bytes(), "t.car")
        _assert_positions(caught.value.diagnostics)


# ---- random damage: a carc error with a position, or a program, never a traceback --------------

_EDIT_TEXT = st.sampled_from(list('()[]{}:=,.|#"-+*/<>! \n\t') + ["not", "if", "then", "else", "and", "1e", "0.", "__x",
                                                                   "\u00e9", "\u202e", "\x00", "rgb(", "start(", "tol"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(well_typed_programs(max_depth=3), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), _EDIT_TEXT), min_size=1, max_size=4))
def test_damaged_programs_fail_cleanly(text: str, edits: list[tuple[float, int, str]]) -> None:
    for where, cut, insert in edits:
        i = int(where * len(text))
        text = text[:i] + insert + text[i + cut:]
    try:
        check_text(text, "t.car")
    except CarcError as err:
        _assert_positions(err.diagnostics)
