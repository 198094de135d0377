"""`carc bench`: the compiled kernel side by side with the interpreter, a hand-written numba kernel
and the memory floor, on real frames of the program's environment, plus compile times.

Per frame shape (median ns per call over ``repeat`` timed passes over the frames):

* ``kernel_ns``: ``Kernel.step`` through the public API (input checks included);
* ``interpreter_ns``: the reference interpreter's ``step``;
* ``handwritten_ns``: ``carc.perf.handwritten.step``, a numba kernel written by hand for
  examples/minigrid/doorkey.car (null for any other program);
* ``scan_floor_ns``: one plain numba pass that reads every byte of the frame and sums them;
* ``compile_first_s`` / ``compile_cold_s`` / ``compile_warm_s``: ``compile_program`` in fresh
  processes: with an empty cache directory (the kernel library, compiled once per carc version, and
  the program), with only the library cached (a new program: what a repair loop pays), then with
  the program cached too (medians; imports of carc and numba before the call are reported apart,
  as ``compile_warm_imports_s``, as the floor leaves numba's import out); ``compile_cold_cpu_s``:
  the cold compile's CPU seconds (user + system: on a busy machine, closer to the unloaded wall time).
  ``numba_warm_load_floor_s`` is what loading one trivial cached numba function
  costs in a fresh process: numba's one-time set-up, which any warm load pays; ``audit_first_s`` /
  ``audit_cold_s`` / ``audit_s``: ``carc audit PROGRAM`` (its compile check included) in a fresh
  process with a fresh cache directory, then with only the audit's bounds-checked library cached,
  then with the program's bounds-checked kernel cached too (median);
* ratios: ``speedup_vs_interpreter`` = interpreter / kernel, ``ratio_vs_handwritten`` = kernel /
  hand-written, ``ratio_vs_floor`` = kernel / floor.

The interpreter is timed on the first 16 frames of each set (it is ~1000x slower); the others on
all of them. Frames: for programs that ``use minigrid``, MiniGrid-DoorKey-8x8 frames from a seeded random
rollout at tile 8 (64x64) and tile 32 (256x256); for other programs, frames rendered by ``env_id``
when given, else seeded random frames of 84x84. ``env_id`` also adds ``carc.perf.envbench``'s fields: env
steps/s symbolic (no render), plain and wrapped (render + kernel), their ratios, and for MiniGrid the
render times of MiniGrid's ``get_frame`` and carc's ``render_full_frame`` (``render_us_*``), and
``verify_cached_s``: ``carc verify`` with its default episodes in a fresh process, trajectories and
kernel cached (median of three after one run that fills the caches; null for an env with no built-in
expert, which verification needs).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from carc import ir
from carc.api import check_text, compile_record, read_program
from carc.backend.kernel import ENV_CACHE_DIR, compile_program
from carc.core.resources import DEFAULT_PROGRAM, example_path
from carc.interpreter import Interpreter
from carc.lang.record import Compilation

DOORKEY_ENV = "MiniGrid-DoorKey-8x8-v0"
MINIGRID_TILES = (8, 32)
ROLLOUT_FRAMES = 64
INTERPRETER_FRAMES = 16
COMPILE_REPEATS = 3
PACKAGE_PARENT = Path(__file__).resolve().parent.parent.parent  # the folder that holds carc/


@njit(cache=True)
def _byte_sum(frame: np.ndarray) -> int:
    flat = frame.reshape(frame.size)
    total = 0
    for i in range(flat.shape[0]):
        total += flat[i]
    return total


def scan_floor(frame: np.ndarray) -> int:
    """The memory floor: read every byte of the frame once (a plain numba loop summing them)."""
    return _byte_sum(frame)


# ---- frames ------------------------------------------------------------------------------------


def minigrid_frames(env_id: str = DOORKEY_ENV, tile: int = 8, n: int = ROLLOUT_FRAMES, seed: int = 0) -> list[np.ndarray]:
    """Frames of a seeded uniform-random rollout (resetting when an episode ends)."""
    try:
        from carc.envs.minigrid import make_minigrid_env

        env = make_minigrid_env(env_id, tile_size=tile)

        def image(obs: Any) -> np.ndarray:
            return obs
    except ImportError:  # pragma: no cover - the env module ships with carc
        import gymnasium as gym
        from minigrid.wrappers import RGBImgObsWrapper

        env = RGBImgObsWrapper(gym.make(env_id), tile_size=tile)

        def image(obs: Any) -> np.ndarray:
            return obs["image"]

    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    frames = [np.ascontiguousarray(image(obs))]
    while len(frames) < n:
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(0, 7)))
        frames.append(np.ascontiguousarray(image(obs)))
        if terminated or truncated:
            obs, _ = env.reset()
            frames.append(np.ascontiguousarray(image(obs)))
    env.close()
    return frames[:n]


def env_frames(env_id: str, n: int = ROLLOUT_FRAMES, seed: int = 0) -> list[np.ndarray]:
    from carc.envs.base import frame_of
    from carc.envs.registry import make_env

    env = make_env(env_id)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    frames = [np.ascontiguousarray(frame_of(env, obs))]
    while len(frames) < n:
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        frames.append(np.ascontiguousarray(frame_of(env, obs)))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return frames


# ---- timing ------------------------------------------------------------------------------------


def time_steps(reset: Callable[[np.ndarray, np.ndarray], Any], step: Callable[[np.ndarray, np.ndarray], Any],
               new_state: Callable[[], np.ndarray], frames: list[np.ndarray], repeat: int) -> float:
    """Median over repeats of the mean ns per step call, stepping through the frames in order."""
    samples = []
    for _ in range(repeat):
        state = new_state()
        reset(frames[0], state)
        started = time.perf_counter_ns()
        for frame in frames:
            step(frame, state)
        samples.append((time.perf_counter_ns() - started) / len(frames))
    return float(statistics.median(samples))


def time_calls(fn: Callable[[np.ndarray], Any], frames: list[np.ndarray], repeat: int) -> float:
    """Median over repeats of the mean ns per call of fn on each frame in order."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        for frame in frames:
            fn(frame)
        samples.append((time.perf_counter_ns() - started) / len(frames))
    return float(statistics.median(samples))


_COMPILE_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import numba
from carc.api import check_file
from carc.backend.kernel import compile_program
t1 = time.perf_counter()
program = check_file(sys.argv[1])
t2 = time.perf_counter()
c2 = time.process_time()
compile_program(program)
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "check_s": t2 - t1, "compile_s": t3 - t2, "compile_cpu_s": time.process_time() - c2}))
"""


def _compile_in_subprocess(program_path: str, cache_dir: str) -> dict[str, float]:
    env = {**os.environ, ENV_CACHE_DIR: cache_dir, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT, str(program_path)], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"compile subprocess failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


_NUMBA_FLOOR_MODULE = """
from numba import njit


@njit("int64(int64)", cache=True)
def one(x):
    return x + 1
"""

_NUMBA_FLOOR_SCRIPT = """
import importlib.util, json, sys, time
import numpy
t0 = time.perf_counter()
import numba
t1 = time.perf_counter()
spec = importlib.util.spec_from_file_location("carc_bench_floor", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["carc_bench_floor"] = module
spec.loader.exec_module(module)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "hits": sum(module.one.stats.cache_hits.values())}))
"""


def numba_warm_floor(repeats: int = COMPILE_REPEATS) -> float:
    """What any cached numba function costs to load in a fresh process (numba's one-time target
    set-up): one trivial ``cache=True`` function, loaded warm. Median seconds."""
    samples = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="carc-bench-") as tmp:
            path = Path(tmp) / "carc_bench_floor.py"
            path.write_text(_NUMBA_FLOOR_MODULE)
            for _ in range(2):
                done = subprocess.run([sys.executable, "-c", _NUMBA_FLOOR_SCRIPT, str(path)], capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"numba floor subprocess failed: {done.stderr.strip()[-2000:]}")
            samples.append(json.loads(done.stdout.strip().splitlines()[-1])["load_s"])
    return float(statistics.median(samples))


def forget_programs(cache_dir: Path) -> None:
    """Delete every program's kernel from a cache directory, keeping the kernel library (``lib_*``)."""
    for path in [*cache_dir.glob("k_*"), *(cache_dir / "numba").glob("k_*")]:
        path.unlink()


def compile_times(program_path: str, repeats: int = COMPILE_REPEATS) -> dict[str, float]:
    """Median compile_program seconds in fresh processes: first (empty cache dir), cold (only the
    library cached), then warm."""
    first: list[float] = []
    cold: list[float] = []
    cold_cpu: list[float] = []
    warm: list[float] = []
    imports: list[float] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="carc-bench-") as cache_dir:
            first.append(_compile_in_subprocess(program_path, cache_dir)["compile_s"])
            forget_programs(Path(cache_dir))
            again = _compile_in_subprocess(program_path, cache_dir)
            cold.append(again["compile_s"])
            cold_cpu.append(again["compile_cpu_s"])
            second = _compile_in_subprocess(program_path, cache_dir)
            warm.append(second["compile_s"])
            imports.append(second["imports_s"])
    return {"compile_first_s": statistics.median(first), "compile_cold_s": statistics.median(cold),
            "compile_cold_cpu_s": statistics.median(cold_cpu), "compile_warm_s": statistics.median(warm),
            "warm_imports_s": statistics.median(imports)}


def audit_times(program_path: str, repeats: int = COMPILE_REPEATS) -> dict[str, float]:
    """Wall seconds of ``carc audit PROGRAM --json`` in fresh processes, in a fresh cache directory:
    the first run compiles the bounds-checked library and kernel (``audit_first_s``); then, ``repeats``
    times, with the program forgotten (only the library cached: ``audit_cold_s``, median) and again
    with the program's bounds-checked kernel cached (``audit_s``, median)."""
    from carc.audit.worker import BOUNDSCHECK_DIR

    command = [sys.executable, "-m", "carc", "audit", str(program_path), "--json"]
    first: list[float] = []
    cold: list[float] = []
    warm: list[float] = []
    with tempfile.TemporaryDirectory(prefix="carc-bench-") as cache_dir:
        env = {**os.environ, ENV_CACHE_DIR: cache_dir,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))}
        for run in range(2 * repeats + 1):
            if run % 2 == 1:
                forget_programs(Path(cache_dir) / BOUNDSCHECK_DIR)
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            if done.returncode not in (0, 1):  # 1: an unsafe verdict, which still times the audit
                raise RuntimeError(f"audit subprocess failed: {done.stderr.strip()[-2000:]}")
            (first if run == 0 else cold if run % 2 == 1 else warm).append(time.perf_counter() - started)
    return {"audit_first_s": first[0], "audit_cold_s": statistics.median(cold), "audit_s": statistics.median(warm)}


def verify_times(program_path: str, env_id: str, repeats: int = COMPILE_REPEATS) -> dict[str, float]:
    """Median wall seconds of ``carc verify PROGRAM --env ID --json`` (20 expert, 100 random episodes,
    properties on) in fresh processes, with the kernel and trajectories cached: one run first fills
    the caches (not timed), then ``repeats`` timed runs."""
    command = [sys.executable, "-m", "carc", "verify", str(program_path), "--env", env_id, "--json"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))}
    samples = []
    with tempfile.TemporaryDirectory(prefix="carc-bench-") as tmp:
        for run in range(repeats + 1):
            started = time.perf_counter()
            done = subprocess.run([*command, "--counterexamples", tmp], env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode not in (0, 1):  # 1: the program does not verify, which still times it
                raise RuntimeError(f"verify subprocess failed: {done.stderr.strip()[-2000:]}")
            if run:
                samples.append(time.perf_counter() - started)
    return {"verify_cached_s": statistics.median(samples)}


# ---- the hand-written yardstick ----------------------------------------------------------------


def _doorkey_path() -> Path | None:
    path = example_path(DEFAULT_PROGRAM)
    return path if path.is_file() else None


def _reward_signature(program: ir.Program) -> tuple:
    """Everything that determines the reward (names and descriptions left out)."""
    stages = tuple((s.unordered, tuple((t.index, t.bonus, t.predicate) for t in s.subtasks)) for s in program.stages)
    colors = tuple((c.shades, c.tolerance) for c in program.colors)
    return (program.tile, colors, program.nodes, program.latches, stages, program.shaping, program.bounds)


def has_handwritten(program: ir.Program) -> bool:
    """The hand-written kernel computes examples/minigrid/doorkey.car and nothing else."""
    path = _doorkey_path()
    return path is not None and _reward_signature(check_text(path.read_bytes(), str(path))) == _reward_signature(program)


# ---- the benchmark -----------------------------------------------------------------------------


def _frame_sets(record: Compilation, frames: list[np.ndarray] | None, env_id: str | None) -> list[tuple[list[np.ndarray], float | None]]:
    if frames is not None:
        by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
        for frame in frames:
            by_shape.setdefault(frame.shape, []).append(np.ascontiguousarray(frame))
        return [(group, None) for group in by_shape.values()]
    if "minigrid" in record.used_modules:
        return [(minigrid_frames(DOORKEY_ENV, tile), float(tile)) for tile in MINIGRID_TILES]
    if env_id is not None:
        return [(env_frames(env_id), None)]
    rng = np.random.default_rng(0)
    return [([rng.integers(0, 256, (84, 84, 3), dtype=np.uint8) for _ in range(ROLLOUT_FRAMES)], None)]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def fresh_state(new_state: Callable[..., np.ndarray], tile: float) -> Callable[[], np.ndarray]:
    """A maker of one fresh state row at `tile` (bound now, not when called)."""
    return lambda: new_state(1, tile)[0]


def run_bench(program_path: str, frames: list[np.ndarray] | None = None, repeat: int = 7, env_id: str | None = None,
              compile: bool = True) -> dict[str, Any]:
    """Time kernel, interpreter, hand-written kernel and memory floor per frame shape; compile times."""
    record = compile_record(read_program(program_path), str(program_path), lints=False)
    program = record.checked()
    kernel = compile_program(program)
    interpreter = Interpreter(program)
    hand: Any = None
    if has_handwritten(program):
        from carc.perf import handwritten as hand

    results = []
    for group, tile in _frame_sets(record, frames, env_id):
        tile_value = tile if tile is not None else float(program.tile)
        kernel_ns = time_steps(kernel.reset, kernel.step, fresh_state(kernel.new_state, tile_value), group, repeat)
        interpreter_ns = time_steps(interpreter.reset, interpreter.step, fresh_state(interpreter.new_state, tile_value),
                                    group[:INTERPRETER_FRAMES], max(1, min(repeat, 3)))
        handwritten_ns = None
        if hand is not None:
            handwritten_ns = time_steps(hand.reset, hand.step, fresh_state(hand.new_state, tile_value), group, repeat)
        scan_floor(group[0])
        floor_ns = time_calls(scan_floor, group, repeat)
        results.append({
            "frame_shape": list(group[0].shape),
            "kernel_ns": kernel_ns,
            "interpreter_ns": interpreter_ns,
            "handwritten_ns": handwritten_ns,
            "scan_floor_ns": floor_ns,
            "speedup_vs_interpreter": _ratio(interpreter_ns, kernel_ns),
            "ratio_vs_handwritten": _ratio(kernel_ns, handwritten_ns),
            "ratio_vs_floor": _ratio(kernel_ns, floor_ns),
        })
    times: dict[str, float | None] = dict(compile_times(program_path)) if compile else dict.fromkeys(
        ("compile_first_s", "compile_cold_s", "compile_cold_cpu_s", "compile_warm_s", "warm_imports_s"))
    numba_floor = numba_warm_floor() if compile else None
    audit: dict[str, float | None] = dict(audit_times(program_path)) if compile else dict.fromkeys(("audit_first_s", "audit_cold_s", "audit_s"))
    for entry in results:
        entry["compile_cold_s"] = times["compile_cold_s"]
        entry["compile_warm_s"] = times["compile_warm_s"]
    result: dict[str, Any] = {
        "program": program.name,
        "results": results,
        "compile_first_s": times["compile_first_s"],
        "compile_cold_s": times["compile_cold_s"],
        "compile_cold_cpu_s": times["compile_cold_cpu_s"],
        "compile_warm_s": times["compile_warm_s"],
        "compile_warm_imports_s": times["warm_imports_s"],
        "numba_warm_load_floor_s": numba_floor,
        "warm_over_floor": _ratio(times["compile_warm_s"], numba_floor),
        "audit_first_s": audit["audit_first_s"],
        "audit_cold_s": audit["audit_cold_s"],
        "audit_s": audit["audit_s"],
    }
    if env_id is not None:
        from carc.envs.registry import has_expert
        from carc.perf.envbench import run_env_bench

        result.update(run_env_bench(program_path, env_id))
        if compile:  # verification needs expert play: an env with no built-in expert is not timed
            result.update(verify_times(program_path, env_id) if has_expert(env_id) else {"verify_cached_s": None})
    return result


def _fmt(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value / scale:.{digits}f}"


def format_bench(result: dict[str, Any]) -> str:
    """A small aligned text table of a run_bench result."""
    header = ("frame", "kernel us", "interp us", "hand us", "floor us", "x interp", "/ hand", "/ floor")
    rows = [header]
    for r in result["results"]:
        rows.append((
            "x".join(str(v) for v in r["frame_shape"]),
            _fmt(r["kernel_ns"], 1e3, 2), _fmt(r["interpreter_ns"], 1e3, 1), _fmt(r["handwritten_ns"], 1e3, 2),
            _fmt(r["scan_floor_ns"], 1e3, 2), _fmt(r["speedup_vs_interpreter"], 1, 0),
            _fmt(r["ratio_vs_handwritten"], 1, 2), _fmt(r["ratio_vs_floor"], 1, 2),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"program {result['program']}"]
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.rjust(widths[i]) if i else cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"compile: cold {_fmt(result['compile_cold_s'], 1, 2)} s (CPU {_fmt(result.get('compile_cold_cpu_s'), 1, 2)} s), "
                 f"warm {_fmt(result['compile_warm_s'], 1, 3)} s, first time {_fmt(result.get('compile_first_s'), 1, 2)} s"
                 " (fresh processes; cold = a new program with the kernel library cached, warm = loaded from the on-disk cache)")
    if result.get("numba_warm_load_floor_s") is not None:
        lines.append(f"         numba's own floor for a warm load in a fresh process: {result['numba_warm_load_floor_s']:.3f} s"
                     f"; imports of carc and numba before it: {result['compile_warm_imports_s']:.3f} s")
    if result.get("audit_s") is not None:
        lines.append(f"audit (carc audit, compile check included, fresh process): {result['audit_s']:.2f} s, "
                     f"{result['audit_cold_s']:.2f} s the first time for a program (bounds-checked kernel compiled), "
                     f"{_fmt(result.get('audit_first_s'), 1, 2)} s the first time at all (bounds-checked library compiled)")
    if "env_id" in result:
        lines.append(f"env {result['env_id']}: {result['env_steps_per_s_symbolic']:.0f} steps/s symbolic (no render), "
                     f"{result['env_steps_per_s_plain']:.0f} plain (frames), {result['env_steps_per_s_wrapped']:.0f} wrapped "
                     f"(frames + reward): wrapped / symbolic {result['reward_overhead_ratio']:.3f}, "
                     f"wrapped / plain {result['env_overhead_ratio']:.3f}")
        if result.get("env_steps_per_s_wrapped_minigrid") is not None:
            lines.append(f"    wrapped with MiniGrid's own get_frame: {result['env_steps_per_s_wrapped_minigrid']:.0f} steps/s")
        lines.extend(_render_lines(result))
        lines.append(f"    step_batch: {result['batch_frames_per_s']:.0f} frames/s over {result['batch_size']} frames")
        if result.get("verify_cached_s") is not None:
            lines.append(f"verify (20 expert, 100 random episodes, properties on), trajectories cached: {result['verify_cached_s']:.2f} s")
        elif "verify_cached_s" in result:
            lines.append(f"verify: not timed (carc has no built-in expert for {result['env_id']})")
    return "\n".join(lines)


def _render_lines(result: dict[str, Any]) -> list[str]:
    """One line per tile: MiniGrid's get_frame against carc's render_full_frame."""
    tiles = sorted(int(key.removeprefix("render_us_carc_tile")) for key in result if key.startswith("render_us_carc_tile"))
    lines = [f"    render tile {tile}: MiniGrid get_frame {result[f'render_us_minigrid_tile{tile}']:.1f} us, "
             f"carc {result[f'render_us_carc_tile{tile}']:.2f} us ({result[f'render_speedup_tile{tile}']:.0f}x)" for tile in tiles]
    if tiles:
        lines.append(f"    frames byte-identical on {result['render_states']} states: {result['render_identical']}")
    return lines
