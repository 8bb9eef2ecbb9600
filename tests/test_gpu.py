"""The same computations on CUDA as on the CPU. Run on a machine with a GPU: ``make test-gpu``.

Skipped where torch sees no GPU (and deselected from the default run by the ``gpu`` marker). Each test builds
the inputs on the CPU, moves them to the GPU, and compares the results with the CPU's.
"""

from __future__ import annotations

import pytest
import torch

from graphon import data, graphons, ntk, pai_graphons, pruning
from graphon.models import MaskedMLP
from graphon.saliency_model import FactorisedSaliencyModel

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CUDA = torch.device("cuda")


def _pair(d=12, widths=(32,), seeds=3, activation="tanh"):
    cpu = MaskedMLP(d, list(widths), activation=activation, seeds=seeds, device="cpu", dtype=torch.float64)
    gpu = MaskedMLP(d, list(widths), activation=activation, seeds=seeds, device="cpu", dtype=torch.float64)
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to(CUDA)


def test_forward_pass_on_cuda_matches_cpu():
    cpu, gpu = _pair()
    x = torch.randn(20, 12, dtype=torch.float64)
    assert gpu(x.to(CUDA)).device.type == "cuda"
    torch.testing.assert_close(gpu(x.to(CUDA)).cpu(), cpu(x))


@pytest.mark.parametrize("method", ["magnitude", "snip", "grasp", "grasp_signed", "synflow"])
def test_pruning_scores_on_cuda_match_cpu(method):
    cpu, gpu = _pair(widths=(32, 16))
    x, y = torch.randn(40, 12, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    s_cpu = pruning.compute_scores(cpu, method, x, y)
    s_gpu = pruning.compute_scores(gpu, method, x.to(CUDA), y.to(CUDA))
    for a, b in zip(s_cpu, s_gpu, strict=True):
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a, rtol=1e-6, atol=1e-9)
    res = pruning.prune(gpu, method, 0.2, x.to(CUDA), y.to(CUDA), iterations=5 if method == "synflow" else None)
    total = sum(m[0].numel() for m in res.masks)
    assert sum(int(m[0].sum()) for m in res.masks) == round(0.2 * total)


def test_factorised_model_on_cuda_keeps_exact_density_and_approaches_its_limit():
    fsm = FactorisedSaliencyModel.heterogeneous()
    sample = fsm.sample_masks(400, 400, 0.2, seeds=4, device="cuda")
    assert sample.masks.device.type == "cuda"
    assert torch.all(sample.masks.sum(dim=(-2, -1)) == sample.kept)
    picture = graphons.empirical_graphon(sample.masks, blocks=8)
    limit = fsm.limit_on_grid(0.2, 8)
    assert float((picture.cpu().double() - limit.cpu().double()).abs().mean()) < 0.03


def test_cut_distance_on_cuda_matches_cpu():
    masks = (torch.rand(2, 64, 48, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    on_cpu = graphons.cut_distance(masks, lambda u, v: 0.3 + 0 * u * v, restarts=8)
    on_gpu = graphons.cut_distance(masks.to(CUDA), lambda u, v: 0.3 + 0 * u * v, restarts=8)
    torch.testing.assert_close(on_gpu.upper.cpu(), on_cpu.upper.cpu(), rtol=1e-4, atol=1e-6)
    assert torch.all(on_gpu.lower.cpu() <= on_gpu.upper.cpu() + 1e-9)


def test_graphon_ntk_and_empirical_ntk_on_cuda_match_cpu():
    x = torch.randn(16, 12, dtype=torch.float64)
    table = torch.rand(4, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for act in ("relu", "erf", "tanh"):
        k_cpu = ntk.graphon_ntk(x, None, table, act, device="cpu")
        k_gpu = ntk.graphon_ntk(x, None, table, act, device="cuda")
        torch.testing.assert_close(k_gpu.cpu(), k_cpu, rtol=1e-8, atol=1e-10)
    cpu, gpu = _pair(activation="relu")
    torch.testing.assert_close(ntk.empirical_ntk(gpu, x.to(CUDA)).cpu(), ntk.empirical_ntk(cpu, x), rtol=1e-6, atol=1e-9)


def test_pai_graphons_of_digits_on_cuda():
    digits = data.load_digits(seed=0, device="cuda")
    x, y = digits.x_train[:128], data.one_hot(digits.y_train[:128], digits.n_classes)
    res = pai_graphons.pai_graphons("snip", 0.2, x, y, widths=[64, 64], d_out=10, layer=1, blocks=8, seeds=4,
                                    device="cuda")
    assert res.picture.shape == (8, 8)
    assert float(res.picture.std()) > 0.05  # SNIP's limit is heterogeneous on digits (see the convergence chapter)
    rnd = pai_graphons.pai_graphons("random", 0.2, x, y, widths=[64, 64], d_out=10, layer=1, blocks=8, seeds=4,
                                    device="cuda")
    assert abs(float(rnd.picture.mean()) - 0.2) < 0.02
