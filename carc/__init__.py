"""carc: reward programs from a vision-language model, compiled into safe, fast numba kernels.

>>> import carc
>>> kernel = carc.compile_file("examples/minigrid/doorkey.car")   # doctest: +SKIP
>>> state = kernel.new_state(1)                                   # doctest: +SKIP

The library entry points live in `carc.api` and load on first use, so that importing one layer
(say `carc.core.limits`) does not import the compiler.
"""

from __future__ import annotations

__version__ = "0.1.0"

# typing.TYPE_CHECKING without importing typing: `import carc` stays instant, so the command line
# takes over Ctrl-C before anything slow has loaded (mypy reads any name TYPE_CHECKING the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from carc.api import Compiled, check_file, check_text, compile_file, compile_text

__all__ = ["Compiled", "__version__", "check_file", "check_text", "compile_file", "compile_text"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from carc import api

        return getattr(api, name)
    raise AttributeError(f"module 'carc' has no attribute {name!r}")
