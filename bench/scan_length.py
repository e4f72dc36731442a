"""Compile time of an RNN gradient against the sequence length: graphc.scan, and the same
loop written as a Python for loop, rolled back into a scan by graphc (passes/reroll.py, forced
here whatever the length) or left unrolled (GRAPHC_REROLL=0).

Each length runs in a fresh process with an empty cache directory (a cold compile), then once
more with the cache that run left (a warm start). A scan's body is compiled once, so its cold
time should not depend on T; the unrolled loop's grows with T. The two loop rows show where
rolling starts to pay, which is what reroll.MIN_NODES encodes.

Run:  python bench/scan_length.py [--lengths 10,100,1000] [--rolled 10,50] [--unrolled 10,50]
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
    from graphc.passes import reroll
    T, kind = int(sys.argv[1]), sys.argv[2]
    reroll.MIN_NODES = 0  # the rolled rows: roll whatever the length
    B, D, H = 32, 64, 128
    r = np.random.default_rng(0)
    Wx, Wh = (r.normal(size=s).astype(np.float32) * 0.1 for s in [(D, H), (H, H)])
    xs = r.normal(size=(T, B, D)).astype(np.float32)

    def loss(Wx, Wh, xs):
        if kind != "scan":
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


def run(T: int, kind: str, cache: str) -> dict:
    env = dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_REROLL="0" if kind == "unrolled" else "1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(T), kind],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="10,100,1000")
    ap.add_argument("--rolled", default="10,50")
    ap.add_argument("--unrolled", default="10,50")
    args = ap.parse_args()
    print("| loop | T | traced nodes | kernels | cold first call | warm first call | call |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind, lengths in (("scan", args.lengths), ("rolled", args.rolled),
                          ("unrolled", args.unrolled)):
        for T in (int(t) for t in lengths.split(",") if t):
            with tempfile.TemporaryDirectory() as cache:
                cold, warm = run(T, kind, cache), run(T, kind, cache)
            print(f"| {kind} | {T} | {cold['nodes']} | "
                  f"{cold['kernels']} | {cold['first']:.2f} s | {warm['first']:.2f} s | "
                  f"{warm['call'] * 1e3:.2f} ms |", flush=True)


if __name__ == "__main__":
    main()
