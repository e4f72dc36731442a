"""The reverse-mode pass: builds the adjoint of a graph as more nodes of the same graph.

Exactly the lecture's rule, done symbolically: walk the nodes from the outputs back to the
inputs; the cotangent of a node is the sum, over its users, of each user's contribution,
which the user's VJP rule (in ``ops.py``) builds out of ordinary graph ops. Broadcasting is
undone here and only here: every contribution is summed back to its input's shape.
"""

from __future__ import annotations

import numpy as np

from .ir import Node, _adjoint_of, toposort
from .ops import OPS
from .trace import Tracer, apply, as_tracer, broadcast_to, const


def differentiable(node: Node) -> bool:
    return node.dtype.kind == "f" or node.op == "scan"  # a scan's value is a tuple


def unbroadcast(g: Tracer, shape: tuple[int, ...], how: str = "sum") -> Tracer:
    """Sum (or ``how`` else) ``g`` over the axes that broadcasting added or stretched to
    reach ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + d for d, s in enumerate(shape) if s == 1 and g.shape[lead + d] != 1)
    if axes:
        g = getattr(g, how)(axis=axes, keepdims=False)
    return g.reshape(shape)


def zeros(node: Node) -> Node:
    return broadcast_to(Tracer(const(0, node.dtype)), node.shape).node


def vjp(outputs: list[Node], cotangents: list[Node], wrt: list[Node]) -> list[Node]:
    """Cotangents of ``wrt`` given ``cotangents`` of ``outputs``, as new nodes."""
    wrt_ids = {w.id for w in wrt}
    order = toposort(outputs)
    # Forward sweep: the nodes whose value depends differentiably on some wrt node.
    active = set(wrt_ids)
    for n in order:
        if n.id not in active and differentiable(n) and OPS[n.op].vjp is not None and any(
                i.id in active for i in n.inputs):
            active.add(n.id)

    ct: dict[int, Tracer] = {}
    # Where a cotangent is known to be an exact zero: node id -> a mask, False there. Below a
    # np.where, a cotangent passes through elementwise VJPs unmasked, and may hold 0 * inf =
    # NaN where the where left that branch out (log's g / x at x = 0): the mask takes it out
    # (a where, not a product) wherever the cotangent leaves elementwise ops, so that a branch
    # np.where does not use contributes an exact 0, as the derivative of what is computed.
    masks: dict[int, Tracer] = {}
    # A multi-result node (a scan) collects its results' cotangents by index from its items.
    parts_of: dict[int, dict[int, Tracer]] = {}

    def accumulate(node: Node, g: Tracer, mask: Tracer | None = None) -> None:
        if g.dtype != node.dtype:
            g = g.astype(node.dtype)
        if node.id in ct:  # the sum is zero where both parts are
            both = masks.get(node.id) is not None and mask is not None
            union = masks[node.id] | mask if both else None
            ct[node.id] = cotangent(node) + _masked(g, mask)
            if union is not None:
                masks[node.id] = union
        else:
            ct[node.id] = g
            if mask is not None:
                masks[node.id] = mask

    def cotangent(node: Node) -> Tracer:
        """node's cotangent with its mask applied (and then forgotten)."""
        return _masked(ct[node.id], masks.pop(node.id, None))

    for o, c in zip(outputs, cotangents):
        if o.id in active:
            accumulate(o, Tracer(c))
    for n in reversed(order):
        if n.op == "item" and n.id in ct and n.inputs[0].id in active:
            parts_of.setdefault(n.inputs[0].id, {})[n.params["index"]] = cotangent(n)
            continue
        if n.op == "scan" and n.id in parts_of:
            token = _adjoint_of.set(n)
            try:
                parts = OPS[n.op].vjp(parts_of[n.id], n, *n.inputs, **n.params,
                                      active=[i.id in active for i in n.inputs])
                for inp, part in zip(n.inputs, parts):
                    if part is not None and inp.id in active:
                        accumulate(inp, part)
            finally:
                _adjoint_of.reset(token)
            continue
        if n.id not in ct or n.id in wrt_ids:
            continue
        token = _adjoint_of.set(n)
        try:
            elementwise = OPS[n.op].kind == "elementwise"
            mask = masks.get(n.id) if elementwise else None
            g = ct[n.id] if elementwise else cotangent(n)
            if n.op == "where":  # g itself to both branches, each masked by where it is used
                parts = [None, g, g]
            else:
                parts = OPS[n.op].vjp(g, Tracer(n), *(Tracer(i) for i in n.inputs), **n.params)
            for k, (inp, part) in enumerate(zip(n.inputs, parts)):
                if part is None or inp.id not in active:
                    continue
                part, m = as_tracer(part), mask
                if n.op == "where":
                    c = Tracer(n.inputs[0])
                    c = c if c.dtype == np.bool_ else c != 0
                    c = c if k == 1 else ~c
                    m = c if m is None else m & c
                if m is not None and part.shape != inp.shape:  # summed: clean it first
                    part = _masked(part, m)
                    m = unbroadcast(broadcast_to(m, part.shape), inp.shape, "any")
                accumulate(inp, unbroadcast(part, inp.shape), m)
        finally:
            _adjoint_of.reset(token)
    out = []
    for w in wrt:
        token = _adjoint_of.set(w)
        try:
            out.append(cotangent(w).node if w.id in ct else zeros(w))
        finally:
            _adjoint_of.reset(token)
    return out


def _masked(g: Tracer, mask: Tracer | None) -> Tracer:
    """g where mask holds, an exact 0 elsewhere."""
    if mask is None:
        return g
    return apply("where", mask, g, Tracer(const(0, g.dtype)))


def seed(out: Node) -> Node:
    """The cotangent 1 of a scalar output: the first backward node, at the output's line."""
    token = _adjoint_of.set(out)
    try:
        return const(1, out.dtype)
    finally:
        _adjoint_of.reset(token)


def fresh(node: Node) -> Node:
    """A new node equal to ``node``: differentiating w.r.t. it leaves other uses untouched."""
    return apply("identity", Tracer(node)).node
