"""Complex values in traced code: ``np.fft``, ``1j * x``, ``np.exp(1j * theta)``, ``np.abs(F)``.

graphc's IR, kernels and gradients are real. A ``Complex`` is a traced complex array held as
two real traced arrays of one float dtype, its real and imaginary parts, and each complex
operation is written with real ones on them: a product is four real products, ``np.abs`` is
``hypot``, a discrete Fourier transform is the real op ``dft`` of the two parts stacked. The
adjoint pass and fusion need nothing else, and the gradient of a real loss through complex
intermediates is the ordinary real gradient (what finite differences of the NumPy function
give). A compiled function's complex result is its two parts, joined on the host (``join``);
a loss is real, and so are the arguments.

The DFT along an axis is the op ``dft`` (ops.py) on the axis moved last: compiled as a
mixed-radix FFT over the length's prime factors. A length with a prime factor above
``_PRIME_DIRECT`` goes through Bluestein's chirp instead: a circular convolution of
power-of-two length, done with the same op.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

from .codegen.helpers import _radices
from .errors import ShapeError, UnsupportedError
from .ir import user_loc
from .special import float_tracer
from .trace import (FUNCTIONS, Tracer, _is_weak_input, apply, as_tracer, broadcast_to,
                    const, moveaxis)

COMPLEX_HINT = ("take its .real, .imag or np.abs(z) (a loss is real, and so is what an "
                "operation without complex support takes)")
_PRIME_DIRECT = 128  # a length with a larger prime factor goes through Bluestein's chirp


def _float_of(dtype: np.dtype) -> np.dtype:
    """The float dtype of the parts of a complex (or real) dtype's values."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return np.empty(0, dtype).real.dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def is_complex_constant(x: Any) -> bool:
    """Whether ``x`` is a complex Python or NumPy number, or a complex NumPy array."""
    return isinstance(x, (complex, np.complexfloating)) or (
        isinstance(x, np.ndarray) and x.dtype.kind == "c")


# ----------------------------------------------------------------------- parts arithmetic
# A part is a real traced array, a real constant, or None for an exact zero (a real value's
# imaginary part): the helpers skip the work that a zero makes trivial.
def _add(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else a + b


def _sub(a: Any, b: Any) -> Any:
    return a if b is None else 0.0 - b if a is None else a - b  # (0 - 0 is +0, as NumPy's)


def _mul(a: Any, b: Any) -> Any:
    return None if a is None or b is None else a * b


def _filled(a: Any) -> Any:
    """A part with its zero written out, where an operation needs a value."""
    return 0.0 if a is None else a


def _parts(x: Any) -> tuple[Any, Any]:
    """(real part, imaginary part or None) of an operand."""
    if isinstance(x, Complex):
        return x.re, x.im
    if isinstance(x, complex):  # a weak Python number: its parts stay Python floats
        return x.real, (x.imag or None)  # (a real part of 0 is a number: 1j is not real)
    if isinstance(x, np.complexfloating):
        return x.real, (x.imag if x.imag else None)
    if isinstance(x, np.ndarray) and x.dtype.kind == "c":
        return Tracer(const(x.real)), Tracer(const(x.imag))
    return x, None


def _zeros(like: Tracer) -> Tracer:
    return broadcast_to(Tracer(const(np.zeros((), like.dtype))), like.shape)


def make(re: Any, im: Any) -> Complex:
    """A Complex from parts (None: zero), broadcast together, of one float dtype: that of
    the arrays among them (Python numbers are weak, as in NumPy)."""
    strong = [p.dtype for p in (re, im) if isinstance(p, (Tracer, np.ndarray, np.generic))
              and not _is_weak_input(p)]
    dtype = _float_of(np.result_type(*strong)) if strong else np.dtype(np.float64)
    re = None if re is None else as_tracer(re)
    im = None if im is None else as_tracer(im)
    if re is None and im is None:
        raise ValueError("graphc internal: a complex value with no parts")
    given = [p for p in (re, im) if p is not None]
    shape = np.broadcast_shapes(*(p.shape for p in given))
    re, im = ((_zeros(given[0]) if p is None else p).astype(dtype) for p in (re, im))
    if re.shape != shape:
        re = broadcast_to(re, shape)
    if im.shape != shape:
        im = broadcast_to(im, shape)
    return Complex(re, im)


def join(re: Any, im: Any, dtype: Any = None) -> Any:
    """A complex value from its parts: a Complex of traced ones; of computed ones (a compiled
    function's two results for one complex result, of float ``dtype``), NumPy's complex
    array or scalar."""
    if isinstance(re, Tracer) or isinstance(im, Tracer):
        return make(re, im)
    if not all(isinstance(p, (np.ndarray, np.generic, float)) for p in (re, im)):
        raise UnsupportedError(f"a complex result is joined from its parts on the host, and "
                               f"these are {type(re).__name__}: use device_results=False, or "
                               "return .real and .imag")
    re, im = np.asarray(re, dtype), np.asarray(im, dtype)
    out = np.empty(re.shape, np.result_type(re.dtype, np.complex64))
    out.real, out.imag = re, im
    return out[()] if out.ndim == 0 else out


def lift(x: Any) -> Complex:
    return x if isinstance(x, Complex) else make(*_parts(x))


def _cmul(a: tuple, b: tuple) -> tuple:
    (ar, ai), (br, bi) = a, b
    return _sub(_mul(ar, br), _mul(ai, bi)), _add(_mul(ar, bi), _mul(ai, br))


def _cdiv(a: tuple, b: tuple) -> tuple:
    """a / b by Smith's method, as NumPy's: scaled by the larger part of b, so that no square
    of it overflows or underflows."""
    (ar, ai), (br, bi) = a, b
    if bi is None:
        return tuple(None if p is None else p / br for p in (ar, ai))
    ar, ai = _filled(ar), _filled(ai)
    wide = np.abs(br) >= np.abs(bi)
    big, small = np.where(wide, br, bi), np.where(wide, bi, br)
    safe = np.where(big == 0, 1, big)  # b == 0: NumPy's inf and nan come from the division
    r = np.where(big == 0, 0, small / safe)
    den = big + small * r
    # wide: (ar + ai r) / den, (ai - ar r) / den; else: (ar r + ai) / den, (ai r - ar) / den
    first = np.where(wide, ar, ai) + np.where(wide, ai, ar) * r
    second = np.where(wide, ai, -ar) - np.where(wide, ar, -ai) * r
    return first / den, second / den


def _bilinear(f: Callable, a: tuple, b: tuple) -> tuple:
    """A function linear in each of two operands, on complex ones: f(a, b) in four real
    calls (fewer where a part is zero)."""
    (ar, ai), (br, bi) = a, b
    part = lambda x, y: None if x is None or y is None else f(x, y)
    return _sub(part(ar, br), part(ai, bi)), _add(part(ar, bi), part(ai, br))


def _abs(z: Complex) -> Tracer:
    return np.hypot(z.re, z.im)


def _exp(re: Any, im: Any) -> tuple:
    m = 1.0 if re is None else np.exp(re)
    return (m, None) if im is None else (m * np.cos(im), m * np.sin(im))


def _log(z: Complex) -> tuple:
    return np.log(_abs(z)), np.arctan2(z.im, z.re)


def _power(a: Any, b: Any) -> Complex:
    if isinstance(b, numbers.Integral) and not isinstance(b, bool) and abs(int(b)) <= 64:
        n, base, out = abs(int(b)), _parts(a), None
        while n:  # by squaring
            if n & 1:
                out = base if out is None else _cmul(out, base)
            n >>= 1
            if n:
                base = _cmul(base, base)
        if out is None:
            return make(np.ones_like(lift(a).re), None)
        return make(*(out if int(b) > 0 else _cdiv((1.0, None), out)))
    a = lift(a)
    re, im = _exp(*_cmul(_parts(b), _log(a)))
    # 0 ** b: 0 where Re(b) > 0, else NaN, as NumPy (exp(b log 0) is NaN when Im(b) != 0)
    zero = (a.re == 0) & (_filled(a.im) == 0)
    at_zero = np.where(as_tracer(_filled(_parts(b)[0])) > 0, 0.0, np.nan)
    return make(np.where(zero, at_zero, re), np.where(zero, at_zero, _filled(im)))


def _sqrt(z: Complex) -> tuple:
    """The principal root, as NumPy's: sqrt((|z| + x) / 2) + i sign(y) sqrt((|z| - x) / 2);
    each part is written so that no cancellation occurs."""
    r = _abs(z)
    big = np.sqrt(np.maximum((r + np.abs(z.re)) / 2, 0))  # the part that does not cancel
    safe = np.where(big > 0, big, 1)
    small = np.where(big > 0, np.abs(z.im) / (2 * safe), 0)
    pos = z.re >= 0
    return (np.where(pos, big, small),
            np.copysign(np.where(pos, small, big), z.im))  # (compose.py's)


_UNARY: dict[Any, Callable[[Complex], tuple]] = {
    np.negative: lambda z: (-z.re, -z.im),
    np.positive: lambda z: (z.re, z.im),
    np.conjugate: lambda z: (z.re, -z.im),
    np.exp: lambda z: _exp(z.re, z.im),
    np.log: _log,
    np.sqrt: _sqrt,
    np.square: lambda z: _cmul((z.re, z.im), (z.re, z.im)),
    np.reciprocal: lambda z: _cdiv((1.0, None), (z.re, z.im)),
    np.sin: lambda z: (np.sin(z.re) * np.cosh(z.im), np.cos(z.re) * np.sinh(z.im)),
    np.cos: lambda z: (np.cos(z.re) * np.cosh(z.im), -np.sin(z.re) * np.sinh(z.im)),
}
_REAL_UNARY: dict[Any, Callable[[Complex], Tracer]] = {
    np.absolute: _abs,
    np.isfinite: lambda z: np.isfinite(z.re) & np.isfinite(z.im),
    np.isnan: lambda z: np.isnan(z.re) | np.isnan(z.im),
    np.isinf: lambda z: np.isinf(z.re) | np.isinf(z.im),
}


def _equal(a: Any, b: Any) -> Tracer:
    (ar, ai), (br, bi) = _parts(a), _parts(b)
    return np.equal(ar, br) & np.equal(_filled(ai), _filled(bi))


_REAL_BINARY: dict[Any, Callable[[Any, Any], Tracer]] = {
    np.equal: _equal, np.not_equal: lambda a, b: ~_equal(a, b),
}
_BINARY: dict[Any, Callable[[Any, Any], Complex]] = {
    np.add: lambda a, b: make(*map(_add, _parts(a), _parts(b))),
    np.subtract: lambda a, b: make(*map(_sub, _parts(a), _parts(b))),
    np.multiply: lambda a, b: make(*_cmul(_parts(a), _parts(b))),
    np.divide: lambda a, b: make(*_cdiv(_parts(a), _parts(b))),
    np.power: _power,
    np.matmul: lambda a, b: make(*_bilinear(np.matmul, _parts(a), _parts(b))),
}


def ufunc(uf: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """A NumPy ufunc call with a complex operand (a Complex or a complex constant)."""
    name = f"numpy.{uf.__name__}"
    if method != "__call__" or kwargs:
        raise UnsupportedError(f"{name}: only plain calls of complex values are supported "
                               f"(not .{method} or keyword arguments)", user_loc())
    if uf in _UNARY and len(inputs) == 1:
        return make(*_UNARY[uf](lift(inputs[0])))
    if uf in _REAL_UNARY and len(inputs) == 1:
        return _REAL_UNARY[uf](lift(inputs[0]))
    if uf in _BINARY and len(inputs) == 2:
        return _BINARY[uf](*inputs)
    if uf in _REAL_BINARY and len(inputs) == 2:
        return _REAL_BINARY[uf](*inputs)
    raise UnsupportedError(f"{name} of complex values is not supported by graphc (it has "
                           "+, -, *, /, **, @, abs, conj, exp, log, sqrt, sin, cos and np.fft; "
                           "or " + COMPLEX_HINT + ")", user_loc())


# --------------------------------------------------------------------------- the class
class Complex:
    """A traced complex array: ``re`` and ``im``, real Tracers of one shape and float dtype."""

    __slots__ = ("re", "im")
    __array_priority__ = 2000  # above Tracer's and NumPy's: mixed operators come here

    def __init__(self, re: Tracer, im: Tracer):
        self.re, self.im = re, im

    shape = property(lambda self: self.re.shape)
    ndim = property(lambda self: self.re.ndim)
    size = property(lambda self: self.re.size)
    dtype = property(lambda self: np.result_type(self.re.dtype, np.complex64))
    real = property(lambda self: self.re)
    imag = property(lambda self: self.im)
    T = property(lambda self: Complex(self.re.T, self.im.T))

    def __repr__(self) -> str:
        return f"Complex({self.re!r}, {self.im!r})"

    def __len__(self) -> int:
        return len(self.re)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        return Complex(self.re[index], self.im[index])

    def __setitem__(self, index, value):
        re, im = _parts(value)
        self.re[index] = _filled(re)
        self.im[index] = _filled(im)

    def __bool__(self):
        raise UnsupportedError("the truth value of a traced complex value is not known while "
                               "tracing", user_loc())

    def __array__(self, dtype=None, copy=None):
        raise UnsupportedError("a traced complex value cannot become a NumPy array", user_loc())

    def _number(self):
        raise UnsupportedError("a traced complex value cannot become a Python number while "
                               "tracing", user_loc())

    __complex__ = __float__ = __int__ = __index__ = _number

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise UnsupportedError(f"the attribute or method .{name} of a complex traced value is "
                               "not supported by graphc", user_loc())

    def conj(self) -> Complex:
        return Complex(self.re, -self.im)

    conjugate = conj

    def astype(self, dtype, **kwargs) -> Any:
        dtype = np.dtype(dtype)
        if dtype.kind != "c":
            raise UnsupportedError(f"a complex value cast to {dtype} (NumPy drops the "
                                   f"imaginary part with a warning): {COMPLEX_HINT}", user_loc())
        f = _float_of(dtype)
        return Complex(self.re.astype(f), self.im.astype(f))

    def dot(self, other) -> Complex:
        return make(*_bilinear(np.dot, _parts(self), _parts(other)))

    def __abs__(self):
        return _abs(self)

    def __neg__(self):
        return Complex(-self.re, -self.im)

    def __pos__(self):
        return self

    def __array_ufunc__(self, uf, method, *inputs, **kwargs):
        return ufunc(uf, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        fn = COMPLEX_FUNCTIONS.get(func)
        if fn is None:
            module = getattr(func, "__module__", None) or "numpy"
            raise UnsupportedError(f"{module}.{func.__name__} of complex values is not "
                                   f"supported by graphc; {COMPLEX_HINT}", user_loc())
        return fn(*args, **kwargs)


def _each(name: str) -> Callable:
    """A method that acts on the two parts alike."""
    def method(self, *args, **kwargs):
        return Complex(getattr(self.re, name)(*args, **kwargs),
                       getattr(self.im, name)(*args, **kwargs))
    method.__name__ = name
    return method


for _name in ("reshape", "transpose", "swapaxes", "sum", "mean", "cumsum", "ravel", "flatten",
              "squeeze", "copy", "diagonal", "trace", "take", "repeat"):
    setattr(Complex, _name, _each(_name))


def _operator(uf: np.ufunc, reflected: bool) -> Callable:
    if reflected:
        return lambda self, o: ufunc(uf, "__call__", (o, self), {})
    return lambda self, o: ufunc(uf, "__call__", (self, o), {})


for _name, _uf in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.divide), ("pow", np.power), ("matmul", np.matmul)):
    setattr(Complex, f"__{_name}__", _operator(_uf, False))
    setattr(Complex, f"__r{_name}__", _operator(_uf, True))
Complex.__eq__ = _operator(np.equal, False)
Complex.__ne__ = _operator(np.not_equal, False)
Complex.__hash__ = object.__hash__


def _refuse_order(self, o):
    raise UnsupportedError("complex numbers have no order (<, >)", user_loc())


for _name in ("lt", "le", "gt", "ge"):
    setattr(Complex, f"__{_name}__", _refuse_order)


# ------------------------------------------------------------------ NumPy functions on them
def _linear(func: Callable) -> Callable:
    """A NumPy function linear in its first argument (a layout change, a sum): applied to
    each part."""
    def fn(x, *args, **kwargs):
        re, im = _parts(x)
        if im is None:
            return func(re, *args, **kwargs)
        return Complex(func(re, *args, **kwargs), func(im, *args, **kwargs))
    return fn


def _joined(func: Callable) -> Callable:
    """np.concatenate and the stacks: a sequence of arrays, some complex."""
    def fn(arrays, *args, **kwargs):
        zs = [lift(a) for a in arrays]
        return Complex(func([z.re for z in zs], *args, **kwargs),
                       func([z.im for z in zs], *args, **kwargs))
    return fn


def _where(cond, x=None, y=None):
    if x is None or y is None:
        raise UnsupportedError("np.where(cond) of a complex value is not supported", user_loc())
    (xr, xi), (yr, yi) = _parts(x), _parts(y)
    part = lambda a, b: None if a is None and b is None else np.where(cond, _filled(a),
                                                                      _filled(b))
    return make(part(xr, yr), part(xi, yi))


def _vdot(a, b):
    a, b = lift(a).conj(), lift(b)
    return make(*_bilinear(lambda x, y: np.dot(x.reshape(-1), y.reshape(-1)),
                           _parts(a), _parts(b)))


def _einsum(subscripts, *operands, **kwargs):
    if len(operands) == 1:
        return _linear(lambda x: np.einsum(subscripts, x, **kwargs))(operands[0])
    if len(operands) == 2:
        return make(*_bilinear(lambda x, y: np.einsum(subscripts, x, y, **kwargs),
                               *map(_parts, operands)))
    raise UnsupportedError("np.einsum of complex values takes one or two operands in graphc",
                           user_loc())


def _norm(x, ord=None, axis=None, keepdims=False):
    z = lift(x)
    if ord not in (None, "fro") and not (z.ndim == 1 or isinstance(axis, numbers.Integral)):
        raise UnsupportedError(f"np.linalg.norm(ord={ord!r}) of a complex matrix is not "
                               "supported (vector norms and 'fro' are)", user_loc())
    return np.linalg.norm(_abs(z), ord=ord, axis=axis, keepdims=keepdims)


def _real(x):
    return _parts(x)[0] if isinstance(x, Complex) else as_tracer(x)


def _imag(x):
    re, im = _parts(x)
    return im if im is not None else _zeros(as_tracer(re))


def _angle(z, deg=False):
    re, im = _parts(z)
    a = np.arctan2(_zeros(as_tracer(re)) if im is None else im, re)
    return a * (180 / np.pi) if deg else a


# ------------------------------------------------------------------------------- np.fft
def _constant(z: np.ndarray, dtype: np.dtype) -> tuple[Tracer, Tracer]:
    """The parts of a complex NumPy array, as constants of ``dtype``."""
    return Tracer(const(z.real.astype(dtype))), Tracer(const(z.imag.astype(dtype)))


def _dft(re: Any, im: Any, sign: int) -> tuple:
    """The unscaled DFT along the last axis, sum_j x_j exp(sign 2 pi i j k / n), of the parts
    (re, im); im may be None (a real input)."""
    n = re.shape[-1]
    if n == 1:
        return re, im
    if max(_radices.py_func(n)) > _PRIME_DIRECT:  # (n's factors, as the FFT takes them)
        return _bluestein(re, im, sign)
    x = re[..., None, :] if im is None else np.stack([re, im], axis=-2)
    out = apply("dft", x, sign=sign)
    return out[..., 0, :], out[..., 1, :]


def _bluestein(re: Any, im: Any, sign: int) -> tuple:
    """The DFT of a length with a large prime factor: with w_j = exp(sign i pi j^2 / n),
    X_k = w_k sum_j (x_j w_j) conj(w_{k-j}), a convolution done with power-of-two DFTs."""
    n, dtype = re.shape[-1], re.dtype
    m = 1 << (2 * n - 2).bit_length()
    j = np.arange(n)
    chirp = sign * np.pi * ((j * j) % (2 * n)) / n
    w = _constant(np.exp(1j * chirp), dtype)
    a = _cmul((re, im), w)
    pad = [(0, 0)] * (re.ndim - 1) + [(0, m - n)]
    a = tuple(None if p is None else np.pad(p, pad) for p in a)
    # the filter conj(w) at lags -(n-1)..n-1, circularly
    b = np.zeros(m, complex)
    b[:n] = np.exp(-1j * chirp)
    b[m - n + 1:] = np.exp(-1j * chirp[1:][::-1])
    fb = np.fft.fft(b)
    fa = _dft(*a, -1)
    prod = _cmul(fa, _constant(fb, dtype))
    r, i = _dft(*prod, 1)
    conv = (r[..., :n] / m, i[..., :n] / m)
    return _cmul(conv, w)


def _norm_scale(norm: str | None, n: int, inverse: bool) -> float:
    if norm in (None, "backward"):
        return 1 / n if inverse else 1.0
    if norm == "ortho":
        return 1 / math.sqrt(n)
    if norm == "forward":
        return 1.0 if inverse else 1 / n
    raise UnsupportedError(f"np.fft: norm={norm!r}; use 'backward', 'ortho' or 'forward'",
                           user_loc())


def _sized(p: Any, n: int) -> Any:
    """Part p (last axis the transform's) cut or zero-padded to n along it."""
    if p is None:
        return None
    m = p.shape[-1]
    if m >= n:
        return p[..., :n]
    return np.pad(p, [(0, 0)] * (p.ndim - 1) + [(0, n - m)])


def _transform(x: Any, n: Any, axis: int, norm: Any, inverse: bool, kind: str) -> Any:
    """fft / ifft (kind "c"), rfft ("r"), irfft ("ir") along one axis."""
    name = {"c": "ifft" if inverse else "fft", "r": "rfft", "ir": "irfft"}[kind]
    z = x if isinstance(x, Complex) else as_tracer(x)
    if kind == "r" and isinstance(z, Complex):
        raise UnsupportedError("np.fft.rfft of a complex value (NumPy refuses it too): use "
                               "np.fft.fft", user_loc())
    ndim = z.ndim
    if ndim == 0:
        raise ShapeError(f"np.fft.{name} of a 0-d value", user_loc())
    if not -ndim <= axis < ndim:
        raise ShapeError(f"np.fft.{name}: axis {axis} is out of bounds for {ndim}-d input",
                         user_loc())
    axis %= ndim
    re, im = _parts(z)
    re = moveaxis(float_tracer(re), axis, -1)
    im = None if im is None else moveaxis(im, axis, -1)
    size = re.shape[-1]
    if kind == "ir":
        n = 2 * (size - 1) if n is None else int(n)
    else:
        n = size if n is None else int(n)
    if n < 1:
        raise ShapeError(f"np.fft.{name}: invalid number of data points ({n}) specified",
                         user_loc())
    if kind == "ir":  # the Hermitian spectrum of a real signal, from its first n // 2 + 1
        m = n // 2 + 1
        re, im = _sized(re, m), _sized(im, m)
        tail = (slice(None),) * (re.ndim - 1) + (slice(n - m, 0, -1),)
        re = np.concatenate([re, re[tail]], axis=-1)
        if im is not None:
            im = np.concatenate([im, -im[tail]], axis=-1)
    else:
        re, im = _sized(re, n), _sized(im, n)
    r, i = _dft(re, im, 1 if inverse else -1)
    i = _zeros(r) if i is None else i  # (a real input of length 1)
    scale = _norm_scale(norm, n, inverse)
    if scale != 1.0:
        r, i = r * scale, i * scale
    if kind == "ir":
        return moveaxis(r, -1, axis)
    if kind == "r":
        r, i = r[..., :n // 2 + 1], i[..., :n // 2 + 1]
    return make(moveaxis(r, -1, axis), moveaxis(i, -1, axis))


def _one_axis(kind: str, inverse: bool) -> Callable:
    def fn(a, n=None, axis=-1, norm=None, out=None):
        if out is not None:
            raise UnsupportedError("np.fft: out= is not supported", user_loc())
        return _transform(a, n, axis, norm, inverse, kind)
    return fn


def _axes_and_sizes(a: Any, s: Any, axes: Any, name: str) -> tuple[list, list]:
    ndim = len(np.shape(a))
    if axes is None:
        axes = list(range(ndim - (len(s) if s is not None else ndim), ndim))
    axes = [int(ax) % ndim for ax in axes]
    if s is None:
        s = [None] * len(axes)
    elif len(s) != len(axes):
        raise ShapeError(f"np.fft.{name}: s and axes have different lengths", user_loc())
    return axes, list(s)


def _many_axes(kind: str, inverse: bool, name: str, default_axes: Any = None) -> Callable:
    def fn(a, s=None, axes=default_axes, norm=None, out=None):
        if out is not None:
            raise UnsupportedError("np.fft: out= is not supported", user_loc())
        axes_, sizes = _axes_and_sizes(a, s, axes, name)
        if kind == "c":
            for ax, n in zip(axes_, sizes):
                a = _transform(a, n, ax, norm, inverse, "c")
            return a
        if kind == "r":  # rfft along the last axis, then fft along the others
            a = _transform(a, sizes[-1], axes_[-1], norm, False, "r")
            for ax, n in zip(axes_[:-1], sizes[:-1]):
                a = _transform(a, n, ax, norm, False, "c")
            return a
        for ax, n in zip(axes_[:-1], sizes[:-1]):  # irfftn: ifft first, irfft last
            a = _transform(a, n, ax, norm, True, "c")
        return _transform(a, sizes[-1], axes_[-1], norm, True, "ir")
    return fn


def _shift(sign: int) -> Callable:
    def fn(x, axes=None):
        shape = np.shape(x)
        axes = tuple(range(len(shape))) if axes is None else (
            (axes,) if isinstance(axes, numbers.Integral) else tuple(axes))
        shifts = [sign * (shape[ax] // 2) for ax in axes]
        return _linear(lambda p: np.roll(p, shifts, axes))(x)
    return fn


_FFT = {
    np.fft.fft: _one_axis("c", False), np.fft.ifft: _one_axis("c", True),
    np.fft.rfft: _one_axis("r", False), np.fft.irfft: _one_axis("ir", True),
    np.fft.fftn: _many_axes("c", False, "fftn"), np.fft.ifftn: _many_axes("c", True, "ifftn"),
    np.fft.rfftn: _many_axes("r", False, "rfftn"),
    np.fft.irfftn: _many_axes("ir", True, "irfftn"),
    np.fft.fft2: _many_axes("c", False, "fft2", (-2, -1)),
    np.fft.ifft2: _many_axes("c", True, "ifft2", (-2, -1)),
    np.fft.rfft2: _many_axes("r", False, "rfft2", (-2, -1)),
    np.fft.irfft2: _many_axes("ir", True, "irfft2", (-2, -1)),
    np.fft.fftshift: _shift(1), np.fft.ifftshift: _shift(-1),
}

_LINEAR = (np.reshape, np.transpose, np.swapaxes, np.moveaxis, np.squeeze, np.expand_dims,
           np.sum, np.mean, np.cumsum, np.flip, np.fliplr, np.flipud, np.roll, np.rot90,
           np.diagonal, np.trace, np.diag, np.ravel, np.take, np.broadcast_to, np.tile,
           np.repeat, np.diff, np.atleast_1d, np.atleast_2d, np.copy)
COMPLEX_FUNCTIONS: dict[Callable, Callable] = {
    **{f: _linear(f) for f in _LINEAR},
    **{f: _joined(f) for f in (np.concatenate, np.stack, np.hstack, np.vstack,
                               np.column_stack)},
    **{f: (lambda f: lambda a, b, *args, **kw: make(*_bilinear(
        lambda x, y: f(x, y, *args, **kw), _parts(a), _parts(b))))(f)
       for f in (np.dot, np.tensordot, np.inner, np.outer, np.kron)},
    np.vdot: _vdot, np.einsum: _einsum, np.where: _where, np.linalg.norm: _norm,
    np.real: _real, np.imag: _imag, np.angle: _angle,
    np.iscomplexobj: lambda x: True, np.isrealobj: lambda x: False,
    np.zeros_like: lambda x, *a, **k: make(np.zeros_like(x.re), None),
    np.ones_like: lambda x, *a, **k: make(np.ones_like(x.re), None),
    np.shape: lambda x: x.shape, np.ndim: lambda x: x.ndim, np.size: lambda x: x.size,
    **_FFT,
}

# Real traced values: NumPy's functions of complex numbers, and np.fft.
FUNCTIONS.update({
    np.real: _real, np.imag: _imag, np.angle: _angle, np.conjugate: lambda x: as_tracer(x),
    np.iscomplexobj: lambda x: False, np.isrealobj: lambda x: True, **_FFT,
})
