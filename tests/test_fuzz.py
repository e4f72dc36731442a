"""Fuzz (issue #7): random, mostly wrong arguments thrown at compiled functions.

Every call must either return NumPy's answer (compiled gradients: the reference interpreter's)
or raise a GraphcError; no other exception, and no crash. The cases run in a child process so
that a segfault fails this test instead of killing pytest. A few hundred cases by default;
GRAPHC_LONG_FUZZ=1 runs thousands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG = bool(os.environ.get("GRAPHC_LONG_FUZZ"))

CHILD = r'''
import json, sys, warnings
import numpy as np
from hypothesis import given, settings, strategies as st, HealthCheck
import graphc

N = int(sys.argv[1])
counts = {"cases": 0, "returned": 0, "graphc_error": 0}


def dense(w, x):
    return np.sum(np.tanh(x @ w) ** 2)


def elementwise(a, b):
    return np.sum(a * b + np.exp(-a) * 0.5) + np.max(b)


def structured(p, s):
    return np.sum(p["w"] * s) + np.mean(p["b"][0])


FNS = [dense, elementwise, structured]
TRANSFORMS = {"jit": graphc.jit, "grad": graphc.grad, "vg": graphc.value_and_grad}
COMPILED = {(t, f.__name__): T(f) for t, T in TRANSFORMS.items() for f in FNS}

SHAPES = [(), (0,), (3,), (4, 3), (3, 2), (0, 2), (4, 0), (2, 3, 2)]
GOOD = ["<f8", "<f4", "<i8", "|b1"]
BAD = [">f8", "<f2", "<c16", "|O", "<M8[s]", "<U3", "<i1", "<u8"]


@st.composite
def arrays(draw):
    shape = draw(st.sampled_from(SHAPES))
    dtype = np.dtype(draw(st.sampled_from(GOOD + BAD if draw(st.booleans()) else GOOD)))
    special = draw(st.sampled_from([None, None, np.nan, np.inf, -np.inf]))
    values = np.linspace(-2, 2, int(np.prod(shape))).reshape(shape)
    if special is not None and values.size and dtype.kind in "fc":
        values.flat[draw(st.integers(0, values.size - 1))] = special
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype.kind == "M":
            a = values.astype("i8").astype(dtype)
        else:
            a = values.astype(dtype)
    layout = draw(st.sampled_from(["C", "F", "strided", "readonly", "subclass"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        big = np.repeat(a, 2, axis=-1)
        a = big[..., ::2]
    elif layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
    elif layout == "subclass":
        a = a.view(draw(st.sampled_from([np.ma.MaskedArray, np.recarray, np.ndarray])))
    return a


leaves = st.one_of(
    arrays(), arrays(), arrays(),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**80, 2**80),
    st.booleans(), st.none(), st.text(max_size=3), st.just(object()),
    st.sampled_from([np.float32(1.5), np.int8(3), np.float16(1), np.complex64(1)]))
values = st.recursive(leaves, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.tuples(kids, kids),
    st.dictionaries(st.sampled_from(["w", "b", "x"]), kids, max_size=3)), max_leaves=6)


def same(a, b, rtol):
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            same(x, y, rtol)
        return
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            same(a[k], b[k], rtol)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, equal_nan=True)


def well_formed(name):
    """Arguments of the structure the function expects: leaves random arrays or scalars."""
    leaf = st.one_of(arrays(), arrays(), st.floats(-3, 3), st.integers(-3, 3))
    if name == "structured":
        return st.tuples(st.fixed_dictionaries({"w": leaf, "b": st.tuples(leaf)}), leaf)
    return st.tuples(leaf, leaf)


@settings(max_examples=N, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(COMPILED)), st.data())
def check(which, data):
    t, name = which
    fn = COMPILED[which]
    args = list(data.draw(st.one_of(well_formed(name), well_formed(name),
                                    st.lists(values, min_size=0, max_size=3))))
    counts["cases"] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = fn(*args)
        except graphc.GraphcError:
            counts["graphc_error"] += 1
            return
        counts["returned"] += 1
        flat = [x for x in args if isinstance(x, np.ndarray)]
        f32 = any(x.dtype == np.float32 for x in flat)
        rtol = 1e-4 if f32 else 1e-9
        if t == "jit":
            plain = [np.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
            expected = dict((f.__name__, f) for f in FNS)[name](*plain)
        else:
            expected = fn.reference(*args)
        same(out, expected, rtol)


check()
print(json.dumps(counts))
'''


def test_fuzz_wrong_arguments_never_crash_and_never_lie(tmp_path):
    n = 3000 if LONG else 300
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=3600 if LONG else 600)
    assert proc.returncode == 0, (
        f"fuzz child exited with {proc.returncode} (negative: killed by signal, e.g. -11 "
        f"segfault)\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    print(counts)
    assert counts["cases"] >= n and counts["returned"] > 10 and counts["graphc_error"] > 10
