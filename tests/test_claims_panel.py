"""Issue 21: the claims panel, the verdict sentence, record_all, the scorecard's forest plot, the opening order."""

import json

import matplotlib
import nbformat
import pytest

from mmtheory import claims, report
from mmtheory.book import PANEL_TAG, arrange_opening, panel_cell_source, rerun_box, scorecard_forest
from mmtheory.checks import Verdict, against_broken_world, decide_positive

matplotlib.use("Agg")


def _verdicts():
    holds = against_broken_world(decide_positive([12.0, 11.0, 13.4], ours="83 -> 95", units="points", what="gain"),
                                 decide_positive([0.5, -0.4, 0.1], ours="", units="points", what="gain"),
                                 "alpha = 0")
    unsure = decide_positive([0.056306, 6.788138, 3.4], ours="x", units="points", what="eta drop")
    return {"P22-standin-ogmge": holds, "P22-standin-imbalance": unsure}


def test_fmt_interval_rounds_to_what_the_interval_supports():
    assert report.fmt_interval(0.056306, 0.056306, 6.788138, "points") == "0.1 [0.1, 6.8] points"
    assert report.fmt_interval(0.19166, 0.16092, 0.22548) == "0.192 [0.161, 0.225]"
    assert report.fmt_interval(0.4, 0.4 - 1e-14, 0.4 + 1e-14) == "0.400 [0.400, 0.400]"
    assert report.fmt_interval(None, None, None) == "\u2014"
    assert report.fmt_interval(2.0, float("-inf"), float("inf"), "eta") == "2 eta"


def test_deciding_difference_of_a_claim_made_of_parts_is_the_deciding_part():
    part_a = decide_positive([3.0, 3.2, 2.9], ours="", units="points", what="a").to_dict()
    part_b = decide_positive([2.5, -1.0, 6.1], ours="", units="points", what="b").to_dict()
    rec = dict(status="inconclusive", units="points", interval=part_b["interval"], details={"parts": {"a": part_a, "b": part_b}})
    d = report.deciding_difference(rec)
    assert d["estimate"] == pytest.approx(part_b["details"]["mean"]) and d["threshold"] == 0.0
    freq = dict(status="differs", units="frequency", interval=[0.16, 0.22], details=dict(events=115, trials=600, allowed=0.0))
    assert report.deciding_difference(freq)["estimate"] == pytest.approx(115 / 600)


def test_verdict_sentence_names_status_difference_interval_and_broken_world():
    v = _verdicts()["P22-standin-ogmge"]
    text = report.verdict_sentence(v)
    assert text.startswith("**holds**: difference 12.1 [") and "alpha = 0" in text and "95% paired t over 3" in text
    assert report.sentence(v).data == text
    assert report.verdict_sentence({"status": "not yet run"}).startswith("**not yet run**")


def test_record_all_and_the_panel_read_the_same_records(tmp_path, capsys):
    table = report.record_all(_verdicts(), profile="quick", data="stand-in", detail="paired by seed",
                              results_dir=tmp_path)
    printed = capsys.readouterr().out
    assert all(len(line) <= 110 for line in printed.splitlines())  # wrapped to the page
    assert list(table.index) == ["P22-standin-ogmge", "P22-standin-imbalance"]
    assert table.loc["P22-standin-imbalance", "difference [interval] (points)"] == "3 [-5, 12]"
    assert (tmp_path / "quick" / "claims" / "P22-standin-ogmge.json").exists()
    panel = report.claims_panel("08", results_dir=tmp_path)
    html = panel._repr_html_()
    assert 'class="mmtheory-claims-panel"' in html and "STAND-IN" in html
    assert "12.1 [" in html and "alpha = 0 \u2192 <b>inconclusive</b>" in html  # the broken world's own status
    assert "not yet run" in html  # the weak-branch claim has no record
    assert '<a href="99_scorecard.html">' in html and all(s in html for s in report.STATUS_KEY)
    assert [r["id"] for r in panel.records] == [c for c, x in claims.CLAIMS.items() if x.chapter == "08_ogm_imbalance"]


def test_the_panel_of_a_custom_run_reads_the_custom_records(tmp_path, capsys):
    cfg = {"profile": "quick", "seeds": [7]}  # not the registered defaults: a custom run
    report.record_all(_verdicts(), profile="quick", params=cfg, results_dir=tmp_path, quiet=True)
    assert not (tmp_path / "quick").exists()
    said = capsys.readouterr().out.splitlines()  # quiet, but where the records went is still said, once
    assert len(said) == 1 and str(tmp_path / "custom") in said[0] and "Non-default parameters" in said[0]
    statuses = {r["id"]: r["status"] for r in report.claims_panel("08_ogm_imbalance", cfg, results_dir=tmp_path).records}
    assert statuses["P22-standin-ogmge"] == "holds" and statuses["P22-standin-weak-branch"] == "not yet run"
    assert all(r["status"] == "not yet run" for r in report.claims_panel("08", results_dir=tmp_path).records)


def test_record_all_refuses_what_is_not_a_dict_of_verdicts(tmp_path):
    with pytest.raises(TypeError, match="dict"):
        report.record_all([Verdict("holds", ours="", margin=1.0, reason="r")], profile="quick", results_dir=tmp_path)
    with pytest.raises(KeyError, match="unknown claim"):
        report.record_all({"nope": Verdict("holds", ours="", margin=1.0, reason="r")}, profile="quick",
                          results_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown chapter"):
        report.claims_panel("42", results_dir=tmp_path)


def test_opening_is_title_panel_folded_box_then_introduction():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nIntro text."),
                nbformat.v4.new_code_cell("profile = 'quick'"),
                nbformat.v4.new_markdown_cell(panel_cell_source())]
    nb.cells[2].metadata["tags"] = [PANEL_TAG]
    box = rerun_box("08_ogm_imbalance")
    arrange_opening(nb, box)
    kinds = [c.source.splitlines()[0] for c in nb.cells]
    assert kinds == ["# Title", "```{glue} claims_panel", box.splitlines()[0], "Intro text.", "profile = 'quick'"]
    assert ":class: tip dropdown" in box
    # a chapter that glues its panel but has no panel cell (the committed notebooks): the panel cell is added
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nIntro text."), nbformat.v4.new_code_cell("profile = 'quick'"),
                nbformat.v4.new_code_cell('glue("claims_panel", report.claims_panel("08", cfg), display=True)')]
    arrange_opening(nb, box)
    assert [c.source.splitlines()[0] for c in nb.cells][:3] == ["# Title", "```{glue} claims_panel", box.splitlines()[0]]
    assert nb.cells[1].metadata["tags"] == [PANEL_TAG]
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Scorecard\n\nText.")])
    assert "glue" not in "".join(c.source for c in arrange_opening(plain, box).cells)  # nothing glued: no panel cell


def test_no_committed_notebook_carries_a_glue_directive_jupyterlab_cannot_render():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        assert not any(c.cell_type == "markdown" and "```{glue}" in c.source for c in cells), path.name


def test_forest_plot_has_one_row_per_claim_and_a_column_per_profile_with_records(tmp_path):
    report.record_all(_verdicts(), profile="quick", results_dir=tmp_path, quiet=True)
    fig = scorecard_forest(("quick", "full"), tmp_path)
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert sorted(labels) == sorted(claims.CLAIMS)  # the full profile has no records: one column
    report.record_all(_verdicts(), profile="full", results_dir=tmp_path, quiet=True)
    fig3 = scorecard_forest(("quick", "full"), tmp_path)
    legend = [t.get_text() for t in fig3.legends[0].get_texts()]
    assert "quick profile" in legend and "full profile" in legend  # both profiles drawn side by side
    assert "full profile" not in [t.get_text() for t in fig.legends[0].get_texts()]
    assert json.loads((tmp_path / "full" / "claims" / "P22-standin-ogmge.json").read_text())["profile"] == "full"


def test_parts_table_rounds_each_part_to_its_interval():
    part = decide_positive([0.056306, 6.788138, 3.4], ours="", units="points", what="concat").to_dict()
    other = decide_positive([1.0, 1.1, 0.9], ours="", units="points", what="sum").to_dict()
    rec = dict(status="inconclusive", units="points", interval=part["interval"], details={"parts": {"concat": part, "sum": other}})
    table = report.parts_table(rec, "fusion")
    assert list(table.index) == ["concat", "sum"]
    assert table.iloc[0, 1] == "3 [-5, 12] vs 0" and table.iloc[1, 1].startswith("1.00 [")
    with pytest.raises(ValueError, match="parts"):
        report.parts_table(dict(status="holds", details={}))


def test_add_panel_cells_is_idempotent_and_matches_the_chapters(tmp_path):
    from mmtheory.book import PANEL_GLUE_SOURCE, add_panel_cells

    path = tmp_path / "11_new.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# New\n\nText."), nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, path)
    assert add_panel_cells(path) and not add_panel_cells(path)
    cells = nbformat.read(path, as_version=4).cells
    assert not any(PANEL_TAG in c.metadata.get("tags", []) for c in cells)  # no {glue} directive for JupyterLab
    assert cells[-1].source == PANEL_GLUE_SOURCE.format(stem="11_new") and cells[-1].metadata["tags"] == ["remove-cell"]
    from pathlib import Path

    ch08 = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "08_ogm_imbalance.ipynb", as_version=4)
    assert ch08.cells[-1].source == PANEL_GLUE_SOURCE.format(stem="08_ogm_imbalance")  # one source for every chapter


def test_claims_command_says_where_the_records_are(tmp_path):
    hint = claims.records_hint("quick", tmp_path)
    assert str(tmp_path / "quick" / "claims") in hint and "--results-dir" in hint
    report.record_all(_verdicts(), profile="quick", results_dir=tmp_path, quiet=True)
    assert claims.records_hint("quick", tmp_path) == ""


def test_the_panel_marks_a_holds_whose_power_was_not_shown(tmp_path):
    gain = decide_positive([12.0, 11.0, 13.4], ours="83 -> 95", units="points", what="gain")
    weak = against_broken_world(gain, decide_positive([0.5, -0.4, 0.1], ours="", units="points", what="gain"), "alpha = 0")
    strong = against_broken_world(gain, decide_positive([-5.0, -6.1, -5.5], ours="", units="points", what="gain"),
                                  "alpha = 0")
    assert (weak.status, weak.power_shown, strong.status, strong.power_shown) == ("holds", False, "holds", True)
    report.record_all({"P22-standin-ogmge": weak, "P22-standin-imbalance": strong}, profile="quick",
                      results_dir=tmp_path, quiet=True)
    panel = report.claims_panel("08", results_dir=tmp_path)
    rows = {r.split("</b>")[0].rsplit(">", 1)[-1]: r for r in panel.html.split("<tr>")[2:]}
    assert "power not shown" in rows["P22-standin-ogmge"] and "power not shown" not in rows["P22-standin-imbalance"]
    assert "A check counts as able to fail" in panel.html  # the rule stated where the mark appears
    assert "[P22-standin-ogmge] holds (power not shown)" in repr(panel)
    assert "[P22-standin-imbalance] holds:" in repr(panel)
    # with every holds shown able to fail there is no mark and no rule
    report.record_all({"P22-standin-ogmge": strong}, profile="quick", results_dir=tmp_path, quiet=True)
    again = report.claims_panel("08", results_dir=tmp_path)
    assert "power not shown" not in again.html and "power not shown" not in repr(again)


def test_record_all_table_says_whether_power_was_shown_and_how_many_seeds(tmp_path):
    from dataclasses import replace

    v = _verdicts()["P22-standin-ogmge"]
    table = report.record_all({"P22-standin-ogmge": v}, profile="quick", results_dir=tmp_path, quiet=True)
    assert not table.loc["P22-standin-ogmge", "power shown"]  # its broken world was only inconclusive
    assert "seeds" not in table.columns  # no rounds of seeds behind this verdict
    risk = decide_positive([0.5, 0.45, 0.52], ours="", units="risk", what="regret")  # a second unit: one column still
    mixed = report.record_all({"P22-standin-ogmge": v, "H21-selection": risk}, profile="quick", results_dir=tmp_path,
                              quiet=True)
    assert [c for c in mixed.columns if c.startswith("difference")] == ["difference [interval]"]
    assert mixed.loc["P22-standin-ogmge", "difference [interval]"].endswith(" points")
    assert mixed.loc["H21-selection", "difference [interval]"].endswith(" risk")
    rounds = replace(v, details={**v.details, "seeds_used": 6, "stopped": "decided at look 2"})
    table = report.record_all({"P22-standin-ogmge": rounds}, profile="quick", results_dir=tmp_path, quiet=True)
    assert table.loc["P22-standin-ogmge", "seeds"] == 6 and table.loc["P22-standin-ogmge", "stopped"] == "decided at look 2"


def test_chapters_record_through_record_all_in_hidden_plumbing_cells():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    chapters = sorted({c.chapter for c in claims.CLAIMS.values()})
    assert chapters, "no chapter has a claim"
    for stem in chapters:
        nb = nbformat.read(root / "notebooks" / f"{stem}.ipynb", 4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not [c for c in code if "claims.record(" in c.source], f"{stem} records claim by claim"
        calls = [c for c in code if "report.record_all(" in c.source]
        assert calls, f"{stem} records its claims without report.record_all"
        for c in calls:  # a cell that records at top level is plumbing: its input hidden, its table shown
            top = any(line.startswith(("report.record_all(", "recorded = report.record_all(")) for line in c.source.splitlines())
            assert not top or "hide-input" in c.metadata.get("tags", []), f"{stem}: record cell not hide-input"
        for c in code[:2]:  # the parameters and the imports/settings cell
            tags = c.metadata.get("tags", [])
            assert "hide-input" in tags or "remove-input" in tags, f"{stem}: set-up cell shown in full: {c.source[:60]!r}"


def test_glued_lists_what_was_glued_for_notebook_readers_and_forgets_it():
    from IPython.display import Markdown

    report.glued()  # start clean
    report.glue("k_jump", 0.33637554, display=False)
    report.glue("rate", 12, display=False)
    report.glue("verdict", Markdown("**holds**: difference 1.2 [0.4, 2.0]"), display=False)
    report.glue("shown", 1.5, display=True)  # displayed here already: not listed again
    out = report.glued()
    md = out._repr_markdown_()
    assert list(out.values) == ["k_jump", "rate", "verdict"]
    assert "- `k_jump`: 0.3364" in md and "- `rate`: 12" in md and "- `verdict`: **holds**: difference" in md
    assert "shown" not in md and repr(out).splitlines()[0] == "k_jump: 0.3364"
    assert report.glued().values == {} and report.glued()._repr_markdown_() == ""


def test_every_chapter_cell_that_glues_is_followed_by_the_glued_values_for_jupyterlab():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "notebooks").glob("[01][0-9]_*.ipynb")):
        nb = nbformat.read(path, 4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not [c for c in code if "from myst_nb import glue" in c.source], f"{path.name}: glue not from mmtheory.report"
        for i, c in enumerate(code):
            if "glue(" in c.source and "display=False" in c.source:
                nxt = code[i + 1] if i + 1 < len(code) else None
                assert nxt is not None and nxt.source.strip() == "report.glued()", f"{path.name}: no glued() after {c.source[:60]!r}"
                assert "remove-cell" in nxt.metadata.get("tags", []), f"{path.name}: the glued() cell shows in the book"
