"""The two ways to install (make's venv, conda's environment.yml) install the same thing; notebooks are
plain MyST sources with the python3 kernel."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jupytext
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _make_default(name: str) -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{name} \?= (.*)$", text, flags=re.M)
    assert match, f"Makefile has no default for {name}"
    return match.group(1).strip()


def test_environment_yml_pip_section_matches_make():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict) and "pip" in dep)
    assert pip == [_make_default("TORCH"), f"-e .[{_make_default('EXTRAS')}]"]
    assert "python=3.11" in env["dependencies"]


def test_chapters_are_myst_notebooks_with_python3_kernel():
    chapters = [p for p in (ROOT / "book").glob("*.md") if "kernelspec" in p.read_text()[:400]]
    assert {p.stem for p in chapters} >= {"convergence", "expressivity", "generalisation"}
    for path in chapters:
        nb = jupytext.read(path)
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first_code.metadata.get("tags", []), path.name


def test_no_notebook_outputs_committed():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:  # not a git checkout (e.g. an sdist): nothing to check
        return
    assert [f for f in tracked.stdout.split() if not f.startswith("tests/fixtures/")] == []
