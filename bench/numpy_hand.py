"""Reference candidate: value and gradients derived by hand, vectorised NumPy.

Each `*_vg(*args)` returns (value, (grad per param)) and keeps the dtype of its inputs.
Proven against central finite differences in bench/test_baselines.py.
"""
import numpy as np


def neuron_vg(w, b, x, y):
    s = 1 / (1 + np.exp(-(w * x + b)))
    r = s - y
    dz = 2 * r * s * (1 - s)
    return r * r, (dz * x, dz)


def mlp_vg(W1, b1, W2, b2, X, Y):
    B = X.shape[0]
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    Z -= Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    S = E.sum(axis=1, keepdims=True)
    loss = -(Y * (Z - np.log(S))).sum() / B
    dZ = (E / S * Y.sum(axis=1, keepdims=True) - Y) / B      # d loss / d logits
    dA = (dZ @ W2.T) * (1 - H * H)
    return loss, (X.T @ dA, dA.sum(axis=0), H.T @ dZ, dZ.sum(axis=0))


def chain_vg(x):
    s, c, t = np.sin(x), np.cos(x), np.tanh(x)
    e = np.exp(-x * x)
    value = (s * e + t * x).sum()
    return value, (e * (c - 2 * x * s) + t + x * (1 - t * t),)


def rnn_vg(Wx, Wh, b, Wy, by, xs, targets):
    T, B, D = xs.shape
    H, O = Wh.shape[0], Wy.shape[1]
    XW = (xs.reshape(T * B, D) @ Wx + b).reshape(T, B, H)   # input projections in one GEMM
    Hs = np.empty((T, B, H), xs.dtype)
    Hs[0] = np.tanh(XW[0])
    for t in range(1, T):
        Hs[t] = np.tanh(XW[t] + Hs[t - 1] @ Wh)
    Hf = Hs.reshape(T * B, H)
    R = Hf @ Wy + by - targets.reshape(T * B, O)
    N = T * B * O
    loss = (R * R).sum() / N
    dY = R * (2 / N)
    dH = (dY @ Wy.T).reshape(T, B, H)                         # readout's contribution
    dA = np.empty_like(Hs)
    dA[T - 1] = dH[T - 1] * (1 - Hs[T - 1] ** 2)
    for t in range(T - 2, -1, -1):
        dA[t] = (dH[t] + dA[t + 1] @ Wh.T) * (1 - Hs[t] ** 2)
    dAf = dA.reshape(T * B, H)
    dWh = Hs[:-1].reshape(-1, H).T @ dA[1:].reshape(-1, H)
    return loss, (xs.reshape(T * B, D).T @ dAf, dWh, dAf.sum(axis=0), Hf.T @ dY, dY.sum(axis=0))


def gmm_vg(alpha, means, logdiag, L, x, gamma, m, const):
    K, d = means.shape
    n = x.shape[0]
    mask = np.tril(np.ones((d, d)), -1)
    q = np.exp(logdiag)
    Lm = L * mask
    Q = Lm.copy()
    Q[:, np.arange(d), np.arange(d)] = q
    xc = x.T[None] - means[:, :, None]                        # (K, d, n)
    Qxc = Q @ xc
    main = alpha[:, None] + logdiag.sum(axis=1)[:, None] - 0.5 * (Qxc * Qxc).sum(axis=1)
    mx = main.max(axis=0)
    E = np.exp(main - mx)
    S = E.sum(axis=0)
    am = alpha.max()
    ea = np.exp(alpha - am)
    sa = ea.sum()
    value = (const + (np.log(S) + mx).sum() - n * (np.log(sa) + am)
             + 0.5 * gamma ** 2 * ((q * q).sum() + (Lm * Lm).sum()) - m * logdiag.sum())

    R = E / S                                                 # responsibilities (K, n)
    rk = R.sum(axis=1)
    dQxc = -R[:, None, :] * Qxc
    dQ = dQxc @ xc.transpose(0, 2, 1)
    dxc = Q.transpose(0, 2, 1) @ dQxc
    dalpha = rk - n * ea / sa
    dlogdiag = rk[:, None] + np.diagonal(dQ, axis1=1, axis2=2) * q + gamma ** 2 * q * q - m
    dL = dQ * mask + gamma ** 2 * Lm
    return value, (dalpha, -dxc.sum(axis=2), dlogdiag, dL)


def make(data):
    args = data.args
    if data.name == "gmm":
        c = data.cfg
        args = args + (c["gamma"], c["m"], c["const"])
    vg = globals()[data.name + "_vg"]
    return lambda: vg(*args)
