"""Compile a checked program into a numba kernel, cached on disk by content hash.

``compile_program`` generates the kernel's Python source from the IR (``carc.backend.codegen``), audits it
(``carc.backend.srccheck``), writes it to ``<cache dir>/k_<hash16>.py`` (atomically, only when the content
changed, so numba's own on-disk cache next to it stays valid), and imports it with importlib. The
module's entry points carry explicit numba signatures, so importing it compiles them eagerly the
first time and loads them from numba's cache afterwards: a second compile of the same program, in
any process, is a cache load. Nothing is ever ``exec``'d or ``eval``'d: loading is importlib on the
generated file.

The cache directory is ``cache_dir``, else ``$CARC_CACHE_DIR``, else ``~/.cache/carc``.

``write_artifact`` writes the same module, with a header docstring, as a standalone ``.py`` file that
needs only numpy and numba; ``load_artifact`` imports one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

from carc import __version__, ir
from carc.backend.codegen import CODEGEN_VERSION, IDENTIFIER, generate
from carc.backend.srccheck import check_generated_source

ENV_CACHE_DIR = "CARC_CACHE_DIR"
_LOADED: dict[tuple[str, str], ModuleType] = {}


# ---- hashing -----------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """A JSON-able form that tells apart bool / int / float and keeps every float bit."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"@": type(value).__name__, **{f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, float):
        return ["f", value.hex()]
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        return [_canonical(v) for v in value]
    if value is None:
        return None
    raise TypeError(f"cannot hash a {type(value).__name__} in a program")


def canonical_program(program: ir.Program) -> str:
    """The canonical serialisation of a checked program (sorted-key JSON)."""
    return json.dumps(_canonical(program), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def program_hash(program: ir.Program) -> str:
    """sha256 (hex) of the canonical IR plus carc's version (and the code generator's format)."""
    text = f"carc {__version__} codegen {CODEGEN_VERSION}\n{canonical_program(program)}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def cache_directory(cache_dir: Path | str | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env)
    return Path.home() / ".cache" / "carc"


# ---- the kernel --------------------------------------------------------------------------------


class Kernel:
    """A compiled program. The entry points are the generated module's own functions, bound as
    attributes (no extra call layer):

    * ``new_state(n=1, tile=None) -> (n, S) float64``
    * ``reset(frame, state_row)``
    * ``step(frame, state_row) -> (reward, event)`` (event: last sub-task completed, or -1)
    * ``reset_batch(frames, states)``
    * ``step_batch(frames, states, rewards_out, events_out)``
    """

    new_state: Callable[..., np.ndarray]
    reset: Callable[[np.ndarray, np.ndarray], None]
    step: Callable[[np.ndarray, np.ndarray], tuple[float, int]]
    reset_batch: Callable[[np.ndarray, np.ndarray], None]
    step_batch: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]

    def __init__(self, program: ir.Program, hash: str, path: Path, module: ModuleType) -> None:
        self.program = program
        self.hash = hash
        self.path = path
        self.module = module
        self.state_size = int(module.NSTATE)
        self.new_state = module.new_state
        self.reset = module.reset
        self.step = module.step
        self.reset_batch = module.reset_batch
        self.step_batch = module.step_batch

    def source(self) -> str:
        return self.path.read_text(encoding="ascii")

    def llvm(self) -> str:
        """The optimised LLVM IR of the step function (for `carc compile --emit llvm`).

        numba keeps no IR for code loaded from its cache, so this compiles a private copy of the
        module afresh (a cold compile: seconds)."""
        return self._inspect("inspect_llvm")

    def asm(self) -> str:
        """The machine code of the step function (compiles a private copy, as llvm())."""
        return self._inspect("inspect_asm")

    def _inspect(self, what: str) -> str:
        name = f"carc_inspect_{self.hash[:16]}"
        with tempfile.TemporaryDirectory(prefix="carc-inspect-") as tmp:
            path = Path(tmp) / self.path.name
            path.write_text(self.source(), encoding="ascii")
            module = _import_file(path, name)
            try:
                fn = module._step1
                return "\n".join(getattr(fn, what)(sig) for sig in fn.signatures)
            finally:
                sys.modules.pop(name, None)

    def __repr__(self) -> str:
        return f"Kernel({self.program.name!r}, hash={self.hash[:16]}, path={str(self.path)!r})"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _import_file(path: Path, module_name: str) -> ModuleType:
    """Import a generated file under a fixed name (registered before exec: numba's cache needs it)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def compile_program(program: ir.Program, cache_dir: Path | None = None) -> Kernel:
    """Generate, audit, write (if new) and import the kernel of a checked program."""
    source = generate(program)
    check_generated_source(source)
    digest = program_hash(program)
    path = cache_directory(cache_dir) / f"k_{digest[:16]}.py"
    try:
        current = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != source:
        try:
            _write_atomic(path, source)
        except OSError:
            # An unwritable cache directory: fall back to a private one under the temp dir.
            path = Path(tempfile.gettempdir()) / f"carc-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / path.name
            if not path.is_file() or path.read_text(encoding="ascii") != source:
                _write_atomic(path, source)
    key = (str(path.resolve()), hashlib.sha256(source.encode("ascii")).hexdigest())
    module = _LOADED.get(key)
    if module is None:
        module = _import_file(path, f"carc_kernel_{digest[:16]}")
        _LOADED[key] = module
    return Kernel(program, digest, path, module)


# ---- standalone artifacts ----------------------------------------------------------------------

_USAGE = """Usage (needs only numpy and numba):

    import importlib.util, sys
    spec = importlib.util.spec_from_file_location('{module}', path_to_this_file)
    kernel = importlib.util.module_from_spec(spec)
    sys.modules['{module}'] = kernel   # before exec_module: numba's cache needs it
    spec.loader.exec_module(kernel)

    state = kernel.new_state(1)              # (1, NSTATE) float64; new_state(n, tile) for n envs
    kernel.reset(first_frame, state[0])      # frames: (H, W, 3) uint8
    reward, event = kernel.step(frame, state[0])   # event: sub-task completed, or -1
    kernel.step_batch(frames, states, rewards_out, events_out)   # N envs in one call
"""


def artifact_source(program: ir.Program) -> str:
    """The standalone module: a header docstring, then the generated kernel source."""
    source = generate(program)
    digest = program_hash(program)
    names = [s.name if IDENTIFIER.match(s.name) else "?" for s in program.subtasks]
    name = program.name if IDENTIFIER.match(program.name) else "?"
    low, high = program.bounds
    header = "\n".join([
        f"carc reward kernel: program {name}",
        "",
        f"hash: {digest}",
        f"carc version: {__version__}",
        f"sub-tasks: {', '.join(f'{i}:{n}' for i, n in enumerate(names))}",
        f"reward bounds: [{float(low)!r}, {float(high)!r}]",
        "",
        _USAGE.format(module=f"carc_artifact_{digest[:16]}"),
    ])
    body = source.split("\n", 1)[1]  # drop the generated module's own one-line docstring
    text = f'"""{header}"""\n{body}'
    check_generated_source(text)
    return text


def write_artifact(program: ir.Program, out_path: Path | str) -> Path:
    """Write the standalone kernel file (atomically); returns its path."""
    out = Path(out_path)
    _write_atomic(out, artifact_source(program))
    return out


def load_artifact(path: Path | str) -> ModuleType:
    """Import a standalone artifact (importlib on the file; numba compiles or loads its cache)."""
    path = Path(path)
    text = path.read_text(encoding="ascii")
    check_generated_source(text)
    match = re.search(r"^hash: ([0-9a-f]{64})$", text, re.MULTILINE)
    tag = match.group(1)[:16] if match else hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
    return _import_file(path, f"carc_artifact_{tag}")
