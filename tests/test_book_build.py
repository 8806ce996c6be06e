"""Build the HTML book from the committed notebooks (no execution) and check what a reader sees."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).parent / "jupyter-book"


@pytest.mark.skipif(not JB.exists(), reason="jupyter-book is not installed in this environment")
def test_book_builds_without_warnings(tmp_path):
    src = tmp_path / "book_src"
    src.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("book", "notebooks"):
        shutil.copytree(ROOT / folder, src / folder)
    out = subprocess.run([str(JB), "build", str(src), "--builder", "html", "-W", "--keep-going"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    html = src / "_build" / "html"
    assert (html / "index.html").exists()
    overlap = (html / "notebooks" / "02_synthetic_overlap.html").read_text()
    assert "ours: trained" in overlap and "301.92" in overlap  # the table with the paper's numbers
    assert "[H21-syn-values] HOLDS" in overlap  # the claim status
    assert "produced with the &#39;quick&#39; profile" in overlap or "produced with the 'quick' profile" in overlap
    assert "<img" in overlap  # the heatmap
    card = (html / "notebooks" / "99_scorecard.html").read_text()
    assert "H21-prop1-finite" in card and "not yet run" in card
    assert "Huang" in (html / "book" / "references.html").read_text()
