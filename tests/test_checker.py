"""Focused checker tests, and properties of the IR of random well-typed programs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import minigrid_names, well_typed_programs

from carc import check_text, ir
from carc.core.diagnostics import CarcError
from carc.core.limits import LIMITS

HEAD = 'program p "d"\nobserve rgb\nuse minigrid\n'
GOAL = 'subtask done "goal" bonus 1 : on(agent, goal)\n'


def _codes(text: str) -> list[str]:
    with pytest.raises(CarcError) as caught:
        check_text(text, "t.car")
    for d in caught.value.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1
    return caught.value.codes


# ---- helpers -----------------------------------------------------------------------------------


def test_helper_body_must_have_its_declared_type() -> None:
    text = HEAD + "def f(a: region) -> num = exists(a)\nsubtask s \"d\" bonus 1 : f(agent) and f(goal)\n"
    assert _codes(text) == ["E401"]  # reported once, at the body, whatever the number of calls


def test_helper_returning_objects() -> None:
    program = check_text(HEAD + "def big(c: color) -> objects = area_between(objects(c), 10, 1000)\n"
                         "subtask s \"d\" bonus 1 : count(big(red)) > 0 and exists(largest(big(blue)))\n")
    assert {c.name for c in program.colors} == {"red", "blue"}


def test_helpers_are_inlined_once_per_argument_list() -> None:
    once = check_text(HEAD + "subtask s \"d\" bonus 1 : cell_distance(agent, goal) > 1\n")
    twice = check_text(HEAD + "subtask s \"d\" bonus 1 : cell_distance(agent, goal) > 1 and cell_distance(agent, goal) < 9\n")
    assert len(twice.nodes) - len(once.nodes) == 3  # the constant 9, the comparison and the 'and'


def test_doubling_helpers_hit_the_inlining_cap_quickly() -> None:
    helpers = "def f0(x: num) -> num = x\n" + "".join(
        f"def f{i}(x: num) -> num = f{i - 1}(x + 1) + f{i - 1}(x * 2)\n" for i in range(1, 16))
    assert _codes(HEAD + helpers + "subtask s \"d\" bonus 1 : f15(1) > 0\n") == ["E108"]


def test_helper_nesting_cap() -> None:
    chain = "def h0(x: num) -> num = x\n" + "".join(f"def h{i}(x: num) -> num = h{i - 1}(x) + 1\n" for i in range(1, 18))
    assert "E116" in _codes(HEAD + chain + "subtask s \"d\" bonus 1 : h17(1) > 0\n")
    check_text(HEAD + chain + "subtask s \"d\" bonus 1 : h15(1) > 0\n")


def test_helper_parameter_limit() -> None:
    params = ", ".join(f"a{i}: num" for i in range(int(LIMITS["max_params"].cap) + 1))
    assert _codes(HEAD + f"def f({params}) -> num = a0\n" + GOAL) == ["E115"]


# ---- start(...) --------------------------------------------------------------------------------


def test_start_latches_are_shared() -> None:
    program = check_text(HEAD + "subtask s \"d\" bonus 1 : distance(agent, start(agent)) > start(area(agent)) + area(start(agent))\n")
    assert [(latch.type, latch.offset) for latch in program.latches] == [("region", 0), ("num", ir.WIDTH["region"])]


@pytest.mark.parametrize(
    "predicate",
    ["start(start(area(agent))) > 0", "start(v) > 0", "start(v + 1) > 0", "start(area(agent) + v) > 0"],
)
def test_start_of_a_start_value_is_refused(predicate: str) -> None:
    """A latch that reads a latch would depend on the order latches are set at reset."""
    assert _codes(HEAD + "let v = start(area(agent))\n" + f"subtask s \"d\" bonus 1 : {predicate}\n") == ["E405"]


def test_start_of_parts_is_fine() -> None:
    check_text(HEAD + "let v = start(area(agent))\nsubtask s \"d\" bonus 1 : area(agent) + v > start(area(goal)) + v\n")


# ---- errors are collected, without cascades ----------------------------------------------------


def test_several_errors_in_one_run() -> None:
    text = HEAD + "let a = nope\nsubtask s \"d\" bonus 1 : area(agent)\nsubtask s \"e\" bonus 1 : true\nreward in [1, 0]\n"
    assert sorted(_codes(text)) == ["E301", "E302", "E401", "E507"]


def test_bad_colour_adds_no_undefined_name_error() -> None:
    text = 'program p "d" observe rgb color c = rgb(300, 0, 0) tol 1 subtask s "d" bonus 1 : exists(pixels(c))'
    assert _codes(text) == ["E508"]


def test_undefined_let_does_not_cascade() -> None:
    text = HEAD + "let k = key_of(nothing)\nsubtask s \"d\" bonus 1 : not exists(k) and on(k, goal)\n"
    assert _codes(text) == ["E301"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('program p "d" subtask s "d" bonus 1 : true', "E502"),
        ('program p "d" observe grid subtask s "d" bonus 1 : true', "E503"),
        ('program p "d" observe rgb', "E504"),
        ('program p "d" observe rgb observe rgb subtask s "d" bonus 1 : true', "E505"),
        ('program p "d" observe rgb tile 300 subtask s "d" bonus 1 : true', "E506"),
        ('program p "d" observe rgb subtask s "d" bonus 1 : true shaping gamma 0 : 1', "E506"),
        ('program p "d" observe rgb subtask s "d" bonus 1 : true reward in [2, 2]', "E507"),
        ('module m "d"', "E509"),
        ('program p "d" observe rgb use nothing subtask s "d" bonus 1 : true', "E304"),
        ('program p "d" observe rgb use minigrid use minigrid subtask s "d" bonus 1 : true', "E302"),
        ('program p "d" observe rgb def f(a: int) -> num = 1 subtask s "d" bonus 1 : true', "E403"),
        ('program p "d" observe rgb def f(a: num, a: num) -> num = a subtask s "d" bonus 1 : true', "E302"),
        ('program p "d" observe rgb subtask s "d" bonus 1 : area() > 0', "E402"),
        ('program p "d" observe rgb subtask s "d" bonus 1 : start() > 0', "E402"),
        ('program p "d" observe rgb subtask s "d" bonus 1 : num > 0', "E301"),
        ('program p "d" observe rgb subtask s "d" bonus 1 : area > 0', "E401"),
        ('program p "d" observe rgb subtask s "d" bonus 1 : true < false', "E401"),
        ('program p "d" observe rgb subtask s "d" bonus 1 : true == 1', "E401"),
        ('program p "d" observe rgb let x = 1 subtask s "d" bonus 1 : x(1) > 0', "E401"),
    ],
)
def test_structure_errors(text: str, code: str) -> None:
    assert code in _codes(text)


def test_subtask_cap() -> None:
    cap = int(LIMITS["max_subtasks"].cap)
    body = "".join(f'subtask s{i} "d" bonus 0 : true\n' for i in range(cap))
    check_text(HEAD + body)
    assert _codes(HEAD + body + 'subtask last "d" bonus 1 : true\n') == ["E109"]


def test_group_names_share_the_subtask_namespace() -> None:
    text = HEAD + 'group done "g" { subtask a "a" bonus 1 : true }\n' + GOAL
    assert _codes(text) == ["E302"]


# ---- the well-typed strategy and IR invariants -------------------------------------------------


def test_minigrid_names_are_known() -> None:
    colors, lets, helpers = minigrid_names()
    assert {"red", "green", "yellow"} <= set(colors)
    assert lets["agent"] == "region" and lets["goal"] == "region"
    assert helpers["on"] == (("region", "region"), "bool")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(well_typed_programs())
def test_well_typed_programs_check(text: str) -> None:
    program = check_text(text, "t.car")
    types = [node.type for node in program.nodes]
    for i, node in enumerate(program.nodes):
        assert all(0 <= a < i for a in node.args), "nodes are in topological order"
        if node.op in ("pixels", *ir.OBJECT_QUERIES):
            assert 0 <= int(node.const[0]) < len(program.colors)
    offsets = {latch.offset: latch for latch in program.latches}
    for i, node in enumerate(program.nodes):
        if node.op == "start":
            latch = offsets[int(node.const[0])]
            assert latch.source < i and latch.type == node.type
    assert [s.index for s in program.subtasks] == list(range(len(program.subtasks)))
    assert all(types[s.predicate] == "bool" for s in program.subtasks)
    if program.shaping is not None:
        assert types[program.shaping.potential] == "num" and 0 < program.shaping.gamma <= 1
    low, high = program.bounds
    assert low <= high
    assert len(program.colors) <= LIMITS["max_colors"].cap and len(program.nodes) <= LIMITS["max_inlined_nodes"].cap
    assert check_text(text, "again.car") == program, "checking is deterministic"
