"""OGM-GE training throughput: our step vs a plain fp32 NCHW step of the same model, in one run.

* ``step``: samples/s of one training step of the CREMA-D model (two ResNet-18s, concat fusion,
  OGM-GE between backward and step). Ours: bf16 autocast + channels-last (what ``fit`` uses on
  CUDA); plain: fp32, NCHW, same model, same batch. The ratio is the speed-up.
* ``loader``: clips/s of reading training batches from a CREMA-D cache (generated here, in the real
  format): our ``CremadBatches`` (one gather per batch, augmentation on the device) vs a
  ``DataLoader`` over ``CremadDataset`` (per-sample reads and augmentation), same batch size.

Usage::

    python benchmarks/ogm_train_step.py step --device cuda --batch 64 --size 224
    python benchmarks/ogm_train_step.py loader --clips 256 --size 224
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F


def _step_fn(model, ogm, opt, audio, visual, y, amp: bool, device):
    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            feats, logits = model({"audio": audio, "visual": visual})
            loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        ogm.apply(model.branch_logits({k: v.detach() for k, v in feats.items()}), y, 0)
        opt.step()
    return step


def _time(step, device, iters: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / iters


def bench_step(args) -> None:
    from mmtheory.models import audio_visual_resnet18
    from mmtheory.train.ogm import OGMGE

    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    b = args.batch
    audio = torch.randn(b, 1, 257, 188, device=device)
    visual = torch.randn(b, 3, 1, args.size, args.size, device=device)
    y = torch.randint(0, 6, (b,), device=device)
    results = {}
    for name, amp, cl in (("plain fp32 NCHW", False, False), ("ours: bf16 autocast + channels-last", True, True)):
        torch.manual_seed(0)
        model = audio_visual_resnet18(6, "concat").to(device)
        a, v = audio, visual
        if cl:
            model = model.to(memory_format=torch.channels_last)
            a = audio.contiguous(memory_format=torch.channels_last)
            v = visual.contiguous(memory_format=torch.channels_last_3d)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
        ogm = OGMGE(model.encoders, alpha=0.8, log=False)
        sec = _time(_step_fn(model, ogm, opt, a, v, y, amp, device), device, args.iters)
        results[name] = b / sec
        print(f"{name:38s} {b / sec:9.1f} samples/s  ({1000 * sec:.1f} ms per step of {b})")
    plain, ours = results.values()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"speed-up {ours / plain:.2f}x on {name}, batch {b}, frames {args.size}px, torch {torch.__version__}")


def bench_loader(args) -> None:
    from torch.utils.data import DataLoader

    from mmtheory.data import cremad
    from mmtheory.data.torchdata import CremadBatches, CremadDataset

    tmp = Path(tempfile.mkdtemp(prefix="cremad-bench-"))
    names = [f"{1001 + i % 91}_DFA_{cremad.EMOTIONS[i % 6]}_{'X' * (2 + i // 546)}"[:15] for i in range(args.clips)]
    names = sorted(set(names))
    # the cache layout without decoding real videos: random spectrograms and frames in the real format
    n = len(names)
    cache = tmp / "cache"
    cache.mkdir()
    rng = np.random.default_rng(0)
    np.save(cache / "spec.npy", rng.standard_normal((n, *cremad.SPEC_SHAPE)).astype(np.float16))
    np.save(cache / "frames.npy", rng.integers(0, 255, (n, 3, args.size, args.size, 3), dtype=np.uint8))
    np.save(cache / "n_frames.npy", np.full(n, 3, np.int16))
    np.save(cache / "status.npy", np.ones(n, np.int8))
    from mmtheory._io import atomic_write_json

    atomic_write_json(cache / "config.json", {"format": "mmtheory-cremad-cache/1", "size": args.size, "max_frames": 3,
                                               "clips": names})
    atomic_write_json(cache / "manifest.json", {"n_ok": n})
    c = cremad.CremadCache(cache)
    idx = np.arange(n)
    device = torch.device("cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu")

    def ours():
        for x, y in CremadBatches(c, idx, args.batch, train=True, device=device).epoch(0):
            pass

    def plain():
        for x, y in DataLoader(CremadDataset(c, idx, train=True), batch_size=args.batch, shuffle=True, num_workers=0):
            x = {k: v.to(device) for k, v in x.items()}

    for f in (ours, plain):  # warm the page cache and the first-call overheads
        f()
    res = {}
    for name, f in (("plain DataLoader over CremadDataset", plain), ("ours: CremadBatches", ours)):
        t = time.perf_counter()
        for _ in range(args.iters):
            f()
        sec = (time.perf_counter() - t) / args.iters
        res[name] = n / sec
        print(f"{name:38s} {n / sec:9.1f} clips/s")
    p, o = res.values()
    print(f"speed-up {o / p:.2f}x ({n} clips, {args.size}px frames, batch {args.batch}, device {device})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["step", "loader"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--clips", type=int, default=256)
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    (bench_step if args.what == "step" else bench_loader)(args)


if __name__ == "__main__":
    main()
