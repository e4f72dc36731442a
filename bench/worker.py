"""Run one candidate on one workload in this process and print one JSON line.

    python -m bench.worker WORKLOAD CANDIDATE [--budget SECONDS] [--warmup SECONDS]

Order: import the candidate, build the data, make the callable, time the first call (for JIT
candidates: tracing and compiling), check value and gradients against numpy_hand (a mismatch
ends the run as FAILED, untimed), warm up, check again, then time calls for ~budget seconds.
The per-call time is the median over samples; a sample is a batch of calls lasting >= 2 ms.
`other_cpu` is the CPU (in cores, steal included) that other processes used while timing: on a
shared machine it tells a clean measurement from a disturbed one.
"""
import argparse
import gc
import importlib
import json
import os
import platform
import statistics
import sys
import time
import traceback

import numpy as np

from bench import workloads

CANDIDATES = {                      # name on the command line -> module in bench/
    "numpy_hand": "bench.numpy_hand",
    "numba_hand": "bench.numba_hand",
    "jax": "bench.jax_ad",
    "torch": "bench.torch_ad",
    "graphc": "bench.graphc_ad",
}
OPTIONAL = {"jax", "jaxlib", "torch"}   # missing -> SKIPPED; anything else missing -> FAILED


def to_numpy(v):
    if hasattr(v, "detach"):        # torch
        return v.detach().cpu().numpy().copy()
    return np.array(v)              # copies, so a reused output buffer cannot alias


def compare(out, ref, dtype, rtol=None):
    """Max relative error of value and gradients (each error relative to the max |reference|).

    Returns (error, message); message is None when within tolerance."""
    if rtol is None:
        rtol = 1e-3 if np.dtype(dtype) == np.float32 else 1e-8
    try:
        value, grads = out
        grads = tuple(grads)
    except (TypeError, ValueError):
        return np.inf, f"expected (value, (grads...)), got {type(out).__name__}"
    rvalue, rgrads = ref
    if len(grads) != len(rgrads):
        return np.inf, f"{len(grads)} gradients, expected {len(rgrads)}"
    worst, msg = 0.0, None
    pairs = [("value", to_numpy(value), to_numpy(rvalue))]
    pairs += [(f"grad[{i}]", to_numpy(g), to_numpy(r)) for i, (g, r) in enumerate(zip(grads, rgrads))]
    for name, got, want in pairs:
        if got.shape != want.shape:
            return np.inf, f"{name}: shape {got.shape}, expected {want.shape}"
        scale = max(np.abs(want).max(initial=0.0), 1e-30)
        err = float(np.abs(got.astype(np.float64) - want).max(initial=0.0) / scale)
        if not np.isfinite(err):
            err = np.inf
        if err > worst:
            worst = err
        if err > rtol and msg is None:
            msg = f"{name}: max |error| / max |ref| = {err:.3g} > {rtol:g}"
    return worst, msg


def cpu_seconds():
    """(CPU seconds used machine-wide, including steal; CPU seconds used by this process)."""
    t = os.times()
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return None, t.user + t.system
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), t.user + t.system


def other_cpu_since(mark, wall):
    """Cores used by other processes since `mark` (a cpu_seconds()) over `wall` seconds."""
    (busy0, own0), (busy1, own1) = mark, cpu_seconds()
    if busy0 is None or wall <= 0:
        return None
    return max(0.0, (busy1 - busy0 - (own1 - own0)) / wall)


def time_calls(fn, budget, warmup):
    """(median seconds per call, calls timed, CPU cores used by other processes meanwhile).

    The warm-up also estimates the per-call time."""
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if n >= 3 and elapsed >= warmup:
            break
    inner = max(1, int(2e-3 * n / elapsed))
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    mark, t0 = cpu_seconds(), time.perf_counter()
    try:
        end = time.perf_counter() + budget
        while len(samples) < 5 or time.perf_counter() < end:
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - t) / inner)
    finally:
        if gc_was_enabled:
            gc.enable()
    other = other_cpu_since(mark, time.perf_counter() - t0)
    return statistics.median(samples), len(samples) * inner, other


def versions(mod=None):
    import numba
    v = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}
    if mod is not None and hasattr(mod, "versions"):
        v.update(mod.versions())
    return v


def run(workload, candidate, budget=0.5, warmup=0.2):
    res = {"workload": workload, "candidate": candidate, "status": "ok"}
    try:
        t = time.perf_counter()
        try:
            mod = importlib.import_module(CANDIDATES[candidate])
        except ModuleNotFoundError as e:
            if e.name in OPTIONAL:
                return {**res, "status": "SKIPPED", "error": f"{e.name} is not installed"}
            raise
        res["import_s"] = time.perf_counter() - t
        res["versions"] = versions(mod)

        from bench import numpy_hand
        data = workloads.make_data(workload)
        ref = numpy_hand.make(data)()

        t = time.perf_counter()
        fn = mod.make(data)
        res["make_s"] = time.perf_counter() - t
        mark, t = cpu_seconds(), time.perf_counter()
        out = fn()
        res["first_call_s"] = time.perf_counter() - t
        res["first_call_other_cpu"] = other_cpu_since(mark, res["first_call_s"])
        err, msg = compare(out, ref, data.dtype)
        res["max_rel_err"] = err
        if msg is None:                              # check a steady-state call too
            fn()
            err, msg = compare(fn(), ref, data.dtype)
            res["max_rel_err"] = max(res["max_rel_err"], err)
        if msg is not None:
            return {**res, "status": "FAILED", "error": "wrong result: " + msg}

        res["median_s"], res["calls"], res["other_cpu"] = time_calls(fn, budget, warmup)
    except Exception as e:           # report, never crash: the runner carries on
        tb = traceback.format_exc(limit=-3)
        return {**res, "status": "FAILED", "error": f"{type(e).__name__}: {e}"[:2000],
                "traceback": tb[-4000:]}
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("workload", choices=list(workloads.WORKLOADS))
    p.add_argument("candidate", choices=list(CANDIDATES))
    p.add_argument("--budget", type=float, default=0.5, help="seconds of timed calls")
    p.add_argument("--warmup", type=float, default=0.2, help="seconds of warm-up calls")
    a = p.parse_args(argv)
    res = run(a.workload, a.candidate, a.budget, a.warmup)
    sys.stdout.flush()
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
