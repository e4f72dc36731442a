"""``scipy.special``'s ufuncs on traced arrays.

SciPy's special functions are NumPy ufuncs, so a traced argument reaches Tracer's
``__array_ufunc__`` just as it does for ``np.exp``. graphc recognises them by name in
``scipy.special`` (which the user's program has imported already, so graphc never imports it
for this): ``erf`` and ``erfc`` are primitives (ops.py); the rest are compositions whose
branches keep the unused side's arguments valid, so that their gradients are exact zeros.
SciPy's functions that are not ufuncs (``logsumexp``, ``softmax``) convert their argument
with ``np.asarray`` and cannot be traced; ``graphc.numpy`` has both.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable

import numpy as np

from .trace import Tracer, apply, as_tracer, logaddexp


def _floats(*xs: Any):
    out = [as_tracer(x) for x in xs]
    return [x if x.dtype.kind == "f" else x.astype(np.float64) for x in out]


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


def _xlogy(x, y):
    """x * log(y), 0 where x is 0 (log's argument there a harmless 1)."""
    zero = x == 0
    return np.where(zero, 0, x * np.log(np.where(zero, 1, y)))


def _xlog1py(x, y):
    zero = x == 0
    return np.where(zero, 0, x * np.log1p(np.where(zero, 0, y)))


def _entr(x):
    """-x log x for x > 0, 0 at 0, -inf below."""
    pos = x > 0
    return np.where(pos, -x * np.log(np.where(pos, x, 1)), np.where(x == 0, 0, -np.inf))


def _rel_entr(x, y):
    """x log(x / y) for x, y > 0; 0 for x = 0 <= y; inf otherwise."""
    both = (x > 0) & (y > 0)
    return np.where(both, x * np.log(np.where(both, x, 1) / np.where(both, y, 1)),
                    np.where((x == 0) & (y >= 0), 0, np.inf))


def _kl_div(x, y):
    both = (x > 0) & (y > 0)
    return np.where(both, _rel_entr(x, y) - x + y, np.where((x == 0) & (y >= 0), y, np.inf))


def _huber(delta, r):
    """r^2 / 2 within delta of 0, delta (|r| - delta / 2) beyond; inf for delta < 0."""
    a = np.abs(r)
    return np.where(delta < 0, np.inf,
                    np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)))


def _pseudo_huber(delta, r):
    """delta^2 (sqrt(1 + (r / delta)^2) - 1); 0 for delta = 0, inf below."""
    ok = delta > 0
    d = np.where(ok, delta, 1)
    return np.where(ok, d * d * (np.sqrt(1 + (r / d) ** 2) - 1),
                    np.where(delta == 0, 0, np.inf))


SPECIAL: dict[str, Callable[..., Any]] = {
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


def scipy_ufunc(ufunc: np.ufunc) -> tuple[Callable[..., Any] | None, str]:
    """graphc's function for a scipy.special ufunc (None if it has none) and the ufunc's full
    name, for an error message."""
    name = getattr(ufunc, "__name__", "?")
    special = sys.modules.get("scipy.special")
    if special is not None and getattr(special, name, None) is ufunc:
        return SPECIAL.get(name), f"scipy.special.{name}"
    return None, f"numpy.{name}"
