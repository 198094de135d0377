"""The Gymnasium wrappers: single env (checker, modes, info, pickling) and vector env (batch)."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from carc.envs.registry import make_env, make_expert
from carc.envs.wrapper import CarcReward, CarcVectorReward, make_wrapped_env, register_wrapped, wrapped_env_fn

DOORKEY = "examples/minigrid/doorkey.car"
ENV = "MiniGrid-DoorKey-5x5-v0"


def expert_return(env: gym.Env, seed: int) -> tuple[float, list[str], dict]:
    obs, info = env.reset(seed=seed)
    expert = make_expert(env)
    expert.reset(obs)
    total, events = 0.0, []
    while True:
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        total += float(reward)
        if info["carc"]["event"]:
            events.append(info["carc"]["event"])
        if terminated or truncated:
            return total, events, info


def test_env_checker_passes() -> None:
    check_env(make_wrapped_env(ENV, DOORKEY).unwrapped)
    check_env(make_wrapped_env(ENV, DOORKEY), skip_render_check=True)


def test_expert_completes_every_subtask_in_order() -> None:
    env = make_wrapped_env(ENV, DOORKEY, mode="replace")
    total, events, info = expert_return(env, seed=3)
    assert events == ["got_key", "opened", "at_goal"]
    assert info["carc"]["complete"] and info["carc"]["progress"] == 3
    assert total > 1.3  # bonuses 0.2 + 0.2 + 1.0, plus (small) shaping


def test_add_mode_adds_the_env_reward() -> None:
    replaced, _, _ = expert_return(make_wrapped_env(ENV, DOORKEY, mode="replace"), seed=5)
    added, _, _ = expert_return(make_wrapped_env(ENV, DOORKEY, mode="add"), seed=5)
    assert added > replaced  # the env's success reward is positive


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        CarcReward(make_env(ENV), DOORKEY, mode="multiply")  # type: ignore[arg-type]


def test_symbolic_observation_reward_from_render() -> None:
    env = CarcReward(gym.make(ENV, render_mode="rgb_array"), DOORKEY, tile=32)
    obs, _ = env.reset(seed=0)
    assert isinstance(obs, dict)  # the policy sees MiniGrid's symbolic observation
    _, _, _, _, info = env.step(0)
    assert "carc" in info


def test_pickle_round_trip_keeps_state() -> None:
    env = make_wrapped_env(ENV, DOORKEY)
    env.reset(seed=1)
    env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    assert np.array_equal(clone.state, env.state)
    assert clone.step(2)[1] == env.step(2)[1]


def test_registered_id_builds_the_wrapped_env() -> None:
    env_id = register_wrapped(ENV, DOORKEY, new_id="carc/test-doorkey-v0")
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert "carc" in info


def test_vector_wrapper_matches_single_envs() -> None:
    n = 3
    vec = CarcVectorReward(gym.vector.SyncVectorEnv([wrapped_env_fn(ENV, DOORKEY, mode="add") for _ in range(n)]), DOORKEY, mode="replace")
    singles = [make_wrapped_env(ENV, DOORKEY, mode="replace") for _ in range(n)]
    obs, _ = vec.reset(seed=[10, 11, 12])
    for i, env in enumerate(singles):
        env.reset(seed=10 + i)
    rng = np.random.default_rng(0)
    for _ in range(40):
        actions = rng.integers(0, 3, size=n)
        _, rewards, _, _, _ = vec.step(actions)
        for i, env in enumerate(singles):
            _, _, terminated_i, _, info_i = env.step(int(actions[i]))
            assert rewards[i] == info_i["carc"]["reward"]
            assert not terminated_i  # random turning and walking cannot open a locked door
