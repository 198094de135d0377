"""What every emitter shares: the line writer, node value names and safe literals.

Names in generated code are ones carc makes (`v12`, `v9_3`, `c2_sx`); numbers appear only as
``repr(float(x))`` / ``repr(int(x))`` of validated numbers; names from a program appear only in
comments, after matching an identifier pattern.

>>> components(12, "point")
['v12_0', 'v12_1']
>>> literal(0.5, "a bonus")
'0.5'
"""

from __future__ import annotations

from carc import ir
from carc.ir.verifier import IDENTIFIER, finite

NJIT = '@njit(cache=True, error_model="numpy", _nrt=False)'
MAX_COMMENT_NAME = 64


def literal(x: object, what: str) -> str:
    """A finite number as Python source (a float literal), or IRError."""
    return repr(finite(x, what))


def comment_name(name: object) -> str:
    """A name safe to show in a comment, or a placeholder."""
    return name if isinstance(name, str) and IDENTIFIER.match(name) and len(name) <= MAX_COMMENT_NAME else "?"


def components(i: int, type_: str) -> list[str]:
    """The variables holding node i's value: one per scalar component."""
    width = ir.WIDTH[type_]
    return [f"v{i}"] if width == 1 else [f"v{i}_{k}" for k in range(width)]


class Out:
    """Collects generated lines: ``out(indent, text)``."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, indent: int, text: str = "") -> None:
        self.lines.append("    " * indent + text if text else "")
