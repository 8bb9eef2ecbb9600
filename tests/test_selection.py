"""Exact-density selection (graphon.selection): the CPU (numpy) and torch paths agree bit for bit."""

from __future__ import annotations

import torch

from graphon.selection import keep_top, kept_count


def stable_top(x: torch.Tensor, k: int) -> torch.Tensor:
    """The definition: a stable descending sort keeps the k first (ties to the lower index)."""
    order = torch.sort(x, dim=1, descending=True, stable=True).indices[:, :k]
    return torch.zeros_like(x, dtype=torch.bool).scatter_(1, order, True)


def test_numpy_and_torch_paths_equal_the_stable_sort_with_ties():
    g = torch.Generator().manual_seed(0)
    ints = torch.randint(0, 7, (3, 5000), generator=g)  # many ties at every threshold
    for k in (1, 17, 1500, 2500, 4999):
        want = stable_top(ints, k)
        cpu_numpy = keep_top(ints.float(), k)  # float32 on the CPU: numpy partition + fill
        torch_path = keep_top(ints, k)  # integers: torch topk/kthvalue + cumsum fill
        assert torch.equal(cpu_numpy, want) and torch.equal(torch_path, want)
        assert (cpu_numpy.sum(dim=1) == k).all()


def test_nan_ranks_last_and_threshold_is_returned():
    x = torch.tensor([[0.5, float("nan"), 0.9, 0.1], [float("nan")] * 2 + [0.2, 0.3]])
    keep, thr = keep_top(x, 3, return_threshold=True)
    assert keep.tolist() == [[True, False, True, True], [True, False, True, True]]
    assert thr.flatten().tolist() == [torch.tensor(0.1).item(), float("-inf")]
    assert kept_count(0.2, 10) == 2 and kept_count(1e-9, 10) == 1 and kept_count(1.0, 7) == 7
