"""Rademacher-complexity experiments: estimator vs enumeration, decay with m, growth with modalities."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mmtheory.data.synthetic import overlap_model
from mmtheory.theory import rademacher as rad
from mmtheory.theory.framework import set_label
from mmtheory.seeding import numpy_rng


def enumeration_check(n_problems: int = 20, *, n_draws: int = 4000, max_m: int = 12, seed: int = 0) -> pd.DataFrame:
    """Monte Carlo estimators against exact enumeration over all 2^m signs on random small problems.

    Returns one row per (problem, estimator): ``estimator``, ``m``, ``exact``, ``estimate``, ``stderr``,
    ``z`` = (estimate - exact) / stderr, and for the late-fusion class ``bound`` (Jensen upper bound).
    """
    if n_problems < 1:
        raise ValueError(f"n_problems must be >= 1, got {n_problems}.")
    rng = numpy_rng(seed, "complexity")
    rows = []
    for p in range(n_problems):
        m = int(rng.integers(2, max_m + 1))
        x = rng.standard_normal((m, int(rng.integers(1, 6)))) * rng.uniform(0.5, 2)
        radius = float(rng.uniform(0.5, 2))
        for norm in ("l2", "l1"):
            est = rad.linear_rademacher(x, radius, norm=norm, n_draws=n_draws, seed=p)
            rows.append(dict(problem=p, estimator=f"linear {norm} ball", m=m, estimate=est.value, stderr=est.stderr,
                             exact=rad.exact_rademacher_linear(x, radius, norm=norm), bound=np.nan))
        views = {"a": x, "b": rng.standard_normal((m, 2))}
        radii = {"a": radius, "b": float(rng.uniform(0.5, 2))}
        est = rad.late_fusion_rademacher(views, ["a", "b"], encoder_radius=radii, n_draws=n_draws, seed=p)
        rows.append(dict(problem=p, estimator="late fusion (2 modalities)", m=m, estimate=est.value, stderr=est.stderr,
                         exact=rad.exact_late_fusion(views, ["a", "b"], encoder_radius=radii),
                         bound=rad.late_fusion_bound(views, ["a", "b"], encoder_radius=radii)))
    out = pd.DataFrame(rows)
    out["z"] = (out["estimate"] - out["exact"]) / out["stderr"].where(out["stderr"] > 0, np.nan)
    return out


def complexity_by_m(
    m_values: Sequence[int], subsets: Sequence[Sequence[str]], *, w: float = 0.5, d_shared: int = 5,
    d_private: int = 5, n_draws: int = 2000, seed: int = 0, independent_draws: bool = True,
    zero_modalities: Sequence[str] = (),
) -> pd.DataFrame:
    """Late-fusion complexity (estimate, stderr, Jensen bound) on overlap-generator samples, by m and set.

    Parameters
    ----------
    independent_draws : bool
        True: every set gets its own Rademacher signs, so the Monte Carlo errors of two sets are
        independent and a growth must exceed them. False: all sets share the signs, which makes the
        estimate grow with the set draw by draw (each modality adds a non-negative term), whatever the data.
    zero_modalities : sequence of str
        Views replaced by zeros (the broken world where adding those modalities adds nothing).

    Returns
    -------
    DataFrame
        ``m``, ``set``, ``n_modalities``, ``estimate``, ``stderr``, ``bound``.
    """
    return complexity_worlds(m_values, subsets, {"": zero_modalities}, w=w, d_shared=d_shared, d_private=d_private,
                             n_draws=n_draws, seed=seed, independent_draws=independent_draws)[""]


def complexity_worlds(
    m_values: Sequence[int], subsets: Sequence[Sequence[str]], worlds: Mapping[str, Sequence[str]], *,
    w: float = 0.5, d_shared: int = 5, d_private: int = 5, n_draws: int = 2000, seed: int = 0,
    independent_draws: bool = True,
) -> dict[str, pd.DataFrame]:
    """:func:`complexity_by_m` for several worlds at once, each naming the views it replaces by zeros.

    The worlds share the sample and the signs (as separate :func:`complexity_by_m` calls with the same
    seed do), so each (m, set) draws its signs once and multiplies each of its views once, skipping a
    view that every world zeroes; a world sums the terms of the views it keeps. Equal to the separate
    calls to the last bit (tested), for the arithmetic of one.

    Parameters
    ----------
    worlds : dict of name -> sequence of modality names
        The zeroed views of each world (empty: the generator as it is).

    Returns
    -------
    dict of name -> DataFrame
        Per world, the table of :func:`complexity_by_m`.
    """
    model = overlap_model(w, d_shared=d_shared, d_private=d_private, seed=seed)
    for zeroed in worlds.values():
        unknown = [z for z in zeroed if z not in model.modalities]
        if unknown:
            raise ValueError(f"unknown modalities {unknown} in zero_modalities; valid names are {list(model.modalities)}.")
    zero_sets = {name: set(zeroed) for name, zeroed in worlds.items()}
    rows: dict[str, list] = {name: [] for name in worlds}
    for m in m_values:
        views = model.sample(int(m), seed=seed + 1).views
        for i, subset in enumerate(subsets):
            draw_seed = seed + 1_000_003 * (i + 1) + int(m) if independent_draws else seed
            chosen = list(subset)
            needed = [k for k in chosen if any(k not in z for z in zero_sets.values())]
            terms = dict(zip(needed, rad.late_fusion_terms([views[k] for k in needed], n_draws=n_draws, seed=draw_seed))) \
                if needed else {}
            for name, zeroed in zero_sets.items():
                kept = [k for k in chosen if k not in zeroed]
                est = rad.late_fusion_from_terms([terms.get(k) if k in kept else None for k in chosen],
                                                 [1.0] * len(chosen), 1.0, int(m), n_draws)
                bound = rad.late_fusion_bound(views, kept) if kept else 0.0
                rows[name].append(dict(m=int(m), set=set_label(subset), n_modalities=len(subset), estimate=est.value,
                                       stderr=est.stderr, bound=bound))
    return {name: pd.DataFrame(r) for name, r in rows.items()}


def decay_slope(table: pd.DataFrame) -> pd.Series:
    """Least-squares slope of log(estimate) against log(m), per set (1/sqrt(m) decay: -0.5)."""
    return table.groupby("set", sort=False).apply(
        lambda g: float(np.polyfit(np.log(g["m"]), np.log(g["estimate"]), 1)[0]), include_groups=False)


def mlp_vs_bounds(
    m: int, subsets: Sequence[Sequence[str]], *, hidden: int = 16, w: float = 0.5, d_shared: int = 5, d_private: int = 5,
    n_draws: int = 32, steps: int = 200, seed: int = 0,
) -> pd.DataFrame:
    """ReLU late-fusion MLP: optimisation lower estimate vs the Golowich-Rakhlin-Shamir upper bound.

    The lower estimates of all sets come from one call of
    :func:`~mmtheory.theory.rademacher.mlp_rademacher_lower_sets` (same signs; one search per modality,
    shared by the sets that contain it).
    """
    model = overlap_model(w, d_shared=d_shared, d_private=d_private, seed=seed)
    views = model.sample(int(m), seed=seed + 1).views
    lows = rad.mlp_rademacher_lower_sets(views, subsets, hidden=hidden, n_draws=n_draws, steps=steps, seed=seed)
    rows = []
    for subset, low in zip(subsets, lows):
        rows.append(dict(set=set_label(subset), mlp_lower=low.value, mlp_lower_stderr=low.stderr,
                         grs_upper=rad.golowich_bound(views, subset),
                         linear_exact_sup=rad.late_fusion_rademacher(views, subset, n_draws=2000, seed=seed).value))
    return pd.DataFrame(rows)
