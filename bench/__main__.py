"""graphc benchmark runner.

    python -m bench                                  # everything: 5 rounds, ~0.5 s timed per run
    python -m bench --quick                          # 1 round, short timing (a smoke test)
    python -m bench --workloads mlp,rnn --candidates numpy_hand,graphc --rounds 3

Every (workload, candidate) run is a fresh `python -m bench.worker` process, so thread pools of
different libraries never share a process. A round runs every pair once, in shuffled order; the
reported time is the median over rounds of each run's median per-call time. Before the rounds,
graphc is run twice per workload against a fresh GRAPHC_CACHE_DIR: a cold first call (empty
cache, and Numba's cache of graphc's compiled helpers cleared too, so that nothing compiled is
reused) and a first call in a new process with that now-warm cache; the rounds then reuse it.

Writes RESULTS.md, results.json and (with matplotlib) results.png to --out (default bench/).
"""
import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.workloads import WORKLOADS
from bench.worker import CANDIDATES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DESCRIPTIONS = {
    "neuron": "lecture neuron, scalar value+grad (f64)",
    "mlp": "MLP 784-256-10, batch 256 (f32)",
    "chain": "sum(sin(x)·exp(−x²)+tanh(x)·x), 2^20 (f32)",
    "rnn": "tanh RNN T=50 B=32 D=64 H=128 O=16 (f32)",
    "gmm": "ADBench GMM d=10 K=25 n=1000 (f64)",
}


def clear_helper_cache():
    """Remove Numba's cached machine code of graphc's compiled helpers (graphc/codegen/
    helpers.py, compiled once per installation), so a cold run compiles them as a fresh
    install does. Where the installation is read-only, Numba caches elsewhere: nothing to do."""
    import graphc.codegen.helpers as helpers

    pycache = Path(helpers.__file__).parent / "__pycache__"
    for f in pycache.glob("helpers.*.nb[ic]"):
        try:
            f.unlink()
        except OSError:
            pass


def run_worker(workload, candidate, budget, warmup, env=None, timeout=1200):
    cmd = [sys.executable, "-m", "bench.worker", workload, candidate,
           "--budget", str(budget), "--warmup", str(warmup)]
    base = {"workload": workload, "candidate": candidate, "status": "FAILED"}
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"worker timed out after {timeout} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            res = json.loads(line)
            res["process_s"] = time.perf_counter() - t
            return res
    tail = (p.stderr or p.stdout).strip()[-1500:]
    return {**base, "error": f"worker exited with code {p.returncode} and no result: {tail}"}


def fmt(s):
    if s is None:
        return "–"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            v = s / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"


def dir_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def summarize(runs):
    """Fold one pair's runs (one per round) into a summary."""
    bad = [r for r in runs if r["status"] != "ok"]
    if bad:
        return {"status": bad[0]["status"], "error": bad[0].get("error", ""),
                "traceback": bad[0].get("traceback", "")}
    med = [r["median_s"] for r in runs]
    return {"status": "ok", "median_s": statistics.median(med), "min_s": min(med),
            "max_s": max(med), "rounds": len(med),
            "other_cpu": [r.get("other_cpu") for r in runs],
            "first_call_s": statistics.median(r["first_call_s"] for r in runs),
            "max_rel_err": max(r["max_rel_err"] for r in runs)}


def machine():
    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"


def results_table(wls, cands, summary):
    head = "| workload | " + " | ".join(cands) + " |\n|" + " --- |" * (len(cands) + 1) + "\n"
    rows = []
    for w in wls:
        g = summary.get((w, "graphc"), {})
        cells = []
        for c in cands:
            s = summary[w, c]
            if s["status"] != "ok":
                cells.append(s["status"])
                continue
            cell = fmt(s["median_s"])
            if g.get("status") == "ok":
                cell += f" ({s['median_s'] / g['median_s']:.2f}×)"
            cells.append(cell)
        rows.append(f"| {w}: {DESCRIPTIONS[w]} | " + " | ".join(cells) + " |")
    return head + "\n".join(rows) + "\n"


def detail_table(wls, cands, summary, limit):
    out = ["| workload | candidate | median | min–max over rounds | rounds (disturbed) | "
           "first call in a fresh process | max rel. error vs numpy_hand |", "|" + " --- |" * 7]
    for w in wls:
        for c in cands:
            s = summary[w, c]
            if s["status"] == "ok":
                bad = sum((x or 0) > limit for x in s["other_cpu"])
                out.append(f"| {w} | {c} | {fmt(s['median_s'])} | {fmt(s['min_s'])} – "
                           f"{fmt(s['max_s'])} | {s['rounds']}{f' ({bad})' if bad else ''} | "
                           f"{fmt(s['first_call_s'])} | {s['max_rel_err']:.1e} |")
    return "\n".join(out) + "\n"


def compile_table(wls, compile_runs, summary, limit):
    def cell(r, k):
        if r["status"] != "ok" and k not in r:
            return r["status"]
        load = (r.get("first_call_other_cpu") or 0) if k == "first_call_s" else 0
        return fmt(r.get(k)) + (f" (disturbed: {load:.1f} cores)" if load > limit else "")

    out = ["| workload | import graphc | cold first call (empty cache) | first call, new process, "
           "warm cache | steady-state call | cache size |", "|" + " --- |" * 6]
    for w in wls:
        cold, warm, size = compile_runs[w]
        steady = summary[w, "graphc"]
        out.append(f"| {w} | {cell(cold, 'import_s')} | {cell(cold, 'first_call_s')} | "
                   f"{cell(warm, 'first_call_s')} | "
                   f"{fmt(steady['median_s']) if steady['status'] == 'ok' else steady['status']} | "
                   f"{size / 1e6:.2f} MB |")
    return "\n".join(out) + "\n"


def plot(wls, cands, summary, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, NullFormatter
    except ImportError:
        print("matplotlib is not installed: no chart", file=sys.stderr)
        return False
    colors = dict(zip(CANDIDATES, plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(1, len(wls), figsize=(3.2 * len(wls), 3.6), squeeze=False)
    for ax, w in zip(axes[0], wls):
        times = [summary[w, c].get("median_s") for c in cands]
        ok = [t for t in times if t] or [1e-3]
        unit, scale = next(u for u in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
                           if max(ok) >= u[1] or u[0] == "ns")
        if max(ok) > 20 * min(ok):
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        for i, (c, t) in enumerate(zip(cands, times)):
            if t is None:
                ax.text(i, 0.02, summary[w, c]["status"], rotation=90, ha="center", va="bottom",
                        fontsize=8, transform=ax.get_xaxis_transform())
            else:
                ax.bar(i, t / scale, color=colors[c])
                ax.text(i, t / scale, f"{t / scale:.3g}", ha="center", va="bottom", fontsize=7)
        ax.set_xlim(-0.6, len(cands) - 0.4)
        ax.set_xticks(range(len(cands)), cands, rotation=45, ha="right", fontsize=8)
        ax.set_title(w, fontsize=10)
        ax.set_ylabel(f"{unit} per value+grad call", fontsize=8)
    fig.suptitle("graphc benchmarks: median time per call (lower is better)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    p.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 5; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="1 round, 0.1 s timing per run")
    p.add_argument("--budget", type=float, help="seconds of timed calls per run (default 0.5)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up calls per run (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the round order shuffle")
    p.add_argument("--max-other-load", type=float, default=0.25, metavar="CORES",
                   help="a run during which other processes used more CPU than this is "
                        "disturbed: it is repeated (default 0.25 cores)")
    p.add_argument("--retries", type=int, help="repeats of a disturbed run (default 2; 0 with --quick)")
    p.add_argument("--pause", type=float, default=5.0, help="seconds before a repeat (default 5)")
    p.add_argument("--out", default=str(HERE), help="where RESULTS.md etc. go (default bench/)")
    a = p.parse_args(argv)
    wls, cands = a.workloads.split(","), a.candidates.split(",")
    for name, known in ((wls, WORKLOADS), (cands, CANDIDATES)):
        unknown = set(name) - set(known)
        if unknown:
            p.error(f"unknown {sorted(unknown)}; choose from {list(known)}")
    rounds = a.rounds or (1 if a.quick else 5)
    budget = a.budget or (0.1 if a.quick else 0.5)
    warmup = a.warmup or (0.05 if a.quick else 0.2)
    if a.retries is None:
        a.retries = 0 if a.quick else 2
    log = lambda *m: print(*m, file=sys.stderr, flush=True)
    started = datetime.datetime.now().astimezone()

    def show(tag, r):
        msg = fmt(r.get("median_s")) if r["status"] == "ok" else f"{r['status']}: {r.get('error', '')}"
        log(f"{tag} {r['workload']}/{r['candidate']}: {msg[:300]}")

    caches, compile_runs = {}, {}
    if "graphc" in cands:
        for w in wls:
            caches[w] = tempfile.mkdtemp(prefix=f"graphc-bench-{w}-")
            env = {"GRAPHC_CACHE_DIR": caches[w]}
            clear_helper_cache()
            cold = run_worker(w, "graphc", budget, warmup, env)
            show("[compile, cold cache]", cold)
            warm = run_worker(w, "graphc", budget, warmup, env) if cold["status"] == "ok" else cold
            show("[compile, warm cache]", warm)
            compile_runs[w] = (cold, warm, dir_size(caches[w]))

    runs = {(w, c): [] for w in wls for c in cands}
    for w, (cold, _, _) in compile_runs.items():
        if cold["status"] != "ok":
            runs[w, "graphc"].append(cold)          # reported as is; not retried in the rounds
    rng = random.Random(a.seed)
    try:
        for r in range(rounds):
            jobs = [(w, c) for w in wls for c in cands
                    if all(x["status"] == "ok" for x in runs[w, c])]   # stop after a failure
            rng.shuffle(jobs)
            for w, c in jobs:
                env = {"GRAPHC_CACHE_DIR": caches[w]} if c == "graphc" else None
                for attempt in range(1 + a.retries):
                    res = run_worker(w, c, budget, warmup, env)
                    show(f"[round {r + 1}/{rounds}]", res)
                    if res["status"] != "ok" or (res.get("other_cpu") or 0) <= a.max_other_load:
                        break
                    if attempt < a.retries:
                        log(f"  other processes used {res['other_cpu']:.2f} cores meanwhile: "
                            f"retrying in {a.pause:g} s")
                        time.sleep(a.pause)
                runs[w, c].append(res)
    finally:
        for d in caches.values():
            shutil.rmtree(d, ignore_errors=True)

    summary = {k: summarize(v) for k, v in runs.items()}
    versions = {}
    for v in list(runs.values()) + [list(x[:2]) for x in compile_runs.values()]:
        for r in v:
            versions.update(r.get("versions", {}))

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    has_png = plot(wls, cands, summary, out / "results.png")
    table = results_table(wls, cands, summary)
    problems = [f"- **{w} / {c}: {s['status']}** — {s['error']}" for (w, c), s in summary.items()
                if s["status"] != "ok"]
    loads = [x or 0 for s in summary.values() for x in s.get("other_cpu", [])]
    disturbed = sum(x > a.max_other_load for x in loads)
    md = [
        "# graphc benchmark results",
        "",
        f"Generated by `python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}`"
        f" on {started:%Y-%m-%d %H:%M %Z}{' (quick mode: short timings, one round)' if a.quick else ''}.",
        "",
        f"- Machine: {machine()}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        f"- Method: each run is a fresh process (`python -m bench.worker WORKLOAD CANDIDATE`) "
        f"that checks value and gradients against `numpy_hand` (rtol 1e-3 of max |grad| for "
        f"float32, 1e-8 for float64; a mismatch is FAILED and untimed), warms up for {warmup} s, "
        f"then times batches of calls (≥ 2 ms each) for {budget} s and takes the median. A run "
        f"during which other processes used more than {a.max_other_load:g} cores is repeated "
        f"(up to {a.retries}×) and flagged if still disturbed. "
        f"{rounds} round(s), each running every pair once in shuffled order; the table shows the "
        f"median over rounds and, in parentheses, the ratio candidate / graphc (> 1: graphc is faster).",
        "",
        "## Median time per value-and-gradient call",
        "",
        table,
    ]
    if disturbed:
        md += [f"**Warning:** other processes used more than {a.max_other_load:g} cores during "
               f"{disturbed} of {len(loads)} timed runs (up to {max(loads):.2f} cores), even "
               f"after {a.retries} repeat(s); those runs are slower than a quiet machine's. See "
               f"'rounds (disturbed)' below.", ""]
    if has_png:
        md += ["![median time per call](results.png)", ""]
    if compile_runs:
        md += ["## graphc compile times", "",
               "Cold: first call in a process with a fresh, empty GRAPHC_CACHE_DIR and no cached "
               "compiled helpers (tracing, codegen and Numba compilation of everything). Warm "
               "cache: first call in a new process with the same directory.", "", compile_table(wls, compile_runs, summary, a.max_other_load)]
    md += ["## Details", "", detail_table(wls, cands, summary, a.max_other_load)]
    if problems:
        md += ["## Failed or skipped", ""] + problems + [""]
    (out / "RESULTS.md").write_text("\n".join(md))
    (out / "results.json").write_text(json.dumps({
        "started": started.isoformat(), "argv": sys.argv[1:] if argv is None else argv,
        "machine": machine(), "versions": versions, "rounds": rounds, "budget_s": budget,
        "summary": {f"{w}/{c}": s for (w, c), s in summary.items()},
        "compile": {w: {"cold": c, "warm": wm, "cache_bytes": n}
                    for w, (c, wm, n) in compile_runs.items()},
        "runs": {f"{w}/{c}": v for (w, c), v in runs.items()}}, indent=1))
    print(table)
    for line in problems:
        print(line[:400])
    print(f"wrote {out / 'RESULTS.md'}" + (f", {out / 'results.png'}" if has_png else ""))


if __name__ == "__main__":
    main()
