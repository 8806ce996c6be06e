"""Input checks shared by the package: one clear message per mistake."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np


def check_finite(name: str, array: np.ndarray) -> np.ndarray:
    """Raise ``ValueError`` if ``array`` holds NaN or infinity, naming where."""
    array = np.asarray(array)
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s); clean or impute them before calling "
            "(for example np.nan_to_num, or drop the affected samples)."
        )
    return array


def check_unit_interval(name: str, value: float) -> float:
    """Return ``value`` as float if it lies in [0, 1], else raise ``ValueError``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}.") from None
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1] (1: all modalities share everything, 0: nothing); got {value}.")
    return value


def check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}.")
    return int(value)


def check_modalities(subset: Iterable[str] | str, valid: Sequence[str]) -> tuple[str, ...]:
    """Validate a modality subset against the valid names; return it in canonical order.

    Parameters
    ----------
    subset : iterable of str
        The requested modalities, e.g. ``("m1", "m3")``.
    valid : sequence of str
        All modality names, in canonical order.

    Returns
    -------
    tuple of str
        The subset, deduplicated, in the order of ``valid``.
    """
    if isinstance(subset, str):
        subset = (subset,)
    subset = tuple(subset)
    if len(subset) == 0:
        raise ValueError(f"the modality subset is empty; choose at least one of {list(valid)}.")
    unknown = [m for m in subset if m not in valid]
    if unknown:
        raise ValueError(f"unknown modality name(s) {unknown}; valid names are {list(valid)}.")
    return tuple(m for m in valid if m in subset)


def check_views(views: Mapping[str, np.ndarray], y: np.ndarray | None = None) -> int:
    """Check a dict of per-modality arrays (n, d_k) (and targets) share one sample count; return it."""
    if not views:
        raise ValueError("views is empty; pass a dict mapping modality name to an (n_samples, n_features) array.")
    counts = {}
    for name, arr in views.items():
        arr = np.asarray(arr)
        if arr.ndim != 2:
            raise ValueError(f"view {name!r} must be 2-D (n_samples, n_features); got shape {arr.shape}.")
        check_finite(f"view {name!r}", arr)
        counts[name] = arr.shape[0]
    if y is not None:
        y = np.asarray(y)
        check_finite("y", y)
        counts["y"] = y.shape[0]
    if len(set(counts.values())) != 1:
        raise ValueError(f"mismatched sample counts {counts}; every view and y need the same number of rows.")
    return next(iter(counts.values()))
