"""Benchmark: a heterogeneous modality sweep, batched vs a per-run loop vs the FLOP floor.

The grid a user would run: six modalities of very different widths (6 to 300 features), four modality
sets of different sizes (1, 2, 4 and 6 modalities), four data fractions, three seeds, the paper's model
(one linear encoder per modality, hidden 128, concatenation, linear head; Adam, batch 2048) and 200
epochs. Data: a generated classification problem (numpy, no download, no data package imported).

* **batched**: one ``modality_sweep`` call for the whole grid (one batched model per fraction, each
  modality's encoder evaluated only for the runs that use it);
* **loop**: ``modality_sweep`` called once per (set, fraction, seed), i.e. one run at a time;
* **floor**: the matrix-product FLOPs the grid needs, divided by this device's measured float32 matmul
  rate (a square ``n x n`` product, best of 3). Per run, per minibatch of B rows and per modality k
  of width d_k in the run's set: encoder forward ``2 B d_k h`` and weight gradient ``2 B d_k h`` (the
  inputs need no gradient), head block forward ``2 B h C`` and its two gradients ``4 B h C``; plus the
  two evaluation passes (training subsample and test set, forward only). Element-wise work (bias,
  loss, Adam, gathers) is not counted, so the floor is a lower bound no code reaches.

Prints the figures and a ready-to-paste row for ``benchmarks/RESULTS.md``. Needs only numpy, pandas,
torch and tqdm (``PYTHONPATH=.``)::

    .venv/bin/python benchmarks/modality_sweep.py [--device cpu|cuda] [--epochs 200] [--seeds 3]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from itertools import product

os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm reads it at import

import numpy as np
import torch

from mmtheory.experiments.modality_sweep import probe_split, modality_sweep, subsample_sizes

WIDTHS = {"m1": 6, "m2": 16, "m3": 40, "m4": 90, "m5": 180, "m6": 300}
SETS = [("m5",), ("m1", "m6"), ("m1", "m2", "m3", "m4"), tuple(WIDTHS)]
RATIOS = (0.001, 0.01, 0.1, 1.0)


def make_data(n: int, n_classes: int = 4, seed: int = 0):
    """Views (n, d_k) whose class signal is spread over every modality, labels, and a 5:1 train/test mask."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    views = {}
    for m, d in WIDTHS.items():
        means = rng.standard_normal((n_classes, d)) * (0.6 / math.sqrt(d) ** 0.5)
        views[m] = (means[y] + rng.standard_normal((n, d))).astype(np.float32)
    return views, y, np.arange(n) < (5 * n) // 6


def grid_flops(n_train: int, n_test: int, *, hidden: int, n_classes: int, epochs: int, batch: int, seeds: int) -> float:
    """Matrix-product FLOPs of the whole grid (see the module docstring)."""
    total = 0.0
    for ratio, n_sub in subsample_sizes(n_train, RATIOS).items():
        batches = [min(batch, n_sub - s) for s in range(0, n_sub, batch)]
        for subset in SETS:
            width = sum(WIDTHS[m] for m in subset)
            per_row_train = 4 * width * hidden + 6 * len(subset) * hidden * n_classes
            per_row_eval = 2 * width * hidden + 2 * len(subset) * hidden * n_classes
            total += seeds * (epochs * sum(batches) * per_row_train + (n_sub + n_test) * per_row_eval)
    return total


def matmul_rate(device: torch.device, n: int = 2048, clock=time.perf_counter) -> float:
    """Measured float32 FLOP/s of one square ``n x n`` matmul on ``device`` (best of 3; ``clock``: wall or CPU)."""
    a = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ a
    sync()
    best = math.inf
    for _ in range(3):
        t0 = clock()
        a @ a
        sync()
        best = min(best, clock() - t0)
    return 2 * n ** 3 / best


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6000, help="rows (5/6 training pool, 1/6 test)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-loop", action="store_true", help="time only the batched sweep and the floor")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch sees no GPU; use --device cpu.")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    views, y, train = make_data(args.n)
    seeds = list(range(args.seeds))
    n_classes = int(y.max()) + 1
    kw = dict(train_mask=train, hidden=args.hidden, epochs=args.epochs, batch_size=2048, refit_epochs=0, device=dev)
    modality_sweep(views, y, SETS[:1], [1.0], [0], **dict(kw, epochs=2))  # warm-up (allocator, kernels)
    sync()

    t0, c0 = time.perf_counter(), time.process_time()
    batched_res = modality_sweep(views, y, SETS, RATIOS, seeds, **kw)
    sync()
    t_batched, c_batched = time.perf_counter() - t0, time.process_time() - c0
    t_loop = c_loop = math.nan
    if not args.skip_loop:
        t0, c0 = time.perf_counter(), time.process_time()
        for subset, ratio, seed in product(SETS, RATIOS, seeds):
            modality_sweep(views, y, [subset], [ratio], [seed], **kw)
        sync()
        t_loop, c_loop = time.perf_counter() - t0, time.process_time() - c0

    n_train = len(probe_split(int(train.sum()), 0.2)[0])  # modality_sweep's default probe is held out
    flops = grid_flops(n_train, int((~train).sum()), hidden=args.hidden, n_classes=n_classes, epochs=args.epochs,
                       batch=2048, seeds=args.seeds)
    rate = matmul_rate(dev)
    floor = flops / rate
    cpu_rate = matmul_rate(dev, clock=time.process_time) if dev.type == "cpu" else math.nan
    cpu_floor = flops / cpu_rate  # CPU-seconds: robust to other processes sharing the cores
    runs = len(SETS) * len(RATIOS) * len(seeds)
    name = device_name(dev)
    load = f"; load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(f"device: {name}{load}")
    print(f"grid: {runs} runs = {len(SETS)} sets (sizes {[len(s) for s in SETS]}) x fractions {list(RATIOS)} x "
          f"{args.seeds} seeds; widths {list(WIDTHS.values())}; n_train {n_train}; hidden {args.hidden}; "
          f"{args.epochs} epochs; mean test accuracy {batched_res['test_acc'].mean():.1f} %")
    print(f"batched: {t_batched:.1f} s   loop: {t_loop:.1f} s   speed-up (loop / batched): {t_loop / t_batched:.2f}x")
    print(f"floor: {flops / 1e9:.0f} GFLOP at {rate / 1e9:.0f} GFLOP/s (measured square matmul) = {floor:.2f} s; "
          f"batched / floor: {t_batched / floor:.1f}x")
    if dev.type == "cpu":
        print(f"CPU time (all threads of this process; robust to a shared machine): batched {c_batched:.1f} s, "
              f"loop {c_loop:.1f} s, ratio {c_loop / c_batched:.2f}x; floor {cpu_floor:.2f} CPU-s "
              f"({cpu_rate / 1e9:.0f} GFLOP per CPU-second); batched / floor {c_batched / cpu_floor:.1f}x")
    given = " ".join(sys.argv[1:] if argv is None else argv)
    if "--device" not in given:
        given = f"--device {dev.type} {given}".strip()
    cmd = f"`PYTHONPATH=. python benchmarks/modality_sweep.py {given}`"
    print("\nrow for benchmarks/RESULTS.md:")
    print(f"| {datetime.date.today()} | {name} | {cmd} | {t_batched:.1f} s | {t_loop:.1f} s | "
          f"{t_loop / t_batched:.2f}x | {floor:.2f} s ({flops / 1e9:.0f} GFLOP at {rate / 1e9:.0f} GFLOP/s) | "
          f"{t_batched / floor:.1f}x |")
    if dev.type == "cpu":
        print(f"| {datetime.date.today()} | {name}, CPU time{load} | {cmd} | {c_batched:.1f} CPU-s | {c_loop:.1f} CPU-s | "
              f"{c_loop / c_batched:.2f}x | {cpu_floor:.2f} CPU-s ({cpu_rate / 1e9:.0f} GFLOP per CPU-s) | "
              f"{c_batched / cpu_floor:.1f}x |")


if __name__ == "__main__":
    main()
