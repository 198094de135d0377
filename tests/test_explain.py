"""`carc explain`: the values it reports are the program's, and its regions sit on the objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from carc.cli.main import main
from carc.verify.explain import build_probe, explain_episode, sheet_steps, write_explanation
from carc.verify.trajectories import Episode, record

ROOT = Path(__file__).resolve().parent.parent
DOORKEY = ROOT / "examples" / "minigrid" / "doorkey.car"
UNLOCK = ROOT / "examples" / "minigrid" / "unlock.car"


@pytest.fixture(scope="module")
def doorkey_episode() -> Episode:
    return record("MiniGrid-DoorKey-5x5-v0", "expert", 1, 3, None, env_kwargs={"tile_size": 8})[0]


def _cells_of(env_id: str, seed: int) -> dict[str, tuple[int, int]]:
    """The grid cell of each kind of object after reset, from MiniGrid's privileged state."""
    from carc.envs.minigrid import make_minigrid_env

    env = make_minigrid_env(env_id, tile_size=8)
    env.reset(seed=seed)
    grid = env.unwrapped.grid  # type: ignore[attr-defined]
    cells = {grid.get(x, y).type: (x, y) for x in range(grid.width) for y in range(grid.height) if grid.get(x, y) is not None}
    env.close()
    return cells


def test_probe_reads_every_let_with_its_type() -> None:
    _, lets = build_probe(DOORKEY.read_bytes(), str(DOORKEY))
    types = {let.name: let.type for let in lets}
    assert types["key"] == "region" and types["agent"] == "region" and types["goal"] == "region"
    _, lets = build_probe(UNLOCK.read_bytes(), str(UNLOCK))
    assert {let.name: let.type for let in lets}["keys_now"] == "num"


def test_objects_points_and_numbers_are_read(doorkey_episode: Episode) -> None:
    text = (b'program p "lets of every type" observe rgb tile 8 use minigrid '
            b'let keys_seen = key_shapes(yellow_shades) let spot = center(goal) let n = count(keys_seen) '
            b'subtask s "key gone" bonus 1 : n == 0')
    explanation = explain_episode(text, "<test>", doorkey_episode)
    types = {let.name: let.type for let in explanation.lets}
    assert (types["keys_seen"], types["spot"], types["n"]) == ("objects", "point", "num")
    first = explanation.records[0].lets
    assert len(first["keys_seen"]) == first["n"] == 1
    x, y = first["keys_seen"][0]["center"]
    assert (int(x // 8), int(y // 8)) == _cells_of("MiniGrid-DoorKey-5x5-v0", 3)["key"]
    assert first["spot"] == first["goal"]["center"]


def test_explanation_follows_the_program_and_sits_on_the_objects(doorkey_episode: Episode) -> None:
    explanation = explain_episode(DOORKEY.read_bytes(), str(DOORKEY), doorkey_episode)
    records = explanation.records
    assert len(records) == doorkey_episode.steps + 1
    completed = [step for step in explanation.completed_at if step is not None]
    assert len(completed) == 3 and completed == sorted(completed)
    assert records[-1].progress == explanation.stages
    # the reward of a completion step holds that sub-task's bonus (plus a shaping term of 1e-2)
    bonuses = {0: 0.2, 1: 0.2, 2: 1.0}
    for index, step in enumerate(completed):
        assert records[step].done[index] and not records[step - 1].done[index]
        assert abs(records[step].reward - bonuses[index]) < 0.05
    # the key's and the goal's regions lie in the cells the env's own state puts them in (tile 8)
    cells = _cells_of("MiniGrid-DoorKey-5x5-v0", 3)
    key, goal = records[0].lets["key"], records[0].lets["goal"]
    assert (int(key["center"][0] // 8), int(key["center"][1] // 8)) == cells["key"]
    x, y = cells["goal"]
    assert goal["bbox"] == [8.0 * x, 8.0 * y, 8.0 * x + 7, 8.0 * y + 7]
    assert records[completed[0]].lets["key"] is None


def test_pictures_and_numbers_are_written(doorkey_episode: Episode, tmp_path: Path) -> None:
    explanation = explain_episode(DOORKEY.read_bytes(), str(DOORKEY), doorkey_episode)
    paths = write_explanation(explanation, tmp_path)
    with Image.open(paths["contact_sheet"]) as sheet:
        assert sheet.format == "PNG" and sheet.width >= 480
    with Image.open(paths["gif"]) as gif:
        assert gif.format == "GIF" and getattr(gif, "n_frames", 1) == doorkey_episode.steps + 1
    data = json.loads(paths["json"].read_text())
    assert [s["name"] for s in data["subtasks"]] == ["got_key", "opened", "at_goal"]
    assert data["complete"] and len(data["frames"]) == doorkey_episode.steps + 1
    steps = sheet_steps(explanation)
    assert steps[0] == 0 and steps[-1] == doorkey_episode.steps and set(explanation.completed_at) <= set(steps)


def test_cli_explain_episode_file_and_usage_errors(doorkey_episode: Episode, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    episode_file = doorkey_episode.save(tmp_path / "episode.npz")
    out = tmp_path / "out"
    assert main(["explain", str(DOORKEY), "--episode", str(episode_file), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["complete"] and Path(data["files"]["gif"]).is_file()
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", str(DOORKEY), "--out", str(tmp_path / "other")])
    assert exit_info.value.code == 2
    assert "either --episode" in capsys.readouterr().err


@pytest.mark.slow
def test_verify_explain_draws_the_failed_episodes(tmp_path: Path) -> None:
    wrong = ROOT / "examples" / "wrong" / "goal_on_key.car"
    out = tmp_path / "failed"
    code = main(["verify", str(wrong), "--env", "MiniGrid-DoorKey-5x5-v0", "--episodes", "5", "--examples", "5",
                 "--counterexamples", str(tmp_path / "cx"), "--explain", str(out)])
    assert code == 1
    sheets = sorted(out.glob("*contact_sheet.png"))
    assert sheets, "a failed verification explains at least one episode"
    policies = {sheet.name.split("-")[0] for sheet in sheets}
    assert policies == {"expert", "random"}  # expert: the goal check misses the real goal; random: it completes
    for sheet in sheets:
        data = json.loads(sheet.with_name(sheet.name.replace("contact_sheet.png", "explain.json")).read_text())
        if sheet.name.startswith("random"):
            assert data["complete"]
