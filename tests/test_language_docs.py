"""The README's language section, docs/language.md and the model's language card are generated from
the op table: they are up to date, and each shows every built-in's type, meaning and empty-region value."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from carc.lang.builtins import BUILTINS
from carc.lang.reference import builtin_table, call, language_doc, readme_section, with_readme_section

ROOT = Path(__file__).resolve().parent.parent


def _script() -> object:
    spec = importlib.util.spec_from_file_location("make_language_docs", ROOT / "scripts" / "make_language_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_language_section_is_generated() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert with_readme_section(readme) == readme, "README.md's language section is stale: run python scripts/make_language_docs.py"


def test_docs_language_is_generated() -> None:
    path = ROOT / "docs" / "language.md"
    assert path.read_text(encoding="utf-8") == language_doc(), "docs/language.md is stale: run python scripts/make_language_docs.py"


def test_the_script_checks_both_files() -> None:
    module = _script()
    assert module.main(["--check"]) == 0  # type: ignore[attr-defined]
    assert set(module.wanted()) == {ROOT / "README.md", ROOT / "docs" / "language.md"}  # type: ignore[attr-defined]


def test_every_builtin_has_a_row_with_its_type_meaning_and_empty_value() -> None:
    table = builtin_table()
    rows = table.splitlines()[2:]
    assert len(rows) == sum(len(sigs) for sigs in BUILTINS.values())
    for name, (sig,) in BUILTINS.items():
        row = next(r for r in rows if r.startswith(f"| {call(name, sig)} |"))
        assert sig.meaning.replace("|", "\\|") in row and row.endswith(f"| {sig.empty.replace('|', chr(92) + '|') or '-'} |")
    assert table in readme_section() and readme_section(pointer="") in language_doc()


def test_the_language_card_shows_every_builtins_doc_and_the_naming_rule() -> None:
    from carc.generate.card import language_card

    card = language_card()
    for sig in (sig for sigs in BUILTINS.values() for sig in sigs):
        assert sig.doc in card
    assert "`let box = ...` is an error" not in card
