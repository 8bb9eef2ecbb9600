"""Run book/generalisation.md with tiny parameters and check its headline claims in metrics.json."""

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
    "widths": [16, 256],
    "ntk_points": 8,
    "sparse_d": 12,
    "sparse_k": 2,
    "concentrations": [0.0, 4.0],
    "train_width": 16,
    "epochs": 5,
    "fixed_d_samples": 1024,
}


def test_generalisation_chapter_claims_at_tiny_parameters(run_chapter):
    metrics = run_chapter("generalisation", TINY)
    assert metrics["complexity_kernel"].startswith("first_layer")
    _complexity_grows_with_label_noise(metrics)
    _empirical_ntk_approaches_the_limit(metrics)
    _fixed_d_gap_shrinks_with_d(metrics)
    _random_alignment_is_flat(metrics)
    assert math.isfinite(metrics["max_jitter_used"])


def _complexity_grows_with_label_noise(metrics):
    """Headline claim of Fig. 2: random labels cost more than true ones, for every graphon and task
    and every seed set. Theory (Arora et al. 2019, Sec. 6): on learnable data y^T H^-1 y of random
    labels is a multiple of that of true labels; at N = 40 the factor is well above 1.2 (measured
    1.5 to 3 on digits), so 1.2 leaves room for seed noise."""
    for task in ("complexity_digits", "complexity_mnist"):
        for method in TINY["methods"]:
            for rho in ("0.2", "0.6"):
                c = metrics[task][method][rho]
                assert c["1"] > 1.2 * c["0"], (task, method, rho, c)
    for method, per_rho in metrics["noise_rise_complexity"].items():
        for rho, ratios in per_rho.items():
            assert min(ratios) > 1.0, (method, rho, ratios)


def _empirical_ntk_approaches_the_limit(metrics):
    """Variance masks: K_W is the exact n -> infinity limit and the error is Monte Carlo,
    ~ n^-1/2, so from n = 16 to 256 it must fall by about 4; we ask for a factor 2 (seed noise
    of 2 seeds)."""
    err = metrics["kernel_relative_error"]["variance"]
    assert err["256"] < 0.5 * err["16"], err
    bern = metrics["kernel_relative_error"]["bernoulli vs fixed-d limit"]
    assert bern["256"] < 0.5 * bern["16"], bern


def _fixed_d_gap_shrinks_with_d(metrics):
    """The gap between K_W and the fixed-d limit scales like (1 - rho)/(rho d): at rho = 0.2 theory
    gives 0.031 on digits (d = 64) and 0.0026 on MNIST (d = 784), 12 times apart; the Monte Carlo
    error of the 1024-row estimate (reported, about 0.005) allows us to ask for a factor 2, and the
    digits gap must exceed its own Monte Carlo error (it is resolved)."""
    gap, mc = metrics["jensen_gap_fixed_d"], metrics["jensen_gap_mc_error"]
    assert gap["MNIST/0.2"] < 0.5 * gap["digits/0.2"], gap
    assert gap["digits/0.2"] > 2 * mc["digits/0.2"], (gap, mc)


def _random_alignment_is_flat(metrics):
    """ReLU: a constant graphon only rescales the kernel, so Random's alignment does not depend on
    rho; its estimated graphon is constant up to the Binomial noise of a width-32 mask, which moves
    the alignment by a few hundredths."""
    rand = metrics["alignment_digits"]["random"]
    assert abs(rand["0.2"] - rand["0.6"]) < 0.05
