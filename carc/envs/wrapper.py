"""Embed a compiled reward program in any Gymnasium environment.

>>> env = CarcReward(gym.make("MiniGrid-DoorKey-5x5-v0"), "examples/minigrid/doorkey.car")  # doctest: +SKIP
>>> obs, info = env.reset(seed=0)               # obs: MiniGrid's own (symbolic) observation  # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step(2)                                   # doctest: +SKIP
>>> info["carc"]["progress"], info["carc"]["event"]                                           # doctest: +SKIP

The program reads the full RGB frame its palette was measured on, at the program's tile size,
whatever the policy observes (``carc.envs.base.frame_source``): a MiniGrid env made any way (plain
``gym.make``, ``RGBImgObsWrapper``, ``ImgObsWrapper``, ``FullFrame``) gives the same rewards. Mode
``add`` adds the program's reward to the env's; ``replace`` uses it alone. Wrapper arguments are
plain data (a program path), so ``env.spec`` records them and the wrapper pickles by recompiling
from the cache.
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
from carc.envs.base import FrameError, frame_source
from carc.ir.layout import DONE, PROGRESS

Mode = Literal["add", "replace"]
MODES = ("add", "replace")
FRAME_KEY = "carc_frame"


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


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


def subtask_info(program: ir.Program, state: np.ndarray, reward: float, event: int) -> dict[str, Any]:
    """``info["carc"]``: this step's program reward, the sub-task it completed, progress so far."""
    subtasks = program.subtasks
    return {
        "reward": reward,
        "event": subtasks[event].name if event >= 0 else None,
        "progress": int(state[PROGRESS]),
        "done": [bool(state[DONE + s.index]) for s in subtasks],
        "complete": int(state[PROGRESS]) == len(program.stages),
    }


class CarcReward(gym.Wrapper, RecordConstructorArgs):
    """Rewards from a carc program; sub-task events and progress in ``info["carc"]``."""

    def __init__(self, env: gym.Env, program: str, mode: Mode = "add", jit: bool = True) -> None:
        _check_mode(mode)
        RecordConstructorArgs.__init__(self, program=str(program), mode=mode, jit=jit)
        gym.Wrapper.__init__(self, env)
        self.program_path, self.mode, self.jit = str(program), mode, jit
        self.program, self.kernel = load_reward(program, jit)
        self.frames = frame_source(env, self.program.tile)
        self.state = self.kernel.new_state(1, self.program.tile)[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.kernel.reset(self.frames(obs), self.state)
        info["carc"] = subtask_info(self.program, self.state, 0.0, -1)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        reward, event = self.kernel.step(self.frames(obs), self.state)
        info["carc"] = subtask_info(self.program, self.state, reward, event)
        total = reward if self.mode == "replace" else float(env_reward) + reward
        return obs, total, terminated, truncated, info

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("kernel")
        state.pop("frames")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.program, self.kernel = load_reward(self.program_path, self.jit)
        self.frames = frame_source(self.env, self.program.tile)


class ProgramFrames(gym.Wrapper, RecordConstructorArgs):
    """Puts the program's frame (at ``tile``) in ``info["carc_frame"]`` at every reset and step.

    For the vector wrappers: the frame travels with the step that made it, so a vector env's
    auto-reset cannot swap an episode's last frame for the next episode's first.
    """

    def __init__(self, env: gym.Env, tile: int) -> None:
        RecordConstructorArgs.__init__(self, tile=tile)
        gym.Wrapper.__init__(self, env)
        self.tile = tile
        self.frames = frame_source(env, tile)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        info[FRAME_KEY] = self.frames(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info[FRAME_KEY] = self.frames(obs)
        return obs, reward, terminated, truncated, info

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("frames")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.frames = frame_source(self.env, self.tile)


def frames_in(info: dict[str, Any], num_envs: int) -> np.ndarray:
    """The ``(N, H, W, 3)`` frames ``ProgramFrames`` put in a vector env's info."""
    frames = info.get(FRAME_KEY)
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or len(frames) != num_envs:
        raise FrameError("the vector env's sub-environments give no program frames: wrap each in carc.envs.wrapper.ProgramFrames(env, program.tile)")
    return np.ascontiguousarray(frames)


class CarcVectorReward(VectorWrapper):
    """Scores every sub-environment of a Gymnasium vector env with one ``step_batch`` call a step.

    Each sub-environment is wrapped in ``ProgramFrames``. Handles both autoreset modes: NEXT_STEP
    (a reset step after each episode end: the kernel resets on its frame and pays 0) and SAME_STEP
    (the last frame comes in ``info["final_info"]``: scored, then the kernel resets on the new
    episode's first frame).
    """

    def __init__(self, env: VectorEnv, program: str, mode: Mode = "add") -> None:
        _check_mode(mode)
        super().__init__(env)
        compiled = compile_file(program)
        self.program, self.kernel = compiled.program, compiled.kernel
        self.mode = mode
        self.states = self.kernel.new_state(self.num_envs, self.program.tile)
        self.rewards = np.zeros(self.num_envs, dtype=np.float64)
        self.events = np.full(self.num_envs, -1, dtype=np.int64)
        self.needs_reset = np.zeros(self.num_envs, dtype=bool)
        self.same_step = str(env.metadata.get("autoreset_mode", "")).upper().endswith("SAME_STEP")

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)  # type: ignore[arg-type]  # a list: one seed per env
        self.kernel.reset_batch(frames_in(info, self.num_envs), self.states)
        self.needs_reset[:] = False
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, env_rewards, terminated, truncated, info = self.env.step(actions)
        new_frames = frames_in(info, self.num_envs)
        ended = np.logical_or(terminated, truncated)
        frames = new_frames
        if self.same_step and ended.any():
            frames = new_frames.copy()
            for i in np.flatnonzero(ended):
                frames[i] = info["final_info"][FRAME_KEY][i]
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
    gym.register(id=name, entry_point=f"{__name__}:make_wrapped_env", kwargs={"env_id": env_id, "program": str(program), "mode": mode, **env_kwargs})
    return name
