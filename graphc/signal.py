"""``scipy.signal``'s direct convolutions and ``scipy.ndimage``'s linear filters on traced
arrays. scipy.signal: ``convolve``, ``correlate`` (N-D; modes full, valid, same;
``fftconvolve`` and ``oaconvolve`` give the same numbers directly) and ``convolve2d``,
``correlate2d`` (boundaries fill, wrap, symm). The input is padded, cut into windows of the
kernel's shape (a gather of constant indices, compose.sliding_window_view) and contracted
with the reversed kernel (tensordot), so the gradient reaches the input and the kernel
alike. ``lfilter`` runs SciPy's recursion as a graphc.scan. scipy.ndimage: ``correlate``,
``convolve`` (with ``origin``), ``gaussian_filter``, ``uniform_filter`` and ``sobel``, the
input extended past its edges by np.pad in the mode ndimage names. special.in_trace swaps
them in for SciPy's in the code graphc traces.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .compose import sliding_window_view
from .errors import ArgumentError, ShapeError, UnsupportedError
from .ir import user_loc
from .special import float_tracer
from .trace import Tracer, as_tracer, flip

_MODES = ("full", "valid", "same")
_BOUNDARIES = {"fill": "constant", "wrap": "wrap", "symm": "symmetric"}


def _operands(what: str, in1: Any, in2: Any, mode: str) -> tuple[Tracer, Tracer]:
    a, k = as_tracer(in1), as_tracer(in2)
    if mode not in _MODES:
        raise UnsupportedError(f"scipy.signal.{what}: mode must be one of {_MODES}, got "
                               f"{mode!r}", user_loc())
    if a.ndim != k.ndim:
        raise ShapeError(f"scipy.signal.{what}: in1 and in2 should have the same "
                         f"dimensionality, got shapes {a.shape} and {k.shape}", user_loc())
    dtype = np.result_type(a.dtype, k.dtype, np.float64 if "f" not in
                           (a.dtype.kind, k.dtype.kind) else a.dtype)
    return a.astype(dtype), k.astype(dtype)


def _convolve(a: Tracer, k: Tracer, mode: str, pad: str = "constant", fill: Any = 0,
              late: bool = False) -> Tracer:
    """The convolution of a with k in ``mode``, a extended by ``pad`` (np.pad's mode); 'same'
    is the middle of 'full', its first row at (m - 1) // 2 for a kernel of m, or m // 2 when
    ``late`` (SciPy's correlate2d)."""
    if mode == "valid" and any(n < m for n, m in zip(a.shape, k.shape)):
        if all(n <= m for n, m in zip(a.shape, k.shape)):
            a, k = k, a  # SciPy's convolve swaps them then
        else:
            raise ShapeError("scipy.signal: for 'valid' mode, one must be at least as large "
                             f"as the other in every dimension, got shapes {a.shape} and "
                             f"{k.shape}", user_loc())
    if not a.size or not k.size:
        raise ShapeError("scipy.signal: the inputs must not be empty", user_loc())
    widths = [(m - 1, m - 1) for m in k.shape]
    padded = (np.pad(a, widths, mode="constant", constant_values=fill) if pad == "constant"
              else np.pad(a, widths, mode=pad))
    windows = sliding_window_view(padded, k.shape)
    full = np.tensordot(windows, flip(k, tuple(range(k.ndim))), axes=k.ndim)
    if mode == "full":
        return full
    if mode == "valid":
        return full[tuple(slice(m - 1, n) for n, m in zip(a.shape, k.shape))]
    return full[tuple(slice((f - n + late) // 2, (f - n + late) // 2 + n)
                      for f, n in zip(full.shape, a.shape))]


def convolve(in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Tracer:
    return _convolve(*_operands("convolve", in1, in2, mode), mode)


def correlate(in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Tracer:
    a, k = _operands("correlate", in1, in2, mode)
    return _convolve(a, flip(k, tuple(range(k.ndim))), mode)


def _two_d(what: str, in1: Any, in2: Any, mode: str, boundary: str, fillvalue: Any,
           reverse: bool) -> Tracer:
    a, k = _operands(what, in1, in2, mode)
    if a.ndim != 2:
        raise ShapeError(f"scipy.signal.{what}: inputs must both be 2-D arrays", user_loc())
    if boundary not in _BOUNDARIES:
        raise UnsupportedError(f"scipy.signal.{what}: boundary must be one of "
                               f"{tuple(_BOUNDARIES)}, got {boundary!r}", user_loc())
    if reverse:
        k = flip(k, (0, 1))
    return _convolve(a, k, mode, _BOUNDARIES[boundary], fillvalue, late=reverse)


def convolve2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
               fillvalue: Any = 0) -> Tracer:
    return _two_d("convolve2d", in1, in2, mode, boundary, fillvalue, False)


def correlate2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
                fillvalue: Any = 0) -> Tracer:
    return _two_d("correlate2d", in1, in2, mode, boundary, fillvalue, True)


def _by_fft(name: str) -> Any:
    """SciPy's FFT convolutions, fftconvolve and oaconvolve: the same numbers, directly."""
    def fn(in1: Any, in2: Any, mode: str = "full", axes: Any = None) -> Tracer:
        if axes is not None:
            raise UnsupportedError(f"scipy.signal.{name}: axes is not supported", user_loc())
        return convolve(in1, in2, mode)
    return fn


def lfilter(b: Any, a: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
    """scipy.signal.lfilter: y[n] = (sum_k b[k] x[n-k] - sum_(k>0) a[k] y[n-k]) / a[0] along
    ``axis``; with ``zi``, also the final state. A filter without feedback (one ``a``) and no
    ``zi`` is a sum of shifted copies of x. Otherwise the loop is SciPy's, the transposed
    direct form II: y[n] = b[0] x[n] + z[0], then each state z[i] = b[i+1] x[n] + z[i+1] -
    a[i+1] y[n], run as a graphc.scan over the axis, so that the gradient reaches b, a, x and
    zi. The coefficients may be traced; a[0] is divided out first."""
    if not any(isinstance(v, Tracer) for v in (b, a, x, zi)):
        import scipy.signal

        return scipy.signal.lfilter(b, a, x, axis, zi)
    from .loops import scan

    x, b, a = float_tracer(x), float_tracer(b), float_tracer(a)
    if b.ndim != 1 or a.ndim != 1 or not b.shape[0] or not a.shape[0]:
        raise ShapeError(f"scipy.signal.lfilter: b and a must be non-empty 1-D arrays, got "
                         f"shapes {b.shape} and {a.shape}", user_loc())
    if x.ndim == 0:
        raise ShapeError("scipy.signal.lfilter: x must have at least one dimension", user_loc())
    if a.node.constant and a.value[0] == 0:
        raise ArgumentError("scipy.signal.lfilter: a[0] must not be 0", user_loc())
    dtype = np.result_type(x.dtype, b.dtype, a.dtype)
    x, b, a = x.astype(dtype), b.astype(dtype) / a[0], a.astype(dtype) / a[0]
    axis = axis % x.ndim
    order = max(a.shape[0], b.shape[0]) - 1
    xs = np.moveaxis(x, axis, 0)  # time first
    if zi is None and a.shape[0] == 1:
        n = xs.shape[0]
        ys = b[0] * xs
        for k in range(1, min(b.shape[0], n)):
            ys = ys + b[k] * np.concatenate([np.zeros_like(xs[:k]), xs[:n - k]])
        return np.moveaxis(ys, 0, axis)
    if order == 0:
        ys = b[0] * xs
        z = np.zeros(xs.shape[1:] + (0,), dtype)
    else:
        b = np.concatenate([b, np.zeros(order + 1 - b.shape[0], dtype)])
        a = np.concatenate([a, np.zeros(order + 1 - a.shape[0], dtype)])
        if zi is None:
            z0 = np.zeros(xs.shape[1:] + (order,), dtype)
        else:
            z0 = float_tracer(zi).astype(dtype)
            want = x.shape[:axis] + (order,) + x.shape[axis + 1:]
            if z0.shape != want:
                raise ShapeError(f"scipy.signal.lfilter: zi must have shape {want} (x's with "
                                 f"the filter's order, {order}, along axis), got {z0.shape}",
                                 user_loc())
            z0 = np.moveaxis(z0, axis, -1)

        def step(z, xt):
            y = b[0] * xt + z[..., 0]
            shifted = np.concatenate([z[..., 1:], np.zeros_like(z[..., :1])], axis=-1)
            return shifted + b[1:] * xt[..., None] - a[1:] * y[..., None], y

        z, ys = scan(step, z0, xs)
    y = np.moveaxis(ys, 0, axis)
    return y if zi is None else (y, np.moveaxis(z, -1, axis))


# --------------------------------------------------------------------- scipy.ndimage's filters
# ndimage's extension modes as np.pad's
_EXTEND = {"reflect": "symmetric", "grid-mirror": "symmetric", "mirror": "reflect",
           "nearest": "edge", "wrap": "wrap", "grid-wrap": "wrap", "constant": "constant",
           "grid-constant": "constant"}


def _extended(what: str, x: Tracer, widths: list, mode: str, cval: Any) -> Tracer:
    if mode not in _EXTEND:
        raise UnsupportedError(f"scipy.ndimage.{what}: mode {mode!r} is not supported (it has "
                               f"{', '.join(_EXTEND)})", user_loc())
    if _EXTEND[mode] == "constant":
        return np.pad(x, widths, mode="constant", constant_values=cval)
    return np.pad(x, widths, mode=_EXTEND[mode])


def _origins(origin: Any, ndim: int) -> list[int]:
    return list(origin) if np.ndim(origin) else [int(origin)] * ndim


def _nd_correlate(what: str, x: Any, w: Any, mode: str, cval: Any, origin: Any) -> Tracer:
    """ndimage's correlation: out[i] = sum_j w[j] x[i + j - (m // 2 + origin)] per axis (m the
    weights' length there), x extended past its edges by ``mode``; x's shape and dtype."""
    x, w = as_tracer(x), as_tracer(w)
    if w.ndim != x.ndim:
        raise ShapeError(f"scipy.ndimage.{what}: weights must have the input's {x.ndim} "
                         f"dimensions, got shape {w.shape}", user_loc())
    dtype = x.dtype
    xf = float_tracer(x)
    widths = [(m // 2 + o, m - 1 - m // 2 - o) for m, o in zip(w.shape, _origins(origin, x.ndim))]
    if any(a < 0 or b < 0 for a, b in widths):
        raise ShapeError(f"scipy.ndimage.{what}: origin out of range for weights of shape "
                         f"{w.shape}", user_loc())
    windows = sliding_window_view(_extended(what, xf, widths, mode, cval), w.shape)
    out = np.tensordot(windows, w.astype(xf.dtype), axes=w.ndim)
    return out if out.dtype == dtype else out.astype(dtype)


def _along(what: str, x: Tracer, w: np.ndarray, axis: int, mode: str, cval: Any) -> Tracer:
    """ndimage's correlate1d of x with constant weights w along ``axis``."""
    shape = [1] * x.ndim
    shape[axis] = w.size
    return _nd_correlate(what, x, np.reshape(w, shape), mode, cval, 0)


def nd_correlate(input: Any, weights: Any, output: Any = None, mode: str = "reflect",
                 cval: Any = 0.0, origin: Any = 0) -> Tracer:
    return _nd_correlate("correlate", input, weights, mode, cval, origin)


def nd_convolve(input: Any, weights: Any, output: Any = None, mode: str = "reflect",
                cval: Any = 0.0, origin: Any = 0) -> Tracer:
    """The correlation with the weights reversed, each origin negated (and moved by one
    along an axis of even length), as ndimage.convolve does."""
    w = as_tracer(weights)
    origins = [-o - (1 - m % 2) for m, o in zip(w.shape, _origins(origin, w.ndim))]
    return _nd_correlate("convolve", input, flip(w, tuple(range(w.ndim))), mode, cval, origins)


def gaussian_filter(input: Any, sigma: Any, order: int = 0, output: Any = None,
                    mode: str = "reflect", cval: Any = 0.0, truncate: float = 4.0, *,
                    radius: Any = None, axes: Any = None) -> Tracer:
    """One 1-D correlation per axis with ndimage's normalised Gaussian of half-width
    int(truncate * sigma + 0.5) (or ``radius``)."""
    if order or axes is not None:
        raise UnsupportedError("scipy.ndimage.gaussian_filter: order and axes are not "
                               "supported", user_loc())
    x = as_tracer(input)
    sigmas = list(sigma) if np.ndim(sigma) else [sigma] * x.ndim
    radii = list(radius) if np.ndim(radius) else [radius] * x.ndim
    for axis, (sd, r) in enumerate(zip(sigmas, radii)):
        if sd <= 0:
            continue
        r = int(truncate * sd + 0.5) if r is None else int(r)
        t = np.arange(-r, r + 1)
        phi = np.exp(-0.5 / (sd * sd) * t * t)
        x = _along("gaussian_filter", x, phi / phi.sum(), axis, mode, cval)
    return x


def uniform_filter(input: Any, size: Any = 3, output: Any = None, mode: str = "reflect",
                   cval: Any = 0.0, origin: Any = 0) -> Tracer:
    x = as_tracer(input)
    sizes = list(size) if np.ndim(size) else [size] * x.ndim
    w = np.ones(sizes) / np.prod(sizes)
    return _nd_correlate("uniform_filter", x, w, mode, cval, origin)


def _one_axis(what: str, x: Any, weights: Any, axis: int, origin: int) -> Tracer:
    """correlate1d's weights as an n-d kernel along ``axis`` and its origin in every axis."""
    x, w = as_tracer(x), as_tracer(weights)
    if w.ndim != 1:
        raise ShapeError(f"scipy.ndimage.{what}: weights must be 1-D, got shape {w.shape}",
                         user_loc())
    axis %= x.ndim
    shape, origins = [1] * x.ndim, [0] * x.ndim
    shape[axis], origins[axis] = w.size, origin
    return x, w.reshape(shape), origins


def correlate1d(input: Any, weights: Any, axis: int = -1, output: Any = None,
                mode: str = "reflect", cval: Any = 0.0, origin: int = 0) -> Tracer:
    x, w, origins = _one_axis("correlate1d", input, weights, axis, origin)
    return _nd_correlate("correlate1d", x, w, mode, cval, origins)


def convolve1d(input: Any, weights: Any, axis: int = -1, output: Any = None,
               mode: str = "reflect", cval: Any = 0.0, origin: int = 0) -> Tracer:
    x, w, origins = _one_axis("convolve1d", input, weights, axis, origin)
    return nd_convolve(x, w, mode=mode, cval=cval, origin=origins)


def _derivative(what: str, smooth: list) -> Callable:
    """sobel and prewitt: the difference [-1, 0, 1] along ``axis``, smoothed by ``smooth``
    along every other axis."""
    def fn(input: Any, axis: int = -1, output: Any = None, mode: str = "reflect",
           cval: Any = 0.0) -> Tracer:
        x = as_tracer(input)
        axis = axis % x.ndim
        x = _along(what, x, np.array([-1.0, 0.0, 1.0]), axis, mode, cval)
        for other in range(x.ndim):
            if other != axis:
                x = _along(what, x, np.array(smooth), other, mode, cval)
        return x
    fn.__name__ = fn.__qualname__ = what
    return fn


def laplace(input: Any, output: Any = None, mode: str = "reflect", cval: Any = 0.0) -> Tracer:
    """The sum over the axes of the second difference [1, -2, 1] along each."""
    x = as_tracer(input)
    return sum(_along("laplace", x, np.array([1.0, -2.0, 1.0]), axis, mode, cval)
               for axis in range(x.ndim))


SCIPY_NDIMAGE = {"correlate": nd_correlate, "convolve": nd_convolve,
                 "correlate1d": correlate1d, "convolve1d": convolve1d,
                 "gaussian_filter": gaussian_filter, "uniform_filter": uniform_filter,
                 "sobel": _derivative("sobel", [1.0, 2.0, 1.0]),
                 "prewitt": _derivative("prewitt", [1.0, 1.0, 1.0]), "laplace": laplace}


SCIPY_SIGNAL = {"convolve": convolve, "correlate": correlate, "convolve2d": convolve2d,
                "correlate2d": correlate2d, "fftconvolve": _by_fft("fftconvolve"),
                "oaconvolve": _by_fft("oaconvolve"), "lfilter": lfilter}
