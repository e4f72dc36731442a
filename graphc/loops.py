"""``graphc.scan``: a loop that is traced once, not unrolled.

``scan(step, init, xs)`` runs ``carry, y = step(carry, x)`` over the leading axis of ``xs``
and returns the last carry and the stacked ``y``s, as ``jax.lax.scan`` does. The step is traced
once into its own graph (the *body*); the outer graph holds one ``scan`` node whose results are
read through ``item`` nodes. Values the step closes over (weights) become extra inputs of the
node, so the body is a closed graph that the backends compile once, whatever the length.

The adjoint of a scan is another scan, run in the opposite direction, whose body is the step's
own adjoint. The per-step forward values that adjoint reads (``tanh(a)``, ``1 - h*h``, ...) are
saved by the forward scan as extra stacked outputs, its residuals, rather than recomputed; the
captured weights' cotangents are summed over the steps in the backward carry. Because the
backward body is ordinary IR again, a scan can be differentiated twice.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .errors import ArgumentError, ShapeError
from .ir import Graph, Node, next_id, rebuild, toposort, user_loc
from .ops import defop
from .trace import Tracer, as_tracer, broadcast_to, const, in_trace

OBJECT = np.dtype(object)  # the dtype of a node whose value is a tuple of arrays


class Body:
    """The traced step of a scan: a closed graph with inputs (carry, x, captured) and outputs
    (new carry, y). Compared by identity; the backends cache what they build from it here."""

    def __init__(self, graph: Graph, n_carry: int, n_x: int, n_y: int):
        self.graph, self.n_carry, self.n_x, self.n_y = graph, n_carry, n_x, n_y
        self._optimized = None

    @property
    def n_captured(self) -> int:
        return len(self.graph.inputs) - self.n_carry - self.n_x

    def optimized(self):
        """``(graph, steps, stats)`` of the body after the pass pipeline, computed once."""
        if self._optimized is None:
            from .passes import optimize

            self._optimized = optimize(self.graph)
        return self._optimized

    def __repr__(self) -> str:
        return f"<body {self.graph.name}: {len(self.graph.nodes())} nodes>"


# ----------------------------------------------------------------------- tracing a body
def _close(outputs: list[Node], inputs: list[Node], start: int
           ) -> tuple[list[Node], list[Node], list[Node]]:
    """Make the nodes traced since id ``start`` a closed graph: every node from before it that
    they read (other than a constant) becomes a new input. Returns the rebuilt outputs, the
    new inputs and the outer nodes they stand for."""
    new: dict[int, Node] = {n.id: n for n in inputs}
    captured: list[Node] = []
    extra: list[Node] = []

    def get(n: Node) -> Node:
        if n.id in new:
            return new[n.id]
        if n.id < start:
            if n.op == "const":
                return n
            extra.append(Node("input", (), {"index": len(inputs) + len(extra), "shape": n.shape,
                                            "dtype": n.dtype}, n.shape, n.dtype, n.loc, False))
            captured.append(n)
            new[n.id] = extra[-1]
            return extra[-1]
        # Rebuild in creation order; inputs are visited first (depth-first, explicit stack).
        stack = [n]
        while stack:
            m = stack[-1]
            if m.id in new:
                stack.pop()
                continue
            pending = [i for i in m.inputs if i.id not in new and i.id >= start]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            ins = tuple(get(i) for i in m.inputs)
            new[m.id] = m if all(a is b for a, b in zip(ins, m.inputs)) else rebuild(m, ins)
        return new[n.id]

    outs = [get(o) for o in outputs]
    return outs, inputs + extra, captured


def _spec_node(k: int, shape: tuple[int, ...], dtype: np.dtype) -> Node:
    return Node("input", (), {"index": k, "shape": tuple(shape), "dtype": np.dtype(dtype)},
                tuple(shape), dtype, None, False)


def trace_body(fn: Callable, carry_specs: list[tuple], x_specs: list[tuple], name: str
               ) -> tuple[Body, list[Node], Any]:
    """Trace ``fn(carry_tracers, x_tracers) -> (new_carry_nodes, y_nodes, y_tree)``.

    Returns the body, the outer nodes it captured and the treedef of ``y``."""
    from .api import _tracing
    from .trace import scope_start

    start = next_id()
    inputs = [_spec_node(k, s, d) for k, (s, d) in enumerate(carry_specs + x_specs)]
    token, scope = _tracing.set(True), scope_start.set(start)
    try:
        carry, ys, y_tree = fn([Tracer(n) for n in inputs[:len(carry_specs)]],
                               [Tracer(n) for n in inputs[len(carry_specs):]])
    finally:
        scope_start.reset(scope)
        _tracing.reset(token)
    outs, all_inputs, captured = _close(carry + ys, inputs, start)
    body = Body(Graph(all_inputs, outs, name), len(carry_specs), len(x_specs), len(ys))
    return body, captured, y_tree


# ------------------------------------------------------------------------- the scan node
def _node(body: Body, operands: list[Node], length: int, reverse: bool, loc=None
          ) -> list[Node]:
    """A scan node over ``operands`` (init, xs, captured) and its results (see ``_item_type``)."""
    scan = Node("scan", tuple(operands), {"body": body, "length": length, "reverse": reverse},
                (), OBJECT, loc or user_loc())
    return [Node("item", (scan,), {"index": k}, *_item_type(scan, k), scan.loc)
            for k in range(body.n_carry + len(body.graph.outputs))]


def _scan_impl(*arrays, body: Body, length: int, reverse: bool) -> tuple:
    """Reference semantics: a Python loop running the body through the reference interpreter."""
    from .reference import evaluate

    nc, nx = body.n_carry, body.n_x
    carry = list(arrays[:nc])
    xs, captured = arrays[nc:nc + nx], list(arrays[nc + nx:])
    outs = body.graph.outputs
    ys = [np.empty((length,) + y.shape, y.dtype) for y in outs[nc:]]  # and residuals
    saved = [np.empty((length,) + c.shape, c.dtype) for c in outs[:nc]]
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        for s, c in zip(saved, carry):
            s[t] = c
        res = evaluate(body.graph, carry + [x[t] for x in xs] + captured)
        carry = res[:nc]
        for y, r in zip(ys, res[nc:]):
            y[t] = r
    return tuple(carry) + tuple(saved) + tuple(ys)


def _scan_shape(*inputs, body, length, reverse):
    return (), OBJECT


def _floating(n: Node) -> bool:
    return n.dtype.kind == "f"


def inline(graph: Graph, args: list[Node]) -> list[Node]:
    """``graph``'s outputs rebuilt over ``args`` in place of its inputs."""
    new = {i.id: a for i, a in zip(graph.inputs, args)}
    for n in graph.nodes():
        if n.id not in new:
            ins = tuple(new[i.id] for i in n.inputs)
            new[n.id] = n if n.op == "const" else rebuild(n, ins)
    return [new[o.id] for o in graph.outputs]


def _scan_vjp(cts: dict[int, Tracer], out: Node, *inputs: Node, body: Body, length: int,
              reverse: bool, active: list[bool]) -> list[Tracer | None]:
    """Cotangents of (init, xs, captured) given those of the scan's results (by index);
    ``active`` says which inputs need one (the carry's flows through every step anyway)."""
    from .adjoint import vjp

    nc, nx = body.n_carry, body.n_x
    ny = len(body.graph.outputs) - nc  # stacked outputs: the ys, then residuals (which an
    # adjoint of this adjoint gives cotangents)
    init, xs, caps = inputs[:nc], inputs[nc:nc + nx], inputs[nc + nx:]
    fc = [k for k in range(nc) if _floating(init[k])]  # carries that have cotangents
    fx = [k for k in range(nx) if _floating(xs[k]) and active[nc + k]]
    fcap = [k for k in range(len(caps)) if _floating(caps[k]) and active[nc + nx + k]]
    fy = [k for k in range(ny) if 2 * nc + k in cts]  # ys whose cotangent is given
    fs = [j for j, k in enumerate(fc) if nc + k in cts]  # saved carries read (2nd order)

    def item(k: int) -> Node:  # CSE merges it with the forward's own item node, if any
        return Node("item", (out,), {"index": k}, *_item_type(out, k), out.loc)

    def zeros(n: Node) -> Tracer:
        return broadcast_to(Tracer(const(0, n.dtype)), n.shape)

    saved = [Tracer(item(nc + k)) for k in range(nc)]
    cbar0 = [cts[k] if k in cts else zeros(init[k]) for k in fc]
    capbar0 = [zeros(caps[k]) for k in fcap]
    bxs = [Tracer(x) for x in xs] + saved + [cts[2 * nc + k] for k in fy] + [
        cts[nc + fc[j]] for j in fs]

    def step(carry: list[Tracer], x: list[Tracer]):
        cbar, capbar = carry[:len(fc)], carry[len(fc):]
        x_t, c_t = x[:nx], x[nx:nx + nc]
        ybar, sbar = x[nx + nc:nx + nc + len(fy)], x[nx + nc + len(fy):]
        outs = inline(body.graph, [t.node for t in c_t + x_t] + list(caps))
        new_c, ys = outs[:nc], outs[nc:]
        wrt = [c_t[k].node for k in fc] + [x_t[k].node for k in fx]
        wrt_caps = [inputs[nc + nx + k] for k in fcap]
        grads = vjp([new_c[k] for k in fc] + [ys[k] for k in fy],
                    [t.node for t in cbar + ybar], wrt + wrt_caps)
        g_c, g_x, g_cap = grads[:len(fc)], grads[len(fc):len(fc) + len(fx)], grads[len(fc) + len(fx):]
        for j, b in zip(fs, sbar):  # the saved carry c_t is c_t itself
            g_c[j] = (Tracer(g_c[j]) + b).node
        acc = [(a + Tracer(g)).node for a, g in zip(capbar, g_cap)]
        return g_c + acc, g_x, None

    carry_specs = [(init[k].shape, init[k].dtype) for k in fc] + [
        (caps[k].shape, caps[k].dtype) for k in fcap]
    x_specs = [(t.shape[1:], t.dtype) for t in bxs]
    bbody, captured, _ = trace_body(step, carry_specs, x_specs, body.graph.name + "_adjoint")
    xs_ops, cap_ops = [t.node for t in bxs], list(captured)
    plan = _residuals(body, bbody, cap_ops, caps)
    if plan is not None:  # the forward saves what the backward would recompute
        bbody, keep_x, keep_cap, res_items = plan
        xs_ops = [x for x, k in zip(xs_ops, keep_x) if k] + [item(r) for r in res_items]
        cap_ops = [c for c, k in zip(cap_ops, keep_cap) if k]
    res = _node(bbody, [t.node for t in cbar0 + capbar0] + xs_ops + cap_ops, length, not reverse)
    parts: list[Tracer | None] = [None] * len(inputs)
    for j, k in enumerate(fc):
        parts[k] = Tracer(res[j])
    for j, k in enumerate(fcap):
        parts[nc + nx + k] = Tracer(res[len(fc) + j])
    for j, k in enumerate(fx):
        parts[nc + k] = Tracer(res[2 * bbody.n_carry + j])
    return parts


_VIEWS = {"transpose", "reshape", "slice", "broadcast_to", "identity"}


def _residuals(fwd: Body, bwd: Body, captured: list[Node], caps: tuple[Node, ...]):
    """Residuals: the per-step values of the forward that the backward body reads.

    ``bwd`` recomputes the step from its starting carry and x; here every value of that
    recomputation which the cotangent side reads (tanh(a), 1 - h*h, ...) becomes an extra
    output of the forward body, stacked over the steps, and an x input of the backward body,
    which then no longer recomputes anything that depends on the step. Values that depend
    only on captured inputs (a transposed weight) stay in the backward body: they are the same
    at every step. Returns ``(new backward body, x inputs kept, captured inputs kept, result
    indices of the residuals on the forward scan)``, or None when there is nothing to save.
    """
    nc, nx = fwd.n_carry, fwd.n_x
    G, F = bwd.graph, fwd.graph
    ncar, nbx = bwd.n_carry, bwd.n_x
    xin = G.inputs[ncar:ncar + nbx]
    capin = G.inputs[ncar + nbx:]
    step_in = {i.id for i in xin[:nx + nc]}  # x_t, then the carry c_t
    cot, var = {i.id for i in G.inputs[:ncar]} | {i.id for i in xin[nx + nc:]}, set(step_in)
    for n in G.nodes():
        if any(i.id in cot for i in n.inputs):
            cot.add(n.id)
        elif any(i.id in var for i in n.inputs):
            var.add(n.id)
    R, seen = [], set()

    def need(i: Node) -> None:  # a view of step values is recomputed, not stacked
        if i.id in var and i.id not in step_in and i.id not in seen:
            seen.add(i.id)
            if i.op in _VIEWS:
                for j in i.inputs:
                    need(j)
            else:
                R.append(i)

    for n in G.nodes():
        if n.id in cot:
            for i in n.inputs:
                need(i)
    for o in G.outputs:
        need(o)
    if not R:
        return None
    # The same values over the forward body's inputs: x_t, c_t and the captured weights.
    new = {x.id: F.inputs[nc + k] for k, x in enumerate(xin[:nx])}
    new.update({c.id: F.inputs[k] for k, c in enumerate(xin[nx:nx + nc])})
    for i, outer in zip(capin, captured):
        j = next((j for j, c in enumerate(caps) if c is outer), None)
        if j is not None:
            new[i.id] = F.inputs[nc + nx + j]
    for n in G.nodes():
        if n.id in new or n.id in cot or n.op == "input":
            continue
        if n.op == "const":
            new[n.id] = n
        elif all(i.id in new for i in n.inputs):
            new[n.id] = rebuild(n, tuple(new[i.id] for i in n.inputs))
    if any(r.id not in new for r in R):
        return None
    base = len(F.outputs)
    F.outputs.extend(new[r.id] for r in R)
    fwd._optimized = None
    # The backward body reads them as x inputs instead.
    res_in = [Node("input", (), {"index": -1, "shape": r.shape, "dtype": r.dtype}, r.shape,
                   r.dtype, None, False) for r in R]
    sub = {r.id: i for r, i in zip(R, res_in)}
    for n in G.nodes():
        if n.id not in sub and any(i.id in sub for i in n.inputs):
            sub[n.id] = rebuild(n, tuple(sub.get(i.id, i) for i in n.inputs))
    outs = [sub.get(o.id, o) for o in G.outputs]
    live = {n.id for n in toposort(outs)}
    keep_x = [x.id in live for x in xin]
    keep_cap = [c.id in live for c in capin]
    inputs = list(G.inputs[:ncar]) + [x for x, k in zip(xin, keep_x) if k] + res_in + [
        c for c, k in zip(capin, keep_cap) if k]
    body = Body(Graph(inputs, outs, G.name), ncar, sum(keep_x) + len(R), bwd.n_y)
    return body, keep_x, keep_cap, [nc + base + j for j in range(len(R))]


def _item_type(scan: Node, k: int) -> tuple[tuple[int, ...], np.dtype]:
    """A scan's results, by index: the final carry (``n_carry`` of them), the carries at the
    start of each step, stacked (``n_carry``; the adjoint reads them), then each other output
    of the body stacked over the steps: the ys, then residuals that adjoints appended."""
    body, length = scan.params["body"], scan.params["length"]
    nc = body.n_carry
    outs = body.graph.outputs
    if k < nc:
        return outs[k].shape, outs[k].dtype
    o = outs[k - nc]  # a saved carry is its carry output's type; outs[nc:] follow them
    return (length,) + o.shape, o.dtype


defop("scan", "control", _scan_impl, shape=_scan_shape, vjp=_scan_vjp)
def _item_vjp(*_, **__):
    raise AssertionError("the adjoint pass collects item cotangents for their scan")


defop("item", "control", lambda t, index: t[index], vjp=_item_vjp,
      shape=lambda t, index: _item_type(t, index))


# --------------------------------------------------------------------------- user API
def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False) -> tuple[Any, Any]:
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``; return the final carry
    and the ``y``s stacked along a new leading axis (as ``jax.lax.scan``).

    ``init`` and ``xs`` may be pytrees (tuples, lists, dicts) of arrays; ``xs`` may be None
    with ``length`` given. Inside a graphc transform the step is traced once and compiled as
    one loop, so compile time does not grow with the length; the carry must keep its shapes
    and dtypes from step to step. Outside a transform it is a plain Python loop.
    """
    from .api import _tracing, flatten, unflatten

    x_leaves, x_tree = flatten(xs)
    c_leaves, c_tree = flatten(init)
    lengths = {int(np.shape(x)[0]) for x in x_leaves if np.ndim(x)}
    if any(not np.ndim(x) for x in x_leaves):
        raise ShapeError("scan: every leaf of xs needs a leading axis to scan over", user_loc())
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        raise ShapeError("scan: the leaves of xs must share one leading length (and match "
                         f"length=): got {sorted(lengths) or 'none; pass length='}", user_loc())
    T = lengths.pop()
    if T < 0:
        raise ShapeError(f"scan: length={length} is negative", user_loc())
    tracing = _tracing.get() or any(isinstance(v, Tracer) for v in c_leaves + x_leaves)
    if not tracing:
        return _eager(f, init, xs, x_leaves, x_tree, T, reverse)
    c_in = [as_tracer(c) for c in c_leaves]
    x_in = [as_tracer(x) for x in x_leaves]
    loc = user_loc()

    def step(carry: list[Tracer], x: list[Tracer]):
        result = in_trace(f)(unflatten(c_tree, carry), unflatten(x_tree, x))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ArgumentError("scan: the step function must return a pair (carry, y)", loc)
        new, y = result
        n_leaves, n_tree = flatten(new)
        if n_tree != c_tree:
            raise ShapeError("scan: the step function changed the structure of the carry "
                             f"({c_tree} -> {n_tree})", loc)
        new_nodes = []
        for k, (a, b) in enumerate(zip(carry, n_leaves)):
            b = as_tracer(b)
            if b.shape != a.shape or b.dtype != a.dtype:
                if b.shape == a.shape and isinstance(n_leaves[k], (int, float)):
                    b = b.astype(a.dtype)
                else:
                    raise ShapeError(
                        f"scan: carry leaf {k} must keep its type: it enters the step as "
                        f"{a.dtype}{list(a.shape)} and leaves as {b.dtype}{list(b.shape)}", loc)
            new_nodes.append(b.node)
        y_leaves, y_tree = flatten(y)
        return new_nodes, [as_tracer(v).node for v in y_leaves], y_tree

    body, captured, y_tree = trace_body(
        step, [(c.shape, c.dtype) for c in c_in], [(x.shape[1:], x.dtype) for x in x_in],
        getattr(f, "__name__", "step"))
    res = _node(body, [t.node for t in c_in + x_in] + captured, T, reverse)
    nc = len(c_in)
    carry = unflatten(c_tree, [Tracer(n) for n in res[:nc]])
    ys = unflatten(y_tree, [Tracer(n) for n in res[2 * nc:2 * nc + body.n_y]])
    return carry, ys


def _eager(f, init, xs, x_leaves, x_tree, T, reverse):
    from .api import flatten, unflatten

    carry, outs = init, [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        carry, outs[t] = f(carry, unflatten(x_tree, [x[t] for x in x_leaves]))
    leaves = [flatten(o)[0] for o in outs]
    y_tree = flatten(outs[0])[1] if T else ("n",)
    stacked = [np.stack([ls[k] for ls in leaves]) for k in range(len(leaves[0]))] if T else []
    return carry, unflatten(y_tree, stacked)


__all__ = ["scan"]
