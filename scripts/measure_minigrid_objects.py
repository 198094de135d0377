"""Measure each MiniGrid object's size and shape, as a reward program's ``objects(c)`` sees it.

    /work/venv/bin/python scripts/measure_minigrid_objects.py [--json sizes.json] > sizes.md

Every kind (key, ball, box, locked / closed / open door, the agent facing each way, goal) in every
colour is placed alone in the middle of a 3x3 grid of empty cells and drawn by MiniGrid's own ``Grid.render`` at
tiles 8, 16 and 32, once with no cell lit and once with every cell lit (the agent's view). The frame
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

import numpy as np
from minigrid.core.grid import Grid
from minigrid.core.world_object import Ball, Box, Door, Goal, Key, WorldObj

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from carc import ir  # noqa: E402
from carc.interpreter import Interpreter, color_mask, components  # noqa: E402
from carc.ir.layout import DONE  # noqa: E402
from carc.lang import ast  # noqa: E402
from carc.lang.checker import check_text  # noqa: E402
from carc.lang.parser import parse_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TILES = (8, 16, 32)
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
    """A 5x5 grid with one object in the middle, drawn as MiniGrid draws the full-grid frame."""
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


def measurements(colours: dict[str, ir.Color]) -> list[Measure]:
    out = []
    for tile in TILES:
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
    """One markdown table: per kind and tile, ranges over colours (grey apart) and lit/plain."""
    lines = [
        f"### mask `{template}`",
        "",
        "| object | tile | colours | seen | parts | area (tiles²) | width × height (tiles) | fill | aspect |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind in dict.fromkeys(m.kind for m in rows):
        for tile in TILES:
            for group, label in ((lambda c: c != "grey", "non-grey"), (lambda c: c == "grey", "grey")):
                sel = [m for m in rows if m.kind == kind and m.tile == tile and m.mask == template and group(m.colour)]
                if not sel:
                    continue
                seen = [m for m in sel if m.parts]
                shown = f"{len(seen)}/{len(sel)}"
                if not seen:
                    lines.append(f"| {kind} | {tile} | {label} | {shown} | 0 | - | - | - | - |")
                    continue
                lines.append(
                    f"| {kind} | {tile} | {label} | {shown} | {span([m.parts for m in seen])} | {span([m.area for m in seen])} | "
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="write every measurement as JSON")
    parser.add_argument("--check", choices=("measured", "all"), help="also check the stdlib shape helpers at tiles 8, 16, 32 (measured) or every tile from 8 to 32 (all)")
    args = parser.parse_args()
    if args.check:
        errors = shape_errors(TILES if args.check == "measured" else range(8, 33))
        print(f"shape helpers ({args.check} tiles): {len(errors)} misclassified cases")
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
