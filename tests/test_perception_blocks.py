"""Perception over blocks of repeated rows: a costly classifier marks exactly the rows equal to the
row above (and classifies only the segments of the others that differ), and kernels that scan a
block of equal rows once (its runs standing for rectangles, joined to the block above) equal the
reference interpreter bit for bit on frames made of repeated row blocks: objects spanning many
blocks, touching only diagonally across a block boundary, rows that differ in the frame but not in
the colour mask, rows wider than a segment that differ in some segments only, more objects than are
kept.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from test_kernel import PROFILE, assert_equivalent, kernel_of, palette_of, program_of

from carc.backend import header
from carc.backend.codegen import MAX_SEGMENTS, ROW_REPEAT_SHADES, SEGMENT
from carc.core.limits import MAX_SIDE
from carc.interpreter import MAX_OBJECTS, color_mask, objects_of

BLOCK_PROGRAMS = ["objects", "regions", "many", "example:unlock", "example:doorkey"]


def block_frame(rng: np.random.Generator, palette: np.ndarray, h: int, w: int) -> np.ndarray:
    """A frame of row blocks: each block repeats one row 1 to 6 times, and each row is the one above
    with a segment repainted (so objects run on across blocks, grow, shrink and touch diagonally)."""
    frame = np.empty((h, w, 3), np.uint8)
    row = palette[rng.integers(len(palette), size=w)] if rng.random() < 0.3 else np.repeat(palette[rng.integers(len(palette))][None], w, 0)
    y = 0
    while y < h:
        for _ in range(int(rng.integers(0, 3))):
            a = int(rng.integers(0, max(w, 1)))
            row = row.copy()
            row[a:a + int(rng.integers(1, 5))] = palette[rng.integers(len(palette))]
        k = int(rng.integers(1, 7))
        frame[y:y + k] = row
        y += k
    return frame


@st.composite
def block_episodes(draw: st.DrawFn, name: str) -> tuple[list[np.ndarray], float | None]:
    h = draw(st.integers(0, 24))
    w = draw(st.integers(0, 20))
    n = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    tile = draw(st.sampled_from([None, 2.0, 3.0, 8.0]))
    rng = np.random.default_rng(seed)
    return [block_frame(rng, palette_of(name), h, w) for _ in range(n)], tile


WIDE = [2 * SEGMENT + 8, 3 * SEGMENT, 3 * SEGMENT + 5, 4 * SEGMENT + 16]


@st.composite
def wide_block_episodes(draw: st.DrawFn, name: str, widths: list[int] = WIDE) -> tuple[list[np.ndarray], float | None]:
    """Rows of several segments (whole 64-bit words, or not), each block changing a few of them."""
    h = draw(st.integers(1, 10))
    w = draw(st.sampled_from(widths))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return [block_frame(rng, palette_of(name), h, w) for _ in range(draw(st.integers(2, 3)))], draw(st.sampled_from([None, 8.0]))


@cache
def step_classifier(name: str) -> Callable[..., int]:
    """The step classifier of a compiled example, callable from Python (it has no Python wrapper itself)."""
    classify = kernel_of(name).module._classify_step_rows

    @njit
    def call(f: np.ndarray, mk: np.ndarray, same: np.ndarray, h: int, w: int, wr: int) -> int:
        return classify(f, mk, same, h, w, wr)  # type: ignore[no-any-return]

    return call  # type: ignore[no-any-return]


def test_unlock_takes_the_row_comparing_classifier() -> None:
    assert sum(len(c.shades) for c in program_of("example:unlock").colors) > ROW_REPEAT_SHADES


@settings(PROFILE)
@given(st.integers(0, 12), st.sampled_from([0, 1, 5, 8, 16, 88, 2 * SEGMENT, 2 * SEGMENT + 3, 2 * SEGMENT + 8, 3 * SEGMENT, 5 * SEGMENT + 40, 5 * SEGMENT + 43,
                                                 MAX_SEGMENTS * SEGMENT + 5, (MAX_SEGMENTS + 1) * SEGMENT, (MAX_SEGMENTS + 1) * SEGMENT + 1]),
       st.integers(0, 2**32 - 1))
def test_a_costly_classifier_marks_the_rows_equal_to_the_row_above(h: int, w: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 3, (h, w, 3), dtype=np.uint8)
    for y in range(1, h):
        if rng.random() < 0.5:
            frame[y] = frame[y - 1]
        elif rng.random() < 0.5 and w > 0:
            frame[y] = frame[y - 1]
            frame[y, int(rng.integers(w))] += 1
    lanes = int(kernel_of("example:unlock").module._HEAD[header.HEAD_LANES])
    wr = (w + lanes - 1) // lanes * lanes
    same = np.full(h, 7, np.int64)
    step_classifier("example:unlock")(frame.reshape(-1), np.zeros(h * wr, np.uint8), same, h, w, wr)
    wide = 2 * SEGMENT < w < (MAX_SEGMENTS + 1) * SEGMENT
    compared = wide or ((3 * w) % 8 == 0 and w > 0)  # wide rows by bytes, others by 64-bit words
    expected = [0] + [int(compared and np.array_equal(frame[y], frame[y - 1])) for y in range(1, h)]
    assert same.tolist() == expected[:h]


@pytest.mark.parametrize("name", ["example:unlock", "example:keycorridor"])
def test_a_costly_classifier_writes_the_interpreters_colour_bits_into_every_row_it_does_not_mark(name: str) -> None:
    """Classified segments and those taken from the last classified row alike, over a mask that
    still holds another frame's bits; the padding after each row stays zero."""
    head = kernel_of(name).module._HEAD
    at = int(head[header.HEAD_STEP_PASS])
    bits = int(head[at + header.PASS_PIX]) | int(head[at + header.PASS_OBJ])
    colors = [c for c in range(len(program_of(name).colors)) if (bits >> c) & 1]
    lanes = int(head[header.HEAD_LANES])
    dtype = np.uint8 if int(head[header.HEAD_MASK_BYTES]) == 1 else np.uint16

    @settings(PROFILE, max_examples=40)
    @given(wide_block_episodes(name, [*WIDE, MAX_SEGMENTS * SEGMENT, MAX_SEGMENTS * SEGMENT + 5, MAX_SIDE - 5, MAX_SIDE]))
    def check(episode: tuple[list[np.ndarray], float | None]) -> None:
        frames, _ = episode
        h, w = frames[0].shape[:2]
        wr = (w + lanes - 1) // lanes * lanes
        mask = np.zeros(h * wr, dtype)
        same = np.zeros(h, np.int64)
        for frame in frames:
            step_classifier(name)(frame.reshape(-1), mask.view(np.uint8), same, h, w, wr)
        expected = sum(color_mask(frames[-1], program_of(name).colors[c]).astype(np.int64) << c for c in colors)
        rows = mask.reshape(h, wr)
        for y in range(h):
            if same[y] == 0:
                assert rows[y, :w].tolist() == expected[y].tolist(), f"row {y}"
            assert not rows[y, w:].any(), f"padding of row {y}"

    check()


@pytest.mark.parametrize("name", BLOCK_PROGRAMS)
def test_kernel_equals_interpreter_on_frames_of_repeated_row_blocks(name: str) -> None:
    @settings(PROFILE)
    @given(block_episodes(name))
    def check(episode: tuple[list[np.ndarray], float | None]) -> None:
        frames, tile = episode
        assert_equivalent(name, frames, tile)

    check()


@pytest.mark.parametrize("name", ["example:unlock", "example:keycorridor"])
def test_kernel_equals_interpreter_on_rows_wider_than_a_segment(name: str) -> None:
    @settings(PROFILE, max_examples=40)
    @given(wide_block_episodes(name))
    def check(episode: tuple[list[np.ndarray], float | None]) -> None:
        frames, tile = episode
        assert_equivalent(name, frames, tile)

    check()


def _paint(rows: list[str], colors: dict[str, tuple[int, int, int]], repeat: int) -> np.ndarray:
    """A frame from a picture: one character per pixel, each picture row repeated `repeat` times."""
    picture = np.array([[colors[ch] for ch in row] for row in rows], np.uint8)
    return np.repeat(picture, repeat, axis=0)


BLUE = {".": (0, 0, 0), "b": (0, 0, 255), "B": (60, 60, 255), "y": (255, 255, 0)}


@pytest.mark.parametrize("repeat", [1, 3])
def test_objects_across_blocks(repeat: int) -> None:
    # A staircase joined only through diagonal corners, a U whose arms meet below (numbered by its
    # first pixel), a bar in two shades of blue (the frame rows differ, the mask rows do not), and
    # two separate yellow blocks.
    rows = [
        "b.......b.b..",
        ".b......b.b.y",
        "..b.....bbb..",
        "..b..........",
        "...BbBbB....y",
        "...bBbBb....y",
    ]
    frame = _paint(rows, BLUE, repeat)
    program = program_of("objects")
    blue, yellow = ([c for c in program.colors if c.name == name][0] for name in ("blue", "yellow"))
    stairs, u = objects_of(color_mask(frame, blue))
    assert (stairs[3], stairs[4], stairs[5], stairs[6]) == (0.0, 0.0, 7.0, 6.0 * repeat - 1)
    assert (u[0], u[3], u[4], u[5], u[6]) == (7.0 * repeat, 8.0, 0.0, 10.0, 3.0 * repeat - 1)
    assert len(objects_of(color_mask(frame, yellow))) == 2
    assert_equivalent("objects", [frame, frame[::-1].copy(), frame[:, ::-1].copy()], 5.0)


def test_more_objects_than_kept_in_repeated_blocks() -> None:
    # Rows of isolated blue dots, each row repeated: more objects than MAX_OBJECTS, so only the
    # first in raster order of their first pixel are kept.
    dots = ["b." * 10, ".." * 10]
    frame = _paint(dots * ((MAX_OBJECTS // 10) + 2), BLUE, 2)
    assert (frame[:, :, 2] == 255).sum() // 2 > MAX_OBJECTS
    assert_equivalent("objects", [frame, frame[1:].copy()], 5.0)


@pytest.mark.parametrize("name", ["objects", "example:keycorridor"])
@pytest.mark.parametrize(("h", "w"), [(1, 1), (2, 1), (7, 9), (24, 33), (5, 2 * SEGMENT + 3), (6, 40)])
def test_span_tables_hold_a_checkerboard_of_every_object_colour(name: str, h: int, w: int) -> None:
    # A colour's span table holds H * ((W + 1) // 2) spans: a checkerboard comes close (every row
    # a block of its own, half its pixels single-pixel spans, their columns shifting from row to row
    # so that no block's spans grow down), in one object colour at a time and in all of them.
    program = program_of(name)
    shades = [np.array(program.colors[c].shades[0], np.uint8) for c in program.object_colors]
    board = (np.add.outer(np.arange(h), np.arange(w)) % 2 == 0)[:, :, None]
    frames = [np.where(board, shade, np.zeros(3, np.uint8)).astype(np.uint8) for shade in shades]
    cycled = np.array([shades[y % len(shades)] for y in range(h)], np.uint8)[:, None, :]
    frames.append(np.where(board, cycled, np.zeros(3, np.uint8)).astype(np.uint8))
    assert_equivalent(name, [frames[-1], *frames, frames[0]], 5.0)


# `objects`: blue walls, yellow and grey dots (and `all`, every pixel, which never changes); `many`:
# red walls (an object colour with pixel statistics too), green and yellow dots.
WALL_PICTURES = {
    "objects": {**BLUE, "w": (128, 128, 128)},
    "many": {".": (0, 0, 0), "b": (255, 0, 0), "B": (255, 76, 76), "y": (0, 255, 0), "w": (255, 255, 0)},
}


@pytest.mark.parametrize("repeat", [1, 2])
@pytest.mark.parametrize("name", sorted(WALL_PICTURES))
def test_an_object_colour_that_repeats_down_blocks_where_other_colours_change(name: str, repeat: int) -> None:
    # Walls keep their columns down blocks whose other colours change (dots that move, a stretch
    # of wall in the colour's other shade, the same colour bit): the scan grows the walls' spans of
    # the block above down over those blocks instead of scanning them again, and scans the walls
    # again where their columns change, also back to columns they had further up. Each frame is
    # also a first frame, so the latched objects are compared too.
    rows = [
        "b.b.b.b.b.b",
        "by..b...b.b",
        "b.y.B.w.b.b",
        "b..yB.w.b.b",
        "b...b...b.b",
        "bbbbb...b.b",
        "b...b.y.b..",
        "b...b..yb..",
        "b...b...b..",
        "b.b.b.b.b.b",
        "b.byb.b.b.b",
    ]
    frame = _paint(rows, WALL_PICTURES[name], repeat)
    frames = [frame, frame[::-1].copy(), frame[:, ::-1].copy(), frame[1:].copy()]
    for k in range(len(frames)):
        assert_equivalent(name, frames[k:] + frames[:k], 5.0)
