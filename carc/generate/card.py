"""The language card: what a model needs to write carc, generated from the checker's own tables.

The syntax is the grammar file itself; the built-ins are every entry of `carc.lang.builtins.BUILTINS`
(so the card cannot drift from the checker); reserved words come from the grammar's keywords and
the caps from `carc.core.limits`. The prose says what a model cannot guess from those tables:
evaluation order, what a region is, what happens to an absent object, what a name may not be.

>>> "distance(pos, pos) -> num" in language_card()
True
"""

from __future__ import annotations

import re
from functools import cache

from carc.core.limits import LIMITS
from carc.core.resources import grammar_text
from carc.lang.builtins import BUILTINS, TYPE_NAMES, Signature

TYPE_DOCS: dict[str, str] = {
    "num": "a number (float64)",
    "bool": "true or false",
    "point": "a position (x, y) in pixels; x grows to the right, y grows downwards",
    "box": "a bounding box (x0, y0, x1, y1) in pixels, inclusive",
    "region": "a set of pixels (one object, or all pixels of a colour); may be empty",
    "objects": f"the connected objects of one colour (at most {int(LIMITS['max_objects'].cap)}, in raster order), filterable",
    "color": "a palette entry declared with `color` (here or in a `use`d module)",
}

KIND_DOCS: dict[str, str] = {
    "pos": "a point, or a region (stands for its centre)",
    "rect": "a box, or a region (stands for its bounding box)",
    "any": "a value of any type (the result has the same type)",
}

SEMANTICS = """\
- A program is evaluated once per frame, top to bottom; there are no loops, no recursion, no
  assignment and no state other than `start(...)` and the sub-task progress.
- Sub-tasks complete in the order written: each frame only the current sub-task is tested (or every
  open member of the current `group`, which may complete in any order); several may complete on one
  frame. A sub-task's bonus is paid once, on the frame it completes. The LAST sub-task is the goal:
  it must hold exactly when the task is solved, and must not hold before.
- `start(e)` is the value of `e` on the episode's first frame (e.g. where an object started, how many
  keys there were). `start` cannot be nested.
- `shaping gamma G : EXPR` adds G * EXPR(now) - EXPR(before) each step; EXPR is a potential, e.g.
  minus a distance to the goal. At most one shaping item.
- A relation (`near`, `inside`, `same_cell`, `left_of`, ...) whose operand is an empty region (an
  absent object) is false; `center` of an empty region is (0, 0), so guard measures with `exists`.
- Arithmetic is total: x / 0 is 0, sqrt of a negative is 0, results are clamped to +-1e15.
- Names: a `let`, colour or parameter may take a built-in's name (`let box = ...` is fine), but where
  it is in scope that built-in cannot be called (`box(...)` is then an error: rename one). A `def` may
  not take a built-in's name; no name may be a reserved word, or a name defined earlier or by a `use`d
  module. A `def` may call only built-ins and earlier defs, and may have no parameters (`f()`).
- A colour matches a pixel when every channel is within `tol` of one of its shades.
  Use the palette of the environment's module (`use minigrid`, `use panda`): its colours were
  measured on these very frames.
- Text outside string literals is ASCII; strings have no escapes; `#` starts a comment.
- `observe rgb tile N` declares the grid cell size in pixels (MiniGrid); `tile()` returns it."""


def keywords() -> list[str]:
    """The reserved words: every quoted lower-case word in the grammar."""
    return sorted(set(re.findall(r'"([a-z]+)"', grammar_text())))


def signature(name: str, sig: Signature) -> str:
    """`name(kind, ...) -> result`: arguments are positional, so only their kinds are shown."""
    return f"{name}({', '.join(sig.params)}) -> {sig.result}"


def builtin_lines() -> list[str]:
    """One Markdown bullet per signature of every built-in."""
    return [f"- `{signature(name, sig)}`: {sig.doc}" for name, sigs in BUILTINS.items() for sig in sigs]


def _limit_line() -> str:
    wanted = ("max_subtasks", "max_colors", "max_objects", "max_params", "max_bytes", "max_depth")
    return "; ".join(f"at most {int(LIMITS[name].cap)} {LIMITS[name].what}" for name in wanted)


@cache
def language_card() -> str:
    """The card as Markdown (deterministic: the same text for the same carc)."""
    kinds = sorted({kind for sigs in BUILTINS.values() for sig in sigs for kind in sig.params if kind in KIND_DOCS})
    return "\n".join([
        "## The carc language",
        "",
        "A reward program is one file: a `program` header, `observe rgb`, optional `use`, `color`, `let`,",
        "`def`, then one or more `subtask` (or `group`), an optional `shaping` and optional `reward in [lo, hi]`.",
        "",
        "### Syntax (the grammar, Lark EBNF; the only definition of the syntax)",
        "",
        "```lark",
        grammar_text().strip(),
        "```",
        "",
        "Keywords (do not use them as names): " + ", ".join(keywords()) + ".",
        "",
        "### Types",
        "",
        *(f"- `{name}`: {TYPE_DOCS[name]}" for name in TYPE_NAMES),
        "",
        "Parameter kinds in the signatures below: "
        + "; ".join(f"`{kind}` is {KIND_DOCS[kind]}" for kind in kinds) + ".",
        "",
        "### Built-in functions (the complete list)",
        "",
        "Arguments are positional. The descriptions call them a and b, or p (positions, boxes), c (a colour),",
        "x (a number), lo and hi (the last two, bounds), d (a distance) and e (any expression).",
        "",
        *builtin_lines(),
        "",
        "Operators: `+ - * /`, comparisons `< <= > >= == !=`, `and`, `or`, `not`, `if C then A else B`.",
        "",
        "### Meaning",
        "",
        SEMANTICS,
        "",
        f"Limits: {_limit_line()}.",
    ])
