import pytest
import torch

from mmtheory.data.synthetic import overlap_model
from mmtheory.models.fusion import BatchedLateFusion
from mmtheory.theory.linear import latent_quality
from mmtheory.train.batched import fit_batched


def _views(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, generator=g), torch.randn(n, 2, generator=g)], torch.randn(n, 2, generator=g)


def test_mask_zeroes_missing_modalities():
    views, _ = _views()
    net = BatchedLateFusion({"a": 3, "b": 2}, hidden=4, n_outputs=2, mask=[("a",), ("a", "b")])
    z = net.encode(views)
    assert z.shape == (2, 64, 8)
    assert torch.all(z[0, :, 4:] == 0) and torch.any(z[1, :, 4:] != 0)
    # changing the missing view does not change run 0's output
    other = [views[0], views[1] * 100]
    assert torch.allclose(net(views)[0], net(other)[0])


def test_bad_masks():
    with pytest.raises(ValueError, match=r"unknown \['c'\]; valid names are \['a', 'b'\]"):
        BatchedLateFusion({"a": 3, "b": 2}, 4, 2, [("c",)])
    with pytest.raises(ValueError, match="at least one modality"):
        BatchedLateFusion({"a": 3, "b": 2}, 4, 2, torch.tensor([[False, False]]))


def test_batched_training_equals_independent_runs():
    """Two runs trained together give the same weights as each trained alone (same seeds)."""
    views, y = _views()
    subsets = [("a",), ("a", "b")]
    together = BatchedLateFusion({"a": 3, "b": 2}, 4, 2, subsets, seed=3)
    init = {k: v.clone() for k, v in together.state_dict().items()}
    fit_batched(together, views, y, epochs=3, lr=0.01, batch_size=16, seed=5)
    for r, subset in enumerate(subsets):
        alone = BatchedLateFusion({"a": 3, "b": 2}, 4, 2, [subset], seed=3)
        alone.load_state_dict({k: v[r : r + 1].clone() for k, v in init.items()})
        # the per-run sample order must match: reproduce run r's permutation stream
        gen_views = views
        torch.manual_seed(0)
        _fit_one_of_many(alone, gen_views, y, run=r, n_runs=len(subsets), epochs=3, batch_size=16, seed=5)
        assert torch.allclose(alone.head_weight[0], together.head_weight[r], atol=1e-6)
        assert torch.allclose(alone.enc_weight[0][0], together.enc_weight[0][r], atol=1e-6)


def _fit_one_of_many(model, views, y, *, run, n_runs, epochs, batch_size, seed):
    """Train one run with the sample order run ``run`` gets inside a batch of ``n_runs``."""
    from mmtheory.seeding import torch_generator

    gen = torch_generator(seed, "minibatch-order")  # fit_batched's named stream
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    n = y.shape[0]
    for _ in range(epochs):
        order = torch.argsort(torch.rand(n_runs, n, generator=gen), dim=1)[run : run + 1]
        for s in range(0, n, batch_size):
            idx = order[:, s : s + batch_size]
            out = model([x[idx] for x in views])
            loss = ((out - y[idx]) ** 2).sum(-1).mean(1).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()


def test_training_reduces_loss_and_classification_works():
    views, y = _views(128)
    net = BatchedLateFusion({"a": 3, "b": 2}, 8, 2, [("a", "b")] * 2, seed=0)
    hist = fit_batched(net, views, y, epochs=20, lr=0.01, batch_size=32)
    assert hist[-1] < hist[0]
    labels = (views[0][:, 0] > 0).long()
    clf = BatchedLateFusion({"a": 3, "b": 2}, 8, 2, [("a",), ("b",)], seed=0)
    weight = torch.ones(2, 128)
    weight[:, 64:] = 0  # each run trains on the first half only
    hist = fit_batched(clf, views, labels, loss="ce", epochs=30, lr=0.05, batch_size=64, sample_weight=weight)
    acc = (clf(views).argmax(-1) == labels).float().mean(1)
    assert acc[0] > 0.9 > acc[1]  # only modality a carries the label


def test_nan_inputs_fail_clearly():
    views, y = _views()
    views[0][0, 0] = float("nan")
    net = BatchedLateFusion({"a": 3, "b": 2}, 4, 2, [("a",)])
    with pytest.raises(FloatingPointError, match="NaN"):
        fit_batched(net, views, y, epochs=1)
    with pytest.raises(ValueError, match="loss must be"):
        fit_batched(net, views, y, loss="l1")


def test_encoder_matrices_feed_latent_quality():
    model = overlap_model(0.5, d_shared=2, d_private=2)
    net = BatchedLateFusion({m: 4 for m in model.modalities}, 4, 10, [("m1",), model.modalities])
    encs = net.encoder_matrices()
    assert encs[0].shape == (4, 4) and encs[1].shape == (16, 16)
    # a random full-rank linear encoder loses nothing: eta equals the closed form
    assert latent_quality(model.moments(["m1"]), encs[0].double().numpy()) == pytest.approx(
        latent_quality(model.moments(["m1"])), abs=1e-6)


@pytest.mark.parametrize("fusion", ["concat", "sum", "film", "gated"])
def test_fusion_head_init_official_xavier_by_default_and_torch_as_a_switch(fusion):
    """Default: the official OGM-GE ``weight_init`` on the head (Xavier-normal weights, zero biases)."""
    from mmtheory.models.late_fusion import LateFusionClassifier, MLPEncoder, make_fusion

    def heads(init):
        torch.manual_seed(0)
        kw = {} if init is None else {"head_init": init}
        model = LateFusionClassifier({"a": MLPEncoder(6, 8, 40), "b": MLPEncoder(5, 8, 30)}, 3, fusion, **kw)
        return [m for m in model.fusion.modules() if isinstance(m, torch.nn.Linear)]

    for lin in heads(None):
        assert torch.all(lin.bias == 0)
        fan_in, fan_out = lin.weight.shape[1], lin.weight.shape[0]
        std = float(lin.weight.std())
        assert abs(std - (2.0 / (fan_in + fan_out)) ** 0.5) < 0.35 * (2.0 / (fan_in + fan_out)) ** 0.5
    for lin in heads("torch"):  # PyTorch's default: uniform in +-1/sqrt(fan_in), biases too
        bound = lin.weight.shape[1] ** -0.5
        assert torch.any(lin.bias != 0) and float(lin.weight.abs().max()) <= bound
    with pytest.raises(ValueError, match=r"head_init must be one of \['xavier', 'torch'\]; got 'he'"):
        make_fusion(fusion, {"a": 4, "b": 4}, 3, init="he")


def test_seed_helper_spawns_independent_stable_streams():
    from mmtheory.seeding import derive_seed, numpy_rng, seed_sequence, torch_generator

    assert derive_seed(0, "shuffle", 3) == derive_seed(0, "shuffle", 3)  # stable across calls (CRC-32 names)
    seeds = {derive_seed(0, k) for k in ("host", "device", "init", "ge-noise", "torch-host", "torch-device")}
    assert len(seeds) == 6 and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(0, "shuffle", 1) != derive_seed(0, "shuffle", 2) != derive_seed(1, "shuffle", 2)
    assert 0 <= derive_seed(5, "numpy-global", bits=32) < 2**32
    assert seed_sequence(0, "a").spawn_key == seed_sequence(0, "a").spawn_key
    assert numpy_rng(0, "x").random() == numpy_rng(0, "x").random() != numpy_rng(0, "y").random()
    assert torch.equal(torch.rand(3, generator=torch_generator(0, "z")), torch.rand(3, generator=torch_generator(0, "z")))
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            derive_seed(bad, "x")
    with pytest.raises(ValueError, match="stream key"):
        derive_seed(0, -2)


def test_summary_reports_no_best_epoch_when_some_epoch_was_not_tested():
    """A history with untested epochs (NaN) has no best epoch: idxmax would skip the NaNs and call the last
    epoch 'best' though nothing was selected."""
    import math

    import pandas as pd

    from mmtheory.train.late_fusion import TrainResult

    hist = pd.DataFrame({"epoch": [0, 1, 2], "test_acc": [float("nan"), float("nan"), 61.0]})
    s = TrainResult(hist, pd.DataFrame(), None).summary()
    assert s["best_epoch"] is None and math.isnan(s["best_test_acc"]) and s["last_test_acc"] == 61.0
    full = TrainResult(hist.fillna(70.0), pd.DataFrame(), None).summary()
    assert full["best_epoch"] == 0 and full["best_test_acc"] == 70.0
