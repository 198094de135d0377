"""Compile a checked program into a numba kernel, cached on disk by content hash.

A kernel is the library (carc/backend/library.py), compiled once per carc version into
``<cache dir>/lib_<hash16>.py`` and loaded once per process, and the program's own small module
(``carc.backend.codegen``: its classifiers and ``_program``). ``compile_program`` generates the
program's module from the IR, audits it (``carc.backend.srccheck``), writes it to
``<cache dir>/k_<hash16>.py`` (atomically, only when the content changed, so numba's own on-disk
cache stays valid), imports it with importlib from the audited source in memory, and links it: the
addresses of its compiled functions go into its header table, and its entry points call the
library's functions (carc.backend.linkage). The compiled functions carry explicit numba signatures,
so importing compiles them eagerly the first time and loads them from numba's cache afterwards: a
second compile of the same program, in any process, is a cache load. What the cache trusts, and how
it is checked (ownership, permissions, keyed digests of numba's files, no ``.pyc``), is
``carc.backend.cache``.

The cache directory is ``cache_dir``, else ``$CARC_CACHE_DIR``, else ``~/.cache/carc``; a private
per-user fallback under the temp dir when that cannot be written.

``write_artifact`` writes the same module, with a header docstring, as a standalone ``.py`` file that
needs only numpy and numba; ``load_artifact`` audits one and imports it through the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from carc import __version__, ir
from carc.backend import header
from carc.backend.cache import ENV_CACHE_DIR, CacheError, cache_root, configured_directory, import_verified, record_checked, was_checked
from carc.backend.codegen import CODEGEN_VERSION, IDENTIFIER, generate
from carc.backend.srccheck import check_generated_source
from carc.backend.template import LIBRARY_ENTRIES, library_module_source
from carc.core.args import new_state_args
from carc.core.files import write_text_atomic

__all__ = ["ENV_CACHE_DIR", "CacheError", "Kernel", "artifact_source", "cache_directory", "compile_program", "load_artifact",
           "program_hash", "write_artifact"]
MAX_ARTIFACT_BYTES = 16 << 20
_LOADED: dict[tuple[str, str], tuple[Path, ModuleType]] = {}
_LIBRARIES: dict[str, ModuleType] = {}
_CLASSIFIERS = {header.LINK_CLASSIFY_STEP: "_classify_step_rows", header.LINK_CLASSIFY_RESET: "_classify_reset_rows"}


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
    """The configured cache directory (absolute); kernels go there, or to the private fallback."""
    return configured_directory(cache_dir)


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
        self.reset = module.reset
        self.step = module.step
        self.reset_batch = module.reset_batch
        self.step_batch = module.step_batch

    def new_state(self, n: int = 1, tile: float | None = None) -> np.ndarray:
        """An ``(n, state_size)`` float64 state array for ``n`` environments; ``tile`` is the grid cell size
        in pixels (1 to the tile cap), None for the program's own. Wrong types are a TypeError."""
        count, pixels = new_state_args(n, tile)
        return self.module.new_state(count, pixels)

    def source(self) -> str:
        return self.path.read_text(encoding="ascii")

    def llvm(self) -> str:
        """The optimised LLVM IR of the step function (for `carc compile --emit llvm`).

        numba keeps no IR for code loaded from its cache, so this compiles a private copy of the
        standalone module (the library with the program's functions linked in) afresh: seconds."""
        return self._inspect("inspect_llvm")

    def _inspect(self, what: str) -> str:
        name = f"carc_inspect_{self.hash[:16]}"
        source = generate(self.program)
        check_generated_source(source)
        with tempfile.TemporaryDirectory(prefix="carc-inspect-") as tmp:
            _, module = import_verified(Path(tmp), self.path.stem, source, name)
            try:
                fn = module._one
                return "\n".join(getattr(fn, what)(sig) for sig in fn.signatures)
            finally:
                sys.modules.pop(name, None)

    def __repr__(self) -> str:
        return f"Kernel({self.program.name!r}, hash={self.hash[:16]}, path={str(self.path)!r})"


def compile_program(program: ir.Program, cache_dir: Path | None = None) -> Kernel:
    """Generate, audit, write (if new), import and link the kernel of a checked program."""
    source = generate(program, standalone=False)
    digest = program_hash(program)
    root = cache_root(cache_dir)
    stem = f"k_{digest[:16]}"
    if not was_checked(root, stem, _checker(), source):  # checked once per source and checker, then recorded
        check_generated_source(source, provided=LIBRARY_ENTRIES)
        record_checked(root, stem, _checker(), source)
    library = load_library(root)
    return Kernel(program, digest, *_load(root, stem, source, f"carc_kernel_{digest[:16]}", library))


@cache
def _checker() -> str:
    """What passes a program's source: carc.backend.srccheck's text, hashed, with the entries the library provides."""
    text = (Path(__file__).parent / "srccheck.py").read_bytes()
    return f"srccheck {hashlib.sha256(text).hexdigest()} {' '.join(LIBRARY_ENTRIES)}"


@cache
def library_stem() -> str:
    """The library's name in the cache: its source and the text of linkage.py and header.py, hashed (so
    a new carc, or a new link ABI, compiles a new library); read and hashed once per process."""
    abi = b"".join((Path(__file__).parent / name).read_bytes() for name in ("linkage.py", "header.py"))
    digest = hashlib.sha256(library_module_source().encode("ascii") + b"\0" + abi).hexdigest()
    return f"lib_{digest[:16]}"


def load_library(root: Path) -> ModuleType:
    """The kernel library in the cache directory ``root``: compiled the first time, then loaded from
    numba's cache; imported once per process and directory."""
    stem = library_stem()
    key = str(root / f"{stem}.py")
    if key not in _LIBRARIES:  # named like a program's module: by content, not by directory (numba's cache records the name)
        _LIBRARIES[key] = import_verified(root, stem, library_module_source(), f"carc_library_{stem[4:]}")[1]
    return _LIBRARIES[key]


def _link(module: ModuleType, library: ModuleType) -> None:
    """Point a program's module at its library: the header's links become the addresses of the
    module's compiled classifiers and ``_program``, and the entry points call the library."""
    from carc.backend import linkage  # numba's internals: imported only when a kernel is loaded

    head = module._HEAD
    for at in sorted({int(head[header.HEAD_STEP_PASS]), int(head[header.HEAD_RESET_PASS])} - {0}):
        name = _CLASSIFIERS[int(head[at + header.PASS_CLASSIFY])]
        head[at + header.PASS_CLASSIFY] = linkage.native_address(getattr(module, name), header.CLASSIFY_SIGNATURE)
    if int(head[header.HEAD_PROGRAM]) != header.LINK_PROGRAM:
        raise ValueError("internal error: a program module's header does not link _program")
    head[header.HEAD_PROGRAM] = linkage.native_address(module._program, header.PROGRAM_SIGNATURE)
    for name in LIBRARY_ENTRIES:
        setattr(module, name, getattr(library, name))
    setattr(module, "_SC", module._scratch(0, 0))  # noqa: B010 - the module's own global, rebuilt with the links


def _load(root: Path, stem: str, source: str, module_name: str, library: ModuleType | None = None) -> tuple[Path, ModuleType]:
    """The module of ``source`` in the cache, imported (and linked to ``library``, if given) once per process."""
    key = (str(root / f"{stem}.py"), hashlib.sha256(source.encode("ascii")).hexdigest())
    if key not in _LOADED:
        path, module = import_verified(root, stem, source, module_name)
        if library is not None:
            _link(module, library)
        _LOADED[key] = path, module
    return _LOADED[key]


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
    return write_text_atomic(out_path, artifact_source(program), encoding="ascii")


def load_artifact(path: Path | str) -> ModuleType:
    """Audit a standalone artifact and import it through the kernel cache (a copy of its audited text,
    with numba's files checked there: nothing planted beside the artifact is loaded)."""
    text = _read_artifact(Path(path))
    check_generated_source(text)
    match = re.search(r"^hash: ([0-9a-f]{64})$", text, re.MULTILINE)
    tag = match.group(1)[:16] if match else hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
    stem = f"a_{hashlib.sha256(text.encode('ascii')).hexdigest()[:16]}"
    return _load(cache_root(), stem, text, f"carc_artifact_{tag}")[1]


def _read_artifact(path: Path) -> str:
    with open(path, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{path} is not a regular file")
        data = handle.read(MAX_ARTIFACT_BYTES + 1)
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ValueError(f"{path} is larger than {MAX_ARTIFACT_BYTES} bytes: not a carc artifact")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not ASCII: not a carc artifact") from None
