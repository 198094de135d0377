"""The adversarial corpus (tests/corpus): every case refused with its code, or accepted with its result.

Each case goes through `carc.audit.certificate.audit_source`, the entry point of `carc audit`; a handful also
through the command line itself. Runtime-defined cases then run on their frames, through the
reference interpreter and the compiled kernel. Times are printed for information only (run with
`-s`, or `python tests/corpus/make_corpus.py --run` for the table): the project has no timed
assertions.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from carc.analysis.cost import cost_bound, measured_cost
from carc.api import check_text
from carc.interpreter import Interpreter

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "tests" / "corpus" / "make_corpus.py")
corpus = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(corpus)  # type: ignore[union-attr]

CASES = corpus.load_manifest()
RUNTIME = [c for c in CASES if c["class"] == "runtime-defined"]
CLASSES = ("malformed", "invalid", "exhaustion", "runtime-defined")


def _ids(cases: list[dict]) -> list[str]:
    return [c["case"] for c in cases]


def test_manifest_covers_the_corpus() -> None:
    files = {p.relative_to(corpus.HERE).with_suffix("").as_posix() for p in corpus.HERE.glob("*/*.car")}
    listed = {c["case"] for c in CASES if not c.get("generated")}
    assert files == listed
    assert {c["case"] for c in CASES if c.get("generated")} == set(corpus.GENERATORS)
    assert {c["class"] for c in CASES} == set(CLASSES)
    assert len({c["case"].split("/")[0] for c in CASES}) >= 25


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case(case: dict) -> None:
    certificate, seconds = corpus.audit_case(case)
    print(f"\n{case['case']}: {seconds * 1000:.1f} ms")  # informational only
    assert corpus.problems(case, certificate) == [], certificate.render()
    for diagnostic in certificate.diagnostics:
        first = diagnostic["rendered"].splitlines()[0]
        assert first.startswith(f"tests/corpus/{case['case']}.car:{diagnostic['line']}:{diagnostic['column']}: error[")
        assert "Traceback" not in diagnostic["rendered"]
    json.dumps(certificate.to_json())  # the JSON form always serialises


@pytest.fixture(scope="module")
def kernels() -> dict[str, object]:
    """Compiled kernels of the runtime-defined cases (the content-addressed default cache: a few
    seconds each the first time, milliseconds after)."""
    from carc.backend.kernel import compile_program

    return {c["case"]: compile_program(check_text(corpus.case_bytes(c), c["case"])) for c in RUNTIME}


@pytest.mark.parametrize("case", RUNTIME, ids=_ids(RUNTIME))
def test_runtime_defined_results(case: dict, kernels: dict[str, object]) -> None:
    program = check_text(corpus.case_bytes(case), case["case"])
    interpreter = Interpreter(program)
    for run in case["runs"]:
        expected = (run["reward"], run["event"])
        by_interpreter = corpus.run_on(interpreter, run["frame"])
        assert by_interpreter == (pytest.approx(expected[0], rel=1e-12, abs=1e-12), expected[1]), run["frame"]
        assert corpus.run_on(kernels[case["case"]], run["frame"]) == by_interpreter, f"kernel differs on {run['frame']}"
        frame = corpus.frame(run["frame"])
        assert measured_cost(program, frame) <= cost_bound(program, frame.shape[:2])["value"]


@pytest.mark.parametrize("case", [c for c in RUNTIME if "absent_from_generated_source" in c], ids=lambda c: c["case"])
def test_payloads_never_reach_generated_source(case: dict) -> None:
    from carc.backend.codegen import generate

    source = generate(check_text(corpus.case_bytes(case), case["case"]))
    for payload in case["absent_from_generated_source"]:
        assert payload not in source


def test_kernel_never_sees_a_refused_program() -> None:
    """The refusal comes from the same gate every command runs (carc.api.check_text)."""
    from carc.api import compile_text
    from carc.core.diagnostics import CarcError

    for case in [c for c in CASES if c["class"] != "runtime-defined" and not c["code"].startswith("E7")][::10]:
        with pytest.raises(CarcError):
            compile_text(corpus.case_bytes(case), case["case"])


@pytest.mark.parametrize("name", ["control_chars/nul_byte", "python_escapes/dunder_import", "cycles/mutual_recursion",
                                  "big_programs/one_megabyte_comment", "payloads_in_text/payload_in_strings"])
def test_command_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`carc audit --json` on a file: exit 1 and a JSON refusal, or exit 0 and a safe certificate."""
    from carc.cli.main import main

    case = next(c for c in CASES if c["case"] == name)
    path = tmp_path / "case.car"
    path.write_bytes(corpus.case_bytes(case))
    status = main(["audit", str(path), "--json", "--no-compile"])
    out, err = capsys.readouterr()
    certificate = json.loads(out)
    assert "Traceback" not in out + err
    if case["code"] == "ok":
        assert (status, certificate["verdict"]) == (0, "safe")
    else:
        assert (status, certificate["verdict"]) == (1, "rejected")
        assert {d["code"] for d in certificate["diagnostics"]} == set(case.get("codes", [case["code"]]))

