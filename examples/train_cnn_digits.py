"""Train a small convolutional network on real handwritten digits with graphc.

Same data as train_mlp_digits.py (scikit-learn's bundled 8x8 UCI digits, no download), seen
as 1x8x8 images. The network is the lecture's CNN:

    conv 3x3 (8 filters, padding 1) -> relu -> 2x2 max pool -> dense 128->10 -> softmax CE

written with NumPy and ``graphc.nn``; backpropagation through the convolution and the pooling
comes from the same adjoint pass as everything else, compiled into one call per minibatch.

Run:  python examples/train_cnn_digits.py [--epochs N] [--plot loss.png] [--min-accuracy 0.95]
Exits with status 1 if the final test accuracy is below --min-accuracy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc
from graphc import nn
from train_mlp_digits import load_data, save_plot, train


def forward(params, x):
    w1, b1, w2, b2 = params
    h = nn.max_pool2d(nn.relu(nn.conv2d(x, w1, b1, padding=1)), 2)
    return h.reshape(x.shape[0], -1) @ w2 + b2


def loss(params, x, labels):
    return nn.cross_entropy(forward(params, x), labels)


loss_and_grad = graphc.value_and_grad(loss)


def init_params(rng, filters, dtype):
    fan = filters * 4 * 4
    return tuple(p.astype(dtype) for p in (
        rng.normal(size=(filters, 1, 3, 3)) / 3.0, np.zeros(filters),
        rng.normal(size=(fan, 10)) / np.sqrt(fan), np.zeros(10)))


def accuracy(params, x, labels) -> float:
    # graphc.nn runs on plain arrays too: evaluation needs no compiled code of its own.
    return float((np.argmax(forward(params, x), axis=1) == labels).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train a small CNN on sklearn's digits.")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--filters", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", metavar="PATH", help="save the loss curve as a PNG (matplotlib)")
    ap.add_argument("--min-accuracy", type=float, default=0.95)
    args = ap.parse_args(argv)

    dtype = np.float32
    x_tr, l_tr, x_te, l_te = load_data(args.seed, dtype)
    x_tr, x_te = x_tr.reshape(-1, 1, 8, 8), x_te.reshape(-1, 1, 8, 8)
    n, nb = len(x_tr), len(x_tr) // args.batch
    print(f"digits: {n} train / {len(x_te)} test images of 1x8x8; conv3x3x{args.filters} -> "
          f"relu -> maxpool2 -> dense; {nb} minibatches of {args.batch} per epoch")

    rng = np.random.default_rng(args.seed)
    params = init_params(rng, args.filters, dtype)
    lr, mu = dtype(args.lr), dtype(args.momentum)

    t0 = time.perf_counter()
    loss_and_grad(params, x_tr[:args.batch], l_tr[:args.batch])
    print(f"compiled in {time.perf_counter() - t0:.2f} s")

    params, history = train(loss_and_grad, params, x_tr, l_tr, l_tr, (x_te, l_te), accuracy,
                            args.epochs, args.batch, lr, mu, rng)

    acc = accuracy(params, x_te, l_te)
    print(f"final test accuracy {acc:.4f} ({round(acc * len(x_te))}/{len(x_te)}) after "
          f"{args.epochs} epochs")
    if args.plot:
        save_plot(history, args.plot, f"digits CNN, test accuracy {acc:.3f}")
    if acc < args.min_accuracy:
        print(f"FAIL: test accuracy {acc:.4f} is below --min-accuracy {args.min_accuracy}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
