"""Same parameters, same machine: bit-identical metrics.json.

Runs the generalisation chapter (pruning scores from real gradients, float32 matrix products, Cholesky
solves, Adam training) twice at the tiny parameters of its chapter test, each run in a fresh kernel,
and compares the two ``metrics.json`` files byte for byte after removing the wall-time fields
(``graphon.reference.WALL_TIME_KEYS``: ``runtime_s`` and the like, which measure the clock, not the
computation). No torch setting is needed for this on the CPU: every draw is seeded and, with the same
thread count, torch's CPU kernels and MKL reduce in the same order every time (see CONTRIBUTING.md,
"Reference numbers and determinism"; on CUDA, ``torch.use_deterministic_algorithms(True)`` and
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` are needed as well).
"""

from __future__ import annotations

import json
from pathlib import Path

from test_chapter_generalisation import TINY  # the chapter test's tiny parameters, kept in step

from graphon.outputs import to_jsonable
from graphon.reference import WALL_TIME_KEYS, flatten, strip_wall_time
from graphon.runs.runner import run_chapter  # the one runner import (graphon.runs.runner later)

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "generalisation"


def _run(out: Path) -> bytes:
    result = run_chapter(CHAPTER, TINY, device="cpu", out=out, book_dir=ROOT / "book", overwrite=True)
    assert result.ok, f"{CHAPTER} failed: {result.error} (notebook: {result.notebook})"
    return (result.run_dir / "metrics.json").read_bytes()


def _without_wall_time(raw: bytes) -> bytes:
    """The file as ``write_metrics`` would write it without the wall-time leaves. Floats are written
    with ``repr`` (the shortest text that reads back to the same double), so equal text means equal
    bits for every number."""
    metrics = strip_wall_time(json.loads(raw))
    return (json.dumps(to_jsonable(metrics), indent=2, sort_keys=True) + "\n").encode()


def test_two_runs_write_bit_identical_metrics(tmp_path):
    first, second = _run(tmp_path / "a"), _run(tmp_path / "b")
    a, b = _without_wall_time(first), _without_wall_time(second)
    assert len(flatten(json.loads(a))) > 20  # the comparison covers the chapter's numbers
    if a != b:
        fa, fb = flatten(json.loads(a)), flatten(json.loads(b))
        diff = {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}
        raise AssertionError(f"{len(diff)} numbers differ between two identical runs: "
                             f"{dict(list(diff.items())[:8])}")
    # the wall time was there and was the only thing removed
    raw = flatten(json.loads(first))
    assert {k.rsplit("/", 1)[-1] for k in set(raw) - set(flatten(json.loads(a)))} <= set(WALL_TIME_KEYS)
    assert "runtime_s" in raw
