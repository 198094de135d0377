"""The bundled examples and the stdlib helpers they are written with.

Every example checks and its generated kernel source passes the whitelist (a numba compile is left
to the slow test: it takes seconds per program); every env carc has an expert for has an example;
the MiniGrid shape helpers tell every kind of object apart at tiles 8, 16 and 32 on MiniGrid's own
renders; the Panda "on the target" helpers answer as their geometry says on drawn frames; and,
slow, each example passes `carc verify` on a few recorded episodes of each env it is for.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from carc.api import check_file, check_text
from carc.backend.codegen import generate
from carc.backend.srccheck import check_generated_source
from carc.core.diagnostics import CarcError
from carc.interpreter import MAX_OBJECTS, Interpreter, color_mask, objects_of
from carc.ir.layout import DONE
from carc.perf.bench import minigrid_frames

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*.car") if "transcripts" not in p.parts)

# The example program for every env that carc has an expert for (one program may serve several).
EXAMPLE_FOR_ENV = {
    "MiniGrid-DoorKey-5x5-v0": "minigrid/doorkey.car",
    "MiniGrid-DoorKey-6x6-v0": "minigrid/doorkey.car",
    "MiniGrid-DoorKey-8x8-v0": "minigrid/doorkey.car",
    "MiniGrid-DoorKey-16x16-v0": "minigrid/doorkey.car",
    "MiniGrid-Unlock-v0": "minigrid/unlock.car",
    "MiniGrid-UnlockPickup-v0": "minigrid/blockedunlockpickup.car",
    "MiniGrid-BlockedUnlockPickup-v0": "minigrid/blockedunlockpickup.car",
    "MiniGrid-KeyCorridorS3R1-v0": "minigrid/keycorridor.car",
    "MiniGrid-KeyCorridorS3R2-v0": "minigrid/keycorridor.car",
    "MiniGrid-KeyCorridorS3R3-v0": "minigrid/keycorridor.car",
    "MiniGrid-RedBlueDoors-6x6-v0": "minigrid/redbluedoors.car",
    "MiniGrid-RedBlueDoors-8x8-v0": "minigrid/redbluedoors.car",
    "MiniGrid-ObstructedMaze-1Dlhb-v0": "minigrid/obstructedmaze.car",
    "MiniGrid-ObstructedMaze-1Q-v1": "minigrid/obstructedmaze.car",
    "PandaReach-v3": "panda/reach.car",
    "PandaPush-v3": "panda/push.car",
    "PandaPickAndPlace-v3": "panda/pickandplace.car",
    "PandaSlide-v3": "panda/slide.car",
}


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(ROOT / "examples")) for p in EXAMPLES])
def test_example_checks_and_generates_whitelisted_source(path: Path) -> None:
    program = check_file(path)
    assert program.subtasks, "an example has at least one sub-task"
    check_generated_source(generate(program))


def test_every_env_with_an_expert_has_an_example() -> None:
    for env_id, example in EXAMPLE_FOR_ENV.items():
        assert (ROOT / "examples" / example).is_file(), f"{env_id}: {example} is missing"
    assert {p.relative_to(ROOT / "examples").as_posix() for p in EXAMPLES} >= set(EXAMPLE_FOR_ENV.values())


@pytest.mark.parametrize("tile", [8, 16, 32])
def test_minigrid_shape_helpers_tell_every_object_apart(tile: int) -> None:
    """Every (kind, colour, lit, direction) case drawn by MiniGrid is seen by exactly its own helper,
    except the grey cases the stdlib documents as out of reach (``known_limits``)."""
    measure = _script("measure_minigrid_objects")
    assert measure.shape_errors((tile,)) == measure.known_limits((tile,))


@pytest.mark.slow
@pytest.mark.parametrize("tile", [t for t in range(8, 33) if t not in (8, 16, 32)])
def test_minigrid_shape_helpers_tell_every_object_apart_at_every_tile(tile: int) -> None:
    measure = _script("measure_minigrid_objects")
    assert measure.shape_errors((tile,)) == measure.known_limits((tile,))


# Envs whose expert episodes hold every kind of object between them, at tiles the tables never measured.
REAL_FRAMES = [("MiniGrid-BlockedUnlockPickup-v0", 12), ("MiniGrid-KeyCorridorS3R1-v0", 9), ("MiniGrid-UnlockPickup-v0", 23)]
MINIGRID_ENVS = sorted(env for env in EXAMPLE_FOR_ENV if env.startswith("MiniGrid"))


@pytest.mark.parametrize(("env_id", "tile"), REAL_FRAMES)
def test_minigrid_shape_helpers_find_every_object_on_real_frames(env_id: str, tile: int) -> None:
    """On every frame of an expert episode, each object the helpers find sits in a cell holding that
    kind in the env's grid and each object in the grid is found, but those joined to another."""
    check = _script("measure_minigrid_objects").episode_check(env_id, tile, range(1))
    assert check.objects > 10 * check.frames // 4
    assert check.errors == ()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", MINIGRID_ENVS)
def test_minigrid_shape_helpers_find_every_object_on_real_frames_at_every_tile(env_id: str) -> None:
    measure = _script("measure_minigrid_objects")
    for tile in measure.ALL_TILES:
        assert measure.episode_check(env_id, tile, range(2)).errors == ()


def test_the_kernel_floor_script_measures_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    """Smoke run of scripts/measure_kernel_floor.py (the README's per-frame table), one pass, tile 8."""
    assert _script("measure_kernel_floor").main(["--passes", "1", "--tiles", "8", "--programs", "unlock"]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split(" | ")
    assert row[0] == "| unlock" and row[1] == "8" and row[2] == "88x48"
    floor, kernel, ratio = float(row[3]), float(row[4]), float(row[5].removesuffix("x |"))
    assert 0 < floor and 0 < kernel
    # the ratio is of the unrounded times: within what rounding each to 0.01 allows, then the ratio to 0.01
    assert (kernel - 0.005) / (floor + 0.005) - 0.005 <= ratio <= (kernel + 0.005) / (floor - 0.005) + 0.005


def test_the_reward_cost_script_measures_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    """Smoke run of scripts/measure_reward_cost.py (the README's table of what the reward costs a step)."""
    _script("measure_kernel_floor")  # the module it imports from beside it, as when run from scripts/
    assert _script("measure_reward_cost").main(["--blocks", "1", "--block-steps", "20", "--programs", "unlock"]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split(" | ")
    assert row[:3] == ["| unlock", "MiniGrid-Unlock-v0", "88x48"]
    assert all(float(cell.replace(",", "")) > 0 for cell in row[3:6]) and row[6].endswith("%")


def test_the_expert_script_counts_the_seeds_solved(capsys: pytest.CaptureFixture[str]) -> None:
    """Smoke run of scripts/measure_minigrid_experts.py (the README's expert coverage)."""
    assert _script("measure_minigrid_experts").main(["--seeds", "2", "--envs", "MiniGrid-RedBlueDoors-6x6-v0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("| MiniGrid-RedBlueDoors-6x6-v0 | 2 of 2 | ")


def test_a_carried_object_is_drawn_nowhere() -> None:
    """Why "carrying" is "fewer on the floor": MiniGrid's frame is the same whether the agent carries
    a key or not (the helpers' measurements need no carried case)."""
    import gymnasium as gym
    from minigrid.core.world_object import Key
    from minigrid.minigrid_env import MiniGridEnv

    env = gym.make("MiniGrid-DoorKey-5x5-v0").unwrapped
    assert isinstance(env, MiniGridEnv)
    env.reset(seed=0)
    empty_handed = env.get_frame(highlight=True, tile_size=16)
    env.carrying = Key("yellow")  # type: ignore[assignment]  # MiniGrid annotates it as None
    assert np.array_equal(env.get_frame(highlight=True, tile_size=16), empty_handed)


def _unlockpickup_frames(toggle_first: bool, tile: int) -> list[np.ndarray]:
    """Real UnlockPickup frames: the start; the key in hand, the door open and the agent
    facing the box; then either toggle the box (which destroys it) and drop the key, or drop the key
    and pick the box up (the env's success)."""
    import gymnasium as gym
    from minigrid.core.constants import DIR_TO_VEC
    from minigrid.core.world_object import Box, Door, Key
    from minigrid.minigrid_env import MiniGridEnv

    env = gym.make("MiniGrid-UnlockPickup-v0").unwrapped
    assert isinstance(env, MiniGridEnv)
    env.reset(seed=3)
    frames = [env.get_frame(highlight=True, tile_size=tile)]
    cells = {type(o): (x, y) for x in range(env.width) for y in range(env.height) if (o := env.grid.get(x, y)) is not None}
    key, door = env.grid.get(*cells[Key]), env.grid.get(*cells[Door])
    env.grid.set(*cells[Key], None)
    env.carrying = key  # type: ignore[assignment]  # MiniGrid annotates it as None
    door.is_locked, door.is_open = False, True  # type: ignore[union-attr]
    bx, by = cells[Box]
    env.agent_pos, env.agent_dir = next(((bx - dx, by - dy), d) for d, (dx, dy) in enumerate(DIR_TO_VEC) if env.grid.get(bx - dx, by - dy) is None)
    frames.append(env.get_frame(highlight=True, tile_size=tile))
    actions = [env.actions.toggle, env.actions.drop]
    if not toggle_first:  # turn to a free cell to drop the key, and back
        turns = next(k for k in (1, 2, 3) if env.grid.get(*(np.array(env.agent_pos) + DIR_TO_VEC[(env.agent_dir - k) % 4])) is None)
        actions = [env.actions.left] * turns + [env.actions.drop] + [env.actions.right] * turns + [env.actions.pickup]
    for action in actions:
        success = env.step(action)[1] > 0
        frames.append(env.get_frame(highlight=True, tile_size=tile))
    assert success != toggle_first
    return frames


@pytest.mark.parametrize("name", ["unlockpickup", "blockedunlockpickup"])
def test_a_box_toggled_with_the_key_in_hand_is_not_picked_up(name: str) -> None:
    """Toggling a box destroys it, and a carried box is not drawn, so a box toggled with the key in
    hand once paid "pick up the box" (agents trained on it learned to toggle). Now the key must be put
    down while the box is there: the toggle-then-drop order completes neither, the drop-then-pickup
    order both."""
    interpreter = Interpreter(check_file(str(ROOT / "examples" / "minigrid" / f"{name}.car")))
    names = [s.name for s in interpreter.program.subtasks]
    for toggle_first, expected in ((True, ["got_key", "opened"]), (False, ["got_key", "opened", "put_key", "got_box"])):
        frames = _unlockpickup_frames(toggle_first, interpreter.program.tile)
        state = interpreter.new_state(1)[0]
        interpreter.reset(frames[0], state)
        for frame in frames[1:]:
            interpreter.step(frame, state)
        assert [names[t] for t in range(len(names)) if state[DONE + t] != 0.0] == expected


def test_every_minigrid_counting_helper_fits_the_shade_cap_together() -> None:
    """Only the colours a program reaches count against the 64-shade cap: the counting helpers, the
    agent and every door helper fit together; naming every colour's shades as well is a clear E110."""
    together = ('program p "p" observe rgb tile 16 use minigrid subtask s "s" bonus 1 : '
                "keys_anywhere() + balls_anywhere() + boxes_anywhere() >= 1 and exists(agent_shape) and any_locked() "
                "and count(closed_door_shapes(any_shades)) + count(open_door_shapes(any_shades)) + count(locked_door_shapes(any_shades)) >= 1")
    assert sum(len(c.shades) for c in check_text(together, "<together>").colors) <= 64
    too_many = together.replace(" >= 1 and exists", " + " + " + ".join(
        f"count(key_shapes({c}_shades))" for c in ("green", "blue", "purple", "yellow")) + " >= 1 and exists")
    with pytest.raises(CarcError) as raised:
        check_text(too_many, "<too_many>")
    assert [d.code for d in raised.value.diagnostics] == ["E110"]
    assert "any_shades 30" in raised.value.diagnostics[0].message


def _holds(source: str, frames: list[np.ndarray]) -> list[bool]:
    """Whether the one sub-task's predicate holds on each frame (start values from the first)."""
    interpreter = Interpreter(check_text(source, "<test>"))
    state = interpreter.new_state(1)[0]
    interpreter.reset(frames[0], state)
    predicate = interpreter.program.subtasks[0].predicate
    return [bool(interpreter.evaluate(f, state)[predicate]) for f in frames]


def _panda_frame(cube: tuple[int, int] | None, target: tuple[int, int] | None, fingers: tuple[int, int] | None = None) -> np.ndarray:
    """An 84x84 frame with a 6x6 cube, a 4x4 target and a 3x6 pair of fingers in carc's colours."""
    frame = np.full((84, 84, 3), 210, np.uint8)
    for where, size, colour in ((target, (4, 4), (199, 21, 21)), (cube, (6, 6), (21, 199, 21)), (fingers, (3, 6), (15, 15, 137))):
        if where is not None:
            x, y = where
            frame[y : y + size[1], x : x + size[0]] = colour
    return frame


def test_object_on_target_uses_the_target_size_and_an_ellipse() -> None:
    source = 'program p "p" observe rgb use panda subtask s "s" bonus 1 : object_on_target(cube)'
    start = _panda_frame((10, 10), (40, 40))
    # the target is 4 px across: the ellipse reaches 9 px across and 6 px up or down from its spot
    on, across, far_across, far_down = (_panda_frame((39, 39), None), _panda_frame((45, 39), None),
                                        _panda_frame((50, 39), None), _panda_frame((39, 48), None))
    assert _holds(source, [start, on, across, far_across, far_down]) == [False, True, True, False, False]


def test_fingers_at_target_reads_the_fingertips() -> None:
    source = 'program p "p" observe rgb use panda subtask s "s" bonus 1 : fingers_at_target()'
    start = _panda_frame((10, 60), (40, 40), (10, 10))
    tips_on = _panda_frame((10, 60), (40, 40), (40, 36))  # fingertips (the fingers' bottom) at the spot
    tips_far = _panda_frame((10, 60), (40, 40), (40, 20))
    assert _holds(source, [start, tips_on, tips_far]) == [False, True, False]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(EXAMPLE_FOR_ENV))
def test_example_verifies_on_a_few_episodes(env_id: str, tmp_path: Path) -> None:
    from carc.verify.scoring import VerifyConfig, verify

    example = ROOT / "examples" / EXAMPLE_FOR_ENV[env_id]
    config = VerifyConfig(env_id=env_id, episodes=5, property_examples=10, counterexample_dir=tmp_path, min_random_episodes=3)
    report = verify(check_file(example), str(example), config)
    assert report.expert_complete_rate == 1.0, report.failures
    assert report.random_complete_rate <= 0.4, report.failures


def test_the_kernel_parts_script_counts_what_the_interpreter_sees(capsys: pytest.CaptureFixture[str]) -> None:
    """Smoke run of scripts/measure_kernel_parts.py (the README's account of where the time goes), one
    pass, tile 8: its per-frame object counts are the interpreter's on the same frames, and every part
    took time."""
    _script("measure_kernel_floor")  # the module it imports from beside it, as when run from scripts/
    parts = _script("measure_kernel_parts")
    assert parts.main(["--passes", "1", "--tiles", "8", "--programs", "keycorridor"]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split(" | ")
    assert row[:3] == ["| keycorridor", "8", "56x56"]
    classify, scan, step = float(row[3]), float(row[4]), float(row[7])
    assert 0 < classify and 0 < scan and 0 < step
    measured = parts.measure("keycorridor", 8, 1)
    program = check_file(str(ROOT / "examples" / "minigrid" / "keycorridor.car"))
    frames = minigrid_frames(parts.ENV_OF["keycorridor"], 8, parts.FRAMES, 0)
    for c, name in measured["names"].items():
        seen = np.mean([min(len(objects_of(color_mask(f, program.colors[c]))), MAX_OBJECTS) for f in frames])
        assert measured["counts"][f"objects {c}"] == pytest.approx(seen), name
        assert measured["counts"][f"without {c}"] <= measured["counts"]["changes"]
    # grey (walls and the grid) repeats down most blocks: the scan visits fewer changes than there are
    assert 0 < measured["counts"]["scanned"] < measured["counts"]["changes"]
    assert 0 < measured["counts"]["blocks"] <= 56
