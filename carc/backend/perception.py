"""Perception's per-program part: which colours a pass needs, where its results go, and the classifier.

Frames repeat rows (MiniGrid draws tiles: at tile 32 most rows equal the row above byte for byte).
A pass's classifier (generated per program by carc.backend.codegen) writes one bit per colour into a
mask with a branch-free loop, which LLVM vectorises, testing the shades of the colours needed
(``classify_expression``: ``lo <= channel <= hi`` per channel, the exact interval form of the
interpreter's ``max |p - shade| <= tol``, the boxes merged and the shared tests factored out by
carc.backend.boxes). When that test is costly (more than ROW_REPEAT_SHADES
shades), the classifier first compares each row with the row above: a row equal to it is marked
and not classified, and in a row that differs, only the segments of SEGMENT pixels that differ are
classified; the others take their bits from the last classified row. The runtime's
``_scan``, generic over colours, cuts each block of equal rows into runs of equal mask value
standing for rectangles: whole-colour statistics add up per run with the block's row count as
multiplicity, and the runs of object colours are joined into 8-connected objects. Only the
classifier is specific to a program; ``Plan`` says where the results live.
"""

from __future__ import annotations

from carc import ir
from carc.backend import boxes
from carc.core.limits import LIMITS, MAX_SIDE
from carc.ir.ops import Op

MAX_OBJECTS = int(LIMITS["max_objects"].cap)
MAX_COLORS = int(LIMITS["max_colors"].cap)  # the runtime's colour tables have this many entries
REGION = ir.WIDTH["region"]  # float slots per region: area, sum x, sum y, x0, y0, x1, y1
# The int scratch starts with [0] H and [1] W the mask padding was zeroed for, then, from SPAN_CURSORS,
# three words per colour for the scan (carc.backend.runtime._add_span), then from HEADER the object
# count of each object colour (by its slot), then the run tables: one span table per object colour,
# and the components' parent links, of H * ((W + 1) // 2) words each (a colour has at most that many
# spans: (W + 1) // 2 in a row, and H blocks of rows).
SPAN_CURSORS = 8
HEADER = SPAN_CURSORS + 3 * MAX_COLORS
KEY_BITS = (MAX_SIDE - 1).bit_length()  # coordinates pack into KEY_BITS bits each (as in the runtime)


def run_tables(program: ir.Program) -> int:
    """How many run tables the int scratch holds: a span table per object colour and the parent links."""
    return len(program.object_colors) + 1 if program.object_colors else 0


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


def classify_expression(program: ir.Program, colors: list[int]) -> str:
    """One expression: bit c set when the pixel (r, g, b) matches colour c (carc.backend.boxes)."""
    terms = []
    for c in colors:
        color = program.colors[c]
        terms.append(f"(({boxes.expression(boxes.shade_boxes(color.shades, color.tolerance))}) << {c!r})")
    return " | ".join(terms)
