"""A character-level tanh RNN trained with graphc's compiled gradient on a short real text.

The text (examples/data/us_founding_texts.txt, public domain) is the Gettysburg Address (Bliss
copy, em-dashes written as "--"), the first two paragraphs of the Declaration of Independence
and the Preamble of the US Constitution: about 2.9 KB, lower-cased here.

The model reads one-hot characters and predicts the next one:

    h_t = tanh(x_t Wxh + h_{t-1} Whh + bh),   L = -mean_t,b sum(y_t * log_softmax(h_t Why + by))

written with ``graphc.scan``: the step is traced once and compiled as one loop, so the compile
time does not depend on the sequence length T (--seq). ``--unroll`` writes the same loss as a
plain Python loop over t instead, which graphc unrolls while tracing: that graph, and its
compile time, grows with T (the script prints both), until the loop is long enough for graphc
to roll it back into a scan (graphc/passes/reroll.py): from 8 steps here, so the default
T=16 is rolled and --seq 7 shows the unrolled graph. Training is
truncated backpropagation through time on random windows of T+1 characters, each starting from
h_0 = 0, with Adam written in NumPy; the loss is printed per epoch, and at the end the model
generates text greedily from a prompt (forward pass in NumPy).

Generated modules go to $GRAPHC_CACHE_DIR (default ~/.cache/graphc), as for any graphc function,
so a second run starts warm.

Run:  python examples/rnn_sequence.py [--epochs 300] [--seq 16] [--hidden 64]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import graphc
from graphc.numpy import log_softmax

TEXT = Path(__file__).resolve().parent / "data" / "us_founding_texts.txt"


def rnn_loss(params, xs, ys, h0):
    """xs, ys: (T, B, V) one-hot inputs and next-character targets; h0: (B, H)."""
    wxh, whh, bh, why, by = params

    def step(h, xy):
        x, y = xy
        h = np.tanh(x @ wxh + h @ whh + bh)
        return h, (y * log_softmax(h @ why + by)).sum()

    _, logp = graphc.scan(step, h0, (xs, ys))  # traced once, one compiled loop
    return -logp.sum() / (xs.shape[0] * xs.shape[1])


def rnn_loss_unrolled(params, xs, ys, h0):
    """The same loss as a Python loop, which graphc unrolls while tracing (and rolls back into
    a scan when it is long)."""
    wxh, whh, bh, why, by = params
    h = h0
    total = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ wxh + h @ whh + bh)
        total = total + (ys[t] * log_softmax(h @ why + by)).sum()
    return -total / (xs.shape[0] * xs.shape[1])


def init_params(rng, vocab, hidden):
    return (rng.normal(size=(vocab, hidden)) * 0.1,
            np.linalg.qr(rng.normal(size=(hidden, hidden)))[0] * 0.5,  # scaled orthogonal
            np.zeros(hidden),
            rng.normal(size=(hidden, vocab)) / np.sqrt(hidden),
            np.zeros(vocab))


class Adam:
    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        self.t += 1
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            mhat = self.m[i] / (1 - self.b1 ** self.t)
            vhat = self.v[i] / (1 - self.b2 ** self.t)
            out.append(p - self.lr * mhat / (np.sqrt(vhat) + self.eps))
        return tuple(out)


def generate(params, prompt_ids, n, vocab):
    """Greedy continuation: feed the prompt, then always the most likely next character."""
    wxh, whh, bh, why, by = params
    h = np.zeros(whh.shape[0])
    out = list(prompt_ids)
    for c in prompt_ids[:-1]:
        h = np.tanh(wxh[c] + h @ whh + bh)
    c = prompt_ids[-1]
    for _ in range(n):
        h = np.tanh(wxh[c] + h @ whh + bh)
        c = int(np.argmax(h @ why + by))
        out.append(c)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Character-level tanh RNN on a short text.")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seq", type=int, default=16, help="sequence length T per window")
    ap.add_argument("--unroll", action="store_true",
                    help="trace a Python loop (unrolled, or rolled back into a scan when long)")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generate", type=int, default=120, help="characters to generate")
    args = ap.parse_args(argv)

    text = TEXT.read_text(encoding="utf-8").lower()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = np.array([index[c] for c in text])
    V, T, B, H = len(chars), args.seq, args.batch, args.hidden
    eye = np.eye(V)
    # one epoch: every window start k*T, shuffled, in whole batches (one shape, one compile)
    starts = np.arange(0, len(data) - T - 1, T)
    nb = len(starts) // B
    print(f"text: {TEXT.name}, {len(data)} characters, vocabulary {V}; RNN {V}-{H}-{V} tanh, "
          f"T={T}, {nb} batches of {B} windows per epoch")
    # gradient w.r.t. params only
    loss_and_grad = graphc.value_and_grad(rnn_loss_unrolled if args.unroll else rnn_loss)

    rng = np.random.default_rng(args.seed)
    params = init_params(rng, V, H)
    opt = Adam(params, args.lr)
    h0 = np.zeros((B, H))

    def batch(idx):
        win = data[starts[idx][:, None] + np.arange(T + 1)]  # (B, T+1)
        return eye[win[:, :-1]].transpose(1, 0, 2).copy(), eye[win[:, 1:]].transpose(1, 0, 2).copy()

    xs, ys = batch(np.arange(B))
    t0 = time.perf_counter()
    value0, _ = loss_and_grad(params, xs, ys, h0)  # trace + compile (or load from the cache)
    compile_s = time.perf_counter() - t0
    stats = loss_and_grad.stats(params, xs, ys, h0)
    nodes = {k: v for k, v in stats.items() if "node" in k}
    rolled = "= scan(" in loss_and_grad.ir(params, xs, ys, h0).split("# optimised")[0]
    how = ("steps as one scan loop" if not args.unroll else
           "Python loop rolled back into a scan" if rolled else "unrolled steps")
    print(f"first call (trace, differentiate, compile T={T} {how}) {compile_s:.2f} s; "
          f"{stats['kernels']} kernels; {nodes}")
    print(f"initial loss {float(value0):.4f} (uniform guess: ln {V} = {np.log(V):.4f})")

    t_start = time.perf_counter()
    n_calls, call_s = 0, 0.0
    history = []
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(starts))
        total = 0.0
        for i in range(nb):
            xs, ys = batch(order[i * B:(i + 1) * B])
            t = time.perf_counter()
            value, grads = loss_and_grad(params, xs, ys, h0)
            call_s += time.perf_counter() - t
            n_calls += 1
            total += float(value)
            grads = tuple(np.clip(g, -5.0, 5.0) for g in grads)
            params = opt.step(params, grads)
        history.append(total / nb)
        print(f"epoch {epoch:3d}  loss {history[-1]:.4f}")
    train_s = time.perf_counter() - t_start
    print(f"loss {history[0]:.4f} -> {history[-1]:.4f} in {args.epochs} epochs; training "
          f"{train_s:.2f} s, {n_calls} gradient calls, {call_s / max(n_calls, 1) * 1e3:.3f} ms "
          "per call")

    prompt = "four score and "
    out = generate(params, [index[c] for c in prompt], args.generate, V)
    print(f"greedy generation from {prompt!r}:")
    print("  " + "".join(chars[i] for i in out).replace("\n", " "))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
