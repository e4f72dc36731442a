"""A plain-NumPy interpreter of the IR: the oracle every compiled result is tested against."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .ir import Graph
from .ops import OPS


def evaluate(graph: Graph, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run ``graph`` on flat input arrays, one NumPy call per node."""
    env: dict[int, np.ndarray] = {}
    for node, value in zip(graph.inputs, args):
        env[node.id] = np.asarray(value, dtype=node.dtype).reshape(node.shape)
    with np.errstate(all="ignore"):
        for node in graph.nodes():
            if node.id in env:
                continue
            value = OPS[node.op].impl(*(env[i.id] for i in node.inputs), **node.params)
            # A scan's value is a tuple of arrays (dtype object), read through item nodes.
            env[node.id] = value if node.dtype == object else np.asarray(value, node.dtype)
    return [env[o.id] for o in graph.outputs]
