"""THE op table: every primitive graphc knows, each defined once.

An entry holds everything about one primitive:

* ``impl(*arrays, **params)``: the NumPy reference implementation (the oracle's semantics).
* ``kind``: ``elementwise`` (inputs broadcast to the output), ``reduce``, ``matmul``,
  ``layout`` (views and copies that move data), ``cumulative`` (cumsum, cummax, cummin,
  linrec), ``sort`` (argsort), ``index`` (gather and its adjoint scatter_add), ``linalg``
  (solve, slogdet, cholesky, eigh, svd of stacks of matrices), ``transform`` (dft, the
  discrete Fourier transform along the last axis), ``source`` (inputs and
  constants) or ``control``: ops whose parameters hold graphs or functions (``scan`` and its
  ``item`` results, registered in ``loops.py``; ``custom_vjp``, in ``transforms.py``).
* ``vjp(g, out, *inputs, **params)``: the vector-Jacobian product, written with ordinary NumPy
  calls on tracers, so the adjoint is itself IR and can be differentiated again. It returns one
  cotangent per input (``None`` where the input gets none) *before* broadcasting is undone: the
  adjoint pass sums each cotangent back to its input's shape, in one place. ``vjp=None`` means
  the op has zero derivative (comparisons, sign, ...).
* ``scalar``: for elementwise ops, one expression template over ``{0}, {1}, ...`` (the operands)
  and ``{T}`` (the output's scalar type). Both the CPU and the CUDA emitters use it; the math
  functions it names (``exp``, ``tanh``, ...) are supplied by each backend's module header.
* ``shape(*inputs, **params) -> (shape, dtype)``: for non-elementwise ops; elementwise ops
  broadcast, with the dtype from ``dtype(*in_dtypes)`` (NumPy promotion by default).
* reductions also name their ``combine`` op and ``identity`` (the accumulator's start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import OutOfBoundsError, ShapeError


@dataclass(frozen=True)
class Op:
    name: str
    kind: str
    impl: Callable[..., np.ndarray]
    vjp: Callable[..., tuple] | None = None
    scalar: str | None = None
    shape: Callable[..., tuple] | None = None
    dtype: Callable[..., np.dtype] | None = None
    ufunc: np.ufunc | None = None
    combine: str | None = None
    identity: Callable[[np.dtype], Any] | None = None


OPS: dict[str, Op] = {}


def defop(name: str, kind: str, impl, **fields) -> Op:
    op = Op(name, kind, impl, **fields)
    OPS[name] = op
    return op


# ----------------------------------------------------------------------------- dtype rules
def _promote(*dts: np.dtype, **params) -> np.dtype:
    return np.result_type(*dts)


def _floating(*dts: np.dtype, **params) -> np.dtype:
    d = np.result_type(*dts)
    return d if d.kind in "fc" else np.dtype(np.float64)


def _boolean(*dts: np.dtype, **params) -> np.dtype:
    return np.dtype(np.bool_)


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            "operands could not be broadcast together with shapes "
            + " and ".join(str(tuple(s)) for s in shapes)
        ) from None


# ------------------------------------------------------------------------ elementwise ops
def _binary(name, ufunc, template, vjp, dtype=_promote):
    defop(name, "elementwise", ufunc, vjp=vjp, scalar=template, ufunc=ufunc, dtype=dtype)


def _unary(name, ufunc, template, vjp, dtype=_floating):
    defop(name, "elementwise", ufunc, vjp=vjp, scalar=template, ufunc=ufunc, dtype=dtype)


_binary("add", np.add, "({0} + {1})", lambda g, out, x, y: (g, g))
_binary("subtract", np.subtract, "({0} - {1})", lambda g, out, x, y: (g, -g))
_binary("multiply", np.multiply, "({0} * {1})", lambda g, out, x, y: (g * y, g * x))
_binary("divide", np.divide, "({0} / {1})", lambda g, out, x, y: (g / y, -g * out / y),
        dtype=_floating)
_binary("power", np.power, "pow({0}, {1})",
        lambda g, out, x, y: _power_vjp(g, out, x, y))
_binary("maximum", np.maximum, "({0} if ({0} >= {1} or {0} != {0}) else {1})",
        lambda g, out, x, y: _minmax_vjp(g, x, y))
_binary("minimum", np.minimum, "({0} if ({0} <= {1} or {0} != {0}) else {1})",
        lambda g, out, x, y: _minmax_vjp(g, y, x))
for _name, _uf, _sym in [("less", np.less, "<"), ("less_equal", np.less_equal, "<="),
                         ("greater", np.greater, ">"), ("greater_equal", np.greater_equal, ">="),
                         ("equal", np.equal, "=="), ("not_equal", np.not_equal, "!=")]:
    _binary(_name, _uf, f"({{0}} {_sym} {{1}})", None, dtype=_boolean)


def _power_vjp(g, out, x, y):
    # As JAX and PyTorch: no derivative in x where y is 0 (not 0 * x ** -1, NaN at x = 0), and
    # log(x) read as 0 where x is 0 in the derivative in y (x ** y is 0 or 1 there: not -inf).
    # With a constant y or x (x ** 2) the where folds away when the graph is simplified.
    return (np.where(y == 0, 0, g * y * x ** (y - 1)),  # (g * y first: as the graph was)
            g * np.log(np.where(x == 0, 1, x)) * out)


def _minmax_vjp(g, winner, loser):
    # Ties split the gradient evenly (DESIGN.md convention); comparisons are False on NaN.
    tie = np.where(winner == loser, 0.5 * g, 0)
    return np.where(winner > loser, g, tie), np.where(loser > winner, g, tie)


_unary("negative", np.negative, "(-{0})", lambda g, out, x: (-g,), dtype=_promote)
_unary("exp", np.exp, "exp({0})", lambda g, out, x: (g * out,))
_unary("log", np.log, "log({0})", lambda g, out, x: (g / x,))
_unary("log1p", np.log1p, "log1p({0})", lambda g, out, x: (g / (1 + x),))
_unary("expm1", np.expm1, "expm1({0})", lambda g, out, x: (g * (out + 1),))
_unary("sqrt", np.sqrt, "sqrt({0})", lambda g, out, x: (g / (2 * out),))
_unary("sin", np.sin, "sin({0})", lambda g, out, x: (g * np.cos(x),))
_unary("cos", np.cos, "cos({0})", lambda g, out, x: (-g * np.sin(x),))
_unary("tanh", np.tanh, "tanh({0})", lambda g, out, x: (g * (1 - out * out),))
_unary("tan", np.tan, "tan({0})", lambda g, out, x: (g * (1 + out * out),))
_unary("sinh", np.sinh, "sinh({0})", lambda g, out, x: (g * np.cosh(x),))
_unary("cosh", np.cosh, "cosh({0})", lambda g, out, x: (g * np.sinh(x),))
_unary("arcsin", np.arcsin, "asin({0})", lambda g, out, x: (g / np.sqrt((1 - x) * (1 + x)),))
_unary("arccos", np.arccos, "acos({0})", lambda g, out, x: (-g / np.sqrt((1 - x) * (1 + x)),))
_unary("arctan", np.arctan, "atan({0})", lambda g, out, x: (g / (1 + x * x),))
_unary("arcsinh", np.arcsinh, "asinh({0})", lambda g, out, x: (g / np.hypot(x, 1),))
_unary("arccosh", np.arccosh, "acosh({0})",
       lambda g, out, x: (g / np.sqrt((x - 1) * (x + 1)),))
_unary("arctanh", np.arctanh, "atanh({0})", lambda g, out, x: (g / ((1 - x) * (1 + x)),))

def _scipy_impl(name):
    def impl(x):
        from scipy import special  # SciPy's ufuncs, imported when the oracle first needs one

        return getattr(special, name)(x)
    return impl


# The error function and its complement (scipy.special.erf, erfc; not NumPy ufuncs, so they
# are found through scipy.special by name, see special.py). libm's and libdevice's.
defop("erf", "elementwise", _scipy_impl("erf"), scalar="erf({0})", dtype=_floating,
      vjp=lambda g, out, x: (g * (2 / math.sqrt(math.pi)) * np.exp(-x * x),))
defop("erfc", "elementwise", _scipy_impl("erfc"), scalar="erfc({0})", dtype=_floating,
      vjp=lambda g, out, x: (g * (-2 / math.sqrt(math.pi)) * np.exp(-x * x),))


def _polygamma_impl(x, n):
    from scipy import special

    return (special.digamma(x) if n == 0 else special.polygamma(n, x)).astype(_floating(x.dtype))


# log|Gamma(x)| (libm's and libdevice's lgamma; SciPy's gammaln) and the polygamma functions
# psi^(n) = d^(n+1)/dx^(n+1) log Gamma, n >= 0 a constant (codegen/scalars.py: neither
# library has them)
defop("gammaln", "elementwise", _scipy_impl("gammaln"), dtype=_floating,
      scalar="(lgamma({0}) if {0} > {T}(-np.inf) else -abs({0}))",  # SciPy's -inf at -inf
      vjp=lambda g, out, x: (g * _polygamma(x, 0),))
defop("polygamma", "elementwise", _polygamma_impl, scalar="polygamma_{t}({n}, {0})",
      dtype=_floating, vjp=lambda g, out, x, n: (g * _polygamma(x, n + 1),))


def _polygamma(x, n):
    from .trace import apply

    return apply("polygamma", x, n=n)


def _besselie_impl(x, v):
    from scipy import special

    return (special.i1e if v else special.i0e)(x).astype(_floating(x.dtype))


def _besselie_vjp(g, out, x, v):
    """(I0 e^-|x|)' = I1 e^-|x| - sign(x) I0 e^-|x|; (I1 e^-|x|)' = I0 e^-|x| - sign(x) I1
    e^-|x| - I1 e^-|x| / x, whose last term is 1/2 at 0."""
    from .trace import apply

    other = apply("besselie", x, v=1 - v)
    if not v:
        return (g * (other - np.sign(x) * out),)
    zero = x == 0
    return (g * (other - np.sign(x) * out - np.where(zero, 0.5, out / np.where(zero, 1, x))),)


# I_v(x) e^-|x| for v = 0, 1 (SciPy's i0e, i1e), also written in codegen/scalars.py
defop("besselie", "elementwise", _besselie_impl, scalar="besselie_{t}({v}, {0})",
      dtype=_floating, vjp=_besselie_vjp)


_unary("exp2", np.exp2, "exp2({0})", lambda g, out, x: (g * out * math.log(2),))
_unary("log2", np.log2, "log2({0})", lambda g, out, x: (g / (x * math.log(2)),))
_unary("log10", np.log10, "log10({0})", lambda g, out, x: (g / (x * math.log(10)),))
# Integer inputs never reach these two: the tracer returns them unchanged, as NumPy does.
_unary("floor", np.floor, "floor({0})", None)
_unary("ceil", np.ceil, "ceil({0})", None)
_binary("arctan2", np.arctan2, "atan2({0}, {1})",
        lambda g, out, y, x: (g * x / (x * x + y * y), -g * y / (x * x + y * y)),
        dtype=_floating)
# At hypot(0, 0) the gradient is 0 (a subgradient of the norm), not 0/0.
_binary("hypot", np.hypot, "hypot({0}, {1})",
        lambda g, out, x, y: (g * np.where(out > 0, x / out, 0), g * np.where(out > 0, y / out, 0)),
        dtype=_floating)
# Python's (and NumPy's) remainder: the sign of the divisor; Numba's % implements the same.
_binary("remainder", np.remainder, "({0} % {1})",
        lambda g, out, x, y: (g, -g * np.floor(x / y)))
# C's fmod (the sign of x), by libm's: composed from the remainder, fmod(-3, 1e16) lost x.
_binary("fmod", np.fmod, "fmod({0}, {1})", lambda g, out, x, y: (g, -g * np.trunc(x / y)),
        dtype=_floating)
# Python's floor division (NumPy's floor_divide): Numba's // takes the same steps as NumPy's
# divmod for floats; a step function, with a zero gradient.
_binary("floor_divide", np.floor_divide, "({0} // {1})", None)
_unary("abs", np.abs, "abs({0})", lambda g, out, x: (g * np.sign(x),), dtype=_promote)
_unary("sign", np.sign, "({T}(1) if {0} > 0 else ({T}(-1) if {0} < 0 else {0}))", None,
       dtype=_promote)


def _sigmoid(x):
    # exp of a non-positive number only: no overflow at either end.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(_floating(np.asarray(x).dtype))


# A primitive rather than 1/(1+exp(-x)): that composition's derivative is inf*0 = nan for
# x << 0, while out*(1-out) is exact there.
defop("sigmoid", "elementwise", _sigmoid, scalar="({T}(1) / ({T}(1) + exp(-{0})))",
      vjp=lambda g, out, x: (g * out * (1 - out),), dtype=_floating)

defop("where", "elementwise", lambda c, x, y: np.where(c, x, y), scalar="({1} if {0} else {2})",
      vjp=lambda g, out, c, x, y: (None, np.where(c, g, 0), np.where(c, 0, g)),
      dtype=lambda c, x, y: _promote(x, y))

defop("cast", "elementwise", lambda x, dtype: x.astype(dtype), scalar="{T}({0})",
      vjp=lambda g, out, x, dtype: (g.astype(x.dtype),), dtype=lambda x, dtype: np.dtype(dtype))

# Identity keeps a differentiated argument distinct inside an outer trace (grad of grad);
# stop_gradient is identity forward and zero backward (the max shift of logsumexp).
defop("identity", "elementwise", lambda x: x.copy(), scalar="{0}",
      vjp=lambda g, out, x: (g,), dtype=_promote)
defop("stop_gradient", "elementwise", lambda x: x.copy(), scalar="{0}", vjp=None, dtype=_promote)


def _broadcast_shape(x, shape):
    target = tuple(shape)
    if broadcast_shapes(x.shape, target) != target:
        raise ShapeError(f"cannot broadcast shape {x.shape} to {target}")
    return target, x.dtype


# Elementwise for codegen (a copy with broadcasting); its cotangent is g itself, summed back
# to the input's shape by the adjoint pass like every other broadcast.
defop("broadcast_to", "elementwise", lambda x, shape: np.broadcast_to(x, shape).copy(),
      scalar="{0}", vjp=lambda g, out, x, shape: (g,), shape=_broadcast_shape)


# ---------------------------------------------------------------------------- reductions
def _reduce_shape(x, axes, keepdims):
    shape = tuple(1 if d in axes else s for d, s in enumerate(x.shape)) if keepdims else \
        tuple(s for d, s in enumerate(x.shape) if d not in axes)
    return shape, x.dtype


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    # As NumPy: booleans and small integers are summed in the platform's 64-bit integer.
    return {"b": np.dtype(np.int64), "i": np.dtype(np.int64),
            "u": np.dtype(np.uint64)}.get(dtype.kind, dtype)


def _sum_shape(x, axes, keepdims):
    shape, dtype = _reduce_shape(x, axes, keepdims)
    return shape, _sum_dtype(dtype)


def _kept(g, x, axes, keepdims):
    """g reshaped to x's rank (reduced axes of length 1), ready to broadcast against x."""
    return g if keepdims else g.reshape(tuple(1 if d in axes else s for d, s in enumerate(x.shape)))


def _sum_vjp(g, out, x, axes, keepdims):
    return (np.broadcast_to(_kept(g, x, axes, keepdims), x.shape),)


def _extremum_vjp(g, out, x, axes, keepdims):
    hit = x == _kept(out, x, axes, keepdims)
    count = hit.astype(g.dtype).sum(axis=axes, keepdims=True)
    return (np.where(hit, _kept(g, x, axes, keepdims) / count, 0),)


def _identity_for(value: float):
    def identity(dtype: np.dtype):
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            return {0.0: 0, 1.0: 1, np.inf: info.max, -np.inf: info.min}[value]
        if dtype.kind == "b":
            return bool(value in (1.0, np.inf))
        return value
    return identity


defop("sum", "reduce", lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
      vjp=_sum_vjp, shape=_sum_shape, combine="add", identity=_identity_for(0.0))
defop("prod", "reduce", lambda x, axes, keepdims: np.prod(x, axis=axes, keepdims=keepdims),
      vjp=lambda g, out, x, axes, keepdims: _prod_vjp(g, out, x, axes, keepdims),
      shape=_sum_shape, combine="multiply", identity=_identity_for(1.0))


def _prod_vjp(g, out, x, axes, keepdims):
    # d prod / d x_i is the product of the others: out / x_i where no factor is zero; with one
    # zero, the product of the others at the zero and 0 elsewhere; with two or more, 0.
    zero = x == 0
    zeros = zero.astype(x.dtype).sum(axis=axes, keepdims=True)
    safe = np.where(zero, 1, x)
    rest = np.where(zero, np.where(zeros == 1, np.prod(safe, axis=axes, keepdims=True), 0),
                    np.where(zeros == 0, _kept(out, x, axes, keepdims) / safe, 0))
    return (_kept(g, x, axes, keepdims) * rest,)


defop("max", "reduce", lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
      vjp=_extremum_vjp, shape=_reduce_shape, combine="maximum", identity=_identity_for(-np.inf))
defop("min", "reduce", lambda x, axes, keepdims: np.min(x, axis=axes, keepdims=keepdims),
      vjp=_extremum_vjp, shape=_reduce_shape, combine="minimum", identity=_identity_for(np.inf))


# -------------------------------------------------------------------------------- matmul
def _matmul_shape(a, b):
    # The tracer lifts 1-D operands to 2-D, so both have rank >= 2 here.
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return batch + (a.shape[-2], b.shape[-1]), _promote(a.dtype, b.dtype)


defop("matmul", "matmul", np.matmul, shape=_matmul_shape,
      vjp=lambda g, out, a, b: (g @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ g))


# -------------------------------------------------------------------------------- layout
def _transpose_shape(x, axes):
    return tuple(x.shape[a] for a in axes), x.dtype


def _reshape_shape(x, shape):
    return tuple(shape), x.dtype


def slice_shape(shape, index):
    """Shape after basic indexing; ``index`` has, per input dim, an int or (start, stop, step)."""
    kept = tuple(len(range(*i)) for i in index if not isinstance(i, int))
    return kept + tuple(shape[len(index):])


def pyindex(index) -> tuple:
    """The normalised index as Python slices (a negative stop means 'through the start')."""
    return tuple(i if isinstance(i, int) else slice(i[0], None if i[1] < 0 else i[1], i[2])
                 for i in index)


defop("transpose", "layout", lambda x, axes: np.transpose(x, axes), shape=_transpose_shape,
      vjp=lambda g, out, x, axes: (np.transpose(g, tuple(np.argsort(axes))),))
defop("reshape", "layout", lambda x, shape: np.reshape(x, shape), shape=_reshape_shape,
      vjp=lambda g, out, x, shape: (g.reshape(x.shape),))
defop("slice", "layout", lambda x, index: x[pyindex(index)],
      shape=lambda x, index: (slice_shape(x.shape, index), x.dtype),
      vjp=lambda g, out, x, index: (_unslice(g, x.shape, index),))


def _unslice_impl(g, shape, index):
    out = np.zeros(shape, g.dtype)
    out[pyindex(index)] = g
    return out


def _unslice(g, shape, index):
    from .trace import apply  # the tracer builds the node; ops stay free of tracing machinery

    return apply("unslice", g, shape=tuple(shape), index=index)


# The adjoint of basic indexing: g placed into zeros of the sliced array's shape.
defop("unslice", "layout", _unslice_impl, shape=lambda g, shape, index: (tuple(shape), g.dtype),
      vjp=lambda g, out, x, shape, index: (g[pyindex(index)],))


def _concat_shape(*xs, axis):
    first = xs[0].shape
    for x in xs[1:]:
        if len(x.shape) != len(first) or any(
                a != b for d, (a, b) in enumerate(zip(x.shape, first)) if d != axis):
            raise ShapeError("concatenate: shapes differ outside the joined axis: "
                             + ", ".join(str(x.shape) for x in xs))
    shape = list(first)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return tuple(shape), _promote(*(x.dtype for x in xs))


def _concat_vjp(g, out, *xs, axis):
    cuts = np.cumsum([0] + [x.shape[axis] for x in xs])
    lead = (slice(None),) * axis
    return tuple(g[lead + (slice(int(a), int(b)),)] for a, b in zip(cuts[:-1], cuts[1:]))


defop("concatenate", "layout", lambda *xs, axis: np.concatenate(xs, axis=axis),
      shape=_concat_shape, vjp=_concat_vjp)


# ---------------------------------------------------------------------------------- scans
def _cumsum_impl(x, axis, reverse):
    dtype = _sum_dtype(x.dtype)
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=dtype), axis)
    return np.cumsum(x, axis=axis, dtype=dtype)


def _cumsum_vjp(g, out, x, axis, reverse):
    from .trace import apply

    return (apply("cumsum", g, axis=axis, reverse=not reverse),)


# Running sums along one axis (``reverse``: from the end), in order, as np.cumsum adds. Its
# adjoint is the running sum in the other direction.
defop("cumsum", "cumulative", _cumsum_impl, vjp=_cumsum_vjp,
      shape=lambda x, axis, reverse: (x.shape, _sum_dtype(x.dtype)))


def _accumulate(ufunc):
    def impl(x, axis, reverse):
        if reverse:
            return np.flip(ufunc.accumulate(np.flip(x, axis), axis=axis), axis)
        return ufunc.accumulate(x, axis=axis)
    return impl


def _shifted(x, axis: int, by: int, fill):
    """``x`` moved ``by`` (+1 or -1) places along ``axis``, ``fill`` in the place left."""
    from .trace import concatenate, full_like

    n = x.shape[axis]
    lead = (slice(None),) * axis
    edge = full_like(x[lead + (slice(0, 1),)], fill)
    if by > 0:
        return concatenate([edge, x[lead + (slice(0, n - 1),)]], axis=axis)
    return concatenate([x[lead + (slice(1, n),)], edge], axis=axis)


def _cumextreme_vjp(g, out, x, axis, reverse):
    """g goes to the element each running extreme holds: the latest record (a place where
    the running value changes; a first NaN) at or before each place, found by a running max
    of the records' positions. Ties keep the earlier element."""
    from .trace import apply

    n = x.shape[axis]
    shape = (1,) * axis + (n,) + (1,) * (x.ndim - axis - 1)
    pos = np.arange(n).reshape(shape)
    order = n - 1 - pos if reverse else pos  # the place's number in the running order
    before = _shifted(out, axis, -1 if reverse else 1, 0)
    records = (order == 0) | ((out != before) & ((out == out) | (before == before)))
    held = apply("cummax", np.where(records, order, -1), axis=axis, reverse=reverse)
    stride = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    base = np.arange(x.size).reshape(x.shape) - pos * stride  # each line's first place
    flat = base + (n - 1 - held if reverse else held) * stride
    return (apply("scatter_add", g.reshape(-1), flat.reshape(-1), axis=0,
                  size=x.size).reshape(x.shape),)


# Running maxima and minima along ``axis`` (np.maximum.accumulate; NaN, once met, stays):
# the gradient goes to the element each running extreme holds.
defop("cummax", "cumulative", _accumulate(np.maximum), vjp=_cumextreme_vjp,
      shape=lambda x, axis, reverse: (x.shape, x.dtype))
defop("cummin", "cumulative", _accumulate(np.minimum), vjp=_cumextreme_vjp,
      shape=lambda x, axis, reverse: (x.shape, x.dtype))


def _linrec_impl(a, b, axis, reverse):
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    out = np.empty(b.shape, np.result_type(a, b))
    acc = np.zeros(b.shape[1:], out.dtype)
    for i in (range(len(b) - 1, -1, -1) if reverse else range(len(b))):
        acc = out[i] = a[i] * acc + b[i]
    return np.moveaxis(out, 0, axis)


def _linrec_vjp(g, out, a, b, axis, reverse):
    """lam = the recurrence the other way round with a moved one place (lam_i = g_i +
    a_(i+1) lam_(i+1)); b gets lam, a gets lam times the value before."""
    from .trace import apply

    step = -1 if reverse else 1
    lam = apply("linrec", _shifted(a, axis, -step, 0), g, axis=axis, reverse=not reverse)
    return lam * _shifted(out, axis, step, 0), lam


def _linrec_shape(a, b, axis, reverse):
    if a.shape != b.shape:
        raise ShapeError(f"linrec: a of shape {a.shape} and b of shape {b.shape} differ")
    return b.shape, np.result_type(a.dtype, b.dtype)


# The first-order linear recurrence y_i = a_i * y_(i-1) + b_i along ``axis`` (y_-1 = 0;
# ``reverse``: y_i = a_i * y_(i+1) + b_i): running products (np.cumprod), discounted sums.
# Its adjoint is the same recurrence, the other way round.
defop("linrec", "cumulative", _linrec_impl, vjp=_linrec_vjp, shape=_linrec_shape)


# The places that sort ``x`` along ``axis``: stable (equal values keep their order) and NaNs
# last, as np.argsort(kind="stable"). An integer result, so no derivative: np.sort and the
# order statistics gather at it, and their gradients flow through the gather.
defop("argsort", "sort", lambda x, axis: np.argsort(x, axis=axis, kind="stable"),
      shape=lambda x, axis: (x.shape, np.dtype(np.int64)))


# ------------------------------------------------------------------------ gather / scatter
def _index_dtype(idx) -> None:
    if idx.dtype.kind not in "iu":
        raise ShapeError(f"indices must be integers, got dtype {idx.dtype}")


def _gather_shape(x, idx, axis):
    _index_dtype(idx)
    return x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype


def _scatter_shape(g, idx, axis, size, bins=False):
    _index_dtype(idx)
    return g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:], g.dtype


def checked_indices(idx: np.ndarray, size: int, what: str) -> np.ndarray:
    """``idx`` with negative entries counted from the end; OutOfBoundsError if any is outside
    an axis of length ``size``."""
    idx = np.asarray(idx)
    bad = (idx < -size) | (idx >= size)
    if bad.any():
        raise OutOfBoundsError(f"{what}: index {int(idx[bad].flat[0])} is out of bounds for "
                               f"an axis of size {size}")
    return np.where(idx < 0, idx + size, idx)


def bins_message(size: int) -> str:
    """What a bad value of ``np.bincount`` (a scatter_add with ``bins``) is told with."""
    return f"np.bincount: a value outside the bins 0..{size - 1} (minlength={size})"


def _gather_impl(x, idx, axis):
    return np.take(x, checked_indices(idx, x.shape[axis], "gather"), axis=axis)


def _scatter_impl(g, idx, axis, size, bins=False):
    out = np.zeros(g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:], g.dtype)
    if bins:  # (no wrap from the end: a negative bin is out of range)
        bad = (idx < 0) | (idx >= size)
        if bad.any():
            raise OutOfBoundsError(f"{bins_message(size)}: {int(idx[bad][0])}")
    np.add.at(out, (slice(None),) * axis + (checked_indices(idx, size, "scatter_add"),), g)
    return out


def _gather_vjp(g, out, x, idx, axis):
    from .trace import apply

    return apply("scatter_add", g, idx, axis=axis, size=x.shape[axis]), None


def _scatter_vjp(g, out, x, idx, axis, size, bins=False):
    from .trace import apply

    return apply("gather", g, idx, axis=axis), None


# x[idx] along ``axis`` (np.take), and its adjoint: g added into zeros at idx, so that repeated
# indices accumulate. Negative indices count from the end; others out of range raise
# OutOfBoundsError, in the reference and in compiled code alike (never a wild read). With
# ``bins`` (np.bincount) a negative index is out of range too.
defop("gather", "index", _gather_impl, vjp=_gather_vjp, shape=_gather_shape)
defop("scatter_add", "index", _scatter_impl, vjp=_scatter_vjp, shape=_scatter_shape)


# ------------------------------------------------------------------------- linear algebra
# Stacks of matrices (..., m, n), square but for svd's, factored in compiled code (LU with
# partial pivoting, Cholesky, symmetric eigendecomposition, SVD): the tracer casts operands to
# one float dtype and broadcasts their stacks. A matrix that cannot be factored raises
# LinAlgError with this reason (slogdet has an answer for every matrix).
FACTOR_FAILURE = {"solve": "singular matrix", "cholesky": "matrix is not positive definite",
                  "eigh": "eigenvalues did not converge", "svd": "SVD did not converge"}


def _square(a, what: str) -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{what}: needs square matrices (..., n, n), got shape {a.shape}")


def _matrix(a, what: str) -> None:
    if a.ndim < 2:
        raise ShapeError(f"{what}: needs matrices (..., m, n), got shape {a.shape}")


def _solve_shape(a, b):
    _square(a, "solve")
    if b.ndim != a.ndim or b.shape[:-1] != a.shape[:-1]:
        raise ShapeError(f"solve: right-hand sides of shape {b.shape} for matrices of shape "
                         f"{a.shape}")
    return b.shape, _floating(a.dtype, b.dtype)


def _swap(x):
    from .trace import swapaxes

    return swapaxes(x, -1, -2)


def _inverse(a):
    from .trace import apply, broadcast_to

    return apply("solve", a, broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape))


def _solve_vjp(g, out, a, b):
    from .trace import apply, matmul

    gb = apply("solve", _swap(a), g)
    return -matmul(gb, _swap(out)), gb


def _slogdet_vjp(g, out, a):
    return (g[..., 1:2, None] * _swap(_inverse(a)),)


def _onto_lower_triangle(s):
    """The gradient with respect to the lower triangle that a symmetric matrix is read from,
    of ``s``, the gradient with respect to the whole matrix: s + s^T below the diagonal, s on
    it, zero above."""
    n = s.shape[-1]
    return np.where(np.tri(n, k=-1, dtype=bool), s + _swap(s), 0) + \
        s * np.eye(n, dtype=s.dtype)


def _cholesky_vjp(g, out, a):
    """With P = Phi(L^T g) (the lower triangle, its diagonal halved) and S = L^-T P L^-1,
    the derivative of the lower triangle that np.linalg.cholesky reads: S + S^T below the
    diagonal, S on it, zero above."""
    from .trace import apply, matmul

    n = a.shape[-1]
    lt = _swap(out)
    p = matmul(lt, g) * (np.tri(n, dtype=a.dtype) - 0.5 * np.eye(n, dtype=a.dtype))
    x = apply("solve", lt, p)
    s = _swap(apply("solve", lt, _swap(x)))
    return (_onto_lower_triangle(s),)


def _reciprocal(x):
    """1/x, and 0 where x is 0."""
    return (x != 0) / (x + (x == 0))


def _flipped(v):
    """Where the columns of v (eigenvectors, singular vectors) change sign so that each one's
    largest entry in magnitude (the first of equals) is positive: the sign LAPACK leaves open,
    fixed the same way on every backend."""
    return np.take_along_axis(v, np.abs(v).argmax(axis=-2)[..., None, :], axis=-2) < 0


def _eigh_impl(a):
    w, v = np.linalg.eigh(a)
    return np.concatenate([w[..., None, :], np.where(_flipped(v), -v, v)], axis=-2)


def _eigh_vjp(g, out, a):
    """A = V diag(w) V^T, symmetric, read from its lower triangle: with F_ij = 1/(w_j - w_i)
    (0 where they are equal, so that unused eigenvectors of a repeated eigenvalue cost
    nothing), G = V (diag(g_w) + F * (V^T g_V)) V^T, folded onto the lower triangle."""
    from .trace import matmul

    n = a.shape[-1]
    w, v = out[..., :1, :], out[..., 1:, :]
    f = _reciprocal(w - _swap(w))
    eye = np.eye(n, dtype=a.dtype)
    gmat = matmul(matmul(v, g[..., :1, :] * eye + f * matmul(_swap(v), g[..., 1:, :])),
                  _swap(v))
    return (_onto_lower_triangle(gmat),)


def _svd_impl(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    v, flip = np.swapaxes(vh, -1, -2), _flipped(u)
    return np.concatenate([np.where(flip, -u, u), s[..., None, :], np.where(flip, -v, v)],
                          axis=-2)


def _svd_vjp(g, out, a):
    """A = U diag(s) V^T (thin): with F_ij = 1/(s_j^2 - s_i^2) (0 where equal),
    U [(F * (U^T gU - gU^T U)) S + diag(g_s) + S (F * (V^T gV - gV^T V))] V^T
    + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T), where 1/s is 0 for s = 0 (the
    directions of a zero singular value are only used through its vectors)."""
    from .trace import matmul

    m, k = a.shape[-2], out.shape[-1]
    u, s, v = out[..., :m, :], out[..., m:m + 1, :], out[..., m + 1:, :]
    gu, gs, gv = g[..., :m, :], g[..., m:m + 1, :], g[..., m + 1:, :]
    s2 = s * s
    f = _reciprocal(s2 - _swap(s2))
    utgu, vtgv = matmul(_swap(u), gu), matmul(_swap(v), gv)
    inner = (f * (utgu - _swap(utgu)) * s + gs * np.eye(k, dtype=a.dtype)
             + _swap(s) * (f * (vtgv - _swap(vtgv))))
    sinv = _reciprocal(s)
    return (matmul(matmul(u, inner), _swap(v))
            + matmul((gu - matmul(u, utgu)) * sinv, _swap(v))
            + matmul(u, _swap((gv - matmul(v, vtgv)) * sinv)),)


def _qr_impl(a):
    q, r = np.linalg.qr(a)
    return np.concatenate([q, r], axis=-2)


def _qr_vjp(g, out, a):
    """A = Q R (m >= n, R invertible): with M = gR R^T - Q^T gQ and S the symmetric matrix of
    M's upper triangle, (gQ + Q S) R^-T."""
    from .trace import apply, matmul

    m, n = a.shape[-2:]
    q, r = out[..., :m, :], out[..., m:, :]
    gq, gr = g[..., :m, :], g[..., m:, :]
    mm = matmul(gr, _swap(r)) - matmul(_swap(q), gq)
    s = np.triu(mm) + _swap(np.triu(mm, 1))
    return (_swap(apply("solve", r, _swap(gq + matmul(q, s)))),)


def _qr_shape(a):
    _matrix(a, "qr")
    if a.shape[-2] < a.shape[-1]:
        raise ShapeError(f"qr: needs matrices with at least as many rows as columns, got shape "
                         f"{a.shape}")
    return a.shape[:-2] + (a.shape[-2] + a.shape[-1], a.shape[-1]), _floating(a.dtype)


defop("solve", "linalg", lambda a, b: np.linalg.solve(a, b), vjp=_solve_vjp,
      shape=_solve_shape)
# sign and log|det| side by side on a last axis of 2 (one factorisation for both)
defop("slogdet", "linalg", lambda a: np.stack(np.linalg.slogdet(a), axis=-1),
      vjp=_slogdet_vjp, shape=lambda a: (_square(a, "slogdet") or a.shape[:-2] + (2,),
                                         _floating(a.dtype)))
defop("cholesky", "linalg", lambda a: np.linalg.cholesky(a), vjp=_cholesky_vjp,
      shape=lambda a: (_square(a, "cholesky") or a.shape, _floating(a.dtype)))

# eigenvalues (ascending) in row 0 above the eigenvectors (columns) of a symmetric matrix
defop("eigh", "linalg", _eigh_impl, vjp=_eigh_vjp,
      shape=lambda a: (_square(a, "eigh") or a.shape[:-2] + (a.shape[-1] + 1, a.shape[-1]),
                       _floating(a.dtype)))
# the thin SVD: U (m x k) above s (descending) above V (n x k), k = min(m, n); each pair of
# singular vectors signed so that the largest entry of u is positive
defop("svd", "linalg", _svd_impl, vjp=_svd_vjp,
      shape=lambda a: (_matrix(a, "svd") or a.shape[:-2] + (sum(a.shape[-2:]) + 1,
                                                           min(a.shape[-2:])),
                       _floating(a.dtype)))

# the reduced QR of a tall or square matrix: Q (m x n) above R (n x n), signed as LAPACK's
# Householder reflections leave them (R's diagonal entry -/+ as the column's pivot is +/-)
defop("qr", "linalg", _qr_impl, vjp=_qr_vjp, shape=_qr_shape)

# ---------------------------------------------------------------------------- transforms
def _dft_impl(x, sign):
    z = x[..., 0, :] if x.shape[-2] == 1 else x[..., 0, :] + 1j * x[..., 1, :]
    f = np.fft.fft(z) if sign < 0 else np.fft.ifft(z, norm="forward")
    return np.stack([f.real, f.imag], axis=-2).astype(_floating(x.dtype))


def _dft_vjp(g, out, x, sign):
    """The DFT is linear with a symmetric matrix F; as a real map of (re, im) its transpose
    is the DFT of the other sign (F's conjugate): the adjoint of the real-input form keeps
    the real row."""
    from .trace import apply

    gx = apply("dft", g, sign=-sign)
    return (gx if x.shape[-2] == 2 else gx[..., :1, :],)


def _dft_shape(x, sign):
    if x.ndim < 2 or x.shape[-2] not in (1, 2) or sign not in (1, -1):
        raise ShapeError(f"dft: needs (..., 2, n) (re above im) or (..., 1, n) (real) and a "
                         f"sign of +-1, got shape {x.shape}, sign {sign!r}")
    return x.shape[:-2] + (2, x.shape[-1]), _floating(x.dtype)


# The unscaled discrete Fourier transform along the last axis, sum_j z_j exp(sign 2 pi i j k / n),
# of z = re + i im given as rows (..., 2, n), or as one real row (..., 1, n); the result is
# (..., 2, n). Compiled as a mixed-radix FFT (Stockham's self-sorting order), O(n log n) for n
# with small prime factors; complexes.py sends lengths with a large prime factor through
# Bluestein's chirp, a convolution of power-of-two transforms.
defop("dft", "transform", _dft_impl, vjp=_dft_vjp, shape=_dft_shape)

# -------------------------------------------------------------------------------- sources
defop("input", "source", None,
      shape=lambda index, shape, dtype, weak=False: (tuple(shape), np.dtype(dtype)))
defop("const", "source", lambda value: value,
      shape=lambda value: (value.shape, value.dtype))


UFUNCS: dict[np.ufunc, str] = {op.ufunc: op.name for op in OPS.values() if op.ufunc is not None}


def markdown() -> str:
    """The supported-primitive table of the README, generated from this table."""
    rows = ["| primitive | kind | NumPy ufunc | derivative |", "| --- | --- | --- | --- |"]
    for op in OPS.values():
        if op.kind in ("source", "control"):  # control ops are API functions (scan, custom_vjp)
            continue
        uf = f"`np.{op.ufunc.__name__}`" if op.ufunc is not None else ""
        rows.append(f"| `{op.name}` | {op.kind} | {uf} | {'VJP rule' if op.vjp else 'zero'} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
