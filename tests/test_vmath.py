"""graphc.codegen.vmath: accuracy against NumPy, special values, dtypes, and vectorisation.

Everything is called the way graphc's generated kernels call it: scalars inside an ``@njit``
loop, compiled with graphc's flags (``error_model="numpy"`` and the fast-math set below) and
once without fast-math. One kernel holds a loop per function, so each (dtype, flags) pair
compiles once (about a second each).

Errors are measured in ulps of the correctly rounded result. References: NumPy in float64 for
float32 inputs, NumPy in long double (x87 extended) for float64 inputs; where long double is no
wider than double, float64 bounds get one extra ulp for the reference's own error.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest
from numba import njit, types

from graphc.codegen import vmath
from graphc.codegen.vmath import cos, exp, expm1, log, log1p, sigmoid, sin, tanh
from graphc.codegen.vmath import pow as vpow

GRAPHC_FASTMATH = {"contract", "reassoc", "nsz"}
FLAGS = {"fastmath": GRAPHC_FASTMATH, "strict": False}
FUNCS = ["exp", "expm1", "log", "log1p", "tanh", "sigmoid", "sin", "cos"]  # row i of the kernel
POW_ROW = 8
DTYPES = [np.float32, np.float64]

# Asserted bounds in ulps: the measured maxima stated in vmath's docstring plus a small margin
# (the samples here are a subset of those behind the docstring).
BOUND = {
    "exp": (1.5, 1.5), "expm1": (2.0, 2.5), "log": (1.5, 1.5), "log1p": (2.0, 2.5),
    "tanh": (5.5, 3.0), "sigmoid": (3.0, 3.0), "sin": (2.0, 2.0), "cos": (2.0, 2.0),
    "pow": (2.0, 2.0),
}
# |x| up to which sin/cos keep their bound (beyond: finite, in [-1, 1])
SINCOS_RANGE = {np.float32: 2.0 ** 18, np.float64: 2.0 ** 47}
_EXTENDED_LD = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


def bound(name: str, dt) -> float:
    b = BOUND[name][0 if dt is np.float32 else 1]
    return b if dt is np.float32 or _EXTENDED_LD else b + 1.0


# ---------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------

@functools.cache
def kernel(flags: str):
    """One loop per function, as graphc emits them."""
    fm = FLAGS[flags]

    @njit(error_model="numpy", fastmath=fm)
    def run(x, y, out):
        n = x.size
        for i in range(n):
            out[0, i] = exp(x[i])
        for i in range(n):
            out[1, i] = expm1(x[i])
        for i in range(n):
            out[2, i] = log(x[i])
        for i in range(n):
            out[3, i] = log1p(x[i])
        for i in range(n):
            out[4, i] = tanh(x[i])
        for i in range(n):
            out[5, i] = sigmoid(x[i])
        for i in range(n):
            out[6, i] = sin(x[i])
        for i in range(n):
            out[7, i] = cos(x[i])
        for i in range(n):
            out[8, i] = vpow(x[i], y[i])

    return run


def evaluate(flags: str, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    y = np.ones_like(x) if y is None else y
    out = np.empty((POW_ROW + 1, x.size), x.dtype)
    kernel(flags)(np.ascontiguousarray(x), np.ascontiguousarray(y), out)
    return out


# ---------------------------------------------------------------------------------------------
# references and ulp errors
# ---------------------------------------------------------------------------------------------

def reference(name: str, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    hi = np.float64 if x.dtype == np.float32 else np.longdouble
    xh = x.astype(hi)
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return 1 / (1 + np.exp(-xh))
        if name == "pow":
            return np.power(xh, y.astype(hi))
        return getattr(np, name)(xh)


def ulp_errors(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in ulps of ref rounded to got's dtype (subnormal spacing below the normal
    range); 0 where both are the same infinity or both NaN, inf where only one is NaN."""
    dt = got.dtype.type
    with np.errstate(all="ignore"):
        rr = ref.astype(dt)
        err = (np.abs(got.astype(ref.dtype) - ref) / np.spacing(np.abs(rr)).astype(ref.dtype))
    err = err.astype(np.float64)
    same = (np.isnan(got) & np.isnan(rr)) | (np.isinf(rr) & (got == rr))
    err = np.where(same, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def assert_ulps(name, dt, x, got, ref, limit=None, mask=None):
    err = ulp_errors(got, ref)
    if mask is not None:
        err = np.where(mask, err, 0.0)
    limit = bound(name, dt) if limit is None else limit
    i = int(np.argmax(err))
    assert err[i] <= limit, (
        f"{name}({dt.__name__}): {err[i]:.3g} ulp > {limit} at x={x[i]!r}: "
        f"got {got[i]!r}, reference {ref[i]!r}")


# ---------------------------------------------------------------------------------------------
# samples
# ---------------------------------------------------------------------------------------------

N = 60_000


@functools.cache
def wide_samples(dt) -> np.ndarray:
    """Log-uniform magnitudes over the whole range (subnormals included), both signs."""
    rng = np.random.default_rng(1)
    fi = np.finfo(dt)
    e = rng.uniform(np.log2(float(fi.smallest_subnormal)), np.log2(float(fi.max)), N)
    with np.errstate(over="ignore"):
        return (np.exp2(e) * rng.choice([-1.0, 1.0], N)).astype(dt)


@functools.cache
def dense_samples(name: str, dt) -> np.ndarray:
    """Uniform samples over the range where each function does its real work."""
    rng = np.random.default_rng(2)
    big = 88.0 if dt is np.float32 else 709.0
    u = rng.uniform
    x = {
        "exp": lambda: u(-big - 17, big + 1, N),                  # incl. subnormal results
        "expm1": lambda: np.concatenate([u(-1, 1, N // 2), u(-40, big + 1, N // 2)]),
        "log": lambda: np.exp(u(-5, 5, N)),
        "log1p": lambda: np.concatenate([u(-1, 2, N // 2),
                                         rng.choice([-1, 1], N // 2) * np.exp(u(-30, 0, N // 2))]),
        "tanh": lambda: u(-12, 12, N),
        "sigmoid": lambda: u(-big - 20, 40, N),
        "sin": lambda: np.concatenate([u(-10, 10, N // 2), u(-1e5, 1e5, N // 2)]),
        "cos": lambda: np.concatenate([u(-10, 10, N // 2), u(-1e5, 1e5, N // 2)]),
    }[name]()
    return x.astype(dt)


def special_values(dt) -> np.ndarray:
    """The edge cases, both signs: zeros, subnormals, normal limits, max, inf, NaN, the
    exp/expm1/sigmoid overflow and underflow thresholds, tanh saturation, sin/cos limits."""
    fi = np.finfo(dt)
    v = [0.0, float(fi.smallest_subnormal), 2 * float(fi.smallest_subnormal),
         float(fi.tiny) * (1 - float(fi.eps)), float(fi.tiny), float(fi.eps), 0.5, 1.0,
         1 - float(fi.epsneg), 1 + float(fi.eps), 2.0, 3.0, float(fi.max), np.inf, np.nan,
         # float32 thresholds: exp overflow, smallest normal / subnormal result, zero result
         88.72283, 88.72284, 89.0, 87.33654, 103.27893, 103.97, 104.0,
         # float64 thresholds
         709.782712893384, 709.7827128933841, 710.0, 708.3964185322641,
         744.4400719213812, 745.1332191019411, 745.1332191019412, 746.0,
         # tanh saturation, pi/2 multiples, the sin/cos accurate-range limits and beyond
         9.01, 9.1, 19.06, 22.0, 1.5707963267948966, 3.141592653589793, 1e5,
         2.0 ** 18, 2.0 ** 47, 1e10, 1e30, 1e-20, 1e-300]
    v = np.array(v, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.concatenate([v, -v]).astype(dt)


# ---------------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------------

@functools.cache
def results(flags: str, dt, sample: str, name: str = ""):
    x = wide_samples(dt) if sample == "wide" else dense_samples(name, dt)
    return x, evaluate(flags, x)


@pytest.mark.parametrize("flags", ["fastmath", "strict"])
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("sample", ["wide", "dense"])
def test_accuracy(name, dt, flags, sample):
    x, out = results(flags, dt, sample, "" if sample == "wide" else name)
    got = out[FUNCS.index(name)]
    mask = None
    if name in ("sin", "cos"):
        inside = np.abs(x) <= SINCOS_RANGE[dt]
        assert np.all(np.abs(got[~inside]) <= 1), f"{name} beyond the accurate range left [-1, 1]"
        mask = inside
    assert_ulps(name, dt, x, got, reference(name, x), mask=mask)


@pytest.mark.parametrize("flags", ["fastmath", "strict"])
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_special_values(dt, flags):
    x = special_values(dt)
    out = evaluate(flags, x)
    for k, name in enumerate(FUNCS):
        got = out[k]
        with np.errstate(all="ignore"):
            if name == "sigmoid":
                expect = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(dt)
            else:
                expect = getattr(np, name)(x)  # NumPy at the same dtype: the semantics to match
        assert np.array_equal(np.isnan(got), np.isnan(expect)), (
            name, x[np.isnan(got) != np.isnan(expect)])
        inf = np.isinf(expect) | np.isinf(got)
        assert np.array_equal(got[inf], expect[inf]), (name, x[inf], got[inf], expect[inf])
        zero = (expect == 0) & (got == 0)
        assert np.array_equal(np.signbit(got[zero]), np.signbit(expect[zero])), (
            name, "sign of zero", x[zero], got[zero])
        mask = np.isfinite(expect)
        if name in ("sin", "cos"):
            mask &= np.abs(x) <= SINCOS_RANGE[dt]
            assert np.all(np.abs(got[np.isfinite(x)]) <= 1)
        assert_ulps(name, dt, x, got, reference(name, x), mask=mask)


def test_documented_special_cases():
    for dt in DTYPES:
        x = np.array([np.inf, -np.inf, 0.0, -0.0, np.nan], dt)
        out = evaluate("fastmath", x)
        ex, em1, lg, lg1p, th, sg, sn, cs = out[:8]
        np.testing.assert_array_equal(ex, [np.inf, 0, 1, 1, np.nan])
        np.testing.assert_array_equal(lg, [np.inf, np.nan, -np.inf, -np.inf, np.nan])
        np.testing.assert_array_equal(th, [1, -1, 0, -0.0, np.nan])
        assert np.signbit(th[3]) and np.signbit(em1[3]) and np.signbit(lg1p[3]) \
            and np.signbit(sn[3])
        np.testing.assert_array_equal(sg, [1, 0, 0.5, 0.5, np.nan])
        assert np.isnan(sn[:2]).all() and np.isnan(cs[:2]).all()
        assert lg1p[0] == np.inf and np.isnan(lg1p[1]) and em1[1] == -1
        # overflow / underflow / subnormal results
        y = np.array([1000, -1000, 100, -100], dt)
        o = evaluate("fastmath", y)
        assert o[0, 0] == np.inf and o[0, 1] == 0 and o[1, 0] == np.inf and o[1, 1] == -1
        assert o[5, 0] == 1 and o[5, 1] == 0
        if dt is np.float32:  # exp(-100) and sigmoid(-100) are float32 subnormals
            ref = np.exp(np.float64(-100))
            assert abs(o[0, 3] - ref) <= float(np.finfo(dt).smallest_subnormal)
            assert abs(o[5, 3] - ref) <= 2 * float(np.finfo(dt).smallest_subnormal)


# ---------------------------------------------------------------------------------------------
# pow
# ---------------------------------------------------------------------------------------------

def pow_samples(dt):
    rng = np.random.default_rng(3)
    emax = 127 if dt is np.float32 else 1023
    n = N // 3
    # positive x over the whole range, y chosen so that the result stays in the normal range
    x1 = np.exp2(rng.uniform(-emax - 20, emax, n)).astype(dt)
    with np.errstate(all="ignore"):
        y1 = (rng.uniform(-emax + 2, emax - 1, n) / np.log2(x1.astype(np.float64))).astype(dt)
    y1 = np.where(np.isfinite(y1), y1, 1).astype(dt)
    x2 = np.exp(rng.uniform(-3, 3, n)).astype(dt)                      # moderate
    y2 = rng.uniform(-30, 30, n).astype(dt)
    x3 = -np.exp(rng.uniform(-3, 3, n)).astype(dt)                     # negative, integer y
    y3 = np.round(rng.uniform(-40, 40, n)).astype(dt)
    return np.concatenate([x1, x2, x3]), np.concatenate([y1, y2, y3])


@pytest.mark.parametrize("flags", ["fastmath", "strict"])
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_pow_accuracy(dt, flags):
    x, y = pow_samples(dt)
    got = evaluate(flags, x, y)[POW_ROW]
    ref = reference("pow", x, y)
    fi = np.finfo(dt)
    normal = (np.abs(ref) >= float(fi.tiny)) & (np.abs(ref) <= float(fi.max))
    assert normal.mean() > 0.95
    assert_ulps("pow", dt, x, got, ref, mask=normal)


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_pow_special_values(dt):
    fi = np.finfo(dt)
    v = np.array([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.25, 2.5, -2.5,
                  np.inf, -np.inf, np.nan, float(fi.max), -float(fi.max),
                  float(fi.smallest_subnormal), float(fi.tiny), 1e10, -1e10, 1e-10, 7.0, -7.0,
                  1 + float(fi.eps), 1 - float(fi.epsneg), 2.0 ** 60, 129.0, -149.0, 1075.0],
                 dtype=dt)
    xx, yy = np.meshgrid(v, v)
    x, y = xx.ravel(), yy.ravel()
    got = evaluate("fastmath", x, y)[POW_ROW]
    with np.errstate(all="ignore"):
        expect = np.power(x, y)
    assert np.array_equal(np.isnan(got), np.isnan(expect)), list(
        zip(x[np.isnan(got) != np.isnan(expect)], y[np.isnan(got) != np.isnan(expect)]))
    inf = np.isinf(expect) | np.isinf(got)
    assert np.array_equal(got[inf], expect[inf]), list(zip(x[inf], y[inf], got[inf]))
    zero = (expect == 0) & (got == 0)
    assert np.array_equal(np.signbit(got[zero]), np.signbit(expect[zero]))
    assert_ulps("pow", dt, x, got, reference("pow", x, y), mask=np.isfinite(expect))


# ---------------------------------------------------------------------------------------------
# types, Python fallback, vectorisation
# ---------------------------------------------------------------------------------------------

def _return_types(dispatcher, *args):
    dispatcher(*args)
    sig = dispatcher.nopython_signatures[-1]
    return list(sig.return_type.types)


def test_result_types_and_promotion():
    @njit
    def f(a, b):
        return exp(a), tanh(a), vpow(a, b), sigmoid(a), sin(a), log1p(a)

    # each dtype keeps its type (Numba boxes float32 results as Python floats: check typing)
    assert _return_types(f, np.float32(0.5), np.float32(2.0)) == [types.float32] * 6
    assert _return_types(f, 0.5, 2.0) == [types.float64] * 6

    @njit
    def g(i, a32, b64):
        return exp(i), vpow(a32, b64), vpow(a32, 3), vpow(2, a32)

    # integers become float64, mixed float widths promote, an integer takes the float's type
    assert _return_types(g, 1, np.float32(2.0), 0.5) == [
        types.float64, types.float64, types.float32, types.float32]
    r = g(1, np.float32(2.0), 0.5)
    assert r[0] == pytest.approx(np.e, rel=1e-15) and r[1] == pytest.approx(np.sqrt(2.0), 1e-15)
    assert r[2] == 8 and r[3] == 4


def test_python_fallback():
    x = np.float32(0.5)
    assert vmath.exp(x) == np.exp(x) and vmath.pow(x, x) == np.power(x, x)
    assert vmath.sigmoid(np.float64(-1000.0)) == 0.0
    vmath.prefer_512bit_vectors()  # no-op outside @njit


def _vector_loops(llvm_ir: str) -> int:
    return len(re.findall(r"^vector\.body[\w.]*:", llvm_ir, re.MULTILINE))


@pytest.mark.parametrize("flags", ["fastmath", "strict"])
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_loops_vectorise(dt, flags):
    evaluate(flags, np.ones(4, dt))
    k = kernel(flags)
    want = types.float32 if dt is np.float32 else types.float64
    sig = next(s for s in k.signatures if s[0].dtype == want)
    llvm_ir = k.inspect_llvm(sig)
    elem = "float" if dt is np.float32 else "double"
    assert re.search(rf"<(4|8|16) x {elem}>", llvm_ir), "no vector types in the kernel"
    # every one of the nine loops has a vector body ...
    assert _vector_loops(llvm_ir) >= POW_ROW + 1, _vector_loops(llvm_ir)
    # ... no libm (or other) call is left in it, vmath's functions were all inlined ...
    calls = set(re.findall(r"call [^@]*@([\w.$]+)\(", llvm_ir))
    assert {c for c in calls if not c.startswith(("llvm.", "NRT_", "Py"))} <= {
        c for c in calls if "run" in c}, calls
    # ... and no float64 leaks into the float32 loops
    if dt is np.float32:
        assert "double" not in llvm_ir


def test_prefer_512bit_vectors():
    @njit(error_model="numpy", fastmath=GRAPHC_FASTMATH)
    def k(a, out):
        vmath.prefer_512bit_vectors()
        for i in range(a.size):
            out[i] = tanh(a[i])

    a = np.linspace(-10, 10, 1001).astype(np.float32)
    out = np.empty_like(a)
    k(a, out)
    assert_ulps("tanh", np.float32, a, out, reference("tanh", a))
    assert '"prefer-vector-width"="512"' in k.inspect_llvm(k.signatures[0])


# ---------------------------------------------------------------------------------------------
# the functions added for NumPy's wider ufunc set (tan, hyperbolics, exp2/log2/log10, hypot)
# ---------------------------------------------------------------------------------------------

# Measured maxima (module docstring) plus a small margin.
MORE_BOUND = {"tan": 3.5, "sinh": 3.0, "cosh": 2.0, "exp2": 1.5, "log2": 1.0, "log10": 1.0,
              "asinh": 2.5, "acosh": 2.5, "atanh": 2.5, "hypot": 2.5, "floor": 0.0,
              "ceil": 0.0}
MORE = list(MORE_BOUND)
NUMPY_NAME = {"asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh"}


@functools.cache
def more_kernel():
    """One loop per function, as graphc emits them."""
    lines = ["def run(x, y, out):"]
    for k, f in enumerate(MORE):
        args = "x[i], y[i]" if f == "hypot" else "x[i]"
        lines += ["    for i in range(x.size):", f"        out[{k}, i] = vmath.{f}({args})"]
    ns = {"vmath": vmath}
    exec("\n".join(lines), ns)  # noqa: S102 - fixed template
    return njit(error_model="numpy", fastmath=GRAPHC_FASTMATH)(ns["run"])


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_more_functions_accuracy_and_special_values(dt):
    rng = np.random.default_rng(4)
    x = np.concatenate([wide_samples(dt), rng.uniform(-1, 1, N).astype(dt),
                        rng.uniform(-30, 30, N).astype(dt),
                        (1 + np.abs(rng.normal(0, 1e-3, N))).astype(dt), special_values(dt)])
    y = rng.permutation(x)
    out = np.empty((len(MORE), x.size), dt)
    more_kernel()(x, y, out)
    hi = np.float64 if dt is np.float32 else np.longdouble
    for k, name in enumerate(MORE):
        with np.errstate(all="ignore"):
            fn = getattr(np, NUMPY_NAME.get(name, name))
            ref = fn(x.astype(hi), y.astype(hi)) if name == "hypot" else fn(x.astype(hi))
        mask = np.abs(x) <= SINCOS_RANGE[dt] if name == "tan" else None
        limit = MORE_BOUND[name] + (0 if dt is np.float32 or _EXTENDED_LD or name in
                                    ("floor", "ceil") else 1.0)
        assert_ulps(name, dt, x, out[k], ref, limit=limit, mask=mask)


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_more_functions_vectorise(dt):
    x = np.ones(4, dt)
    k = more_kernel()
    k(x, x, np.empty((len(MORE), 4), dt))
    want = types.float32 if dt is np.float32 else types.float64
    llvm_ir = k.inspect_llvm(next(s for s in k.signatures if s[0].dtype == want))
    elem = "float" if dt is np.float32 else "double"
    assert re.search(rf"<(4|8|16) x {elem}>", llvm_ir), "no vector types in the kernel"
    assert _vector_loops(llvm_ir) >= len(MORE), _vector_loops(llvm_ir)
    calls = set(re.findall(r"call [^@]*@([\w.$]+)\(", llvm_ir))
    assert {c for c in calls if not c.startswith(("llvm.", "NRT_", "Py"))} <= {
        c for c in calls if "run" in c}, calls
    if dt is np.float32:
        assert "double" not in llvm_ir
