"""What pinning the CPU dispatch costs: chapters executed with the pinned dispatch and with every library
on its native path for this CPU, CPU time of each, and the largest difference between their outputs.

    python benchmarks/dispatch.py [--chapters 08_ogm_imbalance 10_two_lenses] [--out DIR]

Each chapter runs with papermill in a fresh kernel, once per mode, one after the other (1 thread, as the
book runs); the CPU time is that of the child processes (papermill and its kernel). Outputs are compared
with ``scripts/compare_runs.py``'s rule (``mmtheory.tolerance``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from mmtheory import _dispatch  # noqa: E402
from compare_runs import compare  # noqa: E402


def _env(mode: str, results: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _dispatch.PINNED and k != _dispatch.NATIVE_ENV}
    if mode == "native":
        env[_dispatch.NATIVE_ENV] = "1"
    else:
        env.update(_dispatch.PINNED)
    env.update(MMTHEORY_RESULTS_DIR=str(results), TQDM_DISABLE="1")
    return env


def run(chapter: str, mode: str, out: Path) -> tuple[float, float, Path]:
    nb_out = out / f"{chapter}-{mode}.ipynb"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", "-k", "python3",
                    str(ROOT / "notebooks" / f"{chapter}.ipynb"), str(nb_out)],
                   env=_env(mode, out / f"results-{mode}"), check=True, capture_output=True, cwd=ROOT / "notebooks")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, nb_out


_MATMUL = """
import time, torch
torch.set_num_threads(1)
a = torch.randn(512, 512); b = torch.randn(512, 512)
for _ in range(3): a @ b
t0 = time.process_time(); n = 0
while time.process_time() - t0 < 1.0:
    a @ b; n += 1
print(2 * 512**3 * n / (time.process_time() - t0) / 1e9)
"""


def matmul_rate(mode: str, out: Path) -> float:
    """GFLOP/s of a 512 x 512 float32 matrix product on 1 thread under ``mode``."""
    proc = subprocess.run([sys.executable, "-c", "import mmtheory\n" + _MATMUL], env=_env(mode, out), check=True,
                          capture_output=True, text=True)
    return float(proc.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="+", default=["08_ogm_imbalance", "10_two_lenses"])
    parser.add_argument("--out", default=None, help="folder for the executed notebooks (default: a temporary one)")
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="dispatch-"))
    out.mkdir(parents=True, exist_ok=True)
    rates = {m: matmul_rate(m, out) for m in ("pinned", "native")}
    print(f"512^3 float32 matmul, 1 thread: pinned {rates['pinned']:.1f} GFLOP/s, native {rates['native']:.1f} "
          f"GFLOP/s ({rates['native'] / rates['pinned']:.2f}x)\n")
    print("| chapter | pinned CPU s | native CPU s | pinned / native | outputs beyond tolerance | largest relative difference |")
    print("|---|---|---|---|---|---|")
    for chapter in args.chapters:
        cp, _, a = run(chapter, "pinned", out)
        cn, _, b = run(chapter, "native", out)
        bad, worst, where = compare(str(a), str(b))
        print(f"| {chapter} | {cp:.1f} | {cn:.1f} | {cp / cn:.2f} | {bad} | {worst:.2g} ({where or 'none'}) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
