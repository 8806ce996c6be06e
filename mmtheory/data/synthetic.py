r"""Linear-Gaussian multimodal data with a known latent, so every term of the theory is computable.

Every generator here is a :class:`LatentLinearModel`: a latent vector :math:`\ell \sim N(0, I)`,
modality views :math:`x^{(k)} = V_k \ell`, and a target :math:`y = T\ell + \sigma\varepsilon`
with :math:`\varepsilon \sim N(0, I)`. All second moments are then known exactly, which is what
:mod:`mmtheory.theory.linear` needs to compute population risks and latent quality in closed form.

The overlap generator (Huang et al. 2021, synthetic experiment; the paper does not give its generator,
so this one is our design, derived in the book) has a shared block :math:`s \in R^{d_s}` and a private
block :math:`u_k \in R^{d_p}` per modality:

.. math::  x^{(k)} = Q_k \begin{bmatrix} w\,s \\ (1-w)\,u_k \end{bmatrix}, \qquad
           y = \bigl(w s,\ (1-w) u_1, \dots, (1-w) u_K\bigr) + \sigma \varepsilon,

with :math:`Q_k` a fixed random orthogonal matrix (so a view is a rotated mixture, not a copy).
Then :math:`\eta^\star(\mathcal M) = (1-w)^2\, d_p\, (K - |\mathcal M|)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from mmtheory._validation import check_modalities, check_positive_int, check_unit_interval, check_views
from mmtheory.seeding import numpy_rng


def column_slices(widths: Mapping[str, int]) -> dict:
    """Modality name -> ``slice`` of its columns when views of these widths are concatenated in order."""
    slices, start = {}, 0
    for name, width in widths.items():
        slices[name] = slice(start, start + int(width))
        start += int(width)
    return slices


class Moments(NamedTuple):
    """Second moments of zero-mean features ``x`` (the concatenation of some views) and targets ``y``.

    Attributes
    ----------
    cov_xx : ndarray, shape (d, d)
    cov_xy : ndarray, shape (d, p)
    cov_yy : ndarray, shape (p, p)
    slices : dict
        Modality name -> ``slice`` of its columns in ``x``, in canonical order.
    """

    cov_xx: np.ndarray
    cov_xy: np.ndarray
    cov_yy: np.ndarray
    slices: dict

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.slices)

    def subset(self, modalities: Iterable[str] | str) -> "Moments":
        """Moments of the features of ``modalities`` only (the subset map p_M, missing views dropped)."""
        chosen = check_modalities(modalities, self.modalities)
        idx = np.concatenate([np.arange(self.slices[m].start, self.slices[m].stop) for m in chosen])
        slices = column_slices({m: self.slices[m].stop - self.slices[m].start for m in chosen})
        return Moments(self.cov_xx[np.ix_(idx, idx)], self.cov_xy[idx], self.cov_yy, slices)

    @classmethod
    def from_samples(cls, views: Mapping[str, np.ndarray], y: np.ndarray) -> "Moments":
        """Empirical (uncentred) second moments of a sample; use it as the population of a large sample."""
        n = check_views(views, y)
        x = np.concatenate([np.asarray(views[m], dtype=np.float64) for m in views], axis=1)
        y = np.asarray(y, dtype=np.float64).reshape(n, -1)
        slices = column_slices({m: np.shape(views[m])[1] for m in views})
        return cls(x.T @ x / n, x.T @ y / n, y.T @ y / n, slices)


class SyntheticData(NamedTuple):
    """A sample drawn from a :class:`LatentLinearModel`.

    Attributes
    ----------
    views : dict of str -> ndarray (n, d_k)
    y : ndarray (n, p)
    latent : ndarray (n, d_latent)
    model : LatentLinearModel
    """

    views: dict
    y: np.ndarray
    latent: np.ndarray
    model: "LatentLinearModel"


@dataclass(frozen=True)
class LatentLinearModel:
    """Views ``x_k = V_k l`` and target ``y = T l + noise * eps`` of a unit-variance latent ``l``.

    ``distribution="gaussian"`` (default) draws ``l`` and ``eps`` standard normal; ``"uniform"`` draws them
    uniform on [-sqrt 3, sqrt 3] (same moments, bounded support: what bounded-loss theorems need).

    Parameters
    ----------
    view_maps : dict of str -> ndarray (d_k, d_latent)
        One matrix per modality; the dict order is the canonical modality order.
    target_map : ndarray (p, d_latent)
    noise : float
        Standard deviation of the i.i.d. label noise on each target coordinate.
    distribution : {"gaussian", "uniform"}
    """

    view_maps: dict
    target_map: np.ndarray
    noise: float = 0.0
    info: dict = field(default_factory=dict, compare=False)
    distribution: str = "gaussian"

    def __post_init__(self) -> None:
        if not self.view_maps:
            raise ValueError("view_maps is empty; a model needs at least one modality.")
        d_latent = self.target_map.shape[1]
        for name, v in self.view_maps.items():
            if v.ndim != 2 or v.shape[1] != d_latent:
                raise ValueError(f"view map {name!r} has shape {v.shape}; expected (d_k, {d_latent}).")
        if self.noise < 0 or not np.isfinite(self.noise):
            raise ValueError(f"noise must be a finite number >= 0, got {self.noise}.")
        if self.distribution not in ("gaussian", "uniform"):
            raise ValueError(f"distribution must be 'gaussian' or 'uniform', got {self.distribution!r}.")

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.view_maps)

    @property
    def n_outputs(self) -> int:
        return int(self.target_map.shape[0])

    @property
    def oracle_risk(self) -> float:
        """r(h* o g*): the squared-error risk of the Bayes predictor E[y | latent] (summed over outputs)."""
        return float(self.noise**2 * self.n_outputs)

    def moments(self, modalities: Iterable[str] | str | None = None) -> Moments:
        """Exact population second moments of the views in ``modalities`` (all if None) and ``y``."""
        chosen = self.modalities if modalities is None else check_modalities(modalities, self.modalities)
        v = np.concatenate([self.view_maps[m] for m in chosen], axis=0)
        t = self.target_map
        slices = column_slices({m: self.view_maps[m].shape[0] for m in chosen})
        cov_yy = t @ t.T + self.noise**2 * np.eye(self.n_outputs)
        return Moments(v @ v.T, v @ t.T, cov_yy, slices)

    def sample(self, n: int, seed: int | np.random.Generator = 0) -> SyntheticData:
        """Draw ``n`` i.i.d. samples.

        Returns
        -------
        SyntheticData
            ``views[m]`` has shape (n, d_m); ``y`` (n, p); ``latent`` (n, d_latent).
        """
        latent, eps = self.sample_draws(n, seed, label_noise=self.noise > 0)
        views = {m: latent @ v.T for m, v in self.view_maps.items()}
        y = latent @ self.target_map.T
        if eps is not None:
            y = y + self.noise * eps
        return SyntheticData(views, y, latent, self)

    def sample_draws(self, n: int, seed: int | np.random.Generator = 0, *, label_noise: bool = True):
        """The unit-variance draws behind :meth:`sample`: ``latent`` (n, d_latent) and ``eps`` (n, p) or None.

        ``sample(n, seed)`` is ``latent`` through the maps plus ``noise * eps``; models that differ only in
        ``noise`` draw the same ``latent`` and ``eps`` from the same seed, so one draw serves all of them.
        ``label_noise=False`` skips ``eps`` (what :meth:`sample` does for a noise-free model).
        """
        n = check_positive_int("n", n)
        rng = _sample_rng(seed)
        draw = rng.standard_normal if self.distribution == "gaussian" else (
            lambda shape: rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=shape))  # unit variance, bounded
        latent = draw((n, self.target_map.shape[1]))
        return latent, (draw((n, self.n_outputs)) if label_noise else None)


def _sample_rng(seed) -> np.random.Generator:
    """The generator of :meth:`LatentLinearModel.sample`: a Generator as given, else stream ``"sample"`` of the seed.

    ``seed`` is a non-negative int or a sequence of them (``[run_seed, *key]``: stream ``("sample", *key)`` of
    ``run_seed``), always drawn through :func:`mmtheory.seeding.numpy_rng`.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (list, tuple)):
        if not seed:
            raise ValueError("seed is an empty sequence; pass an integer or [seed, *stream key].")
        return numpy_rng(seed[0], "sample", *seed[1:])
    return numpy_rng(seed, "sample")


def _random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))  # Haar-distributed


def modality_names(n_modalities: int) -> tuple[str, ...]:
    """Canonical names ``("m1", ..., "mK")``."""
    return tuple(f"m{k + 1}" for k in range(check_positive_int("n_modalities", n_modalities)))


def overlap_model(
    w: float,
    *,
    n_modalities: int = 4,
    d_shared: int = 100,
    d_private: int = 100,
    noise: float = 0.0,
    seed: int = 0,
    private_in_target: bool = True,
) -> LatentLinearModel:
    """The overlap-``w`` generator (see the module docstring) as a :class:`LatentLinearModel`.

    Parameters
    ----------
    w : float in [0, 1]
        Overlap: 1, every view carries only the shared block; 0, every view carries only its private block.
    n_modalities : int
        K, the number of modalities (named m1..mK).
    d_shared, d_private : int
        Sizes of the shared block and of each private block.
    noise : float
        Label-noise standard deviation (0: noise-free, as in the paper's table).
    seed : int
        Seed of the random rotations Q_k (the data seed is given to ``sample``).
    private_in_target : bool
        True (the generator of the book). False: a *broken* variant whose target is the shared block
        only, :math:`y = w s`; the private blocks are then irrelevant, so adding a modality or lowering
        ``w`` gains nothing (used to show that the chapter's checks can fail).
    """
    w = check_unit_interval("w", w)
    k = check_positive_int("n_modalities", n_modalities)
    ds = check_positive_int("d_shared", d_shared)
    dp = check_positive_int("d_private", d_private)
    rng = numpy_rng(seed, "overlap-model")
    d_latent = ds + k * dp
    target = np.zeros((d_latent, d_latent))
    target[:ds, :ds] = w * np.eye(ds)
    view_maps = {}
    for i, name in enumerate(modality_names(k)):
        block = np.zeros((ds + dp, d_latent))
        block[:ds, :ds] = w * np.eye(ds)
        cols = slice(ds + i * dp, ds + (i + 1) * dp)
        block[ds:, cols] = (1.0 - w) * np.eye(dp)
        if private_in_target:
            target[cols, cols] = (1.0 - w) * np.eye(dp)
        view_maps[name] = _random_orthogonal(ds + dp, rng) @ block
    info = dict(kind="overlap", w=w, d_shared=ds, d_private=dp, seed=seed, private_in_target=bool(private_in_target))
    return LatentLinearModel(view_maps, target, float(noise), info)


def overlap_eta(w: float, n_observed: int, *, n_modalities: int = 4, d_private: int = 100) -> float:
    r"""Closed form :math:`\eta^\star = (1-w)^2\, d_p\, (K - |M|)` of the overlap generator (derived in the book)."""
    w = check_unit_interval("w", w)
    k = check_positive_int("n_modalities", n_modalities)
    m = check_positive_int("n_observed", n_observed)
    if m > k:
        raise ValueError(f"n_observed = {m} exceeds n_modalities = {k}.")
    return float((1.0 - w) ** 2 * d_private * (k - m))


def overlap_views(
    n: int,
    w: float,
    *,
    n_modalities: int = 4,
    d_shared: int = 100,
    d_private: int = 100,
    noise: float = 0.0,
    model_seed: int = 0,
    seed: int = 0,
) -> SyntheticData:
    """Draw ``n`` samples of the overlap-``w`` generator.

    Returns
    -------
    SyntheticData
        ``views`` maps ``"m1".."mK"`` to arrays of shape (n, d_shared + d_private); ``y`` has shape
        (n, d_shared + K * d_private); ``model`` gives the exact moments.

    Examples
    --------
    >>> data = overlap_views(8, 0.5, d_shared=3, d_private=2)
    >>> sorted(data.views), data.views["m1"].shape, data.y.shape
    (['m1', 'm2', 'm3', 'm4'], (8, 5), (8, 11))
    """
    model = overlap_model(
        w, n_modalities=n_modalities, d_shared=d_shared, d_private=d_private, noise=noise, seed=model_seed
    )
    return model.sample(n, seed)


def random_linear_model(
    dims: Sequence[int],
    *,
    n_outputs: int = 1,
    target_rank: int | None = None,
    noise: float = 0.0,
    correlation: float = 0.5,
    seed: int = 0,
) -> LatentLinearModel:
    """A random instance for checking statements that must hold for *every* linear model.

    Views are noisy mixtures of a common latent factor block (strength ``correlation``) and private
    factors; the target is a random rank-``target_rank`` linear map of *all* views' factors, so every
    modality carries some information about ``y``.

    Parameters
    ----------
    dims : sequence of int
        Feature dimension of each modality (named m1..mK).
    n_outputs : int
        Dimension p of ``y``.
    target_rank : int, optional
        Rank of the map from latent to ``y`` (default ``min(n_outputs, sum(dims))``).
    noise : float
        Label-noise standard deviation.
    correlation : float in [0, 1]
        Weight of the shared factors in each view (0: independent modalities).
    seed : int
    """
    dims = [check_positive_int("dims[k]", d) for d in dims]
    if not dims:
        raise ValueError("dims is empty; give one feature dimension per modality.")
    correlation = check_unit_interval("correlation", correlation)
    p = check_positive_int("n_outputs", n_outputs)
    rng = numpy_rng(seed, "random-linear-model")
    d_common = max(dims)
    d_latent = d_common + sum(dims)
    view_maps, start = {}, d_common
    for name, d in zip(modality_names(len(dims)), dims):
        v = np.zeros((d, d_latent))
        v[:, :d_common] = correlation * rng.standard_normal((d, d_common)) / np.sqrt(d_common)
        v[:, start : start + d] = (1 - correlation) * np.eye(d) + 0.1 * rng.standard_normal((d, d))
        view_maps[name] = v
        start += d
    rank = min(p, sum(dims)) if target_rank is None else check_positive_int("target_rank", target_rank)
    # y depends on the latent only through what the views show: y = B^T x for a rank-`rank` B.
    x_map = np.concatenate(list(view_maps.values()), axis=0)  # (sum dims, d_latent)
    b = rng.standard_normal((x_map.shape[0], rank)) @ rng.standard_normal((rank, p)) / np.sqrt(rank * x_map.shape[0])
    target = b.T @ x_map
    info = dict(kind="random", dims=tuple(dims), correlation=correlation, target_rank=rank, seed=seed)
    return LatentLinearModel(view_maps, target, float(noise), info)
