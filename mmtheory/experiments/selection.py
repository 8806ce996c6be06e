"""How well the modality-selection principle picks the truly better set, across m and the overlap w."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mmtheory.experiments.theorems import _fit, _population_risk, two_modality_world
from mmtheory.theory.bounds import fit_late_fusion_erm
from mmtheory.theory.selection import select_modalities
from mmtheory.seeding import numpy_rng


def selection_accuracy(
    m_values: Sequence[int],
    w_values: Sequence[float],
    n_trials: int,
    *,
    scales: Sequence[float] = (1.0, 0.25, 0.0),
    kappa: float = 0.3,
    encoder_radius: float = 1.0,
    head_radius: float = 3.0,
    n_draws: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """For each (w, m, trial): the rule's choice at each ``scale`` against the truly better set.

    "Truly better" compares the population risks of the two ERM predictors trained on that same sample,
    so it is the decision a user with infinite test data would make for *this* training set.

    Returns
    -------
    DataFrame
        ``w``, ``m``, ``trial``, ``scale``, ``chose_larger``, ``larger_truly_better``, ``correct``,
        ``margin``, ``regret`` (population risk of the chosen model minus the better one's, >= 0).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}.")
    big, small = ("m1", "m2"), ("m1",)
    rows = []
    for w in w_values:
        world = two_modality_world(kappa=kappa, w=w, seed=seed)
        for m in m_values:
            for trial in range(n_trials):
                data = world.sample(int(m), seed=[seed, int(m), trial, int(round(1000 * w))])
                r_big = _population_risk(world, big, _fit(world, data, big, encoder_radius, head_radius)[0])
                r_small = _population_risk(world, small, _fit(world, data, small, encoder_radius, head_radius)[0])
                for scale in scales:
                    sel = select_modalities(data.views, data.y, big, small, encoder_radius=encoder_radius,
                                            head_radius=head_radius, scale=scale, n_draws=n_draws, seed=trial)
                    chose_big = sel.choice == big
                    chosen = r_big if chose_big else r_small
                    rows.append(dict(w=float(w), m=int(m), trial=trial, scale=float(scale), chose_larger=chose_big,
                                     larger_truly_better=r_big < r_small, correct=chose_big == (r_big < r_small),
                                     margin=sel.margin, regret=chosen - min(r_big, r_small)))
    return pd.DataFrame(rows)


def selection_trials(
    m_values: Sequence[int],
    w_values: Sequence[float],
    n_trials: int,
    *,
    kappa: float = 0.3,
    encoder_radius: float = 1.0,
    head_radius: float = 3.0,
    n_draws: int = 200,
    val_fraction: float = 0.3,
    world_seed: int = 0,
    seed: int = 0,
    shuffle_labels: bool = False,
    compute: str = "batched",
) -> pd.DataFrame:
    """Everything the selection rules need, per (w, m, trial), computed once on one training sample.

    Parameters
    ----------
    val_fraction : float in (0, 1)
        Share of the sample held out by the validation-split rule (it fits both sets on the rest and
        picks the lower held-out risk; the chosen set is then trained on the whole sample).
    world_seed : int
        Seed of the world (its rotation and target); tuning and judging use different world seeds.
    shuffle_labels : bool
        The broken world: labels permuted within each training sample (no set is truly informative).
    compute : {"batched", "loop"}
        ``batched`` (default): the trials of one m are one computation for every w (their samples, signs
        and split permutations drawn from each trial's own stream; a trial's signs, the same for every w,
        drawn once and multiplied with all worlds' samples in one product; then all ERMs, population
        risks, complexities and held-out risks batched, in chunks of at most
        :data:`mmtheory.experiments.theorems.MAX_SIGNS` sign-by-world products). ``loop``: the per-trial
        reference; both give the same numbers within float tolerance (tested).

    Returns
    -------
    DataFrame
        ``w``, ``m``, ``trial``, ``r_larger``, ``r_smaller`` (population risks of the two ERMs trained
        on the whole sample), ``gain`` (empirical risk of the smaller ERM minus the larger's: the
        centred-loss gain, in loss units), ``complexity_diff`` (R_S(larger) - R_S(smaller), prediction
        units), ``lipschitz`` (L of the squared loss on the reachable range), ``val_larger`` (the
        validation split prefers the larger set).
    """
    from mmtheory.experiments.theorems import loss_constants
    from mmtheory.theory.rademacher import late_fusion_rademacher

    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}.")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}.")
    if compute not in ("batched", "loop"):
        raise ValueError(f"compute must be 'batched' or 'loop', got {compute!r}.")
    big, small = ("m1", "m2"), ("m1",)
    a, b = float(encoder_radius), float(head_radius)
    if compute == "batched":
        return _selection_trials_batched(m_values, w_values, n_trials, kappa=kappa, a=a, b=b, n_draws=n_draws,
                                         val_fraction=val_fraction, world_seed=world_seed, seed=seed,
                                         shuffle_labels=shuffle_labels)
    rows = []
    for w in w_values:
        world = two_modality_world(kappa=kappa, w=w, seed=world_seed)
        lip, _ = loss_constants(world, encoder_radius=a, head_radius=b)
        for m in m_values:
            for trial in range(n_trials):
                rng = numpy_rng(seed, "selection-trials", world_seed, int(m), trial, int(round(1000 * w)))
                data = world.sample(int(m), seed=rng)
                y = data.y[:, 0]
                if shuffle_labels:
                    y = y[rng.permutation(len(y))]
                fit = {s: _fit(world, data._replace(y=y[:, None]), s, a, b) for s in (big, small)}
                risk = {s: _population_risk(world, s, fit[s][0]) for s in (big, small)}
                comp = {s: late_fusion_rademacher(data.views, s, encoder_radius=a, head_radius=b, n_draws=n_draws,
                                                  seed=trial).value for s in (big, small)}
                n_val = max(1, int(round(val_fraction * int(m))))
                order = rng.permutation(int(m))
                tr, va = order[n_val:], order[:n_val]
                val_risk = {}
                for s in (big, small):
                    views_tr = {k: v[tr] for k, v in data.views.items()}
                    w_s, _ = fit_late_fusion_erm(views_tr, y[tr], s, encoder_radius=a, head_radius=b)
                    x_va = np.concatenate([data.views[k][va] for k in s], axis=1)
                    val_risk[s] = float(np.mean((x_va @ w_s - y[va]) ** 2))
                rows.append(dict(w=float(w), m=int(m), trial=trial, r_larger=risk[big], r_smaller=risk[small],
                                 gain=fit[small][1] - fit[big][1], complexity_diff=comp[big] - comp[small],
                                 lipschitz=lip, val_larger=val_risk[big] <= val_risk[small]))
    return pd.DataFrame(rows)


def _selection_trials_batched(m_values, w_values, n_trials, *, kappa, a, b, n_draws, val_fraction, world_seed, seed,
                              shuffle_labels) -> pd.DataFrame:
    """:func:`selection_trials` with the trials of each m batched over trials and worlds (same streams as the loop).

    A trial's signs come from its own stream whatever ``w`` (``rademacher_signs(seed=trial)``), so they are
    drawn once per (m, trial) and one product :func:`~mmtheory.theory.rademacher.signed_sums` serves every
    world's sample side by side (the worlds' columns stacked), expanded from bytes in cache-sized blocks.
    """
    from mmtheory.experiments.theorems import MAX_SIGNS, _columns, loss_constants
    from mmtheory.theory.bounds import ball_lstsq_batched
    from mmtheory.theory.rademacher import sign_bytes, signed_sums

    big, small = ("m1", "m2"), ("m1",)
    worlds = [two_modality_world(kappa=kappa, w=w, seed=world_seed) for w in w_values]
    lips = [loss_constants(world, encoder_radius=a, head_radius=b)[0] for world in worlds]
    cols = {s: _columns(worlds[0], s) for s in (big, small)}  # every world has the same modalities and widths
    d = sum(v.shape[0] for v in worlds[0].view_maps.values())
    frames: dict[tuple[int, int], list[pd.DataFrame]] = {}
    for i, m in enumerate(m_values):
        m = int(m)
        n_val = max(1, int(round(val_fraction * m)))
        chunk = max(1, MAX_SIGNS // (n_draws * m * len(worlds)))
        for start in range(0, n_trials, chunk):
            trials = range(start, min(n_trials, start + chunk))
            raw = np.stack([sign_bytes(numpy_rng(trial, "rademacher-signs"), (n_draws, m)) for trial in trials])
            xs, ys, orders = [], [], []
            for w, world in zip(w_values, worlds):
                for trial in trials:  # each trial's own stream, drawn in the loop's order
                    rng = numpy_rng(seed, "selection-trials", world_seed, m, trial, int(round(1000 * w)))
                    data = world.sample(m, seed=rng)
                    y = data.y[:, 0]
                    if shuffle_labels:
                        y = y[rng.permutation(len(y))]
                    orders.append(rng.permutation(m))
                    xs.append(np.concatenate(list(data.views.values()), axis=1))
                    ys.append(y)
            n_w, n_t = len(worlds), len(trials)
            x_all = np.stack(xs).reshape(n_w, n_t, m, d)  # (W, T, m, d)
            y_all, order_all = np.stack(ys).reshape(n_w, n_t, m), np.stack(orders).reshape(n_w, n_t, m)
            # one signed sum per trial for all worlds: (T, draws, W * d), the signs of trial t serve both sets
            s_all = signed_sums(raw, x_all.transpose(1, 2, 0, 3).reshape(n_t, m, n_w * d)).reshape(n_t, n_draws, n_w, d)
            for k, (w, world) in enumerate(zip(w_values, worlds)):
                x, y, order = x_all[k], y_all[k], order_all[k]
                tr, va = order[:, n_val:], order[:, :n_val]
                x_tr, y_tr = np.take_along_axis(x, tr[:, :, None], 1), np.take_along_axis(y, tr, 1)
                x_va, y_va = np.take_along_axis(x, va[:, :, None], 1), np.take_along_axis(y, va, 1)
                out = {}
                for s in (big, small):
                    c = cols[s]
                    xs_, xt_, xv_ = x[:, :, c], x_tr[:, :, c], x_va[:, :, c]
                    w_s, emp = ball_lstsq_batched(xs_.transpose(0, 2, 1) @ xs_ / m,
                                                  (xs_.transpose(0, 2, 1) @ y[:, :, None])[:, :, 0] / m,
                                                  (y * y).mean(1), a * b)
                    mom = world.moments(s)
                    out[("risk", s)] = (float(mom.cov_yy[0, 0]) - 2 * w_s @ mom.cov_xy[:, 0]
                                        + np.einsum("ti,ij,tj->t", w_s, mom.cov_xx, w_s))
                    out[("emp", s)] = emp
                    out[("rad", s)] = a * b / m * np.sqrt((s_all[:, :, k, c] ** 2).sum(-1)).mean(1)
                    n_tr = xt_.shape[1]
                    w_t, _ = ball_lstsq_batched(xt_.transpose(0, 2, 1) @ xt_ / n_tr,
                                                (xt_.transpose(0, 2, 1) @ y_tr[:, :, None])[:, :, 0] / n_tr,
                                                (y_tr * y_tr).mean(1), a * b)
                    out[("val", s)] = (((xv_ @ w_t[:, :, None])[:, :, 0] - y_va) ** 2).mean(1)
                frames.setdefault((k, i), []).append(pd.DataFrame(dict(
                    w=float(w), m=m, trial=np.array(trials), r_larger=out[("risk", big)], r_smaller=out[("risk", small)],
                    gain=out[("emp", small)] - out[("emp", big)], complexity_diff=out[("rad", big)] - out[("rad", small)],
                    lipschitz=lips[k], val_larger=out[("val", big)] <= out[("val", small)])))
    ordered = [f for k in range(len(worlds)) for i in range(len(m_values)) for f in frames[(k, i)]]  # rows by (w, m, trial)
    return pd.concat(ordered, ignore_index=True)


def rule_regrets(trials: pd.DataFrame, scales: dict[str, float | str]) -> pd.DataFrame:
    """Population regret of every rule on the same trials.

    Parameters
    ----------
    trials : DataFrame
        From :func:`selection_trials`.
    scales : dict
        Rule name -> the scale of the complexity difference: a number (prediction units), or
        ``"4L"`` (Theorem 2's constant, so both sides are in loss units). The rules ``larger``,
        ``smaller`` and ``validation`` are always added.

    Returns
    -------
    DataFrame
        ``trials`` plus ``chose_<rule>`` (True: larger) and ``regret_<rule>`` for every rule (population
        risk of the chosen set's ERM minus the better one's, >= 0), and ``larger_truly_better``.
    """
    out = trials.copy()
    best = np.minimum(out["r_larger"], out["r_smaller"])
    out["larger_truly_better"] = out["r_larger"] < out["r_smaller"]
    choices = {"larger": np.ones(len(out), bool), "smaller": np.zeros(len(out), bool),
               "validation": out["val_larger"].to_numpy(bool)}
    for name, scale in scales.items():
        factor = 4 * out["lipschitz"] if scale == "4L" else float(scale)
        choices[name] = (out["gain"] - factor * out["complexity_diff"] >= 0).to_numpy()
    for name, chose in choices.items():
        out[f"chose_{name}"] = chose
        out[f"regret_{name}"] = np.where(chose, out["r_larger"], out["r_smaller"]) - best
    return out


def tune_scale(trials: pd.DataFrame, grid: Sequence[float]) -> float:
    """The scale of ``grid`` with the lowest mean regret on ``trials`` (held-out worlds); ties: the first."""
    if len(grid) == 0:
        raise ValueError("tune_scale needs a non-empty grid of scales.")
    reg = rule_regrets(trials, {f"s{i}": float(s) for i, s in enumerate(grid)})
    means = [float(reg[f"regret_s{i}"].mean()) for i in range(len(grid))]
    return float(grid[int(np.argmin(means))])
