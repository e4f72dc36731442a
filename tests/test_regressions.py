"""Bugs found in review, each pinned by the smallest program that showed it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc
from graphc import GraphcError, ir
from graphc.passes.fuse import Group, fuse

jit = graphc.jit
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_large_full_reduction_with_keepdims_is_stored():
    # Above the parallel threshold the chunked reduction must still write its result.
    np.testing.assert_array_equal(jit(lambda x: x.sum(keepdims=True))(np.ones((512, 256))),
                                  [[131072.0]])
    x = np.random.default_rng(0).normal(size=2**18).astype(np.float32)
    assert jit(lambda v: np.sum(np.sin(v)))(x) == pytest.approx(np.sum(np.sin(x)), rel=1e-4)


def test_fusion_never_builds_a_cycle():
    def f(p, q):
        a = np.exp(p)
        r = a.reshape(2, 2)
        t = np.sin(q)
        b = a + t.reshape(4)
        n = r * t
        return b.sum() + n.sum()

    p, q = np.ones(4), np.ones((2, 2))
    assert jit(f)(p, q) == pytest.approx(f(p, q))


def test_fusion_leaves_unrelated_siblings_apart():
    # Each step's square joined the previous step's sum (the latest group over the same
    # domain) though they share no input, chaining steps that could run side by side.
    def f(x):
        total = 0.0
        for t in range(4):
            total = total + (x[t] * x[t]).sum()
        return total

    x = np.arange(12.0).reshape(4, 3)
    g = jit(f)
    assert g(x) == pytest.approx(f(x))
    for step in fuse(g._lookup((x,)).optimized):
        if isinstance(step, Group) and step.reduce is not None:
            ancestors, todo = set(), [step.reduce]
            while todo:
                n = todo.pop()
                for i in n.inputs:
                    if i.id not in ancestors:
                        ancestors.add(i.id)
                        todo.append(i)
            assert all(m.id in ancestors for m in step.members)


def test_sum_of_booleans_counts_and_bool_arithmetic_stays_boolean():
    x = np.array([1.0, -2.0, 3.0])
    assert jit(lambda v: (v > 0).sum())(x) == 2
    np.testing.assert_array_equal(jit(lambda a, b: ((a > 0) + (b > 0)) * 3)(x, x),
                                  ((x > 0) + (x > 0)) * 3)


def test_matmul_promotes_and_vector_dot_is_scalar():
    out = jit(lambda a, b: a @ b)(np.ones((2, 3), np.float32), np.ones((3, 2)))
    assert out.dtype == np.float64 and out.shape == (2, 2)
    v = np.arange(3.0)
    assert np.shape(jit(lambda u: u @ u)(v)) == () and jit(lambda u: np.dot(u, u))(v) == 5.0
    with pytest.raises(graphc.UnsupportedError, match="int64"):
        jit(lambda a: a @ a)(np.ones((2, 2), np.int64))


def test_fortran_constants_and_big_endian_arguments():
    w = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(jit(lambda x: x * w)(np.ones((2, 3))), w)
    np.testing.assert_array_equal(jit(lambda x: x * 2)(np.arange(3.0).astype(">f8")), [0, 2, 4])


@pytest.mark.parametrize("bad", [lambda x: x[True], lambda x: x.transpose(0, 3),
                                 lambda x: x[::0], lambda x: np.swapaxes(x, 0, 5),
                                 lambda x: x.astype(np.float32, copy=False)])
def test_bad_indices_and_axes_are_graphc_errors(bad):
    with pytest.raises(GraphcError):
        jit(bad)(np.ones((2, 2)))


def test_repeated_argnums_is_an_error():
    with pytest.raises(graphc.ArgumentError, match="twice"):
        graphc.grad(lambda a: a.sum(), argnums=(0, 0))(np.ones(2))


def test_python_scalar_arguments_are_weak():
    x = np.ones(3, np.float32)
    assert jit(lambda a, s: a * s)(x, 2.0).dtype == np.float32
    v, (gx, gs) = graphc.value_and_grad(lambda a, s: np.sum(a * s), argnums=(0, 1))(x, 2.0)
    assert v.dtype == gx.dtype == np.float32 and gs == 3.0


def test_one_value_reshaped_stays_a_broadcast():
    # The gradient of a mean, made a column for a row-wise product, was a reshape of a
    # broadcast: a group (a launch, on the GPU) filled an array with one value.
    def f(x, y):
        return -(y * x).sum(axis=1).mean()

    x, y = np.random.default_rng(0).normal(size=(2, 4, 3))
    g = graphc.grad(f)
    np.testing.assert_allclose(g(x, y), -y / 4, rtol=1e-15)
    nodes = g._lookup((x, y)).optimized.nodes()
    assert not any(n.op in ("reshape", "broadcast_to") and n.inputs[0].op == "broadcast_to"
                   for n in nodes)


def test_generated_code_avoids_numbas_slowest_compiling_paths(tmp_path):
    # Numba's array setitem and np.transpose(x, axes) bring formatted error messages whose
    # string support took 2 s of every cold compile (the bench RNN: 6.7 s -> 4.1 s without).
    # A fresh process with empty caches compiles a scan with saved carries and stacked ys,
    # slice gradients, a stack and 3-D transposes, and lists every function Numba compiled.
    child = """
        import numpy as np, graphc
        from numba.core import event
        def loss(w, xs):
            def step(h, x):
                h = np.tanh(h @ w + x)
                return h, h[:, 1:]
            h, ys = graphc.scan(step, np.zeros((2, 3)), xs)
            t = np.transpose(ys, (2, 0, 1))
            return np.sum(np.stack([t, t * 2])[:, :1] ** 2) + np.sum(h[0, :2])
        class Names(event.Listener):
            names = set()
            def on_start(self, ev):
                f = ev.data["dispatcher"].py_func
                self.names.add(f"{f.__module__}.{f.__qualname__}")
            def on_end(self, ev):
                pass
        w, xs = np.eye(3) * 0.5, np.linspace(-1, 1, 30).reshape(5, 2, 3)
        with event.install_listener("numba:compile", Names()):
            graphc.value_and_grad(loss)(w, xs)
        print("\\n".join(sorted(Names.names)))
    """
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "g"),
               NUMBA_CACHE_DIR=str(tmp_path / "n"), PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(child)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = proc.stdout.split()
    assert any(".entry" in n for n in names) and any(".body" in n for n in names), names
    slow = [n for n in names if "raise_with_shape_context" in n or "transpose" in n
            or "numba.cpython.unicode" in n]
    assert not slow, slow


def test_locals_whose_names_differ_by_a_digit_do_not_meet_in_numba():
    # Numba names a loaded local's temporary "$" + name + offset + "." + count. On Python
    # 3.11, with 25 + 2 padding lines below, v23 loaded at offset 14 and v2 at offset 314 both
    # make "$v2316.2", and Numba drops the second load: a graphc entry failed that way with
    # "Undecided type". Generated locals that end in a digit get a "_", which makes the names
    # unique again. The paddings around that layout cover other Python versions' offsets too.
    from numba import njit

    from graphc.codegen.emit import unambiguous_locals

    scope = {"h": njit(lambda a: a + 1.0)}
    for lines in range(20, 30):
        for copies in range(3):
            pad = "\n".join(["        x = x * 1.5"] * lines + ["        x = x"] * copies)
            source = unambiguous_locals(f"def f(v2, v23):\n    x = h(v23)\n    if x > 0:\n"
                                        f"{pad}\n    y = h(v2)\n    return x + y\n")
            assert "def f(v2_, v23_):" in source and "h(v2_)" in source
            exec(source, scope)
            assert njit(scope["f"])(1.0, 2.0) == scope["f"](1.0, 2.0)


def test_generated_source_does_not_depend_on_what_was_built_before():
    # The source is the cache key: the workspace plan broke ties in buffer size by a set of
    # node ids, which count up through the process, so a function built again after other
    # work could get another source and compile anew.
    def f(a, b):
        c = a @ b
        d = (np.tanh(c) @ b.T) * (c @ b) + np.exp(a) @ b
        return np.sum((d @ a.T) * (d.T @ b) + (c.T @ d) * (a.T @ c))

    args = (np.ones((3, 3)) * 0.1, np.eye(3))
    sources = []
    for shift in (0, 1000, 1337):
        for _ in range(shift):  # node ids move on
            next(ir._ids)
        sources.append(graphc.value_and_grad(f).source(*args))
    assert sources[0] == sources[1] == sources[2]


def test_float32_reciprocal_square_root_keeps_numpys_special_values():
    # With fast-math "arcp" LLVM compiled 1 / sqrt(x) in float32 into an estimate and a
    # Newton step: NaN at 0 and at inf, a negative number at a subnormal x.
    x = np.array([0.0, np.inf, 1e-45, 4.0, 2.0] * 4, np.float32)
    with np.errstate(divide="ignore"):
        want = 1 / np.sqrt(x)
        np.testing.assert_array_equal(graphc.jit(lambda x: 1 / np.sqrt(x))(x), want)
        np.testing.assert_array_equal(graphc.grad(lambda x: np.sum(np.sqrt(x)))(x),
                                      np.float32(0.5) / np.sqrt(x))


def test_singular_values_of_a_matrix_with_an_infinity_raise_rather_than_hang():
    # LAPACK's gesdd never returns on an infinity (NumPy's full svd hangs there too): the
    # helper checks the matrix first. In a child process, so that a regression fails the test
    # rather than hanging the suite.
    code = textwrap.dedent("""
        import numpy as np, graphc
        A = np.array([[1.0, np.inf, 0.0], [np.inf, 2.0, 0.0], [0.0, 0.0, 3.0]])
        for f in (lambda A: np.linalg.norm(A, 2), lambda A: np.linalg.svd(A)[1].sum()):
            try:
                graphc.jit(f)(A)
            except graphc.LinAlgError as e:
                print("raised", e)
    """)
    p = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=ROOT),
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.count("raised svd: SVD did not converge") == 2, p.stdout


def test_findings_of_the_adversarial_review():
    # static values equal in Python but not to the function key entries of their own
    x = np.array([0.5, 1.5, 2.5])
    j = graphc.jit(lambda x, v: x.astype(type(v)) * 2, static_argnums=1)
    assert j(x, 1).dtype == np.int64 and j(x, 1.0).dtype == np.float64
    k = graphc.jit(lambda x, s: np.sum(x) / s, static_argnums=1)
    with np.errstate(divide="ignore"):
        assert k(x, 0.0) == np.inf and k(x, -0.0) == -np.inf
    # a NumPy float64 scalar is strong (NEP 50), not a weak Python float
    x32 = np.array([1 / 3, 1.0], np.float32)
    assert graphc.jit(lambda x, s: x + s)(x32, np.float64(1e-9)).dtype == np.float64
    # fmod by an infinity keeps x, whatever the signs
    got = graphc.jit(np.fmod)(np.array([1.0, -1.0, 2.5]), np.array([np.inf, np.inf, -np.inf]))
    np.testing.assert_array_equal(got, [1.0, -1.0, 2.5])
    # an index at its dtype's minimum is reported as any other bad index
    for idx in (np.array([-128], np.int8), np.array([-2**63])):
        with pytest.raises(graphc.OutOfBoundsError, match=f"{idx[0]}$|{idx[0]}\\n"):
            graphc.jit(lambda x, i: x[i])(x, idx)
    # grad of a function returning (value, aux) without has_aux says so
    with pytest.raises(graphc.ArgumentError, match="returned a tuple of 2.*has_aux=True"):
        graphc.grad(lambda w: (np.sum(w), w))(x)
    # a negative scan length is refused while tracing
    with pytest.raises(graphc.ShapeError, match="length=-3 is negative"):
        graphc.jit(lambda h: graphc.scan(lambda c, _: (c + 1, c), h, None, length=-3))(x)


def test_grad_raises_where_the_value_would():
    # grad computes the value as well: checks on the way to it raise although the gradient
    # does not need them (an out-of-range label into a constant table, the max of nothing)
    table = np.array([1.0, 2.0, 3.0])

    def loss(w, labels, extra):
        return np.sum(w ** 2) + np.sum(table[labels]) + np.max(extra)

    g = graphc.grad(loss)
    np.testing.assert_allclose(g(np.ones(2), np.array([0, 2]), np.ones(1)), [2.0, 2.0])
    with pytest.raises(graphc.OutOfBoundsError, match=": 7"):
        g(np.ones(2), np.array([0, 7]), np.ones(1))
    with pytest.raises(graphc.ShapeError, match="zero-size"):
        g(np.ones(2), np.array([0, 1]), np.zeros(0))


def test_second_round_of_the_adversarial_review():
    # uint64 data as indices: valid ones index, one past int64's range is out of range (it
    # wrapped to -1, a valid index, and was counted in the last bin)
    x = np.arange(5.0)
    np.testing.assert_array_equal(graphc.jit(lambda x, i: x[i])(x, np.array([1, 4], np.uint64)),
                                  [1.0, 4.0])
    with pytest.raises(graphc.OutOfBoundsError):
        graphc.jit(lambda lab: np.bincount(lab - 1, minlength=3))(np.array([1, 0], np.uint64))
    # a negative value is named as itself (it was mapped to minlength and reported as 3), in
    # compiled code, in the gradient's forward and in the reference
    count = graphc.jit(lambda lab: np.bincount(lab, minlength=3))
    for run in (count, count.reference):
        with pytest.raises(graphc.OutOfBoundsError, match=r"np.bincount: .*bins 0..2.*: -1(\n|$)"):
            run(np.array([0, -1]))
    with pytest.raises(graphc.OutOfBoundsError, match=r"np.bincount: .*: -1(\n|$)"):
        graphc.grad(lambda w, lab: np.bincount(lab, w, minlength=3).max())(np.ones(2),
                                                                          np.array([0, -1]))
    # lstsq and pinv of an empty system, as NumPy (it raised "max of a zero-size array")
    for a, b in ((np.zeros((0, 3)), np.zeros(0)), (np.zeros((3, 0)), np.ones((3, 2)))):
        got, want = graphc.jit(np.linalg.lstsq)(a, b), np.linalg.lstsq(a, b)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        assert graphc.jit(np.linalg.pinv)(a).shape == a.T.shape
    # ddof leaving nothing: inf from var (max(n - ddof, 0)), NaN from nanvar, as NumPy
    with np.errstate(divide="ignore", invalid="ignore"):
        assert graphc.jit(lambda x: np.var(x, ddof=3))(np.array([1.0, 4.0])) == np.inf
        assert np.isnan(graphc.jit(lambda x: np.nanvar(x, ddof=2))(np.array([1.0, 3.0, np.nan])))
    # log_softmax keeps log(k) of k tied logits too large for x - logsumexp(x)
    from graphc.numpy import log_softmax
    z = np.array([[2e7, 2e7, 0.0]], np.float32)
    np.testing.assert_allclose(graphc.jit(lambda z: log_softmax(z))(z)[0, :2], -np.log(2),
                               rtol=1e-6)


def test_errors_name_what_the_user_wrote():
    x = np.ones(3)
    with pytest.raises(graphc.ShapeError, match=r"np.percentile: .*\[0, 100\]"):
        graphc.jit(lambda x: np.percentile(x, 101))(x)
    with pytest.raises(graphc.ArgumentError, match="the vector comes last"):
        graphc.hvp(lambda x: np.sum(x ** 3))(x)
    with pytest.raises(graphc.ArgumentError, match=r"jvp\(f, \(x,\), \(t,\)\)"):
        graphc.jvp(np.tanh, x, x)
    sp = graphc.custom_vjp(lambda x: np.log1p(np.exp(x)))
    sp.defvjp(lambda x: (sp(x), x), lambda x, g: (np.ones(2),))
    with pytest.raises(graphc.ShapeError, match=r"cotangent 0 has shape \(2,\)"):
        graphc.grad(lambda x: np.sum(sp(x)))(x)
    assert graphc.jit(lambda p: p[1] + p["b"])({1: x, "b": x})[0] == 2.0  # mixed key types
    deep = x
    for _ in range(3000):
        deep = [deep]
    with pytest.raises(graphc.ArgumentError, match="nested too deeply"):
        graphc.jit(lambda t: 1.0)(deep)
    with pytest.raises(graphc.ArgumentError, match="no compiled dtype holds"):
        graphc.jit(lambda x: 2 ** 70)(x)


def test_findings_of_the_ml_suite_and_the_differential_fuzz():
    # np.triu / np.tril keep a boolean array boolean: as int64, the causal mask of a masked
    # fill became integer indices that overwrote whole rows (a NaN loss)
    def masked_fill(s):
        s = s * 1.0
        s[np.triu(np.ones(s.shape, dtype=bool), k=1)] = -np.inf
        return np.where(~np.tril(np.ones(s.shape, dtype=bool)), -1.0, s)

    x = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(graphc.jit(masked_fill)(x), masked_fill(x))
    # x ** y at x = 0: no NaN from 0 * x ** -1 or log(0) * 0 (as JAX and PyTorch)
    x = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(graphc.grad(lambda p: np.sum(x ** p))(2.0), 4 * np.log(2))
    np.testing.assert_array_equal(graphc.grad(lambda x: np.sum(x ** 0))(x), 0.0)
    assert graphc.grad(lambda y: np.power(0.0, y))(0.0) == 0.0
    # xlogy's derivative in x at x = 0 is log(y) (it was 0: a weight at 0 could not move)
    sp = pytest.importorskip("scipy.special")
    y = np.array([0.5, 0.5])
    np.testing.assert_allclose(graphc.grad(lambda x: sp.xlogy(x, y).sum())(np.array([0.0, 0.3])),
                               np.log(y))
    np.testing.assert_allclose(graphc.grad(lambda x: sp.xlog1py(x, y).sum())(np.zeros(2)),
                               np.log1p(y))
    edge = (np.array([0.0, 0.0, 0.0, 0.0, 1.0]), np.array([0.0, np.nan, -1.0, np.inf, -1.0]))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(graphc.jit(sp.xlogy)(*edge), sp.xlogy(*edge))
        np.testing.assert_array_equal(graphc.jit(sp.xlog1py)(*edge), sp.xlog1py(*edge))
    # NaN in, NaN out (not inf); no cancellation in pseudo_huber; 1 / Gamma is 0 at its poles
    nan = np.array([np.nan, 1.0])
    for fn in (sp.entr, lambda x: sp.rel_entr(x, x[::-1]), lambda x: sp.kl_div(x[::-1], x)):
        np.testing.assert_array_equal(graphc.jit(fn)(nan), fn(nan))
    d, r = np.array([1e6, 1e8, 1.0, 1e300]), np.array([1.0, 1.0, 1e-9, 0.0])
    np.testing.assert_allclose(graphc.jit(sp.pseudo_huber)(d, r), sp.pseudo_huber(d, r),
                               rtol=1e-12)
    poles = np.array([-1.0, -3.0, -np.inf, 0.0, -2.5])
    np.testing.assert_allclose(graphc.jit(sp.rgamma)(poles), sp.rgamma(poles), rtol=1e-12)
    # np.fmod by libm's (composed from the remainder, fmod(-3, 1e16) was -4)
    x, y = np.array([-0.5, -3.0, -1e-10, 7.5]), np.array([1e300, 1e16, 1e8, -2.0])
    np.testing.assert_array_equal(graphc.jit(np.fmod)(x, y), np.fmod(x, y))
    # a float32 sum of 10^7 terms no longer drifts (one float32 accumulator gave 997,298)
    big = np.full(10 ** 7, 0.1, np.float32)
    np.testing.assert_allclose(graphc.jit(np.sum)(big), 1e6, rtol=1e-5)
    # complex constants with a zero part: 1j written into an array (its real part was NaN),
    # divided by, and 0 ** z (0 where Re z > 0, as NumPy)
    def complex_ops(a):
        z = a + 0j
        z[0] = 1j
        return z / 1j, z * 0j, (0 * a + 0j) ** (a + 1j)

    a = np.array([0.5, 2.0, -1.5])
    with np.errstate(invalid="ignore"):
        for got, want in zip(graphc.jit(complex_ops)(a), complex_ops(a)):
            np.testing.assert_allclose(got, want)
    # max/min with initial= over an empty axis give initial; np.compress and np.extract of a
    # constant condition; round() of a traced scalar
    e = np.zeros((0, 3))
    np.testing.assert_array_equal(graphc.jit(lambda e: e.max(axis=0, initial=-5.0))(e),
                                  e.max(axis=0, initial=-5.0))
    m = np.arange(12.0).reshape(3, 4)
    for fn in (lambda m: np.compress([True, False, True], m, axis=0),
               lambda m: np.compress([0, 1, 1, 0, 1], m),
               lambda m: np.extract(np.arange(12).reshape(3, 4) % 3 == 0, m)):
        np.testing.assert_array_equal(graphc.jit(fn)(m), fn(m))
    assert graphc.jit(lambda m: round(m[0, 1] * 1.2345, 2))(m) == 1.23
    # einsum broadcasts a label of size 1 against the same label's other size, as NumPy
    a, b = np.arange(3.0).reshape(3, 1), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(graphc.jit(lambda a, b: np.einsum("ij,ij->i", a, b))(a, b),
                                  np.einsum("ij,ij->i", a, b))
