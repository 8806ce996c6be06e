"""Issue 19, item 3: the full profile published beside the quick one (side-by-side scorecard, staged pages)."""

import nbformat
import pytest
import yaml

from mmtheory import claims
from mmtheory.book import evidence_text, profile_note, profiles_frame, profiles_table
from mmtheory.checks import against_broken_world, decide_positive
from test_book_build import _build_book_module, _tiny_notebook


def _holds():
    return against_broken_world(decide_positive([12.0, 11.0, 13.4], ours="", units="points", what="gain"),
                                decide_positive([-5.0, -6.0, -5.5], ours="", units="points", what="gain"), "alpha = 0")


def test_evidence_text_names_seed_rounds_and_why_they_stopped():
    assert evidence_text({}) == "" and evidence_text({"status": "not yet run"}) == ""
    rounds = {"status": "inconclusive", "details": {"seeds_used": 30, "stopped": "cap reached", "seeds_needed": 218}}
    assert evidence_text(rounds) == "30 seeds (cap reached; about 218 needed)"
    decided = {"status": "holds", "details": {"seeds": list(range(7)), "stopped": "decided", "seeds_needed": 5}}
    assert evidence_text(decided) == "7 seeds (decided)"
    freq = {"status": "differs", "units": "frequency", "interval": [0.1, 0.2],
            "details": {"events": 90, "trials": 600, "allowed": 0.0}}
    assert evidence_text(freq) == "n = 600"


def test_profiles_frame_puts_quick_and_full_side_by_side_and_flags_a_changed_status(tmp_path):
    unsure = decide_positive([0.3, 6.8, -3.4], ours="", units="points", what="gain")
    claims.record("P22-standin-ogmge", _holds(), profile="quick", results_dir=tmp_path, data="stand-in")
    claims.record("P22-standin-ogmge", unsure, profile="full", results_dir=tmp_path, data="stand-in")
    claims.record("P22-standin-imbalance", unsure, profile="quick", results_dir=tmp_path, data="stand-in")
    frame = profiles_frame(("quick", "full"), tmp_path).set_index("id")
    assert len(frame) == len(claims.CLAIMS)
    row = frame.loc["P22-standin-ogmge"]
    assert row["status_quick"] == "holds" and row["status_full"] == "inconclusive" and bool(row["changed"])
    assert row["difference_quick"].startswith("12.1 [") and row["evidence_full"] == "n = 3"
    other = frame.loc["P22-standin-imbalance"]
    assert other["status_full"] == "not yet run" and not other["changed"]  # one profile only: nothing to compare
    html = profiles_table(frame.reset_index()).to_html()
    assert "full: status" in html and "<b>changed</b>" in html and "08_ogm_imbalance.html" in html
    with pytest.raises(ValueError, match="profiles_frame"):
        profiles_table(frame.reset_index()[["id"]])


def test_profile_note_links_the_other_profile():
    assert "[08_ogm_imbalance (full)](x-full.ipynb)" in profile_note("08_ogm_imbalance", "quick", "x-full.ipynb")
    assert "larger settings" in profile_note("08_ogm_imbalance", "full", "08_ogm_imbalance.ipynb")
    with pytest.raises(ValueError, match="unknown profile"):
        profile_note("08", "medium", "x")


def test_full_pages_are_staged_beside_the_quick_ones_with_their_own_toc_part(tmp_path, monkeypatch):
    bb = _build_book_module()
    monkeypatch.setattr(bb, "ROOT", tmp_path)
    src = tmp_path / "src"
    for name in ("01_a", "02_b", "99_scorecard"):
        _tiny_notebook(src / "notebooks" / f"{name}.ipynb", "1")
    executed = tmp_path / "results" / "full" / "notebooks" / "01_a.ipynb"
    _tiny_notebook(executed, "print('full')")
    nb = nbformat.read(executed, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# Chapter A\n\nIntro."))
    nb.cells.append(nbformat.v4.new_markdown_cell("See [A](01_a.ipynb#top), [B](02_b.ipynb), [card](99_scorecard.ipynb)."))
    nbformat.write(nb, executed)
    _tiny_notebook(tmp_path / "results" / "full" / "notebooks" / "99_scorecard.ipynb", "1")  # never a page
    entries = bb.stage_full_pages(src, ["01_a", "02_b", "99_scorecard"], {"01_a": {"state": "cache", "date": None}})
    assert entries == ["notebooks/01_a-full"]  # 02_b has no full execution, the scorecard is one page for both
    page = nbformat.read(src / "notebooks" / "01_a-full.ipynb", as_version=4)
    assert page.cells[0].source == "# Chapter 1, full profile: Chapter A"
    assert "(01_a.ipynb)" in page.cells[1].source and "Re-run this chapter" in "".join(c.source for c in page.cells)
    # links stay in the full part where the target has a full page; the others (and the scorecard) are kept
    assert page.cells[-1].source == "See [A](01_a-full.ipynb#top), [B](02_b.ipynb), [card](99_scorecard.ipynb)."
    quick = nbformat.read(src / "notebooks" / "01_a.ipynb", as_version=4)
    assert any("(01_a-full.ipynb)" in c.source for c in quick.cells)
    toc = {"root": "book/intro", "parts": [{"caption": "A", "chapters": [{"file": "notebooks/01_a"}]},
                                           {"caption": "Reproduction", "chapters": [{"file": "notebooks/99_scorecard"}]}]}
    out = bb.staged_toc(toc, entries)
    assert [p["caption"] for p in out["parts"]] == ["A", bb.FULL_CAPTION, "Reproduction"]
    assert toc["parts"][1]["caption"] == "Reproduction"  # the input is not changed
    assert bb.staged_toc(toc, []) == toc
    yaml.safe_dump(out)


def test_the_page_suffix_is_one_value_in_the_build_and_the_package():
    from mmtheory.book import PAGE_SUFFIX

    assert _build_book_module().FULL_SUFFIX == PAGE_SUFFIX["full"]


def test_the_scorecard_key_follows_the_records_of_both_profiles(tmp_path):
    bb = _build_book_module()
    nb = tmp_path / "nb.ipynb"
    _tiny_notebook(nb, "1")
    key = lambda: bb.cache_key("99_scorecard", nb, "quick", "p", tmp_path)  # noqa: E731
    k0 = key()
    (tmp_path / "full" / "claims").mkdir(parents=True)
    (tmp_path / "full" / "claims" / "X.json").write_text("{}")
    assert key() != k0
