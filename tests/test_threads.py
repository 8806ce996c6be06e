"""Results do not depend on the machine's core count: ``report.setup`` pins torch and every BLAS/OpenMP pool.

One short chapter is executed with 1 thread, then nbval re-executes that output with 2 threads and
compares every output it compares in CI (same sanitizers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "06_theorems"  # one of the fastest chapters (results/quick/timings.json), numpy/scipy and torch


def _env(threads: int, results: Path) -> dict:
    env = dict(os.environ)
    env.update({"MMTHEORY_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
                "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                "MMTHEORY_RESULTS_DIR": str(results), "MMTHEORY_PROGRESS": "0", "TQDM_DISABLE": "1"})
    return env


def test_setup_pins_torch_and_every_blas_pool():
    code = ("import numpy, torch\nfrom mmtheory import report\nfrom threadpoolctl import threadpool_info\n"
            "info = report.setup(0, threads=1)\n"
            "assert torch.get_num_threads() == 1, torch.get_num_threads()\n"
            "pools = threadpool_info()\n"
            "assert pools and all(p['num_threads'] == 1 for p in pools), pools\n"
            "assert {p['internal_api'] for p in pools} >= {'openblas', 'openmp'}, pools\n"
            "print('ok', len(pools))\n")
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
    env.pop("MMTHEORY_THREADS", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr[-2000:]


def test_setup_refuses_bad_thread_counts(monkeypatch):
    from mmtheory import report

    with pytest.raises(ValueError, match="threads must be a positive integer or None; got 0"):
        report.setup(0, threads=0)
    monkeypatch.setenv("MMTHEORY_THREADS", "two")
    with pytest.raises(ValueError, match=r"\$MMTHEORY_THREADS must be a positive integer; got 'two'"):
        report.setup(0)


def test_chapter_outputs_are_the_same_with_1_and_2_threads(tmp_path):
    papermill = pytest.importorskip("papermill")
    pytest.importorskip("nbval")
    notebook = ROOT / "notebooks" / f"{CHAPTER}.ipynb"
    one = tmp_path / f"{CHAPTER}.ipynb"
    saved = dict(os.environ)
    try:
        os.environ.update(_env(1, tmp_path / "results1"))
        papermill.execute_notebook(str(notebook), str(one), kernel_name="python3", cwd=str(notebook.parent),
                                   progress_bar=False, log_output=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # nbval re-executes the 1-thread output with 2 threads and compares, as CI compares the committed pages
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(one), "--nbval", "--nbval-sanitize-with",
         str(ROOT / "tests" / "nbval_sanitize.cfg"), "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path),
         "--nbval-current-env"],
        capture_output=True, text=True, env=_env(2, tmp_path / "results2"), cwd=notebook.parent)
    assert proc.returncode == 0, f"nbval found different outputs with 2 threads:\n{proc.stdout[-6000:]}"
