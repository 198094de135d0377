"""The module template: what every kernel holds besides its program's code.

The runtime (carc/backend/runtime.py) and the library (carc/backend/library.py), both real modules,
are copied verbatim from their RUNTIME / LIBRARY lines; ``library_module_source`` is the library as
the kernel cache compiles it once per carc version. The entry points below are plain Python,
identical for every program: they check input, own the scratch buffer (whose header they fill with
the program's ``_HEAD`` table) and call the library's ``@njit`` functions.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from carc import ir
from carc.backend import header
from carc.backend.perception import KEY_BITS, MAX_COLORS, MAX_OBJECTS, REGION, SPAN_CURSORS
from carc.core.limits import LIMITS, MAX_SIDE
from carc.ir.layout import DONE, PREVIOUS_POTENTIAL, PROGRESS, TILE

RUNTIME_MARKER = "# ---- RUNTIME:"
LIBRARY_MARKER = "# ---- LIBRARY:"
LIBRARY_ENTRIES = ("_one", "_many")  # what a program's module calls


def _text_after(file: str, marker: str) -> str:
    text = (Path(__file__).parent / file).read_text(encoding="ascii")
    return text[text.index(marker):].split("\n", 1)[1]


@cache
def runtime_source() -> str:
    """The runtime's text as generated modules hold it (read from the file, never imported here)."""
    return _text_after("runtime.py", RUNTIME_MARKER)


@cache
def library_source() -> str:
    """The library's text as kernels hold it (read from the file, never imported here)."""
    return _text_after("library.py", LIBRARY_MARKER)


def library_constants() -> list[str]:
    """The module constants the runtime's and the library's texts use (the same names and values as carc's)."""
    names = {"SATURATION": float(ir.BIG), "KEY_BITS": KEY_BITS, "MAX_OBJECTS": MAX_OBJECTS, "MAX_SIDE": MAX_SIDE,
             "MAX_COLORS": MAX_COLORS, "REGION": REGION, "SPAN_CURSORS": SPAN_CURSORS, "PROGRESS": PROGRESS, "PREVIOUS_POTENTIAL": PREVIOUS_POTENTIAL, "DONE": DONE,
             "TILE": TILE, "MAX_TILE": int(LIMITS["max_tile"].cap),
             **header.HEAD_NAMES}
    return [f"{name} = {value!r}" for name, value in sorted(names.items())]


@cache
def library_module_source() -> str:
    """The library module the kernel cache compiles once per carc version: constants, the address
    links of carc.backend.linkage, the runtime's text, then the library's."""
    lines = ['"""The carc kernel library (generated from carc/backend/library.py). Do not edit."""', "",
             "import math", "", "import numpy as np", "from numba import njit", "",
             "from carc.backend.linkage import _as_words, _classify_link, _program_link", "", *library_constants(), ""]
    return "\n".join(lines) + "\n" + runtime_source() + "\n\n" + library_source()


# The plain-Python entry points (identical for every program; they only check input and own scratch).
ENTRY_POINTS = '''
def _scratch(h, w):
    o0 = 8 * _HEAD.shape[0]
    e0 = o0 + 8 * (NSUB + 1)
    size = e0 + 8 * (REGION + FLOAT_SLOTS + INT_BASE + RUN_TABLES * h * ((w + 1) // 2) + h) + MASK_BYTES * h * (((w + LANES - 1) // LANES) * LANES)
    sc = np.zeros(size, np.uint8)
    sc[0:o0] = _HEAD.view(np.uint8)
    sc[e0:e0 + 8 * REGION] = np.array(EMPTY, np.float64).view(np.uint8)
    return sc


_SC = _scratch(0, 0)
_NO_REWARDS = np.zeros(0, np.float64)  # what a batch reset passes for the rewards and events it does not write
_NO_EVENTS = np.zeros(0, np.int64)


def _grow(h, w):
    global _SC
    bigger = _scratch(h, w)
    if bigger.shape[0] <= _SC.shape[0]:
        raise ValueError("internal error: the scratch buffer does not fit the frame")
    _SC = bigger


def _frame(frame, ndim):
    if not isinstance(frame, np.ndarray):
        raise ValueError("frames are uint8 arrays of shape (H, W, 3), got a non-array: " + repr(frame)[:80])
    if frame.dtype != np.uint8 or frame.ndim != ndim or frame.shape[ndim - 1] != 3:
        raise ValueError("frames are uint8 arrays of shape (H, W, 3), got " + str(frame.dtype) + " " + str(frame.shape))
    if frame.shape[ndim - 3] > MAX_SIDE or frame.shape[ndim - 2] > MAX_SIDE:
        raise ValueError("frame " + str(frame.shape) + " is larger than " + str(MAX_SIDE) + " pixels on a side")
    if not frame.flags.c_contiguous or not frame.flags.writeable:
        frame = np.array(frame, dtype=np.uint8, order="C")
    return frame


def _array(value, what, dtype, ndim):
    if not isinstance(value, np.ndarray) or value.dtype != dtype or value.ndim != ndim:
        raise ValueError(what + " must be a " + str(ndim) + "-d " + str(np.dtype(dtype)) + " array")
    if not value.flags.writeable:
        raise ValueError(what + " must be writeable")


def _fail(code, shape, nstate):
    if code == -2:
        raise ValueError("frames are uint8 arrays of shape (H, W, 3) with sides at most " + str(MAX_SIDE) + ", got " + str(shape))
    if code == -3:
        raise ValueError("a state row has " + str(NSTATE) + " slots, got " + str(nstate) + " (use new_state)")
    if code == -5:
        raise ValueError("frames, states, rewards_out and events_out must have the same length")
    if code == -6:
        raise ValueError("a state row's tile (slot 2) must be from 1 to " + str(MAX_TILE) + " pixels (use new_state)")
    _grow(shape[-3], shape[-2])


def new_state(n=1, tile=None):
    """An (n, NSTATE) float64 state array for n environments; tile: grid cell size, 1 to MAX_TILE pixels."""
    if tile is not None and not 1 <= tile <= MAX_TILE:
        raise ValueError("tile must be a size from 1 to " + str(MAX_TILE) + " pixels, not " + repr(tile))
    state = np.zeros((n, NSTATE), np.float64)
    state[:, 2] = DEFAULT_TILE if tile is None else tile
    return state


def step(frame, state):
    """Reward for arriving at frame, and the last sub-task completed (-1 if none)."""
    try:
        result = _one(0, frame, state, _SC)
    except TypeError:
        frame = _frame(frame, 3)
        _array(state, "a state row", np.float64, 1)
        result = _one(0, frame, state, _SC)
    while result[1] < -1:
        _fail(result[1], frame.shape, state.shape[0])
        result = _one(0, frame, state, _SC)
    return result


def reset(frame, state):
    """Start an episode on frame: progress, latched values and the shaping potential."""
    try:
        code = _one(1, frame, state, _SC)[1]
    except TypeError:
        frame = _frame(frame, 3)
        _array(state, "a state row", np.float64, 1)
        code = _one(1, frame, state, _SC)[1]
    while code < 0:
        _fail(code, frame.shape, state.shape[0])
        code = _one(1, frame, state, _SC)[1]


def step_batch(frames, states, rewards_out, events_out):
    """step for N environments in one call: frames (N, H, W, 3), states (N, NSTATE)."""
    try:
        code = _many(0, frames, states, rewards_out, events_out, _SC)
    except TypeError:
        frames = _frame(frames, 4)
        _array(states, "states", np.float64, 2)
        _array(rewards_out, "rewards_out", np.float64, 1)
        _array(events_out, "events_out", np.int64, 1)
        code = _many(0, frames, states, rewards_out, events_out, _SC)
    while code < 0:
        _fail(code, frames.shape, states.shape[-1])
        code = _many(0, frames, states, rewards_out, events_out, _SC)


def reset_batch(frames, states):
    """reset for N environments in one call."""
    try:
        code = _many(1, frames, states, _NO_REWARDS, _NO_EVENTS, _SC)
    except TypeError:
        frames = _frame(frames, 4)
        _array(states, "states", np.float64, 2)
        code = _many(1, frames, states, _NO_REWARDS, _NO_EVENTS, _SC)
    while code < 0:
        _fail(code, frames.shape, states.shape[-1])
        code = _many(1, frames, states, _NO_REWARDS, _NO_EVENTS, _SC)
'''
