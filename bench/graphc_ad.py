"""Candidate: graphc.value_and_grad of the plain-NumPy loss from workloads.py (the RNN's loop
written with graphc.scan; GRAPHC_BENCH_UNROLL=1 traces the Python loop, unrolled, instead)."""
import os

import graphc

from bench import workloads


def make(data):
    loss = data.loss
    if data.name == "rnn" and not os.environ.get("GRAPHC_BENCH_UNROLL"):
        loss = workloads.rnn_scan_loss
    vg = graphc.value_and_grad(loss, argnums=data.argnums)
    args = data.args
    return lambda: vg(*args)


def versions():
    return {"graphc": getattr(graphc, "__version__", "?")}
