"""CREMA-D with the official OGM-GE recipe: one training run per method, and the results table."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from mmtheory._io import atomic_write_json
from mmtheory.data import cremad
from mmtheory.data.cremad import CremadCache
from mmtheory.data.torchdata import CremadBatches
from mmtheory.models.late_fusion import LateFusionClassifier, audio_visual_resnet18
from mmtheory.models.resnet import AudioEncoder, VisualEncoder
from mmtheory.papers import PENG_CREMAD
from mmtheory.train.late_fusion import TrainConfig, TrainResult, fit

#: What each of our runs is compared with in the paper's table.
PAPER_ROW = {"audio-only": "audio-only", "baseline": "concat baseline", "ogm-ge": "concat + OGM-GE"}


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else CPU; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def build_model(modalities: Sequence[str] = ("audio", "visual"), fusion: str = "concat", width: int = 64,
                n_classes: int = 6, head_init: str = "xavier") -> LateFusionClassifier:
    """The CREMA-D model (ResNet-18 per modality); a single modality gives the unimodal baseline.

    ``head_init``: the fusion head's initialisation (``"xavier"``, the official code's, or ``"torch"``).
    """
    if tuple(modalities) == ("audio", "visual"):
        return audio_visual_resnet18(n_classes, fusion, width, head_init=head_init)
    enc = {"audio": AudioEncoder, "visual": VisualEncoder}
    bad = [m for m in modalities if m not in enc]
    if bad or not modalities:
        raise ValueError(f"unknown modalities {bad or list(modalities)}; choose from ['audio', 'visual'].")
    return LateFusionClassifier({m: enc[m](width) for m in modalities}, n_classes, "concat", head_init=head_init)


def train_cremad(cache: str | os.PathLike, out: str | os.PathLike, cfg: TrainConfig, *, modalities=("audio", "visual"),
                 fusion: str = "concat", width: int = 64, batch_size: int = 64, split: str = "official",
                 device: str = "auto", preload: bool = False, resume: bool = False,
                 head_init: str = "xavier") -> TrainResult:
    """Train one model on a prepared cache; writes checkpoint, history and summary into ``out``."""
    cache = CremadCache(cache)
    dev = pick_device(device)
    torch.manual_seed(cfg.seed)
    model = build_model(modalities, fusion, width, head_init=head_init)
    tr, te = cache.split("train", split), cache.split("test", split)
    mods = tuple(modalities)
    train = _Only(CremadBatches(cache, tr, batch_size, train=True, seed=cfg.seed, device=dev, preload=preload), mods)
    test = _Only(CremadBatches(cache, te, 2 * batch_size, train=False, device=dev, preload=preload), mods)
    result = fit(model, train, test, cfg, device=dev, out_dir=out, resume=resume, desc=f"CREMA-D {cfg.method}")
    meta = {"modalities": list(mods), "fusion": fusion, "width": width, "head_init": head_init,
            "batch_size": batch_size, "split": split,
            "n_train": int(len(tr)), "n_test": int(len(te)), "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"}
    summary_path = Path(out) / "summary.json"
    summary = json.loads(summary_path.read_text())
    atomic_write_json(summary_path, {**summary, **meta})
    return result


class _Only:
    """Keep only some modalities of each batch (unimodal runs read the same cache)."""

    def __init__(self, batches: CremadBatches, modalities: tuple[str, ...]) -> None:
        self.batches, self.modalities = batches, modalities

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self, epoch: int):
        for x, y in self.batches.epoch(epoch):
            yield {m: x[m] for m in self.modalities}, y


#: The runs of the paper's CREMA-D table: name -> (modalities, method).
PAPER_RUNS = {"audio-only": (("audio",), "baseline"), "visual-only": (("visual",), "baseline"),
              "baseline": (("audio", "visual"), "baseline"), "ogm-ge": (("audio", "visual"), "ogm-ge")}


def paper_runs(cache: str | os.PathLike, runs_dir: str | os.PathLike, *, epochs: int, lr: float = 1e-3,
               alpha: float = 0.8, modulation_end: int = 50, width: int = 64, batch_size: int = 64, seed: int = 0,
               split: str = "official", device: str = "auto") -> dict[str, Path]:
    """Train (or finish, or reuse) the four runs of :data:`PAPER_RUNS`, each in ``runs_dir/<name>``.

    A run whose history already has ``epochs`` epochs is reused; an interrupted one resumes from its
    checkpoint. Returns ``{name: folder}`` for :func:`results_table`.
    """
    dirs = {}
    for name, (mods, method) in PAPER_RUNS.items():
        folder = Path(runs_dir) / name
        dirs[name] = folder
        history = folder / "history.json"
        if (folder / "summary.json").exists() and history.exists() and len(json.loads(history.read_text())) >= epochs:
            continue
        cfg = TrainConfig(method=method, epochs=epochs, lr=lr, alpha=alpha, ogm={"end_epoch": modulation_end}, seed=seed)
        train_cremad(cache, folder, cfg, modalities=mods, width=width, batch_size=batch_size, split=split,
                     device=device, resume=(folder / "checkpoint.pt").exists())
    return dirs


#: Clip names of the generated demo set (two from each of a few actors, all six emotions).
DEMO_CLIPS = ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_DFA_NEU_XX", "1003_TIE_SAD_LO",
              "1004_ITS_FEA_XX", "1005_IWW_DIS_MD", "1006_DFA_ANG_XX", "1007_DFA_HAP_XX")


def demo_cache(folder: str | os.PathLike, size: int = 32) -> Path:
    """Write :data:`DEMO_CLIPS` as real WAV/FLV files in the CREMA-D layout and prepare them: returns the cache.

    The content is synthetic (tones and coloured frames); it exercises every step, not the task.
    """
    folder = Path(folder)
    cremad.write_tiny_dataset(folder / "CREMA-D", DEMO_CLIPS)
    cremad.prepare(folder / "CREMA-D", folder / "cache", size=size, progress=False, log=lambda s: None)
    return folder / "cache"


def results_table(run_dirs: dict[str, str | os.PathLike]) -> pd.DataFrame:
    """Paper vs ours, one row per run: ``{"baseline": dir, "ogm-ge": dir, "audio-only": dir, ...}``.

    Both the best-epoch accuracy (selected on the test set, as the official script does) and the
    last-epoch accuracy are reported, with the last epoch's accuracy of the visual branch (NaN for
    the audio-only run).
    """
    rows = []
    for name, d in run_dirs.items():
        path = Path(d) / "summary.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m mmtheory train cremad --out {d} ...` first.")
        s = json.loads(path.read_text())
        paper = PENG_CREMAD.get(PAPER_ROW.get(name, ""), float("nan"))
        rows.append({"run": name, "paper_acc": paper, "best_acc": 100 * s["best_test_acc"],
                     "last_acc": 100 * s["last_test_acc"],
                     "last_visual_branch": 100 * s.get("last_test_acc_visual", float("nan")),
                     "best_epoch": s["best_epoch"],
                     "epochs": s["config"]["epochs"], "device": s.get("device_name", "")})
    return pd.DataFrame(rows)
