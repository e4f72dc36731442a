"""graphc: a NumPy-style function in, its compiled gradient out.

    @graphc.grad
    def loss(w, x, y): return ((np.tanh(x @ w) - y) ** 2).mean()

The function is traced into a DAG, its adjoint derived symbolically in the same IR, the joint
graph simplified and fused, and compiled into one Numba call (CPU) or numba.cuda kernels.
"""

from . import cache, numpy
from .api import Function, grad, jit, value_and_grad
from .draw import draw, to_dot
from .errors import (ArgumentError, BackendError, GraphcError, LinAlgError, OutOfBoundsError,
                     ShapeError, TraceError, TracerBoolError, UnsupportedError)
from .loops import scan
from .transforms import custom_vjp, hessian_vector_product, hvp, jacobian, jvp

__version__ = "0.1.0"

__all__ = ["grad", "value_and_grad", "jit", "scan", "hvp", "hessian_vector_product",
           "jacobian", "jvp", "custom_vjp", "Function", "cache", "numpy", "draw", "to_dot",
           "GraphcError", "ArgumentError", "BackendError", "LinAlgError", "OutOfBoundsError",
           "ShapeError",
           "TraceError", "TracerBoolError", "UnsupportedError"]
