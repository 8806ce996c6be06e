import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmtheory import claims
from mmtheory.cli import main
from mmtheory.profiles import PROFILES, settings

ROOT = Path(__file__).resolve().parents[1]


def test_record_then_scorecard(results_tmp):
    line = claims.record("H21-syn-w1", ours="0", holds=True, profile="quick", detail="test")
    assert line.startswith("[H21-syn-w1] HOLDS")
    claims.record("H21-prop1-finite", ours="3%", holds=False, profile="quick")
    card = claims.scorecard("quick")
    assert len(card) == len(claims.CLAIMS)
    status = dict(zip(card["id"], card["status"]))
    assert status["H21-syn-w1"] == "holds"
    assert status["H21-prop1-finite"] == "differs"
    assert status["H21-thm1"] == "not yet run"
    rec = json.loads((results_tmp / "quick" / "claims" / "H21-syn-w1.json").read_text())
    assert rec["status"] == "holds" and rec["profile"] == "quick"
    # profiles are kept apart
    assert set(claims.scorecard("full")["status"]) == {"not yet run"}


def test_record_is_atomic_no_temp_files_left(results_tmp):
    for _ in range(3):
        claims.record("H21-syn-all", ours="0", holds=True, profile="quick")
    files = sorted(p.name for p in (results_tmp / "quick" / "claims").iterdir())
    assert files == ["H21-syn-all.json"]


def test_record_errors(results_tmp):
    with pytest.raises(KeyError, match="unknown claim id 'nope'"):
        claims.record("nope", ours="", holds=True, profile="quick")
    with pytest.raises(ValueError, match="unknown profile 'fast'; valid profiles are"):
        claims.record("H21-syn-w1", ours="", holds=True, profile="fast")


def test_corrupt_record_names_the_file(results_tmp):
    folder = results_tmp / "quick" / "claims"
    folder.mkdir(parents=True)
    (folder / "H21-syn-w1.json").write_text("{not json")
    records, problems = claims.read_records("quick")
    assert records == {} and len(problems) == 1 and "H21-syn-w1.json: not valid JSON" in problems[0]


def test_every_claim_has_a_known_paper_and_chapter():
    for cid, claim in claims.CLAIMS.items():
        assert cid == claim.id and cid.split("-")[0] in ("H21", "P22", "HP")
        assert claim.statement and claim.paper_value and claim.chapter
        assert (ROOT / "notebooks" / f"{claim.chapter}.ipynb").exists(), f"{cid}: no chapter {claim.chapter}"


def test_cli_claims_table_and_json(results_tmp, capsys):
    claims.record("H21-syn-w1", ours="zero", holds=True, profile="quick")
    assert main(["claims"]) == 0
    out = capsys.readouterr().out
    assert "H21-syn-w1" in out and "1 holds" in out
    assert main(["claims", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(claims.CLAIMS)


def test_cli_help_and_module_entry_point(tmp_path):
    env = dict(os.environ, MMTHEORY_RESULTS_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "mmtheory", "--help"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "claims" in out.stdout and "profiles" in out.stdout
    out = subprocess.run([sys.executable, "-m", "mmtheory", "claims"], capture_output=True, text=True, env=env)
    # No records there: one error saying where it looked and how to point it at the records (issue 17),
    # not a table of claims all "not yet run".
    assert out.returncode == 1 and str(tmp_path) in out.stderr and "--results-dir" in out.stderr
    assert "not yet run" not in out.stdout


def test_cli_profiles(capsys):
    assert main(["profiles", "02_synthetic_overlap"]) == 0
    assert "[quick]" in capsys.readouterr().out
    assert main(["profiles", "nope"]) == 2


def test_settings_validation():
    cfg = settings("02_synthetic_overlap", "quick", n_train=500)
    assert cfg["n_train"] == 500 and cfg["profile"] == "quick"
    assert settings("02_synthetic_overlap", "full")["n_train"] > cfg["n_train"]
    with pytest.raises(ValueError, match=r"unknown profile 'fast'.*valid profiles are \['full', 'quick'\]"):
        settings("02_synthetic_overlap", "fast")
    with pytest.raises(ValueError, match="unknown parameter 'n_trian'"):
        settings("02_synthetic_overlap", "quick", n_trian=5)
    with pytest.raises(ValueError, match="n_train must be an integer; got 'many'"):  # the one wording (params)
        settings("02_synthetic_overlap", "quick", n_train="many")
    with pytest.raises(ValueError, match="must be an integer"):
        settings("02_synthetic_overlap", "quick", n_train=2.5)
    with pytest.raises(ValueError, match="must be a list"):
        settings("01_framework", "quick", sample_sizes=100)
    with pytest.raises(ValueError, match="unknown chapter"):
        settings("nope", "quick")


def test_every_chapter_has_both_profiles_with_same_keys():
    for chapter, profiles in PROFILES.items():
        assert set(profiles) == {"quick", "full"}, chapter
        assert set(profiles["quick"]) == set(profiles["full"]), chapter


def test_cli_claims_json_prints_every_record_whole(results_tmp, capsys):
    from mmtheory.checks import Verdict, against_broken_world

    v = Verdict("holds", ours="+3.1 points", margin=1.25, reason="interval above 0", units="points",
                interval=(1.25, 5.0), interval_method="95% paired t over 3")
    v = against_broken_world(v, Verdict("differs", ours="", margin=2.0, reason="below"), "labels shuffled")
    params = settings("08_ogm_imbalance", "quick")
    claims.record("P22-standin-ogmge", v, profile="quick", params=params, data="stand-in")
    assert main(["claims", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == list(claims.CLAIMS)
    rec = next(r for r in rows if r["id"] == "P22-standin-ogmge")
    assert rec["status"] == "holds" and rec["ours"] == "+3.1 points" and rec["margin"] == 1.25
    assert rec["interval"] == [1.25, 5.0] and rec["variant"] == "labels shuffled" and rec["variant_status"] == "differs"
    assert rec["profile"] == "quick" and rec["data"] == "stand-in" and rec["params"]["seeds"] == params["seeds"]
    assert rec["chapter"] == "08_ogm_imbalance" and rec["statement"]
    other = next(r for r in rows if r["id"] == "H21-thm1")
    assert other["status"] == "not yet run" and other["params"] == {}
    # the table leads with id, status, margin and the broken world
    assert main(["claims"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:4] == ["id", "status", "margin", "units"]


def test_record_with_a_bad_status_names_the_file(results_tmp):
    folder = results_tmp / "quick" / "claims"
    folder.mkdir(parents=True)
    (folder / "H21-syn-w1.json").write_text(json.dumps({"id": "H21-syn-w1", "status": "maybe", "ours": "",
                                                        "margin": 0, "reason": ""}))
    records, problems = claims.read_records("quick")
    assert records == {} and problems == [f"{folder / 'H21-syn-w1.json'}: status 'maybe' is not one of "
                                          "['holds', 'differs', 'inconclusive', 'vacuous']; ignored, re-run its chapter"]


def test_scorecard_table_reads_at_a_glance(results_tmp):
    from mmtheory.book import STATUS_COLOURS, reasons_table, scorecard_table
    from mmtheory.checks import Verdict

    claims.record("H21-syn-w1", Verdict("vacuous", ours="0", margin=0, reason="true by construction"), profile="quick")
    claims.record("H21-syn-all", Verdict("inconclusive", ours="x", margin=0, reason="interval holds 0",
                                         units="points", variant="labels shuffled", variant_status="inconclusive"),
                  profile="quick")
    card = claims.scorecard("quick")
    html = scorecard_table(card).to_html()
    assert html.count("<tr>") == len(claims.CLAIMS) + 1  # header + one row per claim
    head = html[html.index("<thead>"):html.index("</thead>")]
    order = [head.index(c) for c in ("claim", "status", "margin", "broken world tried", "our value")]
    assert order == sorted(order)
    assert "table-layout: fixed" in html and "width: 100%" in html
    for status in ("vacuous", "inconclusive", "not yet run"):
        assert STATUS_COLOURS[status] in html
    assert 'title="true by construction"' in html and "labels shuffled \u2192 <b>inconclusive</b>" in html
    assert html.count('<a href="') == len(claims.CLAIMS)
    reasons = reasons_table(card).to_html()
    assert "interval holds 0" in reasons and "H21-thm1" not in reasons  # not yet run: not listed


def test_only_the_exact_default_run_writes_the_profile_records(tmp_path):
    from mmtheory.checks import Verdict
    from mmtheory.profiles import settings

    cfg = settings("08_ogm_imbalance", "quick")
    v = Verdict("holds", ours="x", margin=1.0, reason="r")
    res = tmp_path / "res"
    official = res / "quick" / "claims" / "P22-standin-ogmge.json"
    claims.record("P22-standin-ogmge", v, profile="quick", params={**cfg, "scheduler": "local:2"}, results_dir=res)
    assert official.exists()  # where it ran does not change what it computed
    official.unlink()
    missing = {k: val for k, val in cfg.items() if k != "seed"}
    for params in (missing, {**cfg, "extra_knob": 1}, {**cfg, "seed": 3}):
        line = claims.record("P22-standin-ogmge", v, profile="quick", params=params, results_dir=res)
        assert "non-default parameters" in line and not official.exists()
    assert len(list((res / "custom").glob("quick-*/claims/P22-standin-ogmge.json"))) == 3


def _good(cid="H21-thm2", **kw):
    rec = dict(id=cid, status="holds", ours="x", margin=0.5, reason="r", units="points", interval=[0.5, 1.0],
               profile="quick")
    rec.update(kw)
    return rec


@pytest.mark.parametrize("name, content, needle", [
    ("H21-thm2.json", _good(margin=-3), "margin -3 is not a finite number >= 0"),
    ("H21-thm2.json", _good(margin="lots"), "margin is 'lots', not int/float"),
    ("H21-thm2.json", _good(margin=float("nan")), "margin nan is not a finite number >= 0"),
    ("zzz-notes.json", _good(status="differs"), "its id 'H21-thm2' is not its file name 'zzz-notes'"),
    ("H21-unknown.json", _good("H21-unknown"), "unknown claim id 'H21-unknown'"),
    ("H21-thm2.json", [1, 2], "not a claim record (a JSON list"),
    ("H21-thm2.json", _good(interval=[2, 1]), "is not an interval"),
    ("H21-thm2.json", _good(status=True), "status is True, not str"),
    ("H21-thm2.json", _good(profile="full"), "profile 'full' in the 'quick' folder"),
])
def test_scorecard_validates_every_record(results_tmp, capsys, name, content, needle):
    """Issue 18 item 7: each hostile record is flagged in one line and never shown."""
    folder = results_tmp / "quick" / "claims"
    folder.mkdir(parents=True)
    (folder / name).write_text(json.dumps(content))
    card = claims.scorecard("quick")
    assert dict(zip(card["id"], card["status"]))["H21-thm2"] == "not yet run"
    assert len(card.attrs["problems"]) == 1 and needle in card.attrs["problems"][0]
    assert main(["claims"]) == 0  # no traceback, one warning line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_stray_file_does_not_replace_the_real_record(results_tmp):
    folder = results_tmp / "quick" / "claims"
    folder.mkdir(parents=True)
    (folder / "H21-thm2.json").write_text(json.dumps(_good()))
    (folder / "zzz-notes.json").write_text(json.dumps(_good(status="differs")))
    (folder / "notes.txt").write_text("hello")
    card = claims.scorecard("quick")
    assert dict(zip(card["id"], card["status"]))["H21-thm2"] == "holds"
    assert len(card.attrs["problems"]) == 2


def test_missing_results_folder_is_said(tmp_path, capsys):
    assert main(["claims", "--results-dir", str(tmp_path / "nonexistent")]) == 1
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and "not yet run" not in captured.out
    _, problems = claims.read_records("quick", tmp_path / "nonexistent")
    assert problems == [f"results folder {tmp_path / 'nonexistent'} does not exist: every claim shows 'not yet run'"]


def test_power_not_shown_is_visible(results_tmp, capsys):
    from mmtheory.checks import Verdict, against_broken_world

    real = Verdict("holds", ours="x", margin=1.0, reason="r")
    v = against_broken_world(real, Verdict("inconclusive", ours="", margin=0.0, reason="b"), "noise")
    assert v.status == "holds" and v.power_shown is False and "power not shown" in v.reason
    claims.record("H21-thm2", v, profile="quick")
    card = claims.scorecard("quick")
    assert dict(zip(card["id"], card["power_shown"]))["H21-thm2"] is False
    assert main(["claims"]) == 0
    out = capsys.readouterr().out
    assert "holds (power not shown)" in out and "Holm" in out and "power not shown" in out.splitlines()[-1]
    from mmtheory.book import scorecard_table
    assert "holds</span> (power not shown)" in scorecard_table(card).to_html()
