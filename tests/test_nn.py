"""graphc.nn: convolution and pooling against direct loops, whole networks (a CNN and an LSTM
language model) against finite differences, compiled against the reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn

rng = np.random.default_rng(0)


def conv_loops(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.einsum("nckl,ockl->no", win, w) + b
    return y


def pool_loops(x, k, stride, pad, how):
    n, c, h, w = x.shape
    fill = -np.inf if how == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, :, i, j] = getattr(win, how)(axis=(2, 3))
    return y


def check_grads(loss, args, argnums, rel=1e-6):
    """Compiled value and gradient against the reference interpreter and central differences
    along a random direction."""
    vg = graphc.value_and_grad(loss, argnums=argnums)
    (v, g), (rv, rg) = vg(*args), vg.reference(*args)
    np.testing.assert_allclose(v, rv, rtol=1e-10)
    for a, b in zip(g, rg):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    r = np.random.default_rng(1)
    dirs = {k: r.normal(size=np.shape(args[k])) for k in argnums}

    def at(t):
        return float(loss(*[a + t * dirs[k] if k in dirs else a for k, a in enumerate(args)]))

    eps = 1e-6
    fd = (at(eps) - at(-eps)) / (2 * eps)
    assert sum(np.sum(gk * dirs[k]) for gk, k in zip(g, argnums)) == pytest.approx(fd, rel=rel)
    return v, g


@pytest.mark.parametrize("stride, pad", [(1, 0), (1, 1), (2, 1), (2, 0)])
def test_conv2d_equals_loops_and_its_gradient_is_right(stride, pad):
    x, w, b = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2)), rng.normal(size=4)
    np.testing.assert_allclose(nn.conv2d(x, w, b, stride, pad), conv_loops(x, w, b, stride, pad),
                               rtol=1e-12)
    conv = graphc.jit(lambda x, w, b: nn.conv2d(x, w, b, stride, pad))
    np.testing.assert_allclose(conv(x, w, b), conv_loops(x, w, b, stride, pad), rtol=1e-12)
    u = rng.normal(size=conv_loops(x, w, b, stride, pad).shape)
    check_grads(lambda x, w, b: (nn.conv2d(x, w, b, stride, pad) * u).sum(), (x, w, b), (0, 1, 2))


@pytest.mark.parametrize("how", ["max", "avg"])
@pytest.mark.parametrize("k, stride, pad", [(2, None, 0), (3, 2, 1), (2, 1, 0)])
def test_pooling_equals_loops(how, k, stride, pad):
    x = rng.normal(size=(2, 3, 6, 6))
    pool = getattr(nn, f"{how}_pool2d")
    want = pool_loops(x, k, stride or k, pad, "max" if how == "max" else "mean")
    np.testing.assert_allclose(pool(x, k, stride, pad), want, rtol=1e-12)
    np.testing.assert_allclose(graphc.jit(lambda x: pool(x, k, stride, pad))(x), want, rtol=1e-12)
    u = rng.normal(size=want.shape)
    check_grads(lambda x: (pool(x, k, stride, pad) * u).sum(), (x,), (0,))


def test_cross_entropy_labels_and_probabilities():
    logits, labels = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    want = -np.log(p[np.arange(5), labels]).mean()
    assert nn.cross_entropy(logits, labels) == pytest.approx(want, rel=1e-12)
    g = graphc.grad(nn.cross_entropy)(logits, labels)
    np.testing.assert_allclose(g, (p - np.eye(4)[labels]) / 5, rtol=1e-10)
    soft = np.full((5, 4), 0.25)
    assert graphc.jit(nn.cross_entropy)(logits, soft) == pytest.approx(
        -(soft * np.log(p)).sum() / 5, rel=1e-12)
    assert graphc.jit(nn.relu)(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]
    with pytest.raises(graphc.OutOfBoundsError, match="size 4.*: 4"):
        graphc.grad(nn.cross_entropy)(logits, np.array([0, 4, 1, 1, 2]))


def cnn_loss(params, x, labels):
    """conv -> relu -> max pool -> dense -> softmax cross-entropy (the issue's CNN)."""
    w1, b1, w2, b2 = params
    h = nn.relu(nn.conv2d(x, w1, b1, padding=1))
    h = nn.max_pool2d(h, 2)
    h = h.reshape(h.shape[0], -1)
    return nn.cross_entropy(h @ w2 + b2, labels)


def cnn_data(dtype=np.float64, seed=0):
    r = np.random.default_rng(seed)
    params = (r.normal(size=(4, 1, 3, 3)) * 0.5, r.normal(size=4) * 0.1,
              r.normal(size=(4 * 3 * 3, 5)) * 0.3, np.zeros(5))
    params = tuple(p.astype(dtype) for p in params)
    return params, r.normal(size=(3, 1, 6, 6)).astype(dtype), np.array([0, 4, 2])


def lstm_lm_loss(params, tokens):
    """A one-layer LSTM language model: embed, recur with graphc.scan, predict the next
    token, mean cross-entropy."""
    emb, wx, wh, b, wo = params
    vocab, hidden = emb.shape[0], wh.shape[0]
    onehot = nn.one_hot(tokens[:-1], vocab, emb.dtype)  # (T, B, V)
    xs = onehot @ emb

    def cell(state, x):
        h, c = state
        z = x @ wx + h @ wh + b
        i, f, o = (graphc.numpy.sigmoid(z[:, k * hidden:(k + 1) * hidden]) for k in range(3))
        c = f * c + i * np.tanh(z[:, 3 * hidden:])
        h = o * np.tanh(c)
        return (h, c), h @ wo

    zeros = np.zeros((tokens.shape[1], hidden), emb.dtype)
    _, logits = graphc.scan(cell, (zeros, zeros), xs)
    return nn.cross_entropy(logits.reshape(-1, vocab), tokens[1:].reshape(-1))


def lstm_data(dtype=np.float64, seed=0):
    r = np.random.default_rng(seed)
    V, E, H = 7, 5, 6
    params = (r.normal(size=(V, E)), r.normal(size=(E, 4 * H)) * 0.4,
              r.normal(size=(H, 4 * H)) * 0.4, r.normal(size=4 * H) * 0.1,
              r.normal(size=(H, V)) * 0.4)
    return tuple(p.astype(dtype) for p in params), r.integers(0, V, size=(6, 2))


def test_cnn_matches_finite_differences():
    params, x, labels = cnn_data()
    check_grads(lambda w1, b1, w2, b2, x: cnn_loss((w1, b1, w2, b2), x, labels),
                (*params, x), (0, 1, 2, 3, 4))


def test_lstm_language_model_matches_finite_differences():
    params, tokens = lstm_data()
    check_grads(lambda *p: lstm_lm_loss(p, tokens), params, (0, 1, 2, 3, 4))


def test_layer_errors_name_the_problem():
    x = np.ones((1, 2, 5, 5))
    with pytest.raises(graphc.ShapeError, match="agree on C"):
        graphc.jit(nn.conv2d)(x, np.ones((3, 4, 3, 3)))
    with pytest.raises(graphc.ShapeError, match="does not fit"):
        graphc.jit(lambda x: nn.max_pool2d(x, 7))(x)
    with pytest.raises(graphc.ShapeError, match="NCHW"):
        graphc.jit(lambda x: nn.avg_pool2d(x, 2))(np.ones((5, 5)))
