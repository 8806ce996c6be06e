r"""The composite framework of Huang et al. (2021, Sec. 3): subsets of modalities and the map :math:`p_M`.

A sample is a tuple of views :math:`x = (x^{(1)}, \dots, x^{(K)})`; a model sees only the views in a
subset :math:`\mathcal M \subseteq [K]`, the others being "missing" (:math:`\bot`). For linear
encoders a missing view is equivalent to a zero block, which is how :math:`\mathcal G_{\mathcal N}
\subseteq \mathcal G_{\mathcal M}` for :math:`\mathcal N \subseteq \mathcal M` becomes literal: an
encoder of :math:`\mathcal N` is an encoder of :math:`\mathcal M` whose weights on the extra views are 0.
"""

from __future__ import annotations

from itertools import combinations
from typing import Iterable, Mapping, Sequence

import numpy as np

from mmtheory._validation import check_modalities, check_views


def subset_map(
    views: Mapping[str, np.ndarray], modalities: Iterable[str] | str, *, missing: str = "zero"
) -> dict:
    r"""The map :math:`p_M`: keep the views in ``modalities``; mark the others missing.

    Parameters
    ----------
    views : dict of str -> ndarray (n, d_k)
    modalities : iterable of str
        The observed subset M (validated against ``views``).
    missing : {"zero", "drop"}
        ``"zero"`` replaces a missing view by zeros of the same shape (fixed input size, so that
        G_N is literally a subset of G_M); ``"drop"`` leaves it out of the returned dict.

    Returns
    -------
    dict of str -> ndarray
    """
    check_views(views)
    chosen = check_modalities(modalities, tuple(views))
    if missing == "drop":
        return {m: np.asarray(views[m]) for m in chosen}
    if missing == "zero":
        return {m: (np.asarray(v) if m in chosen else np.zeros_like(v)) for m, v in views.items()}
    raise ValueError(f"missing must be 'zero' or 'drop', got {missing!r}.")


def concat_views(views: Mapping[str, np.ndarray], modalities: Iterable[str] | str) -> np.ndarray:
    """Concatenate the views of ``modalities`` (canonical order) into one (n, sum d_k) float64 array."""
    observed = subset_map(views, modalities, missing="drop")
    return np.concatenate([np.asarray(v, dtype=np.float64) for v in observed.values()], axis=1)


def all_subsets(modalities: Sequence[str], *, min_size: int = 1) -> list[tuple[str, ...]]:
    """Every subset of ``modalities`` with at least ``min_size`` elements, by size then canonical order."""
    modalities = tuple(modalities)
    return [c for r in range(min_size, len(modalities) + 1) for c in combinations(modalities, r)]


def set_label(modalities: Iterable[str]) -> str:
    """Short label of a subset: ``("m1", "m2")`` -> ``"m1,m2"``."""
    return ",".join(modalities)
