"""The verification report: data first. The same record feeds the CLI table, `--json`, the repair
loop's message to the model and a training run's metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class VerifyConfig:
    env_id: str
    expert_dir: str | None = None
    random_dir: str | None = None
    episodes: int = 20
    seed: int = 1000
    expert_threshold: float = 1.0
    random_threshold: float = 0.1  # the paper's rule: random play completes the task in fewer than this
    random_margin: float = 0.1  # where the env itself succeeds at random: at most its rate plus this
    random_near_zero: float = 0.05  # an env random success rate below this counts as zero (the paper's rule applies)
    property_examples: int = 200
    counterexample_dir: Path = Path("carc-counterexamples")
    progress: bool = False
    min_expert_episodes: int = 3  # usable episodes below which a verification is refused, not passed
    min_random_episodes: int = 5
    expert_episodes: int | None = None  # episodes recorded per policy; None: ``episodes``
    random_episodes: int | None = None
    use_cache: bool = True  # read and keep recorded episodes in carc's trajectory cache


@dataclass(frozen=True)
class EpisodeScore:
    """What the kernel made of one episode."""

    completed_at: tuple[int | None, ...]  # per sub-task: the step it completed, or None
    complete: bool  # every stage done, in order
    env_success: bool
    goal_steps: tuple[bool, ...]  # per step: the goal predicate holds on that frame
    env_success_steps: tuple[bool, ...]  # per step: the env reports success there


@dataclass(frozen=True)
class SubtaskRow:
    name: str
    description: str
    expert_rate: float
    random_rate: float
    expert_mean_step: float | None
    random_mean_step: float | None


@dataclass(frozen=True)
class Agreement:
    precision: float | None
    recall: float | None
    true_positive: int
    false_positive: int
    false_negative: int


@dataclass(frozen=True)
class PropertyResult:
    name: str
    passed: bool
    examples: int
    counterexample: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class RandomCriterion:
    """How random play was judged. The paper's rule (random play completes the task in fewer than
    `random_threshold` of episodes) cannot pass a faithful program on a task that random play
    solves by itself (PandaReach: about 28%), so the environment's own success rate on the same
    random episodes sets the bar: where it is near zero (or unknown), the paper's rule; else at most
    that rate plus `random_margin`.

    >>> judge_random(VerifyConfig("PandaReach-v3"), program_rate=0.31, env_rate=0.28).describe()
    "random 31% (need <= 38%: the env's own random success 28% + a 10% margin)"
    >>> judge_random(VerifyConfig("MiniGrid-DoorKey-5x5-v0"), program_rate=0.1, env_rate=0.0).passed
    False
    """

    rule: str  # "paper" or "env+margin"
    program_rate: float  # random episodes the program completes
    env_rate: float | None  # random episodes the env itself calls a success (None: no success rule)
    limit: float
    inclusive: bool  # pass on program_rate <= limit (else < limit)
    passed: bool
    unconfirmed_rate: float | None = None  # random episodes the program completes and the env calls a failure (not judged)

    def describe(self) -> str:
        need = f"{'<=' if self.inclusive else '<'} {self.limit:.0%}"
        if self.rule == "paper":
            env = "unknown" if self.env_rate is None else f"{self.env_rate:.0%}"
            text = f"random {self.program_rate:.0%} (need {need}: the paper's rule; the env's own random success {env})"
        else:
            margin = self.limit - (self.env_rate or 0.0)
            text = f"random {self.program_rate:.0%} (need {need}: the env's own random success {self.env_rate:.0%} + a {margin:.0%} margin)"
        if self.unconfirmed_rate and self.env_rate is not None:
            text += f"; {self.unconfirmed_rate:.0%} completed where the env reports failure"
        return text

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "comparison": "<=" if self.inclusive else "<"}


def judge_random(config: VerifyConfig, program_rate: float, env_rate: float | None,
                 unconfirmed_rate: float | None = None) -> RandomCriterion:
    """The random-play rule that fits the task (see RandomCriterion), applied."""
    if env_rate is None or env_rate < config.random_near_zero:
        limit = config.random_threshold
        return RandomCriterion("paper", program_rate, env_rate, limit, False, program_rate < limit, unconfirmed_rate)
    limit = env_rate + config.random_margin
    return RandomCriterion("env+margin", program_rate, env_rate, limit, True, program_rate <= limit + 1e-12, unconfirmed_rate)


@dataclass(frozen=True)
class VerifyReport:
    program: str
    env_id: str
    expert_episodes: int
    random_episodes: int
    expert_complete_rate: float
    random_complete_rate: float
    config: VerifyConfig
    subtasks: tuple[SubtaskRow, ...]
    episode_agreement: Agreement
    step_agreement: Agreement
    properties: tuple[PropertyResult, ...]
    failures: tuple[str, ...] = field(default=())
    failed_demos: int = 0
    trivial_episodes: int = 0
    random_criterion: RandomCriterion | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        def agreement(a: Agreement) -> dict[str, Any]:
            return a.__dict__

        return {
            "passed": self.passed,
            "reason": self.failures[0] if self.failures else None,
            "failures": list(self.failures),
            "program": self.program,
            "env_id": self.env_id,
            "expert_episodes": self.expert_episodes,
            "expert_episodes_failed_by_env": self.failed_demos,
            "episodes_solved_at_once": self.trivial_episodes,
            "random_episodes": self.random_episodes,
            "expert_complete_rate": self.expert_complete_rate,
            "random_complete_rate": self.random_complete_rate,
            "thresholds": {"expert": self.config.expert_threshold, "random": self.config.random_threshold,
                           "random_margin": self.config.random_margin, "random_near_zero": self.config.random_near_zero},
            "random_criterion": None if self.random_criterion is None else self.random_criterion.to_json(),
            "min_episodes": {"expert": self.config.min_expert_episodes, "random": self.config.min_random_episodes},
            "subtasks": [row.__dict__ for row in self.subtasks],
            "goal_agreement": {"episodes": agreement(self.episode_agreement), "steps": agreement(self.step_agreement)},
            "properties": [p.__dict__ for p in self.properties],
        }


# ---- text report --------------------------------------------------------------------------------


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.0%}" if percent else f"{value:.1f}"


def format_report(report: VerifyReport) -> str:
    verdict = "PASS" if report.passed else f"FAIL: {report.failures[0]}"
    lines = [
        verdict,
        f"program {report.program} on {report.env_id}: {report.expert_episodes} expert and {report.random_episodes} random episodes"
        + (f"; left out: {report.failed_demos} expert episodes the env calls failures" if report.failed_demos else "")
        + (f"; {report.trivial_episodes} episodes the env solved on the first step" if report.trivial_episodes else ""),
        f"task complete: expert {report.expert_complete_rate:.0%} (need >= {report.config.expert_threshold:.0%}), "
        + (f"random {report.random_complete_rate:.0%} (need < {report.config.random_threshold:.0%})" if report.random_criterion is None
           else report.random_criterion.describe()),
        "",
        f"{'sub-task':<16} {'expert':>7} {'random':>7} {'expert step':>12} {'random step':>12}  description",
    ]
    for row in report.subtasks:
        lines.append(f"{row.name:<16} {_fmt(row.expert_rate, True):>7} {_fmt(row.random_rate, True):>7} "
                     f"{_fmt(row.expert_mean_step):>12} {_fmt(row.random_mean_step):>12}  {row.description}")
    ea, sa = report.episode_agreement, report.step_agreement
    lines += [
        "",
        f"goal vs env success: episodes precision {_fmt(ea.precision, True)} recall {_fmt(ea.recall, True)}; "
        f"steps precision {_fmt(sa.precision, True)} recall {_fmt(sa.recall, True)}",
        "properties: " + ", ".join(f"{p.name} {'ok' if p.passed else 'FAILED'}" for p in report.properties),
    ]
    for p in report.properties:
        if not p.passed:
            lines.append(f"  {p.name}: {p.detail}" + (f" (counterexample: {p.counterexample})" if p.counterexample else ""))
    for failure in report.failures[1:]:
        lines.append(f"also: {failure}")
    return "\n".join(lines)
