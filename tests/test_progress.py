"""graphon.progress inside a real Jupyter kernel: no stray stderr (the TqdmWarning that reached every page)."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_cells(*sources: str, env_progress: str = "0") -> list[dict]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    old = os.environ.get("GRAPHON_PROGRESS")
    os.environ["GRAPHON_PROGRESS"] = env_progress
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": ROOT}}).execute()
    finally:
        if old is None:
            os.environ.pop("GRAPHON_PROGRESS", None)
        else:
            os.environ["GRAPHON_PROGRESS"] = old
    return [out for cell in nb.cells for out in cell.outputs]


def _stderr(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream"
                   and o.get("name") == "stderr")


def test_import_and_disabled_bar_in_a_kernel_write_nothing_to_stderr():
    """As in the book build (GRAPHON_PROGRESS=0): importing graphon and looping writes no stderr at all."""
    outputs = _run_cells(
        "import sys; sys.path.insert(0, '.')\nimport graphon\nfrom graphon.progress import progress",
        "total = sum(progress(range(5), desc='x'))\nprint(total)",
    )
    assert _stderr(outputs) == "", f"stray stderr in the kernel: {_stderr(outputs)!r}"
    assert any("10" in o.get("text", "") for o in outputs)


def test_kernel_without_ipywidgets_gets_the_text_bar_without_a_warning():
    pytest.importorskip("ipykernel")
    outputs = _run_cells(
        "import sys; sys.path.insert(0, '.')\nimport importlib.util\n"
        "from graphon.progress import progress_class\n"
        "cls = progress_class()\n"
        "widgets = importlib.util.find_spec('ipywidgets') is not None\n"
        "print(cls.__module__, widgets)",
    )
    text = "".join(o.get("text", "") for o in outputs)
    assert "TqdmWarning" not in text and "IProgress" not in text
    module, widgets = text.split()
    assert module == ("tqdm.notebook" if widgets == "True" else "tqdm.std")


def test_terminal_gets_the_text_bar():
    from graphon.progress import progress, progress_class

    assert progress_class().__module__ == "tqdm.std"
    assert list(progress(range(3), disable=True)) == [0, 1, 2]
