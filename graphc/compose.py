"""NumPy functions written with the traced ones: calculus on samples (``gradient``,
``trapezoid``), ``interp``, polynomials (``vander``, ``polyval``, ``polyfit``),
``sliding_window_view``, ``partition``, ``select``, ``rot90``, ``linspace``, ``piecewise``,
``choose``, ``isclose``, ``put``, ``as_strided``, ``np.vectorize``, and the ufuncs
``deg2rad``, ``rad2deg``, ``cbrt``, ``fmod``, ``fabs``, ``signbit``, ``copysign``; each adds
itself to trace.FUNCTIONS (this module is imported by trace.py). Functions whose result's
length is data are refused there with the reason (trace.REFUSED).
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, Callable

import numpy as np

from .errors import OutOfBoundsError, ShapeError, UnsupportedError
from .ir import next_id, toposort, user_loc
from .ops import OPS
from .special import _bessel_i, _ModuleInTrace, float_tracer
from .trace import (_SWAPS, FUNCTIONS, NUMPY_IN_TRACE, REFUSED, Tracer, _axes_in_order, apply,
                    argsort, as_tracer, concatenate, diff, in_trace, make_node, moveaxis,
                    searchsorted, sort, stack, take)


def _along(x: Tracer, axis: int, index: Any) -> Tracer:
    """x[..., index, ...] with ``index`` on ``axis``."""
    return x[(slice(None),) * axis + (index,)]


def _on_axis(c: Any, axis: int, ndim: int) -> Any:
    """A 1-D ``c`` shaped to broadcast along ``axis`` of an ndim array."""
    return c if np.ndim(c) == 0 else np.reshape(c, (-1,) + (1,) * (ndim - axis - 1))


def _gradient_axis(f: Tracer, axis: int, h: Any, edge_order: int) -> Tracer:
    """np.gradient along one axis: central differences inside, one-sided ones (first or
    second order) at the two ends; spacing ``h`` a number, or the coordinates (1-D)."""
    n = f.shape[axis]
    if n < edge_order + 1:
        raise ShapeError(f"np.gradient: axis {axis} has {n} elements; at least "
                         f"{edge_order + 1} are needed", user_loc())
    def at(i: Any) -> Tracer:
        return _along(f, axis, i)

    inner = None
    if np.ndim(h) == 0:
        d = [h] * 4  # the first two steps and the last two
        if n > 2:
            inner = (at(slice(2, None)) - at(slice(None, -2))) / (2 * h)
    else:
        if np.ndim(h) != 1 or np.shape(h)[0] != n:
            raise ShapeError(f"np.gradient: coordinates of shape {np.shape(h)} along an axis "
                             f"of {n}", user_loc())
        dx = diff(float_tracer(h))
        d = [dx[0], dx[min(1, n - 2)], dx[max(-2, 1 - n)], dx[-1]]
        if n > 2:
            a, b = dx[:-1], dx[1:]  # the steps before and after each inner point
            inner = (_on_axis(-b / (a * (a + b)), axis, f.ndim) * at(slice(None, -2))
                     + _on_axis((b - a) / (a * b), axis, f.ndim) * at(slice(1, -1))
                     + _on_axis(a / (b * (a + b)), axis, f.ndim) * at(slice(2, None)))
    first, last = at(slice(0, 1)), at(slice(-1, None))
    if edge_order == 1:
        lo = (at(slice(1, 2)) - first) / d[0]
        hi = (last - at(slice(-2, -1))) / d[3]
    else:
        p, q = d[0], d[1]
        lo = (-(2 * p + q) / (p * (p + q)) * first + (p + q) / (p * q) * at(slice(1, 2))
              - p / (q * (p + q)) * at(slice(2, 3)))
        p, q = d[2], d[3]
        hi = (q / (p * (p + q)) * at(slice(-3, -2)) - (p + q) / (p * q) * at(slice(-2, -1))
              + (2 * q + p) / (q * (p + q)) * last)
    return concatenate([lo, hi] if inner is None else [lo, inner, hi], axis=axis)


def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """np.gradient: one array per axis (a tuple for several, as NumPy 2)."""
    f = float_tracer(f)
    axes = (tuple(range(f.ndim)) if axis is None else
            _axes_in_order((axis,) if isinstance(axis, numbers.Integral) else axis, f.ndim))
    if edge_order not in (1, 2):
        raise UnsupportedError("np.gradient: edge_order must be 1 or 2", user_loc())
    if not varargs:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = [v if np.ndim(v) == 0 else as_tracer(v) for v in varargs]
    else:
        raise ShapeError(f"np.gradient: {len(varargs)} spacings for {len(axes)} axes",
                         user_loc())
    out = tuple(_gradient_axis(f, a, h, edge_order) for a, h in zip(axes, spacing))
    return out[0] if len(out) == 1 else out


def trapezoid(y: Any, x: Any = None, dx: Any = 1.0, axis: int = -1) -> Tracer:
    """The trapezoidal rule along ``axis``: steps ``dx``, or those of the sample points x
    (1-D along the axis, or y's shape)."""
    y = float_tracer(y)
    axis = _axes_in_order((axis,), y.ndim)[0]
    if x is None:
        d = dx
    else:
        x = as_tracer(x)
        d = diff(x) if x.ndim == 1 else diff(x, axis=axis)
        if x.ndim == 1:
            d = _on_axis(d, axis, y.ndim)
    mid = (_along(y, axis, slice(1, None)) + _along(y, axis, slice(None, -1))) / 2
    return (d * mid).sum(axis=axis)


def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None,
           period: Any = None) -> Tracer:
    """np.interp: the straight line through the two points of (xp, fp) around each x (xp
    increasing); fp[0] (``left``) below xp[0] and fp[-1] (``right``) above xp[-1]. In
    float64, as NumPy. The gradient reaches x (the slope), fp and xp."""
    if period is not None:
        raise UnsupportedError("np.interp: period is not supported", user_loc())
    x, xp, fp = (as_tracer(v).astype(np.float64) for v in (x, xp, fp))
    if xp.ndim != 1 or fp.ndim != 1 or xp.shape != fp.shape or not xp.size:
        raise ShapeError(f"np.interp: xp and fp must be 1-D of one nonzero length, got shapes "
                         f"{xp.shape} and {fp.shape}", user_loc())
    n = xp.shape[0]
    lo, hi = fp[0] if left is None else left, fp[-1] if right is None else right
    if n == 1:
        y = fp[0] + 0 * x
    else:
        j = np.clip(searchsorted(xp, x, side="right"), 1, n - 1)
        x0, x1, y0, y1 = take(xp, j - 1), take(xp, j), take(fp, j - 1), take(fp, j)
        y = np.where(x == xp[-1], fp[-1], y0 + (y1 - y0) / (x1 - x0) * (x - x0))
    return np.where(x < xp[0], lo, np.where(x > xp[-1], hi, y))


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Tracer:
    """Columns x^0 .. x^(N-1) (reversed unless ``increasing``), as products: x^0 is 1 with
    a zero gradient at x = 0."""
    x = as_tracer(x)
    if x.ndim != 1:
        raise ShapeError("np.vander: x must be a one-dimensional array", user_loc())
    n = x.shape[0] if N is None else N
    cols = [x ** 0]
    for _ in range(1, n):
        cols.append(cols[-1] * x)
    return stack(cols[:n] if increasing else cols[:n][::-1], axis=1)


def polyval(p: Any, x: Any) -> Tracer:
    """sum_k p[k] x^(n-1-k) by Horner's rule (p 1-D, its length fixed)."""
    if isinstance(p, np.poly1d):
        p = p.coeffs
    p = as_tracer(p)
    if p.ndim != 1:
        raise ShapeError("np.polyval: p must be one-dimensional", user_loc())
    y = as_tracer(x) * 0
    for k in range(p.shape[0]):
        y = y * x + p[k]
    return y


def polyfit(x: Any, y: Any, deg: int, rcond: Any = None, full: bool = False, w: Any = None,
            cov: Any = False) -> Any:
    """Least squares on the Vandermonde matrix, its columns scaled to unit norm first, as
    NumPy does (through graphc's lstsq: the SVD); ``full`` adds (residuals, rank, s,
    rcond)."""
    from .linalg import lstsq

    if cov:
        raise UnsupportedError("np.polyfit: cov is not supported", user_loc())
    x, y = float_tracer(x), float_tracer(y)
    if rcond is None:
        rcond = x.shape[0] * np.finfo(x.dtype).eps
    lhs, rhs = vander(x, deg + 1), y
    if w is not None:
        w = float_tracer(w)
        lhs, rhs = lhs * w[:, None], rhs * (w[:, None] if rhs.ndim == 2 else w)
    scale = np.sqrt((lhs * lhs).sum(axis=0))
    c, resids, rank, s = lstsq(lhs / scale, rhs, rcond)
    c = (c.T / scale).T
    return (c, resids, rank, s, rcond) if full else c


def sliding_window_view(x: Any, window_shape: Any, axis: Any = None, *, subok: bool = False,
                        writeable: bool = False) -> Tracer:
    """Every window of ``window_shape`` along ``axis`` (all axes if None), the window's axes
    last: a gather of constant indices (a copy, where NumPy's is a view)."""
    if writeable:
        raise UnsupportedError("sliding_window_view: writeable=True is not supported",
                               user_loc())
    x = as_tracer(x)
    shape = (window_shape,) if isinstance(window_shape, numbers.Integral) else \
        tuple(window_shape)
    axes = (tuple(range(x.ndim)) if axis is None else
            _axes_in_order((axis,) if isinstance(axis, numbers.Integral) else axis, x.ndim))
    if len(axes) != len(shape):
        raise ShapeError(f"sliding_window_view: {len(shape)} window sizes for {len(axes)} axes",
                         user_loc())
    out = x
    for a, w in zip(axes, shape):
        n = x.shape[a]
        if not 0 <= w <= n:
            raise ShapeError(f"sliding_window_view: window {w} for an axis of {n}",
                             user_loc())
        idx = np.arange(n - w + 1)[:, None] + np.arange(w)
        out = moveaxis(take(out, idx, axis=a), a + 1, -1)
    return out


def partition(a: Any, kth: Any, axis: int = -1, kind: str = "introselect",
              order: Any = None) -> Tracer:
    """A full sort: the kth element in its sorted place, smaller ones before and larger ones
    after, as NumPy promises (the order within each side, which NumPy leaves open, is
    sorted)."""
    return sort(a, axis=axis)


def argpartition(a: Any, kth: Any, axis: int = -1, kind: str = "introselect",
                 order: Any = None) -> Tracer:
    return argsort(a, axis=axis)


def select(condlist: Any, choicelist: Any, default: Any = 0) -> Tracer:
    """np.select: the first choice whose condition holds, else ``default`` (nested wheres,
    the last condition innermost)."""
    if len(condlist) != len(choicelist):
        raise ShapeError("np.select: list of cases must be same length as list of conditions",
                         user_loc())
    out = as_tracer(default)
    dtype = np.result_type(*(as_tracer(c).dtype for c in choicelist), out.dtype)
    for cond, choice in zip(condlist[::-1], choicelist[::-1]):
        out = np.where(cond, choice, out)
    return out.astype(dtype)


def piecewise(x: Any, condlist: Any, funclist: Any, *args: Any, **kw: Any) -> Tracer:
    """np.piecewise: each function (or constant) where its condition holds, later ones over
    earlier ones, an extra last function where none holds, 0 elsewhere; in x's dtype. Each
    function sees all of x (NumPy gives it x[cond]), so it must work elementwise; the
    values it makes where its condition fails are not used, and their gradient is 0."""
    x = as_tracer(x)
    if isinstance(condlist, (Tracer, np.ndarray)) and np.ndim(condlist) == x.ndim or \
            isinstance(condlist, (bool, np.bool_)):
        condlist = [condlist]
    condlist = [as_tracer(c) for c in condlist]
    if len(funclist) == len(condlist) + 1:
        rest = ~condlist[0] if len(condlist) == 1 else ~np.any(np.stack(
            [np.broadcast_to(c, x.shape) for c in condlist]), axis=0)
        condlist.append(rest)
    elif len(funclist) != len(condlist):
        raise ShapeError(f"np.piecewise: {len(condlist)} conditions for {len(funclist)} "
                         "functions", user_loc())
    out = x * 0
    for cond, fn in zip(condlist, funclist):
        out = np.where(cond, fn(x, *args, **kw) if callable(fn) else fn, out)
    return out.astype(x.dtype)


def choose(a: Any, choices: Any, out: Any = None, mode: str = "raise") -> Tracer:
    """np.choose: choices[a[i]][i], the choices broadcast with a (a gather along a new first
    axis); ``mode`` 'wrap' and 'clip' move a's values into range first."""
    if out is not None:
        raise UnsupportedError("np.choose: argument out is not supported", user_loc())
    a, parts = as_tracer(a), [as_tracer(c) for c in choices]
    shape = np.broadcast_shapes(a.shape, *(c.shape for c in parts))
    n = len(parts)
    a = a % n if mode == "wrap" else np.clip(a, 0, n - 1) if mode == "clip" else a
    stacked = stack([np.broadcast_to(c, shape) for c in parts])
    return np.take_along_axis(stacked, np.broadcast_to(a, shape)[None], axis=0)[0]


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tracer:
    """|a - b| <= atol + rtol |b| for finite values, equality for infinite ones, NaN equal to
    NaN with ``equal_nan``: data, with no gradient."""
    a, b = as_tracer(a), as_tracer(b)
    finite = np.isfinite(a) & np.isfinite(b)
    out = np.where(finite, np.abs(a - b) <= atol + rtol * np.abs(b), a == b)
    return out | np.isnan(a) & np.isnan(b) if equal_nan else out


def put(a: Any, ind: Any, v: Any, mode: str = "raise") -> None:
    """np.put, in place: a.flat[ind] = v at constant indices (v repeated as NumPy does)."""
    if not isinstance(a, Tracer):
        raise UnsupportedError("np.put with traced values needs a traced array (np.zeros "
                               "inside the function makes one)", user_loc())
    if isinstance(ind, Tracer) and ind.value is None:
        raise UnsupportedError("np.put needs constant indices: index an array of the right "
                               "shape instead, x[idx] = v", user_loc())
    ind = np.asarray(ind.value if isinstance(ind, Tracer) else ind).ravel()
    if mode == "clip":
        ind = np.clip(ind, 0, a.size - 1)
    elif mode == "raise" and ((ind < -a.size) | (ind >= a.size)).any():
        raise OutOfBoundsError(f"np.put: index {ind[(ind < -a.size) | (ind >= a.size)][0]} "
                               f"is out of bounds for size {a.size}", user_loc())
    v = as_tracer(v).reshape(-1)
    if v.shape[0] not in (1, ind.size):
        v = v[np.arange(ind.size) % v.shape[0]]
    a[np.unravel_index(ind % a.size, a.shape)] = v


def apply_along_axis(func1d: Any, axis: int, arr: Any, *args: Any, **kwargs: Any) -> Tracer:
    """func1d on every 1-D slice along ``axis``, one call per slice (unrolled while tracing),
    its results stacked where the axis was."""
    arr = as_tracer(arr)
    axis = _axes_in_order((axis,), arr.ndim)[0]
    moved = moveaxis(arr, axis, -1)
    outer = moved.shape[:-1]
    if not outer or not int(np.prod(outer)):
        raise ShapeError("np.apply_along_axis: needs at least one slice", user_loc())
    parts = [as_tracer(func1d(moved[i], *args, **kwargs)) for i in np.ndindex(outer)]
    out = np.reshape(stack(parts), outer + parts[0].shape)
    for k in range(parts[0].ndim):  # the result's axes go where ``axis`` was
        out = moveaxis(out, len(outer) + k, axis + k)
    return out


def _fmod(x: Any, y: Any) -> Tracer:
    """C's fmod, with the sign of x: of floats libm's; of integers the remainder (sign of y)
    moved by y where they differ."""
    x, y = as_tracer(x), as_tracer(y)
    if np.result_type(x.dtype, y.dtype).kind == "f":
        return apply("fmod", x, y)
    r = np.remainder(x, y)
    return np.where((r != 0) & ((r < 0) != (x < 0)), r - y, r)


def rot90(m: Any, k: int = 1, axes: Any = (0, 1)) -> Tracer:
    """np.rot90: a flip and a swap of the two axes, as NumPy composes them."""
    m = as_tracer(m)
    a, b = (int(ax) % m.ndim for ax in axes)
    if len(axes) != 2 or a == b:
        raise ShapeError(f"np.rot90: axes must be two different axes, got {axes}", user_loc())
    order = list(range(m.ndim))
    order[a], order[b] = b, a
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return np.flip(np.flip(m, a), b)
    return np.transpose(np.flip(m, b), order) if k == 1 else np.flip(np.transpose(m, order), b)


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: int = 0) -> Any:
    """np.linspace with traced ends: start + i * step, and stop itself last (endpoint)."""
    num = int(num)
    if num < 0:
        raise ShapeError(f"np.linspace: number of samples, {num}, must be non-negative",
                         user_loc())
    start, stop = float_tracer(start), float_tracer(stop)
    div = num - 1 if endpoint else num
    shape = np.broadcast_shapes(start.shape, stop.shape)
    i = np.arange(num, dtype=float).reshape((-1,) + (1,) * len(shape))
    delta = stop - start
    step = delta / div if div > 0 else np.nan * delta
    out = start + i * (step if div > 0 else delta)  # (no step: the one sample is start)
    if endpoint and num > 1:
        out = concatenate([out[:-1], np.broadcast_to(stop, (1,) + shape)], axis=0)
    out = moveaxis(out, 0, axis) if axis != 0 else out
    if dtype is not None:
        out = out.astype(dtype)
    return (out, step) if retstep else out


def as_strided(x: Any, shape: Any = None, strides: Any = None, subok: bool = False,
               writeable: bool = True) -> Tracer:
    """np.lib.stride_tricks.as_strided of a traced array, which has C strides (``x.strides``
    says so): a gather of the places those strides reach, checked to stay inside x. The
    result is a copy: writing into it does not reach x."""
    x = as_tracer(x)
    item = x.dtype.itemsize
    shape = x.shape if shape is None else tuple(int(n) for n in shape)
    strides = x.strides if strides is None else tuple(int(st) for st in strides)
    if len(strides) != len(shape) or any(st % item for st in strides):
        raise ShapeError(f"as_strided: strides {strides} for shape {shape} of a {x.dtype} "
                         f"array (multiples of its itemsize, {item}, one per axis)", user_loc())
    places = np.zeros(shape, np.int64)
    for axis, (n, st) in enumerate(zip(shape, strides)):
        places += _on_axis(np.arange(n) * (st // item), axis, len(shape))
    if places.size and (places.min() < 0 or places.max() >= x.size):
        raise OutOfBoundsError(f"as_strided: shape {shape} and strides {strides} reach "
                               f"outside the {x.size} elements of the array (NumPy would read "
                               "other memory there)", user_loc())
    return x.reshape(-1)[places]


class vectorize:
    """np.vectorize as traced code sees it. NumPy calls the function once per element, with
    NumPy numbers, which a traced value cannot become. graphc traces it once, on 0-d values,
    and applies the operations it made to the whole (broadcast) arrays: the same values, as
    long as each of them is elementwise and 0-d (no reduction, product, index or stacking),
    which is checked. Python branches on the values fail while tracing, naming np.where."""

    def __init__(self, pyfunc: Any = None, otypes: Any = None, doc: Any = None,
                 excluded: Any = None, cache: bool = False, signature: Any = None):
        if pyfunc is None:
            raise UnsupportedError("np.vectorize as a decorator with arguments is not supported "
                                   "in traced code; pass the function", user_loc())
        self.pyfunc, self.otypes = pyfunc, otypes
        self.excluded, self.signature = excluded, signature
        functools.update_wrapper(self, pyfunc)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not any(isinstance(a, Tracer) for a in (*args, *kwargs.values())):
            return np.vectorize(self.pyfunc, otypes=self.otypes, excluded=self.excluded,
                                signature=self.signature)(*args, **kwargs)
        name = getattr(self.pyfunc, "__name__", "f")
        if self.signature is not None or self.excluded or kwargs:
            raise UnsupportedError(f"np.vectorize({name}) of traced values: signature=, "
                                   "excluded= and keyword arguments are not supported",
                                   user_loc())
        arrays = [as_tracer(a) for a in args]
        start = next_id()
        probes = [make_node("input", [], index=-1 - k, shape=(), dtype=a.dtype, weak=False)
                  for k, a in enumerate(arrays)]
        out = in_trace(self.pyfunc)(*map(Tracer, probes))
        outs = list(out) if isinstance(out, tuple) else [out]
        made = {p.id: a.node for p, a in zip(probes, arrays)}  # probe -> array, in turn
        for node in toposort([as_tracer(o).node for o in outs]):
            if node.id in made or node.id < start:  # an outer value it reads: as it is
                continue
            if node.shape != () or OPS[node.op].kind not in ("elementwise", "source"):
                raise UnsupportedError(
                    f"np.vectorize({name}) of traced values: on one element the function "
                    f"makes a {node.op} of shape {node.shape}, which graphc cannot apply to "
                    "whole arrays; write it with array operations", user_loc())
            ins = [made.get(i.id, i) for i in node.inputs]
            made[node.id] = ins[0] if node.op == "broadcast_to" else \
                node if node.op == "const" else make_node(node.op, ins, **node.params)
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        types = self.otypes or [None] * len(outs)
        res = []
        for o, t in zip(outs, types):
            r = Tracer(made.get(as_tracer(o).node.id, as_tracer(o).node))
            res.append(np.broadcast_to(r if t is None else r.astype(t), shape))
        return tuple(res) if isinstance(out, tuple) else res[0]


def frompyfunc(func: Callable, nin: int, nout: int, **kwargs: Any) -> Callable:
    """np.frompyfunc as traced code sees it: on traced values, vectorize's way (float
    results, where NumPy's are object arrays that a program turns into floats anyway)."""
    real = np.frompyfunc(func, nin, nout, **kwargs)
    traced = vectorize(func)

    def call(*args: Any) -> Any:
        return traced(*args) if any(isinstance(a, Tracer) for a in args) else real(*args)
    return functools.update_wrapper(call, func)


def signbit(x: Any) -> Tracer:
    """Whether the sign bit is set: x < 0, or x is -0.0 (1 / x is -inf). A NaN counts as
    positive whatever its sign bit (comparisons cannot read it)."""
    x = as_tracer(x)
    if x.dtype.kind != "f":
        return x < 0
    return (x < 0) | ((x == 0) & (1 / np.where(x == 0, x, 1) < 0))


def _copysign(x: Any, y: Any) -> Tracer:
    a = np.abs(float_tracer(x))
    return np.where(signbit(y), -a, a)


# Functions whose result's length depends on the values: refused on traced arrays, saying why
_MASK = "Use a boolean mask x[cond] into a reduction, or np.where(cond, x, y)"
REFUSED.update({f: f"np.{f.__name__} of a traced array is not supported: the length of its "
                   f"result depends on the data. {_MASK}"
                for f in (np.nonzero, np.argwhere, np.flatnonzero, np.extract, np.compress)})


def _compress(condition: Any, a: Any, axis: Any = None, out: Any = None) -> Tracer:
    """np.compress with a constant condition (a traced one would make the length data): the
    kept positions taken along ``axis`` (of the flattened array for None)."""
    if isinstance(condition, Tracer) or out is not None:
        raise UnsupportedError(REFUSED[np.compress] if out is None else
                               "np.compress: argument out not supported", user_loc())
    a = as_tracer(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    keep = np.asarray(condition, bool).reshape(-1)
    n = a.shape[axis]
    if keep[n:].any():
        raise ShapeError(f"np.compress: the condition keeps position {n + np.argmax(keep[n:])}"
                         f" of an axis of length {n}", user_loc())
    return take(a, np.flatnonzero(keep[:n]), axis=axis)


def _extract(condition: Any, arr: Any) -> Tracer:
    if isinstance(condition, Tracer):
        raise UnsupportedError(REFUSED[np.extract], user_loc())
    return _compress(np.ravel(condition), as_tracer(arr).reshape(-1))
REFUSED[np.unique] = ("np.unique of a traced array is not supported: the length of its result "
                      "depends on the data. Compare with a constant array of the possible "
                      "values instead: (x[:, None] == values).any(axis=0)")


def unwrap(p: Any, discont: Any = None, axis: int = -1, *, period: Any = 2 * math.pi) -> Tracer:
    """np.unwrap: each step between neighbours along ``axis`` larger than ``discont`` in size
    is moved by a multiple of ``period`` into [-period / 2, period / 2] (+period / 2 where
    the step is positive), and the moves add up along the axis. The moves are piecewise
    constant: the gradient passes through unchanged."""
    p = float_tracer(p)
    axis, = _axes_in_order((axis,), p.ndim)
    half = period / 2
    step = np.diff(p, axis=axis)
    wrapped = np.remainder(step + half, period) - half
    wrapped = np.where((wrapped == -half) & (step > 0), half, wrapped)
    move = np.where(np.abs(step) < (half if discont is None else discont), 0, wrapped - step)
    return np.concatenate([_along(p, axis, slice(0, 1)), _along(p, axis, slice(1, None))
                           + np.cumsum(move, axis=axis)], axis=axis)


FUNCTIONS.update({
    np.gradient: gradient, np.trapezoid: trapezoid, np.unwrap: unwrap, np.interp: interp,
    np.vander: vander, np.polyval: polyval, np.polyfit: polyfit,
    np.lib.stride_tricks.sliding_window_view: sliding_window_view,
    np.partition: partition, np.argpartition: argpartition,
    np.deg2rad: lambda x: float_tracer(x) * (math.pi / 180),
    np.radians: lambda x: float_tracer(x) * (math.pi / 180),
    np.rad2deg: lambda x: float_tracer(x) * (180 / math.pi),
    np.degrees: lambda x: float_tracer(x) * (180 / math.pi),
    np.cbrt: lambda x: np.sign(float_tracer(x)) * np.abs(float_tracer(x)) ** (1 / 3),
    np.rot90: rot90, np.linspace: linspace,
    np.float_power: lambda x, y: np.power(as_tracer(x).astype(np.float64), y),
    np.fmod: _fmod, np.compress: _compress, np.extract: _extract, np.signbit: signbit,
    np.copysign: _copysign,
    np.fabs: lambda x: np.abs(float_tracer(x)),
    np.i0: lambda x: _bessel_i(x, 0),
    np.select: select, np.piecewise: piecewise, np.choose: choose, np.isclose: isclose,
    np.allclose: lambda a, b, rtol=1e-05, atol=1e-08, equal_nan=False: np.all(
        isclose(a, b, rtol, atol, equal_nan)),
    np.broadcast_arrays: lambda *args, subok=False: tuple(
        np.broadcast_to(a, np.broadcast_shapes(*(np.shape(b) for b in args))) for a in args),
    np.put: put, np.apply_along_axis: apply_along_axis,
})

# as_strided is no NumPy function that dispatches: traced code gets graphc's by name, and
# through np.lib.stride_tricks
_SWAPS[id(np.lib.stride_tricks.as_strided)] = as_strided
NUMPY_IN_TRACE.vectorize, NUMPY_IN_TRACE.frompyfunc = vectorize, frompyfunc
NUMPY_IN_TRACE.lib = _ModuleInTrace(np.lib, {"stride_tricks": _ModuleInTrace(
    np.lib.stride_tricks, {"as_strided": as_strided})})
