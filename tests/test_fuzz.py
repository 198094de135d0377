"""Fuzzing the audit with hypothesis: modest example counts here; scripts/fuzz.py runs thousands.

- Any text (random bytes, random Unicode, soups of carc tokens, mutated programs) gives a
  certificate, never an exception, and every diagnostic has a known code and a FILE:LINE:COL.
- Random well-typed programs (tests/strategies.py) print and parse back to the same AST, audit
  safe, and on random frames give finite rewards inside the certified bounds, node values inside
  their intervals, and a measured cost inside the certified bound; a sample is compiled with numba
  and equals the interpreter.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import well_typed_units

from carc.api import check_text
from carc.audit.certificate import audit_source
from carc.interpreter import Interpreter
from carc.ir.intervals import node_intervals, reward_interval

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("carc_fuzz", ROOT / "scripts" / "fuzz.py")
fuzz = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fuzz)  # type: ignore[union-attr]

SEEDS = tuple(fuzz._seed_texts())
FAST = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
PROGRAMS = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    fuzz.check_text_input(data)


@FAST
@given(st.text(max_size=300))
def test_random_unicode(text: str) -> None:
    fuzz.check_text_input(text)


@FAST
@given(fuzz.token_soups())
def test_token_soups(text: str) -> None:
    fuzz.check_text_input(text)


@FAST
@given(fuzz.mutated_texts(SEEDS))
def test_mutated_programs(data: bytes) -> None:
    fuzz.check_text_input(data)


@PROGRAMS
@given(well_typed_units(), st.integers(0, 2**32 - 1))
def test_well_typed_programs(unit: object, frame_seed: int) -> None:
    assert fuzz.check_program(unit, frame_seed) in ("safe", "safe, interval-unsound", "refused-E703")


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(unit=well_typed_units(max_depth=3), frame_seed=st.integers(0, 2**32 - 1))
def test_well_typed_programs_compiled(unit: object, frame_seed: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A small sample through numba (a compile takes seconds); scripts/fuzz.py compiles every 100th."""
    fuzz.check_program(unit, frame_seed, kernel=True, cache_dir=tmp_path_factory.mktemp("kernels"))


@pytest.mark.parametrize("broken", ["intervals", "cost"])
def test_the_oracle_is_not_vacuous(broken: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a wrong interval analysis or cost bound, check_program must fail."""
    if broken == "intervals":
        monkeypatch.setattr(fuzz, "node_intervals", lambda program: [[(0.5, 0.5)] * 7 for _ in program.nodes])
    else:
        monkeypatch.setattr(fuzz, "cost_bound", lambda program, shape: {"value": 0})
    unit = fuzz.parse_text('program p "d" observe rgb use minigrid subtask s "s" bonus 1 : exists(agent)', "<test>")
    with pytest.raises(fuzz.FuzzFailure):
        fuzz.check_program(unit, frame_seed=0, strict_intervals=True)


# ---- regressions: unsoundness the fuzzer found ---------------------------------------------------


def test_interval_of_a_wide_box_is_sound() -> None:
    program = check_text('program p "d" observe rgb subtask s "s" bonus 1 : true shaping gamma 1 : width(box(0, 0, 1e9, 0))')
    value = Interpreter(program).evaluate(np.zeros((2, 2, 3), np.uint8), Interpreter(program).new_state(1)[0])[-1]
    low, high = node_intervals(program)[-1][0]
    assert low <= value <= high


def test_saturated_geometry_never_gives_nan() -> None:
    text = (ROOT / "tests" / "corpus" / "unbounded_arithmetic" / "aspect_chain_to_infinity.car").read_bytes()
    assert audit_source(text, "chain.car", compile_check=False).verdict == "safe"
    program = check_text(text)
    interpreter = Interpreter(program)
    state = interpreter.new_state(1)
    frame = np.zeros((8, 8, 3), np.uint8)
    interpreter.reset(frame, state[0])
    reward, _ = interpreter.step(frame, state[0])
    assert math.isfinite(reward) and reward_interval(program)[0] <= reward


@pytest.mark.slow
def test_long_fuzz_run() -> None:
    """`python scripts/fuzz.py --programs 2000 --texts 2000 --seed 1` (minutes)."""
    summary = fuzz.run(2000, 2000, seed=1, kernel_every=200)
    assert summary["failures"] == [], fuzz.format_summary(summary, 200)
