import math

import numpy as np
import pytest
import torch

from mmtheory.theory import rademacher as rad


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_linear_estimator_matches_enumeration(seed, norm):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(rng.integers(3, 12)), int(rng.integers(1, 6))))
    est = rad.linear_rademacher(x, 1.7, norm=norm, n_draws=4000, seed=seed)
    exact = rad.exact_rademacher_linear(x, 1.7, norm=norm)
    assert abs(est.value - exact) <= 4 * est.stderr + 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_late_fusion_estimator_matches_enumeration_and_bound_is_above(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(3, 12))
    views = {"a": rng.standard_normal((m, 2)), "b": rng.standard_normal((m, 3)), "c": rng.standard_normal((m, 1))}
    radii = {"a": 1.0, "b": 0.5, "c": 2.0}
    for subset in (["a"], ["a", "b"], ["a", "b", "c"]):
        est = rad.late_fusion_rademacher(views, subset, encoder_radius=radii, head_radius=1.3, n_draws=4000, seed=seed)
        exact = rad.exact_late_fusion(views, subset, encoder_radius=radii, head_radius=1.3)
        assert abs(est.value - exact) <= 4 * est.stderr + 1e-12
        assert rad.late_fusion_bound(views, subset, encoder_radius=radii, head_radius=1.3) >= exact - 1e-12
    # more modalities never lower the exact complexity
    values = [rad.exact_late_fusion(views, s, encoder_radius=radii) for s in (["a"], ["a", "b"], ["a", "b", "c"])]
    assert values == sorted(values)


def test_single_modality_late_fusion_is_the_l2_ball():
    x = np.random.default_rng(0).standard_normal((8, 3))
    assert rad.exact_late_fusion({"a": x}, ["a"], encoder_radius=2.0, head_radius=1.5) == pytest.approx(
        rad.exact_rademacher_linear(x, 3.0))


def test_torch_and_numpy_agree_up_to_monte_carlo_error():
    """Tensors draw their signs with torch, arrays with numpy: the estimates agree within their errors,
    and both match the enumeration oracle."""
    x = np.random.default_rng(1).standard_normal((10, 4))
    exact = rad.exact_rademacher_linear(x)
    for norm in ("l2", "l1"):
        a = rad.linear_rademacher(x, norm=norm, n_draws=4000, seed=3)
        b = rad.linear_rademacher(torch.tensor(x), norm=norm, n_draws=4000, seed=3)
        assert abs(a.value - b.value) <= 4 * math.hypot(a.stderr, b.stderr)
        assert abs(b.value - rad.exact_rademacher_linear(x, norm=norm)) <= 4 * b.stderr
    views = {"a": x[:, :2], "b": x[:, 2:]}
    t = rad.late_fusion_rademacher({k: torch.tensor(v) for k, v in views.items()}, ["a", "b"],
                                   encoder_radius={"a": 1.0, "b": 0.5}, head_radius=2.0, n_draws=4000)
    exact_lf = rad.exact_late_fusion(views, ["a", "b"], encoder_radius={"a": 1.0, "b": 0.5}, head_radius=2.0)
    assert abs(t.value - exact_lf) <= 4 * t.stderr
    mc = rad.multiclass_linear_rademacher(torch.tensor(x), 1, n_draws=4000)
    assert abs(mc.value - exact) <= 4 * mc.stderr


def test_torch_signs_on_the_data_device_and_dtype_and_chunking_changes_nothing():
    like = torch.zeros(1, dtype=torch.float32)
    s = rad.rademacher_signs(300, 13, like=like, seed=1)
    assert s.dtype == torch.float32 and s.device == like.device and s.shape == (300, 13)
    assert set(s.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(s.mean())) < 0.05  # 3900 fair signs: 4 standard errors is 0.064
    assert torch.equal(s, rad.rademacher_signs(300, 13, like=like, seed=1))
    assert not torch.equal(s, rad.rademacher_signs(300, 13, like=like, seed=2))
    x = torch.randn(37, 5, dtype=torch.float64)
    whole = rad._torch_sups(x, 500, seed=4)
    assert whole.dtype == torch.float64
    torch.testing.assert_close(rad._torch_sups(x, 500, seed=4, chunk=7), whole, rtol=1e-12, atol=0)


def test_mlp_lower_estimate_is_below_the_upper_bound():
    rng = np.random.default_rng(2)
    views = {"a": rng.standard_normal((10, 2)), "b": rng.standard_normal((10, 2))}
    low = rad.mlp_rademacher_lower(views, ["a", "b"], hidden=4, n_draws=16, steps=100, restarts=1)
    assert 0 < low.value <= rad.golowich_bound(views, ["a", "b"])


def test_multiclass_and_contraction():
    x = np.random.default_rng(3).standard_normal((6, 2))
    one = rad.multiclass_linear_rademacher(x, 1, n_draws=4000)
    assert abs(one.value - rad.exact_rademacher_linear(x)) <= 4 * one.stderr
    assert rad.vector_contraction(2.0) == pytest.approx(2 * np.sqrt(2))


def test_bad_inputs():
    with pytest.raises(ValueError, match="m = 0"):
        rad.linear_rademacher(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="radius"):
        rad.linear_rademacher(np.ones((3, 2)), -1.0)
    with pytest.raises(ValueError, match="2-D"):
        rad.linear_rademacher(np.ones(3))
    with pytest.raises(ValueError, match="norm must be"):
        rad.linear_rademacher(np.ones((3, 2)), norm="linf")
    with pytest.raises(ValueError, match="mismatched sample counts"):
        rad.late_fusion_rademacher({"a": np.ones((3, 2)), "b": np.ones((4, 2))}, ["a", "b"])
    with pytest.raises(ValueError, match=r"unknown modality name\(s\) \['z'\]"):
        rad.late_fusion_bound({"a": np.ones((3, 2))}, ["z"])
    with pytest.raises(ValueError, match="m <= 22"):
        rad.exact_rademacher_linear(np.ones((23, 1)))
    with pytest.raises(ValueError, match="NaN"):
        rad.linear_rademacher(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="no bound for modalities"):
        rad.late_fusion_rademacher({"a": np.ones((3, 2))}, ["a"], encoder_radius={"b": 1.0})


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "one"])
def test_negative_or_nan_radii_fail_with_one_message(bad):
    views = {"a": np.ones((4, 2)), "b": np.ones((4, 3))}
    calls = [rad.late_fusion_bound, rad.golowich_bound, rad.exact_late_fusion, rad.late_fusion_rademacher]
    for fn in calls:
        with pytest.raises(ValueError, match=r"head_radius must be a finite number >= 0"):
            fn(views, ["a", "b"], head_radius=bad)
        with pytest.raises(ValueError, match=r"encoder_radius\['b'\] must be a finite number >= 0"):
            fn(views, ["a", "b"], encoder_radius={"a": 1.0, "b": bad})
        with pytest.raises(ValueError, match=r"encoder_radius\['a'\] must be a finite number >= 0"):
            fn(views, ["a", "b"], encoder_radius=bad)
    with pytest.raises(ValueError, match="head_radius must be a finite number >= 0"):
        rad.mlp_rademacher_lower(views, ["a"], head_radius=bad, steps=1)
    with pytest.raises(ValueError, match=r"radius\) must be a finite number >= 0"):
        rad.linear_rademacher(np.ones((3, 2)), bad)
    with pytest.raises(ValueError, match="Lipschitz constant must be a finite number >= 0"):
        rad.vector_contraction(bad)
    # an unused modality's radius is not checked: it plays no part
    assert rad.late_fusion_bound(views, ["a"], encoder_radius={"a": 1.0, "b": bad}) > 0


def test_signs_from_rng_are_fair_independent_signs():
    from mmtheory.theory.rademacher import rademacher_signs, signs_from_rng

    s = signs_from_rng(np.random.default_rng(0), (400, 13))
    assert s.shape == (400, 13) and set(np.unique(s)) == {-1.0, 1.0}
    assert abs(s.mean()) < 4 / np.sqrt(s.size)  # fair
    c = np.corrcoef(s.T)
    assert np.abs(c[~np.eye(13, dtype=bool)]).max() < 5 / np.sqrt(400)  # no bit pattern shared by columns
    np.testing.assert_array_equal(rademacher_signs(5, 9, seed=3), rademacher_signs(5, 9, seed=3))
    assert not np.array_equal(rademacher_signs(5, 9, seed=3), rademacher_signs(5, 9, seed=4))


@pytest.mark.parametrize("m", [5, 16, 37])
def test_signed_sums_equal_the_product_with_the_unpacked_signs(monkeypatch, m):
    from mmtheory.theory import rademacher as rad

    raw = rad.sign_bytes(np.random.default_rng(2), (3, 50, m))
    x = np.random.default_rng(3).standard_normal((3, m, 4))
    signs = rad.signs_from_rng(np.random.default_rng(2), (3, 50, m))
    np.testing.assert_array_equal(np.unpackbits(raw, axis=-1, count=m) * 2.0 - 1, signs)  # the same bytes, the same signs
    monkeypatch.setattr(rad, "SIGN_BLOCK", 8 * ((m + 7) // 8) * 7)  # blocks of 7 draws: a ragged last block
    np.testing.assert_allclose(rad.signed_sums(raw, x), signs @ x, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="raw must be uint8"):
        rad.signed_sums(raw.astype(np.int16), x)
    with pytest.raises(ValueError, match="raw must be uint8"):
        rad.signed_sums(raw, x[:, :-8])


def test_relu_direction_ascent_batched_equals_each_draw_and_candidate_alone():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    sigma = torch.as_tensor(rad.rademacher_signs(6, 30, seed=1), dtype=torch.float64)
    u0 = torch.randn(6, 3, 4, generator=gen, dtype=torch.float64)
    batched = rad.relu_direction_ascent(x, sigma, u0, steps=40, lr=0.05)
    alone = torch.stack([torch.stack([rad.relu_direction_ascent(x, sigma[j:j + 1], u0[j:j + 1, c:c + 1], steps=40)[0]
                                      for c in range(3)]).max() for j in range(6)])
    torch.testing.assert_close(batched, alone, rtol=1e-12, atol=1e-15)
    # the ascent moves: more steps never lower the best value, and here they raise it
    start = rad.relu_direction_ascent(x, sigma, u0, steps=0)
    assert bool((batched >= start).all()) and bool((batched > start + 1e-6).any())


def test_relu_direction_ascent_reaches_the_grid_supremum_in_two_dimensions():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((25, 2))
    sigma = rad.rademacher_signs(8, 25, seed=3)
    angles = np.linspace(0, 2 * np.pi, 100001)
    grid = np.stack([np.cos(angles), np.sin(angles)], 1)  # (A, 2) unit directions
    exact = np.abs((np.maximum(x @ grid.T, 0)[None] * sigma[:, :, None]).sum(1) / 25).max(1)  # (8,)
    u0 = torch.randn(8, 32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    found = rad.relu_direction_ascent(torch.as_tensor(x), torch.as_tensor(sigma), u0, steps=300).numpy()
    assert np.all(found <= exact * (1 + 1e-5))  # a feasible value: never above the supremum (grid step 6e-5 rad)
    assert np.all(found >= exact * (1 - 3e-3))  # 32 starts in two dimensions find the global maximum


def test_mlp_lower_sets_is_the_supremum_when_every_view_is_one_dimensional():
    # d_k = 1: a unit direction is +1 or -1, so G_k = max(|sum sigma relu(x)|, |sum sigma relu(-x)|) / m exactly,
    # and the class's supremum is b (sum_k a_k^2 G_k^2)^(1/2); no random network may exceed it.
    rng = np.random.default_rng(4)
    m, draws = 15, 20
    views = {"a": rng.standard_normal((m, 1)), "b": rng.standard_normal((m, 1))}
    radii = {"a": 0.7, "b": 1.3}
    sigma = rad.rademacher_signs(draws, m, seed=9)
    g = {k: np.maximum(np.abs(sigma @ np.maximum(v[:, 0], 0)), np.abs(sigma @ np.maximum(-v[:, 0], 0))) / m
         for k, v in views.items()}
    sup = 2.0 * np.sqrt(sum(radii[k] ** 2 * g[k] ** 2 for k in views))  # (draws,), head radius 2
    est_ab, est_a = rad.mlp_rademacher_lower_sets(views, [["a", "b"], ["a"]], hidden=3, encoder_radius=radii,
                                                  head_radius=2.0, n_draws=draws, steps=5, seed=9)
    assert est_ab.value == pytest.approx(sup.mean(), rel=1e-12)
    assert est_a.value == pytest.approx((2.0 * radii["a"] * g["a"]).mean(), rel=1e-12)
    # random networks of width 3 per modality on the norm spheres stay at or below the per-draw supremum
    nets = 4000
    a_w = {k: rng.standard_normal((nets, 3)) for k in views}
    for k in views:
        a_w[k] *= radii[k] / np.linalg.norm(a_w[k], axis=1, keepdims=True)
    beta = rng.standard_normal((nets, 6))
    beta *= 2.0 / np.linalg.norm(beta, axis=1, keepdims=True)
    hidden = np.concatenate([np.maximum(views[k][None, :, :] * a_w[k][:, None, :], 0) for k in views], -1)  # (N, m, 6)
    values = np.einsum("nmh,nh,dm->nd", hidden, beta, sigma) / m  # (N, draws)
    assert np.all(values.max(0) <= sup + 1e-12)
    # and the network that puts each modality's norm on its best unit, with the matching head, reaches it
    for j in range(draws):
        f = np.zeros(m)
        for k, v in views.items():
            pos, neg = sigma[j] @ np.maximum(v[:, 0], 0), sigma[j] @ np.maximum(-v[:, 0], 0)
            direction, gk = (1.0, pos) if abs(pos) >= abs(neg) else (-1.0, neg)
            head = 2.0 * radii[k] * (gk / m) / (sup[j] / 2.0)  # beta_k; sum_k beta_k^2 = 4 (head radius 2)
            f += head * np.maximum(radii[k] * direction * v[:, 0], 0)
        assert sigma[j] @ f / m == pytest.approx(sup[j], rel=1e-12)
