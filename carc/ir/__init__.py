"""Layer 1: the checked program as a typed graph of operations, its passes and its verifier.

>>> from carc.ir import Node
>>> Node("const", "num", (), (1.0,)).type
'num'
"""

from carc.ir.nodes import (
    BIG,
    OBJECT_OPS,
    WIDTH,
    Color,
    Latch,
    Node,
    ObjectFilter,
    Program,
    Shaping,
    Stage,
    Subtask,
    ValueType,
    reachable,
)

__all__ = ["BIG", "OBJECT_OPS", "WIDTH", "Color", "Latch", "Node", "ObjectFilter", "Program", "Shaping", "Stage",
           "Subtask", "ValueType", "reachable"]
