"""A hand-written numba kernel for examples/minigrid/doorkey.car: the benchmark's yardstick.

Written by hand, not generated, the way one would write this reward directly in numba with some
care for speed:

1. one branch-free (so vectorised) pass classifies every pixel against the four colours the
   program uses (red agent, green goal, yellow key and door, the locked door's dark interior) into
   a bit mask with a zero border;
2. one raster scan of the mask, skipping eight zero pixels at a time, counts the door interior and
   flood-fills (explicit stack, 8-connected, the border spares bounds checks) each object of the
   three object colours from its first pixel;
3. the doorkey logic: agent = largest red object, goal = largest green one, key = largest yellow
   object of at most 0.4 tile^2 pixels with width/height in [0.3, 0.7]; three sub-tasks in order,
   potential-based shaping on the grid distance agent-goal.

It must compute exactly the reward of the compiled program (a test checks it bit for bit on
MiniGrid frames), so it keeps the same semantics: objects in raster order of their first pixel, at
most 32 per colour, largest = first of the biggest, an empty region's centre is (0, 0), the reward
is clamped to the bounds carc infers for the program.

State layout, as a compiled kernel's: [progress, previous potential, tile, done0, done1, done2].
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_OBJECTS = 32
LOW, HIGH = -81.081, 83.30000000000001  # the reward bounds carc infers for doorkey.car
GAMMA = 0.99
STATE_SIZE = 6

RED, GREEN, YELLOW, DOOR = 1, 2, 4, 8


@njit(cache=True)
def _classify(frame, mask):
    """mask[(y + 1) * (w + 8) + 1 + x] = colour bits of pixel (y, x); the border stays zero."""
    h, w = frame.shape[0], frame.shape[1]
    stride = w + 8
    flat = frame.reshape(h * w * 3)
    for y in range(h):
        src = flat[y * w * 3:(y + 1) * w * 3]
        dst = mask[(y + 1) * stride + 1:(y + 1) * stride + 1 + w]
        for x in range(w):
            r, g, b = src[3 * x], src[3 * x + 1], src[3 * x + 2]
            b_low, b_mid = b <= 30, (b >= 46) & (b <= 106)
            red = (r >= 225) & (((g <= 30) & b_low) | ((g >= 46) & (g <= 106) & b_mid))
            green = (g >= 225) & (((r <= 30) & b_low) | ((r >= 46) & (r <= 106) & b_mid))
            yellow = (r >= 225) & (g >= 225) & (b_low | b_mid)
            door = ((r >= 104) & (r <= 124) & (g >= 104) & (g <= 124) & (b <= 10)) | (
                (r >= 146) & (r <= 166) & (g >= 146) & (g <= 166) & (b >= 66) & (b <= 86))
            dst[x] = red | (green << 1) | (yellow << 2) | (door << 3)


@njit(cache=True)
def _scan(mask, h, w, stack_x, stack_y, tables, counts):
    """Count door pixels; flood-fill the objects of red, green and yellow in raster order."""
    counts[:] = 0
    stride = w + 8
    words = mask.view(np.uint64)
    door = 0
    for y in range(h):
        row = (y + 1) * stride
        for k in range(row // 8, (row + stride) // 8):
            if words[k] == 0:
                continue
            for i in range(8 * k, 8 * k + 8):
                v = mask[i]
                if v == 0:
                    continue
                door += v >> 3
                for c in range(3):
                    bit = 1 << c
                    if v & bit == 0 or counts[c] == MAX_OBJECTS:
                        continue
                    mask[i] &= ~bit
                    x = i - row - 1
                    stack_x[0], stack_y[0] = x, y
                    top = 1
                    area = sx = sy = 0
                    x0, y0, x1, y1 = x, y, x, y
                    while top > 0:
                        top -= 1
                        px, py = stack_x[top], stack_y[top]
                        area += 1
                        sx += px
                        sy += py
                        x0, x1 = min(x0, px), max(x1, px)
                        y0, y1 = min(y0, py), max(y1, py)
                        for ny in range(py - 1, py + 2):
                            base = (ny + 1) * stride + 1
                            for nx in range(px - 1, px + 2):
                                if mask[base + nx] & bit:
                                    mask[base + nx] &= ~bit
                                    stack_x[top], stack_y[top] = nx, ny
                                    top += 1
                    t = tables[c, counts[c]]
                    t[0], t[1], t[2], t[3], t[4], t[5], t[6] = area, sx, sy, x0, y0, x1, y1
                    counts[c] += 1
                    v = mask[i]
    return door


@njit(cache=True)
def _largest(table, n, max_area, lo_aspect, hi_aspect, filtered):
    best = -1
    for k in range(n):
        area = table[k, 0]
        if filtered:
            if not (1.0 <= area <= max_area):
                continue
            width = max(0.0, table[k, 5] - table[k, 3] + 1.0)
            height = max(0.0, table[k, 6] - table[k, 4] + 1.0)
            aspect = width / height if height > 0.0 else 0.0
            if not (lo_aspect <= aspect <= hi_aspect):
                continue
        if best < 0 or area > table[best, 0]:
            best = k
    return best


@njit(cache=True)
def _perceive(frame, tile, mask, stack_x, stack_y, tables, counts):
    """(agent centre, goal centre, agent/goal/key present, door interior area) of one frame."""
    h, w = frame.shape[0], frame.shape[1]
    _classify(frame, mask)
    inside = _scan(mask, h, w, stack_x, stack_y, tables, counts)
    agent = _largest(tables[0], counts[0], 0.0, 0.0, 0.0, False)
    goal = _largest(tables[1], counts[1], 0.0, 0.0, 0.0, False)
    key = _largest(tables[2], counts[2], 0.4 * tile * tile, 0.3, 0.7, True)
    ax = ay = gx = gy = 0.0
    if agent >= 0:
        ax, ay = tables[0, agent, 1] / tables[0, agent, 0], tables[0, agent, 2] / tables[0, agent, 0]
    if goal >= 0:
        gx, gy = tables[1, goal, 1] / tables[1, goal, 0], tables[1, goal, 2] / tables[1, goal, 0]
    return ax, ay, gx, gy, agent >= 0, goal >= 0, key >= 0, float(inside)


@njit(cache=True)
def _potential(ax, ay, gx, gy, tile):
    cells = (abs(ax - gx) + abs(ay - gy)) / tile if tile > 0.0 else 0.0
    return min(max(-0.01 * cells, -1e15), 1e15)


@njit(cache=True)
def _cell(v, tile):
    return np.floor(v / tile if tile > 0.0 else 0.0)


@njit(cache=True)
def _step(frame, state, mask, stack_x, stack_y, tables, counts):
    tile = state[2]
    ax, ay, gx, gy, has_agent, has_goal, has_key, inside = _perceive(frame, tile, mask, stack_x, stack_y, tables, counts)
    done = (
        not has_key,
        not (inside >= 0.25 * tile * tile),
        has_goal and has_agent and _cell(ax, tile) == _cell(gx, tile) and _cell(ay, tile) == _cell(gy, tile),
    )
    bonus = (0.2, 0.2, 1.0)
    reward, event = 0.0, -1
    stage = int(state[0])
    while stage < 3:
        if state[3 + stage] == 0.0:
            if not done[stage]:
                break
            state[3 + stage] = 1.0
            reward += bonus[stage]
            event = stage
        stage += 1
    state[0] = float(stage)
    potential = _potential(ax, ay, gx, gy, tile)
    reward += GAMMA * potential - state[1]
    state[1] = potential
    return min(max(reward, LOW), HIGH), event


@njit(cache=True)
def _reset(frame, state, mask, stack_x, stack_y, tables, counts):
    state[0] = 0.0
    state[3] = state[4] = state[5] = 0.0
    ax, ay, gx, gy, _, _, _, _ = _perceive(frame, state[2], mask, stack_x, stack_y, tables, counts)
    state[1] = _potential(ax, ay, gx, gy, state[2])


_scratch: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}


def _buffers(frame: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scratch buffers per frame shape, allocated once."""
    key = frame.shape[:2]
    buffers = _scratch.get(key)
    if buffers is None:
        h, w = key
        size = (h + 2) * (w + 8)
        buffers = _scratch[key] = (np.zeros(size + (-size) % 8, np.uint8), np.zeros(max(1, h * w), np.int64),
                                   np.zeros(max(1, h * w), np.int64), np.zeros((3, MAX_OBJECTS, 7)), np.zeros(3, np.int64))
    return buffers


def new_state(n: int = 1, tile: float = 8.0) -> np.ndarray:
    state = np.zeros((n, STATE_SIZE))
    state[:, 2] = tile
    return state


def reset(frame: np.ndarray, state: np.ndarray) -> None:
    _reset(frame, state, *_buffers(frame))


def step(frame: np.ndarray, state: np.ndarray) -> tuple[float, int]:
    return _step(frame, state, *_buffers(frame))
