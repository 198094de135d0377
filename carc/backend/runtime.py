"""The numba runtime every generated kernel shares: saturation, defined divisions, box measures,
distances and the connected components of recorded runs.

This file is a real module (tests import it and call its functions) and the source of the runtime
part of every generated module: the code generator copies its text from the RUNTIME line on,
verbatim, after the module constants it writes itself (SATURATION, KEY_BITS and MAX_OBJECTS, the
same names with the same values as below). The copied text passes carc.backend.srccheck's
whitelist like everything else generated, and needs only math, numpy and numba.
"""

import math

import numpy as np
from numba import njit

from carc.core.limits import LIMITS, MAX_SIDE
from carc.ir.nodes import BIG

SATURATION = BIG
KEY_BITS = (MAX_SIDE - 1).bit_length()
MAX_OBJECTS = int(LIMITS["max_objects"].cap)

# ---- RUNTIME: copied verbatim into every generated module from this line on ----

# A recorded run packs (row, first column, last column, mask value) into one int64, with
# KEY_BITS bits per coordinate and the mask value in the low 16 bits.
RUN_ROW_SHIFT = 2 * KEY_BITS + 16
RUN_FIRST_SHIFT = KEY_BITS + 16
RUN_LAST_SHIFT = 16
# A span (a run of one colour) packs (row, first column, last column).
SPAN_ROW_SHIFT = 2 * KEY_BITS
SPAN_FIRST_SHIFT = KEY_BITS
COORD_MASK = (1 << KEY_BITS) - 1

@njit(cache=True, error_model="numpy")
def _sat(x):
    x = -SATURATION if -SATURATION > x else x
    return SATURATION if SATURATION < x else x


@njit(cache=True, error_model="numpy")
def _floor(x):
    return np.floor(x) + 0.0


@njit(cache=True, error_model="numpy")
def _per(x, t):
    return x / t if t > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def _extent(lo, hi):
    w = hi - lo + 1.0
    return _sat(w) if w > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def _fill(area, x0, y0, x1, y1):
    cover = _extent(x0, x1) * _extent(y0, y1)
    return _sat(area / cover) if cover > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def _aspect(x0, y0, x1, y1):
    h = _extent(y0, y1)
    return _sat(_extent(x0, x1) / h) if h > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def _spans(vr, bit, runs):
    # The maximal spans of the colour `bit` (adjacent recorded runs merged) into runs, packed as
    # (row, first column, last column); returns how many.
    nr = 0
    for i in range(vr.shape[0]):
        e = vr[i]
        if e & bit:
            y = e >> RUN_ROW_SHIFT
            a = (e >> RUN_FIRST_SHIFT) & COORD_MASK
            b = (e >> RUN_LAST_SHIFT) & COORD_MASK
            if nr > 0 and runs[nr - 1] >> SPAN_ROW_SHIFT == y and (runs[nr - 1] & COORD_MASK) + 1 == a:
                runs[nr - 1] = (runs[nr - 1] >> SPAN_FIRST_SHIFT << SPAN_FIRST_SHIFT) | b
            else:
                runs[nr] = (y << SPAN_ROW_SHIFT) | (a << SPAN_FIRST_SHIFT) | b
                nr += 1
    return nr


@njit(cache=True, error_model="numpy")
def _root(parent, p):
    while parent[p] != p:
        parent[p] = parent[parent[p]]
        p = parent[p]
    return p


@njit(cache=True, error_model="numpy")
def _join(runs, parent, nr):
    # Union each span with the spans of the row above that touch it, diagonals included.
    j0 = 0
    for r in range(nr):
        parent[r] = r
        e = runs[r]
        y = e >> SPAN_ROW_SHIFT
        a = (e >> SPAN_FIRST_SHIFT) & COORD_MASK
        b = e & COORD_MASK
        while runs[j0] >> SPAN_ROW_SHIFT < y - 1:
            j0 += 1
        while j0 < r and runs[j0] >> SPAN_ROW_SHIFT == y - 1 and (runs[j0] & COORD_MASK) + 1 < a:
            j0 += 1
        j = j0
        while j < r and runs[j] >> SPAN_ROW_SHIFT == y - 1 and (runs[j] >> SPAN_FIRST_SHIFT) & COORD_MASK <= b + 1:
            p = _root(parent, r)
            q = _root(parent, j)
            if p < q:
                parent[q] = p
            elif q < p:
                parent[p] = q
            j += 1


@njit(cache=True, error_model="numpy")
def _number(runs, parent, nr, fw, ob):
    # Number the components in raster order of their root span and add up each kept one's
    # statistics; runs[r] becomes span r's object number (-1: not kept).
    n = 0
    for r in range(nr):
        e = runs[r]
        y = e >> SPAN_ROW_SHIFT
        a = (e >> SPAN_FIRST_SHIFT) & COORD_MASK
        b = e & COORD_MASK
        p = _root(parent, r)
        if p == r:
            if n < MAX_OBJECTS:
                o = ob + 7 * n
                fw[o] = 0.0
                fw[o + 1] = 0.0
                fw[o + 2] = 0.0
                fw[o + 3] = float(a)
                fw[o + 4] = float(y)
                fw[o + 5] = float(b)
                fw[o + 6] = float(y)
                runs[r] = n
                n += 1
            else:
                runs[r] = -1
        else:
            runs[r] = runs[p]
        s = runs[r]
        if s >= 0:
            o = ob + 7 * s
            ln = b - a + 1
            fw[o] += float(ln)
            fw[o + 1] += float(((a + b) * ln) // 2)
            fw[o + 2] += float(y * ln)
            if a < fw[o + 3]:
                fw[o + 3] = float(a)
            if b > fw[o + 5]:
                fw[o + 5] = float(b)
            if y > fw[o + 6]:
                fw[o + 6] = float(y)
    return n


@njit("int64(int64[::1], int64, int64[::1], int64[::1], float64[::1], int64)", cache=True, error_model="numpy")
def _objects(vr, bit, runs, parent, fw, ob):
    # The 8-connected components of one colour, from the recorded runs (raster order): maximal
    # spans of the colour, joined to touching spans of the row above (union-find, the earlier
    # span is the root), then numbered in raster order of their first pixel; the first MAX_OBJECTS
    # get (area, sum x, sum y, x0, y0, x1, y1) at fw[ob + 7 * n]. Returns how many were kept.
    nr = _spans(vr, bit, runs)
    _join(runs, parent, nr)
    return _number(runs, parent, nr, fw, ob)


@njit(cache=True, error_model="numpy")
def _distance(ax, ay, bx, by):
    dx = ax - bx
    dy = ay - by
    return _sat(math.sqrt(dx * dx + dy * dy))
