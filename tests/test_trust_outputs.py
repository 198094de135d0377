"""Issue 10, family 5: outputs. Writes are atomic, respect the umask, refuse what they should not
replace, and every failure is one line with exit 2 (never 3, never a traceback)."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from carc.core.files import OutputError, atomic_output, check_output_path, prepare_output_folder, write_bytes_atomic, write_text_atomic

REPO = Path(__file__).resolve().parent.parent
PROGRAM = 'program p "trust outputs"\nobserve rgb\nsubtask s "s" bonus 1 : true\n'
IS_ROOT = hasattr(os, "getuid") and os.getuid() == 0


def carc(*args: str | bytes, umask: int | None = None, fsize: int | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    def limits() -> None:
        if umask is not None:
            os.umask(umask)
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "carc", *args], capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=limits, cwd=REPO)


def one_line_error(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture()
def program(tmp_path: Path) -> Path:
    path = tmp_path / "p.car"
    path.write_text(PROGRAM)
    return path


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# ---- the helper --------------------------------------------------------------------------------


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_umask_mode(tmp_path: Path, mask: int, mode: int) -> None:
    with umask(mask):
        path = write_text_atomic(tmp_path / "out.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_replaces_a_file_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    write_bytes_atomic(target, b"new" * 1000)
    assert target.read_bytes() == b"new" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError, OSError])
def test_an_interrupted_write_keeps_the_old_file(tmp_path: Path, error: type[BaseException]) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises((error, OutputError)), atomic_output(target) as handle:
        handle.write(b"half")
        raise error("stop")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_refuses_what_it_must_not_replace(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "real").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    cases = {
        "": "empty",
        str(tmp_path / "folder"): "is a directory",
        str(tmp_path / "link"): "symbolic link",
        str(tmp_path / "fifo"): "not a regular file",
        "/dev/null": "not a regular file",
        str(tmp_path / "missing" / "x.py"): "does not exist",
        str(tmp_path / "real" / "x.py"): "is not a folder",
    }
    for path, reason in cases.items():
        with pytest.raises(OutputError, match=reason):
            write_text_atomic(path, "x")
    assert (tmp_path / "real").read_text() == "keep" and (tmp_path / "link").is_symlink()
    with pytest.raises(TypeError, match="str or os.PathLike"):
        check_output_path(None)  # type: ignore[arg-type]


def test_output_folder_must_be_new_or_empty(tmp_path: Path) -> None:
    folder = tmp_path / "eps"
    assert prepare_output_folder(folder) == folder and folder.is_dir()
    (folder / "episode_0009.npz").write_bytes(b"old")
    (folder / ".episode_0001.npz.x.tmp").write_bytes(b"left over")
    with pytest.raises(OutputError, match="not empty"):
        prepare_output_folder(folder)
    prepare_output_folder(folder, force=True, pattern="*.npz")
    assert list(folder.iterdir()) == []
    with pytest.raises(OutputError, match="not a folder"):
        prepare_output_folder(__file__)


# ---- through the command line --------------------------------------------------------------------


@pytest.mark.parametrize("target,reason", [
    ("", "empty"),
    ("{tmp}", "is a directory"),
    ("{tmp}/missing/k.py", "does not exist"),
    ("/dev/null", "not a regular file"),
    ("/proc/self/k.py", "cannot write"),
])
def test_compile_output_refusals(program: Path, tmp_path: Path, target: str, reason: str) -> None:
    line = one_line_error(carc("compile", str(program), "-o", target.format(tmp=tmp_path)))
    assert reason in line


def test_compile_output_onto_a_symlink_keeps_the_link(program: Path, tmp_path: Path) -> None:
    (tmp_path / "victim").write_text("precious")
    (tmp_path / "k.py").symlink_to(tmp_path / "victim")
    assert "symbolic link" in one_line_error(carc("compile", str(program), "-o", str(tmp_path / "k.py")))
    assert (tmp_path / "victim").read_text() == "precious" and (tmp_path / "k.py").is_symlink()


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_compile_output_mode_follows_the_umask(program: Path, tmp_path: Path, mask: int, mode: int) -> None:
    done = carc("compile", str(program), "-o", str(tmp_path / "k.py"), umask=mask)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "k.py").stat().st_mode) == mode


def test_a_file_size_limit_is_one_line(program: Path, tmp_path: Path) -> None:
    """A write the system refuses half way (RLIMIT_FSIZE: EFBIG, as a full disk gives ENOSPC)."""
    line = one_line_error(carc("compile", str(program), "-o", str(tmp_path / "k.py"), fsize=4096))
    assert "cannot write" in line and "File too large" in line
    assert list(tmp_path.glob("*k.py*")) == []


@pytest.mark.skipif(not IS_ROOT, reason="mounting a tiny tmpfs needs root")
def test_a_full_disk_is_one_line(program: Path, tmp_path: Path) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        line = one_line_error(carc("compile", str(program), "-o", str(mount / "k.py")))
        assert "no space left on device" in line.lower()
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_record_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "eps"
    args = ("record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "random", "--episodes", "1", "--out", str(out))
    assert carc(*args).returncode == 0
    (out / "episode_0007.npz").write_bytes((out / "episode_0000.npz").read_bytes())
    assert "not empty" in one_line_error(carc(*args))
    assert carc(*args, "--force").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["episode_0000.npz"]


@pytest.mark.parametrize("args,reason", [
    (["record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "random", "--out", ""], "empty"),
    (["record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "random", "--out", "{program}"], "not a folder"),
    (["verify", "{program}", "--env", "MiniGrid-DoorKey-5x5-v0", "--counterexamples", ""], "--counterexamples"),
])
def test_output_folder_refusals(program: Path, args: list[str], reason: str) -> None:
    assert reason in one_line_error(carc(*[a.format(program=program) for a in args]))


def test_sigterm_during_record_leaves_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "eps"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "carc", "record", "--env", "MiniGrid-DoorKey-8x8-v0", "--policy", "random",
                             "--episodes", "500", "--tile", "32", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob("episode_0001.npz")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints where it was
        _, err = proc.communicate()
    assert proc.returncode == 143, err[-4000:]
    assert b"Traceback" not in err
    assert [p.name for p in out.iterdir() if not p.name.startswith("episode_")] == []
    from carc.verify.trajectories import load_episodes

    assert len(load_episodes(out)) >= 2  # what was written is whole
