"""Tracing: a ``Tracer`` stands in for an array while the user's function runs, and every
operator, ufunc, NumPy function, method and index applied to it records one IR node.

Python scalars mixed with traced arrays are *weak*, as in NumPy 2: ``2 * x`` keeps x's dtype.
Closed-over NumPy arrays become constants. Python control flow runs at trace time, so loops
unroll; branching on a traced value is an error that says to use ``np.where``.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np

from .errors import GraphcError, ShapeError, TracerBoolError, UnsupportedError
from .ir import Node, user_loc
from .ops import OPS, UFUNCS, broadcast_shapes


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
        raise type(e)(f"{opname}: {e.args[0]}", loc) from None
    return Node(opname, tuple(inputs), params, tuple(int(s) for s in shape), dtype, loc)


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
    raise UnsupportedError(f"cannot use a value of type {type(x).__name__} in a traced "
                           "computation", user_loc())


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


def reduce(opname: str, x: Any, axis=None, keepdims=False, **unsupported) -> "Tracer":
    _no_extra(opname, unsupported)
    x = as_tracer(x)
    axes = _axes(axis, x.ndim)
    if not axes and not keepdims:
        return x
    return apply(opname, x, axes=axes, keepdims=bool(keepdims))


def mean(x: Any, axis=None, keepdims=False, dtype=None, **unsupported) -> "Tracer":
    _no_extra("mean", unsupported)
    x = as_tracer(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    if dtype is not None:
        x = x.astype(dtype)
    count = int(np.prod([x.shape[a] for a in _axes(axis, x.ndim)]))
    return reduce("sum", x, axis, keepdims) / count


def var(x: Any, axis=None, keepdims=False, ddof=0, **unsupported) -> "Tracer":
    _no_extra("var", unsupported)
    x = as_tracer(x)
    d = x - mean(x, axis, keepdims=True)
    count = int(np.prod([x.shape[a] for a in _axes(axis, x.ndim)]))
    return reduce("sum", d * d, axis, keepdims) / (count - ddof)


def std(x: Any, axis=None, keepdims=False, ddof=0, **unsupported) -> "Tracer":
    return np.sqrt(var(x, axis, keepdims, ddof, **unsupported))


def reshape(x: Any, *shape: Any, **kwargs) -> "Tracer":
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
    if a.ndim > 2 or b.ndim > 2:
        raise UnsupportedError("np.dot of arrays with more than 2 dimensions is not supported; "
                               "use @ (np.matmul) for batched products", user_loc())
    return matmul(a, b)


def where(cond: Any, x: Any = None, y: Any = None) -> "Tracer":
    if x is None or y is None:
        raise UnsupportedError("np.where with one argument (indices) is not supported; "
                               "use np.where(cond, x, y)", user_loc())
    return apply("where", cond, x, y)


def concatenate(arrays: Any, axis: int = 0, **unsupported) -> "Tracer":
    _no_extra("concatenate", unsupported)
    parts = [as_tracer(a) for a in arrays]
    axis = _axes(axis, parts[0].ndim)[0]
    return parts[0] if len(parts) == 1 else apply("concatenate", *parts, axis=axis)


def stack(arrays: Any, axis: int = 0, **unsupported) -> "Tracer":
    parts = [as_tracer(a) for a in arrays]
    axis = axis % (parts[0].ndim + 1)
    return concatenate([expand_dims(p, axis) for p in parts], axis, **unsupported)


def getitem(x: "Tracer", index: Any) -> "Tracer":
    index = index if isinstance(index, tuple) else (index,)
    for i in index:
        if isinstance(i, (Tracer, np.ndarray, list)) or (isinstance(i, np.generic)
                                                          and i.dtype.kind == "b"):
            raise UnsupportedError(
                "indexing with arrays (integer or boolean masks) is not supported yet; "
                "for masks use np.where(mask, x, 0)", user_loc())
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


def _no_extra(name: str, kwargs: dict) -> None:
    extra = [k for k, v in kwargs.items() if v is not None]
    if extra:
        raise UnsupportedError(f"{name}: argument(s) {', '.join(extra)} not supported", user_loc())


def _ufunc_call(name: str) -> Callable[..., "Tracer"]:
    return lambda *args: apply(name, *args)


# NumPy callables a Tracer answers to; anything else raises UnsupportedError naming it.
FUNCTIONS: dict[Callable, Callable] = {
    np.sum: lambda x, axis=None, keepdims=False, **kw: reduce("sum", x, axis, keepdims, **kw),
    np.max: lambda x, axis=None, keepdims=False, **kw: reduce("max", x, axis, keepdims, **kw),
    np.min: lambda x, axis=None, keepdims=False, **kw: reduce("min", x, axis, keepdims, **kw),
    np.mean: mean, np.var: var, np.std: std,
    np.reshape: reshape, np.transpose: transpose, np.swapaxes: swapaxes,
    np.broadcast_to: broadcast_to, np.squeeze: squeeze, np.expand_dims: expand_dims,
    np.matmul: matmul, np.dot: dot, np.where: where,
    np.concatenate: concatenate, np.stack: stack,
    np.shape: lambda x: as_tracer(x).shape, np.ndim: lambda x: as_tracer(x).ndim,
    np.size: lambda x: as_tracer(x).size,
    np.zeros_like: lambda x, dtype=None: broadcast_to(
        const(0, dtype or as_tracer(x).dtype), as_tracer(x).shape),
    np.ones_like: lambda x, dtype=None: broadcast_to(
        const(1, dtype or as_tracer(x).dtype), as_tracer(x).shape),
    np.clip: lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    np.square: lambda x: x * x,
    np.reciprocal: lambda x: 1 / x,
    np.positive: lambda x: x,
    np.true_divide: _ufunc_call("divide"),
}
for _uf, _name in UFUNCS.items():
    FUNCTIONS.setdefault(_uf, _ufunc_call(_name))


class Tracer:
    """A traced array. Behaves like a NumPy array inside a function being traced."""

    __slots__ = ("node",)
    __array_priority__ = 1000

    def __init__(self, node: Node):
        self.node = node

    shape = property(lambda self: self.node.shape)
    dtype = property(lambda self: self.node.dtype)
    ndim = property(lambda self: self.node.ndim)
    size = property(lambda self: self.node.size)
    T = property(lambda self: transpose(self))

    def __repr__(self) -> str:
        return f"Tracer({self.node!r})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized traced value")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        raise TracerBoolError(
            "the truth value of a traced array is not known while tracing (Python `if`, `and`, "
            "`or`, `while` or bool() on a traced value); use np.where(cond, a, b) to select "
            "values, or np.maximum / np.minimum", user_loc())

    def _not_a_number(self, *_):
        raise TracerBoolError("a traced value cannot become a Python number (int(), float(), "
                              "an index or a range bound) while tracing", user_loc())

    __int__ = __float__ = __index__ = __complex__ = _not_a_number

    def __array__(self, *args, **kwargs):
        raise UnsupportedError(
            "a traced value cannot be converted to a NumPy array (np.array / np.asarray of a "
            "traced value, or a list mixing them); use graphc.numpy.array([...]) or np.stack",
            user_loc())

    __hash__ = object.__hash__

    # NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = FUNCTIONS.get(ufunc)
        if method != "__call__" or fn is None:
            what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            raise UnsupportedError(f"{what} is not supported by graphc", user_loc())
        if kwargs:
            raise UnsupportedError(f"numpy.{ufunc.__name__}: keyword argument(s) "
                                   f"{', '.join(kwargs)} not supported", user_loc())
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        fn = FUNCTIONS.get(func)
        if fn is None:
            raise UnsupportedError(f"numpy.{func.__name__} is not supported by graphc",
                                   user_loc())
        return fn(*args, **kwargs)

    # operators
    def __add__(self, o): return apply("add", self, o)
    def __radd__(self, o): return apply("add", o, self)
    def __sub__(self, o): return apply("subtract", self, o)
    def __rsub__(self, o): return apply("subtract", o, self)
    def __mul__(self, o): return apply("multiply", self, o)
    def __rmul__(self, o): return apply("multiply", o, self)
    def __truediv__(self, o): return apply("divide", self, o)
    def __rtruediv__(self, o): return apply("divide", o, self)
    def __pow__(self, o): return apply("power", self, o)
    def __rpow__(self, o): return apply("power", o, self)
    def __matmul__(self, o): return matmul(self, o)
    def __rmatmul__(self, o): return matmul(o, self)
    def __neg__(self): return apply("negative", self)
    def __pos__(self): return self
    def __abs__(self): return apply("abs", self)
    def __lt__(self, o): return apply("less", self, o)
    def __le__(self, o): return apply("less_equal", self, o)
    def __gt__(self, o): return apply("greater", self, o)
    def __ge__(self, o): return apply("greater_equal", self, o)
    def __eq__(self, o): return apply("equal", self, o)
    def __ne__(self, o): return apply("not_equal", self, o)
    def __getitem__(self, index): return getitem(self, index)

    # methods
    def sum(self, axis=None, keepdims=False, **kw): return reduce("sum", self, axis, keepdims, **kw)
    def max(self, axis=None, keepdims=False, **kw): return reduce("max", self, axis, keepdims, **kw)
    def min(self, axis=None, keepdims=False, **kw): return reduce("min", self, axis, keepdims, **kw)
    def mean(self, axis=None, keepdims=False, **kw): return mean(self, axis, keepdims, **kw)
    def var(self, axis=None, keepdims=False, ddof=0): return var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return std(self, axis, keepdims, ddof)
    def reshape(self, *shape, **kw): return reshape(self, *shape, **kw)
    def transpose(self, *axes): return transpose(self, axes[0] if len(axes) == 1 else axes or None)
    def swapaxes(self, a, b): return swapaxes(self, a, b)
    def squeeze(self, axis=None): return squeeze(self, axis)
    def ravel(self): return reshape(self, -1)
    def flatten(self): return reshape(self, -1)
    def dot(self, o): return dot(self, o)
    def clip(self, lo, hi): return np.minimum(np.maximum(self, lo), hi)

    def astype(self, dtype, **unsupported):
        _no_extra("astype", unsupported)
        dtype = np.dtype(dtype)
        return self if dtype == self.dtype else apply("cast", self, dtype=dtype)

    def __getattr__(self, name):
        if name.startswith("__"):  # NumPy and copy probe dunders; let them see "absent"
            raise AttributeError(name)
        raise UnsupportedError(f"the array attribute or method .{name} is not supported by "
                               "graphc", user_loc())
