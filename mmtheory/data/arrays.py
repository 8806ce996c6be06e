"""Views from a user's ``.npz`` file: one 2-D array per modality, ``labels``, optional ``train_mask``.

So that anyone can run the modality sweep (:func:`mmtheory.experiments.modality_sweep.modality_sweep`,
``python -m mmtheory sweep``) on their own data without writing code::

    np.savez("mydata.npz", text=X_text, audio=X_audio, labels=y, train_mask=is_train)

* every array other than ``labels`` and ``train_mask`` is a modality, ``(n, d_k)`` floats;
* ``labels``: ``(n,)`` non-negative integer class indices;
* ``train_mask``: ``(n,)`` booleans, True for training rows; absent, a seeded random
  ``test_fraction`` of the rows is held out (:func:`holdout_mask`).

The file is opened with ``allow_pickle=False``: arrays of Python objects are refused.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mmtheory._digest import file_digest  # noqa: F401  (re-exported)
from mmtheory.seeding import numpy_rng

LABELS, TRAIN_MASK = "labels", "train_mask"
RESERVED = (LABELS, TRAIN_MASK)


@dataclass
class ArrayViews:
    """Modality arrays with labels and a train/test split.

    Attributes
    ----------
    views : dict of str -> ndarray (n, d_k), float32
    labels : ndarray (n,), int64
    train_mask : ndarray (n,), bool
    source : str
        Where the data came from (the file's path, and whether the split was the file's own).
    """

    views: dict[str, np.ndarray]
    labels: np.ndarray
    train_mask: np.ndarray
    source: str

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.views)

    def __len__(self) -> int:
        return len(self.labels)


def holdout_mask(n: int, test_fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """Boolean ``(n,)`` training mask holding out ``round(test_fraction * n)`` rows (at least one each side)."""
    if not (0 < test_fraction < 1):
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction!r}.")
    if n < 2:
        raise ValueError(f"need at least 2 rows to split into training and test; got {n}.")
    n_test = int(min(n - 1, max(1, round(test_fraction * n))))
    mask = np.ones(n, dtype=bool)
    mask[numpy_rng(seed, "holdout").choice(n, size=n_test, replace=False)] = False
    return mask


def npz_nbytes(path: str | os.PathLike) -> int:
    """Uncompressed size in bytes of every array in an ``.npz``, read from the array headers only.

    A compressed archive of 1.5 MB can hold gigabytes of zeros: this is what loading it would take.

    Raises
    ------
    ValueError
        Not a readable ``.npz``.
    """
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                total += int(np.prod(shape, dtype=object)) * dtype.itemsize
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npz file ({exc}); write it with numpy.savez.") from None
    return total


def load_npz(path: str | os.PathLike, modalities: Sequence[str] | None = None, *, test_fraction: float = 0.2,
             split_seed: int = 0, max_bytes: int | None = None) -> ArrayViews:
    """Read views, labels and a split from an ``.npz``; one clear error per problem.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.
    modalities : sequence of str, optional
        Which modality arrays to keep (default: every array but ``labels``/``train_mask``, in file order).
    test_fraction, split_seed : float, int
        The held-out split used when the file has no ``train_mask``.
    max_bytes : int, optional
        Refuse an archive whose arrays take more bytes than this, uncompressed (checked from the
        headers, before anything is loaded).

    Returns
    -------
    ArrayViews

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an ``.npz``; larger than ``max_bytes``; ``labels`` missing; a modality with no column;
        values beyond float32's range; class indices larger than the row count; a requested modality missing; no modality; a modality not
        2-D or not numeric; rows that disagree with ``labels``; NaN or infinity; labels that are not
        non-negative integers; a ``train_mask`` that is not boolean of shape ``(n,)`` or leaves no
        training or no test row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; give the path of an .npz with one array per modality and "
                                f"'{LABELS}' (np.savez(path, text=X1, audio=X2, {LABELS}=y)).")
    if max_bytes is not None and zipfile.is_zipfile(path):
        nbytes = npz_nbytes(path)
        if nbytes > max_bytes:
            raise ValueError(f"{path} holds {nbytes / 2**30:.3g} GiB of arrays once uncompressed, more than the "
                             f"budget of {max_bytes / 2**30:.3g} GiB; nothing was loaded (raise the budget if this "
                             "is intended).")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a readable .npz file ({exc}); write it with numpy.savez.") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not an .npz archive; write it with "
                         f"np.savez(path, <modality>=X, ..., {LABELS}=y).")
    with npz:
        keys = list(npz.files)
        if LABELS not in keys:
            raise ValueError(f"{path} has no '{LABELS}' array (it has {keys}); add the class index of every row as "
                             f"'{LABELS}'.")
        available = [k for k in keys if k not in RESERVED]
        if modalities is None:
            names = available
        else:
            names = list(dict.fromkeys(modalities))
            missing = [m for m in names if m not in available]
            if missing:
                raise ValueError(f"{path} has no modality array(s) {missing}; its modalities are {available}.")
        if not names:
            raise ValueError(f"{path} holds no modality array, only {keys}; add one (n, d) array per modality.")
        try:
            arrays = {k: npz[k] for k in names + [k for k in RESERVED if k in keys]}
        except ValueError as exc:  # object arrays need pickle
            raise ValueError(f"{path}: {exc}; store numeric arrays only (object arrays are refused).") from None
    labels = arrays.pop(LABELS)
    if labels.ndim != 1:
        raise ValueError(f"'{LABELS}' must be 1-D (n,); got shape {labels.shape} in {path}.")
    n = len(labels)
    rows = {k: v.shape[0] if v.ndim else None for k, v in arrays.items()}
    bad_rows = {k: r for k, r in rows.items() if r != n}
    if bad_rows:
        raise ValueError(f"mismatched rows in {path}: '{LABELS}' has {n} but {bad_rows}; every array needs one row "
                         "per sample, in the same order.")
    views = {}
    for k in names:
        v = arrays[k]
        if v.ndim != 2:
            raise ValueError(f"modality '{k}' in {path} must be 2-D (n, features); got shape {v.shape} "
                             "(flatten or pool it first).")
        if v.dtype.kind not in "biuf":
            raise ValueError(f"modality '{k}' in {path} must be numeric; got dtype {v.dtype}.")
        if v.shape[1] == 0:
            raise ValueError(f"modality '{k}' in {path} has no column (shape {v.shape}); give it at least one "
                             "feature or leave it out.")
        finite = np.isfinite(v)
        if not finite.all():
            bad = np.flatnonzero(~finite.all(axis=1))
            raise ValueError(f"modality '{k}' in {path} has NaN or infinite values in {len(bad)} row(s) (first: "
                             f"{bad[:5].tolist()}); impute them or drop those rows from every array.")
        with np.errstate(over="ignore"):
            v32 = v.astype(np.float32, copy=False)
        if not np.isfinite(v32).all():
            bad = np.flatnonzero(~np.isfinite(v32).all(axis=1))
            raise ValueError(f"modality '{k}' in {path} has values beyond float32's range (|x| > "
                             f"{np.finfo(np.float32).max:.3g}) in {len(bad)} row(s) (first: {bad[:5].tolist()}); "
                             "rescale it (training runs in float32).")
        views[k] = v32
    if labels.dtype.kind == "f":
        if np.any(np.abs(labels[np.isfinite(labels)]) >= 2.0**62):
            raise ValueError(f"'{LABELS}' in {path} must be class indices 0..K-1; got values up to "
                             f"{np.nanmax(np.abs(labels)):.3g}.")
        if not np.all(np.isfinite(labels)):
            raise ValueError(f"'{LABELS}' in {path} has NaN or infinite values; every row needs a class index.")
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"'{LABELS}' in {path} must be integer class indices; got non-integer floats.")
    elif labels.dtype.kind not in "iub":
        raise ValueError(f"'{LABELS}' in {path} must be integer class indices; got dtype {labels.dtype}.")
    labels = labels.astype(np.int64)
    if n and labels.min() < 0:
        raise ValueError(f"'{LABELS}' in {path} must be >= 0 (class indices); got minimum {labels.min()}.")
    if n and labels.max() >= n:
        raise ValueError(f"'{LABELS}' in {path} go up to {labels.max()} with only {n} rows; class indices must be "
                         "0..K-1 with K classes (renumber them, e.g. np.unique(y, return_inverse=True)[1]).")
    if TRAIN_MASK in arrays:
        mask = arrays[TRAIN_MASK]
        if mask.dtype != bool or mask.shape != (n,):
            raise ValueError(f"'{TRAIN_MASK}' in {path} must be boolean of shape ({n},); "
                             f"got {mask.dtype} {mask.shape}.")
        if mask.all() or not mask.any():
            raise ValueError(f"'{TRAIN_MASK}' in {path} must leave both training (True) and test (False) rows.")
        source = f"{path} (its train_mask)"
    else:
        mask = holdout_mask(n, test_fraction, split_seed)
        source = f"{path} (held out {test_fraction:g} of the rows, seed {split_seed})"
    return ArrayViews(views, labels, mask, source)
