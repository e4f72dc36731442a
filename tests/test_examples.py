"""Smoke tests: every example runs as a script (reduced size) and prints what it promises."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=EXAMPLES.parent)


def check_ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_neuron_matches_the_hand_formula_and_learns():
    out = check_ok(run_example("neuron.py"))
    fwd = out.split("forward graph")[1].split("adjoint graph")[0]
    bwd = out.split("adjoint graph")[1].split("at w=")[0]
    assert "sigmoid(" in fwd
    assert re.search(r"%\d+ = \w+\(", bwd), "no adjoint nodes printed"
    assert "return" in bwd

    # graphc's column equals the hand-derived column, and both equal the formula computed here
    w, b, x, y = 0.5, -0.2, 1.5, 1.0
    s = 1 / (1 + np.exp(-(w * x + b)))
    dz = 2 * (s - y) * s * (1 - s)
    expected = {"L": (s - y) ** 2, "dL/dw": dz * x, "dL/db": dz}
    for name, want in expected.items():
        m = re.search(rf"^\s*{re.escape(name)}\s+(\S+)\s+(\S+)\s*$", out, re.M)
        assert m, f"no {name} row in:\n{out}"
        ours, hand = float(m.group(1)), float(m.group(2))
        assert ours == pytest.approx(hand, rel=1e-12, abs=1e-15)
        assert ours == pytest.approx(want, rel=1e-12)

    losses = [float(v) for v in re.findall(r"step\s+\d+\s+L = (\S+)", out)]
    assert len(losses) >= 3 and all(a > b for a, b in zip(losses, losses[1:])), losses


def test_mlp_loss_falls():
    out = check_ok(run_example("mlp.py", "--steps", "500"))
    losses = [float(v) for v in re.findall(r"^step\s+\d+\s+loss (\S+)", out, re.M)]
    assert len(losses) == 10 and all(np.isfinite(losses)), out
    assert losses[-1] < losses[0] and losses[-1] < 0.05, out
    m = re.search(r"loss (\S+) -> (\S+);", out)
    assert m and float(m.group(2)) < float(m.group(1)) / 10, out


def test_digits_trains_to_accuracy(tmp_path):
    pytest.importorskip("sklearn")
    plot = tmp_path / "loss.png"
    out = check_ok(run_example("train_mlp_digits.py", "--epochs", "3", "--min-accuracy", "0.8",
                               "--plot", str(plot)))
    epochs = re.findall(r"^epoch\s+(\d+)\s+loss (\S+)\s+train acc (\S+)\s+test acc (\S+)", out,
                        re.M)
    assert [int(e[0]) for e in epochs] == [1, 2, 3], out
    losses = [float(e[1]) for e in epochs]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], out
    m = re.search(r"final test accuracy (\S+)", out)
    assert m and float(m.group(1)) >= 0.8, out
    if importlib.util.find_spec("matplotlib") is not None:
        assert plot.exists() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_digits_exits_nonzero_below_min_accuracy():
    pytest.importorskip("sklearn")
    proc = run_example("train_mlp_digits.py", "--epochs", "1", "--min-accuracy", "1.01")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, f"{proc.stdout}\n{proc.stderr}"
    assert "final test accuracy" in proc.stdout
    assert "below --min-accuracy" in proc.stderr
