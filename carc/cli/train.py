"""`carc train` and `carc compare`: PPO on an env rewarded by a program, over seeds and conditions.

carc train PROGRAM --env ID --steps N --seeds K [--mode env|both|carc] [--out DIR] [--ray ADDR] [--workers W]
carc compare PROGRAM --env ID --seeds K --steps N --out DIR [--modes env,both]

Runs go to parallel local worker processes (``--workers``, default 2) or to Ray (``--ray local``
starts a local instance with ``--workers`` CPUs; ``--ray auto`` or ``--ray ADDRESS`` joins a running
cluster). Progress shows on stderr. `train` leaves one folder per run in --out; `compare` puts the
runs in DIR/runs and writes DIR/curves.png, curves.csv, table.md and runs.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carc.cli.common import Subparsers, UsageError, add_command, at_most, checked_for_env, emit_json, episode_count, positive
from carc.core.files import check_output_folder
from carc.train.config import AUTO_RAY, LOCAL_RAY, MODE_TITLES, MODES, POLICIES, ConfigError, PPOConfig, TrainConfig, ray_host_port

if TYPE_CHECKING:
    from carc.train.runner import RunResult

DEFAULT_WORKERS = 2


def ray_address(text: str) -> str:
    """An address ``ray.init`` can take (else the parser's one-line error, never Ray's traceback)."""
    if text in (LOCAL_RAY, AUTO_RAY) or ray_host_port(text) is not None:
        return text
    raise argparse.ArgumentTypeError(f"expected 'local', 'auto' or HOST:PORT, not {text!r}")


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise argparse.ArgumentTypeError(f"conditions are a comma-separated list of {', '.join(MODES)}, not {text!r}")
    return tuple(dict.fromkeys(modes))


def _configs(args: argparse.Namespace, modes: tuple[str, ...], runs_out: Path) -> list[TrainConfig]:
    """One config per (condition, seed): the same hyperparameters, seeds and budget for all."""
    try:
        ppo = PPOConfig(n_envs=args.n_envs, n_steps=args.n_steps, batch_size=args.batch_size, learning_rate=args.lr, ent_coef=args.ent_coef)
        base = TrainConfig(program=args.program, env_id=args.env, steps=args.steps, policy=args.policy, ppo=ppo,
                           eval_every=args.eval_every, eval_episodes=args.eval_episodes, out=str(runs_out))
        return [replace(base, mode=mode, seed=args.seed + k) for mode in modes for k in range(args.seeds)]
    except ConfigError as err:
        raise UsageError(str(err)) from None


def _run(args: argparse.Namespace, modes: tuple[str, ...], runs_out: Path) -> list[Any]:
    from carc.envs.base import FrameError
    from carc.train.sweep import RayUnreachable, SweepError, run_sweep

    configs = _configs(args, modes, runs_out)
    if args.ray is not None and importlib.util.find_spec("ray") is None:
        raise UsageError("--ray needs the ray package: pip install 'carc[ray]'")
    check_output_folder(runs_out, force=True)  # a bad --out is said now; runs add to what it holds
    # the program's diagnostics and palette warning, once; the sweep then compiles it and builds each
    # condition's env once before any worker starts (an env that cannot give its frames is said there)
    checked_for_env(args.program, args.env)
    try:
        return run_sweep(configs, workers=args.workers, ray_address=args.ray, progress=None if args.json else sys.stderr)
    except (RayUnreachable, FrameError, ConfigError) as err:  # the address asked for, or the env's frames, not a run
        raise UsageError(str(err)) from None
    except SweepError as err:
        raise TrainFailed(str(err)) from None


class TrainFailed(Exception):
    """A run failed in its worker."""


def cmd_train(args: argparse.Namespace) -> int:
    try:
        results = _run(args, (args.mode,), Path(args.out))
    except TrainFailed as err:
        print(f"carc: {err}", file=sys.stderr)
        return 1
    if args.json:
        emit_json({"ok": True, "runs": [r.to_json() for r in results]})
        return 0
    for r in results:
        print(f"{r.name}: {_outcome(r, args.env)}, {r.steps:,} env steps in {r.wall_s:.0f} s ({r.steps_per_s:,.0f} steps/s) -> {r.run_dir}")
    return 0


def _outcome(result: RunResult, env_id: str) -> str:
    """The run's last eval in words: its success rate, or why there is none to give."""
    from carc.envs.registry import success_rule

    if success_rule(env_id) == "unknown":
        return "the env reports no success (eval returns: eval.csv)"
    if not result.eval_success:
        return "no eval ran (the budget is below --eval-every)"
    return f"final eval success {result.final_success:.2f}"


def cmd_compare(args: argparse.Namespace) -> int:
    from carc.envs.registry import success_rule
    from carc.train.curves import write_comparison

    if success_rule(args.env) == "unknown":
        raise UsageError(f"compare plots the env's own success, which carc reads from MiniGrid and Panda-Gym envs only, "
                         f"not {args.env!r}: train each condition with carc train --mode and read the returns in eval.csv")
    try:
        results = _run(args, args.modes, Path(args.out) / "runs")
    except TrainFailed as err:
        print(f"carc: {err}", file=sys.stderr)
        return 1
    out = Path(args.out)
    title = f"{args.env}: {Path(args.program).name}, {args.seeds} seeds"
    table = write_comparison(out, results, title)
    from carc.core.files import write_text_atomic

    write_text_atomic(out / "runs.json", json.dumps([r.to_json() for r in results], indent=1) + "\n")
    if args.json:
        emit_json({"ok": True, "out": str(out), "table": table, "runs": [r.to_json() for r in results]})
    else:
        print(table)
        print(f"wrote {out / 'curves.png'}, {out / 'curves.csv'}, {out / 'table.md'}")
    return 0


def _common(p: argparse.ArgumentParser, out_default: str | None) -> None:
    p.add_argument("program", metavar="PROGRAM", help="a .car reward program")
    p.add_argument("--env", required=True, metavar="ID", help="Gymnasium env id, e.g. MiniGrid-DoorKey-8x8-v0")
    p.add_argument("--steps", type=positive, required=True, metavar="N", help="env steps per run")
    p.add_argument("--seeds", type=at_most(1_000, "seeds"), default=1, metavar="K", help="runs per condition, seeds SEED..SEED+K-1")
    p.add_argument("--seed", type=int, default=0, metavar="SEED", help="first seed (default 0)")
    p.add_argument("--out", default=out_default, required=out_default is None, metavar="DIR", help="folder for the runs")
    p.add_argument("--workers", type=at_most(256, "workers"), default=DEFAULT_WORKERS, metavar="W", help="runs at once (local processes or Ray CPUs)")
    p.add_argument("--ray", type=ray_address, default=None, metavar="ADDR", help="run on Ray: 'local' starts a local instance; 'auto' or HOST:PORT joins a cluster")
    p.add_argument("--policy", choices=POLICIES, default="mlp", help="MiniGrid policy network on the symbolic view (default mlp)")
    defaults = PPOConfig()
    p.add_argument("--n-envs", type=positive, default=defaults.n_envs, help="PPO: envs per run")
    p.add_argument("--n-steps", type=positive, default=defaults.n_steps, help="PPO: steps per env per rollout")
    p.add_argument("--batch-size", type=positive, default=defaults.batch_size, help="PPO: minibatch size")
    p.add_argument("--lr", type=float, default=defaults.learning_rate, help="PPO: learning rate")
    p.add_argument("--ent-coef", type=float, default=defaults.ent_coef, help="PPO: entropy coefficient")
    p.add_argument("--eval-every", type=positive, default=TrainConfig.eval_every, metavar="N", help="env steps between evaluations")
    p.add_argument("--eval-episodes", type=episode_count, default=TrainConfig.eval_episodes, metavar="N", help="episodes per evaluation")


def register(sub: Subparsers) -> None:
    p = add_command(sub, "train", cmd_train, "train PPO with a program's reward (stable-baselines3), seeds in parallel")
    _common(p, "runs")
    p.add_argument("--mode", choices=MODES, default="both", help="; ".join(f"{m}: {t}" for m, t in MODE_TITLES.items()) + " (default both)")
    p = add_command(sub, "compare", cmd_compare, "train each condition over seeds; write curves.png, curves.csv and a table")
    _common(p, None)
    p.add_argument("--modes", type=_modes, default=MODES, metavar="LIST", help="conditions, comma-separated (default env,both,carc)")
