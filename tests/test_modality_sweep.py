import numpy as np
import pandas as pd
import pytest

from mmtheory.experiments.modality_sweep import modality_sweep, quality_pairs, subsample_sizes, summarize_sweep


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
    assert set(res.loc[res["ratio"] == 0.1, "n_train"]) == {40}
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
