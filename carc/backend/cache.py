"""The kernel cache on disk, and what carc trusts in it.

A file in the cache is not trusted because it is there. carc loads these kinds of file from a cache
directory, and checks each before anything in it can run:

* the generated module ``<stem>.py``: carc compiles the source it generated and audited itself (held
  in memory), never the bytes on disk and never a ``.pyc`` (the loader neither reads nor writes one),
  or reuses the code it compiled from that same source before (``<stem>.code``, below);
* numba's index (``.nbi``) and data (``.nbc``) files, which numba unpickles: numba is pointed at
  ``<cache>/numba/`` (a locator of carc's own), and before a module is imported every numba file of
  it must carry a keyed digest (HMAC-SHA256) that carc wrote after numba last saved it, in
  ``<stem>.sig``; a file without a matching digest is deleted, so numba compiles afresh;
* the key itself, ``.carc-key``: 32 random bytes, a regular file owned by the user, mode 0600;
* ``<stem>.checked``: a keyed digest of a generated source and of the checker that passed it
  (carc.backend.srccheck), so that a warm load need not walk the source again: a record that does not
  match is ignored and the check runs;
* ``<stem>.code``: the code object Python compiled from that source, marshalled, behind a keyed
  digest of the source, the bytes, the file name and the interpreter's cache tag, so that a warm
  load need not compile the source again: a record that does not match is ignored, and the source
  is compiled and the record written afresh.

Every directory and file carc loads from must be owned by the current user and not writable by
group or others (a file that is, is deleted and rebuilt; a directory that is, is a ``CacheError``).
The cache directory is ``cache_dir``, else ``$CARC_CACHE_DIR``, else ``~/.cache/carc``, created 0700.
When it cannot be written, carc falls back to ``<tmp>/carc-cache-<uid>``, created 0700 and refused
unless it is a real directory owned by the user that no one else can read or write.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import importlib.machinery
import importlib.util
import json
import marshal
import os
import stat
import sys
import tempfile
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

ENV_CACHE_DIR = "CARC_CACHE_DIR"
KEY_FILE = ".carc-key"
KEY_BYTES = 32
NUMBA_DIR = "numba"
SIGNATURE_SUFFIX = ".sig"
CHECKED_SUFFIX = ".checked"
CODE_SUFFIX = ".code"
MAX_CACHE_FILE_BYTES = 256 << 20
_TRUSTED_SOURCES: dict[str, str] = {}  # absolute path of a verified module -> its numba directory


class CacheError(Exception):
    """A cache directory or file carc will not trust or cannot use; the message is one line."""


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else -1


def configured_directory(cache_dir: Path | str | None = None) -> Path:
    """The cache directory asked for (argument, then $CARC_CACHE_DIR, then ~/.cache/carc), absolute."""
    if cache_dir is not None:
        return Path(cache_dir).resolve()
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).resolve()
    return (Path.home() / ".cache" / "carc").resolve()


def _check_directory(path: Path, private: bool) -> None:
    """Refuse a directory another user could have put files in (or, when private, could read)."""
    try:
        info = os.lstat(path)
    except OSError as err:
        raise CacheError(f"cannot use cache directory {path}: {err.strerror or err}") from None
    if stat.S_ISLNK(info.st_mode):
        raise CacheError(f"refusing cache directory {path}: it is a symbolic link")
    if not stat.S_ISDIR(info.st_mode):
        raise CacheError(f"refusing cache directory {path}: it is not a directory")
    if info.st_uid != _uid():
        raise CacheError(f"refusing cache directory {path}: it is owned by uid {info.st_uid}, not by you (uid {_uid()}); "
                         f"remove it or set {ENV_CACHE_DIR}")
    forbidden = 0o077 if private else 0o022
    if info.st_mode & forbidden:
        raise CacheError(f"refusing cache directory {path}: its mode {stat.S_IMODE(info.st_mode):04o} lets other users "
                         f"{'in' if private else 'write to it'}; run chmod {'700' if private else 'go-w'} on it or set {ENV_CACHE_DIR}")


def _writable_directory(path: Path) -> bool:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def fallback_directory() -> Path:
    """The private per-user fallback: ``<tmp>/carc-cache-<uid>``."""
    return Path(tempfile.gettempdir()) / f"carc-cache-{_uid() if _uid() >= 0 else 'user'}"


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """The checked cache directory carc will write and load kernels from."""
    primary = configured_directory(cache_dir)
    if _writable_directory(primary):
        _check_directory(primary, private=False)
        return primary
    fallback = fallback_directory()
    with contextlib.suppress(FileExistsError):
        os.mkdir(fallback, 0o700)
    _check_directory(fallback, private=True)
    return fallback


# ---- trusted reads and writes -------------------------------------------------------------------


def _read_owned(path: Path, limit: int = MAX_CACHE_FILE_BYTES) -> bytes | None:
    """The bytes of a regular file owned by the user and writable by no one else, else None."""
    read = _read_owned_file(path, limit)
    return None if read is None else read[0]


def _read_owned_file(path: Path, limit: int = MAX_CACHE_FILE_BYTES) -> tuple[bytes, tuple[int, int, int]] | None:
    """``_read_owned``'s bytes, and the file's identity when they were read: (inode, size, mtime ns)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != _uid() or info.st_mode & 0o022 or info.st_size > limit:
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return (b"".join(chunks), _identity(info)) if size <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_ino, info.st_size, info.st_mtime_ns


def write_private(path: Path, data: bytes) -> None:
    """Write a cache file atomically, mode 0600 (temp file in the same directory, then os.replace)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cache_key(root: Path) -> bytes:
    """The directory's HMAC key, made on first use; a key file that is not the user's private regular
    file of the right size is replaced (which invalidates every digest made with it)."""
    path = root / KEY_FILE
    key = _read_owned(path, KEY_BYTES)
    if key is not None and len(key) == KEY_BYTES and stat.S_IMODE(os.lstat(path).st_mode) & 0o077 == 0:
        return key
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    key = os.urandom(KEY_BYTES)
    try:
        write_private(path, key)
    except OSError as err:
        raise CacheError(f"cannot write the cache key {path}: {err.strerror or err}") from None
    return key


def _digest(key: bytes, name: str, data: bytes) -> str:
    return hmac.new(key, name.encode("utf-8", "surrogateescape") + b"\0" + data, hashlib.sha256).hexdigest()


def _signatures(root: Path, stem: str) -> dict[str, str]:
    raw = _read_owned(root / f"{stem}{SIGNATURE_SUFFIX}", 1 << 20)
    try:
        table = json.loads(raw) if raw is not None else {}
    except ValueError:
        return {}
    files = table.get("files") if isinstance(table, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def _numba_files(numba_dir: Path, stem: str) -> list[Path]:
    try:
        return sorted(p for p in numba_dir.iterdir() if p.name.startswith(f"{stem}."))
    except OSError:
        return []


def cache_subdirectory(root: Path, name: str) -> Path:
    """``<root>/<name>``, created 0700 and checked like the root (numba's files, recorded trajectories)."""
    path = root / name
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    _check_directory(path, private=False)
    return path


def numba_directory(root: Path) -> Path:
    """``<root>/numba``, created 0700 and checked like the root."""
    return cache_subdirectory(root, NUMBA_DIR)


# The numba files of a stem whose digests matched: name -> (the file's identity when read, digest).
Verified = dict[str, tuple[tuple[int, int, int], str]]


def purge_unsigned(root: Path, stem: str, key: bytes) -> list[str]:
    """Delete every numba file of ``stem`` whose digest does not match; returns the names deleted."""
    return _purge(root, stem, key)[0]


def _purge(root: Path, stem: str, key: bytes) -> tuple[list[str], Verified]:
    """``purge_unsigned``, and the files it kept with their digests."""
    signed = _signatures(root, stem)
    removed, kept = [], {}
    for path in _numba_files(numba_directory(root), stem):
        read = _read_owned_file(path)
        expected = signed.get(path.name)
        digest = _digest(key, path.name, read[0]) if read is not None else ""
        if read is None or expected is None or not hmac.compare_digest(expected, digest):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed.append(path.name)
        else:
            kept[path.name] = read[1], digest
    return removed, kept


def sign_numba_files(root: Path, stem: str, key: bytes, verified: Verified | None = None) -> int:
    """Record the digest of every numba file of ``stem`` (after numba saved them); returns how many.
    A file still as it was when ``_purge`` verified it keeps that digest unread, and a table that did
    not change is not written again (a warm load reads and writes nothing here)."""
    verified = verified or {}
    files = {}
    for path in _numba_files(numba_directory(root), stem):
        if path.name.endswith((".nbi", ".nbc")):
            with contextlib.suppress(OSError):
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode) and info.st_uid == _uid() and info.st_mode & 0o022:
                    os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o022)
                elif path.name in verified and verified[path.name][0] == _identity(info):
                    files[path.name] = verified[path.name][1]
                    continue
            data = _read_owned(path)
            if data is not None:
                files[path.name] = _digest(key, path.name, data)
    if files != _signatures(root, stem) or not (root / f"{stem}{SIGNATURE_SUFFIX}").is_file():
        write_private(root / f"{stem}{SIGNATURE_SUFFIX}", json.dumps({"files": files}, sort_keys=True).encode("ascii"))
    return len(files)


# ---- checks done once -----------------------------------------------------------------------------


def was_checked(root: Path, stem: str, checker: str, source: str) -> bool:
    """Whether ``checker`` passed ``source`` before, by the keyed record ``record_checked`` left
    (``<stem>.checked``): only carc, which holds the key, can have written it."""
    raw = _read_owned(root / f"{stem}{CHECKED_SUFFIX}", 256)
    return raw is not None and hmac.compare_digest(raw, _check_record(root, checker, source))


def record_checked(root: Path, stem: str, checker: str, source: str) -> None:
    """Record that ``checker`` passed ``source`` (a record that cannot be written is not kept: the
    check then runs again next time)."""
    with contextlib.suppress(OSError):
        write_private(root / f"{stem}{CHECKED_SUFFIX}", _check_record(root, checker, source))


def _check_record(root: Path, checker: str, source: str) -> bytes:
    return _digest(cache_key(root), checker, source.encode("ascii")).encode("ascii")


# ---- loading a verified module ------------------------------------------------------------------


class VerifiedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module from source text carc holds in memory: no ``.pyc`` is read or written, and the
    source bytes on disk are never what runs. Given a code record (``<stem>.code``) and the cache's
    key, it reuses the code compiled from this same source before, when the record's keyed digest
    matches (only a process holding the key can have written it), and else compiles and records."""

    def __init__(self, fullname: str, path: str, source: bytes, record: Path, key: bytes) -> None:
        super().__init__(fullname, path)
        self._source = source
        self._record = record
        self._key = key

    def get_code(self, fullname: str) -> Any:
        code = _recorded_code(self._record, self._key, self.path, self._source)
        if code is None:
            code = self.source_to_code(self._source, self.path)
            _record_code(self._record, self._key, self.path, self._source, code)
        return code

    def get_data(self, path: str) -> bytes:
        if path == self.path:
            return self._source
        raise OSError(f"carc loads {self.path} from verified source only")

    def set_data(self, path: str, data: Any, *, _mode: int = 0o666) -> None:
        """Never write bytecode next to a kernel."""


_DIGEST_CHARS = 2 * hashlib.sha256().digest_size  # a record's hex digest, ahead of its marshalled code


def _code_digest(key: bytes, path: str, source: bytes, body: bytes) -> bytes:
    # the path too: a code object holds the file name it was compiled under, which numba's cache
    # locator reads (a record copied with its directory is compiled again, under the new name)
    return _digest(key, f"{path} {sys.implementation.cache_tag}", hashlib.sha256(source).digest() + body).encode("ascii")


def _recorded_code(record: Path, key: bytes, path: str, source: bytes) -> CodeType | None:
    """The code object in ``record`` if its digest matches this key, file name, source and
    interpreter, else None."""
    raw = _read_owned(record)
    if raw is None or len(raw) <= _DIGEST_CHARS:
        return None
    body = raw[_DIGEST_CHARS:]
    if not hmac.compare_digest(raw[:_DIGEST_CHARS], _code_digest(key, path, source, body)):
        return None
    try:
        code = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def _record_code(record: Path, key: bytes, path: str, source: bytes, code: CodeType) -> None:
    """Write ``record`` for ``_recorded_code`` (a record that cannot be written is not kept: the
    source is then compiled again next time)."""
    with contextlib.suppress(OSError, ValueError):
        body = marshal.dumps(code)
        write_private(record, _code_digest(key, path, source, body) + body)


def _install_locator() -> None:
    """Put carc's numba cache locator first: numba caches a verified module's functions in the numba
    directory carc checked, wherever NUMBA_CACHE_DIR points."""
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if impl is None or not isinstance(getattr(impl, "_locator_classes", None), list):
        raise CacheError("this numba has no cache locator list carc can point at its checked directory")
    if any(getattr(cls, "carc_locator", False) for cls in impl._locator_classes):
        return

    class CarcLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        carc_locator = True

        def __init__(self, py_func: Any, py_file: str) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = _TRUSTED_SOURCES[os.path.abspath(py_file)]

        def get_cache_path(self) -> str:
            return self._cache_path

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if os.path.abspath(py_file) not in _TRUSTED_SOURCES:
                return None
            return cls(py_func, py_file)

    impl._locator_classes.insert(0, CarcLocator)


@contextlib.contextmanager
def _carc_locators_only() -> Any:
    """numba's NUMBA_CACHE_LOCATOR_CLASSES would bypass carc's locator: set it aside while importing."""
    from numba.core import config

    saved = getattr(config, "CACHE_LOCATOR_CLASSES", None)
    if saved:
        config.CACHE_LOCATOR_CLASSES = ""  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if saved:
            config.CACHE_LOCATOR_CLASSES = saved  # type: ignore[attr-defined]


@contextlib.contextmanager
def _cyclic_gc_paused() -> Any:
    """Python's cyclic garbage collector off while numba loads or compiles a module, then as it was:
    numba's set-up makes many objects and no garbage worth collecting, and each collection walks
    the whole heap of the process (a warm load took about 0.30 s instead of 0.23 s with it on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_verified(root: Path, stem: str, source: str, module_name: str) -> tuple[Path, ModuleType]:
    """Write ``<root>/<stem>.py`` if it differs from ``source``, drop untrusted numba files of it, import
    it from ``source`` (registered in sys.modules before exec: numba's cache needs it), then sign what
    numba saved. ``root`` must come from ``cache_root`` (or be a fresh private directory)."""
    data = source.encode("ascii")
    path = root / f"{stem}.py"
    key = cache_key(root)
    try:
        if _read_owned(path) != data:
            write_private(path, data)
        verified = _purge(root, stem, key)[1]
    except OSError as err:
        raise CacheError(f"cannot write the kernel cache in {root}: {err.strerror or err}") from None
    _install_locator()
    _TRUSTED_SOURCES[os.path.abspath(path)] = str(root / NUMBA_DIR)
    loader = VerifiedSourceLoader(module_name, str(path), data, root / f"{stem}{CODE_SUFFIX}", key)
    spec = importlib.util.spec_from_file_location(module_name, path, loader=loader)
    if spec is None:
        raise CacheError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _carc_locators_only(), _cyclic_gc_paused():
            loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    try:
        sign_numba_files(root, stem, key, verified)
    except OSError as err:
        raise CacheError(f"cannot write the signatures of the kernel cache in {root}: {err.strerror or err}") from None
    return path, module
