r"""The modality-selection principle of Huang et al. (2021), as a decision rule.

With :math:`\mathfrak R_m(\mathcal F)\approx\sqrt{C(\mathcal F)/m}`, Theorem 2 suggests using the larger set
:math:`\mathcal M\supset\mathcal N` when

.. math:: \hat L(\hat h_{\mathcal N}\circ\hat g_{\mathcal N}, S) - \hat L(\hat h_{\mathcal M}\circ\hat g_{\mathcal M}, S)
          \;\ge\; \sqrt{C(\mathcal H\circ\mathcal G_{\mathcal M})/m} - \sqrt{C(\mathcal H\circ\mathcal G_{\mathcal N})/m}.

The centred losses share :math:`\hat r(h^\star\circ g^\star)`, so their difference is the difference of the
two ERMs' empirical risks (no oracle needed). The right side is estimated by the empirical Rademacher
complexities of the two classes on the same sample, times ``scale`` (1: the principle as stated).
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np

from mmtheory._validation import check_modalities, check_views
from mmtheory.theory.bounds import fit_late_fusion_erm
from mmtheory.theory.rademacher import late_fusion_rademacher


class Selection(NamedTuple):
    """The recommendation of :func:`select_modalities`.

    Attributes
    ----------
    choice : tuple of str
        The recommended set.
    margin : float
        ``empirical_gain - complexity_cost``; positive recommends the larger set.
    empirical_gain : float
        Empirical risk of the smaller set's ERM minus the larger set's (>= 0 up to rounding).
    complexity_cost : float
        ``scale * (R_S(larger) - R_S(smaller))``.
    """

    choice: tuple
    margin: float
    empirical_gain: float
    complexity_cost: float


def select_modalities(
    views: Mapping[str, np.ndarray],
    y: np.ndarray,
    larger: Sequence[str],
    smaller: Sequence[str],
    *,
    encoder_radius: float = 1.0,
    head_radius: float = 1.0,
    scale: float = 1.0,
    n_draws: int = 500,
    seed: int = 0,
) -> Selection:
    """Apply the principle to a sample: fit both late-fusion classes by ERM, compare gain and cost.

    Parameters
    ----------
    views : dict of str -> ndarray (m, d_k)
    y : ndarray (m,) scalar targets (squared loss)
    larger, smaller : modality sets, ``smaller`` a strict subset of ``larger``
    encoder_radius, head_radius : the class's norm bounds a and b
    scale : float >= 0
        Multiplier of the complexity difference (1: the principle as stated; 0: always the larger set).
    """
    check_views(views, y)
    names = tuple(views)
    big, small = check_modalities(larger, names), check_modalities(smaller, names)
    if not set(small) < set(big):
        raise ValueError(f"smaller {small} must be a strict subset of larger {big}.")
    if not (scale >= 0):
        raise ValueError(f"scale must be >= 0, got {scale}.")
    risks = {s: fit_late_fusion_erm(views, y, s, encoder_radius=encoder_radius, head_radius=head_radius)[1]
             for s in (big, small)}
    comp = {s: late_fusion_rademacher(views, s, encoder_radius=encoder_radius, head_radius=head_radius,
                                      n_draws=n_draws, seed=seed).value for s in (big, small)}
    gain = risks[small] - risks[big]
    cost = scale * (comp[big] - comp[small])
    margin = gain - cost
    return Selection(big if margin >= 0 else small, float(margin), float(gain), float(cost))
