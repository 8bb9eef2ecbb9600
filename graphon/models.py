"""Masked multilayer perceptrons in the NTK parameterisation, with a leading seed axis.

The network (paper Sec. 3.2 setting, as read in ``research/paper.md`` Sec. 2; Jacot et al. 2018)::

    h_0 = x,   h_l = sigma( (M_l * W_l) h_{l-1} / sqrt(fan_in_l) ),   f(x) = (M_L * W_L) h_{L-1} / sqrt(fan_in_L)

with every weight entry drawn i.i.d. N(0, 1), no biases, and ``M_l`` a binary mask. Layout follows
torch: ``W_l`` and ``M_l`` have shape ``(out, in)`` (hidden x input for the first layer), so
the *row* ``i`` of a mask is an output-side (hidden) neuron and the *column* ``j`` an input-side neuron.

Many seeds are one network with a leading seed axis: every weight and mask tensor has shape
``(S, out, in)`` and the forward pass maps inputs ``(B, d)`` (shared by all seeds) or
``(S, B, d)`` to outputs ``(S, B, d_out)``. Since seeds never interact, the gradient of a loss
summed over seeds gives each seed its own gradient; Adam, being elementwise, also trains every seed
exactly as if alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .device import resolve_device, seeded_normal
from .validation import check_choice, check_positive_int, check_seeds

__all__ = ["ACTIVATIONS", "activation_fn", "MaskedMLP", "mlp_forward"]

ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "sigmoid", "erf")
"""Activations with an analytic or quadrature Graphon-NTK (see :mod:`graphon.ntk`)."""

_ACT: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "erf": torch.erf,
}


def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The elementwise activation called ``name``.

    Raises:
        ValueError: if ``name`` is not one of :data:`ACTIVATIONS`.
    """
    return _ACT[check_choice(name, "activation", ACTIVATIONS)]


def mlp_forward(
    weights: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor] | None,
    x: torch.Tensor,
    activation: str = "relu",
) -> torch.Tensor:
    """Functional forward pass of a masked MLP in the NTK parameterisation.

    Args:
        weights: per layer, a tensor ``(..., out, in)`` (optionally with a leading seed axis ``S``).
        masks: per layer, a tensor broadcastable to the weight (same layout) or ``None`` (that
            layer dense); or ``None`` (every layer dense).
        x: inputs ``(B, d)`` or ``(S, B, d)``.
        activation: one of :data:`ACTIVATIONS`, applied after every layer but the last.

    Returns:
        Outputs ``(..., B, d_out)``.

    Raises:
        ValueError: for an unknown ``activation``.

    Source: the NTK parameterisation of Jacot et al. (2018), no biases (``research/paper.md`` Sec. 2).
    """
    act = activation_fn(activation)
    h = x
    last = len(weights) - 1
    for layer, w in enumerate(weights):
        m = None if masks is None else masks[layer]
        wm = w if m is None else w * m
        h = torch.matmul(h, wm.transpose(-1, -2)) / math.sqrt(w.shape[-1])
        if layer < last:
            h = act(h)
    return h


class MaskedMLP(nn.Module):
    """A batch of ``S`` masked MLPs (one per seed) sharing an architecture.

    Args:
        d: input dimension ``d`` (>= 1).
        widths: hidden widths ``(n_1, ..., n_L)``, each >= 1 (``L >= 1``).
        d_out: output dimension (default 1, a scalar regression output).
        activation: one of :data:`ACTIVATIONS`.
        seeds: an int ``k`` (seeds ``0..k-1``) or a list of seeds; seed ``s`` always draws the same
            weights, alone or in a batch.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.
        dtype: floating dtype of the weights.

    Attributes:
        weights: :class:`~torch.nn.ParameterList`; ``weights[l]`` has shape ``(S, out, in)``, entries N(0, 1).
        masks: one ``(S, out, in)`` float 0/1 mask per layer (:attr:`masks`), all ones at creation;
            stored in the buffers ``mask_l`` only once set (``None`` while dense, so a fresh model
            holds no mask memory and its forward pass skips the multiply).

    Raises:
        ValueError: for ``d`` or a width < 1, an empty ``widths``, an unknown activation or device.
    """

    def __init__(
        self,
        d: int,
        widths: Sequence[int],
        d_out: int = 1,
        activation: str = "relu",
        seeds: int | Sequence[int] = 1,
        device: str | torch.device | None = "auto",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.d = check_positive_int(d, "d")
        if isinstance(widths, int):
            widths = [widths]
        if len(widths) == 0:
            raise ValueError("widths must list at least one hidden width n >= 1, got []")
        self.widths = [check_positive_int(n, "width") for n in widths]
        self.d_out = check_positive_int(d_out, "d_out")
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.seeds = check_seeds(seeds)
        dev = resolve_device(device)
        sizes = [self.d, *self.widths, self.d_out]
        self.weights = nn.ParameterList(
            nn.Parameter(
                seeded_normal([1_000_003 * layer + s for s in self.seeds], (fan_out, fan_in), dev, dtype)
            )
            for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        )
        for layer in range(len(self.weights)):  # dense until set: no all-ones tensor is stored
            self.register_buffer(f"mask_{layer}", None)

    @property
    def n_seeds(self) -> int:
        """Number of stacked seeds ``S``."""
        return len(self.seeds)

    @property
    def n_layers(self) -> int:
        """Number of weight matrices (hidden layers + readout)."""
        return len(self.weights)

    @property
    def stored_masks(self) -> list[torch.Tensor | None]:
        """The mask buffers as stored: ``(S, out, in)`` float 0/1, or ``None`` for a dense layer."""
        return [getattr(self, f"mask_{layer}") for layer in range(self.n_layers)]

    @property
    def masks(self) -> list[torch.Tensor]:
        """The masks, one ``(S, out, in)`` tensor per layer, in the weights' dtype. A dense layer
        (never masked, or reset by :meth:`clear_masks`) reads as a read-only all-ones view that
        stores one number (``torch.ones(()).expand``); ``.clone()`` it to get a writable tensor."""
        return [
            torch.ones((), dtype=w.dtype, device=w.device).expand(w.shape) if m is None else m
            for m, w in zip(self.stored_masks, self.weights, strict=True)
        ]

    def set_masks(self, masks: Sequence[torch.Tensor | None]) -> None:
        """Replace the masks; ``None`` leaves a layer as it is.

        Each mask is copied (bool or float 0/1, stored in the weights' dtype and device).

        Raises:
            ValueError: if the number of masks or a mask's shape does not match the weights.
        """
        if len(masks) != self.n_layers:
            raise ValueError(f"masks must have one entry per layer ({self.n_layers}), got {len(masks)}")
        for layer, m in enumerate(masks):
            if m is None:
                continue
            w = self.weights[layer]
            if tuple(m.shape) != tuple(w.shape):
                raise ValueError(
                    f"masks[{layer}] must have shape {tuple(w.shape)} (S, out, in), got {tuple(m.shape)}"
                )
            setattr(self, f"mask_{layer}", m.detach().to(device=w.device, dtype=w.dtype, copy=True))

    def clear_masks(self, layers: Sequence[int] | None = None) -> None:
        """Make ``layers`` (default: all) dense again: all-ones masks, stored as ``None``.

        Raises:
            ValueError: for a layer index outside ``[0, n_layers)``.
        """
        for layer in range(self.n_layers) if layers is None else layers:
            if not 0 <= int(layer) < self.n_layers:
                raise ValueError(f"layers must be indices in [0, {self.n_layers}), got {layer!r}")
            setattr(self, f"mask_{int(layer)}", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(S, B, d_out)`` for inputs ``(B, d)`` or ``(S, B, d)``."""
        return mlp_forward(list(self.weights), self.stored_masks, x, self.activation)

    def density(self) -> list[torch.Tensor]:
        """Kept fraction of each layer's mask, per seed: a list of ``(S,)`` tensors."""
        return [
            torch.ones(self.n_seeds, dtype=w.dtype, device=w.device) if m is None else m.mean(dim=(-2, -1))
            for m, w in zip(self.stored_masks, self.weights, strict=True)
        ]
