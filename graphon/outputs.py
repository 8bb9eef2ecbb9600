"""Where a chapter writes what it measured: ``metrics.json`` and figures (PNG and PDF)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["to_jsonable", "write_metrics", "read_metrics"]


def to_jsonable(obj: Any) -> Any:
    """Convert tensors, numpy scalars/arrays and non-string keys to plain JSON types.

    Non-finite floats become ``None`` (JSON has no NaN).
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_metrics(output_dir: str | Path, metrics: Mapping[str, Any], name: str = "metrics.json") -> Path:
    """Write ``metrics`` as indented JSON to ``output_dir/name`` (folders created) and return the path."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(to_jsonable(metrics), indent=2, sort_keys=True) + "\n")
    return path


def read_metrics(output_dir: str | Path, name: str = "metrics.json") -> dict:
    """Read back a ``metrics.json`` written by :func:`write_metrics`."""
    return json.loads((Path(output_dir) / name).read_text())
