"""Minibatch training of a model that holds R independent runs (see :class:`~mmtheory.models.BatchedLateFusion`).

All runs step together: one forward and backward pass of batched matrix products per minibatch. Each
run draws its own sample order (so runs with different seeds are genuinely independent) and Adam's
update is elementwise, so the batched optimiser equals R separate optimisers.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import torch
from torch.nn import functional as F
from mmtheory._progress import tqdm

from mmtheory.seeding import torch_generator


def progress_disabled() -> bool:
    """Whether tqdm's own switch ``TQDM_DISABLE`` turns progress bars off (``1``/``true``/``yes``).

    ``TQDM_DISABLE=1`` silences our bars (the build, the tests and the benchmarks set it); without it they
    show only on a terminal (``disable=None``). This helper is for code that passes ``disable=``
    explicitly, which tqdm lets override the environment.
    """
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")


def _gather(x: torch.Tensor, idx: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Rows ``idx`` (R, B) of ``x`` (n, d) shared, or (R, n, d) per run -> (R, B, d).

    With ``rows`` (R_k,) only those runs are gathered -> (R_k, B, d). One ``index_select`` of whole
    rows (several times faster on a CPU than advanced indexing with a 2-D index).
    """
    if rows is not None:
        idx = idx[rows]
    if x.ndim == 2:
        return x.index_select(0, idx.reshape(-1)).view(*idx.shape, *x.shape[1:])
    r, n = x.shape[0], x.shape[1]
    runs = rows if rows is not None else torch.arange(r, device=x.device)
    flat = idx + n * runs[:, None]
    return x.reshape(r * n, *x.shape[2:]).index_select(0, flat.reshape(-1)).view(*idx.shape, *x.shape[2:])


def fit_batched(
    model: torch.nn.Module,
    views: Sequence[torch.Tensor],
    y: torch.Tensor,
    *,
    loss: str = "mse",
    epochs: int = 100,
    lr: float = 0.01,
    batch_size: int = 2048,
    sample_weight: torch.Tensor | None = None,
    seed: int = 0,
    shared_order: bool = False,
    desc: str = "training",
) -> list[float]:
    """Train all runs of ``model`` with Adam; return the mean training loss per epoch.

    Parameters
    ----------
    model : module
        Called as ``model(list_of_views) -> (R, B, out)`` and with attribute ``n_runs``. A model with
        ``modality_runs`` (per modality, the runs that use it, or ``None`` for all; see
        :class:`~mmtheory.models.BatchedLateFusion`) gets each modality's minibatch gathered only for
        those runs and is called as ``model(pieces, grouped=True)``.
    views : sequence of tensors
        One per modality: (n, d_k) shared by all runs, or (R, n, d_k) per run.
    y : tensor
        Targets (n, p) / (R, n, p) for ``loss="mse"`` (squared error summed over outputs), or class
        indices (n,) / (R, n) for ``loss="ce"``.
    sample_weight : tensor (R, n), optional
        Per-run weight of each sample (0 excludes it: how a run trains on a subset of the data).
    shared_order : bool
        All runs see the minibatches in the same order. Views shared by all runs are then indexed once
        per minibatch instead of once per run (R times less memory traffic); runs stay independent
        through their initialisation and ``sample_weight``.
    """
    if loss not in ("mse", "ce"):
        raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}.")
    n_runs = model.n_runs
    n = views[0].shape[-2]
    if epochs < 1 or batch_size < 1 or not (lr > 0):
        raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}.")
    device = model.head_weight.device
    gen = torch_generator(seed, "minibatch-order")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    groups = getattr(model, "modality_runs", None)
    # tqdm's own switch TQDM_DISABLE turns the bar off (the book build and the tests set it); otherwise a
    # notebook widget bar in a Jupyter kernel (tqdm.auto), a text bar on a terminal, none elsewhere
    for _ in tqdm(range(epochs), desc=desc, leave=False, disable=progress_disabled() or None):
        if shared_order:
            order = torch.randperm(n, generator=gen).to(device).expand(n_runs, n)
        else:
            order = torch.argsort(torch.rand(n_runs, n, generator=gen), dim=1).to(device)
        total = torch.zeros((), device=device)  # summed on the device: no host sync per step
        for start in range(0, n, batch_size):
            idx = order[:, start : start + batch_size]
            if groups is not None:
                pieces = [x[idx[0]] if shared_order and x.ndim == 2 else _gather(x, idx, rows)
                          for x, rows in zip(views, groups)]
                out = model(pieces, grouped=True)  # (R, B, out)
            elif shared_order:
                out = model([x[idx[0]] if x.ndim == 2 else _gather(x, idx) for x in views])  # (R, B, out)
            else:
                out = model([_gather(x, idx) for x in views])  # (R, B, out)
            target = _gather(y.unsqueeze(-1) if loss == "ce" else y, idx)
            if loss == "mse":
                per_sample = ((out - target) ** 2).sum(-1)  # (R, B)
            else:
                per_sample = F.cross_entropy(out.transpose(1, 2), target.squeeze(-1), reduction="none")
            if sample_weight is not None:
                wgt = _gather(sample_weight.unsqueeze(-1), idx).squeeze(-1)
                per_run = (per_sample * wgt).sum(1) / wgt.sum(1).clamp_min(1.0)
            else:
                per_run = per_sample.mean(1)
            batch_loss = per_run.sum()  # runs are independent: the sum gives each run its own gradient
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            total += per_run.detach().mean() * idx.shape[1]
        epoch_loss = float(total) / n  # one host sync per epoch
        if not math.isfinite(epoch_loss):
            raise FloatingPointError(
                "training loss became NaN/inf; lower lr, check the inputs for NaN, or standardise features."
            )
        history.append(epoch_loss)
    return history


def refit_heads(
    latent_train: torch.Tensor,
    y_train: torch.Tensor,
    latent_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    epochs: int = 50,
    lr: float = 0.01,
    batch_size: int = 2048,
    seed: int = 0,
) -> torch.Tensor:
    """Fit a fresh linear softmax head per run on frozen latents; return each run's best scoring accuracy.

    This is how Huang et al. (2021) measure latent quality: freeze the trained encoder, refit only the
    head, and take the best risk reached (here the 0-1 risk on the scoring rows ``latent_test``, checked
    after every epoch; :func:`~mmtheory.experiments.modality_sweep.modality_sweep` passes the two halves
    of a probe split held out from training, never the test set).

    Parameters
    ----------
    latent_train : tensor (R, n, D)
    y_train : tensor (n,) int64
    latent_test : tensor (R, n_test, D)
    y_test : tensor (n_test,) int64

    Returns
    -------
    tensor (R,)
        Best test accuracy over epochs, in [0, 1].
    """
    n_runs, n, dim = latent_train.shape
    n_classes = int(max(int(y_train.max()), int(y_test.max())) + 1)
    gen = torch_generator(seed, "refit-order")
    weight = torch.nn.Parameter(torch.zeros(n_runs, dim, n_classes, device=latent_train.device))
    bias = torch.nn.Parameter(torch.zeros(n_runs, 1, n_classes, device=latent_train.device))
    opt = torch.optim.Adam([weight, bias], lr=lr)
    best = torch.zeros(n_runs, device=latent_train.device)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(latent_train.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            logits = torch.baddbmm(bias, latent_train[:, idx], weight)
            target = y_train[idx].expand(n_runs, -1)
            loss = F.cross_entropy(logits.transpose(1, 2), target, reduction="none").mean(1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = (torch.baddbmm(bias, latent_test, weight).argmax(-1) == y_test).float().mean(1)
            best = torch.maximum(best, acc)
    return best
