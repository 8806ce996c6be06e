"""UCI Multiple Features: the vendored files' hashes and shapes, the stratified split, a corrupted file's
message, the .npz export, and that the real-data chapter's claims are registered as real data."""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmtheory.data import mfeat
from mmtheory.data.arrays import load_npz


@pytest.fixture(scope="module")
def data():
    return mfeat.load()


def test_vendored_files_match_their_recorded_digests():
    folder = mfeat.data_dir()
    for view in mfeat.VIEWS:
        packed = (folder / f"mfeat-{view}.csv.xz").read_bytes()
        assert hashlib.sha256(packed).hexdigest() == mfeat.XZ_SHA256[view]
        assert hashlib.sha256(lzma.decompress(packed)).hexdigest() == mfeat.CSV_SHA256[view]
    assert "CC BY 4.0" in (folder / "NOTICE").read_text()


def test_views_labels_and_shapes(data):
    assert list(data.views) == ["fou", "fac", "kar", "pix", "zer", "mor"]
    assert {k: v.shape for k, v in data.views.items()} == {k: (2000, d) for k, d in mfeat.VIEWS.items()}
    assert all(v.dtype == np.float64 and np.isfinite(v).all() for v in data.views.values())
    assert data.labels.shape == (2000,) and data.labels.dtype == np.int64
    assert np.bincount(data.labels).tolist() == [200] * 10
    # a known value of the original file: first row of the morphological view
    np.testing.assert_allclose(data.views["mor"][0], [1, 0, 0, 133.15, 1.3117, 1620.2])


def test_stratified_split_is_fixed_and_stratified(data):
    assert data.counts() == {"train": 1500, "test": 500}
    test_per_class = np.bincount(data.labels[~data.train_mask], minlength=10)
    assert test_per_class.tolist() == [50] * 10
    again = mfeat.load()
    np.testing.assert_array_equal(again.train_mask, data.train_mask)
    other = mfeat.stratified_split(data.labels, 0.25, split_seed=1)
    assert not np.array_equal(other, data.train_mask)
    assert np.bincount(data.labels[~other], minlength=10).tolist() == [50] * 10
    with pytest.raises(ValueError, match="test_fraction"):
        mfeat.stratified_split(data.labels, 1.5)


def test_a_corrupted_file_gets_one_clear_message(tmp_path):
    for view in mfeat.VIEWS:
        shutil.copy(mfeat.data_dir() / f"mfeat-{view}.csv.xz", tmp_path)
    target = tmp_path / "mfeat-kar.csv.xz"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"mfeat-kar\.csv\.xz is corrupted.*SHA-256.*restore it"):
        mfeat.load(tmp_path)


def test_an_edited_original_csv_is_refused(tmp_path):
    for view in mfeat.VIEWS:
        (tmp_path / f"mfeat-{view}.csv").write_bytes(lzma.decompress((mfeat.data_dir() / f"mfeat-{view}.csv.xz").read_bytes()))
    assert mfeat.load(tmp_path).views["zer"].shape == (2000, 47)  # the originals load
    path = tmp_path / "mfeat-zer.csv"
    path.write_bytes(path.read_bytes().replace(b"0.011033", b"0.011034", 1))
    with pytest.raises(ValueError, match=r"mfeat-zer\.csv is corrupted or not the original"):
        mfeat.load(tmp_path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="mfeat-fou"):
        mfeat.load(tmp_path)


def test_export_npz_reads_back_through_load_npz(tmp_path, data):
    path = mfeat.export_npz(tmp_path / "mfeat.npz")
    back = load_npz(path)
    assert back.modalities == tuple(mfeat.VIEWS)
    np.testing.assert_array_equal(back.labels, data.labels)
    np.testing.assert_array_equal(back.train_mask, data.train_mask)
    np.testing.assert_allclose(back.views["fac"], data.views["fac"].astype(np.float32))


def test_export_npz_adds_the_suffix_and_refuses_to_replace(tmp_path, capsys):
    path = mfeat.export_npz(tmp_path / "out" / "mfeat")  # numpy would write mfeat.npz: say so
    assert path == tmp_path / "out" / "mfeat.npz" and path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["mfeat.npz"]  # no temporary left behind
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mfeat.export_npz(path)
    assert path.read_bytes() == b"precious"
    with pytest.raises(SystemExit) as exc:
        mfeat._main(["export", str(tmp_path / "out" / "mfeat")])
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert path.read_bytes() == b"precious"
    assert mfeat._main(["export", str(path), "--overwrite"]) == 0
    assert load_npz(path).modalities == tuple(mfeat.VIEWS)


def test_export_npz_goes_through_the_atomic_writer(tmp_path, monkeypatch):
    from mmtheory import _io

    seen = []
    real = _io.atomic_open

    def spy(path, mode="w", **kw):
        seen.append(Path(path))
        return real(path, mode, **kw)

    monkeypatch.setattr(mfeat, "atomic_open", spy)
    path = mfeat.export_npz(tmp_path / "m.npz")
    assert seen == [path]


def test_chapter_claims_are_registered_and_recorded_as_real_data(tmp_path):
    from mmtheory import claims
    from mmtheory.checks import Verdict

    ids = claims.GROUPS[claims.REAL_DATA_GROUP]
    assert ids and all(c in claims.CLAIMS for c in ids)
    assert all(c.startswith(("H21-mfeat-", "P22-mfeat-")) for c in ids)
    assert all(claims.CLAIMS[c].chapter == "11_real_data" for c in ids)
    assert all("stand-in" not in claims.CLAIMS[c].statement.lower() for c in ids)
    # the chapter records every claim of the group with data=mfeat.DATA_LABEL
    v = Verdict("holds", ours="x", margin=1.0, reason="r")
    claims.record(ids[0], v, profile="quick", data=mfeat.DATA_LABEL, results_dir=tmp_path)
    rec = json.loads((tmp_path / "quick" / "claims" / f"{ids[0]}.json").read_text())
    assert rec["data"] == mfeat.DATA_LABEL and "real" in rec["data"] and "stand-in" not in rec["data"]
    card = claims.scorecard("quick", tmp_path).set_index("id")
    assert card.loc[ids[0], "data"] == mfeat.DATA_LABEL


def test_the_chapter_records_with_the_real_data_label():
    import nbformat

    from mmtheory.claims import repo_root

    root = repo_root()
    if root is None:
        pytest.skip("not a source checkout")
    nb = nbformat.read(root / "notebooks" / "11_real_data.ipynb", as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "report.record_all(" in src and "data=mfeat.DATA_LABEL" in src
    assert "stand-in" not in src.split("report.record_all(")[1].split(")")[0]


# --- the glue of the real-data chapter and its checks ---------------------------------------------------------------

def test_nested_sets_and_the_pair_rule():
    from mmtheory.experiments.realdata import imbalanced_pair, nested_sets

    sets = nested_sets(["a", "b", "c"])
    assert sets == [("a",), ("b",), ("c",), ("a", "b"), ("a", "b", "c")]
    assert imbalanced_pair({"a": 70.0, "b": 95.0, "c": 80.0}) == ("b", "a")
    with pytest.raises(ValueError, match="at least two"):
        imbalanced_pair({"a": 1.0})


def test_view_pair_standardises_with_training_rows_only(data):
    from mmtheory.experiments.realdata import view_pair

    xtr, ytr, xte, yte = view_pair(data.views, data.labels, data.train_mask, "fac", "mor")
    assert set(xtr) == {"audio", "visual"} and xtr["audio"].shape == (1500, 216) and xte["visual"].shape == (500, 6)
    np.testing.assert_allclose(xtr["visual"].mean(0), 0.0, atol=1e-4)
    assert np.abs(xte["visual"].mean(0)).max() > 1e-4  # test rows are not re-centred
    with pytest.raises(ValueError, match="different"):
        view_pair(data.views, data.labels, data.train_mask, "fac", "fac")


def test_run_standin_takes_real_views_and_refuses_bad_data(data):
    from mmtheory.experiments.ogm import run_standin
    from mmtheory.experiments.realdata import view_pair

    pair = view_pair(data.views, data.labels, data.train_mask, "kar", "mor")
    r = run_standin(data=pair, n_train=200, methods=("baseline",), seeds=[0], epochs=2, batch_size=100, unimodal=False)
    assert r.summary["method"].tolist() == ["baseline"] and 0.0 <= r.summary["last_test_acc"].iloc[0] <= 100.0
    assert set(r.probes["modality"]) == {"audio", "visual"}
    with pytest.raises(ValueError, match="keys"):
        run_standin(data=({"x": pair[0]["audio"]}, pair[1], pair[2], pair[3]), seeds=[0], epochs=1)
    with pytest.raises(ValueError, match="not both"):
        from mmtheory.data.av_standin import AVStandin
        run_standin(AVStandin(), data=pair, seeds=[0], epochs=1)


def test_selection_trials_feed_rule_regrets(data):
    from mmtheory.experiments.realdata import parity_target, selection_trials_views
    from mmtheory.experiments.selection import rule_regrets

    trials = selection_trials_views(data.views, parity_target(data.labels), data.train_mask,
                                    [(("zer", "mor"), ("zer",))], [20, 200], 2, n_draws=20)
    assert len(trials) == 4 and (trials["lipschitz"] > 0).all()
    res = rule_regrets(trials, {"theorem": "4L"})
    assert (res.filter(like="regret_") >= -1e-12).all().all()
    with pytest.raises(ValueError, match="strict subset"):
        selection_trials_views(data.views, parity_target(data.labels), data.train_mask, [(("zer",), ("zer",))], [20], 1)


def _runs(weak_branch_joint, weak_alone, probe_joint, probe_alone):
    import pandas as pd

    rows = []
    for s in range(4):
        rows.append(dict(method="baseline", seed=s, last_test_acc=90.0, last_test_acc_visual=weak_branch_joint + 1.1 * s,
                         probe_acc_visual=probe_joint + 0.5 * s))
        rows.append(dict(method="visual-only", seed=s, last_test_acc=weak_alone + s, last_test_acc_visual=weak_alone + s,
                         probe_acc_visual=probe_alone + 0.4 * s))
    return pd.DataFrame(rows)


def test_check_undertrained_holds_and_fails_where_it_should():
    from mmtheory.checks.realdata import check_undertrained

    starved = _runs(30.0, 70.0, 60.0, 72.0)
    assert check_undertrained(starved, probe="probe_acc_visual").status == "holds"
    fine = _runs(70.0, 70.0, 72.0, 72.0)  # the broken world: the joint branch as good as the view alone
    assert check_undertrained(fine, probe="probe_acc_visual").status != "holds"
    # a starved branch whose encoder probes as well as the unimodal one is not an under-trained encoder
    assert check_undertrained(_runs(30.0, 70.0, 72.0, 72.0), probe="probe_acc_visual").status != "holds"
    assert check_undertrained(_runs(30.0, 70.0, 72.0, 72.0)).status == "holds"


def test_check_ogmge_fusions_needs_every_fusion():
    import pandas as pd

    from mmtheory.checks.realdata import check_ogmge_fusions

    def runs(gain_sum):
        rows = []
        for f, gain in (("concat", 2.0), ("sum", gain_sum)):
            for s in range(4):
                rows.append(dict(fusion=f, method="baseline", seed=s, last_test_acc=80.0 + s))
                rows.append(dict(fusion=f, method="ogm-ge", seed=s, last_test_acc=80.0 + s + gain + 0.1 * s))
        return pd.DataFrame(rows)

    assert check_ogmge_fusions(runs(1.0)).status == "holds"
    assert check_ogmge_fusions(runs(-1.0)).status == "differs"
    with pytest.raises(ValueError, match="fusion"):
        check_ogmge_fusions(runs(1.0).drop(columns="fusion"))


def test_example_grid_is_the_chapters_grid():
    import tomllib

    from mmtheory.claims import repo_root
    from mmtheory.experiments.realdata import nested_sets
    from mmtheory.profiles import settings

    root = repo_root()
    if root is None:
        pytest.skip("not a source checkout")
    spec = tomllib.loads((root / "examples" / "sweep" / "mfeat.toml").read_text())
    quick = settings("11_real_data", "quick")
    assert spec["axes"]["set"] == ["+".join(s) for s in nested_sets(list(mfeat.VIEWS))]
    assert spec["axes"]["ratio"] == quick["ratios"] and spec["axes"]["seed"] == quick["seeds"]
    assert spec["fixed"]["epochs"] == quick["epochs"] and spec["fixed"]["refit_epochs"] == quick["refit_epochs"]


def test_the_ogm_pair_is_chosen_on_training_rows_only(data):
    """B2: the pair comes from a validation split of the training rows; the test rows are never read."""
    from mmtheory.experiments.realdata import validation_pair

    kw = dict(seeds=[0], seed=0, hidden=16, epochs=3, batch_size=512)
    strong, weak, acc = validation_pair(data.views, data.labels, data.train_mask, **kw)
    assert strong != weak and set(acc.index) == set(mfeat.VIEWS)
    assert acc[strong] == acc.max() and acc[weak] == acc.min()
    # poison every test row (features NaN, labels scrambled): the choice and the accuracies do not move
    test = ~data.train_mask
    views = {k: np.where(test[:, None], np.nan, v) for k, v in data.views.items()}
    labels = data.labels.copy()
    labels[test] = (labels[test] + 1) % 10
    again = validation_pair(views, labels, data.train_mask, **kw)
    assert again[:2] == (strong, weak)
    np.testing.assert_allclose(again[2].to_numpy(), acc.to_numpy())
    # the validation split is carved from the training rows: changing a training row changes the accuracies
    moved = {k: v.copy() for k, v in data.views.items()}
    moved[strong][data.train_mask] = 0.0
    assert validation_pair(moved, data.labels, data.train_mask, **kw)[2][strong] < acc[strong]
    with pytest.raises(ValueError, match="val_fraction"):
        validation_pair(data.views, data.labels, data.train_mask, val_fraction=1.0)
