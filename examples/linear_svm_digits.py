"""A linear classifier with the multiclass SVM (hinge) loss on real handwritten digits.

The loss is written the way a course assignment vectorises it, with integer labels, fancy
indexing and an in-place assignment:

    scores = X W + b,   margins = max(0, scores - scores[i, y_i] + 1),   margins[i, y_i] = 0
    L = sum(margins) / n + reg * sum(W ** 2)

``graphc.value_and_grad`` compiles it as it is. Before training, the script checks graphc's
gradient against the gradient derived by hand (the usual "count the positive margins"
derivation) on a batch; then it trains with minibatch SGD and reports the test accuracy.
The data is scikit-learn's bundled copy of the UCI optical-digits set (no download).

Run:  python examples/linear_svm_digits.py [--epochs N] [--min-accuracy 0.93]
Exits with status 1 if the gradients disagree or the final test accuracy is below
--min-accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphc


def svm_loss(params, x, y, reg):
    w, b = params
    n = x.shape[0]
    scores = x @ w + b
    correct = scores[np.arange(n), y]
    margins = np.maximum(0, scores - correct[:, None] + 1)
    margins[np.arange(n), y] = 0  # the correct class contributes no margin
    return margins.sum() / n + reg * np.sum(w * w)


def svm_grad_by_hand(params, x, y, reg):
    """The gradient derived on paper: each positive margin adds x_i to its class's column
    and subtracts it from the correct class's column."""
    w, b = params
    n = x.shape[0]
    scores = x @ w + b
    margins = scores - scores[np.arange(n), y][:, None] + 1
    coef = (margins > 0).astype(x.dtype)
    coef[np.arange(n), y] = 0
    coef[np.arange(n), y] = -coef.sum(axis=1)
    coef /= n
    return x.T @ coef + 2 * reg * w, coef.sum(axis=0)


loss_and_grad = graphc.value_and_grad(svm_loss)  # gradient w.r.t. params: (dW, db)
scores_of = graphc.jit(lambda params, x: x @ params[0] + params[1])


def load_data(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, labels = load_digits(return_X_y=True)
    x_tr, x_te, l_tr, l_te = train_test_split(x, labels, test_size=0.25, random_state=seed,
                                              stratify=labels)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std == 0] = 1.0
    return (x_tr - mean) / std, l_tr, (x_te - mean) / std, l_te


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--reg", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-accuracy", type=float, default=0.93)
    args = ap.parse_args(argv)

    x_tr, l_tr, x_te, l_te = load_data(args.seed)
    rng = np.random.default_rng(args.seed)
    params = (0.01 * rng.normal(size=(x_tr.shape[1], 10)), np.zeros(10))

    batch = (x_tr[:args.batch], l_tr[:args.batch])
    value, grads = loss_and_grad(params, *batch, args.reg)
    hand = svm_grad_by_hand(params, *batch, args.reg)
    diff = max(float(np.abs(g - h).max()) for g, h in zip(grads, hand))
    print(f"loss {value:.6f} (NumPy {svm_loss(params, *batch, args.reg):.6f}); "
          f"largest gradient difference from the hand derivation {diff:.1e}")
    if diff > 1e-12:
        print("gradients disagree", file=sys.stderr)
        return 1

    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_tr))
        total = 0.0
        for k in range(0, len(order) - args.batch + 1, args.batch):
            idx = order[k:k + args.batch]
            value, grads = loss_and_grad(params, x_tr[idx], l_tr[idx], args.reg)
            params = tuple(p - args.lr * g for p, g in zip(params, grads))
            total += value
        acc = float((scores_of(params, x_te).argmax(axis=1) == l_te).mean())
        steps = len(order) // args.batch
        print(f"epoch {epoch + 1:3d}  loss {total / steps:.4f}  test acc {acc:.4f}")
    print(f"trained in {time.perf_counter() - start:.2f} s; final test accuracy {acc:.4f}")
    return 0 if acc >= args.min_accuracy else 1


if __name__ == "__main__":
    sys.exit(main())
