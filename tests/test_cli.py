"""Smoke runs of every `carc` command on the examples, and bad input of every kind: exit codes
0 (ok), 1 (rejected), 2 (usage), and never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from carc.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(str(p) for p in Path("examples").rglob("*.car"))
GOOD = [p for p in EXAMPLES if "/wrong/" not in p]


def carc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carc.cli.main", *args], capture_output=True, text=True, timeout=600)


def test_check_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(GOOD) >= 4
    assert main(["check", *EXAMPLES]) == 0


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", "examples/minigrid/doorkey.car"]) == 0
    assert json.loads(capsys.readouterr().out)["subtasks"] == ["got_key", "opened", "at_goal"]


@pytest.mark.parametrize("text,code", [
    ('program p "d"\nobserve rgb\nsubtask s "s" bonus 1 : area(pixels(red)) > 0\n', "E301"),
    ('program p "d"\nobserve rgb\nsubtask s "s" bonus 1 : 1 +\n', "E203"),
    ("program p \"d\"\nobserve rgb\nlet x = \u202e1\n", "E103"),
])
def test_bad_programs_exit_1_with_location(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "bad.car"
    path.write_text(text, encoding="utf-8")
    result = carc("check", str(path))
    assert result.returncode == 1
    assert f"{path}:" in result.stderr and f"error[{code}]" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "bytes.car"
    path.write_bytes(b'program p "d"\nobserve rgb \xff\n')
    result = carc("check", str(path))
    assert result.returncode == 1 and "error[E101]" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [
    ["check", "no/such/file.car"],
    ["check", "examples"],
    ["frobnicate"],
    ["audit", "examples/minigrid/doorkey.car", "--frame", "64by64"],
    ["record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "clever", "--out", "x"],
    ["record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "random", "--episodes", "0", "--out", "x"],
    ["verify", "examples/minigrid/doorkey.car", "--env", "MiniGrid-DoorKey-5x5-v0", "--random-threshold", "2"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = carc(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "error" in result.stderr


@pytest.mark.parametrize("args", [
    ["record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "random", "--episodes", "10001", "--out", "x"],
    ["verify", "PROGRAM", "--env", "MiniGrid-DoorKey-5x5-v0", "--episodes", "1000000000"],
    ["verify", "PROGRAM", "--env", "MiniGrid-DoorKey-5x5-v0", "--random-episodes", "10001"],
    ["generate", "--env", "MiniGrid-DoorKey-5x5-v0", "--dry-run", "--out", "x", "--episodes", "10001"],
    ["train", "PROGRAM", "--env", "MiniGrid-DoorKey-5x5-v0", "--steps", "8", "--eval-episodes", "10001"],
])
def test_episode_counts_past_the_cap_are_refused_before_anything_is_recorded(
        args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # a billion episodes once built a billion cache keys before the first recording, and the process
    # was killed for its memory
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([str(ROOT / "examples" / "minigrid" / "doorkey.car") if a == "PROGRAM" else a for a in args])
    assert exit_info.value.code == 2
    assert "a number of episodes from 1 to 10,000" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["train", "PROGRAM", "--env", "MiniGrid-DoorKey-5x5-v0", "--steps", "8", "--seeds", "1000000000"], "a number of seeds from 1 to 1,000"),
    (["train", "PROGRAM", "--env", "MiniGrid-DoorKey-5x5-v0", "--steps", "8", "--workers", "100000"], "a number of workers from 1 to 256"),
    (["verify", "PROGRAM", "--env", "MiniGrid-DoorKey-5x5-v0", "--examples", "100000000"], "a number of examples from 1 to 100,000"),
    (["bench", "PROGRAM", "--repeat", "100000000"], "a number of repeats from 1 to 1,000"),
])
def test_counts_that_would_run_for_days_are_refused(args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([str(ROOT / "examples" / "minigrid" / "doorkey.car") if a == "PROGRAM" else a for a in args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_audit_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "examples/minigrid/doorkey.car", "--no-compile", "--json"]) == 0
    certificate = json.loads(capsys.readouterr().out)
    assert certificate["verdict"] == "safe"
    for key in ("hash", "carc_version", "limits", "cost", "termination", "arithmetic", "reward_bounds", "host_access", "lints"):
        assert key in certificate


@pytest.mark.parametrize("emit,marker", [("ast", "subtask"), ("ir", "got_key"), ("python", "@njit")])
def test_compile_emits_each_stage(emit: str, marker: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "examples/minigrid/doorkey.car", "--emit", emit]) == 0
    assert marker in capsys.readouterr().out


def test_compile_to_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kernel.py"
    assert main(["compile", "examples/minigrid/doorkey.car", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert out.exists() and report["artifact"] == str(out) and len(report["hash"]) == 64


def test_record_writes_episodes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "expert", "--episodes", "2", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 2 and summary["env_success_rate"] == 1.0
    assert len(list(tmp_path.glob("episode_*.npz"))) == 2


def test_record_at_a_tile_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "random", "--episodes", "1", "--tile", "32",
                 "--out", str(tmp_path), "--json"]) == 0
    from carc.verify.trajectories import load_episodes

    episode = load_episodes(tmp_path)[0]
    assert episode.frames.shape[1:] == (160, 160, 3) and episode.metadata["tile_size"] == 32


def test_verify_with_recorded_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for policy, count in (("expert", "3"), ("random", "5")):  # the default minimums of usable episodes
        assert main(["record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", policy, "--episodes", count, "--out", str(tmp_path / policy), "--json"]) == 0
    capsys.readouterr()
    code = main(["verify", "examples/minigrid/doorkey.car", "--env", "MiniGrid-DoorKey-5x5-v0", "--expert", str(tmp_path / "expert"),
                 "--random", str(tmp_path / "random"), "--examples", "10", "--counterexamples", str(tmp_path / "cx")])
    assert code == 0 and capsys.readouterr().out.startswith("PASS")


def test_verify_reports_a_bad_trajectory_directory_cleanly(tmp_path: Path) -> None:
    (tmp_path / "episode_0000.npz").write_bytes(b"not a zip")
    result = carc("verify", "examples/minigrid/doorkey.car", "--env", "MiniGrid-DoorKey-5x5-v0", "--expert", str(tmp_path), "--random", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr and "episode_0000.npz" in result.stderr


@pytest.mark.slow
def test_bench_json() -> None:
    result = carc("bench", "examples/minigrid/doorkey.car", "--json", "--repeat", "3")
    report = json.loads(result.stdout)
    for entry in report["results"]:
        for key in ("frame_shape", "kernel_ns", "interpreter_ns", "handwritten_ns", "scan_floor_ns", "compile_cold_s", "compile_warm_s"):
            assert key in entry


def test_bench_refuses_an_unknown_env_before_timing_anything() -> None:
    result = carc("bench", "examples/minigrid/doorkey.car", "--env", "MiniGrid-Nope-v0")
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("carc: error: unknown environment 'MiniGrid-Nope-v0': Environment `MiniGrid-Nope` doesn't exist.")


@pytest.mark.slow
def test_bench_on_an_env_without_an_expert_times_all_but_verify(tmp_path: Path) -> None:
    program = tmp_path / "p.car"
    program.write_text('program p "d"\nobserve rgb\nsubtask s "s" bonus 1 : true\n')
    result = carc("bench", str(program), "--env", "CartPole-v1", "--json", "--repeat", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verify_cached_s"] is None and report["env_steps_per_s_wrapped"] > 0 and report["compile_cold_s"] > 0


@pytest.mark.slow
def test_demo_runs_end_to_end() -> None:
    result = carc("demo", "--episodes", "5")
    assert result.returncode == 0 and "verified" in result.stdout


_WITHOUT_EXTRAS = """
import importlib.abc, sys
MISSING = {"gymnasium", "minigrid", "hypothesis", "tqdm", "scipy", "openai", "PIL", "torch", "stable_baselines3", "ray"}
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in MISSING:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Missing())
from carc.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("args", [
    ["train", "examples/minigrid/doorkey.car", "--env", "MiniGrid-DoorKey-5x5-v0", "--steps", "100"],
    ["verify", "examples/minigrid/doorkey.car", "--env", "MiniGrid-DoorKey-5x5-v0"],
    ["generate", "--env", "MiniGrid-DoorKey-5x5-v0", "--dry-run", "--out", "never-written"],
])
def test_a_command_without_its_extra_names_the_extra(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "pip install 'carc[" in done.stderr and "Traceback" not in done.stderr
    assert not (ROOT / "never-written").exists()


def test_check_works_without_any_extra() -> None:
    done = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, "check", "examples/minigrid/doorkey.car"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_demo_starts_from_the_bundled_generation_transcript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--episodes", "5", "--train-steps", "0", "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["program"] == str(tmp_path / "generate" / "program.car")
    assert report["generation"]["rounds"] == 4 and report["generation"]["stages"].endswith("verified")
    assert report["verify"]["passed"] is True


@pytest.mark.parametrize(("flag", "message"), [
    ("--explain", "--explain {folder}: the folder is not empty: choose a new one"),
    ("--counterexamples", "cannot write into {folder}/taken: it is not a folder"),
])
def test_verify_says_an_unusable_output_folder_before_it_verifies(flag: str, message: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("kept\n")
    folder = tmp_path if flag == "--explain" else tmp_path / "taken"
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(ROOT / "examples" / "minigrid" / "doorkey.car"), "--env", "MiniGrid-DoorKey-5x5-v0", flag, str(folder)])
    assert exit_info.value.code == 2
    assert message.format(folder=tmp_path) in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "kept\n"


def test_verify_warns_when_the_programs_palette_is_another_familys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", str(ROOT / "examples" / "panda" / "reach.car"), "--env", "MiniGrid-DoorKey-5x5-v0", "--episodes", "3",
                 "--examples", "1", "--no-cache", "--min-expert", "1", "--min-random", "1", "--counterexamples", str(tmp_path)])
    assert code == 1
    assert "carc: warning: the program says `use panda`, a palette measured on Panda-Gym's frames" in capsys.readouterr().err


def test_a_second_demo_replaces_its_own_generation(tmp_path: Path) -> None:
    # generate keeps an earlier session's folder; the demo's carc-demo/generate is the demo's own, so
    # running the README's first command twice must work
    from carc.cli.demo import _generated_program

    said: list[str] = []
    first, _ = _generated_program(tmp_path, said.append)
    (tmp_path / "generate" / "counterexamples" / "stale").mkdir(parents=True)
    second, details = _generated_program(tmp_path, said.append)
    assert first == second and Path(second).is_file() and details["rounds"] == 4
    assert not (tmp_path / "generate" / "counterexamples" / "stale").exists()
