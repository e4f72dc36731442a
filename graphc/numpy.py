"""NumPy-style helpers for traced code: what plain NumPy cannot dispatch, and the composite
functions (softmax and friends) built from primitives in their numerically stable forms.

They work on tracers and on plain arrays alike.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import trace
from .trace import Tracer, apply, stack


def _traced(v: Any) -> bool:
    return isinstance(v, Tracer) or (isinstance(v, (list, tuple)) and any(map(_traced, v)))


def array(values: Sequence[Any]) -> Any:
    """``np.array([...])`` for (nested) lists that hold traced values: stacks them along new
    leading axes."""
    if not _traced(values):
        return np.array(values)
    return stack([array(v) if isinstance(v, (list, tuple)) else
                  v if isinstance(v, Tracer) else np.asarray(v) for v in values])


def constant(a: Any) -> Any:
    """``a`` (a NumPy array) as a traced constant while graphc traces, so that traced indices
    can index it (``constant(table)[i]``: NumPy's own indexing cannot take them); ``a``
    itself otherwise, so that the function still runs as plain NumPy."""
    from .api import _tracing

    return Tracer(trace.const(np.asarray(a))) if _tracing.get() else a


def stop_gradient(x: Any) -> Any:
    """``x`` itself, treated as a constant by differentiation."""
    return apply("stop_gradient", x) if isinstance(x, Tracer) else x


def linear_recurrence(a: Any, b: Any, axis: int = -1, reverse: bool = False) -> Any:
    """y_i = a_i * y_(i-1) + b_i along ``axis`` (0 before the first); with ``reverse``,
    y_i = a_i * y_(i+1) + b_i: discounted returns are ``linear_recurrence(gamma, rewards,
    reverse=True)``. Compiled as one loop over each line, its gradient the same loop run
    the other way."""
    if _traced([a, b]):
        return trace.linear_recurrence(a, b, axis, reverse)
    from .ops import OPS

    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    return OPS["linrec"].impl(a, b, axis=axis % b.ndim, reverse=reverse)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)), a primitive so that its gradient stays finite for large |x|."""
    if isinstance(x, Tracer):
        return apply("sigmoid", x)
    from .ops import OPS

    return OPS["sigmoid"].impl(np.asarray(x))


def softplus(x: Any) -> Any:
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): exp never sees a positive argument,
    so neither the value nor its gradient (sigmoid(x)) overflows."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def logsumexp(x: Any, axis: Any = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Any:
    """log(sum(b * exp(x))) shifted by the max, so it neither overflows nor underflows
    (SciPy's signature): with ``return_sign``, the log of the sum's magnitude and its sign;
    without, a negative sum gives NaN."""
    m = stop_gradient(np.max(x, axis=axis, keepdims=True))
    m = np.where(np.abs(m) < np.inf, m, 0)  # an all -inf slice gives -inf, not nan
    e = np.exp(x - m)
    total = np.sum(e if b is None else e * b, axis=axis, keepdims=True)
    out = np.log(np.abs(total) if return_sign else total) + m
    outs = [out, np.sign(total)] if return_sign else [out]
    if not keepdims:
        outs = [np.squeeze(v, axis=axis) if axis is not None else np.reshape(v, ())
                for v in outs]
    return tuple(outs) if return_sign else outs[0]


def log_softmax(x: Any, axis: int = -1) -> Any:
    """(x - max) - log(sum(exp(x - max))): shifted first, so that log(k) of k tied large
    logits survives (x - logsumexp(x) loses it once |x| outgrows it in x's rounding)."""
    m = stop_gradient(np.max(x, axis=axis, keepdims=True))
    shifted = x - np.where(np.abs(m) < np.inf, m, 0)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x: Any, axis: int = -1) -> Any:
    e = np.exp(x - stop_gradient(np.max(x, axis=axis, keepdims=True)))
    return e / np.sum(e, axis=axis, keepdims=True)


__all__ = ["array", "constant", "linear_recurrence", "log_softmax", "logsumexp", "sigmoid",
           "softmax", "softplus", "stop_gradient"]
