"""One training run: PPO (stable-baselines3) on an env, rewarded per the config's condition.

A run leaves in ``<out>/<run name>/``: ``tb/`` (TensorBoard: SB3's rollout and eval scalars, and
``carc/success_rate``, ``carc/return``, ``carc/subtask/<name>``), ``eval.csv`` (the eval
callback's success on the env's own rule), ``train_curve.csv``, ``policy.zip`` and ``run.json``
(config, program and kernel hashes, carc version, wall time, env steps per second).

>>> result = train_one(TrainConfig(program="examples/minigrid/doorkey.car",
...                                env_id="MiniGrid-DoorKey-5x5-v0", steps=2048))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from carc import __version__
from carc.api import compile_file, read_program
from carc.core.files import OutputError, atomic_output, output_folder, write_text_atomic
from carc.envs.registry import success_rule
from carc.train.config import TrainConfig

SUCCESS_TARGET = 0.8


@dataclass(frozen=True)
class RunResult:
    """What a finished run reports to the parent (plain data: it crosses process boundaries)."""

    name: str
    run_dir: str
    mode: str
    seed: int
    steps: int
    wall_s: float
    steps_per_s: float
    eval_steps: tuple[int, ...]
    eval_success: tuple[float, ...]  # empty when the env reports no success (success_rule "unknown")
    train_steps: tuple[int, ...]
    train_success: tuple[float, ...]

    @property
    def final_success(self) -> float:
        return self.eval_success[-1] if self.eval_success else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> RunResult:
        """A result from ``to_json`` output (a ``runs.json`` entry); a missing field is a KeyError."""
        names = [f.name for f in fields(RunResult)]
        values = {name: data[name] for name in names}
        for name in ("eval_steps", "eval_success", "train_steps", "train_success"):
            values[name] = tuple(values[name])
        return RunResult(**values)


def program_fingerprint(program_path: str) -> dict[str, str]:
    """Hashes that pin what rewarded a run: the program text, its IR (the kernel's cache key) and
    the generated kernel source."""
    compiled = compile_file(program_path)
    return {
        "program_sha256": hashlib.sha256(read_program(program_path)).hexdigest(),
        "program_hash": compiled.kernel.hash,
        "kernel_sha256": hashlib.sha256(compiled.kernel.source().encode("ascii")).hexdigest(),
        "program_name": compiled.program.name,
    }


def _build_model(config: TrainConfig, venv: Any, run_dir: Path) -> Any:
    from stable_baselines3 import PPO

    from carc.train.envs import policy_spec

    policy, policy_kwargs = policy_spec(config, venv.observation_space)
    p = config.ppo
    return PPO(
        policy, venv, n_steps=p.n_steps, batch_size=p.batch_size, n_epochs=p.n_epochs, learning_rate=p.learning_rate,
        gamma=p.gamma, gae_lambda=p.gae_lambda, clip_range=p.clip_range, ent_coef=p.ent_coef, vf_coef=p.vf_coef,
        max_grad_norm=p.max_grad_norm, policy_kwargs=policy_kwargs, tensorboard_log=str(run_dir / "tb"),
        seed=config.seed, device="cpu", verbose=0,
    )


def _training_env(config: TrainConfig) -> tuple[Any, list[str]]:
    """The vector env PPO trains on, and the program's sub-task names."""
    from carc.train.envs import make_vec_env

    compiled = compile_file(config.program)
    program = compiled.program
    frames = config.mode != "env"
    venv = make_vec_env(config, program.tile, frames=frames)
    if frames:
        from carc.envs.sb3 import CarcVecReward

        venv = CarcVecReward(venv, program, compiled.kernel, replace=config.mode == "carc")
    return venv, [s.name for s in program.subtasks]


def _eval_callback(config: TrainConfig, run_dir: Path) -> Any:
    from stable_baselines3.common.callbacks import EvalCallback

    from carc.train.envs import EVAL_SEED_OFFSET, make_vec_env

    eval_env = make_vec_env(config, program_tile=1, frames=False)
    eval_env.seed(config.seed + EVAL_SEED_OFFSET)
    return EvalCallback(
        eval_env, n_eval_episodes=config.eval_episodes, eval_freq=max(1, config.eval_every // config.ppo.n_envs),
        deterministic=config.eval_deterministic, log_path=str(run_dir), verbose=0,
    )


def train_one(config: TrainConfig) -> RunResult:
    """Train one run to its budget and write its folder; returns the run's curves."""
    import torch
    from stable_baselines3.common.callbacks import CallbackList

    from carc.train.callbacks import TrainingCurve

    torch.set_num_threads(config.torch_threads)
    started_at = time.time()
    run_dir = _new_run_dir(Path(config.out), config.run_name(started_at))
    venv, subtasks = _training_env(config)
    model = _build_model(config, venv, run_dir)
    curve = TrainingCurve(subtasks, config.steps, progress_file=run_dir / "progress.json")
    evaluator = _eval_callback(config, run_dir)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
        model.learn(total_timesteps=config.steps, callback=CallbackList([curve, evaluator]), tb_log_name="ppo")
    wall = time.perf_counter() - t0
    with atomic_output(run_dir / "policy.zip") as handle:  # whole or not at all, like every output
        model.save(handle)
    result = _result(config, run_dir, wall, model.num_timesteps, curve, evaluator)
    _write_outputs(config, run_dir, result, curve, evaluator, started_at)
    venv.close()
    return result


def _new_run_dir(out: Path, name: str) -> Path:
    """``out/name``, or ``out/name-2``, ``-3``... when a run of the same name started this second."""
    output_folder(out)
    for attempt in range(1, 1000):
        path = out / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as err:
            raise OutputError(f"cannot write into {out}: {err.strerror or err}") from None
    raise OutputError(f"cannot write into {out}: too many runs named {name}")


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def _result(config: TrainConfig, run_dir: Path, wall: float, steps: int, curve: Any, evaluator: Any) -> RunResult:
    successes = [sum(map(float, s)) / len(s) if s else 0.0 for s in evaluator.evaluations_successes]
    return RunResult(
        name=run_dir.name, run_dir=str(run_dir), mode=config.mode, seed=config.seed, steps=int(steps), wall_s=round(wall, 2),
        steps_per_s=round(steps / wall, 1) if wall > 0 else 0.0,
        eval_steps=tuple(int(t) for t in evaluator.evaluations_timesteps), eval_success=tuple(successes),
        train_steps=tuple(int(r["steps"]) for r in curve.rows), train_success=tuple(r["success_rate"] for r in curve.rows),
    )


def _write_outputs(config: TrainConfig, run_dir: Path, result: RunResult, curve: Any, evaluator: Any, started_at: float) -> None:
    # an env with no success carc knows of (CartPole) has none per eval: its column is left empty
    success: Sequence[float | str] = result.eval_success if result.eval_success else ("",) * len(result.eval_steps)
    write_csv_atomic(run_dir / "eval.csv", ["steps", "success_rate", "mean_return"], [
        (t, s, sum(r) / len(r)) for t, s, r in zip(result.eval_steps, success, evaluator.evaluations_results, strict=True)
    ])
    keys = sorted({k for row in curve.rows for k in row}, key=lambda k: (k != "steps", k != "episodes", k))
    write_csv_atomic(run_dir / "train_curve.csv", keys, [[row.get(k, "") for k in keys] for row in curve.rows])
    meta = {
        "name": result.name, "config": config.to_json(), **program_fingerprint(config.program), "carc_version": __version__,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)), "wall_s": result.wall_s,
        "env_steps": result.steps, "env_steps_per_s": result.steps_per_s,
        # null when no eval ran, or when the env gives no success carc knows of (success_rule "unknown")
        "final_eval_success": result.final_success if result.eval_success and success_rule(config.env_id) != "unknown" else None,
        "success_rule": success_rule(config.env_id),
        "final_train_complete_without_success": curve.rows[-1].get("complete_without_success") if curve.rows else None,
        "library_versions": _versions(),
    }
    write_text_atomic(run_dir / "run.json", json.dumps(meta, indent=2) + "\n")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("stable-baselines3", "torch", "gymnasium", "minigrid", "numba"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
