"""A small dense network, net(u) = tanh(u W1 + b1) W2 + b2, fitted to sin(x) on a grid of
x in [-pi, pi] (input u = x / pi) by plain full-batch gradient descent with the compiled gradient.

Run:  python examples/mlp.py [--steps N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc


def predict(params, x):
    w1, b1, w2, b2 = params
    return np.tanh(x @ w1 + b1) @ w2 + b2


def loss(params, x, y):
    return ((predict(params, x) - y) ** 2).mean()


# the parameters are a tuple of arrays, so the gradient is the same tuple of arrays
value_and_grad = graphc.value_and_grad(loss)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.1)
    args = ap.parse_args(argv)

    x = np.linspace(-np.pi, np.pi, 128).reshape(-1, 1)
    y = np.sin(x)
    u = x / np.pi  # inputs scaled to [-1, 1]
    rng = np.random.default_rng(0)
    h = args.hidden
    params = (2.0 * rng.normal(size=(1, h)), rng.normal(size=h),
              rng.normal(size=(h, 1)) / np.sqrt(h), np.zeros(1))

    t0 = time.perf_counter()
    value, grads = value_and_grad(params, u, y)  # the first call traces and compiles
    print(f"compiled the gradient in {time.perf_counter() - t0:.2f} s; initial loss {value:.5f}")

    t0 = time.perf_counter()
    first = value
    for step in range(1, args.steps + 1):
        params = tuple(p - args.lr * g for p, g in zip(params, grads))
        value, grads = value_and_grad(params, u, y)
        if step % max(1, args.steps // 10) == 0:
            print(f"step {step:5d}  loss {value:.6f}")
    dt = time.perf_counter() - t0
    err = np.abs(predict(params, u) - y).max()
    print(f"{args.steps} steps in {dt:.2f} s ({dt / args.steps * 1e6:.0f} us/step); "
          f"loss {first:.5f} -> {value:.6f}; max |net(x) - sin(x)| = {err:.4f}")
    return 0 if value < first else 1


if __name__ == "__main__":
    raise SystemExit(main())
