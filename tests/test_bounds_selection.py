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
