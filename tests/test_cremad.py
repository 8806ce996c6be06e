"""CREMA-D: the real preparation and loading code on tiny WAV/FLV files written here in the real layout."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmtheory.cli import main
from mmtheory.data import cremad
from mmtheory.data.torchdata import CremadBatches, CremadDataset

NAMES = ["1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_DFA_NEU_XX", "1003_TIE_SAD_LO",
         "1004_ITS_FEA_XX", "1005_IWW_DIS_MD", "1006_DFA_ANG_XX", "1007_DFA_HAP_XX"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("cremad")
    root = cremad.write_tiny_dataset(base / "root", NAMES)
    (root / "VideoFlash" / "1008_DFA_SAD_XX.flv").write_bytes(b"FLV\x01 not really a video")  # corrupt
    (root / "AudioWAV" / "1008_DFA_SAD_XX.wav").write_bytes((root / "AudioWAV" / f"{NAMES[0]}.wav").read_bytes())
    (root / "AudioWAV" / "1009_DFA_XXX_XX.wav").write_bytes(b"")  # misnamed and without video
    logs = []
    manifest = cremad.prepare(root, base / "cache", size=32, progress=False, log=logs.append)
    return base, root, manifest, logs


def test_clip_names_and_official_split():
    info = cremad.parse_name("AudioWAV/1076_MTI_SAD_XX.wav")
    assert (info.actor, info.sentence, info.emotion, info.level, info.label) == (1076, "MTI", "SAD", "XX", 2)
    with pytest.raises(ValueError, match="not a CREMA-D clip name"):
        cremad.parse_name("1076_MTI_BORED_XX")
    train, test = cremad.official_split("train"), cremad.official_split("test")
    assert (len(train), len(test)) == (6698, 744)
    assert not {n for n, _ in train} & {n for n, _ in test}
    assert all(cremad.parse_name(n).label == lab for n, lab in train + test)


def test_log_spectrogram_matches_torch_stft():
    rng = np.random.default_rng(0)
    wave = (0.5 * rng.standard_normal(30_000)).astype(np.float32)
    spec = cremad.log_spectrogram(wave)
    assert spec.shape == cremad.SPEC_SHAPE == (257, 188)
    x = np.clip(np.tile(wave, 3)[:66150], -1, 1)
    ref = torch.stft(torch.from_numpy(x).double(), 512, 353, window=torch.hann_window(512, dtype=torch.float64),
                     center=True, pad_mode="reflect", return_complex=True)
    np.testing.assert_allclose(spec, np.log(ref.abs().numpy() + 1e-7), atol=1e-4)


def test_audio_is_resampled_to_22050(tiny):
    _, root, _, _ = tiny
    wave = cremad.load_audio(root / "AudioWAV" / f"{NAMES[0]}.wav")
    assert wave.dtype == np.float32 and len(wave) == int(1.2 * 22050)


def test_prepare_reports_and_skips_bad_clips(tiny):
    base, _, manifest, logs = tiny
    assert manifest["n_ok"] == 8 and list(manifest["failed"]) == ["1008_DFA_SAD_XX"]
    assert any("1009_DFA_XXX_XX" in s for s in manifest["skipped"])
    assert any("skipped 1008_DFA_SAD_XX" in line for line in logs)
    cache = cremad.CremadCache(base / "cache")
    assert cache.spec.shape == (9, 257, 188) and cache.frames.shape == (9, 3, 32, 32, 3)
    ok = cache.ok
    assert ok.sum() == 8 and not ok[cache.names.index("1008_DFA_SAD_XX")]
    assert set(cache.n_frames[ok]) == {2}  # 1.2 s at 1 fps: frames at 0 s and 1 s
    label = cache.labels[0]  # the frame colour encodes the label (write_tiny_dataset)
    assert abs(int(cache.frames[0, 0, :, -1, 0].mean()) - 40 * label) <= 8


def test_prepare_resumes_and_refuses_an_incomplete_cache(tiny, tmp_path):
    _, root, _, _ = tiny
    cache_dir = tmp_path / "cache"
    cremad.prepare(root, cache_dir, size=16, progress=False, log=lambda s: None)
    full = np.array(np.load(cache_dir / "spec.npy"))
    status = np.load(cache_dir / "status.npy", mmap_mode="r+")
    status[[0, 3]] = 0  # as if interrupted before these clips
    status.flush()
    spec = np.load(cache_dir / "spec.npy", mmap_mode="r+")
    spec[[0, 3]] = 0
    spec.flush()
    (cache_dir / "manifest.json").unlink()
    with pytest.raises(cremad.CacheError, match="incomplete"):
        cremad.CremadCache(cache_dir)
    logs = []
    cremad.prepare(root, cache_dir, size=16, progress=False, log=logs.append)
    assert "resuming: 6 of 9 clips already done; retrying 1 that failed before" in logs[0]  # failed clips are retried
    np.testing.assert_array_equal(np.load(cache_dir / "spec.npy"), full)


def test_missing_root_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="AudioWAV/ and VideoFlash/"):
        cremad.prepare(tmp_path / "nowhere", tmp_path / "c")
    with pytest.raises(cremad.CacheError, match="prepare cremad"):
        cremad.CremadCache(tmp_path / "nowhere")


def test_splits_and_batches(tiny):
    base, _, _, _ = tiny
    cache = cremad.CremadCache(base / "cache")
    tr, te = cache.split("train", "actors", test_fraction=0.25), cache.split("test", "actors", test_fraction=0.25)
    assert not set(cache.actors[tr]) & set(cache.actors[te]) and len(tr) + len(te) == 8
    official = {n for n, _ in cremad.official_split("train")}
    idx = cache.split("train")  # the official list, restricted to what the cache holds
    assert 0 < len(idx) < 8 and all(cache.names[i] in official for i in idx)
    b = CremadBatches(cache, tr, batch_size=4, train=True, seed=1)
    x1, y1 = next(iter(b.epoch(0)))
    x2, y2 = next(iter(CremadBatches(cache, tr, batch_size=4, train=True, seed=1, preload=True).epoch(0)))
    assert x1["audio"].shape == (4, 257, 188) and x1["visual"].shape == (4, 3, 1, 32, 32)
    torch.testing.assert_close(x1["visual"], x2["visual"])
    torch.testing.assert_close(y1, y2)
    xe, _ = next(iter(CremadBatches(cache, te, batch_size=8).epoch(0)))
    torch.testing.assert_close(xe["audio"], torch.from_numpy(np.asarray(cache.spec[np.sort(te)], dtype=np.float32)))
    item, label = CremadDataset(cache, te)[0]
    assert item["visual"].shape == (3, 1, 32, 32) and label == cache.labels[te[0]]


def _train(cache, out, epochs, resume=False):
    return main(["train", "cremad", "--cache", str(cache), "--out", str(out), "--split", "actors",
                 "--epochs", str(epochs), "--width", "4", "--batch-size", "4", "--modulation-ends", "1"]
                + (["--resume"] if resume else []))


def test_cli_train_resume_loses_nothing(tiny, tmp_path, capsys):
    base, _, _, _ = tiny
    assert _train(base / "cache", tmp_path / "straight", 2) == 0
    assert _train(base / "cache", tmp_path / "resumed", 1) == 0
    assert _train(base / "cache", tmp_path / "resumed", 2, resume=True) == 0
    a = json.loads((tmp_path / "straight" / "history.json").read_text())
    b = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert a == b and len(a) == 2
    wa = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k])
    best = torch.load(tmp_path / "straight" / "best.pt", weights_only=True)
    assert best["test_acc"] == max(r["test_acc"] for r in a)
    summary = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert {"best_test_acc", "last_test_acc", "device"} <= set(summary)
    assert _train(base / "cache", tmp_path / "straight", 2) == 2  # exists: refuses without --resume
    assert "--resume" in capsys.readouterr().err


def test_cli_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--method {baseline,ogm,ogm-ge}" in out and "--resume" in out


def test_chapter_runs_on_a_real_format_cache(tmp_path):
    """The CREMA-D chapter's real-data branch, end to end: official split, four runs, claims recorded."""
    papermill = pytest.importorskip("papermill")
    import nbformat

    train = [n for n, _ in cremad.official_split("train")][:6]
    test = [n for n, _ in cremad.official_split("test")][:3]
    root = cremad.write_tiny_dataset(tmp_path / "CREMA-D", train + test, seconds=1.1)
    cremad.prepare(root, tmp_path / "cache", size=32, progress=False, log=lambda s: None)
    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(repo / "notebooks" / "09_ogm_cremad.ipynb"), str(out), cwd=str(repo / "notebooks"), kernel_name="python3",
        progress_bar=False, parameters=dict(cremad_cache=str(tmp_path / "cache"), runs_dir=str(tmp_path / "runs"),
                                            epochs=1, width=4, batch_size=4, results_dir=str(tmp_path / "res")))
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "DATA: CREMA-D cache" in text and "DATA: none" not in text
    for run in ("audio-only", "visual-only", "baseline", "ogm-ge"):
        summary = json.loads((tmp_path / "runs" / run / "summary.json").read_text())
        assert summary["n_train"] == 6 and summary["n_test"] == 3 and summary["split"] == "official"
    for cid in ("P22-imbalance", "P22-ogmge", "P22-weak-branch"):
        # non-default settings (epochs=1, width=4...): recorded apart from the quick profile's records
        found = list((tmp_path / "res").rglob(f"{cid}.json"))
        assert len(found) == 1 and "custom" in found[0].parts, found
        rec = json.loads(found[0].read_text())
        assert rec["data"] == "CREMA-D"


def test_default_runs_dir_lies_in_the_results_folder_and_follows_the_settings(tmp_path, monkeypatch):
    from mmtheory.experiments.cremad import default_runs_dir

    monkeypatch.chdir(tmp_path)  # never relative to the kernel's working directory
    a = default_runs_dir("quick", tmp_path / "res", params={"seed": 0, "epochs": 2})
    assert a.is_absolute() and a.parent == (tmp_path / "res" / "quick" / "runs").resolve()
    assert a == default_runs_dir("quick", tmp_path / "res", params={"epochs": 2, "seed": 0})
    assert a != default_runs_dir("quick", tmp_path / "res", params={"seed": 3, "epochs": 2})
    monkeypatch.setenv("MMTHEORY_RESULTS_DIR", str(tmp_path / "env"))
    assert default_runs_dir("full").parent == (tmp_path / "env" / "full" / "runs").resolve()


def test_paper_runs_reuse_finished_runs_and_extend_them(tmp_path):
    from mmtheory.experiments.cremad import DEMO_CLIPS, PAPER_RUNS, demo_cache, paper_runs, results_table

    cache = demo_cache(tmp_path / "demo", size=16)
    kw = dict(width=4, batch_size=4, split="actors")
    dirs = paper_runs(cache, tmp_path / "runs", epochs=1, **kw)
    assert set(dirs) == set(PAPER_RUNS) and len(cremad.CremadCache(cache)) == len(DEMO_CLIPS)
    stamp = {k: (d / "history.json").stat().st_mtime_ns for k, d in dirs.items()}
    paper_runs(cache, tmp_path / "runs", epochs=1, **kw)  # finished: nothing retrained
    assert stamp == {k: (d / "history.json").stat().st_mtime_ns for k, d in dirs.items()}
    paper_runs(cache, tmp_path / "runs", epochs=2, **kw)  # one more epoch: resumed from the checkpoints
    table = results_table(dirs)
    assert list(table["epochs"]) == [2, 2, 2, 2] and table.loc[table["run"] == "ogm-ge", "paper_test_acc"].item() == 61.9
