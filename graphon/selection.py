"""Exact-density selection: keep exactly ``k`` entries per seed, at the machine's memory bandwidth.

One job: turn scores into boolean keep-masks with exactly ``k = round(rho N)`` entries per seed
(:func:`kept_count`), and draw Random pruning's kept set directly (:func:`random_subset`).

* :func:`keep_top` keeps the ``k`` largest scores of each row of an ``(S, N)`` tensor, ties broken
  as a stable descending sort would (among equal scores the lower index is kept), NaN ranked last.
  On the CPU the ``k``-th largest value of every row comes from one batched ``numpy.partition``
  (introselect: about three passes over the data; ``torch.kthvalue`` and ``torch.topk`` are about
  ten times slower on a CPU, see ``benchmarks/``); on a GPU from ``torch.topk``/``kthvalue``. Both
  give the same threshold, hence bit-identical masks.
* :func:`random_subset` draws, per seed, a uniformly random set of exactly ``k`` of ``N`` entries:
  the law of the kept set of Random pruning (the ``k`` largest of ``N`` i.i.d. continuous scores form
  a uniformly random ``k``-subset, by exchangeability), without drawing one float per entry: one
  random byte per entry gives a Bernoulli(``t/256``) set, then a uniformly chosen set of surplus
  entries is removed (or of missing entries added) by sequential rejection sampling of positions.
  Conditionally on its size a Bernoulli set is a uniform subset of that size, and removing (adding)
  a uniform subset keeps it uniform, so the result is an exact uniform ``k``-subset.

Sources: exact-count ``topk`` thresholding of SNIP's reference code (``research/prior_and_code.md``
Sec. C.3/C.6); random pruning as in Synaptic-Flow's ``Rand`` (Tanaka et al. 2020), whose
U(0, 1)/N(0, 1) scores give the same uniform law of the kept set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["kept_count", "keep_top", "random_subset"]


def kept_count(density: float, total: int) -> int:
    """Number of entries kept at ``density`` out of ``total``: ``round(density * total)``, at least 1
    and at most ``total`` (the exact-density rule of every mask in :mod:`graphon`)."""
    return min(max(1, round(density * total)), total)


def _kth_largest(flat: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th largest value of each row of ``flat`` ``(S, N)``, shape ``(S, 1)``."""
    S, N = flat.shape
    if flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64):
        a = flat.detach().numpy()
        return torch.from_numpy(np.partition(a, N - k, axis=1)[:, N - k : N - k + 1].copy())
    if k <= 0.3 * N:  # a partial top-k is faster than kthvalue away from the median
        return flat.topk(k, dim=-1, sorted=False).values.amin(dim=-1, keepdim=True)
    if N - k + 1 <= 0.3 * N:
        return flat.topk(N - k + 1, dim=-1, largest=False, sorted=False).values.amax(
            dim=-1, keepdim=True
        )
    return flat.kthvalue(N - k + 1, dim=-1, keepdim=True).values


def _fill_ties_numpy(a: np.ndarray, thr: np.ndarray, k: int) -> np.ndarray:
    """``a > thr`` plus, per row, the first entries equal to ``thr`` up to ``k`` kept (numpy: its
    compare and count run about five times faster than torch's on this kind of CPU)."""
    keep = a >= thr
    counts = np.count_nonzero(keep, axis=1)
    for s in np.flatnonzero(counts != k):  # rows with ties at the threshold (rare but possible)
        row = keep[s]
        np.greater(a[s], thr[s, 0], out=row)
        need = k - int(np.count_nonzero(row))
        row[np.flatnonzero(a[s] == thr[s, 0])[:need]] = True
    return keep


def keep_top(flat: torch.Tensor, k: int, return_threshold: bool = False):
    """Boolean mask keeping exactly the ``k`` largest entries of each row of ``flat`` ``(S, N)``.

    Same result as a stable descending sort (ties go to the lower index), in O(N) per row: the
    ``k``-th largest value ``t`` of every row (one batched ``numpy.partition`` on the CPU,
    ``torch.topk``/``kthvalue`` elsewhere); entries above ``t`` are kept, and the entries equal to
    ``t`` are filled in index order. NaN counts as ``-inf``.

    Args:
        flat: scores ``(S, N)``, higher = keep (any real dtype, any device).
        k: entries kept per row; ``k >= N`` keeps everything.

        return_threshold: also return the ``k``-th largest value of each row, ``(S, 1)``.

    Returns:
        ``(S, N)`` bool tensor on ``flat``'s device with exactly ``min(k, N)`` True per row
        (and the thresholds, with ``return_threshold``).
    """
    S, N = flat.shape
    if k >= N:
        keep = torch.ones_like(flat, dtype=torch.bool)
        return (keep, flat.amin(dim=-1, keepdim=True)) if return_threshold else keep
    # NaN -> -inf; the row sums are a cheap pre-check (NaN iff a NaN, or both +inf and -inf)
    if flat.is_floating_point() and bool(torch.isnan(flat.sum(dim=-1)).any()):
        flat = flat.masked_fill(torch.isnan(flat), -math.inf)
    thr = _kth_largest(flat, k).to(flat.device)
    if flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64):
        keep = torch.from_numpy(_fill_ties_numpy(flat.detach().numpy(), thr.numpy(), k))
    else:
        keep = flat >= thr
        if not bool((keep.sum(dim=-1) == k).all()):
            above = flat > thr
            tied = keep & ~above
            need = k - above.sum(dim=-1, keepdim=True)
            keep = above | (tied & (tied.cumsum(dim=-1) <= need))
    return (keep, thr) if return_threshold else keep


def _flip_uniform(mask: np.ndarray, value: bool, count: int, rng: np.random.Generator) -> None:
    """Flip ``count`` uniformly chosen entries of ``mask`` (1-D bool) that equal ``value``, in place.

    Sequential rejection sampling of positions: i.i.d. uniform positions, keep those of the wanted
    class in order of first occurrence; drawn in batches sized from the class's frequency.
    """
    n = mask.size
    while count > 0:
        frac = max(np.count_nonzero(mask == value) / n, 1.0 / n)
        draws = rng.integers(0, n, size=int(1.25 * count / frac) + 64)
        draws = draws[mask[draws] == value]
        _, first = np.unique(draws, return_index=True)
        chosen = draws[np.sort(first)][:count]
        mask[chosen] = not value
        count -= chosen.size


def random_subset(
    generators: Sequence[np.random.Generator], total: int, k: int, device=None
) -> torch.Tensor:
    """A uniformly random set of exactly ``k`` of ``total`` entries per seed (Random pruning).

    Args:
        generators: one :class:`numpy.random.Generator` per seed (seed ``s`` draws the same set
            alone or in a batch).
        total: entries per seed ``N >= 1``.
        k: entries kept, ``1 <= k <= N``.
        device: torch device of the result (drawn on the CPU, then moved).

    Returns:
        ``(S, N)`` bool tensor, exactly ``k`` True per row, each row a uniform ``k``-subset.
    """
    rows = []
    t = min(255, max(1, round(256 * k / total)))  # Bernoulli(t / 256) first, close to k / N
    for rng in generators:
        if k >= total:
            rows.append(np.ones(total, dtype=bool))
            continue
        row = rng.integers(0, 256, size=total, dtype=np.uint8) < t
        surplus = int(np.count_nonzero(row)) - k
        if surplus > 0:
            _flip_uniform(row, True, surplus, rng)
        elif surplus < 0:
            _flip_uniform(row, False, -surplus, rng)
        rows.append(row)
    return torch.from_numpy(np.stack(rows)).to(device or "cpu")
