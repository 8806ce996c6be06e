"""Chapter 05's batched computations against the straightforward per-world, per-set computation."""

import numpy as np
import pandas as pd

from mmtheory.data.synthetic import overlap_model
from mmtheory.experiments.complexity import complexity_by_m, complexity_worlds
from mmtheory.experiments.synthetic import nested_sets
from mmtheory.theory import rademacher as rad
from mmtheory.theory.framework import set_label


def _one_world(m_values, subsets, zeroed, *, w, d_shared, d_private, n_draws, seed):
    """The reference: every world on its own, zero views multiplied like any other (late_fusion_rademacher)."""
    model = overlap_model(w, d_shared=d_shared, d_private=d_private, seed=seed)
    rows = []
    for m in m_values:
        views = dict(model.sample(m, seed=seed + 1).views)
        for z in zeroed:
            views[z] = np.zeros_like(views[z])
        for i, subset in enumerate(subsets):
            est = rad.late_fusion_rademacher(views, subset, n_draws=n_draws, seed=seed + 1_000_003 * (i + 1) + m)
            rows.append(dict(m=m, set=set_label(subset), n_modalities=len(subset), estimate=est.value,
                             stderr=est.stderr, bound=rad.late_fusion_bound(views, subset)))
    return pd.DataFrame(rows)


def test_worlds_at_once_equal_each_world_alone_to_the_last_bit():
    sets = nested_sets(4)
    kw = dict(w=0.5, d_shared=3, d_private=2, n_draws=300, seed=2)
    worlds = {"ours": [], "m4": ["m4"], "m1,m3": ["m1", "m3"], "m1": ["m1"]}
    together = complexity_worlds([20, 90], sets, worlds, **kw)
    for name, zeroed in worlds.items():
        pd.testing.assert_frame_equal(together[name], _one_world([20, 90], sets, zeroed, **kw), check_exact=True)
    # the worlds differ where they should: a zeroed m4 changes only the full set; a zeroed m1 empties the first
    diff = together["ours"]["estimate"] != together["m4"]["estimate"]
    assert list(together["ours"]["set"][diff].unique()) == ["m1,m2,m3,m4"]
    assert (together["m1"].loc[together["m1"]["set"] == "m1", ["estimate", "bound"]] == 0).all().all()
    pd.testing.assert_frame_equal(complexity_by_m([20, 90], sets, zero_modalities=["m4"], **kw), together["m4"])
