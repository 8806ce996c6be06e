r"""Checks of the theory half of Huang et al. (2021): chapters 01-03 and 05-07.

One function per claim. Each takes the chapter's tidy results (the frames returned by
:mod:`mmtheory.experiments`) and returns a :class:`~mmtheory.checks.Verdict`. The chapters run each
check twice, on their world and on a *broken* world where the claim should fail, and combine both with
:func:`~mmtheory.checks.against_broken_world`. Where no world can make the claim false (it is true by
construction), :func:`by_construction` turns the verdict into "vacuous" and says why.

Intervals: paired Student-t over seeds or training sets (:func:`~mmtheory.checks.decide_positive`) and,
for a frequency of events (bound failures, violations of Proposition 1), the exact Clopper-Pearson
interval (:func:`binomial_interval`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mmtheory.checks import Verdict, all_of, decide_positive, level_label, with_failures

__all__ = [
    "binomial_interval", "by_construction", "check_nested", "check_zero_eta", "check_eta_falls_with_modalities",
    "check_eta_rises_with_overlap", "check_paper_values", "check_prop1", "check_prop1_finite",
    "check_prop1_bottleneck", "check_complexity_grows", "check_bound", "check_principle", "check_selection",
]


def _need(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """One clear message when a check is fed the wrong frame."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame; got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing} (have {list(df.columns)}). "
                         "Pass the frame returned by the chapter's experiment function.")
    if df.empty:
        raise ValueError(f"{what} got an empty frame; run the experiment with at least one case.")


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval of a frequency ``k / n``.

    Parameters
    ----------
    k, n : int
        Events and trials, ``0 <= k <= n``, ``n >= 1``.
    level : float
        Coverage in (0, 1).

    Returns
    -------
    (lo, hi) : tuple of float
    """
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"binomial_interval needs 0 <= k <= n and n >= 1; got k = {k}, n = {n}.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}.")
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def by_construction(verdict: Verdict, why: str) -> Verdict:
    """Mark a verdict "vacuous": the claim is true in every world, so no broken world can flip it.

    The check's own result stays in the reason and in ``details['computed_status']``. ``power_shown`` is
    set to None: it qualifies a "holds" only.
    """
    details = dict(verdict.details, computed_status=verdict.status)
    return replace(verdict, status="vacuous", margin=0.0, details=details, power_shown=None,
                   reason=f"true by construction ({why}); computed: {verdict.status}, {verdict.reason}")


def _rate_verdict(k: int, n: int, *, allowed: float, what: str, ours: str, level: float = 0.95,
                  details: dict | None = None) -> Verdict:
    """holds when the whole interval of k/n is <= allowed, differs when wholly above, else inconclusive.

    ``allowed = 0`` ("never") is a universal claim: one event refutes it (differs, margin k/n), and with
    no event it holds with margin 1/n (one event in n would flip it); no sample can do better.
    """
    lo, hi = binomial_interval(k, n, level)
    common = dict(ours=ours, units="frequency", interval=(lo, hi),
                  interval_method=f"{level_label(level)} Clopper-Pearson over {n}",
                  details=dict(details or {}, events=int(k), trials=int(n), allowed=float(allowed)))
    if allowed == 0:
        if k == 0:
            return Verdict("holds", margin=1.0 / n, reason=f"{what}: none in {n} (rate below {hi:.3g} at {level_label(level)})",
                           **common)
        return Verdict("differs", margin=k / n, reason=f"{what}: {k}/{n}, interval [{lo:.3g}, {hi:.3g}]; "
                                                       "one case refutes a claim about every sample", **common)
    if hi <= allowed:
        return Verdict("holds", margin=allowed - hi,
                       reason=f"{what}: {k}/{n}, interval [{lo:.3g}, {hi:.3g}] within {allowed:g}", **common)
    if lo > allowed:
        return Verdict("differs", margin=lo - allowed,
                       reason=f"{what}: {k}/{n}, interval [{lo:.3g}, {hi:.3g}] above {allowed:g}", **common)
    return Verdict("inconclusive", margin=0.0,
                   reason=f"{what}: {k}/{n}, interval [{lo:.3g}, {hi:.3g}] contains {allowed:g}", **common)


# --------------------------------------------------------------------------- 01 framework
def check_nested(best: pd.DataFrame, tol: float) -> Verdict:
    """H21-nested: eta*(M) <= eta*(N) for every nested pair N strictly inside M.

    Parameters
    ----------
    best : DataFrame
        One row per modality subset: ``set`` (comma-joined names), ``eta_best`` (best latent quality of
        the class of that subset).
    tol : float
        Numerical tolerance (absolute, in eta units).

    The margin is ``tol - max(eta*(M) - eta*(N))`` for "holds" and the excess for "differs".
    """
    _need(best, ["set", "eta_best"], "check_nested")
    eta = dict(zip(best["set"], best["eta_best"].astype(float)))
    members = {s: frozenset(s.split(",")) for s in eta}
    pairs = [(a, b) for a in eta for b in eta if members[b] < members[a]]
    if not pairs:
        raise ValueError("check_nested found no nested pair of sets; pass every subset (e.g. all_subsets).")
    gaps = [eta[a] - eta[b] for a, b in pairs]
    i = int(np.argmax(gaps))
    worst, (a, b) = float(gaps[i]), pairs[i]
    ours = f"{len(pairs)} nested pairs, max eta*(M) - eta*(N) = {worst:.3g} (at M = {a}, N = {b}; tolerance {tol:.0e})"
    details = dict(pairs=len(pairs), worst_gap=worst, worst_pair=[a, b])
    if worst <= tol:
        return Verdict("holds", ours=ours, margin=tol - worst, units="eta", details=details,
                       reason=f"no larger set is worse than a subset of it (largest gap {worst:.3g} <= {tol:.0e})")
    return Verdict("differs", ours=ours, margin=worst - tol, units="eta", details=details,
                   reason=f"M = {a} is worse than its subset N = {b} by {worst:.3g}")


# --------------------------------------------------------------------------- 02 synthetic overlap
def check_zero_eta(table: pd.DataFrame, column: str, *, where: str, tol: float) -> Verdict:
    """H21-syn-w1 (``where="w1"``: every set at w = 1) and H21-syn-all (``where="all"``: the full set).

    Parameters
    ----------
    table : DataFrame
        ``set``, ``n_observed``, ``w`` and ``column`` (eta of that cell; several rows per cell, e.g. one
        per seed, are allowed: the largest counts).
    column : str
        The eta column judged (e.g. ``eta_trained``).
    where : {"w1", "all"}
    tol : float
        Largest |eta| accepted as zero.
    """
    _need(table, ["set", "n_observed", "w", column], "check_zero_eta")
    if where == "w1":
        cells = table[np.isclose(table["w"], 1.0)]
        what = "max |eta| at w = 1"
    elif where == "all":
        cells = table[table["n_observed"] == table["n_observed"].max()]
        what = "max |eta| with all modalities"
    else:
        raise ValueError(f"where must be 'w1' or 'all'; got {where!r}.")
    if cells.empty:
        raise ValueError(f"check_zero_eta({where!r}) found no cell to judge; include w = 1 and the full set.")
    vals = cells[column].astype(float).to_numpy()
    n_bad = int(np.sum(~np.isfinite(vals)))
    if n_bad:
        return with_failures(Verdict("inconclusive", ours=f"{n_bad} of {len(cells)} runs have NaN/inf eta",
                                     margin=0.0, units="eta", reason=f"{what}: a NaN/inf eta is no evidence of zero"),
                             n_bad, len(cells))
    worst = float(np.max(np.abs(vals)))
    ours = f"{what} = {worst:.3g} over {len(cells)} runs (zero tolerance {tol:.0e})"
    if worst <= tol:
        return Verdict("holds", ours=ours, margin=tol - worst, units="eta",
                       reason=f"{what} {worst:.3g} <= {tol:.0e}")
    return Verdict("differs", ours=ours, margin=worst - tol, units="eta",
                   reason=f"{what} {worst:.3g} > {tol:.0e}")


def _per_seed_min_step(table: pd.DataFrame, column: str, along: str) -> pd.Series:
    """Per seed: the smallest strict step of eta in the claim's direction (positive = the claim holds)."""
    steps = {}
    for seed, g in table.groupby("seed", sort=True):
        if along == "modalities":
            sub = g[g["w"] < 1.0 - 1e-12]
            vals = [-np.diff(h.sort_values("n_observed")[column].to_numpy()) for _, h in sub.groupby("w")]
        else:
            full = g["n_observed"].max()
            sub = g[g["n_observed"] < full]
            vals = [np.diff(h.sort_values("w", ascending=False)[column].to_numpy()) for _, h in sub.groupby("set")]
        vals = [v for v in vals if v.size]
        if not vals:
            raise ValueError("no step to judge: need w < 1 with at least two sets, and at least two values of w.")
        steps[seed] = float(np.min(np.concatenate(vals)))
    return pd.Series(steps)


def _closed_form_is_vacuous(v: Verdict) -> Verdict:
    """A shape "holding" with no seed variance at all is the closed form, not something learned: vacuous."""
    if v.status == "holds" and v.details.get("exact"):
        return by_construction(v, "identical in every seed: the value is the generator's closed form "
                                  "(1-w)^2 d_p (K-|M|), which no training changes, so there is no learned quantity to test")
    return v


def check_eta_falls_with_modalities(table: pd.DataFrame, column: str = "eta_trained",
                                    tie_tol: float | None = None) -> Verdict:
    """H21-syn-more: for every w < 1, eta falls strictly as modalities are added.

    Per seed, the smallest drop eta(|M|) - eta(|M|+1) over every w < 1 and every step is one paired
    value; the claim holds when the t interval of these over seeds lies above 0. Values identical in
    every seed (within ``tie_tol``, e.g. untrained encoders giving the closed form) are decided exactly
    and an exact zero drop is a tie, which a strict claim does not survive
    (:func:`~mmtheory.checks.decide_positive`). A NaN eta makes its seed a failed run.

    Parameters
    ----------
    table : DataFrame
        ``seed``, ``set``, ``n_observed``, ``w``, ``column``.
    """
    _need(table, ["seed", "set", "n_observed", "w", column], "check_eta_falls_with_modalities")
    steps = _per_seed_min_step(table, column, "modalities")
    v = decide_positive(steps.to_numpy(), ours=f"smallest drop of eta per added modality {steps.mean():.3g}",
                        units="eta", what="smallest drop of eta when a modality is added (w < 1)", tie_tol=tie_tol,
                        exact=True)
    return _closed_form_is_vacuous(replace(v, details=dict(v.details, per_seed=steps.tolist())))


def check_eta_rises_with_overlap(table: pd.DataFrame, column: str = "eta_trained",
                                 tie_tol: float | None = None) -> Verdict:
    """H21-syn-overlap: for every set short of all, eta rises strictly as w falls (paired over seeds).

    Parameters
    ----------
    table : DataFrame
        ``seed``, ``set``, ``n_observed``, ``w``, ``column``.
    """
    _need(table, ["seed", "set", "n_observed", "w", column], "check_eta_rises_with_overlap")
    steps = _per_seed_min_step(table, column, "overlap")
    v = decide_positive(steps.to_numpy(), ours=f"smallest rise of eta per step down in w {steps.mean():.3g}",
                        units="eta", what="smallest rise of eta as w falls (sets short of all)", tie_tol=tie_tol,
                        exact=True)
    return _closed_form_is_vacuous(replace(v, details=dict(v.details, per_seed=steps.tolist())))


def check_paper_values(table: pd.DataFrame, tolerance: float, column: str = "eta_closed_form") -> Verdict:
    """H21-syn-values: the paper's non-zero cells lie within ``tolerance`` (relative) of ``column``.

    Parameters
    ----------
    table : DataFrame
        ``eta_paper`` and ``column``, one row per cell of the paper's table.
    tolerance : float
        Largest accepted |paper / ours - 1|.

    The margin is in relative units: ``tolerance - max |dev|`` (holds) or the excess (differs). A cell
    where one side is zero and the other is not counts as an infinite deviation.
    """
    _need(table, ["eta_paper", column], "check_paper_values")
    paper, ours_v = table["eta_paper"].astype(float).to_numpy(), table[column].astype(float).to_numpy()
    zero_p, zero_o = np.abs(paper) < 1e-9, np.abs(ours_v) < 1e-9
    if np.any(zero_p != zero_o):
        n = int(np.sum(zero_p != zero_o))
        return Verdict("differs", ours=f"{n} cells zero on one side only", margin=1.0,
                       units="relative", reason=f"{n} cells are zero in one table and not in the other")
    nz = ~zero_p
    if not np.any(nz):
        raise ValueError("check_paper_values found no non-zero cell to compare.")
    dev = paper[nz] / ours_v[nz] - 1.0
    worst = float(np.max(np.abs(dev)))
    ours = f"{int(nz.sum())} non-zero cells, paper / ours - 1 in [{dev.min():+.1%}, {dev.max():+.1%}]"
    details = dict(cells=int(nz.sum()), dev_min=float(dev.min()), dev_max=float(dev.max()))
    if worst <= tolerance:
        return Verdict("holds", ours=ours, margin=tolerance - worst, units="relative", details=details,
                       reason=f"largest relative gap {worst:.1%} within {tolerance:.0%}")
    return Verdict("differs", ours=ours, margin=worst - tolerance, units="relative", details=details,
                   reason=f"largest relative gap {worst:.1%} beyond {tolerance:.0%}")


# --------------------------------------------------------------------------- 03 Proposition 1
def _prop1_exact(results: pd.DataFrame) -> pd.DataFrame:
    inf = np.isinf(results["m_factor"])
    return results[(results["bottleneck"] == "none")
                   & (inf | ((results["noise"] == 0) & (results["m_factor"] >= 1)))]


def check_prop1(results: pd.DataFrame) -> Verdict:
    """H21-prop1: gamma_S <= 0 with no bottleneck, for population ERM and noise-free ERM with m >= d.

    Parameters
    ----------
    results : DataFrame
        From :func:`mmtheory.experiments.proposition1.proposition1_check`: ``bottleneck``, ``noise``,
        ``m_factor``, ``gamma``, ``tol``.

    No tolerance is tuned: a case violates when gamma_S exceeds its numerical tolerance
    (1e-9 tr Sigma_yy). The margin is ``min(tol - gamma)`` over cases (eta units).
    """
    _need(results, ["bottleneck", "noise", "m_factor", "gamma", "tol"], "check_prop1")
    exact = _prop1_exact(results)
    if exact.empty:
        raise ValueError("check_prop1 found no exact case (no bottleneck; population, or noise-free with m >= d).")
    slack = (exact["tol"] - exact["gamma"]).to_numpy(dtype=float)
    n_bad = int(np.sum(~np.isfinite(slack)))
    if n_bad:
        return with_failures(Verdict("inconclusive", ours=f"{n_bad} of {len(exact)} exact cases have NaN/inf gamma_S",
                                     margin=0.0, units="eta", reason="a NaN/inf gamma_S is no evidence"),
                             n_bad, len(exact), "case")
    bad = int(np.sum(slack < 0))
    largest = float(exact["gamma"].max())
    ours = f"{len(exact)} exact cases (no bottleneck): {bad} with gamma_S > 0; largest gamma_S {largest:.3g}"
    details = dict(cases=len(exact), violations=bad, largest_gamma=largest)
    if bad == 0:
        return Verdict("holds", ours=ours, margin=float(slack.min()), units="eta", details=details,
                       reason=f"gamma_S <= tolerance in all {len(exact)} cases")
    return Verdict("differs", ours=ours, margin=float(-slack.min()), units="eta", details=details,
                   reason=f"gamma_S > 0 in {bad} of {len(exact)} cases (largest {largest:.3g})")


def _violations(cases: pd.DataFrame, what: str, allowed: float) -> Verdict:
    """Rate of gamma_S > tol; a NaN/inf gamma is a failed case (counted; never evidence for "holds")."""
    bad = ~np.isfinite(cases["gamma"].astype(float))
    n_bad = int(bad.sum())
    ok = cases[~bad]
    if ok.empty:
        return with_failures(Verdict("inconclusive", ours=f"every gamma_S of {what} is NaN/inf", margin=0.0,
                                     units="frequency", reason=f"no finite gamma_S among {n_bad} {what}"),
                             n_bad, n_bad, "case")
    k, n = int((ok["gamma"] > ok["tol"]).sum()), len(ok)
    largest = float(ok["gamma"].max())
    ours = f"gamma_S > 0 in {k}/{n} = {k / n:.1%} of {what} (largest {largest:.3g})"
    v = _rate_verdict(k, n, allowed=allowed, what=f"share of {what} with gamma_S > 0", ours=ours,
                      details=dict(largest_gamma=largest))
    return with_failures(v, n_bad, n_bad + n, "case")


def check_prop1_finite(results: pd.DataFrame) -> Verdict:
    """H21-prop1-finite: gamma_S <= 0 for *every* noisy finite sample (no bottleneck).

    The violation rate over noisy finite-sample cases with its Clopper-Pearson interval: "every sample"
    allows a rate of 0, so one violation beyond rounding makes the claim differ.
    """
    _need(results, ["bottleneck", "noise", "m_factor", "gamma", "tol"], "check_prop1_finite")
    cases = results[(results["noise"] > 0) & ~np.isinf(results["m_factor"]) & (results["bottleneck"] == "none")]
    if cases.empty:
        raise ValueError("check_prop1_finite needs noisy finite-sample cases without bottleneck.")
    return _violations(cases, "noisy finite samples, no bottleneck", 0.0)


def check_prop1_bottleneck(results: pd.DataFrame) -> Verdict:
    """H21-prop1-bottleneck: gamma_S <= 0 with a rank-1 bottleneck, noise-free samples with m >= d.

    Every violation counts (no filter); the measured rate is the claim's value.
    """
    _need(results, ["bottleneck", "noise", "m_factor", "gamma", "tol"], "check_prop1_bottleneck")
    cases = results[(results["bottleneck"] == "rank1") & (results["noise"] == 0)
                    & ~np.isinf(results["m_factor"]) & (results["m_factor"] >= 1)]
    if cases.empty:
        raise ValueError("check_prop1_bottleneck needs rank-1, noise-free cases with m >= d.")
    return _violations(cases, "rank-1 noise-free samples with m >= d", 0.0)


# --------------------------------------------------------------------------- 05 Rademacher
def check_complexity_grows(table: pd.DataFrame, slopes: pd.Series | None = None, *, slope_tol: float = 0.05,
                           z: float = 1.96) -> Verdict:
    """H21-complexity-grows: the complexity rises with every added modality, at every m.

    Parameters
    ----------
    table : DataFrame
        ``m``, ``n_modalities``, ``estimate``, ``stderr`` (nested sets, each estimated with its *own*
        sign draws, so the Monte Carlo errors are independent).
    slopes : Series, optional
        Log-log slopes against m per set; when given, each must lie within ``slope_tol`` of -0.5.
    z : float
        Normal quantile of the interval of each step (difference of two independent estimates).

    The margin is the smallest lower end of a step's interval (complexity units).
    """
    _need(table, ["m", "n_modalities", "estimate", "stderr"], "check_complexity_grows")
    vals = table[["estimate", "stderr"]].astype(float).to_numpy()
    n_bad = int(np.sum(~np.isfinite(vals).all(axis=1)))
    if n_bad:
        return with_failures(Verdict("inconclusive", ours=f"{n_bad} of {len(table)} estimates are NaN/inf",
                                     margin=0.0, units="complexity",
                                     reason="a NaN/inf estimate or standard error is no evidence of growth"),
                             n_bad, len(table), "estimate")
    los, his, means = [], [], []
    for _, g in table.groupby("m"):
        g = g.sort_values("n_modalities")
        d = np.diff(g["estimate"].to_numpy())
        se = np.sqrt(g["stderr"].to_numpy()[1:] ** 2 + g["stderr"].to_numpy()[:-1] ** 2)
        means += d.tolist()
        los += (d - z * se).tolist()
        his += (d + z * se).tolist()
    if not means:
        raise ValueError("check_complexity_grows needs at least two nested sets per m.")
    lo, hi = float(min(los)), float(min(his))
    i = int(np.argmin(los))
    ours = f"{len(means)} steps, smallest step {min(means):.3g} (interval lower end {lo:.3g})"
    details = dict(steps=len(means), smallest_step=float(min(means)))
    method = f"normal {z:g} s.e. of each step, independent sign draws per set"
    slope_ok = True
    if slopes is not None:
        s = np.asarray(slopes, dtype=float)
        details.update(slope_min=float(s.min()), slope_max=float(s.max()))
        ours += f"; log-log slopes {s.min():.3f} .. {s.max():.3f}"
        slope_ok = bool(np.all(np.abs(s + 0.5) <= slope_tol))
    if lo > 0 and slope_ok:
        return Verdict("holds", ours=ours, margin=lo, units="complexity", interval=(los[i], his[i]),
                       interval_method=method, details=details,
                       reason=f"every step's interval is above 0 (lowest end {lo:.3g})"
                              + ("" if slopes is None else f" and slopes within {slope_tol} of -0.5"))
    if hi < 0 or not slope_ok:
        why = (f"a step's interval lies below 0 (upper end {hi:.3g})" if hi < 0
               else f"a log-log slope is more than {slope_tol} from -0.5")
        return Verdict("differs", ours=ours, margin=abs(hi) if hi < 0 else 0.0, units="complexity",
                       interval=(los[i], his[i]), interval_method=method, details=details, reason=why)
    return Verdict("inconclusive", ours=ours, margin=0.0, units="complexity", interval=(los[i], his[i]),
                   interval_method=method, details=details,
                   reason=f"the smallest step's interval [{los[i]:.3g}, {his[i]:.3g}] contains 0")


# --------------------------------------------------------------------------- 06 theorems
def check_bound(bounded: pd.DataFrame, theorem: int, delta: float, level: float = 0.95) -> Verdict:
    """H21-thm1 / H21-thm2: the bound's failure frequency against what the theorem allows.

    Parameters
    ----------
    bounded : DataFrame
        From :func:`mmtheory.experiments.theorems.add_bounds`: ``m``, ``thm{1,2}_lhs``, ``thm{1,2}_rhs``.
    theorem : {1, 2}
    delta : float
        Theorem 1 allows a failure probability delta / 2 at each m, Theorem 2 delta.

    A training set whose left or right side is NaN/inf is a failed run: counted, never a success, and
    the verdict is then never "holds". All training sets are pooled (if the rate is <= the allowed one
    at every m, so is the pooled rate);
    holds when the Clopper-Pearson interval of the pooled rate is within the allowance, differs when the
    rate at some m is wholly above it. ``details['tightness']`` is the smallest ratio of mean right side
    to mean |left side| over m (how far the bound is from being tight).
    """
    if theorem not in (1, 2):
        raise ValueError(f"theorem must be 1 or 2; got {theorem!r}.")
    lhs, rhs = f"thm{theorem}_lhs", f"thm{theorem}_rhs"
    _need(bounded, ["m", lhs, rhs], "check_bound")
    allowed = delta / 2 if theorem == 1 else delta
    bad = ~(np.isfinite(bounded[lhs].astype(float)) & np.isfinite(bounded[rhs].astype(float)))
    n_bad = int(bad.sum())
    if n_bad == len(bounded):
        raise ValueError(f"check_bound: every left or right side is NaN/inf ({n_bad} rows); nothing to judge.")
    bounded = bounded[~bad]
    fail = bounded[lhs] > bounded[rhs]
    by_m = bounded.assign(fail=fail).groupby("m").agg(k=("fail", "sum"), n=("fail", "size"),
                                                       lhs=(lhs, lambda v: float(np.abs(v.mean()))),
                                                       rhs=(rhs, "mean"))
    factor = float((by_m["rhs"] / by_m["lhs"].where(by_m["lhs"] > 0)).min())
    tight = factor if math.isfinite(factor) else None
    ours = (f"failures {int(fail.sum())}/{len(fail)} (allowed {allowed:g}); right side >= "
            + (f"{tight:.3g}x |left side| (means per m)" if tight is not None else "|left side| (left side 0)"))
    details = dict(tightness=tight, failures_by_m={int(m): int(k) for m, k in by_m["k"].items()})
    for m, row in by_m.iterrows():  # one m clearly above the allowance decides "differs"
        lo_m, _ = binomial_interval(int(row["k"]), int(row["n"]), level)
        if lo_m > allowed:
            v = _rate_verdict(int(row["k"]), int(row["n"]), allowed=allowed, what=f"failures at m = {m}",
                              ours=ours, level=level, details=details)
            return with_failures(v, n_bad, n_bad + len(fail), "training set")
    v = _rate_verdict(int(fail.sum()), len(fail), allowed=allowed, what="failures over all m", ours=ours,
                      level=level, details=details)
    return with_failures(v, n_bad, n_bad + len(fail), "training set")


def check_principle(trials: pd.DataFrame, level: float = 0.95) -> Verdict:
    """H21-principle: the smaller set wins at the smallest m, the larger set at the largest m.

    Parameters
    ----------
    trials : DataFrame
        ``m``, ``r_M``, ``r_N`` (population risks of the two ERMs trained on the same sample).

    Two paired t decisions over training sets: r_M - r_N > 0 at the smallest m and r_N - r_M > 0 at the
    largest. holds when both hold, differs when either differs, else inconclusive; the margin is the
    smaller of the two (risk units). ``details['crossover_m']`` is the smallest m from which the larger
    set wins (interval below 0) at every larger m, or None.
    """
    _need(trials, ["m", "r_M", "r_N"], "check_principle")
    ms = sorted(trials["m"].unique())
    if len(ms) < 2:
        raise ValueError("check_principle needs at least two values of m.")
    diff = (trials["r_M"] - trials["r_N"]).to_numpy()
    small = decide_positive(diff[trials["m"] == ms[0]], ours="", units="risk", level=level,
                            what=f"r(M) - r(N) at m = {ms[0]}")
    large = decide_positive(-diff[trials["m"] == ms[-1]], ours="", units="risk", level=level,
                            what=f"r(N) - r(M) at m = {ms[-1]}")
    cross = crossover_m(trials, level)
    ours = (f"r(M) - r(N) = {small.details['mean']:+.3g} at m = {ms[0]}, {-large.details['mean']:+.3g} at m = {ms[-1]}; "
            f"larger set wins from m = {cross}")
    statuses = {small.status, large.status}
    status = "holds" if statuses == {"holds"} else ("differs" if "differs" in statuses else "inconclusive")
    margin = min(small.margin, large.margin) if status != "inconclusive" else 0.0
    return Verdict(status, ours=ours, margin=margin, units="risk", interval=large.interval,
                   interval_method=f"{small.interval_method} training sets at each end (interval shown: largest m)",
                   reason=f"{small.reason}; {large.reason}",
                   details=dict(small_m=small.to_dict(), large_m=large.to_dict(), crossover_m=cross))


def crossover_m(trials: pd.DataFrame, level: float = 0.95) -> int | None:
    """Smallest m from which r(M) - r(N) has its t interval below 0 at every m at or above it (else None)."""
    _need(trials, ["m", "r_M", "r_N"], "crossover_m")
    out = None
    for m in sorted(trials["m"].unique(), reverse=True):
        d = (trials.loc[trials["m"] == m, "r_M"] - trials.loc[trials["m"] == m, "r_N"]).to_numpy()
        v = decide_positive(-d, ours="", units="risk", what="", level=level)
        if v.status != "holds":
            break
        out = int(m)
    return out


# --------------------------------------------------------------------------- 07 selection
def check_selection(per_trial: pd.DataFrame, rule: str, alternatives: Sequence[str], level: float = 0.95,
                    by: Sequence[str] = ("w", "m")) -> Verdict:
    """H21-selection: the principle's choices at least as good as each simple alternative, in every regime.

    Parameters
    ----------
    per_trial : DataFrame
        One row per (world, m, trial) with ``trial`` (required: the training set's id, one row per cell and
        trial) and ``regret_<name>`` for ``rule`` and every alternative
        (population risk of the chosen set's ERM minus the better one's, >= 0), all on the same samples,
        and the regime columns ``by``.
    rule : str
        The rule judged (e.g. ``"theorem"``: the principle with Theorem 2's constants).
    alternatives : sequence of str
        E.g. ``["larger", "smaller", "validation"]``: each is a comparator fixed in advance.
    by : sequence of str
        Columns naming a regime (cell); trials of one cell are independent, cells are not pooled.

    One decision per (cell, alternative): paired t over the cell's trials of
    ``regret(alternative) - regret(rule)``, claim ">= 0" (an exact tie, e.g. the rule choosing exactly
    what always-smaller chooses in every trial, is "at least as good"; see
    :func:`~mmtheory.checks.decide_positive`). The claim needs every (cell, alternative) part
    (:func:`~mmtheory.checks.all_of`, Holm's rule over all of them for "differs"). Pooling the cells into
    one interval is what this replaces: rows of different cells are not exchangeable, and copied rows
    would narrow a pooled interval. ``details['cells']`` has every part's status and interval;
    ``details['best_alternative']`` (lowest mean regret overall) is for display only.
    """
    cols = [f"regret_{rule}"] + [f"regret_{a}" for a in alternatives]
    _need(per_trial, cols + list(by) + ["trial"], "check_selection")
    if per_trial.duplicated([*by, "trial"]).any():
        raise ValueError("check_selection got the same (cell, trial) more than once: duplicated rows would narrow the "
                         "interval without adding evidence; give one row per training set.")
    if not alternatives:
        raise ValueError("check_selection needs at least one alternative to compare with.")
    parts, cells = {}, []
    for key, g in per_trial.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{b} = {k:g}" if isinstance(k, (int, float, np.number)) else f"{b} = {k}"
                          for b, k in zip(by, key))
        for alt in alternatives:
            d = (g[f"regret_{alt}"] - g[f"regret_{rule}"]).to_numpy(dtype=float)
            # exact: a difference identical in every trial is the rule and the alternative choosing the same
            # set (the same ERM), an identity and not a measurement
            v = decide_positive(d, ours="", units="risk", level=level, strict=False, exact=True,
                                what=f"{label}: regret({alt}) - regret({rule})")
            parts[f"{label} vs {alt}"] = v
            cells.append(dict(zip(by, [float(k) if isinstance(k, (int, float, np.number)) else k for k in key]),
                              alternative=alt, status=v.status, mean=v.details.get("mean"),
                              interval=None if v.interval is None else list(v.interval), n=v.details.get("n")))
    means = {a: float(per_trial[f"regret_{a}"].mean()) for a in alternatives}
    best = min(means, key=means.get)
    rule_mean = float(per_trial[f"regret_{rule}"].mean())
    counts = pd.Series([c["status"] for c in cells]).value_counts().to_dict()
    ours = (f"mean regret: {rule} {rule_mean:.3g}; " + ", ".join(f"{a} {means[a]:.3g}" for a in alternatives)
            + "; per (cell, alternative): " + ", ".join(f"{n} {st}" for st, n in counts.items())
            + f" of {len(cells)}")
    v = all_of(parts, ours=ours, units="risk", level=level)
    return replace(v, details=dict(v.details, best_alternative=best, mean_regret=dict(means, **{rule: rule_mean}),
                                   cells=cells))
