"""Random programs drawn from the op registry (hypothesis): whole graphs, not single ops.

A program starts from one to three inputs of small random shapes and applies a random
sequence of registry ops: elementwise unary ops (through a domain guard where they need one),
broadcasting binary ops, reductions over random axes, matmuls, transposes, reshapes and
slices. Its loss weighs every value it made with fixed random covectors. Each program's value
and gradient, compiled, must equal the reference interpreter's, and the gradient must match
central finite differences; a sample of them also runs on the CUDA simulator.

The default run is deterministic and short; GRAPHC_LONG_FUZZ=1 draws many more, randomly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc
from graphc.ops import OPS
from graphc.trace import Tracer, apply

LONG = bool(os.environ.get("GRAPHC_LONG_FUZZ"))
EXAMPLES = 400 if LONG else 20
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG,
                    suppress_health_check=list(HealthCheck), database=None)

# Unary ops and the guard that keeps their argument inside the domain where they are smooth
# and well conditioned (finite differences need that too).
GUARDS = {
    "real": lambda x: x,
    "bounded": lambda x: np.tanh(x) * 2,  # exp, sinh, ... stay moderate
    "pos": lambda x: x * x + 0.5,
    "unit": lambda x: np.tanh(x) * 0.8,
    "above1": lambda x: x * x + 1.5,
}
UNARY = {"negative": "real", "sin": "real", "cos": "real", "tanh": "real", "sigmoid": "real",
         "exp": "bounded", "expm1": "bounded", "log": "pos", "log1p": "pos", "sqrt": "pos",
         "identity": "real",
         # present once the op breadth lands (tested when the registry has them)
         "tan": "unit", "sinh": "bounded", "cosh": "bounded", "arcsin": "unit",
         "arccos": "unit", "arctan": "real", "arcsinh": "real", "arccosh": "above1",
         "arctanh": "unit", "exp2": "bounded", "log2": "pos", "log10": "pos", "square": "real",
         "reciprocal": "pos"}
UNARY = {k: v for k, v in UNARY.items() if k in OPS}
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power"]


@st.composite
def programs(draw):
    """A list of instructions over value indices; values 0..n_inputs-1 are the inputs."""
    n_in = draw(st.integers(1, 3))
    dim = st.sampled_from([1, 2, 3])
    shapes = [tuple(draw(st.lists(dim, min_size=0, max_size=3))) for _ in range(n_in)]
    prog, values = [], list(shapes)
    for _ in range(draw(st.integers(1, 7))):
        k = draw(st.integers(0, len(values) - 1))
        s = values[k]
        kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce", "matmul",
                                     "layout"]))
        if kind == "unary":
            prog.append(("unary", draw(st.sampled_from(sorted(UNARY))), k))
        elif kind == "binary":
            j = draw(st.integers(0, len(values) - 1))
            try:
                out = np.broadcast_shapes(s, values[j])
            except ValueError:
                continue
            prog.append(("binary", draw(st.sampled_from(BINARY)), k, j))
            s = out
        elif kind == "reduce":
            if not s:
                continue
            axis = draw(st.integers(-len(s), len(s) - 1))
            keep = draw(st.booleans())
            prog.append(("reduce", draw(st.sampled_from(["sum", "max", "mean"])), k, axis, keep))
            s = s[:axis % len(s)] + ((1,) if keep else ()) + s[axis % len(s) + 1:]
        elif kind == "matmul":
            if len(s) < 1:
                continue
            n = draw(dim)
            prog.append(("matmul", k, n))  # s @ W with W of shape (s[-1], n), a fixed constant
            s = s[:-1] + (n,) if len(s) > 1 else (n,)
        else:
            if len(s) >= 2 and draw(st.booleans()):
                prog.append(("transpose", k))
                s = s[::-1]
            elif s and draw(st.booleans()):
                prog.append(("slice", k))  # x[..., ::-1][..., :last] : a reversed, cut view
                s = s[:-1] + (max(1, s[-1] - 1),)
            else:
                prog.append(("reshape", k))
                s = (int(np.prod(s)),)
        values.append(s if prog[-1][0] != "unary" else values[k])
    return shapes, prog


def build(shapes, prog, seed=0):
    """The program as a function of its inputs (tracers or arrays) and its float64 inputs."""
    rng = np.random.default_rng(seed)

    def f(*xs):
        r = np.random.default_rng(seed + 1)
        vals = list(xs)
        for ins in prog:
            op = ins[0]
            if op == "unary":
                x = GUARDS[UNARY[ins[1]]](vals[ins[2]])
                vals.append(apply(ins[1], x) if isinstance(x, Tracer)
                            else OPS[ins[1]].impl(np.asarray(x)))
            elif op == "binary":
                a, b = vals[ins[2]], vals[ins[3]]
                if ins[1] == "divide":
                    b = b * b + 0.5
                if ins[1] == "power":
                    a, b = a * a + 0.5, np.tanh(b)
                vals.append(getattr(np, ins[1])(a, b))
            elif op == "reduce":
                x = vals[ins[2]]
                vals.append(getattr(np, ins[1])(x, axis=ins[3], keepdims=ins[4]))
            elif op == "matmul":
                x = vals[ins[1]]
                w = r.normal(size=(np.shape(x)[-1], ins[2])) * 0.5
                vals.append(x @ w)
            elif op == "transpose":
                vals.append(np.transpose(vals[ins[1]]))
            elif op == "slice":
                x = vals[ins[1]]
                vals.append(x[..., ::-1][..., :max(1, np.shape(x)[-1] - 1)])
            else:
                vals.append(np.reshape(vals[ins[1]], -1))
        total = 0.0
        for v in vals[len(xs):] or vals:
            u = r.normal(size=np.shape(v))
            total = total + (v * u).sum()
        return total

    args = tuple(rng.normal(size=s) for s in shapes)
    return f, args


def check(shapes, prog, target="cpu"):
    f, args = build(shapes, prog)
    nums = tuple(range(len(args)))
    vg = graphc.value_and_grad(f, argnums=nums, target=target)
    (v, g), (rv, rg) = vg(*args), vg.reference(*args)
    np.testing.assert_allclose(v, rv, rtol=1e-9, atol=1e-9, err_msg=str(prog))
    for a, b in zip(g, rg):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9, err_msg=str(prog))
    np.testing.assert_allclose(v, f(*args), rtol=1e-9, atol=1e-9, err_msg=str(prog))
    r = np.random.default_rng(7)
    dirs = [r.normal(size=np.shape(a)) for a in args]
    eps = 1e-6
    up = f(*[a + eps * d for a, d in zip(args, dirs)])
    down = f(*[a - eps * d for a, d in zip(args, dirs)])
    fd = (up - down) / (2 * eps)
    ad = sum(float(np.sum(gk * d)) for gk, d in zip(g, dirs))
    assert ad == pytest.approx(fd, rel=1e-4, abs=1e-6), prog


@SETTINGS
@given(programs())
def test_random_program_cpu(program):
    check(*program)


def loop_of(shapes, prog, steps=6, reverse=False):
    """A Python loop whose step runs the program on (carry, x_t, captured): the carry moves on
    through the program's value, which also adds up into the loss."""
    f, args = build(shapes, prog)
    h0, rest = args[0], args[1:]
    xs = np.random.default_rng(3).normal(size=(steps,) + rest[0].shape) if rest else None

    def loop(h0, *more):
        h, total = h0, 0.0
        for t in (reversed(range(steps)) if reverse else range(steps)):
            v = f(h, *([more[0][t]] if rest else []), *more[1:])
            h = np.tanh(h * 0.9 + 0.1 * v)
            total = total + v
        return total + (h * h).sum()

    return loop, (h0,) + ((xs,) + rest[1:] if rest else ())


@SETTINGS
@given(programs(), st.booleans())
def test_random_loop_rolled_equals_unrolled(program, reverse):
    """Rerolling (passes/reroll.py) on random step bodies: the loop becomes a scan, and its
    value and gradient equal the unrolled loop's (GRAPHC_REROLL=0) and the reference's."""
    from graphc.passes import reroll

    loop, args = loop_of(*program, reverse=reverse)
    nums = tuple(range(len(args)))
    old = reroll.MIN_NODES, os.environ.get("GRAPHC_REROLL")
    reroll.MIN_NODES = 0
    try:
        os.environ["GRAPHC_REROLL"] = "1"
        vg = graphc.value_and_grad(loop, argnums=nums)
        assert "= scan(" in vg.ir(*args).split("# optimised")[0], program
        (v, g), (rv, rg) = vg(*args), vg.reference(*args)
        os.environ["GRAPHC_REROLL"] = "0"
        uv, ug = graphc.value_and_grad(loop, argnums=nums)(*args)
    finally:
        reroll.MIN_NODES = old[0]
        if old[1] is None:
            os.environ.pop("GRAPHC_REROLL", None)
        else:
            os.environ["GRAPHC_REROLL"] = old[1]
    np.testing.assert_allclose(v, loop(*args), rtol=1e-9, atol=1e-9, err_msg=str(program))
    for a, b, c in zip((v, *g), (uv, *ug), (rv, *rg)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9, err_msg=str(program))
        np.testing.assert_allclose(a, c, rtol=1e-8, atol=1e-9, err_msg=str(program))


def test_random_programs_on_the_cuda_simulator():
    """A sample of the same programs on the CUDA target (simulated, in a subprocess so the
    simulator does not leak into this session), compared with the CPU."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    p = subprocess.run([sys.executable, __file__, "--cuda"], env=env, capture_output=True,
                       text=True, timeout=1200, cwd=Path(__file__).resolve().parent.parent)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "programs checked on cuda: " in p.stdout, p.stdout


def cuda_main() -> None:
    from graphc.codegen import cuda as gcuda

    n = 0

    @settings(max_examples=60 if LONG else 6, deadline=None, derandomize=not LONG,
              suppress_health_check=list(HealthCheck), database=None)
    @given(programs())
    def run(program):
        nonlocal n
        f, args = build(*program)
        nums = tuple(range(len(args)))
        # Every other program numbers the blocks of shared launches from their last kernel
        # (see cuda.REVERSED): a dependence between kernels sharing a launch shows as a wrong
        # result in one order or the other.
        gcuda.REVERSED = n % 2 == 1
        got = graphc.value_and_grad(f, argnums=nums, target="cuda")(*args)
        want = graphc.value_and_grad(f, argnums=nums)(*args)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-9)
        for a, b in zip(got[1], want[1]):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=str(program))
        n += 1

    run()
    print(f"programs checked on cuda: {n}")


if __name__ == "__main__" and sys.argv[1:] == ["--cuda"]:
    cuda_main()
