"""Benchmark workloads: a seeded data generator and a loss in plain NumPy for each.

The losses are what graphc traces, so they keep to a small vocabulary: arithmetic, **, @, .T,
unary -, np.exp/log/tanh/sin/cos, x.sum/max/mean(axis=..., keepdims=...), reshape, basic
slicing (ints, slices, None) and Python for-loops. Sizes that a loss needs (T for the unrolled
RNN, the GMM constants) are closed over rather than read from `.shape`.

Each generator returns a `Data`: `params` are differentiated (argnums 0..len-1), `consts` follow
them as further arguments, and `loss(*params, *consts)` is the objective. Generators take the
sizes and dtype as keywords so tests can build small float64 instances.
"""
import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Data:
    name: str
    params: tuple
    consts: tuple
    loss: object
    dtype: type
    cfg: dict = field(default_factory=dict)

    @property
    def args(self):
        return self.params + self.consts

    @property
    def argnums(self):
        return tuple(range(len(self.params)))


# 1. the lecture's neuron, Python floats ---------------------------------------------------------

def neuron_loss(w, b, x, y):
    z = w * x + b
    s = 1 / (1 + np.exp(-z))
    return (s - y) ** 2


def neuron(seed=0):
    rng = np.random.default_rng(seed)
    w, b, x = (float(v) for v in rng.uniform(-1.5, 1.5, 3))
    y = float(rng.uniform(0.1, 0.9))
    return Data("neuron", (w, b), (x, y), neuron_loss, np.float64)


# 2. MLP 784-256-10, tanh, softmax cross-entropy ------------------------------------------------

def mlp_loss(W1, b1, W2, b2, X, Y):
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    Z = Z - Z.max(axis=1, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    return -(Y * logp).sum(axis=1).mean()        # = -(Y * logp).sum() / B


def mlp(seed=0, B=256, D=784, H=256, C=10, dtype=np.float32):
    rng = np.random.default_rng(seed)
    r = lambda *shape, scale=1.0: (scale * rng.standard_normal(shape)).astype(dtype)
    X = r(B, D)
    Y = np.eye(C, dtype=dtype)[rng.integers(0, C, B)]
    params = (r(D, H, scale=1 / math.sqrt(D)), r(H, scale=0.1),
              r(H, C, scale=1 / math.sqrt(H)), r(C, scale=0.1))
    return Data("mlp", params, (X, Y), mlp_loss, dtype)


# 3. elementwise chain ---------------------------------------------------------------------------

def chain_loss(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + np.tanh(x) * x)


def chain(seed=0, N=2 ** 20, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return Data("chain", (rng.standard_normal(N).astype(dtype),), (), chain_loss, dtype)


# 4. tanh RNN, unrolled over T -------------------------------------------------------------------

def make_rnn_loss(T):
    def rnn_loss(Wx, Wh, b, Wy, by, xs, targets):
        total = 0.0
        h = None
        for t in range(T):
            a = xs[t] @ Wx + b
            if t > 0:                                  # h_0 = 0
                a = a + h @ Wh
            h = np.tanh(a)
            y = h @ Wy + by
            total = total + ((y - targets[t]) ** 2).mean()
        return total / T                              # mean over t, batch, out
    return rnn_loss


def rnn_scan_loss(Wx, Wh, b, Wy, by, xs, targets):
    """The same loss with the loop as graphc.scan (traced once; h_0 = 0 makes the first
    step's h @ Wh exactly zero, so value and gradients are those of make_rnn_loss)."""
    import graphc

    def step(h, xt):
        x, target = xt
        h = np.tanh(x @ Wx + b + h @ Wh)
        return h, ((h @ Wy + by - target) ** 2).mean()

    h0 = np.zeros((xs.shape[1], Wh.shape[0]), xs.dtype)
    return graphc.scan(step, h0, (xs, targets))[1].sum() / xs.shape[0]


def rnn(seed=0, T=50, B=32, D=64, H=128, O=16, dtype=np.float32):
    rng = np.random.default_rng(seed)
    r = lambda *shape, scale=1.0: (scale * rng.standard_normal(shape)).astype(dtype)
    params = (r(D, H, scale=1 / math.sqrt(D)), r(H, H, scale=0.9 / math.sqrt(H)), r(H, scale=0.1),
              r(H, O, scale=1 / math.sqrt(H)), r(O, scale=0.1))
    consts = (r(T, B, D), r(T, B, O, scale=0.5))
    return Data("rnn", params, consts, make_rnn_loss(T), dtype, dict(T=T))


# 5. ADBench GMM with Wishart prior ------------------------------------------------------------

def multigammaln(a, p):
    return 0.25 * p * (p - 1) * math.log(math.pi) + sum(math.lgamma(a + 0.5 * (1 - j))
                                                        for j in range(1, p + 1))


def gmm_constant(d, K, n, gamma, m):
    """The parameter-free part of ADBench's objective: -n*d/2*log(2pi) - K*C (prior's C)."""
    n_w = d + m + 1
    C = n_w * d * (math.log(gamma) - 0.5 * math.log(2)) - multigammaln(0.5 * n_w, d)
    return -0.5 * n * d * math.log(2 * math.pi) - K * C


def make_gmm_loss(d, K, n, gamma=1.0, m=0):
    """ADBench gmm_objective (src/cpp/shared/gmm.h, src/python/modules/*/gmm_objective.py):

      sum_i logsumexp_k(alpha_k + sum(logdiag_k) - 0.5*||Q_k (x_i - mu_k)||^2)
      - n*logsumexp(alpha) - n*d/2*log(2pi)
      + sum_k [0.5*gamma^2*(||exp(logdiag_k)||^2 + ||strict_lower(L_k)||^2) - m*sum(logdiag_k)] - K*C

    with Q_k = diag(exp(logdiag_k)) + strict_lower(L_k) (ADBench's icf, stored densely). The
    prior's sign is ADBench's as published (a later fix in ADBench PR #211 negates it; the cost
    of the computation is the same).
    """
    eye = np.eye(d)
    mask = np.tril(np.ones((d, d)), -1)
    const = gmm_constant(d, K, n, gamma, m)

    def gmm_loss(alpha, means, logdiag, L, x):
        Q = np.exp(logdiag)[:, :, None] * eye + L * mask                   # (K, d, d)
        xc = x.T[None, :, :] - means[:, :, None]                            # (K, d, n)
        Qxc = Q @ xc                                                        # (K, d, n)
        main = alpha[:, None] + logdiag.sum(axis=1, keepdims=True) - 0.5 * (Qxc ** 2).sum(axis=1)
        mx = main.max(axis=0, keepdims=True)                                # (1, n)
        slse = (np.log(np.exp(main - mx).sum(axis=0, keepdims=True)) + mx).sum()
        amax = alpha.max()
        lse_alpha = np.log(np.exp(alpha - amax).sum()) + amax
        prior = 0.5 * gamma ** 2 * ((np.exp(logdiag) ** 2).sum() + ((L * mask) ** 2).sum()) \
            - m * logdiag.sum()
        return const + slse - n * lse_alpha + prior
    return gmm_loss


def gmm(seed=0, d=10, K=25, n=1000, gamma=1.0, m=0):
    # ADBench's generator draws alphas, icf and x from N(0,1) and means from U(0,1); the scales
    # of logdiag and L are reduced so the responsibilities are not all one-hot.
    rng = np.random.default_rng(seed)
    params = (rng.standard_normal(K), rng.uniform(0, 1, (K, d)),
              0.3 * rng.standard_normal((K, d)), 0.3 * rng.standard_normal((K, d, d)))
    cfg = dict(gamma=gamma, m=m, const=gmm_constant(d, K, n, gamma, m))
    return Data("gmm", params, (rng.standard_normal((n, d)),), make_gmm_loss(d, K, n, gamma, m),
                np.float64, cfg)


WORKLOADS = {"neuron": neuron, "mlp": mlp, "chain": chain, "rnn": rnn, "gmm": gmm}

# small float64 instances for checking gradients by finite differences
SMALL = {
    "neuron": dict(),
    "mlp": dict(B=5, D=7, H=6, C=4, dtype=np.float64),
    "chain": dict(N=33, dtype=np.float64),
    "rnn": dict(T=4, B=3, D=5, H=6, O=2, dtype=np.float64),
    "gmm": dict(d=3, K=4, n=7, gamma=1.3, m=2),   # gamma != 1 and m != 0 exercise every prior term
}


def make_data(name, seed=0, small=False):
    return WORKLOADS[name](seed=seed, **(SMALL[name] if small else {}))
