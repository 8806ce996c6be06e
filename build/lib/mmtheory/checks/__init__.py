"""Decisions of the papers' claims: every status on the scorecard is computed here, never in a notebook.

A *check* is a function that takes a chapter's tidy results (a :class:`pandas.DataFrame`) and returns a
:class:`Verdict`: our value, the status, the margin (how far the evidence is from flipping the status, in
the claim's own units), the interval behind it and a one-line reason. Chapters call a check, pass the
verdict to :func:`mmtheory.claims.record` and narrate.

Statuses
--------
``holds``
    The evidence supports the claim, beyond the uncertainty where seeds or samples are involved.
``differs``
    The evidence contradicts the claim, beyond the uncertainty.
``inconclusive``
    The difference that decides the claim lies inside its interval (the noise could flip it).
``vacuous``
    The check would also say "holds" on a broken world where the claim is false (it could not fail),
    or it is true by construction; the reason says which.
``not yet run``
    No record (the chapter was not executed on this data).

Every check is meant to be run twice: on the chapter's world and on a *broken* world where the claim
should fail (:func:`against_broken_world`). A check that says "holds" on both is shown as vacuous.

Uncertainty: :func:`paired_interval` is a two-sided Student-t interval of the mean of paired
differences over seeds (or trials); with fewer than two pairs there is no interval and a check that
needs one returns ``inconclusive``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

import numpy as np
from scipy import stats

STATUSES = ("holds", "differs", "inconclusive", "vacuous", "not yet run")

__all__ = ["STATUSES", "Verdict", "paired_interval", "decide_positive", "against_broken_world"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim's check.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES` (never "not yet run": that is the absence of a record).
    ours : str
        Our value as the page shows it.
    margin : float
        How far the evidence is from flipping the status, in ``units``; >= 0 for every status. For a
        "holds" decided by an interval, the distance from the interval's near end to the threshold.
    reason : str
        One line: why this status.
    units : str
        Units of ``margin`` and ``interval``.
    interval : tuple of float or None
        The interval that decided (``(lo, hi)``), if any.
    interval_method : str
        How the interval was made, e.g. ``"95% paired t over 3 seeds"``.
    variant : str
        The broken world the check was tried on (empty if none yet).
    variant_status : str
        The check's status on that world.
    details : dict
        Any further numbers (JSON-serialisable) worth recording.
    """

    status: str
    ours: str
    margin: float
    reason: str
    units: str = ""
    interval: tuple[float, float] | None = None
    interval_method: str = ""
    variant: str = ""
    variant_status: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES or self.status == "not yet run":
            raise ValueError(f"a verdict's status must be one of {list(STATUSES[:-1])}; got {self.status!r}.")
        m = float(self.margin)
        if math.isnan(m):
            raise ValueError(f"a verdict's margin must be a number; got {self.margin!r} ({self.reason}).")
        object.__setattr__(self, "margin", abs(m))
        if self.interval is not None:
            lo, hi = (float(v) for v in self.interval)
            object.__setattr__(self, "interval", (lo, hi))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the interval as a list)."""
        out = asdict(self)
        out["interval"] = None if self.interval is None else [float(v) for v in self.interval]
        return out


def paired_interval(diffs: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval of paired differences.

    Parameters
    ----------
    diffs : sequence of float, shape (n,)
        One difference per seed (or trial), e.g. accuracy(M) - accuracy(N) with the same seed.
    level : float
        Coverage of the interval, in (0, 1).

    Returns
    -------
    (mean, lo, hi) : tuple of float
        With ``n < 2`` (no spread to estimate) ``lo = -inf`` and ``hi = +inf``. With zero spread the
        interval is the point.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}.")
    d = np.asarray(diffs, dtype=float).ravel()
    if d.size == 0:
        raise ValueError("paired_interval needs at least one difference; got none.")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"paired differences must be finite; got {d.tolist()}.")
    mean = float(d.mean())
    if d.size < 2:
        return mean, -math.inf, math.inf
    se = float(d.std(ddof=1) / math.sqrt(d.size))
    half = float(stats.t.ppf(0.5 + level / 2.0, d.size - 1)) * se
    return mean, mean - half, mean + half


def decide_positive(
    diffs: Sequence[float],
    *,
    ours: str,
    units: str,
    what: str,
    threshold: float = 0.0,
    level: float = 0.95,
) -> Verdict:
    """Decide "the mean of ``diffs`` exceeds ``threshold``" from a paired t interval.

    holds when the whole interval is above ``threshold``, differs when it is wholly below, inconclusive
    when it contains it. The margin is the distance from the interval's nearer end to the threshold
    (0 for inconclusive: how far the mean is from it is then in ``details['mean_minus_threshold']``).

    Parameters
    ----------
    diffs : sequence of float, shape (n,)
    ours, units, what : str
        Our value as shown, the units of ``diffs``, and a few words naming the difference.
    threshold : float
    level : float
    """
    mean, lo, hi = paired_interval(diffs, level)
    n = len(np.asarray(diffs).ravel())
    method = f"{level:.0%} paired t over {n}" if n >= 2 else "no interval (one pair)"
    common = dict(ours=ours, units=units, interval=(lo, hi), interval_method=method,
                  details=dict(mean=mean, n=n, mean_minus_threshold=mean - threshold))
    if lo > threshold:
        return Verdict("holds", margin=lo - threshold,
                       reason=f"{what}: {mean:.4g} {units}, interval [{lo:.4g}, {hi:.4g}] above {threshold:g}", **common)
    if hi < threshold:
        return Verdict("differs", margin=threshold - hi,
                       reason=f"{what}: {mean:.4g} {units}, interval [{lo:.4g}, {hi:.4g}] below {threshold:g}", **common)
    return Verdict("inconclusive", margin=0.0,
                   reason=f"{what}: {mean:.4g} {units}, interval [{lo:.4g}, {hi:.4g}] contains {threshold:g}", **common)


def against_broken_world(verdict: Verdict, broken: Verdict, variant: str) -> Verdict:
    """Combine a check's verdict on the real world with its verdict on a broken world.

    If the check also says "holds" where the claim is false, it could not have failed: the result is
    "vacuous" (with both reasons). Otherwise the verdict is kept and records the variant and its status.

    Parameters
    ----------
    verdict : Verdict
        The check on the chapter's world.
    broken : Verdict
        The same check on ``variant``, a world where the claim should fail.
    variant : str
        A few words naming the broken world (e.g. "labels shuffled").
    """
    out = replace(verdict, variant=variant, variant_status=broken.status)
    if verdict.status == "holds" and broken.status == "holds":
        return replace(out, status="vacuous", margin=0.0,
                       reason=f"could not fail: also 'holds' on the broken world ({variant}: {broken.reason}); "
                              f"ours: {verdict.reason}")
    return out
