"""Perception over blocks of repeated rows: the runtime's ``_rows_same`` marks exactly the rows equal
to the row above, and kernels that scan a block of equal rows once (its runs standing for
rectangles, joined to the block above) equal the reference interpreter bit for bit on frames made
of repeated row blocks: objects spanning many blocks, touching only diagonally across a block
boundary, rows that differ in the frame but not in the colour mask, more objects than are kept.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kernel import PROFILE, assert_equivalent, palette_of, program_of

from carc.backend import runtime
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


@settings(PROFILE)
@given(st.integers(0, 12), st.integers(0, 12), st.integers(0, 2**32 - 1))
def test_rows_same_marks_the_rows_equal_to_the_row_above(h: int, w: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 3, (h, w, 3), dtype=np.uint8)
    for y in range(1, h):
        if rng.random() < 0.5:
            frame[y] = frame[y - 1]
    same = np.full(h, 7, np.int64)
    runtime._rows_same(frame, same, h, w)
    expected = [0] + [int(np.array_equal(frame[y], frame[y - 1])) for y in range(1, h)]
    assert same.tolist() == expected[:h]


@pytest.mark.parametrize("name", BLOCK_PROGRAMS)
def test_kernel_equals_interpreter_on_frames_of_repeated_row_blocks(name: str) -> None:
    @settings(PROFILE)
    @given(block_episodes(name))
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
