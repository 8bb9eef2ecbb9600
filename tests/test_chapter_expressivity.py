"""Run the expressivity chapter with tiny parameters and check what it writes."""

from __future__ import annotations

import math

TINY = {
    "core_widths": [20, 80],
    "floors": [0.5],
    "alpha": 0.5,
    "core_seeds": 20,
    "ks": [1, 2],
    "fit_ks": [2],
    "widths": [8, 16],
    "ds": [8, 16],
    "density": 0.3,
    "methods": ["snip", "random"],
    "seeds": 1,
    "n_train": 64,
    "n_test": 64,
    "epochs": 1,
    "batch_size": 32,
    "online": True,
    "input_lr": 0.03,
}


def test_expressivity_chapter_runs(run_chapter, tmp_path):
    m = run_chapter("expressivity", TINY)
    assert len(m["dense_core"]) == 4  # (p, k, n) = 1 x 2 x 2
    for r in m["dense_core"]:
        assert r["predicted"] == r["alpha"] * r["n"] * r["p"] ** r["k"]
        assert r["mean"] >= 0 and r["std"] >= 0
    assert math.isfinite(m["dense_core_max_standard_errors"])
    for key in ("errors", "train_mse", "train_errors", "core_sizes"):
        assert set(m[key]) == {"snip", "random"}
        for method in ("snip", "random"):
            assert set(m[key][method]) == {"8", "16"}
            for d in ("8", "16"):
                assert set(m[key][method][d]["2"]) == {"8", "16"}
                for v in m[key][method][d]["2"].values():
                    assert v is not None and v >= 0
    assert m["settings"]["online"] is True and m["settings"]["input_lr"] == 0.03
    assert set(m["disconnected"]) == {"connected", "disconnected"}
    assert m["disconnected_floor"] == 1.0  # product target
    assert m["runtime_s"] > 0
    for name in ("fig-expressivity-core", "fig-expressivity-width", "fig-expressivity-disconnected"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 0
