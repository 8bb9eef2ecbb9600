"""The Graphon-NTK, the empirical NTK of a masked network, and kernel complexity measures.

What is the paper's and what is this book's (see ``research/paper.md`` Sec. 6 and
``research/prior_and_code.md`` Sec. A.4, E.3):

* The paper (Pham, Ta & Tran-Thanh, ICML 2026, Sec. 6) works in the lazy NTK regime with a
  Graphon-NTK ``K_W`` whose Gram matrix has ``lambda_min > 0`` and bounds the generalisation error
  through ``y^T K_W^{-1} y``; it reads kernel alignment through a *path density*. Its displayed
  formulas were not available to us.
* The **explicit Graphon-NTK formulas** below are **this book's reconstruction** from the
  predecessor paper (Pham et al., NeurIPS 2025, Prop. 1 and Thm 1), re-derived for the network of
  :mod:`graphon.models` (NTK parameterisation, N(0, 1) weights, no biases, one output). For one
  hidden layer, hidden position ``u`` in [0, 1] and input coordinate ``j`` at
  ``v_j = (j - 1/2)/d``::

      Sigma~(u; x, x') = (1/d) sum_j W(u, v_j) x_j x'_j
      Lambda(u)        = [[Sigma~(u; x, x),  Sigma~(u; x, x')],
                          [Sigma~(u; x', x), Sigma~(u; x', x')]]
      Theta_W(x, x')   = int_0^1 W_2(u) [ Sigma~(u; x, x') Vdot(Lambda(u)) + V(Lambda(u)) ] du

  with ``V(Lambda) = E sigma(a) sigma(b)``, ``Vdot(Lambda) = E sigma'(a) sigma'(b)`` for
  ``(a, b) ~ N(0, Lambda)`` and ``W_2 = 1`` for a dense readout. ``W(u, v)`` is the *variance
  profile* of the first-layer weights: a mask sampled as Bernoulli(W) at a fixed input dimension
  ``d`` leaves a Jensen gap of order ``1/d`` (the limit of the paper is ``d, n`` growing together).
* The Arora et al. (2019, Thm 5.1) form of the bound, ``sqrt(2 y^T K^{-1} y / N)``, and the
  *path density* ``pi(v_j) = int_0^1 W(u, v_j) du`` are **this book's reading** (INFERRED).

Kernel matrices are computed in float64. Functions take ``device="auto"`` and return tensors on
that device (call ``.cpu()`` before plotting); scalar summaries are Python floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .device import resolve_device
from .validation import check_choice, check_positive_int

__all__ = [
    "DUAL_METHODS",
    "Complexity",
    "Spectrum",
    "dual_activation",
    "graphon_ntk",
    "dense_ntk",
    "graphon_ntk_deep",
    "empirical_ntk",
    "first_layer_masks",
    "complexity",
    "kernel_alignment",
    "kernel_statistics",
    "label_correlation",
    "randomise_labels",
    "spectrum",
    "path_density",
    "relative_error",
    "concentrated_graphon",
    "TrainResult",
    "train_per_seed_targets",
]

_ACTIVATIONS = ("relu", "tanh", "sigmoid", "erf")
_CLOSED = ("relu", "erf")
DUAL_METHODS: tuple[str, ...] = ("auto", "closed", "quadrature")
"""How :func:`dual_activation` evaluates the Gaussian expectations."""

_F64 = torch.float64
_ELEMENT_BUDGET = 2**22  # elements per chunk in the quadrature / kernel loops (memory bound)


# --------------------------------------------------------------------------- dual activations
def _closed_form(activation: str, q1, q2, c):
    if activation == "relu":
        # arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009)
        s = torch.sqrt(torch.clamp(q1 * q2, min=0.0))
        rho = torch.where(s > 0, c / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(s))
        rho = torch.clamp(rho, -1.0, 1.0)
        theta = torch.arccos(rho)
        v = (torch.sqrt(torch.clamp(s * s - c * c, min=0.0)) + (math.pi - theta) * c) / (
            2 * math.pi
        )
        vdot = (math.pi - theta) / (2 * math.pi)
        return v, vdot
    # erf: arcsine kernel (Williams 1997); erf'(x) = 2/sqrt(pi) exp(-x^2)
    a = (1 + 2 * q1) * (1 + 2 * q2)
    v = (2 / math.pi) * torch.arcsin(torch.clamp(2 * c / torch.sqrt(a), -1.0, 1.0))
    vdot = (4 / math.pi) / torch.sqrt(torch.clamp(a - 4 * c * c, min=1e-300))
    return v, vdot


def _act_and_grad(activation: str):
    if activation == "relu":
        return torch.relu, lambda z: (z > 0).to(z.dtype)
    if activation == "erf":
        return torch.erf, lambda z: (2 / math.sqrt(math.pi)) * torch.exp(-z * z)
    if activation == "tanh":
        return torch.tanh, lambda z: 1 - torch.tanh(z) ** 2
    return torch.sigmoid, lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))


def _quadrature(activation: str, q1, q2, c, degree: int):
    """Tensor-product Gauss-Hermite rule for E f(a) f(b), (a, b) ~ N(0, [[q1, c], [c, q2]])."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(degree)  # weight exp(-z^2/2)
    dev, dt = q1.device, q1.dtype
    z = torch.as_tensor(nodes, device=dev, dtype=dt)
    w = torch.as_tensor(weights / math.sqrt(2 * math.pi), device=dev, dtype=dt)
    ww = (w[:, None] * w[None, :]).reshape(-1)  # (D*D,)
    z1 = z[:, None].expand(degree, degree).reshape(-1)
    z2 = z[None, :].expand(degree, degree).reshape(-1)
    f, fp = _act_and_grad(activation)
    shape = torch.broadcast_shapes(q1.shape, q2.shape, c.shape)
    q1f, q2f, cf = (t.expand(shape).reshape(-1) for t in (q1, q2, c))
    v_out = torch.empty(q1f.shape, device=dev, dtype=dt)
    vd_out = torch.empty(q1f.shape, device=dev, dtype=dt)
    step = max(1, _ELEMENT_BUDGET // (degree * degree))
    for lo in range(0, q1f.numel(), step):
        a1 = q1f[lo : lo + step, None]
        a2 = q2f[lo : lo + step, None]
        cc = cf[lo : lo + step, None]
        # Cholesky factor of [[q1, c], [c, q2]]: a = sqrt(q1) z1, b = (c/sqrt(q1)) z1 + r z2
        s1 = torch.sqrt(torch.clamp(a1, min=0.0))
        l21 = torch.where(
            s1 > 0, cc / torch.where(s1 > 0, s1, torch.ones_like(s1)), torch.zeros_like(s1)
        )
        r = torch.sqrt(torch.clamp(a2 - l21 * l21, min=0.0))
        a = s1 * z1
        b = l21 * z1 + r * z2
        v_out[lo : lo + step] = (f(a) * f(b)) @ ww
        vd_out[lo : lo + step] = (fp(a) * fp(b)) @ ww
    return v_out.reshape(shape), vd_out.reshape(shape)


def dual_activation(
    activation: str,
    q1,
    q2,
    c,
    method: str = "auto",
    degree: int = 32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dual activation pair ``V = E sigma(a) sigma(b)``, ``Vdot = E sigma'(a) sigma'(b)``.

    ``(a, b) ~ N(0, [[q1, c], [c, q2]])``; ``q1, q2, c`` broadcast against each other.

    Sources (standard, not the paper's): ReLU by the arc-cosine kernels of degree 1 and 0
    (Cho & Saul 2009): ``V = (sqrt(q1 q2 - c^2) + (pi - theta) c) / (2 pi)``,
    ``Vdot = (pi - theta) / (2 pi)``, ``theta = arccos(c / sqrt(q1 q2))``; erf by the arcsine kernel
    (Williams 1997): ``V = (2/pi) arcsin(2c / sqrt((1 + 2 q1)(1 + 2 q2)))``,
    ``Vdot = (4/pi) / sqrt((1 + 2 q1)(1 + 2 q2) - 4 c^2)``. tanh and the logistic sigmoid have no
    closed form: a tensor-product Gauss-Hermite rule with ``degree**2`` nodes is used.

    Args:
        activation: ``relu``, ``erf``, ``tanh`` or ``sigmoid``.
        q1, q2: variances (>= 0), tensors or numbers.
        c: covariance, ``|c| <= sqrt(q1 q2)``.
        method: ``auto`` (closed form for relu/erf, quadrature otherwise), ``closed`` or
            ``quadrature`` (any activation; not recommended for relu's kink).
        degree: Gauss-Hermite nodes per axis (>= 2).

    Returns:
        ``(V, Vdot)``, float64 tensors of the broadcast shape.

    Raises:
        ValueError: unknown activation or method, ``closed`` asked for tanh/sigmoid, a negative
            variance, or ``degree < 2``.
    """
    activation = check_choice(activation, "activation", _ACTIVATIONS)
    method = check_choice(method, "method", DUAL_METHODS)
    degree = check_positive_int(degree, "degree", minimum=2)
    ref = next((t for t in (q1, q2, c) if isinstance(t, torch.Tensor)), None)
    dev = ref.device if ref is not None else torch.device("cpu")
    q1, q2, c = (torch.as_tensor(t, dtype=_F64, device=dev) for t in (q1, q2, c))
    if (q1 < 0).any() or (q2 < 0).any():
        raise ValueError("q1 and q2 must be variances >= 0")
    if method == "closed" and activation not in _CLOSED:
        raise ValueError(f"method='closed' needs activation in {list(_CLOSED)}, got {activation!r}")
    if method == "closed" or (method == "auto" and activation in _CLOSED):
        return _closed_form(activation, q1, q2, c)
    return _quadrature(activation, q1, q2, c, degree)


# --------------------------------------------------------------------------- graphon handling
def _check_graphon_values(values: torch.Tensor, name: str = "graphon") -> torch.Tensor:
    if not torch.isfinite(values).all():
        raise ValueError(f"{name} values must be finite numbers in [0, 1]")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
    return values


def _as_f64(x, dev: torch.device) -> torch.Tensor:
    """``x`` (a tensor, an array, a number, or an object holding a ``values`` table such as a
    :class:`graphon.graphons.StepGraphon`) as a float64 tensor on ``dev``."""
    if hasattr(x, "values") and not isinstance(x, (torch.Tensor, np.ndarray)):
        x = x.values
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=dev, dtype=_F64)
    return torch.as_tensor(np.asarray(x, dtype=float), dtype=_F64, device=dev)


def _graphon_table(graphon, d: int | None, dev: torch.device, quad_points: int):
    """Values ``(K, d)`` of the graphon on (row block, input column) and row weights ``(K,)``.

    Accepted: a number (constant graphon), a tensor/array ``(K, D)`` of step values (rows = hidden
    blocks of equal measure; if ``D != d`` column ``j`` reads block ``floor(v_j D)`` at
    ``v_j = (j - 1/2)/d``), an object with a ``values`` attribute (e.g. a
    ``graphon.graphons.StepGraphon``;
    its ``row_widths`` give unequal row blocks), or a callable ``W(u, v)``
    on broadcast tensors (integrated over ``u`` by the midpoint rule with ``quad_points`` nodes).
    """
    if graphon is None:
        graphon = 1.0
    if (
        callable(graphon)
        and not isinstance(graphon, torch.Tensor)
        and not hasattr(graphon, "values")
    ):
        if d is None:
            raise ValueError("d must be given to evaluate a callable graphon")
        u = (torch.arange(quad_points, device=dev, dtype=_F64) + 0.5) / quad_points
        v = (torch.arange(d, device=dev, dtype=_F64) + 0.5) / d
        vals = torch.as_tensor(graphon(u[:, None], v[None, :]), dtype=_F64, device=dev)
        vals = vals.expand(quad_points, d).clone()
        w = torch.full((quad_points,), 1.0 / quad_points, device=dev, dtype=_F64)
        return _check_graphon_values(vals), w
    weights = None
    if hasattr(graphon, "values") and callable(graphon) and hasattr(graphon, "widths"):
        # a graphon.graphons.StepGraphon: exact table at the row blocks x input coordinates
        if d is None:
            d = graphon.shape[1]
        rw, _ = graphon.widths()
        rw = rw.to(device="cpu", dtype=_F64)
        edges = torch.cat([torch.zeros(1, dtype=_F64), torch.cumsum(rw, 0)])
        u = 0.5 * (edges[:-1] + edges[1:])
        v = (torch.arange(d, dtype=_F64) + 0.5) / d
        graphon_vals = graphon(
            u[:, None].to(graphon.values.device), v[None, :].to(graphon.values.device)
        )
        weights = (rw / rw.sum()).to(dev)
        graphon = graphon_vals.detach().to(device="cpu", dtype=_F64)
    vals = _as_f64(graphon, dev)
    if vals.ndim == 0:
        vals = vals.reshape(1, 1)
    if vals.ndim == 1:  # a single row: constant in u
        vals = vals[None, :]
    if vals.ndim != 2:
        raise ValueError(
            f"graphon must be a number, a (K, d) table or a callable, got shape {tuple(vals.shape)}"
        )
    _check_graphon_values(vals)
    k, cols = vals.shape
    if d is not None and cols != d:
        idx = torch.clamp(
            ((torch.arange(d, device=dev, dtype=_F64) + 0.5) / d * cols).long(), max=cols - 1
        )
        vals = vals[:, idx]
    if weights is None:
        weights = torch.full((k,), 1.0 / k, device=dev, dtype=_F64)
    return vals, weights


def _square_table(graphon, rows: int | None, cols: int, dev, name: str):
    """A hidden-to-hidden step graphon as a (K_l, K_{l-1}) table of values in [0, 1]."""
    if graphon is None or isinstance(graphon, (int, float)):
        val = 1.0 if graphon is None else float(graphon)
        vals = torch.full((rows or 1, cols), val, dtype=_F64, device=dev)
        return _check_graphon_values(vals, name)
    vals = _as_f64(graphon, dev)
    if vals.ndim == 1:
        vals = vals[None, :]
    if vals.ndim != 2 or vals.shape[1] != cols:
        raise ValueError(
            f"{name} must have shape (K_l, {cols}) (K_(l-1) = {cols} columns), "
            f"got {tuple(vals.shape)}"
        )
    return _check_graphon_values(vals, name)


def _inputs(x1, x2, dev):
    x1 = _as_f64(x1, dev)
    x2 = x1 if x2 is None else _as_f64(x2, dev)
    if x1.ndim != 2 or x2.ndim != 2:
        raise ValueError(
            f"x1 and x2 must be (N, d) matrices, got shapes {tuple(x1.shape)} and {tuple(x2.shape)}"
        )
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(
            f"x1 and x2 must share the input dimension d, got {x1.shape[1]} and {x2.shape[1]}"
        )
    return x1, x2


# --------------------------------------------------------------------------- analytic kernels
def graphon_ntk(
    x1,
    x2=None,
    graphon=1.0,
    activation: str = "relu",
    readout=None,
    device: str | torch.device | None = "auto",
    quad_points: int = 256,
    degree: int = 32,
) -> torch.Tensor:
    """One-hidden-layer Graphon-NTK ``Theta_W(x1, x2)``: first layer masked by a graphon.

    Formula (this book's reconstruction of the paper's Graphon-NTK from the predecessor's
    Prop. 1 / Thm 1; ``research/prior_and_code.md`` Sec. E.3)::

        Theta_W(x, x') = int_0^1 W_2(u) [ Sigma~(u; x, x') Vdot(Lambda(u)) + V(Lambda(u)) ] du,
        Sigma~(u; x, x') = (1/d) sum_j W(u, v_j) x_j x'_j,  v_j = (j - 1/2)/d.

    For a step graphon the integral over ``u`` is a weighted sum over its row blocks (cost
    ``O(K d N1 N2)``); for a callable it is a midpoint rule. It is the ``n -> infinity`` limit of
    :func:`empirical_ntk` for the network of :mod:`graphon.models` with one hidden layer whose
    first-layer weights have variance profile ``W`` (exact), or whose first-layer mask is
    Bernoulli(W) (up to a Jensen gap that vanishes as ``d`` grows). ``W = 1`` gives the dense NTK;
    ``W = c`` gives ``c * Theta_dense`` for ReLU (positive homogeneity), not for erf/tanh/sigmoid.

    Args:
        x1: inputs ``(N1, d)``; x2: inputs ``(N2, d)`` or ``None`` (``x2 = x1``).
        graphon: number, ``(K, d)`` table (rows: hidden blocks of equal measure, columns: the
            input coordinates in natural order), a ``StepGraphon`` or a callable ``W(u, v)``; or a
            batch ``(B, K, d)`` of tables (e.g. one per seed), computed together.
        activation: ``relu``, ``erf`` (closed forms), ``tanh`` or ``sigmoid`` (quadrature).
        readout: ``None`` (dense readout) or the readout graphon ``W_2``: a number, ``(K,)`` values
            per row block, or a callable ``W_2(u)``. It multiplies both terms: the gradient with
            respect to a first-layer weight of unit ``u`` passes through that unit's readout
            weight, so ``Theta = int W_2(u) [Sigma~ Vdot + V] du``.
        device: where to compute.
        quad_points: midpoint nodes in ``u`` for a callable graphon.
        degree: Gauss-Hermite nodes per axis for tanh/sigmoid.

    Returns:
        ``(N1, N2)`` float64 tensor on ``device`` (``(B, N1, N2)`` for a batch of tables).

    Raises:
        ValueError: dimension mismatch between ``x1`` and ``x2``, graphon values outside [0, 1],
            a table with the wrong shape, an unknown activation.
    """
    activation = check_choice(activation, "activation", _ACTIVATIONS)
    dev = resolve_device(device)
    x1, x2 = _inputs(x1, x2, dev)
    d = x1.shape[1]
    batch = None
    if isinstance(graphon, (torch.Tensor, np.ndarray)) and graphon.ndim == 3:
        batch = graphon.shape[0]
        tables = [_graphon_table(graphon[b], d, dev, quad_points) for b in range(batch)]
        vals = torch.cat([t[0] for t in tables])
        w = torch.cat([t[1] for t in tables])
    else:
        vals, w = _graphon_table(graphon, d, dev, quad_points)
    k = vals.shape[0] if batch is None else vals.shape[0] // batch
    if readout is None:
        w2 = torch.ones(k, dtype=_F64, device=dev)
    elif callable(readout) and not isinstance(readout, torch.Tensor):
        u = (torch.arange(k, device=dev, dtype=_F64) + 0.5) / k
        w2 = torch.as_tensor(readout(u), dtype=_F64, device=dev).expand(k).clone()
    else:
        w2 = _as_f64(readout, dev)
        w2 = w2.expand(k).clone() if w2.ndim == 0 or w2.numel() == 1 else w2
        if w2.shape != (k,):
            raise ValueError(
                f"readout must be a number or {k} values (one per row block), got {tuple(w2.shape)}"
            )
    _check_graphon_values(w2, "readout")
    n_rows = vals.shape[0]
    w2 = w2.repeat(n_rows // k)
    owner = torch.arange(n_rows, device=dev) // k  # which batch entry each row block belongs to
    xx1, xx2 = x1 * x1, x2 * x2
    n1, n2 = x1.shape[0], x2.shape[0]
    out = torch.zeros(1 if batch is None else batch, n1, n2, dtype=_F64, device=dev)
    step = max(1, _ELEMENT_BUDGET // max(1, n1 * n2))
    for lo in range(0, n_rows, step):
        wk = vals[lo : lo + step]  # (b, d)
        q1 = (xx1 @ wk.T).T / d  # (b, N1)
        q2 = (xx2 @ wk.T).T / d  # (b, N2)
        cov = torch.matmul(x1[None] * wk[:, None, :], x2.T) / d  # (b, N1, N2)
        v, vdot = dual_activation(activation, q1[:, :, None], q2[:, None, :], cov, degree=degree)
        # the readout mask gates both paths through hidden unit u: W_2(u) multiplies both terms
        terms = (cov * vdot + v) * (w2[lo : lo + step] * w[lo : lo + step])[:, None, None]
        out.index_add_(0, owner[lo : lo + step], terms)
    return out[0] if batch is None else out


def dense_ntk(
    x1, x2=None, activation: str = "relu", device="auto", degree: int = 32
) -> torch.Tensor:
    """Dense one-hidden-layer NTK ``Sigma V'(Lambda) + V(Lambda)``, ``Sigma = x.x'/d`` (W = 1).

    Source: the standard NTK of a two-layer network in the NTK parameterisation (Jacot et al. 2018;
    Arora et al. 2019); ``research/prior_and_code.md`` Sec. E.3. Returns ``(N1, N2)`` float64.
    """
    return graphon_ntk(x1, x2, 1.0, activation=activation, device=device, degree=degree)


def graphon_ntk_deep(
    x1,
    x2=None,
    graphons: Sequence = (1.0,),
    activation: str = "relu",
    readout=None,
    device: str | torch.device | None = "auto",
    degree: int = 32,
) -> torch.Tensor:
    """Deep Graphon-NTK of an ``L``-hidden-layer network by the step-graphon layer recursion.

    This book's reconstruction of the predecessor's Thm 1 (``research/prior_and_code.md`` Sec. A.4,
    E.3), with equal-measure blocks (weights ``w_m = 1/K``)::

        Sigma~^1_k = (1/d) sum_j W^1_{k j} x_j x'_j
        Sigma^l_k = V(Lambda^l_k);   Sdot^l_k = Vdot(Lambda^l_k)
        Sigma~^{l+1}_k = sum_m W^{l+1}_{k m} w_m Sigma^l_m    (l = 1..L; readout l = L+1)
        G^{L+1} = 1,   G^l_k = Sdot^l_k sum_m W^{l+1}_{m k} w_m G^{l+1}_m
        Theta = sum_{l=1}^{L+1} sum_k w_k G^l_k Sigma~^l_k

    Args:
        x1, x2: inputs ``(N1, d)``, ``(N2, d)`` (``x2=None`` means ``x1``).
        graphons: ``L`` hidden-layer graphons (``L >= 1``): the first ``(K_1, d)`` (columns = input
            coordinates in natural order; any column count is read as a step function of ``v``),
            then ``(K_l, K_{l-1})``. A number means a constant graphon (one block).
        activation: ``relu``, ``erf``, ``tanh`` or ``sigmoid``.
        readout: ``None`` (dense readout), a number, or ``K_L`` values (the readout graphon
            ``W^{L+1}``, shape ``(K_L,)`` or ``(1, K_L)``).

    Returns:
        ``(N1, N2)`` float64 tensor. With one graphon it equals :func:`graphon_ntk`. With ``W = c``
        on every matrix and ReLU, it is ``c^{L+1} Theta_dense`` (``c^L`` with a dense readout).

    Raises:
        ValueError: an empty list, a table whose shape does not chain, values outside [0, 1],
            unknown activation, mismatched inputs.
    """
    activation = check_choice(activation, "activation", _ACTIVATIONS)
    graphons = list(graphons)
    if not graphons:
        raise ValueError("graphons must list at least one hidden-layer graphon")
    dev = resolve_device(device)
    x1, x2 = _inputs(x1, x2, dev)
    d = x1.shape[1]
    first, w_first = _graphon_table(graphons[0], d, dev, 256)
    tables = [first]
    for idx, g in enumerate(graphons[1:], start=1):
        tables.append(_square_table(g, None, tables[-1].shape[0], dev, f"graphons[{idx}]"))
    k_last = tables[-1].shape[0]
    if readout is None or isinstance(readout, (int, float)):
        readout = _square_table(readout, 1, k_last, dev, "readout")
    else:
        readout = _square_table(readout, None, k_last, dev, "readout")
        if readout.shape[0] != 1:
            raise ValueError(
                f"readout must have shape (1, {k_last}) or ({k_last},), got {tuple(readout.shape)}"
            )
    w_of = [w_first] + [
        torch.full((t.shape[0],), 1.0 / t.shape[0], dtype=_F64, device=dev) for t in tables[1:]
    ]
    # forward
    st = torch.matmul(x1[None] * tables[0][:, None, :], x2.T) / d  # Sigma~^1 (K1, N1, N2)
    sd1 = (x1 * x1) @ tables[0].T / d  # (N1, K1)
    sd2 = (x2 * x2) @ tables[0].T / d
    sig_tilde, sig_dot = [st], []
    for layer in range(len(tables)):
        q1, q2 = sd1.T[:, :, None], sd2.T[:, None, :]
        v, vdot = dual_activation(activation, q1, q2, sig_tilde[-1], degree=degree)
        vd1, _ = dual_activation(
            activation, sd1.T, sd1.T, sd1.T, degree=degree
        )  # V on the diagonal
        vd2, _ = dual_activation(activation, sd2.T, sd2.T, sd2.T, degree=degree)
        sig_dot.append(vdot)
        nxt = tables[layer + 1] if layer + 1 < len(tables) else readout
        wm = w_of[layer]
        sig_tilde.append(torch.einsum("km,m,mab->kab", nxt, wm, v))
        sd1 = (vd1.T * wm) @ nxt.T  # (N1, K_next)
        sd2 = (vd2.T * wm) @ nxt.T
    # backward, accumulating Theta = sum_l sum_k w_k G^l_k Sigma~^l_k
    theta = sig_tilde[-1][0].clone()  # readout layer: G = 1, one output block of weight 1
    g_next = torch.ones(1, *theta.shape, dtype=_F64, device=dev)
    w_next = torch.ones(1, dtype=_F64, device=dev)
    for layer in range(len(tables) - 1, -1, -1):
        nxt = tables[layer + 1] if layer + 1 < len(tables) else readout
        g = sig_dot[layer] * torch.einsum("mk,m,mab->kab", nxt, w_next, g_next)
        theta += torch.einsum("k,kab->ab", w_of[layer], g * sig_tilde[layer])
        g_next, w_next = g, w_of[layer]
    return theta


# --------------------------------------------------------------------------- finite networks
def first_layer_masks(
    graphon,
    width: int,
    d: int,
    seeds: int | Sequence[int] = 1,
    mode: str = "bernoulli",
    device: str | torch.device | None = "auto",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """First-layer masks ``(S, width, d)`` drawn from a graphon (hidden x input, torch layout).

    Hidden neuron ``i`` sits at ``u_i = (i + 1/2)/width`` and input coordinate ``j`` at
    ``v_j = (j + 1/2)/d`` (0-based; the W-random graph of Lovasz 2012 with deterministic positions),
    read by :func:`graphon.graphons.neuron_probabilities` (a table, ``StepGraphon``, number or
    callable ``W(u, v)``, evaluated exactly at those positions). ``mode="bernoulli"``: ``M_ij ~ Bernoulli(W(u_i, v_j))`` independently, drawn by
    :func:`graphon.expressivity.sample_graphon_masks`. ``mode="variance"``:
    ``M_ij = sqrt(W(u_i, v_j))``
    (deterministic; the weights then have variance ``W``: the variance-profile reading of the
    predecessor, ``research/prior_and_code.md`` Sec. A.4, for which :func:`graphon_ntk` is the exact
    ``n -> infinity`` limit at any ``d``).

    Raises:
        ValueError: bad width/d, unknown mode, graphon values outside [0, 1].
    """
    from .expressivity import sample_graphon_masks
    from .graphons import neuron_probabilities
    from .validation import check_seeds

    width = check_positive_int(width, "width")
    d = check_positive_int(d, "d")
    mode = check_choice(mode, "mode", ("bernoulli", "variance"))
    dev = resolve_device(device)
    if graphon is None:
        graphon = 1.0
    probs = neuron_probabilities(graphon, width, d, device=dev)  # (width, d), float64
    if mode == "bernoulli":
        return sample_graphon_masks(probs.float(), width, seeds, device=dev).to(dtype)
    s = len(check_seeds(seeds))
    return torch.sqrt(probs).to(dtype).expand(s, width, d).clone()


def empirical_ntk(
    model,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    seed_index: int | None = None,
    chunk_size: int = 256,
) -> torch.Tensor:
    """Empirical NTK ``sum_params <df/dtheta(x1), df/dtheta(x2)>`` of a masked MLP.

    Computed with :mod:`torch.func` (``functional_call`` + ``vmap`` + ``jacrev``, Jacobian
    contraction, trace over the outputs; the PyTorch NTK tutorial's method 1). Gradients are taken
    w.r.t. the weights only; the masks are buffers, so a pruned entry contributes zero. All seeds
    are one vmapped computation (``x1`` is processed in chunks of ``chunk_size`` rows).

    Args:
        model: a ``MaskedMLP`` with weights ``(S, out, in)``.
        x1: inputs ``(N1, d)``; x2: ``(N2, d)`` or ``None`` (``x2 = x1``).
        seed_index: ``None`` for all seeds, or the index of one seed in ``model.seeds``.
        chunk_size: rows of ``x1`` whose Jacobians are held at once.

    Returns:
        ``(S, N1, N2)`` (or ``(N1, N2)`` for one ``seed_index``), float64, on the model's device.

    Raises:
        ValueError: inputs of the wrong dimension, a seed index out of range.
    """
    from torch.func import functional_call, jacrev, vmap

    chunk_size = check_positive_int(chunk_size, "chunk_size")
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    ref = next(iter(params.values()))
    n_seeds = ref.shape[0]
    if seed_index is not None:
        if (
            isinstance(seed_index, bool)
            or not isinstance(seed_index, int)
            or not -n_seeds <= seed_index < n_seeds
        ):
            raise ValueError(
                f"seed_index must be an integer in [0, {n_seeds - 1}], got {seed_index!r}"
            )
        sl = slice(seed_index % n_seeds, seed_index % n_seeds + 1)
        params = {k: v[sl] for k, v in params.items()}
        buffers = {k: v[sl] for k, v in buffers.items()}
    x1 = torch.as_tensor(x1).to(device=ref.device, dtype=ref.dtype)
    x2 = x1 if x2 is None else torch.as_tensor(x2).to(device=ref.device, dtype=ref.dtype)
    for name, x in (("x1", x1), ("x2", x2)):
        if x.ndim != 2 or x.shape[1] != model.d:
            raise ValueError(f"{name} must have shape (N, d={model.d}), got {tuple(x.shape)}")

    def f(p, b, x):  # one seed (p, b without seed axis), one input (d,) -> (d_out,)
        return functional_call(model, (p, b), (x.unsqueeze(0),)).squeeze(0)

    jac = vmap(vmap(jacrev(f), in_dims=(None, None, 0)), in_dims=(0, 0, None))

    def flat(j):  # dict of (S, N, O, *shape) -> (S, N, O, P)
        return torch.cat([t.flatten(3) for t in j.values()], dim=-1)

    j2 = flat(jac(params, buffers, x2)).to(_F64)  # contraction in float64
    blocks = []
    for lo in range(0, x1.shape[0], chunk_size):
        if x2 is x1:  # x2=None: the rows of x1 are already in j2
            j1 = j2[:, lo : lo + chunk_size]
        else:
            j1 = flat(jac(params, buffers, x1[lo : lo + chunk_size])).to(_F64)
        blocks.append(torch.einsum("snop,smop->snm", j1, j2))
    out = torch.cat(blocks, dim=1)
    return out[0] if seed_index is not None else out


def relative_error(k_emp: torch.Tensor, k_ref: torch.Tensor) -> torch.Tensor:
    """Frobenius relative error ``||K_emp - K_ref||_F / ||K_ref||_F`` (over the last two axes)."""
    k_ref = torch.as_tensor(k_ref).to(device=k_emp.device, dtype=_F64)
    diff = torch.linalg.matrix_norm(k_emp.to(_F64) - k_ref)
    return diff / torch.linalg.matrix_norm(k_ref)


# --------------------------------------------------------------------------- complexity & co.
class _one_thread_for_small_cpu:
    """Run small CPU eigen/Cholesky problems on one thread.

    LAPACK through torch's OpenMP pool can be ~1000x slower on a busy 2-core machine for N ~ 200
    (threads spin at barriers); one thread is then both faster and deterministic.
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


@dataclass
class Complexity:
    """``y^T K^{-1} y`` and the Arora et al. (2019, Thm 5.1) form ``sqrt(2 y^T K^{-1} y / N)``.

    Attributes:
        value: ``y^T (K + jitter I)^{-1} y`` (a float; a ``(B,)`` numpy array for ``(B, N)``
            labels).
        bound: ``sqrt(2 value / N)`` (the data-dependent term of the bound; this book's reading of
            the paper's Thm 6.1, see ``research/paper.md`` Sec. 6).
        jitter_used: the ridge added to the diagonal (0.0 when plain Cholesky succeeded).
        lambda_min: smallest eigenvalue of ``K`` (before jitter).
    """

    value: float | np.ndarray
    bound: float | np.ndarray
    jitter_used: float
    lambda_min: float


def _as_kernel(K, name: str = "K") -> torch.Tensor:
    if isinstance(K, torch.Tensor):
        K = K.detach().to(_F64)
    else:
        K = torch.as_tensor(np.asarray(K, dtype=float), dtype=_F64)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square (N, N) matrix, got shape {tuple(K.shape)}")
    with _one_thread_for_small_cpu(K):
        return _check_kernel(K, name)


def _check_kernel(K: torch.Tensor, name: str) -> torch.Tensor:
    if not torch.isfinite(K).all():
        raise ValueError(f"{name} must have finite entries")
    scale = float(K.abs().max()) if K.numel() else 0.0
    asym = float((K - K.T).abs().max()) if K.numel() else 0.0
    if asym > 1e-8 * max(scale, 1e-300):
        raise ValueError(f"{name} must be symmetric (max |K - K^T| = {asym:.3g})")
    return 0.5 * (K + K.T)


def _as_labels(y, n: int, dev, batched: bool = False) -> torch.Tensor:
    y = (
        y.detach().to(_F64)
        if isinstance(y, torch.Tensor)
        else torch.as_tensor(np.asarray(y, dtype=float), dtype=_F64)
    )
    y = y.to(dev)
    if batched and y.ndim == 2 and y.shape[1] == n:
        return y
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        want = f"(N,) or (B, N) with N = {n}" if batched else f"(N,) with N = {n}"
        raise ValueError(f"y must have shape {want}, got shape {tuple(y.shape)}")
    return y


def complexity(K, y, jitter: float | None = None, max_tries: int = 8) -> Complexity:
    """``y^T K^{-1} y`` by Cholesky, and the bound term ``sqrt(2 y^T K^{-1} y / N)``.

    Source: Arora, Du, Hu, Li & Wang (ICML 2019, Thm 5.1), with ``H^inf`` replaced by the
    Graphon-NTK Gram matrix; this book's reading of the paper's Thm 6.1
    (``research/paper.md`` Sec. 6).

    Args:
        K: symmetric positive (semi-)definite ``(N, N)`` kernel matrix.
        y: labels ``(N,)``, or ``(B, N)`` for ``B`` label vectors (one Cholesky for all).
        jitter: ``None`` tries plain Cholesky, then ridges ``1e-12, 1e-11, ...`` times the mean
            diagonal (``max_tries`` steps) only if needed; a number forces that ridge.
        max_tries: maximum number of increasing ridges tried.

    Returns:
        :class:`Complexity` (floats); ``jitter_used`` reports the ridge.

    Raises:
        ValueError: non-square, non-symmetric or non-finite ``K``; ``y`` of the wrong length; ``K``
            indefinite beyond the largest jitter tried (or ``lambda_min`` clearly negative).
    """
    from .validation import check_in_range

    if jitter is not None:  # validated before the O(N^3) work
        jitter = check_in_range(jitter, "jitter", 0.0, math.inf, high_open=True)
    max_tries = check_positive_int(max_tries, "max_tries")
    K = _as_kernel(K)
    n = K.shape[0]
    y = _as_labels(y, n, K.device, batched=True)
    with _one_thread_for_small_cpu(K):
        return _complexity(K, y, n, jitter, max_tries)


def _complexity(K, y, n, jitter, max_tries, eig: torch.Tensor | None = None) -> Complexity:
    """Complexity of validated inputs; ``eig``: the ascending eigenvalues of ``K`` if known."""
    if eig is None:
        eig = torch.linalg.eigvalsh(K)
    lam_min, lam_max = float(eig[0]), float(eig[-1])
    if lam_min < -1e-8 * max(abs(lam_max), 1e-300):
        raise ValueError(
            f"K must be positive semi-definite, but lambda_min = {lam_min:.3g} "
            f"(lambda_max = {lam_max:.3g})"
        )
    mean_diag = float(torch.diagonal(K).mean())
    eye = torch.eye(n, dtype=_F64, device=K.device)
    if jitter is not None:
        ridges = [float(jitter)]
    else:
        ridges = [0.0] + [mean_diag * 10.0 ** (-12 + t) for t in range(max_tries)]
    for ridge in ridges:
        chol, info = torch.linalg.cholesky_ex(K + ridge * eye)
        if int(info) == 0:
            ys = y[:, None] if y.ndim == 1 else y.T  # (N, B)
            alpha = torch.cholesky_solve(ys, chol)
            vals = (ys * alpha).sum(0).cpu().numpy()
            bounds = np.sqrt(np.maximum(2 * vals / n, 0.0))
            if y.ndim == 1:
                return Complexity(float(vals[0]), float(bounds[0]), ridge, lam_min)
            return Complexity(vals, bounds, ridge, lam_min)
    raise ValueError(
        f"K is not positive definite even with a ridge of {ridges[-1]:.3g} "
        f"(lambda_min = {lam_min:.3g}); "
        "pass a larger jitter"
    )


def kernel_alignment(K, y, centred: bool = False) -> float:
    """Kernel-target alignment ``<K, yy^T>_F / (||K||_F ||yy^T||_F) = y^T K y / (||K||_F ||y||^2)``.

    Source: Cristianini, Shawe-Taylor, Elisseeff & Kandola (NIPS 2001); ``centred=True`` uses the
    centred alignment of Cortes, Mohri & Rostamizadeh (JMLR 2012): ``K_c = H K H``, ``y_c = H y``,
    ``H = I - 11^T/N``. Which variant the paper uses is not known (``research/paper.md`` Sec. 6).

    Raises:
        ValueError: non-square or non-symmetric ``K``, ``y`` of the wrong length, zero ``K`` or
            ``y``.
    """
    K = _as_kernel(K)
    n = K.shape[0]
    y = _as_labels(y, n, K.device)
    with _one_thread_for_small_cpu(K):
        if centred:
            K = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
            y = y - y.mean()
        ky, kf = float(y @ K @ y), float(torch.linalg.matrix_norm(K))
        yy = float(y @ y)
    if kf == 0 or yy == 0:
        raise ValueError(
            "kernel_alignment needs a non-zero K and a non-constant y (after centring)"
        )
    return ky / (kf * yy)


def randomise_labels(
    y,
    fraction: float,
    seeds: int | Sequence[int] = 1,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Labels with a fraction of entries replaced by random ones, one row per seed: ``(S, N)``.

    For each seed, ``round(fraction * N)`` positions are chosen uniformly without replacement and
    their labels are replaced by independent uniform draws from the label set of ``y`` (for +-1
    labels, a fair sign): the "random labels" protocol of Zhang et al. (2017) used by Arora et al.
    (2019, Sec. 6) for the complexity-vs-noise plot. ``fraction = 0`` returns ``y`` itself.

    Raises:
        ValueError: ``fraction`` outside [0, 1], ``y`` not a vector, bad seeds.
    """
    from .device import generator
    from .validation import check_in_range, check_seeds

    fraction = check_in_range(fraction, "fraction", 0.0, 1.0)
    seeds = check_seeds(seeds)
    y = torch.as_tensor(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a vector (N,), got shape {tuple(y.shape)}")
    dev = y.device if device is None else resolve_device(device)
    y = y.to(dev)
    n = y.shape[0]
    classes = torch.unique(y)
    m = int(round(fraction * n))
    rows = []
    for s in seeds:  # only seeds the generators; the draws are O(N)
        g = generator(s, "cpu")
        pos = torch.randperm(n, generator=g)[:m].to(dev)
        new = classes[torch.randint(len(classes), (m,), generator=g).to(dev)]
        row = y.clone()
        row[pos] = new
        rows.append(row)
    return torch.stack(rows)


@dataclass
class Spectrum:
    """Eigenvalues (descending) and the spectral metrics of the predecessor's Sec. 6.

    Attributes:
        eigenvalues: float64 tensor ``(N,)``, descending, on the CPU.
        effective_rank: ``tr(K) / lambda_1``.
        top5_energy: ``sum_{i<=5} lambda_i / sum_i lambda_i``.
        spectral_gap: ``lambda_1 / lambda_2``.
        decay_exponent: ``alpha`` of a least-squares fit ``log lambda_k = c - alpha log k`` over the
            eigenvalues above ``1e-12 lambda_1`` (fit range: all such ``k``; the predecessor does
            not
            state its range).
    """

    eigenvalues: torch.Tensor
    effective_rank: float
    top5_energy: float
    spectral_gap: float
    decay_exponent: float


def spectrum(K) -> Spectrum:
    """Eigenvalues of a symmetric kernel matrix and its spectral metrics (see :class:`Spectrum`).

    Source: the predecessor's spectral analysis (Pham et al., NeurIPS 2025, Sec. 6;
    ``research/prior_and_code.md`` Sec. A.5).

    Raises:
        ValueError: non-square or non-symmetric ``K``.
    """
    K = _as_kernel(K)
    with _one_thread_for_small_cpu(K):
        eig = torch.linalg.eigvalsh(K)
    return _spectrum(K, eig)


def _spectrum(K: torch.Tensor, eig: torch.Tensor) -> Spectrum:
    """:class:`Spectrum` of a validated kernel from its ascending eigenvalues ``eig``."""
    from .fitting import loglog_slope

    lam = torch.flip(eig, dims=[0]).cpu()
    l1 = float(lam[0])
    total = float(lam.clamp(min=0).sum())
    eff = float(torch.trace(K)) / l1 if l1 > 0 else float("nan")
    top5 = float(lam[:5].clamp(min=0).sum()) / total if total > 0 else float("nan")
    gap = l1 / float(lam[1]) if lam.numel() > 1 and float(lam[1]) > 0 else float("inf")
    keep = lam > 1e-12 * max(l1, 1e-300)
    k = torch.arange(1, lam.numel() + 1, dtype=_F64)[keep]
    if k.numel() >= 2:
        alpha = -loglog_slope(k.numpy(), lam[keep].numpy())
    else:
        alpha = float("nan")
    return Spectrum(
        eigenvalues=lam,
        effective_rank=eff,
        top5_energy=top5,
        spectral_gap=gap,
        decay_exponent=alpha,
    )


def kernel_statistics(kernels, y, noisy_labels) -> dict[str, np.ndarray]:
    """Per-kernel complexity, alignment and spectral summaries of a batch of Gram matrices.

    For each kernel ``K_b`` (e.g. one Graphon-NTK per (method, density, seed) graphon): the
    complexity ``y^T K_b^{-1} y`` of each of its ``F`` label vectors ``noisy_labels[b]``
    (:func:`complexity`), the kernel-target alignment with the true labels ``y``, plain and centred
    (:func:`kernel_alignment`), and the effective rank and top-5 energy (:func:`spectrum`). Each
    kernel costs one eigendecomposition (shared by the positive-definiteness check of the
    complexity and the spectrum) and one Cholesky factorisation (all ``F`` label vectors share it);
    the kernels are processed one after the other because the Cholesky ridge is chosen
    per kernel.

    Args:
        kernels: ``(B, N, N)`` symmetric positive (semi-)definite Gram matrices (or one ``(N, N)``).
        y: true labels ``(N,)``.
        noisy_labels: ``(B, F, N)`` label vectors per kernel, or ``(F, N)`` shared by all kernels
            (e.g. from :func:`randomise_labels`, one row per noise level).

    Returns:
        dict of numpy float64 arrays: ``"complexity"`` and ``"bound"`` (the bound term
        ``sqrt(2 y^T K^{-1} y / N)`` of :class:`Complexity`) ``(B, F)``; ``"alignment"``,
        ``"alignment_centred"``, ``"effective_rank"``, ``"top5_energy"`` and ``"jitter"`` (the
        Cholesky ridge used) ``(B,)``.

    Raises:
        ValueError: ``kernels`` not ``(B, N, N)``, ``y`` not ``(N,)``, ``noisy_labels`` not
            ``(B, F, N)`` or ``(F, N)``, and whatever :func:`complexity`,
            :func:`kernel_alignment` or :func:`spectrum` raise for a bad kernel.

    Sources: Arora et al. (ICML 2019, Thm 5.1) for the complexity; Cristianini et al. (2001) and
    Cortes et al. (2012) for the alignments; the predecessor's Sec. 6 for the spectral metrics
    (see the functions named above).
    """
    ks = kernels if isinstance(kernels, torch.Tensor) else torch.as_tensor(np.asarray(kernels))
    if ks.ndim == 2:
        ks = ks[None]
    if ks.ndim != 3 or ks.shape[1] != ks.shape[2]:
        raise ValueError(f"kernels must have shape (B, N, N), got shape {tuple(ks.shape)}")
    b, n = ks.shape[0], ks.shape[1]
    yt = torch.as_tensor(y)
    if yt.ndim != 1 or yt.shape[0] != n:
        raise ValueError(f"y must have shape (N,) with N = {n}, got shape {tuple(yt.shape)}")
    ys = torch.as_tensor(noisy_labels)
    if ys.ndim == 2:
        ys = ys[None].expand(b, -1, -1)
    if ys.ndim != 3 or ys.shape[0] != b or ys.shape[2] != n:
        raise ValueError(
            f"noisy_labels must have shape (B, F, N) = ({b}, F, {n}) or (F, N), "
            f"got shape {tuple(torch.as_tensor(noisy_labels).shape)}"
        )
    out = {k: [] for k in ("complexity", "bound", "alignment", "alignment_centred",
                           "effective_rank", "top5_energy", "jitter")}
    for i in range(b):  # one Cholesky per kernel: its ridge is chosen per kernel
        kern = _as_kernel(ks[i])
        labels = _as_labels(ys[i], n, kern.device, batched=True)
        with _one_thread_for_small_cpu(kern):
            eig = torch.linalg.eigvalsh(kern)  # shared by the complexity check and the spectrum
            c = _complexity(kern, labels, n, None, 8, eig=eig)
            sp = _spectrum(kern, eig)
        out["complexity"].append(np.asarray(c.value, dtype=float).reshape(-1))
        out["bound"].append(np.asarray(c.bound, dtype=float).reshape(-1))
        out["jitter"].append(c.jitter_used)
        out["alignment"].append(kernel_alignment(kern, yt))
        out["alignment_centred"].append(kernel_alignment(kern, yt, centred=True))
        out["effective_rank"].append(sp.effective_rank)
        out["top5_energy"].append(sp.top5_energy)
    return {k: np.array(v, dtype=float) for k, v in out.items()}


def path_density(graphon, d: int | None = None, quad_points: int = 256) -> torch.Tensor:
    """Path density ``pi(v_j) = int_0^1 W(u, v_j) du`` of each input coordinate, shape ``(d,)``.

    The fraction of hidden neurons (input -> hidden -> output paths) through coordinate ``j``.
    This is this book's (INFERRED) reading of the paper's "path density" (``research/paper.md``
    Sec. 6): with it, the Graphon-NTK of a row-constant graphon is the dense NTK of the rescaled
    inputs ``sqrt(pi_j) x_j``.

    Args:
        graphon: ``(K, d)`` table, ``StepGraphon``, number or callable ``W(u, v)`` (needs ``d``).
        d: number of input coordinates (default: the table's column count).

    Returns:
        float64 CPU tensor ``(d,)``.

    Raises:
        ValueError: values outside [0, 1], a callable without ``d``.
    """
    vals, w = _graphon_table(graphon, d, torch.device("cpu"), quad_points)
    return w @ vals


def label_correlation(x, y) -> torch.Tensor:
    """Per-coordinate absolute Pearson correlation ``|corr(x_j, y)|`` over the samples, shape ``(d,)``.

    ``|sum_s (x_sj - xbar_j)(y_s - ybar)| / (N std(x_j) std(y) + 1e-12 N)`` with population standard
    deviations, so a constant coordinate gets 0. The data-side counterpart of the
    :func:`path_density` (which coordinates a graphon reads against which ones the labels depend on);
    a standard statistic, not the paper's.

    Args:
        x: inputs ``(N, d)``; y: labels ``(N,)``.

    Returns:
        float64 CPU tensor ``(d,)``.

    Raises:
        ValueError: ``x`` not ``(N, d)`` or ``y`` not ``(N,)``.
    """
    x = _as_f64(x, torch.device("cpu"))
    y = _as_f64(y, torch.device("cpu"))
    if x.ndim != 2 or y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"need x (N, d) and y (N,), got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    xc, yc = x - x.mean(0), y - y.mean()
    cov = (xc * yc[:, None]).mean(0)
    return (cov / (xc.std(0, unbiased=False) * yc.std(unbiased=False) + 1e-12)).abs()


def concentrated_graphon(scores, density: float, concentration: float) -> torch.Tensor:
    """A row-constant graphon ``(1, d)`` of edge density ``density`` focused on high ``scores``.

    ``W(v_j) = min(1, t * scores_j ** concentration)`` with ``t`` fixed (by bisection) so that the
    mean over ``j`` equals ``density`` ("water filling"). ``concentration = 0`` gives the constant
    graphon ``density`` (Random); as it grows, the connectivity piles onto the top ``density * d``
    coordinates. This family is this book's device for the paper's over-concentration caveat
    (``research/paper.md`` Sec. 7), not the paper's construction.

    Args:
        scores: ``(d,)`` non-negative coordinate scores (e.g. a path density).
        density: target edge density in (0, 1].
        concentration: exponent >= 0.

    Returns:
        float64 CPU tensor ``(1, d)``.

    Raises:
        ValueError: negative or all-zero scores, density outside (0, 1], negative concentration.
    """
    from .validation import check_density, check_in_range

    density = check_density(density)
    concentration = check_in_range(concentration, "concentration", 0.0)
    sc = torch.as_tensor(
        np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, float)
    )
    sc = sc.to(_F64).reshape(-1)
    if (sc < 0).any() or float(sc.max()) <= 0:
        raise ValueError("scores must be non-negative with a positive maximum")
    sc = sc / sc.max()
    base = (
        torch.where(sc > 0, sc**concentration, torch.zeros_like(sc))
        if concentration > 0
        else torch.ones_like(sc)
    )
    filled = _fill(base, density * sc.numel())
    if float(filled.mean()) < density * (1 - 1e-6):
        raise ValueError(
            f"density {density:g} cannot be reached with concentration {concentration:g}: only "
            f"{int((base > 0).sum())} of {sc.numel()} coordinates have a positive weight "
            f"(lower the density or the concentration)"
        )
    return filled[None, :]


def _fill(base: torch.Tensor, target: float) -> torch.Tensor:
    lo, hi = 0.0, 1.0
    while float(torch.clamp(hi * base, max=1.0).sum()) < target and hi < 1e300:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(torch.clamp(mid * base, max=1.0).sum()) < target:
            lo = mid
        else:
            hi = mid
    return torch.clamp(hi * base, max=1.0)


@dataclass
class TrainResult:
    """Outcome of :func:`train_per_seed_targets` (CPU tensors).

    Attributes:
        train_mse: ``(S,)`` final training mean squared error per seed.
        outputs: ``(S, N_eval)`` outputs on ``x_eval`` after training (``None`` without ``x_eval``).
        initial_outputs: ``(S, N_eval)`` outputs on ``x_eval`` at initialisation.
    """

    train_mse: torch.Tensor
    outputs: torch.Tensor | None
    initial_outputs: torch.Tensor | None


def train_per_seed_targets(
    model,
    x: torch.Tensor,
    targets: torch.Tensor,
    epochs: int = 300,
    lr: float = 1e-3,
    x_eval: torch.Tensor | None = None,
) -> TrainResult:
    """Full-batch Adam on the squared loss with **one target vector per seed**, masks fixed.

    A thin wrapper of :func:`graphon.expressivity.fit_masked_network` (per-seed targets, no bias
    column, full batch, in the model's dtype) that also returns the outputs on ``x_eval`` before and
    after training, and runs small CPU networks on one thread (faster and deterministic). The loss
    is the sum over seeds of each seed's mean squared error, so every seed trains as if alone (Adam
    is elementwise). Training follows the predecessor's protocol (Adam; ``research/
    prior_and_code.md`` Sec. A.5); the theory's lazy regime is gradient flow at large width.

    Args:
        model: a :class:`graphon.models.MaskedMLP` with one hidden layer, ``d_out = 1`` and ``S``
            seeds (trained in place).
        x: inputs ``(N, d)``; targets: ``(S, N)`` (or ``(N,)``, shared).
        epochs: full-batch Adam steps (>= 1); lr: learning rate (> 0).
        x_eval: optional inputs ``(N_eval, d)`` whose outputs are returned.

    Raises:
        ValueError: shapes that do not match, ``d_out != 1``, ``epochs < 1``, ``lr <= 0``.
    """
    from .training import fit_masked_network

    if model.d_out != 1:
        raise ValueError(f"need a model with d_out = 1 (one target per seed), got {model.d_out}")
    w = model.weights[0]
    xe = None if x_eval is None else torch.as_tensor(x_eval).to(device=w.device, dtype=w.dtype)
    with torch.no_grad():
        init = None if xe is None else model(xe)[..., 0].cpu()
    n_weights = sum(p.numel() for p in model.parameters())
    with _one_thread_for_small_cpu(w, limit=2**22, numel=n_weights):  # small CPU nets: 1 thread
        fit = fit_masked_network(
            model, x, targets, x, targets, epochs=epochs, lr=lr, bias=False, log_every=epochs,
            device=w.device, desc="train",
        )
    with torch.no_grad():
        out = None if xe is None else model(xe)[..., 0].cpu()
    return TrainResult(train_mse=fit.train_mse, outputs=out, initial_outputs=init)
