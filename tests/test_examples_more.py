"""Smoke tests for the comparison and RNN examples: each runs as a script at reduced size."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str, timeout: float = 120) -> str:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=EXAMPLES.parent)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_compare_hand_written_agrees_and_times():
    out = run_example("compare_hand_written.py", "--batch", "16", "--repeat", "20")
    rows = {}
    for m in re.finditer(r"^\s+(L|dL/d\w+)\s+(\(.*?\))\s+(\S+)\s+(\S+)\s+(\S+)\s*$", out, re.M):
        rows.setdefault(m.group(1), []).append((float(m.group(4)), float(m.group(5))))
    # the neuron's and the MLP's value and every gradient, against NumPy and Numba by hand
    assert set(rows) == {"L", "dL/dw", "dL/db", "dL/dW1", "dL/db1", "dL/dW2", "dL/db2"}, out
    assert len(rows["L"]) == 2, out
    for name, diffs in rows.items():
        for d_numpy, d_numba in diffs:
            assert d_numpy <= 1e-12 and d_numba <= 1e-12, f"{name}: {diffs}\n{out}"
    assert "agreement: OK" in out
    timings = re.findall(r"^\s+(neuron|mlp)\s+(\S+) µs\s+(\S+) µs\s+(\S+) µs", out, re.M)
    assert [t[0] for t in timings] == ["neuron", "mlp"], out
    assert all(float(v) > 0 for t in timings for v in t[1:]), out
    assert "indicative" in out and "bench/" in out


def test_rnn_sequence_loss_falls():
    out = run_example("rnn_sequence.py", "--epochs", "25", "--seq", "6", "--generate", "40")
    assert re.search(r"first call \(trace, differentiate, compile T=6 steps as one scan loop\) "
                     r"\S+ s", out), out
    losses = [float(v) for v in re.findall(r"^epoch\s+\d+\s+loss (\S+)", out, re.M)]
    assert len(losses) == 25 and all(np.isfinite(losses)), out
    initial = float(re.search(r"initial loss (\S+)", out).group(1))
    # clearly falling: well below the initial (about ln vocab) and below the first epoch
    assert losses[-1] < 0.8 * initial and losses[-1] < losses[0] - 0.3, out
    m = re.search(r"greedy generation from 'four score and ':\n  (.+)", out)
    assert m and m.group(1).startswith("four score and ") and len(m.group(1)) == 15 + 40, out


def test_rnn_sequence_unrolled_equals_scan():
    a = run_example("rnn_sequence.py", "--epochs", "2", "--seq", "4", "--generate", "5")
    b = run_example("rnn_sequence.py", "--epochs", "2", "--seq", "4", "--generate", "5",
                    "--unroll")
    assert "unrolled steps" in b
    losses = [re.findall(r"^epoch\s+\d+\s+loss (\S+)", o, re.M) for o in (a, b)]
    assert losses[0] == losses[1] and len(losses[0]) == 2


def test_cnn_digits_trains():
    out = run_example("train_cnn_digits.py", "--epochs", "3", "--min-accuracy", "0.9",
                      timeout=300)
    accs = [float(v) for v in re.findall(r"test acc (\S+)", out)]
    assert len(accs) == 3 and accs[-1] >= 0.9, out
    assert re.search(r"final test accuracy 0\.9\d+", out), out


def test_linear_svm_digits_agrees_with_the_hand_gradient_and_trains():
    out = run_example("linear_svm_digits.py", "--epochs", "3", "--min-accuracy", "0.9")
    m = re.search(r"^loss (\S+) \(NumPy (\S+)\); largest gradient difference from the hand "
                  r"derivation (\S+)$", out, re.M)
    assert m and float(m.group(1)) == float(m.group(2)) and float(m.group(3)) <= 1e-12, out
    accs = [float(v) for v in re.findall(r"test acc (\S+)", out)]
    assert len(accs) == 3 and accs[-1] >= 0.9, out


def test_robust_regression_learns_heavy_tails_with_scipy_stats():
    out = run_example("robust_regression_diabetes.py", "--steps", "200")
    m = re.search(r"^nll (\S+) \(SciPy (\S+)\); .* relative difference (\S+)$", out, re.M)
    assert m and float(m.group(1)) == pytest.approx(float(m.group(2)), rel=1e-12), out
    assert float(m.group(3)) <= 1e-6, out
    losses = [float(v) for v in re.findall(r"^step +\d+ +nll (\S+)$", out, re.M)]
    assert losses[-1] < losses[0], out
    ratio = float(re.search(r"least squares \S+ \(ratio (\S+)\)", out).group(1))
    assert ratio < 0.97, out


def test_gp_regression_learns_its_kernel_through_cholesky():
    out = run_example("gp_regression_diabetes.py", "--steps", "30")
    m = re.search(r"^nll (\S+) \(NumPy (\S+)\); .* relative difference (\S+)$", out, re.M)
    assert m and float(m.group(1)) == pytest.approx(float(m.group(2)), rel=1e-9), out
    assert float(m.group(3)) <= 1e-5, out
    losses = [float(v) for v in re.findall(r"^step +\d+ +nll (\S+)$", out, re.M)]
    assert losses[-1] < losses[0], out
    ratio = float(re.search(r"\(penalty \S+; ratio (\S+)\)", out).group(1))
    assert ratio <= 1.05, out
