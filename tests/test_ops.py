"""Every primitive in the op table, checked against the oracle.

For each op: its VJP against central finite differences of its NumPy reference in float64
(random input direction v, random output covector u: compare <u, J v>), the compiled value and
gradient against the reference interpreter, and a float32 run of the same. An op without a
sample here fails ``test_every_op_has_a_sample``: a new op is tested because it exists.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.ops import OPS
from graphc.trace import apply

# op -> list of (input specs, params). A spec is (shape, domain): domain "real", "pos" (> 0.1),
# "unit" (inside (-0.9, 0.9)), "gt1" (> 1.1), "bool" (data, not differentiated), or ("index", n)
# (integers in [-n, n): indices into an axis of length n, negative ones included; data).
R, P, B, U, G = "real", "pos", "bool", "unit", "gt1"
# square matrices (..., n, n) in the last two axes: well conditioned; symmetric positive definite
W, S = "wellcond", "spd"


def I(n):  # noqa: E743 - reads as the domain it is
    return ("index", n)


SAMPLES: dict[str, list[tuple[list, dict]]] = {
    "add": [([((3, 4), R), ((4,), R)], {})],
    "subtract": [([((3, 1), R), ((1, 5), R)], {})],
    "multiply": [([((2, 3), R), ((), R)], {})],
    "divide": [([((3, 4), R), ((3, 4), P)], {})],
    "power": [([((3, 4), P), ((3, 4), R)], {}), ([((5,), P), ((), P)], {})],
    "maximum": [([((3, 4), R), ((4,), R)], {})],
    "minimum": [([((3, 4), R), ((3, 4), R)], {})],
    "negative": [([((4,), R)], {})],
    "exp": [([((3, 4), R)], {})],
    "log": [([((3, 4), P)], {})],
    "log1p": [([((3, 4), P)], {})],
    "expm1": [([((3, 4), R)], {})],
    "sqrt": [([((3, 4), P)], {})],
    "sin": [([((3, 4), R)], {})],
    "cos": [([((3, 4), R)], {})],
    "tanh": [([((3, 4), R)], {})],
    "sigmoid": [([((3, 4), R)], {})],
    "tan": [([((3, 4), U)], {})],
    "sinh": [([((3, 4), R)], {})],
    "cosh": [([((3, 4), R)], {})],
    "arcsin": [([((3, 4), U)], {})],
    "arccos": [([((3, 4), U)], {})],
    "arctan": [([((3, 4), R)], {})],
    "arcsinh": [([((3, 4), R)], {})],
    "arccosh": [([((3, 4), G)], {})],
    "arctanh": [([((3, 4), U)], {})],
    "erf": [([((3, 4), R)], {})],
    "erfc": [([((3, 4), R)], {})],
    "gammaln": [([((3, 4), P)], {})],
    "polygamma": [([((3, 4), P)], {"n": 0}), ([((3, 4), G)], {"n": 2})],
    "besselie": [([((3, 4), R)], {"v": 0}), ([((3, 4), R)], {"v": 1})],
    "exp2": [([((3, 4), R)], {})],
    "log2": [([((3, 4), P)], {})],
    "log10": [([((3, 4), P)], {})],
    "floor": [([((3, 4), R)], {})],
    "ceil": [([((3, 4), R)], {})],
    "arctan2": [([((3, 4), R), ((4,), R)], {})],
    "hypot": [([((3, 4), R), ((3, 1), R)], {})],
    "remainder": [([((3, 4), R), ((4,), P)], {})],
    "fmod": [([((3, 4), R), ((4,), P)], {}), ([((3, 4), R), ((4,), R)], {})],
    "floor_divide": [([((3, 4), R), ((4,), P)], {})],
    "prod": [([((3, 4, 5), R)], {"axes": (1,), "keepdims": False}),
             ([((3, 4), R)], {"axes": (0, 1), "keepdims": True})],
    "cumsum": [([((3, 4), R)], {"axis": 1, "reverse": False}),
               ([((2, 3, 4), R)], {"axis": 0, "reverse": True})],
    "argsort": [([((3, 4), R)], {"axis": 1}), ([((2, 3, 4), R)], {"axis": 0})],
    "cummax": [([((3, 5), R)], {"axis": 1, "reverse": False}),
               ([((4, 2, 3), R)], {"axis": 0, "reverse": True})],
    "cummin": [([((2, 3, 4), R)], {"axis": 1, "reverse": False})],
    "linrec": [([((3, 5), R), ((3, 5), R)], {"axis": 1, "reverse": False}),
               ([((4, 2), U), ((4, 2), R)], {"axis": 0, "reverse": True})],
    "solve": [([((4, 4), W), ((4, 3), R)], {}), ([((2, 3, 3), W), ((2, 3, 1), R)], {})],
    "slogdet": [([((4, 4), R)], {}), ([((2, 3, 3), W)], {})],
    "cholesky": [([((4, 4), S)], {}), ([((2, 3, 3), S)], {})],
    "eigh": [([((4, 4), R)], {}), ([((2, 3, 3), S)], {})],
    "svd": [([((4, 3), R)], {}), ([((2, 3, 5), R)], {})],
    "qr": [([((5, 3), R)], {}), ([((2, 3, 3), R)], {})],
    # lengths 12 = 4 * 3 and 10 = 2 * 5 (unrolled steps), 22 = 2 * 11 (a looped one); 10 real
    "dft": [([((2, 2, 12), R)], {"sign": -1}), ([((3, 1, 10), R)], {"sign": 1}),
            ([((1, 2, 22), R)], {"sign": -1})],
    "gather": [([((5, 3), R), ((2, 4), I(5))], {"axis": 0}),
               ([((3, 5, 2), R), ((4,), I(5))], {"axis": 1})],
    "scatter_add": [([((2, 4, 3), R), ((4,), I(5))], {"axis": 1, "size": 5}),
                    ([((2, 3, 4), R), ((2, 3), I(4))], {"axis": 0, "size": 4})],
    "abs": [([((3, 4), R)], {})],
    "sign": [([((3, 4), R)], {})],
    "where": [([((3, 4), B), ((3, 4), R), ((4,), R)], {})],
    "cast": [([((3, 4), R)], {"dtype": np.dtype(np.float64)})],
    "identity": [([((3,), R)], {})],
    "stop_gradient": [([((3,), R)], {})],
    "broadcast_to": [([((3, 1), R)], {"shape": (2, 3, 4)})],
    "sum": [([((3, 4, 5), R)], {"axes": (1,), "keepdims": False}),
            ([((3, 4, 5), R)], {"axes": (0, 2), "keepdims": True}),
            ([((3, 4), R)], {"axes": (0, 1), "keepdims": False})],
    "max": [([((3, 4, 5), R)], {"axes": (2,), "keepdims": False}),
            ([((3, 4), R)], {"axes": (0,), "keepdims": True})],
    "min": [([((3, 4), R)], {"axes": (0, 1), "keepdims": False})],
    "matmul": [([((3, 4), R), ((4, 5), R)], {}),
               ([((2, 3, 4), R), ((4, 2), R)], {}),
               ([((2, 1, 3, 4), R), ((3, 4, 2), R)], {})],
    "transpose": [([((2, 3, 4), R)], {"axes": (2, 0, 1)}), ([((3, 4), R)], {"axes": (1, 0)})],
    "reshape": [([((2, 3, 4), R)], {"shape": (6, 4)})],
    "slice": [([((5, 6), R)], {"index": ((1, 4, 2), 3)}),
              ([((4, 5), R)], {"index": ((3, -1, -1), (0, 5, 2))})],
    "unslice": [([((2, 3), R)], {"shape": (5, 6), "index": ((1, 5, 2), (0, 6, 2))})],
    "concatenate": [([((2, 3), R), ((2, 2), R)], {"axis": 1})],
    "less": [([((3, 4), R), ((4,), R)], {})],
    "less_equal": [([((3, 4), R), ((3, 4), R)], {})],
    "greater": [([((3, 4), R), ((), R)], {})],
    "greater_equal": [([((3, 4), R), ((3, 4), R)], {})],
    "equal": [([((3, 4), B), ((3, 4), B)], {})],
    "not_equal": [([((3, 4), B), ((4,), B)], {})],
}
CASES = [pytest.param(name, specs, params, id=f"{name}-{k}")
         for name, cases in SAMPLES.items() for k, (specs, params) in enumerate(cases)]


def _is_data(domain) -> bool:
    return domain == B or isinstance(domain, tuple)


def _differentiable(name, specs, params):
    args = [np.broadcast_to(np.eye(shape[-1]), shape) if d in (W, S) else
            np.ones(shape, bool if d == B else int if _is_data(d) else float)
            for shape, d in specs]
    with np.errstate(all="ignore"):
        return any(not _is_data(d) for _, d in specs) and \
            OPS[name].impl(*args, **params).dtype.kind == "f"


# Comparisons and argsort (boolean and integer outputs) have no VJP to check; their forward is
# compared below.
DIFF_CASES = [c for c in CASES if _differentiable(*c.values)]


def test_every_op_has_a_sample():
    # Sources are tested everywhere; control ops (scan) in test_scan.py.
    untested = {n for n, op in OPS.items() if op.kind not in ("source", "control")} - set(SAMPLES)
    assert not untested, f"ops without a test sample: {sorted(untested)}"


def _draw(spec, rng, dtype):
    shape, domain = spec
    if domain == B:
        return rng.random(shape) > 0.5
    if isinstance(domain, tuple):
        return rng.integers(-domain[1], domain[1], size=shape)
    x = rng.normal(size=shape)
    if domain == P:
        x = 0.1 + np.abs(x)
    elif domain == U:
        x = rng.uniform(-0.9, 0.9, size=shape)
    elif domain == G:
        x = 1.1 + np.abs(x)
    elif domain == W:
        x = x + 3 * np.eye(shape[-1])
    elif domain == S:
        x = x @ np.swapaxes(x, -1, -2) / shape[-1] + np.eye(shape[-1])
    return x.astype(dtype)


def _setup(name, specs, params, dtype, seed=0):
    rng = np.random.default_rng(seed)
    args = [_draw(s, rng, dtype) for s in specs]
    diff = tuple(k for k, s in enumerate(specs) if not _is_data(s[1]))
    out = OPS[name].impl(*args, **params)
    u = rng.normal(size=np.shape(out)).astype(dtype)

    def loss(*xs):
        return (apply(name, *xs, **params) * u).sum()

    return args, diff, u, loss


@pytest.mark.parametrize("name, specs, params", DIFF_CASES)
def test_vjp_matches_finite_differences(name, specs, params):
    args, diff, u, loss = _setup(name, specs, params, np.float64)
    _, grads = graphc.value_and_grad(loss, argnums=diff)(*args)
    rng = np.random.default_rng(1)
    vs = {k: rng.normal(size=np.shape(args[k])) for k in diff}

    def f(t):
        xs = [a + t * vs[k] if k in vs else a for k, a in enumerate(args)]
        return float((OPS[name].impl(*xs, **params) * u).sum())

    eps = 1e-6
    fd = (f(eps) - f(-eps)) / (2 * eps)
    ad = sum(float(np.sum(g * vs[k])) for g, k in zip(grads, diff))
    if name == "stop_gradient":
        fd = 0.0  # identity forward, zero derivative by definition
    assert ad == pytest.approx(fd, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, specs, params", CASES)
def test_compiled_equals_reference(name, specs, params, dtype):
    args, diff, u, loss = _setup(name, specs, params, dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-6)
    fwd = graphc.jit(lambda *xs: apply(name, *xs, **params))
    np.testing.assert_allclose(fwd(*args), fwd.reference(*args), **tol)
    assert np.asarray(fwd(*args)).dtype == np.asarray(fwd.reference(*args)).dtype
    if diff and np.asarray(fwd.reference(*args)).dtype != bool:
        vg = graphc.value_and_grad(loss, argnums=diff)
        (v, g), (rv, rg) = vg(*args), vg.reference(*args)
        np.testing.assert_allclose(v, rv, **tol)
        for a, b in zip(g, rg):
            assert a.dtype == b.dtype == dtype
            np.testing.assert_allclose(a, b, **tol)
