"""Seeds until decided: rounds of seeds with a decision that stays valid when looked at after every round.

Why a group-sequential design and not a fixed number of seeds
--------------------------------------------------------------
Re-running a 95 % t interval after every round of seeds and stopping at the first decision is a
well-known trap: with looks at 3, 5, 7, 9 and 10 seeds the chance that *some* look excludes the true
mean is far above 5 % (:func:`naive_error_rate` shows it). This module plans the looks in advance
(``first``, ``first + step``, ..., ``cap``) and uses at every look the same, stricter, *nominal*
level, calibrated so that the probability that any look's interval misses the true mean is
``1 - level`` (a Pocock-type repeated confidence interval, Jennison and Turnbull, *Group Sequential
Methods*, 2000, ch. 9). The t statistics of paired differences at the looks have a joint law that
depends neither on the mean nor on the spread when the differences are i.i.d. normal, so the nominal
level is found once per plan by simulating that law (:func:`sequential_level`, seeded, cached): no
library beyond SciPy/NumPy is needed. The guarantee assumes roughly normal per-seed differences; it
holds for any stopping rule that uses only the planned looks, which is what :func:`until_decided`
does. Measured on 20 000 simulated plans (looks 3, 5, 7, 9, 10; tests/test_checks_sequential.py): the
chance that some look misses is 4.8 % for normal, 4.1 % for logistic, 3.8 % for t(5) and 3.1 % for
Laplace differences (heavier tails: conservative), but 7.2 % for uniform ones (light tails with a
first look at 3 seeds: the t statistic's tails are then heavier than Student's), the known limit of
small-sample t procedures.

A claim made of several parts (:func:`mmtheory.checks.all_of` / :func:`~mmtheory.checks.any_of`)
is decided at every look with the parts' intervals at the nominal level and Holm's rule across parts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from mmtheory.checks import Verdict, level_label
from mmtheory.seeding import numpy_rng

__all__ = ["plan_looks", "sequential_level", "naive_error_rate", "seeds_needed", "until_decided",
           "until_all_decided", "is_decided", "seed_order"]

_N_SIM = 40_000


def plan_looks(first: int, step: int, cap: int) -> tuple[int, ...]:
    """The planned numbers of seeds at which the check is made: ``first, first + step, ..., cap``.

    Parameters
    ----------
    first : int
        Seeds in the first round (>= 2: a t interval needs two).
    step : int
        Seeds added per round (>= 1).
    cap : int
        The most seeds (>= ``first``); always the last look.
    """
    for name, v in (("first", first), ("step", step), ("cap", cap)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int; got {v!r}.")
    if first < 2 or step < 1 or cap < first:
        raise ValueError(f"need first >= 2, step >= 1 and cap >= first; got first={first}, step={step}, cap={cap}.")
    out = list(range(int(first), int(cap), int(step)))
    return tuple(out + [int(cap)])


def _t_min_p(z: np.ndarray, looks: Sequence[int]) -> np.ndarray:
    """Per simulated row: the smallest two-sided t p-value over ``looks`` (rows of i.i.d. differences)."""
    c1, c2 = np.cumsum(z, axis=1), np.cumsum(z * z, axis=1)
    out = np.ones(z.shape[0])
    for n in looks:
        s1, s2 = c1[:, n - 1], c2[:, n - 1]
        mean = s1 / n
        var = np.maximum((s2 - n * mean * mean) / (n - 1), 1e-300)
        t = mean / np.sqrt(var / n)
        out = np.minimum(out, 2.0 * stats.t.sf(np.abs(t), n - 1))
    return out


@lru_cache(maxsize=64)
def sequential_level(looks: tuple[int, ...], level: float = 0.95) -> float:
    """The nominal two-sided level to use at every look so that the whole plan has coverage ``level``.

    Parameters
    ----------
    looks : tuple of int
        Planned seed counts (:func:`plan_looks`), increasing, each >= 2.
    level : float
        Simultaneous coverage over all looks, in (0, 1).

    Returns
    -------
    float
        ``1 - alpha'`` with ``P(min over looks of the two-sided t p-value <= alpha') = 1 - level`` under
        i.i.d. normal differences (simulated with 40 000 seeded plans; one look gives ``level`` itself).
    """
    looks = tuple(int(n) for n in looks)
    if not looks or any(n < 2 for n in looks) or list(looks) != sorted(set(looks)):
        raise ValueError(f"looks must be increasing seed counts >= 2; got {looks}.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}.")
    if len(looks) == 1:
        return float(level)
    z = numpy_rng(0, "sequential-level", *looks).standard_normal((_N_SIM, looks[-1]))
    alpha = float(np.quantile(_t_min_p(z, looks), 1.0 - level))
    return 1.0 - alpha


def naive_error_rate(looks: Sequence[int], level: float = 0.95, n_sim: int = 20_000, seed: int = 0) -> float:
    """How often a plain ``level`` t interval, re-made at every look, misses the true mean at some look."""
    looks = tuple(int(n) for n in looks)
    z = numpy_rng(seed, "naive-error", *looks).standard_normal((n_sim, looks[-1]))
    return float(np.mean(_t_min_p(z, looks) <= 1.0 - level))


def seeds_needed(mean: float, sd: float, level: float = 0.95, most: int = 100_000) -> int | None:
    """Seeds a fixed-size ``level`` t interval needs to exclude 0 for an effect ``mean`` with spread ``sd``.

    Pass the level the decision is made at: for seed rounds the per-look (nominal) level of the plan
    (:func:`sequential_level`), which is what :func:`until_all_decided` does. Returns None when the
    effect is zero or more than ``most`` seeds would be needed.
    """
    mean, sd = abs(float(mean)), float(sd)
    if not (math.isfinite(mean) and math.isfinite(sd)) or mean == 0:
        return None
    if sd == 0:
        return 2
    q = 0.5 + level / 2.0

    def ok(n: int) -> bool:
        return float(special.stdtrit(n - 1, q)) * sd / math.sqrt(n) < mean

    if not ok(most):
        return None
    lo, hi = 1, 2  # ok(lo) is False (one seed: no interval), find the smallest hi with ok(hi)
    while not ok(hi):
        lo, hi = hi, min(2 * hi, most)
    while hi - lo > 1:  # ok is monotone in n
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def seed_order(first: Sequence[int], cap: int) -> list[int]:
    """The chapter's seeds, then the smallest unused non-negative integers, ``max(cap, len(first))`` in all."""
    out = [int(x) for x in first]
    if len(set(out)) != len(out) or any(x < 0 for x in out):
        raise ValueError(f"seeds must be distinct non-negative integers; got {out}.")
    nxt = 0
    while len(out) < cap:
        if nxt not in out:
            out.append(nxt)
        nxt += 1
    return out


def is_decided(v: Verdict) -> bool:
    """Default stopping rule: decided, and not a "holds" whose power was not shown on its broken world."""
    if v.status == "inconclusive":
        return False
    return not (v.status == "holds" and v.power_shown is False)


def _undecided_effects(d: dict) -> list[tuple[float, float]]:
    """(mean, sd) of every undecided part of a verdict dict, recursively."""
    out = []
    parts = d.get("details", {}).get("parts")
    if parts:
        for p in parts.values():
            out += _undecided_effects(p)
    elif d.get("status") == "inconclusive":
        det = d.get("details", {})
        if det.get("mean") is not None and det.get("sd") is not None:
            out.append((float(det["mean"]) - float(det.get("threshold", 0.0)), float(det["sd"])))
    return out


def _combine(acc: Any, new: Any) -> Any:
    if acc is None:
        return new
    if dataclasses.is_dataclass(new) and not isinstance(new, type):
        return type(new)(**{f.name: _combine(getattr(acc, f.name), getattr(new, f.name))
                            for f in dataclasses.fields(new)})
    if isinstance(new, pd.DataFrame):
        return pd.concat([acc, new], ignore_index=True)
    if isinstance(new, dict):
        return {k: _combine(acc.get(k), v) for k, v in new.items()}
    if isinstance(new, (tuple, list)):
        return type(new)(_combine(a, b) for a, b in zip(acc, new))
    raise TypeError(f"run_round must return a DataFrame, a dict or tuple of DataFrames; got {type(new).__name__}.")


def until_decided(
    run_round: Callable[[list[int]], Any],
    check: Callable[[Any, float], Verdict],
    *,
    first: int = 3,
    step: int = 2,
    cap: int = 10,
    seeds: Sequence[int] | None = None,
    level: float = 0.95,
    decided: Callable[[Verdict], bool] = is_decided,
) -> tuple[Any, Verdict]:
    """Run seeds in rounds until ``check`` decides or ``cap`` seeds have run.

    Parameters
    ----------
    run_round : callable
        ``run_round(new_seeds)`` runs the experiment for the seeds of one round and returns tidy results:
        a DataFrame, or a dict / tuple / dataclass of DataFrames (e.g. the real world and its broken
        worlds). Rounds are concatenated (key by key).
    check : callable
        ``check(results, level)`` returns the claim's :class:`~mmtheory.checks.Verdict` on everything
        run so far, with every interval at two-sided level ``level`` (pass it on to the check functions).
    first, step, cap : int
        The planned looks (:func:`plan_looks`); quick profiles use a cap of about 10, full about 30.
    seeds : sequence of int, optional
        The seeds in the order they are used (default ``range(cap)``); at least ``cap`` of them.
    level : float
        Simultaneous coverage over all looks; each look uses :func:`sequential_level`.
    decided : callable
        Stopping rule (default :func:`is_decided`).

    Returns
    -------
    (results, verdict)
        Everything run, and the last verdict with ``details['seeds_used']``, ``details['stopped']``
        (``"decided"`` or ``"cap reached"``), ``details['looks']``, ``details['nominal_level']`` and, if
        undecided at the cap, ``details['seeds_needed']`` (seeds a t interval at the planned per-look level
        would need for the smallest observed undecided effect with its observed spread; None if no estimate).
    """
    results, verdicts = until_all_decided(run_round, {"claim": check}, first=first, step=step, cap=cap, seeds=seeds,
                                          level=level, decided=decided)
    return results, verdicts["claim"]


def until_all_decided(
    run_round: Callable[[list[int]], Any],
    checks: Mapping[str, Callable[[Any, float], Verdict]],
    *,
    first: int = 3,
    step: int = 2,
    cap: int = 10,
    seeds: Sequence[int] | None = None,
    level: float = 0.95,
    decided: Callable[[Verdict], bool] = is_decided,
) -> tuple[Any, dict[str, Verdict]]:
    """:func:`until_decided` for several claims that share the runs of one experiment.

    Rounds continue until every claim is decided or the cap is reached; every claim is checked at every
    look (each claim's own error stays at ``1 - level`` over the plan). Each returned verdict records the
    seeds used, why the rounds stopped *for it* ("decided" if it was decided at the last look, else
    "cap reached") and, if undecided, the seeds an effect of its observed size would need.
    """
    if not checks:
        raise ValueError("until_all_decided needs at least one check.")
    looks = plan_looks(first, step, cap)
    order = list(range(cap)) if seeds is None else [int(s) for s in seeds]
    if len(order) < cap or len(set(order)) != len(order):
        raise ValueError(f"seeds must hold at least cap = {cap} distinct seeds; got {order}.")
    nominal = sequential_level(looks, level)
    results, verdicts, done = None, {}, 0
    for n in looks:
        results = _combine(results, run_round(order[done:n]))
        done = n
        for key, check in checks.items():
            v = check(results, nominal)
            if not isinstance(v, Verdict):
                raise TypeError(f"check must return a Verdict; got {type(v).__name__}.")
            verdicts[key] = v
        if all(decided(v) for v in verdicts.values()):
            break
    plan = (f"group-sequential, looks at {list(looks)} seeds, {level_label(nominal)} per look "
            f"({level_label(level)} over the plan)")
    out = {}
    for key, v in verdicts.items():
        stopped = "decided" if decided(v) else "cap reached" if done == looks[-1] else "others decided"
        details = dict(v.details, seeds_used=done, seeds=order[:done], stopped=stopped, looks=list(looks),
                       nominal_level=nominal)
        note = f"{done} seeds, {stopped}"
        if stopped != "decided" and v.status != "inconclusive":
            note += (f"; the broken world stayed {v.variant_status or 'untried'}, so the check's power is not shown"
                     if v.status == "holds" and v.power_shown is False else "")
        elif stopped != "decided":
            # sized at the per-look level the rounds decide at, not at a fixed 95 %
            needs = [seeds_needed(m, sd, level=nominal) for m, sd in _undecided_effects(v.to_dict())]
            needs = [x for x in needs if x is not None]
            need = max(needs) if needs else None
            details["seeds_needed"] = need
            note += (f"; an effect of the observed size would need about {need} seeds" if need is not None
                     else "; no effect observed to size a larger run")
        out[key] = replace(v, details=details, reason=f"{v.reason} ({note})",
                           interval_method=f"{v.interval_method}; {plan}")
    return results, out
