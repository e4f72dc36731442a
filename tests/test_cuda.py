"""The cuda target, without a GPU: every graph runs on Numba's CUDA simulator at tiny sizes and
must equal the CPU target; every kernel generated for those graphs must also compile to PTX for
sm_90 and assemble to its machine code without spilling registers (checked in a subprocess,
since the simulator replaces numba.cuda in this one).

With GRAPHC_TEST_CUDA=gpu the same tests run on a real GPU instead of the simulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

# (Under pytest, conftest.py has set NUMBA_ENABLE_CUDASIM=1 unless GRAPHC_TEST_CUDA=gpu.)

import functools

import numpy as np
import pytest
from scipy import signal, special, stats

import graphc
from graphc.codegen import cuda as gcuda
from graphc.errors import BackendError
from graphc.passes import reroll
from graphc.passes.fuse import Group, fuse
from graphc.trace import apply

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_models import _mlp_data, mlp_hand, mlp_loss  # noqa: E402
from test_ops import CASES, _setup  # noqa: E402

import test_nn  # noqa: E402
import test_reroll  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Subprocesses import graphc from this checkout, not from wherever else it is installed.
PYPATH = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
F32 = dict(rtol=2e-5, atol=1e-6)

try:
    CUDA = gcuda.runtime_module()
    SIM = gcuda._simulated(CUDA)
    UNAVAILABLE = None
except BackendError as e:
    CUDA, SIM, UNAVAILABLE = None, False, str(e)
needs_cuda = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"{UNAVAILABLE}")


# ------------------------------------------------------------------------ the test graphs
@contextlib.contextmanager
def configured(**consts):
    """Shrink the backend's block/tile constants so tiny arrays take the big-array code paths
    (split reductions, several grid-stride iterations, register-tiled matmul)."""
    old = {k: getattr(gcuda, k) for k in consts}
    for k, v in consts.items():
        setattr(gcuda, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(gcuda, k, v)


def lecture_neuron(w, b, x, y):
    return (1 / (1 + np.exp(-(w * x + b))) - y) ** 2


def chain(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + np.tanh(x) * x)


def matmul_loss(a, b, c):
    return (np.tanh(a @ b.T) * c).sum() + (a.T @ c).max()


def batched_tanh(x, y):
    return np.tanh(x @ y).sum()


def broadcast_tanh(x, y):
    return np.tanh(x) * y, (x.T * y)[2:9:3]


def reductions(x):
    return x.max(), x.min(axis=0), x.sum(axis=1, keepdims=True), x.sum()


def rnn_scan(W, U, xs, h0):
    def step(h, x):
        h = np.tanh(x @ W + h @ U)
        return h, (h * h).sum(axis=1)

    h, ys = graphc.scan(step, h0, xs)
    return ys.sum() + np.sin(h).sum()


def rnn_readout(W, U, b, V, c, xs, h0):
    def step(h, x):
        h = np.tanh(np.sin(x) @ W + b + h @ U)
        return h, ((h @ V + c) ** 2).sum()

    return graphc.scan(step, h0, xs)[1].sum()


def nested_scan(w, xs):
    def outer(c, x):
        d, s = graphc.scan(lambda d, wj: (np.sin(d * wj + c), d.sum()), x, w)
        return c + d.sum(), s.sum()

    c, ys = graphc.scan(outer, xs[0, 0], xs, reverse=True)
    return c + ys.sum()


def series_scan(u, w, s, xs):
    """Steps of 0-d items (a time series) read with vectors, and a captured (1,)-array: the
    steps that read no carry run once for all T steps, where an item broadcasts against the
    other operands along its own axes, not along T (they read x[t] as x[t + i])."""
    def step(h, xx):
        x = xx[0]
        h = np.tanh(h * w + x * u)
        return h, np.where(x < s, h, x + s).sum()

    h, ys = graphc.scan(step, u, (xs, 2 * xs))  # (the second leaf's gradient: a constant 0)
    return (h * h).sum() + (ys * np.arange(len(xs))).sum()


def _series_data(dtype):
    r = _rng(9)
    return (r.normal(size=5).astype(dtype), r.normal(size=5).astype(dtype),
            np.full(1, 0.1, dtype), r.normal(size=7).astype(dtype))


def _rnn_data(dtype):
    r = _rng(3)
    return tuple(r.normal(size=s).astype(dtype) * dtype(0.5)
                 for s in [(4, 5), (5, 5), (3, 2, 4), (2, 5)])


def _late_data(steps, dtype):
    r = _rng(4)
    return tuple(r.normal(size=s).astype(dtype) * dtype(0.5)
                 for s in [(5, 5), (5, 3), (steps, 2, 5), (2, 5)])


def op_programs(name, specs, params):
    """The op's forward (jit) and its value_and_grad, as in test_ops, in float32."""
    args, diff, u, loss = _setup(name, specs, params, np.float32)
    progs = [(lambda *xs: apply(name, *xs, **params), "jit", {}, args)]
    out = np.asarray(graphc.jit(lambda *xs: apply(name, *xs, **params)).reference(*args))
    if diff and out.dtype != bool:
        progs.append((loss, "value_and_grad", dict(argnums=diff), args))
    return progs


def _rng(seed=0):
    return np.random.default_rng(seed)


def embed_loss(emb, w, tokens):
    """Gather with a runtime index argument (and its scatter-add adjoint), einsum, cumsum."""
    h = np.tanh(np.einsum("bti,ij->btj", emb[tokens], w))
    return (np.cumsum(h, axis=1) * h).sum() + np.prod(h[:, 0], axis=1).sum()


def pick_max(x, y):
    return np.take(y, np.argmax(x, axis=0), axis=0) + np.log2(np.abs(x[[0, -1, 1]]) + 1)


def label_loss(z, y):
    """Cross-entropy at integer labels: two index arrays in one index, and take_along_axis."""
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean() + np.take_along_axis(z, y[:, None], axis=1).sum()


def inplace_update(x):
    """In-place updates: an item, a mask, and a write through a transposed view."""
    y = x * 1
    y[0] += x[1]
    y[y < 0] = 0.0
    r = y.T
    r[1:, 0] = 2.0
    return (y ** 2).sum()


def svm_loss(z, y):
    """The multiclass SVM loss as cs231n writes it: an assignment at traced labels, np.add.at
    at repeated places, masks combined with &."""
    n = len(y)
    margins = np.maximum(0, z - z[np.arange(n), y][:, None] + 1)
    margins[np.arange(n), y] = 0
    counts = np.zeros_like(z)
    np.add.at(counts, (y, 0), 1.0)
    return margins.sum() / n + (np.where((z > 0) & ~np.isnan(z), z, 0) * counts).sum()


def order_statistics(z):
    """Sorting (argsort, then a gather): the median, a quantile, the largest of each column,
    and a sorted line with NaNs last."""
    return [np.median(z, axis=1).sum() + np.quantile(z, 0.8) + np.sort(z, axis=0)[-1].sum(),
            np.argsort(z, axis=1), np.sort(np.where(z > 1, np.nan, z), axis=None)]


def gaussian_loss(a, x):
    """Linear algebra: a Gaussian's negative log-likelihood by Cholesky and triangular solves
    (all of a GP's), an inverse, and a stack's log-determinants."""
    cov = a @ a.T + np.eye(a.shape[0], dtype=a.dtype)
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(L, x.T)
    _, logdets = np.linalg.slogdet(np.stack([cov, 2 * cov]))
    return 0.5 * (z ** 2).sum() + np.log(np.diag(L)).sum() + logdets.sum() + \
        np.linalg.inv(cov)[0].sum()


def spectral_loss(a):
    """Eigendecomposition, SVD and QR (Jacobi rotations and Householder reflections on the
    GPU, LAPACK on the CPU): a log-determinant from the eigenvalues, a matrix function
    V f(w) V^T, the top eigenvector, the nuclear norm, singular vectors of a tall and of a wide
    matrix, a pseudo-inverse, Q and R of a tall and of a wide matrix."""
    w, v = np.linalg.eigh(a @ a.T + np.eye(a.shape[0], dtype=a.dtype))
    u, s, vh = np.linalg.svd(a[:, :3], full_matrices=False)
    q, r = np.linalg.qr(a[:, :4])
    return np.log(w).sum() + ((v * np.exp(-w)) @ v.T).sum() + (v[:, -1] ** 3).sum() + \
        np.linalg.norm(a, "nuc") + (u ** 3).sum() + (vh[0] ** 3).sum() + \
        (np.linalg.svd(a[:2], full_matrices=False)[2] ** 3).sum() + np.linalg.pinv(a).sum() + \
        (q ** 3).sum() + np.log(np.abs(np.diag(r))).sum() + np.linalg.qr(a[:3], "r").sum()


# sums of many float32 terms over eigenvalue gaps: a few ulps of the largest gradient entry
spectral_loss.tol = dict(rtol=2e-5, atol=1e-5)


def special_loss(p, x):
    """The gamma family and the scaled Bessel functions (libdevice's lgamma; polygamma and
    besselie generated as device functions, in the kernel's float type) and scipy.special's
    Python functions, swapped for graphc's."""
    q = np.abs(p) + 0.2
    return (special.gammaln(q) + special.digamma(q) * x + special.polygamma(1, q)
            + special.log_ndtr(4 * x) + special.betaln(q, 2 * q) + special.i0e(8 * x)
            + special.i1e(30 * p)).sum() + \
        special.logsumexp(x, b=q)


def stats_loss(p, x):
    """scipy.stats' log-densities (compositions of the gamma family, log_ndtr, Cholesky)."""
    q = np.abs(p) + 0.2
    return (stats.norm.logpdf(x, p, q) + stats.gamma.logpdf(q, 2.0, scale=1.5)
            + stats.norm.logcdf(x) + stats.poisson.logpmf(np.arange(5.0), q[0])).sum() + \
        stats.multivariate_normal.logpdf(x, mean=p[0], cov=np.eye(5) + q.T @ q).sum()


def fourier_loss(x, h):
    """Complex values as pairs of real arrays: np.fft (dense, factored and Bluestein lengths)
    and complex arithmetic, on a real loss."""
    spec = np.fft.rfft(x, axis=1) * np.fft.rfft(h, n=x.shape[1])
    z = np.exp(1j * x[0]) / (x[1] + 2j)
    long = np.fft.fft(np.tile(x[0], 30)[:131]) * np.fft.ifft(np.tile(h, 40)[:96], n=131)
    return (np.abs(spec) ** 2).sum() + np.fft.irfft(spec, axis=1).std() + np.angle(z).sum() \
        + np.abs(long).mean() + np.abs(np.fft.fft2(x)).max()


def filter_loss(x, b):
    """scipy.signal.lfilter: a recursion of order 2 (a scan), and one without feedback."""
    return (signal.lfilter(b, [1.0, -0.6, 0.2], x) ** 2).sum() + \
        signal.lfilter(b, [2.0], x[0]).sum()


def spectrum(x):
    """Complex results: two real parts each, joined on the host."""
    return np.fft.rfft(x, axis=1), np.exp(1j * x).sum()


def entropy_loss(p, q):
    """A where's unused branch that takes log(0): inf and NaN there, an exact zero in the
    result and the gradient."""
    return np.where(q > 0, q * np.log(q / p), 0.0).sum() + np.exp(1000 * q).min()


def masked_loss(p, t, lab):
    """x[mask] with traced masks (where-reductions over the full arrays): a masked mean, a log
    of the positive values only, a class's mean row."""
    return ((p - t)[t > 0] ** 2).mean() + np.log(p[p > 0]).sum() + \
        (p[lab == 1].mean(axis=0) ** 2).sum()


def running_loss(z, r):
    """Recurrences: discounted returns (a reverse linear recurrence), cumprod with a zero,
    and running maxima (their gradient scattered to the elements that hold them)."""
    returns = graphc.numpy.linear_recurrence(0.9, r, axis=1, reverse=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -(logp * returns).sum() + np.cumprod(np.where(z > 1, 0, z), axis=1).sum() + \
        (np.maximum.accumulate(z, axis=0) ** 2).sum()


def _gaussian_args(dtype):
    return (_rng(9).normal(size=(5, 5)).astype(dtype), _rng(10).normal(size=(3, 5)).astype(dtype))


def _embed_args():
    return (_rng(1).normal(size=(7, 5)).astype(np.float32),
            _rng(2).normal(size=(5, 3)).astype(np.float32), np.array([[1, 6, 1], [0, -1, 1]]))


def with_nans():
    x = _rng().normal(size=(12, 5)).astype(np.float32)
    x[3, 1] = x[10, 4] = np.nan
    return x


SMALL = dict(BLOCK=8, MAX_BLOCKS=1, RED_BLOCKS=4, LANE_WORK=1)
SPLIT = dict(TILES=[(16, 16, 8, 2, 2), (8, 8, 8, 1, 1)], MIN_BLOCKS=4, SPLIT_K=4)
MODEL_PROGRAMS = {
    "mlp-f32": lambda: [(mlp_loss, "value_and_grad", {}, _mlp_data(np.float32, 8, (6, 5, 3)))],
    "mlp-f64": lambda: [(mlp_loss, "value_and_grad", {}, _mlp_data(np.float64, 8, (6, 5, 3)))],
    "neuron": lambda: [(lecture_neuron, "value_and_grad", dict(argnums=(0, 1)),
                        (0.5, -0.2, 1.5, 1.0))],
    "chain": lambda: [(chain, "value_and_grad", {}, (_rng().normal(size=40).astype(np.float32),))],
    "scan": lambda: [
        (rnn_scan, "value_and_grad", dict(argnums=(0, 1, 2, 3)), _rnn_data(np.float32)),
        (rnn_scan, "value_and_grad", dict(argnums=(0, 1)), _rnn_data(np.float64)),
        (nested_scan, "value_and_grad", dict(argnums=(0, 1)),
         (_rng(4).normal(size=(3, 4)), _rng(5).normal(size=(2, 4)))),
        (functools.partial(late_scan, reverse=True), "value_and_grad", dict(argnums=(0, 1, 3)),
         _late_data(4, np.float32)),
        (series_scan, "value_and_grad", dict(argnums=(0, 1, 3)), _series_data(np.float32)),
        (series_scan, "value_and_grad", dict(argnums=(0, 1, 3)), _series_data(np.float64))],
    "unrolled": lambda: [(unrolled_rnn, "value_and_grad", dict(argnums=(0, 1, 2)),
                          _unrolled_data())],
    # 24 steps: long enough that graphc rolls the loop back into a scan (passes/reroll.py)
    "rolled": lambda: [(unrolled_rnn, "value_and_grad", dict(argnums=(0, 1, 2)),
                        _unrolled_data(24, 0.3))],
    "cnn": lambda: [(lambda p, x, y: test_nn.cnn_loss(p, x, y), "value_and_grad",
                     dict(argnums=(0, 1)), test_nn.cnn_data(np.float32))],
    "lstm": lambda: [(lambda p, t: test_nn.lstm_lm_loss(p, t), "value_and_grad", {},
                      test_nn.lstm_data(np.float32))],
    "higher-order": lambda: [
        (lambda x: (np.tanh(x) ** 3).sum() * x[0], "hvp", {},
         (_rng(6).normal(size=5), _rng(7).normal(size=5))),
        (lambda x: np.sin(x[:3] * x[1:]), "jacobian", {}, (_rng(8).normal(size=4),))],
    "indexing": lambda: [(embed_loss, "value_and_grad", dict(argnums=(0, 1)), _embed_args()),
                         (pick_max, "jit", {}, tuple(_rng(k).normal(size=(4, 3)).astype(
                             np.float32) for k in (3, 4))),
                         (label_loss, "value_and_grad", {}, (
                             _rng(5).normal(size=(6, 4)).astype(np.float32),
                             np.array([3, 0, -1, 2, 2, 1]))),
                         (inplace_update, "value_and_grad", {},
                          (_rng(6).normal(size=(4, 3)).astype(np.float32),)),
                         (order_statistics, "jit", {},
                          (_rng(8).normal(size=(5, 6)).astype(np.float32),)),
                         (lambda z: order_statistics(z)[0], "value_and_grad", {},
                          (_rng(8).normal(size=(5, 6)).astype(np.float32),)),
                         (running_loss, "value_and_grad", dict(argnums=(0, 1)), (
                             _rng(11).normal(size=(4, 6)).astype(np.float32),
                             _rng(12).normal(size=(4, 6)).astype(np.float32))),
                         (gaussian_loss, "value_and_grad", dict(argnums=(0, 1)),
                          _gaussian_args(np.float32)),
                         (gaussian_loss, "value_and_grad", dict(argnums=(0, 1)),
                          _gaussian_args(np.float64)),
                         (masked_loss, "value_and_grad", dict(argnums=(0, 1)), (
                             _rng(14).normal(size=(6, 4)).astype(np.float32),
                             _rng(15).normal(size=(6, 4)).astype(np.float32),
                             np.array([1, 0, 1, 1, 0, 2]))),
                         (special_loss, "value_and_grad", dict(argnums=(0, 1)), (
                             _rng(16).normal(size=(3, 5)).astype(np.float32),
                             _rng(17).normal(size=(3, 5)).astype(np.float32))),
                         (special_loss, "value_and_grad", dict(argnums=(0, 1)), (
                             _rng(16).normal(size=(3, 5)), _rng(17).normal(size=(3, 5)))),
                         (stats_loss, "value_and_grad", dict(argnums=(0, 1)), (
                             _rng(16).normal(size=(3, 5)), _rng(17).normal(size=(3, 5)))),
                         (entropy_loss, "value_and_grad", {}, (
                             np.array([0.5, 1.5, 2.0]), np.array([0.0, 0.3, 0.7]))),
                         (fourier_loss, "value_and_grad", dict(argnums=(0, 1)), (
                             _rng(18).normal(size=(3, 8)).astype(np.float32),
                             _rng(19).normal(size=5).astype(np.float32))),
                         (fourier_loss, "value_and_grad", dict(argnums=(0, 1)), (
                             _rng(18).normal(size=(3, 8)), _rng(19).normal(size=5))),
                         (filter_loss, "value_and_grad", dict(argnums=(0, 1)), (
                             _rng(20).normal(size=(3, 9)), _rng(21).normal(size=3))),
                         (spectrum, "jit", {}, (_rng(18).normal(size=(3, 8)).astype(
                             np.float32),)),
                         (spectral_loss, "value_and_grad", {},
                          (_rng(13).normal(size=(6, 6)).astype(np.float32),)),
                         (spectral_loss, "value_and_grad", {},
                          (_rng(13).normal(size=(5, 5)),)),
                         (svm_loss, "value_and_grad", {}, (
                             _rng(7).normal(size=(6, 4)).astype(np.float32),
                             np.array([3, 0, -1, 2, 2, 1])))],
}
# Graphs run with SMALL constants: (name, constants, programs).
SMALL_PROGRAMS = {
    # A kernel past OFFSETS places in arenas takes its other buffers as arrays of their own.
    "offsets": (dict(OFFSETS=2), lambda: [*MODEL_PROGRAMS["unrolled"](),
                                          *MODEL_PROGRAMS["mlp-f32"](),
                                          *MODEL_PROGRAMS["scan"]()[:1]]),
    "reductions": (SMALL, lambda: [(reductions, "jit", {}, (with_nans(),))]),
    "grid-stride": (SMALL, lambda: [
        (chain, "value_and_grad", {}, (_rng().normal(size=100).astype(np.float32),)),
        (broadcast_tanh, "jit", {}, tuple(_rng(k).normal(size=s).astype(np.float32)
                                          for k, s in enumerate([(10, 10), (10,)])))]),
    **{f"matmul-{t[0]}x{t[1]}": (dict(TILES=gcuda.TILES[k:], MIN_BLOCKS=1), lambda: [(
        matmul_loss, "value_and_grad", dict(argnums=(0, 1)), tuple(
            _rng(k).normal(size=s).astype(np.float32) for k, s in
            enumerate([(5, 7), (6, 7), (5, 6)])))]) for k, t in enumerate(gcuda.TILES[:3])},
    # K split into 3 ranges (a @ b.T forward, a @ g backward) and, batched, into 2
    "matmul-split-k": (SPLIT, lambda: [
        (matmul_loss, "value_and_grad", dict(argnums=(0, 1, 2)), tuple(
            _rng(k).normal(size=s).astype(np.float32) for k, s in
            enumerate([(5, 24), (6, 24), (5, 6)]))),
        (batched_tanh, "value_and_grad", dict(argnums=(0, 1)), tuple(
            _rng(k).normal(size=s).astype(np.float32) for k, s in
            enumerate([(2, 3, 20), (2, 20, 4)])))]),
}


def make(fn, mode, kw, target):
    return getattr(graphc, mode)(fn, target=target, **kw)


def assert_same(got, want, tol):
    got_leaves, want_leaves = graphc.api.flatten(got)[0], graphc.api.flatten(want)[0]
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, **tol)


def run_both(fn, mode, kw, args, tol=None):
    """fn's results on both targets, equal to ``tol`` (default: the program's own ``tol``
    attribute, else F32's)."""
    tol = tol or getattr(fn, "tol", F32)
    got = make(fn, mode, kw, "cuda")(*args)
    assert_same(got, make(fn, mode, kw, "cpu")(*args), tol)
    return got


# ------------------------------------------------------------------------ simulator tests
@needs_cuda
@pytest.mark.parametrize("name, specs, params", CASES)
def test_op_equals_cpu_target(name, specs, params):
    # Jacobi rotations and LAPACK agree to float32 rounding over the eigenvalue gaps, which
    # the gradient divides by: a few ulps more than elementwise kernels
    tol = dict(rtol=1e-4, atol=1e-5) if name in ("eigh", "svd") else F32
    for fn, mode, kw, args in op_programs(name, specs, params):
        run_both(fn, mode, kw, args, tol)


@needs_cuda
def test_mlp_equals_cpu_target_and_hand_derivation():
    for dtype, tol in [(np.float32, F32), (np.float64, dict(rtol=1e-10, atol=1e-13))]:
        params, x, y = _mlp_data(dtype, 8, (6, 5, 3))
        value, grads = run_both(mlp_loss, "value_and_grad", {}, (params, x, y), tol)
        hv, hg = mlp_hand(params, x, y)
        assert value == pytest.approx(hv, rel=10 * tol["rtol"])
        for g, h in zip(grads, hg):
            assert g.dtype == dtype
            np.testing.assert_allclose(g, h, rtol=10 * tol["rtol"], atol=10 * tol["atol"])


@needs_cuda
@pytest.mark.parametrize("name", ["cnn", "lstm"])
def test_cnn_and_lstm_equal_cpu_target(name):
    for fn, mode, kw, args in MODEL_PROGRAMS[name]():
        run_both(fn, mode, kw, args, dict(rtol=1e-4, atol=1e-6))


@needs_cuda
def test_higher_order_equals_cpu_target():
    for fn, mode, kw, args in MODEL_PROGRAMS["higher-order"]():
        run_both(fn, mode, kw, args, dict(rtol=1e-12, atol=1e-14))


@needs_cuda
def test_scan_equals_cpu_target():
    for fn, mode, kw, args in MODEL_PROGRAMS["scan"]():
        tol = F32 if args[0].dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
        run_both(fn, mode, kw, args, tol)
    # The loop is on the host: the same kernels whatever the length, and each step adds the
    # body's launches.
    f = make(rnn_scan, "grad", {}, "cuda")
    W, U, xs, h0 = _rnn_data(np.float32)
    runs = []
    for k in (1, 2, 3):
        f(W, U, np.concatenate([xs] * k), h0)
        runs.append(_entry(f, W, U, np.concatenate([xs] * k), h0).run)
    assert len({len(r.kernels) for r in runs}) == 1
    per_step = (runs[1].launches - runs[0].launches) / len(xs)
    assert per_step >= 2 and runs[2].launches - runs[1].launches == per_step * len(xs)
    # Steps that read no carry run before the loop, once for all the steps. Forward: sin(x)
    # and the product sin(x) @ W; the step's adds and tanh become the epilogue of h @ U.
    # Backward: the readout's gradient dy, dy @ V.T and h.T @ dy; only dy's sum and the
    # accumulations (gradients that add up in carries) stay in the loop. Steps that only
    # read the new carry, and that nothing in the loop reads, run after it for all the steps:
    # the forward readout h @ V and its loss.
    b, V, c = (_rng(k).normal(size=s) for k, s in [(8, (5,)), (9, (5, 3)), (10, (3,))])
    args = tuple(a.astype(np.float64) for a in (W, U, b, V, c, xs, h0))
    kw = dict(argnums=(0, 1, 2, 3, 4))
    run_both(rnn_readout, "value_and_grad", kw, args, dict(rtol=1e-10, atol=1e-12))
    f = make(rnn_readout, "value_and_grad", kw, "cuda")
    f(*args)
    drive = _entry(f, *args).source.split("def drive")[1]
    fwd, bwd = drive.index("for t0_ in range(3):"), drive.index("for t0_ in range(3 - 1")
    before, between = drive[:fwd], drive[fwd:bwd].split("\n    L[", 1)[1]
    body = [ln for ln in drive[fwd:].splitlines() if ln.startswith("        L[")]
    assert "sin" in before and "matmul" in before and between.count("matmul (bwd)") == 2
    assert between.count("matmul  test_cuda.py") == 1 and "add, multiply, sum" in between
    assert "matmul  test_cuda.py" in body[0] and "; then add, add, tanh" in body[0]
    # Backward: the products that read the step's gradient through tanh compute it again as
    # they load it, so they share a launch with the group that sums it (c's gradient) and
    # with each other (two halves of a carry are two regions).
    assert len(body) == 1 + 1 and body[1].count("matmul (bwd)") == 3  # forward 1, backward 1
    # Every argument costs a launch host time: each launch passes a buffer once (an arena
    # holds all intermediates of a dtype), and a kernel that one launch runs has its offsets
    # as literals, so in the loops it takes only the step.
    for ln in drive.splitlines():
        if ln.strip().startswith("L["):
            args = ln.split("](", 1)[1].split(")  # ", 1)[0].split(", ")
            assert len(set(args)) == len(args) and len(args) <= 6
            if ln in body:
                assert args[-1] == "t0_" and all(a.startswith("b[") for a in args[:-1])


def odd_scan(w, xs, reverse):
    """Carries and ys of every kind: one passed through unchanged, a new carry that is also a
    y (twice), a y that is the step's input, a reversed loop."""
    def step(c, x):
        h, keep, acc = c
        h = np.tanh(h * w + x)
        return (h, keep, acc + h * keep), (h, h, x, (h * w).sum())

    c0 = (w * 0.0, w * 0.5, w * 0.0)
    (h, keep, acc), (hs, hs2, xs2, s) = graphc.scan(step, c0, xs, reverse=reverse)
    return (h * acc).sum() + (hs * hs2).sum() + (xs2 * keep).sum() + (s * s).sum()


@needs_cuda
@pytest.mark.parametrize("steps", [0, 1, 4])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_carries_and_ys_written_in_place(steps, reverse):
    w, xs = _rng(1).normal(size=3), _rng(2).normal(size=(steps, 3))
    run_both(lambda w, xs: odd_scan(w, xs, reverse), "value_and_grad", dict(argnums=(0, 1)),
             (w, xs), tol=dict(rtol=1e-10, atol=1e-12))


def late_scan(W, V, xs, h0, reverse):
    """Steps that read the carry a step starts from and the one it makes, and that nothing
    in the loop reads: a readout, a row reduction and a transposed view of its input."""
    def step(h, x):
        new = np.tanh(h @ W + x)
        z = (new @ V) * (h @ V)
        return new, (np.exp(z / 4).sum(axis=1), (z.T * np.arange(2.0)).sum())

    h, (a, s) = graphc.scan(step, h0, xs, reverse=reverse)
    return (h * h).sum() + (a * a).sum() + s.sum()


@needs_cuda
@pytest.mark.parametrize("steps", [0, 1, 4])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_steps_that_only_read_carries_run_after_the_loop(steps, reverse):
    W, V, xs, h0 = _late_data(steps, np.float64)
    fn = functools.partial(late_scan, reverse=reverse)
    kw = dict(argnums=(0, 1, 3))
    tol = dict(rtol=1e-10, atol=1e-12)
    run_both(fn, "jit", {}, (W, V, xs, h0), tol)  # (no carries' history: all in the loop)
    run_both(fn, "value_and_grad", kw, (W, V, xs, h0), tol)
    if not steps:
        return
    f = make(fn, "value_and_grad", kw, "cuda")
    f(W, V, xs, h0)
    drive = _entry(f, W, V, xs, h0).source.split("def drive")[1]
    loops = drive.split("    for t0_ in ")
    forward = [ln for ln in loops[1].splitlines() if ln.startswith("        L[")]
    assert len(forward) == 1 and "tanh" in forward[0]  # h @ W, then its epilogue
    after = loops[1].split("\n    L[", 1)[1]  # between the loops: the products with V,
    assert after.count("matmul  test_cuda.py") == 2 and "exp" in after  # then the loss


@needs_cuda
def test_loops_rolled_into_scans_equal_cpu_target(monkeypatch):
    """Python loops that graphc rolls back into scans, on both targets: the default length
    threshold (a 24-step RNN rolled, its 3-step version not), then every loop of
    test_reroll rolled whatever its length."""
    for name in ("rolled", "unrolled"):
        (fn, mode, kw, args), = MODEL_PROGRAMS[name]()
        run_both(fn, mode, kw, args)
        assert ("= scan(" in make(fn, mode, kw, "cuda").ir(*args)) == (name == "rolled")
    monkeypatch.setattr(reroll, "MIN_NODES", 0)
    args = tuple(np.asarray(a, np.float32) for a in (test_reroll.W, test_reroll.U,
                                                     test_reroll.XS, test_reroll.H0))
    for fn in test_reroll.LOOPS:
        run_both(fn, "value_and_grad", dict(argnums=(0, 1, 3)), args)


@needs_cuda
def test_gather_scatter_einsum_cumsum_equal_cpu_target():
    for fn, mode, kw, args in MODEL_PROGRAMS["indexing"]():
        run_both(fn, mode, kw, args)


@needs_cuda
def test_index_out_of_range_raises_and_the_next_call_works():
    emb, w, tokens = _embed_args()
    vg = graphc.value_and_grad(embed_loss, argnums=(0, 1), target="cuda")
    want = vg(emb, w, tokens)
    bad = tokens.copy()
    bad[1, 2] = 7
    with pytest.raises(graphc.OutOfBoundsError, match=r"gather.*size 7.*\(7, 5\)"):
        vg(emb, w, bad)
    assert_same(vg(emb, w, tokens), want, F32)  # the flag was reset


@needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gamma_and_bessel_functions_across_their_domain_equal_cpu_target(dtype):
    """Negative, tiny, huge arguments, the poles, infinities and NaN (the simulator runs
    them with IEEE results, as libdevice gives them: cuda.simulated_math)."""
    x = [-2.5, -0.5, -7.3, 1e-30, 1e30, 3e-8, -1e6 + 0.25, 55.5, 10.0, 0.7, 0.0, -1.0, -40.0,
         np.inf, -np.inf, np.nan]
    x = np.array(x, dtype)

    def fn(x):
        return [special.gammaln(x), special.digamma(x), special.polygamma(1, x),
                special.polygamma(2, x), special.i0e(x), special.i1e(x)]

    for got, want in zip(graphc.jit(fn, target="cuda")(x), graphc.jit(fn)(x)):
        assert got.dtype == want.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)


@needs_cuda
def test_singular_matrix_raises_linalg_error_and_the_next_call_works():
    f = graphc.value_and_grad(lambda a, b: np.linalg.solve(a, b).sum(), target="cuda")
    good = np.stack([np.eye(3), 2 * np.eye(3)]).astype(np.float32)
    want = f(good, np.ones((2, 3, 1), np.float32))
    bad = good.copy()
    bad[1, 2] = bad[1, 0]
    with pytest.raises(graphc.LinAlgError, match=r"solve: singular matrix.*\(2, 3, 3\)"):
        f(bad, np.ones((2, 3, 1), np.float32))
    assert_same(f(good, np.ones((2, 3, 1), np.float32)), want, F32)  # the flag was reset
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        graphc.jit(np.linalg.cholesky, target="cuda")(-good)
    # inf or NaN where eigh reads: NaN eigenpairs, as the CPU's LAPACK gives (Jacobi rotations
    # left the diagonal as the eigenvalues); an SVD fails as on the CPU
    a = np.array([[1.0, np.inf, 0.0], [np.inf, 2.0, 0.0], [0.0, 0.0, 3.0]])
    with np.errstate(invalid="ignore"):
        for fn in (np.linalg.eigvalsh, lambda a: np.linalg.eigh(a)[1]):
            assert np.isnan(graphc.jit(fn, target="cuda")(a)).all()
        with pytest.raises(np.linalg.LinAlgError, match="SVD did not converge"):
            graphc.jit(lambda a: np.linalg.svd(a, compute_uv=False), target="cuda")(a)


@needs_cuda
def test_lecture_neuron():
    w, b, x, y = 0.5, -0.2, 1.5, 1.0
    value, (gw, gb) = run_both(lecture_neuron, "value_and_grad", dict(argnums=(0, 1)),
                               (w, b, x, y), dict(rtol=1e-13, atol=0))
    s = 1 / (1 + np.exp(-(w * x + b)))
    dz = 2 * (s - y) * s * (1 - s)
    assert value == pytest.approx((s - y) ** 2, rel=1e-13)
    assert (gw, gb) == (pytest.approx(dz * x, rel=1e-13), pytest.approx(dz, rel=1e-13))


@needs_cuda
@pytest.mark.parametrize("name", SMALL_PROGRAMS)
def test_big_array_code_paths(name):
    consts, progs = SMALL_PROGRAMS[name]
    with configured(**consts):
        for fn, mode, kw, args in progs():
            got = run_both(fn, mode, kw, args)
    if name == "reductions":  # NaN propagates through max/min as in NumPy, across blocks too
        assert np.isnan(got[0]) and np.isnan(got[1]).any() and not np.isnan(got[1]).all()


@needs_cuda
def test_split_k_products_are_exact_and_repeatable():
    """The last block of each tile adds the split partials in a fixed order and resets the
    tile's counter: a second call gives the same bits."""
    x, y = (_rng(k).normal(size=s).astype(np.float32) for k, s in
            enumerate([(2, 3, 20), (2, 20, 4)]))
    with configured(**SPLIT):
        f = graphc.value_and_grad(batched_tanh, argnums=(0, 1), target="cuda")
        first, second = f(x, y), f(x, y)
        assert "cuda.atomic.add" in f.source(x, y)  # the split path was taken
    assert_same(first, graphc.value_and_grad(batched_tanh, argnums=(0, 1))(x, y), F32)
    assert_same(second, first, dict(rtol=0, atol=0))


def residual_loss(a, b):
    return np.tanh(a @ b + a).sum()


def dense_loss(a, b, bias, c):
    p = a @ b
    return (np.tanh(p + bias) @ c).sum() + (p[1] * p[1]).sum()


@needs_cuda
@pytest.mark.parametrize("consts", [dict(MIN_BLOCKS=1), SPLIT], ids=["tiled", "split-k"])
def test_matmul_epilogue(consts):
    """The bias and tanh run in the product's kernel; the product is still written, since
    ``p[1]`` reads it too."""
    args = tuple(_rng(k).normal(size=s).astype(np.float32) for k, s in
                 enumerate([(5, 24), (24, 6), (6,), (6, 3)]))
    with configured(**consts):
        f = graphc.jit(dense_loss, target="cuda")
        got = f(*args)
        src = f.source(*args)
        vg = graphc.value_and_grad(dense_loss, argnums=(0, 1, 2, 3), target="cuda")(*args)
    assert_same(got, graphc.jit(dense_loss)(*args), F32)
    assert_same(vg, graphc.value_and_grad(dense_loss, argnums=(0, 1, 2, 3))(*args), F32)
    # An epilogue may read what the product reads (a residual connection).
    a, b = (_rng(k).normal(size=(6, 6)).astype(np.float32) for k in (5, 6))
    with configured(**consts):
        run_both(residual_loss, "value_and_grad", dict(argnums=(0, 1)), (a, b))
    epilogue = src[src.index("_epilogue(c, "):].split("\n\n")[0]
    assert "tanh" in epilogue and "add" in epilogue
    kernel = src[:src.index("_epilogue(")]
    kernel = kernel[kernel.rindex("\ndef "):]
    assert "= acc" in kernel or "= c0_0" in kernel  # ... and the product written


def two_products(a, b, c, bias):
    p = np.tanh(a @ b + bias)  # a product with an epilogue ...
    q = a.T @ c  # ... and one independent of it
    return (p * p).sum() + (q * q).sum()


@needs_cuda
@pytest.mark.parametrize("consts", [dict(MIN_BLOCKS=1), SPLIT], ids=["tiled", "split-k"])
def test_independent_products_share_a_launch(consts):
    """The backward's products (dA from two paths, dB, dC) depend on none of each other: one
    launch runs several, each block finding its product by its number."""
    args = tuple(_rng(k).normal(size=s) for k, s in
                 enumerate([(24, 20), (20, 6), (24, 5), (6,)]))
    with configured(**consts):
        vg = graphc.value_and_grad(two_products, argnums=(0, 1, 2, 3), target="cuda")
        got = vg(*args)
        e = _entry(vg, *args)
    assert_same(got, graphc.value_and_grad(two_products, argnums=(0, 1, 2, 3))(*args),
                dict(rtol=1e-10, atol=1e-12))
    sites = [ln for ln in e.source.splitlines() if ln.strip().startswith("L[")]
    assert any(ln.count("matmul") >= 2 for ln in sites)
    assert e.run.launches == len(sites)
    # An empty product has no code: it joins any launch (or makes none).
    empty = (np.ones((0, 3)), _rng(1).normal(size=(3, 4)), _rng(2).normal(size=(5, 3)))
    run_both(lambda a, b, c: np.tanh(a @ b).sum() + (c @ b).sum() + (a.T @ a).sum(),
             "value_and_grad", dict(argnums=(0, 1, 2)), empty, dict(rtol=1e-10, atol=1e-12))


def unrolled_rnn(wx, wh, wy, xs, ys):
    """Three unrolled steps: the steps' losses, and the backward's products and sums of one
    step and the next, depend on none of each other."""
    h, total = None, 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ wx if h is None else xs[t] @ wx + h @ wh)
        total = total + ((h @ wy - ys[t]) ** 2).mean()
    return total


def _unrolled_data(steps=3, scale=1.0):
    return tuple((_rng(k).normal(size=s) * scale).astype(np.float32) for k, s in
                 enumerate([(4, 6), (6, 6), (6, 3), (steps, 5, 4), (steps, 5, 3)]))


@needs_cuda
@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
def test_independent_kernels_share_a_launch(reverse):
    """Kernels of every kind that depend on none of each other share one launch: products,
    a reduction of small blocks (the output bias's sum over the batch) in a launch of larger
    ones, and grid-stride loops."""
    args, kw = _unrolled_data(), dict(argnums=(0, 1, 2))
    with configured(REVERSED=reverse):
        vg = graphc.value_and_grad(unrolled_rnn, target="cuda", **kw)
        got = vg(*args)
        e = _entry(vg, *args)
    assert_same(got, graphc.value_and_grad(unrolled_rnn, **kw)(*args), F32)
    sites = [ln for ln in e.source.splitlines() if ln.strip().startswith("L[")]
    assert e.run.launches == len(sites)
    assert any("sum" in ln and "matmul" in ln for ln in sites)
    assert ")[k]" in e.source  # equal kernels (x_t @ wx for each t) share one call site
    with configured(MAX_PARTS=1):  # no launch shared
        alone = graphc.value_and_grad(unrolled_rnn, target="cuda", **kw)
        alone(*args)
        assert _entry(alone, *args).run.launches > len(sites) + 5


@needs_cuda
def test_equal_kernels_take_evenly_stepping_offsets_as_the_launch_number():
    """The steps of an unrolled loop run one kernel. Offsets that grow by the same amount
    from each of its launches to the next are written into it as expressions of the launch's
    number, which the launch passes instead; a kernel that one launch runs has them all as
    literals."""
    wx, wh, wy = _unrolled_data()[:3]
    xs, ys = (_rng(k).normal(size=s).astype(np.float32) for k, s in [(5, (6, 5, 4)),
                                                                    (6, (6, 5, 3))])
    kw = dict(argnums=(0, 1, 2))
    with configured(MAX_PARTS=1):  # a launch for each step's kernel
        vg = graphc.value_and_grad(unrolled_rnn, target="cuda", **kw)
        got = vg(wx, wh, wy, xs, ys)
        e = _entry(vg, wx, wh, wy, xs, ys)
    assert_same(got, graphc.value_and_grad(unrolled_rnn, **kw)(wx, wh, wy, xs, ys), F32)
    launchers, drive = e.source.split("def launchers")[1].split("def drive")
    kernels = re.findall(r"K\['(k\d+)'\]", launchers)
    runs: dict[str, list[list[str]]] = {}
    for k, args in re.findall(r"L\[(\d+)\]\((.*)\)  # ", drive):
        runs.setdefault(kernels[int(k)], []).append(args.split(", "))
    many = [launches for launches in runs.values() if len(launches) >= 4]
    assert many and "use * " in e.source
    for launches in many:  # the steps' kernels: each launch passes its number, last
        assert [args[-1] for args in launches] == [str(u) for u in range(len(launches))]
    for launches in runs.values():
        if len(launches) == 1:
            assert not any(a.isdigit() for a in launches[0])


def operand_prog(x, w, u, v, x3):
    """Operands that a few cheap operations make: read as they are, transposed, batched."""
    g = x * u - v
    h = (x3 * u - 1.0) * 2.0
    return g.sum(axis=1), g @ w, g.T @ x, h @ w


@needs_cuda
@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
def test_products_compute_cheap_operands_as_they_load(reverse):
    """A product computes an operand that a group makes in a few cheap operations (in a
    backward, a gradient times an activation's derivative) as it loads its tiles, so it does
    not wait for that group: g's group (kept for its sum, and for g.T) and the three products
    are one launch, and h, which only a product reads, has no group at all."""
    r = _rng(6)
    args = tuple(r.normal(size=s) for s in [(4, 5), (5, 3), (5,), (4, 5), (2, 4, 5)])
    with configured(REVERSED=reverse):
        f = graphc.jit(operand_prog, target="cuda")
        got = f(*args)
        e = _entry(f, *args)
    assert_same(got, graphc.jit(operand_prog)(*args), dict(rtol=1e-12, atol=1e-12))
    sites = [ln.split("  # ")[1] for ln in e.source.splitlines() if ln.strip().startswith("L[")]
    assert e.run.launches == 1 and sites[0].split(" | ")[0] == "multiply, subtract, sum"
    assert sites[0].count("matmul") == 3 and e.source.count("_ao(z, gm, gk") == 3 * 2


@needs_cuda
@pytest.mark.parametrize("name", [*MODEL_PROGRAMS, *SMALL_PROGRAMS])
def test_shared_launches_run_in_any_block_order(name):
    """The simulator runs a launch's blocks in order. With each shared launch numbering its
    blocks from its last kernel, a kernel that shared a launch with one it reads from, or
    writes for, would see the other's memory in the wrong state and give a wrong result."""
    consts, programs = SMALL_PROGRAMS.get(name, ({}, MODEL_PROGRAMS.get(name)))
    with configured(REVERSED=True, **consts):
        for fn, mode, kw, args in programs():
            run_both(fn, mode, kw, args)


def mean_tanh(x, y):
    return np.tanh(x.mean(axis=1) + y)


@needs_cuda
@pytest.mark.parametrize("consts", [{}, SMALL], ids=["one-block", "split-rows"])
def test_reduction_epilogue(consts):
    """The mean's scaling, the add and the tanh run where each row's sum is stored: by the
    block that sums it, or by the last of the blocks that split it."""
    x, y = _rng(1).normal(size=(3, 40)), _rng(2).normal(size=3)
    with configured(**consts):
        f = graphc.jit(mean_tanh, target="cuda")
        np.testing.assert_allclose(f(x, y), np.tanh(x.mean(axis=1) + y), rtol=1e-12)
        src = f.source(x, y)
    assert _entry(f, x, y).run.launches == 1 and "; then " in src
    assert ("last[0]" in src) == bool(consts)


def row_losses(x, y):
    z = x - x.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    mu = x.mean(axis=-1, keepdims=True)
    norm = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + 1e-3)
    return -(y * logp).sum() + (norm * y).sum()


def cross_rows(x):
    s = x.sum(axis=1)  # (n,): x * s reads row r's sum in column r, another row's result
    return (x * s).sum(axis=1) * x.max(axis=1)


@needs_cuda
@pytest.mark.parametrize("consts, shape", [
    (dict(BLOCK=8, RED_BLOCKS=1, LANE_WORK=2), (2, 3, 13)),  # a row over several lane passes
    (dict(BLOCK=32, RED_BLOCKS=1), (5, 5)),  # 4 rows a block, the last block half empty
], ids=["long-rows", "rows-per-block"])
def test_row_groups_share_a_kernel(consts, shape):
    """Log-softmax and a normalisation, forward and backward: the groups reducing the last
    axis run one after another in one kernel, each block owning whole rows."""
    x, y = (_rng(k).normal(size=shape) for k in range(2))
    with configured(**consts):
        f = graphc.value_and_grad(row_losses, argnums=(0, 1), target="cuda")
        run_both(row_losses, "value_and_grad", dict(argnums=(0, 1)), (x, y),
                 tol=dict(rtol=1e-10, atol=1e-12))
        e = _entry(f, x, y)
        assert any(" | " in line for line in e.source.splitlines() if "# " in line)
        assert e.run.launches < sum(isinstance(s, Group) for s in e.steps)
        # A row result read in another row (x * s, s of shape (n,)) keeps its own kernel.
        sq = _rng(3).normal(size=(6, 6))
        run_both(cross_rows, "jit", {}, (sq,), tol=dict(rtol=1e-10, atol=1e-12))


def _entry(f, *args):
    return f._lookup(args)


def _kernel_steps(entry) -> int:
    return sum(1 for s in fuse(entry.optimized) if isinstance(s, Group) or s.op not in (
        "input", "const", "transpose", "slice"))


@needs_cuda
def test_one_launch_per_step_and_free_transposes():
    params, x, y = _mlp_data(np.float32, 8, (6, 5, 3))
    vg = graphc.value_and_grad(mlp_loss, target="cuda")
    vg(params, x, y)
    e = _entry(vg, params, x, y)
    steps = fuse(e.optimized)
    matmuls = sum(not isinstance(s, Group) and s.op == "matmul" for s in steps)
    assert any(not isinstance(s, Group) and s.op == "transpose" for s in steps)
    # Small groups read only by larger ones (the log of the softmax's sum, 1/n of the mean)
    # are recomputed by their readers ...
    kept = gcuda._inline_small(steps, {o.id for o in e.optimized.outputs})
    groups = sum(isinstance(s, Group) for s in kept)
    assert groups < sum(isinstance(s, Group) for s in steps)
    # ... x.T @ dh and dz @ W2.T read the transposes in place, and one kernel runs several
    # groups: a matmul's epilogue (the hidden layer's bias and tanh), a reduction's epilogue
    # (the mean's division) and the softmax's row reductions ("a | b" in a launch's comment).
    sites = [ln for ln in e.source.splitlines() if ln.strip().startswith("L[")]
    merged = sum(ln.count(" | ") + ln.count("; then ") for ln in sites)
    assert e.source.count("@cuda.jit(device=True") >= 1 and merged >= 3
    assert e.run.launches == len(sites) == groups + matmuls - merged < _kernel_steps(e)
    f = graphc.value_and_grad(chain, target="cuda")
    xs = np.linspace(-2, 2, 33, dtype=np.float32)
    f(xs)
    e = _entry(f, xs)
    assert 1 <= e.run.launches <= _kernel_steps(e) <= 3


class Foreign:
    """A device array of another library: only ``__cuda_array_interface__`` (under the
    simulator device memory is host memory, so the pointer is a NumPy array's)."""

    def __init__(self, a):
        self.a = np.ascontiguousarray(a)
        self.dev = None if SIM else CUDA.to_device(self.a)

    @property
    def __cuda_array_interface__(self):
        if self.dev is not None:
            return self.dev.__cuda_array_interface__
        return {"shape": self.a.shape, "typestr": self.a.dtype.str, "strides": None,
                "data": (self.a.ctypes.data, False), "version": 3}


def _host(x):
    return x.copy_to_host() if hasattr(x, "copy_to_host") else np.asarray(x)


@needs_cuda
def test_device_arrays_in_device_arrays_out():
    params, x, y = _mlp_data(np.float32, 8, (6, 5, 3))
    vg = graphc.value_and_grad(mlp_loss, target="cuda")
    want_v, want_g = vg(params, x, y)
    assert all(isinstance(g, np.ndarray) for g in want_g)
    dev = tuple(Foreign(p) for p in params)
    v, g = vg(dev, Foreign(x), y)  # mixed: device parameters and data, a host label array
    assert all(hasattr(t, "copy_to_host") and not isinstance(t, np.ndarray) for t in g)
    got = [_host(t) for t in g]
    assert float(_host(v)) == pytest.approx(float(want_v), rel=1e-6)
    for a, b in zip(got, want_g):
        np.testing.assert_allclose(a, b, **F32)
    # Results are fresh device arrays: the next call does not overwrite them.
    params2 = tuple(p * 2 for p in params)
    vg(tuple(Foreign(p) for p in params2), Foreign(x), y)
    for a, t in zip(got, g):
        np.testing.assert_array_equal(_host(t), a)


@needs_cuda
def test_results_on_the_device_or_copied_back_as_asked():
    params, x, y = _mlp_data(np.float32, 8, (6, 5, 3))
    want_v, want_g = graphc.value_and_grad(mlp_loss, target="cuda")(params, x, y)
    keep = graphc.value_and_grad(mlp_loss, target="cuda", device_results=True)
    v, g = keep(params, x, y)  # host arguments, device results (a 0-d one is a scalar)
    assert all(hasattr(t, "copy_to_host") and not isinstance(t, np.ndarray) for t in g)
    assert isinstance(v, np.float32) and v == pytest.approx(float(want_v), rel=1e-6)
    got = [_host(t) for t in g]
    keep(tuple(p * 2 for p in params), x, y)  # fresh each call: the next does not overwrite
    for a, b, t in zip(got, want_g, g):
        np.testing.assert_allclose(a, b, **F32)
        np.testing.assert_array_equal(_host(t), a)
    back = graphc.value_and_grad(mlp_loss, target="cuda", device_results=False)
    v, g = back(tuple(Foreign(p) for p in params), Foreign(x), y)  # device arguments
    assert all(isinstance(t, np.ndarray) for t in g)
    assert float(v) == pytest.approx(float(want_v), rel=1e-6)
    for a, b in zip(g, want_g):
        np.testing.assert_allclose(a, b, **F32)
    with pytest.raises(graphc.ArgumentError, match="device_results=True needs target='cuda'"):
        graphc.grad(mlp_loss, device_results=True)
    with pytest.raises(graphc.ArgumentError, match="device_results must be None, True or"):
        graphc.jit(mlp_loss, target="cuda", device_results="yes")


@needs_cuda
def test_arrays_on_another_gpu_or_not_on_a_gpu_are_refused():
    """Checked before any launch (a kernel reading another GPU's memory faults and loses the
    context). The pointer lookup itself needs a driver; here the runner is told the answer."""
    f = graphc.jit(chain, target="cuda")
    x = np.linspace(-1, 1, 9, dtype=np.float32)
    f(x)
    runner = _entry(f, x).run
    runner._device = 0
    with pytest.raises(graphc.ArgumentError, match=r"leaf 0 lives on GPU 1.*cuda:0.*gpus\[1\]"):
        runner._check_placement(0, 1)
    with pytest.raises(graphc.ArgumentError, match="not GPU memory"):
        runner._check_placement(0, None)
    runner._check_placement(0, 0)


@needs_cuda
@pytest.mark.skipif(SIM, reason="under the simulator device memory is host memory")
def test_host_memory_behind_a_cuda_array_interface_is_refused():
    a = np.ones(9, np.float32)
    fake = type("Fake", (), {"__cuda_array_interface__": {
        "shape": a.shape, "typestr": a.dtype.str, "strides": None,
        "data": (a.ctypes.data, False), "version": 3}})()
    with pytest.raises(graphc.ArgumentError, match="not GPU memory"):
        graphc.jit(chain, target="cuda")(fake)


@needs_cuda
@pytest.mark.skipif(SIM, reason="CUDA graphs need a GPU; the simulator has none")
def test_cuda_graph_replay_equals_launches():
    """GRAPHC_CUDA_GRAPHS=1: the second host-argument call captures the launches as a CUDA
    graph, later calls replay it; every result equals the CPU's, with new data each call."""
    params, x, y = _mlp_data(np.float32, 8, (6, 5, 3))
    vg = graphc.value_and_grad(mlp_loss, target="cuda")
    vg(params, x, y)
    runner = _entry(vg, params, x, y).run
    runner.graphs = True
    cpu = graphc.value_and_grad(mlp_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed capture warns: fail here instead
        for k in range(4):
            p = tuple(q * (1 + k) for q in params)
            assert_same(vg(p, x, y), cpu(p, x, y), F32)
    assert runner._graph is not None


@needs_cuda
def test_host_results_are_fresh_and_threads_do_not_mix():
    f = graphc.value_and_grad(chain, target="cuda")
    xs = [np.linspace(-k, k, 40, dtype=np.float32) for k in (1, 2, 3, 4)]
    want = [graphc.value_and_grad(chain)(x) for x in xs]
    first = f(xs[0])
    f(xs[1])
    assert_same(first, want[0], F32)
    got = [None] * len(xs)

    def call(k):
        for _ in range(3):
            got[k] = f(xs[k])

    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        assert_same(g, w, F32)


@needs_cuda
def test_op_without_cuda_implementation_names_op_and_backend():
    from graphc.ops import OPS, defop

    defop("test_blur", "layout", lambda x: x.copy(), shape=lambda x: (x.shape, x.dtype))
    defop("test_noscalar", "elementwise", np.negative, dtype=lambda x: x)
    try:
        for op in ("test_blur", "test_noscalar"):
            with pytest.raises(BackendError, match=f"{op}.*cuda"):
                graphc.jit(lambda x: apply(op, x) * 2, target="cuda")(np.ones(3))
    finally:
        del OPS["test_blur"], OPS["test_noscalar"]


@needs_cuda
def test_bench_script_runs_tiny(tmp_path):
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1" if SIM else "0", "PYTHONPATH": PYPATH,
           "GRAPHC_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, str(ROOT / "bench" / "gpu.py"), "--tiny", "--out", str(tmp_path),
           "--workloads", "mlp256,chain,rnn,rnn-scan"]
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    text = (tmp_path / "RESULTS-gpu.md").read_text()
    assert "mlp" in text and "chain" in text and "rnn" in text and "FAILED" not in text
    assert "graphc.scan" in text


# ------------------------------------------------------------------------ PTX for sm_90
def test_every_kernel_compiles_to_ptx_for_sm90():
    """In a process without the simulator: generate every test graph's module (building stops
    with BackendError where there is no GPU), compile each kernel with compile_ptx and
    assemble the PTX to sm_90 machine code with nvJitLink."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = PYPATH
    p = subprocess.run([sys.executable, __file__, "--ptx"], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert p.returncode == 0 and lines, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(lines[-1])
    if res.get("skip"):
        pytest.skip(res["skip"])
    assert not res["failures"], res["failures"]
    assert not res["f64_in_f32_kernels"], res["f64_in_f32_kernels"]
    assert not res["grid_conflicts"], res["grid_conflicts"]
    # ptxas (through nvJitLink) built sm_90 machine code for every kernel, none spilling
    assert len(res["usage"]) == res["kernels"]
    spills = {k: u for k, u in res["usage"].items() if u["spill"]}
    assert not spills, spills
    assert res["kernels"] >= 100  # every op, both directions, the models, the tile variants
    if res["backend_error"]:  # no GPU there: the message says what to install
        assert "graphc[cuda]" in res["backend_error"]
        assert "NUMBA_ENABLE_CUDASIM=1" in res["backend_error"]


def all_programs():
    for c in CASES:
        yield c.id, {}, lambda c=c: op_programs(*c.values)
    for name, progs in MODEL_PROGRAMS.items():
        yield name, {}, progs
    for name, (consts, progs) in SMALL_PROGRAMS.items():
        yield name, consts, progs


def _promoted(line: str) -> bool:
    """A float64 instruction in PTX, other than libdevice's sinf/cosf argument reduction for
    huge arguments (an int64 times 2^-64 pi/2 in float64, which CUDA's own sinf does too)."""
    line = line.strip()
    return ".f64" in line and not line.startswith((".reg", "cvt.rn.f64.s64", "cvt.rn.f32.f64")) \
        and not (line.startswith("mul.f64") and "0d3BF921FB54442D19" in line)


def ptx_main() -> None:
    import inspect

    from numba import cuda

    from graphc import runtime

    if not hasattr(cuda, "compile_ptx") or getattr(cuda, "as_cuda_array", None) is None:
        print(json.dumps({"skip": "numba.cuda is simulated or lacks compile_ptx"}))
        return
    modules, errors = [], set()
    real = gcuda.generate

    def spy(*a):
        modules.append(real(*a))
        return modules[-1]

    gcuda.generate = spy
    # A kernel's device functions (matmul epilogues) compile for the current device's
    # architecture, which here, without a GPU, is sm_90 too.
    from numba.cuda import dispatcher

    dispatcher.get_current_device = lambda: type("Device", (), {"compute_capability": (9, 0)})
    for _, consts, progs in all_programs():
        with configured(**consts):
            for fn, mode, kw, args in progs():
                try:
                    make(fn, mode, kw, "cuda")(*args)
                except BackendError as e:
                    errors.add(str(e))
    seen, failures, f64, usage, grids = set(), [], [], {}, []
    for m in modules:
        # A kernel's text fixes its launch shape: the simulator configures a kernel object,
        # not a launch, so launches of one kernel with two grids would run with the last.
        shapes: dict[str, set] = {}
        for k, grid in re.findall(r"K\['(k\d+)'\]\[(\(\d+,\), \d+)", m.source):
            shapes.setdefault(k, set()).add(grid)
        grids += [f"{k}: {sorted(g)}" for k, g in shapes.items() if len(g) > 1]
        mod = runtime.load(m.source, prefix="cuda")
        for name, sig in m.kernels.items():
            fn = getattr(mod, name)
            key = (inspect.getsource(fn).replace(name, "K", 1), sig)
            if key in seen:
                continue
            seen.add(key)
            try:
                ptx, _ = cuda.compile_ptx(fn, sig, cc=(9, 0))
            except Exception as e:  # noqa: BLE001 - reported, with the kernel, by the test
                failures.append(f"{mod.__file__}:{name} {sig}: {type(e).__name__}: {e}"[:2000])
                continue
            if ".entry" not in ptx:
                failures.append(f"{name}: no kernel entry in the PTX")
            if "float64" not in sig and any(map(_promoted, ptx.splitlines())):
                f64.append(f"{mod.__file__}:{name} {sig}")
            try:  # machine code for sm_90, as the driver would build it from this PTX
                usage[f"{mod.__file__}:{name} {sig}"] = gcuda.assemble(ptx)
            except BackendError as e:
                failures.append(f"{mod.__file__}:{name} {sig}: {e}"[:2000])
    print(json.dumps({"kernels": len(seen), "modules": len(modules), "failures": failures,
                      "f64_in_f32_kernels": f64, "usage": usage, "grid_conflicts": grids,
                      "backend_error": sorted(errors)[0] if errors else None}))


if __name__ == "__main__" and sys.argv[1:] == ["--ptx"]:
    ptx_main()
