"""Data-parallel training across processes (``torchrun``): the process context, rank shards of the batches.

One run on several GPUs (or CPU processes with the gloo backend)::

    torchrun --nproc-per-node 4 -m mmtheory train cremad --cache /data/cremad-cache --out runs/ogmge

:func:`init_from_env` reads the variables torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) and initialises ``torch.distributed`` (NCCL on CUDA, gloo on CPU).
:func:`mmtheory.train.late_fusion.fit` then takes the context as ``dist=``:

* every rank iterates the same *global* batches (same seed, same order) and keeps its own
  contiguous shard of each (:class:`ShardedBatches`; ``torch.tensor_split``, so shards differ by at
  most one row);
* the model is wrapped in ``DistributedDataParallel``; the loss of each rank is its sum of
  per-sample losses and the all-reduced gradients are divided by the global number of samples, so
  the update equals that of one process on the global batch, whatever the shard sizes;
* OGM-GE all-reduces the per-modality score sums before the ratio
  (:class:`mmtheory.train.ogm.OGMGE`), so the coefficients are those of the global batch and the same
  on every rank; its generator is seeded identically on every rank and modulates identical
  (all-reduced) gradients, so the GE noise is identical too;
* rank 0 alone writes checkpoints, histories and the summary; every rank reads the checkpoint on
  ``resume``.

Batch normalisation stays rank-local (statistics of each rank's shard), as in the official code's
``nn.DataParallel``; :func:`wrap_model` converts it to ``SyncBatchNorm`` on request (CUDA only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
import torch.distributed as torch_dist
from torch import nn

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a data-parallel run.

    Attributes
    ----------
    rank : int
        Global rank in ``[0, world_size)``.
    world_size : int
        Number of processes.
    local_rank : int
        Rank on this node (the GPU index under torchrun).
    backend : str
        ``"nccl"`` or ``"gloo"``.
    """

    rank: int
    world_size: int
    local_rank: int = 0
    backend: str = "gloo"

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that writes files and prints."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        """True with more than one process."""
        return self.world_size > 1

    def device(self, requested: str = "auto") -> torch.device:
        """This rank's device: ``cuda:<local_rank>`` for ``"auto"``/``"cuda"`` when CUDA is present, else CPU.

        A fully named device (``"cuda:1"``, ``"cpu"``) is returned unchanged.
        """
        if requested in ("auto", "cuda"):
            if torch.cuda.is_available():
                return torch.device("cuda", self.local_rank % torch.cuda.device_count())
            if requested == "cuda":
                raise RuntimeError("device 'cuda' was asked for but CUDA is not available; use --device cpu.")
            return torch.device("cpu")
        return torch.device(requested)

    @classmethod
    def current(cls) -> "DistContext | None":
        """The context of an already initialised default process group, or ``None``."""
        if not (torch_dist.is_available() and torch_dist.is_initialized()):
            return None
        return cls(torch_dist.get_rank(), torch_dist.get_world_size(),
                   int(os.environ.get("LOCAL_RANK", torch_dist.get_rank())), torch_dist.get_backend())


def launched_by_torchrun(env: Mapping[str, str] | None = None) -> bool:
    """True when the torchrun variables are set (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""
    env = os.environ if env is None else env
    return all(k in env for k in ENV_VARS)


def init_from_env(backend: str | None = None, env: Mapping[str, str] | None = None) -> DistContext | None:
    """Initialise ``torch.distributed`` from the torchrun variables; ``None`` outside torchrun.

    Parameters
    ----------
    backend : {"nccl", "gloo"}, optional
        Default: NCCL when CUDA is available, else gloo.
    env : mapping, optional
        The environment (default ``os.environ``).

    Returns
    -------
    DistContext or None
        ``None`` when the variables are absent (a plain single-process run).
    """
    env = os.environ if env is None else env
    if not launched_by_torchrun(env):
        present = [k for k in ENV_VARS if k in env]
        if present:
            missing = [k for k in ENV_VARS if k not in env]
            raise RuntimeError(f"the environment sets {present} but not {missing}: launch with "
                               "`torchrun --nproc-per-node N -m mmtheory ...`, or unset them for one process.")
        return None
    try:
        rank, world, local = (int(env[k]) for k in ENV_VARS)
    except ValueError:
        raise RuntimeError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers; got "
                           f"{[env[k] for k in ENV_VARS]}.") from None
    if not (0 <= rank < world):
        raise RuntimeError(f"RANK={rank} is outside [0, WORLD_SIZE={world}).")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if torch_dist.is_initialized():
        return DistContext.current()
    if backend == "nccl":
        torch.cuda.set_device(local % torch.cuda.device_count())
    torch_dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistContext(rank, world, local, backend)


def shutdown() -> None:
    """Destroy the default process group if one is initialised."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def shard_rows(n: int, rank: int, world_size: int) -> slice:
    """Rows of a batch of ``n`` kept by ``rank``: contiguous, sizes differing by at most one.

    The same split as ``torch.tensor_split(torch.arange(n), world_size)[rank]``.
    """
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


class ShardedBatches:
    """This rank's shard of every global batch of ``batches`` (any object with ``epoch(e)``).

    Every rank iterates the same global batches (same order and augmentation draws: the wrapped
    object depends only on its seed and the epoch) and keeps :func:`shard_rows` of each, so the
    union of the shards is exactly the single-process batch.

    Parameters
    ----------
    batches : object with ``epoch(e)`` yielding ``(inputs: dict[str, (B, ...) tensor], y: (B,) tensor)``
    rank, world_size : int
    """

    def __init__(self, batches, rank: int, world_size: int) -> None:
        if not (isinstance(world_size, int) and world_size >= 1 and 0 <= rank < world_size):
            raise ValueError(f"need 0 <= rank < world_size; got rank={rank!r}, world_size={world_size!r}.")
        self.batches, self.rank, self.world_size = batches, rank, world_size

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self, epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        for inputs, y in self.batches.epoch(epoch):
            rows = shard_rows(len(y), self.rank, self.world_size)
            yield {k: v[rows] for k, v in inputs.items()}, y[rows]


def shard(batches, ctx: DistContext | None):
    """``batches`` itself for one process; else the rank's shard (its own ``shard`` method if it has one)."""
    if ctx is None or not ctx.parallel:
        return batches
    if hasattr(batches, "shard"):
        return batches.shard(ctx.rank, ctx.world_size)
    return ShardedBatches(batches, ctx.rank, ctx.world_size)


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device, sync_batchnorm: bool = False) -> nn.Module:
    """``DistributedDataParallel(model)`` for this rank (``model`` itself for one process).

    ``model`` must already be on ``device`` with identical initial weights on every rank (DDP also
    broadcasts rank 0's parameters and buffers at construction).
    """
    if not ctx.parallel:
        return model
    if sync_batchnorm:
        if device.type != "cuda":
            raise ValueError("SyncBatchNorm needs CUDA; on CPU batch normalisation stays rank-local.")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_reduce_sum(values: list[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum of ``values`` (float64) over every rank; the values themselves without a process group."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()) or torch_dist.get_world_size() == 1:
        return [float(v) for v in values]
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM)
    return t.tolist()


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if torch_dist.is_available() and torch_dist.is_initialized() and torch_dist.get_world_size() > 1:
        torch_dist.barrier()
