"""How well the modality-selection principle picks the truly better set, across m and the overlap w."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mmtheory.experiments.theorems import _fit, _population_risk, two_modality_world
from mmtheory.theory.selection import select_modalities


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
