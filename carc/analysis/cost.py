"""The cost model: a static bound on the operations one step performs, as a formula in the frame's
height H and width W, and the same operations counted on a real frame (measured <= bound).

Each IR node costs one evaluation; object queries also scan the kept objects once per size filter
and once to select (`OBJECT_SCANS`, keyed by op: tests/test_ops.py checks it covers every op).

>>> from carc.lang.checker import check_text
>>> cost_bound(check_text('program p "d" observe rgb subtask s "s" bonus 1 : true'), (4, 4))["formula"]
'0*H*W + 4'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from carc import ir
from carc.core.limits import LIMITS
from carc.interpreter import Interpreter, _measure, check_frame, color_mask, components
from carc.ir.layout import DONE, PROGRESS
from carc.ir.ops import IR_OPS, OBJECT_QUERIES, Op

MAX_OBJECTS = int(LIMITS["max_objects"].cap)
# Connected components, per matched pixel of an object colour: visit it, check its 8 neighbours,
# add it to its object's statistics, and at most one new object; plus one seed test per pixel.
COMPONENT_WORK_PER_PIXEL = 12
REWARD_UPDATE = 2  # add the shaping term, clamp


def _no_scan(node: ir.Node) -> int:
    return 0


def _query_scans(node: ir.Node) -> int:
    """A query's const is (colour, *size filters): one scan per filter and one to select."""
    return MAX_OBJECTS * len(node.const)


OBJECT_SCANS: dict[Op, Callable[[ir.Node], int]] = {
    **{op: _no_scan for op in IR_OPS},
    **{op: _query_scans for op in OBJECT_QUERIES},
}
"""Per op, the bound on object-table entries a node scans per step."""


def cost_terms(program: ir.Program) -> dict[str, dict[str, int]]:
    """Per-pixel coefficients and per-frame constants of the operation-count bound."""
    colors = len(program.colors)
    shades = sum(len(c.shades) for c in program.colors)
    object_colors = len(program.object_colors)
    per_pixel = {
        "pixel_scan": 1 if colors else 0,
        "shade_tests": shades,
        "color_matches": colors,
        "components": COMPONENT_WORK_PER_PIXEL * object_colors,
    }
    constant = {
        "object_scans": sum(OBJECT_SCANS[n.op](n) for n in program.nodes),
        "nodes_evaluated": len(program.nodes),
        "subtask_checks": len(program.subtasks),
        "reward_update": REWARD_UPDATE,
    }
    return {"per_pixel": per_pixel, "constant": constant}


def cost_bound(program: ir.Program, frame_shape: tuple[int, int]) -> dict[str, Any]:
    """The static bound on operations per frame, as a formula in H and W and its value."""
    terms = cost_terms(program)
    a, b = sum(terms["per_pixel"].values()), sum(terms["constant"].values())
    h, w = frame_shape
    return {
        "formula": f"{a}*H*W + {b}",
        "per_pixel": a,
        "constant": b,
        "terms": terms,
        "H": h,
        "W": w,
        "value": a * h * w + b,
        "model": (
            "operations of one step on an HxW frame: one pass over the pixels with one test per colour shade and one "
            f"accumulation per matching colour; connected components at most {COMPONENT_WORK_PER_PIXEL} operations per pixel "
            f"per object colour; each object query scans at most {MAX_OBJECTS} objects once per size filter and once to select; "
            "each IR node evaluated once; each sub-task predicate checked at most once; reward update and clamp. "
            "reset() evaluates a subset of the same nodes, so the same bound holds. measured_cost() counts these on a frame."
        ),
    }


def measured_cost(program: ir.Program, frame: np.ndarray, state: np.ndarray | None = None) -> int:
    """Operations one step performs on `frame`, counted as the cost model counts them."""
    return sum(measured_cost_terms(program, frame, state).values())


def measured_cost_terms(program: ir.Program, frame: np.ndarray, state: np.ndarray | None = None) -> dict[str, int]:
    """The terms of `measured_cost`: the same names as `cost_terms`, counted on a real frame."""
    check_frame(frame)
    interpreter = Interpreter(program)
    if state is None:
        state = interpreter.new_state(1)[0]
    pixels = int(frame.shape[0] * frame.shape[1])
    masks = [color_mask(frame, color) for color in program.colors]
    counts = {"pixel_scan": pixels if program.colors else 0,
              "shade_tests": pixels * sum(len(c.shades) for c in program.colors),
              "color_matches": int(sum(int(m.sum()) for m in masks)), "components": 0}
    objects: dict[int, list[tuple[float, ...]]] = {}
    for c in program.object_colors:
        matched = int(masks[c].sum())
        found = components(masks[c]) if matched else []
        counts["components"] += pixels + 10 * matched + len(found)
        objects[c] = found[:MAX_OBJECTS]
    values = interpreter.evaluate(frame, state)
    scans = 0
    for node in program.nodes:
        if node.op in OBJECT_QUERIES:
            kept = objects[int(node.const[0])]
            bounds = [values[a] for a in node.args]
            for k, measure in enumerate(node.const[1:]):
                scans += len(kept)
                kept = [r for r in kept if bounds[2 * k] <= _measure(str(measure), r) <= bounds[2 * k + 1]]
            scans += len(kept)
    checks, stage = 0, int(state[PROGRESS])
    done = {s.index for s in program.subtasks if state[DONE + s.index] != 0.0}
    while stage < len(program.stages):
        complete = True
        for sub in program.stages[stage].subtasks:
            if sub.index not in done:
                checks += 1
                if values[sub.predicate]:
                    done.add(sub.index)
                else:
                    complete = False
        if not complete:
            break
        stage += 1
    counts.update({"object_scans": scans, "nodes_evaluated": len(program.nodes), "subtask_checks": checks, "reward_update": REWARD_UPDATE})
    return counts
