import numpy as np
import pytest

from mmtheory.data.synthetic import Moments, overlap_eta, overlap_model, random_linear_model
from mmtheory.theory.framework import all_subsets, concat_views, subset_map
from mmtheory.theory.linear import best_linear_risk, fit_erm, gamma, latent_quality, linear_risk


@pytest.mark.parametrize("w", [1.0, 0.8, 0.5, 0.2, 0.0])
def test_closed_form_matches_formula(w):
    model = overlap_model(w, d_shared=3, d_private=4)
    for subset in all_subsets(model.modalities):
        assert latent_quality(model.moments(subset)) == pytest.approx(
            overlap_eta(w, len(subset), d_private=4), abs=1e-9)


def test_closed_form_matches_brute_force_least_squares():
    """eta from the moments equals the residual of an actual least-squares fit on a huge sample."""
    model = overlap_model(0.4, d_shared=2, d_private=3, noise=0.2, seed=5)
    train = model.sample(100_000, seed=1)
    test = model.sample(100_000, seed=2)
    for subset in [("m1",), ("m2", "m4"), model.modalities]:
        x_tr, x_te = concat_views(train.views, subset), concat_views(test.views, subset)
        coef = np.linalg.lstsq(x_tr, train.y, rcond=None)[0]
        brute = np.mean(np.sum((x_te @ coef - test.y) ** 2, axis=1)) - model.oracle_risk
        exact = latent_quality(model.moments(subset), oracle_risk=model.oracle_risk)
        assert brute == pytest.approx(exact, rel=0.02, abs=0.01)


def test_encoder_bottleneck_and_invariance():
    model = overlap_model(0.5, d_shared=2, d_private=2)
    mom = model.moments(["m1"])
    d = mom.cov_xx.shape[0]
    rng = np.random.default_rng(0)
    full = rng.standard_normal((d, d))  # invertible: no information lost
    assert latent_quality(mom, full) == pytest.approx(latent_quality(mom), abs=1e-9)
    # an invertible reparametrisation of the latent does not change eta
    a = rng.standard_normal((d, 2))
    assert latent_quality(mom, a @ rng.standard_normal((2, 2))) == pytest.approx(latent_quality(mom, a), abs=1e-9)
    # a zero encoder loses everything: eta = trace(cov_yy)
    assert latent_quality(mom, np.zeros((d, 1))) == pytest.approx(np.trace(mom.cov_yy))


def test_gamma_hand_made():
    # y = x1 + x2 with independent unit views: eta({1,2}) = 0, eta({1}) = 1 -> gamma = -1
    mom = Moments(np.eye(2), np.array([[1.0], [1.0]]), np.array([[2.0]]), {"a": slice(0, 1), "b": slice(1, 2)})
    assert gamma(mom, ["a", "b"], ["a"]) == pytest.approx(-1.0)
    assert gamma(mom, ["a"], ["a", "b"]) == pytest.approx(1.0)
    # with a useless encoder on the larger set, gamma flips sign
    assert gamma(mom, ["a", "b"], ["a"], encoder_larger=np.array([[0.0], [0.0]])) == pytest.approx(1.0)
    # a second view identical in information to the first: gamma = 0
    dup = Moments(np.ones((2, 2)), np.ones((2, 1)), np.ones((1, 1)), {"a": slice(0, 1), "b": slice(1, 2)})
    assert gamma(dup, ["a", "b"], ["a"]) == pytest.approx(0.0, abs=1e-12)


def test_encoder_shape_error():
    mom = overlap_model(0.5, d_shared=1, d_private=1).moments(["m1"])
    with pytest.raises(ValueError, match=r"encoder must have shape \(d, r\) with d = 2"):
        latent_quality(mom, np.ones((3, 1)))
    with pytest.raises(ValueError, match="NaN"):
        latent_quality(mom, np.full((2, 1), np.nan))


def test_fit_erm_full_rank_is_least_squares():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
    erm = fit_erm(x, y)
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    np.testing.assert_allclose(erm.predict(x), x @ coef, atol=1e-10)
    assert erm.train_risk == pytest.approx(np.mean(np.sum((x @ coef - y) ** 2, 1)))


def test_fit_erm_rank_one_beats_random_rank_one_factorisations():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((60, 4)), rng.standard_normal((60, 3))
    erm = fit_erm(x, y, rank=1)
    assert erm.encoder.shape == (4, 1) and erm.head.shape == (1, 3)
    for _ in range(200):
        a, b = rng.standard_normal((4, 1)), None
        z = x @ a
        b = np.linalg.lstsq(z, y, rcond=None)[0]
        assert erm.train_risk <= np.mean(np.sum((z @ b - y) ** 2, 1)) + 1e-10


def test_fit_erm_intercept_and_errors():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((30, 2)) + 5
    y = x @ np.array([1.0, -2.0]) + 3
    assert fit_erm(x, y, fit_intercept=True).train_risk == pytest.approx(0.0, abs=1e-18)
    with pytest.raises(ValueError, match="same m"):
        fit_erm(x, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        fit_erm(np.full((3, 2), np.inf), np.ones(3))
    with pytest.raises(ValueError, match="rank"):
        fit_erm(x, y, rank=0)


def test_linear_risk_and_best_risk():
    model = random_linear_model([2, 2], n_outputs=2, noise=0.3, seed=0)
    mom = model.moments()
    b = np.linalg.pinv(mom.cov_xx) @ mom.cov_xy
    assert linear_risk(mom, b) == pytest.approx(best_linear_risk(mom))
    assert best_linear_risk(mom) == pytest.approx(model.oracle_risk)  # y is linear in x plus noise
    with pytest.raises(ValueError, match="coef must have shape"):
        linear_risk(mom, np.ones((3, 2)))


def test_subset_map_and_errors():
    views = {"a": np.ones((3, 2)), "b": np.ones((3, 1))}
    zeroed = subset_map(views, ["a"])
    assert np.all(zeroed["b"] == 0) and np.all(zeroed["a"] == 1)
    assert list(subset_map(views, ["b"], missing="drop")) == ["b"]
    with pytest.raises(ValueError, match=r"unknown modality name\(s\) \['c'\]; valid names are \['a', 'b'\]"):
        subset_map(views, ["c"])
    with pytest.raises(ValueError, match="empty"):
        subset_map(views, [])
    with pytest.raises(ValueError, match="mismatched sample counts"):
        subset_map({"a": np.ones((3, 2)), "b": np.ones((4, 1))}, ["a"])
    with pytest.raises(ValueError, match="NaN or infinite"):
        subset_map({"a": np.array([[np.nan]])}, ["a"])
    with pytest.raises(ValueError, match="missing must be"):
        subset_map(views, ["a"], missing="drop-it")


def test_fit_erm_from_moments_reaches_fit_erm_eta():
    """The Gram-matrix ERM (one Gram matrix sliced per set) gives fit_erm's latent quality within float tolerance."""
    from mmtheory.data.synthetic import overlap_model
    from mmtheory.theory.framework import concat_views
    from mmtheory.theory.linear import fit_erm_from_moments

    for w, n in [(0.5, 300), (1.0, 300), (0.0, 40)]:  # full rank, rank-deficient views (w = 1), fewer samples than features
        model = overlap_model(w, d_shared=3, d_private=4)
        data = model.sample(n, seed=3)
        for subset in (["m1"], ["m1", "m2"], list(model.modalities)):
            x = concat_views(data.views, subset)
            mom = model.moments(subset)
            old = latent_quality(mom, fit_erm(x, data.y).encoder)
            enc = fit_erm_from_moments(x.T @ x / n, x.T @ data.y / n)
            assert latent_quality(mom, enc) == pytest.approx(old, rel=1e-6, abs=1e-8), (w, n, subset)
            low = fit_erm_from_moments(x.T @ x / n, x.T @ data.y / n, rank=2)
            assert low.shape[1] == 2
            assert latent_quality(mom, low) == pytest.approx(latent_quality(mom, fit_erm(x, data.y, rank=2).encoder),
                                                             rel=1e-6, abs=1e-8)
    with pytest.raises(ValueError, match="cov_xx must be"):
        fit_erm_from_moments(np.eye(3), np.ones((2, 1)))


def test_best_linear_risk_batched_equals_the_loop():
    from mmtheory.data.synthetic import overlap_model
    from mmtheory.theory.linear import best_linear_risk, best_linear_risk_batched

    model = overlap_model(0.3, d_shared=2, d_private=3)
    mom = model.moments(["m1", "m2"])
    rng = np.random.default_rng(0)
    encs = rng.standard_normal((6, mom.cov_xx.shape[0], 4))
    encs[1, :, 2:] = 0.0  # a rank-deficient encoder
    encs[2] = 0.0  # an all-zero encoder: explains nothing
    got = best_linear_risk_batched(mom, encs)
    want = [best_linear_risk(mom, e) for e in encs]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="encoders must have shape"):
        best_linear_risk_batched(mom, encs[0])
