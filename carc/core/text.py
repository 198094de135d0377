"""Literal text: the shortest carc literal for a number or a string, shared by the printer and dumps.

>>> format_number(0.5), format_number(3.0), format_string("open the door")
('0.5', '3', '"open the door"')
"""

from __future__ import annotations

import math


def format_number(value: float) -> str:
    """The shortest text that the grammar's NUMBER reads back as this (non-negative) float."""
    if not math.isfinite(value):
        raise ValueError(f"carc has no literal for {value!r}")
    # repr is the shortest text that reads back as the same float: "0.1", "1e-05", "1e+16" all
    # match NUMBER ([0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?); whole numbers drop their ".0".
    text = repr(float(abs(value)))
    if text.endswith(".0"):
        text = text[:-2]
    return "-" + text if value < 0 else text


def format_string(text: str) -> str:
    if '"' in text or "\\" in text or "\n" in text:
        raise ValueError(f"carc has no literal for the string {text!r}")
    return f'"{text}"'
