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
    """Execute ``book/<chapter>.md`` with ``parameters`` (``output_dir`` set to ``out_dir``).

    Returns the chapter's ``metrics.json`` as a dict. Fails (PapermillExecutionError) if a cell fails.
    """
    import jupytext
    import papermill as pm

    nb = jupytext.read(BOOK / f"{chapter}.md")
    params = {**parameters, "output_dir": str(out_dir), "device": "cpu"}
    pm.execute_notebook(
        nb,
        str(out_dir / f"{chapter}.ipynb"),
        parameters=params,
        kernel_name="python3",
        cwd=str(BOOK),
        progress_bar=False,
    )
    return json.loads((out_dir / "metrics.json").read_text())


@pytest.fixture
def run_chapter(tmp_path):
    """Fixture: ``run_chapter("convergence", {...})`` -> metrics dict."""

    def _run(chapter: str, parameters: dict) -> dict:
        return execute_chapter(chapter, parameters, tmp_path)

    return _run
