"""Build the HTML book from the committed notebooks (no execution) and check what a reader sees."""

import re
from pathlib import Path

from mmtheory.book import rerun_box
from mmtheory.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[1]


def test_book_builds_without_warnings(built_book):
    html, out = built_book
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert (html / "index.html").exists()
    overlap = (html / "notebooks" / "02_synthetic_overlap.html").read_text()
    assert "ours: trained" in overlap and "301.92" in overlap  # the table with the paper's numbers
    assert "[H21-syn-values] HOLDS" in overlap  # the claim status
    assert "produced with the &#39;quick&#39; profile" in overlap or "produced with the 'quick' profile" in overlap
    assert "<img" in overlap  # the heatmap
    card = (html / "notebooks" / "99_scorecard.html").read_text()
    assert "H21-prop1-finite" in card and "not yet run" in card
    assert "Huang" in (html / "book" / "references.html").read_text()


def test_every_chapter_has_a_rerun_box_generated_from_the_profiles(built_book):
    html, out = built_book
    assert out.returncode == 0
    for chapter, prof in PROFILES.items():
        page = (html / "notebooks" / f"{chapter}.html").read_text()
        text = re.sub(r"<[^>]+>", "", page)
        assert "Re-run this chapter" in text, chapter
        assert f"notebooks/{chapter}.ipynb out.ipynb -p profile full" in text, chapter
        for name in prof["quick"]:
            assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span></code>" in page, (chapter, name)
    box = rerun_box("08_ogm_imbalance", {"quick": {"08_ogm_imbalance": {"seconds": 35.2, "machine": "a 2-core CPU"}}})
    assert "quick 35 s on a 2-core CPU" in box and "full on a GPU not measured yet" in box


def test_math_is_served_locally(built_book):
    html, out = built_book
    assert out.returncode == 0
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()
    for page in html.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script[^>]+src=\"https?://", text), f"{page} loads a script from the network"
