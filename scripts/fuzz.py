"""Fuzz the safety audit: random well-typed programs and random or mutated texts.

    python scripts/fuzz.py --programs 10000 --texts 10000 --seed 0

Programs (tests/strategies.py, `well_typed_units`): each must print and parse back to the same AST,
audit "safe" (or be refused with E703 when the auditor cannot bound its arithmetic), and on random
frames (degenerate sizes included, painted with the program's own colours) give finite rewards
inside the certified clamp, an unclamped reward inside the derived interval, and a measured cost
inside the certified bound. Every --kernel-every'th program is also compiled with numba and must
equal the interpreter bit for bit (numba compiles take ~0.2 s each, so only a sample).

Texts: random bytes, random Unicode, soups of carc tokens, and mutations (byte flips, deletions,
insertions, splices, truncations) of the examples and of generated programs. Each must give a
certificate (never an exception), every diagnostic with a known code and a FILE:LINE:COL.

The summary prints counts and every failure (with the text that caused it, shortened). Exit 1 if
anything failed. tests/test_fuzz.py runs the same checks with a few hundred examples.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from carc import ir  # noqa: E402
from carc.analysis.cost import cost_bound, measured_cost  # noqa: E402
from carc.api import check_text  # noqa: E402
from carc.audit.certificate import audit_source  # noqa: E402
from carc.core.codes import CODES  # noqa: E402
from carc.interpreter import Interpreter  # noqa: E402
from carc.ir.intervals import node_intervals  # noqa: E402
from carc.lang.parser import parse_text  # noqa: E402
from carc.lang.printer import print_unit  # noqa: E402

KNOWN_CODES = set(CODES)
FRAME_SIZES = ((0, 6), (6, 0), (1, 1), (5, 7), (16, 16), (24, 40), (40, 40))


class FuzzFailure(AssertionError):
    """One fuzz case broke a promise; the message says which and how."""


# ---- frames ----------------------------------------------------------------------------------------


def random_frames(program: ir.Program, rng: np.random.Generator, count: int = 4) -> list[np.ndarray]:
    """Frames of one size (a degenerate one sometimes), painted with rectangles of the program's shades."""
    h, w = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    shades = [s for c in program.colors for s in c.shades] or [(255, 0, 0)]
    frames = []
    for _ in range(count):
        frame = np.zeros((h, w, 3), dtype=np.uint8)
        if rng.random() < 0.2 and frame.size:
            frame[:] = rng.integers(0, 256, frame.shape, dtype=np.uint8)
        for _ in range(int(rng.integers(0, 6))):
            if h and w:
                y0, x0 = int(rng.integers(h)), int(rng.integers(w))
                y1, x1 = y0 + int(rng.integers(1, max(2, h // 2))), x0 + int(rng.integers(1, max(2, w // 2)))
                frame[y0:y1, x0:x1] = shades[int(rng.integers(len(shades)))]
        frames.append(frame)
    return frames


# ---- one program -----------------------------------------------------------------------------------


def check_program(unit: Any, frame_seed: int, kernel: bool = False, cache_dir: Path | None = None,
                  strict_intervals: bool = False) -> str:
    """All promises for one well-typed program; raises FuzzFailure when one breaks.

    Returns "safe", "refused-E703" (the auditor cannot bound the program's arithmetic), or
    "safe, interval-unsound": a node value (or the unclamped reward) outside carc/intervals.py's
    interval, a known bug (width/height/aspect of boxes built from numbers) counted apart unless
    `strict_intervals`; the other promises are still checked for such programs.
    """
    text = print_unit(unit)
    if parse_text(text, "<fuzz>") != unit:
        raise FuzzFailure("printed program does not parse back to the same AST")
    certificate = audit_source(text, "<fuzz>", frame_shape=(16, 16), compile_check=False)
    codes = [d["code"] for d in certificate.diagnostics]
    if certificate.verdict != "safe":
        if codes == ["E703"]:
            return "refused-E703"
        raise FuzzFailure(f"well-typed program rejected: {codes}: {certificate.diagnostics[0]['message'][:200]}")
    program = check_text(text, "<fuzz>")
    low, high = certificate.reward_bounds["clamp"]
    derived_low, derived_high = certificate.reward_bounds["derived"]
    frames = random_frames(program, np.random.default_rng(frame_seed))
    interpreter = Interpreter(program)
    unclamped = Interpreter(dataclasses.replace(program, bounds=(-math.inf, math.inf)))
    state, raw_state = interpreter.new_state(1), unclamped.new_state(1)
    interpreter.reset(frames[0], state[0])
    unclamped.reset(frames[0], raw_state[0])
    bound = cost_bound(program, frames[0].shape[:2])["value"]
    intervals = node_intervals(program)
    outputs, unsound = [], []
    for frame in frames[1:]:
        unsound += _interval_violations(program, intervals, interpreter.evaluate(frame, state[0]))
        cost = measured_cost(program, frame, state[0])
        if cost > bound:
            raise FuzzFailure(f"measured cost {cost} > certified bound {bound} on a {frame.shape[:2]} frame")
        reward, event = interpreter.step(frame, state[0])
        raw, _ = unclamped.step(frame, raw_state[0])
        outputs.append((reward, event))
        if not (math.isfinite(reward) and low <= reward <= high):
            raise FuzzFailure(f"reward {reward!r} outside the certified clamp [{low}, {high}]")
        slack = 1e-9 * max(1.0, abs(derived_low), abs(derived_high))
        if not math.isfinite(raw):
            raise FuzzFailure(f"unclamped reward {raw!r} is not finite")
        if not derived_low - slack <= raw <= derived_high + slack:
            unsound.append(f"unclamped reward {raw!r} outside the derived interval [{derived_low}, {derived_high}]")
    if kernel:
        from carc.backend.kernel import compile_program

        compiled = compile_program(program, cache_dir=cache_dir)
        kstate = compiled.new_state(1)
        compiled.reset(frames[0], kstate[0])
        got = [tuple(compiled.step(frame, kstate[0])) for frame in frames[1:]]
        if [(float(r), int(e)) for r, e in got] != [(float(r), int(e)) for r, e in outputs]:
            raise FuzzFailure(f"kernel {got} != interpreter {outputs}")
    if unsound and strict_intervals:
        raise FuzzFailure(f"interval unsound: {unsound[0]}")
    return "safe, interval-unsound" if unsound else "safe"


def _interval_violations(program: ir.Program, intervals: list, values: list) -> list[str]:
    """Scalar components of nodes outside their intervals (empty when carc/intervals.py is sound)."""
    found = []
    for i, (value, bounds) in enumerate(zip(values, intervals)):
        for component, (lo, hi) in zip(value if isinstance(value, tuple) else (value,), bounds):
            slack = 1e-9 * max(1.0, abs(lo), abs(hi))
            if not lo - slack <= float(component) <= hi + slack:
                found.append(f"n{i} {program.nodes[i].op} = {float(component)!r} outside [{lo}, {hi}]")
    return found


# ---- one text --------------------------------------------------------------------------------------


def check_text_input(data: bytes | str) -> str:
    """Promises for any input text: a certificate, never an exception; known codes with locations."""
    certificate = audit_source(data, "fuzz.car", compile_check=False)
    for diagnostic in (*certificate.diagnostics, *certificate.lints):
        if diagnostic["code"] not in KNOWN_CODES or diagnostic["code"] == "E799":
            raise FuzzFailure(f"diagnostic code {diagnostic['code']}: {diagnostic['message'][:300]}")
        if not diagnostic["rendered"].startswith(f"fuzz.car:{diagnostic['line']}:{diagnostic['column']}: "):
            raise FuzzFailure(f"diagnostic without FILE:LINE:COL: {diagnostic['rendered'][:200]!r}")
    return certificate.verdict


_TOKENS = (
    "program", "module", "observe", "rgb", "tile", "use", "minigrid", "color", "tol", "let", "def", "subtask", "bonus",
    "group", "shaping", "gamma", "reward", "in", "if", "then", "else", "and", "or", "not", "true", "false",
    "agent", "goal", "red", "yellow", "objects", "largest", "pixels", "exists", "area", "x", "center", "start", "box",
    "point", "aspect", "width", "near", "on", "key_of", "cells", "__import__", "eval", "os",
    "(", ")", ",", ":", "=", "==", "<", ">=", "+", "-", "*", "/", "{", "}", "[", "]", "|", "->", ".", ";",
    "0", "1", "0.5", "1e9", "1e-9", "1e300", "255", '"d"', '"', "#", "\n", " ", "\t", "\u202e", "\u0430", "\x00",
)


def token_soups() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(_TOKENS), max_size=60).map(" ".join)


def _seed_texts() -> list[bytes]:
    texts = [p.read_bytes() for p in sorted((ROOT / "examples").rglob("*.car"))]
    texts += [p.read_bytes() for p in sorted((ROOT / "tests" / "corpus").glob("*/*.car")) if p.stat().st_size < 4096]
    return texts


@st.composite
def mutated_texts(draw: Any, seeds: tuple[bytes, ...]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("flip", "delete", "insert", "token", "splice", "truncate")))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 20))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(_TOKENS)).encode("utf-8")
        elif kind == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start:start + draw(st.integers(1, 80))]
        else:
            del data[at:]
    return bytes(data)


def texts(seeds: tuple[bytes, ...]) -> st.SearchStrategy[bytes | str]:
    return st.one_of(
        st.binary(max_size=400),
        st.text(max_size=300),
        token_soups(),
        mutated_texts(seeds),
        mutated_texts(seeds),
    )


# ---- the run ---------------------------------------------------------------------------------------


def _settings(count: int) -> settings:
    return settings(max_examples=max(1, count), deadline=None, database=None, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck))


def _short(data: Any, limit: int = 160) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + "..."


def run(programs: int, n_texts: int, seed: int, kernel_every: int, verbose: bool = False,
        strict_intervals: bool = False) -> dict[str, Any]:
    from strategies import well_typed_units

    summary: dict[str, Any] = {"seed": seed, "programs": Counter(), "texts": Counter(), "failures": [], "kernel_checked": 0,
                               "unsound_examples": []}
    cache = Path(tempfile.mkdtemp(prefix="carc-fuzz-kernels-"))
    started = time.perf_counter()

    @hypothesis_seed(seed)
    @_settings(programs)
    @given(well_typed_units(), st.integers(0, 2**32 - 1))
    def program_case(unit: Any, frame_seed: int) -> None:
        index = sum(summary["programs"].values())
        kernel = kernel_every > 0 and index % kernel_every == 0
        try:
            outcome = check_program(unit, frame_seed, kernel=kernel, cache_dir=cache if kernel else None,
                                    strict_intervals=strict_intervals)
            summary["kernel_checked"] += kernel and outcome.startswith("safe")
            if outcome.endswith("interval-unsound") and len(summary["unsound_examples"]) < 3:
                summary["unsound_examples"].append(print_unit(unit))
        except Exception as err:  # noqa: BLE001 - every failure is recorded, the run goes on
            outcome = "FAILED"
            summary["failures"].append({"kind": "program", "error": f"{type(err).__name__}: {err}", "input": print_unit(unit)})
        summary["programs"][outcome] += 1
        if verbose and index % 500 == 0:
            print(f"  programs {index} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    seeds = tuple(_seed_texts())

    @hypothesis_seed(seed + 1)
    @_settings(n_texts)
    @given(texts(seeds))
    def text_case(data: bytes | str) -> None:
        index = sum(summary["texts"].values())
        try:
            outcome = check_text_input(data)
        except Exception as err:  # noqa: BLE001
            outcome = "FAILED"
            summary["failures"].append({"kind": "text", "error": f"{type(err).__name__}: {err}", "input": data})
        summary["texts"][outcome] += 1
        if verbose and index % 2000 == 0:
            print(f"  texts {index} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    try:
        if programs:
            program_case()
        programs_done = time.perf_counter()
        if n_texts:
            text_case()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    summary["seconds"] = {"programs": round(programs_done - started, 1), "texts": round(time.perf_counter() - programs_done, 1)}
    return summary


def format_summary(summary: dict[str, Any], kernel_every: int) -> str:
    programs, texts_ = summary["programs"], summary["texts"]
    lines = [
        f"seed {summary['seed']}",
        f"programs: {sum(programs.values())} generated in {summary['seconds']['programs']} s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(programs.items())),
        f"  compiled with numba and compared with the interpreter: {summary['kernel_checked']} "
        f"(every {kernel_every}th program; the others run on the interpreter only)" if kernel_every else "  kernel: not checked",
        f"texts: {sum(texts_.values())} in {summary['seconds']['texts']} s: " + ", ".join(f"{k} {v}" for k, v in sorted(texts_.items())),
        f"failures: {len(summary['failures'])}",
    ]
    if summary["unsound_examples"]:
        lines.append(f"known issue, not counted as a failure (--strict-intervals does): {programs['safe, interval-unsound']} programs "
                     "had a value outside its carc/intervals.py interval; first example:")
        lines.append("    " + summary["unsound_examples"][0].replace("\n", "\n    "))
    kinds = Counter(f["error"].split(":")[0] + ": " + f["error"].split(":", 2)[1][:70] for f in summary["failures"])
    for kind, count in kinds.most_common():
        lines.append(f"  {count:5d} x {kind}")
    for failure in summary["failures"][:10]:
        lines.append(f"  - {failure['kind']}: {failure['error'][:300]}\n    input: {_short(failure['input'], 400)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=1000, help="well-typed programs to generate")
    parser.add_argument("--texts", type=int, default=1000, help="random and mutated texts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernel-every", type=int, default=100, help="compile every Nth program with numba (0: never)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--strict-intervals", action="store_true", help="count interval unsoundness as a failure")
    args = parser.parse_args(argv)
    summary = run(args.programs, args.texts, args.seed, args.kernel_every, verbose=not args.quiet,
                  strict_intervals=args.strict_intervals)
    print(format_summary(summary, args.kernel_every))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
