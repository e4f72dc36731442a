"""Fusion: partition the graph into the steps a backend runs in order.

A step is either a ``Group`` (elementwise nodes over one iteration domain, optionally closed by
one reduction over that domain: one loop nest on the CPU, one kernel on the GPU) or a single
node the backend emits on its own (matmul, layout ops, sources). Inside a group only the values
needed outside it are written to memory; the rest live in registers.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from ..ir import Graph, Node
from ..ops import OPS


@dataclass(eq=False)
class Group:
    domain: tuple[int, ...]
    members: list[Node] = field(default_factory=list)
    reduce: Node | None = None
    inputs: list[Node] = field(default_factory=list)  # nodes read from outside the group
    outputs: list[Node] = field(default_factory=list)  # nodes written to memory

    @property
    def nodes(self) -> list[Node]:
        return self.members + ([self.reduce] if self.reduce is not None else [])


Step = Group | Node


def fuse(graph: Graph, enabled: bool = True) -> list[Step]:
    """Greedy producer-consumer fusion. With ``enabled=False`` every loop node is its own group."""
    nodes = graph.nodes()
    group_of: dict[int, Group] = {}
    unit_of: dict[int, int] = {}  # node id -> id of its step (group or single node)
    ancestors: dict[int, int] = {}  # node id -> bitmask of steps its value depends on
    groups: list[Group] = []
    units = 0

    def bit(step_id: int) -> int:
        return 1 << step_id

    for n in nodes:
        kind = OPS[n.op].kind
        target: Group | None = None
        if enabled and kind in ("elementwise", "reduce"):
            domain = n.shape if kind == "elementwise" else n.inputs[0].shape
            for i in n.inputs:
                g = group_of.get(i.id)
                if (g is not None and g.reduce is None and g.domain == domain
                        and not any(ancestors[j.id] & bit(unit_of[i.id])
                                    for j in n.inputs if group_of.get(j.id) is not g)):
                    target = g
                    break
        if target is None and kind in ("elementwise", "reduce"):
            target = Group(n.shape if kind == "elementwise" else n.inputs[0].shape)
            groups.append(target)
            unit_of[n.id] = units
            units += 1
        elif target is None:
            unit_of[n.id] = units
            units += 1
        else:
            unit_of[n.id] = unit_of[target.nodes[0].id]
        if target is not None:
            group_of[n.id] = target
            if kind == "reduce":
                target.reduce = n
            else:
                target.members.append(n)
        mask = bit(unit_of[n.id])
        for i in n.inputs:
            mask |= ancestors[i.id]
        ancestors[n.id] = mask

    outputs = {o.id for o in graph.outputs}
    for g in groups:
        inside = {m.id for m in g.nodes}
        seen: set[int] = set()
        for m in g.nodes:
            for i in m.inputs:
                if i.id not in inside and i.id not in seen:
                    seen.add(i.id)
                    g.inputs.append(i)
    users = graph.users()
    for g in groups:
        inside = {m.id for m in g.nodes}
        g.outputs = [m for m in g.members
                     if m.id in outputs or any(u.id not in inside for u in users[m.id])]
        if g.reduce is not None:
            g.outputs.append(g.reduce)
    return _order(nodes, group_of)


def _order(nodes: list[Node], group_of: dict[int, Group]) -> list[Step]:
    """Topological order of the steps (Kahn), earliest-created first."""
    step_of = {n.id: group_of.get(n.id, n) for n in nodes}
    steps: dict[int, Step] = {}
    for n in nodes:
        steps.setdefault(id(step_of[n.id]), step_of[n.id])
    deps: dict[int, set[int]] = {k: set() for k in steps}
    for n in nodes:
        s = id(step_of[n.id])
        for i in n.inputs:
            t = id(step_of[i.id])
            if t != s:
                deps[s].add(t)
    rank = {k: r for r, k in enumerate(steps)}
    users: dict[int, list[int]] = {k: [] for k in steps}
    for s, ds in deps.items():
        for d in ds:
            users[d].append(s)
    ready = [(rank[k], k) for k, ds in deps.items() if not ds]
    heapq.heapify(ready)
    order: list[Step] = []
    while ready:
        _, k = heapq.heappop(ready)
        order.append(steps[k])
        for u in users[k]:
            deps[u].discard(k)
            if not deps[u]:
                heapq.heappush(ready, (rank[u], u))
    assert len(order) == len(steps), "fusion produced a cycle"
    return order
