"""The language does what its one table (carc/ir/ops.py, shown in the README and docs/language.md)
says: values on an empty region, fill and aspect, box edges, `if` on every value type, helpers
without parameters, `start` of an absent object, and names that shadow a built-in."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carc import ir
from carc.core.diagnostics import CarcError
from carc.interpreter import Interpreter
from carc.lang.builtins import BUILTINS
from carc.lang.checker import check_text

HEADER = 'program p "d" observe rgb tile 4 color red = rgb(255, 0, 0) tol 10 color blue = rgb(0, 0, 255) tol 10\n'
USE = {"num": "v == v", "bool": "v", "point": "distance(v, v) == 0", "box": "contains(v, v)", "region": "exists(v)"}
EMPTY = "pixels(red)"  # absent on every frame these tests draw without red


def value_of(expr: str, frame: np.ndarray, type_: str, first: np.ndarray | None = None, lets: str = "") -> object:
    """The value of `expr` (of `type_`) on `frame`, after a reset on `first` (default: the same frame)."""
    program = check_text(f"{HEADER}{lets}\nlet v = {expr}\nsubtask s \"s\" bonus 1 : {USE[type_]}")
    node = program.subtasks[0].predicate
    for _ in range({"num": 1, "bool": 0, "point": 2, "box": 1, "region": 1}[type_]):
        node = program.nodes[node].args[0]
    interpreter = Interpreter(program)
    state = interpreter.new_state(1)
    interpreter.reset(frame if first is None else first, state[0])
    return interpreter.evaluate(frame, state[0])[node]


def black(h: int = 12, w: int = 16) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def with_red(frame: np.ndarray, ys: slice, xs: slice) -> np.ndarray:
    out = frame.copy()
    out[ys, xs] = (255, 0, 0)
    return out


# ---- the table's empty-region column, checked built-in by built-in -----------------------------

ARGUMENT = {"region": EMPTY, "pos": EMPTY, "rect": EMPTY, "any": EMPTY, "num": "3", "color": "red", "objects": "objects(red)"}


def _literal(text: str) -> object:
    """'false' -> False, '0' -> 0.0, '(0, 0, -1, -1)' -> (0.0, 0.0, -1.0, -1.0)."""
    if text in ("false", "true"):
        return text == "true"
    if text.startswith("("):
        return tuple(float(v) for v in text.strip("()").split(","))
    return float(text)


GIVES = [(name, sig) for name, (sig,) in BUILTINS.items() if sig.empty.startswith("an empty region gives ")]


@pytest.mark.parametrize("name, sig", GIVES, ids=[name for name, _ in GIVES])
def test_a_builtin_gives_what_the_table_says_on_an_empty_region(name: str, sig: object) -> None:
    expected = _literal(re.match(r"an empty region gives (false|-?\d+|\([^)]*\))", sig.empty).group(1))  # type: ignore[attr-defined, union-attr]
    call = f"{name}({', '.join(ARGUMENT[k] for k in sig.params)})"  # type: ignore[attr-defined]
    assert value_of(call, black(), sig.result) == expected  # type: ignore[attr-defined]


def test_every_builtin_that_can_take_a_region_says_what_an_empty_one_gives() -> None:
    regional = {"region", "pos", "rect", "any", "objects", "color"}
    for name, (sig,) in BUILTINS.items():
        assert sig.meaning and sig.doc.startswith(sig.meaning), name
        assert bool(sig.empty) == bool(regional & set(sig.params)) or name.endswith("_between"), name
        assert len(sig.names) == len(sig.params), name


def test_objects_of_an_absent_colour() -> None:
    assert value_of("count(objects(red))", black(), "num") == 0.0
    assert value_of("area(largest(objects(red)))", black(), "num") == 0.0
    assert value_of("area(smallest(area_between(objects(red), 0, 100)))", black(), "num") == 0.0


def test_distance_to_an_absent_object_is_from_the_top_left_corner() -> None:
    assert value_of(f"distance({EMPTY}, point(3, 4))", black(), "num") == 5.0
    assert value_of(f"manhattan(point(3, 4), {EMPTY})", black(), "num") == 7.0
    assert value_of(f"near({EMPTY}, point(0, 0), 100)", black(), "bool") is False  # a relation: false
    assert value_of("near(point(0, 0), point(0, 0), 100)", black(), "bool") is True


def test_start_of_an_object_absent_on_the_first_frame_stays_empty() -> None:
    later = with_red(black(), slice(2, 4), slice(2, 6))
    assert value_of(f"area(start({EMPTY}))", later, "num", first=black()) == 0.0
    assert value_of(f"start(center({EMPTY}))", later, "point", first=black()) == (0.0, 0.0)
    assert value_of(f"area({EMPTY})", later, "num", first=black()) == 8.0
    assert value_of(f"area(start({EMPTY}))", black(), "num", first=later) == 8.0


# ---- fill, aspect and the box edges -------------------------------------------------------------


def test_fill_is_area_over_bounding_box_area_and_aspect_is_width_over_height() -> None:
    rectangle = with_red(black(), slice(2, 4), slice(1, 5))  # 4 wide, 2 tall, filled
    assert value_of("fill(pixels(red))", rectangle, "num") == 1.0
    assert value_of("aspect(pixels(red))", rectangle, "num") == 2.0
    assert value_of("aspect(box(0, 0, 1, 3))", rectangle, "num") == 0.5
    triangle = black()
    for row in range(4):
        triangle[row, : row + 1] = (255, 0, 0)  # 1 + 2 + 3 + 4 = 10 pixels in a 4x4 box
    assert value_of("fill(pixels(red))", triangle, "num") == 10 / 16
    assert value_of("aspect(box(0, 3, 5, 2))", triangle, "num") == 0.0  # height 0


def test_edges_of_a_region_and_of_a_box() -> None:
    frame = with_red(black(), slice(3, 6), slice(2, 9))
    assert [value_of(f"{edge}(pixels(red))", frame, "num") for edge in ("left", "top", "right", "bottom")] == [2, 3, 8, 5]
    assert [value_of(f"{edge}(box(1, 2, 7, 9))", frame, "num") for edge in ("left", "top", "right", "bottom")] == [1, 2, 7, 9]
    assert value_of("right(pixels(red)) - left(pixels(red)) + 1 == width(pixels(red))", frame, "bool") is True


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 15)), min_size=1, max_size=30))
def test_edges_are_the_extreme_pixels(pixels: list[tuple[int, int]]) -> None:
    frame = black()
    for y, x in pixels:
        frame[y, x] = (255, 0, 0)
    ys, xs = [y for y, _ in pixels], [x for _, x in pixels]
    got = value_of("point(left(pixels(red)) + 100 * top(pixels(red)), right(pixels(red)) + 100 * bottom(pixels(red)))", frame, "point")
    assert got == (min(xs) + 100 * min(ys), max(xs) + 100 * max(ys))


def test_edges_have_exact_intervals() -> None:
    from carc.ir.intervals import node_intervals

    program = check_text(f"{HEADER}subtask s \"s\" bonus 1 : left(box(1, 2, 3, 4)) + bottom(box(1, 2, 3, 4)) == 5")
    assert node_intervals(program)[-2] == [(5.0, 5.0)]


# ---- if, helpers without parameters -------------------------------------------------------------


@pytest.mark.parametrize("then, orelse, type_", [
    ("pixels(red)", "pixels(blue)", "region"), ("center(pixels(red))", "point(1, 2)", "point"),
    ("bbox(pixels(red))", "box(0, 0, 1, 1)", "box"), ("1", "2", "num"), ("true", "false", "bool"),
])
def test_if_returns_any_value_type(then: str, orelse: str, type_: str) -> None:
    frame = with_red(black(), slice(0, 2), slice(0, 2))
    chosen = value_of(f"if exists(pixels(red)) then {then} else {orelse}", frame, type_)
    assert chosen == value_of(then, frame, type_)
    assert value_of(f"if exists(pixels(red)) then {orelse} else {then}", black(), type_) == value_of(then, black(), type_)


@pytest.mark.parametrize("then, orelse", [("objects(red)", "objects(blue)"), ("red", "blue")])
def test_if_refuses_objects_and_colours(then: str, orelse: str) -> None:
    with pytest.raises(CarcError, match="E401"):
        check_text(f"{HEADER}let v = if true then {then} else {orelse}\nsubtask s \"s\" bonus 1 : true")


def test_a_helper_may_take_no_parameters() -> None:
    lets = "def seen() -> bool = exists(pixels(red))\ndef spot() -> point = center(pixels(red))"
    frame = with_red(black(), slice(2, 4), slice(2, 4))
    assert value_of("seen() and x(spot()) == 2.5", frame, "bool", lets=lets) is True
    with pytest.raises(CarcError, match="seen takes 0 arguments, not 1"):
        check_text(f"{HEADER}{lets}\nsubtask s \"s\" bonus 1 : seen(1)")


# ---- names that shadow a built-in ---------------------------------------------------------------


def _errors(body: str) -> list[str]:
    try:
        check_text(f"{HEADER}{body}")
    except CarcError as error:
        return [f"{d.code} {d.message}" for d in error.diagnostics]
    return []


def test_values_may_take_the_names_of_builtins_they_do_not_call() -> None:
    body = ("let box = largest(objects(red))\nlet point = center(box)\nlet center = 3\nlet left = x(point)\n"
            "color top = rgb(0, 255, 0) tol 5\ndef f(area: num, bbox: region) -> num = area + width(bbox)\n"
            "subtask s \"s\" bonus 1 : exists(box) and left > center and f(1, pixels(top)) > 0")
    assert _errors(body) == []
    frame = with_red(black(), slice(1, 3), slice(4, 8))
    assert value_of("x(point) + left", frame, "num", lets="let box = largest(objects(red))\nlet point = center(box)\nlet left = x(point)") == 11.0


def test_calling_a_hidden_builtin_is_an_error_at_the_call() -> None:
    assert _errors("let box = pixels(red)\nsubtask s \"s\" bonus 1 : inside(box, box(0, 0, 3, 3))") == [
        "E401 'box' here is a value defined at line 2, which hides the built-in box(...)"]
    assert _errors("def f(center: region) -> point = center(center)\nsubtask s \"s\" bonus 1 : x(f(pixels(red))) > 0") == [
        "E401 'center' here is a parameter of this helper, which hides the built-in center(...)"]
    assert _errors("let start = 1\nsubtask s \"s\" bonus 1 : start(area(pixels(red))) > start") == [
        "E401 'start' here is a value defined at line 2, which hides the built-in start(...)"]


def test_a_helper_defined_before_the_hiding_value_still_calls_the_builtin() -> None:
    body = "def corner() -> box = box(0, 0, 3, 3)\nlet box = pixels(red)\nsubtask s \"s\" bonus 1 : inside(box, corner())"
    assert _errors(body) == []


def test_a_helper_may_not_take_a_builtins_name() -> None:
    assert _errors("def area(r: region) -> num = 3\nsubtask s \"s\" bonus 1 : true") == [
        "E302 'area' is a built-in function and cannot be redefined"]


def test_a_hidden_builtin_name_used_bare_is_the_value() -> None:
    program = check_text(f"{HEADER}let area = 5\nsubtask s \"s\" bonus 1 : area > 4")
    assert [n.op for n in program.nodes] == [ir.Op.CONST, ir.Op.CONST, ir.Op.GT]
