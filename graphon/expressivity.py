"""Active coordinates, dense cores (and their law on masks of real criteria), k-active-coordinate tasks.

Training the masked networks lives in :mod:`graphon.training`; :func:`fit_pruned_network` prunes
and then calls it.

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
  ``x_J`` **with biases** (the trained network adds a never-pruned bias column, see
  :func:`graphon.training.fit_masked_network`; without biases a ReLU network is positively
  homogeneous and not universal), so Leshno et al. (1993) give universality in ``x_J`` when the
  core grows.

Layout follows :mod:`graphon.models`: masks are ``(S, n, d)`` (seed, hidden = out, input = in), a
graphon on a grid is ``(K, d)`` (rows = hidden positions ``u``, columns = input coordinates).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .device import resolve_device, seeded_uniform
from .models import MaskedMLP
from .progress import progress
from .training import _check_masks, fit_masked_network
from .validation import check_in_range, check_positive_int, check_probability

__all__ = [
    "PAPER_UNVERIFIED",
    "ActiveCoordinates",
    "DenseCoreLaw",
    "KSparseStream",
    "CriterionDenseCore",
    "active_coordinates",
    "connection_probabilities",
    "criterion_dense_core",
    "dense_core_distribution",
    "dense_core_law",
    "dense_core_mask",
    "dense_core_curve",
    "dense_core_size",
    "disconnect_coordinates",
    "disconnection_floor",
    "expected_dense_core",
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
    method: str | Sequence[str],
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
    dense), then trained by :func:`graphon.training.fit_masked_network` from the same initial
    weights, with an unpruned bias column. With several criteria (``method`` a list), every
    criterion prunes the **same** initial networks, and the ``M x S`` masked networks are trained
    as **one** stacked batch on the seed axis (same mini-batches, same steps; Adam is elementwise and
    the loss a sum over seeds, so each network trains exactly as if alone, up to float rounding):
    one training loop instead of ``M``.

    Args:
        split: a :class:`graphon.data.Split` with ``active`` set (e.g. :func:`graphon.data.k_sparse_task`).
        method: a pruning criterion of :data:`graphon.pruning.METHODS`, or a list of them.
        width: hidden width ``n``.
        density: fraction of first-layer weights kept, in (0, 1].
        seeds, activation: of the :class:`~graphon.models.MaskedMLP`.
        epochs, lr, batch_size, seed, device: passed to :func:`graphon.training.fit_masked_network`.
        prune_samples: how many training points the data-driven scores see (``None``: all).
        stream: ``None``, or fresh draws of the same task (e.g. ``k_sparse_stream(...)``, whose
            :meth:`KSparseStream.split` then gives ``split``): training sees a new mini-batch at every
            step; pruning still uses the fixed ``split.x_train``.
        input_lr: ``None`` or the first layer's step in pre-activation units, passed to
            :func:`graphon.training.fit_masked_network`.

    Returns:
        For one criterion: ``{"core": (S,) dense-core sizes on split.active, "active_density": (S,)
        kept fraction of the active columns, "density": (S,) kept fraction of the layer, "fit":
        FitResult}`` (CPU tensors). For a list: ``{method: that dict}``.

    Raises:
        ValueError: for a bad method, width, density, or a split without active coordinates.
    """
    from . import pruning
    from .validation import check_choice, check_seeds

    if getattr(split, "active", None) is None:
        raise ValueError("split must carry its active coordinates (split.active), as k_sparse_task does")
    single = isinstance(method, str)
    methods = [method] if single else list(method)
    if not methods:
        raise ValueError(f"method must be a criterion of {pruning.METHODS} or a non-empty list of them")
    methods = [check_choice(m, "method", pruning.METHODS) for m in methods]
    width = check_positive_int(width, "width")
    seed_list = check_seeds(seeds)
    S = len(seed_list)
    dev = resolve_device(device)
    d = int(split.x_train.shape[1])
    net = MaskedMLP(d, [width], activation=activation, seeds=seed_list, device=dev)
    xs, ys = split.x_train.to(dev), split.y_train.to(dev)
    if prune_samples is not None:
        xs, ys = xs[:prune_samples], ys[:prune_samples]
    masks = [pruning.prune(net, m, density, xs, ys, layers=[0], seed=seed, apply=False,
                           keep_scores=False).masks[0].detach() for m in methods]
    # every criterion's masks on copies of the same initial weights, stacked on the seed axis
    M = len(methods)
    stacked = net
    if M > 1:
        stacked = MaskedMLP(d, [width], activation=activation, seeds=M * S, device=dev)
        with torch.no_grad():
            for w_new, w_old in zip(stacked.weights, net.weights, strict=True):
                w_new.copy_(w_old.detach().repeat(M, 1, 1))
        stacked.seeds = seed_list * M  # the bias column of copy (method, s) is drawn from seed s too
    stacked.set_masks([torch.cat(masks), None])
    fit = fit_masked_network(
        stacked, split.x_train, split.y_train, split.x_test, split.y_test, epochs=epochs, lr=lr,
        batch_size=batch_size, seed=seed, device=dev, desc=f"{'+'.join(methods)} n={width} d={d}",
        stream=stream, input_lr=input_lr,
    )
    active = list(split.active)
    out = {}
    for i, (m, m0) in enumerate(zip(methods, masks, strict=True)):
        out[m] = {"core": dense_core_size(m0, active).cpu(),
                  "active_density": m0[..., active].mean(dim=(-2, -1)).cpu(),
                  "density": m0.mean(dim=(-2, -1)).cpu(),
                  "fit": fit.select(slice(i * S, (i + 1) * S))}
    return out[methods[0]] if single else out


@dataclass
class CriterionDenseCore:
    """Result of :func:`criterion_dense_core`: dense cores of masks from a real PaI criterion against
    the dense-core law with ``p`` and ``alpha`` read from the criterion's empirical graphon.

    Every per-width attribute has one entry per width of ``widths``; the graphon is read at each
    width from the graphon seeds, and the cores are counted on the other seeds.

    Attributes:
        method, density: the criterion and its density rho.
        coords: the active coordinates ``J`` (``k`` of them).
        widths: the widths ``n``.
        sizes: ``(len(widths), S)`` float64, the dense-core size of each counted seed's mask.
        graphons: per width, the ``(K, d)`` float32 empirical graphon (rows: blocks of hidden units
            sorted by their degree on the ``d - k`` inactive coordinates; columns: the input
            coordinates in order).
        block_measures: per width, ``(K,)`` the measure (row fraction) of each row block.
        alpha, p: ``(len(widths),)``: the rectangle read from the graphon: the row blocks with the
            largest floors ``min_{j in J} W[b, j]``, of total measure ``alpha``, all have floor
            ``>= p`` on ``J``; chosen to maximise ``alpha p^k``.
        exact_coefficient: ``(len(widths),)`` ``c = sum_b |b| prod_{j in J} W[b, j]``, so that the
            mean core under independent edges given the graphon is ``n c``.
        exact_se: ``(len(widths),)`` bootstrap standard error of ``c`` (over the graphon seeds).
    """

    method: str
    density: float
    coords: list[int]
    widths: list[int]
    sizes: torch.Tensor
    graphons: list[torch.Tensor]
    block_measures: list[torch.Tensor]
    alpha: torch.Tensor
    p: torch.Tensor
    exact_coefficient: torch.Tensor
    exact_se: torch.Tensor

    @property
    def k(self) -> int:
        """The number of active coordinates."""
        return len(self.coords)

    @property
    def n(self) -> torch.Tensor:
        """The widths as a float64 tensor."""
        return torch.as_tensor(self.widths, dtype=torch.float64)

    @property
    def mean(self) -> torch.Tensor:
        """``(len(widths),)`` mean dense core over the counted seeds."""
        return self.sizes.mean(dim=1)

    @property
    def standard_error(self) -> torch.Tensor:
        """``(len(widths),)`` standard error of :attr:`mean` (sample sd / sqrt(S)); needs S >= 2."""
        return self.sizes.std(dim=1) / math.sqrt(self.sizes.shape[1])

    @property
    def law(self) -> torch.Tensor:
        """``(len(widths),)`` ``alpha n p^k``: the law's lower bound on the mean core."""
        return self.alpha * self.n * self.p**self.k

    @property
    def predicted(self) -> torch.Tensor:
        """``(len(widths),)`` ``n c``: the mean core if edges were independent Bernoulli(``W``)."""
        return self.exact_coefficient * self.n

    @property
    def z_exact(self) -> torch.Tensor:
        """``(mean - n c) / sqrt(se_mean^2 + (n se_c)^2)``, in standard errors, per width."""
        se = torch.sqrt(self.standard_error**2 + (self.n * self.exact_se) ** 2)
        return (self.mean - self.predicted) / se.clamp_min(1e-12)

    @property
    def z_law(self) -> torch.Tensor:
        """``(mean - alpha n p^k) / se_mean`` per width: >= 0 where the bound holds on average."""
        return (self.mean - self.law) / self.standard_error.clamp_min(1e-12)


def _read_dense_core_law(masks: torch.Tensor, J: torch.Tensor, blocks: int, bootstrap: int,
                         seed: int) -> tuple[torch.Tensor, torch.Tensor, float, float, float, float]:
    """Graphon ``(K, d)``, block measures, ``alpha``, ``p``, ``c`` and its bootstrap se from masks
    ``(S, n, d)`` (see :func:`criterion_dense_core`, steps 1-3)."""
    from .graphons import block_average

    S, n, d = masks.shape
    K = min(blocks, n)
    in_J = torch.zeros(d, dtype=torch.bool)
    in_J[J] = True
    m = masks.float()
    deg = m[..., ~in_J].sum(dim=-1)  # degree on the inactive coordinates: the row position u
    order = deg.argsort(dim=-1, descending=True, stable=True)
    per_seed = block_average(torch.gather(m, 1, order.unsqueeze(-1).expand_as(m)), (K, d))
    W = per_seed.mean(dim=0)
    measure = torch.bincount(torch.arange(n) * K // n, minlength=K).double() / n
    WJ = W[:, J].double()  # (K, k)
    c = float((measure * WJ.prod(dim=-1)).sum())
    idx = torch.randint(S, (bootstrap, S), generator=torch.Generator().manual_seed(int(seed)))
    boot = per_seed[:, :, J].double()[idx].mean(dim=1)  # (B, K, k), one batched resample
    c_se = float((measure * boot.prod(dim=-1)).sum(dim=-1).std())
    floor = WJ.min(dim=-1).values  # (K,) edge floor of each row block on J
    order_b = floor.argsort(descending=True, stable=True)
    alpha_r = measure[order_b].cumsum(0)
    p_r = floor[order_b]
    r = int((alpha_r * p_r ** J.numel()).argmax())
    return W, measure, float(alpha_r[r]), float(p_r[r]), c, c_se


def criterion_dense_core(
    method: str,
    density: float,
    split,
    widths: Sequence[int],
    seeds: int | Sequence[int],
    graphon_seeds: Sequence[int],
    blocks: int = 16,
    prune_samples: int | None = 512,
    activation: str = "relu",
    bootstrap: int = 200,
    device: str | torch.device | None = "auto",
) -> CriterionDenseCore:
    """Dense cores of first-layer masks pruned by a real criterion, and the law read from its graphon.

    For the task ``split`` (a :func:`graphon.data.k_sparse_task` or a stream's split, with active
    coordinates ``J``), one-hidden-layer networks ``d -> n -> 1`` are pruned at initialisation on
    their first layer by ``method`` (:func:`graphon.pai_graphons.pai_graphons`, ``prune_layers=[0]``,
    scores on the first ``prune_samples`` training points, squared loss). At each width ``n``:

    1. **The graphon** is read from the ``graphon_seeds`` networks: each seed's mask ``(n, d)`` has
       its rows sorted by their degree on the ``d - k`` inactive coordinates (the hidden unit's
       position ``u``, read without looking at ``J``, so that the sort does not pick rows for their
       ``J`` entries), is averaged over ``K = min(blocks, n)`` contiguous row blocks (columns stay
       the coordinates), and the seed mean is ``W`` ``(K, d)``.
    2. **p and alpha**: each block's edge floor on ``J`` is ``m_b = min_{j in J} W[b, j]``. Taking the
       blocks in decreasing ``m_b``, the first ``r`` of them have measure ``alpha_r`` and floor
       ``p_r`` (the ``r``-th largest ``m_b``): ``W >= p_r`` on a rectangle ``A x J`` with
       ``|A| = alpha_r``. The reported ``(alpha, p)`` maximise ``alpha_r p_r^k``: the largest of the
       lower bounds ``alpha n p^k`` that the law gives.
    3. **The exact mean** under the book's model (edges independent Bernoulli(``W``) given the
       graphon) is ``n c`` with ``c = sum_b |b| prod_{j in J} W[b, j]``; its standard error comes
       from ``bootstrap`` resamples of the graphon seeds (seeded by ``graphon_seeds[0]``, batched).
    4. **The cores** are counted (:func:`dense_core_size`) on the masks of the ``seeds`` networks,
       a seed set disjoint from ``graphon_seeds``.

    Source: the law ``alpha n p^k`` and the independence model are this book's reading of the paper's
    Lemma 5.6 (``research/paper.md`` Sec. 5, INFERRED); the way ``p`` and ``alpha`` are read from an
    empirical graphon is this book's choice.

    Returns:
        A :class:`CriterionDenseCore` (CPU tensors).

    Raises:
        ValueError: naming the parameter: a split without ``active``; a bad method, density or
            width; ``blocks`` < 1; ``bootstrap`` < 2; fewer than 2 seeds; seed lists that overlap.
    """
    from .pai_graphons import pai_graphons
    from .validation import check_seeds

    if getattr(split, "active", None) is None:
        raise ValueError("split must carry its active coordinates (split.active), as k_sparse_task does")
    widths = [check_positive_int(n, "widths") for n in widths]
    if not widths:
        raise ValueError("widths must list at least one width n >= 1, got []")
    seed_list = check_seeds(seeds)
    g_seeds = check_seeds(graphon_seeds, "graphon_seeds")
    if len(seed_list) < 2 or len(g_seeds) < 2:
        raise ValueError("seeds and graphon_seeds must each hold at least 2 seeds (standard errors)")
    if set(seed_list) & set(g_seeds):
        raise ValueError("graphon_seeds must be disjoint from seeds (the graphon is read on other masks)")
    blocks = check_positive_int(blocks, "blocks")
    bootstrap = check_positive_int(bootstrap, "bootstrap", minimum=2)
    dev = resolve_device(device)
    d = int(split.x_train.shape[1])
    J = _check_coords(split.active, d)
    xs, ys = split.x_train, split.y_train
    if prune_samples is not None:
        n_s = check_positive_int(prune_samples, "prune_samples")
        xs, ys = xs[:n_s], ys[:n_s]

    def masks_of(n: int, seed_set: list[int]) -> torch.Tensor:
        return pai_graphons(method, density, xs, ys, widths=[n], layer=0, prune_layers=[0], blocks=1,
                            seeds=seed_set, keep_masks=len(seed_set), activation=activation,
                            device=dev).masks  # (S, n, d) bool, CPU

    sizes, graphons, measures, reads = [], [], [], []
    for n in widths:
        W, measure, *read = _read_dense_core_law(masks_of(n, g_seeds), J, blocks, bootstrap, g_seeds[0])
        graphons.append(W)
        measures.append(measure)
        reads.append(read)
        sizes.append(dense_core_size(masks_of(n, seed_list), J).double())
    alpha, p, c, c_se = (torch.tensor(v, dtype=torch.float64) for v in zip(*reads, strict=True))
    return CriterionDenseCore(
        method=method, density=float(density), coords=J.tolist(), widths=widths,
        sizes=torch.stack(sizes), graphons=graphons, block_measures=measures, alpha=alpha, p=p,
        exact_coefficient=c, exact_se=c_se,
    )


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
