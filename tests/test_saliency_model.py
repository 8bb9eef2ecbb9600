"""Tests for graphon.saliency_model (the book's reconstruction of the Factorised Saliency Model)."""

from __future__ import annotations

import pytest
import torch

from graphon import graphons as G
from graphon.saliency_model import FactorisedSaliencyModel as FSM
from graphon.saliency_model import distance_to_limit, law, loglog_slope

HET = FSM.heterogeneous()
HOM = FSM.homogeneous()
MAG = FSM.homogeneous("halfnormal")
MIXED = FSM(law("lognormal", "row_factor", sigma=0.5), "uniform", "uniform")  # kinked noise


@pytest.mark.parametrize(
    "model", [HET, HOM, MAG, MIXED], ids=["het", "random", "magnitude", "mixed"]
)
@pytest.mark.parametrize("rho", [0.05, 0.3, 0.9])
def test_limit_integrates_to_density(model, rho):
    W = model.limit_graphon(rho)
    # an independent quadrature: 512 x 512 midpoint rule
    grid = G.graphon_on_grid(W, 64, quad=8, device="cpu", dtype=torch.float64)
    assert float(grid.mean()) == pytest.approx(rho, abs=1e-4)
    assert W.integral() == pytest.approx(rho, abs=1e-8)


def test_constant_factors_give_constant_graphon_and_known_threshold():
    u = torch.rand(50, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v = torch.rand(1, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for rho in (0.1, 0.3, 0.8):
        for model in (HOM, MAG):
            assert torch.allclose(
                model.limit_graphon(rho)(u, v),
                torch.full((50, 40), rho, dtype=torch.float64),
                atol=1e-10,
            )
        assert HOM.limit_threshold(rho) == pytest.approx(1 - rho, abs=1e-10)  # U(0,1) noise
    assert HET.limit_threshold(1.0) == 0.0
    assert torch.allclose(HET.limit_graphon(1.0)(u, v), torch.ones(50, 40, dtype=torch.float64))


def test_heterogeneous_limit_matches_research_notes_and_is_monotone():
    assert HET.limit_threshold(0.2) == pytest.approx(1.727, abs=2e-3)  # research/paper.md §4.4
    L = HET.limit_on_grid(0.2, 8)
    assert bool((L[1:] >= L[:-1]).all()) and bool((L[:, 1:] >= L[:, :-1]).all())
    assert bool((L[-1, 1:] > L[-1, :-1]).all()) and bool((L[1:, -1] > L[:-1, -1]).all())


def test_sampling_keeps_exact_count_and_is_seed_batched():
    s = HET.sample_masks(30, 20, 0.25, [0, 1, 2], device="cpu", order="random")
    assert s.masks.shape == (3, 30, 20) and s.masks.dtype == torch.bool
    assert s.kept == 150 and s.masks.sum(dim=(1, 2)).tolist() == [150, 150, 150]
    one = HET.sample_masks(30, 20, 0.25, [1], device="cpu", order="random")
    assert torch.equal(one.masks[0], s.masks[1]) and torch.equal(one.threshold[0], s.threshold[1])
    chunked = HET.sample_masks(30, 20, 0.25, [0, 1, 2], device="cpu", order="random", seed_batch=2)
    assert torch.equal(chunked.masks, s.masks)
    # order="factor" sorts the same draws by factor
    f = HET.sample_masks(30, 20, 0.25, [0, 1, 2], device="cpu", order="factor")
    assert bool((f.row_positions.diff(dim=1) >= 0).all()) and bool(
        (f.col_factors.diff(dim=1) >= 0).all()
    )
    assert torch.allclose(f.threshold, s.threshold)
    assert torch.equal(f.masks.sum(dim=2).sort(dim=1).values, s.masks.sum(dim=2).sort(dim=1).values)
    again = HET.sample_masks(30, 20, 0.25, [0, 1, 2], device="cpu", order="random")
    assert torch.equal(again.masks, s.masks)


def test_realised_threshold_approaches_limit():
    tau = HET.limit_threshold(0.2)
    errs = []
    for n in (60, 240, 960):
        s = HET.sample_masks(n, n, 0.2, 4, device="cpu")
        errs.append(float((s.threshold - tau).abs().mean()))
    assert errs[2] < 0.5 * errs[0] and errs[2] < 0.1  # fluctuations of the factors: O(n^{-1/2})
    s = HOM.sample_masks(200, 200, 0.3, 2, device="cpu")
    assert float((s.threshold - 0.7).abs().max()) < 0.01


@pytest.mark.parametrize("model", [HOM, HET], ids=["random", "het"])
def test_distance_to_limit_decreases_with_n(model):
    r = distance_to_limit(
        model, [60, 180, 540], 0.2, seeds=2, restarts=8, spectral=False, device="cpu"
    )
    est = r.estimate
    assert bool((est[1:] < 0.8 * est[:-1]).all())
    assert -0.8 < r.slope() < -0.3
    assert bool((r.lower <= r.upper).all())
    d = r.to_dict()
    assert len(d["lower_mean"]) == 3 and "slope_lower" in d


def test_empirical_graphon_approaches_limit_on_grid():
    K = 8
    L = HET.limit_on_grid(0.2, K)
    errs = [
        float(torch.linalg.norm(HET.empirical_graphon(n, n, 0.2, 2, blocks=K, device="cpu") - L))
        / K
        for n in (100, 800)
    ]
    assert errs[1] < 0.5 * errs[0] and errs[1] < 0.015
    # oracle order (no sorting) agrees too
    oracle = HET.empirical_graphon(800, 800, 0.2, 2, blocks=K, sort=False, device="cpu")
    assert float(torch.linalg.norm(oracle - L)) / K < 0.015


def test_loglog_slope():
    assert loglog_slope([1, 4, 16], [1.0, 0.5, 0.25]) == pytest.approx(-0.5)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="density"):
        HET.sample_masks(10, 10, 0.0, 1)
    with pytest.raises(ValueError, match="density"):
        HET.limit_graphon(1.5)
    with pytest.raises(ValueError, match="n must"):
        HET.sample_masks(0, 10, 0.2, 1)
    with pytest.raises(ValueError, match="d must"):
        HET.sample_masks(10, 0, 0.2, 1)
    with pytest.raises(ValueError, match="order"):
        HET.sample_masks(10, 10, 0.2, 1, order="sorted")
    with pytest.raises(ValueError, match="row_factor"):
        FSM("gamma", "constant", "uniform")
    with pytest.raises(ValueError, match="noise"):
        FSM("constant", "constant", "constant")
    with pytest.raises(ValueError, match="col_factor.sigma"):
        FSM("constant", law("lognormal", "col_factor", sigma=-1.0))
    with pytest.raises(ValueError, match="blocks"):
        HET.empirical_graphon(10, 10, 0.2, 1, blocks=20, device="cpu")
    with pytest.raises(ValueError, match="align"):
        distance_to_limit(HET, [10], 0.2, align="best")


def test_exact_count_despite_ties_in_float32_noise():
    # Uniform float32 noise lives on a 2^-24 grid: at n = d = 2000 several scores tie with the
    # threshold, and a plain `score >= tau` kept one entry too many (2000001 of 2000000 measured).
    fsm = FSM.homogeneous("uniform")
    sample = fsm.sample_masks(2000, 2000, 0.5, seeds=[0, 1, 2], device="cpu")
    assert sample.kept == 2_000_000
    assert sample.masks.sum(dim=(-2, -1)).tolist() == [2_000_000] * 3


def test_empirical_graphon_with_labelled_columns_keeps_the_column_profile():
    # Columns not sorted: they must stay in factor order, so the picture still rises along v
    # like the limit (drawing them in random order would wash the column profile out).
    fsm = FSM.heterogeneous()
    pic = fsm.empirical_graphon(400, 400, 0.2, seeds=2, blocks=4, sort=True, sort_columns=False, device="cpu")
    limit = fsm.limit_on_grid(0.2, 4)
    assert float((pic.double() - limit.double()).abs().max()) < 0.08
