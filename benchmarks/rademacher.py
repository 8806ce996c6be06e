"""Benchmark: the batched Rademacher estimator vs a plain loop over sigma draws, and its FLOP/s ceiling.

Same sample and the same sign draws on both sides. The batched estimator is one (draws, m) @ (m, d)
product (signs drawn by torch on the device, in chunks, norms fused); the loop computes one sigma @ x
per draw. "Its matmul alone" is the same (draws, m) @ (m, d) product with signs drawn beforehand: the
estimator's target is at least 80 % of that FLOP/s. The ceiling is a plain square matmul of the same
FLOP count on the same device. Prints a ready-to-paste row for ``benchmarks/RESULTS.md``; needs only
numpy and torch (``PYTHONPATH=.``)::

    .venv/bin/python benchmarks/rademacher.py [--m 2000] [--d 500] [--draws 2000] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np
import torch

from mmtheory.theory.rademacher import linear_rademacher, rademacher_signs


CLOCK = time.perf_counter


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m", type=int, default=2000)
    parser.add_argument("--d", type=int, default=500)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: this process's CPU time (CPU only; robust when other processes share the cores)")
    args = parser.parse_args()
    global CLOCK
    if args.clock == "cpu":
        if args.device.startswith("cuda"):
            sys.exit("error: --clock cpu measures host CPU time; use the default wall clock with --device cuda.")
        CLOCK = time.process_time
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch sees no GPU; use --device cpu.")
    x = torch.as_tensor(np.random.default_rng(0).standard_normal((args.m, args.d)), dtype=torch.float32, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def batched():
        linear_rademacher(x, n_draws=args.draws, seed=0)
        sync()

    sigma = rademacher_signs(args.draws, args.m, seed=0, like=x)

    def loop():
        sups = [torch.linalg.vector_norm(sigma[j] @ x) / args.m for j in range(args.draws)]
        float(torch.stack(sups).mean())
        sync()

    def matmul_only():
        sigma @ x
        sync()

    batched(), loop(), matmul_only()  # warm-up
    t_batched, t_loop, t_mm = best_of(batched, 5), best_of(loop), best_of(matmul_only, 5)
    flops = 2.0 * args.draws * args.m * args.d
    n = int(round(flops / 2) ** (1 / 3))
    a = torch.randn(n, n, device=dev)

    def ceiling():
        a @ a
        sync()

    ceiling()
    t_ceiling = best_of(ceiling)
    device = (f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}" if dev.type == "cuda" else
              f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads, torch {torch.__version__}")
    load = f"; load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    device += ", CPU time" if args.clock == "cpu" else ""
    print(f"device: {device}{load}; m={args.m}, d={args.d}, draws={args.draws}, float32")
    print(f"batched estimator: {t_batched * 1e3:.1f} ms   per-draw loop: {t_loop * 1e3:.1f} ms   "
          f"speed-up (loop / batched): {t_loop / t_batched:.1f}x")
    print(f"estimator: {flops / t_batched / 1e9:.1f} GFLOP/s (its matmul alone: {flops / t_mm / 1e9:.1f} GFLOP/s); "
          f"plain {n}x{n} matmul ceiling: {2 * n ** 3 / t_ceiling / 1e9:.1f} GFLOP/s")
    print(f"estimator / its matmul alone: {100 * t_mm / t_batched:.0f} % (target >= 80 %)")
    print("\nrow for benchmarks/RESULTS.md:")
    print(f"| {datetime.date.today()} | {device}, float32 | `PYTHONPATH=. python benchmarks/rademacher.py --device {dev.type}"
          f"{' --threads %d' % args.threads if args.threads else ''}{' --clock cpu' if args.clock == 'cpu' else ''}` (m={args.m}, d={args.d}, {args.draws} draws) | {t_batched * 1e3:.1f} ms | {t_loop * 1e3:.1f} ms | "
          f"{t_loop / t_batched:.1f}x | {flops / t_batched / 1e9:.1f} | {flops / t_mm / 1e9:.1f} | "
          f"{100 * t_mm / t_batched:.0f} % | {2 * n ** 3 / t_ceiling / 1e9:.1f} |")


if __name__ == "__main__":
    main()
