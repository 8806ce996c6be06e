"""Shared fixtures: a scratch results folder, and the HTML book built once per session from the committed notebooks."""

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm's own switch; tqdm reads it when first imported
os.environ.setdefault("MMTHEORY_PROGRESS", "0")  # still read by mmtheory.data.cremad's own bar

import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")

if os.environ.get("PYTEST_XDIST_WORKER"):  # share the cores between the workers instead of oversubscribing
    import torch  # noqa: E402

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).parent / "jupyter-book"


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Run the book command's HTML step (``scripts/build_book.py --skip-execute``) into a temporary
    folder; return ``(html_dir, completed_process)``. Under pytest-xdist the workers share one build
    (the first to ask builds it under a file lock, the others reuse it)."""
    if not JB.exists():
        pytest.skip("jupyter-book is not installed in this environment")
    import json

    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the folder every worker's base temp lives in
    out, done = shared / "book", shared / "book.json"
    with FileLock(str(shared / "book.lock")):
        if done.exists():
            rec = json.loads(done.read_text())
            proc = subprocess.CompletedProcess(rec["args"], rec["returncode"], rec["stdout"], rec["stderr"])
        else:
            out.mkdir(exist_ok=True)
            proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--skip-execute", "--out",
                                   str(out)], capture_output=True, text=True, cwd=ROOT)
            done.write_text(json.dumps({"args": proc.args, "returncode": proc.returncode, "stdout": proc.stdout,
                                        "stderr": proc.stderr}))
    return out / "_build" / "html", proc


@pytest.fixture
def results_tmp(tmp_path, monkeypatch):
    """A scratch results folder, also exported so the package resolves to it."""
    folder = tmp_path / "results"
    monkeypatch.setenv("MMTHEORY_RESULTS_DIR", str(folder))
    return folder


@pytest.fixture
def one_thread():
    """Tiny batched models train much faster on one thread (and the chapter pins one too)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
