"""Issue 10: exit 3 ("internal error") is reachable from no input.

Every case of the program-text corpus (tests/corpus/manifest.json) goes through `carc audit`, and
every hostile command line of tests/corpus/probes.json (files, cache, outputs, envs, episodes, flags)
through `carc` itself, in process. Each must end with its documented exit status, which is never 3,
and never with a traceback.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from carc.cli.main import main
from carc.verify.trajectories import Episode, load_episodes, record

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "tests" / "corpus" / "make_corpus.py")
corpus = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(corpus)  # type: ignore[union-attr]

CASES = corpus.load_manifest()
PROBES = json.loads((ROOT / "tests" / "corpus" / "probes.json").read_text())["probes"]
TRUE_ONLY = 'program p "trust probe"\nobserve rgb tile 8\nsubtask s "s" bonus 1 : true\n'


def run_main(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as stop:  # argparse and usage errors end the way the command line does
        return int(stop.code or 0)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_no_corpus_case_exits_3(case: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "case.car"
    path.write_bytes(corpus.case_bytes(case))
    status = run_main(["audit", str(path), "--json", "--no-compile"])
    out, err = capsys.readouterr()
    assert status == (0 if case["code"] == "ok" else 1), err
    assert "Traceback" not in out + err
    json.loads(out)


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The fixtures probes.json names."""
    root = tmp_path_factory.mktemp("probes")
    (root / "program.car").write_text(TRUE_ONLY)
    os.mkfifo(root / "fifo")
    with open(root / "huge", "wb") as handle:
        handle.truncate(3 * 10**9)
    (root / "file").write_text("a regular file")
    (root / "symlink").symlink_to(root / "file")
    for name in ("nonempty", "empty", "tmponly", "badtile", "cartpole", "garbage", "pickle"):
        (root / name).mkdir()
    (root / "nonempty" / "notes.txt").write_text("keep me")
    record("MiniGrid-DoorKey-5x5-v0", "expert", 3, 0, root / "expert")
    good = (root / "expert" / "episode_0000.npz").read_bytes()
    (root / "tmponly" / ".episode_0000.npz.ab12.tmp").write_bytes(good)
    episode = load_episodes(root / "expert")[0]
    arrays = {k: getattr(episode, k) for k in ("frames", "actions", "env_rewards", "terminated", "truncated")}
    np.savez(root / "badtile" / "episode_0000.npz", **arrays, metadata=np.array(json.dumps({**episode.metadata, "tile_size": "8"})))
    cartpole = {**episode.metadata, "env_id": "CartPole-v1", "success_rule": "unknown", "env_success": None}
    del cartpole["tile_size"]
    Episode(**arrays, metadata=cartpole).save(root / "cartpole" / "episode_0000.npz")
    (root / "garbage" / "episode_0000.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.savez(root / "pickle" / "episode_0000.npz", frames=np.array([{"x": 1}], dtype=object))
    (root / "groupwritable").mkdir()
    os.chmod(root / "groupwritable", 0o775)
    places = {name: str(root / name) for name in ("fifo", "huge", "file", "symlink", "nonempty", "expert", "empty", "tmponly", "badtile",
                                                  "cartpole", "garbage", "pickle", "groupwritable")}
    return {**places, "program": str(root / "program.car")}


def _fill(text: str, places: dict[str, str], tmp: Path) -> str:
    return text.format(tmp=tmp, **places)


@pytest.mark.parametrize("probe", PROBES, ids=[p["case"] for p in PROBES])
def test_no_probe_exits_3(probe: dict, places: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in probe.get("env", {}).items():
        monkeypatch.setenv(name, _fill(value, places, tmp_path))
    status = run_main([_fill(arg, places, tmp_path) for arg in probe["args"]])
    out, err = capsys.readouterr()
    assert status != 3, err
    assert status == probe["exit"], (status, out, err)
    assert "Traceback" not in out + err and "internal error" not in err
    if "stderr" in probe:
        assert probe["stderr"] in err
    if "stdout" in probe:
        assert probe["stdout"] in out


def test_probes_cover_each_family() -> None:
    families = {p["case"].split("/")[0] for p in PROBES}
    assert families == {"files", "outputs", "cache", "envs", "episodes", "flags"}
    assert len({p["case"] for p in PROBES}) == len(PROBES)
