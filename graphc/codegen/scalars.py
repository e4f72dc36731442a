"""Scalar functions for the op templates that call them, which no math library that Numba
reaches has (libm and libdevice stop at lgamma and have no Bessel functions of real order):
the polygamma functions (``polygamma``) and the exponentially scaled modified Bessel functions
of orders 0 and 1 (``besselie``).

Each is written once here as text over a float type ``{T}``; a generated module (CPU or CUDA)
that calls ``polygamma_float32`` (or another of them) gets that type's copy appended, so that
a float32 kernel computes in float32 throughout, as on the GPU it must.

psi^(n)(x) for n >= 1 is (-1)^(n+1) n! zeta(n + 1, x), the Hurwitz zeta function. For x >= 10
zeta comes from its Euler-Maclaurin expansion through B_16 (within a few ulps for small n);
below, the recurrence zeta(s, x) = x^-s + zeta(s, x + 1) climbs there. A negative x folds its
negative terms onto positive arguments: zeta(s, x + m) + (-1)^s (zeta(s, 1 - y) -
zeta(s, 1 - y + m)) with m = ceil(-x), y = x + m, so that the work stays bounded whatever x
is. The digamma function (n = 0) takes its asymptotic series for x >= 10 the same way, and
the reflection psi(1 - x) - pi / tan(pi x) for x < 0. The poles, NaN and infinities give
SciPy's answers.

I_v(x) e^-|x| (v = 0, 1) sums the power series sum_k (x/2)^(2k+v) / (k! (k+v)!) up to
|x| = 20, where its terms are all positive, and above that the asymptotic series
e^x / sqrt(2 pi x) sum_k (-1)^k a_k(v) / x^k, each to the float type's precision.
"""

from __future__ import annotations

import math
import re

import numpy as np

# B_2j / (2j)! for j = 1..8, the Euler-Maclaurin coefficients of zeta
_EM = [1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160, -691 / 1307674368000,
       1 / 74724249600, -3617 / 10670622842880000]
# B_2j / (2j) for j = 1..8: psi(x) ~ log x - 1/(2x) - sum_j B_2j / (2j x^2j)
_PSI = [1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12, -3617 / 8160]


def _horner(coefs: list[float], u: str, T: str) -> str:
    """sum_j coefs[j] u^j as a Horner expression."""
    out = f"{T}({coefs[-1]!r})"
    for c in reversed(coefs[:-1]):
        out = f"({T}({c!r}) + {u} * {out})"
    return out


def _source(t: str, T: str) -> str:
    """zeta and polygamma for float type ``T`` (spelled ``t`` in their names)."""
    pi = f"{T}({math.pi!r})"
    # zeta(s, x) for x >= 10: x^(1-s)/(s-1) + x^-s/2 + sum_j B_2j/(2j)! s(s+1)..(s+2j-2)
    # x^(-s-2j+1), p holding x^(-s-2j+1) and rise the rising product
    series = []
    for j, c in enumerate(_EM):
        series.append(f"    acc += {T}({c!r}) * rise * p")
        if j + 1 < len(_EM):
            series += [f"    rise *= {T}((s + {2 * j + 1}) * (s + {2 * j + 2}))", "    p *= u"]
    return "\n".join([
        f"def zeta_{t}(s, x):",
        f"    acc = {T}(0)",
        f"    while x < {T}(10):",
        f"        p = {T}(1)",
        "        for i in range(s):",
        "            p /= x",
        "        acc += p",
        f"        x += {T}(1)",
        f"    p = {T}(1)",  # x^(1-s), then x^-s, then x^(-s-1)
        "    for i in range(s - 1):",
        "        p /= x",
        f"    acc += p / {T}(s - 1)",
        "    p /= x",
        f"    acc += {T}(0.5) * p",
        f"    u = {T}(1) / (x * x)",
        f"    rise = {T}(s)",
        "    p /= x",
        *series,
        "    return acc",
        "",
        "",
        f"def polygamma_{t}(n, x):",
        "    if n == 0:",
        "        if x <= 0 and x == floor(x):  # 0 (signed infinities), negative integers, -inf",
        f"            return -{T}(1) / x if x == 0 else {T}(np.nan)",
        f"        r = {T}(0)",
        "        if x < 0:",
        f"            r = -{pi} / tan({pi} * (x - floor(x + {T}(0.5))))",  # exact, |.| <= 1/2
        f"            x = {T}(1) - x",
        f"        while x < {T}(10):",
        f"            r -= {T}(1) / x",
        f"            x += {T}(1)",
        f"        u = {T}(1) / (x * x)",
        f"        return r + log(x) - {T}(0.5) / x - u * {_horner(_PSI, 'u', T)}",
        f"    out = {T}(1) if n % 2 else {T}(-1)",  # (-1)^(n+1) n!
        "    for i in range(2, n + 1):",
        f"        out *= {T}(i)",
        "    if x <= 0 and x == floor(x):",
        f"        return out * {T}(np.inf)",
        "    if x > 0:",
        f"        return out * zeta_{t}(n + 1, x)",
        "    m = ceil(-x)",  # the negative terms: x + k = -(j - y), j = 1..m, y = x + m
        f"    w = -(x + (m - {T}(1)))",  # 1 - y, exactly
        f"    rest = zeta_{t}(n + 1, w) - zeta_{t}(n + 1, w + m)",
        f"    return out * (zeta_{t}(n + 1, x + m) + (rest if n % 2 else -rest))",
    ]) + "\n"


def _bessel_source(t: str, T: str) -> list[str]:
    eps = f"{T}({float(np.finfo(t).eps)!r})"
    return ["\n".join([
        f"def besselie_{t}(v, x):",
        "    a = abs(x)",
        "    if a != a:",
        "        return x",
        f"    if a <= {T}(20):",
        f"        h = a / {T}(2)",
        "        term = h if v else " + f"{T}(1)",
        "        acc = term",
        "        for k in range(1, 100):",
        f"            term *= h * h / {T}(k * (k + v))",
        "            acc += term",
        f"            if term <= acc * {eps}:",
        "                break",
        "        out = acc * exp(-a)",
        f"    elif a == {T}(np.inf):",
        f"        out = {T}(0)",
        "    else:",
        f"        term = {T}(1)",
        f"        acc = {T}(1)",
        "        for k in range(1, 60):",
        f"            term *= {T}((2 * k - 1) * (2 * k - 1) - 4 * v * v) / ({T}(8 * k) * a)",
        "            acc += term",
        f"            if abs(term) <= acc * {eps}:",
        "                break",
        f"        out = acc / sqrt({T}({2 * math.pi!r}) * a)",
        "    return -out if v and x < 0 else out",
    ]) + "\n"]


# name -> the texts of the functions it needs (helpers first), for (type name, constructor)
_SOURCES = {"polygamma": lambda t, T: [part + "\n" if i == 0 else part for i, part in
                                       enumerate(_source(t, T).split("\n\n\n"))],
            "besselie": _bessel_source}
_CALLED = re.compile(r"\b(" + "|".join(_SOURCES) + r")_(float32|float64)\(")


def functions(source: str) -> list[str]:
    """The definitions (undecorated, helpers first) of the functions that ``source`` calls."""
    out = []
    for name, t in sorted(set(_CALLED.findall(source))):
        out += _SOURCES[name](t, f"np.{t}")
    return out
