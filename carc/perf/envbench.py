"""What a reward kernel costs inside an environment, measured side by side in one run.

Copies of the same env take the same actions in interleaved blocks (the order rotates every block);
the medians of the blocks give steps per second, and the medians of the per-block ratios give the
ratios:

* ``symbolic``: ``gym.make(env_id)``, the env's own default observation, nothing rendered;
* ``plain``: carc's env (``make_env``: for MiniGrid, the full frame at the program's tile);
* ``wrapped``: carc's env under ``CarcReward``: it renders the reward frame and runs the kernel;
* ``wrapped_minigrid`` (MiniGrid only): the same, with frames from MiniGrid's own ``get_frame``
  (how carc rendered before ``carc.envs.minigrid_render``).

``reward_overhead_ratio`` = wrapped / symbolic; ``env_overhead_ratio`` = wrapped / plain.
For MiniGrid envs, ``render_us_*`` time MiniGrid's ``get_frame`` and carc's ``render_full_frame``
on the same states (a seeded random rollout), at the program's tile and at tiles 8 and 32, after a
warm-up pass (both renderers share MiniGrid's tile cache), and check the bytes are equal.
`step_batch` is timed on 16 real frames.

>>> run_env_bench("examples/minigrid/doorkey.car", "MiniGrid-DoorKey-8x8-v0")  # doctest: +SKIP
{'env_id': ..., 'env_steps_per_s_symbolic': ..., 'reward_overhead_ratio': 0.9..., ...}
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

from carc.envs.base import frame_of
from carc.envs.registry import env_family, env_kwargs_for, make_env
from carc.envs.wrapper import CarcReward, load_reward

BATCH = 16
RENDER_TILES = (8, 32)
RENDER_STATES = 64
RENDER_CALLS = 10  # calls per state and renderer, timed together


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


class MiniGridGetFrame(gym.ObservationWrapper):
    """The full frame from MiniGrid's own ``get_frame``: the renderer carc used before its own."""

    def __init__(self, env: gym.Env, tile_size: int) -> None:
        super().__init__(env)
        self.tile_size = tile_size

    def observation(self, observation: Any) -> np.ndarray:
        return self.env.unwrapped.get_frame(highlight=True, tile_size=self.tile_size)  # type: ignore[attr-defined]


def _envs(program_path: str, env_id: str) -> dict[str, gym.Env]:
    program, _ = load_reward(program_path)
    kwargs = env_kwargs_for(program, env_id)
    plain = make_env(env_id, **kwargs)  # first: it registers the family's env ids
    envs = {
        "symbolic": gym.make(env_id),
        "plain": plain,
        "wrapped": CarcReward(make_env(env_id, **kwargs), program_path, mode="add"),
    }
    if env_family(env_id) == "minigrid":
        envs["wrapped_minigrid"] = CarcReward(MiniGridGetFrame(make_env(env_id, **kwargs), program.tile), program_path, mode="add")
    return envs


def _env_rates(envs: dict[str, gym.Env], blocks: int, block_steps: int, seed: int) -> dict[str, list[float]]:
    """Steps/s per env and block: the same actions for every env, the order rotating each block."""
    first = next(iter(envs.values()))
    for env in envs.values():
        env.reset(seed=seed)
    first.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    n_actions = int(first.action_space.n) if hasattr(first.action_space, "n") else None
    names = list(envs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for block in range(blocks + 1):
        if n_actions is not None:
            actions = rng.integers(0, n_actions, size=block_steps)
        else:
            actions = np.stack([first.action_space.sample() for _ in range(block_steps)])
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            rate = _steps_per_second(envs[name], actions)
            if block > 0:  # the first block warms caches up
                samples[name].append(rate)
    return samples


def _median_ratio(top: list[float], bottom: list[float]) -> float:
    return round(statistics.median(t / b for t, b in zip(top, bottom)), 4)


def _time_us(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    for _ in range(RENDER_CALLS):
        call()
    return (time.perf_counter() - started) / RENDER_CALLS * 1e6


def render_times(env_id: str, tiles: tuple[int, ...], seed: int = 0, states: int = RENDER_STATES) -> dict[str, Any]:
    """Median us per frame of MiniGrid's ``get_frame`` and carc's ``render_full_frame`` per tile,
    on the same states, and whether every frame was byte-identical."""
    from carc.envs.minigrid_render import render_full_frame

    env = gym.make(env_id)
    u: Any = env.unwrapped
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    times: dict[int, dict[str, list[float]]] = {tile: {"minigrid": [], "carc": []} for tile in tiles}
    identical = True
    for _ in range(states):
        for tile in tiles:
            identical &= bool(np.array_equal(render_full_frame(u, tile), u.get_frame(highlight=True, tile_size=tile)))  # warm-up
            calls = {"minigrid": partial(u.get_frame, highlight=True, tile_size=tile), "carc": partial(render_full_frame, u, tile)}
            for name in ("minigrid", "carc") if rng.random() < 0.5 else ("carc", "minigrid"):
                times[tile][name].append(_time_us(calls[name]))
        _, _, terminated, truncated, _ = env.step(int(rng.integers(0, 7)))
        if terminated or truncated:
            env.reset()
    env.close()
    result: dict[str, Any] = {"render_identical": identical, "render_states": states}
    for tile in tiles:
        minigrid_us, carc_us = statistics.median(times[tile]["minigrid"]), statistics.median(times[tile]["carc"])
        result[f"render_us_minigrid_tile{tile}"] = round(minigrid_us, 2)
        result[f"render_us_carc_tile{tile}"] = round(carc_us, 2)
        result[f"render_speedup_tile{tile}"] = round(minigrid_us / carc_us, 1)
    return result


def _render_fields(env_id: str, tile: int, states: int) -> dict[str, Any]:
    if env_family(env_id) != "minigrid":
        return {"render_us_minigrid": None, "render_us_carc": None, "render_speedup": None}
    tiles = tuple(sorted({tile, *RENDER_TILES}))
    fields = render_times(env_id, tiles, states=states)
    return {
        "render_us_minigrid": fields[f"render_us_minigrid_tile{tile}"],
        "render_us_carc": fields[f"render_us_carc_tile{tile}"],
        "render_speedup": fields[f"render_speedup_tile{tile}"],
        **fields,
    }


def run_env_bench(program_path: str, env_id: str, blocks: int = 15, block_steps: int = 400, seed: int = 0,
                  render_states: int = RENDER_STATES) -> dict[str, Any]:
    """Env steps/s symbolic, plain and wrapped (same actions, interleaved blocks), render times, batch speed."""
    envs = _envs(program_path, env_id)
    samples = _env_rates(envs, blocks, block_steps, seed)
    wrapped: Any = envs["wrapped"]
    plain = envs["plain"]
    frames = []
    obs, _ = plain.reset(seed=seed)
    for _ in range(BATCH):
        frames.append(frame_of(plain, obs))
        obs = plain.step(plain.action_space.sample())[0]
    batch = np.ascontiguousarray(np.stack(frames))
    rates = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    result: dict[str, Any] = {
        "env_id": env_id,
        "frame_shape": list(batch.shape[1:]),
        "env_steps_per_s_symbolic": rates["symbolic"],
        "env_steps_per_s_plain": rates["plain"],
        "env_steps_per_s_wrapped": rates["wrapped"],
        "env_steps_per_s_wrapped_minigrid": rates.get("wrapped_minigrid"),
        "env_overhead_ratio": _median_ratio(samples["wrapped"], samples["plain"]),
        "reward_overhead_ratio": _median_ratio(samples["wrapped"], samples["symbolic"]),
        "batch_frames_per_s": round(_batch_frames_per_second(wrapped.kernel, batch, wrapped.program.tile, repeat=7), 1),
        "batch_size": BATCH,
        "blocks": blocks,
        "block_steps": block_steps,
    }
    result.update(_render_fields(env_id, wrapped.program.tile, render_states))
    for env in envs.values():
        env.close()
    return result
