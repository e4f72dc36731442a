"""Whole models through value_and_grad, against gradients derived by hand."""

from __future__ import annotations

import numpy as np

import graphc
from graphc.numpy import log_softmax


def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1 + b1)
    return -(y * log_softmax(h @ w2 + b2)).sum() / x.shape[0]


def mlp_hand(params, x, y):
    """The lecture's backward pass for a tanh layer and softmax cross-entropy, by hand."""
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -(y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))).sum() / x.shape[0]
    dz = (p * y.sum(axis=1, keepdims=True) - y) / x.shape[0]
    dh = dz @ w2.T * (1 - h * h)
    return loss, (x.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0))


def _mlp_data(dtype, batch=256, sizes=(784, 256, 10), seed=0):
    rng = np.random.default_rng(seed)
    d, h, k = sizes
    params = (rng.normal(size=(d, h)) * d ** -0.5, np.zeros(h), rng.normal(size=(h, k)) * h ** -0.5,
              rng.normal(size=k) * 0.1)
    params = tuple(p.astype(dtype) for p in params)
    x = rng.normal(size=(batch, d)).astype(dtype)
    y = np.eye(k, dtype=dtype)[rng.integers(0, k, batch)]
    return params, x, y


def test_mlp_784_256_10_matches_hand_derived_float32():
    params, x, y = _mlp_data(np.float32)
    value, grads = graphc.value_and_grad(mlp_loss)(params, x, y)
    hv, hg = mlp_hand(tuple(p.astype(np.float64) for p in params), x.astype(np.float64), y)
    assert abs(value - hv) < 1e-5 * abs(hv)
    for g, h in zip(grads, hg):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, h, rtol=0, atol=2e-4 * np.abs(h).max())


def test_mlp_float64_exact_against_hand_and_reference():
    params, x, y = _mlp_data(np.float64, batch=16, sizes=(20, 12, 5))
    vg = graphc.value_and_grad(mlp_loss)
    value, grads = vg(params, x, y)
    hv, hg = mlp_hand(params, x, y)
    rv, rg = vg.reference(params, x, y)
    assert abs(value - hv) < 1e-12 and abs(value - rv) < 1e-12
    for g, h, r in zip(grads, hg, rg):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-13)
