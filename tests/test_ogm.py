"""OGM-GE: coefficients and gradient scaling against hand-computed values, noise scale, no-op cases."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from mmtheory.models import LateFusionClassifier, MLPEncoder, make_fusion
from mmtheory.models.resnet import AudioEncoder, ResNet18, VisualEncoder
from mmtheory.train.ogm import OGMGE, coefficient, scores_and_ratios


def test_coefficient_paper_and_continuous_forms():
    assert float(coefficient(2.0, 0.8)) == pytest.approx(1 - math.tanh(1.6))
    assert float(coefficient(0.5, 0.8)) == 1.0
    assert float(coefficient(1.0, 0.8)) == 1.0  # rho > 1 is required
    # the paper's form jumps at rho = 1, the continuous one does not
    assert float(coefficient(1.0 + 1e-9, 0.8)) == pytest.approx(1 - math.tanh(0.8))
    assert float(coefficient(1.0 + 1e-9, 0.8, "continuous")) == pytest.approx(1.0)
    assert float(coefficient(3.0, 0.5, "continuous")) == pytest.approx(1 - math.tanh(1.0))
    with pytest.raises(ValueError, match="variant"):
        coefficient(1.0, 0.8, "nope")


def test_scores_and_ratios_by_hand():
    za = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    zv = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([0, 1])
    s, r = scores_and_ratios({"a": za, "v": zv}, y)
    sa = 1 / (1 + math.exp(-2)) + 1 / (1 + math.exp(-1))
    sv = 0.5 + 1 / (1 + math.exp(1))
    assert s["a"] == pytest.approx(sa) and s["v"] == pytest.approx(sv)
    assert r["a"] == pytest.approx(sa / sv) and r["v"] == pytest.approx(sv / sa)
    # three modalities: each against the mean of the others
    s3, r3 = scores_and_ratios({"a": za, "v": zv, "t": zv}, y)
    assert r3["a"] == pytest.approx(sa / sv) and r3["v"] == pytest.approx(sv / ((sa + sv) / 2))


def _model(fusion="concat", names=("audio", "visual"), seed=0):
    torch.manual_seed(seed)
    return LateFusionClassifier({n: MLPEncoder(6, 8, 4) for n in names}, 3, fusion)


def _grads(model, x, y):
    model.zero_grad()
    feats, logits = model(x)
    nn.functional.cross_entropy(logits, y).backward()
    return feats, {n: p.grad.clone() for n, p in model.named_parameters()}


def _batch(names=("audio", "visual"), n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = {u: torch.randn(n, 6, generator=g) for u in names}
    x["audio"] = x["audio"] * 5  # make audio the dominant modality
    return x, torch.randint(0, 3, (n,), generator=g)


def test_only_the_dominant_encoder_is_scaled_by_k():
    model = _model()
    x, y = _batch()
    feats, before = _grads(model, x, y)
    ogm = OGMGE(model.encoders, alpha=0.8, ge=False, params="weights")
    branch = model.branch_logits({k: v.detach() for k, v in feats.items()})
    s, rho, k = ogm.coefficients(branch, y)
    dominant = max(rho, key=rho.get)
    weak = min(rho, key=rho.get)
    used = ogm.apply(branch, y, epoch=0)
    assert used[weak] == 1.0 and used[dominant] == pytest.approx(1 - math.tanh(0.8 * rho[dominant]))
    for name, p in model.named_parameters():
        g0 = before[name]
        if name.startswith(f"encoders.{dominant}.") and p.dim() >= 2:
            torch.testing.assert_close(p.grad, g0 * used[dominant])
        else:  # weak encoder, biases, fusion head: untouched
            torch.testing.assert_close(p.grad, g0)
    row = ogm.history[-1]
    assert row[f"coeff_{dominant}"] == used[dominant] and row["active"]


def test_ge_noise_has_each_gradients_own_std():
    model = _model()
    x, y = _batch()
    feats, before = _grads(model, x, y)
    gen = torch.Generator().manual_seed(3)
    ogm = OGMGE(model.encoders, alpha=0.8, ge=True, params="weights", generator=gen)
    branch = model.branch_logits({k: v.detach() for k, v in feats.items()})
    k = ogm.apply(branch, y, epoch=0)
    # reproduce the noise exactly with the same generator, in the same parameter order
    gen2 = torch.Generator().manual_seed(3)
    for u in ("audio", "visual"):
        for name, p in model.encoders[u].named_parameters():
            if p.dim() < 2:
                continue
            g0 = before[f"encoders.{u}.{name}"]
            std = float(g0.std()) + 1e-8
            noise = torch.randn(g0.shape, generator=gen2) * std
            torch.testing.assert_close(p.grad, g0 * k[u] + noise)
    # and statistically: a big gradient gets noise of its own std
    big = nn.Linear(400, 500)
    other = nn.Linear(4, 4)
    big.weight.grad = torch.randn(500, 400) * 0.37
    other.weight.grad = torch.zeros(4, 4)
    g_before = big.weight.grad.clone()
    o = OGMGE({"a": big, "b": other}, alpha=0.0, ge=True, params="weights", generator=torch.Generator().manual_seed(0))
    o.apply({"a": torch.zeros(2, 3), "b": torch.zeros(2, 3)}, torch.tensor([0, 1]), 0)
    assert float((big.weight.grad - g_before).std()) == pytest.approx(float(g_before.std()), rel=0.01)


@pytest.mark.parametrize("case", ["alpha0", "outside_window"])
def test_turning_it_off_is_a_no_op(case):
    model = _model()
    x, y = _batch()
    feats, before = _grads(model, x, y)
    if case == "alpha0":
        ogm, epoch = OGMGE(model.encoders, alpha=0.0, ge=False, params="all"), 0
    else:
        ogm, epoch = OGMGE(model.encoders, alpha=0.8, ge=True, params="all", start_epoch=0, end_epoch=5), 6
    ogm.apply(model.branch_logits(feats), y, epoch)
    for name, p in model.named_parameters():
        assert torch.equal(p.grad, before[name]), name
    assert len(ogm.history) == 1  # still logged


def test_conv_selection_follows_the_official_code():
    enc = {"audio": AudioEncoder(width=4), "visual": VisualEncoder(width=4)}
    ogm = OGMGE(enc, params="conv")
    for ps in ogm.params.values():
        assert ps and all(p.dim() == 4 for p in ps)
    n_conv = sum(1 for p in enc["audio"].parameters() if p.dim() == 4)
    assert len(ogm.params["audio"]) == n_conv == 20  # 1 stem + 16 block convs + 3 shortcuts
    with pytest.raises(ValueError, match="params='weights'"):
        OGMGE({"a": MLPEncoder(3), "b": MLPEncoder(3)}, params="conv")


def test_bad_settings_fail_clearly():
    enc = {"a": MLPEncoder(3), "b": MLPEncoder(3)}
    with pytest.raises(ValueError, match="alpha"):
        OGMGE(enc, alpha=float("nan"), params="weights")
    with pytest.raises(ValueError, match="window"):
        OGMGE(enc, start_epoch=5, end_epoch=2, params="weights")
    with pytest.raises(ValueError, match="at least two"):
        OGMGE({"a": MLPEncoder(3)}, params="weights")
    ogm = OGMGE(enc, params="weights")
    with pytest.raises(FloatingPointError, match="NaN"):
        ogm.apply({"a": torch.full((2, 3), float("nan")), "b": torch.zeros(2, 3)}, torch.tensor([0, 1]), 0)


@pytest.mark.parametrize("fusion", ["concat", "sum", "film", "gated"])
def test_branch_logits_of_every_fusion(fusion):
    model = _model(fusion)
    x, y = _batch()
    feats, logits = model(x)
    branch = model.branch_logits(feats)
    assert set(branch) == {"audio", "visual"} and all(b.shape == logits.shape for b in branch.values())
    if fusion == "concat":  # the paper's split: W^u phi^u + b/2, summing to the fused logits
        torch.testing.assert_close(branch["audio"] + branch["visual"], logits)
    if fusion == "sum":
        torch.testing.assert_close(branch["audio"] + branch["visual"], logits)
    if fusion in ("film", "gated"):  # other modality at its batch mean
        means = {u: feats[u].mean(0, keepdim=True).expand_as(feats[u]) for u in feats}
        torch.testing.assert_close(branch["audio"], model.fusion({"audio": feats["audio"], "visual": means["visual"]}))


def test_three_modalities_and_adam_train_end_to_end():
    from mmtheory.train.late_fusion import TensorBatches, TrainConfig, fit

    names = ("audio", "visual", "text")
    model = _model("concat", names)
    x, y = _batch(names, n=64)
    data = TensorBatches(x, y, 16, seed=0)
    cfg = TrainConfig(method="ogm-ge", epochs=2, optimizer="adam", lr=1e-2, ogm={"params": "weights"})
    res = fit(model, data, TensorBatches(x, y, 64, shuffle=False), cfg)
    assert len(res.history) == 2 and {"coeff_text", "ratio_text"} <= set(res.steps.columns)
    assert len(res.steps) == 2 * 4
    with pytest.raises(ValueError, match="two modalities"):
        make_fusion("film", {"a": 2, "b": 2, "c": 2}, 3)


def test_resnet18_shapes_and_size():
    net = ResNet18(3)
    assert sum(p.numel() for p in net.parameters()) == 11_176_512  # torchvision resnet18 minus its fc
    a = AudioEncoder(width=8)(torch.randn(2, 257, 188))
    v = VisualEncoder(width=8)(torch.randn(2, 3, 2, 64, 64))
    assert a.shape == (2, 64) and v.shape == (2, 64)
    with pytest.raises(ValueError, match="visual input"):
        VisualEncoder(width=8)(torch.randn(2, 3, 64, 64))
