"""The kernel library: the part of every kernel that is the same for every program, compiled once
per carc version into the trusted kernel cache (carc.backend.kernel loads it from there; nothing
imports this file as a module).

``_step_frame`` / ``_reset_frame`` check their input, cut the scratch buffer into its views, run perception
(``_perceive``: the program's classifier, which skips rows that repeat the row above, the runtime's ``_scan``,
generic over the pass table's colour tables) and the program's ``_program`` function (the program's
functions through the addresses in the scratch header: see carc.backend.linkage), then do what the
IR's stage logic says, generically over the header's tables:
which sub-tasks each stage holds (in order), their bonuses, the shaping discount and the reward
bounds. Two entry points carry explicit signatures (each is one load from numba's cache; every
callee is compiled into them): ``_one`` steps (mode 0) or resets (mode 1) one environment, and
``_many`` does either for N environments. Every operation is the one
the generated code of earlier carc versions did, in the same order, so rewards are bit-identical.

The scratch buffer (uint8): the header (``HEAD_WORDS`` int64 words, written once by the program's
module), then ``ow`` (float64: one predicate value per sub-task, the potential, then an empty region
that object queries which find nothing read), ``fw`` (float64:
perception results), ``iw`` (int64: perception header, the run tables: each object colour's spans
and the components' parent links, then the repeated-rows table) and ``mk`` (the colour mask).

The text from the LIBRARY line on is what kernels hold: the cached library module is carc's constants,
the runtime and this text, with ``_classify_link`` / ``_program_link`` from carc.backend.linkage; a
standalone artifact is the program's module, its own link functions (calls by name), the runtime and
this text, and passes carc.backend.srccheck.

Every numba function of a kernel (library, runtime, the program's own) is compiled without numba's
reference counting (``_nrt=False``): nothing in a kernel allocates or keeps an array past the call
that received it, and the counting is a call at every slice and call that hands an array on (even
for a borrowed array, one with no owner): 325 -> 156 ns a step of Unlock's kernel on a 1x1 frame.
"""

from typing import Any

import numpy as np
from numba import njit

from carc.backend import linkage
from carc.backend.header import (
    HEAD_FLOAT_SLOTS,
    HEAD_GAMMA,
    HEAD_HIGH,
    HEAD_INT_BASE,
    HEAD_LANES,
    HEAD_LOW,
    HEAD_MASK_BYTES,
    HEAD_NSTAGE,
    HEAD_NSTATE,
    HEAD_NSUB,
    HEAD_PROGRAM,
    HEAD_RESET_PASS,
    HEAD_RUN_TABLES,
    HEAD_SHAPING,
    HEAD_STEP_PASS,
    HEAD_TABLES,
    HEAD_WORDS,
    PASS_CLASSIFY,
    PASS_OBJ,
    PASS_PIX,
    PASS_PIX_AT,
)
from carc.backend.perception import MAX_COLORS, REGION
from carc.backend.runtime import _components, _scan
from carc.core.limits import LIMITS, MAX_SIDE
from carc.ir.layout import DONE, PREVIOUS_POTENTIAL, PROGRESS, TILE

MAX_TILE = int(LIMITS["max_tile"].cap)

_classify_link: Any = linkage._classify_link  # intrinsics: numba passes their typing context itself
_program_link: Any = linkage._program_link
_as_words: Any = linkage._as_words

# ---- LIBRARY: the text kernels hold, from this line on ----


@njit(cache=True, error_model="numpy", _nrt=False)
def _header(sc):
    # The buffer as int64 and float64 words (every part is a slice of these: a numba view costs
    # far more than a slice), and the header's length in words (0 when the buffer has no header yet).
    si, sf = _as_words(sc)
    n = si[0] if si.shape[0] >= HEAD_TABLES else 0
    n = n if n <= si.shape[0] else 0
    return si, sf, n


@njit(cache=True, error_model="numpy", _nrt=False)
def _tile_ok(state):
    # The tile slot holds a cell size from 1 to MAX_TILE pixels (what new_state gives; the code
    # generator's interval analysis, which drops provably idle saturations, relies on it).
    t = state[TILE]
    return t >= 1.0 and t <= MAX_TILE


@njit(cache=True, error_model="numpy", _nrt=False)
def _layout(hd, H, W):
    # The padded row length of the mask, the words of a run table (carc.backend.perception), where
    # ow, fw and iw start (in words) and where the mask starts and the buffer ends (in bytes).
    L = hd[HEAD_LANES]
    Wr = ((W + L - 1) // L) * L
    cap = H * ((W + 1) // 2)
    o0 = hd[HEAD_WORDS]
    f0 = o0 + hd[HEAD_NSUB] + 1 + REGION
    i0 = f0 + hd[HEAD_FLOAT_SLOTS]
    m0 = i0 + hd[HEAD_INT_BASE] + hd[HEAD_RUN_TABLES] * cap + H
    return Wr, cap, o0, f0, i0, 8 * m0, 8 * m0 + hd[HEAD_MASK_BYTES] * H * Wr


@njit(cache=True, error_model="numpy", _nrt=False)
def _perceive(hd, at, frame, mk, iw, fw, H, W, Wr, cap):
    # The perception pass whose table starts at hd[at]: zero the mask's padding when the frame
    # shape changes, have the program's classifier write the colour bits of every row into the mask
    # but the rows it marks as repeating the row above (same, after the run tables), scan it and
    # join each object colour's spans into objects (runtime).
    if iw[0] != H or iw[1] != W:
        for i in range(mk.shape[0]):
            mk[i] = 0
        iw[0] = H
        iw[1] = W
    ib = hd[HEAD_INT_BASE]
    tables = ib + hd[HEAD_RUN_TABLES] * cap
    same = iw[tables:tables + H]
    _classify_link(hd[at + PASS_CLASSIFY], frame.reshape(H * W * 3), mk, same, H, W, Wr)
    a = at + PASS_PIX_AT
    pix_at = hd[a:a + MAX_COLORS]
    span_at = hd[a + 3 * MAX_COLORS:a + 4 * MAX_COLORS]
    obj = hd[at + PASS_OBJ]
    if hd[HEAD_MASK_BYTES] == 1:
        _scan(mk, same, H, Wr, hd[at + PASS_PIX], pix_at, obj, span_at, iw, ib, cap, fw)
    else:
        _scan(mk.view(np.uint16), same, H, Wr, hd[at + PASS_PIX], pix_at, obj, span_at, iw, ib, cap, fw)
    if obj != 0:
        obj_at = hd[a + MAX_COLORS:a + 2 * MAX_COLORS]
        count_at = hd[a + 2 * MAX_COLORS:a + 3 * MAX_COLORS]
        _components(iw, obj, obj_at, count_at, span_at, ib, cap, iw[tables - cap:tables], fw)


@njit(cache=True, error_model="numpy", _nrt=False)
def _step_frame(frame, state, sc):
    H = frame.shape[0]
    W = frame.shape[1]
    if frame.shape[2] != 3 or H > MAX_SIDE or W > MAX_SIDE:
        return 0.0, -2
    si, sf, n = _header(sc)
    if n < HEAD_TABLES:
        return 0.0, -4
    hd = si[0:n]
    hf = sf[0:n]
    if state.shape[0] != hd[HEAD_NSTATE]:
        return 0.0, -3
    if not _tile_ok(state):
        return 0.0, -6
    Wr, cap, o0, f0, i0, m0, end = _layout(hd, H, W)
    if sc.shape[0] < end:
        return 0.0, -4
    ow = sf[o0:f0]
    fw = sf[f0:i0]
    iw = si[i0:m0 // 8]
    if hd[HEAD_STEP_PASS] != 0:
        _perceive(hd, hd[HEAD_STEP_PASS], frame, sc[m0:end], iw, fw, H, W, Wr, cap)
    _program_link(hd[HEAD_PROGRAM], 0, fw, iw, state, H, W, ow)
    nsub = hd[HEAD_NSUB]
    nst = hd[HEAD_NSTAGE]
    order = HEAD_TABLES + nst + 1
    bonus = order + nsub
    reward = 0.0
    event = -1
    p = state[PROGRESS]
    if p > -1e18 and p < 1e18:
        stage = int(p)
        while stage < nst:
            s = stage + nst if stage < 0 else stage
            if s < 0:
                break
            complete = True
            for k in range(hd[HEAD_TABLES + s], hd[HEAD_TABLES + s + 1]):
                t = hd[order + k]
                if state[DONE + t] == 0.0:
                    if ow[t] != 0.0:
                        state[DONE + t] = 1.0
                        reward += hf[bonus + t]
                        event = t
                    else:
                        complete = False
            if not complete:
                break
            stage += 1
        state[PROGRESS] = float(stage)
    if hd[HEAD_SHAPING] != 0:
        reward += hf[HEAD_GAMMA] * ow[nsub] - state[PREVIOUS_POTENTIAL]
        state[PREVIOUS_POTENTIAL] = ow[nsub]
    low = hf[HEAD_LOW]
    high = hf[HEAD_HIGH]
    reward = low if low > reward else reward
    reward = high if high < reward else reward
    return reward, event


@njit(cache=True, error_model="numpy", _nrt=False)
def _reset_frame(frame, state, sc):
    H = frame.shape[0]
    W = frame.shape[1]
    if frame.shape[2] != 3 or H > MAX_SIDE or W > MAX_SIDE:
        return -2
    si, sf, n = _header(sc)
    if n < HEAD_TABLES:
        return -4
    hd = si[0:n]
    if state.shape[0] != hd[HEAD_NSTATE]:
        return -3
    if not _tile_ok(state):
        return -6
    Wr, cap, o0, f0, i0, m0, end = _layout(hd, H, W)
    if sc.shape[0] < end:
        return -4
    ow = sf[o0:f0]
    fw = sf[f0:i0]
    iw = si[i0:m0 // 8]
    nsub = hd[HEAD_NSUB]
    state[PROGRESS] = 0.0
    for t in range(nsub):
        state[DONE + t] = 0.0
    if hd[HEAD_RESET_PASS] != 0:
        _perceive(hd, hd[HEAD_RESET_PASS], frame, sc[m0:end], iw, fw, H, W, Wr, cap)
    state[PREVIOUS_POTENTIAL] = 0.0
    _program_link(hd[HEAD_PROGRAM], 1, fw, iw, state, H, W, ow)
    if hd[HEAD_SHAPING] != 0:
        state[PREVIOUS_POTENTIAL] = ow[nsub]
    return 0


@njit(cache=True, error_model="numpy", _nrt=False)
def _check_batch(frames, states, sc):
    # The batch's own checks (the per-frame ones are _step_frame's / _reset_frame's): 0 when it can run.
    H = frames.shape[1]
    W = frames.shape[2]
    if frames.shape[3] != 3 or H > MAX_SIDE or W > MAX_SIDE:
        return -2
    si, sf, n = _header(sc)
    if n < HEAD_TABLES:
        return -4
    if states.shape[1] != si[HEAD_NSTATE]:
        return -3
    for i in range(states.shape[0]):
        if not _tile_ok(states[i]):
            return -6
    if sc.shape[0] < _layout(si[0:n], H, W)[6]:
        return -4
    return 0


@njit("Tuple((float64, int64))(int64, uint8[:, :, ::1], float64[:], uint8[::1])", cache=True, error_model="numpy", _nrt=False)
def _one(mode, frame, state, sc):
    # Mode 0: step (reward, event); mode 1: reset (0.0, its code).
    if mode == 1:
        return 0.0, _reset_frame(frame, state, sc)
    return _step_frame(frame, state, sc)


@njit("int64(int64, uint8[:, :, :, ::1], float64[:, :], float64[:], int64[:], uint8[::1])", cache=True, error_model="numpy", _nrt=False)
def _many(mode, frames, states, rewards, events, sc):
    # _one over N environments; a reset (mode 1) leaves rewards and events alone (they may be empty).
    N = frames.shape[0]
    if states.shape[0] != N or (mode == 0 and (rewards.shape[0] != N or events.shape[0] != N)):
        return -5
    code = _check_batch(frames, states, sc)
    if code != 0:
        return code
    for i in range(N):
        if mode == 1:
            _reset_frame(frames[i], states[i], sc)
        else:
            reward, event = _step_frame(frames[i], states[i], sc)
            rewards[i] = reward
            events[i] = event
    return 0
