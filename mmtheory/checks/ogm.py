"""Checks of Peng et al.'s claims (OGM-GE) and of the joint question HP-eta-weak.

Every function takes tidy per-run results and returns a :class:`~mmtheory.checks.Verdict`; the
chapters (08 stand-in, 09 CREMA-D, 10 two lenses) call them and narrate. Accuracies are in
**percent** (0-100) and every margin is in percentage points.

Uncertainty
-----------
Runs are paired by ``seed`` (same training set and initialisation for every method of a seed). With
two or more seeds the decision uses a 95 % paired Student-t interval of the per-seed differences
(:func:`mmtheory.checks.paired_interval`). A seed whose run diverged (NaN, inf) or is missing for one
method is never dropped silently: it is counted in ``details['failed_runs']`` and the claim cannot
"hold" (:func:`mmtheory.checks.with_failures`).

With a single seed (a CREMA-D run per method) the training variance is not measured: a two-proportion
interval over ``n_test`` test clips covers only the test-sampling noise (with no true gain and a seed
standard deviation of 3 points it says "holds" about 16 % of the time). Such a verdict is shown as a
**single run**: status "inconclusive", the test-clip interval and what it alone would say kept in the
reason and in ``details['single_run']``. Accuracies chosen at the best *test* epoch
(``best_test_acc``) are refused: the epoch must be chosen without the test set (last epoch, or the
validation split's best epoch).

Input frames
------------
``runs`` has one row per (method, seed): columns ``method`` (``"baseline"``, ``"ogm-ge"``,
``"audio-only"``, ``"visual-only"``, ...), ``seed`` and the accuracy columns named by the arguments
(``last_test_acc``, ``last_test_acc_visual``, ``probe_acc_visual``, ...), in percent, as every result
frame of the package gives them (the stand-in's ``run_standin(...).summary`` is such a frame). The
CREMA-D chapter's ``results_table`` gives one seed per run: use :func:`runs_from_results_table`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mmtheory.checks import Verdict, all_of, any_of, decide_positive, level_label, with_failures

__all__ = ["runs_from_results_table", "decide_difference", "all_of", "check_imbalance",
           "check_ogmge", "check_weak_branch", "check_eta_weak"]

def runs_from_results_table(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """CREMA-D ``results_table`` (one row per run, percent) as the tidy ``runs`` frame of this module.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``run``, ``best_test_acc``, ``last_test_acc`` and ``last_test_acc_visual`` (percent), as
        written by :func:`mmtheory.experiments.cremad.results_table`.
    seed : int
        The seed of these runs (one run per method).

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``seed``, ``best_test_acc``, ``last_test_acc``, ``last_test_acc_visual``.
    """
    need = {"run", "best_test_acc", "last_test_acc", "last_test_acc_visual"}
    missing = need - set(table.columns)
    if missing:
        raise ValueError(f"a CREMA-D results table needs columns {sorted(need)}; missing {sorted(missing)} "
                         "(make it with mmtheory.experiments.cremad.results_table).")
    return pd.DataFrame({"method": table["run"].astype(str), "seed": int(seed),
                         "best_test_acc": table["best_test_acc"].astype(float),
                         "last_test_acc": table["last_test_acc"].astype(float),
                         "last_test_acc_visual": table["last_test_acc_visual"].astype(float)})


def _paired(runs: pd.DataFrame, column: str, methods: Sequence[str]) -> pd.DataFrame:
    """``seed x method`` table of ``column`` (percent) for ``methods``; one clear error per bad input."""
    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"runs must be a pandas DataFrame with columns method, seed, {column}; got {type(runs).__name__}.")
    need = {"method", "seed", column}
    missing = need - set(runs.columns)
    if missing:
        raise ValueError(f"runs need columns {sorted(need)}; missing {sorted(missing)}.")
    absent = [m for m in methods if m not in set(runs["method"])]
    if absent:
        raise ValueError(f"runs have no method {absent}; methods present: {sorted(set(runs['method']))}.")
    sub = runs[runs["method"].isin(methods)]
    if sub.duplicated(["method", "seed"]).any():
        raise ValueError("runs have more than one row for a (method, seed); give one row per run.")
    wide = sub.pivot(index="seed", columns="method", values=column)[list(methods)].astype(float)
    wide = wide.where(np.isfinite(wide))  # inf counts as a failed run, like NaN; kept as NaN, never dropped here
    if wide.isna().all(axis=None):
        raise ValueError(f"no seed has a finite {column!r} for any method of {list(methods)} (every run failed).")
    vals = wide.to_numpy()
    if np.nanmax(vals) <= 1.0:
        raise ValueError(f"{column!r} looks like fractions (all <= 1); checks take percent, as every result frame "
                         "of the package gives it: multiply by 100.")
    if np.nanmin(vals) < 0 or np.nanmax(vals) > 100:
        raise ValueError(f"{column!r} must be accuracies in percent (0-100); got values in "
                         f"[{np.nanmin(vals):.4g}, {np.nanmax(vals):.4g}].")
    return wide


def _check_acc(acc: str) -> None:
    if acc.startswith("best_test"):
        raise ValueError(f"{acc!r} is the accuracy at the epoch that was best on the test set: selecting the epoch on "
                         "test data biases the comparison upwards. Use 'last_test_acc' or an accuracy at the epoch "
                         "chosen on a validation split.")


def decide_difference(a: Sequence[float], b: Sequence[float], *, ours: str, what: str, n_test: int | None = None,
                      level: float = 0.95, units: str = "points") -> Verdict:
    """Decide "a > b" for paired accuracies (percent) over seeds.

    Pairs with a NaN/inf side are failed runs (counted; the verdict is then never "holds"). With one
    finite pair and ``n_test`` the verdict is a **single run** (see the module docstring): inconclusive,
    with the test-clip interval and its would-be status in the reason and ``details``.

    Parameters
    ----------
    a, b : sequence of float, shape (n_seeds,)
        Accuracies in percent, paired by seed.
    ours, what : str
        Our value as shown, and a few words naming the difference ``a - b``.
    n_test : int, optional
        Test-set size; used only with a single seed (two-proportion normal interval).
    level : float
    units : str

    Returns
    -------
    Verdict
        holds when the interval of ``a - b`` lies above 0, differs when below, else inconclusive.
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"a and b must be paired accuracies of the same, non-zero length; got {a.size} and {b.size}.")
    ok = np.isfinite(a) & np.isfinite(b)
    failed = int((~ok).sum())
    if a.size >= 2 or n_test is None or failed:
        return decide_positive(a - b, ours=ours, units=units, what=what, level=level)
    if int(n_test) < 1:
        raise ValueError(f"n_test must be a positive number of test samples; got {n_test!r}.")
    pa, pb = a[0] / 100.0, b[0] / 100.0
    se = 100.0 * math.sqrt(max(pa * (1 - pa), 0.0) / n_test + max(pb * (1 - pb), 0.0) / n_test)
    mean = float(a[0] - b[0])
    half = float(stats.norm.ppf(0.5 + level / 2.0)) * se
    lo, hi = mean - half, mean + half
    common = dict(ours=ours, units=units, interval=(lo, hi),
                  interval_method=f"{level_label(level)} two-proportion normal interval over {int(n_test)} test samples (one seed)",
                  details=dict(mean=mean, n=1, n_test=int(n_test), mean_minus_threshold=mean))
    alone = "holds" if lo > 0 else ("differs" if hi < 0 else "inconclusive")
    common["details"].update(single_run=True, test_interval_says=alone)
    return with_failures(Verdict(
        "inconclusive", margin=0.0,
        reason=f"single run: {what}: {mean:.4g} {units}; the test-clip interval [{lo:.4g}, {hi:.4g}] alone would say "
               f"{alone}, but one seed does not measure the training variance (seed-to-seed spread of several points)",
        **common), 0, 1)


def check_imbalance(runs: pd.DataFrame, *, acc: str = "last_test_acc", baseline: str = "baseline",
                    unimodal: Sequence[str] = ("audio-only", "visual-only"), n_test: int | None = None,
                    level: float = 0.95) -> Verdict:
    """P22-imbalance / P22-standin-imbalance: the jointly trained model is worse than a unimodal one.

    Every model of ``unimodal`` is a comparator fixed in advance (never the one that looks best on the
    test data, which would test on the data that chose it): per comparator the decided difference is
    ``unimodal - baseline`` per seed (positive: the claim's direction), and the claim holds when some
    comparator is ahead after Holm's rule over the comparators (:func:`~mmtheory.checks.any_of`). On
    CREMA-D the paper compares with audio-only: pass ``unimodal=("audio-only",)``.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per (method, seed), accuracies in percent (see the module docstring).
    acc : str
        Accuracy column (``last_test_acc``; a best-on-test epoch is refused).
    baseline : str
    unimodal : sequence of str
    n_test : int, optional
        Test-set size, for a single seed.
    level : float
    """
    if not unimodal:
        raise ValueError("unimodal must name at least one unimodal run, e.g. ('audio-only',).")
    _check_acc(acc)
    wide = _paired(runs, acc, [baseline, *unimodal])
    parts = {u: decide_difference(wide[u], wide[baseline], ours="", what=f"{u} minus {baseline}", n_test=n_test,
                                  level=level) for u in unimodal}
    ours = f"{baseline} {wide[baseline].mean():.2f}; " + ", ".join(
        f"{u} {wide[u].mean():.2f} ({wide[u].mean() - wide[baseline].mean():+.2f})" for u in unimodal) + \
        f" points over {len(wide)} seed(s)"
    if len(parts) == 1:
        return replace(next(iter(parts.values())), ours=ours)
    return any_of(parts, ours=ours, level=level)


def check_ogmge(runs: pd.DataFrame, *, acc: str = "last_test_acc", baseline: str = "baseline",
                method: str = "ogm-ge", n_test: int | None = None, level: float = 0.95) -> Verdict:
    """P22-ogmge / P22-standin-ogmge: OGM-GE improves the concatenation baseline (``method - baseline`` > 0).

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per (method, seed), accuracies in percent.
    acc, baseline, method : str
    n_test : int, optional
    level : float
    """
    _check_acc(acc)
    wide = _paired(runs, acc, [baseline, method])
    wins = int((wide[method] > wide[baseline]).sum())
    failed = int(wide.isna().any(axis=1).sum())
    ours = (f"{wide[baseline].mean():.2f} -> {wide[method].mean():.2f} "
            f"({wide[method].mean() - wide[baseline].mean():+.2f} points, better in {wins}/{len(wide)} seeds"
            + (f", {failed} failed" if failed else "") + ")")
    return decide_difference(wide[method], wide[baseline], ours=ours, what=f"{method} minus {baseline}",
                             n_test=n_test, level=level)


def check_weak_branch(runs: pd.DataFrame, *, branch: str = "last_test_acc_visual", probe: str | None = None,
                      baseline: str = "baseline", method: str = "ogm-ge", n_test: int | None = None,
                      level: float = 0.95) -> Verdict:
    """P22-weak-branch / P22-standin-weak-branch: OGM-GE improves the weak branch inside the fused model.

    Decided on the weak branch's accuracy (``branch``); with ``probe`` (a frozen-encoder linear probe
    of the weak encoder, stand-in) the probe must improve as well (:func:`all_of`).

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per (method, seed), accuracies in percent.
    branch : str
        Column of the weak branch's accuracy.
    probe : str, optional
        Column of the weak encoder's probe accuracy.
    baseline, method : str
    n_test : int, optional
    level : float
    """
    wide = _paired(runs, branch, [baseline, method])
    parts = {"branch": decide_difference(wide[method], wide[baseline], ours="", what=f"{branch}: {method} minus {baseline}",
                                         n_test=n_test, level=level)}
    ours = f"weak branch {wide[baseline].mean():.2f} -> {wide[method].mean():.2f} ({wide[method].mean() - wide[baseline].mean():+.2f} points)"
    if probe is not None:
        wp = _paired(runs, probe, [baseline, method])
        parts["probe"] = decide_difference(wp[method], wp[baseline], ours="", what=f"{probe}: {method} minus {baseline}",
                                           n_test=n_test, level=level)
        ours += f"; weak probe {wp[baseline].mean():.2f} -> {wp[method].mean():.2f} ({wp[method].mean() - wp[baseline].mean():+.2f} points)"
    if len(parts) == 1:
        return replace(parts["branch"], ours=ours)
    return all_of(parts, ours=ours, level=level)


def check_eta_weak(probes: pd.DataFrame, *, modality: str = "visual", baseline: str = "baseline",
                   method: str = "ogm-ge", level: float = 0.95) -> Verdict:
    r"""HP-eta-weak: OGM-GE lowers the weak encoder's latent quality :math:`\hat\eta` for every fusion.

    :math:`\hat\eta` = linear-probe test error in percent (``probe_err``). Per fusion, the decided
    difference is :math:`\hat\eta_\text{baseline} - \hat\eta_\text{OGM-GE}` per seed (positive: lowered);
    the claim needs every fusion (:func:`all_of`, Holm's rule for "differs").

    Parameters
    ----------
    probes : pandas.DataFrame
        One row per (fusion, method, seed, modality) with ``probe_err`` in percent, 0-100
        (``run_standin(...).probes`` with a ``fusion`` column).
    modality : str
        The weak modality.
    baseline, method : str
    level : float
    """
    need = {"fusion", "method", "seed", "modality", "probe_err"}
    if not isinstance(probes, pd.DataFrame) or need - set(probes.columns):
        got = sorted(probes.columns) if isinstance(probes, pd.DataFrame) else type(probes).__name__
        raise ValueError(f"probes need columns {sorted(need)}; got {got}.")
    err = probes["probe_err"].astype(float)
    if (err.dropna() < 0).any() or (err.dropna() > 100).any():
        raise ValueError(f"probe_err must be an error rate in percent (0-100); got values in [{err.min():.4g}, "
                         f"{err.max():.4g}].")
    if len(err.dropna()) and (err.dropna() <= 1.0).all():  # 100 - err would pass the accuracy guard below
        raise ValueError("probe_err looks like fractions (all <= 1); checks take percent, as every result frame of "
                         "the package gives it: multiply by 100.")
    sub = probes[probes["modality"] == modality]
    if sub.empty:
        raise ValueError(f"no probe of modality {modality!r}; modalities present: {sorted(set(probes['modality']))}.")
    parts, changes = {}, {}
    for fusion, g in sub.groupby("fusion", sort=False):
        acc = g.assign(acc=100.0 - g["probe_err"].astype(float))
        wide = _paired(acc, "acc", [baseline, method])
        # eta_base - eta_method = acc_method - acc_base (eta = 100 - acc)
        parts[str(fusion)] = decide_difference(wide[method], wide[baseline], ours="",
                                               what=f"{fusion}: eta-hat lowered by", level=level)
        changes[str(fusion)] = float((wide[baseline] - wide[method]).mean())
    ours = f"{modality} eta-hat change: " + ", ".join(f"{f} {v:+.2f}" for f, v in changes.items()) + " points"
    return all_of(parts, ours=ours, level=level)
