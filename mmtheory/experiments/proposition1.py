r"""Huang et al. (2021), Proposition 1: :math:`\gamma_S([K], [K-1]) \le 0` for linear encoders and heads.

A numerical check over random linear-Gaussian instances (:func:`mmtheory.data.synthetic.random_linear_model`).
For each instance and regime, the ERM encoders :math:`\hat g_{[K]}` and :math:`\hat g_{[K-1]}` are fitted
exactly (:func:`mmtheory.theory.linear.fit_erm`) on the *same* training sample, and
:math:`\gamma_S = \eta(\hat g_{[K]}) - \eta(\hat g_{[K-1]})` is computed exactly from the population
moments. ``m = inf`` means the population ERM (the best encoder of each class).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from mmtheory.data.synthetic import random_linear_model
from mmtheory.theory.framework import concat_views
from mmtheory.theory.linear import RCOND, fit_erm, fit_erm_from_moments, latent_quality
from mmtheory.seeding import numpy_rng


def _best_rank_r_encoder(moments, rank: int) -> np.ndarray:
    """Population ERM encoder of latent size ``rank``: top eigenvectors of the explained covariance."""
    cov_inv = np.linalg.pinv(moments.cov_xx, rcond=RCOND, hermitian=True)
    b = cov_inv @ moments.cov_xy  # population least squares (d, p)
    explained = b.T @ moments.cov_xx @ b  # (p, p)
    vals, vecs = np.linalg.eigh(explained)
    v_r = vecs[:, ::-1][:, :rank]
    return b @ v_r


def proposition1_check(
    n_instances: int = 100,
    *,
    sample_factors: Sequence[float] = (0.5, 2.0, 10.0, 100.0, math.inf),
    noise_levels: Sequence[float] = (0.0, 0.5),
    bottlenecks: Sequence[str] = ("none", "rank1"),
    max_modalities: int = 4,
    max_dim: int = 6,
    seed: int = 0,
    compute: str = "gram",
    loop: bool = False,
) -> pd.DataFrame:
    """Compute gamma_S([K], [K-1]) on random instances across regimes.

    Parameters
    ----------
    n_instances : int
        Random instances (K in 2..max_modalities, feature dims in 1..max_dim, p in {1, 3},
        correlation in [0, 1]) per (noise, bottleneck) regime.
    sample_factors : sequence of float
        Training-set sizes as multiples of the total feature dimension d (``inf``: population ERM).
    noise_levels : sequence of float
        Label-noise standard deviations.
    bottlenecks : sequence of {"none", "rank1"}
        ``"none"``: latent size min(d, p); ``"rank1"``: a one-dimensional latent.
    compute : {"gram", "samples"}
        ``gram`` (default): one pass over each training sample with m >= 2d (its Gram matrix), from which
        every set's and bottleneck's ERM encoder is computed (:func:`~mmtheory.theory.linear.fit_erm_from_moments`);
        below 2d (near the interpolation threshold, where the Gram matrix squares a large condition number)
        the reference path.
        ``samples``: the reference, :func:`~mmtheory.theory.linear.fit_erm` on the samples for each.
    loop : bool
        False (default): each instance's noise levels, sample sizes and bottlenecks are one computation
        (:func:`_instance_gammas`: the noise levels share one draw, since the models differ only in the
        noise scale, and every shared factorisation is done once). True: the per-value reference, one
        sample and one fit per (noise, m, bottleneck); both give the same values within float tolerance
        (tested).

    Returns
    -------
    DataFrame
        One row per (instance, noise, bottleneck, m): ``instance``, ``K``, ``d``, ``p``, ``noise``,
        ``bottleneck``, ``m_factor``, ``m``, ``eta_M``, ``eta_N``, ``gamma``, ``tol`` (numerical
        tolerance, ``1e-9 * trace(cov_yy)``).
    """
    if n_instances < 1:
        raise ValueError(f"n_instances must be >= 1, got {n_instances}.")
    if compute not in ("gram", "samples"):
        raise ValueError(f"compute must be 'gram' or 'samples', got {compute!r}.")
    bad = [b for b in bottlenecks if b not in ("none", "rank1")]
    if bad:
        raise ValueError(f"unknown bottleneck(s) {bad}; use 'none' or 'rank1'.")
    rng = numpy_rng(seed, "proposition1-instances")
    rows = []
    frames = []
    for inst in range(n_instances):
        k = int(rng.integers(2, max_modalities + 1))
        dims = [int(v) for v in rng.integers(1, max_dim + 1, size=k)]
        p = int(rng.choice([1, 3]))
        corr = float(rng.uniform(0, 1))
        inst_seed = int(rng.integers(2**31))
        if not loop:
            model = random_linear_model(dims, n_outputs=p, correlation=corr, seed=inst_seed)
            eta_m, eta_n, m_col = _instance_gammas(model, noise_levels, sample_factors, bottlenecks, inst_seed + 1,
                                                   compute)
            noise_col = np.asarray(noise_levels, dtype=np.float64)
            tol = 1e-9 * (float(np.trace(model.target_map @ model.target_map.T)) + noise_col**2 * p)
            shape = eta_m.shape  # (noise, factor, bottleneck)
            grid = {name: np.broadcast_to(v, shape).ravel() for name, v in [
                ("noise", noise_col[:, None, None]), ("bottleneck", np.asarray(bottlenecks, dtype=object)[None, None, :]),
                ("m_factor", np.asarray(sample_factors, dtype=np.float64)[None, :, None]),
                ("m", np.asarray(m_col, dtype=object)[None, :, None]), ("tol", tol[:, None, None])]}
            frames.append(pd.DataFrame(dict(
                instance=inst, K=k, d=sum(dims), p=p, noise=grid["noise"], bottleneck=grid["bottleneck"],
                m_factor=grid["m_factor"], m=grid["m"].tolist(), eta_M=eta_m.ravel(), eta_N=eta_n.ravel(),
                gamma=(eta_m - eta_n).ravel(), tol=grid["tol"])))
            continue
        for noise in noise_levels:
            model = random_linear_model(dims, n_outputs=p, noise=noise, correlation=corr, seed=inst_seed)
            names = model.modalities
            big, small = names, names[:-1]
            moments = model.moments()
            tol = 1e-9 * float(np.trace(moments.cov_yy))
            d = sum(dims)
            for factor in sample_factors:
                if math.isinf(factor):
                    data, m = None, math.inf
                else:
                    m = max(1, int(round(factor * d)))
                    data = model.sample(m, inst_seed + 1)
                    use_gram = compute == "gram" and m >= 2 * d  # near m = d the squared condition number costs digits
                    if use_gram:
                        x_all = concat_views(data.views, names)
                        gram, cross = x_all.T @ x_all / m, x_all.T @ data.y / m
                        n_small = sum(dims[:-1])
                for bottleneck in bottlenecks:
                    rank = 1 if bottleneck == "rank1" else None
                    encoders = []
                    for subset in (big, small):
                        if data is None:
                            sub = moments.subset(subset)
                            r = min(sub.cov_xx.shape[0], p) if rank is None else rank
                            encoders.append(_best_rank_r_encoder(sub, r))
                        elif use_gram:
                            n_cols = d if subset == big else n_small
                            encoders.append(fit_erm_from_moments(gram[:n_cols, :n_cols], cross[:n_cols], rank=rank))
                        else:
                            encoders.append(fit_erm(concat_views(data.views, subset), data.y, rank=rank).encoder)
                    eta_m = latent_quality(moments.subset(big), encoders[0], oracle_risk=model.oracle_risk)
                    eta_n = latent_quality(moments.subset(small), encoders[1], oracle_risk=model.oracle_risk)
                    rows.append(
                        dict(instance=inst, K=k, d=d, p=p, noise=float(noise), bottleneck=bottleneck,
                             m_factor=float(factor), m=m, eta_M=eta_m, eta_N=eta_n, gamma=eta_m - eta_n, tol=tol)
                    )
    if not loop:
        out = pd.concat(frames, ignore_index=True)
        out["m"] = pd.Series(out["m"].tolist())  # ints, or floats with inf: the dtype the row records give
        return out
    return pd.DataFrame(rows)


def _instance_gammas(model, noise_levels, sample_factors, bottlenecks, sample_seed: int, compute: str):
    """eta_M and eta_N of one instance for every (noise, factor, bottleneck), as one computation.

    ``model`` is the instance without label noise: the noise levels change neither the features nor their
    moments with the target, and the same seed gives the same latent and unit noise at every level, so
    each sample size draws once, its Gram matrix and its least-squares fits serve every level (the fit is
    linear in the target: ``B(noise) = B(0) + noise * B(eps)``), and one eigendecomposition per set serves
    both bottlenecks. ``_best_rank_r_encoder``'s population encoders do not depend on the noise at all.

    Returns
    -------
    eta_M, eta_N : ndarray (noise, factor, bottleneck)
    m : list
        The sample size of each factor (``math.inf`` for the population).
    """
    from mmtheory.theory.linear import best_linear_risk_batched

    noise = np.asarray(noise_levels, dtype=np.float64)  # (L,)
    n_l, p = len(noise), model.n_outputs
    v_all = np.concatenate(list(model.view_maps.values()), axis=0)
    d = v_all.shape[0]
    n_cols = {"M": d, "N": d - model.view_maps[model.modalities[-1]].shape[0]}
    moments = model.moments()
    sub_moments = {"M": moments.subset(model.modalities), "N": moments.subset(model.modalities[:-1])}
    trace_yy = float(np.trace(moments.cov_yy)) + noise**2 * p  # trace of each level's cov_yy
    oracle = noise**2 * p
    ranks = [1 if b == "rank1" else None for b in bottlenecks]
    groups: dict = {}  # (set, latent size) -> list of ((noise indices, factor, bottleneck), encoders (L', n, r))
    m_col = []
    for f, factor in enumerate(sample_factors):
        if math.isinf(factor):
            m_col.append(math.inf)
            for tag in ("M", "N"):
                sub = sub_moments[tag]
                cov_inv = np.linalg.pinv(sub.cov_xx, rcond=RCOND, hermitian=True)
                b = cov_inv @ sub.cov_xy
                v_desc = np.linalg.eigh(b.T @ sub.cov_xx @ b)[1][:, ::-1]
                for j, rank in enumerate(ranks):
                    r = min(n_cols[tag], p) if rank is None else rank
                    enc = np.broadcast_to(b @ v_desc[:, :r], (n_l, n_cols[tag], r))
                    groups.setdefault((tag, r), []).append(((f, j), enc))
            continue
        m = max(1, int(round(factor * d)))
        m_col.append(m)
        latent, eps = model.sample_draws(m, sample_seed)
        x = latent @ v_all.T  # (m, d)
        y0 = latent @ model.target_map.T  # (m, p)
        use_gram = compute == "gram" and m >= 2 * d
        if use_gram:
            gram = x.T @ x / m
            cross = (x.T @ y0 / m)[None] + noise[:, None, None] * (x.T @ eps / m)[None]  # (L, d, p)
        for tag in ("M", "N"):
            n = n_cols[tag]
            if use_gram:  # fit_erm_from_moments for every level at once
                vals, vecs = np.linalg.eigh(gram[:n, :n])
                keep = vals > RCOND * max(float(vals.max(initial=0.0)), 0.0)
                vk = vecs[:, keep]
                b = vk @ ((vk.T @ cross[:, :n]) / vals[keep, None])  # (L, n, p)
                fit_vecs = np.linalg.eigh(b.transpose(0, 2, 1) @ gram[:n, :n] @ b)[1][:, :, ::-1]
                r_max = min(p, int(keep.sum()) or 1)
            else:  # fit_erm for every level at once: the minimum-norm fit is linear in the target
                coef = np.linalg.lstsq(x[:, :n], np.concatenate([y0, eps], axis=1), rcond=None)[0]
                b = coef[None, :, :p] + noise[:, None, None] * coef[None, :, p:]  # (L, n, p)
                fit_vecs = np.linalg.svd(x[None, :, :n] @ b, full_matrices=False)[2].transpose(0, 2, 1)
                r_max = fit_vecs.shape[2]
            for j, rank in enumerate(ranks):
                r = min(min(n, p) if rank is None else rank, r_max)
                groups.setdefault((tag, r), []).append(((f, j), b @ fit_vecs[:, :, :r]))
    eta = {tag: np.empty((n_l, len(sample_factors), len(bottlenecks))) for tag in ("M", "N")}
    for (tag, _), items in groups.items():  # one batched head refit per (set, latent size)
        risk0 = best_linear_risk_batched(sub_moments[tag], np.concatenate([enc for _, enc in items]))
        explained = float(np.trace(moments.cov_yy)) - risk0.reshape(len(items), n_l)
        for (f, j), e in zip((key for key, _ in items), explained):
            eta[tag][:, f, j] = (trace_yy - e) - oracle
    return eta["M"], eta["N"], m_col


def summarize_proposition1(results: pd.DataFrame) -> pd.DataFrame:
    """Per regime (noise, bottleneck, m_factor): count, largest gamma, share with gamma > tol, exact zeros."""
    g = results.assign(
        violated=results["gamma"] > results["tol"],
        exactly_zero=results["gamma"].abs() <= results["tol"],
    ).groupby(["noise", "bottleneck", "m_factor"], sort=True)
    out = g.agg(
        cases=("gamma", "size"),
        max_gamma=("gamma", "max"),
        share_violated=("violated", "mean"),
        share_zero=("exactly_zero", "mean"),
        median_gamma=("gamma", "median"),
    ).reset_index()
    return out


def gamma_on_overlap(
    w_values: Sequence[float] = (1.0, 0.5),
    *,
    d_shared: int = 5,
    d_private: int = 5,
    noise: float = 0.3,
    n_train: int = 400,
    seed: int = 0,
) -> pd.DataFrame:
    """gamma_S([K], [K-1]) of exact ERM encoders on the overlap generator, one noisy sample per ``w``.

    At ``w = 1`` the K-th view is a rotation of the shared block the others already show, so it adds
    nothing and gamma_S vanishes up to rounding; for ``w < 1`` it adds its private block and gamma_S < 0.

    Returns
    -------
    DataFrame
        ``w``, ``gamma_S``, ``tol`` (``1e-9 * trace(cov_yy)``), ``exactly_zero`` (``|gamma_S| <= tol``).
    """
    from mmtheory.data.synthetic import overlap_model
    from mmtheory.theory.linear import gamma

    rows = []
    for w in w_values:
        model = overlap_model(w, d_shared=d_shared, d_private=d_private, noise=noise, seed=seed)
        data = model.sample(n_train, seed=seed)
        big, small = model.modalities, model.modalities[:-1]
        enc = {s: fit_erm(concat_views(data.views, s), data.y).encoder for s in (big, small)}
        g = gamma(model.moments(), big, small, encoder_larger=enc[big], encoder_smaller=enc[small])
        tol = 1e-9 * float(np.trace(model.moments().cov_yy))
        rows.append(dict(w=float(w), gamma_S=g, tol=tol, exactly_zero=abs(g) <= tol))
    return pd.DataFrame(rows)
