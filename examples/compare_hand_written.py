"""graphc next to gradients written by hand: in NumPy, and as Numba @njit loops.

Two models, float64:

  neuron  the lecture's neuron:  L = (sigmoid(w*x + b) - y)**2, gradient w.r.t. w and b
  mlp     64-32-10 tanh network, softmax cross-entropy, on a batch of sklearn's digits
          (random data if scikit-learn is missing):
              h = tanh(x W1 + b1),  logits = h W2 + b2,  L = -sum(y * log_softmax(logits)) / n

For each, the value and every gradient come from three implementations: graphc.value_and_grad
of the plain NumPy loss, the backward pass written out by hand in NumPy, and the same written
as explicit loops compiled with numba.njit. The script prints the values, the max |difference|
of each gradient against graphc, and then per-call timings side by side (median of repeated
calls, time.perf_counter). The timings are indicative only: bench/ (python -m bench) is the
proper benchmark, with fresh processes, rounds and more workloads.

Run:  python examples/compare_hand_written.py [--batch 128] [--repeat 300]
Exits with status 1 if any gradient differs from graphc's by more than 1e-9.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numba
import numpy as np

import graphc
from graphc.numpy import log_softmax, sigmoid

TOL = 1e-9


# ---------------------------------------------------------------- the neuron

def neuron_loss(w, b, x, y):
    return (sigmoid(w * x + b) - y) ** 2


neuron_vg = graphc.value_and_grad(neuron_loss, argnums=(0, 1))


def neuron_numpy(w, b, x, y):
    s = 1.0 / (1.0 + np.exp(-(w * x + b)))
    dz = 2.0 * (s - y) * s * (1.0 - s)
    return (s - y) ** 2, (dz * x, dz)


@numba.njit(cache=False)
def neuron_numba(w, b, x, y):
    s = 1.0 / (1.0 + math.exp(-(w * x + b)))
    dz = 2.0 * (s - y) * s * (1.0 - s)
    return (s - y) ** 2, dz * x, dz


# ---------------------------------------------------------------- the MLP

def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1 + b1)
    return -(y * log_softmax(h @ w2 + b2)).sum() / x.shape[0]


mlp_vg = graphc.value_and_grad(mlp_loss)


def mlp_numpy(params, x, y):
    w1, b1, w2, b2 = params
    n = x.shape[0]
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    logp = z - lse
    value = -(y * logp).sum() / n
    # d/dlogits of -sum(y * log_softmax) / n = (softmax * rowsum(y) - y) / n
    dz = (np.exp(logp) * y.sum(axis=1, keepdims=True) - y) / n
    dw2 = h.T @ dz
    db2 = dz.sum(axis=0)
    dpre = (dz @ w2.T) * (1.0 - h * h)
    dw1 = x.T @ dpre
    db1 = dpre.sum(axis=0)
    return value, (dw1, db1, dw2, db2)


@numba.njit(cache=False)
def _mlp_numba(w1, b1, w2, b2, x, y):
    n, d = x.shape
    hdim = w1.shape[1]
    k = w2.shape[1]
    h = np.empty((n, hdim))
    dw1 = np.zeros((d, hdim))
    db1 = np.zeros(hdim)
    dw2 = np.zeros((hdim, k))
    db2 = np.zeros(k)
    z = np.empty(k)
    dz = np.empty(k)
    dpre = np.empty(hdim)
    value = 0.0
    for i in range(n):
        # forward, one row at a time
        for j in range(hdim):
            acc = b1[j]
            for a in range(d):
                acc += x[i, a] * w1[a, j]
            h[i, j] = math.tanh(acc)
        zmax = -np.inf
        for c in range(k):
            acc = b2[c]
            for j in range(hdim):
                acc += h[i, j] * w2[j, c]
            z[c] = acc
            zmax = max(zmax, acc)
        se = 0.0
        for c in range(k):
            se += math.exp(z[c] - zmax)
        lse = zmax + math.log(se)
        ysum = 0.0
        for c in range(k):
            value -= y[i, c] * (z[c] - lse)
            ysum += y[i, c]
        # backward for this row
        for c in range(k):
            dz[c] = (math.exp(z[c] - lse) * ysum - y[i, c]) / n
            db2[c] += dz[c]
        for j in range(hdim):
            acc = 0.0
            for c in range(k):
                dw2[j, c] += h[i, j] * dz[c]
                acc += dz[c] * w2[j, c]
            dpre[j] = acc * (1.0 - h[i, j] * h[i, j])
            db1[j] += dpre[j]
        for a in range(d):
            xa = x[i, a]
            for j in range(hdim):
                dw1[a, j] += xa * dpre[j]
    return value / n, dw1, db1, dw2, db2


def mlp_numba(params, x, y):
    value, *grads = _mlp_numba(*params, x, y)
    return value, tuple(grads)


def digits_batch(n, rng):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        x, labels = rng.normal(size=(n, 64)), rng.integers(0, 10, size=n)
        return x, np.eye(10)[labels], "random data"
    x, labels = load_digits(return_X_y=True)
    idx = rng.choice(len(x), size=n, replace=False)
    x = (x[idx] - 8.0) / 8.0  # pixel values 0..16, centred and scaled
    return x, np.eye(10)[labels[idx]], "sklearn digits"


# ---------------------------------------------------------------- comparison

def median_call_s(fn, args, repeat):
    fn(*args)  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fmt_time(s):
    return f"{s * 1e6:10.2f} µs"


def compare(title, names, impls, args, timing_repeat):
    """Print the values and max |difference| vs graphc of every gradient; return (ok, timings)."""
    results = {}
    compile_s = {}
    for label, fn in impls.items():
        t = time.perf_counter()
        results[label] = fn(*args)
        compile_s[label] = time.perf_counter() - t
    ref_v, ref_g = results["graphc"]
    others = [k for k in impls if k != "graphc"]
    print(f"\n{title}")
    header = f"  {'quantity':10}{'shape':>10}{'graphc (first elem / value)':>30}"
    header += "".join(f"{'max|graphc-' + k + '|':>24}" for k in others)
    print(header)
    ok = True
    rows = [("L", "()", np.asarray(ref_v), [np.asarray(results[k][0]) for k in others])]
    for i, name in enumerate(names):
        g = np.asarray(ref_g[i])
        rows.append((name, str(g.shape), g, [np.asarray(results[k][1][i]) for k in others]))
    for name, shape, ref, alts in rows:
        diffs = [float(np.max(np.abs(ref - a))) if ref.shape == a.shape else math.inf
                 for a in alts]
        ok &= all(dv <= TOL for dv in diffs)
        first = float(ref.reshape(-1)[0])
        print(f"  {name:10}{shape:>10}{first:>30.17g}" + "".join(f"{dv:>24.3g}" for dv in diffs))
    timings = {k: median_call_s(fn, args, timing_repeat) for k, fn in impls.items()}
    return ok, timings, compile_s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="graphc vs hand-written NumPy and Numba gradients.")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=300, help="timed calls per implementation")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x, y, source = digits_batch(args.batch, rng)
    d, hdim, k = 64, args.hidden, 10
    params = (rng.normal(size=(d, hdim)) / np.sqrt(d), 0.1 * rng.normal(size=hdim),
              rng.normal(size=(hdim, k)) / np.sqrt(hdim), 0.1 * rng.normal(size=k))

    all_ok = True
    timing_rows = []
    ok, t_neuron, c_neuron = compare(
        "neuron: L = (sigmoid(w*x + b) - y)**2 at w=0.5, b=-0.2, x=1.5, y=1.0 (float64)",
        ["dL/dw", "dL/db"],
        {"graphc": neuron_vg, "numpy": neuron_numpy,
         "numba": lambda *a: (lambda r: (r[0], r[1:]))(neuron_numba(*a))},
        (0.5, -0.2, 1.5, 1.0), args.repeat)
    all_ok &= ok
    timing_rows.append(("neuron", t_neuron, c_neuron))
    ok, t_mlp, c_mlp = compare(
        f"mlp: {d}-{hdim}-{k} tanh + softmax cross-entropy, batch {args.batch} of {source} "
        "(float64)",
        ["dL/dW1", "dL/db1", "dL/dW2", "dL/db2"],
        {"graphc": mlp_vg, "numpy": mlp_numpy, "numba": mlp_numba},
        (params, x, y), args.repeat)
    all_ok &= ok
    timing_rows.append(("mlp", t_mlp, c_mlp))

    print(f"\nagreement: {'OK' if all_ok else 'FAIL'} (every gradient within {TOL:g} of graphc's)")

    print(f"\nper-call time, median of {args.repeat} calls (value + gradient; indicative only, "
          "on this machine, in this process; see bench/ and python -m bench for the proper "
          "benchmark)")
    print(f"  {'model':8}{'graphc':>14}{'numpy by hand':>16}{'numba by hand':>16}"
          f"{'first call graphc / numba (compile)':>40}")
    for name, t, c in timing_rows:
        print(f"  {name:8}{fmt_time(t['graphc']):>14}{fmt_time(t['numpy']):>16}"
              f"{fmt_time(t['numba']):>16}{c['graphc']:>29.2f} s / {c['numba']:.2f} s")

    if not all_ok:
        print(f"FAIL: a gradient differs from graphc's by more than {TOL:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
