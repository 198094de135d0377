"""Typed, validated training configs: a bad value names its field and value before anything runs.

>>> TrainConfig(program="examples/minigrid/doorkey.car", env_id="MiniGrid-DoorKey-5x5-v0", steps=0)
Traceback (most recent call last):
...
carc.train.config.ConfigError: steps: 0 is not a positive number of env steps

Conditions (the names ``carc compare`` uses): ``env`` the env's reward only; ``both`` the env's
reward plus the program's; ``carc`` the program's reward only.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from carc.core.limits import MAX_EPISODES

MODES = ("env", "both", "carc")
MODE_TITLES = {"env": "env reward", "both": "env + carc reward", "carc": "carc reward"}
POLICIES = ("mlp", "cnn")
LOCAL_RAY, AUTO_RAY = "local", "auto"  # --ray: start a local instance; join the cluster started on this machine
# A cluster's address: HOST:PORT, [IPv6]:PORT, or ray://HOST:PORT for Ray Client.
RAY_ADDRESS = re.compile(r"(ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?):([0-9]{1,5})")


# Bounds that keep one run inside one machine: envs stepped side by side in a run, and transitions in
# PPO's rollout buffer (n_envs * n_steps; about 0.6 GB for MiniGrid's symbolic view at the cap).
MAX_ENVS = 256
MAX_ROLLOUT = 2**20


class ConfigError(ValueError):
    """A config value out of range: the message names the field and the value."""


def ray_host_port(address: str) -> tuple[str, int] | None:
    """The host and port of a cluster address (RAY_ADDRESS, port 1 to 65535), else None.

    >>> ray_host_port("ray://[::1]:10001")
    ('::1', 10001)
    """
    found = RAY_ADDRESS.fullmatch(address)
    if found is None or not 1 <= int(found.group(4)) <= 65535:
        return None
    return found.group(2).strip("[]"), int(found.group(4))


def _need(ok: bool, name: str, value: Any, what: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: {value!r} is not {what}")


def _positive_int(name: str, value: Any, what: str = "a positive integer") -> None:
    _need(isinstance(value, int) and not isinstance(value, bool) and value > 0, name, value, what)


def _fraction(name: str, value: Any, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0.0 if low_open else value >= 0.0) and value <= 1.0
    _need(ok, name, value, "a number in " + ("(0, 1]" if low_open else "[0, 1]"))


def _positive_float(name: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    _need(ok, name, value, "a positive number")


@dataclass(frozen=True)
class PPOConfig:
    """PPO's hyperparameters (stable-baselines3 names). The same for every condition of a comparison."""

    n_envs: int = 8
    n_steps: int = 256
    batch_size: int = 512
    n_epochs: int = 4
    learning_rate: float = 5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        for name in ("n_envs", "n_steps", "batch_size", "n_epochs"):
            _positive_int(f"ppo.{name}", getattr(self, name))
        for name in ("learning_rate", "max_grad_norm", "vf_coef"):
            _positive_float(f"ppo.{name}", getattr(self, name))
        for name in ("gamma", "gae_lambda", "clip_range"):
            _fraction(f"ppo.{name}", getattr(self, name), low_open=True)
        _fraction("ppo.ent_coef", self.ent_coef)
        _need(self.n_envs <= MAX_ENVS, "ppo.n_envs", self.n_envs, f"at most {MAX_ENVS} envs a run")
        rollout = self.n_envs * self.n_steps
        _need(rollout <= MAX_ROLLOUT, "ppo.n_steps", self.n_steps, f"at most {MAX_ROLLOUT:,} transitions a rollout (n_envs * n_steps)")
        _need(rollout % self.batch_size == 0, "ppo.batch_size", self.batch_size, f"a divisor of n_envs * n_steps = {rollout}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: a program, an env, a condition, a seed, a budget of env steps."""

    program: str
    env_id: str
    steps: int
    mode: str = "both"
    seed: int = 0
    policy: str = "mlp"
    ppo: PPOConfig = field(default_factory=PPOConfig)
    eval_every: int = 25_000
    eval_episodes: int = 32
    eval_deterministic: bool = False
    out: str = "runs"
    torch_threads: int = 1

    def __post_init__(self) -> None:
        _need(isinstance(self.program, str) and bool(self.program), "program", self.program, "a program file path")
        _need(isinstance(self.env_id, str) and bool(self.env_id), "env_id", self.env_id, "a Gymnasium env id")
        _positive_int("steps", self.steps, "a positive number of env steps")
        _need(self.mode in MODES, "mode", self.mode, f"one of {', '.join(MODES)}")
        _need(isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed < 2**31, "seed", self.seed, "an integer in [0, 2**31)")
        _need(self.policy in POLICIES, "policy", self.policy, f"one of {', '.join(POLICIES)}")
        _need(isinstance(self.ppo, PPOConfig), "ppo", self.ppo, "a PPOConfig")
        _positive_int("eval_every", self.eval_every)
        _positive_int("eval_episodes", self.eval_episodes)
        _need(self.eval_episodes <= MAX_EPISODES, "eval_episodes", self.eval_episodes, f"at most {MAX_EPISODES:,} episodes")
        _positive_int("torch_threads", self.torch_threads)

    @property
    def family(self) -> str:
        from carc.envs.registry import env_family

        return env_family(self.env_id)

    def run_name(self, started: float | None = None) -> str:
        """``<env>-<condition>-s<seed>-<UTC time>``, e.g. ``MiniGrid-DoorKey-8x8-v0-both-s0-20261201T151200``."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(started if started is not None else time.time()))
        return f"{_slug(self.env_id)}-{self.mode}-s{self.seed}-{stamp}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from ``to_json`` output; unknown fields are a ConfigError."""
        known = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(data) - known)
        _need(not unknown, "config", unknown, "a set of known fields")
        ppo = data.get("ppo", {})
        _need(isinstance(ppo, dict), "ppo", ppo, "a mapping")
        ppo_known = {f.name for f in fields(PPOConfig)}
        _need(not set(ppo) - ppo_known, "ppo", sorted(set(ppo) - ppo_known), "a set of known PPO fields")
        return TrainConfig(**{**data, "ppo": PPOConfig(**ppo)})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)
