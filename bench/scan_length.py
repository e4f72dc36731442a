"""Compile time of a graphc.scan RNN gradient against the sequence length.

Each length runs in a fresh process with an empty cache directory (a cold compile), then once
more with the cache that run left (a warm start). The loop body is compiled once, so the cold
time should not depend on T; the unrolled Python loop (--unrolled) is shown for contrast.

Run:  python bench/scan_length.py [--lengths 10,100,1000] [--unrolled 10,50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import graphc
    T, unrolled = int(sys.argv[1]), sys.argv[2] == "1"
    B, D, H = 32, 64, 128
    r = np.random.default_rng(0)
    Wx, Wh = (r.normal(size=s).astype(np.float32) * 0.1 for s in [(D, H), (H, H)])
    xs = r.normal(size=(T, B, D)).astype(np.float32)

    def loss(Wx, Wh, xs):
        if unrolled:
            h, tot = np.zeros((B, H), np.float32), 0
            for t in range(T):
                h = np.tanh(xs[t] @ Wx + h @ Wh)
                tot = tot + (h * h).sum()
            return tot
        def step(h, x):
            h = np.tanh(x @ Wx + h @ Wh)
            return h, (h * h).sum()
        return graphc.scan(step, np.zeros((B, H), np.float32), xs)[1].sum()

    f = graphc.grad(loss, argnums=(0, 1))
    t0 = time.perf_counter(); f(Wx, Wh, xs); first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(5):
        f(Wx, Wh, xs)
    call = (time.perf_counter() - t0) / 5
    s = f.stats(Wx, Wh, xs)
    print(json.dumps(dict(first=first, call=call, nodes=s["nodes_before"], kernels=s["kernels"])))
""")


def run(T: int, unrolled: bool, cache: str) -> dict:
    env = dict(os.environ, GRAPHC_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, str(T), "1" if unrolled else "0"],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="10,100,1000")
    ap.add_argument("--unrolled", default="10,50")
    args = ap.parse_args()
    print("| loop | T | traced nodes | kernels | cold first call | warm first call | call |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for unrolled, lengths in ((False, args.lengths), (True, args.unrolled)):
        for T in (int(t) for t in lengths.split(",") if t):
            with tempfile.TemporaryDirectory() as cache:
                cold, warm = run(T, unrolled, cache), run(T, unrolled, cache)
            print(f"| {'unrolled' if unrolled else 'scan'} | {T} | {cold['nodes']} | "
                  f"{cold['kernels']} | {cold['first']:.2f} s | {warm['first']:.2f} s | "
                  f"{warm['call'] * 1e3:.2f} ms |", flush=True)


if __name__ == "__main__":
    main()
