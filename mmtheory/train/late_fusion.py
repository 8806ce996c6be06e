"""Training a late-fusion classifier with or without OGM / OGM-GE, with checkpoints and resume.

One loop serves the CPU stand-in and CREMA-D. Batches come from an object with ``epoch(e)``
returning an iterator of ``(inputs: dict[name, Tensor], y: Tensor)`` whose order depends only on
``e`` (and the object's seed), so that a run resumed from a checkpoint sees the same batches as an
uninterrupted one: :class:`TensorBatches` for tensors in memory, ``mmtheory.data.torchdata``
for the CREMA-D cache.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Protocol

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from mmtheory._progress import tqdm

from mmtheory import params as P
from mmtheory._io import atomic_open, atomic_write_json, atomic_write_text
from mmtheory.seeding import derive_seed
from mmtheory.train import distributed as mmdist
from mmtheory.train.batched import progress_disabled
from mmtheory.train.ogm import OGMGE

METHODS = P.METHODS
_RECIPE = P.defaults(P.CREMAD)  # the official CREMA-D recipe, declared in mmtheory.params
_OWN = (P.Param("momentum", float, 0.9, low=0, high=1, high_open=True), P.Param("weight_decay", float, 1e-4, low=0))


class Batches(Protocol):
    def epoch(self, epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]: ...


class TensorBatches:
    """Mini-batches of in-memory tensors; shuffled by a generator seeded with ``(seed, epoch)``.

    Parameters
    ----------
    inputs : dict of name -> (n, ...) tensor
    y : (n,) int64 tensor
    batch_size : int
    shuffle : bool
    seed : int
    device : torch.device or str, optional
        Where the batches are moved (the tensors are moved once, at construction).
    """

    def __init__(self, inputs: Mapping[str, torch.Tensor], y: torch.Tensor, batch_size: int = 64,
                 shuffle: bool = True, seed: int = 0, device: torch.device | str | None = None) -> None:
        n = len(y)
        bad = {k: len(v) for k, v in inputs.items() if len(v) != n}
        if bad:
            raise ValueError(f"inputs have {bad} rows but y has {n}; every modality needs one row per label.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        self.inputs = {k: v.to(device) if device is not None else v for k, v in inputs.items()}
        self.y = y.to(device) if device is not None else y
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def epoch(self, epoch: int):
        n = len(self.y)
        if self.shuffle:
            g = torch.Generator().manual_seed(derive_seed(self.seed, "shuffle", epoch))
            order = torch.randperm(n, generator=g).to(self.y.device)
        else:
            order = torch.arange(n, device=self.y.device)
        for i in range(0, n, self.batch_size):
            idx = order[i:i + self.batch_size]
            yield {k: v[idx] for k, v in self.inputs.items()}, self.y[idx]


@dataclass
class TrainConfig:
    """Settings of :func:`fit` (defaults: the official CREMA-D recipe)."""

    method: str = _RECIPE["method"]
    epochs: int = _RECIPE["epochs"]
    optimizer: str = _RECIPE["optimizer"]
    lr: float = _RECIPE["lr"]
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_step: int = _RECIPE["lr_step"]
    lr_gamma: float = _RECIPE["lr_gamma"]
    alpha: float = _RECIPE["alpha"]
    ogm: dict = field(default_factory=dict)  # extra OGMGE keywords: variant, params, noise_on, start/end_epoch
    seed: int = _RECIPE["seed"]
    save_best: bool = True  # also keep best.pt, the weights of the best test epoch (the official script's choice)
    amp: bool | None = None  # bf16 autocast; None = on for CUDA
    channels_last: bool | None = None  # None = on for CUDA
    #: Everything else the run's numbers depend on, set by the caller (model: modalities, fusion, width,
    #: head init; data: split, batch size, cache identity...). Stored in the checkpoint and the summary
    #: and compared on resume like every other field.
    run: dict = field(default_factory=dict)

    def validate(self) -> "TrainConfig":
        """Check every field; one ``ValueError`` naming the field and the accepted values."""
        for name in ("method", "optimizer", "epochs", "lr_step", "seed", "lr", "lr_gamma", "alpha"):
            P.check(P.CREMAD[name], getattr(self, name))
        for param in _OWN:
            P.check(param, getattr(self, param.name))
        for name in ("amp", "channels_last"):
            if getattr(self, name) not in (None, True, False):
                raise ValueError(f"{name} must be True, False or None (auto); got {getattr(self, name)!r}.")
        if not isinstance(self.ogm, dict) or not isinstance(self.run, dict):
            raise ValueError("ogm and run must be dicts of settings.")
        try:
            json.dumps({"ogm": self.ogm, "run": self.run}, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ogm and run settings must be plain JSON values (they are stored with the run): {exc}.") from None
        return self


@dataclass
class TrainResult:
    """What :func:`fit` returns: per-epoch history and per-step OGM log, as DataFrames."""

    history: pd.DataFrame
    steps: pd.DataFrame
    model: nn.Module

    def summary(self) -> dict:
        """Best-epoch (selected on the test set, as the official script) and last-epoch accuracies (percent).

        When some epoch was not tested (NaN in the history, e.g. ``eval_epochs="last"``) there is no best
        epoch to report: ``best_epoch`` is None and ``best_test_acc`` NaN (never a selection that was not made).
        """
        h = self.history
        out = {"best_epoch": None, "best_test_acc": float("nan"), "last_test_acc": float(h["test_acc"].iloc[-1])}
        if len(h) and not h["test_acc"].isna().any():
            best = h.loc[h["test_acc"].idxmax()]
            out.update(best_epoch=int(best["epoch"]), best_test_acc=float(best["test_acc"]))
        for col in h.columns:
            if col.startswith("test_acc_"):
                out[f"last_{col}"] = float(h[col].iloc[-1])
        return out


def make_ogm(model: nn.Module, cfg: TrainConfig, generator: torch.Generator | None = None) -> OGMGE | None:
    """The OGM component of a run. The baseline gets one too, with ``alpha=0`` and no noise: a no-op
    that only logs the scores and ratios, so every method's imbalance can be plotted."""
    kw = dict(cfg.ogm)
    if len(model.encoders) < 2:
        if cfg.method != "baseline":
            raise ValueError(f"method {cfg.method!r} needs two or more modalities; a unimodal model trains with 'baseline'.")
        return None
    if cfg.method == "baseline":
        return OGMGE(model.encoders, alpha=0.0, ge=False, generator=generator, **kw)
    return OGMGE(model.encoders, alpha=cfg.alpha, ge=cfg.method == "ogm-ge", generator=generator, **kw)


def _to_device(inputs: Mapping[str, torch.Tensor], device, channels_last: bool) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in inputs.items():
        v = v.to(device, non_blocking=True)
        if channels_last and v.dim() == 4:
            v = v.contiguous(memory_format=torch.channels_last)
        elif channels_last and v.dim() == 5:
            v = v.contiguous(memory_format=torch.channels_last_3d)
        out[k] = v
    return out


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches, device=None, amp: bool = False, channels_last: bool = False) -> dict:
    """Accuracy of the fused prediction and of each modality's branch (``test_acc``, ``test_acc_<name>``), in percent."""
    model.eval()
    device = device or next(model.parameters()).device
    correct, branch_correct, n = 0, {}, 0
    for inputs, y in batches.epoch(0):
        inputs, y = _to_device(inputs, device, channels_last), y.to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=amp):
            feats, logits = model(inputs)
        correct += int((logits.argmax(1) == y).sum())
        for u, z in model.branch_logits(feats).items():
            branch_correct[u] = branch_correct.get(u, 0) + int((z.argmax(1) == y).sum())
        n += len(y)
    out = {"test_acc": 100.0 * correct / max(n, 1)}
    out.update({f"test_acc_{u}": 100.0 * c / max(n, 1) for u, c in branch_correct.items()})
    return out


def _checkpoint_path(folder: Path) -> Path:
    return folder / "checkpoint.pt"


def _save_checkpoint(folder: Path, state: dict, name: str = "checkpoint.pt") -> None:
    with atomic_open(folder / name, "wb") as fh:  # fsync, umask, rename: a kill keeps the previous one
        torch.save(state, fh)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that belongs to a run with other settings."""


#: The unit of every accuracy a run stores (checkpoint, ``summary.json``): written with them, checked on resume.
ACC_UNIT = "percent"


def check_acc_unit(stored: dict | None, where: str | os.PathLike) -> None:
    """Refuse a stored run whose accuracies are not marked :data:`ACC_UNIT` (written by an older mmtheory).

    Raises
    ------
    CheckpointError
        Saying that the folder was written before accuracies were stored in percent and what to do.
    """
    if not isinstance(stored, dict) or stored.get("acc_unit") != ACC_UNIT:
        raise CheckpointError(
            f"{where} was written by an older mmtheory that stored accuracies as fractions (no acc_unit = "
            f"{ACC_UNIT!r}); resuming or reusing it would mix fractions and percent. Delete that run folder (or "
            "choose a new --out folder) to train it again.")


#: What a resumable checkpoint holds.
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "generator", "torch_rng", "ogm", "history", "epoch", "config")


def load_checkpoint(path: str | os.PathLike, map_location=None) -> dict:
    """Read a checkpoint written by :func:`fit` (``torch.load(weights_only=True)``: tensors and builtins only).

    Raises
    ------
    CheckpointError
        If the file is empty, truncated, random bytes, or lacks a field of :data:`CHECKPOINT_KEYS`,
        with one message saying what to do.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing; the error says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # zero bytes, truncated zip, random data, a pickle of forbidden objects...
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        first = next((line for line in lines if "Unpickler error" in line), lines[0] if lines else "")[:160]
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: {first}). It is empty, truncated or not "
            "written by mmtheory: delete it (or use a new --out folder) to start the run over.") from None
    missing = [k for k in CHECKPOINT_KEYS if k not in state] if isinstance(state, dict) else list(CHECKPOINT_KEYS)
    if missing:
        raise CheckpointError(f"{path} is not an mmtheory training checkpoint (missing {missing}); delete it or use "
                              "a new --out folder.")
    return state


def setting_differences(old: dict | None, new: dict) -> list[str]:
    """The settings (``"batch_size"``, ``"ogm.alpha"``...) that differ between two stored run configs.

    ``epochs`` (a finished run may be extended) and ``save_best`` (only whether best.pt is kept) may
    differ; every other setting, including those of ``run``, must be equal.
    """
    if not isinstance(old, dict):
        return ["(the stored run has no settings)"]
    a, b = _flat(old), _flat(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if key in _MAY_CHANGE:
            continue
        if key in _RESOLVED_AT_FIT and (a.get(key) is None or b.get(key) is None):
            continue  # "auto" in a request made before the device is known, or a run stored before they were
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            out.append(f"{key} was {a.get(key, '<unset>')!r}, now {b.get(key, '<unset>')!r}")
    return out


_MAY_CHANGE = ("epochs", "save_best")
#: Settings resolved by :func:`fit` from the device and the process group (bf16 autocast and channels-last
#: on CUDA, the device type, the number of processes): stored resolved, so a run started on the CPU cannot
#: continue with bf16 on a GPU, nor a 2-process run with 4, without it being named.
_RESOLVED_AT_FIT = ("amp", "channels_last", "device_type", "world_size")


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in config.items():
        if isinstance(v, dict) and k in ("ogm", "run"):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}" if prefix != "run." else k] = v
    return out


def check_same_run(old: dict | None, cfg: TrainConfig, where: str | os.PathLike, done: int | None = None,
                   resolved: dict | None = None) -> None:
    """Refuse to continue (or reuse) the run stored at ``where`` with other settings than ``cfg``.

    Parameters
    ----------
    old : dict or None
        The stored config (checkpoint's ``config`` or summary's).
    cfg : TrainConfig
        The settings asked for now.
    where : path-like
        The file, for the message.
    done : int, optional
        Epochs the stored run has done: ``cfg.epochs`` below it is refused.

    Raises
    ------
    CheckpointError
        Naming every setting that differs, or the epochs.
    """
    diff = setting_differences(old, {**_config_dict(cfg), **(resolved or {})})
    if diff:
        raise CheckpointError(
            f"{where} belongs to a run with other settings: {'; '.join(diff)}. A run continues only with the settings "
            "it was started with (history from one setting would be recorded under another): pass the same settings, "
            "or use a new --out folder.")
    if done is not None and cfg.epochs < done:
        raise CheckpointError(f"{where}: the run has already done {done} epochs; epochs={cfg.epochs} is below that. "
                              f"Pass --epochs {done} or more to continue it, or use a new --out folder.")


def fit(model: nn.Module, train: Batches, test: Batches, cfg: TrainConfig, *, device: torch.device | str | None = None,
        out_dir: str | os.PathLike | None = None, resume: bool = False, desc: str = "train",
        dist: "mmdist.DistContext | None" = None, accumulate: int = 1,
        scaler: "torch.amp.GradScaler | None" = None) -> TrainResult:
    """Train ``model`` (a :class:`~mmtheory.models.LateFusionClassifier`) with ``cfg.method``.

    Each epoch: one pass over ``train`` (cross-entropy on the fused logits; OGM/OGM-GE between
    backward and step), StepLR, then evaluation on ``test`` (fused and per-branch accuracy).
    With ``out_dir`` the run writes, atomically after every epoch, ``checkpoint.pt`` (model,
    optimizer, scheduler, RNG and OGM state), ``history.csv``/``history.json`` and ``steps.csv``;
    ``resume=True`` continues from the checkpoint with nothing lost (same result as an
    uninterrupted run on CPU). With ``cfg.save_best`` (default, as the official script) ``best.pt``
    holds the weights of the epoch with the best *test* accuracy; that is model selection on the test
    set, so the summary reports the last epoch's accuracy beside it.

    Scaling out (:mod:`mmtheory.train.distributed`): with ``dist`` (a context of more than one
    process, e.g. from ``init_from_env()`` under torchrun) the model is wrapped in
    ``DistributedDataParallel``, each rank trains on its shard of every global batch of ``train``
    (pass the *global* batches), OGM-GE uses the all-reduced scores of the global batch, and rank 0
    alone writes ``out_dir``. ``accumulate=k`` sums the gradients of ``k`` consecutive batches and
    takes one optimizer step (and one OGM modulation, from the pooled scores) per ``k`` batches; the
    update equals one step on their union. ``scaler`` (``torch.amp.GradScaler``): the loss is scaled
    for backward and the gradients unscaled before the modulation; the coefficients are unchanged.
    With neither, the loop is the plain single-process one (mean loss, one step per batch).
    """
    cfg.validate()
    if not (isinstance(accumulate, int) and accumulate >= 1):
        raise ValueError(f"accumulate must be an integer >= 1 (batches per optimizer step); got {accumulate!r}.")
    run = _prepare(model, cfg, device, dist, accumulate, scaler)    # 1. device, precision, optimizer, OGM, DDP
    train = mmdist.shard(train, dist)
    folder = Path(out_dir) if out_dir is not None else None
    rows, start = _resume(run, folder, resume)                      # 2. the checkpoint, if continuing
    bar = tqdm(range(start, cfg.epochs), desc=desc, disable=progress_disabled() or not run.writer, initial=start,
               total=cfg.epochs)
    for epoch in bar:
        train_loss = _train_epoch(run, train, epoch)                # 3. one pass: loss, backward, OGM, step
        lr = run.opt.param_groups[0]["lr"]
        run.sched.step()
        row = {"epoch": epoch, "method": cfg.method, "lr": lr, "train_loss": train_loss}
        row.update(evaluate(model, test, run.device, run.amp, run.channels_last))  # 4. test accuracy
        rows.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", test_acc=f"{row['test_acc']:.2f} %")
        if folder is not None and run.writer:
            _write_epoch(run, folder, rows, epoch)                  # 5. checkpoint, best.pt, histories
    result = TrainResult(pd.DataFrame(rows), _steps(run.ogm), model)
    if folder is not None and run.writer:
        atomic_write_json(folder / "summary.json", {**result.summary(), "config": run.config, "acc_unit": ACC_UNIT})
    if run.ddp:
        mmdist.barrier()  # the other ranks return once rank 0's files are written
    return result


@dataclass
class _Run:
    """Everything one :func:`fit` call trains with, made once by :func:`_prepare`."""

    cfg: TrainConfig
    model: nn.Module
    net: nn.Module  # the model, or its DistributedDataParallel wrapper
    params: list
    opt: torch.optim.Optimizer
    sched: object
    gen: torch.Generator
    ogm: OGMGE | None
    device: torch.device
    amp: bool
    channels_last: bool
    resolved: dict
    config: dict
    dist: object
    ddp: bool
    writer: bool
    exact_mean: bool
    accumulate: int
    scaler: object


def _prepare(model: nn.Module, cfg: TrainConfig, device, dist, accumulate: int, scaler) -> _Run:
    """Step 1: resolve device and precision, move the model, build optimizer, scheduler, GE noise generator,
    OGM and (under DDP) the wrapper -- in this order, which fixes every random draw."""
    ddp = dist is not None and dist.parallel
    device = torch.device(device) if device is not None else next(model.parameters()).device
    amp = cfg.amp if cfg.amp is not None else device.type == "cuda"
    channels_last = cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"
    resolved = dict(amp=bool(amp), channels_last=bool(channels_last), device_type=device.type,
                    world_size=int(dist.world_size) if ddp else 1)
    config = {**_config_dict(cfg), **resolved}  # what is stored: every setting, the resolved ones resolved
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    params = list(model.parameters())
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    gen = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, "ge-noise"))  # never the init seed
    ogm = make_ogm(model, cfg, gen)
    net = mmdist.wrap_model(model, dist, device) if ddp else model
    return _Run(cfg, model, net, params, opt, sched, gen, ogm, device, bool(amp), bool(channels_last), resolved,
                config, dist, ddp, dist is None or dist.is_main, accumulate == 1 and not ddp, accumulate, scaler)


def _resume(run: _Run, folder: Path | None, resume: bool) -> tuple[list[dict], int]:
    """Step 2: ``(history rows, first epoch)``; with ``resume`` every state is restored from the checkpoint
    after checking it is the same run; without, an existing checkpoint is refused."""
    if folder is None:
        return [], 0
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = _checkpoint_path(folder)
    if resume and ckpt.exists():
        state = load_checkpoint(ckpt, map_location=run.device)
        check_acc_unit(state, ckpt)
        check_same_run(state["config"], run.cfg, ckpt, done=int(state["epoch"]) + 1, resolved=run.resolved)
        run.model.load_state_dict(state["model"])
        run.opt.load_state_dict(state["optimizer"])
        run.sched.load_state_dict(state["scheduler"])
        run.gen.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        if run.ogm is not None:
            run.ogm.load_state_dict(state["ogm"])
        return list(state["history"]), int(state["epoch"]) + 1
    if resume:
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; start without --resume.")
    if ckpt.exists():
        raise FileExistsError(f"{ckpt} exists; pass resume=True (--resume) to continue it, or choose a new folder.")
    return [], 0


def _train_epoch(run: _Run, train: Batches, epoch: int) -> float:
    """Step 3: one pass over ``train``; returns the mean training loss (over every rank's samples)."""
    run.model.train()
    total, count = 0.0, 0
    micro, window = 0, 0  # batches and (local) samples since the last optimizer step
    batches = (_with_last(train.epoch(epoch)) if run.accumulate > 1 else ((b, True) for b in train.epoch(epoch)))
    for (inputs, y), last in batches:
        inputs, y = _to_device(inputs, run.device, run.channels_last), y.to(run.device)
        step_now = last or micro + 1 == run.accumulate
        if micro == 0:
            run.opt.zero_grad(set_to_none=True)
        loss, feats = _backward(run, inputs, y, epoch, sync=step_now)
        if run.ogm is not None:
            run.ogm.observe(run.model.branch_logits({k: v.detach() for k, v in feats.items()}), y)
        micro, window = micro + 1, window + len(y)
        if step_now:
            _step(run, window, epoch)
            micro, window = 0, 0
        if run.exact_mean:
            total += float(loss.detach()) * len(y)
        else:
            total += float(loss.detach()) / (run.dist.world_size if run.ddp else 1)
        count += len(y)
    if run.ddp:
        total, count = mmdist.all_reduce_sum([total, count], run.device)
    return total / max(count, 1)


def _backward(run: _Run, inputs, y, epoch: int, sync: bool):
    """Forward (autocast when ``amp``) and backward of one batch; gradients are synchronised across ranks only
    when ``sync`` (the batch that ends an accumulation window). Returns ``(loss, features)``."""
    with run.net.no_sync() if run.ddp and not sync else nullcontext():
        with torch.autocast(device_type=run.device.type, dtype=torch.bfloat16, enabled=run.amp):
            feats, logits = run.net(inputs)
            if run.exact_mean:
                loss = F.cross_entropy(logits.float(), y)
            else:  # sum of per-sample losses; DDP averages over ranks, hence * world size
                loss = F.cross_entropy(logits.float(), y, reduction="sum") * (run.dist.world_size if run.ddp else 1)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the training loss became {float(loss)} at epoch {epoch}; lower the "
                                     "learning rate or check the inputs for NaN.")
        (run.scaler.scale(loss) if run.scaler is not None else loss).backward()
    return loss, feats


def _step(run: _Run, window: int, epoch: int) -> None:
    """One optimizer step: unscale (AMP), average the summed gradients over the global window, modulate (OGM),
    step."""
    if run.scaler is not None:
        run.scaler.unscale_(run.opt)
    if not run.exact_mean:  # gradients of the summed loss -> of the mean over the global step batch
        n_step = mmdist.all_reduce_sum([window], run.device)[0] if run.ddp else window
        for p in run.params:
            if p.grad is not None:
                p.grad.div_(n_step)
    if run.ogm is not None:
        run.ogm.modulate(epoch)
    if run.scaler is not None:
        run.scaler.step(run.opt)
        run.scaler.update()
    else:
        run.opt.step()


def _write_epoch(run: _Run, folder: Path, rows: list[dict], epoch: int) -> None:
    """Step 5: the checkpoint (every state), ``best.pt`` when this epoch is the best so far, the histories."""
    _save_checkpoint(folder, {"model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
                              "scheduler": run.sched.state_dict(), "generator": run.gen.get_state(),
                              "torch_rng": torch.get_rng_state(),
                              "ogm": run.ogm.state_dict() if run.ogm is not None else {},
                              "history": rows, "epoch": epoch, "config": run.config, "acc_unit": ACC_UNIT})
    row = rows[-1]
    if run.cfg.save_best and row["test_acc"] >= max(r["test_acc"] for r in rows):
        _save_checkpoint(folder, {"model": run.model.state_dict(), "epoch": epoch, "test_acc": row["test_acc"]},
                         name="best.pt")
    atomic_write_text(folder / "history.csv", pd.DataFrame(rows).to_csv(index=False))
    atomic_write_json(folder / "history.json", rows)
    atomic_write_text(folder / "steps.csv", _steps(run.ogm).to_csv(index=False))


def _with_last(iterable):
    """``(item, is_last)`` for each item of ``iterable`` (one item of look-ahead)."""
    it = iter(iterable)
    try:
        prev = next(it)
    except StopIteration:
        return
    for item in it:
        yield prev, False
        prev = item
    yield prev, True


def _steps(ogm: OGMGE | None) -> pd.DataFrame:
    return ogm.history_frame() if ogm is not None else pd.DataFrame()


def _config_dict(cfg: TrainConfig) -> dict:
    d = dict(cfg.__dict__)
    return json.loads(json.dumps(d))
