"""Layer 1: the checked program as a typed graph of operations, its passes and its verifier.

>>> from carc.ir import Node, Op
>>> Node(Op.CONST, "num", (), (1.0,)).type
'num'
"""

from carc.ir.nodes import (
    BIG,
    WIDTH,
    Color,
    Latch,
    Node,
    Program,
    Shaping,
    Stage,
    Subtask,
    ValueType,
    canonical_order,
    reachable,
)
from carc.ir.ops import IR_OPS, OBJECT_QUERIES, SPECS, Group, Op, OpSpec

__all__ = ["BIG", "IR_OPS", "OBJECT_QUERIES", "SPECS", "WIDTH", "Color", "Group", "Latch", "Node", "Op", "OpSpec", "Program",
           "Shaping", "Stage", "Subtask", "ValueType", "canonical_order", "reachable"]
