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
from mmtheory.theory.bounds import ball_lstsq, ball_lstsq_batched, fit_late_fusion_erm, theorem1_rhs, theorem2_rhs


def two_modality_world(
    d1: int = 5, d2: int = 40, *, kappa: float = 0.3, w: float = 0.0, noise: float = 1.0, seed: int = 0,
) -> LatentLinearModel:
    """The bounded two-modality world described in the module docstring (latent dim d1 + d2).

    ``w`` in [0, 1] is the overlap: m2's informative coordinate carries ``kappa * (1 - w)`` of unique
    target signal, and with weight ``w`` it also repeats m1's first coordinate (information m1 already
    has). ``w = 1``: m2 adds nothing; ``w = 0``: m2 adds ``kappa**2`` of explainable variance.
    """
    from mmtheory._validation import check_unit_interval
    from mmtheory.seeding import numpy_rng

    w = check_unit_interval("w", w)
    rng = numpy_rng(seed, "two-modality-world")
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


#: Most Rademacher signs (trials x draws x m) held at once; trials beyond it are processed chunk by chunk.
MAX_SIGNS = 1 << 22


def _draw(model: LatentLinearModel, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-variance draws of the model's distribution (the same law as :meth:`LatentLinearModel.sample`)."""
    if model.distribution == "gaussian":
        return rng.standard_normal(shape)
    return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size=shape)


def _columns(model: LatentLinearModel, subset: Sequence[str]) -> np.ndarray:
    """Column indices of ``subset``'s views in the concatenation of all views (model order)."""
    from mmtheory.data.synthetic import column_slices
    from mmtheory._validation import check_modalities

    chosen = check_modalities(subset, model.modalities)
    sl = column_slices({k: v.shape[0] for k, v in model.view_maps.items()})
    return np.concatenate([np.arange(sl[k].start, sl[k].stop) for k in chosen])


def _batched_eta(model: LatentLinearModel, subset: Sequence[str], w: np.ndarray, a: float, b: float) -> np.ndarray:
    """:func:`_eta` for a batch of composed coefficients ``w`` (T, d_S): one batched head refit."""
    mom = model.moments(subset)
    t, d = w.shape
    enc = np.zeros((t, d, len(mom.slices)))
    for j, sl in enumerate(mom.slices.values()):
        wk = w[:, sl]
        nrm = np.linalg.norm(wk, axis=1, keepdims=True)
        enc[:, sl, j] = np.where(nrm > 0, a * wk / np.where(nrm > 0, nrm, 1.0), 0.0)
    cov_zz = np.einsum("tik,ij,tjl->tkl", enc, mom.cov_xx, enc)
    cov_zy = np.einsum("tik,i->tk", enc, mom.cov_xy[:, 0])
    _, risk = ball_lstsq_batched(cov_zz, cov_zy, np.full(t, float(mom.cov_yy[0, 0])), b)
    return risk - model.oracle_risk


def trial_sides(
    model: LatentLinearModel, latent: np.ndarray, eps: np.ndarray, sigma: np.ndarray, *,
    larger: Sequence[str] = ("m1", "m2"), smaller: Sequence[str] = ("m1",), encoder_radius: float = 1.0,
    head_radius: float = 3.0,
) -> dict[str, np.ndarray]:
    """Both theorems' per-trial quantities for T training sets of size m at once (the batched core).

    Parameters
    ----------
    model : LatentLinearModel
        A scalar-target model (as :func:`two_modality_world`).
    latent : ndarray (T, m, D)
        The training sets' latents; views are ``latent @ V_k.T``, targets ``latent @ t + noise * eps``.
    eps : ndarray (T, m)
        Unit-variance label noise.
    sigma : ndarray (T, n_draws, m), or uint8 (T, n_draws, ceil(m / 8))
        Rademacher signs of each training set (shared by ``rad_M`` and ``rad_all``, as common random numbers),
        or the bytes they come from (:func:`~mmtheory.theory.rademacher.sign_bytes`: then expanded block by
        block in cache, :func:`~mmtheory.theory.rademacher.signed_sums`; the same signs, far less memory traffic).

    Returns
    -------
    dict of str -> ndarray (T,)
        ``r_M``, ``r_N``, ``eta_M``, ``eta_N``, ``gamma_S``, ``rad_M``, ``rad_all``, ``centered_loss_M``, as
        in :func:`theorem_trials`. Equal within float tolerance to the per-trial computation
        (:func:`~mmtheory.theory.bounds.fit_late_fusion_erm`, :func:`_eta`,
        :func:`~mmtheory.theory.rademacher.late_fusion_rademacher`) on the same samples and signs.
    """
    if model.n_outputs != 1:
        raise ValueError(f"trial_sides needs a scalar target; the model has {model.n_outputs} outputs.")
    from mmtheory.theory.rademacher import signed_sums

    latent, eps = (np.asarray(v, dtype=np.float64) for v in (latent, eps))
    packed = isinstance(sigma, np.ndarray) and sigma.dtype == np.uint8
    sigma = sigma if packed else np.asarray(sigma, dtype=np.float64)
    m_signs = (latent.shape[1] + 7) // 8 if packed else latent.shape[1]
    if latent.ndim != 3 or eps.shape != latent.shape[:2] or sigma.ndim != 3 or sigma.shape[::2] != (latent.shape[0], m_signs):
        raise ValueError(f"latent must be (T, m, D), eps (T, m) and sigma (T, n_draws, m) (or its uint8 bytes, "
                         f"(T, n_draws, ceil(m / 8))); got {latent.shape}, {eps.shape} and {sigma.shape}.")
    a, b = float(encoder_radius), float(head_radius)
    t_, m, _ = latent.shape
    v_all = np.concatenate(list(model.view_maps.values()), axis=0)
    x = latent @ v_all.T  # (T, m, d_all)
    f = latent @ model.target_map[0]  # (T, m): h* o g* on the samples
    y = f + model.noise * eps
    var_y = (y * y).mean(1)
    out: dict[str, np.ndarray] = {}
    for tag, subset in (("M", larger), ("N", smaller)):
        xs = x[:, :, _columns(model, subset)]
        xt = xs.transpose(0, 2, 1)
        w, emp = ball_lstsq_batched(xt @ xs / m, (xt @ y[:, :, None])[:, :, 0] / m, var_y, a * b)
        mom = model.moments(subset)
        out[f"r_{tag}"] = (float(mom.cov_yy[0, 0]) - 2 * w @ mom.cov_xy[:, 0]
                           + np.einsum("ti,ij,tj->t", w, mom.cov_xx, w))
        out[f"eta_{tag}"] = _batched_eta(model, subset, w, a, b)
        if tag == "M":
            out["centered_loss_M"] = emp - model.noise**2 * (eps * eps).mean(1)
    out["gamma_S"] = out["eta_M"] - out["eta_N"]
    s = signed_sums(sigma, x) if packed else sigma @ x  # (T, n_draws, d_all): one product serves both complexities
    sq = s * s
    scale = a * b / m  # equal encoder bounds: sup = (b / m) sqrt(sum_k a^2 ||sigma x_k||^2)
    out["rad_M"] = scale * np.sqrt(sq[:, :, _columns(model, larger)].sum(-1)).mean(1)
    out["rad_all"] = scale * np.sqrt(sq.sum(-1)).mean(1)
    return out


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

    All training sets of one m are one batched computation (:func:`trial_sides`): samples, ERMs
    (:func:`~mmtheory.theory.bounds.ball_lstsq_batched`), encoder qualities and Rademacher signs for all
    trials at once (in chunks of at most :data:`MAX_SIGNS` signs). Streams: ``numpy_rng(seed,
    "theorems", "sample", m)`` for the data and ``numpy_rng(seed, "theorems", "signs", m)`` for the signs.

    Returns
    -------
    DataFrame
        One row per (m, trial): population risks ``r_M``, ``r_N``; ``gamma_S``; empirical Rademacher
        complexities ``rad_M``, ``rad_all`` on that sample; ``centered_loss_M`` (L_hat); ``eta_M``.
        Add the bounds with :func:`add_bounds`, which uses the average complexity over trials as R_m.
    """
    from mmtheory.seeding import numpy_rng
    from mmtheory.theory.rademacher import sign_bytes

    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials}.")
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ValueError(f"n_draws must be an integer >= 1, got {n_draws}.")
    a, b = float(encoder_radius), float(head_radius)
    d_latent = model.target_map.shape[1]
    frames = []
    for m in m_values:
        m = int(m)
        if m < 1:
            raise ValueError(f"every m must be >= 1; got {m}.")
        data_rng, sign_rng = numpy_rng(seed, "theorems", "sample", m), numpy_rng(seed, "theorems", "signs", m)
        chunk = max(1, MAX_SIGNS // (n_draws * m))
        parts = []
        for start in range(0, n_trials, chunk):
            c = min(chunk, n_trials - start)
            latent = _draw(model, data_rng, (c, m, d_latent))
            eps = _draw(model, data_rng, (c, m))
            sigma = sign_bytes(sign_rng, (c, n_draws, m))  # the signs as bytes, expanded in cache by trial_sides
            parts.append(trial_sides(model, latent, eps, sigma, larger=larger, smaller=smaller, encoder_radius=a,
                                     head_radius=b))
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        frames.append(pd.DataFrame(dict(m=m, trial=np.arange(n_trials), **cols)))
    order = ["m", "trial", "r_M", "r_N", "eta_M", "eta_N", "gamma_S", "rad_M", "rad_all", "centered_loss_M"]
    out = pd.concat(frames, ignore_index=True)[order]
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


# --------------------------------------------------------------------------- looking for the tightest world
def slack_ratio(lhs, rhs):
    r"""How far a bound is from its left side, as a multiple of the left side: :math:`1 + (\text{rhs} - \text{lhs})/|\text{lhs}|`.

    1 is a tight bound (right side equal to the left), whatever the left side's sign; for a positive left
    side it is rhs / lhs. (The ratio rhs / |lhs| of :func:`tightness` falls to 0 where a bound on a
    *negative* left side crosses 0, which would make a loose bound look tight.) NaN where lhs is 0.
    """
    lhs, rhs = np.asarray(lhs, dtype=np.float64), np.asarray(rhs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lhs != 0, 1 + (rhs - lhs) / np.abs(lhs), np.nan)


def world_sides(
    d1: int, d2: int, *, kappa: float, noise: float, head_radius: float, m_values: Sequence[int], n_trials: int,
    n_draws: int, encoder_radius: float = 1.0, delta: float = 0.1, seed: int = 0,
) -> pd.DataFrame:
    """Mean left and right sides of both theorems, and their :func:`slack_ratio`, in one two-modality world.

    Returns
    -------
    DataFrame
        One row per m: the world's constants (``d1``, ``d2``, ``kappa``, ``noise``, ``head_radius``), ``m``,
        ``thm{1,2}_lhs``, ``thm{1,2}_rhs`` (means over ``n_trials`` training sets) and ``thm{1,2}_ratio``.
    """
    world = two_modality_world(int(d1), int(d2), kappa=float(kappa), noise=float(noise), seed=seed)
    lip, c = loss_constants(world, encoder_radius=encoder_radius, head_radius=head_radius)
    trials = theorem_trials(world, m_values, n_trials, encoder_radius=encoder_radius, head_radius=head_radius,
                            delta=delta, n_draws=n_draws, seed=seed)
    sides = ["thm1_lhs", "thm1_rhs", "thm2_lhs", "thm2_rhs"]
    out = add_bounds(trials, lipschitz=lip, loss_bound=c, delta=delta).groupby("m")[sides].mean().reset_index()
    for t in (1, 2):
        out[f"thm{t}_ratio"] = slack_ratio(out[f"thm{t}_lhs"], out[f"thm{t}_rhs"])
    consts = dict(d1=int(d1), d2=int(d2), kappa=float(kappa), noise=float(noise), head_radius=float(head_radius))
    return pd.DataFrame({**consts, **out.to_dict("list")})


_SEARCH_COLUMNS = ["stage", "d1", "d2", "kappa", "noise", "head_radius", "m", "thm1_lhs", "thm1_rhs", "thm1_ratio",
                   "thm2_lhs", "thm2_rhs", "thm2_ratio"]


def tight_world_search(
    *,
    dims: Sequence[Sequence[int]] = ((1, 1), (1, 8)),
    kappa_values: Sequence[float] = (0.3, 1.0, 3.0, 10.0),
    noise_values: Sequence[float] = (0.0, 0.3, 1.0),
    head_radius_values: Sequence[float] = (0.1, 0.3, 1.0, 3.0),
    m_values: Sequence[int] = (16, 256, 4096),
    n_trials: int = 20,
    n_draws: int = 50,
    optimiser_evals: int = 30,
    scan_m_values: Sequence[int] = (4096, 16384, 65536, 262144),
    scan_trials: int = 10,
    scan_draws: int = 20,
    encoder_radius: float = 1.0,
    delta: float = 0.1,
    seed: int = 0,
) -> pd.DataFrame:
    r"""Search the two-modality worlds for the one where each theorem's bound is closest to its left side.

    Three stages, all scored by :func:`slack_ratio` of the mean sides over training sets (1 = tight):

    1. ``grid``: every (d1, d2) in ``dims`` x kappa x noise x head radius, at every m in ``m_values``;
    2. ``optimiser``: for each theorem, Nelder-Mead (scipy) over log kappa, log head radius and
       log(noise + 0.01) from the grid's best world, within the grid's ranges of those three constants, at its m
       and with the same seed for every evaluation (common random numbers, so the objective is deterministic),
       at most ``optimiser_evals`` evaluations;
    3. ``m scan``: the best world of each theorem at the larger sample sizes ``scan_m_values``
       (with ``scan_trials`` training sets of ``scan_draws`` sign draws each: the complexity terms shrink like
       :math:`1/\sqrt m`, the rest of the gap is what the bound cannot close).

    The encoder bound enters only through the product with the head bound, so ``encoder_radius`` stays fixed.
    ``delta`` stays the chapter's.

    Returns
    -------
    DataFrame
        One row per (stage, world, m), columns ``stage``, ``d1``, ``d2``, ``kappa``, ``noise``, ``head_radius``,
        ``m``, ``thm{1,2}_lhs``, ``thm{1,2}_rhs``, ``thm{1,2}_ratio``; ``attrs['evaluations']`` counts worlds
        evaluated. See :func:`tightest` for the best row per theorem.
    """
    import itertools

    from scipy.optimize import minimize

    for name, vals in [("dims", dims), ("kappa_values", kappa_values), ("noise_values", noise_values),
                       ("head_radius_values", head_radius_values), ("m_values", m_values)]:
        if len(vals) == 0:
            raise ValueError(f"{name} is empty; the grid needs at least one value on every axis.")
    if any(k <= 0 for k in kappa_values) or any(b <= 0 for b in head_radius_values) or any(s < 0 for s in noise_values):
        raise ValueError("kappa and head radius values must be > 0 and noise values >= 0 (the optimiser works on their logs).")
    kw = dict(encoder_radius=encoder_radius, delta=delta, seed=seed)
    frames, evaluations = [], 0
    for (d1, d2), kappa, noise, b in itertools.product(dims, kappa_values, noise_values, head_radius_values):
        frames.append(world_sides(d1, d2, kappa=kappa, noise=noise, head_radius=b, m_values=m_values,
                                  n_trials=n_trials, n_draws=n_draws, **kw).assign(stage="grid"))
        evaluations += 1
    grid = pd.concat(frames, ignore_index=True)
    best_worlds = []
    for t in (1, 2):
        start = grid.loc[grid[f"thm{t}_ratio"].idxmin()]
        d1, d2, m = int(start["d1"]), int(start["d2"]), int(start["m"])
        tried: list[pd.DataFrame] = []

        def objective(z, t=t, d1=d1, d2=d2, m=m, tried=tried):
            row = world_sides(d1, d2, kappa=math.exp(z[0]), head_radius=math.exp(z[1]), noise=_noise(z[2]),
                              m_values=[m], n_trials=n_trials, n_draws=n_draws, **kw)
            tried.append(row)
            value = float(row[f"thm{t}_ratio"].iloc[0])
            return value if math.isfinite(value) else 1e300

        best = start
        if optimiser_evals > 0:
            z0 = [math.log(start["kappa"]), math.log(start["head_radius"]), math.log(start["noise"] + 0.01)]
            box = [(math.log(min(kappa_values)), math.log(max(kappa_values))),
                   (math.log(min(head_radius_values)), math.log(max(head_radius_values))),
                   (math.log(min(noise_values) + 0.01), math.log(max(noise_values) + 0.01))]
            minimize(objective, z0, method="Nelder-Mead", bounds=box,
                     options=dict(maxfev=int(optimiser_evals), xatol=1e-3, fatol=1e-4))
            evaluations += len(tried)
            opt = pd.concat(tried, ignore_index=True).assign(stage=f"optimiser (Theorem {t})")
            frames.append(opt)
            if opt[f"thm{t}_ratio"].min() < start[f"thm{t}_ratio"]:
                best = opt.loc[opt[f"thm{t}_ratio"].idxmin()]
        best_worlds.append(best)
    for t, best in zip((1, 2), best_worlds):
        if len(scan_m_values):
            frames.append(world_sides(int(best["d1"]), int(best["d2"]), kappa=best["kappa"], noise=best["noise"],
                                      head_radius=best["head_radius"], m_values=scan_m_values, n_trials=scan_trials,
                                      n_draws=scan_draws, **kw).assign(stage=f"m scan (Theorem {t})"))
            evaluations += 1
    out = pd.concat(frames, ignore_index=True)[_SEARCH_COLUMNS]
    out.attrs["evaluations"] = evaluations
    return out


def _noise(z: float) -> float:
    """The optimiser's noise coordinate log(noise + 0.01) back to a noise level (0 below 1e-9)."""
    v = math.exp(z) - 0.01
    return v if v > 1e-9 else 0.0


def tightest(search: pd.DataFrame) -> pd.DataFrame:
    """The row of ``search`` with the smallest slack ratio, for each theorem (``theorem`` 1 and 2, ``ratio``, where)."""
    rows = []
    for t in (1, 2):
        r = search.loc[search[f"thm{t}_ratio"].idxmin()]
        rows.append(dict(theorem=t, ratio=float(r[f"thm{t}_ratio"]), lhs=float(r[f"thm{t}_lhs"]), rhs=float(r[f"thm{t}_rhs"]),
                         **{k: r[k] for k in ["stage", "d1", "d2", "kappa", "noise", "head_radius", "m"]}))
    return pd.DataFrame(rows)
