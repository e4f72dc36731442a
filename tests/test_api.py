"""The public transforms: structure of arguments and results, caching, composition."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.numpy import log_softmax, logsumexp, sigmoid, softmax


def fd_grad(f, x, eps=1e-6):
    """Central finite differences of scalar f at array x (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def test_lecture_neuron_matches_hand_derivation():
    def loss(w, b, x, y):
        return (sigmoid(w * x + b) - y) ** 2

    w, b, x, y = 0.5, -0.2, 1.5, 1.0
    (value, (gw, gb)) = graphc.value_and_grad(loss, argnums=(0, 1))(w, b, x, y)
    s = 1 / (1 + np.exp(-(w * x + b)))
    dz = 2 * (s - y) * s * (1 - s)
    assert value == pytest.approx((s - y) ** 2, rel=1e-14)
    assert gw == pytest.approx(dz * x, rel=1e-14)
    assert gb == pytest.approx(dz, rel=1e-14)


def test_grad_decorator_and_argnums_keyword():
    @graphc.grad
    def f(x, y):
        return np.sum(x * y)

    x, y = np.arange(3.0), np.array([2.0, 3.0, 4.0])
    np.testing.assert_allclose(f(x, y), y)
    np.testing.assert_allclose(graphc.grad(f.__wrapped__, argnums=1)(x, y), x)


def test_pytrees_in_and_out():
    def loss(params, data):
        h = np.tanh(data["x"] @ params["w"][0] + params["w"][1])
        return ((h - data["y"]) ** 2).mean() + 0.1 * np.sum(params["scale"] ** 2)

    rng = np.random.default_rng(0)
    params = {"w": [rng.normal(size=(4, 3)), rng.normal(size=3)], "scale": 0.5}
    data = {"x": rng.normal(size=(5, 4)), "y": rng.normal(size=(5, 3))}
    g = graphc.grad(loss)(params, data)
    assert set(g) == {"w", "scale"} and isinstance(g["w"], list) and len(g["w"]) == 2
    assert g["w"][0].shape == (4, 3)
    gs = fd_grad(lambda s: loss({"w": params["w"], "scale": s}, data), params["scale"])
    assert g["scale"] == pytest.approx(float(gs), rel=1e-6)
    gw = fd_grad(lambda w: loss({"w": [w, params["w"][1]], "scale": 0.5}, data), params["w"][0])
    np.testing.assert_allclose(g["w"][0], gw, rtol=1e-6, atol=1e-9)


def test_named_tuples_and_dataclasses_are_pytrees():
    import dataclasses
    from typing import NamedTuple

    class Layer(NamedTuple):
        w: np.ndarray
        b: np.ndarray

    @dataclasses.dataclass(frozen=True)
    class Model:
        layers: list
        scale: float

    def loss(model, x):
        h = x
        for layer in model.layers:
            h = np.tanh(h @ layer.w + layer.b)
        return model.scale * np.sum(h ** 2)

    rng = np.random.default_rng(0)
    model = Model([Layer(rng.normal(size=(4, 3)), rng.normal(size=3)),
                   Layer(rng.normal(size=(3, 2)), np.zeros(2))], 0.5)
    x = rng.normal(size=(5, 4))
    v, g = graphc.value_and_grad(loss)(model, x)
    assert v == pytest.approx(loss(model, x), rel=1e-12)
    assert type(g) is Model and type(g.layers[1]) is Layer and g.layers[0].w.shape == (4, 3)
    gw = fd_grad(lambda w: loss(dataclasses.replace(model, layers=[
        Layer(w, model.layers[0].b), model.layers[1]]), x), model.layers[0].w)
    np.testing.assert_allclose(g.layers[0].w, gw, rtol=1e-6, atol=1e-9)
    assert g.scale == pytest.approx(v / 0.5, rel=1e-12)
    assert graphc.jit(lambda m: m)(model).layers[1].b.shape == (2,)


def test_static_arguments_and_arguments_by_name():
    def conv1d(x, w, stride, pad, mode="tanh"):
        xp = np.pad(x, pad)
        n = (xp.shape[0] - w.shape[0]) // stride + 1
        out = np.stack([xp[i * stride:i * stride + w.shape[0]] @ w for i in range(n)])
        return np.sum(np.tanh(out) if mode == "tanh" else out)

    x, w = np.linspace(-1, 1, 9), np.array([0.2, -0.3, 0.5])
    f = graphc.value_and_grad(conv1d, argnums=(0, 1), static_argnums=(2, 3, 4))
    for args in [(1, 1, "tanh"), (2, 0, "tanh"), (1, 1, "linear"), (1, 1, "tanh")]:
        v, (gx, gw) = f(x, w, *args)
        assert v == pytest.approx(conv1d(x, w, *args), rel=1e-12)
        np.testing.assert_allclose(gw, fd_grad(lambda w: conv1d(x, w, *args), w), rtol=1e-6,
                                   atol=1e-9)
    assert len(f._entries) == 3  # one per distinct static values
    v, _ = f(x, w=w, stride=2, pad=0)  # by name; mode left to its default
    assert v == pytest.approx(conv1d(x, w, 2, 0), rel=1e-12)
    assert graphc.jit(conv1d, static_argnums=(2, 3))(x, w, 2, 1) == pytest.approx(
        conv1d(x, w, 2, 1), rel=1e-12)
    with pytest.raises(graphc.UnsupportedError, match=r"argument leaves 3\).*static_argnums"):
        graphc.grad(conv1d)(x, w, 2, 1)  # np.pad's width
    with pytest.raises(graphc.TracerBoolError, match=r"argument leaves 2\).*static_argnums"):
        graphc.grad(conv1d, static_argnums=3)(x, w, 2, 1)  # range's bound, from the stride
    with pytest.raises(graphc.ArgumentError, match="names a static argument"):
        graphc.grad(conv1d, argnums=2, static_argnums=2)(x, w, 1, 1)
    with pytest.raises(graphc.ArgumentError, match="must be hashable"):
        f(x, w, [np.ones(2)], 1)

    def by_settings(x, w, conv_param):  # a dict of settings as one static argument
        return conv1d(x, w, conv_param["stride"], conv_param["pad"])

    g = graphc.grad(by_settings, argnums=1, static_argnums=2)
    for cp in ({"stride": 2, "pad": 1}, {"pad": 0, "stride": 1}, {"pad": 1, "stride": 2}):
        np.testing.assert_allclose(g(x, w, cp), fd_grad(lambda w: by_settings(x, w, cp), w),
                                   rtol=1e-6, atol=1e-9)
    assert len(g._entries) == 2
    for make in (lambda n: np.zeros(n), lambda n: np.ones((n, 2)), lambda n: np.full(n, 2.0),
                 lambda n: np.eye(n)):  # NumPy's constructors given a traced size
        with pytest.raises(graphc.TracerBoolError, match=r"argument leaves 1\).*static_argnums"):
            graphc.grad(lambda p, n: np.sum(make(n) * p))(0.5, 3)
    with pytest.raises(graphc.ArgumentError, match="out of range"):
        graphc.grad(conv1d, static_argnums=7)(x, w, 1, 1)
    with pytest.raises(graphc.ArgumentError, match="keyword-only"):
        graphc.grad(lambda x, *, k=2: np.sum(x * k))(x, k=3)


def test_strings_in_arguments_key_the_entry_and_other_types_are_named():
    def batchnorm(x, p):
        mu = x.mean(axis=0) if p["mode"] == "train" else p["running_mean"]
        return np.sum(p["gamma"] * (x - mu) ** 2)

    x = np.arange(6.0).reshape(3, 2)
    vg = graphc.value_and_grad(batchnorm, argnums=(0, 1))
    for mode in ("train", "test", "train"):
        p = {"mode": mode, "gamma": np.array([1.0, 2.0]), "running_mean": np.array([0.5, 1.0])}
        v, (gx, gp) = vg(x, p)
        assert v == pytest.approx(batchnorm(x, p), rel=1e-12) and set(gp) == {
            "mode", "gamma", "running_mean"} and gp["mode"] == mode
    assert len(vg._entries) == 2
    with pytest.raises(graphc.ArgumentError, match=r"args\[1\]\['f'\]\[1\]: unsupported "
                                                    r"argument of type builtin_function"):
        graphc.jit(lambda x, p: x)(x, {"f": [1.0, len]})


def test_code_reached_through_attributes_sees_graphcs_numpy(tmp_path, monkeypatch):
    # np.zeros filled with traced rows needs graphc's NumPy: in a module's function (import
    # layers as L), a method (with super()), a partial, a table of functions, a callable
    # object in a list, and Python's math and max on traced numbers inside them.
    import functools
    import importlib
    import math

    (tmp_path / "gc_layers.py").write_text(
        "import numpy as np\n"
        "def rnn(x, W):\n"
        "    h = np.zeros((x.shape[0], W.shape[1]))\n"
        "    for t in range(x.shape[0]):\n"
        "        h[t] = np.tanh(x[t] @ W + (h[t - 1] if t else 0.0))\n"
        "    return h\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    layers = importlib.import_module("gc_layers")

    class Base:
        def act(self, h):
            return np.tanh(h)

    class Layer(Base):
        def __init__(self):
            self.calls = 0

        def act(self, h):
            return super().act(h) * 2.0

        def __call__(self, x, W):
            self.calls += 1
            out = np.zeros(x.shape)
            for i in range(x.shape[0]):
                out[i] = self.act(x[i] @ W) + math.exp(max(x[i, 0], 0.0))
            return out

    class Model:
        def __init__(self):
            self.stack = [Layer(), Layer()]

        def loss(self, W, x):
            for layer in self.stack:
                x = layer(x, W)
            return np.sum(layers.rnn(x, W) ** 2)

    model = Model()
    table = {"rnn": layers.rnn, "scaled": functools.partial(layers.rnn, W=None)}

    def via_table(W, x):
        return np.sum(table["rnn"](x, W) ** 2) + model.loss(W, x)

    W, x = np.eye(2) * 0.4, np.linspace(-1, 1, 6).reshape(3, 2)
    for f in (model.loss, via_table, functools.partial(via_table, x=x)):
        args = (W,) if isinstance(f, functools.partial) else (W, x)
        v, g = graphc.value_and_grad(f)(*args)
        assert v == pytest.approx(f(*args), rel=1e-12)
        np.testing.assert_allclose(g, fd_grad(lambda w: f(w, *args[1:]), W), rtol=1e-6,
                                   atol=1e-9)
    assert model.stack[0].calls > 3  # the object's own state was written

    # Objects compared by identity or value, and classes with operators, keep their meaning
    import enum

    class Mode(enum.Enum):
        TRAIN = 1

    class Vec:
        def __init__(self, a):
            self.a = a

        def __add__(self, o):
            return Vec(self.a + o.a)

    class Net:
        def __init__(self):
            self.mode, self.shift = Mode.TRAIN, Vec(np.ones(2))

        def loss(self, w):
            same = self.mode is Mode.TRAIN and self == net and self in [net]
            return np.sum((self.shift + self.shift).a * w) * (2.0 if same else 100.0)

    net = Net()
    assert graphc.value_and_grad(lambda w: net.loss(w))(np.ones(2))[0] == net.loss(np.ones(2))


def test_has_aux_and_jit_structure():
    def f(x):
        return (x ** 2).sum(), {"mean": x.mean(), "n": x.shape[0]}

    x = np.array([1.0, 2.0, 3.0])
    (v, aux), g = graphc.value_and_grad(f, has_aux=True)(x)
    assert v == 14.0 and aux["mean"] == 2.0 and aux["n"] == 3
    np.testing.assert_allclose(g, 2 * x)
    out = graphc.jit(lambda a, b: (a + b, [a * b]))(x, 2.0)
    np.testing.assert_allclose(out[0], x + 2)
    np.testing.assert_allclose(out[1][0], 2 * x)


def test_one_entry_per_signature_and_retrace():
    f = graphc.grad(lambda x: np.sum(np.sin(x)))
    np.testing.assert_allclose(f(np.zeros(3)), np.ones(3))
    np.testing.assert_allclose(f(np.zeros(5)), np.ones(5))
    np.testing.assert_allclose(f(np.zeros(3, np.float32)), np.ones(3))
    assert f(np.zeros(3, np.float32)).dtype == np.float32
    assert len(f._entries) == 3
    f(np.ones(3))
    assert len(f._entries) == 3


def test_non_contiguous_and_fortran_inputs():
    f = graphc.value_and_grad(lambda a, b: np.sum(np.tanh(a @ b) * a[:, :1]))
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.normal(size=(4, 6)))
    b = rng.normal(size=(12, 5))[::2]
    v, g = f(a, b)
    v2, g2 = f(np.ascontiguousarray(a), np.ascontiguousarray(b))
    assert v == pytest.approx(v2)
    np.testing.assert_allclose(g, g2)
    np.testing.assert_allclose(g, fd_grad(lambda a_: float(np.sum(np.tanh(a_ @ b) * a_[:, :1])),
                                          a), rtol=1e-6, atol=1e-9)


def test_integer_arrays_are_data():
    def f(w, idx):
        return np.sum(w * (idx > 1))

    w = np.arange(4.0)
    np.testing.assert_allclose(graphc.grad(f)(w, np.array([0, 1, 2, 3])), [0, 0, 1, 1])


def test_closure_constants_and_python_loops():
    table = np.linspace(-1, 1, 6).reshape(2, 3)

    def f(x):
        h = x
        for _ in range(4):
            h = np.tanh(h @ table.T @ table)
        return np.sum(h)

    x = np.array([[0.3, -0.2, 0.1]])
    np.testing.assert_allclose(graphc.grad(f)(x), fd_grad(lambda v: float(f(v)), x), rtol=1e-6)


def test_grad_of_grad_scalar():
    d2 = graphc.grad(graphc.grad(lambda x: x ** 3 + np.sin(x)))
    assert d2(1.3) == pytest.approx(6 * 1.3 - np.sin(1.3), rel=1e-12)
    d3 = graphc.grad(graphc.grad(graphc.grad(lambda x: np.exp(2 * x))))
    assert d3(0.5) == pytest.approx(8 * np.exp(1.0), rel=1e-12)


def test_jit_of_grad_and_grad_inside_a_trace():
    g = graphc.grad(lambda x: np.sum(x ** 2 * np.cos(x)))
    jg = graphc.jit(g)
    x = np.array([0.1, 0.7, -1.2])
    np.testing.assert_allclose(jg(x), g(x), rtol=1e-13)

    def outer(x):  # a function whose value uses a gradient
        return np.sum(g(x) ** 2)

    np.testing.assert_allclose(graphc.grad(outer)(x),
                               fd_grad(lambda v: float(outer(v)), x), rtol=1e-6)


def test_nested_grad_keeps_outer_variable_constant():
    # d/dx [x * d/dy (x*y)] = d/dx [x * x] = 2x: the inner derivative must not see y's x.
    def f(x):
        return x * graphc.grad(lambda y: x * y)(2.0)

    assert graphc.grad(f)(3.0) == pytest.approx(6.0)


def test_composites_are_stable_and_correct():
    x = np.array([[1e4, 0.0, -1e4], [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(graphc.jit(lambda a: logsumexp(a, axis=1))(x),
                               [1e4, 3 + np.log1p(np.exp(-1) + np.exp(-2))])
    sm = graphc.jit(lambda a: softmax(a))(x)
    np.testing.assert_allclose(sm.sum(axis=1), 1.0)
    g = graphc.grad(lambda a: np.sum(log_softmax(a) * np.array([[0, 1.0, 0], [1, 0, 0]])))(x)
    assert np.all(np.isfinite(g))
    gs = graphc.grad(lambda a: np.sum(sigmoid(a)))(np.array([-1e3, 0.0, 1e3]))
    np.testing.assert_allclose(gs, [0.0, 0.25, 0.0])


def test_mean_var_reductions_keepdims():
    def f(x):
        return np.sum(x.var(axis=0, keepdims=True) * x.max(axis=1, keepdims=True)) + x.std()

    x = np.random.default_rng(3).normal(size=(4, 5))
    np.testing.assert_allclose(graphc.grad(f)(x), fd_grad(lambda v: float(f(v)), x), rtol=1e-6)


def test_float32_stays_float32():
    f = graphc.value_and_grad(lambda x: np.sum(np.exp(-x * x) * 0.5 + 2))
    v, g = f(np.ones(8, np.float32))
    assert v.dtype == np.float32 and g.dtype == np.float32
    src = f.source(np.ones(8, np.float32))
    # (but for the float64 total of a sum's float32 partial sums: see cpu.SUM_BLOCK)
    assert "float64" not in src.replace("acc = np.float64(0.0)", "")


def test_intermediates_live_in_a_reused_workspace_and_results_are_fresh():
    def loss(w, x):
        h = np.tanh(x @ w)
        return np.sum(h * h + np.exp(-h))

    vg = graphc.value_and_grad(loss, argnums=(0, 1))
    rng = np.random.default_rng(0)
    w, x1, x2 = rng.normal(size=(6, 3)), rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    assert "ws[" in vg.source(w, x1)  # the intermediates are views into the workspace
    v1, g1 = vg(w, x1)
    kept = [g.copy() for g in g1]
    v2, g2 = vg(w, x2)
    for a, b, c in zip(g1, kept, g2):  # the second call reused the workspace, not the results
        np.testing.assert_array_equal(a, b)
        assert not np.shares_memory(a, c)
    for x, v, g in ((x1, v1, g1), (x2, v2, g2)):
        rv, rg = vg.reference(w, x)
        np.testing.assert_allclose(v, rv, rtol=1e-12)
        for a, b in zip(g, rg):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_loop_nests_run_once_are_pasted_and_repeated_ones_shared():
    def once(w, x):
        return np.sum(np.tanh(x @ w) ** 2)

    def unrolled(w, x):
        h = x
        for _ in range(4):
            h = np.tanh(h @ w)
        return np.sum(h * h)

    rng = np.random.default_rng(0)
    w, x = rng.normal(size=(6, 6)) / 3, rng.normal(size=(5, 6))
    f, g = graphc.value_and_grad(once), graphc.value_and_grad(unrolled)
    assert "def k0(" not in f.source(w, x) and "for i0_ in range(" in f.source(w, x)
    src = g.source(w, x)
    assert "def k0(" in src and src.count("k0(") >= 3  # one definition, called per step
    for fn in (f, g):
        v, gw = fn(w, x)
        rv, rgw = fn.reference(w, x)
        np.testing.assert_allclose(v, rv, rtol=1e-12)
        np.testing.assert_allclose(gw, rgw, rtol=1e-10, atol=1e-12)


def test_workspace_plan_never_overlaps_buffers_alive_at_once():
    from types import SimpleNamespace

    from graphc.codegen.cpu import plan_workspace

    rng = np.random.default_rng(1)
    for _ in range(200):
        bufs = {}
        for i in range(int(rng.integers(1, 30))):
            b = int(rng.integers(0, 20))
            node = SimpleNamespace(size=int(rng.choice([1, 7, 64, 100])),
                                   dtype=np.dtype(rng.choice(["f4", "f8", "?"])))
            bufs[i] = (node, b, b + int(rng.integers(0, 6)))
        offsets, total = plan_workspace(bufs)
        spans = {i: (offsets[i], offsets[i] + n.size * n.dtype.itemsize)
                 for i, (n, _, _) in bufs.items()}
        assert all(s % 64 == 0 and e <= total for s, e in spans.values())
        for i, (_, bi, ei) in bufs.items():
            for j, (_, bj, ej) in bufs.items():
                if i < j and bi <= ej and bj <= ei:  # alive at the same step
                    assert spans[i][1] <= spans[j][0] or spans[j][1] <= spans[i][0]


def test_threads_calling_one_function_get_their_own_results():
    import threading

    vg = graphc.value_and_grad(lambda w, x: np.sum(np.tanh(x @ w) ** 2))
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 3))
    xs = [rng.normal(size=(5, 6)) for _ in range(8)]
    expected = [vg(w, x) for x in xs]
    results: dict[int, list] = {k: [] for k in range(8)}

    def work(k):
        for _ in range(50):
            results[k].append(vg(w, xs[k]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        for v, g in results[k]:
            assert v == expected[k][0]
            np.testing.assert_array_equal(g, expected[k][1])


def test_draw_dot_tells_forward_from_backward(tmp_path):
    vg = graphc.value_and_grad(lambda w, b, x, y: (sigmoid(w * x + b) - y) ** 2, argnums=(0, 1))
    path = vg.draw(0.5, -0.2, 1.5, 1.0, path=str(tmp_path / "neuron.dot"))
    text = open(path).read()
    assert text.startswith('digraph "<lambda>"')
    assert "#dbe9f6" in text and "#fbe3d6" in text  # forward and adjoint nodes coloured apart
    assert "cluster_" in text and "test_api.py" in text  # fusion groups; source lines
    assert text.count("->") >= 10
