"""MiniGrid envs render the full-grid RGB frame; the planning expert solves the listed missions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from carc.envs.base import frame_of
from carc.envs.minigrid import FullFrame, make_minigrid_env
from carc.envs.minigrid_expert import DROP, PICKUP, MiniGridExpert, expert_success_rate, run_expert_episode
from carc.envs.registry import env_family, make_env, make_expert, palette_mismatch

FAST_ENVS = [
    "MiniGrid-DoorKey-5x5-v0",
    "MiniGrid-DoorKey-6x6-v0",
    "MiniGrid-DoorKey-8x8-v0",
    "MiniGrid-Unlock-v0",
    "MiniGrid-UnlockPickup-v0",
    "MiniGrid-KeyCorridorS3R1-v0",
    "MiniGrid-KeyCorridorS3R2-v0",
    "MiniGrid-BlockedUnlockPickup-v0",
    # missions beyond keys and doors: the object named, done beside a target, red before blue, the
    # matching object, an object put near another, keys hidden in boxes and doors blocked by balls
    "MiniGrid-Fetch-8x8-N3-v0",
    "MiniGrid-GoToDoor-8x8-v0",
    "MiniGrid-GoToObject-8x8-N2-v0",
    "MiniGrid-RedBlueDoors-8x8-v0",
    "MiniGrid-MemoryS17Random-v0",
    "MiniGrid-PutNear-8x8-N3-v0",
    "MiniGrid-ObstructedMaze-1Dlhb-v0",
    "MiniGrid-ObstructedMaze-Full-v1",
]
SLOW_ENVS = ["MiniGrid-DoorKey-16x16-v0", "MiniGrid-KeyCorridorS3R3-v0"]
ALL_ENVS = FAST_ENVS + [pytest.param(env_id, marks=pytest.mark.slow) for env_id in SLOW_ENVS]


@pytest.mark.parametrize("tile_size", [8, 32])
def test_observation_is_full_grid_rgb_and_equals_render(tile_size: int) -> None:
    env = make_minigrid_env("MiniGrid-DoorKey-5x5-v0", tile_size=tile_size)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (5 * tile_size, 5 * tile_size, 3) and obs.dtype == np.uint8
    assert env.observation_space.shape == obs.shape
    np.testing.assert_array_equal(env.render(), obs)
    obs, *_ = env.step(2)
    np.testing.assert_array_equal(env.render(), obs)
    np.testing.assert_array_equal(frame_of(env, obs), obs)


def test_view_is_highlighted_in_frame() -> None:
    obs, _ = make_minigrid_env("MiniGrid-DoorKey-5x5-v0").reset(seed=0)
    colours = {tuple(pixel) for pixel in obs.reshape(-1, 3)}
    assert (255, 76, 76) in colours  # the agent, lightened: it is always in its own view


def test_seed_makes_resets_reproducible() -> None:
    first = make_minigrid_env("MiniGrid-DoorKey-8x8-v0", seed=7)
    second = make_minigrid_env("MiniGrid-DoorKey-8x8-v0", seed=7)
    np.testing.assert_array_equal(first.render(), second.render())


def test_registry_dispatches_minigrid() -> None:
    env = make_env("MiniGrid-Unlock-v0", tile_size=16)
    assert env_family("MiniGrid-Unlock-v0") == env_family("BabyAI-GoToLocal-v0") == "minigrid"
    assert env.reset(seed=0)[0].shape[2] == 3 and env.get_wrapper_attr("tile_size") == 16
    assert isinstance(make_expert(env), MiniGridExpert)


@pytest.mark.parametrize("env_id", ALL_ENVS)
@pytest.mark.parametrize("seed", [0, 1])
def test_expert_solves(env_id: str, seed: int) -> None:
    env = make_minigrid_env(env_id)
    assert run_expert_episode(env, seed)


def test_expert_moves_the_blocking_ball_first() -> None:
    env = make_minigrid_env("MiniGrid-BlockedUnlockPickup-v0")
    obs, _ = env.reset(seed=0)
    expert = MiniGridExpert(env)
    expert.reset(obs)
    while (action := expert.act(obs)) != PICKUP:
        obs, *_ = env.step(action)
    obs, *_ = env.step(action)
    assert env.get_wrapper_attr("minigrid").carrying.type == "ball"
    while (action := expert.act(obs)) != DROP:
        obs, *_ = env.step(action)
    assert action == DROP


@pytest.mark.slow
@pytest.mark.parametrize("env_id", FAST_ENVS + SLOW_ENVS)
def test_expert_success_rate_is_total_over_100_seeds(env_id: str) -> None:
    assert expert_success_rate(env_id, range(100)) == 1.0


@pytest.mark.parametrize("tile_size", [8, 32])
def test_frames_are_minigrid_get_frame(tile_size: int) -> None:
    env = make_minigrid_env("MiniGrid-KeyCorridorS3R1-v0", tile_size=tile_size)
    obs, _ = env.reset(seed=2)
    minigrid = env.get_wrapper_attr("minigrid")
    for action in [PICKUP, 2, 1, 2, 2, 0, 5, 2, 2]:
        np.testing.assert_array_equal(obs, minigrid.get_frame(highlight=True, tile_size=tile_size))
        obs, *_ = env.step(action)


def test_full_frame_needs_a_minigrid_env() -> None:
    with pytest.raises(TypeError, match="needs a MiniGrid env"):
        FullFrame(gym.make("CartPole-v1"))


@pytest.mark.parametrize(("modules", "env_id", "said"), [
    (("minigrid",), "CartPole-v1", "the program says `use minigrid`, a palette measured on MiniGrid's frames, but CartPole-v1 is not a MiniGrid env"),
    (("panda",), "MiniGrid-DoorKey-5x5-v0", "a palette measured on Panda-Gym's frames, but MiniGrid-DoorKey-5x5-v0 is not a Panda-Gym env"),
    (("minigrid",), "BabyAI-GoToLocal-v0", None),
    (("panda",), "PandaReachDense-v3", None),
    ((), "CartPole-v1", None),
])
def test_a_palette_from_another_env_family_is_named(modules: tuple[str, ...], env_id: str, said: str | None) -> None:
    found = palette_mismatch(modules, env_id)
    assert (found is None) if said is None else (found is not None and said in found)
