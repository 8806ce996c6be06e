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

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).parent / "jupyter-book"


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Run the book command's HTML step (``scripts/build_book.py --skip-execute``) into a temporary
    folder; return ``(html_dir, completed_process)``."""
    if not JB.exists():
        pytest.skip("jupyter-book is not installed in this environment")
    out = tmp_path_factory.mktemp("book")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--skip-execute", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    return out / "_build" / "html", proc


@pytest.fixture
def results_tmp(tmp_path, monkeypatch):
    """A scratch results folder, also exported so the package resolves to it."""
    folder = tmp_path / "results"
    monkeypatch.setenv("MMTHEORY_RESULTS_DIR", str(folder))
    return folder
