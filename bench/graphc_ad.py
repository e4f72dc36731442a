"""Candidate: graphc.value_and_grad of the plain-NumPy loss from workloads.py."""
import graphc


def make(data):
    vg = graphc.value_and_grad(data.loss, argnums=data.argnums)
    args = data.args
    return lambda: vg(*args)


def versions():
    return {"graphc": getattr(graphc, "__version__", "?")}
