"""Training: configs validated early, the SB3 reward wrapper across auto-resets, honest returns,
a tiny PPO run's outputs, sweeps on local processes and on a local Ray instance, curves, CLI."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv
from test_wrapper import expert_actions  # the DoorKey-5x5 expert's actions for a seed

from carc.api import compile_file
from carc.cli.main import main
from carc.envs.registry import success_rule
from carc.envs.sb3 import CarcVecReward
from carc.envs.wrapper import CarcReward, ProgramFrames
from carc.ir.layout import PROGRESS
from carc.train.config import ConfigError, PPOConfig, TrainConfig
from carc.train.curves import condition_curves, format_table, table_rows, write_comparison
from carc.train.envs import EnvSuccess, SymbolicView
from carc.train.runner import RunResult, train_one
from carc.train.sweep import run_sweep

DOORKEY = "examples/minigrid/doorkey.car"
ENV = "MiniGrid-DoorKey-5x5-v0"
TINY_PPO = PPOConfig(n_envs=2, n_steps=64, batch_size=64, n_epochs=1)


def tiny(out: Path, **changes: object) -> TrainConfig:
    base = TrainConfig(program=DOORKEY, env_id=ENV, steps=256, ppo=TINY_PPO, eval_every=128, eval_episodes=2, out=str(out))
    return replace(base, **changes)  # type: ignore[arg-type]


# ---- configs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "message"), [
    ({"steps": 0}, "steps: 0 is not a positive number of env steps"),
    ({"mode": "add"}, "mode: 'add' is not one of env, both, carc"),
    ({"seed": -1}, "seed: -1 is not an integer"),
    ({"policy": "lstm"}, "policy: 'lstm' is not one of mlp, cnn"),
    ({"eval_episodes": 0}, "eval_episodes: 0 is not a positive integer"),
])
def test_bad_config_values_name_the_field_and_value(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        tiny(Path("unused"), **changes)


@pytest.mark.parametrize(("changes", "message"), [
    ({"gamma": 1.5}, r"ppo.gamma: 1.5 is not a number in \(0, 1\]"),
    ({"learning_rate": float("nan")}, "ppo.learning_rate: nan is not a positive number"),
    ({"batch_size": 100}, "ppo.batch_size: 100 is not a divisor of n_envs \\* n_steps = 2048"),
    ({"n_envs": 100_000}, "ppo.n_envs: 100000 is not at most 256 envs a run"),
    ({"n_envs": 4, "n_steps": 2**19, "batch_size": 64}, "ppo.n_steps: 524288 is not at most 1,048,576 transitions a rollout"),
])
def test_bad_ppo_values_name_the_field_and_value(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PPOConfig(**changes)


def test_config_round_trips_through_json_and_refuses_unknown_fields() -> None:
    config = tiny(Path("out"), seed=4, mode="carc")
    assert TrainConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    with pytest.raises(ConfigError, match="config: \\['learning_rate'\\]"):
        TrainConfig.from_json({**config.to_json(), "learning_rate": 1.0})
    assert config.run_name(0.0) == "MiniGrid-DoorKey-5x5-v0-carc-s4-19700101T000000"


# ---- the SB3 wrapper ------------------------------------------------------------------------------


def sb3_env() -> gym.Env:
    return ProgramFrames(SymbolicView(Monitor(EnvSuccess(gym.make(ENV), "minigrid"))), 8)


def test_sb3_wrapper_scores_terminal_frames_and_restarts_on_the_new_episode() -> None:
    """Env 0 plays the expert's episode; SB3 auto-resets it. The terminal step pays the goal bonus,
    the kernel restarts on the new episode's first frame, and returns logged are the env's own."""
    compiled = compile_file(DOORKEY)
    venv = CarcVecReward(DummyVecEnv([sb3_env, sb3_env]), compiled.program, compiled.kernel, replace=False)
    venv.seed(11)
    venv.reset()
    actions = expert_actions(11)
    single = CarcReward(gym.make(ENV), DOORKEY, mode="add")
    single.reset(seed=11)
    for action in actions:
        _, rewards, dones, infos = venv.step(np.array([action, 1]))
        _, expected, *_ = single.step(action)
        assert rewards[0] == pytest.approx(float(expected), abs=1e-5)
        assert "carc_frame" not in infos[0]
    assert dones[0] and not dones[1]
    assert infos[0]["carc"]["event"] == "at_goal" and infos[0]["is_success"]
    assert infos[0]["carc_episode"] == {"got_key": True, "opened": True, "at_goal": True}
    assert infos[0]["episode"]["r"] == pytest.approx(1 - 0.9 * len(actions) / 250, abs=1e-5)  # MiniGrid's own return
    assert venv.states[0, PROGRESS] == 0
    single.reset()  # the new episode, as SB3's auto-reset drew it
    _, rewards, _, _ = venv.step(np.array([2, 1]))
    assert rewards[0] == pytest.approx(float(single.step(2)[1]), abs=1e-5)


def test_sb3_wrapper_needs_program_frames() -> None:
    compiled = compile_file(DOORKEY)
    with pytest.raises(ValueError, match="ProgramFrames"):
        CarcVecReward(DummyVecEnv([lambda: SymbolicView(gym.make(ENV))]), compiled.program, compiled.kernel).reset()


def _last_info(env: gym.Env, actions: list[int] | None = None, seed: int = 0) -> dict:
    env.reset(seed=seed)
    for k in range(10_000):
        _, _, terminated, truncated, info = env.step(actions[k] if actions else env.action_space.sample())
        if terminated or truncated:
            return info
    raise AssertionError("the episode did not end")


def test_success_follows_the_envs_own_rule() -> None:
    """MiniGrid: success is terminated with a positive reward; CartPole has no rule carc knows, so a
    terminated episode with reward 1 is not called a success (the info stays as the env gave it)."""
    assert _last_info(EnvSuccess(gym.make(ENV), success_rule(ENV)), expert_actions(3), seed=3)["is_success"] is True
    cartpole = EnvSuccess(gym.make("CartPole-v1"), success_rule("CartPole-v1"))
    cartpole.action_space.seed(0)
    assert "is_success" not in _last_info(cartpole)


def test_training_curve_counts_episodes_the_program_completes_where_the_env_fails() -> None:
    """The callback's view of reward hacking: all sub-tasks done while the env reports failure."""
    from carc.train.callbacks import TrainingCurve

    curve = TrainingCurve(["got_key", "opened"], total_steps=100)
    done_both = {"got_key": True, "opened": True}
    curve.locals = {"dones": [True, True, True, False], "infos": [
        {"carc_episode": done_both, "is_success": False},  # complete, env failed: counted
        {"carc_episode": done_both, "is_success": True},
        {"carc_episode": {"got_key": True, "opened": False}, "is_success": False},
        {"carc_episode": done_both, "is_success": False},  # not done yet: ignored
    ]}
    curve._on_step()
    row = curve.row()
    assert row["complete_without_success"] == pytest.approx(1 / 3)
    assert row["success_rate"] == pytest.approx(1 / 3) and row["subtask/opened"] == pytest.approx(2 / 3)


# ---- runs ---------------------------------------------------------------------------------------------


def test_a_tiny_run_writes_its_folder(tmp_path: Path) -> None:
    result = train_one(tiny(tmp_path, mode="both", steps=512, eval_every=256))
    run = Path(result.run_dir)
    assert run.parent == tmp_path and run.name.startswith("MiniGrid-DoorKey-5x5-v0-both-s0-")
    meta = json.loads((run / "run.json").read_text())
    assert meta["config"]["mode"] == "both" and meta["env_steps"] == result.steps >= 512
    assert len(meta["program_hash"]) == 64 and len(meta["kernel_sha256"]) == 64 and meta["carc_version"]
    assert meta["env_steps_per_s"] > 0 and meta["wall_s"] > 0
    assert (run / "policy.zip").stat().st_size > 0 and not list(run.glob(".*"))  # written whole, no temporary left
    from stable_baselines3 import PPO

    assert PPO.load(run / "policy.zip").num_timesteps == result.steps
    assert result.eval_steps == (256, 512) and all(0 <= s <= 1 for s in result.eval_success)
    assert (run / "eval.csv").read_text().splitlines()[0] == "steps,success_rate,mean_return"
    header = (run / "train_curve.csv").read_text().splitlines()[0].split(",")
    assert {"steps", "success_rate", "return", "subtask/got_key", "subtask/opened", "subtask/at_goal"} <= set(header)
    tags = _tensorboard_tags(run / "tb")
    assert {"carc/success_rate", "carc/return", "carc/subtask/got_key", "rollout/ep_rew_mean", "eval/success_rate"} <= tags


def _tensorboard_tags(folder: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    return tags


def test_two_seeds_on_local_worker_processes(tmp_path: Path) -> None:
    configs = [tiny(tmp_path, seed=s, mode="env") for s in (0, 1)]
    results = run_sweep(configs, workers=2)
    assert [r.seed for r in results] == [0, 1] and all(Path(r.run_dir, "run.json").is_file() for r in results)


def test_a_ray_address_where_nothing_listens_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Ray itself would retry such an address for minutes, printing warnings.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    with pytest.raises(SystemExit) as exit_info:
        main(["train", DOORKEY, "--env", ENV, "--steps", "64", "--ray", f"127.0.0.1:{port}", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"--ray 127.0.0.1:{port}: no Ray cluster answers there" in capsys.readouterr().err


_LONG_SWEEP = """
import sys
from dataclasses import replace
from carc.train.config import PPOConfig, TrainConfig
from carc.train.sweep import run_sweep
base = TrainConfig(program=sys.argv[1], env_id=sys.argv[2], steps=10**7, ppo=PPOConfig(n_envs=2, n_steps=64, batch_size=64),
                   eval_every=10**6, eval_episodes=1, out=sys.argv[3])
run_sweep([replace(base, seed=s) for s in (0, 1)], workers=2)
"""


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            if f"PPid:\t{pid}\n" in status.read_text() and b"spawn_main" in (status.parent / "cmdline").read_bytes():
                found.append(int(status.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_local_workers_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    # SIGKILL cannot be caught: the workers notice that their parent is gone and end themselves,
    # instead of training on, unseen, to the end of their budgets.
    sweep = subprocess.Popen([sys.executable, "-c", _LONG_SWEEP, DOORKEY, ENV, str(tmp_path)])
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(sweep.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 2
    finally:
        sweep.kill()
        sweep.wait()
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{w}").exists() for w in workers)


@pytest.mark.slow  # about 100 s on the 2 shared cores: Ray's start (10 s) and its workers' torch imports dominate
def test_two_seeds_on_a_local_ray_instance(tmp_path: Path) -> None:
    configs = [tiny(tmp_path, seed=s) for s in (0, 1)]
    results = run_sweep(configs, workers=2, ray_address="local")
    assert [r.seed for r in results] == [0, 1] and [r.mode for r in results] == ["both", "both"]
    assert all(json.loads(Path(r.run_dir, "run.json").read_text())["env_steps"] >= 256 for r in results)


# ---- curves and the table ------------------------------------------------------------------------------


def _result(mode: str, seed: int, success: tuple[float, ...]) -> RunResult:
    steps = tuple(100 * (k + 1) for k in range(len(success)))
    return RunResult(f"r-{mode}-{seed}", "/nowhere", mode, seed, steps[-1], 1.0, 100.0, steps, success, steps, success)


def test_table_gives_steps_to_80_percent_and_final_success(tmp_path: Path) -> None:
    results = [_result("env", 0, (0.0, 0.1, 0.2)), _result("env", 1, (0.0, 0.0, 0.1)),
               _result("both", 0, (0.5, 0.9, 1.0)), _result("both", 1, (0.3, 0.7, 0.8))]
    assert [RunResult.from_json(json.loads(json.dumps(r.to_json()))) for r in results] == results
    rows = table_rows(condition_curves(results))
    assert [r["condition"] for r in rows] == ["env", "both"]
    assert rows[0]["steps_to_80"] is None and rows[1]["steps_to_80"] == 200  # mean (0.9 + 0.7) / 2 = 0.8
    assert rows[1]["final_success_mean"] == 0.9 and rows[1]["seeds_reaching_80"] == 2
    table = format_table(rows)
    assert "| env | env reward | 2 | not reached | 0/2 | 0.15 [0.10, 0.20] |" in table
    assert "| both | env + carc reward | 2 | 200 | 2/2 | 0.90 [0.80, 1.00] |" in table
    write_comparison(tmp_path, results, "test")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "curves.csv").read_text().splitlines()[1].startswith("env,100,0.0,0.0,0.0")


# ---- the command line -------------------------------------------------------------------------------


def test_compare_cli_writes_plot_csv_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", DOORKEY, "--env", ENV, "--seeds", "1", "--steps", "128", "--modes", "env,both", "--workers", "1",
                 "--n-envs", "2", "--n-steps", "64", "--batch-size", "64", "--eval-every", "128", "--eval-episodes", "2", "--out", str(tmp_path)])
    assert code == 0
    assert {"curves.png", "curves.csv", "table.md", "runs.json"} <= {p.name for p in tmp_path.iterdir()}
    out = capsys.readouterr().out
    assert "| env | env reward | 1 |" in out and "| both | env + carc reward | 1 |" in out


TINY_FLAGS = ["--seeds", "1", "--workers", "1", "--n-envs", "2", "--n-steps", "64", "--batch-size", "64", "--eval-episodes", "2"]


@pytest.mark.parametrize(("env_id", "eval_every", "said", "final"), [
    (ENV, "128", "final eval success ", float),
    (ENV, "100000", "no eval ran (the budget is below --eval-every)", type(None)),
    ("CartPole-v1", "128", "the env reports no success (eval returns: eval.csv)", type(None)),
])
def test_train_says_what_its_last_eval_measured(env_id: str, eval_every: str, said: str, final: type, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # An env with no success carc knows of, or a run with no eval, is not reported as success 0.
    code = main(["train", DOORKEY, "--env", env_id, "--steps", "128", "--eval-every", eval_every, *TINY_FLAGS, "--out", str(tmp_path)])
    assert code == 0
    assert f": {said}" in capsys.readouterr().out
    (run,) = tmp_path.iterdir()
    assert isinstance(json.loads((run / "run.json").read_text())["final_eval_success"], final)


def test_ray_addresses_the_parser_takes() -> None:
    from carc.cli.train import ray_address

    for good in ("local", "auto", "10.0.0.5:6379", "head-node.example:6379", "ray://head:10001", "[::1]:6379"):
        assert ray_address(good) == good


@pytest.mark.parametrize(("argv", "message"), [
    (["train", DOORKEY, "--env", ENV, "--steps", "100", "--lr", "-1"], "ppo.learning_rate: -1.0 is not a positive number"),
    (["train", DOORKEY, "--env", ENV, "--steps", "100", "--batch-size", "7"], "ppo.batch_size: 7 is not a divisor"),
    (["compare", DOORKEY, "--env", ENV, "--steps", "100", "--out", "x", "--modes", "env,add"], "conditions are a comma-separated list"),
    (["train", "missing.car", "--env", ENV, "--steps", "100"], "missing.car"),
    (["train", DOORKEY, "--env", "CartPole-v1", "--steps", "100", "--policy", "cnn"], "policy: 'cnn' is for MiniGrid"),
    (["compare", DOORKEY, "--env", "CartPole-v1", "--steps", "100", "--out", "x"], "compare plots the env's own success"),
    (["train", DOORKEY, "--env", "Blackjack-v1", "--steps", "100"], "env_id: 'Blackjack-v1' has an observation space PPO cannot take: Tuple("),
    *((["train", DOORKEY, "--env", ENV, "--steps", "100", "--ray", bad], "argument --ray: expected 'local', 'auto' or HOST:PORT")
      for bad in ("0.5", "", "abc", "../../etc/passwd", "host:0", "host:65536", "ray://", "[::1]")),
])
def test_cli_refuses_bad_input_with_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, *(["--out", str(tmp_path)] if argv[0] == "train" else [])])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "compare"])
def test_an_out_that_is_not_a_folder_is_refused_before_anything_runs(command: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("a file the user keeps\n")
    with pytest.raises(SystemExit) as exit_info:
        main([command, DOORKEY, "--env", ENV, "--steps", "100", "--out", str(tmp_path / "taken")])
    assert exit_info.value.code == 2
    assert f"cannot write into {tmp_path / 'taken'}" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "a file the user keeps\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.slow
def test_demo_ends_with_a_training_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--episodes", "5", "--train-steps", "2048", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| env | env reward | 2 |" in out and "| both | env + carc reward | 2 |" in out
    assert (tmp_path / "curves.png").is_file() and len(list((tmp_path / "runs").iterdir())) == 4


@pytest.mark.slow
def test_a_panda_run_trains_on_the_state_with_the_programs_frames(tmp_path: Path) -> None:
    config = TrainConfig(program="examples/panda/push.car", env_id="PandaPush-v3", steps=128, mode="both", ppo=TINY_PPO, eval_every=128, eval_episodes=2, out=str(tmp_path))
    result = train_one(config)
    assert result.steps >= 128 and json.loads(Path(result.run_dir, "run.json").read_text())["program_name"] == "push"
