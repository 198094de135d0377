"""The envs a run trains and evaluates on: the policy's observation, the env's own success and
returns (``Monitor`` inside any carc reward), and the program's frames for the reward.

Policy observations. MiniGrid: the agent's 7x7 symbolic view (object, colour, state per cell),
scaled per channel to [0, 1] as float32, read by an MLP (flattened) or the small CNN of the
MiniGrid docs. Panda-Gym: the state observation (a dict: robot state, achieved and desired goal).
The program's reward reads its own frame whatever the policy observes.

>>> venv = make_vec_env(config, program_tile=8, frames=True)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from carc.envs.base import success_by_rule
from carc.envs.registry import success_rule
from carc.envs.wrapper import ProgramFrames
from carc.train.config import ConfigError, TrainConfig

# MiniGrid's symbolic cell: object index 0..10, colour 0..5, state 0..2.
SYMBOL_MAX = np.array([10.0, 5.0, 2.0], dtype=np.float32)
EVAL_SEED_OFFSET = 1_000_000


class EnvSuccess(gym.Wrapper):
    """Sets ``info["is_success"]`` at each episode's last step from the env's own success rule
    (``carc.envs.registry.success_rule``). Where carc knows no rule (an env of another family), the
    info is left as the env gave it: carc does not guess what success means there."""

    def __init__(self, env: gym.Env, rule: str) -> None:
        super().__init__(env)
        self.rule = rule

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            success = success_by_rule(self.rule, float(reward), bool(terminated), info)
            if success is not None:
                info["is_success"] = success
        return obs, reward, terminated, truncated, info


class SymbolicView(gym.ObservationWrapper):
    """MiniGrid's partial symbolic view ``obs["image"]`` as float32 in [0, 1] (per-channel scale)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        spaces = env.observation_space
        if not isinstance(spaces, gym.spaces.Dict) or "image" not in spaces.spaces:
            raise ConfigError(f"env_id: {env.spec.id if env.spec else env!r} has no MiniGrid symbolic view (obs['image'])")
        shape = spaces["image"].shape
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32)

    def observation(self, observation: dict[str, Any]) -> np.ndarray:
        return observation["image"].astype(np.float32) / SYMBOL_MAX


def base_env(config: TrainConfig, frames: bool) -> gym.Env:
    """The env itself: Panda with carc's camera and markers when the program needs frames."""
    if config.family == "panda" and frames:
        from carc.envs.panda import make_panda_env

        return make_panda_env(config.env_id)
    if config.family == "panda":
        import panda_gym  # noqa: F401  (registers the Panda ids)
    if config.family == "minigrid":
        import minigrid  # noqa: F401  (registers the MiniGrid ids)
    if frames and config.family == "gym":
        return gym.make(config.env_id, render_mode="rgb_array")
    return gym.make(config.env_id)


def policy_view(env: gym.Env, config: TrainConfig) -> gym.Env:
    """What the policy observes (see the module docstring)."""
    if config.family == "minigrid":
        return SymbolicView(env)
    if config.policy == "cnn":
        raise ConfigError(f"policy: 'cnn' is for MiniGrid's symbolic view, not {config.env_id!r}")
    return env


def env_factory(config: TrainConfig, program_tile: int, frames: bool) -> Callable[[], gym.Env]:
    """A constructor of one training env: env -> success -> Monitor -> policy view -> frames."""

    def make() -> gym.Env:
        from stable_baselines3.common.monitor import Monitor

        env = policy_view(Monitor(EnvSuccess(base_env(config, frames), success_rule(config.env_id))), config)
        return ProgramFrames(env, program_tile) if frames else env

    return make


def make_vec_env(config: TrainConfig, program_tile: int, frames: bool, n_envs: int | None = None) -> Any:
    """A ``DummyVecEnv`` of ``n_envs`` (default: PPO's) training envs, in this process."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    n = n_envs or config.ppo.n_envs
    return DummyVecEnv([env_factory(config, program_tile, frames) for _ in range(n)])


def warm_up(config: TrainConfig, program_tile: int) -> None:
    """Build one env and render one program frame: numba compiles (and caches) the frame renderer
    here, before workers start, so they do not race to write its cache."""
    venv = make_vec_env(config, program_tile, frames=config.mode != "env", n_envs=1)
    try:
        check_spaces(config.env_id, venv.observation_space, venv.action_space)
        venv.reset()
    finally:
        venv.close()


PPO_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def check_spaces(env_id: str, observation: gym.Space, action: gym.Space) -> None:
    """A ConfigError unless stable-baselines3's PPO takes the env's spaces: observations Box,
    Discrete, MultiDiscrete, MultiBinary or a Dict of those; the same actions, but Dict."""
    parts = list(observation.spaces.values()) if isinstance(observation, gym.spaces.Dict) else [observation]
    for what, spaces in (("observation", parts), ("action", [action])):
        for space in spaces:
            if not isinstance(space, PPO_SPACES):
                raise ConfigError(f"env_id: {env_id!r} has an {what} space PPO cannot take: {space} "
                                  f"(stable-baselines3 takes Box, Discrete, MultiDiscrete and MultiBinary)")


def policy_spec(config: TrainConfig, observation_space: gym.Space) -> tuple[str, dict[str, Any]]:
    """SB3 policy class name and ``policy_kwargs`` for a config."""
    if isinstance(observation_space, gym.spaces.Dict):
        return "MultiInputPolicy", {}
    if config.policy == "cnn":
        from carc.train.policy import SymbolicCNN

        return "MlpPolicy", {"features_extractor_class": SymbolicCNN, "features_extractor_kwargs": {"features_dim": 128}}
    return "MlpPolicy", {"net_arch": [64, 64]}
