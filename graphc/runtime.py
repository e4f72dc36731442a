"""Generated modules live as real files in a cache directory, so tracebacks, ``inspect`` and
Numba's own ``cache=True`` work, and a new process finds yesterday's compiled code. What guards
that directory (privacy, checksums, size) is in ``graphc.cache``."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
import warnings
from types import ModuleType

from . import cache

_lock = threading.Lock()


def cache_dir() -> str:
    """``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``."""
    return cache.directory()


def _write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the whole new one,
    never a part (a writer killed midway leaves only a temporary file)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=os.path.basename(path),
                               suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(source: str, prefix: str = "cpu") -> ModuleType:
    """Write ``source`` under its content hash (atomically), check it, and import it."""
    name = cache.module_name(source, prefix)
    with _lock:
        if name in sys.modules:
            return sys.modules[name]
        directory = cache.directory()
        path = os.path.join(directory, name + ".py")
        data = source.encode()
        written = False
        try:
            cache.check_private(path)
            with open(path, "rb") as f:
                old = f.read()
            if old != data:
                warnings.warn(f"graphc: cache file {path} does not match its content hash "
                              f"(sha256 {hashlib.sha256(old).hexdigest()[:12]}...); rewriting "
                              "it and recompiling", cache.CacheWarning, stacklevel=2)
                _drop_numba_files(directory, name)
                _write(path, data)
                written = True
        except FileNotFoundError:
            _write(path, data)
            written = True
        cache.check_private(path)
        cache.touch(path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cache.guard(module)
        sys.modules[name] = module
        if written:
            cache.evict(keep={n for n in sys.modules if n.startswith(cache.PREFIX)})
        return module


def _drop_numba_files(directory: str, name: str) -> None:
    pycache = os.path.join(directory, "__pycache__")
    for f in os.listdir(pycache):
        if f.startswith(name + "."):
            try:
                os.unlink(os.path.join(pycache, f))
            except OSError:
                pass


class Workspaces:
    """The scratch memory of one compiled entry (a ``codegen.cpu.Workspace``), kept across
    calls so that a call allocates only its results. Each call takes one set of buffers for
    itself (threads calling at once get different ones) and gives it back: there are as many
    sets as calls ever ran at once."""

    def __init__(self, plan):
        self.plan = plan
        self._free: list = []  # list.pop and list.append are atomic: no lock needed

    def take(self) -> tuple:
        try:
            return self._free.pop()
        except IndexError:
            return self.plan.buffers()

    def give(self, ws: tuple) -> None:
        self._free.append(ws)
