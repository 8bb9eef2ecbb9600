"""The empirical graphon of a pruning-at-initialisation (PaI) criterion applied to a real network.

One job: build ``S`` freshly initialised :class:`~graphon.models.MaskedMLP` networks (one per seed),
prune them at density ``rho`` with one PaI criterion (:func:`graphon.pruning.prune`), and read one
layer's masks as a step graphon: each seed's mask (torch layout out x in, ``(n_out, n_in)``) is
degree-sorted (:func:`graphon.graphons.degree_sort`) and block-averaged on a ``(Kr, Kc)`` grid
(:func:`graphon.graphons.block_average`); the seed mean of these block densities is the picture.
This is the recipe of the convergence chapter (the hidden-to-hidden mask, both sides sorted) and of
the generalisation chapter (the first-layer mask, rows sorted, columns kept as input coordinates).

Seeds are processed in chunks of ``seed_batch``: each chunk is one batched network and one batched
pruning call (the chunk only bounds memory; seed ``s`` draws the same weights alone or in a batch,
so the results do not depend on the chunking).

Sources: degree-sorted block histograms of PaI masks, the predecessor paper (Pham et al., arXiv
2510.17515, App. C) and SAS (Chan & Airoldi 2014); the PaI criteria, :mod:`graphon.pruning`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .device import resolve_device
from .graphons import _assignment, _blocks_pair, sorted_block_average
from .models import MaskedMLP
from .pruning import LOSSES, METHODS, prune
from .selection import count_kept
from .validation import check_choice, check_density, check_positive_int, check_seeds

__all__ = ["PaIGraphon", "pai_graphons", "DeepPaIGraphons", "chain_step_graphons", "deep_pai_graphons"]


@dataclass
class PaIGraphon:
    """Empirical graphon of one PaI criterion on one layer (CPU tensors).

    Attributes:
        method: the pruning criterion (one of :data:`graphon.pruning.METHODS`).
        density: the target density rho of the pruning call.
        layer: index of the weight matrix read (0 = input -> first hidden layer).
        picture: ``(Kr, Kc)`` float32, the seed mean of the degree-sorted block densities.
        per_seed: ``(S, Kr, Kc)`` float32, each seed's degree-sorted block densities.
        density_kept: kept fraction of ``layer``'s mask, averaged over seeds (with a global
            threshold it differs from ``density`` for data-driven criteria).
        density_kept_per_seed: ``(S,)`` float64, the same per seed.
        masks: ``(keep_masks, n_out, n_in)`` bool, the unsorted masks of ``layer`` for the first
            ``keep_masks`` seeds, or ``None`` when ``keep_masks = 0``.
        seeds: the seeds used, in order.
    """

    method: str
    density: float
    layer: int
    picture: torch.Tensor
    per_seed: torch.Tensor
    density_kept: float
    density_kept_per_seed: torch.Tensor
    masks: torch.Tensor | None
    seeds: list[int]


def _input_and_widths(x, d: int | None, widths) -> tuple[int, list[int]]:
    """The input dimension (``d``, or ``x.shape[-1]``) and the hidden widths, checked."""
    if d is None:
        if x is None:
            raise ValueError("d must be given (an integer >= 1) when x is None")
        d = int(torch.as_tensor(x).shape[-1])
    d = check_positive_int(d, "d")
    widths = [check_positive_int(n, "widths") for n in ([widths] if isinstance(widths, int) else widths)]
    if not widths:
        raise ValueError("widths must list at least one hidden width n >= 1, got []")
    return d, widths


def pai_graphons(
    method: str,
    density: float,
    x=None,
    y=None,
    *,
    d: int | None = None,
    widths: Sequence[int],
    d_out: int = 1,
    activation: str = "relu",
    layer: int = 0,
    prune_layers: Sequence[int] | None = None,
    blocks=16,
    seeds: int | Sequence[int] = 1,
    seed_batch: int | None = None,
    sort_columns: bool = True,
    descending: bool = False,
    loss: str = "mse",
    keep_masks: int = 0,
    device: str | torch.device | None = "auto",
) -> PaIGraphon:
    """Prune ``S`` MLPs ``d -> widths -> d_out`` with one PaI criterion and return one layer's graphon.

    For each seed ``s``: ``MaskedMLP(d, widths, d_out, activation, seeds=[s])`` (Gaussian weights,
    NTK parameterisation), pruned **at initialisation** to density ``rho`` over ``prune_layers``
    (global threshold, exact count; :func:`graphon.pruning.prune`, scores from ``x, y`` with
    ``loss`` for SNIP/GraSP); then the mask ``M_s`` of weight matrix ``layer`` (shape
    ``(n_out, n_in)``, row = output-side neuron) is degree-sorted (rows always, columns when
    ``sort_columns``; ascending unless ``descending``) and block-averaged on ``blocks``.

    Args:
        method: PaI criterion, one of :data:`graphon.pruning.METHODS`.
        density: rho in (0, 1], the fraction kept over the prunable layers.
        x, y: scoring batch ``(N, d)`` and targets (needed by SNIP and GraSP, ignored by the
            others; see :func:`graphon.pruning.prune`).
        d: input dimension (default: ``x.shape[1]``).
        widths: hidden widths ``[n_1, ..., n_L]``.
        d_out: output dimension.
        activation: one of :data:`graphon.models.ACTIVATIONS`.
        layer: index of the weight matrix whose graphon is read, in ``[0, len(widths)]``.
        prune_layers: prunable layer indices (default: all layers, one global threshold).
        blocks: ``K`` or ``(Kr, Kc)``, with ``Kr <= n_out`` and ``Kc <= n_in`` of ``layer``.
        seeds: an int ``S`` (seeds ``0..S-1``) or a list of seeds.
        seed_batch: seeds per batched chunk (default: all seeds in one batch).
        sort_columns: also sort the columns by degree (False keeps input coordinates in order).
        descending: sort direction (default ascending: low degree at ``u = 0``, as in
            :func:`graphon.graphons.empirical_graphon`).
        loss: ``"mse"`` or ``"cross_entropy"``, the loss the data-driven scores differentiate.
        keep_masks: how many seeds' (unsorted) masks of ``layer`` to return, in ``[0, S]``.
        device: where to compute (``"auto"``, ``"cpu"``, ``"cuda"``); results are on the CPU.

    Returns:
        :class:`PaIGraphon`.

    Raises:
        ValueError: naming the parameter, for an unknown ``method``/``activation``/``loss``,
            ``density`` outside (0, 1], ``layer`` outside ``[0, len(widths)]``, ``blocks`` larger
            than the layer's sides, ``keep_masks`` outside ``[0, S]``, ``seed_batch < 1``, a missing
            ``d``, or bad ``prune_layers``/``seeds``/data (from :func:`graphon.pruning.prune`).

    Sources: predecessor paper arXiv 2510.17515, App. C (degree-sorted block histograms of pruned
    masks); Chan & Airoldi (2014) (sorting and block averaging); the criteria of
    :mod:`graphon.pruning`.
    """
    method = check_choice(method, "method", METHODS)
    density = check_density(density)
    loss = check_choice(loss, "loss", LOSSES)
    d, widths = _input_and_widths(x, d, widths)
    d_out = check_positive_int(d_out, "d_out")
    sizes = [d, *widths, d_out]
    n_layers = len(sizes) - 1
    if isinstance(layer, bool) or not hasattr(layer, "__index__") or not 0 <= int(layer) < n_layers:
        raise ValueError(f"layer must be an integer in [0, {n_layers - 1}], got {layer!r}")
    layer = int(layer)
    n_out, n_in = sizes[layer + 1], sizes[layer]
    kr, kc = _blocks_pair(blocks)
    if kr > n_out or kc > n_in:
        raise ValueError(
            f"blocks must be <= the sides of layer {layer} (n_out={n_out}, n_in={n_in}), "
            f"got ({kr}, {kc})"
        )
    seed_list = check_seeds(seeds)
    s_total = len(seed_list)
    seed_batch = s_total if seed_batch is None else check_positive_int(seed_batch, "seed_batch")
    keep_masks = check_positive_int(keep_masks, "keep_masks", minimum=0)
    if keep_masks > s_total:
        raise ValueError(f"keep_masks must be in [0, {s_total}] (the number of seeds), got {keep_masks}")
    if prune_layers is not None and layer not in [int(i) for i in prune_layers]:
        raise ValueError(
            f"layer must be one of prune_layers {list(prune_layers)} (an unpruned layer's graphon is "
            f"the constant 1), got {layer}"
        )
    dev = resolve_device(device)
    # the scoring batch moves to the device once, not once per chunk
    x = None if x is None else torch.as_tensor(x).to(dev)
    y = None if y is None else torch.as_tensor(y).to(dev)

    per_seed, kept, masks = [], [], []
    for start in range(0, s_total, seed_batch):
        chunk = seed_list[start : start + seed_batch]
        model = MaskedMLP(d, widths, d_out=d_out, activation=activation, seeds=chunk, device=dev)
        result = prune(model, method, density, x, y, layers=prune_layers, loss=loss,
                       apply=False, keep_scores=False)
        mask = result.masks[layer]  # (s, n_out, n_in)
        per_seed.append(
            sorted_block_average(mask, (kr, kc), descending=descending, sort_columns=sort_columns).cpu()
        )
        kept.append(result.density_kept[layer].to(torch.float64).cpu())
        room = keep_masks - sum(len(t) for t in masks)
        if room > 0:
            masks.append(mask[:room].bool().cpu())
        del model, result
    per_seed_t = torch.cat(per_seed)
    kept_t = torch.cat(kept)
    return PaIGraphon(
        method=method,
        density=density,
        layer=layer,
        picture=per_seed_t.mean(dim=0),
        per_seed=per_seed_t,
        density_kept=float(kept_t.mean()),
        density_kept_per_seed=kept_t,
        masks=torch.cat(masks) if masks else None,
        seeds=seed_list,
    )


@dataclass
class DeepPaIGraphons:
    """The hidden-layer graphons of a deep network pruned by one PaI criterion (CPU tensors).

    Attributes:
        method: the pruning criterion. density: rho, the kept fraction of every hidden layer.
        per_seed: ``L`` float64 tensors: ``(S, K, d)`` for the first layer (columns = the input
            coordinates in order), then ``(S, K, K)``, with one neuron order per hidden layer
            shared by the two matrices it touches (:func:`chain_step_graphons`).
        density_kept: ``(S, L)`` float64, each hidden layer's kept fraction per seed.
        seeds: the seeds used, in order.
    """

    method: str
    density: float
    per_seed: list[torch.Tensor]
    density_kept: torch.Tensor
    seeds: list[int]


def chain_step_graphons(masks: Sequence[torch.Tensor], blocks: int) -> list[torch.Tensor]:
    """Step graphons of a chain of masks with one neuron order per hidden layer.

    A hidden layer's neurons are the rows of ``masks[l]`` and the columns of ``masks[l + 1]``, so
    its order must be the same on both sides for the step graphons to be one network's (the deep
    Graphon-NTK integrates over a neuron's position ``u`` on both sides). The neurons of hidden
    layer ``l`` are sorted by their in-degree in ``masks[l]`` (ascending, stable: ties keep index
    order, as :func:`graphon.graphons.degree_sort`) and cut into ``K`` near-equal contiguous
    blocks; layer 0's columns stay the input coordinates, one column each. Sorting each matrix's
    columns by their own degree instead (:func:`graphon.graphons.sorted_block_average`) would
    reorder a hidden layer differently on its two sides.

    Args:
        masks: ``L`` masks ``(S, n_1, d)``, ``(S, n_2, n_1)``, ..., ``(S, n_L, n_{L-1})`` (torch
            layout out x in; bool or float 0/1).
        blocks: ``K`` row blocks of every hidden layer, ``1 <= K <= min(n_l)``.

    Returns:
        ``L`` float64 tensors: ``(S, K, d)``, then ``(S, K, K)``: block densities.

    Raises:
        ValueError: an empty list, masks that are not ``(S, out, in)`` chaining in shape with a
            common ``S``, or ``blocks`` outside ``[1, min(n_l)]``.

    Source: degree-sorted block histograms (Chan & Airoldi 2014; predecessor paper App. C),
    with this book's shared order for a chain (the deep step-graphon recursion of
    :func:`graphon.ntk.graphon_ntk_deep`).
    """
    masks = [torch.as_tensor(m) for m in masks]
    if not masks:
        raise ValueError("masks must list at least one (S, n_1, d) mask")
    S = masks[0].shape[0] if masks[0].ndim == 3 else None
    for i, m in enumerate(masks):
        ok = m.ndim == 3 and m.shape[0] == S and (i == 0 or m.shape[2] == masks[i - 1].shape[1])
        if not ok:
            raise ValueError(
                f"masks[{i}] must have shape (S, out, in) with the same S and in = the previous "
                f"mask's out, got {[tuple(t.shape) for t in masks]}"
            )
    k = check_positive_int(blocks, "blocks")
    if k > min(m.shape[1] for m in masks):
        raise ValueError(
            f"blocks must be in [1, {min(m.shape[1] for m in masks)}] (the narrowest hidden layer), "
            f"got {k}"
        )
    out, previous = [], None
    for m in masks:
        f = m.to(torch.float64)
        order = torch.sort(f.sum(dim=2), dim=1, stable=True).indices
        rank = torch.argsort(order, dim=1)  # sorted position of each neuron
        assign = _assignment(f.shape[1], k, f.device, torch.float64)[:, rank].permute(1, 0, 2)
        g = torch.bmm(assign, f)  # (S, K, in)
        out.append(g if previous is None else torch.bmm(g, previous.transpose(1, 2)))
        previous = assign
    return out


def deep_pai_graphons(
    method: str,
    density: float,
    x=None,
    y=None,
    *,
    d: int | None = None,
    widths: Sequence[int],
    d_out: int = 1,
    activation: str = "relu",
    blocks: int = 8,
    seeds: int | Sequence[int] = 1,
    loss: str = "mse",
    device: str | torch.device | None = "auto",
) -> DeepPaIGraphons:
    """Prune every hidden layer of ``S`` MLPs ``d -> n_1 -> ... -> n_L -> d_out`` to density rho
    and read the hidden-layer masks as a chain of step graphons.

    Each hidden layer's weight matrix is pruned to exactly ``round(rho n_l n_{l-1})`` entries
    (``scope="layer"``, so every layer has density rho, as the first layer alone has in the
    one-hidden-layer chapter; :func:`graphon.pruning.prune`, one batched call for all seeds); the
    readout stays dense. The masks become step graphons by :func:`chain_step_graphons`.

    Args:
        method: PaI criterion, one of :data:`graphon.pruning.METHODS`.
        density: rho in (0, 1].
        x, y: scoring batch ``(N, d)`` and targets (needed by SNIP and GraSP).
        d: input dimension (default ``x.shape[1]``).
        widths: hidden widths ``[n_1, ..., n_L]``, ``L >= 1``.
        d_out, activation, loss, device: as :func:`pai_graphons`.
        blocks: ``K`` row blocks per hidden layer.
        seeds: an int ``S`` (seeds ``0..S-1``) or a list of seeds.

    Returns:
        :class:`DeepPaIGraphons`.

    Raises:
        ValueError: as :func:`pai_graphons` and :func:`chain_step_graphons`.
    """
    method = check_choice(method, "method", METHODS)
    density = check_density(density)
    d, widths = _input_and_widths(x, d, widths)
    seed_list = check_seeds(seeds)
    dev = resolve_device(device)
    model = MaskedMLP(d, widths, d_out=d_out, activation=activation, seeds=seed_list, device=dev)
    hidden = list(range(len(widths)))
    result = prune(model, method, density, None if x is None else torch.as_tensor(x).to(dev),
                   None if y is None else torch.as_tensor(y).to(dev), layers=hidden, scope="layer",
                   loss=loss, apply=False, keep_scores=False)
    keep = [result.keep[i] for i in hidden]
    kept = torch.stack([count_kept(m).double() / m[0].numel() for m in keep], dim=1)
    return DeepPaIGraphons(
        method=method,
        density=density,
        per_seed=[g.cpu() for g in chain_step_graphons(keep, blocks)],
        density_kept=kept.cpu(),
        seeds=seed_list,
    )
