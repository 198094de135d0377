"""Hypothesis properties of a compiled kernel, run by `carc verify` itself.

Each property draws short frame sequences from recorded episodes, optionally perturbed (noise,
rectangles painted in the program's own palette, frames out of order), and checks:

- ``matches_interpreter``: rewards, events and the whole state equal the reference interpreter's,
  bit for bit;
- ``reward_in_bounds``: every reward is finite and inside the program's bounds;
- ``progress_monotone``: progress never decreases nor passes the last stage; done flags stay set;
- ``reset_restores``: reset on the first frame gives the same state however the episode went;
- ``deterministic``: the same frames give the same outputs.

The sample is bounded, however many episodes there are: one hypothesis search of ``examples``
examples (``carc verify --examples``, default 200) checks the four kernel-only properties on each, at
most ``MAX_SEQUENCE`` (6) frames an example, so at most 1,200 frames by default; the interpreter,
about 1000x slower than the kernel, is compared on a quarter of that (50 examples, at most 300
frames). When a search finds a failure, each of its properties gets a search of its own, and a
failing one saves its shrunk counterexample's frames to ``<dir>/<property>.npz``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carc import ir
from carc.core.files import atomic_output
from carc.interpreter import Interpreter
from carc.ir.layout import DONE, PROGRESS
from carc.verify.packed import PackedEpisode
from carc.verify.report import PropertyResult

MAX_SEQUENCE = 6  # frames in one example: a search of N examples checks at most 6 N frames
INTERPRETER_SHARE = 4  # matches_interpreter runs on examples // 4 examples


class PropertyFailure(AssertionError):
    """A property did not hold; the message says how."""


def _bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float64).view(np.int64)


def _palette(program: ir.Program) -> list[tuple[int, int, int]]:
    return [shade for color in program.colors for shade in color.shades] or [(255, 255, 255)]


@st.composite
def frame_sequences(draw: st.DrawFn, episodes: Sequence[PackedEpisode], palette: list[tuple[int, int, int]]) -> tuple[list[np.ndarray], int | None]:
    """A short sequence of frames (at most MAX_SEQUENCE) from one episode, each perhaps perturbed; and the episode's tile."""
    episode = episodes[draw(st.integers(0, len(episodes) - 1))]
    count = len(episode.index)
    length = draw(st.integers(1, min(MAX_SEQUENCE, count)))
    if draw(st.booleans()):
        start = draw(st.integers(0, count - length))
        indices = list(range(start, start + length))
    else:
        indices = draw(st.lists(st.integers(0, count - 1), min_size=length, max_size=length))
    frames = []
    for index in indices:
        frame = episode.frame(index).copy()
        kind = draw(st.sampled_from(("none", "noise", "paint")))
        if kind == "noise":
            amplitude = draw(st.integers(1, 40))
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            noise = rng.integers(-amplitude, amplitude + 1, size=frame.shape)
            frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        elif kind == "paint":
            h, w = frame.shape[:2]
            y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
            y1, x1 = draw(st.integers(y0, h - 1)), draw(st.integers(x0, w - 1))
            frame[y0 : y1 + 1, x0 : x1 + 1] = draw(st.sampled_from(palette))
        frames.append(frame)
    return frames, episode.tile


def _run(machine: Any, frames: list[np.ndarray], tile: int | None) -> tuple[list[float], list[int], list[np.ndarray]]:
    state = machine.new_state(1, tile)[0]
    machine.reset(frames[0], state)
    rewards, events, states = [], [], [state.copy()]
    for frame in frames[1:]:
        reward, event = machine.step(frame, state)
        rewards.append(reward)
        events.append(int(event))
        states.append(state.copy())
    return rewards, events, states


def _properties(program: ir.Program, kernel: Any, interpreter: Interpreter) -> dict[str, Callable[[list[np.ndarray], int | None], None]]:
    low, high = program.bounds

    def matches_interpreter(frames: list[np.ndarray], tile: int | None) -> None:
        k, i = _run(kernel, frames, tile), _run(interpreter, frames, tile)
        if k[1] != i[1] or not np.array_equal(_bits(np.array(k[0])), _bits(np.array(i[0]))):
            raise PropertyFailure(f"kernel rewards/events {k[0]}/{k[1]} differ from the interpreter's {i[0]}/{i[1]}")
        for t, (a, b) in enumerate(zip(k[2], i[2])):
            if not np.array_equal(_bits(a), _bits(b)):
                raise PropertyFailure(f"state after frame {t} differs: kernel {a.tolist()} interpreter {b.tolist()}")

    def reward_in_bounds(frames: list[np.ndarray], tile: int | None) -> None:
        for reward in _run(kernel, frames, tile)[0]:
            if not (np.isfinite(reward) and low <= reward <= high):
                raise PropertyFailure(f"reward {reward} outside the bounds [{low}, {high}]")

    def progress_monotone(frames: list[np.ndarray], tile: int | None) -> None:
        states = _run(kernel, frames, tile)[2]
        done = slice(DONE, DONE + len(program.subtasks))
        for before, after in zip(states, states[1:]):
            if after[PROGRESS] < before[PROGRESS] or after[PROGRESS] > len(program.stages):
                raise PropertyFailure(f"progress went from {before[PROGRESS]} to {after[PROGRESS]}")
            if np.any(after[done] < before[done]):
                raise PropertyFailure("a completed sub-task became undone")

    def reset_restores(frames: list[np.ndarray], tile: int | None) -> None:
        fresh = kernel.new_state(1, tile)[0]
        kernel.reset(frames[0], fresh)
        used = _run(kernel, frames, tile)[2][-1]
        kernel.reset(frames[0], used)
        if not np.array_equal(_bits(fresh), _bits(used)):
            raise PropertyFailure(f"reset after play gave {used.tolist()}, a fresh reset {fresh.tolist()}")

    def deterministic(frames: list[np.ndarray], tile: int | None) -> None:
        a, b = _run(kernel, frames, tile), _run(kernel, frames, tile)
        if a[:2] != b[:2] or any(not np.array_equal(_bits(x), _bits(y)) for x, y in zip(a[2], b[2])):
            raise PropertyFailure("two runs on the same frames differ")

    return {f.__name__: f for f in (matches_interpreter, reward_in_bounds, progress_monotone, reset_restores, deterministic)}


Case = tuple[list[np.ndarray], int | None]


def _falsify(prop: Callable[[list[np.ndarray], int | None], None], strategy: st.SearchStrategy[Case], examples: int) -> tuple[Case, PropertyFailure] | None:
    """Search for a case that breaks the property; the shrunk one (hypothesis replays it last)."""
    last: list[Case] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case: Case) -> None:
        last[:] = [case]
        prop(*case)

    try:
        run()
    except PropertyFailure as failure:
        return last[0], failure
    return None


def _every(props: list[Callable[[list[np.ndarray], int | None], None]]) -> Callable[[list[np.ndarray], int | None], None]:
    def every_property(frames: list[np.ndarray], tile: int | None) -> None:
        for prop in props:
            prop(frames, tile)

    return every_property


def interpreter_examples(examples: int) -> int:
    """Examples the interpreter (about 1000x slower than the kernel) is compared on: a quarter."""
    return max(1, examples // INTERPRETER_SHARE)


def check_properties(
    program: ir.Program, kernel: Any, interpreter: Interpreter, episodes: Sequence[PackedEpisode], examples: int, counterexample_dir: Path,
) -> list[Any]:
    """Run the properties on a bounded sample; return one PropertyResult each. One search of
    `examples` examples checks the four kernel-only properties on each; ``matches_interpreter`` gets
    a search of ``interpreter_examples(examples)``. Only when a search finds a failure does each of
    its properties get a search of its own, shrunk to a counterexample saved to disk."""
    props = _properties(program, kernel, interpreter)
    if not episodes:
        return [PropertyResult(name, False, 0, detail="no episodes to draw frames from") for name in props]
    strategy = frame_sequences(episodes, _palette(program))
    counts = {name: interpreter_examples(examples) if name == "matches_interpreter" else examples for name in props}
    results: dict[str, PropertyResult] = {}
    for count in sorted(set(counts.values())):
        names = [name for name in props if counts[name] == count]
        if _falsify(_every([props[name] for name in names]), strategy, count) is None:
            results.update((name, PropertyResult(name, True, count)) for name in names)
        else:
            results.update((name, _search(name, props[name], strategy, count, counterexample_dir)) for name in names)
    return [results[name] for name in props]


def _search(name: str, prop: Callable[[list[np.ndarray], int | None], None], strategy: st.SearchStrategy[Case], examples: int,
            counterexample_dir: Path) -> PropertyResult:
    """One property's own search; a failure's shrunk frames go to ``<dir>/<name>.npz``."""
    found = _falsify(prop, strategy, examples)
    if found is None:
        return PropertyResult(name, True, examples)
    (frames, tile), failure = found
    counterexample_dir.mkdir(parents=True, exist_ok=True)
    path = counterexample_dir / f"{name}.npz"
    with atomic_output(path) as handle:
        np.savez_compressed(handle, frames=np.stack(frames), tile=np.array(-1 if tile is None else tile))
    return PropertyResult(name, False, examples, str(path), str(failure))
