"""Reading a convergence bundle: cut distances to the theoretical graphon, rates with seed bands.

One job: turn the small arrays of a :class:`graphon.paper_bundle.Bundle` (the paper-scale one under
``results/paper/``, or the convergence chapter's live one) into the quantities the chapter plots:

* the **single-seed** cut distances of each seed's full-resolution mask to the theoretical graphon
  (stored per distance seed by the bundle: lower and upper bounds);
* the **seed-averaged** cut distances: the cut norm of (mean picture of a seed group) minus (the
  theoretical graphon on the same ``K x K`` grid), one value per disjoint seed group, so the spread
  over groups is a seed band;
* log-log slopes against the width, one per seed (or group), summarised by their mean, standard
  deviation and range.

Sources: cut norm bounds, :mod:`graphon.graphons` (Lovász 2012, Sec. 8; Frieze & Kannan 1999);
the rate ``n^{-1/2}`` of a matrix of independent noise, ``research/prior_and_code.md`` Sec. D.4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import graphons
from .fitting import loglog_slope
from .paper_bundle import DERIVED, Bundle

__all__ = ["Rates", "fit_diagnostics", "picture_row", "rates", "slope_band", "summary"]


@dataclass
class Rates:
    """Cut distances of one (method, density, activation) against the widths of a bundle.

    Attributes:
        widths: ``(W,)`` the widths ``n``.
        single_lower, single_upper: ``(D, W)`` bounds for each distance seed's mask.
        grouped_lower, grouped_upper: ``(G, W)`` bounds for each seed group's mean picture.
        slopes_single: ``(D,)`` log-log slope of ``single_lower`` per seed.
        slopes_grouped: ``(G,)`` log-log slope of ``grouped_lower`` per group.
    """

    widths: np.ndarray
    single_lower: np.ndarray
    single_upper: np.ndarray
    grouped_lower: np.ndarray
    grouped_upper: np.ndarray
    slopes_single: np.ndarray
    slopes_grouped: np.ndarray


def slope_band(widths, values) -> np.ndarray:
    """One log-log slope per row of ``values`` ``(R, W)`` against ``widths`` ``(W,)``.

    Raises:
        ValueError: fewer than two widths, or a non-positive value (see
            :func:`graphon.fitting.loglog_slope`).
    """
    return np.array([loglog_slope(widths, row) for row in np.atleast_2d(values)])


def rates(bundle: Bundle, method: str, density: float, activation: str) -> Rates:
    """Single-seed and seed-averaged cut distances to the theoretical graphon, with slopes.

    The seed-averaged value of a group is ``cut_norm(P_g - W_K)`` with ``P_g`` the group's mean
    degree-sorted ``K x K`` picture and ``W_K`` the theoretical graphon's block averages: the lower
    bound of :func:`graphon.graphons.cut_norm` (exact for ``K <= 16``) and
    :func:`graphon.graphons.cut_norm_upper`.

    Raises:
        KeyError: (method, density, activation) not in the bundle.
    """
    widths = np.array(bundle.spec.widths)
    limit = torch.from_numpy(bundle.limit(method, density, activation)).double()
    lo_s, up_s, lo_g, up_g = [], [], [], []
    for n in widths:
        lo_s.append(bundle.get(method, density, int(n), activation, "lower"))
        up_s.append(bundle.get(method, density, int(n), activation, "upper"))
        diff = torch.from_numpy(bundle.get(method, density, int(n), activation, "groups")).double() - limit
        lo_g.append(graphons.cut_norm(diff).numpy())
        up_g.append(graphons.cut_norm_upper(diff).numpy())
    single_lower, single_upper = np.stack(lo_s, axis=1), np.stack(up_s, axis=1)
    grouped_lower, grouped_upper = np.stack(lo_g, axis=1), np.stack(up_g, axis=1)
    return Rates(
        widths=widths,
        single_lower=single_lower,
        single_upper=single_upper,
        grouped_lower=grouped_lower,
        grouped_upper=grouped_upper,
        slopes_single=slope_band(widths, single_lower),
        slopes_grouped=slope_band(widths, grouped_lower),
    )


def picture_row(bundle: Bundle, method: str, density: float, activation: str) -> list[np.ndarray]:
    """The paper's layout for one row: the mean picture over all seeds at each width, then the
    theoretical graphon (``K x K`` arrays)."""
    row = [bundle.get(method, density, int(n), activation, "groups").mean(axis=0)
           for n in bundle.spec.widths]
    return row + [bundle.limit(method, density, activation)]


def fit_diagnostics(bundle: Bundle, method: str, density: float, activation: str) -> dict[str, float]:
    """The factorised fit's diagnostics of a fitted criterion (empty for a derived one): variance
    shares, split-half KS distances and their noise floor, and the fit residual at the reference
    width (cut norm of picture minus theoretical graphon)."""
    if method in DERIVED:
        return {}
    d = bundle.meta("reference", bundle.spec.ref_width, activation)["diagnostics"][method]
    out = {k: float(v) for k, v in d.items() if not isinstance(v, dict) and not k.startswith("tau")}
    out["fit_residual"] = float(d[f"residual_rho={density:g}"]["cut_norm"])
    return out


def summary(bundle: Bundle, methods, density: float, activation: str, rates_by_method=None):
    """One row per method: slopes of the single-seed and seed-averaged cut distances (mean, sd over
    seeds or groups), the distances at the largest width, and the fit's diagnostics.

    ``rates_by_method``: ``{method: Rates}`` already computed by :func:`rates` for this density and
    activation (computed here for the methods it lacks).

    Returns:
        a :class:`pandas.DataFrame` indexed by method.
    """
    import pandas as pd

    rows = {}
    for m in methods:
        r = (rates_by_method or {}).get(m) or rates(bundle, m, density, activation)
        d = fit_diagnostics(bundle, m, density, activation)
        rows[m] = {
            "slope (single seeds)": r.slopes_single.mean(),
            "sd (seeds)": r.slopes_single.std(ddof=1) if r.slopes_single.size > 1 else np.nan,
            "slope (seed groups)": r.slopes_grouped.mean(),
            "sd (groups)": r.slopes_grouped.std(ddof=1) if r.slopes_grouped.size > 1 else np.nan,
            f"distance at n={r.widths[-1]}": r.single_lower[:, -1].mean(),
            "fit residual": d.get("fit_residual", 0.0),
            "KS rows (x floor)": d["ks_rows"] / d["ks_noise_floor"] if d else np.nan,
            "KS cols (x floor)": d["ks_cols"] / d["ks_noise_floor"] if d else np.nan,
        }
    return pd.DataFrame(rows).T
