"""Benchmark: the paper's IEMOCAP grid (4 sets x 5 fractions x seeds) batched in one model vs one run at a time.

Same data (the IEMOCAP-shaped stand-in), same model, epochs and minibatch size. The loop calls
``modality_sweep`` once per (set, fraction, seed), which trains that run alone.

    .venv/bin/python benchmarks/modality_sweep.py [--epochs 20] [--seeds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from itertools import product

import torch

from mmtheory.data.iemocap import PAPER_SETS, standin
from mmtheory.experiments.modality_sweep import modality_sweep
from mmtheory.papers import HUANG_IEMOCAP_RATIOS


def main() -> None:
    os.environ.setdefault("MMTHEORY_PROGRESS", "0")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    data = standin(0)
    sets, seeds = list(PAPER_SETS.values()), list(range(args.seeds))
    kw = dict(train_mask=data.split == "train", epochs=args.epochs, refit_epochs=0, device=args.device)
    modality_sweep(data.views, data.labels, sets[:1], [1.0], [0], **dict(kw, epochs=1))  # warm-up

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    modality_sweep(data.views, data.labels, sets, HUANG_IEMOCAP_RATIOS, seeds, **kw)
    sync()
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s, r, seed in product(sets, HUANG_IEMOCAP_RATIOS, seeds):
        modality_sweep(data.views, data.labels, [s], [r], [seed], **kw)
    sync()
    loop = time.perf_counter() - t0
    runs = len(sets) * len(HUANG_IEMOCAP_RATIOS) * len(seeds)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{platform.processor() or 'CPU'}, {torch.get_num_threads()} threads"
    print(f"device: {device}; torch {torch.__version__}; {runs} runs, {args.epochs} epochs, stand-in data")
    print(f"batched: {batched:.1f} s   loop: {loop:.1f} s   speed-up (loop / batched): {loop / batched:.2f}x")


if __name__ == "__main__":
    main()
