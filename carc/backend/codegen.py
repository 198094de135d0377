"""Code generation: the Python source of a program's kernel, written from the checked IR only.

No program text and no string from a model reaches the source: names are identifiers carc makes
(`v12`, `v9_3`), numbers appear only as ``repr(float(x))`` / ``repr(int(x))`` of validated numbers,
and colour / sub-task names appear only inside comments after matching an identifier pattern.
``carc.backend.srccheck`` whitelists the result before anything compiles it.

A kernel is the library (carc/backend/library.py: input checks, perception's generic steps, the
stage logic over small tables, the batch loops; compiled once per carc version into the trusted
cache) and the program's own small module, which is all that compiles per program:

* the header: carc's constants and the program's (state size, scratch geometry);
* the classifiers, one per perception pass (carc/backend/perception.py's per-pixel test of every
  shade; a costly one skips the rows, and the segments of rows, that repeat the row above);
* ``_program(mode, fw, iw, state, H, W, ow)``: carc/backend/scalar.py's straight-line code: the
  reset's latches into the state (mode 1 only), then one value per sub-task's predicate and the
  potential into ``ow`` (both modes);
* ``_HEAD``, the table the library reads from the scratch buffer's header: geometry, the stages'
  sub-tasks and bonuses, gamma, the reward bounds, each perception pass's colour tables and the links
  to the classifiers and ``_program`` (carc.backend.linkage: addresses, filled in by
  carc.backend.kernel when it loads the module);
* the entry points (carc/backend/template.py): ``new_state``, ``reset``, ``step``, ``reset_batch``,
  ``step_batch``, thin Python wrappers that share one preallocated scratch buffer, grown only when
  a larger frame arrives. Bad input raises ``ValueError``.

``generate(program)`` is the standalone form (``carc compile -o``): the same module with the runtime,
the library's text and two link functions that call the program's functions by name, so it needs
only numpy and numba. ``generate(program, standalone=False)`` is the form the kernel cache compiles.

Every index is in range by construction: loops run over ``range`` of array lengths; the mask has
``H * Wr`` cells (Wr: W rounded up to whole words); a colour's span table holds ``H * ((W + 1) // 2)``
spans (a row has at most that many runs of one colour, a frame at most H blocks of rows); object
tables hold MAX_OBJECTS entries and counts are capped.

>>> from carc.lang.checker import check_text
>>> src = generate(check_text('program p "d" observe rgb color red = rgb(255, 0, 0) tol 10 '
...                           'subtask s "red" bonus 1 : exists(pixels(red))'))
>>> "def step(frame, state):" in src and "def _program(mode, fw, iw, state, H, W, ow):" in src
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from carc import ir
from carc.backend import header
from carc.backend.emit import NJIT, Out, comment_name, components
from carc.backend.header import CLASSIFY_SIGNATURE, LINK_CLASSIFY_RESET, LINK_CLASSIFY_STEP, LINK_PROGRAM, PROGRAM_SIGNATURE
from carc.backend.perception import (
    HEADER,
    MAX_COLORS,
    MAX_OBJECTS,
    REGION,
    Plan,
    classify_expression,
    colors_of,
    mask_dtype,
    run_tables,
)
from carc.backend.scalar import EMPTY_REGION, Measures, emit_nodes, helpers
from carc.backend.template import ENTRY_POINTS, library_constants, library_source, runtime_source
from carc.ir.intervals import magnitudes
from carc.ir.layout import StateLayout
from carc.ir.verifier import IDENTIFIER, finite, verify_program

__all__ = ["CODEGEN_VERSION", "IDENTIFIER", "generate"]

CODEGEN_VERSION = "8"
INLINE_LINES = 600  # a longer _program calls the shared measures instead (numba's cost grows faster than its length)
# Comparing rows with the row above costs a pass over the frame; it pays only when classifying a pixel
# costs more. Measured (DoorKey frames, tiles 8 and 32): 8 shades 2.47 / 21.7 us with it, 2.09 / 17.9 us
# without; 24 shades 4.29 / 34.3 us with, 4.57 / 42.4 us without. So: more than 12 shades. Measured
# again with segments (scripts/measure_kernel_floor.py): doorkey's 8 shades 2.12 / 21.5 us comparing,
# 1.89 / 19.0 us not. With the compare of wide rows vectorised, comparing wide rows pays even for
# doorkey's 8 shades (tile 32: 13.6-15.3 us against 20.1-20.4), but a cheap classifier with both row
# shapes compiles in 2.4-2.7 s against 1.5-1.7 s (two more copies of its pixel loop): not taken.
ROW_REPEAT_SHADES = 12
SEGMENT = 32  # pixels a changed row is compared and classified by (rows up to twice as wide: whole)
MAX_SEGMENTS = 64  # whole segments a row's bit set holds (an int64): a row with more is compared whole
# Pixels the classifier's loop over a row's tail (or a whole narrow row) takes at a time: the count is
# rounded up to it. LLVM runs a loop with fewer pixels than its vector body holds as scalar code; on
# a CPU with 512-bit vectors that body holds 64 pixels, and with 32 the tails of 88-pixel rows (tile
# 8) ran scalar (measured on Zen 5: unlock 1.60 -> 1.13 us, blockedunlockpickup 3.07 -> 1.82 us a
# frame for the classifier at tile 8; others unchanged).
VECTOR = 64
# The program's compiled functions: called by address (or by name from njit code), never from Python.
NJIT_SIGNED = '@njit("{sig}", cache=True, error_model="numpy", no_cpython_wrapper=True, _nrt=False)'


@dataclass(frozen=True)
class _Parts:
    """What one program needs: the nodes each entry point evaluates and the colours each perceives."""

    step_nodes: list[int]
    latch_nodes: list[int]
    step_colors: tuple[list[int], list[int]]
    reset_colors: tuple[list[int], list[int]]

    @classmethod
    def of(cls, program: ir.Program) -> _Parts:
        roots = [s.predicate for s in program.subtasks]
        if program.shaping is not None:
            roots.append(program.shaping.potential)
        step = sorted(ir.reachable(program, roots))
        latch = sorted(ir.reachable(program, [latch.source for latch in program.latches]))
        potential = sorted(ir.reachable(program, [program.shaping.potential])) if program.shaping is not None else []
        return cls(step, latch, colors_of(program, step), colors_of(program, latch + potential))

    @property
    def reset_pass(self) -> bool:
        """Whether reset needs a pass of its own (else it reuses the step's, which covers its colours, or has none)."""
        (step_pix, step_obj), (reset_pix, reset_obj) = self.step_colors, self.reset_colors
        return bool(reset_pix or reset_obj) and not (set(reset_pix) <= set(step_pix) and set(reset_obj) <= set(step_obj))


def generate(program: ir.Program, standalone: bool = True) -> str:
    """The Python source of a checked program's kernel module: standalone (library included, for
    ``carc compile -o``), or the program's own part that the kernel cache links to its library."""
    verify_program(program)
    plan = Plan(program)
    parts = _Parts.of(program)
    out = Out()
    _emit_header(out, program, plan)
    if standalone:
        out(0, runtime_source())
        out(0)
    passes = _emit_classifiers(out, program, parts)
    _emit_program(out, program, plan, parts)
    if standalone:
        _emit_links(out, passes)
        out(0, library_source())
    _emit_head(out, program, plan, parts)
    out(0, ENTRY_POINTS)
    return "\n".join(out.lines).rstrip() + "\n"


def _emit_header(out: Out, program: ir.Program, plan: Plan) -> None:
    layout = StateLayout.of(program)
    dtype, per_word = mask_dtype(program)
    out(0, '"""A reward kernel generated by carc from a checked program. Do not edit."""')
    out(0)
    out(0, "import math")
    out(0)
    out(0, "import numpy as np")
    out(0, "from numba import njit")
    out(0)
    out(0, f"# program {comment_name(program.name)}")
    for c, color in enumerate(program.colors):
        out(0, f"# colour c{c}: {comment_name(color.name)}")
    for s in program.subtasks:
        out(0, f"# sub-task {s.index}: {comment_name(s.name)}")
    for line in library_constants():
        out(0, line)
    out(0, f"NSTATE = {layout.size!r}")
    out(0, f"NSUB = {len(program.subtasks)!r}")
    out(0, f"DEFAULT_TILE = {float(program.tile)!r}")
    out(0, f"INT_BASE = {plan.int_base!r}")
    out(0, f"RUN_TABLES = {run_tables(program)!r}")
    out(0, f"FLOAT_SLOTS = {plan.float_size!r}")
    out(0, f"MASK_BYTES = {2 if dtype == 'uint16' else 1!r}")
    out(0, f"LANES = {per_word!r}")
    out(0, f"EMPTY = ({', '.join(EMPTY_REGION)})  # an empty region, which object queries that find nothing read")
    out(0)


def _emit_classifiers(out: Out, program: ir.Program, parts: _Parts) -> list[tuple[int, str]]:
    """One classifier per perception pass (step, and reset when it needs its own); returns each one's
    link number and name."""
    passes = []
    if parts.step_colors[0] or parts.step_colors[1]:
        passes.append((LINK_CLASSIFY_STEP, "_step", sorted(set(parts.step_colors[0]) | set(parts.step_colors[1]))))
    if parts.reset_pass:
        passes.append((LINK_CLASSIFY_RESET, "_reset", sorted(set(parts.reset_colors[0]) | set(parts.reset_colors[1]))))
    view = "mk" if mask_dtype(program)[0] == "uint8" else "mk.view(np.uint16)"
    for _, suffix, colors in passes:
        out(0, NJIT_SIGNED.format(sig=CLASSIFY_SIGNATURE))
        out(0, f"def _classify{suffix}_rows(f, mk, same, H, W, Wr):")
        out(1, "# one bit per colour: a pixel matches a colour when every channel lies in [shade - tol, shade + tol]")
        out(1, f"m = {view}")
        if sum(len(program.colors[c].shades) for c in colors) > ROW_REPEAT_SHADES:
            _emit_segment_rows(out, classify_expression(program, colors), mask_dtype(program)[1])
        else:
            _emit_all_rows(out, classify_expression(program, colors))
        out(1, "return 0")
        out(0)
        out(0)
    return [(link, f"_classify{suffix}_rows") for link, suffix, _ in passes]


def _emit_all_rows(out: Out, expression: str) -> None:
    """Classify every row (consecutive rows in one loop when rows have no padding); none is a repeat."""
    out(1, "for y in range(H):")
    out(2, "same[y] = 0")
    out(1, "q = 0")
    out(1, "while q < H:")
    out(2, "p = H if Wr == W else q + 1")
    out(2, "n = (p - q) * W")
    out(2, "src = f[q * W * 3:q * W * 3 + 3 * n]")
    out(2, "dst = m[q * Wr:q * Wr + n]")
    _emit_pixel_loop(out, 2, expression, "n")
    out(2, "q = p")


def _emit_segment_rows(out: Out, expression: str, lanes: int) -> None:
    """Compare each row with the row above (``_emit_row_compare``): a row equal to it is marked
    (same[y] = 1) and not classified. A row of at most 2 * SEGMENT pixels (or of more than
    MAX_SEGMENTS whole segments) is classified whole when it differs. A wider row is cut into whole
    SEGMENT-pixel segments and a tail: the segments equal to the row above take their mask from the
    last classified row (which the rows in between repeat), ``lanes`` mask cells to a word, and only
    the others are classified, whole segments in loops of a fixed length (which LLVM vectorises)."""
    out(1, "n3 = 3 * W")
    out(1, "nw = n3 // 8 if n3 % 8 == 0 else 0")
    out(1, "w = f[0:(f.shape[0] // 8) * 8].view(np.uint64)")
    out(1, f"wide = {2 * SEGMENT!r} < W and W < {(MAX_SEGMENTS + 1) * SEGMENT!r}")
    out(1, f"nfull = W // {SEGMENT!r} if wide else 0")
    out(1, f"nseg = (W + {SEGMENT - 1!r}) // {SEGMENT!r} if wide else min(W, 1)")
    out(1, "m64 = mk[0:(mk.shape[0] // 8) * 8].view(np.uint64)")
    out(1, "last = 0")
    out(1, "for y in range(H):")
    out(2, "changed = -1  # bit nfull - 1 - s: whole segment s differs from the row above (-1: all of them)")
    out(2, "tail = -1  # the tail (or a narrow row) differs")
    out(2, "if y > 0 and (wide or nw > 0):")
    _emit_row_compare(out)
    out(2, "same[y] = 0")
    out(2, "for s in range(nseg):")
    out(3, f"x0 = s * {SEGMENT!r}")
    out(3, "q = y * Wr + x0")
    out(3, "if s < nfull and (changed >> (nfull - 1 - s)) & 1:")
    out(4, f"src = f[3 * (y * W + x0):3 * (y * W + x0 + {SEGMENT!r})]")
    out(4, f"dst = m[q:q + {SEGMENT!r}]")
    _emit_pixel_loop(out, 4, expression, repr(SEGMENT))
    out(3, "elif s == nfull and tail != 0:")
    out(4, "# the tail (or a whole narrow row) in whole vectors: pixels past it are classified too and")
    out(4, "# overwritten after (or never read)")
    out(4, f"n = min((W - x0 + {VECTOR - 1!r}) // {VECTOR!r} * {VECTOR!r}, H * W - y * W - x0)")
    out(4, "src = f[3 * (y * W + x0):3 * (y * W + x0 + n)]")
    out(4, "dst = m[q:q + n]")
    _emit_pixel_loop(out, 4, expression, "n")
    for test, count in (("elif s < nfull:", repr(SEGMENT // lanes)), ("else:", f"(Wr - x0) // {lanes!r}")):
        out(3, test)
        out(4, "# whole 64-bit words: mask rows (Wr cells) and segments start on word boundaries")
        out(4, f"p = (last * Wr + x0) // {lanes!r}")
        out(4, f"q = q // {lanes!r}")
        out(4, f"for x in range({count}):")
        out(5, "m64[q + x] = m64[p + x]")
    out(2, "for x in range(y * Wr + W, (y + 1) * Wr):")
    out(3, "m[x] = 0")
    out(2, "last = y")


def _emit_row_compare(out: Out) -> None:
    """Row y against the row above. A wide row: bytes, whole segments in loops of a fixed length
    (LLVM vectorises each whole: ``changed`` is shifted, not or-ed, so that the loop over segments,
    a recurrence, stays scalar; or-ed, it was vectorised across segments with gathers), then the
    tail. A narrow row (of nw 64-bit words): four words at a time up to the first difference. Rows
    are sliced first, so that no index can be negative (numba adds a wrap-around test to every
    index it cannot prove is not). A row with no difference is marked and skipped."""
    seg = 3 * SEGMENT
    out(3, "if wide:")
    out(4, "cur = f[n3 * y:n3 * (y + 1)]")
    out(4, "above = f[n3 * (y - 1):n3 * y]")
    out(4, "changed = 0")
    out(4, "for s in range(nfull):")
    out(5, "diff = np.uint8(0)")
    out(5, f"for k in range({seg!r}):  # a fixed count: vectorised whole")
    out(6, f"diff = np.uint8(diff | (cur[{seg!r} * s + k] ^ above[{seg!r} * s + k]))")
    out(5, "changed = (changed << 1) | (diff != 0)")
    out(4, "tail = 0")
    out(4, "if nseg > nfull:  # the tail: the row's last whole segment of bytes, which overlaps it")
    out(5, f"cur = cur[n3 - {seg!r}:n3]")
    out(5, f"above = above[n3 - {seg!r}:n3]")
    out(5, "diff = np.uint8(0)")
    out(5, f"for k in range({seg!r}):")
    out(6, "diff = np.uint8(diff | (cur[k] ^ above[k]))")
    out(5, "tail = diff")
    out(3, "else:")
    out(4, "row = w[y * nw:(y + 1) * nw]")
    out(4, "up = w[(y - 1) * nw:y * nw]")
    out(4, "d = np.uint64(0)")
    out(4, "k = 0")
    out(4, "while k + 4 <= nw and d == 0:")
    out(5, "d = (row[k] ^ up[k]) | (row[k + 1] ^ up[k + 1]) | (row[k + 2] ^ up[k + 2]) | (row[k + 3] ^ up[k + 3])")
    out(5, "k += 4")
    out(4, "while k < nw and d == 0:")
    out(5, "d = row[k] ^ up[k]")
    out(5, "k += 1")
    out(4, "changed = 0 if d == 0 else -1")
    out(4, "tail = changed")
    out(3, "if changed == 0 and tail == 0:")
    out(4, "same[y] = 1")
    out(4, "continue")


def _emit_pixel_loop(out: Out, depth: int, expression: str, count: str) -> None:
    """The branch-free loop LLVM vectorises: the ``count`` pixels of src (r, g, b bytes) into dst."""
    out(depth, f"for x in range({count}):")
    out(depth + 1, "r = src[3 * x]")
    out(depth + 1, "g = src[3 * x + 1]")
    out(depth + 1, "b = src[3 * x + 2]")
    out(depth + 1, f"dst[x] = {expression}")


def _emit_program(out: Out, program: ir.Program, plan: Plan, parts: _Parts) -> None:
    """``_program``: the reset (mode 1) first latches its values into the state, then both modes
    compute every sub-task's predicate and the potential (which may read the latches) into ``ow``.
    One body for both keeps the code to compile small; reset ignores the predicates. The shared
    measures are written out in place unless that makes the body longer than INLINE_LINES; then
    they are small functions it calls (carc.backend.scalar.Measures)."""
    bounds = magnitudes(program)
    body = _program_body(program, plan, parts, Measures(), bounds)
    if len(body.lines) > INLINE_LINES:
        body = _program_body(program, plan, parts, Measures(inline=False), bounds)
        out(0, helpers())
        out(0)
    out(0, NJIT_SIGNED.format(sig=PROGRAM_SIGNATURE))
    out(0, "def _program(mode, fw, iw, state, H, W, ow):")
    out.lines += body.lines
    out(0)
    out(0)


def _program_body(program: ir.Program, plan: Plan, parts: _Parts, measures: Measures, bounds: list[float]) -> Out:
    layout = StateLayout.of(program)
    out = Out()
    if program.latches:
        out(1, "if mode == 1:")
        out(2, "# the reset: values latched from the episode's first frame")
        emit_nodes(out, program, plan, parts.latch_nodes, 2, measures, bounds)
        for latch in program.latches:
            src = program.nodes[latch.source]
            for k, name in enumerate(components(latch.source, src.type)):
                value = f"1.0 if {name} else 0.0" if src.type == "bool" else name
                out(2, f"state[{layout.latch_base + latch.offset + k}] = {value}")
    out(1, "# each sub-task's predicate, then the potential")
    emit_nodes(out, program, plan, parts.step_nodes, 1, measures, bounds)
    for s in program.subtasks:
        out(1, f"ow[{s.index}] = 1.0 if v{s.predicate} else 0.0")
    if program.shaping is not None:
        out(1, f"ow[{len(program.subtasks)}] = v{program.shaping.potential}")
    out(1, "return 0")
    out.lines = _without_dead_values(out.lines)
    return out


_VALUE = re.compile(r"\bv\d+(?:_\d)?\b")
_VALUE_ASSIGNMENT = re.compile(r" *(v\d+(?:_\d)?) = ")


def _without_dead_values(lines: list[str]) -> list[str]:
    """Drop the assignments of node values no later line reads (a region's unused components, say):
    they are pure (array reads and arithmetic) and each value is assigned before it is read, so
    this changes no result, and numba has less to compile."""
    live: set[str] = set()
    kept = []
    for line in reversed(lines):
        target = _VALUE_ASSIGNMENT.match(line)
        if target is not None and target.group(1) not in live:
            continue
        live.update(_VALUE.findall(line))
        kept.append(line)
    return kept[::-1]


def _emit_links(out: Out, passes: list[tuple[int, str]]) -> None:
    """A standalone kernel's links: its own functions, called by name (the header holds link numbers),
    and plain numba views for carc.backend.linkage's ``_as_words``."""
    out(0, NJIT)
    out(0, "def _classify_link(link, f, mk, same, H, W, Wr):")
    for link, name in passes:
        out(1, f"if link == {link!r}:")
        out(2, f"return {name}(f, mk, same, H, W, Wr)")
    out(1, "return 0")
    out(0)
    out(0)
    out(0, NJIT)
    out(0, "def _program_link(link, mode, fw, iw, state, H, W, ow):")
    out(1, "return _program(mode, fw, iw, state, H, W, ow)")
    out(0)
    out(0)
    out(0, NJIT)
    out(0, "def _as_words(sc):")
    out(1, "return sc.view(np.int64), sc.view(np.float64)")
    out(0)
    out(0)


def _bits(x: object, what: str) -> int:
    """A finite float's IEEE bits as an int64 (how the header holds floats)."""
    return int(np.array([finite(x, what)], np.float64).view(np.int64)[0])


def _pass_table(program: ir.Program, plan: Plan, link: int, colors: tuple[list[int], list[int]]) -> list[int]:
    """A perception pass's table (carc.backend.header's PASS_*): link, colour bits, where results go."""
    pix, obj = colors
    table = [link, sum(1 << c for c in pix), sum(1 << c for c in obj)]
    table += [plan.pix_base + REGION * plan.pixel_slot[c] if c in pix else -1 for c in range(MAX_COLORS)]
    table += [plan.obj_base + REGION * MAX_OBJECTS * plan.object_slot[c] if c in obj else -1 for c in range(MAX_COLORS)]
    table += [HEADER + plan.object_slot[c] if c in obj else -1 for c in range(MAX_COLORS)]
    table += [plan.object_slot[c] if c in obj else -1 for c in range(MAX_COLORS)]
    return table


def _emit_head(out: Out, program: ir.Program, plan: Plan, parts: _Parts) -> None:
    """``_HEAD``: the program's table for the library (carc.backend.header's HEAD_* words)."""
    dtype, per_word = mask_dtype(program)
    tables = [0]
    for stage in program.stages:
        tables.append(tables[-1] + len(stage.subtasks))
    tables += [s.index for stage in program.stages for s in stage.subtasks]
    tables += [_bits(s.bonus, "a bonus") for s in program.subtasks]
    step_at = reset_at = 0  # 0: no pass
    if parts.step_colors[0] or parts.step_colors[1]:
        step_at = header.HEAD_TABLES + len(tables)
        tables += _pass_table(program, plan, LINK_CLASSIFY_STEP, parts.step_colors)
    if parts.reset_pass:
        reset_at = header.HEAD_TABLES + len(tables)
        tables += _pass_table(program, plan, LINK_CLASSIFY_RESET, parts.reset_colors)
    elif parts.reset_colors[0] or parts.reset_colors[1]:
        reset_at = step_at  # the step's pass covers every colour reset reads
    words = {
        header.HEAD_WORDS: header.HEAD_TABLES + len(tables), header.HEAD_NSTATE: StateLayout.of(program).size,
        header.HEAD_FLOAT_SLOTS: plan.float_size, header.HEAD_INT_BASE: plan.int_base,
        header.HEAD_RUN_TABLES: run_tables(program), header.HEAD_MASK_BYTES: 2 if dtype == "uint16" else 1,
        header.HEAD_LANES: per_word, header.HEAD_STEP_PASS: step_at, header.HEAD_RESET_PASS: reset_at,
        header.HEAD_PROGRAM: LINK_PROGRAM, header.HEAD_NSUB: len(program.subtasks), header.HEAD_NSTAGE: len(program.stages),
        header.HEAD_SHAPING: int(program.shaping is not None), header.HEAD_LOW: _bits(program.bounds[0], "a bound"),
        header.HEAD_HIGH: _bits(program.bounds[1], "a bound"),
        header.HEAD_GAMMA: _bits(program.shaping.gamma, "gamma") if program.shaping is not None else 0,
    }
    head = [words[k] for k in range(header.HEAD_TABLES)] + tables
    out(0, "# the library's table: geometry, stages, bonuses, bounds, perception passes, links (carc.backend.linkage)")
    out(0, f"_HEAD = np.array(({', '.join(repr(int(v)) for v in head)},), np.int64)")
