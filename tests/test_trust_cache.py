"""Issue 10, family 1: nothing planted in a kernel cache runs.

Each planted file carries a payload that creates a marker file when it is loaded. Where the plant is
a real attack on the plain loading path (numba's own index in ``__pycache__``, Python's ``.pyc``), the
test first shows that plain importlib/numba does run it, then that ``carc compile`` does not: the
marker never appears and the command either succeeds after rebuilding or refuses with one line.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import marshal
import os
import pickle
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from carc.backend.cache import (
    CHECKED_SUFFIX,
    CODE_SUFFIX,
    KEY_FILE,
    NUMBA_DIR,
    SIGNATURE_SUFFIX,
    CacheError,
    VerifiedSourceLoader,
    cache_key,
    cache_root,
    import_verified,
    purge_unsigned,
    record_checked,
    sign_numba_files,
    was_checked,
)

REPO = Path(__file__).resolve().parent.parent
PROGRAM = 'program p "trust"\nobserve rgb\nsubtask s "s" bonus 1 : true\n'
IS_ROOT = hasattr(os, "getuid") and os.getuid() == 0


class Payload:
    """Unpickling this creates the marker file (what a hostile pickle would do, harmlessly)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def run(*args: str, cache: Path, tmpdir: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CARC_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    env.pop("NUMBA_CACHE_DIR", None)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-m", "carc", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding one compiled kernel (one cold compile for the whole module)."""
    root = tmp_path_factory.mktemp("template")
    program = root / "p.car"
    program.write_text(PROGRAM)
    done = run("compile", str(program), "--json", cache=root / "cache")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture()
def cache(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "t", symlinks=True)
    return tmp_path / "t" / "cache"


def _stem(cache: Path, prefix: str = "k_") -> str:
    return next(cache.glob(f"{prefix}*.py")).stem


def _compile(cache: Path) -> subprocess.CompletedProcess[str]:
    return run("compile", str(cache.parent / "p.car"), "--json", cache=cache)


_PLAIN_IMPORT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[sys.argv[2]] = module
spec.loader.exec_module(module)
"""


def _plain_import(path: Path) -> None:
    """Import a cached kernel the plain way (importlib + numba's default cache locators)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    subprocess.run([sys.executable, "-c", _PLAIN_IMPORT, str(path), "carc_plain_" + path.stem], env=env, capture_output=True, timeout=600)


# A program's module (its _program function) and the kernel library (its _one), both loaded from the cache.
CACHED_FUNCTIONS = [("k_", "_program"), ("lib_", "_one")]


@pytest.mark.parametrize("prefix,function", CACHED_FUNCTIONS)
def test_planted_numba_index_is_deleted_and_rebuilt(cache: Path, tmp_path: Path, prefix: str, function: str) -> None:
    marker = tmp_path / "pwned-by-nbi"
    stem = _stem(cache, prefix)
    index = next((cache / NUMBA_DIR).glob(f"{stem}.{function}-*.nbi"))
    payload = pickle.dumps(Payload(marker))
    # The same file where numba itself looks by default: plain numba unpickles it and runs the payload.
    (cache / "__pycache__").mkdir(exist_ok=True)
    (cache / "__pycache__" / index.name).write_bytes(payload)
    _plain_import(cache / f"{stem}.py")
    assert marker.exists(), "the planted index is not a working payload for plain numba"
    marker.unlink()
    index.write_bytes(payload)
    done = _compile(cache)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert index.read_bytes() != payload  # deleted, then written afresh by numba
    signed = json.loads((cache / f"{stem}.sig").read_text())["files"]
    assert index.name in signed


@pytest.mark.parametrize("prefix,function", CACHED_FUNCTIONS)
def test_planted_numba_data_file_is_deleted_and_rebuilt(cache: Path, tmp_path: Path, prefix: str, function: str) -> None:
    marker = tmp_path / "pwned-by-nbc"
    stem = _stem(cache, prefix)
    data = next((cache / NUMBA_DIR).glob(f"{stem}.{function}-*.1.nbc"))
    data.write_bytes(pickle.dumps(Payload(marker)))
    done = _compile(cache)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()


def test_planted_index_for_a_program_never_compiled(tmp_path: Path, template: Path) -> None:
    """A plant made before the first compile, under the exact name numba will look for."""
    marker = tmp_path / "pwned-early"
    cache = tmp_path / "cache"
    (cache / NUMBA_DIR).mkdir(parents=True, mode=0o700)
    os.chmod(cache, 0o700)
    (tmp_path / "p.car").write_text(PROGRAM)
    for name in (p.name for p in (template / "cache" / NUMBA_DIR).iterdir()):
        (cache / NUMBA_DIR / name).write_bytes(pickle.dumps(Payload(marker)))
    done = _compile(cache)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()


def test_planted_pyc_is_never_read(cache: Path, tmp_path: Path) -> None:
    from importlib._bootstrap_external import _code_to_timestamp_pyc  # type: ignore[attr-defined]

    marker = tmp_path / "pwned-by-pyc"
    stem = _stem(cache)
    source = cache / f"{stem}.py"
    info = source.stat()
    code = compile(f"open({str(marker)!r}, 'w').close()\n", str(source), "exec")
    pyc = Path(importlib.util.cache_from_source(str(source)))
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(bytes(_code_to_timestamp_pyc(code, int(info.st_mtime), info.st_size)))
    _plain_import(source)
    assert marker.exists(), "the planted .pyc is not a working payload for plain importlib"
    marker.unlink()
    done = _compile(cache)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert json.loads(done.stdout)["kernel"] == str(source)


def test_tampered_kernel_source_is_rewritten(cache: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned-by-source"
    stem = _stem(cache)
    source = cache / f"{stem}.py"
    original = source.read_text()
    source.write_text(f"open({str(marker)!r}, 'w').close()\n" + original)
    done = _compile(cache)
    assert done.returncode == 0, done.stderr
    assert not marker.exists() and source.read_text() == original


@pytest.mark.skipif(not IS_ROOT, reason="planting a directory owned by another user needs root (os.chown)")
def test_fallback_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned-by-fallback"
    (tmp_path / "p.car").write_text(PROGRAM)
    blocked = tmp_path / "a-file"
    blocked.write_text("the configured cache cannot be created under a file")
    fallback = tmp_path / f"carc-cache-{os.getuid()}"
    (fallback / NUMBA_DIR).mkdir(parents=True)
    for name in ("k_0000000000000000._one-1.py311.nbi", KEY_FILE):
        (fallback / NUMBA_DIR / name).write_bytes(pickle.dumps(Payload(marker)))
    for path in (fallback, fallback / NUMBA_DIR, *(fallback / NUMBA_DIR).iterdir()):
        os.chown(path, 65534, 65534)
    done = run("compile", str(tmp_path / "p.car"), cache=blocked / "cache", tmpdir=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "owned by uid 65534" in lines[0] and str(fallback) in lines[0]
    assert not marker.exists() and "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["world-writable", "symlink"])
def test_unsafe_fallback_is_refused(tmp_path: Path, kind: str) -> None:
    (tmp_path / "p.car").write_text(PROGRAM)
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    fallback = tmp_path / f"carc-cache-{os.getuid()}"
    if kind == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        fallback.symlink_to(tmp_path / "elsewhere")
    else:
        fallback.mkdir()
        os.chmod(fallback, 0o777)
    done = run("check", str(tmp_path / "p.car"), cache=blocked / "cache", tmpdir=tmp_path)
    assert done.returncode == 0  # checking needs no cache
    done = run("compile", str(tmp_path / "p.car"), cache=blocked / "cache", tmpdir=tmp_path)
    assert done.returncode == 2 and "refusing cache directory" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_fallback_is_private_when_created(tmp_path: Path) -> None:
    (tmp_path / "p.car").write_text(PROGRAM)
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    done = run("compile", str(tmp_path / "p.car"), "--json", cache=blocked / "cache", tmpdir=tmp_path)
    assert done.returncode == 0, done.stderr
    fallback = tmp_path / f"carc-cache-{os.getuid()}"
    assert json.loads(done.stdout)["kernel"].startswith(str(fallback))
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o700


# ---- the checks themselves, in process -----------------------------------------------------------


def test_group_writable_cache_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    os.chmod(root, 0o775)
    with pytest.raises(CacheError, match="chmod go-w"):
        cache_root(root)
    os.chmod(root, 0o755)
    assert cache_root(root) == root.resolve()


@pytest.mark.skipif(not IS_ROOT, reason="needs root (os.chown)")
def test_cache_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    os.chown(root, 65534, 65534)
    with pytest.raises(CacheError, match="owned by uid 65534"):
        cache_root(root)


def test_only_signed_numba_files_survive(tmp_path: Path) -> None:
    root = cache_root(tmp_path / "cache")
    key = cache_key(root)
    numba = root / NUMBA_DIR
    numba.mkdir(mode=0o700, exist_ok=True)
    good, changed, unsigned, loose = (numba / f"k_1.f-{i}.py311.nbi" for i in range(4))
    for path in (good, changed, unsigned, loose):
        path.write_bytes(b"numba data")
    os.chmod(loose, 0o644)
    sign_numba_files(root, "k_1", key)
    changed.write_bytes(b"numba datA")
    os.chmod(loose, 0o666)  # writable by others since signing: not trusted any more
    unsigned.unlink()
    unsigned.write_bytes(b"planted")
    other = numba / "k_2.f-1.py311.nbi"
    other.write_bytes(b"another kernel's file: not this purge's business")
    assert sorted(purge_unsigned(root, "k_1", key)) == sorted([changed.name, unsigned.name, loose.name])
    assert good.exists() and other.exists() and not changed.exists()


def test_a_foreign_key_invalidates_every_digest(tmp_path: Path) -> None:
    root = cache_root(tmp_path / "cache")
    key = cache_key(root)
    numba = root / NUMBA_DIR
    numba.mkdir(mode=0o700, exist_ok=True)
    (numba / "k_1.f-1.py311.nbi").write_bytes(b"data")
    sign_numba_files(root, "k_1", key)
    os.chmod(root / KEY_FILE, 0o644)  # readable by others: replaced by a new key
    new = cache_key(root)
    assert new != key and stat.S_IMODE((root / KEY_FILE).stat().st_mode) == 0o600
    assert purge_unsigned(root, "k_1", new) == ["k_1.f-1.py311.nbi"]


def test_a_signed_file_changed_after_a_load_is_not_resigned(tmp_path: Path) -> None:
    # A load keeps the digests it verified for files still as they were (same inode, size and
    # mtime) and writes no table when nothing changed; a file changed since is read and digested
    # afresh, never given the old digest's trust under new content.
    from carc.backend.cache import _purge

    root = cache_root(tmp_path / "cache")
    key = cache_key(root)
    numba = root / NUMBA_DIR
    numba.mkdir(mode=0o700, exist_ok=True)
    kept, rewritten = numba / "k_1.f-1.py311.nbi", numba / "k_1.f-1.py311.1.nbc"
    kept.write_bytes(b"index")
    rewritten.write_bytes(b"data")
    sign_numba_files(root, "k_1", key)
    table = root / f"k_1{SIGNATURE_SUFFIX}"
    signed_at = table.stat().st_mtime_ns
    removed, verified = _purge(root, "k_1", key)
    assert removed == [] and sorted(verified) == [rewritten.name, kept.name]
    sign_numba_files(root, "k_1", key, verified)
    assert table.stat().st_mtime_ns == signed_at  # nothing changed: not written again
    rewritten.write_bytes(b"numba saved this anew")  # what numba does when it compiles a function again
    sign_numba_files(root, "k_1", key, verified)
    assert purge_unsigned(root, "k_1", key) == [] and rewritten.exists()  # the new content is what is signed


def test_a_check_record_holds_only_for_its_source_checker_and_key(tmp_path: Path) -> None:
    root = cache_root(tmp_path / "cache")
    record_checked(root, "k_1", "checker v1", "source text")
    assert was_checked(root, "k_1", "checker v1", "source text")
    assert not was_checked(root, "k_1", "checker v1", "source text, changed")
    assert not was_checked(root, "k_1", "checker v2", "source text")
    assert not was_checked(root, "k_2", "checker v1", "source text")
    other = cache_root(tmp_path / "other")  # another directory, another key: a copied record means nothing
    shutil.copy(root / f"k_1{CHECKED_SUFFIX}", other / f"k_1{CHECKED_SUFFIX}")
    assert not was_checked(other, "k_1", "checker v1", "source text")


def test_a_forged_check_record_is_ignored_and_replaced(cache: Path) -> None:
    record = cache / f"{_stem(cache)}{CHECKED_SUFFIX}"
    genuine = record.read_bytes()
    record.write_bytes(b"0" * len(genuine))
    done = _compile(cache)
    assert done.returncode == 0, done.stderr
    assert record.read_bytes() == genuine  # the check ran again and recorded itself


def test_numba_cache_dir_cannot_redirect_the_kernel_cache(cache: Path, tmp_path: Path) -> None:
    """NUMBA_CACHE_DIR would point numba at an unchecked folder: carc's kernels ignore it."""
    elsewhere = tmp_path / "numba-elsewhere"
    env = {**os.environ, "CARC_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(elsewhere)}
    done = subprocess.run([sys.executable, "-m", "carc", "compile", str(cache.parent / "p.car"), "--json"], capture_output=True, text=True,
                          env=env, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert not elsewhere.exists() or not any(elsewhere.rglob("k_*"))


_LOAD_ARTIFACT = """
import sys
from carc.backend.kernel import load_artifact
module = load_artifact(sys.argv[1])
print(module.NSTATE)
"""


def test_load_artifact_never_reads_what_lies_beside_it(cache: Path, tmp_path: Path) -> None:
    from importlib._bootstrap_external import _code_to_timestamp_pyc  # type: ignore[attr-defined]

    marker = tmp_path / "pwned-by-artifact-pyc"
    artifact = tmp_path / "kernel.py"
    assert run("compile", str(cache.parent / "p.car"), "-o", str(artifact), cache=cache).returncode == 0
    info = artifact.stat()
    pyc = Path(importlib.util.cache_from_source(str(artifact)))
    pyc.parent.mkdir(exist_ok=True)
    code = compile(f"open({str(marker)!r}, 'w').close()\n", str(artifact), "exec")
    pyc.write_bytes(bytes(_code_to_timestamp_pyc(code, int(info.st_mtime), info.st_size)))
    env = {**os.environ, "CARC_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _LOAD_ARTIFACT, str(artifact)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not marker.exists() and int(done.stdout) > 0


def _payload_code(marker: Path, source: Path) -> bytes:
    """A marshalled code object that creates the marker when it runs."""
    return marshal.dumps(compile(f"open({str(marker)!r}, 'w').close()\n", str(source), "exec"))


@pytest.mark.parametrize("prefix", ["k_", "lib_"])
def test_a_planted_code_record_never_runs_and_is_replaced(cache: Path, tmp_path: Path, prefix: str) -> None:
    marker = tmp_path / "pwned-by-code-record"
    stem = _stem(cache, prefix)
    record = cache / f"{stem}{CODE_SUFFIX}"
    assert _compile(cache).returncode == 0  # the record of this directory (a copied one names the template's file)
    genuine = record.read_bytes()
    record.write_bytes(genuine[:64] + _payload_code(marker, cache / f"{stem}.py"))  # a digest of other bytes
    done = _compile(cache)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert record.read_bytes() == genuine  # compiled from the source again, and recorded


def test_a_code_record_holds_only_for_its_source_and_key(tmp_path: Path) -> None:
    """The loader reuses a record only under the key and for the source that wrote it."""
    root = cache_root(tmp_path / "cache")
    key = cache_key(root)
    record = root / f"k_1{CODE_SUFFIX}"
    source = b"x = 1\n"
    first = VerifiedSourceLoader("carc_test_code", str(root / "k_1.py"), source, record, key)
    assert first.get_code("carc_test_code") is not None and record.is_file()
    written = record.read_bytes()
    assert VerifiedSourceLoader("carc_test_code", str(root / "k_1.py"), source, record, key).get_code("carc_test_code").co_consts == (1, None)
    changed = VerifiedSourceLoader("carc_test_code", str(root / "k_1.py"), b"x = 2\n", record, key)
    assert 2 in changed.get_code("carc_test_code").co_consts and record.read_bytes() != written  # recompiled, re-recorded
    other = cache_root(tmp_path / "other")  # another directory, another key: a copied record is compiled over
    shutil.copy(record, other / record.name)
    copied = (other / record.name).read_bytes()
    VerifiedSourceLoader("carc_test_code", str(other / "k_1.py"), b"x = 2\n", other / record.name, cache_key(other)).get_code("carc_test_code")
    assert (other / record.name).read_bytes() != copied


@pytest.mark.parametrize("enabled", [True, False])
def test_a_load_leaves_the_garbage_collector_as_it_was(tmp_path: Path, enabled: bool) -> None:
    """import_verified pauses Python's cyclic collector while it loads, and restores it, on error too."""
    root = cache_root(tmp_path / "cache")
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        _, module = import_verified(root, "k_gc", "import gc\nPAUSED = not gc.isenabled()\n", "carc_test_gc")
        assert module.PAUSED and gc.isenabled() == enabled
        with pytest.raises(ZeroDivisionError):
            import_verified(root, "k_gc_error", "x = 1 // 0\n", "carc_test_gc_error")
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()
        sys.modules.pop("carc_test_gc", None)
