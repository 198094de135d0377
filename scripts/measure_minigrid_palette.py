"""Measure the RGB palette of MiniGrid's full-grid render on real frames, at tile 8 and tile 32.

    /work/venv/bin/python scripts/measure_minigrid_palette.py --seeds 5 > palette.md

Frames come from expert episodes (``carc.envs.minigrid_expert``) of several MiniGrid envs, rendered as
``RGBImgObsWrapper`` renders them (cells in the agent's view lightened). Every pixel is labelled from
the privileged state with what its cell holds, and the cell is "lit" when the highlighted render
differs from the plain one. A gallery (every kind, colour and door state placed on a real env's grid
and drawn by the same ``Grid.render``, all cells plain, then all lit) lists each tile's values in full,
including the floor, which no listed env uses; the script checks that every value seen in the
episodes is one the gallery predicts.

Prints markdown: (1) shades per colour with pixel counts, (2) the values of each kind's tile with
the anti-aliasing mixtures, (3) connected components (8-connectivity) of the key, doors, agent and
goal: area, bounding box and fill ratio, under the colour masks a reward program would use.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from minigrid.core.constants import COLORS
from minigrid.core.world_object import Ball, Box, Door, Floor, Goal, Key, Wall, WorldObj
from minigrid.utils.rendering import highlight_img

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from carc.envs.minigrid import make_minigrid_env  # noqa: E402
from carc.envs.minigrid_expert import MiniGridExpert  # noqa: E402

ENVS = (
    "MiniGrid-DoorKey-5x5-v0",
    "MiniGrid-DoorKey-8x8-v0",
    "MiniGrid-Unlock-v0",
    "MiniGrid-UnlockPickup-v0",
    "MiniGrid-BlockedUnlockPickup-v0",
    "MiniGrid-KeyCorridorS3R3-v0",
)
TILES = (8, 32)
COLOUR_ORDER = ("red", "green", "blue", "purple", "yellow", "grey")
TOLERANCE = 40
RGB = tuple[int, int, int]
Label = tuple[str, str]  # (kind, colour)


def lighten(colour: RGB) -> RGB:
    """The colour as MiniGrid's highlight_img lightens it (30% towards white, truncated)."""
    pixel = np.array([[colour]], dtype=np.uint8)
    highlight_img(pixel)
    return tuple(int(v) for v in pixel[0, 0])


def kind_of(obj: WorldObj | None) -> Label:
    """(kind, colour) of a cell's object; doors carry their state in the kind."""
    if obj is None:
        return "empty", "-"
    if obj.type == "door":
        state = "open" if obj.is_open else "locked" if obj.is_locked else "closed"
        return f"door-{state}", obj.color
    return obj.type, obj.color


def agent_label(obj: WorldObj | None) -> Label:
    """The agent's cell: ("agent", "red"), or ("agent+<kind>", colour) over a goal or open door."""
    kind, colour = kind_of(obj)
    return ("agent", "red") if obj is None else (f"agent+{kind}", colour)


def cell_labels(u) -> dict[tuple[int, int], Label]:
    """Label of every cell of the env's grid, the agent's cell included."""
    grid = u.grid
    labels = {(i, j): kind_of(grid.get(i, j)) for i in range(grid.width) for j in range(grid.height)}
    pos = (int(u.agent_pos[0]), int(u.agent_pos[1]))
    labels[pos] = agent_label(grid.get(*pos))
    return labels


def lit_cells(frame: np.ndarray, plain: np.ndarray, tile: int) -> set[tuple[int, int]]:
    """Cells whose highlighted render differs from the plain one."""
    diff = (frame != plain).any(axis=2)
    h, w = diff.shape
    cells = diff.reshape(h // tile, tile, w // tile, tile).any(axis=(1, 3))
    return {(int(i), int(j)) for j, i in zip(*np.nonzero(cells))}


def episode_frames(env_id: str, seed: int, tile: int) -> Iterator[tuple[np.ndarray, dict, set]]:
    """(frame, cell labels, lit cells) for every frame of one expert episode."""
    env = make_minigrid_env(env_id, tile_size=tile)
    expert = MiniGridExpert(env)
    obs, _ = env.reset(seed=seed)
    expert.reset(obs)
    done = False
    while True:
        u = env.unwrapped
        yield obs, cell_labels(u), lit_cells(obs, u.get_frame(highlight=False, tile_size=tile), tile)
        if done:
            break
        obs, _, terminated, truncated, _ = env.step(expert.act(obs))
        done = terminated or truncated
    env.close()


def gallery_objects() -> list[WorldObj]:
    """One of every object kind, colour and door state."""
    objects: list[WorldObj] = [Goal()]
    for colour in COLOUR_ORDER:
        objects += [Key(colour), Ball(colour), Box(colour), Wall(colour), Floor(colour)]
        objects += [Door(colour, is_locked=True), Door(colour), Door(colour, is_open=True)]
    return objects


def gallery_tiles(tile: int) -> Iterator[tuple[Label, bool, np.ndarray]]:
    """(label, lit, tile pixels) for every gallery object, for the agent in 4 directions (on an
    empty cell, the goal and an open door) and for an empty cell, drawn by a real env grid's
    ``render``, once with no cell lit and once with every cell lit."""
    env = make_minigrid_env("MiniGrid-Empty-16x16-v0", tile_size=tile)
    env.reset(seed=0)
    grid = env.unwrapped.grid
    cells = [(i, j) for j in range(1, 15, 2) for i in range(1, 15, 2)]
    for (i, j), obj in zip(cells, gallery_objects()):
        grid.set(i, j, obj)
    where = {kind_of(grid.get(*cell)): cell for cell in cells}
    agent_cells = [(2, 2), where[("goal", "green")]] + [where[("door-open", c)] for c in COLOUR_ORDER]

    def cut(frame: np.ndarray, i: int, j: int) -> np.ndarray:
        return frame[j * tile:(j + 1) * tile, i * tile:(i + 1) * tile]

    for lit in (False, True):
        mask = np.full((grid.width, grid.height), lit)
        for direction in range(4):
            for cell in agent_cells:
                frame = grid.render(tile, cell, direction, highlight_mask=mask)
                yield agent_label(grid.get(*cell)), lit, cut(frame, *cell)
        frame = grid.render(tile, (-1, -1), None, highlight_mask=mask)
        for i in range(grid.width):
            for j in range(grid.height):
                yield kind_of(grid.get(i, j)), lit, cut(frame, i, j)
    env.close()


def count_values(pixels: np.ndarray) -> Counter:
    return Counter(map(tuple, pixels.reshape(-1, 3).tolist()))


def fmt(rgb: tuple[int, ...]) -> str:
    return ",".join(str(v) for v in rgb)


def as_json(counter: Counter) -> dict[str, int]:
    return {fmt(value): n for value, n in counter.most_common()}


def mask_of(frame: np.ndarray, centres: list[RGB]) -> np.ndarray:
    """Pixels within Chebyshev distance TOLERANCE of any centre."""
    pixels = frame.astype(np.int16)
    return np.any([np.abs(pixels - np.array(c)).max(axis=2) <= TOLERANCE for c in centres], axis=0)


def yellow_hue_mask(frame: np.ndarray) -> np.ndarray:
    """Any shade of yellow: R and G within 8 of each other and both at least 40 above B."""
    r, g, b = (frame[..., k].astype(np.int16) for k in range(3))
    return (np.abs(r - g) <= 8) & (np.minimum(r, g) - b >= 40)


def components(mask: np.ndarray) -> Iterator[list[tuple[int, int]]]:
    """8-connected components of a boolean mask, as lists of (y, x)."""
    seen = np.zeros_like(mask)
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        stack, comp = [(int(y0), int(x0))], []
        while stack:
            y, x = stack.pop()
            comp.append((y, x))
            for ny in (y - 1, y, y + 1):
                for nx in (x - 1, x, x + 1):
                    if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        yield comp


MASKS = {
    "yellow ±40": lambda f: mask_of(f, [(255, 255, 0), (255, 255, 76)]),
    "yellow hue": yellow_hue_mask,
    "red ±40": lambda f: mask_of(f, [(255, 0, 0), (255, 76, 76)]),
    "green ±40": lambda f: mask_of(f, [(0, 255, 0), (76, 255, 76)]),
}
YELLOW_THINGS = {(kind, "yellow") for kind in ("key", "door-locked", "door-closed", "door-open")}
SHAPES = {  # which (kind, colour) each mask measures
    "yellow ±40": YELLOW_THINGS,
    "yellow hue": YELLOW_THINGS,
    "red ±40": {("agent", "red")},
    "green ±40": {("goal", "green")},
}


Shape = tuple[int, int, int]  # (area, bbox width, bbox height)


class Tally:
    """Pixel values per (tile, kind, colour, lit); per object instance, the mask's components."""

    def __init__(self) -> None:
        self.values: dict[tuple, Counter] = defaultdict(Counter)
        self.instances: dict[tuple, list[tuple[bool, list[Shape]]]] = defaultdict(list)

    def add_frame(self, frame: np.ndarray, labels: dict, lit: set, tile: int) -> None:
        for (i, j), (kind, colour) in labels.items():
            pixels = frame[j * tile:(j + 1) * tile, i * tile:(i + 1) * tile]
            self.values[(tile, kind, colour, (i, j) in lit)].update(count_values(pixels))
        for name, make_mask in MASKS.items():
            self.add_components(name, make_mask(frame), labels, lit, tile)

    def add_components(self, name: str, mask: np.ndarray, labels: dict, lit: set, tile: int) -> None:
        """Per wanted cell: (merged with a neighbour?, shapes of the components inside the cell)."""
        wanted = {cell for cell, label in labels.items() if label in SHAPES[name]}
        parts: dict[tuple[int, int], list[Shape]] = defaultdict(list)
        merged: set[tuple[int, int]] = set()
        for comp in components(mask):
            cells = {(x // tile, y // tile) for y, x in comp}
            if len(cells) > 1:
                merged |= cells & wanted
            elif (cell := cells.pop()) in wanted:
                ys, xs = zip(*comp)
                parts[cell].append((len(comp), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1))
        for cell in wanted:
            key = (name, tile, labels[cell][0], cell in lit)
            self.instances[key].append((cell in merged, parts[cell]))


def measure(seeds: int) -> tuple[Tally, dict[tuple, list[Counter]]]:
    """Tally real expert-episode frames, and the gallery's tiles (value counts per tile) by label."""
    real = Tally()
    for tile in TILES:
        for env_id in ENVS:
            for seed in range(seeds):
                for frame, labels, lit in episode_frames(env_id, seed, tile):
                    real.add_frame(frame, labels, lit, tile)
    gallery: dict[tuple, list[Counter]] = defaultdict(list)
    for tile in TILES:
        for (kind, colour), lit, pixels in gallery_tiles(tile):
            gallery[(tile, kind, colour, lit)].append(count_values(pixels))
    return real, gallery


def shade_table(real: Tally) -> list[str]:
    """Exact object colours (plain and lit) with their pixel counts in real frames."""
    rows = [
        "| colour | plain RGB | lit RGB | px plain t8 | px lit t8 | px plain t32 | px lit t32 | seen on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for colour in COLOUR_ORDER:
        plain = tuple(int(v) for v in COLORS[colour])
        lit = lighten(plain)
        mine = {key: c for key, c in real.values.items() if key[2] == colour}
        counts = [
            str(sum(c[shade] for (t, _, _, is_lit), c in mine.items() if (t, is_lit) == (tile, want_lit)))
            for tile in TILES
            for shade, want_lit in ((plain, False), (lit, True))
        ]
        kinds = ", ".join(sorted({key[1] for key, c in mine.items() if c[plain] or c[lit]}))
        rows.append(f"| {colour} | {fmt(plain)} | {fmt(lit)} | {' | '.join(counts)} | {kinds} |")
    return rows


def kind_table(gallery: dict) -> list[str]:
    """Every value of one tile of each kind and colour (per-tile pixel counts), plain and lit."""
    labels = [("empty", "-"), ("agent", "red"), ("goal", "green")] + [
        (kind, colour)
        for kind in ("key", "door-locked", "door-closed", "door-open", "ball", "box", "wall", "floor")
        for colour in COLOUR_ORDER
    ]
    rows = [
        "| kind | colour | tile | plain values (px per tile) | lit values (px per tile) |",
        "|---|---|---|---|---|",
    ]
    for kind, colour in labels:
        for tile in TILES:
            cells = []
            for lit in (False, True):
                counter = gallery[(tile, kind, colour, lit)][0]
                cells.append(" ".join(f"{fmt(v)}×{n}" for v, n in counter.most_common()))
            rows.append(f"| {kind} | {colour} | {tile} | {cells[0]} | {cells[1]} |")
    return rows


def span(values: list[float], digits: int = 0) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}–{high:.{digits}f}"


def shape_table(real: Tally) -> list[str]:
    """Per kind: components per instance, and area, bbox and fill of the largest one."""
    rows = [
        "| mask | kind | tile | lit | instances (merged) | parts | largest: area | bbox w×h | fill |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, tile, kind, lit), instances in sorted(real.instances.items()):
        clean = [parts for merged, parts in instances if not merged]
        largest = [max(parts) for parts in clean if parts]
        counts = [len(parts) for parts in clean]
        merged = len(instances) - len(clean)
        head = f"| {name} | {kind} | {tile} | {'yes' if lit else 'no'} | {len(instances)} ({merged}) "
        if not largest:
            rows.append(head + f"| {span(counts) if counts else '—'} | — | — | — |")
            continue
        boxes = ", ".join(b for b, _ in Counter(f"{w}×{h}" for _, w, h in largest).most_common())
        fills = [a / (w * h) for a, w, h in largest]
        areas = span([a for a, _, _ in largest])
        rows.append(head + f"| {span(counts)} | {areas} | {boxes} | {span(fills, 2)} |")
    return rows


def derived_table(gallery: dict) -> list[str]:
    """The darker solid fills: locked-door panel (0.45 c) and floor (c / 2), plain and lit."""
    rows = ["| colour | locked-door panel plain | lit | floor plain | lit |", "|---|---|---|---|---|"]
    for colour in COLOUR_ORDER:
        cells = [fmt(gallery[(32, kind, colour, lit)][0].most_common(1)[0][0])
                 for kind in ("door-locked", "floor") for lit in (False, True)]
        rows.append(f"| {colour} | " + " | ".join(cells) + " |")
    return rows


def unexplained(real: Tally, gallery: dict) -> list[str]:
    """Values seen in episodes that the gallery tile of the same label does not have."""
    out = []
    for key, counter in sorted(real.values.items()):
        extra = set(counter).difference(*gallery.get(key, [Counter()]))
        if extra:
            out.append(f"{key}: {sorted(extra)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="expert episodes per env and tile size")
    parser.add_argument("--json", type=Path, help="also write every value count to this JSON file")
    args = parser.parse_args()
    real, gallery = measure(args.seeds)
    print(f"Frames: expert episodes of {', '.join(ENVS)}, seeds 0..{args.seeds - 1}, tiles {TILES}.\n")
    print("## Shades\n")
    print("\n".join(shade_table(real)))
    print("\n## Darker fills (most common value of the tile at 32)\n")
    print("\n".join(derived_table(gallery)))
    print("\n## Tile values (gallery: one tile, each value with its pixel count; the agent faces right)\n")
    print("\n".join(kind_table(gallery)))
    print("\n## Components\n")
    print("\n".join(shape_table(real)))
    missing = unexplained(real, gallery)
    print("\nValues in episode frames not in the gallery:", "none" if not missing else "")
    print("\n".join(missing))
    if args.json:
        dump = {
            "episodes": {str(k): as_json(c) for k, c in real.values.items()},
            "gallery": {str(k): [as_json(c) for c in cs] for k, cs in gallery.items()},
        }
        args.json.write_text(json.dumps(dump, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
