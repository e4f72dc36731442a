"""How trace, optimise and compile time grow with the size of the graph.

    python -m bench.scale                        # unrolled loops of 125..2000 steps
    python -m bench.scale --steps 125,250 --out /tmp/scale

The workload is an unrolled recurrence, h <- tanh(w * h + x[t % 8]) for T steps, and its
gradient w.r.t. w (vectors of 16: the arrays are small, so the times are graphc's and Numba's,
not the arithmetic's). The loop stays unrolled (GRAPHC_REROLL=0: graphc would otherwise roll
it back into a scan, and the graph would not grow). Every size runs in a fresh process against
an empty cache directory, so "compile" is a cold Numba compile. Writes SCALE.md, scale.json and
(with matplotlib) scale.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = """
import json, sys, time
import numpy as np
import graphc

T = int(sys.argv[1])


def loss(w, x):
    h = x[0]
    for t in range(T):
        h = np.tanh(w * h + x[t % 8])
    return np.sum(h * h)


g = graphc.grad(loss)
w = np.full(16, 0.5)
x = np.random.default_rng(0).normal(size=(8, 16))
t0 = time.perf_counter()
g(w, x)
total = time.perf_counter() - t0
s = g.stats(w, x)
print(json.dumps({"steps": T, "nodes": s["nodes_before"], "nodes_after": s["nodes_after"],
                  "groups": s["groups"], "kernels": s["kernels"], "trace_s": s["trace_s"],
                  "optimize_s": s["optimize_s"], "codegen_s": s["codegen_s"],
                  "compile_s": s["first_call_s"], "total_s": total}))
"""


def run(steps: int) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=os.path.join(cache, "c"), GRAPHC_REROLL="0",
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run([sys.executable, "-c", CHILD, str(steps)], env=env, check=True,
                             capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="125,250,500,1000,2000")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()
    rows = []
    for steps in map(int, args.steps.split(",")):
        t0 = time.perf_counter()
        rows.append(run(steps))
        print(f"{steps} steps: {rows[-1]} ({time.perf_counter() - t0:.1f} s)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["# Scale: time against graph size", "",
             "Unrolled `h <- tanh(w * h + x[t % 8])`, gradient w.r.t. `w` (16-vectors), each size",
             "in a fresh process with an empty cache: `python -m bench.scale`. Times in seconds;",
             "*compile* is the first call (Numba compiling the generated module); per-node",
             "columns are microseconds per traced node.", "",
             "| steps | nodes traced | after passes | groups | kernels | trace | optimise "
             "| codegen | compile | trace µs/node | optimise µs/node | compile ms/node |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        n = r["nodes"]
        lines.append(
            f"| {r['steps']} | {n} | {r['nodes_after']} | {r['groups']} | {r['kernels']} | "
            f"{r['trace_s']:.3f} | {r['optimize_s']:.3f} | {r['codegen_s']:.3f} | "
            f"{r['compile_s']:.1f} | {1e6 * r['trace_s'] / n:.1f} | "
            f"{1e6 * r['optimize_s'] / n:.1f} | {1e3 * r['compile_s'] / n:.2f} |")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        nodes = [r["nodes"] for r in rows]
        for key, label in [("trace_s", "trace"), ("optimize_s", "optimise"),
                           ("codegen_s", "codegen")]:
            axes[0].plot(nodes, [r[key] for r in rows], "o-", label=label)
        axes[1].plot(nodes, [r["compile_s"] for r in rows], "o-", color="C3",
                     label="compile (Numba, cold)")
        for ax in axes:
            ax.set_xlabel("traced nodes")
            ax.set_ylabel("seconds")
            ax.set_xlim(left=0)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.legend()
        axes[0].set_title("graphc passes")
        axes[1].set_title("first call")
        fig.tight_layout()
        fig.savefig(out / "scale.png", dpi=110)
        lines += ["", "![time against nodes](scale.png)"]
    except ImportError:
        pass
    (out / "SCALE.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
