"""The audit's compile check, in a fresh Python process: check, compile with numba's bounds
checking on, and run the kernel against the interpreter on edge-case frames, killed after a budget.

Bounds-checked kernels live in their own cache, ``<cache dir>/boundscheck`` (its own key, numba
directory and signatures, checked like the main cache): numba's cache index does not record the
bounds-checking flag, so they must never share a directory with ordinary kernels; kept there, a second
audit of the same program loads its bounds-checked kernel instead of compiling it again.

The parent sends the program text on stdin and reads one JSON line from stdout:
``python -m carc.audit.worker --compile-worker NAME`` (internal; use `carc audit`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from carc import ir

COMPILE_BUDGET_S = 60.0
BOUNDSCHECK_DIR = "boundscheck"
EDGE_SHADES = 8  # frames filled with each of the first shades of the program's colours


def compile_in_subprocess(raw: bytes, name: str, budget: float = COMPILE_BUDGET_S) -> dict[str, Any]:
    """Check, compile (numba bounds checking on) and run the program in a fresh Python process,
    killed after `budget` seconds."""
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "carc.audit.worker", "--compile-worker", name], input=raw, capture_output=True,
                              timeout=budget, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"did not finish within {budget:g} s", "budget_seconds": budget, "subprocess": True}
    wall = time.perf_counter() - started
    try:
        result = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return {"ok": False, "error": f"compile process exited with {done.returncode}: {tail[0][:200]}", "subprocess": True}
    return {**result, "budget_seconds": budget, "wall_seconds": round(wall, 3), "subprocess": True}


def edge_frames(program: ir.Program) -> list[np.ndarray]:
    """Frames at the edges of what a kernel must handle: no pixels, one pixel, one row or column,
    every pixel of one shade, a checkerboard (the most objects), noise."""
    shades = [s for c in program.colors for s in c.shades] or [(255, 255, 255)]
    frames = [np.zeros(shape, np.uint8) for shape in ((0, 0, 3), (0, 5, 3), (5, 0, 3), (1, 1, 3), (1, 9, 3), (9, 1, 3))]
    for shade in shades[:EDGE_SHADES]:
        frames.append(np.full((7, 5, 3), shade, np.uint8))
        frames.append(np.full((1, 1, 3), shade, np.uint8))
    board = np.zeros((33, 31, 3), np.uint8)
    board[(np.indices((33, 31)).sum(axis=0) % 2) == 0] = shades[0]
    frames.append(board)
    frames.append(np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8))
    return frames


def _compile_checked(program: ir.Program, scope: contextlib.ExitStack) -> tuple[Any, str]:
    """The bounds-checked kernel from the audit's own cache, or, when that cache cannot be used, from
    a temporary one (removed when ``scope`` closes); and where it came from."""
    from carc.backend.cache import CacheError, cache_root
    from carc.backend.kernel import compile_program

    try:
        return compile_program(program, cache_dir=cache_root() / BOUNDSCHECK_DIR), f"bounds-checked kernels in {BOUNDSCHECK_DIR}/ of the kernel cache"
    except CacheError:
        temporary = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="carc-audit-")))
        return compile_program(program, cache_dir=temporary), "a temporary cache directory (the kernel cache cannot be used)"


def _compile_worker(name: str) -> None:
    """Subprocess side of `compile_in_subprocess`: source on stdin, one JSON line on stdout."""
    from carc.api import check_text
    from carc.interpreter import Interpreter

    raw = sys.stdin.buffer.read()
    if os.environ.get("NUMBA_BOUNDSCHECK") != "1":  # never put unchecked code in the bounds-checked cache
        print(json.dumps({"ok": False, "error": "the compile worker runs with NUMBA_BOUNDSCHECK=1 only (use carc audit)"}))
        return
    try:
        program = check_text(raw, name)
        with contextlib.ExitStack() as scope:
            started = time.perf_counter()
            kernel, where = _compile_checked(program, scope)
            seconds = time.perf_counter() - started
            interpreter = Interpreter(program)
            frames = edge_frames(program)
            for frame in frames:
                states = [interpreter.new_state(1), kernel.new_state(1)]
                interpreter.reset(frame, states[0][0])
                kernel.reset(frame, states[1][0])
                ours, theirs = interpreter.step(frame, states[0][0]), kernel.step(frame, states[1][0])
                if (float(ours[0]), int(ours[1])) != (float(theirs[0]), int(theirs[1])):
                    raise AssertionError(f"kernel gave {theirs} where the interpreter gives {ours} on a {frame.shape} frame")
        loaded = sum(sum(f.stats.cache_hits.values()) for f in (kernel.module._program,)) > 0
        print(json.dumps({"ok": True, "compile_seconds": round(seconds, 4), "boundscheck": True, "frames_run": len(frames), "cached": loaded,
                          "cache": f"{where}: {'loaded (audited before)' if loaded else 'compiled now'}"}))
    except Exception as err:  # noqa: BLE001 - reported to the parent as a failed compile check
        print(json.dumps({"ok": False, "error": f"{type(err).__name__}: {str(err)[:300]}"}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--compile-worker":
        _compile_worker(sys.argv[2])
    else:
        print("usage: python -m carc.audit.worker --compile-worker NAME  (internal; use `carc audit`)", file=sys.stderr)
        sys.exit(2)
