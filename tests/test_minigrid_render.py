"""carc's MiniGrid renderer gives the bytes of MiniGrid's own get_frame, on random states and on envs."""

from __future__ import annotations

import warnings
from typing import Any

import minigrid  # noqa: F401  (registers the MiniGrid envs)
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from minigrid.core.constants import COLOR_TO_IDX, COLORS
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Ball, Box, Door, Floor, Goal, Key, Lava, Wall, WorldObj
from minigrid.minigrid_env import MiniGridEnv
from minigrid.utils.rendering import fill_coords, point_in_circle

from carc.envs.minigrid import make_minigrid_env
from carc.envs.minigrid_expert import MiniGridExpert
from carc.envs.minigrid_render import render_full_frame
from carc.perf.envbench import render_times, run_env_bench

COLOR_NAMES = sorted(COLOR_TO_IDX)
TILES = [5, 8, 12, 16, 32]
SUPPORTED_ENVS = [
    "MiniGrid-DoorKey-5x5-v0",
    "MiniGrid-DoorKey-6x6-v0",
    "MiniGrid-DoorKey-8x8-v0",
    "MiniGrid-DoorKey-16x16-v0",
    "MiniGrid-Unlock-v0",
    "MiniGrid-UnlockPickup-v0",
    "MiniGrid-KeyCorridorS3R1-v0",
    "MiniGrid-KeyCorridorS3R2-v0",
    "MiniGrid-KeyCorridorS3R3-v0",
    "MiniGrid-BlockedUnlockPickup-v0",
    "MiniGrid-LavaGapS5-v0",
]
MORE_ENVS = [
    "MiniGrid-Empty-8x8-v0",
    "MiniGrid-FourRooms-v0",
    "MiniGrid-MultiRoom-N2-S4-v0",
    "MiniGrid-LavaCrossingS9N1-v0",
    "MiniGrid-SimpleCrossingS9N1-v0",
    "MiniGrid-Dynamic-Obstacles-5x5-v0",
    "MiniGrid-DistShift1-v0",
    "MiniGrid-LockedRoom-v0",
    "MiniGrid-ObstructedMaze-1Dlhb-v0",
    "MiniGrid-MemoryS7-v0",
    "MiniGrid-RedBlueDoors-6x6-v0",
    "BabyAI-GoToLocal-v0",
]
STEPS = 60


class StateEnv(MiniGridEnv):
    """A MiniGrid env whose state the test sets directly (it changes nothing in rendering)."""

    def __init__(self, width: int, height: int, view: int, see_through_walls: bool) -> None:
        super().__init__(mission_space=MissionSpace(mission_func=lambda: ""), width=width, height=height,
                         agent_view_size=view, see_through_walls=see_through_walls, max_steps=10)

    def _gen_grid(self, width: int, height: int) -> None:
        self.grid = Grid(width, height)


def _object(kind: str, color: str, is_open: bool, is_locked: bool) -> WorldObj:
    if kind == "door":
        return Door(color, is_open=is_open, is_locked=is_locked)
    if kind == "lava":
        lava = Lava()
        lava.color = color  # MiniGrid's encode (so its tile cache) keys lava by colour too
        return lava
    if kind == "box":
        return Box(color, contains=Key(color))
    cls: Any = {"wall": Wall, "floor": Floor, "key": Key, "ball": Ball, "goal": Goal}[kind]
    return cls(color)


objects = st.builds(_object, st.sampled_from(["wall", "floor", "door", "key", "ball", "box", "goal", "lava"]),
                    st.sampled_from(COLOR_NAMES), st.booleans(), st.booleans())
cells = st.one_of(st.none(), objects)


@st.composite
def states(draw: st.DrawFn) -> tuple[MiniGridEnv, int]:
    width, height = draw(st.integers(3, 11)), draw(st.integers(3, 11))
    env = StateEnv(width, height, view=draw(st.sampled_from([3, 5, 7, 9])), see_through_walls=draw(st.booleans()))
    env.grid = Grid(width, height)
    for y in range(height):
        for x in range(width):
            env.grid.set(x, y, draw(cells))
    env.agent_pos = (draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1)))
    env.agent_dir = draw(st.integers(0, 3))
    env.carrying = draw(cells)  # type: ignore[assignment]  # MiniGrid annotates carrying as None
    return env, draw(st.sampled_from(TILES))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(states(), st.booleans())
def test_random_states_match_minigrid(state: tuple[MiniGridEnv, int], highlight: bool) -> None:
    env, tile = state
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast path, never the fallback
        frame = render_full_frame(env, tile, highlight=highlight)
    np.testing.assert_array_equal(frame, env.get_frame(highlight=highlight, tile_size=tile))


def _compare_rollout(env_id: str, tile: int, steps: int, seed: int = 0) -> None:
    """Step an env (half expert, half random actions): every observation is MiniGrid's own frame,
    and the fast path renders it (a fallback would warn, and warnings are errors here)."""
    env = make_minigrid_env(env_id, tile_size=tile)
    expert, rng = MiniGridExpert(env), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    u: Any = env.unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(steps):
            np.testing.assert_array_equal(obs, u.get_frame(highlight=True, tile_size=tile))
            action = expert.act(obs) if rng.random() < 0.5 else int(rng.integers(0, 7))
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()


@pytest.mark.parametrize("env_id", SUPPORTED_ENVS + MORE_ENVS)
def test_env_rollouts_match_minigrid(env_id: str) -> None:
    _compare_rollout(env_id, 8, STEPS)


@pytest.mark.slow
@pytest.mark.parametrize("tile", [5, 12, 16, 32])
@pytest.mark.parametrize("env_id", SUPPORTED_ENVS + MORE_ENVS)
def test_env_rollouts_match_minigrid_at_every_tile(env_id: str, tile: int) -> None:
    _compare_rollout(env_id, tile, 300, seed=tile)


def _registered_minigrid_ids() -> list[str]:
    import gymnasium as gym

    return sorted(e for e in gym.registry if e.startswith(("MiniGrid-", "BabyAI-")))


@pytest.mark.parametrize("env_id", _registered_minigrid_ids())  # 178 ids: about 20 s in all
def test_every_registered_minigrid_env_renders_byte_for_byte(env_id: str) -> None:
    import gymnasium as gym

    try:
        _compare_rollout(env_id, 8, 40)
    except gym.error.DependencyNotInstalled as err:  # MiniGrid's WFC envs need imageio (minigrid[wfc])
        pytest.skip(str(err))


def test_carried_object_is_not_drawn_and_doors_change_the_view() -> None:
    env = StateEnv(7, 5, view=7, see_through_walls=False)
    env.grid = Grid(7, 5)
    env.grid.wall_rect(0, 0, 7, 5)
    door = Door("yellow", is_locked=True)
    env.grid.set(3, 2, door)
    env.agent_pos, env.agent_dir = (1, 2), 0
    env.carrying = Key("yellow")  # type: ignore[assignment]  # MiniGrid annotates carrying as None
    closed = render_full_frame(env, 8)
    door.is_locked, door.is_open = False, True
    opened = render_full_frame(env, 8)
    assert not np.array_equal(closed, opened)  # the open door lets the view through to x = 4, 5
    np.testing.assert_array_equal(opened, env.get_frame(highlight=True, tile_size=8))
    env.carrying = None
    np.testing.assert_array_equal(render_full_frame(env, 8), opened)


@pytest.fixture
def own_tile_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """MiniGrid caches tiles by ``encode()``: keep a custom object's tiles out of the shared cache."""
    monkeypatch.setattr(Grid, "tile_cache", {})


class Statue(WorldObj):
    """An object type the atlas does not know, with a render of its own."""

    def __init__(self) -> None:
        super().__init__("ball", "purple")

    def render(self, img: np.ndarray) -> np.ndarray:
        fill_coords(img, point_in_circle(0.5, 0.5, 0.2), COLORS["yellow"])
        return img


def test_unknown_object_falls_back_to_minigrid_and_warns_once(own_tile_cache: None) -> None:
    env = StateEnv(5, 5, view=7, see_through_walls=False)
    env.grid = Grid(5, 5)
    env.grid.set(2, 2, Statue())
    env.agent_pos, env.agent_dir = (1, 1), 1
    with pytest.warns(RuntimeWarning, match="Statue, which has no tile"):
        frame = render_full_frame(env, 8)
    np.testing.assert_array_equal(frame, env.get_frame(highlight=True, tile_size=8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(render_full_frame(env, 8), frame)  # no second warning


class GlassDoor(Door):
    """A door subclass (it lets the view through when closed): the atlas must not take it for a Door."""

    def see_behind(self) -> bool:
        return True


def test_door_subclass_falls_back(own_tile_cache: None) -> None:
    env = StateEnv(6, 3, view=7, see_through_walls=False)
    env.grid = Grid(6, 3)
    env.grid.set(2, 1, GlassDoor("blue"))
    env.agent_pos, env.agent_dir = (0, 1), 0
    with pytest.warns(RuntimeWarning, match="GlassDoor, which has no tile"):
        frame = render_full_frame(env, 8)
    np.testing.assert_array_equal(frame, env.get_frame(highlight=True, tile_size=8))


class AllSeeingEnv(StateEnv):
    """An env that changes how the view is computed (it sees through everything): carc must not guess."""

    def gen_obs_grid(self, agent_view_size: int | None = None) -> Any:
        grid, vis_mask = super().gen_obs_grid(agent_view_size)
        return grid, np.ones_like(vis_mask)


def test_env_overriding_the_view_falls_back_and_warns(own_tile_cache: None) -> None:
    env = AllSeeingEnv(6, 6, view=7, see_through_walls=False)
    env.grid = Grid(6, 6)
    env.grid.vert_wall(3, 0)
    env.agent_pos, env.agent_dir = (1, 2), 0
    with pytest.warns(RuntimeWarning, match="overrides MiniGridEnv.gen_obs_grid"):
        frame = render_full_frame(env, 8)
    np.testing.assert_array_equal(frame, env.get_frame(highlight=True, tile_size=8))


def test_render_times_compare_the_same_states() -> None:
    result = render_times("MiniGrid-DoorKey-5x5-v0", (8, 32), states=3)
    assert result["render_identical"] is True and result["render_states"] == 3
    for tile in (8, 32):
        assert result[f"render_us_carc_tile{tile}"] > 0 and result[f"render_us_minigrid_tile{tile}"] > 0
        ratio = result[f"render_us_minigrid_tile{tile}"] / result[f"render_us_carc_tile{tile}"]
        assert result[f"render_speedup_tile{tile}"] == pytest.approx(ratio, rel=0.02)  # both rounded


@pytest.mark.slow
def test_env_bench_reports_symbolic_wrapped_and_render_fields() -> None:
    result = run_env_bench("examples/minigrid/doorkey.car", "MiniGrid-DoorKey-5x5-v0", blocks=2, block_steps=50, render_states=3)
    rates = [result[f"env_steps_per_s_{name}"] for name in ("symbolic", "plain", "wrapped", "wrapped_minigrid")]
    assert all(rate > 0 for rate in rates)
    assert result["render_us_carc"] == result["render_us_carc_tile8"]  # doorkey.car observes at tile 8
    assert result["render_identical"] is True and result["reward_overhead_ratio"] > 0
