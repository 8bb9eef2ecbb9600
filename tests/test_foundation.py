"""Tests of the shared foundation: argument checks, device choice, seeded draws, the masked MLP."""

from __future__ import annotations

import math

import pytest
import torch

from graphon import device as gdevice
from graphon import models, outputs, validation


@pytest.mark.parametrize("rho", [0, 0.0, -0.1, 1.5, float("nan"), "a", None, True])
def test_density_outside_range_is_refused(rho):
    with pytest.raises(ValueError, match=r"density must be"):
        validation.check_density(rho)


@pytest.mark.parametrize("rho", [1e-6, 0.2, 1, 1.0])
def test_density_inside_range_is_accepted(rho):
    assert validation.check_density(rho) == float(rho)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "4", True])
def test_width_below_one_is_refused(bad):
    with pytest.raises(ValueError, match=r"width must be an integer >= 1"):
        validation.check_positive_int(bad, "width")


def test_choice_names_allowed_values():
    with pytest.raises(ValueError, match=r"method must be one of \['a', 'b'\], got 'c'"):
        validation.check_choice("c", "method", ["a", "b"])


def test_seeds_normalised_and_checked():
    assert validation.check_seeds(3) == [0, 1, 2]
    assert validation.check_seeds([5, 2]) == [5, 2]
    for bad in ([], [1, 1], [-1], 0, True):
        with pytest.raises(ValueError, match="seeds"):
            validation.check_seeds(bad)


def test_resolve_device():
    assert gdevice.resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert gdevice.resolve_device("auto").type == expected
    assert gdevice.resolve_device(None).type == expected
    with pytest.raises(ValueError, match="device must be one of"):
        gdevice.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no GPU"):
            gdevice.resolve_device("cuda")


def test_seeded_draws_do_not_depend_on_the_batch():
    both = gdevice.seeded_normal([3, 7], (4, 5), device="cpu")
    alone = gdevice.seeded_normal([7], (4, 5), device="cpu")
    assert both.shape == (2, 4, 5)
    assert torch.equal(both[1], alone[0])
    assert not torch.equal(both[0], both[1])
    u = gdevice.seeded_uniform(2, (1000,), device="cpu")
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0


def test_masked_mlp_shapes_and_layout():
    net = models.MaskedMLP(d=6, widths=[5, 4], d_out=2, seeds=3, device="cpu")
    assert [tuple(w.shape) for w in net.weights] == [(3, 5, 6), (3, 4, 5), (3, 2, 4)]
    assert [tuple(m.shape) for m in net.masks] == [(3, 5, 6), (3, 4, 5), (3, 2, 4)]
    assert net(torch.randn(7, 6)).shape == (3, 7, 2)
    assert net(torch.randn(3, 7, 6)).shape == (3, 7, 2)
    assert all(torch.allclose(r, torch.ones(3)) for r in net.density())


def test_masked_mlp_matches_explicit_ntk_formula():
    torch.manual_seed(0)
    net = models.MaskedMLP(d=3, widths=[4], seeds=[1], activation="tanh", device="cpu", dtype=torch.float64)
    mask = (torch.rand(1, 4, 3) < 0.5).double()
    net.set_masks([mask, None])
    x = torch.randn(2, 3, dtype=torch.float64)
    w1, w2 = net.weights[0][0], net.weights[1][0]
    expected = torch.tanh(x @ (w1 * mask[0]).T / math.sqrt(3)) @ w2.T / math.sqrt(4)
    assert torch.allclose(net(x)[0], expected)


def test_masked_entries_get_no_gradient_and_do_not_change_the_output():
    net = models.MaskedMLP(d=4, widths=[3], seeds=2, device="cpu")
    mask = torch.ones_like(net.masks[0])
    mask[:, 0, 1] = 0
    net.set_masks([mask, None])
    x = torch.randn(5, 4)
    net(x).sum().backward()
    assert torch.all(net.weights[0].grad[:, 0, 1] == 0)
    y0 = net(x).detach()
    with torch.no_grad():
        net.weights[0][:, 0, 1] += 100.0
    assert torch.allclose(net(x), y0)


def test_seed_batch_equals_single_seed():
    batch = models.MaskedMLP(d=4, widths=[6], seeds=[0, 9], device="cpu")
    single = models.MaskedMLP(d=4, widths=[6], seeds=[9], device="cpu")
    x = torch.randn(3, 4)
    assert torch.allclose(batch(x)[1], single(x)[0])


def test_model_bad_input():
    with pytest.raises(ValueError, match="activation must be one of"):
        models.MaskedMLP(d=4, widths=[3], activation="gelu", device="cpu")
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        models.MaskedMLP(d=4, widths=[0], device="cpu")
    with pytest.raises(ValueError, match="d must be an integer >= 1"):
        models.MaskedMLP(d=0, widths=[3], device="cpu")
    with pytest.raises(ValueError, match="widths must list"):
        models.MaskedMLP(d=3, widths=[], device="cpu")
    net = models.MaskedMLP(d=4, widths=[3], device="cpu")
    with pytest.raises(ValueError, match=r"masks\[0\] must have shape"):
        net.set_masks([torch.ones(1, 4, 3), None])
    with pytest.raises(ValueError, match="one entry per layer"):
        net.set_masks([None])


def test_metrics_round_trip(tmp_path):
    m = {"cut_distance": {"random": {100: torch.tensor(0.5)}}, "nan": float("nan"), "arr": torch.arange(3)}
    path = outputs.write_metrics(tmp_path / "out", m)
    back = outputs.read_metrics(path.parent)
    assert back == {"cut_distance": {"random": {"100": 0.5}}, "nan": None, "arr": [0, 1, 2]}


def test_seeds_refuse_silent_conversions():
    import numpy as np

    assert validation.check_seeds(np.int64(3)) == [0, 1, 2]
    assert validation.check_seeds(torch.tensor([4, 5])) == [4, 5]
    for bad in ("12", [0.5, 1.7], ["a"]):
        with pytest.raises(ValueError, match="seeds"):
            validation.check_seeds(bad)
