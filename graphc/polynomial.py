"""numpy.polynomial's series in traced code: the ``*val``, ``*vander`` and ``*fit`` functions
of the power, Chebyshev, Legendre, Laguerre and both Hermite bases, with traced coefficients,
points or data.

Every basis obeys a three-term recurrence P_(k+1) = (a_k + b_k x) P_k - g_k P_(k-1), with
P_0 = 1; a value is Clenshaw's sum over that recurrence, a Vandermonde matrix the recurrence
itself, and a fit the least squares of the matrix with its columns scaled to unit norm first,
as NumPy does (through graphc's lstsq: the SVD). Coefficients come lowest degree first, as in
numpy.polynomial (np.polyval's come highest first).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np
import numpy.polynomial as npp

from .errors import ShapeError, UnsupportedError
from .ir import user_loc
from .special import _ModuleInTrace, float_tracer
from . import numpy as gnp
from .trace import _SWAPS, NUMPY_IN_TRACE, Tracer

# basis -> k -> (a_k, b_k, g_k) of its recurrence
_RECURRENCE: dict[str, Callable[[int], tuple[float, float, float]]] = {
    "poly": lambda k: (0.0, 1.0, 0.0),
    "cheb": lambda k: (0.0, 1.0 if k == 0 else 2.0, 1.0),
    "leg": lambda k: (0.0, (2 * k + 1) / (k + 1), k / (k + 1)),
    "herm": lambda k: (0.0, 2.0, 2.0 * k),
    "herme": lambda k: (0.0, 1.0, float(k)),
    "lag": lambda k: ((2 * k + 1) / (k + 1), -1 / (k + 1), k / (k + 1)),
}
_MODULES = {"poly": npp.polynomial, "cheb": npp.chebyshev, "leg": npp.legendre,
            "herm": npp.hermite, "herme": npp.hermite_e, "lag": npp.laguerre}


def _linear(basis: str, k: int, x: Any) -> Any:
    """a_k + b_k x, without the terms that are 0 or 1."""
    a, b, _ = _RECURRENCE[basis](k)
    bx = x if b == 1 else b * x
    return bx if a == 0 else a + bx


def _val(basis: str) -> Callable[..., Any]:
    name = f"{basis}val"
    numpy_fn = getattr(_MODULES[basis], name)

    def val(x: Any, c: Any, tensor: bool = True) -> Any:
        if not gnp._traced([x, c]):
            return numpy_fn(x, c, tensor)
        c = float_tracer(c)
        if c.ndim == 0:
            c = c.reshape(1)
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        if tensor and c.ndim > 1:  # each coefficient against every point
            c = c.reshape(c.shape + (1,) * np.ndim(x))
        # Clenshaw: s_k = c_k + (a_k + b_k x) s_(k+1) - g_(k+1) s_(k+2), from the top down;
        # the sum is c_0 + P_1 s_1 - g_1 s_2.
        n = c.shape[0]
        s1 = s2 = None  # s_(k+1), s_(k+2); None is 0
        for k in range(n - 1, 0, -1):
            s = c[k]
            if s1 is not None:
                s = s + _linear(basis, k, x) * s1
            if s2 is not None:
                g = _RECURRENCE[basis](k + 1)[2]
                if g:
                    s = s - g * s2
            s1, s2 = s, s1
        out = c[0] + (x * 0 if s1 is None else _linear(basis, 0, x) * s1)
        g = _RECURRENCE[basis](1)[2]
        return out - g * s2 if s2 is not None and g else out

    val.__name__ = val.__qualname__ = name
    return val


def _vander(basis: str) -> Callable[..., Any]:
    name = f"{basis}vander"
    numpy_fn = getattr(_MODULES[basis], name)

    def vander(x: Any, deg: int) -> Any:
        if not gnp._traced([x, deg]):
            return numpy_fn(x, deg)
        if isinstance(deg, Tracer) or not isinstance(deg, numbers.Integral) or deg < 0:
            raise ShapeError(f"{name}: deg must be a non-negative int", user_loc())
        x = float_tracer(x)
        cols = [x * 0 + 1]
        for k in range(deg):
            nxt = _linear(basis, k, x) * cols[-1]
            g = _RECURRENCE[basis](k)[2]
            if k and g:
                nxt = nxt - g * cols[-2]
            cols.append(nxt)
        return np.stack(cols, axis=-1)

    vander.__name__ = vander.__qualname__ = name
    return vander


def _fit(basis: str, vander: Callable[..., Any]) -> Callable[..., Any]:
    name = f"{basis}fit"
    numpy_fn = getattr(_MODULES[basis], name)

    def fit(x: Any, y: Any, deg: Any, rcond: Any = None, full: bool = False, w: Any = None
            ) -> Any:
        from .linalg import lstsq

        if not gnp._traced([x, y, w, rcond]):
            return numpy_fn(x, y, deg, rcond, full, w)
        if not isinstance(deg, numbers.Integral):
            raise UnsupportedError(f"{name}: deg must be an int (a list of degrees is not "
                                   "supported)", user_loc())
        x, y = float_tracer(x), float_tracer(y)
        if x.ndim != 1 or y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
            raise ShapeError(f"{name}: x must be 1-D and y 1-D or 2-D with as many rows as x "
                             f"has points (got {x.shape} and {y.shape})", user_loc())
        lhs, rhs = vander(x, deg), y
        if w is not None:
            w = float_tracer(w)
            lhs, rhs = lhs * w[:, None], rhs * (w[:, None] if y.ndim == 2 else w)
        if rcond is None:
            rcond = x.shape[0] * np.finfo(x.dtype).eps
        norm2 = (lhs * lhs).sum(axis=0)
        scale = np.sqrt(np.where(norm2 > 0, norm2, 1.0))
        c, resids, rank, s = lstsq(lhs / scale, rhs, rcond)
        c = (c.T / scale).T
        return (c, [resids, rank, s, rcond]) if full else c

    fit.__name__ = fit.__qualname__ = name
    return fit


def _functions(basis: str) -> dict[str, Callable[..., Any]]:
    vander = _vander(basis)
    return {f"{basis}val": _val(basis), f"{basis}vander": vander,
            f"{basis}fit": _fit(basis, vander)}


FUNCTIONS = {basis: _functions(basis) for basis in _MODULES}
# The modules as traced code sees them (numpy.polynomial.chebyshev and the rest), and
# numpy.polynomial itself holding them
MODULES_IN_TRACE = {basis: _ModuleInTrace(module, FUNCTIONS[basis])
                    for basis, module in _MODULES.items()}
POLYNOMIAL_IN_TRACE = _ModuleInTrace(npp, {module.__name__.rsplit(".", 1)[1]:
                                           MODULES_IN_TRACE[basis]
                                           for basis, module in _MODULES.items()})

NUMPY_IN_TRACE.polynomial = POLYNOMIAL_IN_TRACE
_SWAPS[id(npp)] = POLYNOMIAL_IN_TRACE
for _basis, _module in _MODULES.items():
    _SWAPS[id(_module)] = MODULES_IN_TRACE[_basis]
    for _name, _fn in FUNCTIONS[_basis].items():
        _SWAPS[id(getattr(_module, _name))] = _fn
