"""What every environment family gives carc: the frames a reward program reads, and an expert.

The frame a reward program reads is the full RGB frame its palette was measured on, at the
program's tile size, whatever the policy observes (``frame_source(env, tile)``):

* MiniGrid: the whole grid rendered at ``tile`` pixels a cell with the agent's view highlighted;
* Panda-Gym: carc's fixed camera with its markers (``carc.envs.panda.make_panda_env``);
* any other env: ``env.render()``, which must be an ``(H, W, 3) uint8`` image.

A frame that cannot be the program's is a ``FrameError``, never a silent reward.

>>> source = frame_source(gym.make("MiniGrid-DoorKey-5x5-v0"), tile=8)   # doctest: +SKIP
>>> source(obs).shape                                                     # doctest: +SKIP
(40, 40, 3)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


# The Panda-Gym tasks the scripted expert plays (carc.envs.panda), with end-effector control only.
PANDA_EXPERT_TASKS = ("Reach", "Push", "Slide", "PickAndPlace")


class EnvError(ValueError):
    """An environment carc cannot make or use as asked (unknown id, no expert, no RGB frame)."""


class FrameError(ValueError):
    """The env cannot give the frame a reward program reads."""


@dataclass(frozen=True)
class FrameSource:
    """Gives the program's frame after each reset or step: ``source(obs)``.

    ``obs_is_frame``: the observation the wrapped env returns is itself the frame (carc's
    ``FullFrame`` at the program's tile), so nothing is rendered twice.
    """

    render: Callable[[], np.ndarray]
    shape: tuple[int, int, int] | None
    obs_is_frame: bool = False

    def __call__(self, obs: Any = None) -> np.ndarray:
        frame = obs if self.obs_is_frame else self.render()
        return check_frame(frame, self.shape)


def check_frame(frame: Any, shape: tuple[int, int, int] | None) -> np.ndarray:
    """The frame itself when it is RGB (and of ``shape`` when given), else a ``FrameError``."""
    if not is_rgb_frame(frame):
        got = getattr(frame, "shape", None), getattr(frame, "dtype", type(frame).__name__)
        raise FrameError(f"a reward frame is an (H, W, 3) uint8 RGB image, got shape {got[0]} of {got[1]}")
    if shape is not None and frame.shape != shape:
        raise FrameError(f"a reward frame here is {shape} (the program's tile), got {frame.shape}")
    return frame


def frame_source(env: Any, tile: int | None = None) -> FrameSource:
    """Where the program's frame comes from in ``env`` (a wrapped or plain Gymnasium env).

    ``tile`` is the program's tile size; None takes the env's own (``tile_size`` of its wrappers).
    """
    u = env.unwrapped
    if _is_minigrid(u):
        return _minigrid_source(env, u, tile)
    if _is_panda(u):
        return _panda_source(env, u)
    return FrameSource(lambda: env.render(), shape=None)


def frame_of(env: Any, obs: Any, tile: int | None = None) -> np.ndarray:
    """The RGB frame a reward program reads after ``env`` returned ``obs``."""
    return frame_source(env, tile)(obs)


def _loaded(module: str) -> Any:
    """A module if something imported it already, else None.

    Frames are checked against carc's own wrappers (``FullFrame``, ``Markers``) without importing
    their families here (they import this module): an env that carries one has loaded its module.
    """
    return sys.modules.get(module)


def _is_minigrid(u: Any) -> bool:
    minigrid = _loaded("minigrid.minigrid_env")
    return minigrid is not None and isinstance(u, minigrid.MiniGridEnv)


def _is_panda(u: Any) -> bool:
    core = _loaded("panda_gym.envs.core")
    return core is not None and isinstance(u, core.RobotTaskEnv)


def _minigrid_source(env: Any, u: Any, tile: int | None) -> FrameSource:
    from carc.envs.minigrid_render import render_full_frame

    if tile is None:
        tile = int(env.get_wrapper_attr("tile_size"))
    if not isinstance(tile, int) or tile < 1:
        raise FrameError(f"a MiniGrid tile size is a positive number of pixels, not {tile!r}")
    shape = (u.height * tile, u.width * tile, 3)
    family = _loaded("carc.envs.minigrid")
    full_frame = family is not None and isinstance(env, family.FullFrame)
    obs_is_frame = full_frame and env.tile_size == tile and bool(u.highlight)
    return FrameSource(lambda: render_full_frame(u, tile), shape, obs_is_frame)


PANDA_CAMERA_FIELDS = ("render_target_position", "render_distance", "render_yaw", "render_pitch", "render_roll")
NOT_CARCS_PANDA = "make it with carc.envs.panda.make_panda_env"


def _panda_source(env: Any, u: Any) -> FrameSource:
    family = _loaded("carc.envs.panda")
    if family is None or not _has_wrapper(env, family.Markers):
        raise FrameError(f"this Panda env has no carc markers (red target, blue fingers): {NOT_CARCS_PANDA}")
    if u.render_mode != "rgb_array":
        raise FrameError(f"this Panda env renders {u.render_mode!r}, not 'rgb_array': {NOT_CARCS_PANDA}")
    camera = family.camera_for(u.spec.id if u.spec is not None else type(u.task).__name__)
    for field in PANDA_CAMERA_FIELDS:
        if not np.allclose(getattr(u, field), camera[field]):
            raise FrameError(f"this Panda env's camera is not carc's ({field} {getattr(u, field)!r}, carc's {camera[field]!r}): {NOT_CARCS_PANDA}")
    shape = (int(u.render_height), int(u.render_width), 3)
    return FrameSource(u.render, shape)


def _has_wrapper(env: Any, kind: type) -> bool:
    while True:
        if isinstance(env, kind):
            return True
        inner = getattr(env, "env", None)
        if inner is None or inner is env:
            return False
        env = inner


def env_succeeded(reward: float, terminated: bool, info: Mapping[str, Any]) -> bool:
    """The env's own success signal for a step of a MiniGrid or Panda-Gym env: ``info["is_success"]``
    where the env gives it (Panda-Gym), else terminated with a positive reward (MiniGrid). For an env
    of unknown family use ``success_by_rule`` with ``carc.envs.registry.success_rule(env_id)``."""
    if "is_success" in info:
        return bool(info["is_success"])
    return bool(terminated and reward > 0)


SUCCESS_RULES = ("minigrid", "is_success", "unknown")


def success_by_rule(rule: str, reward: float, terminated: bool, info: Mapping[str, Any]) -> bool | None:
    """The env's own success signal for a step under its family's rule: ``"is_success"`` reads
    ``info["is_success"]`` (Panda-Gym), ``"minigrid"`` is terminated with a positive reward, and
    ``"unknown"`` (any other env) is None: carc does not guess what success means there.

    >>> success_by_rule("unknown", 1.0, True, {}) is None
    True
    """
    if rule == "is_success":
        return bool(info.get("is_success", False))
    if rule == "minigrid":
        return bool(terminated and reward > 0)
    if rule == "unknown":
        return None
    raise ValueError(f"a success rule is one of {SUCCESS_RULES}, not {rule!r}")


def run_expert(env: Any, expert: Expert, seed: int) -> bool:
    """Run one expert episode without recording it; True when it ends in the env's success."""
    obs, _ = env.reset(seed=seed)
    expert.reset(obs)
    while True:
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            return env_succeeded(float(reward), bool(terminated), info)
