"""Tests for graphon.graphons: step kernels, degree sorting, block averages, cut norms."""

from __future__ import annotations

import itertools

import pytest
import torch

from graphon import graphons as G


def brute_cut_norm(D: torch.Tensor, w=None, c=None) -> float:
    """max over all (S, T) of |sum_{S x T} D_ij w_i c_j| by full enumeration of both sides."""
    m, n = D.shape
    w = torch.full((m,), 1.0 / m, dtype=torch.float64) if w is None else w.double()
    c = torch.full((n,), 1.0 / n, dtype=torch.float64) if c is None else c.double()
    C = D.double() * w[:, None] * c[None, :]
    xs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=m)), dtype=torch.float64)
    ys = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)
    return float((xs @ C @ ys.T).abs().max())


def test_exact_matches_brute_force_small_matrices():
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        D = torch.randn(6, 5, generator=gen, dtype=torch.float64)
        assert float(G.cut_norm_exact(D)) == pytest.approx(brute_cut_norm(D), abs=1e-12)
        assert float(G.cut_norm_exact(D.T)) == pytest.approx(brute_cut_norm(D), abs=1e-12)
        w = torch.rand(6, generator=gen, dtype=torch.float64)
        c = torch.rand(5, generator=gen, dtype=torch.float64)
        assert float(G.cut_norm_exact(D, w, c)) == pytest.approx(brute_cut_norm(D, w, c), abs=1e-12)


def test_exact_is_batched():
    D = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    vals = G.cut_norm_exact(D)
    assert vals.shape == (3,)
    for k in range(3):
        assert float(vals[k]) == pytest.approx(brute_cut_norm(D[k]), abs=1e-12)


def test_exact_step_functions_with_unequal_blocks_equals_refined_grid():
    gen = torch.Generator().manual_seed(3)
    rw = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    cw = torch.tensor([0.1, 0.4, 0.3, 0.2], dtype=torch.float64)
    U = G.StepGraphon(torch.rand(3, 4, generator=gen, dtype=torch.float64), rw, cw)
    V = G.StepGraphon(torch.rand(3, 4, generator=gen, dtype=torch.float64), rw, cw)
    coarse = float(G.cut_norm_exact(U.values - V.values, rw, cw))
    # the partition refines into 10 x 10 equal cells; on_grid averages are exact there
    fine = U.on_grid(10, dtype=torch.float64) - V.on_grid(10, dtype=torch.float64)
    assert float(G.cut_norm_exact(fine)) == pytest.approx(coarse, abs=1e-12)
    assert brute_cut_norm(fine) == pytest.approx(coarse, abs=1e-12)  # all 2^20 (S, T) pairs
    # a finer grid (20 x 10 cells) still agrees: the optimum sits on the coarse blocks
    fine2 = U.on_grid((20, 10), dtype=torch.float64) - V.on_grid((20, 10), dtype=torch.float64)
    assert float(G.cut_norm_exact(fine2)) == pytest.approx(coarse, abs=1e-12)


def test_bounds_sandwich_and_alternating_max_usually_exact():
    gen = torch.Generator().manual_seed(4)
    hits = 0
    trials = 30
    for t in range(trials):
        m, n = (
            int(torch.randint(2, 9, (1,), generator=gen)),
            int(torch.randint(2, 9, (1,), generator=gen)),
        )
        D = torch.randn(m, n, generator=gen, dtype=torch.float64)
        ex = float(G.cut_norm_exact(D))
        lo = float(G.cut_norm_lower(D, restarts=16, seed=t))
        up = float(G.cut_norm_upper(D))
        assert lo <= ex + 1e-12
        assert ex <= up + 1e-12
        hits += abs(lo - ex) < 1e-9
    assert hits >= 0.8 * trials


def test_upper_bound_is_min_of_l1_and_spectral():
    D = torch.randn(7, 9, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    l1 = float(D.abs().mean())
    spec = float(torch.linalg.matrix_norm(D, ord=2)) / (7 * 9) ** 0.5
    # the spectral term is certified (power iteration + Cholesky): valid, and within 1 % of exact
    assert min(l1, spec) <= float(G.cut_norm_upper(D)) <= 1.01 * min(l1, spec)
    big = torch.rand(2, 300, 200, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    big = (big < 0.3).double() - 0.3
    exact = torch.linalg.matrix_norm(big, ord=2) / (300 * 200) ** 0.5
    up = G.cut_norm_upper(big)
    assert bool((up >= exact).all()) and bool((up <= 1.01 * exact).all())
    assert float(G.cut_norm_upper(D, spectral=False)) == pytest.approx(l1, rel=1e-12)


def test_lower_bound_batched_equals_single_and_returns_sets():
    D = torch.randn(3, 30, 20, generator=torch.Generator().manual_seed(6))
    batched = G.cut_norm_lower(D, restarts=8, seed=1)
    for k in range(3):
        assert float(batched[k]) == pytest.approx(
            float(G.cut_norm_lower(D[k], restarts=8, seed=1)), rel=1e-12
        )
    val, S, T = G.cut_norm_lower(D[0], restarts=8, return_sets=True)
    direct = abs(float(S.double() @ D[0].double() @ T.double())) / (30 * 20)
    assert float(val) == pytest.approx(direct, rel=1e-9)


def test_erdos_renyi_cut_norm_shrinks_like_inverse_sqrt_n():
    p = 0.3
    vals = []
    for n in (50, 200, 800):
        gen = torch.Generator().manual_seed(n)
        A = (torch.rand(3, n, n, generator=gen) < p).float()
        vals.append(float(G.cut_norm_lower(A - p, restarts=8).mean()))
    for k in range(len(vals) - 1):
        assert 0.35 < vals[k + 1] / vals[k] < 0.7  # n^{-1/2}: ratio 0.5 per factor 4 in n


def test_block_average_hand_made():
    M = torch.tensor(
        [
            [1, 1, 0, 0, 1, 0],
            [1, 0, 0, 0, 1, 1],
            [0, 0, 1, 1, 0, 0],
            [0, 0, 1, 0, 0, 0],
        ],
        dtype=torch.bool,
    )
    B = G.block_average(M, (2, 3))
    expect = torch.tensor([[0.75, 0.0, 0.75], [0.0, 0.75, 0.0]])
    assert torch.allclose(B, expect)
    # uneven blocks: 5 rows into 2 blocks -> rows {0,1,2}, {3,4}
    M5 = torch.arange(5, dtype=torch.float32)[:, None].expand(5, 2)
    B5 = G.block_average(M5, (2, 1))
    assert torch.allclose(B5[:, 0], torch.tensor([1.0, 3.5]))
    # batched
    Bs = G.block_average(torch.stack([M, ~M]), 2)
    assert Bs.shape == (2, 2, 2)
    assert torch.allclose(Bs[0] + Bs[1], torch.ones(2, 2))
    with pytest.raises(ValueError, match="blocks"):
        G.block_average(M, 5)
    with pytest.raises(ValueError, match="blocks"):
        G.block_average(M, 0)


def test_degree_sort_hand_made_and_stable():
    M = torch.tensor([[1, 0, 0], [1, 1, 1], [0, 1, 0], [1, 1, 0]], dtype=torch.float32)
    out, r, c = G.degree_sort(M)
    # row degrees 1,3,1,2 -> descending 1,3,0,2 (ties keep index order)
    assert r.tolist() == [1, 3, 0, 2]
    # column degrees 3,3,1 -> 0,1,2
    assert c.tolist() == [0, 1, 2]
    assert torch.equal(out, M[r][:, c])
    out_a, r_a, c_a = G.degree_sort(M, descending=False)
    assert r_a.tolist() == [0, 2, 3, 1]
    assert c_a.tolist() == [2, 0, 1]
    _, _, c_n = G.degree_sort(M, sort_columns=False)
    assert c_n.tolist() == [0, 1, 2]
    # batched == per-seed
    Ms = torch.rand(4, 7, 5, generator=torch.Generator().manual_seed(7)) < 0.5
    out_b, r_b, c_b = G.degree_sort(Ms)
    for k in range(4):
        o, rr, cc = G.degree_sort(Ms[k])
        assert torch.equal(out_b[k], o) and torch.equal(r_b[k], rr) and torch.equal(c_b[k], cc)


def test_step_kernel_and_step_graphon():
    M = torch.tensor([[1, 0, 1], [0, 0, 1]])
    W = G.step_kernel(M)
    assert W.integral() == pytest.approx(0.5)
    u = torch.tensor([0.1, 0.6, 1.0])
    v = torch.tensor([0.1, 0.5, 0.9])
    assert W(u, v).tolist() == [1.0, 0.0, 1.0]
    assert W(u[:, None], v[None, :]).shape == (3, 3)
    S = G.StepGraphon(torch.tensor([[1.0, 0.0]]), col_widths=torch.tensor([0.25, 0.75]))
    assert S.integral() == pytest.approx(0.25)
    assert torch.allclose(S.on_grid((1, 2)), torch.tensor([[0.5, 0.0]]))
    with pytest.raises(ValueError, match="col_widths"):
        G.StepGraphon(torch.ones(1, 2), col_widths=torch.tensor([0.5, 0.6]))


def test_graphon_on_grid_callable_and_step():
    K = 4
    g = G.graphon_on_grid(lambda u, v: u * v, K, quad=1, device="cpu")
    mids = (torch.arange(K) + 0.5) / K
    assert torch.allclose(g, (mids[:, None] * mids[None, :]).float(), atol=1e-7)
    step = G.graphon_on_grid(torch.tensor([[0.2, 0.4], [0.6, 0.8]]), 4)
    assert torch.allclose(step[:2, :2], torch.full((2, 2), 0.2))
    with pytest.raises(ValueError, match="quad"):
        G.graphon_on_grid(lambda u, v: u * v, 4, quad=0)


def test_empirical_graphon_er_and_natural_columns():
    gen = torch.Generator().manual_seed(8)
    A = torch.rand(5, 200, 100, generator=gen) < 0.25
    E = G.empirical_graphon(A, blocks=4)
    assert E.shape == (4, 4)
    # sorting keeps the edges
    assert float(E.mean()) == pytest.approx(float(A.float().mean()), abs=1e-6)
    # ascending degree sort: block densities increase down the rows and along the columns
    assert bool((E[1:] > E[:-1]).all()) and bool((E[:, 1:] > E[:, :-1]).all())
    # ... but the sorting artefact of a constant graphon fades as n grows
    big = torch.rand(2, 1600, 800, generator=gen) < 0.25
    assert float((G.empirical_graphon(big, 4) - 0.25).abs().max()) < 0.5 * float(
        (E - 0.25).abs().max()
    )
    # columns with increasing density, shuffled rows: natural column order must be preserved
    probs = torch.linspace(0.05, 0.95, 100)
    B = torch.rand(3, 200, 100, generator=gen) < probs
    E2 = G.empirical_graphon(B, blocks=(2, 4), sort_columns=False)
    assert bool((E2[:, 1:] > E2[:, :-1]).all())
    with pytest.raises(ValueError, match="blocks"):
        G.empirical_graphon(A, blocks=300)


def test_cut_distance_zero_for_exact_step_and_batched_equals_single():
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    M = G.StepGraphon(values).on_grid((6, 8)).round().bool()  # a block mask equal to its graphon
    r = G.cut_distance(M, values, sort=False)
    assert float(r.lower) == pytest.approx(0.0, abs=1e-12) and float(r.upper) == pytest.approx(
        0.0, abs=1e-7
    )
    gen = torch.Generator().manual_seed(9)
    Ms = torch.rand(3, 40, 30, generator=gen) < 0.4
    batched = G.cut_distance(Ms, lambda u, v: 0.4 + 0 * u * v, restarts=8)
    assert batched.lower.shape == (3,) and batched.upper.shape == (3,) and batched.l1.shape == (3,)
    assert bool((batched.lower <= batched.upper + 1e-12).all())
    for k in range(3):
        single = G.cut_distance(Ms[k], lambda u, v: 0.4 + 0 * u * v, restarts=8)
        assert float(single.lower) == pytest.approx(float(batched.lower[k]), rel=1e-9)
        assert float(single.upper) == pytest.approx(float(batched.upper[k]), rel=1e-6)
    assert set(batched.mean()) == {"lower", "upper", "l1", "estimate"}


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="D must"):
        G.cut_norm_exact(torch.randn(30, 30))
    with pytest.raises(ValueError, match="restarts"):
        G.cut_norm_lower(torch.randn(3, 3), restarts=1)
    with pytest.raises(ValueError, match="masks"):
        G.degree_sort(torch.ones(2, 2, 2, 2))
    with pytest.raises(ValueError, match="row_weights"):
        G.cut_norm_exact(torch.randn(3, 3), row_weights=torch.ones(4))
    with pytest.raises(ValueError, match="mask"):
        G.step_kernel(torch.ones(3))


def test_cut_norm_exact_when_small_else_lower_bound():
    gen = torch.Generator().manual_seed(7)
    small = torch.randn(2, 6, 9, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(G.cut_norm(small), G.cut_norm_exact(small))
    assert G.cut_norm(small[0]).shape == ()
    assert float(G.cut_norm(small[0])) == pytest.approx(brute_cut_norm(small[0]), abs=1e-12)
    big = torch.randn(20, 20, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(G.cut_norm(big), G.cut_norm_exact(big))  # 20 <= exact_max=22
    # above exact_max: the lower bound, with its restarts/seed passed through
    low = G.cut_norm(big, exact_max=16, restarts=8, seed=3)
    torch.testing.assert_close(low, G.cut_norm_lower(big, restarts=8, seed=3))
    assert float(low) <= float(G.cut_norm_exact(big)) + 1e-12
    w = torch.rand(6, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(G.cut_norm(small[0], row_weights=w), G.cut_norm_exact(small[0], w))
    with pytest.raises(ValueError, match="exact_max"):
        G.cut_norm(big, exact_max=23)
    with pytest.raises(ValueError, match="exact_max"):
        G.cut_norm(big, exact_max=-1)
    with pytest.raises(ValueError, match="D must have shape"):
        G.cut_norm(torch.ones(4))


def test_neuron_probabilities_positions_and_forms():
    table = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], dtype=torch.float64)
    p = G.neuron_probabilities(table, 6, device="cpu")  # rows floor((2i + 1) 3 / 12)
    assert p.dtype == torch.float64 and p.shape == (6, 2)
    assert p[:, 0].tolist() == [0.1, 0.1, 0.3, 0.3, 0.5, 0.5]
    # a StepGraphon with equal blocks agrees with its table; unequal blocks are read exactly
    torch.testing.assert_close(G.neuron_probabilities(G.StepGraphon(table), 6, device="cpu"), p)
    g = G.StepGraphon(table, row_widths=torch.tensor([0.5, 0.25, 0.25]))
    assert G.neuron_probabilities(g, 4, device="cpu")[:, 1].tolist() == [0.2, 0.2, 0.4, 0.6]
    # column resampling, a number and a callable
    assert G.neuron_probabilities(table, 2, d=4, device="cpu")[0].tolist() == [0.1, 0.1, 0.2, 0.2]
    assert G.neuron_probabilities(0.3, 2, d=3, device="cpu").tolist() == [[0.3] * 3] * 2
    f = G.neuron_probabilities(lambda u, v: u * v, 2, d=2, device="cpu")
    torch.testing.assert_close(f, torch.tensor([[1 / 16, 3 / 16], [3 / 16, 9 / 16]], dtype=torch.float64))
    for call, name in (
        (lambda: G.neuron_probabilities(table, 0), "n"),
        (lambda: G.neuron_probabilities(0.5, 3), "d"),
        (lambda: G.neuron_probabilities(lambda u, v: u, 3), "d"),
        (lambda: G.neuron_probabilities(table + 1.0, 3), "W"),
        (lambda: G.neuron_probabilities(torch.ones(2, 2, 2), 3), "W"),
    ):
        with pytest.raises(ValueError, match=name):
            call()


def test_consecutive_cut_norms():
    a, b, c = torch.zeros(2, 2), torch.full((2, 2), 0.5), torch.ones(2, 2)
    out = G.consecutive_cut_norms({8: a, 16: b, 32: c})
    assert list(out) == ["8->16", "16->32"]
    assert out["8->16"] == pytest.approx(0.5) and out["16->32"] == pytest.approx(0.5)
    assert G.consecutive_cut_norms([(8, a), (16, c)]) == {"8->16": pytest.approx(1.0)}
    assert G.consecutive_cut_norms({8: a}) == {}
    with pytest.raises(ValueError, match="shape"):
        G.consecutive_cut_norms({8: a, 16: torch.zeros(3, 3)})


def test_sorted_block_average_equals_sort_then_average():
    g = torch.Generator().manual_seed(3)
    masks = torch.rand(3, 90, 70, generator=g) < torch.rand(3, 90, 1, generator=g)
    for desc in (False, True):
        for cols in (False, True):
            a = G.sorted_block_average(masks, (8, 5), descending=desc, sort_columns=cols)
            b = G.block_average(
                G.degree_sort(masks, descending=desc, sort_columns=cols)[0], (8, 5)
            )
            # same sums, another order: float32 rounding of block means <= 1 (about 2^-24 each)
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="blocks"):
        G.sorted_block_average(masks, 100)


@pytest.mark.parametrize("n, m", [(300, 300), (500, 800)])
def test_spectral_upper_bound_is_valid_and_tight(n, m):
    """The certified sigma_max is above the exact SVD value and at most 0.5 % above it (the
    docstring's claim; the margin starts at 0.1 % of sigma^2 and doubles until certified)."""
    g = torch.Generator().manual_seed(n)
    X = (torch.rand(2, n, m, generator=g) < 0.2).double() - 0.2
    exact = torch.linalg.matrix_norm(X, ord=2)
    up = G._sigma_max_upper(X if n <= m else X.transpose(1, 2))
    assert (up >= exact).all()
    assert float((up / exact - 1).max()) < 5e-3
