"""The op table is the one list of operations: every pass that dispatches on ops covers every op a
checked program can hold, the built-ins table is derived from it, and the IR verifier refuses
what the table does not allow."""

from __future__ import annotations

import dataclasses

import pytest

from carc import ir
from carc.analysis.cost import OBJECT_SCANS
from carc.analysis.lints import FOLD
from carc.backend.scalar import EMITTERS
from carc.interpreter import SEMANTICS
from carc.ir.intervals import TRANSFER
from carc.ir.ops import BINARY_OPERATORS, FILTERS, IR_OPS, OBJECT_QUERIES, SPECS, Group, Op
from carc.ir.verifier import _RULES, IRError, verify_program
from carc.lang.builtins import BUILTINS
from carc.lang.checker import check_text

TABLES = {"interpreter": SEMANTICS, "codegen": EMITTERS, "intervals": TRANSFER, "cost": OBJECT_SCANS, "lints": FOLD}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_dispatch_table_covers_every_ir_op(name: str) -> None:
    keys = set(TABLES[name])
    assert keys == set(IR_OPS), f"{name}: missing {sorted(IR_OPS - keys)}, extra {sorted(keys - IR_OPS)}"
    assert all(isinstance(k, Op) for k in keys)


def test_every_op_has_a_row_and_a_group() -> None:
    assert set(SPECS) == set(Op)
    assert {spec.group for spec in SPECS.values()} == set(Group)


def test_the_verifier_has_a_rule_for_every_ir_op() -> None:
    by_table = {op for op in IR_OPS if SPECS[op].args is not None and SPECS[op].result is not None}
    assert by_table | set(_RULES) == set(IR_OPS)


def test_builtins_are_the_op_tables_builtin_rows() -> None:
    rows = {op: spec.builtin for op, spec in SPECS.items() if spec.builtin is not None}
    assert {sig.op for (sig,) in BUILTINS.values()} == set(rows)
    for name, (sig,) in BUILTINS.items():
        row = rows[sig.op]
        assert (row.name, row.params, row.result, row.doc) == (name, sig.params, sig.result, sig.doc)


def test_every_ir_op_can_be_written() -> None:
    """Each IR op comes from a built-in, an operator, or one of the checker's own constructs."""
    written = {sig.op for (sig,) in BUILTINS.values()} | set(BINARY_OPERATORS.values())
    constructs = {Op.CONST, Op.NEG, Op.NOT, Op.AND, Op.OR, Op.IF}
    assert IR_OPS <= written | constructs
    assert set(FILTERS) | {Op.OBJECTS, Op.PARAM} == set(Op) - IR_OPS
    assert OBJECT_QUERIES <= IR_OPS


def test_ops_print_and_hash_as_their_names() -> None:
    assert f"{Op.SAME_CELL}" == "same_cell" and Op("add") is Op.ADD
    assert "add" in {Op.ADD} and Op.ADD in {"add"}


PROGRAM = 'program p "d" observe rgb color red = rgb(255, 0, 0) tol 10 subtask s "s" bonus 1 : area(pixels(red)) > 2'


def _with_node(index: int, node: ir.Node) -> ir.Program:
    program = check_text(PROGRAM)
    nodes = list(program.nodes)
    nodes[index] = node
    return dataclasses.replace(program, nodes=tuple(nodes))


@pytest.mark.parametrize("index, node, message", [
    (1, ir.Node("fly", "num", (0,)), "unknown op"),  # type: ignore[arg-type]
    (1, ir.Node(Op.AREA, "num", (3,)), "not an earlier node"),
    (2, ir.Node(Op.AREA, "num", (1,)), "area takes"),
    (1, ir.Node(Op.AREA, "bool", (0,)), "area gives num"),
    (1, ir.Node(Op.PARAM, "num", (), ("x",)), "unknown op"),
    (2, ir.Node(Op.CONST, "num", (), (float("inf"),)), "finite number"),
])
def test_the_verifier_refuses_a_bad_node(index: int, node: ir.Node, message: str) -> None:
    verify_program(check_text(PROGRAM))
    with pytest.raises(IRError, match=message):
        verify_program(_with_node(index, node))


def test_codegen_verifies_before_it_writes() -> None:
    from carc.backend.codegen import generate

    with pytest.raises(IRError):
        generate(_with_node(1, ir.Node(Op.SQRT, "num", (0,))))


def test_the_runtime_uses_carcs_limits() -> None:
    from carc.backend import perception, runtime
    from carc.core.limits import LIMITS

    assert runtime.MAX_OBJECTS == int(LIMITS["max_objects"].cap) == perception.MAX_OBJECTS
    assert runtime.KEY_BITS == perception.KEY_BITS and runtime.SATURATION == ir.BIG
