"""Minibatch training of a model that holds R independent runs (see :class:`~mmtheory.models.BatchedLateFusion`).

All runs step together: one forward and backward pass of batched matrix products per minibatch. Each
run draws its own sample order (so runs with different seeds are genuinely independent) and Adam's
update is elementwise, so the batched optimiser equals R separate optimisers.
"""

from __future__ import annotations

import os
from typing import Sequence

import torch
from torch.nn import functional as F
from tqdm import tqdm


def progress_disabled() -> bool:
    """Progress bars are off in CI (``CI`` set) or when ``MMTHEORY_PROGRESS=0``."""
    return bool(os.environ.get("CI")) or os.environ.get("MMTHEORY_PROGRESS", "1") == "0"


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx`` (R, B) of ``x`` (n, d) shared, or (R, n, d) per run -> (R, B, d)."""
    if x.ndim == 2:
        return x[idx]
    return x[torch.arange(x.shape[0], device=x.device)[:, None], idx]


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
    desc: str = "training",
) -> list[float]:
    """Train all runs of ``model`` with Adam; return the mean training loss per epoch.

    Parameters
    ----------
    model : module
        Called as ``model(list_of_views) -> (R, B, out)`` and with attribute ``n_runs``.
    views : sequence of tensors
        One per modality: (n, d_k) shared by all runs, or (R, n, d_k) per run.
    y : tensor
        Targets (n, p) / (R, n, p) for ``loss="mse"`` (squared error summed over outputs), or class
        indices (n,) / (R, n) for ``loss="ce"``.
    sample_weight : tensor (R, n), optional
        Per-run weight of each sample (0 excludes it: how a run trains on a subset of the data).
    """
    if loss not in ("mse", "ce"):
        raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}.")
    n_runs = model.n_runs
    n = views[0].shape[-2]
    if epochs < 1 or batch_size < 1 or not (lr > 0):
        raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}.")
    device = model.head_weight.device
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in tqdm(range(epochs), desc=desc, disable=progress_disabled(), leave=False):
        order = torch.argsort(torch.rand(n_runs, n, generator=gen), dim=1).to(device)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[:, start : start + batch_size]
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
            if not torch.isfinite(batch_loss):
                raise FloatingPointError(
                    "training loss became NaN/inf; lower lr, check the inputs for NaN, or standardise features."
                )
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            total += float(per_run.detach().mean()) * idx.shape[1]
            count += idx.shape[1]
        history.append(total / count)
    return history
