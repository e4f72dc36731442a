"""The pass pipeline, top to bottom: Graph -> Graph passes, then fusion into steps."""

from __future__ import annotations

from ..ir import Graph
from .fuse import Step, fuse
from .simplify import simplify

PIPELINE = [simplify]


def optimize(graph: Graph, fusion: bool = True) -> tuple[Graph, list[Step], dict]:
    stats = {"nodes_before": len(graph.nodes())}
    for p in PIPELINE:
        graph = p(graph)
        stats[f"nodes_after_{p.__name__}"] = len(graph.nodes())
    steps = fuse(graph, enabled=fusion)
    stats["nodes_after"] = len(graph.nodes())
    stats["groups"] = sum(1 for s in steps if not hasattr(s, "op"))
    return graph, steps, stats
