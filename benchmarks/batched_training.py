"""Benchmark: R independent late-fusion models trained as one batched model vs one after another.

Same data, same model sizes, same number of epochs and minibatches, same device; prints seconds and the
speed-up ratio, and appends nothing anywhere (copy the printed line into benchmarks/RESULTS.md).

    .venv/bin/python benchmarks/batched_training.py [--runs 20] [--epochs 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm's own switch, read when tqdm is imported

import torch

from mmtheory.experiments.synthetic import nested_sets
from mmtheory.models.fusion import BatchedLateFusion
from mmtheory.train.batched import fit_batched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="independent models (multiple of 4 modality sets)")
    parser.add_argument("--n", type=int, default=2000, help="training samples")
    parser.add_argument("--dim", type=int, default=100, help="features per modality (4 modalities)")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--outputs", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    names = ("m1", "m2", "m3", "m4")
    views = [torch.randn(args.n, args.dim, generator=g).to(dev) for _ in names]
    y = torch.randn(args.n, args.outputs, generator=g).to(dev)
    subsets = (nested_sets(4) * (args.runs // 4 + 1))[: args.runs]
    dims = {m: args.dim for m in names}
    kw = dict(loss="mse", epochs=args.epochs, lr=0.01, batch_size=args.batch_size, seed=0)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    # Warm-up outside the timings: the first optimiser built in a process imports torch's compiler stack (~2 s).
    fit_batched(BatchedLateFusion(dims, args.hidden, args.outputs, subsets[:1], seed=0).to(dev), views, y,
                **dict(kw, epochs=1))
    net = BatchedLateFusion(dims, args.hidden, args.outputs, subsets, seed=0).to(dev)
    sync()
    t0 = time.perf_counter()
    fit_batched(net, views, y, **kw)
    sync()
    batched = time.perf_counter() - t0

    t0 = time.perf_counter()
    for subset in subsets:
        single = BatchedLateFusion(dims, args.hidden, args.outputs, [subset], seed=0).to(dev)
        fit_batched(single, views, y, **kw)
    sync()
    loop = time.perf_counter() - t0
    device = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{platform.processor() or 'CPU'}, {torch.get_num_threads()} threads"
    print(f"device: {device}; torch {torch.__version__}")
    print(f"{args.runs} runs, n={args.n}, 4x{args.dim} features, hidden {args.hidden}, {args.outputs} outputs, "
          f"{args.epochs} epochs, batch {args.batch_size}")
    print(f"batched: {batched:.2f} s   loop: {loop:.2f} s   speed-up (loop / batched): {loop / batched:.2f}x")


if __name__ == "__main__":
    main()
