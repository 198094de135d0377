"""Embed a compiled reward program in any Gymnasium environment.

>>> env = make_wrapped_env("MiniGrid-DoorKey-5x5-v0", "examples/minigrid/doorkey.car")  # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                                                        # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step(2)                              # doctest: +SKIP
>>> info["carc"]["progress"], info["carc"]["event"]                                      # doctest: +SKIP

The program reads RGB frames: the observation when it is an RGB image, else ``env.render()``, so a
policy may see symbolic observations while the reward reads pixels. Mode ``add`` adds the
program's reward to the env's; ``replace`` uses it alone. Wrapper arguments are plain data (a
program path), so ``env.spec`` records them and the wrapper pickles by recompiling from the cache.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.utils import RecordConstructorArgs
from gymnasium.vector import VectorEnv, VectorWrapper

from carc import ir
from carc.api import check_file, compile_file
from carc.envs.base import frame_of, is_rgb_frame
from carc.ir.layout import DONE, PROGRESS

Mode = Literal["add", "replace"]
MODES = ("add", "replace")


class RewardKernel(Protocol):
    """What the wrappers need of a kernel; the interpreter offers the same (without batching)."""

    def new_state(self, n: int = 1, tile: int | None = None) -> np.ndarray: ...

    def reset(self, frame: np.ndarray, state: np.ndarray) -> None: ...

    def step(self, frame: np.ndarray, state: np.ndarray) -> tuple[float, int]: ...


def load_reward(program_path: str | Path, jit: bool = True) -> tuple[ir.Program, RewardKernel]:
    """Check a program file and build its kernel (cached numba) or, with jit=False, the interpreter."""
    if jit:
        compiled = compile_file(program_path)
        return compiled.program, compiled.kernel
    from carc.interpreter import Interpreter

    program = check_file(program_path)
    return program, Interpreter(program)


def _tile_of(env: gym.Env | VectorEnv) -> int | None:
    try:
        return int(env.get_wrapper_attr("tile_size"))
    except AttributeError:
        return None


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


class CarcReward(gym.Wrapper, RecordConstructorArgs):
    """Rewards from a carc program; sub-task events and progress in ``info["carc"]``."""

    def __init__(self, env: gym.Env, program: str, mode: Mode = "add", tile: int | None = None, jit: bool = True) -> None:
        _check_mode(mode)
        RecordConstructorArgs.__init__(self, program=str(program), mode=mode, tile=tile, jit=jit)
        gym.Wrapper.__init__(self, env)
        self.program_path, self.mode, self.jit = str(program), mode, jit
        self.program, self.kernel = load_reward(program, jit)
        self.tile = tile if tile is not None else _tile_of(env)
        self.state = self.kernel.new_state(1, self.tile)[0]

    def _info(self, reward: float, event: int) -> dict[str, Any]:
        subtasks = self.program.subtasks
        return {
            "reward": reward,
            "event": subtasks[event].name if event >= 0 else None,
            "progress": int(self.state[PROGRESS]),
            "done": [bool(self.state[DONE + s.index]) for s in subtasks],
            "complete": int(self.state[PROGRESS]) == len(self.program.stages),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.kernel.reset(frame_of(self.env, obs), self.state)
        info["carc"] = self._info(0.0, -1)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        reward, event = self.kernel.step(frame_of(self.env, obs), self.state)
        info["carc"] = self._info(reward, event)
        total = reward if self.mode == "replace" else float(env_reward) + reward
        return obs, total, terminated, truncated, info

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("kernel")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.program, self.kernel = load_reward(self.program_path, self.jit)


class CarcVectorReward(VectorWrapper):
    """Scores every sub-environment of a vector env with one ``step_batch`` call per step.

    Handles both autoreset modes: NEXT_STEP (a reset step after each episode end: the kernel
    resets on its frame and gives reward 0) and SAME_STEP (the final frame comes in
    ``info["final_obs"]``: scored, then the kernel resets on the new episode's first frame).
    """

    def __init__(self, env: VectorEnv, program: str, mode: Mode = "add", tile: int | None = None) -> None:
        _check_mode(mode)
        super().__init__(env)
        self.program, self.kernel = load_reward(program, jit=True)
        self.mode = mode
        self.tile = tile if tile is not None else _tile_of(env)
        self.states = self.kernel.new_state(self.num_envs, self.tile)
        self.rewards = np.zeros(self.num_envs, dtype=np.float64)
        self.events = np.full(self.num_envs, -1, dtype=np.int64)
        self.needs_reset = np.zeros(self.num_envs, dtype=bool)
        self.same_step = str(env.metadata.get("autoreset_mode", "")).upper().endswith("SAME_STEP")

    def _frames(self, obs: Any) -> np.ndarray:
        if isinstance(obs, np.ndarray) and obs.ndim == 4 and obs.dtype == np.uint8 and obs.shape[-1] == 3:
            return obs
        frames = self.env.render()
        if frames is None or not all(is_rgb_frame(f) for f in frames):
            raise ValueError("vector env gives no RGB frames: make its envs with render_mode='rgb_array'")
        return np.stack(frames)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.kernel.reset_batch(np.ascontiguousarray(self._frames(obs)), self.states)
        self.needs_reset[:] = False
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, env_rewards, terminated, truncated, info = self.env.step(actions)
        new_frames = np.ascontiguousarray(self._frames(obs))
        ended = np.logical_or(terminated, truncated)
        frames = new_frames
        if self.same_step and ended.any():
            frames = new_frames.copy()
            for i in np.flatnonzero(ended):
                frames[i] = frame_of(self.env, info["final_obs"][i])
        self.kernel.step_batch(frames, self.states, self.rewards, self.events)
        rewards = self.rewards.copy()
        for i in np.flatnonzero(self.needs_reset):  # NEXT_STEP: this frame starts a new episode
            self.kernel.reset(frames[i], self.states[i])
            rewards[i] = 0.0
        if self.same_step:
            for i in np.flatnonzero(ended):
                self.kernel.reset(new_frames[i], self.states[i])
        else:
            self.needs_reset = ended.copy()
        info["carc_reward"], info["carc_event"] = rewards, self.events.copy()
        info["carc_progress"] = self.states[:, PROGRESS].astype(np.int64)
        total = rewards if self.mode == "replace" else np.asarray(env_rewards, dtype=np.float64) + rewards
        return obs, total, terminated, truncated, info


def make_wrapped_env(env_id: str, program: str, mode: Mode = "add", jit: bool = True, **env_kwargs: Any) -> gym.Env:
    """An env of carc's registry (MiniGrid, Panda-Gym, any Gymnasium id) with the program's reward."""
    from carc.envs.registry import env_kwargs_for, make_env

    kwargs = {**env_kwargs_for(check_file(program), env_id), **env_kwargs}
    return CarcReward(make_env(env_id, **kwargs), program, mode=mode, jit=jit)


def wrapped_env_fn(env_id: str, program: str, mode: Mode = "add", **env_kwargs: Any) -> partial[gym.Env]:
    """A picklable constructor, for ``gymnasium.vector.AsyncVectorEnv`` and SB3's vector envs."""
    return partial(make_wrapped_env, env_id, str(program), mode, **env_kwargs)


def register_wrapped(env_id: str, program: str, new_id: str | None = None, mode: Mode = "add", **env_kwargs: Any) -> str:
    """Register `carc/<program>-<env id>` (or `new_id`) so `gym.make` builds the wrapped env."""
    name = new_id or f"carc/{Path(program).stem}-{env_id}"
    gym.register(id=name, entry_point=make_wrapped_env, kwargs={"env_id": env_id, "program": str(program), "mode": mode, **env_kwargs})
    return name
