"""Shared test helpers: run a chapter notebook through jupytext + papermill with tiny parameters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

os.environ.setdefault("GRAPHON_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")  # tests only: no figures are displayed here


def execute_chapter(chapter: str, parameters: dict, out_dir: Path) -> dict:
    """Execute ``book/<chapter>.md`` with ``parameters`` on the CPU, writing into ``out_dir``.

    Goes through :func:`graphon.runs.runner.run_chapter`, so the parameters are validated exactly as on the
    command line (a misspelt or out-of-range name fails the test). Returns the chapter's
    ``metrics.json``; fails with the traceback of the first failing cell.
    """
    from graphon.runs.runner import run_chapter

    result = run_chapter(chapter, parameters, device="cpu", out=out_dir, book_dir=BOOK, overwrite=True)
    assert result.ok, f"{chapter} failed: {result.error} (notebook: {result.notebook})"
    return json.loads((result.run_dir / "metrics.json").read_text())


@pytest.fixture
def run_chapter(tmp_path):
    """Fixture: ``run_chapter("convergence", {...})`` -> metrics dict."""

    def _run(chapter: str, parameters: dict) -> dict:
        return execute_chapter(chapter, parameters, tmp_path)

    return _run
