"""What every environment family gives carc: an env that renders RGB frames, and an expert.

The frame a reward program reads is ``frame_of(env, obs)``: the observation itself when it is an
``(H, W, 3) uint8`` image, else ``env.render()``. Families (MiniGrid, Panda-Gym) build envs whose
``render()`` returns exactly the frame the program's palette was measured on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np


class Expert(Protocol):
    """A scripted or planning policy that reads the env's privileged state.

    >>> expert = make_expert(env)          # family-specific constructor
    >>> obs, info = env.reset(seed=0); expert.reset(obs)
    >>> action = expert.act(obs)
    """

    def reset(self, obs: Any) -> None: ...

    def act(self, obs: Any) -> Any: ...


def is_rgb_frame(value: Any) -> bool:
    """True for an ``(H, W, 3) uint8`` array."""
    return (
        isinstance(value, np.ndarray)
        and value.dtype == np.uint8
        and value.ndim == 3
        and value.shape[2] == 3
    )


def frame_of(env: Any, obs: Any) -> np.ndarray:
    """The RGB frame a reward program reads for this observation."""
    if is_rgb_frame(obs):
        return obs
    if isinstance(obs, dict) and is_rgb_frame(obs.get("image")):
        return obs["image"]
    frame = env.render()
    if not is_rgb_frame(frame):
        raise ValueError("environment gives no RGB frame: make it with render_mode='rgb_array'")
    return frame


def env_succeeded(reward: float, terminated: bool, info: Mapping[str, Any]) -> bool:
    """The env's own success signal for a step: ``info["is_success"]`` where the env gives it
    (Panda-Gym), else terminated with a positive reward (MiniGrid)."""
    if "is_success" in info:
        return bool(info["is_success"])
    return bool(terminated and reward > 0)


def run_expert(env: Any, expert: Expert, seed: int) -> bool:
    """Run one expert episode without recording it; True when it ends in the env's success."""
    obs, _ = env.reset(seed=seed)
    expert.reset(obs)
    while True:
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            return env_succeeded(float(reward), bool(terminated), info)
