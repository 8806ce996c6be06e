import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MMTHEORY_PROGRESS", "0")


@pytest.fixture
def results_tmp(tmp_path, monkeypatch):
    """A scratch results folder, also exported so the package resolves to it."""
    folder = tmp_path / "results"
    monkeypatch.setenv("MMTHEORY_RESULTS_DIR", str(folder))
    return folder
