"""``np.linalg`` of traced matrices, on the primitives ``solve``, ``slogdet`` and ``cholesky``
(ops.py): operands cast to one float dtype and their stacks broadcast, as NumPy does."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from .errors import ShapeError, UnsupportedError
from .ir import user_loc
from .ops import _inverse, broadcast_shapes
from .trace import (FUNCTIONS, Tracer, apply, as_tracer, broadcast_to, matmul, reshape,
                    swapaxes)

SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")


def _matrices(a: Any, what: str) -> Tracer:
    a = as_tracer(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"np.linalg.{what}: the last two dimensions must be square, got shape "
                         f"{a.shape}", user_loc())
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _stacked(x: Tracer, batch: tuple[int, ...]) -> Tracer:
    return x if x.shape[:-2] == batch else broadcast_to(x, batch + x.shape[-2:])


def solve(a: Any, b: Any) -> Tracer:
    """x with a @ x = b; ``b`` is one vector when 1-D, else a stack of matrices (NumPy 2)."""
    a, b = _matrices(a, "solve"), as_tracer(b)
    n = a.shape[-1]
    vector = b.ndim == 1
    if vector:
        b = reshape(b, (b.shape[0], 1))
    if b.ndim < 2 or b.shape[-2] != n:
        raise ShapeError(f"np.linalg.solve: right-hand side of shape {b.shape} for matrices of "
                         f"shape {a.shape}", user_loc())
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    dtype = np.result_type(a.dtype, b.dtype if b.dtype.kind == "f" else a.dtype)
    x = apply("solve", _stacked(a, batch).astype(dtype), _stacked(b, batch).astype(dtype))
    return reshape(x, batch + (n,)) if vector else x


def inv(a: Any) -> Tracer:
    return _inverse(_matrices(a, "inv"))


def slogdet(a: Any) -> SlogdetResult:
    out = apply("slogdet", _matrices(a, "slogdet"))
    return SlogdetResult(out[..., 0], out[..., 1])


def det(a: Any) -> Tracer:
    """sign * exp(log|det|): 0 for a singular matrix; the gradient there raises, as the
    inverse it needs does not exist."""
    sign, logabs = slogdet(a)
    return sign * np.exp(logabs)


def cholesky(a: Any, upper: bool = False) -> Tracer:
    """L (lower) with L @ L^T = a, from a's lower triangle (NumPy reads no more); with
    ``upper``, U = L^T from the upper triangle."""
    a = _matrices(a, "cholesky")
    if upper:
        return swapaxes(apply("cholesky", swapaxes(a, -1, -2)), -1, -2)
    return apply("cholesky", a)


def matrix_power(a: Any, n: Any) -> Tracer:
    """By squaring: log2(n) products; a negative power of the inverse."""
    a = as_tracer(a)
    if isinstance(n, Tracer) or not isinstance(n, (int, np.integer)):
        raise UnsupportedError("np.linalg.matrix_power needs a constant int power", user_loc())
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"np.linalg.matrix_power: the last two dimensions must be square, got "
                         f"shape {a.shape}", user_loc())
    if n < 0:
        a, n = inv(a), -n
    if n == 0:
        return Tracer(broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape).node)
    out = None
    while n:
        if n & 1:
            out = a if out is None else matmul(out, a)
        n >>= 1
        if n:
            a = matmul(a, a)
    return Tracer(out.node)


def multi_dot(arrays: Any, *, out: Any = None) -> Tracer:
    if out is not None:
        raise UnsupportedError("np.linalg.multi_dot: argument out not supported", user_loc())
    ts = [as_tracer(x) for x in arrays]
    r = ts[0]
    for t in ts[1:]:
        r = matmul(r, t)
    return r


FUNCTIONS.update({np.linalg.solve: solve, np.linalg.inv: inv, np.linalg.slogdet: slogdet,
                  np.linalg.det: det, np.linalg.cholesky: cholesky,
                  np.linalg.matrix_power: matrix_power, np.linalg.multi_dot: multi_dot})
