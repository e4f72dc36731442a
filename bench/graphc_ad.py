"""Candidate: graphc.value_and_grad of the plain-NumPy loss from workloads.py, as the other
candidates get it (the RNN's Python loop is unrolled while tracing). GRAPHC_BENCH_SCAN=1 runs
the RNN written with graphc.scan instead: it compiles in a fifth of the time, and its backward
recomputes each step's forward from the saved carry (see bench/README.md)."""
import os

import graphc

from bench import workloads


def make(data):
    loss = data.loss
    if data.name == "rnn" and os.environ.get("GRAPHC_BENCH_SCAN"):
        loss = workloads.rnn_scan_loss
    vg = graphc.value_and_grad(loss, argnums=data.argnums)
    args = data.args
    return lambda: vg(*args)


def versions():
    return {"graphc": getattr(graphc, "__version__", "?")}
