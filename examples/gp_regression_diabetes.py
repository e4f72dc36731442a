"""Gaussian-process regression on real data, its kernel learnt by gradient descent.

The loss is the negative log marginal likelihood of the training targets under a GP whose
kernel is an ARD squared exponential (one lengthscale per feature) plus a linear part, with
a noise variance, written as a textbook writes it, with NumPy's linear algebra:

    K = s2 exp(-|(x_i - x_j) / l|^2 / 2) + b2 x_i.x_j + n2 I,   L = cholesky(K)
    a = L^-T L^-1 y,   nll = y.a / 2 + sum(log diag L) + n log(2 pi) / 2

``graphc.value_and_grad`` differentiates through the Cholesky factorisation and the solves
(their gradients are themselves solves). The script first checks the gradient against
central finite differences of the NumPy function, then fits the 13 log-hyperparameters with
Adam, and compares the GP's test error with ridge regression (its closed-form weights are a
``np.linalg.solve`` too, its penalty picked on a validation split). The data is
scikit-learn's bundled diabetes set (442 patients, 10 features; no download).

The diabetes targets are close to linear in the features, so the GP is not expected to beat
ridge regression by much (on the default split both are within 1%); the point is the fit.

Run:  python examples/gp_regression_diabetes.py [--steps N] [--max-rmse-ratio 1.05]
Exits with status 1 if the gradient disagrees with finite differences, the fit does not
lower the loss, or the GP's test RMSE exceeds --max-rmse-ratio times ridge regression's.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphc


def kernel(theta, a, b):
    """Between the rows of a and b; theta = log(l_1..l_d, s2, b2, n2)."""
    d = a.shape[1]
    ls, s2, b2 = np.exp(theta[:d]), np.exp(theta[d]), np.exp(theta[d + 1])
    diff = (a[:, None, :] - b[None, :, :]) / ls
    return s2 * np.exp(-0.5 * (diff ** 2).sum(axis=-1)) + b2 * (a @ b.T)


def nll(theta, x, y):
    """The negative log marginal likelihood of y, per training point."""
    n = x.shape[0]
    noise = np.exp(theta[-1]) + 1e-6
    K = kernel(theta, x, x) + noise * np.eye(n)
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return (0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * np.log(2 * np.pi)) / n


def predict(theta, x, y, x_new):
    n = x.shape[0]
    K = kernel(theta, x, x) + (np.exp(theta[-1]) + 1e-6) * np.eye(n)
    return kernel(theta, x_new, x) @ np.linalg.solve(K, y)


def ridge(x, y, lam):
    return np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)


nll_and_grad = graphc.value_and_grad(nll)
predict_fast = graphc.jit(predict)
ridge_fast = graphc.jit(ridge)


def load_data(seed: int):
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=seed)
    mx, sx = x_tr.mean(axis=0), x_tr.std(axis=0)
    my, sy = y_tr.mean(), y_tr.std()
    return (x_tr - mx) / sx, (y_tr - my) / sy, (x_te - mx) / sx, (y_te - my) / sy, sy


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-rmse-ratio", type=float, default=1.05)
    args = ap.parse_args(argv)

    x_tr, y_tr, x_te, y_te, scale = load_data(args.seed)
    d = x_tr.shape[1]
    theta = np.concatenate([np.full(d, np.log(3.0)), [np.log(0.5), np.log(0.1), np.log(0.5)]])

    value, grad = nll_and_grad(theta, x_tr, y_tr)
    first = value
    rng = np.random.default_rng(args.seed)
    v = rng.normal(size=theta.shape)
    eps = 1e-5
    fd = (nll(theta + eps * v, x_tr, y_tr) - nll(theta - eps * v, x_tr, y_tr)) / (2 * eps)
    rel = abs(float(grad @ v) - fd) / abs(fd)
    print(f"nll {value:.6f} (NumPy {nll(theta, x_tr, y_tr):.6f}); directional derivative "
          f"{float(grad @ v):.8f}, finite differences {fd:.8f}, relative difference {rel:.1e}")
    if rel > 1e-5:
        print("the gradient disagrees with finite differences", file=sys.stderr)
        return 1

    m, s = np.zeros_like(theta), np.zeros_like(theta)  # Adam
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        value, grad = nll_and_grad(theta, x_tr, y_tr)
        m = 0.9 * m + 0.1 * grad
        s = 0.999 * s + 0.001 * grad ** 2
        theta = theta - args.lr * (m / (1 - 0.9 ** step)) / (np.sqrt(s / (1 - 0.999 ** step))
                                                               + 1e-8)
        if step % 25 == 0 or step == 1:
            print(f"step {step:4d}  nll {value:.4f}")
    seconds = time.perf_counter() - start

    def rmse(pred):
        return float(np.sqrt(np.mean((pred - y_te) ** 2)) * scale)

    gp = rmse(predict_fast(theta, x_tr, y_tr, x_te))
    fit, val = slice(0, len(x_tr) * 3 // 4), slice(len(x_tr) * 3 // 4, None)
    lam = min((10.0 ** k for k in range(-3, 4)), key=lambda lam: np.mean(
        (x_tr[val] @ ridge_fast(x_tr[fit], y_tr[fit], lam) - y_tr[val]) ** 2))
    lin = rmse(x_te @ ridge_fast(x_tr, y_tr, lam))
    print(f"fitted in {seconds:.2f} s ({args.steps} steps); lengthscales "
          f"{np.round(np.exp(theta[:d]), 2).tolist()}, signal {np.exp(theta[d]):.3f}, "
          f"linear {np.exp(theta[d + 1]):.3f}, noise {np.exp(theta[-1]):.3f}")
    print(f"test RMSE: GP {gp:.2f}, ridge regression {lin:.2f} (penalty {lam:g}; ratio "
          f"{gp / lin:.3f})")
    return 0 if value < first and gp <= args.max_rmse_ratio * lin else 1


if __name__ == "__main__":
    sys.exit(main())
