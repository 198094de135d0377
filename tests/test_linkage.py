"""The kernel library and the links to a program's own functions (carc.backend.library, linkage)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numba import njit

from carc.api import check_text
from carc.backend import header, linkage
from carc.backend.codegen import generate
from carc.backend.kernel import compile_program, library_stem, load_library
from carc.backend.srccheck import GeneratedSourceError, check_generated_source
from carc.backend.template import LIBRARY_ENTRIES, library_constants
from carc.ir.layout import StateLayout

# numba's intrinsics, as njit code calls them (numba passes their typing context itself)
program_link: Any = linkage._program_link
classify_link: Any = linkage._classify_link
as_words: Any = linkage._as_words
PROGRAM = 'program p "d" observe rgb color red = rgb(255, 0, 0) tol 10 subtask s "red" bonus 1 : exists(pixels(red))'
OTHER = PROGRAM.replace("bonus 1", "bonus 2")


def _head(source: str) -> list[int]:
    line = next(line for line in source.splitlines() if line.startswith("_HEAD = np.array(("))
    return [int(v) for v in line.split("((", 1)[1].split(")", 1)[0].split(",") if v.strip()]


def test_a_programs_module_calls_only_its_librarys_entry_points() -> None:
    source = generate(check_text(PROGRAM), standalone=False)
    check_generated_source(source, provided=LIBRARY_ENTRIES)
    with pytest.raises(GeneratedSourceError, match="call of '_one' is not allowed"):
        check_generated_source(source)
    assert "def _one(" not in source and "def _one(" in generate(check_text(PROGRAM))


def test_the_header_table_describes_the_program() -> None:
    program = check_text(PROGRAM)
    head = _head(generate(program, standalone=False))
    assert head[header.HEAD_WORDS] == len(head)
    assert head[header.HEAD_NSTATE] == StateLayout.of(program).size and head[header.HEAD_NSUB] == 1
    assert head[header.HEAD_NSTAGE] == 1 and head[header.HEAD_SHAPING] == 0
    assert np.array(head[header.HEAD_HIGH], np.int64).view(np.float64) == 1.0  # the reward bounds, by their bits
    at = head[header.HEAD_STEP_PASS]
    assert head[at + header.PASS_CLASSIFY] == header.LINK_CLASSIFY_STEP and head[at + header.PASS_PIX] == 1
    assert head[header.HEAD_RESET_PASS] == 0  # reset reads no colour
    assert {line.split(" = ")[0] for line in library_constants()} >= set(header.HEAD_NAMES)


def test_programs_share_one_library(tmp_path: object) -> None:
    first, second = compile_program(check_text(PROGRAM)), compile_program(check_text(OTHER))
    assert first.module is not second.module and first.module._one is second.module._one
    assert load_library(first.path.parent) is load_library(second.path.parent)
    assert (first.path.parent / f"{library_stem()}.py").is_file()
    frame = np.zeros((4, 5, 3), np.uint8)
    frame[1, 2] = (255, 0, 0)
    for kernel, bonus in ((first, 1.0), (second, 2.0)):
        state = kernel.new_state(1)
        kernel.reset(frame, state[0])
        assert kernel.step(frame, state[0]) == (bonus, 0)


def test_an_address_must_come_from_exactly_the_agreed_signature() -> None:
    @njit("int64(int64, float64[::1], int64[::1], float64[:], int64, int64, float64[::1])")
    def program(mode, fw, iw, state, H, W, ow):  # type: ignore[no-untyped-def]
        return 0

    assert linkage.native_address(program, header.PROGRAM_SIGNATURE) > 0
    with pytest.raises(ValueError, match="not compiled for exactly"):
        linkage.native_address(program, header.CLASSIFY_SIGNATURE)


def test_an_error_in_a_linked_function_propagates_like_a_direct_call() -> None:
    """A bounds-checked program function that indexes out of range raises IndexError through the link
    (what the audit's bounds-checked kernels rely on)."""

    @njit(header.PROGRAM_SIGNATURE, boundscheck=True)
    def program(mode, fw, iw, state, H, W, ow):  # type: ignore[no-untyped-def]
        ow[mode] = fw[0]
        return 7

    @njit
    def call(link, mode, fw, iw, state, ow):  # type: ignore[no-untyped-def]
        return program_link(link, mode, fw, iw, state, 0, 0, ow)

    address = linkage.native_address(program, header.PROGRAM_SIGNATURE)
    fw, iw, state, ow = np.ones(1), np.zeros(1, np.int64), np.zeros(3), np.zeros(2)
    assert call(address, 1, fw, iw, state, ow) == 7 and ow[1] == 1.0
    with pytest.raises(IndexError):
        call(address, 5, fw, iw, state, ow)


def test_a_link_refuses_arguments_of_other_types_when_compiled() -> None:
    from numba.core.errors import TypingError

    @njit
    def call(link, f, mk, same):  # type: ignore[no-untyped-def]
        return classify_link(link, f, mk, same, 1, 1, 1)

    with pytest.raises(TypingError):
        call(1, np.zeros(3, np.float64), np.zeros(1, np.uint8), np.zeros(1, np.int64))  # a float frame: no


def test_the_scratch_words_share_the_buffers_memory() -> None:
    @njit
    def words(sc):  # type: ignore[no-untyped-def]
        si, sf = as_words(sc)
        si[1] = 7
        sf[2] = 0.5
        return si.shape[0], sf.shape[0], si[0]

    sc = np.zeros(32, np.uint8)
    sc[0:8] = np.array([3], np.int64).view(np.uint8)
    assert words(sc) == (4, 4, 3)
    assert sc.view(np.int64)[1] == 7 and sc.view(np.float64)[2] == 0.5
