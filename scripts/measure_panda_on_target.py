"""Measure stdlib/panda.car's "on the target" helpers against panda-gym's own success, per task.

    carc record --env PandaPush-v3 --policy expert --episodes 20 --seed 1000 --out eps/PandaPush-v3/expert
    carc record --env PandaPush-v3 --policy random --episodes 100 --seed 101000 --out eps/PandaPush-v3/random
    /work/venv/bin/python scripts/measure_panda_on_target.py eps > table.md

For each task (Reach, Push, PickAndPlace, Slide) with recorded episodes under ``EPISODES/ENV_ID/
{expert,random}``, every helper in ``CANDIDATES`` is evaluated by carc's reference interpreter on
every frame after the reset frame (its ``start(...)`` values taken from the reset frame), exactly
as a program's sub-task would read it. Against panda-gym's success (``is_success``: the episode
ends on the step it holds), it prints per step precision and recall, per episode (the helper held
on some step vs the env succeeded) precision and recall, and the share of expert and of random
episodes in which the helper ever holds, beside the env's own random success rate. Episodes the env
solved on the reset frame are left out, as ``carc verify`` leaves them out.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from carc.interpreter import Interpreter  # noqa: E402
from carc.lang.checker import check_text  # noqa: E402
from carc.verify.trajectories import Episode, load_episodes  # noqa: E402

OBJECT = ("on_target(cube)", "object_on_target(cube)", "object_at_target(cube)")
CANDIDATES: dict[str, tuple[str, ...]] = {
    "PandaReach-v3": ("near(fingers, target_spot, 9)", "near(fingertips, goal_spot, 5)", "fingers_at_target()"),
    "PandaPush-v3": OBJECT,
    "PandaPickAndPlace-v3": OBJECT,
    "PandaSlide-v3": ("on_target(puck)", "object_on_target(puck)", "object_at_target(puck)"),
}


@dataclass(frozen=True)
class Tally:
    step_tp: int = 0
    step_fp: int = 0
    step_fn: int = 0
    ep_tp: int = 0
    ep_fp: int = 0
    ep_fn: int = 0
    expert_hits: int = 0
    expert: int = 0
    random_hits: int = 0
    random: int = 0
    random_env: int = 0

    def add(self, held: list[bool], success: list[bool], policy: str) -> Tally:
        ever, solved = any(held), any(success)
        e, r = policy == "expert", policy == "random"
        return Tally(
            self.step_tp + sum(h and s for h, s in zip(held, success)),
            self.step_fp + sum(h and not s for h, s in zip(held, success)),
            self.step_fn + sum(s and not h for h, s in zip(held, success)),
            self.ep_tp + (ever and solved), self.ep_fp + (ever and not solved), self.ep_fn + (solved and not ever),
            self.expert_hits + (e and ever), self.expert + e, self.random_hits + (r and ever), self.random + r,
            self.random_env + (r and solved),
        )


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


def probe_program(helpers: tuple[str, ...]) -> Interpreter:
    """One unordered group: a sub-task per helper, so one evaluation reads them all."""
    members = " ".join(f'subtask c{i} "{h}" bonus 1 : {h}' for i, h in enumerate(helpers))
    return Interpreter(check_text(f'program on_target "candidates" observe rgb use panda group all "all" {{ {members} }}', "<probe>"))


def held_per_step(interpreter: Interpreter, episode: Episode) -> list[list[bool]]:
    """Per helper, whether it holds on each frame after the reset frame."""
    state = interpreter.new_state(1)[0]
    interpreter.reset(np.ascontiguousarray(episode.frames[0]), state)
    predicates = [s.predicate for s in interpreter.program.subtasks]
    rows = [interpreter.evaluate(np.ascontiguousarray(f), state, set(predicates)) for f in episode.frames[1:]]
    return [[bool(values[p]) for values in rows] for p in predicates]


def measure(env_id: str, folder: Path) -> list[str]:
    helpers = CANDIDATES[env_id]
    interpreter = probe_program(helpers)
    tallies = [Tally() for _ in helpers]
    for policy in ("expert", "random"):
        for episode in load_episodes(folder / env_id / policy):
            if episode.env_success and episode.steps <= 1:
                continue
            success = [bool(t) and episode.env_success and i == episode.steps - 1 for i, t in enumerate(episode.terminated)]
            for k, held in enumerate(held_per_step(interpreter, episode)):
                tallies[k] = tallies[k].add(held, success, policy)
    rows = []
    for helper, t in zip(helpers, tallies):
        rows.append(
            f"| {env_id} | `{helper}` | {_ratio(t.step_tp, t.step_tp + t.step_fp)} | {_ratio(t.step_tp, t.step_tp + t.step_fn)} | "
            f"{_ratio(t.ep_tp, t.ep_tp + t.ep_fp)} | {_ratio(t.ep_tp, t.ep_tp + t.ep_fn)} | "
            f"{_ratio(t.expert_hits, t.expert)} ({t.expert}) | {_ratio(t.random_hits, t.random)} ({t.random}) | {_ratio(t.random_env, t.random)} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("episodes", type=Path, help="folder holding ENV_ID/expert and ENV_ID/random episode folders")
    parser.add_argument("--env", action="append", choices=sorted(CANDIDATES), help="only these tasks (default: all recorded)")
    args = parser.parse_args()
    print("| task | helper | step precision | step recall | episode precision | episode recall | expert ever (episodes) "
          "| random ever (episodes) | env's own random success |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for env_id in args.env or sorted(CANDIDATES):
        if (args.episodes / env_id / "random").is_dir():
            print("\n".join(measure(env_id, args.episodes)), flush=True)


if __name__ == "__main__":
    main()
