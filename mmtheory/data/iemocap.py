"""IEMOCAP pre-extracted features (Huang et al. 2021, Experiment 1): reader, padding modes and a stand-in.

The features are licensed and never shipped. :func:`load` reads the file a user points at:

* the common public pickle ``IEMOCAP_features_raw.pkl`` (Python 2, latin-1): a 9-tuple
  ``(videoIDs, videoSpeakers, videoLabels, videoText, videoAudio, videoVisual, videoSentence,
  trainVid, testVid)`` of dicts keyed by dialogue id, one entry per utterance; unpickling is
  restricted to builtins and numpy arrays (:class:`RestrictedUnpickler`), anything else is refused;
* or a plain ``.npz`` with one 2-D array per modality (``text``, ``audio``, ``video``) plus
  ``labels`` (n,), ``split`` (n,, ``"train"``/``"test"``) and optionally ``dialogue`` (n,).

:func:`standin` makes data of the same shapes (6 classes, 100/100/512 features, about the real split
sizes) whose modalities differ in how informative they are. Everything computed on it is labelled
"stand-in"; it never passes for IEMOCAP.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmtheory._validation import check_finite, check_positive_int

CLASSES = ("hap", "sad", "neu", "ang", "exc", "fru")
MODALITIES = ("text", "audio", "video")
#: One-letter names used by the paper's tables (T, A, V).
LETTERS = {"T": "text", "A": "audio", "V": "video"}
#: The paper's modality sets (Tables 1-3) as tuples of our modality names.
PAPER_SETS = {"T": ("text",), "TV": ("text", "video"), "TA": ("text", "audio"), "TVA": ("text", "audio", "video")}
ENV_VAR = "MMTHEORY_IEMOCAP"
PADDED_LENGTH = 110  # the paper's counts: 120 x 110 = 13,200 train and 31 x 110 = 3,410 test slots

_HOW_TO_GET = (
    "IEMOCAP is licensed by USC SAIL (request access at https://sail.usc.edu/iemocap/); the pre-extracted "
    "features used by the paper are the file IEMOCAP_features_raw.pkl distributed with DialogueRNN-style code. "
    f"Pass its path as `path=...` (papermill: -p iemocap_path /path/to/file) or set ${ENV_VAR}."
)


@dataclass
class MultimodalDataset:
    """Per-utterance features of several modalities with labels and a train/test split.

    Attributes
    ----------
    views : dict of str -> ndarray (n, d_k), float32
    labels : ndarray (n,), int64 in [0, n_classes)
    split : ndarray (n,), str: "train" or "test"
    dialogue : ndarray (n,), str
    is_padding : ndarray (n,), bool
        True for the zero slots added by ``padding="padded"``.
    source : str
        Where the data came from ("IEMOCAP <path>", "stand-in (seed 0)", ...).
    """

    views: dict
    labels: np.ndarray
    split: np.ndarray
    dialogue: np.ndarray
    is_padding: np.ndarray
    source: str
    classes: tuple = CLASSES
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name, v in self.views.items():
            if v.ndim != 2 or v.shape[0] != n:
                raise ValueError(f"view {name!r} has shape {v.shape}; expected ({n}, d).")
            check_finite(f"view {name!r}", v)
        for name in ("split", "dialogue", "is_padding"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries; expected {n}.")
        bad = set(np.unique(self.split)) - {"train", "test"}
        if bad:
            raise ValueError(f"split holds {sorted(bad)}; only 'train' and 'test' are allowed.")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"labels must lie in [0, {len(self.classes) - 1}]; got {self.labels.min()}..{self.labels.max()}.")

    @property
    def is_standin(self) -> bool:
        return self.source.startswith("stand-in")

    def counts(self) -> dict:
        """Samples per split, with and without padding slots."""
        real = ~self.is_padding
        return {s: int(np.sum(self.split == s)) for s in ("train", "test")} | {
            f"{s}_utterances": int(np.sum((self.split == s) & real)) for s in ("train", "test")}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked to build something other than builtins containers and numpy arrays."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only builtins containers and numpy arrays/scalars.

    Anything else (a class, a function, ``os.system``...) raises ``pickle.UnpicklingError`` naming it,
    so a tampered file cannot run code.
    """

    ALLOWED = {
        ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "list"), ("builtins", "dict"),
        ("builtins", "tuple"), ("builtins", "bytearray"), ("builtins", "complex"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        # Python 2 pickles name builtins "__builtin__" (and so on): judge the Python 3 name.
        key = (module, name)
        if key in _compat_pickle.NAME_MAPPING:
            key = _compat_pickle.NAME_MAPPING[key]
        elif module in _compat_pickle.IMPORT_MAPPING:
            key = (_compat_pickle.IMPORT_MAPPING[module], name)
        if key in self.ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"refusing to unpickle {module}.{name}: an IEMOCAP feature file holds only builtins and numpy arrays. "
            "If this file is genuine, convert it to .npz (see mmtheory.data.iemocap) and load that instead."
        )


def restricted_load(raw: bytes):
    """Unpickle ``raw`` with :class:`RestrictedUnpickler` (latin-1 for Python 2 pickles)."""
    return RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()


def resolve_path(path: str | os.PathLike | None) -> Path:
    """The feature file: ``path`` or ``$MMTHEORY_IEMOCAP``; a clear error if neither exists."""
    if path is None or str(path) == "":
        path = os.environ.get(ENV_VAR)
    if path is None or str(path) == "":
        raise FileNotFoundError(f"no IEMOCAP feature file given. {_HOW_TO_GET}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"IEMOCAP feature file not found at {path}. {_HOW_TO_GET}")
    return path


def load(path: str | os.PathLike | None = None, *, padding: str = "utterances") -> MultimodalDataset:
    """Read IEMOCAP features (``.pkl`` in the public format, or ``.npz``).

    Parameters
    ----------
    path : path-like, optional
        The file; default ``$MMTHEORY_IEMOCAP``.
    padding : {"utterances", "padded"}
        ``"utterances"`` (default): real utterances only (about 5,810 train / 1,623 test).
        ``"padded"``: every dialogue padded to 110 slots with zero features and label 0, as a model
        that does not mask padding sees them; this reproduces the paper's 13,200 / 3,410 counts.

    Returns
    -------
    MultimodalDataset
    """
    if padding not in ("utterances", "padded"):
        raise ValueError(f"padding must be 'utterances' or 'padded', got {padding!r}.")
    path = resolve_path(path)
    if path.suffix == ".npz":
        data = _from_npz(path)
    else:
        data = _from_pickle(path)
    return pad_dialogues(data) if padding == "padded" else data


def _from_pickle(path: Path) -> MultimodalDataset:
    try:
        obj = restricted_load(path.read_bytes())
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated or not a pickle at all
        raise ValueError(f"{path} is not a readable IEMOCAP feature pickle ({type(exc).__name__}: {exc}).") from None
    if not isinstance(obj, tuple) or len(obj) != 9:
        raise ValueError(
            f"{path}: expected the 9-tuple (videoIDs, videoSpeakers, videoLabels, videoText, videoAudio, "
            f"videoVisual, videoSentence, trainVid, testVid); got {type(obj).__name__}"
            + (f" of length {len(obj)}" if isinstance(obj, (tuple, list)) else "") + "."
        )
    _, _, labels, text, audio, visual, _, train_vid, test_vid = obj
    for name, d in (("videoLabels", labels), ("videoText", text), ("videoAudio", audio), ("videoVisual", visual)):
        if not isinstance(d, dict):
            raise ValueError(f"{path}: {name} must be a dict keyed by dialogue id; got {type(d).__name__}.")
    train_vid, test_vid = sorted(train_vid), sorted(test_vid)
    overlap = set(train_vid) & set(test_vid)
    if overlap:
        raise ValueError(f"{path}: dialogues in both train and test: {sorted(overlap)[:5]}.")
    rows = {m: [] for m in MODALITIES}
    y, split, dialogue = [], [], []
    for part, ids in (("train", train_vid), ("test", test_vid)):
        for vid in ids:
            missing = [n for n, d in (("videoLabels", labels), ("videoText", text), ("videoAudio", audio),
                                      ("videoVisual", visual)) if vid not in d]
            if missing:
                raise ValueError(f"{path}: dialogue {vid!r} of the {part} split is missing from {missing}.")
            n_utt = len(labels[vid])
            for m, d in zip(MODALITIES, (text, audio, visual)):
                arr = np.asarray(d[vid], dtype=np.float32)
                if arr.ndim != 2 or arr.shape[0] != n_utt:
                    raise ValueError(f"{path}: dialogue {vid!r}: {m} features have shape {arr.shape}; "
                                     f"expected ({n_utt}, d), one row per utterance.")
                rows[m].append(arr)
            y.extend(int(v) for v in labels[vid])
            split.extend([part] * n_utt)
            dialogue.extend([str(vid)] * n_utt)
    if not y:
        raise ValueError(f"{path}: no utterances in trainVid/testVid.")
    try:
        views = {m: np.concatenate(rows[m], axis=0) for m in MODALITIES}
    except ValueError as exc:
        raise ValueError(f"{path}: feature dimensions differ between dialogues ({exc}).") from None
    n = len(y)
    return MultimodalDataset(views, np.asarray(y, dtype=np.int64), np.asarray(split), np.asarray(dialogue),
                             np.zeros(n, dtype=bool), f"IEMOCAP {path.name}")


def _from_npz(path: Path) -> MultimodalDataset:
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc}).") from None
    with npz:
        keys = set(npz.files)
        need = {"labels", "split"}
        if not need <= keys:
            raise ValueError(f"{path}: a feature .npz needs arrays {sorted(need)} and one 2-D array per modality; "
                             f"found {sorted(keys)}.")
        views = {k: np.asarray(npz[k], dtype=np.float32) for k in sorted(keys - {"labels", "split", "dialogue"})}
        if not views:
            raise ValueError(f"{path}: no modality arrays (anything besides labels, split, dialogue).")
        labels = np.asarray(npz["labels"]).astype(np.int64)
        split = np.asarray(npz["split"]).astype(str)
        dialogue = np.asarray(npz["dialogue"]).astype(str) if "dialogue" in keys else np.arange(len(labels)).astype(str)
    return MultimodalDataset(views, labels, split, dialogue, np.zeros(len(labels), dtype=bool), f"features {path.name}")


def pad_dialogues(data: MultimodalDataset, length: int = PADDED_LENGTH) -> MultimodalDataset:
    """Pad every dialogue to ``length`` slots (zero features, label 0, ``is_padding`` True)."""
    length = check_positive_int("length", length)
    order = np.arange(len(data.labels))
    views = {m: [] for m in data.views}
    labels, split, dialogue, pad = [], [], [], []
    _, first = np.unique(data.dialogue, return_index=True)
    for d in data.dialogue[np.sort(first)]:
        idx = order[data.dialogue == d]
        if len(idx) > length:
            raise ValueError(f"dialogue {d!r} has {len(idx)} utterances, more than the padded length {length}.")
        extra = length - len(idx)
        for m, v in data.views.items():
            views[m].append(np.vstack([v[idx], np.zeros((extra, v.shape[1]), dtype=v.dtype)]))
        labels.append(np.concatenate([data.labels[idx], np.zeros(extra, dtype=np.int64)]))
        split.append(np.full(length, data.split[idx[0]]))
        dialogue.append(np.full(length, d))
        pad.append(np.concatenate([data.is_padding[idx], np.ones(extra, dtype=bool)]))
    return MultimodalDataset({m: np.concatenate(v) for m, v in views.items()}, np.concatenate(labels),
                             np.concatenate(split), np.concatenate(dialogue), np.concatenate(pad),
                             data.source + f" (padded to {length})", data.classes, dict(data.info))


#: Class frequencies of IEMOCAP's six-class setting (approximate, used only by the stand-in).
_CLASS_FREQ = np.array([0.08, 0.15, 0.22, 0.15, 0.14, 0.26])


def standin(
    seed: int = 0,
    *,
    n_train_dialogues: int = 120,
    n_test_dialogues: int = 31,
    mean_length: float = 48.0,
    dims: dict | None = None,
    signal: dict | None = None,
    confusion: float = 0.6,
) -> MultimodalDataset:
    """Synthetic data shaped like IEMOCAP's features, with modalities of different informativeness.

    Each class has a random mean per modality; a sample is ``signal[m] * mean[y] + noise`` plus a
    per-dialogue offset (speaker/session effect). Pairs of confusable classes (hap/exc, ang/fru,
    neu/sad) share a fraction ``confusion`` of their means, so accuracy stays far from 100 %. Default
    signal strengths were set once so that full-data accuracies fall in the paper's range (about 50-55 %
    with the paper's model); they were not tuned to reproduce the paper's orderings. Text is the most
    informative per dimension; video has 512 weak dimensions, so it can hurt with very little data.

    Parameters
    ----------
    seed : int
    n_train_dialogues, n_test_dialogues : int
        Dialogues per split (IEMOCAP: 120 / 31).
    mean_length : float
        Mean utterances per dialogue (IEMOCAP: about 48).
    dims, signal : dict, optional
        Feature sizes (default text 100, audio 100, video 512) and signal strengths per modality.
    confusion : float in [0, 1)
    """
    dims = dict(dims or {"text": 100, "audio": 100, "video": 512})
    signal = dict(signal or {"text": 0.2, "audio": 0.1, "video": 0.085})
    if set(dims) != set(signal):
        raise ValueError(f"dims and signal must name the same modalities; got {sorted(dims)} and {sorted(signal)}.")
    rng = np.random.default_rng(seed)
    n_dialogues = check_positive_int("n_train_dialogues", n_train_dialogues) + check_positive_int(
        "n_test_dialogues", n_test_dialogues)
    lengths = np.clip(rng.poisson(mean_length, size=n_dialogues), 8, PADDED_LENGTH)
    n = int(lengths.sum())
    y = rng.choice(len(CLASSES), size=n, p=_CLASS_FREQ)
    dialogue_of = np.repeat(np.arange(n_dialogues), lengths)
    split = np.where(dialogue_of < n_train_dialogues, "train", "test")
    partner = np.array([4, 2, 1, 5, 0, 3])  # hap<->exc, sad<->neu, ang<->fru
    views = {}
    for m in dims:
        base = rng.standard_normal((len(CLASSES), dims[m]))
        means = (1 - confusion) * base + confusion * 0.5 * (base + base[partner])
        offsets = 0.3 * rng.standard_normal((n_dialogues, dims[m]))
        x = signal[m] * means[y] + offsets[dialogue_of] + rng.standard_normal((n, dims[m]))
        views[m] = x.astype(np.float32)
    info = dict(seed=seed, dims=dims, signal=signal, confusion=confusion)
    return MultimodalDataset(views, y.astype(np.int64), split, np.array([f"d{i:03d}" for i in dialogue_of]),
                             np.zeros(n, dtype=bool), f"stand-in (seed {seed})", CLASSES, info)
