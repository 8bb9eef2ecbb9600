"""Tests of graphon.expressivity: dense cores (binomial law), active coordinates, fitting with fixed masks."""

from __future__ import annotations

import math

import pytest
import torch

from graphon import expressivity as E
from graphon import training as T
from graphon.data import Split, k_sparse_task


def test_dense_core_size_counts_fully_wired_rows():
    m = torch.tensor([[[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 1, 1]]], dtype=torch.float32)
    assert E.dense_core_size(m, [0, 1]).tolist() == [2]
    assert E.dense_core_size(m, [1, 2]).tolist() == [2]
    assert E.dense_core_size(m, [0, 1, 2]).tolist() == [1]
    assert E.dense_core_size(m[0], [2]).tolist() == [3]  # a single (n, d) mask counts as S = 1
    assert E.dense_core_mask(m, [0, 1]).tolist() == [[True, False, True, False]]


@pytest.mark.parametrize("p,k,alpha", [(0.5, 2, 1.0), (0.3, 3, 0.5), (0.7, 1, 0.25)])
def test_dense_core_matches_binomial_mean_and_variance(p, k, alpha):
    # Bernoulli(p) edges on A x J (|A| = alpha), nothing elsewhere: core ~ Binomial(alpha n, p^k).
    n, S = 400, 400
    W = E.rectangle_graphon(1000, 5, list(range(k)), p, alpha, device="cpu")
    masks = E.sample_graphon_masks(W, n, seeds=S, device="cpu")
    sizes = E.dense_core_size(masks, list(range(k))).double()
    law = E.dense_core_distribution(n, W, list(range(k)))
    assert law.binomial is not None
    trials, q = law.binomial
    assert trials == round(alpha * n) and q == pytest.approx(p**k, rel=1e-6)
    assert law.mean == pytest.approx(E.expected_dense_core(n, p, k, alpha), rel=1e-6)  # float32 grid
    assert law.variance == pytest.approx(alpha * n * p**k * (1 - p**k), rel=1e-6)
    # mean within 4 standard errors of the binomial mean
    se = math.sqrt(law.variance / S)
    assert abs(float(sizes.mean()) - law.mean) < 4 * se
    # sample variance within 4 standard errors (var of s^2 ~ 2 sigma^4 / (S - 1) for near-normal counts)
    se_var = law.variance * math.sqrt(2.0 / (S - 1))
    assert abs(float(sizes.var()) - law.variance) < 4 * se_var


def test_dense_core_poisson_binomial_with_background():
    W = E.rectangle_graphon(100, 6, [0, 1], p=0.6, alpha=0.5, background=0.2, device="cpu")
    law = E.dense_core_distribution(500, W, [0, 1])
    # 250 rows with q = 0.36, 250 rows with q = 0.04
    assert law.mean == pytest.approx(250 * 0.36 + 250 * 0.04)
    assert law.variance == pytest.approx(250 * 0.36 * 0.64 + 250 * 0.04 * 0.96)
    assert law.binomial is None
    masks = E.sample_graphon_masks(W, 500, seeds=300, device="cpu")
    sizes = E.dense_core_size(masks, [0, 1]).double()
    assert abs(float(sizes.mean()) - law.mean) < 4 * math.sqrt(law.variance / 300)
    # constant graphon given as a float
    assert E.dense_core_distribution(100, 0.5, [3, 4]).mean == pytest.approx(25.0)


def test_prob_at_least_is_a_binomial_tail():
    law = E.dense_core_law(10, 0.5, 1)
    assert law.prob_at_least(0) == 1.0
    assert law.prob_at_least(10) == pytest.approx(0.5**10)
    assert law.prob_at_least(11) == 0.0
    assert law.prob_at_least(5) == pytest.approx(sum(math.comb(10, j) for j in range(5, 11)) / 1024)


def test_active_coordinates_recovers_planted_rectangle():
    W = E.rectangle_graphon(200, 20, [3, 7, 11], p=0.6, alpha=0.4, background=0.1, device="cpu")
    ac = E.active_coordinates(W, p=0.5, alpha=0.3)
    assert ac.coords.tolist() == [3, 7, 11] and ac.k == 3
    assert ac.row_measure == pytest.approx(0.4)
    assert ac.rows[:80].all() and not ac.rows[80:].any()
    # too large a row measure asked: nothing is active
    assert E.active_coordinates(W, p=0.5, alpha=0.5).k == 0


def test_active_coordinates_from_masks():
    W = E.rectangle_graphon(200, 16, [2, 9], p=0.8, alpha=0.5, background=0.1, device="cpu")
    masks = E.sample_graphon_masks(W, 200, seeds=60, device="cpu")
    ac = E.active_coordinates(masks, p=0.6, alpha=0.4, sort_rows=False)  # positions fixed across seeds
    assert ac.coords.tolist() == [2, 9]
    assert abs(ac.row_measure - 0.5) < 0.02
    # degree-sorted (the graphon convention for exchangeable hidden units) finds the same columns
    assert E.active_coordinates(masks, p=0.6, alpha=0.3).coords.tolist() == [2, 9]


def test_active_coordinates_common_rows_can_be_empty():
    W = torch.zeros(100, 2)
    W[:50, 0] = 1.0
    W[50:, 1] = 1.0
    ac = E.active_coordinates(W, p=1.0, alpha=0.5)
    assert ac.coords.tolist() == [0, 1] and ac.row_measure == 0.0
    assert E.dense_core_distribution(100, W, [0, 1]).mean == 0.0


def test_step_graphon_input():
    graphons = pytest.importorskip("graphon.graphons")
    vals = torch.tensor([[0.9, 0.1], [0.2, 0.1]])
    g = graphons.StepGraphon(vals)
    assert E.active_coordinates(g, p=0.5, alpha=0.5).coords.tolist() == [0]
    g2 = graphons.StepGraphon(vals, row_widths=torch.tensor([0.25, 0.75]))
    assert E.active_coordinates(g2, p=0.5, alpha=0.2).row_measure == pytest.approx(0.25, abs=1e-3)


def test_disconnection_floor_matches_monte_carlo():
    torch.manual_seed(0)
    x = torch.randn(400_000, 3, dtype=torch.float64)
    for k in (2, 3):
        y = torch.sign(x[:, :k].sum(1))
        # E[y | x_1..x_{k-1}] = erf(S' / sqrt 2)
        cond = torch.erf(x[:, : k - 1].sum(1) / math.sqrt(2))
        mc = float(((y - cond) ** 2).mean() / y.var())
        assert mc == pytest.approx(E.disconnection_floor("sign_sum", k), abs=0.01)
    assert E.disconnection_floor("sum", 4, 1) == 0.25
    assert E.disconnection_floor("product", 2) == 1.0
    assert E.disconnection_floor("sin", 2) is None


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: E.active_coordinates(torch.rand(4, 4), p=0.0, alpha=0.5), "p"),
        (lambda: E.active_coordinates(torch.rand(4, 4), p=1.5, alpha=0.5), "p"),
        (lambda: E.active_coordinates(torch.rand(4, 4), p=0.5, alpha=0.0), "alpha"),
        (lambda: E.active_coordinates(torch.rand(4, 4), p=0.5, alpha=1.2), "alpha"),
        (lambda: E.dense_core_size(torch.ones(2, 3, 4), []), "coords"),
        (lambda: E.dense_core_size(torch.ones(2, 3, 4), [4]), "coords"),
        (lambda: E.dense_core_size(torch.ones(2, 3, 4), [0, 1, 2, 3, 0]), "coords"),
        (lambda: E.dense_core_size(torch.ones(2, 3, 2), [0, 1, 2]), "k"),
        (lambda: E.expected_dense_core(10, 0.0, 2), "p"),
        (lambda: E.expected_dense_core(10, 0.5, 0), "k"),
        (lambda: E.expected_dense_core(10, 0.5, 2, alpha=0.0), "alpha"),
        (lambda: E.dense_core_law(10, 1.5, 2), "p"),
        (lambda: E.dense_core_distribution(10, torch.rand(4, 3), []), "coords"),
        (lambda: E.rectangle_graphon(10, 3, [0, 1, 2, 3], 0.5), "k"),
        (lambda: E.disconnection_floor("sum", 2, 3), "missing"),
    ],
)
def test_bad_input_raises_value_error_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _tiny_task():
    return k_sparse_task(1024, 8, 2, seed=3, target="product", n_test=1024, device="cpu")


def test_disconnected_coordinate_cannot_beat_the_floor():
    sp = _tiny_task()
    S, n = 2, 64
    masks = E.disconnect_coordinates(torch.ones(S, n, 8), [sp.active[1]])
    assert masks[..., sp.active[1]].sum() == 0
    res = T.fit_masked_network((8, n, masks), sp.x_train, sp.y_train, sp.x_test, sp.y_test,
                               epochs=150, lr=1e-2, seed=0, device="cpu", desc=None)
    floor = E.disconnection_floor("product", 2)
    # E[y | x_rest] = 0: the test error cannot go (much) below Var(y); allow sampling slack
    assert float(res.relative_test_error.min()) > 0.9 * floor


def test_fit_pruned_network_snip_wires_informative_coordinates():
    pytest.importorskip("graphon.pruning")
    sp = k_sparse_task(512, 32, 2, seed=1, target="sign_sum", n_test=256, active="random", device="cpu")
    out = E.fit_pruned_network(sp, "snip", 64, 0.2, seeds=2, epochs=1, device="cpu")
    assert out["density"].allclose(torch.full((2,), 0.2), atol=1e-3)
    rnd = E.fit_pruned_network(sp, "random", 64, 0.2, seeds=2, epochs=1, device="cpu")
    # SNIP (data-driven) keeps the active columns denser than Random at the same density
    assert float(out["active_density"].mean()) > float(rnd["active_density"].mean()) + 0.1
    assert out["core"].shape == (2,)


def test_dense_core_curve_rows():
    rows = E.dense_core_curve([50, 200], [0.5], [1, 2], alpha=0.5, seeds=50, device="cpu")
    assert len(rows) == 4
    for r in rows:
        assert r["predicted"] == pytest.approx(r["alpha"] * r["n"] * r["p"] ** r["k"])
        assert abs(r["mean"] - r["predicted_exact"]) < 4 * r["predicted_std"] / math.sqrt(50) + 1e-9
        assert r["q05"] <= r["mean"] <= r["q95"]


def test_k_sparse_stream_is_seeded_and_matches_the_task_targets():
    st = E.k_sparse_stream(10, 2, seed=4, target="sin")
    assert st.k == 2 and st.active == sorted(st.active) and all(0 <= j < 10 for j in st.active)
    x1, y1 = st(64, 7)
    x2, y2 = st(64, 7)
    x3, _ = st(64, 8)
    assert x1.shape == (64, 10) and y1.shape == (64,)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    # the same function at every draw: y depends on x_J only, through one fixed direction
    x, y = st(256, 9)
    x_other = x.clone()
    rest = [j for j in range(10) if j not in st.active]
    x_other[:, rest] = torch.randn(256, len(rest))
    from graphon.data import _k_sparse_target

    assert torch.allclose(_k_sparse_target(x_other[:, st.active], "sin",
                                           torch.Generator().manual_seed(4)), y)
    sp = st.split(32, 16, device="cpu")
    assert sp.active == st.active and sp.x_train.shape == (32, 10) and sp.x_test.shape == (16, 10)
    assert not torch.equal(sp.x_train[:16], sp.x_test)
    # sign_sum: labels in {-1, 1} from the sum of the active coordinates
    st2 = E.k_sparse_stream(6, 3, seed=0, target="sign_sum", active=[0, 2, 5])
    x, y = st2(100, 1)
    assert torch.equal(y, torch.where(x[:, [0, 2, 5]].sum(1) >= 0, 1.0, -1.0))
    for bad, name in [(dict(k=7), "k"), (dict(target="cube"), "target"), (dict(active=[0, 9]), "coords")]:
        with pytest.raises(ValueError, match=name):
            E.k_sparse_stream(**{"d": 6, "k": 2, **bad})


def test_sample_graphon_masks_reads_step_graphons_exactly():
    from graphon.graphons import StepGraphon

    vals = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g = StepGraphon(vals, row_widths=torch.tensor([0.25, 0.75]))
    m = E.sample_graphon_masks(g, 8, seeds=1, device="cpu")[0]  # u_i = (i + 1/2)/8
    assert m[:2].tolist() == [[1.0, 0.0]] * 2 and m[2:].tolist() == [[0.0, 1.0]] * 6
    law = E.dense_core_distribution(8, g, [0])
    assert law.mean == 2.0
    # equal blocks: the table and the step graphon give the same masks
    assert torch.equal(E.sample_graphon_masks(StepGraphon(vals), 7, seeds=2, device="cpu"),
                       E.sample_graphon_masks(vals, 7, seeds=2, device="cpu"))


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: E.disconnection_floor("sinus", 2), "target"),
        (lambda: E.dense_core_curve([16.5], [0.5], [1], seeds=2, device="cpu"), "width"),
        (lambda: E.dense_core_curve([16], [0.5], [1.5], seeds=2, device="cpu"), "k"),
        (lambda: E.dense_core_curve([16], [1.5], [1], seeds=2, device="cpu"), "p"),
    ],
)
def test_more_bad_inputs(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _criterion_task():
    return k_sparse_task(256, 24, 2, seed=11, target="sign_sum", n_test=16, active="random", device="cpu")


@pytest.mark.parametrize("method", ["random", "snip"])
def test_dense_core_of_real_criteria_follows_the_law_read_from_their_graphon(method):
    # Lemma 5.6 (book's reading) on masks from real criteria: under independent edges given the
    # graphon the core's mean is n c, c read from the graphon on other networks; z ~ N(0, 1), so
    # |z| <= 4 fails with probability about 6e-5 per width when the model holds.
    r = E.criterion_dense_core(method, 0.2, _criterion_task(), [32, 128], seeds=list(range(16)),
                               graphon_seeds=list(range(100, 116)), blocks=8, prune_samples=256,
                               bootstrap=100, device="cpu")
    assert r.sizes.shape == (2, 16) and r.k == 2
    assert bool((r.z_exact.abs() <= 4).all()), r.z_exact
    # the law's bound alpha n p^k holds (within 4 standard errors of the measured mean)
    assert bool((r.z_law >= -4).all()), r.z_law
    # p and alpha read from the graphon describe a rectangle: the chosen blocks have floor >= p
    W = r.graphons[-1]
    floor = W[:, r.coords].min(dim=1).values
    measure = r.block_measures[-1]
    assert float(measure[floor >= r.p[-1] - 1e-6].sum()) >= float(r.alpha[-1]) - 1e-9
    if method == "random":  # constant graphon rho: p close to rho, c close to rho^k
        assert float(r.exact_coefficient[-1]) == pytest.approx(0.04, abs=4 * float(r.exact_se[-1]) + 1e-3)


def test_snip_dense_core_exceeds_random_at_the_same_density():
    kw = dict(seeds=list(range(8)), graphon_seeds=list(range(100, 108)), blocks=4, prune_samples=256,
              bootstrap=50, device="cpu")
    snip = E.criterion_dense_core("snip", 0.2, _criterion_task(), [64], **kw)
    rnd = E.criterion_dense_core("random", 0.2, _criterion_task(), [64], **kw)
    se = math.sqrt(float(snip.standard_error[0]) ** 2 + float(rnd.standard_error[0]) ** 2)
    assert float(snip.mean[0]) > float(rnd.mean[0]) + 4 * se
    assert float(snip.p[0]) > float(rnd.p[0])


def test_criterion_dense_core_rejects_bad_input():
    sp = _criterion_task()
    with pytest.raises(ValueError, match="graphon_seeds"):
        E.criterion_dense_core("random", 0.2, sp, [16], seeds=[0, 1], graphon_seeds=[1, 2], device="cpu")
    with pytest.raises(ValueError, match="seeds"):
        E.criterion_dense_core("random", 0.2, sp, [16], seeds=[0], graphon_seeds=[5, 6], device="cpu")
    with pytest.raises(ValueError, match="bootstrap"):
        E.criterion_dense_core("random", 0.2, sp, [16], seeds=[0, 1], graphon_seeds=[5, 6], bootstrap=1,
                               device="cpu")
    with pytest.raises(ValueError, match="method"):
        E.criterion_dense_core("lottery", 0.2, sp, [16], seeds=[0, 1], graphon_seeds=[5, 6], device="cpu")
    no_active = Split(x_train=sp.x_train, y_train=sp.y_train, x_test=sp.x_test, y_test=sp.y_test,
                      d=24, n_classes=2, name="no active coordinates")
    with pytest.raises(ValueError, match="active"):
        E.criterion_dense_core("random", 0.2, no_active, [16], seeds=[0, 1], graphon_seeds=[5, 6],
                               device="cpu")


def test_stacked_criteria_train_as_if_alone():
    # several criteria trained as one stacked batch give each network the numbers of a separate run
    st = E.k_sparse_stream(12, 2, seed=5, target="sign_sum")
    sp = st.split(256, 128, device="cpu")
    kw = dict(seeds=2, epochs=2, lr=0.03, batch_size=64, device="cpu", stream=st, input_lr=0.03)
    both = E.fit_pruned_network(sp, ["snip", "random"], 32, 0.3, **kw)
    for m in ("snip", "random"):
        alone = E.fit_pruned_network(sp, m, 32, 0.3, **kw)
        assert torch.equal(both[m]["core"], alone["core"])
        torch.testing.assert_close(both[m]["fit"].test_mse, alone["fit"].test_mse, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(both[m]["fit"].relative_train_error, alone["fit"].relative_train_error,
                                   rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="method"):
        E.fit_pruned_network(sp, [], 32, 0.3, **kw)
