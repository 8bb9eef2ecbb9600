"""Makefile targets whose message is the point: `make test-gpu` on a machine without a GPU."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_make_test_gpu_says_when_nothing_was_checked():
    """The recipe's last line (run here for real, after `make -n` prints it) names the skip: without CUDA it
    prints that nothing was checked; with CUDA it prints nothing."""
    torch = pytest.importorskip("torch")
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    bin_dir = Path(sys.executable).parent
    lines = subprocess.run(["make", "-s", "-n", "-o", "venv", "test-gpu", f"BIN={bin_dir}"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    lines = lines.replace("\\\n", " ").strip().splitlines()  # join the recipe's continued lines
    assert any("pytest -q -m gpu" in line for line in lines), lines
    check = [line for line in lines if "torch.cuda.is_available" in line]
    assert len(check) == 1, lines
    out = subprocess.run(check[0], shell=True, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0
    if torch.cuda.is_available():
        assert out.stdout.strip() == ""
    else:
        assert "nothing was checked" in out.stdout and "SKIPPED" in out.stdout
