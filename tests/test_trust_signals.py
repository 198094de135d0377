"""Issue 10, family 6: pipes, signals, locales and --json.

--json output is pure JSON whatever a library prints (pybullet writes to file descriptor 1 from C);
a closed pipe is a quiet exit (141); a full device is one line (exit 2); Ctrl-C is one line and 130
from the moment carc's own code runs; output paths that are not UTF-8 print under a strict encoding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from carc.core.files import atomic_output
from carc.core.signals import stop_handlers as carcs_stop_handlers
from carc.core.signals import stops_deferred

REPO = Path(__file__).resolve().parent.parent
DOORKEY = str(REPO / "examples" / "minigrid" / "doorkey.car")
PROGRAM = 'program p "trust signals"\nobserve rgb\nsubtask s "s" bonus 1 : true\n'


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def carc_cmd(*args: str | bytes) -> list[str | bytes]:
    return [sys.executable, "-m", "carc", *args]


def test_json_is_pure_when_pybullet_prints(tmp_path: Path) -> None:
    """Making a Panda env prints pybullet's start-up lines on file descriptor 1, from C."""
    pytest.importorskip("panda_gym")
    done = subprocess.run(carc_cmd("record", "--env", "PandaReach-v3", "--policy", "random", "--episodes", "1", "--out", str(tmp_path / "eps"),
                                   "--json"), capture_output=True, text=True, env=env(), timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert summary["episodes"] == 1 and summary["success_rule"] == "is_success"
    assert "argv[0]" in done.stderr  # what pybullet printed went to stderr instead


def test_json_in_process_reaches_the_callers_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """main() called in process (as tests do) writes its JSON to the sys.stdout it was given, and puts
    sys.stdout back afterwards."""
    from carc.cli.main import main

    before = sys.stdout
    assert main(["check", DOORKEY, "--json"]) == 0
    assert sys.stdout is before
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_closed_pipe_is_a_quiet_exit() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before carc writes a byte (as `| head -c0`)
    done = subprocess.run(carc_cmd("audit", DOORKEY, "--json", "--no-compile"), stdout=write, stderr=subprocess.PIPE, env=env(), timeout=300, cwd=REPO)
    os.close(write)
    assert done.returncode == 141
    assert done.stderr == b""


def test_head_of_the_json_is_quiet() -> None:
    shell = f"{sys.executable} -m carc audit {DOORKEY} --json --no-compile | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, env=env(), timeout=300, cwd=REPO)
    assert done.stdout == "{\n"
    assert done.returncode in (0, 141) and done.stderr == ""


@pytest.mark.parametrize("args", [["audit", DOORKEY, "--json", "--no-compile"], ["audit", DOORKEY, "--no-compile"], ["check", DOORKEY, "--json"]])
def test_full_device_is_one_line(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(carc_cmd(*args), stdout=full, stderr=subprocess.PIPE, text=True, env=env(), timeout=300, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["carc: error: No space left on device"]


def _interrupted_before_carc(returncode: int, text: str) -> bool:
    """SIGINT came before carc's `main` ran: it killed the interpreter (before Python's handler was in)
    or Python's own start-up code printed its traceback (runpy, the package import)."""
    if returncode == -signal.SIGINT and text == "":
        return True
    return returncode in (1, -signal.SIGINT) and text.rstrip().endswith("KeyboardInterrupt") and ", in main\n" not in text


@pytest.mark.parametrize("delay", [0.03, 0.06, 0.1, 0.3, 0.45, 0.6, 1.0, 2.0])
def test_ctrl_c_is_one_line_and_130(tmp_path: Path, delay: float) -> None:
    # A job a shell started in the background ignores SIGINT, and a child inherits that (a CI runner may
    # start the tests so): the child starts with Python's own handler, as from a terminal.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(carc_cmd("record", "--env", "MiniGrid-DoorKey-5x5-v0", "--policy", "random", "--episodes", "10000", "--json",
                                         "--out", str(tmp_path / "eps")), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), cwd=REPO)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    text = err.decode()
    if _interrupted_before_carc(proc.returncode, text):
        pytest.skip("SIGINT arrived before carc's main ran (the interpreter's start-up)")
    assert proc.returncode == 130, text
    assert text.strip().splitlines()[-1] == "carc: interrupted" and "Traceback" not in text
    if (tmp_path / "eps").exists():
        assert list((tmp_path / "eps").glob(".*")) == []  # no temporary file left


def test_a_stop_request_waits_in_finalisers_and_imports() -> None:
    """Where a signal handler's exception would be lost (a finaliser) or changed (an import), the
    handlers only record the request; elsewhere they raise."""
    import sys as system

    from carc.core.signals import unsafe_to_raise

    seen: list[bool] = []

    class Finalised:
        def __del__(self) -> None:
            seen.append(unsafe_to_raise(system._getframe()))

    Finalised()
    assert seen == [True]
    assert not unsafe_to_raise(system._getframe())


def test_non_utf8_output_path_under_a_strict_encoding(tmp_path: Path) -> None:
    (tmp_path / "p.car").write_text(PROGRAM)
    target = os.fsencode(tmp_path) + b"/k\xff.py"
    for extra in ([], ["--json"]):
        done = subprocess.run(carc_cmd("compile", str(tmp_path / "p.car"), "-o", target, *extra), capture_output=True, timeout=600, cwd=REPO,
                              env=env(PYTHONIOENCODING="utf-8:strict", LC_ALL="C"))
        assert done.returncode == 0, done.stderr
        assert b"Traceback" not in done.stderr
        assert os.path.exists(target)
        if extra:
            assert json.loads(done.stdout)["artifact"].endswith("k\udcff.py")
        else:
            assert b"k\\udcff.py" in done.stdout
        os.unlink(target)


def test_non_utf8_program_path_in_an_error(tmp_path: Path) -> None:
    done = subprocess.run(carc_cmd("check", os.fsencode(tmp_path) + b"/missing\xfe.car"), capture_output=True, timeout=300, cwd=REPO,
                          env=env(PYTHONIOENCODING="ascii:strict"))
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert done.stderr.count(b"\n") == 1 and b"missing\\udcfe.car" in done.stderr


@pytest.fixture
def handlers() -> Iterator[None]:
    """carc's Ctrl-C and SIGTERM handlers in this process, as the command line installs them."""
    with carcs_stop_handlers():
        yield


def test_a_stop_waits_for_the_end_of_a_deferred_block(handlers: None) -> None:
    # The handler runs at once (and its retry timer, 20 ms later) but raises only when the block ends.
    reached = []
    with pytest.raises(KeyboardInterrupt), stops_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        reached.append("end of the block")
    assert reached == ["end of the block"]


def test_a_stop_while_an_npz_is_written_leaves_the_whole_file(handlers: None, tmp_path: Path) -> None:
    # numpy's zip writer, interrupted inside, raises its own ValueError in place of the interrupt (an
    # internal error, once in a clean-clone CI run of test_ctrl_c_is_one_line_and_130): a file write
    # is one deferred block, so the interrupt comes after the file is whole, and no temporary is left.
    path = tmp_path / "a.npz"
    with pytest.raises(KeyboardInterrupt), atomic_output(path) as handle:
        os.kill(os.getpid(), signal.SIGINT)
        np.savez_compressed(handle, x=np.arange(1000))
    assert np.load(path)["x"].tolist() == list(range(1000))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
