"""Issue 21: one unit for accuracy across experiments.

Every accuracy (and probe error) column of every result frame the package returns is in percent (0-100),
as the papers' tables are. Each experiment is run on a small case and its frames are read column by column;
the helper that reads them is itself shown to refuse fractions, so the test can fail.
"""

import re

import numpy as np
import pandas as pd
import pytest
import torch

from mmtheory import report
from mmtheory.data.av_standin import AVStandin
from mmtheory.experiments.cremad import results_table
from mmtheory.experiments.modality_sweep import modality_sweep
from mmtheory.experiments.ogm import run_standin
from mmtheory.experiments.realdata import validation_pair
from mmtheory.train.batched_ogm import standin_model
from mmtheory.train.late_fusion import TensorBatches, TrainConfig, fit

#: An accuracy or error column: ``test_acc``, ``last_test_acc_visual``, ``probe_acc``, ``probe_err``, ...
ACC_COLUMN = re.compile(r"(^|_)(acc|err)($|_)")


def accuracy_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if ACC_COLUMN.search(str(c))]


def assert_percent(frame: pd.DataFrame, where: str) -> None:
    """Every accuracy/error column of ``frame`` lies in [0, 100] and every accuracy column is above 1 somewhere.

    The runs below are far above chance (>= 1/6 of the samples), so an accuracy column whose values are all at
    most 1 is a column of fractions.
    """
    cols = accuracy_columns(frame)
    assert cols, f"{where}: no accuracy column in {list(frame.columns)}"
    for c in cols:
        vals = frame[c].astype(float).dropna().to_numpy()
        assert vals.size, f"{where}: {c} is empty"
        assert (vals >= 0).all() and (vals <= 100).all(), f"{where}: {c} outside [0, 100]: {vals.min()}..{vals.max()}"
        if c.endswith("err") or "_err_" in c:
            continue
        assert vals.max() > 1.0, f"{where}: {c} looks like fractions (max {vals.max():.3g})"


def test_the_reader_refuses_fractions_and_frames_without_accuracy():
    assert_percent(pd.DataFrame({"test_acc": [55.0, 61.2], "probe_err": [30.0, 0.5]}), "percent")
    with pytest.raises(AssertionError, match="fractions"):
        assert_percent(pd.DataFrame({"last_test_acc_visual": [0.55, 0.61]}), "fractions")
    with pytest.raises(AssertionError, match="outside"):
        assert_percent(pd.DataFrame({"probe_err": [130.0]}), "over 100")
    with pytest.raises(AssertionError, match="no accuracy column"):
        assert_percent(pd.DataFrame({"seed": [0]}), "none")
    assert accuracy_columns(pd.DataFrame(columns=["best_test_acc", "accuracy_note", "eta_hat", "probe_err"])) == [
        "best_test_acc", "probe_err"]


def _views(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    means = rng.standard_normal((3, 4)) * 3
    views = {"a": (means[y] + rng.standard_normal((n, 4))).astype(np.float32),
             "b": (0.5 * means[y, :3] + rng.standard_normal((n, 3))).astype(np.float32)}
    return views, y, np.arange(n) < (2 * n) // 3


def test_modality_sweep_and_the_validation_pair_are_in_percent():
    report.setup(0, threads=1)
    views, y, train = _views()
    res = modality_sweep(views, y, [("a",), ("a", "b")], [1.0], [0], train_mask=train, hidden=8, epochs=5,
                         batch_size=64, refit_epochs=3)
    assert_percent(res, "modality_sweep")
    _, _, val_acc = validation_pair(views, y, train, hidden=8, epochs=5, batch_size=64)
    assert_percent(val_acc.rename("val_acc").to_frame(), "validation_pair")


def test_the_ogm_standin_is_in_percent():
    report.setup(0, threads=1)
    r = run_standin(AVStandin(), n_train=120, n_test=150, seeds=[0], epochs=2, modulation_end=1, batch_size=60,
                    methods=("baseline", "ogm-ge"))
    assert_percent(r.summary, "run_standin summary")
    assert_percent(r.history, "run_standin history")
    assert_percent(r.probes, "run_standin probes")


def test_the_late_fusion_trainer_and_the_cremad_table_are_in_percent(tmp_path):
    report.setup(0, threads=1)
    world = AVStandin()
    (xa, ya), (xb, yb) = world.sample(120, seed=0), world.sample(150, seed=0, stream="test")
    dims = {k: v.shape[1] for k, v in xa.items()}
    model = standin_model(("audio", "visual"), dims, hidden=8, features=8, n_classes=world.n_classes)
    train = TensorBatches({k: torch.from_numpy(v) for k, v in xa.items()}, torch.from_numpy(ya), 60, seed=0)
    test = TensorBatches({k: torch.from_numpy(v) for k, v in xb.items()}, torch.from_numpy(yb), 150, shuffle=False)
    out = fit(model, train, test, TrainConfig(method="ogm-ge", epochs=2, lr=0.01, ogm={"params": "weights"}), out_dir=tmp_path / "ogm-ge")
    assert_percent(out.history, "fit history")
    assert_percent(pd.DataFrame([out.summary()]), "fit summary")
    table = results_table({"ogm-ge": tmp_path / "ogm-ge"})
    assert_percent(table, "cremad.results_table")
    assert {"paper_test_acc", "best_test_acc", "last_test_acc", "last_test_acc_visual"} <= set(table.columns)
