"""Time graphc's vectorisable math (graphc.codegen.vmath) against NumPy and libm in Numba.

For each function and dtype, on 2**20 elements (``--n``): NumPy's ufunc writing into a
preallocated output, an ``@njit`` loop calling ``math.<func>`` (libm: LLVM cannot vectorise it),
and an ``@njit`` loop calling ``vmath.<func>`` (also timed with
``vmath.prefer_512bit_vectors()``), all loops compiled with graphc's kernel flags.
Each timing is the median of ``--repeat`` runs after a warm-up; the candidates are
interleaved in short blocks so that machine noise hits them alike. Single-threaded throughout.

    python bench/vmath_bench.py                      # all functions, float32 and float64
    python bench/vmath_bench.py --funcs tanh,exp --n 1048576 --repeat 50
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import math
import os
import sys
import time

import numpy as np
from numba import njit

FASTMATH = {"contract", "reassoc", "nsz"}  # the flag set graphc's kernels use
_BLOCK = 5  # timed calls per candidate per interleaved round


def _load_vmath():
    """Import graphc.codegen.vmath; fall back to its file if the package is not importable."""
    try:
        from graphc.codegen import vmath
        return vmath
    except Exception:  # noqa: BLE001 - e.g. running from a checkout without installing
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                            "graphc", "codegen", "vmath.py")
        spec = importlib.util.spec_from_file_location("graphc_vmath_bench", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod


vm = _load_vmath()


def _loop1(f, wide=False):
    if wide:
        @njit(error_model="numpy", fastmath=FASTMATH)
        def kernel(a, out):
            vm.prefer_512bit_vectors()
            for i in range(a.size):
                out[i] = f(a[i])
        return kernel

    @njit(error_model="numpy", fastmath=FASTMATH)
    def kernel(a, out):
        for i in range(a.size):
            out[i] = f(a[i])
    return kernel


def _loop2(f, wide=False):
    if wide:
        @njit(error_model="numpy", fastmath=FASTMATH)
        def kernel(a, b, out):
            vm.prefer_512bit_vectors()
            for i in range(a.size):
                out[i] = f(a[i], b[i])
        return kernel

    @njit(error_model="numpy", fastmath=FASTMATH)
    def kernel(a, b, out):
        for i in range(a.size):
            out[i] = f(a[i], b[i])
    return kernel


# libm baselines that keep the dtype (a bare 1 or 1.0 would promote float32 to float64)
@njit(inline="always")
def _math_sigmoid32(x):
    return np.float32(1) / (np.float32(1) + math.exp(-x))


@njit(inline="always")
def _math_sigmoid64(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(inline="always")
def _math_pow(x, y):
    return x ** y


def _np_sigmoid(a, out):
    np.negative(a, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)


# name -> (numpy call, math baseline per dtype, vmath function, input sampler)
def _uniform(lo, hi):
    return lambda rng, n: rng.uniform(lo, hi, n)


FUNCS = {
    "exp": (np.exp, {32: math.exp, 64: math.exp}, vm.exp, _uniform(-10, 10)),
    "expm1": (np.expm1, {32: math.expm1, 64: math.expm1}, vm.expm1, _uniform(-5, 5)),
    "log": (np.log, {32: math.log, 64: math.log}, vm.log,
            lambda rng, n: np.exp(rng.uniform(-7, 7, n))),
    "log1p": (np.log1p, {32: math.log1p, 64: math.log1p}, vm.log1p, _uniform(-0.9, 10)),
    "tanh": (np.tanh, {32: math.tanh, 64: math.tanh}, vm.tanh, _uniform(-5, 5)),
    "sigmoid": (_np_sigmoid, {32: _math_sigmoid32, 64: _math_sigmoid64}, vm.sigmoid,
                _uniform(-10, 10)),
    "sin": (np.sin, {32: math.sin, 64: math.sin}, vm.sin, _uniform(-100, 100)),
    "cos": (np.cos, {32: math.cos, 64: math.cos}, vm.cos, _uniform(-100, 100)),
    "pow": (np.power, {32: _math_pow, 64: _math_pow}, vm.pow,
            lambda rng, n: (np.exp(rng.uniform(-2.3, 2.3, n)), rng.uniform(-5, 5, n))),
}



def bench(names, n: int, repeat: int, dtypes) -> list[tuple]:
    rng = np.random.default_rng(0)
    rows = []
    for name in names:
        np_fn, math_fns, vm_fn, sampler = FUNCS[name]
        binary = name == "pow"
        for dt in dtypes:
            bits = np.dtype(dt).itemsize * 8
            sample = sampler(rng, n)
            args = tuple(np.ascontiguousarray(s, dtype=dt) for s in
                         (sample if binary else (sample,)))
            out = np.empty(n, dt)
            make = _loop2 if binary else _loop1
            k_math, k_vm, k_vm512 = make(math_fns[bits]), make(vm_fn), make(vm_fn, wide=True)
            t0 = time.perf_counter()
            k_vm(*args, out)
            compile_s = time.perf_counter() - t0
            k_math(*args, out)
            k_vm512(*args, out)

            def timed(call):
                t = time.perf_counter()
                call()
                return (time.perf_counter() - t) * 1e3

            cands = {
                "numpy": functools.partial(np_fn, *args, out=out),
                "math": functools.partial(k_math, *args, out),
                "vmath": functools.partial(k_vm, *args, out),
                "vm512": functools.partial(k_vm512, *args, out),
            }
            for c in cands.values():  # warm-up (page faults, caches, turbo)
                c()
                c()
            samples = {c: [] for c in cands}
            # Interleaved rounds, each candidate run as a short block whose first call is
            # dropped: right after the slow scalar libm loop, a vector loop ran ~2x slower on
            # its first call here, which would charge one candidate for another's after-effects.
            for _ in range(max(1, repeat // _BLOCK)):
                for c, call in cands.items():
                    call()
                    samples[c].extend(timed(call) for _ in range(_BLOCK))
            med = {c: float(np.median(v)) for c, v in samples.items()}
            rows.append((name, np.dtype(dt).name, med["numpy"], med["math"], med["vmath"],
                         med["vm512"], compile_s))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--funcs", default=",".join(FUNCS), help="comma-separated subset")
    ap.add_argument("--n", type=int, default=2 ** 20)
    ap.add_argument("--repeat", type=int, default=25)
    ap.add_argument("--dtypes", default="float32,float64")
    a = ap.parse_args(argv)
    names = [s for s in a.funcs.split(",") if s]
    dtypes = [np.dtype(s).type for s in a.dtypes.split(",") if s]
    print(f"n = {a.n}, median of {a.repeat} runs (interleaved blocks), single thread; loops: "
          f"@njit(error_model='numpy', fastmath={sorted(FASTMATH)})")
    hdr = (f"{'func':8s} {'dtype':8s} {'numpy ms':>9s} {'math ms':>9s} {'vmath ms':>9s} "
           f"{'vmath/numpy':>11s} {'math/vmath':>10s} {'vm512 ms':>9s} {'vm512/numpy':>11s} "
           f"{'compile s':>9s}")
    print(hdr)
    print("-" * len(hdr))
    for name, dt, t_np, t_math, t_vm, t_512, comp in bench(names, a.n, a.repeat, dtypes):
        print(f"{name:8s} {dt:8s} {t_np:9.3f} {t_math:9.3f} {t_vm:9.3f} {t_vm / t_np:11.2f} "
              f"{t_math / t_vm:10.1f} {t_512:9.3f} {t_512 / t_np:11.2f} {comp:9.2f}", flush=True)
    print("vmath/numpy < 1: the vmath loop beats NumPy; math/vmath: speed-up over libm in Numba;\n"
          "vm512: the vmath loop with vmath.prefer_512bit_vectors() (LLVM otherwise uses 256-bit\n"
          "vectors on AVX-512 Intel cores); compile s: first call of the vmath loop.")


if __name__ == "__main__":
    main()
