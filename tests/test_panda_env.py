"""Panda-Gym family: fixed-camera renders, the recoloured target, and the scripted experts."""

import numpy as np
import pytest

from carc.envs.panda import PandaExpert, make_panda_env
from carc.envs.registry import make_env, make_expert


def run(env_id: str, seed: int) -> bool:
    env = make_panda_env(env_id, render=False)
    expert = PandaExpert(env)
    obs, _ = env.reset(seed=seed)
    expert.reset(obs)
    info: dict = {}
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
    env.close()
    return bool(info["is_success"])


def test_render_is_84x84_rgb_with_green_cube_and_red_target() -> None:
    env = make_env("PandaPush-v3")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (84, 84, 3) and frame.dtype == np.uint8
    pixels = frame.reshape(-1, 3).astype(int)
    assert ((pixels[:, 1] > 150) & (pixels[:, 0] < 60)).sum() > 5  # the cube's green
    assert ((pixels[:, 0] > 150) & (pixels[:, 1] < 60)).sum() > 5  # the target, recoloured red
    env.close()


@pytest.mark.parametrize("env_id", ["PandaReach-v3", "PandaPush-v3", "PandaPickAndPlace-v3"])
def test_expert_solves_a_few_seeds(env_id: str) -> None:
    assert all(run(env_id, seed) for seed in (0, 1))


def test_registry_builds_the_panda_expert() -> None:
    env = make_env("PandaReach-v3")
    assert isinstance(make_expert(env), PandaExpert)


def test_unknown_panda_task_is_refused() -> None:
    env = make_panda_env("PandaStack-v3", render=False)
    with pytest.raises(ValueError, match="no scripted Panda expert"):
        PandaExpert(env)
