"""The audit's compile check keeps its bounds-checked kernels in their own cache: a second audit of
a program loads them, and they never land in the directory of ordinary kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from carc.audit.worker import BOUNDSCHECK_DIR, compile_in_subprocess

REPO = Path(__file__).resolve().parent.parent
TINY = b'program tiny "no perception"\nobserve rgb\nsubtask wide "wide" bonus 1 : frame_width() > 3\n'


def test_second_audit_loads_the_bounds_checked_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARC_CACHE_DIR", str(tmp_path / "cache"))
    first = compile_in_subprocess(TINY, "tiny.car")
    second = compile_in_subprocess(TINY, "tiny.car")
    assert first["ok"] and second["ok"] and first["boundscheck"] and second["boundscheck"]
    assert first["cached"] is False and second["cached"] is True
    assert len(list((tmp_path / "cache" / BOUNDSCHECK_DIR).glob("k_*.py"))) == 1
    assert not list((tmp_path / "cache").glob("k_*.py"))  # ordinary kernels' directory untouched


def test_compile_worker_refuses_to_run_without_bounds_checking(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_BOUNDSCHECK"}
    env.update({"CARC_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)})
    done = subprocess.run([sys.executable, "-m", "carc.audit.worker", "--compile-worker", "tiny.car"], input=TINY,
                          capture_output=True, env=env, timeout=120, check=False)
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert report["ok"] is False and "NUMBA_BOUNDSCHECK=1" in report["error"]
    assert not (tmp_path / "cache" / BOUNDSCHECK_DIR).exists()


def test_audit_compiles_in_a_temporary_cache_when_the_kernel_cache_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # writable by others: carc refuses to load from it
    monkeypatch.setenv("CARC_CACHE_DIR", str(shared))
    report = compile_in_subprocess(TINY, "tiny.car")
    assert report["ok"] and report["cached"] is False and "temporary cache directory" in report["cache"]
    assert not list(shared.iterdir())
