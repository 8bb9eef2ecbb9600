"""Run the convergence chapter with tiny parameters and check what it writes."""

from __future__ import annotations

import math

TINY = {
    "widths": [32, 64],
    "density": 0.2,
    "densities": [0.2],
    "seeds": 2,
    "seed_batch": 2,
    "distance_seeds": 1,
    "methods": ["random", "magnitude", "snip", "grasp"],
    "activations": ["relu", "tanh"],
    "signed_activations": ["tanh"],
    "blocks": 8,
    "n_data": 32,
}


def test_convergence_chapter_runs(run_chapter, tmp_path):
    m = run_chapter("convergence", TINY)
    methods = TINY["methods"]
    assert set(m["cut_distance"]) == set(methods)
    for method in methods:
        assert set(m["cut_distance"][method]) == {"32", "64"}
        for v in m["cut_distance"][method].values():
            assert v is not None and 0.0 <= v <= 1.0
        assert 0.0 < m["density_kept"][method] < 1.0
        assert m["flatness"][method]["64"] >= 0.0
    for method in ("random", "magnitude"):
        assert abs(m["density_kept"][method] - 0.2) < 0.02
        assert m["cut_distance_reference"][method] == "constant graphon rho"
    assert "n = 64" in m["cut_distance_reference"]["snip"]
    assert math.isfinite(m["slopes"]["factorised_model"])
    assert set(m["factorised_model"]["cut_distance"]) == {"32", "64"}
    for n in ("32", "64"):
        fsm = m["factorised_model"]
        assert fsm["lower"][n] <= fsm["upper"][n] + 1e-12
    assert set(m["grasp_signed_consecutive"]) == {"grasp, tanh", "grasp_signed, tanh"}
    assert set(m["flatness_by_activation"]) == {"relu, rho=0.2", "tanh, rho=0.2"}
    for name in ("fig-convergence-fsm", "fig-convergence-rate", "fig-convergence-pai",
                 "fig-convergence-pai-distance", "fig-convergence-activations",
                 "fig-convergence-grasp-signed"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 0
