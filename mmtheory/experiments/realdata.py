"""Glue that puts a real multi-view dataset (UCI mfeat) into the package's experiments, unchanged.

* :func:`nested_sets`: the Table-2 grid's view sets (every single view, then a nested chain);
* :func:`imbalanced_pair`: the OGM-GE chapter's pair by a stated rule (strongest and weakest view);
* :func:`validation_pair`: that rule applied to single-view accuracies on a validation split carved from the
  training rows only (seeded, stratified), so the pair is never chosen on the test rows the checks use;
* :func:`view_pair`: a pair of views as ``run_standin(data=...)`` takes it (dominant as ``audio``, weak
  as ``visual``, standardised with training statistics);
* :func:`selection_trials_views`: the trials frame of :func:`mmtheory.experiments.selection.rule_regrets`
  computed on real views, so the selection rule of chapter 07 is judged against always-larger,
  always-smaller and a validation split with the same code.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mmtheory._validation import check_modalities
from mmtheory.data.mfeat import stratified_split
from mmtheory.experiments.modality_sweep import modality_sweep
from mmtheory.seeding import derive_seed, numpy_rng
from mmtheory.theory.bounds import fit_late_fusion_erm
from mmtheory.theory.rademacher import late_fusion_rademacher

__all__ = ["nested_sets", "imbalanced_pair", "validation_pair", "view_pair", "parity_target", "selection_trials_views"]


def nested_sets(order: Sequence[str]) -> list[tuple[str, ...]]:
    """Every single view, then the nested chain ``order[:2], order[:3], ..., order`` (1 to K views)."""
    order = list(dict.fromkeys(order))
    if len(order) < 2:
        raise ValueError(f"nested_sets needs at least two views; got {order}.")
    return [(v,) for v in order] + [tuple(order[:k]) for k in range(2, len(order) + 1)]


def imbalanced_pair(unimodal_acc: Mapping[str, float]) -> tuple[str, str]:
    """The rule of the real-data OGM-GE experiment: (strongest, weakest) view by unimodal accuracy.

    Parameters
    ----------
    unimodal_acc : dict of view -> accuracy (e.g. the Table-2 grid's single-view test accuracy with the whole
        training set, mean over seeds)

    Returns
    -------
    (strong, weak) : the views with the highest and the lowest accuracy (ties: the first in order).
    """
    if len(unimodal_acc) < 2:
        raise ValueError(f"imbalanced_pair needs the accuracy of at least two views; got {dict(unimodal_acc)}.")
    acc = {k: float(v) for k, v in unimodal_acc.items()}
    return max(acc, key=acc.get), min(acc, key=acc.get)


def validation_pair(views: Mapping[str, np.ndarray], labels: np.ndarray, train_mask: np.ndarray, *,
                    val_fraction: float = 0.25, seeds: Sequence[int] = (0,), seed: int = 0,
                    **sweep_kw) -> tuple[str, str, pd.Series]:
    """(strong, weak) by :func:`imbalanced_pair` on a validation split of the **training rows only**.

    The training rows (``train_mask``) are split once, stratified by class, with the seed
    ``derive_seed(seed, "pair-validation")`` (:func:`mmtheory.data.mfeat.stratified_split`); every single
    view is trained (:func:`~mmtheory.experiments.modality_sweep.modality_sweep`, whole fitting part, the
    given ``seeds``) on the fitting part and scored on the validation part. The test rows are dropped
    before anything is computed, so they cannot influence the choice.

    Parameters
    ----------
    views : dict of str -> ndarray (n, d_k)
    labels : ndarray (n,) of int
    train_mask : ndarray (n,) of bool
        True for training rows; the others (test rows) are never read.
    val_fraction : float in (0, 1)
        Share of every class's training rows held out for validation.
    seeds : seeds of the single-view runs (their validation accuracy is averaged)
    seed : int
        Seed of the validation split and of the runs.
    **sweep_kw
        Passed to ``modality_sweep`` (``hidden``, ``epochs``, ``lr``, ``batch_size``, ...).

    Returns
    -------
    (strong, weak, val_acc) : the two views and the mean validation accuracy (%) of every view.
    """
    names = tuple(views)
    y = np.asarray(labels)
    mask = np.asarray(train_mask, dtype=bool)
    if mask.shape != y.shape:
        raise ValueError(f"train_mask must have shape {y.shape}; got {mask.shape}.")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}.")
    if len(names) < 2:
        raise ValueError(f"validation_pair needs at least two views; got {list(names)}.")
    rows = np.flatnonzero(mask)
    sub_views = {k: np.asarray(v)[rows] for k, v in views.items()}
    sub_y = y[rows]
    fit_mask = stratified_split(sub_y, val_fraction, split_seed=derive_seed(seed, "pair-validation"))
    kw = dict(refit_epochs=0, probe_fraction=0.0, seed=seed)
    kw.update(sweep_kw)
    res = modality_sweep(sub_views, sub_y, [(k,) for k in names], ratios=[1.0], seeds=list(seeds), train_mask=fit_mask,
                         **kw)
    val_acc = res.groupby("set")["test_acc"].mean().reindex(list(names))
    strong, weak = imbalanced_pair(val_acc)
    return strong, weak, val_acc


def view_pair(views: Mapping[str, np.ndarray], labels: np.ndarray, train_mask: np.ndarray, strong: str, weak: str,
              *, standardize: bool = True) -> tuple[dict, np.ndarray, dict, np.ndarray]:
    """``(train_views, train_labels, test_views, test_labels)`` for ``run_standin(data=...)``.

    The ``strong`` view becomes ``"audio"`` (the dominant modality of the OGM-GE experiments) and ``weak``
    becomes ``"visual"``; features are standardised with the training rows' mean and standard deviation.
    """
    names = tuple(views)
    check_modalities((strong, weak), names)
    if strong == weak:
        raise ValueError(f"strong and weak must be two different views; got {strong!r} twice.")
    mask = np.asarray(train_mask, dtype=bool)
    y = np.asarray(labels)
    if mask.shape != y.shape:
        raise ValueError(f"train_mask must have shape {y.shape}; got {mask.shape}.")
    out = {}
    for role, v in (("audio", strong), ("visual", weak)):
        x = np.asarray(views[v], dtype=np.float64)
        if standardize:
            mu, sd = x[mask].mean(0), x[mask].std(0)
            x = (x - mu) / np.where(sd > 0, sd, 1.0)
        out[role] = x.astype(np.float32)
    return ({k: x[mask] for k, x in out.items()}, y[mask].astype(np.int64),
            {k: x[~mask] for k, x in out.items()}, y[~mask].astype(np.int64))


def parity_target(labels: np.ndarray) -> np.ndarray:
    """The scalar target of the selection experiment: +1 for an even digit, -1 for an odd one."""
    y = np.asarray(labels)
    return np.where(y % 2 == 0, 1.0, -1.0)


def selection_trials_views(
    views: Mapping[str, np.ndarray],
    target: np.ndarray,
    train_mask: np.ndarray,
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
    m_values: Sequence[int],
    n_trials: int,
    *,
    encoder_radius: float = 1.0,
    head_radius: float = 3.0,
    n_draws: int = 200,
    val_fraction: float = 0.3,
    seed: int = 0,
    shuffle_labels: bool = False,
) -> pd.DataFrame:
    """The inputs of :func:`~mmtheory.experiments.selection.rule_regrets`, on real views.

    For every (pair, m, trial): ``m`` training rows drawn from the training split, both late-fusion
    classes fitted by ERM (squared loss on the scalar ``target``, norm bounds a and b as in chapter 07),
    their empirical Rademacher complexities on the same rows, a validation split of the rows, and, in
    place of the population risk that real data does not give, the **test-split risk** of both ERMs
    (the held-out rows the choice is judged on; never used by any rule).

    Parameters
    ----------
    views : dict of str -> ndarray (n, d_k)
        Standardised with the training split's statistics here.
    target : ndarray (n,)
        Scalar targets (e.g. :func:`parity_target`).
    train_mask : ndarray (n,) of bool
    pairs : sequence of (larger, smaller)
        ``smaller`` a strict subset of ``larger``.
    m_values : training sizes (the regimes)
    n_trials : int
    shuffle_labels : bool
        The broken world: the targets permuted within each training sample and on the test split (no set
        can be truly better).

    Returns
    -------
    DataFrame
        ``pair``, ``m``, ``trial``, ``r_larger``, ``r_smaller`` (test-split risks), ``gain``,
        ``complexity_diff``, ``lipschitz`` (L of the squared loss on the reachable range of the rows seen),
        ``val_larger``; the columns ``rule_regrets`` needs.
    """
    names = tuple(views)
    y_all = np.asarray(target, dtype=np.float64).reshape(-1)
    mask = np.asarray(train_mask, dtype=bool)
    if mask.shape != y_all.shape:
        raise ValueError(f"train_mask must have shape {y_all.shape}; got {mask.shape}.")
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}.")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}.")
    pool, test = np.flatnonzero(mask), np.flatnonzero(~mask)
    bad_m = [m for m in m_values if not 2 <= int(m) <= len(pool)]
    if bad_m:
        raise ValueError(f"every m must lie in 2..{len(pool)} (the training split); got {bad_m}.")
    pairs = [(check_modalities(b, names), check_modalities(s, names)) for b, s in pairs]
    for b, s in pairs:
        if not set(s) < set(b):
            raise ValueError(f"smaller {s} must be a strict subset of larger {b}.")
    std = {}
    for k in names:
        x = np.asarray(views[k], dtype=np.float64)
        mu, sd = x[pool].mean(0), x[pool].std(0)
        std[k] = (x - mu) / np.where(sd > 0, sd, 1.0)
    a, b = float(encoder_radius), float(head_radius)
    rows = []
    for big, small in pairs:
        label = f"{'+'.join(big)} vs {'+'.join(small)}"
        for m in m_values:
            for trial in range(n_trials):
                rng = numpy_rng(seed, "selection", "+".join(big), "+".join(small), int(m), trial)
                idx = np.sort(rng.choice(pool, size=int(m), replace=False))
                y = y_all[idx]
                y_test = y_all[test]
                if shuffle_labels:
                    y, y_test = rng.permutation(y), rng.permutation(y_test)
                sample = {k: std[k][idx] for k in names}
                fit = {s: fit_late_fusion_erm(sample, y, s, encoder_radius=a, head_radius=b) for s in (big, small)}
                risk = {s: float(np.mean((np.concatenate([std[k][test] for k in s], axis=1) @ fit[s][0] - y_test) ** 2))
                        for s in (big, small)}
                comp = {s: late_fusion_rademacher(sample, s, encoder_radius=a, head_radius=b, n_draws=n_draws,
                                                  seed=trial).value for s in (big, small)}
                x_max = float(np.linalg.norm(np.concatenate([sample[k] for k in big], axis=1), axis=1).max())
                lip = 2.0 * (a * b * x_max + float(np.abs(y).max()))
                n_val = max(1, int(round(val_fraction * int(m))))
                order = rng.permutation(int(m))
                tr, va = order[n_val:], order[:n_val]
                val_risk = {}
                for s in (big, small):
                    w_s, _ = fit_late_fusion_erm({k: v[tr] for k, v in sample.items()}, y[tr], s, encoder_radius=a,
                                                 head_radius=b)
                    x_va = np.concatenate([sample[k][va] for k in s], axis=1)
                    val_risk[s] = float(np.mean((x_va @ w_s - y[va]) ** 2))
                rows.append(dict(pair=label, m=int(m), trial=trial, r_larger=risk[big], r_smaller=risk[small],
                                 gain=fit[small][1] - fit[big][1], complexity_diff=comp[big] - comp[small],
                                 lipschitz=lip, val_larger=val_risk[big] <= val_risk[small]))
    return pd.DataFrame(rows)
