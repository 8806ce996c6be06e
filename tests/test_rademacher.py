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


def test_torch_and_numpy_agree():
    x = np.random.default_rng(1).standard_normal((10, 4))
    a = rad.linear_rademacher(x, n_draws=500, seed=3)
    b = rad.linear_rademacher(torch.tensor(x), n_draws=500, seed=3)
    assert a.value == pytest.approx(b.value) and a.stderr == pytest.approx(b.stderr, rel=1e-6)


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
