"""One house style for every figure of the book, graphon heatmaps, log-log slopes, figure saving.

* :func:`set_style`: seaborn ``"whitegrid"`` with the colour-blind palette; call once per notebook.
* :func:`graphon_heatmaps`: a row of K x K step graphons (or masks) on **one shared colour scale**
  with a single colour bar, so that "flat" and "heterogeneous" can be compared by eye.
* :func:`loglog_with_slope`: a log-log curve with its least-squares slope in the legend.
* :func:`save_figure`: PNG (dpi 150) + PDF under the chapter's ``output_dir``.

Orientation follows the mask layout (torch ``out x in``): the heatmap's rows (vertical axis) are the
output-side neurons ``u``, its columns (horizontal axis) the input-side neurons ``v``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .fitting import loglog_slope

__all__ = [
    "set_style",
    "graphon_heatmaps",
    "loglog_slope",
    "loglog_with_slope",
    "graphon_grid",
    "rate_band",
    "rate_panels",
    "save_figure",
    "U_LABEL",
    "V_LABEL",
    "GRAPHON_CMAP",
]

U_LABEL = "u (output side, sorted by degree)"
V_LABEL = "v (input side)"
GRAPHON_CMAP = "viridis"


def set_style(context: str = "notebook") -> None:
    """Apply the book's style: seaborn whitegrid, colour-blind palette, readable font sizes.

    Args:
        context: a seaborn context (``"paper"``, ``"notebook"``, ``"talk"``).
    """
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context=context, style="whitegrid", palette="colorblind")
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.bbox": "tight",
            "axes.titlesize": "medium",
            "image.cmap": GRAPHON_CMAP,
        }
    )


def _as_numpy(m) -> np.ndarray:
    if isinstance(m, torch.Tensor):
        m = m.detach().cpu().numpy()
    a = np.asarray(m, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"each matrix must be 2-D (out x in), got shape {a.shape}")
    return a


def graphon_heatmaps(
    matrices: Sequence,
    titles: Sequence[str] | None = None,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = GRAPHON_CMAP,
    suptitle: str | None = None,
    axes=None,
    colorbar_label: str = "edge density",
    panel_size: float = 2.6,
):
    """Draw a row of heatmaps (step graphons, block averages or masks) on one shared colour scale.

    Args:
        matrices: 2-D arrays or tensors ``(K_out, K_in)`` (rows = output side u, columns = input side v).
        titles: one title per panel (or ``None``).
        vmin, vmax: the shared colour limits; by default the minimum and maximum over all panels.
        cmap: a matplotlib colour map.
        suptitle: an optional figure title.
        axes: optional existing axes (one per matrix, any shape, e.g. a methods x widths grid) to
            draw into; one colour bar is attached to all of them. A single row labels each
            panel's v axis and the first panel's u axis; a grid of several rows gets one
            figure-level label per axis (``supxlabel`` / ``supylabel``).
        colorbar_label: label of the single colour bar.
        panel_size: width in inches of one panel when a new figure is made.

    Returns:
        The matplotlib Figure. Every panel's image has the same ``(vmin, vmax)`` (``im.get_clim()``).

    Raises:
        ValueError: for no matrices, a non-2-D matrix, a ``titles`` of the wrong length, a wrong
            number of ``axes``, or ``vmin > vmax``.
    """
    import matplotlib.pyplot as plt

    mats = [_as_numpy(m) for m in matrices]
    if not mats:
        raise ValueError("matrices must hold at least one 2-D array")
    if titles is not None and len(titles) != len(mats):
        raise ValueError(f"titles must have one entry per matrix ({len(mats)}), got {len(titles)}")
    lo = float(min(np.nanmin(m) for m in mats)) if vmin is None else float(vmin)
    hi = float(max(np.nanmax(m) for m in mats)) if vmax is None else float(vmax)
    if lo > hi:
        raise ValueError(f"vmin must be <= vmax, got vmin={lo} and vmax={hi}")
    if lo == hi:  # a flat picture: widen the scale a little so the colour bar is readable
        lo, hi = lo - 0.05, hi + 0.05
    if axes is None:
        fig, axes = plt.subplots(
            1, len(mats), figsize=(panel_size * len(mats) + 1.0, panel_size + 0.4), squeeze=False,
            layout="constrained",
        )
        axes = list(axes[0])
    else:
        axes = list(np.ravel(axes))
        if len(axes) != len(mats):
            raise ValueError(f"axes must have one entry per matrix ({len(mats)}), got {len(axes)}")
        fig = axes[0].figure
    im = None
    specs = [ax.get_subplotspec() for ax in axes]
    grid = all(sp is not None for sp in specs) and any(not sp.is_first_row() for sp in specs)
    for k, (ax, m, spec) in enumerate(zip(axes, mats, specs, strict=True)):
        im = ax.imshow(m, vmin=lo, vmax=hi, cmap=cmap, origin="upper", aspect="auto",
                       interpolation="nearest", extent=(0.0, 1.0, 1.0, 0.0))
        first_col = k == 0 if spec is None else spec.is_first_col()
        last_row = True if spec is None else spec.is_last_row()
        ax.set_xticks([0, 0.5, 1])
        ax.set_yticks([0, 0.5, 1])
        if not first_col:
            ax.set_yticklabels([])
        if not last_row:
            ax.set_xticklabels([])
        if not grid:  # one row: label the axes themselves; a grid gets figure-level labels
            ax.set_xlabel(V_LABEL)
            if first_col:
                ax.set_ylabel(U_LABEL)
        ax.grid(False)
        if titles is not None:
            ax.set_title(titles[k])
    if grid:
        fig.supxlabel(V_LABEL)
        fig.supylabel(U_LABEL)
    fig.colorbar(im, ax=axes, label=colorbar_label, shrink=0.9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def loglog_with_slope(ax, x, y, label: str, **plot_kw) -> float:
    """Plot ``y`` against ``x`` on log-log axes with the fitted slope in the legend label.

    Args:
        ax: matplotlib axes.
        x, y: positive values (e.g. widths n and distances).
        label: series name; the legend shows ``"<label> (slope -0.50)"``.
        plot_kw: passed to ``ax.plot`` (default marker ``"o"``).

    Returns:
        The least-squares slope of ``log y`` on ``log x`` (see :func:`loglog_slope`).
    """
    slope = loglog_slope(x, y)
    plot_kw.setdefault("marker", "o")
    ax.plot(np.asarray(x, float), np.asarray(y, float), label=f"{label} (slope {slope:+.2f})", **plot_kw)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend()
    return slope


def graphon_grid(
    rows: Sequence[Sequence],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    colorbar_label: str = "edge density",
    panel_size: float = 1.7,
    vmin: float | None = None,
    vmax: float | None = None,
):
    """The paper's layout: a grid of heatmaps (rows = methods or activations, columns = widths and
    the theoretical graphon) on one colour scale, row labels on the left, column titles on top.

    Args:
        rows: ``R`` lists of ``C`` matrices each.
        row_labels: ``R`` labels; col_labels: ``C`` titles.
        colorbar_label, vmin, vmax: as in :func:`graphon_heatmaps`.
        panel_size: inches per panel.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: rows of different lengths, or labels that do not match.
    """
    import matplotlib.pyplot as plt

    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError("rows must be a non-empty list of equally long lists of matrices")
    if len(row_labels) != len(rows) or len(col_labels) != len(rows[0]):
        raise ValueError(
            f"row_labels/col_labels must have {len(rows)}/{len(rows[0])} entries, "
            f"got {len(row_labels)}/{len(col_labels)}"
        )
    R, C = len(rows), len(rows[0])
    fig, axes = plt.subplots(R, C, squeeze=False, layout="constrained",
                             figsize=(panel_size * C + 1.4, panel_size * R + 0.4))
    graphon_heatmaps([m for r in rows for m in r], None, axes=axes, vmin=vmin, vmax=vmax,
                     colorbar_label=colorbar_label)
    for j, title in enumerate(col_labels):
        axes[0, j].set_title(title, fontsize="small")
    for i, label in enumerate(row_labels):
        axes[i, 0].set_ylabel(label, fontsize="small")
    return fig


def rate_band(ax, widths, values, label: str, **plot_kw) -> None:
    """Log-log mean of ``values`` ``(R, W)`` over its rows (seeds or seed groups) against
    ``widths``, with a band from the smallest to the largest row."""
    v = np.atleast_2d(np.asarray(values, float))
    x = np.asarray(widths, float)
    line = ax.plot(x, v.mean(axis=0), marker="o", label=label, **plot_kw)[0]
    ax.fill_between(x, v.min(axis=0), v.max(axis=0), color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")


def rate_panels(rates_by_method, title: str):
    """Two log-log panels of cut distance against the width, one line and band per method: single
    masks (``single_lower``, band over the distance seeds) and seed-averaged pictures
    (``grouped_lower``, band over the seed groups), with a slope ``-1/2`` reference line.

    Args:
        rates_by_method: ``{method: rates}``, each with ``widths``, ``single_lower`` ``(D, W)`` and
            ``grouped_lower`` ``(G, W)`` (:class:`graphon.bundle_analysis.Rates`).
        title: figure title.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    widths = np.asarray(next(iter(rates_by_method.values())).widths, float)
    for m, r in rates_by_method.items():
        rate_band(axes[0], widths, r.single_lower, m)
        rate_band(axes[1], widths, r.grouped_lower, m)
    for ax, what in zip(axes, ("single masks", "seed-averaged pictures"), strict=True):
        y0 = np.sqrt(np.prod(ax.get_ylim()))
        ax.plot(widths, y0 * (widths / widths[0]) ** -0.5, "k--", lw=1, label="slope -1/2")
        ax.set_xticks(widths)
        ax.set_xticklabels([f"{w:g}" for w in widths])
        ax.minorticks_off()
        ax.set_xlabel("width n")
        ax.set_ylabel("cut distance to W")
        ax.set_title(what, fontsize="medium")
    axes[1].legend(fontsize="small")
    fig.suptitle(title)
    return fig


def save_figure(fig, output_dir: str | Path, name: str, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``output_dir/name.png`` (``dpi``) and ``output_dir/name.pdf``.

    A figure with a layout engine (``layout="constrained"``) is laid out once, then its engine is
    removed: the files and any later display of ``fig`` use those positions without solving the
    layout again.

    Returns:
        The two paths ``[png, pdf]`` (folders are created).

    Raises:
        ValueError: for an empty ``name`` or one containing a path separator.
    """
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"name must be a plain file stem (no folders), got {name!r}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    if fig.get_layout_engine() is not None:
        # lay out once and keep the positions: otherwise every draw (two per file for the tight
        # box, two more for the notebook's display) solves the constrained layout again, which for
        # the convergence chapter's 72-panel grids cost more than the drawing itself
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
    fig.savefig(png, dpi=dpi, bbox_inches="tight")
    fig.savefig(pdf, bbox_inches="tight")
    return [png, pdf]
