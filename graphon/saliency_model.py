"""The Factorised Saliency Model and its limit graphon (this book's reconstruction).

**Status of this module.** The paper (Pham, Ta & Tran-Thanh, ICML 2026, arXiv 2602.06675) names a
"Factorised Saliency Model" and proves convergence of masks to a graphon (its Theorem 4.7), but the
exact definition and the limit formula could not be extracted from the available text. The model and
the formula implemented here are **this book's reconstruction** (``research/paper.md`` §3.2 and §4.3),
built from the ingredients the paper names (joint growth of ``n`` and ``d``, bounded row profile,
neuron CDF, conditional i.i.d. edge noise, stable threshold). They are not the paper's printed
statement.

Model (reconstruction, ``research/paper.md`` §3.2). For a first-layer mask of shape ``(n, d)``
(row ``i`` = hidden neuron, column ``j`` = input coordinate)::

    S_ij = alpha_i * beta_j * xi_ij,        M_ij = 1{S_ij >= tau_n},

with i.i.d. row factors ``alpha_i ~ F_alpha``, i.i.d. column factors ``beta_j ~ F_beta`` and i.i.d.
edge noise ``xi_ij`` (survival function ``Gbar_xi``), all non-negative, and ``tau_n`` the global
threshold that keeps exactly ``round(rho n d)`` entries. Neuron positions are the factor quantiles
``u_i = F_alpha(alpha_i)``, ``v_j = F_beta(beta_j)`` (the "neuron CDF").

Limit (reconstruction, ``research/paper.md`` §4.3, checked numerically in §4.4)::

    W(u, v) = P(xi * F_alpha^{-1}(u) * F_beta^{-1}(v) >= tau*)
            = Gbar_xi(tau* / (F_alpha^{-1}(u) F_beta^{-1}(v))),

with ``tau*`` fixed by ``int int W = rho``. Constant factors (Random: ``xi ~ U(0, 1)``; Magnitude:
``xi = |N(0, 1)|``) give ``W == rho``; non-constant factors give a graphon increasing in ``u`` and
``v`` (SNIP / GraSP-like "implicit feature selection").

Every random draw takes an integer seed; seed ``s`` gives the same masks whether it is drawn alone or
in a batch (one :class:`torch.Generator` per seed, created on the compute device).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from scipy.optimize import brentq

from . import graphons
from .device import generator, resolve_device
from .fitting import loglog_slope
from .progress import progress
from .selection import keep_top, kept_count
from .validation import check_choice, check_density, check_in_range, check_positive_int, check_seeds

__all__ = [
    "FACTOR_LAWS",
    "NOISE_LAWS",
    "ConvergenceResult",
    "FactorisedSaliencyModel",
    "Law",
    "LimitGraphon",
    "MaskSample",
    "distance_to_limit",
    "law",
    "loglog_slope",
]

#: Laws allowed for the row and column factors.
FACTOR_LAWS = ("constant", "exponential", "lognormal", "uniform", "halfnormal")
#: Laws allowed for the edge noise (continuous, so that the threshold keeps exactly round(rho n d)).
NOISE_LAWS = ("uniform", "halfnormal", "exponential", "lognormal")

_DEFAULT_PARAMS = {
    "constant": {"value": 1.0},
    "exponential": {"rate": 1.0, "shift": 0.0},
    "lognormal": {"mu": 0.0, "sigma": 1.0},
    "uniform": {"low": 0.0, "high": 1.0},
    "halfnormal": {"scale": 1.0},
}

_SQRT2 = math.sqrt(2.0)
_U_EPS = 1e-12  # positions are clamped to [eps, 1 - eps] before a quantile is taken


# ----------------------------------------------------------------------------------------------
# laws
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Law:
    """A named non-negative law with sampler, quantile function (inverse CDF) and survival function.

    Build with :func:`law` (``law("exponential", shift=0.1)``). Laws and parameters:

    * ``constant(value=1)``: point mass (factors only; positions are then the uniform draws used to
      generate it, i.e. a randomised probability-integral transform);
    * ``exponential(rate=1, shift=0)``: ``shift + Exp(rate)``;
    * ``lognormal(mu=0, sigma=1)``: ``exp(N(mu, sigma^2))``;
    * ``uniform(low=0, high=1)``: ``U(low, high)`` (Random pruning's noise);
    * ``halfnormal(scale=1)``: ``|N(0, scale^2)|`` (Magnitude / SNIP noise ``|W_ij|``).

    Attributes:
        name: one of :data:`FACTOR_LAWS`.
        params: ``((key, value), ...)`` sorted parameter pairs (hashable).
    """

    name: str
    params: tuple = ()

    def p(self, key: str) -> float:
        """Parameter ``key`` (defaults filled in)."""
        return float(dict(self.params).get(key, _DEFAULT_PARAMS[self.name][key]))

    @property
    def is_constant(self) -> bool:
        """Whether the law is a point mass."""
        return self.name == "constant"

    def quantile(self, q) -> torch.Tensor:
        """Inverse CDF ``F^{-1}(q)`` for ``q`` in ``[0, 1]`` (tensor in, same-shape tensor out)."""
        q = torch.as_tensor(q)
        if not q.is_floating_point():
            q = q.to(torch.float64)
        nm = self.name
        if nm == "constant":
            return torch.full_like(q, self.p("value"))
        if nm == "exponential":
            return self.p("shift") - torch.log1p(-q) / self.p("rate")
        if nm == "lognormal":
            return torch.exp(self.p("mu") + self.p("sigma") * torch.special.ndtri(q))
        if nm == "uniform":
            lo, hi = self.p("low"), self.p("high")
            return lo + q * (hi - lo)
        if nm == "halfnormal":
            return self.p("scale") * torch.special.ndtri(0.5 + 0.5 * q)
        raise AssertionError(nm)

    def sf(self, x) -> torch.Tensor:
        """Survival function ``P(X >= x)`` (tensor in, tensor out; ``x = inf`` gives 0)."""
        x = torch.as_tensor(x)
        if not x.is_floating_point():
            x = x.to(torch.float64)
        nm = self.name
        one = torch.ones_like(x)
        if nm == "constant":
            return (x <= self.p("value")).to(x.dtype)
        if nm == "exponential":
            z = (x - self.p("shift")).clamp_min(0.0)
            return torch.exp(-self.p("rate") * z)
        if nm == "lognormal":
            pos = x > 0
            z = (torch.log(torch.where(pos, x, one)) - self.p("mu")) / (self.p("sigma") * _SQRT2)
            return torch.where(pos, 0.5 * torch.special.erfc(z), one)
        if nm == "uniform":
            lo, hi = self.p("low"), self.p("high")
            return ((hi - x) / (hi - lo)).clamp(0.0, 1.0)
        if nm == "halfnormal":
            return torch.special.erfc(x.clamp_min(0.0) / (self.p("scale") * _SQRT2))
        raise AssertionError(nm)

    def sample(self, shape, gen: torch.Generator, device, dtype=torch.float32) -> torch.Tensor:
        """``shape`` i.i.d. draws with generator ``gen`` on ``device``."""
        nm = self.name
        if nm == "halfnormal":
            return (
                self.p("scale") * torch.randn(shape, generator=gen, device=device, dtype=dtype)
            ).abs()
        if nm == "lognormal":
            z = torch.randn(shape, generator=gen, device=device, dtype=dtype)
            return torch.exp(self.p("mu") + self.p("sigma") * z)
        u = torch.rand(shape, generator=gen, device=device, dtype=dtype)
        return self.quantile(u)


def law(
    name: str | Law, param_name: str = "law", allowed: Sequence[str] = FACTOR_LAWS, **params
) -> Law:
    """Build a :class:`Law` from its name and parameters, checking both.

    Args:
        name: a law name (see :class:`Law`) or an existing :class:`Law` (returned after checking).
        param_name: the argument name used in error messages (e.g. ``"noise"``).
        allowed: admissible names.
        **params: law parameters, e.g. ``shift=0.1`` for ``exponential``.

    Raises:
        ValueError: naming ``param_name`` for an unknown law or parameter, or a parameter outside its
            range (``value > 0``, ``rate > 0``, ``shift >= 0``, ``sigma > 0``, ``0 <= low < high``,
            ``scale > 0``).
    """
    if isinstance(name, Law):
        if params:
            raise ValueError(
                f"{param_name}: give parameters either in the Law or as keywords, not both"
            )
        params = dict(name.params)
        name = name.name
    if not isinstance(name, str):
        raise ValueError(f"{param_name} must be one of {list(allowed)} or a Law, got {name!r}")
    check_choice(name, param_name, allowed)
    defaults = _DEFAULT_PARAMS[name]
    for k in params:
        if k not in defaults:
            raise ValueError(
                f"{param_name}: unknown parameter {k!r} for law {name!r}; allowed {list(defaults)}"
            )
    full = {k: float(params.get(k, v)) for k, v in defaults.items()}
    if name == "constant":
        check_in_range(full["value"], f"{param_name}.value", 0.0, low_open=True)
    elif name == "exponential":
        check_in_range(full["rate"], f"{param_name}.rate", 0.0, low_open=True)
        check_in_range(full["shift"], f"{param_name}.shift", 0.0)
    elif name == "lognormal":
        check_in_range(full["sigma"], f"{param_name}.sigma", 0.0, low_open=True)
        check_in_range(full["mu"], f"{param_name}.mu")
    elif name == "uniform":
        check_in_range(full["low"], f"{param_name}.low", 0.0)
        check_in_range(full["high"], f"{param_name}.high", full["low"], low_open=True)
    elif name == "halfnormal":
        check_in_range(full["scale"], f"{param_name}.scale", 0.0, low_open=True)
    return Law(name, tuple(sorted(full.items())))


# ----------------------------------------------------------------------------------------------
# samples and limits
# ----------------------------------------------------------------------------------------------


@dataclass
class MaskSample:
    """Masks drawn from a :class:`FactorisedSaliencyModel`.

    Attributes:
        masks: ``(S, n, d)`` bool (or the requested dtype) masks, on the compute device.
        row_positions: ``(S, n)`` float32 positions ``u_i = F_alpha(alpha_i)`` in ``(0, 1)``
            (increasing along rows when ``order="factor"``).
        col_positions: ``(S, d)`` float32 positions ``v_j = F_beta(beta_j)``.
        row_factors: ``(S, n)`` float32 factors ``alpha_i``.
        col_factors: ``(S, d)`` float32 factors ``beta_j``.
        threshold: ``(S,)`` float64 CPU realised thresholds ``tau_n`` (the ``k``-th largest score,
            ``k = round(rho n d)``).
        density: the requested density ``rho``.
        kept: number of entries kept per seed, ``round(rho n d)`` (at least 1).
        seeds: the seeds, in batch order.
    """

    masks: torch.Tensor
    row_positions: torch.Tensor
    col_positions: torch.Tensor
    row_factors: torch.Tensor
    col_factors: torch.Tensor
    threshold: torch.Tensor
    density: float
    kept: int
    seeds: list[int] = field(default_factory=list)

    @staticmethod
    def concat(parts: Sequence[MaskSample]) -> MaskSample:
        """Concatenate seed chunks along the seed axis."""
        first = parts[0]
        return MaskSample(
            masks=torch.cat([p.masks for p in parts]),
            row_positions=torch.cat([p.row_positions for p in parts]),
            col_positions=torch.cat([p.col_positions for p in parts]),
            row_factors=torch.cat([p.row_factors for p in parts]),
            col_factors=torch.cat([p.col_factors for p in parts]),
            threshold=torch.cat([p.threshold for p in parts]),
            density=first.density,
            kept=first.kept,
            seeds=[s for p in parts for s in p.seeds],
        )


@dataclass(frozen=True)
class LimitGraphon:
    """The reconstructed limit ``W(u, v) = Gbar_xi(tau* / (F_alpha^{-1}(u) F_beta^{-1}(v)))``.

    Callable on tensors ``u, v`` in ``[0, 1]`` that broadcast; returns float64 values in ``[0, 1]``
    on the device of ``u``. ``u, v`` are clamped to ``[1e-12, 1 - 1e-12]`` so that unbounded
    quantiles stay finite. Source: this book's reconstruction, ``research/paper.md`` §4.3.

    Attributes:
        model: the :class:`FactorisedSaliencyModel`.
        density: ``rho``.
        tau: the limit threshold ``tau*``.
    """

    model: FactorisedSaliencyModel
    density: float
    tau: float

    def __call__(self, u, v) -> torch.Tensor:
        u = torch.as_tensor(u, dtype=torch.float64)
        v = torch.as_tensor(v, dtype=torch.float64, device=u.device)
        a = self.model.row_law.quantile(u.clamp(_U_EPS, 1 - _U_EPS))
        b = self.model.col_law.quantile(v.clamp(_U_EPS, 1 - _U_EPS))
        return self.model._w_from_product(a * b, self.tau)

    def on_grid(self, blocks, quad: int = 8) -> torch.Tensor:
        """Block averages on a ``(Kr, Kc)`` grid (:func:`graphon.graphons.graphon_on_grid`), on CPU."""
        return graphons.graphon_on_grid(self, blocks, quad=quad, device="cpu")

    def integral(self) -> float:
        """``int int W du dv`` by the model's quadrature (equals ``density`` up to ~1e-8)."""
        return self.model._integral(self.tau)


def _gauss_legendre_nodes(
    panels: int = 16, grade: int = 14, order: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes/weights on [0, 1], geometrically graded towards both ends.

    Quantile functions of unbounded laws blow up at 0 or 1; grading keeps the integrand resolved there.
    """
    inner = np.linspace(0.0, 1.0, panels + 1)
    h = 1.0 / panels
    left = h * 2.0 ** -np.arange(grade, 0, -1)
    edges = np.unique(np.concatenate([[0.0], left, inner, 1.0 - left[::-1], [1.0]]))
    x, w = np.polynomial.legendre.leggauss(order)
    a, b = edges[:-1, None], edges[1:, None]
    nodes = (a + b) / 2 + (b - a) / 2 * x[None, :]
    weights = (b - a) / 2 * w[None, :]
    return nodes.ravel(), weights.ravel()


@dataclass(frozen=True)
class FactorisedSaliencyModel:
    """Factorised Saliency Model ``S_ij = alpha_i beta_j xi_ij`` (this book's reconstruction).

    Args:
        row_factor: law of the row (output-side, hidden-neuron) factor ``alpha_i``: a name in
            :data:`FACTOR_LAWS` or a :class:`Law` (built with :func:`law`).
        col_factor: law of the column (input-side) factor ``beta_j``; same choices.
        noise: law of the edge noise ``xi_ij``: a name in :data:`NOISE_LAWS` (``"uniform"`` =
            Random pruning, ``"halfnormal"`` = ``|N(0, 1)|`` = Magnitude / SNIP) or a :class:`Law`.

    Raises:
        ValueError: naming ``row_factor``, ``col_factor`` or ``noise`` for an unknown law.

    Source: ``research/paper.md`` §3.2 (reconstruction; the paper's exact definition is not known).
    Presets: :meth:`homogeneous` and :meth:`heterogeneous`.
    """

    row_factor: str | Law = "constant"
    col_factor: str | Law = "constant"
    noise: str | Law = "uniform"

    def __post_init__(self) -> None:
        object.__setattr__(self, "row_factor", law(self.row_factor, "row_factor", FACTOR_LAWS))
        object.__setattr__(self, "col_factor", law(self.col_factor, "col_factor", FACTOR_LAWS))
        object.__setattr__(self, "noise", law(self.noise, "noise", NOISE_LAWS))

    # -- presets -------------------------------------------------------------------------------

    @classmethod
    def homogeneous(cls, noise: str = "uniform") -> FactorisedSaliencyModel:
        """Constant factors: Random (``noise="uniform"``) or Magnitude (``noise="halfnormal"``).

        The limit is the constant graphon ``W == rho`` (``research/paper.md`` §3.2 table).
        """
        check_choice(noise, "noise", ("uniform", "halfnormal"))
        return cls("constant", "constant", noise)

    @classmethod
    def heterogeneous(cls) -> FactorisedSaliencyModel:
        """``alpha ~ Exp(1) + 0.1``, ``beta ~ LogNormal(0, 1)``, ``xi = |N(0, 1)|``.

        The SNIP-like setting of the numerical check in ``research/paper.md`` §4.4 (``tau* = 1.727``
        at ``rho = 0.2``).
        """
        return cls(
            law("exponential", "row_factor", shift=0.1),
            law("lognormal", "col_factor"),
            "halfnormal",
        )

    @property
    def row_law(self) -> Law:
        """The row-factor :class:`Law`."""
        return self.row_factor  # type: ignore[return-value]

    @property
    def col_law(self) -> Law:
        """The column-factor :class:`Law`."""
        return self.col_factor  # type: ignore[return-value]

    @property
    def noise_law(self) -> Law:
        """The edge-noise :class:`Law`."""
        return self.noise  # type: ignore[return-value]

    # -- sampling ------------------------------------------------------------------------------

    def iter_mask_batches(
        self,
        n: int,
        d: int,
        density: float,
        seeds: int | Sequence[int],
        device="auto",
        order: str = "factor",
        seed_batch: int | None = None,
        dtype: torch.dtype = torch.bool,
    ) -> Iterator[MaskSample]:
        """Yield :class:`MaskSample` chunks of at most ``seed_batch`` seeds (bounded memory).

        Same arguments as :meth:`sample_masks`; use this for many seeds at large ``n, d`` (e.g.
        ``n = d = 4000`` with 100 seeds), consuming each chunk before the next is drawn.
        """
        n = check_positive_int(n, "n")
        d = check_positive_int(d, "d")
        rho = check_density(density)
        seeds = check_seeds(seeds)
        check_choice(order, "order", ("factor", "random"))
        dev = resolve_device(device)
        if seed_batch is None:
            seed_batch = max(1, (1 << 24) // (n * d))
        seed_batch = check_positive_int(seed_batch, "seed_batch")
        kept = kept_count(rho, n * d)
        for start in range(0, len(seeds), seed_batch):
            chunk = seeds[start : start + seed_batch]
            yield self._draw(n, d, rho, kept, chunk, dev, order, dtype)

    def _draw(self, n, d, rho, kept, seeds, dev, order, dtype) -> MaskSample:
        us, vs, xis = [], [], []
        # this loop only seeds generators and draws; the heavy work is batched below
        for s in seeds:
            g = generator(s, dev)
            us.append(torch.rand(n, generator=g, device=dev, dtype=torch.float64))
            vs.append(torch.rand(d, generator=g, device=dev, dtype=torch.float64))
            xis.append(self.noise_law.sample((n, d), g, dev))
        u, v, xi = torch.stack(us), torch.stack(vs), torch.stack(xis)
        alpha = self.row_law.quantile(u.clamp(_U_EPS, 1 - _U_EPS)).to(torch.float32)
        beta = self.col_law.quantile(v.clamp(_U_EPS, 1 - _U_EPS)).to(torch.float32)
        score = alpha[:, :, None] * beta[:, None, :] * xi  # (S, n, d)
        del xi
        flat = score.reshape(len(seeds), -1)
        keep = keep_top(flat, kept)  # exactly `kept` entries; ties at the threshold go to the lower index
        tau = flat.masked_fill(~keep, math.inf).amin(dim=1)  # the k-th largest score
        masks = keep.view(len(seeds), n, d)
        del score, flat
        # order="factor": relabel the same graph, rows by increasing u and columns by increasing v
        if order == "factor":
            ru = torch.argsort(u, dim=1, stable=True)
            rv = torch.argsort(v, dim=1, stable=True)
            masks = torch.gather(masks, 1, ru[:, :, None].expand(-1, -1, d))
            masks = torch.gather(masks, 2, rv[:, None, :].expand(-1, n, -1))
            u, alpha = torch.gather(u, 1, ru), torch.gather(alpha, 1, ru)
            v, beta = torch.gather(v, 1, rv), torch.gather(beta, 1, rv)
        if dtype != torch.bool:
            masks = masks.to(dtype)
        return MaskSample(
            masks=masks,
            row_positions=u.to(torch.float32),
            col_positions=v.to(torch.float32),
            row_factors=alpha,
            col_factors=beta,
            threshold=tau.to(torch.float64).cpu(),
            density=rho,
            kept=kept,
            seeds=list(seeds),
        )

    def sample_masks(
        self,
        n: int,
        d: int,
        density: float,
        seeds: int | Sequence[int],
        device="auto",
        order: str = "factor",
        seed_batch: int | None = None,
        dtype: torch.dtype = torch.bool,
    ) -> MaskSample:
        """Draw masks ``M_ij = 1{alpha_i beta_j xi_ij >= tau_n}``, one per seed.

        For each seed: ``u_i ~ U(0, 1)``, ``alpha_i = F_alpha^{-1}(u_i)`` (so ``u_i`` is the neuron
        position), likewise ``v_j`` and ``beta_j``; ``xi_ij`` i.i.d. from the noise law; ``tau_n`` is
        the ``k``-th largest score with ``k = round(rho n d)`` (at least 1), so exactly ``k`` entries
        are kept (ties have probability zero for a continuous noise law). All seeds of a chunk are
        processed as one ``(S, n, d)`` tensor computation.

        Args:
            n: width (rows, hidden neurons), >= 1.
            d: input dimension (columns), >= 1.
            density: ``rho`` in ``(0, 1]``, fraction of entries kept.
            seeds: an int ``k`` (seeds ``0..k-1``) or a list of distinct seeds.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``; draws differ between CPU and CUDA.
            order: ``"factor"`` relabels rows and columns by increasing factor (positions sorted), so
                the masks are aligned with the limit graphon without degree sorting; ``"random"`` keeps
                the exchangeable (unsorted) labelling. Both orders give the same bipartite graph for a
                seed (same threshold, same degrees), only labelled differently.
            seed_batch: seeds per chunk (default about ``2^24`` scores per chunk); the result still holds
                all masks, use :meth:`iter_mask_batches` to stream instead.
            dtype: dtype of ``masks`` (bool by default, 1 byte per entry).

        Returns:
            :class:`MaskSample` (masks on the compute device; thresholds on CPU).

        Raises:
            ValueError: for ``n``/``d`` < 1, ``density`` outside ``(0, 1]``, bad seeds or ``order``.

        Source: this book's reconstruction of the model, ``research/paper.md`` §3.2.
        """
        parts = list(self.iter_mask_batches(n, d, density, seeds, device, order, seed_batch, dtype))
        return parts[0] if len(parts) == 1 else MaskSample.concat(parts)

    # -- limit ---------------------------------------------------------------------------------

    def _w_from_product(self, ab: torch.Tensor, tau: float) -> torch.Tensor:
        if tau <= 0.0:
            return self.noise_law.sf(torch.zeros_like(ab))
        safe = torch.where(ab > 0, ab, torch.ones_like(ab))
        x = torch.where(ab > 0, tau / safe, torch.full_like(ab, math.inf))
        return self.noise_law.sf(x)

    def _integral(self, tau: float) -> float:
        inv_ab, wa, wb = _quadrature(self)
        x = tau * inv_ab if tau > 0 else torch.zeros_like(inv_ab)
        return float(wa @ self.noise_law.sf(x) @ wb)

    def limit_threshold(self, density: float) -> float:
        """The limit threshold ``tau*`` solving ``int_0^1 int_0^1 Gbar_xi(tau / (F_alpha^{-1}(u)
        F_beta^{-1}(v))) du dv = rho``.

        The double integral uses composite Gauss-Legendre quadrature (8-point panels, graded towards
        0 and 1, 352 nodes per axis; constant factors collapse to one node), and the root is
        found with :func:`scipy.optimize.brentq` (``xtol = 1e-12``). ``density = 1`` gives
        ``tau* = 0``. Cached per ``(model, density)``.

        Raises:
            ValueError: for ``density`` outside ``(0, 1]``.

        Source: this book's reconstruction, ``research/paper.md`` §4.3.
        """
        rho = check_density(density)
        return _limit_threshold(self, rho)

    def limit_graphon(self, density: float) -> LimitGraphon:
        """The reconstructed limit graphon at density ``rho`` (a callable :class:`LimitGraphon`).

        ``W(u, v) = Gbar_xi(tau* / (F_alpha^{-1}(u) F_beta^{-1}(v)))``, increasing in ``u`` and ``v``;
        ``W == rho`` for constant factors. Source: this book's reconstruction, ``research/paper.md``
        §4.3 (not the paper's printed Theorem 4.7, which could not be extracted).

        Raises:
            ValueError: for ``density`` outside ``(0, 1]``.
        """
        rho = check_density(density)
        return LimitGraphon(self, rho, self.limit_threshold(rho))

    def limit_on_grid(self, density: float, blocks=16, quad: int = 8) -> torch.Tensor:
        """``(Kr, Kc)`` block averages of the limit graphon (midpoint rule, ``quad`` points per side), CPU.

        Raises:
            ValueError: for ``density`` outside ``(0, 1]`` or ``blocks``/``quad`` < 1.
        """
        return self.limit_graphon(density).on_grid(blocks, quad=quad)

    def empirical_graphon(
        self,
        n: int,
        d: int,
        density: float,
        seeds: int | Sequence[int],
        blocks=16,
        sort: bool = True,
        sort_columns: bool = True,
        device="auto",
        seed_batch: int | None = None,
    ) -> torch.Tensor:
        """Seed-averaged degree-sorted histogram of sampled masks, streamed over seed chunks.

        Draws masks with ``order="random"`` (exchangeable labels) when both sides are sorted, and
        with ``order="factor"`` otherwise (an unsorted side must keep its factor order to be read), and applies :func:`graphon.graphons.empirical_graphon`
        (ascending degree sort, matching the limit's coordinates). Returns a ``(Kr, Kc)`` CPU tensor to
        compare with :meth:`limit_on_grid`.

        Raises:
            ValueError: as :meth:`sample_masks` and :func:`graphon.graphons.block_average`.
        """
        seeds = check_seeds(seeds)
        total = None
        order = "random" if sort and sort_columns else "factor"
        for part in self.iter_mask_batches(n, d, density, seeds, device, order, seed_batch):
            h = graphons.empirical_graphon(part.masks, blocks, sort=sort, sort_columns=sort_columns)
            h = h * len(part.seeds)
            total = h if total is None else total + h
        return (total / len(seeds)).cpu()


@lru_cache(maxsize=64)
def _quadrature(model: FactorisedSaliencyModel):
    """``(1 / (a_k b_l), row weights, column weights)`` on the Gauss-Legendre grid (cached)."""
    nodes, weights = _gauss_legendre_nodes()
    q = torch.as_tensor(nodes, dtype=torch.float64)
    w = torch.as_tensor(weights, dtype=torch.float64)

    def side(lw: Law):
        if lw.is_constant:
            return lw.quantile(torch.full((1,), 0.5, dtype=torch.float64)), torch.ones(
                1, dtype=torch.float64
            )
        return lw.quantile(q), w

    a, wa = side(model.row_law)
    b, wb = side(model.col_law)
    ab = a[:, None] * b[None, :]
    # a product of 0 gives an infinite ratio tau / ab (W = 0); an infinite product gives 0 (W = Gbar(0))
    inv_ab = torch.where(ab > 0, 1.0 / ab.clamp_min(1e-300), torch.full_like(ab, math.inf))
    return inv_ab, wa, wb


@lru_cache(maxsize=256)
def _limit_threshold(model: FactorisedSaliencyModel, rho: float) -> float:
    if rho >= 1.0:
        return 0.0

    def f(t: float) -> float:
        return model._integral(t) - rho

    hi = 1.0
    while f(hi) > 0:
        hi *= 2.0
        if hi > 1e300:
            raise ValueError(f"density={rho} cannot be reached by this model")
    lo = hi / 2.0
    while f(lo) < 0 and lo > 1e-300:
        lo /= 2.0
    return float(brentq(f, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=200))


# ----------------------------------------------------------------------------------------------
# convergence experiment
# ----------------------------------------------------------------------------------------------


@dataclass
class ConvergenceResult:
    """Cut-norm distances between sampled masks and the limit graphon, per width.

    Attributes:
        widths: the widths ``n`` (list).
        dims: the input dimensions ``d`` used with each width (list).
        lower, upper, l1: ``(len(widths), S)`` float64 CPU tensors of per-seed values (see
            :class:`graphon.graphons.CutDistance`).
        thresholds: ``(len(widths), S)`` realised thresholds ``tau_n``.
        tau: the limit threshold ``tau*``.
    """

    widths: list[int]
    dims: list[int]
    lower: torch.Tensor
    upper: torch.Tensor
    l1: torch.Tensor
    thresholds: torch.Tensor
    tau: float

    @property
    def estimate(self) -> torch.Tensor:
        """Seed means of the cut-norm estimate (``lower``), shape ``(len(widths),)``."""
        return self.lower.mean(dim=1)

    def slope(self, which: str = "lower") -> float:
        """Fitted log-log slope of the seed-mean of ``which`` (``lower``/``upper``/``l1``) against ``n``."""
        check_choice(which, "which", ("lower", "upper", "l1"))
        return loglog_slope(self.widths, getattr(self, which).mean(dim=1).numpy())

    def to_dict(self) -> dict:
        """JSON-ready summary (means and standard deviations over seeds)."""
        out = {"widths": list(self.widths), "dims": list(self.dims), "tau_star": self.tau}
        for k in ("lower", "upper", "l1", "thresholds"):
            t = getattr(self, k)
            out[f"{k}_mean"] = t.mean(dim=1).tolist()
            out[f"{k}_std"] = (t.std(dim=1) if t.shape[1] > 1 else torch.zeros(t.shape[0])).tolist()
        out["slope_lower"] = self.slope("lower")
        return out


def distance_to_limit(
    model: FactorisedSaliencyModel,
    widths: Sequence[int],
    density: float,
    seeds: int | Sequence[int] = 4,
    aspect: float = 1.0,
    align: str = "degree",
    restarts: int = 16,
    spectral: bool | None = None,
    device="auto",
    seed_batch: int | None = None,
) -> ConvergenceResult:
    """Cut-norm distance between sampled masks and the reconstructed limit, for each width.

    For each ``n`` in ``widths`` (``d = round(aspect n)``), masks are drawn from ``model`` and compared
    with ``model.limit_graphon(density)`` by :func:`graphon.graphons.cut_distance` (cell-midpoint
    values of the limit). ``align="degree"`` draws exchangeable masks and aligns them by ascending
    degree sort (what one can do with real masks); ``align="factor"`` uses the oracle ordering by the
    true factors (no sorting). Seeds are streamed in chunks, so large ``n`` with many seeds works in
    bounded memory.

    Args:
        model: the :class:`FactorisedSaliencyModel`.
        widths: widths ``n`` (each >= 1).
        density: ``rho`` in ``(0, 1]``.
        seeds: int ``k`` (seeds ``0..k-1``) or a list.
        aspect: ``d / n`` (> 0).
        align: ``"degree"`` or ``"factor"``.
        restarts: alternating-maximisation restarts (see :func:`graphon.graphons.cut_norm_lower`).
        spectral: spectral term in the upper bound (``None``: automatic, see ``cut_distance``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        seed_batch: seeds per chunk.

    Returns:
        :class:`ConvergenceResult` (CPU tensors); ``result.estimate`` is the seed-mean of the cut-norm
        lower bound and ``result.slope()`` its fitted log-log slope in ``n``.

    Raises:
        ValueError: for bad widths, density, seeds, aspect or align.

    Source: this book's experiment on the reconstructed model (``research/paper.md`` §4.3-4.4).
    """
    widths = [check_positive_int(n, "widths") for n in widths]
    if not widths:
        raise ValueError("widths must not be empty")
    rho = check_density(density)
    seeds = check_seeds(seeds)
    aspect = check_in_range(aspect, "aspect", 0.0, low_open=True)
    check_choice(align, "align", ("degree", "factor"))
    W = model.limit_graphon(rho)
    lows, ups, l1s, taus, dims = [], [], [], [], []
    for n in progress(widths, desc="widths"):
        d = max(1, int(round(aspect * n)))
        dims.append(d)
        lo, up, l1, th = [], [], [], []
        order = "random" if align == "degree" else "factor"
        for part in model.iter_mask_batches(n, d, rho, seeds, device, order, seed_batch):
            cd = graphons.cut_distance(
                part.masks, W, sort=(align == "degree"), restarts=restarts, spectral=spectral
            )
            lo.append(cd.lower)
            up.append(cd.upper)
            l1.append(cd.l1)
            th.append(part.threshold)
        lows.append(torch.cat(lo))
        ups.append(torch.cat(up))
        l1s.append(torch.cat(l1))
        taus.append(torch.cat(th))
    return ConvergenceResult(
        widths=widths,
        dims=dims,
        lower=torch.stack(lows),
        upper=torch.stack(ups),
        l1=torch.stack(l1s),
        thresholds=torch.stack(taus),
        tau=W.tau,
    )
