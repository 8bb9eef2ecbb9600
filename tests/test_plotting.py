"""Tests for graphon.plotting: shared colour scale, labels, slopes, saved files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from graphon.plotting import (  # noqa: E402
    U_LABEL,
    V_LABEL,
    graphon_heatmaps,
    loglog_slope,
    loglog_with_slope,
    save_figure,
    set_style,
)


def test_heatmaps_share_one_colour_scale():
    set_style()
    mats = [np.full((4, 4), 0.2), torch.rand(8, 8), np.linspace(0, 0.5, 12).reshape(3, 4)]
    fig = graphon_heatmaps(mats, ["a", "b", "c"], suptitle="s")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3
    clims = {im.get_clim() for im in images}
    assert len(clims) == 1
    lo, hi = clims.pop()
    assert lo == pytest.approx(0.0) and hi == pytest.approx(max(float(mats[1].max()), 0.5))
    # one colour bar only: 3 panels + 1 colour-bar axes
    assert len(fig.axes) == 4
    assert fig.axes[0].get_ylabel() == U_LABEL and fig.axes[0].get_xlabel() == V_LABEL
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert images[0].get_array().shape == (4, 4)
    plt.close(fig)


def test_heatmaps_explicit_limits_and_axes():
    fig, axes = plt.subplots(1, 2)
    out = graphon_heatmaps([np.zeros((2, 2)), np.ones((2, 2))], vmin=-1, vmax=2, axes=axes)
    assert out is fig
    assert all(ax.images[0].get_clim() == (-1.0, 2.0) for ax in axes)
    plt.close(fig)
    flat = graphon_heatmaps([np.full((3, 3), 0.2)])  # constant: the scale is widened, not empty
    lo, hi = flat.axes[0].images[0].get_clim()
    assert lo < 0.2 < hi
    plt.close(flat)


@pytest.mark.parametrize(
    "args, kw, name",
    [(([],), {}, "matrices"), (([np.zeros(3)],), {}, "2-D"),
     (([np.zeros((2, 2))], ["a", "b"]), {}, "titles"),
     (([np.zeros((2, 2))],), {"vmin": 1.0, "vmax": 0.0}, "vmin")],
)
def test_heatmaps_bad_arguments(args, kw, name):
    with pytest.raises(ValueError, match=name):
        graphon_heatmaps(*args, **kw)


def test_loglog_slope():
    n = np.array([100, 200, 400, 800])
    assert loglog_slope(n, 3.0 * n**-0.5) == pytest.approx(-0.5)
    fig, ax = plt.subplots()
    s = loglog_with_slope(ax, n, 2.0 / n, "random")
    assert s == pytest.approx(-1.0)
    assert ax.get_xscale() == "log" and "slope -1.00" in ax.get_legend().get_texts()[0].get_text()
    plt.close(fig)
    with pytest.raises(ValueError, match="positive"):
        loglog_slope([1, 2], [0, 1])
    with pytest.raises(ValueError, match="length"):
        loglog_slope([1], [1])


def test_save_figure_writes_png_and_pdf(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = save_figure(fig, tmp_path / "out", "fig-test")
    assert [p.name for p in paths] == ["fig-test.png", "fig-test.pdf"]
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="name"):
        save_figure(fig, tmp_path, "a/b")
    plt.close(fig)


def test_heatmaps_grid_gets_figure_level_labels():
    fig, axes = plt.subplots(2, 3, layout="constrained")
    graphon_heatmaps([np.full((4, 4), v) for v in np.linspace(0, 1, 6)], axes=axes)
    assert fig.get_supylabel() == U_LABEL and fig.get_supxlabel() == V_LABEL
    assert all(ax.get_ylabel() == "" for ax in axes.ravel())
    assert len({ax.images[0].get_clim() for ax in axes.ravel()}) == 1
    assert len(fig.axes) == 7  # six panels and one colour bar
    plt.close(fig)
