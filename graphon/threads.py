"""Thread count for small CPU computations.

One job: run a small CPU computation on one torch thread. LAPACK and elementwise kernels through
torch's OpenMP pool can be about 1000x slower on a busy 2-core machine for matrices of a few hundred
rows (threads spin at barriers); one thread is then both faster and deterministic. Used by the
kernel statistics (:mod:`graphon.ntk`) and the training of small networks (:mod:`graphon.training`).
"""

from __future__ import annotations

import torch

__all__ = ["one_thread_for_small_cpu"]


class one_thread_for_small_cpu:  # noqa: N801 - a context manager used like a function
    """Context manager: one torch thread while inside, when the tensor is on the CPU and small.

    Args:
        K: a tensor whose device and last dimension decide (e.g. an ``(N, N)`` kernel).
        limit: largest size run on one thread: ``K.shape[-1]`` (default) or ``numel``.
        numel: a size to compare with ``limit`` instead of ``K.shape[-1]`` (e.g. a network's
            number of weights).
    """

    def __init__(self, K: torch.Tensor, limit: int = 2048, numel: int | None = None) -> None:
        small = K.shape[-1] <= limit if numel is None else numel <= limit
        self.active = K.device.type == "cpu" and small
        self.saved = torch.get_num_threads()

    def __enter__(self):
        if self.active:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            torch.set_num_threads(self.saved)
