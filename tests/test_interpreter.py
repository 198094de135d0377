"""The interpreter's connected components (numpy row runs + union-find, no scipy) are
scipy.ndimage.label's 8-connected components, numbered in raster order of their first pixel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carc.interpreter import MAX_OBJECTS, components, objects_of, region_of


def _by_scipy(mask: np.ndarray) -> list[tuple[float, ...]]:
    ndimage = pytest.importorskip("scipy.ndimage")
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    out = []
    for k in range(1, count + 1):
        ys, xs = np.nonzero(labels == k)
        out.append(region_of(ys, xs))
    return out


masks = st.tuples(st.integers(0, 12), st.integers(0, 12), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1)).map(
    lambda t: np.random.default_rng(t[3]).random((t[0], t[1])) < t[2])


@settings(max_examples=300, deadline=None)
@given(masks)
def test_components_equal_scipy_label(mask: np.ndarray) -> None:
    assert components(mask) == _by_scipy(mask)


def test_objects_keep_the_first_max_objects_in_raster_order() -> None:
    board = np.indices((17, 17)).sum(axis=0) % 4 == 0  # isolated diagonal dots touch: 8-connected lines
    dots = np.zeros((20, 40), bool)
    dots[::2, ::2] = True  # 200 isolated pixels
    kept = objects_of(dots)
    assert len(kept) == MAX_OBJECTS
    assert [(r[3], r[4]) for r in kept] == [(float(x), 0.0) for x in range(0, 40, 2)] + [(float(x), 2.0) for x in range(0, 2 * (MAX_OBJECTS - 20), 2)]
    assert len(components(board)) == len(_by_scipy(board))


def test_empty_masks_have_no_objects() -> None:
    assert components(np.zeros((0, 5), bool)) == []
    assert components(np.zeros((3, 3), bool)) == []
