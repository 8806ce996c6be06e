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
    The difference that decides the claim lies inside its interval (the noise could flip it), or a run
    failed (NaN, inf or missing: a failed run is never evidence for "holds"), or the claim rests on a
    single run whose training variance is unmeasured.
``vacuous``
    The check would also say "holds" on a broken world where the claim is false (it could not fail),
    or it is true by construction; the reason says which.
``not yet run``
    No record (the chapter was not executed on this data).

The rules every check follows (stated once, on the scorecard too)
-----------------------------------------------------------------
*Power* (:data:`POWER_RULE`): every check is run twice, on the chapter's world and on a *broken* world
where the claim is false (:func:`against_broken_world`). "holds" on both is "vacuous". A check is shown
able to fail (``power_shown = True``) only when its broken world comes out "differs"; a broken world
that is merely "inconclusive" keeps the status but sets ``power_shown = False``, which the scorecard
shows as "(power not shown)".

*Several parts* (:data:`MULTIPLE_RULE`): a claim over regimes is decided part by part (one decision per
cell, ratio, pair or fusion, never a pooled interval over correlated rows) and combined with Holm's
rule: "all of" needs every part to hold at the chapter's level (an intersection-union test, no
correction needed) and differs when Holm's step-down rejects some part in the other direction; "any
of" holds when Holm's step-down rejects some part's null (its first step: the smallest p-value below
alpha / k). Comparators are fixed in advance (each unimodal model, each alternative rule), never the
best one picked on the test data.

Uncertainty: :func:`paired_interval` is a two-sided Student-t interval of the mean of paired
differences over seeds (or trials); with fewer than two pairs there is no interval and a check that
needs one returns ``inconclusive``. Differences that are identical in every pair (zero spread, up to
floating-point noise ``tie_tol``) have no interval: closed-form values (the caller passes
``exact=True``) are decided exactly, an exact tie being a tie (a strict claim ">" differs, a claim ">="
holds); measured values (accuracies that move in whole test rows) are "inconclusive (zero observed
spread)". Parts combined by :func:`all_of` / :func:`any_of` must be decided at the combination's level.
Seed rounds that stop when a claim is decided use
the group-sequential levels of :mod:`mmtheory.checks.sequential`.

Margins are >= 0 and finite for every status (:class:`Verdict` refuses anything else): the distance of
the evidence from flipping the status, in ``units``; the direction is the status itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import special

STATUSES = ("holds", "differs", "inconclusive", "vacuous", "not yet run")

#: The power rule, as the scorecard states it.
POWER_RULE = ("A check counts as able to fail only when its broken world (a world built so that the claim is "
              "false) comes out \"differs\"; when that world is merely inconclusive the claim keeps its status "
              "and is marked \"power not shown\", and when it also says \"holds\" the claim is \"vacuous\".")
#: The multiple-comparison rule, as the scorecard states it.
MULTIPLE_RULE = ("Claims over several regimes (cells, ratios, pairs, fusions, comparators) are decided part by "
                 "part, never by pooling correlated rows, and combined with Holm's rule: \"all of\" holds only "
                 "when every part holds at the 95 % level and differs when Holm's step-down rejects a part, "
                 "\"any of\" holds only when Holm's step-down rejects some part's null; comparators are fixed "
                 "in advance, not picked on the test data.")

__all__ = ["STATUSES", "POWER_RULE", "MULTIPLE_RULE", "Verdict", "paired_interval", "decide_positive", "level_label",
           "against_broken_world", "with_failures", "all_of", "any_of", "holm_any"]


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
        How far the evidence is from flipping the status, in ``units``: finite and >= 0 for every status
        (a negative or non-finite margin is refused, never silently made positive). For a "holds"
        decided by an interval, the distance from the interval's near end to the threshold.
    reason : str
        One line: why this status.
    units : str
        Units of ``margin`` and ``interval``.
    interval : tuple of float or None
        The interval that decided (``(lo, hi)``), if any (``None`` when decided exactly: identical
        values in every seed are not an interval).
    interval_method : str
        How the interval was made, e.g. ``"95% paired t over 3 seeds"``.
    variant : str
        The broken world the check was tried on (empty if none yet).
    variant_status : str
        The check's status on that world.
    power_shown : bool or None
        For a "holds": True when the broken world came out "differs" (the check was seen to fail where
        the claim is false), False when it did not (:data:`POWER_RULE`). None for other statuses and
        when no broken world was tried.
    details : dict
        Any further numbers (JSON-serialisable) worth recording: ``failed_runs`` and ``runs`` when runs
        went into it, ``p_holds`` / ``p_differs`` (one-sided p-values) where a test made it.
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
    power_shown: bool | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES or self.status == "not yet run":
            raise ValueError(f"a verdict's status must be one of {list(STATUSES[:-1])}; got {self.status!r}.")
        try:
            m = float(self.margin)
        except (TypeError, ValueError):
            raise ValueError(f"a verdict's margin must be a number; got {self.margin!r} ({self.reason}).") from None
        if not math.isfinite(m) or m < 0:
            raise ValueError(f"a verdict's margin must be finite and >= 0 (the distance from flipping the status); "
                             f"got {self.margin!r} ({self.reason}).")
        object.__setattr__(self, "margin", m)
        if self.interval is not None:
            lo, hi = (float(v) for v in self.interval)
            object.__setattr__(self, "interval", (lo, hi))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the interval as a list, infinite ends as None)."""
        out = asdict(self)
        out["interval"] = (None if self.interval is None
                           else [float(v) if math.isfinite(v) else None for v in self.interval])
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
        interval is the point (:func:`decide_positive` decides such differences exactly instead).
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
    half = float(special.stdtrit(d.size - 1, 0.5 + level / 2.0)) * se
    return mean, mean - half, mean + half


def with_failures(verdict: Verdict, failed: int, total: int, what: str = "run") -> Verdict:
    """Record ``failed`` of ``total`` runs as failed; a "holds" with any failed run becomes "inconclusive".

    A run that diverged (NaN, inf) or is missing is never evidence for the claim: dropping it and
    deciding on the rest would let a method that fails half the time "hold". "differs" and
    "inconclusive" are kept (the failure is not evidence for them either; the reason says it).
    """
    failed, total = int(failed), int(total)
    details = dict(verdict.details, failed_runs=failed, runs=total)
    if failed == 0:
        return replace(verdict, details=details)
    note = f"{failed} of {total} {what}(s) failed (NaN, inf or missing) and count as no evidence"
    if verdict.status == "holds":
        return replace(verdict, status="inconclusive", margin=0.0, details=dict(details, computed_status="holds"),
                       reason=f"{note}; the rest would say holds ({verdict.reason})")
    return replace(verdict, details=details, reason=f"{verdict.reason}; {note}")


def _default_tie_tol(d: np.ndarray, threshold: float) -> float:
    return 1e-9 * max(1.0, float(np.max(np.abs(d))) if d.size else 0.0, abs(threshold))


def level_label(level: float) -> str:
    """A coverage level as a percentage with no misleading rounding: 0.95 -> "95%", 0.98524 -> "98.52%"."""
    return f"{round(100.0 * float(level), 2):g}%"


def decide_positive(
    diffs: Sequence[float],
    *,
    ours: str,
    units: str,
    what: str,
    threshold: float = 0.0,
    level: float = 0.95,
    strict: bool = True,
    tie_tol: float | None = None,
    exact: bool = False,
) -> Verdict:
    """Decide "the mean of ``diffs`` exceeds ``threshold``" from a paired t interval.

    holds when the whole interval is above ``threshold``, differs when it is wholly below, inconclusive
    when it contains it. The margin is the distance from the interval's nearer end to the threshold
    (0 for inconclusive: how far the mean is from it is then in ``details['mean_minus_threshold']``).

    Non-finite differences (a diverged or missing run) are dropped from the interval and counted by
    :func:`with_failures`: the verdict is then never "holds".

    Differences identical in every pair (spread at most ``tie_tol``) have no interval. Only when the
    caller marks the values as closed-form (``exact=True``, e.g. untrained encoders whose value is a
    closed form, or a rule that picks the same alternative in every trial) are they decided exactly:
    a value within ``tie_tol`` of the threshold is then an exact *tie*, "differs" for a strict claim
    (``strict=True``, "> threshold") and "holds" for ``strict=False`` (">= threshold"). For measured
    quantities (the default, e.g. accuracies that move in whole test rows) zero spread is
    "inconclusive (zero observed spread)": a handful of equal measurements is no evidence of no variance.

    Parameters
    ----------
    diffs : sequence of float, shape (n,)
    ours, units, what : str
        Our value as shown, the units of ``diffs``, and a few words naming the difference.
    threshold : float
    level : float
        Two-sided coverage of the interval; each one-sided decision is at ``(1 - level) / 2``.
    strict : bool
        Whether the claim is "> threshold" (True) or ">= threshold" (False); matters only for ties.
    tie_tol : float, optional
        Floating-point noise level in ``units``; default ``1e-9 * max(1, max |d|, |threshold|)``.
    exact : bool
        Whether the values are closed-form (no sampling variance by construction), so that identical
        values may be decided exactly; False (measured values) makes zero spread inconclusive.

    Returns
    -------
    Verdict
        ``details`` has ``mean``, ``n``, ``mean_minus_threshold``, ``p_holds`` and ``p_differs`` (one-sided
        p-values of "mean <= threshold" and "mean >= threshold"), ``level``, ``failed_runs`` and ``runs``.
    """
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}.")
    raw = np.asarray(diffs, dtype=float).ravel()
    if raw.size == 0:
        raise ValueError(f"decide_positive needs at least one difference ({what}); got none.")
    ok = np.isfinite(raw)
    d = raw[ok]
    failed = int(raw.size - d.size)
    if d.size == 0:
        v = Verdict("inconclusive", ours=ours, margin=0.0, units=units, interval_method="no finite pair",
                    reason=f"{what}: no finite difference (every run failed)",
                    details=dict(mean=None, n=0, mean_minus_threshold=None, p_holds=1.0, p_differs=1.0))
        return with_failures(v, failed, raw.size)
    tol = _default_tie_tol(d, threshold) if tie_tol is None else float(tie_tol)
    if tol < 0:
        raise ValueError(f"tie_tol must be >= 0; got {tie_tol}.")
    n = int(d.size)
    mean = float(d.mean())
    if n >= 2 and float(np.ptp(d)) <= tol and not exact:
        # measured values that happen to be equal (e.g. accuracies moving in whole test rows): no interval,
        # and no evidence that the variance is zero, so no decision
        v = Verdict("inconclusive", ours=ours, margin=0.0, units=units, interval=None,
                    interval_method=f"no interval: zero observed spread over {n} pairs",
                    reason=f"{what}: inconclusive (zero observed spread): {mean:.6g} {units} in all {n} pairs, "
                           f"measured values with no spread give no interval",
                    details=dict(mean=mean, n=n, mean_minus_threshold=mean - threshold, zero_spread=True,
                                 spread=float(np.ptp(d)), p_holds=1.0, p_differs=1.0, level=float(level),
                                 threshold=float(threshold)))
        return with_failures(v, failed, raw.size)
    if n >= 2 and float(np.ptp(d)) <= tol:
        # identical in every pair: no sampling variance to make an interval from; decide exactly
        gap = mean - threshold
        details = dict(mean=mean, n=n, mean_minus_threshold=gap, exact=True, spread=float(np.ptp(d)), level=float(level),
                       p_holds=0.0 if gap > tol else 1.0, p_differs=1.0 if gap > tol else 0.0)
        method = f"exact: identical in all {n} pairs (spread {np.ptp(d):.2g} <= {tol:.2g}), no interval"
        common = dict(ours=ours, units=units, interval=None, interval_method=method)
        if abs(gap) <= tol:
            status = "differs" if strict else "holds"
            details.update(tie=True, p_holds=1.0 if strict else 0.0, p_differs=0.0 if strict else 1.0)
            v = Verdict(status, margin=0.0, details=details,
                        reason=f"{what}: exactly {threshold:g} in all {n} pairs (a tie; the claim is "
                               f"{'strict' if strict else 'not strict'})", **common)
        elif gap > 0:
            v = Verdict("holds", margin=gap, details=details,
                        reason=f"{what}: {mean:.6g} {units} in all {n} pairs (no seed variance), above {threshold:g}",
                        **common)
        else:
            v = Verdict("differs", margin=-gap, details=details,
                        reason=f"{what}: {mean:.6g} {units} in all {n} pairs (no seed variance), below {threshold:g}",
                        **common)
        return with_failures(v, failed, raw.size)
    mean, lo, hi = paired_interval(d, level)
    if n >= 2:
        se = float(d.std(ddof=1) / math.sqrt(n))
        t = (mean - threshold) / se
        p_differs = float(special.stdtr(n - 1, t))  # scipy.special: the t law without stats' overhead
        p_holds = 1.0 - p_differs
    else:
        p_holds = p_differs = 1.0
    method = f"{level_label(level)} paired t over {n}" if n >= 2 else "no interval (one pair)"
    common = dict(ours=ours, units=units, interval=(lo, hi), interval_method=method,
                  details=dict(mean=mean, n=n, mean_minus_threshold=mean - threshold, p_holds=p_holds, level=float(level),
                               p_differs=p_differs, threshold=float(threshold),
                               sd=float(d.std(ddof=1)) if n >= 2 else None))
    if lo > threshold:
        v = Verdict("holds", margin=lo - threshold,
                    reason=f"{what}: {mean:.4g} {units}, interval [{lo:.4g}, {hi:.4g}] above {threshold:g}", **common)
    elif hi < threshold:
        v = Verdict("differs", margin=threshold - hi,
                    reason=f"{what}: {mean:.4g} {units}, interval [{lo:.4g}, {hi:.4g}] below {threshold:g}", **common)
    else:
        v = Verdict("inconclusive", margin=0.0,
                    reason=f"{what}: {mean:.4g} {units}, interval [{lo:.4g}, {hi:.4g}] contains {threshold:g}", **common)
    return with_failures(v, failed, raw.size)


def against_broken_world(verdict: Verdict, broken: Verdict, variant: str) -> Verdict:
    """Combine a check's verdict on the real world with its verdict on a broken world (:data:`POWER_RULE`).

    "holds" on both: the check could not have failed, the result is "vacuous" (with both reasons).
    Otherwise the verdict is kept and records the variant and its status. For a "holds" (the only status
    whose meaning depends on the check being able to fail) ``power_shown`` is True when the broken world
    came out "differs" and False otherwise (the scorecard then marks the claim "power not shown"); for
    the other statuses it is None (the broken world's status is still in ``variant_status``).

    Parameters
    ----------
    verdict : Verdict
        The check on the chapter's world.
    broken : Verdict
        The same check on ``variant``, a world where the claim should fail.
    variant : str
        A few words naming the broken world (e.g. "labels shuffled").
    """
    if not isinstance(verdict, Verdict) or not isinstance(broken, Verdict):
        raise TypeError("against_broken_world takes two Verdicts (the real world's and the broken world's).")
    power = (broken.status == "differs") if verdict.status == "holds" else None  # power qualifies a "holds" only
    out = replace(verdict, variant=variant, variant_status=broken.status, power_shown=power)
    if verdict.status == "holds" and broken.status == "holds":
        return replace(out, status="vacuous", margin=0.0, power_shown=None,
                       reason=f"could not fail: also 'holds' on the broken world ({variant}: {broken.reason}); "
                              f"ours: {verdict.reason}")
    if verdict.status == "holds" and broken.status != "differs":
        return replace(out, reason=f"{verdict.reason} (power not shown: the broken world, {variant}, is "
                                   f"{broken.status}, not 'differs')")
    return out


def _p(v: Verdict, key: str) -> float:
    """A part's one-sided p-value; a part decided without one counts as 0 (decided that way) or 1."""
    p = v.details.get(key)
    if p is not None and math.isfinite(float(p)):
        return float(p)
    want = "holds" if key == "p_holds" else "differs"
    return 0.0 if v.status == want else 1.0


def holm_any(pvalues: Sequence[float], alpha: float) -> bool:
    """Whether Holm's step-down at family level ``alpha`` rejects at least one null.

    Holm rejects something exactly when its first step does: the smallest p-value is at most
    ``alpha / k`` (the rest of the step-down only decides *which* further nulls fall).
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    if p.size == 0:
        raise ValueError("holm_any needs at least one p-value.")
    return bool(np.min(p) <= alpha / p.size)


def _check_parts(parts: Any, what: str) -> None:
    if not parts:
        raise ValueError(f"{what} needs at least one part.")
    bad = [k for k, v in parts.items() if not isinstance(v, Verdict)]
    if bad:
        raise TypeError(f"{what} takes Verdicts; parts {bad} are not.")


def _check_levels(parts: Any, level: float, what: str) -> None:
    """Refuse parts decided at another level than the combination's (their p-values mean another alpha)."""
    other = {k: v.details.get("level") for k, v in parts.items()
             if v.details.get("level") is not None and abs(float(v.details["level"]) - float(level)) > 1e-12}
    if other:
        raise ValueError(f"{what} at level {level_label(level)} got parts decided at another level "
                         f"({', '.join(f'{k}: {level_label(x)}' for k, x in other.items())}); pass level= to both.")


def _failed(parts: Any) -> dict:
    fails = sum(int(v.details.get("failed_runs", 0) or 0) for v in parts.values())
    return dict(failed_runs=fails) if fails else {}


def all_of(parts: Mapping[str, Verdict], *, ours: str, units: str = "points", level: float = 0.95) -> Verdict:
    """A claim that needs every part (:data:`MULTIPLE_RULE`).

    holds when every part's one-sided p-value of "holds" is at most ``(1 - level) / 2`` (an
    intersection-union test: no correction needed); differs when Holm's step-down over the parts'
    p-values of "differs" rejects some part at family level ``(1 - level) / 2``; else inconclusive.
    Parts decided without p-values (exact decisions, rates) count as p = 0 in their decided direction
    and 1 otherwise. Parts that record a ``level`` other than ``level`` are refused (ValueError): their
    p-values were judged against another alpha. The margin of "holds" is the smallest part margin; of "differs" the largest margin
    among the rejected parts. ``details`` keeps every part's verdict and the combined p-values.
    """
    _check_parts(parts, "all_of")
    _check_levels(parts, level, "all_of")
    a = (1.0 - level) / 2.0
    k = len(parts)
    ph = {key: _p(v, "p_holds") for key, v in parts.items()}
    pd_ = {key: _p(v, "p_differs") for key, v in parts.items()}
    p_holds, p_differs = max(ph.values()), min(1.0, k * min(pd_.values()))
    details = dict(parts={key: v.to_dict() for key, v in parts.items()}, p_holds=p_holds, p_differs=p_differs,
                   level=float(level), combine="all of: every part holds; differs by Holm", **_failed(parts))
    method = next(iter(parts.values())).interval_method
    rejected = {key: v for key, v in parts.items() if pd_[key] <= a / k}
    if rejected and holm_any(list(pd_.values()), a):
        key = max(rejected, key=lambda q: rejected[q].margin)
        v = rejected[key]
        return Verdict("differs", ours=ours, margin=v.margin, units=units, interval=v.interval, interval_method=method,
                       reason=f"{len(rejected)} of {k} part(s) contradict it (Holm over {k}); {key}: {v.reason}",
                       details=details)
    open_ = {key: v for key, v in parts.items() if not (v.status == "holds" and ph[key] <= a)}
    if open_:
        # the interval shown is an undecided part's own (one that held alone but not at the family's level only
        # when no part is undecided on its own)
        key = next((q for q, v in open_.items() if v.status != "holds"), next(iter(open_)))
        v = open_[key]
        extra = ("" if not any(q.status == "differs" for q in parts.values())
                 else f"; a part differs alone but not after Holm over {k}")
        return Verdict("inconclusive", ours=ours, margin=0.0, units=units, interval=v.interval, interval_method=method,
                       reason=f"{len(open_)} of {k} part(s) undecided{extra}; {key}: {v.reason}", details=details)
    key = min(parts, key=lambda q: parts[q].margin)
    v = parts[key]
    return Verdict("holds", ours=ours, margin=v.margin, units=units, interval=v.interval, interval_method=method,
                   reason=f"all {k} part(s) hold; closest {key}: {v.reason}", details=details)


def any_of(parts: Mapping[str, Verdict], *, ours: str, units: str = "points", level: float = 0.95) -> Verdict:
    """A claim that needs one part (:data:`MULTIPLE_RULE`).

    holds when Holm's step-down over the parts' p-values of "holds" rejects some part's null at family
    level ``(1 - level) / 2`` (the smallest p-value at most that over k); differs when every part
    differs at ``(1 - level) / 2`` (intersection-union); else inconclusive. The margin of "holds" is the
    largest margin among the rejected parts; of "differs" the smallest part margin. Parts that record a
    ``level`` other than ``level`` are refused (ValueError).
    """
    _check_parts(parts, "any_of")
    _check_levels(parts, level, "any_of")
    a = (1.0 - level) / 2.0
    k = len(parts)
    ph = {key: _p(v, "p_holds") for key, v in parts.items()}
    pd_ = {key: _p(v, "p_differs") for key, v in parts.items()}
    p_holds, p_differs = min(1.0, k * min(ph.values())), max(pd_.values())
    details = dict(parts={key: v.to_dict() for key, v in parts.items()}, p_holds=p_holds, p_differs=p_differs,
                   level=float(level), combine="any of: Holm over the parts; differs when every part differs",
                   **_failed(parts))
    method = next(iter(parts.values())).interval_method
    holding = {key: v for key, v in parts.items() if v.status == "holds" and ph[key] <= a / k}
    if holding:
        key = max(holding, key=lambda q: holding[q].margin)
        v = holding[key]
        return Verdict("holds", ours=ours, margin=v.margin, units=units, interval=v.interval, interval_method=method,
                       reason=f"{len(holding)} of {k} hold after Holm over {k}; {key}: {v.reason}", details=details)
    if all(v.status == "differs" and pd_[key] <= a for key, v in parts.items()):
        key = min(parts, key=lambda q: parts[q].margin)
        v = parts[key]
        return Verdict("differs", ours=ours, margin=v.margin, units=units, interval=v.interval, interval_method=method,
                       reason=f"none of {k} holds, all contradict it; closest {key}: {v.reason}", details=details)
    alone = [key for key, v in parts.items() if v.status == "holds"]
    key = alone[0] if alone else next(key for key, v in parts.items() if v.status != "differs")
    v = parts[key]
    extra = f"; {key} holds alone but not after Holm over {k}" if alone else ""
    return Verdict("inconclusive", ours=ours, margin=0.0, units=units, interval=v.interval, interval_method=method,
                   reason=f"none of {k} holds after Holm{extra}; {key}: {v.reason}", details=details)
