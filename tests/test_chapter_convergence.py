"""Run the convergence chapter at tiny parameters and check its headline claims."""

from __future__ import annotations

TINY = {
    "widths": [48, 96, 192],
    "density": 0.2,
    "seeds": 4,
    "groups": 2,
    "distance_seeds": 2,
    "methods": ["random", "magnitude", "snip", "grasp", "grasp_signed"],
    "blocks": 8,
    "n_data": 64,
    "ref_width": 384,
    "ref_seeds": 1,
    "bundle": "no-bundle-here",  # the paper-scale section is skipped (tested in test_paper_bundle)
}


def test_convergence_chapter_claims(run_chapter, tmp_path):
    m = run_chapter("convergence", TINY)
    live = m["live"]
    # Random and Magnitude approach the constant graphon at about n^(-1/2): from n = 48 to 192 the
    # distance should halve; each single-mask distance has a seed spread of a few percent (its
    # slope sd over seeds is ~0.03-0.05 at these sizes, live table), so a ratio below 0.75 (a slope
    # below -0.2) is a safe margin that a distance not falling with n would fail
    for method in ("random", "magnitude"):
        d = live[method]["distance_single"]
        assert d["192"] / d["48"] < 0.75, (method, d)
        assert -0.8 < live[method]["slope_single"] < -0.2
        assert live[method]["fit"] == {}  # derived, not fitted
    # the taxonomy: SNIP and GraSP pictures are heterogeneous. A flat picture's block std is only
    # the degree-sorting noise, ~2 sqrt(rho (1 - rho) / (n / K)) / sqrt(n / K) ~ 0.04 at n = 192,
    # K = 8; SNIP/GraSP are measured at 0.15-0.25: at least twice Random's is a wide margin
    for method in ("snip", "grasp"):
        assert live[method]["flatness"]["192"] > 2 * live["random"]["flatness"]["192"]
        fit = live[method]["fit"]
        assert 0 < fit["fit_residual"] < 0.05 and fit["ks_noise_floor"] > 0
    # the factorised model itself converges to its formula
    fsm = m["factorised_model"]
    assert fsm["lower"]["192"] < fsm["lower"]["48"]
    assert all(fsm["lower"][n] <= fsm["upper"][n] + 1e-12 for n in ("48", "96", "192"))
    # the global-threshold contrast reports the hidden layer's density for each width
    assert set(m["global_threshold_density_kept"]) == {"snip", "grasp"}
    for name in ("fig-convergence-fsm", "fig-convergence-rate", "fig-convergence-live",
                 "fig-convergence-live-distance", "fig-convergence-global"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
