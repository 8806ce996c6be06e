import numpy as np
import pytest

from mmtheory.data.synthetic import (
    LatentLinearModel,
    Moments,
    modality_names,
    overlap_eta,
    overlap_model,
    overlap_views,
    random_linear_model,
)


def test_shapes_and_names():
    data = overlap_views(7, 0.3, n_modalities=3, d_shared=4, d_private=2)
    assert list(data.views) == ["m1", "m2", "m3"]
    assert all(v.shape == (7, 6) for v in data.views.values())
    assert data.y.shape == (7, 4 + 3 * 2)
    assert data.latent.shape == (7, 4 + 3 * 2)


def test_same_seed_same_data_other_seed_other_data():
    a = overlap_views(5, 0.5, d_shared=3, d_private=3, seed=1)
    b = overlap_views(5, 0.5, d_shared=3, d_private=3, seed=1)
    c = overlap_views(5, 0.5, d_shared=3, d_private=3, seed=2)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.views["m2"], b.views["m2"])
    assert not np.allclose(a.y, c.y)


def test_w_extremes():
    # w = 1: every view is a rotation of the shared block only -> each view has rank d_shared
    one = overlap_views(50, 1.0, d_shared=3, d_private=4)
    assert all(np.linalg.matrix_rank(v) == 3 for v in one.views.values())
    np.testing.assert_allclose(one.y[:, 3:], 0.0)  # private part of the target vanishes
    # w = 0: views carry only their private blocks -> mutually uncorrelated in population
    model = overlap_model(0.0, d_shared=3, d_private=4)
    cov = model.moments().cov_xx
    np.testing.assert_allclose(cov[:7, 7:14], 0.0, atol=1e-12)
    np.testing.assert_allclose(overlap_views(20, 0.0, d_shared=3, d_private=4).y[:, :3], 0.0)


def test_population_moments_match_large_sample():
    model = overlap_model(0.6, d_shared=2, d_private=2, noise=0.5)
    data = model.sample(200_000, seed=3)
    emp = Moments.from_samples(data.views, data.y)
    pop = model.moments()
    np.testing.assert_allclose(emp.cov_xx, pop.cov_xx, atol=0.02)
    np.testing.assert_allclose(emp.cov_xy, pop.cov_xy, atol=0.02)
    np.testing.assert_allclose(emp.cov_yy, pop.cov_yy, atol=0.02)


def test_moments_subset_keeps_canonical_order():
    model = overlap_model(0.5, d_shared=1, d_private=1)
    sub = model.moments().subset(["m3", "m1"])
    assert sub.modalities == ("m1", "m3")
    np.testing.assert_allclose(sub.cov_xx, model.moments(["m1", "m3"]).cov_xx)


def test_overlap_eta_formula():
    assert overlap_eta(0.8, 1) == pytest.approx(12.0)
    assert overlap_eta(0.0, 4) == 0.0
    with pytest.raises(ValueError, match="exceeds"):
        overlap_eta(0.5, 5)


@pytest.mark.parametrize("w", [-0.1, 1.5, float("nan"), "a"])
def test_w_outside_unit_interval(w):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlap_views(3, w)


def test_bad_sizes():
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        overlap_views(0, 0.5)
    with pytest.raises(ValueError, match="d_private"):
        overlap_model(0.5, d_private=0)
    with pytest.raises(ValueError, match="dims is empty"):
        random_linear_model([])
    with pytest.raises(ValueError, match="noise"):
        LatentLinearModel({"a": np.ones((1, 2))}, np.ones((1, 2)), noise=-1.0)
    with pytest.raises(ValueError, match="expected"):
        LatentLinearModel({"a": np.ones((1, 3))}, np.ones((1, 2)))


def test_unknown_modality_lists_valid_names():
    model = overlap_model(0.5, d_shared=1, d_private=1)
    with pytest.raises(ValueError, match=r"unknown modality name\(s\) \['m9'\]; valid names are \['m1', 'm2', 'm3', 'm4'\]"):
        model.moments(["m1", "m9"])
    with pytest.raises(ValueError, match="empty"):
        model.moments([])


def test_random_linear_model_target_is_linear_in_views():
    model = random_linear_model([2, 3], n_outputs=2, noise=0.0, seed=4)
    data = model.sample(50, seed=0)
    x = np.concatenate(list(data.views.values()), axis=1)
    coef = np.linalg.lstsq(x, data.y, rcond=None)[0]
    np.testing.assert_allclose(x @ coef, data.y, atol=1e-9)
    assert modality_names(2) == model.modalities
