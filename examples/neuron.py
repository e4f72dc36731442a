"""The lecture's example: one neuron, one feature, one data point.

    z = w*x + b,   s = sigmoid(z),   L = (s - y)**2

The forward pass fills z, s and L from the inputs; the backward pass fills dL/dv for every node,
from the loss back to the parameters:

    dL/ds = 2(s - y)
    dL/dz = dL/ds * s(1 - s)  = 2(s - y) s (1 - s)
    dL/dw = dL/dz * x
    dL/db = dL/dz

graphc derives exactly these adjoint nodes symbolically and compiles forward and backward into
one call. Run:  python examples/neuron.py
"""

from __future__ import annotations

import numpy as np

import graphc
from graphc.numpy import sigmoid


def loss(w, b, x, y):
    return (sigmoid(w * x + b) - y) ** 2


# value and gradient with respect to w (argument 0) and b (argument 1)
value_and_grad = graphc.value_and_grad(loss, argnums=(0, 1))


def hand_gradient(w, b, x, y):
    """The backward pass written out by hand, as on the blackboard."""
    s = 1.0 / (1.0 + np.exp(-(w * x + b)))
    dz = 2.0 * (s - y) * s * (1.0 - s)
    return (s - y) ** 2, dz * x, dz


def split_ir(graph_text: str) -> tuple[list[str], list[str]]:
    """A graph's node lines, split by their fwd/bwd marker; the return line goes with bwd.

    Each node line of ``.ir()`` reads ``%k = op(inputs) : dtype[shape] fwd|bwd file:line``.
    """
    fwd, bwd = [], []
    for line in graph_text.splitlines():
        if line.strip().startswith("return"):
            bwd.append(line + "   (L, dL/dw, dL/db)")
        elif " : " in line:
            call, rest = line.split(" : ", 1)
            dtype, side = rest.split()[:2]
            (bwd if side == "bwd" else fwd).append(f"{call.rstrip():<54} {dtype}")
    return fwd, bwd


def main() -> None:
    w, b = 0.5, -0.2  # parameters
    x, y = 1.5, 1.0  # the one data point

    # .ir() shows the graph as traced (forward nodes, then the adjoint nodes derived from them),
    # then "# optimised": the same graph after the simplification passes, as compiled
    header, text = value_and_grad.ir(w, b, x, y).split("\n", 1)
    traced, optimised = text.split("# optimised")
    fwd, bwd = split_ir(traced)
    print(header)
    print("\nforward graph (fwd nodes); inputs %0=w %1=b %2=x %3=y:")
    print("\n".join(fwd))
    print("\nadjoint graph (bwd nodes), derived by graphc node by node from the forward graph:")
    print("\n".join(bwd))
    ofwd, obwd = split_ir(optimised)
    print("\nthe whole graph after simplification (numbered afresh), as compiled:")
    print("\n".join(ofwd + ["    ---- bwd ----"] + obwd))

    value, (gw, gb) = value_and_grad(w, b, x, y)
    hv, hw, hb = hand_gradient(w, b, x, y)
    print(f"\nat w={w}, b={b}, x={x}, y={y}:")
    print(f"  {'':8}{'graphc':>24}{'by hand':>24}")
    print(f"  {'L':8}{value:>24.17g}{hv:>24.17g}")
    print(f"  {'dL/dw':8}{gw:>24.17g}{hw:>24.17g}")
    print(f"  {'dL/db':8}{gb:>24.17g}{hb:>24.17g}")
    print(f"  max |graphc - hand| = {max(abs(value - hv), abs(gw - hw), abs(gb - hb)):.3g}")

    lr = 2.0
    print(f"\ngradient descent, learning rate {lr}:")
    for step in range(11):
        value, (gw, gb) = value_and_grad(w, b, x, y)
        if step % 2 == 0:
            print(f"  step {step:2d}  L = {value:.6f}  w = {w:+.4f}  b = {b:+.4f}")
        w, b = w - lr * gw, b - lr * gb


if __name__ == "__main__":
    main()
