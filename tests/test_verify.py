"""`carc verify`: the paper's rule, goal agreement and kernel properties on real play."""

import json
from pathlib import Path

import pytest

from carc.api import check_file, check_text
from carc.cli.main import main
from carc.verify.scoring import VerifyConfig, verify

ENV = "MiniGrid-DoorKey-5x5-v0"


def run(path: str, tmp_path: Path, episodes: int = 6) -> object:
    config = VerifyConfig(env_id=ENV, episodes=episodes, property_examples=25, counterexample_dir=tmp_path)
    return verify(check_file(path), path, config)


def test_doorkey_passes(tmp_path: Path) -> None:
    report = run("examples/minigrid/doorkey.car", tmp_path)
    assert report.passed, report.failures
    assert report.expert_complete_rate == 1.0
    assert report.random_complete_rate < 0.1
    assert [row.name for row in report.subtasks] == ["got_key", "opened", "at_goal"]
    assert all(p.passed for p in report.properties)
    assert report.episode_agreement.recall == 1.0


@pytest.mark.parametrize("wrong", ["examples/wrong/goal_on_key.car", "examples/wrong/wrong_order.car"])
def test_plausible_but_wrong_programs_are_rejected(wrong: str, tmp_path: Path) -> None:
    report = run(wrong, tmp_path)
    assert not report.passed
    assert report.failures[0]


def test_cli_json_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "examples/wrong/wrong_order.car", "--env", ENV, "--episodes", "4", "--examples", "10",
                 "--counterexamples", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not report["passed"] and report["reason"]


def test_property_failure_saves_a_counterexample(tmp_path: Path) -> None:
    # A kernel that lies about its reward: properties must catch it and save the frames.
    program = check_file("examples/minigrid/doorkey.car")
    from carc.backend.kernel import compile_program

    class Liar:
        def __init__(self) -> None:
            self.inner = compile_program(program)

        def new_state(self, n: int = 1, tile: int | None = None):  # noqa: ANN201
            return self.inner.new_state(n, tile)

        def reset(self, frame, state) -> None:  # noqa: ANN001
            self.inner.reset(frame, state)

        def step(self, frame, state):  # noqa: ANN001, ANN201
            reward, event = self.inner.step(frame, state)
            return reward + (1e-9 if frame[0, 0, 0] > 0 else 0.0), event

        def reset_batch(self, frames, states) -> None:  # noqa: ANN001
            self.inner.reset_batch(frames, states)

        def step_batch(self, frames, states, rewards, events) -> None:  # noqa: ANN001
            self.inner.step_batch(frames, states, rewards, events)

    config = VerifyConfig(env_id=ENV, episodes=3, property_examples=40, counterexample_dir=tmp_path)
    report = verify(program, "liar", config, kernel=Liar())
    failed = {p.name: p for p in report.properties if not p.passed}
    assert "matches_interpreter" in failed
    assert Path(failed["matches_interpreter"].counterexample).exists()


def test_goal_that_is_always_true_fails_on_random_play(tmp_path: Path) -> None:
    path = tmp_path / "trivial.car"
    path.write_text('program trivial "always done" observe rgb subtask s "nothing" bonus 1 : true\n')
    check_text(path.read_text())
    report = verify(check_file(path), str(path), VerifyConfig(env_id=ENV, episodes=3, property_examples=10, counterexample_dir=tmp_path))
    assert not report.passed and "random play" in report.failures[0]


def test_an_expert_that_fails_the_env_is_blamed_not_the_program(tmp_path: Path) -> None:
    # carc's MiniGrid expert does not read BabyAI's language missions: every episode is a failure by
    # the env's own rule, so the report says the expert failed, names --expert, and does not list the
    # program's sub-tasks as short of the expert's rate.
    config = VerifyConfig(env_id="BabyAI-GoToRedBallNoDists-v0", episodes=3, property_examples=5, counterexample_dir=tmp_path)
    report = verify(check_file("examples/minigrid/doorkey.car"), "doorkey", config)
    assert not report.passed and report.failed_demos == 3
    assert report.failures[0].startswith("no successful expert episodes to verify on: carc's built-in expert failed all 3")
    assert "--expert" in report.failures[0]
    assert not any(f.startswith("expert play completes") for f in report.failures)
