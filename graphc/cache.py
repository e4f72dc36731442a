"""The disk cache of generated modules, and what guards it.

A generated module is a file ``graphc_<target>_<key>.py`` in the cache directory; ``key`` hashes
the module's text (whose header names the graphc, vmath, Numba and NumPy versions; shapes and
dtypes are literals in it) together with the Python version and the CPU (name and features).
Numba keeps the compiled machine code next to it in ``__pycache__`` (``.nbi`` index, ``.nbc``
data), keyed again by signature and CPU features.

Guards:
- the directory is created 0700; graphc refuses (``CacheError``) to import from a directory or
  a file that another user owns or that group/others may write;
- modules are written atomically (temporary file, then rename);
- a module whose text does not match its key is rewritten, and Numba's index and data files of
  generated modules carry a SHA-256 of their contents: a truncated or corrupted file is removed
  and recompiled with a ``CacheWarning``, never loaded;
- the directory is kept under ``$GRAPHC_CACHE_MAX_MB`` (default 512) by removing the least
  recently used modules (by access time, which graphc sets on every load) with their Numba files.

``size()``, ``clear()`` and ``evict()`` manage it; ``directory()`` says where it is.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import platform
import stat
import time
import warnings

from .errors import GraphcError

PREFIX = "graphc_"
_MAGIC = b"graphc-sha256\n"


class CacheError(GraphcError):
    """The cache directory or a file in it is unsafe to import from."""


class CacheWarning(UserWarning):
    """A corrupted cache file was found; it was removed and its code is being rebuilt."""


def max_bytes() -> int:
    """The size limit: ``$GRAPHC_CACHE_MAX_MB`` megabytes (default 512)."""
    return int(float(os.environ.get("GRAPHC_CACHE_MAX_MB", "512")) * 2**20)


def check_private(path: str) -> os.stat_result:
    """``path``'s stat if this user owns it and nobody else may write it, else CacheError."""
    st = os.lstat(path)
    what = "directory" if stat.S_ISDIR(st.st_mode) else "file"
    if stat.S_ISLNK(st.st_mode):
        raise CacheError(f"graphc cache {what} {path} is a symbolic link; refusing to use it")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise CacheError(f"graphc cache {what} {path} belongs to another user (uid "
                         f"{st.st_uid}); refusing to import code from it")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheError(f"graphc cache {what} {path} is writable by group or others (mode "
                         f"{stat.S_IMODE(st.st_mode):04o}); refusing to import code from it. "
                         f"Run `chmod go-w {path}`, or set GRAPHC_CACHE_DIR to a private "
                         "directory")
    return st


def directory() -> str:
    """``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``: created
    0700 with its ``__pycache__``, and checked private."""
    path = os.path.abspath(os.environ.get("GRAPHC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "graphc"))
    pycache = os.path.join(path, "__pycache__")
    if not os.path.isdir(pycache):
        os.makedirs(path, mode=0o700, exist_ok=True)
        # Before Numba makes it with the umask's mode.
        os.makedirs(pycache, mode=0o700, exist_ok=True)
    check_private(path)
    check_private(pycache)
    return path


_env_key: str | None = None


def environment() -> str:
    """What compiled code depends on besides the module text: Python, and the CPU."""
    global _env_key
    if _env_key is None:
        import llvmlite.binding as llvm

        _env_key = (f"python {platform.python_version()} {platform.machine()}, cpu "
                    f"{llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}")
    return _env_key


def module_name(source: str, prefix: str) -> str:
    digest = hashlib.sha256((environment() + "\n" + source).encode()).hexdigest()[:24]
    return f"{PREFIX}{prefix}_{digest}"


def _module_files(path: str) -> dict[str, list[str]]:
    """Module name -> its files (the .py and Numba's files for it) under the cache dir."""
    groups: dict[str, list[str]] = {}
    pycache = os.path.join(path, "__pycache__")
    for folder in (path, pycache):
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for f in names:
            if f.startswith(PREFIX):
                groups.setdefault(f.split(".", 1)[0], []).append(os.path.join(folder, f))
    return groups


def _sizeof(files: list[str]) -> int:
    total = 0
    for f in files:
        try:
            total += os.lstat(f).st_size
        except OSError:
            pass
    return total


def _remove(files: list[str]) -> None:
    for f in files:
        try:
            os.unlink(f)
        except OSError:
            pass


def size() -> int:
    """Bytes the cache holds (generated modules and Numba's compiled code for them)."""
    return sum(_sizeof(fs) for fs in _module_files(directory()).values())


def clear() -> int:
    """Remove every generated module and its compiled code; returns how many modules.
    Functions already loaded in this process keep working."""
    groups = _module_files(directory())
    for files in groups.values():
        _remove(files)
    return len(groups)


def touch(path: str) -> None:
    """Record a use of the module at ``path`` in its access time. The modification time stays:
    Numba's index is keyed by it."""
    try:
        os.utime(path, ns=(time.time_ns(), os.lstat(path).st_mtime_ns))
    except OSError:
        pass


def evict(limit: int | None = None, keep: set[str] | frozenset = frozenset()) -> int:
    """Remove least recently used modules until the cache is under ``limit`` bytes (default
    ``max_bytes()``); modules named in ``keep`` stay, and so do modules written in the last
    minute (another process sharing the directory may be writing or loading them: removing
    its temporary file before the rename failed its call). Leftover temporary files of writers
    that died more than an hour ago go too. Returns how many modules were removed."""
    limit = max_bytes() if limit is None else limit
    path = directory()
    groups = _module_files(path)
    stale = time.time() - 3600
    for name, files in list(groups.items()):
        tmps = [f for f in files if ".tmp" in os.path.basename(f)]
        old = [f for f in tmps if _mtime(f) < stale]
        _remove(old)
        if old:
            groups[name] = [f for f in files if f not in old]
    sizes = {name: _sizeof(files) for name, files in groups.items()}
    total = sum(sizes.values())
    if total <= limit:
        return 0

    def last_use(name: str) -> float:
        try:
            return os.lstat(os.path.join(path, name + ".py")).st_atime
        except OSError:
            return 0.0  # Numba files without their module: orphans go first

    removed = 0
    fresh = time.time() - 60
    for name in sorted(groups, key=last_use):
        if total <= limit:
            break
        if name in keep or any(_mtime(f) > fresh for f in groups[name]):
            continue
        _remove(groups[name])
        total -= sizes[name]
        removed += 1
    return removed


def _mtime(f: str) -> float:
    try:
        return os.lstat(f).st_mtime
    except OSError:
        return float("inf")


def _corrupt(path: str, why: str) -> None:
    warnings.warn(f"graphc: cache file {path} is corrupt ({why}); removed, recompiling",
                  CacheWarning, stacklevel=2)
    _remove([path])


def _sealed(body: bytes) -> bytes:
    return _MAGIC + hashlib.sha256(body).digest() + body


def _unseal(data: bytes, path: str) -> bytes | None:
    """The body of a sealed file, or None (and a warning) when it does not match its hash."""
    n = len(_MAGIC)
    body = data[n + 32:]
    if data[:n] != _MAGIC or len(data) < n + 32:
        _corrupt(path, "no graphc checksum")
        return None
    if hashlib.sha256(body).digest() != data[n:n + 32]:
        _corrupt(path, "checksum mismatch")
        return None
    return body


def _checked_cache_file_class():
    """A Numba ``IndexDataCacheFile`` whose index and data files carry a SHA-256 of their
    contents, checked before anything is unpickled. Numba itself trusts these files: a flipped
    byte in a data file is machine code it would run."""
    from numba.core.caching import IndexDataCacheFile

    class CheckedCacheFile(IndexDataCacheFile):
        def _save_index(self, overloads):
            body = pickle.dumps(self._version, protocol=-1) + self._dump(
                (self._source_stamp, overloads))
            with self._open_for_write(self._index_path) as f:
                f.write(_sealed(body))

        def _load_index(self):
            try:
                with open(self._index_path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                return {}
            body = _unseal(data, self._index_path)
            if body is None:
                return {}
            try:
                version, rest = _split_pickle(body)
                if version != self._version:
                    return {}
                stamp, overloads = pickle.loads(rest)
            except Exception as e:  # sealed but unreadable: written by a broken writer
                _corrupt(self._index_path, f"{type(e).__name__}: {e}")
                return {}
            return overloads if stamp == self._source_stamp else {}

        def _save_data(self, name, data):
            with self._open_for_write(self._data_path(name)) as f:
                f.write(_sealed(self._dump(data)))

        def _load_data(self, name):
            path = self._data_path(name)
            with open(path, "rb") as f:
                data = f.read()
            body = _unseal(data, path)
            if body is None:
                raise OSError(f"corrupt cache file {path}")  # Numba's load(): a miss
            return pickle.loads(body)

    return CheckedCacheFile


def _split_pickle(body: bytes):
    import io

    f = io.BytesIO(body)
    version = pickle.load(f)
    return version, f.read()


_checked_class = None


def guard(module) -> None:
    """Make Numba's on-disk cache of the functions ``module`` defines checksum its files."""
    global _checked_class
    from numba.core.caching import IndexDataCacheFile
    from numba.core.dispatcher import Dispatcher

    if _checked_class is None:
        _checked_class = _checked_cache_file_class()
    for value in vars(module).values():
        if not isinstance(value, Dispatcher) or value.py_func.__module__ != module.__name__:
            continue
        cache_file = getattr(getattr(value, "_cache", None), "_cache_file", None)
        if type(cache_file) is IndexDataCacheFile:
            cache_file.__class__ = _checked_class


__all__ = ["CacheError", "CacheWarning", "clear", "directory", "evict", "max_bytes", "size"]
