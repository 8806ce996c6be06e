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
    assert "ours: closed form" in overlap and "301.92" in overlap  # the table with the paper's numbers
    # the claim and its status, in the claims panel under the title
    assert re.search(r"H21-syn-values</b></td><td[^>]*>holds<", overlap), "no 'holds' for H21-syn-values in the panel"
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
        assert f"notebooks/{chapter}.ipynb _runs/{chapter}.ipynb -p profile full" in text, chapter
        for name in prof["quick"]:
            assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span></code>" in page, (chapter, name)
    box = rerun_box("08_ogm_imbalance", {"quick": {"08_ogm_imbalance": {"seconds": 35.2, "machine": "a 2-core CPU"}}})
    assert "quick 35 s on a 2-core CPU" in box and "full on a GPU not measured yet" in box


def test_every_chapter_is_published_under_both_profiles(built_book):
    """Issue 19: the full profile of every chapter is executed, committed and published beside the quick one."""
    html, out = built_book
    assert out.returncode == 0
    executed = sorted(p.stem for p in (ROOT / "results" / "full" / "notebooks").glob("*.ipynb"))
    assert executed == sorted(PROFILES)  # every chapter with settings (09 runs its stand-in part without CREMA-D)
    for chapter in PROFILES:
        page = (html / "notebooks" / f"{chapter}-full.html").read_text()
        text = re.sub(r"<[^>]+>", "", page)
        assert "full profile" in text and "produced with the 'full' profile" in text.replace("&#39;", "'"), chapter
        assert f'href="{chapter}.html' in page, chapter  # the profile note links the quick twin
        quick = (html / "notebooks" / f"{chapter}.html").read_text()
        assert f'href="{chapter}-full.html' in quick, chapter
    card = (html / "notebooks" / "99_scorecard.html").read_text()
    assert "Quick and full, side by side" in card and "full: status" in card


def test_math_is_served_locally(built_book):
    html, out = built_book
    assert out.returncode == 0
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()
    for page in html.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script[^>]+src=\"https?://", text), f"{page} loads a script from the network"


def _build_book_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny_notebook(path, source):
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)],
                                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                     "language": "python"}}), path)


def test_cache_key_follows_inputs_not_outputs(tmp_path, monkeypatch):
    import json

    bb = _build_book_module()
    nb = tmp_path / "nb.ipynb"
    _tiny_notebook(nb, "print(1)")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("X = 1\n")
    key = lambda profile="quick": bb.cache_key("01_a", nb, profile, bb.tree_hash([pkg], tmp_path), tmp_path)  # noqa: E731
    k0 = key()
    data = json.loads(nb.read_text())
    data["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    data["cells"][0]["execution_count"] = 7
    data["metadata"]["papermill"] = {"duration": 1.0}
    nb.write_text(json.dumps(data))
    assert key() == k0  # outputs and metadata are not inputs
    assert key("full") != k0  # parameters are
    monkeypatch.setenv("MMTHEORY_IEMOCAP", "/data/x.pkl")
    assert key() != k0  # so is the data path read from the environment
    monkeypatch.delenv("MMTHEORY_IEMOCAP")
    (pkg / "a.py").write_text("X = 2\n")
    assert key() != k0  # and the package code
    (pkg / "a.py").write_text("X = 1\n")
    _tiny_notebook(nb, "print(2)")
    assert key() != k0
    _tiny_notebook(nb, "print(1)")
    assert key() == k0
    # the scorecard's key also follows the claim records it tabulates
    card = lambda: bb.cache_key("99_scorecard", nb, "quick", "p", tmp_path)  # noqa: E731
    c0 = card()
    (tmp_path / "quick" / "claims").mkdir(parents=True)
    (tmp_path / "quick" / "claims" / "X.json").write_text("{}")
    assert card() != c0


def test_build_executes_only_what_changed_in_parallel_scorecard_last(tmp_path, monkeypatch):
    bb = _build_book_module()
    monkeypatch.setattr(bb, "ROOT", tmp_path)
    (tmp_path / "mmtheory").mkdir()
    (tmp_path / "mmtheory" / "code.py").write_text("X = 1\n")
    (tmp_path / "constraints.txt").write_text("")
    stamp = "import time, pathlib; pathlib.Path('{0}.stamp').write_text(str(time.time()))"
    for name in ("01_a", "02_b", "99_scorecard"):
        _tiny_notebook(tmp_path / "notebooks" / f"{name}.ipynb", stamp.format(name))
    nbs = ["notebooks/01_a", "notebooks/02_b", "notebooks/99_scorecard"]

    def build():
        done: set[str] = set()
        assert bb.execute_changed(nbs, "quick", tmp_path, jobs=2, force=False, executed=done) == []
        return done

    assert build() == {"01_a", "02_b", "99_scorecard"}
    stamps = {n: float((tmp_path / "notebooks" / f"{n}.stamp").read_text()) for n in ("01_a", "02_b", "99_scorecard")}
    assert stamps["99_scorecard"] > max(stamps["01_a"], stamps["02_b"])  # the scorecard ran after the others
    assert build() == set()  # nothing changed: nothing executed
    states = bb.build_states(nbs, "quick", tmp_path, set())
    assert {s["state"] for s in states.values()} == {"cache"}
    _tiny_notebook(tmp_path / "notebooks" / "02_b.ipynb", stamp.format("02_b") + "  # edited")
    assert bb.build_states(nbs, "quick", tmp_path, set())["02_b"]["state"] == "stale"
    assert build() == {"02_b"}
    (tmp_path / "results" / "quick" / "claims").mkdir(parents=True)
    (tmp_path / "results" / "quick" / "claims" / "C.json").write_text("{}")
    assert build() == {"99_scorecard"}  # new claim records: only the scorecard
    (tmp_path / "mmtheory" / "code.py").write_text("X = 2\n")
    assert build() == {"01_a", "02_b", "99_scorecard"}  # package changed: everything
    box = rerun_box("02_b", {}, build={"state": "cache", "date": "2026-11-30"})
    assert "from the build cache" in box and "2026-11-30" in box
    assert "executed in this build" in rerun_box("02_b", {}, build={"state": "executed", "date": None})


def test_build_reports_a_failing_chapter_and_skips_the_scorecard(tmp_path, monkeypatch, capsys):
    bb = _build_book_module()
    monkeypatch.setattr(bb, "ROOT", tmp_path)
    (tmp_path / "mmtheory").mkdir()
    _tiny_notebook(tmp_path / "notebooks" / "01_a.ipynb", "raise RuntimeError('broken chapter')")
    _tiny_notebook(tmp_path / "notebooks" / "99_scorecard.ipynb", "1")
    done: set[str] = set()
    failed = bb.execute_changed(["notebooks/01_a", "notebooks/99_scorecard"], "quick", tmp_path, jobs=2, force=False,
                                executed=done)
    assert failed == ["notebooks/01_a"] and done == set()
    assert "01_a FAILED" in capsys.readouterr().err
