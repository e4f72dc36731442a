"""``np.linalg`` of traced matrices, on the primitives ``solve``, ``slogdet``, ``cholesky``,
``eigh``, ``svd`` and ``qr`` (ops.py): operands cast to one float dtype and their stacks
broadcast, as NumPy does. scipy.linalg's common functions too (SCIPY_LINALG)."""

from __future__ import annotations

import numbers
import operator
from collections import namedtuple
from typing import Any

import numpy as np

from .errors import ShapeError, UnsupportedError
from .ir import user_loc
from .ops import _inverse, broadcast_shapes
from .trace import (FUNCTIONS, Tracer, _axes_in_order, apply, as_tracer, broadcast_to,
                    concatenate, matmul, moveaxis, reduce, reshape, squeeze, swapaxes)

SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")
EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")
SVDResult = namedtuple("SVDResult", "U S Vh")
QRResult = namedtuple("QRResult", "Q R")
_NOVALUE = np._NoValue  # pinv's rtol: not given (a default of its own, unlike None)


def _matrices(a: Any, what: str, square: bool = True) -> Tracer:
    a = as_tracer(a)
    if a.ndim < 2 or square and a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"np.linalg.{what}: needs {'square ' if square else ''}matrices in the "
                         f"last two dimensions, got shape {a.shape}", user_loc())
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


def _uplo(a: Tracer, UPLO: str, what: str) -> Tracer:
    """The matrix whose lower triangle holds the one ``UPLO`` names."""
    if UPLO not in ("L", "U"):
        raise UnsupportedError(f"np.linalg.{what}: UPLO must be 'L' or 'U', got {UPLO!r}",
                               user_loc())
    return a if UPLO == "L" else swapaxes(a, -1, -2)


def eigh(a: Any, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, read from one
    triangle. Each eigenvector is signed so that its largest entry in magnitude is positive
    (NumPy leaves the sign to LAPACK); the gradient needs distinct eigenvalues wherever the
    eigenvectors are used."""
    a = _matrices(a, "eigh")
    out = apply("eigh", _uplo(a, UPLO, "eigh"))
    return EighResult(out[..., 0, :], out[..., 1:, :])


def eigvalsh(a: Any, UPLO: str = "L") -> Tracer:
    return eigh(a, UPLO)[0]


def _symmetric(a: Tracer) -> Tracer:
    """The symmetric matrix of a's lower triangle."""
    return np.tril(a) + swapaxes(np.tril(a, -1), -1, -2)


def _svd(a: Tracer, hermitian: bool = False) -> tuple[Tracer, Tracer, Tracer]:
    """U, s, V (not V^T) of the thin SVD (of the symmetric matrix of a's lower triangle with
    ``hermitian``, what NumPy reads then)."""
    if hermitian:
        a = _symmetric(a)
    out, m = apply("svd", a), a.shape[-2]
    return out[..., :m, :], out[..., m, :], out[..., m + 1:, :]


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True,
        hermitian: bool = False) -> SVDResult | Tracer:
    """U, s (descending), V^T; each pair of singular vectors signed so that the largest entry
    of u is positive. Thin unless square: the columns that would complete U or V to a square
    basis are any such completion (NumPy's come from LAPACK), with no gradient, so they need
    ``full_matrices=False``. The gradient needs distinct, nonzero singular values wherever the
    singular vectors are used; s alone has one everywhere that its values are distinct."""
    a = _matrices(a, "svd", square=hermitian)
    m, n = a.shape[-2:]
    if compute_uv and full_matrices and m != n:
        raise UnsupportedError(f"np.linalg.svd: full_matrices=True of {m} x {n} matrices is not "
                               f"supported: pass full_matrices=False (the {abs(m - n)} columns "
                               f"that complete {'U' if m > n else 'V'} are arbitrary)",
                               user_loc())
    u, s, v = _svd(a, hermitian)
    return SVDResult(u, s, swapaxes(v, -1, -2)) if compute_uv else s


def svdvals(x: Any) -> Tracer:
    return svd(x, compute_uv=False)


def qr(a: Any, mode: str = "reduced") -> QRResult | Tracer:
    """Q with orthonormal columns and R upper triangular, a = Q @ R, signed as NumPy's (LAPACK's
    Householder reflections); ``mode`` 'reduced', 'r', or 'complete' where that is the same
    (m <= n). A wide matrix [X Y] (m < n) is Q R_X of its square part X, next to Q^T Y: what
    LAPACK computes. The gradient needs R's diagonal nonzero (X of full rank)."""
    a = _matrices(a, "qr", square=False)
    m, n = a.shape[-2:]
    if mode not in ("reduced", "r", "complete") or mode == "complete" and m > n:
        why = ("the columns that complete Q are arbitrary: use mode='reduced'" if
               mode == "complete" else "use 'reduced' or 'r'")
        raise UnsupportedError(f"np.linalg.qr: mode={mode!r} of {m} x {n} matrices is not "
                               f"supported ({why})", user_loc())
    out = apply("qr", a if m >= n else a[..., :m])
    q, r = out[..., :m, :], out[..., m:, :]
    if m < n:
        r = concatenate([r, matmul(swapaxes(q, -1, -2), a[..., m:])], axis=-1)
    return r if mode == "r" else QRResult(q, r)


def _reciprocal_above(s: Tracer, rcond: Any) -> Tracer:
    """1/s for the singular values above rcond times the largest (per matrix), else 0."""
    if isinstance(rcond, Tracer):
        raise UnsupportedError("np.linalg: rcond (rtol, tol) must be a constant", user_loc())
    if not s.shape[-1]:  # (of an empty matrix: no values, and max has no identity)
        return s
    large = s > np.asarray(rcond, s.dtype)[..., None] * s.max(axis=-1, keepdims=True)
    return np.where(large, 1 / np.where(large, s, 1), 0)


def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = _NOVALUE) -> Tracer:
    """V diag(1/s) U^T over the singular values above rcond * max(s) (NumPy's defaults)."""
    a = _matrices(a, "pinv", square=False)
    if rcond is None:
        rcond = 1e-15 if rtol is _NOVALUE else rtol if rtol is not None else \
            max(a.shape[-2:]) * np.finfo(a.dtype).eps
    elif rtol is not _NOVALUE:
        raise UnsupportedError("np.linalg.pinv: rcond and rtol can't both be set", user_loc())
    if not a.size:
        return swapaxes(a, -1, -2)
    u, s, v = _svd(a, hermitian)
    return matmul(v * _reciprocal_above(s, rcond)[..., None, :], swapaxes(u, -1, -2))


def lstsq(a: Any, b: Any, rcond: Any = None) -> tuple:
    """(x, residuals, rank, s): x = pinv(a) @ b with singular values above rcond * max(s)
    (default: eps * max(m, n)), as NumPy. The residuals (sums of squares per column of b) are
    there whenever m > n; NumPy leaves them empty when a is rank-deficient, which a shape
    fixed at trace time cannot follow."""
    a, b = _matrices(a, "lstsq", square=False), as_tracer(b)
    if a.ndim != 2 or b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ShapeError(f"np.linalg.lstsq: a must be a matrix and b have as many rows, got "
                         f"shapes {a.shape} and {b.shape}", user_loc())
    m, n = a.shape
    dtype = np.result_type(a.dtype, b.dtype if b.dtype.kind == "f" else a.dtype)
    a, b = a.astype(dtype), b.astype(dtype)
    if rcond is None:
        rcond = np.finfo(dtype).eps * max(m, n)
    u, s, v = _svd(a)
    inv = _reciprocal_above(s, rcond)
    x = matmul(v * inv, matmul(swapaxes(u, -1, -2), b if b.ndim == 2 else b[:, None]))
    x = x if b.ndim == 2 else x[:, 0]
    rank = (inv != 0).sum(axis=-1).astype(np.int32)  # LAPACK's int, as NumPy returns it
    if m > n:
        r = b - matmul(a, x)
        residuals = (r * r).sum(axis=0)
        residuals = residuals if b.ndim == 2 else reshape(residuals, (1,))
    else:
        residuals = as_tracer(np.zeros(0, dtype))
    return x, residuals, rank, s


def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Tracer:
    """How many singular values lie above tol (default: rtol * max(s), rtol = eps * max(m, n))."""
    A = as_tracer(A)
    if A.ndim < 2:
        return (A != 0).any().astype(np.int64)
    s = svd(A, compute_uv=False, hermitian=hermitian)
    if isinstance(tol, Tracer) or isinstance(rtol, Tracer):
        raise UnsupportedError("np.linalg.matrix_rank: tol and rtol must be constants",
                               user_loc())
    if tol is None:
        if rtol is None:
            rtol = max(A.shape[-2:]) * np.finfo(s.dtype).eps
        tol = s.max(axis=-1, keepdims=True) * np.asarray(rtol, s.dtype)[..., None]
    else:
        tol = np.asarray(tol, s.dtype)[..., None]
    return (s > tol).sum(axis=-1)


def cond(x: Any, p: Any = None) -> Tracer:
    """The condition number in norm p: s_max / s_min for p None or 2 (-2: its inverse), else
    norm(x, p) * norm(inv(x), p)."""
    x = _matrices(x, "cond", square=p not in (None, 2, -2))
    if p in (None, 2, -2):
        s = svd(x, compute_uv=False)
        return s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Tracer:
    return norm(x, ord, axis=(-2, -1), keepdims=keepdims)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> "Tracer":
    """np.linalg.norm: vector norms of any order; matrix norms: Frobenius, 1 and inf (column
    and row sums), 2, -2 and nuclear (singular values)."""
    x = as_tracer(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if axis is None:
        if ord is None:  # the 2-norm of everything, whatever the shape
            out = np.sqrt(reduce("sum", x * x, None, True))
            return out if keepdims else reshape(out, ())
        if x.ndim not in (1, 2):
            raise ShapeError(f"norm: ord={ord!r} needs a 1-D or 2-D array or an axis, got "
                             f"shape {x.shape}", user_loc())
        axis = tuple(range(x.ndim))
    axes = _axes_in_order((axis,) if isinstance(axis, numbers.Integral) else axis, x.ndim)
    a = abs(x)
    if len(axes) == 1:
        if ord is None or ord == 2:
            out = np.sqrt(reduce("sum", x * x, axes, True))
        elif ord in (np.inf, -np.inf):
            out = reduce("max" if ord > 0 else "min", a, axes, True)
        elif ord == 0:
            out = reduce("sum", (x != 0).astype(x.dtype), axes, True)
        elif isinstance(ord, numbers.Real) and not isinstance(ord, (bool, np.bool_)):
            out = reduce("sum", a if ord == 1 else a ** ord, axes, True)
            out = out if ord == 1 else out ** (1.0 / ord)
        else:
            raise UnsupportedError(f"norm: vector ord={ord!r} is not supported", user_loc())
    elif len(axes) == 2 and axes[0] != axes[1]:
        r, c = axes
        if ord is None or ord == "fro":
            out = np.sqrt(reduce("sum", x * x, axes, True))
        elif ord in (1, -1, np.inf, -np.inf):  # the largest (smallest) column or row sum
            inner, outer = (r, c) if ord in (1, -1) else (c, r)
            out = reduce("max" if ord > 0 else "min", reduce("sum", a, inner, True), outer, True)
        elif ord in (2, -2) or isinstance(ord, str) and ord == "nuc":
            s = svd(moveaxis(x, (r, c), (-2, -1)), compute_uv=False)
            s = s.sum(axis=-1) if ord == "nuc" else s[..., 0] if ord == 2 else s[..., -1]
            out = reshape(s, tuple(1 if d in axes else n for d, n in enumerate(x.shape)))
        else:
            raise UnsupportedError(f"norm: matrix ord={ord!r} is not supported", user_loc())
    else:
        raise ShapeError(f"norm: axis={axis!r} must name one or two distinct axes", user_loc())
    return out if keepdims else squeeze(out, axes)


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


# ------------------------------------------------------------------ scipy.linalg's, traced
def _refuse(what: str, **given: Any) -> None:
    for name, v in given.items():
        if v:
            raise UnsupportedError(f"scipy.linalg.{what}: argument {name} is not supported",
                                   user_loc())


def _triangle(a: Any, lower: bool, unit_diagonal: bool = False) -> Tracer:
    a = _matrices(a, "solve_triangular")
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        eye = np.eye(a.shape[-1], dtype=a.dtype)
        t = t * (1 - eye) + eye
    return t


def _sp_solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                         check_finite=True):
    """x with t @ x = b (or t^T @ x = b, ``trans``), t the triangle of a that ``lower`` names
    (only it is read; its diagonal taken as ones with ``unit_diagonal``)."""
    t = _triangle(a, lower, unit_diagonal)
    if trans not in (0, 1, 2, "N", "T", "C"):
        raise UnsupportedError(f"scipy.linalg.solve_triangular: trans={trans!r}", user_loc())
    return solve(t if trans in (0, "N") else swapaxes(t, -1, -2), b)


def _sp_cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    return cholesky(a, upper=not lower)


def _sp_cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """(c, lower): the factor in the triangle ``lower`` names and a's own entries in the
    other, as LAPACK leaves them."""
    a = _matrices(a, "cho_factor")
    c = cholesky(a, upper=not lower)
    return c + (np.triu(a, 1) if lower else np.tril(a, -1)), lower


def _sp_cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    c, lower = c_and_lower
    c = _matrices(c, "cho_solve")
    if lower:  # L L^T x = b
        low = np.tril(c)
        return solve(swapaxes(low, -1, -2), solve(low, b))
    up = np.triu(c)  # U^T U x = b
    return solve(up, solve(swapaxes(up, -1, -2), b))


def _sp_solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
              assume_a=None, transposed=False):
    """scipy.linalg.solve, by LU whatever ``assume_a`` says; a symmetric (or positive
    definite) matrix is read from the triangle ``lower`` names, as SciPy does."""
    if assume_a in ("sym", "her", "pos", "symmetric", "hermitian", "positive definite"):
        a = _matrices(a, "solve")
        a = _symmetric(a if lower else swapaxes(a, -1, -2))
    return solve(swapaxes(as_tracer(a), -1, -2) if transposed else a, b)


def _sp_solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False,
                     check_finite=True):
    """scipy.linalg.solve_banded: the dense matrix the band stands for (a[i, j] =
    ab[u + i - j, j]), solved by LU. O(n^3) where SciPy's banded LU is O(n (l + u)^2): fine
    for the sizes of a traced problem."""
    lower, upper = (operator.index(k) for k in l_and_u)
    ab = as_tracer(ab)
    n = ab.shape[-1] if ab.ndim == 2 else -1
    if ab.ndim != 2 or ab.shape[0] != lower + upper + 1:
        raise ShapeError(f"solve_banded: ab must be ({lower + upper + 1}, n) for (l, u) = "
                         f"({lower}, {upper}), got shape {ab.shape}", user_loc())
    i, j = np.indices((n, n))
    band = (i - j >= -upper) & (i - j <= lower)
    dense = np.where(band, ab[np.clip(upper + i - j, 0, lower + upper), j], 0)
    return solve(dense, b)


def _sp_eigh(a, b=None, *, lower=True, eigvals_only=False, **options):
    _refuse("eigh", b=b is not None, **{k: v for k, v in options.items()
                                        if k not in ("overwrite_a", "overwrite_b",
                                                     "check_finite", "driver")})
    w, v = eigh(a, "L" if lower else "U")
    return w if eigvals_only else (w, v)


# expm: the [13/13] Padé approximant with scaling and squaring (Higham 2005): its coefficients,
# the largest 1-norm it serves to double precision, and the most squarings a call may do
_PADE13 = (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800.,
           129060195264000., 10559470521600., 670442572800., 33522128640., 1323241920.,
           40840800., 960960., 16380., 182., 1.)
_THETA13 = 5.371920351148152
_MAX_SQUARINGS = 64


def _sp_expm(A):
    """scipy.linalg.expm: the Padé approximant of A / 2^s squared s times, s the fewest that
    bring the 1-norm under theta_13. s is data: the squarings run as a loop of 64 steps that
    square only while k < s (NaN where a norm would need more: above 5.4 * 2^64)."""
    from .loops import scan

    A = _matrices(A, "expm")
    if A.shape[-1] == 0:
        return A
    norm = np.abs(A).sum(axis=-2).max(axis=-1)
    s = np.maximum(np.ceil(np.log2(norm / _THETA13)), 0)  # (a zero matrix: -inf, so 0)
    s = s[..., None, None]
    A = A * np.exp2(-s).astype(A.dtype)
    b = [np.asarray(c, A.dtype) for c in _PADE13]
    eye = np.eye(A.shape[-1], dtype=A.dtype)
    A2 = matmul(A, A)
    A4 = matmul(A2, A2)
    A6 = matmul(A4, A2)
    U = matmul(A, matmul(A6, b[13] * A6 + b[11] * A4 + b[9] * A2)
               + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)
    V = (matmul(A6, b[12] * A6 + b[10] * A4 + b[8] * A2)
         + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye)
    R = solve(V - U, V + U)

    def square(X, k):
        return np.where(k < s, matmul(X, X), X), None

    R, _ = scan(square, R, np.arange(_MAX_SQUARINGS, dtype=A.dtype))
    return np.where(s > _MAX_SQUARINGS, np.nan, R)


# scipy.linalg's functions that graphc traces (special.in_trace swaps them in)
SCIPY_LINALG = {"solve_triangular": _sp_solve_triangular, "cholesky": _sp_cholesky,
                "cho_factor": _sp_cho_factor, "cho_solve": _sp_cho_solve, "solve": _sp_solve,
                "inv": lambda a, overwrite_a=False, check_finite=True: inv(a),
                "det": lambda a, overwrite_a=False, check_finite=True: det(a),
                "eigh": _sp_eigh, "solve_banded": _sp_solve_banded, "expm": _sp_expm}


FUNCTIONS.update({np.linalg.solve: solve, np.linalg.inv: inv, np.linalg.slogdet: slogdet,
                  np.linalg.det: det, np.linalg.cholesky: cholesky,
                  np.linalg.matrix_power: matrix_power, np.linalg.eigh: eigh,
                  np.linalg.eigvalsh: eigvalsh, np.linalg.svd: svd, np.linalg.pinv: pinv,
                  np.linalg.lstsq: lstsq, np.linalg.matrix_rank: matrix_rank,
                  np.linalg.cond: cond, np.linalg.norm: norm, np.linalg.multi_dot: multi_dot,
                  np.linalg.qr: qr})
for _name, _fn in (("svdvals", svdvals), ("matrix_norm", matrix_norm)):  # NumPy 2
    if hasattr(np.linalg, _name):
        FUNCTIONS[getattr(np.linalg, _name)] = _fn
