"""Rates of convergence: least-squares power-law fits on log-log axes."""

from __future__ import annotations

import numpy as np

__all__ = ["loglog_slope"]


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (the exponent of a power law ``y ~ x^slope``).

    An ``n^{-1/2}`` rate, the one expected for the cut distance of a random mask to its graphon
    (``research/prior_and_code.md`` Sec. D.4), gives ``-0.5``.

    Raises:
        ValueError: for fewer than two points, different lengths, or non-positive values.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"x and y must have the same length >= 2, got {x.size} and {y.size}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    slope, _ = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope)
