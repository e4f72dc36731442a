"""Vectorisable scalar math for graphc's CPU kernels.

Why this module exists: inside a Numba ``@njit`` loop, ``np.tanh``/``math.exp`` on a scalar
call libm, and LLVM cannot vectorise a loop that calls libm (the llvmlite wheels carry no SVML).
The functions here are written as straight-line arithmetic, ``select``s instead of branches,
and bit manipulation (building 2**n, splitting off the exponent), so that a fused loop calling
them auto-vectorises. Generated kernels import them by name and call them on *scalars*::

    from graphc.codegen.vmath import exp, log, tanh
    @njit(error_model="numpy", fastmath={"contract", "reassoc", "nsz", "arcp"})
    def k(a, out):
        for i in range(a.size):
            out[i] = tanh(a[i])

Public functions: ``exp, expm1, log, log1p, tanh, sigmoid, sin, cos, pow``. Each takes float32
or float64 (``pow``: two floats; mixed widths promote like NumPy, integers become floats) and
returns the same type; float32 arguments are computed in float32 arithmetic only (every constant
exists once per dtype, so no float64 can leak into a float32 loop and halve its vector width).
Called from plain Python they fall back to NumPy.

Design rules (each one a bug that would otherwise bite):

* Every implementation is an ``overload(..., inline='always')``, inlined into the caller's Numba
  IR, so the caller's flags apply to it. Results are correct with no fast-math flags and with
  graphc's set ``{"contract", "reassoc", "nsz", "arcp"}``; nothing relies on ``nnan``/``ninf``.
  Steps that must not be re-associated (Cody-Waite reduction, error-free sums, the scaling by
  2**n near overflow/underflow, divisions) go through the intrinsics below: ``llvm.fma`` /
  ``llvm.fmuladd`` calls, which LLVM does not re-associate, and float instructions emitted with
  an explicit ``contract`` flag, which Numba's fast-math rewrite leaves alone (it only adds flags
  to instructions that have none).
* ``-0.0`` is returned for ``-0.0`` where NumPy does (expm1, log1p, tanh, sin) via an explicit
  select or ``copysign``, which ``nsz`` cannot remove.
* Clamps are written ``select(x < hi, x, hi)``, which also maps NaN to a finite value, so no
  float-to-int conversion ever sees NaN/inf (that would be LLVM poison); NaN is restored by a
  final ``select(x != x, ...)``.
* Steps marked "exact" rely on hardware FMA (``llvm.fma``: sin/cos reduction, log1p reduction,
  pow). Every x86-64 since Haswell and every AArch64 has it; without it LLVM calls libm's
  ``fma``, which is still correct but not vectorised.
* No table lookups: gathers vectorise poorly.

Algorithms: exp/expm1: x = n ln2 + r (Cody-Waite, |r| <= ln2/2), minimax expm1(r), scaling by
2**n in two exact steps (so subnormal results are correctly rounded from the polynomial,
not flushed). log/log1p: x = 2**k (1+f), f in [sqrt(1/2)-1, sqrt(2)-1), log(1+f) = 2 atanh(s),
s = f/(2+f), minimax tail; log1p forms f = (1+x) 2**-k - 1 with one fma so the rounding of 1+x
is not lost. tanh = -expm1(-2|x|) / (expm1(-2|x|) + 2) with the sign copied. sigmoid from
e = exp(-|x|): 1/(1+e) or e/(1+e). sin/cos: x = j pi/2 + r with a three-part pi/2 and fma,
minimax sin/cos on |r| <= 0.82, quadrant by selects. pow: log|x| as a double-word (hi, lo),
y log|x| as a double-word via fma, then exp of the double-word; C99/NumPy special cases by
selects. Polynomial coefficients were fitted for this module (weighted Remez in mpmath).

Measured accuracy (``tests/test_vmath.py``; error in ulps of the result against a reference
that is correctly rounded or nearly so: float64 NumPy for float32, long double NumPy for
float64; samples: ~2e5 log-uniform magnitudes of both signs over the whole float range per
function and dtype, plus the edge values; each under graphc's fast-math flags and without):

    ============ =============== ============== ====================================
    function     float32 max ulp float64 max ulp input range of the bound
    ============ =============== ============== ====================================
    exp          @EXP32@         @EXP64@        all x (subnormal results: <= 1 ulp
                                                of the smallest subnormal)
    expm1        @EXPM132@       @EXPM164@      all x
    log          @LOG32@         @LOG64@        all x >= 0, subnormals included
    log1p        @LOG1P32@       @LOG1P64@      all x >= -1
    tanh         @TANH32@        @TANH64@       all x
    sigmoid      @SIG32@         @SIG64@        all x (subnormal results as exp)
    sin, cos     @SIN32@         @SIN64@        |x| <= @SINRANGE@; beyond, finite in [-1, 1]
    pow          @POW32@         @POW64@        x > 0 (and x < 0 with integer y), results
                                                in the normal range
    ============ =============== ============== ====================================

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

__all__ = ["exp", "expm1", "log", "log1p", "tanh", "sigmoid", "sin", "cos", "pow"]


# ---------------------------------------------------------------------------------------------
# Intrinsics: the few steps plain Numba cannot express, or must not leave to fast-math.
# ---------------------------------------------------------------------------------------------

# A non-empty flag set on an instruction makes Numba's fast-math rewrite skip it; ``contract``
# alone allows nothing harmful here (no multiply feeds these adds).
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
def _ldexp(typingctx, p, n):
    """p * 2**n for integer-valued float n with |n| <= ~2*emax, as two exact power-of-two
    multiplies (so results near overflow or in the subnormal range round only once). The
    multiplies are strict: re-associated, 2**n itself could overflow or underflow."""
    if not _same_float(p, n):
        return None

    def codegen(context, builder, sig, args):
        ity, mant, bias = _bits(sig.return_type)
        k = builder.fptosi(args[1], ity)
        k1 = builder.ashr(k, ir.Constant(ity, 1))
        k2 = builder.sub(k, k1)
        fty = args[0].type

        def pow2(kk):
            e = builder.shl(builder.add(kk, ir.Constant(ity, bias)), ir.Constant(ity, mant))
            return builder.bitcast(e, fty)

        v = builder.fmul(args[0], pow2(k1), flags=_STRICT)
        return builder.fmul(v, pow2(k2), flags=_STRICT)

    return p(p, n), codegen


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


@overload(_horner, inline="always")
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

def _hx(*hexes: str) -> tuple[float, ...]:
    return tuple(float.fromhex(h) for h in hexes)


_COMMON = dict(
    ZERO=0.0, HALF=0.5, ONE=1.0, TWO=2.0, THREE=3.0, FOUR=4.0, QUARTER=0.25,
    NEG_ONE=-1.0, NEG_HALF=-0.5, SIXTY_FOUR=64.0, TWO_M64=2.0 ** -64,
    INF=np.inf, NINF=-np.inf, NAN=np.nan,
)

_RAW = {
    np.float32: dict(
        TINY=2.0 ** -126, SUB_SCALE=2.0 ** 24, SUB_SHIFT=24.0,
        LOG2E=float.fromhex("0x1.715476p+0"),
        LN2_H=float.fromhex("0x1.62e4p-1"),          # 15 bits: k*LN2_H exact for |k| < 2**9
        LN2_L=float.fromhex("0x1.7f7d1cp-20"),
        EXP_HI=89.0, EXP_LO=-104.0,                     # beyond: inf / 0 (after rounding)
        EXPM1_LO=-80.0, TANH_LO=-20.0,                  # expm1 = -1, tanh = 1 beyond these
        LOG1P_BIG=2.0 ** 100,
        TWO_OVER_PI=float.fromhex("0x1.45f306p-1"),
        PIO2_1=float.fromhex("0x1.921fb6p+0"),
        PIO2_2=float.fromhex("-0x1.777a5cp-25"),
        PIO2_3=float.fromhex("-0x1.ee59dap-50"),
        SC_RMAX=0.82,
        C23_H=float.fromhex("0x1.555556p-1"), C23_L=float.fromhex("-0x1.555556p-26"),
        # expm1(r) = r + r^2 (1/2 + r Q(r)), |r| <= 0.35: rel. err 1.6e-8
        Q=(0.16666543, 0.04166686, 0.008366679, 0.001389839),
        # 2 atanh(s) = 2 s + s z (2/3 + z V(z)), z = s^2 <= 0.0296: rel. err 1.2e-11
        V=(0.40000156, 0.28546858, 0.23425448),
        # sin r = r + r^3 S(r^2), |r| <= 0.82: rel. err 7e-9
        S=(-0.16666651, 0.00833194, -0.00019485976),
        # cos r = 1 + r^2 (-1/2 + r^2 C(r^2)), |r| <= 0.82: rel. err 9e-10
        C=(0.041666638, -0.0013887016, 2.4399638e-05),
    ),
    np.float64: dict(
        TINY=2.0 ** -1022, SUB_SCALE=2.0 ** 54, SUB_SHIFT=54.0,
        LOG2E=float.fromhex("0x1.71547652b82fep+0"),
        LN2_H=float.fromhex("0x1.62e42fefa38p-1"),     # 42 bits: k*LN2_H exact for |k| < 2**11
        LN2_L=float.fromhex("0x1.ef35793c7673p-45"),
        EXP_HI=710.0, EXP_LO=-746.0,
        EXPM1_LO=-80.0, TANH_LO=-45.0,
        LOG1P_BIG=2.0 ** 1000,
        TWO_OVER_PI=float.fromhex("0x1.45f306dc9c883p-1"),
        PIO2_1=float.fromhex("0x1.921fb54442d18p+0"),
        PIO2_2=float.fromhex("0x1.1a62633145c07p-54"),
        PIO2_3=float.fromhex("-0x1.f1976b7ed8fbcp-110"),
        SC_RMAX=0.82,
        C23_H=float.fromhex("0x1.5555555555555p-1"), C23_L=float.fromhex("0x1.5555555555555p-55"),
        Q=(0.16666666666666596, 0.041666666666616226, 0.008333333333392853,
           0.0013888888922400052, 0.00019841269701383825, 2.480151354496121e-05,
           2.7557429299871194e-06, 2.7623497566912794e-07, 2.5045772705028335e-08),
        V=(0.40000000000002345, 0.2857142857005443, 0.2222222252834638,
           0.18181783600855497, 0.15386793862346693, 0.13255940664941687,
           0.13204695789104448),
        S=(-0.16666666666666666, 0.008333333333333316, -0.00019841269841246658,
           2.755731920996647e-06, -2.5052103845482574e-08, 1.605823495558117e-10,
           -7.572367414222329e-13),
        C=(0.041666666666666664, -0.0013888888888888861, 2.4801587301561382e-05,
           -2.755731921124825e-07, 2.0876753480520853e-09, -1.1470197301581798e-11,
           4.7339675492160056e-14),
    ),
}


def _consts(dt) -> SimpleNamespace:
    vals = {}
    for name, v in {**_COMMON, **_RAW[dt]}.items():
        vals[name] = tuple(dt(c) for c in v) if isinstance(v, tuple) else dt(v)
    return SimpleNamespace(**vals)


_C = {types.float32: _consts(np.float32), types.float64: _consts(np.float64)}


def _register(stub, factory, nargs: int = 1):
    """Overload ``stub`` (inlined) with ``factory(consts)`` for float32 and float64 arguments.
    Each dtype gets its own implementation closing over its own constants."""
    impls = {t: factory(c) for t, c in _C.items()}
    # strict=False: the internal stubs name their parameters for readability, not uniformly.
    if nargs == 1:
        @overload(stub, inline="always", strict=False)
        def _ov1(x):
            return impls.get(x)
    else:
        @overload(stub, inline="always", strict=False)
        def _ov2(x, y):
            return impls.get(x) if x == y else None
    return stub


# ---------------------------------------------------------------------------------------------
# Internal kernels (valid on a stated domain; callers clamp and fix up special values).
# ---------------------------------------------------------------------------------------------

def _expm1_poly(r):
    """expm1(r) for |r| <= 0.35."""
    return np.expm1(r)


def _make_expm1_poly(c):
    HALF, Q = c.HALF, c.Q

    def impl(r):
        return _mad(r * r, _mad(r, _horner(r, Q), HALF), r)
    return impl


_register(_expm1_poly, _make_expm1_poly)


def _exp_core(x):
    """exp(x) for non-NaN x, overflow -> inf, underflow -> 0, subnormals rounded once."""
    return np.exp(x)


def _make_exp_core(c):
    ONE, LOG2E, LN2_H, LN2_L, HI, LO = c.ONE, c.LOG2E, c.LN2_H, c.LN2_L, c.EXP_HI, c.EXP_LO

    def impl(x):
        xc = _select(x < HI, x, HI)          # also maps NaN to HI; callers restore NaN
        xc = _select(xc > LO, xc, LO)
        n = _rint(xc * LOG2E)
        r = _mad(-n, LN2_H, xc)              # exact: n*LN2_H is exact, then Sterbenz
        r = _mad(-n, LN2_L, r)
        return _ldexp(ONE + _expm1_poly(r), n)
    return impl


_register(_exp_core, _make_exp_core)


def _expm1_core(y):
    """expm1(y) for y in [EXPM1_LO, EXP_HI] (no clamping, no NaN)."""
    return np.expm1(y)


def _make_expm1_core(c):
    ONE, HALF, TWO, LOG2E, LN2_H, LN2_L = c.ONE, c.HALF, c.TWO, c.LOG2E, c.LN2_H, c.LN2_L

    def impl(y):
        n = _rint(y * LOG2E)
        r = _mad(-n, LN2_H, y)
        r = _mad(-n, LN2_L, r)
        p = _expm1_poly(r)
        # expm1(y) = 2**n p + (2**n - 1) = 2 (s p + (s - 1/2)), s = 2**(n-1): s - 1/2 is exact
        # where it matters, the fma rounds once, and 2**(n-1) stays finite for n = emax + 1.
        s = _pow2i(n - ONE)
        return TWO * _fma(s, p, s - HALF)
    return impl


_register(_expm1_core, _make_expm1_core)


def _log1p_red(f):
    """log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]."""
    return np.log1p(f)


def _make_log1p_red(c):
    TWO, C23, V = c.TWO, c.C23_H, c.V

    def impl(f):
        s = _div(f, TWO + f)                 # |s| <= 0.1716
        z = s * s
        t = z * _mad(z, _horner(z, V), C23)  # 2 atanh(s) = 2 s + s t
        # 2 s = f - s f, so log1p(f) = f - s (f - t): f is exact, the correction is small.
        return f - s * (f - t)
    return impl


_register(_log1p_red, _make_log1p_red)


def _log_dw(x):
    """log(x) as a double-word (hi, lo) for positive finite x (subnormals included)."""
    h = np.log(np.float64(x))
    return type(x)(h), type(x)(0.0)


def _make_log_dw(c):
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
        # d/ds of the s^3 and s^5 terms times sl
        corr = sl * z * (TWO + TWO * z)
        h1, e1 = _two_sum(k * LN2_H, TWO * sh)       # both terms exact
        h2, e2 = _two_sum(h1, th)
        lo = e1 + e2 + tl + tail + TWO * sl + corr + k * LN2_L
        return _fast_two_sum(h2, lo)
    return impl


_register(_log_dw, _make_log_dw)


def _exp_dw(xh, xl):
    """exp(xh + xl) for a double-word argument (|xl| <= ulp(xh)), non-NaN."""
    return np.exp(xh)


def _make_exp_dw(c):
    ZERO, ONE, LOG2E, LN2_H, LN2_L, HI, LO = (c.ZERO, c.ONE, c.LOG2E, c.LN2_H, c.LN2_L,
                                              c.EXP_HI, c.EXP_LO)

    def impl(xh, xl):
        xc = _select(xh < HI, xh, HI)
        xc = _select(xc > LO, xc, LO)
        lo = _select(xc == xh, xl, ZERO)     # clamped (or NaN): the low part is meaningless
        n = _rint(xc * LOG2E)
        r = _mad(-n, LN2_H, xc)
        r = _mad(-n, LN2_L, r) + lo
        return _ldexp(ONE + _expm1_poly(r), n)
    return impl


_register(_exp_dw, _make_exp_dw, nargs=2)


def _sincos(x, want_cos):
    return np.cos(x) if want_cos else np.sin(x)


def _make_sincos(want_cos: bool):
    def factory(c):
        ONE, TWO, THREE, FOUR, QUARTER, NEG_HALF = (c.ONE, c.TWO, c.THREE, c.FOUR, c.QUARTER,
                                                     c.NEG_HALF)
        INF, NAN, RMAX, S, C = c.INF, c.NAN, c.SC_RMAX, c.S, c.C
        TWO_OVER_PI, P1, P2, P3 = c.TWO_OVER_PI, c.PIO2_1, c.PIO2_2, c.PIO2_3

        def impl(x):
            j = _rint(x * TWO_OVER_PI)
            # x - j pi/2: the first fma is exact (see module notes), the pi/2 tail is 3 words.
            r = _fma(-j, P1, x)
            r = _fma(-j, P2, r)
            r = _fma(-j, P3, r)
            # Only matters beyond the accurate range (or for inf/NaN): keeps results in [-1, 1].
            r = _select(r < RMAX, r, RMAX)
            r = _select(r > -RMAX, r, -RMAX)
            w = r * r
            sp = _mad(r * w, _horner(w, S), r)
            cp = _mad(w, _mad(w, _horner(w, C), NEG_HALF), ONE)
            q = j - FOUR * _floor(j * QUARTER)       # quadrant 0..3, exact
            odd = (q == ONE) | (q == THREE)
            if want_cos:
                v = _select(odd, sp, cp)
                v = _select((q == ONE) | (q == TWO), -v, v)
            else:
                v = _select(odd, cp, sp)
                v = _select(q >= TWO, -v, v)
                v = _select(x == -x, x, v)           # sin(+-0) = +-0 (the fma lost the sign)
            return _select(abs(x) < INF, v, NAN)
        return impl
    return factory


def _sin_core(x):
    return np.sin(x)


def _cos_core(x):
    return np.cos(x)


_register(_sin_core, _make_sincos(False))
_register(_cos_core, _make_sincos(True))


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
        @overload(stub, inline="always")
        def _ov1(x):
            if x in impls:
                return impls[x]
            if _as_float(x) is types.float64:
                def conv(x):
                    return stub(np.float64(x))
                return conv
            raise TypingError(f"graphc.codegen.vmath.{stub.__name__}: unsupported type {x}")
    else:
        @overload(stub, inline="always")
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
    def impl(x):
        return _select(x != x, x, _exp_core(x))
    return impl


def expm1(x):
    """e**x - 1, accurate near 0."""
    return np.expm1(x)


def _make_expm1(c):
    HI, LO = c.EXP_HI, c.EXPM1_LO

    def impl(x):
        y = _select(x < HI, x, HI)
        y = _select(y > LO, y, LO)
        v = _expm1_core(y)
        v = _select(x == -x, x, v)           # expm1(-0) = -0
        return _select(x != x, x, v)
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
        m, k = _frexp_sqrt2(ONE + t)         # only the exponent k of 1 + t is used
        sinv = _pow2i(-k)
        # f = (1 + t) 2**-k - 1 = t 2**-k + (2**-k - 1) with one rounding: the rounding error of
        # 1 + t never enters (2**-k - 1 is exact wherever it matters).
        f = _fma(t, sinv, sinv - ONE)
        k = k + _select(big, SIXTY_FOUR, ZERO)
        v = _log1p_red(f)
        v = _mad(k, LN2_H, _mad(k, LN2_L, v))
        v = _select(x == -x, x, v)           # log1p(-0) = -0
        v = _select(x < INF, v, x)           # inf -> inf, NaN -> NaN
        return _select(x > NEG_ONE, v, _select(x == NEG_ONE, NINF, NAN))
    return impl


def tanh(x):
    """Hyperbolic tangent."""
    return np.tanh(x)


def _make_tanh(c):
    NEG_TWO, TWO, LO = -c.TWO, c.TWO, c.TANH_LO

    def impl(x):
        y = NEG_TWO * abs(x)                 # exact
        y = _select(y > LO, y, LO)           # tanh = 1 below; NaN -> LO, restored below
        t = _expm1_core(y)                   # in (-1, 0]
        v = _copysign(_div(-t, t + TWO), x)  # tanh|x| = -t / (t + 2); odd, so copy the sign
        return _select(x != x, x, v)
    return impl


def sigmoid(x):
    """Logistic function 1 / (1 + e**-x), without overflow for any x."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _make_sigmoid(c):
    ZERO, ONE = c.ZERO, c.ONE

    def impl(x):
        e = _exp_core(-abs(x))               # in [0, 1]: never overflows
        q = _div(ONE, ONE + e)
        v = _select(x >= ZERO, q, e * q)     # x < 0: e / (1 + e)
        return _select(x != x, x, v)
    return impl


def sin(x):
    """Sine (accurate range reduction for |x| up to the bound in the module docstring)."""
    return np.sin(x)


def _make_sin(c):
    def impl(x):
        return _sin_core(x)
    return impl


def cos(x):
    """Cosine (accurate range reduction for |x| up to the bound in the module docstring)."""
    return np.cos(x)


def _make_cos(c):
    def impl(x):
        return _cos_core(x)
    return impl


def pow(x, y):  # noqa: A001 - the generated code's name for x**y
    """x**y for floats, with C99/NumPy special cases (negative x needs an integer y)."""
    return np.power(x, y)


def _make_pow(c):
    ZERO, HALF, ONE, TWO, INF, NINF, NAN = c.ZERO, c.HALF, c.ONE, c.TWO, c.INF, c.NINF, c.NAN

    def impl(x, y):
        ax = abs(x)
        lh, ll = _log_dw(ax)                 # valid for 0 < ax < inf; fixed up below
        ph = y * lh
        pl = _fma(y, lh, -ph) + y * ll       # y log|x| = ph + pl
        v = _exp_dw(ph, pl)
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
        v = _select((x != x) | (y != y), x + y, v)
        return _select((y == ZERO) | (x == ONE), ONE, v)
    return impl


_public(exp, _make_exp)
_public(expm1, _make_expm1)
_public(log, _make_log)
_public(log1p, _make_log1p)
_public(tanh, _make_tanh)
_public(sigmoid, _make_sigmoid)
_public(sin, _make_sin)
_public(cos, _make_cos)
_public(pow, _make_pow, nargs=2)
