r"""Linear encoders and heads under squared loss: latent quality :math:`\eta` and :math:`\gamma_S` in closed form.

With :math:`g(x) = A^\top x` and :math:`h(z) = \beta^\top z` (plus an intercept, irrelevant for
zero-mean data) and the loss :math:`\ell(\hat y, y) = \lVert \hat y - y\rVert_2^2` (summed over
outputs), the infimum over heads in Definition 1 is a least-squares problem:

.. math::
    \inf_\beta r(\beta^\top A^\top x) = \operatorname{tr}\bigl(\Sigma_{yy}
        - \Sigma_{yx} A (A^\top \Sigma_{xx} A)^{+} A^\top \Sigma_{xy}\bigr),

so :math:`\eta(g) = \text{that} - r(h^\star\circ g^\star)` needs only second moments
(:class:`mmtheory.data.synthetic.Moments`). With ``encoder=None`` the encoder is the identity, i.e.
the best encoder of the class :math:`\mathcal G_{\mathcal M}` (no bottleneck).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np

from mmtheory._validation import check_finite, check_positive_int
from mmtheory.data.synthetic import Moments

#: Relative eigenvalue cut-off of the pseudo-inverses (singular directions carry no information).
RCOND = 1e-10


def _check_encoder(encoder: np.ndarray | None, d: int) -> np.ndarray | None:
    if encoder is None:
        return None
    a = check_finite("encoder", np.asarray(encoder, dtype=np.float64))
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != d:
        raise ValueError(
            f"encoder must have shape (d, r) with d = {d} features of the chosen modalities; got {a.shape}."
        )
    return a


def best_linear_risk(moments: Moments, encoder: np.ndarray | None = None) -> float:
    r"""Population risk of the best linear head on ``z = encoder^T x`` (identity if None).

    Parameters
    ----------
    moments : Moments
        Second moments of the features ``x`` (d) and targets ``y`` (p).
    encoder : ndarray (d, r), optional

    Returns
    -------
    float
        :math:`\operatorname{tr}(\Sigma_{yy} - \Sigma_{yz}\Sigma_{zz}^{+}\Sigma_{zy})`.
    """
    a = _check_encoder(encoder, moments.cov_xx.shape[0])
    cov_zz, cov_zy = moments.cov_xx, moments.cov_xy
    if a is not None:
        cov_zz, cov_zy = a.T @ cov_zz @ a, a.T @ cov_zy
    explained = np.trace(cov_zy.T @ np.linalg.pinv(cov_zz, rcond=RCOND, hermitian=True) @ cov_zy)
    return float(np.trace(moments.cov_yy) - explained)


def latent_quality(moments: Moments, encoder: np.ndarray | None = None, *, oracle_risk: float = 0.0) -> float:
    r"""Latent representation quality :math:`\eta(g) = \inf_h r(h\circ g) - r(h^\star\circ g^\star)` (Def. 1).

    Parameters
    ----------
    moments : Moments
        Population (or large held-out sample) moments of the observed features and the target;
        restrict them to a subset with ``moments.subset(M)``.
    encoder : ndarray (d, r), optional
        The linear encoder :math:`A` with :math:`g(x) = A^\top x`. None: the identity, so the value is
        the best :math:`\eta` reachable by any linear encoder of these modalities.
    oracle_risk : float
        :math:`r(h^\star\circ g^\star)` (the noise floor); 0 for noise-free targets.

    Returns
    -------
    float
        :math:`\eta \geq 0` up to rounding (about ``1e-10 * trace(cov_yy)``).

    Examples
    --------
    >>> from mmtheory.data.synthetic import overlap_model
    >>> model = overlap_model(0.5, d_shared=2, d_private=3)
    >>> round(latent_quality(model.moments(["m1"])), 6)  # (1 - 0.5)^2 * 3 * (4 - 1)
    2.25
    """
    return best_linear_risk(moments, encoder) - float(oracle_risk)


def gamma(
    moments: Moments,
    larger: Iterable[str] | str,
    smaller: Iterable[str] | str,
    *,
    encoder_larger: np.ndarray | None = None,
    encoder_smaller: np.ndarray | None = None,
) -> float:
    r""":math:`\gamma_S(\mathcal M, \mathcal N) = \eta(\hat g_{\mathcal M}) - \eta(\hat g_{\mathcal N})`.

    The oracle risk cancels, so none is needed. Negative: the larger set's encoder is better.

    Parameters
    ----------
    moments : Moments
        Moments over (at least) all modalities of both sets.
    larger, smaller : iterable of str
        The sets M and N (any two subsets; the names only say which is subtracted).
    encoder_larger, encoder_smaller : ndarray, optional
        Learned encoders on the features of M and of N (rows in canonical modality order);
        None uses the best encoder of the class.
    """
    eta_m = latent_quality(moments.subset(larger), encoder_larger)
    eta_n = latent_quality(moments.subset(smaller), encoder_smaller)
    return eta_m - eta_n


class LinearERM(NamedTuple):
    """Result of :func:`fit_erm`: ``y_hat = (x - x_mean) @ encoder @ head + y_mean``.

    Attributes
    ----------
    encoder : ndarray (d, r)
    head : ndarray (r, p)
    x_mean : ndarray (d,)
    y_mean : ndarray (p,)
    train_risk : float
        Empirical risk (mean over samples of the squared error summed over outputs).
    """

    encoder: np.ndarray
    head: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    train_risk: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for features ``x`` (n, d) -> (n, p)."""
        return (np.asarray(x, dtype=np.float64) - self.x_mean) @ self.encoder @ self.head + self.y_mean


def fit_erm(x: np.ndarray, y: np.ndarray, *, rank: int | None = None, fit_intercept: bool = False) -> LinearERM:
    r"""Exact ERM over linear encoders of latent size ``rank`` and linear heads (reduced-rank regression).

    Minimises :math:`\frac1m\sum_i \lVert \beta^\top A^\top x_i - y_i\rVert^2` over
    :math:`A \in R^{d\times r}, \beta \in R^{r\times p}`. The minimiser's product :math:`A\beta` is the
    least-squares fit projected onto the top-``r`` right singular vectors of the fitted values; the
    encoder returned is the minimal one, :math:`A = \hat B_{\mathrm{OLS}} V_r` (any ERM encoder whose
    column space contains it reaches the same or a smaller :math:`\eta`). When ``m < d`` the
    least-squares fit is the minimum-norm interpolant.

    Parameters
    ----------
    x : ndarray (m, d)
    y : ndarray (m,) or (m, p)
    rank : int, optional
        Latent size r; default ``min(d, p)`` (no bottleneck beyond the target's dimension).
    fit_intercept : bool
        Centre ``x`` and ``y`` first (use for data that is not zero-mean).
    """
    x = check_finite("x", np.asarray(x, dtype=np.float64))
    y = check_finite("y", np.asarray(y, dtype=np.float64))
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (m, d) and y (m, p) with the same m; got {x.shape} and {y.shape}.")
    if x.shape[0] == 0:
        raise ValueError("x has no samples (m = 0); ERM needs at least one.")
    d, p = x.shape[1], y.shape[1]
    r = min(d, p) if rank is None else check_positive_int("rank", rank)
    x_mean = x.mean(0) if fit_intercept else np.zeros(d)
    y_mean = y.mean(0) if fit_intercept else np.zeros(p)
    xc, yc = x - x_mean, y - y_mean
    b_ols = np.linalg.lstsq(xc, yc, rcond=None)[0]  # (d, p), minimum norm
    fitted = xc @ b_ols
    _, _, vt = np.linalg.svd(fitted, full_matrices=False)
    v_r = vt[: min(r, vt.shape[0])].T  # (p, r')
    encoder, head = b_ols @ v_r, v_r.T
    resid = yc - xc @ encoder @ head
    return LinearERM(encoder, head, x_mean, y_mean, float(np.mean(np.sum(resid**2, axis=1))))


def linear_risk(moments: Moments, coef: np.ndarray) -> float:
    r"""Population risk :math:`E\lVert B^\top x - y\rVert^2` of the linear predictor ``coef`` = B (d, p)."""
    b = check_finite("coef", np.asarray(coef, dtype=np.float64))
    if b.ndim == 1:
        b = b[:, None]
    if b.shape != moments.cov_xy.shape:
        raise ValueError(f"coef must have shape {moments.cov_xy.shape} (features, outputs); got {b.shape}.")
    return float(np.trace(moments.cov_yy) - 2 * np.trace(b.T @ moments.cov_xy) + np.trace(b.T @ moments.cov_xx @ b))


def best_linear_risk_batched(moments: Moments, encoders: np.ndarray) -> np.ndarray:
    r""":func:`best_linear_risk` for a stack of encoders on the same features: (R, d, r) -> (R,).

    One batched eigendecomposition of the R matrices :math:`A^\top\Sigma_{xx}A` (the same cut-off as the
    pseudo-inverse of :func:`best_linear_risk`: eigenvalues at most ``RCOND`` times the largest are dropped),
    so R runs that share their modalities cost one batched call instead of R.
    """
    a = check_finite("encoders", np.asarray(encoders, dtype=np.float64))
    d = moments.cov_xx.shape[0]
    if a.ndim != 3 or a.shape[1] != d:
        raise ValueError(f"encoders must have shape (R, d, r) with d = {d} features of the chosen modalities; "
                         f"got {a.shape}.")
    cov_zz = a.transpose(0, 2, 1) @ (moments.cov_xx @ a)
    cov_zy = a.transpose(0, 2, 1) @ moments.cov_xy  # (R, r, p)
    vals, vecs = np.linalg.eigh(cov_zz)
    cut = RCOND * np.abs(vals).max(axis=1, keepdims=True)
    proj = vecs.transpose(0, 2, 1) @ cov_zy  # (R, r, p)
    keep = np.abs(vals) > cut
    inv = np.where(keep, 1.0 / np.where(keep, vals, 1.0), 0.0)
    explained = (inv * (proj**2).sum(-1)).sum(-1)
    return float(np.trace(moments.cov_yy)) - explained


def fit_erm_from_moments(cov_xx: np.ndarray, cov_xy: np.ndarray, *, rank: int | None = None) -> np.ndarray:
    r"""The encoder of :func:`fit_erm` (no intercept) from the sample's second moments :math:`X^\top X/m`, :math:`X^\top Y/m`.

    The minimum-norm least-squares fit is :math:`\hat B = (X^\top X)^{+}X^\top Y`, and the fitted values'
    right singular vectors are the eigenvectors of :math:`\hat B^\top X^\top X\hat B`; so the encoder
    :math:`\hat B V_r` needs only the moments, which the sets of a nested family share (slice one
    Gram matrix instead of refitting each set on the samples). Singular directions are cut at
    ``RCOND`` of the largest eigenvalue of :math:`X^\top X` (``fit_erm``'s ``lstsq`` cuts the singular
    values at machine precision; equal on well-posed problems, within float tolerance: tested).

    Returns
    -------
    ndarray (d, r')
        The encoder; ``r' = min(rank, p)`` (default ``min(d, p)``).
    """
    cov_xx = check_finite("cov_xx", np.asarray(cov_xx, dtype=np.float64))
    cov_xy = check_finite("cov_xy", np.asarray(cov_xy, dtype=np.float64))
    if cov_xy.ndim == 1:
        cov_xy = cov_xy[:, None]
    d, p = cov_xy.shape
    if cov_xx.shape != (d, d):
        raise ValueError(f"cov_xx must be ({d}, {d}) for cov_xy of shape {cov_xy.shape}; got {cov_xx.shape}.")
    r = min(d, p) if rank is None else check_positive_int("rank", rank)
    vals, vecs = np.linalg.eigh(cov_xx)
    keep = vals > RCOND * max(float(vals.max(initial=0.0)), 0.0)
    b_ols = vecs[:, keep] @ ((vecs[:, keep].T @ cov_xy) / vals[keep, None])  # (d, p), minimum norm
    fit_vals, fit_vecs = np.linalg.eigh(b_ols.T @ cov_xx @ b_ols)  # right singular vectors of the fitted values
    order = np.argsort(fit_vals)[::-1][: min(r, p, int(keep.sum()) or 1)]
    return b_ols @ fit_vecs[:, order]
