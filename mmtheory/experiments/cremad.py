"""CREMA-D with the official OGM-GE recipe: one training run per method, and the results table."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from mmtheory import params as P
from mmtheory._digest import params_digest
from mmtheory._io import atomic_write_json
from mmtheory._validation import check_positive_int
from mmtheory.data import cremad
from mmtheory.data.cremad import CremadCache
from mmtheory.data.torchdata import CremadBatches
from mmtheory.models.late_fusion import LateFusionClassifier, audio_visual_resnet18
from mmtheory.models.resnet import AudioEncoder, VisualEncoder
from mmtheory.papers import PENG_CREMAD
from mmtheory.seeding import derive_seed
from mmtheory.train.late_fusion import CheckpointError, TrainConfig, TrainResult, check_acc_unit, check_same_run, fit

#: What each of our runs is compared with in the paper's table.
PAPER_ROW = {"audio-only": "audio-only", "baseline": "concat baseline", "ogm-ge": "concat + OGM-GE"}


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else CPU; otherwise the named device, checked to exist.

    Raises
    ------
    ValueError
        For a device name torch does not know, or a CUDA device this machine does not have (before
        anything is built or written).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ValueError(f"--device {device}: no CUDA GPU is available here (torch {torch.__version__}, {build}). "
                             "Use --device cpu (or auto), or install a CUDA build of torch on a GPU machine.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered 0..{torch.cuda.device_count() - 1}.")
    elif dev.type != "cpu":
        raise ValueError(f"--device {device}: only cpu and cuda devices are supported.")
    return dev


def default_runs_dir(profile: str, results_dir: str | os.PathLike | None = None, params: dict | None = None) -> Path:
    """Where the CREMA-D runs of a profile go by default: ``<results folder>/<profile>/runs/cremad-<hash>``.

    The results folder is resolved as the claim records' (``results_dir``, else
    ``$MMTHEORY_RESULTS_DIR``, else ``results/`` of the checkout), never relative to the kernel's
    working directory. ``<hash>`` is a digest of ``params`` (the chapter's resolved settings), so a
    re-run with other settings (``-p seed 3``) trains in its own folder instead of being refused by the
    runs of the defaults; the same settings find and reuse their runs. ``results/*/runs/`` is git-ignored.
    """
    from mmtheory.claims import resolve_results_dir

    tag = params_digest(params or {}, 10)
    return resolve_results_dir(results_dir).resolve() / profile / "runs" / f"cremad-{tag}"


_D = P.defaults(P.CREMAD)  # the recipe's defaults, declared once in mmtheory.params
_MODALITIES = tuple(_D["modalities"].split("+"))


def run_settings(cache: CremadCache, modalities: Sequence[str] = _MODALITIES, fusion: str = _D["fusion"],
                 width: int = _D["width"], head_init: str = _D["head_init"], batch_size: int = _D["batch_size"],
                 split: str = _D["split"]) -> tuple[dict, np.ndarray, np.ndarray]:
    """Every setting of a CREMA-D run outside :class:`TrainConfig`, and the split's cache indices.

    Returns
    -------
    run : dict
        ``modalities``, ``fusion`` (as built: ``concat`` for one modality), ``width``, ``head_init``,
        ``batch_size``, ``split`` and the cache's identity (``cache``, ``n_train``, ``n_test``): stored
        with the run, compared on resume and on reuse.
    train, test : ndarray of int
        Cache indices.
    """
    mods = tuple(modalities)
    check_positive_int("width", width)
    check_positive_int("batch_size", batch_size)
    tr, te = cache.split("train", split), cache.split("test", split)
    run = {"modalities": list(mods), "fusion": fusion if len(mods) > 1 else "concat", "width": int(width),
           "head_init": head_init, "batch_size": int(batch_size), "split": split, "cache": cache.identity,
           "n_train": int(len(tr)), "n_test": int(len(te))}
    return run, tr, te


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


def config_from_settings(settings: dict) -> tuple[TrainConfig, dict]:
    """A :class:`TrainConfig` and :func:`train_cremad`'s keywords from flat settings (names of
    :data:`mmtheory.params.CREMAD`, whose defaults fill what is left out); each value is checked there."""
    unknown = sorted(set(settings) - set(P.CREMAD))
    if unknown:
        raise ValueError(f"unknown CREMA-D setting(s) {unknown}; the settings are {sorted(P.CREMAD)}.")
    s = {**P.defaults(P.CREMAD), **{k: P.check(P.CREMAD[k], v) for k, v in settings.items()}}
    ogm = {"variant": s["variant"], "start_epoch": s["modulation_start"], "end_epoch": s["modulation_end"],
           "params": s["params"], "noise_on": s["noise_on"]}
    cfg = TrainConfig(method=s["method"], epochs=s["epochs"], optimizer=s["optimizer"], lr=s["lr"],
                      lr_step=s["lr_step"], lr_gamma=s["lr_gamma"], alpha=s["alpha"], ogm=ogm, seed=s["seed"])
    kwargs = dict(modalities=tuple(s["modalities"].split("+")), fusion=s["fusion"], width=s["width"],
                  batch_size=s["batch_size"], split=s["split"], device=s["device"], preload=s["preload"],
                  head_init=s["head_init"])
    return cfg, kwargs


def train_cremad(cache: str | os.PathLike, out: str | os.PathLike, cfg: TrainConfig, *, modalities=_MODALITIES,
                 fusion: str = _D["fusion"], width: int = _D["width"], batch_size: int = _D["batch_size"],
                 split: str = _D["split"], device: str = _D["device"], preload: bool = _D["preload"],
                 resume: bool = False, head_init: str = _D["head_init"], dist=None) -> TrainResult:
    """Train one model on a prepared cache; writes checkpoint, history and summary into ``out``.

    Every setting (``cfg`` and :func:`run_settings`: model, batch size, split, cache identity) is
    stored in the checkpoint and the summary; ``resume=True`` refuses any difference, naming it.
    ``dist`` (a :class:`~mmtheory.train.distributed.DistContext`, under torchrun): this rank's device,
    its shard of every global batch of ``batch_size``, DistributedDataParallel, rank 0 writes.
    """
    cfg.validate()  # bad settings and devices are refused before anything is read or built
    dev = dist.device(device) if dist is not None else pick_device(device)
    cache = CremadCache(cache)
    mods = tuple(modalities)
    run, tr, te = run_settings(cache, mods, fusion, width, head_init, batch_size, split)
    cfg = dataclasses.replace(cfg, run={**cfg.run, **run}).validate()
    torch.manual_seed(derive_seed(cfg.seed, "init"))  # model initialisation (host); GE noise has its own stream
    model = build_model(modalities, fusion, width, head_init=head_init)
    train = _Only(CremadBatches(cache, tr, batch_size, train=True, seed=cfg.seed, device=dev, preload=preload), mods)
    test = _Only(CremadBatches(cache, te, 2 * batch_size, train=False, device=dev, preload=preload), mods)
    result = fit(model, train, test, cfg, device=dev, out_dir=out, resume=resume, desc=f"CREMA-D {cfg.method if len(mods) > 1 else mods[0] + '-only'}",
                 dist=dist)
    if dist is not None and not dist.is_main:
        return result
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

    def shard(self, rank: int, world_size: int) -> "_Only":
        """This rank's shard (see :meth:`CremadBatches.shard`)."""
        return _Only(self.batches.shard(rank, world_size), self.modalities)


#: The runs of the paper's CREMA-D table: name -> (modalities, method).
PAPER_RUNS = {"audio-only": (("audio",), "baseline"), "visual-only": (("visual",), "baseline"),
              "baseline": (("audio", "visual"), "baseline"), "ogm-ge": (("audio", "visual"), "ogm-ge")}


def paper_runs(cache: str | os.PathLike, runs_dir: str | os.PathLike, *, epochs: int, lr: float = 1e-3,
               alpha: float = 0.8, modulation_end: int = 50, width: int = 64, batch_size: int = 64, seed: int = 0,
               split: str = "official", device: str = "auto", head_init: str = "xavier") -> dict[str, Path]:
    """Train (or finish, or reuse) the four runs of :data:`PAPER_RUNS`, each in ``runs_dir/<name>``.

    A finished run with exactly these settings (every one, see :func:`run_settings`) and ``epochs``
    epochs is reused; an interrupted one, or one with fewer epochs, resumes from its checkpoint. A run
    folder holding a run with other settings, or more epochs, is refused with a message naming the
    difference (its history would otherwise be reported under the new settings). Returns
    ``{name: folder}`` for :func:`results_table`.
    """
    dirs = {}
    cache_obj = CremadCache(cache)
    for name, (mods, method) in PAPER_RUNS.items():
        folder = Path(runs_dir) / name
        dirs[name] = folder
        cfg = TrainConfig(method=method, epochs=epochs, lr=lr, alpha=alpha, ogm={"end_epoch": modulation_end}, seed=seed)
        summary = folder / "summary.json"
        if summary.exists():
            run, _, _ = run_settings(cache_obj, mods, "concat", width, head_init, batch_size, split)
            try:
                stored = json.loads(summary.read_text())
                done = len(json.loads((folder / "history.json").read_text()))
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"{folder} holds an unreadable run ({exc}); delete the folder to train it "
                                      "again.") from None
            check_acc_unit(stored, summary)
            check_same_run(stored.get("config"), dataclasses.replace(cfg, run=run), summary, done=done)
            if done == epochs:
                continue
        train_cremad(cache_obj.path, folder, cfg, modalities=mods, width=width, batch_size=batch_size, split=split,
                     device=device, resume=(folder / "checkpoint.pt").exists(), head_init=head_init)
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
    the audio-only run). Accuracies in percent, named as in every result frame of the package:
    ``paper_test_acc``, ``best_test_acc``, ``last_test_acc``, ``last_test_acc_visual``.
    """
    rows = []
    for name, d in run_dirs.items():
        path = Path(d) / "summary.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m mmtheory train cremad --out {d} ...` first.")
        s = json.loads(path.read_text())
        check_acc_unit(s, path)
        paper = PENG_CREMAD.get(PAPER_ROW.get(name, ""), float("nan"))
        rows.append({"run": name, "paper_test_acc": paper, "best_test_acc": s["best_test_acc"],
                     "last_test_acc": s["last_test_acc"],
                     "last_test_acc_visual": s.get("last_test_acc_visual", float("nan")),
                     "best_epoch": s["best_epoch"], "n_test": s.get("n_test"),
                     "epochs": s["config"]["epochs"], "device": s.get("device_name", "")})
    return pd.DataFrame(rows)
