"""``scipy.stats``' common distributions on traced arrays.

SciPy's distribution objects (``norm``, ``gamma``, ...) convert their arguments with
``np.asarray``, which a traced array cannot pass. In code that graphc traces, ``scipy.stats``
and these objects are swapped for the ones here (special.in_trace), which write each log
density from graphc's primitives: log-densities (``logpdf``, ``logpmf``) and densities of
them all, the CDF family where it is elementary. Arguments are taken as SciPy takes them:
shape parameters, then ``loc`` (and ``scale``), by position or by name; a distribution
called with its parameters is frozen. Results are float64, as SciPy's; invalid parameters
(``scale <= 0``, a shape out of range) give NaN and points outside the support a density of
zero (-inf log), as SciPy does.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .errors import UnsupportedError
from .ir import user_loc
from .linalg import cholesky, solve
from .special import SPECIAL
from .trace import Tracer

_LOG_2PI = math.log(2 * math.pi)
gammaln, betaln, xlogy, xlog1py = (SPECIAL[k] for k in ("gammaln", "betaln", "xlogy",
                                                        "xlog1py"))
ndtr, log_ndtr, expit, log_expit = (SPECIAL[k] for k in ("ndtr", "log_ndtr", "expit",
                                                         "log_expit"))


def _f64(v: Any) -> Any:
    if isinstance(v, Tracer):
        return v if v.dtype == np.float64 else v.astype(np.float64)
    return np.asarray(v, np.float64)


def _inside(cond: Any, value: Any, outside: float = -np.inf) -> Any:
    """value where cond holds, ``outside`` elsewhere (value's arguments there are the
    caller's business: they must stay finite for a zero gradient)."""
    return np.where(cond, value, outside)


def _safe(cond: Any, v: Any, fill: float = 1.0) -> Any:
    """v where cond holds, else ``fill``: an argument that keeps the unused branch finite."""
    return np.where(cond, v, fill)


class _Family:
    """What every distribution has: its density from its log-density, and, called with its
    parameters, a frozen copy."""

    def pdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        return np.exp(self.logpdf(x, *args, **kwds))

    def __call__(self, *args: Any, **kwds: Any) -> "_Frozen":
        return _Frozen(self, args, kwds)


class _Distribution(_Family):
    """One distribution: ``log`` (the standardized log-density of z = (x - loc) / scale, or the
    log-pmf at k - loc), and optionally the standardized ``cdf``, ``logcdf``, ``sf``,
    ``logsf``; ``valid`` tells which shape parameters are in range."""

    def __init__(self, name: str, shapes: str, log: Callable, discrete: bool = False,
                 valid: Callable | None = None, **cdfs: Callable) -> None:
        self.name, self.shapes, self.discrete = name, shapes.split(), discrete
        self._log, self._valid, self._cdfs = log, valid, cdfs

    # SciPy's argument order: the shapes, then loc, then scale (continuous only)
    def _parse(self, what: str, args: tuple, kwds: dict) -> tuple[list, Any, Any]:
        names = self.shapes + ["loc"] + ([] if self.discrete else ["scale"])
        if len(args) > len(names):
            raise TypeError(f"scipy.stats.{self.name}.{what}: too many arguments")
        given = dict(zip(names, args))
        for k, v in kwds.items():
            if k not in names or k in given:
                raise TypeError(f"scipy.stats.{self.name}.{what}: unexpected or repeated "
                                f"argument {k!r}")
            given[k] = v
        missing = [n for n in self.shapes if n not in given]
        if missing:
            raise TypeError(f"scipy.stats.{self.name}.{what}: missing shape parameter(s) "
                            f"{', '.join(missing)}")
        return ([_f64(given[n]) for n in self.shapes], _f64(given.get("loc", 0.0)),
                _f64(given.get("scale", 1.0)))

    def _ok(self, shapes: list, scale: Any) -> Any:
        ok = True if self.discrete else scale > 0
        return ok if self._valid is None else ok & self._valid(*shapes)

    def _log_at(self, x: Any, shapes: list, loc: Any, scale: Any) -> Any:
        x = _f64(x)
        if self.discrete:
            return self._log(x - loc, *shapes)
        s = _safe(scale > 0, scale)
        return self._log((x - loc) / s, *shapes) - np.log(s)

    def logpdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        shapes, loc, scale = self._parse("logpdf", args, kwds)
        return np.where(self._ok(shapes, scale), self._log_at(x, shapes, loc, scale), np.nan)

    logpmf, pmf = logpdf, _Family.pdf

    def _cdf(self, which: str, x: Any, args: tuple, kwds: dict) -> Any:
        fn = self._cdfs.get(which)
        if fn is None:
            raise UnsupportedError(f"scipy.stats.{self.name}.{which} is not supported by "
                                   "graphc (logpdf and pdf are)", user_loc())
        shapes, loc, scale = self._parse(which, args, kwds)
        z = (_f64(x) - loc) / _safe(scale > 0, scale)
        return np.where(self._ok(shapes, scale), fn(z, *shapes), np.nan)

    def cdf(self, x, *args, **kwds):
        return self._cdf("cdf", x, args, kwds)

    def logcdf(self, x, *args, **kwds):
        return self._cdf("logcdf", x, args, kwds)

    def sf(self, x, *args, **kwds):
        return self._cdf("sf", x, args, kwds)

    def logsf(self, x, *args, **kwds):
        return self._cdf("logsf", x, args, kwds)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise UnsupportedError(f"scipy.stats.{self.name}.{name} is not supported by graphc "
                               "(logpdf, pdf, and for some distributions cdf, logcdf, sf, "
                               "logsf are)", user_loc())


class _Frozen:
    """A distribution with its parameters, ``norm(0, 2)``."""

    def __init__(self, dist: _Family, args: tuple, kwds: dict) -> None:
        self.dist, self.args, self.kwds = dist, args, kwds

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self.dist, name)
        return lambda x: method(x, *self.args, **self.kwds)


def _continuous_cdf(cdf: Callable, sf: Callable) -> dict[str, Callable]:
    """cdf, sf and their logs from the two (each log of the smaller side is accurate)."""
    return dict(cdf=cdf, sf=sf, logcdf=lambda z, *s: np.log(cdf(z, *s)),
                logsf=lambda z, *s: np.log(sf(z, *s)))


def _positive(log: Callable) -> Callable:
    """A log-density on z > 0 (zero density elsewhere), its z kept at 1 outside."""
    return lambda z, *s: _inside(z > 0, log(_safe(z > 0, z), *s))


def _xlogy0(c, z, logz=None):
    """c log(z) for z >= 0, SciPy's values at z = 0 (0 for c = 0, else -inf or inf by c's
    sign), with a finite gradient everywhere: ``logz``, log(z) where z > 0 and finite
    elsewhere, is log(z or 1) unless given."""
    pos = z > 0
    logz = np.log(np.where(pos, z, 1)) if logz is None else logz
    return np.where(pos, c * logz, np.where(c == 0, 0.0, np.where(c > 0, -np.inf, np.inf)))


def _power(z, c):
    """z^c for z > 0, 0 for z <= 0, its gradient finite at 0."""
    pos = z > 0
    return np.where(pos, np.where(pos, z, 1) ** c, 0)


def _t(z, df):
    return (gammaln((df + 1) / 2) - gammaln(df / 2) - 0.5 * np.log(df * math.pi)
            - (df + 1) / 2 * np.log1p(z * z / df))


def _gamma(z, a):
    """The gamma log-density on z >= 0, -inf below."""
    zz = np.maximum(z, 0)
    return _inside(z >= 0, _xlogy0(a - 1, zz) - zz - gammaln(a))


def _beta(z, a, b):
    zz = np.clip(z, 0, 1)
    return _inside((z >= 0) & (z <= 1), _xlogy0(a - 1, zz) + _xlogy0(
        b - 1, 1 - zz, np.log1p(-np.where(zz < 1, zz, 0))) - betaln(a, b))


def _integer_at_least(k, low):
    return (k >= low) & (k == np.floor(k))


def _poisson(k, mu):
    ok = _integer_at_least(k, 0)
    k = _safe(ok, k, 0.0)
    return _inside(ok, xlogy(k, mu) - gammaln(k + 1) - mu)


def _binom(k, n, p):
    ok = _integer_at_least(k, 0) & (k <= n)
    k = _safe(ok, k, 0.0)
    return _inside(ok, gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + xlogy(k, p)
                   + xlog1py(n - k, -p))


def _nbinom(k, n, p):
    ok = _integer_at_least(k, 0)
    k = _safe(ok, k, 0.0)
    return _inside(ok, gammaln(n + k) - gammaln(k + 1) - gammaln(n) + n * np.log(p)
                   + xlog1py(k, -p))


def _bernoulli(k, p):
    ok = (k == 0) | (k == 1)
    k = _safe(ok, k, 0.0)
    return _inside(ok, xlogy(k, p) + xlog1py(1 - k, -p))


def _geom(k, p):
    ok = _integer_at_least(k, 1)
    k = _safe(ok, k, 1.0)
    return _inside(ok, xlog1py(k - 1, -p) + np.log(p))


def _laplace_cdf(z):
    return np.where(z < 0, 0.5 * np.exp(_safe(z < 0, z, 0.0)),
                    1 - 0.5 * np.exp(-_safe(z >= 0, z, 0.0)))


def _unit(p):
    return (p >= 0) & (p <= 1)


DISTRIBUTIONS = {d.name: d for d in [
    _Distribution("norm", "", lambda z: -0.5 * z * z - 0.5 * _LOG_2PI,
                  cdf=ndtr, sf=lambda z: ndtr(-z), logcdf=log_ndtr,
                  logsf=lambda z: log_ndtr(-z)),
    _Distribution("t", "df", _t, valid=lambda df: df > 0),
    _Distribution("cauchy", "", lambda z: -math.log(math.pi) - np.log1p(z * z),
                  **_continuous_cdf(lambda z: 0.5 + np.arctan(z) / math.pi,
                                    lambda z: 0.5 - np.arctan(z) / math.pi)),
    _Distribution("laplace", "", lambda z: -np.abs(z) - math.log(2),
                  **_continuous_cdf(_laplace_cdf, lambda z: _laplace_cdf(-z))),
    _Distribution("logistic", "", lambda z: log_expit(z) + log_expit(-z),
                  cdf=expit, sf=lambda z: expit(-z), logcdf=log_expit,
                  logsf=lambda z: log_expit(-z)),
    _Distribution("expon", "", lambda z: _inside(z >= 0, -z),
                  cdf=lambda z: -np.expm1(-np.maximum(z, 0)),
                  sf=lambda z: np.exp(-np.maximum(z, 0)),
                  logcdf=lambda z: np.log(-np.expm1(-np.maximum(z, 0))),
                  logsf=lambda z: -np.maximum(z, 0)),
    _Distribution("halfnorm", "", lambda z: _inside(z >= 0, 0.5 * math.log(2 / math.pi)
                                                    - 0.5 * z * z)),
    _Distribution("uniform", "", lambda z: _inside((z >= 0) & (z <= 1), 0.0 * z),
                  **_continuous_cdf(lambda z: np.clip(z, 0, 1),
                                    lambda z: 1 - np.clip(z, 0, 1))),
    _Distribution("gamma", "a", _gamma, valid=lambda a: a > 0),
    _Distribution("chi2", "df", lambda z, df: _gamma(z / 2, df / 2) - math.log(2),
                  valid=lambda df: df > 0),
    _Distribution("invgamma", "a", _positive(
        lambda z, a: -(a + 1) * np.log(z) - 1 / z - gammaln(a)), valid=lambda a: a > 0),
    _Distribution("beta", "a b", _beta, valid=lambda a, b: (a > 0) & (b > 0)),
    _Distribution("lognorm", "s", _positive(
        lambda z, s: -np.log(s * z) - 0.5 * _LOG_2PI - np.log(z) ** 2 / (2 * s * s)),
        valid=lambda s: s > 0,
        **_continuous_cdf(lambda z, s: ndtr(np.log(_safe(z > 0, z)) / s) * (z > 0),
                          lambda z, s: 1 - ndtr(np.log(_safe(z > 0, z)) / s) * (z > 0))),
    _Distribution("weibull_min", "c", lambda z, c: _inside(
        z >= 0, np.log(c) + _xlogy0(c - 1, np.maximum(z, 0)) - _power(z, c)),
        valid=lambda c: c > 0,
        **_continuous_cdf(lambda z, c: -np.expm1(-_power(z, c)),
                          lambda z, c: np.exp(-_power(z, c)))),
    _Distribution("vonmises", "kappa", lambda z, kappa: -2 * kappa * np.sin(z / 2) ** 2
                  - _LOG_2PI - np.log(SPECIAL["i0e"](kappa)), valid=lambda kappa: kappa > 0),
    _Distribution("poisson", "mu", _poisson, discrete=True, valid=lambda mu: mu >= 0),
    _Distribution("binom", "n p", _binom, discrete=True,
                  valid=lambda n, p: (n >= 0) & (n == np.floor(n)) & _unit(p)),
    _Distribution("nbinom", "n p", _nbinom, discrete=True,
                  valid=lambda n, p: (n > 0) & (p > 0) & (p <= 1)),
    _Distribution("bernoulli", "p", _bernoulli, discrete=True, valid=_unit),
    _Distribution("geom", "p", _geom, discrete=True, valid=lambda p: (p > 0) & (p <= 1)),
]}


class _MultivariateNormal(_Family):
    """multivariate_normal.logpdf / pdf: x (..., d) against a mean (d,) and a covariance
    (d, d), its diagonal (d,) or a multiple of the identity, through its Cholesky factor."""

    name = "multivariate_normal"

    def logpdf(self, x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False
               ) -> Any:
        x, cov = _f64(x), _f64(cov)
        d = (np.shape(mean)[-1] if mean is not None and np.ndim(mean) else
             cov.shape[0] if np.ndim(cov) == 2 else 1)
        if np.ndim(x) == 0 or d == 1 and x.shape[-1] != 1:
            x = x[..., None]
        mean = np.zeros(d) if mean is None else _f64(mean)
        if np.ndim(cov) < 2:
            cov = np.eye(d) * cov
        low = cholesky(cov)
        z = solve(low, np.reshape(x - mean, (-1, d)).T)
        out = (-0.5 * (z * z).sum(axis=0) - np.log(np.diagonal(low)).sum()
               - 0.5 * d * _LOG_2PI)
        return np.squeeze(np.reshape(out, x.shape[:-1]))  # SciPy squeezes its result


class _Dirichlet(_Family):
    """dirichlet.logpdf / pdf: x with the K components on its first axis, (K,) or (K, N)."""

    name = "dirichlet"

    def logpdf(self, x: Any, alpha: Any) -> Any:
        x, alpha = _f64(x), _f64(alpha)
        a = alpha if x.ndim == 1 else alpha[:, None]
        return (xlogy(a - 1, x).sum(axis=0) - gammaln(alpha).sum() + gammaln(alpha.sum()))


STATS = {**DISTRIBUTIONS, "multivariate_normal": _MultivariateNormal(),
         "dirichlet": _Dirichlet()}


class _Missing:
    """A distribution of scipy.stats that graphc has not written: any use of it says so."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _refuse(self, *args: Any, **kwds: Any) -> Any:
        raise UnsupportedError(f"scipy.stats.{self.name} is not supported by graphc (it has "
                               f"{', '.join(sorted(STATS))})", user_loc())

    __call__ = _refuse

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._refuse


def stand_ins(module: Any) -> dict[str, Any]:
    """What traced code sees of scipy.stats ``module``: STATS, and a _Missing for each other
    distribution object (anything with a log-density) the module has."""
    out: dict[str, Any] = dict(STATS)
    for name in dir(module):
        obj = getattr(module, name, None)
        if name not in out and not isinstance(obj, type) and (
                hasattr(obj, "logpdf") or hasattr(obj, "logpmf")):
            out[name] = _Missing(name)
    return out
