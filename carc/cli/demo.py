"""`carc demo`: the whole pipeline on a bundled program, end to end.

check -> audit (safety certificate) -> compile (cached numba kernel) -> verify on expert and
random play with property tests -> a wrapped Gymnasium env stepping on the kernel's reward.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from carc.api import check_text, read_program
from carc.cli.common import Subparsers, add_command, positive
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


def run_demo(program: str | None, env_id: str, episodes: int = 10, as_json: bool = False) -> int:
    from carc.audit.certificate import audit_source
    from carc.backend.kernel import compile_program
    from carc.verify.scoring import VerifyConfig, format_report, verify

    path = program or str(example_path(DEFAULT_PROGRAM))
    say = (lambda *_: None) if as_json else print
    data = read_program(path)
    started = time.perf_counter()
    checked = check_text(data, path)
    say(f"[1/5] check    {path}: program '{checked.name}', sub-tasks {[s.name for s in checked.subtasks]}")
    certificate = audit_source(data, path)
    say(f"[2/5] audit    verdict {certificate.verdict}, hash {certificate.hash[:16]}, reward bounds {list(checked.bounds)}")
    if certificate.verdict != "safe":
        say(certificate.render())
        return 1
    t0 = time.perf_counter()
    kernel = compile_program(checked)
    say(f"[3/5] compile  kernel {kernel.path.name} in {time.perf_counter() - t0:.2f} s")
    with TemporaryDirectory() as tmp:
        config = VerifyConfig(env_id=env_id, episodes=episodes, property_examples=50, counterexample_dir=Path(tmp), progress=not as_json)
        report = verify(checked, path, config, kernel=kernel)
    say("[4/5] verify\n" + "\n".join("      " + line for line in format_report(report).splitlines()))
    rollout = _wrapped_rollout(env_id, path)
    say(f"[5/5] wrapped  expert rollout in {env_id}: return {rollout['return']}, events {rollout['events']}, complete {rollout['complete']}")
    say(f"done in {time.perf_counter() - started:.1f} s: {'verified' if report.passed else 'NOT verified'}")
    if as_json:
        print(json.dumps({"program": path, "env_id": env_id, "audit": certificate.to_json(), "verify": report.to_json(), "rollout": rollout}, indent=2))
    return 0 if report.passed else 1


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args.program, args.env, episodes=args.episodes, as_json=args.json)


def register(sub: Subparsers) -> None:
    p = add_command(sub, "demo", cmd_demo, "the whole pipeline on a built-in program: check, audit, compile, bench, verify")
    p.add_argument("--program", default=None, metavar="PROGRAM", help="default: the bundled DoorKey program")
    p.add_argument("--env", default=DEFAULT_ENV, metavar="ID")
    p.add_argument("--episodes", type=positive, default=10)
