"""The language reference, generated: the README's language section and docs/language.md come from
here, and here from the op table (every built-in's type, meaning and empty-region value) and the
grammar, so none of them can drift from what the checker accepts (tests/test_language_docs.py;
regenerate with `python scripts/make_language_docs.py`).

>>> "| `left(b: rect)` → num |" in builtin_table()
True
"""

from __future__ import annotations

from carc.core.resources import grammar_text
from carc.lang.builtins import BUILTINS, TYPE_NAMES, Signature

ITEMS: tuple[tuple[str, str], ...] = (
    ("`observe rgb [tile N]`", "the program reads `(H, W, 3) uint8` frames; `tile` is the grid cell size in pixels "
                               "(MiniGrid envs are rendered at it)"),
    ("`use NAME`", "import a stdlib module: its colours, lets and helpers"),
    ("`color NAME = rgb(r, g, b) \\| rgb(...) tol T`", "a palette entry: a pixel matches when `max(\\|p - shade\\|) <= T` "
                                                        "for any shade"),
    ("`let NAME = EXPR`", "a named value, computed once per frame"),
    ("`def NAME(p: type, ...) -> type = EXPR`", "a helper, inlined at compile time (it may call built-ins and earlier helpers "
                                                "only: no recursion); `def NAME() -> type = EXPR` takes no parameters and is "
                                                "called as `NAME()`"),
    ("`subtask NAME \"description\" bonus B : PRED`", "a step of the task; its bonus is paid once, when it completes"),
    ("`group NAME \"description\" { subtask ... }`", "sub-tasks that may complete in any order"),
    ("`shaping gamma G : EXPR`", "potential-based shaping `r += G * phi(s') - phi(s)` (leaves optimal policies unchanged)"),
    ("`reward in [LO, HI]`", "declared reward bounds (default: the bounds carc proves)"),
)

TYPES: dict[str, str] = {
    "num": "a number (float64)",
    "bool": "true or false",
    "point": "a position (x, y) in pixels; x grows to the right, y grows downwards, (0, 0) is the top-left pixel",
    "box": "a box (x0, y0, x1, y1) in pixels, corners included: x0 is its left column, y0 its top row",
    "region": "a set of pixels (one object, or every pixel of a colour), with its area, centre and bounding box; "
              "empty when the object is absent",
    "objects": "the connected objects of one colour, filterable by size and shape; pick one with `largest` or `smallest`",
    "color": "a palette entry declared with `color` (here or in a `use`d module)",
}

KINDS: dict[str, str] = {
    "pos": "a point, or a region (it stands for its centre)",
    "rect": "a box, or a region (it stands for its bounding box)",
    "any": "any value type but objects and color (the result has the same type)",
}

RULES: tuple[str, ...] = (
    "Sub-tasks complete in order: each frame, the current sub-task (or every open member of the current group) is tested, "
    "and several may complete on one frame. The last one is the goal.",
    "An empty region is an absent object. A relation (`near`, `inside`, `left_of`, `same_cell`, ...) with a region "
    "argument is false when that region is empty; a measure gives the value in the table's last column (`center` gives "
    "(0, 0), so `distance` to an absent object is its distance to the top-left corner): guard measures with `exists`.",
    "`if C then A else B` works on every value type but objects and color: both branches have one type, which may be "
    "num, bool, point, box or region (`if exists(a) then a else b` picks a region).",
    "A `def` may have no parameters (`def goal_seen() -> bool = exists(goal)`, called as `goal_seen()`); parameters and "
    "the result are typed with num, bool, point, box, region, objects or color.",
    "Names: a `let`, colour or helper parameter may take a built-in's name (`let box = ...`, `let point = ...`); where "
    "such a value is in scope the program cannot call that built-in (error E401 at the call: rename one of them). A "
    "`def` may not take a built-in's name, and no name may be defined twice (E302).",
    "`start(e)` is the value of `e` on the episode's first frame (after reset), kept all episode; `start` cannot be "
    "nested, nor applied to a value that already uses `start`.",
    "Arithmetic is total: division by zero gives 0, the square root of a negative gives 0, every result is clamped to "
    "±1e15, so no value is ever infinite or NaN; the reward is clamped to its bounds.",
)


def call(name: str, sig: Signature) -> str:
    """`name(parameter: kind, ...)` → result, as the table shows a built-in."""
    return f"`{name}({', '.join(f'{n}: {k}' for n, k in zip(sig.names, sig.params))})` → {sig.result}"


def builtin_table() -> str:
    """Every built-in: its call and type, its meaning, what an empty region (absent object) gives."""
    rows = ["| built-in | meaning | on an empty region (absent object) |", "| --- | --- | --- |"]
    for name, sigs in BUILTINS.items():
        for sig in sigs:
            rows.append(f"| {call(name, sig)} | {_cell(sig.meaning)} | {_cell(sig.empty) or '-'} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _items_table() -> str:
    return "\n".join(["| item | meaning |", "| --- | --- |", *(f"| {item} | {meaning} |" for item, meaning in ITEMS)])


def readme_section(pointer: str = " docs/language.md adds the grammar.") -> str:
    """The body of the README's `## The language` section (up to the next `## ` heading)."""
    return "\n".join([
        "A file is a `program` (a reward) or a `module` (a library in `stdlib/`, e.g. `use minigrid`).",
        "Items start with a keyword; layout is free; `#` starts a comment." + pointer,
        "",
        _items_table(),
        "",
        "Types:",
        "",
        *(f"- `{name}`: {TYPES[name]}" for name in TYPE_NAMES),
        "",
        "A built-in's parameter of kind " + "; of kind ".join(f"`{kind}` takes {text}" for kind, text in KINDS.items()) + ".",
        "Operators: `+ - * /`, `< <= > >= == !=` (on two numbers; `==` and `!=` also on two booleans), `and`, `or`, "
        "`not`, `if C then A else B`.",
        "",
        builtin_table(),
        "",
        *(f"- {rule}" for rule in RULES),
        "",
    ])


def language_doc() -> str:
    """docs/language.md: the README section with the grammar."""
    return "\n".join([
        "# The carc language",
        "",
        "Generated from the op table (`carc/ir/ops.py`) and the grammar by `python scripts/make_language_docs.py`;",
        "do not edit by hand.",
        "",
        readme_section(pointer=""),
        "## Grammar",
        "",
        "The grammar (Lark, LALR(1)) is the only definition of the syntax:",
        "",
        "```lark",
        grammar_text().strip(),
        "```",
        "",
    ])


README_HEADING = "## The language\n\n"


def with_readme_section(readme: str) -> str:
    """The README text with its language section replaced by `readme_section()`."""
    start = readme.index(README_HEADING) + len(README_HEADING)
    end = readme.index("\n## ", start) + 1
    return readme[:start] + readme_section() + "\n" + readme[end:]
