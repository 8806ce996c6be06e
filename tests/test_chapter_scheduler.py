"""Chapters 04, 08 and 10 take a ``scheduler`` parameter: their grids on a 2-worker Dask cluster give the
same frames, row for row, as in process."""

import dask
import numpy as np
import pandas as pd
import pytest
import torch

from mmtheory import parallel
from mmtheory.data.av_standin import AVStandin
from mmtheory.experiments.modality_sweep import modality_sweeps
from mmtheory.experiments.ogm import broken_worlds, run_standin

STANDIN = dict(n_train=60, n_test=120, seeds=[0, 1, 2], epochs=3, batch_size=32, hidden=8, features=4)


def _views(seed=0, n=240):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    views = {"a": (rng.standard_normal((n, 5)) + y[:, None]).astype(np.float32),
             "b": rng.standard_normal((n, 7)).astype(np.float32)}
    mask = np.arange(n) < 180
    return views, y, mask


def _sweep_calls():
    views, y, mask = _views()
    common = dict(labels=y, modality_sets=[("a",), ("a", "b")], ratios=[0.5, 1.0], seeds=[0, 1], train_mask=mask,
                  hidden=8, epochs=3, batch_size=64, refit_epochs=2, seed=0)
    return {"grid": dict(views=views, **common), "noisy": dict(views={"a": views["b"][:, :5], "b": views["b"]}, **common)}


@pytest.fixture(scope="module")
def client():
    # workers forked from this (already warm) process instead of spawned: the same code, seconds sooner
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), \
            parallel.connect("local:2", log=None) as c:
        yield c


def _equal(a, b):
    for k in ("summary", "history", "steps", "probes"):
        pd.testing.assert_frame_equal(getattr(a, k), getattr(b, k))


def test_standin_grid_on_a_cluster_equals_in_process(client):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a chapter runs (report.setup(threads=1)) and as map_runs runs each task
    try:
        here = run_standin(AVStandin(), **STANDIN)
        there = run_standin(AVStandin(), scheduler=client, **STANDIN)
        _equal(here, there)
        assert len(there.summary) == 3 * 5  # 3 seeds x (3 methods + 2 unimodal), each exactly once
        # the broken worlds pass the scheduler through to run_standin
        b_here = broken_worlds(AVStandin(), which=("alpha0",), real=here, **STANDIN)["alpha0"]
        b_there = broken_worlds(AVStandin(), which=("alpha0",), real=here, scheduler=client, **STANDIN)["alpha0"]
        _equal(b_here, b_there)
    finally:
        torch.set_num_threads(threads)


def test_modality_sweeps_on_a_cluster_equal_in_process(client):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = modality_sweeps(_sweep_calls())
        there = modality_sweeps(_sweep_calls(), scheduler=client)
    finally:
        torch.set_num_threads(threads)
    assert list(there) == ["grid", "noisy"]
    for name in here:
        pd.testing.assert_frame_equal(here[name], there[name])
    assert not here["grid"].equals(here["noisy"])  # two different sweeps, not one result twice
