"""The classifier's colour test (carc.backend.boxes): merging a colour's shade boxes keeps exactly
their union, and the factored expression holds exactly on it, checked against the interpreter's
colour test at every pixel where the answer can change (every box edge and one past it, in all
combinations: between them nothing changes, so this is exhaustive), for random colours and for
every colour of the stdlib."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carc import ir
from carc.api import check_text
from carc.backend.boxes import expression, merge, shade_box, shade_boxes
from carc.interpreter import color_mask

CHANNEL = st.integers(0, 255)
SHADES = st.lists(st.tuples(CHANNEL, CHANNEL, CHANNEL), min_size=1, max_size=8)


def critical_frame(boxes: list[tuple[tuple[int, int], ...]]) -> np.ndarray:
    """Every pixel whose channels are each a box edge, one past an edge, 0 or 255: a 1-row frame."""
    values = [sorted({0, 255} | {v for box in boxes for v in (box[k][0] - 1, box[k][0], box[k][1], box[k][1] + 1) if 0 <= v <= 255})
              for k in range(3)]
    return np.array([list(itertools.product(*values))], np.uint8)


def evaluate(text: str, frame: np.ndarray) -> np.ndarray:
    """The expression on a frame's pixels, with numpy arrays for r, g and b (a test's own text)."""
    r, g, b = (frame[..., k].astype(np.int64) for k in range(3))
    value = eval(text, {"r": r, "g": g, "b": b, "True": True, "False": False})  # noqa: S307 - carc's own expression
    return np.broadcast_to(np.asarray(value, bool), frame.shape[:2])


def colour(shades: list[tuple[int, int, int]], tolerance: int) -> ir.Color:
    return ir.Color("c", tuple(tuple(float(v) for v in s) for s in shades), float(tolerance))


@settings(max_examples=200, deadline=None)
@given(SHADES, st.integers(0, 60))
def test_the_factored_expression_of_merged_boxes_is_the_interpreters_colour_test(shades: list[tuple[int, int, int]], tol: int) -> None:
    color = colour(shades, tol)
    unmerged = [shade_box(s, tol) for s in shades]
    boxes = shade_boxes(color.shades, color.tolerance)
    assert len(boxes) <= len(set(unmerged))
    frame = critical_frame(unmerged)
    assert np.array_equal(evaluate(expression(boxes), frame), color_mask(frame, color))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.tuples(CHANNEL, CHANNEL).map(sorted).map(tuple)] * 3), min_size=1, max_size=6))
def test_merging_keeps_the_union_of_any_boxes(boxes: list[tuple[tuple[int, int], ...]]) -> None:
    merged = merge(boxes)  # type: ignore[arg-type]
    frame = critical_frame(boxes)
    pixels = frame[0].astype(np.int64)

    def inside(some: list[tuple[tuple[int, int], ...]]) -> np.ndarray:
        return np.any([np.all([(pixels[:, k] >= box[k][0]) & (pixels[:, k] <= box[k][1]) for k in range(3)], axis=0) for box in some], axis=0)

    assert np.array_equal(inside(merged), inside(boxes))
    assert merged == sorted(set(merged))


def test_a_colour_that_matches_everything_or_nothing() -> None:
    assert expression(shade_boxes([(0.0, 0.0, 0.0)], 255.0)) == "True"
    assert expression([]) == "False"


def test_shades_that_touch_are_one_box() -> None:
    # MiniGrid's lit red shades at tolerance 30: r in 106..166, 165..225 and 225..255 touch
    assert shade_boxes([(255.0, 76.0, 76.0), (195.0, 76.0, 76.0), (136.0, 76.0, 76.0)], 30.0) == [((106, 255), (46, 106), (46, 106))]


STDLIB_COLORS = re.findall(r"^color (\w+)", (Path(__file__).parent.parent / "stdlib" / "minigrid.car").read_text(), re.M)


@pytest.mark.parametrize("name", STDLIB_COLORS)
def test_every_stdlib_colour(name: str) -> None:
    program = check_text(f'program p "{name}"\nobserve rgb\nuse minigrid\nsubtask a "a" bonus 1 : area(pixels({name})) > 0\n', "p.car")
    color = program.colors[0]
    boxes = shade_boxes(color.shades, color.tolerance)
    frame = critical_frame([shade_box(s, color.tolerance) for s in color.shades])
    assert np.array_equal(evaluate(expression(boxes), frame), color_mask(frame, color))


def test_the_most_shades_a_program_may_have_factor_into_an_expression_python_parses() -> None:
    # 64 shades (the limit per program) in pairs that share one test each, none shared wider: the
    # longest chain of factored terms, still far inside Python's 200 nested parentheses. Checked
    # on every pixel within 2 of a shade in each channel.
    shades = [(8 * k, 8 * k + 4 * side, 255 - 8 * k) for k in range(32) for side in range(2)]
    color = colour(shades, 1)
    boxes = shade_boxes(color.shades, color.tolerance)
    text = expression(boxes)
    depth = max(text[:i].count("(") - text[:i].count(")") for i in range(len(text)))
    assert len(boxes) == 64 and depth < 100
    near = np.array([[min(255, max(0, v + d)) for v, d in zip(s, offset)] for s in shades
                     for offset in itertools.product(range(-2, 3), repeat=3)], np.uint8)[None]
    assert np.array_equal(evaluate(text, near), color_mask(near, color))
