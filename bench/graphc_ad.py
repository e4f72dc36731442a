"""Candidate: graphc.value_and_grad of the plain-NumPy loss from workloads.py, as the other
candidates get it (the RNN's Python loop, which tracing unrolls and graphc rolls back into a
scan: passes/reroll.py). GRAPHC_BENCH_SCAN=1 runs the RNN written with graphc.scan instead,
GRAPHC_REROLL=0 keeps the loop unrolled (see bench/README.md)."""
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
