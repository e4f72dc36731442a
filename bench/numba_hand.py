"""Candidate: hand-written Numba, value and gradient, as a competent user would write them.

Explicit loops for elementwise work and reductions, np.dot (BLAS) for matrix products, default
@njit options (no fastmath, no parallel), cache=True so a new process skips recompiling.
"""
import math

import numpy as np
from numba import njit

jit = njit(cache=True)


@jit
def neuron_vg(w, b, x, y):
    s = 1.0 / (1.0 + math.exp(-(w * x + b)))
    r = s - y
    dz = 2.0 * r * s * (1.0 - s)
    return r * r, (dz * x, dz)


@jit
def mlp_vg(W1, b1, W2, b2, X, Y):
    B, C, Hn = X.shape[0], W2.shape[1], W1.shape[1]
    Hs = np.dot(X, W1)
    for i in range(B):
        for j in range(Hn):
            Hs[i, j] = np.tanh(Hs[i, j] + b1[j])
    Z = np.dot(Hs, W2)
    dZ = np.empty_like(Z)
    loss = 0.0
    for i in range(B):
        mx = -np.inf
        for c in range(C):
            Z[i, c] += b2[c]
            mx = max(mx, Z[i, c])
        s = 0.0
        ysum = 0.0
        for c in range(C):
            s += math.exp(Z[i, c] - mx)
            ysum += Y[i, c]
        lse = mx + math.log(s)
        for c in range(C):
            logp = Z[i, c] - lse
            loss -= Y[i, c] * logp
            dZ[i, c] = (math.exp(logp) * ysum - Y[i, c]) / B
    dA = np.dot(dZ, W2.T)
    for i in range(B):
        for j in range(Hn):
            dA[i, j] *= 1.0 - Hs[i, j] * Hs[i, j]
    return loss / B, (np.dot(X.T, dA), dA.sum(axis=0), np.dot(Hs.T, dZ), dZ.sum(axis=0))


@jit
def chain_vg(x):
    g = np.empty_like(x)
    acc = 0.0
    for i in range(x.size):
        xi = x[i]
        s, c, t, e = math.sin(xi), math.cos(xi), math.tanh(xi), math.exp(-xi * xi)
        acc += s * e + t * xi
        g[i] = e * (c - 2.0 * xi * s) + t + xi * (1.0 - t * t)
    return acc, (g,)


@jit
def rnn_vg(Wx, Wh, b, Wy, by, xs, targets):
    T, B, _ = xs.shape
    Hn, O = Wh.shape[0], Wy.shape[1]
    Hs = np.empty((T, B, Hn), xs.dtype)
    for t in range(T):
        a = np.dot(xs[t], Wx)
        if t > 0:
            a += np.dot(Hs[t - 1], Wh)
        for i in range(B):
            for j in range(Hn):
                Hs[t, i, j] = np.tanh(a[i, j] + b[j])
    N = T * B * O
    loss = 0.0
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dWy, dby = np.zeros_like(Wy), np.zeros_like(by)
    dh_next = np.zeros((B, Hn), xs.dtype)
    for t in range(T - 1, -1, -1):
        dy = np.dot(Hs[t], Wy)
        for i in range(B):
            for o in range(O):
                r = dy[i, o] + by[o] - targets[t, i, o]
                loss += r * r
                dy[i, o] = 2.0 * r / N
        dWy += np.dot(Hs[t].T, dy)
        dby += dy.sum(axis=0)
        da = np.dot(dy, Wy.T) + dh_next
        for i in range(B):
            for j in range(Hn):
                da[i, j] *= 1.0 - Hs[t, i, j] * Hs[t, i, j]
        dWx += np.dot(xs[t].T, da)
        db += da.sum(axis=0)
        if t > 0:
            dWh += np.dot(Hs[t - 1].T, da)
            dh_next = np.dot(da, Wh.T)
    return loss / N, (dWx, dWh, db, dWy, dby)


@jit
def gmm_vg(alpha, means, logdiag, L, x, gamma, m, const):
    K, d = means.shape
    n = x.shape[0]
    q = np.exp(logdiag)
    Q = np.zeros((K, d, d))                       # lower triangular, diagonal exp(logdiag)
    for k in range(K):
        for r in range(d):
            Q[k, r, r] = q[k, r]
            for c in range(r):
                Q[k, r, c] = L[k, r, c]
    sumq = logdiag.sum(axis=1)
    rk = np.zeros(K)
    dmeans = np.zeros((K, d))
    dQ = np.zeros((K, d, d))
    xc = np.empty((K, d))
    Qxc = np.empty((K, d))
    main = np.empty(K)
    slse = 0.0
    for i in range(n):
        for k in range(K):
            sq = 0.0
            for j in range(d):
                xc[k, j] = x[i, j] - means[k, j]
            for r in range(d):
                s = 0.0
                for c in range(r + 1):
                    s += Q[k, r, c] * xc[k, c]
                Qxc[k, r] = s
                sq += s * s
            main[k] = alpha[k] + sumq[k] - 0.5 * sq
        mx = main.max()
        S = 0.0
        for k in range(K):
            main[k] = math.exp(main[k] - mx)
            S += main[k]
        slse += mx + math.log(S)
        for k in range(K):                        # backward through this point
            resp = main[k] / S
            rk[k] += resp
            for r in range(d):
                g = -resp * Qxc[k, r]
                for c in range(r + 1):
                    dQ[k, r, c] += g * xc[k, c]
                    dmeans[k, c] -= g * Q[k, r, c]
    am = alpha.max()
    ea = np.exp(alpha - am)
    sa = ea.sum()
    g2 = gamma * gamma
    prior = 0.0
    dlogdiag = np.empty((K, d))
    dL = np.zeros((K, d, d))
    for k in range(K):
        for r in range(d):
            prior += 0.5 * g2 * q[k, r] * q[k, r] - m * logdiag[k, r]
            dlogdiag[k, r] = rk[k] + dQ[k, r, r] * q[k, r] + g2 * q[k, r] * q[k, r] - m
            for c in range(r):
                prior += 0.5 * g2 * L[k, r, c] * L[k, r, c]
                dL[k, r, c] = dQ[k, r, c] + g2 * L[k, r, c]
    value = const + slse - n * (math.log(sa) + am) + prior
    return value, (rk - n * ea / sa, dmeans, dlogdiag, dL)


def make(data):
    args = data.args
    if data.name == "gmm":
        c = data.cfg
        args = args + (float(c["gamma"]), float(c["m"]), c["const"])
    vg = globals()[data.name + "_vg"]
    return lambda: vg(*args)
