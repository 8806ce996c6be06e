"""Huang et al. (2021), Experiment 1 as a reusable function: accuracy by modality set and data fraction.

:func:`modality_sweep` trains the paper's model (one linear encoder per modality, hidden 128, no
sharing, concatenation, linear head; Adam lr 0.01, batch 2048) for every (modality set, data fraction,
seed), all runs batched into one model, and measures test accuracy and the latent quality of each
trained encoder (frozen encoder, head refitted on a held-out probe split of the training pool, best
error reached on the probe's other half: neither the runs' training data nor the test set).
It works on any dict of modality arrays with labels, not only IEMOCAP.

Choices the paper leaves open, and ours (all parameters):

* **probe**: ``probe_fraction`` (0.2) of the training rows are held out for latent quality, so the
  accuracy runs train on the rest; scoring the refit on the runs' own test set would tie the two
  columns of Table 3 together, so that their signs could hardly disagree;
* **subsampling** for a fraction ``r``: ``max(min_samples, ceil(r * n_train))`` training samples drawn
  uniformly without replacement, the same draw for every modality set at a given (fraction, seed) so
  the sets are compared on identical data;
* **epochs**: a fixed number of passes over the run's own training subsample (so a run on one
  utterance takes one step per epoch);
* **seeds**: seed ``s`` fixes the subsample; initialisations and batch orders are drawn from the master
  ``seed`` and the call's whole list of seeds (so a later round of new seeds never reuses an earlier
  round's initialisations by position: rounds are independent);
* **features** are standardised with the training set's mean and standard deviation.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from mmtheory._validation import check_modalities, check_positive_int, check_views
from mmtheory.models.fusion import BatchedLateFusion
from mmtheory.seeding import derive_seed, numpy_rng
from mmtheory.train.batched import fit_batched, refit_heads


def subsample_sizes(n_train: int, ratios: Sequence[float], min_samples: int = 1) -> dict:
    """Training-set size used for each fraction: ``max(min_samples, ceil(ratio * n_train))``."""
    out = {}
    for r in ratios:
        if not (0 < float(r) <= 1):
            raise ValueError(f"every ratio must lie in (0, 1]; got {r}.")
        out[float(r)] = int(min(n_train, max(min_samples, math.ceil(float(r) * n_train))))
    return out


def probe_split(n_pool: int, probe_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Carve the latent-quality probe out of a training pool of ``n_pool`` rows.

    Returns ``(train, fit, score)``: sorted positions in the pool. ``fit`` and ``score`` (the two halves
    of ``ceil(probe_fraction * n_pool)`` rows drawn with ``seed``) are never trained on by an accuracy
    run and are not the test set; ``train`` is the rest, the pool the accuracy runs subsample from.
    """
    if not (0 <= float(probe_fraction) < 1):
        raise ValueError(f"probe_fraction must lie in [0, 1); got {probe_fraction}.")
    n_probe = math.ceil(float(probe_fraction) * n_pool)
    if n_probe and (n_probe < 2 or n_pool - n_probe < 1):
        raise ValueError(f"a probe of {n_probe} of {n_pool} training rows cannot be split in two halves and leave "
                         "training rows; use more training data or change probe_fraction.")
    perm = numpy_rng(seed, "probe-split").permutation(n_pool)
    half = n_probe // 2
    return np.sort(perm[n_probe:]), np.sort(perm[:half]), np.sort(perm[half:n_probe])


def modality_sweep(
    views: Mapping[str, np.ndarray],
    labels: np.ndarray,
    modality_sets: Sequence[Sequence[str]],
    ratios: Sequence[float] = (1.0,),
    seeds: Sequence[int] = (0,),
    *,
    train_mask: np.ndarray,
    hidden: int = 128,
    epochs: int = 50,
    lr: float = 0.01,
    batch_size: int = 2048,
    min_samples: int = 1,
    refit_epochs: int = 30,
    probe_fraction: float = 0.2,
    standardize: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
    compute: str = "grouped",
) -> pd.DataFrame:
    """Train every (set, ratio, seed) run of the paper's late-fusion model, batched.

    The runs of one fraction (every set and seed) take the same number of steps, so they are trained
    together as one :class:`~mmtheory.models.BatchedLateFusion`; fractions follow one another. Each
    modality's encoder is evaluated only for the runs whose set contains it (``compute="grouped"``), so
    a run pays for the features it uses; ``compute="masked"`` is the reference that evaluates every
    encoder for every run and multiplies the unused outputs by zero (same results up to rounding).

    Latent quality is measured on a probe split carved from the training pool (``probe_fraction`` of
    it, see :func:`probe_split`), which no accuracy run trains on and which is not the test set: the
    trained encoder is frozen, a fresh head is fitted on one half of the probe and scored on the
    other, and the best score over the refit epochs is kept. Runs of one modality set (all fractions
    and seeds) are refitted together on their own latent, assembled from the set's pieces.

    Parameters
    ----------
    views : dict of str -> ndarray (n, d_k)
    labels : ndarray (n,) of int class indices
    modality_sets : sequence of modality-name tuples, e.g. ``[("text",), ("text", "audio")]``
    ratios : fractions of the training pool (after the probe is carved out) in (0, 1]
    seeds : subsample seeds
    train_mask : bool ndarray (n,)
        True for training rows; the others are the test set.
    refit_epochs : int
        Epochs of the frozen-encoder head refit that measures latent quality (0 skips it).
    probe_fraction : float in [0, 1)
        Share of the training rows held out for the probe (always carved, so ``n_train`` does not
        depend on ``refit_epochs``); must be > 0 when ``refit_epochs > 0``.
    compute : {"grouped", "masked"}
        See above; ``masked`` exists to check the grouped computation.

    Returns
    -------
    DataFrame
        One row per run: ``set`` (names joined by "+"), ``ratio``, ``seed``, ``n_train``,
        ``train_acc`` (on the run's own subsample), ``test_acc`` (%), and with ``refit_epochs > 0``
        ``refit_acc`` (best probe-score accuracy of the refitted head, %) and ``eta_hat`` =
        100 - refit_acc: latent quality as an error in percentage points, up to the unknown Bayes error.
    """
    n = check_views(views, labels)
    names = tuple(views)
    sets = [check_modalities(s, names) for s in modality_sets]
    if not sets:
        raise ValueError("modality_sets is empty; give at least one set, e.g. [('text',)].")
    if compute not in ("grouped", "masked"):
        raise ValueError(f"compute must be 'grouped' or 'masked', got {compute!r}.")
    train_mask = np.asarray(train_mask, dtype=bool)
    if train_mask.shape != (n,):
        raise ValueError(f"train_mask must be a boolean array of shape ({n},); got {train_mask.shape}.")
    if train_mask.all() or not train_mask.any():
        raise ValueError("train_mask must leave both training and test rows.")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.min() < 0:
        raise ValueError("labels must be non-negative integer class indices.")
    for name, value in (("hidden", hidden), ("epochs", epochs), ("batch_size", batch_size), ("min_samples", min_samples)):
        check_positive_int(name, value)
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed.")
    if refit_epochs > 0 and not probe_fraction > 0:
        raise ValueError("refit_epochs > 0 needs a probe split: set probe_fraction in (0, 1), e.g. 0.2, "
                         "or refit_epochs=0 to skip latent quality.")
    n_classes = int(labels.max()) + 1
    pool, te = np.flatnonzero(train_mask), np.flatnonzero(~train_mask)
    keep, fit_pos, score_pos = probe_split(len(pool), probe_fraction, seed)
    tr, pr_fit, pr_score = pool[keep], pool[fit_pos], pool[score_pos]
    sizes = subsample_sizes(len(tr), ratios, min_samples)

    dev = torch.device(device)
    xs_tr, xs_te, xs_fit, xs_score = [], [], [], []
    for m in names:
        x = np.asarray(views[m], dtype=np.float32)
        if standardize:
            mu, sd = x[pool].mean(0), x[pool].std(0)
            x = (x - mu) / np.where(sd > 0, sd, 1.0)
        for out, rows in ((xs_tr, tr), (xs_te, te), (xs_fit, pr_fit), (xs_score, pr_score)):
            out.append(torch.as_tensor(x[rows], device=dev))
    y_tr = torch.as_tensor(labels[tr], dtype=torch.long, device=dev)
    y_te = torch.as_tensor(labels[te], dtype=torch.long, device=dev)
    y_fit = torch.as_tensor(labels[pr_fit], dtype=torch.long, device=dev)
    y_score = torch.as_tensor(labels[pr_score], dtype=torch.long, device=dev)
    # The streams of this call: the master seed and every seed of the call (a round of new seeds gets new ones).
    call_key = tuple(int(s) for s in seeds)
    refit_kw = dict(epochs=refit_epochs, lr=lr, batch_size=batch_size,
                    seed=derive_seed(seed, "refit", *call_key, bits=62))

    frames = []
    probe = {i: ([], [], []) for i in range(len(sets))}  # per set: fit latents, score latents, row keys
    for g, ratio in enumerate(sizes):  # one batched model per fraction: its runs take equally many steps
        draws = {}
        for s in seeds:  # one draw per (fraction, seed), shared by every modality set
            rng = numpy_rng(s, "subsample", int(round(ratio * 1e6)))
            draws[s] = torch.as_tensor(np.sort(rng.choice(len(tr), size=sizes[ratio], replace=False)), device=dev)
        runs = list(product(range(len(sets)), seeds))
        if sizes[ratio] == len(tr):  # the whole training set: one copy shared by every run
            views_g, y_g = xs_tr, y_tr
        else:
            rows = torch.stack([draws[s] for _, s in runs])  # (R, n_sub)
            views_g, y_g = [x[rows] for x in xs_tr], y_tr[rows]
        net = BatchedLateFusion({m: views[m].shape[1] for m in names}, hidden, n_classes,
                                [sets[i] for i, _ in runs], seed=derive_seed(seed, "fraction", g, *call_key, bits=62),
                                compute=compute).to(dev)
        fit_batched(net, views_g, y_g, loss="ce", epochs=epochs, lr=lr, batch_size=batch_size,
                    seed=derive_seed(seed, "fraction", g, *call_key, bits=62),
                    desc=f"fraction {ratio:g}")
        with torch.no_grad():
            train_acc = (net(views_g).argmax(-1) == y_g).float().mean(1)
            test_acc = (net(xs_te).argmax(-1) == y_te).float().mean(1)
        frame = pd.DataFrame({
            "set": ["+".join(sets[i]) for i, _ in runs],
            "ratio": ratio,
            "seed": [int(s) for _, s in runs],
            "n_train": sizes[ratio],
            "train_acc": (100 * train_acc).cpu().numpy().astype(float),
            "test_acc": (100 * test_acc).cpu().numpy().astype(float),
        })
        if refit_epochs > 0:
            with torch.no_grad():
                if compute == "masked":  # reference: every run's zero-padded latent, one refit per fraction
                    z_fit, z_score = net.encode(xs_fit), net.encode(xs_score)
                else:
                    _collect_probe(net, runs, sets, names, xs_fit, xs_score, probe, g)
            if compute == "masked":
                best = refit_heads(z_fit, y_fit, z_score, y_score, **refit_kw)
                frame["refit_acc"] = (100 * best).cpu().numpy().astype(float)
        frames.append(frame)
        del net
    if refit_epochs > 0 and compute == "grouped":
        for i, (fit, score, keys) in probe.items():  # every fraction and seed of set i refitted together
            best = refit_heads(torch.cat(fit), y_fit, torch.cat(score), y_score, **refit_kw)
            for (g, r), acc in zip(keys, (100 * best).cpu().numpy().astype(float)):
                frames[g].loc[r, "refit_acc"] = acc
    if refit_epochs > 0:
        for frame in frames:
            frame["eta_hat"] = 100.0 - frame["refit_acc"]
    order = {"+".join(s): i for i, s in enumerate(sets)}
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["set", "ratio", "seed"], key=lambda c: c.map(order) if c.name == "set" else c,
                           kind="stable").reset_index(drop=True)


def modality_sweeps(calls: Mapping[str, Mapping], scheduler=None) -> dict[str, pd.DataFrame]:
    """Several independent :func:`modality_sweep` calls (a chapter's grid and its broken worlds).

    Parameters
    ----------
    calls : dict of name -> keyword arguments of :func:`modality_sweep`
    scheduler : None, "local:N", a Dask scheduler address or a ``distributed.Client``
        ``None``: the calls run here, one after another. Otherwise each call is one task on Dask
        (:func:`mmtheory.parallel.map_runs`, one torch thread per task as in a chapter); a call's result
        does not depend on where it runs.

    Returns
    -------
    dict of name -> DataFrame
        ``modality_sweep``'s frame for each call, in the order of ``calls``.
    """
    names = list(calls)
    if scheduler is None:
        return {n: modality_sweep(**calls[n]) for n in names}
    from mmtheory.parallel import map_runs

    frames = map_runs(modality_sweep, [dict(calls[n]) for n in names], scheduler, desc="modality sweeps", log=None)
    return dict(zip(names, frames))


def _collect_probe(net, runs, sets, names, xs_fit, xs_score, probe, g) -> None:
    """Append each set's probe latents (R_set, n, |set| * hidden), assembled from its modalities' pieces only."""
    for slot, xs in ((0, xs_fit), (1, xs_score)):
        for s, e, ks, zs in net.encode_blocks(xs):
            i = runs[s][0]  # a block's runs share one modality set
            probe[i][slot].append(torch.cat(zs, dim=-1))
            if slot == 0:
                probe[i][2].extend((g, r) for r in range(s, e))


def summarize_sweep(results: pd.DataFrame, value: str = "test_acc") -> pd.DataFrame:
    """Mean and standard deviation over seeds of ``value`` per (set, ratio)."""
    g = results.groupby(["set", "ratio"], sort=False)[value]
    return g.agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0).reset_index()


def quality_pairs(results: pd.DataFrame, pairs: Sequence[tuple[str, str]], ratio: float = 1.0) -> pd.DataFrame:
    """Paper's Table 3: for (M, N), test-accuracy difference and latent-quality gap eta(N) - eta(M).

    Both are averaged over seeds at ``ratio`` (positive: M is better); ``signs_agree`` compares them.
    """
    if "eta_hat" not in results:
        raise ValueError("results have no eta_hat column; run modality_sweep with refit_epochs > 0.")
    at = results[np.isclose(results["ratio"], ratio)].groupby("set")[["test_acc", "eta_hat"]].mean()
    rows = []
    for big, small in pairs:
        missing = [s for s in (big, small) if s not in at.index]
        if missing:
            raise ValueError(f"sets {missing} are not in the results; available: {sorted(at.index)}.")
        acc_diff = at.loc[big, "test_acc"] - at.loc[small, "test_acc"]
        gap = at.loc[small, "eta_hat"] - at.loc[big, "eta_hat"]
        rows.append(dict(M=big, N=small, acc_diff=acc_diff, quality_gap=gap, signs_agree=bool(np.sign(acc_diff) == np.sign(gap))))
    return pd.DataFrame(rows)
