"""Golden fixtures: input programs and the exact output carc must give for them.

Three kinds, each a folder of `*.car` inputs under tests/fixtures/ with an expected file beside each:

- `parse/NAME.car`  -> `NAME.ast`: the AST, dumped by carc.lang.astdump.dump (no spans).
- `errors/NAME.car` -> `NAME.err`: the rendered diagnostics of check_text, every one, exactly as
  `carc check` prints them from the repository root (FILE is the fixture's path relative to it).
  The file name starts with the code it is about (`E207_equals_for_comparison.car`).
- `check/NAME.car`  -> `NAME.ir`: the checked program, dumped by carc.ir.dump.dump_program.

To rewrite the expected files after an intended change, run

    CARC_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

and review the diff before keeping it. New fixtures need only the `.car`: the update run writes
the rest. docs/errors.md is generated from the error fixtures (scripts/make_error_docs.py); the
update run rewrites it too, and a normal run fails when it is stale.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from carc import check_text
from carc.core.codes import CODES, FRONT_END_CODES
from carc.core.diagnostics import CarcError
from carc.ir.dump import dump_program
from carc.lang.astdump import dump
from carc.lang.parser import parse_text

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
UPDATE = os.environ.get("CARC_UPDATE_GOLDEN") == "1"


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _inputs(kind: str) -> list[Path]:
    return sorted((FIXTURES / kind).glob("*.car"))


def render_parse(path: Path) -> str:
    return dump(parse_text(path.read_bytes(), _relative(path))) + "\n"


def render_check(path: Path) -> str:
    return dump_program(check_text(path.read_bytes(), _relative(path))) + "\n"


def render_errors(path: Path) -> str:
    try:
        check_text(path.read_bytes(), _relative(path))
    except CarcError as err:
        return "\n".join(d.render() for d in err.diagnostics) + "\n"
    raise AssertionError(f"{_relative(path)} was accepted; an error fixture must be rejected")


def _golden(path: Path, suffix: str, actual: str) -> None:
    expected_path = path.with_suffix(suffix)
    if UPDATE:
        expected_path.write_bytes(actual.encode("utf-8"))
        return
    assert expected_path.is_file(), f"missing {_relative(expected_path)}: run with CARC_UPDATE_GOLDEN=1"
    expected = expected_path.read_bytes().decode("utf-8")
    assert actual == expected, f"{_relative(path)} differs from {expected_path.name}"


@pytest.mark.parametrize("path", _inputs("parse"), ids=lambda p: p.stem)
def test_parse(path: Path) -> None:
    _golden(path, ".ast", render_parse(path))


@pytest.mark.parametrize("path", _inputs("check"), ids=lambda p: p.stem)
def test_check(path: Path) -> None:
    _golden(path, ".ir", render_check(path))


@pytest.mark.parametrize("path", _inputs("errors"), ids=lambda p: p.stem)
def test_error(path: Path) -> None:
    actual = render_errors(path)
    _golden(path, ".err", actual)
    code = path.stem.split("_")[0]
    assert f"error[{code}]" in actual, f"{path.name} is named for {code} but reports {_codes(actual)}"


def _codes(rendered: str) -> set[str]:
    return set(re.findall(r"error\[(E\d+)\]", rendered))


def test_every_code_has_an_error_fixture() -> None:
    """Every gate, parser and checker code; lint and audit codes come from later stages."""
    named = {p.stem.split("_")[0] for p in _inputs("errors")}
    assert sorted(set(FRONT_END_CODES) - named) == []


def test_error_fixtures_report_only_registered_codes() -> None:
    reported: set[str] = set()
    for path in _inputs("errors"):
        expected = path.with_suffix(".err")
        if expected.is_file():
            reported |= _codes(expected.read_text(encoding="utf-8"))
    assert sorted(reported - set(CODES)) == []


def test_no_orphan_expected_files() -> None:
    for kind, suffix in (("parse", ".ast"), ("errors", ".err"), ("check", ".ir")):
        for expected in (FIXTURES / kind).glob(f"*{suffix}"):
            assert expected.with_suffix(".car").is_file(), f"{_relative(expected)} has no .car input"


def _error_docs_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_error_docs", ROOT / "scripts" / "make_error_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_error_docs_are_current() -> None:
    module = _error_docs_module()
    text = module.render_docs()
    if UPDATE:
        module.DOCS.write_bytes(text.encode("utf-8"))
        return
    assert module.DOCS.is_file(), "docs/errors.md is missing: run scripts/make_error_docs.py"
    assert module.DOCS.read_bytes().decode("utf-8") == text, "docs/errors.md is stale: run scripts/make_error_docs.py"
