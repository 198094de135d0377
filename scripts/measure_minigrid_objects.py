"""Measure each MiniGrid object's size and shape, as a reward program's ``objects(c)`` sees it.

    /work/venv/bin/python scripts/measure_minigrid_objects.py [--json sizes.json] > sizes.md

Every kind (key, ball, box, locked / closed / open door, the agent facing each way, goal) in every
colour is placed alone in the middle of a 3x3 grid of empty cells and drawn by MiniGrid's own ``Grid.render`` at
every tile from 8 to 32, once with no cell lit and once with every cell lit (the agent's view). The frame
is then split into 8-connected objects by carc's reference interpreter (``color_mask`` and
``components``) under the colours of ``stdlib/minigrid.car``, exactly as a program's
``objects(colour)`` would split it, and the object in the middle cell is measured: area in tiles
(pixels / tile²), bounding-box width and height in tiles, fill (area / box area) and aspect
(width / height). Prints markdown, one table per mask; ``--json`` writes every measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from minigrid.core.grid import Grid
from minigrid.core.world_object import Ball, Box, Door, Goal, Key, WorldObj

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from carc import ir  # noqa: E402
from carc.interpreter import Interpreter, color_mask, components, selected_objects  # noqa: E402
from carc.ir.layout import DONE  # noqa: E402
from carc.lang import ast  # noqa: E402
from carc.lang.checker import check_text  # noqa: E402
from carc.lang.parser import parse_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TILES = (8, 16, 32)  # the tiles the tables show one by one
ALL_TILES = tuple(range(8, 33))  # the tiles the helpers must work at (tables also give the range over them)
SIDE = 3  # grid cells per side; the object sits in the middle one, empty cells all round
MIDDLE = SIDE // 2
COLOURS = ("red", "green", "blue", "purple", "yellow", "grey")
KINDS = ("key", "ball", "box", "door_locked", "door_closed", "door_open", "agent", "goal")
# The masks each kind is measured under: the plain colour, and the colour's every shade.
MASKS = ("{c}", "{c}_shades")


@dataclass(frozen=True)
class Measure:
    kind: str
    colour: str
    tile: int
    lit: bool
    mask: str
    parts: int  # objects of the mask whose first pixel lies in the middle cell
    area: float  # tiles²
    width: float  # tiles
    height: float  # tiles
    fill: float
    aspect: float


def stdlib_colours() -> dict[str, ir.Color]:
    """The colours ``stdlib/minigrid.car`` defines, by name."""
    unit = parse_text((ROOT / "stdlib" / "minigrid.car").read_bytes(), "stdlib/minigrid.car")
    return {
        item.name.id: ir.Color(item.name.id, tuple(tuple(int(n.value) for n in s.rgb) for s in item.shades), int(item.tolerance.value))  # type: ignore[misc]
        for item in unit.items
        if isinstance(item, ast.ColorDef)
    }


def make_object(kind: str, colour: str) -> WorldObj | None:
    match kind:
        case "key":
            return Key(colour)
        case "ball":
            return Ball(colour)
        case "box":
            return Box(colour)
        case "door_locked":
            return Door(colour, is_locked=True)
        case "door_closed":
            return Door(colour)
        case "door_open":
            return Door(colour, is_open=True)
        case "goal":
            return Goal()
    return None  # the agent is drawn by Grid.render, not stored in the grid


def render(kind: str, colour: str, tile: int, lit: bool, agent_dir: int = 0) -> np.ndarray:
    """A 3x3 grid with one object in the middle, drawn as MiniGrid draws the full-grid frame."""
    grid = Grid(SIDE, SIDE)
    obj = make_object(kind, colour)
    if obj is not None:
        grid.set(MIDDLE, MIDDLE, obj)
    agent = (MIDDLE, MIDDLE) if kind == "agent" else (-1, -1)
    mask = np.full((SIDE, SIDE), lit, dtype=bool)
    return grid.render(tile, agent, agent_dir if kind == "agent" else None, highlight_mask=mask)


def measure(frame: np.ndarray, colour: ir.Color, tile: int) -> tuple[int, tuple[float, ...] | None]:
    """Objects of the mask that start in the middle cell, and the largest of them."""
    lo, hi = MIDDLE * tile, (MIDDLE + 1) * tile
    parts = [r for r in components(color_mask(frame, colour)) if lo <= r[3] < hi + tile and lo - tile < r[4] < hi]
    inside = [r for r in parts if r[5] >= lo and r[6] >= lo and r[3] < hi and r[4] < hi]
    return len(inside), max(inside, key=lambda r: r[0]) if inside else None


def cases() -> Iterator[tuple[str, str, int]]:
    for kind in KINDS:
        if kind == "agent":
            yield from (("agent", "red", d) for d in range(4))
        elif kind == "goal":
            yield "goal", "green", 0
        else:
            yield from ((kind, c, 0) for c in COLOURS)


def measurements(colours: dict[str, ir.Color], tiles: Iterable[int] = ALL_TILES) -> list[Measure]:
    out = []
    for tile in tiles:
        for lit in (False, True):
            for kind, colour, agent_dir in cases():
                frame = render(kind, colour, tile, lit, agent_dir)
                for template in MASKS:
                    name = template.format(c=colour)
                    if name not in colours:
                        continue
                    parts, region = measure(frame, colours[name], tile)
                    label = f"{kind}_{'right down left up'.split()[agent_dir]}" if kind == "agent" else kind
                    if region is None:
                        out.append(Measure(label, colour, tile, lit, template, 0, 0.0, 0.0, 0.0, 0.0, 0.0))
                        continue
                    w, h = region[5] - region[3] + 1, region[6] - region[4] + 1
                    out.append(Measure(label, colour, tile, lit, template, parts, region[0] / tile**2, w / tile, h / tile,
                                       region[0] / (w * h), w / h))
    return out


def span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"


def table(rows: list[Measure], template: str) -> list[str]:
    """One markdown table: per kind, at tiles 8, 16, 32 and over every tile 8-32, ranges over colours
    (grey apart) and lit/plain."""
    lines = [
        f"### mask `{template}`",
        "",
        "| object | tile | colours | seen | parts | area (tiles²) | width × height (tiles) | fill | aspect |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    measured = sorted({m.tile for m in rows})
    bands = [(str(t), (t,)) for t in TILES if t in measured] + [(f"{measured[0]}-{measured[-1]}", tuple(measured))]
    for kind in dict.fromkeys(m.kind for m in rows):
        for label_tile, tiles in bands:
            for group, label in ((lambda c: c != "grey", "non-grey"), (lambda c: c == "grey", "grey")):
                sel = [m for m in rows if m.kind == kind and m.tile in tiles and m.mask == template and group(m.colour)]
                if not sel:
                    continue
                seen = [m for m in sel if m.parts]
                shown = f"{len(seen)}/{len(sel)}"
                if not seen:
                    lines.append(f"| {kind} | {label_tile} | {label} | {shown} | 0 | - | - | - | - |")
                    continue
                lines.append(
                    f"| {kind} | {label_tile} | {label} | {shown} | {span([m.parts for m in seen])} | {span([m.area for m in seen])} | "
                    f"{span([m.width for m in seen])} × {span([m.height for m in seen])} | {span([m.fill for m in seen])} | "
                    f"{span([m.aspect for m in seen])} |"
                )
    return lines


HELPERS = {  # the stdlib helper that must find each kind, alone, under any_shades
    "key": "keys_anywhere()",
    "ball": "balls_anywhere()",
    "box": "boxes_anywhere()",
    "agent": "agent_shapes()",
    "door_locked": "locked_door_shapes(any_shades)",
    "door_closed": "closed_door_shapes(any_shades)",
    "door_open": "open_door_shapes(any_shades)",
}
SHAPE_PROBE = (
    'program shapes "which stdlib shape helpers see an object" observe rgb use minigrid group seen "seen" { '
    + " ".join(f'subtask {kind} "{kind}" bonus 1 : {helper if helper.endswith("anywhere()") else "count(" + helper + ")"} >= 1' for kind, helper in HELPERS.items())
    + " }"
)


def helpers_seeing(interpreter: Interpreter, frame: np.ndarray, tile: int) -> list[str]:
    """The kinds whose stdlib helper finds at least one object in the frame."""
    state = interpreter.new_state(1, tile)[0]
    interpreter.reset(frame, state)
    interpreter.step(frame, state)
    return [s.name for s in interpreter.program.subtasks if state[DONE + s.index]]


def shape_errors(tiles: Iterable[int]) -> list[str]:
    """Every (kind, colour, tile, lit) where the helpers do not find exactly the right kind.

    The goal is a solid green square, the same shape as a locked door: it counts as one.
    """
    interpreter = Interpreter(check_text(SHAPE_PROBE, "<shapes>"))
    errors = []
    for tile in tiles:
        for lit in (False, True):
            for kind, colour, agent_dir in cases():
                seen = helpers_seeing(interpreter, render(kind, colour, tile, lit, agent_dir), tile)
                want = [] if colour == "grey" and kind.startswith("door") else ["door_locked" if kind == "goal" else kind]
                if seen != want:
                    errors.append(f"{kind} {colour} tile {tile} {'lit' if lit else 'plain'} dir {agent_dir}: seen as {seen or 'nothing'}")
    return errors


def known_limits(tiles: Iterable[int]) -> list[str]:
    """The cases the stdlib's helpers cannot tell apart, as ``shape_errors`` words them.

    A grey box's outline (0.06 of a cell) covers no whole pixel at tiles 8-15 and 19-21 and its partly
    covered pixels have the grid lines' values (touching them at tile 8); a grey key at tile 9 keeps
    only two specks of whole pixels. stdlib/minigrid.car says why.
    """
    limits = {**{t: ("box",) for t in (*range(8, 16), *range(19, 22))}, 9: ("key", "box")}
    return [
        f"{kind} grey tile {tile} {light} dir 0: seen as nothing"
        for tile in tiles
        for light in ("plain", "lit")
        for kind in limits.get(tile, ())
    ]


def per_tile(errors: list[str], tiles: Iterable[int]) -> dict[int, int]:
    """How many cases are misclassified at each tile."""
    counts = {t: 0 for t in tiles}
    for error in errors:
        counts[int(error.split(" tile ")[1].split()[0])] += 1
    return counts


FINDERS = {  # the stdlib helpers that find each kind of MiniGrid object on a real frame, every colour
    "key": ("key_shapes(any_shades)", "grey_keys()"),
    "ball": ("ball_cores(any_color)", "grey_balls()"),
    "box": ("box_shapes(any_shades)", "grey_boxes()"),
    "agent": ("agent_shapes()",),
    "door_locked": ("locked_door_shapes(any_shades)",),
    "door_closed": ("closed_door_shapes(any_shades)",),
    "door_open": ("open_door_shapes(any_shades)",),
}
FINDER_PROBE = (
    'program finders "what the stdlib shape helpers find" observe rgb use minigrid '
    + " ".join(f'subtask {kind}_{i} "{helper}" bonus 1 : count({helper}) >= -1' for kind, helpers in FINDERS.items() for i, helper in enumerate(helpers))
)


@dataclass(frozen=True)
class Cell:
    x: int
    y: int


def grid_objects(env: Any) -> dict[Cell, tuple[str, str]]:
    """Each cell's (kind, colour): keys, balls, boxes, doors by state, the goal (a locked door's
    shape) and the agent (in an open doorway its cell holds both: the door is left out)."""
    found = {}
    for i, obj in enumerate(env.grid.grid):
        if obj is not None and obj.type not in ("wall", "floor", "lava"):
            kind = "door_locked" if obj.type == "goal" else obj.type
            if obj.type == "door":
                kind = "door_open" if obj.is_open else "door_locked" if obj.is_locked else "door_closed"
            found[Cell(i % env.width, i // env.width)] = (kind, obj.color)
    found[Cell(*map(int, env.agent_pos))] = ("agent", "red")
    return found


def joined_cells(frame: np.ndarray, colours: dict[str, ir.Color], tile: int, env: Any) -> set[Cell]:
    """Cells whose object joins another's into one object: an ``any_shades`` or ``red_shades``
    object that spans two cells (doors fill their cell to the edge, so doors that touch, side or
    corner, join; so does a key's ring with a door just above it below tile 12), and the agent's
    cell when it stands in an open doorway (facing the strip, its tip touches it)."""
    joined = set()
    for name in ("any_shades", "red_shades"):
        for r in components(color_mask(frame, colours[name])):
            x0, y0, x1, y1 = (int(v) // tile for v in r[3:7])
            if (x0, y0) != (x1, y1):
                joined |= {Cell(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
    door = env.grid.get(*env.agent_pos)
    if door is not None and door.type == "door":
        joined.add(Cell(*map(int, env.agent_pos)))
    return joined


def frame_errors(interpreter: Interpreter, frame: np.ndarray, tile: int, env: Any, colours: dict[str, ir.Color]) -> tuple[list[str], int]:
    """Where the helpers' objects and the grid's disagree on one frame, and how many objects were
    left out because they join another (``joined_cells``) or are out of reach (``known_limits``)."""
    program = interpreter.program
    state = interpreter.new_state(1, tile)[0]
    nodes = {s.index: program.nodes[s.predicate].args[0] for s in program.subtasks}
    values = interpreter.evaluate(frame, state, set(nodes.values()))
    found: dict[Cell, set[str]] = {}
    for s in program.subtasks:
        node = program.nodes[nodes[s.index]]
        bounds = [values[j] for j in node.args]
        for r in selected_objects(program, frame, node, bounds):
            cell = Cell(int(r[1] / r[0]) // tile, int(r[2] / r[0]) // tile)
            found.setdefault(cell, set()).add(s.name.rsplit("_", 1)[0])
    truth = grid_objects(env)
    skip = joined_cells(frame, colours, tile, env)
    limited = {line.split()[0] for line in known_limits((tile,))}
    skip |= {c for c, (kind, colour) in truth.items() if colour == "grey" and (kind in limited or kind.startswith("door"))}
    if tile == 9:  # box_shapes also takes a ball here (the same pixels): boxes_anywhere subtracts them
        for kinds in found.values():
            if "ball" in kinds:
                kinds.discard("box")
    errors = []
    for cell in sorted(set(truth) | set(found), key=lambda c: (c.y, c.x)):
        if cell in skip:
            continue
        want = {truth[cell][0]} if cell in truth else set()
        if found.get(cell, set()) != want:
            errors.append(f"cell ({cell.x}, {cell.y}) {' '.join(truth.get(cell, ('empty', '')))}: seen as {sorted(found.get(cell, set())) or 'nothing'}")
    return errors, len(skip & set(truth))


@dataclass(frozen=True)
class EpisodeCheck:
    env_id: str
    tile: int
    frames: int
    objects: int  # object-frames compared
    left_out: int  # object-frames left out (joined or out of reach)
    errors: tuple[str, ...]


def episode_check(env_id: str, tile: int, seeds: Iterable[int]) -> EpisodeCheck:
    """Play the expert's episodes and compare, on every frame, the objects the stdlib's helpers find
    (by the cell of their centre) with the objects in the env's grid."""
    import gymnasium as gym

    from carc.envs.minigrid_expert import MiniGridExpert
    from carc.envs.minigrid_render import render_full_frame

    interpreter = Interpreter(check_text(FINDER_PROBE, "<finders>"))
    colours = stdlib_colours()
    env = gym.make(env_id)
    unwrapped: Any = env.unwrapped
    expert = MiniGridExpert(env)
    frames = objects = left_out = 0
    errors: list[str] = []
    for seed in seeds:
        env.reset(seed=seed)
        for step in range(unwrapped.max_steps):
            frame = render_full_frame(unwrapped, tile)
            wrong, skipped = frame_errors(interpreter, frame, tile, unwrapped, colours)
            errors += [f"{env_id} tile {tile} seed {seed} step {step}: {e}" for e in wrong]
            frames, left_out = frames + 1, left_out + skipped
            objects += len(grid_objects(unwrapped)) - skipped
            _, _, terminated, truncated, _ = env.step(expert.act(None))
            if terminated or truncated:
                break
    env.close()
    return EpisodeCheck(env_id, tile, frames, objects, left_out, tuple(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="write every measurement as JSON")
    parser.add_argument("--check", choices=("measured", "all"), help="also check the stdlib shape helpers at tiles 8, 16, 32 (measured) or every tile from 8 to 32 (all)")
    parser.add_argument("--episodes", metavar="ENV", nargs="+", help="also compare the helpers' objects with the env's grid on the expert's episodes of these envs, at every tile from 8 to 32")
    parser.add_argument("--seeds", type=int, default=2, help="expert episodes per env and tile (default 2)")
    args = parser.parse_args()
    if args.episodes:
        print("| env | tiles | frames | objects compared | left out (joined) | misclassified |")
        print("| --- | --- | --- | --- | --- | --- |")
        for env_id in args.episodes:
            checks = [episode_check(env_id, tile, range(args.seeds)) for tile in ALL_TILES]
            print(f"| {env_id} | 8-32 | {sum(c.frames for c in checks)} | {sum(c.objects for c in checks)} | "
                  f"{sum(c.left_out for c in checks)} | {sum(len(c.errors) for c in checks)} |")
            for c in checks:
                print("\n".join(c.errors))
    if args.check:
        tiles = TILES if args.check == "measured" else ALL_TILES
        errors = shape_errors(tiles)
        print(f"shape helpers ({args.check} tiles): {len(errors)} misclassified cases of {len(list(cases())) * 2} per tile")
        print("| tile | " + " | ".join(str(t) for t in tiles) + " |")
        print("| --- |" + " --- |" * len(tiles))
        print("| misclassified | " + " | ".join(str(n) for n in per_tile(errors, tiles).values()) + " |")
        print("\n".join(errors))
    rows = measurements(stdlib_colours())
    print("\n".join(["## Object sizes (scripts/measure_minigrid_objects.py)", ""]))
    for template in MASKS:
        print("\n".join(table(rows, template)))
        print()
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(m) for m in rows], indent=1))


if __name__ == "__main__":
    main()
