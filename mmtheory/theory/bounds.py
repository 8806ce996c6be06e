r"""The bounds of Huang et al. (2021), Theorems 1 and 2, and the norm-constrained linear ERM they are about.

All in closed form for scalar targets and the squared loss; the learners are the late-fusion class
:math:`\{\sum_{k\in\mathcal M}\langle w_k, x^{(k)}\rangle : \sum_k \lVert w_k\rVert^2/a_k^2\le b^2\}`
(see :mod:`mmtheory.theory.rademacher`), whose ERM is a ball-constrained least-squares problem.
"""

from __future__ import annotations

import math

import numpy as np


def ball_lstsq(cov_zz: np.ndarray, cov_zy: np.ndarray, var_y: float, radius: float) -> tuple[np.ndarray, float]:
    r"""Minimise :math:`r(u) = \sigma_y^2 - 2u^\top\Sigma_{zy} + u^\top\Sigma_{zz}u` subject to :math:`\lVert u\rVert\le` radius.

    The objective is the squared-loss risk of ``z -> <u, z>`` given second moments (population or
    empirical). Solved exactly: the unconstrained minimum-norm solution if it fits in the ball, else
    :math:`u(\lambda) = (\Sigma_{zz}+\lambda I)^{-1}\Sigma_{zy}` with :math:`\lVert u(\lambda)\rVert` = radius
    found by bisection on :math:`\lambda > 0` in the eigenbasis.

    Returns
    -------
    (u, risk) : ndarray (d,), float
    """
    cov_zz = np.asarray(cov_zz, dtype=np.float64)
    cov_zy = np.asarray(cov_zy, dtype=np.float64).reshape(-1)
    if cov_zz.shape != (cov_zy.size, cov_zy.size):
        raise ValueError(f"cov_zz must be ({cov_zy.size}, {cov_zy.size}); got {cov_zz.shape}.")
    radius = _nonnegative("radius", radius, allow_inf=True)
    if not (np.all(np.isfinite(cov_zz)) and np.all(np.isfinite(cov_zy)) and math.isfinite(_number("var_y", var_y))):
        raise ValueError("cov_zz, cov_zy and var_y must be finite (NaN or infinity in the second moments: check the "
                         "inputs for NaN).")
    vals, vecs = np.linalg.eigh(cov_zz)
    vals = np.clip(vals, 0.0, None)
    c = vecs.T @ cov_zy
    tol = 1e-12 * max(1.0, float(vals.max(initial=0.0)))
    keep = vals > tol
    u_free = vecs[:, keep] @ (c[keep] / vals[keep])
    if np.linalg.norm(u_free) <= radius:
        u = u_free
    else:
        def norm_at(lam):
            return math.sqrt(float(np.sum((c / (vals + lam)) ** 2)))

        lo, hi = 0.0, max(1.0, float(np.linalg.norm(c)) / max(radius, 1e-300))
        while norm_at(hi) > radius:
            hi *= 2.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if norm_at(mid) > radius:
                lo = mid
            else:
                hi = mid
        u = vecs @ (c / (vals + hi))
    risk = float(var_y - 2 * u @ cov_zy + u @ cov_zz @ u)
    return u, risk


def ball_lstsq_batched(cov_zz: np.ndarray, cov_zy: np.ndarray, var_y, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ball_lstsq` for a batch of problems at once: (B, d, d), (B, d), (B,) -> u (B, d), risk (B,).

    The same solution as the per-problem function (minimum-norm least squares if it fits in the ball,
    else the ridge solution on the sphere, its lambda found by bisection), with every problem's
    bisection run side by side in one vectorised loop.

    Returns
    -------
    (u, risk) : ndarray (B, d), ndarray (B,)
    """
    cov_zz = np.asarray(cov_zz, dtype=np.float64)
    cov_zy = np.asarray(cov_zy, dtype=np.float64)
    if cov_zz.ndim != 3 or cov_zy.shape != cov_zz.shape[:2] or cov_zz.shape[1] != cov_zz.shape[2]:
        raise ValueError(f"cov_zz must be (B, d, d) and cov_zy (B, d); got {cov_zz.shape} and {cov_zy.shape}.")
    var_y = np.broadcast_to(np.asarray(var_y, dtype=np.float64), cov_zz.shape[:1])
    radius = _nonnegative("radius", radius, allow_inf=True)
    if not (np.isfinite(cov_zz).all() and np.isfinite(cov_zy).all() and np.isfinite(var_y).all()):
        raise ValueError("cov_zz, cov_zy and var_y must be finite (NaN or infinity in the second moments: check the "
                         "inputs for NaN).")
    vals, vecs = np.linalg.eigh(cov_zz)
    vals = np.clip(vals, 0.0, None)
    c = (vecs.transpose(0, 2, 1) @ cov_zy[:, :, None])[:, :, 0]
    tol = 1e-12 * np.maximum(1.0, vals.max(axis=1, initial=0.0))
    keep = vals > tol[:, None]
    coef = np.where(keep, c / np.where(keep, vals, 1.0), 0.0)
    over = np.sqrt((coef**2).sum(1)) > radius
    if over.any():
        co, vo = c[over], vals[over]
        lo = np.zeros(len(co))
        hi = np.maximum(1.0, np.sqrt((co**2).sum(1)) / max(radius, 1e-300))
        norm_at = lambda lam: np.sqrt(((co / (vo + lam[:, None])) ** 2).sum(1))  # noqa: E731
        while True:  # grow hi until every problem's norm is within the radius
            grow = norm_at(hi) > radius
            if not grow.any():
                break
            hi = np.where(grow, 2 * hi, hi)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            big = norm_at(mid) > radius
            lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
        coef[over] = co / (vo + hi[:, None])
    u = (vecs @ coef[:, :, None])[:, :, 0]
    risk = var_y - 2 * (u * cov_zy).sum(1) + (u * (cov_zz @ u[:, :, None])[:, :, 0]).sum(1)
    return u, risk


def theorem1_rhs(gamma_s: float, rademacher_m: float, *, lipschitz: float, loss_bound: float, m: int, delta: float) -> float:
    r"""Right side of Theorem 1: :math:`\gamma_S + 8L\mathfrak R_m(\mathcal H\circ\mathcal G_{\mathcal M}) + 4C/\sqrt m + 2C\sqrt{2\ln(2/\delta)/m}`."""
    _check(m, delta)
    gamma_s = _number("gamma_s", gamma_s)
    rademacher_m = _nonnegative("rademacher_m", rademacher_m)
    lipschitz, loss_bound = _nonnegative("lipschitz", lipschitz), _nonnegative("loss_bound", loss_bound)
    return float(gamma_s + 8 * lipschitz * rademacher_m + 4 * loss_bound / math.sqrt(m)
                 + 2 * loss_bound * math.sqrt(2 * math.log(2 / delta) / m))


def theorem2_rhs(rademacher_m: float, rademacher_all: float, centered_loss: float, *, lipschitz: float,
                 loss_bound: float, m: int, delta: float) -> float:
    r"""Right side of Theorem 2: :math:`4L\mathfrak R_m(\mathcal H\circ\mathcal G_{\mathcal M}) + 4L\mathfrak R_m(\mathcal H\circ\mathcal G) + 6C\sqrt{2\ln(2/\delta)/m} + \hat L`."""
    _check(m, delta)
    rademacher_m, rademacher_all = _nonnegative("rademacher_m", rademacher_m), _nonnegative("rademacher_all", rademacher_all)
    lipschitz, loss_bound = _nonnegative("lipschitz", lipschitz), _nonnegative("loss_bound", loss_bound)
    centered_loss = _number("centered_loss", centered_loss)
    return float(4 * lipschitz * rademacher_m + 4 * lipschitz * rademacher_all
                 + 6 * loss_bound * math.sqrt(2 * math.log(2 / delta) / m) + centered_loss)


def _check(m: int, delta: float) -> None:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m must be an integer >= 1 (the sample size), got {m!r}.")
    if not (0 < _number("delta", delta) < 1):
        raise ValueError(f"delta must lie in (0, 1), got {delta}.")


def _number(name: str, value) -> float:
    """``value`` as a finite float, else one ``ValueError`` naming it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number; got {value!r}.") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number; got {value!r} (NaN or infinity: check how it was computed).")
    return v


def _nonnegative(name: str, value, *, allow_inf: bool = False) -> float:
    """``value`` as a float >= 0 (finite unless ``allow_inf``), else one ``ValueError`` naming it.

    Rademacher complexities, Lipschitz constants, loss bounds and norm radii are never negative; a
    negative or NaN one would make a bound silently smaller than it is.
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0; got {value!r}.") from None
    if math.isnan(v) or v < 0 or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be a {'' if allow_inf else 'finite '}number >= 0; got {value!r}. "
                         "Complexities, constants and norm bounds cannot be negative or NaN.")
    return v


def fit_late_fusion_erm(views, y, modalities, *, encoder_radius: float = 1.0, head_radius: float = 1.0):
    r"""Exact ERM of the late-fusion class with encoder bound a and head bound b, squared loss, scalar y.

    The composed predictors are :math:`x\mapsto\langle w, x_{\mathcal M}\rangle` with
    :math:`\lVert w\rVert\le ab` (equal bounds per modality), so the ERM is :func:`ball_lstsq` with radius
    ``a * b`` on the sample's second moments.

    Returns
    -------
    (w, empirical_risk) : ndarray (d_M,), float
    """
    from mmtheory.theory.framework import concat_views

    x = concat_views(views, modalities)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"views have {x.shape[0]} samples but y has {y.shape[0]}.")
    m = len(y)
    a, b = _nonnegative("encoder_radius", encoder_radius), _nonnegative("head_radius", head_radius)
    return ball_lstsq(x.T @ x / m, x.T @ y / m, float(y @ y / m), a * b)
