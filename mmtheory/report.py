"""Small helpers for the pages: deterministic set-up and stable, readable tables."""

from __future__ import annotations

import os
import random

import numpy as np
import pandas as pd

from mmtheory.parallel import THREAD_VARS
from mmtheory.seeding import derive_seed

#: Environment variable that overrides ``threads`` of :func:`setup` (used by the test that runs a
#: chapter with 1 and with 2 threads and checks that nbval sees the same outputs).
THREADS_ENV = "MMTHEORY_THREADS"
_limits = None  # the threadpoolctl limiter, kept alive for the life of the kernel


def setup(seed: int = 0, threads: int | None = 1) -> dict:
    """Seed every generator and pin every thread pool, so a page gives the same numbers on any machine.

    Python's ``random``, numpy's legacy global generator, torch's CPU generator and torch's device
    generators each get their own seed, spawned from ``seed`` by :mod:`mmtheory.seeding` (host and
    device generators never share one). ``threads`` pins torch's intra-op threads *and*, through
    threadpoolctl, every BLAS/OpenMP pool loaded in the process (OpenBLAS/MKL of numpy and scipy,
    torch's OpenMP), so reductions are done in the same order whatever the core count.

    Parameters
    ----------
    seed : int
        The page's seed (non-negative).
    threads : int or None
        Threads of every pool (default 1); ``None`` leaves the pools alone. ``$MMTHEORY_THREADS``,
        when set, overrides it.

    Returns
    -------
    dict
        ``{"seed": ..., "threads": ..., "pools": [{"internal_api": ..., "num_threads": ...}, ...]}``:
        what was set.
    """
    global _limits
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            threads = int(env)
        except ValueError:
            raise ValueError(f"${THREADS_ENV} must be a positive integer; got {env!r}.") from None
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None; got {threads!r}.")
    random.seed(derive_seed(seed, "python-random", bits=32))
    np.random.seed(derive_seed(seed, "numpy-global", bits=32))
    pools: list[dict] = []
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None:
        torch.manual_seed(derive_seed(seed, "torch-host"))  # also seeds the device generators...
        torch.cuda.manual_seed_all(derive_seed(seed, "torch-device"))  # ...which get their own seed
        if threads is not None:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        import scipy.linalg  # noqa: F401  (loads scipy's own BLAS now, so that it is pinned too)
        from threadpoolctl import threadpool_info, threadpool_limits

        for var in THREAD_VARS:  # libraries loaded later, and subprocesses, read these
            os.environ[var] = str(threads)
        _limits = threadpool_limits(limits=threads)
        pools = [{"internal_api": p["internal_api"], "num_threads": p["num_threads"]} for p in threadpool_info()]
    return {"seed": seed, "threads": threads, "pools": pools}


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
