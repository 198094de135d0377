"""Panda-Gym family: fixed-camera renders with marker colours, and the scripted experts."""

import gymnasium as gym
import numpy as np
import pytest

from carc.envs.panda import PandaExpert, expert_succeeds, expert_success_rate, make_panda_env
from carc.envs.registry import EnvError, has_expert, make_env, make_expert

ENV_IDS = ("PandaReach-v3", "PandaPush-v3", "PandaPickAndPlace-v3", "PandaSlide-v3")


# Palette entries measured by scripts/measure_panda_palette.py (docs/panda-palette.md).
CUBE = ((15, 137, 15), (21, 199, 21), (19, 175, 19))
TARGET = ((199, 21, 21), (137, 15, 15), (172, 18, 18))
FINGERS = ((15, 15, 137), (7, 7, 75), (11, 11, 109), (19, 19, 179), (16, 16, 153))


def pixels_near(frame: np.ndarray, centres: tuple[tuple[int, int, int], ...], tol: int) -> int:
    """How many pixels lie within ``tol`` (Chebyshev) of one of ``centres``."""
    distance = np.stack([np.abs(frame.astype(int) - c).max(axis=2) for c in centres]).min(axis=0)
    return int((distance <= tol).sum())


def first_frame(env_id: str) -> np.ndarray:
    """The frame of carc's Panda env after a reset with seed 0."""
    env = make_panda_env(env_id)
    env.reset(seed=0)
    frame = env.render()
    env.close()
    return frame


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_is_one_84x84_rgb_frame(env_id: str) -> None:
    frame = first_frame(env_id)
    assert frame.shape == (84, 84, 3) and frame.dtype == np.uint8


def test_push_frame_shows_green_cube_red_target_blue_fingers() -> None:
    frame = first_frame("PandaPush-v3")
    assert pixels_near(frame, CUBE, 20) > 15
    assert pixels_near(frame, TARGET, 20) > 5  # recoloured, flat on the table
    assert pixels_near(frame, FINGERS, 14) > 3  # recoloured


def test_markers_leave_the_goal_alone() -> None:
    env = make_panda_env("PandaPush-v3")
    obs, _ = env.reset(seed=3)
    assert np.allclose(obs["desired_goal"], env.unwrapped.task.get_goal())
    assert obs["desired_goal"][2] == pytest.approx(0.02)
    env.close()


@pytest.mark.parametrize("env_id", ["PandaReach-v3", "PandaPush-v3"])
def test_expert_solves_a_few_seeds(env_id: str) -> None:
    env = gym.make(env_id)
    assert all(expert_succeeds(env, seed) for seed in (0, 1, 2))
    env.close()


@pytest.mark.parametrize("env_id", ["PandaPickAndPlace-v3", "PandaSlide-v3"])
def test_expert_success_rate(env_id: str) -> None:
    assert expert_success_rate(env_id, range(10)) >= 0.9


def test_registry_builds_the_panda_env_and_expert() -> None:
    env = make_env("PandaReach-v3")
    assert isinstance(make_expert(env), PandaExpert)
    env.close()


@pytest.mark.parametrize("env_id", ["PandaStack-v3", "PandaPushJoints-v3"])
def test_unsupported_panda_envs_are_refused(env_id: str) -> None:
    env = gym.make(env_id)
    with pytest.raises(ValueError, match="Panda expert"):
        PandaExpert(env)
    env.close()


@pytest.mark.parametrize("env_id", ["PandaStack-v3", "PandaReachJoints-v3", "PandaFlip-v3"])
def test_tasks_without_an_expert_are_made_with_markers_or_refused_cleanly(env_id: str) -> None:
    # Stack has two targets (both drawn red); Flip's texture may be missing from panda-gym's wheel,
    # which pybullet reports as an error: an EnvError, never an internal one.
    assert not has_expert(env_id)
    try:
        env = make_env(env_id)
    except EnvError as err:
        assert str(err).startswith(f"cannot make environment {env_id!r}: pybullet")
        return
    env.reset(seed=0)
    assert env.render().shape == (84, 84, 3)
    with pytest.raises(EnvError, match="Panda expert|no built-in expert"):
        make_expert(env)
    env.close()


def test_stack_draws_both_targets_red() -> None:
    assert pixels_near(first_frame("PandaStack-v3"), TARGET, 20) > 10
