"""The IEMOCAP reader on tiny files in the real formats, written here; the stand-in; the error messages."""

import pickle

import numpy as np
import pytest

from mmtheory.data import iemocap


def _tiny_tuple(rng, dims=(100, 100, 512), lengths=None):
    lengths = lengths or {"Ses01F_a": 3, "Ses01M_b": 2, "Ses05F_c": 4}
    ids = list(lengths)
    labels = {v: [int(x) for x in rng.integers(0, 6, n)] for v, n in lengths.items()}
    # the public file stores each utterance's features as a list/array per utterance
    feats = [{v: [rng.standard_normal(d).astype(np.float32) for _ in range(n)] for v, n in lengths.items()} for d in dims]
    speakers = {v: ["M", "F"][:1] * n for v, n in lengths.items()}
    sentences = {v: ["hello"] * n for v, n in lengths.items()}
    return ({v: [f"{v}_{i}" for i in range(n)] for v, n in lengths.items()}, speakers, labels,
            feats[0], feats[1], feats[2], sentences, set(ids[:2]), set(ids[2:]))


def _write(path, obj, protocol=2):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def test_reads_the_public_pickle_format(tmp_path):
    rng = np.random.default_rng(0)
    obj = _tiny_tuple(rng)
    data = iemocap.load(_write(tmp_path / "IEMOCAP_features_raw.pkl", obj))
    assert {k: v.shape for k, v in data.views.items()} == {"text": (9, 100), "audio": (9, 100), "video": (9, 512)}
    assert data.counts() == {"train": 5, "test": 4, "train_utterances": 5, "test_utterances": 4}
    np.testing.assert_array_equal(data.labels[:3], obj[2]["Ses01F_a"])
    np.testing.assert_allclose(data.views["video"][3], obj[5]["Ses01M_b"][0])
    assert not data.is_standin and data.source.startswith("IEMOCAP")


def test_padded_mode_reproduces_the_paper_counting(tmp_path):
    rng = np.random.default_rng(1)
    data = iemocap.load(_write(tmp_path / "f.pkl", _tiny_tuple(rng)), padding="padded")
    assert data.counts() == {"train": 220, "test": 110, "train_utterances": 5, "test_utterances": 4}
    assert np.all(data.views["text"][data.is_padding] == 0) and np.all(data.labels[data.is_padding] == 0)
    with pytest.raises(ValueError, match="padding must be"):
        iemocap.load(tmp_path / "f.pkl", padding="masked")


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned",))

    path = _write(tmp_path / "evil.pkl", (Evil(),) * 9)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to unpickle (posix|os)\.system"):
        iemocap.load(path)


def test_malformed_files_give_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="expected the 9-tuple"):
        iemocap.load(_write(tmp_path / "a.pkl", (1, 2, 3)))
    (tmp_path / "b.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="not a readable IEMOCAP feature pickle"):
        iemocap.load(tmp_path / "b.pkl")
    obj = list(_tiny_tuple(np.random.default_rng(2)))
    obj[3] = dict(obj[3])
    obj[3]["Ses01F_a"] = obj[3]["Ses01F_a"][:2]  # one utterance short
    with pytest.raises(ValueError, match=r"dialogue 'Ses01F_a': text features have shape \(2, 100\); expected \(3, d\)"):
        iemocap.load(_write(tmp_path / "c.pkl", tuple(obj)))
    obj = list(_tiny_tuple(np.random.default_rng(2)))
    del obj[4]["Ses05F_c"]
    with pytest.raises(ValueError, match=r"dialogue 'Ses05F_c' of the test split is missing from \['videoAudio'\]"):
        iemocap.load(_write(tmp_path / "d.pkl", tuple(obj)))


@pytest.mark.parametrize("case, edit, match", [
    ("fractional label", lambda o: o[2]["Ses01F_a"].__setitem__(0, 2.5), "label 2.5 is not a class index"),
    ("nan label", lambda o: o[2]["Ses01F_a"].__setitem__(0, float("nan")), "label nan is not a class index"),
    ("dialogue twice in trainVid", lambda o: o.__setitem__(7, ["Ses01F_a", "Ses01M_b", "Ses01F_a"]),
     r"trainVid lists dialogue\(s\) \['Ses01F_a'\] more than once"),
])
def test_careless_pickles_are_one_clear_error(tmp_path, case, edit, match):
    """Before: a label 2.5 was truncated to 2, a dialogue listed twice counted its utterances twice."""
    obj = list(_tiny_tuple(np.random.default_rng(3)))
    edit(obj)
    with pytest.raises(ValueError, match=match):
        iemocap.load(_write(tmp_path / "careless.pkl", tuple(obj)))


def test_missing_file_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(iemocap.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match="no IEMOCAP feature file given.*sail.usc.edu.*MMTHEORY_IEMOCAP"):
        iemocap.load()
    with pytest.raises(FileNotFoundError, match="not found at .*nope.pkl"):
        iemocap.load(tmp_path / "nope.pkl")
    path = _write(tmp_path / "f.pkl", _tiny_tuple(np.random.default_rng(3)))
    monkeypatch.setenv(iemocap.ENV_VAR, str(path))
    assert len(iemocap.load().labels) == 9


def test_npz_format(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "feats.npz"
    np.savez(path, text=rng.standard_normal((6, 4)), audio=rng.standard_normal((6, 2)),
             labels=np.array([0, 1, 2, 3, 4, 5]), split=np.array(["train"] * 4 + ["test"] * 2))
    data = iemocap.load(path)
    assert sorted(data.views) == ["audio", "text"] and data.counts()["test"] == 2
    np.savez(tmp_path / "bad.npz", text=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"needs arrays \['labels', 'split'\]"):
        iemocap.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad2.npz", text=np.ones((2, 2)), labels=np.array([0, 9]), split=np.array(["train", "test"]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\]"):
        iemocap.load(tmp_path / "bad2.npz")
    np.savez(tmp_path / "bad3.npz", text=np.array([[np.nan, 1.0]]), labels=np.array([0]), split=np.array(["train"]))
    with pytest.raises(ValueError, match="NaN"):
        iemocap.load(tmp_path / "bad3.npz")


def test_standin_shapes_and_labels():
    data = iemocap.standin(0)
    assert {k: v.shape[1] for k, v in data.views.items()} == {"text": 100, "audio": 100, "video": 512}
    c = data.counts()
    assert 5000 < c["train"] < 7000 and 1200 < c["test"] < 2000
    assert set(np.unique(data.labels)) == set(range(6)) and data.is_standin
    np.testing.assert_array_equal(iemocap.standin(0).views["text"], data.views["text"])
    assert len(np.unique(data.dialogue[data.split == "train"])) == 120
    with pytest.raises(ValueError, match="same modalities"):
        iemocap.standin(0, dims={"text": 4}, signal={"audio": 1.0})


def test_chapter_runs_on_a_real_format_file(tmp_path):
    """The IEMOCAP chapter's real-data branch, end to end, on a tiny file in the public pickle format."""
    papermill = pytest.importorskip("papermill")
    from pathlib import Path

    rng = np.random.default_rng(5)
    lengths = {f"Ses0{i}X_{j}": int(rng.integers(15, 30)) for i in range(1, 6) for j in range(2)}
    obj = list(_tiny_tuple(rng, lengths=lengths))
    obj[7], obj[8] = set(list(lengths)[:7]), set(list(lengths)[7:])
    path = _write(tmp_path / "IEMOCAP_features_raw.pkl", tuple(obj))
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(root / "notebooks" / "04_iemocap.ipynb"), str(out), cwd=str(root / "notebooks"), kernel_name="python3",
        progress_bar=False,
        parameters=dict(iemocap_path=str(path), seeds=[0, 1], seed_cap=2, epochs=2, refit_epochs=2, results_dir=str(tmp_path / "res")))
    import nbformat

    nb = nbformat.read(out, as_version=4)
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/html", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "DATA: IEMOCAP IEMOCAP_features_raw.pkl" in text and "STAND-IN" not in text
    assert "ours, padded" in text  # both padding modes shown with the real file
    # non-default settings (seeds, epochs): recorded apart from the quick profile's committed records
    assert len(list((tmp_path / "res").rglob("H21-iemocap-t3.json"))) == 1
    assert not list((tmp_path / "res").rglob("H21-standin-t3.json"))
    assert not (tmp_path / "res" / "quick" / "claims").exists()
