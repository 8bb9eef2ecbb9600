"""Theorem-level checks of the convergence chapter (Thm 4.7 and its taxonomy), with fixed seeds.

* Random and Magnitude masks of a real pruned MLP (64 -> n -> n -> 10 on digits, global pruning)
  have a **flat** seed-averaged, degree-sorted hidden-to-hidden graphon. At finite n the only
  structure left is the degree-sorting gradient: a row's density is rho + sqrt(rho(1-rho)/n) Z,
  so after sorting each side the K x K block densities spread by about
  sqrt(2 rho (1 - rho) / n) (rows and columns add up; the block means of sorted normal quantiles
  have a spread of about 0.95 for K = 16). Measured (seeds 0..7, rho = 0.2, K = 16, relu):
  std = 0.060 at n = 100 and 0.041 at n = 200 for both methods, against sqrt(2 rho(1-rho)/n) =
  0.057 and 0.040. The tolerance is 1.5 times this prediction.
* SNIP and GraSP (magnitude variant) are clearly heterogeneous: measured std 0.20 (SNIP) and 0.24
  (GraSP) at n = 200, more than twice the flatness tolerance, and it does not shrink with n.
* The Factorised Saliency Model's cut distance to its limit graphon decreases with n, at a rate
  close to n^(-1/2) (measured slope -0.49 over n = 100, 200, 400 with seeds 0, 1), and its
  degree-sorted picture matches the limit formula of this book's reconstruction.
"""

from __future__ import annotations

import math

import pytest
import torch

from graphon import data, graphons, pruning
from graphon.models import MaskedMLP

RHO, K, SEEDS = 0.2, 16, 8


def flat_tolerance(n: int, rho: float = RHO) -> float:
    """1.5 x the degree-sorting spread sqrt(2 rho (1 - rho) / n) of a constant graphon."""
    return 1.5 * math.sqrt(2 * rho * (1 - rho) / n)


@pytest.fixture(scope="module")
def pictures():
    torch.manual_seed(0)
    digits = data.load_digits(seed=0, device="cpu")
    x = digits.x_train[:256]
    y = data.one_hot(digits.y_train[:256], 10)
    out = {}
    for n in (100, 200):
        net = MaskedMLP(64, [n, n], d_out=10, activation="relu", seeds=SEEDS, device="cpu")
        for method in ("random", "magnitude", "snip", "grasp"):
            res = pruning.prune(net, method, RHO, x, y, apply=False, keep_scores=False)
            out[(method, n)] = (graphons.empirical_graphon(res.masks[1], K), res)
    return out


@pytest.mark.parametrize("method", ["random", "magnitude"])
@pytest.mark.parametrize("n", [100, 200])
def test_homogeneous_methods_are_flat(pictures, method, n):
    g, res = pictures[(method, n)]
    assert float(g.std()) < flat_tolerance(n)
    assert abs(float(g.mean()) - RHO) < 0.01  # the constant graphon's value is rho
    assert abs(float(res.density_kept[1].mean()) - RHO) < 0.01


@pytest.mark.parametrize("method", ["random", "magnitude"])
def test_homogeneous_gradient_shrinks_like_inverse_sqrt_n(pictures, method):
    ratio = float(pictures[(method, 200)][0].std()) / float(pictures[(method, 100)][0].std())
    assert 0.55 < ratio < 0.85  # 1/sqrt(2) = 0.71


@pytest.mark.parametrize("method", ["snip", "grasp"])
@pytest.mark.parametrize("n", [100, 200])
def test_data_driven_methods_are_heterogeneous(pictures, method, n):
    g, _ = pictures[(method, n)]
    assert float(g.std()) > 2 * flat_tolerance(n)
    assert float(g.std()) > 3 * float(pictures[("random", n)][0].std())


@pytest.mark.parametrize("method", ["snip", "grasp"])
def test_data_driven_picture_is_stable_across_widths(pictures, method):
    # the heterogeneous picture is a limit object: consecutive widths agree far better than
    # the picture differs from flat
    g1, g2 = pictures[(method, 100)][0], pictures[(method, 200)][0]
    between = float(graphons.cut_norm_exact(g1 - g2))
    to_flat = float(graphons.cut_norm_exact(g2 - g2.mean()))
    assert between < 0.5 * to_flat


def test_factorised_model_cut_distance_decreases_with_n():
    from graphon.saliency_model import FactorisedSaliencyModel, distance_to_limit

    fsm = FactorisedSaliencyModel.heterogeneous()
    res = distance_to_limit(fsm, [100, 200, 400], RHO, seeds=2, restarts=8, device="cpu")
    est = res.estimate.tolist()
    assert est[0] > est[1] > est[2]
    assert -0.8 < res.slope("lower") < -0.3  # measured -0.5 (n^(-1/2))
    assert bool((res.lower <= res.upper + 1e-12).all())


def test_factorised_model_matches_limit_formula():
    from graphon.saliency_model import FactorisedSaliencyModel

    fsm = FactorisedSaliencyModel.heterogeneous()
    emp = fsm.empirical_graphon(400, 400, RHO, 4, blocks=K, device="cpu")  # degree-sorted
    lim = fsm.limit_on_grid(RHO, K).to(emp.dtype)
    # measured (seeds 0..3, n = d = 400, K = 16): mean |emp - lim| = 0.0084, cut norm 0.0037
    assert float((emp - lim).abs().mean()) < 0.02
    assert float(graphons.cut_norm_exact(emp - lim)) < 0.01
