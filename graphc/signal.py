"""``scipy.signal``'s direct convolutions on traced arrays: ``convolve``, ``correlate``
(N-D; modes full, valid, same; ``fftconvolve`` and ``oaconvolve`` give the same numbers
directly) and ``convolve2d``, ``correlate2d`` (boundaries fill, wrap, symm). The input is
padded, cut into windows of the kernel's shape (a gather of constant indices,
compose.sliding_window_view) and contracted with the reversed kernel (tensordot), so the
gradient reaches the input and the kernel alike. special.in_trace swaps them in for SciPy's
in the code graphc traces.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .compose import sliding_window_view
from .errors import ShapeError, UnsupportedError
from .ir import user_loc
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


def lfilter(b: Any, a: Any, x: Any, axis: int = -1, zi: Any = None) -> Tracer:
    raise UnsupportedError("scipy.signal.lfilter is not supported by graphc: a first-order "
                           "filter y[n] = c y[n-1] + d x[n] is graphc.numpy.linear_recurrence"
                           "(c, d * x); others need a loop (graphc.scan)", user_loc())


SCIPY_SIGNAL = {"convolve": convolve, "correlate": correlate, "convolve2d": convolve2d,
                "correlate2d": correlate2d, "fftconvolve": _by_fft("fftconvolve"),
                "oaconvolve": _by_fft("oaconvolve"), "lfilter": lfilter}
