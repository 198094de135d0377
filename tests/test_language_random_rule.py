"""Random play is judged against the environment's own random success (issue 12, item 4): the paper's
rule where random play never solves the task, the env's rate plus a margin where it does; the report
says which rule was applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from carc.api import check_file
from carc.verify.report import VerifyConfig, format_report, judge_random
from carc.verify.scoring import verify

CONFIG = VerifyConfig("PandaReach-v3")


@pytest.mark.parametrize("program_rate, env_rate, rule, limit, passed", [
    (0.09, 0.0, "paper", 0.1, True),
    (0.10, 0.0, "paper", 0.1, False),  # the paper's "fewer than 10%"
    (0.09, 0.04, "paper", 0.1, True),  # under near zero (5%): still the paper's rule
    (0.12, None, "paper", 0.1, False),  # the env has no success rule: the paper's rule
    (0.38, 0.28, "env+margin", 0.38, True),  # PandaReach: random play succeeds 28% of the time by itself
    (0.39, 0.28, "env+margin", 0.38, False),
    (0.53, 0.28, "env+margin", 0.38, False),  # the too-easy goal check (53-63% of random episodes)
    (0.14, 0.05, "env+margin", 0.15, True),
])
def test_judge_random(program_rate: float, env_rate: float | None, rule: str, limit: float, passed: bool) -> None:
    criterion = judge_random(CONFIG, program_rate, env_rate)
    assert (criterion.rule, criterion.passed) == (rule, passed)
    assert criterion.limit == pytest.approx(limit)
    assert criterion.inclusive == (rule == "env+margin")


def test_margin_and_near_zero_are_settings() -> None:
    config = VerifyConfig("PandaReach-v3", random_margin=0.05, random_near_zero=0.3)
    assert judge_random(config, 0.2, 0.28).rule == "paper"
    assert judge_random(config, 0.36, 0.31).passed and not judge_random(config, 0.37, 0.31).passed


def test_the_description_names_the_rule() -> None:
    assert judge_random(CONFIG, 0.05, 0.0).describe() == "random 5% (need < 10%: the paper's rule; the env's own random success 0%)"
    assert judge_random(CONFIG, 0.05, None).describe().endswith("the env's own random success unknown)")
    assert judge_random(CONFIG, 0.3, 0.28).to_json() == {
        "rule": "env+margin", "program_rate": 0.3, "env_rate": 0.28, "limit": pytest.approx(0.38), "inclusive": True,
        "passed": True, "unconfirmed_rate": None, "comparison": "<="}
    assert judge_random(CONFIG, 0.3, 0.28, 0.12).describe() == (
        "random 30% (need <= 38%: the env's own random success 28% + a 10% margin); 12% completed where the env reports failure")


def test_a_verification_reports_the_rule_it_applied(tmp_path: Path) -> None:
    config = VerifyConfig(env_id="MiniGrid-DoorKey-5x5-v0", episodes=6, property_examples=10, counterexample_dir=tmp_path)
    report = verify(check_file("examples/minigrid/doorkey.car"), "doorkey.car", config)
    criterion = report.random_criterion
    assert criterion is not None and criterion.rule == "paper" and criterion.env_rate == 0.0
    assert criterion.program_rate == report.random_complete_rate and criterion.passed and criterion.unconfirmed_rate == 0.0
    assert report.to_json()["random_criterion"]["rule"] == "paper"
    assert criterion.describe() in format_report(report)
