"""Issue 10, family 8: the library API says what it expected, with a TypeError at its boundary."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from carc.api import check_file, check_text, compile_text, read_program

PROGRAM = 'program p "api"\nobserve rgb\nsubtask s "s" bonus 1 : true\n'


@pytest.mark.parametrize("value", [None, memoryview(PROGRAM.encode()), 42, 4.2, ["program"], {"text": PROGRAM}, Path("p.car")])
def test_check_text_wants_str_or_bytes(value: object) -> None:
    with pytest.raises(TypeError, match=f"check_text expects the program text as str or bytes, not {type(value).__name__}"):
        check_text(value)  # type: ignore[arg-type]


def test_check_text_accepts_str_bytes_and_bytearray() -> None:
    names = {check_text(text).name for text in (PROGRAM, PROGRAM.encode(), bytearray(PROGRAM.encode()))}
    assert names == {"p"}


@pytest.mark.parametrize("name", [None, 3, b"p.car", Path("p.car")])
def test_check_text_wants_a_str_name(name: object) -> None:
    with pytest.raises(TypeError, match="check_text expects name as a str"):
        check_text(PROGRAM, name)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", [None, 3, b"p.car", 1.5])
def test_file_functions_want_a_path(path: object) -> None:
    for function in (read_program, check_file):
        with pytest.raises(TypeError, match="expects a path as a str or os.PathLike"):
            function(path)  # type: ignore[arg-type]


def test_compile_text_wants_a_path_for_its_cache() -> None:
    with pytest.raises(TypeError, match="compile_text expects a path"):
        compile_text(PROGRAM, cache_dir=123)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> object:
    cache = os.environ.get("CARC_CACHE_DIR") or str(tmp_path_factory.mktemp("cache"))
    return compile_text(PROGRAM, cache_dir=Path(cache)).kernel


@pytest.fixture(scope="module", params=["kernel", "interpreter"])
def machine(request: pytest.FixtureRequest, kernel: object) -> object:
    """Both reward machines share the boundary checks (carc.core.args)."""
    from carc.interpreter import Interpreter

    return kernel if request.param == "kernel" else Interpreter(check_text(PROGRAM))


@pytest.mark.parametrize("args,error,message", [
    ((1, "8"), TypeError, "new_state expects tile as a number of pixels or None, not str"),
    (("1",), TypeError, "new_state expects n as an int"),
    ((1.0,), TypeError, "new_state expects n as an int"),
    ((True,), TypeError, "new_state expects n as an int"),
    ((1, True), TypeError, "not bool"),
    ((1, [8]), TypeError, "not list"),
    ((-1,), ValueError, "new_state expects n from 0"),
    ((1, 0), ValueError, "tile from 1 to 256"),
    ((1, 257), ValueError, "tile from 1 to 256"),
    ((1, float("nan")), ValueError, "tile from 1 to 256"),
    ((1, float("inf")), ValueError, "tile from 1 to 256"),
])
def test_new_state_says_what_it_expected(machine: object, args: tuple, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        machine.new_state(*args)  # type: ignore[attr-defined]


def test_new_state_accepts_numpy_numbers(machine: object) -> None:
    state = machine.new_state(np.int64(2), np.float32(8.0))  # type: ignore[attr-defined]
    assert state.shape[0] == 2 and state.dtype == np.float64 and state[0, 2] == 8.0
    assert machine.new_state().shape == (1, state.shape[1])  # type: ignore[attr-defined]


def test_step_on_a_non_frame_is_a_clear_error(kernel: object) -> None:
    state = kernel.new_state(1)[0]  # type: ignore[attr-defined]
    for frame in (None, "frame", np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float64)):
        with pytest.raises(ValueError, match=r"uint8 arrays of shape \(H, W, 3\)"):
            kernel.step(frame, state)  # type: ignore[attr-defined]
