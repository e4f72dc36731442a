"""Transforms built on the adjoint pass: Hessian-vector products, Jacobians, forward-mode
``jvp`` and user-supplied gradients (``custom_vjp``).

Each is ordinary IR built by tracing, so each compiles like a first derivative and composes
with the others (a ``jvp`` of a ``grad`` is a Hessian-vector product too).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any, Callable, Sequence

import numpy as np

from . import adjoint
from .api import Function, _tracing, flatten, grad, jit, unflatten
from .errors import ArgumentError, ShapeError
from .ir import user_loc
from .loops import scan
from .ops import defop
from .trace import Tracer, apply, as_tracer, in_trace


def _named(fn: Callable, like: Callable) -> Callable:
    """``fn`` under ``like``'s name (not functools.wraps: ``fn`` takes other arguments)."""
    fn.__name__ = fn.__qualname__ = getattr(like, "__name__", "f")
    return fn


def _nums(argnums: int | Sequence[int]) -> tuple[int, ...]:
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def _vdot(a: Any, b: Any) -> Any:
    """Sum over the leaves of two pytrees of the same structure of sum(a * b)."""
    la, ta = flatten(a)
    lb, tb = flatten(b)
    if ta != tb:
        raise ShapeError(f"the vector's structure {tb} differs from the argument's {ta}",
                         user_loc())
    total = 0
    for x, y in zip(la, lb):
        if np.shape(x) != np.shape(y):
            raise ShapeError(f"the vector has shape {np.shape(y)} where the argument has "
                             f"{np.shape(x)}", user_loc())
        total = total + (x * y).sum()
    return total


def hvp(f: Callable, argnums: int | Sequence[int] = 0, target: str = "cpu") -> Function:
    """The Hessian of scalar ``f`` w.r.t. ``args[argnums]`` times a vector, without forming the
    Hessian: ``hvp(f)(*args, v)`` returns H·v in the structure of ``v`` (a tuple per argnum
    when ``argnums`` is a tuple, with ``v`` a tuple too). Reverse-over-reverse: the gradient of
    <grad f, v>, compiled as one graph."""
    inner = grad(f, argnums=argnums)

    def directional(*args):
        if len(args) < 2:
            raise ArgumentError("hvp(f) is called as hvp(f)(*args, v): the vector comes last",
                                user_loc())
        *args, v = args
        return _vdot(inner(*args), v)

    return grad(_named(directional, f), argnums=argnums, target=target)


hessian_vector_product = hvp


def jacobian(f: Callable, argnums: int | Sequence[int] = 0, target: str = "cpu") -> Function:
    """The Jacobian of ``f`` (an array-valued function) w.r.t. ``args[argnums]``: an array of
    shape ``out.shape + arg.shape`` (a tuple of them for a tuple ``argnums``). One reverse
    pass per output element, run as a loop in one compiled graph."""
    nums = _nums(argnums)

    def jac(*args):
        args = list(args)
        wrt = []
        for a in nums:
            leaves, _ = flatten(args[a])
            if len(leaves) != 1:
                raise ArgumentError("jacobian: differentiate w.r.t. array arguments, not "
                                    "pytrees", user_loc())
            x = as_tracer(leaves[0])
            if x.dtype.kind != "f":
                raise ArgumentError(f"jacobian: argument {a} has dtype {x.dtype}; integer and "
                                    "boolean arrays have no derivative", user_loc())
            wrt.append(adjoint.fresh(x.node))
            args[a] = Tracer(wrt[-1])
        y = as_tracer(in_trace(f)(*args))
        if y.dtype.kind != "f":
            raise ArgumentError(f"jacobian: {f.__name__} returned dtype {y.dtype}, not a float "
                                "array", user_loc())
        if y.size:  # one reverse pass per output element, as a loop over the elements
            hot = np.arange(y.size)

            def row(carry, i):
                seed = (i == hot).astype(y.dtype).reshape(y.shape)
                return carry, tuple(Tracer(c) for c in adjoint.vjp([y.node], [seed.node], wrt))

            _, rows = scan(row, (), hot)
            out = [r.reshape(y.shape + w.shape) for r, w in zip(rows, wrt)]
        else:
            out = [np.zeros(y.shape + w.shape, y.dtype) for w in wrt]
        return out[0] if isinstance(argnums, int) else tuple(out)

    return jit(_named(jac, f), target=target)


_JVPS: OrderedDict[tuple[Callable, str], Function] = OrderedDict()  # the latest 64 (f, target)


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any], target: str = "cpu"
        ) -> tuple[Any, Any]:
    """Forward mode: ``(f(*primals), J·tangents)``, as ``jax.jvp``. Built by transposing the
    reverse pass (the VJP u -> Jᵀu is linear in u, and its own VJP applied to the tangents is
    J·t), then compiled; the compiled function is kept per ``f`` and target."""
    if not (isinstance(primals, (tuple, list)) and isinstance(tangents, (tuple, list))):
        raise ArgumentError("jvp(f, primals, tangents): primals and tangents are tuples of "
                            "f's arguments, e.g. jvp(f, (x,), (t,))", user_loc())
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ArgumentError(f"jvp: {len(primals)} primals but {len(tangents)} tangents",
                            user_loc())
    if _tracing.get():
        return _jvp_traced(f, primals, tangents)
    key = (f, target)
    if key not in _JVPS:
        _JVPS[key] = jit(_named(lambda p, t: _jvp_traced(f, p, t), f), target=target)
        if len(_JVPS) > 64:
            _JVPS.popitem(last=False)
    _JVPS.move_to_end(key)
    return _JVPS[key](primals, tangents)


def _jvp_traced(f: Callable, primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    p_leaves, p_tree = flatten(primals)
    t_leaves, t_tree = flatten(tangents)
    if p_tree != t_tree:
        raise ShapeError(f"jvp: tangents {t_tree} do not match primals {p_tree}", user_loc())
    xs = [as_tracer(x) for x in p_leaves]
    wrt = [adjoint.fresh(x.node) for x in xs]
    args = unflatten(p_tree, [Tracer(w) for w in wrt])
    out = in_trace(f)(*args)
    o_leaves, o_tree = flatten(out)
    ys = [as_tracer(y) for y in o_leaves]
    # u: a stand-in cotangent for each output; the result does not depend on its value.
    us = [adjoint.fresh(adjoint.zeros(y.node)) for y in ys]
    cts = adjoint.vjp([y.node for y in ys], us, wrt)
    s = 0
    for x, c, t in zip(xs, cts, t_leaves):
        if x.dtype.kind == "f":
            t = as_tracer(t)
            if t.shape != x.shape:
                raise ShapeError(f"jvp: a tangent has shape {t.shape} where its primal has "
                                 f"{x.shape}", user_loc())
            s = s + (Tracer(c) * t.astype(x.dtype)).sum()
    s = as_tracer(s)
    if s.node.op == "const":  # nothing depends on the inputs
        dots = [Tracer(adjoint.zeros(y.node)) for y in ys]
    else:
        dots = [Tracer(d) for d in adjoint.vjp([s.node], [adjoint.seed(s.node)], us)]
    return unflatten(o_tree, ys), unflatten(o_tree, dots)


# ------------------------------------------------------------------------ custom_vjp
def _custom_vjp_rule(g, out, value, *inputs, bwd, tree, n_primal):
    res = unflatten(tree, list(inputs[n_primal:]))
    parts = in_trace(bwd)(res, g)
    if not isinstance(parts, tuple) or len(parts) != n_primal:
        raise ArgumentError(f"custom_vjp: the backward function must return a tuple of "
                            f"{n_primal} cotangent(s), one per primal argument", user_loc())
    for k, (p, x) in enumerate(zip(parts, inputs[:n_primal])):
        if p is not None and np.shape(p) != x.shape:
            raise ShapeError(f"custom_vjp: the backward function's cotangent {k} has shape "
                             f"{np.shape(p)}, its primal argument {x.shape}", user_loc())
    return (None,) + tuple(parts) + (None,) * (len(inputs) - n_primal)


# The value is its first input; the others (primal arguments, residuals) are only there for
# the backward rule. The simplifier drops the node once differentiation is done.
defop("custom_vjp", "control", lambda value, *rest, **params: value, vjp=_custom_vjp_rule,
      shape=lambda value, *rest, **params: (value.shape, value.dtype))


# The custom_vjp functions whose fwd is running: there, calling the function means its primal.
_IN_FWD: ContextVar[tuple[int, ...]] = ContextVar("graphc_custom_fwd", default=())


class custom_vjp:
    """A function with a hand-written gradient, as ``jax.custom_vjp``::

        @graphc.custom_vjp
        def f(x): return np.log1p(np.exp(x))
        def f_fwd(x): return f(x), (x,)          # value and residuals
        def f_bwd(res, g): return (g * graphc.numpy.sigmoid(res[0]),)
        f.defvjp(f_fwd, f_bwd)

    The primal arguments must be arrays (or scalars); ``f`` returns one array. ``bwd`` gets
    the residuals and the output's cotangent and returns one cotangent per argument (None for
    an argument without one). The rule is written with NumPy, so it is differentiable again.
    """

    def __init__(self, fn: Callable):
        self.fn, self.fwd, self.bwd = fn, None, None
        functools.update_wrapper(self, fn)

    def defvjp(self, fwd: Callable, bwd: Callable) -> "custom_vjp":
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args: Any) -> Any:
        if id(self) in _IN_FWD.get():  # fwd computing the value with f itself
            return in_trace(self.fn)(*args)
        if not (_tracing.get() or any(isinstance(a, Tracer) for a in flatten(args)[0])):
            return self.fn(*args)  # a plain call
        if self.fwd is None:
            raise ArgumentError(f"custom_vjp {self.fn.__name__}: call .defvjp(fwd, bwd) first",
                                user_loc())
        xs = [as_tracer(a) for a in args]
        token = _IN_FWD.set(_IN_FWD.get() + (id(self),))
        try:
            out, res = in_trace(self.fwd)(*xs)
        finally:
            _IN_FWD.reset(token)
        out = as_tracer(out)
        res_leaves, tree = flatten(res)
        res_nodes = [as_tracer(r) for r in res_leaves]
        value = apply("stop_gradient", out)
        return apply("custom_vjp", value, *xs, *res_nodes, bwd=self.bwd, tree=tree,
                     n_primal=len(xs))


__all__ = ["hvp", "hessian_vector_product", "jacobian", "jvp", "custom_vjp"]
