"""Generated modules live as real files in a cache directory, so tracebacks, ``inspect`` and
Numba's own ``cache=True`` work, and a new process finds yesterday's compiled code."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from types import ModuleType

from .codegen.cpu import module_key


def cache_dir() -> str:
    """``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``."""
    path = os.environ.get("GRAPHC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "graphc")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def load(source: str, prefix: str = "cpu") -> ModuleType:
    """Write ``source`` under its content hash (atomically) and import it."""
    name = f"graphc_{prefix}_{module_key(source)}"
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(cache_dir(), name + ".py")
    if not os.path.exists(path) or open(path).read() != source:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module
