"""Simplification of the joint graph: algebraic identities that are exact in floating point,
constant folding, common-subexpression elimination; dead code falls away because a graph only
holds what its outputs reach.

The adjoint of a typical loss is full of ``g * 1``, ``x ** (2 - 1)``, reshapes of reshapes and
repeated subexpressions; this pass removes them before fusion. It runs after all tracing and
differentiation, so identity and stop_gradient (which only matter to differentiation) go too.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import GraphcError
from ..ir import Graph, Node, rebuild
from ..ops import OPS

# A folded constant may not be larger than this unless it is no larger than its inputs
# (a broadcast of zeros stays a broadcast, not a big array argument).
_FOLD_LIMIT = 1


def scalar_value(n: Node) -> float | None:
    """The value of a node that is one constant repeated (a constant or its broadcast)."""
    if n.op == "broadcast_to":
        return scalar_value(n.inputs[0])
    if n.op == "const":
        v = n.params["value"]
        if v.size == 1 or (v.size and np.all(v == v.flat[0])):
            return v.flat[0].item()
    return None


def _is(n: Node, value: float) -> bool:
    v = scalar_value(n)
    return v is not None and v == value and not (isinstance(v, bool) and value not in (0, 1))


def _as(x: Node, like: Node) -> Node | None:
    """``x`` standing in for ``like``: same shape and dtype, broadcasting ``x`` if needed."""
    if x.dtype != like.dtype:
        return None
    if x.shape == like.shape:
        return x
    return rebuild(like, (x,), op="broadcast_to", params={"shape": like.shape})


def _mul(n: Node) -> Node | None:
    x, y = n.inputs
    if _is(y, 1):
        return _as(x, n)
    if _is(x, 1):
        return _as(y, n)
    if _is(y, -1) and x.shape == n.shape and x.dtype == n.dtype:
        return rebuild(n, (x,), op="negative", params={})
    return None


def _zero(n: Node, result: Node) -> bool:
    """``n`` is an additive identity for ``result``: any zero for integers, but only -0.0 for
    floats (x + 0.0 turns -0.0 into +0.0; x + -0.0 is exactly x)."""
    if result.dtype.kind != "f":
        return _is(n, 0)
    v = scalar_value(n)
    return v is not None and v == 0 and np.signbit(v)


def _add(n: Node) -> Node | None:
    x, y = n.inputs
    if _zero(y, n):
        return _as(x, n)
    if _zero(x, n):
        return _as(y, n)
    return None


def _sub(n: Node) -> Node | None:
    x, y = n.inputs
    # x - (+0.0) is exactly x (x - (-0.0) is x + 0.0, which turns -0.0 into +0.0).
    if _is(y, 0) and (n.dtype.kind != "f" or not np.signbit(scalar_value(y))):
        return _as(x, n)
    if _zero(x, n) and y.shape == n.shape and y.dtype == n.dtype:
        return rebuild(n, (y,), op="negative", params={})
    return None


def _div(n: Node) -> Node | None:
    return _as(n.inputs[0], n) if _is(n.inputs[1], 1) else None


def _pow(n: Node) -> Node | None:
    x, p = n.inputs
    if _is(p, 1):
        return _as(x, n)
    if _is(p, 2) and x.shape == n.shape and x.dtype == n.dtype:
        return rebuild(n, (x, x), op="multiply", params={})  # x*x rounds like pow(x, 2)
    return None


def _neg(n: Node) -> Node | None:
    x = n.inputs[0]
    return x.inputs[0] if x.op == "negative" else None


def _passthrough(n: Node) -> Node | None:
    return n.inputs[0] if n.inputs[0].shape == n.shape and n.inputs[0].dtype == n.dtype else None


def _transpose(n: Node) -> Node | None:
    x, axes = n.inputs[0], n.params["axes"]
    if axes == tuple(range(len(axes))):
        return x
    if x.op == "transpose":
        inner = x.params["axes"]
        return rebuild(n, x.inputs, params={"axes": tuple(inner[a] for a in axes)})
    return None


def _reshape(n: Node) -> Node | None:
    x = n.inputs[0]
    if x.shape == n.shape:
        return x
    if x.op == "reshape":
        return rebuild(n, x.inputs)
    if x.op == "broadcast_to" and x.inputs[0].size == 1 and x.inputs[0].ndim <= n.ndim:
        # one value repeated, in another shape (a mean's gradient, made a column): a
        # broadcast still, which the kernels reading it compute instead of loading
        return rebuild(n, x.inputs, op="broadcast_to", params={"shape": n.shape})
    return None


def _broadcast(n: Node) -> Node | None:
    x = n.inputs[0]
    if x.op == "broadcast_to":  # (broadcasting to x's shape, then to n's, is one broadcast)
        return rebuild(n, x.inputs)
    return _passthrough(n)


def _reduce(n: Node) -> Node | None:
    x = n.inputs[0]
    if all(x.shape[a] == 1 for a in n.params["axes"]):  # nothing to reduce: a reshape
        return x if x.shape == n.shape else rebuild(n, (x,), op="reshape",
                                                    params={"shape": n.shape})
    return None


def _where(n: Node) -> Node | None:
    c, x, y = n.inputs
    if x is y:
        return _as(x, n)
    v = scalar_value(c)
    if v is not None:
        return _as(x if v else y, n)
    return None


RULES: dict[str, Callable[[Node], Node | None]] = {
    "multiply": _mul, "add": _add, "subtract": _sub, "divide": _div, "power": _pow,
    "negative": _neg, "identity": _passthrough, "stop_gradient": _passthrough,
    "cast": _passthrough, "broadcast_to": _broadcast, "transpose": _transpose,
    "reshape": _reshape, "sum": _reduce, "prod": _reduce, "max": _reduce, "min": _reduce,
    "where": _where,
    "custom_vjp": lambda n: n.inputs[0],  # its other inputs only fed the backward rule
}


def _fold(n: Node) -> Node | None:
    if OPS[n.op].kind in ("source", "control") or not all(i.op == "const" for i in n.inputs):
        return None
    if n.size > max(_FOLD_LIMIT, *(i.size for i in n.inputs)):
        return None
    try:
        with np.errstate(all="ignore"):
            value = OPS[n.op].impl(*(i.params["value"] for i in n.inputs), **n.params)
    except GraphcError as e:  # e.g. a folded index out of range: name the user's line
        raise type(e)(e.args[0], n.loc) from None
    value = np.array(np.asarray(value, n.dtype).reshape(n.shape), order="C")
    return rebuild(n, (), op="const", params={"value": value})


def simplify(graph: Graph) -> Graph:
    """One forward sweep: rewrite each node over its already-simplified inputs, then intern."""
    new: dict[int, Node] = {}
    table: dict[tuple, Node] = {}

    def intern(n: Node) -> Node:
        # CSE: a node equal in op, inputs and params to one seen before is that node.
        return table.setdefault(n.key(), n)

    for n in graph.nodes():
        if n.op == "input":
            new[n.id] = n
            continue
        ins = tuple(new[i.id] for i in n.inputs)
        m = n if all(a is b for a, b in zip(ins, n.inputs)) else rebuild(n, ins)
        for _ in range(8):  # a rewrite may enable another on the same node
            rule = RULES.get(m.op)
            r = (rule(m) if rule is not None else None) or _fold(m)
            if r is None or r is m:
                break
            m = r
        new[n.id] = intern(m)
    return Graph(graph.inputs, [new[o.id] for o in graph.outputs], graph.name)
