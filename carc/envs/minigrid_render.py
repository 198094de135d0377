"""MiniGrid's full-grid frame in microseconds, byte for byte.

``render_full_frame(env, T)`` returns the same bytes as MiniGrid's
``env.get_frame(highlight=True, tile_size=T)``:

>>> import gymnasium as gym, numpy as np
>>> env = gym.make("MiniGrid-DoorKey-5x5-v0").unwrapped
>>> _ = env.reset(seed=0)
>>> frame = render_full_frame(env, 8)
>>> frame.shape, bool(np.array_equal(frame, env.get_frame(highlight=True, tile_size=8)))
((40, 40, 3), True)

How: every tile comes from MiniGrid's own ``Grid.render_tile``, rendered once per tile size into an
atlas keyed like MiniGrid's tile cache (object type, colour, state; agent direction or none;
highlight). Each frame, one Python pass maps the grid's cells to atlas codes, and one numba call
computes the agent's view exactly as ``gen_obs_grid`` does (slice, rotation, ``process_vis``,
``see_through_walls``, ``agent_view_size``), maps it to the world as ``get_full_render`` does, and
copies the tiles. Nothing is cached between frames except the atlas, so every change to the grid
(doors, keys, the agent) shows at once.

A grid holding an object the atlas has no tile for (a ``WorldObj`` subclass, an unknown colour), or
an env whose class changes how MiniGrid renders or computes the view, is rendered by MiniGrid's own
``get_frame``, and the first time a reason occurs a ``RuntimeWarning`` says why.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from minigrid.core.constants import COLOR_TO_IDX
from minigrid.core.grid import Grid
from minigrid.core.world_object import Ball, Box, Door, Floor, Goal, Key, Lava, Wall, WorldObj
from minigrid.minigrid_env import MiniGridEnv
from numba import njit

COLORS = tuple(sorted(COLOR_TO_IDX, key=COLOR_TO_IDX.__getitem__))
DOOR_OPEN, DOOR_CLOSED, DOOR_LOCKED = 0, 1, 2  # MiniGrid's door state encoding
KINDS: tuple[tuple[type[WorldObj], int], ...] = (
    (Wall, 0), (Floor, 0), (Door, DOOR_OPEN), (Door, DOOR_CLOSED), (Door, DOOR_LOCKED),
    (Key, 0), (Ball, 0), (Box, 0), (Goal, 0), (Lava, 0),
)
N_CODES = 1 + len(KINDS) * len(COLORS)  # code 0 is the empty cell
NO_AGENT = 4  # agent slot of a tile without the agent; 0..3 are MiniGrid's directions
TILES_PER_CODE = 10  # (4 directions + no agent) x (plain, highlighted)

# Methods whose MiniGrid definitions the fast path reproduces; an env class or grid that overrides
# any of them is rendered by MiniGrid itself.
ENV_METHODS = ("get_frame", "get_full_render", "gen_obs_grid", "get_view_exts", "dir_vec", "right_vec")
GRID_METHODS = ("render", "render_tile", "slice", "rotate_left", "process_vis", "get", "set")


def _make_object(cls: type[WorldObj], state: int, color: str) -> WorldObj:
    """A representative object for an atlas code: what ``WorldObj.decode`` would build."""
    if cls is Door:
        return Door(color, is_open=state == DOOR_OPEN, is_locked=state == DOOR_LOCKED)
    if cls is Lava:
        obj = Lava()
        obj.color = color
        return obj
    return cls(color)  # type: ignore[call-arg]


def _code_table() -> tuple[dict[tuple[object, ...], int], list[WorldObj | None]]:
    """(key -> code, code -> representative object); keys are (class, colour[, door state])."""
    codes: dict[tuple[object, ...], int] = {}
    objects: list[WorldObj | None] = [None]
    for cls, state in KINDS:
        for color in COLORS:
            codes[(cls, color, state) if cls is Door else (cls, color)] = len(objects)
            objects.append(_make_object(cls, state, color))
    return codes, objects


CODE_OF, OBJECT_OF = _code_table()
OPAQUE = np.array([obj is not None and not obj.see_behind() for obj in OBJECT_OF], dtype=np.uint8)
DIR_VECS = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)


class Unsupported(Exception):
    """The fast path cannot render this state exactly; the message says why."""


def cell_codes(cells: list[WorldObj | None]) -> np.ndarray:
    """Atlas codes of a grid's cells (``Grid.grid`` order: row-major, ``y * width + x``).

    Keys hold the object's own class, so a subclass (of ``Door`` too) is never taken for a known one.
    """
    get = CODE_OF.get
    try:  # a door is the one object whose key is not (class, colour); bytes() fails on a None code
        codes = bytes([0 if obj is None else get((obj.__class__, obj.color)) or get((obj.__class__, obj.color, _door_state(obj))) for obj in cells])  # type: ignore[misc]  # a None is the TypeError caught below
    except (TypeError, AttributeError, ValueError):
        raise Unsupported(_unknown_reason(cells)) from None
    return np.frombuffer(codes, dtype=np.uint8)


def _door_state(door: Any) -> int:
    """MiniGrid's door state (as ``Door.encode``); AttributeError for an object that is no door."""
    return DOOR_OPEN if door.is_open else DOOR_LOCKED if door.is_locked else DOOR_CLOSED


def _unknown_reason(cells: list[WorldObj | None]) -> str:
    """Why ``cell_codes`` failed: the first object it has no code for."""
    for obj in cells:
        if obj is None:
            continue
        cls, color = obj.__class__, getattr(obj, "color", None)
        key = (cls, color, _door_state(obj)) if isinstance(obj, Door) else (cls, color)
        if key in CODE_OF:
            continue
        if any(cls is kind for kind, _ in KINDS):
            return f"a {cls.__name__} with colour {color!r}, which MiniGrid has no colour for"
        return f"a {cls.__module__}.{cls.__qualname__}, which has no tile in the atlas"
    return "a grid cell holds something that is not a MiniGrid object"


@dataclass
class Atlas:
    """MiniGrid's tiles at one size, ``tiles[code * 10 + slot * 2 + highlight]``, each rendered by
    ``Grid.render_tile`` the first time a frame needs it (``rendered`` marks those done)."""

    tile_size: int
    tiles: np.ndarray = field(init=False)
    rendered: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        t = self.tile_size
        self.tiles = np.zeros((N_CODES * TILES_PER_CODE, t, t, 3), dtype=np.uint8)
        self.rendered = np.zeros(N_CODES * TILES_PER_CODE, dtype=np.bool_)

    def render(self, index: int) -> None:
        """Render tile ``index`` with MiniGrid's own ``Grid.render_tile``."""
        code, rest = divmod(index, TILES_PER_CODE)
        slot, highlight = divmod(rest, 2)
        agent_dir = None if slot == NO_AGENT else slot
        self.tiles[index] = Grid.render_tile(OBJECT_OF[code], agent_dir=agent_dir, highlight=bool(highlight), tile_size=self.tile_size)
        self.rendered[index] = True


_ATLASES: dict[int, Atlas] = {}
_CHECKED_CLASSES: dict[tuple[type, type], str | None] = {}
_WARNED: set[str] = set()


def atlas_for(tile_size: int) -> Atlas:
    """The atlas at ``tile_size`` (its tiles are rendered as frames need them: ~16 ms each at tile 32)."""
    atlas = _ATLASES.get(tile_size)
    if atlas is None:
        atlas = _ATLASES[tile_size] = Atlas(tile_size)
    return atlas


def _override_reason(env: MiniGridEnv) -> str | None:
    """Why the fast path may differ from this env's own rendering, or None when it may not."""
    key = (type(env), type(env.grid))
    if key not in _CHECKED_CLASSES:
        reason = None
        for name in ENV_METHODS:
            if inspect.getattr_static(type(env), name) is not inspect.getattr_static(MiniGridEnv, name):
                reason = f"{type(env).__qualname__} overrides MiniGridEnv.{name}"
        for name in GRID_METHODS:
            if inspect.getattr_static(type(env.grid), name) is not inspect.getattr_static(Grid, name):
                reason = f"its grid class {type(env.grid).__qualname__} overrides Grid.{name}"
        _CHECKED_CLASSES[key] = reason
    return _CHECKED_CLASSES[key]


def _warn_once(reason: str) -> None:
    if reason not in _WARNED:
        _WARNED.add(reason)
        warnings.warn(f"carc renders this MiniGrid frame with MiniGrid's get_frame (slower): {reason}", RuntimeWarning, stacklevel=3)


def _agent(env: MiniGridEnv) -> tuple[int, int, int]:
    pos, direction = env.agent_pos, env.agent_dir
    if pos is None or direction not in (0, 1, 2, 3):
        raise Unsupported(f"the agent has no valid pose (pos {pos!r}, dir {direction!r})")
    return int(pos[0]), int(pos[1]), int(direction)


def render_full_frame(env: MiniGridEnv, tile_size: int, *, highlight: bool = True) -> np.ndarray:
    """The bytes of ``env.get_frame(highlight=highlight, tile_size=tile_size)``, fast.

    ``env`` is the unwrapped MiniGrid env. Returns a new ``(height*T, width*T, 3) uint8`` array.
    """
    try:
        if not isinstance(tile_size, int) or tile_size < 1:
            raise Unsupported(f"tile size {tile_size!r} is not a positive int")
        reason = _override_reason(env)
        if reason is not None:
            raise Unsupported(reason)
        grid = env.grid
        if (grid.width, grid.height) != (env.width, env.height):
            raise Unsupported(f"the grid is {grid.width}x{grid.height} but the env is {env.width}x{env.height}")
        codes = cell_codes(grid.grid)
        if codes.size != grid.width * grid.height:  # the kernel reads codes without bounds checks
            raise Unsupported(f"the grid holds {codes.size} cells, not {grid.width}x{grid.height}")
        x, y, direction = _agent(env)
    except Unsupported as why:
        _warn_once(str(why))
        return env.get_frame(highlight=highlight, tile_size=tile_size)
    atlas = atlas_for(tile_size)
    width, height = grid.width, grid.height
    out = np.empty((height * tile_size, width * tile_size, 3), dtype=np.uint8)
    args = (codes, width, height, OPAQUE, x, y, direction, int(env.agent_view_size), bool(env.see_through_walls), bool(highlight))
    while (missing := _assemble(*args, atlas.tiles, atlas.rendered, out)) >= 0:
        atlas.render(missing)
    return out


# ---- the numba kernel: view mask (as gen_obs_grid + get_full_render) and tile copy -------------


@njit(cache=True)
def _process_vis(opaque: np.ndarray, size: int) -> np.ndarray:
    """``Grid.process_vis`` on the agent's rotated view, the agent at (size // 2, size - 1)."""
    mask = np.zeros((size, size), dtype=np.bool_)
    mask[size // 2, size - 1] = True
    for j in range(size - 1, -1, -1):
        for i in range(0, size - 1):
            if not mask[i, j] or opaque[i, j]:
                continue
            mask[i + 1, j] = True
            if j > 0:
                mask[i + 1, j - 1] = True
                mask[i, j - 1] = True
        for i in range(size - 1, 0, -1):
            if not mask[i, j] or opaque[i, j]:
                continue
            mask[i - 1, j] = True
            if j > 0:
                mask[i - 1, j - 1] = True
                mask[i, j - 1] = True
    return mask


@njit(cache=True)
def _highlight_mask(codes: np.ndarray, width: int, height: int, opaque_of: np.ndarray, x: int, y: int,
                    direction: int, size: int, see_through: bool) -> np.ndarray:
    """Cells of the world the agent sees, ``[x, y]``: view cell (i, j) lies at top_left - f*j + r*i."""
    fx, fy = DIR_VECS[direction, 0], DIR_VECS[direction, 1]
    rx, ry = -fy, fx
    left = x + fx * (size - 1) - rx * (size // 2)
    top = y + fy * (size - 1) - ry * (size // 2)
    if see_through:
        visible = np.ones((size, size), dtype=np.bool_)
    else:
        opaque = np.ones((size, size), dtype=np.bool_)  # outside the grid: walls, as Grid.slice makes
        for j in range(size):
            for i in range(size):
                wx, wy = left - fx * j + rx * i, top - fy * j + ry * i
                if 0 <= wx < width and 0 <= wy < height:
                    opaque[i, j] = opaque_of[codes[wy * width + wx]] != 0
        visible = _process_vis(opaque, size)
    mask = np.zeros((width, height), dtype=np.bool_)
    for j in range(size):
        for i in range(size):
            wx, wy = left - fx * j + rx * i, top - fy * j + ry * i
            if visible[i, j] and 0 <= wx < width and 0 <= wy < height:
                mask[wx, wy] = True
    return mask


@njit(cache=True)
def _assemble(codes: np.ndarray, width: int, height: int, opaque_of: np.ndarray, x: int, y: int, direction: int,
              size: int, see_through: bool, highlight: bool, tiles: np.ndarray, rendered: np.ndarray,
              out: np.ndarray) -> int:
    """Fill ``out`` with the frame; -1 when done, else the index of a tile not yet rendered."""
    if highlight:
        mask = _highlight_mask(codes, width, height, opaque_of, x, y, direction, size, see_through)
    else:
        mask = np.zeros((width, height), dtype=np.bool_)
    indices = np.empty(width * height, dtype=np.int64)
    for cy in range(height):
        for cx in range(width):
            slot = direction if (cx == x and cy == y) else 4
            index = codes[cy * width + cx] * 10 + slot * 2 + (1 if mask[cx, cy] else 0)
            if not rendered[index]:
                return index
            indices[cy * width + cx] = index
    _copy_tiles(indices, width, height, tiles, out)
    return -1


@njit(cache=True)
def _copy_tiles(indices: np.ndarray, width: int, height: int, tiles: np.ndarray, out: np.ndarray) -> None:
    """Cell (cx, cy) of ``out`` gets ``tiles[indices[cy * width + cx]]``: a tile row at a time, as 64-bit
    words when a tile row is a whole number of them (tiles of a multiple of 8 pixels), else as bytes."""
    t = tiles.shape[1]
    row = t * 3
    if row % 8 == 0:
        _copy_rows(indices, width, height, t, tiles.reshape(-1).view(np.uint64), out.reshape(-1).view(np.uint64), row // 8)
    else:
        _copy_rows(indices, width, height, t, tiles.reshape(-1), out.reshape(-1), row)


@njit(cache=True)
def _copy_rows(indices: np.ndarray, width: int, height: int, t: int, src: np.ndarray, dst: np.ndarray, n: int) -> None:
    """Tile rows of ``n`` items each from ``src`` (tiles, t rows apiece) into ``dst`` (the frame)."""
    for cy in range(height):
        for py in range(t):
            base = (cy * t + py) * width * n
            for cx in range(width):
                at = (indices[cy * width + cx] * t + py) * n
                to = dst[base + cx * n:base + cx * n + n]
                tile_row = src[at:at + n]
                for k in range(n):
                    to[k] = tile_row[k]
