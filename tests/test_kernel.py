"""The compiled kernel equals the reference interpreter bit for bit: rewards, events and the whole
state vector after every reset and step, on random frames (sizes from 0x0 up, noise, painted
rectangles in the program's own colours and their tolerance edges, scattered pixels that make many
objects) and on real MiniGrid frames, for the doorkey example and for small programs that together
use every built-in and every IR op. Also: batches, determinism, reset, input checks, the on-disk
cache, the standalone artifact, and the hand-written benchmark kernel.

Hypothesis profiles: ``carc-kernel`` (default, modest) and ``carc-kernel-thorough`` (set
``CARC_KERNEL_PROFILE=carc-kernel-thorough``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carc import ir
from carc.api import check_file, check_text
from carc.backend.kernel import Kernel, cache_directory, compile_program, load_artifact, program_hash, write_artifact
from carc.interpreter import MAX_OBJECTS, Interpreter
from carc.ir.layout import MAX_SIDE
from carc.lang.builtins import BUILTINS

REPO = Path(__file__).resolve().parent.parent
DOORKEY = REPO / "examples" / "minigrid" / "doorkey.car"
EXAMPLES = sorted((REPO / "examples" / "minigrid").glob("*.car"))

settings.register_profile("carc-kernel", max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("carc-kernel-thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile(os.environ.get("CARC_KERNEL_PROFILE", "carc-kernel"))

# ---- programs that together use every built-in and every IR op ---------------------------------

REGIONS = '''
program regions "region measures and relations"
observe rgb tile 4
color red = rgb(255, 0, 0) | rgb(255, 76, 76) tol 30
color green = rgb(0, 255, 0) tol 20
color blue = rgb(0, 0, 255) | rgb(40, 40, 200) tol 50
let r = pixels(red)
let g = pixels(green)
let bl = largest(objects(blue))
let flags = (if exists(r) then 1 else 0) + (if exists(bl) then 2 else 0) + (if left_of(r, g) then 4 else 0)
  + (if right_of(r, g) then 8 else 0) + (if above(r, g) then 16 else 0) + (if below(r, g) then 32 else 0)
  + (if near(r, g, 5) then 64 else 0) + (if inside(r, g) then 128 else 0) + (if contains(g, r) then 256 else 0)
  + (if overlaps(r, bl) then 512 else 0) + (if same_cell(r, g) then 1024 else 0) + (if inside(center(bl), bbox(r)) then 2048 else 0)
group seen "anything seen" {
  subtask s_red "red" bonus 0.5 : exists(r)
  subtask s_blue "blue" bonus 0.25 : exists(bl) and not exists(g)
}
subtask s_left "red left of green" bonus 1 : left_of(r, g) or above(bl, r)
subtask s_keep "uses every latch" bonus 0.125 :
  start(flags) + start(area(r)) + start(fill(r)) + start(width(r)) + start(height(r)) + start(aspect(r))
  + x(start(center(g))) + y(start(center(g))) + width(start(bbox(bl))) + area(start(bl)) + start(distance(r, g))
  + start(manhattan(r, bl)) + x(start(cell(bl))) + y(start(cell(r))) + start(cells(distance(g, bl))) > 1000000
  or start(exists(r)) == start(near(r, bl, 2.5))
shaping gamma 0.9 : flags * 0.001 + area(r) - 0.5 * distance(r, g) + 0.01 * (left(r) + top(bl) - right(g) - bottom(bbox(r)))
'''

ARITH = '''
program arith "arithmetic, totality and constructors"
observe rgb tile 6
color red = rgb(200, 30, 30) tol 60
color white = rgb(255, 255, 255) tol 0
let r = pixels(red)
let a = area(r)
let w = frame_width()
let h = frame_height()
let t = tile()
let q = a / (w - h)
let big = 1000000000 * 1000000000 * (a + 1)
let small = -1000000000 * 1000000000 * (a + 1)
let ng = -(a * 0.37)
let sq = sqrt(a - 5)
let fl = floor(ng / 3)
let cl = clamp(a, 2, 7.5)
let mm = min(a, w) - max(h, t) + abs(ng) + min(w, h) * max(0.5, ng)
let c = cell(r)
let cs = cells(w * 1.7)
let p = point(w / 3, h / 7)
let bx = box(1, 2, w - 3, h / 2)
let pick = if a > 3 then p else center(r)
let pickb = if a == 0 then bx else bbox(r)
let pickr = if w >= h then r else pixels(white)
let bools = (if (a > 2) == (w != h) then 1 else 0) + (if a <= 1 and not (w < h) then 2 else 0)
  + (if a >= 4 or w > 5 or false then 4 else 0) + (if inside(p, bx) then 8 else 0) + (if contains(bx, pickb) then 16 else 0)
  + (if overlaps(pickb, bx) then 32 else 0) + (if same_cell(p, pick) then 64 else 0) + (if near(p, pick, 3.5) then 128 else 0)
  + (if (w > h) != true then 256 else 0) + (if left_of(p, pick) and right_of(pick, p) then 512 else 0)
let s0 = start(a)
subtask first "some red" bonus 0.3 : a > 0
subtask second "keep latches" bonus 0.1 :
  start(q) + start(big) + start(small) + start(ng) + start(sq) + start(fl) + start(cl) + start(mm) + x(start(c)) + y(start(c))
  + start(cs) + x(start(p)) + y(start(p)) + width(start(bx)) + height(start(bx)) + aspect(start(bx)) + x(start(pick)) + y(start(pick))
  + width(start(pickb)) + aspect(start(pickb)) + area(start(pickr)) + fill(start(pickr)) + start(bools) + start(distance(p, pick))
  + start(manhattan(p, pick)) + start(q * q - big / small) + start(sqrt(big)) > 1
  and (start(exists(pickr)) or start(a > 2) == start(w == h))
subtask third "bools" bonus 2 : bools > 100 or s0 < a
shaping gamma 0.99 : q - 0.25 * mm + bools + fl + cs - s0
reward in [-3, 3]
'''

OBJECTS = '''
program objs "objects, filters, many components"
observe rgb tile 5
color blue = rgb(0, 0, 255) | rgb(60, 60, 255) tol 40
color yellow = rgb(255, 255, 0) tol 10
color grey = rgb(128, 128, 128) tol 127
color all = rgb(0, 0, 0) tol 255
let o = objects(blue)
let big = largest(o)
let sm = smallest(o)
let mid = largest(area_between(o, 2, 6))
let sq = smallest(fill_between(o, 0.8, 1))
let tall = largest(aspect_between(area_between(o, 1, 50), 0.2, 0.9))
let wide = smallest(aspect_between(fill_between(o, 0.1, 1), 1.5, 100))
let ny = count(objects(yellow))
let nf = count(fill_between(objects(yellow), 0.5, 1))
let nb = count(o)
let na = count(objects(grey))
let la = largest(objects(grey))
let whole = largest(objects(all))
subtask many "many blue" bonus 0.5 : nb >= 3
group g "any of" {
  subtask y1 "yellow" bonus 0.25 : ny > 0 and nf < ny
  subtask y2 "tall" bonus 0.25 : exists(tall) or exists(wide)
}
subtask keep "latches" bonus 1 :
  area(start(big)) + area(start(sm)) + area(start(mid)) + area(start(sq)) + x(start(tall)) + y(start(wide)) + start(ny)
  + start(nf) + start(nb) + start(na) + fill(start(la)) + area(start(whole)) + start(count(objects(all))) > 1
shaping gamma 0.5 : area(big) + 0.5 * area(sm) + 0.25 * area(mid) + nb + na * 0.001 + area(la) + fill(sq) + aspect(tall)
'''

MANY = '''
program many "more than eight colours (16-bit masks)"
observe rgb tile 8
use minigrid
let counts = area(pixels(red)) + area(pixels(green)) + area(pixels(blue)) + area(pixels(purple)) + area(pixels(yellow))
  + area(pixels(grey)) + area(pixels(red_door_inside)) + area(pixels(green_door_inside)) + area(pixels(blue_door_inside))
  + area(pixels(purple_door_inside)) + area(pixels(yellow_door_inside))
subtask see "many colours" bonus 1 : counts > 50 and exists(key_of(yellow)) or count(objects(grey)) > 3
subtask door "a door" bonus 0.5 : locked(yellow_door_inside) or locked(blue_door_inside)
subtask goal "goal" bonus 1 : on(agent, goal)
shaping gamma 0.99 : -0.01 * cell_distance(agent, goal) + 0.001 * count(objects(purple)) + area(largest(objects(purple_door_inside)))
'''

PLAIN = '''
program plain "no perception, declared bounds"
observe rgb
let w = frame_width()
subtask a "wide" bonus 5 : w > 10
group both "both" {
  subtask b "tall" bonus 2 : frame_height() > 10
  subtask c "small tile" bonus 0.5 : tile() < 8
}
subtask d "never" bonus 1 : false
reward in [-1, 4]
'''

PROGRAMS = {"regions": REGIONS, "arith": ARITH, "objects": OBJECTS, "many": MANY, "plain": PLAIN}
ALL_NAMES = [*PROGRAMS, *(f"example:{p.stem}" for p in EXAMPLES)]
IR_OPS = {
    "const", "pixels", "largest", "smallest", "count", "frame_width", "frame_height", "start", "neg", "add", "sub",
    "mul", "div", "abs", "min", "max", "clamp", "sqrt", "floor", "lt", "le", "gt", "ge", "eq", "ne", "not", "and", "or",
    "if", "exists", "area", "center", "bbox", "fill", "width", "height", "aspect", "point", "box", "x", "y", "distance",
    "manhattan", "left_of", "right_of", "above", "below", "near", "inside", "contains", "overlaps", "tile", "cell",
    "cells", "same_cell",
}


@cache
def program_of(name: str) -> ir.Program:
    if name.startswith("example:"):
        return check_file(REPO / "examples" / "minigrid" / f"{name.split(':', 1)[1]}.car")
    return check_text(PROGRAMS[name], name)


@cache
def kernel_of(name: str) -> Kernel:
    return compile_program(program_of(name))


# ---- comparison helpers ------------------------------------------------------------------------


def bits(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.uint64)


def assert_same_state(k: np.ndarray, i: np.ndarray, where: str) -> None:
    assert np.array_equal(bits(k), bits(i)), f"{where}: kernel state {k.tolist()} != interpreter {i.tolist()}"


def run_kernel(kernel: Kernel | Interpreter, frames: list[np.ndarray], tile: float | None) -> tuple[list, list[np.ndarray]]:
    state = kernel.new_state(1, tile)[0]
    kernel.reset(frames[0], state)
    outs, states = [], [state.copy()]
    for frame in frames[1:]:
        outs.append(kernel.step(frame, state))
        states.append(state.copy())
    return outs, states


def assert_equivalent(name: str, frames: list[np.ndarray], tile: float | None) -> None:
    kernel, interpreter = kernel_of(name), Interpreter(program_of(name))
    k_state, i_state = kernel.new_state(1, tile)[0], interpreter.new_state(1, tile)[0]
    kernel.reset(frames[0], k_state)
    interpreter.reset(frames[0], i_state)
    assert_same_state(k_state, i_state, "after reset")
    for t, frame in enumerate(frames[1:], 1):
        k_out, i_out = kernel.step(frame, k_state), interpreter.step(frame, i_state)
        assert type(k_out[0]) is float and type(k_out[1]) is int
        assert bits(k_out[0]) == bits(i_out[0]) and k_out[1] == i_out[1], f"step {t}: kernel {k_out} != interpreter {i_out}"
        assert_same_state(k_state, i_state, f"after step {t}")


# ---- frames ------------------------------------------------------------------------------------


@cache
def palette_of(name: str) -> np.ndarray:
    """The program's shades, each channel pushed to the tolerance edge and one past it, and extremes."""
    colors = [(0, 0, 0), (255, 255, 255), (128, 128, 128)]
    for color in program_of(name).colors:
        for shade in color.shades:
            colors.append(shade)
            for delta in (color.tolerance, color.tolerance + 1):
                for ch in range(3):
                    for sign in (-1, 1):
                        v = list(shade)
                        v[ch] = min(255, max(0, v[ch] + sign * delta))
                        colors.append(tuple(v))
    return np.array(colors, dtype=np.uint8)


def paint(rng: np.random.Generator, palette: np.ndarray, h: int, w: int, kind: str) -> np.ndarray:
    if kind == "noise":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = palette[rng.integers(len(palette))]
    if kind in ("rects", "both"):
        for _ in range(int(rng.integers(0, 9))):
            y0, x0 = int(rng.integers(0, max(h, 1))), int(rng.integers(0, max(w, 1)))
            frame[y0:y0 + int(rng.integers(1, 7)), x0:x0 + int(rng.integers(1, 7))] = palette[rng.integers(len(palette))]
    if kind in ("scatter", "both"):
        mask = rng.random((h, w)) < rng.uniform(0.05, 0.5)
        frame[mask] = palette[rng.integers(len(palette), size=int(mask.sum()))]
    return frame


@st.composite
def episodes(draw: st.DrawFn, name: str, max_side: int = 14) -> tuple[list[np.ndarray], float]:
    h = draw(st.integers(0, max_side))
    w = draw(st.integers(0, max_side))
    kinds = draw(st.lists(st.sampled_from(["noise", "rects", "scatter", "both"]), min_size=2, max_size=5))
    seed = draw(st.integers(0, 2**32 - 1))
    tile = draw(st.sampled_from([None, 1.0, 2.5, 3.0, 8.0, 256.0]))
    rng = np.random.default_rng(seed)
    return [paint(rng, palette_of(name), h, w, kind) for kind in kinds], tile


@cache
def minigrid_frames(env_id: str, tile: int, n: int = 40, seed: int = 0) -> tuple[np.ndarray, ...]:
    from carc.perf.bench import minigrid_frames as rollout

    return tuple(rollout(env_id, tile, n, seed))


MINIGRID_SETS = [("MiniGrid-DoorKey-5x5-v0", 8), ("MiniGrid-DoorKey-5x5-v0", 32), ("MiniGrid-DoorKey-8x8-v0", 8),
                 ("MiniGrid-DoorKey-8x8-v0", 32)]


# ---- coverage ----------------------------------------------------------------------------------


def test_programs_use_every_builtin_and_every_ir_op() -> None:
    ops = {node.op for name in ALL_NAMES for node in program_of(name).nodes}
    filters = {kind for name in ALL_NAMES for node in program_of(name).nodes if node.op in ir.OBJECT_QUERIES for kind in node.const[1:]}
    builtin_ops = {sig.op for sigs in BUILTINS.values() for sig in sigs}
    assert IR_OPS <= ops, IR_OPS - ops
    assert {"area", "fill", "aspect"} <= filters
    assert builtin_ops - {"objects", "filter_area", "filter_fill", "filter_aspect"} <= ops
    types = {latch.type for name in ALL_NAMES for latch in program_of(name).latches}
    assert types == {"num", "bool", "point", "box", "region"}
    assert any(len(program_of(name).colors) > 8 for name in ALL_NAMES)  # the 16-bit mask path


# ---- differential tests ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_NAMES)
def test_kernel_equals_interpreter_on_random_frames(name: str) -> None:
    kernel_of(name)

    @PROFILE
    @given(episodes(name))
    def check(episode: tuple[list[np.ndarray], float]) -> None:
        frames, tile = episode
        assert_equivalent(name, frames, tile)

    check()


@pytest.mark.parametrize("env_id,tile", MINIGRID_SETS)
@pytest.mark.parametrize("name", ALL_NAMES)
def test_kernel_equals_interpreter_on_minigrid_frames(name: str, env_id: str, tile: int) -> None:
    assert_equivalent(name, list(minigrid_frames(env_id, tile)), float(tile))


@pytest.mark.parametrize("name", ["objects", "regions"])
def test_more_objects_than_kept(name: str) -> None:
    """A grid of isolated pixels makes more components than MAX_OBJECTS: the first ones are kept."""
    h = w = 2 * MAX_OBJECTS // 3
    palette = palette_of(name)
    frames = []
    for k, c in enumerate((3, 4, 5, 9)):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[::2, ::2] = palette[c]
        frame[1::4, 1::4] = palette[(c + k + 1) % len(palette)]
        frames.append(frame)
    assert_equivalent(name, frames, 5.0)


def test_large_and_odd_frames() -> None:
    rng = np.random.default_rng(7)
    for name in ("objects", "many"):
        palette = palette_of(name)
        for h, w in ((1, 1), (1, 97), (97, 1), (67, 45), (130, 9)):
            assert_equivalent(name, [paint(rng, palette, h, w, kind) for kind in ("both", "rects", "scatter")], 8.0)


# ---- batches, determinism, reset ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["regions", "objects", "example:doorkey"])
def test_step_batch_equals_repeated_step(name: str) -> None:
    kernel = kernel_of(name)

    @PROFILE
    @given(st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**32 - 1), st.integers(0, 12), st.integers(0, 12))
    def check(n: int, steps: int, seed: int, h: int, w: int) -> None:
        rng = np.random.default_rng(seed)
        episodes_ = np.stack([np.stack([paint(rng, palette_of(name), h, w, "both") for _ in range(n)]) for _ in range(steps + 1)])
        tiles = rng.choice([1.0, 3.0, 8.0], size=n)
        batch = np.stack([kernel.new_state(1, t)[0] for t in tiles])
        single = batch.copy()
        kernel.reset_batch(episodes_[0], batch)
        for i in range(n):
            kernel.reset(episodes_[0, i], single[i])
        assert_same_state(batch, single, "after reset_batch")
        rewards, events = np.zeros(n), np.zeros(n, np.int64)
        for t in range(1, steps + 1):
            kernel.step_batch(episodes_[t], batch, rewards, events)
            for i in range(n):
                reward, event = kernel.step(episodes_[t, i], single[i])
                assert bits(rewards[i]) == bits(reward) and events[i] == event
            assert_same_state(batch, single, f"after step_batch {t}")

    check()


def test_step_batch_on_minigrid_frames_and_non_contiguous_input() -> None:
    kernel = kernel_of("example:doorkey")
    frames = np.stack(minigrid_frames("MiniGrid-DoorKey-8x8-v0", 8)[:24]).reshape(6, 4, 64, 64, 3)
    wide = np.concatenate([frames, frames], axis=-1)  # frames[..., :3] of this is a non-contiguous view
    states = kernel.new_state(4)
    single = states.copy()
    kernel.reset_batch(wide[0, ..., :3], states)
    for i in range(4):
        kernel.reset(frames[0, i], single[i])
    rewards, events = np.zeros(4), np.zeros(4, np.int64)
    for t in range(1, 6):
        kernel.step_batch(wide[t, ..., :3], states, rewards, events)
        for i in range(4):
            assert (rewards[i], events[i]) == kernel.step(frames[t, i], single[i])
    assert_same_state(states, single, "batch")


@pytest.mark.parametrize("name", ["arith", "objects", "example:doorkey"])
def test_same_input_same_output(name: str) -> None:
    kernel = kernel_of(name)
    frames = list(minigrid_frames("MiniGrid-DoorKey-5x5-v0", 8)[:12])
    first, second = run_kernel(kernel, frames, 8.0), run_kernel(kernel, frames, 8.0)
    assert first[0] == second[0]
    assert all(np.array_equal(bits(a), bits(b)) for a, b in zip(first[1], second[1]))


@pytest.mark.parametrize("name", ["regions", "arith", "example:doorkey"])
def test_reset_restores_the_start_state(name: str) -> None:
    kernel = kernel_of(name)
    frames = list(minigrid_frames("MiniGrid-DoorKey-5x5-v0", 8)[:20])
    used = run_kernel(kernel, frames, 8.0)[1][-1]
    fresh = kernel.new_state(1, 8.0)[0]
    kernel.reset(frames[0], fresh)
    kernel.reset(frames[0], used)
    assert_same_state(used, fresh, "reset of a used state")


def test_new_state_layout_and_tile() -> None:
    kernel = kernel_of("example:doorkey")
    state = kernel.new_state(3, 32)
    assert state.shape == (3, kernel.state_size) and state.dtype == np.float64
    assert (state[:, 2] == 32).all() and (kernel.new_state()[:, 2] == program_of("example:doorkey").tile).all()
    assert np.array_equal(state, Interpreter(program_of("example:doorkey")).new_state(3, 32))


@pytest.mark.parametrize("tile", [0.0, -8.0, 257.0, float("nan"), float("inf"), 1e300])
def test_a_state_whose_tile_is_out_of_range_is_refused(tile: float) -> None:
    """The tile slot is what new_state accepts (1 to 256 pixels): the kernel's interval-based code
    relies on it, so step, reset and the batch calls refuse any other value."""
    kernel = kernel_of("example:doorkey")
    frame = np.zeros((64, 64, 3), np.uint8)
    states = kernel.new_state(2)
    states[1, 2] = tile
    with pytest.raises(ValueError, match="tile \\(slot 2\\) must be from 1 to 256"):
        kernel.step(frame, states[1])
    with pytest.raises(ValueError, match="tile"):
        kernel.reset(frame, states[1])
    with pytest.raises(ValueError, match="tile"):
        kernel.step_batch(np.stack([frame, frame]), states, np.zeros(2), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="tile"):
        kernel.reset_batch(np.stack([frame, frame]), states)
    kernel.step(frame, states[0])  # the other row is fine


# ---- input checks ------------------------------------------------------------------------------


def test_bad_frames_and_states_raise_value_error() -> None:
    kernel = kernel_of("example:doorkey")
    state = kernel.new_state(1)[0]
    good = np.zeros((8, 8, 3), np.uint8)
    bad = [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), np.uint8),
           np.zeros((MAX_SIDE + 1, 1, 3), np.uint8), [[[0, 0, 0]]], None]
    for frame in bad:
        with pytest.raises(ValueError):
            kernel.step(frame, state)
        with pytest.raises(ValueError):
            kernel.reset(frame, state)
    for wrong in (np.zeros(3), np.zeros(kernel.state_size, np.float32), np.zeros((1, kernel.state_size))):
        with pytest.raises(ValueError):
            kernel.step(good, wrong)
    readonly = state.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError):
        kernel.step(good, readonly)
    with pytest.raises(ValueError):
        kernel.step_batch(np.zeros((2, 8, 8, 3), np.uint8), kernel.new_state(3), np.zeros(2), np.zeros(2, np.int64))
    with pytest.raises(ValueError):
        kernel.step_batch(np.zeros((2, 8, 8, 3), np.uint8), kernel.new_state(2), np.zeros(2), np.zeros(2, np.int32))


def test_non_contiguous_and_read_only_frames_give_the_same_result() -> None:
    kernel = kernel_of("example:doorkey")
    frames = minigrid_frames("MiniGrid-DoorKey-5x5-v0", 8)
    plain, odd = kernel.new_state(1)[0], kernel.new_state(1)[0]
    kernel.reset(frames[0], plain)
    kernel.reset(np.asfortranarray(frames[0]), odd)
    for k, frame in enumerate(frames[1:10]):
        variant = np.ascontiguousarray(frame[:, ::-1])[:, ::-1] if k % 2 else np.asfortranarray(frame)
        if k % 3 == 0:
            variant = frame.copy()
            variant.flags.writeable = False
        assert kernel.step(frame, plain) == kernel.step(variant, odd)
    assert_same_state(plain, odd, "variants")


def test_frame_sizes_change_between_calls() -> None:
    """Scratch grows for larger frames and stays correct when shapes alternate."""
    rng = np.random.default_rng(3)
    name = "objects"
    shapes = [(5, 5), (40, 33), (3, 70), (40, 33), (1, 1), (64, 64)]
    frames = [paint(rng, palette_of(name), h, w, "both") for h, w in shapes]
    kernel, interpreter = kernel_of(name), Interpreter(program_of(name))
    for frame in frames:
        k_state, i_state = kernel.new_state(1)[0], interpreter.new_state(1)[0]
        kernel.reset(frames[0], k_state)
        interpreter.reset(frames[0], i_state)
        assert bits(kernel.step(frame, k_state)[0]) == bits(interpreter.step(frame, i_state)[0])
        assert_same_state(k_state, i_state, f"shape {frame.shape}")


# ---- hashing, cache, artifact ------------------------------------------------------------------


def test_program_hash_is_stable_and_content_addressed() -> None:
    a = check_file(DOORKEY)
    b = check_text(DOORKEY.read_text(), "elsewhere.car")
    assert program_hash(a) == program_hash(b) and len(program_hash(a)) == 64
    changed = check_text(DOORKEY.read_text().replace("bonus 0.2 : not exists(key)", "bonus 0.3 : not exists(key)"))
    assert program_hash(changed) != program_hash(a)
    kernel = kernel_of("example:doorkey")
    assert kernel.path.name == f"k_{kernel.hash[:16]}.py" and kernel.path.parent == cache_directory()


def test_compile_twice_in_process_reuses_the_module() -> None:
    first = kernel_of("example:doorkey")
    again = compile_program(check_file(DOORKEY))
    assert again.module is first.module and again.step is first.module.step


_SUBPROCESS_COMPILE = """
import json, sys, time
t0 = time.perf_counter()
from carc.api import check_file
from carc.backend.kernel import compile_program
t1 = time.perf_counter()
program = check_file(sys.argv[1])
t2 = time.perf_counter()
kernel = compile_program(program)
t3 = time.perf_counter()
fns = [kernel.module._program, kernel.module._classify_step_rows,  # the program's own functions, then the library's
       kernel.module._one, kernel.module._many]
print(json.dumps({"path": str(kernel.path), "imports_s": t1 - t0, "compile_s": t3 - t2,
                  "hits": sum(sum(f.stats.cache_hits.values()) for f in fns),
                  "misses": sum(sum(f.stats.cache_misses.values()) for f in fns)}))
"""


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def test_second_compile_in_a_fresh_process_loads_from_disk() -> None:
    kernel = kernel_of("example:doorkey")
    stamp = kernel.path.stat().st_mtime_ns
    done = subprocess.run([sys.executable, "-c", _SUBPROCESS_COMPILE, str(DOORKEY)], capture_output=True, text=True,
                          env=_subprocess_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"warm compile_program in a fresh process: {report['compile_s']:.3f} s (imports {report['imports_s']:.3f} s)")
    assert report["path"] == str(kernel.path)
    assert report["misses"] == 0 and report["hits"] >= 4
    assert kernel.path.stat().st_mtime_ns == stamp  # the cached source was not rewritten


_SUBPROCESS_ARTIFACT = """
import importlib.util, json, sys
import numpy as np
path, frames_path, name = sys.argv[1], sys.argv[2], sys.argv[3]
spec = importlib.util.spec_from_file_location(name, path)
kernel = importlib.util.module_from_spec(spec)
sys.modules[name] = kernel
spec.loader.exec_module(kernel)
frames = np.load(frames_path)
state = kernel.new_state(1, 8)
kernel.reset(frames[0], state[0])
out = [kernel.step(frame, state[0]) for frame in frames[1:]]
print(json.dumps({"out": out, "state": state[0].tolist(), "carc": "carc" in sys.modules, "lark": "lark" in sys.modules}))
"""


def test_artifact_runs_with_numpy_and_numba_only(tmp_path: Path) -> None:
    program = program_of("example:doorkey")
    digest = program_hash(program)
    # A stable place, so numba's cache for the artifact survives between test runs.
    (cache_directory() / "artifacts").mkdir(parents=True, exist_ok=True)
    path = write_artifact(program, cache_directory() / "artifacts" / f"doorkey_{digest[:16]}.py")
    text = path.read_text()
    assert digest in text and "got_key" in text and "import carc" not in text and "lark" not in text
    frames = np.stack(minigrid_frames("MiniGrid-DoorKey-8x8-v0", 8)[:30])
    np.save(tmp_path / "frames.npy", frames)
    done = subprocess.run([sys.executable, "-c", _SUBPROCESS_ARTIFACT, str(path), str(tmp_path / "frames.npy"),
                           f"carc_artifact_{digest[:16]}"], capture_output=True, text=True, env=_subprocess_env(), timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["carc"] is False and report["lark"] is False
    outs, states = run_kernel(kernel_of("example:doorkey"), list(frames), 8.0)
    assert [tuple(o) for o in report["out"]] == outs
    assert report["state"] == states[-1].tolist()
    module = load_artifact(path)
    assert module.step(frames[1], module.new_state(1)[0]) == kernel_of("example:doorkey").step(frames[1], kernel_of("example:doorkey").new_state(1)[0])


# ---- the hand-written benchmark kernel ---------------------------------------------------------


@pytest.mark.parametrize("env_id,tile", MINIGRID_SETS)
def test_handwritten_kernel_equals_compiled_doorkey(env_id: str, tile: int) -> None:
    from carc.perf import handwritten
    from carc.perf.bench import has_handwritten

    assert has_handwritten(program_of("example:doorkey")), "examples/minigrid/doorkey.car changed: update carc/handwritten.py"
    frames = list(minigrid_frames(env_id, tile, n=60, seed=5))
    kernel = kernel_of("example:doorkey")
    k_outs, k_states = run_kernel(kernel, frames, float(tile))
    h_outs, h_states = run_kernel(handwritten, frames, float(tile))  # type: ignore[arg-type]
    assert [(bits(r).item(), e) for r, e in k_outs] == [(bits(r).item(), e) for r, e in h_outs]
    assert all(np.array_equal(bits(a), bits(b)) for a, b in zip(k_states, h_states))


# ---- random programs (slow: each one is a cold numba compile) ----------------------------------


@pytest.mark.slow
def test_random_well_typed_programs_compile_to_the_interpreter() -> None:
    from strategies import well_typed_programs

    frames_mg = list(minigrid_frames("MiniGrid-DoorKey-5x5-v0", 8, n=12, seed=1))

    @settings(max_examples=int(os.environ.get("CARC_KERNEL_FUZZ_PROGRAMS", "8")), deadline=None,
              suppress_health_check=list(HealthCheck), database=None)
    @given(well_typed_programs(), st.integers(0, 2**32 - 1))
    def check(text: str, seed: int) -> None:
        program = check_text(text)
        kernel, interpreter = compile_program(program), Interpreter(program)
        rng = np.random.default_rng(seed)
        palette = np.array([(0, 0, 0), (255, 255, 255), *(s for c in program.colors for s in c.shades)], np.uint8)
        for frames, tile in ((frames_mg, 8.0), ([paint(rng, palette, 9, 7, "both") for _ in range(4)], 3.0)):
            k_outs, k_states = run_kernel(kernel, frames, tile)
            i_outs, i_states = run_kernel(interpreter, frames, tile)
            assert [(bits(r).item(), e) for r, e in k_outs] == [(bits(r).item(), e) for r, e in i_outs], text
            assert all(np.array_equal(bits(a), bits(b)) for a, b in zip(k_states, i_states)), text

    check()


@pytest.mark.slow
def test_llvm_of_a_cached_kernel() -> None:
    text = kernel_of("plain").llvm()
    assert "define" in text and "_one" in text
