"""Exact-density selection (graphon.selection): the CPU (numpy) and torch paths agree bit for bit."""

from __future__ import annotations

import math

import numpy as np
import torch

from graphon import selection
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


def test_bracketed_selection_is_exact_and_falls_back_when_the_sample_misses(monkeypatch):
    """Rows long enough for the sampled bracket give the stable-sort mask and the exact k-th value,
    with heavy ties and with continuous scores. A row whose strided sample sees a distorted law (a
    quarter of the entries are -1, all off its grid) makes the bracket miss, and the partition
    fallback still gives the exact mask."""
    N = selection._BRACKET_MIN + 12_345
    g = torch.Generator().manual_seed(1)
    ties = torch.randint(0, 9, (2, N), generator=g).float()
    smooth = torch.randn(2, N, generator=g, dtype=torch.float64)
    hidden = torch.zeros(1, N)
    hidden[0, 1 :: N // selection._SAMPLE] = -1.0  # entries the strided sample never sees
    hidden[0, torch.randperm(N, generator=g)[: N // 3]] += torch.rand(N // 3, generator=g)
    outcome = []
    real = selection._bracketed_row
    monkeypatch.setattr(
        selection, "_bracketed_row", lambda *a: outcome.append(real(*a)) or outcome[-1]
    )
    for scores, hits in ((ties, True), (smooth, True), (hidden, False)):
        for k in (1, 1000, N // 5, N // 2, N - 3):
            outcome.clear()
            keep, thr = keep_top(scores, k, return_threshold=True)
            assert torch.equal(keep, stable_top(scores, k)) and (keep.sum(dim=1) == k).all()
            kth = scores.sort(dim=1, descending=True).values[:, k - 1 : k]
            assert torch.equal(thr, kth)
            if k == N // 5:  # a density in the book's range: the bracket is (or is not) taken
                assert all((t is not None) == hits for t in outcome), (hits, outcome)
    for k in (1, N // 5, N - 3):  # |scores| ranked in chunks; NaN ranked last
        keep, thr = keep_top(smooth, k, return_threshold=True, absolute=True)
        want, want_thr = keep_top(smooth.abs(), k, return_threshold=True)
        assert torch.equal(keep, want) and torch.equal(thr, want_thr)
        nan = smooth.clone()
        nan[:, ::7] = float("nan")
        assert torch.equal(keep_top(nan, k), stable_top(nan.nan_to_num(nan=-math.inf), k))


def test_random_bytes_are_those_of_integers_and_leave_the_same_state():
    for size in (0, 1, 7, 8, 9, 4096, 100_003):
        a, b = np.random.default_rng(size), np.random.default_rng(size)
        want = a.integers(0, 256, size=size, dtype=np.uint8)
        assert np.array_equal(selection._random_bytes(b, size), want)
        assert a.integers(0, 2**62, size=4).tolist() == b.integers(0, 2**62, size=4).tolist()
