"""The numba runtime of the kernel library: perception's generic step (the mask scan, over blocks of
repeated rows, which leaves each object colour's spans) and the connected components of the spans.
(A program's scalar measures, such as saturation and box extents, are written out in place by
carc.backend.scalar.)

This file is a real module (tests import it and call its functions) and the source of the runtime
part of the kernel library (carc.backend.library) and of every standalone kernel: carc.backend.template
copies its text from the RUNTIME line on, verbatim, after the module constants it writes itself
(KEY_BITS, MAX_COLORS, MAX_OBJECTS and SPAN_CURSORS among them, the same names with the same values
as imported below). The copied text passes carc.backend.srccheck's whitelist like everything else
generated, and needs only numpy and numba.
"""

import numpy as np
from numba import njit

from carc.backend.perception import KEY_BITS, MAX_COLORS, MAX_OBJECTS, SPAN_CURSORS
from carc.ir.nodes import BIG

SATURATION = BIG

# ---- RUNTIME: copied verbatim into every generated module from this line on ----

# A span (a run of one colour over a range of rows) packs (first row, last row, first column, last
# column) into one int64, KEY_BITS bits each.
SPAN_TOP_SHIFT = 3 * KEY_BITS
SPAN_BOTTOM_SHIFT = 2 * KEY_BITS
SPAN_FIRST_SHIFT = KEY_BITS
COORD_MASK = (1 << KEY_BITS) - 1
COLUMNS_MASK = (1 << 2 * KEY_BITS) - 1

# Lowest set bit of a 64-bit word: its index is _BIT[(d & -d) * _DEBRUIJN >> 58] (de Bruijn).
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT = (0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18,
        12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11, 46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19,
        9, 13, 8, 7, 6)


@njit(cache=True, error_model="numpy", _nrt=False)
def _block_end(m64, same, y, H, nw):
    # The last row of the block that starts at row y: the rows after it that repeat it in the
    # frame (same[y] == 1) or in the colour mask (their classified mask rows equal row y's), and the
    # xor of row y's mask words with the next block's first row's, or-ed together (0 at the frame's
    # end). A mask row is compared whole, with no early exit: LLVM vectorises that loop (a loop that
    # stops at the first difference stays scalar: 4.7 us against 1.2 us for a 256x256 frame's rows).
    wrow = m64[y * nw:(y + 1) * nw]
    y1 = y
    while y1 + 1 < H:
        if same[y1 + 1] != 1:
            nrow = m64[(y1 + 1) * nw:(y1 + 2) * nw]
            d = np.uint64(0)
            for k in range(nw):
                d |= nrow[k] ^ wrow[k]
            if d != 0:
                return y1, d
        y1 += 1
    return y1, np.uint64(0)


@njit(cache=True, error_model="numpy", _nrt=False)
def _lane_bits(d, lane_bits, lane_mask):
    # The bits set in any lane of the word d: the colours whose mask values differ somewhere.
    d |= d >> np.uint64(32)
    d |= d >> np.uint64(16)
    if lane_bits == 8:
        d |= d >> np.uint64(8)
    return np.int64(d & lane_mask)


@njit(cache=True, error_model="numpy", _nrt=False)
def _rect_sums(a, b, y0, y1):
    # Area, sum of x and sum of y over the rectangle of columns a..b, rows y0..y1: integers, exact.
    ln = b - a + 1
    k = y1 - y0 + 1
    return ln * k, ((a + b) * ln) // 2 * k, ln * (((y0 + y1) * k) // 2)


@njit(cache=True, error_model="numpy", _nrt=False)
def _add_run(fw, m, pix_at, a, b, y0, y1):
    # The rectangle of columns a..b, rows y0..y1 into the statistics (area, sum x, sum y, x0, y0,
    # x1, y1 at fw[pix_at[c]]) of each colour c in the bits m; integer sums, exact in float64.
    area, sx, sy = _rect_sums(a, b, y0, y1)
    c = 0
    while m != 0:
        if m & 1:
            o = pix_at[c]
            if fw[o] == 0.0:
                fw[o + 4] = float(y0)
            fw[o] += float(area)
            fw[o + 1] += float(sx)
            fw[o + 2] += float(sy)
            fw[o + 3] = min(fw[o + 3], float(a))
            fw[o + 5] = max(fw[o + 5], float(b))
            fw[o + 6] = float(y1)
        m >>= 1
        c += 1


@njit(cache=True, error_model="numpy", _nrt=False)
def _pixels_open(fw, pix, pix_at):
    for c in range(len(pix_at)):
        if (pix >> c) & 1:
            o = pix_at[c]
            fw[o] = 0.0
            fw[o + 1] = 0.0
            fw[o + 2] = 0.0
            fw[o + 3] = float(1 << 30)
            fw[o + 5] = -1.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _pixels_close(fw, pix, pix_at):
    # An empty region: 0, 0, 0, 0, 0, -1, -1.
    for c in range(len(pix_at)):
        if (pix >> c) & 1:
            o = pix_at[c]
            if fw[o] == 0.0:
                fw[o + 3] = 0.0
                fw[o + 4] = 0.0
                fw[o + 5] = -1.0
                fw[o + 6] = -1.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _low_bit(m):
    # The index of the lowest set bit of m != 0 (de Bruijn).
    d = np.uint64(m)
    return _BIT[((d & (~d + np.uint64(1))) * _DEBRUIJN) >> np.uint64(58)]


@njit(cache=True, error_model="numpy", _nrt=False)
def _add_span(iw, m, span_at, ib, cap, y0, y1, a, b):
    # The run of columns a..b over rows y0..y1 into the span table of each object colour in the bits
    # m (colour c's at iw[ib + span_at[c] * cap], its cursors at iw[SPAN_CURSORS + 3 * c]: spans so
    # far, the start of the last group kept, the start of this block's): it widens the colour's last
    # span when that one is this block's and ends at column a - 1 (adjacent runs of different mask
    # values that both hold the colour), else it is a new span.
    while m != 0:
        c = _low_bit(m)
        m &= m - 1
        k = SPAN_CURSORS + 3 * c
        t = ib + span_at[c] * cap
        nr = iw[k]
        if nr > iw[k + 2] and (iw[t + nr - 1] & COORD_MASK) + 1 == a:
            iw[t + nr - 1] = (iw[t + nr - 1] >> SPAN_FIRST_SHIFT << SPAN_FIRST_SHIFT) | b
        else:
            iw[t + nr] = (y0 << SPAN_TOP_SHIFT) | (y1 << SPAN_BOTTOM_SHIFT) | (a << SPAN_FIRST_SHIFT) | b
            iw[k] = nr + 1


@njit(cache=True, error_model="numpy", _nrt=False)
def _end_groups(iw, m, span_at, ib, cap, bottom, scanned):
    # The block ending on row `bottom` and each object colour in the bits m. Scanned: the block had
    # spans of the colour, so close its group (_close_group), which may grow the colour's spans of
    # the block above down. Not scanned: the colour's mask bits are those of the block above, which
    # had spans of it, so its runs are the same and its kept group (the block above's) grows down.
    while m != 0:
        c = _low_bit(m)
        m &= m - 1
        k = SPAN_CURSORS + 3 * c
        t = ib + span_at[c] * cap
        if scanned:
            iw[k], iw[k + 1], iw[k + 2] = _close_group(iw[t:t + cap], iw[k + 1], iw[k + 2], iw[k], bottom)
        else:
            _grow_down(iw[t:t + cap], iw[k + 1], iw[k + 2], bottom)


@njit(cache=True, error_model="numpy", _nrt=False)
def _scan(mk, same, H, Wr, pix, pix_at, obj, span_at, iw, ib, cap, fw):
    # One perception pass over the colour mask mk (uint8 or uint16, H rows of Wr cells, only rows
    # with same[y] != 1 classified): a block of rows that repeat the row above (in the frame, or in
    # the mask) has that row's runs, so each block is scanned once (its first row), a run standing
    # for a rectangle. pix / obj: the colour bits whose pixel statistics / objects this pass
    # computes. Colour c's pixel statistics go to fw[pix_at[c]]; an object colour's runs become the
    # maximal spans of its span table (_add_span: adjacent runs of a block merged, packed as (first
    # row, last row, first column, last column), in raster order; a block whose spans have the same
    # columns as those of the block just above takes no spans of its own: those grow down over its
    # rows, _close_group). An object colour with no pixel statistics whose mask bits in a block are
    # those of the block above is masked out of the block's scan: its spans of the block above grow
    # down (_end_groups), which spares the scan the runs of walls and grid lines in most blocks.
    # Runs are found a 64-bit word at a time: rows with no colour are skipped whole, and inside a
    # row only the lanes where the mask value changes are visited (the lowest by de Bruijn).
    lanes = 8 // mk.itemsize
    lane_bits = np.uint64(64 // lanes)
    lane_mask = np.uint64((1 << (64 // lanes)) - 1)
    lane_shift = 3 if lanes == 8 else 4
    low = np.uint64(0x7F7F7F7F7F7F7F7F) if lanes == 8 else np.uint64(0x7FFF7FFF7FFF7FFF)
    top = ~low
    m64 = mk.view(np.uint64)
    nw = Wr // lanes
    obj &= (1 << MAX_COLORS) - 1
    _pixels_open(fw, pix, pix_at)
    for k in range(SPAN_CURSORS, SPAN_CURSORS + 3 * MAX_COLORS):
        iw[k] = 0
    ones = np.uint64(0x0101010101010101) if lanes == 8 else np.uint64(0x0001000100010001)
    changed = np.int64(lane_mask)  # the first block: every colour
    live = 0  # the object colours with spans in the block above
    y = 0
    while y < H:
        y1, diff = _block_end(m64, same, y, H, nw)
        # an object colour whose mask bits are those of the block above (and which has no pixel
        # statistics to add up) is not scanned again: its spans grow down (walls and grid lines
        # repeat down most blocks whose other colours change)
        keep = changed | pix
        grow = obj & live & ~keep
        if grow != 0:
            _end_groups(iw, grow, span_at, ib, cap, y1, False)
        kept = (np.uint64(keep) & lane_mask) * ones
        wrow = m64[y * nw:(y + 1) * nw]
        prev = np.int64(0)
        start = 0
        spans = 0
        for i in range(nw + 1):
            # a zero word after the row ends its last run (rows are zero-padded from W to Wr)
            w = wrow[i] & kept if i < nw else np.uint64(0)
            d = w ^ ((w << lane_bits) | np.uint64(prev))
            # the top bit of each lane whose value changes: the loop's chain is then d &= d - 1
            d = (((d & low) + low) | d) & top
            while d != 0:
                j = _low_bit(d) >> lane_shift
                d &= d - np.uint64(1)
                sj = np.uint64(j) * lane_bits
                x = lanes * i + j
                # the run [start, x - 1] of mask value prev ends: a rectangle over rows y..y1
                p = prev & pix
                if p:
                    _add_run(fw, p, pix_at, start, x - 1, y, y1)
                o = prev & obj
                if o:
                    _add_span(iw, o, span_at, ib, cap, y, y1, start, x - 1)
                    spans |= o
                start = x
                prev = np.int64((w >> sj) & lane_mask)
        if spans != 0:
            _end_groups(iw, spans, span_at, ib, cap, y1, True)
        live = spans | grow
        changed = _lane_bits(diff, lane_bits, lane_mask)
        y = y1 + 1
    _pixels_close(fw, pix, pix_at)


@njit(cache=True, error_model="numpy", _nrt=False)
def _close_group(runs, g0, c0, nr, bottom):
    # The current block's spans runs[c0:nr] end: when the kept group runs[g0:c0] ends on the row
    # above and has the same columns, it grows down to `bottom` and the block's spans are dropped.
    # Returns (nr, g0, c0) for the next block.
    same = c0 > g0 and nr - c0 == c0 - g0 and (runs[g0] >> SPAN_BOTTOM_SHIFT) & COORD_MASK == (runs[c0] >> SPAN_TOP_SHIFT) - 1
    k = 0
    while same and k < nr - c0:
        same = runs[g0 + k] & COLUMNS_MASK == runs[c0 + k] & COLUMNS_MASK
        k += 1
    if not same:
        return nr, c0, nr
    _grow_down(runs, g0, c0, bottom)
    return c0, g0, c0


@njit(cache=True, error_model="numpy", _nrt=False)
def _grow_down(runs, g0, c0, bottom):
    # The spans runs[g0:c0] now end on row `bottom`.
    for k in range(g0, c0):
        runs[k] = (runs[k] & ~(COORD_MASK << SPAN_BOTTOM_SHIFT)) | (bottom << SPAN_BOTTOM_SHIFT)


@njit(cache=True, error_model="numpy", _nrt=False)
def _root(parent, p):
    while parent[p] != p:
        parent[p] = parent[parent[p]]
        p = parent[p]
    return p


@njit(cache=True, error_model="numpy", _nrt=False)
def _join(runs, parent, nr):
    # Union each span with the spans just above it that touch it, diagonals included (those whose
    # last row is the row above its first: spans come in groups of rows in raster order, so their
    # last rows never decrease); the root of a component is its earliest span (span r's root, an
    # earlier span once it touches one, is kept in p).
    j0 = 0
    for r in range(nr):
        e = runs[r]
        above = (e >> SPAN_TOP_SHIFT) - 1
        a = (e >> SPAN_FIRST_SHIFT) & COORD_MASK
        b = e & COORD_MASK
        while j0 < r and (runs[j0] >> SPAN_BOTTOM_SHIFT) & COORD_MASK < above:
            j0 += 1
        while j0 < r and (runs[j0] >> SPAN_BOTTOM_SHIFT) & COORD_MASK == above and (runs[j0] & COORD_MASK) + 1 < a:
            j0 += 1
        p = r
        j = j0
        while j < r and (runs[j] >> SPAN_BOTTOM_SHIFT) & COORD_MASK == above and (runs[j] >> SPAN_FIRST_SHIFT) & COORD_MASK <= b + 1:
            q = _root(parent, j)
            if q < p:
                if p != r:
                    parent[p] = q
                p = q
            elif p < q:
                parent[q] = p
            j += 1
        parent[r] = p


@njit(cache=True, error_model="numpy", _nrt=False)
def _add_object(fw, o, a0, a1, a2, a3, a5, a6):
    fw[o] += a0
    fw[o + 1] += a1
    fw[o + 2] += a2
    fw[o + 3] = min(fw[o + 3], a3)
    fw[o + 5] = max(fw[o + 5], a5)
    fw[o + 6] = max(fw[o + 6], a6)


@njit(cache=True, error_model="numpy", _nrt=False)
def _number(runs, parent, nr, fw, ob):
    # Number the components in raster order of their root span and add up each kept one's
    # statistics (a span stands for the rectangle over its rows; consecutive spans of one object
    # add up in a0..a6 first); runs[r] becomes span r's object number (-1: not kept). A span's parent
    # is an earlier span of its component (or itself, at the root), already numbered.
    n = 0
    q = -1
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    a5 = 0.0
    a6 = 0.0
    for r in range(nr):
        e = runs[r]
        y0 = e >> SPAN_TOP_SHIFT
        y1 = (e >> SPAN_BOTTOM_SHIFT) & COORD_MASK
        a = (e >> SPAN_FIRST_SHIFT) & COORD_MASK
        b = e & COORD_MASK
        p = parent[r]
        if p == r:
            if n < MAX_OBJECTS:
                o = ob + 7 * n
                fw[o] = 0.0
                fw[o + 1] = 0.0
                fw[o + 2] = 0.0
                fw[o + 3] = float(a)
                fw[o + 4] = float(y0)
                fw[o + 5] = float(b)
                fw[o + 6] = float(y1)
                runs[r] = n
                n += 1
            else:
                runs[r] = -1
        else:
            runs[r] = runs[p]
        s = runs[r]
        if s != q:
            if q >= 0:
                _add_object(fw, ob + 7 * q, a0, a1, a2, a3, a5, a6)
            q = s
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = float(a)
            a5 = float(b)
            a6 = float(y1)
        area, sx, sy = _rect_sums(a, b, y0, y1)
        a0 += float(area)
        a1 += float(sx)
        a2 += float(sy)
        a3 = min(a3, float(a))
        a5 = max(a5, float(b))
        a6 = max(a6, float(y1))
    if q >= 0:
        _add_object(fw, ob + 7 * q, a0, a1, a2, a3, a5, a6)
    return n


@njit("int64(int64[::1], int64, int64[::1], float64[::1], int64)", cache=True, error_model="numpy", _nrt=False)
def _objects(spans, nr, parent, fw, ob):
    # The 8-connected components of one colour, from its nr spans (_scan): each span joined to the
    # touching spans just above it (union-find, the earlier span is the root), then numbered in
    # raster order of their first pixel; the first MAX_OBJECTS get (area, sum x, sum y, x0, y0, x1,
    # y1) at fw[ob + 7 * n]. Returns how many were kept.
    _join(spans, parent, nr)
    return _number(spans, parent, nr, fw, ob)


@njit(cache=True, error_model="numpy", _nrt=False)
def _components(iw, obj, obj_at, count_at, span_at, ib, cap, parent, fw):
    # The objects of each colour in the bits obj, from the span tables _scan left: how many at
    # iw[count_at[c]], their statistics from fw[obj_at[c]].
    m = obj & ((1 << MAX_COLORS) - 1)
    while m != 0:
        c = _low_bit(m)
        m &= m - 1
        t = ib + span_at[c] * cap
        iw[count_at[c]] = _objects(iw[t:t + cap], iw[SPAN_CURSORS + 3 * c], parent, fw, obj_at[c])
