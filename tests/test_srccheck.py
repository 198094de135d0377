"""The whitelist audit of generated kernel source: everything codegen emits passes; anything that
could reach the host (imports, dunders, objmode, print, open, exec...) is refused."""

from __future__ import annotations

import pytest
from test_kernel import ALL_NAMES, program_of

from carc.backend.codegen import generate
from carc.backend.kernel import artifact_source
from carc.backend.srccheck import GeneratedSourceError, check_generated_source

HEADER = "import math\n\nimport numpy as np\nfrom numba import njit\n\n"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_generated_source_passes(name: str) -> None:
    report = check_generated_source(generate(program_of(name)))
    assert report["verdict"] == "ok"
    assert set(report) == {"verdict", "node_kinds", "names", "attributes", "calls"}
    assert "njit" in report["calls"] and "Import" in report["node_kinds"]
    assert all(report[k] == sorted(report[k]) for k in ("node_kinds", "names", "attributes", "calls"))
    assert not any("__" in n for n in report["names"] + report["attributes"])


@pytest.mark.parametrize("name", ["example:doorkey", "arith"])
def test_artifact_source_passes(name: str) -> None:
    assert check_generated_source(artifact_source(program_of(name)))["verdict"] == "ok"


def test_the_minimal_header_passes() -> None:
    assert check_generated_source(HEADER + "x = np.zeros(3)\n")["verdict"] == "ok"


BAD = {
    "import os": "import os\n",
    "import numpy unaliased": "import numpy\n",
    "from os import system": "from os import system\n",
    "from numba import objmode": "from numba import objmode\n",
    "import inside a function": HEADER + "def _f():\n    import math\n",
    "__import__": HEADER + "x = __import__('os')\n",
    "dunder attribute": HEADER + "x = np.zeros.__class__\n",
    "dunder subclasses": HEADER + "x = ().__class__.__bases__[0].__subclasses__()\n",
    "objmode": HEADER + "with objmode():\n    pass\n",
    "objmode name": HEADER + "x = objmode\n",
    "print": HEADER + "print(1)\n",
    "open": HEADER + "f = open('x')\n",
    "exec": HEADER + "exec('1')\n",
    "eval": HEADER + "x = eval('1')\n",
    "getattr": HEADER + "x = getattr(np, 'zeros')\n",
    "globals": HEADER + "x = globals()\n",
    "ctypes": HEADER + "x = ctypes\n",
    "cffi": HEADER + "x = cffi.FFI()\n",
    "np.ctypeslib": HEADER + "x = np.ctypeslib\n",
    "np.load": HEADER + "x = np.load('f')\n",
    "unknown attribute call": HEADER + "x = np.zeros(3).tofile('f')\n",
    "lambda": HEADER + "f = lambda: 1\n",
    "class": HEADER + "class A:\n    pass\n",
    "comprehension": HEADER + "x = [i for i in range(3)]\n",
    "list display": HEADER + "x = [1, 2]\n",
    "with": HEADER + "with x:\n    pass\n",
    "yield": HEADER + "def _f():\n    yield 1\n",
    "star args": HEADER + "def _f(*a):\n    return a\n",
    "fastmath": HEADER + "@njit(cache=True, fastmath=True)\ndef _f(x):\n    return x\n",
    "no cache": HEADER + "@njit\ndef _f(x):\n    return x\n",
    "other decorator": HEADER + "@staticmethod\ndef _f(x):\n    return x\n",
    "nogil": HEADER + "@njit(cache=True, nogil=True)\ndef _f(x):\n    return x\n",
    "reference counting asked back": HEADER + "@njit(cache=True, _nrt=True)\ndef _f(x):\n    return x\n",
    "njit call": HEADER + "g = njit(lambda x: x)\n",
    "string with code": HEADER + "x = 'a\"; import os; \"'\n",
    "bytes": HEADER + "x = b'abc'\n",
    "non-finite float": HEADER + "x = 1e999\n",
    "free-form name": HEADER + "sneaky = 1\n",
    "except anything": HEADER + "try:\n    pass\nexcept Exception:\n    pass\n",
    "raise other": HEADER + "raise SystemExit(1)\n",
    "global of a builtin": HEADER + "def _f():\n    global print\n",
    "walrus": HEADER + "y = (x := 1)\n",
    "f-string": HEADER + "x = f'{np}'\n",
    "assert": HEADER + "assert x\n",
    "delete": HEADER + "del x\n",
    "control characters": HEADER + "x = 1\x0b\n",
    "syntax error": HEADER + "def (:\n",
}


@pytest.mark.parametrize("source", list(BAD.values()), ids=list(BAD))
def test_bad_sources_are_refused(source: str) -> None:
    with pytest.raises(GeneratedSourceError):
        check_generated_source(source)


def test_error_messages_name_the_problem() -> None:
    with pytest.raises(GeneratedSourceError, match="import of 'os'"):
        check_generated_source("import os\n")
    with pytest.raises(GeneratedSourceError, match="print"):
        check_generated_source(HEADER + "print(1)\n")
    with pytest.raises(GeneratedSourceError, match="__class__"):
        check_generated_source(HEADER + "x = np.zeros.__class__\n")
