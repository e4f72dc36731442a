"""The NumPy functions graphc builds from primitives (compositions), and integer indexing.

Each case runs plain NumPy code three ways: as NumPy itself (the value to match), compiled by
graphc, and through graphc's reference interpreter (the oracle); differentiable cases also
check the gradient against central finite differences of the NumPy function in float64 (a
random direction v and output covector u: compare <u, J v>).
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import numpy.polynomial as npoly
import pytest

from scipy import linalg as sla
from scipy import ndimage, signal, special, stats
from scipy.spatial import distance
from scipy.stats import multivariate_normal, norm
from scipy.special import logsumexp, polygamma

import graphc
from graphc import OutOfBoundsError, ShapeError, UnsupportedError
from graphc.api import flatten
from numpy.lib.stride_tricks import as_strided
from numpy.polynomial import chebyshev as cheb

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4))
SQ = RNG.normal(size=(4, 4))
V3 = RNG.normal(size=3)
V4 = RNG.normal(size=4)
B3 = RNG.normal(size=(2, 3, 4))
B4 = RNG.normal(size=(2, 4, 5))
POS = 0.5 + np.abs(RNG.normal(size=(3, 4)))
IDX = np.array([2, -1, 0, 2, 2])  # repeated and negative indices
IDX2 = np.array([[1, 1], [-4, 3]])
ODD = np.array([[np.nan, np.inf, -np.inf, 0.0], [-0.0, 1.5, -2.5, np.nan], [3.0, -1e300, 0.5, 7.0]])
WC = RNG.normal(size=(4, 4)) + 3 * np.eye(4)
SPD = WC @ WC.T / 4 + np.eye(4)
INT2 = np.array([[2, 1], [1, 3]])
P = RNG.uniform(0.05, 0.95, size=(3, 4))
P0 = np.where(np.arange(12).reshape(3, 4) % 3 == 0, 0.0, P[::-1])
KNOTS = np.array([-2.0, -0.9, 0.1, 0.45, 1.3, 2.2])  # sample points, none where X has values
POLES = np.array([0.0, -1.0, -2.5, -0.5, -7.3, 1e-300, np.inf, -np.inf, np.nan, 1e300, 3e-8,
                  -1e6 + 0.25, 55.5, -40.0, 10.0])
TIES = np.array([-2.5, -1.5, -0.5, -0.2, 0.0, 0.5, 1.5, 2.5, 0.49999999999999994, 4.5e15 + 1])

def _put(x):
    z = np.zeros((2, 3))
    np.put(z, [5, 1, -6], x[0, :3] * 2)
    return z


_VEC = np.vectorize(lambda r, d=1.0: d * d * (math.sqrt(1 + (r / d) ** 2) - 1))


def _complex_filled(x):
    w = np.zeros((2, 3), dtype=complex)
    w[0] = x[0, :3] * 1j
    w[1, 1:] += x[1, :2]
    return w


# name -> (function, arguments, argnums differentiated: () for data-only results)
CASES = {
    # elementwise compositions
    "square": (lambda x: np.square(x), (X,), (0,)),
    "reciprocal": (lambda x: np.reciprocal(x), (POS,), (0,)),
    "clip": (lambda x: np.clip(x, -0.5, 0.7), (X,), (0,)),
    "clip-one-sided": (lambda x: np.clip(x, None, 0.2) + x.clip(min=-0.1), (X,), (0,)),
    "logaddexp": (lambda x, y: np.logaddexp(x, y), (X, X[::-1] * 3), (0, 1)),
    "mod-operator": (lambda x, y: x % y + np.mod(x, 0.7), (X * 3, POS), (0, 1)),
    "remainder-negative-divisor": (lambda x: np.remainder(x, -0.6), (X * 3,), (0,)),
    # logic, NaN tests, rounding
    "logical": (lambda x, y: [np.logical_and(x > 0, y), np.logical_or(x, y > 0.5),
                              np.logical_xor(x > 0, y > 0), np.logical_not(x),
                              (x > 0) & (y < 0), (x > 0) | ~(y > 0), (x > 0) ^ True,
                              np.logical_and.reduce(x > -1, axis=1), np.logical_or.reduce(y > 1)],
                (X, X[::-1] - 0.3), ()),
    "mask-operators-select": (lambda x, y: np.where((x > 0) & (y < 0.5) | (x < -1), x * y, -y),
                              (X, X[::-1]), (0, 1)),
    "nan-tests": (lambda x: [np.isnan(x), np.isinf(x), np.isfinite(x), np.isnan(IDX)], (ODD,),
                  ()),
    "nan_to_num": (lambda x: np.nan_to_num(x) * 1e-300 + np.nan_to_num(x, nan=1.0, posinf=2.0,
                                                                       neginf=-3.0) * x[2, 3],
                   (ODD,), (0,)),
    "fmax-fmin": (lambda x, y: [np.fmax(x, y), np.fmin(y, x)], (ODD, ODD[::-1].copy()), ()),
    "fmax-fmin-gradient": (lambda x, y: np.fmax(x, y) * np.fmin(x, 0.2), (X, X[::-1] + 0.3),
                           (0, 1)),
    "heaviside": (lambda x, h: np.heaviside(x, h) + np.heaviside(x, 0.5),
                  (np.where(X > 0.5, 0.0, X), POS), (1,)),
    "round": (lambda x: [np.round(x * 3), np.around(x, 2), x.round(1), np.round(x * 100, -1),
                         np.rint(x * 3) * x], (X,), (0,)),
    "round-ties": (lambda x: [np.round(x), np.rint(x), np.round(x * 10, -1), np.round(x, 1),
                              np.round(x.astype(np.float32)), np.round(IDX), np.rint(IDX),
                              np.trunc(x), np.fix(x),
                              np.trunc(IDX)], (TIES,), ()),
    "trunc": (lambda x: np.trunc(x * 3) * x + np.fix(x * 2), (X,), (0,)),
    # differences, products of vectors, convolutions
    "diff": (lambda x: [np.diff(x), np.diff(x, n=2, axis=0), np.diff(x > 0, axis=0),
                        np.diff(x, prepend=0.5, append=x[:, :1])], (X,), (0,)),
    "ptp": (lambda x: np.ptp(x, axis=1) + np.ptp(x), (X,), (0,)),
    "vdot-cross": (lambda x, y: [np.vdot(x, y), np.cross(x[:, :3], y[:, 1:]),
                                 np.cross(x.T[:3], y[0, :3], axisa=0),
                                 np.cross(x.T[1:], y.T[:3], axis=0)],
                   (X, X[::-1] + 0.3), (0, 1)),
    "convolve": (lambda a, v: [np.convolve(a, v), np.convolve(a, v, "same"),
                               np.convolve(a, v, mode="valid"), np.convolve(v, a, "same"),
                               np.convolve(a[:4], v[:4], "same"), np.convolve(a[:1], v)],
                 (X.ravel(), V3), (0, 1)),
    "correlate": (lambda a, v: [np.correlate(a, v), np.correlate(a, v, "full"),
                                np.correlate(v, a, "same"), np.correlate(v, a, "full")],
                  (X.ravel()[:7], V4), (0, 1)),
    # sorting and order statistics
    "sort": (lambda x: [np.sort(x), np.sort(x, axis=0), np.sort(x, axis=None), -np.sort(-x)[:, :2],
                        (lambda y: (y.sort(axis=0), y)[1])(x * 1)], (X,), (0,)),
    "argsort": (lambda x, i: [np.argsort(x), np.argsort(x, axis=0), x.argsort(axis=None),
                              np.argsort(i, kind="stable"), np.argsort(x > 0, kind="stable"),
                              np.sort(i), np.sort(x > 0, axis=0)], (X, IDX), ()),
    "sort-nan": (lambda x: [np.sort(x), np.argsort(x, axis=1, kind="stable"), np.sort(x, 0)],
                 (ODD,), ()),
    "median": (lambda x: [np.median(x), np.median(x, axis=1), np.median(x, axis=0, keepdims=True),
                          np.median(x[:, :3], axis=(0, 1))], (X,), (0,)),
    "quantile": (lambda x: [np.quantile(x, 0.3), np.percentile(x, [10, 50, 90], axis=1),
                            np.quantile(x, [[0.0, 1.0]], axis=0, keepdims=True),
                            np.percentile(x, 25.0, axis=(0, 1)), np.quantile(x, 0.75, axis=-1)],
                 (X,), (0,)),
    "median-nan-int": (lambda x: [np.median(x, axis=1), np.median(IDX), np.quantile(x, 0.5, axis=0),
                                  np.percentile(IDX, 40), np.median(x[:2].astype(np.float32), 1)],
                       (ODD,), ()),
    # reductions and scans
    "ufunc-reduce": (lambda x: [np.add.reduce(x), np.maximum.reduce(x, axis=1),
                                np.minimum.reduce(x, axis=None), np.add.accumulate(x, axis=1),
                                np.multiply.reduce(x, 1, keepdims=True)], (X,), (0,)),
    "prod-axis": (lambda x: np.prod(x, axis=1), (X,), (0,)),
    "prod-all-keepdims": (lambda x: x.prod(keepdims=True), (X[:, :2],), (0,)),
    "prod-zeros": (lambda x: np.prod(x, axis=1),
                   (np.array([[1.5, 0.0, 2.0], [0.0, 3.0, 0.0], [1.1, -2.0, 0.5]]),), (0,)),
    "cumsum-axis": (lambda x: np.cumsum(x, axis=1), (X,), (0,)),
    "cumsum-flat": (lambda x: x.cumsum(), (B3,), (0,)),
    "cumsum-axis0-3d": (lambda x: np.cumsum(x, axis=-2) * x, (B3,), (0,)),
    "amax-amin": (lambda x: np.amax(x, axis=1) - np.amin(x), (X,), (0,)),
    "sum-dtype": (lambda i: [np.sum(i, axis=0, dtype=np.float64), i.prod(dtype=np.int8)],
                  (IDX2,), ()),
    "all-any": (lambda x: [np.all(x > -1, axis=1), x.any(), np.any(x > 1, axis=0, keepdims=True),
                           (x > 0).all(), np.all(x)], (X,), ()),
    "average": (lambda x: np.average(x, axis=1, weights=np.arange(1.0, 5.0)) + np.average(x),
                (X,), (0,)),
    "average-weights": (lambda x, w: np.average(x, axis=0, weights=w), (X, POS), (0, 1)),
    "argmax": (lambda x: np.argmax(x, axis=1), (X,), ()),
    "argmin-flat": (lambda x: np.argmin(x), (X,), ()),
    "argmax-keepdims": (lambda x: x.argmax(axis=0, keepdims=True), (X,), ()),
    "argmax-nan": (lambda x: np.argmax(x, axis=1),
                   (np.array([[1.0, np.nan, 3.0, np.nan], [0.0, 2.0, 2.0, 1.0]]),), ()),
    "argmin-int": (lambda x: np.argmin(x, axis=0), (np.array([[3, 1], [1, 1], [0, 5]]),), ()),
    "argmax-gathers": (lambda x, y: np.take(x, np.argmax(y, axis=0), axis=0), (X, -X),
                       (0,)),
    # joining and splitting
    "stack": (lambda x, y: np.stack([x, y, x], axis=1), (X, X * 2), (0, 1)),
    "vstack": (lambda x, v: np.vstack([x, v, x]), (X, V4), (0, 1)),
    "hstack": (lambda x, y: np.hstack([x, y]), (X, X[:, :2]), (0, 1)),
    "hstack-1d": (lambda v, w: np.hstack([v, w, v]), (V3, V4), (0, 1)),
    "dstack": (lambda x: np.dstack([x, x * 2]), (X,), (0,)),
    "column_stack": (lambda v, w: np.column_stack([v, w]), (V3, X[:, :2]), (0, 1)),
    "split-sections": (lambda x: [p * k for k, p in enumerate(np.split(x, 2, axis=1))], (X,),
                       (0,)),
    "split-indices": (lambda x: np.split(x, [1, 3], axis=1), (X,), (0,)),
    "array_split": (lambda x: np.array_split(x, 3, axis=1), (X,), (0,)),
    # several integer arrays in one index (NumPy's advanced indexing), and arrays like x
    "index-two-arrays": (lambda x: x[[0, 2, -1, 0], [3, 3, 0, -4]], (X,), (0,)),
    "index-labels": (lambda z, y: z[np.arange(3), y], (X, np.array([3, -1, 0])), (0,)),
    "index-arrays-apart": (lambda x: x[[1, 0], :, [[2], [3]]], (B3,), (0,)),
    "index-arrays-adjacent": (lambda x: x[:, [0, 2, 2], [1, 1, -1]], (B3,), (0,)),
    "index-int-and-arrays": (lambda x: x[1, :, [0, 3]] + x[:, 2, [[0, 3]]].sum(0).T, (B3,), (0,)),
    "take_along_axis": (lambda x, i: np.take_along_axis(x, i, axis=1),
                        (B3, np.array([[[0, 2, 1, 1]], [[-1, 0, 0, 2]]])), (0,)),
    "take_along_axis-argmax": (lambda x: np.take_along_axis(x, x.argmax(0)[None], axis=0),
                               (X,), (0,)),
    "like": (lambda x: np.zeros_like(x) + np.ones_like(x) * x + np.full_like(x, 0.5)
             + np.full_like(x, x[0, 1]) + np.empty_like(x, dtype=np.int32) * 0, (X,), (0,)),
    "copy": (lambda x: np.copy(x) * x.copy(), (X,), (0,)),
    # norms
    "norm": (lambda x: np.linalg.norm(x), (B3,), (0,)),
    "norm-vector-orders": (lambda v: [np.linalg.norm(v, o) for o in (1, 3, np.inf, -np.inf, 0)],
                           (V4,), (0,)),
    "norm-axis-keepdims": (lambda x: np.linalg.norm(x, axis=-1, keepdims=True) * x, (B3,), (0,)),
    "norm-matrix-orders": (lambda x: [np.linalg.norm(x, o) for o in ("fro", 1, -1, np.inf)]
                           + [np.linalg.norm(x, 1, axis=(1, 0))], (X,), (0,)),
    # moving axes
    "transpose-axes": (lambda x: np.transpose(x, (1, 2, 0)) + x.transpose(1, 2, 0), (B3,), (0,)),
    "swapaxes": (lambda x: np.swapaxes(x, 0, 2), (B3,), (0,)),
    # the CPU code's strided views and copies (as_strided, helpers.assign) on every layout
    "transpose-of-strided": (lambda x: np.transpose(x[:, ::2, 1:], (2, 0, 1)) * 2, (B3,), (0,)),
    "transpose-4d": (lambda x: np.transpose(x.reshape(2, 3, 2, 2), (3, 1, 0, 2)), (B3,), (0,)),
    "slice-of-transposed": (lambda x: np.transpose(x, (2, 0, 1))[1:, ::-1, ::2], (B3,), (0,)),
    "stack-transposed": (lambda x: np.stack([x.transpose(1, 2, 0), np.tanh(x).transpose(2, 1, 0)
                                             .swapaxes(0, 1)], axis=2), (B3,), (0,)),
    "moveaxis": (lambda x: np.moveaxis(x, [0, 1], [-1, 0]), (B3,), (0,)),
    "flip": (lambda x: np.flip(x, axis=(0, 2)) + np.flip(x), (B3,), (0,)),
    "fliplr-flipud": (lambda x: np.fliplr(x) * np.flipud(x), (X,), (0,)),
    # repetition and padding
    "tile": (lambda x: np.tile(x, (2, 1, 3)), (X,), (0,)),
    "tile-int": (lambda v: np.tile(v, 3), (V3,), (0,)),
    "repeat": (lambda x: np.repeat(x, 2, axis=1), (X,), (0,)),
    "repeat-flat": (lambda x: x.repeat(3), (X[:2],), (0,)),
    "repeat-counts": (lambda x: np.repeat(x, [2, 0, 1], axis=0), (X,), (0,)),
    "pad-zero": (lambda x: np.pad(x, ((1, 2), (0, 3))), (X,), (0,)),
    "pad-constant": (lambda x: np.pad(x, 1, constant_values=-2.5), (X,), (0,)),
    # diagonals and triangles
    "diag-matrix": (lambda v: np.diag(v, -1), (V3,), (0,)),
    "diag-vector": (lambda x: np.diag(x, 1), (X,), (0,)),
    "diagonal-batched": (lambda x: np.diagonal(x, offset=-1, axis1=1, axis2=2), (B3,), (0,)),
    "trace": (lambda x: np.trace(x) + x.trace(offset=1), (SQ,), (0,)),
    "tril-triu": (lambda x: np.tril(x, -1) + 2 * np.triu(x, 1), (B3,), (0,)),
    # products
    "outer": (lambda v, w: np.outer(v, w), (V3, V4), (0, 1)),
    "inner": (lambda x, v: np.inner(x, v), (X, V4), (0, 1)),
    "inner-matrices": (lambda x, y: np.inner(x, y), (X, SQ), (0, 1)),
    "tensordot-int": (lambda a, b: np.tensordot(a, b, axes=1), (B3, B4.transpose(1, 0, 2)),
                      (0, 1)),
    "tensordot-pairs": (lambda a, b: np.tensordot(a, b, axes=([0, 2], [0, 1])), (B3, B4),
                        (0, 1)),
    "dot-nd": (lambda a, b: np.dot(a, b), (B3, B4[0]), (0, 1)),
    # indexing
    "index-const": (lambda x: x[IDX], (X,), (0,)),
    "index-columns": (lambda x: x[:, IDX], (X,), (0,)),
    "index-2d-array": (lambda x: x[IDX2] * 2, (X.T,), (0,)),
    "index-list": (lambda x: x[[0, 0, -1]], (X,), (0,)),
    "index-int-and-array": (lambda x: x[1, IDX], (B3,), (0,)),
    "index-separated": (lambda x: x[0, :, IDX[:3]], (B3,), (0,)),
    "index-ellipsis": (lambda x: x[..., IDX2], (B3,), (0,)),
    "index-range": (lambda x, y: x[range(3), y] + x[range(1, 3)].sum(), (X, np.array([3, 0, 1])),
                    (0,)),
    "index-traced": (lambda x, i: x[i] * x[:, i[:2]].sum(), (X, np.array([2, 0, 2])), (0,)),
    "take-axis": (lambda x: np.take(x, IDX2, axis=1), (X,), (0,)),
    "take-flat": (lambda x: np.take(x, [11, 0, -12, 5]), (X,), (0,)),
    "take-scalar": (lambda x: x.take(2, axis=1), (X,), (0,)),
    "take-clip-wrap": (lambda x: np.take(x, [7, -9], axis=1, mode="clip")
                       + np.take(x, [7, -9], axis=1, mode="wrap"), (X,), (0,)),
    "where-mask": (lambda x: np.where(x > 0, x, 0).sum() / np.where(x > 0, 1.0, 0.0).sum(),
                   (X,), (0,)),
    # reductions with where= and initial=, and the NaN-skipping ones
    "reduce-where-initial": (lambda x: [np.sum(x, where=x > 0), x.sum(axis=1, where=x < 1),
                                        np.prod(x, 0, where=[True, False, True, True]),
                                        np.max(x, axis=0, where=x < 0.5, initial=-3),
                                        x.min(initial=-0.5), np.sum(x, initial=2.0, axis=1),
                                        np.mean(x, where=x > -0.5),
                                        x.mean(axis=1, keepdims=True, where=x < 1),
                                        np.var(x, axis=0, where=x > -1), x.std(where=x < 1)],
                             (X,), (0,)),
    "nan-reductions": (lambda x: [np.nansum(x), np.nansum(x, axis=1), np.nanprod(x, axis=0),
                                  np.nanmax(x, axis=1), np.nanmin(x, axis=0),
                                  np.nanmean(x, axis=1), np.nanvar(x, axis=0, ddof=1),
                                  np.nanstd(x), np.nancumsum(x, axis=1)],
                       (np.where(X > 0.8, np.nan, X),), (0,)),
    "nanmax-all-nan": (lambda x: [np.nanmax(x, axis=0), np.nanmin(x, axis=1, keepdims=True),
                                  np.nanmean(x, axis=0), np.nansum(IDX)],
                       (np.where(np.arange(12).reshape(3, 4) % 4 == 1, np.nan, X),), ()),
    # more compositions
    "logaddexp2-sinc": (lambda x, y: [np.logaddexp2(x, y), np.sinc(x), np.sinc(IDX)],
                        (np.where(X > 0.8, 0.0, X), X[::-1] * 3), (0, 1)),
    "roll": (lambda x: [np.roll(x, 1, axis=0), np.roll(x, -5, axis=1), np.roll(x, 7),
                        np.roll(x, (1, 2), axis=(1, 0)), np.roll(x, 0)], (B3,), (0,)),
    "kron": (lambda a, b: [np.kron(a, b), np.kron(a[0], b), np.kron(b[:2, :2], 3.0)],
             (X, SQ[:2]), (0, 1)),
    "meshgrid": (lambda a, b: [*np.meshgrid(a, b), *np.meshgrid(a, b, indexing="ij"),
                               *np.meshgrid(a, b, a[:2], sparse=True)], (V3, V4), (0, 1)),
    "pad-modes": (lambda x: [np.pad(x, ((1, 2), (3, 1)), mode=m)
                             for m in ("edge", "reflect", "symmetric", "wrap")]
                  + [np.pad(x, 1, constant_values=((1, 2), (3, 4))),
                     np.pad(x, 2, "empty")[2:-2, 2:-2]],
                  (X,), (0,)),
    "fill_diagonal": (lambda x, v: [_filled(x, 0.5), _filled(x.T, v), _filled(x, v[:2], True),
                                    _filled(np.zeros((3, 3)), v)], (np.tile(X, (3, 1)), V3),
                      (0, 1)),
    "put_along_axis": (lambda x, i, v: _put_along(x, i, v), (X, np.array([[1], [0], [3]]), V3),
                       (0, 2)),
    "searchsorted-digitize": (lambda a, v: [np.searchsorted(a, v), np.searchsorted(a, v, "right"),
                                            np.digitize(v, [-1.0, 0.0, 0.5]),
                                            np.digitize(v, [0.5, 0.0, -1.0], right=True),
                                            np.digitize(v, [0.0, 0.0, 1.0])],
                              (np.array([-1.0, 0.0, 0.0, 0.5, np.nan]),
                               np.array([[-2.0, 0.0, 0.25], [np.nan, 0.5, 9.0]])), ()),
    "bincount": (lambda i, w: [np.bincount(i, minlength=6), np.bincount(i, w, minlength=7),
                               np.bincount(IDX[IDX >= 0]), np.bincount([1, 3, 1, 0, 2], w)],
                 (np.array([2, 0, 2, 5, 1]), V3[[0, 1, 1, 2, 0]]), (1,)),
    "cov-corrcoef": (lambda x, v: [np.cov(x), np.cov(x, rowvar=False, bias=True), np.cov(x[0]),
                                   np.cov(x, ddof=0), np.cov(x[:, :3], v), np.corrcoef(x),
                                   np.corrcoef(x.T, rowvar=False), np.corrcoef(x[0], x[1]),
                                   np.corrcoef(v)],
                     (X, V3), (0, 1)),
    # running products, extremes and recurrences
    "cumprod": (lambda x: [np.cumprod(x), np.cumprod(x, axis=0), x.cumprod(1),
                           np.multiply.accumulate(x, axis=1), np.nancumprod(x, axis=1)],
                (np.where(np.abs(X) < 0.3, 0.0, X),), (0,)),
    "cumprod-integers": (lambda i: [np.cumprod(i), np.cumprod(i > 0, axis=0),
                                    np.cumprod(i.astype(np.int8), dtype=np.float32)],
                         (IDX2,), ()),
    "running-extremes": (lambda x: [np.maximum.accumulate(x), np.minimum.accumulate(x, axis=1),
                                    np.maximum.accumulate(x.ravel()[::-1])],
                         (B3,), (0,)),
    "running-extremes-ties-nan": (lambda x: [np.maximum.accumulate(x, axis=1),
                                             np.minimum.accumulate(x, axis=0)],
                                  (np.array([[1.0, 3.0, 3.0, np.nan, 5.0],
                                             [2.0, 2.0, 1.0, 7.0, 7.0]]),),
                                  ()),
    "linear-recurrence": (lambda r, g: [graphc.numpy.linear_recurrence(g, r, reverse=True),
                                        graphc.numpy.linear_recurrence(0.9, r, axis=0),
                                        graphc.numpy.linear_recurrence(g[:1], r)],
                          (X, 0.5 + X[::-1] * 0.2), (0, 1)),
    # linear algebra (well-conditioned WC, symmetric positive definite SPD)
    "linalg-solve": (lambda a, b, v: [np.linalg.solve(a, b), np.linalg.solve(a, v),
                                      np.linalg.solve(np.stack([a, a.T]), b[:, :2]),
                                      np.linalg.solve(a, np.stack([b, -b]))],
                     (WC, X.T, V4), (0, 1, 2)),
    "linalg-inv-det": (lambda a: [np.linalg.inv(a), np.linalg.det(a), np.linalg.det(-a[:3, :3]),
                                  *np.linalg.slogdet(np.stack([a, -a[::-1]])),
                                  np.linalg.slogdet(a).logabsdet],
                       (WC,), (0,)),
    "linalg-cholesky": (lambda a: [np.linalg.cholesky(a), np.linalg.cholesky(a, upper=True),
                                   np.log(np.diagonal(np.linalg.cholesky(np.stack([a, 2 * a])),
                                                      axis1=-2, axis2=-1))],
                        (SPD,), (0,)),
    "linalg-gaussian-nll": (lambda a, x: _gaussian_nll(a @ a.T + np.eye(4), x), (WC, X), (0, 1)),
    "linalg-powers": (lambda a: [np.linalg.matrix_power(a, 5), np.linalg.matrix_power(a, 0),
                                 np.linalg.matrix_power(a, -2),
                                 np.linalg.multi_dot([a, a.T, a[:, :2]])], (WC / 3,), (0,)),
    # eigenvectors only up to sign (graphc fixes one, NumPy leaves it to LAPACK): the cases
    # use v**2 and functions of the matrix, V f(w) V^T
    "linalg-eigh": (lambda a: [np.linalg.eigh(a)[0], np.linalg.eigh(a).eigenvectors ** 2,
                               _matrix_function(np.exp, a), np.linalg.eigvalsh(a, UPLO="U"),
                               np.linalg.eigvalsh(np.stack([a, a.T, 2 * a]))],
                    (WC,), (0,)),
    # singular vectors up to sign too: |U|, U S V^T, and what needs no vectors
    "linalg-svd": (lambda a, w: [np.linalg.svd(w, full_matrices=False).S,
                                 np.abs(np.linalg.svd(w.T, full_matrices=False).U),
                                 _rebuilt(w), _rebuilt(np.stack([w, 2 * w[:, ::-1]])),
                                 np.linalg.svd(a)[1], np.linalg.svd(a, compute_uv=False),
                                 np.abs(np.linalg.svd(a, hermitian=True)[2])],
                   (WC, X), (0, 1)),
    # NumPy's own signs (LAPACK's Householder reflections): tall, wide, stacked, square
    "linalg-qr": (lambda a, w: [*np.linalg.qr(w.T), *np.linalg.qr(w), np.linalg.qr(a, mode="r"),
                                np.linalg.qr(np.stack([a, a.T])).Q,
                                np.linalg.qr(a, mode="complete").R],
                  (WC, X), (0, 1)),
    "linalg-svd-uses": (lambda a, w, b: [np.linalg.pinv(w), np.linalg.pinv(a, rtol=None),
                                         np.linalg.norm(w, 2), np.linalg.norm(w, -2),
                                         np.linalg.norm(np.stack([w, w + 1]), "nuc",
                                                        axis=(2, 1), keepdims=True),
                                         np.linalg.cond(a), np.linalg.cond(a, -2),
                                         np.linalg.cond(a, "fro"), np.linalg.matrix_rank(a),
                                         np.linalg.matrix_rank(np.outer(b, b)),
                                         *np.linalg.lstsq(w.T, b[:4]),
                                         *np.linalg.lstsq(w, X.T[:3], rcond=None)],
                        (WC, X, V4), (0, 1, 2)),
    # x[mask] with a traced mask, into reductions (LABELS: rows of X)
    "mask-select": (lambda x, y: [((x - y)[y > 0] ** 2).mean(), np.sum(np.sqrt(x[x > 0])),
                                  x[x < 0.5].max(), np.min(x[x > -0.5]), x[x > 0].std(),
                                  np.var(y[y != 0], ddof=1), np.prod(x[x > 0]),
                                  np.log(x[x > 0]).sum(), np.linalg.norm(x[x > 0]),
                                  (lambda d: d[d > 0.3].sum())(x[x < 1]),
                                  (x[x > 0] > 0.5).any(), np.all(x[x > -9] > -9)],
                    (X, 0.7 * X[::-1] + 0.1), (0, 1)),
    "mask-select-rows": (lambda x, lab: [x[lab == 1].mean(axis=0), x[lab != 1].sum(axis=1).max(),
                                         np.tanh(x[lab == 1] @ x.T).sum(axis=0, keepdims=True),
                                         np.where(x[lab > 0] > 0, x[lab > 0], 0).sum(axis=0),
                                         np.clip(x[lab > 0], -0.5, 0.5).mean(),
                                         x[lab == 1][:, 1:].std(axis=0, ddof=1)],
                         (X, np.array([1, 0, 1])), (0,)),
    # scipy.special's ufuncs (P: probabilities, some exactly 0 for xlogy and the entropies)
    "scipy-special": (lambda x, p: [special.erf(x), special.erfc(x), special.ndtr(x),
                                    0.5 * x * (1 + special.erf(x / np.sqrt(2))),
                                    special.expit(x), special.log_expit(x), special.logit(p),
                                    special.xlogy(p, POS), special.xlogy(P0, p),
                                    special.xlog1py(x, p), special.entr(p), special.entr(P0),
                                    special.rel_entr(p, POS / 3), special.kl_div(p, P0 + 0.1),
                                    special.huber(0.5, x), special.pseudo_huber(0.7, x),
                                    special.exp10(x)],
                      (X, P), (0, 1)),
    "scipy-special-edges": (lambda x: [special.entr(x), special.rel_entr(P0, x),
                                       special.kl_div(x, P0), special.huber(-1.0, x),
                                       special.pseudo_huber(0.0, x), special.xlogy(P0, x)],
                            (X,), ()),
    # the gamma family (lgamma, and polygamma written for graphc), log_ndtr's three pieces
    "scipy-gamma": (lambda p, x: [special.gammaln(p), special.gammaln(x - 0.3),
                                  special.digamma(p), special.psi(x - 0.3),
                                  polygamma(1, p), special.polygamma(3, x - 0.3),
                                  special.gamma(p * 3), special.gamma(x - 0.3),
                                  special.rgamma(x - 0.3), special.gammasgn(x - 0.3),
                                  special.betaln(p, 3 * p), special.beta(p, 1.5),
                                  special.loggamma(p), special.multigammaln(p + 2, 3),
                                  special.log_ndtr(np.concatenate([x, x - 12, 8 * x - 40])),
                                  special.i0e(x * 30), special.i1e(x * 30), special.i0(x * 9),
                                  special.i1(p * 9), np.i0(x)],
                    (P, X), (0, 1)),
    "scipy-gamma-edges": (lambda x: [special.gammaln(x), special.digamma(x),
                                     polygamma(1, x), polygamma(2, x), special.gamma(x),
                                     special.gammasgn(x), special.log_ndtr(x), special.i0e(x),
                                     special.i1e(x), special.i0(x), special.i1(x)],
                          (POLES,), ()),
    # SciPy's plain Python functions (swapped for graphc's in traced code)
    "scipy-functions": (lambda x, w: [logsumexp(x), special.logsumexp(x, axis=1, b=w),
                                      special.logsumexp(x - w, axis=0, keepdims=True,
                                                        return_sign=True),
                                      special.softmax(x), special.log_softmax(x, axis=0)],
                        (X, POS), (0, 1)),
    "scipy-signal": (lambda x, k: [signal.convolve(x, k), signal.correlate(x, k, "same"),
                                   signal.convolve(x[0], k[0], "valid"),
                                   signal.correlate(k[1], x[1], "valid"),
                                   signal.convolve2d(x, k, "same", boundary="symm"),
                                   signal.convolve2d(x, k, fillvalue=0.5),
                                   signal.correlate2d(x, k, "same", boundary="wrap"),
                                   signal.correlate2d(x, k[:, :1], "valid"),
                                   signal.fftconvolve(x, k, "same")],
                     (X, SQ[:2, :3]), (0, 1)),
    # lfilter: without feedback (shifted sums), and the loop of SciPy's state form (a scan)
    "scipy-lfilter": (lambda x, b, a: [signal.lfilter(b, a, x), signal.lfilter(b, a[:1], x),
                                       signal.lfilter(b[:2], a, x.T, axis=0),
                                       signal.lfilter(b[:1], a[:2], x[0]),
                                       signal.lfilter(np.concatenate([b, b]), a[:2], x),
                                       *signal.lfilter(b, a, x, zi=x[:, :2] * 0.5),
                                       signal.lfilter([0.5, 0.25], [1.0, -0.5], x)],
                      (X, V3 * 0.5, np.array([1.2, -0.5, 0.2])), (0, 1, 2)),
    "scipy-ndimage": (lambda x, k: [ndimage.correlate(x, k), ndimage.convolve(x, k, mode="wrap"),
                                    ndimage.convolve(x, k[:, :2], mode="constant", cval=0.5,
                                                     origin=(0, -1)),
                                    ndimage.correlate(x, k[:1], mode="mirror", origin=(0, 1)),
                                    ndimage.gaussian_filter(x, 0.8),
                                    ndimage.gaussian_filter(x, (1.2, 0.0), mode="nearest"),
                                    ndimage.uniform_filter(x, (2, 3)), ndimage.sobel(x),
                                    ndimage.sobel(x, 0, mode="constant"), ndimage.prewitt(x),
                                    ndimage.laplace(x), ndimage.laplace(x, mode="wrap"),
                                    ndimage.correlate1d(x, k[0], 0, origin=1),
                                    ndimage.convolve1d(x, k[1], mode="nearest")],
                      (X, SQ[:2, :3]), (0, 1)),
    "scipy-spatial": (lambda a, b: [distance.cdist(a, b), distance.cdist(a, a, "sqeuclidean"),
                                    distance.cdist(a, b, "cityblock"),
                                    distance.cdist(a, b, "minkowski", p=3),
                                    distance.cdist(a, b, "cosine"),
                                    distance.cdist(a, b, "correlation"),
                                    distance.cdist(a, b, "chebyshev"), distance.pdist(a),
                                    distance.squareform(distance.pdist(b, "cityblock")),
                                    distance.squareform(distance.cdist(a, a)),
                                    distance.euclidean(a[0], b[1]), distance.cosine(a[1], b[0])],
                      (X, X[::-1] * 2 + 0.5), (0, 1)),
    "floor-divide": (lambda x, i: [x // 0.3, 7.0 // (x + 5), divmod(x, 0.7)[0],
                                   np.divmod(x, -0.4)[1], i // 2, -7 // np.where(i == 0, 3, i),
                                   np.floor_divide(x, 0.45), divmod(i, 3)[1]],
                     (X, IDX), (0,)),
    # numpy.polynomial: every basis's val (tensor and not), vander and fit
    "numpy-polynomial": (lambda c, x: [npoly.polynomial.polyval(x, c), cheb.chebval(x, c[:1]),
                                       cheb.chebval(x[:2], c[:2]), npoly.legendre.legval(x, c),
                                       npoly.laguerre.lagval(x, c), npoly.hermite.hermval(x, c),
                                       npoly.hermite_e.hermeval(x, np.stack([c, -c], 1)),
                                       cheb.chebval(x, np.stack([c, c * x[:4]], 1)[:, :, None],
                                                    tensor=False),
                                       cheb.chebvander(x, 3), npoly.laguerre.lagvander(x, 4),
                                       npoly.hermite.hermvander(np.stack([x, -x]), 2),
                                       npoly.polynomial.polyfit(x, np.sin(3 * x) + c[0], 2),
                                       cheb.chebfit(x, np.stack([x ** 3, x * c[1]], 1), 3,
                                                    w=1 + x ** 2),
                                       npoly.legendre.legfit(x, x * c[2], 1, full=True)[0]],
                         (V4, np.linspace(-0.8, 0.9, 6)), (0, 1)),
    "scipy-linalg": (lambda a, b: [sla.solve_triangular(a, b, lower=True),
                                   sla.solve_triangular(a, b, trans="T", unit_diagonal=True),
                                   sla.cho_solve(sla.cho_factor(a @ a.T), b),
                                   sla.cho_factor(a @ a.T, lower=True)[0],
                                   sla.cholesky(a @ a.T), sla.solve(a, b),
                                   sla.solve(a, b, assume_a="pos", lower=True), sla.inv(a),
                                   sla.det(a), sla.eigh(a @ a.T, eigvals_only=True),
                                   sla.solve_banded((1, 2), a + 3 * np.eye(4), b),
                                   sla.solve_banded((0, 0), a[:1] + 2, b), sla.expm(a / 9),
                                   sla.expm(4 * a)],  # (no squaring, then 4 or so)
                     (WC, V4), (0, 1)),
    # complex values (complexes.py): pairs of real arrays; results taken apart to real ones
    "fft-1d": (lambda x: [np.fft.fft(x).real, np.fft.fft(x).imag, np.fft.ifft(x, n=6).imag,
                          np.fft.rfft(x, axis=0).real, np.abs(np.fft.rfft(x, norm="ortho")),
                          np.fft.irfft(np.fft.rfft(x) * (1 - 2j)),
                          np.fft.irfft(np.fft.rfft(x), n=5, norm="forward"),
                          np.fft.ifft(np.fft.fft(x, 7, 0), norm="ortho").real],
               (X,), (0,)),
    "fft-nd": (lambda x: [np.abs(np.fft.fft2(x)), np.fft.ifft2(x, s=(4, 3)).imag,
                          np.fft.rfft2(x).imag, np.fft.irfft2(np.fft.rfft2(x) * 1j, s=(3, 4)),
                          np.fft.fftn(B3, axes=(0, 2)).real * 0 + np.fft.fftn(x).real,
                          np.fft.irfftn(np.fft.rfftn(x, s=(3, 6), axes=(0, 1)), axes=(0, 1)),
                          np.fft.fftshift(np.fft.fft(x)).real, np.fft.ifftshift(x, axes=1)],
               (X,), (0,)),
    # lengths: factored (96 = 12 * 8), dense prime (131), Bluestein's chirp (257)
    "fft-long": (lambda v: [np.abs(np.fft.fft(v)), np.abs(np.fft.fft(v[:96])),
                            np.fft.fft(v[:131]).imag, np.fft.irfft(np.fft.rfft(v[:200])),
                            np.fft.irfft(np.fft.rfft(v), n=514)],
                 (RNG.normal(size=257),), (0,)),
    "complex-arithmetic": (lambda x, y: (lambda z: [
        (z * z.conj()).real, (z / (y + 2j)).imag, np.abs(np.exp(1j * x) * z), np.angle(z),
        np.sqrt(z).real, np.sqrt(-z).imag, np.log(z).real, np.log(z).imag, (z ** 3).imag,
        (z ** -2).real, (z ** 0.5).real, (2 ** z).imag, np.real(z @ z.T.conj()),
        np.vdot(z, z).real, np.einsum("ij,ij->i", z, z).imag, np.sum(z, axis=0).imag,
        z.sum().real, np.concatenate([z, x]).imag, np.where(x > 0, z, 1j).imag,
        (np.sin(z) + np.cos(z)).real, np.linalg.norm(z), np.square(1 / z).real,
        (z == z.conj()).astype(float), np.reciprocal(z).imag, np.imag(x), np.real(x),
        np.conj(x), np.angle(x), x.imag, (z - 1).T.imag, z[1:, ::2].real])(x + 1j * y),
        (X, POS), (0, 1)),
    "complex-constants": (lambda x: (lambda w, h: [
        np.abs(w), (w * h[:2, :3]).imag, (h * x).real, (h / x).imag, (x + h).real,
        np.fft.irfft(np.fft.rfft(x) * h[0, :3]), x.astype(complex).imag, (x * (1 + 0j)).real])(
        _complex_filled(x), np.exp(2j * np.arange(12.0)).reshape(3, 4)), (X,), (0,)),
    # x.strides of a traced array are C strides; the windows are a gather of those places
    "as-strided": (lambda x: [as_strided(x, (2, 3, 2), (x.strides[0], x.strides[1], 8)),
                              np.lib.stride_tricks.as_strided(np.pad(x[0], 1), (4, 3),
                                                              (x.itemsize,) * 2),
                              as_strided(x, strides=(8, 32), shape=(4, 3)), x.nbytes * x[0]],
                   (X,), (0,)),
    # np.vectorize: traced once on 0-d values, its elementwise operations applied to arrays
    "vectorize": (lambda x, y: [_VEC(x), _VEC(x[0], y), np.vectorize(
        lambda a, b: math.exp(-a) * b + max(a, 0.0), otypes=[float])(x, y[::-1]),
        np.vectorize(lambda a: (a * 2, 1.0))(x)[1]], (X, POS), (0, 1)),
    "order-f": (lambda x: [np.ravel(x, order="F"), np.ravel(x, "F"), x.ravel("F"),
                           x.flatten("F"), np.reshape(x, (4, 3), "F"),
                           x.reshape(2, 6, order="F"), x.T.reshape(-1, order="F"),
                           x.reshape(2, 2, 3, order="F")[1]], (X,), (0,)),
    "rot90-linspace": (lambda x: [np.rot90(x), np.rot90(x, 3, axes=(1, 0)), np.rot90(x, 2),
                                  np.rot90(B3, 1, (2, 0)) * x[0, 0],
                                  np.linspace(x[0, 0], x[0, 1], 7),
                                  np.linspace(x[0], x[1], 5, endpoint=False, axis=1),
                                  np.linspace(0, x[1, 1], 1), np.linspace(x[2], 3.0, 4)[2],
                                  np.float_power(np.abs(x), 1.5), np.copysign(x, x[::-1]),
                                  np.copysign(2.0, ODD[1:, 1:]), np.signbit(ODD[1:, 1:])],
                       (X,), (0,)),

    "numpy-calculus": (lambda x, t: [np.gradient(x), np.gradient(x, 0.5, t, edge_order=2),
                                     np.gradient(x[0], t), np.gradient(x[:2], axis=0),
                                     np.gradient(x, t, axis=1, edge_order=2),
                                     np.trapezoid(x), np.trapezoid(x, t),
                                     np.trapezoid(x, dx=0.1, axis=0),
                                     np.trapezoid(x, np.cumsum(POS, axis=1), axis=1),
                                     np.unwrap(x * 3), np.unwrap(x * 3, axis=0),
                                     np.unwrap(x * 90, period=360, discont=200)],
                       (X, KNOTS[:4]), (0, 1)),
    "numpy-interp": (lambda x, xp, fp: [np.interp(x, xp, fp), np.interp(x * 4, xp, fp, -1.0, 2.0),
                                        np.interp(np.float32(2.5), xp, fp),
                                        np.interp(x, xp[:1], fp[:1])],
                     (X, KNOTS, np.sin(KNOTS)), (0, 1, 2)),
    "numpy-poly-windows": (lambda x, v: [np.vander(v), np.vander(v, 2, increasing=True),
                                         np.polyval(v, x), np.polyval([1.0, -2.0, 0.5], x),
                                         np.lib.stride_tricks.sliding_window_view(v, 2),
                                         np.lib.stride_tricks.sliding_window_view(x, (2, 3)),
                                         np.lib.stride_tricks.sliding_window_view(x, 2, axis=0),
                                         np.partition(x, 2, axis=1)[:, 2:],
                                         np.sort(x[np.argpartition(x[:, 0], 1)[:1]])],
                           (X, V3), (0, 1)),
    "select-choose-put": (lambda x: [np.select([x < -0.5, x > 0.5], [x ** 2, np.sin(x)], x * 3),
                                     np.select([x > 0], [1], 0),
                                     np.piecewise(x, [x < 0.1, x >= 0.1],
                                                  [lambda v: v ** 2, lambda v: np.log(v)]),
                                     np.piecewise(x, [x < -1, x > 0.2],
                                                  [np.negative, np.sqrt, 7.0]),
                                     np.choose(IDX[:3] % 2, [x[:, 0], x[:, 1]]),
                                     np.choose(np.array([3, -1, 2, 0]), [x[0], x[1], x[2]],
                                               mode="wrap"),
                                     np.isclose(x, np.round(x), atol=0.25),
                                     np.isclose(ODD, ODD, equal_nan=True), np.allclose(x, x),
                                     *np.broadcast_arrays(x[:, :1], x[:1]), _put(x),
                                     np.apply_along_axis(lambda v: v[::-1] * v.sum(), 1, x),
                                     np.apply_along_axis(lambda v: np.outer(v, v), 0, x)],
                          (X,), (0,)),
    "ufuncs-more": (lambda x: [np.deg2rad(x), np.radians(x), np.rad2deg(x), np.degrees(x),
                               np.cbrt(x), np.fmod(3 * x, 0.7), np.fmod(x, -0.4), np.fabs(x),
                               np.fabs(IDX), np.deg2rad(IDX), np.logaddexp.reduce(x, axis=1),
                               np.logaddexp2.reduce(x), np.logaddexp.reduce(x, None),
                               np.concatenate([x, x[0], V3], axis=None)],
                    (X,), (0,)),
    "linalg-integers": (lambda i: [np.linalg.det(i), np.linalg.inv(i)], (INT2,), ()),
}


def _gaussian_nll(cov, x):
    """The negative log-likelihood of rows x under N(0, cov), via Cholesky (as a GP's)."""
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(L, x.T)
    return 0.5 * (z ** 2).sum() + x.shape[0] * np.log(np.diag(L)).sum()


def _matrix_function(f, a):
    """f of the symmetric matrix whose lower triangle is a's: V f(w) V^T."""
    w, v = np.linalg.eigh(a)
    return (v * f(w)) @ v.T


def _rebuilt(w):
    u, s, vh = np.linalg.svd(w, full_matrices=False)
    return (u * s[..., None, :]) @ vh


def _filled(x, v, wrap=False):
    y = np.tanh(x)
    np.fill_diagonal(y, v, wrap=wrap)
    return y


def _put_along(x, i, v):
    y = np.exp(x)
    np.put_along_axis(y, i, v[:, None], axis=1)
    np.put_along_axis(y, np.array([[0, 2, 1, 0]]), 2.0, axis=0)
    return y


EINSUM = {
    "bij,bjk->bik": (B3, B4[:, :, :3].transpose(0, 1, 2)),
    "ij,jk->ik": (X, SQ),
    "ij->ji": (X,),
    "ii->": (SQ,),
    "ii->i": (SQ,),
    "i,i->": (V4, V4[::-1]),
    "ij,ij->i": (X, X * 2),
    "bi,bi->b": (X, X[::-1]),
    "bij->bji": (B3,),
    "ij,j->i": (X, V4),
    "i,j->ij": (V3, V4),
    "ij->": (X,),
    "ij,jk": (X, SQ),
    "ij,jk,kl->il": (X, SQ, SQ.T),
    "bij,bkj->bik": (B3, B3[:, :2] * 3),
    "ijk,ikl->jl": (B3, B4),
    "...j,...j": (B3, B3[::-1]),
    "...ij,...jk->...ik": (B3, B4),
    "i...,i...->...": (X, X * 2),
    "...i,i": (B3, V4),
    "b...,...->b...": (B3[:, :1], X),
}
for _spec, _args in EINSUM.items():
    CASES[f"einsum[{_spec}]"] = ((lambda *xs, s=_spec: np.einsum(s, *xs)), _args,
                                 tuple(range(len(_args))))


def _floats(tree):
    return [x for x in flatten(tree)[0]
            if (x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype).kind == "f"]


def _assert_tree(got, want, **tol):
    g, w = flatten(got)[0], flatten(want)[0]
    assert len(g) == len(w)
    for a, b in zip(g, w):
        assert np.shape(a) == np.shape(b)
        assert np.asarray(a).dtype == np.asarray(b).dtype, (np.asarray(a).dtype, np.asarray(b).dtype)
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("name", CASES)
def test_value_reference_and_gradient(name):
    fn, args, diff = CASES[name]
    tol = dict(rtol=1e-10, atol=1e-12)
    want = fn(*args)
    f = graphc.jit(fn)
    _assert_tree(f(*args), want, **tol)
    _assert_tree(f.reference(*args), want, **tol)
    if not diff:
        return
    us = [np.random.default_rng(1).normal(size=np.shape(o)) for o in _floats(want)]

    def loss(*xs):
        return sum((o * u).sum() for o, u in zip(_floats(fn(*xs)), us))

    vg = graphc.value_and_grad(loss, argnums=diff)
    (v, g), (rv, rg) = vg(*args), vg.reference(*args)
    np.testing.assert_allclose(v, rv, **tol)
    _assert_tree(g, rg, **tol)
    rng = np.random.default_rng(2)
    vs = {k: rng.normal(size=np.shape(args[k])) for k in diff}

    def at(t):
        return loss(*(a + t * vs[k] if k in vs else a for k, a in enumerate(args)))

    eps = 1e-6
    fd = (at(eps) - at(-eps)) / (2 * eps)
    ad = sum(float(np.sum(gk * vs[k])) for gk, k in zip(g, diff))
    assert ad == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_eigh_signs_each_eigenvector_and_reads_one_triangle():
    """NumPy's eigenvalues; its eigenvectors with the sign that makes each one's largest entry
    positive (LAPACK leaves it open, and the CUDA target must give the same)."""
    w, v = graphc.jit(np.linalg.eigh)(WC)
    want = np.linalg.eigh(WC)
    np.testing.assert_allclose(w, want.eigenvalues, rtol=1e-12)
    np.testing.assert_allclose(np.abs(v), np.abs(want.eigenvectors), rtol=1e-10, atol=1e-12)
    assert (v[np.abs(v).argmax(axis=0), range(4)] > 0).all()
    upper = graphc.jit(lambda a: np.linalg.eigh(a, UPLO="U").eigenvalues)(WC)
    np.testing.assert_allclose(upper, np.linalg.eigvalsh(WC, UPLO="U"), rtol=1e-12)
    with pytest.raises(graphc.UnsupportedError, match="UPLO must be 'L' or 'U'"):
        graphc.jit(lambda a: np.linalg.eigh(a, UPLO="X"))(WC)


def test_running_extremes_give_ties_to_the_earlier_element():
    """A running extreme that a later equal value ties keeps its first holder, which gets the
    gradient of every place it holds (as np.max's first-index convention); a NaN, once met,
    holds every place after it."""
    w = np.arange(1.0, 6.0)
    g = graphc.grad(lambda x: (np.maximum.accumulate(x) * w).sum())
    np.testing.assert_array_equal(g(np.array([1.0, 3.0, 3.0, 2.0, 3.0])), [1, 14, 0, 0, 0])
    np.testing.assert_array_equal(g(np.array([1.0, np.nan, 3.0, 2.0, 4.0])), [1, 14, 0, 0, 0])
    # running from the end: the 1 met first there (index 3) holds the first four places
    rev = graphc.grad(lambda x: (np.flip(np.minimum.accumulate(np.flip(x))) * w).sum())
    np.testing.assert_array_equal(rev(np.array([2.0, 1.0, 3.0, 1.0, 5.0])), [0, 0, 0, 10, 5])


def test_gather_adjoint_accumulates_repeated_indices():
    w = np.arange(15.0).reshape(5, 3)
    idx = np.array([4, 1, 4, -1, 0, 4])
    g = graphc.grad(lambda w, i: (w[i] * np.arange(6.0)[:, None]).sum())(w, idx)
    want = np.zeros((5, 3))
    np.add.at(want, idx, np.arange(6.0)[:, None] * np.ones((1, 3)))
    np.testing.assert_array_equal(g, want)  # row 4: 0 + 2 + 3 (the -1) + 5
    assert g[4, 0] == 10 and g[2].sum() == 0


def test_embedding_lookup_float32():
    emb = np.random.default_rng(3).normal(size=(10, 4)).astype(np.float32)
    tokens = np.array([[1, 9, 1], [0, 1, 9]])
    vg = graphc.value_and_grad(lambda e, t: np.tanh(e[t]).sum())
    (v, g), (rv, rg) = vg(emb, tokens), vg.reference(emb, tokens)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, rg, rtol=2e-6, atol=1e-6)
    assert v == pytest.approx(rv, rel=1e-6)


def test_transcendentals_keep_float32_and_match_numpy():
    x = np.linspace(-0.9, 0.9, 64, dtype=np.float32)
    fns = [np.tan, np.sinh, np.cosh, np.arcsin, np.arccos, np.arctan, np.arcsinh,
           np.arctanh, np.exp2, np.floor, np.ceil, lambda x: np.arccosh(2 + x),
           lambda x: np.log2(x + 1), lambda x: np.log10(x + 1), lambda x: np.hypot(x, 0.5),
           lambda x: np.arctan2(x, -0.5), lambda x: np.mod(x, 0.25)]
    for fn in fns:
        got = graphc.jit(fn)(x)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, fn(x), rtol=4e-7, atol=1e-7)


def test_floor_and_ceil_of_integers_are_identity():
    k = np.array([3, -2, 7])
    assert graphc.jit(lambda k: np.floor(k) + np.ceil(k))(k).dtype == k.dtype
    g = graphc.grad(lambda x: (np.floor(x) * x + np.ceil(x)).sum())(np.array([1.5, -0.5]))
    np.testing.assert_array_equal(g, [1.0, -1.0])  # floor and ceil contribute zero


def test_graphc_numpy_array_of_tracers():
    def f(a, b):
        m = graphc.numpy.array([[a, b], [b * 2, 1.0]])
        return (m @ m).sum()

    v, g = graphc.value_and_grad(f, argnums=(0, 1))(0.5, -1.5)
    m = np.array([[0.5, -1.5], [-3.0, 1.0]])
    assert v == pytest.approx((m @ m).sum())
    h = 1e-6
    fd = [(f(0.5 + h, -1.5) - f(0.5 - h, -1.5)) / (2 * h),
          (f(0.5, -1.5 + h) - f(0.5, -1.5 - h)) / (2 * h)]
    assert g == pytest.approx(fd, rel=1e-6)


# ------------------------------------------------------------------------------ errors
def _line(fn, text):
    src, start = inspect.getsourcelines(fn)
    return f"test_ops_more.py:{start + next(k for k, ln in enumerate(src) if text in ln)}"


def test_constant_index_out_of_range_is_found_while_tracing():
    def f(x):
        return x[[0, 3]].sum()

    with pytest.raises(OutOfBoundsError, match=r"index 3 is out of bounds.*size 3") as err:
        graphc.grad(f)(X)
    assert _line(f, "x[[0, 3]]") in str(err.value)
    with pytest.raises(OutOfBoundsError, match="-5"):
        graphc.jit(lambda x: np.take(x, [-5], axis=1))(X)


def test_several_index_arrays_check_each_axis():
    def f(x, i, j):
        return (x[i, j] ** 2).sum()

    vg = graphc.value_and_grad(f, argnums=0)
    i, j = np.array([0, 2, -3]), np.array([3, -4, 1])
    v, g = vg(X, i, j)
    assert v == pytest.approx(f(X, i, j))
    with pytest.raises(OutOfBoundsError, match=r"axis 1 with size 4.*: 4") as err:
        vg(X, i, np.array([0, 4, 1]))  # a flat index still in range must not pass
    assert _line(f, "x[i, j]") in str(err.value)
    with pytest.raises(OutOfBoundsError, match=r"axis 0 with size 3.*: -4"):
        vg(X, np.array([0, -4, 1]), j)
    with pytest.raises(ShapeError, match=r"broadcast.*\(2,\) \(3,\)"):
        vg(X, i[:2], j)
    with pytest.raises(OutOfBoundsError, match=r"index 3 .* \(axis 0 of an array of shape"):
        graphc.jit(lambda x: x[[3], [0]])(X)


@pytest.mark.parametrize("bad", [4, -5, 100])
def test_index_argument_out_of_range_raises_before_reading(bad):
    def f(x, i):
        return (x[:, i] ** 2).sum()

    vg = graphc.value_and_grad(f)
    vg(SQ, np.array([0, 3, -4]))  # fine
    with pytest.raises(OutOfBoundsError, match=rf"gather.*size 4.*\(4, 4\).*: {bad}") as err:
        vg(SQ, np.array([0, bad, 1]))
    assert _line(f, "x[:, i]") in str(err.value)


@pytest.mark.parametrize("fn", [
    lambda x: x[x > 0], lambda x: len(x[x > 0]), lambda x: x[x > 0].shape[0],
    lambda x: x[x > 0][0], lambda x: np.ones(3) @ x[x > 0], lambda x: np.cumsum(x[x > 0]),
    lambda x: x[x > 0] + x[x < 0], lambda x: x[x[:, 0] > 0] * x, lambda x: x[x > 0, 1],
], ids=["result", "len", "shape", "position", "rmatmul", "cumsum", "two-masks", "operand",
        "mask-and-index"])
def test_traced_boolean_mask_refuses_what_needs_the_count(fn):
    """x[mask]'s length is data: whatever needs it is named, with the rewrite."""
    with pytest.raises(UnsupportedError, match=r"which is data|np\.where\(mask, x, 0\)"):
        graphc.jit(fn)(X)


def test_scipy_special_keeps_float32_and_names_what_it_lacks():
    x = X.astype(np.float32)
    for fn in (special.erf, special.expit, special.entr, special.log_expit,
               lambda x: special.huber(np.float32(0.5), x), lambda x: special.gammaln(x - 0.3),
               special.log_ndtr, lambda x: special.digamma(x + 1.5)):
        got, want = graphc.jit(fn)(x), fn(x)
        assert got.dtype == want.dtype == np.float32
        # (digamma near its zero: within 2 ulps of log(x + 10), which its sum passes through)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=5e-7)
    with pytest.raises(UnsupportedError, match=r"scipy\.special\.erfinv is not supported"):
        graphc.jit(special.erfinv)(P)
    with pytest.raises(UnsupportedError, match=r"polygamma: n needs a constant non-negative"):
        graphc.jit(polygamma)(np.array(1), P)


def test_empty_traced_selection():
    """Nothing selected: sums are 0 and means NaN as in NumPy; max is -inf and min +inf (the
    identities), where NumPy raises; the gradient is 0."""
    f = graphc.jit(lambda x: [x[x > 9].sum(), x[x > 9].max(), np.min(x[x > 9])])
    assert f(X) == [0.0, -np.inf, np.inf]
    assert np.isnan(graphc.jit(lambda x: x[x > 9].mean())(X))
    np.testing.assert_array_equal(graphc.grad(lambda x: np.log(x[x > 9]).sum())(X), 0 * X)


def test_traced_boolean_mask_indexes_a_constant_one():
    for f in (lambda x: x[np.array([True, False, True])], lambda x: x[:, [True] * 3 + [False]],
              lambda x: x[X > 0]):
        np.testing.assert_array_equal(graphc.jit(f)(X), f(X))
        np.testing.assert_array_equal(graphc.grad(lambda x: f(x).sum())(X),
                                      graphc.grad(lambda x: f(x).sum()).reference(X))


def test_a_branch_that_where_leaves_out_contributes_an_exact_zero():
    """d/dx where(c, f(x), y) is f'(x) where c holds and 0 elsewhere, even where f' is
    infinite (log, sqrt, 1/x at 0): 0 * inf must not make a NaN (PyTorch's and JAX's do)."""
    q = np.array([1.0, 0.0, 0.25])
    kl = graphc.grad(lambda p: np.where(q > 0, q * np.log(q / p), 0.0).sum())
    np.testing.assert_allclose(kl(np.array([0.5, 0.5, 0.5])), [-2, 0, -0.5])
    x = np.array([0.0, -1.0, 4.0, 0.25])

    def f(x):
        root = np.where(x > 0, np.sqrt(x) * 3, 0.0)
        logs = np.where(x < 0.5, x, np.log(x) ** 2)
        rows = np.arange(2)[:, None] >= 0
        grid = np.where((x > 0.1) & rows, np.log(np.abs(x)) + 1 / x, 0.0)  # x broadcast
        return (root + logs).sum() + grid.sum() + (np.exp(root) * logs).sum()

    g = graphc.grad(f)(x)
    assert np.isfinite(g).all()
    h = 1e-7  # the finite x (4.0, 0.25) against differences; the rest take no branch's f'
    for k in (2, 3):
        e = np.eye(4)[k] * h
        assert g[k] == pytest.approx((f(x + e) - f(x - e)) / (2 * h), rel=1e-6)
    np.testing.assert_array_equal(g[:2], [2.0, 2.0])  # x = 0, -1: only logs' x, twice
    hess = graphc.grad(lambda x: graphc.grad(f)(x)[3])(x)
    assert np.isfinite(hess).all()


def test_python_max_min_and_imports_inside_traced_code():
    """Python's max and min of traced numbers compare as Python does (the first of equals, a
    NaN first, wins); imports inside the traced function get graphc's NumPy and SciPy."""
    def f(x):
        import numpy as numpy_inside
        import scipy.linalg
        import scipy.special as sp
        from scipy.special import gammaln

        return (max(x[0], 0.0) + min(x[1], x[2], 0.3) + max(x) + min([x[0], x[2]]) + max(1, 2)
                + sp.logsumexp(x) + scipy.linalg.solve_triangular(SQ, x, lower=True).sum()
                + gammaln(x + 3).sum() + numpy_inside.ones(4).sum())

    x = V4 + np.array([0.0, 0.0, 0.0, 0.5])
    v, g = graphc.value_and_grad(f)(x)
    assert v == pytest.approx(f(x), rel=1e-12)
    e = np.eye(4) * 1e-6
    np.testing.assert_allclose(g, [(f(x + d) - f(x - d)) / 2e-6 for d in e], rtol=1e-6)
    assert list(graphc.grad(lambda x: max(x[0], x[1]))(np.ones(2))) == [1, 0]
    assert list(graphc.grad(lambda x: min(x[1], x[0]))(np.ones(2))) == [0, 1]
    assert np.isnan(graphc.jit(lambda x: max(x[0], x[1]))(np.array([np.nan, 1.0])))
    assert graphc.jit(lambda x: max(x[0], x[1]))(np.array([1.0, np.nan])) == 1.0
    with pytest.raises(graphc.TracerBoolError):  # arrays, as in NumPy
        graphc.jit(lambda x: max(x[:2], x[2:]))(V4)


_XS = np.array([-1.5, -0.3, 0.0, 0.2, 0.5, 1.0, 1.7, 3.0])  # out of support, on its edge, in
_KS = np.array([-1.0, 0.0, 1.0, 2.0, 2.5, 3.0, 7.0])
STATS_CASES = {
    "norm": (lambda p, x: stats.norm.logpdf(x, p[0], p[1] ** 2) + stats.norm.pdf(x, p[0])
             + norm.logpdf(x, loc=p[0], scale=p[1]) + stats.norm.cdf(x, p[0], p[1])
             + stats.norm.logcdf(x, p[0]) + stats.norm.sf(x, scale=p[1])
             + stats.norm.logsf(x), _XS),
    "t-cauchy": (lambda p, x: stats.t.logpdf(x, p[1] * 3, loc=p[0], scale=p[1])
                 + stats.cauchy.logpdf(x, p[0], p[1]) + stats.cauchy.cdf(x, p[0])
                 + stats.cauchy.logsf(x, scale=p[1]), _XS),
    "laplace-logistic": (lambda p, x: stats.laplace.logpdf(x, p[0], p[1])
                         + stats.laplace.cdf(x, p[0], p[1]) + stats.laplace.logcdf(x, p[0])
                         + stats.logistic.logpdf(x, p[0], p[1]) + stats.logistic.cdf(x, p[0])
                         + stats.logistic.logsf(x, p[0]), _XS),
    "positive": (lambda p, x: stats.expon.logpdf(x, scale=p[1]) + stats.expon.logsf(x, scale=p[1])
                 + stats.expon.cdf(x, p[0]) + stats.halfnorm.logpdf(x, scale=p[1])
                 + stats.uniform.logpdf(x, p[0] - 1, 3) + stats.uniform.cdf(x, p[0] - 1, p[1] + 2)
                 + stats.lognorm.logpdf(x, p[1], scale=np.exp(p[0]))
                 + stats.lognorm.cdf(x, s=p[1]) + stats.invgamma.logpdf(x, p[1] * 2, scale=p[1]),
                 _XS),
    "gamma-beta-weibull": (lambda p, x: stats.gamma.logpdf(x, p[1] * 2, scale=p[1])
                           + stats.gamma.logpdf(x, a=1.0) + stats.gamma.logpdf(x, 0.5)
                           + stats.chi2.logpdf(x, p[1] * 3) + stats.beta.logpdf(x, p[1], 2.0)
                           + stats.beta.logpdf(x, 1.0, p[1] * 2)
                           + stats.beta.logpdf(x / 3, 0.5, 0.7)
                           + stats.weibull_min.logpdf(x, p[1] * 2, scale=2.0)
                           + stats.weibull_min.logsf(x, p[1] * 2)
                           + stats.weibull_min.logpdf(x, 0.5), _XS),
    "discrete": (lambda p, k: stats.poisson.logpmf(k, p[1] * 3) + stats.poisson.pmf(k, mu=p[0])
                 + stats.binom.logpmf(k, 5, p[1] / 2) + stats.binom.logpmf(k, n=3, p=0.4)
                 + stats.nbinom.logpmf(k, p[1] * 2, 0.3) + stats.nbinom.logpmf(k, 2.5, p[1] / 2)
                 + stats.bernoulli.logpmf(k, p[1] / 2) + stats.geom.logpmf(k, p[1] / 2), _KS),
    "frozen-invalid": (lambda p, x: stats.norm(p[0], p[1]).logpdf(x)
                       + stats.gamma(2.0, scale=p[1]).logpdf(x)
                       + stats.norm.logpdf(x, p[0], -p[1]) + stats.gamma.logpdf(x, -p[1]), _XS),
    "vonmises": (lambda p, x: stats.vonmises.logpdf(x, p[1] * 3, loc=p[0])
                 + stats.vonmises.pdf(x, 0.5, scale=p[1]), _XS),
}


@pytest.mark.parametrize("name", STATS_CASES)
def test_scipy_stats_distributions(name):
    """scipy.stats' log-densities and CDFs against SciPy's, NaN and infinities included
    (points outside the support, on its edge, invalid parameters); the gradient with respect
    to the parameters against finite differences of SciPy's where the value is finite."""
    fn, x = STATS_CASES[name]
    p = np.array([0.3, 1.2])
    got, want = graphc.jit(fn)(p, x), fn(p, x)
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    u = np.where(np.isfinite(want), np.cos(np.arange(x.size)), 0)

    def loss(p):
        v = fn(p, x)
        return (np.where(np.isfinite(v), v, 0) * u).sum()

    g = graphc.grad(loss)(p)
    fd = [(loss(p + d) - loss(p - d)) / 2e-6 for d in np.eye(2) * 1e-6]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


def test_scipy_stats_multivariate_and_what_is_missing():
    x, cov = RNG.normal(size=(5, 3)), np.eye(3) + 0.3

    def fn(p):
        return (multivariate_normal.logpdf(x, mean=p[:3], cov=cov * p[3])
                + stats.multivariate_normal.logpdf(x[:, 0], p[0], p[3] ** 2).sum()
                + multivariate_normal(p[:3], np.diag(p[3:] ** 2)).pdf(x)
                + multivariate_normal.logpdf(x[0], cov=cov)
                + stats.dirichlet.logpdf(np.abs(x[:3]) / np.abs(x[:3]).sum(0), p[3:]).sum()
                + stats.dirichlet.pdf(np.full(3, 1 / 3), p[3:]))

    p = np.array([0.1, -0.2, 0.3, 1.3, 0.8, 1.1])
    np.testing.assert_allclose(graphc.jit(fn)(p), fn(p), rtol=1e-10)
    fd = [(fn(p + d).sum() - fn(p - d).sum()) / 2e-6 for d in np.eye(6) * 1e-6]
    np.testing.assert_allclose(graphc.grad(lambda p: fn(p).sum())(p), fd, rtol=1e-6)
    with pytest.raises(UnsupportedError, match=r"scipy\.stats\.t\.cdf is not supported"):
        graphc.jit(lambda p: stats.t.cdf(p, 3.0))(p)
    with pytest.raises(UnsupportedError, match=r"scipy\.stats\.norm\.rvs is not supported"):
        graphc.jit(lambda p: norm.rvs(p))(p)
    with pytest.raises(UnsupportedError, match=r"scipy\.stats\.rice is not supported by "
                                               r"graphc \(it has bernoulli, beta"):
        graphc.jit(lambda p: stats.rice.logpdf(p, 2.0))(p)


def test_unsupported_forms_are_named():
    with pytest.raises(UnsupportedError, match="np.unique of a traced array is not supported: "
                                               "the length of its result depends on the data"):
        graphc.jit(lambda x: len(np.unique(x)))(V3)
    with pytest.raises(UnsupportedError, match=r"np.nonzero .* boolean mask x\[cond\]"):
        graphc.jit(lambda x: x[np.nonzero(x > 0)])(V3)
    with pytest.raises(UnsupportedError, match="newaxis"):
        graphc.jit(lambda x: x[None, [0, 1], [1, 2]])(X)
    with pytest.raises(UnsupportedError, match="matrix ord=3"):
        graphc.jit(lambda x: np.linalg.norm(x, 3, axis=(0, 1)))(X)
    with pytest.raises(UnsupportedError, match="full_matrices=False"):
        graphc.jit(lambda x: np.linalg.svd(x)[0])(X)
    with pytest.raises(UnsupportedError, match=r"index graphc\.numpy\.constant\(a\)\[i\]"):
        graphc.jit(lambda i: np.arange(3.0)[i])(np.array([0, 2]))
    table = np.arange(12.0).reshape(3, 4)
    pick = graphc.jit(lambda i, j: graphc.numpy.constant(table)[i, j] * 2)
    np.testing.assert_array_equal(pick(np.array([0, 2]), np.array([3, 1])), [6, 18])
    with pytest.raises(graphc.ArgumentError, match=r"lfilter: a\[0\] must not be 0"):
        graphc.jit(lambda x: signal.lfilter([1.0], [0.0, -0.5], x))(V3)
    with pytest.raises(ShapeError, match=r"lfilter: zi must have shape \(2,\)"):
        graphc.jit(lambda x: signal.lfilter([1.0], [1.0, -0.5, 0.1], x, zi=x[:1]))(V3)
    with pytest.raises(UnsupportedError, match="mode"):
        graphc.jit(lambda x: np.pad(x, 1, mode="maximum"))(X)
    with pytest.raises(UnsupportedError, match="needs initial"):
        graphc.jit(lambda x: np.max(x, where=x > 0))(X)
    with pytest.raises(UnsupportedError, match="minlength"):
        graphc.jit(lambda i: np.bincount(i))(IDX)
    with pytest.raises(UnsupportedError, match="constant bins"):
        graphc.jit(lambda x: np.digitize(x, x))(V3)
    with pytest.raises(ShapeError, match="equal division"):
        graphc.jit(lambda x: np.split(x, 3, axis=1))(X)
    with pytest.raises(ShapeError, match="einsum"):
        graphc.jit(lambda x: np.einsum("ij,jk->ik", x, x))(X)


# --------------------------------------------------------------------- second derivatives
@pytest.mark.parametrize("fn", [
    np.tan, np.sinh, np.cosh, np.arcsin, np.arccos, np.arctan, np.arcsinh, np.arctanh,
    np.exp2, np.log2, np.log10, lambda x: np.arccosh(1.5 + x), lambda x: np.hypot(x, 0.7),
    lambda x: np.arctan2(0.3, x), lambda x: np.logaddexp(x, 0.2), lambda x: np.mod(x, 0.3) * x,
], ids=lambda f: getattr(f, "__name__", "lambda"))
def test_second_derivative_of_scalar_functions(fn):
    """The VJP rules are IR: grad(grad(f)) equals finite differences of grad(f)."""
    d1, d2 = graphc.grad(fn), graphc.grad(graphc.grad(fn))
    x, h = 0.4, 1e-5
    assert d2(x) == pytest.approx((d1(x + h) - d1(x - h)) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("name", ["prod", "cumsum", "gather", "einsum", "cumprod", "cummax",
                                  "linalg"])
def test_hessian_vector_products_of_array_ops(name):
    fn = {"prod": lambda x: (np.prod(x, axis=1) ** 2).sum(),
          "cumsum": lambda x: (np.cumsum(x, axis=0) ** 3).sum(),
          "gather": lambda x: (x[IDX] ** 3).sum(),
          "einsum": lambda x: (np.einsum("ij,kj->ik", x, x) ** 2).sum(),
          "cumprod": lambda x: (np.cumprod(x, axis=1) ** 2).sum(),
          "cummax": lambda x: (np.maximum.accumulate(x, axis=1) ** 3).sum(),
          "linalg": lambda x: np.linalg.slogdet(x @ x.T + np.eye(3))[1]
          + np.linalg.solve(x[:, :3] + 3 * np.eye(3), x).sum()
          + np.log(np.diag(np.linalg.cholesky(x @ x.T + np.eye(3)))).sum()
          + (np.linalg.eigh(x @ x.T)[1][:, -1] ** 3).sum()
          + np.linalg.norm(x, "nuc") + (np.linalg.svd(x, full_matrices=False)[0] ** 3).sum()
          + (np.linalg.qr(x.T)[0] ** 3).sum() + (np.linalg.qr(x)[1] ** 3).sum()}[name]
    v = np.random.default_rng(5).normal(size=X.shape)
    hv = graphc.grad(lambda x: (graphc.grad(fn)(x) * v).sum())(X)
    g = graphc.grad(fn)
    h = 1e-6
    np.testing.assert_allclose(hv, (g(X + h * v) - g(X - h * v)) / (2 * h), rtol=1e-5,
                               atol=1e-6)


def test_complex_values_keep_float32_and_come_back_joined():
    x32 = RNG.normal(size=16).astype(np.float32)
    v, g = graphc.value_and_grad(lambda x: np.sum(np.abs(np.fft.fft(x * (1 + 0.5j)))))(x32)
    assert v.dtype == np.float32 and g.dtype == np.float32
    np.testing.assert_allclose(v, np.sum(np.abs(np.fft.fft(x32 * (1 + 0.5j)))), rtol=1e-5)
    # complex results: NumPy's complex arrays and scalars, inside any structure of results
    f = graphc.jit(lambda x: (np.fft.fft(x), {"z": np.sum(np.exp(1j * x)), "r": x.sum()},
                              np.fft.rfft(x.astype(np.float32))))
    for got in (f(X), f.reference(X)):
        assert got[0].dtype == np.complex128 and type(got[1]["z"]) is np.complex128
        assert got[2].dtype == np.complex64 and type(got[1]["r"]) is np.float64
        np.testing.assert_allclose(got[0], np.fft.fft(X), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[1]["z"], np.sum(np.exp(1j * X)), rtol=1e-12)
        np.testing.assert_allclose(got[2], np.fft.rfft(X), rtol=1e-5, atol=1e-5)
    z32 = graphc.jit(lambda x: np.exp(1j * x).sum())(x32)  # a 0-d one keeps float32's type
    assert type(z32) is np.complex64 and z32 == pytest.approx(np.exp(1j * x32).sum(), rel=1e-5)
    (v, aux), g = graphc.value_and_grad(lambda x: (np.sum(np.abs(np.fft.fft(x))),
                                                   np.fft.fft(x)[0]), has_aux=True)(X)
    np.testing.assert_allclose(aux, np.fft.fft(X)[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(UnsupportedError, match=r"complex value where graphc needs a real one"):
        graphc.grad(lambda x: np.sum(np.fft.fft(x)))(X)
    with pytest.raises(UnsupportedError, match=r"numpy.maximum of complex values"):
        graphc.jit(lambda x: np.maximum(np.fft.fft(x), 0).real)(X)
    with pytest.raises(UnsupportedError, match=r"no order"):
        graphc.jit(lambda x: (x * 1j < 1).sum())(X)
    with pytest.raises(UnsupportedError, match=r"rfft of a complex value"):
        graphc.jit(lambda x: np.fft.rfft(x * 1j).real)(X)
    with pytest.raises(graphc.ArgumentError, match=r"complex128.*\.real and \.imag"):
        graphc.grad(lambda x, h: np.sum(np.abs(x * h)))(X, X * 1j)
    with pytest.raises(UnsupportedError, match=r"order='K'"):
        graphc.jit(lambda x: np.ravel(x, order="K"))(X)


def test_numpy_functions_of_lists_holding_traced_values():
    # NumPy makes an array of such a list before graphc can see it; graphc stacks it instead
    # and calls again. Each NumPy function stays one object in traced code (``is`` holds).
    from numpy import mean as np_mean, tanh as np_tanh

    w = np.array([0.3, -0.4, 0.8])
    programs = [
        lambda w: np.mean([w[0] ** 2, w[1] * w[2], np.sum(w)]),
        lambda w: np.sum([w, w * 2]) + np.max([w[0], w[1] * 3]) + np_mean([w[0], w[1]]),
        lambda w: np.sum(np.maximum.reduce([w, w * 2, -w])) + np.exp([w[0], w[1]]).sum(),
        lambda w: np.sum(np.add.accumulate((w[0], w[1], w[2])) ** 2) + np.dot([w[0], 1.0], w[:2]),
        lambda w: np.std([np.sum(w * k) for k in range(4)]),
        lambda w, act=np.tanh: np.sum(1 - act(w) ** 2) if act is np.tanh else np.sum(w),
        lambda w: np.sum(w) if np_tanh is np.tanh and np.abs is np.absolute else -np.sum(w),
    ]
    for f in programs:
        v, g = graphc.value_and_grad(f)(w)
        assert v == pytest.approx(f(w), rel=1e-12)
        fd = [(f(w + e) - f(w - e)) / 2e-6 for e in np.eye(3) * 1e-6]
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_frompyfunc_of_traced_values_is_vectorize():
    def f(x):
        softplus = np.frompyfunc(lambda v: np.log1p(np.exp(v)), 1, 1)
        return np.sum(softplus(x).astype(float) ** 2) + softplus(2.0)

    x = np.array([0.3, -1.0, 2.0])
    v, g = graphc.value_and_grad(f)(x)
    assert v == pytest.approx(f(x), rel=1e-12)
    np.testing.assert_allclose(g, [(f(x + e) - f(x - e)) / 2e-6 for e in np.eye(3) * 1e-6],
                               rtol=1e-6)


EYE4, CLASS_W = np.eye(4), np.array([0.5, 1.0, 2.0, 1.0])


def test_numpy_arrays_named_by_traced_code_take_traced_indices():
    def f(w, y, alpha=np.array([0.25, 0.5, 0.25, 0.0])):
        return np.sum(CLASS_W[y] * (EYE4[y] @ w)) + np.sum(alpha[y] * w[y]) + EYE4.sum()

    w, y = np.array([0.3, -0.4, 0.8, 0.1]), np.array([0, 3, 2, 1, 1])
    v, g = graphc.value_and_grad(f)(w, y)
    assert v == pytest.approx(f(w, y), rel=1e-12)
    fd = [(f(w + e, y) - f(w - e, y)) / 2e-6 for e in np.eye(4) * 1e-6]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_python_math_functions_of_traced_values():
    import math
    from math import exp, sqrt

    def f(w):
        import math as m
        return (math.sqrt(np.sum(w ** 2)) + exp(w[0]) + math.tanh(w[1]) + math.log(w[2], 2)
                + m.atan2(w[0], w[1]) + sqrt(2.0) + math.lgamma(w[2] + 1) + math.erf(w[0])
                + math.pi * math.pow(w[2], 1.5) + math.hypot(w[0], 2.0))

    w = np.array([0.3, -0.4, 0.8])
    v, g = graphc.value_and_grad(f)(w)
    assert v == pytest.approx(f(w), rel=1e-12)
    fd = [(f(w + 1e-6 * e) - f(w - 1e-6 * e)) / 2e-6 for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_vectorize_refuses_what_is_not_elementwise():
    with pytest.raises(UnsupportedError, match=r"np.vectorize\(<lambda>\).*reshape of shape"):
        graphc.jit(lambda x: np.vectorize(lambda a: np.array([a, a]).sum())(x))(X)
    with pytest.raises(graphc.TracerBoolError, match=r"np.where"):
        graphc.jit(lambda x: np.vectorize(lambda a: a if a > 0 else 0.0)(x))(X)
