"""Small helpers for the pages: deterministic set-up and stable, readable tables."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd


def setup(seed: int = 0, threads: int | None = 1) -> None:
    """Seed Python, numpy and torch, and fix torch's thread count (same numbers on every run)."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def tidy(df: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Round float columns and turn ``-0.0`` into ``0.0`` so a table prints the same on every run."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(decimals) + 0.0
    return out


def mean_std(df: pd.DataFrame, by: str, columns: dict[str, str], scale: float = 1.0, decimals: int = 2,
             order: list | None = None) -> pd.DataFrame:
    """Group ``df`` by ``by`` and show each column as ``"mean ± std"`` (std over the group; "" when missing).

    ``columns`` maps column names to display names; ``scale`` multiplies first (100 for percent).
    """
    g = df.groupby(by)[list(columns)]
    mean, std = g.mean() * scale, g.std() * scale
    out = pd.DataFrame(index=mean.index)
    for col, name in columns.items():
        out[name] = [("" if pd.isna(m) else f"{m:.{decimals}f} ± {0.0 if pd.isna(s) else s:.{decimals}f}")
                     for m, s in zip(mean[col], std[col])]
    return out.reindex(order) if order is not None else out


def describe_profile(cfg: dict) -> str:
    """One line for the top of a page: which profile produced it, with its settings."""
    items = ", ".join(f"{k}={v}" for k, v in cfg.items() if k != "profile")
    return f"This page was produced with the '{cfg['profile']}' profile ({items})."


#: One palette for every chapter's figures.
PALETTE = "colorblind"


def set_style() -> None:
    """The book's figure style (seaborn 'whitegrid', colour-blind palette, sizes readable at page width)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update({"figure.figsize": (7.0, 4.0), "figure.dpi": 100, "savefig.bbox": "tight",
                         "axes.titleweight": "bold"})
