"""Checks of the experiment claims (IEMOCAP / stand-in tables, OGM-GE, HP-eta-weak): both outcomes on fixed
frames, the uncertainty rule, clear errors, and broken worlds that must not come out "holds"."""

import numpy as np
import pandas as pd
import pytest

from mmtheory.checks import Verdict, against_broken_world
from mmtheory.checks import ogm as ck


def _runs(values: dict[str, list[float]], column: str = "last_test_acc") -> pd.DataFrame:
    rows = [{"method": m, "seed": s, column: v} for m, vals in values.items() for s, v in enumerate(vals)]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- OGM-GE claims on fixed frames


def test_imbalance_holds_differs_inconclusive():
    holds = _runs({"baseline": [60, 61, 59], "audio-only": [50, 52, 51], "visual-only": [70, 71, 70.5]})
    v = ck.check_imbalance(holds)
    assert v.status == "holds" and v.margin > 0 and v.units == "points"
    assert "visual-only" in v.ours and v.interval[0] > 0
    differs = _runs({"baseline": [80, 81, 79], "audio-only": [50, 52, 51], "visual-only": [70, 71, 70.5]})
    assert ck.check_imbalance(differs).status == "differs"
    noisy = _runs({"baseline": [60, 75, 65], "audio-only": [50, 52, 51], "visual-only": [70, 62, 71]})
    v = ck.check_imbalance(noisy)
    assert v.status == "inconclusive" and v.margin == 0
    assert v.interval[0] < 0 < v.interval[1]


def test_tiny_mean_difference_with_large_seed_spread_is_inconclusive():
    # the H21-standin-t2 situation: 0.02 points against a seed std of about 3
    runs = _runs({"baseline": [50.0, 56.0, 44.0], "ogm-ge": [50.02 + 3, 56.02 - 3, 44.02]})
    assert ck.check_ogmge(runs).status == "inconclusive"


def test_ogmge_and_weak_branch():
    runs = pd.DataFrame({"method": ["baseline"] * 3 + ["ogm-ge"] * 3, "seed": [0, 1, 2] * 2,
                         "last_test_acc": [60, 62, 61, 66, 67, 66.5],
                         "last_test_acc_visual": [30, 31, 29, 45, 47, 44],
                         "probe_acc_visual": [70, 71, 70, 75, 76, 75.5]})
    assert ck.check_ogmge(runs).status == "holds"
    v = ck.check_weak_branch(runs, probe="probe_acc_visual")
    assert v.status == "holds" and set(v.details["parts"]) == {"branch", "probe"}
    # the probe falls: the weak-branch claim (branch AND probe) differs
    worse = runs.assign(probe_acc_visual=[70, 71, 70, 60, 61, 60.5])
    assert ck.check_weak_branch(worse, probe="probe_acc_visual").status == "differs"
    # without the probe it is decided on the branch alone
    assert ck.check_weak_branch(worse).status == "holds"


def test_single_seed_uses_the_test_set_interval():
    one = _runs({"baseline": [51.7], "ogm-ge": [61.9]})
    assert ck.check_ogmge(one).status == "inconclusive"  # no spread, no n_test: no interval
    v = ck.check_ogmge(one, n_test=744)
    # one seed: the test-clip interval alone would say holds, but a single run cannot hold (issue 18 item 5)
    assert v.status == "inconclusive" and "744 test samples" in v.interval_method
    assert v.details["single_run"] and v.details["test_interval_says"] == "holds" and "single run" in v.reason
    close = _runs({"baseline": [51.7], "ogm-ge": [53.0]})
    assert ck.check_ogmge(close, n_test=744).details["test_interval_says"] == "inconclusive"
    paper = _runs({"baseline": [51.7], "audio-only": [54.4]})
    assert ck.check_imbalance(paper, unimodal=("audio-only",), n_test=744).status == "inconclusive"
    v = ck.check_imbalance(paper, unimodal=("audio-only",), n_test=20000)
    assert v.status == "inconclusive" and v.details["test_interval_says"] == "holds"


def test_runs_from_results_table():
    table = pd.DataFrame({"run": ["audio-only", "visual-only", "baseline", "ogm-ge"],
                          "paper_test_acc": [54.4, np.nan, 51.7, 61.9],
                          "best_test_acc": [55.0, 40.0, 52.0, 62.0], "last_test_acc": [54.0, 39.0, 51.0, 61.0],
                          "last_test_acc_visual": [np.nan, 39.0, 20.0, 35.0]})
    runs = ck.runs_from_results_table(table)
    with pytest.raises(ValueError, match="best on the test set"):
        ck.check_ogmge(runs, acc="best_test_acc", n_test=744)
    assert ck.check_ogmge(runs, n_test=744).details["test_interval_says"] == "holds"
    assert ck.check_weak_branch(runs, n_test=744).status == "inconclusive"  # single run
    with pytest.raises(ValueError, match="missing \\['last_test_acc_visual'\\]"):
        ck.runs_from_results_table(table.drop(columns="last_test_acc_visual"))


def test_eta_weak_per_fusion():
    rows = []
    for fusion, drop in [("concat", 5.0), ("sum", 4.0)]:
        for seed in range(3):
            base = 30.0 + 1.0 * seed  # probe test error in percent
            rows += [dict(fusion=fusion, method="baseline", seed=seed, modality="visual", probe_err=base),
                     dict(fusion=fusion, method="ogm-ge", seed=seed, modality="visual",
                          probe_err=base - drop + 0.2 * seed)]
    probes = pd.DataFrame(rows)
    v = ck.check_eta_weak(probes)
    assert v.status == "holds" and set(v.details["parts"]) == {"concat", "sum"}
    assert "concat -4.80" in v.ours and "sum -3.80" in v.ours  # mean of -5 + 0.2 * seed (points)
    # one fusion where OGM-GE raises eta: differs
    up = probes.copy()
    mask = (up["fusion"] == "sum") & (up["method"] == "ogm-ge")
    up.loc[mask, "probe_err"] += 8.0
    assert ck.check_eta_weak(up).status == "differs"


def test_clear_errors():
    runs = _runs({"baseline": [0.6, 0.61], "ogm-ge": [0.65, 0.66]})
    with pytest.raises(ValueError, match="looks like fractions"):
        ck.check_ogmge(runs)
    with pytest.raises(ValueError, match="no method \\['ogm-ge'\\]"):
        ck.check_ogmge(_runs({"baseline": [60, 61]}))
    with pytest.raises(ValueError, match="missing \\['last_test_acc'\\]"):
        ck.check_ogmge(pd.DataFrame({"method": ["baseline"], "seed": [0]}))
    dup = pd.concat([_runs({"baseline": [60], "ogm-ge": [61]})] * 2)
    with pytest.raises(ValueError, match="more than one row"):
        ck.check_ogmge(dup)
    with pytest.raises(ValueError, match="probe_err must be an error rate"):
        ck.check_eta_weak(pd.DataFrame(dict(fusion=["c"], method=["baseline"], seed=[0], modality=["visual"], probe_err=[130.0])))
    with pytest.raises(ValueError, match="at least one part"):
        ck.all_of({}, ours="")


def test_all_of_margins():
    h1 = Verdict("holds", ours="", margin=2.0, reason="a")
    h2 = Verdict("holds", ours="", margin=0.5, reason="b")
    d = Verdict("differs", ours="", margin=3.0, reason="c")
    i = Verdict("inconclusive", ours="", margin=0.0, reason="d")
    assert ck.all_of({"a": h1, "b": h2}, ours="x").margin == 0.5
    assert ck.all_of({"a": h1, "c": d, "d": i}, ours="x").status == "differs"
    assert ck.all_of({"a": h1, "d": i}, ours="x").status == "inconclusive"


# ---------------------------------------------------------------- broken worlds (real small runs)


@pytest.fixture(scope="module")
def small_standin():
    from mmtheory import report
    from mmtheory.experiments.ogm import broken_worlds, run_standin

    report.setup(0, threads=1)
    kw = dict(n_train=300, n_test=600, seeds=tuple(range(6)), epochs=25, modulation_end=12)  # 3 seeds: inconclusive
    real = run_standin(methods=("baseline", "ogm-ge"), **kw)
    broken = broken_worlds(real=real, **kw)
    return real.summary, {k: v.summary for k, v in broken.items()}  # accuracies in percent, as every result frame


def test_imbalance_not_holds_without_imbalance(small_standin):
    real, broken = small_standin
    assert ck.check_imbalance(real).status == "holds"
    assert ck.check_imbalance(broken["balanced"]).status != "holds"


def test_ogmge_not_holds_with_alpha_zero(small_standin):
    _, broken = small_standin
    assert ck.check_ogmge(broken["alpha0"]).status != "holds"
    assert ck.check_weak_branch(broken["alpha0"], probe="probe_acc_visual").status != "holds"


def test_against_broken_world_marks_vacuous():
    ok = ck.check_ogmge(_runs({"baseline": [60, 61, 59], "ogm-ge": [66, 67, 66]}))
    v = against_broken_world(ok, ok, "same world")
    assert v.status == "vacuous" and v.variant == "same world"


# ---------------------------------------------------------------- IEMOCAP / stand-in tables on fixed frames

from mmtheory.checks import experiments as ce  # noqa: E402


def _sweep(acc: dict[str, list[float]], eta: dict[str, list[float]] | None = None, ratio: float = 1.0) -> pd.DataFrame:
    rows = []
    for s, vals in acc.items():
        for seed, a in enumerate(vals):
            row = {"set": s, "ratio": ratio, "seed": seed, "test_acc": a}
            if eta is not None:
                row["eta_hat"] = eta[s][seed]
            rows.append(row)
    return pd.DataFrame(rows)


GROWING = {"T": [50.0, 50.5, 49.5], "TV": [52.0, 52.6, 51.3], "TA": [54.0, 54.2, 53.5], "TVA": [55.0, 55.5, 54.6]}


def test_table1_holds_differs_inconclusive():
    v = ce.check_table1(_sweep(GROWING))
    assert v.status == "holds" and v.margin > 0 and set(v.details["parts"]) == {"TV>T", "TA>T", "TVA>TA", "TVA>TV"}
    shrinking = {k: [-a for a in vals] for k, vals in GROWING.items()}
    assert ce.check_table1(_sweep({k: [100 + a for a in v] for k, v in shrinking.items()})).status == "differs"
    # TVA vs TV: +0.02 points on average against a seed spread of about 3: inconclusive, not holds
    noisy = dict(GROWING, TVA=[52.0 + 3.0, 52.62 - 3.0, 51.36])
    v = ce.check_table1(_sweep(noisy))
    assert v.status == "inconclusive" and v.margin == 0


def test_table2_needs_both_ends():
    big = _sweep(GROWING, ratio=1.0)
    small_beaten = _sweep({"T": [20.0, 21, 19], "TV": [22.0, 22.5, 21.8], "TA": [25.0, 26.0, 25.5],
                           "TVA": [20.0, 21.0, 20.5]}, ratio=1e-4)
    v = ce.check_table2(pd.concat([big, small_beaten]))
    assert v.status == "holds"
    same = _sweep({k: [20.0, 30.0, 25.0] for k in GROWING}, ratio=1e-4)  # one sample: every set predicts alike
    # equal measured accuracies in every seed: zero observed spread is no interval, so no decision
    v = ce.check_table2(pd.concat([big, same]))
    assert v.status == "inconclusive" and "zero observed spread" in v.reason
    tv_best = dict(GROWING, TV=[60.0, 61.0, 60.5])
    assert ce.check_table2(pd.concat([_sweep(tv_best), small_beaten])).status == "differs"


def test_table3_signs():
    # eta falls (better) exactly where accuracy rises: agree
    eta = {k: [100 - a - 5 for a in v] for k, v in GROWING.items()}
    assert ce.check_table3(_sweep(GROWING, eta)).status == "holds"
    # eta rises where accuracy rises: opposite signs, decided
    eta_bad = {k: [a - 5 for a in v] for k, v in GROWING.items()}
    assert ce.check_table3(_sweep(GROWING, eta_bad)).status == "differs"
    # a noisy quality gap: undecided
    eta_noisy = dict(eta, TA=[eta["T"][0] - 6, eta["T"][1] + 6, eta["T"][2]])
    assert ce.check_table3(_sweep(GROWING, eta_noisy)).status == "inconclusive"


def test_table_checks_clear_errors():
    with pytest.raises(ValueError, match="missing \\['eta_hat'\\].*refit_epochs > 0"):
        ce.check_table3(_sweep(GROWING))
    with pytest.raises(ValueError, match="no run at ratio 0.5"):
        ce.check_table1(_sweep(GROWING), ratio=0.5)
    with pytest.raises(ValueError, match="no set \\['TVA'\\]"):
        ce.check_table1(_sweep({k: v for k, v in GROWING.items() if k != "TVA"}))
    with pytest.raises(ValueError, match="cannot replace \\['sound'\\]"):
        ce.noise_views({"text": np.zeros((3, 2))}, ["sound"])
    with pytest.raises(ValueError, match="at least one part"):
        ce.any_of({}, ours="")


def test_broken_world_helpers():
    views = {"text": np.ones((5, 2), np.float32), "audio": np.ones((5, 3), np.float32)}
    out = ce.noise_views(views, ["audio"], seed=1)
    assert out["text"] is views["text"] and out["audio"].shape == (5, 3) and out["audio"].std() > 0
    y = np.arange(10)
    s = ce.shuffled_labels(y, seed=0)
    assert sorted(s) == list(y) and not np.array_equal(s, y)


@pytest.mark.parametrize("world", ["noise", "shuffled"])
def test_table_checks_not_holds_on_broken_worlds(world):
    """A small stand-in sweep: where video and audio are noise, Tables 1 and 2 must not hold; with
    shuffled labels, Table 3 must not hold."""
    from mmtheory.data import iemocap
    from mmtheory.experiments.modality_sweep import modality_sweep

    data = iemocap.standin(0)
    rows = np.concatenate([np.flatnonzero(data.split == "train")[:1500], np.flatnonzero(data.split == "test")[:600]])
    views, labels = {k: v[rows] for k, v in data.views.items()}, data.labels[rows]
    letters = {"+".join(v): k for k, v in iemocap.PAPER_SETS.items()}
    sets = list(iemocap.PAPER_SETS.values())
    kw = dict(train_mask=data.split[rows] == "train", hidden=32, epochs=10, lr=0.01, batch_size=512, seed=0)
    if world == "noise":
        res = modality_sweep(ce.noise_views(views, ["video", "audio"]), labels, sets, [1.0], [0, 1, 2],
                             refit_epochs=0, **kw)
        res["set"] = res["set"].map(letters)
        assert ce.check_table1(res).status != "holds"
        assert ce.check_table2(res).status != "holds"
    else:
        res = modality_sweep(views, ce.shuffled_labels(labels), sets, [1.0], [0, 1, 2], refit_epochs=10, **kw)
        res["set"] = res["set"].map(letters)
        assert ce.check_table3(res).status != "holds"


def test_table3_undecided_part_shows_the_undecided_signs_interval():
    """An inconclusive pair shows the interval its mean belongs to (the undecided sign's), so the panel's
    estimate lies inside the interval printed beside it (it showed the accuracy interval with the eta mean)."""
    from mmtheory.report import deciding_difference

    eta = {k: [100 - a - 5 for a in v] for k, v in GROWING.items()}
    eta_noisy = dict(eta, TA=[eta["T"][0] - 6, eta["T"][1] + 6, eta["T"][2]])
    v = ce.check_table3(_sweep(GROWING, eta_noisy))
    part = v.details["parts"]["TA/T"]
    lo, hi = part["interval"]
    assert part["status"] == "inconclusive" and lo <= part["details"]["mean"] <= hi and lo < 0 < hi
    d = deciding_difference(part)
    assert d["lo"] <= d["estimate"] <= d["hi"]


def test_an_undecided_all_of_shows_a_part_undecided_on_its_own():
    """all_of, inconclusive: the record's interval is a part that is itself undecided, not a part that held alone
    and only missed the family's level (that showed 'interval [1.7, 3.1]' for an inconclusive H21-standin-t3)."""
    from mmtheory.checks import Verdict, all_of

    held = Verdict("holds", ours="", margin=1.7, units="points", interval=(1.7, 3.1), interval_method="95% t",
                   details=dict(p_holds=0.04, p_differs=0.99, mean=2.4, threshold=0.0), reason="held alone")
    open_ = Verdict("inconclusive", ours="", margin=0.0, units="points", interval=(-0.7, 0.4), interval_method="95% t",
                    details=dict(p_holds=0.6, p_differs=0.4, mean=-0.1, threshold=0.0), reason="undecided")
    v = all_of({"TA/T": held, "TVA/TV": open_}, ours="")
    assert v.status == "inconclusive" and tuple(v.interval) == (-0.7, 0.4) and "TVA/TV" in v.reason.split(";")[1]
