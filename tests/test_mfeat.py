"""UCI Multiple Features: the vendored files' hashes and shapes, the stratified split, a corrupted file's
message, the .npz export, and that the real-data chapter's claims are registered as real data."""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil

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
    assert "claims.record(" in src and "data=mfeat.DATA_LABEL" in src
    assert "stand-in" not in src.split("claims.record(")[1].split(")")[0]
