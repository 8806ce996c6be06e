r"""Rademacher complexity estimators (Bartlett and Mendelson 2002) for the classes of Huang et al. (2021).

Empirical Rademacher complexity of a class :math:`\mathcal F` on a sample :math:`S = (x_1,\dots,x_m)`:

.. math:: \hat{\mathfrak R}_S(\mathcal F) = \mathbb E_\sigma \sup_{f\in\mathcal F} \frac1m \sum_i \sigma_i f(x_i).

For norm-bounded linear classes the supremum is exact (a dual norm), so the only error is Monte Carlo
over :math:`\sigma`; every estimator draws all :math:`\sigma` at once and needs one matrix product:

* ``{x -> <w, x> : ||w||_2 <= B}``: :math:`\sup = \frac Bm \lVert\sum_i\sigma_i x_i\rVert_2`;
* ``{x -> <w, x> : ||w||_1 <= B}``: :math:`\sup = \frac Bm \lVert\sum_i\sigma_i x_i\rVert_\infty`;
* the late-fusion class :math:`\mathcal H\circ\mathcal G_{\mathcal M}` of per-modality linear encoders
  :math:`\lVert A_k\rVert_{op}\le a_k` and a linear head :math:`\lVert\beta\rVert_2\le b`: the composed
  predictors are :math:`\sum_{k\in\mathcal M}\langle w_k, x^{(k)}\rangle` with
  :math:`\sum_k \lVert w_k\rVert^2/a_k^2 \le b^2`, so
  :math:`\sup = \frac bm\bigl(\sum_{k\in\mathcal M} a_k^2\lVert\sum_i\sigma_i x_i^{(k)}\rVert^2\bigr)^{1/2}`
  and, by Jensen, :math:`\hat{\mathfrak R}_S \le \frac bm\bigl(\sum_{k\in\mathcal M} a_k^2\sum_i\lVert x_i^{(k)}\rVert^2\bigr)^{1/2}`.
  Each added modality adds a non-negative term: the complexity grows with :math:`\mathcal M`.

Inputs may be numpy arrays or torch tensors (CPU or GPU); results come back as floats. For a torch
tensor the signs are drawn by torch on the tensor's device and in its dtype (no host round-trip),
draws are processed in chunks of at most :data:`MAX_CHUNK_ELEMENTS` signs (memory stays bounded for
any ``n_draws``), and each chunk's norms are taken in one fused reduction. Numpy inputs draw their signs
from numpy's generator. Every stream comes from :mod:`mmtheory.seeding` (stream ``"rademacher-signs"`` of
``seed``; ``"mlp-init"`` for the random start directions of :func:`mlp_rademacher_lower_sets`).
"""

from __future__ import annotations

import itertools
import math
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from mmtheory._validation import check_modalities
from mmtheory.seeding import numpy_rng, torch_generator

#: Largest m for which :func:`exact_rademacher_linear` enumerates all 2^m sign vectors.
MAX_EXACT_M = 22

#: Most signs (draws x m) held at once by the torch path; draws beyond it are processed chunk by chunk.
MAX_CHUNK_ELEMENTS = 1 << 24


def _check_radius(name: str, value) -> float:
    """``value`` as a float, or one ValueError if it is not a finite number >= 0 (NaN, negative, inf, text)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}. Pass the norm bound as a float.") from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}. Norm bounds cannot be negative or NaN.")
    return v


class Estimate(NamedTuple):
    """A Monte Carlo estimate: ``value`` with its standard error ``stderr`` over ``n_draws`` draws."""

    value: float
    stderr: float
    n_draws: int


def _backend(x):
    """(module, array) for numpy arrays or torch tensors."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch, x
    return np, np.asarray(x, dtype=np.float64)


def _check_sample(x, radius: float):
    xp, x = _backend(x)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (m, d) sample; got shape {tuple(x.shape)}.")
    if x.shape[0] == 0:
        raise ValueError("the sample is empty (m = 0); Rademacher complexity needs m >= 1.")
    _check_radius("the norm bound (radius)", radius)
    bad = ~xp.isfinite(x)
    if bool(bad.any()):
        raise ValueError("x contains NaN or infinite values.")
    return xp, x


_SIGN_TABLES: dict = {}


def _sign_table(device, dtype):
    """(256, 8) table: row v holds the signs (+1 for a set bit, -1 otherwise) of the byte v's eight bits."""
    import torch

    key = (str(device), dtype)
    if key not in _SIGN_TABLES:
        bits = (torch.arange(256)[:, None] >> torch.arange(8)) & 1
        _SIGN_TABLES[key] = (bits * 2 - 1).to(device=device, dtype=dtype)
    return _SIGN_TABLES[key]


def rademacher_signs(n_draws: int, m: int, *, seed: int = 0, like=None, generator=None):
    """A (n_draws, m) matrix of independent uniform signs.

    Numpy (float64, numpy's generator) unless ``like`` is a torch tensor: then drawn by torch on
    ``like``'s device and in its dtype (``generator``: a ``torch.Generator`` on that device to continue
    a stream; default: stream ``"rademacher-signs"`` of ``seed``). Each random byte gives eight signs.
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}.")
    if like is not None and type(like).__module__.startswith("torch"):
        import torch

        if generator is None:
            generator = torch_generator(seed, "rademacher-signs", device=like.device)
        n_bytes = (m + 7) // 8
        raw = torch.randint(0, 256, (n_draws, n_bytes), device=like.device, generator=generator)
        signs = torch.nn.functional.embedding(raw, _sign_table(like.device, like.dtype))  # (draws, bytes, 8)
        return signs.reshape(n_draws, 8 * n_bytes)[:, :m]
    return signs_from_rng(numpy_rng(seed, "rademacher-signs"), (n_draws, m))


def sign_bytes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The random bytes behind ``shape``'s signs: uint8 array ``(*lead, ceil(m / 8))``, eight signs per byte.

    :func:`signs_from_rng` expands them all at once, :func:`signed_sums` block by block; both read the same
    bytes from ``rng``, so they give the same signs.
    """
    *lead, m = shape
    return rng.integers(0, 256, size=(*lead, (m + 7) // 8), dtype=np.uint8)


def signs_from_rng(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Independent uniform float64 signs of ``shape`` from ``rng``: eight per random byte (``np.unpackbits``)."""
    m = shape[-1]
    return np.unpackbits(sign_bytes(rng, shape), axis=-1, count=m).astype(np.float64) * 2 - 1


#: (256, 8) float64: row v holds the signs of byte v's bits, most significant first (``np.unpackbits``'s order).
_BYTE_SIGNS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float64) * 2 - 1

#: Signs expanded per block of :func:`signed_sums` (8 MiB of float64: enough rows for an efficient product,
#: a fraction of the memory of all signs at once).
SIGN_BLOCK = 1 << 20


def signed_sums(raw: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""``sigma @ x`` for the signs ``sigma`` held as bytes, without materialising all of them.

    Each block of at most :data:`SIGN_BLOCK` signs is expanded by one table lookup into a reused buffer
    and multiplied at once, while it is in cache; the result equals ``signs @ x`` with the signs of
    :func:`signs_from_rng` on the same bytes (the same products, up to BLAS summation order).

    Parameters
    ----------
    raw : ndarray of uint8, (T, n_draws, ceil(m / 8))
        Bytes from :func:`sign_bytes` for ``T`` independent samples.
    x : ndarray (T, m, d)
        The samples (their signs' columns; several variables side by side share one product).

    Returns
    -------
    ndarray (T, n_draws, d)
        :math:`\sum_i \sigma_{t j i} x_{t i}` for every sample ``t`` and draw ``j``.
    """
    raw = np.asarray(raw)
    x = np.asarray(x, dtype=np.float64)
    if raw.dtype != np.uint8 or raw.ndim != 3 or x.ndim != 3 or raw.shape[0] != x.shape[0] \
            or raw.shape[2] != (x.shape[1] + 7) // 8:
        raise ValueError(f"raw must be uint8 (T, n_draws, ceil(m / 8)) and x (T, m, d); got {raw.dtype} {raw.shape} "
                         f"and {x.shape}.")
    t_, n_draws, n_bytes = raw.shape
    m, d = x.shape[1:]
    out = np.empty((t_, n_draws, d))
    rows = max(1, SIGN_BLOCK // (8 * n_bytes))  # draws per block
    buf = np.empty((min(rows, n_draws), n_bytes, 8))
    for t in range(t_):
        for start in range(0, n_draws, rows):
            block = raw[t, start:start + rows]
            b = buf[: len(block)]
            np.take(_BYTE_SIGNS, block, axis=0, out=b)
            np.matmul(b.reshape(len(block), 8 * n_bytes)[:, :m], x[t], out=out[t, start:start + len(block)])
    return out


def _torch_sups(x, n_draws: int, seed: int, norm: str = "l2", chunk: int | None = None):
    # chunk: draws per product (default: as many as MAX_CHUNK_ELEMENTS signs or outputs allow)
    """(n_draws,) tensor of ``dual_norm(sigma_j @ x)`` on ``x``'s device: signs drawn there chunk by chunk."""
    import torch

    m = x.shape[0]
    chunk = chunk or max(1, MAX_CHUNK_ELEMENTS // max(m, x.shape[1]))
    gen = torch_generator(seed, "rademacher-signs", device=x.device)
    ord_ = 2 if norm == "l2" else math.inf
    out = torch.empty(n_draws, dtype=x.dtype, device=x.device)
    for start in range(0, n_draws, chunk):
        stop = min(n_draws, start + chunk)
        sigma = rademacher_signs(stop - start, m, like=x, generator=gen)
        torch.linalg.vector_norm(sigma @ x, ord=ord_, dim=-1, out=out[start:stop])
    return out


def _summarize(sups) -> Estimate:
    xp, _ = _backend(sups)
    n = sups.shape[0]
    mean = float(sups.mean())
    sd = float(sups.std()) if xp is np else float(sups.std(unbiased=False))
    return Estimate(mean, sd / math.sqrt(n), int(n))


def _dual_norm(s, norm: str):
    xp, _ = _backend(s)
    if norm == "l2":
        return xp.sqrt((s * s).sum(-1))
    if norm == "l1":
        return xp.abs(s).max(-1).values if xp is not np else np.abs(s).max(-1)
    raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}.")


def linear_rademacher(x, radius: float = 1.0, *, norm: str = "l2", n_draws: int = 2000, seed: int = 0) -> Estimate:
    r"""Empirical Rademacher complexity of ``{x -> <w, x> : ||w||_norm <= radius}`` on the sample ``x``.

    Parameters
    ----------
    x : array or tensor (m, d)
    radius : float
        The norm bound B.
    norm : {"l2", "l1"}
        The ball's norm (its dual norm gives the exact supremum).
    n_draws : int
        Monte Carlo draws of sigma: one (n_draws, m) @ (m, d) product (torch: in chunks of at most
        :data:`MAX_CHUNK_ELEMENTS` signs, drawn on ``x``'s device).

    Returns
    -------
    Estimate
    """
    xp, x = _check_sample(x, radius)
    if norm not in ("l2", "l1"):
        raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}.")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}.")
    m = x.shape[0]
    if xp is not np:
        return _summarize(_torch_sups(x, n_draws, seed, norm) * (radius / m))
    sigma = rademacher_signs(n_draws, m, seed=seed, like=x)
    return _summarize(radius * _dual_norm(sigma @ x, norm) / m)


def exact_rademacher_linear(x, radius: float = 1.0, *, norm: str = "l2") -> float:
    """The same quantity by enumerating all 2^m sign vectors (m <= 22): the test oracle."""
    _, x = _check_sample(np.asarray(x, dtype=np.float64) if not hasattr(x, "cpu") else x.cpu().numpy(), radius)
    m = x.shape[0]
    if m > MAX_EXACT_M:
        raise ValueError(f"exact enumeration needs m <= {MAX_EXACT_M} (2^m sign vectors); got m = {m}.")
    sigma = np.array(list(itertools.product((-1.0, 1.0), repeat=m)))
    return float(np.mean(radius * _dual_norm(sigma @ x, norm) / m))


def _fusion_inputs(views: Mapping, modalities, encoder_radius, head_radius=1.0):
    names = tuple(views)
    chosen = check_modalities(modalities, names)
    _check_radius("head_radius", head_radius)
    radii = dict(encoder_radius) if isinstance(encoder_radius, Mapping) else {m: encoder_radius for m in chosen}
    missing = [m for m in chosen if m not in radii]
    if missing:
        raise ValueError(f"encoder_radius has no bound for modalities {missing}.")
    for m in chosen:
        _check_radius(f"encoder_radius[{m!r}]", radii[m])
    blocks = [_check_sample(views[m], radii[m])[1] for m in chosen]
    if len({b.shape[0] for b in blocks}) != 1:
        raise ValueError(f"mismatched sample counts { {m: b.shape[0] for m, b in zip(chosen, blocks)} }.")
    return chosen, blocks, [float(radii[m]) for m in chosen]


def late_fusion_rademacher(
    views: Mapping, modalities: Sequence[str], *, encoder_radius=1.0, head_radius: float = 1.0,
    n_draws: int = 2000, seed: int = 0,
) -> Estimate:
    r"""Exact-supremum Monte Carlo estimate of :math:`\hat{\mathfrak R}_S(\mathcal H\circ\mathcal G_{\mathcal M})`.

    Parameters
    ----------
    views : dict of str -> array (m, d_k)
    modalities : the set M
    encoder_radius : float or dict
        Operator-norm bound a_k of each modality's encoder.
    head_radius : float
        Euclidean bound b of the head.
    """
    chosen, blocks, radii = _fusion_inputs(views, modalities, encoder_radius, head_radius)
    m = blocks[0].shape[0]
    if _backend(blocks[0])[0] is not np:  # one product with the scaled blocks side by side, norms fused
        import torch

        if len({(b.device, b.dtype) for b in blocks}) != 1:
            raise ValueError("all views must be on one device and of one dtype; move them with .to(...).")
        x = torch.cat([a * xk for a, xk in zip(radii, blocks)], dim=1)
        return _summarize(_torch_sups(x, n_draws, seed) * (float(head_radius) / m))
    return late_fusion_from_terms(late_fusion_terms(blocks, n_draws=n_draws, seed=seed), radii, head_radius, m, n_draws)


def late_fusion_terms(blocks: Sequence[np.ndarray | None], *, n_draws: int, seed: int) -> list[np.ndarray | None]:
    r"""Per modality block, :math:`\lVert\sum_i\sigma_i x_i^{(k)}\rVert^2` for each of ``n_draws`` sign draws (numpy).

    One sign matrix (stream ``"rademacher-signs"`` of ``seed``) for all blocks; a block given as ``None``
    (a view known to be all zeros) is not multiplied and gets ``None`` (its term is zero).

    Parameters
    ----------
    blocks : sequence of arrays (m, d_k) or None
        At least one array.

    Returns
    -------
    list of arrays (n_draws,) or None
    """
    present = [b for b in blocks if b is not None]
    if not present:
        raise ValueError("late_fusion_terms needs at least one block that is not None.")
    sigma = rademacher_signs(n_draws, present[0].shape[0], seed=seed, like=present[0])
    return [None if xk is None else ((sigma @ xk) ** 2).sum(-1) for xk in blocks]


def late_fusion_from_terms(terms: Sequence[np.ndarray | None], radii: Sequence[float], head_radius: float,
                           m: int, n_draws: int) -> Estimate:
    r""":func:`late_fusion_rademacher` from :func:`late_fusion_terms`: :math:`\frac bm(\sum_k a_k^2\,\text{term}_k)^{1/2}`.

    ``None`` terms (all-zero views) add nothing; the sum runs in the blocks' order, so the result is the
    one :func:`late_fusion_rademacher` gives for the same views and signs, to the last bit (tested).
    """
    total = np.zeros(n_draws)
    for a, term in zip(radii, terms):
        if term is not None:
            total = total + a * a * term
    return _summarize(head_radius * np.sqrt(total) / m)


def late_fusion_bound(views: Mapping, modalities: Sequence[str], *, encoder_radius=1.0, head_radius: float = 1.0) -> float:
    r"""Jensen upper bound :math:`\frac bm(\sum_{k\in M} a_k^2 \sum_i\lVert x^{(k)}_i\rVert^2)^{1/2}` (never below the exact value)."""
    chosen, blocks, radii = _fusion_inputs(views, modalities, encoder_radius, head_radius)
    m = blocks[0].shape[0]
    total = sum(a * a * float((xk * xk).sum()) for a, xk in zip(radii, blocks))
    return float(head_radius * math.sqrt(total) / m)


def exact_late_fusion(views: Mapping, modalities: Sequence[str], *, encoder_radius=1.0, head_radius: float = 1.0) -> float:
    """:func:`late_fusion_rademacher` by enumerating all 2^m sign vectors (m <= 22)."""
    chosen, blocks, radii = _fusion_inputs(views, modalities, encoder_radius, head_radius)
    m = blocks[0].shape[0]
    if m > MAX_EXACT_M:
        raise ValueError(f"exact enumeration needs m <= {MAX_EXACT_M}; got m = {m}.")
    sigma = np.array(list(itertools.product((-1.0, 1.0), repeat=m)))
    total = sum(a * a * ((sigma @ np.asarray(xk)) ** 2).sum(-1) for a, xk in zip(radii, blocks))
    return float(np.mean(head_radius * np.sqrt(total) / m))


def multiclass_linear_rademacher(x, n_outputs: int, radius: float = 1.0, *, n_draws: int = 2000, seed: int = 0) -> Estimate:
    r"""Vector-valued complexity :math:`\mathbb E\sup_{\lVert W\rVert_F\le B}\frac1m\sum_{i,c}\sigma_{ic}(W^\top x_i)_c`.

    With independent signs per sample and output (m x C of them), the supremum is
    :math:`\frac Bm\lVert X^\top\Sigma\rVert_F`. Maurer's vector contraction (2016) bounds the complexity
    of ``loss o f`` for an L-Lipschitz (in the l2 norm of the C outputs) loss by :func:`vector_contraction`
    times this.
    """
    xp, x = _check_sample(x, radius)
    if n_outputs < 1:
        raise ValueError(f"n_outputs must be >= 1, got {n_outputs}.")
    m = x.shape[0]
    if xp is not np:  # chunks of draws, each (c * C, m) signs drawn on the device; one fused norm per draw
        import torch

        chunk = max(1, MAX_CHUNK_ELEMENTS // (n_outputs * max(m, x.shape[1])))
        gen = torch_generator(seed, "rademacher-signs", device=x.device)
        sups = torch.empty(n_draws, dtype=x.dtype, device=x.device)
        for start in range(0, n_draws, chunk):
            c = min(chunk, n_draws - start)
            s = rademacher_signs(c * n_outputs, m, like=x, generator=gen) @ x  # (c * C, d)
            torch.linalg.vector_norm(s.reshape(c, -1), dim=-1, out=sups[start:start + c])
        return _summarize(sups * (radius / m))
    sigma = rademacher_signs(n_draws * n_outputs, m, seed=seed, like=x).reshape(n_draws, n_outputs, m)
    s = sigma @ x  # (draws, C, d)
    return _summarize(radius * xp.sqrt((s * s).sum((-1, -2))) / m)


def vector_contraction(lipschitz: float) -> float:
    r"""Constant of Maurer's vector-contraction inequality (Maurer 2016, Cor. 1): :math:`\sqrt2\,L`.

    :math:`\mathbb E\sup_f\sum_i\sigma_i\,\psi_i(f(x_i)) \le \sqrt2\,L\;\mathbb E\sup_f\sum_{i,c}\sigma_{ic} f_c(x_i)`
    for :math:`\psi_i` L-Lipschitz w.r.t. the Euclidean norm. For a scalar output it is not needed:
    Talagrand's contraction gives the factor L (Ledoux and Talagrand 1991), which is where Theorem 1's
    ``8 L R_m`` comes from (a symmetrisation factor 2, applied to two ERM comparisons, times 2 for
    the two-sided deviation).
    """
    _check_radius("the Lipschitz constant", lipschitz)
    return math.sqrt(2.0) * float(lipschitz)


def golowich_bound(views: Mapping, modalities: Sequence[str], *, encoder_radius=1.0, head_radius: float = 1.0) -> float:
    r"""Golowich, Rakhlin and Shamir (2018, Thm. 1) bound for a ReLU late-fusion network of depth 2.

    For :math:`f(x) = \beta^\top\mathrm{relu}(A^\top x)` with Frobenius norms
    :math:`\lVert A\rVert_F \le M_1`, :math:`\lVert\beta\rVert_2\le M_2` (here :math:`A` is block diagonal,
    one block per modality with :math:`\lVert A_k\rVert_F\le a_k`, so :math:`M_1 = (\sum_k a_k^2)^{1/2}`):
    :math:`\hat{\mathfrak R}_S \le \frac{M_1 M_2(\sqrt{2\ln(2)\,d}+1)}{m}\bigl(\sum_i\lVert x_i\rVert^2\bigr)^{1/2}`, d = 2.
    """
    chosen, blocks, radii = _fusion_inputs(views, modalities, encoder_radius, head_radius)
    m = blocks[0].shape[0]
    m1 = math.sqrt(sum(a * a for a in radii))
    sq = sum(float((xk * xk).sum()) for xk in blocks)
    return float(m1 * head_radius * (math.sqrt(2 * math.log(2) * 2) + 1) * math.sqrt(sq) / m)


def relu_direction_ascent(x, sigma, directions, *, steps: int, lr: float = 0.05):
    r"""Projected gradient ascent of :math:`|g_\sigma(u)|`, :math:`g_\sigma(u) = \frac1m\sum_i\sigma_i\,\mathrm{relu}(u^\top x_i)`, on the unit ball.

    All draws and all candidate directions are one batched problem; each (draw, candidate) pair is
    independent (its gradient involves only its own direction) and Adam's update is elementwise, so the
    result equals running every pair on its own (tested). Every iterate is a feasible point, so the
    best value met along the way is kept: no extra arithmetic, the forward pass computes it anyway.

    Parameters
    ----------
    x : tensor (m, d), float64
        One modality's sample.
    sigma : tensor (D, m)
        One row of signs per draw.
    directions : tensor (D, c, d)
        Initial directions, ``c`` candidates per draw (projected onto the unit ball first).
    steps : int
        Adam steps (0: the initial directions are only evaluated).
    lr : float
        Adam's step size.

    Returns
    -------
    tensor (D,)
        Per draw, the largest :math:`|g_\sigma(u)|` met by any candidate at any step.
    """
    import torch

    m = x.shape[0]
    u = directions.detach().clone()
    with torch.no_grad():
        u.div_(u.norm(dim=-1, keepdim=True).clamp_min(1.0))
    u.requires_grad_()
    opt = torch.optim.Adam([u], lr=lr)
    best = torch.zeros(sigma.shape[0], dtype=x.dtype, device=x.device)
    for step in range(steps + 1):
        g = (torch.relu(torch.matmul(u, x.T)) * sigma[:, None, :]).sum(-1) / m  # (D, c)
        best = torch.maximum(best, g.detach().abs().max(-1).values)
        if step == steps:
            break
        opt.zero_grad()
        (-g.abs().sum()).backward()
        opt.step()
        with torch.no_grad():
            u.div_(u.norm(dim=-1, keepdim=True).clamp_min(1.0))
    return best


def mlp_rademacher_lower_sets(
    views: Mapping, subsets: Sequence[Sequence[str]], *, hidden: int = 16, encoder_radius=1.0,
    head_radius: float = 1.0, n_draws: int = 64, steps: int = 300, lr: float = 0.05, restarts: int = 2, seed: int = 0,
) -> list[Estimate]:
    r"""Lower estimates of :math:`\hat{\mathfrak R}_S` for ReLU late-fusion MLPs, one per modality set, same signs.

    The class: :math:`f(x) = \beta^\top\mathrm{relu}(A^\top x)` with :math:`A` block diagonal, modality
    :math:`k`'s block :math:`A_k` (``hidden`` units) of Frobenius norm at most :math:`a_k`, and
    :math:`\lVert\beta\rVert_2\le b`. By positive homogeneity of the ReLU, unit :math:`j` of modality
    :math:`k` contributes :math:`\beta_j\lVert a_j\rVert\,g_\sigma^{(k)}(\hat a_j)`, and Cauchy–Schwarz gives,
    for any network, :math:`\frac1m\sum_i\sigma_i f(x_i)\le b\,(\sum_k a_k^2\,G_k^2)^{1/2}` with
    :math:`G_k = \max_j|g_\sigma^{(k)}(\hat a_j)|`, reached by putting each modality's whole norm on its best
    unit and choosing the head. So the supremum splits into one search per modality (independent of the
    width once it is at least 1, and shared by every set that contains the modality): each modality's
    ``hidden x restarts`` units are searched by :func:`relu_direction_ascent` (one candidate starts on
    :math:`\pm\sum_i\sigma_i x_i`, the linear supremum's direction, the rest at random), and the network
    that puts its norms on the best units found realises the value, so it is a lower estimate of the
    supremum. Compare with :func:`golowich_bound`, an upper bound.

    Parameters
    ----------
    views : dict of str -> array (m, d_k)
    subsets : sequence of modality sets
        Each set's estimate combines the per-modality searches of its modalities (one search per modality
        in their union).
    hidden, restarts : int
        Units per modality and independent starts: ``hidden * restarts`` candidate directions per draw
        and modality.
    n_draws, steps, lr, seed
        Sign draws (stream ``"rademacher-signs"``, the same for every set), Adam steps and step size,
        and the seed of the random starts (stream ``"mlp-init"``).

    Returns
    -------
    list of Estimate
        One per set, in the order of ``subsets``.
    """
    import torch

    if hidden < 1 or restarts < 1 or steps < 0 or n_draws < 1:
        raise ValueError(f"hidden, restarts and n_draws must be >= 1 and steps >= 0; got {hidden}, {restarts}, "
                         f"{n_draws}, {steps}.")
    if not subsets:
        raise ValueError("subsets must name at least one modality set.")
    checked = [_fusion_inputs(views, subset, encoder_radius, head_radius) for subset in subsets]
    union = [m for m in views if any(m in chosen for chosen, _, _ in checked)]
    m = checked[0][1][0].shape[0]
    sigma = torch.as_tensor(rademacher_signs(n_draws, m, seed=seed), dtype=torch.float64)
    g = torch_generator(seed, "mlp-init")
    n_cand = hidden * restarts
    best = {}
    for name in union:
        x = torch.as_tensor(np.asarray(views[name]) if not hasattr(views[name], "cpu") else views[name].cpu(),
                            dtype=torch.float64)
        u0 = torch.randn(n_draws, n_cand, x.shape[1], generator=g, dtype=torch.float64)
        linear = (sigma @ x)[:, None, :]  # (D, 1, d): the linear supremum's direction, both signs
        u0[:, :1] = linear
        if n_cand > 1:
            u0[:, 1:2] = -linear
        u0 = u0 / u0.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        best[name] = relu_direction_ascent(x, sigma, u0, steps=steps, lr=lr)
    out = []
    for chosen, _, radii in checked:
        total = sum(a * a * best[k] ** 2 for k, a in zip(chosen, radii))
        out.append(_summarize((float(head_radius) * torch.sqrt(total)).numpy()))
    return out


def mlp_rademacher_lower(
    views: Mapping, modalities: Sequence[str], *, hidden: int = 16, encoder_radius=1.0, head_radius: float = 1.0,
    n_draws: int = 64, steps: int = 300, lr: float = 0.05, restarts: int = 2, seed: int = 0,
) -> Estimate:
    r"""A *lower* estimate of :math:`\hat{\mathfrak R}_S` for ReLU late-fusion MLPs with Frobenius-bounded weights.

    :func:`mlp_rademacher_lower_sets` for the one set ``modalities``: for each sign draw the supremum
    is approached from below (an optimiser can only find a value at or below it), so the result is a
    lower estimate. Compare with :func:`golowich_bound`, an upper bound.
    """
    return mlp_rademacher_lower_sets(views, [modalities], hidden=hidden, encoder_radius=encoder_radius,
                                     head_radius=head_radius, n_draws=n_draws, steps=steps, lr=lr,
                                     restarts=restarts, seed=seed)[0]
