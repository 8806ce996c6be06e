import math

import numpy as np
import pytest

from mmtheory.experiments.selection import selection_accuracy
from mmtheory.experiments.theorems import add_bounds, bound_summary, loss_constants, theorem_trials, two_modality_world
from mmtheory.theory import select_modalities
from mmtheory.theory.bounds import ball_lstsq, fit_late_fusion_erm, theorem1_rhs, theorem2_rhs


def test_ball_lstsq_matches_projected_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    y = x @ np.array([2.0, -1.0, 0.5, 0.0, 1.0]) + 0.3 * rng.standard_normal(40)
    cov, cxy, vy = x.T @ x / 40, x.T @ y / 40, float(y @ y / 40)
    for radius in (0.3, 1.0, 100.0):
        u, risk = ball_lstsq(cov, cxy, vy, radius)
        assert np.linalg.norm(u) <= radius + 1e-9
        assert risk == pytest.approx(np.mean((x @ u - y) ** 2))
        v = np.zeros(5)  # projected gradient descent as an independent check
        for _ in range(20000):
            v -= 0.05 * 2 * (cov @ v - cxy)
            n = np.linalg.norm(v)
            v *= min(1.0, radius / n) if n > 0 else 1.0
        assert risk <= np.mean((x @ v - y) ** 2) + 1e-9
        assert np.allclose(u, v, atol=1e-4)


def test_ball_lstsq_errors_and_rank_deficiency():
    u, risk = ball_lstsq(np.zeros((2, 2)), np.zeros(2), 1.0, 1.0)
    assert np.allclose(u, 0) and risk == 1.0
    with pytest.raises(ValueError, match="radius"):
        ball_lstsq(np.eye(2), np.ones(2), 1.0, -1.0)
    with pytest.raises(ValueError, match="cov_zz must be"):
        ball_lstsq(np.eye(3), np.ones(2), 1.0, 1.0)


def test_theorem_right_sides_by_hand():
    rhs1 = theorem1_rhs(-0.1, 0.2, lipschitz=2.0, loss_bound=4.0, m=100, delta=0.1)
    assert rhs1 == pytest.approx(-0.1 + 8 * 2 * 0.2 + 4 * 4 / 10 + 2 * 4 * math.sqrt(2 * math.log(20) / 100))
    rhs2 = theorem2_rhs(0.2, 0.3, -0.05, lipschitz=2.0, loss_bound=4.0, m=100, delta=0.1)
    assert rhs2 == pytest.approx(4 * 2 * 0.2 + 4 * 2 * 0.3 + 6 * 4 * math.sqrt(2 * math.log(20) / 100) - 0.05)
    with pytest.raises(ValueError, match="delta"):
        theorem1_rhs(0, 0, lipschitz=1, loss_bound=1, m=10, delta=1.5)
    with pytest.raises(ValueError, match="m must be"):
        theorem2_rhs(0, 0, 0, lipschitz=1, loss_bound=1, m=0, delta=0.1)


def test_world_is_bounded_by_its_constants():
    world = two_modality_world(3, 6, seed=1)
    L, C = loss_constants(world, encoder_radius=1.0, head_radius=2.0)
    data = world.sample(5000, seed=0)
    x = np.concatenate([data.views["m1"], data.views["m2"]], axis=1)
    reach = math.sqrt(C)
    assert np.abs(data.y).max() <= reach and 2.0 * np.linalg.norm(x, axis=1).max() <= reach
    assert L == pytest.approx(2 * reach)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        two_modality_world(w=2.0)


def test_theorem_trials_small():
    world = two_modality_world(3, 6, seed=2)
    L, C = loss_constants(world, encoder_radius=1.0, head_radius=3.0)
    trials = theorem_trials(world, [30, 300], 5, n_draws=50)
    bounded = add_bounds(trials, lipschitz=L, loss_bound=C, delta=0.1)
    assert len(bounded) == 10 and (bounded["thm1_lhs"] <= bounded["thm1_rhs"]).all()
    assert (bounded["eta_N"] >= -1e-9).all() and (bounded["eta_M"] >= -1e-9).all()
    summary = bound_summary(bounded, 0.1)
    assert list(summary["m"]) == [30, 300] and (summary["thm2_fail"] == 0).all()
    with pytest.raises(ValueError, match="n_trials"):
        theorem_trials(world, [10], 0)


def test_select_modalities():
    world = two_modality_world(3, 6, kappa=1.0, w=0.0, seed=3)
    data = world.sample(4000, seed=0)
    sel = select_modalities(data.views, data.y, ("m1", "m2"), ("m1",), head_radius=3.0, scale=1.0)
    assert sel.choice == ("m1", "m2") and sel.margin > 0 and sel.empirical_gain > sel.complexity_cost
    always = select_modalities(data.views, data.y, ("m1", "m2"), ("m1",), head_radius=3.0, scale=0.0)
    assert always.choice == ("m1", "m2")
    with pytest.raises(ValueError, match="strict subset"):
        select_modalities(data.views, data.y, ("m1",), ("m1",))
    with pytest.raises(ValueError, match="scale"):
        select_modalities(data.views, data.y, ("m1", "m2"), ("m1",), scale=-1)


def test_selection_accuracy_small():
    res = selection_accuracy([40, 2000], [0.0], 3, scales=(1.0, 0.0), n_draws=50)
    assert len(res) == 2 * 3 * 2
    assert (res["regret"] >= -1e-12).all()
    assert res.loc[res["scale"] == 0.0, "chose_larger"].all()


def test_fit_late_fusion_erm_respects_both_bounds():
    world = two_modality_world(3, 6, seed=4)
    data = world.sample(200, seed=0)
    w, risk = fit_late_fusion_erm(data.views, data.y, ("m1", "m2"), encoder_radius=0.5, head_radius=0.4)
    x = np.concatenate([data.views["m1"], data.views["m2"]], axis=1)
    assert np.linalg.norm(w) <= 0.2 + 1e-9
    assert risk == pytest.approx(np.mean((x @ w - data.y[:, 0]) ** 2))
    with pytest.raises(ValueError, match="samples"):
        fit_late_fusion_erm(data.views, data.y[:5], ("m1",))


# --------------------------------------------------------------------------- batched trials and the tight-world search
def test_ball_lstsq_batched_equals_the_per_problem_solver():
    from mmtheory.theory.bounds import ball_lstsq_batched

    rng = np.random.default_rng(5)
    x = rng.standard_normal((12, 3, 5))  # 3 samples in 5 dimensions: rank-deficient second moments
    cov, cxy = x.transpose(0, 2, 1) @ x / 3, rng.standard_normal((12, 5))
    cov[0] = 0.0  # an all-zero problem
    cxy[0] = 0.0
    vy = rng.random(12) + 3
    for radius in (0.05, 1.0, 30.0, math.inf):
        u, risk = ball_lstsq_batched(cov, cxy, vy, radius)
        for i in range(12):
            u_i, r_i = ball_lstsq(cov[i], cxy[i], vy[i], radius)
            assert np.allclose(u[i], u_i, atol=1e-10) and risk[i] == pytest.approx(r_i, abs=1e-10)
    with pytest.raises(ValueError, match="cov_zz must be"):
        ball_lstsq_batched(cov[0], cxy[0], vy[0], 1.0)
    with pytest.raises(ValueError, match="finite"):
        ball_lstsq_batched(cov * np.nan, cxy, vy, 1.0)


def _loop_trial(world, latent, eps, sigma, a, b):
    """The per-trial path (before batching): one sample, two ERMs, two eta refits, two complexities."""
    from mmtheory.data.synthetic import SyntheticData
    from mmtheory.experiments.theorems import _eta, _population_risk

    views = {k: latent @ v.T for k, v in world.view_maps.items()}
    f = latent @ world.target_map.T
    data = SyntheticData(views, f + world.noise * eps[:, None], latent, world)
    w_m, emp_m = fit_late_fusion_erm(data.views, data.y[:, 0], ("m1", "m2"), encoder_radius=a, head_radius=b)
    w_n, _ = fit_late_fusion_erm(data.views, data.y[:, 0], ("m1",), encoder_radius=a, head_radius=b)
    m = len(eps)

    def rad(names):  # late_fusion_rademacher's estimator with these signs
        total = sum(a * a * ((sigma @ views[k]) ** 2).sum(-1) for k in names)
        return float(np.mean(b * np.sqrt(total) / m))

    eta_m, eta_n = _eta(world, ("m1", "m2"), w_m, a, b), _eta(world, ("m1",), w_n, a, b)
    return dict(r_M=_population_risk(world, ("m1", "m2"), w_m), r_N=_population_risk(world, ("m1",), w_n),
                eta_M=eta_m, eta_N=eta_n, gamma_S=eta_m - eta_n, rad_M=rad(("m1", "m2")), rad_all=rad(("m1", "m2")),
                centered_loss_M=emp_m - float(np.mean((data.y - f) ** 2)))


def test_batched_trials_equal_the_per_trial_loop_on_the_same_samples():
    from mmtheory.experiments.theorems import trial_sides
    from mmtheory.theory.rademacher import exact_late_fusion

    world = two_modality_world(2, 4, kappa=0.5, noise=0.7, seed=4)
    rng = np.random.default_rng(9)
    t_, m = 7, 6
    latent = rng.uniform(-math.sqrt(3), math.sqrt(3), (t_, m, 6))
    eps = rng.uniform(-math.sqrt(3), math.sqrt(3), (t_, m))
    sigma = rng.integers(0, 2, (t_, 40, m)) * 2.0 - 1
    for a, b in [(1.0, 3.0), (0.5, 0.2)]:
        got = trial_sides(world, latent, eps, sigma, encoder_radius=a, head_radius=b)
        for i in range(t_):
            want = _loop_trial(world, latent[i], eps[i], sigma[i], a, b)
            for k, v in want.items():
                assert got[k][i] == pytest.approx(v, rel=1e-9, abs=1e-10), (k, i)
    # the signs given as their bytes (theorem_trials' path) give the same sides as the unpacked signs
    from mmtheory.theory.rademacher import sign_bytes

    raw = sign_bytes(np.random.default_rng(5), (t_, 40, m))
    packed = trial_sides(world, latent, eps, raw)
    unpacked = trial_sides(world, latent, eps, np.unpackbits(raw, axis=-1, count=m) * 2.0 - 1)
    for k in unpacked:
        np.testing.assert_allclose(packed[k], unpacked[k], rtol=1e-12, atol=1e-13, err_msg=k)
    # with every sign vector as the draws, the complexity is the exact one
    import itertools

    every = np.array(list(itertools.product((-1.0, 1.0), repeat=m)))[None]
    got = trial_sides(world, latent[:1], eps[:1], every, encoder_radius=1.0, head_radius=3.0)
    views = {k: latent[0] @ v.T for k, v in world.view_maps.items()}
    assert got["rad_M"][0] == pytest.approx(exact_late_fusion(views, ("m1", "m2"), encoder_radius=1.0, head_radius=3.0))


def test_batched_theorem_trials_are_statistically_the_loop():
    """New random streams: the batched path's means agree with the per-trial loop's within 4 standard errors."""
    world = two_modality_world(2, 4, kappa=0.5, noise=0.7, seed=4)
    n, m = 300, 40
    new = theorem_trials(world, [m], n, n_draws=30, seed=1)
    rows = []
    for trial in range(n):  # the loop path, with model.sample's own stream
        data = world.sample(m, seed=np.random.default_rng([7, trial]))
        lat = data.latent
        eps = (data.y[:, 0] - lat @ world.target_map[0]) / world.noise
        sigma = np.random.default_rng([8, trial]).integers(0, 2, (30, m)) * 2.0 - 1
        rows.append(_loop_trial(world, lat, eps, sigma, 1.0, 3.0))
    import pandas as pd

    old = pd.DataFrame(rows)
    for k in ["r_M", "r_N", "eta_M", "gamma_S", "rad_M", "centered_loss_M"]:
        se = math.sqrt(new[k].var() / n + old[k].var() / n)
        assert abs(new[k].mean() - old[k].mean()) < 4 * se + 1e-12, k
    again = theorem_trials(world, [m], n, n_draws=30, seed=1)
    assert again.equals(new) and not theorem_trials(world, [m], n, n_draws=30, seed=2).equals(new)
    with pytest.raises(ValueError, match="n_draws"):
        theorem_trials(world, [m], 3, n_draws=0)


def test_slack_ratio():
    from mmtheory.experiments.theorems import slack_ratio

    assert slack_ratio(2.0, 4.0) == pytest.approx(2.0)  # positive left side: right / left
    assert slack_ratio(-2.0, -1.0) == pytest.approx(1.5)  # negative left side: the gap in units of |left|
    assert slack_ratio(-2.0, 0.0) == pytest.approx(2.0)  # a right side at 0 is not "tight" (rhs/|lhs| would be 0)
    assert np.isnan(slack_ratio(0.0, 1.0))


def test_tight_world_search_finds_tighter_worlds_than_its_start():
    from mmtheory.experiments.theorems import tight_world_search, tightest

    kw = dict(dims=[(1, 1)], kappa_values=[0.3, 3.0], noise_values=[0.0, 1.0], head_radius_values=[0.3, 3.0],
              m_values=[64, 1024], n_trials=6, n_draws=10, optimiser_evals=8, scan_m_values=[1024, 16384],
              scan_trials=4, scan_draws=10)
    search = tight_world_search(**kw)
    assert set(search["stage"]) == {"grid", "optimiser (Theorem 1)", "optimiser (Theorem 2)", "m scan (Theorem 1)",
                                    "m scan (Theorem 2)"}
    assert (search.loc[search["stage"] == "grid"].groupby(["kappa", "noise", "head_radius"]).size() == 2).all()
    assert (search[["thm1_ratio", "thm2_ratio"]].dropna() >= 1).all().all()  # the bounds hold in the means
    best = tightest(search).set_index("theorem")
    grid_best = tightest(search[search["stage"] == "grid"]).set_index("theorem")
    for t in (1, 2):
        assert best.loc[t, "ratio"] == search[f"thm{t}_ratio"].min() <= grid_best.loc[t, "ratio"]
        scan = search[search["stage"] == f"m scan (Theorem {t})"]
        assert scan[f"thm{t}_ratio"].iloc[-1] < scan[f"thm{t}_ratio"].iloc[0]  # the gap shrinks with m
    assert best.loc[2, "ratio"] < 3  # far tighter than the chapter's world (thousands)
    for bad in [dict(kappa_values=[]), dict(head_radius_values=[0.0])]:
        with pytest.raises(ValueError):
            tight_world_search(**{**kw, **bad})


@pytest.mark.parametrize("shuffle", [False, True])
def test_selection_trials_batched_equals_the_loop(shuffle):
    from mmtheory.experiments.selection import selection_trials

    kw = dict(m_values=[10, 60], w_values=[0.0, 0.5], n_trials=5, n_draws=20, shuffle_labels=shuffle, seed=3, world_seed=1)
    loop, batched = selection_trials(compute="loop", **kw), selection_trials(**kw)
    assert list(loop.columns) == list(batched.columns) and loop.dtypes.equals(batched.dtypes)
    for c in loop.columns:
        if loop[c].dtype.kind == "f":
            np.testing.assert_allclose(batched[c], loop[c], rtol=1e-9, atol=1e-11, err_msg=c)
        else:
            assert (batched[c] == loop[c]).all(), c
    with pytest.raises(ValueError, match="compute"):
        selection_trials(compute="gpu", **kw)


def test_selection_trials_in_chunks_equal_the_loop(monkeypatch):
    """Trials split over several chunks (and worlds sharing each chunk's signs) keep the loop's rows and order."""
    from mmtheory.experiments import theorems
    from mmtheory.experiments.selection import selection_trials

    kw = dict(m_values=[60, 13], w_values=[1.0, 0.0, 0.5], n_trials=5, n_draws=20, seed=1, world_seed=2)
    loop = selection_trials(compute="loop", **kw)
    monkeypatch.setattr(theorems, "MAX_SIGNS", 20 * 60 * 3 * 2)  # 2 trials per chunk at m = 60
    chunked = selection_trials(**kw)
    assert chunked[["w", "m", "trial"]].equals(loop[["w", "m", "trial"]])
    for c in ["r_larger", "r_smaller", "gain", "complexity_diff"]:
        np.testing.assert_allclose(chunked[c], loop[c], rtol=1e-9, atol=1e-11, err_msg=c)
    assert (chunked["val_larger"] == loop["val_larger"]).all()
