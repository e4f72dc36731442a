"""Compiled helpers that every generated CPU module calls: matrix products straight to BLAS,
factorisations straight to LAPACK, and the index and scan ops. They live here, compiled once
per operand type and kept in Numba's cache for every module, rather than in each generated
module's text.
"""

from __future__ import annotations

import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload
from numba.np import linalg as numba_linalg

from ..cache import guard

# Numba's own BLAS entry point (its helper library loads SciPy's BLAS on first use): the
# column-major GEMM, C = alpha * op(A) @ op(B) + beta * C, for kind 's' (float32) or 'd'.
# Calling it directly, rather than through np.dot, compiles in a fraction of the time: np.dot
# brings a block of checks and a copy path for every operand layout it meets.
_xxgemm = types.ExternalFunction("numba_xxgemm", types.int32(
    types.char, types.char, types.char, types.intp, types.intp, types.intp,  # kind, ta, tb, m, n, k
    types.voidptr, types.voidptr, types.intp,  # alpha, a, lda
    types.voidptr, types.intp,  # b, ldb
    types.voidptr, types.voidptr, types.intp))  # beta, c, ldc


_N, _T, _S, _D = ord("n"), ord("t"), ord("s"), ord("d")  # no transpose, transpose, f32, f64
_U = ord("U")  # LAPACK's upper triangle


@intrinsic
def _address(typingctx, arr):
    """The address of an array's first element, for a C call."""
    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.bitcast(array.data, ir.IntType(8).as_pointer())
    return types.voidptr(arr), codegen


@njit(error_model="numpy", cache=True)
def dot(a, b, out=None, accumulate=False):
    """``a @ b`` for 2-D float arrays, each C- or F-contiguous (a transposed view goes to BLAS
    as a flag, never a copy), written into ``out`` (C-contiguous; a new array when omitted),
    or added to it with ``accumulate`` (GEMM's beta = 1), and returned: one statement in the
    caller whichever it is."""
    m, k = a.shape
    n = b.shape[1]
    c = np.empty((m, n), a.dtype) if out is None else out
    if m == 0 or n == 0:
        return c
    if k == 0:
        if not accumulate:
            c[...] = 0
        return c
    if not ((a.flags.c_contiguous or a.flags.f_contiguous)
            and (b.flags.c_contiguous or b.flags.f_contiguous)):
        raise ValueError("graphc dot: operands must be contiguous")
    scale = np.empty(2, c.dtype)  # alpha = 1, beta = 0 (or 1: accumulate)
    scale[0] = 1
    scale[1] = 1 if accumulate else 0
    # Row-major c (m x n) read column-major is c.T = b.T @ a.T: that is the call. The flags
    # are character codes as integers (ord() here would compile Numba's unicode support).
    tb, ldb = (_N, n) if b.flags.c_contiguous else (_T, k)
    ta, lda = (_N, k) if a.flags.c_contiguous else (_T, m)
    kind = _S if c.itemsize == 4 else _D
    if _xxgemm(kind, tb, ta, n, m, k, _address(scale), _address(b), max(ldb, 1), _address(a),
               max(lda, 1), _address(scale[1:]), _address(c), n):
        raise RuntimeError("graphc: BLAS is not available (SciPy provides it to Numba)")
    return c


def assign(dst, src):
    """``dst[...] = src`` for ``src`` an array of ``dst``'s shape (or a number), as plain loops.

    Numba's array setitem would do the same, but it brings a formatted shape-mismatch message
    whose string support takes 1 to 2 s to compile in every fresh process; the generated code
    only ever copies equal shapes, which its codegen has already checked.
    """
    dst[...] = src


@overload(assign, jit_options={"error_model": "numpy"})
def _assign_loops(dst, src):
    if not isinstance(dst, types.Array):
        return None
    index = ", ".join(f"i{d}" for d in range(dst.ndim)) or "()"
    value = f"src[{index}]" if isinstance(src, types.Array) else "src"
    lines = ["def impl(dst, src):"]
    for d in range(dst.ndim):
        lines.append(f"{'    ' * (d + 1)}for i{d} in range(dst.shape[{d}]):")
    lines.append(f"{'    ' * (dst.ndim + 1)}dst[{index}] = {value}")
    scope: dict = {}
    exec("\n".join(lines), scope)
    return scope["impl"]


# Index ops work on (before, axis, after) views of C arrays; indices are checked first, and
# the entry raises OutOfBoundsError with the first bad one before anything is read.
@njit(error_model="numpy", cache=True)
def bad_index(idx, low, n):
    for m in range(idx.size):
        if idx[m] < low or idx[m] >= n:
            return m
    return -1


@njit(error_model="numpy", cache=True)
def int_text(v):
    """str(v) for an integer of any width (Numba's str fails on a dtype's minimum), digits
    taken off a non-positive copy where v is negative, so that nothing overflows."""
    if v >= 0:
        w, ten, out = np.uint64(v), np.uint64(10), ""
        while True:
            out = "0123456789"[np.int64(w % ten)] + out
            w //= ten
            if w == 0:
                return out
    w, out = np.int64(v), ""
    while w:
        r = w % -10  # in -9 .. 0
        out = "0123456789"[-r] + out
        w = (w - r) // 10
    return "-" + out


@njit(error_model="numpy", cache=True)
def gather(x, idx, out):
    n = x.shape[1]
    for a in range(x.shape[0]):
        for m in range(idx.size):
            j = idx[m] + n if idx[m] < 0 else idx[m]
            for b in range(x.shape[2]):
                out[a, m, b] = x[a, j, b]


@njit(error_model="numpy", cache=True)
def scatter_add(g, idx, out):
    n = out.shape[1]
    out[...] = 0
    for a in range(g.shape[0]):
        for m in range(idx.size):
            j = idx[m] + n if idx[m] < 0 else idx[m]
            for b in range(g.shape[2]):
                out[a, j, b] += g[a, m, b]


# The running ops along axis 1, one per ``how``: cumsum, cummax, cummin, linrec (the last
# reads the factors ``a``; the others take x there too).
SUM, MAX, MIN, LINEAR = 0, 1, 2, 3


@njit(error_model="numpy", cache=True)
def running(a, x, out, reverse, how):
    """out_i = x_i, then out_i = out_(i-1) + x_i (SUM), the larger or smaller (MAX, MIN; a
    NaN, once met, stays, as np.maximum.accumulate), or a_i * out_(i-1) + x_i (LINEAR);
    from the end with ``reverse``."""
    n = x.shape[1]
    for c in range(x.shape[0]):
        for k in range(n):
            i = n - 1 - k if reverse else k
            p = i + 1 if reverse else i - 1
            for d in range(x.shape[2]):
                v = x[c, i, d]
                if k:
                    w = out[c, p, d]
                    if how == SUM:
                        v += w
                    elif how == LINEAR:
                        v += a[c, i, d] * w
                    elif w != w or (w > v if how == MAX else w < v):
                        v = w
                out[c, i, d] = v


@njit(error_model="numpy", cache=True)
def argsort(x, out):
    """Each line along axis 1 of ``x``: the places that sort it, stable, NaNs last (as
    np.argsort(kind="stable"); Numba's mergesort is stable and orders NaN last too)."""
    row = np.empty(x.shape[1], x.dtype)
    for a in range(x.shape[0]):
        for b in range(x.shape[2]):
            for k in range(x.shape[1]):
                row[k] = x[a, k, b]
            order = np.argsort(row, kind="mergesort")
            for k in range(x.shape[1]):
                out[a, k, b] = order[k]


# Linear algebra on stacks (m, n, n) of C matrices, by LAPACK through Numba's helper library
# (SciPy's LAPACK, as NumPy's own functions use LAPACK): the column-major routines see each
# C matrix transposed, which each helper undoes. Each returns the number of the first matrix
# it cannot factor (singular; not positive definite), or -1; the entry raises.
_F_INT = numba_linalg.F_INT_nptype
_xgesv = types.ExternalFunction("numba_xgesv", types.intc(
    types.char, types.intp, types.intp,  # kind, n, nrhs
    types.voidptr, types.intp, types.voidptr,  # a, lda, ipiv
    types.voidptr, types.intp))  # b, ldb
_xxgetrf = types.ExternalFunction("numba_xxgetrf", types.intc(
    types.char, types.intp, types.intp,  # kind, m, n
    types.voidptr, types.intp, types.voidptr))  # a, lda, ipiv
_xxpotrf = types.ExternalFunction("numba_xxpotrf", types.intc(
    types.char, types.char, types.intp, types.voidptr, types.intp))  # kind, uplo, n, a, lda
_xxxevd = types.ExternalFunction("numba_ez_xxxevd", types.intc(
    types.char, types.char, types.char, types.intp,  # kind, jobz, uplo, n
    types.voidptr, types.intp, types.voidptr))  # a, lda, w
_xgesdd = types.ExternalFunction("numba_ez_gesdd", types.intc(
    types.char, types.char, types.intp, types.intp,  # kind, jobz, m, n
    types.voidptr, types.intp, types.voidptr,  # a, lda, s
    types.voidptr, types.intp, types.voidptr, types.intp))  # u, ldu, vt, ldvt
_geqrf = types.ExternalFunction("numba_ez_geqrf", types.intc(
    types.char, types.intp, types.intp,  # kind, m, n
    types.voidptr, types.intp, types.voidptr))  # a, lda, tau
_xxgqr = types.ExternalFunction("numba_ez_xxgqr", types.intc(
    types.char, types.intp, types.intp, types.intp,  # kind, m, n, k
    types.voidptr, types.intp, types.voidptr))  # a, lda, tau
_V, _SOME = ord("V"), ord("S")  # eigenvectors too; the thin SVD


@njit(error_model="numpy", cache=True)
def solve(a, b, out):
    """``out[s]`` = a[s]^-1 b[s] (LU with partial pivoting: gesv)."""
    n, k = b.shape[1], b.shape[2]
    if n == 0 or k == 0:
        return -1
    kind = _S if a.itemsize == 4 else _D
    lu = np.empty((n, n), a.dtype)  # A^T in C order: A, column-major
    x = np.empty((k, n), a.dtype)  # B^T in C order: B, column-major
    ipiv = np.empty(n, _F_INT)
    for s in range(a.shape[0]):
        for i in range(n):
            for j in range(n):
                lu[j, i] = a[s, i, j]
            for j in range(k):
                x[j, i] = b[s, i, j]
        if _xgesv(kind, n, k, _address(lu), n, _address(ipiv), _address(x), n):
            return s
        for i in range(n):
            for j in range(k):
                out[s, i, j] = x[j, i]
    return -1


@njit(error_model="numpy", cache=True)
def slogdet(a, out):
    """``out[s]`` = (sign, log|det|) of a[s] from its LU factors (getrf of A^T, whose
    determinant is A's); (0, -inf) for a singular matrix, as NumPy."""
    n = a.shape[1]
    kind = _S if a.itemsize == 4 else _D
    lu = np.empty((n, n), a.dtype)
    ipiv = np.empty(max(n, 1), _F_INT)
    for s in range(a.shape[0]):
        lu[:, :] = a[s]
        if n and _xxgetrf(kind, n, n, _address(lu), n, _address(ipiv)):
            out[s, 0], out[s, 1] = 0, -np.inf
            continue
        sign, logabs = 1.0, 0.0
        for c in range(n):
            u = lu[c, c]
            if ipiv[c] != c + 1:  # a row swap (LAPACK counts rows from 1)
                sign = -sign
            if u < 0:
                sign = -sign
            elif u != u:
                sign = u
            logabs += np.log(abs(u))
        out[s, 0], out[s, 1] = sign, logabs
    return -1


@njit(error_model="numpy", cache=True)
def cholesky(a, out):
    """``out[s]`` = L, lower triangular with L L^T = a[s], from a[s]'s lower triangle: potrf
    of the upper triangle of the column-major view, which is the C lower one."""
    n = a.shape[1]
    kind = _S if a.itemsize == 4 else _D
    for s in range(a.shape[0]):
        L = out[s]
        L[:, :] = a[s]
        if n and _xxpotrf(kind, _U, n, _address(L), n):
            return s
        for i in range(n):
            for j in range(i + 1, n):
                L[i, j] = 0
    return -1


@njit(error_model="numpy", cache=True, inline="always")
def _sign(v):
    """-1 where the largest entry of v in magnitude (the first of equals) is negative, else 1:
    ops._flipped's rule."""
    big = 0
    for i in range(1, v.shape[0]):
        if abs(v[i]) > abs(v[big]):
            big = i
    return -1 if v[big] < 0 else 1


@njit(error_model="numpy", cache=True)
def eigh(a, out):
    """``out[s]``: a[s]'s eigenvalues (ascending) in row 0 over its eigenvectors, from its
    lower triangle (syevd of the column-major upper one), each signed as ops._flipped does."""
    n = a.shape[1]
    kind = _S if a.itemsize == 4 else _D
    v = np.empty((n, n), a.dtype)  # row j: eigenvector j (LAPACK's column j)
    w = np.empty(n, a.dtype)
    for s in range(a.shape[0]):
        v[:, :] = a[s]
        if n and _xxxevd(kind, _V, _U, n, _address(v), n, _address(w)):
            return s
        for j in range(n):
            sign = _sign(v[j])
            out[s, 0, j] = w[j]
            for i in range(n):
                out[s, 1 + i, j] = sign * v[j, i]
    return -1


@njit(error_model="numpy", cache=True)
def svd(a, out):
    """``out[s]``: U (m x k) above s (descending) above V (n x k), k = min(m, n), of a[s]
    (gesdd of the column-major view, A^T = V S U^T: its U is our V and its V^T our U), each
    pair signed as ops._flipped does."""
    m, n = a.shape[1], a.shape[2]
    k = min(m, n)
    if k == 0:
        return -1
    kind = _S if a.itemsize == 4 else _D
    work = np.empty((m, n), a.dtype)
    sv = np.empty(k, a.dtype)
    v = np.empty((k, n), a.dtype)  # row j: V's column j (LAPACK's U, column-major)
    u = np.empty((m, k), a.dtype)  # our U (LAPACK's V^T, column-major k x m)
    for s in range(a.shape[0]):
        work[:, :] = a[s]
        if not np.all(np.isfinite(work)):  # gesdd never returns on an infinity (NumPy's
            return s  # full svd hangs there); with NaN it fails, as NumPy's does
        if _xgesdd(kind, _SOME, n, m, _address(work), n, _address(sv), _address(v), n,
                   _address(u), k):
            return s
        for j in range(k):
            sign = _sign(u[:, j])
            for i in range(m):
                out[s, i, j] = sign * u[i, j]
            out[s, m, j] = sv[j]
            for i in range(n):
                out[s, m + 1 + i, j] = sign * v[j, i]
    return -1


@njit(error_model="numpy", cache=True)
def qr(a, out):
    """``out[s]``: Q (m x n) above R (n x n), the reduced QR of a[s] (m >= n): geqrf, then
    orgqr for Q, column-major as LAPACK works (NumPy's route, so NumPy's signs)."""
    m, n = a.shape[1], a.shape[2]
    if n == 0:
        return -1
    kind = _S if a.itemsize == 4 else _D
    f = np.empty((n, m), a.dtype)  # row j: column j of A, then of its factors
    tau = np.empty(n, a.dtype)
    for s in range(a.shape[0]):
        for i in range(m):
            for j in range(n):
                f[j, i] = a[s, i, j]
        _geqrf(kind, m, n, _address(f), m, _address(tau))
        for i in range(n):
            for j in range(n):
                out[s, m + i, j] = f[j, i] if i <= j else 0
        _xxgqr(kind, m, n, n, _address(f), m, _address(tau))
        for i in range(m):
            for j in range(n):
                out[s, i, j] = f[j, i]
    return -1


# ----------------------------------------------------------------------------- the FFT
@njit(error_model="numpy", cache=True)
def _radices(n):
    """n's factors in the order the FFT takes them: fours, a two, then odd primes ascending."""
    f = np.empty(64, np.int64)
    k = 0
    while n % 4 == 0:
        f[k], k, n = 4, k + 1, n // 4
    if n % 2 == 0:
        f[k], k, n = 2, k + 1, n // 2
    p = 3
    while p * p <= n:
        while n % p == 0:
            f[k], k, n = p, k + 1, n // p
        p += 2
    if n > 1:
        f[k], k = n, k + 1
    return f[:k]


@njit(error_model="numpy", cache=True)
def _roots(n, sign):
    """exp(sign 2 pi i j / n) for j < n, as products of b = ceil(sqrt(n)) low and b high
    roots: 2b sines and cosines rather than n."""
    b = int(np.ceil(np.sqrt(n)))
    t = sign * 2 * np.pi / n
    lo = np.empty(b, np.complex128)
    hi = np.empty(b, np.complex128)
    for j in range(b):
        lo[j] = complex(np.cos(t * j), np.sin(t * j))
        hi[j] = complex(np.cos(t * (j * b)), np.sin(t * (j * b)))
    w = np.empty(n, np.complex128)
    for j in range(n):
        w[j] = hi[j // b] * lo[j % b]
    return w


@njit(error_model="numpy", cache=True)
def _fft_stage(src, dst, w, sign, p, m, st):
    """One radix-p step of Stockham's FFT: for each of the st interleaved transforms q of
    length p m still to do, the length-p DFTs of its elements i, i + m, ..., i + (p - 1) m,
    output k scaled by the twiddle factor w_pm^(i k), go to dst[q + st (p i + k)], where the
    next step finds them as st p transforms of length m. With w the n-th roots,
    w_pm = w[st] (n = st p m)."""
    n = w.shape[0]
    if p == 2:
        for i in range(m):
            t = w[i * st]
            for q in range(st):
                u, v = src[q + st * i], src[q + st * (i + m)]
                dst[q + st * 2 * i] = u + v
                dst[q + st * (2 * i + 1)] = (u - v) * t
    elif p == 4:  # w_4 = sign i
        for i in range(m):
            t1, t2, t3 = w[i * st], w[2 * i * st], w[3 * i * st]
            for q in range(st):
                x0, x1 = src[q + st * i], src[q + st * (i + m)]
                x2, x3 = src[q + st * (i + 2 * m)], src[q + st * (i + 3 * m)]
                s02, d02, s13, d = x0 + x2, x0 - x2, x1 + x3, x1 - x3
                d13 = complex(-sign * d.imag, sign * d.real)
                dst[q + st * 4 * i] = s02 + s13
                dst[q + st * (4 * i + 1)] = (d02 + d13) * t1
                dst[q + st * (4 * i + 2)] = (s02 - s13) * t2
                dst[q + st * (4 * i + 3)] = (d02 - d13) * t3
    else:
        step = n // p
        for i in range(m):
            for k in range(p):
                t = w[i * k * st]
                for q in range(st):
                    acc = 0j
                    for r in range(p):
                        acc += src[q + st * (i + r * m)] * w[(r * k) % p * step]
                    dst[q + st * (p * i + k)] = acc * t


@njit(error_model="numpy", cache=True)
def dft(x, out, sign):
    """``out[s]``: the unscaled DFT of row s, sum_j z_j exp(sign 2 pi i j k / n) with
    z = x[s, 0] + i x[s, 1] (or x[s, 0] alone when x has one row per matrix), real parts in
    out[s, 0] and imaginary in out[s, 1]. Stockham's mixed-radix FFT over n's factors, in
    complex128 whatever the dtype, its steps passing the row between two buffers."""
    rows, parts, n = x.shape
    radices = _radices(n)
    w = _roots(n, sign)
    a = np.empty(n, np.complex128)
    b = np.empty(n, np.complex128)
    for s in range(rows):
        for j in range(n):
            a[j] = complex(x[s, 0, j], x[s, 1, j] if parts == 2 else 0.0)
        src, dst = a, b
        m, st = n, 1
        for p in radices:
            m //= p
            _fft_stage(src, dst, w, sign, p, m, st)
            src, dst = dst, src
            st *= p
        for j in range(n):
            out[s, 0, j] = src[j].real
            out[s, 1, j] = src[j].imag


# Numba's cache of these helpers (in this package's __pycache__) checksummed as the generated
# modules' is: a corrupt file is rebuilt with a CacheWarning rather than loaded.
guard(sys.modules[__name__])
