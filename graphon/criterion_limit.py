"""The theoretical graphon of a real PaI criterion: a Factorised Saliency fit of its scores.

Theorem 4.7 (this book's reconstruction, :mod:`graphon.saliency_model`) gives the limit of masks
thresholded from saliencies ``S_ij = alpha_i beta_j xi_ij``::

    W(u, v) = P(xi * F_alpha^{-1}(u) * F_beta^{-1}(v) >= tau*),      int int W = rho.

For a real criterion on a real network the factor laws ``F_alpha``, ``F_beta`` and the noise law
are not given. Where the network at initialisation fixes them they are **derived**: Random
(uniform scores) and Magnitude (``|W_ij|`` with i.i.d. Gaussian weights) have constant factors, so
``W == rho`` exactly (:func:`constant_limit`). For SNIP and GraSP they are **estimated** from the
criterion's scores at a width larger than any plotted one, with seeds of their own
(:func:`fit_factorised`):

1. each seed's scores are divided by their geometric mean (the threshold is per seed, so a
   seed's overall scale is irrelevant);
2. the two-way additive fit of ``log|S|``: ``log a_i`` = row means, ``log b_j`` = column means
   (``log|S_ij| = log a_i + log b_j + log|xi_ij|``, the residual having zero row and column means);
3. ``xi_ij = S_ij / (a_i b_j)`` keeps the sign of the score (signed GraSP), so
   ``W(u, v) = P(xi >= tau* / (a(u) b(v)))`` with ``a = F_a^{-1}``, ``b = F_b^{-1}`` the
   empirical quantile functions of the pooled row and column factors and ``xi``'s law the pooled
   empirical law of the residuals.

For an exactly factorised criterion the fit is consistent as the width grows (a row mean of
``log|xi|`` over ``n`` columns has standard deviation ``sd(log|xi|)/sqrt(n)``). A criterion that is
not exactly factorised (SNIP summed over a batch, GraSP's Hessian term, signed GraSP) leaves an
interaction in the residuals: :class:`FactorisedFit` reports it (variance shares of the two-way
fit, and how much the residual law changes between low- and high-factor rows and columns), and
:func:`fit_residual` measures the fit against the criterion's own masks in cut norm. A bad fit is
reported, never hidden.

Sources: the limit formula, this book's reconstruction of the paper's Thm 4.7
(``research/paper.md`` Sec. 4.3); the two-way additive (log-linear) fit, standard ANOVA main effects;
Random/Magnitude constant limits, Remark "Why Random and Magnitude give the constant graphon" of the
convergence chapter. This module is this book's construction, not the paper's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import brentq

from . import graphons
from .validation import check_density, check_positive_int

__all__ = ["FactorisedFit", "constant_limit", "fit_factorised", "fit_residual"]



def constant_limit(density: float, blocks) -> torch.Tensor:
    """The derived limit of Random and Magnitude pruning, ``W == rho``, on a ``(Kr, Kc)`` grid.

    Raises:
        ValueError: ``density`` outside (0, 1] or a bad ``blocks``.
    """
    rho = check_density(density)
    kr, kc = graphons._blocks_pair(blocks)
    return torch.full((kr, kc), rho, dtype=torch.float32)


def _ks(a: torch.Tensor, b: torch.Tensor) -> float:
    """Two-sample Kolmogorov-Smirnov distance of two 1-D float samples."""
    a, b = torch.sort(a.double()).values, torch.sort(b.double()).values
    grid = torch.cat([a, b])
    fa = torch.searchsorted(a, grid, right=True).double() / a.numel()
    fb = torch.searchsorted(b, grid, right=True).double() / b.numel()
    return float((fa - fb).abs().max())


@dataclass
class FactorisedFit:
    """A Factorised Saliency fit of a criterion's scores (CPU float64 tensors).

    Attributes:
        row_factors: ``(S * n_out,)`` sorted pooled row factors ``a_i > 0`` (output-side neurons).
        col_factors: ``(S * n_in,)`` sorted pooled column factors ``b_j > 0`` (input-side neurons).
        noise: ``(M,)`` sorted sample of the residual noise ``xi`` (signed when the scores are).
        signed: whether the scores (hence ``xi``) take both signs.
        shape: ``(n_out, n_in)`` of the fitted layer; ``seeds``: number of seeds pooled.
        diagnostics: ``share_rows``, ``share_cols``, ``share_residual`` (variance shares of
            ``log|S|`` in the two-way fit; an exactly factorised criterion has
            ``share_residual = Var log|xi| / Var log|S|``), ``ks_rows``/``ks_cols`` (split-half KS
            distance between the laws of ``log|xi|`` in the lowest and highest fifth of rows, resp.
            columns, ranked by factor: below ``ks_noise_floor``, the 95 % value of two samples
            from one law, when the noise law does not depend on the factor; larger when it does).
    """

    row_factors: torch.Tensor
    col_factors: torch.Tensor
    noise: torch.Tensor
    signed: bool
    shape: tuple[int, int]
    seeds: int
    diagnostics: dict[str, float] = field(default_factory=dict)
    _tau: dict[tuple[float, int, int], float] = field(default_factory=dict, repr=False)

    # -- evaluation ------------------------------------------------------------------------------

    def _positions(self, count: int, quad: int) -> torch.Tensor:
        """Midpoints of ``count * quad`` equal cells of [0, 1] (quadrature nodes)."""
        m = count * quad
        return (torch.arange(m, dtype=torch.float64) + 0.5) / m

    @staticmethod
    def _quantile(sorted_sample: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Empirical quantile function (lower inverse of the empirical CDF) at ``u`` in (0, 1)."""
        idx = (u * sorted_sample.numel()).floor().long().clamp(0, sorted_sample.numel() - 1)
        return sorted_sample[idx]

    def _sf(self, t: torch.Tensor) -> torch.Tensor:
        """``P(xi >= t)`` under the empirical noise law."""
        below = np.searchsorted(self.noise.numpy(), t.numpy(), side="left")  # ~10x torch's here
        return torch.from_numpy(1.0 - below / self.noise.numel())

    def _w(self, tau: float, kr: int, kc: int, quad: int) -> torch.Tensor:
        """``W`` at the ``(kr quad) x (kc quad)`` midpoint nodes, float64."""
        a = self._quantile(self.row_factors, self._positions(kr, quad))
        b = self._quantile(self.col_factors, self._positions(kc, quad))
        ab = a[:, None] * b[None, :]
        at_zero = math.copysign(math.inf, tau) if tau != 0 else 0.0  # a zero factor: score 0
        return self._sf(torch.where(ab > 0, tau / ab.clamp_min(1e-300), torch.full_like(ab, at_zero)))

    def threshold(self, density: float, nodes: tuple[int, int] = (256, 256)) -> float:
        """The limit threshold ``tau*``: ``int int W = rho`` on a midpoint grid of ``nodes``
        (rows, columns) points (brentq on the monotone, piecewise-constant integral; cached).

        Raises:
            ValueError: ``density`` outside (0, 1].
        """
        rho = check_density(density)
        key = (rho, *nodes)
        if key not in self._tau:
            if rho >= 1.0:
                self._tau[key] = -math.inf if self.signed else 0.0
            else:
                a = self._quantile(self.row_factors, self._positions(nodes[0], 1))
                ab = (a[:, None] * self._quantile(self.col_factors, self._positions(nodes[1], 1)))
                with np.errstate(divide="ignore"):
                    inv_ab = np.sort((1.0 / ab).flatten().numpy())  # sorted once (inf at ab = 0)
                noise = self.noise.numpy()

                def excess(t: float) -> float:  # mean of W at threshold t, minus rho
                    if t == 0.0:
                        q = np.zeros_like(inv_ab)
                    else:
                        q = t * inv_ab if t > 0 else (t * inv_ab)[::-1]  # ascending queries
                    below = np.searchsorted(noise, q, side="left")
                    return 1.0 - float(below.mean()) / noise.size - rho

                pos = ab[ab > 0]
                hi = float(noise.max(initial=1.0) * pos.max()) * 2 if pos.numel() else 1.0
                small = np.abs(noise[noise != 0]).min(initial=1.0)
                lo = float(small * pos.min()) / 2 if pos.numel() else 1.0
                if excess(0.0) <= 0.0:  # signed scores and rho above P(score > 0): tau <= 0
                    big = float(np.abs(noise).max() * pos.max()) * 2
                    self._tau[key] = brentq(excess, -big, 0.0, xtol=1e-15 * big, maxiter=300)
                elif excess(lo) <= 0.0:  # everything with a positive score is kept
                    self._tau[key] = lo
                else:  # tau > 0: solve for log tau (relative precision whatever the scale)
                    lt = brentq(lambda z: excess(math.exp(z)), math.log(lo), math.log(hi),
                                xtol=1e-13, maxiter=300)
                    self._tau[key] = math.exp(lt)
        return self._tau[key]

    def limit_on_grid(self, density: float, blocks, quad: int = 8) -> torch.Tensor:
        """``(Kr, Kc)`` block averages of ``W(u, v) = P(xi a(u) b(v) >= tau*)`` (``u`` = row
        position in the ascending order of the row factor, ``v`` likewise), float32, CPU.

        ``quad`` midpoint nodes per block side. With ``blocks`` of a few hundred, the result is a
        fine step approximation of ``W`` (for cut distances of full-resolution masks).

        Raises:
            ValueError: ``density`` outside (0, 1], a bad ``blocks`` or ``quad < 1``.
        """
        kr, kc = graphons._blocks_pair(blocks)
        quad = check_positive_int(quad, "quad")
        tau = self.threshold(density, (kr * quad, kc * quad))  # integrates to rho on these nodes
        w = self._w(tau, kr, kc, quad)
        return w.reshape(kr, quad, kc, quad).mean(dim=(1, 3)).float()


def _nanvar(x: torch.Tensor) -> float:
    """Variance of the non-NaN entries."""
    return float((x - x.nanmean()).pow(2).nanmean())


def _shrink(x: torch.Tensor, noise_var: float) -> torch.Tensor:
    """Shrink centred values towards their mean so that their variance drops by ``noise_var``
    (NaN entries stay NaN)."""
    mean, var = x.nanmean(), _nanvar(x)
    lam = math.sqrt(max(0.0, 1.0 - noise_var / var)) if var > 0 else 0.0
    return mean + lam * (x - mean)


def _split_half_ks(logs: torch.Tensor, seed: int, cap: int = 1 << 18) -> tuple[float, float, float]:
    """Does the law of the residual ``log|xi|`` depend on the row (column) factor?

    Rows are ranked by their mean over the even columns; the residuals of the odd columns (row and
    column means of the odd half removed) of the lowest and the highest fifth of rows are compared
    by the KS distance (the ranking is independent of those residuals, so an exactly factorised
    criterion gives only sampling noise). Likewise for columns. Each group is subsampled to
    ``cap`` values; the 95 % KS value for two samples of ``m`` is ``1.36 sqrt(2 / m)``.
    """
    gen = torch.Generator().manual_seed(int(seed) + 1)

    def one(x: torch.Tensor) -> tuple[float, int]:  # x: (S, rows, cols); rank rows
        rank = x[:, :, 0::2].nanmean(dim=2).nan_to_num(-math.inf)  # dead rows rank lowest
        half = x[:, :, 1::2]
        half = half - half.nanmean(dim=2, keepdim=True) - half.nanmean(dim=1, keepdim=True)
        k = max(1, x.shape[1] // 5)
        order = torch.sort(rank, dim=1).indices

        def group(idx: torch.Tensor) -> torch.Tensor:
            g = torch.gather(half, 1, idx[:, :, None].expand(-1, -1, half.shape[2])).flatten()
            g = g[~torch.isnan(g)]
            if g.numel() > cap:
                g = g[torch.randint(0, g.numel(), (cap,), generator=gen)]
            return g

        lo, hi = group(order[:, :k]), group(order[:, -k:])
        return _ks(lo, hi), min(lo.numel(), hi.numel())

    ks_r, m_r = one(logs)
    ks_c, m_c = one(logs.transpose(1, 2))
    return ks_r, ks_c, 1.36 * math.sqrt(2.0 / min(m_r, m_c))


def fit_factorised(
    scores: torch.Tensor, noise_sample: int = 1 << 18, seed: int = 0
) -> FactorisedFit:
    """Fit the Factorised Saliency Model ``S_ij = a_i b_j xi_ij`` to one layer's scores.

    Args:
        scores: ``(S, n_out, n_in)`` scores of one layer (torch layout, row = output-side neuron),
            ``S`` seeds of the same criterion, higher = keep; signed scores are allowed.
        noise_sample: how many residuals ``xi_ij`` are kept (a uniform sample without replacement
            over all entries of all seeds; all of them when there are fewer).
        seed: seed of that sample.

    Returns:
        :class:`FactorisedFit` (CPU, float64).

    Raises:
        ValueError: ``scores`` not 3-D with both sides >= 2, non-finite scores, or
            ``noise_sample < 1``.

    Source: this book's construction (module docstring): two-way additive fit of ``log|S|``.
    """
    s = torch.as_tensor(scores)
    if s.ndim != 3 or min(s.shape[1:]) < 2:
        raise ValueError(f"scores must have shape (S, n_out, n_in) with n_out, n_in >= 2, got {tuple(s.shape)}")
    noise_sample = check_positive_int(noise_sample, "noise_sample")
    s = s.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(s).all()):
        raise ValueError("scores must be finite (score the dense network: no -inf for pruned entries)")
    S, n_out, n_in = s.shape
    signed = bool((s < 0).any())
    # exact zeros (e.g. a ReLU unit inactive on the whole batch makes its row or column of
    # SNIP/GraSP scores 0): such a row/column gets factor 0 (never kept); other zeros are left out
    logs = s.abs().log_()  # -inf at zeros
    logs[torch.isinf(logs)] = math.nan
    logs -= logs.nanmean(dim=(1, 2), keepdim=True)  # per-seed scale: the threshold is per seed
    r = logs.nanmean(dim=2, keepdim=True)  # (S, n_out, 1) log a_i (+ noise of sd sigma/sqrt(n_in))
    c = logs.nanmean(dim=1, keepdim=True)  # (S, 1, n_in) log b_j
    resid = logs - r - c  # log|xi|, zero row and column means
    sigma2 = float(resid.pow(2).nanmean())
    total = float(logs.pow(2).nanmean())  # the centred variance of log|S|
    diag = {
        "share_rows": _nanvar(r) / total if total > 0 else 0.0,
        "share_cols": _nanvar(c) / total if total > 0 else 0.0,
        "share_residual": sigma2 / total if total > 0 else 0.0,
        "dead_rows": float(torch.isnan(r).float().mean()),
        "dead_cols": float(torch.isnan(c).float().mean()),
    }
    # errors in variables: a row mean carries noise of variance sigma^2 / n_in, which would blur the
    # factor law (a constant factor would look spread out); shrink the centred log factors so that
    # their variance is the moment estimate var(r) - sigma^2 / n_in of the true one
    r = _shrink(r, sigma2 / n_in)
    c = _shrink(c, sigma2 / n_out)
    diag["ks_rows"], diag["ks_cols"], diag["ks_noise_floor"] = _split_half_ks(logs, seed)
    resid = logs.sub_(r).sub_(c)
    # residual noise with the score's sign, a uniform sample of the entries that are not left out
    flat = resid.flatten()
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.randint(0, flat.numel(), (min(flat.numel(), 4 * noise_sample),), generator=gen)
    idx = idx[~torch.isnan(flat[idx])][:noise_sample]
    xi = flat[idx].double().exp() * torch.sign(s.flatten()[idx]).double()
    return FactorisedFit(
        row_factors=torch.sort(r.double().exp().nan_to_num(0.0).flatten()).values,
        col_factors=torch.sort(c.double().exp().nan_to_num(0.0).flatten()).values,
        noise=torch.sort(xi).values,
        signed=signed,
        shape=(n_out, n_in),
        seeds=S,
        diagnostics=diag,
    )


def fit_residual(fit_grid: torch.Tensor, picture: torch.Tensor) -> dict[str, float]:
    """How far a criterion's own seed-averaged picture is from its fitted limit, on one grid.

    Args:
        fit_grid: ``(K, K)`` block averages of the fitted ``W`` (:meth:`FactorisedFit.limit_on_grid`).
        picture: ``(K, K)`` seed-averaged, degree-sorted (ascending) block densities of the
            criterion's masks at the fitting width.

    Returns:
        ``{"cut_norm": ..., "max_abs": ...}``: the cut norm of the difference (exact for ``K <= 16``,
        else the alternating-maximisation lower bound, :func:`graphon.graphons.cut_norm`) and the
        largest block difference.
    """
    d = torch.as_tensor(picture, dtype=torch.float64) - torch.as_tensor(fit_grid, dtype=torch.float64)
    return {"cut_norm": float(graphons.cut_norm(d)), "max_abs": float(d.abs().max())}
