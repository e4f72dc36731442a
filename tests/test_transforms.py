"""Higher-order transforms (hvp, jacobian, jvp) and custom gradients, against finite
differences and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

rng = np.random.default_rng(0)
A = rng.normal(size=(3, 4))
X, V = rng.normal(size=4), rng.normal(size=4)


def f(x):
    return (np.tanh(A @ x) ** 2).sum() + (x ** 3).sum() * np.exp(x[0])


def fd(fn, x, v, eps=1e-6):
    return (fn(x + eps * v) - fn(x - eps * v)) / (2 * eps)


def test_hvp_matches_finite_differences_of_the_gradient():
    np.testing.assert_allclose(graphc.hvp(f)(X, V), fd(graphc.grad(f), X, V), rtol=1e-7)
    assert graphc.hessian_vector_product is graphc.hvp


def test_hvp_with_two_arguments():
    def g(x, y):
        return (np.sin(x) * np.cos(y)).sum() + (x * y ** 2).sum()

    y, w = rng.normal(size=4), rng.normal(size=4)
    hx, hy = graphc.hvp(g, argnums=(0, 1))(X, y, (V, w))
    gx = graphc.grad(g, argnums=(0, 1))
    want = (np.asarray(gx(X + 1e-6 * V, y + 1e-6 * w)) -
            np.asarray(gx(X - 1e-6 * V, y - 1e-6 * w))) / 2e-6
    np.testing.assert_allclose(hx, want[0], rtol=1e-6)
    np.testing.assert_allclose(hy, want[1], rtol=1e-6)


def test_jacobian_closed_form_and_shapes():
    J = graphc.jacobian(lambda x: np.tanh(A @ x))(X)
    np.testing.assert_allclose(J, (1 - np.tanh(A @ X) ** 2)[:, None] * A, rtol=1e-12)
    M = rng.normal(size=(2, 3))
    jx, jm = graphc.jacobian(lambda x, m: m * x.sum(), argnums=(0, 1))(X, M)
    assert jx.shape == (2, 3, 4) and jm.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(jx, np.broadcast_to(M[:, :, None], (2, 3, 4)))
    np.testing.assert_allclose(jm.reshape(6, 6), np.eye(6) * X.sum())
    assert graphc.jacobian(lambda x: (x * x).sum())(X).shape == (4,)


def test_jacobian_of_many_outputs_is_one_loop():
    # 576 outputs: one reverse pass each, compiled as one loop over a one-hot seed (unrolled,
    # this graph took minutes to compile), and differentiable again.
    x = np.linspace(-1.0, 2.0, 24)
    jac = graphc.jacobian(lambda z: np.tanh(np.outer(z, z)).ravel())
    assert "= scan(" in jac.ir(x) and jac.stats(x)["nodes_before"] < 20
    d = 1 - np.tanh(np.outer(x, x)) ** 2
    want = np.einsum("ij,ik->ijk", d * x[None, :], np.eye(24))
    want += np.einsum("ij,jk->ijk", d * x[:, None], np.eye(24))
    np.testing.assert_allclose(jac(x), want.reshape(576, 24), rtol=1e-12, atol=1e-15)

    def g(z):
        return (graphc.jacobian(lambda u: np.sin(u[:3] * u[1:]))(z) ** 2).sum()

    np.testing.assert_allclose(graphc.grad(g)(X) @ V, fd(g, X, V), rtol=1e-7)


def test_jvp_equals_jacobian_times_tangent():
    fn = lambda x: np.tanh(A @ x) * x[:3]  # noqa: E731
    y, dy = graphc.jvp(fn, (X,), (V,))
    np.testing.assert_allclose(y, fn(X), rtol=1e-12)
    np.testing.assert_allclose(dy, graphc.jacobian(fn)(X) @ V, rtol=1e-12)
    np.testing.assert_allclose(dy, fd(fn, X, V), rtol=1e-7)


def test_jvp_of_grad_is_hvp_and_pytrees():
    _, hv = graphc.jvp(graphc.grad(f), (X,), (V,))
    np.testing.assert_allclose(hv, graphc.hvp(f)(X, V), rtol=1e-12)

    def g(p):
        return {"s": (p["a"] * p["b"]).sum(), "v": np.sin(p["a"])}

    p = {"a": X, "b": A[0]}
    t = {"a": V, "b": np.ones(4)}
    out, dots = graphc.jvp(g, (p,), (t,))
    np.testing.assert_allclose(dots["s"], (V * A[0] + X).sum(), rtol=1e-12)
    np.testing.assert_allclose(dots["v"], np.cos(X) * V, rtol=1e-12)


def test_second_derivative_inside_a_traced_function():
    """grad of a function that itself takes a jvp and an hvp: everything inlines."""
    def g(x):
        _, d = graphc.jvp(np.sin, (x,), (np.ones(x.shape),))
        return (d * x).sum()  # sum(cos(x) * x)

    np.testing.assert_allclose(graphc.grad(g)(X), np.cos(X) - X * np.sin(X), rtol=1e-12)


@graphc.custom_vjp
def softplus(x):
    return np.log1p(np.exp(x))


softplus.defvjp(lambda x: (softplus(x), (x,)),
                lambda res, g: (g * graphc.numpy.sigmoid(res[0]),))


def test_custom_vjp_replaces_the_rule():
    x = np.array([-1000.0, -1.0, 0.0, 3.0, 1000.0])
    g = graphc.grad(lambda x: softplus(x).sum())(x)
    np.testing.assert_allclose(g, [0, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-3)), 1], rtol=1e-15)
    # The derived rule would be exp(x) / (1 + exp(x)) = inf / inf at 1000.
    naive = graphc.grad(lambda x: np.log1p(np.exp(x)).sum())(x)
    assert np.isnan(naive[-1]) and np.isfinite(g).all()
    # Outside a transform, and under jit, the function is its own primal.
    np.testing.assert_allclose(graphc.jit(softplus)(x[1:4]), np.log1p(np.exp(x[1:4])))
    np.testing.assert_allclose(softplus(x[1:4]), np.log1p(np.exp(x[1:4])))


def test_custom_vjp_is_differentiable_again_and_sees_closures():
    x = np.array([-2.0, 0.0, 1.5])
    gg = graphc.grad(lambda x: graphc.grad(lambda y: softplus(y).sum())(x).sum())(x)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(gg, s * (1 - s), rtol=1e-12)

    @graphc.custom_vjp
    def clipped_grad(x, w):
        return (x * w).sum()

    clipped_grad.defvjp(lambda x, w: (clipped_grad(x, w), (x, w)),
                        lambda res, g: (np.clip(g * res[1], -1, 1), None))
    gx, gw = graphc.grad(lambda x, w: clipped_grad(x, w) * 3, argnums=(0, 1))(X, A[0])
    np.testing.assert_allclose(gx, np.clip(3 * A[0], -1, 1))
    np.testing.assert_allclose(gw, 0 * A[0])


def test_transform_errors():
    @graphc.custom_vjp
    def no_rule(x):
        return x.sum()

    with pytest.raises(graphc.ArgumentError, match="defvjp"):
        graphc.grad(no_rule)(X)
    with pytest.raises(graphc.ArgumentError, match="integer"):
        graphc.jacobian(lambda i: i * 2.0)(np.arange(3))
    with pytest.raises(graphc.ShapeError, match="tangent has shape"):
        graphc.jvp(np.sin, (X,), (np.ones(3),))
    with pytest.raises(graphc.ShapeError, match="vector has shape"):
        graphc.hvp(f)(X, np.ones(3))


def test_jacobian_and_jvp_of_a_function_building_its_output_with_numpy():
    # np.array of traced scalars, np.zeros filled in place, np.random.default_rng(seed) and
    # custom_vjp rules: the function runs with graphc's NumPy under every transform.
    def f(p):
        a, b = p
        return np.array([a * b, a + b])

    def fz(p):
        out = np.zeros(2)
        out[0] = p[0] * p[1]
        out[1] = p[0] + p[1]
        return out

    p, t = np.array([2.0, 3.0]), np.array([1.0, 0.0])
    for fn in (f, fz):
        np.testing.assert_allclose(graphc.jacobian(fn)(p), [[3.0, 2.0], [1.0, 1.0]])
        np.testing.assert_allclose(graphc.jvp(fn, (p,), (t,))[1], [3.0, 1.0])

    @graphc.custom_vjp
    def g(x):
        return np.array([x[0] ** 2, x[1]])

    g.defvjp(lambda x: (g(x), (x,)), lambda res, ct: (np.array([2 * res[0][0] * ct[0], ct[1]]),))
    np.testing.assert_allclose(graphc.grad(lambda x: g(x).sum())(p), [4.0, 1.0])
