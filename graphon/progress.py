"""Progress bars for long loops (over widths, densities, epochs), switchable off.

Set the environment variable ``GRAPHON_PROGRESS=0`` (the tests and the book build do) or pass
``disable=True`` to silence them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

__all__ = ["progress", "progress_enabled"]


def progress_enabled() -> bool:
    """Whether progress bars are shown (``GRAPHON_PROGRESS`` not set to ``0``/``false``)."""
    return os.environ.get("GRAPHON_PROGRESS", "1").lower() not in {"0", "false", "no", "off"}


def progress(iterable: Iterable[T], desc: str | None = None, disable: bool | None = None, **kw) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm progress bar unless disabled."""
    if disable is None:
        disable = not progress_enabled()
    return tqdm(iterable, desc=desc, disable=disable, leave=False, **kw)
