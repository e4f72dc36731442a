"""Train a dense network on real handwritten digits with graphc's compiled gradient.

The data is scikit-learn's bundled copy of the UCI optical-digits set (1797 8x8 grey images,
classes 0-9; no download). The network is 64-64-10 with tanh and softmax cross-entropy:

    h = tanh(x W1 + b1),   logits = h W2 + b2,   L = -mean(sum(y * log_softmax(logits)))

written in plain NumPy; ``graphc.value_and_grad`` turns it into one compiled forward+backward
call, and the loop below is ordinary minibatch SGD with momentum.

Run:  python examples/train_mlp_digits.py [--epochs N] [--plot loss.png] [--min-accuracy 0.95]
Exits with status 1 if the final test accuracy is below --min-accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphc
from graphc.numpy import log_softmax


def forward(params, x):
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1 + b1)
    return h @ w2 + b2


def loss(params, x, y):
    """Mean softmax cross-entropy; y holds one-hot rows (integer labels work as well:
    -log_softmax(logits)[np.arange(n), labels].mean(), as in linear_svm_digits.py)."""
    return -(y * log_softmax(forward(params, x))).sum() / x.shape[0]


loss_and_grad = graphc.value_and_grad(loss)  # gradient w.r.t. params, a tuple of 4 arrays
logits = graphc.jit(forward)  # compiled forward pass, for evaluation


def load_data(seed: int, dtype):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, labels = load_digits(return_X_y=True)
    x_tr, x_te, l_tr, l_te = train_test_split(x, labels, test_size=0.25, random_state=seed,
                                              stratify=labels)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std == 0] = 1.0  # pixels that are always blank stay 0 after centring
    x_tr, x_te = ((x_tr - mean) / std).astype(dtype), ((x_te - mean) / std).astype(dtype)
    return x_tr, l_tr, x_te, l_te


def init_params(rng, sizes, dtype):
    d, h, k = sizes
    return tuple(p.astype(dtype) for p in (
        rng.normal(size=(d, h)) / np.sqrt(d), np.zeros(h),
        rng.normal(size=(h, k)) / np.sqrt(h), np.zeros(k)))


def accuracy(params, x, labels) -> float:
    return float((np.argmax(logits(params, x), axis=1) == labels).mean())


def train(loss_and_grad, params, x, y, labels, test, accuracy, epochs: int, batch: int, lr,
          mu, rng):
    """Minibatch SGD with momentum over whole batches of a fresh shuffle each epoch (a ragged
    last batch would be a new shape, hence a second compile). ``y`` holds the loss's targets,
    ``labels`` the classes ``accuracy(params, x, labels)`` compares with, ``test`` is
    ``(x, labels)``. Prints the loss and accuracies per epoch; returns the parameters and the
    mean training loss of each epoch."""
    velocity = tuple(np.zeros_like(p) for p in params)
    nb, history = len(x) // batch, []
    for epoch in range(1, epochs + 1):
        t_epoch = time.perf_counter()
        order, total = rng.permutation(len(x)), 0.0
        for i in range(nb):
            idx = order[i * batch:(i + 1) * batch]
            value, grads = loss_and_grad(params, x[idx], y[idx])
            total += float(value)
            velocity = tuple(mu * v - lr * g for v, g in zip(velocity, grads))
            params = tuple(p + v for p, v in zip(params, velocity))
        history.append(total / nb)
        print(f"epoch {epoch:3d}  loss {history[-1]:.4f}  "
              f"train acc {accuracy(params, x, labels):.4f}  "
              f"test acc {accuracy(params, *test):.4f}  "
              f"({time.perf_counter() - t_epoch:.3f} s)")
    return params, history


def save_plot(history, path: str, title: str) -> None:
    """The loss curve as a PNG, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print("matplotlib is not installed; no plot written", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(history) + 1), history, marker="o", ms=3)
    ax.set(xlabel="epoch", ylabel="mean training loss", yscale="log", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"loss curve saved to {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train a 64-H-10 MLP on sklearn's digits.")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--float64", action="store_true", help="train in float64 (default float32)")
    ap.add_argument("--plot", metavar="PATH", help="save the loss curve as a PNG (matplotlib)")
    ap.add_argument("--min-accuracy", type=float, default=0.95,
                    help="exit with status 1 if the final test accuracy is below this")
    args = ap.parse_args(argv)

    dtype = np.float64 if args.float64 else np.float32
    x_tr, l_tr, x_te, l_te = load_data(args.seed, dtype)
    y_tr = np.eye(10, dtype=dtype)[l_tr]  # one-hot targets
    n, d = x_tr.shape
    nb = n // args.batch  # whole minibatches only (see train)
    print(f"digits: {n} train / {len(x_te)} test images, {d} features, {dtype.__name__}; "
          f"network {d}-{args.hidden}-10 tanh; {nb} minibatches of {args.batch} per epoch")

    rng = np.random.default_rng(args.seed)
    params = init_params(rng, (d, args.hidden, 10), dtype)
    lr, mu = dtype(args.lr), dtype(args.momentum)

    t0 = time.perf_counter()
    loss_and_grad(params, x_tr[:args.batch], y_tr[:args.batch])  # trace + compile once
    logits(params, x_tr)
    logits(params, x_te)
    print(f"compiled in {time.perf_counter() - t0:.2f} s "
          f"({loss_and_grad.stats(params, x_tr[:args.batch], y_tr[:args.batch])['kernels']} "
          "kernels in the gradient)")

    t_start = time.perf_counter()
    params, history = train(loss_and_grad, params, x_tr, y_tr, l_tr, (x_te, l_te), accuracy,
                            args.epochs, args.batch, lr, mu, rng)
    train_s = time.perf_counter() - t_start

    acc = accuracy(params, x_te, l_te)
    print(f"final test accuracy {acc:.4f} ({round(acc * len(x_te))}/{len(x_te)}) after "
          f"{args.epochs} epochs; training took {train_s:.2f} s")

    if args.plot:
        save_plot(history, args.plot, f"digits MLP, test accuracy {acc:.3f}")

    if acc < args.min_accuracy:
        print(f"FAIL: test accuracy {acc:.4f} is below --min-accuracy {args.min_accuracy}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
