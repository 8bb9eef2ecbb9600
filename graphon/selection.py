"""Exact-density selection: keep exactly ``k`` entries per seed, at the machine's memory bandwidth.

One job: turn scores into boolean keep-masks with exactly ``k = round(rho N)`` entries per seed
(:func:`kept_count`), and draw Random pruning's kept set directly (:func:`random_subset`).

* :func:`keep_top` keeps the ``k`` largest scores of each row of an ``(S, N)`` tensor, ties broken
  as a stable descending sort would (among equal scores the lower index is kept), NaN ranked last.
  On the CPU the ``k``-th largest value of a long row is found inside a bracket placed by a strided
  sample (two compares and a count over the row, then a partition of the few candidates), with a
  plain ``numpy.partition`` for short rows and whenever the bracket misses (``torch.kthvalue`` and
  ``torch.topk`` are about ten times slower on a CPU, see ``benchmarks/``); on a GPU from
  ``torch.topk``/``kthvalue``. All give the same threshold, hence bit-identical masks.
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
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

__all__ = ["kept_count", "count_kept", "keep_top", "random_subset"]


def kept_count(density: float, total: int) -> int:
    """Number of entries kept at ``density`` out of ``total``: ``round(density * total)``, at least 1
    and at most ``total`` (the exact-density rule of every mask in :mod:`graphon`)."""
    return min(max(1, round(density * total)), total)


def count_kept(keep: torch.Tensor) -> torch.Tensor:
    """Number of True entries of each seed of a boolean mask ``(S, ...)``: an int64 ``(S,)`` tensor
    on ``keep``'s device (on the CPU by ``numpy.count_nonzero``, about nine times faster there
    than torch's boolean ``sum``, which widens every entry to int64 first)."""
    S = keep.shape[0]
    if keep.device.type == "cpu" and keep.is_contiguous():
        a = keep.numpy().reshape(S, -1)
        return torch.tensor([np.count_nonzero(row) for row in a], dtype=torch.int64)
    return keep.reshape(S, -1).sum(dim=1)


def _kth_largest(flat: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th largest value of each row of ``flat`` ``(S, N)``, shape ``(S, 1)`` (GPU and
    non-float dtypes; float rows on the CPU go through :func:`_keep_top_numpy`)."""
    N = flat.shape[1]
    if k <= 0.3 * N:  # a partial top-k is faster than kthvalue away from the median
        return flat.topk(k, dim=-1, sorted=False).values.amin(dim=-1, keepdim=True)
    if N - k + 1 <= 0.3 * N:
        return flat.topk(N - k + 1, dim=-1, largest=False, sorted=False).values.amax(
            dim=-1, keepdim=True
        )
    return flat.kthvalue(N - k + 1, dim=-1, keepdim=True).values


_BRACKET_MIN = 1 << 18
"""Rows at least this long are selected by a sampled bracket (:func:`_bracketed_row`); shorter
rows by one ``numpy.partition``, which is as fast there."""

_SAMPLE = 1 << 16
"""About this many entries of a row (every ``N // _SAMPLE``-th) place the bracket."""

_MARGIN = 5.0
"""Half-width of the bracket in standard deviations of the sample rank of the ``k``-th value."""

_CHUNK = 1 << 18
"""Entries per chunk of :func:`_bracketed_row` (1 MiB of float32: after the first compare the
chunk, its ``|.|`` buffer with ``absolute`` and its candidate flags are read from cache)."""


def _bracketed_row(row: np.ndarray, k: int, out: np.ndarray, absolute: bool):
    """The ``k``-th largest value ``t`` of ``row`` (1-D; of ``|row|`` with ``absolute``), writing
    the keep-mask into ``out``, or ``None`` when the sampled bracket misses ``t`` (``out`` is then
    garbage and the caller falls back).

    A strided sample of about :data:`_SAMPLE` entries gives values ``lo <= hi`` whose sample ranks
    lie :data:`_MARGIN` binomial standard deviations (plus 2) either side of the sample rank of
    ``t``. Chunk by chunk (:data:`_CHUNK`), two compares mark the entries above ``hi`` (in ``out``)
    and collect the candidates in ``[lo, hi]``; if ``c_hi = #{row > hi} < k <= c_hi +
    #candidates``, ``t`` lies in ``[lo, hi]`` and is the ``(k - c_hi)``-th largest candidate (one
    small partition). Exact whatever the sample, since a missed bracket shows in the counts (so
    does a NaN in the sample, whose compares are all false; NaN entries are never candidates and
    never kept). The entries above ``hi`` are kept, then the candidates above ``t``, then the
    candidates equal to ``t`` in index order up to ``k``: the stable-sort tie rule. Cost: one read
    of the scores and one write of the mask, the rest in cache, against introselect's
    data-dependent swaps over a copy.
    """
    N = row.size
    sample = row[:: N // _SAMPLE]
    sample = np.abs(sample) if absolute else sample.copy()
    m, p = sample.size, k / N
    centre, half = (1.0 - p) * m, _MARGIN * math.sqrt(m * p * (1.0 - p)) + 2.0
    ranks = [max(0, math.floor(centre - half)), min(m - 1, math.ceil(centre + half))]
    sample.partition(ranks)  # NaN sorts last, as in np.sort
    lo, hi = sample[ranks[0]], sample[ranks[1]]
    size = min(N, _CHUNK)
    buf = np.empty(size, dtype=row.dtype) if absolute else None
    between = np.empty(size, dtype=bool)
    c_hi, where, values = 0, [], []
    for i in range(0, N, _CHUNK):
        c, o = row[i : i + _CHUNK], out[i : i + _CHUNK]
        b = between[: c.size]
        if absolute:
            c = np.abs(c, out=buf[: c.size])
        np.greater(c, hi, out=o)
        np.greater_equal(c, lo, out=b)
        np.logical_xor(b, o, out=b)  # lo <= c <= hi
        c_hi += int(np.count_nonzero(o))
        where.append(np.flatnonzero(b) + i)
        values.append(c[b])  # gathered while the chunk is in cache
    idx, vals = np.concatenate(where), np.concatenate(values)
    if not c_hi < k <= c_hi + idx.size:
        return None
    r = k - c_hi
    t = np.partition(vals, vals.size - r)[vals.size - r]
    above = vals > t
    out[idx[above]] = True
    need = r - int(np.count_nonzero(above))
    if need:
        out[idx[vals == t][:need]] = True
    return t


def _partitioned_row(row: np.ndarray, k: int, out: np.ndarray, absolute: bool):
    """:func:`_bracketed_row` by one ``numpy.partition`` of a copy (NaN mapped to ``-inf``)."""
    row = np.abs(row) if absolute else row
    if np.isnan(row).any():
        row = np.where(np.isnan(row), -np.inf, row)
    N = row.size
    t = np.partition(row, N - k)[N - k]
    np.greater(row, t, out=out)
    need = k - int(np.count_nonzero(out))
    if need:
        out[np.flatnonzero(row == t)[:need]] = True
    return t


def _keep_top_numpy(a: np.ndarray, k: int, absolute: bool) -> tuple[np.ndarray, np.ndarray]:
    """Keep-mask ``(S, N)`` and ``k``-th largest values ``(S, 1)`` of the rows of ``a`` (of ``|a|``
    with ``absolute``), row by row (numpy: its compares and counts run about five times faster
    than torch's on this kind of CPU), long rows on a pool of ``torch.get_num_threads()`` threads
    (each row's result depends on that row only). Long rows use :func:`_bracketed_row`; short
    rows, and any row whose bracket misses, :func:`_partitioned_row`."""
    S, N = a.shape
    keep = np.empty((S, N), dtype=bool)
    thr = np.empty((S, 1), dtype=a.dtype)

    def select(s: int) -> None:
        t = _bracketed_row(a[s], k, keep[s], absolute) if N >= _BRACKET_MIN else None
        thr[s, 0] = _partitioned_row(a[s], k, keep[s], absolute) if t is None else t

    workers = min(S, torch.get_num_threads())
    if workers > 1 and N >= _BRACKET_MIN:  # numpy releases the GIL: one row per thread
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(select, range(S)))
    else:
        for s in range(S):
            select(s)
    return keep, thr


def keep_top(flat: torch.Tensor, k: int, return_threshold: bool = False, *, absolute: bool = False):
    """Boolean mask keeping exactly the ``k`` largest entries of each row of ``flat`` ``(S, N)``.

    Same result as a stable descending sort (ties go to the lower index), in O(N) per row: the
    ``k``-th largest value ``t`` of every row (on the CPU a sampled bracket then a partition of the
    candidates, :func:`_bracketed_row`, or one ``numpy.partition``; ``torch.topk``/``kthvalue``
    elsewhere); entries above ``t`` are kept, and the entries equal to ``t`` are filled in index
    order. NaN counts as ``-inf``.

    Args:
        flat: scores ``(S, N)``, higher = keep (any real dtype, any device).
        k: entries kept per row; ``k >= N`` keeps everything.
        return_threshold: also return the ``k``-th largest value of each row, ``(S, 1)``.
        absolute: rank ``|flat|`` (Magnitude pruning, magnitude GraSP) without allocating it: on
            the CPU ``|.|`` is taken chunk by chunk inside the selection. Same mask and threshold
            as ``keep_top(flat.abs(), k)``.

    Returns:
        ``(S, N)`` bool tensor on ``flat``'s device with exactly ``min(k, N)`` True per row
        (and the thresholds, with ``return_threshold``).
    """
    S, N = flat.shape
    if k >= N:
        keep = torch.ones_like(flat, dtype=torch.bool)
        low = (flat.abs() if absolute else flat).amin(dim=-1, keepdim=True)
        return (keep, low) if return_threshold else keep
    if flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64):
        keep, thr = (
            torch.from_numpy(t) for t in _keep_top_numpy(flat.detach().numpy(), k, absolute)
        )
        return (keep, thr) if return_threshold else keep
    flat = flat.abs() if absolute else flat
    # NaN -> -inf; the row sums are a cheap pre-check (NaN iff a NaN, or both +inf and -inf)
    if flat.is_floating_point() and bool(torch.isnan(flat.sum(dim=-1)).any()):
        flat = flat.masked_fill(torch.isnan(flat), -math.inf)
    thr = _kth_largest(flat, k)
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


def _random_bytes(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` uniform random bytes, bit-identical to ``rng.integers(0, 256, size, dtype=uint8)``
    (same bytes, same generator state afterwards, on a little-endian CPU; checked in
    ``tests/test_selection.py``) at about
    a third of its cost: whole 64-bit words of the bit generator, viewed as bytes, then the
    ``size % 8`` remaining bytes from ``integers``."""
    head = rng.bit_generator.random_raw(size // 8).view(np.uint8)
    if size % 8 == 0:
        return head
    return np.concatenate([head, rng.integers(0, 256, size=size % 8, dtype=np.uint8)])


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
        row = _random_bytes(rng, total) < t
        surplus = int(np.count_nonzero(row)) - k
        if surplus > 0:
            _flip_uniform(row, True, surplus, rng)
        elif surplus < 0:
            _flip_uniform(row, False, -surplus, rng)
        rows.append(row)
    return torch.from_numpy(np.stack(rows)).to(device or "cpu")
