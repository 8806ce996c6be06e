"""Fix round r2: findings C, D, E, K, L, O of the hostile review of mmtheory.checks (each test fails before the fix)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmtheory.checks import Verdict, all_of, any_of, decide_positive, level_label
from mmtheory.checks.ogm import decide_difference
from mmtheory.checks.realdata import check_ogmge_fusions
from mmtheory.checks.sequential import plan_looks, seeds_needed, sequential_level, until_all_decided
from mmtheory.checks.theory import by_construction, check_selection
from mmtheory.claims import CLAIMS, validate_record


# ------------------------------------------------------------------ C: duplicates need a trial id
def _cell(n=5, seed=0):
    r = np.random.default_rng(seed)
    base = r.uniform(0.1, 0.2, n)
    return pd.DataFrame(dict(w=0.0, m=100, regret_rule=base, regret_smaller=base + 0.01 + 0.02 * r.normal(size=n)))


def test_selection_requires_a_trial_column():
    cell = _cell()
    with pytest.raises(ValueError, match="trial"):
        check_selection(cell, "rule", ["smaller"])
    # the same rows copied 20 times are refused, not turned into a narrow interval
    with pytest.raises(ValueError, match="duplicated rows"):
        check_selection(pd.concat([cell.assign(trial=np.arange(5))] * 20), "rule", ["smaller"])
    assert check_selection(cell.assign(trial=np.arange(5)), "rule", ["smaller"]).status in ("holds", "inconclusive")


def test_selection_experiments_carry_trial():
    from mmtheory.experiments.selection import rule_regrets, selection_trials

    kw = dict(kappa=1.0, head_radius=3.0, n_draws=20, seed=0, world_seed=0)
    frame = rule_regrets(selection_trials([40], [0.0], 3, **kw), {"rule": 0.5})
    assert "trial" in frame.columns and not frame.duplicated(["w", "m", "trial"]).any()


# ------------------------------------------------------------------ D: exact path only for closed-form values
@pytest.mark.parametrize("values", [[0.2, 0.2, 0.2], [0.0, 0.0, 0.0], [-0.2, -0.2, -0.2]])
def test_measured_values_with_zero_spread_are_inconclusive(values):
    v = decide_positive(values, ours="", units="points", what="acc diff")
    assert v.status == "inconclusive" and "zero observed spread" in v.reason
    assert v.interval is None and v.details["p_holds"] == 1.0 and v.details["p_differs"] == 1.0
    # the caller can mark closed-form values: then they are decided exactly
    exact = decide_positive(values, ours="", units="points", what="closed form", exact=True)
    assert exact.status == ("holds" if values[0] > 0 else "differs") and exact.details["exact"]


def test_ogm_difference_with_zero_spread_is_inconclusive():
    a = pd.Series([70.0, 71.0, 72.0])
    v = decide_difference(a + 0.2, a, ours="", what="ogm-ge minus baseline")
    assert v.status == "inconclusive" and "zero observed spread" in v.reason


def test_zero_spread_does_not_decide_a_combination():
    spread = decide_positive([1.0, 1.2, 0.9, 1.1], ours="", units="points", what="a")
    flat = decide_positive([0.0, 0.0, 0.0, 0.0], ours="", units="points", what="b")
    assert all_of({"a": spread, "b": flat}, ours="").status == "inconclusive"
    assert any_of({"b": flat}, ours="").status == "inconclusive"


# ------------------------------------------------------------------ E: parts and combination at one level
def test_all_of_and_any_of_refuse_parts_at_another_level():
    d = [1.0, 1.3, 0.8, 1.1, 0.9]
    nominal = sequential_level(plan_looks(3, 2, 10))
    parts = {"a": decide_positive(d, ours="", units="points", what="a", level=nominal),
             "b": decide_positive(d, ours="", units="points", what="b", level=nominal)}
    for combine in (all_of, any_of):
        with pytest.raises(ValueError, match="another level"):
            combine(parts, ours="")
        out = combine(parts, ours="", level=nominal)
        assert out.status == "holds" and out.details["level"] == pytest.approx(nominal)
    # nested combinations carry their level on
    with pytest.raises(ValueError, match="another level"):
        all_of({"x": all_of(parts, ours="", level=nominal)}, ours="")


def _fusion_runs():
    rows = []
    r = np.random.default_rng(1)
    for fusion in ("concat", "sum"):
        for seed in range(6):
            base = 60 + r.normal()
            rows += [dict(fusion=fusion, method="baseline", seed=seed, last_test_acc=base),
                     dict(fusion=fusion, method="ogm-ge", seed=seed, last_test_acc=base + 2 + 0.5 * r.normal())]
    return pd.DataFrame(rows)


def test_realdata_fusions_combine_at_the_level_passed():
    nominal = sequential_level(plan_looks(3, 2, 10))
    v = check_ogmge_fusions(_fusion_runs(), level=nominal)  # raised before: Holm at 95 % over 98.5 % parts
    assert v.details["level"] == pytest.approx(nominal)
    assert level_label(nominal) in v.interval_method


# ------------------------------------------------------------------ K: power_shown only qualifies a holds
def test_by_construction_clears_power_shown():
    v = Verdict("holds", ours="", margin=1.0, reason="r", power_shown=True)
    assert by_construction(v, "theorem").power_shown is None
    assert by_construction(Verdict("holds", ours="", margin=1.0, reason="r", power_shown=False), "t").power_shown is None


def test_validate_record_flags_power_shown_on_a_non_holds():
    cid = next(iter(CLAIMS))
    path = Path(f"/tmp/{cid}.json")
    rec = dict(id=cid, status="vacuous", margin=0.0, ours="", reason="r", power_shown=None)
    assert validate_record(rec, path, "quick") is None
    for shown in (True, False):
        for status in ("vacuous", "differs", "inconclusive"):
            problem = validate_record(dict(rec, status=status, power_shown=shown), path, "quick")
            assert problem is not None and "power_shown" in problem
        assert validate_record(dict(rec, status="holds", power_shown=shown), path, "quick") is None


# ------------------------------------------------------------------ L: the per-look level is printed as it is
def test_interval_label_does_not_round_the_level():
    assert level_label(0.95) == "95%" and level_label(0.98524) == "98.52%"
    v = decide_positive([1.0, 1.2, 0.9, 1.1], ours="", units="points", what="a", level=0.98524)
    assert v.interval_method.startswith("98.52% paired t over 4")


# ------------------------------------------------------------------ O: seeds needed at the per-look level
def test_seeds_needed_is_sized_at_the_per_look_level():
    looks = plan_looks(3, 2, 10)
    nominal = sequential_level(looks)
    assert seeds_needed(0.3, 1.0, level=nominal) > seeds_needed(0.3, 1.0)

    def run_round(seeds):
        return pd.DataFrame({"diff": [0.3 + np.random.default_rng([s, 7]).standard_normal() for s in seeds]})

    def check(res, level):
        return decide_positive(res["diff"].to_numpy(), ours="", units="points", what="diff", level=level)

    _, out = until_all_decided(run_round, {"c": check}, first=3, step=2, cap=10)
    v = out["c"]
    assert v.details["stopped"] == "cap reached"
    d = v.details
    assert d["seeds_needed"] == seeds_needed(d["mean"], d["sd"], level=nominal)
    assert f"{level_label(nominal)} per look" in v.interval_method
