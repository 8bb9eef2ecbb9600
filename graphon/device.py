"""Device selection and seeded random draws.

Every computation in :mod:`graphon` runs on one torch device: ``"auto"`` (the default) picks
``cuda`` when a GPU is present and ``cpu`` otherwise, and any explicit choice can override it.
Random draws take explicit integer seeds: each seed owns a :class:`torch.Generator`, so the draw
for seed ``s`` is the same whether it is made alone or stacked with other seeds in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from .validation import check_positive_int, check_seeds

__all__ = ["resolve_device", "seeded_normal", "seeded_uniform", "generator"]

_DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return the torch device to compute on.

    Args:
        device: ``"auto"`` or ``None`` (``cuda`` if available, else ``cpu``), ``"cpu"``,
            ``"cuda"`` / ``"cuda:K"``, or a :class:`torch.device`.

    Raises:
        ValueError: for an unknown device name, or ``cuda`` asked for on a machine without a GPU.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str) and (device in _DEVICE_CHOICES or device.startswith("cuda:")):
        dev = torch.device(device)
    else:
        raise ValueError(f"device must be one of {list(_DEVICE_CHOICES)} (or 'cuda:K'), got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch sees no GPU on this machine; use 'auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device must name a GPU in cuda:0..cuda:{torch.cuda.device_count() - 1}, got {device!r}")
    return dev


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``.

    Raises:
        ValueError: if ``seed`` is not an integer >= 0.
    """
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(check_positive_int(seed, "seed", minimum=0))
    return g


def _seeded(fn, seeds: int | Sequence[int], shape: Sequence[int], device, dtype) -> torch.Tensor:
    """Fill one preallocated ``(S, *shape)`` tensor, block ``s`` from seed ``s``'s own generator.

    On the CPU a torch generator draws on one core, so the seeds' blocks are drawn by a thread pool
    (one thread per torch intra-op thread); each block depends only on its seed, so the result is
    bit-identical to drawing the seeds one by one.
    """
    dev = resolve_device(device)
    seeds = check_seeds(seeds)
    out = torch.empty((len(seeds), *shape), device=dev, dtype=dtype)

    def draw(i: int) -> None:
        fn(tuple(shape), generator=generator(seeds[i], dev), out=out[i])

    workers = min(len(seeds), torch.get_num_threads()) if dev.type == "cpu" else 1
    if workers > 1 and out[0].numel() >= 1 << 16:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(draw, range(len(seeds))))
    else:
        for i in range(len(seeds)):
            draw(i)
    return out


def seeded_normal(
    seeds: int | Sequence[int],
    shape: Sequence[int],
    device: str | torch.device | None = "auto",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal draws, one independent block per seed.

    Returns:
        Tensor of shape ``(S, *shape)`` where ``S = len(seeds)``; block ``s`` depends only on its seed
        (and on the device type: CPU and CUDA generators give different streams).
    """
    return _seeded(torch.randn, seeds, shape, device, dtype)


def seeded_uniform(
    seeds: int | Sequence[int],
    shape: Sequence[int],
    device: str | torch.device | None = "auto",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Uniform(0, 1) draws, one independent block per seed; shape ``(S, *shape)``."""
    return _seeded(torch.rand, seeds, shape, device, dtype)
