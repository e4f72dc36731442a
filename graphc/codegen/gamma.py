"""The polygamma functions, for the op templates that call them (``polygamma``): no math library
that Numba reaches has them (libm and libdevice stop at lgamma).

Each is written once here as text over a float type ``{T}``; a generated module (CPU or CUDA)
that calls ``polygamma_float32`` or ``polygamma_float64`` gets that type's copy appended, so
that a float32 kernel computes in float32 throughout, as on the GPU it must.

psi^(n)(x) for n >= 1 is (-1)^(n+1) n! zeta(n + 1, x), the Hurwitz zeta function. For x >= 10
zeta comes from its Euler-Maclaurin expansion through B_16 (within a few ulps for small n);
below, the recurrence zeta(s, x) = x^-s + zeta(s, x + 1) climbs there. A negative x folds its
negative terms onto positive arguments: zeta(s, x + m) + (-1)^s (zeta(s, 1 - y) -
zeta(s, 1 - y + m)) with m = ceil(-x), y = x + m, so that the work stays bounded whatever x
is. The digamma function (n = 0) takes its
asymptotic series for x >= 10 the same way, and the reflection psi(1 - x) - pi / tan(pi x) for
x < 0. The poles, NaN and infinities give SciPy's answers.
"""

from __future__ import annotations

import math
import re

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
    """Both functions for float type ``T`` (spelled ``t`` in their names)."""
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


_CALLED = re.compile(r"\bpolygamma_(float32|float64)\(")


def functions(source: str) -> list[str]:
    """The definitions (undecorated, the zeta helper first) that ``source`` calls."""
    out = []
    for t in sorted(set(_CALLED.findall(source))):
        zeta, poly = _source(t, f"np.{t}").split("\n\n\n")
        out += [zeta + "\n", poly]
    return out
