"""Candidate: PyTorch eager autograd (torch.autograd.grad), the losses written idiomatically."""
import os

import numpy as np
import torch

torch.set_num_threads(os.cpu_count())          # same core count NumPy's BLAS uses


def neuron_loss(w, b, x, y):
    s = 1 / (1 + torch.exp(-(w * x + b)))
    return (s - y) ** 2


def mlp_loss(W1, b1, W2, b2, X, Y):
    H = torch.tanh(X @ W1 + b1)
    logp = torch.log_softmax(H @ W2 + b2, dim=1)
    return -(Y * logp).sum() / X.shape[0]


def chain_loss(x):
    return torch.sum(torch.sin(x) * torch.exp(-x * x) + torch.tanh(x) * x)


def rnn_loss(Wx, Wh, b, Wy, by, xs, targets):
    h = torch.zeros(xs.shape[1], Wh.shape[0], dtype=xs.dtype)
    total = 0
    for t in range(xs.shape[0]):
        h = torch.tanh(xs[t] @ Wx + h @ Wh + b)
        total = total + ((h @ Wy + by - targets[t]) ** 2).mean()
    return total / xs.shape[0]


def gmm_loss(alpha, means, logdiag, L, x, gamma, m, const):
    K, d = means.shape
    n = x.shape[0]
    mask = torch.ones(d, d, dtype=x.dtype).tril(-1)
    Lm = L * mask
    Q = torch.diag_embed(torch.exp(logdiag)) + Lm
    Qxc = Q @ (x.T[None] - means[:, :, None])                              # (K, d, n)
    main = alpha[:, None] + logdiag.sum(1, keepdim=True) - 0.5 * (Qxc ** 2).sum(1)
    prior = 0.5 * gamma ** 2 * ((torch.exp(logdiag) ** 2).sum() + (Lm ** 2).sum()) \
        - m * logdiag.sum()
    return const + torch.logsumexp(main, 0).sum() - n * torch.logsumexp(alpha, 0) + prior


def make(data):
    as_t = lambda a: torch.from_numpy(a) if isinstance(a, np.ndarray) else \
        torch.tensor(a, dtype=torch.float64)
    params = [as_t(p).requires_grad_() for p in data.params]
    consts = [torch.from_numpy(c) if isinstance(c, np.ndarray) else c for c in data.consts]
    if data.name == "gmm":
        consts += [data.cfg["gamma"], data.cfg["m"], data.cfg["const"]]
    loss_fn = globals()[data.name + "_loss"]

    def call():
        loss = loss_fn(*params, *consts)
        return loss.detach(), torch.autograd.grad(loss, params)
    return call


def versions():
    return {"torch": torch.__version__}
