"""How often carc's MiniGrid expert solves each registered MiniGrid env (README, "Environments and experts").

    python scripts/measure_minigrid_experts.py [--seeds 20] [--envs MiniGrid-Fetch-5x5-N2-v0 ...]

Every ``MiniGrid-*`` id in Gymnasium's registry (the WFC ids, which need ``minigrid[wfc]``, aside), or
the ids given, is played by ``carc.envs.minigrid_expert`` on seeds 0..N-1; success is the env's own
(a positive reward at the end). Prints a Markdown table: id, seeds solved, seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import gymnasium as gym
import minigrid  # noqa: F401 - registers the MiniGrid ids

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from carc.envs.minigrid_expert import expert_success_rate  # noqa: E402


def minigrid_ids() -> list[str]:
    """Every registered MiniGrid id that resets without an extra install."""
    return sorted(i for i in gym.registry if i.startswith("MiniGrid-") and "WFC" not in i)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--envs", nargs="+", default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # MiniGrid's own notes on its v0 ids
    print("| env | seeds solved | seconds |")
    print("| --- | --- | --- |")
    for env_id in args.envs or minigrid_ids():
        started = time.perf_counter()
        solved = round(expert_success_rate(env_id, range(args.seeds)) * args.seeds)
        print(f"| {env_id} | {solved} of {args.seeds} | {time.perf_counter() - started:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
