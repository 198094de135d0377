"""Checks of the arguments every reward machine (compiled kernel, reference interpreter) takes at its
boundary: a wrong type is a TypeError that says what was expected, a wrong value a ValueError.

>>> new_state_args(2, 8)
(2, 8.0)
>>> new_state_args(1, "8")
Traceback (most recent call last):
...
TypeError: new_state expects tile as a number of pixels or None, not str
"""

from __future__ import annotations

import math
import numbers

from carc.core.limits import LIMITS

MAX_STATES = 1 << 24  # environments in one state array


def new_state_args(n: object, tile: object) -> tuple[int, float | None]:
    """``n`` (a whole number of environments, 0 to MAX_STATES) and ``tile`` (None, or pixels from 1 to the
    tile cap), checked and normalised to ``(int, float | None)``."""
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"new_state expects n as an int (the number of environments), not {type(n).__name__}")
    if not 0 <= int(n) <= MAX_STATES:
        raise ValueError(f"new_state expects n from 0 to {MAX_STATES}, not {n}")
    if tile is None:
        return int(n), None
    if not isinstance(tile, numbers.Real) or isinstance(tile, bool):
        raise TypeError(f"new_state expects tile as a number of pixels or None, not {type(tile).__name__}")
    cap = LIMITS["max_tile"].cap
    if not (math.isfinite(float(tile)) and 1 <= float(tile) <= cap):
        raise ValueError(f"new_state expects tile from 1 to {cap:g} pixels, not {tile!r}")
    return int(n), float(tile)
