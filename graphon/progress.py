"""Progress bars for long loops (over widths, densities, epochs), switchable off.

Set the environment variable ``GRAPHON_PROGRESS=0`` (the tests and the book build do) or pass
``disable=True`` to silence them.

Which bar: a widget bar (``tqdm.notebook``) inside a Jupyter kernel when ``ipywidgets`` is installed,
otherwise tqdm's text bar (``tqdm.std``, written to stderr). The choice is made here, at the first call,
and not by ``tqdm.auto``: importing ``tqdm.auto`` in a kernel without ipywidgets prints
``TqdmWarning: IProgress not found`` to the cell's stderr (with the local path of tqdm), and that
warning ended up on every page of the book.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["progress", "progress_enabled", "progress_class"]


def progress_enabled() -> bool:
    """Whether progress bars are shown (``GRAPHON_PROGRESS`` not set to ``0``/``false``)."""
    return os.environ.get("GRAPHON_PROGRESS", "1").lower() not in {"0", "false", "no", "off"}


def _in_jupyter_kernel() -> bool:
    """True inside an IPython kernel (notebook, papermill, myst-nb), False in a terminal or a script."""
    if "ipykernel.zmqshell" not in sys.modules:
        return False
    try:
        shell = sys.modules["IPython"].get_ipython()
    except (KeyError, AttributeError):
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def progress_class():
    """The tqdm class :func:`progress` uses: ``tqdm.notebook.tqdm`` in a kernel with ipywidgets, else
    ``tqdm.std.tqdm``. Never emits a warning."""
    if _in_jupyter_kernel():
        from tqdm import notebook

        if getattr(notebook, "IProgress", None) is not None:
            return notebook.tqdm
    from tqdm.std import tqdm

    return tqdm


def progress(iterable: Iterable[T], desc: str | None = None, disable: bool | None = None, **kw) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm progress bar (see :func:`progress_class`) unless disabled.

    ``disable=None`` follows ``GRAPHON_PROGRESS``; other keywords go to tqdm. The bar is cleared when the
    loop ends (``leave=False``).
    """
    if disable is None:
        disable = not progress_enabled()
    return progress_class()(iterable, desc=desc, disable=disable, leave=False, **kw)
