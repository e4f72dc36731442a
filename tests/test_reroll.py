"""Rerolling: a Python loop that tracing unrolled is compiled as a scan (passes/reroll.py).

Each loop is checked against the same function with rerolling off (GRAPHC_REROLL=0: the
unrolled trace, as before the pass existed), against plain NumPy for the value, against finite
differences for the gradient, and for whether it became a scan at all."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.passes import reroll

rng = np.random.default_rng(3)
T, B, D, H = 12, 3, 4, 5
XS = rng.normal(size=(T, B, D))
W = rng.normal(size=(D, H)) * 0.4
U = rng.normal(size=(H, H)) * 0.4
H0 = rng.normal(size=(B, H))


@pytest.fixture(autouse=True)
def small_loops(monkeypatch):
    """Roll loops of these tests' small sizes too (the defaults keep short loops unrolled)."""
    monkeypatch.setattr(reroll, "MIN_NODES", 0)
    monkeypatch.setenv("GRAPHC_REROLL", "1")


def rnn(W, U, xs, h0):
    h, total = h0, 0.0
    for t in range(len(xs)):
        h = np.tanh(xs[t] @ W + h @ U)
        total = total + (h * h).sum()
    return total + np.sin(h).sum()


def rnn_first_step_differs(W, U, xs, h0):
    total, h = 0.0, None
    for t in range(len(xs)):
        a = xs[t] @ W
        if t > 0:  # h_0 = 0: the first step has no h @ U
            a = a + h @ U
        h = np.tanh(a)
        total = total + ((h - 0.5) ** 2).mean()
    return total / len(xs)


def reversed_loop(W, U, xs, h0):
    h = h0
    for t in reversed(range(len(xs))):
        h = np.tanh(xs[t] @ W + h @ U)
    return (h * h).sum()


def strided_second_axis(W, U, xs, h0):
    xt = xs.transpose(1, 0, 2)  # (B, T, D): the loop walks axis 1, every other step
    h = h0
    for t in range(1, xt.shape[1], 2):
        h = np.tanh(xt[:, t] @ W + h @ U)
    return np.exp(-h).sum()


def no_data(W, U, xs, h0):
    h = h0
    for _ in range(10):
        h = np.tanh(h @ U + 0.1)
    return (h @ U).sum() + W.sum()


def every_step_read_after(W, U, xs, h0):
    hs, losses = [], []
    h = h0
    for t in range(len(xs)):
        h = np.tanh(xs[t] @ W + h @ U)
        hs.append(h)
        losses.append((h ** 2).sum(axis=1))
    return sum(losses).sum() + (hs[3] * hs[7]).sum() + hs[-1].mean()


def stacked_after(W, U, xs, h0):
    """Every step's h read after the loop, stacked: slices of the scan's stacked output,
    which are no loop to roll again."""
    h, hs = h0, []
    for t in range(len(xs)):
        h = np.tanh(xs[t] @ W + h @ U)
        hs.append(h)
    return (np.stack(hs) ** 2).sum()


def two_loops(W, U, xs, h0):
    h = h0
    for t in range(len(xs)):
        h = np.tanh(xs[t] @ W + h @ U)
    g = h
    for t in range(8):
        g = np.sin(g @ U.T) * 0.9
    return (g * g).sum()


def second_order(W, U, xs, h0):
    """Reads the value from two steps back: not a scan of one carry per value; stays
    unrolled (or is rolled with both as carries), and is right either way."""
    a, b = h0, np.tanh(h0)
    for t in range(len(xs)):
        a, b = b, np.tanh(xs[t] @ W + a @ U - b)
    return (b * b).sum()


def rows_filled(W, U, xs, h0):
    # the rows written in place (passes/updates.py merges them as np.stack's rows)
    out = np.zeros_like(xs, shape=(len(xs),) + h0.shape)
    h = h0
    for t in range(len(xs)):
        h = np.tanh(xs[t] @ W + h @ U)
        out[t] = h
    return ((out ** 2).sum() + out[-1, 0].sum()) / len(xs)


def columns_filled_partly(W, U, xs, h0):
    # along axis 1, after a traced start; the first and last columns keep it; a rewrite wins
    hs = np.repeat(h0[:, None, :], len(xs) + 2, axis=1) * 0.5
    h = h0
    for t in range(len(xs)):
        h = np.tanh(xs[t] @ W + h @ U)
        hs[:, t + 1, :] = h
    hs[:, 1, :] = h * 2
    return (np.sin(hs) * hs).sum() / len(xs)


def rows_read_back(W, U, xs, h0):
    # cs231n's rnn_forward as students write it: a plain np.zeros filled along axis 1, each
    # step reading the row before from it (passes/updates.py forwards those reads)
    h = np.zeros((h0.shape[0], len(xs), h0.shape[1]))
    for t in range(len(xs)):
        prev = h0 if t == 0 else h[:, t - 1, :]
        h[:, t, :] = np.tanh(xs[t] @ W + prev @ U)
    return (h ** 2).sum() / len(xs)


def rk4(W, U, xs, h0):
    """Runge-Kutta steps: each calls f four times, so f's period repeats more often than the
    step's; the step's is the one that rolls."""
    def f(y):
        return np.tanh(y @ U + xs[0] @ W) - 0.5 * y

    y, dt = h0, 0.1
    for _ in range(20):
        k1 = f(y)
        k2 = f(y + dt / 2 * k1)
        k3 = f(y + dt / 2 * k2)
        k4 = f(y + dt * k3)
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return (y ** 2).sum()


LOOPS = [rnn, rnn_first_step_differs, reversed_loop, strided_second_axis, no_data,
         every_step_read_after, stacked_after, two_loops, second_order, rows_filled,
         columns_filled_partly, rows_read_back, rk4]
ROLLED = {rk4, rnn, rnn_first_step_differs, reversed_loop, strided_second_axis, no_data,
          every_step_read_after, stacked_after, two_loops, rows_filled, columns_filled_partly,
          rows_read_back}


def _unrolled(f, monkeypatch, *args):
    monkeypatch.setenv("GRAPHC_REROLL", "0")
    try:
        vg = graphc.value_and_grad(f, argnums=(0, 1, 3))
        assert "scan(" not in vg.ir(*args)
        return vg(*args)
    finally:
        monkeypatch.setenv("GRAPHC_REROLL", "1")


@pytest.mark.parametrize("f", LOOPS, ids=lambda f: f.__name__)
def test_rolled_loop_equals_unrolled_numpy_and_finite_differences(f, monkeypatch):
    args = (W, U, XS, H0)
    vg = graphc.value_and_grad(f, argnums=(0, 1, 3))
    v, g = vg(*args)
    scans = vg.ir(*args).split("# optimised")[0].count("= scan(")
    if f in ROLLED:
        assert scans >= (2 if f is two_loops else 1), vg.ir(*args)[:2000]
    uv, ug = _unrolled(f, monkeypatch, *args)
    assert v == pytest.approx(f(*args), rel=1e-12)
    assert v == pytest.approx(uv, rel=1e-12)
    rv, rg = vg.reference(*args)
    assert rv == pytest.approx(v, rel=1e-12)
    for a, b, c in zip(g, ug, rg):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)
    for k, base in zip((0, 1, 3), (W, U, H0)):
        d = rng.normal(size=base.shape)
        lo, hi = list(args), list(args)
        lo[k], hi[k] = base - 1e-6 * d, base + 1e-6 * d
        fd = (f(*hi) - f(*lo)) / 2e-6
        assert np.sum(g[(0, 1, 3).index(k)] * d) == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_jit_aux_and_float32():
    """jit and has_aux outputs read the loop's values too; float32 stays float32."""
    args = tuple(a.astype(np.float32) for a in (W, U, XS, H0))

    def with_aux(W, U, xs, h0):
        h, hs = h0, []
        for t in range(len(xs)):
            h = np.tanh(xs[t] @ W + h @ U)
            hs.append(h.sum())
        return (h * h).sum(), (h, hs[2])

    (v, (h, h2)), g = graphc.value_and_grad(with_aux, has_aux=True)(*args)
    jh = graphc.jit(lambda *a: with_aux(*a)[1])(*args)
    ev, (eh, eh2) = with_aux(*args)
    assert "scan(" in graphc.jit(lambda *a: with_aux(*a)[1]).ir(*args)
    for a, b in ((v, ev), (h, eh), (h2, eh2), (jh[0], eh), (jh[1], eh2)):
        assert np.asarray(a).dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert g.dtype == np.float32


def test_grad_of_a_loop_inside_jit_and_second_derivative():
    def f(x, U):
        h = x
        for _ in range(6):
            h = np.tanh(h * 0.7 + U)
        return h.sum()

    x, u = rng.normal(size=4), rng.normal(size=4)
    dfdx = graphc.grad(f)
    hess_diag = graphc.jit(lambda x, U: graphc.grad(lambda y: dfdx(y, U).sum())(x))
    eps = 1e-5
    fd = (graphc.grad(f)(x + eps, u) - graphc.grad(f)(x - eps, u)).sum() / (2 * eps)
    assert "scan(" in graphc.grad(f).ir(x, u)
    np.testing.assert_allclose(hess_diag(x, u).sum(), fd, rtol=1e-6)


def test_short_loops_stay_unrolled_by_default(monkeypatch):
    monkeypatch.setattr(reroll, "MIN_NODES", 300)
    args = (W, U, XS, H0)
    assert "scan(" not in graphc.grad(rnn).ir(*args)  # 12 steps of 5 nodes
    long = rng.normal(size=(80, B, D))
    assert "scan(" in graphc.grad(rnn).ir(W, U, long, H0)  # 80 steps of 5


def test_a_gradient_called_in_a_loop_rolls_with_the_loop():
    # Gradient descent on a quadratic, dU called once per step. The nested gradient used to
    # roll the enclosing trace's earlier steps while tracing step k, which cut its own value
    # off from its argument: every step from then on got a zero gradient, silently.
    A = np.array([[2.0, 0.6], [0.6, 1.0]])
    dU = graphc.grad(lambda q, a: 0.5 * q @ a @ q)
    step_jit = graphc.jit(lambda q, a: q - 0.1 * q @ a)

    def descend(q, a):
        for _ in range(14):
            q = q - 0.1 * dU(q, a)
        for _ in range(6):  # a jit in a loop rolls as a gradient does
            q = step_jit(q, a)
        return np.sum(q ** 2)

    q0 = np.array([0.5, -0.3])
    assert "scan(" in graphc.jit(descend).ir(q0, A)
    np.testing.assert_allclose(graphc.jit(descend)(q0, A), descend(q0, A), rtol=1e-12)
    g = graphc.grad(descend)(q0, A)
    eps = 1e-6
    fd = [(descend(q0 + eps * e, A) - descend(q0 - eps * e, A)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_a_loop_reading_the_value_from_two_steps_back_rolls():
    # Leapfrog for the wave equation (u_next from u and u_prev) and heavy-ball momentum
    # (x_next from x and x_prev): each step reads the value made two steps before.
    def wave(c, u0, obs):
        u_prev, u = u0, u0 * 1.0
        for _ in range(9):
            up = np.pad(u, 1, mode="edge")
            lap = up[2:, 1:-1] + up[:-2, 1:-1] + up[1:-1, 2:] + up[1:-1, :-2] - 4 * u
            u_prev, u = u, 2 * u - u_prev + (c * 0.1) ** 2 * lap
        return np.sum((u - obs) ** 2)

    def heavy_ball(x0, A):
        x_prev, x = x0, x0 - 0.1 * (A @ x0)
        for _ in range(8):
            x_prev, x = x, x - 0.1 * (A @ x) + 0.7 * (x - x_prev)
        return np.sum(x ** 3) + x_prev.sum()

    u0, obs = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    A = rng.normal(size=(4, 4)) * 0.3 + np.eye(4)
    for f, args in [(wave, (1.3, u0, obs)), (heavy_ball, (rng.normal(size=4), A))]:
        vg = graphc.value_and_grad(f, argnums=(0, 1))
        assert "scan(" in vg.ir(*args)
        v, grads = vg(*args)
        assert v == pytest.approx(f(*args), rel=1e-10)
        for k, g in enumerate(grads):
            def along(t, k=k):
                xs = list(args)
                xs[k] = args[k] + t * np.ones_like(args[k])
                return f(*xs)
            fd = (along(1e-6) - along(-1e-6)) / 2e-6
            assert np.sum(g) == pytest.approx(fd, rel=1e-5, abs=1e-7)
