"""The built-in functions of the language: signatures, overloads and the IR op each becomes.

Parameter kinds beyond the value types: `pos` takes a point, or a region (its centre); `rect`
takes a box, or a region (its bounding box); `any` takes any value type. A boolean relation whose
operand was a region is false when that region is empty (the object is absent).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    params: tuple[str, ...]
    result: str
    op: str
    doc: str


def _sig(params: str, result: str, op: str, doc: str) -> Signature:
    return Signature(tuple(params.split()) if params else (), result, op, doc)


BUILTINS: dict[str, tuple[Signature, ...]] = {
    # perception
    "pixels": (_sig("color", "region", "pixels", "all pixels of a colour, as one region"),),
    "objects": (_sig("color", "objects", "objects", "the connected objects (8-connected) of a colour"),),
    "largest": (_sig("objects", "region", "largest", "the object with the most pixels (empty if none)"),),
    "smallest": (_sig("objects", "region", "smallest", "the object with the fewest pixels (empty if none)"),),
    "count": (_sig("objects", "num", "count", "how many objects"),),
    "area_between": (_sig("objects num num", "objects", "filter_area", "objects with lo <= area <= hi"),),
    "fill_between": (_sig("objects num num", "objects", "filter_fill", "objects with lo <= fill <= hi"),),
    "aspect_between": (_sig("objects num num", "objects", "filter_aspect", "objects with lo <= width/height <= hi"),),
    # regions
    "exists": (_sig("region", "bool", "exists", "the region has at least one pixel"),),
    "area": (_sig("region", "num", "area", "number of pixels"),),
    "center": (_sig("region", "point", "center", "mean pixel position (0, 0 if empty)"),),
    "bbox": (_sig("region", "box", "bbox", "bounding box"),),
    "fill": (_sig("region", "num", "fill", "area / bounding-box area (0 if empty)"),),
    "width": (_sig("rect", "num", "width", "width in pixels"),),
    "height": (_sig("rect", "num", "height", "height in pixels"),),
    "aspect": (_sig("rect", "num", "aspect", "width / height (0 if empty)"),),
    # points and boxes
    "point": (_sig("num num", "point", "point", "a point (x, y) in pixels"),),
    "box": (_sig("num num num num", "box", "box", "a box (x0, y0, x1, y1), inclusive"),),
    "x": (_sig("pos", "num", "x", "x coordinate"),),
    "y": (_sig("pos", "num", "y", "y coordinate"),),
    # geometry
    "distance": (_sig("pos pos", "num", "distance", "Euclidean distance in pixels"),),
    "manhattan": (_sig("pos pos", "num", "manhattan", "|dx| + |dy| in pixels"),),
    "left_of": (_sig("pos pos", "bool", "left_of", "a is left of b"),),
    "right_of": (_sig("pos pos", "bool", "right_of", "a is right of b"),),
    "above": (_sig("pos pos", "bool", "above", "a is above b (smaller y)"),),
    "below": (_sig("pos pos", "bool", "below", "a is below b (larger y)"),),
    "near": (_sig("pos pos num", "bool", "near", "distance(a, b) <= d"),),
    "inside": (_sig("pos rect", "bool", "inside", "point (or centre) lies within the box"),),
    "contains": (_sig("rect rect", "bool", "contains", "box a contains box b"),),
    "overlaps": (_sig("rect rect", "bool", "overlaps", "the boxes intersect"),),
    # frame and grid
    "frame_width": (_sig("", "num", "frame_width", "frame width in pixels"),),
    "frame_height": (_sig("", "num", "frame_height", "frame height in pixels"),),
    "tile": (_sig("", "num", "tile", "grid tile size in pixels (observe ... tile N, or set per env)"),),
    "cell": (_sig("pos", "point", "cell", "grid cell (column, row) of a position"),),
    "cells": (_sig("num", "num", "cells", "a pixel length in tiles"),),
    "same_cell": (_sig("pos pos", "bool", "same_cell", "both positions are in one grid cell"),),
    # arithmetic
    "abs": (_sig("num", "num", "abs", "absolute value"),),
    "min": (_sig("num num", "num", "min", "smaller of two"),),
    "max": (_sig("num num", "num", "max", "larger of two"),),
    "clamp": (_sig("num num num", "num", "clamp", "x limited to [lo, hi]"),),
    "sqrt": (_sig("num", "num", "sqrt", "square root (0 for negatives)"),),
    "floor": (_sig("num", "num", "floor", "round down"),),
    # memory
    "start": (_sig("any", "any", "start", "the value on the episode's first frame"),),
}

TYPE_NAMES = ("num", "bool", "point", "box", "region", "objects", "color")
