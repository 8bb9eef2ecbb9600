"""The theoretical graphon of a real criterion: a Factorised Saliency fit (graphon.criterion_limit)."""

from __future__ import annotations

import pytest
import torch

from graphon.criterion_limit import constant_limit, fit_factorised, fit_residual
from graphon.saliency_model import FactorisedSaliencyModel


def planted(n: int, seeds: int, gen: torch.Generator, interaction: float = 0.0) -> torch.Tensor:
    """Scores alpha_i beta_j xi_ij of the heterogeneous factorised model (alpha ~ Exp(1) + 0.1,
    beta ~ LogNormal(0, 1), xi = |N(0, 1)|); with ``interaction`` > 0 the noise scale grows with
    alpha (then the criterion is *not* factorised)."""
    alpha = -torch.log(torch.rand(seeds, n, 1, generator=gen)) + 0.1
    beta = torch.exp(torch.randn(seeds, 1, n, generator=gen))
    xi = torch.randn(seeds, n, n, generator=gen).abs()
    return alpha * beta * xi ** (1.0 + interaction * alpha)


def test_planted_factorised_criterion_recovers_its_limit():
    """The fitted W equals the known limit up to the factor-estimation error.

    A row factor is estimated by a row mean of log|xi| over n = 1000 columns: standard deviation
    sd(log|xi|) / sqrt(n) = 1.11 / 31.6 = 0.035 in log scale. W = P(|Z| >= tau / (ab)) moves by at
    most max_t 2 t phi(t) = 0.48 per unit of log(ab), so a block value errs by about
    0.48 * 0.035 * sqrt(2) = 0.024 at one standard deviation; the mean over blocks much less.
    Bounds: max 3 sd (0.07), mean 0.01."""
    gen = torch.Generator().manual_seed(0)
    fit = fit_factorised(planted(1000, 2, gen))
    want = FactorisedSaliencyModel.heterogeneous().limit_on_grid(0.2, 16)
    got = fit.limit_on_grid(0.2, 16)
    err = (got - want).abs()
    assert float(err.max()) < 0.07
    assert float(err.mean()) < 0.01
    # exactly factorised: the residual law does not depend on the factor (split-half KS near noise)
    d = fit.diagnostics
    assert d["ks_rows"] < 2 * d["ks_noise_floor"] and d["ks_cols"] < 2 * d["ks_noise_floor"]


@pytest.mark.parametrize("rho", [0.05, 0.2, 0.7])
def test_limit_integrates_to_density_and_increases(rho):
    """int int W = rho on the grid's own nodes, up to the granularity of the empirical noise law
    (1 / 2^18 per node, far below 1e-5); W increases along u and v (factors sorted ascending)."""
    gen = torch.Generator().manual_seed(1)
    fit = fit_factorised(planted(400, 1, gen))
    w = fit.limit_on_grid(rho, (12, 9), quad=4)
    assert abs(float(w.double().mean()) - rho) < 1e-5
    assert (w.diff(dim=0) >= -1e-6).all() and (w.diff(dim=1) >= -1e-6).all()


def test_constant_factors_give_constant_limit():
    """Magnitude-like scores |N(0, 1)| (constant factors): the fitted W is flat at rho.

    Without the errors-in-variables shrinkage the row means' own noise (sd 0.035 at n = 1000)
    would spread W by about 0.48 * 0.035 * sqrt(2) = 0.024; after it the remaining spread comes
    from the sampling error of var(r) (relative sd sqrt(2 / n) = 0.045), so the log-factor sd is
    about 0.035 * 0.045^(1/2) = 0.0074, and W's block std about 0.48 * 0.0074 * sqrt(2) = 0.005:
    bound 3x that."""
    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(2, 1000, 1000, generator=gen).abs()
    w = fit_factorised(scores).limit_on_grid(0.2, 16)
    assert float(w.std()) < 0.015
    assert abs(float(w.double().mean()) - 0.2) < 1e-5
    assert torch.equal(constant_limit(0.2, 4), torch.full((4, 4), 0.2))


def test_signed_scores_and_interaction_are_reported():
    gen = torch.Generator().manual_seed(3)
    s = planted(300, 1, gen) * torch.sign(torch.randn(1, 300, 300, generator=gen))
    fit = fit_factorised(s)
    assert fit.signed and fit.noise.min() < 0 < fit.noise.max()
    assert abs(float(fit.limit_on_grid(0.2, 8).double().mean()) - 0.2) < 1e-5
    # a noise law that changes with the row factor: the split-half KS sees it
    bad = fit_factorised(planted(300, 1, gen, interaction=0.5))
    assert bad.diagnostics["ks_rows"] > 5 * bad.diagnostics["ks_noise_floor"]
    assert bad.diagnostics["ks_cols"] < 2 * bad.diagnostics["ks_noise_floor"]


def test_fit_residual_and_bad_input():
    grid = torch.full((4, 4), 0.2)
    pic = grid.clone()
    pic[0, 0] += 0.16  # one block of 1/16 of the area: cut norm 0.16 / 16 = 0.01
    r = fit_residual(grid, pic)
    assert r["cut_norm"] == pytest.approx(0.01) and r["max_abs"] == pytest.approx(0.16)
    with pytest.raises(ValueError, match="scores"):
        fit_factorised(torch.ones(3, 3))
    with pytest.raises(ValueError, match="finite"):
        fit_factorised(torch.full((1, 3, 3), -float("inf")))
    with pytest.raises(ValueError, match="density"):
        fit_factorised(torch.rand(1, 4, 4) + 0.1).limit_on_grid(1.5, 2)
