"""OGM-GE experiments: baseline vs OGM vs OGM-GE (and unimodal models) as tidy DataFrames.

Used by the chapters on modality imbalance (CPU stand-in), CREMA-D, and latent quality (a frozen-
encoder linear probe per modality, the empirical counterpart of Huang et al.'s eta).
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from mmtheory.data.av_standin import AVStandin
from mmtheory.seeding import numpy_rng
from mmtheory.train.batched_ogm import EVAL_EPOCHS
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
    dict with ``probe_acc``, ``probe_err`` (test) and ``probe_train_acc``, in percent (``probe_err`` =
    100 - ``probe_acc``, percentage points, like ``eta_hat`` of :mod:`mmtheory.experiments.modality_sweep`).
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
        acc = 100.0 * float((head(b).argmax(1) == y_test).double().mean())
        train_acc = 100.0 * float((head(a).argmax(1) == y_train).double().mean())
    return {"probe_acc": acc, "probe_err": 100.0 - acc, "probe_train_acc": train_acc}


@torch.no_grad()
def linear_probes(z_train: torch.Tensor, y_train: torch.Tensor, z_test: torch.Tensor, y_test: torch.Tensor,
                  n_classes: int, l2: float = 1e-4, max_iter: int = 100, tol: float = 1e-8) -> list[dict[str, float]]:
    r""":func:`linear_probe` for ``R`` independent problems at once, solved by damped Newton steps.

    The same objective (standardised features, multinomial logistic regression, ``l2`` on the weights,
    not the bias), strictly convex in the weights, so it has one minimiser up to the softmax's common
    shift of the biases (which changes no prediction). L-BFGS (:func:`linear_probe`) stops at a
    gradient of ``1e-7``; Newton's method with a backtracking (Armijo) line search reaches the
    minimiser to ``tol`` in about ten to twenty iterations, for all problems in one batch of
    ``(R, (D+1) C)``-sized linear solves, so the two agree up to L-BFGS's tolerance (a test checks
    the accuracies).

    Parameters
    ----------
    z_train : (R, n, D) tensor
    y_train : (R, n) int64 tensor
    z_test : (R, m, D) tensor
    y_test : (R, m) int64 tensor
    n_classes : int
    l2 : float
    max_iter : int
        Newton iterations at most (every problem has converged long before with these sizes).
    tol : float
        A problem stops once its largest absolute gradient entry is below it (L-BFGS: ``1e-7``), or when
        its objective no longer decreases (float precision); the others go on without it, so each
        problem's result is the one it gets when solved alone (a test checks it).

    Returns
    -------
    list of R dicts with ``probe_acc``, ``probe_err`` (test) and ``probe_train_acc``, in percent.
    """
    if z_train.ndim != 3 or z_test.ndim != 3 or y_train.shape != z_train.shape[:2] or y_test.shape != z_test.shape[:2]:
        raise ValueError(f"expected z_train (R, n, D), y_train (R, n), z_test (R, m, D), y_test (R, m); got "
                         f"{tuple(z_train.shape)}, {tuple(y_train.shape)}, {tuple(z_test.shape)}, {tuple(y_test.shape)}.")
    z_train, z_test = z_train.double(), z_test.double()
    mu, sd = z_train.mean(1, keepdim=True), z_train.std(1, keepdim=True).clamp_min(1e-6)
    one = z_train.new_ones(())
    a = torch.cat([(z_train - mu) / sd, one.expand(*z_train.shape[:2], 1)], dim=2)  # (R, n, D+1)
    b = torch.cat([(z_test - mu) / sd, one.expand(*z_test.shape[:2], 1)], dim=2)
    r, n, d1 = a.shape
    c = n_classes
    a32 = a.float()
    onehot = F.one_hot(y_train, c).double()
    penal = torch.ones(d1, c, dtype=torch.float64)
    penal[-1] = 0  # no penalty on the bias row
    theta = a.new_zeros(r, d1, c)

    def objective(logits: torch.Tensor, th: torch.Tensor, oh: torch.Tensor) -> torch.Tensor:  # (k, n, C), (k, D+1, C)
        ce = torch.logsumexp(logits, -1) - (logits * oh).sum(-1)
        return ce.mean(-1) + l2 * (th.pow(2) * penal).sum((-1, -2))

    ridge = torch.diag((2 * l2 * penal).reshape(-1) + 1e-10)  # the l2 term's Hessian, + damping of the bias shift
    live = torch.arange(r)  # the problems still iterating: each stops at its own convergence, so its result
    for _ in range(max_iter):  # depends on it alone, and a converged problem costs no further Hessian
        al, oh, th0 = a[live], onehot[live], theta[live]
        logits = al @ th0
        p = torch.softmax(logits, -1)  # (k, n, C)
        grad = al.transpose(1, 2) @ (p - oh) / n + 2 * l2 * th0 * penal
        going = grad.abs().amax((1, 2)) >= tol
        if not bool(going.all()):
            keep = torch.nonzero(going).squeeze(1)
            live, al, oh, th0, logits, p, grad = (x[keep] for x in (live, al, oh, th0, logits, p, grad))
        k = len(live)
        if not k:
            break
        # Hessian of the mean cross-entropy: (1/n) sum_i (diag p_i - p_i p_i^T) kron a_i a_i^T, index (d, c);
        # in float32: it only sets the direction, the gradient and the line search are float64 (inexact Newton)
        al32 = a32[live]
        ap = (al32[:, :, :, None] * p.float()[:, :, None, :]).reshape(k, n, d1 * c)
        apt = ap.transpose(1, 2)
        h = -(apt @ ap).double()
        diag = (apt @ al32).double().view(k, d1, c, d1)  # the diag-p term: sum_i p_ic a_id a_ie, blocks c = c'
        h.view(k, d1, c, d1, c).diagonal(0, 2, 4).add_(diag.permute(0, 1, 3, 2))
        h = h / n + ridge
        delta = torch.linalg.solve(h, grad.reshape(k, -1, 1)).view(k, d1, c)
        f0 = objective(logits, th0, oh)
        slope = 1e-4 * (grad * delta).sum((1, 2))
        t = torch.ones(k, dtype=torch.float64)
        todo = torch.ones(k, dtype=torch.bool)
        for _ in range(40):  # backtracking: halve the step of the problems whose trial fails Armijo's test
            th = th0 - t[:, None, None] * delta
            ok = objective(al @ th, th, oh) <= f0 - t * slope
            todo &= ~ok
            if not bool(todo.any()):
                break
            t = torch.where(todo, t / 2, t)
        moved = ~todo  # no decrease found: at its minimum to float precision, it stops here
        theta[live[moved]] = th0[moved] - t[moved, None, None] * delta[moved]
        live = live[moved]
        if not len(live):
            break
    acc = (100.0 * ((b @ theta).argmax(-1) == y_test).double().mean(1)).tolist()
    train_acc = (100.0 * ((a @ theta).argmax(-1) == y_train).double().mean(1)).tolist()
    return [{"probe_acc": x, "probe_err": 100.0 - x, "probe_train_acc": t} for x, t in zip(acc, train_acc)]


@dataclass
class StandinResult:
    """Outputs of :func:`run_standin`: one row per run, per epoch, per step, per (run, modality) probe.

    Every accuracy (``best_test_acc``, ``last_test_acc``, ``last_test_acc_<u>``, ``probe_acc_<u>``,
    ``test_acc``, ``test_acc_<u>``) and the probe error ``probe_err`` are in percent, as in every result
    frame of the package (the papers' tables are in percent); differences are percentage points.
    """

    summary: pd.DataFrame
    history: pd.DataFrame
    steps: pd.DataFrame
    probes: pd.DataFrame


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


class RealPair:
    """Two real views seen through the stand-in's interface, so :func:`run_standin` trains on real data.

    ``sample(n, seed)`` gives seed ``seed``'s training rows: ``n`` rows of the training pool drawn on the
    stream ``"real-train-subsample"`` of the seed (all of them when ``n`` is None or at least the pool),
    and ``sample(..., stream="test")`` the whole test split (``n`` is ignored). ``"audio"`` is the
    dominant view and ``"visual"`` the weak one, as in the stand-in. Compared by identity (one object per
    data set), picklable for Dask.

    Parameters
    ----------
    data : tuple
        ``(train_views, train_labels, test_views, test_labels)``; views are dicts with keys ``"audio"``
        and ``"visual"`` of finite ``(n, d)`` arrays, labels ``(n,)`` class indices >= 0.
    """

    def __init__(self, data) -> None:
        self.train_x, self.train_y, self.test_x, self.test_y = _check_data(data, ("audio", "visual"))
        self.audio_dim = int(self.train_x["audio"].shape[1])
        self.visual_dim = int(self.train_x["visual"].shape[1])
        self.n_classes = int(max(self.train_y.max(), self.test_y.max())) + 1

    def sample(self, n: int | None, seed: int = 0, stream: str = "train") -> tuple[dict, np.ndarray]:
        if stream == "test":
            return dict(self.test_x), self.test_y
        pool = len(self.train_y)
        if n is None or n >= pool:
            pick = np.arange(pool)
        else:
            pick = np.sort(numpy_rng(int(seed), "real-train-subsample").choice(pool, size=int(n), replace=False))
        return {u: x[pick] for u, x in self.train_x.items()}, self.train_y[pick]


COMPUTE = ("batched", "loop")


def run_standin(world: AVStandin | None = None, *, n_train: int = 400, n_test: int = 3000,
                methods: Sequence[str] = ("baseline", "ogm", "ogm-ge"), seeds: Sequence[int] = (0, 1, 2),
                epochs: int = 60, lr: float = 0.01, batch_size: int = 64, alpha: float = 0.8,
                modulation_end: int | None = None, hidden: int = 64, features: int = 32, fusion: str = "concat",
                optimizer: str = "sgd", unimodal: bool = True, ogm_options: Mapping | None = None,
                scheduler=None, compute: str = "batched", data: tuple | None = None,
                eval_epochs: str = "all", probes: bool = True) -> StandinResult:
    """Train unimodal models and late-fusion models with each method on the stand-in, for each seed.

    Seed ``s`` draws its own training set (``world.sample(n_train, seed=s)``), minibatch order,
    initialisation (:func:`mmtheory.train.batched_ogm.standin_init`: the methods of a seed and its
    unimodal models start from the same encoder weights) and GE noise, each from its own named stream
    of ``s`` (:mod:`mmtheory.seeding`); the test set is shared (``world.sample(n_test, 0, stream="test")``).
    OGM acts on every weight matrix of the MLP encoders (``params="weights"``: they have no
    convolutions), for epochs ``0..modulation_end`` (default: half of the epochs, the official 50 of 100).

    ``compute="batched"`` (default): every run (seeds x methods, and the unimodal models) is trained
    at once as one :class:`~mmtheory.train.batched_ogm.BatchedStandin`, OGM's scores, coefficients and
    GE noise per run inside the batch; ``compute="loop"``: the reference, one
    :func:`~mmtheory.train.late_fusion.fit` per run with :class:`~mmtheory.train.ogm.OGMGE`. Both give
    the same frames up to float rounding (a test checks it for every method and fusion). OGM options
    the batched trainer does not implement make it fall back to the loop with a warning.

    ``scheduler``: ``None`` trains here; otherwise (``"local:N"``, a Dask scheduler address or a
    ``distributed.Client``, see :func:`mmtheory.parallel.map_runs`) each seed is one task. A seed's runs
    depend on nothing but the seed, so the result is the same frame, row for row (a test checks it on a
    2-worker cluster).

    ``data``: real arrays instead of the stand-in world (``world`` must then be None):
    ``(train_views, train_labels, test_views, test_labels)``, the views dicts with keys ``"audio"`` (the
    dominant modality) and ``"visual"`` (the weak one) of ``(n, d)`` floats, labels ``(n,)`` ints
    (:func:`mmtheory.experiments.realdata.view_pair` makes it from any dict of views); see
    :class:`RealPair`. Seed ``s`` trains on ``n_train`` training rows drawn with seed ``s`` (all of them
    when ``n_train`` is None or larger) and every seed is tested on the whole test arrays (``n_test`` is
    not used).

    ``eval_epochs``: ``"all"`` (default) tests every run after every epoch (the history, and the
    best-epoch accuracy the official script reports); ``"last"`` tests only after the last epoch, for
    callers that read nothing but the last epoch and the probes: the history's test accuracies of the
    other epochs and ``best_epoch`` / ``best_test_acc`` are then NaN (not measured), the rest is the same
    (training does not depend on evaluation; a test checks it). With a 20 000-row test set, testing
    after every epoch costs more than training the stand-in.

    ``probes``: ``True`` (default) fits the frozen-encoder linear probe of every (run, modality) (the
    ``probes`` frame and the summary's ``probe_acc_<u>`` columns); ``False`` skips them for callers that
    read no probe (the ``probes`` frame is then empty and the summary has no probe column).
    """
    if compute not in COMPUTE:
        raise ValueError(f"compute must be one of {COMPUTE}; got {compute!r}.")
    if eval_epochs not in EVAL_EPOCHS:
        raise ValueError(f"eval_epochs must be one of {EVAL_EPOCHS}; got {eval_epochs!r}.")
    if data is not None:
        if world is not None:
            raise ValueError("give either a stand-in world or data=(train_views, train_labels, test_views, "
                             "test_labels), not both.")
        world = RealPair(data)
    if scheduler is not None and len(seeds) > 1:
        from mmtheory.parallel import map_runs

        shared = dict(world=world, n_train=n_train, n_test=n_test, methods=tuple(methods), epochs=epochs, lr=lr,
                      batch_size=batch_size, alpha=alpha, modulation_end=modulation_end, hidden=hidden,
                      features=features, fusion=fusion, optimizer=optimizer, unimodal=unimodal,
                      ogm_options=dict(ogm_options) if ogm_options else None, compute=compute,
                      eval_epochs=eval_epochs, probes=bool(probes))
        parts = map_runs(run_standin, [dict(seeds=[int(s)]) for s in seeds], scheduler, shared=shared,
                         desc="stand-in seeds", log=None)
        return _concat(parts)
    world = world or AVStandin()
    job = _Job(world, tuple(methods), float(alpha), bool(unimodal))
    return _standin_jobs([job], n_train=n_train, n_test=n_test, seeds=seeds, epochs=epochs, lr=lr,
                         batch_size=batch_size, modulation_end=modulation_end, hidden=hidden, features=features,
                         fusion=fusion, optimizer=optimizer, ogm_options=ogm_options, compute=compute,
                         eval_epochs=eval_epochs, probes=bool(probes))[0]


@dataclass(frozen=True)
class _Job:
    """One :func:`run_standin` call's own settings; the rest is shared by the jobs trained together."""

    world: AVStandin
    methods: tuple[str, ...]
    alpha: float
    unimodal: bool


def _concat(parts: Sequence[StandinResult]) -> StandinResult:
    return StandinResult(*(pd.concat([getattr(r, k) for r in parts], ignore_index=True)
                           for k in ("summary", "history", "steps", "probes")))


def _standin_jobs(jobs: Sequence[_Job], *, n_train: int, n_test: int, seeds: Sequence[int], epochs: int, lr: float,
                  batch_size: int, modulation_end: int | None, hidden: int, features: int, fusion: str,
                  optimizer: str, ogm_options: Mapping | None, compute: str,
                  eval_epochs: str = "all", probes: bool = True) -> list[StandinResult]:
    """The runs of several :func:`run_standin` calls (one per job) that share everything but world,
    methods, alpha and unimodal: one batched model for all of them (``compute="batched"``), or the loop."""
    from mmtheory.train.batched_ogm import StandinRun, fit_standin_batched, standin_init, standin_model, \
        supported_ogm_options

    names = ("audio", "visual")
    end = epochs // 2 if modulation_end is None else modulation_end
    options = {"params": "weights", "end_epoch": end, **dict(ogm_options or {})}
    if compute == "batched" and supported_ogm_options(options):
        warnings.warn(f"run_standin: the batched trainer does not implement OGM option(s) "
                      f"{supported_ogm_options(options)}; training the runs one by one (compute='loop').", stacklevel=3)
        compute = "loop"
    worlds = list(dict.fromkeys(j.world for j in jobs))  # distinct worlds, in order
    tests, trains = [], []
    for w in worlds:
        xt, yt = w.sample(n_test, seed=0, stream="test")
        tests.append(({k: torch.from_numpy(v) for k, v in xt.items()}, torch.from_numpy(yt)))
        for seed in seeds:
            xs, ys = w.sample(n_train, seed=int(seed))
            trains.append(({k: torch.from_numpy(v) for k, v in xs.items()}, torch.from_numpy(ys), int(seed)))
    # every run, in the loop's order: job, seed, (methods..., unimodal models...)
    specs, labels = [], []
    for j in jobs:
        wi = worlds.index(j.world)
        runs = [(m, names) for m in j.methods] + ([("baseline", (u,)) for u in names] if j.unimodal else [])
        for si, seed in enumerate(seeds):
            for method, mods in runs:
                specs.append(StandinRun(int(seed), method, mods, j.alpha, data=wi * len(seeds) + si, test=wi))
                labels.append(method if len(mods) > 1 else UNIMODAL.format(mods[0]))
    w0 = jobs[0].world
    dims = {"audio": w0.audio_dim, "visual": w0.visual_dim}
    n_classes = w0.n_classes
    if any((w.audio_dim, w.visual_dim, w.n_classes) != (w0.audio_dim, w0.visual_dim, w0.n_classes) for w in worlds):
        raise ValueError("jobs trained together need worlds of the same dimensions and number of classes.")
    features_of: list = []  # per run: {modality: (train features, test features)}
    if compute == "batched":
        results, model = fit_standin_batched(specs, trains, tests, hidden=hidden, features=features,
                                             n_classes=n_classes, fusion=fusion, epochs=epochs, lr=lr,
                                             batch_size=batch_size, optimizer=optimizer, ogm_options=options,
                                             eval_epochs=eval_epochs)
        with torch.no_grad():
            model.eval()
            feats = {}
            for u, e in (model.encoders.items() if probes else ()):  # features: for the probes only
                idx = model.enc_runs[u]
                xtr = torch.stack([trains[specs[i].data][0][u] for i in idx])
                xte = torch.stack([tests[specs[i].test][0][u] for i in idx])
                ftr, fte = model.encode(u, xtr).float(), model.encode(u, xte).float()
                for row, i in enumerate(idx):
                    feats[(i, u)] = (ftr[row], fte[row])
        features_of = [{u: feats[(i, u)] for u in spec.modalities} if probes else {} for i, spec in enumerate(specs)]
    else:
        results = []
        for spec, label in zip(specs, labels):
            model = standin_model(spec.modalities, dims, hidden, features, n_classes, fusion)
            model.load_state_dict(standin_init(model, spec.seed))
            train_x, train_y, data_seed = trains[spec.data]
            test_x, test_y = tests[spec.test]
            cfg = TrainConfig(method=spec.method, epochs=epochs, lr=lr, lr_step=10 ** 9, alpha=spec.alpha,
                              optimizer=optimizer, ogm=options if len(spec.modalities) > 1 else {}, seed=spec.seed)
            mods = spec.modalities
            res = fit(model, TensorBatches({u: train_x[u] for u in mods}, train_y, batch_size, seed=data_seed),
                      TensorBatches({u: test_x[u] for u in mods}, test_y, 4096, shuffle=False), cfg, device="cpu",
                      desc=f"{label} seed {spec.seed}")
            if eval_epochs == "last":  # the reference evaluates every epoch: keep what "last" measures
                tested = [c for c in res.history.columns if c.startswith("test_acc")]
                res.history.loc[res.history["epoch"] < epochs - 1, tested] = np.nan
            results.append(res)
            features_of.append({u: (encode_all(model.encoders[u], train_x[u]), encode_all(model.encoders[u], test_x[u]))
                                for u in (mods if probes else ())})
    # every (run, modality) probe in one batched solve (the same for both computes: it is evaluation)
    keys = [(i, u) for i, spec in enumerate(specs) for u in spec.modalities] if probes else []
    fitted = [] if not keys else linear_probes(torch.stack([features_of[i][u][0] for i, u in keys]),
                                               torch.stack([trains[specs[i].data][1] for i, _ in keys]),
                                               torch.stack([features_of[i][u][1] for i, u in keys]),
                                               torch.stack([tests[specs[i].test][1] for i, _ in keys]), n_classes)
    probe_of = dict(zip(keys, fitted))
    out, pos = [], 0
    for j in jobs:
        summary, hist, steps, probe_rows = [], [], [], []
        n_runs = (len(j.methods) + (len(names) if j.unimodal else 0)) * len(seeds)
        for i in range(pos, pos + n_runs):
            spec, label, res = specs[i], labels[i], results[i]
            row = {"method": label, "seed": spec.seed, **res.summary()}
            if eval_epochs == "last":  # no best epoch: only the last one was tested
                row.update(best_epoch=np.nan, best_test_acc=np.nan)
            for u in (spec.modalities if probes else ()):
                p = probe_of[(i, u)]
                probe_rows.append({"method": label, "seed": spec.seed, "modality": u, **p})
                row[f"probe_acc_{u}"] = p["probe_acc"]
            summary.append(row)
            hist.append(res.history.assign(method=label, seed=spec.seed))
            if len(res.steps):
                steps.append(res.steps.assign(method=label, seed=spec.seed))
        pos += n_runs
        out.append(StandinResult(pd.DataFrame(summary), pd.concat(hist, ignore_index=True),
                                 pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(),
                                 pd.DataFrame(probe_rows)))
    return out


#: The broken worlds of the OGM-GE claims: name -> what changes (see :func:`broken_worlds`).
#: ``balanced``: no imbalance, audio and visual at the same input scale, so neither encoder learns faster;
#: ``alpha0``: modulation off, OGM-GE with alpha = 0 (k = 1 for both encoders; the GE noise stays).
BROKEN_WORLDS = {
    "balanced": "audio and visual at equal input scale",
    "alpha0": "OGM-GE with alpha = 0 (no modulation)",
}


def broken_worlds(world: AVStandin | None = None, *, which: Sequence[str] = ("balanced", "alpha0"),
                  real: StandinResult | None = None, balanced_scale: float = 1.0, with_real: Mapping | None = None,
                  **kwargs) -> dict[str, StandinResult]:
    """The same stand-in experiment on worlds where the OGM-GE claims should fail (:data:`BROKEN_WORLDS`).

    ``"balanced"``: the baseline and both unimodal models on ``world`` with both input scales set to
    ``balanced_scale`` (the joint model should now beat the best unimodal one: P22-*-imbalance must not
    hold). ``"alpha0"``: the baseline and OGM-GE with ``alpha = 0`` (no modulation: P22-*-ogmge,
    -weak-branch and HP-eta-weak must not hold). The baseline does not depend on ``alpha``; with
    ``real`` (the chapter's own :func:`run_standin` result with the same ``kwargs``) its baseline runs are
    reused instead of trained again. With ``with_real`` (the chapter's own ``methods``, ``alpha`` and
    ``unimodal``, missing ones at :func:`run_standin`'s defaults) that run is trained here, in the same
    batched model as the broken worlds (one model, one loop over the minibatches, instead of two), and
    returned under the key ``"real"``: the same frames as ``run_standin(world, **with_real, **kwargs)``
    followed by ``broken_worlds(world, real=..., **kwargs)``, up to float rounding (a test checks it).

    Parameters
    ----------
    world : AVStandin, optional
    which : sequence of str
        Keys of :data:`BROKEN_WORLDS`.
    real : StandinResult, optional
    balanced_scale : float
    with_real : dict, optional
        Keys among ``methods``, ``alpha``, ``unimodal``; not together with ``real``.
    **kwargs
        Passed to :func:`run_standin` (``n_train``, ``seeds``, ``epochs``, ``fusion``, ...); ``methods``,
        ``alpha`` and ``unimodal`` are set here. With ``data=`` (real views, ``world`` None) only ``"alpha0"``
        applies: a balanced world of real data is a balanced pair of views, run by the caller.

    Returns
    -------
    dict of str to StandinResult
        One per ``which`` (and ``"real"`` first with ``with_real``).
    """
    unknown = [w for w in which if w not in BROKEN_WORLDS]
    if unknown:
        raise ValueError(f"unknown broken world(s) {unknown}; known: {sorted(BROKEN_WORLDS)}.")
    clash = {"methods", "alpha", "unimodal"} & set(kwargs)
    if clash:
        raise ValueError(f"broken_worlds sets {sorted(clash)} itself; leave them out.")
    if with_real is not None:
        if real is not None:
            raise ValueError("give real (a run made before) or with_real (the run to make here), not both.")
        extra = set(with_real) - {"methods", "alpha", "unimodal"}
        if extra:
            raise ValueError(f"with_real takes methods, alpha and unimodal; got {sorted(extra)}.")
    from dataclasses import replace as _replace

    data = kwargs.pop("data", None)
    if data is not None:
        if world is not None:
            raise ValueError("give either a stand-in world or data=..., not both.")
        if "balanced" in which:
            raise ValueError("the 'balanced' broken world rescales the stand-in; with data= choose a balanced pair "
                             "of views instead and call run_standin on it.")
        world = RealPair(data)
    world = world or AVStandin()
    jobs = {}
    scheduler = kwargs.get("scheduler")
    per_seed = scheduler is not None and len(kwargs.get("seeds", (0, 1, 2))) > 1
    if with_real is not None:
        own = {k: inspect.signature(run_standin).parameters[k].default for k in ("methods", "alpha", "unimodal")}
        own.update(with_real)
        if per_seed:  # one task per seed: the real run first, on its own
            real = run_standin(world, **own, **kwargs)
        else:
            jobs["real"] = _Job(world, tuple(own["methods"]), float(own["alpha"]), bool(own["unimodal"]))
    if "balanced" in which:
        flat = _replace(world, audio_scale=balanced_scale, visual_scale=balanced_scale)
        jobs["balanced"] = _Job(flat, ("baseline",), 0.8, True)
    have_base = (real is not None and (real.summary["method"] == "baseline").any()) or \
        ("real" in jobs and "baseline" in jobs["real"].methods)
    if "alpha0" in which:
        jobs["alpha0"] = _Job(world, ("ogm-ge",) if have_base else ("baseline", "ogm-ge"), 0.0, False)
    if per_seed:  # one task per seed and world
        trained = {k: run_standin(j.world, methods=j.methods, alpha=j.alpha, unimodal=j.unimodal, **kwargs)
                   for k, j in jobs.items()}
    else:  # every broken world's runs (and with_real's) in one batched model (or one loop)
        shared = {k: p.default for k, p in inspect.signature(run_standin).parameters.items()
                  if k not in ("world", "methods", "alpha", "unimodal", "scheduler", "data")}
        unknown = set(kwargs) - set(shared) - {"scheduler"}
        if unknown:
            raise TypeError(f"broken_worlds got unexpected keyword(s) {sorted(unknown)} for run_standin.")
        shared.update({k: v for k, v in kwargs.items() if k != "scheduler"})
        if shared["compute"] not in COMPUTE:
            raise ValueError(f"compute must be one of {COMPUTE}; got {shared['compute']!r}.")
        if shared["eval_epochs"] not in EVAL_EPOCHS:
            raise ValueError(f"eval_epochs must be one of {EVAL_EPOCHS}; got {shared['eval_epochs']!r}.")
        trained = dict(zip(jobs, _standin_jobs(list(jobs.values()), **shared))) if jobs else {}
    out = {}
    if "real" in trained:
        out["real"] = real = trained["real"]
    elif with_real is not None:
        out["real"] = real
    if "balanced" in which:
        out["balanced"] = trained["balanced"]
    if "alpha0" in which:
        r = trained["alpha0"]
        if have_base:
            pick = {k: getattr(real, k) for k in ("summary", "history", "steps", "probes")}
            r = StandinResult(*(pd.concat([pick[k][pick[k]["method"] == "baseline"] if len(pick[k]) else pick[k],
                                           getattr(r, k)], ignore_index=True)
                                for k in ("summary", "history", "steps", "probes")))
        out["alpha0"] = r
    return out
