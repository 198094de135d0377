"""Per-frame kernel time against the memory floor, every MiniGrid example on its own env's frames.

    python scripts/measure_kernel_floor.py [--passes 25] [--tiles 8 32] [--programs unlock keycorridor]

Each program is compiled once and stepped over 64 frames of a seeded random rollout of its env at
each tile, with that tile in its state (what `tile()` reads: the stdlib's shapes depend on it; the
program's own `observe rgb tile N` is only the default for new states); the floor is
`carc.perf.bench.scan_floor` (one plain numba pass over the frame's bytes) on the same frames. Both
are timed from Python, the way `carc bench` times them, alternating, and the minimum over passes is
kept (the machine is shared). Prints a Markdown table: floor, kernel, kernel / floor.
"""

from __future__ import annotations

import argparse
from functools import cache
from pathlib import Path

from carc.api import check_file
from carc.backend.kernel import Kernel, compile_program
from carc.perf.bench import fresh_state, minigrid_frames, scan_floor, time_calls, time_steps

ROOT = Path(__file__).resolve().parent.parent
ENV_OF = {
    "doorkey": "MiniGrid-DoorKey-8x8-v0",
    "unlock": "MiniGrid-Unlock-v0",
    "unlockpickup": "MiniGrid-UnlockPickup-v0",
    "keycorridor": "MiniGrid-KeyCorridorS3R3-v0",
    "blockedunlockpickup": "MiniGrid-BlockedUnlockPickup-v0",
    "redbluedoors": "MiniGrid-RedBlueDoors-8x8-v0",
    "obstructedmaze": "MiniGrid-ObstructedMaze-1Q-v1",
}
FRAMES = 64


@cache
def kernel_of(name: str) -> Kernel:
    """The example compiled (once: the tile is the state's, not the program's)."""
    return compile_program(check_file(str(ROOT / "examples" / "minigrid" / f"{name}.car")))


def measure(name: str, tile: int, passes: int) -> tuple[str, float, float]:
    """(frame size, floor us, kernel us): minima over ``passes`` alternating passes."""
    kernel = kernel_of(name)
    frames = minigrid_frames(ENV_OF[name], tile, FRAMES, 0)
    state = fresh_state(kernel.new_state, tile)
    floors, kernels = [], []
    for _ in range(passes + 1):  # the first pass warms caches up
        floors.append(time_calls(scan_floor, frames, 1) / 1e3)
        kernels.append(time_steps(kernel.reset, kernel.step, state, frames, 1) / 1e3)
    height, width = frames[0].shape[:2]
    return f"{width}x{height}", min(floors[1:]), min(kernels[1:])


def arguments(argv: list[str] | None, doc: str, passes: int) -> argparse.Namespace:
    """--passes, --tiles and --programs, as this script and measure_kernel_parts.py take them."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=passes)
    parser.add_argument("--tiles", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--programs", nargs="+", choices=sorted(ENV_OF), default=list(ENV_OF))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, __doc__, 25)
    print("| program | tile | frame | floor us | kernel us | kernel / floor |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.programs:
        for tile in args.tiles:
            size, floor, kernel = measure(name, tile, args.passes)
            print(f"| {name} | {tile} | {size} | {floor:.2f} | {kernel:.2f} | {kernel / floor:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
