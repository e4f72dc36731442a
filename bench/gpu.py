"""GPU benchmark of graphc's cuda target (reference card: NVIDIA H200).

    python bench/gpu.py                  # full sizes; needs a GPU and numba-cuda
    python bench/gpu.py --tiny           # tiny sizes, e.g. on the simulator: NUMBA_ENABLE_CUDASIM=1
    python bench/gpu.py --workloads mlp256,chain --out /tmp

Per workload: the cuda target's value and gradients are checked against the CPU target (a
mismatch is reported as FAILED and the script exits 1); then value_and_grad is timed with CUDA
events (median per call over batches of calls, so the host-side launch cost is included, as a
user pays it) with host (NumPy) arguments, transfers included; with host arguments and the
launches replayed as one CUDA graph (GRAPHC_CUDA_GRAPHS=1, experimental); and with arguments
already on the device. Peers' ratios are against the best of these three. Achieved GFLOP/s
count the matmul FLOPs of forward and backward; GB/s count the minimum traffic (arguments read
once, gradients written once). PyTorch eager and JAX jit run the same losses on the same GPU
when they are importable and see a GPU. The card's ceilings are measured too (device-to-device
copy bandwidth, cuBLAS float32 GEMM through PyTorch, the host cost of one numba.cuda launch),
and each workload's GPU time is split by launch site with CUDA events. Writes RESULTS-gpu.md
to --out (default: bench/).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX must leave memory to us

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import graphc  # noqa: E402
from bench import workloads  # noqa: E402

F = 4  # bytes per float32

# name -> (workload, full sizes, tiny sizes[, the loss graphc runs instead of the workload's])
WORKLOADS = {
    "mlp256": ("mlp", dict(B=256), dict(B=4, D=6, H=5, C=3)),
    "mlp4096": ("mlp", dict(B=4096), dict(B=8, D=6, H=5, C=3)),
    "chain": ("chain", dict(N=2 ** 24), dict(N=64)),
    "rnn": ("rnn", dict(T=50, B=32, D=64, H=128), dict(T=3, B=2, D=3, H=4, O=2)),
    "rnn-scan": ("rnn", dict(T=50, B=32, D=64, H=128), dict(T=3, B=2, D=3, H=4, O=2),
                 workloads.rnn_scan_loss),
}
DESCRIPTIONS = {
    "mlp256": "MLP {D}-{H}-{C}, batch {B}",
    "mlp4096": "MLP {D}-{H}-{C}, batch {B}",
    "chain": "sum(sin(x)·exp(−x²)+tanh(x)·x), N={N}",
    "rnn": "tanh RNN T={T} B={B} D={D} H={H} O={O}",
    "rnn-scan": "the same RNN with graphc.scan (a host loop of T steps)",
}


def sizes(data) -> dict:
    if data.name == "mlp":
        (B, D), (_, H), C = data.consts[0].shape, data.params[0].shape, data.params[3].shape[0]
        return dict(B=B, D=D, H=H, C=C)
    if data.name == "chain":
        return dict(N=data.params[0].size)
    (T, B, D), H, O = data.consts[0].shape, data.params[1].shape[0], data.params[3].shape[1]
    return dict(T=T, B=B, D=D, H=H, O=O)


def work(data) -> tuple[float, float]:
    """(matmul FLOPs of forward+backward, minimum bytes moved) of one value_and_grad."""
    s = sizes(data)
    args = sum(np.asarray(a).size for a in data.args)
    grads = sum(np.asarray(p).size for p in data.params)
    if data.name == "mlp":
        B, D, H, C = s["B"], s["D"], s["H"], s["C"]
        flops = 2 * B * D * H * 2 + 2 * B * H * C * 3  # X@W1, X.T@dH; H@W2, dZ@W2.T, H.T@dZ
    elif data.name == "rnn":
        T, B, D, H, O = s["T"], s["B"], s["D"], s["H"], s["O"]
        flops = T * 2 * B * (2 * D * H + 3 * H * H + 3 * H * O)
    else:
        flops = 0.0
    return flops, (args + grads) * F


def max_rel_error(out, ref) -> float:
    """Max |error| over value and gradients, each relative to the reference's max |value|."""
    (v, gs), (rv, rgs) = out, ref
    worst = 0.0
    for g, r in [(v, rv)] + list(zip(gs, rgs)):
        g, r = np.asarray(host(g), np.float64), np.asarray(r, np.float64)
        if g.shape != r.shape:
            return np.inf
        worst = max(worst, float(np.abs(g - r).max(initial=0) / max(np.abs(r).max(initial=0),
                                                                       1e-30)))
    return worst if np.isfinite(worst) else np.inf


def host(x):
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class Events:
    """Pairs of CUDA timing events on the default stream: numba.cuda's, or torch's own."""

    def __init__(self, torch=None):
        self.torch = torch

    def pair(self):
        if self.torch is not None:
            return [self.torch.cuda.Event(enable_timing=True) for _ in range(2)]
        from numba import cuda

        return [cuda.event() for _ in range(2)]  # timing is on by default


def median_time(fn, events: Events | None, reps: int, budget: float) -> float:
    """Median seconds per call over ``reps`` batches of calls lasting about budget/reps each;
    ``events=None`` times with the wall clock (for calls that block until done: JAX)."""
    fn()
    t = time.perf_counter()
    fn()
    inner = max(1, int(budget / reps / max(time.perf_counter() - t, 1e-7)))
    samples = []
    for _ in range(reps):
        if events is None:
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - t) / inner)
            continue
        start, end = events.pair()
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / inner)  # ms
    return statistics.median(samples)


# --------------------------------------------------------------------------- the card
def ceilings(cuda, tiny: bool) -> dict:
    """What this card does at best, measured here: device-to-device copy bandwidth (bytes
    read + written), float32 GEMM rate (cuBLAS through PyTorch, TF32 off) and the host-side
    cost of one numba.cuda launch of a kernel with no arguments, five array arguments and
    five integers (a launch's cost grows with its arguments)."""
    out = {}
    n = 1 << (10 if tiny else 28)  # 1 GiB of float32
    src, dst = cuda.device_array(n, np.float32), cuda.device_array(n, np.float32)
    from graphc.codegen.cuda import _simulated

    ev = None if _simulated(cuda) else Events()  # the simulator's events do not time

    def copy():
        dst.copy_to_device(src)

    out["copy_GBps"] = 2 * n * F / median_time(copy, ev, 5 if not tiny else 1, 0.0 if tiny
                                               else 0.5) / 1e9

    def none():
        pass

    def five(a, b, c, d, e):
        pass

    stream = cuda.stream()
    for key, fn, typ, args in [
            ("launch0_s", none, "", []),
            ("launch_s", five, "float32[::1]", [cuda.device_array(32, np.float32)] * 5),
            ("launch_int_s", five, "int64", [1 << 20] * 5)]:
        launch = cuda.jit(f"void({', '.join([typ] * len(args))})")(fn)[1, 32, stream]
        launch(*args)
        stream.synchronize()
        k = 10 if tiny else 2000
        t = time.perf_counter()
        for _ in range(k):
            launch(*args)
        out[key] = (time.perf_counter() - t) / k
        stream.synchronize()
    try:
        import torch

        if torch.cuda.is_available() and not tiny:
            torch.backends.cuda.matmul.allow_tf32 = False
            m = 8192
            a, b = (torch.randn(m, m, device="cuda") for _ in range(2))
            s = median_time(lambda: a @ b, Events(torch), 5, 1.0)
            out["sgemm_GFLOPs"] = 2 * m ** 3 / s / 1e9
    except ImportError:
        pass
    return out


def arguments(vg, args) -> tuple[int, int]:
    """(array, scalar) arguments that one call of ``vg`` passes to its launches: with the
    launch costs measured in ``ceilings``, the host side of a call."""
    from graphc.codegen.cuda import Runner

    runner = vg._lookup(tuple(args)).run
    if not isinstance(runner, Runner):
        return 0, 0
    launchers, count = runner._L, [0, 0]

    def counted(launch):
        def run(*a):
            arrays = sum(not isinstance(x, (int, np.integer)) for x in a)
            count[0] += arrays
            count[1] += len(a) - arrays
            launch(*a)
        return run

    runner._L = tuple(counted(f) for f in launchers)
    try:
        vg(*args)
    finally:
        runner._L = launchers
    return count[0], count[1]


def kernel_profile(vg, args, reps: int) -> list[tuple[str, float]]:
    """(kernel, GPU seconds per call) of each launch site of ``vg``'s driver, slowest first:
    CUDA events around every launch (sites inside a scan's loop add up over its steps)."""
    from numba import cuda

    from graphc.codegen.cuda import Runner

    runner = vg._lookup(tuple(args)).run
    if not isinstance(runner, Runner):
        return []
    sites = [ln.split("#", 1)[1].strip() for ln in runner.source.splitlines()
             if ln.strip().startswith("L[")]
    sites = [s if len(s) <= 70 else s[:67] + "..." for s in sites]
    launchers, pending = runner._L, []

    def timed(k, launch):
        def run(*a):
            start, end = cuda.event(), cuda.event()
            start.record(runner._stream)
            launch(*a)
            end.record(runner._stream)
            pending.append((k, start, end))
        return run

    runner._L = tuple(timed(k, f) for k, f in enumerate(launchers))
    totals = [[] for _ in sites]
    try:
        for _ in range(reps):
            pending.clear()
            vg(*args)
            per = [0.0] * len(sites)
            for k, start, end in pending:
                end.synchronize()
                per[k] += start.elapsed_time(end) / 1e3
            for k, t in enumerate(per):
                totals[k].append(t)
    finally:
        runner._L = launchers
    return sorted(((site, statistics.median(t)) for site, t in zip(sites, totals)),
                  key=lambda st: -st[1])


# --------------------------------------------------------------------------- peers
def torch_candidate(data):
    try:
        import torch
    except ImportError:
        return None, "torch not installed"
    if not torch.cuda.is_available():
        return None, "torch sees no GPU"
    dev = torch.device("cuda")
    params = [torch.tensor(np.asarray(p), device=dev).requires_grad_() for p in data.params]
    consts = [torch.tensor(np.asarray(c), device=dev) for c in data.consts]

    def mlp(W1, b1, W2, b2, X, Y):
        H = torch.tanh(X @ W1 + b1)
        return -(Y * torch.log_softmax(H @ W2 + b2, dim=1)).sum() / X.shape[0]

    def chain(x):
        return torch.sum(torch.sin(x) * torch.exp(-x * x) + torch.tanh(x) * x)

    def rnn(Wx, Wh, b, Wy, by, xs, targets):
        h = torch.zeros(xs.shape[1], Wh.shape[0], dtype=xs.dtype, device=dev)
        total = 0
        for t in range(xs.shape[0]):
            h = torch.tanh(xs[t] @ Wx + h @ Wh + b)
            total = total + ((h @ Wy + by - targets[t]) ** 2).mean()
        return total / xs.shape[0]

    loss = {"mlp": mlp, "chain": chain, "rnn": rnn}[data.name]

    def call():
        value = loss(*params, *consts)
        return value.detach(), torch.autograd.grad(value, params)

    return (call, Events(torch)), None


def jax_candidate(data):
    try:
        import jax
    except ImportError:
        return None, "jax not installed"
    if jax.default_backend() != "gpu":
        return None, f"jax backend is {jax.default_backend()}"
    from bench import jax_ad

    return (jax_ad.make(data), None), None


# --------------------------------------------------------------------------- main
def fmt_s(s):
    if s is None:
        return "–"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            return f"{s / scale:.3g} {unit}"


def rate(x, s):
    return "–" if not x or not s else f"{x / s / 1e9:.3g}"


def run(name, tiny, reps, budget):
    wl, full, small, *override = WORKLOADS[name]
    data = workloads.WORKLOADS[wl](**(small if tiny else full))
    row = {"name": name, "what": DESCRIPTIONS[name].format(**sizes(data))}
    loss = override[0] if override else data.loss
    ref = graphc.value_and_grad(data.loss, argnums=data.argnums)(*data.args)
    vg = graphc.value_and_grad(loss, argnums=data.argnums, target="cuda")
    t = time.perf_counter()
    out = vg(*data.args)
    row["first_call"] = time.perf_counter() - t
    row["error"] = max_rel_error(out, ref)
    tol = 1e-3 if data.dtype == np.float32 else 1e-8
    row["ok"] = row["error"] <= tol
    entry = vg._lookup(tuple(data.args))
    row["launches"], row["kernels"] = entry.run.launches, entry.stats["kernels"]
    row["flops"], row["bytes"] = work(data)
    if not row["ok"]:
        return row
    from numba import cuda

    from graphc.codegen.cuda import _simulated

    events = None if _simulated(cuda) else Events()  # the simulator's events do not time
    row["host"] = median_time(lambda: vg(*data.args), events, reps, budget)
    dev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in data.args]
    try:
        dev_out = vg(*dev)
        row["device"] = median_time(lambda: vg(*dev), events, reps, budget)
        assert max_rel_error(dev_out, ref) <= tol, "device-argument results differ"
    except graphc.ArgumentError as e:  # the simulator's device arrays carry no CUDA interface
        row["device_note"] = str(e).splitlines()[0]
    if events is not None:  # a GPU: host arguments again, the launches replayed as a CUDA graph
        runner = vg._lookup(tuple(data.args)).run
        runner.graphs = True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # a failed capture warns
                for _ in range(3):  # plain, capture, replay
                    err = max_rel_error(vg(*data.args), ref)
            if err > tol:
                row["graph_note"] = f"FAILED check: error {err:.3g}"
            else:
                row["graph"] = median_time(lambda: vg(*data.args), events, reps, budget)
        except Exception as e:  # noqa: BLE001 - reported in the table's notes
            row["graph_note"] = f"{type(e).__name__}: {e}"
        finally:
            runner.graphs = False
    row["profile"] = kernel_profile(vg, data.args, max(1, reps // 4))
    row["arrays"], row["ints"] = arguments(vg, data.args)
    for peer, make in (("torch", torch_candidate), ("jax", jax_candidate)):
        cand, why = make(data)
        if cand is None:
            row[peer + "_note"] = why
            continue
        fn, ev = cand
        err = max_rel_error(fn(), ref)
        if err > 10 * tol:
            row[peer + "_note"] = f"FAILED check: error {err:.3g}"
            continue
        row[peer] = median_time(fn, ev, reps, budget)
    return row


def _best(row) -> float:
    """The fastest of the three ways a workload was called."""
    return min(row[k] for k in ("host", "graph", "device") if row.get(k))


def report(rows, device, tiny, ceil) -> str:
    import numba

    lines = [f"# graphc cuda target on {device}", "",
             f"{datetime.date.today().isoformat()} · Python {platform.python_version()} · "
             f"NumPy {np.__version__} · Numba {numba.__version__}"
             + (" · **tiny sizes (smoke test), times meaningless**" if tiny else ""), "",
             "Medians per value_and_grad call, CUDA events (JAX, simulator: wall clock). "
             "GFLOP/s: matmul FLOPs of forward+backward; GB/s: minimum traffic.", "",
             "| workload | check (max rel err) | first call | launches | host args | "
             "host args, CUDA graph | device args | GFLOP/s | GB/s | PyTorch eager | JAX jit |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    notes = []
    for r in rows:
        if not r["ok"]:
            lines.append(f"| {r['what']} | FAILED ({r['error']:.3g}) | | | | | | | | | |")
            continue
        best = _best(r)
        cells = [r["what"], f"{r['error']:.2g}", fmt_s(r["first_call"]),
                 f"{r['launches']} ({r['kernels']} kernels)", fmt_s(r.get("host")),
                 fmt_s(r.get("graph")), fmt_s(r.get("device")), rate(r["flops"], best),
                 rate(r["bytes"], best)]
        for peer in ("torch", "jax"):
            if peer in r:
                cells.append(f"{fmt_s(r[peer])} ({r[peer] / best:.2g}× graphc)")
            else:
                cells.append("–")
                notes.append(f"{r['name']}: {peer}: {r[peer + '_note']}")
        if "device_note" in r:
            notes.append(f"{r['name']}: device args: {r['device_note']}")
        if "graph_note" in r:
            notes.append(f"{r['name']}: CUDA graph: {r['graph_note']}")
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in dict.fromkeys(notes)]
    lines += ["", "## The card, measured here", "",
              f"- device-to-device copy: {ceil['copy_GBps']:.4g} GB/s (read + written)",
              "- one numba.cuda launch, host side: no arguments "
              f"{fmt_s(ceil['launch0_s'])}, five arrays {fmt_s(ceil['launch_s'])}, five "
              f"integers {fmt_s(ceil['launch_int_s'])}",
              "- float32 GEMM 8192³ (cuBLAS via PyTorch, TF32 off): "
              + (f"{ceil['sgemm_GFLOPs']:.4g} GFLOP/s" if "sgemm_GFLOPs" in ceil else "–")]
    lines += ["", "## Against the ceilings (the best of the three ways to call)", ""]
    for r in rows:
        if not r["ok"]:
            continue
        best = _best(r)
        parts = [f"{100 * r['bytes'] / best / 1e9 / ceil['copy_GBps']:.3g}% of copy bandwidth"]
        if r["flops"] and "sgemm_GFLOPs" in ceil:
            parts.append(f"{100 * r['flops'] / best / 1e9 / ceil['sgemm_GFLOPs']:.3g}% of GEMM")
        lines.append(f"- {r['name']}: " + ", ".join(parts))
    lines += ["", "## Where the time goes (host-argument calls: GPU time per call, CUDA events "
              "around each launch)", ""]
    for r in rows:
        prof = r.get("profile")
        if not r["ok"] or not prof:
            continue
        gpu = sum(t for _, t in prof)
        per_array = max(0.0, ceil["launch_s"] - ceil["launch0_s"]) / 5
        per_int = max(0.0, ceil["launch_int_s"] - ceil["launch0_s"]) / 5
        launching = r["launches"] * ceil["launch0_s"] + r["arrays"] * per_array \
            + r["ints"] * per_int
        lines.append(f"- {r['name']}: kernels {fmt_s(gpu)} of a {fmt_s(r['host'])} call "
                     f"({len(prof)} launch sites); launching them takes the host about "
                     f"{fmt_s(launching)} ({r['arrays']} array and {r['ints']} integer "
                     "arguments); slowest: "
                     + "; ".join(f"{site} {fmt_s(t)}" for site, t in prof[:4]))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (simulator smoke test)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--reps", type=int, default=None, help="timed batches per measurement")
    ap.add_argument("--budget", type=float, default=None, help="seconds per measurement")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent))
    a = ap.parse_args(argv)
    reps = a.reps or (1 if a.tiny else 21)
    budget = a.budget if a.budget is not None else (0.0 if a.tiny else 1.0)
    from graphc.codegen.cuda import runtime_module

    cuda = runtime_module()  # a BackendError here says what is missing
    dev = cuda.get_current_device()
    device = getattr(dev, "name", "GPU")
    device = device.decode() if isinstance(device, bytes) else str(device)
    rows = []
    for name in a.workloads.split(","):
        r = run(name, a.tiny, reps, budget)
        print(name, {k: v for k, v in r.items() if k != "what"}, flush=True)
        rows.append(r)
    ceil = ceilings(cuda, a.tiny)
    print("ceilings", ceil, flush=True)
    text = report(rows, device, a.tiny, ceil)
    out = Path(a.out) / "RESULTS-gpu.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
