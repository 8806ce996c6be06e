"""Data-parallel OGM-GE: two gloo processes equal one process on the global batch; gradient accumulation
modulates once per optimizer step; GradScaler leaves the coefficients alone; rank shards; OGM pooling."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from mmtheory.data.av_standin import AVStandin
from mmtheory.models.late_fusion import LateFusionClassifier, MLPEncoder
from mmtheory.train import distributed as mmdist
from mmtheory.train.late_fusion import TensorBatches, TrainConfig, fit
from mmtheory.train.ogm import OGMGE

N_TRAIN, BATCH, EPOCHS = 101, 32, 2  # last batch of 5 rows: shards of 3 and 2


def _problem(batch_size: int = BATCH):
    world = AVStandin()
    x, y = world.sample(N_TRAIN, seed=0)
    xt, yt = world.sample(200, seed=1)
    train = TensorBatches({k: torch.from_numpy(v) for k, v in x.items()}, torch.from_numpy(y), batch_size, seed=0)
    test = TensorBatches({k: torch.from_numpy(v) for k, v in xt.items()}, torch.from_numpy(yt), 256, shuffle=False)
    torch.manual_seed(0)
    model = LateFusionClassifier({u: MLPEncoder(32, 16, 8) for u in ("audio", "visual")}, 6, "concat")
    cfg = TrainConfig(method="ogm-ge", epochs=EPOCHS, lr=0.05, lr_step=10 ** 6, alpha=0.8,
                      ogm={"params": "weights", "end_epoch": 10}, seed=0, amp=False, channels_last=False)
    return model, train, test, cfg


def _coeffs(steps: pd.DataFrame) -> np.ndarray:
    return steps[["coeff_audio", "coeff_visual", "ratio_audio"]].to_numpy(dtype=float)


def _weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _rank(rank: int, world: int, store: str, out: str) -> None:
    """One rank: a straight run, and a run interrupted after one epoch and resumed (both with files)."""
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        ctx = mmdist.DistContext(rank, world, rank, "gloo")
        model, train, test, cfg = _problem()
        res = fit(model, train, test, cfg, device="cpu", dist=ctx, out_dir=os.path.join(out, "straight"))
        model2, train2, test2, cfg2 = _problem()
        cfg2.epochs = 1
        fit(model2, train2, test2, cfg2, device="cpu", dist=ctx, out_dir=os.path.join(out, "resumed"))
        cfg2.epochs = EPOCHS
        res2 = fit(model2, train2, test2, cfg2, device="cpu", dist=ctx, out_dir=os.path.join(out, "resumed"),
                   resume=True)
        np.savez(os.path.join(out, f"rank{rank}.npz"), coeffs=_coeffs(res.steps), resumed=_coeffs(res2.steps),
                 **{f"w:{k}": v for k, v in _weights(model).items()},
                 **{f"r:{k}": v for k, v in _weights(model2).items()})
    finally:
        torch.distributed.destroy_process_group()


def test_two_gloo_processes_equal_one_process_on_the_global_batch(tmp_path):
    import torch._dynamo  # noqa: F401  DDP imports it (seconds); once here, shared by the forked ranks
    mp.start_processes(_rank, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, start_method="fork")
    torch.set_num_threads(1)
    model, train, test, cfg = _problem()
    single = fit(model, train, test, cfg, device="cpu")
    ref_c, ref_w = _coeffs(single.steps), _weights(model)
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    # the same coefficients and weights on both ranks (identical GE noise, identical all-reduced scores)
    for key in ranks[0].files:
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
    steps_per_epoch = -(-N_TRAIN // BATCH)
    assert ranks[0]["coeffs"].shape == ref_c.shape == (EPOCHS * steps_per_epoch, 3)
    assert (ref_c[:, 0] < 1).any(), "audio should dominate at least once, or the check is vacuous"
    diffs = {"coefficients": float(np.abs(ranks[0]["coeffs"] - ref_c).max())}
    diffs["weights"] = max(float(np.abs(ranks[0][f"w:{k}"] - v).max()) for k, v in ref_w.items())
    np.testing.assert_allclose(ranks[0]["coeffs"], ref_c, rtol=1e-5, atol=1e-6)
    for k, v in ref_w.items():
        np.testing.assert_allclose(ranks[0][f"w:{k}"], v, rtol=1e-4, atol=1e-5, err_msg=k)
    # interrupted after one epoch and resumed under DDP: the same as the straight DDP run
    np.testing.assert_array_equal(ranks[0]["resumed"], ranks[0]["coeffs"])
    for k in ref_w:
        np.testing.assert_array_equal(ranks[0][f"r:{k}"], ranks[0][f"w:{k}"], err_msg=k)
    # rank 0 wrote the run folder (and only one set of files exists)
    summary = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert summary["config"]["epochs"] == EPOCHS
    assert len(pd.read_csv(tmp_path / "straight" / "history.csv")) == EPOCHS
    print(f"largest |DDP - single| difference: {diffs}")


def test_accumulation_modulates_once_per_optimizer_step():
    torch.set_num_threads(1)
    m1, train1, test, cfg = _problem(batch_size=16)
    one = fit(m1, train1, test, cfg, device="cpu")
    m2, train2, _, cfg2 = _problem(batch_size=8)
    two = fit(m2, train2, test, cfg2, device="cpu", accumulate=2)
    steps = EPOCHS * -(-N_TRAIN // 16)  # 7 optimizer steps per epoch (the last window has one micro-batch)
    assert len(one.steps) == len(two.steps) == steps
    assert list(two.steps["step"]) == list(range(steps))
    np.testing.assert_allclose(_coeffs(two.steps), _coeffs(one.steps), rtol=1e-5, atol=1e-6)
    for (k, a), b in zip(_weights(m1).items(), _weights(m2).values()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=k)
    # a third of the batches per step modulates a third as often
    m3, train3, _, cfg3 = _problem(batch_size=8)
    three = fit(m3, train3, test, cfg3, device="cpu", accumulate=3)
    assert len(three.steps) == EPOCHS * -(-len(train3) // 3)


def test_grad_scaler_leaves_the_coefficients_unchanged():
    torch.set_num_threads(1)
    m1, train, test, cfg = _problem()
    plain = fit(m1, train, test, cfg, device="cpu")
    m2, train2, test2, cfg2 = _problem()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
    scaled = fit(m2, train2, test2, cfg2, device="cpu", scaler=scaler)
    assert scaler.get_scale() >= 2.0 ** 12  # it scaled (and never found an overflow)
    np.testing.assert_array_equal(_coeffs(scaled.steps), _coeffs(plain.steps))
    for (k, a), b in zip(_weights(m1).items(), _weights(m2).values()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7, err_msg=k)


def test_observe_then_modulate_pools_micro_batches():
    g = torch.Generator().manual_seed(0)
    za, zv = torch.randn(12, 4, generator=g), torch.randn(12, 4, generator=g)
    y = torch.randint(0, 4, (12,), generator=g)
    enc = {"a": MLPEncoder(3), "b": MLPEncoder(3)}
    whole = OGMGE(enc, alpha=0.8, ge=False, params="weights")
    k_whole = whole.apply({"a": za, "b": zv}, y, 0)
    parts = OGMGE(enc, alpha=0.8, ge=False, params="weights")
    parts.observe({"a": za[:5], "b": zv[:5]}, y[:5])
    parts.observe({"a": za[5:], "b": zv[5:]}, y[5:])
    k_parts = parts.modulate(0)
    assert k_parts == pytest.approx(k_whole, rel=1e-6)
    assert len(parts.history) == 1
    assert parts.history[0]["score_a"] == pytest.approx(whole.history[0]["score_a"], rel=1e-6)
    with pytest.raises(RuntimeError, match="before observe"):
        parts.modulate(0)
    parts.observe({"a": za, "b": zv}, y)
    with pytest.raises(RuntimeError, match="await modulate"):
        parts.apply({"a": za, "b": zv}, y, 0)
    with pytest.raises(RuntimeError, match="torch.distributed initialised"):
        OGMGE(enc, params="weights", distributed=True).apply({"a": za, "b": zv}, y, 0)


def test_shards_partition_every_global_batch():
    for n in (1, 5, 32, 33):
        for world in (1, 2, 3):
            rows = [mmdist.shard_rows(n, r, world) for r in range(world)]
            got = np.concatenate([np.arange(n)[s] for s in rows])
            np.testing.assert_array_equal(got, np.arange(n))
            ref = torch.tensor_split(torch.arange(n), world)
            assert [s.stop - s.start for s in rows] == [len(t) for t in ref]
    _, train, _, _ = _problem()
    shards = [mmdist.ShardedBatches(train, r, 2) for r in (0, 1)]
    for (x0, y0), (x1, y1), (x, y) in zip(shards[0].epoch(3), shards[1].epoch(3), train.epoch(3)):
        torch.testing.assert_close(torch.cat([y0, y1]), y)
        torch.testing.assert_close(torch.cat([x0["audio"], x1["audio"]]), x["audio"])
    with pytest.raises(ValueError, match="rank < world_size"):
        mmdist.ShardedBatches(train, 2, 2)


def test_torchrun_environment_is_read_or_refused():
    assert mmdist.init_from_env(env={}) is None
    with pytest.raises(RuntimeError, match="torchrun"):
        mmdist.init_from_env(env={"RANK": "0"})
    with pytest.raises(RuntimeError, match="outside"):
        mmdist.init_from_env(env={"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match="accumulate"):
        m, train, test, cfg = _problem()
        fit(m, train, test, cfg, device="cpu", accumulate=0)


def test_cremad_batches_shards_read_only_their_rows_of_the_global_batch():
    from mmtheory.data.cremad import CremadCache
    from mmtheory.data.torchdata import CremadBatches

    rng = np.random.default_rng(0)
    cache = object.__new__(CremadCache)  # an in-memory cache of 11 clips: the arrays the batches read
    cache.spec = rng.standard_normal((11, 257, 4)).astype(np.float16)
    cache.frames = rng.integers(0, 255, (11, 2, 8, 8, 3), dtype=np.uint8)
    cache.n_frames = np.full(11, 2, dtype=np.int16)
    cache.labels = rng.integers(0, 6, 11)
    whole = CremadBatches(cache, np.arange(11), batch_size=4, train=True, seed=3)
    shards = [whole.shard(r, 2) for r in (0, 1)]
    assert whole._shard == (0, 1)  # the original is untouched
    for (x0, y0), (x1, y1), (x, y) in zip(shards[0].epoch(1), shards[1].epoch(1), whole.epoch(1)):
        torch.testing.assert_close(torch.cat([y0, y1]), y)  # same order as one process, split by rank
        torch.testing.assert_close(torch.cat([x0["audio"], x1["audio"]]), x["audio"])
        assert x0["visual"].shape[0] + x1["visual"].shape[0] == x["visual"].shape[0]
    with pytest.raises(ValueError, match="rank < world_size"):
        whole.shard(3, 2)
