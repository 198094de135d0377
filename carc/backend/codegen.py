"""Code generation: the Python source of a numba module, written from the checked IR only.

No program text and no string from a model reaches the source: names are identifiers carc makes
(`v12`, `v9_3`, `c2_sx`), numbers appear only as ``repr(float(x))`` / ``repr(int(x))`` of validated
numbers, and colour / sub-task names appear only inside comments after matching an identifier
pattern. ``carc.backend.srccheck`` whitelists the result before anything compiles it.

The generated module has three layers:

* perception, one fused pass per set of colours: a branch-free loop, which LLVM vectorises,
  classifies every pixel against every shade of the colours needed (``lo <= channel <= hi`` per
  channel: the exact interval form of the interpreter's ``max |p - shade| <= tol``) and writes one
  bit per colour into a mask. A scan of the mask, a 64-bit word at a time (rows with no match are
  skipped whole; inside a row only the places where the mask value changes are visited), cuts each
  row into runs of equal mask value: whole-colour statistics (count, sums, bounds) add up per run,
  branch-free, for colours some ``pixels`` node reads, and the runs of colours whose objects are
  asked for are recorded in raster order. Objects are then the 8-connected components of those
  runs (union-find over runs, the earlier run as root), numbered in raster order of their first
  pixel, the first MAX_OBJECTS kept: what ``scipy.ndimage.label`` + the interpreter's
  ``objects_of`` give, without a label image.
* the scalar part: every needed IR node as straight-line float64 code, in node order, with the
  interpreter's operation order (saturation, defined division, empty-region defaults, ties).
* entry points: ``new_state``, ``reset``, ``step``, ``reset_batch``, ``step_batch``: thin Python
  wrappers over explicitly typed ``@njit(cache=True)`` functions (so importing the module compiles
  them, or loads numba's cache) that share one preallocated scratch buffer, grown only when a
  larger frame arrives. Bad input raises ``ValueError``.

Every index is in range by construction: loops run over ``range`` of array lengths; the mask has
``H * Wr`` cells (Wr: W rounded up to whole words); a recorded run is written below ``H * W`` (each
run holds a pixel); object tables hold MAX_OBJECTS entries and counts are capped.

>>> from carc.lang.checker import check_text
>>> src = generate(check_text('program p "d" observe rgb color red = rgb(255, 0, 0) tol 10 '
...                           'subtask s "red" bonus 1 : exists(pixels(red))'))
>>> "def step(frame, state):" in src
True
"""

from __future__ import annotations

import math
import re

from carc import ir
from carc.core.limits import LIMITS
from carc.ir.layout import DONE, MAX_SIDE, PREVIOUS_POTENTIAL, PROGRESS, TILE, StateLayout

CODEGEN_VERSION = "2"
MAX_OBJECTS = int(LIMITS["max_objects"].cap)
MAX_TILE = int(LIMITS["max_tile"].cap)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Mask geometry: pixel (y, x) lives at y * Wr + x, rows padded with zeros to whole 64-bit words
# (Wr = W rounded up to a multiple of the lanes per word).
KEY_BITS = (MAX_SIDE - 1).bit_length()  # coordinates pack into KEY_BITS bits each
DEBRUIJN = 0x03F79D71B4CB0A89  # lowest-set-bit index by multiply and table (64-bit de Bruijn)
HEADER = 8  # int scratch: [0] H and [1] W the mask padding was zeroed for, then object counts

SCALAR_OPS = frozenset({
    "const", "pixels", "largest", "smallest", "count", "frame_width", "frame_height", "start",
    "neg", "add", "sub", "mul", "div", "abs", "min", "max", "clamp", "sqrt", "floor",
    "lt", "le", "gt", "ge", "eq", "ne", "not", "and", "or", "if",
    "exists", "area", "center", "bbox", "fill", "width", "height", "aspect", "point", "box", "x", "y",
    "distance", "manhattan", "left_of", "right_of", "above", "below", "near", "inside", "contains",
    "overlaps", "tile", "cell", "cells", "same_cell",
})

# Argument types each op accepts (None: checked by the op's own rule).
_ARG_TYPES: dict[str, tuple[str, ...] | None] = {
    "neg": ("num",), "add": ("num", "num"), "sub": ("num", "num"), "mul": ("num", "num"), "div": ("num", "num"),
    "abs": ("num",), "min": ("num", "num"), "max": ("num", "num"), "clamp": ("num", "num", "num"),
    "sqrt": ("num",), "floor": ("num",),
    "lt": ("num", "num"), "le": ("num", "num"), "gt": ("num", "num"), "ge": ("num", "num"),
    "eq": None, "ne": None, "not": ("bool",), "and": None, "or": None, "if": None,
    "exists": ("region",), "area": ("region",), "center": ("region",), "bbox": ("region",), "fill": ("region",),
    "width": ("box",), "height": ("box",), "aspect": ("box",), "point": ("num", "num"), "box": ("num",) * 4,
    "x": ("point",), "y": ("point",), "distance": ("point", "point"), "manhattan": ("point", "point"),
    "left_of": ("point", "point"), "right_of": ("point", "point"), "above": ("point", "point"),
    "below": ("point", "point"), "near": ("point", "point", "num"), "inside": ("point", "box"),
    "contains": ("box", "box"), "overlaps": ("box", "box"), "tile": (), "cell": ("point",), "cells": ("num",),
    "same_cell": ("point", "point"), "frame_width": (), "frame_height": (), "const": (), "pixels": (), "start": (),
}
_RESULT: dict[str, str] = {
    "neg": "num", "add": "num", "sub": "num", "mul": "num", "div": "num", "abs": "num", "min": "num", "max": "num",
    "clamp": "num", "sqrt": "num", "floor": "num", "lt": "bool", "le": "bool", "gt": "bool", "ge": "bool",
    "eq": "bool", "ne": "bool", "not": "bool", "and": "bool", "or": "bool", "exists": "bool", "area": "num",
    "center": "point", "bbox": "box", "fill": "num", "width": "num", "height": "num", "aspect": "num",
    "point": "point", "box": "box", "x": "num", "y": "num", "distance": "num", "manhattan": "num",
    "left_of": "bool", "right_of": "bool", "above": "bool", "below": "bool", "near": "bool", "inside": "bool",
    "contains": "bool", "overlaps": "bool", "tile": "num", "cell": "point", "cells": "num", "same_cell": "bool",
    "frame_width": "num", "frame_height": "num", "pixels": "region", "largest": "region", "smallest": "region",
    "count": "num",
}

BIG = repr(float(ir.BIG))
NJIT = '@njit(cache=True, error_model="numpy")'

SIG_FRAME = "uint8[:, :, ::1]"
SIG_FRAMES = "uint8[:, :, :, ::1]"


class CodegenError(ValueError):
    """The IR is not something codegen can prove safe (a checker bug, or a hand-made IR)."""


# ---- validation --------------------------------------------------------------------------------


def _num(x: object, what: str) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise CodegenError(f"{what} must be a finite number, not {x!r}")
    return repr(float(x))


def _int(x: object, what: str, lo: int, hi: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or float(x) != int(x) or not lo <= int(x) <= hi:
        raise CodegenError(f"{what} must be a whole number in [{lo}, {hi}], not {x!r}")
    return int(x)


def _ident(name: object) -> str:
    """A name safe to show in a comment, or a placeholder."""
    return name if isinstance(name, str) and IDENTIFIER.match(name) and len(name) <= 64 else "?"


def validate(program: ir.Program) -> None:
    """Refuse any IR that is not well formed (types, indices, numbers)."""
    ncolors = len(program.colors)
    if ncolors > int(LIMITS["max_colors"].cap):
        raise CodegenError(f"too many colours: {ncolors}")
    if sum(len(c.shades) for c in program.colors) > int(LIMITS["max_shades"].cap):
        raise CodegenError("too many colour shades")
    for color in program.colors:
        if not color.shades:
            raise CodegenError("a colour has no shade")
        _int(color.tolerance, "a tolerance", 0, 255)
        for shade in color.shades:
            if len(shade) != 3:
                raise CodegenError("a shade has three channels")
            for v in shade:
                _int(v, "a colour channel", 0, 255)
    for i, node in enumerate(program.nodes):
        if node.op not in SCALAR_OPS and node.op not in ir.OBJECT_OPS:
            raise CodegenError(f"node {i}: unknown op {node.op!r}")
        if node.type not in ir.WIDTH:
            raise CodegenError(f"node {i}: unknown type {node.type!r}")
        for a in node.args:
            if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < i:
                raise CodegenError(f"node {i}: argument {a!r} is not an earlier node")
        types = tuple(program.nodes[a].type for a in node.args)
        op = node.op
        if op == "const":
            if node.type == "bool":
                if len(node.const) != 1 or not isinstance(node.const[0], bool):
                    raise CodegenError(f"node {i}: bad boolean constant")
            elif node.type == "num":
                if len(node.const) != 1:
                    raise CodegenError(f"node {i}: bad constant")
                _num(node.const[0], f"node {i}: a constant")
            else:
                raise CodegenError(f"node {i}: constants are num or bool")
            continue
        if op in ir.OBJECT_OPS:
            if not node.const:
                raise CodegenError(f"node {i}: an object query needs a colour")
            _int(node.const[0], f"node {i}: a colour index", 0, ncolors - 1)
            kinds = node.const[1:]
            if any(k not in ("area", "fill", "aspect") for k in kinds) or len(node.args) != 2 * len(kinds):
                raise CodegenError(f"node {i}: bad object filters")
            if any(t != "num" for t in types):
                raise CodegenError(f"node {i}: filter bounds are numbers")
            expected = "num" if op == "count" else "region"
        elif op == "pixels":
            if len(node.const) != 1 or node.args:
                raise CodegenError(f"node {i}: bad pixels node")
            _int(node.const[0], f"node {i}: a colour index", 0, ncolors - 1)
            expected = "region"
        elif op == "start":
            if len(node.const) != 1 or node.args:
                raise CodegenError(f"node {i}: bad start node")
            offset = _int(node.const[0], f"node {i}: a latch offset", 0, max(0, program.latch_width - 1))
            latch = next((l for l in program.latches if l.offset == offset), None)
            if latch is None or latch.type != node.type:
                raise CodegenError(f"node {i}: no latch of type {node.type} at offset {offset}")
            expected = node.type
        elif op == "if":
            if len(types) != 3 or types[0] != "bool" or types[1] != types[2]:
                raise CodegenError(f"node {i}: bad if")
            expected = types[1]
        elif op in ("eq", "ne"):
            if len(types) != 2 or types[0] != types[1] or types[0] not in ("num", "bool"):
                raise CodegenError(f"node {i}: bad comparison")
            expected = "bool"
        elif op in ("and", "or"):
            if len(types) < 1 or any(t != "bool" for t in types):
                raise CodegenError(f"node {i}: bad {op}")
            expected = "bool"
        else:
            if types != _ARG_TYPES[op] or node.const:
                raise CodegenError(f"node {i}: {op} takes {_ARG_TYPES[op]}, not {types}")
            expected = _RESULT[op]
        if node.type != expected:
            raise CodegenError(f"node {i}: {op} gives {expected}, not {node.type}")
    width = 0
    for latch in program.latches:
        if latch.offset != width or latch.type not in ir.WIDTH:
            raise CodegenError("latches are packed in order")
        if not 0 <= latch.source < len(program.nodes) or program.nodes[latch.source].type != latch.type:
            raise CodegenError("a latch reads a node of its own type")
        width += ir.WIDTH[latch.type]
    count = 0
    for stage in program.stages:
        for s in stage.subtasks:
            if s.index != count:
                raise CodegenError("sub-tasks are numbered in order")
            count += 1
            _num(s.bonus, "a bonus")
            if not 0 <= s.predicate < len(program.nodes) or program.nodes[s.predicate].type != "bool":
                raise CodegenError("a predicate is a boolean node")
    if count == 0:
        raise CodegenError("a program has at least one sub-task")
    if program.shaping is not None:
        _num(program.shaping.gamma, "gamma")
        p = program.shaping.potential
        if not 0 <= p < len(program.nodes) or program.nodes[p].type != "num":
            raise CodegenError("a potential is a number node")
    low, high = program.bounds
    _num(low, "a reward bound")
    _num(high, "a reward bound")
    _int(program.tile, "the tile size", 1, 1 << 20)


# ---- helpers -----------------------------------------------------------------------------------


def _needed(program: ir.Program, roots: list[int]) -> list[int]:
    return sorted(ir.reachable(program, roots))


def _comps(i: int, type_: str) -> list[str]:
    width = ir.WIDTH[type_]
    return [f"v{i}"] if width == 1 else [f"v{i}_{k}" for k in range(width)]


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, indent: int, text: str = "") -> None:
        self.lines.append("    " * indent + text if text else "")


def _mask_dtype(program: ir.Program) -> tuple[str, int]:
    """Mask element type and pixels per 64-bit word."""
    return ("uint8", 8) if len(program.colors) <= 8 else ("uint16", 4)


class _Plan:
    """Which colours a perception pass needs, and where its results live in the float scratch."""

    def __init__(self, program: ir.Program) -> None:
        self.pixel_slot = {c: k for k, c in enumerate(program.pixel_colors)}
        self.object_slot = {c: k for k, c in enumerate(program.object_colors)}
        self.pix_base = 0
        self.obj_base = 7 * len(self.pixel_slot)
        self.float_size = max(1, self.obj_base + 7 * MAX_OBJECTS * len(self.object_slot))
        self.int_base = HEADER + len(self.object_slot)


def _colors_of(program: ir.Program, nodes: list[int]) -> tuple[list[int], list[int]]:
    pix = sorted({int(program.nodes[i].const[0]) for i in nodes if program.nodes[i].op == "pixels"})
    obj = sorted({int(program.nodes[i].const[0]) for i in nodes if program.nodes[i].op in ir.OBJECT_OPS})
    return pix, obj


# ---- perception --------------------------------------------------------------------------------


def _channel_test(name: str, value: int, tol: int) -> list[str]:
    lo, hi = max(0, value - tol), min(255, value + tol)
    tests = []
    if lo > 0:
        tests.append(f"({name} >= {lo!r})")
    if hi < 255:
        tests.append(f"({name} <= {hi!r})")
    return tests


def _classify(program: ir.Program, colors: list[int]) -> str:
    """One expression: bit c set when the pixel (r, g, b) matches colour c."""
    terms = []
    for c in colors:
        color = program.colors[c]
        shades = []
        for shade in color.shades:
            tests = [t for ch, v in zip(("r", "g", "b"), shade) for t in _channel_test(ch, int(v), int(color.tolerance))]
            shades.append(" & ".join(tests) if tests else "True")
        terms.append(f"(({' | '.join(f'({s})' for s in shades)}) << {c!r})")
    return " | ".join(terms)


def _emit_perceive(out: _Out, program: ir.Program, plan: _Plan, name: str, pix: list[int], obj: list[int]) -> None:
    """The fused perception pass for one set of colours (see the module docstring).

    Hot loops index slices with ``range`` counters, so numba emits no negative-index fix-ups and
    LLVM vectorises them.
    """
    _, per_word = _mask_dtype(program)
    colors = sorted(set(pix) | set(obj))
    ib = plan.int_base
    classify = "_classify" + name.removeprefix("_perceive")
    out(0, NJIT)
    out(0, f"def {classify}(src, dst, n):")
    out(1, "# one bit per colour: a pixel matches a colour when every channel lies in [shade - tol, shade + tol]")
    out(1, "for x in range(n):")
    out(2, "r = src[3 * x]")
    out(2, "g = src[3 * x + 1]")
    out(2, "b = src[3 * x + 2]")
    out(2, f"dst[x] = {_classify(program, colors)}")
    out(0)
    out(0)
    out(0, NJIT)
    out(0, f"def {name}(frame, mk, iw, fw, H, W, Wr):")
    out(1, f"# colours: {', '.join(f'c{c} {_ident(program.colors[c].name)}' for c in colors)}")
    out(1, "if iw[0] != H or iw[1] != W:")
    out(2, "for i in range(H * Wr):")
    out(3, "mk[i] = 0")
    out(2, "iw[0] = H")
    out(2, "iw[1] = W")
    out(1, "f = frame.reshape(H * W * 3)")
    out(1, "if Wr == W:")
    out(2, f"{classify}(f, mk[0:H * W], H * W)")
    out(1, "else:")
    out(2, "for y in range(H):")
    out(3, f"{classify}(f[y * W * 3:(y + 1) * W * 3], mk[y * Wr:y * Wr + W], W)")
    out(1, "m64 = mk.view(np.uint64)")
    out(1, f"nw = Wr // {per_word}")
    for c in pix:
        for stat, init in (("n", 0), ("sx", 0), ("sy", 0), ("x0", 1 << 30), ("y0", 0), ("x1", -1), ("y1", 0)):
            out(1, f"c{c}_{stat} = {init!r}")
    out(1, "nk = 0")
    out(1, "for y in range(H):")
    out(2, "wrow = m64[y * nw:(y + 1) * nw]")
    out(2, "acc = np.uint64(0)")
    out(2, "for k in range(nw):")
    out(3, "acc |= wrow[k]")
    out(2, "if acc == 0:")
    out(3, "continue")
    # Transitions between runs of equal mask values, found a word at a time: d has a non-zero
    # lane wherever a pixel differs from its left neighbour; _LANE (de Bruijn) names the lowest.
    lane_bits = 64 // per_word
    out(2, "prev = 0")
    out(2, "start = 0")
    out(2, "for k in range(nw):")
    out(3, "w = wrow[k]")
    out(3, "d = w ^ ((w << _LANE_SHIFT) | np.uint64(prev))")
    out(3, "while d != 0:")
    out(4, "j = _LANE[((d & (~d + _ONE)) * _DEBRUIJN) >> _SHIFT58]")
    out(4, f"sj = np.uint64({lane_bits} * j)")
    out(4, "d &= ~(_LANE_MASK << sj)")
    out(4, "v = np.int64((w >> sj) & _LANE_MASK)")
    out(4, f"x = {per_word} * k + j")
    _emit_run(out, 4, pix, obj, ib, "x - 1")
    out(4, "start = x")
    out(4, "prev = v")
    out(2, "if prev != 0:")
    _emit_run(out, 3, pix, obj, ib, "W - 1")
    for c in pix:
        b = plan.pix_base + 7 * plan.pixel_slot[c]
        out(1, f"if c{c}_n == 0:")
        for k, v in enumerate(("0.0", "0.0", "0.0", "0.0", "0.0", "-1.0", "-1.0")):
            out(2, f"fw[{b + k}] = {v}")
        out(1, "else:")
        for k, stat in enumerate(("n", "sx", "sy", "x0", "y0", "x1", "y1")):
            out(2, f"fw[{b + k}] = float(c{c}_{stat})")
    if obj:
        out(1, f"vr = iw[{ib}:{ib} + nk]")
        out(1, f"runs = iw[{ib} + H * W:{ib} + 2 * H * W]")
        out(1, f"parent = iw[{ib} + 2 * H * W:{ib} + 3 * H * W]")
    for c in obj:
        slot = plan.object_slot[c]
        out(1, f"# objects of c{c} {_ident(program.colors[c].name)}")
        out(1, f"iw[{HEADER + slot}] = _objects(vr, {1 << c}, runs, parent, fw, {plan.obj_base + 7 * MAX_OBJECTS * slot})")
    out(1, "return 0")
    out(0)
    out(0)


def _emit_run(out: _Out, indent: int, pix: list[int], obj: list[int], ib: int, end: str) -> None:
    """The run [start, end] of row y with mask value prev ends (branch-free; a no-op for prev 0):
    whole-colour statistics, and for object colours the run is recorded, packed as
    (y, start, end, mask value). Writes stay below index ib + H * W: a run is recorded only if it
    has an object colour, and a slot is written only while a later run is still to come."""
    out(indent, f"ln = {end} - start + 1")
    if obj:
        objmask = sum(1 << c for c in obj)
        out(indent, f"iw[{ib} + nk] = (y << {2 * KEY_BITS + 16}) | (start << {KEY_BITS + 16}) | (({end}) << 16) | prev")
        out(indent, f"nk += (prev & {objmask}) != 0")
    for c in pix:
        out(indent, f"t = (prev >> {c}) & 1")
        out(indent, f"c{c}_y0 = y if (t != 0) & (c{c}_n == 0) else c{c}_y0")
        out(indent, f"c{c}_y1 = y if t != 0 else c{c}_y1")
        out(indent, f"c{c}_x0 = start if (t != 0) & (start < c{c}_x0) else c{c}_x0")
        out(indent, f"c{c}_x1 = {end} if (t != 0) & ({end} > c{c}_x1) else c{c}_x1")
        out(indent, f"c{c}_n += t * ln")
        out(indent, f"c{c}_sx += t * (((start + {end}) * ln) // 2)")
        out(indent, f"c{c}_sy += t * (y * ln)")


# ---- the scalar part ---------------------------------------------------------------------------


def _emit_nodes(out: _Out, program: ir.Program, plan: _Plan, nodes: list[int], indent: int) -> None:
    base = StateLayout.of(program).latch_base
    for i in nodes:
        node = program.nodes[i]
        v = _comps(i, node.type)
        a = [_comps(j, program.nodes[j].type) for j in node.args]
        op = node.op
        o = lambda text: out(indent, text)  # noqa: E731
        if op == "const":
            value = node.const[0]
            o(f"{v[0]} = {value!r}" if isinstance(value, bool) else f"{v[0]} = {_num(value, 'a constant')}")
        elif op == "pixels":
            b = plan.pix_base + 7 * plan.pixel_slot[int(node.const[0])]
            for k in range(7):
                o(f"{v[k]} = fw[{b + k}]")
        elif op in ir.OBJECT_OPS:
            _emit_objects(o, program, plan, i, node, v, a)
        elif op == "frame_width":
            o(f"{v[0]} = float(W)")
        elif op == "frame_height":
            o(f"{v[0]} = float(H)")
        elif op == "start":
            off = base + int(node.const[0])
            if node.type == "bool":
                o(f"{v[0]} = state[{off}] != 0.0")
            else:
                for k, name in enumerate(v):
                    o(f"{name} = state[{off + k}]")
        elif op == "tile":
            o(f"{v[0]} = state[{TILE}]")
        else:
            for line in _scalar(op, v, a):
                o(line)


def _scalar(op: str, v: list[str], a: list[list[str]]) -> list[str]:
    """Straight-line code for one scalar op, mirroring carc.interpreter._scalar_op."""
    r = v[0]
    x = [c[0] for c in a]  # first components
    match op:
        case "neg":
            return [f"{r} = -{x[0]}"]
        case "add":
            return [f"{r} = _sat({x[0]} + {x[1]})"]
        case "sub":
            return [f"{r} = _sat({x[0]} - {x[1]})"]
        case "mul":
            return [f"{r} = _sat({x[0]} * {x[1]})"]
        case "div":
            return [f"{r} = _sat({x[0]} / {x[1]}) if {x[1]} != 0.0 else 0.0"]
        case "abs":
            return [f"{r} = abs({x[0]})"]
        case "min":
            return [f"{r} = {x[1]} if {x[1]} < {x[0]} else {x[0]}"]
        case "max":
            return [f"{r} = {x[1]} if {x[1]} > {x[0]} else {x[0]}"]
        case "clamp":
            return [f"{r} = {x[1]} if {x[1]} > {x[0]} else {x[0]}", f"{r} = {x[2]} if {x[2]} < {r} else {r}"]
        case "sqrt":
            return [f"{r} = math.sqrt({x[0]}) if {x[0]} > 0.0 else 0.0"]
        case "floor":
            return [f"{r} = _floor({x[0]})"]
        case "lt" | "le" | "gt" | "ge" | "eq" | "ne":
            sym = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}[op]
            return [f"{r} = {x[0]} {sym} {x[1]}"]
        case "not":
            return [f"{r} = not {x[0]}"]
        case "and" | "or":
            return [f"{r} = {f' {op} '.join(x)}"]
        case "if":
            return [f"{name} = {t} if {x[0]} else {e}" for name, t, e in zip(v, a[1], a[2])]
        case "exists":
            return [f"{r} = {x[0]} > 0.0"]
        case "area":
            return [f"{r} = {x[0]}"]
        case "center":
            g = a[0]
            return [f"{v[0]} = {g[1]} / {g[0]} if {g[0]} > 0.0 else 0.0", f"{v[1]} = {g[2]} / {g[0]} if {g[0]} > 0.0 else 0.0"]
        case "bbox":
            return [f"{v[k]} = {a[0][3 + k]}" for k in range(4)]
        case "fill":
            g = a[0]
            return [f"{r} = _fill({g[0]}, {g[3]}, {g[4]}, {g[5]}, {g[6]})"]
        case "width":
            return [f"{r} = _extent({a[0][0]}, {a[0][2]})"]
        case "height":
            return [f"{r} = _extent({a[0][1]}, {a[0][3]})"]
        case "aspect":
            g = a[0]
            return [f"{r} = _aspect({g[0]}, {g[1]}, {g[2]}, {g[3]})"]
        case "point":
            return [f"{v[0]} = {x[0]}", f"{v[1]} = {x[1]}"]
        case "box":
            return [f"{v[k]} = {x[k]}" for k in range(4)]
        case "x":
            return [f"{r} = {a[0][0]}"]
        case "y":
            return [f"{r} = {a[0][1]}"]
        case "distance":
            p, q = a
            return [f"{r} = _distance({p[0]}, {p[1]}, {q[0]}, {q[1]})"]
        case "manhattan":
            p, q = a
            return [f"{r} = _sat(abs({p[0]} - {q[0]}) + abs({p[1]} - {q[1]}))"]
        case "left_of":
            return [f"{r} = {a[0][0]} < {a[1][0]}"]
        case "right_of":
            return [f"{r} = {a[0][0]} > {a[1][0]}"]
        case "above":
            return [f"{r} = {a[0][1]} < {a[1][1]}"]
        case "below":
            return [f"{r} = {a[0][1]} > {a[1][1]}"]
        case "near":
            p, q, d = a
            return [f"{r} = _distance({p[0]}, {p[1]}, {q[0]}, {q[1]}) <= {d[0]}"]
        case "inside":
            p, b = a
            return [f"{r} = ({b[0]} <= {p[0]} and {p[0]} <= {b[2]}) and ({b[1]} <= {p[1]} and {p[1]} <= {b[3]})"]
        case "contains":
            o, n = a
            return [f"{r} = {o[0]} <= {n[0]} and {n[2]} <= {o[2]} and {o[1]} <= {n[1]} and {n[3]} <= {o[3]}"]
        case "overlaps":
            p, q = a
            return [f"{r} = {p[0]} <= {q[2]} and {q[0]} <= {p[2]} and {p[1]} <= {q[3]} and {q[1]} <= {p[3]}"]
        case "cell":
            p = a[0]
            return [f"{v[0]} = _floor(_per({p[0]}, state[{TILE}]))", f"{v[1]} = _floor(_per({p[1]}, state[{TILE}]))"]
        case "cells":
            return [f"{r} = _per({x[0]}, state[{TILE}])"]
        case "same_cell":
            p, q = a
            t = f"state[{TILE}]"
            return [f"{r} = _floor(_per({p[0]}, {t})) == _floor(_per({q[0]}, {t})) and _floor(_per({p[1]}, {t})) == _floor(_per({q[1]}, {t}))"]
    raise CodegenError(f"no code for op {op!r}")


def _emit_objects(o, program: ir.Program, plan: _Plan, i: int, node: ir.Node, v: list[str], a: list[list[str]]) -> None:
    color = int(node.const[0])
    slot = plan.object_slot[color]
    kinds = [str(k) for k in node.const[1:]]
    o(f"# v{i}: {node.op} of c{color} {_ident(program.colors[color].name)}")
    if node.op == "count":
        o("cnt = 0")
    else:
        for name, init in zip(v, ("0.0", "0.0", "0.0", "0.0", "0.0", "-1.0", "-1.0")):
            o(f"{name} = {init}")
    o(f"for k in range(min(iw[{HEADER + slot}], {MAX_OBJECTS})):")
    ob = plan.obj_base + 7 * MAX_OBJECTS * slot
    inner = []
    inner.append(f"ob = {ob} + 7 * k")
    for k in range(7):
        inner.append(f"a{k} = fw[ob + {k}]")
    for f, kind in enumerate(kinds):
        lo, hi = a[2 * f][0], a[2 * f + 1][0]
        measure = {"area": "a0", "fill": "_fill(a0, a3, a4, a5, a6)", "aspect": "_aspect(a3, a4, a5, a6)"}[kind]
        inner.append(f"m = {measure}")
        inner.append(f"if not ({lo} <= m and m <= {hi}):")
        inner.append("    continue")
    if node.op == "count":
        inner.append("cnt += 1")
    else:
        better = "a0 > " if node.op == "largest" else "a0 < "
        inner.append(f"if {v[0]} == 0.0 or {better}{v[0]}:")
        for k in range(7):
            inner.append(f"    {v[k]} = a{k}")
    for line in inner:
        o("    " + line)
    if node.op == "count":
        o(f"{v[0]} = float(cnt)")


# ---- the module --------------------------------------------------------------------------------

S_Y, S_A, K2, KB, KM, MAXO = 2 * KEY_BITS + 16, KEY_BITS + 16, 2 * KEY_BITS, KEY_BITS, (1 << KEY_BITS) - 1, MAX_OBJECTS

_PRELUDE = f'''
{NJIT}
def _sat(x):
    x = -{BIG} if -{BIG} > x else x
    return {BIG} if {BIG} < x else x


{NJIT}
def _floor(x):
    return np.floor(x) + 0.0


{NJIT}
def _per(x, t):
    return x / t if t > 0.0 else 0.0


{NJIT}
def _extent(lo, hi):
    w = hi - lo + 1.0
    return _sat(w) if w > 0.0 else 0.0


{NJIT}
def _fill(area, x0, y0, x1, y1):
    cover = _extent(x0, x1) * _extent(y0, y1)
    return _sat(area / cover) if cover > 0.0 else 0.0


{NJIT}
def _aspect(x0, y0, x1, y1):
    h = _extent(y0, y1)
    return _sat(_extent(x0, x1) / h) if h > 0.0 else 0.0


@njit("int64(int64[::1], int64, int64[::1], int64[::1], float64[::1], int64)", cache=True, error_model="numpy")
def _objects(vr, bit, runs, parent, fw, ob):
    # The 8-connected components of one colour, from the recorded runs (raster order): maximal
    # runs of the colour, joined to overlapping runs of the row above (union-find, the earlier
    # run is the root), then numbered in raster order of their first pixel; the first MAX_OBJECTS
    # get (area, sum x, sum y, x0, y0, x1, y1) at fw[ob + 7 * n].
    nr = 0
    for i in range(vr.shape[0]):
        e = vr[i]
        if e & bit:
            y = e >> {S_Y}
            a = (e >> {S_A}) & {KM}
            b = (e >> 16) & {KM}
            if nr > 0 and runs[nr - 1] >> {K2} == y and (runs[nr - 1] & {KM}) + 1 == a:
                runs[nr - 1] = (runs[nr - 1] >> {KB} << {KB}) | b
            else:
                runs[nr] = (y << {K2}) | (a << {KB}) | b
                nr += 1
    j0 = 0
    for r in range(nr):
        parent[r] = r
        e = runs[r]
        y = e >> {K2}
        a = (e >> {KB}) & {KM}
        b = e & {KM}
        while runs[j0] >> {K2} < y - 1:
            j0 += 1
        while j0 < r and runs[j0] >> {K2} == y - 1 and (runs[j0] & {KM}) + 1 < a:
            j0 += 1
        j = j0
        while j < r and runs[j] >> {K2} == y - 1 and (runs[j] >> {KB}) & {KM} <= b + 1:
            p = r
            while parent[p] != p:
                parent[p] = parent[parent[p]]
                p = parent[p]
            q = j
            while parent[q] != q:
                parent[q] = parent[parent[q]]
                q = parent[q]
            if p < q:
                parent[q] = p
            elif q < p:
                parent[p] = q
            j += 1
    n = 0
    for r in range(nr):
        e = runs[r]
        y = e >> {K2}
        a = (e >> {KB}) & {KM}
        b = e & {KM}
        p = r
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        if p == r:
            if n < {MAXO}:
                o = ob + 7 * n
                fw[o] = 0.0
                fw[o + 1] = 0.0
                fw[o + 2] = 0.0
                fw[o + 3] = float(a)
                fw[o + 4] = float(y)
                fw[o + 5] = float(b)
                fw[o + 6] = float(y)
                runs[r] = n
                n += 1
            else:
                runs[r] = -1
        else:
            runs[r] = runs[p]
        s = runs[r]
        if s >= 0:
            o = ob + 7 * s
            ln = b - a + 1
            fw[o] += float(ln)
            fw[o + 1] += float(((a + b) * ln) // 2)
            fw[o + 2] += float(y * ln)
            if a < fw[o + 3]:
                fw[o + 3] = float(a)
            if b > fw[o + 5]:
                fw[o + 5] = float(b)
            if y > fw[o + 6]:
                fw[o + 6] = float(y)
    return n


{NJIT}
def _distance(ax, ay, bx, by):
    dx = ax - bx
    dy = ay - by
    return _sat(math.sqrt(dx * dx + dy * dy))

'''


def _emit_guard(out: _Out, ret: str, mask_view: str) -> None:
    """Shape, state and scratch checks shared by reset and step (nothing is written before them),
    then the scratch views: fw (float64), iw (int64: header, runs) and mk (the colour mask)."""
    out(1, "H = frame.shape[0]")
    out(1, "W = frame.shape[1]")
    out(1, "if frame.shape[2] != 3 or H > MAX_SIDE or W > MAX_SIDE:")
    out(2, f"return {ret.format(code=-2)}")
    out(1, "if state.shape[0] != NSTATE:")
    out(2, f"return {ret.format(code=-3)}")
    _emit_views(out, 1, ret.format(code=-4), mask_view)


def _emit_views(out: _Out, indent: int, fail: str, mask_view: str) -> None:
    out(indent, "Wr = ((W + LANES - 1) // LANES) * LANES")
    out(indent, "mk0 = 8 * NF + 8 * (IB + NQ * H * W)")
    out(indent, "if sc.shape[0] < mk0 + MKB * H * Wr:")
    out(indent + 1, f"return {fail}")
    out(indent, "fw = sc[0:8 * NF].view(np.float64)")
    out(indent, "iw = sc[8 * NF:mk0].view(np.int64)")
    out(indent, f"mk = sc[mk0:mk0 + MKB * H * Wr]{mask_view}")


def generate(program: ir.Program) -> str:
    """The Python source of the numba module for a checked program."""
    validate(program)
    layout = StateLayout.of(program)
    plan = _Plan(program)
    dtype, per_word = _mask_dtype(program)
    roots = [s.predicate for s in program.subtasks]
    if program.shaping is not None:
        roots.append(program.shaping.potential)
    step_nodes = _needed(program, roots)
    latch_nodes = _needed(program, [latch.source for latch in program.latches])
    pot_nodes = _needed(program, [program.shaping.potential]) if program.shaping is not None else []
    step_pix, step_obj = _colors_of(program, step_nodes)
    reset_pix, reset_obj = _colors_of(program, latch_nodes + pot_nodes)
    nq = 3 if program.object_colors else 0

    out = _Out()
    out(0, '"""A reward kernel generated by carc from a checked program. Do not edit."""')
    out(0)
    out(0, "import math")
    out(0)
    out(0, "import numpy as np")
    out(0, "from numba import njit")
    out(0)
    out(0, f"# program {_ident(program.name)}")
    for c, color in enumerate(program.colors):
        out(0, f"# colour c{c}: {_ident(color.name)}")
    for s in program.subtasks:
        out(0, f"# sub-task {s.index}: {_ident(s.name)}")
    out(0, f"NSTATE = {layout.size!r}")
    out(0, f"NSUB = {len(program.subtasks)!r}")
    out(0, f"DEFAULT_TILE = {float(program.tile)!r}")
    out(0, f"MAX_SIDE = {MAX_SIDE!r}")
    out(0, f"MAX_OBJECTS = {MAX_OBJECTS!r}")
    out(0, f"MAX_TILE = {MAX_TILE!r}")
    out(0, f"IB = {plan.int_base!r}")
    out(0, f"NQ = {nq!r}")
    out(0, f"NF = {plan.float_size!r}")
    out(0, f"MKB = {2 if dtype == 'uint16' else 1!r}")
    out(0, f"LANES = {per_word!r}")
    lane_bits = 64 // per_word
    lanes = [0] * 64
    for bit in range(64):
        lanes[((1 << bit) * DEBRUIJN % (1 << 64)) >> 58] = bit // lane_bits
    out(0, f"_LANE = ({', '.join(repr(v) for v in lanes)})")
    out(0, f"_LANE_SHIFT = np.uint64({lane_bits!r})")
    out(0, f"_LANE_MASK = np.uint64({(1 << lane_bits) - 1!r})")
    out(0, "_ONE = np.uint64(1)")
    out(0, f"_DEBRUIJN = np.uint64({DEBRUIJN!r})")
    out(0, "_SHIFT58 = np.uint64(58)")
    out(0, f"LOW = {_num(program.bounds[0], 'a bound')}")
    out(0, f"HIGH = {_num(program.bounds[1], 'a bound')}")
    for line in _PRELUDE.splitlines():
        out(0, line)
    out(0)
    has_step_perception = bool(step_pix or step_obj)
    has_reset_perception = bool(reset_pix or reset_obj)
    if has_step_perception:
        _emit_perceive(out, program, plan, "_perceive_step", step_pix, step_obj)
    # Reset reuses the step's pass when that pass already covers every colour reset reads.
    reset_perceive = "_perceive_step"
    if has_reset_perception and not (set(reset_pix) <= set(step_pix) and set(reset_obj) <= set(step_obj)):
        reset_perceive = "_perceive_reset"
        _emit_perceive(out, program, plan, "_perceive_reset", reset_pix, reset_obj)

    scratch_sig = "uint8[::1]"
    mask_view = "" if dtype == "uint8" else ".view(np.uint16)"
    # ---- step ----
    out(0, f'@njit("Tuple((float64, int64))({SIG_FRAME}, float64[:], {scratch_sig})", cache=True, error_model="numpy")')
    out(0, "def _step1(frame, state, sc):")
    _emit_guard(out, "0.0, {code}", mask_view)
    if has_step_perception:
        out(1, "_perceive_step(frame, mk, iw, fw, H, W, Wr)")
    _emit_nodes(out, program, plan, step_nodes, 1)
    out(1, "reward = 0.0")
    out(1, "event = -1")
    out(1, f"p = state[{PROGRESS}]")
    out(1, "if p > -1e18 and p < 1e18:")
    out(2, "stage = int(p)")
    out(2, f"while stage < {len(program.stages)}:")
    out(3, f"s = stage + {len(program.stages)} if stage < 0 else stage")
    out(3, "if s < 0:")
    out(4, "break")
    out(3, "complete = True")
    for k, stage in enumerate(program.stages):
        out(3, f"{'if' if k == 0 else 'elif'} s == {k}:")
        for s in stage.subtasks:
            out(4, f"# {_ident(s.name)}")
            out(4, f"if state[{DONE + s.index}] == 0.0:")
            out(5, f"if v{s.predicate}:")
            out(6, f"state[{DONE + s.index}] = 1.0")
            out(6, f"reward += {_num(s.bonus, 'a bonus')}")
            out(6, f"event = {s.index!r}")
            out(5, "else:")
            out(6, "complete = False")
    out(3, "if not complete:")
    out(4, "break")
    out(3, "stage += 1")
    out(2, f"state[{PROGRESS}] = float(stage)")
    if program.shaping is not None:
        pot = f"v{program.shaping.potential}"
        out(1, f"reward += {_num(program.shaping.gamma, 'gamma')} * {pot} - state[{PREVIOUS_POTENTIAL}]")
        out(1, f"state[{PREVIOUS_POTENTIAL}] = {pot}")
    out(1, "reward = LOW if LOW > reward else reward")
    out(1, "reward = HIGH if HIGH < reward else reward")
    out(1, "return reward, event")
    out(0)
    out(0)
    # ---- reset ----
    out(0, f'@njit("int64({SIG_FRAME}, float64[:], {scratch_sig})", cache=True, error_model="numpy")')
    out(0, "def _reset1(frame, state, sc):")
    _emit_guard(out, "{code}", mask_view)
    out(1, f"state[{PROGRESS}] = 0.0")
    for s in program.subtasks:
        out(1, f"state[{DONE + s.index}] = 0.0")
    if has_reset_perception:
        out(1, f"{reset_perceive}(frame, mk, iw, fw, H, W, Wr)")
    if program.latches:
        _emit_nodes(out, program, plan, latch_nodes, 1)
        for latch in program.latches:
            src = program.nodes[latch.source]
            for k, name in enumerate(_comps(latch.source, src.type)):
                value = f"1.0 if {name} else 0.0" if src.type == "bool" else name
                out(1, f"state[{layout.latch_base + latch.offset + k}] = {value}")
    out(1, f"state[{PREVIOUS_POTENTIAL}] = 0.0")
    if program.shaping is not None:
        _emit_nodes(out, program, plan, pot_nodes, 1)
        out(1, f"state[{PREVIOUS_POTENTIAL}] = v{program.shaping.potential}")
    out(1, "return 0")
    out(0)
    out(0)
    # ---- batches ----
    for kind in ("step", "reset"):
        outs = ", rewards, events" if kind == "step" else ""
        outs_sig = ", float64[:], int64[:]" if kind == "step" else ""
        out(0, f'@njit("int64({SIG_FRAMES}, float64[:, :]{outs_sig}, {scratch_sig})", cache=True, error_model="numpy")')
        out(0, f"def _{kind}_batch(frames, states{outs}, sc):")
        out(1, "N = frames.shape[0]")
        out(1, "H = frames.shape[1]")
        out(1, "W = frames.shape[2]")
        cond = "states.shape[0] != N" + (" or rewards.shape[0] != N or events.shape[0] != N" if kind == "step" else "")
        out(1, f"if {cond}:")
        out(2, "return -5")
        out(1, "if frames.shape[3] != 3 or H > MAX_SIDE or W > MAX_SIDE:")
        out(2, "return -2")
        out(1, "if states.shape[1] != NSTATE:")
        out(2, "return -3")
        _emit_views(out, 1, "-4", mask_view)
        out(1, "for i in range(N):")
        if kind == "step":
            out(2, "reward, event = _step1(frames[i], states[i], sc)")
            out(2, "rewards[i] = reward")
            out(2, "events[i] = event")
        else:
            out(2, "_reset1(frames[i], states[i], sc)")
        out(1, "return 0")
        out(0)
        out(0)
    out(0, _WRAPPERS)
    return "\n".join(out.lines).rstrip() + "\n"


# The plain-Python entry points (identical for every program; they only check input and own scratch).
_WRAPPERS = '''
def _scratch(h, w):
    return np.zeros(8 * NF + 8 * (IB + NQ * h * w) + MKB * h * (((w + LANES - 1) // LANES) * LANES), np.uint8)


_SC = _scratch(0, 0)


def _grow(h, w):
    global _SC
    bigger = _scratch(h, w)
    if bigger.shape[0] <= _SC.shape[0]:
        raise ValueError("internal error: the scratch buffer does not fit the frame")
    _SC = bigger


def _frame(frame, ndim):
    if not isinstance(frame, np.ndarray):
        raise ValueError("frames are uint8 arrays of shape (H, W, 3), got a non-array: " + repr(frame)[:80])
    if frame.dtype != np.uint8 or frame.ndim != ndim or frame.shape[ndim - 1] != 3:
        raise ValueError("frames are uint8 arrays of shape (H, W, 3), got " + str(frame.dtype) + " " + str(frame.shape))
    if frame.shape[ndim - 3] > MAX_SIDE or frame.shape[ndim - 2] > MAX_SIDE:
        raise ValueError("frame " + str(frame.shape) + " is larger than " + str(MAX_SIDE) + " pixels on a side")
    if not frame.flags.c_contiguous or not frame.flags.writeable:
        frame = np.array(frame, dtype=np.uint8, order="C")
    return frame


def _array(value, what, dtype, ndim):
    if not isinstance(value, np.ndarray) or value.dtype != dtype or value.ndim != ndim:
        raise ValueError(what + " must be a " + str(ndim) + "-d " + str(np.dtype(dtype)) + " array")
    if not value.flags.writeable:
        raise ValueError(what + " must be writeable")


def _fail(code, shape, nstate):
    if code == -2:
        raise ValueError("frames are uint8 arrays of shape (H, W, 3) with sides at most " + str(MAX_SIDE) + ", got " + str(shape))
    if code == -3:
        raise ValueError("a state row has " + str(NSTATE) + " slots, got " + str(nstate) + " (use new_state)")
    if code == -5:
        raise ValueError("frames, states, rewards_out and events_out must have the same length")
    _grow(shape[-3], shape[-2])


def new_state(n=1, tile=None):
    """An (n, NSTATE) float64 state array for n environments; tile: grid cell size, 1 to MAX_TILE pixels."""
    if tile is not None and not 1 <= tile <= MAX_TILE:
        raise ValueError("tile must be a size from 1 to " + str(MAX_TILE) + " pixels, not " + repr(tile))
    state = np.zeros((n, NSTATE), np.float64)
    state[:, 2] = DEFAULT_TILE if tile is None else tile
    return state


def step(frame, state):
    """Reward for arriving at frame, and the last sub-task completed (-1 if none)."""
    try:
        result = _step1(frame, state, _SC)
    except TypeError:
        frame = _frame(frame, 3)
        _array(state, "a state row", np.float64, 1)
        result = _step1(frame, state, _SC)
    while result[1] < -1:
        _fail(result[1], frame.shape, state.shape[0])
        result = _step1(frame, state, _SC)
    return result


def reset(frame, state):
    """Start an episode on frame: progress, latched values and the shaping potential."""
    try:
        code = _reset1(frame, state, _SC)
    except TypeError:
        frame = _frame(frame, 3)
        _array(state, "a state row", np.float64, 1)
        code = _reset1(frame, state, _SC)
    while code < 0:
        _fail(code, frame.shape, state.shape[0])
        code = _reset1(frame, state, _SC)


def step_batch(frames, states, rewards_out, events_out):
    """step for N environments in one call: frames (N, H, W, 3), states (N, NSTATE)."""
    try:
        code = _step_batch(frames, states, rewards_out, events_out, _SC)
    except TypeError:
        frames = _frame(frames, 4)
        _array(states, "states", np.float64, 2)
        _array(rewards_out, "rewards_out", np.float64, 1)
        _array(events_out, "events_out", np.int64, 1)
        code = _step_batch(frames, states, rewards_out, events_out, _SC)
    while code < 0:
        _fail(code, frames.shape, states.shape[-1])
        code = _step_batch(frames, states, rewards_out, events_out, _SC)


def reset_batch(frames, states):
    """reset for N environments in one call."""
    try:
        code = _reset_batch(frames, states, _SC)
    except TypeError:
        frames = _frame(frames, 4)
        _array(states, "states", np.float64, 2)
        code = _reset_batch(frames, states, _SC)
    while code < 0:
        _fail(code, frames.shape, states.shape[-1])
        code = _reset_batch(frames, states, _SC)
'''
