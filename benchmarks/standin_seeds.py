"""Benchmark: the OGM-GE stand-in's seeds x methods trained as one batched model vs the per-run loop vs the FLOP floor.

The chapters' stand-in experiment (:func:`mmtheory.experiments.ogm.run_standin`, quick settings of
chapter 08: 400 training rows per seed, 3000 test rows, 60 epochs, batch 64, MLP encoders 32 -> 64 -> 32,
concatenation, SGD) with 10 seeds x 5 methods (baseline, OGM, OGM-GE, audio-only, visual-only): 50 runs.

* **batched**: ``run_standin(compute="batched")``, every run in one :class:`~mmtheory.train.batched_ogm.BatchedStandin`;
* **loop**: ``run_standin(compute="loop")``, one :func:`~mmtheory.train.late_fusion.fit` per run (the reference);
  both fit the 80 linear probes in one batched Newton solve (:func:`~mmtheory.experiments.ogm.linear_probes`);
* **loop + L-BFGS probes**: the code before the batched trainer: the loop, and one L-BFGS
  :func:`~mmtheory.experiments.ogm.linear_probe` per (run, modality), timed on the same features;
* **floor**: the matrix-product FLOPs of training and evaluation (per run and row: each encoder layer's
  forward, weight gradient and, for the second layer, input gradient; the head's forward and two
  gradients; the branch logits OGM scores; each epoch's test pass with branch logits; the probes'
  feature extraction; the probe solves are not counted), divided by the measured float32 rate of a
  square 2048 x 2048 matmul on this CPU in the same run.

Times are CPU time of this process (``time.process_time``) with one torch thread, which other processes
sharing the machine do not inflate. Prints a ready-to-paste row for ``benchmarks/RESULTS.md``::

    PYTHONPATH=. .venv/bin/python benchmarks/standin_seeds.py [--seeds 10] [--epochs 60] [--threads 1]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm reads it at import

import torch

import mmtheory.experiments.ogm as ogm_exp
from mmtheory.experiments.ogm import linear_probe, run_standin

QUICK = dict(n_train=400, n_test=3000, epochs=60, lr=0.01, batch_size=64, alpha=0.8, modulation_end=30, hidden=64,
             features=32)


def standin_flops(n_seeds: int, *, n_train: int, n_test: int, epochs: int, hidden: int, features: int,
                  dims=(32, 32), n_classes: int = 6, methods: int = 3) -> float:
    """Matrix-product FLOPs of one ``run_standin`` call with concat fusion (see the module docstring)."""
    def encoder(d: int, train: bool) -> float:
        fwd = 2 * (d * hidden + hidden * features)
        return fwd + (fwd + 2 * hidden * features if train else 0)  # weight grads + layer-2 input grad

    joint_head_train = 3 * 2 * (2 * features) * n_classes + 2 * 2 * features * n_classes  # + branch logits
    joint_head_eval = 2 * (2 * features) * n_classes + 2 * 2 * features * n_classes
    uni_head_train, uni_head_eval = 3 * 2 * features * n_classes, 2 * features * n_classes
    per_seed = 0.0
    for _ in range(methods):  # joint runs
        per_seed += epochs * n_train * (sum(encoder(d, True) for d in dims) + joint_head_train)
        per_seed += epochs * n_test * (sum(encoder(d, False) for d in dims) + joint_head_eval)
        per_seed += (n_train + n_test) * sum(encoder(d, False) for d in dims)  # probe features
    for d in dims:  # unimodal runs
        per_seed += epochs * n_train * (encoder(d, True) + uni_head_train)
        per_seed += epochs * n_test * (encoder(d, False) + uni_head_eval)
        per_seed += (n_train + n_test) * encoder(d, False)
    return n_seeds * per_seed


def matmul_rate(n: int = 2048) -> float:
    """float32 FLOP per CPU-second of one square ``n x n`` matmul (best of 3)."""
    a = torch.randn(n, n)
    a @ a
    best = math.inf
    for _ in range(3):
        t0 = time.process_time()
        a @ a
        best = min(best, time.process_time() - t0)
    return 2 * n ** 3 / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=QUICK["epochs"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--skip-loop", action="store_true", help="time only the batched trainer and the floor")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    kw = dict(QUICK, epochs=args.epochs, modulation_end=args.epochs // 2, seeds=list(range(args.seeds)))
    run_standin(**dict(kw, seeds=[0], epochs=1, n_test=100))  # warm-up: torch's optimiser imports, allocator
    run_standin(**dict(kw, seeds=[0], epochs=1, n_test=100), compute="loop")

    probes, captured = ogm_exp.linear_probes, []

    def capture(*a, **k):
        t0 = time.process_time()
        out = probes(*a, **k)
        captured.append((a, time.process_time() - t0))
        return out

    ogm_exp.linear_probes = capture
    try:
        c0 = time.process_time()
        res = run_standin(compute="batched", **kw)
        c_batched = time.process_time() - c0
        c_loop = c_lbfgs = math.nan
        if not args.skip_loop:
            c0 = time.process_time()
            run_standin(compute="loop", **kw)
            c_loop = time.process_time() - c0
    finally:
        ogm_exp.linear_probes = probes
    probe_batched = captured[0][1]
    if not args.skip_loop:  # the old per-run L-BFGS probes, on the loop's features
        (z_tr, y_tr, z_te, y_te, n_classes), _ = captured[-1]
        c0 = time.process_time()
        for i in range(z_tr.shape[0]):
            linear_probe(z_tr[i], y_tr[i], z_te[i], y_te[i], n_classes)
        c_lbfgs = c_loop - captured[-1][1] + (time.process_time() - c0)
    flops = standin_flops(args.seeds, n_train=kw["n_train"], n_test=kw["n_test"], epochs=args.epochs,
                          hidden=kw["hidden"], features=kw["features"])
    rate = matmul_rate()
    floor = flops / rate
    runs = len(res.summary)
    load = f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    name = (f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} thread(s), "
            f"torch {torch.__version__}, CPU time; {load}")
    print(f"device: {name}")
    print(f"{runs} runs = {args.seeds} seeds x {runs // args.seeds} methods; quick stand-in settings, {args.epochs} epochs")
    print(f"batched: {c_batched:.1f} CPU-s (probes {probe_batched:.1f})   loop: {c_loop:.1f} CPU-s   "
          f"loop + L-BFGS probes (the code before): {c_lbfgs:.1f} CPU-s")
    print(f"speed-up: {c_loop / c_batched:.2f}x over the loop, {c_lbfgs / c_batched:.2f}x over the code before")
    print(f"floor: {flops / 1e9:.1f} GFLOP at {rate / 1e9:.0f} GFLOP per CPU-s = {floor:.2f} CPU-s; "
          f"batched / floor {c_batched / floor:.1f}x (training only: {(c_batched - probe_batched) / floor:.1f}x)")
    given = " ".join(sys.argv[1:] if argv is None else argv)
    cmd = f"`PYTHONPATH=. python benchmarks/standin_seeds.py {given}`".replace(" `", "`")
    print("\nrow for benchmarks/RESULTS.md:")
    print(f"| {datetime.date.today()} | {name} | {cmd} ({runs} runs) | {c_batched:.1f} CPU-s (probes "
          f"{probe_batched:.1f}) | {c_loop:.1f} CPU-s | {c_lbfgs:.1f} CPU-s | {c_loop / c_batched:.2f}x | "
          f"{c_lbfgs / c_batched:.2f}x | {floor:.2f} CPU-s ({flops / 1e9:.1f} GFLOP at {rate / 1e9:.0f} GFLOP per "
          f"CPU-s) | {c_batched / floor:.1f}x |")


if __name__ == "__main__":
    main()
