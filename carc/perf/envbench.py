"""What a reward kernel costs inside an environment, measured side by side in one run.

Plain and wrapped copies of the same env take the same actions in interleaved blocks; the medians
of the blocks give steps per second and their ratio. `step_batch` is timed on 16 real frames.

>>> run_env_bench("examples/minigrid/doorkey.car", "MiniGrid-DoorKey-8x8-v0")  # doctest: +SKIP
{'env_id': ..., 'env_steps_per_s_plain': ..., 'env_overhead_ratio': 0.98..., ...}
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np

from carc.envs.base import frame_of
from carc.envs.registry import env_kwargs_for, make_env
from carc.envs.wrapper import CarcReward, load_reward

BATCH = 16


def _steps_per_second(env: gym.Env, actions: np.ndarray) -> float:
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - started)


def _batch_frames_per_second(kernel: Any, frames: np.ndarray, tile: int | None, repeat: int) -> float:
    states = kernel.new_state(len(frames), tile)
    kernel.reset_batch(frames, states)
    rewards = np.zeros(len(frames), dtype=np.float64)
    events = np.zeros(len(frames), dtype=np.int64)
    kernel.step_batch(frames, states, rewards, events)
    calls = 200
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            kernel.step_batch(frames, states, rewards, events)
        samples.append(calls * len(frames) / (time.perf_counter() - started))
    return statistics.median(samples)


def run_env_bench(program_path: str, env_id: str, blocks: int = 15, block_steps: int = 400, seed: int = 0) -> dict[str, Any]:
    """Env steps per second plain and wrapped (same actions, interleaved blocks), and batch speed."""
    program, kernel = load_reward(program_path)
    kwargs = env_kwargs_for(program, env_id)
    plain = make_env(env_id, **kwargs)
    wrapped = CarcReward(make_env(env_id, **kwargs), program_path, mode="add")
    plain.reset(seed=seed)
    wrapped.reset(seed=seed)
    plain.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    n_actions = int(plain.action_space.n) if hasattr(plain.action_space, "n") else None
    samples: dict[str, list[float]] = {"plain": [], "wrapped": []}
    for block in range(blocks + 1):
        if n_actions is not None:
            actions = rng.integers(0, n_actions, size=block_steps)
        else:
            actions = np.stack([plain.action_space.sample() for _ in range(block_steps)])
        order = (("plain", plain), ("wrapped", wrapped)) if block % 2 == 0 else (("wrapped", wrapped), ("plain", plain))
        for name, env in order:
            rate = _steps_per_second(env, actions)
            if block > 0:  # the first block warms caches up
                samples[name].append(rate)
    frames = []
    obs, _ = plain.reset(seed=seed)
    for _ in range(BATCH):
        frames.append(frame_of(plain, obs))
        obs = plain.step(plain.action_space.sample())[0]
    plain_rate, wrapped_rate = statistics.median(samples["plain"]), statistics.median(samples["wrapped"])
    ratios = [w / p for p, w in zip(samples["plain"], samples["wrapped"])]
    batch = np.ascontiguousarray(np.stack(frames))
    return {
        "env_id": env_id,
        "frame_shape": list(batch.shape[1:]),
        "env_steps_per_s_plain": round(plain_rate, 1),
        "env_steps_per_s_wrapped": round(wrapped_rate, 1),
        "env_overhead_ratio": round(statistics.median(ratios), 4),
        "batch_frames_per_s": round(_batch_frames_per_second(kernel, batch, wrapped.tile, repeat=7), 1),
        "batch_size": BATCH,
        "blocks": blocks,
        "block_steps": block_steps,
    }
