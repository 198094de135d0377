"""What the reward costs an env step, every MiniGrid example on its own env at its own tile:

    python scripts/measure_reward_cost.py [--blocks 11] [--block-steps 400] [--programs unlock keycorridor]

Each example's env (scripts/measure_kernel_floor.py's ENV_OF) is stepped with the same seeded random
actions three ways, in interleaved blocks (carc.perf.envbench, the figures `carc bench --env`
reports): with no rendering (symbolic), rendering the program's frame (plain), and rendering it and
running the kernel on it (wrapped). The share of a wrapped step that the kernel and the wrapper
calling it take is 1 - wrapped / plain (medians of the blocks' ratios). Prints a Markdown table.
"""

from __future__ import annotations

import argparse

from measure_kernel_floor import ENV_OF, ROOT

from carc.perf.envbench import run_env_bench


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=11)
    parser.add_argument("--block-steps", type=int, default=400)
    parser.add_argument("--programs", nargs="+", choices=sorted(ENV_OF), default=list(ENV_OF))
    return parser.parse_args(argv)


def row(name: str, blocks: int, block_steps: int) -> str:
    """One Markdown table row: steps/s symbolic, plain and wrapped, the kernel and wrapper's share, wrapped / symbolic."""
    env_id = ENV_OF[name]
    r = run_env_bench(str(ROOT / "examples" / "minigrid" / f"{name}.car"), env_id, blocks=blocks, block_steps=block_steps,
                      render_states=1)
    height, width = r["frame_shape"][:2]
    return (f"| {name} | {env_id} | {width}x{height} | {r['env_steps_per_s_symbolic']:,.0f} | {r['env_steps_per_s_plain']:,.0f} | "
            f"{r['env_steps_per_s_wrapped']:,.0f} | {1 - r['env_overhead_ratio']:.1%} | {r['reward_overhead_ratio']:.2f} |")


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    print("| program | env | frame | symbolic steps/s | rendered steps/s | rendered + kernel steps/s | "
          "kernel + wrapper share of a step | wrapped / symbolic |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.programs:
        print(row(name, args.blocks, args.block_steps), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
