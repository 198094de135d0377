"""The per-environment state vector shared by the interpreter and compiled kernels.

======================== =====================================================
slot                     meaning
======================== =====================================================
PROGRESS                 index of the current stage (float holding an integer)
PREVIOUS_POTENTIAL       shaping potential of the previous frame
TILE                     grid tile size in pixels (a parameter: reset keeps it)
DONE + i                 1.0 once sub-task i has completed this episode
latch_base + offset      values latched from the episode's first frame
======================== =====================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from carc import ir
from carc.core.limits import MAX_SIDE

PROGRESS = 0
PREVIOUS_POTENTIAL = 1
TILE = 2
DONE = 3

__all__ = ["DONE", "MAX_SIDE", "PREVIOUS_POTENTIAL", "PROGRESS", "TILE", "StateLayout"]


@dataclass(frozen=True)
class StateLayout:
    subtasks: int
    latch_width: int

    @classmethod
    def of(cls, program: ir.Program) -> StateLayout:
        return cls(len(program.subtasks), program.latch_width)

    @property
    def latch_base(self) -> int:
        return DONE + self.subtasks

    @property
    def size(self) -> int:
        return self.latch_base + self.latch_width
