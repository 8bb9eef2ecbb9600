"""Pruning-at-initialisation (PaI) scores and exact-density thresholding for masked MLPs.

Every function works on all ``S`` seeds of a :class:`~graphon.models.MaskedMLP` at once: scores and
masks are lists with one ``(S, out, in)`` tensor per layer (torch layout, row = output-side neuron,
column = input-side neuron), computed in one batched pass on the device of the model's weights.

Scores, "higher = keep", with ``theta`` the raw weight, ``c`` the multiplicative mask,
``g = dL/dtheta`` and ``H`` the Hessian of the loss ``L`` w.r.t. the weights (formulas:
``research/prior_and_code.md`` Sec. C.6, from the reference implementations named there):

* ``random``: i.i.d. U(0, 1) (Synaptic-Flow's ``Rand`` draws N(0, 1): any i.i.d. continuous
  scores rank the same way, so the kept set has the same uniform law; Tanaka et al. 2020);
* ``magnitude``: ``|theta|`` (Synaptic-Flow ``Mag``);
* ``snip``: ``|dL/dc|``, equal to ``|g * theta|`` at ``c = 1`` (Lee et al. 2019);
* ``grasp``: ``|theta * (H g)|``, the magnitude variant covered by the paper's theorem;
* ``grasp_signed``: ``theta * (H g)``, keep the largest (Wang et al. 2020);
* ``synflow``: ``|theta * dR/dtheta|`` with ``R = 1^T (prod_l |W_l|) 1`` (Tanaka et al. 2020).

Thresholding keeps **exactly** ``round(density * N)`` entries per seed (at least one), globally over
the prunable layers or per layer, with a deterministic tie-break (a stable descending sort: among
equal scores the lower flat index is kept). This is the ``topk`` convention of SNIP's reference code
(``research/prior_and_code.md`` Sec. C.3/C.6), not Synaptic-Flow's ``kthvalue`` + ``<=`` rule,
which over-prunes at ties.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from .device import seeded_uniform
from .models import MaskedMLP, mlp_forward
from .progress import progress
from .selection import count_kept, keep_top, kept_count, random_subset
from .validation import check_choice, check_density, check_in_range, check_positive_int

__all__ = [
    "METHODS",
    "DATA_DRIVEN",
    "LOSSES",
    "SCOPES",
    "DEFAULT_SYNFLOW_ITERATIONS",
    "PruneResult",
    "compute_scores",
    "keep_top",
    "kept_count",
    "threshold_masks",
    "prune",
]

METHODS: tuple[str, ...] = ("random", "magnitude", "snip", "grasp", "grasp_signed", "synflow")
"""Pruning criteria known to :func:`compute_scores` and :func:`prune`."""

DATA_DRIVEN: tuple[str, ...] = ("snip", "grasp", "grasp_signed")
"""Criteria that need a labelled batch ``(x, y)``."""

LOSSES: tuple[str, ...] = ("mse", "cross_entropy")
"""Losses the data-driven criteria differentiate."""

SCOPES: tuple[str, ...] = ("global", "layer")
"""Thresholding scopes: one threshold over all prunable layers, or one per layer."""

DEFAULT_SYNFLOW_ITERATIONS = 100
"""SynFlow's number of pruning rounds in Tanaka et al. (2020) and Synaptic-Flow's experiments."""


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _subset_generator(seed: int, layer: int, model_seed: int) -> np.random.Generator:
    """The numpy generator of Random pruning's kept set for (``seed``, first layer, model seed)."""
    entropy = [int(seed), int(layer), int(model_seed), 0x5E7]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _random_seed(seed: int, layer: int, model_seed: int) -> int:
    """A 63-bit generator seed derived from (``seed``, layer, model seed)."""
    state = np.random.SeedSequence([int(seed), int(layer), int(model_seed), 0x5EED]).generate_state(
        1, dtype=np.uint64
    )
    return int(state[0]) >> 1


def _dense(w: torch.Tensor) -> torch.Tensor:
    """An all-True keep-mask shaped like ``w``: a read-only view storing one bool."""
    return torch.ones((), dtype=torch.bool, device=w.device).expand(w.shape)


def _check_model(model: MaskedMLP) -> None:
    if not isinstance(model, MaskedMLP):
        raise ValueError(f"model must be a graphon.models.MaskedMLP, got {type(model).__name__}")


def _prepare_data(
    model: MaskedMLP, x, y, loss: str, method: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check and move ``(x, y)`` to the model's device; returns ``x`` (float) and ``y``."""
    if x is None or y is None:
        missing = " and ".join(n for n, v in (("x", x), ("y", y)) if v is None)
        raise ValueError(
            f"method={method!r} is data-driven and needs a labelled batch: {missing} must be given "
            f"(x: inputs (B, d) or (S, B, d); y: targets)"
        )
    w = model.weights[0]
    x = torch.as_tensor(x).to(device=w.device, dtype=w.dtype)
    S = model.n_seeds
    if x.ndim not in (2, 3) or x.shape[-1] != model.d or (x.ndim == 3 and x.shape[0] != S):
        raise ValueError(
            f"x must have shape (B, d={model.d}) or (S={S}, B, d={model.d}), got {tuple(x.shape)}"
        )
    B = x.shape[-2]
    if B < 1:
        raise ValueError("x must hold at least one input (B >= 1)")
    y = torch.as_tensor(y).to(device=w.device)
    if loss == "mse":
        y = y.to(w.dtype)
        if y.ndim == 1 and model.d_out == 1:
            y = y[:, None]
        ok = y.ndim in (2, 3) and tuple(y.shape[-2:]) == (B, model.d_out)
        if not ok or (y.ndim == 3 and y.shape[0] != S):
            raise ValueError(
                f"y must have shape (B={B},) (when d_out=1), (B, d_out={model.d_out}) or "
                f"(S={S}, B, d_out) for loss='mse' (one-hot encode class labels, or use "
                f"loss='cross_entropy'), got {tuple(y.shape)}"
            )
    else:
        if y.is_floating_point() or y.is_complex():
            raise ValueError("y must hold integer class labels for loss='cross_entropy'")
        y = y.long()
        if y.ndim not in (1, 2) or y.shape[-1] != B or (y.ndim == 2 and y.shape[0] != S):
            raise ValueError(
                f"y must have shape (B={B},) or (S={S}, B) for loss='cross_entropy', "
                f"got {tuple(y.shape)}"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= model.d_out):
            raise ValueError(
                f"y must hold class labels in [0, d_out={model.d_out}) for loss='cross_entropy', "
                f"got range [{int(y.min())}, {int(y.max())}]"
            )
    return x, y


def _loss(out: torch.Tensor, y: torch.Tensor, loss: str, temperature: float) -> torch.Tensor:
    """Sum over seeds of the per-seed loss; ``out`` is ``(S, B, d_out)``.

    ``mse``: ``0.5 * mean_{b,k} (f_k(x_b)/T - y_bk)^2`` (the paper's squared loss,
    ``research/paper.md`` Sec. 2); ``cross_entropy``: ``mean_b CE(f(x_b)/T, y_b)``.
    """
    z = out / temperature
    if loss == "mse":
        per_seed = 0.5 * (z - y).pow(2).mean(dim=(-2, -1))
    else:
        S, B, C = z.shape
        per_seed = (
            F.cross_entropy(z.reshape(S * B, C), y.expand(S, B).reshape(-1), reduction="none")
            .reshape(S, B)
            .mean(dim=-1)
        )
    return per_seed.sum()


def _synflow_scores(
    abs_weights: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """SynFlow scores in float64 from the closed form of ``dR/d|theta|`` (no autograd needed).

    ``abs_weights`` are ``|W_l|`` in float64. With ``A_l = |W_l| * M_l`` and
    ``R = 1^T A_L ... A_1 1``, ``dR/dA_l[i, j] = u_l[i] v_l[j]`` where ``v_l = A_{l-1} ... A_1 1``
    (input-side path counts) and ``u_l = A_{l+1}^T ... A_L^T 1`` (output-side path counts). Hence
    ``|theta * dR/dtheta| = A_l * (u_l v_l^T)``.
    """
    A = [a * m for a, m in zip(abs_weights, masks, strict=True)]  # bool or float masks
    u, v = _path_counts(A)
    return [a.mul_(ui).mul_(vi.transpose(-1, -2)) for a, ui, vi in zip(A, u, v, strict=True)]


def _path_counts(A: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Output-side and input-side path counts ``u_l (S, out, 1)`` and ``v_l (S, in, 1)`` of the
    layers ``A_l = |W_l| * M_l`` (float64, ``(S, out, in)``), so that ``dR/dA_l = u_l v_l^T``."""
    S, dev = A[0].shape[0], A[0].device
    v = [torch.ones(S, A[0].shape[-1], 1, dtype=torch.float64, device=dev)]
    for a in A[:-1]:
        v.append(torch.bmm(a, v[-1]))
    u = [torch.ones(S, A[-1].shape[-2], 1, dtype=torch.float64, device=dev)]
    for a in reversed(A[1:]):
        u.append(torch.bmm(a.transpose(-1, -2), u[-1]))
    return u[::-1], v


def _compute_scores(
    model: MaskedMLP,
    method: str,
    masks: Sequence[torch.Tensor],
    x: torch.Tensor | None,
    y: torch.Tensor | None,
    loss: str,
    temperature: float,
    seed: int,
    abs_weights: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Fresh score tensors at the given ``masks`` (inputs already validated).

    ``abs_weights``: cached float64 ``|W_l|`` for synflow (computed here when ``None``).
    """
    weights = [w.detach() for w in model.weights]
    if method == "random":
        return [
            seeded_uniform(
                [_random_seed(seed, layer, s) for s in model.seeds], w.shape[1:], w.device, w.dtype
            )
            for layer, w in enumerate(weights)
        ]
    if method == "magnitude":
        return [w.abs() for w in weights]
    if method == "synflow":
        with torch.no_grad():
            if abs_weights is None:
                abs_weights = [w.to(torch.float64).abs() for w in weights]
            return _synflow_scores(abs_weights, masks)
    act = model.activation
    if method == "snip":
        c = [
            m.detach().to(w.dtype, copy=True).requires_grad_(True)
            for m, w in zip(masks, weights, strict=True)
        ]
        with torch.enable_grad():
            out = mlp_forward(weights, c, x, act)
            grads = torch.autograd.grad(_loss(out, y, loss, temperature), c)
        return [g.abs() for g in grads]
    # grasp / grasp_signed: Hessian-gradient product by double backward with g detached.
    params = [w.detach().requires_grad_(True) for w in model.weights]  # leaves sharing storage
    fixed = [m.detach().to(w.dtype) for m, w in zip(masks, weights, strict=True)]
    with torch.enable_grad():
        out = mlp_forward(params, fixed, x, act)
        g = torch.autograd.grad(_loss(out, y, loss, temperature), params, create_graph=True)
        z = sum((gi * gi.detach()).sum() for gi in g)
        hg = torch.autograd.grad(z, params, allow_unused=True)
    scores = [
        w * (torch.zeros_like(w) if h is None else h) for w, h in zip(weights, hg, strict=True)
    ]
    return [s.abs() for s in scores] if method == "grasp" else scores


def _check_common(
    method: str, loss: str, temperature: float, seed: int
) -> tuple[str, str, float, int]:
    method = check_choice(method, "method", METHODS)
    loss = check_choice(loss, "loss", LOSSES)
    temperature = check_in_range(
        temperature, "temperature", 0.0, math.inf, low_open=True, high_open=True
    )
    seed = check_positive_int(seed, "seed", minimum=0)
    return method, loss, temperature, seed


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------


def compute_scores(
    model: MaskedMLP,
    method: str,
    x=None,
    y=None,
    *,
    loss: str = "mse",
    temperature: float = 1.0,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Pruning-at-initialisation scores of every weight of every seed, "higher = keep".

    All ``S`` seeds are scored in one batched pass: the data-driven losses are summed over seeds,
    and since seeds never interact each seed gets exactly its own gradient (and its own
    Hessian-gradient product). Scores are computed at the model's **current masks**
    (``model.masks``); use :func:`prune` to score the dense network whatever the current masks.

    Methods (formulas as in ``research/prior_and_code.md`` Sec. C.6):

    * ``"random"``: i.i.d. U(0, 1) per entry, drawn by :func:`graphon.device.seeded_uniform` with
      one generator per (``seed``, layer, model seed), so every model seed gets its own draw,
      alone or batched (CPU and CUDA generators give different streams). Ignores masks.
    * ``"magnitude"``: ``|theta|`` of the raw weights (ignores masks).
    * ``"snip"``: connection sensitivity ``|dL/dc|``, autograd w.r.t. the multiplicative mask
      ``c`` at the current mask; equals ``|g * theta|`` at ``c = 1`` (Lee et al. 2019). At an
      entry already pruned (``c = 0``) it is the sensitivity of re-adding that weight, in general
      non-zero.
    * ``"grasp_signed"``: ``theta * (H g)`` with ``g = dL/dtheta`` and ``H g`` from a double
      backward of ``<g, stopgrad(g)>`` (Wang et al. 2020). GraSP removes the largest
      ``-theta * Hg``, i.e. keeps the largest ``theta * Hg``: this score is already
      "higher = keep". Zero at pruned entries.
    * ``"grasp"``: the magnitude variant ``|theta * (H g)|``. This is the GraSP variant covered by
      the paper's convergence theorem (``research/paper.md`` Sec. 3.1); the signed score is not.
    * ``"synflow"``: data-free; ``|theta * dR/dtheta|`` with the path norm
      ``R = 1^T (prod_l |W_l * M_l|) 1`` (an all-ones input through the linearised network with
      absolute weights; Tanaka et al. 2020), computed in float64 from the closed form
      ``|W_l| * M_l * (u_l v_l^T)`` with ``u_l, v_l`` the output- and input-side path counts.
      The NTK factors ``1/sqrt(fan_in)`` are left out (they multiply every score by one common
      constant), and so is the activation: with ReLU that changes nothing (ReLU is the identity
      on the all-ones forward pass of non-negative weights); with tanh or sigmoid it is **not** a
      rescaling, and Synaptic-Flow's reference (which runs its model's activation) ranks
      differently: this score is the linearised-network SynFlow of the SynFlow paper's
      definition. Zero at pruned entries. The iterative schedule lives in :func:`prune`.

    Args:
        model: a :class:`~graphon.models.MaskedMLP` with weights ``(S, out, in)``.
        method: one of :data:`METHODS`.
        x: inputs ``(B, d)`` shared by all seeds or ``(S, B, d)``; tensor or array. Needed by
            :data:`DATA_DRIVEN` methods, ignored by the others.
        y: targets. ``loss="mse"``: ``(B,)`` (when ``d_out = 1``), ``(B, d_out)`` or
            ``(S, B, d_out)``. ``loss="cross_entropy"``: integer class labels in ``[0, d_out)``,
            shape ``(B,)`` or ``(S, B)``.
        loss: ``"mse"``, the paper's squared loss ``0.5 * mean_{b,k}(f_k(x_b)/T - y_bk)^2``
            (``research/paper.md`` Sec. 2), or ``"cross_entropy"``, ``mean_b CE(f(x_b)/T, y_b)``
            as in the SNIP/GraSP/Synaptic-Flow reference code.
        temperature: ``T > 0`` dividing the network outputs (logits) before the loss. GraSP's and
            Synaptic-Flow's reference GraSP use ``T = 200`` with cross-entropy, where it flattens
            the softmax; the default 1 leaves the outputs unchanged. The book keeps ``T = 1`` for
            both GraSP variants with the squared loss of the theorem's setting, where a
            temperature only rescales the outputs against the targets (convergence chapter, Fig 5).
        seed: seed of the ``"random"`` scores (ignored by the other methods).

    Returns:
        One tensor per layer with the shape of the weights, ``(S, out, in)``, on the weights'
        device; float64 for ``"synflow"``, the weights' dtype otherwise.

    Raises:
        ValueError: unknown ``method`` or ``loss``; ``temperature <= 0``; a negative ``seed``;
            a data-driven method without ``x`` or ``y``; ``x``/``y`` of the wrong shape or labels
            out of range.
    """
    _check_model(model)
    method, loss, temperature, seed = _check_common(method, loss, temperature, seed)
    if method in DATA_DRIVEN:
        x, y = _prepare_data(model, x, y, loss, method)
    return _compute_scores(model, method, model.masks, x, y, loss, temperature, seed)


def _check_layers(layers: Sequence[int] | None, n_layers: int) -> list[int]:
    if layers is None:
        return list(range(n_layers))
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        layers = [int(layers)]
    try:
        out = [check_positive_int(i, "layers", minimum=0) for i in layers]
    except TypeError:
        raise ValueError(
            f"layers must be a list of layer indices in [0, {n_layers}), got {layers!r}"
        ) from None
    if not out or max(out) >= n_layers or len(set(out)) != len(out):
        raise ValueError(
            f"layers must be a non-empty list of distinct layer indices in [0, {n_layers}), "
            f"got {layers!r}"
        )
    return sorted(out)


def _select(
    scores: Sequence[torch.Tensor],
    density: float,
    scope: str,
    prunable: Sequence[int],
    absolute: bool = False,
) -> dict[int, torch.Tensor]:
    """Boolean keep-masks ``(S, out, in)`` of the prunable layers (inputs already validated);
    ``absolute`` ranks ``|scores|`` (:func:`graphon.selection.keep_top`)."""
    S = scores[prunable[0]].shape[0]
    out: dict[int, torch.Tensor] = {}
    for group in [list(prunable)] if scope == "global" else [[i] for i in prunable]:
        sizes = [scores[i][0].numel() for i in group]
        if len(group) == 1:
            flat = scores[group[0]].reshape(S, -1)
        else:
            flat = torch.cat([scores[i].reshape(S, -1) for i in group], dim=1)
        keep = keep_top(flat, kept_count(density, flat.shape[1]), absolute=absolute)
        for i, part in zip(group, torch.split(keep, sizes, dim=1), strict=True):
            out[i] = part.reshape(scores[i].shape)
    return out


def threshold_masks(
    scores: Sequence[torch.Tensor],
    density: float,
    *,
    scope: str = "global",
    layers: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """Binary masks keeping the highest scores at an exact density, per seed.

    For each seed independently, ``k = max(1, round(density * N))`` entries are kept, where ``N``
    is the number of entries of that seed over all prunable layers (``scope="global"``, the default
    of every reference implementation, ``research/prior_and_code.md`` Sec. C.6) or of each
    prunable layer separately (``scope="layer"``). Ties are broken deterministically as a stable
    descending sort would: among equal scores the lower flat index is kept, the flat index running
    over the prunable layers in increasing layer order, each flattened row-major (``out``, then
    ``in``). NaN scores rank last. Python's ``round`` (half to even) gives ``k``.

    Args:
        scores: one tensor per layer, ``(S, out, in)`` (e.g. from :func:`compute_scores`),
            higher = keep.
        density: fraction kept, rho in (0, 1].
        scope: ``"global"`` or ``"layer"``.
        layers: indices of the prunable layers (default: all). The other layers get all-ones masks.
        dtype: floating dtype of the returned masks.

    Returns:
        One float 0/1 mask per layer, same shape and device as the scores.

    Raises:
        ValueError: ``density`` not in (0, 1] (or NaN); unknown ``scope``; bad ``layers`` (not
            distinct indices in ``[0, len(scores))``); empty ``scores``, or tensors that are not
            ``(S, out, in)`` with a common ``S``.
    """
    density = check_density(density)
    scope = check_choice(scope, "scope", SCOPES)
    if len(scores) == 0:
        raise ValueError("scores must hold one (S, out, in) tensor per layer, got an empty list")
    scores = [torch.as_tensor(s) for s in scores]
    S = scores[0].shape[0] if scores[0].ndim == 3 else None
    for i, s in enumerate(scores):
        if s.ndim != 3 or s.shape[0] != S:
            raise ValueError(
                f"scores[{i}] must have shape (S, out, in) with the same S for every layer, "
                f"got {tuple(s.shape)}"
            )
    prunable = _check_layers(layers, len(scores))
    keep = _select(scores, density, scope, prunable)
    masks = [
        keep[i].to(dtype) if i in keep else torch.ones(sc.shape, dtype=dtype, device=sc.device)
        for i, sc in enumerate(scores)
    ]
    return masks


_SYNFLOW_FAST = True  # the buffer-reusing SynFlow loop below; False runs the generic loop (tests)


def _synflow_loop(
    model: MaskedMLP,
    alive: list[torch.Tensor],
    density: float,
    iterations: int,
    scope: str,
    prunable: list[int],
    from_current: bool,
    rounds,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Iterative SynFlow with preallocated float64 buffers (same result as the generic loop).

    Keeps ``A_l = |W_l| * M_l`` up to date in place and writes each round's scores of the prunable
    layers into one ``(S, N)`` buffer, so a round costs a few passes over the weights plus one
    selection and allocates no weight-sized tensor. Returns the boolean masks and the last scores.
    """
    S = model.n_seeds
    A = [
        w.detach().to(torch.float64, copy=True).abs_().masked_fill_(~a, 0.0)
        for w, a in zip(model.weights, alive, strict=True)
    ]
    pruned = [~a for a in alive]
    sizes = [A[i][0].numel() for i in prunable]
    buf = torch.empty(S, sum(sizes), dtype=torch.float64, device=A[0].device)
    views = {
        i: part.view(A[i].shape)
        for i, part in zip(prunable, torch.split(buf, sizes, dim=1), strict=True)
    }
    scores: list[torch.Tensor] = []
    for e in rounds:
        rho_e = density ** (e / iterations)
        u, v = _path_counts(A)
        for i in prunable:
            torch.mul(A[i], u[i], out=views[i]).mul_(v[i].transpose(-1, -2))
            if from_current or e > 1:  # rank already pruned entries last: never regrow
                views[i].masked_fill_(pruned[i], -math.inf)
        keep = _select([views.get(i) for i in range(len(A))], rho_e, scope, prunable)
        if e == iterations:
            scores = [
                views[i] if i in views else A[i] * u[i] * v[i].transpose(-1, -2)
                for i in range(len(A))
            ]
        for i in prunable:
            pruned[i] = ~keep[i]
            A[i].masked_fill_(pruned[i], 0.0)
            alive[i] = keep[i]
    return alive, scores


def _random_prune(
    model: MaskedMLP, density: float, scope: str, prunable: list[int], seed: int
) -> list[torch.Tensor]:
    """Boolean masks of one-shot Random pruning: per seed (and per layer with ``scope="layer"``) a
    uniformly random set of exactly ``kept_count(density, N)`` of the ``N`` prunable entries."""
    weights = list(model.weights)
    alive = [_dense(w) for w in weights]
    groups = [list(prunable)] if scope == "global" else [[i] for i in prunable]
    for group in groups:
        sizes = [weights[i][0].numel() for i in group]
        gens = [_subset_generator(seed, group[0], s) for s in model.seeds]
        keep = random_subset(gens, sum(sizes), kept_count(density, sum(sizes)), weights[0].device)
        for i, part in zip(group, torch.split(keep, sizes, dim=1), strict=True):
            alive[i] = part.reshape(weights[i].shape)
    return alive


@dataclass
class PruneResult:
    """Outcome of :func:`prune`.

    Attributes:
        method: the criterion used (one of :data:`METHODS`).
        density: the target density rho (fraction kept over the prunable layers, per seed).
        keep: one boolean keep-mask per layer, ``(S, out, in)``, on the model's device. A layer left
            dense is a read-only all-True view (``torch.ones(()).expand``); ``.clone()`` it to write.
        density_kept: realised kept fraction per layer, one ``(S,)`` tensor per layer (1 for
            layers not pruned, unless ``from_current=True`` kept a sparser mask there). With
            ``scope="global"`` these differ between layers; the kept fraction over all prunable
            layers together is ``max(1, round(density * N)) / N`` exactly.
        scores: the scores of the last scoring round (one ``(S, out, in)`` tensor per layer; entries
            pruned before that round are set to ``-inf``), or ``None`` with ``keep_scores=False``
            and for one-shot Random pruning (its kept set is drawn directly, see :func:`prune`).
        scope: the thresholding scope used.
        layers: the prunable layer indices.
        iterations: the number of scoring/thresholding rounds.
        dtype: floating dtype of :attr:`masks` (the model's weights').
    """

    method: str
    density: float
    keep: list[torch.Tensor]
    density_kept: list[torch.Tensor]
    scores: list[torch.Tensor] | None
    scope: str = "global"
    layers: list[int] = field(default_factory=list)
    iterations: int = 1
    dtype: torch.dtype = torch.float32

    @cached_property
    def masks(self) -> list[torch.Tensor]:
        """One float 0/1 mask per layer, ``(S, out, in)``, in :attr:`dtype` (made from :attr:`keep`
        on first access: four bytes per weight that boolean users never pay for)."""
        return [k.to(self.dtype) for k in self.keep]


def prune(
    model: MaskedMLP,
    method: str,
    density: float,
    x=None,
    y=None,
    *,
    scope: str = "global",
    layers: Sequence[int] | None = None,
    iterations: int | None = None,
    loss: str = "mse",
    temperature: float = 1.0,
    seed: int = 0,
    apply: bool = True,
    from_current: bool = False,
    keep_scores: bool = True,
) -> PruneResult:
    """Prune a batch of networks at initialisation: score (:func:`compute_scores`), then threshold
    (:func:`threshold_masks`) at an exact density, per seed.

    By default this is pruning *at initialisation*: the network is scored **dense** (all-ones
    masks), whatever masks the model currently holds, so calling ``prune`` on one model with several
    methods gives each method its own mask. With ``from_current=True`` the model is scored at its
    current masks and pruned weights are never regrown (they rank last); if ``density`` exceeds the
    current density, the extra entries are then taken among the pruned ones in index order.

    One-shot Random pruning (``iterations=1``, not ``from_current``) draws its kept set directly:
    per seed a uniformly random set of exactly ``round(density * N)`` of the prunable entries
    (:func:`graphon.selection.random_subset`; one numpy PCG64 generator per (``seed``, model seed)).
    That is the law of the ``k`` largest of ``N`` i.i.d. U(0, 1) scores, without drawing them; its
    ``scores`` are ``None``. Iterative Random pruning ranks the U(0, 1) scores of
    :func:`compute_scores`.

    Iterative pruning (Tanaka et al. 2020; Synaptic-Flow ``prune_loop``,
    ``research/prior_and_code.md`` Sec. C.1): round ``e = 1..E`` re-scores the network with the
    masks of round ``e - 1`` applied, ranks the already pruned entries last and keeps a fraction
    ``density ** (e / E)`` (exponential schedule), so the last round lands exactly on ``density``.
    ``E = iterations`` defaults to 100 for ``"synflow"`` (as in the SynFlow paper and the code base
    the graphon papers used) and to 1 (one shot) for the other methods. Every round keeps exactly
    ``round(density ** (e / E) * N)`` entries; Synaptic-Flow's reference keeps the entries above its
    ``kthvalue``, so it differs from this count by the ties at its threshold in each round (2 to 82
    entries of a few hundred thousand in a comparison on digits MLPs), and the schedule then
    diverges by those entries: the final density is exact here and approximate there.

    Args:
        model: a :class:`~graphon.models.MaskedMLP`; its masks are replaced when ``apply=True``.
        method: one of :data:`METHODS`.
        density: fraction kept, rho in (0, 1], over the prunable layers of each seed.
        x, y, loss, temperature, seed: as in :func:`compute_scores` (``x, y`` needed by
            :data:`DATA_DRIVEN` methods).
        scope: ``"global"`` (one threshold over the prunable layers) or ``"layer"``.
        layers: indices of the prunable layers (default: all). The others keep all-ones masks
            (or, with ``from_current=True``, their current masks).
        iterations: number of rounds ``E >= 1`` (default: 100 for synflow, 1 otherwise).
        apply: call ``model.set_masks(masks)``.
        from_current: start from the model's current masks instead of the dense network.
        keep_scores: return the last round's scores in the result (``None`` otherwise).

    Returns:
        A :class:`PruneResult` (masks on the model's device, in the weights' dtype).

    Raises:
        ValueError: unknown ``method`` (the message lists :data:`METHODS`), ``scope`` or ``loss``;
            ``density`` not in (0, 1]; ``iterations < 1``; bad ``layers``; a data-driven method
            without ``x``/``y`` or with badly shaped data; ``temperature <= 0``.
    """
    _check_model(model)
    method, loss, temperature, seed = _check_common(method, loss, temperature, seed)
    density = check_density(density)
    scope = check_choice(scope, "scope", SCOPES)
    prunable = _check_layers(layers, model.n_layers)
    if iterations is None:
        iterations = DEFAULT_SYNFLOW_ITERATIONS if method == "synflow" else 1
    iterations = check_positive_int(iterations, "iterations")
    if method in DATA_DRIVEN:
        x, y = _prepare_data(model, x, y, loss, method)
    # boolean masks throughout (no dtype copies); float masks only when PruneResult.masks is read
    if from_current:
        alive = [_dense(w) if m is None else m.detach() > 0
                 for m, w in zip(model.stored_masks, model.weights, strict=True)]
    else:
        alive = [_dense(w) for w in model.weights]
    rounds = range(1, iterations + 1)
    if iterations > 1:
        rounds = progress(rounds, desc=f"{method} pruning")
    if method == "random" and iterations == 1 and not from_current:
        # Random pruning's kept set is a uniform subset of exactly k entries: drawn directly
        # (graphon.selection.random_subset), without one score per weight.
        alive, scores = _random_prune(model, density, scope, prunable, seed), None
    elif method == "magnitude" and iterations == 1 and not from_current:
        # |theta| ranked inside the selection (keep_top(absolute=True)): no score tensor unless kept
        weights = [w.detach() for w in model.weights]
        keep = _select(weights, density, scope, prunable, absolute=True)
        alive = [keep.get(i, a) for i, a in enumerate(alive)]
        scores = [w.abs() for w in weights] if keep_scores else None
    elif method == "synflow" and _SYNFLOW_FAST:
        with torch.no_grad():
            alive, scores = _synflow_loop(
                model, alive, density, iterations, scope, prunable, from_current, rounds
            )
    else:
        abs_weights = None
        if method == "synflow":
            abs_weights = [w.detach().to(torch.float64).abs() for w in model.weights]
        scores = None
        for e in rounds:
            rho_e = density ** (e / iterations)
            with torch.no_grad():  # data-driven scores switch autograd back on internally
                scores = _compute_scores(
                    model, method, alive, x, y, loss, temperature, seed, abs_weights=abs_weights
                )
                if from_current or e > 1:  # rank already pruned entries last: never regrow
                    for i in prunable:
                        scores[i].masked_fill_(~alive[i], -math.inf)
                keep = _select(scores, rho_e, scope, prunable)
            alive = [keep.get(i, a) for i, a in enumerate(alive)]

    weights = list(model.weights)
    if apply:
        dense = [i for i, a in enumerate(alive) if i not in prunable and _is_dense(a)]
        model.clear_masks(dense)
        model.set_masks([None if i in dense else a for i, a in enumerate(alive)])
    return PruneResult(
        method=method,
        density=density,
        keep=alive,
        density_kept=[_kept_fraction(a, w.dtype) for a, w in zip(alive, weights, strict=True)],
        scores=scores if keep_scores else None,
        scope=scope,
        layers=prunable,
        iterations=iterations,
        dtype=weights[0].dtype,
    )


def _is_dense(keep: torch.Tensor) -> bool:
    """Whether ``keep`` is a :func:`_dense` view (all True, no storage of its own)."""
    return keep.dim() > 0 and all(st == 0 for st in keep.stride()) and bool(keep[(0,) * keep.dim()])


def _kept_fraction(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Kept fraction per seed ``(S,)`` of a boolean ``(S, out, in)`` mask: the count, exact, over
    the layer's size (equal to the float mask's mean while the count is below ``2**24``)."""
    S = keep.shape[0]
    if _is_dense(keep):
        return torch.ones(S, dtype=dtype, device=keep.device)
    return count_kept(keep).to(dtype) / keep[0].numel()
