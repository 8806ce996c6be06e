"""Torch access to the CREMA-D cache: a ``Dataset`` for ``DataLoader`` users, and a batch loader
that gathers whole mini-batches from the memory maps and augments them on the device.

This is the one module of ``mmtheory.data`` that imports torch. The official training transform
(``RandomResizedCrop(224)`` with scale (0.08, 1) and ratio (3/4, 4/3), then a horizontal flip, then
ImageNet normalisation) is applied to the cached frame (already resized to ``size`` x ``size``), as
one batched ``grid_sample`` on the device; evaluation uses the cached frame as it is (the official
``Resize((224, 224))``). One frame per clip: a random one of the cached frames in training (the
official ``--fps 1``), the middle one in evaluation. (The official loader draws a random index but then
reads ``os.listdir(...)[0]``, i.e. an arbitrary but fixed frame per clip, in training and test alike; we
follow its stated intent, a random frame, and say so.)
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from mmtheory._validation import check_positive_int
from mmtheory.data.cremad import CremadCache
from mmtheory.seeding import derive_seed

def shard_rows(n: int, rank: int, world_size: int) -> slice:
    """Rows of a batch of ``n`` that ``rank`` of ``world_size`` keeps: contiguous, sizes differing by at most one.

    The same split as ``torch.tensor_split(torch.arange(n), world_size)[rank]`` and as
    ``mmtheory.train.distributed.ShardedBatches`` (data code never imports training code).
    """
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_frames(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)``, scaled to [0, 1] and ImageNet-normalised."""
    x = frames.permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def random_resized_crop(x: torch.Tensor, generator: torch.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                        flip: bool = True) -> torch.Tensor:
    """Batched RandomResizedCrop (+ horizontal flip) of ``(B, C, H, W)`` to the same size, by ``grid_sample``.

    Area fraction ~ U(scale), log aspect ratio ~ U(log ratio), clamped to fit the image (torchvision
    retries up to 10 times and then falls back to a centre crop; clamping is the batched equivalent).
    """
    b = x.shape[0]
    dev = x.device
    u = torch.rand(b, 5, generator=generator, device=generator.device).to(dev)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    logr = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    r = torch.exp(logr)
    w = torch.sqrt(area * r).clamp(max=1.0)  # fraction of the width
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (u[:, 2] * 2 - 1) * (1 - w)  # centre in [-1, 1] keeping the crop inside
    cy = (u[:, 3] * 2 - 1) * (1 - h)
    sx = torch.where(flip & (u[:, 4] < 0.5), -w, w) if flip else w
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, cx, h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class CremadDataset(Dataset):
    """``Dataset`` over a prepared cache: item ``i`` -> ``({"audio": (257, 188), "visual": (3, 1, H, W)}, label)``.

    Parameters
    ----------
    cache : CremadCache or path
    indices : array of int
        Cache indices, e.g. ``cache.split("train")``.
    train : bool
        Random frame and RandomResizedCrop + flip (``True``), or the middle frame unchanged.
    seed : int
        Seed of the augmentation (item ``i`` of epoch ``e`` is reproducible through :meth:`set_epoch`).
    """

    def __init__(self, cache, indices, train: bool = False, seed: int = 0) -> None:
        self.cache = cache if isinstance(cache, CremadCache) else CremadCache(cache)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.train, self.seed, self.epoch = train, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        j = int(self.indices[i])
        g = torch.Generator().manual_seed(derive_seed(self.seed, "item", self.epoch, j))
        nf = int(self.cache.n_frames[j])
        k = int(torch.randint(nf, (1,), generator=g)) if self.train else nf // 2
        frame = torch.from_numpy(np.array(self.cache.frames[j, k]))[None]
        x = normalize_frames(frame)
        if self.train:
            x = random_resized_crop(x, g)
        audio = torch.from_numpy(np.array(self.cache.spec[j], dtype=np.float32))
        return {"audio": audio, "visual": x[0].unsqueeze(1)}, int(self.cache.labels[j])


class CremadBatches:
    """Whole mini-batches from the cache, moved to ``device`` and augmented there.

    Implements the ``epoch(e)`` protocol of :func:`mmtheory.train.late_fusion.fit`. Per batch there
    is one fancy-indexing read per array (no per-sample Python), one host-to-device copy of uint8
    frames and float16 spectrograms, and the augmentation on the device. ``preload=True`` copies the
    split to the device once (about 0.5 MB per clip at 224 px) so that batches never touch the host.

    :meth:`shard` gives one rank of a data-parallel run (``torchrun``) its part of every global
    batch: the same order and frame choice as one process, only its own rows read from the cache.
    """

    _shard: tuple[int, int] = (0, 1)  # (rank, world size)

    def __init__(self, cache, indices, batch_size: int = 64, train: bool = False, seed: int = 0,
                 device: torch.device | str = "cpu", preload: bool = False) -> None:
        self.cache = cache if isinstance(cache, CremadCache) else CremadCache(cache)
        self.indices = np.sort(np.asarray(indices, dtype=np.int64))
        batch_size = check_positive_int("batch_size", batch_size)
        self.batch_size, self.train, self.seed = batch_size, train, seed
        self.device = torch.device(device)
        self.preload = preload
        if preload:
            self._spec = torch.from_numpy(np.asarray(self.cache.spec[self.indices])).to(self.device)
            self._frames = torch.from_numpy(np.asarray(self.cache.frames[self.indices])).to(self.device)
        self._nf = torch.from_numpy(self.cache.n_frames[self.indices].astype(np.int64))
        self._y = torch.from_numpy(self.cache.labels[self.indices]).to(self.device)

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def _gather(self, pos: np.ndarray, k: np.ndarray):
        """Spectrograms ``(B, 257, 188)`` and the chosen frame ``(B, H, W, 3)`` of batch positions ``pos``."""
        if self.preload:
            p = torch.from_numpy(pos).to(self.device)
            return self._spec[p], self._frames[p, torch.from_numpy(k).to(self.device)]
        idx = self.indices[pos]
        order = np.argsort(idx)  # read the memory map in file order, then restore the batch order
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        spec = torch.from_numpy(np.asarray(self.cache.spec[idx[order]])[inv])
        frames = torch.from_numpy(np.asarray(self.cache.frames[idx[order], k[order]])[inv])  # only the chosen frame
        pin = self.device.type == "cuda"
        if pin:
            spec, frames = spec.pin_memory(), frames.pin_memory()
        return spec.to(self.device, non_blocking=pin), frames.to(self.device, non_blocking=pin)

    def shard(self, rank: int, world_size: int) -> "CremadBatches":
        """This rank's view: each global batch's rows ``shard_rows(B, rank, world_size)`` (contiguous).

        Order and frame choice are those of the single-process run; the crops of a shard are drawn
        from the rank's own device stream.
        """
        if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
            raise ValueError(f"need 0 <= rank < world_size; got rank={rank!r}, world_size={world_size!r}.")
        view = copy.copy(self)
        view._shard = (int(rank), int(world_size))
        return view

    def epoch(self, epoch: int):
        n = len(self.indices)
        rank, world = self._shard
        g = torch.Generator().manual_seed(derive_seed(self.seed, "batches-host", epoch))  # order, frame choice
        dev_key = ("batches-device", epoch) if world == 1 else ("batches-device", epoch, "rank", rank)
        g_dev = torch.Generator(device=self.device).manual_seed(derive_seed(self.seed, *dev_key))  # crops
        order = torch.randperm(n, generator=g).numpy() if self.train else np.arange(n)
        for i in range(0, n, self.batch_size):
            pos = order[i:i + self.batch_size]
            nf = self._nf[torch.from_numpy(pos)]
            if self.train:
                k = torch.minimum((torch.rand(len(pos), generator=g) * nf).long(), nf - 1)
            else:
                k = nf // 2
            if world > 1:  # the same draws as one process, then only this rank's rows
                rows = shard_rows(len(pos), rank, world)
                pos, k = pos[rows], k[rows]
            spec, frame = self._gather(pos, k.numpy())
            x = normalize_frames(frame)
            if self.train:
                x = random_resized_crop(x, g_dev)
            p = torch.from_numpy(pos).to(self.device)
            yield {"audio": spec.float(), "visual": x.unsqueeze(2)}, self._y[p]
