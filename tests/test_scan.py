"""graphc.scan: a loop traced once. Each result is checked three ways: against the same loop
unrolled in Python (traced and differentiated the ordinary way), against the reference
interpreter, and against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

rng = np.random.default_rng(0)
T, B, D, H = 6, 3, 4, 5
XS = rng.normal(size=(T, B, D))
W = rng.normal(size=(D, H)) * 0.4
U = rng.normal(size=(H, H)) * 0.4
H0 = rng.normal(size=(B, H))


def rnn(W, U, xs, h0, reverse=False):
    def step(h, x):
        h = np.tanh(x @ W + h @ U)
        return h, (h * h).sum(axis=1)

    h, ys = graphc.scan(step, h0, xs, reverse=reverse)
    return ys.sum() + np.sin(h).sum()


def rnn_unrolled(W, U, xs, h0, reverse=False):
    h, total = h0, 0.0
    for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
        h = np.tanh(xs[t] @ W + h @ U)
        total = total + (h * h).sum()
    return total + np.sin(h).sum()


def _close(a, b, **tol):
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        np.testing.assert_allclose(x, y, **(tol or dict(rtol=1e-10, atol=1e-12)))


@pytest.mark.parametrize("reverse", [False, True])
def test_rnn_equals_unrolled_loop(reverse):
    args = (W, U, XS, H0)
    vg = graphc.value_and_grad(lambda *a: rnn(*a, reverse=reverse), argnums=(0, 1, 2, 3))
    vu = graphc.value_and_grad(lambda *a: rnn_unrolled(*a, reverse=reverse), argnums=(0, 1, 2, 3))
    (v, g), (rv, rg), (uv, ug) = vg(*args), vg.reference(*args), vu(*args)
    _close(v, uv)
    _close(v, rv)
    for a, b, c in zip(g, rg, ug):
        _close(a, c)
        _close(a, b)
    # Outside a transform, scan is a plain loop with the same answer.
    _close(rnn(*args, reverse=reverse), uv)


def test_gradient_matches_finite_differences():
    g = graphc.grad(rnn, argnums=(0, 1))(W, U, XS, H0)
    for k, base in enumerate((W, U)):
        v = rng.normal(size=base.shape)
        args = [W, U, XS, H0]
        eps = 1e-6
        args[k] = base + eps * v
        up = rnn_unrolled(*args)
        args[k] = base - eps * v
        down = rnn_unrolled(*args)
        assert np.sum(g[k] * v) == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_second_derivative_through_scan():
    v = rng.normal(size=W.shape)

    def directional(f):
        return lambda *a: (graphc.grad(f)(*a) * v).sum()

    hv = graphc.grad(directional(rnn), argnums=(0, 1))(W, U, XS, H0)
    hu = graphc.grad(directional(rnn_unrolled), argnums=(0, 1))(W, U, XS, H0)
    for a, b in zip(hv, hu):
        _close(a, b, rtol=1e-9, atol=1e-11)


def test_lstm_with_pytree_carry_and_float32():
    """Carry (h, c) as a tuple, xs as a dict, per-step outputs as a tuple, float32 throughout."""
    f32 = np.float32
    Wx = rng.normal(size=(D, 4 * H)).astype(f32) * f32(0.3)
    Wh = rng.normal(size=(H, 4 * H)).astype(f32) * f32(0.3)
    xs = {"x": XS.astype(f32), "m": (rng.random((T, B, 1)) > 0.3).astype(f32)}

    def cell(state, inp):
        h, c = state
        z = inp["x"] @ Wx + h @ Wh
        i, f, o = (graphc.numpy.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
        c2 = f * c + i * np.tanh(z[:, 3 * H:])
        h2 = o * np.tanh(c2)
        m = inp["m"]
        return (m * h2 + (1 - m) * h, m * c2 + (1 - m) * c), (h2.sum(), c2)

    def loss(Wx, Wh, xs, h0):
        (h, c), (hs, cs) = graphc.scan(cell, (h0, h0), xs)
        return hs.sum() + (cs ** 2).mean() + h.sum() * c.sum()

    def unrolled(Wx, Wh, xs, h0):
        state, total, sq = (h0, h0), 0, 0
        for t in range(T):
            state, (s, c2) = cell(state, {"x": xs["x"][t], "m": xs["m"][t]})
            total, sq = total + s, sq + (c2 ** 2).sum()
        h, c = state
        return total + sq / (T * B * H) + h.sum() * c.sum()

    h0 = H0.astype(f32)
    vg = graphc.value_and_grad(loss, argnums=(0, 1, 3))
    vu = graphc.value_and_grad(unrolled, argnums=(0, 1, 3))
    (v, g), (uv, ug), (rv, rg) = vg(Wx, Wh, xs, h0), vu(Wx, Wh, xs, h0), vg.reference(
        Wx, Wh, xs, h0)
    assert np.asarray(v).dtype == np.float32 and all(x.dtype == np.float32 for x in g)
    tol = dict(rtol=2e-4, atol=2e-5)
    _close(v, uv, **tol)
    _close(v, rv, **tol)
    for a, b, c in zip(g, ug, rg):
        _close(a, b, **tol)
        _close(a, c, **tol)


def test_nested_scan_and_scalar_carry():
    Wn, xs = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))

    def nested(Wn, xs):
        def outer(c, x):
            def inner(d, w):
                return np.sin(d * w + c), d.sum()

            d, s = graphc.scan(inner, x, Wn)
            return c + d.sum(), s.sum()

        c, ys = graphc.scan(outer, np.float64(0.5), xs)
        return c + ys.sum()

    def unrolled(Wn, xs):
        c, total = 0.5, 0.0
        for t in range(len(xs)):
            d, s = xs[t], 0.0
            for j in range(len(Wn)):
                s, d = s + d.sum(), np.sin(d * Wn[j] + c)
            c, total = c + d.sum(), total + s
        return c + total

    _close(graphc.jit(nested)(Wn, xs), unrolled(Wn, xs))
    _close(graphc.grad(nested, argnums=(0, 1))(Wn, xs),
           graphc.grad(unrolled, argnums=(0, 1))(Wn, xs))


def test_closure_constants_integer_carry_and_length_without_xs():
    mask = np.array([1.0, 0.0, 2.0])  # a closed-over array: a constant inside the body

    def f(x):
        def step(carry, _):
            k, y = carry
            return (k + 1, y * mask + np.cos(y) * k), y.sum()

        (k, y), ys = graphc.scan(step, (np.int64(0), x), None, length=4)
        return y.sum() + ys.sum() + k

    def unrolled(x):
        k, y, total = 0, x, 0.0
        for _ in range(4):
            total = total + y.sum()
            k, y = k + 1, y * mask + np.cos(y) * k
        return y.sum() + total + k

    x = rng.normal(size=3)
    _close(graphc.value_and_grad(f)(x), graphc.value_and_grad(unrolled)(x))


def test_compile_does_not_grow_with_length():
    """The body is one function whatever T: the module differs only in the trip count."""
    f = graphc.grad(rnn)
    short, long = XS[:2], rng.normal(size=(400, B, D))
    s1, s2 = f.source(W, U, short, H0), f.source(W, U, long, H0)
    assert f.stats(W, U, short, H0)["kernels"] == f.stats(W, U, long, H0)["kernels"]
    assert abs(len(s1) - len(s2)) < 100
    _close(f(W, U, long, H0), f.reference(W, U, long, H0))


def test_bad_steps_raise_clear_errors():
    def changes_dtype(x):
        return graphc.scan(lambda c, x: ((c * x).astype(np.float32), None), x[0], x)[0].sum()

    with pytest.raises(graphc.ShapeError, match="carry leaf 0 must keep its type") as e:
        graphc.grad(changes_dtype)(np.ones((3, 2)))
    assert e.value.loc is not None and e.value.loc.file == __file__

    def ragged(x, y):
        return graphc.scan(lambda c, xy: (c + xy[0] * xy[1], None), x[0], (x, y))[0].sum()

    with pytest.raises(graphc.ShapeError, match="one leading length"):
        graphc.grad(ragged)(np.ones((3, 2)), np.ones((4, 2)))

    with pytest.raises(graphc.ArgumentError, match="pair"):
        graphc.jit(lambda x: graphc.scan(lambda c, x: c + x, x[0], x))(np.ones((3, 2)))


@pytest.mark.parametrize("T", [0, 1, 5])
@pytest.mark.parametrize("reverse", [False, True])
def test_next_carry_and_ys_written_where_the_loop_keeps_them(T, reverse):
    """The compiled body writes its next carry and its ys into buffers the loop passes it
    (the saved carries' next row or one of two buffers in turn; the stacked ys' row): a carry
    passed through unchanged, a y that is the carry itself, a y nobody reads, a transposed
    initial carry, and zero steps, each against the reference interpreter."""
    a, xs = rng.normal(size=(3, 4)), rng.normal(size=(T, 4, 3))

    def f(a, xs):
        def step(c, x):
            h, k = c
            h = np.tanh(h * x + k.sum())
            return (h, k), (h, h * 2.0, x.sum())

        (h, k), (hs, doubled, _) = graphc.scan(step, (a.T, a), xs, reverse=reverse)
        return (h ** 2).sum() + np.sin(hs).sum() + (doubled * doubled).sum() + k.sum()

    m = rng.normal(size=(3, 3)) * 0.5

    def last_carry(a, xs):  # the history of h is not kept: two buffers in turn, and the
        # next carry (a transpose) must not be written over the carry it reads
        return graphc.scan(lambda h, x: (h.T * x + h @ m, None), a[:, :3].T, xs[:, :3],
                           reverse=reverse)[0]

    vg = graphc.value_and_grad(f, argnums=(0, 1))
    leaves = graphc.api.flatten
    _close(tuple(leaves(vg(a, xs))[0]), tuple(leaves(vg.reference(a, xs))[0]))
    if T:  # (outside a transform, zero steps give no ys to unpack)
        _close(vg(a, xs)[0], f(a, xs))
    jl = graphc.jit(last_carry)
    _close(jl(a, xs), jl.reference(a, xs))
    _close(jl(a, xs), last_carry(a, xs))

    def mapped(xs):  # no carry at all
        return graphc.scan(lambda c, x: ((), (np.sin(x) * 2.0, x.T)), (), xs)[1]

    jm = graphc.jit(mapped)
    _close(tuple(jm(xs)), tuple(jm.reference(xs)))
    if T:
        _close(tuple(jm(xs)), tuple(mapped(xs)))
