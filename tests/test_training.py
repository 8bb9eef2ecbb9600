"""Tests of graphon.training: Adam on masked one-hidden-layer networks with the masks fixed."""

from __future__ import annotations

import math

import pytest
import torch

from graphon import expressivity as E
from graphon import training as T
from graphon.data import k_sparse_task
from graphon.models import MaskedMLP


def _tiny_task():
    return k_sparse_task(1024, 8, 2, seed=3, target="product", n_test=1024, device="cpu")


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: T.fit_masked_network((4, 3, torch.ones(1, 3, 4)), torch.zeros(5, 4), torch.zeros(5),
                                      torch.zeros(5, 4), torch.zeros(5), epochs=0, device="cpu"), "epochs"),
        (lambda: T.fit_masked_network((4, 3, torch.ones(1, 3, 5)), torch.zeros(5, 4), torch.zeros(5),
                                      torch.zeros(5, 4), torch.zeros(5), device="cpu"), "masks"),
    ],
)
def test_bad_input_raises_value_error_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()

def test_training_reduces_error_with_full_mask_and_masks_stay_fixed():
    sp = _tiny_task()
    S, n = 2, 64
    full = torch.ones(S, n, 8)
    res = T.fit_masked_network((8, n, full), sp.x_train, sp.y_train, sp.x_test, sp.y_test,
                               epochs=150, lr=1e-2, seed=0, device="cpu", desc=None)
    assert res.test_mse.shape == (S,) and res.relative_test_error.shape == (S,)
    # well below the error of the best constant (relative error 1)
    assert float(res.relative_test_error.max()) < 0.3
    assert res.history["train_mse"][0].mean() > res.history["train_mse"][-1].mean()
    # a sparse mask: pruned weights stay out of the function (mask buffers are unchanged by training)
    masks = (torch.rand(S, n, 8, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    r2 = T.fit_masked_network((8, n, masks), sp.x_train, sp.y_train, sp.x_test, sp.y_test,
                              epochs=5, seed=0, device="cpu", desc=None)
    m0 = r2.model.masks[0]
    assert torch.equal(m0[..., :8], masks) and bool((m0[..., 8] == 1).all())  # bias column unpruned


def test_minibatch_and_model_input():
    from graphon.models import MaskedMLP

    sp = _tiny_task()
    net = MaskedMLP(8, [16], seeds=2, device="cpu")
    res = T.fit_masked_network(net, sp.x_train, sp.y_train, sp.x_test, sp.y_test, epochs=2,
                               batch_size=128, bias=False, device="cpu", desc=None)
    assert res.model is net and res.history["epoch"] == [2]
    assert torch.isfinite(res.test_mse).all()


def test_online_training_sees_fresh_batches_and_does_not_overfit():
    # a tiny fixed sample: reused, a dense net overfits it; drawn afresh, train and test errors agree
    st = E.k_sparse_stream(16, 2, seed=2, target="sum")
    sp = st.split(64, 2048, device="cpu")
    net = (16, 64, torch.ones(1, 64, 16))
    kw = dict(epochs=60, lr=1e-2, batch_size=16, seed=0, device="cpu", desc=None)
    fixed = T.fit_masked_network(net, sp.x_train, sp.y_train, sp.x_test, sp.y_test, **kw)
    fresh = T.fit_masked_network(net, sp.x_train, sp.y_train, sp.x_test, sp.y_test, stream=st, **kw)
    gap_fixed = fixed.relative_test_error_mean - fixed.train_mse_mean / float(sp.y_train.var())
    gap_fresh = abs(fresh.relative_test_error_mean - fresh.train_mse_mean / float(sp.y_train.var()))
    assert gap_fixed > 0.05 and gap_fresh < 0.05
    assert fresh.relative_test_error_mean < fixed.relative_test_error_mean
    # the batches really come from the stream: a stream of constant targets drives the fit there
    calls = []

    def const(m, seed):
        calls.append(seed)
        return torch.randn(m, 16, generator=torch.Generator().manual_seed(seed)), torch.full((m,), 3.0)

    T.fit_masked_network(net, sp.x_train, sp.y_train, sp.x_test, sp.y_test, stream=const,
                         **{**kw, "epochs": 2})
    assert len(calls) == 2 * 4 and len(set(calls)) == len(calls)  # ceil(64 / 16) = 4 steps an epoch
    with pytest.raises(ValueError, match="batch_size"):
        T.fit_masked_network(net, sp.x_train, sp.y_train, sp.x_test, sp.y_test, stream=st,
                             **{**kw, "batch_size": None})


def test_input_lr_scales_the_first_layer_step_with_fan_in():
    # one Adam step moves each first-layer weight by about its lr: input_lr * sqrt(d + 1) (bias column)
    st = E.k_sparse_stream(63, 1, seed=0, target="sum")
    sp = st.split(256, 16, device="cpu")
    net = (63, 8, torch.ones(1, 8, 63))
    kw = dict(epochs=1, lr=1e-3, seed=0, device="cpu", desc=None)
    r0 = T.fit_masked_network(net, sp.x_train, sp.y_train, sp.x_test, sp.y_test, **kw)
    r1 = T.fit_masked_network(net, sp.x_train, sp.y_train, sp.x_test, sp.y_test, input_lr=1e-3, **kw)
    from graphon.models import MaskedMLP

    init = MaskedMLP(63, [8], seeds=[0], device="cpu").weights[0].detach()
    step0 = (r0.model.weights[0].detach()[..., :63] - init).abs().median()
    step1 = (r1.model.weights[0].detach()[..., :63] - init).abs().median()
    assert float(step0) == pytest.approx(1e-3, rel=0.05)
    assert float(step1) == pytest.approx(1e-3 * math.sqrt(64), rel=0.05)
    # the readout keeps lr
    assert torch.allclose(r0.model.weights[1], r1.model.weights[1], atol=2.1e-3)
    with pytest.raises(ValueError, match="input_lr"):
        T.fit_masked_network(net, sp.x_train, sp.y_train, sp.x_test, sp.y_test, input_lr=-1.0, **kw)


def test_per_seed_targets_train_each_seed_alone_in_the_model_dtype():
    """(S, N) targets: seed s trained on its own labels equals a one-seed run on those labels."""
    from graphon.models import MaskedMLP

    sp = _tiny_task()
    x, xt = sp.x_train[:64], sp.x_test[:32]
    ys = torch.stack([sp.y_train[:64], -sp.y_train[:64]])  # (S=2, N)
    kw = dict(epochs=3, lr=1e-2, bias=False, device="cpu", desc=None)
    both = MaskedMLP(8, [16], seeds=[5, 6], device="cpu", dtype=torch.float64)
    res = T.fit_masked_network(both, x, ys, xt, sp.y_test[:32], **kw)
    assert res.model.weights[0].dtype == torch.float64  # trained in the model's dtype
    for s, seed in enumerate((5, 6)):
        one = MaskedMLP(8, [16], seeds=[seed], device="cpu", dtype=torch.float64)
        r1 = T.fit_masked_network(one, x, ys[s], xt, sp.y_test[:32], **kw)
        torch.testing.assert_close(res.train_mse[s], r1.train_mse[0])
        torch.testing.assert_close(both.weights[0][s], one.weights[0][0])
    # relative errors: per seed, against each seed's own Var(y_train)
    var = ys.double().var(dim=1, unbiased=False)
    torch.testing.assert_close(res.relative_train_error, res.train_mse / var)
    # mini-batches index the sample axis of per-seed targets too
    mb = T.fit_masked_network(MaskedMLP(8, [16], seeds=2, device="cpu"), x, ys, xt, sp.y_test[:32],
                              batch_size=16, **kw)
    assert mb.train_mse.shape == (2,)
    with pytest.raises(ValueError, match="targets"):
        T.fit_masked_network(MaskedMLP(8, [16], seeds=3, device="cpu"), x, ys, xt, sp.y_test[:32], **kw)


def test_relative_train_error_is_train_mse_over_var():
    sp = _tiny_task()
    res = T.fit_masked_network((8, 16, torch.ones(2, 16, 8)), sp.x_train, sp.y_train, sp.x_test,
                               sp.y_test, epochs=2, device="cpu", desc=None)
    var = float(sp.y_train.var(unbiased=False))
    assert res.relative_train_error_mean == res.train_mse_mean / var
    torch.testing.assert_close(res.relative_train_error, res.train_mse / var)


def test_bias_makes_the_relu_network_non_homogeneous():
    # Without biases a ReLU network is positively homogeneous, f(t x) = t f(x): on x ~ N(0, I_2) its
    # best squared error for y = 1 is 1 - (E r)^2 / E r^2 = 1 - pi/4 (r = |x| is Rayleigh), whatever
    # the width. The never-pruned bias column (the network of Theorem 5.7 as this book states it)
    # removes that floor.
    gen = torch.Generator().manual_seed(0)
    x, xt = torch.randn(2048, 2, generator=gen), torch.randn(2048, 2, generator=gen)
    y, yt = torch.ones(2048), torch.ones(2048)
    kw = dict(epochs=300, lr=3e-2, seed=0, device="cpu", desc=None)
    net = (2, 64, torch.ones(2, 64, 2))
    plain = T.fit_masked_network(net, x, y, xt, yt, bias=False, **kw)
    biased = T.fit_masked_network(net, x, y, xt, yt, bias=True, **kw)
    floor = 1 - math.pi / 4
    # sampling slack of the floor on 2048 test points: a few standard errors of a mean of r^2 terms
    assert float(plain.test_mse.min()) > floor - 0.03
    assert float(biased.test_mse.max()) < 0.02


def test_select_returns_each_stacked_experiment_its_own_seeds():
    sp = _tiny_task()
    res = T.fit_masked_network((8, 16, torch.ones(4, 16, 8)), sp.x_train, sp.y_train, sp.x_test,
                               sp.y_test, epochs=2, device="cpu", desc=None)
    part = res.select(slice(1, 3))
    assert torch.equal(part.test_mse, res.test_mse[1:3])
    assert torch.equal(part.relative_test_error, res.relative_test_error[1:3])
    assert part.history["train_mse"].shape == (1, 2) and part.model is res.model
    assert part.relative_train_error_mean == pytest.approx(float(res.relative_train_error[1:3].mean()))


def test_repeated_seeds_share_their_bias_weights():
    # copies of one network on the seed axis (several criteria's masks) get the same bias column
    from graphon.models import MaskedMLP
    from graphon.training import _with_bias

    net2 = MaskedMLP(5, [7], seeds=3, device="cpu")
    net2.seeds = [3, 4, 3]  # as fit_pruned_network stacks copies of seeds 3 and 4
    wb = _with_bias(net2, bias_seed=10).weights[0].detach()[..., -1]
    assert torch.equal(wb[0], wb[2]) and not torch.equal(wb[0], wb[1])


def test_train_per_seed_targets_fits_each_seed_its_own_labels():
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(3))
    targets = torch.sign(torch.randn(3, 30, generator=torch.Generator().manual_seed(4)))
    model = MaskedMLP(5, [64], seeds=3, device="cpu")
    res = T.train_per_seed_targets(model, x, targets, epochs=150, lr=1e-2, x_eval=x)
    assert res.train_mse.shape == (3,) and res.outputs.shape == (3, 30)
    assert float(res.train_mse.max()) < 0.5
    agree = (torch.sign(res.outputs) == targets).float().mean(1)
    assert float(agree.min()) > 0.8  # each seed learned its own labels
    with pytest.raises(ValueError, match="targets"):
        T.train_per_seed_targets(model, x, targets[:2], epochs=1)
