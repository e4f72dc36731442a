"""Fusion: partition the graph into the steps a backend runs in order.

A step is either a ``Group`` (elementwise nodes over one iteration domain, optionally closed by
one reduction over that domain: one loop nest on the CPU, one kernel on the GPU) or a single
node the backend emits on its own (matmul, layout ops, sources). Inside a group only the values
needed outside it are written to memory; the rest live in registers.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

from ..errors import GraphcError
from ..ir import Graph, Node
from ..ops import OPS


@dataclass(eq=False)
class Group:
    domain: tuple[int, ...]
    members: list[Node] = field(default_factory=list)  # in topological order
    reduce: Node | None = None  # no member depends on it: it may sit anywhere in the loop
    inputs: list[Node] = field(default_factory=list)  # nodes read from outside the group
    outputs: list[Node] = field(default_factory=list)  # nodes written to memory

    @property
    def nodes(self) -> list[Node]:
        return self.members + ([self.reduce] if self.reduce is not None else [])


Step = Group | Node

# The most members one group may hold. Numba's type inference and LLVM take superlinear time
# in the size of one loop body (a 4,500-node group of an unrolled loop took 52 s to compile,
# a 2,250-node one 8 s), so a long elementwise chain is cut into loops of bounded size.
MAX_GROUP = 128


def fuse(graph: Graph, enabled: bool = True) -> list[Step]:
    """Greedy producer-consumer fusion. With ``enabled=False`` every loop node is its own group."""
    nodes = graph.nodes()
    group_of: dict[int, Group] = {}
    unit_of: dict[int, int] = {}  # node id -> its step's number (a group, or the node alone)
    reads: list[set[int]] = []  # step number -> the steps it reads from
    groups: list[Group] = []
    by_domain: dict[tuple[int, ...], list[Group]] = {}
    shared: dict[int, set[int]] = {}  # id(group) -> the arrays (not scalars) its members read

    # A topological order of the steps, kept as nodes join groups (Pearce and Kelly's dynamic
    # order): a step reads only steps placed before it, so the cycle check below need not
    # look past the group's place. Without it, long chains of groups took quadratic time.
    place: list[int] = []  # step number -> its position
    readers: list[set[int]] = []  # step number -> the steps that read it

    def reaches(u: int, target: int) -> bool:
        """Whether step ``u`` reads, transitively, from step ``target``."""
        low = place[target]
        stack, seen = [u], set()
        while stack:
            x = stack.pop()
            if x == target:
                return True
            if x not in seen and place[x] > low:
                seen.add(x)
                stack.extend(reads[x])
        return False

    def within(start: int, edges: list[set[int]], keep: Callable[[int], bool]) -> list[int]:
        found, stack = {start}, [start]
        while stack:
            for y in edges[stack.pop()]:
                if y not in found and keep(y):
                    found.add(y)
                    stack.append(y)
        return sorted(found, key=place.__getitem__)

    def add_read(u: int, v: int) -> None:
        """Step ``u`` now reads step ``v`` (never closing a cycle): if ``v`` stood after ``u``,
        move ``v`` and what it reads before ``u`` and what reads ``u``."""
        reads[u].add(v)
        readers[v].add(u)
        low, high = place[u], place[v]
        if high < low:
            return
        after = within(u, readers, lambda x: place[x] < high)
        before = within(v, reads, lambda x: place[x] > low)
        for x, p in zip(before + after, sorted(place[x] for x in before + after)):
            place[x] = p

    for n in nodes:
        kind = OPS[n.op].kind
        target: Group | None = None
        if enabled and kind in ("elementwise", "reduce"):
            domain = n.shape if kind == "elementwise" else n.inputs[0].shape
            # Prefer the group of an input (producer-consumer fusion), then the latest groups
            # over the same domain that read an array n reads too (siblings share one loop
            # and its loads; unrelated ones would only chain steps that could run side by
            # side). Never read the group's own reduction, add a second one, or close a
            # cycle (another input whose step reads from the group).
            candidates = [group_of[i.id] for i in n.inputs if i.id in group_of]
            arrays = {i.id for i in n.inputs if i.size > 1}
            candidates += [g for g in by_domain.get(domain, [])[-4:][::-1]
                           if arrays & shared[id(g)]]
            for g in candidates:
                u = unit_of[g.nodes[0].id]
                if (g.domain == domain and g.reduce not in n.inputs
                        and len(g.members) < MAX_GROUP
                        and (kind == "elementwise" or g.reduce is None)
                        and not any(reaches(unit_of[j.id], u) for j in n.inputs
                                    if unit_of[j.id] != u)):
                    target = g
                    break
        if target is not None:
            u = unit_of[n.id] = unit_of[target.nodes[0].id]
        else:
            u = unit_of[n.id] = len(reads)
            reads.append(set())
            readers.append(set())
            place.append(len(place))
            if kind in ("elementwise", "reduce"):
                target = Group(n.shape if kind == "elementwise" else n.inputs[0].shape)
                groups.append(target)
                by_domain.setdefault(target.domain, []).append(target)
        for i in n.inputs:
            v = unit_of[i.id]
            if v != u and v not in reads[u]:
                add_read(u, v)
        if target is not None:
            group_of[n.id] = target
            shared.setdefault(id(target), set()).update(i.id for i in n.inputs if i.size > 1)
            if kind == "reduce":
                target.reduce = n
            else:
                target.members.append(n)

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
    if len(order) != len(steps):
        raise GraphcError("internal error: fusion produced a cycle; please report this graph")
    return order
