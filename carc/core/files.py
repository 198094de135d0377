"""Output files: every file carc writes appears whole or not at all, and never replaces what it should not.

``atomic_output(path)`` writes into a temporary file in the same folder, fsyncs it, gives it the mode a
new file gets under the process umask (``0o666 & ~umask``) and moves it over ``path`` with ``os.replace``.
It refuses an empty path, a missing or non-folder parent, and a target that is a directory, a symbolic
link or anything other than a regular file (a device node, a FIFO, a socket). Every failure, a full
disk or a read-only folder included, is one ``OutputError`` with a one-line message; on any exception
the temporary file is removed. A Ctrl-C or SIGTERM that arrives while the file is written waits until it
is whole and in place (carc.core.signals.stops_deferred: numpy's zip writer, interrupted inside, raises
its own error in place of the interrupt), then unwinds.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_text_atomic(folder / "out.txt", "hello").read_text()
'hello'
>>> sorted(p.name for p in folder.iterdir())
['out.txt']
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from carc.core.signals import stops_deferred

TEMP_SUFFIX = ".tmp"


class OutputError(Exception):
    """An output path carc cannot or will not write; the message is one line."""


def _describe(err: OSError) -> str:
    return err.strerror or str(err)


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """The path as a ``Path`` when carc may write a file there, else an ``OutputError`` saying why.

    >>> check_output_path("")
    Traceback (most recent call last):
    ...
    carc.core.files.OutputError: the output path is empty
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"an output path is a str or os.PathLike, not {type(path).__name__}")
    if os.fspath(path) in ("", b""):
        raise OutputError("the output path is empty")
    target = Path(path)
    try:
        info = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    except OSError as err:
        raise OutputError(f"cannot write {target}: {_describe(err)}") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise OutputError(f"refusing to write {target}: it is a symbolic link (carc does not replace links)")
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"cannot write {target}: it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(f"refusing to write {target}: it is not a regular file (a device, FIFO or socket)")
    parent = target.parent
    if not parent.exists():
        raise OutputError(f"cannot write {target}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: {parent} is not a folder")
    return target


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` atomically when the block ends without error."""
    target = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as err:
        raise OutputError(f"cannot write {target}: {_describe(err)}") from None
    try:
        # a stop request waits until the file is whole and in place (see the module's docstring)
        with stops_deferred():
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~current_umask())
            check_output_path(target)  # the target may have changed while we wrote
            os.replace(tmp, target)
    except OSError as err:
        _remove(tmp)
        if err.errno == errno.ENOSPC:
            raise OutputError(f"cannot write {target}: no space left on device") from None
        raise OutputError(f"cannot write {target}: {_describe(err)}") from None
    except BaseException:
        _remove(tmp)
        raise
    with contextlib.suppress(OSError):
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_output(path) as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (``\\n`` line ends); returns the path."""
    return write_bytes_atomic(path, text.encode(encoding))


def _folder_path(path: str | os.PathLike[str]) -> Path:
    """The path of an output folder, refused when empty or when it names something else than a folder."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"an output folder is a str or os.PathLike, not {type(path).__name__}")
    if os.fspath(path) == "":
        raise OutputError("the output folder is empty")
    folder = Path(path)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise OutputError(f"cannot write into {folder}: it is not a folder")
    return folder


def output_folder(path: str | os.PathLike[str]) -> Path:
    """A folder carc may add files and folders to, created (with its parents) when missing; what it
    holds already is kept. A path that is not a folder, or a folder carc cannot write into, is an
    ``OutputError``.

    >>> import tempfile, pathlib
    >>> output_folder(pathlib.Path(tempfile.mkdtemp()) / "runs" / "a").is_dir()
    True
    """
    folder = _folder_path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot write into {folder}: {_describe(err)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {folder}: permission denied")
    return folder


def check_output_folder(path: str | os.PathLike[str], force: bool = False) -> Path:
    """What ``prepare_output_folder`` would refuse, said before anything is created or removed: a path
    that is not a folder, under one that is not, or (without ``force``) a folder that holds entries."""
    folder = _folder_path(path)
    above = next((p for p in folder.absolute().parents if p.exists() or p.is_symlink()), None)
    if above is not None and not above.is_dir():
        raise OutputError(f"cannot write into {folder}: {above} is not a folder")
    try:
        left = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    except OSError as err:
        raise OutputError(f"cannot write into {folder}: {_describe(err)}") from None
    if left and not force:
        raise _not_empty(folder, left, "*")
    return folder


def _not_empty(folder: Path, left: list[str], pattern: str) -> OutputError:
    files = "files" if pattern == "*" else f"{pattern} files"
    return OutputError(f"{folder} is not empty ({len(left)} entries, e.g. {left[0]}): choose a new folder, or --force to replace its {files}")


def prepare_output_folder(path: str | os.PathLike[str], force: bool = False, pattern: str = "*") -> Path:
    """A folder to write a set of files into (``output_folder``); an existing one must hold nothing
    (``force`` instead removes the files matching ``pattern`` and carc's leftover temporary files)."""
    folder = output_folder(path)
    try:
        if force:
            for old in [*folder.glob(pattern), *folder.glob(f".*{TEMP_SUFFIX}")]:
                if old.is_file() and not old.is_symlink():
                    old.unlink()
        left = sorted(p.name for p in folder.iterdir())
    except OSError as err:
        raise OutputError(f"cannot write into {folder}: {_describe(err)}") from None
    if left and not force:
        raise _not_empty(folder, left, pattern)
    return folder
