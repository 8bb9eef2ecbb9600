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

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .device import resolve_device
from .threads import one_thread_for_small_cpu as _one_thread_for_small_cpu
from .validation import check_choice, check_positive_int

__all__ = [
    "DUAL_METHODS",
    "Complexity",
    "Spectrum",
    "dual_activation",
    "graphon_ntk",
    "dense_ntk",
    "graphon_ntk_deep",
    "graphon_ntk_fixed_d",
    "arora_gram",
    "generalisation_bound",
    "KERNEL_TERMS",
    "DEEP_TERMS",
    "arora_gram_deep",
    "MAX_DEGREE",
    "DEFAULT_TOL",
    "empirical_ntk",
    "EMPIRICAL_METHODS",
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
]

_ACTIVATIONS = ("relu", "tanh", "sigmoid", "erf")
_CLOSED = ("relu", "erf")
DUAL_METHODS: tuple[str, ...] = ("auto", "closed", "quadrature")
"""How :func:`dual_activation` evaluates the Gaussian expectations."""

_F64 = torch.float64
_ELEMENT_BUDGET = 2**22  # elements per chunk in the quadrature / kernel loops (memory bound)


# --------------------------------------------------------------------------- dual activations
MAX_DEGREE = 370
"""Largest Gauss-Hermite degree whose weights numpy computes without overflow (371 and above give zeros or NaN)."""

DEFAULT_TOL = 1e-6
"""Default tolerance of the adaptive Gauss-Hermite rule (relative to the Cauchy-Schwarz scale)."""

_DEGREE_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 320, MAX_DEGREE)
_WARNED = "the adaptive Gauss-Hermite rule did not reach tol"
_TAU_NEAR = 1e-4  # relative gaps below this are recomputed without cancellation


def _sqrt0(t: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(t, min=0.0))


def _geometric_mean(q1, q2):
    """``sqrt(q1 q2)``, exactly ``q1`` where ``q1 == q2`` (so the diagonal is exact)."""
    return torch.where(q1 == q2, q1, _sqrt0(q1 * q2))


def _chord_angle(unit):
    """Angle from the squared chord ``U = |a^ - b^|^2 = 2 (1 - cos theta)`` of the normalised
    pair: ``theta = 2 atan2(e, sqrt((2 - e)(2 + e)))``, ``e = sqrt(U)``; relative error a few ulps
    of ``U`` for ``theta <= pi/2`` (use the antipodal chord beyond, see :func:`_first_layer`)."""
    e = torch.clamp(_sqrt0(unit), max=2.0)
    return 2 * torch.atan2(e, _sqrt0((2 - e) * (2 + e)))


def _angle(q1, q2, c, theta=None):
    """Angle ``theta`` in [0, pi] of a Gaussian pair with variances ``q1, q2`` and covariance
    ``c``, and ``s = sqrt(q1 q2)``.

    ``theta`` computed without cancellation by the caller (from chords of the normalised pair,
    :func:`_chord_angle`) is used as given; otherwise ``theta = atan2(sqrt((s-c)(s+c)), c)``,
    exact at ``c = s`` and as accurate as ``c`` allows elsewhere (``arccos(c/s)`` is never used:
    its condition number ``1/sin(theta)`` is unbounded at 0 and pi). A zero variance gives
    ``theta = pi/2`` (the covariance is 0).
    """
    s = _geometric_mean(q1, q2)
    if theta is None:
        theta = torch.atan2(_sqrt0((s - c) * (s + c)), c)
    return torch.where(s > 0, theta, torch.full_like(theta, math.pi / 2)), s


def _sin_minus_theta_cos(theta):
    """``sin(theta) - theta cos(theta)`` >= 0 on [0, pi], by its Taylor series below 1 (the direct
    difference cancels like ``theta^3 / 3``): ``sum_k (-1)^(k+1) 2k theta^(2k+1) / (2k+1)!``."""
    t2 = theta * theta
    series = torch.zeros_like(theta)
    term = theta.clone()  # theta^(2k+1) / (2k+1)! built up
    for k in range(1, 12):
        term = term * t2 / ((2 * k) * (2 * k + 1))
        series = series + ((-1) ** (k + 1)) * (2 * k) * term
    direct = torch.sin(theta) - theta * torch.cos(theta)
    return torch.where(theta < 1.0, series, direct)


def _closed_form(activation: str, q1, q2, c, theta=None, need_next: bool = False):
    """``(V, Vdot, U')`` for relu or erf from the stable angle; ``U' = 2 (1 - cos theta')`` is the
    next layer's normalised distance for relu (``None`` for erf, whose kernels are smooth in ``c``
    and need no stable angle beyond the first layer)."""
    theta, s = _angle(q1, q2, c, theta)
    sin = torch.sin(theta)
    if activation == "relu":
        # arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009), angle form
        half = (math.pi - theta) / (2 * math.pi)  # exactly 1/2 at theta = 0
        v = half * c + s * sin / (2 * math.pi)
        vdot = half
        if not need_next:
            return v, vdot, None
        # next layer's normalised distance 2 (1 - cos theta'), cos theta' = J(theta) / pi
        # (Cho & Saul's J = sin + (pi - theta) cos), written without cancellation:
        # pi - J = 2 pi sin^2(theta/2) - (sin(theta) - theta cos(theta)), both terms >= 0
        gap = 2 * math.pi * torch.sin(theta / 2) ** 2 - _sin_minus_theta_cos(theta)
        return v, vdot, 2 * torch.clamp(gap, min=0.0) / math.pi
    # erf: arcsine kernel (Williams 1997) with (1 + 2 q1)(1 + 2 q2) - 4 c^2 written as
    # 1 + 2 (q1 + q2) + 4 (q1 q2 - c^2), q1 q2 - c^2 = (s sin theta)^2 >= 0 (no cancellation)
    det = 1 + 2 * (q1 + q2) + 4 * (s * sin) ** 2
    v = (2 / math.pi) * torch.atan2(2 * c, torch.sqrt(det))
    vdot = (4 / math.pi) / torch.sqrt(det)
    return v, vdot, None


def _act_and_grad(activation: str):
    if activation == "relu":
        return torch.relu, lambda z: (z > 0).to(z.dtype)
    if activation == "erf":
        return torch.erf, lambda z: (2 / math.sqrt(math.pi)) * torch.exp(-z * z)
    if activation == "tanh":
        return torch.tanh, lambda z: 1 - torch.tanh(z) ** 2
    return torch.sigmoid, lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))


@functools.cache
def _hermegauss(degree: int):
    """numpy's Gauss-Hermite nodes and weights (weight ``exp(-z^2/2)``), cached: degree 370 takes
    seconds to compute."""
    return np.polynomial.hermite_e.hermegauss(degree)


def _gauss_hermite(degree: int, dev, dt):
    nodes, weights = _hermegauss(degree)
    z = torch.as_tensor(nodes, device=dev, dtype=dt)
    w = torch.as_tensor(weights / math.sqrt(2 * math.pi), device=dev, dtype=dt)
    return z, w


def _quadrature(activation: str, q1, q2, c, degree: int, dist=None):
    # dist: the pair's angle theta when known (see _angle)
    """Tensor-product Gauss-Hermite rule for ``(a, b) ~ N(0, [[q1, c], [c, q2]])``.

    ``a = sqrt(q1) z1``, ``b = sqrt(q2) (cos(theta) z1 + sin(theta) z2)`` with the stable angle of
    :func:`_angle`. Returns tensors ``(V, Vdot, None, scale_V, scale_Vdot)`` of the
    broadcast shape, where the scales are the Cauchy-Schwarz bounds ``sqrt(E f(a)^2 E f(b)^2)`` and
    ``sqrt(E f'(a)^2 E f'(b)^2)`` (used to measure the quadrature error).
    """
    dev, dt = q1.device, q1.dtype
    z, w = _gauss_hermite(degree, dev, dt)
    ww = (w[:, None] * w[None, :]).reshape(-1)  # (D*D,)
    z1 = z[:, None].expand(degree, degree).reshape(-1)
    z2 = z[None, :].expand(degree, degree).reshape(-1)
    f, fp = _act_and_grad(activation)
    tensors = [q1, q2, c] + ([] if dist is None else [dist])
    shape = torch.broadcast_shapes(*(t.shape for t in tensors))
    q1f, q2f, cf = (t.expand(shape).reshape(-1) for t in (q1, q2, c))
    df = None if dist is None else dist.expand(shape).reshape(-1)
    outs = [torch.empty(q1f.shape, device=dev, dtype=dt) for _ in range(5)]
    step = max(1, _ELEMENT_BUDGET // (degree * degree))
    for lo in range(0, q1f.numel(), step):
        sl = slice(lo, lo + step)
        a1, a2, cc = q1f[sl, None], q2f[sl, None], cf[sl, None]
        theta, _ = _angle(a1, a2, cc, None if df is None else df[sl, None])
        r1, r2 = _sqrt0(a1), _sqrt0(a2)
        a = r1 * z1
        b = r2 * (torch.cos(theta) * z1 + torch.sin(theta) * z2)
        fa, fb = f(a), f(b)
        outs[0][sl] = (fa * fb * ww).sum(-1)  # per-entry sums: no dependence on the batch
        outs[1][sl] = (fp(a) * fp(b) * ww).sum(-1)
        fa1, fb1 = f(r1 * z), f(r2 * z)  # 1-D rules for the Cauchy-Schwarz scales
        outs[3][sl] = torch.sqrt((fa1 * fa1) @ w * ((fb1 * fb1) @ w))
        outs[4][sl] = torch.sqrt((fp(r1 * z) ** 2) @ w * ((fp(r2 * z) ** 2) @ w))
    outs = [t.reshape(shape) for t in outs]
    outs[2] = None
    return outs


def _adaptive_quadrature(activation, q1, q2, c, dist, degree, tol):
    """``(V, Vdot, None, error, degree_used)``; see :func:`dual_activation`."""

    def rel_diff(lo_, hi_):
        e_v = (hi_[0] - lo_[0]).abs() / torch.clamp(hi_[3], min=1e-300)
        e_d = (hi_[1] - lo_[1]).abs() / torch.clamp(hi_[4], min=1e-300)
        return torch.maximum(e_v, e_d)

    if degree is not None:  # fixed rule; error estimated against 1.5x the degree (capped)
        hi = _quadrature(activation, q1, q2, c, degree, dist)
        ref_deg = min(MAX_DEGREE, degree + max(1, degree // 2))
        if ref_deg == degree:
            ref_deg = degree - max(1, degree // 3)
        ref = _quadrature(activation, q1, q2, c, ref_deg, dist)
        return hi[0], hi[1], hi[2], rel_diff(ref, hi), degree
    shape = torch.broadcast_shapes(*(t.shape for t in (q1, q2, c)
                                     if isinstance(t, torch.Tensor)))
    flat = [t.expand(shape).reshape(-1) for t in (q1, q2, c)]
    dflat = None if dist is None else dist.expand(shape).reshape(-1)
    n = flat[0].numel()
    out = [torch.empty(n, dtype=_F64, device=flat[0].device) for _ in range(4)]
    todo = torch.arange(n, device=flat[0].device)
    prev = _quadrature(activation, *flat, _DEGREE_LADDER[0], dflat)
    used = _DEGREE_LADDER[0]
    for deg in _DEGREE_LADDER[1:]:
        args = [t[todo] for t in flat]
        cur = _quadrature(activation, *args, deg, None if dflat is None else dflat[todo])
        err = rel_diff(prev, cur)
        used = deg
        done = err <= tol
        for k in (0, 1):
            out[k][todo] = cur[k]
        out[3][todo] = err
        if bool(done.all()):
            break
        keep = ~done
        todo = todo[keep]
        prev = [None if t is None else t[keep] for t in cur]
    else:
        import warnings

        warnings.warn(
            f"{_WARNED} = {tol:g} at degree {MAX_DEGREE} for {int(todo.numel())} entries "
            f"(largest estimated error {float(out[3].max()):.2g}; variances up to "
            f"{float(torch.maximum(flat[0], flat[1]).max()):.3g}): Gauss-Hermite converges "
            "slowly for large pre-activation variances",
            RuntimeWarning,
            stacklevel=3,
        )
    return out[0].reshape(shape), out[1].reshape(shape), None, out[3].reshape(shape), used


def _check_degree(degree):
    if degree is None:
        return None
    if isinstance(degree, bool) or not hasattr(degree, "__index__") or not (
        2 <= int(degree) <= MAX_DEGREE
    ):
        raise ValueError(
            f"degree must be None (adaptive) or an integer in 2..{MAX_DEGREE} (numpy's "
            f"Gauss-Hermite weights overflow to NaN above {MAX_DEGREE}), got {degree!r}"
        )
    return int(degree)


def _dual(activation, q1, q2, c, dist=None, degree=None, tol=DEFAULT_TOL, method="auto",
          need_next=False):
    """``(V, Vdot, U', error)`` on validated float64 tensors (``error`` 0 for closed forms; ``U'``
    the next layer's normalised distance for relu, else ``None``)."""
    if method == "closed" or (method == "auto" and activation in _CLOSED):
        v, vd, dn = _closed_form(activation, q1, q2, c, dist, need_next)
        return v, vd, dn, torch.zeros((), dtype=_F64, device=v.device)
    v, vd, dn, err, _ = _adaptive_quadrature(activation, q1, q2, c, dist, degree, tol)
    return v, vd, dn, err


def dual_activation(
    activation: str,
    q1,
    q2,
    c,
    method: str = "auto",
    degree: int | None = None,
    tol: float = DEFAULT_TOL,
    distance=None,
    return_error: bool = False,
):
    """Dual activation pair ``V = E sigma(a) sigma(b)``, ``Vdot = E sigma'(a) sigma'(b)``.

    ``(a, b) ~ N(0, [[q1, c], [c, q2]])``; ``q1, q2, c`` (and ``distance``) broadcast together.

    Sources (standard, not the paper's): ReLU by the arc-cosine kernels of degree 1 and 0
    (Cho & Saul 2009) in the angle form ``V = (s sin(theta) + (pi - theta) c) / (2 pi)``,
    ``Vdot = (pi - theta) / (2 pi)``, ``s = sqrt(q1 q2)``; erf by the arcsine kernel
    (Williams 1997) written as ``V = (2/pi) atan2(2c, sqrt(1 + 2(q1 + q2) + 4 s^2 sin^2 theta))``,
    ``Vdot = (4/pi) / sqrt(1 + 2(q1 + q2) + 4 s^2 sin^2 theta)``. The angle ``theta`` is never
    taken from ``arccos(c/s)`` (condition number ``1/sin(theta)``, unbounded at ``theta = 0``): it is
    ``atan2(sqrt((s-c)(s+c)), c)``, or, when the squared chord ``distance = E(a/sqrt(q1) -
    b/sqrt(q2))^2 = 2 (1 - cos theta)`` is given (computed without cancellation, as
    :func:`graphon_ntk` and :func:`graphon_ntk_deep` do internally, together with the antipodal
    chord near ``theta = pi``), ``theta = 2 atan2(e, sqrt((2 - e)(2 + e)))``, ``e = sqrt(distance)``,
    accurate to a few ulps. The diagonal (``c = s`` or ``distance = 0``) is exact:
    ``V = q/2`` and ``Vdot = 1/2`` for ReLU. tanh and the logistic sigmoid have no closed form: a
    tensor-product Gauss-Hermite rule with ``degree**2`` nodes, ``a = sqrt(q1) z1``,
    ``b = sqrt(q2) (cos(theta) z1 + sin(theta) z2)``.

    Quadrature accuracy: the integrand ``tanh(sqrt(q) z)`` has poles at distance ``pi/(2 sqrt(q))``
    from the real axis, so a fixed degree loses accuracy as the variance grows (degree 32: relative
    error 6e-6 at ``q = 1``, 5e-2 at ``q = 8``). With ``degree=None`` (default) the degree is chosen
    per entry from the ladder 16, 24, 32, 48, ..., 370 until two consecutive degrees agree to
    ``tol``, relative to the Cauchy-Schwarz scales ``sqrt(E f(a)^2 E f(b)^2)`` (for ``V``) and
    ``sqrt(E f'(a)^2 E f'(b)^2)`` (for ``Vdot``); the value of the higher degree is returned and the
    difference is the reported error estimate (an upper estimate of the returned value's error);
    the default ``tol = 1e-6`` is met at degree <= 256 for variances up to about 8 (tanh), and a
    ``RuntimeWarning`` says so when ``tol`` is not met at the largest degree.
    With an explicit ``degree`` the estimate compares it with 1.5 times that degree.

    Args:
        activation: ``relu``, ``erf``, ``tanh`` or ``sigmoid``.
        q1, q2: variances (>= 0), tensors or numbers.
        c: covariance, ``|c| <= sqrt(q1 q2)``.
        method: ``auto`` (closed form for relu/erf, quadrature otherwise), ``closed`` or
            ``quadrature`` (any activation; not recommended for relu's kink).
        degree: ``None`` (adaptive, see above) or a fixed number of Gauss-Hermite nodes per axis,
            in ``2..MAX_DEGREE`` (= 370; numpy's weights overflow above it).
        tol: target relative error of the adaptive rule, in (0, 1).
        distance: optional squared chord ``2 (1 - cos theta)`` in [0, 4] (see above).
        return_error: also return the estimated quadrature error per entry (zeros for closed forms).

    Returns:
        ``(V, Vdot)`` (or ``(V, Vdot, error)``), float64 tensors of the broadcast shape.

    Raises:
        ValueError: unknown activation or method, ``closed`` asked for tanh/sigmoid, a negative
            variance or distance, ``degree`` outside ``2..370``, ``tol`` outside (0, 1).
    """
    from .validation import check_in_range

    activation = check_choice(activation, "activation", _ACTIVATIONS)
    method = check_choice(method, "method", DUAL_METHODS)
    degree = _check_degree(degree)
    tol = check_in_range(tol, "tol", 0.0, 1.0, low_open=True, high_open=True)
    ref = next((t for t in (q1, q2, c, distance) if isinstance(t, torch.Tensor)), None)
    dev = ref.device if ref is not None else torch.device("cpu")
    q1, q2, c = (torch.as_tensor(t, dtype=_F64, device=dev) for t in (q1, q2, c))
    if distance is not None:
        distance = torch.as_tensor(distance, dtype=_F64, device=dev)
        if (distance < 0).any():
            raise ValueError("distance must be the squared chord 2 (1 - cos theta) >= 0")
    if (q1 < 0).any() or (q2 < 0).any():
        raise ValueError("q1 and q2 must be variances >= 0")
    if method == "closed" and activation not in _CLOSED:
        raise ValueError(f"method='closed' needs activation in {list(_CLOSED)}, got {activation!r}")
    theta = None if distance is None else _chord_angle(distance)
    v, vd, _, err = _dual(activation, q1, q2, c, theta, degree, tol, method)
    if return_error:
        return v, vd, err.expand(v.shape)
    return v, vd


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
def _same_inputs(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``(N1, N2)`` bool: pairs of bitwise identical rows (their kernel entry is the exact
    diagonal, whatever else shares the batch)."""
    _, inv = torch.unique(torch.cat([x1, x2]), dim=0, return_inverse=True)
    n1 = x1.shape[0]
    return inv[:n1, None] == inv[None, n1:]


def _row_sums(xx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``out[k, a] = sum_j w[k, j] xx[a, j]`` ``(K, N)`` by an elementwise product and a contiguous
    per-row sum, so that an entry does not depend on the other rows (unlike a BLAS product)."""
    k, n = w.shape[0], xx.shape[0]
    out = torch.empty(k, n, dtype=_F64, device=xx.device)
    step = max(1, _ELEMENT_BUDGET // max(1, n * xx.shape[1]))
    for lo in range(0, k, step):
        out[lo : lo + step] = (xx[None] * w[lo : lo + step, None, :]).sum(-1)
    return out


def _first_layer(x1, x2, wk, same):
    """First-layer statistics of row blocks ``wk`` ``(b, d)``: variances ``q1 (b, N1)``,
    ``q2 (b, N2)``, covariances ``cov (b, N1, N2)`` and angles ``theta (b, N1, N2)``.

    The angle comes from the squared chord ``U = (1/d) sum_j W_j (x_j / sqrt(q1) - x'_j /
    sqrt(q2))^2 = 2 (1 - cos theta)`` for ``theta <= pi/2`` and from the antipodal chord
    ``4 - U`` beyond (:func:`_chord_angle`). Both are ``2 (1 -+ cov / sqrt(q1 q2))`` where that is
    well conditioned; chords below ``_TAU_NEAR`` (near-parallel or near-antiparallel inputs, whose
    expansion cancels) are recomputed from the normalised sums and differences, and identical
    inputs get ``cov = q`` and ``theta = 0`` exactly. Error: the expansion's absolute error is
    about ``(d + 4) eps``, so a chord's relative error is below ``(d + 4) eps / _TAU_NEAR``
    (1.5e-10 at ``d = 64``) and the angle's absolute error below ``(d + 4) eps / (2 sqrt
    (_TAU_NEAR))``; recomputed chords have relative error ``O(d eps)`` whatever the angle.
    """
    d = x1.shape[1]
    q1 = _row_sums(x1 * x1, wk) / d
    q2 = _row_sums(x2 * x2, wk) / d
    cov = torch.matmul(x1[None] * wk[:, None, :], x2.T) / d
    cov = torch.where(same, q1[:, :, None], cov)
    s = _geometric_mean(q1[:, :, None], q2[:, None, :])
    pos = s > 0
    unit = torch.where(pos, 2 * (1 - cov / torch.where(pos, s, torch.ones_like(s))), 2.0)
    unit = torch.clamp(unit, 0.0, 4.0)
    anti = 4.0 - unit  # antipodal chord |a^ + b^|^2 = 2 (1 + cos theta)
    near = (((unit < _TAU_NEAR) | (anti < _TAU_NEAR)) & ~same & pos).nonzero()
    step = max(1, _ELEMENT_BUDGET // max(1, d))
    r1, r2 = _sqrt0(q1 * d), _sqrt0(q2 * d)
    for lo in range(0, near.shape[0], step):
        k, a, b = near[lo : lo + step].unbind(1)
        u1, u2 = x1[a] / r1[k, a, None], x2[b] / r2[k, b, None]
        unit[k, a, b] = ((u1 - u2) ** 2 * wk[k]).sum(-1)
        anti[k, a, b] = ((u1 + u2) ** 2 * wk[k]).sum(-1)
    short = _chord_angle(torch.minimum(unit, anti))  # the shorter chord is the accurate one
    theta = torch.where(unit <= anti, short, math.pi - short)
    return q1, q2, cov, torch.where(same, torch.zeros_like(theta), theta)


def _accumulate(x1, x2, vals, weights, owner, n_out, activation, terms, degree, tol):
    """``out[o] = sum_{r: owner[r] = o} weights[r] * term_r(x1, x2)`` over the rows ``vals (R, d)``
    of graphon tables, where ``term_r`` is the one-hidden-layer NTK term of a block reading the
    inputs with weights ``vals[r]``; returns ``(out (n_out, N1, N2), worst quadrature error)``."""
    same = _same_inputs(x1, x2)
    n1, n2 = x1.shape[0], x2.shape[0]
    out = torch.zeros(n_out, n1, n2, dtype=_F64, device=x1.device)
    worst = 0.0
    step = max(1, _ELEMENT_BUDGET // max(1, n1 * n2))
    for lo in range(0, vals.shape[0], step):
        q1, q2, cov, dist = _first_layer(x1, x2, vals[lo : lo + step], same)
        v, vdot, _, err = _dual(
            activation, q1[:, :, None], q2[:, None, :], cov, dist, degree, tol
        )
        worst = max(worst, float(err.max()))
        if terms == "both":
            t = cov * vdot + v
        elif terms == "first_layer":
            t = cov * vdot
        else:
            t = v
        out.index_add_(0, owner[lo : lo + step], t * weights[lo : lo + step, None, None])
    return out, worst


KERNEL_TERMS: tuple[str, ...] = ("both", "first_layer", "readout")

DEEP_TERMS: tuple[str, ...] = ("all", "hidden", "readout")
"""Layer terms of :func:`graphon_ntk_deep`: every layer, the hidden layers (readout fixed), the
readout only."""
"""Which part of the one-hidden-layer NTK :func:`graphon_ntk` returns."""


def graphon_ntk(
    x1,
    x2=None,
    graphon=1.0,
    activation: str = "relu",
    readout=None,
    device: str | torch.device | None = "auto",
    quad_points: int = 256,
    degree: int | None = None,
    terms: str = "both",
    tol: float = DEFAULT_TOL,
    return_error: bool = False,
):
    """One-hidden-layer Graphon-NTK ``Theta_W(x1, x2)``: first layer masked by a graphon.

    Formula (this book's reconstruction of the paper's Graphon-NTK from the predecessor's
    Prop. 1 / Thm 1; ``research/prior_and_code.md`` Sec. E.3)::

        Theta_W(x, x') = int_0^1 W_2(u) [ Sigma~(u; x, x') Vdot(Lambda(u)) + V(Lambda(u)) ] du,
        Sigma~(u; x, x') = (1/d) sum_j W(u, v_j) x_j x'_j,  v_j = (j - 1/2)/d.

    The first term is the gradient with respect to the first-layer weights (``terms=
    "first_layer"``: with ``W = 1``, unit-norm inputs and the readout fixed this is ``H^inf / d`` of
    Arora et al. 2019, Sec. 3, the kernel their Thm 5.1 is proved for, see :func:`arora_gram`), the
    second the gradient with respect to the readout (``terms="readout"``).

    For a step graphon the integral over ``u`` is a weighted sum over its row blocks (cost
    ``O(K d N1 N2)``); for a callable it is a midpoint rule. It is the ``n -> infinity`` limit of
    :func:`empirical_ntk` for the network of :mod:`graphon.models` with one hidden layer whose
    first-layer weights have variance profile ``W`` (exact), and the joint ``n, d -> infinity``
    limit for a Bernoulli(W) mask; at a fixed ``d`` the Bernoulli limit is
    :func:`graphon_ntk_fixed_d` (the mask's empirical covariance, not its mean). ``W = 1`` gives the
    dense NTK; ``W = c`` gives ``c * Theta_dense`` for ReLU (positive homogeneity), not for
    erf/tanh/sigmoid.

    Numerics: the angle of each pair comes from the exactly computed distance
    ``(1/d) sum_j W_j (x_j - x'_j)^2`` (see :func:`dual_activation`), identical inputs get the exact
    diagonal, and variances are per-row sums: an entry does not depend on the other inputs of the
    batch (bitwise on the diagonal; to rounding of one BLAS dot product elsewhere).

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
        degree: Gauss-Hermite nodes per axis for tanh/sigmoid (``None``: adaptive to ``tol``).
        terms: ``both``, ``first_layer`` or ``readout`` (see above).
        tol: tolerance of the adaptive quadrature (see :func:`dual_activation`).
        return_error: also return the largest estimated relative quadrature error (a float; 0.0
            for relu/erf).

    Returns:
        ``(N1, N2)`` float64 tensor on ``device`` (``(B, N1, N2)`` for a batch of tables); with
        ``return_error``, a pair ``(kernel, error)``.

    Raises:
        ValueError: dimension mismatch between ``x1`` and ``x2``, graphon values outside [0, 1],
            a table with the wrong shape, an unknown activation or ``terms``, a bad ``degree``.
    """
    activation = check_choice(activation, "activation", _ACTIVATIONS)
    terms = check_choice(terms, "terms", KERNEL_TERMS)
    degree = _check_degree(degree)
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
    w2 = _readout_values(readout, k, dev)
    n_rows = vals.shape[0]
    w2 = w2.repeat(n_rows // k)
    owner = torch.arange(n_rows, device=dev) // k  # which batch entry each row block belongs to
    out, worst = _accumulate(
        x1, x2, vals, w2 * w, owner, 1 if batch is None else batch, activation, terms, degree,
        tol,
    )
    result = out[0] if batch is None else out
    return (result, worst) if return_error else result


def _readout_values(readout, k: int, dev) -> torch.Tensor:
    """Readout graphon values per row block ``(k,)`` (``None``: dense)."""
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
    return _check_graphon_values(w2, "readout")


def dense_ntk(
    x1, x2=None, activation: str = "relu", device="auto", degree: int | None = None
) -> torch.Tensor:
    """Dense one-hidden-layer NTK ``Sigma V'(Lambda) + V(Lambda)``, ``Sigma = x.x'/d`` (W = 1).

    Source: the standard NTK of a two-layer network in the NTK parameterisation (Jacot et al. 2018;
    Arora et al. 2019); ``research/prior_and_code.md`` Sec. E.3. Returns ``(N1, N2)`` float64.
    """
    return graphon_ntk(x1, x2, 1.0, activation=activation, device=device, degree=degree)


def arora_gram(x, graphon=1.0, activation: str = "relu", device="auto", **kwargs) -> torch.Tensor:
    """The Gram matrix ``H^inf`` of Arora et al. (ICML 2019, Sec. 3 and Thm 5.1), masked by a graphon.

    Arora et al. train only the first layer of ``f(x) = m^{-1/2} sum_r a_r relu(w_r^T x)``
    (``a_r`` fixed, ``w_r ~ N(0, I)``, unit-norm inputs), whose NTK is
    ``H^inf_ij = x_i^T x_j E[1{w^T x_i >= 0, w^T x_j >= 0}] = x_i^T x_j (pi - theta_ij) / (2 pi)``.
    With a first-layer mask of graphon ``W`` the same derivation gives
    ``H^inf_W = d * graphon_ntk(..., terms="first_layer")`` (the factor ``d`` undoes this book's
    ``1/sqrt(d)`` scaling); ``W = 1`` is their ``H^inf`` exactly (checked in the tests). The masked
    version is this book's extension, not Arora et al.'s statement.

    Args:
        x: inputs ``(N, d)`` with unit Euclidean norm (the theorem's hypothesis ``||x|| = 1``).
        graphon, activation, device, kwargs: as :func:`graphon_ntk`.

    Returns:
        ``(N, N)`` float64 tensor.

    Raises:
        ValueError: rows whose norm is not 1 (to 1e-6), and whatever :func:`graphon_ntk` raises.
    """
    dev = resolve_device(device)
    xt = _unit_rows(x, dev)
    k = graphon_ntk(xt, None, graphon, activation, device=dev, terms="first_layer", **kwargs)
    return xt.shape[1] * k


def _unit_rows(x, dev: torch.device) -> torch.Tensor:
    """``x`` as a float64 ``(N, d)`` tensor on ``dev``, checked to have unit-norm rows (to 1e-6)."""
    xt = _as_f64(x, dev)
    if xt.ndim != 2:
        raise ValueError(f"x must be an (N, d) matrix, got shape {tuple(xt.shape)}")
    norms = torch.linalg.vector_norm(xt, dim=1)
    if xt.shape[0] and float((norms - 1).abs().max()) > 1e-6:
        raise ValueError(
            "x must have unit-norm rows (Arora et al. 2019 assume ||x|| = 1); got norms in "
            f"[{float(norms.min()):.4g}, {float(norms.max()):.4g}] (normalise with x / ||x||)"
        )
    return xt


def arora_gram_deep(
    x, graphons: Sequence, activation: str = "relu", device="auto", **kwargs
) -> torch.Tensor:
    """Readout-fixed Gram matrix of a deep masked network: ``d * graphon_ntk_deep(x, x, graphons,
    terms="hidden")`` on unit-norm inputs, the deep counterpart of :func:`arora_gram`.

    With one hidden layer it is :func:`arora_gram` exactly (checked in the tests): the kernel of
    Arora et al.'s Thm 5.1. With ``L > 1`` hidden layers it is the kernel of the network trained
    with its readout fixed; the generalisation bound of Arora et al. is proved for ``L = 1`` only,
    so at larger depth ``sqrt(2 y^T H^-1 y / N)`` is this book's extrapolation of its complexity
    term (deep NTK bounds of the same form: Cao & Gu 2019).

    Args:
        x: inputs ``(N, d)`` with unit Euclidean norm.
        graphons: the ``L`` hidden-layer graphons as in :func:`graphon_ntk_deep` (first ``(K, d)``,
            then ``(K_l, K_{l-1})``); or batches of them, ``(B, K, d)`` then ``(B, K_l, K_{l-1})``
            with a common ``B`` (e.g. one per seed, from
            :func:`graphon.pai_graphons.deep_pai_graphons`), computed one entry after another
            (each costs ``O(L K^2 N^2)``).
        activation, device, kwargs: as :func:`graphon_ntk_deep` (``terms`` is fixed to
            ``"hidden"``).

    Returns:
        ``(N, N)`` float64 tensor, or ``(B, N, N)`` for batched graphons.

    Raises:
        ValueError: rows whose norm is not 1 (to 1e-6), batches of different sizes, and whatever
            :func:`graphon_ntk_deep` raises.
    """
    dev = resolve_device(device)
    xt = _unit_rows(x, dev)
    graphons = list(graphons)
    batched = [isinstance(g, (torch.Tensor, np.ndarray)) and g.ndim == 3 for g in graphons]
    if not any(batched):
        return xt.shape[1] * graphon_ntk_deep(xt, None, graphons, activation, device=dev,
                                              terms="hidden", **kwargs)
    sizes = {int(g.shape[0]) for g, b in zip(graphons, batched, strict=True) if b}
    if len(sizes) != 1 or not all(batched):
        raise ValueError(
            "graphons must be all unbatched or all batched with one batch size B, got shapes "
            f"{[tuple(np.shape(g)) for g in graphons]}"
        )
    return torch.stack([
        xt.shape[1] * graphon_ntk_deep(xt, None, [g[b] for g in graphons], activation, device=dev,
                                       terms="hidden", **kwargs)
        for b in range(sizes.pop())
    ])


def generalisation_bound(gram, y, delta: float = 0.05) -> dict[str, np.ndarray]:
    """The test-error bound of Arora et al. (ICML 2019, Thm 5.1 / Cor. 5.2) with its confidence term.

    ``bound = sqrt(2 y^T H^{-1} y / N) + 3 sqrt(log(2/delta) / (2N))``: the first term is twice the
    Rademacher complexity of the functions reachable by gradient descent (their Lemma 5.4), the
    second the confidence term of the uniform-convergence theorem (their Thm B.1, Bartlett &
    Mendelson 2002) at probability ``1 - delta``. The theorem's further ``O(sqrt(log(N / (lambda_0
    delta)) / N))`` terms (union bound over radii, finite width) have no explicit constant and are
    not included: the value returned is a lower estimate of the bound. Hypotheses: i.i.d. samples,
    ``||x|| = 1``, ``lambda_min(H) = lambda_0 > 0``, a loss bounded in [0, 1], 1-Lipschitz in the
    prediction with ``l(y, y) = 0`` (the ramp loss bounds the 0-1 test error, their Cor. 5.2), only
    the first layer trained by gradient descent at large width.

    Args:
        gram: ``(N, N)`` Gram matrix in Arora et al.'s normalisation (:func:`arora_gram`).
        y: labels ``(N,)`` or ``(B, N)`` in {-1, +1}.
        delta: failure probability in (0, 1).

    Returns:
        dict of float64 arrays (scalars for one label vector): ``"complexity"`` ``y^T H^{-1} y``,
        ``"data_term"``, ``"confidence_term"`` and ``"bound"``.

    Raises:
        ValueError: ``delta`` outside (0, 1), and whatever :func:`complexity` raises.
    """
    from .validation import check_in_range

    delta = check_in_range(delta, "delta", 0.0, 1.0, low_open=True, high_open=True)
    c = complexity(gram, y)
    n = _as_kernel(gram).shape[0]
    data = np.asarray(c.bound, dtype=float)
    conf = 3 * math.sqrt(math.log(2 / delta) / (2 * n))
    return {
        "complexity": np.asarray(c.value, dtype=float),
        "data_term": data,
        "confidence_term": np.full_like(data, conf),
        "bound": data + conf,
    }


def graphon_ntk_fixed_d(
    x1,
    x2=None,
    graphon=1.0,
    activation: str = "relu",
    samples: int = 1024,
    seed: int = 0,
    readout=None,
    device: str | torch.device | None = "auto",
    terms: str = "both",
    degree: int | None = None,
    tol: float = DEFAULT_TOL,
    return_error: bool = False,
):
    """The ``n -> infinity`` limit of the NTK at a **fixed** input dimension ``d`` for Bernoulli masks.

    A hidden unit at position ``u`` reads coordinate ``j`` through a Bernoulli(``W(u, v_j)``) mask
    entry ``m_j``, so its pre-activation covariance is the *masked empirical covariance*
    ``Sigma^_m(u; x, x') = (1/d) sum_j m_j x_j x'_j``, random at fixed ``d``. The law of large
    numbers over the ``n`` hidden units gives (this book's derivation, not the paper's statement;
    tested against :func:`empirical_ntk` at large ``n``)::

        Theta^d_W(x, x') = int_0^1 W_2(u) E_m[ Sigma^_m Vdot(Lambda^_m) + V(Lambda^_m) ] du,

    which differs from :func:`graphon_ntk` (the mean ``E_m Sigma^_m`` plugged into the nonlinear
    ``V``, ``Vdot``) by a Jensen gap of order ``(1 - rho)/(rho d)``; both agree as ``d -> infinity``.
    The expectation over the ``2^d`` masks is estimated by Monte Carlo: ``samples`` independent
    mask rows per row block of the graphon (seeded), all evaluated in one batched
    :func:`graphon_ntk` call on the table of sampled 0/1 rows.

    Args:
        x1, x2, graphon, activation, readout, device, terms, degree, tol: as :func:`graphon_ntk`
            (``graphon``: a number, a ``(K, d)`` table or a ``StepGraphon``; equal-measure blocks
            unless the ``StepGraphon`` says otherwise).
        samples: mask rows drawn per row block (>= 2).
        seed: seed of the mask draws.
        return_error: also return the Monte Carlo standard error of each entry ``(N1, N2)``
            (from the spread over 8 groups of the samples).

    Returns:
        ``(N1, N2)`` float64 tensor (and the standard errors with ``return_error``).

    Raises:
        ValueError: ``samples < 2``, a negative seed, and whatever :func:`graphon_ntk` raises.
    """
    from .device import generator

    samples = check_positive_int(samples, "samples", minimum=2)
    seed = check_positive_int(seed, "seed", minimum=0)
    dev = resolve_device(device)
    x1, x2 = _inputs(x1, x2, dev)
    d = x1.shape[1]
    vals, w = _graphon_table(graphon, d, dev, 256)
    k = vals.shape[0]
    w2 = _readout_values(readout, k, dev)
    g = generator(seed, "cpu")
    u = torch.rand(k, samples, d, generator=g, dtype=_F64).to(dev)
    masks = (u < vals[:, None, :]).to(_F64)  # (K, R, d): R Bernoulli rows per block
    groups = 8 if samples >= 16 else 2
    per = samples // groups
    rows = masks[:, : groups * per].reshape(k, groups, per, d).transpose(0, 1)  # (G, K, per, d)
    # a sampled row of block k carries that block's measure w_k and readout W_2(u_k), split over
    # its `per` draws; group g of the draws is one independent estimate
    weights = (w2 * w / per).repeat_interleave(per).repeat(groups)
    owner = torch.arange(groups, device=dev).repeat_interleave(k * per)
    parts, _ = _accumulate(
        x1, x2, rows.reshape(groups * k * per, d), weights, owner, groups, activation,
        check_choice(terms, "terms", KERNEL_TERMS), _check_degree(degree), tol,
    )
    est = parts.mean(0)
    if return_error:
        return est, parts.std(0) / math.sqrt(groups)
    return est


def graphon_ntk_deep(
    x1,
    x2=None,
    graphons: Sequence = (1.0,),
    activation: str = "relu",
    readout=None,
    device: str | torch.device | None = "auto",
    degree: int | None = None,
    tol: float = DEFAULT_TOL,
    terms: str = "all",
) -> torch.Tensor:
    """Deep Graphon-NTK of an ``L``-hidden-layer network by the step-graphon layer recursion.

    This book's reconstruction of the predecessor's Thm 1 (``research/prior_and_code.md`` Sec. A.4,
    E.3), with equal-measure blocks (weights ``w_m = 1/K``)::

        Sigma~^1_k = (1/d) sum_j W^1_{k j} x_j x'_j
        Sigma^l_k = V(Lambda^l_k);   Sdot^l_k = Vdot(Lambda^l_k)
        Sigma~^{l+1}_k = sum_m W^{l+1}_{k m} w_m Sigma^l_m    (l = 1..L; readout l = L+1)
        G^{L+1} = 1,   G^l_k = Sdot^l_k sum_m W^{l+1}_{m k} w_m G^{l+1}_m
        Theta = sum_{l=1}^{L+1} sum_k w_k G^l_k Sigma~^l_k

    Numerics: for ReLU the recursion carries, alongside each covariance, the normalised distance
    ``U = 2 (1 - cos theta)`` of the pair, propagated without cancellation (the arc-cosine map
    ``1 - J(theta)/pi`` in a cancellation-free form, then the block mixture by
    :func:`_mixed_angle`), so that every angle is accurate to a few ulps even for
    near-parallel inputs (see :func:`dual_activation`); the variances are per-row sums and identical inputs get the exact
    diagonal, so an entry does not depend on the other inputs of the batch. Error analysis (ReLU):
    each layer commits a few rounding errors relative to the quantities it combines, all terms
    being non-negative or well conditioned, so the relative error of ``Theta`` grows at most
    linearly in the depth, ``O(L eps)`` with a constant of order 10 (``d eps`` more for the first
    layer's sums); the tests use ``64 (L + 1) eps`` (plus ``d eps`` for the inputs).

    Args:
        x1, x2: inputs ``(N1, d)``, ``(N2, d)`` (``x2=None`` means ``x1``).
        graphons: ``L`` hidden-layer graphons (``L >= 1``): the first ``(K_1, d)`` (columns = input
            coordinates in natural order; any column count is read as a step function of ``v``),
            then ``(K_l, K_{l-1})``. A number means a constant graphon (one block).
        activation: ``relu``, ``erf``, ``tanh`` or ``sigmoid``.
        readout: ``None`` (dense readout), a number, or ``K_L`` values (the readout graphon
            ``W^{L+1}``, shape ``(K_L,)`` or ``(1, K_L)``).
        degree, tol: quadrature controls for tanh/sigmoid (see :func:`dual_activation`).
        terms: one of :data:`DEEP_TERMS`: ``"all"`` (every layer, ``l = 1..L+1``), ``"hidden"``
            (the hidden layers ``l = 1..L``: the kernel of the network trained with its readout
            fixed, Arora et al.'s setting at ``L = 1``) or ``"readout"`` (``l = L+1`` only). At
            ``L = 1`` they are :func:`graphon_ntk`'s ``"both"``, ``"first_layer"``, ``"readout"``.

    Returns:
        ``(N1, N2)`` float64 tensor. With one graphon it equals :func:`graphon_ntk`. With ``W = c``
        on every matrix and ReLU, it is ``c^{L+1} Theta_dense`` (``c^L`` with a dense readout).

    Raises:
        ValueError: an empty list, a table whose shape does not chain, values outside [0, 1],
            unknown activation or ``terms``, mismatched inputs, a bad ``degree``.
    """
    activation = check_choice(activation, "activation", _ACTIVATIONS)
    terms = check_choice(terms, "terms", DEEP_TERMS)
    degree = _check_degree(degree)
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
    same = _same_inputs(x1, x2)
    # forward: per block, variances q1 (K, N1), q2 (K, N2), covariance and distance (K, N1, N2)
    q1, q2, cov, unit = _first_layer(x1, x2, tables[0], same)
    sig_tilde, sig_dot = [cov], []
    for layer in range(len(tables)):
        v, vdot, unext, _ = _dual(
            activation, q1[:, :, None], q2[:, None, :], cov, unit, degree, tol, need_next=True
        )
        z1, z2 = torch.zeros_like(q1), torch.zeros_like(q2)
        vq1 = _dual(activation, q1, q1, q1, z1, degree, tol)[0]  # V on the diagonal
        vq2 = _dual(activation, q2, q2, q2, z2, degree, tol)[0]
        sig_dot.append(vdot)
        nxt = tables[layer + 1] if layer + 1 < len(tables) else readout
        mix = nxt * w_of[layer]  # (K_next, K)
        q1n, q2n = _row_sums(vq1.T.contiguous(), mix), _row_sums(vq2.T.contiguous(), mix)
        cov = torch.where(same, q1n[:, :, None], torch.einsum("km,mab->kab", mix, v))
        unit = None if unext is None else _mixed_angle(mix, vq1, vq2, q1n, q2n, unext, same)
        q1, q2 = q1n, q2n
        sig_tilde.append(cov)
    # backward, accumulating Theta = sum_l sum_k w_k G^l_k Sigma~^l_k
    theta = sig_tilde[-1][0].clone()  # readout layer: G = 1, one output block of weight 1
    if terms == "readout":
        return theta
    if terms == "hidden":
        theta.zero_()
    g_next = torch.ones(1, *theta.shape, dtype=_F64, device=dev)
    w_next = torch.ones(1, dtype=_F64, device=dev)
    for layer in range(len(tables) - 1, -1, -1):
        nxt = tables[layer + 1] if layer + 1 < len(tables) else readout
        back = (nxt * w_next[:, None]).T.contiguous()  # (K, K_next)
        g = sig_dot[layer] * _block_sum(back, g_next)
        theta += _block_sum(w_of[layer][None], g * sig_tilde[layer])[0]
        g_next, w_next = g, w_of[layer]
    return theta


def _mixed_angle(mix, vq1, vq2, q1n, q2n, unext, same):
    """Angle ``theta_k`` of the next layer's block ``k`` (from its squared chord
    ``U_k = 2 (1 - cos theta_k)``), whose covariance is the mixture ``sum_m mix[k, m] V_m`` of the
    blocks' dual kernels (ReLU: every ``V_m >= 0``, so ``theta_k <= pi/2``).

    With ``A_m = sqrt(V_m(x, x))``, ``B_m = sqrt(V_m(x', x'))``, ``P_k = sqrt(q1n_k q2n_k)`` and the
    blocks' own normalised distances ``U'_m``, exactly
    ``U_k = (2 (P_k - sum_m mix_km A_m B_m) + sum_m mix_km A_m B_m U'_m) / P_k``; both parts are
    non-negative. The Cauchy-Schwarz gap ``P_k - sum_m mix_km A_m B_m`` is taken from the expansion
    where it is not small and otherwise from Lagrange's identity,
    ``(1/2) sum_{m, m'} mix_km mix_km' (A_m B_m' - A_m' B_m)^2 / (P_k + sum_m mix_km A_m B_m)``
    (this book's derivation, checked against a 50-digit evaluation in the tests), summed over the
    ``K (K - 1) / 2`` pairs ``m < m'``.
    """
    a, b = _sqrt0(vq1), _sqrt0(vq2)  # (K, N1), (K, N2)
    cross = torch.einsum("km,ma,mb->kab", mix, a, b)
    p = _geometric_mean(q1n[:, :, None], q2n[:, None, :])
    gap = torch.clamp(p - cross, min=0.0)
    near = (gap < _TAU_NEAR * p) & ~same & (p > 0)
    kk = a.shape[0]
    m1, m2 = torch.triu_indices(kk, kk, 1, device=a.device)  # pairs m < m' (the m = m' terms vanish)
    if m1.numel() == 0:  # one block: A B = P exactly, the gap is 0
        gap = torch.where(near, torch.zeros_like(gap), gap)
    elif bool(near.any()):
        pair_w = mix[:, m1] * mix[:, m2]  # (K_next, P)
        rows = max(1, _ELEMENT_BUDGET // max(1, m1.numel() * b.shape[1]))
        for lo in range(0, a.shape[1], rows):
            r = slice(lo, lo + rows)
            det = a[m1, r, None] * b[m2, None, :] - a[m2, r, None] * b[m1, None, :]  # (P, R, N2)
            lag = torch.einsum("kp,pab->kab", pair_w, det * det)
            gap[:, r] = torch.where(near[:, r], lag / (p[:, r] + cross[:, r]), gap[:, r])
    weighted = torch.einsum("km,ma,mb,mab->kab", mix, a, b, unext)
    pos = p > 0
    unit = torch.where(pos, (2 * gap + weighted) / torch.where(pos, p, torch.ones_like(p)), 2.0)
    theta = _chord_angle(torch.clamp(unit, 0.0, 4.0))  # theta <= pi/2 after a ReLU layer
    return torch.where(same, torch.zeros_like(theta), theta)


def _block_sum(mix: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``out[k] = sum_m mix[k, m] t[m]`` for ``t (M, N1, N2)``, summed in a fixed order per entry
    (a contiguous reduction over ``m``), so that an entry does not depend on ``N1, N2``."""
    tt = t.permute(1, 2, 0).contiguous()  # (N1, N2, M)
    out = torch.empty(mix.shape[0], *t.shape[1:], dtype=_F64, device=t.device)
    for k in range(mix.shape[0]):
        out[k] = (tt * mix[k]).sum(-1)
    return out


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


EMPIRICAL_METHODS: tuple[str, ...] = ("layers", "jacobian")
"""How :func:`empirical_ntk` computes: the per-layer formula (default) or torch.func Jacobians."""


def empirical_ntk(
    model,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    seed_index: int | None = None,
    chunk_size: int = 256,
    method: str = "layers",
) -> torch.Tensor:
    """Empirical NTK ``sum_params <df/dtheta(x1), df/dtheta(x2)>`` of a masked MLP.

    Gradients are taken w.r.t. the weights only (a pruned entry contributes zero) and the trace is
    over the outputs. Two methods, equal to rounding (tested):

    * ``"layers"`` (default): the per-layer formula of back-propagation (e.g. Novak et al. 2022,
      "Fast finite width neural tangent kernel", Sec. 3): with ``z_l = (M_l * W_l) h_{l-1} /
      sqrt(n_{l-1})`` and ``delta_l = df/dz_l``, ``df/dW_l[i, j] = delta_l[i] M_l[i, j]
      h_{l-1}[j] / sqrt(n_{l-1})``, so ``Theta = sum_l sum_{ij} M_l[i, j]^2 delta_l[i] delta'_l[i]
      h_{l-1}[j] h'_{l-1}[j] / n_{l-1}``. A dense layer costs two Gram matrices,
      ``(delta delta'^T) * (h h'^T) / n`` (Hadamard product); a masked layer is the dense term
      minus the pruned entries, or the sum over the kept entries, whichever is shorter (cost
      ``N1 N2 min(kept, pruned)``). The Jacobian is never formed; all seeds are one batched
      computation, in float64, and memory stays within a fixed budget.
    * ``"jacobian"``: :mod:`torch.func` (``functional_call`` + ``vmap`` + ``jacrev``, Jacobian
      contraction; the PyTorch NTK tutorial's method 1), ``x1`` in chunks of ``chunk_size`` rows.

    Args:
        model: a ``MaskedMLP`` with weights ``(S, out, in)``.
        x1: inputs ``(N1, d)``; x2: ``(N2, d)`` or ``None`` (``x2 = x1``).
        seed_index: ``None`` for all seeds, or the index of one seed in ``model.seeds``.
        chunk_size: rows of ``x1`` whose Jacobians are held at once (``"jacobian"`` only).
        method: ``"layers"`` or ``"jacobian"``.

    Returns:
        ``(S, N1, N2)`` (or ``(N1, N2)`` for one ``seed_index``), float64, on the model's device.

    Raises:
        ValueError: inputs of the wrong dimension, a seed index out of range, an unknown method.
    """
    method = check_choice(method, "method", EMPIRICAL_METHODS)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    weights = [w.detach() for w in model.weights]
    masks = [m.detach() for m in model.masks]
    n_seeds = weights[0].shape[0]
    if seed_index is not None:
        if (
            isinstance(seed_index, bool)
            or not isinstance(seed_index, int)
            or not -n_seeds <= seed_index < n_seeds
        ):
            raise ValueError(
                f"seed_index must be an integer in [0, {n_seeds - 1}], got {seed_index!r}"
            )
    ref = weights[0]
    x1 = torch.as_tensor(x1).to(device=ref.device, dtype=ref.dtype)
    x2 = x1 if x2 is None else torch.as_tensor(x2).to(device=ref.device, dtype=ref.dtype)
    for name, x in (("x1", x1), ("x2", x2)):
        if x.ndim != 2 or x.shape[1] != model.d:
            raise ValueError(f"{name} must have shape (N, d={model.d}), got {tuple(x.shape)}")
    if method == "jacobian":
        return _empirical_ntk_jacobian(model, x1, x2, seed_index, chunk_size)
    if seed_index is not None:
        sl = slice(seed_index % n_seeds, seed_index % n_seeds + 1)
        weights = [w[sl] for w in weights]
        masks = [m[sl] for m in masks]
    out = _empirical_ntk_layers(weights, masks, model.activation, x1, x2)
    return out[0] if seed_index is not None else out


def _forward_backward(weights, masks, activation, x):
    """Per layer ``l``: the input ``h_{l-1}`` ``(S, N, n_{l-1})`` and ``delta_l = df/dz_l``
    ``(S, N, O, n_l)`` of the network of :func:`graphon.models.mlp_forward`, in float64."""
    f, fp = _act_and_grad(activation)
    s = weights[0].shape[0]
    h = x.to(_F64).expand(s, *x.shape)
    hs, zs = [], []
    last = len(weights) - 1
    for layer, (w, m) in enumerate(zip(weights, masks, strict=True)):
        hs.append(h)
        z = torch.matmul(h, (w.to(_F64) * m.to(_F64)).transpose(-1, -2)) / math.sqrt(w.shape[-1])
        if layer < last:
            zs.append(z)
            h = f(z)
    n, o = x.shape[0], weights[-1].shape[1]
    delta = torch.eye(o, dtype=_F64, device=x.device).expand(s, n, o, o)
    deltas = [delta]
    for layer in range(last - 1, -1, -1):
        w = weights[layer + 1].to(_F64) * masks[layer + 1].to(_F64)  # (S, n_{l+1}, n_l)
        back = torch.matmul(delta.reshape(s, n * o, -1), w).reshape(s, n, o, -1)
        delta = fp(zs[layer])[:, :, None, :] * back / math.sqrt(w.shape[-1])
        deltas.append(delta)
    return hs, deltas[::-1]


def _empirical_ntk_layers(weights, masks, activation, x1, x2):
    """The per-layer formula of :func:`empirical_ntk`; ``(S, N1, N2)`` float64."""
    hs1, ds1 = _forward_backward(weights, masks, activation, x1)
    hs2, ds2 = (hs1, ds1) if x2 is x1 else _forward_backward(weights, masks, activation, x2)
    s, n1, n2 = weights[0].shape[0], x1.shape[0], x2.shape[0]
    out = torch.zeros(s, n1, n2, dtype=_F64, device=x1.device)
    for h1, h2, d1, d2, m in zip(hs1, hs2, ds1, ds2, masks, strict=True):
        n_in, o, n_out = h1.shape[-1], d1.shape[2], d1.shape[-1]
        w2 = m.to(_F64).reshape(s, -1) ** 2  # (S, n_out * n_in): weight of each entry
        kept, pruned = int((w2 != 0).sum(1).max()), int((w2 != 1).sum(1).max())
        if pruned == 0 or pruned < kept:  # dense Gram product, minus the pruned entries
            gd = torch.matmul(d1.reshape(s, n1, o * n_out), d2.reshape(s, n2, o * n_out).mT)
            out += gd * torch.matmul(h1, h2.mT) / n_in
            if pruned == 0:
                continue
            sel, wt, count, sign = w2 != 1, 1 - w2, pruned, -1.0
        else:  # the kept entries only
            sel, wt, count, sign = w2 != 0, w2, kept, 1.0
        # per seed, the first `count` selected positions (padding carries weight 0)
        order = torch.argsort((~sel).to(torch.int8), dim=1, stable=True)[:, :count]
        wsel = torch.gather(wt, 1, order)
        step = max(1, _ELEMENT_BUDGET // max(1, s * max(n1, n2) * o))
        for lo in range(0, count, step):
            pos, wc = order[:, lo : lo + step], wsel[:, lo : lo + step]
            rows, cols = pos // n_in, pos % n_in
            z1 = _entry_features(d1, h1, rows, cols)
            z2 = z1 if (x2 is x1) else _entry_features(d2, h2, rows, cols)
            wo = wc.repeat(1, o)[:, None, :]
            out += sign * torch.matmul(z1 * wo, z2.mT) / n_in
    return out


def _entry_features(delta, h, rows, cols):
    """``delta[s, a, o, rows[s, k]] * h[s, a, cols[s, k]]`` as ``(S, N, O * K)``."""
    s, n, o, _ = delta.shape
    k = rows.shape[1]
    dg = torch.gather(delta, 3, rows[:, None, None, :].expand(s, n, o, k))
    hg = torch.gather(h, 2, cols[:, None, :].expand(s, n, k))
    return (dg * hg[:, :, None, :]).reshape(s, n, o * k)


def _empirical_ntk_jacobian(model, x1, x2, seed_index, chunk_size):
    """The torch.func path of :func:`empirical_ntk`."""
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    n_seeds = next(iter(params.values())).shape[0]
    if seed_index is not None:
        sl = slice(seed_index % n_seeds, seed_index % n_seeds + 1)
        params = {k: v[sl] for k, v in params.items()}
        buffers = {k: v[sl] for k, v in buffers.items()}

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
