"""``x[mask]`` with a traced boolean mask.

NumPy's result has one row per True place of the mask, a count that is data, so no traced
array can hold it. Most programs only pass such a selection through elementwise arithmetic to
a reduction: ``((pred - y)[valid] ** 2).mean()``, ``X[labels == c].mean(axis=0)``,
``np.log(p[p > 0]).sum()``. A ``Selection`` keeps x at its full shape together with the mask,
computes those operations on every place, and turns a reduction over the selected axis into
a reduction with ``where=mask``. The places left out hold a copy of the first selected row,
so that a function the program applies only to selected values (a log of positive ones) is
finite everywhere and its gradient there is an exact zero, never 0 * inf.

What would need the count itself (its shape, ``len``, indexing by position, a product with
another array along the selected axis) raises UnsupportedError naming the rewrite.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import UnsupportedError
from .ir import Node, _freeze, user_loc
from .ops import OPS
from .trace import (Tracer, _all_any, _arg_extremum, _axes_in_order, as_tracer, broadcast_to,
                    mean, reduce, reshape, std, take, var)

_REWRITE = ("x[mask] has as many rows as the mask has True places, which is data: graphc "
            "follows it through elementwise operations into sum, mean, max, min, prod, var, "
            "std, any and all (or write np.where(mask, x, 0) and reductions with where=mask)")


def refused(what: str) -> UnsupportedError:
    return UnsupportedError(f"{what}: {_REWRITE}", user_loc())


class Selection:
    """x[mask]: ``full`` (mask.shape + the rest of x's shape, every place computed) and the
    ``mask`` that says which places of its leading ``mask.ndim`` axes the result keeps."""

    __slots__ = ("full", "mask")
    __array_priority__ = 100  # above NumPy arrays': ndarray @ selection defers to us

    def __init__(self, full: Tracer, mask: Tracer):
        self.full, self.mask = full, mask

    @property
    def lead(self) -> int:
        return self.mask.ndim

    @property
    def ndim(self) -> int:
        return 1 + self.full.ndim - self.lead

    @property
    def dtype(self) -> np.dtype:
        return self.full.dtype

    @property
    def shape(self):
        raise refused("the shape of x[mask]")

    size = shape

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise refused(f"x[mask].{name}")

    def __len__(self):
        raise refused("len(x[mask])")

    def __iter__(self):
        raise refused("iterating over x[mask]")

    def __array__(self, dtype=None, copy=None):
        raise refused("x[mask] as a NumPy array")

    def __bool__(self):
        raise refused("the truth value of x[mask]")

    def _with(self, full: Tracer) -> Selection:
        if full.shape[:self.lead] != self.mask.shape:
            raise refused("an operation that changes the selected axis")
        return Selection(full, self.mask)

    def _operand(self, o: Any) -> Any:
        """An operand of an elementwise operation with this selection, as it lines up with
        ``full``: another selection by the same mask, or an array that broadcasts against
        the selected rows (its leading axis, if as long as the selection's ndim, of 1)."""
        if isinstance(o, Selection):
            if not _same(o.mask.node, self.mask.node):
                raise refused("combining selections by different masks")
            return o.full
        if isinstance(o, (numbers.Number, np.generic)) or o is None:
            return o
        o = o if isinstance(o, (Tracer, np.ndarray)) else np.asarray(o)
        if o.ndim >= self.ndim:
            if o.ndim > self.ndim or o.shape[0] != 1:
                raise refused(f"an operand of shape {o.shape} against x[mask] ({self.ndim}-D)")
            o = reshape(o, o.shape[1:]) if isinstance(o, Tracer) else o.reshape(o.shape[1:])
        return o

    # NumPy protocols: ufuncs run on the full arrays
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            raise refused(f"numpy.{ufunc.__name__}" + (f".{method}" if method != "__call__"
                                                       else " with keyword arguments"))
        sel = next(i for i in inputs if isinstance(i, Selection))
        out = ufunc(*(sel._operand(i) for i in inputs))
        return sel._with(as_tracer(out))

    def __array_function__(self, func, types, args, kwargs):
        fn = FUNCTIONS.get(func)
        if fn is None:
            raise refused(f"{getattr(func, '__module__', 'numpy')}.{func.__name__} of x[mask]")
        return fn(*args, **kwargs)

    # operators (through the ufuncs)
    def __add__(self, o): return np.add(self, o)
    def __radd__(self, o): return np.add(o, self)
    def __sub__(self, o): return np.subtract(self, o)
    def __rsub__(self, o): return np.subtract(o, self)
    def __mul__(self, o): return np.multiply(self, o)
    def __rmul__(self, o): return np.multiply(o, self)
    def __truediv__(self, o): return np.divide(self, o)
    def __rtruediv__(self, o): return np.divide(o, self)
    def __pow__(self, o): return np.power(self, o)
    def __rpow__(self, o): return np.power(o, self)
    def __mod__(self, o): return np.remainder(self, o)
    def __rmod__(self, o): return np.remainder(o, self)
    def __neg__(self): return np.negative(self)
    def __pos__(self): return self
    def __abs__(self): return np.abs(self)
    def __lt__(self, o): return np.less(self, o)
    def __le__(self, o): return np.less_equal(self, o)
    def __gt__(self, o): return np.greater(self, o)
    def __ge__(self, o): return np.greater_equal(self, o)
    def __eq__(self, o): return np.equal(self, o)
    def __ne__(self, o): return np.not_equal(self, o)
    def __and__(self, o): return np.logical_and(self, o)
    def __or__(self, o): return np.logical_or(self, o)
    def __invert__(self): return np.logical_not(self)

    def __matmul__(self, o):
        """Rows times a matrix: each selected row on its own (a vector keeps the rows too)."""
        o = as_tracer(o)
        if self.ndim != 2 or o.ndim not in (1, 2):
            raise refused(f"x[mask] @ an array of shape {o.shape}")
        return self._with(self.full @ o)

    def __rmatmul__(self, o):
        raise refused("an array @ x[mask] (a sum over the selected rows: write it as "
                      "(x[mask] * ...).sum(axis=0))")

    __hash__ = object.__hash__

    def __getitem__(self, index):
        """x[mask][:, j] and the like (the selected axis kept whole), and x[mask][cond] for
        a condition on the values of a 1-D selection (the two masks combine)."""
        if isinstance(index, Selection):
            if not _same(index.mask.node, self.mask.node) or self.ndim != 1 \
                    or index.full.shape != self.full.shape or index.dtype != np.bool_:
                raise refused("x[mask] indexed by other than a condition on its values")
            return Selection(self.full, self.mask & index.full)
        index = index if isinstance(index, tuple) else (index,)
        if not index or index[0] != slice(None) or any(i is Ellipsis or i is None
                                                       for i in index):
            raise refused("indexing x[mask] other than x[mask][:, ...]")
        return self._with(self.full[(slice(None),) * self.lead + index[1:]])

    def astype(self, dtype, **kw): return self._with(self.full.astype(dtype, **kw))
    def copy(self): return self
    def ravel(self):
        if self.ndim != 1:
            raise refused("ravel of a 2-D or higher x[mask]")
        return self

    # reductions
    def _axes(self, axis: Any) -> tuple[tuple[int, ...], bool]:
        """``full``'s axes for the selection's ``axis``, and whether they include the
        selected one (then the result is an ordinary array)."""
        if axis is None:
            return tuple(range(self.full.ndim)), True
        axes = _axes_in_order((axis,) if isinstance(axis, numbers.Integral) else axis,
                              self.ndim)
        lead = tuple(range(self.lead)) if 0 in axes else ()
        return lead + tuple(a - 1 + self.lead for a in axes if a), 0 in axes

    def _reduce(self, how, axis, keepdims) -> Any:
        axes, across = self._axes(axis)
        where = broadcast_to(reshape(self.mask, self.mask.shape + (1,) * (self.ndim - 1)),
                             self.full.shape)
        out = how(self.full, axes, where)
        kept = tuple(1 if a in axes else n for a, n in enumerate(self.full.shape))
        if not across:
            return self._with(reshape(out, kept) if keepdims else out)
        # with keepdims, the selected axes become one axis of length 1
        return reshape(out, (1,) + kept[self.lead:]) if keepdims else out

    def sum(self, axis=None, dtype=None, keepdims=False):
        return self._reduce(lambda x, a, w: reduce("sum", x, a, False, dtype, where=w), axis,
                            keepdims)

    def prod(self, axis=None, dtype=None, keepdims=False):
        return self._reduce(lambda x, a, w: reduce("prod", x, a, False, dtype, where=w), axis,
                            keepdims)

    def max(self, axis=None, keepdims=False):
        """An empty selection's max is the reduction's identity, -inf (the lowest integer;
        its min +inf), where NumPy raises."""
        return self._reduce(lambda x, a, w: reduce("max", x, a, False, where=w,
                                                   initial=OPS["max"].identity(x.dtype)),
                            axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return self._reduce(lambda x, a, w: reduce("min", x, a, False, where=w,
                                                   initial=OPS["min"].identity(x.dtype)),
                            axis, keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False):
        return self._reduce(lambda x, a, w: mean(x, a, False, dtype, where=w), axis, keepdims)

    def var(self, axis=None, dtype=None, ddof=0, keepdims=False):
        return self._reduce(lambda x, a, w: var(x, a, False, ddof, where=w), axis, keepdims)

    def std(self, axis=None, dtype=None, ddof=0, keepdims=False):
        return self._reduce(lambda x, a, w: std(x, a, False, ddof, where=w), axis, keepdims)

    def any(self, axis=None, keepdims=False):
        return self._reduce(lambda x, a, w: _all_any("any")(np.where(w, x, False), a), axis,
                            keepdims)

    def all(self, axis=None, keepdims=False):
        return self._reduce(lambda x, a, w: _all_any("all")(np.where(w, x, True), a), axis,
                            keepdims)


def _same(a: Node, b: Node, depth: int = 8) -> bool:
    """Whether two masks are the same computation (``x > 0`` written twice), as far as
    ``depth`` steps back."""
    if a is b:
        return True
    return depth > 0 and a.op == b.op and a.shape == b.shape and a.dtype == b.dtype \
        and len(a.inputs) == len(b.inputs) and _freeze(a.params) == _freeze(b.params) \
        and all(_same(x, y, depth - 1) for x, y in zip(a.inputs, b.inputs))


def select(x: Tracer, mask: Tracer) -> Selection:
    """x[mask] for a traced boolean ``mask`` over x's leading axes."""
    mask = as_tracer(mask)
    if mask.shape != x.shape[:mask.ndim]:
        raise UnsupportedError(f"boolean index of shape {mask.shape} does not match the "
                               f"leading axes of an array of shape {x.shape}", user_loc())
    rest = x.shape[mask.ndim:]
    rows = reshape(x, (-1,) + rest)
    # a kept row (row 0 if none is)
    first = take(rows, _arg_extremum("max")(reshape(mask, -1)), axis=0)
    keep = reshape(mask, mask.shape + (1,) * len(rest))
    return Selection(np.where(keep, x, first), mask)


def _method(name: str):
    def fn(a, *args, **kwargs):
        if not isinstance(a, Selection):
            raise refused(f"numpy.{name} with x[mask] as other than its first argument")
        return getattr(a, name)(*args, **kwargs)
    return fn


def _norm(x, ord=None, axis=None, keepdims=False):
    if ord is not None or axis is not None or x.ndim != 1:
        raise refused("np.linalg.norm of x[mask] other than the 2-norm of a 1-D selection")
    return np.sqrt((x * x).sum(keepdims=keepdims))


FUNCTIONS = {getattr(np, name): _method(name)
             for name in ("sum", "prod", "max", "min", "mean", "var", "std", "any", "all")}
FUNCTIONS.update({np.amax: _method("max"), np.amin: _method("min"), np.linalg.norm: _norm,
                  np.where: lambda c, x, y: _where(c, x, y),
                  np.clip: lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi)})


def _where(c, x, y):
    sel = next(v for v in (c, x, y) if isinstance(v, Selection))
    return sel._with(as_tracer(np.where(*(sel._operand(v) for v in (c, x, y)))))
