"""Where carc finds its grammar and stdlib: inside the installed package or the source tree.

>>> grammar_text().startswith("//")
True
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DATA = Path(__file__).resolve().parent.parent / "data"
_SOURCE_TREE = Path(__file__).resolve().parent.parent.parent

GRAMMAR_FILE = "carc.lark"
STDLIB_MODULES = ("minigrid", "panda")


def _data_path(folder: str, name: str) -> Path:
    packaged = _PACKAGE_DATA / folder / name
    return packaged if packaged.is_file() else _SOURCE_TREE / folder / name


@cache
def grammar_text() -> str:
    return _data_path("grammar", GRAMMAR_FILE).read_text(encoding="utf-8")


def stdlib_path(module: str) -> Path | None:
    """The file of a stdlib module, or None when there is no such module."""
    if module not in STDLIB_MODULES:
        return None
    return _data_path("stdlib", f"{module}.car")


DEFAULT_PROGRAM = "minigrid/doorkey.car"
DEFAULT_ENV = "MiniGrid-DoorKey-5x5-v0"


def example_path(relative: str) -> Path:
    """A bundled example program, e.g. `example_path("minigrid/doorkey.car")`."""
    return _data_path("examples", relative)
