"""Named limits on program size and shape. Each has a default and the error code it raises.

>>> LIMITS["max_depth"].cap
64
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    name: str
    cap: float
    code: str
    what: str


_LIMITS = (
    Limit("max_bytes", 65_536, "E104", "bytes of program text"),
    Limit("max_tokens", 8_192, "E105", "tokens"),
    Limit("max_depth", 64, "E106", "levels of expression nesting"),
    Limit("max_nodes", 8_192, "E107", "syntax nodes"),
    Limit("max_inlined_nodes", 16_384, "E108", "expression nodes after inlining helpers"),
    Limit("max_subtasks", 32, "E109", "sub-tasks"),
    Limit("max_colors", 16, "E110", "colours used by one program"),
    Limit("max_shades", 64, "E110", "colour shades used by one program"),
    Limit("max_objects", 32, "E111", "objects kept per colour"),
    Limit("max_number", 1e9, "E112", "magnitude of a numeric literal"),
    Limit("min_number", 1e-9, "E112", "magnitude of a non-zero numeric literal"),
    Limit("max_literal_chars", 32, "E112", "characters in a numeric literal"),
    Limit("max_string_chars", 200, "E113", "characters in a string literal"),
    Limit("max_name_chars", 64, "E114", "characters in a name"),
    Limit("max_params", 8, "E115", "parameters of a helper"),
    Limit("max_tile", 256, "E112", "pixels in a grid tile"),
)

LIMITS: dict[str, Limit] = {limit.name: limit for limit in _LIMITS}

MAX_SIDE = 4096
"""Frames larger than this on a side are refused (the interval proofs and the kernels' packed run
keys assume it)."""

MAX_EPISODES = 10_000
"""Episodes one command records, verifies or evaluates with at most (the paper's verification uses
120): a count beyond it is refused before anything is recorded or held in memory."""
