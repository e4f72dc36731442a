"""Tracing: a ``Tracer`` stands in for an array while the user's function runs, and every
operator, ufunc, NumPy function, method and index applied to it records one IR node.

Python scalars mixed with traced arrays are *weak*, as in NumPy 2: ``2 * x`` keeps x's dtype.
Closed-over NumPy arrays become constants. Python control flow runs at trace time, so loops
unroll; branching on a traced value is an error that says to use ``np.where``.
"""

from __future__ import annotations

import builtins
import enum
import functools
import math
import numbers
import operator
import sys
import types
import weakref
from contextvars import ContextVar
from typing import Any, Callable

import numpy as np

from .errors import (GraphcError, OutOfBoundsError, ShapeError, TracerBoolError,
                     UnsupportedError)
from .ir import INSTALLED, Node, library_call, user_loc
from .ops import (OPS, UFUNCS, _sum_dtype, _unslice, broadcast_shapes, checked_indices,
                  pyindex)


def make_node(opname: str, inputs: list[Node], **params) -> Node:
    """Build one node, with its shape and dtype from the op table and the user's source line."""
    op = OPS[opname]
    loc = user_loc()
    try:
        if op.shape is not None:
            shape, dtype = op.shape(*inputs, **params)
        else:
            shape = broadcast_shapes(*(i.shape for i in inputs))
            dtype = op.dtype(*(i.dtype for i in inputs), **params)
    except GraphcError as e:
        msg = e.args[0]
        raise type(e)(msg if msg.startswith(f"{opname}: ") else f"{opname}: {msg}", loc) from None
    node = Node(opname, tuple(inputs), params, tuple(int(s) for s in shape), dtype, loc)
    node.constant = opname == "const" or (bool(inputs) and all(i.constant for i in inputs)
                                          and op.kind not in ("source", "control"))
    return node


def constant_value(node: Node) -> np.ndarray:
    """The value of a node made from constants alone (``node.constant``), computed now by the
    op table's NumPy implementations, as the reference interpreter would."""
    values: dict[int, np.ndarray] = {}
    stack = [node]
    while stack:
        n = stack[-1]
        todo = [i for i in n.inputs if i.id not in values]
        if todo:
            stack += todo
            continue
        stack.pop()
        if n.op == "const":
            values[n.id] = np.asarray(n.params["value"], n.dtype)
        elif n.id not in values:
            with np.errstate(all="ignore"):
                out = OPS[n.op].impl(*(values[i.id] for i in n.inputs), **n.params)
            values[n.id] = np.asarray(out, n.dtype).reshape(n.shape)
    return values[node.id]


def const(value: Any, dtype: Any = None) -> Node:
    # C order always: compiled code reshapes constants as C arrays.
    return make_node("const", [], value=np.array(value, dtype=dtype, order="C"))


def _is_weak(x: Any) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def _weak_dtype(value: Any, strong: list[np.dtype]) -> np.dtype:
    """The dtype a Python scalar takes next to arrays of dtypes ``strong`` (NEP 50)."""
    base = np.result_type(*strong) if strong else None
    kind = "b" if isinstance(value, bool) else "i" if isinstance(value, int) else "f"
    if base is None:
        return np.dtype({"b": np.bool_, "i": np.int64, "f": np.float64}[kind])
    if kind == "f" and base.kind in "biu":
        return np.dtype(np.float64)
    if kind == "i" and base.kind == "b":
        return np.dtype(np.int64)
    return base


def to_node(x: Any, strong: list[np.dtype] | None = None) -> Node:
    if isinstance(x, Tracer):
        return x.node
    if _is_weak(x):
        return const(x, _weak_dtype(x, strong or []))
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype.kind not in "biuf":
            raise UnsupportedError(f"arrays of dtype {x.dtype} are not supported", user_loc())
        return const(x)
    if isinstance(x, (list, tuple)):
        return const(np.asarray(x))
    if isinstance(x, Selection):
        raise refused("x[mask] as a result, or where graphc needs an array of known shape")
    if isinstance(x, Complex):
        raise UnsupportedError(f"a complex value where graphc needs a real one: {COMPLEX_HINT}",
                               user_loc())
    raise UnsupportedError(f"cannot use a value of type {type(x).__name__} in a traced "
                           "computation", user_loc())


def _scalar_hint(node: Node, limit: int = 200) -> str:
    """For an error about a traced value that Python needed as a number: when ``node`` is an
    integer computed from Python-number arguments and constants only (a stride, a length),
    how to make those static."""
    if node.dtype.kind not in "iub":
        return ""
    seen, todo, leaves = set(), [node], set()
    while todo:
        n = todo.pop()
        if n.id in seen:
            continue
        seen.add(n.id)
        if len(seen) > limit or (n.op == "input" and not n.params.get("weak", False)):
            return ""
        if n.op == "input":
            leaves.add(n.params["index"])
        todo += n.inputs
    return (f"; it is computed from Python numbers passed as arguments (argument leaves "
            f"{', '.join(map(str, sorted(leaves)))}), which graphc traces so that a new value "
            "needs no new compile: to use their values, name those arguments in "
            "static_argnums, or close over them") if leaves else ""


def _is_weak_input(a: Any) -> bool:
    return isinstance(a, Tracer) and a.node.op == "input" and a.node.params.get("weak", False)


def apply(opname: str, *args: Any, **params) -> "Tracer":
    """Record ``opname`` applied to tracers, arrays and (weakly typed) Python scalars, whether
    written in the function or passed to it as arguments."""
    strong = [a.dtype for a in args if isinstance(a, (Tracer, np.ndarray, np.generic))
              and not _is_weak_input(a)]
    if strong and any(_is_weak_input(a) for a in args):
        sample = {"b": False, "i": 0, "f": 0.0}
        args = tuple(a.astype(_weak_dtype(sample[a.dtype.kind], strong))
                     if _is_weak_input(a) else a for a in args)
    return Tracer(make_node(opname, [to_node(a, strong) for a in args], **params))


def as_tracer(x: Any) -> "Tracer":
    return x if isinstance(x, Tracer) else Tracer(to_node(x))


# ------------------------------------------------------------------ structural helpers
def _axes_in_order(axes: Any, ndim: int) -> tuple[int, ...]:
    """Axes as non-negative ints, in the given order; out of range is a ShapeError."""
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of bounds for an array of {ndim} dimensions",
                             user_loc())
        out.append(int(a) % ndim)
    return tuple(out)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """A reduction's ``axis`` argument (None, int or tuple) as sorted, distinct axes."""
    if axis is None:
        return tuple(range(ndim))
    out = _axes_in_order((axis,) if isinstance(axis, numbers.Integral) else tuple(axis), ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis}", user_loc())
    return tuple(sorted(out))


def reduce(opname: str, x: Any, axis=None, keepdims=False, dtype=None, initial=None,
           where=None, **unsupported) -> "Tracer":
    """sum, prod, max and min over ``axis``. ``where`` leaves elements out (they count as
    the identity; max and min have none, so they need ``initial``), and ``initial`` joins
    every result, as in NumPy."""
    _no_extra(opname, unsupported)
    x = as_tracer(x)
    if dtype is not None:  # sum and prod (NumPy's max and min take none): accumulate in it
        if opname not in ("sum", "prod"):
            raise UnsupportedError(f"{opname}: argument dtype not supported", user_loc())
        x = x.astype(dtype)
    initial = initial.item() if isinstance(initial, np.generic) else initial
    if _masked(where):
        fill = {"sum": 0, "prod": 1}.get(opname, initial)
        if fill is None:
            raise UnsupportedError(f"{opname} with where= needs initial= (it has no identity "
                                   "to give the elements left out)", user_loc())
        x = np.where(broadcast_to(where, x.shape), x, fill)
    axes = _axes(axis, x.ndim)
    if initial is not None and opname in ("max", "min") and any(x.shape[a] == 0 for a in axes):
        kept = [1 if a in axes else n for a, n in enumerate(x.shape) if keepdims or a not in axes]
        return as_tracer(np.full(kept, initial, x.dtype))  # (of nothing: initial alone)
    if not axes and not keepdims:
        out = Tracer(x.node)  # a copy, as NumPy's
    else:
        out = apply(opname, x, axes=axes, keepdims=bool(keepdims))
    if initial is not None:
        join = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}
        out = join[opname](out, initial).astype(out.dtype)
    return out if dtype is None else out.astype(dtype)  # small ints: not widened after all


def _masked(where: Any) -> bool:
    """Whether a reduction's ``where=`` leaves elements out (None and True keep them all)."""
    return where is not None and where is not True


def _count(x: "Tracer", axis: Any, keepdims: bool, where: Any) -> Any:
    """How many elements a mean over ``axis`` divides by: all of them, or those ``where``
    keeps (counted in x's float dtype, so that a float32 mean stays float32)."""
    if not _masked(where):
        return int(np.prod([x.shape[a] for a in _axes(axis, x.ndim)]))
    kind = x.dtype if x.dtype.kind == "f" else np.dtype(np.int64)
    return reduce("sum", broadcast_to(where, x.shape).astype(kind), axis, keepdims)


def mean(x: Any, axis=None, keepdims=False, dtype=None, where=None, **unsupported
         ) -> "Tracer":
    _no_extra("mean", unsupported)
    x = as_tracer(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    if dtype is not None:
        x = x.astype(dtype)
    out = reduce("sum", x, axis, keepdims, where=where) / _count(x, axis, keepdims, where)
    return out.astype(x.dtype)


def average(a: Any, axis=None, weights=None, returned=False, keepdims=False) -> "Tracer":
    """np.average: sum(a * w) / sum(w) over ``axis``; 1-D weights lie along an int ``axis``."""
    if returned:
        raise UnsupportedError("np.average: returned=True is not supported", user_loc())
    a = as_tracer(a)
    if weights is None:
        return mean(a, axis, keepdims)
    w = as_tracer(weights)
    if w.shape != a.shape:
        if not isinstance(axis, numbers.Integral) or w.ndim != 1 or \
                w.shape[0] != a.shape[_axes(axis, a.ndim)[0]]:
            raise ShapeError(f"np.average: weights of shape {w.shape} need an int axis along "
                             f"which they lie, or the shape {a.shape} of the data", user_loc())
        d = _axes(axis, a.ndim)[0]
        w = broadcast_to(reshape(w, (1,) * d + w.shape + (1,) * (a.ndim - d - 1)), a.shape)
    return reduce("sum", a * w, axis, keepdims) / reduce("sum", w, axis, keepdims)


def _all_any(name: str) -> Callable[..., "Tracer"]:
    """np.all / np.any: whether no element (any element) is zero, as a count of them."""
    def fn(x, axis=None, keepdims=False, **unsupported):
        _no_extra(name, unsupported)
        x = as_tracer(x)
        hits = reduce("sum", (x == 0 if name == "all" else x != 0).astype(np.int64), axis,
                      keepdims)
        return hits == 0 if name == "all" else hits > 0
    return fn


def var(x: Any, axis=None, keepdims=False, ddof=0, where=None, **unsupported) -> "Tracer":
    _no_extra("var", unsupported)
    x = as_tracer(x)
    d = x - mean(x, axis, keepdims=True, where=where)
    if _masked(where):  # zero, not NaN, where d is left out
        d = np.where(broadcast_to(where, d.shape), d, 0)
    # NumPy divides by max(n - ddof, 0): inf or NaN where ddof leaves nothing, never a
    # negative variance (n may be data: a mask, NaNs left out)
    n = _count(x, axis, keepdims, where) - ddof
    return reduce("sum", d * d, axis, keepdims) / (max(n, 0) if isinstance(n, int) else
                                                   np.maximum(n, 0))


def std(x: Any, axis=None, keepdims=False, ddof=0, where=None, **unsupported) -> "Tracer":
    return np.sqrt(var(x, axis, keepdims, ddof, where, **unsupported))


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: Any = None,
        fweights: Any = None, aweights: Any = None, dtype: Any = None) -> "Tracer":
    """np.cov without weights: the centred variables' products over the observations, divided
    by N - ddof (ddof 1 unless ``bias``); each row a variable unless ``rowvar`` is False."""
    _no_extra("cov", {"fweights": fweights, "aweights": aweights})
    x = as_tracer(m)
    if x.ndim > 2:
        raise ShapeError(f"np.cov: m has more than 2 dimensions (shape {x.shape})", user_loc())
    dt = np.result_type(x.dtype, np.float64) if dtype is None else np.dtype(dtype)

    def rows(t):
        t = reshape(t, (1, -1)) if t.ndim == 1 else t
        return (t if rowvar or t.shape[0] == 1 else transpose(t)).astype(dt)

    x = rows(x)
    if y is not None:
        x = concatenate([x, rows(as_tracer(y))], axis=0)
    n = x.shape[1]
    ddof = (0 if bias else 1) if ddof is None else int(ddof)
    xc = x - mean(x, axis=1, keepdims=True)
    c = matmul(xc, transpose(xc)) / max(n - ddof, 0)
    return reshape(c, ()) if c.shape == (1, 1) else c


def corrcoef(x: Any, y: Any = None, rowvar: bool = True, dtype: Any = None) -> "Tracer":
    """np.corrcoef: cov scaled by the standard deviations, clipped to [-1, 1] as NumPy's."""
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    d = np.sqrt(diagonal(c))
    return np.clip(c / d[:, None] / d[None, :], -1, 1)


def _nan_reduction(name: str, fill: Any) -> Callable[..., "Tracer"]:
    """np.nansum and its kin: the reduction with NaNs left out. nanmax and nanmin of a line
    of NaNs alone give NaN, as NumPy's (which also warns)."""
    def fn(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None,
           **kw):
        _no_extra(f"nan{name}", {"out": out})
        a = as_tracer(a)
        if a.dtype.kind != "f":  # no NaN to leave out
            keep = where
        else:
            keep = (a == a) & where if _masked(where) else a == a
        if name in ("mean", "var", "std"):
            extra = {"ddof": kw.pop("ddof", 0)} if name != "mean" else {"dtype": dtype}
            _no_extra(f"nan{name}", kw)
            r = FUNCTIONS[getattr(np, name)](a, axis=axis, keepdims=keepdims, where=keep,
                                             **extra)
            if name != "mean":  # NaN where ddof leaves nothing (np.var gives inf there)
                r = np.where(_count(a, axis, keepdims, keep) - extra["ddof"] > 0, r, np.nan)
            return r
        _no_extra(f"nan{name}", kw)
        r = reduce(name, np.where(keep, a, fill) if keep is not None else a, axis, keepdims,
                   dtype, initial)
        if name in ("max", "min") and a.dtype.kind == "f" and initial is None:
            r = np.where(reduce("sum", keep.astype(np.int64), axis, keepdims) > 0, r, np.nan)
        return r
    return fn


def _order(order: Any, what: str) -> str:
    """NumPy's index order 'C' (last index fastest) or 'F' (first fastest); 'A' and 'K'
    follow the memory layout, which a traced array does not have."""
    if order in ("C", "F", None):
        return order or "C"
    raise UnsupportedError(f"{what}(order={order!r}): graphc reads arrays in index order "
                           "only, 'C' or 'F' ('A' and 'K' follow the memory layout)",
                           user_loc())


def reshape(x: Any, *shape: Any, **kwargs) -> "Tracer":
    order = "C"
    if shape and isinstance(shape[-1], str):  # np.reshape(a, shape, order)
        order, shape = shape[-1], shape[:-1]
    order = _order(kwargs.pop("order", order), "reshape")
    _no_extra("reshape", {k: v for k, v in kwargs.items() if k not in ("shape", "newshape")})
    shape = kwargs.get("shape", kwargs.get("newshape", shape))
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        shape = shape[0]
    x = as_tracer(x)
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: can only specify one unknown dimension in {shape}", user_loc())
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        shape = tuple(x.size // known if known and s == -1 else s for s in shape)
    if int(np.prod(shape)) != x.size:
        raise ShapeError(f"reshape: cannot reshape array of shape {x.shape} (size {x.size}) "
                         f"into shape {shape}", user_loc())
    if order == "F" and (x.ndim > 1 or len(shape) > 1):  # the C reshape of reversed axes
        return transpose(reshape(transpose(x), shape[::-1]))
    return x if shape == x.shape else apply("reshape", x, shape=shape)


def transpose(x: Any, axes=None) -> "Tracer":
    x = as_tracer(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else _axes_in_order(axes, x.ndim)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of {x.ndim} dims",
                         user_loc())
    return x if axes == tuple(range(x.ndim)) else apply("transpose", x, axes=axes)


def swapaxes(x: Any, a: int, b: int) -> "Tracer":
    x = as_tracer(x)
    a, b = _axes_in_order((a, b), x.ndim)
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def broadcast_to(x: Any, shape: Any) -> "Tracer":
    x = as_tracer(x)
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    return x if shape == x.shape else apply("broadcast_to", x, shape=shape)


def full_like(x: Any, value: Any, dtype: Any = None, shape: Any = None) -> "Tracer":
    """np.full_like (and zeros_, ones_, empty_like): one value broadcast to ``x``'s shape (or
    ``shape``), of ``x``'s dtype unless given. A traced ``value`` is cast to it. The result
    is a new array of its own (``x[i] = v`` may fill it), not a read-only broadcast."""
    x = as_tracer(x)
    dtype = np.dtype(dtype or x.dtype)
    v = value.astype(dtype) if isinstance(value, Tracer) else np.asarray(value).astype(dtype)
    return broadcast_to(v, x.shape if shape is None else shape)


def squeeze(x: Any, axis=None) -> "Tracer":
    x = as_tracer(x)
    if axis is None:
        axes = tuple(d for d, s in enumerate(x.shape) if s == 1)
    else:
        axes = _axes(axis, x.ndim)
        if any(x.shape[a] != 1 for a in axes):
            raise ShapeError(f"squeeze: cannot select an axis of length > 1 in {x.shape}",
                             user_loc())
    return reshape(x, tuple(s for d, s in enumerate(x.shape) if d not in axes))


def expand_dims(x: Any, axis: Any) -> "Tracer":
    x = as_tracer(x)
    axes = _axes(axis, x.ndim + (1 if isinstance(axis, numbers.Integral) else len(axis)))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, shape)


def matmul(a: Any, b: Any) -> "Tracer":
    a, b = as_tracer(a), as_tracer(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: operands must be at least 1-D, got shapes "
                         f"{a.shape} and {b.shape}", user_loc())
    # 1-D operands are lifted to matrices and the added axis is dropped from the result.
    a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
    b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype.kind not in "f":
        raise UnsupportedError(f"matmul of {a.dtype} and {b.dtype} arrays is not supported "
                               "(BLAS multiplies floats); cast them with .astype", user_loc())
    out = apply("matmul", a2.astype(dtype), b2.astype(dtype))
    if a.ndim == 1 and b.ndim == 1:
        return out.reshape(())
    if b.ndim == 1:
        return out.reshape(out.shape[:-1])
    if a.ndim == 1:
        return out.reshape(out.shape[:-2] + out.shape[-1:])
    return out


def dot(a: Any, b: Any) -> "Tracer":
    a, b = as_tracer(a), as_tracer(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:  # sum over a's last axis and b's second-to-last
        return tensordot(a, b, axes=([a.ndim - 1], [max(b.ndim - 2, 0)]))
    return matmul(a, b)


def where(cond: Any, x: Any = None, y: Any = None) -> "Tracer":
    if x is None or y is None:
        raise UnsupportedError("np.where with one argument (indices) is not supported: how "
                               "many there are depends on the data. Use np.where(cond, x, y), "
                               "or a boolean mask x[cond] into a reduction", user_loc())
    return apply("where", cond, x, y)


def concatenate(arrays: Any, axis: int = 0, **unsupported) -> "Tracer":
    _no_extra("concatenate", unsupported)
    parts = [as_tracer(a) for a in arrays]
    if axis is None:  # the arrays flattened, one after another
        parts, axis = [reshape(p, (p.size,)) for p in parts], 0
    axis = _axes_in_order((axis,), parts[0].ndim)[0]
    return parts[0] if len(parts) == 1 else apply("concatenate", *parts, axis=axis)


def stack(arrays: Any, axis: int = 0, **unsupported) -> "Tracer":
    parts = [as_tracer(a) for a in arrays]
    axis = axis % (parts[0].ndim + 1)
    return concatenate([expand_dims(p, axis) for p in parts], axis, **unsupported)


def _is_array_index(i: Any) -> bool:
    return isinstance(i, (Tracer, np.ndarray, list)) or (isinstance(i, np.generic)
                                                         and i.dtype.kind == "b")


def _is_constant_mask(i: Any) -> bool:
    return isinstance(i, (np.ndarray, list)) and np.ndim(i) > 0 and np.asarray(i).dtype == bool


def _array_getitem(x: "Tracer", index: tuple) -> "Tracer":
    """``x[..., idx, ...]`` with one integer array among slices and ints: basic indexing of the
    rest, then a gather on the array's axis (dims moved first where NumPy moves them)."""
    arrays = [k for k, i in enumerate(index) if _is_array_index(i)]
    if any(i is None for i in index):
        raise UnsupportedError("np.newaxis (None) together with an integer-array index is not "
                               "supported; reshape before or after indexing", user_loc())
    if sum(i is Ellipsis for i in index) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')", user_loc())
    if any(i is Ellipsis for i in index):
        k = next(k for k, i in enumerate(index) if i is Ellipsis)
        index = index[:k] + (slice(None),) * (x.ndim - len(index) + 1) + index[k + 1:]
    if len(arrays) > 1:
        return _arrays_getitem(x, index)
    p = next(k for k, i in enumerate(index) if _is_array_index(i))
    idx = index[p]
    if p >= x.ndim:
        raise ShapeError(f"too many indices ({len(index)}) for an array of shape {x.shape}",
                         user_loc())
    basic = getitem(x, index[:p] + (slice(None),) + index[p + 1:])
    axis = sum(1 for i in index[:p] if isinstance(i, slice))
    out = take(basic, idx, axis=axis)
    ints = [k for k, i in enumerate(index) if isinstance(i, numbers.Integral)]
    adv = sorted(ints + [p])
    nd = np.ndim(idx) if not isinstance(idx, Tracer) else idx.ndim
    if ints and adv[-1] - adv[0] + 1 != len(adv) and nd:
        # NumPy: advanced indices separated by a slice put their dimensions first
        out = moveaxis(out, list(range(axis, axis + nd)), list(range(nd)))
    return out


def _integer_indices(i: Any) -> Any:
    """Indices ``i`` checked to be integers: a traced array as it is, a constant one as an
    array (an empty one of any number type as int64)."""
    if isinstance(i, Tracer):
        if i.dtype.kind not in "iu":
            raise UnsupportedError(f"indices must be integers, got dtype {i.dtype}", user_loc())
        if i.dtype == np.uint64:
            # as int64, with those past its range still out of range (2**64 - 1 would wrap
            # to -1, a valid index)
            big = np.iinfo(np.int64).max
            i = np.where(i > big, big, i).astype(np.int64)
        return i
    i = np.asarray(i)
    if i.dtype.kind not in "iu":
        if i.size or i.dtype.kind == "b":
            raise UnsupportedError(f"indices must be integers, got dtype {i.dtype}", user_loc())
        i = i.astype(np.int64)
    return i


def _checked_constant(i: np.ndarray, x: "Tracer", axis: int) -> np.ndarray:
    """Constant integer indices into ``axis`` of ``x``, negatives counted from the end, as
    int64; one out of range is an OutOfBoundsError naming the axis and the shape."""
    try:
        return checked_indices(i, x.shape[axis], "index").astype(np.int64)
    except GraphcError as e:
        raise type(e)(f"{e.args[0]} (axis {axis} of an array of shape {x.shape})",
                      user_loc()) from None


def _axis_index(i: Any, x: "Tracer", axis: int) -> Any:
    """Integer index ``i`` into ``axis`` of ``x``, negatives counted from the end: a constant
    is checked now, a traced one by the compiled code (as a gather from ``arange``, laid along
    ``axis`` so that its error names that axis)."""
    i = _integer_indices(i)
    if not isinstance(i, Tracer):
        return _checked_constant(i, x, axis)
    n = x.shape[axis]
    ruler = np.arange(n).reshape((1,) * axis + (n,))
    return reshape(take(ruler, i, axis=axis), i.shape)


def _arrays_getitem(x: "Tracer", index: tuple) -> "Tracer":
    """``x[i, j]``, ``x[:, i, 0, j]``...: several integer arrays (and the ints beside them),
    broadcast together, pick elements as NumPy's advanced indexing does. The indexed axes move
    to the front and become one, so that one gather at the flat index ``i * n_j + j`` reads
    them all (its adjoint adds into them, repeated places accumulating)."""
    if len(index) > x.ndim:
        raise ShapeError(f"too many indices ({len(index)}) for an array of shape {x.shape}",
                         user_loc())
    adv = [k for k, i in enumerate(index) if not isinstance(i, slice)]
    idx = [_axis_index(index[k], x, k) for k in adv]
    try:
        shape = np.broadcast_shapes(*(np.shape(i) for i in idx))
    except ValueError:
        raise ShapeError("shape mismatch: indexing arrays could not be broadcast together with "
                         f"shapes {' '.join(str(np.shape(i)) for i in idx)}", user_loc()) from None
    basic = getitem(x, tuple(slice(None) if k in adv else i for k, i in enumerate(index)))
    rest = [d for d in range(basic.ndim) if d not in adv]
    sizes = [basic.shape[d] for d in adv]
    flat = 0
    for i, stride in zip(idx, np.cumprod([1] + sizes[:0:-1])[::-1]):
        flat = flat + i * int(stride)
    flat = broadcast_to(flat, shape) if isinstance(flat, Tracer) else np.broadcast_to(flat, shape)
    front = transpose(basic, adv + rest)
    out = take(reshape(front, (int(np.prod(sizes)),) + front.shape[len(adv):]), flat, axis=0)
    if adv[-1] - adv[0] + 1 == len(adv) and adv[0]:
        # NumPy: adjacent advanced indices leave their dimensions where the indexed axes were
        out = moveaxis(out, list(range(len(shape))), list(range(adv[0], adv[0] + len(shape))))
    return out


def _index_tuple(index: Any) -> tuple:
    """An index as a tuple, ``range`` objects as the integer arrays they stand for, and
    constant Tracers as their values."""
    index = index if isinstance(index, tuple) else (index,)
    def plain(i):
        if isinstance(i, range):
            return np.asarray(i)
        value = i.value if isinstance(i, Tracer) else None
        return i if value is None else value
    return tuple(plain(i) for i in index)


def getitem(x: "Tracer", index: Any) -> "Tracer":
    index = _index_tuple(index)
    if any(_is_constant_mask(i) for i in index):  # its shape is known: the places it keeps
        index = tuple(p for i in index for p in (np.nonzero(i) if _is_constant_mask(i) else (i,)))
    for i in index:
        if _is_array_index(i):
            kind = (i.dtype.kind if isinstance(i, (Tracer, np.ndarray, np.generic))
                    else np.asarray(i).dtype.kind)
            if kind == "b" and len(index) == 1 and isinstance(i, Tracer):
                return select(x, i)
            if kind == "b":
                raise UnsupportedError(
                    "boolean mask indexing (x[mask]) has a data-dependent shape, which graphc "
                    "cannot trace; use np.where(mask, x, 0) (and sum or mean over it)",
                    user_loc())
            return _array_getitem(x, index)
        if isinstance(i, (bool, np.bool_)) or not (
                i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral))):
            raise UnsupportedError(f"unsupported index {i!r}", user_loc())
        if isinstance(i, slice) and i.step == 0:
            raise ShapeError("slice step cannot be zero", user_loc())
    if sum(i is Ellipsis for i in index) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')", user_loc())
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > x.ndim:
        raise ShapeError(f"too many indices ({used}) for an array of shape {x.shape}", user_loc())
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (x.ndim - used) + index[k + 1:]
    norm, newaxes, dim, out_dim = [], [], 0, 0
    for i in index:
        if i is None:
            newaxes.append(out_dim)
            out_dim += 1
            continue
        n = x.shape[dim]
        if isinstance(i, slice):
            norm.append(i.indices(n))
            out_dim += 1
        else:
            if not -n <= i < n:
                raise ShapeError(f"index {i} is out of bounds for axis {dim} with size {n}",
                                 user_loc())
            norm.append(int(i) % n)
        dim += 1
    full = all(not isinstance(i, int) and i == (0, x.shape[d], 1) for d, i in enumerate(norm))
    out = x if full else apply("slice", x, index=tuple(norm))
    if newaxes:
        shape = list(out.shape)
        for a in newaxes:
            shape.insert(a, 1)
        out = reshape(out, shape)
    return out


# ------------------------------------------------------------------------- compositions
# NumPy functions built from primitives, exactly (their gradients follow from the parts).
def floor_like(name: str) -> Callable[..., "Tracer"]:
    """np.floor / np.ceil: integers come back unchanged (NumPy 2 keeps their dtype)."""
    def fn(x):
        x = as_tracer(x)
        return x if x.dtype.kind in "biu" else apply(name, x)
    return fn


def reciprocal(x: Any) -> "Tracer":
    x = as_tracer(x)
    if x.dtype.kind != "f":
        raise UnsupportedError(f"np.reciprocal of {x.dtype} (integer division) is not "
                               "supported; use 1 / x", user_loc())
    return 1 / x


def clip(x: Any, a_min: Any = None, a_max: Any = None, **kw) -> "Tracer":
    a_min = kw.pop("min", a_min)
    a_max = kw.pop("max", a_max)
    _no_extra("clip", kw)
    out = as_tracer(x)
    if a_min is not None:
        out = np.maximum(out, a_min)
    if a_max is not None:
        out = np.minimum(out, a_max)
    return out


def logaddexp(x: Any, y: Any) -> "Tracer":
    """log(e**x + e**y) = max + log1p(e**-|x - y|): no overflow; equal infinities give
    themselves (their difference is NaN)."""
    d = x - y
    out = np.maximum(x, y) + np.log1p(np.exp(-np.abs(d)))
    return np.where(d == d, out, x + y)


def logaddexp2(x: Any, y: Any) -> "Tracer":
    ln2 = math.log(2)
    return logaddexp(x * ln2, y * ln2) / ln2


def sinc(x: Any) -> "Tracer":
    """sin(pi x) / (pi x), 1 at 0; the quotient is taken at 1 there, so that its gradient
    (which where zeroes) is not NaN."""
    x = as_tracer(x)
    x = x if x.dtype.kind == "f" else x.astype(np.float64)
    zero = x == 0
    y = np.where(zero, 1, x) * math.pi
    return np.where(zero, 1, np.sin(y) / y)


# Logic, rounding and NaN tests: compositions of comparisons, where and floor. Their
# gradients are what the parts give: zero through the tests and the rounding, g through the
# values that where passes on.
def _truth(x: Any) -> Any:
    """``x`` as booleans, as NumPy's logical functions read it: nonzero is True."""
    x = x if isinstance(x, Tracer) else np.asarray(x)
    return x if x.dtype == bool else x != 0


def logical_and(x: Any, y: Any) -> "Tracer":
    return np.where(_truth(x), _truth(y), False)


def logical_or(x: Any, y: Any) -> "Tracer":
    return np.where(_truth(x), True, _truth(y))


def logical_xor(x: Any, y: Any) -> "Tracer":
    return _truth(x) != _truth(y)


def logical_not(x: Any) -> "Tracer":
    return _truth(x) == False  # noqa: E712 (an elementwise comparison)


def _bitwise(name: str, fn: Callable) -> Callable[..., "Tracer"]:
    """``&``, ``|``, ``^``, ``~`` on booleans (masks): the logical functions. On integers
    they are bit operations, which graphc does not have."""
    def op(*xs):
        for x in xs:
            dtype = x.dtype if isinstance(x, (Tracer, np.ndarray, np.generic)) else \
                np.asarray(x).dtype
            if dtype != bool:
                raise UnsupportedError(f"{name} of {dtype}: graphc has bitwise operations on "
                                       "booleans only (masks, e.g. (x > 0) & (y < 1))",
                                       user_loc())
        return fn(*xs)
    return op


bitwise_and, bitwise_or = _bitwise("&", logical_and), _bitwise("|", logical_or)
bitwise_xor, invert = _bitwise("^", logical_xor), _bitwise("~", logical_not)


def isnan(x: Any) -> "Tracer":
    return x != x


def isinf(x: Any) -> "Tracer":
    return np.abs(x) == np.inf


def isfinite(x: Any) -> "Tracer":
    return np.abs(x) < np.inf  # False for NaN too


def nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None,
               neginf: Any = None) -> "Tracer":
    x = as_tracer(x)
    if x.dtype.kind != "f":
        return Tracer(x.node)
    big = np.finfo(x.dtype).max
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    return np.where(x != x, nan, np.where(x == np.inf, posinf,
                                          np.where(x == -np.inf, neginf, x))).astype(x.dtype)


def _rint(x: "Tracer") -> "Tracer":
    """Round half to even, as np.rint: floor, then the fraction (exact) decides; infinities
    and NaN pass through, and a zero keeps the sign of ``x`` (np.round(-0.2) is -0.0)."""
    f = np.floor(x)
    d = x - f
    even = np.floor(f / 2) * 2 == f
    r = np.where(d < 0.5, f, np.where(d > 0.5, f + 1, np.where(even, f, f + 1)))
    return np.where(r == 0, x * 0, r)


def around(x: Any, decimals: int = 0, out: Any = None) -> "Tracer":
    """np.round: half to even, at ``decimals`` digits by NumPy's own recipe (x * 10**d
    rounded, divided back; a negative ``decimals`` divides first)."""
    _no_extra("round", {"out": out})
    x = as_tracer(x)
    if x.dtype.kind in "biu":
        if decimals < 0:
            raise UnsupportedError("np.round of integers to negative decimals is not "
                                   "supported", user_loc())
        return Tracer(x.node)
    if decimals == 0:
        return _rint(x)
    if decimals > 0:
        s = 10.0 ** decimals
        return _rint(x * s) / s
    s = 10.0 ** -decimals
    return _rint(x / s) * s


def rint(x: Any) -> "Tracer":
    x = as_tracer(x)
    if x.dtype.kind in "biu":  # a float of NumPy's choosing (float16 for int8)
        return x.astype(np.rint(np.zeros(0, x.dtype)).dtype)
    return _rint(x)


def trunc(x: Any) -> "Tracer":
    x = as_tracer(x)
    return x if x.dtype.kind in "biu" else np.where(x < 0, np.ceil(x), np.floor(x))


def fmax(x: Any, y: Any) -> "Tracer":
    """np.fmax: the larger, ignoring a NaN (both NaN: NaN)."""
    return np.where(x != x, y, np.where(y != y, x, np.maximum(x, y)))


def fmin(x: Any, y: Any) -> "Tracer":
    return np.where(x != x, y, np.where(y != y, x, np.minimum(x, y)))


def heaviside(x: Any, h0: Any) -> "Tracer":
    """0 below zero, 1 above, ``h0`` at zero, NaN at NaN."""
    return np.where(x < 0, 0, np.where(x > 0, 1, np.where(x == 0, h0, x)))


def cumsum(x: Any, axis: Any = None, dtype: Any = None, **unsupported) -> "Tracer":
    _no_extra("cumsum", unsupported)
    x, axis = _cumulative_axis(x, axis, dtype)
    return apply("cumsum", x, axis=axis, reverse=False)


def _cumulative_axis(x: Any, axis: Any, dtype: Any) -> tuple["Tracer", int]:
    x = as_tracer(x)
    if dtype is not None:
        x = x.astype(dtype)
    if axis is None:
        x, axis = reshape(x, -1), 0
    return x, _axes(axis, x.ndim)[0]


def cumprod(x: Any, axis: Any = None, dtype: Any = None, **unsupported) -> "Tracer":
    """np.cumprod: the recurrence y_i = x_i * y_(i-1) (linrec, a = x but 0 first, b = x
    first and 0 after), whose gradient holds at zeros (no division by x)."""
    _no_extra("cumprod", unsupported)
    x, axis = _cumulative_axis(x, axis, dtype)
    x = x.astype(_sum_dtype(x.dtype))  # as np.cumprod: small integers widened
    if not x.shape[axis]:
        return Tracer(x.node)
    first = np.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - axis - 1)) == 0
    return linear_recurrence(np.where(first, 0, x), np.where(first, x, 0), axis)


def linear_recurrence(a: Any, b: Any, axis: int = -1, reverse: bool = False) -> "Tracer":
    """y_i = a_i * y_(i-1) + b_i along ``axis`` (y before the first is 0); with ``reverse``
    from the end, y_i = a_i * y_(i+1) + b_i: np.cumprod, discounted returns
    (``a = gamma``, ``b = rewards``, ``reverse=True``), exponential averages. One compiled
    loop over each line; its gradient is the same recurrence run the other way."""
    a, b = as_tracer(a), as_tracer(b)
    shape = broadcast_shapes(a.shape, b.shape)
    dtype = np.result_type(a.dtype, b.dtype)
    a, b = (broadcast_to(t, shape).astype(dtype) if t.shape != shape else t.astype(dtype)
            for t in (a, b))
    return apply("linrec", a, b, axis=_axes(axis, len(shape))[0], reverse=bool(reverse))


def _accumulated(name: str) -> Callable[..., "Tracer"]:
    """np.maximum.accumulate and np.minimum.accumulate (cummax, cummin)."""
    def fn(x: Any, axis: Any = 0, dtype: Any = None) -> "Tracer":
        x, axis = _cumulative_axis(x, axis, dtype)
        return apply(name, x, axis=axis, reverse=False) if x.size else Tracer(x.node)
    return fn


def _arg_extremum(name: str) -> Callable[..., "Tracer"]:
    def fn(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> "Tracer":
        _no_extra(f"arg{name}", {"out": out})
        x = as_tracer(x)
        shape = x.shape
        if axis is None:
            x, ax = reshape(x, -1), 0
        else:
            ax = _axes(axis, x.ndim)[0]
        n = x.shape[ax]
        if n == 0:
            raise ShapeError(f"arg{name}: attempt to get arg{name} of an empty sequence",
                             user_loc())
        m = reduce(name, x, ax, keepdims=True)
        iota = Tracer(const(np.arange(n).reshape([n if d == ax else 1 for d in range(x.ndim)])))
        hit = np.where(x == m, iota, n)
        if x.dtype.kind == "f":  # NumPy returns the first NaN
            hit = np.where(x != x, iota, hit)
        r = reduce("min", hit, ax, keepdims=keepdims)
        return reshape(r, (1,) * len(shape)) if axis is None and keepdims else r
    return fn


def _atleast(a: Any, nd: int) -> "Tracer":
    a = as_tracer(a)
    if a.ndim >= nd:
        return a
    if a.ndim == 0:
        return reshape(a, (1,) * nd)
    if nd == 2 or a.ndim == 1:  # (n,) -> (1, n) or (1, n, 1)
        return reshape(a, ((1,) + a.shape + (1,))[:nd])
    return reshape(a, a.shape + (1,))


def atleast(nd: int) -> Callable[..., Any]:
    def fn(*arys):
        out = [_atleast(a, nd) for a in arys]
        return out[0] if len(out) == 1 else out
    return fn


def vstack(tup: Any, **kw) -> "Tracer":
    return concatenate([_atleast(a, 2) for a in tup], 0, **kw)


def hstack(tup: Any, **kw) -> "Tracer":
    parts = [_atleast(a, 1) for a in tup]
    return concatenate(parts, 0 if parts[0].ndim == 1 else 1, **kw)


def dstack(tup: Any) -> "Tracer":
    return concatenate([_atleast(a, 3) for a in tup], 2)


def column_stack(tup: Any) -> "Tracer":
    parts = [as_tracer(a) for a in tup]
    return concatenate([reshape(a, (a.size, 1)) if a.ndim < 2 else a for a in parts], 1)


def _split(equal: bool) -> Callable[..., list]:
    def fn(x: Any, indices_or_sections: Any, axis: int = 0) -> list:
        x = as_tracer(x)
        axis = _axes(axis, x.ndim)[0]
        n = x.shape[axis]
        if isinstance(indices_or_sections, numbers.Integral):
            k = int(indices_or_sections)
            if k <= 0:
                raise ShapeError("number sections must be larger than 0.", user_loc())
            if equal and n % k:
                raise ShapeError(f"array split does not result in an equal division: {n} into "
                                 f"{k}", user_loc())
            sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
            cuts = [int(c) for c in np.cumsum([0] + sizes)]
            bounds = list(zip(cuts[:-1], cuts[1:]))
        else:
            points = [int(i) for i in indices_or_sections]
            bounds = list(zip([0] + points, points + [n]))
        lead = (slice(None),) * axis
        return [getitem(x, lead + (slice(a, b),)) for a, b in bounds]
    return fn


def moveaxis(x: Any, source: Any, destination: Any) -> "Tracer":
    x = as_tracer(x)
    src = _axes_in_order((source,) if isinstance(source, numbers.Integral) else source, x.ndim)
    dst = _axes_in_order((destination,) if isinstance(destination, numbers.Integral)
                         else destination, x.ndim)
    if len(src) != len(dst):
        raise ShapeError("moveaxis: source and destination must have the same number of "
                         "elements", user_loc())
    order = [d for d in range(x.ndim) if d not in src]
    for d, a in sorted(zip(dst, src)):
        order.insert(d, a)
    return transpose(x, order)


def flip(x: Any, axis: Any = None) -> "Tracer":
    x = as_tracer(x)
    axes = _axes(axis, x.ndim)
    return getitem(x, tuple(slice(None, None, -1) if d in axes else slice(None)
                            for d in range(x.ndim)))


def tile(x: Any, reps: Any) -> "Tracer":
    x = as_tracer(x)
    reps = (int(reps),) if isinstance(reps, numbers.Integral) else tuple(int(r) for r in reps)
    d = max(x.ndim, len(reps))
    shape = (1,) * (d - x.ndim) + x.shape
    reps = (1,) * (d - len(reps)) + reps
    spread = broadcast_to(reshape(x, [v for s in shape for v in (1, s)]),
                          [v for r, s in zip(reps, shape) for v in (r, s)])
    return reshape(spread, [r * s for r, s in zip(reps, shape)])


def roll(x: Any, shift: Any, axis: Any = None) -> "Tracer":
    """np.roll: along each axis the last ``shift`` elements move to the front (two slices,
    joined); with no axis, over the flattened array."""
    x = as_tracer(x)
    if axis is None:
        return reshape(roll(reshape(x, -1), shift, 0), x.shape)
    if isinstance(shift, Tracer) or isinstance(axis, Tracer):
        raise UnsupportedError("np.roll by a traced shift is not supported; pass an int",
                               user_loc())
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    for s, ax in zip(shifts.reshape(-1), _axes_in_order(axes.reshape(-1), x.ndim)):
        n = x.shape[ax]
        s = int(s) % n if n else 0
        if s:
            head = (slice(None),) * ax
            x = concatenate([x[head + (slice(n - s, None),)], x[head + (slice(0, n - s),)]],
                            axis=ax)
    return x


def kron(a: Any, b: Any) -> "Tracer":
    """np.kron: every element of ``a`` times all of ``b``, as blocks (one broadcast product
    with the axes interleaved)."""
    a, b = as_tracer(a), as_tracer(b)
    nd = max(a.ndim, b.ndim)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    out = reshape(a, [v for s in sa for v in (s, 1)]) * reshape(b, [v for s in sb for v in (1, s)])
    return reshape(out, [p * q for p, q in zip(sa, sb)])


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> Any:
    if indexing not in ("xy", "ij"):
        raise UnsupportedError(f"np.meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}",
                               user_loc())
    xs = [reshape(as_tracer(x), -1) for x in xi]
    shape = [x.size for x in xs]
    if indexing == "xy" and len(xs) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    outs = []
    for k, x in enumerate(xs):
        d = (1 - k if k < 2 else k) if indexing == "xy" and len(xs) > 1 else k
        r = reshape(x, [-1 if i == d else 1 for i in range(len(xs))])
        outs.append(r if sparse else Tracer(broadcast_to(r, shape).node))
    return type(np.meshgrid(*[np.zeros(1)] * len(xs)))(outs)


def repeat(x: Any, repeats: Any, axis: Any = None) -> "Tracer":
    x = as_tracer(x)
    if axis is None:
        x, axis = reshape(x, -1), 0
    axis = _axes(axis, x.ndim)[0]
    if isinstance(repeats, Tracer):
        raise UnsupportedError("np.repeat with traced repeat counts has a data-dependent "
                               "shape; pass the counts as a constant", user_loc())
    n = x.shape[axis]
    if isinstance(repeats, numbers.Integral) or np.size(repeats) == 1:
        r = int(np.reshape(repeats, -1)[0])
        s = x.shape
        spread = broadcast_to(reshape(x, s[:axis + 1] + (1,) + s[axis + 1:]),
                              s[:axis + 1] + (r,) + s[axis + 1:])
        return reshape(spread, s[:axis] + (n * r,) + s[axis + 1:])
    counts = np.broadcast_to(np.asarray(repeats), (n,))
    return take(x, np.repeat(np.arange(n), counts), axis=axis)


_PAD_GATHERS = ("edge", "reflect", "symmetric", "wrap")


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0,
        **unsupported) -> "Tracer":
    """np.pad: 'constant' (and 'empty', as zeros) places ``x`` in a larger array; 'edge',
    'reflect', 'symmetric' and 'wrap' gather, along each axis, the places NumPy's own pad
    of an ``arange`` names."""
    if unsupported.get("reflect_type", "even") != "even":
        raise UnsupportedError("np.pad: reflect_type='odd' is not supported", user_loc())
    unsupported.pop("reflect_type", None)
    _no_extra("pad", unsupported)
    if mode not in ("constant", "empty") + _PAD_GATHERS:
        raise UnsupportedError(f"np.pad: mode={mode!r} is not supported (only 'constant', "
                               f"'empty', {', '.join(map(repr, _PAD_GATHERS))})", user_loc())
    x = as_tracer(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2)
                             if np.size(pad_width) > 1 else np.asarray(pad_width, np.int64),
                             (x.ndim, 2))
    if (widths < 0).any():
        raise ShapeError("np.pad: negative pad widths", user_loc())
    if mode in _PAD_GATHERS:
        for ax, (b, a) in enumerate(widths):
            if b or a:
                if not x.shape[ax]:
                    raise ShapeError(f"np.pad: can't extend empty axis {ax} using modes other "
                                     "than 'constant' or 'empty'", user_loc())
                x = take(x, np.pad(np.arange(x.shape[ax]), (int(b), int(a)), mode=mode),
                         axis=ax)
        return x
    shape = tuple(int(s + b + a) for s, (b, a) in zip(x.shape, widths))
    index = tuple((int(b), int(b + s), 1) for s, (b, _) in zip(x.shape, widths))
    if shape == x.shape:
        return x
    out = _unslice(x, shape, index)
    if mode == "constant":
        if isinstance(constant_values, Tracer):
            if constant_values.value is None:
                raise UnsupportedError("np.pad: traced constant_values are not supported",
                                       user_loc())
            constant_values = constant_values.value
        if np.any(constant_values):
            fill = np.pad(np.zeros(x.shape, x.dtype), widths, constant_values=constant_values)
            inside = np.zeros(shape, bool)
            inside[tuple(slice(*i) for i in index)] = True
            out = np.where(inside, out, fill)
    return out


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> "Tracer":
    """The diagonal as a strided slice of the flattened (axis1, axis2) plane, last axis."""
    x = as_tracer(x)
    if x.ndim < 2:
        raise ShapeError(f"diagonal requires an array of at least two dimensions, got shape "
                         f"{x.shape}", user_loc())
    a1, a2 = _axes_in_order((axis1, axis2), x.ndim)
    if a1 == a2:
        raise ShapeError("diagonal: axis1 and axis2 cannot be the same", user_loc())
    n, m, k = x.shape[a1], x.shape[a2], int(offset)
    t = transpose(x, [d for d in range(x.ndim) if d not in (a1, a2)] + [a1, a2])
    length = max(0, min(n, m - k) if k >= 0 else min(n + k, m))
    start = k if k >= 0 else -k * m
    flat = reshape(t, t.shape[:-2] + (n * m,))
    stop = start + (length - 1) * (m + 1) + 1 if length else start
    return getitem(flat, (slice(None),) * (t.ndim - 2) + (slice(start, stop, m + 1),))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, **unsupported) -> "Tracer":
    _no_extra("trace", unsupported)
    return reduce("sum", diagonal(x, offset, axis1, axis2), -1)


def diag(v: Any, k: int = 0) -> "Tracer":
    v = as_tracer(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(f"np.diag: input must be 1-D or 2-D, got shape {v.shape}", user_loc())
    n = v.shape[0] + abs(int(k))
    start = k if k >= 0 else -k * n
    flat = _unslice(v, (n * n,), ((start, start + (v.shape[0] - 1) * (n + 1) + 1, n + 1),))
    return reshape(flat, (n, n))


def fill_diagonal(a: Any, val: Any, wrap: bool = False) -> None:
    """np.fill_diagonal, in place: the places NumPy's ``a.flat[:end:step] = val`` writes,
    ``val`` repeated along them as flat assignment repeats it."""
    if not isinstance(a, Tracer):
        raise UnsupportedError("np.fill_diagonal with a traced value needs a traced array "
                               "(np.zeros inside the function makes one)", user_loc())
    if a.ndim < 2 or (a.ndim > 2 and len(set(a.shape)) != 1):
        raise ShapeError(f"np.fill_diagonal: the array must be at least 2-D, and of equal "
                         f"sides beyond 2-D; got shape {a.shape}", user_loc())
    if a.ndim == 2:
        step, end = a.shape[1] + 1, None if wrap else a.shape[1] * a.shape[1]
    else:
        step, end = 1 + int(np.cumprod(a.shape[:-1]).sum()), None
    places = np.arange(a.size)[:end:step]
    v = as_tracer(val)
    if v.size != 1 and v.size != places.size:
        v = take(reshape(v, -1), np.arange(places.size) % v.size)
    a[np.unravel_index(places, a.shape)] = reshape(v, -1) if v.size != 1 else reshape(v, ())


def _triangle(lower: bool) -> Callable[..., "Tracer"]:
    def fn(x: Any, k: int = 0) -> "Tracer":
        x = as_tracer(x)
        if x.ndim < 2:
            raise ShapeError(f"{'tril' if lower else 'triu'}: input must be at least 2-D, got "
                             f"shape {x.shape}", user_loc())
        n, m = x.shape[-2:]
        keep = np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)
        return np.where(keep, x, np.zeros((), x.dtype))  # (a bool array stays bool)
    return fn


def outer(a: Any, b: Any, out: Any = None) -> "Tracer":
    _no_extra("outer", {"out": out})
    a, b = reshape(as_tracer(a), -1), reshape(as_tracer(b), -1)
    return reshape(a, (a.size, 1)) * reshape(b, (1, b.size))


def vdot(a: Any, b: Any) -> "Tracer":
    return (reshape(as_tracer(a), -1) * reshape(as_tracer(b), -1)).sum()


def cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: Any = None) -> "Tracer":
    """np.cross of 3-vectors along the given axes, the others broadcast."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(as_tracer(a), axisa, -1), moveaxis(as_tracer(b), axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise UnsupportedError(f"np.cross of vectors of lengths {a.shape[-1]} and "
                               f"{b.shape[-1]}: graphc takes 3-vectors (NumPy 2 deprecates "
                               "2-vectors)", user_loc())
    parts = [a[..., (k + 1) % 3] * b[..., (k + 2) % 3] - a[..., (k + 2) % 3] * b[..., (k + 1) % 3]
             for k in range(3)]
    return moveaxis(stack(parts, axis=-1), -1, axisc)


def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None
         ) -> "Tracer":
    """np.diff: ``a[1:] - a[:-1]`` along ``axis``, ``n`` times (``!=`` for booleans), after
    joining ``prepend`` and ``append`` (scalars stretch to one slice)."""
    a = as_tracer(a)
    ax = _axes(axis, a.ndim)[0]
    ends = [e if e is None or np.ndim(e) else
            broadcast_to(e, a.shape[:ax] + (1,) + a.shape[ax + 1:]) for e in (prepend, append)]
    parts = [p for p in (ends[0], a, ends[1]) if p is not None]
    a = concatenate(parts, axis=ax) if len(parts) > 1 else a
    if n < 0:
        raise ShapeError(f"np.diff: order must be non-negative but got {n}", user_loc())
    head = (slice(None),) * ax
    for _ in range(n):
        hi, lo = a[head + (slice(1, None),)], a[head + (slice(None, -1),)]
        a = hi != lo if a.dtype == bool else hi - lo
    return a


def convolve(a: Any, v: Any, mode: str = "full") -> "Tracer":
    """np.convolve of 1-D arrays: a constant gather lays the windows of the zero-padded
    signal out as rows, and a product with the reversed kernel sums them."""
    a, v = as_tracer(a), as_tracer(v)
    if a.ndim != 1 or v.ndim != 1 or not a.size or not v.size:
        raise ShapeError(f"np.convolve takes two non-empty 1-D arrays, got shapes {a.shape} "
                         f"and {v.shape}", user_loc())
    if v.size > a.size:
        a, v = v, a
    n, m = a.size, v.size
    padded = pad(a, m - 1) if m > 1 else a
    windows = take(padded, np.arange(n + m - 1)[:, None] + np.arange(m)[None, :], axis=0)
    full = windows @ v[::-1]
    if mode == "full":
        return full
    if mode == "same":
        return full[(m - 1) // 2:(m - 1) // 2 + n]
    if mode == "valid":
        return full[m - 1:n]
    raise UnsupportedError(f"np.convolve: mode {mode!r} is not 'full', 'same' or 'valid'",
                           user_loc())


def correlate(a: Any, v: Any, mode: str = "valid") -> "Tracer":
    """np.correlate of real 1-D arrays: a convolution with the reversed kernel (reversed
    again when the kernel is the longer, as NumPy's)."""
    a, v = as_tracer(a), as_tracer(v)
    if v.ndim == 1 and a.ndim == 1 and v.size > a.size:
        return convolve(v, a[::-1], mode)[::-1]
    return convolve(a, v[::-1] if v.ndim == 1 else v, mode)


def inner(a: Any, b: Any) -> "Tracer":
    a, b = as_tracer(a), as_tracer(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 1]))


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def tensordot(a: Any, b: Any, axes: Any = 2) -> "Tracer":
    a, b = as_tracer(a), as_tracer(b)
    if isinstance(axes, numbers.Integral):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = ([x] if isinstance(x, numbers.Integral) else list(x) for x in axes)
    ax_a, ax_b = _axes_in_order(ax_a, a.ndim), _axes_in_order(ax_b, b.ndim)
    if len(ax_a) != len(ax_b) or any(a.shape[i] != b.shape[j] for i, j in zip(ax_a, ax_b)):
        raise ShapeError(f"tensordot: shape mismatch for sum: {a.shape} axes {ax_a} and "
                         f"{b.shape} axes {ax_b}", user_loc())
    la = _LETTERS[:a.ndim]
    lb = list(_LETTERS[a.ndim:a.ndim + b.ndim])
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = [c for d, c in enumerate(la) if d not in ax_a] + \
        [c for d, c in enumerate(lb) if d not in ax_b]
    return einsum(f"{la},{''.join(lb)}->{''.join(out)}", a, b)


def einsum(subscripts: Any, *operands: Any, optimize: Any = None, **unsupported) -> "Tracer":
    """np.einsum by pairwise contraction, left to right: repeated labels within an operand
    take a diagonal, labels needed nowhere later are summed, and each pair is either a
    (batched) matmul or a broadcast multiply and sum (vectors, outer products, no
    contraction). ``optimize`` is accepted and ignored."""
    _no_extra("einsum", unsupported)
    if not isinstance(subscripts, str):
        raise UnsupportedError("einsum: only the subscripts-string form is supported",
                               user_loc())
    spec = subscripts.replace(" ", "")
    ops = [as_tracer(o) for o in operands]
    if "." in spec:
        spec, ops = _ellipsis(spec, ops)
    ins, arrow, out = spec.partition("->")
    terms = ins.split(",")
    if len(terms) != len(ops):
        raise ShapeError(f"einsum: {len(terms)} operand subscripts for {len(ops)} operands",
                         user_loc())
    letters = ins.replace(",", "")
    if not arrow:
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    size: dict[str, int] = {}
    for t, lab in zip(ops, terms):
        if not all(c in _LETTERS for c in lab) or len(lab) != t.ndim:
            raise ShapeError(f"einsum: subscripts {lab!r} do not fit an operand of shape "
                             f"{t.shape}", user_loc())
        for c, s in zip(lab, t.shape):
            if size.setdefault(c, s) != s:
                if 1 not in (size[c], s):  # (a size of 1 broadcasts, as in NumPy)
                    raise ShapeError(f"einsum: label {c!r} has sizes {size[c]} and {s} in "
                                     f"{subscripts!r}", user_loc())
                size[c] = max(size[c], s)
    if len(set(out)) != len(out) or any(c not in size for c in out):
        raise ShapeError(f"einsum: bad output subscripts {out!r} in {subscripts!r}", user_loc())
    cur = []
    for t, lab in zip(ops, terms):
        if any(size[c] != s for c, s in zip(lab, t.shape)):
            t = broadcast_to(t, tuple(size[c] for c in lab))
        for c in lab:
            while lab.count(c) > 1:
                i = lab.index(c)
                j = lab.index(c, i + 1)
                t = diagonal(t, 0, i, j)
                lab = lab[:i] + lab[i + 1:j] + lab[j + 1:] + c
        cur.append((t, lab))

    def summed(t: "Tracer", lab: str, keep: set) -> tuple["Tracer", str]:
        axes = [d for d, c in enumerate(lab) if c not in keep]
        return (reduce("sum", t, tuple(axes)) if axes else t,
                "".join(c for c in lab if c in keep))

    later = [set(out)]
    for _, lab in reversed(cur[1:]):
        later.insert(0, later[0] | set(lab))
    t, lab = summed(*cur[0], later[0])
    for k, (u, ulab) in enumerate(cur[1:]):
        keep = later[k + 1] if k + 1 < len(later) else set(out)
        u, ulab = summed(u, ulab, keep | set(lab))
        t, lab = _contract(t, lab, u, ulab, keep, size)
    return transpose(t, [lab.index(c) for c in out])


def _ellipsis(spec: str, ops: list["Tracer"]) -> tuple[str, list["Tracer"]]:
    """``spec`` with each '...' spelt out in unused letters, right-aligned across the
    operands, which are broadcast to the common shape of those axes (einsum broadcasts
    there only); with no '->', the ellipsis axes lead the output, as in NumPy."""
    ins, arrow, out = spec.partition("->")
    terms = ins.split(",")
    if len(terms) != len(ops) or any(t.replace("...", "").count(".") for t in terms + [out]):
        raise ShapeError(f"einsum: malformed subscripts {spec!r} for {len(ops)} operand(s)",
                         user_loc())
    ranks = [t.ndim - len(lab) + 3 if "..." in lab else 0 for t, lab in zip(ops, terms)]
    if min(ranks) < 0:
        raise ShapeError(f"einsum: subscripts {spec!r} do not fit operands of shapes "
                         f"{', '.join(str(t.shape) for t in ops)}", user_loc())
    parts = [t.shape[lab.index("..."):lab.index("...") + r] if "..." in lab else ()
             for t, lab, r in zip(ops, terms, ranks)]
    common = broadcast_shapes(*parts)
    free = [c for c in _LETTERS if c not in spec][:len(common)]
    new_ops, new_terms = [], []
    for t, lab, r in zip(ops, terms, ranks):
        if "..." in lab:
            i = lab.index("...")
            t = broadcast_to(t, t.shape[:i] + common[len(common) - r:] + t.shape[i + r:])
            lab = lab.replace("...", "".join(free[len(free) - r:] if r else ""))
        new_ops.append(t)
        new_terms.append(lab)
    if arrow:
        out = out.replace("...", "".join(free))
    else:
        letters = "".join(new_terms)
        out = "".join(free) + "".join(sorted(c for c in set(letters)
                                             if letters.count(c) == 1 and c not in free))
    return ",".join(new_terms) + "->" + out, new_ops


def _contract(a, la, b, lb, keep, size):
    batch = [c for c in la if c in lb and c in keep]
    summed = [c for c in la if c in lb and c not in keep]
    fa = [c for c in la if c not in lb]
    fb = [c for c in lb if c not in la]

    def prod(labels):
        return int(np.prod([size[c] for c in labels], dtype=np.int64))

    bshape = tuple(size[c] for c in batch)
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype.kind == "f" and summed and prod(fa) > 1 and prod(fb) > 1:
        at = reshape(transpose(a, [la.index(c) for c in batch + fa + summed]),
                     bshape + (prod(fa), prod(summed)))
        bt = reshape(transpose(b, [lb.index(c) for c in batch + summed + fb]),
                     bshape + (prod(summed), prod(fb)))
        r = matmul(at, bt)
        return reshape(r, bshape + tuple(size[c] for c in fa + fb)), "".join(batch + fa + fb)
    order = batch + fa + fb + summed

    def aligned(t, lab):
        mine = [c for c in order if c in lab]
        t = transpose(t, [lab.index(c) for c in mine])
        return reshape(t, tuple(size[c] if c in lab else 1 for c in order))

    r = aligned(a, la) * aligned(b, lb)
    n = len(order) - len(summed)
    return (reduce("sum", r, tuple(range(n, len(order)))) if summed else r), "".join(order[:n])


def take(x: Any, indices: Any, axis: Any = None, out: Any = None, mode: Any = None) -> "Tracer":
    """np.take: a gather along ``axis``; its adjoint adds into the taken places (repeated
    indices accumulate). Constant indices are checked here; others by the compiled code."""
    _no_extra("take", {"out": out})
    x = as_tracer(x)
    if axis is None:
        x, axis = reshape(x, -1), 0
    axis = _axes(axis, x.ndim)[0]
    n = x.shape[axis]
    indices = _integer_indices(indices)
    if mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    elif mode == "wrap":
        indices = np.remainder(indices, n)
    elif mode not in (None, "raise"):
        raise UnsupportedError(f"np.take: mode={mode!r} is not supported", user_loc())
    if not isinstance(indices, Tracer):
        indices = _checked_constant(indices, x, axis)
    if indices.ndim == 0:
        r = apply("gather", x, reshape(indices, (1,)) if isinstance(indices, Tracer)
                  else indices.reshape(1), axis=axis)
        return reshape(r, x.shape[:axis] + x.shape[axis + 1:])
    return apply("gather", x, indices, axis=axis)


def take_along_axis(arr: Any, indices: Any, axis: Any) -> "Tracer":
    """np.take_along_axis: ``indices`` picks along ``axis``, the other axes broadcast; the
    same gather as ``arr[i0, indices, i2]`` with ``arange`` on the other axes."""
    arr = as_tracer(arr)
    if axis is None:
        arr, axis = reshape(arr, -1), 0
    nd = indices.ndim if isinstance(indices, Tracer) else np.ndim(indices)
    if nd != arr.ndim:
        raise ShapeError(f"take_along_axis: indices have {nd} dimension(s), the array "
                         f"{arr.ndim}; they must match", user_loc())
    axis = _axes(axis, arr.ndim)[0]
    if arr.ndim == 1:
        return take(arr, indices, axis=0)
    return _arrays_getitem(arr, tuple(
        indices if d == axis else np.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
        for d, n in enumerate(arr.shape)))


def put_along_axis(arr: Any, indices: Any, values: Any, axis: Any) -> None:
    """np.put_along_axis, in place: the assignment ``arr[...] = values`` at the places
    np.take_along_axis reads (see ``_set`` for which traced places it takes)."""
    if not isinstance(arr, Tracer):
        raise UnsupportedError("np.put_along_axis with traced values needs a traced array "
                               "(np.zeros inside the function makes one)", user_loc())
    if axis is None:
        raise UnsupportedError("np.put_along_axis: axis=None is not supported", user_loc())
    nd = indices.ndim if isinstance(indices, Tracer) else np.ndim(indices)
    if nd != arr.ndim:
        raise ShapeError(f"put_along_axis: indices have {nd} dimension(s), the array "
                         f"{arr.ndim}; they must match", user_loc())
    axis = _axes(axis, arr.ndim)[0]
    arr[tuple(indices if d == axis else
              np.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
              for d, n in enumerate(arr.shape))] = values


# ----------------------------------------------------------------------------- sorting
def argsort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None,
            stable: Any = None) -> "Tracer":
    """np.argsort, always stable (NumPy's default quicksort leaves the order of equal values
    open; this is one it allows). NaNs go last."""
    _no_extra("argsort", {"order": order})
    a = as_tracer(a)
    if axis is None:
        a, axis = reshape(a, -1), 0
    if a.ndim == 0:
        raise ShapeError("np.argsort of a 0-d array", user_loc())
    return apply("argsort", a.astype(np.int8) if a.dtype == bool else a,
                 axis=_axes(axis, a.ndim)[0])


def sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None,
         stable: Any = None) -> "Tracer":
    """np.sort: a gather at argsort's places, so the gradient goes back to where each value
    came from."""
    a = as_tracer(a)
    if axis is None:
        a, axis = reshape(a, -1), 0
    order_ = argsort(a, axis, kind, order)
    return take_along_axis(a, order_, axis)


def _lines(a: "Tracer", axis: Any) -> tuple["Tracer", tuple[int, ...]]:
    """``a`` sorted along the axes of ``axis`` (all for None), moved last and merged."""
    axes = _axes(axis, a.ndim)
    rest = [d for d in range(a.ndim) if d not in axes]
    t = transpose(a, rest + list(axes))
    t = reshape(t, t.shape[:len(rest)] + (-1,))
    if not t.shape[-1]:
        raise ShapeError("the median or a quantile of an empty array", user_loc())
    return sort(t, -1), axes


def _order_statistic(a: Any, axis: Any, keepdims: bool, pick: Callable) -> "Tracer":
    """``pick(sorted lines, n)`` of ``a`` along ``axis``, NaN where a line holds one (it
    sorts last), with NumPy's shape for ``keepdims``."""
    a = as_tracer(a)
    s, axes = _lines(a, axis)
    out = pick(s, s.shape[-1])
    if a.dtype.kind == "f":
        last = s[..., -1]
        out = np.where(last != last, last, out)
    if keepdims:
        lead = out.shape[:out.ndim - (a.ndim - len(axes))]
        out = reshape(out, lead + tuple(1 if d in axes else n for d, n in enumerate(a.shape)))
    return out


def median(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
           keepdims: bool = False) -> "Tracer":
    """np.median: the middle of the sorted line, or the mean of the two middles."""
    _no_extra("median", {"out": out})
    a = as_tracer(a)
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)

    def pick(s, n):
        s = s.astype(dtype)
        return s[..., n // 2] if n % 2 else (s[..., n // 2 - 1] + s[..., n // 2]) / 2
    return _order_statistic(a, axis, keepdims, pick)


def quantile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
             method: str = "linear", keepdims: bool = False, weights: Any = None) -> "Tracer":
    """np.quantile with NumPy's default (linear) method: between the sorted values at the
    floor and the ceiling of q * (n - 1), by NumPy's own interpolation formula."""
    _no_extra("quantile", {"out": out, "weights": weights})
    if method != "linear":
        raise UnsupportedError(f"np.quantile: method {method!r} (only 'linear')", user_loc())
    if isinstance(q, Tracer):
        raise UnsupportedError("np.quantile: q must be a constant, not a traced value",
                               user_loc())
    weak = _is_weak(q)
    qs = np.asarray(q, np.float64)
    if ((qs < 0) | (qs > 1)).any() or np.isnan(qs).any():
        raise ShapeError("np.quantile: quantiles must be in the range [0, 1]", user_loc())
    a = as_tracer(a)
    dtype = a.dtype if a.dtype.kind == "f" and weak else np.result_type(a.dtype, np.float64)

    def pick(s, n):
        s = s.astype(dtype)
        virtual = n * qs + (1 - qs) - 1  # as NumPy computes it
        below = np.floor(virtual).astype(np.int64)
        above = np.minimum(below + 1, n - 1)
        t = virtual - below
        values = []
        for b, c, w in zip(below.ravel(), above.ravel(), t.ravel()):
            lo, hi = s[..., int(b)], s[..., int(c)]
            w = dtype.type(w)
            values.append(hi - (hi - lo) * (1 - w) if w >= 0.5 else lo + (hi - lo) * w)
        return values[0] if not qs.ndim else reshape(stack(values), qs.shape + s.shape[:-1])
    return _order_statistic(a, axis, keepdims, pick)


def percentile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
               method: str = "linear", keepdims: bool = False, weights: Any = None) -> "Tracer":
    if isinstance(q, Tracer):
        raise UnsupportedError("np.percentile: q must be a constant, not a traced value",
                               user_loc())
    qs = np.asarray(q, np.float64)
    if ((qs < 0) | (qs > 100)).any() or np.isnan(qs).any():
        raise ShapeError("np.percentile: percentiles must be in the range [0, 100]", user_loc())
    q = q / 100 if _is_weak(q) else np.true_divide(q, 100)
    return quantile(a, q, axis, out, overwrite_input, method, keepdims, weights)


def _before(a: Any, v: Any, right: bool) -> "Tracer":
    """Whether ``a`` sorts before ``v`` (``a < v``; with ``right``, ``a <= v``), NaNs last."""
    if right:
        return (a <= v) | (v != v)
    return (a < v) | ((v != v) & (a == a))


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> "Tracer":
    """np.searchsorted of a sorted 1-D ``a``: for each ``v``, how many of ``a`` go before
    it (a count of comparisons, n * m of them)."""
    _no_extra("searchsorted", {"sorter": sorter})
    if side not in ("left", "right"):
        raise UnsupportedError(f"np.searchsorted: side must be 'left' or 'right', got "
                               f"{side!r}", user_loc())
    a, v = as_tracer(a), as_tracer(v)
    if a.ndim != 1:
        raise ShapeError(f"np.searchsorted: the sorted array must be 1-D, got shape {a.shape}",
                         user_loc())
    hits = _before(a, expand_dims(v, -1), side == "right")
    return reduce("sum", hits.astype(np.int64), -1)


def digitize(x: Any, bins: Any, right: bool = False) -> "Tracer":
    """np.digitize with constant monotonic ``bins``: a searchsorted of them."""
    b = bins.value if isinstance(bins, Tracer) else np.asarray(bins)
    if b is None:
        raise UnsupportedError("np.digitize needs constant bins", user_loc())
    if b.ndim != 1:
        raise ShapeError("np.digitize: bins must be 1-dimensional", user_loc())
    d = np.diff(b)
    side = "left" if right else "right"
    if (d >= 0).all():
        return searchsorted(b, x, side)
    if (d <= 0).all():
        return b.size - searchsorted(b[::-1], x, side)
    raise ShapeError("np.digitize: bins must be monotonically increasing or decreasing",
                     user_loc())


def bincount(x: Any, weights: Any = None, minlength: int = 0) -> "Tracer":
    """np.bincount: a scatter_add of ones (or the weights) into the bins. Of traced integers
    the result's length would depend on the data, so ``minlength`` must give it, and a value
    past it (or below 0) is an out-of-bounds error at run time; of constant ones (with traced
    weights) it is NumPy's."""
    x = as_tracer(x)
    if x.ndim != 1 or x.dtype.kind not in "iub":
        raise ShapeError(f"np.bincount takes a 1-D array of integers, got {x.dtype} of shape "
                         f"{x.shape}", user_loc())
    known = _known(weights)
    if x.value is not None:
        if weights is None or known is not None:
            return as_tracer(np.bincount(x.value, known, minlength))
        minlength = len(np.bincount(x.value, minlength=minlength))  # (raises as NumPy does)
    if not minlength:
        raise UnsupportedError("np.bincount of traced values: the result's length depends on "
                               "the data; give minlength= (a value at or past it raises)",
                               user_loc())
    w = np.ones(x.shape, np.int64) if weights is None else as_tracer(weights).astype(np.float64)
    if w.shape != x.shape:
        raise ShapeError(f"np.bincount: weights of shape {w.shape} for values of shape "
                         f"{x.shape}", user_loc())
    if x.dtype.kind == "u":  # (uint64 past int64's range stays out of range)
        x = _integer_indices(x)
    return apply("scatter_add", w, x.astype(np.int64), axis=0, size=int(minlength), bins=True)


def _no_extra(name: str, kwargs: dict) -> None:
    extra = [k for k, v in kwargs.items() if v is not None]
    if extra:
        raise UnsupportedError(f"{name}: argument(s) {', '.join(extra)} not supported", user_loc())


def _ufunc_call(name: str) -> Callable[..., "Tracer"]:
    return lambda *args: apply(name, *args)


# ---------------------------------------------------------------------- in-place updates
# A NumPy array is mutable: ``x += y`` and ``x[i] = v`` change it, and every view of it (x[0],
# x.T, x.reshape(...)) sees the change. A Tracer stands for one array object: an update gives
# it a new node, and each live view taken of it with a NumPy view function (registered by
# ``_viewed``) is read again from that node; an update of a view writes through to its base.
# Copies are new Tracer objects, so they keep their values, as NumPy's do.
_LAYOUT = ("slice", "reshape", "transpose", "broadcast_to")

# Node ids below this belong to an enclosing trace: a scan's step must not change those arrays.
scope_start: ContextVar[int] = ContextVar("graphc_scope_start", default=-1)


class _View:
    """How a view reads its base: the layout ``ops`` (op name, params) applied to it in turn.
    ``writable`` is False for NumPy's read-only views (np.broadcast_to, np.diagonal);
    ``strides`` is None for a reshape of a strided view, which NumPy may have copied or not:
    graphc then refuses to update either side while both are alive. ``key`` is the index
    object of a view made by ``base[key]``."""

    __slots__ = ("base", "ops", "writable", "strides", "key")

    def __init__(self, base: "Tracer", ops: tuple, writable: bool, strides, key=None):
        self.base, self.ops, self.writable, self.strides = base, ops, writable, strides
        self.key = key

    def read(self, base: "Tracer") -> "Tracer":
        for op, params in self.ops:
            base = apply(op, base, **params)
        return base


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(np.prod(shape[d + 1:])) for d in range(len(shape)))


def _layout_strides(m: Node, strides: tuple[int, ...]) -> tuple[int, ...] | None:
    """The element strides of layout node ``m``'s result, its input having ``strides``, as
    NumPy lays out the view (None: NumPy may copy, a reshape graphc does not follow)."""
    x = m.inputs[0]
    if m.op == "slice":  # an int drops its axis; axes past the index are whole
        index = m.params["index"]
        return tuple(st * (index[d][2] if d < len(index) else 1) for d, st in enumerate(strides)
                     if d >= len(index) or not isinstance(index[d], int))
    if m.op == "transpose":
        return tuple(strides[a] for a in m.params["axes"])
    if m.op == "broadcast_to":
        lead = m.ndim - x.ndim
        return (0,) * lead + tuple(st if n == k else 0
                                   for st, n, k in zip(strides, x.shape, m.shape[lead:]))
    if [n for n in x.shape if n != 1] == [n for n in m.shape if n != 1]:  # only 1s moved
        kept = iter([st for st, n in zip(strides, x.shape) if n != 1])
        return tuple(next(kept) if n != 1 else 0 for n in m.shape)
    expect = 1
    for n, st in zip(reversed(x.shape), reversed(strides)):
        if n != 1 and st != expect:
            return None
        expect *= n
    return _c_strides(m.shape)


def _register(base: Any, out: Any, writable: bool = True, key: Any = None) -> Any:
    """Record ``out`` as a view of ``base`` when it was made from ``base`` by layout ops alone
    (else it is a copy, or ``base`` itself, and stays as it is)."""
    if not isinstance(base, Tracer) or not isinstance(out, Tracer) or out is base:
        return out
    chain, n = [], out.node
    while n is not base.node:
        if n.op not in _LAYOUT or len(n.inputs) != 1:
            return out
        chain.append(n)
        n = n.inputs[0]
    v = base._view
    strides = _c_strides(base.shape) if v is None else v.strides
    for m in reversed(chain):
        strides = None if strides is None else _layout_strides(m, strides)
    out._view = _View(base, tuple((m.op, m.params) for m in reversed(chain)), writable,
                      strides, key)
    base._views = [r for r in base._views or () if r() is not None] + [weakref.ref(out)]
    return out


def _viewed(fn: Callable, writable: bool = True) -> Callable:
    """``fn`` (a NumPy function that returns a view of its first argument, or a list of
    views) registering what it returns as views of that argument."""
    def view_fn(x, *args, **kwargs):
        out = fn(x, *args, **kwargs)
        if isinstance(out, list):
            return [_register(x, o, writable) for o in out]
        return _register(x, out, writable)
    view_fn.is_view = True  # type: ignore[attr-defined]
    return view_fn


def _same_node(a: Node, b: Node, depth: int = 3) -> bool:
    """Whether two nodes are surely one value: equal by CSE's key (the same operation and
    parameters on the same inputs; equal constants), or the same operation and parameters
    on inputs that are, in turn (a mask written twice, x >= 0)."""
    ka, kb = a.key(), b.key()
    if ka == kb:
        return True
    return depth > 0 and ka[::2] == kb[::2] and bool(a.inputs) and len(a.inputs) == len(
        b.inputs) and all(_same_node(i, j, depth - 1) for i, j in zip(a.inputs, b.inputs))


def _set(x: "Tracer", index: Any, value: Any) -> "Tracer":
    """The value of ``x`` after ``x[index] = value``: NumPy's assignment, which casts the
    value to x's dtype and broadcasts it to the indexed shape; the last of repeated indices
    wins. Indices are ints, slices, constant integer or boolean arrays, or one traced boolean
    mask of x's shape (then a single value)."""
    if isinstance(value, Selection):  # x[mask] = f(y[mask]), the same mask: a where
        mask = index[0] if isinstance(index, tuple) and len(index) == 1 else index
        if not (isinstance(mask, Tracer) and _same_node(mask.node, value.mask.node)
                and mask.shape == x.shape == value.full.shape):
            raise refused("x[mask] = y[other_mask] (it is supported for one mask of x's "
                          "shape on both sides)")
        return where(mask, value.full.astype(x.dtype), x)
    if x.node.constant and (known := _known((index, value))) is not None:
        new = x.value.copy()  # constants stay constants: NumPy's own assignment, done now
        new[known[0]] = known[1]
        return Tracer(const(new))
    value = value.astype(x.dtype) if isinstance(value, Tracer) else \
        np.asarray(value).astype(x.dtype)
    index = _index_tuple(index)
    masks = [i for i in index if isinstance(i, Tracer) and i.dtype.kind == "b"]
    if masks:
        if len(index) != 1 or masks[0].shape != x.shape or np.size(value) != 1:
            raise UnsupportedError(
                "x[mask] = v is supported for a mask of x's shape and a single value v "
                "(it is np.where(mask, v, x))", user_loc())
        return where(masks[0], reshape(value, ()), x)
    if any(isinstance(i, Tracer) for i in index):
        return _set_traced(x, index, value)
    if any(_is_array_index(i) for i in index):  # constant integer arrays
        try:
            places = np.arange(x.size).reshape(x.shape)[index]
        except IndexError as e:
            raise OutOfBoundsError(f"assignment: {e}", user_loc()) from None
        value = _broadcast_value(value, places.shape)
        source = np.full(x.size, -1)
        source[places.ravel()] = np.arange(places.size)  # the last write wins, as in NumPy
        picked = take(reshape(value, -1), np.maximum(source, 0))
        return where((source >= 0).reshape(x.shape), reshape(picked, x.shape), x)
    target = getitem(x, index)
    value = _broadcast_value(value, target.shape)
    if target is x:
        return value
    sliced = target.node if target.node.op == "slice" else target.node.inputs[0]  # newaxis
    norm = sliced.params["index"]
    inside = np.zeros(x.shape, bool)
    inside[pyindex(norm)] = True
    return where(inside, _unslice(reshape(value, sliced.shape), x.shape, norm), x)


def _places(x: "Tracer", index: tuple) -> "Tracer":
    """The flat positions in ``x`` that ``x[index]`` reads, in its shape: the same indexing
    of a constant ``arange``, so traced indices are checked on their axes as a read's are."""
    return getitem(as_tracer(np.arange(x.size).reshape(x.shape)), index)


def _scattered(value: "Tracer", places: "Tracer", shape: tuple[int, ...]) -> "Tracer":
    """An array of ``shape``, zero but for ``value`` added into the flat ``places``."""
    out = apply("scatter_add", reshape(value, -1), reshape(places, -1), axis=0,
                size=int(np.prod(shape)))
    return reshape(out, shape)


def _set_traced(x: "Tracer", index: tuple, value: Any) -> "Tracer":
    """``x[index] = value`` where an index is a traced integer array: the value is scattered
    into the places written. Where a place is written twice NumPy keeps the last write, an
    order compiled code cannot follow when places are known only at run time; so the value
    must be a single number (every write the same), or a constant index array must keep the
    places apart, as ``np.arange(n)`` does in ``x[np.arange(n), labels] = v``."""
    places = _places(x, index)
    single = np.size(value) == 1
    if not single:
        fixed = tuple(np.zeros(i.shape, np.int64) if isinstance(i, Tracer) else i
                      for i in index)  # the places as the constant indices alone spread them
        apart = np.arange(x.size).reshape(x.shape)[fixed]
        if np.unique(apart).size != apart.size:
            raise UnsupportedError(
                "x[i] = v at traced integer indices i: the places written may repeat, and "
                "NumPy's last-write-wins cannot be followed when they are known only at run "
                "time. Assign a single value, index with a constant array that keeps the "
                "places apart (x[np.arange(n), labels] = v), or add with np.add.at(x, i, v)",
                user_loc())
    hit = _scattered(np.ones(places.shape, np.float32), places, x.shape) > 0
    spread = _broadcast_value(value, places.shape)
    if single:
        return where(hit, reshape(value, ()), x)
    work = spread if x.dtype.kind in "iuf" else spread.astype(np.int8)  # scatter adds numbers
    return where(hit, _scattered(work, places, x.shape).astype(x.dtype), x)


def add_at(a: Any, indices: Any, b: Any = None, negate: bool = False) -> None:
    """np.add.at (np.subtract.at): ``b`` added into ``a[indices]`` in place, unbuffered, so
    repeated places add up (a scatter_add)."""
    if not isinstance(a, Tracer):
        raise UnsupportedError(
            "np.add.at into a NumPy array with a traced index or value: make the array "
            "traced too (np.zeros and the like do, written in the traced function; or "
            "a = np.zeros_like(v, shape=...))", user_loc())
    if b is None:
        raise UnsupportedError("np.add.at needs the values to add", user_loc())
    places = _places(a, _index_tuple(indices))
    b = _broadcast_value(as_tracer(b).astype(a.dtype), places.shape)
    if a.dtype.kind not in "iuf":
        raise UnsupportedError(f"np.add.at into an array of {a.dtype}", user_loc())
    added = _scattered(-b if negate else b, places, a.shape)
    _assign(a, a + added)


def ufunc_method(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``np.add.reduce`` and the like (the reductions they are), ``np.add.accumulate``
    (cumsum) and the multiply, maximum and minimum ones, ``np.add.at`` / ``np.subtract.at``."""
    what = f"numpy.{ufunc.__name__}.{method}"
    if method in ("reduce", "accumulate") and len(inputs) == 1:
        kw = dict(kwargs)
        axis, dtype, keepdims = kw.pop("axis", 0), kw.pop("dtype", None), kw.pop("keepdims", False)
        _no_extra(what, kw)
        if method == "accumulate" and ufunc is np.add:
            return cumsum(inputs[0], axis, dtype)
        if method == "accumulate" and ufunc is np.multiply:
            return cumprod(inputs[0], axis, dtype)
        if method == "accumulate" and ufunc in (np.maximum, np.minimum):
            return _accumulated("cummax" if ufunc is np.maximum else "cummin")(inputs[0], axis,
                                                                               dtype)
        if method == "reduce" and ufunc in (np.logical_and, np.logical_or):
            _no_extra(what, {"dtype": dtype})
            return _all_any("all" if ufunc is np.logical_and else "any")(inputs[0], axis,
                                                                          keepdims)
        if method == "reduce" and ufunc in (np.logaddexp, np.logaddexp2):
            from .numpy import logsumexp

            _no_extra(what, {"dtype": dtype})
            if ufunc is np.logaddexp:
                return logsumexp(inputs[0], axis=axis, keepdims=keepdims)
            return logsumexp(as_tracer(inputs[0]) * math.log(2), axis=axis,
                             keepdims=keepdims) / math.log(2)
        name = {np.add: "sum", np.multiply: "prod", np.maximum: "max",
                np.minimum: "min"}.get(ufunc)
        if method == "reduce" and name:
            return reduce(name, inputs[0], axis, keepdims, dtype=dtype)
    if method == "at" and ufunc in (np.add, np.subtract) and not kwargs:
        return add_at(*inputs, negate=ufunc is np.subtract)
    raise UnsupportedError(f"{what} is not supported by graphc", user_loc())


def _broadcast_value(value: Any, shape: tuple[int, ...]) -> "Tracer":
    """``value`` broadcast to ``shape`` as an assignment does (only ``value`` stretches)."""
    try:
        if np.broadcast_shapes(np.shape(value), shape) != tuple(shape):
            raise ValueError
    except ValueError:
        raise ShapeError(f"could not broadcast input array from shape {np.shape(value)} into "
                         f"shape {tuple(shape)}", user_loc()) from None
    return broadcast_to(value, shape)


def _assign(t: "Tracer", new: "Tracer") -> None:
    """Give array ``t`` the contents ``new`` (its shape and dtype), as NumPy's in-place
    update does: a view writes through to its base, and live views are read again."""
    if t.node.id < scope_start.get():
        raise UnsupportedError("a scan step cannot change an array from outside it in place; "
                               "pass it in the carry and return the new value", user_loc())
    v = t._view
    if v is None:
        t.node = new.node
        _refresh(t)
        return
    if not v.writable:
        raise UnsupportedError("assignment destination is read-only (a view made by "
                               "np.broadcast_to or np.diagonal, as in NumPy)", user_loc())
    if v.strides is None:
        raise UnsupportedError("in-place update of a reshape of a strided view (NumPy may "
                               "have copied it or not); reshape a .copy() instead", user_loc())
    _assign(v.base, _write_back(v.ops, v.base, new))


def _write_back(ops: tuple, base: "Tracer", new: "Tracer") -> "Tracer":
    """The value of ``base`` whose view through layout ``ops`` is ``new``."""
    if not ops:
        return new
    (op, params), rest = ops[0], ops[1:]
    inner = _write_back(rest, apply(op, base, **params), new)
    if op == "slice":
        return _set(base, pyindex(params["index"]), inner)
    if op == "transpose":
        return transpose(inner, tuple(int(a) for a in np.argsort(params["axes"])))
    return reshape(inner, base.shape)  # reshape (broadcast_to views are read-only)


def _refresh(t: "Tracer") -> None:
    """Read every live view of ``t`` (and theirs) again from its new node."""
    alive = []
    for ref in t._views or ():
        w = ref()
        if w is None:
            continue
        if w._view.strides is None:
            raise UnsupportedError(
                "an array changed in place while a reshape of a strided view of it is alive "
                "(NumPy may have copied that reshape or not); reshape a .copy() instead",
                user_loc())
        alive.append(ref)
        w.node = w._view.read(t).node
        _refresh(w)
    t._views = alive


# ndarray methods and attributes that write into the array or hand out a view to write
# through: a constant Tracer does not answer them from its value, a copy.
_WRITERS = {"put", "itemset", "resize", "partition", "setfield", "setflags", "byteswap",
            "flat", "view", "data", "ctypes", "real", "imag", "base", "getfield"}
# NumPy functions that write into their first argument: run on a copy of a constant's value,
# which then becomes the array's.
_MUTATING = {np.copyto, np.put, np.place, np.putmask}


def _known(tree: Any) -> Any:
    """``tree`` (arguments: tuples, lists and dicts of them) with each Tracer replaced by its
    value, or None when one is not a constant."""
    if isinstance(tree, Tracer):
        return tree.value
    if isinstance(tree, (tuple, list)):
        out = [_known(v) for v in tree]
        if any(o is None and v is not None for o, v in zip(out, tree)):
            return None
        return type(tree)(out)
    if isinstance(tree, dict):
        known = _known(list(tree.values()))
        return None if known is None else dict(zip(tree, known))
    return tree


def _not_an_input(out: Any, args: tuple) -> Any:
    """``out``, or a new Tracer of its value where a NumPy function that copies handed back
    one of its arguments (np.positive(x), np.pad by 0): a later update must not reach it."""
    if isinstance(out, Tracer) and any(out is a or isinstance(a, (list, tuple)) and
                                       any(out is b for b in a) for a in args):
        return Tracer(out.node)
    return out


def _store(target: "Tracer", new: Any, name: str) -> "Tracer":
    """Keep ``new`` in ``target``, cast to its dtype by NumPy's same_kind rule, as an
    operation with an output operand does (``x += y``, ``np.tanh(x, out=x)``)."""
    new = as_tracer(new)
    if new.shape != target.shape:
        if broadcast_shapes(new.shape, target.shape) != target.shape:
            raise ShapeError(f"{name}: non-broadcastable output operand with shape "
                             f"{target.shape} doesn't match the broadcast shape {new.shape}",
                             user_loc())
        new = broadcast_to(new, target.shape)
    if new.dtype != target.dtype:
        if not np.can_cast(new.dtype, target.dtype, "same_kind"):
            raise UnsupportedError(f"{name}: cannot cast the result from {new.dtype} to "
                                   f"{target.dtype} with casting rule 'same_kind'", user_loc())
        new = new.astype(target.dtype)
    _assign(target, new)
    return target


def _inplace(op: Callable, name: str) -> Callable:
    """``x op= y``: the result cast back to x's dtype (NumPy's same_kind rule) and kept in x."""
    def method(self, other):
        return _store(self, op(self, other), name)
    return method


# NumPy callables a Tracer answers to; anything else raises UnsupportedError naming it.
FUNCTIONS: dict[Callable, Callable] = {
    np.sum: lambda x, axis=None, keepdims=False, **kw: reduce("sum", x, axis, keepdims, **kw),
    np.max: lambda x, axis=None, keepdims=False, **kw: reduce("max", x, axis, keepdims, **kw),
    np.min: lambda x, axis=None, keepdims=False, **kw: reduce("min", x, axis, keepdims, **kw),
    np.amax: lambda x, axis=None, keepdims=False, **kw: reduce("max", x, axis, keepdims, **kw),
    np.amin: lambda x, axis=None, keepdims=False, **kw: reduce("min", x, axis, keepdims, **kw),
    np.all: _all_any("all"), np.any: _all_any("any"), np.average: average,
    np.mean: mean, np.var: var, np.std: std,
    np.copy: lambda a, order="K", subok=False: Tracer(as_tracer(a).node),
    np.reshape: _viewed(reshape), np.transpose: _viewed(transpose),
    np.swapaxes: _viewed(swapaxes), np.broadcast_to: _viewed(broadcast_to, writable=False),
    np.squeeze: _viewed(squeeze), np.expand_dims: _viewed(expand_dims),
    np.ravel: lambda x, order="C": as_tracer(x).ravel(order),
    np.matmul: matmul, np.dot: dot, np.where: where,
    np.concatenate: concatenate, np.stack: stack,
    np.shape: lambda x: as_tracer(x).shape, np.ndim: lambda x: as_tracer(x).ndim,
    np.size: lambda x: as_tracer(x).size,
    np.zeros_like: lambda x, dtype=None, shape=None: full_like(x, 0, dtype, shape),
    np.ones_like: lambda x, dtype=None, shape=None: full_like(x, 1, dtype, shape),
    np.empty_like: lambda x, dtype=None, shape=None: full_like(x, 0, dtype, shape),
    np.full_like: lambda x, fill_value, dtype=None, shape=None: full_like(x, fill_value, dtype,
                                                                         shape),
    np.clip: clip,
    np.square: lambda x: x * x,
    np.reciprocal: reciprocal,
    np.floor: floor_like("floor"), np.ceil: floor_like("ceil"),
    np.logaddexp: logaddexp,
    np.prod: lambda x, axis=None, keepdims=False, **kw: reduce("prod", x, axis, keepdims, **kw),
    np.cumsum: cumsum, np.cumprod: cumprod,
    np.nancumprod: lambda a, axis=None, dtype=None, out=None: cumprod(
        np.where(isnan(a), 1, a), axis, dtype, out=out),
    np.argmax: _arg_extremum("max"), np.argmin: _arg_extremum("min"),
    np.atleast_1d: _viewed(atleast(1)), np.atleast_2d: _viewed(atleast(2)),
    np.atleast_3d: _viewed(atleast(3)),
    np.vstack: vstack, np.hstack: hstack, np.dstack: dstack, np.column_stack: column_stack,
    np.split: _viewed(_split(True)), np.array_split: _viewed(_split(False)),
    np.moveaxis: _viewed(moveaxis), np.flip: _viewed(flip),
    np.fliplr: _viewed(lambda x: flip(x, 1)), np.flipud: _viewed(lambda x: flip(x, 0)),
    np.tile: tile, np.repeat: repeat, np.pad: pad,
    np.diagonal: _viewed(diagonal, writable=False), np.trace: trace,
    np.diag: _viewed(diag, writable=False),
    np.tril: _triangle(True), np.triu: _triangle(False),
    np.outer: outer, np.inner: inner, np.tensordot: tensordot, np.einsum: einsum,
    np.take: take, np.take_along_axis: take_along_axis,
    np.positive: lambda x: x,
    np.true_divide: _ufunc_call("divide"),
    np.logical_and: logical_and, np.logical_or: logical_or, np.logical_xor: logical_xor,
    np.logical_not: logical_not,
    np.bitwise_and: bitwise_and, np.bitwise_or: bitwise_or, np.bitwise_xor: bitwise_xor,
    np.invert: invert,
    np.isnan: isnan, np.isinf: isinf, np.isfinite: isfinite, np.nan_to_num: nan_to_num,
    np.round: around, np.around: around, np.rint: rint, np.trunc: trunc, np.fix: trunc,
    np.fmax: fmax, np.fmin: fmin, np.heaviside: heaviside,
    np.ptp: lambda a, axis=None, keepdims=False: (reduce("max", a, axis, keepdims)
                                                  - reduce("min", a, axis, keepdims)),
    np.diff: diff, np.vdot: vdot, np.cross: cross, np.convolve: convolve,
    np.correlate: correlate, np.argsort: argsort, np.sort: sort, np.median: median,
    np.quantile: quantile, np.percentile: percentile,
    np.logaddexp2: logaddexp2, np.sinc: sinc, np.roll: roll, np.kron: kron,
    np.meshgrid: meshgrid, np.fill_diagonal: fill_diagonal, np.put_along_axis: put_along_axis,
    np.searchsorted: searchsorted, np.digitize: digitize, np.bincount: bincount,
    np.cov: cov, np.corrcoef: corrcoef,
    np.nansum: _nan_reduction("sum", 0), np.nanprod: _nan_reduction("prod", 1),
    np.nanmax: _nan_reduction("max", -np.inf), np.nanmin: _nan_reduction("min", np.inf),
    np.nanmean: _nan_reduction("mean", 0), np.nanvar: _nan_reduction("var", 0),
    np.nanstd: _nan_reduction("std", 0),
    np.nancumsum: lambda a, axis=None, dtype=None, out=None: cumsum(
        np.where(isnan(a), 0, a), axis, dtype, out=out),
}
for _uf, _name in UFUNCS.items():
    FUNCTIONS.setdefault(_uf, _ufunc_call(_name))
FUNCTIONS[np.divmod] = lambda x, y: (np.floor_divide(x, y), np.remainder(x, y))
# NumPy callables refused on traced arrays with a reason of their own (compose.py fills it)
REFUSED: dict[Callable, str] = {}


class Tracer:
    """A traced array. Behaves like a NumPy array inside a function being traced."""

    # _view: how this array views another (None: it owns its data); _views: weak references
    # to the live views of it (see "in-place updates" above)
    __slots__ = ("node", "_view", "_views", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, node: Node):
        self.node = node
        self._view: _View | None = None
        self._views: list | None = None

    shape = property(lambda self: self.node.shape)
    dtype = property(lambda self: self.node.dtype)
    ndim = property(lambda self: self.node.ndim)
    size = property(lambda self: self.node.size)
    T = property(lambda self: _register(self, transpose(self)))
    # a traced array's layout, as if it were C-contiguous (compose.as_strided reads it so)
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.dtype.itemsize)
    strides = property(lambda self: tuple(s * self.dtype.itemsize for s in _c_strides(self.shape)))
    # a real array's complex views (as copies): itself, zeros, itself
    real = property(lambda self: Tracer(self.node))
    imag = property(lambda self: FUNCTIONS[np.imag](self))

    def conj(self) -> "Tracer":
        return Tracer(self.node)

    conjugate = conj

    def __repr__(self) -> str:
        return f"Tracer({self.node!r})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized traced value")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def value(self) -> np.ndarray | None:
        """The NumPy value of a constant (one made from constants alone), else None: Python
        may use it as it would the array (``if``, ``int()``, a NumPy call)."""
        return constant_value(self.node) if self.node.constant else None

    def __bool__(self):
        if (value := self.value) is not None:
            return bool(value)
        raise TracerBoolError(
            "the truth value of a traced array is not known while tracing (Python `if`, `and`, "
            "`or`, `while` or bool() on a traced value); use np.where(cond, a, b) to select "
            "values, or np.maximum / np.minimum", user_loc())

    def _number(kind):
        def convert(self):
            if (value := self.value) is not None:
                return kind(value)
            raise TracerBoolError(
                "a traced value cannot become a Python number (int(), float(), an index or a "
                "range bound) while tracing" + _scalar_hint(self.node), user_loc())
        return convert

    __int__, __float__, __complex__ = _number(int), _number(float), _number(complex)
    __index__ = _number(operator.index)
    item = _number(lambda v: v.item())
    tolist = _number(lambda v: v.tolist())
    del _number

    def __array__(self, dtype=None, copy=None):
        if (value := self.value) is not None:
            return value if dtype is None else value.astype(dtype)
        if (lib := library_call()) is not None:
            raise UnsupportedError(
                f"{lib} (library code, not NumPy) turned a traced value into a NumPy array: "
                "graphc traces NumPy's functions, not the libraries built on them. Write it "
                "with NumPy (graphc.numpy has logsumexp, softmax, log_softmax, sigmoid)"
                + ("; graphc has its own versions of some of SciPy's functions (the README "
                   "lists them), but not of this one" if lib.startswith("scipy.") else ""),
                user_loc())
        if _in_vectorize():
            raise UnsupportedError(
                "np.vectorize calls its function on NumPy numbers, which a traced value cannot "
                "become: write the function with array operations (np.where for its "
                "branches) and call it on the whole array", user_loc())
        hint = _scalar_hint(self.node)
        error = UnsupportedError(
            "a traced value cannot become a NumPy array" + (hint or (
                ". np.array / np.asarray of one, or of a list mixing them: use "
                "graphc.numpy.array([...]) or np.stack; a constant NumPy array indexed by one, "
                "a[i]: index graphc.numpy.constant(a)[i] (a itself outside graphc); one stored "
                "into a NumPy array, a[i] = v: make a traced too (np.zeros and the like do, "
                "written in the traced function; or a = np.zeros_like(v, shape=...))")),
            user_loc())
        error.became_array = True  # (see _stacking)
        raise error

    def __setitem__(self, index, value):
        v = value._view if isinstance(value, Tracer) else None
        if v is not None and v.base is self and v.key is index:
            return  # x[i] op= y: the live view x[i] has written itself through already
        _assign(self, _set(self, index, value))

    __hash__ = object.__hash__

    # NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and kwargs.get("out") is not None and ufunc.nout == 1:
            out = kwargs.pop("out")
            out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
            name = f"numpy.{ufunc.__name__}(out=)"
            if not isinstance(out, Tracer):
                raise UnsupportedError(f"{name}: the output must be a traced array (an argument, "
                                       "or an array made in the traced function: np.zeros and "
                                       "the like), not a NumPy array", user_loc())
            return _store(out, ufunc(*inputs, **kwargs), name)
        if any(isinstance(i, (Selection, Complex)) for i in inputs):
            return NotImplemented  # Selection's own, Complex's own
        if any(map(is_complex_constant, inputs)):
            return complex_ufunc(ufunc, method, inputs, kwargs)
        if (method != "__call__" or ufunc not in FUNCTIONS) and method != "at" and \
                "out" not in kwargs and (known := _known(inputs)) is not None:
            return getattr(ufunc, method)(*known, **kwargs)  # NumPy's, on constants
        if method != "__call__":
            return ufunc_method(ufunc, method, inputs, kwargs)
        fn, what = FUNCTIONS.get(ufunc), f"numpy.{ufunc.__name__}"
        if fn is None:
            fn, what = scipy_ufunc(ufunc)
        if fn is None:
            raise UnsupportedError(f"{what} is not supported by graphc", user_loc())
        if kwargs:
            raise UnsupportedError(f"{what}: keyword argument(s) {', '.join(kwargs)} not "
                                   "supported", user_loc())
        return _not_an_input(fn(*inputs), inputs)

    def __array_function__(self, func, types, args, kwargs):
        if Selection in types or Complex in types:
            return NotImplemented
        fn = FUNCTIONS.get(func)
        if fn is None and (known := _known((args, kwargs))):  # NumPy's, on constants
            if func not in _MUTATING:
                return func(*known[0], **known[1])
            if args and isinstance(args[0], Tracer):  # it writes into its first argument
                dest = known[0][0].copy()
                func(dest, *known[0][1:], **known[1])
                return _assign(args[0], Tracer(const(dest)))
        if fn is None:
            module = getattr(func, "__module__", None) or "numpy"
            raise UnsupportedError(REFUSED.get(func, f"{module}.{func.__name__} is not "
                                               "supported by graphc"), user_loc())
        if isinstance(kwargs.get("out"), Tracer):  # np.clip(h, 0, 1, out=h): as ufuncs' out=
            kwargs = dict(kwargs)
            target = kwargs.pop("out")
            return _store(target, fn(*args, **kwargs), f"numpy.{func.__name__}(out=)")
        out = fn(*args, **kwargs)
        return out if getattr(fn, "is_view", False) else _not_an_input(out, args)

    # operators
    def __add__(self, o): return apply("add", self, o)
    def __radd__(self, o): return apply("add", o, self)
    def __sub__(self, o): return apply("subtract", self, o)
    def __rsub__(self, o): return apply("subtract", o, self)
    def __mul__(self, o): return apply("multiply", self, o)
    def __rmul__(self, o): return apply("multiply", o, self)
    def __truediv__(self, o): return apply("divide", self, o)
    def __rtruediv__(self, o): return apply("divide", o, self)
    def __mod__(self, o): return apply("remainder", self, o)
    def __rmod__(self, o): return apply("remainder", o, self)
    def __floordiv__(self, o): return apply("floor_divide", self, o)
    def __rfloordiv__(self, o): return apply("floor_divide", o, self)
    def __divmod__(self, o): return self // o, self % o
    def __rdivmod__(self, o): return o // self, o % self
    def __pow__(self, o): return apply("power", self, o)
    def __rpow__(self, o): return apply("power", o, self)
    def __matmul__(self, o): return matmul(self, o)
    def __rmatmul__(self, o): return matmul(o, self)
    def __neg__(self): return apply("negative", self)
    def __pos__(self): return Tracer(self.node)
    __iadd__ = _inplace(operator.add, "+=")
    __isub__ = _inplace(operator.sub, "-=")
    __imul__ = _inplace(operator.mul, "*=")
    __itruediv__ = _inplace(operator.truediv, "/=")
    __imod__ = _inplace(operator.mod, "%=")
    __ifloordiv__ = _inplace(operator.floordiv, "//=")
    __ipow__ = _inplace(operator.pow, "**=")
    __imatmul__ = _inplace(operator.matmul, "@=")
    def __abs__(self): return apply("abs", self)
    def __round__(self, ndigits=None): return around(self, ndigits or 0)  # (a float: traced)
    def __and__(self, o): return bitwise_and(self, o)
    def __rand__(self, o): return bitwise_and(o, self)
    def __or__(self, o): return bitwise_or(self, o)
    def __ror__(self, o): return bitwise_or(o, self)
    def __xor__(self, o): return bitwise_xor(self, o)
    def __rxor__(self, o): return bitwise_xor(o, self)
    def __invert__(self): return invert(self)
    __iand__ = _inplace(operator.and_, "&=")
    __ior__ = _inplace(operator.or_, "|=")
    __ixor__ = _inplace(operator.xor, "^=")
    def __lt__(self, o): return apply("less", self, o)
    def __le__(self, o): return apply("less_equal", self, o)
    def __gt__(self, o): return apply("greater", self, o)
    def __ge__(self, o): return apply("greater_equal", self, o)
    def __eq__(self, o): return apply("equal", self, o)
    def __ne__(self, o): return apply("not_equal", self, o)
    def __getitem__(self, index):
        from .passes.updates import forwarded_read

        out = getitem(self, index)  # a number (0-d) is a copy in NumPy, an array a view
        if isinstance(out, Selection):  # x[mask]: a copy
            return out
        if out.ndim:
            _register(self, out, key=index)
        if out.node.op == "slice" and (known := forwarded_read(out.node)) is not None:
            out.node = known  # the same values; a view keeps its way of reading its base
        return out

    # methods
    def sum(self, axis=None, keepdims=False, **kw): return reduce("sum", self, axis, keepdims, **kw)
    def max(self, axis=None, keepdims=False, **kw): return reduce("max", self, axis, keepdims, **kw)
    def min(self, axis=None, keepdims=False, **kw): return reduce("min", self, axis, keepdims, **kw)
    def mean(self, axis=None, keepdims=False, **kw): return mean(self, axis, keepdims, **kw)
    def all(self, axis=None, keepdims=False): return _all_any("all")(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return _all_any("any")(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0, **kw): return var(self, axis, keepdims,
                                                                     ddof, **kw)
    def std(self, axis=None, keepdims=False, ddof=0, **kw): return std(self, axis, keepdims,
                                                                     ddof, **kw)
    def reshape(self, *shape, **kw):
        out = reshape(self, *shape, **kw)  # in F order, a copy (as NumPy's, but for 1-D)
        return _register(self, out) if kw.get("order") in (None, "C") else Tracer(out.node)
    def transpose(self, *axes):
        return _register(self, transpose(self, axes[0] if len(axes) == 1 else axes or None))
    def swapaxes(self, a, b): return _register(self, swapaxes(self, a, b))
    def squeeze(self, axis=None): return _register(self, squeeze(self, axis))
    def ravel(self, order="C"): return self.reshape(-1, order=order)
    def copy(self): return Tracer(self.node)
    def round(self, decimals=0): return around(self, decimals)
    def argsort(self, axis=-1, kind=None, order=None): return argsort(self, axis, kind, order)

    def sort(self, axis=-1, kind=None, order=None):
        _assign(self, sort(self, axis, kind, order))
    def flatten(self, order="C"): return Tracer(reshape(self, -1, order=order).node)
    def dot(self, o): return dot(self, o)
    def clip(self, lo=None, hi=None, **kw): return clip(self, lo, hi, **kw)
    def prod(self, axis=None, keepdims=False, **kw):
        return reduce("prod", self, axis, keepdims, **kw)
    def cumsum(self, axis=None, dtype=None): return cumsum(self, axis, dtype)
    def cumprod(self, axis=None, dtype=None): return cumprod(self, axis, dtype)
    def argmax(self, axis=None, keepdims=False): return _arg_extremum("max")(self, axis,
                                                                             keepdims=keepdims)
    def argmin(self, axis=None, keepdims=False): return _arg_extremum("min")(self, axis,
                                                                             keepdims=keepdims)
    def take(self, indices, axis=None, mode=None): return take(self, indices, axis, mode=mode)
    def repeat(self, repeats, axis=None): return repeat(self, repeats, axis)
    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _register(self, diagonal(self, offset, axis1, axis2), writable=False)
    def trace(self, offset=0, axis1=0, axis2=1): return trace(self, offset, axis1, axis2)

    def astype(self, dtype, **unsupported):
        _no_extra("astype", unsupported)
        dtype = np.dtype(dtype)
        if dtype.kind == "c":
            return lift_complex(self).astype(dtype)
        return Tracer(self.node) if dtype == self.dtype else apply("cast", self, dtype=dtype)

    def fill(self, value):
        _assign(self, full_like(self, value))

    def __getattr__(self, name):
        if name.startswith("__"):  # NumPy and copy probe dunders; let them see "absent"
            raise AttributeError(name)
        if self.node.constant and hasattr(np.ndarray, name) and name not in _WRITERS:
            return getattr(self.value, name)  # NumPy's, on a constant's value (a copy)
        raise UnsupportedError(f"the array attribute or method .{name} is not supported by "
                               "graphc", user_loc())


# --------------------------------------------------------- NumPy as a traced function sees it
# A NumPy array cannot hold a traced value, so ``out = np.zeros(n)`` followed by
# ``out[i] = traced`` would fail. While graphc traces the user's functions, the ``np`` they
# name is NumPy with its constructors (zeros, ones, empty, full, eye, identity, and the
# ``_like`` ones of NumPy arrays) making constant Tracers, which take updates as any traced
# array does, and with np.array / np.asarray stacking lists that hold traced values. A
# constant Tracer still acts as its NumPy value wherever Python needs one (``Tracer.value``),
# so bookkeeping arrays keep working as they would in NumPy.
def _constant(make: Callable, traced: Callable | None = None) -> Callable:
    """NumPy's constructor ``make`` giving a constant Tracer; ``traced`` makes the array when
    an argument is traced (a fill value)."""
    def fn(*args, **kwargs):
        if traced is not None and any(isinstance(a, Tracer) for a in (*args, *kwargs.values())):
            return traced(*args, **kwargs)
        try:
            out = make(*args, **kwargs)  # (np.zeros_like of a Tracer is graphc's already)
        except TypeError:  # a traced size: its own error says which arguments to make static
            for a in (*args, *kwargs.values()):
                for x in (a if isinstance(a, (tuple, list)) else (a,)):
                    if isinstance(x, Tracer):
                        operator.index(x)
            raise
        if isinstance(out, np.ndarray) and out.dtype.kind == "c":
            return lift_complex(out)  # np.zeros(n, complex): a Complex of constant parts
        return out if isinstance(out, Tracer) else Tracer(const(out))
    fn.__name__ = fn.__qualname__ = make.__name__
    return fn


def _full(shape: Any, fill_value: Any, dtype: Any = None, order: str = "C") -> "Tracer":
    value = as_tracer(fill_value)
    shape = tuple(map(operator.index, shape if isinstance(shape, (tuple, list)) else (shape,)))
    return Tracer(broadcast_to(value if dtype is None else value.astype(dtype), shape).node)


def _array(make: Callable, copy: bool) -> Callable:
    def fn(obj, dtype=None, *args, **kwargs):
        from .numpy import _traced, array

        if isinstance(obj, Tracer):
            out = Tracer(obj.node) if copy else obj
        elif isinstance(obj, (list, tuple)) and _traced(obj):
            out = array(obj)
        else:
            return make(obj, dtype, *args, **kwargs)
        return out if dtype is None else out.astype(dtype)
    fn.__name__ = fn.__qualname__ = make.__name__
    return fn


def _stacked(v: Any) -> Any:
    """A list or tuple that holds traced values as one traced array; anything else as is."""
    from .numpy import _traced, array

    return array(v) if isinstance(v, (list, tuple)) and _traced(v) else v


def _stacking(fn: Callable) -> Callable:
    """NumPy's ``fn`` as traced code calls it: where NumPy would make an array of a list that
    holds traced values (``np.mean([a, b])``, ``np.maximum.reduce(losses)``), which it does
    before graphc can see them, such lists are stacked first, and the call made again."""
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UnsupportedError as e:  # Tracer.__array__'s, when NumPy made an array of one
            if not getattr(e, "became_array", False):
                raise
            new_args = [_stacked(a) for a in args]
            new_kwargs = {k: _stacked(v) for k, v in kwargs.items()}
            if all(a is b for a, b in zip(new_args, args)) and all(
                    new_kwargs[k] is v for k, v in kwargs.items()):
                raise
        return fn(*new_args, **new_kwargs)
    return call


class _UfuncInTrace:
    """A NumPy ufunc as traced code sees it: the ufunc, its call and methods through
    _stacking, its other attributes its own."""

    def __init__(self, ufunc: np.ufunc):
        self.ufunc, self.__name__, self.__doc__ = ufunc, ufunc.__name__, ufunc.__doc__
        self._call = _stacking(ufunc)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.ufunc, name)
        return _stacking(attr) if name in ("reduce", "accumulate", "reduceat", "outer", "at") \
            else attr

    def __repr__(self) -> str:
        return repr(self.ufunc)


_NUMPY_CALLABLES: dict[int, Any] = {}  # id of a NumPy function or ufunc -> what traced code sees


def numpy_in_trace(v: Any) -> Any:
    """What traced code sees for ``v`` when it is one of NumPy's own functions or ufuncs (one
    object for every name it has, so that ``is`` compares as in NumPy); else None."""
    name = getattr(v, "__name__", None)
    if name is None or isinstance(v, type) or not callable(v) or getattr(np, name, None) is not v:
        return None
    out = _NUMPY_CALLABLES.get(id(v))
    if out is None:
        out = _UfuncInTrace(v) if isinstance(v, np.ufunc) else _stacking(v)
        if not isinstance(v, np.ufunc):
            out.__name__ = out.__qualname__ = name
            out.__doc__, out.__wrapped__ = v.__doc__, v
        _NUMPY_CALLABLES[id(v)] = out
    return out


class _NumpyInTrace(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        value = getattr(np, name)
        value = numpy_in_trace(value) or value
        setattr(self, name, value)  # looked up once
        return value


NUMPY_IN_TRACE = _NumpyInTrace("numpy")


def _seeded(make: Callable) -> Callable:
    """np.random's ``make`` (default_rng, RandomState, a bit generator) refusing to run
    without a seed: the numbers would be drawn once, while tracing, and be the same on every
    call, where NumPy draws new ones (a seeded one is the same on every call in NumPy too)."""
    def fn(seed=None, *args, **kwargs):
        if seed is None:
            raise UnsupportedError(
                f"np.random.{make.__name__}() without a seed while traced: graphc traces once, "
                "so its numbers would be drawn once and be the same on every call, where NumPy "
                "draws new ones. Draw them outside and pass them in (f(w, x, noise) with noise "
                "= rng.standard_normal(shape)), or give a seed if fixed numbers are meant",
                user_loc())
        return make(seed, *args, **kwargs)
    fn.__name__ = fn.__qualname__ = make.__name__
    return fn


class _RandomInTrace(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        value = getattr(np.random, name)
        setattr(self, name, value)
        return value


RANDOM_IN_TRACE = _RandomInTrace("numpy.random")
_UNSEEDED = {name: _seeded(getattr(np.random, name)) for name in (
    "default_rng", "RandomState", "PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")}
for _name, _fn in _UNSEEDED.items():
    setattr(RANDOM_IN_TRACE, _name, _fn)
NUMPY_IN_TRACE.random = RANDOM_IN_TRACE
_MADE = {**{name: _constant(getattr(np, name)) for name in (
    "zeros", "ones", "empty", "eye", "identity", "zeros_like", "ones_like", "empty_like")},
    "full": _constant(np.full, _full), "full_like": _constant(np.full_like,
                                                              FUNCTIONS[np.full_like]),
    "array": _array(np.array, copy=True), "asarray": _array(np.asarray, copy=False)}
for _name, _fn in _MADE.items():
    setattr(NUMPY_IN_TRACE, _name, _fn)
# What a traced function's globals and closure cells are swapped for, by identity.
_SWAPS = {id(np): NUMPY_IN_TRACE, **{id(getattr(np, n)): fn for n, fn in _MADE.items()},
          id(np.random): RANDOM_IN_TRACE,
          **{id(getattr(np.random, n)): fn for n, fn in _UNSEEDED.items()}}


def names_used(code: types.CodeType) -> set[str]:
    """The global names that ``code`` and the functions and lambdas written in it look up."""
    codes, names = [code], set()
    while codes:
        c = codes.pop()
        names.update(c.co_names)
        codes += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    return names


def _in_vectorize() -> bool:
    """Whether NumPy's np.vectorize is on the stack."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "_vectorize_call" and "numpy" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _extreme(builtin: Callable, pick: Callable) -> Callable:
    """Python's max (min) as traced code sees it: of traced numbers, v if pick(v, best) else
    best in turn, as Python compares them (the first of equals wins, and so does a NaN
    first); of a 1-D traced array, its max (min). Anything else goes to Python's."""
    def fn(*args, **kw):
        items = args
        if len(args) == 1 and not kw:
            if isinstance(args[0], Tracer) and args[0].ndim == 1:
                return reduce(builtin.__name__, args[0])
            args = (list(args[0]),)  # an iterable, read once
            items = args[0]
        if kw or not items or not any(isinstance(v, Tracer) for v in items) or \
                any(np.ndim(v) for v in items):
            return builtin(*args, **kw)
        best = items[0]
        for v in items[1:]:
            best = where(pick(v, best), v, best)
        return best
    fn.__name__ = builtin.__name__
    return fn


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    """``import`` in traced code: NumPy and SciPy as they are swapped in globals."""
    module = builtins.__import__(name, globals, locals, fromlist, level)
    return _SWAPS.get(id(module)) or scipy_in_trace(module)


# The builtins of traced code: Python's max and min of traced numbers, and imports inside it.
BUILTINS_IN_TRACE = {**builtins.__dict__, "__import__": _import,
                     "max": _extreme(max, operator.gt), "min": _extreme(min, operator.lt)}


def _uses_builtins(names: set[str]) -> bool:
    return bool(names & {"max", "min"}) or any(n.split(".")[0] in ("numpy", "scipy", "math")
                                                for n in names)


def _swapped(v: Any, memo: dict) -> Any:
    """What traced code sees for ``v``, a value its code names: graphc's NumPy module and
    functions, SciPy's and math's stand-ins, the user's functions, methods, partials, modules
    and objects as in_trace makes them, small NumPy arrays as constant traced arrays, and
    dicts, lists and tuples holding any of those as copies that hold their swaps."""
    if id(v) in _SWAPS:
        return _SWAPS[id(v)]
    if (ours := numpy_in_trace(v)) is not None:
        return ours
    if isinstance(v, np.vectorize):  # made outside: called on traced values, graphc's
        return _compose.vectorize(v.pyfunc, v.otypes, None, v.excluded, False, v.signature)
    if (s := scipy_in_trace(v)) is not v:
        return s
    if isinstance(v, (types.FunctionType, types.MethodType, functools.partial)):
        return in_trace(v, memo)
    if isinstance(v, types.ModuleType) and _users_module(getattr(v, "__file__", None),
                                                         v.__name__):
        return _UserModuleInTrace(v, memo)
    if _user_object(v):
        if id(v) not in memo:
            memo[id(v)] = _ObjectInTrace(v, memo)
        return memo[id(v)]
    if type(v) is np.ndarray and v.dtype.kind in "biuf" and v.size <= CONSTANT_MAX:
        if id(v) not in memo:  # a table that traced indices may index: EYE[labels]
            memo[id(v)] = Tracer(const(v))
        return memo[id(v)]
    if type(v) in (dict, list, tuple) and len(v) <= 64:  # a table of functions, layers
        items = list(v.values()) if type(v) is dict else v  # (a copy: only when one swaps)
        new = [_swapped(x, memo) if callable(x) or isinstance(x, types.ModuleType) or
               _user_object(x) else x for x in items]
        if any(a is not b for a, b in zip(new, items)):
            return dict(zip(v, new)) if type(v) is dict else type(v)(new)
    return v


# A NumPy array named by traced code (a global, a closure's, a default, an attribute of the
# user's object) up to this size is a constant traced array there, which a traced index can
# index (a larger one stays NumPy's: graphc.numpy.constant(a)[i] takes it).
CONSTANT_MAX = 1 << 20


def _users_module(file: str | None, name: str) -> bool:
    """Whether a module (its file and name) is the user's own code: not an installed library,
    nor NumPy, SciPy or graphc."""
    if file is None:
        return name == "__main__"  # an interactive session's
    return not (file.startswith(INSTALLED) or name.split(".")[0] in ("numpy", "scipy",
                                                                      "graphc"))


class _UserModuleInTrace(types.ModuleType):
    """One of the user's modules as traced code sees it (``import layers as L``): its
    functions as in_trace makes them; a write goes to the module itself."""

    def __init__(self, module: types.ModuleType, memo: dict):
        super().__init__(module.__name__)
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_memo", memo)

    def __getattr__(self, name: str) -> Any:
        return _swapped(getattr(self._module, name), self._memo)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._module, name, value)


# The special methods that a stand-in for a user's object (_ObjectInTrace) forwards; an
# object whose class defines others (arithmetic, attribute hooks, NumPy's protocols) is left
# as it is, as are enums (compared by identity) and what NumPy or Python treat as values.
_FORWARDED = {"__init__", "__call__", "__len__", "__iter__", "__getitem__", "__contains__",
              "__eq__", "__hash__", "__repr__", "__str__", "__bool__", "__post_init__",
              "__dict__", "__weakref__", "__module__", "__doc__", "__qualname__",
              "__annotations__", "__dataclass_fields__", "__dataclass_params__",
              "__match_args__", "__slots__", "__orig_bases__", "__parameters__"}


def _user_object(v: Any) -> bool:
    """Whether ``v`` is an instance of a plain class of the user's own code (a model, a
    layer): one that _ObjectInTrace can stand in for."""
    cls = type(v)
    if isinstance(v, (type, types.ModuleType, Tracer, np.ndarray, np.generic, numbers.Number,
                      str, bytes, enum.Enum, BaseException)) or cls.__module__ == "builtins":
        return False
    module = sys.modules.get(cls.__module__)
    if module is None or not _users_module(getattr(module, "__file__", None), module.__name__):
        return False
    return all(name in _FORWARDED or not (name.startswith("__") and name.endswith("__"))
               for c in cls.__mro__[:-1] for name in vars(c))


def _binds_to_object(func: types.FunctionType) -> bool:
    """Whether a method must run on its object itself: zero-argument super() needs it."""
    return "__class__" in func.__code__.co_freevars


class _ObjectInTrace:
    """An instance of a user's class as traced code sees it: its methods made by in_trace and
    bound to this stand-in, so that the calls they make through ``self`` are too, and its
    other attributes as in_trace sees them; writes go to the object, and isinstance holds."""

    __slots__ = ("_object", "_memo")

    def __init__(self, obj: Any, memo: dict):
        object.__setattr__(self, "_object", obj)
        object.__setattr__(self, "_memo", memo)

    def __getattr__(self, name: str) -> Any:
        obj = object.__getattribute__(self, "_object")
        value = getattr(obj, name)
        if isinstance(value, types.MethodType) and value.__self__ is obj and isinstance(
                value.__func__, types.FunctionType):
            func = in_trace(value.__func__, self._memo)
            return types.MethodType(func, obj if _binds_to_object(value.__func__) else self)
        return _swapped(value, self._memo)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._object, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._object, name)

    @property
    def __class__(self):  # isinstance(self, Model)
        return type(self._object)

    # Python looks these up on the class: each is the object's own, as __getattr__ gives it
    def __call__(self, *args, **kwargs): return self.__getattr__("__call__")(*args, **kwargs)
    def __len__(self): return self.__getattr__("__len__")()
    def __iter__(self): return self.__getattr__("__iter__")()
    def __getitem__(self, key): return self.__getattr__("__getitem__")(key)
    def __contains__(self, item): return self.__getattr__("__contains__")(item)
    def __bool__(self): return bool(self._object)
    def __repr__(self): return repr(self._object)
    def __str__(self): return str(self._object)
    def __hash__(self): return hash(self._object)

    def __eq__(self, other):
        return self._object == (other._object if type(other) is _ObjectInTrace else other)


def in_trace(fn: Any, memo: dict | None = None) -> Any:
    """``fn`` (a function, bound method or partial) as graphc traces it: what it names in its
    globals, closure and default values is swapped (see _swapped): NumPy and its functions
    for NUMPY_IN_TRACE's, SciPy's and Python's math for special.in_trace's, and the user's
    own functions, modules and objects for versions of them that do the same, in turn.
    NumPy's and graphc's own functions and code installed as a library are left as they are,
    as is ``fn`` when it names nothing to swap. (The copy of the globals it runs with takes
    its ``global`` assignments.)"""
    fn = scipy_in_trace(fn)
    memo = {} if memo is None else memo
    if isinstance(fn, types.MethodType):  # a bound method: its function, on the object's
        func = in_trace(fn.__func__, memo)  # stand-in (or the object itself, for super())
        obj = fn.__self__ if _binds_to_object(fn.__func__) else _swapped(fn.__self__, memo)
        return fn if func is fn.__func__ and obj is fn.__self__ else types.MethodType(func, obj)
    if isinstance(fn, functools.partial):
        func = in_trace(fn.func, memo)
        args = tuple(_swapped(a, memo) for a in fn.args)
        kwargs = {k: _swapped(a, memo) for k, a in fn.keywords.items()}
        if func is fn.func and all(a is b for a, b in zip(args, fn.args)) and all(
                kwargs[k] is a for k, a in fn.keywords.items()):
            return fn
        return functools.partial(func, *args, **kwargs)
    if not isinstance(fn, types.FunctionType) or (fn.__module__ or "").split(".")[0] in (
            "numpy", "graphc") or fn.__code__.co_filename.startswith(INSTALLED):
        return fn
    if id(fn) in memo:
        return memo[id(fn)]
    memo[id(fn)] = fn  # a recursive call meets the original
    scope, names = fn.__globals__, names_used(fn.__code__)
    swaps = {n: _swapped(scope[n], memo) for n in names if n in scope}
    swaps = {n: v for n, v in swaps.items() if v is not scope[n]}
    if _uses_builtins(names):
        swaps["__builtins__"] = BUILTINS_IN_TRACE
    cells = []
    for cell in fn.__closure__ or ():
        try:
            v = cell.cell_contents
        except ValueError:  # not filled yet
            cells.append(cell)
            continue
        new = _swapped(v, memo)
        cells.append(cell if new is v else types.CellType(new))
    # Default values too: the same NumPy function must be the same object (``act is np.tanh``).
    defaults = tuple(_swapped(d, memo) for d in fn.__defaults__ or ())
    kwdefaults = {k: _swapped(d, memo) for k, d in (fn.__kwdefaults__ or {}).items()}
    if not swaps and all(a is b for a, b in zip(cells, fn.__closure__ or ())) and all(
            a is b for a, b in zip(defaults, fn.__defaults__ or ())) and all(
            d is fn.__kwdefaults__[k] for k, d in kwdefaults.items()):
        return fn
    out = types.FunctionType(fn.__code__, {**scope, **swaps} if swaps else scope, fn.__name__,
                             defaults or fn.__defaults__, tuple(cells) if fn.__closure__ else None)
    out.__kwdefaults__, out.__qualname__ = kwdefaults or fn.__kwdefaults__, fn.__qualname__
    out.__dict__.update(fn.__dict__)
    memo[id(fn)] = out
    return out


from . import compose as _compose  # noqa: E402,F401 (adds its functions to FUNCTIONS)
from . import linalg as _linalg  # noqa: E402,F401 (adds np.linalg's functions to FUNCTIONS)
from . import polynomial as _polynomial  # noqa: E402,F401 (numpy.polynomial in traced code)
from .selection import Selection, refused, select  # noqa: E402
from .complexes import (COMPLEX_HINT, Complex, is_complex_constant,  # noqa: E402
                        lift as lift_complex, ufunc as complex_ufunc)
from .special import in_trace as scipy_in_trace, scipy_ufunc  # noqa: E402


def _defers(method: Callable) -> Callable:
    """An operator of Tracer that leaves a Selection or Complex operand to their own, and
    makes itself complex with a complex constant."""
    def op(self, o):
        if isinstance(o, (Selection, Complex)):
            return NotImplemented
        if is_complex_constant(o):
            return getattr(lift_complex(self), method.__name__)(o)
        return method(self, o)
    op.__name__ = method.__name__
    return op


for _name in ("add", "sub", "mul", "truediv", "mod", "pow", "matmul", "and", "or", "xor",
              "lt", "le", "gt", "ge", "eq", "ne"):
    for _side in ("", "r") if _name not in ("lt", "le", "gt", "ge", "eq", "ne") else ("",):
        _attr = f"__{_side}{_name}__"
        setattr(Tracer, _attr, _defers(getattr(Tracer, _attr)))
