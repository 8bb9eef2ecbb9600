"""Step graphons of masks, empirical (SAS-style) graphons, and cut norms.

A pruning mask ``M`` of shape ``(n, d)`` (torch layout out x in: row ``i`` = output-side/hidden
neuron, column ``j`` = input-side neuron) is read as the biadjacency matrix of a bipartite graph.
Its **step kernel** is the bipartite graphon ``W_M(u, v) = M[floor(u n), floor(v d)]`` on
``[0, 1]^2`` (Lovász 2012, *Large Networks and Graph Limits*, §7.1; predecessor paper
arXiv 2510.17515, §4.1). Rows and columns are different vertex sets, so ``W_M`` is not symmetric and
the two sides are relabelled independently.

Conventions used throughout:

* Masks come with a leading seed axis ``(S, n, d)``; a single ``(n, d)`` mask is also accepted and
  the seed axis is then dropped from the results. Boolean or float masks are both accepted.
* Every batched computation is one tensor operation over the seed axis (seed chunks only bound
  memory).
* The **cut norm is normalised**: for a real ``(m, n)`` matrix ``D`` with row weights ``w`` and
  column weights ``c`` (default ``1/m`` and ``1/n``, i.e. ``D`` read as a step function on equal
  cells of ``[0, 1]^2``), ``||D||_cut = max_{S, T} |sum_{i in S, j in T} D_ij w_i c_j|``
  (Frieze & Kannan 1999; Lovász 2012, §8.1). For a step function it equals the cut norm of the
  function on ``[0, 1]^2``.
* The **cut distance** ``delta_cut(U, W) = inf_{phi, psi} ||U - W^{phi, psi}||_cut`` minimises
  over measure-preserving relabellings ``phi`` (rows) and ``psi`` (columns). No tractable exact
  algorithm exists. As in SAS (Chan & Airoldi 2014) and the predecessor paper (App. C), we fix one
  alignment by sorting each side by degree; the labelled cut norm after that alignment is an
  **upper bound** on ``delta_cut`` and is itself bracketed by :func:`cut_norm_lower` and
  :func:`cut_norm_upper` (see :func:`cut_distance`).

Sources: Lovász (2012) for step kernels and the cut norm; Frieze & Kannan (1999) for the cut norm;
Alon & Naor (2006) for its hardness and the ``||.||_{inf->1}`` relation; Chan & Airoldi (2014) for
sorting-and-smoothing (SAS); the predecessor paper (Pham et al., arXiv 2510.17515, App. C) for the
degree-sorted block histograms of masks. The exact enumeration, its extension to step functions on
unequal blocks (bilinearity), the alternating maximisation and the L1/spectral bounds are standard
facts collected in ``research/prior_and_code.md`` §D.4.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .device import generator, resolve_device
from .validation import check_positive_int

__all__ = [
    "CutDistance",
    "StepGraphon",
    "block_average",
    "cut_distance",
    "cut_norm",
    "cut_norm_exact",
    "cut_norm_lower",
    "cut_norm_upper",
    "degree_sort",
    "empirical_graphon",
    "consecutive_cut_norms",
    "graphon_on_grid",
    "neuron_probabilities",
    "step_kernel",
]

#: Largest smaller side accepted by :func:`cut_norm_exact` (2**22 subsets).
EXACT_MAX_SIDE = 22

# Work on at most this many matrix entries at a time when chunking over seeds.
_CHUNK_ELEMENTS = 1 << 25


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a tensor or array, got {type(x).__name__}") from None


def _batched(masks, name: str = "masks") -> tuple[torch.Tensor, bool]:
    """Return ``(masks as (S, n, d), was_single)``; raise ValueError on other ranks."""
    m = _as_tensor(masks, name)
    if m.ndim == 2:
        return m.unsqueeze(0), True
    if m.ndim == 3:
        return m, False
    raise ValueError(f"{name} must have shape (n, d) or (S, n, d), got shape {tuple(m.shape)}")


def _float(m: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return m if m.dtype == dtype else m.to(dtype)


def _blocks_pair(blocks, name: str = "blocks") -> tuple[int, int]:
    if isinstance(blocks, Sequence) and not isinstance(blocks, str):
        if len(blocks) != 2:
            raise ValueError(f"{name} must be an integer >= 1 or a pair (Kr, Kc), got {blocks!r}")
        return check_positive_int(blocks[0], name), check_positive_int(blocks[1], name)
    k = check_positive_int(blocks, name)
    return k, k


def _assignment(size: int, k: int, device, dtype=torch.float32) -> torch.Tensor:
    """(k, size) averaging matrix: entry (b, i) = 1/|block b| if floor(i k / size) == b."""
    idx = (torch.arange(size, device=device) * k) // size
    a = torch.zeros(k, size, device=device, dtype=dtype)
    a[idx, torch.arange(size, device=device)] = 1.0
    return a / a.sum(dim=1, keepdim=True)


def _edges(widths: torch.Tensor) -> torch.Tensor:
    """Cumulative block edges ``[0, w0, w0+w1, ..., 1]`` (last edge forced to exactly 1)."""
    e = torch.cat([widths.new_zeros(1), torch.cumsum(widths, 0)])
    e[-1] = 1.0
    return e


def _overlap(edges_a: torch.Tensor, edges_b: torch.Tensor) -> torch.Tensor:
    """(len(a)-1, len(b)-1) lengths of the intersections of the intervals of two partitions."""
    lo = torch.maximum(edges_a[:-1, None], edges_b[None, :-1])
    hi = torch.minimum(edges_a[1:, None], edges_b[None, 1:])
    return (hi - lo).clamp_min(0.0)


# ----------------------------------------------------------------------------------------------
# step graphons
# ----------------------------------------------------------------------------------------------


@dataclass
class StepGraphon:
    """A bipartite step graphon: value ``values[a, b]`` on the cell ``I_a x J_b`` of ``[0, 1]^2``.

    Attributes:
        values: ``(Kr, Kc)`` tensor of cell values (edge densities in ``[0, 1]`` for a graphon;
            any real values for a difference kernel).
        row_widths: optional ``(Kr,)`` lengths of the row intervals ``I_a`` (positive, summing to
            1); ``None`` means equal widths ``1/Kr``.
        col_widths: optional ``(Kc,)`` lengths of the column intervals ``J_b``; ``None`` = ``1/Kc``.

    Source: step functions of Lovász (2012), §7.1; the block-width form follows pygraphon's
    ``StepGraphon(theta, bandwidth)`` (research/prior_and_code.md §D.1), generalised to unequal,
    rectangular partitions.

    Raises:
        ValueError: if ``values`` is not 2-D or the widths do not match, are not positive, or do not
            sum to 1 (to 1e-6).
    """

    values: torch.Tensor
    row_widths: torch.Tensor | None = None
    col_widths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.values = _as_tensor(self.values, "values")
        if self.values.ndim != 2:
            raise ValueError(
                f"values must have shape (Kr, Kc), got shape {tuple(self.values.shape)}"
            )
        if not self.values.is_floating_point():
            self.values = self.values.to(torch.float32)
        for name, k in (("row_widths", 0), ("col_widths", 1)):
            w = getattr(self, name)
            if w is None:
                continue
            w = _as_tensor(w, name).to(device=self.values.device, dtype=torch.float64)
            if w.ndim != 1 or w.numel() != self.values.shape[k]:
                raise ValueError(
                    f"{name} must have shape ({self.values.shape[k]},), got {tuple(w.shape)}"
                )
            if bool((w <= 0).any()) or abs(float(w.sum()) - 1.0) > 1e-6:
                raise ValueError(
                    f"{name} must be positive and sum to 1, got sum {float(w.sum()):.6g}"
                )
            setattr(self, name, w)

    @property
    def shape(self) -> tuple[int, int]:
        """``(Kr, Kc)``."""
        return tuple(self.values.shape)

    def widths(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column widths as float64 tensors (equal widths filled in)."""
        kr, kc = self.shape
        dev = self.values.device
        rw = (
            self.row_widths
            if self.row_widths is not None
            else torch.full((kr,), 1.0 / kr, dtype=torch.float64, device=dev)
        )
        cw = (
            self.col_widths
            if self.col_widths is not None
            else torch.full((kc,), 1.0 / kc, dtype=torch.float64, device=dev)
        )
        return rw, cw

    def __call__(self, u, v) -> torch.Tensor:
        """Evaluate ``W(u, v)`` at points of ``[0, 1]`` (broadcasting ``u`` against ``v``).

        ``u = 1`` (or ``v = 1``) is mapped to the last block. Returns a tensor on the device of
        ``values``.
        """
        dev = self.values.device
        u = torch.as_tensor(u, dtype=torch.float64, device=dev)
        v = torch.as_tensor(v, dtype=torch.float64, device=dev)
        kr, kc = self.shape
        rw, cw = self.widths()
        re, ce = _edges(rw), _edges(cw)
        iu = (torch.searchsorted(re, u.contiguous(), right=True) - 1).clamp(0, kr - 1)
        iv = (torch.searchsorted(ce, v.contiguous(), right=True) - 1).clamp(0, kc - 1)
        iu, iv = torch.broadcast_tensors(iu, iv)
        return self.values[iu, iv]

    def integral(self) -> float:
        """``int_0^1 int_0^1 W(u, v) du dv`` (the edge density of the graphon)."""
        rw, cw = self.widths()
        return float(rw @ self.values.to(torch.float64) @ cw)

    def on_grid(self, blocks, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Exact averages of ``W`` over an equal ``(Kr', Kc')`` grid (``blocks`` int or pair).

        Computed from the overlaps of the two partitions, so no quadrature error. Returns a
        ``(Kr', Kc')`` tensor on the device of ``values``.
        """
        kr2, kc2 = _blocks_pair(blocks)
        dev = self.values.device
        rw, cw = self.widths()
        orow = (
            _overlap(torch.linspace(0, 1, kr2 + 1, dtype=torch.float64, device=dev), _edges(rw))
            * kr2
        )
        ocol = (
            _overlap(torch.linspace(0, 1, kc2 + 1, dtype=torch.float64, device=dev), _edges(cw))
            * kc2
        )
        return (orow @ self.values.to(torch.float64) @ ocol.T).to(dtype)


def step_kernel(mask) -> StepGraphon:
    """Step kernel ``W_M(u, v) = M[floor(u n), floor(v d)]`` of one ``(n, d)`` mask.

    Args:
        mask: ``(n, d)`` tensor (bool or float). Row ``i`` occupies ``[i/n, (i+1)/n)``, column ``j``
            occupies ``[j/d, (j+1)/d)``.

    Returns:
        A :class:`StepGraphon` with equal widths; ``step_kernel(M).integral()`` is the density.

    Raises:
        ValueError: if ``mask`` is not 2-D.

    Source: Lovász (2012), §7.1; predecessor paper arXiv 2510.17515, §4.1 (bipartite form).
    """
    m = _as_tensor(mask, "mask")
    if m.ndim != 2:
        raise ValueError(f"mask must have shape (n, d), got shape {tuple(m.shape)}")
    return StepGraphon(_float(m))


def _as_graphon(graphon) -> StepGraphon | Callable:
    if isinstance(graphon, StepGraphon) or callable(graphon):
        return graphon
    t = _as_tensor(graphon, "graphon")
    if t.ndim != 2:
        raise ValueError(
            f"graphon must be a callable W(u, v), a StepGraphon or a (Kr, Kc) tensor, got shape {tuple(t.shape)}"
        )
    return StepGraphon(t)


def graphon_on_grid(
    W, blocks, quad: int = 8, device="auto", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Block averages of a graphon over an equal ``(Kr, Kc)`` grid of ``[0, 1]^2``.

    Args:
        W: a callable ``W(u, v)`` taking float64 tensors that broadcast (``u`` of shape ``(R, 1)``,
            ``v`` of shape ``(1, C)``) and returning a tensor of the broadcast shape; or a
            :class:`StepGraphon` / ``(K, K)`` tensor (then averaged exactly, ``quad`` unused).
        blocks: ``K`` or ``(Kr, Kc)``.
        quad: midpoint-rule points per block side (``quad**2`` evaluations per block); the error is
            ``O(1/(K quad)^2)`` for smooth ``W``.
        device: where to evaluate (``"auto"``, ``"cpu"``, ``"cuda"``); a step graphon stays on its
            own device.

    Returns:
        ``(Kr, Kc)`` tensor of block averages.

    Raises:
        ValueError: for ``blocks`` or ``quad`` < 1, or a graphon of the wrong kind.
    """
    kr, kc = _blocks_pair(blocks)
    quad = check_positive_int(quad, "quad")
    g = _as_graphon(W)
    if isinstance(g, StepGraphon):
        return g.on_grid((kr, kc), dtype=dtype)
    dev = resolve_device(device)
    u = (torch.arange(kr * quad, device=dev, dtype=torch.float64) + 0.5) / (kr * quad)
    v = (torch.arange(kc * quad, device=dev, dtype=torch.float64) + 0.5) / (kc * quad)
    vals = torch.as_tensor(g(u[:, None], v[None, :]), device=dev, dtype=torch.float64)
    vals = torch.broadcast_to(vals, (kr * quad, kc * quad))
    return vals.reshape(kr, quad, kc, quad).mean(dim=(1, 3)).to(dtype)


def neuron_probabilities(W, n: int, d: int | None = None, device="auto") -> torch.Tensor:
    """Connection probabilities ``P[i, j] = W(u_i, v_j)`` of ``n`` hidden neurons, shape ``(n, d)``.

    Hidden neuron ``i`` sits at ``u_i = (i + 1/2)/n`` and input coordinate ``j`` at
    ``v_j = (j + 1/2)/d`` (0-based): the W-random bipartite graph with deterministic latent
    positions (Lovasz 2012, Ch. 10). This is the one place where hidden neurons are mapped to graphon
    rows (used by :func:`graphon.expressivity.sample_graphon_masks`,
    :func:`graphon.expressivity.dense_core_distribution` and :func:`graphon.ntk.first_layer_masks`).

    Args:
        W: a :class:`StepGraphon` (evaluated exactly by :meth:`StepGraphon.__call__`, unequal blocks
            included); a ``(K, D)`` tensor/array of step values on equal row blocks (neuron ``i``
            reads row ``floor((2i + 1) K / (2n))``, computed in integers; if ``d != D`` column ``j``
            reads ``floor((2j + 1) D / (2d))``); a ``(D,)`` vector (constant in ``u``); a number
            (constant graphon; needs ``d``); or a callable ``W(u, v)`` on broadcast float64 tensors
            (evaluated exactly at the positions; needs ``d``).
        n: number of hidden neurons (>= 1).
        d: number of input coordinates (default: the table's column count).
        device: where the result lives.

    Returns:
        float64 tensor ``(n, d)`` on ``device``.

    Raises:
        ValueError: ``n`` or ``d`` < 1, a number or callable without ``d``, a table that is not 1-D
            or 2-D, values that are not finite or lie outside [0, 1].
    """
    n = check_positive_int(n, "n")
    if d is not None:
        d = check_positive_int(d, "d")
    dev = resolve_device(device)
    f64 = torch.float64
    if isinstance(W, StepGraphon) and W.row_widths is None and W.col_widths is None:
        W = W.values  # equal blocks: the table rule below is exact (integer arithmetic)
    if isinstance(W, StepGraphon):
        d = W.shape[1] if d is None else d
        u = (torch.arange(n, dtype=f64) + 0.5) / n
        v = (torch.arange(d, dtype=f64) + 0.5) / d
        vals = W(u[:, None], v[None, :]).detach().to(device=dev, dtype=f64)
    elif callable(W) and not isinstance(W, torch.Tensor):
        if d is None:
            raise ValueError("d must be given to evaluate a callable graphon W(u, v)")
        u = (torch.arange(n, device=dev, dtype=f64) + 0.5) / n
        v = (torch.arange(d, device=dev, dtype=f64) + 0.5) / d
        vals = torch.as_tensor(W(u[:, None], v[None, :]), dtype=f64, device=dev)
        vals = torch.broadcast_to(vals, (n, d)).clone()
    elif isinstance(W, (int, float)) and not isinstance(W, bool):
        if d is None:
            raise ValueError("d must be given for a constant graphon")
        vals = torch.full((n, d), float(W), dtype=f64, device=dev)
    else:
        t = _as_tensor(W, "W").detach().to(device=dev, dtype=f64)
        if t.ndim == 1:
            t = t[None, :]
        if t.ndim != 2:
            raise ValueError(
                f"W must be a StepGraphon, a callable, a number or a (K, d) table, got shape "
                f"{tuple(t.shape)}"
            )
        k, cols = t.shape
        rows = ((2 * torch.arange(n, device=dev) + 1) * k) // (2 * n)
        vals = t[rows.clamp_max(k - 1)]
        if d is not None and d != cols:
            idx = ((2 * torch.arange(d, device=dev) + 1) * cols) // (2 * d)
            vals = vals[:, idx.clamp_max(cols - 1)]
    if not torch.isfinite(vals).all():
        raise ValueError("W must have finite values in [0, 1]")
    if vals.numel() and (float(vals.min()) < 0.0 or float(vals.max()) > 1.0):
        raise ValueError(
            f"W must hold probabilities in [0, 1], got range "
            f"[{float(vals.min()):.4g}, {float(vals.max()):.4g}]"
        )
    return vals


# ----------------------------------------------------------------------------------------------
# degree sorting, block averages, empirical graphon
# ----------------------------------------------------------------------------------------------


def degree_sort(masks, descending: bool = True, sort_columns: bool = True):
    """Sort rows by row degree and columns by column degree, each side independently, per seed.

    Args:
        masks: ``(S, n, d)`` or ``(n, d)`` (bool or float).
        descending: highest degree first (the SAS / pygraphon convention) when True; ascending
            (lowest degree first, matching the neuron-CDF coordinate ``u = F_alpha(alpha_i)`` of the
            limit formula in :mod:`graphon.saliency_model`) when False.
        sort_columns: sort columns too (False keeps columns in their natural order).

    Returns:
        ``(sorted_masks, row_order, col_order)`` with ``sorted_masks[s] = masks[s][row_order[s]]
        [:, col_order[s]]``; ``row_order`` is ``(S, n)``, ``col_order`` is ``(S, d)`` (identity when
        ``sort_columns`` is False). Without a seed axis the results have none either.
        The sort is stable: ties keep increasing index order (a deterministic tie-break).

    Raises:
        ValueError: for a mask that is not 2-D or 3-D.

    Source: degree sorting of SAS, Chan & Airoldi (2014); predecessor paper App. C (rows sorted by
    in-degree, columns by out-degree, independently).
    """
    m, single = _batched(masks)
    f = _float(m) if not m.is_floating_point() else m
    rdeg = f.sum(dim=2)
    row_order = torch.sort(rdeg, dim=1, descending=descending, stable=True).indices
    out = torch.gather(m, 1, row_order[:, :, None].expand(-1, -1, m.shape[2]))
    if sort_columns:
        cdeg = f.sum(dim=1)
        col_order = torch.sort(cdeg, dim=1, descending=descending, stable=True).indices
        out = torch.gather(out, 2, col_order[:, None, :].expand(-1, m.shape[1], -1))
    else:
        col_order = torch.arange(m.shape[2], device=m.device).expand(m.shape[0], -1).clone()
    if single:
        return out[0], row_order[0], col_order[0]
    return out, row_order, col_order


def block_average(masks, blocks) -> torch.Tensor:
    """Block densities of masks on near-equal contiguous blocks.

    Row ``i`` goes to block ``floor(i Kr / n)`` and column ``j`` to ``floor(j Kc / d)``; each block
    value is the mean of the mask entries in it (blocks differ in size by at most one row/column).

    Args:
        masks: ``(S, n, d)`` or ``(n, d)``.
        blocks: ``K`` or ``(Kr, Kc)`` with ``1 <= Kr <= n`` and ``1 <= Kc <= d``.

    Returns:
        ``(S, Kr, Kc)`` float32 tensor (``(Kr, Kc)`` for a single mask), on the masks' device.

    Raises:
        ValueError: if a block count is < 1 or exceeds the corresponding side (``blocks``).

    Source: the histogram step of SAS without smoothing (Chan & Airoldi 2014; predecessor App. C).
    """
    m, single = _batched(masks)
    kr, kc = _blocks_pair(blocks)
    n, d = m.shape[1], m.shape[2]
    if kr > n or kc > d:
        raise ValueError(f"blocks must be <= the mask sides (n={n}, d={d}), got ({kr}, {kc})")
    ar = _assignment(n, kr, m.device)
    ac = _assignment(d, kc, m.device)
    s = m.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n * d))
    out = torch.cat([ar @ _float(m[i : i + chunk]) @ ac.T for i in range(0, s, chunk)])
    return out[0] if single else out


def sorted_block_average(
    masks, blocks, descending: bool = False, sort_columns: bool = True
) -> torch.Tensor:
    """Block densities of degree-sorted masks, without sorting the masks.

    Equal to ``block_average(degree_sort(masks, descending, sort_columns)[0], blocks)`` (same
    stable tie-break, same blocks; equal up to float summation order): a row of sorted position
    ``p`` goes to block ``floor(p Kr / n)``, so the block sums are ``A_r M A_c^T`` with the
    averaging matrices' columns permuted by the inverse of the degree order. Two matrix products
    instead of two gathers of the whole mask.

    Args:
        masks: ``(S, n, d)`` or ``(n, d)`` (bool or float).
        blocks: ``K`` or ``(Kr, Kc)`` with ``Kr <= n`` and ``Kc <= d``.
        descending, sort_columns: as in :func:`degree_sort`.

    Returns:
        ``(S, Kr, Kc)`` float32 (``(Kr, Kc)`` for a single mask), on the masks' device.

    Raises:
        ValueError: for a bad shape or ``blocks`` (see :func:`block_average`).

    Source: as :func:`degree_sort` and :func:`block_average` (SAS, Chan & Airoldi 2014).
    """
    m, single = _batched(masks)
    kr, kc = _blocks_pair(blocks)
    S, n, d = m.shape
    if kr > n or kc > d:
        raise ValueError(f"blocks must be <= the mask sides (n={n}, d={d}), got ({kr}, {kc})")
    f = _float(m) if not m.is_floating_point() else m.to(torch.float32)

    def permuted(assign: torch.Tensor, degrees: torch.Tensor | None) -> torch.Tensor:
        if degrees is None:
            return assign.expand(S, -1, -1)
        order = torch.sort(degrees, dim=1, descending=descending, stable=True).indices
        rank = torch.argsort(order, dim=1)  # sorted position of each row
        return assign[:, rank].permute(1, 0, 2)  # (S, K, size)

    ar = permuted(_assignment(n, kr, m.device), f.sum(dim=2))
    ac = permuted(_assignment(d, kc, m.device), f.sum(dim=1) if sort_columns else None)
    out = torch.bmm(torch.bmm(ar, f), ac.transpose(1, 2))
    return out[0] if single else out


def empirical_graphon(
    masks,
    blocks=32,
    sort: bool = True,
    sort_columns: bool = True,
    descending: bool = False,
) -> torch.Tensor:
    """Seed-averaged, degree-sorted block histogram of masks (SAS without smoothing).

    Each seed's mask is degree-sorted (rows by row degree, columns by column degree, independently),
    block-averaged on a ``(Kr, Kc)`` grid, and the histograms are averaged over seeds.

    Args:
        masks: ``(S, n, d)`` or ``(n, d)``.
        blocks: ``K`` or ``(Kr, Kc)`` (default 32).
        sort: degree-sort rows (and columns) first; False uses the masks as given (e.g. masks already
            ordered by their factor, see :func:`graphon.saliency_model.FactorisedSaliencyModel.sample_masks`).
        sort_columns: also sort columns; False keeps the input coordinates in natural order (needed
            when columns are identifiable input features).
        descending: sort direction. The default ``False`` (ascending: low degree at ``u = 0``) matches
            the neuron-CDF coordinates of :mod:`graphon.saliency_model`, whose limit graphons increase
            in ``u`` and ``v``; use ``True`` for the SAS picture with hubs first.

    Returns:
        ``(Kr, Kc)`` float32 tensor of edge densities on the masks' device.

    Raises:
        ValueError: for a bad shape or ``blocks`` (see :func:`block_average`).

    Source: Chan & Airoldi (2014); predecessor paper arXiv 2510.17515, App. C (K = 64 there).
    """
    m, _ = _batched(masks)
    kr, kc = _blocks_pair(blocks)
    if kr > m.shape[1] or kc > m.shape[2]:
        raise ValueError(
            f"blocks must be <= the mask sides (n={m.shape[1]}, d={m.shape[2]}), got ({kr}, {kc})"
        )
    chunk = max(1, _CHUNK_ELEMENTS // max(1, m.shape[1] * m.shape[2]))
    total = None
    for i in range(0, m.shape[0], chunk):
        part = m[i : i + chunk]
        if sort:
            part = degree_sort(part, descending=descending, sort_columns=sort_columns)[0]
        h = block_average(part, (kr, kc)).sum(dim=0)
        total = h if total is None else total + h
    return total / m.shape[0]


# ----------------------------------------------------------------------------------------------
# cut norm
# ----------------------------------------------------------------------------------------------


def _weighted(D, row_weights, col_weights, dtype=torch.float64):
    """Return ``(C = w_i D_ij c_j as (B, m, n), batch shape, was_2d)``."""
    D = _as_tensor(D, "D")
    if D.ndim < 2:
        raise ValueError(f"D must have shape (..., m, n), got shape {tuple(D.shape)}")
    m, n = D.shape[-2], D.shape[-1]
    batch = D.shape[:-2]
    D = D.to(dtype).reshape(-1, m, n)
    dev = D.device
    w = _side_weights(row_weights, m, "row_weights", dtype, dev)
    c = _side_weights(col_weights, n, "col_weights", dtype, dev)
    return D * w[:, None] * c[None, :], batch, w, c, D


def _side_weights(weights, size: int, name: str, dtype, dev) -> torch.Tensor:
    """Cell widths of one side: uniform ``1/size`` by default, else checked non-negative ``(size,)``."""
    if weights is None:
        return torch.full((size,), 1.0 / size, dtype=dtype, device=dev)
    w = _as_tensor(weights, name).to(device=dev, dtype=dtype)
    if w.shape != (size,) or bool((w < 0).any()):
        raise ValueError(f"{name} must be non-negative with shape ({size},), got {tuple(w.shape)}")
    return w


def cut_norm_exact(D, row_weights=None, col_weights=None, chunk: int = 1 << 14) -> torch.Tensor:
    """Exact normalised cut norm by enumerating all subsets of the smaller side.

    ``||D||_cut = max_{S, T} |sum_{i in S, j in T} D_ij w_i c_j|``. For a fixed row set ``S`` the
    best column set takes every column whose weighted column sum over ``S`` is positive (or every
    negative one), so ``||D||_cut = max_S max(sum_j r_S(j)^+, sum_j r_S(j)^-)``; all ``2^m`` sets are
    evaluated as batched matrix products (``chunk`` sets at a time), in float64.

    Exactness for step functions: if ``D`` is the difference of two step functions on a common
    partition with block widths ``w`` (rows) and ``c`` (columns), the cut-norm objective is bilinear
    in the fractions of each block put in ``S`` and ``T``, so the optimum is attained at 0/1
    fractions, and ``cut_norm_exact(D, w, c)`` is the cut norm of the function on ``[0, 1]^2``
    (this book's derivation, research/prior_and_code.md §D.4; checked in the tests).

    Args:
        D: ``(..., m, n)`` real tensor; leading axes are batched.
        row_weights, col_weights: non-negative ``(m,)`` / ``(n,)`` weights; default ``1/m``, ``1/n``.
        chunk: subsets evaluated per matrix product.

    Returns:
        float64 tensor of shape ``D.shape[:-2]`` (a 0-d tensor for a matrix), on ``D``'s device.

    Raises:
        ValueError: if ``min(m, n) > 22`` (use :func:`cut_norm_lower` / :func:`cut_norm_upper`), or for
            weights of the wrong shape.

    Source: Frieze & Kannan (1999); Lovász (2012), §8.1.
    """
    C, batch, _, _, _ = _weighted(D, row_weights, col_weights)
    if C.shape[1] > C.shape[2]:
        C = C.transpose(1, 2)
    m = C.shape[1]
    if m > EXACT_MAX_SIDE:
        raise ValueError(
            f"D must have its smaller side <= {EXACT_MAX_SIDE} for exact enumeration, got {m}; "
            "use cut_norm_lower / cut_norm_upper"
        )
    dev = C.device
    bits = torch.arange(m, device=dev)
    best = torch.zeros(C.shape[0], dtype=C.dtype, device=dev)
    total = 1 << m
    for start in range(0, total, chunk):
        idx = torch.arange(start, min(total, start + chunk), device=dev)
        x = ((idx[:, None] >> bits[None, :]) & 1).to(C.dtype)  # (k, m) subset indicators
        r = torch.matmul(x, C)  # (B, k, n)
        val = torch.maximum(r.clamp_min(0).sum(-1), (-r).clamp_min(0).sum(-1)).amax(-1)
        best = torch.maximum(best, val)
    return best.reshape(batch)


def cut_norm_lower(
    D,
    restarts: int = 32,
    iters: int = 50,
    seed: int = 0,
    row_weights=None,
    col_weights=None,
    return_sets: bool = False,
):
    """Lower bound on the normalised cut norm by alternating maximisation from random starts.

    From a row set ``S``, take ``T = {j : sum_{i in S} C_ij > 0}``, then ``S = {i : sum_{j in T}
    C_ij > 0}``, and repeat (each step cannot decrease the objective) until nothing changes or
    ``iters`` steps. Half of the ``restarts`` maximise ``sum C`` and half maximise ``-sum C``; the
    first start of each half is ``S = all rows``, the others are uniformly random sets (the same
    starts for every batch element, so batched and single calls agree). The best
    value found is ``|1_S^T C 1_T|`` for actual sets ``S, T``, so it is a valid lower bound. All
    restarts (and a leading batch axis) run as one batched matrix product; iterations run in float32
    and the returned value is recomputed in float64 for the final sets.

    Args:
        D: ``(..., m, n)`` real tensor (leading axes batched, e.g. seeds).
        restarts: number of starts (>= 2, rounded up to even).
        iters: maximum alternation steps.
        seed: seed of the random starts (same seed, same result).
        row_weights, col_weights: as in :func:`cut_norm_exact`.
        return_sets: also return the optimal indicator vectors.

    Returns:
        float64 tensor of shape ``D.shape[:-2]``; with ``return_sets`` a tuple
        ``(value, S (..., m) bool, T (..., n) bool)``.

    Raises:
        ValueError: for ``restarts`` < 2 or ``iters`` < 1.

    Source: the cheap alternative to the Alon–Naor (2006) SDP rounding, research/prior_and_code.md
    §D.4; it is the "cut-norm hill climbing" of Frieze–Kannan-type algorithms.
    """
    restarts = check_positive_int(restarts, "restarts", minimum=2)
    iters = check_positive_int(iters, "iters")
    C64, batch, _, _, _ = _weighted(D, row_weights, col_weights)
    b, m, n = C64.shape
    half = (restarts + 1) // 2
    r2 = 2 * half
    dev = C64.device
    C = C64.to(torch.float32)
    # scale to O(1) entries so float32 sums do not underflow/overflow for tiny weights
    scale = C.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-30)
    C = C / scale
    sign = torch.cat([torch.ones(half, device=dev), -torch.ones(half, device=dev)])[None, :, None]
    g = generator(seed, dev)
    # the same starts for every batch element, so a batched call equals the single calls
    x = (
        (torch.rand(r2, m, generator=g, device=dev) < 0.5)
        .to(torch.float32)
        .expand(b, r2, m)
        .clone()
    )
    x[:, 0] = 1.0
    x[:, half] = 1.0
    y = None
    for _ in range(iters):
        y_new = ((sign * torch.matmul(x, C)) > 0).to(torch.float32)  # (b, r2, n)
        x_new = ((sign * torch.matmul(y_new, C.transpose(1, 2))) > 0).to(
            torch.float32
        )  # (b, r2, m)
        done = y is not None and torch.equal(x_new, x) and torch.equal(y_new, y)
        x, y = x_new, y_new
        if done:
            break
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    vals = (torch.matmul(x64, C64) * y64).sum(-1).abs()  # (b, r2)
    best, arg = vals.max(dim=1)
    value = best.reshape(batch)
    if not return_sets:
        return value
    ar = torch.arange(b, device=dev)
    s_best = x[ar, arg].bool().reshape(*batch, m)
    t_best = y[ar, arg].bool().reshape(*batch, n)
    return value, s_best, t_best


def cut_norm_upper(D, row_weights=None, col_weights=None, spectral: bool = True) -> torch.Tensor:
    """Upper bound on the normalised cut norm: ``min(L1, spectral)``.

    * weighted L1 norm ``sum_ij |D_ij| w_i c_j`` (``||.||_cut <= ||.||_1``);
    * spectral bound ``sigma_max(diag(sqrt w) D diag(sqrt c)) * sqrt(sum w) * sqrt(sum c)``, which is
      ``sigma_max(D) / sqrt(m n)`` for the default weights (Cauchy–Schwarz:
      ``1_S^T C 1_T <= sigma_max ||sqrt(w) 1_S|| ||sqrt(c) 1_T||``).

    ``sigma_max`` is not computed by a full SVD (too slow at ``n ~ 10^3`` on a CPU): power iteration on
    the Gram matrix of the smaller side (200 iterations) gives an estimate, which is inflated by a
    relative margin on ``sigma_max^2`` (0.1 % first, doubled until it holds) until a Cholesky
    factorisation of ``mu I - G`` certifies ``sigma_max^2 < mu``; so the bound is valid. Measured
    against an exact SVD on centred masks of ``n = 300..2000``: 0.05-0.4 % above ``sigma_max``
    (``tests/test_graphons.py``). float64 up to ``2^20`` entries, else float32 with an extra
    ``1 + 1e-4``. Cost ``O(m n k + k^3 / 3)`` with ``k = min(m, n)``;
    ``spectral=False`` returns the L1 norm only (cheap, but it does not shrink with ``n``).

    Args:
        D: ``(..., m, n)`` real tensor (leading axes batched).
        row_weights, col_weights: as in :func:`cut_norm_exact`.
        spectral: include the spectral bound.

    Returns:
        float64 tensor of shape ``D.shape[:-2]``.

    Source: standard, research/prior_and_code.md §D.4 (Lovász 2012, §8.1 for ``||.||_cut <= ||.||_1``).
    """
    C, batch, w, c, D64 = _weighted(D, row_weights, col_weights)
    l1 = C.abs().sum(dim=(1, 2))
    if not spectral:
        return l1.reshape(batch)
    Ds = D64 * w.sqrt()[:, None] * c.sqrt()[None, :]
    if Ds.shape[1] > Ds.shape[2]:
        Ds = Ds.transpose(1, 2)
    sig = _sigma_max_upper(Ds)
    spec = sig * math.sqrt(float(w.sum())) * math.sqrt(float(c.sum()))
    return torch.minimum(l1, spec).reshape(batch)


def cut_norm(
    D,
    exact_max: int = 16,
    row_weights=None,
    col_weights=None,
    restarts: int = 32,
    iters: int = 50,
    seed: int = 0,
) -> torch.Tensor:
    """Normalised cut norm: exact when the smaller side is small, else the local-search lower bound.

    Returns :func:`cut_norm_exact` when ``min(m, n) <= exact_max`` (``2^min(m, n)`` subsets, exact),
    and :func:`cut_norm_lower` otherwise (a valid lower bound, usually tight; see the tests). Use it
    for ``K x K`` differences of block-averaged pictures, where ``K <= 16`` is cheap to enumerate.

    Args:
        D: ``(..., m, n)`` real tensor (leading axes batched).
        exact_max: largest smaller side computed exactly, in ``[0, 22]`` (22 = ``EXACT_MAX_SIDE``).
        row_weights, col_weights: as in :func:`cut_norm_exact`.
        restarts, iters, seed: passed to :func:`cut_norm_lower` when the bound is used.

    Returns:
        float64 tensor of shape ``D.shape[:-2]`` (0-d for a matrix), on ``D``'s device.

    Raises:
        ValueError: ``exact_max`` outside ``[0, 22]``, a ``D`` with fewer than 2 axes, bad weights.

    Source: Frieze & Kannan (1999); Lovász (2012), §8.1; research/prior_and_code.md §D.4.
    """
    exact_max = check_positive_int(exact_max, "exact_max", minimum=0)
    if exact_max > EXACT_MAX_SIDE:
        raise ValueError(f"exact_max must be an integer in [0, {EXACT_MAX_SIDE}], got {exact_max}")
    t = _as_tensor(D, "D")
    if t.ndim < 2:
        raise ValueError(f"D must have shape (..., m, n), got shape {tuple(t.shape)}")
    if min(t.shape[-2:]) <= exact_max:
        return cut_norm_exact(t, row_weights, col_weights)
    return cut_norm_lower(
        t, restarts=restarts, iters=iters, seed=seed, row_weights=row_weights, col_weights=col_weights
    )


def consecutive_cut_norms(pictures, exact_max: int = 16) -> dict[str, float]:
    """Cut norms ``||P_a - P_b||_box`` between consecutive pictures, keyed ``"a->b"``.

    A Cauchy-style convergence check that needs no limit: for pictures (e.g. seed-averaged,
    degree-sorted ``K x K`` step graphons) at increasing widths ``n_1 < n_2 < ...``, the distances
    between neighbours should shrink. Each distance is :func:`cut_norm` of the difference (exact for
    ``K <= exact_max``).

    Args:
        pictures: a mapping ``{n: (K, K) tensor}`` in the order of comparison (e.g. increasing
            width), or a sequence of ``(n, picture)`` pairs.
        exact_max: passed to :func:`cut_norm`.

    Returns:
        ``{f"{n_a}->{n_b}": float}`` for each consecutive pair (empty for fewer than two pictures).

    Raises:
        ValueError: pictures of different shapes, and whatever :func:`cut_norm` raises.

    Source: Lovász (2012), §8.1 (cut norm); the consecutive-width check is this book's device.
    """
    items = list(pictures.items()) if hasattr(pictures, "items") else list(pictures)
    out: dict[str, float] = {}
    for (n_a, p_a), (n_b, p_b) in zip(items[:-1], items[1:], strict=True):
        a, b = _as_tensor(p_a, "pictures"), _as_tensor(p_b, "pictures")
        if a.shape != b.shape:
            raise ValueError(
                f"pictures must share one shape, got {tuple(a.shape)} (n = {n_a}) and "
                f"{tuple(b.shape)} (n = {n_b})"
            )
        out[f"{n_a}->{n_b}"] = float(cut_norm(a - b, exact_max=exact_max))
    return out


def _sigma_max_upper(X: torch.Tensor, power_iters: int = 200) -> torch.Tensor:
    """Certified upper bound on the largest singular value of each ``(k, n)`` matrix in ``X``.

    Power iteration on the Gram matrix ``G = X X^T`` gives an estimate ``theta <= lambda_max(G)``;
    ``mu = theta (1 + delta)`` is then certified as an upper bound by a successful Cholesky
    factorisation of ``mu I - G`` (positive definite iff ``lambda_max(G) < mu``); ``delta`` starts at
    1e-3 and is doubled until the certificate holds. The margins are far above the float
    rounding of the factorisation (relative ``~k eps``). Returns ``sqrt(mu)``, float64, shape ``(B,)``.
    """
    k = X.shape[1]
    big = X[0].numel() > (1 << 20)
    work = X.to(torch.float32) if big else X.to(torch.float64)
    gram = torch.matmul(work, work.transpose(1, 2))  # (B, k, k), k = smaller side
    gen = generator(0, gram.device)
    v = torch.randn(k, 1, generator=gen, device=gram.device, dtype=gram.dtype)
    v = v.expand(gram.shape[0], k, 1)  # same start for every batch element
    for _ in range(power_iters):
        v = torch.matmul(gram, v)
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-300)
    theta = (v * torch.matmul(gram, v)).sum(dim=(1, 2)).clamp_min(0.0)
    scale = gram.diagonal(dim1=1, dim2=2).sum(-1).clamp_min(1e-300)  # trace >= lambda_max
    delta = torch.full_like(theta, 1e-3)
    eye = torch.eye(k, device=gram.device, dtype=gram.dtype)
    mu = theta.clone()
    todo = torch.ones_like(theta, dtype=torch.bool)
    for _ in range(12):
        idx = todo.nonzero().flatten()
        if idx.numel() == 0:
            break
        cand = torch.minimum(
            theta[idx] * (1 + delta[idx]) + 1e-12 * scale[idx], scale[idx] * (1 + 1e-6)
        )
        _, info = torch.linalg.cholesky_ex(cand[:, None, None] * eye - gram[idx])
        ok = info == 0
        mu[idx[ok]] = cand[ok]
        todo[idx[ok]] = False
        delta[idx[~ok]] *= 2
    # anything not certified (not expected) falls back to the trace bound
    mu = torch.where(todo, scale, mu)
    return mu.to(torch.float64).sqrt() * ((1 + 1e-4) if big else 1.0)


@dataclass
class CutDistance:
    """Per-seed cut-norm bounds between degree-aligned masks and a graphon (CPU float64 tensors).

    Attributes:
        lower: ``(S,)`` alternating-maximisation lower bound on the labelled cut norm
            ``||W_{M, aligned} - W||_cut`` (against the graphon's cell values, see :func:`cut_distance`).
        upper: ``(S,)`` ``min(L1, spectral)`` upper bound on the same labelled cut norm.
        l1: ``(S,)`` weighted L1 distance ``||W_{M, aligned} - W||_1``.
        estimate: ``(S,)`` the point estimate reported in figures (= ``lower``; alternating
            maximisation is typically tight, see the tests).
    """

    lower: torch.Tensor
    upper: torch.Tensor
    l1: torch.Tensor
    estimate: torch.Tensor

    def mean(self) -> dict[str, float]:
        """Seed means of the four fields, as floats."""
        return {k: float(getattr(self, k).mean()) for k in ("lower", "upper", "l1", "estimate")}


def _cell_values(graphon, n: int, d: int, device, quad: int) -> torch.Tensor:
    g = _as_graphon(graphon)
    if isinstance(g, StepGraphon):
        return g.on_grid((n, d)).to(device=device, dtype=torch.float32)
    return graphon_on_grid(g, (n, d), quad=quad, device=device)


def cut_distance(
    masks,
    graphon,
    sort: bool = True,
    descending: bool = False,
    sort_columns: bool = True,
    restarts: int = 16,
    iters: int = 50,
    seed: int = 0,
    spectral: bool | None = None,
    quad: int = 1,
    seed_batch: int | None = None,
) -> CutDistance:
    """Cut-norm bounds between (degree-aligned) masks and a graphon, per seed.

    For each seed, ``D = M_aligned - W_grid`` where ``M_aligned`` is the mask after
    :func:`degree_sort` (each side independently; skipped when ``sort=False``) and ``W_grid`` holds
    the graphon's averages over the ``n x d`` cells ``[i/n, (i+1)/n) x [j/d, (j+1)/d)``: exact for a
    :class:`StepGraphon` or ``(K, K)`` tensor, by ``quad x quad`` midpoint quadrature for a callable
    (``quad = 1``: cell midpoints). Then ``lower = cut_norm_lower(D)``, ``upper = cut_norm_upper(D)``
    and ``l1 = mean |D|``.

    What is bounded: let ``N = ||W_{M_aligned} - W||_cut`` be the labelled cut norm after degree
    alignment. Since averaging over a partition never increases the cut norm,
    ``lower <= ||M_aligned - W_grid||_cut <= N``, so ``lower`` is a valid lower bound on ``N``.
    ``upper`` bounds ``||M_aligned - W_grid||_cut``, hence ``N <= upper + ||W - W_grid||_1`` (the
    discretisation term, ``O(1/n + 1/d)`` for a Lipschitz ``W``, is not added). ``N`` itself is an
    **upper bound on the cut distance** ``delta_cut(W_M, W)`` (degree sorting is one admissible
    relabelling; it is the canonical one when the graphon's degree functions are strictly monotone,
    Chan & Airoldi 2014). Hence ``estimate = lower`` estimates the aligned labelled norm, not
    ``delta_cut`` itself; neither bound brackets ``delta_cut`` from below.

    Args:
        masks: ``(S, n, d)`` or ``(n, d)``.
        graphon: callable ``W(u, v)`` (float64 tensors in, tensor out, broadcasting), a
            :class:`StepGraphon`, or a ``(Kr, Kc)`` tensor of equal-width block values.
        sort: degree-align the masks; ``descending`` as in :func:`degree_sort` (default ascending,
            matching graphons increasing in ``u, v`` such as the saliency-model limits).
        sort_columns: False keeps columns in natural order.
        restarts, iters, seed: passed to :func:`cut_norm_lower`.
        spectral: include the spectral term in ``upper`` (the costliest part for large masks);
            ``None`` (default) includes it when ``min(n, d) <= 2048``, else ``upper`` is the L1 norm.
        quad: quadrature points per cell side for a callable graphon.
        seed_batch: seeds per chunk (default: about ``2^25`` entries per chunk).

    Returns:
        :class:`CutDistance` with CPU float64 tensors of shape ``(S,)`` (0-d for a single mask).

    Raises:
        ValueError: for a bad shape, graphon or restart count.

    Sources: Lovász (2012) §8; Chan & Airoldi (2014); predecessor paper arXiv 2510.17515 App. C;
    research/prior_and_code.md §D.4.
    """
    m, single = _batched(masks)
    s, n, d = m.shape
    dev = m.device
    wgrid = _cell_values(graphon, n, d, dev, check_positive_int(quad, "quad"))
    if seed_batch is None:
        seed_batch = max(1, _CHUNK_ELEMENTS // max(1, n * d))
    seed_batch = check_positive_int(seed_batch, "seed_batch")
    if spectral is None:
        spectral = min(n, d) <= 2048
    lows, ups, l1s = [], [], []
    for i in range(0, s, seed_batch):
        part = m[i : i + seed_batch]
        if sort:
            part = degree_sort(part, descending=descending, sort_columns=sort_columns)[0]
        D = _float(part) - wgrid
        lows.append(cut_norm_lower(D, restarts=restarts, iters=iters, seed=seed).cpu())
        ups.append(cut_norm_upper(D, spectral=spectral).cpu())
        l1s.append(D.abs().to(torch.float64).mean(dim=(1, 2)).cpu())
    lower, upper, l1 = torch.cat(lows), torch.cat(ups), torch.cat(l1s)
    if single:
        lower, upper, l1 = lower[0], upper[0], l1[0]
    return CutDistance(lower=lower, upper=upper, l1=l1, estimate=lower.clone())
