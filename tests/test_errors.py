"""Bad input gets a GraphcError that names the problem and the user's own source line."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphc
from graphc import ArgumentError, GraphcError, ShapeError, TracerBoolError, UnsupportedError


def _line_of(fn, text):
    src, start = inspect.getsourcelines(fn)
    return start + next(k for k, line in enumerate(src) if text in line)


def _assert_points_at(err, fn, text):
    assert isinstance(err.value, GraphcError)
    assert f"test_errors.py:{_line_of(fn, text)}" in str(err.value)


def test_unsupported_numpy_function_is_named():
    def f(x):
        return np.sum(np.linalg.eig(x)[0])

    with pytest.raises(UnsupportedError, match=r"numpy\.linalg\.eig\b") as err:
        graphc.grad(f)(np.eye(3))
    _assert_points_at(err, f, "np.linalg.eig(")


def test_unsupported_method_is_named():
    def f(x):
        return x.argpartition(1).sum()

    with pytest.raises(UnsupportedError, match="argpartition") as err:
        graphc.grad(f)(np.ones(3))
    _assert_points_at(err, f, "argpartition")


def test_python_branch_on_traced_value_says_use_where():
    def f(x):
        if x > 0:
            return x
        return -x

    with pytest.raises(TracerBoolError, match="np.where") as err:
        graphc.grad(f)(1.0)
    _assert_points_at(err, f, "if x > 0")


RNG = np.random.default_rng(0)


def _noisy(x):
    return x * np.random.randn(*x.shape)


def test_random_draws_while_tracing_are_refused():
    """A draw would be baked in as a constant, the same on every call: a silently wrong
    dropout. A fresh generator seeded inside gives NumPy's numbers on every call, so it
    traces."""
    def with_generator(x):
        return (x * (RNG.random(x.shape) < 0.5)).sum()

    def with_global(x):
        return _noisy(x).sum()

    def nested(x):
        def inner(y):
            return y * RNG.normal()
        return inner(x).sum()

    for fn in (with_generator, with_global, nested):
        with pytest.raises(UnsupportedError, match="random numbers") as err:
            graphc.grad(fn)(np.ones(3))
        assert f"test_errors.py:{fn.__code__.co_firstlineno}" in str(err.value)

    def seeded(x):
        return (x * np.random.default_rng(5).random(x.shape)).sum()

    np.testing.assert_allclose(graphc.grad(seeded)(np.ones(3)), np.random.default_rng(5).random(3))

    def unseeded(x):  # fresh numbers on every call in NumPy: refused, naming the line
        return (x * np.random.default_rng().random(x.shape)).sum()

    from numpy.random import RandomState

    def unseeded_state(x):
        return (x * RandomState().rand(3)).sum()

    for fn in (unseeded, unseeded_state):
        with pytest.raises(UnsupportedError, match=r"without a seed while traced") as err:
            graphc.grad(fn)(np.ones(3))
        assert f"test_errors.py:{fn.__code__.co_firstlineno + 1}" in str(err.value)


def test_grad_of_non_scalar_output():
    with pytest.raises(ArgumentError, match=r"shape \(3,\)"):
        graphc.grad(lambda x: x * 2)(np.ones(3))


def test_argnums_integer_array_and_out_of_range():
    f = lambda w, idx: np.sum(w * idx)  # noqa: E731
    with pytest.raises(ArgumentError, match="integer"):
        graphc.grad(f, argnums=1)(np.ones(3), np.arange(3))
    with pytest.raises(ArgumentError, match="out of range"):
        graphc.grad(f, argnums=2)(np.ones(3), np.arange(3))
    with pytest.raises(ArgumentError, match="argnums"):
        graphc.grad(f, argnums="w")


def test_incompatible_shapes_show_both():
    def f(x, y):
        return np.sum(x + y)

    with pytest.raises(ShapeError, match=r"\(3,\).*\(4,\)") as err:
        graphc.grad(f)(np.ones(3), np.ones(4))
    _assert_points_at(err, f, "x + y")

    def g(a, b):
        return np.sum(a @ b)

    with pytest.raises(ShapeError, match=r"\(2, 3\) @ \(4, 5\)"):
        graphc.grad(g)(np.ones((2, 3)), np.ones((4, 5)))


def test_bad_reshape_and_index():
    with pytest.raises(ShapeError, match="cannot reshape"):
        graphc.grad(lambda x: x.reshape(4, 2).sum())(np.ones(6))
    with pytest.raises(ShapeError, match="out of bounds"):
        graphc.grad(lambda x: x[5])(np.ones(3))
    with pytest.raises(UnsupportedError, match=r"x\[mask\]\.cumsum: .* which is data"):
        graphc.grad(lambda x: x[x > 0].cumsum().sum())(np.ones(3))


def test_unsupported_argument_types():
    f = graphc.grad(lambda x: np.sum(x))
    with pytest.raises(ArgumentError, match="argument 0 holds no array or number"):
        f("abc")
    with pytest.raises(ArgumentError, match=r"args\[0\]\[1\]: unsupported argument of type "
                                            "object"):
        f([1.0, object()])
    with pytest.raises(ArgumentError, match="complex"):
        f(np.ones(3, np.complex128))


def test_traced_value_to_python_number_or_array():
    with pytest.raises(TracerBoolError, match="Python number"):
        graphc.grad(lambda x: np.sum(x) * range(int(x[0]))[0])(np.ones(3))
    for index in (0, slice(0, 2)):
        def store(x, index=index):
            a = np.arange(3.0)  # made otherwise than by np.zeros and the like: NumPy's own
            a[index] = x[index]
            return a.sum()

        with pytest.raises(GraphcError, match="np.zeros and the like"):
            graphc.grad(store)(np.ones(3))
    # np.array of traced values stacks them, as graphc.numpy.array does
    assert graphc.grad(lambda x: np.sum(np.array([x[0], x[1]]) ** 2))(np.ones(3)) == \
        pytest.approx([2, 2, 0])


def test_new_shapes_retrace_never_reuse():
    f = graphc.grad(lambda x: np.sum(x * x))
    np.testing.assert_allclose(f(np.ones(2)), [2, 2])
    np.testing.assert_allclose(f(np.ones(7)), 2 * np.ones(7))
    np.testing.assert_allclose(f(np.ones((2, 3))), 2 * np.ones((2, 3)))


def test_traceback_ends_in_user_code():
    import traceback

    def f(x):
        return np.sum(np.linalg.eig(x)[0])

    with pytest.raises(UnsupportedError) as err:
        graphc.grad(f)(np.eye(3))
    last = traceback.extract_tb(err.value.__traceback__)[-1]
    assert last.filename == __file__ and last.lineno == _line_of(f, "np.linalg.eig(")


def test_retrace_explains_why(capsys, monkeypatch):
    monkeypatch.setenv("GRAPHC_DEBUG", "1")
    f = graphc.grad(lambda x: np.sum(x * x))
    f(np.ones((4, 3)))
    f(np.ones((2, 3)))
    assert "argument leaf 0 shape changed (4, 3) -> (2, 3)" in capsys.readouterr().out
    f(np.ones((2, 3), np.float32))
    assert f.stats(np.ones((2, 3), np.float32))["retrace"] == (
        "argument leaf 0 dtype changed float64 -> float32")



def test_matrices_that_cannot_be_factored_raise_linalg_errors():
    """A singular matrix (solve, inv, the gradient of det) or one not positive definite
    (cholesky) raises graphc's LinAlgError, which is NumPy's too, at the user's line; a
    singular matrix's slogdet is NumPy's (0, -inf)."""
    def f(a, b):
        return np.linalg.solve(a, b).sum()

    def g(a):
        return np.linalg.cholesky(a).sum()

    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    for fn, args, text in [(graphc.jit(f), (singular, np.ones(2)), "solve"),
                           (graphc.grad(f), (singular, np.ones(2)), "solve"),
                           (graphc.jit(g), (-np.eye(2),), "cholesky")]:
        with pytest.raises(graphc.LinAlgError, match=f"{text}: (singular|matrix is not)") as err:
            fn(*args)
        assert isinstance(err.value, np.linalg.LinAlgError)
        _assert_points_at(err, f if text == "solve" else g, f"np.linalg.{text}")
    stack = np.stack([np.eye(2), singular, np.eye(2)])
    with pytest.raises(np.linalg.LinAlgError, match=r"matrix 1 of a stack of shape \(3, 2, 2\)"):
        graphc.jit(lambda a: np.linalg.inv(a))(stack)
    np.testing.assert_array_equal(graphc.jit(lambda a: np.linalg.slogdet(a))(stack),
                                  np.linalg.slogdet(stack))
    assert graphc.jit(np.linalg.det)(singular) == 0.0
    with pytest.raises(graphc.LinAlgError, match="singular"):
        graphc.grad(np.linalg.det)(singular)
    np.testing.assert_allclose(graphc.grad(np.linalg.det)(np.eye(2) * 2), np.eye(2) * 2)


def test_library_code_that_makes_numpy_arrays_is_named_at_the_users_call():
    """SciPy (like any library built on NumPy) converts its arguments to NumPy arrays, which
    a traced value cannot become: the error names the library function and points at the
    user's call, not into the library."""
    from scipy.linalg import sqrtm
    from scipy.special import zeta

    def f(x):
        return sqrtm(x * 2).sum()

    with pytest.raises(UnsupportedError,
                       match=r"scipy\.linalg\.\S*sqrtm \(library code") as err:
        graphc.grad(f)(np.eye(3))
    _assert_points_at(err, f, "sqrtm(x * 2)")
    with pytest.raises(UnsupportedError, match=r"the ufunc _zeta, called by scipy\.special\.\S*"
                                               r"zeta, is not supported"):
        graphc.grad(lambda x: zeta(x, 2.0).sum())(np.ones(3) * 3)
