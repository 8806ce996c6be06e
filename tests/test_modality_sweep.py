import numpy as np
import pandas as pd
import pytest

import torch

from mmtheory.experiments.modality_sweep import (modality_sweep, probe_split, quality_pairs, subsample_sizes,
                                                 summarize_sweep)
from mmtheory.models.fusion import BatchedLateFusion
from mmtheory.train.batched import fit_batched


def _toy(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    means = rng.standard_normal((3, 5)) * 3
    views = {"a": (means[y] + rng.standard_normal((n, 5))).astype(np.float32),
             "b": rng.standard_normal((n, 7)).astype(np.float32)}  # pure noise
    train = np.arange(n) < (2 * n) // 3
    return views, y, train


def test_sweep_is_tidy_and_learns_the_informative_modality():
    views, y, train = _toy()
    res = modality_sweep(views, y, [("a",), ("b",), ("a", "b")], [0.1, 1.0], [0, 1], train_mask=train,
                         hidden=8, epochs=30, batch_size=128, refit_epochs=10)
    assert len(res) == 3 * 2 * 2
    assert list(res.columns) == ["set", "ratio", "seed", "n_train", "train_acc", "test_acc", "refit_acc", "eta_hat"]
    full = summarize_sweep(res[res["ratio"] == 1.0]).set_index("set")["mean"]
    assert full["a"] > 90 and full["b"] < 50 and full["a+b"] > 85
    assert set(res.loc[res["ratio"] == 1.0, "n_train"]) == {400 - 80}  # the probe (20 % of 400) is held out
    assert set(res.loc[res["ratio"] == 0.1, "n_train"]) == {32}
    pairs = quality_pairs(res, [("a+b", "b")])
    assert pairs.loc[0, "acc_diff"] > 0 and pairs.loc[0, "quality_gap"] > 0 and bool(pairs.loc[0, "signs_agree"])


def test_subsample_sizes():
    assert subsample_sizes(5924, [1e-4, 1e-3, 1.0]) == {1e-4: 1, 1e-3: 6, 1.0: 5924}
    assert subsample_sizes(100, [1e-4], min_samples=6) == {1e-4: 6}
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        subsample_sizes(10, [0.0])


def test_sweep_bad_inputs():
    views, y, train = _toy(60)
    with pytest.raises(ValueError, match=r"unknown modality name\(s\) \['c'\]; valid names are \['a', 'b'\]"):
        modality_sweep(views, y, [("c",)], train_mask=train)
    with pytest.raises(ValueError, match="train_mask must be a boolean array of shape"):
        modality_sweep(views, y, [("a",)], train_mask=train[:10])
    with pytest.raises(ValueError, match="both training and test"):
        modality_sweep(views, y, [("a",)], train_mask=np.ones(60, bool))
    with pytest.raises(ValueError, match="modality_sets is empty"):
        modality_sweep(views, y, [], train_mask=train)
    with pytest.raises(ValueError, match="non-negative integer"):
        modality_sweep(views, y - 1, [("a",)], train_mask=train)
    with pytest.raises(ValueError, match="mismatched sample counts"):
        modality_sweep(views, y[:10], [("a",)], train_mask=train)
    with pytest.raises(ValueError, match="no eta_hat"):
        quality_pairs(pd.DataFrame({"set": ["a"], "ratio": [1.0], "test_acc": [1.0]}), [("a", "a")])


def test_refit_heads_measures_the_latent():
    import torch

    from mmtheory.train.batched import refit_heads

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=g)
    informative = torch.nn.functional.one_hot(y, 3).float() * 3 + 0.1 * torch.randn(300, 3, generator=g)
    latents = torch.stack([informative, torch.zeros(300, 3)])  # run 0 keeps the label, run 1 lost it
    best = refit_heads(latents[:, :200], y[:200], latents[:, 200:], y[200:], epochs=30, lr=0.1, batch_size=64)
    assert best[0] > 0.95
    majority = torch.bincount(y[200:]).max().item() / 100
    assert best[1] <= majority + 1e-6


def _three_views(n=300, seed=0):
    views, y, train = _toy(n, seed)
    views["c"] = np.random.default_rng(seed + 1).standard_normal((n, 3)).astype(np.float32)
    return views, y, train


def test_grouped_sweep_equals_the_masked_reference():
    """Same seed and grid: evaluating each encoder only for its runs changes nothing but rounding."""
    views, y, train = _three_views()
    grid = ([("a",), ("b",), ("a", "b"), ("a", "b", "c")], [0.1, 1.0], [0, 1])
    kw = dict(train_mask=train, hidden=8, epochs=15, batch_size=64, refit_epochs=5)
    grouped = modality_sweep(views, y, *grid, **kw)
    masked = modality_sweep(views, y, *grid, compute="masked", **kw)
    pd.testing.assert_frame_equal(grouped, masked, check_exact=False, atol=1e-4, rtol=0)


def test_grouped_model_equals_masked_and_never_touches_unused_encoders():
    g = torch.Generator().manual_seed(0)
    views = [torch.randn(40, 3, generator=g), torch.randn(40, 5, generator=g), torch.randn(40, 2, generator=g)]
    y = torch.randint(0, 3, (40,), generator=g)
    subsets = [("a",), ("a", "b"), ("c",), ("a", "b", "c")]
    nets = {c: BatchedLateFusion({"a": 3, "b": 5, "c": 2}, 4, 3, subsets, seed=1, compute=c) for c in ("grouped", "masked")}
    torch.testing.assert_close(nets["grouped"](views), nets["masked"](views))
    torch.testing.assert_close(nets["grouped"].encode(views), nets["masked"].encode(views))
    for net in nets.values():
        fit_batched(net, views, y, loss="ce", epochs=4, lr=0.05, batch_size=16, seed=2)
    for (name, a), b in zip(nets["grouped"].named_parameters(), nets["masked"].parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=name)
    # run 0 does not observe b: poisoning its b-encoder leaves the grouped output finite, the masked NaN
    for net in nets.values():
        with torch.no_grad():
            net.enc_weight[1][0] = float("nan")
    assert torch.isfinite(nets["grouped"](views)).all()
    assert torch.isnan(nets["masked"](views)[0]).all()
    with pytest.raises(ValueError, match="compute must be 'grouped' or 'masked'"):
        BatchedLateFusion({"a": 3}, 4, 3, [("a",)], compute="sparse")


def test_latent_quality_comes_from_the_probe_not_the_test_set():
    """eta_hat is scored on a held-out half of the training pool: relabelling the test set leaves it unchanged
    (scored on the test set, it would follow the test labels), while test accuracy changes."""
    views, y, train = _three_views()
    kw = dict(train_mask=train, hidden=8, epochs=10, batch_size=64, refit_epochs=5)
    a = modality_sweep(views, y, [("a",), ("a", "b")], [1.0], [0], **kw)
    y2 = y.copy()
    y2[~train] = np.random.default_rng(9).permutation(y2[~train])
    b = modality_sweep(views, y2, [("a",), ("a", "b")], [1.0], [0], **kw)
    np.testing.assert_array_equal(a["eta_hat"], b["eta_hat"])
    assert not np.allclose(a["test_acc"], b["test_acc"])
    assert (a["eta_hat"] < 30).all()  # the informative modality is seen by the probe


def test_probe_split_is_disjoint_and_reproducible():
    keep, fit, score = probe_split(100, 0.2, seed=3)
    assert len(fit) == len(score) == 10 and len(keep) == 80
    assert len(np.intersect1d(keep, fit)) == len(np.intersect1d(keep, score)) == len(np.intersect1d(fit, score)) == 0
    assert all((u == v).all() for u, v in zip((keep, fit, score), probe_split(100, 0.2, seed=3)))
    assert len(probe_split(100, 0.0)[0]) == 100
    with pytest.raises(ValueError, match=r"probe_fraction must lie in \[0, 1\)"):
        probe_split(100, 1.0)
    with pytest.raises(ValueError, match="cannot be split in two halves"):
        probe_split(3, 0.1)
    views, y, train = _toy(60)
    with pytest.raises(ValueError, match="needs a probe split"):
        modality_sweep(views, y, [("a",)], train_mask=train, probe_fraction=0.0, refit_epochs=2)


def test_a_later_round_of_seeds_never_reuses_an_earlier_rounds_initialisation(monkeypatch):
    """Seed rounds (mmtheory.checks.sequential) call the sweep again with new seeds: run k of round 2 must not
    start from run k of round 1's weights (review: at ratio 1 that made seeds of different rounds identical)."""
    import mmtheory.experiments.modality_sweep as ms

    seen = []
    real = ms.BatchedLateFusion

    def spy(*args, **kwargs):
        net = real(*args, **kwargs)
        seen.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
        return net

    monkeypatch.setattr(ms, "BatchedLateFusion", spy)
    views, y, train = _toy(n=120)
    kw = dict(train_mask=train, hidden=4, epochs=1, batch_size=64, refit_epochs=0)
    modality_sweep(views, y, [("a",)], [1.0], [0], **kw)
    modality_sweep(views, y, [("a",)], [1.0], [1], **kw)
    modality_sweep(views, y, [("a",)], [1.0], [0], **kw)
    assert not torch.equal(seen[0], seen[1])  # another round, another start
    assert torch.equal(seen[0], seen[2])  # the same call, the same start (reproducible)
