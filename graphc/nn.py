"""Neural-network layers as compositions of primitives, so their adjoints come from the op
table's rules and they run on every backend: convolution and pooling over NCHW images, and
the usual activations and losses.

A convolution gathers its receptive fields with strided slices (one per kernel offset, each a
view of the padded input), stacks them into patches and contracts the patches with the
weights in one matrix product per image: the "im2col" formulation, which puts the arithmetic
in BLAS. Its adjoint is the same thing backwards: a matrix product and the slices' adjoints,
which add the patches' cotangents back into the padded input.

Every function works on tracers (inside a graphc transform) and on plain NumPy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ShapeError
from .ir import user_loc
from .numpy import log_softmax, logsumexp, softmax
from .trace import Tracer, apply


def _pair(v: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(pair) != 2 or any(int(p) != p or p < 0 for p in pair):
        raise ShapeError(f"{name} must be a non-negative int or a pair of them, got {v!r}",
                         user_loc())
    return int(pair[0]), int(pair[1])


def _pad(x: Any, ph: int, pw: int, value: float = 0.0) -> Any:
    if not (ph or pw):
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + 2 * ph, w + 2 * pw)
    index = ((0, n, 1), (0, c, 1), (ph, ph + h, 1), (pw, pw + w, 1))
    if isinstance(x, Tracer):
        padded = apply("unslice", x, shape=shape, index=index)
    else:
        padded = np.zeros(shape, x.dtype)
        padded[:, :, ph:ph + h, pw:pw + w] = x
    if value:  # the border gets ``value``: -inf for max pooling
        border = np.ones(shape, bool)
        border[:, :, ph:ph + h, pw:pw + w] = False
        padded = np.where(border, np.asarray(value, x.dtype), padded)
    return padded


def _windows(x: Any, kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int], what: str, pad_value: float = 0.0) -> tuple[Any, int, int]:
    """The receptive fields of every output position: shape (N, C, KH*KW, OH, OW)."""
    if np.ndim(x) != 4:
        raise ShapeError(f"{what} expects an NCHW image batch (4 axes), got shape "
                         f"{tuple(np.shape(x))}", user_loc())
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if sh < 1 or sw < 1 or oh < 1 or ow < 1:
        raise ShapeError(f"{what}: a {kh}x{kw} window with stride {stride} and padding "
                         f"{padding} does not fit an image of {h}x{w}", user_loc())
    xp = _pad(x, ph, pw, pad_value)
    views = [xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
             for i in range(kh) for j in range(kw)]
    return np.stack(views, axis=2), oh, ow


def conv2d(x: Any, w: Any, b: Any = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] = 0) -> Any:
    """2-D cross-correlation (what deep-learning libraries call convolution).

    ``x``: (N, C, H, W) images; ``w``: (O, C, KH, KW) filters; ``b``: (O,) bias or None.
    Returns (N, O, OH, OW) with OH = (H + 2*pad - KH) // stride + 1 (likewise OW)."""
    if np.ndim(w) != 4 or np.ndim(x) != 4 or w.shape[1] != x.shape[1]:
        raise ShapeError(f"conv2d: images {tuple(np.shape(x))} (N, C, H, W) and filters "
                         f"{tuple(np.shape(w))} (O, C, KH, KW) must agree on C", user_loc())
    o, c, kh, kw = w.shape
    patches, oh, ow = _windows(x, (kh, kw), _pair(stride, "stride"), _pair(padding, "padding"),
                               "conv2d")
    n = x.shape[0]
    # (O, C*KH*KW) @ (N, C*KH*KW, OH*OW): C outer, kernel offset inner, as w is laid out.
    y = w.reshape(o, c * kh * kw) @ patches.reshape(n, c * kh * kw, oh * ow)
    y = y.reshape(n, o, oh, ow)
    if b is not None:
        if np.shape(b) != (o,):
            raise ShapeError(f"conv2d: bias must have shape ({o},), got {tuple(np.shape(b))}",
                             user_loc())
        y = y + b.reshape(1, o, 1, 1)
    return y


def _pool(x: Any, kernel, stride, padding, what: str, reduce: str) -> Any:
    k = _pair(kernel, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    p = _pair(padding, "padding")
    if np.ndim(x) == 4 and s == k and p == (0, 0) and x.shape[2] % k[0] == 0 and \
            x.shape[3] % k[1] == 0:  # tiles: a reshape, no copies of windows
        n, c, h, w = x.shape
        tiles = x.reshape(n, c, h // k[0], k[0], w // k[1], k[1])
        return getattr(tiles, reduce)(axis=(3, 5))
    windows, _, _ = _windows(x, k, s, p, what, -np.inf if reduce == "max" else 0.0)
    return getattr(windows, reduce)(axis=2)


def max_pool2d(x: Any, kernel_size: int | tuple[int, int], stride=None, padding=0) -> Any:
    """Maximum over each window (stride defaults to the window). Ties share the gradient
    evenly; padding counts as -inf."""
    return _pool(x, kernel_size, stride, padding, "max_pool2d", "max")


def avg_pool2d(x: Any, kernel_size: int | tuple[int, int], stride=None, padding=0) -> Any:
    """Mean over each window (stride defaults to the window); padding counts as zeros."""
    return _pool(x, kernel_size, stride, padding, "avg_pool2d", "mean")


def relu(x: Any) -> Any:
    """max(x, 0); its gradient at exactly 0 is 1/2 (ties split evenly)."""
    return np.maximum(x, 0)


def one_hot(labels: Any, classes: int, dtype: Any = np.float64) -> Any:
    """(…,) integer labels -> (…, classes) rows of zeros with a one at the label."""
    return (labels[..., None] == np.arange(classes)).astype(dtype)


def cross_entropy(logits: Any, labels: Any) -> Any:
    """Mean softmax cross-entropy of (N, K) logits against (N,) integer labels or (N, K)
    target probabilities, in the stable log-softmax form. Labels index as NumPy does (-1 is
    the last class); one outside [-K, K) raises OutOfBoundsError, never a zero term."""
    if np.ndim(labels) == np.ndim(logits) - 1:
        labels = labels if isinstance(labels, Tracer) else np.asarray(labels)
        picked = np.take_along_axis(log_softmax(logits, axis=-1), labels[..., None], axis=-1)
        return -picked.sum() / picked.size
    if np.shape(labels) != np.shape(logits):
        raise ShapeError(f"cross_entropy: labels {tuple(np.shape(labels))} must be integer "
                         f"classes of shape {tuple(np.shape(logits))[:-1]} or probabilities "
                         f"of shape {tuple(np.shape(logits))}", user_loc())
    return -(labels * log_softmax(logits, axis=-1)).sum() / (logits.size // logits.shape[-1])


__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "relu", "softmax", "log_softmax",
           "logsumexp", "cross_entropy", "one_hot"]
