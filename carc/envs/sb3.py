"""The program's reward in stable-baselines3's world: a ``VecEnvWrapper`` over SB3 vector envs.

Every sub-environment is wrapped in ``carc.envs.wrapper.ProgramFrames`` (the program's frame in
``info["carc_frame"]``), with SB3's ``Monitor`` inside it so the logged episode returns are the
env's own. One ``step_batch`` call scores all envs per step. SB3 resets an env as soon as its
episode ends: the terminal step is scored on the terminal frame (its step info), and the kernel
state restarts on the new episode's first frame (``reset_infos``).

>>> venv = CarcVecReward(DummyVecEnv([make] * 8), program, kernel, replace=False)  # doctest: +SKIP

Each step's info gets ``info["carc"]`` (``reward``, ``event``: the sub-task completed this step
or None, ``progress``), and the last step of an episode ``info["carc_episode"]``: sub-task name ->
completed in that episode, for callbacks that log completion rates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from carc import ir
from carc.backend.kernel import Kernel
from carc.envs.base import FrameError
from carc.envs.wrapper import FRAME_KEY
from carc.ir.layout import DONE, PROGRESS


def _frame(info: dict[str, Any]) -> np.ndarray:
    frame = info.pop(FRAME_KEY, None)
    if frame is None:
        raise FrameError("a sub-environment gives no program frame: wrap each env in carc.envs.wrapper.ProgramFrames(env, program.tile)")
    return frame


class CarcVecReward(VecEnvWrapper):
    """Adds (``replace=False``) or substitutes (``replace=True``) the program's reward."""

    def __init__(self, venv: VecEnv, program: ir.Program, kernel: Kernel, replace: bool = False) -> None:
        super().__init__(venv)
        self.program, self.kernel, self.replace = program, kernel, replace
        self.names = [s.name for s in program.subtasks]
        self.done_slots = [DONE + s.index for s in program.subtasks]
        self.states = kernel.new_state(self.num_envs, program.tile)
        self.rewards = np.zeros(self.num_envs, dtype=np.float64)
        self.events = np.full(self.num_envs, -1, dtype=np.int64)

    def _reset_frames(self) -> list[dict[str, Any]]:
        return self.venv.unwrapped.reset_infos

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        frames = np.stack([_frame(info) for info in self._reset_frames()])
        self.kernel.reset_batch(frames, self.states)
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        obs, env_rewards, dones, infos = self.venv.step_wait()
        frames = np.stack([_frame(info) for info in infos])  # the terminal frame where an episode ended
        self.kernel.step_batch(frames, self.states, self.rewards, self.events)
        for i, info in enumerate(infos):
            event = int(self.events[i])
            info["carc"] = {"reward": float(self.rewards[i]), "event": self.names[event] if event >= 0 else None, "progress": int(self.states[i, PROGRESS])}
        reset_infos = self._reset_frames()
        for ended in np.flatnonzero(dones):
            infos[ended]["carc_episode"] = {name: bool(self.states[ended, slot]) for name, slot in zip(self.names, self.done_slots, strict=True)}
            self.kernel.reset(_frame(reset_infos[ended]), self.states[ended])
        total = self.rewards.astype(np.float32) if self.replace else env_rewards + self.rewards.astype(np.float32)
        return obs, total, dones, infos
