"""Checks of Huang et al.'s IEMOCAP tables (H21-iemocap-t1/t2/t3) and of their stand-in twins (H21-standin-*).

Each function takes the tidy frame of :func:`mmtheory.experiments.modality_sweep.modality_sweep` (one row
per run: ``set``, ``ratio``, ``seed``, ``test_acc`` in percent, and ``eta_hat`` in percentage points for
Table 3) with the sets named by letters (``T``, ``TV``, ``TA``, ``TVA``) and returns a
:class:`~mmtheory.checks.Verdict`. Margins are in percentage points.

Uncertainty: runs of one seed share the training subsample (and, at the whole training set, differ
only by initialisation), so differences between two sets are **paired by seed** and decided by a 95 %
paired Student-t interval (:func:`mmtheory.checks.decide_positive`): a difference whose interval holds 0
is inconclusive. A run with a NaN/inf value or a seed missing for one set is a failed run: counted in
``details['failed_runs']``, never dropped in silence, and the claim then cannot "hold". Claims over
several pairs or sets combine their parts with Holm's rule (:data:`mmtheory.checks.MULTIPLE_RULE`).

Broken worlds (run by the chapter on the same sweep): :func:`noise_views` replaces the modalities that
are added (V, A) by Gaussian noise, so adding them cannot help (Tables 1 and 2 must not hold);
:func:`shuffled_labels` permutes the labels, so there is nothing to learn and neither accuracy nor
latent quality can differ in a decided direction (Table 3 must not hold).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mmtheory.checks import Verdict, all_of, any_of, decide_positive
from mmtheory.seeding import numpy_rng

__all__ = ["any_of", "check_table1", "check_table2", "check_table3", "noise_views", "shuffled_labels"]

PAIRS = (("TV", "T"), ("TA", "T"), ("TVA", "TA"), ("TVA", "TV"))


def _wide(results: pd.DataFrame, ratio: float, value: str, sets: Sequence[str]) -> pd.DataFrame:
    """``seed x set`` table of ``value`` at ``ratio``; one clear error per bad input."""
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be the DataFrame of modality_sweep; got {type(results).__name__}.")
    need = {"set", "ratio", "seed", value}
    missing = need - set(results.columns)
    if missing:
        hint = " (run modality_sweep with refit_epochs > 0)" if value == "eta_hat" else ""
        raise ValueError(f"results need columns {sorted(need)}; missing {sorted(missing)}{hint}.")
    at = results[np.isclose(results["ratio"].astype(float), float(ratio))]
    if at.empty:
        raise ValueError(f"results have no run at ratio {ratio:g}; ratios present: "
                         f"{sorted(float(r) for r in results['ratio'].unique())}.")
    absent = [s for s in sets if s not in set(at["set"])]
    if absent:
        raise ValueError(f"results have no set {absent} at ratio {ratio:g}; sets present: {sorted(set(at['set']))} "
                         "(name the sets by letters, e.g. results['set'].map(letters)).")
    at = at[at["set"].isin(sets)]
    if at.duplicated(["set", "seed"]).any():
        raise ValueError(f"results have more than one run per (set, seed) at ratio {ratio:g}.")
    wide = at.pivot(index="seed", columns="set", values=value)[list(sets)].astype(float)
    wide = wide.where(np.isfinite(wide))  # NaN, inf and missing runs stay as NaN: decide_positive counts them
    if wide.isna().all(axis=None):
        raise ValueError(f"no finite {value!r} for any set of {list(sets)} at ratio {ratio:g} (every run failed).")
    return wide


def _pair_sets(pairs: Sequence[tuple[str, str]]) -> list[str]:
    if not pairs:
        raise ValueError("pairs is empty; give (M, N) pairs such as [('TV', 'T')].")
    return list(dict.fromkeys(s for p in pairs for s in p))


def check_table1(results: pd.DataFrame, pairs: Sequence[tuple[str, str]] = PAIRS, *, ratio: float = 1.0,
                 level: float = 0.95) -> Verdict:
    """H21-*-t1: test accuracy grows when a modality is added, for every pair (M, N) (``acc(M) - acc(N) > 0``).

    Parameters
    ----------
    results : pandas.DataFrame
        modality_sweep rows (see the module docstring).
    pairs : sequence of (M, N)
        M is N plus a modality.
    ratio : float
        Training fraction (Table 1: the whole training set).
    level : float
    """
    wide = _wide(results, ratio, "test_acc", _pair_sets(pairs))
    parts = {f"{m}>{n}": decide_positive(wide[m] - wide[n], ours="", units="points", what=f"acc {m} - {n}", level=level)
             for m, n in pairs}
    ours = ", ".join(f"{m}>{n}: {(wide[m] - wide[n]).mean():+.2f}" for m, n in pairs) + f" points ({len(wide)} seeds)"
    return all_of(parts, ours=ours, level=level)


def check_table2(results: pd.DataFrame, *, full_set: str = "TVA", others: Sequence[str] = ("T", "TV", "TA"),
                 large_ratio: float = 1.0, small_ratio: float | None = None, level: float = 0.95) -> Verdict:
    """H21-*-t2: at ``large_ratio`` ``full_set`` beats every other set, and at ``small_ratio`` some smaller set beats it.

    Both parts must hold (:func:`~mmtheory.checks.ogm.all_of`); the second is an :func:`any_of` over the
    smaller sets. Each comparison is a paired t interval over seeds.

    Parameters
    ----------
    results : pandas.DataFrame
    full_set : str
    others : sequence of str
    large_ratio : float
    small_ratio : float, optional
        Default: the smallest ratio in ``results``.
    level : float
    """
    if not others:
        raise ValueError("others must name at least one smaller set, e.g. ('T', 'TV', 'TA').")
    sets = [full_set, *others]
    if small_ratio is None:
        if "ratio" not in getattr(results, "columns", []):
            raise ValueError("results need a 'ratio' column (modality_sweep output).")
        small_ratio = float(results["ratio"].min())
    big = _wide(results, large_ratio, "test_acc", sets)
    small = _wide(results, small_ratio, "test_acc", sets)
    best = {o: decide_positive(big[full_set] - big[o], ours="", units="points", what=f"ratio {large_ratio:g}: {full_set} - {o}",
                               level=level) for o in others}
    beat = {o: decide_positive(small[o] - small[full_set], ours="", units="points",
                               what=f"ratio {small_ratio:g}: {o} - {full_set}", level=level) for o in others}
    ranked = big.mean().sort_values(ascending=False)
    d_small = {o: float((small[o] - small[full_set]).mean()) for o in others}
    o_max = max(d_small, key=d_small.get)
    sd = float(small[full_set].std(ddof=1)) if len(small) > 1 else float("nan")
    ours = (f"ratio {large_ratio:g}: best {ranked.index[0]} ({ranked.iloc[0]:.2f}); ratio {small_ratio:g}: {full_set} "
            f"{small[full_set].mean():.2f}, best other {o_max} {d_small[o_max]:+.2f} points (seed std of {full_set} {sd:.2f})")
    return all_of({f"{full_set} best at {large_ratio:g}": all_of(best, ours="", level=level),
                   f"a smaller set beats {full_set} at {small_ratio:g}": any_of(beat, ours="", level=level)},
                  ours=ours, level=level)


def check_table3(results: pd.DataFrame, pairs: Sequence[tuple[str, str]] = PAIRS, *, ratio: float = 1.0,
                 level: float = 0.95) -> Verdict:
    r"""H21-*-t3: accuracy difference and latent-quality gap have the same sign for every pair.

    Per pair (M, N) and seed: ``acc(M) - acc(N)`` and the quality gap :math:`\hat\eta(N) - \hat\eta(M)`
    (positive: M's latent is better). A pair *agrees* when both intervals exclude 0 on the same side,
    *disagrees* when they exclude it on opposite sides, and is undecided otherwise; the claim needs
    every pair to agree (:func:`~mmtheory.checks.all_of`). A pair's margin is the smaller of its two
    margins. A pair's p-value of "agree" is the larger of its two one-sided p-values in the better of the
    two directions, doubled (Bonferroni over the two directions); of "disagree" likewise.

    Parameters
    ----------
    results : pandas.DataFrame
        Needs ``eta_hat`` (modality_sweep with ``refit_epochs > 0``).
    pairs : sequence of (M, N)
    ratio : float
    level : float
    """
    sets = _pair_sets(pairs)
    acc = _wide(results, ratio, "test_acc", sets)
    eta = _wide(results, ratio, "eta_hat", sets)
    seeds = acc.index.intersection(eta.index)
    acc, eta = acc.loc[seeds], eta.loc[seeds]
    parts, shown = {}, []
    for m, n in pairs:
        a = decide_positive(acc[m] - acc[n], ours="", units="points", what=f"acc {m} - {n}", level=level)
        q = decide_positive(eta[n] - eta[m], ours="", units="points", what=f"eta gap {n} - {m}", level=level)
        margin = min(a.margin, q.margin)
        key = f"{m}/{n}"
        pa, pq = (a.details.get("p_holds", 1.0), a.details.get("p_differs", 1.0)), \
            (q.details.get("p_holds", 1.0), q.details.get("p_differs", 1.0))
        p_agree = min(1.0, 2 * min(max(pa[0], pq[0]), max(pa[1], pq[1])))
        p_disagree = min(1.0, 2 * min(max(pa[0], pq[1]), max(pa[1], pq[0])))
        fails = max(a.details.get("failed_runs", 0), q.details.get("failed_runs", 0))
        ps = dict(p_holds=p_agree, p_differs=p_disagree, failed_runs=fails)
        decided = {a.status, q.status} <= {"holds", "differs"}
        if decided and a.status == q.status:
            parts[key] = Verdict("holds", ours="", margin=margin, units="points", interval=a.interval,
                                 interval_method=a.interval_method, details=ps,
                                 reason=f"{key}: same sign ({a.reason}; {q.reason})")
        elif decided:
            parts[key] = Verdict("differs", ours="", margin=margin, units="points", interval=a.interval,
                                 interval_method=a.interval_method, details=ps,
                                 reason=f"{key}: opposite signs ({a.reason}; {q.reason})")
        else:
            # the undecided sign's effect and spread, so seed rounds can say how many seeds it would need
            u = a if a.status == "inconclusive" else q
            ps.update(mean=u.details.get("mean"), sd=u.details.get("sd"), threshold=0.0)
            # the interval shown is the undecided sign's, the one its mean belongs to
            parts[key] = Verdict("inconclusive", ours="", margin=0.0, units="points", interval=u.interval,
                                 interval_method=u.interval_method, details=ps,
                                 reason=f"{key}: a sign is undecided ({a.reason}; {q.reason})")
        shown.append(f"{key} {(acc[m] - acc[n]).mean():+.2f}, {(eta[n] - eta[m]).mean():+.2f}")
    return all_of(parts, ours="; ".join(shown) + f" (accuracy difference, quality gap; {len(seeds)} seeds)", level=level)


def noise_views(views: Mapping[str, np.ndarray], replace: Sequence[str], seed: int = 0) -> dict[str, np.ndarray]:
    """A broken world: the modalities ``replace`` become standard Gaussian noise of the same shape.

    Parameters
    ----------
    views : dict of str to ndarray, each (n, d_k)
    replace : sequence of str
        Keys of ``views`` to replace.
    seed : int

    Returns
    -------
    dict of str to ndarray (float32), the same keys and shapes
    """
    unknown = [k for k in replace if k not in views]
    if unknown:
        raise ValueError(f"cannot replace {unknown} by noise: modalities present are {sorted(views)}.")
    rng = numpy_rng(int(seed), "broken-world", "noise-views")
    return {k: (rng.standard_normal(np.shape(v)).astype(np.float32) if k in replace else v) for k, v in views.items()}


def shuffled_labels(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A broken world: the labels permuted at random (train and test alike), so nothing can be learned.

    Parameters
    ----------
    labels : ndarray (n,) of int
    seed : int
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-d array; got shape {y.shape}.")
    return numpy_rng(int(seed), "broken-world", "shuffled-labels").permutation(y)
