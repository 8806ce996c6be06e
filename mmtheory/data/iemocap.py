"""IEMOCAP pre-extracted features (Huang et al. 2021, Experiment 1): reader, padding modes and a stand-in.

The features are licensed and never shipped. :func:`load` reads the file a user points at:

* the common public pickle ``IEMOCAP_features_raw.pkl`` (Python 2, latin-1): a 9-tuple
  ``(videoIDs, videoSpeakers, videoLabels, videoText, videoAudio, videoVisual, videoSentence,
  trainVid, testVid)`` of dicts keyed by dialogue id, one entry per utterance; unpickling is
  restricted to builtins containers and numpy arrays/scalars of plain numeric or string dtypes
  (:class:`RestrictedUnpickler` says exactly what it accepts), anything else is refused;
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
from mmtheory.seeding import numpy_rng

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
    """A pickle asked to build something other than builtins containers and plain numeric/string arrays."""


#: dtype kinds an IEMOCAP feature file may hold: bool, integers, floats, complex, bytes and unicode strings.
SAFE_DTYPE_KINDS = frozenset("biufcSU")


def _refuse(what: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"refusing to unpickle {what}: an IEMOCAP feature file holds only builtins and plain numeric or string "
        "numpy arrays. If this file is genuine, convert it to .npz (see mmtheory.data.iemocap) and load that instead."
    )


def _raw_bytes(raw, what: str) -> bytes:
    """The raw buffer of a pickled array or scalar (Python 2 pickles read with latin-1 give ``str``)."""
    if isinstance(raw, str):
        try:
            return raw.encode("latin1")
        except UnicodeEncodeError:
            raise _refuse(f"{what} whose raw data is not a byte string") from None
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    raise _refuse(f"{what} whose raw data is a {type(raw).__name__} (object arrays are not allowed)")


def safe_dtype(spec, byteorder: str | None = None) -> np.dtype:
    """A fresh ``np.dtype(spec)`` if it is a plain numeric or string dtype, else :class:`UnsafePickleError`.

    Parameters
    ----------
    spec : str or bytes
        What numpy's pickles pass to the dtype constructor (``"f8"``, ``"U10"``, ``"b1"``...).
    byteorder : {"<", ">", "|", "="}, optional
        Byte order to apply.

    Returns
    -------
    numpy.dtype
        Of kind in :data:`SAFE_DTYPE_KINDS`: no objects, no fields, no sub-arrays, no datetimes, no void.
    """
    if isinstance(spec, bytes):
        spec = spec.decode("latin1")
    if not isinstance(spec, str) or len(spec) > 16:
        raise _refuse(f"a numpy dtype built from {type(spec).__name__} {spec!r:.40}")
    try:
        dt = np.dtype(spec)
    except (TypeError, ValueError):
        raise _refuse(f"the numpy dtype {spec!r}") from None
    if dt.kind not in SAFE_DTYPE_KINDS or dt.hasobject or dt.fields is not None or dt.subdtype is not None:
        raise _refuse(f"the numpy dtype {spec!r} (kind {dt.kind!r})")
    if byteorder is not None:
        if byteorder not in ("<", ">", "|", "="):
            raise _refuse(f"a numpy dtype with byte order {byteorder!r}")
        if byteorder != "|":
            dt = dt.newbyteorder(byteorder)
    return dt


def _check_plain_dtype(dt: np.dtype, what: str) -> np.dtype:
    """Second line of defence: ``dt`` must equal, flags included, a fresh dtype of the same kind."""
    if not isinstance(dt, np.dtype):
        raise _refuse(f"{what} with dtype {type(dt).__name__}")
    fresh = np.dtype(dt.str)
    if (dt.kind not in SAFE_DTYPE_KINDS or dt.hasobject or dt != fresh or dt.flags != fresh.flags
            or dt.itemsize != fresh.itemsize or dt.fields is not None or dt.subdtype is not None):
        raise _refuse(f"{what} with dtype {dt!r} (flags {dt.flags})")
    return dt


class _PickledDtype:
    """Stands for ``numpy.dtype(spec, align, copy)`` while unpickling; its state is checked, never applied.

    numpy's ``dtype.__setstate__`` lets a pickle set the item flags and size of a dtype (clearing the
    "holds objects" flag of an object dtype, say), which turns raw bytes into pointers. Here the state
    must equal what numpy itself writes for a fresh dtype of that kind, and the dtype handed on is fresh.
    """

    __hash__ = None  # never a dict key or set member

    def __init__(self, spec, align=False, copy=True) -> None:
        # numpy writes (spec, False, True); numpy 1.x under Python 2 wrote the integers (spec, 0, 1)
        if type(align) not in (bool, int) or type(copy) not in (bool, int) or align not in (0, 1) or copy not in (0, 1):
            raise _refuse("a numpy dtype with non-boolean align/copy arguments")
        if align:
            raise _refuse("an aligned numpy dtype")
        self.spec = spec
        self.dtype = safe_dtype(spec)
        self._set = False

    def __setstate__(self, state) -> None:
        if self._set:
            raise _refuse("a numpy dtype whose state is set twice")
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise _refuse(f"a numpy dtype with an unexpected state {state!r:.80}")
        dt = safe_dtype(self.spec, state[1])
        expected = dt.__reduce__()[2]
        # compare field by field, as Python values (True == 1 would let a bool stand for a flag)
        if len(state) != len(expected) or any(type(a) is not type(b) or a != b for a, b in zip(state, expected)):
            raise _refuse(f"a numpy dtype {self.spec!r} with altered state {state!r:.80} (expected {expected!r})")
        self.dtype = dt
        self._set = True

    def resolve(self, what: str) -> np.dtype:
        return _check_plain_dtype(self.dtype, what)


def _resolve_dtype(dt, what: str) -> np.dtype:
    if isinstance(dt, _PickledDtype):
        return dt.resolve(what)
    raise _refuse(f"{what} whose dtype is a {type(dt).__name__}")


class _ArrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: accepted only as the first argument of ``_reconstruct``."""

    __hash__ = None

    def __call__(self, *args, **kwargs):
        raise _refuse("a direct call of numpy.ndarray (arrays over arbitrary buffers)")


_NDARRAY = _ArrayClass()


class _PickledArray:
    """Stands for an array made by ``numpy.core.multiarray._reconstruct`` until its state arrives.

    The state ``(version, shape, dtype, is_fortran, rawdata)`` is checked and a fresh, owned array of a
    plain dtype is built from the bytes; :func:`restricted_load` swaps these stand-ins for the arrays.
    """

    __hash__ = None

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state) -> None:
        if self.array is not None:
            raise _refuse("a numpy array whose state is set twice")
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _refuse(f"a numpy array with an unexpected state of type {type(state).__name__}")
        if len(state) == 5:
            if state[0] != 1 or type(state[0]) is not int:
                raise _refuse(f"a numpy array with state version {state[0]!r}")
            state = state[1:]
        shape, dt, fortran, raw = state
        if (not isinstance(shape, tuple) or len(shape) > 32
                or any(type(n) is not int or n < 0 for n in shape)):
            raise _refuse(f"a numpy array with shape {shape!r:.80}")
        if type(fortran) not in (bool, int) or fortran not in (0, 1):
            raise _refuse("a numpy array with a non-boolean order flag")
        dt = _resolve_dtype(dt, "a numpy array")
        raw = _raw_bytes(raw, "a numpy array")
        size = 1
        for n in shape:
            size *= n
        if len(raw) != size * dt.itemsize:
            raise _refuse(f"a numpy array of shape {shape} and dtype {dt} over {len(raw)} bytes "
                          f"(needs {size * dt.itemsize})")
        arr = np.frombuffer(raw, dtype=dt, count=size).reshape(shape, order="F" if fortran else "C").copy(order="K")
        self.array = _check_array(arr)


def _check_array(arr: np.ndarray) -> np.ndarray:
    if type(arr) is not np.ndarray or not arr.flags.owndata:
        raise _refuse("a numpy array that does not own its data")
    _check_plain_dtype(arr.dtype, "a numpy array")
    return arr


def _reconstruct(subtype, shape, typecode):
    """Checked stand-in for ``numpy.core.multiarray._reconstruct`` (plain ``ndarray`` only)."""
    if subtype is not _NDARRAY:
        raise _refuse(f"an array of type {getattr(subtype, '__name__', type(subtype).__name__)}")
    return _PickledArray()


def _frombuffer(buf, dt, shape, order):
    """Checked stand-in for ``numpy._core.numeric._frombuffer`` (protocol-5 pickles of plain arrays)."""
    dt = _resolve_dtype(dt, "a numpy array")
    if isinstance(buf, pickle.PickleBuffer):
        buf = bytes(buf.raw())
    arr = _PickledArray()
    if order not in ("C", "F"):
        raise _refuse(f"a numpy array with order {order!r:.20}")
    holder = _PickledDtype.__new__(_PickledDtype)
    holder.spec, holder.dtype, holder._set = dt.str, dt, True
    arr.__setstate__((1, shape, holder, order == "F", buf))
    return arr


def _scalar(dt, raw=None):
    """Checked stand-in for ``numpy.core.multiarray.scalar``: a numeric or string scalar from its bytes."""
    dt = _resolve_dtype(dt, "a numpy scalar")
    raw = _raw_bytes(raw, "a numpy scalar")
    if len(raw) != dt.itemsize:
        raise _refuse(f"a numpy scalar of dtype {dt} over {len(raw)} bytes (needs {dt.itemsize})")
    value = np.frombuffer(raw, dtype=dt, count=1).copy()[0]
    _check_plain_dtype(value.dtype, "a numpy scalar")
    return value


def _swap_arrays(obj, seen: dict):
    """Replace every :class:`_PickledArray` stand-in in builtins containers by its array."""
    key = id(obj)
    if key in seen:
        return seen[key]
    if isinstance(obj, _PickledArray):
        if obj.array is None:
            raise _refuse("a numpy array whose state never arrived")
        seen[key] = obj.array
        return obj.array
    if isinstance(obj, (_PickledDtype, _ArrayClass)):
        raise _refuse("a bare numpy dtype or ndarray class in the data")
    if isinstance(obj, list):
        seen[key] = obj
        obj[:] = [_swap_arrays(v, seen) for v in obj]
        return obj
    if isinstance(obj, dict):
        seen[key] = obj
        for k in list(obj):
            obj[k] = _swap_arrays(obj[k], seen)
        return obj
    if isinstance(obj, tuple):
        out = tuple(_swap_arrays(v, seen) for v in obj)
        seen[key] = out
        return out
    return obj  # str, bytes, numbers, numpy scalars, sets/frozensets (their members are hashable: no stand-ins)


def _checked_bytes_args(kind: str, args: tuple) -> tuple:
    """``bytes``/``bytearray`` as pickles of numpy and Python 2 call them: ``()``, ``(str, "latin1")`` or a
    bytes-like copy. An integer (``bytearray(10**12)``: a 35-byte pickle asking for any amount of memory)
    or any other argument is refused."""
    if not args:
        return ()
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        return args
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return args
    raise _refuse(f"builtins.{kind} with arguments of types {[type(a).__name__ for a in args]} (only (), "
                  "(str, 'latin1') or bytes are read)")


def _safe_bytes(*args) -> bytes:
    return bytes(*_checked_bytes_args("bytes", args))


def _safe_bytearray(*args) -> bytearray:
    return bytearray(*_checked_bytes_args("bytearray", args))


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only builtins containers and plain numeric/string numpy arrays and scalars.

    What it accepts: ``set``, ``frozenset``, ``list``, ``dict``, ``tuple``, ``complex``, ``bytes`` and
    ``bytearray`` of ``()``, ``(str, "latin1")`` or bytes only (never of an integer: a size to allocate),
    ``_codecs.encode`` (how protocol 2 stores bytes) and numpy arrays and scalars whose dtype is a plain
    bool, integer, float, complex, bytes or unicode string (:data:`SAFE_DTYPE_KINDS`) in numpy's own
    pickle layout. numpy's classes are never handed to the pickle: ``dtype``, ``ndarray``,
    ``_reconstruct`` and ``scalar`` are replaced by checked stand-ins, so a dtype's state cannot be
    altered (object flags cleared, item size changed) and an array cannot be laid over raw bytes as
    pointers. Anything else (a class, a function, ``os.system``, object or structured dtypes...) raises
    :class:`UnsafePickleError` naming it, so a tampered file can neither run code nor corrupt memory.
    """

    _BUILTINS = {
        ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "list"), ("builtins", "dict"),
        ("builtins", "tuple"), ("builtins", "complex"), ("_codecs", "encode"),
    }
    _NUMPY = {
        ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _PickledDtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct, ("numpy.core.multiarray", "scalar"): _scalar,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct, ("numpy._core.multiarray", "scalar"): _scalar,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer, ("numpy._core.numeric", "_frombuffer"): _frombuffer,
        ("builtins", "bytes"): _safe_bytes, ("builtins", "bytearray"): _safe_bytearray,
    }
    ALLOWED = _BUILTINS | set(_NUMPY)

    def find_class(self, module: str, name: str):
        # Python 2 pickles name builtins "__builtin__" (and so on): judge the Python 3 name.
        key = (module, name)
        if key in _compat_pickle.NAME_MAPPING:
            key = _compat_pickle.NAME_MAPPING[key]
        elif module in _compat_pickle.IMPORT_MAPPING:
            key = (_compat_pickle.IMPORT_MAPPING[module], name)
        if key in self._NUMPY:
            return self._NUMPY[key]
        if key in self._BUILTINS:
            return super().find_class(module, name)
        raise _refuse(f"{module}.{name}")

    def persistent_load(self, pid):
        raise _refuse("a persistent id")


def restricted_load(raw: bytes):
    """Unpickle ``raw`` with :class:`RestrictedUnpickler` (latin-1 for Python 2 pickles).

    Returns builtins containers holding numbers, strings, plain numeric/string numpy arrays (fresh,
    owned copies) and numpy scalars; raises :class:`UnsafePickleError` for anything else.
    """
    obj = RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    return _swap_arrays(obj, {})


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
    for part, ids in (("trainVid", train_vid), ("testVid", test_vid)):
        ids = list(ids)
        twice = sorted({str(v) for v in ids if ids.count(v) > 1})
        if twice:
            raise ValueError(f"{path}: {part} lists dialogue(s) {twice[:5]} more than once; each dialogue must be "
                             "listed once (its utterances would count twice).")
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
            y.extend(_class_index(v, path, vid) for v in labels[vid])
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


def _class_index(value, path: Path, where) -> int:
    """A label as an int class index; a fractional, non-finite or non-numeric label is one error (never truncated)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {where}: label {value!r} is not a class index (an integer).") from None
    if not np.isfinite(f) or f != int(f) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{path}: {where}: label {value!r} is not a class index (an integer); labels are never "
                         "truncated.")
    return int(f)


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
        labels = np.asarray([_class_index(v, path, "labels") for v in np.asarray(npz["labels"]).ravel()],
                            dtype=np.int64)
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
    rng = numpy_rng(seed, "iemocap-standin")
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
