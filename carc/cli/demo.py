"""`carc demo`: the whole pipeline on a bundled program, end to end.

generate (the bundled transcript replayed offline: a model's replies, repaired until the program
verifies; skipped when ``--program`` is given) -> check -> audit (safety certificate) -> compile (cached numba kernel) -> verify on expert and
random play with property tests -> a wrapped Gymnasium env stepping on the kernel's reward ->
a short PPO comparison (env reward vs env + carc reward, 2 seeds each, 2 worker processes) that
prints the table and writes the success plot to ``--out`` (``--train-steps 0`` skips it).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from carc.api import check_text, read_program
from carc.cli.common import Subparsers, UsageError, add_command, emit_json, episode_count
from carc.core.resources import DEFAULT_ENV, DEFAULT_PROGRAM, example_path


def _wrapped_rollout(env_id: str, program_path: str, steps: int = 200) -> dict[str, Any]:
    from carc.envs.registry import make_expert
    from carc.envs.wrapper import make_wrapped_env

    env = make_wrapped_env(env_id, program_path, mode="add")
    obs, info = env.reset(seed=7)
    expert = make_expert(env)
    expert.reset(obs)
    total, events = 0.0, []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        total += float(reward)
        if info["carc"]["event"]:
            events.append(info["carc"]["event"])
        if terminated or truncated:
            break
    env.close()
    return {"return": round(total, 4), "events": events, "complete": info["carc"]["complete"]}


DEMO_TRAIN_STEPS = 60_000
DEMO_SEEDS = (0, 1)
DEMO_OUT = "carc-demo"


def _training(path: str, env_id: str, steps: int, out: Path, as_json: bool) -> dict[str, Any]:
    """env reward vs env + carc reward, 2 seeds each, on 2 local worker processes."""
    from carc.train.config import TrainConfig
    from carc.train.curves import write_comparison
    from carc.train.sweep import run_sweep

    base = TrainConfig(program=path, env_id=env_id, steps=steps, eval_every=max(1, steps // 6), eval_episodes=16, out=str(out / "runs"))
    configs = [replace(base, mode=mode, seed=seed) for mode in ("env", "both") for seed in DEMO_SEEDS]
    results = run_sweep(configs, workers=2, progress=None if as_json else sys.stderr)
    table = write_comparison(out, results, f"{env_id}: {Path(path).name}, {len(DEMO_SEEDS)} seeds (carc demo)")
    return {"table": table, "plot": str(out / "curves.png"), "runs": [r.to_json() for r in results]}


def _generated_program(out: Path, say: Callable[..., None]) -> tuple[str, dict[str, Any]]:
    """Replay the bundled generation transcript into out/generate; the verified program's path."""
    from carc.generate import replay_bundled
    from carc.generate.backends import BackendError

    try:
        result = replay_bundled(out / "generate", force=True)  # the demo's own folder: a second demo replaces it
    except BackendError as err:
        raise UsageError(f"the bundled generation transcript cannot be replayed: {err}") from None
    outcome = result.outcome
    if not outcome.verified:
        raise UsageError(f"the bundled transcript no longer replays to a verified program: {outcome.reason}")
    stages = " -> ".join("verified" if r.evaluation.verified else f"failed at {r.evaluation.stage}" for r in outcome.rounds)
    say(f"[0] generate  replayed {bundled_transcript_name()}: {len(outcome.rounds)} model replies ({stages}), "
        f"verified program {out / 'generate' / 'program.car'}")
    return str(out / "generate" / "program.car"), {"rounds": len(outcome.rounds), "stages": stages}


def bundled_transcript_name() -> str:
    from carc.generate import bundled_transcript

    return bundled_transcript().name


def run_demo(program: str | None, env_id: str, episodes: int = 10, as_json: bool = False,
             train_steps: int = DEMO_TRAIN_STEPS, out: str = DEMO_OUT) -> int:
    from carc.audit.certificate import audit_source
    from carc.backend.kernel import compile_program
    from carc.verify.scoring import VerifyConfig, format_report, verify

    say = (lambda *_: None) if as_json else print
    started = time.perf_counter()
    generation = None
    if program is None and env_id == DEFAULT_ENV:
        path, generation = _generated_program(Path(out), say)
    else:
        path = program or str(example_path(DEFAULT_PROGRAM))
    data = read_program(path)
    checked = check_text(data, path)
    stages = 6 if train_steps else 5
    say(f"[1/{stages}] check    {path}: program '{checked.name}', sub-tasks {[s.name for s in checked.subtasks]}")
    certificate = audit_source(data, path)
    say(f"[2/{stages}] audit    verdict {certificate.verdict}, hash {(certificate.hash or '')[:16]}, reward bounds {list(checked.bounds)}")
    if certificate.verdict != "safe":
        say(certificate.render())
        return 1
    t0 = time.perf_counter()
    kernel = compile_program(checked)
    say(f"[3/{stages}] compile  kernel {kernel.path.name} in {time.perf_counter() - t0:.2f} s")
    with TemporaryDirectory() as tmp:
        config = VerifyConfig(env_id=env_id, episodes=episodes, property_examples=50, counterexample_dir=Path(tmp), progress=not as_json)
        report = verify(checked, path, config, kernel=kernel)
    say(f"[4/{stages}] verify\n" + "\n".join("      " + line for line in format_report(report).splitlines()))
    rollout = _wrapped_rollout(env_id, path)
    say(f"[5/{stages}] wrapped  expert rollout in {env_id}: return {rollout['return']}, events {rollout['events']}, complete {rollout['complete']}")
    training = None
    if train_steps and report.passed:
        say(f"[6/{stages}] train    PPO on {env_id}, {train_steps:,} env steps a run: env reward vs env + carc reward, {len(DEMO_SEEDS)} seeds each")
        training = _training(path, env_id, train_steps, Path(out), as_json)
        say(training["table"])
        say(f"         plot: {training['plot']}")
    say(f"done in {time.perf_counter() - started:.1f} s: {'verified' if report.passed else 'NOT verified'}")
    if as_json:
        emit_json({"program": path, "env_id": env_id, "generation": generation, "audit": certificate.to_json(), "verify": report.to_json(), "rollout": rollout, "training": training})
    return 0 if report.passed else 1


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args.program, args.env, episodes=args.episodes, as_json=args.json, train_steps=args.train_steps, out=args.out)


def _steps(text: str) -> int:
    value = int(text) if text.strip().isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a number of env steps (0 skips training), not {text!r}")
    return value


def register(sub: Subparsers) -> None:
    p = add_command(sub, "demo", cmd_demo, "the whole pipeline on a built-in program: check, audit, compile, verify, wrap, train")
    p.add_argument("--program", default=None, metavar="PROGRAM",
                   help="default: the program generated by replaying the bundled transcript (DoorKey-5x5)")
    p.add_argument("--env", default=DEFAULT_ENV, metavar="ID")
    p.add_argument("--episodes", type=episode_count, default=10)
    p.add_argument("--train-steps", type=_steps, default=DEMO_TRAIN_STEPS, metavar="N", help=f"env steps per training run (default {DEMO_TRAIN_STEPS:,}; 0 skips training)")
    p.add_argument("--out", default=DEMO_OUT, metavar="DIR", help=f"folder for the training runs and the plot (default ./{DEMO_OUT})")
