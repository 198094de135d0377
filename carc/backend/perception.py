"""The perception emitter: one fused pass per set of colours (see carc.backend.codegen).

A branch-free loop, which LLVM vectorises, classifies every pixel against every shade of the
colours needed (``lo <= channel <= hi`` per channel: the exact interval form of the interpreter's
``max |p - shade| <= tol``) and writes one bit per colour into a mask. A scan of the mask, a 64-bit
word at a time (rows with no match are skipped whole; inside a row only the places where the mask
value changes are visited), cuts each row into runs of equal mask value: whole-colour statistics
(count, sums, bounds) add up per run that has one of them, for colours some ``pixels`` node reads, and the
runs of colours whose objects are asked for are recorded in raster order; the runtime's
``_objects`` joins them into 8-connected objects.
"""

from __future__ import annotations

from carc import ir
from carc.backend.emit import NJIT, Out, comment_name
from carc.core.limits import LIMITS, MAX_SIDE
from carc.ir.ops import Op
from carc.ir.verifier import CHANNEL_MAX

MAX_OBJECTS = int(LIMITS["max_objects"].cap)
REGION = ir.WIDTH["region"]  # float slots per region: area, sum x, sum y, x0, y0, x1, y1
HEADER = 8  # int scratch: [0] H and [1] W the mask padding was zeroed for, then object counts
DEBRUIJN = 0x03F79D71B4CB0A89  # lowest-set-bit index by multiply and table (64-bit de Bruijn)
WORD_BITS = 64
KEY_BITS = (MAX_SIDE - 1).bit_length()  # coordinates pack into KEY_BITS bits each (as in the runtime)


def mask_dtype(program: ir.Program) -> tuple[str, int]:
    """Mask element type and pixels per 64-bit word."""
    return ("uint8", 8) if len(program.colors) <= 8 else ("uint16", 4)


class Plan:
    """Which colours a perception pass needs, and where its results live in the float scratch."""

    def __init__(self, program: ir.Program) -> None:
        self.pixel_slot = {c: k for k, c in enumerate(program.pixel_colors)}
        self.object_slot = {c: k for k, c in enumerate(program.object_colors)}
        self.pix_base = 0
        self.obj_base = REGION * len(self.pixel_slot)
        self.float_size = max(1, self.obj_base + REGION * MAX_OBJECTS * len(self.object_slot))
        self.int_base = HEADER + len(self.object_slot)


def colors_of(program: ir.Program, nodes: list[int]) -> tuple[list[int], list[int]]:
    pix = sorted({int(program.nodes[i].const[0]) for i in nodes if program.nodes[i].op == Op.PIXELS})
    obj = sorted({int(program.nodes[i].const[0]) for i in nodes if program.nodes[i].op in ir.OBJECT_QUERIES})
    return pix, obj


def _channel_test(name: str, value: int, tol: int) -> list[str]:
    lo, hi = max(0, value - tol), min(CHANNEL_MAX, value + tol)
    tests = []
    if lo > 0:
        tests.append(f"({name} >= {lo!r})")
    if hi < CHANNEL_MAX:
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


def emit_perceive(out: Out, program: ir.Program, plan: Plan, name: str, pix: list[int], obj: list[int]) -> None:
    """The fused perception pass for one set of colours (see the module docstring): a classifier,
    then one function that classifies the frame into the mask, scans it and stores the results.

    Hot loops index slices with ``range`` counters, so numba emits no negative-index fix-ups and
    LLVM vectorises them.
    """
    colors = sorted(set(pix) | set(obj))
    classify = "_classify" + name.removeprefix("_perceive")
    _emit_classifier(out, program, classify, colors)
    out(0, NJIT)
    out(0, f"def {name}(frame, mk, iw, fw, H, W, Wr):")
    out(1, f"# colours: {', '.join(f'c{c} {comment_name(program.colors[c].name)}' for c in colors)}")
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
    _emit_scan(out, program, plan, pix, obj)
    _emit_results(out, program, plan, pix, obj)
    out(1, "return 0")
    out(0)
    out(0)


def _emit_classifier(out: Out, program: ir.Program, classify: str, colors: list[int]) -> None:
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


def _emit_scan(out: Out, program: ir.Program, plan: Plan, pix: list[int], obj: list[int]) -> None:
    """The mask scan, a 64-bit word at a time: rows with no match are skipped whole; transitions
    between runs of equal mask values are found by a non-zero lane of d wherever a pixel differs
    from its left neighbour (_LANE, by de Bruijn multiplication, names the lowest)."""
    _, per_word = mask_dtype(program)
    lane_bits = WORD_BITS // per_word
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
    _emit_run(out, 4, pix, obj, plan.int_base, "x - 1")
    out(4, "start = x")
    out(4, "prev = v")
    out(2, "if prev != 0:")
    _emit_run(out, 3, pix, obj, plan.int_base, "W - 1")


def _emit_results(out: Out, program: ir.Program, plan: Plan, pix: list[int], obj: list[int]) -> None:
    """Whole-colour statistics into the float scratch, then each object colour's objects."""
    ib = plan.int_base
    for c in pix:
        b = plan.pix_base + REGION * plan.pixel_slot[c]
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
        out(1, f"# objects of c{c} {comment_name(program.colors[c].name)}")
        out(1, f"iw[{HEADER + slot}] = _objects(vr, {1 << c}, runs, parent, fw, {plan.obj_base + REGION * MAX_OBJECTS * slot})")


def _emit_run(out: Out, indent: int, pix: list[int], obj: list[int], ib: int, end: str) -> None:
    """The run [start, end] of row y with mask value prev ends (a no-op for prev 0): for object
    colours the run is recorded (branch-free), packed as (y, start, end, mask value); whole-colour
    statistics add up (branch-free inside one test of whether the run has any pixel colour: on real
    frames most runs have none, so the test is predicted and the updates skipped). Writes stay below
    index ib + H * W: a run is recorded only if it has an object colour, and a slot is written only
    while a later run is still to come."""
    out(indent, f"ln = {end} - start + 1")
    if obj:
        objmask = sum(1 << c for c in obj)
        out(indent, f"iw[{ib} + nk] = (y << RUN_ROW_SHIFT) | (start << RUN_FIRST_SHIFT) | (({end}) << RUN_LAST_SHIFT) | prev")
        out(indent, f"nk += (prev & {objmask}) != 0")
    if not pix:
        return
    out(indent, f"if prev & {sum(1 << c for c in pix)!r}:")
    for c in pix:
        out(indent + 1, f"t = (prev >> {c}) & 1")
        out(indent + 1, f"c{c}_y0 = y if (t != 0) & (c{c}_n == 0) else c{c}_y0")
        out(indent + 1, f"c{c}_y1 = y if t != 0 else c{c}_y1")
        out(indent + 1, f"c{c}_x0 = start if (t != 0) & (start < c{c}_x0) else c{c}_x0")
        out(indent + 1, f"c{c}_x1 = {end} if (t != 0) & ({end} > c{c}_x1) else c{c}_x1")
        out(indent + 1, f"c{c}_n += t * ln")
        out(indent + 1, f"c{c}_sx += t * (((start + {end}) * ln) // 2)")
        out(indent + 1, f"c{c}_sy += t * (y * ln)")
