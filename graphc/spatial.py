"""scipy.spatial.distance in traced code: ``cdist``, ``pdist``, ``squareform`` and the
distances between two vectors, written with traced NumPy.

A Euclidean distance is a square root that is 0 between equal points (the diagonal of
``cdist(X, X)``); there its gradient is taken as 0, a subgradient of the norm, rather than the
0 * inf = NaN that the chain rule through ``np.sqrt`` would give.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .errors import ShapeError, UnsupportedError
from .ir import user_loc
from .special import float_tracer


def _norm(d2: Any) -> Any:
    """sqrt(d2), with a zero gradient where d2 is 0."""
    pos = d2 > 0
    return np.where(pos, np.sqrt(np.where(pos, d2, 1.0)), 0.0)


def _sqeuclidean(u, v, w=None):
    d = (u - v) ** 2
    return (d if w is None else w * d).sum(axis=-1)


def _minkowski(u, v, p=2, w=None):
    d = np.abs(u - v) ** p
    return (d if w is None else w * d).sum(axis=-1) ** (1 / p)


def _cosine(u, v, w=None):
    if w is not None:
        raise UnsupportedError("scipy.spatial.distance cosine: w is not supported", user_loc())
    return 1 - (u * v).sum(axis=-1) / _norm((u * u).sum(axis=-1) * (v * v).sum(axis=-1))


def _chebyshev(u, v, w=None):
    return np.abs(u - v).max(axis=-1)


# metric -> f(u, v, **kwargs) along the last axis (u and v broadcast against each other)
METRICS: dict[str, Callable[..., Any]] = {
    "sqeuclidean": _sqeuclidean,
    "euclidean": lambda u, v, w=None: _norm(_sqeuclidean(u, v, w)),
    "cityblock": lambda u, v, w=None: (np.abs(u - v) * (1 if w is None else w)).sum(axis=-1),
    "minkowski": _minkowski,
    "cosine": _cosine,
    "correlation": lambda u, v, w=None: _cosine(u - u.mean(axis=-1, keepdims=True),
                                                v - v.mean(axis=-1, keepdims=True), w),
    "chebyshev": _chebyshev,
}


def _metric(metric: Any) -> Callable[..., Any]:
    if callable(metric) or metric not in METRICS:
        raise UnsupportedError(f"scipy.spatial.distance: metric {metric!r} is not supported "
                               f"by graphc (it has {', '.join(METRICS)})", user_loc())
    return METRICS[metric]


def cdist(XA, XB, metric="euclidean", *, out=None, **kwargs):
    XA, XB = float_tracer(XA), float_tracer(XB)
    if XA.ndim != 2 or XB.ndim != 2 or XA.shape[1] != XB.shape[1]:
        raise ShapeError(f"cdist: XA and XB must be 2-D with as many columns, got {XA.shape} "
                         f"and {XB.shape}", user_loc())
    if out is not None:
        raise UnsupportedError("cdist: out= is not supported", user_loc())
    return _metric(metric)(XA[:, None, :], XB[None, :, :], **kwargs)


def pdist(X, metric="euclidean", *, out=None, **kwargs):
    """The condensed distances of the pairs i < j, in SciPy's order."""
    X = float_tracer(X)
    if X.ndim != 2:
        raise ShapeError(f"pdist: X must be 2-D, got shape {X.shape}", user_loc())
    i, j = np.triu_indices(X.shape[0], 1)
    return cdist(X, X, metric, out=out, **kwargs)[i, j]


def squareform(X, force="no", checks=True):
    X = float_tracer(X)
    if force == "tomatrix" or (X.ndim == 1 and force != "tovector"):
        n = int(round((1 + np.sqrt(1 + 8 * X.shape[0])) / 2))
        if X.ndim != 1 or n * (n - 1) // 2 != X.shape[0]:
            raise ShapeError(f"squareform: {X.shape} is no condensed distance vector",
                             user_loc())
        i, j = np.triu_indices(n, 1)
        pair = np.zeros((n, n), np.int64)
        pair[i, j] = pair[j, i] = np.arange(len(i)) + 1  # 0: the diagonal
        return np.concatenate([np.zeros(1, X.dtype), X])[pair]
    if X.ndim == 2:
        i, j = np.triu_indices(X.shape[0], 1)
        return X[i, j]
    raise ShapeError(f"squareform: a 1-D or 2-D array, got shape {X.shape}", user_loc())


def _pair(metric: str) -> Callable[..., Any]:
    def fn(u, v, *args, **kwargs):
        return METRICS[metric](float_tracer(u), float_tracer(v), *args, **kwargs)
    fn.__name__ = metric
    return fn


SCIPY_DISTANCE = {"cdist": cdist, "pdist": pdist, "squareform": squareform,
                  **{m: _pair(m) for m in METRICS}}
