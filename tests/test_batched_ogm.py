"""The batched stand-in trainer equals the per-run loop (OGM scores, coefficients and GE noise per run).

Tolerance: the two computations use different kernels (``baddbmm`` over a run axis vs ``addmm`` per
run) and reduce in a different order, so float32 values may differ in the last bits. After a few
epochs every float column (losses, scores, ratios, coefficients) agrees to 1e-5 absolute, and the
accuracies and probe results (counts of argmax decisions) are equal.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from mmtheory.data.av_standin import AVStandin
from mmtheory.experiments.ogm import broken_worlds, linear_probe, linear_probes, run_standin
from mmtheory.models.late_fusion import FUSIONS
from mmtheory.seeding import torch_generator
from mmtheory.train.batched_ogm import StandinRun, fit_standin_batched, standin_init, standin_model

SMALL = dict(n_train=32, n_test=80, seeds=[0, 1], epochs=3, batch_size=16, hidden=8, features=6, modulation_end=1)
ATOL = 1e-5


def _assert_same(a, b):
    for k in ("summary", "history", "steps", "probes"):
        x, y = getattr(a, k), getattr(b, k)
        assert list(x.columns) == list(y.columns), k
        assert x.shape == y.shape, k
        pd.testing.assert_frame_equal(x, y, check_exact=False, atol=ATOL, rtol=0, obj=k)
        acc = [c for c in x.columns if "acc" in c]
        pd.testing.assert_frame_equal(x[acc], y[acc], check_exact=True, obj=f"{k} accuracies")


@pytest.mark.parametrize("fusion", FUSIONS)
def test_batched_equals_the_loop_for_every_method_and_fusion(fusion):
    kw = dict(SMALL, fusion=fusion, methods=("baseline", "ogm", "ogm-ge"))
    batched, loop = run_standin(compute="batched", **kw), run_standin(compute="loop", **kw)
    _assert_same(batched, loop)
    assert len(batched.summary) == 2 * 5 and set(batched.steps["method"]) == {"baseline", "ogm", "ogm-ge"}
    # the modulation and the noise did act: the three methods part ways within the window
    # (the branch scores of later steps, not the loss: with gated fusion the noise moves the loss by less than
    # float32's resolution, so an equality of losses would depend on the CPU's kernels)
    sc = batched.steps[batched.steps["seed"] == 0].set_index(["method", "step"])["score_audio"].unstack(0)
    assert (sc["ogm"] != sc["baseline"]).any() and (sc["ogm-ge"] != sc["ogm"]).any()
    assert (batched.steps.query("method == 'ogm' and active")[["coeff_audio", "coeff_visual"]] < 1).any().any()


def test_batched_equals_the_loop_with_every_ogm_option_and_the_broken_worlds():
    opts = {"noise_on": "dominant", "variant": "continuous", "params": "all", "start_epoch": 1}
    kw = dict(SMALL, methods=("ogm", "ogm-ge"), unimodal=False, ogm_options=opts)
    _assert_same(run_standin(compute="batched", **kw), run_standin(compute="loop", **kw))
    b = broken_worlds(AVStandin(), compute="batched", **SMALL)
    lp = broken_worlds(AVStandin(), compute="loop", **SMALL)
    assert set(b) == {"balanced", "alpha0"}
    for k in b:
        _assert_same(b[k], lp[k])


@pytest.mark.parametrize("fusion", ["concat", "film"])
def test_testing_only_the_last_epoch_changes_nothing_else(fusion):
    """eval_epochs="last": the last epoch's accuracies, the losses, the OGM log and the probes are those of
    "all"; the other epochs' test accuracies and the best epoch are NaN (not measured); the loop agrees."""
    kw = dict(SMALL, fusion=fusion, methods=("baseline", "ogm-ge"))
    every, last = run_standin(eval_epochs="all", **kw), run_standin(eval_epochs="last", **kw)
    _assert_same(last, run_standin(eval_epochs="last", compute="loop", **kw))
    pd.testing.assert_frame_equal(last.steps, every.steps)
    pd.testing.assert_frame_equal(last.probes, every.probes)
    tested = [c for c in every.history.columns if c.startswith("test_acc")]
    final = every.history["epoch"] == SMALL["epochs"] - 1
    pd.testing.assert_frame_equal(last.history.drop(columns=tested), every.history.drop(columns=tested))
    pd.testing.assert_frame_equal(last.history.loc[final, tested], every.history.loc[final, tested])
    assert last.history.loc[~final, tested].isna().all().all()
    assert last.summary[["best_epoch", "best_test_acc"]].isna().all().all()
    same = [c for c in every.summary.columns if c not in ("best_epoch", "best_test_acc")]
    pd.testing.assert_frame_equal(last.summary[same], every.summary[same])
    bkw = dict(SMALL, fusion=fusion)
    b_last = broken_worlds(AVStandin(), which=("alpha0",), real=last, eval_epochs="last", **bkw)["alpha0"]
    b_every = broken_worlds(AVStandin(), which=("alpha0",), real=every, **bkw)["alpha0"]
    pd.testing.assert_frame_equal(b_last.probes, b_every.probes)
    with pytest.raises(ValueError, match="eval_epochs"):
        run_standin(eval_epochs="some", **kw)


def test_skipping_the_probes_changes_nothing_else():
    """probes=False: no probe frame and no probe column; every other frame equals the run with probes."""
    kw = dict(SMALL, methods=("baseline", "ogm-ge"), eval_epochs="last")
    with_p, without = run_standin(**kw), run_standin(probes=False, **kw)
    assert without.probes.empty and not [c for c in without.summary.columns if c.startswith("probe")]
    pd.testing.assert_frame_equal(without.summary, with_p.summary.drop(columns=["probe_acc_audio", "probe_acc_visual"]))
    for k in ("history", "steps"):
        pd.testing.assert_frame_equal(getattr(without, k), getattr(with_p, k))
    b = broken_worlds(AVStandin(), which=("alpha0",), real=without, probes=False, **dict(SMALL, eval_epochs="last"))
    assert b["alpha0"].probes.empty and set(b["alpha0"].summary["method"]) == {"baseline", "ogm-ge"}


@pytest.mark.parametrize("fusion", ["concat", "gated"])
def test_the_real_run_trained_with_its_broken_worlds_equals_the_two_calls(fusion):
    """broken_worlds(with_real=...) trains the chapter's run and its broken worlds as one model: same frames
    as run_standin followed by broken_worlds(real=...)."""
    kw = dict(SMALL, fusion=fusion, eval_epochs="last")
    own = dict(methods=("baseline", "ogm-ge"), alpha=0.8, unimodal=fusion == "concat")
    which = ("balanced", "alpha0") if fusion == "concat" else ("alpha0",)
    together = broken_worlds(AVStandin(), which=which, with_real=own, **kw)
    real = run_standin(AVStandin(), **own, **kw)
    apart = {"real": real, **broken_worlds(AVStandin(), which=which, real=real, **kw)}
    assert list(together) == list(apart) == ["real", *which]
    for k in apart:
        _assert_same(together[k], apart[k])
    with pytest.raises(ValueError, match="not both"):
        broken_worlds(AVStandin(), which=which, real=real, with_real=own, **kw)
    with pytest.raises(ValueError, match="with_real takes"):
        broken_worlds(AVStandin(), which=which, with_real=dict(own, fusion="sum"), **kw)


def test_each_runs_ge_noise_is_its_own_stream():
    """Two OGM-GE runs on the same data and init but different noise seeds differ only by the noise."""
    world = AVStandin()
    xs, ys = world.sample(32, seed=0)
    x = {k: torch.from_numpy(v) for k, v in xs.items()}
    test = ({k: torch.from_numpy(v) for k, v in world.sample(50, 0, stream="test")[0].items()},
            torch.from_numpy(world.sample(50, 0, stream="test")[1]))
    runs = [StandinRun(0, "ogm-ge", ("audio", "visual")), StandinRun(0, "ogm-ge", ("audio", "visual")),
            StandinRun(1, "ogm-ge", ("audio", "visual"))]
    res, _ = fit_standin_batched(runs, [(x, torch.from_numpy(ys), 0)], [test], hidden=8, features=4, n_classes=6,
                                 epochs=2, batch_size=16, ogm_options={"params": "weights"})
    h = [r.history["train_loss"].to_numpy() for r in res]
    np.testing.assert_array_equal(h[0], h[1])  # same seed: the same stream, whatever the position in the batch
    assert not np.allclose(h[0], h[2])
    g = torch_generator(0, "ge-noise")
    assert not torch.equal(torch.randn(3, generator=g), torch.randn(3, generator=torch_generator(1, "ge-noise")))


def test_unsupported_ogm_options_fall_back_to_the_loop_explicitly():
    with pytest.raises(ValueError, match="compute='loop'"):
        fit_standin_batched([StandinRun(0, "ogm", ("audio", "visual"))],
                            [({"audio": torch.zeros(8, 32), "visual": torch.zeros(8, 32)}, torch.zeros(8, dtype=torch.long), 0)],
                            [({"audio": torch.zeros(8, 32), "visual": torch.zeros(8, 32)}, torch.zeros(8, dtype=torch.long))],
                            hidden=4, features=4, n_classes=6, epochs=1, ogm_options={"params": "conv"})
    with pytest.warns(UserWarning, match="one by one"):
        with pytest.raises(ValueError, match="selects no parameter"):  # the loop's own error for MLP encoders
            run_standin(**dict(SMALL, methods=("ogm",), unimodal=False, ogm_options={"params": "conv"}))
    with pytest.raises(ValueError, match="compute"):
        run_standin(compute="fast", **SMALL)


def test_initialisation_streams_are_named_and_paired():
    dims = {"audio": 5, "visual": 7}
    joint = standin_model(("audio", "visual"), dims, 8, 4, 6, "gated")
    uni = standin_model(("audio",), dims, 8, 4, 6)
    a, a_again, b = standin_init(joint, 3), standin_init(joint, 3), standin_init(joint, 4)
    assert all(torch.equal(a[k], a_again[k]) for k in a)
    assert not torch.equal(a["encoders.audio.net.0.weight"], b["encoders.audio.net.0.weight"])
    u = standin_init(uni, 3)  # a seed's unimodal model starts from its joint models' encoder
    assert torch.equal(u["encoders.audio.net.0.weight"], a["encoders.audio.net.0.weight"])
    assert float(a["fusion.fc_out.bias"].abs().sum()) == 0  # Xavier head: zero biases
    bound = 1 / np.sqrt(5)
    assert float(a["encoders.audio.net.0.weight"].abs().max()) <= bound
    before = torch.get_rng_state()
    standin_model(("audio", "visual"), dims, 8, 4, 6)
    assert torch.equal(before, torch.get_rng_state())  # the global generator is left alone


def test_av_standin_draws_named_streams():
    w = AVStandin()
    tr, te = w.sample(20, seed=5), w.sample(20, seed=5, stream="test")
    assert np.array_equal(tr[0]["audio"], w.sample(20, seed=5)[0]["audio"])
    assert not np.array_equal(tr[0]["audio"], te[0]["audio"])
    with pytest.raises(ValueError, match="stream"):
        w.sample(5, stream="valid")


def test_batched_probe_matches_lbfgs():
    g = torch.Generator().manual_seed(0)
    n, m, d, c = 150, 300, 8, 4
    means = torch.randn(c, d, generator=g)
    zs, ys, zt, yt = [], [], [], []
    for scale in (0.5, 1.0, 3.0):  # overlapping to (nearly) separable classes
        y, y2 = torch.randint(0, c, (n,), generator=g), torch.randint(0, c, (m,), generator=g)
        zs.append(scale * means[y] + torch.randn(n, d, generator=g))
        zt.append(scale * means[y2] + torch.randn(m, d, generator=g))
        ys.append(y)
        yt.append(y2)
    out = linear_probes(torch.stack(zs), torch.stack(ys), torch.stack(zt), torch.stack(yt), c)
    for i, o in enumerate(out):
        ref = linear_probe(zs[i], ys[i], zt[i], yt[i], c)
        assert abs(o["probe_acc"] - ref["probe_acc"]) <= 200 / m  # percent: two test points
        assert abs(o["probe_train_acc"] - ref["probe_train_acc"]) <= 200 / n
        assert o["probe_err"] == pytest.approx(100 - o["probe_acc"])
    assert out[2]["probe_acc"] > out[0]["probe_acc"]
    # each problem stops at its own convergence: solved alone or in a batch, the same result
    for i, o in enumerate(out):
        assert linear_probes(zs[i][None], ys[i][None], zt[i][None], yt[i][None], c)[0] == o
    with pytest.raises(ValueError, match="expected"):
        linear_probes(zs[0], ys[0], zt[0], yt[0], c)
