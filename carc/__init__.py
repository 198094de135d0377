"""carc: reward programs from a vision-language model, compiled into safe, fast numba kernels.

>>> import carc
>>> kernel = carc.compile_file("examples/minigrid/doorkey.car")   # doctest: +SKIP
>>> state = kernel.new_state(1)                                   # doctest: +SKIP
"""

__version__ = "0.1.0"

from carc.api import Compiled, check_file, check_text, compile_file, compile_text  # noqa: E402

__all__ = ["Compiled", "__version__", "check_file", "check_text", "compile_file", "compile_text"]
