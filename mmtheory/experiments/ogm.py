"""OGM-GE experiments: baseline vs OGM vs OGM-GE (and unimodal models) as tidy DataFrames.

Used by the chapters on modality imbalance (CPU stand-in), CREMA-D, and latent quality (a frozen-
encoder linear probe per modality, the empirical counterpart of Huang et al.'s eta).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from mmtheory.data.av_standin import AVStandin
from mmtheory.models.late_fusion import LateFusionClassifier, MLPEncoder
from mmtheory.train.late_fusion import TensorBatches, TrainConfig, fit

UNIMODAL = "{}-only"


@torch.no_grad()
def encode_all(encoder: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Frozen features ``(n, d)`` of ``x`` (eval mode, float32, on the CPU)."""
    encoder.eval()
    return torch.cat([encoder(x[i:i + batch_size]).float().cpu() for i in range(0, len(x), batch_size)])


def linear_probe(z_train: torch.Tensor, y_train: torch.Tensor, z_test: torch.Tensor, y_test: torch.Tensor,
                 n_classes: int, l2: float = 1e-4, max_iter: int = 200) -> dict[str, float]:
    r"""Best linear head on frozen features: multinomial logistic regression (L-BFGS, full batch).

    Features are standardised with the training statistics. The probe's test error is
    :math:`\inf_h \hat r(h\circ g)`, i.e. Huang et al.'s latent quality :math:`\eta(g)` up to the
    constant Bayes risk, so differences between encoders are differences in :math:`\eta`.

    Returns
    -------
    dict with ``probe_acc``, ``probe_err`` (test) and ``probe_train_acc``.
    """
    mu, sd = z_train.mean(0), z_train.std(0).clamp_min(1e-6)
    a, b = (z_train - mu) / sd, (z_test - mu) / sd
    head = nn.Linear(a.shape[1], n_classes).double()
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    a, b = a.double(), b.double()
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(a), y_train) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        acc = float((head(b).argmax(1) == y_test).double().mean())
        train_acc = float((head(a).argmax(1) == y_train).double().mean())
    return {"probe_acc": acc, "probe_err": 1 - acc, "probe_train_acc": train_acc}


@dataclass
class StandinResult:
    """Outputs of :func:`run_standin`: one row per run, per epoch, per step, per (run, modality) probe."""

    summary: pd.DataFrame
    history: pd.DataFrame
    steps: pd.DataFrame
    probes: pd.DataFrame


def run_standin(world: AVStandin | None = None, *, n_train: int = 400, n_test: int = 3000,
                methods: Sequence[str] = ("baseline", "ogm", "ogm-ge"), seeds: Sequence[int] = (0, 1, 2),
                epochs: int = 60, lr: float = 0.01, batch_size: int = 64, alpha: float = 0.8,
                modulation_end: int | None = None, hidden: int = 64, features: int = 32, fusion: str = "concat",
                optimizer: str = "sgd", unimodal: bool = True, ogm_options: Mapping | None = None,
                scheduler=None, data: tuple | None = None) -> StandinResult:
    """Train unimodal models and late-fusion models with each method on the stand-in, for each seed.

    Seed ``s`` draws its own training set (``world.sample(n_train, seed=s)``) and initialisation;
    the test set is shared (seed 10,000). OGM acts on every weight matrix of the MLP encoders
    (``params="weights"``: they have no convolutions), for epochs ``0..modulation_end``
    (default: half of the epochs, the official 50 of 100).

    ``scheduler``: ``None`` trains here, one seed after another; otherwise (``"local:N"``, a Dask
    scheduler address or a ``distributed.Client``, see :func:`mmtheory.sweep.map_runs`) each seed is
    one task. A seed's runs depend on nothing but the seed, so the result is the same frame, row for
    row (a test checks it on a 2-worker cluster).

    ``data``: real arrays instead of the stand-in world (``world`` must then be None):
    ``(train_views, train_labels, test_views, test_labels)``, the views dicts with keys ``"audio"`` (the
    dominant modality) and ``"visual"`` (the weak one) of ``(n, d)`` floats, labels ``(n,)`` ints
    (:func:`mmtheory.experiments.realdata.view_pair` makes it from any dict of views). Seed ``s`` then
    trains on ``n_train`` training rows drawn with seed ``s`` (all of them when ``n_train`` is None or
    larger) and every seed is tested on the whole test arrays (``n_test`` is not used).
    """
    if data is not None and world is not None:
        raise ValueError("give either a stand-in world or data=(train_views, train_labels, test_views, test_labels), not both.")
    if scheduler is not None and len(seeds) > 1:
        from mmtheory.sweep import map_runs

        shared = dict(world=world, n_train=n_train, n_test=n_test, methods=tuple(methods), epochs=epochs, lr=lr,
                      batch_size=batch_size, alpha=alpha, modulation_end=modulation_end, hidden=hidden,
                      features=features, fusion=fusion, optimizer=optimizer, unimodal=unimodal,
                      ogm_options=dict(ogm_options) if ogm_options else None, data=data)
        parts = map_runs(run_standin, [dict(seeds=[int(s)]) for s in seeds], scheduler, shared=shared,
                         desc="stand-in seeds", log=None)
        return StandinResult(*(pd.concat([getattr(r, k) for r in parts], ignore_index=True)
                               for k in ("summary", "history", "steps", "probes")))
    names = ("audio", "visual")
    if data is None:
        world = world or AVStandin()
        xt, yt = world.sample(n_test, seed=10_000)
        dims, n_classes = {"audio": world.audio_dim, "visual": world.visual_dim}, world.n_classes
    else:
        pool_x, pool_y, xt, yt = _check_data(data, names)
        dims = {u: pool_x[u].shape[1] for u in names}
        n_classes = int(max(pool_y.max(), yt.max())) + 1
    test_x = {k: torch.from_numpy(v) for k, v in xt.items()}
    test_y = torch.from_numpy(yt)
    end = epochs // 2 if modulation_end is None else modulation_end
    options = {"params": "weights", "end_epoch": end, **dict(ogm_options or {})}
    runs = [(m, names) for m in methods] + ([("baseline", (u,)) for u in names] if unimodal else [])
    summary, hist, steps, probes = [], [], [], []
    for seed in seeds:
        if data is None:
            xs, ys = world.sample(n_train, seed=seed)
        else:
            pick = np.arange(len(pool_y)) if n_train is None or n_train >= len(pool_y) else \
                np.sort(np.random.default_rng([int(seed), 4711]).choice(len(pool_y), size=int(n_train), replace=False))
            xs, ys = {u: pool_x[u][pick] for u in names}, pool_y[pick]
        train_x = {k: torch.from_numpy(v) for k, v in xs.items()}
        train_y = torch.from_numpy(ys)
        for method, mods in runs:
            label = method if len(mods) > 1 else UNIMODAL.format(mods[0])
            torch.manual_seed(seed)
            model = LateFusionClassifier({u: MLPEncoder(dims[u], hidden, features) for u in mods}, n_classes,
                                         fusion if len(mods) > 1 else "concat")
            cfg = TrainConfig(method=method, epochs=epochs, lr=lr, lr_step=10 ** 9, alpha=alpha, optimizer=optimizer,
                              ogm=options if len(mods) > 1 else {}, seed=seed)
            res = fit(model, TensorBatches({u: train_x[u] for u in mods}, train_y, batch_size, seed=seed),
                      TensorBatches({u: test_x[u] for u in mods}, test_y, 4096, shuffle=False), cfg, device="cpu",
                      desc=f"{label} seed {seed}")
            row = {"method": label, "seed": seed, **res.summary()}
            for u in mods:
                p = linear_probe(encode_all(model.encoders[u], train_x[u]), train_y,
                                 encode_all(model.encoders[u], test_x[u]), test_y, n_classes)
                probes.append({"method": label, "seed": seed, "modality": u, **p})
                row[f"probe_acc_{u}"] = p["probe_acc"]
            summary.append(row)
            hist.append(res.history.assign(method=label, seed=seed))
            if len(res.steps):
                steps.append(res.steps.assign(method=label, seed=seed))
    return StandinResult(pd.DataFrame(summary), pd.concat(hist, ignore_index=True),
                         pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(), pd.DataFrame(probes))


def _check_data(data, names: Sequence[str]) -> tuple[dict, np.ndarray, dict, np.ndarray]:
    """``run_standin``'s ``data`` as float32 views and int64 labels; one clear error per problem."""
    if not (isinstance(data, (tuple, list)) and len(data) == 4):
        raise ValueError("data must be (train_views, train_labels, test_views, test_labels); "
                         f"got {type(data).__name__}.")
    out = []
    for views, labels, part in ((data[0], data[1], "train"), (data[2], data[3], "test")):
        if not isinstance(views, Mapping) or sorted(views) != sorted(names):
            got = sorted(views) if isinstance(views, Mapping) else type(views).__name__
            raise ValueError(f"data's {part} views must be a dict with keys {list(names)} (dominant, weak); got {got}.")
        y = np.asarray(labels)
        if y.ndim != 1 or y.size == 0 or y.dtype.kind not in "iu" or y.min() < 0:
            raise ValueError(f"data's {part} labels must be a non-empty 1-d array of class indices >= 0.")
        xs = {u: np.ascontiguousarray(views[u], dtype=np.float32) for u in names}
        bad = {u: x.shape for u, x in xs.items() if x.ndim != 2 or len(x) != len(y) or not np.isfinite(x).all()}
        if bad:
            raise ValueError(f"data's {part} views must be finite (n, d) arrays with n = {len(y)} rows; got {bad}.")
        out += [xs, y.astype(np.int64)]
    return out[0], out[1], out[2], out[3]


#: The broken worlds of the OGM-GE claims: name -> what changes (see :func:`broken_worlds`).
#: ``balanced``: no imbalance, audio and visual at the same input scale, so neither encoder learns faster;
#: ``alpha0``: modulation off, OGM-GE with alpha = 0 (k = 1 for both encoders; the GE noise stays).
BROKEN_WORLDS = {
    "balanced": "audio and visual at equal input scale",
    "alpha0": "OGM-GE with alpha = 0 (no modulation)",
}


def broken_worlds(world: AVStandin | None = None, *, which: Sequence[str] = ("balanced", "alpha0"),
                  real: StandinResult | None = None, balanced_scale: float = 1.0, **kwargs) -> dict[str, StandinResult]:
    """The same stand-in experiment on worlds where the OGM-GE claims should fail (:data:`BROKEN_WORLDS`).

    ``"balanced"``: the baseline and both unimodal models on ``world`` with both input scales set to
    ``balanced_scale`` (the joint model should now beat the best unimodal one: P22-*-imbalance must not
    hold). ``"alpha0"``: the baseline and OGM-GE with ``alpha = 0`` (no modulation: P22-*-ogmge,
    -weak-branch and HP-eta-weak must not hold). The baseline does not depend on ``alpha``; with
    ``real`` (the chapter's own :func:`run_standin` result with the same ``kwargs``) its baseline runs are
    reused instead of trained again.

    Parameters
    ----------
    world : AVStandin, optional
    which : sequence of str
        Keys of :data:`BROKEN_WORLDS`.
    real : StandinResult, optional
    balanced_scale : float
    **kwargs
        Passed to :func:`run_standin` (``n_train``, ``seeds``, ``epochs``, ``fusion``, ...); ``methods``,
        ``alpha`` and ``unimodal`` are set here. With ``data=`` (real views, ``world`` None) only ``"alpha0"``
        applies: a balanced world of real data is a balanced pair of views, run by the caller.

    Returns
    -------
    dict of str to StandinResult
    """
    unknown = [w for w in which if w not in BROKEN_WORLDS]
    if unknown:
        raise ValueError(f"unknown broken world(s) {unknown}; known: {sorted(BROKEN_WORLDS)}.")
    clash = {"methods", "alpha", "unimodal"} & set(kwargs)
    if clash:
        raise ValueError(f"broken_worlds sets {sorted(clash)} itself; leave them out.")
    from dataclasses import replace as _replace

    if kwargs.get("data") is None:
        world = world or AVStandin()
    elif "balanced" in which:
        raise ValueError("the 'balanced' broken world rescales the stand-in; with data= choose a balanced pair of "
                         "views instead and call run_standin on it.")
    out = {}
    if "balanced" in which:
        flat = _replace(world, audio_scale=balanced_scale, visual_scale=balanced_scale)
        out["balanced"] = run_standin(flat, methods=("baseline",), unimodal=True, **kwargs)
    if "alpha0" in which:
        have_base = real is not None and (real.summary["method"] == "baseline").any()
        methods = ("ogm-ge",) if have_base else ("baseline", "ogm-ge")
        r = run_standin(world, methods=methods, alpha=0.0, unimodal=False, **kwargs)
        if have_base:
            pick = {k: getattr(real, k) for k in ("summary", "history", "steps", "probes")}
            r = StandinResult(*(pd.concat([pick[k][pick[k]["method"] == "baseline"] if len(pick[k]) else pick[k],
                                           getattr(r, k)], ignore_index=True)
                                for k in ("summary", "history", "steps", "probes")))
        out["alpha0"] = r
    return out
