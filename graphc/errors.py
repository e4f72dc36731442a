"""graphc's exceptions. Every one names the problem and, where known, the user's source line."""

from __future__ import annotations

import numpy as np


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""

    def __init__(self, message: str, loc=None):
        self.loc = loc
        if loc is not None:
            message = f"{message}\n  at {loc}"
        super().__init__(message)


class UnsupportedError(GraphcError, TypeError):
    """A NumPy function, method, ufunc or argument form that graphc cannot trace."""


class TracerBoolError(GraphcError, TypeError):
    """Python control flow on a traced value (``if x > 0``, ``bool(x)``)."""


class ShapeError(GraphcError, ValueError):
    """Operands whose shapes do not fit the operation."""


class ArgumentError(GraphcError, ValueError):
    """Bad arguments to a graphc transform or to a compiled function."""


class BackendError(GraphcError, RuntimeError):
    """A backend that lacks an op, or a runtime (e.g. CUDA) that is not available."""


class OutOfBoundsError(GraphcError, IndexError):
    """An integer index outside its axis (``x[idx]``, ``np.take``): found while tracing when the
    indices are constants, otherwise by the compiled code before it reads anything."""


class TraceError(GraphcError, RuntimeError):
    """The traced function itself raised (often: arguments of a structure it does not expect,
    such as a list where it indexes a dict). The original exception is the ``__cause__``."""


class LinAlgError(GraphcError, np.linalg.LinAlgError):
    """A matrix the compiled code cannot factor: singular (np.linalg.solve, inv) or not
    positive definite (np.linalg.cholesky). It is NumPy's LinAlgError too."""
