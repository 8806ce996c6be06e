r"""Huang et al. (2021), synthetic experiment: latent quality :math:`\eta` by modality set and overlap ``w``.

Three estimates of :math:`\eta(\hat g_{\mathcal M})` on the overlap generator
(:func:`mmtheory.data.synthetic.overlap_model`), each evaluated *exactly* with the model's population
moments (so the only error left is that of the learned encoder):

* ``closed_form``: the best linear encoder of :math:`\mathcal G_{\mathcal M}` (no sample; the formula
  :math:`(1-w)^2 d_p (K-|\mathcal M|)` derived in the book);
* ``erm``: the exact linear ERM (reduced-rank least squares) on ``n_train`` samples;
* ``trained``: the paper's recipe, per-modality linear encoders + concatenation + linear head trained by
  Adam on ``n_train`` samples; all (set, w) runs are trained together as one batched model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from mmtheory.data.synthetic import column_slices, modality_names, overlap_eta, overlap_model
from mmtheory.models.fusion import BatchedLateFusion
from mmtheory.papers import HUANG_SYNTHETIC_ETA, HUANG_SYNTHETIC_W
from mmtheory.theory.framework import concat_views, set_label
from mmtheory.theory.linear import best_linear_risk_batched, fit_erm_from_moments, latent_quality
from mmtheory.train.batched import fit_batched


def nested_sets(n_modalities: int = 4) -> list[tuple[str, ...]]:
    """The paper's rows: m1, (m1, m2), ..., (m1..mK)."""
    names = modality_names(n_modalities)
    return [names[: k + 1] for k in range(len(names))]


def paper_table() -> pd.DataFrame:
    """The paper's synthetic table as a tidy frame (set, w, eta_paper)."""
    rows = [
        dict(set=s, w=w, eta_paper=v) for s, vals in HUANG_SYNTHETIC_ETA.items() for w, v in zip(HUANG_SYNTHETIC_W, vals)
    ]
    return pd.DataFrame(rows)


def overlap_table(
    w_values: Sequence[float] = HUANG_SYNTHETIC_W,
    *,
    n_modalities: int = 4,
    d_shared: int = 100,
    d_private: int = 100,
    n_train: int = 2000,
    noise: float = 0.0,
    model_seed: int = 0,
    seed: int = 0,
    private_in_target: bool = True,
    erm: bool = True,
) -> pd.DataFrame:
    """Closed-form and exact-ERM latent quality for every nested set and every ``w``.

    Returns
    -------
    DataFrame
        One row per (set, w): ``set``, ``n_observed``, ``w``, ``eta_formula`` ((1-w)^2 d_p (K-|M|)),
        ``eta_closed_form`` (best linear encoder, from the moments), ``eta_erm`` (ERM encoder fitted
        on ``n_train`` samples drawn with ``seed``; NaN when ``erm`` is False).
    """
    rows = []
    for w in w_values:
        model = overlap_model(
            w, n_modalities=n_modalities, d_shared=d_shared, d_private=d_private, noise=noise, seed=model_seed,
            private_in_target=private_in_target,
        )
        if erm:  # one Gram matrix of all views; every nested set's ERM slices it (fit_erm_from_moments)
            data = model.sample(n_train, seed)
            x = concat_views(data.views, model.modalities)
            gram, cross = x.T @ x / n_train, x.T @ data.y / n_train
            cols = column_slices({k: v.shape[1] for k, v in data.views.items()})
        for subset in nested_sets(n_modalities):
            moments = model.moments(subset)
            if erm:
                idx = np.concatenate([np.arange(cols[k].start, cols[k].stop) for k in subset])
                enc = fit_erm_from_moments(gram[np.ix_(idx, idx)], cross[idx])
            rows.append(
                dict(
                    set=set_label(subset),
                    n_observed=len(subset),
                    w=float(w),
                    eta_formula=overlap_eta(w, len(subset), n_modalities=n_modalities, d_private=d_private),
                    eta_closed_form=latent_quality(moments, oracle_risk=model.oracle_risk),
                    eta_erm=latent_quality(moments, enc, oracle_risk=model.oracle_risk) if erm else float("nan"),
                )
            )
    return pd.DataFrame(rows)


def overlap_trained(
    w_values: Sequence[float] = HUANG_SYNTHETIC_W,
    *,
    n_modalities: int = 4,
    d_shared: int = 100,
    d_private: int = 100,
    n_train: int = 2000,
    hidden: int | None = None,
    epochs: int = 60,
    lr: float = 0.01,
    batch_size: int = 256,
    noise: float = 0.0,
    model_seed: int = 0,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    private_in_target: bool = True,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """Latent quality of encoders trained by Adam (the paper's late-fusion recipe), all runs batched.

    Parameters
    ----------
    hidden : int, optional
        Encoder output size per modality; default ``d_shared + d_private`` (as wide as a view: no
        bottleneck, so even an untrained full-rank encoder reaches the closed form). A width below
        ``d_shared + d_private`` makes the encoder choose what to keep, so training matters.
    epochs : int
        Adam epochs; 0 leaves the encoders at their random initialisation (the "untrained" variant).
    seeds : sequence of int, optional
        One independent training sample and initialisation per seed (default: ``[seed]``); every
        (w, set, seed) is one run of the batched model.
    private_in_target : bool
        Passed to :func:`~mmtheory.data.synthetic.overlap_model` (False: the broken world whose target
        ignores the private blocks).
    (others) : as in :func:`overlap_table`; ``lr`` and ``batch_size`` are the optimiser's.

    Returns
    -------
    DataFrame
        One row per (set, w, seed): ``set``, ``n_observed``, ``w``, ``seed``, ``eta_trained``,
        ``train_risk`` (training risk after the last epoch).
    """
    sets = nested_sets(n_modalities)
    hidden = d_shared + d_private if hidden is None else int(hidden)
    if hidden < 1:
        raise ValueError(f"hidden must be >= 1, got {hidden}.")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}.")
    seeds = [int(seed)] if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed.")
    models = [
        overlap_model(w, n_modalities=n_modalities, d_shared=d_shared, d_private=d_private, noise=noise,
                      seed=model_seed, private_in_target=private_in_target)
        for w in w_values
    ]
    datasets = [(i, sd) for i in range(len(models)) for sd in seeds]
    samples = [models[i].sample(n_train, [sd, "overlap-trained"]) for i, sd in datasets]
    names = models[0].modalities
    # run r: dataset j, subset s. Runs of one subset are contiguous, so the batched model has one block per
    # subset (a block per run would make every backward step copy the whole parameter tensors once per run).
    runs = [(j, s) for s in sets for j in range(len(datasets))]
    data_index = torch.tensor([j for j, _ in runs])
    views = [
        torch.stack([torch.as_tensor(s.views[m], dtype=torch.float32) for s in samples])[data_index].to(device)
        for m in names
    ]
    y = torch.stack([torch.as_tensor(s.y, dtype=torch.float32) for s in samples])[data_index].to(device)
    dims = {m: samples[0].views[m].shape[1] for m in names}
    net = BatchedLateFusion(dims, hidden, y.shape[-1], [s for _, s in runs], seed=seeds[0]).to(device)
    history = fit_batched(net, views, y, loss="mse", epochs=epochs, lr=lr, batch_size=batch_size, seed=seeds[0]) \
        if epochs > 0 else []
    with torch.no_grad():
        train_risk = ((net(views) - y) ** 2).sum(-1).mean(-1).cpu().numpy()
    encs = net.encoder_matrices()
    eta = np.empty(len(runs))
    groups: dict = {}  # runs on the same world and set share the moments: one batched eta per group
    for r, (j, subset) in enumerate(runs):
        groups.setdefault((datasets[j][0], tuple(subset)), []).append(r)
    for (i, subset), members in groups.items():
        model = models[i]
        stack = np.stack([encs[r].double().cpu().numpy() for r in members])
        eta[members] = best_linear_risk_batched(model.moments(subset), stack) - model.oracle_risk
    rows = [dict(set=set_label(subset), n_observed=len(subset), w=float(w_values[datasets[j][0]]),
                 seed=datasets[j][1], eta_trained=float(eta[r]), train_risk=float(train_risk[r]))
            for r, (j, subset) in enumerate(runs)]
    position = {set_label(s): k for k, s in enumerate(sets)}  # rows in (dataset, set) order, as before
    order = sorted(range(len(runs)), key=lambda r: (runs[r][0], position[set_label(runs[r][1])]))
    out = pd.DataFrame([rows[r] for r in order])
    out.attrs["history"] = history
    return out


def best_eta_by_subset(model, *, encoder: str = "identity") -> pd.DataFrame:
    """The latent quality of every non-empty modality subset of ``model`` under one encoder family.

    Parameters
    ----------
    model : LatentLinearModel
        Its views must all have the same width when ``encoder="mean"``.
    encoder : {"identity", "mean"}
        ``"identity"``: the best linear encoder of each G_M (the classes are nested, N in M gives
        G_N in G_M). ``"mean"``: the *broken* variant where the encoder of M averages its views,
        a class that does not contain G_N (a subset's information can be lost by averaging).

    Returns
    -------
    DataFrame
        ``set``, ``size``, ``eta_best``.
    """
    from mmtheory.theory.framework import all_subsets

    if encoder not in ("identity", "mean"):
        raise ValueError(f"encoder must be 'identity' or 'mean'; got {encoder!r}.")
    rows = []
    for subset in all_subsets(model.modalities):
        mom = model.moments(subset)
        enc = None
        if encoder == "mean":
            widths = {sl.stop - sl.start for sl in mom.slices.values()}
            if len(widths) != 1:
                raise ValueError(f"the 'mean' encoder needs views of one width; got widths {sorted(widths)}.")
            width = widths.pop()
            enc = np.concatenate([np.eye(width) / len(subset)] * len(subset), axis=0)
        rows.append(dict(set=set_label(subset), size=len(subset),
                         eta_best=latent_quality(mom, enc, oracle_risk=model.oracle_risk)))
    return pd.DataFrame(rows)


def trained_vs_closed(trained: pd.DataFrame, untrained: pd.DataFrame, *, n_modalities: int = 4,
                      d_private: int) -> pd.DataFrame:
    """Per (set, w) cell: closed form, trained encoders (mean and sd over seeds) and untrained encoders.

    Parameters
    ----------
    trained, untrained : DataFrame
        From :func:`overlap_trained` (``epochs > 0`` and ``epochs = 0``), same worlds and seeds.
    d_private : int
        The private-block size the runs used (for the closed form).

    Returns
    -------
    DataFrame
        ``set``, ``n_observed``, ``w``, ``eta_closed_form``, ``eta_trained`` (mean over seeds),
        ``sd_trained``, ``eta_untrained`` (mean), ``trained_minus_closed``, ``untrained_minus_trained``.
    """
    keys = ["set", "n_observed", "w"]
    t = trained.groupby(keys, sort=False)["eta_trained"].agg(eta_trained="mean", sd_trained="std").reset_index()
    u = untrained.groupby(keys, sort=False)["eta_trained"].mean().rename("eta_untrained").reset_index()
    out = t.merge(u, on=keys)
    out.insert(3, "eta_closed_form", [overlap_eta(w, n, n_modalities=n_modalities, d_private=d_private)
                                      for w, n in zip(out["w"], out["n_observed"])])
    out["trained_minus_closed"] = out["eta_trained"] - out["eta_closed_form"]
    out["untrained_minus_trained"] = out["eta_untrained"] - out["eta_trained"]
    return out
