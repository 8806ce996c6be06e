r"""Theorems 1 and 2 of Huang et al. (2021) checked numerically, in a world where every term is computable.

**The world** (:func:`two_modality_world`): a bounded (uniform) latent; modality ``m1`` shows ``d1``
coordinates that carry most of the signal; modality ``m2`` shows ``d2`` coordinates of which one carries
a small extra piece of the target (weight ``kappa``) and the rest is irrelevant; uniform label noise.
Population risks of linear predictors are exact (second moments), inputs and targets are bounded, so
the loss bound C and Lipschitz constant L of the squared loss on the reachable range are known.

**The learners**: the late-fusion class :math:`\mathcal H\circ\mathcal G_{\mathcal M}` with encoder bounds
``a`` and head bound ``b`` (composed predictors :math:`\sum_k\langle w_k, x^{(k)}\rangle`,
:math:`\sum_k\lVert w_k\rVert^2 \le (ab)^2`), trained by exact ERM (:func:`mmtheory.theory.bounds.ball_lstsq`).
The learned encoder of modality k is the unit direction of :math:`w_k` scaled to norm ``a`` (a 1-d
latent per modality); its latent quality refits a head of norm <= ``b`` on population moments.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from mmtheory.data.synthetic import LatentLinearModel
from mmtheory.theory.bounds import ball_lstsq, fit_late_fusion_erm, theorem1_rhs, theorem2_rhs
from mmtheory.theory.rademacher import late_fusion_rademacher


def two_modality_world(
    d1: int = 5, d2: int = 40, *, kappa: float = 0.3, w: float = 0.0, noise: float = 1.0, seed: int = 0,
) -> LatentLinearModel:
    """The bounded two-modality world described in the module docstring (latent dim d1 + d2).

    ``w`` in [0, 1] is the overlap: m2's informative coordinate carries ``kappa * (1 - w)`` of unique
    target signal, and with weight ``w`` it also repeats m1's first coordinate (information m1 already
    has). ``w = 1``: m2 adds nothing; ``w = 0``: m2 adds ``kappa**2`` of explainable variance.
    """
    from mmtheory._validation import check_unit_interval

    w = check_unit_interval("w", w)
    rng = np.random.default_rng(seed)
    d = d1 + d2
    v1 = np.zeros((d1, d))
    v1[:, :d1] = np.eye(d1)
    v2 = np.zeros((d2, d))
    q, _ = np.linalg.qr(rng.standard_normal((d2, d2)))
    v2[:, d1:] = q  # m2 shows a rotation of its own d2 latent coordinates ...
    v2[:, 0] = w * q[:, 0]  # ... and, with weight w, m1's first coordinate along its informative direction
    t = np.zeros((1, d))
    t[0, :d1] = rng.standard_normal(d1) / math.sqrt(d1)
    t[0, d1] = kappa * (1 - w)  # the piece of the target only m2 shows
    return LatentLinearModel({"m1": v1, "m2": v2}, t, float(noise),
                             dict(kind="two-modality", d1=d1, d2=d2, kappa=kappa, w=w, seed=seed), distribution="uniform")


def loss_constants(model: LatentLinearModel, *, encoder_radius: float, head_radius: float) -> tuple[float, float]:
    """(L, C) of the squared loss on the reachable range: |f| <= a b max||x||, |y| <= max|t.l| + noise bound.

    For the uniform latent on [-sqrt 3, sqrt 3]^D: max||x|| <= ||V||_op sqrt(3 D), max|t.l| = sqrt 3 ||t||_1.
    """
    v = np.concatenate(list(model.view_maps.values()), axis=0)
    d = v.shape[1]
    x_max = float(np.linalg.norm(v, 2) * math.sqrt(3 * d))
    y_max = float(math.sqrt(3) * (np.abs(model.target_map).sum() + model.noise))
    reach = encoder_radius * head_radius * x_max + y_max
    return 2 * reach, reach**2


def _fit(model, data, subset, a, b):
    """ERM over the late-fusion class on the sample; returns (composed coef w, empirical risk)."""
    return fit_late_fusion_erm(data.views, data.y[:, 0], subset, encoder_radius=a, head_radius=b)


def _population_risk(model, subset, w):
    mom = model.moments(subset)
    return float(mom.cov_yy[0, 0] - 2 * w @ mom.cov_xy[:, 0] + w @ mom.cov_xx @ w)


def _eta(model, subset, w, a, b):
    """eta of the encoder learned with w: 1-d latent per modality, head refitted with norm <= b."""
    mom = model.moments(subset)
    cols = []
    for name, sl in mom.slices.items():
        wk = w[sl]
        col = np.zeros(len(w))
        nrm = np.linalg.norm(wk)
        if nrm > 0:
            col[sl] = a * wk / nrm
        cols.append(col)
    enc = np.stack(cols, axis=1)
    _, risk = ball_lstsq(enc.T @ mom.cov_xx @ enc, enc.T @ mom.cov_xy[:, 0], float(mom.cov_yy[0, 0]), b)
    return risk - model.oracle_risk


def theorem_trials(
    model: LatentLinearModel,
    m_values: Sequence[int],
    n_trials: int,
    *,
    larger: Sequence[str] = ("m1", "m2"),
    smaller: Sequence[str] = ("m1",),
    encoder_radius: float = 1.0,
    head_radius: float = 3.0,
    delta: float = 0.1,
    n_draws: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Both theorems' sides on ``n_trials`` independent training sets for every m.

    Returns
    -------
    DataFrame
        One row per (m, trial): population risks ``r_M``, ``r_N``; ``gamma_S``; empirical Rademacher
        complexities ``rad_M``, ``rad_all`` on that sample; ``centered_loss_M`` (L_hat); ``eta_M``.
        Add the bounds with :func:`add_bounds`, which uses the average complexity over trials as R_m.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}.")
    a, b = float(encoder_radius), float(head_radius)
    rows = []
    for m in m_values:
        for trial in range(n_trials):
            data = model.sample(int(m), seed=[seed, int(m), trial])
            bayes = data.latent @ model.target_map.T  # h* o g* on the sample
            emp_oracle = float(np.mean((data.y - bayes) ** 2))
            w_m, emp_m = _fit(model, data, larger, a, b)
            w_n, _ = _fit(model, data, smaller, a, b)
            eta_m, eta_n = _eta(model, larger, w_m, a, b), _eta(model, smaller, w_n, a, b)
            rows.append(dict(
                m=int(m), trial=trial,
                r_M=_population_risk(model, larger, w_m), r_N=_population_risk(model, smaller, w_n),
                eta_M=eta_m, eta_N=eta_n, gamma_S=eta_m - eta_n,
                rad_M=late_fusion_rademacher(data.views, larger, encoder_radius=a, head_radius=b, n_draws=n_draws,
                                             seed=trial).value,
                rad_all=late_fusion_rademacher(data.views, model.modalities, encoder_radius=a, head_radius=b,
                                               n_draws=n_draws, seed=trial).value,
                centered_loss_M=emp_m - emp_oracle,
            ))
    out = pd.DataFrame(rows)
    out.attrs.update(encoder_radius=a, head_radius=b, delta=delta)
    return out


def add_bounds(trials: pd.DataFrame, *, lipschitz: float, loss_bound: float, delta: float) -> pd.DataFrame:
    """Add both theorems' left and right sides; R_m is the mean empirical complexity over trials at each m."""
    out = trials.copy()
    r_m = out.groupby("m")["rad_M"].transform("mean")
    r_all = out.groupby("m")["rad_all"].transform("mean")
    out["thm1_lhs"] = out["r_M"] - out["r_N"]
    out["thm1_rhs"] = [theorem1_rhs(g, r, lipschitz=lipschitz, loss_bound=loss_bound, m=m, delta=delta)
                       for g, r, m in zip(out["gamma_S"], r_m, out["m"])]
    out["thm2_lhs"] = out["eta_M"]
    out["thm2_rhs"] = [theorem2_rhs(r, ra, c, lipschitz=lipschitz, loss_bound=loss_bound, m=m, delta=delta)
                       for r, ra, c, m in zip(r_m, r_all, out["centered_loss_M"], out["m"])]
    return out


def bound_summary(bounded: pd.DataFrame, delta: float) -> pd.DataFrame:
    """Per m: failure frequencies of both theorems (with the allowed delta/2 and delta) and their slack."""
    g = bounded.assign(fail1=bounded["thm1_lhs"] > bounded["thm1_rhs"], fail2=bounded["thm2_lhs"] > bounded["thm2_rhs"])
    out = g.groupby("m").agg(
        trials=("trial", "size"),
        mean_r_M_minus_r_N=("thm1_lhs", "mean"),
        share_M_better=("thm1_lhs", lambda v: float(np.mean(v < 0))),
        thm1_fail=("fail1", "mean"),
        thm1_rhs=("thm1_rhs", "mean"),
        thm2_fail=("fail2", "mean"),
        eta_M=("thm2_lhs", "mean"),
        thm2_rhs=("thm2_rhs", "mean"),
    ).reset_index()
    out["thm1_allowed"] = delta / 2
    out["thm2_allowed"] = delta
    return out


def tightness(bounded: pd.DataFrame) -> pd.DataFrame:
    """Per m: mean left and right sides of both theorems and the tightness factor right / |left|.

    Returns
    -------
    DataFrame
        ``m``, ``thm1_lhs`` (mean r(M) - r(N)), ``thm1_rhs``, ``thm1_factor`` (rhs / |lhs|), ``thm2_lhs``
        (mean eta(g_M)), ``thm2_rhs``, ``thm2_factor``. A factor of 1 is a tight bound.
    """
    out = bounded.groupby("m")[["thm1_lhs", "thm1_rhs", "thm2_lhs", "thm2_rhs"]].mean().reset_index()
    for t in (1, 2):
        lhs = out[f"thm{t}_lhs"].abs()
        out[f"thm{t}_factor"] = out[f"thm{t}_rhs"] / lhs.where(lhs > 0)
    return out[["m", "thm1_lhs", "thm1_rhs", "thm1_factor", "thm2_lhs", "thm2_rhs", "thm2_factor"]]


def crossovers(bounded: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Where, in m, the larger set starts to win: observed, as gamma_S says, and as Theorem 1's bound says.

    For each quantity q (``r_M - r_N``, ``gamma_S``, the bound ``thm1_rhs``), the smallest m from which the
    paired t interval of q over training sets lies wholly below 0 at every larger m (None: never). A bound
    can only *certify* that M wins where its right side is below 0.

    Returns
    -------
    DataFrame
        ``quantity``, ``crossover_m`` (int or None), ``min_upper`` (the smallest upper end of q's interval
        over m: how close it came to certifying).
    """
    from mmtheory.checks import paired_interval

    q = bounded.assign(diff=bounded["r_M"] - bounded["r_N"])
    rows = []
    for name, col in [("observed r(M) - r(N)", "diff"), ("gamma_S(M, N)", "gamma_S"), ("Theorem 1 right side", "thm1_rhs")]:
        uppers, cross = {}, None
        for m, g in q.groupby("m"):
            uppers[int(m)] = paired_interval(g[col].to_numpy(), level)[2]
        for m in sorted(uppers, reverse=True):
            if not uppers[m] < 0:
                break
            cross = m
        rows.append(dict(quantity=name, crossover_m=cross, min_upper=float(min(uppers.values()))))
    return pd.DataFrame(rows).astype({"crossover_m": "Int64"})
