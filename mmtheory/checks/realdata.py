"""Checks of the real-data chapter (UCI mfeat, ``P22-mfeat-*``) that the other check modules do not have.

The Table 1-3 claims (``H21-mfeat-t1/t2/t3``) use :mod:`mmtheory.checks.experiments`, the selection claim
:func:`mmtheory.checks.theory.check_selection`, the OGM-GE claims :mod:`mmtheory.checks.ogm`; here:

* :func:`check_undertrained`: the weak branch inside the jointly trained model is less accurate than
  the weak modality trained alone (the under-training OGM-GE starts from);
* :func:`check_ogmge_fusions`: OGM-GE improves the fused model for every fusion (:func:`~mmtheory.checks.ogm.all_of`
  over :func:`~mmtheory.checks.ogm.check_ogmge`).

Accuracies in percent, runs paired by seed, 95 % paired Student-t intervals, as in :mod:`mmtheory.checks.ogm`.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from mmtheory.checks import Verdict
from mmtheory.checks.ogm import _paired, all_of, check_ogmge, decide_difference

__all__ = ["check_undertrained", "check_ogmge_fusions"]


def check_undertrained(runs: pd.DataFrame, *, branch: str = "last_test_acc_visual", unimodal: str = "visual-only",
                       unimodal_acc: str = "last_test_acc", probe: str | None = None, baseline: str = "baseline",
                       level: float = 0.95) -> Verdict:
    """P22-mfeat-undertrained: ``acc(weak alone) - acc(weak branch inside the joint baseline)`` > 0, paired by seed.

    With ``probe`` (the weak encoder's frozen-encoder probe accuracy, a column of both runs) the weak encoder
    of the joint baseline must also probe worse than the one trained alone (:func:`~mmtheory.checks.ogm.all_of`):
    a starved branch whose encoder is as good as the unimodal one is not an under-trained encoder.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per (method, seed), accuracies in percent (``run_standin(...).summary``).
    branch : str
        Column of the weak branch's accuracy in the joint model.
    unimodal : str
        The run of the weak modality alone.
    unimodal_acc : str
        Its accuracy column.
    baseline : str
    probe : str, optional
        Column of the weak encoder's probe accuracy (e.g. ``probe_acc_visual``).
    level : float
    """
    def pair(col_joint: str, col_alone: str) -> tuple[pd.Series, pd.Series]:
        joint = _paired(runs, col_joint, [baseline])
        alone = _paired(runs, col_alone, [unimodal])
        seeds = joint.index.intersection(alone.index)
        if seeds.empty:
            raise ValueError(f"no seed has both a {baseline!r} run and a {unimodal!r} run.")
        return alone.loc[seeds, unimodal], joint.loc[seeds, baseline]

    a, j = pair(branch, unimodal_acc)
    ours = (f"weak branch in the joint {baseline} {j.mean():.2f} vs {unimodal} {a.mean():.2f} "
            f"({a.mean() - j.mean():+.2f} points short, {len(a)} seeds)")
    v = decide_difference(a, j, ours=ours, what=f"{unimodal} minus weak branch of {baseline}", level=level)
    if probe is None:
        return v
    pa, pj = pair(probe, probe)
    ours += f"; weak probe {pj.mean():.2f} vs {pa.mean():.2f} alone ({pa.mean() - pj.mean():+.2f} points short)"
    pv = decide_difference(pa, pj, ours="", what=f"{probe}: {unimodal} minus {baseline}", level=level)
    return replace(all_of({"branch": v, "probe": pv}, ours=ours, level=level), ours=ours)


def check_ogmge_fusions(runs: pd.DataFrame, *, acc: str = "last_test_acc", baseline: str = "baseline",
                        method: str = "ogm-ge", level: float = 0.95) -> Verdict:
    """P22-mfeat-fusions: OGM-GE beats the baseline for every fusion (paired by seed within a fusion).

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per (fusion, method, seed), accuracies in percent.
    acc, baseline, method : str
    level : float
    """
    if not isinstance(runs, pd.DataFrame) or "fusion" not in runs.columns:
        raise ValueError("runs need a 'fusion' column (one row per fusion, method and seed).")
    parts = {str(f): check_ogmge(g, acc=acc, baseline=baseline, method=method, level=level)
             for f, g in runs.groupby("fusion", sort=False)}
    ours = "; ".join(f"{f}: {v.ours}" for f, v in parts.items())
    out = all_of(parts, ours=ours, level=level)
    return replace(out, ours=ours)
