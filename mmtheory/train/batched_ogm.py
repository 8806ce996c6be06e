r"""Many independent OGM / OGM-GE runs of the CPU stand-in trained as one batched model.

The stand-in experiment (:func:`mmtheory.experiments.ogm.run_standin`) trains, for every seed, a
late-fusion model per method (baseline, OGM, OGM-GE, ...) and one unimodal model per modality; the
broken worlds add more. The runs are independent, so :class:`BatchedStandin` holds them as stacked
weights (a leading run axis on every parameter) and :func:`fit_standin_batched` steps all of them
at once: each minibatch is one chain of ``torch.baddbmm`` products over the run axis, one backward
pass of the summed per-run losses (a run's gradient is that of its own mean loss) and one optimiser
step (SGD and Adam are element-wise, so the batched optimiser equals one optimiser per run).

OGM and OGM-GE (:mod:`mmtheory.train.ogm`, the official update) act per run inside the batch: each
joint run's branch scores :math:`s^u` are a sum over its own minibatch, its discrepancy ratios, its
coefficients :math:`k^u` (its own ``alpha``; the baseline has ``alpha = 0``, i.e. ``k = 1``) and the
standard deviation of each of its unscaled encoder gradients are computed for all runs in one tensor
operation. The GE noise of a run comes from that run's own generator,
``torch_generator(seed, "ge-noise")`` (the stream :func:`mmtheory.train.late_fusion.fit` uses), drawn
parameter by parameter in the order :class:`~mmtheory.train.ogm.OGMGE` draws it, so the batched and
the per-run trainers add the same numbers.

Initialisation: every parameter of a run is drawn from its own named stream of the run's seed
(:func:`standin_init`): encoder weights and biases as PyTorch's ``nn.Linear`` default (uniform in
:math:`\pm 1/\sqrt{\text{fan-in}}`), fusion-head weights Xavier-normal with zero biases (the official
code's ``weight_init``). The encoder streams are named by modality only, so the methods of one seed,
and its unimodal models, start from the same encoder weights (paired comparisons).

Supported: the four fusions of :mod:`mmtheory.models.late_fusion` (``concat``, ``sum``, ``film``,
``gated``; branch logits ``"auto"``: split for concat and sum, the other modality at its batch mean
for FiLM and gated), unimodal runs (concatenation head on one encoder), OGM options ``params``
(``"weights"`` or ``"all"``), ``variant``, ``noise_on``, ``start_epoch`` and ``end_epoch``. Other
options are refused with a ``ValueError`` (:func:`supported_ogm_options`); ``run_standin`` then falls
back to the per-run loop and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from mmtheory.models.late_fusion import FUSIONS, LateFusionClassifier, MLPEncoder
from mmtheory.seeding import derive_seed, torch_generator
from mmtheory.train.late_fusion import METHODS, TrainResult
from mmtheory.train.ogm import NOISE_ON, VARIANTS, coefficient

#: OGM options the batched trainer implements (with the values it accepts; ``None``: any int).
OGM_OPTIONS = {"params": ("weights", "all"), "variant": VARIANTS, "noise_on": NOISE_ON,
               "start_epoch": None, "end_epoch": None}


#: When :func:`fit_standin_batched` evaluates on the test sets: after every epoch, or after the last only.
EVAL_EPOCHS = ("all", "last")


def supported_ogm_options(options: Mapping) -> list[str]:
    """The OGM options in ``options`` that :func:`fit_standin_batched` cannot honour (empty: all fine)."""
    bad = []
    for key, value in dict(options).items():
        allowed = OGM_OPTIONS.get(key, ())
        if key not in OGM_OPTIONS or (allowed is not None and value not in allowed):
            bad.append(f"{key}={value!r}")
    return bad


@dataclass(frozen=True)
class StandinRun:
    """One run of the batched stand-in.

    Parameters
    ----------
    seed : int
        Seed of the run's streams: initialisation and GE noise.
    method : {"baseline", "ogm", "ogm-ge"}
    modalities : tuple of str
        All modalities (a joint model with the fusion head) or one (a unimodal model, ``"baseline"``).
    alpha : float
        OGM strength of this run (ignored by the baseline, which only logs its scores).
    data : int
        Index of its training set in ``train_sets``.
    test : int
        Index of its test set in ``test_sets``.
    """

    seed: int
    method: str
    modalities: tuple[str, ...]
    alpha: float = 0.8
    data: int = 0
    test: int = 0


def _linear_draws(seed: int, key: tuple, shape: tuple[int, ...], kind: str, fan_in: int, fan_out: int) -> torch.Tensor:
    g = torch_generator(seed, "init", *key)
    if kind == "uniform":  # nn.Linear's default, weight and bias alike
        bound = 1.0 / math.sqrt(fan_in)
        return (torch.rand(shape, generator=g) * 2 - 1) * bound
    if kind == "xavier":
        std = math.sqrt(2.0 / (fan_in + fan_out))
        return torch.randn(shape, generator=g) * std
    return torch.zeros(shape)


def standin_model(modalities: Sequence[str], dims: Mapping[str, int], hidden: int, features: int, n_classes: int,
                  fusion: str = "concat") -> LateFusionClassifier:
    """The stand-in's late-fusion model (MLP encoders), initialised by :func:`standin_init` with seed 0.

    Built inside :func:`torch.random.fork_rng`: it does not touch torch's global generator.
    """
    with torch.random.fork_rng(devices=[]):
        model = LateFusionClassifier({u: MLPEncoder(dims[u], hidden, features) for u in modalities}, n_classes,
                                     fusion if len(modalities) > 1 else "concat")
    return model


def standin_init(model: LateFusionClassifier, seed: int) -> dict[str, torch.Tensor]:
    """A state dict for ``model`` drawn from the named streams of ``seed`` (see the module docstring).

    Encoder parameter ``encoders.<u>.net.<i>.<weight|bias>`` comes from stream ``("init", name)``;
    head parameter ``fusion.<...>`` from ``("init", "<modalities joined by +>", <fusion>, name)``.
    """
    mods = "+".join(model.names)
    out = {}
    params = dict(model.named_parameters())
    for name, p in params.items():
        owner = name.rsplit(".", 1)[0]
        weight = params[owner + ".weight"]
        fan_out, fan_in = weight.shape[0], weight.shape[1]
        if name.startswith("encoders."):
            out[name] = _linear_draws(seed, (name,), tuple(p.shape), "uniform", fan_in, fan_out)
        else:
            kind = ("xavier" if name.endswith("weight") else "zeros") if model.head_init == "xavier" else "uniform"
            out[name] = _linear_draws(seed, (mods, model.fusion_name, name), tuple(p.shape), kind, fan_in, fan_out)
    return out


def _lin(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x (R, B, in) @ w (R, out, in)^T + b (R, 1, out)`` -> (R, B, out); ``x`` (B, in) is shared by all runs."""
    if x.ndim == 2:
        x = x.expand(w.shape[0], *x.shape)
    return torch.baddbmm(b, x, w.transpose(1, 2))


class BatchedStandin(nn.Module):
    """The runs of :class:`StandinRun` as one module with a run axis on every parameter.

    Runs are held in this order: the joint runs (all modalities, the fusion head) first, the runs of
    OGM-GE last among them (so the GE noise acts on one slice), then the unimodal runs modality by
    modality. Modality u's encoder is stacked over the joint runs and u's unimodal runs, joint first,
    so the joint runs' features are a slice (a view) of every encoder's output.

    Parameters
    ----------
    runs : sequence of StandinRun
    dims : dict of str -> int
        Input size per modality, in the model's modality order.
    hidden, features, n_classes : int
    fusion : str
        One of :data:`~mmtheory.models.late_fusion.FUSIONS`.
    """

    def __init__(self, runs: Sequence[StandinRun], dims: Mapping[str, int], hidden: int, features: int,
                 n_classes: int, fusion: str = "concat") -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {list(FUSIONS)}.")
        self.names = tuple(dims)
        if len(self.names) < 2 or (fusion in ("film", "gated") and len(self.names) != 2):
            raise ValueError(f"the batched stand-in needs two modalities (any number >= 2 for concat and sum); "
                             f"got {list(self.names)} with fusion {fusion!r}.")
        for r in runs:
            if r.method not in METHODS:
                raise ValueError(f"method must be one of {METHODS}; got {r.method!r}.")
            if tuple(r.modalities) != self.names and not (len(r.modalities) == 1 and r.modalities[0] in self.names):
                raise ValueError(f"a run observes all modalities {list(self.names)} or one of them; got {r.modalities}.")
            if len(r.modalities) == 1 and r.method != "baseline":
                raise ValueError(f"method {r.method!r} needs two or more modalities; a unimodal model trains with "
                                 "'baseline'.")
        joint = [i for i, r in enumerate(runs) if len(r.modalities) > 1]
        joint = [i for i in joint if runs[i].method != "ogm-ge"] + [i for i in joint if runs[i].method == "ogm-ge"]
        uni = {u: [i for i, r in enumerate(runs) if r.modalities == (u,)] for u in self.names}
        self.order = joint + [i for u in self.names for i in uni[u]]  # position in the batch -> index in runs
        self.runs = [runs[i] for i in self.order]
        self.n_joint, self.n_ge = len(joint), sum(runs[i].method == "ogm-ge" for i in joint)
        self.fusion_name, self.hidden, self.features, self.n_classes = fusion, hidden, features, n_classes
        self.enc_runs = {u: joint + uni[u] for u in self.names}  # indices into ``runs``
        self.uni_runs = uni
        self.uni_start, start = {}, self.n_joint
        for u in self.names:
            self.uni_start[u] = start
            start += len(uni[u])

        full = standin_model(self.names, dims, hidden, features, n_classes, fusion)
        uni_models = {u: standin_model((u,), dims, hidden, features, n_classes) for u in self.names}
        draws: dict[tuple, dict[str, torch.Tensor]] = {}

        def init(model: LateFusionClassifier, seed: int) -> dict[str, torch.Tensor]:
            key = (model.names, seed)
            if key not in draws:
                draws[key] = standin_init(model, seed)
            return draws[key]

        def stacked(idx: list[int], model: LateFusionClassifier, prefix: str) -> nn.ParameterDict:
            """Parameters ``prefix*`` of runs ``idx``: weights (R, out, in), biases (R, 1, out)."""
            inits = [init(model, runs[i].seed) for i in idx]
            return nn.ParameterDict({
                n[len(prefix):].replace(".", "_"): nn.Parameter(torch.stack([d[n] if d[n].ndim == 2 else d[n][None]
                                                                             for d in inits]))
                for n in inits[0] if n.startswith(prefix)})

        # the encoder streams are named by modality only: joint and unimodal runs of a seed start alike
        self.encoders = nn.ModuleDict({u: stacked(self.enc_runs[u], full, f"encoders.{u}.")
                                       for u in self.names if self.enc_runs[u]})
        self.head = stacked(joint, full, "fusion.") if joint else nn.ParameterDict()
        self.uni_heads = nn.ModuleDict({u: stacked(uni[u], uni_models[u], "fusion.") for u in self.names if uni[u]})

    # ----------------------------------------------------------------------------------------------
    def encoder_weights(self, u: str, params: str = "weights") -> list[nn.Parameter]:
        """Modality u's stacked encoder parameters that OGM modulates, in :class:`OGMGE`'s order."""
        e = self.encoders[u]
        keys = ["net_0_weight", "net_0_bias", "net_2_weight", "net_2_bias"]
        return [e[k] for k in keys if params == "all" or k.endswith("weight")]

    def encode(self, u: str, x: torch.Tensor) -> torch.Tensor:
        """Features (R_u, B, features) of modality u's encoder runs; ``x`` (R_u, B, d) or shared (B, d)."""
        e = self.encoders[u]
        h = torch.relu_(_lin(x, e["net_0_weight"], e["net_0_bias"]))  # in place: baddbmm's backward needs no output
        return torch.relu_(_lin(h, e["net_2_weight"], e["net_2_bias"]))

    def fuse(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The joint runs' fused logits (R_joint, B, C) from their features per modality."""
        h, names = self.head, self.names
        if self.fusion_name == "concat":
            return _lin(torch.cat([feats[u] for u in names], dim=-1), h["fc_out_weight"], h["fc_out_bias"])
        if self.fusion_name == "sum":
            out = 0
            for u in names:
                out = out + _lin(feats[u], h[f"fc_{u}_weight"], h[f"fc_{u}_bias"])
            return out
        cond, other = names
        if self.fusion_name == "film":
            gamma, beta = torch.split(_lin(feats[cond], h["fc_weight"], h["fc_bias"]), self.features, dim=-1)
            return _lin(gamma * feats[other] + beta, h["fc_out_weight"], h["fc_out_bias"])
        gate = torch.sigmoid(_lin(feats[cond], h["fc_gate_weight"], h["fc_gate_bias"]))
        return _lin(gate * _lin(feats[other], h["fc_value_weight"], h["fc_value_bias"]),
                    h["fc_out_weight"], h["fc_out_bias"])

    @torch.no_grad()
    def branch_logits(self, feats: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each joint run's per-modality logits, as ``LateFusionClassifier.branch_logits`` with ``"auto"``."""
        h, names = self.head, self.names
        if self.fusion_name == "concat":
            w, b, f = h["fc_out_weight"], h["fc_out_bias"], self.features
            return {u: _lin(feats[u], w[:, :, j * f:(j + 1) * f], b / len(names)) for j, u in enumerate(names)}
        if self.fusion_name == "sum":
            return {u: _lin(feats[u], h[f"fc_{u}_weight"], h[f"fc_{u}_bias"]) for u in names}
        means = {n: feats[n].mean(1, keepdim=True).expand_as(feats[n]) for n in names}
        return {u: self.fuse({n: (feats[n] if n == u else means[n]) for n in names}) for u in names}

    def forward(self, xs: Mapping[str, torch.Tensor]) -> tuple[dict, torch.Tensor | None, dict]:
        """``(joint features per modality, joint logits, unimodal logits per modality)``.

        ``xs[u]``: (R_u, B, d_u), one row per run of u's encoder (:attr:`enc_runs` order), or (B, d_u)
        shared by all of them.
        """
        return self.heads({u: self.encode(u, xs[u]) for u in self.names if u in self.encoders})

    def heads(self, zs: Mapping[str, torch.Tensor]) -> tuple[dict, torch.Tensor | None, dict]:
        """:meth:`forward` from the encoders' outputs ``zs[u]`` (R_u, B, features)."""
        feats, uni = {}, {}
        for u, z in zs.items():
            feats[u] = z[:self.n_joint]
            if u in self.uni_heads:
                hu = self.uni_heads[u]
                uni[u] = _lin(z[self.n_joint:], hu["fc_out_weight"], hu["fc_out_bias"])
        logits = self.fuse(feats) if self.n_joint else None
        return feats, logits, uni


def _per_run_index(runs: Sequence[StandinRun], idx: list[int], attr: str) -> torch.Tensor:
    return torch.tensor([getattr(runs[i], attr) for i in idx], dtype=torch.long)


def fit_standin_batched(runs: Sequence[StandinRun], train_sets: Sequence[tuple[Mapping[str, torch.Tensor], torch.Tensor, int]],
                        test_sets: Sequence[tuple[Mapping[str, torch.Tensor], torch.Tensor]], *, hidden: int,
                        features: int, n_classes: int, fusion: str = "concat", epochs: int = 60, lr: float = 0.01,
                        batch_size: int = 64, optimizer: str = "sgd", momentum: float = 0.9,
                        weight_decay: float = 1e-4, ogm_options: Mapping | None = None,
                        device: str | torch.device = "cpu", eval_batch: int = 4096,
                        eval_epochs: str = "all") -> tuple[list[TrainResult], BatchedStandin]:
    """Train ``runs`` as one :class:`BatchedStandin`; return one :class:`TrainResult` per run (in order).

    Each result equals that of :func:`mmtheory.train.late_fusion.fit` on the run's own model (initialised
    by :func:`standin_init`) with ``TensorBatches(train, batch_size, seed=train seed)`` and
    ``TrainConfig(method, epochs, lr, lr_step=10**9, alpha, optimizer, ogm=ogm_options, seed=run seed)``,
    up to float rounding: history (per epoch: ``lr``, ``train_loss``, ``test_acc``, ``test_acc_<u>``, accuracies in percent) and
    steps (the OGM log of every joint run: scores, ratios, coefficients). The ``model`` of each result
    is ``None``; the trained weights are in the returned :class:`BatchedStandin`.

    Parameters
    ----------
    runs : sequence of StandinRun
    train_sets : sequence of ``(inputs, y, seed)``
        ``inputs``: dict modality -> (n, d) float tensor; the same ``n`` for every set (the runs step
        together); ``seed`` draws the set's minibatch order (stream ``("shuffle", epoch)``, as
        :class:`~mmtheory.train.late_fusion.TensorBatches`).
    test_sets : sequence of ``(inputs, y)``
        Evaluated in one batch each (branch logits of FiLM/gated: the other modality at its mean over the set).
    ogm_options : dict, optional
        ``params`` (default ``"conv"`` is not defined for MLP encoders: pass ``"weights"``), ``variant``,
        ``noise_on``, ``start_epoch``, ``end_epoch`` (defaults of :class:`~mmtheory.train.ogm.OGMGE`).
    eval_epochs : {"all", "last"}
        Evaluate on the test sets after every epoch (``"all"``, the history of :func:`fit`), or only after
        the last one (``"last"``: the history's test accuracies of the other epochs are NaN, never computed;
        training is the same, so the last epoch's accuracies equal those of ``"all"``).

    Raises
    ------
    ValueError
        For an unsupported OGM option, unequal training-set sizes, or bad settings.
    FloatingPointError
        When a run's training loss or branch score becomes NaN/inf (checked once per epoch).
    """
    opts = {"params": "conv", "variant": "paper", "noise_on": "all", "start_epoch": 0, "end_epoch": 50,
            **dict(ogm_options or {})}
    bad = supported_ogm_options(opts)
    if bad:
        raise ValueError(f"the batched stand-in trainer does not implement OGM option(s) {bad} (params='conv' selects "
                         "nothing in MLP encoders: use 'weights'); train these runs with compute='loop'.")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam'; got {optimizer!r}.")
    if eval_epochs not in EVAL_EPOCHS:
        raise ValueError(f"eval_epochs must be one of {EVAL_EPOCHS}; got {eval_epochs!r}.")
    if not runs:
        raise ValueError("runs is empty.")
    sizes = {len(y) for _, y, _ in train_sets}
    if len(sizes) != 1:
        raise ValueError(f"every training set needs the same number of rows (the runs step together); got {sorted(sizes)}.")
    if not (isinstance(epochs, int) and epochs >= 1 and batch_size >= 1 and lr > 0):
        raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}.")
    names = tuple(train_sets[0][0])
    dims = {u: int(train_sets[0][0][u].shape[1]) for u in names}
    device = torch.device(device)
    model = BatchedStandin(runs, dims, hidden, features, n_classes, fusion).to(device)
    brs = model.runs  # batch order
    n_joint, n_ge = model.n_joint, model.n_ge
    n = sizes.pop()
    xs = {u: torch.stack([s[0][u] for s in train_sets]).to(device) for u in names}  # (S, n, d)
    ys = torch.stack([s[1] for s in train_sets]).to(device)  # (S, n)
    enc_data = {u: _per_run_index(runs, model.enc_runs[u], "data").to(device) for u in model.encoders}
    joint_idx = model.order[:n_joint]
    joint_data = _per_run_index(runs, joint_idx, "data").to(device)
    uni_data = {u: _per_run_index(runs, model.uni_runs[u], "data").to(device) for u in model.uni_heads}
    alphas = torch.tensor([r.alpha if r.method != "baseline" else 0.0 for r in brs[:n_joint]], dtype=torch.float64,
                          device=device)
    ge_gens = [torch_generator(r.seed, "ge-noise", device=device) for r in brs[n_joint - n_ge:n_joint]]
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    ogm_params = {u: model.encoder_weights(u, opts["params"]) for u in model.encoders} if n_joint else {}
    noise_bufs = {u: [torch.empty(n_ge, *p.shape[1:], device=device) for p in ps] for u, ps in ogm_params.items()}
    n_test = {len(y) for _, y in test_sets}
    if len(n_test) != 1:
        raise ValueError(f"every test set needs the same number of rows; got {sorted(n_test)}.")
    n_test = n_test.pop()
    if len(test_sets) == 1:  # shared by every run: (n_test, d), no copy per run
        test_x = {u: v.to(device) for u, v in test_sets[0][0].items()}
        test_y = test_sets[0][1].to(device).expand(len(brs), -1)
    else:  # each run's own test set: (R_u, n_test, d)
        test_x = {u: torch.stack([t[0][u] for t in test_sets]).to(device).index_select(
            0, _per_run_index(runs, model.enc_runs[u], "test").to(device)) for u in model.encoders}
        test_y = torch.stack([t[1] for t in test_sets]).to(device).index_select(
            0, torch.tensor([r.test for r in brs], device=device))
    # logs: per epoch (R,) tensors; per step (R_joint, K) tensors
    loss_log, acc_log, branch_log, step_log = [], [], [], []
    n_uni = len(brs) - n_joint
    for epoch in range(epochs):
        model.train()
        orders = torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(
            derive_seed(int(seed), "shuffle", epoch))) for _, _, seed in train_sets]).to(device)  # (S, n)
        active = opts["start_epoch"] <= epoch <= opts["end_epoch"]
        total = torch.zeros(len(brs), device=device)
        for start in range(0, n, batch_size):
            idx = orders[:, start:start + batch_size]
            b = idx.shape[1]
            flat = (idx + n * torch.arange(len(train_sets), device=device)[:, None]).reshape(-1)
            xb = {u: xs[u].reshape(-1, dims[u]).index_select(0, flat).view(len(train_sets), b, dims[u]) for u in names}
            yb = ys.reshape(-1).index_select(0, flat).view(len(train_sets), b)
            feats, logits, uni = model({u: xb[u].index_select(0, enc_data[u]) for u in model.encoders})
            losses = []
            if n_joint:
                yj = yb.index_select(0, joint_data)
                losses.append(F.cross_entropy(logits.transpose(1, 2), yj, reduction="none").mean(1))
            for u, z in uni.items():
                losses.append(F.cross_entropy(z.transpose(1, 2), yb.index_select(0, uni_data[u]),
                                              reduction="none").mean(1))
            per_run = torch.cat(losses)
            opt.zero_grad(set_to_none=True)
            per_run.sum().backward()
            if n_joint:
                with torch.no_grad():
                    branches = model.branch_logits({u: f.detach() for u, f in feats.items()})
                    s = torch.stack([torch.softmax(branches[u].float(), dim=-1).gather(-1, yj[..., None]).sum((1, 2))
                                     for u in model.names], dim=1)  # (R_joint, K) float32 sums
                    s64 = s.double()
                    others = (s64.sum(1, keepdim=True) - s64) / (len(model.names) - 1)
                    rho = s64 / others.clamp_min(1e-12)
                    k = coefficient(rho, alphas[:, None], opts["variant"])  # (R_joint, K) float64
                    step_log.append((epoch, active, b, s, rho, k))
                    if active:
                        _modulate(model, ogm_params, noise_bufs, k, ge_gens, n_joint, n_ge, opts["noise_on"])
            opt.step()
            total += per_run.detach() * b
        model.eval()
        if eval_epochs == "all" or epoch == epochs - 1:
            correct, branch_correct = _evaluate(model, test_x, test_y, eval_batch)
            acc_log.append(100.0 * correct / n_test)  # percent, as every accuracy the package returns
            branch_log.append(100.0 * branch_correct / n_test)
        else:  # not evaluated: NaN in the history (never a number that was not measured)
            acc_log.append(torch.full((len(brs),), math.nan, dtype=torch.float64, device=device))
            branch_log.append(torch.full((n_joint, len(model.names)), math.nan, dtype=torch.float64, device=device))
        loss_log.append(total / n)
        if not bool(torch.isfinite(total).all()):
            bad_run = brs[int(torch.nonzero(~torch.isfinite(total))[0])]
            raise FloatingPointError(f"the training loss of run {bad_run} became NaN/inf at epoch {epoch}; lower the "
                                     "learning rate or check the inputs for NaN.")
    return _results(model, runs, loss_log, acc_log, branch_log, step_log, lr, n_uni), model


@torch.no_grad()
def _modulate(model: BatchedStandin, ogm_params: dict, noise_bufs: dict, k: torch.Tensor, ge_gens: list,
              n_joint: int, n_ge: int, noise_on: str) -> None:
    """OGM(-GE) on the joint runs' encoder gradients: ``g * k`` per run, plus ``N(0, std(g)^2)`` for GE runs."""
    k32 = k.float()
    noisy = None
    if n_ge and noise_on == "dominant":
        noisy = (k[n_joint - n_ge:] < 1).tolist()
    for j, (u, ps) in enumerate(ogm_params.items()):
        for p, buf in zip(ps, noise_bufs[u]):
            g = p.grad[:n_joint]
            shape = (-1,) + (1,) * (g.ndim - 1)
            std = None
            if n_ge:
                ge = g[n_joint - n_ge:]
                std = ge.float().reshape(n_ge, -1).std(1) + 1e-8 if ge[0].numel() > 1 else \
                    ge.new_zeros(n_ge, dtype=torch.float32) + 1e-8
            g.mul_(k32[:, j].view(shape))
            if n_ge:
                for r, gen in enumerate(ge_gens):  # each run's own stream, in OGMGE's order
                    if noisy is None or noisy[r][j]:
                        torch.randn(buf.shape[1:], generator=gen, out=buf[r])
                    else:
                        buf[r].zero_()
                g[n_joint - n_ge:].add_(buf * std.view(shape).to(g.dtype))


@torch.no_grad()
def _evaluate(model: BatchedStandin, x: Mapping[str, torch.Tensor], y: torch.Tensor, chunk: int, sub: int = 256
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Correct counts ``(R,)`` of every run and ``(R_joint, K)`` of every joint run's branches.

    The test set is cut in chunks of ``chunk`` rows, as ``TensorBatches(test, 4096, shuffle=False)`` in
    :func:`~mmtheory.train.late_fusion.fit` (a FiLM/gated branch holds the other modality at its mean
    over the chunk).
    """
    nj, n_test = model.n_joint, y.shape[1]
    if model.fusion_name in ("concat", "sum") or not nj:  # a row's logits depend on no other row: any chunk will do
        chunk = sub
    correct = torch.zeros(y.shape[0], dtype=torch.float64, device=y.device)
    branch = torch.zeros(nj, len(model.names), dtype=torch.float64, device=y.device)
    for a in range(0, n_test, chunk):
        stop = min(a + chunk, n_test)
        # each encoder on sub-chunks (its hidden layer stays in cache), the heads on the whole chunk
        zs = {u: torch.cat([model.encode(u, v[..., s:min(s + sub, stop), :]) for s in range(a, stop, sub)], dim=-2)
              for u, v in x.items() if u in model.encoders}
        yc = y[:, a:stop]
        feats, logits, uni = model.heads(zs)
        if nj:
            correct[:nj] += (logits.argmax(-1) == yc[:nj]).sum(1)
            br = model.branch_logits(feats)
            for j, u in enumerate(model.names):
                branch[:, j] += (br[u].argmax(-1) == yc[:nj]).sum(1)
        for u, z in uni.items():
            s = model.uni_start[u]
            correct[s:s + z.shape[0]] += (z.argmax(-1) == yc[s:s + z.shape[0]]).sum(1)
    return correct, branch


def _results(model: BatchedStandin, runs, loss_log, acc_log, branch_log, step_log, lr, n_uni) -> list[TrainResult]:
    losses = torch.stack(loss_log).cpu().double().numpy()  # (E, R)
    accs = torch.stack(acc_log).cpu().double().numpy()
    branch = torch.stack(branch_log).cpu().double().numpy()  # (E, R_joint, K)
    epochs = np.arange(len(loss_log))
    if step_log:
        s = torch.stack([t[3] for t in step_log]).cpu().double().numpy()  # (T, R_joint, K)
        rho = torch.stack([t[4] for t in step_log]).cpu().numpy()
        k = torch.stack([t[5] for t in step_log]).cpu().numpy()
        if not np.isfinite(s).all():
            raise FloatingPointError("a branch score became NaN/inf: the model's logits hold NaN/inf. Lower the "
                                     "learning rate or check the inputs for NaN.")
        counts = np.array([t[2] for t in step_log], dtype=float)
        step_epoch = np.array([t[0] for t in step_log])
        step_active = np.array([t[1] for t in step_log])
    out: list[TrainResult | None] = [None] * len(runs)
    for pos, i in enumerate(model.order):
        r = runs[i]
        hist = {"epoch": epochs, "method": r.method, "lr": lr, "train_loss": losses[:, pos], "test_acc": accs[:, pos]}
        if pos < model.n_joint:
            for j, u in enumerate(model.names):
                hist[f"test_acc_{u}"] = branch[:, pos, j]
            steps = pd.DataFrame({"step": np.arange(len(step_log)), "epoch": step_epoch, "active": step_active})
            for j, u in enumerate(model.names):
                steps[f"score_{u}"] = s[:, pos, j] / counts
                steps[f"ratio_{u}"] = rho[:, pos, j]
                steps[f"coeff_{u}"] = k[:, pos, j]
        else:
            hist[f"test_acc_{r.modalities[0]}"] = accs[:, pos]
            steps = pd.DataFrame()
        out[i] = TrainResult(pd.DataFrame(hist), steps, None)
    return out  # type: ignore[return-value]
