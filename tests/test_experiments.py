import math

import numpy as np
import pytest

from mmtheory.experiments.proposition1 import proposition1_check, summarize_proposition1
from mmtheory.experiments.synthetic import nested_sets, overlap_table, overlap_trained, paper_table


def test_overlap_table_small():
    df = overlap_table([1.0, 0.5, 0.0], d_shared=3, d_private=4, n_train=200)
    assert len(df) == 3 * 4
    np.testing.assert_allclose(df["eta_closed_form"], df["eta_formula"], atol=1e-9)
    np.testing.assert_allclose(df["eta_erm"], df["eta_formula"], atol=1e-6)


def test_overlap_trained_small_reaches_closed_form():
    df = overlap_trained([0.5, 0.0], d_shared=2, d_private=3, n_train=100, epochs=2, batch_size=50)
    assert list(df["set"].unique()) == ["m1", "m1,m2", "m1,m2,m3", "m1,m2,m3,m4"]
    expected = (1 - df["w"]) ** 2 * 3 * (4 - df["n_observed"])
    np.testing.assert_allclose(df["eta_trained"], expected, atol=1e-4)
    assert len(df.attrs["history"]) == 2


def test_paper_table_and_sets():
    assert nested_sets(3) == [("m1",), ("m1", "m2"), ("m1", "m2", "m3")]
    paper = paper_table()
    assert len(paper) == 20 and paper["eta_paper"].max() == pytest.approx(301.92)


def test_proposition1_population_never_violated():
    res = proposition1_check(10, sample_factors=(2.0, math.inf), noise_levels=(0.0, 0.5), seed=1)
    pop = res[np.isinf(res["m_factor"])]
    assert (pop["gamma"] <= pop["tol"]).all()
    noise_free = res[(res["noise"] == 0) & (res["bottleneck"] == "none")]
    assert (noise_free["gamma"] <= noise_free["tol"]).all()
    summary = summarize_proposition1(res)
    assert set(summary.columns) >= {"max_gamma", "share_violated", "cases"}


def test_proposition1_bad_inputs():
    with pytest.raises(ValueError, match="n_instances"):
        proposition1_check(0)
    with pytest.raises(ValueError, match="unknown bottleneck"):
        proposition1_check(1, bottlenecks=("rank2",))


def test_gamma_on_overlap_zero_at_full_overlap():
    from mmtheory.experiments.proposition1 import gamma_on_overlap

    df = gamma_on_overlap((1.0, 0.5), d_shared=2, d_private=2, n_train=50)
    assert bool(df.loc[df["w"] == 1.0, "exactly_zero"].iloc[0])
    assert float(df.loc[df["w"] == 0.5, "gamma_S"].iloc[0]) < 0
