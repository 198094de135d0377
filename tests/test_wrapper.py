"""The Gymnasium wrappers: the program reads its own frame however the env was built (the same
rewards for one scripted episode every way), frames that cannot be the program's are refused,
modes, info, pickling, and the vector wrapper's batch and auto-reset."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from minigrid.wrappers import ImgObsWrapper, RGBImgObsWrapper

from carc.envs.base import FrameError, check_frame, frame_of
from carc.envs.minigrid import FullFrame, make_minigrid_env
from carc.envs.minigrid_expert import MiniGridExpert
from carc.envs.registry import make_env, make_expert
from carc.envs.wrapper import CarcReward, CarcVectorReward, ProgramFrames, make_wrapped_env, register_wrapped, wrapped_env_fn
from carc.ir.layout import PROGRESS

DOORKEY = "examples/minigrid/doorkey.car"
ENV = "MiniGrid-DoorKey-5x5-v0"
SEED = 3

MINIGRID_BUILDS: dict[str, Callable[[], gym.Env]] = {
    "gym.make": lambda: gym.make(ENV),
    "gym.make rgb_array": lambda: gym.make(ENV, render_mode="rgb_array"),
    "RGBImgObsWrapper": lambda: RGBImgObsWrapper(gym.make(ENV)),
    "RGBImgObsWrapper tile 32": lambda: RGBImgObsWrapper(gym.make(ENV, render_mode="rgb_array"), tile_size=32),
    "ImgObsWrapper": lambda: ImgObsWrapper(gym.make(ENV)),
    "ImgObsWrapper(RGBImgObsWrapper)": lambda: ImgObsWrapper(RGBImgObsWrapper(gym.make(ENV))),
    "FullFrame": lambda: FullFrame(gym.make(ENV), 8),
    "FullFrame tile 16": lambda: FullFrame(gym.make(ENV), 16),
    "registry make_env": lambda: make_env(ENV, tile_size=8),
}


def expert_actions(seed: int = SEED) -> list[int]:
    env = make_minigrid_env(ENV)
    obs, _ = env.reset(seed=seed)
    expert = MiniGridExpert(env)
    actions = []
    while True:
        actions.append(expert.act(obs))
        obs, _, terminated, truncated, _ = env.step(actions[-1])
        if terminated or truncated:
            return actions


def replay(env: gym.Env, actions: list[int], seed: int = SEED) -> tuple[list[float], list[str]]:
    env.reset(seed=seed)
    rewards, events = [], []
    for action in actions:
        _, reward, _, _, info = env.step(action)
        rewards.append(float(reward))
        if info["carc"]["event"]:
            events.append(info["carc"]["event"])
    return rewards, events


@pytest.fixture(scope="module")
def scripted() -> tuple[list[int], list[float]]:
    """The expert's actions on DoorKey-5x5 seed 3, and the interpreter's rewards on carc's own env."""
    actions = expert_actions()
    rewards, events = replay(CarcReward(make_env(ENV, tile_size=8), DOORKEY, mode="replace", jit=False), actions)
    assert events == ["got_key", "opened", "at_goal"]
    return actions, rewards


@pytest.mark.parametrize("build", list(MINIGRID_BUILDS))
def test_every_way_of_building_minigrid_pays_the_same_rewards(build: str, scripted: tuple[list[int], list[float]]) -> None:
    actions, expected = scripted
    rewards, events = replay(CarcReward(MINIGRID_BUILDS[build](), DOORKEY, mode="replace"), actions)
    assert rewards == pytest.approx(expected, abs=1e-9)
    assert events == ["got_key", "opened", "at_goal"]


def test_the_bonuses_land_on_the_steps_that_earn_them(scripted: tuple[list[int], list[float]]) -> None:
    actions, rewards = scripted
    pickup, toggle = actions.index(3), actions.index(5)
    assert rewards[pickup] == pytest.approx(0.2, abs=0.02)
    assert rewards[toggle] == pytest.approx(0.2, abs=0.02)
    assert rewards[-1] == pytest.approx(1.0, abs=0.02)
    others = [r for i, r in enumerate(rewards) if i not in (pickup, toggle, len(rewards) - 1)]
    assert max(abs(r) for r in others) < 0.05  # shaping only: no bonus for a turn


def test_symbolic_observation_is_not_read_as_a_picture() -> None:
    """The bug: ImgObsWrapper's 7x7x3 symbolic view is an (H, W, 3) uint8 array, yet not a frame."""
    env = ImgObsWrapper(gym.make(ENV, render_mode="rgb_array"))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (7, 7, 3)
    assert frame_of(env, obs, tile=8).shape == (40, 40, 3)
    _, reward, _, _, info = CarcReward(env, DOORKEY, mode="replace").step(0)  # a left turn
    assert abs(float(reward)) < 0.05 and info["carc"]["event"] is None


def test_add_mode_pays_the_env_reward_plus_the_programs(scripted: tuple[list[int], list[float]]) -> None:
    actions, carc_rewards = scripted
    env = gym.make(ENV)
    env.reset(seed=SEED)
    env_rewards = [float(env.step(a)[1]) for a in actions]
    added, _ = replay(CarcReward(gym.make(ENV), DOORKEY, mode="add"), actions)
    assert env_rewards[-1] > 0.5
    assert added == pytest.approx([e + c for e, c in zip(env_rewards, carc_rewards, strict=True)], abs=1e-9)


def test_frames_that_cannot_be_the_programs_are_refused() -> None:
    with pytest.raises(FrameError, match=r"\(40, 40, 3\).*got \(7, 7, 3\)"):
        check_frame(np.zeros((7, 7, 3), np.uint8), (40, 40, 3))
    with pytest.raises(FrameError, match="uint8 RGB image"):
        check_frame(np.zeros((40, 40, 3), np.float32), None)
    with pytest.raises(FrameError, match="uint8 RGB image"):
        check_frame(None, None)
    env = CarcReward(gym.make("CartPole-v1"), DOORKEY)  # renders nothing: no frame at all
    with pytest.raises(FrameError, match="uint8 RGB image"):
        env.reset(seed=0)


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        CarcReward(make_env(ENV), DOORKEY, mode="multiply")  # type: ignore[arg-type]


def test_env_checker_passes() -> None:
    check_env(make_wrapped_env(ENV, DOORKEY).unwrapped)
    check_env(make_wrapped_env(ENV, DOORKEY), skip_render_check=True)


def test_pickle_round_trip_keeps_state() -> None:
    env = CarcReward(gym.make(ENV), DOORKEY)
    env.reset(seed=1)
    env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    assert np.array_equal(clone.state, env.state)
    assert clone.step(2)[1] == env.step(2)[1]


def test_registered_id_builds_the_wrapped_env() -> None:
    env = gym.make(register_wrapped(ENV, DOORKEY, new_id="carc/test-doorkey-v0"))
    _, info = env.reset(seed=0)
    assert info["carc"]["progress"] == 0


def test_expert_completes_every_subtask_in_order() -> None:
    env = make_wrapped_env(ENV, DOORKEY, mode="replace")
    obs, _ = env.reset(seed=5)
    expert = make_expert(env)
    expert.reset(obs)
    info: dict = {}
    for _ in range(100):
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["carc"]["complete"] and info["carc"]["progress"] == 3


@pytest.mark.parametrize("autoreset", [gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP])
def test_vector_wrapper_matches_single_envs_across_episode_ends(autoreset: gym.vector.AutoresetMode, scripted: tuple[list[int], list[float]]) -> None:
    """Env 0 plays the expert's episode, is auto-reset, then moves; env 1 turns all along."""
    actions, expected = scripted
    vec = CarcVectorReward(gym.vector.SyncVectorEnv([lambda: ProgramFrames(gym.make(ENV), 8)] * 2, autoreset_mode=autoreset), DOORKEY, mode="replace")
    vec.reset(seed=[SEED, 0])
    first = [vec.step(np.array([a, 1]))[1] for a in actions]
    assert [float(r[0]) for r in first] == pytest.approx(expected, abs=1e-9)  # the terminal step pays the goal
    if autoreset == gym.vector.AutoresetMode.NEXT_STEP:
        first.append(vec.step(np.array([0, 1]))[1])  # the reset step
        assert first[-1][0] == 0.0
    assert vec.states[0, PROGRESS] == 0  # restarted on the new episode's first frame
    after = vec.step(np.array([2, 1]))[1]
    again = CarcReward(gym.make(ENV), DOORKEY, mode="replace")
    replay(again, actions)
    again.reset()  # the new episode, as the vector env's auto-reset drew it
    assert after[0] == pytest.approx(float(again.step(2)[1]), abs=1e-9)
    turning = CarcReward(gym.make(ENV), DOORKEY, mode="replace")
    turning.reset(seed=0)
    assert [float(r[1]) for r in [*first, after]] == pytest.approx([float(turning.step(1)[1]) for _ in range(len(first) + 1)], abs=1e-9)


def test_vector_wrapper_needs_program_frames() -> None:
    with pytest.raises(FrameError, match="ProgramFrames"):
        CarcVectorReward(gym.vector.SyncVectorEnv([lambda: gym.make(ENV)]), DOORKEY).reset(seed=0)


def test_wrapped_env_fn_is_picklable() -> None:
    env = pickle.loads(pickle.dumps(wrapped_env_fn(ENV, DOORKEY)))()
    assert env.reset(seed=0)[0].shape == (40, 40, 3)


# ---- Panda-Gym: the program's frame is carc's fixed camera with its markers ---------------------

PUSH = "examples/panda/push.car"
PANDA = "PandaPush-v3"


@pytest.fixture(scope="module")
def panda_script() -> list[np.ndarray]:
    from carc.envs.panda import PandaExpert, make_panda_env

    env = make_panda_env(PANDA)
    obs, _ = env.reset(seed=SEED)
    expert = PandaExpert(env)
    expert.reset(obs)
    actions = []
    for _ in range(60):
        actions.append(expert.act(obs))
        obs, _, terminated, truncated, _ = env.step(actions[-1])
        if terminated or truncated:
            break
    env.close()
    return actions


def test_panda_rewards_are_the_same_every_way_carc_builds_the_env(panda_script: list[np.ndarray]) -> None:
    from carc.envs.panda import make_panda_env

    builds = {
        "make_panda_env": lambda: CarcReward(make_panda_env(PANDA), PUSH, mode="replace"),
        "FlattenObservation(make_panda_env)": lambda: CarcReward(gym.wrappers.FlattenObservation(make_panda_env(PANDA)), PUSH, mode="replace"),
        "registry make_wrapped_env": lambda: make_wrapped_env(PANDA, PUSH, mode="replace"),
    }
    paid = {}
    for name, build in builds.items():
        env = build()
        env.reset(seed=SEED)
        steps = [env.step(a) for a in panda_script]
        paid[name] = [float(s[1]) for s in steps]
        assert steps[-1][2], name  # the expert's push succeeds
        assert [s[4]["carc"]["event"] for s in steps if s[4]["carc"]["event"]] == ["pushed", "on_goal"], name
        env.close()
    first = paid.pop("make_panda_env")
    for name, rewards in paid.items():
        assert rewards == pytest.approx(first, abs=1e-9), name


@pytest.mark.parametrize("kwargs", [{}, {"render_mode": "rgb_array"}])
def test_a_plain_panda_env_cannot_give_the_programs_frame(kwargs: dict) -> None:
    import panda_gym  # noqa: F401

    env = gym.make(PANDA, **kwargs)
    with pytest.raises(FrameError, match="no carc markers"):
        CarcReward(env, PUSH)
    env.close()


def test_a_panda_env_with_markers_but_another_camera_is_refused() -> None:
    from carc.envs.panda import Markers

    env = Markers(gym.make(PANDA, render_mode="rgb_array"))
    with pytest.raises(FrameError, match="camera is not carc's"):
        CarcReward(env, PUSH)
    env.close()
