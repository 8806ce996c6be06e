"""Checks of the theory claims: each on a fixed frame where the claim must hold, one where it must not,
and on a small run of the chapter's broken world, which must not come out "holds"."""

import math

import numpy as np
import pandas as pd
import pytest

from mmtheory.checks import against_broken_world
from mmtheory.checks.theory import (binomial_interval, by_construction, check_bound, check_complexity_grows,
                                    check_eta_falls_with_modalities, check_eta_rises_with_overlap, check_nested,
                                    check_paper_values, check_principle, check_prop1, check_prop1_bottleneck,
                                    check_prop1_finite, check_selection, check_zero_eta, crossover_m)
from mmtheory.data.synthetic import overlap_eta, overlap_model


# ----------------------------------------------------------------------------- helpers
def test_binomial_interval_known_values():
    lo, hi = binomial_interval(0, 400)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 400), rel=1e-6)
    lo, hi = binomial_interval(5, 10)
    assert lo < 0.5 < hi and lo == pytest.approx(1 - hi)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        binomial_interval(3, 2)


def test_wrong_frame_says_what_is_missing():
    with pytest.raises(ValueError, match="missing \\['eta_best'\\]"):
        check_nested(pd.DataFrame({"set": ["m1"]}), 1e-9)
    with pytest.raises(TypeError, match="DataFrame"):
        check_prop1([1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        check_prop1(pd.DataFrame(columns=["bottleneck", "noise", "m_factor", "gamma", "tol"]))


# ----------------------------------------------------------------------------- 01 nested
def test_nested_fixed_frames():
    good = pd.DataFrame({"set": ["m1", "m2", "m1,m2"], "eta_best": [2.0, 3.0, 1.0]})
    assert check_nested(good, 1e-9).status == "holds"
    bad = pd.DataFrame({"set": ["m1", "m2", "m1,m2"], "eta_best": [2.0, 3.0, 2.5]})
    v = check_nested(bad, 1e-9)
    assert v.status == "differs" and v.margin == pytest.approx(0.5) and v.details["worst_pair"] == ["m1,m2", "m1"]
    assert by_construction(check_nested(good, 1e-9), "theorem").status == "vacuous"


def test_nested_broken_class_does_not_hold():
    from mmtheory.experiments.synthetic import best_eta_by_subset

    model = overlap_model(0.5, d_shared=3, d_private=3, seed=0)
    assert check_nested(best_eta_by_subset(model), 1e-9).status == "holds"
    broken = best_eta_by_subset(overlap_model(0.8, d_shared=3, d_private=3, seed=0), encoder="mean")
    assert check_nested(broken, 1e-9).status != "holds"


# ----------------------------------------------------------------------------- 02 synthetic
def _overlap_frame(d_private=10, seeds=(0, 1, 2), jitter=0.0, rng=0):
    r = np.random.default_rng(rng)
    rows = []
    for sd in seeds:
        for n in range(1, 5):
            for w in (0.0, 0.2, 0.5, 0.8, 1.0):
                rows.append(dict(seed=sd, set=",".join(f"m{i + 1}" for i in range(n)), n_observed=n, w=w,
                                 eta_trained=overlap_eta(w, n, d_private=d_private) + jitter * r.standard_normal()))
    return pd.DataFrame(rows)


def test_zero_eta_fixed_frames():
    t = _overlap_frame()
    assert check_zero_eta(t, "eta_trained", where="w1", tol=1e-6).status == "holds"
    assert check_zero_eta(t, "eta_trained", where="all", tol=1e-6).status == "holds"
    t.loc[(t["w"] == 1.0) & (t["n_observed"] == 1), "eta_trained"] = 0.3
    assert check_zero_eta(t, "eta_trained", where="w1", tol=1e-6).status == "differs"
    with pytest.raises(ValueError, match="where"):
        check_zero_eta(t, "eta_trained", where="w0", tol=1e-6)


def test_shape_checks_fixed_frames():
    t = _overlap_frame(jitter=0.01)
    assert check_eta_falls_with_modalities(t).status == "holds"
    assert check_eta_rises_with_overlap(t).status == "holds"
    flat = t.assign(eta_trained=0.0)
    v = check_eta_falls_with_modalities(flat)  # an exact zero step on a strict claim is a tie: differs
    assert v.status == "differs" and v.details["tie"] and v.interval is None
    reversed_ = t.assign(eta_trained=-t["eta_trained"])
    assert check_eta_falls_with_modalities(reversed_).status == "differs"
    assert check_eta_rises_with_overlap(reversed_).status == "differs"


def test_synthetic_broken_worlds_do_not_hold(one_thread):
    from mmtheory.experiments.synthetic import overlap_trained

    kw = dict(d_shared=2, d_private=3, n_train=60, hidden=4, epochs=2, batch_size=30, seeds=[0, 1])
    w = (0.0, 0.5, 1.0)
    trained = overlap_trained(w, **kw)
    broken = overlap_trained(w, private_in_target=False, **kw)
    for check in (check_eta_falls_with_modalities, check_eta_rises_with_overlap):
        v = against_broken_world(check(trained), check(broken), "target ignores the private blocks")
        # the smallest step is the same in every seed (the closed form (1-w)^2 d_p): true by construction, not
        # an interval over floating-point noise (issue 18 item 3)
        assert v.status == "vacuous" and "closed form" in v.reason and v.variant_status != "holds"
    # The zero claims are algebra: untrained encoders reach 0 too, so the combined verdict is vacuous.
    untrained = overlap_trained(w, **dict(kw, epochs=0))
    v = against_broken_world(check_zero_eta(trained, "eta_trained", where="w1", tol=1e-4),
                             check_zero_eta(untrained, "eta_trained", where="w1", tol=1e-4), "untrained")
    assert v.status == "vacuous"


def test_paper_values_fixed_and_broken():
    from mmtheory.experiments.synthetic import paper_table

    paper = paper_table()
    ours = paper.assign(eta_closed_form=[overlap_eta(w, s.count(",") + 1, d_private=100) for s, w in
                                         zip(paper["set"], paper["w"])])
    v = check_paper_values(ours, 0.05)
    assert v.status == "holds" and v.details["cells"] == 12
    off = ours.assign(eta_closed_form=ours["eta_closed_form"] * 0.9)
    assert check_paper_values(off, 0.05).status == "differs"
    zero_mismatch = ours.assign(eta_closed_form=ours["eta_closed_form"] + 1.0)
    assert check_paper_values(zero_mismatch, 0.05).status == "differs"


# ----------------------------------------------------------------------------- 03 Proposition 1
def _prop1_frame(gammas, bottleneck="none", noise=0.0, m_factor=2.0):
    return pd.DataFrame(dict(bottleneck=bottleneck, noise=noise, m_factor=m_factor, gamma=gammas, tol=1e-9))


def test_prop1_fixed_frames():
    assert check_prop1(_prop1_frame([-1.0, -0.5, 0.0])).status == "holds"
    assert check_prop1(_prop1_frame([-1.0, 0.2])).status == "differs"
    noisy = _prop1_frame([-1.0] * 50, noise=0.5)
    assert check_prop1_finite(noisy).status == "holds"
    v = check_prop1_finite(_prop1_frame([-1.0] * 40 + [0.3] * 10, noise=0.5))
    assert v.status == "differs" and v.details["events"] == 10
    rank1 = _prop1_frame([-1.0] * 99 + [0.1], bottleneck="rank1")
    assert check_prop1_bottleneck(rank1).status == "differs"
    assert check_prop1_bottleneck(_prop1_frame([-1.0] * 5, bottleneck="rank1")).status == "holds"
    with pytest.raises(ValueError, match="rank-1"):
        check_prop1_bottleneck(_prop1_frame([-1.0]))


def test_prop1_broken_world_does_not_hold():
    from mmtheory.experiments.proposition1 import proposition1_check

    res = proposition1_check(6, sample_factors=(2.0, math.inf), noise_levels=(0.0, 0.5), seed=3)
    swapped = res.assign(gamma=-res["gamma"])
    assert check_prop1(res).status == "holds"
    assert check_prop1(swapped).status != "holds"
    assert check_prop1_finite(swapped).status != "holds"


# ----------------------------------------------------------------------------- 05 complexity
def _complexity_frame(step, stderr):
    rows = [dict(m=m, n_modalities=k, estimate=(1 + step * k) / math.sqrt(m), stderr=stderr)
            for m in (100, 400) for k in (1, 2, 3)]
    return pd.DataFrame(rows)


def test_complexity_fixed_frames():
    assert check_complexity_grows(_complexity_frame(0.5, 1e-4)).status == "holds"
    assert check_complexity_grows(_complexity_frame(0.0, 1e-3)).status == "inconclusive"
    assert check_complexity_grows(_complexity_frame(-0.5, 1e-4)).status == "differs"
    slopes = pd.Series({"a": -0.2})
    assert check_complexity_grows(_complexity_frame(0.5, 1e-4), slopes).status == "differs"


def test_complexity_broken_world_does_not_hold():
    from mmtheory.experiments.complexity import complexity_by_m, decay_slope
    from mmtheory.experiments.synthetic import nested_sets

    sets = nested_sets(4)
    kw = dict(w=0.5, d_shared=3, d_private=3, n_draws=400, seed=0)
    good = complexity_by_m([100, 400], sets, **kw)
    zeroed = complexity_by_m([100, 400], sets, zero_modalities=["m4"], **kw)
    v = against_broken_world(check_complexity_grows(good, decay_slope(good), slope_tol=0.1),
                             check_complexity_grows(zeroed), "m4 zeroed")
    assert v.status == "holds" and v.variant_status != "holds"
    with pytest.raises(ValueError, match="unknown modalities"):
        complexity_by_m([10], sets, zero_modalities=["m9"], **kw)


# ----------------------------------------------------------------------------- 06 theorems
def _bound_frame(lhs, rhs, ms=(10, 100)):
    n = len(lhs)
    return pd.DataFrame(dict(m=np.repeat(ms, n // len(ms)), thm1_lhs=lhs, thm1_rhs=rhs, thm2_lhs=lhs, thm2_rhs=rhs))


def test_bound_fixed_frames():
    ok = _bound_frame(np.zeros(400), np.ones(400))
    v = check_bound(ok, 1, 0.1)
    assert v.status == "holds" and v.details["tightness"] is None  # left side 0: no finite factor
    fail = _bound_frame(np.r_[np.full(100, 2.0), np.zeros(100)], np.ones(200))
    assert check_bound(fail, 1, 0.1).status == "differs"
    few = _bound_frame(np.zeros(20), np.ones(20))
    assert check_bound(few, 1, 0.1).status == "inconclusive"  # 20 clean trials cannot show a rate <= 5 %
    with pytest.raises(ValueError, match="theorem"):
        check_bound(ok, 3, 0.1)


def _trials_frame(small_diff, large_diff, n=20, rng=0):
    r = np.random.default_rng(rng)
    rows = []
    for m, d in ((25, small_diff), (400, 0.0), (3200, large_diff)):
        for t in range(n):
            rows.append(dict(m=m, trial=t, r_N=1.0, r_M=1.0 + d + 0.01 * r.standard_normal()))
    return pd.DataFrame(rows)


def test_principle_fixed_frames():
    v = check_principle(_trials_frame(0.5, -0.1))
    assert v.status == "holds" and v.details["crossover_m"] == 3200
    assert check_principle(_trials_frame(0.5, 0.1)).status == "differs"
    assert check_principle(_trials_frame(0.5, 0.0)).status == "inconclusive"
    assert crossover_m(_trials_frame(0.5, 0.3)) is None


def test_theorem_broken_worlds():
    from mmtheory.experiments.theorems import add_bounds, crossovers, loss_constants, theorem_trials, tightness, \
        two_modality_world

    world = two_modality_world(5, 40, kappa=0.3, seed=0)  # the chapter's world
    flat = two_modality_world(5, 40, kappa=0.0, seed=0)
    kw = dict(encoder_radius=1.0, head_radius=3.0, n_draws=50)
    trials = theorem_trials(world, [25, 3200], 8, **kw)
    v = against_broken_world(check_principle(trials), check_principle(theorem_trials(flat, [25, 3200], 8, **kw)),
                             "kappa = 0")
    assert v.status == "holds" and v.variant_status != "holds"
    # The bound cannot tell a sign error in gamma_S: the combined verdict is vacuous.
    L, C = loss_constants(world, encoder_radius=1.0, head_radius=3.0)
    bounded = add_bounds(trials, lipschitz=L, loss_bound=C, delta=0.1)
    flipped = add_bounds(trials.assign(gamma_S=-trials["gamma_S"]), lipschitz=L, loss_bound=C, delta=0.1)
    assert check_bound(bounded, 1, 0.1).status in ("holds", "inconclusive")
    assert check_bound(flipped, 1, 0.1).status == check_bound(bounded, 1, 0.1).status
    t = tightness(bounded)
    assert (t["thm1_factor"].abs() > 10).all() and list(t["m"]) == [25, 3200]
    cross = crossovers(bounded)
    assert list(cross["quantity"])[2] == "Theorem 1 right side" and pd.isna(cross["crossover_m"].iloc[2])


# ----------------------------------------------------------------------------- 07 selection
def test_selection_fixed_frames():
    n = 30
    r = np.random.default_rng(0)
    base = pd.DataFrame({"regret_larger": r.uniform(0.5, 1, n), "regret_smaller": r.uniform(0.2, 0.4, n),
                         "regret_validation": r.uniform(0.1, 0.3, n), "w": 0.0, "m": 100,
                         "trial": np.arange(n)})
    good = base.assign(regret_rule=0.01 * r.uniform(0, 1, n))
    v = check_selection(good, "rule", ["larger", "smaller", "validation"])
    assert v.status == "holds" and v.details["best_alternative"] == "validation"
    bad = base.assign(regret_rule=r.uniform(0.6, 0.9, n))
    assert check_selection(bad, "rule", ["larger", "smaller", "validation"]).status == "differs"
    same = base.assign(regret_rule=base["regret_smaller"])
    assert check_selection(same, "rule", ["smaller"]).status == "holds"  # an exact tie is "at least as good"
    with pytest.raises(ValueError, match="regret_rule"):
        check_selection(base, "rule", ["larger"])


def test_selection_broken_world_does_not_hold():
    from mmtheory.experiments.selection import rule_regrets, selection_trials, tune_scale

    kw = dict(kappa=1.0, head_radius=3.0, n_draws=50, seed=0, world_seed=0)
    shuffled = rule_regrets(selection_trials([40, 400], [0.0], 4, shuffle_labels=True, **kw), {"rule": 0.5})
    assert check_selection(shuffled, "rule", ["larger", "smaller", "validation"]).status != "holds"
    trials = selection_trials([40, 400], [0.0], 4, **kw)
    reg = rule_regrets(trials, {"theorem": "4L", "free": 0.0})
    assert (reg["regret_free"] == reg["regret_larger"]).all()
    assert (reg[[c for c in reg if c.startswith("regret_")]] >= 0).all().all()
    assert not reg["chose_theorem"].any()  # 4L times the complexity gap outweighs every gain here
    assert tune_scale(trials, [0.0, 1.0]) in (0.0, 1.0)
    with pytest.raises(ValueError, match="val_fraction"):
        selection_trials([40], [0.0], 1, val_fraction=1.5)
