"""Where a kernel's time goes, every MiniGrid example on its own env's frames:

    python scripts/measure_kernel_parts.py [--passes 20] [--tiles 8 32] [--programs unlock keycorridor]

Over the frames of scripts/measure_kernel_floor.py, stepped by the kernel: what its perception
meets in a frame (blocks of repeated rows; the value changes along their rows, with every colour
and without each object colour, so what that colour alone adds; the changes the scan visits, which
leaves out the object colours that repeat the block above; each object colour's spans and
objects), and the time of each part inside numba loops over the frames (no call from Python): the
program's step classifier, the runtime's mask scan (over the masks and repeated-row marks the kernel
left) and its connected components (scan and components, less the scan); then the whole step from
Python, as measure_kernel_floor.py times it. "Rest" is the step less the three parts: the call from
Python, the predicates and the stage logic. Minimum over passes. Prints a Markdown table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from measure_kernel_floor import ENV_OF, FRAMES, arguments, kernel_of
from numba import njit
from numba.typed import List

from carc.backend import header
from carc.backend.cache import cache_root
from carc.backend.kernel import Kernel, load_library
from carc.backend.perception import MAX_COLORS, SPAN_CURSORS
from carc.backend.runtime import _components, _scan
from carc.perf.bench import fresh_state, minigrid_frames, time_steps


@njit(_nrt=False)
def _classify_loop(classify: Any, frames: np.ndarray, mk: np.ndarray, same: np.ndarray, wr: int) -> int:
    total = 0
    for i in range(frames.shape[0]):
        frame = frames[i]
        h, w = frame.shape[0], frame.shape[1]
        total += classify(frame.reshape(h * w * 3), mk, same, h, w, wr)
    return total


@njit
def _scan_loop(masks: Any, marks: Any, h: int, wr: int, pix: int, pix_at: np.ndarray, obj: int, obj_at: np.ndarray,
               count_at: np.ndarray, span_at: np.ndarray, iw: np.ndarray, ib: int, cap: int, fw: np.ndarray, components: bool) -> None:
    for i in range(len(masks)):
        _scan(masks[i], marks[i], h, wr, pix, pix_at, obj, span_at, iw, ib, cap, fw)
        if components:
            _components(iw, obj, obj_at, count_at, span_at, ib, cap, iw[iw.shape[0] - cap:], fw)


def _best_us(fn: Callable[[], object], passes: int, frames: int) -> float:
    """Minimum over passes of fn's time, in us per frame (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - started)
    return best / frames / 1e3


def _block_rows(mask: np.ndarray, same: np.ndarray) -> np.ndarray:
    """The first row of each block of equal mask rows (a row the classifier marked is the row above)."""
    rows = mask.astype(np.int64)
    for y in range(1, rows.shape[0]):
        if same[y] == 1:
            rows[y] = rows[y - 1]
    starts = [y for y in range(rows.shape[0]) if y == 0 or not np.array_equal(rows[y], rows[y - 1])]
    return rows[starts]


def _changes(rows: np.ndarray) -> int:
    """Value changes along the rows of a mask, a run's end at a row's end included."""
    return int(np.count_nonzero(np.diff(np.pad(rows, ((0, 0), (1, 1))), axis=1)))


def _scanned(rows: np.ndarray, pix: int, obj: int) -> int:
    """The value changes the runtime's scan visits: in each block, an object colour with no pixel
    statistics whose bits repeat the block above's is masked out (its spans grow down instead)."""
    total, changed = 0, -1
    for k in range(rows.shape[0]):
        keep = changed | pix | ~obj
        total += _changes(rows[k:k + 1] & keep)
        changed = int(np.bitwise_or.reduce(rows[k] ^ rows[k + 1])) if k + 1 < rows.shape[0] else 0
    return total


@dataclass(frozen=True)
class _Pass:
    """The kernel's step perception pass, read from its header table, and where its scratch lies for a frame size."""

    pix: int
    obj: int
    pix_at: np.ndarray
    obj_at: np.ndarray
    count_at: np.ndarray
    span_at: np.ndarray
    wr: int  # mask row length
    cap: int  # words of a run table
    i0: int  # where the int scratch starts (words)
    m0: int  # where the mask starts and the buffer ends (bytes)
    end: int
    ib: int  # where the run tables start in the int scratch
    marks: int  # where the repeated-row marks start in the int scratch
    float_slots: int
    dtype: type

    @property
    def colors(self) -> list[int]:
        return [c for c in range(MAX_COLORS) if (self.obj >> c) & 1]


def _pass_of(kernel: Kernel, h: int, w: int) -> _Pass:
    head = kernel.module._HEAD
    at = int(head[header.HEAD_STEP_PASS])
    pix_at, obj_at, count_at, span_at = (head[at + header.PASS_PIX_AT + k * MAX_COLORS:at + header.PASS_PIX_AT + (k + 1) * MAX_COLORS]
                                         for k in range(4))
    # the library's own layout, run as plain Python
    wr, cap, _, f0, i0, m0, end = (int(v) for v in load_library(cache_root())._layout.py_func(head, h, w))
    ib = int(head[header.HEAD_INT_BASE])
    return _Pass(pix=int(head[at + header.PASS_PIX]), obj=int(head[at + header.PASS_OBJ]), pix_at=pix_at, obj_at=obj_at,
                 count_at=count_at, span_at=span_at, wr=wr, cap=cap, i0=i0, m0=m0, end=end, ib=ib,
                 marks=ib + int(head[header.HEAD_RUN_TABLES]) * cap, float_slots=i0 - f0,
                 dtype=np.uint8 if int(head[header.HEAD_MASK_BYTES]) == 1 else np.uint16)


def measure(name: str, tile: int, passes: int) -> dict[str, Any]:
    """Counts (per frame) and times (us per frame) of one example at one tile."""
    kernel = kernel_of(name)
    frames = np.stack(minigrid_frames(ENV_OF[name], tile, FRAMES, 0))
    h, w = frames.shape[1:3]
    new_state = fresh_state(kernel.new_state, tile)
    state = new_state()
    kernel.reset(frames[0], state)
    p = _pass_of(kernel, h, w)
    sc = kernel.module._SC
    iw = sc.view(np.int64)[p.i0:p.m0 // 8]
    counts: dict[str, float] = {}
    masks, marks = List(), List()
    for frame in frames:
        kernel.step(frame, state)
        mask, same = sc[p.m0:p.end].view(p.dtype), iw[p.marks:p.marks + h]
        masks.append(mask.copy())
        marks.append(same.copy())
        rows = _block_rows(mask.reshape(h, p.wr), same)
        seen = {"blocks": len(rows), "changes": _changes(rows), "scanned": _scanned(rows, p.pix, p.obj)}
        for c in p.colors:
            seen[f"without {c}"] = _changes(rows & ~(1 << c))
            seen[f"spans {c}"] = int(iw[SPAN_CURSORS + 3 * c])
            seen[f"objects {c}"] = int(iw[int(p.count_at[c])])
        for key, value in seen.items():
            counts[key] = counts.get(key, 0.0) + value / len(frames)
    mk, same = np.zeros(h * p.wr * np.dtype(p.dtype).itemsize, np.uint8), np.zeros(h, np.int64)
    work, fw = np.zeros(p.marks, np.int64), np.zeros(p.float_slots, np.float64)
    scan = [_best_us(lambda parts=parts: _scan_loop(masks, marks, h, p.wr, p.pix, p.pix_at, p.obj, p.obj_at, p.count_at, p.span_at,
                                                    work, p.ib, p.cap, fw, parts), passes, len(frames)) for parts in (False, True)]
    classify = kernel.module._classify_step_rows
    us = {
        "classify": _best_us(lambda: _classify_loop(classify, frames, mk, same, p.wr), passes, len(frames)),
        "scan": scan[0],
        "components": scan[1] - scan[0],
        "step": min(time_steps(kernel.reset, kernel.step, new_state, list(frames), 1) for _ in range(passes)) / 1e3,
    }
    names = {c: kernel.program.colors[c].name for c in p.colors}
    return {"us": us, "counts": counts, "names": names, "size": f"{w}x{h}"}


def row(name: str, tile: int, m: dict[str, Any]) -> str:
    """One Markdown table row of a measure() result."""
    us, counts, names = m["us"], m["counts"], m["names"]
    rest = us["step"] - us["classify"] - us["scan"] - us["components"]
    without = ", ".join(f"{n} {counts[f'without {c}']:.0f}" for c, n in names.items())
    spans = ", ".join(f"{n} {counts[f'spans {c}']:.0f} / {counts[f'objects {c}']:.1f}" for c, n in names.items())
    return (f"| {name} | {tile} | {m['size']} | {us['classify']:.2f} | {us['scan']:.2f} | {us['components']:.2f} | {rest:.2f} | "
            f"{us['step']:.2f} | {counts['blocks']:.0f} | {counts['changes']:.0f} ({without}) | {counts['scanned']:.0f} | {spans} |")


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, __doc__, 20)
    print("| program | tile | frame | classify us | scan us | components us | rest us | step us | blocks | "
          "value changes (without each object colour) | changes scanned | spans / objects, each object colour |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.programs:
        for tile in args.tiles:
            print(row(name, tile, measure(name, tile, args.passes)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
