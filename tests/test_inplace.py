"""In-place updates (``x += y``, ``x[i] = v``, ``x[i] += v``) behave as NumPy's: aliases and
live views see the change, an update of a view writes through to its base, copies keep their
values. Each program is checked against NumPy on copies of its arguments, against the
reference interpreter, and its gradient against central differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import GraphcError, ShapeError, UnsupportedError

X = np.random.default_rng(0).normal(size=(4, 5))


def fill(x):
    y = np.zeros_like(x)
    y[0] = x[0] * 2
    y[1:3, ::2] = 7.0
    y[-1] = x[1]
    y += x
    return y


def views_see_updates(x):
    y = x * 1
    r, t, f = y[1], y.T, np.ravel(y)
    y += 1
    y[0, 0] = 50.0
    return r * 2 + t[0].sum() + y[0] + f[:5]


def views_write_through(x):
    y = x * 1
    r = y[2, 1:4]
    r *= 3
    t = y.T
    t[0] = -1
    f = y.reshape(-1)
    f[1] = -100.0
    np.swapaxes(y, 0, 1)[2, 3] += 10
    return y


def augmented_items(x):
    y = x.copy()
    y[0] += x[1]
    y[:, 2] -= 1
    y[[1, 3], 0] *= 2
    y[..., 1:2] /= 4
    return y


def masks_and_arrays(x):
    y = x.copy()
    y[y < 0] = 0.0
    y[[0, 0, 2], [1, 1, 3]] = np.array([1.0, 2.0, 3.0])  # the last of repeated places wins
    y[np.array([True, False, True, False])] *= -2  # a constant mask: any shape NumPy takes
    return y ** 2


def aliases_and_copies(x):
    y = x + 0
    z = y
    n = y[0, 0]  # a number, as NumPy's: a copy
    n += 1
    y[1, 1] += n
    kept = [y.copy(), y.astype(y.dtype), +y, y.flatten().reshape(x.shape), np.positive(y),
            y.sum(axis=()), np.pad(y, 0)]
    z += 5
    return sum(kept) + y


def loop_fills_rows(x):
    out = np.zeros_like(x, shape=(3,) + x.shape)
    h = x
    for t in range(3):
        h = np.tanh(h)
        out[t] = h
    out[1:] *= 0.5
    return out.sum(0)


def argument_changed_inside(x):
    x[0] = 0.0
    x -= 1
    return x * x


def split_parts(x):
    y = x * 1
    a, b = np.split(y, [2])
    y += 1
    b[0] = 5.0
    return a.sum() + b.sum() + y


def newaxis_and_strides(x):
    y = x * 1
    v = y[None, 1:, ::-2]
    v += 1
    y[::2, None, 0] = np.array([[3.0], [4.0]])
    return y + v[0, 0].sum()


def rows_read_between(x):
    out = np.zeros_like(x)
    out[0] = x[1]
    seen = out.sum(axis=0)  # read between two writes: they are not merged
    out[2] = x[0] * seen
    out[2] = x[3]  # the last write wins
    out[1] += 1
    return out


def _filled_by_a_helper(x):  # a plain function the traced one calls: it sees graphc's np too
    out = np.empty((2,) + x.shape)
    out[0], out[1] = x, -x
    return out


def numpy_constructors(x):
    """Arrays made with plain NumPy inside the function take traced values, and constants
    made from them stay NumPy values where Python uses them."""
    out = np.zeros((3,) + x.shape)
    for t in range(3):
        out[t] = np.tanh(x) * t
        if t:
            out[t] += out[t - 1]  # reads a row just written
    mask = np.zeros(x.shape, dtype=bool)
    mask[:, 1:3] = True  # a constant mask, used as NumPy would
    counts = np.ones(3)
    counts[1] = 0
    n = int(counts.sum())  # a Python number from constants
    if counts[1] > 0:
        n = 100
    rows = np.array([x[0] * 2, x[1]])  # a list holding traced rows
    picked = np.eye(5)[[0, 2, 4, 1]] @ x.T  # a constant, indexed
    scale = np.full((4, 1), x[0, 0])
    like = np.full_like(X, 0.5)  # of a NumPy array
    like[1] = x[2]
    k = np.eye(4) * 2
    top = k[0]
    np.putmask(k, np.eye(4, dtype=bool), 3.0)  # NumPy's own, writing into a constant (a view)
    chol = np.linalg.pinv(k) + top  # NumPy's own, unsupported by graphc, on constants
    chol *= k.nonzero()[0].size / k.nbytes  # NumPy's methods and attributes of constants
    buffer = np.empty(x.shape)
    buffer.fill(x[0, 0])
    return (_filled_by_a_helper(x)[1] * 3 + buffer + chol @ x + np.maximum.accumulate(top)[:, None] + out.sum(0) + np.where(mask, x, 0) + rows.sum() * n + x[mask].sum() + like
            + picked[:, :1].T @ np.ones((4, 5)) * 0.1 + scale * x + np.asarray(x) ** 2)


def ufunc_outputs(x):
    """A ufunc's out= writes its result into the array named (broadcast and cast to it)."""
    y = x * 2
    np.tanh(y, out=y)
    rows = np.zeros((2,) + x.shape[1:])
    np.multiply(x[0], 3.0, out=rows[0])
    np.add(rows[1], x[1, 0], out=rows[1])
    np.exp(x[2], rows[0])  # (positional)
    np.clip(y, -0.5, 0.5, out=y)  # NumPy functions' out= too
    np.sum(x[:2], axis=0, out=rows[1])
    return y + rows.sum(0)


def masked_sigmoid(x):
    """cs231n's stable sigmoid: x[mask] = f(y[mask]) with one mask on both sides is a where,
    the mask written once or twice."""
    pos_mask = (x >= 0)
    z = np.zeros_like(x)
    z[pos_mask] = np.exp(-x[pos_mask])
    z[x < 0] = np.exp(x[x < 0])
    top = np.ones_like(x)
    top[x < 0] = z[x < 0]
    return top / (1 + z)


PROGRAMS = [masked_sigmoid, ufunc_outputs, numpy_constructors, fill, rows_read_between,
            views_see_updates, views_write_through, augmented_items, masks_and_arrays,
            aliases_and_copies, loop_fills_rows, argument_changed_inside, split_parts,
            newaxis_and_strides]


@pytest.mark.parametrize("fn", PROGRAMS, ids=lambda f: f.__name__)
def test_like_numpy_with_gradients(fn):
    want = fn(X.copy())
    np.testing.assert_allclose(graphc.jit(fn)(X.copy()), want, rtol=1e-13)
    np.testing.assert_allclose(graphc.jit(fn).reference(X.copy()), want, rtol=1e-13)
    u = np.random.default_rng(1).normal(size=want.shape)

    def loss(x):
        return (fn(x.copy()) * u).sum()

    g = graphc.grad(loss)(X)
    d = np.random.default_rng(2).normal(size=X.shape)
    eps = 1e-6
    fd = (loss(X + eps * d) - loss(X - eps * d)) / (2 * eps)
    assert float((g * d).sum()) == pytest.approx(fd, rel=1e-6, abs=1e-8)
    np.testing.assert_array_equal(X, np.random.default_rng(0).normal(size=(4, 5)))


# Updates at traced integer indices: labels and rows known only when the code runs.
LABELS = np.array([1, 4, 0, -3])
ROWS = np.array([3, 0, -1, 3, 1])  # repeated places


def svm_margins(x, y):  # cs231n's vectorised multiclass SVM loss
    n = x.shape[0]
    correct = x[np.arange(n), y]
    margins = np.maximum(0, x - correct[:, None] + 1)
    margins[np.arange(n), y] = 0
    return margins


def one_hot_rows(x, y):
    t = np.zeros_like(x)
    t[range(len(y)), y] = 1.0
    out = x.copy()
    out[np.arange(4), y] = x[:, 0] * 2  # distinct places: an array value is kept apart
    return t * x + out


def single_values_at_repeats(x, i):
    y = x * 1
    y[i] = 0.5  # rows written twice: every write is the same number
    y[:, i[:2]] = -x[0, 0]
    y[1:, 2][i[1:3]] = x[1, 1]  # through a view
    return y


def add_at_repeats(x, i):
    acc = np.zeros_like(x)
    np.add.at(acc, i, x[0])  # unbuffered: repeated rows add up
    np.subtract.at(acc, (i, 1), x[:, 2].sum())
    np.add.at(acc[:, 1:], ([0, 0, 2], [1, 1, 3]), x[0, :3])  # constant places, into a view
    return acc * x


@pytest.mark.parametrize("fn, idx", [(svm_margins, LABELS), (one_hot_rows, LABELS),
                                     (single_values_at_repeats, ROWS), (add_at_repeats, ROWS)],
                         ids=lambda a: getattr(a, "__name__", ""))
def test_updates_at_traced_indices(fn, idx):
    want = fn(X.copy(), idx)
    np.testing.assert_allclose(graphc.jit(fn)(X.copy(), idx), want, rtol=1e-13)
    np.testing.assert_allclose(graphc.jit(fn).reference(X.copy(), idx), want, rtol=1e-13)
    u = np.random.default_rng(1).normal(size=want.shape)

    def loss(x, i):
        return (fn(x.copy(), i) * u).sum()

    vg = graphc.value_and_grad(loss)
    (v, g), (rv, rg) = vg(X, idx), vg.reference(X, idx)
    assert v == pytest.approx(loss(X, idx), rel=1e-12) and rv == pytest.approx(v, rel=1e-12)
    np.testing.assert_allclose(g, rg, rtol=1e-12, atol=1e-14)
    d = np.random.default_rng(2).normal(size=X.shape)
    eps = 1e-6
    fd = (loss(X + eps * d, idx) - loss(X - eps * d, idx)) / (2 * eps)
    assert float((g * d).sum()) == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_a_traced_index_out_of_range_in_an_update_raises():
    for fn in (svm_margins, add_at_repeats):
        with pytest.raises(graphc.OutOfBoundsError, match="axis"):
            graphc.jit(fn)(X, np.array([1, 5, 0, 0]))


def test_second_derivative_through_rows_read_back():
    """Rows read back from the array being filled are the rows written (Tracer.__getitem__
    forwards them), inside a gradient taken inside another gradient too."""
    def f(x):
        h = np.zeros((3, 5))
        for t in range(3):
            prev = x[0] if t == 0 else h[t - 1]
            h[t] = np.tanh(prev * x[1] + t)
        return (h ** 2).sum()

    u = np.random.default_rng(3).normal(size=(2, 5))
    x = X[:2] * 0.5

    def g(x):
        return (graphc.grad(f)(x) * u).sum()

    gg = graphc.grad(g)(x)
    d = np.random.default_rng(4).normal(size=x.shape)
    fd = (graphc.grad(f)(x + 1e-6 * d) - graphc.grad(f)(x - 1e-6 * d)) / 2e-6
    assert float((gg * d).sum()) == pytest.approx(float((fd * u).sum()), rel=1e-6)
    np.testing.assert_allclose(gg, graphc.grad(g).reference(x), rtol=1e-10, atol=1e-12)


def test_constant_arrays_built_in_place_stay_constants():
    """Filling a NumPy-made array with constants is NumPy's assignment, done while tracing:
    900 assignments leave a constant, not 900 masked copies to compile."""
    def f(x):
        a = np.zeros((30, 30))
        for i in range(30):
            for j in range(30):
                a[i, j] = 1.0 / (1 + abs(i - j))
        a[0] += 1.0
        a.T[1] -= 2.0
        return x @ a @ x

    x = np.linspace(-1, 1, 30)
    traced = int(graphc.jit(f).ir(x).split("traced: ")[1].split(" ")[0])
    assert traced < 12, traced
    assert graphc.jit(f)(x) == pytest.approx(f(x), rel=1e-13)
    np.testing.assert_allclose(graphc.grad(f)(x), graphc.grad(f).reference(x), rtol=1e-12)


def test_row_writes_merge_into_one_concatenate():
    def f(x):
        out = np.zeros_like(x, shape=(3, 4, 5))
        for t in (2, 0, 2):
            out[t] = np.tanh(x) * (t + 1)
        return out

    ir = graphc.jit(f).ir(X).split("# optimised")[0]
    assert "where(" not in ir and "concatenate(" in ir, ir
    np.testing.assert_allclose(graphc.jit(f)(X), f(X), rtol=1e-13)


def test_the_callers_array_is_never_changed():
    x = X.copy()
    graphc.jit(argument_changed_inside)(x)
    graphc.grad(lambda x: argument_changed_inside(x).sum())(x)
    np.testing.assert_array_equal(x, X)


def test_updates_inside_a_scan_step():
    def f(w, xs):
        def step(h, x):
            h = h.copy()
            h[0] += x[0]
            h *= w
            return h, h[1:]
        return graphc.scan(step, np.ones(3), xs)[1].sum()

    w, xs = 0.9, np.arange(12.0).reshape(4, 3) / 10
    v, g = graphc.value_and_grad(f)(w, xs)
    assert v == pytest.approx(f(w, xs))
    assert g == pytest.approx((f(w + 1e-6, xs) - f(w - 1e-6, xs)) / 2e-6, rel=1e-6)


@pytest.mark.parametrize("body, error, match", [
    ("np.broadcast_to(x, (2, 4, 5))[0] = 1.0", UnsupportedError, "read-only"),
    ("d = x.diagonal()\n    d += 1", UnsupportedError, "read-only"),
    ("v = x.T.reshape(-1)\n    x += 1", UnsupportedError, "copied"),
    ("i = (x > 0).astype(np.int64)\n    i += 1.5", UnsupportedError, "same_kind"),
    ("r = x[0]\n    r += x", ShapeError, "broadcast shape"),
    ("x[np.argmax(x, axis=0)] = x[0]", UnsupportedError, "may repeat"),
    ("x[x[:, 0] > 0, 1] = 1.0", UnsupportedError, "single value"),
    ("np.add.at(np.arange(4.0), np.argmax(x, axis=0), 1.0)", UnsupportedError,
     "make the array"),
    ("x &= x > 0", UnsupportedError, "booleans only"),
    ("x[1:3] = np.ones(3)", ShapeError, "could not broadcast"),
    ("x[[0, 9], 0] = 1.0", graphc.OutOfBoundsError, "9"),
    ("x[x > 0] = x", UnsupportedError, "single value"),
    ("x[x > 0] = x[x < 0] * 2", UnsupportedError, "one mask of x's shape on both sides"),
    ("np.add(x, 1.0, out=np.zeros(0).__array__())", UnsupportedError, "must be a traced array"),
    ("np.add(x, 1.5, out=(x > 0).astype(np.int64))", UnsupportedError, "same_kind"),
    # NumPy arrays made otherwise than by np.zeros and the like cannot hold traced values
    ("a = np.arange(5.0)\n    a[:2] = x[0, :2]", UnsupportedError, "np.zeros_like"),
    ("a = np.linspace(0, 1, 5)\n    a[0] = x[0, 0]", GraphcError, "np.zeros_like"),
])
def test_what_numpy_would_refuse_or_graphc_cannot_follow(body, error, match):
    scope: dict = {"np": np}
    exec(f"def f(x):\n    x = x * 1\n    {body}\n    return x.sum()", scope)
    with pytest.raises(error, match=match):
        graphc.grad(scope["f"])(X)


def test_a_scan_step_cannot_change_an_outer_array():
    def f(x):
        acc = x * 1

        def step(c, row):
            acc[0] = row
            return c + row.sum(), None
        return graphc.scan(step, 0.0, x)[0] + acc.sum()

    with pytest.raises(UnsupportedError, match="carry"):
        graphc.grad(f)(X)


# Steps of a random program: (makes a new name, statement) on the array named src.
_STEPS = [(True, "{src}[1:, ::2] if {src}.ndim == 2 else {src}[::2]"), (True, "{src}.T"),
          (True, "{src}.copy()"), (True, "{src}[0] if {src}.ndim == 2 else {src}[1:]"),
          (False, "{src} += {c:.3f}"), (False, "{src} *= np.tanh({src})"),
          (False, "{src}[0] = {c:.3f}"), (False, "{src}[..., :1] -= {src}[..., 1:2] * 2"),
          (True, "np.swapaxes({src}, 0, -1)")]


def _random_program(seed: int) -> str:
    """A random sequence of views, copies, in-place updates and assignments on one array."""
    rng = np.random.default_rng(seed)
    lines, names = ["a = x * 1"], ["a"]
    for _ in range(8):
        src = names[rng.integers(len(names))]
        makes, step = _STEPS[rng.integers(len(_STEPS))]
        text = step.format(src=src, c=rng.normal() if "{c" in step else 0.0)
        if makes:
            names.append(f"v{len(names)}")
            text = f"{names[-1]} = {text}"
        lines.append(text)
    total = " + ".join(f"({n} ** 2).sum() * {k + 1}" for k, n in enumerate(names))
    body = "\n    ".join(lines + [f"return {total}"])
    return f"def f(x):\n    {body}\n"


# Row writes and reads between them, on which passes/updates.py forwards reads and merges
# writes: whole rows, parts of rows, ranges with and without the written row, columns.
_ROW_READS = ["a[{r}]", "a[{r}, 1:3]", "a[{r}, ::-1]", "a[1:4]", "a[::-2]", "a[{r}:]",
              "a[:, {c}]", "a[-1]", "a[{r}][None]"]
_ROW_WRITES = ["a[{r}] = np.tanh(x[{r}]) * {k}", "a[{r}] = a[{q}] + {k}",
               "a[:, {c}] = x[:, {c}] * {k}", "a[{r}] += {k}"]


def _row_program(seed: int) -> str:
    rng = np.random.default_rng(seed)
    lines, reads = ["a = np.zeros((5, 4))" if seed % 2 else "a = x * 1"], []
    for k in range(10):
        pick = _ROW_READS if rng.random() < 0.4 else _ROW_WRITES
        text = pick[rng.integers(len(pick))].format(r=rng.integers(-5, 5), q=rng.integers(5),
                                                    c=rng.integers(4), k=k + 1)
        if pick is _ROW_READS:
            reads.append(f"r{k}")
            text = f"r{k} = {text}"
        lines.append(text)
    total = " + ".join([f"({n} ** 2).sum() * {j + 2}" for j, n in enumerate(reads)] +
                       ["(a ** 2).sum()"])
    return "def f(x):\n    " + "\n    ".join(lines + [f"return {total}"]) + "\n"


def _program(src: str, seed: int, shape: tuple[int, ...], scale: float = 1.0):
    """The function ``f`` that ``src`` defines, an argument for it, and NumPy's value."""
    scope: dict = {"np": np}
    exec(src, scope)
    x = np.random.default_rng(seed).normal(size=shape) * scale
    return scope["f"], x, scope["f"](x.copy())


@pytest.mark.parametrize("seed", range(40))
def test_random_row_writes_and_reads_match_numpy(seed):
    src = _row_program(seed)
    f, x, want = _program(src, seed, (5, 4))
    assert graphc.jit(f)(x) == pytest.approx(want, rel=1e-12), src
    assert graphc.jit(f).reference(x) == pytest.approx(want, rel=1e-12), src
    if seed % 8 == 0:
        g, rg = graphc.grad(f)(x), graphc.grad(f).reference(x)
        np.testing.assert_allclose(g, rg, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(60))
def test_random_update_programs_match_numpy(seed):
    src = _random_program(seed)
    f, x, want = _program(src, seed, (3, 4), 0.5)
    assert graphc.jit(f).reference(x) == pytest.approx(want, rel=1e-12), src
    if seed % 10 == 0:  # compiled, with its gradient against the reference interpreter's
        vg = graphc.value_and_grad(f)
        (v, g), (rv, rg) = vg(x), vg.reference(x)
        assert v == pytest.approx(want, rel=1e-12) and rv == pytest.approx(want, rel=1e-12), src
        np.testing.assert_allclose(g, rg, rtol=1e-10, atol=1e-12)
