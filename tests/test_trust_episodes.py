"""Issue 10, families 2, 3, 4 and 7: episodes and envs.

2. A verification needs a minimum of usable expert and random episodes, and refuses episodes recorded
   for something else (env id, policy, frame shape, tile).
3. Every metadata field and the frames are validated on load; the message names the file and field.
4. Sizes are capped before anything is read: decompressed size from the zip and .npy headers, no
   pickles; program files are read with a bound and never from a device or FIFO.
7. An env without what a command needs is a clear error; success is the env's own rule or "unknown".
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from carc.api import ProgramFileError, check_text, read_program
from carc.core.diagnostics import CarcError
from carc.envs.base import success_by_rule
from carc.envs.registry import EnvError, make_env, success_rule
from carc.verify.report import VerifyConfig
from carc.verify.scoring import verify
from carc.verify.trajectories import Episode, TrajectoryError, load_episodes, record, record_to_folder

REPO = Path(__file__).resolve().parent.parent
ENV = "MiniGrid-DoorKey-5x5-v0"
TRUE_ONLY = 'program p "passes on nothing?"\nobserve rgb tile 8\nsubtask s "s" bonus 1 : true\n'


def carc(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "carc", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recorded")
    record(ENV, "expert", 3, 0, root / "expert")
    record(ENV, "random", 5, 100, root / "random", max_steps=40)
    return root


def save_all(episodes: list[Episode], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, episode in enumerate(episodes):
        episode.save(folder / f"episode_{i:04d}.npz")
    return folder


def run_verify(program_text: str, expert: Path, random: Path, tmp_path: Path, **config: object) -> object:
    settings = {"property_examples": 5, "counterexample_dir": tmp_path / "cx", **config}
    return verify(check_text(program_text), "p.car", VerifyConfig(env_id=ENV, expert_dir=str(expert), random_dir=str(random), **settings))


# ---- 2: verification that passes on nothing --------------------------------------------------------


def test_true_only_program_with_an_empty_random_folder_is_refused(recorded: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "p.car").write_text(TRUE_ONLY)
    done = carc("verify", str(tmp_path / "p.car"), "--env", ENV, "--expert", str(recorded / "expert"), "--random", str(tmp_path / "empty"),
                "--examples", "5", "--counterexamples", str(tmp_path / "cx"), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] is False and report["random_episodes"] == 0
    assert report["reason"].startswith("too few usable random episodes") and "need at least 5" in report["reason"]
    assert report["min_episodes"] == {"expert": 3, "random": 5}


def test_a_folder_holding_only_a_leftover_temporary_file(recorded: Path, tmp_path: Path) -> None:
    folder = tmp_path / "random"
    folder.mkdir()
    (folder / ".episode_0000.npz.k2j4.tmp").write_bytes((recorded / "random" / "episode_0000.npz").read_bytes())
    report = run_verify(TRUE_ONLY, recorded / "expert", folder, tmp_path)
    assert not report.passed and report.failures[0].startswith("too few usable random episodes")  # type: ignore[attr-defined]


def test_random_episodes_all_solved_on_the_first_step_are_not_usable(recorded: Path, tmp_path: Path) -> None:
    base = load_episodes(recorded / "random")[0]
    one_step = Episode(base.frames[:2], base.actions[:1], np.ones(1), np.ones(1, bool), np.zeros(1, bool),
                       {**base.metadata, "steps": 1, "env_success": True})
    folder = save_all([one_step] * 6, tmp_path / "random")
    report = run_verify(TRUE_ONLY, recorded / "expert", folder, tmp_path)
    assert not report.passed and report.trivial_episodes == 6  # type: ignore[attr-defined]
    assert "too few usable random episodes" in report.failures[0]  # type: ignore[attr-defined]


def test_minimums_are_configurable_and_a_good_program_still_passes(recorded: Path, tmp_path: Path) -> None:
    doorkey = (REPO / "examples" / "minigrid" / "doorkey.car").read_text()
    assert run_verify(doorkey, recorded / "expert", recorded / "random", tmp_path).passed  # type: ignore[attr-defined]
    strict = run_verify(doorkey, recorded / "expert", recorded / "random", tmp_path, min_random_episodes=6)
    assert not strict.passed and "need at least 6" in strict.failures[0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("change,field", [
    ({"env_id": "CartPole-v1", "success_rule": "unknown", "env_success": None, "tile_size": None}, "env_id"),
    ({"env_id": "MiniGrid-DoorKey-6x6-v0"}, "env_id"),
    ({"policy": "random"}, "policy"),
])
def test_expert_episodes_recorded_for_something_else_are_refused(recorded: Path, tmp_path: Path, change: dict, field: str) -> None:
    episodes = load_episodes(recorded / "expert")
    metadata = {k: v for k, v in {**episodes[0].metadata, **change}.items() if v is not None or k == "env_success"}
    folder = save_all([replace(episodes[0], metadata=metadata)] + episodes[1:], tmp_path / "expert")
    with pytest.raises(TrajectoryError, match=rf"episode_0000.npz: metadata\['{field}'\]"):
        run_verify(TRUE_ONLY, folder, recorded / "random", tmp_path)


def test_episodes_at_another_tile_are_refused(tmp_path: Path, recorded: Path) -> None:
    folder = tmp_path / "tile16"
    record(ENV, "expert", 1, 0, folder, env_kwargs={"tile_size": 16})
    with pytest.raises(TrajectoryError, match=r"metadata\['tile_size'\] is 16, but the program observes tile 8"):
        run_verify(TRUE_ONLY, folder, recorded / "random", tmp_path)


def test_frames_that_are_not_the_envs_are_refused(tmp_path: Path, recorded: Path) -> None:
    episode = load_episodes(recorded / "expert")[0]
    bigger = np.zeros((episode.frames.shape[0], 48, 48, 3), np.uint8)
    folder = save_all([replace(episode, frames=bigger)], tmp_path / "expert")
    with pytest.raises(TrajectoryError, match=f"frames are 48x48 pixels, but {ENV} gives 40x40"):
        run_verify(TRUE_ONLY, folder, recorded / "random", tmp_path)


# ---- 3: malformed values inside valid files --------------------------------------------------------


def write_raw(path: Path, frames: np.ndarray | None = None, **metadata: object) -> Path:
    steps = 2
    frames = np.zeros((steps + 1, 40, 40, 3), np.uint8) if frames is None else frames
    steps = max(frames.shape[0] - 1, 0)
    meta = {"env_id": ENV, "seed": 0, "policy": "expert", "env_success": True, "steps": steps, "carc_version": "0.1.0",
            "tile_size": 8, **metadata}
    meta = {k: v for k, v in meta.items() if v != "<absent>"}
    np.savez(path, frames=frames, actions=np.zeros(steps, np.int64), env_rewards=np.zeros(steps), terminated=np.zeros(steps, bool),
             truncated=np.zeros(steps, bool), metadata=np.array(json.dumps(meta)))
    return path


@pytest.mark.parametrize("value", [0, "8", -3, 8.5, True, None, 257, "<absent>"])
def test_bad_tile_size_names_the_file_and_field(tmp_path: Path, value: object) -> None:
    path = write_raw(tmp_path / "ep.npz", tile_size=value)
    with pytest.raises(TrajectoryError, match=r"metadata\['tile_size'\] must be a whole number of pixels from 1 to 256") as caught:
        Episode.load(path)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize("shape,message", [
    ((3, 0, 0, 3), "1 to 4096 pixels on a side, got 0x0"),
    ((3, 0, 40, 3), "got 0x40"),
    ((3, 40, 36, 3), "not whole cells"),
    ((0, 40, 40, 3), r"shape \(T\+1, H, W, 3\)"),
])
def test_degenerate_frames(tmp_path: Path, shape: tuple[int, ...], message: str) -> None:
    path = write_raw(tmp_path / "ep.npz", frames=np.zeros(shape, np.uint8))
    with pytest.raises(TrajectoryError, match=message):
        Episode.load(path)


@pytest.mark.parametrize("metadata,message", [
    ({"seed": -1}, r"metadata\['seed'\] must be from 0"),
    ({"seed": 1.5}, r"metadata\['seed'\] must be int"),
    ({"env_id": ""}, r"metadata\['env_id'\] is not an environment id"),
    ({"env_id": "../../etc/passwd"}, r"metadata\['env_id'\] is not an environment id"),
    ({"env_success": "yes"}, r"metadata\['env_success'\] must be bool"),
    ({"success_rule": "minigrid", "env_id": "CartPole-v1", "tile_size": "<absent>"}, r"metadata\['success_rule'\] is 'minigrid'"),
    ({"env_id": "CartPole-v1", "tile_size": "<absent>"}, r"metadata\['env_success'\] must be null"),
    ({"success_rule": "whatever"}, r"metadata\['success_rule'\] must be one of"),
    ({"policy": ["expert"]}, r"metadata\['policy'\] must be str"),
])
def test_bad_metadata_fields(tmp_path: Path, metadata: dict, message: str) -> None:
    with pytest.raises(TrajectoryError, match=message):
        Episode.load(write_raw(tmp_path / "ep.npz", **metadata))


def test_a_malformed_file_is_exit_2_naming_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "expert"
    folder.mkdir()
    write_raw(folder / "episode_0000.npz", tile_size="8")
    (tmp_path / "p.car").write_text(TRUE_ONLY)
    done = carc("verify", str(tmp_path / "p.car"), "--env", ENV, "--expert", str(folder), "--random", str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "episode_0000.npz: metadata['tile_size']" in done.stderr


# ---- 4: memory and size ----------------------------------------------------------------------------


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """The .npy header (magic included) of a uint8 array of ``shape``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


_LOAD_AND_MEASURE = """
import json, sys
from carc.verify.trajectories import Episode, TrajectoryError
try:
    Episode.load(sys.argv[1]); outcome = "loaded"
except TrajectoryError as err:
    outcome = str(err)
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))  # this process's own peak
print(json.dumps({"outcome": outcome, "maxrss_kb": int(peak.split()[1])}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures peak memory from /proc")
def test_a_zip_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    shape = (1100, 1024, 1024, 1)  # 1.1 GiB of zeros
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open("frames.npy", "w", force_zip64=True) as member:
        member.write(_npy_header(shape))
        for _ in range(1100):
            member.write(chunk)
    assert path.stat().st_size < 8 << 20
    done = subprocess.run([sys.executable, "-c", _LOAD_AND_MEASURE, str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    result = json.loads(done.stdout)
    assert "over the cap" in result["outcome"]
    assert result["maxrss_kb"] < 400_000, result  # nothing near the 1.1 GB was allocated


def test_an_npy_header_claiming_more_than_its_entry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("frames.npy", _npy_header((10**6, 10**6, 3)) + bytes(64))
    with pytest.raises(TrajectoryError, match="claims"):
        Episode.load(path)


def test_pickled_object_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pickle.npz"
    np.savez(path, frames=np.array([{"a": 1}], dtype=object))
    with pytest.raises(TrajectoryError, match="object arrays"):
        Episode.load(path)


def test_program_files_are_read_with_a_bound(tmp_path: Path) -> None:
    huge = tmp_path / "huge.car"
    with open(huge, "wb") as handle:
        handle.truncate(3 * 10**9)  # sparse: 3 GB that take no disk
    with pytest.raises(CarcError, match="program is 3000000000 bytes; the limit is 65536"):
        read_program(huge)
    fifo = tmp_path / "fifo.car"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        with pytest.raises(ProgramFileError, match="not a regular file|is a directory"):
            read_program(path)


@pytest.mark.parametrize("target", ["/dev/zero", "{fifo}", "{huge}"])
def test_check_never_hangs_or_grows(tmp_path: Path, target: str) -> None:
    os.mkfifo(tmp_path / "fifo")
    with open(tmp_path / "huge", "wb") as handle:
        handle.truncate(3 * 10**9)
    done = carc("check", target.format(fifo=tmp_path / "fifo", huge=tmp_path / "huge"), timeout=60)
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3


def test_recording_streams_to_disk(tmp_path: Path) -> None:
    out = tmp_path / "eps"
    out.mkdir()
    done = record_to_folder(out, ENV, "random", 3, 7, max_steps=10)
    assert (done.episodes, done.success_rule) == (3, "minigrid")
    assert sorted(p.name for p in out.iterdir()) == [f"episode_{i:04d}.npz" for i in range(3)]


# ---- 7: envs without what a command needs ----------------------------------------------------------


@pytest.mark.parametrize("env_id,policy,reason", [
    ("CartPole-v1", "expert", "no built-in expert for 'CartPole-v1'"),
    ("PandaStack-v3", "expert", "no built-in expert for 'PandaStack-v3'"),
    ("PandaReachJoints-v3", "expert", "no built-in expert for 'PandaReachJoints-v3'"),
    ("NoSuchEnv-v0", "random", "unknown environment 'NoSuchEnv-v0'"),
    ("MiniGrid-NoSuch-v0", "random", "unknown environment"),
    ("no_such_module:Thing-v0", "random", "environment 'no_such_module:Thing-v0'"),
    ("../../etc/passwd", "random", "not an environment id"),
    ("", "random", "not an environment id"),
])
def test_record_on_an_env_it_cannot_use(tmp_path: Path, env_id: str, policy: str, reason: str) -> None:
    done = carc("record", "--env", env_id, "--policy", policy, "--episodes", "1", "--out", str(tmp_path / "eps"))
    assert done.returncode == 2, done.stderr
    assert reason in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cartpole_success_is_unknown_not_100_percent(tmp_path: Path) -> None:
    done = carc("record", "--env", "CartPole-v1", "--policy", "random", "--episodes", "2", "--out", str(tmp_path / "eps"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["env_success_rate"] is None and summary["success_rule"] == "unknown"
    episode = load_episodes(tmp_path / "eps")[0]
    assert episode.metadata["env_success"] is None and episode.success_rule == "unknown"


def test_verify_on_an_env_without_an_expert(tmp_path: Path) -> None:
    (tmp_path / "p.car").write_text('program p "d"\nobserve rgb\nsubtask s "s" bonus 1 : true\n')
    done = carc("verify", str(tmp_path / "p.car"), "--env", "CartPole-v1", "--episodes", "3")
    assert done.returncode == 2 and "no built-in expert" in done.stderr and "Traceback" not in done.stderr


def test_success_rules_are_each_familys_own() -> None:
    assert [success_rule(e) for e in (ENV, "BabyAI-GoToObj-v0", "PandaPush-v3", "CartPole-v1", "Acrobot-v1")] == [
        "minigrid", "minigrid", "is_success", "unknown", "unknown"]
    assert success_by_rule("minigrid", 1.0, True, {}) is True
    assert success_by_rule("minigrid", 1.0, False, {}) is False
    assert success_by_rule("is_success", 1.0, True, {"is_success": False}) is False
    assert success_by_rule("unknown", 1.0, True, {"is_success": True}) is None
    with pytest.raises(EnvError, match="not an environment id"):
        make_env("bad id with spaces")
