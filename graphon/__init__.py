"""graphon: pruning at initialisation through the lens of graphon limits.

The mathematics behind the companion book to Pham, Ta & Tran-Thanh (ICML 2026, arXiv 2602.06675):
masked networks (:mod:`~graphon.models`), pruning-at-initialisation scores
(:mod:`~graphon.pruning`), the empirical graphons of pruned networks (:mod:`~graphon.pai_graphons`),
the Factorised Saliency Model (:mod:`~graphon.saliency_model`), step
graphons and cut norms (:mod:`~graphon.graphons`), dense cores and active coordinates
(:mod:`~graphon.expressivity`), the Graphon-NTK (:mod:`~graphon.ntk`), data sets
(:mod:`~graphon.data`) and plots (:mod:`~graphon.plotting`). The machinery that reruns the
chapters (parameters, runner, sweeps, command line) is the subpackage :mod:`~graphon.runs`.
Submodules are imported on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "bundle_analysis",
    "criterion_limit",
    "data",
    "device",
    "expressivity",
    "fitting",
    "graphons",
    "models",
    "ntk",
    "outputs",
    "pai_graphons",
    "paper_bundle",
    "plotting",
    "progress",
    "pruning",
    "runs",
    "saliency_model",
    "selection",
    "training",
    "validation",
)

__all__ = list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'graphon' has no attribute {name!r}")
