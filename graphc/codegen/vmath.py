"""Vectorisable scalar math for graphc's CPU kernels.

Why this module exists: inside a Numba ``@njit`` loop, ``np.tanh``/``math.exp`` on a scalar
call libm, and LLVM cannot vectorise a loop that calls libm (the llvmlite wheels carry no SVML).
The functions here are written as straight-line arithmetic, ``select``s instead of branches,
and bit manipulation (building 2**n, splitting off the exponent), so that a fused loop calling
them auto-vectorises. Generated kernels import them by name and call them on *scalars*::

    from graphc.codegen.vmath import exp, log, tanh
    @njit(error_model="numpy", fastmath={"contract", "reassoc", "nsz"})
    def k(a, out):
        for i in range(a.size):
            out[i] = tanh(a[i])

Public functions: ``exp, expm1, log, log1p, tanh, sigmoid, sin, cos, pow``, and ``tan, sinh,
cosh, exp2, log2, log10, asinh, acosh, atanh, hypot, floor, ceil``. Each takes float32
or float64 (``pow``: two floats; mixed widths promote like NumPy, integers become floats) and
returns the same type; float32 arguments are computed in float32 arithmetic only (every constant
exists once per dtype, so no float64 can leak into a float32 loop and halve its vector width).
Called from plain Python (or under the CUDA simulator) they fall back to NumPy. They are
registered for the CPU target only: a real CUDA kernel calling them fails to compile with
"cannot find any matches ... for the current target" (use ``math.*`` there, which maps to
libdevice). ``prefer_512bit_vectors()``, called at the top of a kernel, lets LLVM use 512-bit
vectors on AVX-512 hosts (it picks 256 bits by default); speeds are in ``bench/vmath_bench.py``.

Design rules (each one a bug that would otherwise bite):

* Compilation: each implementation is an ``overload`` compiled once per signature as its own
  Numba function with fixed flags (no fast-math, ``error_model="numpy"``) and marked LLVM
  ``alwaysinline`` (``forceinline``): LLVM inlines it into the caller's loop before the loop
  vectoriser runs, so the loop body is straight-line code. (Inlining at Numba-IR level instead,
  ``inline='always'``, re-typed every body at every call site: 6.5 s to compile one kernel
  using all nine functions, against 1.5 s now and ~0.6 s for the next kernel, which reuses the
  compiled functions.) The caller's fast-math flags never reach this code, so results are the
  same with graphc's ``{"contract", "reassoc", "nsz"}`` and with no flags, and nothing
  relies on ``nnan``/``ninf``. As a second line of defence, the steps that
  must not be re-associated (Cody-Waite reduction, error-free sums, scaling near overflow and
  underflow) use ``llvm.fma``/``llvm.fmuladd`` calls or float instructions emitted with an
  explicit ``contract`` flag, which Numba's fast-math rewrite leaves alone.
* float32 stays float32: every constant exists once per dtype (a float64 constant would
  promote the whole float32 loop and halve its vector width), integer work on float bits uses
  the float's own width.
* No float-to-int conversion of a value that can be NaN/inf (LLVM poison): 2**n is built by
  adding a "magic" 1.5 * 2**mant + bias to the rounded n, which is exact and leaves n + bias in
  the low mantissa bits, then shifting those bits into the exponent field. Clamps are written
  ``select(x > hi, hi, x)``, which keep NaN, and NaN then propagates arithmetically.
* ``-0.0`` comes back for ``-0.0`` where NumPy gives it (expm1, log1p, tanh, sin), through an
  explicit select or ``copysign``.
* Steps marked "exact" rely on hardware FMA (``llvm.fma``: sin/cos reduction, log1p reduction,
  pow). Every x86-64 since Haswell and every AArch64 has it; without it LLVM calls libm's
  ``fma``, which is still correct but not vectorised.
* No table lookups: gathers vectorise poorly.

Algorithms: exp/expm1: x = n ln2 + r (Cody-Waite, |r| <= ln2/2), minimax expm1(r), times 2**n;
results below the normal range take a second path that scales in two exact steps, so subnormal
results are rounded once from the polynomial (not flushed). log/log1p: x = 2**k (1+f),
f in [sqrt(1/2)-1, sqrt(2)-1), log(1+f) = 2 atanh(s) with s = f/(2+f) and a minimax tail;
log1p forms f = (1+x) 2**-k - 1 with one fma so the rounding of 1+x is not lost. tanh: float32
is a (13, 6) rational minimax x P(x**2)/Q(x**2) on |x| <= 9.1 (the cheapest formula: ~14 vector
operations, the speed of NumPy's SIMD tanh), float64 is -expm1(-2|x|)/(expm1(-2|x|)+2) with
the sign copied. sigmoid from e = exp(-|x|): 1/(1+e) or e/(1+e). sinh: (E + E/(E+1))/2 with E = expm1|x|, and
exp(|x| - ln2) (a double-word argument) once e**-2|x| is below the rounding; cosh likewise from
exp. asinh/acosh/atanh: the cancellation-free log1p forms (log1p(a + a^2/(1 + sqrt(1 + a^2))),
log1p(t + sqrt(2t + t^2)) with t = x - 1, log1p(2a/(1 - a))/2), log(2|x|) for huge |x|.
hypot: max * sqrt(1 + (min/max)^2). sin/cos: x = j pi/2 + r with a
three-part pi/2 and fma, minimax sin/cos on |r| <= 0.82, quadrant from the bits of j. pow:
log|x| as a double-word (hi, lo), y log|x| as a double-word via fma, then exp of the
double-word; C99/NumPy special cases by selects. Polynomial and rational coefficients were
fitted for this module (weighted Remez / Lawson iterations in mpmath).

Measured accuracy: max error in ulps of the correctly rounded result (references: NumPy in
float64 for float32 inputs, NumPy in x87 long double for float64 inputs), over 1e6 log-uniform
magnitudes of both signs across the whole float range plus 1e6 uniform samples on each
function's working range, 3e5 pow samples, and the edge values; identical with graphc's
fast-math flags and without. ``tests/test_vmath.py`` re-checks a subset against slightly looser
bounds.

    ========= ======= ======= ===================================================
    function  float32 float64 inputs covered
    ========= ======= ======= ===================================================
    exp        1.03    1.04   all (subnormal results included, rounded once)
    expm1      1.51    1.83   all
    log        0.91    1.23   all x >= 0 (subnormals included)
    log1p      1.53    1.79   all x >= -1
    tanh       4.9     2.50   all (float32: the rational's evaluation rounding)
    sigmoid    2.47    2.41   all (subnormal results included)
    sin        1.53    1.49   |x| < 2**18 (float32), |x| < 2**47 (float64);
    cos        1.53    1.46   beyond: finite, in [-1, 1], meaningless
    pow        1.19    1.16   x > 0, and x < 0 with integer y; normal-range results
    tan        2.95    2.79   as sin/cos (one shared reduction, sin r / cos r)
    sinh       2.11    2.38   all
    cosh       1.43    1.43   all
    exp2       1.16    1.16   all (x ln2 formed as a double-word, then exp)
    log2       0.50    0.50   all x >= 0 (double-word log times double-word log2(e))
    log10      0.50    0.50   all x >= 0 (likewise)
    asinh      1.80    2.14   all
    acosh      1.94    2.11   all x >= 1
    atanh      1.94    2.11   |x| <= 1
    hypot      1.94    1.93   all pairs (no overflow or underflow of x*x)
    ========= ======= ======= ===================================================

(The second block: 4e5 log-uniform samples over the whole range, and 4e5 each uniform on
[-1, 1], [-30, 30] and near 1; floor/ceil are exact.) arcsin, arccos, arctan and arctan2 have
no implementation here: generated code calls libm (``math.asin`` ...), correct to libm's
accuracy but not vectorised.

For comparison, NumPy 2.4's own SIMD float32 functions, on 2e6 uniform samples in [-10, 10]:
exp 2.4, log 2.7, expm1 2.1, log1p 1.8, tanh 1.4, sin/cos 1.4 ulp.

Special values follow NumPy: NaN in -> NaN out; exp(inf)=inf, exp(-inf)=0, overflow -> inf,
underflow -> 0; log(0)=-inf, log(x<0)=nan, log(inf)=inf; tanh(+-inf)=+-1, tanh(+-0)=+-0;
sigmoid never overflows; sin/cos(+-inf)=nan; pow follows C99 (pow(x, 0)=1 even for NaN x,
pow(1, y)=1, negative x with non-integer y -> nan, pow(+-0, negative odd) = +-inf, ...).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

__all__ = ["acosh", "asinh", "atanh", "ceil", "cos", "cosh", "exp", "exp2", "expm1", "floor",
           "hypot", "log", "log1p", "log2", "log10", "pow", "prefer_512bit_vectors", "sigmoid",
           "sin", "sinh", "tan", "tanh"]


# ---------------------------------------------------------------------------------------------
# Intrinsics: the few steps plain Numba cannot express, or must not leave to fast-math.
# ---------------------------------------------------------------------------------------------

# Flags for instructions that must stay IEEE even if this code were ever compiled under a
# caller's fast-math flags: Numba's fast-math rewrite only adds flags to instructions that have
# none, and ``contract`` alone allows nothing harmful here.
_STRICT = ("contract",)


def _same_float(*tys) -> bool:
    return isinstance(tys[0], types.Float) and all(t == tys[0] for t in tys)


def _bits(fty: types.Float) -> tuple[ir.IntType, int, int]:
    """(integer type of the same width, mantissa bits, exponent bias)."""
    if fty.bitwidth == 32:
        return ir.IntType(32), 23, 127
    return ir.IntType(64), 52, 1023


def _call_intrinsic(builder, name, fty, args):
    """Call the overloaded LLVM intrinsic ``name`` whose arguments and result all have type fty."""
    fnty = ir.FunctionType(fty, [fty] * len(args))
    return builder.call(builder.module.declare_intrinsic(name, [fty], fnty), args)


@intrinsic
def _fma(typingctx, a, b, c):
    """a*b + c rounded once (``llvm.fma``): exact products for the error-free steps."""
    if not _same_float(a, b, c):
        return None

    def codegen(context, builder, sig, args):
        return _call_intrinsic(builder, "llvm.fma", args[0].type, args)

    return a(a, b, c), codegen


@intrinsic
def _mad(typingctx, a, b, c):
    """a*b + c, fused where the target has FMA (``llvm.fmuladd``); used for polynomials and for
    Cody-Waite steps whose product is exact anyway. LLVM does not re-associate through it."""
    if not _same_float(a, b, c):
        return None

    def codegen(context, builder, sig, args):
        return _call_intrinsic(builder, "llvm.fmuladd", args[0].type, args)

    return a(a, b, c), codegen


def _unary_intrinsic(llvm_name: str, doc: str):
    @intrinsic
    def _op(typingctx, x):
        if not isinstance(x, types.Float):
            return None

        def codegen(context, builder, sig, args):
            return _call_intrinsic(builder, llvm_name, args[0].type, args)

        return x(x), codegen

    _op.__doc__ = doc
    return _op


_rint = _unary_intrinsic("llvm.rint", "Round to nearest even (vroundps/pd).")
_floor = _unary_intrinsic("llvm.floor", "floor (vroundps/pd).")
_ceil = _unary_intrinsic("llvm.ceil", "ceil (vroundps/pd).")
_sqrt = _unary_intrinsic("llvm.sqrt", "IEEE square root (vsqrtps/pd); NaN below -0. A libm call "
                         "(what math.sqrt becomes without fast-math flags) would not vectorise.")


@intrinsic
def _copysign(typingctx, mag, sgn):
    """|mag| with the sign bit of sgn (``llvm.copysign``)."""
    if not _same_float(mag, sgn):
        return None

    def codegen(context, builder, sig, args):
        return _call_intrinsic(builder, "llvm.copysign", args[0].type, args)

    return mag(mag, sgn), codegen


@intrinsic
def _select(typingctx, cond, a, b):
    """``cond ? a : b`` as one LLVM ``select`` (no branch, so the loop stays vectorisable)."""
    if not (isinstance(cond, types.Boolean) and _same_float(a, b)):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(args[0], args[1], args[2])

    return a(cond, a, b), codegen


@intrinsic
def _div(typingctx, a, b):
    """a / b correctly rounded: no zero-divisor check whatever the caller's error model, and no
    ``arcp`` rewrite into a reciprocal multiply."""
    if not _same_float(a, b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fdiv(args[0], args[1], flags=_STRICT)

    return a(a, b), codegen


@intrinsic
def _two_sum(typingctx, a, b):
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth's TwoSum, branch-free).
    Emitted with strict flags: under ``reassoc`` LLVM would fold e to 0."""
    if not _same_float(a, b):
        return None
    rty = types.UniTuple(a, 2)

    def codegen(context, builder, sig, args):
        x, y = args
        s = builder.fadd(x, y, flags=_STRICT)
        yv = builder.fsub(s, x, flags=_STRICT)
        xv = builder.fsub(s, yv, flags=_STRICT)
        e = builder.fadd(builder.fsub(x, xv, flags=_STRICT),
                         builder.fsub(y, yv, flags=_STRICT), flags=_STRICT)
        return context.make_tuple(builder, rty, [s, e])

    return rty(a, b), codegen


@intrinsic
def _fast_two_sum(typingctx, a, b):
    """(s, e) with s = fl(a + b), a + b = s + e exactly, assuming |a| >= |b| or a == 0."""
    if not _same_float(a, b):
        return None
    rty = types.UniTuple(a, 2)

    def codegen(context, builder, sig, args):
        x, y = args
        s = builder.fadd(x, y, flags=_STRICT)
        e = builder.fsub(y, builder.fsub(s, x, flags=_STRICT), flags=_STRICT)
        return context.make_tuple(builder, rty, [s, e])

    return rty(a, b), codegen


@intrinsic
def _scale_bits(typingctx, t):
    """2**(n + off) from t = n + (1.5 * 2**mant + bias + off), n integer-valued, |n| < 2**21.
    That addition is exact and leaves bias + off + n in the low mantissa bits of t; shifting
    them into the exponent field builds the power of two (everything above falls off the top)
    without a float-to-int conversion, which LLVM treats as poison for NaN/inf. Correct for
    1 <= bias + off + n <= 2 * bias; otherwise finite, inf or NaN garbage, never poison."""
    if not isinstance(t, types.Float):
        return None

    def codegen(context, builder, sig, args):
        ity, mant, _ = _bits(sig.return_type)
        e = builder.shl(builder.bitcast(args[0], ity), ir.Constant(ity, mant))
        return builder.bitcast(e, args[0].type)

    return t(t), codegen


@intrinsic
def _scale_sub(typingctx, p, s):
    """(p * s * 2**64) * 2**-64, where s = 2**e possibly below the normal range (its bits
    wrapped by ``_scale_bits``): 2**64 is added to the exponent in integer arithmetic, so the
    first product is exact and only the second rounds, once, into the subnormal range. The
    multiplies are strict: re-associated they would multiply by the garbage s itself."""
    if not _same_float(p, s):
        return None

    def codegen(context, builder, sig, args):
        ity, mant, _ = _bits(sig.return_type)
        fty = args[0].type
        up = builder.add(builder.bitcast(args[1], ity), ir.Constant(ity, 64 << mant))
        v = builder.fmul(args[0], builder.bitcast(up, fty), flags=_STRICT)
        return builder.fmul(v, ir.Constant(fty, 2.0 ** -64), flags=_STRICT)

    return p(p, s), codegen


def _make_quadrant(shift: int):
    @intrinsic
    def _quadrant(typingctx, t, sp, cp):
        """Select and sign sin(r)/cos(r) by the quadrant j + shift (mod 4), read from the low
        bits of t = j + 1.5 * 2**mant (exact): odd -> cos, bit 1 -> negate."""
        if not _same_float(t, sp, cp):
            return None

        def codegen(context, builder, sig, args):
            ity, _, _ = _bits(sig.return_type)
            fty = args[1].type
            q = builder.bitcast(args[0], ity)
            if shift:
                q = builder.add(q, ir.Constant(ity, shift))
            odd = builder.trunc(q, ir.IntType(1))
            v = builder.select(odd, args[2], args[1])
            sign = builder.shl(builder.and_(q, ir.Constant(ity, 2)),
                               ir.Constant(ity, ity.width - 2))
            return builder.bitcast(builder.xor(builder.bitcast(v, ity), sign), fty)

        return sp(t, sp, cp), codegen

    return _quadrant


_quadrant_sin = _make_quadrant(0)   # sin(j pi/2 + r) = sin r, cos r, -sin r, -cos r
_quadrant_cos = _make_quadrant(1)   # cos(j pi/2 + r) = sin((j + 1) pi/2 + r)


@intrinsic
def _pow2i(typingctx, n):
    """2**n for an integer-valued float n in the normal exponent range (bits built directly)."""
    if not isinstance(n, types.Float):
        return None

    def codegen(context, builder, sig, args):
        ity, mant, bias = _bits(sig.return_type)
        k = builder.fptosi(args[0], ity)
        e = builder.shl(builder.add(k, ir.Constant(ity, bias)), ir.Constant(ity, mant))
        return builder.bitcast(e, args[0].type)

    return n(n), codegen


@intrinsic
def _frexp_sqrt2(typingctx, x):
    """(m, k) with x = m * 2**k, m in [sqrt(1/2), sqrt(2)), k an integer-valued float, for
    positive normal finite x (other inputs give finite garbage, never poison). Subtracting the
    bits of sqrt(1/2) before splitting centres m on 1, so log1p(m - 1) is evaluated on a
    range symmetric in s = f / (2 + f)."""
    if not isinstance(x, types.Float):
        return None
    rty = types.UniTuple(x, 2)

    def codegen(context, builder, sig, args):
        ity, mant, _ = _bits(sig.args[0])
        fty = args[0].type
        sqrt_half_bits = 0x3F3504F3 if ity.width == 32 else 0x3FE6A09E667F3BCD
        c = ir.Constant(ity, sqrt_half_bits)
        ix = builder.sub(builder.bitcast(args[0], ity), c)
        k = builder.ashr(ix, ir.Constant(ity, mant))
        mbits = builder.add(builder.and_(ix, ir.Constant(ity, (1 << mant) - 1)), c)
        m = builder.bitcast(mbits, fty)
        return context.make_tuple(builder, rty, [m, builder.sitofp(k, fty)])

    return rty(x), codegen


def _horner(t, cs):
    """cs[0] + t*(cs[1] + t*(... + t*cs[-1])) with fused multiply-adds (Python fallback)."""
    p = cs[-1]
    for c in cs[-2::-1]:
        p = p * t + c
    return p


@overload(_horner, inline="always", target="cpu")
def _ov_horner(t, cs):
    # Generated straight-line code: a loop over the tuple would be an inner loop that the
    # vectoriser must first see fully unrolled.
    if not (isinstance(cs, types.UniTuple) and cs.dtype == t):
        return None
    n = cs.count
    lines = ["def impl(t, cs):", f"    p = cs[{n - 1}]"]
    lines += [f"    p = _mad(p, t, cs[{i}])" for i in range(n - 2, -1, -1)]
    lines.append("    return p")
    ns = {"_mad": _mad}
    exec("\n".join(lines), ns)  # noqa: S102 - fixed template, no user input
    return ns["impl"]


# ---------------------------------------------------------------------------------------------
# Per-dtype constants. Hex literals are exact; float32 ones are exactly representable.
# ---------------------------------------------------------------------------------------------

_COMMON = {
    "ZERO": 0.0, "HALF": 0.5, "ONE": 1.0, "TWO": 2.0, "NEG_ONE": -1.0, "NEG_HALF": -0.5,
    "SIXTY_FOUR": 64.0, "TWO_M64": 2.0 ** -64, "INF": np.inf, "NINF": -np.inf, "NAN": np.nan,
}

_RAW = {
    np.float32: {
        "TINY": 2.0 ** -126, "SUB_SCALE": 2.0 ** 24, "SUB_SHIFT": 24.0,
        "MAGIC": 1.5 * 2.0 ** 23,                       # n + MAGIC: n mod 4 in the low bits
        "MAGIC_EXP": 1.5 * 2.0 ** 23 + 126,             # _scale_bits(n + MAGIC_EXP) = 2**(n-1)
        "LOG2E": float.fromhex("0x1.715476p+0"),
        "LN2_H": float.fromhex("0x1.62e4p-1"),          # 15 bits: k*LN2_H exact for |k| < 2**9
        "LN2_L": float.fromhex("0x1.7f7d1cp-20"),
        "EXP_HI": 89.0, "EXP_LO": -104.0,               # beyond: inf / 0 (after rounding)
        "EXP_SUB": -86.0,                               # below: 2**(n-1) is not normal
        "EXPM1_LO": -80.0,                              # expm1 = -1 below
        "LOG1P_BIG": 2.0 ** 100,
        # ln 2, log2(e), log10(e) as double-words (hi + lo)
        "DLN2_H": float.fromhex("0x1.62e430p-1"), "DLN2_L": float.fromhex("-0x1.05c61p-29"),
        "LOG2E_H": float.fromhex("0x1.715476p+0"), "LOG2E_L": float.fromhex("0x1.4ae0cp-26"),
        "LOG10E_H": float.fromhex("0x1.bcb7b2p-2"), "LOG10E_L": float.fromhex("-0x1.5b235ep-27"),
        "HYP_BIG": 10.0,                                # beyond: e**-2|x| < 2**-26, dropped
        "AH_BIG": 2.0 ** 12,                            # beyond: asinh/acosh = log(2|x|)
        "TWO_OVER_PI": float.fromhex("0x1.45f306p-1"),
        "PIO2_1": float.fromhex("0x1.921fb6p+0"),
        "PIO2_2": float.fromhex("-0x1.777a5cp-25"),
        "PIO2_3": float.fromhex("-0x1.ee59dap-50"),
        "SC_RMAX": 0.82,
        "C23_H": float.fromhex("0x1.555556p-1"), "C23_L": float.fromhex("-0x1.555556p-26"),
        # expm1(r) = r + r^2 (1/2 + r Q(r)), |r| <= 0.35: rel. err 1.6e-8
        "Q": (0.16666543, 0.04166686, 0.008366679, 0.001389839),
        # 2 atanh(s) = 2 s + s z (2/3 + z V(z)), z = s^2 <= 0.0296: rel. err 1.2e-11
        "V": (0.40000156, 0.28546858, 0.23425448),
        # sin r = r + r^3 S(r^2), |r| <= 0.82: rel. err 7e-9
        "S": (-0.16666651, 0.00833194, -0.00019485976),
        # cos r = 1 + r^2 (-1/2 + r^2 C(r^2)), |r| <= 0.82: rel. err 9e-10
        "C": (0.041666638, -0.0013887016, 2.4399638e-05),
        # tanh x = x TP(x^2) / TQ(x^2) on |x| <= 9.1 (tanh rounds to 1 beyond 9.011): rel. err
        # 7.7e-9 before rounding the coefficients
        "TANH_LIM": 9.1,
        "TP": (1.0, 0.13081901641276466898, 0.0031015519848050638049,
               0.000011127767816830996156, -2.0109021406291719075e-8,
               5.2173658428119947076e-11, -8.321596387071274711e-14),
        "TQ": (1.0, 0.46415230390731609435, 0.024485739091424089991,
               0.00025425627121702358367),
    },
    np.float64: {
        "TINY": 2.0 ** -1022, "SUB_SCALE": 2.0 ** 54, "SUB_SHIFT": 54.0,
        "MAGIC": 1.5 * 2.0 ** 52,
        "MAGIC_EXP": 1.5 * 2.0 ** 52 + 1022,
        "LOG2E": float.fromhex("0x1.71547652b82fep+0"),
        "LN2_H": float.fromhex("0x1.62e42fefa38p-1"),   # 42 bits: k*LN2_H exact for |k| < 2**11
        "LN2_L": float.fromhex("0x1.ef35793c7673p-45"),
        "EXP_HI": 710.0, "EXP_LO": -746.0,
        "EXP_SUB": -707.0,
        "EXPM1_LO": -80.0,
        "LOG1P_BIG": 2.0 ** 1000,
        "DLN2_H": float.fromhex("0x1.62e42fefa39efp-1"),
        "DLN2_L": float.fromhex("0x1.abc9e3b39803fp-56"),
        "LOG2E_H": float.fromhex("0x1.71547652b82fep+0"),
        "LOG2E_L": float.fromhex("0x1.777d0ffda0d24p-56"),
        "LOG10E_H": float.fromhex("0x1.bcb7b1526e50ep-2"),
        "LOG10E_L": float.fromhex("0x1.95355baaafad3p-57"),
        "HYP_BIG": 20.0,                                # beyond: e**-2|x| < 2**-57, dropped
        "AH_BIG": 2.0 ** 28,
        "TWO_OVER_PI": float.fromhex("0x1.45f306dc9c883p-1"),
        "PIO2_1": float.fromhex("0x1.921fb54442d18p+0"),
        "PIO2_2": float.fromhex("0x1.1a62633145c07p-54"),
        "PIO2_3": float.fromhex("-0x1.f1976b7ed8fbcp-110"),
        "SC_RMAX": 0.82,
        "C23_H": float.fromhex("0x1.5555555555555p-1"),
        "C23_L": float.fromhex("0x1.5555555555555p-55"),
        "Q": (0.16666666666666596, 0.041666666666616226, 0.008333333333392853,
              0.0013888888922400052, 0.00019841269701383825, 2.480151354496121e-05,
              2.7557429299871194e-06, 2.7623497566912794e-07, 2.5045772705028335e-08),
        "V": (0.40000000000002345, 0.2857142857005443, 0.2222222252834638,
              0.18181783600855497, 0.15386793862346693, 0.13255940664941687,
              0.13204695789104448),
        "S": (-0.16666666666666666, 0.008333333333333316, -0.00019841269841246658,
              2.755731920996647e-06, -2.5052103845482574e-08, 1.605823495558117e-10,
              -7.572367414222329e-13),
        "C": (0.041666666666666664, -0.0013888888888888861, 2.4801587301561382e-05,
              -2.755731921124825e-07, 2.0876753480520853e-09, -1.1470197301581798e-11,
              4.7339675492160056e-14),
        "TANH_LIM": 22.0,                               # tanh rounds to 1 beyond 19.06
    },
}

def _consts(dt) -> SimpleNamespace:
    vals = {"IS32": dt is np.float32}
    for name, v in {**_COMMON, **_RAW[dt]}.items():
        vals[name] = tuple(dt(c) for c in v) if isinstance(v, tuple) else dt(v)
    return SimpleNamespace(**vals)


_C = {types.float32: _consts(np.float32), types.float64: _consts(np.float64)}

# How every implementation below is compiled (see the module docstring): once per signature,
# LLVM-inlined into callers. ``fastmath`` and ``error_model`` are set explicitly because Numba
# otherwise inherits them from whichever kernel happens to compile the function first.
_JIT_OPTS = {"forceinline": True, "fastmath": False, "error_model": "numpy"}


def _jit_only(*args):
    raise NotImplementedError("internal graphc.codegen.vmath kernel: call it from @njit code")


def _register(factory, nargs: int = 1):
    """A new internal kernel: a stub overloaded with ``factory(consts)`` for float32 and float64
    arguments, each dtype with its own implementation and constants."""
    impls = {t: factory(c) for t, c in _C.items()}

    def stub(*args):
        return _jit_only(*args)

    stub.__name__ = stub.__qualname__ = factory.__name__.replace("_make", "")
    stub.__doc__ = factory.__doc__
    # strict=False: the stub takes *args; the implementations name their parameters.
    if nargs == 1:
        @overload(stub, strict=False, jit_options=_JIT_OPTS, target="cpu")
        def _ov1(x):
            return impls.get(x)
    else:
        @overload(stub, strict=False, jit_options=_JIT_OPTS, target="cpu")
        def _ov2(x, y):
            return impls.get(x) if x == y else None
    return stub


# ---------------------------------------------------------------------------------------------
# Internal kernels (valid on a stated domain; callers clamp and fix up special values).
# ---------------------------------------------------------------------------------------------

def _make_expm1_poly(c):
    """expm1(r) for |r| <= 0.35."""
    HALF, Q = c.HALF, c.Q

    def impl(r):
        return _mad(r * r, _mad(r, _horner(r, Q), HALF), r)
    return impl


_expm1_poly = _register(_make_expm1_poly)


def _make_exp_scaled(c):
    """exp(xh + xl) for a double-word argument (|xl| <= ulp(xh); xl = 0 for plain exp).
    Overflow -> inf, underflow -> 0, subnormal results rounded once from the polynomial; NaN
    propagates (NaN times garbage scale bits, never poison)."""
    ZERO, TWO, LOG2E, LN2_H, LN2_L = c.ZERO, c.TWO, c.LOG2E, c.LN2_H, c.LN2_L
    HI, LO, SUB, MAGIC_EXP = c.EXP_HI, c.EXP_LO, c.EXP_SUB, c.MAGIC_EXP

    def impl(xh, xl):
        xc = _select(xh > HI, HI, xh)        # NaN-preserving clamps
        xc = _select(xc < LO, LO, xc)
        lo = _select(xc == xh, xl, ZERO)     # clamped: the low part is meaningless
        n = _rint(xc * LOG2E)
        s = _scale_bits(n + MAGIC_EXP)       # 2**(n-1): finite even for n = emax + 1
        r = _mad(-n, LN2_H, xc)              # exact: n*LN2_H is exact, then Sterbenz
        r = _mad(-n, LN2_L, r) + lo
        p2 = _mad(_expm1_poly(r), TWO, TWO)  # 2 e**r
        return _select(xc < SUB, _scale_sub(p2, s), p2 * s)
    return impl


_exp_scaled = _register(_make_exp_scaled, nargs=2)


def _make_half_expm1(c):
    """expm1(y) / 2 for y in [EXPM1_LO, EXP_HI] (NaN propagates)."""
    HALF, LOG2E, LN2_H, LN2_L, MAGIC_EXP = c.HALF, c.LOG2E, c.LN2_H, c.LN2_L, c.MAGIC_EXP

    def impl(y):
        n = _rint(y * LOG2E)
        s = _scale_bits(n + MAGIC_EXP)       # 2**(n-1)
        r = _mad(-n, LN2_H, y)
        r = _mad(-n, LN2_L, r)
        # expm1(y) = 2**n p + (2**n - 1) = 2 (s p + (s - 1/2)): s - 1/2 is exact where it
        # matters and the fma rounds once.
        return _fma(s, _expm1_poly(r), s - HALF)
    return impl


_half_expm1 = _register(_make_half_expm1)


def _make_log1p_red(c):
    """log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]."""
    TWO, C23, V = c.TWO, c.C23_H, c.V

    def impl(f):
        s = _div(f, TWO + f)                 # |s| <= 0.1716
        z = s * s
        t = z * _mad(z, _horner(z, V), C23)  # 2 atanh(s) = 2 s + s t
        # 2 s = f - s f, so log1p(f) = f - s (f - t): f is exact, the correction is small.
        return f - s * (f - t)
    return impl


_log1p_red = _register(_make_log1p_red)


def _make_log_dw(c):
    """log(x) as a double-word (hi, lo) for positive finite x (subnormals included)."""
    ZERO, ONE, TWO = c.ZERO, c.ONE, c.TWO
    TINY, SUB_SCALE, SUB_SHIFT = c.TINY, c.SUB_SCALE, c.SUB_SHIFT
    LN2_H, LN2_L, C23_H, C23_L, V = c.LN2_H, c.LN2_L, c.C23_H, c.C23_L, c.V

    def impl(x):
        sub = x < TINY
        m, k = _frexp_sqrt2(_select(sub, x * SUB_SCALE, x))
        k = k - _select(sub, SUB_SHIFT, ZERO)
        f = m - ONE                                  # exact
        d = TWO + f
        sh = _div(f, d)
        # s = sh + sl: the residual f - sh (2 + f) = (f - 2 sh) - sh f is formed exactly
        # (f - 2 sh is exact by Sterbenz, the fma rounds once).
        sl = _div(_fma(-sh, f, f - TWO * sh), d)
        z = sh * sh
        zl = _fma(sh, sh, -z)
        s3 = z * sh
        s3l = _fma(z, sh, -s3) + zl * sh             # s^3 = s3 + s3l
        th = C23_H * s3                              # (2/3) s^3 = th + tl
        tl = _fma(C23_H, s3, -th) + _mad(C23_H, s3l, C23_L * s3)
        tail = s3 * z * _horner(z, V)                # s^5 V(z)
        corr = sl * z * (TWO + TWO * z)              # d/ds of the s^3 and s^5 terms, times sl
        h1, e1 = _two_sum(k * LN2_H, TWO * sh)       # both terms exact
        h2, e2 = _two_sum(h1, th)
        lo = e1 + e2 + tl + tail + TWO * sl + corr + k * LN2_L
        return _fast_two_sum(h2, lo)
    return impl


_log_dw = _register(_make_log_dw)


def _make_sincos_core(c):
    """(t, sin r, cos r) with x = j pi/2 + r and t = j + MAGIC (j mod 4 in its low bits)."""
    ONE, NEG_HALF, RMAX, S, C = c.ONE, c.NEG_HALF, c.SC_RMAX, c.S, c.C
    TWO_OVER_PI, P1, P2, P3, MAGIC = c.TWO_OVER_PI, c.PIO2_1, c.PIO2_2, c.PIO2_3, c.MAGIC

    def impl(x):
        j = _rint(x * TWO_OVER_PI)
        t = j + MAGIC                        # exact: j mod 4 in the low bits (|x| < 6e6 f32)
        # x - j pi/2: the first fma is exact (module notes), the pi/2 tail is 3 words;
        # inf gives inf - inf = NaN here, which propagates.
        r = _fma(-j, P1, x)
        r = _fma(-j, P2, r)
        r = _fma(-j, P3, r)
        # Only matters beyond the accurate range: keeps results in [-1, 1].
        r = _select(r > RMAX, RMAX, r)
        r = _select(r < -RMAX, -RMAX, r)
        w = r * r
        sp = _mad(r * w, _horner(w, S), r)
        cp = _mad(w, _mad(w, _horner(w, C), NEG_HALF), ONE)
        return t, sp, cp
    return impl


_sincos_core = _register(_make_sincos_core)


def _make_sincos(want_cos: bool):
    def _make_sincos_impl(c):
        """sin or cos for any x (accurate range in the module docstring)."""
        ZERO = c.ZERO

        def impl(x):
            t, sp, cp = _sincos_core(x)
            if want_cos:
                return _quadrant_cos(t, sp, cp)
            # sin(+-0) = +-0: r = fma(-0, P, -0) loses the sign
            return _select(x == ZERO, x, _quadrant_sin(t, sp, cp))
        return impl
    return _make_sincos_impl


# ---------------------------------------------------------------------------------------------
# Public functions.
# ---------------------------------------------------------------------------------------------

def _public(stub, factory, nargs: int = 1):
    """Register a public function: float32/float64 get their own implementation; integer
    arguments are converted to float64 and mixed float widths promote, as in NumPy."""
    impls = {t: factory(c) for t, c in _C.items()}

    def _as_float(t):
        if isinstance(t, types.Float):
            return t
        if isinstance(t, (types.Integer, types.Boolean)):
            return types.float64
        return None

    if nargs == 1:
        @overload(stub, jit_options=_JIT_OPTS, target="cpu")
        def _ov1(x):
            if x in impls:
                return impls[x]
            if _as_float(x) is types.float64:
                def conv(x):
                    return stub(np.float64(x))
                return conv
            raise TypingError(f"graphc.codegen.vmath.{stub.__name__}: unsupported type {x}")
    else:
        @overload(stub, jit_options=_JIT_OPTS, target="cpu")
        def _ov2(x, y):
            if x == y and x in impls:
                return impls[x]
            fx, fy = _as_float(x), _as_float(y)
            if fx is None or fy is None:
                raise TypingError(
                    f"graphc.codegen.vmath.{stub.__name__}: unsupported types {x}, {y}")
            # an integer next to a float takes the float's type; otherwise the wider float
            if not isinstance(x, types.Float):
                fx = fy if isinstance(y, types.Float) else types.float64
            if not isinstance(y, types.Float):
                fy = fx
            if fx.bitwidth == 64 or fy.bitwidth == 64:
                def conv64(x, y):
                    return stub(np.float64(x), np.float64(y))
                return conv64

            def conv32(x, y):
                return stub(np.float32(x), np.float32(y))
            return conv32
    return stub


def exp(x):
    """e**x."""
    return np.exp(x)


def _make_exp(c):
    ZERO = c.ZERO

    def impl(x):
        return _exp_scaled(x, ZERO)
    return impl


def expm1(x):
    """e**x - 1, accurate near 0."""
    return np.expm1(x)


def _make_expm1(c):
    ZERO, TWO, HI, LO = c.ZERO, c.TWO, c.EXP_HI, c.EXPM1_LO

    def impl(x):
        y = _select(x > HI, HI, x)           # NaN-preserving clamps
        y = _select(y < LO, LO, y)
        v = TWO * _half_expm1(y)
        return _select(x == ZERO, x, v)      # expm1(-0) = -0
    return impl


def log(x):
    """Natural logarithm."""
    return np.log(x)


def _make_log(c):
    ZERO, ONE, INF, NINF, NAN = c.ZERO, c.ONE, c.INF, c.NINF, c.NAN
    TINY, SUB_SCALE, SUB_SHIFT, LN2_H, LN2_L = c.TINY, c.SUB_SCALE, c.SUB_SHIFT, c.LN2_H, c.LN2_L

    def impl(x):
        sub = x < TINY                       # subnormals: scale into the normal range first
        m, k = _frexp_sqrt2(_select(sub, x * SUB_SCALE, x))
        k = k - _select(sub, SUB_SHIFT, ZERO)
        v = _log1p_red(m - ONE)              # m - 1 is exact
        v = _mad(k, LN2_H, _mad(k, LN2_L, v))
        v = _select(x < INF, v, x)           # inf -> inf, NaN -> NaN
        return _select(x > ZERO, v, _select(x == ZERO, NINF, NAN))
    return impl


def log1p(x):
    """log(1 + x), accurate near 0."""
    return np.log1p(x)


def _make_log1p(c):
    ZERO, ONE, NEG_ONE, INF, NINF, NAN = c.ZERO, c.ONE, c.NEG_ONE, c.INF, c.NINF, c.NAN
    BIG, TWO_M64, SIXTY_FOUR, LN2_H, LN2_L = c.LOG1P_BIG, c.TWO_M64, c.SIXTY_FOUR, c.LN2_H, c.LN2_L

    def impl(x):
        big = x > BIG                        # keep 2**-k normal: log1p(x) = log1p(x/2**64) + 64 ln2
        t = _select(big, x * TWO_M64, x)
        _, k = _frexp_sqrt2(ONE + t)         # only the exponent k of 1 + t is used
        sinv = _pow2i(-k)
        # f = (1 + t) 2**-k - 1 = t 2**-k + (2**-k - 1) with one rounding: the rounding error of
        # 1 + t never enters (2**-k - 1 is exact wherever it matters).
        f = _fma(t, sinv, sinv - ONE)
        k = k + _select(big, SIXTY_FOUR, ZERO)
        v = _log1p_red(f)
        v = _mad(k, LN2_H, _mad(k, LN2_L, v))
        v = _select(x == ZERO, x, v)         # log1p(-0) = -0
        v = _select(x < INF, v, x)           # inf -> inf, NaN -> NaN
        return _select(x > NEG_ONE, v, _select(x == NEG_ONE, NINF, NAN))
    return impl


def tanh(x):
    """Hyperbolic tangent."""
    return np.tanh(x)


def _make_tanh(c):
    LIM, NEG_ONE = c.TANH_LIM, c.NEG_ONE
    if c.IS32:
        TP, TQ = c.TP, c.TQ

        def impl32(x):
            # A (13, 6) rational fitted on [0, 9.1]: cheaper than any exp-based formula, and
            # this is the hottest transcendental in graphc's kernels. Clamps keep NaN; TP(0) =
            # TQ(0) = 1, so tiny x (and -0) come out exact.
            xc = _select(x > LIM, LIM, x)
            xc = _select(xc < -LIM, -LIM, xc)
            w = xc * xc
            return _div(xc * _horner(w, TP), _horner(w, TQ))
        return impl32

    def impl64(x):
        a = _select(abs(x) > LIM, LIM, abs(x))   # tanh = 1 beyond; NaN passes
        h = _half_expm1(-(a + a))                # expm1(-2|x|) / 2 in (-1/2, 0]
        # tanh|x| = -2h / (2h + 2) = h / (-1 - h); odd, so copy the sign (also for -0)
        return _copysign(_div(h, NEG_ONE - h), x)
    return impl64


def sigmoid(x):
    """Logistic function 1 / (1 + e**-x), without overflow for any x."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _make_sigmoid(c):
    ZERO, ONE = c.ZERO, c.ONE

    def impl(x):
        e = _exp_scaled(-abs(x), ZERO)       # in [0, 1]: never overflows
        q = _div(ONE, ONE + e)
        return _select(x < ZERO, e * q, q)   # x < 0: e / (1 + e); NaN gives q = NaN
    return impl


def sin(x):
    """Sine (accurate range reduction for |x| up to the bound in the module docstring)."""
    return np.sin(x)


def cos(x):
    """Cosine (accurate range reduction for |x| up to the bound in the module docstring)."""
    return np.cos(x)


def pow(x, y):  # the name generated code uses for x**y
    """x**y for floats, with C99/NumPy special cases (negative x needs an integer y)."""
    return np.power(x, y)


def _make_pow(c):
    ZERO, HALF, ONE, TWO, INF, NINF, NAN = c.ZERO, c.HALF, c.ONE, c.TWO, c.INF, c.NINF, c.NAN

    def impl(x, y):
        ax = abs(x)
        lh, ll = _log_dw(ax)                 # valid for 0 < ax < inf; fixed up below
        ph = y * lh
        pl = _fma(y, lh, -ph) + y * ll       # y log|x| = ph + pl
        v = _exp_scaled(ph, pl)
        # exponent classification
        y_int = _floor(y) == y               # true for +-inf too; those are handled first
        y_odd = y_int & (_floor(y * HALF) * TWO != y)
        ay = abs(y)
        # |x| = 0 or inf
        v = _select(ax == ZERO, _select(y < ZERO, INF, ZERO), v)
        v = _select(ax == INF, _select(y < ZERO, ZERO, INF), v)
        # y = +-inf: depends on |x| against 1
        yinf = _select(ax < ONE, ZERO, _select(ax > ONE, INF, ONE))
        yninf = _select(ax < ONE, INF, _select(ax > ONE, ZERO, ONE))
        v = _select(y == INF, yinf, _select(y == NINF, yninf, v))
        # sign: negative x (incl. -0, -inf) with odd integer y
        v = _select((_copysign(ONE, x) < ZERO) & y_odd, -v, v)
        # negative finite x with finite non-integer y
        v = _select((x < ZERO) & (ax < INF) & (ay < INF) & (_floor(y) != y), NAN, v)
        v = _select(np.isnan(x) | np.isnan(y), x + y, v)
        return _select((y == ZERO) | (x == ONE), ONE, v)
    return impl



def tan(x):
    """Tangent: sin/cos of one shared range reduction."""
    return np.tan(x)


def _make_tan(c):
    ZERO = c.ZERO

    def impl(x):
        t, sp, cp = _sincos_core(x)
        v = _div(_quadrant_sin(t, sp, cp), _quadrant_cos(t, sp, cp))
        return _select(x == ZERO, x, v)      # tan(-0) = -0
    return impl


def _make_exp_minus_ln2(c):
    """exp(a - ln 2) = e**a / 2 for a >= 0, finite up to the overflow of e**a / 2."""
    LN2_H, LN2_L = c.DLN2_H, c.DLN2_L

    def impl(a):
        h, lo = _two_sum(a, -LN2_H)
        return _exp_scaled(h, lo - LN2_L)
    return impl


_exp_half = _register(_make_exp_minus_ln2)


def sinh(x):
    """Hyperbolic sine."""
    return np.sinh(x)


def _make_sinh(c):
    HALF, ONE, BIG = c.HALF, c.ONE, c.HYP_BIG

    def impl(x):
        a = abs(x)
        e = expm1(a)
        near = HALF * (e + _div(e, e + ONE))   # (e**a - e**-a) / 2 without cancellation
        v = _select(a > BIG, _exp_half(a), near)
        return _copysign(v, x)
    return impl


def cosh(x):
    """Hyperbolic cosine."""
    return np.cosh(x)


def _make_cosh(c):
    HALF, BIG = c.HALF, c.HYP_BIG

    def impl(x):
        a = abs(x)
        e = exp(a)
        return _select(a > BIG, _exp_half(a), _mad(HALF, e, _div(HALF, e)))
    return impl


def exp2(x):
    """2**x."""
    return np.exp2(x)


def _make_exp2(c):
    LN2_H, LN2_L = c.DLN2_H, c.DLN2_L

    def impl(x):
        h = x * LN2_H                        # x ln 2 as a double-word: exact product error
        return _exp_scaled(h, _fma(x, LN2_H, -h) + x * LN2_L)
    return impl


def _make_log_times(hi_name: str, lo_name: str):
    def factory(c):
        """log(x) times a double-word constant, rounded once (log2, log10)."""
        ZERO, INF, NINF, NAN = c.ZERO, c.INF, c.NINF, c.NAN
        CH, CL = getattr(c, hi_name), getattr(c, lo_name)

        def impl(x):
            lh, ll = _log_dw(x)
            h = lh * CH
            v = h + (_fma(lh, CH, -h) + _mad(lh, CL, ll * CH))
            v = _select(x < INF, v, x)       # inf -> inf, NaN -> NaN
            return _select(x > ZERO, v, _select(x == ZERO, NINF, NAN))
        return impl
    return factory


def log2(x):
    """Base-2 logarithm (exact at powers of two)."""
    return np.log2(x)


def log10(x):
    """Base-10 logarithm."""
    return np.log10(x)


def asinh(x):
    """Inverse hyperbolic sine."""
    return np.arcsinh(x)


def _make_asinh(c):
    ONE, BIG, LN2 = c.ONE, c.AH_BIG, c.DLN2_H

    def impl(x):
        a = abs(x)
        w = a * a
        # log(a + sqrt(a^2 + 1)) = log1p(a + a^2 / (1 + sqrt(1 + a^2))): no cancellation
        near = log1p(a + _div(w, ONE + _sqrt(ONE + w)))
        return _copysign(_select(a > BIG, log(a) + LN2, near), x)
    return impl


def acosh(x):
    """Inverse hyperbolic cosine (NaN below 1)."""
    return np.arccosh(x)


def _make_acosh(c):
    ONE, TWO, BIG, LN2, NAN = c.ONE, c.TWO, c.AH_BIG, c.DLN2_H, c.NAN

    def impl(x):
        t = x - ONE
        # log(x + sqrt(x^2 - 1)) = log1p(t + sqrt(2t + t^2))
        near = log1p(t + _sqrt(_mad(t, t, TWO * t)))
        v = _select(x > BIG, log(x) + LN2, near)
        return _select(x >= ONE, v, NAN)     # below 1 (and NaN): NaN
    return impl


def atanh(x):
    """Inverse hyperbolic tangent (+-inf at +-1, NaN beyond)."""
    return np.arctanh(x)


def _make_atanh(c):
    HALF, ONE, TWO = c.HALF, c.ONE, c.TWO

    def impl(x):
        a = abs(x)
        return _copysign(HALF * log1p(_div(TWO * a, ONE - a)), x)
    return impl


def hypot(x, y):
    """sqrt(x**2 + y**2) without overflow or underflow; inf if either is infinite."""
    return np.hypot(x, y)


def _make_hypot(c):
    ZERO, ONE, INF = c.ZERO, c.ONE, c.INF

    def impl(x, y):
        ax, ay = abs(x), abs(y)
        big = ax > ay
        a = _select(big, ax, ay)
        r = _div(_select(big, ay, ax), a)    # in [0, 1]
        v = _select(a == ZERO, ZERO, a * _sqrt(_mad(r, r, ONE)))
        v = _select(np.isnan(x) | np.isnan(y), x + y, v)
        return _select((ax == INF) | (ay == INF), INF, v)
    return impl


def floor(x):
    """Largest integer-valued float <= x (a float, unlike math.floor in Numba)."""
    return np.floor(x)


def ceil(x):
    """Smallest integer-valued float >= x."""
    return np.ceil(x)


def _make_floor(c):
    def impl(x):
        return _floor(x)
    return impl


def _make_ceil(c):
    def impl(x):
        return _ceil(x)
    return impl


_public(exp, _make_exp)
_public(expm1, _make_expm1)
_public(log, _make_log)
_public(log1p, _make_log1p)
_public(tanh, _make_tanh)
_public(sigmoid, _make_sigmoid)
_public(sin, _make_sincos(False))
_public(cos, _make_sincos(True))
_public(pow, _make_pow, nargs=2)
_public(tan, _make_tan)
_public(sinh, _make_sinh)
_public(cosh, _make_cosh)
_public(exp2, _make_exp2)
_public(log2, _make_log_times("LOG2E_H", "LOG2E_L"))
_public(log10, _make_log_times("LOG10E_H", "LOG10E_L"))
_public(asinh, _make_asinh)
_public(acosh, _make_acosh)
_public(atanh, _make_atanh)
_public(hypot, _make_hypot, nargs=2)
_public(floor, _make_floor)
_public(ceil, _make_ceil)


# ---------------------------------------------------------------------------------------------
# Optional kernel-level hint.
# ---------------------------------------------------------------------------------------------

def prefer_512bit_vectors():
    """Call once at the top of an ``@njit`` kernel to let LLVM vectorise its loops with 512-bit
    vectors (sets ``"prefer-vector-width"="512"`` on the kernel). LLVM defaults to 256 bits on
    Intel AVX-512 cores (older Xeons lowered their clock for 512-bit code); on the Rocket Lake
    test machine the vmath loops ran 1.15-1.45x faster with it (``bench/vmath_bench.py``,
    column ``vm512``). Harmless on hosts without AVX-512. A no-op from plain Python."""


@intrinsic
def _prefer_512_impl(typingctx):
    def codegen(context, builder, sig, args):
        # llvmlite only accepts attribute names from a fixed list, which lacks string
        # attributes; add it to the underlying set directly.
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@overload(prefer_512bit_vectors, inline="always", target="cpu")
def _ov_prefer_512():
    # IR-inlined, so the attribute lands on the calling kernel itself.
    def impl():
        _prefer_512_impl()
    return impl
