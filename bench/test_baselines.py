"""The hand-written baselines must be right before anything is compared with them.

    python -m pytest bench/test_baselines.py

- numpy_hand's value equals the plain-NumPy loss graphc traces, and its gradients equal central
  finite differences of that loss, entry by entry, on small float64 instances;
- numba_hand (and jax, torch when installed) equal numpy_hand, tightly on the small float64
  instances and within the benchmark's tolerance on the full-size ones.
"""
import importlib

import numpy as np
import pytest

from bench import numpy_hand, workloads
from bench.worker import CANDIDATES, compare

NAMES = list(workloads.WORKLOADS)


def perturbed(params, i, idx, h):
    p = list(params)
    if isinstance(p[i], float):
        p[i] = p[i] + h
    else:
        p[i] = p[i].copy()
        p[i][idx] += h
    return tuple(p)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_hand_matches_loss_and_finite_differences(name):
    d = workloads.make_data(name, seed=1, small=True)
    value, grads = numpy_hand.make(d)()
    f = lambda params: float(d.loss(*params, *d.consts))
    assert np.isclose(float(value), f(d.params), rtol=1e-12, atol=1e-12)
    eps = 1e-6
    for i, (p, g) in enumerate(zip(d.params, grads)):
        g = np.asarray(g)
        assert g.shape == np.shape(p) and g.dtype == np.float64
        fd = np.empty_like(g)
        for idx in np.ndindex(g.shape):
            fd[idx] = (f(perturbed(d.params, i, idx, eps)) - f(perturbed(d.params, i, idx, -eps))) / (2 * eps)
        scale = max(1.0, np.abs(g).max())
        assert np.abs(g - fd).max() <= 1e-6 * scale, f"param {i}: hand {g} vs fd {fd}"


@pytest.mark.parametrize("name", NAMES)
def test_numpy_hand_matches_loss_full_size(name):
    d = workloads.make_data(name)
    value, _ = numpy_hand.make(d)()
    rtol = 1e-4 if d.dtype == np.float32 else 1e-12
    assert np.isclose(float(value), float(d.loss(*d.args)), rtol=rtol)


def candidate(name):
    if name in ("jax", "torch"):
        pytest.importorskip(name)
    return importlib.import_module(CANDIDATES[name])


@pytest.mark.parametrize("cand", ["numba_hand", "jax", "torch"])
@pytest.mark.parametrize("small", [True, False], ids=["small-f64", "full"])
@pytest.mark.parametrize("name", NAMES)
def test_candidate_matches_numpy_hand(name, small, cand):
    mod = candidate(cand)
    d = workloads.make_data(name, seed=2, small=small)
    err, msg = compare(mod.make(d)(), numpy_hand.make(d)(), d.dtype, rtol=1e-10 if small else None)
    assert msg is None, msg
