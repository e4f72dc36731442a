"""``scipy.special``'s ufuncs on traced arrays.

SciPy's special functions are NumPy ufuncs, so a traced argument reaches Tracer's
``__array_ufunc__`` just as it does for ``np.exp``. graphc recognises them by name in
``scipy.special`` (which the user's program has imported already, so graphc never imports it
for this): ``erf`` and ``erfc`` are primitives (ops.py); the rest are compositions whose
branches keep the unused side's arguments valid, so that their gradients are exact zeros.
SciPy's functions that are not ufuncs (``logsumexp``, ``polygamma``) convert their arguments
with ``np.asarray``, which a traced array cannot pass: traced code sees graphc's in their
place, and scipy.linalg's and scipy.stats' likewise (in_trace).
"""

from __future__ import annotations

import math
import numbers
import sys
import types
from typing import Any, Callable

import numpy as np

from . import numpy as gnp
from .errors import UnsupportedError
from .ir import library_call, user_loc
from .trace import Tracer, apply, as_tracer, logaddexp


def float_tracer(x: Any) -> Tracer:
    """x traced, in float64 unless it is a float already (NumPy's float results of ints)."""
    x = as_tracer(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _floats(*xs: Any):
    return [float_tracer(x) for x in xs]


def _like(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn with its result in the float dtype of its array arguments (Python numbers weak), as
    SciPy's ufunc loops give it, whatever constants its branches use."""
    def wrapped(*xs):
        out = fn(*xs)
        arrays = [x.dtype for x in xs if isinstance(x, Tracer | np.ndarray | np.generic)]
        dtype = np.result_type(*arrays) if arrays else out.dtype
        dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
        return out if out.dtype == dtype else out.astype(dtype)
    return wrapped


def _erf(x):
    return apply("erf", *_floats(x))


def _erfc(x):
    return apply("erfc", *_floats(x))


def _gammaln(x):
    return apply("gammaln", float_tracer(x))


def _polygamma(x, n: int = 0):
    return apply("polygamma", *_floats(x), n=n)


def _poles(x):
    """Where Gamma has its poles: 0 and the negative integers (and -inf)."""
    return (x <= 0) & (x == np.floor(x))


def _gammasgn(x):
    """The sign of Gamma(x): -1 between an odd negative integer and the next one up, 1
    elsewhere (at -0.0 too, where SciPy says -1), NaN at the negative poles and NaN, as
    SciPy's."""
    x = _floats(x)[0]
    neg = (x < 0) & (np.floor(x) % 2 == 1)
    return np.where(_poles(x) & (x != 0) | np.isnan(x), np.nan,
                    np.where(neg, -1.0, 1.0)).astype(x.dtype)


def _gamma(x):
    """sign * exp(log|Gamma|), NaN at the negative poles."""
    return _gammasgn(x) * np.exp(_gammaln(x))


def _betaln(a, b):
    return _gammaln(a) + _gammaln(b) - _gammaln(as_tracer(a) + b)


def _log_ndtr(x):
    """log of the normal CDF: log1p(-erfc(x / sqrt 2) / 2) above 0; log(erfc(-x / sqrt 2) / 2)
    down to where erfc would leave the normal numbers; below, the asymptotic series
    -x^2/2 - log(-x) - log(2 pi)/2 + log1p(sum_k (-1)^k (2k-1)!! / x^2k)."""
    x = _floats(x)[0]
    cut = -37.0 if x.dtype == np.float64 else -12.0
    r2 = math.sqrt(2)
    pos = np.where(x > 0, x, 0)
    mid = np.where(x > cut, x, cut)
    low = np.where(x > cut, cut, x)
    u, term, series = 1 / (low * low), 1.0, 0.0
    for k in range(1, 8):
        term = -term * (2 * k - 1) * u
        series = series + term
    tail = -0.5 * low * low - np.log(-low) - 0.5 * math.log(2 * math.pi) + np.log1p(series)
    return np.where(x > 0, np.log1p(-0.5 * _erfc(pos / r2)),
                    np.where(x > cut, np.log(0.5 * _erfc(-mid / r2)), tail))


def _bessel_i(x, v: int):
    """I_v(x) = e^|x| (I_v(x) e^-|x|): NaN at the infinities, as SciPy's."""
    x = _floats(x)[0]
    return np.exp(np.abs(x)) * apply("besselie", x, v=v)


def _xlogy(x, y, log=np.log, low=0):
    """x * log(y), 0 where x is 0 and y is not NaN. Where y is in log's finite range
    (above ``low``) x * log(y) is computed even at x = 0, so that the derivative in x there
    is log(y), as JAX and PyTorch have it (a weight at 0 can move); elsewhere log reads a
    harmless 1 - low."""
    edge = (x == 0) & ~((y > low) & (y < np.inf)) & (y == y)
    return np.where(edge, 0, x * log(np.where(edge, 1 - low, y)))


def _xlog1py(x, y):
    return _xlogy(x, y, np.log1p, -1)


def _nan_of(value, *xs):
    """``value``, NaN where any of ``xs`` is NaN (as SciPy's, whatever branch they take)."""
    bad = xs[0] != xs[0]
    for x in xs[1:]:
        bad = bad | (x != x)
    return np.where(bad, np.nan, value)


def _entr(x):
    """-x log x for x > 0, 0 at 0, -inf below."""
    pos = x > 0
    return _nan_of(np.where(pos, -x * np.log(np.where(pos, x, 1)),
                            np.where(x == 0, 0, -np.inf)), x)


def _rel_entr(x, y):
    """x log(x / y) for x, y > 0; 0 for x = 0 <= y; inf otherwise."""
    both = (x > 0) & (y > 0)
    return _nan_of(np.where(both, x * np.log(np.where(both, x, 1) / np.where(both, y, 1)),
                            np.where((x == 0) & (y >= 0), 0, np.inf)), x, y)


def _kl_div(x, y):
    both = (x > 0) & (y > 0)
    return _nan_of(np.where(both, _rel_entr(x, y) - x + y,
                            np.where((x == 0) & (y >= 0), y, np.inf)), x, y)


def _huber(delta, r):
    """r^2 / 2 within delta of 0, delta (|r| - delta / 2) beyond; inf for delta < 0."""
    a = np.abs(r)
    return np.where(delta < 0, np.inf,
                    np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)))


def _pseudo_huber(delta, r):
    """delta^2 (sqrt(1 + (r / delta)^2) - 1), written r^2 / (sqrt(1 + (r / delta)^2) + 1) so
    that nothing cancels where r << delta, nor overflows in delta^2; 0 for delta = 0, inf
    below."""
    ok = delta > 0
    d = np.where(ok, delta, 1)
    return np.where(ok, r * r / (np.sqrt(1 + (r / d) ** 2) + 1),
                    np.where(delta == 0, 0, np.inf))


SPECIAL: dict[str, Callable[..., Any]] = {
    "gammaln": _gammaln,
    "digamma": _polygamma,
    "psi": _polygamma,
    "gamma": _like(_gamma),
    "gammasgn": _like(_gammasgn),
    "rgamma": _like(lambda x: np.where(_poles(x), 0.0,  # (1 / Gamma: 0 at its poles)
                                       _gammasgn(x) * np.exp(-_gammaln(x)))),
    "loggamma": _like(lambda x: np.where(x < 0, np.nan, _gammaln(x))),
    "betaln": _like(_betaln),
    "beta": _like(lambda a, b: _gammasgn(a) * _gammasgn(b) * _gammasgn(as_tracer(a) + b)
                  * np.exp(_betaln(a, b))),
    "log_ndtr": _log_ndtr,
    "i0e": lambda x: apply("besselie", *_floats(x), v=0),
    "i1e": lambda x: apply("besselie", *_floats(x), v=1),
    "i0": lambda x: _bessel_i(x, 0),
    "i1": lambda x: _bessel_i(x, 1),
    "erf": _erf,
    "erfc": _erfc,
    "ndtr": lambda x: 0.5 * _erfc(-as_tracer(x) / math.sqrt(2)),  # the normal CDF
    "expit": lambda x: apply("sigmoid", *_floats(x)),
    "log_expit": lambda x: -logaddexp(0, -as_tracer(x)),
    "logit": lambda p: np.log(p) - np.log1p(-p),
    "xlogy": _like(_xlogy),
    "xlog1py": _like(_xlog1py),
    "entr": _like(_entr),
    "rel_entr": _like(_rel_entr),
    "kl_div": _like(_kl_div),
    "huber": _like(_huber),
    "pseudo_huber": _like(_pseudo_huber),
    "log1p": np.log1p,
    "expm1": np.expm1,
    "exp2": np.exp2,
    "exp10": lambda x: 10.0 ** as_tracer(x),
}


def _constant_int(v: Any, what: str) -> int:
    if isinstance(v, Tracer) or not isinstance(v, numbers.Integral) or v < 0:
        raise UnsupportedError(f"scipy.special.{what} needs a constant non-negative int, got "
                               f"{v!r}", user_loc())
    return int(v)


def _multigammaln(a, d):
    """log of the multivariate Gamma function, NaN where SciPy raises (a <= (d - 1) / 2)."""
    d = _constant_int(d, "multigammaln: d")
    a = _floats(a)[0]
    out = d * (d - 1) / 4 * math.log(math.pi)
    for j in range(d):
        out = out + _gammaln(a - j / 2)
    return np.where(a > (d - 1) / 2, out, np.nan)


# SciPy's plain Python functions (not ufuncs: they call np.asarray): graphc's own run instead
# in traced code (see in_trace).
PY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "polygamma": lambda n, x: _polygamma(x, _constant_int(n, "polygamma: n")),
    "multigammaln": _multigammaln,
    "logsumexp": lambda *args, **kwds: gnp.logsumexp(*args, **kwds),
    "softmax": lambda x, axis=None: gnp.softmax(x, axis=axis),
    "log_softmax": lambda x, axis=None: gnp.log_softmax(x, axis=axis),
    "softplus": lambda x: gnp.softplus(x),
}


class _ModuleInTrace(types.ModuleType):
    """A SciPy module as traced code sees it: graphc's functions for the names it has."""

    def __init__(self, real: types.ModuleType, names: dict[str, Any]) -> None:
        super().__init__(real.__name__)
        self._real, self._names = real, names

    def __getattr__(self, name: str) -> Any:
        return self._names[name] if name in self._names else getattr(self._real, name)


def _math(name: str, traced: Callable[..., Any]) -> Callable[..., Any]:
    """Python's math.<name>, which calls ``traced`` when an argument is a traced value (a
    Python number it would need instead cannot come from one)."""
    real = getattr(math, name)

    def fn(*args):
        if any(isinstance(a, Tracer) for a in args):
            return traced(*args)
        return real(*args)
    fn.__name__ = fn.__qualname__ = name
    return fn


def _math_log(x, base=None):
    return np.log(x) if base is None else np.log(x) / np.log(base)


# NumPy's names of Python's math functions, where they differ (codegen.cuda reads it too)
MATH_NUMPY = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
              "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh", "pow": "power",
              "fabs": "abs"}
# Python's math module in traced code: its functions of traced values are NumPy's (NaN where
# math raises: the compiled code cannot raise per element) or scipy.special's
MATH_IN_TRACE = _ModuleInTrace(math, {
    **{n: _math(n, getattr(np, MATH_NUMPY.get(n, n))) for n in (
        "sqrt", "exp", "expm1", "log1p", "log2", "log10", "sin", "cos", "tan", "sinh", "cosh",
        "tanh", "asin", "acos", "atan", "atan2", "asinh", "acosh", "atanh", "hypot", "pow",
        "fabs", "copysign", "degrees", "radians", "isnan", "isinf", "isfinite")},
    "log": _math("log", _math_log), "erf": _math("erf", _erf),
    "erfc": _math("erfc", _erfc), "lgamma": _math("lgamma", _gammaln),
    "gamma": _math("gamma", SPECIAL["gamma"]),
})
_MATH_SWAPS = {id(math): MATH_IN_TRACE, **{id(getattr(math, n)): fn
                                           for n, fn in MATH_IN_TRACE._names.items()}}
_IN_TRACE: dict[int, Any] = {}  # id of a SciPy module or function -> what traced code sees
_SCIPY = ("special", "linalg", "stats", "signal", "ndimage", "spatial.distance")
_LOADED: list = [None] * len(_SCIPY)  # the modules of scipy that _IN_TRACE is for


def in_trace(v: Any) -> Any:
    """What traced code sees for ``v``, a global or a closure's value: scipy.special,
    scipy.linalg, scipy.stats, scipy.signal, scipy.ndimage and scipy.spatial.distance (and
    scipy itself) become modules with graphc's versions of the plain Python functions in
    PY_FUNCTIONS, linalg.SCIPY_LINALG, the distributions of stats.stand_ins,
    signal.SCIPY_SIGNAL, signal.SCIPY_NDIMAGE and spatial.SCIPY_DISTANCE; those imported by
    name become graphc's; so do Python's math module and its functions (MATH_IN_TRACE).
    Anything else is v. SciPy is never imported here: only the modules the program has
    loaded are looked at."""
    loaded = [sys.modules.get(f"scipy.{name}") for name in _SCIPY]
    if loaded != _LOADED:
        from .linalg import SCIPY_LINALG
        from .signal import SCIPY_NDIMAGE, SCIPY_SIGNAL
        from .spatial import SCIPY_DISTANCE
        from .stats import stand_ins

        _IN_TRACE.clear()
        _LOADED[:] = loaded
        modules = {}
        for real, ours in zip(loaded, (PY_FUNCTIONS, SCIPY_LINALG, stand_ins, SCIPY_SIGNAL,
                                       SCIPY_NDIMAGE, SCIPY_DISTANCE)):
            if real is None:
                continue
            ours = ours(real) if callable(ours) else ours
            _IN_TRACE[id(real)] = _ModuleInTrace(real, ours)
            name, *sub = real.__name__.split(".")[1:]  # spatial.distance: inside spatial
            modules[name] = _IN_TRACE[id(real)] if not sub else _ModuleInTrace(
                sys.modules[f"scipy.{name}"], {sub[0]: _IN_TRACE[id(real)]})
            for fname, fn in ours.items():
                if hasattr(real, fname):
                    _IN_TRACE[id(getattr(real, fname))] = fn
        if modules:
            top = sys.modules["scipy"]
            _IN_TRACE[id(top)] = _ModuleInTrace(top, modules)
    return _IN_TRACE.get(id(v)) or _MATH_SWAPS.get(id(v), v)


def scipy_ufunc(ufunc: np.ufunc) -> tuple[Callable[..., Any] | None, str]:
    """graphc's function for a scipy.special ufunc (None if it has none) and the ufunc's full
    name, for an error message."""
    name = getattr(ufunc, "__name__", "?")
    special = sys.modules.get("scipy.special")
    if special is not None and getattr(special, name, None) is ufunc:
        return SPECIAL.get(name), f"scipy.special.{name}"
    if getattr(np, name, None) is ufunc:
        return None, f"numpy.{name}"
    lib = library_call()  # a library's own ufunc, reached through one of its functions
    return None, f"the ufunc {name}" + (f", called by {lib}," if lib else "")
