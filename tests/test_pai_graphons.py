"""Tests for graphon.pai_graphons: the empirical graphon of a PaI criterion on a real network."""

from __future__ import annotations

import pytest
import torch

from graphon import graphons
from graphon.models import MaskedMLP
from graphon.pai_graphons import PaIGraphon, chain_step_graphons, deep_pai_graphons, pai_graphons
from graphon.pruning import prune


def _data(d=6, d_out=3, b=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g), torch.randn(b, d_out, generator=g)


X, Y = _data()
HIDDEN = dict(widths=[20, 16], d_out=3, activation="tanh", layer=1, blocks=4, device="cpu")


def test_shapes_and_fields():
    g = pai_graphons("snip", 0.3, X, Y, seeds=3, keep_masks=2, **HIDDEN)
    assert isinstance(g, PaIGraphon)
    assert g.picture.shape == (4, 4) and g.per_seed.shape == (3, 4, 4)
    assert g.masks.shape == (2, 16, 20) and g.masks.dtype == torch.bool
    assert g.density_kept_per_seed.shape == (3,)
    assert g.picture.device.type == "cpu" and g.seeds == [0, 1, 2] and g.layer == 1
    torch.testing.assert_close(g.picture, g.per_seed.mean(0))
    assert g.density_kept == pytest.approx(float(g.masks.float().mean(dim=(1, 2)).mean()), abs=0.2)
    assert pai_graphons("snip", 0.3, X, Y, seeds=3, **HIDDEN).masks is None
    # rows sorted, columns in natural order, non-square blocks: the generalisation recipe
    first = pai_graphons("grasp", 0.3, X, Y, widths=[20], d_out=3, layer=0, prune_layers=[0],
                         blocks=(5, 6), sort_columns=False, seeds=2, device="cpu")
    assert first.per_seed.shape == (2, 5, 6)
    assert first.density_kept == pytest.approx(0.3, abs=1e-6)  # only layer 0 is prunable


@pytest.mark.parametrize("method", ["random", "magnitude", "snip", "grasp"])
def test_seed_chunks_equal_one_batch(method):
    one = pai_graphons(method, 0.25, X, Y, seeds=[0, 1, 2, 3, 4], keep_masks=3, **HIDDEN)
    chunked = pai_graphons(method, 0.25, X, Y, seeds=[0, 1, 2, 3, 4], seed_batch=2, keep_masks=3,
                           **HIDDEN)
    torch.testing.assert_close(chunked.per_seed, one.per_seed, rtol=0, atol=1e-6)
    torch.testing.assert_close(chunked.picture, one.picture, rtol=0, atol=1e-6)
    assert chunked.density_kept == pytest.approx(one.density_kept, abs=1e-6)
    assert torch.equal(chunked.masks, one.masks)


def test_matches_direct_computation():
    seeds = [3, 5, 8]
    g = pai_graphons("snip", 0.2, X, Y, seeds=seeds, keep_masks=3, **HIDDEN)
    model = MaskedMLP(6, [20, 16], d_out=3, activation="tanh", seeds=seeds, device="cpu")
    mask = prune(model, "snip", 0.2, X, Y, apply=False).masks[1]
    ref = graphons.block_average(graphons.degree_sort(mask, descending=False)[0], 4)
    torch.testing.assert_close(g.per_seed, ref)
    torch.testing.assert_close(g.picture, graphons.empirical_graphon(mask, 4))
    assert torch.equal(g.masks, mask.bool())
    assert g.density_kept == pytest.approx(float(mask.mean()), abs=1e-6)
    # first layer, rows sorted only, columns = the input coordinates
    g0 = pai_graphons("grasp", 0.4, X, Y, widths=[20], d_out=3, activation="tanh", layer=0,
                      prune_layers=[0], blocks=(4, 6), sort_columns=False, seeds=seeds, device="cpu")
    model = MaskedMLP(6, [20], d_out=3, activation="tanh", seeds=seeds, device="cpu")
    m0 = prune(model, "grasp", 0.4, X, Y, layers=[0], apply=False).masks[0]
    rows = graphons.degree_sort(m0, descending=False, sort_columns=False)[0]
    torch.testing.assert_close(g0.per_seed, graphons.block_average(rows, (4, 6)))


def test_random_picture_has_mean_density():
    g = pai_graphons("random", 0.3, d=32, widths=[64, 64], d_out=4, layer=1, blocks=8, seeds=4,
                     device="cpu")
    assert float(g.picture.mean()) == pytest.approx(0.3, abs=0.02)
    assert g.density_kept == pytest.approx(0.3, abs=0.02)
    assert float(g.picture.std()) < 0.1  # flat up to finite-size noise


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="density"):
        pai_graphons("random", 0.0, X, Y, **HIDDEN)
    with pytest.raises(ValueError, match="density"):
        pai_graphons("random", 1.5, X, Y, **HIDDEN)
    with pytest.raises(ValueError, match="method"):
        pai_graphons("snp", 0.2, X, Y, **HIDDEN)
    with pytest.raises(ValueError, match="blocks"):
        pai_graphons("random", 0.2, X, Y, **{**HIDDEN, "blocks": 17})
    with pytest.raises(ValueError, match="layer"):
        pai_graphons("random", 0.2, X, Y, **{**HIDDEN, "layer": 3})
    with pytest.raises(ValueError, match="layer"):
        pai_graphons("random", 0.2, X, Y, **{**HIDDEN, "layer": -1})
    with pytest.raises(ValueError, match="keep_masks"):
        pai_graphons("random", 0.2, X, Y, seeds=2, keep_masks=3, **HIDDEN)
    with pytest.raises(ValueError, match="seed_batch"):
        pai_graphons("random", 0.2, X, Y, seed_batch=0, **HIDDEN)
    with pytest.raises(ValueError, match="d must be given"):
        pai_graphons("random", 0.2, widths=[8], device="cpu")
    with pytest.raises(ValueError, match="loss"):
        pai_graphons("snip", 0.2, X, Y, loss="hinge", **HIDDEN)


def test_reading_an_unpruned_layer_is_refused():
    with pytest.raises(ValueError, match="layer must be one of prune_layers"):
        pai_graphons("random", 0.2, d=6, widths=[8, 8], layer=1, prune_layers=[0], blocks=2, device="cpu")


def test_chain_step_graphons_keep_one_order_per_hidden_layer():
    """A planted chain: hidden neurons of high in-degree (rows 0-5 of the first mask) have sparse
    out-edges (density 1/12 in the second mask's columns), the others dense ones (11/12). Sorted
    ascending by in-degree, the low-degree neurons come first on both sides, so the second
    graphon reads 11/12 then 1/12 along its columns; sorting those columns by their own degree, as
    a per-matrix sort would, reverses them."""
    n, d = 12, 5
    first = torch.zeros(1, n, d)
    first[0, :6] = 1.0  # high in-degree
    first[0, 6:, :2] = 1.0
    second = torch.zeros(1, n, n)
    second[0, 0, :6] = 1.0  # columns 0-5: density 1/12
    second[0, :, 6:] = 1.0 - torch.eye(n)[:, 6:]  # columns 6-11: density 11/12
    g0, g1 = chain_step_graphons([first, second], blocks=2)
    assert g0.shape == (1, 2, d) and g1.shape == (1, 2, 2) and g1.dtype == torch.float64
    want = torch.tensor([[1.0, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float64)
    torch.testing.assert_close(g0[0], want)
    torch.testing.assert_close(g1[0].mean(dim=0), torch.tensor([11 / 12, 1 / 12], dtype=torch.float64))
    own = graphons.sorted_block_average(second, 2, descending=False)[0].mean(dim=0)
    assert own[0] < own[1]  # the per-matrix sort reverses the columns
    with pytest.raises(ValueError, match="blocks"):
        chain_step_graphons([first, second], blocks=13)
    with pytest.raises(ValueError, match="masks\\[1\\]"):
        chain_step_graphons([first, second[:, :, :5]], blocks=2)


def test_deep_pai_graphons_one_layer_is_the_chapter_estimate_and_every_layer_has_rho():
    one = deep_pai_graphons("snip", 0.3, X, Y, widths=[20], d_out=3, blocks=4, seeds=3, device="cpu")
    ref = pai_graphons("snip", 0.3, X, Y, widths=[20], d_out=3, layer=0, prune_layers=[0],
                       blocks=(4, 6), sort_columns=False, seeds=3, device="cpu")
    torch.testing.assert_close(one.per_seed[0], ref.per_seed.double(), rtol=0, atol=1e-6)
    deep = deep_pai_graphons("grasp", 0.3, X, Y, widths=[20, 16, 16], d_out=3, blocks=4, seeds=2,
                             device="cpu")
    assert [tuple(t.shape) for t in deep.per_seed] == [(2, 4, 6), (2, 4, 4), (2, 4, 4)]
    sizes = torch.tensor([20 * 6, 16 * 20, 16 * 16], dtype=torch.float64)
    assert torch.equal(deep.density_kept, (torch.round(0.3 * sizes) / sizes).expand(2, 3))
    for t, n_in in zip(deep.per_seed[1:], (20, 16), strict=True):  # block means give rho back
        torch.testing.assert_close(t.mean(dim=(1, 2)), deep.density_kept[:, 1 if n_in == 20 else 2],
                                   rtol=0, atol=1e-12)
