"""Run book/generalisation.md with tiny parameters and check its metrics.json."""

from __future__ import annotations

import math

TINY = {
    "densities": [0.2, 0.6],
    "noise_levels": [0.0, 1.0],
    "n_samples": 40,
    "methods": ["random", "snip"],
    "activation": "relu",
    "seeds": 2,
    "width": 32,
    "blocks": 4,
    "widths": [16, 64],
    "ntk_points": 8,
    "sparse_d": 12,
    "sparse_k": 2,
    "concentrations": [0.0, 4.0],
    "train_width": 16,
    "epochs": 5,
}


def test_generalisation_chapter_runs_with_tiny_parameters(run_chapter):
    metrics = run_chapter("generalisation", TINY)
    _check_every_metric(metrics)
    _check_complexity_and_alignment(metrics)


def _check_every_metric(metrics):
    for key in (
        "kernel_relative_error",
        "complexity_digits",
        "complexity_sparse",
        "alignment_digits",
        "alignment_sparse",
        "effective_rank_digits",
        "concentration",
        "trained",
        "runtime_s",
    ):
        assert key in metrics, key
    assert set(metrics["kernel_relative_error"]) == {"bernoulli", "variance"}
    for errs in metrics["kernel_relative_error"].values():
        assert set(errs) == {"16", "64"}
        assert all(0 < e < 2 for e in errs.values())
    assert math.isfinite(metrics["max_jitter_used"])


def _check_complexity_and_alignment(metrics):
    for task in ("complexity_digits", "complexity_sparse"):
        for method in TINY["methods"]:
            for rho in ("0.2", "0.6"):
                c = metrics[task][method][rho]
                assert set(c) == {"0", "1"}
                assert c["0"] > 0 and c["1"] > 0
    # random labels cost more than true labels on real data, for every graphon
    for method in TINY["methods"]:
        for rho in ("0.2", "0.6"):
            c = metrics["complexity_digits"][method][rho]
            assert c["1"] > c["0"]
    for method in TINY["methods"]:
        for a in metrics["alignment_digits"][method].values():
            assert 0 < a <= 1
    # ReLU: Random's (near-constant) graphon only rescales the kernel, so alignment ~ flat in rho
    rand = metrics["alignment_digits"]["random"]
    assert abs(rand["0.2"] - rand["0.6"]) < 0.05
    assert len(metrics["concentration"]["effective_rank"]) == 2
    for method in TINY["methods"]:
        errs = metrics["trained"][method]["test_error"]
        assert all(0 <= e <= 1 for e in errs.values())
