"""Active coordinates, dense cores, and fitting k-active-coordinate targets with fixed masks.

Sources (read ``research/paper.md`` Sec. 5 and Sec. S before citing anything here):

* **The paper's statement** (Lemma 5.6 "dense core", Theorem 5.7 "universality on active
  coordinates") could not be read. What is known, from a secondary source (the reviewer's note,
  ``research/paper.md`` Sec. S): the universal approximation theorem is *limited to k active
  coordinates*, needs a *positive-measure rectangle / edge floor* of the graphon, and the condition
  ``alpha n p^k -> infinity``; it gives no capability on the full ambient space and no guarantee that
  a pruning algorithm finds the task's features.
* **This book's reading** (INFERRED, ``research/paper.md`` Sec. 5, not the paper's statement):
  a set ``J`` of ``k`` input coordinates is *active* when the graphon is at least ``p`` on a rectangle
  ``A x B`` with ``|A| = alpha > 0`` (hidden positions ``A``, input positions ``B`` holding ``J``).
  With edges independent Bernoulli(``W(u_i, v_j)``) given the graphon, the number of hidden units
  wired to *all* of ``J`` (the **dense core**) is a sum of independent Bernoulli(``prod_j W(u_i, v_j)``)
  over the rows (a Poisson-binomial law), which dominates ``Binomial(alpha n, p^k)`` with mean
  ``alpha n p^k``. On the dense core the sparse network is a dense one-hidden-layer network of
  ``x_J``, so Cybenko / Leshno et al. give universality in ``x_J`` when the core grows.

Layout follows :mod:`graphon.models`: masks are ``(S, n, d)`` (seed, hidden = out, input = in), a
graphon on a grid is ``(K, d)`` (rows = hidden positions ``u``, columns = input coordinates).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .device import resolve_device, seeded_normal, seeded_uniform
from .models import MaskedMLP
from .progress import progress
from .validation import check_in_range, check_positive_int, check_probability

__all__ = [
    "PAPER_UNVERIFIED",
    "ActiveCoordinates",
    "DenseCoreLaw",
    "FitResult",
    "KSparseStream",
    "active_coordinates",
    "add_bias_column",
    "connection_probabilities",
    "dense_core_distribution",
    "dense_core_law",
    "dense_core_mask",
    "dense_core_curve",
    "dense_core_size",
    "disconnect_coordinates",
    "disconnection_floor",
    "expected_dense_core",
    "fit_masked_network",
    "fit_pruned_network",
    "k_sparse_stream",
    "rectangle_graphon",
    "sample_graphon_masks",
]

PAPER_UNVERIFIED = True
"""The dense-core law and the universality reading here are this book's reconstruction
(``research/paper.md`` Sec. 5), not checked against the paper's text."""


# --------------------------------------------------------------------------------------------
# graphons on a grid and masks sampled from them
# --------------------------------------------------------------------------------------------


def _is_step_graphon(w) -> bool:
    from .graphons import StepGraphon

    return isinstance(w, StepGraphon)


def _as_float_tensor(w, name: str) -> torch.Tensor:
    """A float tensor from a tensor, an array, a nested list, or a :class:`~graphon.graphons.StepGraphon`.

    A step graphon with equal blocks gives its ``values``; one with unequal blocks is read exactly at
    1000 equally spaced row positions (:func:`graphon.graphons.neuron_probabilities`).
    """
    if _is_step_graphon(w):
        if w.row_widths is None and w.col_widths is None:
            w = w.values
        else:
            from .graphons import neuron_probabilities

            return neuron_probabilities(w, 1000, device=w.values.device).to(w.values.dtype)
    if not isinstance(w, torch.Tensor):
        try:
            w = torch.as_tensor(w)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name} must be a tensor, an array or a step graphon, got {type(w)!r}") from None
    if not torch.is_floating_point(w):
        w = w.float()
    return w


def connection_probabilities(W, sort_rows: bool | None = None) -> torch.Tensor:
    """Connection probabilities ``(K, d)`` (rows = hidden positions, columns = input coordinates).

    Args:
        W: either a graphon on a grid: a ``(K, d)`` tensor/array of probabilities in [0, 1] or a
            step graphon object holding such a matrix (``.values``); or masks ``(S, n, d)`` (0/1),
            whose seed average is the empirical connection probability.
        sort_rows: for masks only: sort each seed's rows by decreasing degree before averaging (the
            step-kernel convention: a graphon is defined up to relabelling the hidden units, which
            are exchangeable across seeds). Default: ``True`` for masks. Input columns are never
            sorted: they are the coordinates themselves.

    Returns:
        A float tensor ``(K, d)`` on the input's device.

    Raises:
        ValueError: for a tensor that is not 2-D or 3-D, or values outside [0, 1].
    """
    w = _as_float_tensor(W, "W")
    if w.dim() == 3:
        if sort_rows is None or sort_rows:
            order = w.sum(dim=-1).argsort(dim=-1, descending=True, stable=True)
            w = torch.gather(w, 1, order.unsqueeze(-1).expand_as(w))
        w = w.mean(dim=0)
    elif w.dim() != 2:
        raise ValueError(f"W must be a (K, d) graphon grid or (S, n, d) masks, got shape {tuple(w.shape)}")
    if w.numel() and (float(w.min()) < 0.0 or float(w.max()) > 1.0):
        raise ValueError("W must hold probabilities in [0, 1]")
    return w


def rectangle_graphon(
    K: int,
    d: int,
    coords: Sequence[int],
    p: float,
    alpha: float = 1.0,
    background: float = 0.0,
    device: str | torch.device | None = "auto",
) -> torch.Tensor:
    """A graphon on a ``(K, d)`` grid with an edge floor ``p`` on the rectangle ``A x B``.

    ``A`` is the first ``round(alpha K)`` hidden positions (measure ``alpha``), ``B`` the columns
    ``coords``; every other entry equals ``background``. This is the book's picture of the
    hypothesis of Lemma 5.6 (``research/paper.md`` Sec. 5, INFERRED reading).

    Returns:
        A float tensor ``(K, d)``.

    Raises:
        ValueError: for ``K`` or ``d`` < 1, ``p`` or ``alpha`` outside (0, 1], ``background``
            outside [0, 1], or a bad coordinate set.
    """
    K = check_positive_int(K, "K")
    d = check_positive_int(d, "d")
    p = check_probability(p, "p")
    alpha = check_probability(alpha, "alpha")
    background = check_in_range(background, "background", 0.0, 1.0)
    idx = _check_coords(coords, d)
    dev = resolve_device(device)
    w = torch.full((K, d), background, device=dev)
    rows = max(1, int(round(alpha * K)))
    w[:rows, idx.to(dev)] = p
    return w


def sample_graphon_masks(
    W,
    n: int,
    seeds: int | Sequence[int] = 1,
    device: str | torch.device | None = "auto",
) -> torch.Tensor:
    """Masks ``(S, n, d)`` with independent Bernoulli(``W(u_i, v_j)``) edges.

    Hidden unit ``i`` sits at the grid position ``u_i = (i + 1/2) / n`` and reads row
    ``floor(u_i K)`` of the ``(K, d)`` grid ``W`` (a step graphon with unequal blocks is evaluated
    exactly at ``u_i``); input column ``j`` is coordinate ``j``. The positions are those of
    :func:`graphon.graphons.neuron_probabilities`. This is the W-random bipartite graph with
    deterministic latent positions (Lovasz 2012, Ch. 10; the model behind the book's reading of
    Lemma 5.6). The uniforms are float32 and compared with the probabilities in ``W``'s dtype.

    Raises:
        ValueError: for ``n`` < 1, a bad ``W``, bad seeds or device.
    """
    from .graphons import neuron_probabilities

    n = check_positive_int(n, "n")
    dev = resolve_device(device)
    if _is_step_graphon(W):
        dtype = W.values.dtype
        probs = neuron_probabilities(W, n, device=dev)
    else:
        w = connection_probabilities(W).to(dev)
        dtype = w.dtype
        probs = neuron_probabilities(w, n, device=dev)
    probs = probs.to(dtype)  # (n, d)
    u = seeded_uniform(seeds, tuple(probs.shape), dev)
    return (u < probs).float()


# --------------------------------------------------------------------------------------------
# active coordinates
# --------------------------------------------------------------------------------------------


@dataclass
class ActiveCoordinates:
    """Result of :func:`active_coordinates`.

    Attributes:
        coords: the active coordinates ``J`` (sorted int64 tensor ``(k,)``).
        rows: boolean ``(K,)``: the common row set ``A`` (rows where every coordinate of ``J`` has
            connection probability ``>= p``).
        row_measure: ``|A| = rows.mean()``, the hidden side of the rectangle ``A x B``.
        column_measure: ``(d,)``: for each coordinate, the measure of rows with probability ``>= p``.
        p, alpha: the floor and the row measure asked for.
    """

    coords: torch.Tensor
    rows: torch.Tensor
    row_measure: float
    column_measure: torch.Tensor
    p: float
    alpha: float

    @property
    def k(self) -> int:
        """The intrinsic dimension ``k = |J|``."""
        return int(self.coords.numel())


def active_coordinates(W, p: float, alpha: float, sort_rows: bool | None = None) -> ActiveCoordinates:
    """Input coordinates whose connection probability is at least ``p`` on rows of measure ``>= alpha``.

    For each column ``j`` of the connection probabilities ``P`` (see
    :func:`connection_probabilities`), let ``R_j = {rows i : P[i, j] >= p}``. Coordinate ``j`` is
    active when ``|R_j| / K >= alpha``. The common row set ``A`` is the intersection of the ``R_j``
    over the active coordinates (all rows when none is active); ``A x J`` is then a rectangle on
    which the graphon is at least ``p``. Note that ``|A|`` can be smaller than ``alpha`` when the
    columns' row sets differ: check ``row_measure``.

    This is **this book's definition** (INFERRED reading of the paper's "active coordinates" with a
    "positive-measure rectangle / edge floor", ``research/paper.md`` Sec. 5); the paper's own
    definition was not available.

    Args:
        W: a ``(K, d)`` graphon grid, a step graphon object, or masks ``(S, n, d)``.
        p: the edge floor, in (0, 1].
        alpha: the least row measure, in (0, 1].
        sort_rows: for masks, passed to :func:`connection_probabilities`.

    Returns:
        An :class:`ActiveCoordinates` (tensors on the CPU).

    Raises:
        ValueError: for ``p`` or ``alpha`` outside (0, 1], or a bad ``W``.
    """
    p = check_probability(p, "p")
    alpha = check_probability(alpha, "alpha")
    P = connection_probabilities(W, sort_rows=sort_rows).detach().cpu()
    K = P.shape[0]
    above = P >= p - 1e-12  # (K, d)
    col_measure = above.float().mean(dim=0)
    active = torch.nonzero(col_measure >= alpha - 1e-12).flatten()
    if active.numel():
        rows = above[:, active].all(dim=1)
    else:
        rows = torch.ones(K, dtype=torch.bool)
    return ActiveCoordinates(
        coords=active, rows=rows, row_measure=float(rows.float().mean()),
        column_measure=col_measure, p=p, alpha=alpha,
    )


# --------------------------------------------------------------------------------------------
# dense core
# --------------------------------------------------------------------------------------------


def _check_coords(coords, d: int) -> torch.Tensor:
    """Validate a coordinate set against ``d``; return a sorted int64 tensor of distinct indices."""
    if isinstance(coords, torch.Tensor):
        vals = coords.detach().cpu().flatten().tolist()
    else:
        try:
            vals = list(coords)
        except TypeError:
            raise ValueError(f"coords must be a list of coordinates in 0..{d - 1}, got {coords!r}") from None
    if len(vals) == 0:
        raise ValueError("coords must hold at least one coordinate (k >= 1), got an empty set")
    try:
        ints = [int(v) for v in vals]
    except (TypeError, ValueError):
        raise ValueError(f"coords must be integers in 0..{d - 1}, got {coords!r}") from None
    if len(set(ints)) != len(ints):
        raise ValueError(f"coords must not repeat a coordinate, got {ints}")
    if len(ints) > d:
        raise ValueError(f"k = len(coords) must be <= d = {d}, got k = {len(ints)}")
    if min(ints) < 0 or max(ints) >= d:
        raise ValueError(f"coords must lie in 0..d-1 = 0..{d - 1}, got {ints}")
    return torch.tensor(sorted(ints), dtype=torch.long)


def _check_masks(masks) -> torch.Tensor:
    m = torch.as_tensor(masks)
    if m.dim() == 2:
        m = m.unsqueeze(0)
    if m.dim() != 3:
        raise ValueError(f"masks must have shape (S, n, d) (seed, hidden, input), got {tuple(m.shape)}")
    return m


def dense_core_mask(masks, coords) -> torch.Tensor:
    """Boolean ``(S, n)``: which hidden units are wired to **all** coordinates in ``coords``.

    Args:
        masks: ``(S, n, d)`` 0/1 masks of the first layer (layout out x in), or one ``(n, d)`` mask.
        coords: the coordinate set ``J`` (``k`` distinct indices in ``0..d-1``).

    Raises:
        ValueError: for an empty ``coords``, an index outside ``0..d-1``, ``k > d``, or masks that
            are not 2-D/3-D.
    """
    m = _check_masks(masks)
    idx = _check_coords(coords, m.shape[-1]).to(m.device)
    return (m.index_select(-1, idx) != 0).all(dim=-1)


def dense_core_size(masks, coords) -> torch.Tensor:
    """Dense-core size per seed: the number of hidden units wired to all of ``coords``; shape ``(S,)``.

    The **dense core** is this book's name (INFERRED reading of the paper's Lemma 5.6,
    ``research/paper.md`` Sec. 5) for the hidden units connected to every active coordinate.

    Args:
        masks: ``(S, n, d)`` masks (or one ``(n, d)`` mask, giving ``S = 1``).
        coords: ``k`` distinct coordinates in ``0..d-1``.

    Returns:
        An int64 tensor ``(S,)`` on the masks' device.

    Raises:
        ValueError: as :func:`dense_core_mask`.
    """
    return dense_core_mask(masks, coords).sum(dim=-1)


def _check_core_args(n, p, k, alpha) -> tuple[int, float, int, float]:
    """Validated ``(n, p, k, alpha)`` of a dense-core law (ValueError naming the parameter)."""
    return (
        check_positive_int(n, "n"),
        check_probability(p, "p"),
        check_positive_int(k, "k"),
        check_probability(alpha, "alpha"),
    )


def expected_dense_core(n: int, p: float, k: int, alpha: float = 1.0) -> float:
    """``alpha n p^k``: mean of ``Binomial(alpha n, p^k)``, the dense core for an edge floor ``p``.

    Source: the condition ``alpha n p^k -> infinity`` is the paper's (secondary source,
    ``research/paper.md`` Sec. S); reading it as the mean of a binomial dense-core size is **this
    book's** (Sec. 5, INFERRED).

    Raises:
        ValueError: for ``n`` or ``k`` < 1, ``p`` or ``alpha`` outside (0, 1].
    """
    n, p, k, alpha = _check_core_args(n, p, k, alpha)
    return alpha * n * p**k


@dataclass
class DenseCoreLaw:
    """Law of the dense-core size: a sum of independent Bernoulli(``q_i``) over hidden units.

    Attributes:
        mean: ``sum_i q_i``.
        variance: ``sum_i q_i (1 - q_i)``.
        row_probabilities: ``(n,)`` tensor of ``q_i = prod_{j in J} W(u_i, v_j)`` (CPU, float64).
        binomial: ``(trials, success)`` when every non-zero ``q_i`` is the same (a Binomial law),
            else ``None``.
        source: where the law comes from.
    """

    mean: float
    variance: float
    row_probabilities: torch.Tensor
    binomial: tuple[int, float] | None = None
    source: str = field(default="this book's derivation (research/paper.md Sec. 5, INFERRED)")

    @property
    def std(self) -> float:
        """Standard deviation ``sqrt(variance)``."""
        return math.sqrt(self.variance)

    def prob_at_least(self, m: int) -> float:
        """``P(core >= m)``, exactly (dynamic programming over the rows, float64)."""
        m = int(m)
        if m <= 0:
            return 1.0
        q = self.row_probabilities.to(torch.float64)
        n = q.numel()
        if m > n:
            return 0.0
        dist = torch.zeros(n + 1, dtype=torch.float64)
        dist[0] = 1.0
        for qi in q.tolist():
            if qi == 0.0:
                continue
            dist[1:] = dist[1:] * (1 - qi) + dist[:-1] * qi
            dist[0] = dist[0] * (1 - qi)
        return float(dist[m:].sum())


def dense_core_law(n: int, p: float, k: int, alpha: float = 1.0) -> DenseCoreLaw:
    """``Binomial(round(alpha n), p^k)``: the dense core under a constant edge floor on ``A x J``.

    With edges exactly Bernoulli(``p``) on ``A x J``, the count over ``A`` is this binomial; a graphon
    that is ``>= p`` there gives a core at least as large in distribution. **This book's reading**
    of Lemma 5.6 (``research/paper.md`` Sec. 5, INFERRED).

    Raises:
        ValueError: for ``n`` or ``k`` < 1, ``p`` or ``alpha`` outside (0, 1].
    """
    n, p, k, alpha = _check_core_args(n, p, k, alpha)
    trials = int(round(alpha * n))
    q = p**k
    rows = torch.zeros(n, dtype=torch.float64)
    rows[:trials] = q
    return DenseCoreLaw(
        mean=trials * q, variance=trials * q * (1 - q), row_probabilities=rows, binomial=(trials, q)
    )


def dense_core_distribution(n: int, W, coords) -> DenseCoreLaw:
    """Law of the dense-core size of masks with independent Bernoulli(``W(u_i, v_j)``) edges.

    Hidden unit ``i`` sits at ``u_i = (i + 1/2)/n`` (as in :func:`sample_graphon_masks`); it is in
    the core with probability ``q_i = prod_{j in J} W(u_i, v_j)``, independently of the other units,
    so the core size is Poisson-binomial with mean ``sum q_i`` and variance ``sum q_i (1 - q_i)``.
    When ``W = p`` on ``A x J`` with ``|A| = alpha`` and 0 elsewhere, this is
    ``Binomial(alpha n, p^k)`` (then ``binomial`` is set). **This book's derivation**
    (``research/paper.md`` Sec. 5, INFERRED), not the paper's statement.

    Args:
        n: width (number of hidden units), >= 1.
        W: a ``(K, d)`` graphon grid, a step graphon object, a float (constant graphon; then
            ``coords`` only fixes ``k``), or masks ``(S, n', d)`` (their seed-averaged
            probabilities, rows unsorted, are used as the grid).
        coords: the ``k`` coordinates ``J``.

    Returns:
        A :class:`DenseCoreLaw`.

    Raises:
        ValueError: for ``n`` < 1, a bad ``W``, an empty/out-of-range ``coords`` or ``k > d``.
    """
    n = check_positive_int(n, "n")
    if isinstance(W, (int, float)) and not isinstance(W, bool):
        p = check_in_range(W, "W", 0.0, 1.0)
        k = len(list(coords)) if not isinstance(coords, torch.Tensor) else coords.numel()
        if k == 0:
            raise ValueError("coords must hold at least one coordinate (k >= 1), got an empty set")
        if p == 0.0:
            rows = torch.zeros(n, dtype=torch.float64)
            return DenseCoreLaw(0.0, 0.0, rows, (n, 0.0))
        return dense_core_law(n, p, k)
    from .graphons import neuron_probabilities

    if _is_step_graphon(W):
        probs = neuron_probabilities(W, n, device="cpu")
    else:
        w = connection_probabilities(_as_float_tensor(W, "W"), sort_rows=False).detach().cpu()
        probs = neuron_probabilities(w, n, device="cpu")
    idx = _check_coords(coords, probs.shape[1])
    q = probs[:, idx].prod(dim=1)
    nz = q[q > 0]
    binom = None
    if nz.numel() == 0:
        binom = (n, 0.0)
    elif torch.allclose(nz, nz[0].expand_as(nz), rtol=0, atol=1e-12):
        binom = (int(nz.numel()), float(nz[0]))
    return DenseCoreLaw(
        mean=float(q.sum()), variance=float((q * (1 - q)).sum()), row_probabilities=q, binomial=binom
    )


# --------------------------------------------------------------------------------------------
# an endless stream of k-active-coordinate samples (the infinite-data regime)
# --------------------------------------------------------------------------------------------


@dataclass
class KSparseStream:
    """Fresh samples ``x ~ N(0, I_d)``, ``y = g(x_J)`` of a k-active-coordinate task, on demand.

    The targets ``g`` are those of :func:`graphon.data.k_sparse_task` (``target`` in
    :data:`graphon.data.K_SPARSE_TARGETS`); the ``"sin"`` direction is drawn once from
    ``task_seed``, so every draw and :meth:`split` describe the same function. Calling the stream,
    ``stream(m, seed)``, returns ``m`` samples ``(x (m, d), y (m,))`` that depend only on ``seed``
    (CPU float32). Build one with :func:`k_sparse_stream`.

    Attributes:
        d: ambient input dimension.
        active: the sorted active coordinates ``J`` (``k`` of them).
        target: the target name.
        task_seed: seeds the ``"sin"`` direction and, through :meth:`split`, the fixed samples.
    """

    d: int
    active: list[int]
    target: str
    task_seed: int = 0

    @property
    def k(self) -> int:
        """The number of active coordinates."""
        return len(self.active)

    def __call__(self, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        from .data import _k_sparse_target

        m = check_positive_int(m, "m")
        x = torch.randn(m, self.d, generator=torch.Generator().manual_seed(int(seed)))
        fn_gen = torch.Generator().manual_seed(int(self.task_seed))  # the same g at every call
        return x, _k_sparse_target(x[:, self.active], self.target, fn_gen)

    def split(self, n_train: int, n_test: int, device: str | torch.device | None = "auto"):
        """A fixed :class:`graphon.data.Split` of the same task: ``n_train`` and ``n_test`` draws with
        stream seeds ``2**40 + 2 task_seed`` and ``2**40 + 2 task_seed + 1``, far from the seeds of the
        training batches of :func:`fit_masked_network`, so the split is independent of them.

        Raises:
            ValueError: for ``n_train`` or ``n_test`` < 1, or a bad device.
        """
        from .data import Split

        dev = resolve_device(device)
        base = 2**40 + 2 * int(self.task_seed)
        x_tr, y_tr = self(check_positive_int(n_train, "n_train"), base)
        x_te, y_te = self(check_positive_int(n_test, "n_test"), base + 1)
        return Split(
            x_train=x_tr.to(dev), y_train=y_tr.to(dev), x_test=x_te.to(dev), y_test=y_te.to(dev),
            d=self.d, n_classes=2 if self.target == "sign_sum" else 0,
            name=f"k-sparse stream {self.target} d={self.d} k={self.k}", active=list(self.active),
        )


def k_sparse_stream(
    d: int,
    k: int,
    seed: int = 0,
    target: str = "sign_sum",
    active: Sequence[int] | str | None = "random",
) -> KSparseStream:
    """A :class:`KSparseStream`: the task of :func:`graphon.data.k_sparse_task`, as endless fresh draws.

    Args:
        d: input dimension (>= 1); k: number of active coordinates, ``1 <= k <= d``.
        seed: seeds the active set (when ``active="random"``), the ``"sin"`` direction and the
            fixed samples of :meth:`KSparseStream.split`.
        target: one of :data:`graphon.data.K_SPARSE_TARGETS`.
        active: ``"random"`` (a seeded choice of ``k`` coordinates), ``None`` (``0..k-1``) or ``k``
            distinct coordinates in ``0..d-1``.

    Source: this book's experimental device (the infinite-data regime in which Theorem 5.7, a
    statement about approximation, can be looked at without a generalisation gap); not the paper's.

    Raises:
        ValueError: naming the parameter, for a bad ``d``, ``k``, ``seed``, ``target`` or ``active``.
    """
    from .data import K_SPARSE_TARGETS
    from .validation import check_choice

    d = check_positive_int(d, "d")
    k = check_positive_int(k, "k")
    if k > d:
        raise ValueError(f"k must be an integer in 1..d = 1..{d}, got {k}")
    seed = check_positive_int(seed, "seed", minimum=0)
    target = check_choice(target, "target", K_SPARSE_TARGETS)
    if active is None:
        act = list(range(k))
    elif isinstance(active, str):
        check_choice(active, "active", ["random"])
        act = sorted(torch.randperm(d, generator=torch.Generator().manual_seed(seed))[:k].tolist())
    else:
        act = _check_coords(active, d).tolist()
        if len(act) != k:
            raise ValueError(
                f"active must list k = {k} distinct coordinates in 0..{d - 1}, got {list(active)!r}"
            )
    return KSparseStream(d=d, active=act, target=target, task_seed=seed)


# --------------------------------------------------------------------------------------------
# fitting a masked one-hidden-layer network with fixed masks
# --------------------------------------------------------------------------------------------


@dataclass
class FitResult:
    """Result of :func:`fit_masked_network` (all tensors on the CPU, one entry per seed).

    Attributes:
        train_mse: ``(S,)`` final mean squared error on the training set.
        test_mse: ``(S,)`` mean squared error on the test set.
        relative_test_error: ``(S,)`` ``test_mse / Var(y_test)`` (1 = no better than a constant).
        history: ``{"epoch": [...], "train_mse": (E, S), "test_mse": (E, S)}`` at the logged epochs.
        model: the trained :class:`~graphon.models.MaskedMLP` (with the bias column when used).
        train_variance: ``Var(y_train)`` (population variance, averaged over outputs): a float for
            shared targets, ``(S,)`` for per-seed targets.
    """

    train_mse: torch.Tensor
    test_mse: torch.Tensor
    relative_test_error: torch.Tensor
    history: dict
    model: MaskedMLP
    train_variance: float | torch.Tensor = float("nan")

    @property
    def relative_train_error(self) -> torch.Tensor:
        """``(S,)`` ``train_mse / Var(y_train)`` (1 = no better than a constant; NaN if Var = 0)."""
        var = torch.as_tensor(self.train_variance, dtype=self.train_mse.dtype)
        return torch.where(var > 0, self.train_mse / var, torch.full_like(self.train_mse, float("nan")))

    @property
    def relative_train_error_mean(self) -> float:
        """Seed average of the relative train error (``train_mse_mean / Var(y_train)`` for shared
        targets)."""
        if isinstance(self.train_variance, float):
            var = self.train_variance
            return self.train_mse_mean / var if var > 0 else float("nan")
        return float(self.relative_train_error.mean())

    @property
    def train_mse_mean(self) -> float:
        """Seed average of ``train_mse``."""
        return float(self.train_mse.mean())

    @property
    def test_mse_mean(self) -> float:
        """Seed average of ``test_mse``."""
        return float(self.test_mse.mean())

    @property
    def relative_test_error_mean(self) -> float:
        """Seed average of ``relative_test_error``."""
        return float(self.relative_test_error.mean())


def add_bias_column(x: torch.Tensor) -> torch.Tensor:
    """Append a constant-1 input coordinate: ``(..., d) -> (..., d + 1)`` (a bias, as a weight)."""
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def _with_bias(model: MaskedMLP, bias_seed: int) -> MaskedMLP:
    """A copy of a one-hidden-layer ``model`` with one more, never-pruned, input (the bias).

    The data weights and masks are copied (so a net pruned at initialisation trains from its own
    initial weights); the bias column draws N(0, 1) weights from ``bias_seed`` and its mask is 1.
    """
    w0, w1 = model.weights[0].detach(), model.weights[1].detach()
    S, n, d = w0.shape
    dev = w0.device
    new = MaskedMLP(d + 1, [n], d_out=model.d_out, activation=model.activation,
                    seeds=model.seeds, device=dev, dtype=w0.dtype)
    bias_w = seeded_normal([bias_seed + s for s in model.seeds], (n, 1), dev, w0.dtype)
    with torch.no_grad():
        new.weights[0].copy_(torch.cat([w0, bias_w], dim=-1))
        new.weights[1].copy_(w1)
    m0, m1 = model.masks
    new.set_masks([torch.cat([m0, torch.ones_like(m0[..., :1])], dim=-1), m1])
    return new


def _targets(y: torch.Tensor, d_out: int, n: int | None = None, n_seeds: int | None = None) -> torch.Tensor:
    """Targets as ``(N, d_out)`` (shared by every seed) or ``(S, N, d_out)`` (one per seed).

    Per-seed targets are recognised (when ``n`` and ``n_seeds`` are given) as a 3-D ``(S, N, d_out)``
    tensor or, for ``d_out = 1``, a 2-D ``(S, N)`` one that is not ``(N, 1)``.
    """
    y = torch.as_tensor(y)
    if y.dim() == 1:
        y = y.unsqueeze(-1)
    if n is not None and n_seeds is not None:
        if y.dim() == 2 and d_out == 1 and tuple(y.shape) == (n_seeds, n) and tuple(y.shape) != (n, 1):
            y = y.unsqueeze(-1)
        if y.dim() == 3:
            if tuple(y.shape) != (n_seeds, n, d_out):
                raise ValueError(f"per-seed targets must have shape (S={n_seeds}, N={n}) or "
                                 f"(S, N, d_out={d_out}), got {tuple(y.shape)}")
            return y
    if y.dim() != 2 or y.shape[-1] != d_out:
        want = f"(N,) or (N, d_out={d_out})"
        if n_seeds is not None:
            want += f" or per seed (S={n_seeds}, N)"
        raise ValueError(f"targets must have shape {want}, got {tuple(y.shape)}")
    return y


def _stream_batch(
    stream, m: int, seed: int, bias: bool, d_out: int, dev, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """One fresh mini-batch ``(x, y)`` from ``stream``, on ``dev``, with the bias column when used."""
    xb, yb = stream(m, seed)
    xb = torch.as_tensor(xb).to(dev, dtype)
    yb = _targets(yb, d_out).to(dev, dtype)
    if xb.dim() != 2 or xb.shape[0] != m or yb.shape[0] != m:
        raise ValueError(
            f"stream(m, seed) must return x (m, d) and y (m,), got {tuple(xb.shape)}, {tuple(yb.shape)}"
        )
    return (add_bias_column(xb) if bias else xb), yb


def fit_masked_network(
    network,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    epochs: int = 300,
    lr: float = 1e-2,
    batch_size: int | None = None,
    seed: int = 0,
    activation: str = "relu",
    bias: bool = True,
    log_every: int = 10,
    device: str | torch.device | None = "auto",
    desc: str | None = "fit",
    stream: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]] | None = None,
    input_lr: float | None = None,
) -> FitResult:
    """Train one-hidden-layer masked networks with **fixed** masks (all seeds at once), squared loss.

    The masks are buffers of :class:`~graphon.models.MaskedMLP`, so pruned weights stay out of the
    function during training. Weights have shape ``(S, out, in)``; the loss is the *sum over seeds* of
    each seed's mean squared error, so every seed trains exactly as if alone (Adam is elementwise).
    Inputs and targets are cast to the model's floating dtype (float32 for the tuple form).

    Args:
        network: either a one-hidden-layer :class:`~graphon.models.MaskedMLP` (e.g. pruned at
            initialisation by :func:`graphon.pruning.prune`; its weights are trained in place unless
            ``bias`` adds a column, which trains a copy), or a tuple ``(d, width, masks)`` with first
            layer masks ``(S, width, d)`` (the readout stays dense); then weights are drawn with
            seeds ``seed, ..., seed + S - 1``.
        x_train, y_train: inputs ``(N, d)``, targets ``(N,)`` or ``(N, d_out)`` shared by every seed,
            or **one target per seed**: ``(S, N)`` (``d_out = 1``) or ``(S, N, d_out)`` (e.g. the
            label-noise experiment, where each stacked network sees its own corrupted labels).
        x_test, y_test: the same for the test set (per-seed ``y_test`` gives each seed its own
            ``Var(y_test)`` in ``relative_test_error``).
        epochs: passes over the training set (>= 1).
        lr: Adam learning rate (> 0).
        batch_size: ``None`` for full batch, else the mini-batch size (shuffled with ``seed``).
        seed: seed of new weights (tuple form) and of the mini-batch order.
        activation: for the tuple form, one of :data:`graphon.models.ACTIVATIONS`.
        bias: append a constant-1 input coordinate that is **never pruned** (the network of
            :mod:`graphon.models` has no biases; without one a ReLU net is positively homogeneous and
            cannot be a universal approximator). Its mask column is all ones, so the dense core over
            the data coordinates is unchanged.
        log_every: record train/test MSE every this many epochs (and at the last).
        device: where to train.
        desc: progress-bar label.
        stream: ``None`` (the default): train on the fixed sample ``x_train, y_train``. Otherwise
            a function ``stream(m, seed) -> (x (m, d), y (m,))`` drawing ``m`` **fresh** samples of
            the task, deterministically from ``seed`` (e.g. a :class:`KSparseStream`): every
            mini-batch is then a new draw (the online, infinite-data regime: no sample is seen
            twice, so there is nothing to overfit and the error measured is that of approximation
            and optimisation). An epoch keeps the same number of steps,
            ``ceil(len(x_train) / batch_size)``, and ``batch_size`` is required; ``x_train,
            y_train`` are then only an evaluation sample (independent of the training draws when
            the stream's seeds differ from the sample's). Batch ``t`` (from 0) of the run uses
            stream seed ``1_000_003 * (seed + 1) + t``.
        input_lr: ``None`` (the default): Adam uses ``lr`` for every weight. Otherwise the first
            layer's Adam learning rate is ``input_lr * sqrt(fan_in)`` (``fan_in = d``, plus 1 with
            ``bias``), the readout keeps ``lr``. The network divides the pre-activation by
            ``sqrt(fan_in)`` whatever the mask, and Adam's step is about its learning rate per
            weight, so with ``lr`` each term ``w_ij x_j / sqrt(fan_in)`` moves ``sqrt(fan_in)`` times
            more slowly at large ``d``; with ``input_lr`` it moves about ``input_lr`` per step at every
            ``d`` (Adam in the standard parametrisation). Must be > 0. This book's choice, not the
            paper's.

    Returns:
        A :class:`FitResult` with per-seed errors ``(S,)`` on the CPU.

    Raises:
        ValueError: for ``epochs`` < 1, ``lr`` <= 0, a bad ``batch_size``, shapes that do not match,
            a network that is not one-hidden-layer, or a bad device.
    """
    dev = resolve_device(device)
    epochs = check_positive_int(epochs, "epochs")
    lr = check_in_range(lr, "lr", 0.0, math.inf, low_open=True)
    log_every = check_positive_int(log_every, "log_every")
    x_train = torch.as_tensor(x_train).to(dev)
    x_test = torch.as_tensor(x_test).to(dev)
    if x_train.dim() != 2 or x_test.dim() != 2 or x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"x_train and x_test must be (N, d) with the same d, got {tuple(x_train.shape)} and "
            f"{tuple(x_test.shape)}"
        )
    d = x_train.shape[1]
    if isinstance(network, MaskedMLP):
        model = network.to(dev)
        if model.n_layers != 2:
            raise ValueError(f"network must have one hidden layer, got {model.n_layers - 1}")
        if model.d != d:
            raise ValueError(f"network input dimension {model.d} does not match x_train's d = {d}")
    else:
        try:
            d_net, width, masks = network
        except (TypeError, ValueError):
            raise ValueError("network must be a MaskedMLP or a tuple (d, width, masks)") from None
        d_net = check_positive_int(d_net, "d")
        width = check_positive_int(width, "width")
        masks = _check_masks(masks).to(dev, torch.float32)
        if d_net != d or tuple(masks.shape[1:]) != (width, d):
            raise ValueError(
                f"masks must have shape (S, width={width}, d={d}) and d must match x_train, got "
                f"masks {tuple(masks.shape)} and d = {d_net}"
            )
        S = masks.shape[0]
        model = MaskedMLP(d, [width], activation=activation, seeds=[seed + s for s in range(S)], device=dev)
        model.set_masks([masks, None])
    dtype = model.weights[0].dtype  # train in the model's own floating dtype
    x_train, x_test = x_train.to(dtype), x_test.to(dtype)
    if bias:
        model = _with_bias(model, bias_seed=7_000_003 + seed)
        x_train, x_test = add_bias_column(x_train), add_bias_column(x_test)
    yt = _targets(y_train, model.d_out, x_train.shape[0], model.n_seeds).to(dev, dtype)
    ye = _targets(y_test, model.d_out, x_test.shape[0], model.n_seeds).to(dev, dtype)
    if yt.shape[-2] != x_train.shape[0] or ye.shape[-2] != x_test.shape[0]:
        raise ValueError("x and y must have the same number of samples")
    N = x_train.shape[0]
    if stream is not None and batch_size is None:
        raise ValueError("batch_size must be an integer >= 1 when stream is given (fresh batches)")
    if batch_size is not None:
        batch_size = min(check_positive_int(batch_size, "batch_size"), N)
    steps_per_epoch = 1 if batch_size is None else math.ceil(N / batch_size)

    def mse(x, y):  # per seed, (S,)
        return (model(x) - y).pow(2).mean(dim=(-2, -1))

    if input_lr is None:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        input_lr = check_in_range(input_lr, "input_lr", 0.0, math.inf, low_open=True)
        w_in, *rest = list(model.parameters())
        opt = torch.optim.Adam([{"params": [w_in], "lr": input_lr * math.sqrt(w_in.shape[-1])},
                                {"params": rest, "lr": lr}])
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    hist_epoch, hist_train, hist_test = [], [], []
    step = 0
    for epoch in progress(range(1, epochs + 1), desc=desc):
        if stream is not None:
            batches = [None] * steps_per_epoch
        elif batch_size is None:
            batches = [None]
        else:
            perm = torch.randperm(N, generator=gen).to(dev)
            batches = [perm[i:i + batch_size] for i in range(0, N, batch_size)]
        for b in batches:
            if stream is not None:
                xb, yb = _stream_batch(stream, batch_size, 1_000_003 * (int(seed) + 1) + step, bias,
                                       model.d_out, dev, dtype)
            else:
                xb, yb = (x_train, yt) if b is None else (x_train[b], yt[..., b, :])
            step += 1
            opt.zero_grad(set_to_none=True)
            loss = mse(xb, yb).sum()
            loss.backward()
            opt.step()
        if epoch % log_every == 0 or epoch == epochs:
            with torch.no_grad():
                hist_epoch.append(epoch)
                hist_train.append(mse(x_train, yt).cpu())
                hist_test.append(mse(x_test, ye).cpu())
    train_mse, test_mse = hist_train[-1], hist_test[-1]
    if ye.dim() == 2:  # shared targets
        var = float(ye.var(dim=0, unbiased=False).mean().cpu())
        rel = test_mse / var if var > 0 else torch.full_like(test_mse, float("nan"))
    else:  # per-seed targets: each seed's own Var(y_test)
        var_s = ye.var(dim=-2, unbiased=False).mean(dim=-1).cpu()
        rel = torch.where(var_s > 0, test_mse / var_s, torch.full_like(test_mse, float("nan")))
    if yt.dim() == 2:
        var_train = float(yt.var(dim=0, unbiased=False).mean().cpu())
    else:
        var_train = yt.var(dim=-2, unbiased=False).mean(dim=-1).cpu()
    history = {"epoch": hist_epoch, "train_mse": torch.stack(hist_train), "test_mse": torch.stack(hist_test)}
    return FitResult(train_mse=train_mse, test_mse=test_mse, relative_test_error=rel,
                     history=history, model=model, train_variance=var_train)



# --------------------------------------------------------------------------------------------
# experiment drivers used by the expressivity chapter
# --------------------------------------------------------------------------------------------


def disconnect_coordinates(W, coords) -> torch.Tensor:
    """A copy of a graphon grid ``(K, d)`` or masks ``(S, n, d)`` with the columns ``coords`` set to 0.

    Models a mask (or graphon) that *disconnects* input coordinates: no hidden unit reads them, so
    no network with this mask can depend on them (the failure case of the book's reading of
    Theorem 5.7, ``research/paper.md`` Sec. 5).

    Raises:
        ValueError: for an empty or out-of-range ``coords``.
    """
    w = _as_float_tensor(W, "W").clone()
    idx = _check_coords(coords, w.shape[-1]).to(w.device)
    w.index_fill_(-1, idx, 0.0)
    return w


def dense_core_curve(
    widths: Sequence[int],
    ps: Sequence[float],
    ks: Sequence[int],
    alpha: float = 1.0,
    seeds: int | Sequence[int] = 20,
    device: str | torch.device | None = "auto",
) -> list[dict]:
    """Dense-core sizes of sampled masks against the binomial prediction, over ``(p, k, n)``.

    For each edge floor ``p``, number of active coordinates ``k`` and width ``n``, samples masks
    ``(S, n, k)`` with independent Bernoulli(``p``) edges on ``A x J`` (``|A| = alpha``, rows outside
    ``A`` disconnected, :func:`rectangle_graphon`/:func:`sample_graphon_masks`) and counts the
    dense core (:func:`dense_core_size`).

    Returns:
        One dict per setting: ``n, p, k, alpha``, the empirical ``mean``, ``std`` (over seeds, ddof 1),
        ``q05``/``q95`` (5% and 95% quantiles), ``predicted`` (``alpha n p^k``,
        :func:`expected_dense_core`), ``predicted_exact`` and ``predicted_std`` (mean and standard
        deviation of the exact law of :func:`dense_core_distribution` on the sampling grid), and
        ``sizes`` (the per-seed counts).

    Raises:
        ValueError: for a bad width, ``p``, ``k`` or ``alpha``.
    """
    dev = resolve_device(device)
    alpha = check_probability(alpha, "alpha")
    rows: list[dict] = []
    ps = [check_probability(p, "p") for p in ps]  # validate the raw values, then convert
    ks = [check_positive_int(k, "k") for k in ks]
    widths = [check_positive_int(n, "width") for n in widths]
    settings = [(p, k, n) for p in ps for k in ks for n in widths]
    for p, k, n in progress(settings, desc="dense cores"):
        K = max(n, 1000)
        W = rectangle_graphon(K, k, list(range(k)), p, alpha, background=0.0, device=dev)
        masks = sample_graphon_masks(W, n, seeds, device=dev)
        sizes = dense_core_size(masks, list(range(k))).double().cpu()
        law = dense_core_distribution(n, W, list(range(k)))
        rows.append({
            "n": n, "p": p, "k": k, "alpha": alpha,
            "mean": float(sizes.mean()),
            "std": float(sizes.std()) if sizes.numel() > 1 else 0.0,
            "q05": float(torch.quantile(sizes, 0.05)), "q95": float(torch.quantile(sizes, 0.95)),
            "predicted": expected_dense_core(n, p, k, alpha),
            "predicted_exact": law.mean, "predicted_std": law.std,
            "sizes": sizes.tolist(),
        })
    return rows


def fit_pruned_network(
    split,
    method: str,
    width: int,
    density: float,
    seeds: int | Sequence[int] = 2,
    activation: str = "relu",
    epochs: int = 10,
    lr: float = 1e-2,
    batch_size: int | None = 256,
    prune_samples: int | None = 1024,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    stream: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]] | None = None,
    input_lr: float | None = None,
) -> dict:
    """Prune a one-hidden-layer network at initialisation, then train it with the mask fixed.

    The first layer (hidden x input) is pruned to ``density`` with :func:`graphon.pruning.prune`
    (``layers=[0]``, squared loss on the first ``prune_samples`` training points; the readout stays
    dense), then trained by :func:`fit_masked_network` from the same initial weights, with an
    unpruned bias column.

    Args:
        split: a :class:`graphon.data.Split` with ``active`` set (e.g. :func:`graphon.data.k_sparse_task`).
        method: a pruning criterion of :data:`graphon.pruning.METHODS`.
        width: hidden width ``n``.
        density: fraction of first-layer weights kept, in (0, 1].
        seeds, activation: of the :class:`~graphon.models.MaskedMLP`.
        epochs, lr, batch_size, seed, device: passed to :func:`fit_masked_network`.
        prune_samples: how many training points the data-driven scores see (``None``: all).
        stream: ``None``, or fresh draws of the same task (e.g. ``k_sparse_stream(...)``, whose
            :meth:`KSparseStream.split` then gives ``split``): training sees a new mini-batch at every
            step (see :func:`fit_masked_network`); pruning still uses the fixed ``split.x_train``.
        input_lr: ``None`` or the first layer's step in pre-activation units, passed to
            :func:`fit_masked_network`.

    Returns:
        ``{"core": (S,) dense-core sizes on split.active, "active_density": (S,) kept fraction of the
        active columns, "density": (S,) kept fraction of the layer, "fit": FitResult}`` (CPU tensors).

    Raises:
        ValueError: for a bad method, width, density, or a split without active coordinates.
    """
    from . import pruning

    if getattr(split, "active", None) is None:
        raise ValueError("split must carry its active coordinates (split.active), as k_sparse_task does")
    width = check_positive_int(width, "width")
    dev = resolve_device(device)
    d = int(split.x_train.shape[1])
    net = MaskedMLP(d, [width], activation=activation, seeds=seeds, device=dev)
    xs, ys = split.x_train.to(dev), split.y_train.to(dev)
    if prune_samples is not None:
        xs, ys = xs[:prune_samples], ys[:prune_samples]
    pruning.prune(net, method, density, xs, ys, layers=[0], seed=seed)
    m0 = net.masks[0].detach()
    active = list(split.active)
    core = dense_core_size(m0, active).cpu()
    act_den = m0[..., active].mean(dim=(-2, -1)).cpu()
    fit = fit_masked_network(
        net, split.x_train, split.y_train, split.x_test, split.y_test, epochs=epochs, lr=lr,
        batch_size=batch_size, seed=seed, device=dev, desc=f"{method} n={width} d={d}", stream=stream,
        input_lr=input_lr,
    )
    return {"core": core, "active_density": act_den, "density": m0.mean(dim=(-2, -1)).cpu(), "fit": fit}


def disconnection_floor(target: str, k: int, missing: int = 1) -> float | None:
    """Least relative error ``E[Var(y | x_rest)] / Var(y)`` of any function ignoring ``missing`` of the
    ``k`` active coordinates, for the targets of :func:`graphon.data.k_sparse_task` (``x ~ N(0, I)``).

    * ``"sum"`` (``sum_j x_j / sqrt(k)``): ``missing / k``;
    * ``"product"`` (``prod_j tanh x_j``): ``1`` (``E[tanh x_j] = 0``, so ``E[y | x_rest] = 0``);
    * ``"sign_sum"`` (``sign(sum_j x_j)``): ``1 - (2/pi) arcsin((k - missing)/k)`` (Sheppard's formula
      for ``E[sign(S) sign(S')]`` of two Gaussian sums sharing ``k - missing`` terms);
    * the other targets of :data:`graphon.data.K_SPARSE_TARGETS` (``"sin"``, ``"norm"``): ``None``
      (no closed form here).

    Source: this book's derivation (elementary Gaussian computations), not the paper's.

    Raises:
        ValueError: for a target not in :data:`graphon.data.K_SPARSE_TARGETS`, ``k`` < 1 or
            ``missing`` outside ``1..k``.
    """
    from .data import K_SPARSE_TARGETS
    from .validation import check_choice

    target = check_choice(target, "target", K_SPARSE_TARGETS)
    k = check_positive_int(k, "k")
    missing = check_positive_int(missing, "missing")
    if missing > k:
        raise ValueError(f"missing must be in 1..k = 1..{k}, got {missing}")
    if target == "sum":
        return missing / k
    if target == "product":
        return 1.0
    if target == "sign_sum":
        return 1.0 - (2.0 / math.pi) * math.asin((k - missing) / k)
    return None
