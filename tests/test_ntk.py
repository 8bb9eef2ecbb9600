"""Tests of graphon.ntk: dual activations, Graphon-NTK, empirical NTK, complexity, spectrum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphon import ntk
from graphon.models import MaskedMLP

F64 = torch.float64


def _inputs(n=20, d=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=F64)


# ------------------------------------------------------------------ dual activations
def _np_relu_dual(q1, q2, c):
    """Arc-cosine kernels in the angle form (Cho & Saul 2009), written independently."""
    s = np.sqrt(q1 * q2)
    th = np.arccos(np.clip(c / s, -1, 1))
    return s / (2 * np.pi) * (np.sin(th) + (np.pi - th) * np.cos(th)), (np.pi - th) / (2 * np.pi)


def _np_erf_dual(q1, q2, c):
    """Williams (1997) arcsine kernel; E erf'(a) erf'(b) = (4/pi) det(I + 2 Lambda)^{-1/2}."""
    det = (1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c
    return (2 / np.pi) * np.arcsin(
        2 * c / np.sqrt((1 + 2 * q1) * (1 + 2 * q2))
    ), 4 / np.pi / np.sqrt(det)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "sigmoid"])
def test_dual_activation_matches_monte_carlo(activation):
    """Closed forms (relu, erf) and Gauss-Hermite (tanh, sigmoid) vs fixed-seed MC, 2e5 samples.

    Tolerance: 5 Monte Carlo standard errors (estimated from the samples) + 1e-4.
    """
    g = torch.Generator().manual_seed(1234)
    z = torch.randn(200_000, 2, generator=g, dtype=F64)
    fns = {
        "relu": (torch.relu, lambda t: (t > 0).to(F64)),
        "erf": (torch.erf, lambda t: 2 / math.sqrt(math.pi) * torch.exp(-t * t)),
        "tanh": (torch.tanh, lambda t: 1 - torch.tanh(t) ** 2),
        "sigmoid": (torch.sigmoid, lambda t: torch.sigmoid(t) * (1 - torch.sigmoid(t))),
    }
    f, fp = fns[activation]
    for q1, q2, c in [(1.3, 0.7, 0.5), (0.4, 2.0, -0.6), (1.0, 1.0, 0.99)]:
        chol = torch.linalg.cholesky(torch.tensor([[q1, c], [c, q2]], dtype=F64))
        a, b = (z @ chol.T).unbind(1)
        v, vd = ntk.dual_activation(activation, q1, q2, c)
        for exact, samples in ((v, f(a) * f(b)), (vd, fp(a) * fp(b))):
            se = float(samples.std()) / math.sqrt(samples.numel())
            assert abs(float(exact) - float(samples.mean())) < 5 * se + 1e-4


def test_closed_forms_match_independent_numpy():
    q1, q2, c = np.array([1.0, 0.3, 2.0]), np.array([0.5, 0.3, 1.5]), np.array([0.2, -0.29, 1.0])
    for act, ref in (("relu", _np_relu_dual), ("erf", _np_erf_dual)):
        v, vd = ntk.dual_activation(act, torch.tensor(q1), torch.tensor(q2), torch.tensor(c))
        rv, rvd = ref(q1, q2, c)
        np.testing.assert_allclose(v.numpy(), rv, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(vd.numpy(), rvd, rtol=1e-10, atol=1e-12)
    v, _ = ntk.dual_activation("relu", 2.0, 2.0, 2.0)  # diagonal: V(q, q) = q / 2
    assert float(v) == pytest.approx(1.0)


def test_quadrature_matches_closed_form_for_erf():
    q1 = torch.tensor([0.2, 1.0, 3.0], dtype=F64)
    q2 = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
    c = torch.tensor([0.1, -0.7, 2.2], dtype=F64)
    v, vd = ntk.dual_activation("erf", q1, q2, c, method="closed")
    vq, vdq = ntk.dual_activation("erf", q1, q2, c, method="quadrature", degree=48)
    torch.testing.assert_close(vq, v, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(vdq, vd, atol=1e-6, rtol=1e-4)


# ------------------------------------------------------------------ Graphon-NTK
def test_constant_one_graphon_is_the_dense_ntk():
    """W = 1 equals the dense two-layer NTK (x.x'/d) Vdot + V, here computed with numpy."""
    x = _inputs(15, 8)
    xn = x.numpy()
    d = xn.shape[1]
    gram = xn @ xn.T / d
    q = np.diag(gram)
    for act, ref in (("relu", _np_relu_dual), ("erf", _np_erf_dual)):
        v, vd = ref(q[:, None] * np.ones_like(gram), q[None, :] * np.ones_like(gram), gram)
        expected = gram * vd + v
        got = ntk.graphon_ntk(x, None, torch.ones(3, d), activation=act, device="cpu").numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(
            ntk.dense_ntk(x, activation=act, device="cpu").numpy(), expected, rtol=1e-7, atol=1e-9
        )


EPS = float(np.finfo(float).eps)


def _rtol(depth: int, d: int) -> float:
    """Relative error allowed for a ReLU kernel entry of ``depth`` hidden layers on ``d`` inputs.

    Error analysis (graphon.ntk docstrings): every layer of the recursion combines non-negative
    or well-conditioned terms with a few roundings each, so the error grows at most linearly in
    the depth, ``64 (L + 1) eps`` with room to spare; the first layer's angle comes from an
    expansion with absolute error ``(d + 4) eps`` used only where the normalised distance
    ``U >= 1e-4``, so ``d theta <= (d + 4) eps / (2 sin theta) <= 50 (d + 4) eps``.
    """
    return 64 * (depth + 1) * EPS + 50 * (d + 4) * EPS


def test_constant_graphon_scales_relu_by_c_and_reshapes_erf():
    """ReLU, first layer masked by W = c, readout dense: Theta_W = c Theta_dense exactly.

    Reason: Sigma~ and hence Lambda scale by c; V is positively 1-homogeneous (scales by c) and Vdot
    depends only on the angle (unchanged). For erf the ratio is not constant (shape changes).
    Tolerance: the rounding-error bound of :func:`_rtol` for each side, not a measured margin.
    """
    x = _inputs(12, 6)
    dense = ntk.dense_ntk(x, device="cpu")
    for c in (0.1, 0.37, 0.8):
        torch.testing.assert_close(
            ntk.graphon_ntk(x, None, c, device="cpu"), c * dense, rtol=2 * _rtol(1, 6), atol=0.0
        )
    ratio = ntk.graphon_ntk(x, None, 0.3, "erf", device="cpu") / ntk.dense_ntk(
        x, activation="erf", device="cpu"
    )
    assert float(ratio.std()) > 1e-3
    # deep, all L+1 matrices masked by c: c^(L+1); dense readout: c^L
    for depth in (1, 2, 3, 6):
        tol = 2 * _rtol(depth, 6)
        base = ntk.graphon_ntk_deep(x, None, [1.0] * depth, device="cpu")
        all_masked = ntk.graphon_ntk_deep(x, None, [0.3] * depth, readout=0.3, device="cpu")
        dense_readout = ntk.graphon_ntk_deep(x, None, [0.3] * depth, device="cpu")
        torch.testing.assert_close(all_masked, 0.3 ** (depth + 1) * base, rtol=tol, atol=0.0)
        torch.testing.assert_close(dense_readout, 0.3**depth * base, rtol=tol, atol=0.0)


def _hard_inputs(d=6):
    """Random inputs with a near-parallel pair, an exactly parallel one and a duplicate."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, d, generator=g, dtype=F64)
    x[1] = x[0] + 1e-7 * torch.randn(d, generator=g, dtype=F64)
    x[2] = 3.0 * x[0]
    x[3] = -x[4]
    x[5] = x[6]
    return x


def _mp_deep(x, y, tables, readout, terms="all"):
    """The step-graphon recursion of graphon_ntk_deep in 50-digit arithmetic, written from the
    formula with arccos (well conditioned at this precision) and explicit sums over blocks."""
    import mpmath as mp

    mp.mp.dps = 50
    d = len(x)
    first = tables[0]
    k1 = len(first)
    sig = [mp.fsum(mp.mpf(first[k][j]) * mp.mpf(x[j]) * mp.mpf(y[j]) for j in range(d)) / d
           for k in range(k1)]
    q1 = [mp.fsum(mp.mpf(first[k][j]) * mp.mpf(x[j]) ** 2 for j in range(d)) / d for k in range(k1)]
    q2 = [mp.fsum(mp.mpf(first[k][j]) * mp.mpf(y[j]) ** 2 for j in range(d)) / d for k in range(k1)]
    sig_t, sdots = [sig], []
    mats = list(tables[1:]) + [[list(readout)]]
    for nxt in mats:
        k = len(sig)
        v, vd, v1, v2 = [], [], [], []
        for m in range(k):
            s = mp.sqrt(q1[m] * q2[m])
            th = mp.acos(max(min(sig[m] / s, mp.mpf(1)), mp.mpf(-1)))
            v.append(s * (mp.sin(th) + (mp.pi - th) * mp.cos(th)) / (2 * mp.pi))
            vd.append((mp.pi - th) / (2 * mp.pi))
            v1.append(q1[m] / 2)
            v2.append(q2[m] / 2)
        sdots.append(vd)
        w = mp.mpf(1) / k
        sig = [mp.fsum(mp.mpf(nxt[a][m]) * w * v[m] for m in range(k)) for a in range(len(nxt))]
        q1 = [mp.fsum(mp.mpf(nxt[a][m]) * w * v1[m] for m in range(k)) for a in range(len(nxt))]
        q2 = [mp.fsum(mp.mpf(nxt[a][m]) * w * v2[m] for m in range(k)) for a in range(len(nxt))]
        sig_t.append(sig)
    theta = sig_t[-1][0] if terms != "hidden" else mp.mpf(0)  # the readout layer's term
    if terms == "readout":
        return theta
    g_next, w_next = [mp.mpf(1)], mp.mpf(1)
    for layer in range(len(tables) - 1, -1, -1):
        nxt = mats[layer]
        k = len(sdots[layer])
        g = [sdots[layer][m] * mp.fsum(mp.mpf(nxt[a][m]) * w_next * g_next[a]
                                       for a in range(len(nxt))) for m in range(k)]
        theta += mp.fsum(g[m] * sig_t[layer][m] for m in range(k)) / k
        g_next, w_next = g, mp.mpf(1) / k
    return theta


@pytest.mark.parametrize("depth", [1, 2, 4, 6])
def test_deep_relu_matches_a_50_digit_evaluation(depth):
    """graphon_ntk_deep (ReLU) against the recursion in 50-digit arithmetic, on inputs with
    near-parallel, parallel, antiparallel and duplicate pairs, dense and with 2-block graphons.
    Before this book's stable angles the dense kernel was off by up to 1e-5 at depth 6."""
    x = _hard_inputs()
    d = x.shape[1]
    gen = torch.Generator().manual_seed(4)
    dense = ([[1.0] * d], *[[[1.0]]] * (depth - 1))
    tables = [(0.2 + 0.8 * torch.rand(2, d, generator=gen, dtype=F64)).tolist()]
    tables += [(0.2 + 0.8 * torch.rand(2, 2, generator=gen, dtype=F64)).tolist()
               for _ in range(depth - 1)]
    readout = [0.7, 0.4]
    for tabs, ro in ((dense, [1.0]), (tables, readout)):
        got = ntk.graphon_ntk_deep(
            x, None, [torch.tensor(t, dtype=F64) for t in tabs], readout=torch.tensor(ro, dtype=F64),
            device="cpu",
        )
        ref = torch.tensor([[float(_mp_deep(x[i].tolist(), x[j].tolist(), tabs, ro))
                             for j in range(x.shape[0])] for i in range(x.shape[0])], dtype=F64)
        # relative to the entry, and to the diagonal scale where the entry itself is ~0 (the
        # antiparallel pair: theta = pi, K = 0 up to rounding of its O(1) parts)
        tol = _rtol(depth, d)
        torch.testing.assert_close(got, ref, rtol=tol, atol=tol * float(ref.diagonal().max()))


@pytest.mark.parametrize("depth", [1, 3])
def test_deep_layer_terms_match_the_50_digit_recursion(depth):
    """terms="hidden" (readout fixed) and "readout" against the 50-digit recursion; "all" is their
    sum; at one hidden layer they are graphon_ntk's "first_layer" and "readout" terms, and
    arora_gram_deep is arora_gram."""
    x = _hard_inputs()[:6]
    d = x.shape[1]
    gen = torch.Generator().manual_seed(5)
    tabs = [(0.2 + 0.8 * torch.rand(3, d, generator=gen, dtype=F64))]
    tabs += [0.2 + 0.8 * torch.rand(3, 3, generator=gen, dtype=F64) for _ in range(depth - 1)]
    ro = torch.tensor([0.9, 0.5, 0.3], dtype=F64)
    got = {t: ntk.graphon_ntk_deep(x, None, tabs, readout=ro, device="cpu", terms=t)
           for t in ntk.DEEP_TERMS}
    tol = _rtol(depth, d)
    for t in ("hidden", "readout"):
        ref = torch.tensor([[float(_mp_deep(x[i].tolist(), x[j].tolist(), [a.tolist() for a in tabs],
                                            ro.tolist(), terms=t))
                             for j in range(x.shape[0])] for i in range(x.shape[0])], dtype=F64)
        torch.testing.assert_close(got[t], ref, rtol=tol, atol=tol * float(ref.diagonal().max()))
    torch.testing.assert_close(got["hidden"] + got["readout"], got["all"], rtol=1e-14, atol=0)
    if depth == 1:
        for deep_t, shallow_t in zip(ntk.DEEP_TERMS, ntk.KERNEL_TERMS, strict=True):
            shallow = ntk.graphon_ntk(x, None, tabs[0], readout=ro, device="cpu", terms=shallow_t)
            torch.testing.assert_close(got[deep_t], shallow, rtol=1e-12, atol=1e-15)
    unit = x / x.norm(dim=1, keepdim=True)
    deep = ntk.arora_gram_deep(unit, tabs, device="cpu")
    torch.testing.assert_close(deep, d * ntk.graphon_ntk_deep(unit, None, tabs, device="cpu",
                                                              terms="hidden"), rtol=0, atol=0)
    if depth == 1:
        torch.testing.assert_close(deep, ntk.arora_gram(unit, tabs[0], device="cpu"), rtol=1e-12,
                                   atol=1e-15)
    batched = ntk.arora_gram_deep(unit, [torch.stack([t, t.flip(0)]) for t in tabs], device="cpu")
    assert batched.shape == (2, *deep.shape)
    torch.testing.assert_close(batched[0], deep, rtol=0, atol=0)
    with pytest.raises(ValueError, match="unit-norm"):
        ntk.arora_gram_deep(2 * unit, tabs, device="cpu")
    with pytest.raises(ValueError, match="all batched"):
        ntk.arora_gram_deep(unit, [torch.stack([tabs[0]] * 2), torch.ones(3, 3)], device="cpu")
    with pytest.raises(ValueError, match="terms"):
        ntk.graphon_ntk_deep(x, None, tabs, device="cpu", terms="both")


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_kernel_entry_does_not_depend_on_the_batch(activation):
    """K(x1, x1) inside a batch equals K(x1, x1) alone, bitwise; off-diagonal entries agree to the
    rounding of one BLAS dot product (the only batch-dependent step)."""
    x = _hard_inputs()
    table = 0.2 + 0.8 * torch.rand(3, x.shape[1], generator=torch.Generator().manual_seed(1))
    for fn in (
        lambda a, b: ntk.graphon_ntk(a, b, table, activation, device="cpu"),
        lambda a, b: ntk.graphon_ntk_deep(a, b, [table, 0.5], activation, device="cpu"),
    ):
        full = fn(x, None)
        for i in range(x.shape[0]):
            alone = fn(x[i : i + 1], None)
            assert float(alone[0, 0]) == float(full[i, i])
        part = fn(x[:3], x[5:])
        tol = _rtol(2, x.shape[1])
        torch.testing.assert_close(part, full[:3, 5:], rtol=tol,
                                   atol=tol * float(full.diagonal().max()))


def test_quadrature_degree_range_and_reported_error():
    """The adaptive rule meets its tolerance where degree 32 does not (q = 8, tanh), reports the
    error it achieved, and an out-of-range degree is refused (372+ would be NaN)."""
    q, c = 8.0, 0.6 * 8.0
    v, vd, err = ntk.dual_activation("tanh", q, q, c, return_error=True)
    v_ref, vd_ref = ntk.dual_activation("tanh", q, q, c, tol=1e-8)  # degree up to 370
    assert float(err) <= ntk.DEFAULT_TOL
    # reported error bounds the actual one (relative to the Cauchy-Schwarz scale, ~V and Vdot here)
    assert abs(float(v) - float(v_ref)) <= float(err) * 1.0
    assert abs(float(vd) - float(vd_ref)) <= float(err) * 1.0
    v32, vd32, err32 = ntk.dual_activation("tanh", q, q, c, degree=32, return_error=True)
    assert float(err32) > 1e-3 and abs(float(vd32) / float(vd_ref) - 1) > 1e-2
    for bad in (1, 371, 1000, 2.5, True):
        with pytest.raises(ValueError, match=r"degree .*2\.\.370"):
            ntk.dual_activation("tanh", 1.0, 1.0, 0.5, degree=bad)
    assert np.isfinite(float(ntk.dual_activation("tanh", 1.0, 1.0, 0.5, degree=370)[1]))
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        ntk.dual_activation("tanh", 60.0, 60.0, 30.0, tol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "sigmoid"])
def test_empirical_ntk_approaches_the_limit_at_large_variance(activation):
    """Dense one-hidden-layer nets on inputs with pre-activation variance q = 8: the seed mean of
    the empirical NTK (n = 16384, 6 seeds) agrees with the limit within 5 standard errors per
    entry. With the old fixed Gauss-Hermite degree 32 the tanh limit was 5 % off and failed."""
    d, n_pts = 8, 6
    g = torch.Generator().manual_seed(11)
    u = torch.randn(n_pts, d, generator=g, dtype=F64)
    x = u / u.norm(dim=1, keepdim=True) * math.sqrt(8.0 * d)  # |x|^2 / d = 8
    model = MaskedMLP(d, [16384], activation=activation, seeds=list(range(6)), device="cpu",
                      dtype=F64)
    emp = ntk.empirical_ntk(model, x)
    mean, se = emp.mean(0), emp.std(0) / math.sqrt(emp.shape[0])
    limit = ntk.dense_ntk(x, activation=activation, device="cpu")
    assert float(((mean - limit).abs() / se).max()) < 5
    if activation == "tanh":
        old = ntk.dense_ntk(x, activation=activation, device="cpu", degree=32)
        assert float(((mean - old).abs() / se).max()) > 5


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_deep_with_one_layer_equals_shallow(activation):
    x = _inputs(10, 7)
    w = torch.rand(5, 7, generator=torch.Generator().manual_seed(3))
    a = ntk.graphon_ntk(x, x[:4], w, activation, device="cpu")
    b = ntk.graphon_ntk_deep(x, x[:4], [w], activation, device="cpu")
    assert a.shape == (10, 4) and a.dtype == F64
    torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_graphon_forms_agree_and_path_density():
    from graphon.graphons import StepGraphon

    x = _inputs(9, 8)
    table = torch.rand(4, 8, generator=torch.Generator().manual_seed(5))
    k_table = ntk.graphon_ntk(x, None, table, device="cpu")
    k_step = ntk.graphon_ntk(x, None, StepGraphon(table), device="cpu")

    def fn(u, v):
        return table[(u * 4).long().clamp(max=3), (v * 8).long().clamp(max=7)].to(F64)

    k_call = ntk.graphon_ntk(x, None, fn, device="cpu", quad_points=400)
    torch.testing.assert_close(k_step, k_table, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(k_call, k_table, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(ntk.path_density(table), table.to(F64).mean(0))
    # a row-constant graphon is the dense NTK of the inputs rescaled by sqrt(path density)
    row = table[:1]
    torch.testing.assert_close(
        ntk.graphon_ntk(x, None, row, device="cpu"),
        ntk.dense_ntk(x * row.to(F64).sqrt(), device="cpu"),
    )


# ------------------------------------------------------------------ empirical NTK
def test_empirical_ntk_matches_autograd_and_ignores_masked_entries():
    model = MaskedMLP(5, [7], seeds=2, device="cpu", dtype=F64)
    mask = torch.ones(2, 7, 5, dtype=F64)
    mask[:, :, 2] = 0.0  # coordinate 2 pruned everywhere
    model.set_masks([mask, None])
    x = _inputs(4, 5)
    k = ntk.empirical_ntk(model, x)
    assert k.shape == (2, 4, 4)
    s = 1  # explicit per-example gradients of seed 1
    grads = []
    for i in range(4):
        out = model(x[i : i + 1])[s, 0, 0]
        g = torch.autograd.grad(out, list(model.weights))
        grads.append(torch.cat([t[s].flatten() for t in g]))
    gmat = torch.stack(grads)
    torch.testing.assert_close(k[s], gmat @ gmat.T)
    torch.testing.assert_close(ntk.empirical_ntk(model, x, seed_index=1), k[1])
    x2 = x.clone()
    x2[:, 2] += 5.0  # a pruned coordinate cannot change the kernel
    torch.testing.assert_close(ntk.empirical_ntk(model, x2), k)


def test_empirical_masked_ntk_approaches_graphon_ntk():
    """Relative error (Frobenius) of the empirical NTK of masked nets vs the Graphon-NTK, 3 seeds.

    Variance-profile masks (sqrt W): exact limit, error ~ n^{-1/2}. Bernoulli(W) masks: same trend
    down to a Jensen gap of order 1/d.
    """
    d = 16
    x = _inputs(20, d, seed=7)
    table = 0.1 + 0.8 * torch.rand(4, d, generator=torch.Generator().manual_seed(2))
    ref = ntk.graphon_ntk(x, None, table, device="cpu")
    errs = {"variance": [], "bernoulli": []}
    for n in (256, 1024, 4096):
        for mode in errs:
            model = MaskedMLP(d, [n], seeds=[10, 11, 12], device="cpu", dtype=F64)
            masks = ntk.first_layer_masks(
                table, n, d, seeds=[20, 21, 22], mode=mode, device="cpu", dtype=F64
            )
            model.set_masks([masks, None])
            errs[mode].append(float(ntk.relative_error(ntk.empirical_ntk(model, x), ref).mean()))
    v = errs["variance"]
    assert v[0] > v[1] > v[2] and v[2] < 0.08
    b = errs["bernoulli"]
    assert b[2] < b[0] and b[2] < 0.1


def test_first_layer_masks_density():
    table = torch.tensor([[0.2, 0.8], [0.5, 0.5]])
    m = ntk.first_layer_masks(table, 2000, 2, seeds=2, device="cpu")
    assert m.shape == (2, 2000, 2)
    np.testing.assert_allclose(m[:, :1000].mean((0, 1)).numpy(), [0.2, 0.8], atol=0.03)
    mv = ntk.first_layer_masks(table, 4, 2, seeds=1, mode="variance", device="cpu")
    torch.testing.assert_close(mv[0, 0] ** 2, table[0])


# ------------------------------------------------------------------ complexity, alignment, spectrum
def _spd(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=F64)
    return a @ a.T / n + 0.1 * torch.eye(n, dtype=F64)


def test_complexity_matches_numpy():
    k = _spd()
    y = torch.sign(torch.randn(30, generator=torch.Generator().manual_seed(1), dtype=F64))
    c = ntk.complexity(k, y)
    ref = float(y.numpy() @ np.linalg.solve(k.numpy(), y.numpy()))
    assert c.value == pytest.approx(ref, rel=1e-10)
    assert c.bound == pytest.approx(math.sqrt(2 * ref / 30), rel=1e-10)
    assert c.jitter_used == 0.0
    assert c.lambda_min == pytest.approx(np.linalg.eigvalsh(k.numpy())[0], rel=1e-8)
    batch = ntk.complexity(k, torch.stack([y, -y, 2 * y]))
    np.testing.assert_allclose(batch.value, [ref, ref, 4 * ref], rtol=1e-10)


def test_complexity_jitter_on_singular_and_errors_on_indefinite():
    v = torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    singular = v @ v.T  # rank 3
    c = ntk.complexity(singular, torch.ones(20))
    assert c.jitter_used > 0 and math.isfinite(c.value)
    with pytest.raises(ValueError, match="positive semi-definite"):
        ntk.complexity(singular - torch.eye(20, dtype=F64), torch.ones(20))
    with pytest.raises(ValueError, match="square"):
        ntk.complexity(torch.ones(3, 4), torch.ones(3))
    with pytest.raises(ValueError, match="symmetric"):
        ntk.complexity(torch.tensor([[1.0, 0.5], [0.0, 1.0]]), torch.ones(2))
    with pytest.raises(ValueError, match="y must have shape"):
        ntk.complexity(_spd(5), torch.ones(4))


def test_alignment_matches_numpy():
    k = _spd(25, seed=3).numpy()
    y = np.sign(np.random.default_rng(0).standard_normal(25))
    ref = y @ k @ y / (np.linalg.norm(k) * (y @ y))
    assert ntk.kernel_alignment(k, y) == pytest.approx(ref, rel=1e-10)
    h = np.eye(25) - np.ones((25, 25)) / 25
    kc, yc = h @ k @ h, h @ y
    ref_c = np.sum(kc * np.outer(yc, yc)) / (np.linalg.norm(kc) * np.linalg.norm(np.outer(yc, yc)))
    assert ntk.kernel_alignment(k, y, centred=True) == pytest.approx(ref_c, rel=1e-10)
    assert ntk.kernel_alignment(np.outer(y, y), y) == pytest.approx(1.0)


def test_spectrum_on_known_spectrum():
    n = 40
    lam = np.arange(1, n + 1, dtype=float) ** -2.0
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((n, n)))
    sp = ntk.spectrum(q @ np.diag(lam) @ q.T)
    np.testing.assert_allclose(sp.eigenvalues.numpy(), lam, rtol=1e-8, atol=1e-12)
    assert sp.decay_exponent == pytest.approx(2.0, rel=1e-6)
    assert sp.effective_rank == pytest.approx(lam.sum(), rel=1e-8)
    assert sp.top5_energy == pytest.approx(lam[:5].sum() / lam.sum(), rel=1e-8)
    assert sp.spectral_gap == pytest.approx(4.0, rel=1e-8)


def test_complexity_grows_with_label_noise_on_digits():
    """Digits 3 vs 8, N = 200: y^T K^{-1} y of the dense ReLU NTK rises with label noise."""
    from graphon.data import load_digits

    split = load_digits(classes=(3, 8), test_fraction=0.3, seed=0, device="cpu")
    x, y = split.x_train[:200].double(), split.y_train[:200].double()
    k = ntk.dense_ntk(x, device="cpu")
    means = []
    for frac in (0.0, 0.25, 0.5, 1.0):
        ys = ntk.randomise_labels(y, frac, seeds=4)
        means.append(float(np.mean(ntk.complexity(k, ys).value)))
    assert all(a < b for a, b in zip(means[:-1], means[1:], strict=True)), means
    assert ntk.randomise_labels(y, 0.0, seeds=1)[0].equal(y)


def test_concentrated_graphon_family():
    scores = torch.linspace(0.1, 1.0, 20)
    for gamma in (0.0, 1.0, 50.0):
        w = ntk.concentrated_graphon(scores, 0.25, gamma)
        assert w.shape == (1, 20) and float(w.mean()) == pytest.approx(0.25, rel=1e-6)
    torch.testing.assert_close(
        ntk.concentrated_graphon(scores, 0.25, 0.0), torch.full((1, 20), 0.25, dtype=F64)
    )
    assert int((ntk.concentrated_graphon(scores, 0.25, 200.0) > 0.99).sum()) >= 4


# ------------------------------------------------------------------ bad input
def test_bad_inputs_raise():
    x = _inputs(4, 3)
    with pytest.raises(ValueError, match="activation"):
        ntk.graphon_ntk(x, None, 1.0, activation="gelu")
    with pytest.raises(ValueError, match="activation"):
        ntk.dual_activation("softplus", 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ntk.graphon_ntk(x, None, torch.full((2, 3), 1.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ntk.path_density(-torch.ones(2, 3))
    with pytest.raises(ValueError, match="input dimension"):
        ntk.graphon_ntk(x, _inputs(4, 5), 1.0)
    with pytest.raises(ValueError, match="closed"):
        ntk.dual_activation("tanh", 1.0, 1.0, 0.5, method="closed")
    with pytest.raises(ValueError, match="shape"):
        ntk.graphon_ntk_deep(x, None, [torch.ones(2, 3), torch.ones(2, 5)])
    with pytest.raises(ValueError, match="fraction"):
        ntk.randomise_labels(torch.ones(5), 1.5)
    model = MaskedMLP(3, [4], seeds=1, device="cpu")
    with pytest.raises(ValueError, match="x1"):
        ntk.empirical_ntk(model, _inputs(2, 5).float())
    with pytest.raises(ValueError, match="seed_index"):
        ntk.empirical_ntk(model, x.float(), seed_index=3)


def test_batched_graphon_ntk_equals_one_at_a_time():
    x = _inputs(12, 6)
    tables = torch.rand(3, 4, 6, generator=torch.Generator().manual_seed(9))
    batch = ntk.graphon_ntk(x, x[:5], tables, device="cpu")
    assert batch.shape == (3, 12, 5)
    for b in range(3):
        torch.testing.assert_close(batch[b], ntk.graphon_ntk(x, x[:5], tables[b], device="cpu"))


def test_kernel_statistics_match_the_single_kernel_functions():
    kernels = torch.stack([_spd(25, seed=s) for s in range(3)])
    gen = torch.Generator().manual_seed(4)
    y = torch.sign(torch.randn(25, generator=gen, dtype=F64))
    noisy = torch.stack([ntk.randomise_labels(y, p, seeds=[10 + b for b in range(3)])
                         for p in (0.0, 0.5, 1.0)], dim=1)  # (B, F, N)
    st = ntk.kernel_statistics(kernels, y, noisy)
    assert st["complexity"].shape == (3, 3)
    for key in ("alignment", "alignment_centred", "effective_rank", "top5_energy", "jitter"):
        assert st[key].shape == (3,), key
    for b in range(3):
        np.testing.assert_allclose(st["complexity"][b], ntk.complexity(kernels[b], noisy[b]).value)
        assert st["alignment"][b] == pytest.approx(ntk.kernel_alignment(kernels[b], y))
        assert st["alignment_centred"][b] == pytest.approx(
            ntk.kernel_alignment(kernels[b], y, centred=True))
        sp = ntk.spectrum(kernels[b])
        assert st["effective_rank"][b] == pytest.approx(sp.effective_rank)
        assert st["top5_energy"][b] == pytest.approx(sp.top5_energy)
    assert (st["jitter"] == 0.0).all()
    shared = ntk.kernel_statistics(kernels, y, noisy[0])  # (F, N) shared by every kernel
    np.testing.assert_allclose(shared["complexity"][2], ntk.complexity(kernels[2], noisy[0]).value)
    one = ntk.kernel_statistics(kernels[1], y, noisy[1])  # a single (N, N) kernel
    np.testing.assert_allclose(one["complexity"][0], st["complexity"][1])
    with pytest.raises(ValueError, match="kernels must have shape"):
        ntk.kernel_statistics(torch.ones(2, 3, 4, dtype=F64), torch.ones(3), torch.ones(2, 1, 3))
    with pytest.raises(ValueError, match="y must have shape"):
        ntk.kernel_statistics(kernels, torch.ones(24), noisy)
    with pytest.raises(ValueError, match="noisy_labels must have shape"):
        ntk.kernel_statistics(kernels, y, noisy[:2])


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_masked_readout_gates_both_terms_and_matches_the_deep_recursion(activation):
    # f = sum_i a_i M2_i sigma(z_i) / sqrt(n): the first-layer gradient of unit i also passes through
    # a_i M2_i, so the readout graphon W_2 multiplies both kernel terms; the one-layer formula must
    # then agree with the layer recursion on a constant graphon.
    x = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    shallow = ntk.graphon_ntk(x, None, 0.7, activation, readout=0.4, device="cpu")
    deep = ntk.graphon_ntk_deep(x, None, [0.7], activation, readout=0.4, device="cpu")
    torch.testing.assert_close(shallow, deep, rtol=1e-10, atol=1e-12)
    dense_readout = ntk.graphon_ntk(x, None, 0.7, activation, device="cpu")
    torch.testing.assert_close(shallow, 0.4 * dense_readout, rtol=1e-10, atol=1e-12)


def test_concentrated_graphon_refuses_an_unreachable_density():
    assert float(ntk.concentrated_graphon([1.0, 0.5, 0.2, 0.1], 0.5, 1.0).mean()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="density 0.5 cannot be reached"):
        ntk.concentrated_graphon([1.0, 0.0, 0.0, 0.0], 0.5, 1.0)


def test_complexity_validates_jitter_before_factorising():
    k = torch.eye(3, dtype=F64)
    for bad in (-1.0, float("inf"), float("nan"), "x"):
        with pytest.raises(ValueError, match="jitter"):
            ntk.complexity(k, torch.ones(3), jitter=bad)
    assert ntk.complexity(k, torch.ones(3), jitter=0.5).value == pytest.approx(3 / 1.5)


def test_kernel_statistics_bound_and_spectrum_exponent():
    x = _inputs(15, 4, seed=3)
    kernels = torch.stack([ntk.graphon_ntk(x, None, c, device="cpu") for c in (0.3, 0.9)])
    y = torch.sign(x[:, 0])
    st = ntk.kernel_statistics(kernels, y, y[None])
    np.testing.assert_allclose(st["bound"], np.sqrt(2 * st["complexity"] / 15), rtol=1e-15)
    np.testing.assert_allclose(st["bound"][1, 0], ntk.complexity(kernels[1], y).bound)
    lam = np.array([1.0, 0.25, 1 / 9, 1 / 16])  # lambda_k = k^-2
    assert ntk.spectrum(np.diag(lam)).decay_exponent == pytest.approx(2.0)


def test_empirical_ntk_chunks_reuse_the_jacobian():
    x = _inputs(9, 5).float()
    model = MaskedMLP(5, [12], seeds=2, device="cpu", dtype=F64)
    full = ntk.empirical_ntk(model, x)
    torch.testing.assert_close(ntk.empirical_ntk(model, x, chunk_size=4), full)
    torch.testing.assert_close(ntk.empirical_ntk(model, x, x.clone(), chunk_size=4), full)


def test_label_correlation():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 3, generator=g, dtype=F64)
    y = 2 * x[:, 0] - 0.1 * x[:, 1]
    x[:, 2] = 1.0  # a constant coordinate has correlation 0
    c = ntk.label_correlation(x, y)
    np.testing.assert_allclose(c[:2].numpy(), np.abs(np.corrcoef(x[:, :2].T.numpy(), y.numpy())[-1, :2]))
    assert float(c[2]) == 0.0
    with pytest.raises(ValueError, match="y"):
        ntk.label_correlation(x, y[:10])


@pytest.mark.parametrize("widths,d_out,activation", [([7], 1, "relu"), ([9, 6], 3, "tanh"),
                                                     ([8, 8, 5], 2, "erf")])
def test_per_layer_empirical_ntk_equals_the_torch_func_path(widths, d_out, activation):
    """The per-layer formula (default) equals the Jacobian contraction to float64 rounding, for
    masked hidden layers and readouts, several outputs and seeds, x2 given or not, one seed."""
    model = MaskedMLP(5, widths, d_out=d_out, activation=activation, seeds=3, device="cpu", dtype=F64)
    g = torch.Generator().manual_seed(1)
    dens = [0.3, 0.8, 0.5, 1.0]
    model.set_masks([(torch.rand(w.shape, generator=g) < p).to(F64)
                     for w, p in zip(model.weights, dens, strict=False)])
    x, x2 = torch.randn(6, 5, dtype=F64, generator=g), torch.randn(4, 5, dtype=F64, generator=g)
    for a, b in ((x, None), (x, x2)):
        fast = ntk.empirical_ntk(model, a, b)
        ref = ntk.empirical_ntk(model, a, b, method="jacobian")
        torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12 * float(ref.abs().max()))
    torch.testing.assert_close(ntk.empirical_ntk(model, x, seed_index=2),
                               ntk.empirical_ntk(model, x, method="jacobian")[2])
    with pytest.raises(ValueError, match="method"):
        ntk.empirical_ntk(model, x, method="vmap")


def test_arora_gram_is_their_h_infinity_and_the_bound_adds_its_confidence_term():
    """W = 1, unit-norm inputs: H = x.x' (pi - theta) / (2 pi) (Arora et al. 2019, Sec. 3)."""
    x = _inputs(12, 5)
    x = x / x.norm(dim=1, keepdim=True)
    cos = torch.clamp(x @ x.T, -1, 1).numpy()
    np.fill_diagonal(cos, 1.0)  # numpy's arccos(1 - 1 ulp) = 1.5e-8 would spoil the reference
    ref = cos * (np.pi - np.arccos(cos)) / (2 * np.pi)
    np.testing.assert_allclose(ntk.arora_gram(x, device="cpu").numpy(), ref, rtol=1e-12, atol=1e-14)
    y = torch.sign(x[:, 0])
    b = ntk.generalisation_bound(ntk.arora_gram(x, device="cpu"), y, delta=0.1)
    data = math.sqrt(2 * ntk.complexity(ntk.arora_gram(x, device="cpu"), y).value / 12)
    assert float(b["data_term"]) == pytest.approx(data)
    assert float(b["bound"]) == pytest.approx(data + 3 * math.sqrt(math.log(20) / 24))
    with pytest.raises(ValueError, match="unit-norm"):
        ntk.arora_gram(2 * x, device="cpu")
    with pytest.raises(ValueError, match="delta"):
        ntk.generalisation_bound(ntk.arora_gram(x, device="cpu"), y, delta=1.0)


@pytest.mark.parametrize("rho", [0.05, 0.1, 0.3])
def test_fixed_d_limit_is_the_large_width_limit_of_bernoulli_masks(rho):
    """Digits (d = 64), constant graphon rho, Bernoulli first-layer masks at n = 16384 (4 seeds):
    the seed-mean empirical NTK is at least twice closer to the fixed-d limit than to K_W, whose
    Jensen gap is ~ 0.5 (1 - rho)/(rho d) (15 %, 7 %, 2 % here) against a Monte Carlo error of
    about 1 % for the empirical mean and 0.5 % for the 16384-row limit estimate."""
    from graphon.data import load_digits

    x = load_digits(classes=(3, 8), device="cpu").x_train[:10].double()
    d = x.shape[1]
    model = MaskedMLP(d, [16384], seeds=[1, 2, 3, 4], device="cpu", dtype=F64)
    model.set_masks([ntk.first_layer_masks(rho, 16384, d, seeds=[5, 6, 7, 8], device="cpu",
                                           dtype=F64), None])
    emp = ntk.empirical_ntk(model, x).mean(0)
    fixed, se = ntk.graphon_ntk_fixed_d(x, None, rho, samples=16384, seed=3, device="cpu",
                                        return_error=True)
    k_w = ntk.graphon_ntk(x, None, rho, device="cpu")
    err_fixed = float(ntk.relative_error(emp, fixed))
    err_w = float(ntk.relative_error(emp, k_w))
    assert err_fixed < 0.5 * err_w, (err_fixed, err_w)
    assert float(torch.linalg.matrix_norm(se) / torch.linalg.matrix_norm(fixed)) < 0.01
