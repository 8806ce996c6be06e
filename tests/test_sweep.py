"""Grids: TOML spec and its errors, hashed run folders, skip/resume/new-run rules, .npz views, a 2-worker Dask
LocalCluster equal to the in-process grid, and a worker killed mid-run (every run recorded exactly once)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import dask
import distributed  # noqa: F401  (its config defaults loaded before any dask.config.set block below)
import numpy as np
import pandas as pd
import pytest
import torch

from mmtheory import runs as runs_module
from mmtheory import sweep
from mmtheory.data import arrays

VOLATILE = ["attempts", "seconds"]


def _npz(path: Path, n: int = 120, **overrides) -> Path:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    a = rng.standard_normal((n, 4)) + y[:, None]
    b = rng.standard_normal((n, 3)) * 3 + 0.3 * y[:, None]
    arrs = {"a": a.astype(np.float32), "b": b.astype(np.float32), "labels": y, "train_mask": np.arange(n) % 4 != 0}
    arrs.update(overrides)
    np.savez(path, **{k: v for k, v in arrs.items() if v is not None})
    return path


def _sweep_spec(npz: Path, out: Path, **fixed) -> dict:
    return {"experiment": "modality_sweep", "name": "tiny", "out": str(out), "data": {"npz": str(npz)},
            "fixed": {"epochs": 3, "hidden": 8, "batch_size": 64, "refit_epochs": 2, **fixed},
            "axes": {"set": ["a", "a+b"], "seed": [0, 1]}}


# ------------------------------------------------------------------------------------------- the spec


def test_toml_spec_expands_crossing_the_axes(tmp_path, monkeypatch):
    _npz(tmp_path / "d.npz")
    (tmp_path / "grid.toml").write_text('experiment = "modality_sweep"\nout = "runs"\n[data]\nnpz = "d.npz"\n'
                                        '[fixed]\nepochs = 2\n[axes]\nset = ["a", "b", "a+b"]\nratio = [0.5, 1.0]\n')
    spec = sweep.load_spec(tmp_path / "grid.toml")
    runs = sweep.expand(spec)
    assert len(runs) == 6 and runs[0] == {"epochs": 2, "set": "a", "ratio": 0.5} and runs[1]["ratio"] == 1.0
    assert spec.resolve(spec.out) == tmp_path / "runs"
    ids = {sweep.run_id(spec.experiment, s, "fp") for s in runs}
    assert len(ids) == 6
    # a changed setting, or changed data, is a new run; the same settings in another order are the same run
    s = runs[0]
    assert sweep.run_id("modality_sweep", s, "fp") == sweep.run_id("modality_sweep", dict(reversed(s.items())), "fp")
    assert sweep.run_id("modality_sweep", {**s, "epochs": 3}, "fp") != sweep.run_id("modality_sweep", s, "fp")
    assert sweep.run_id("modality_sweep", s, "other data") != sweep.run_id("modality_sweep", s, "fp")
    # a number written as 1 or 1.0 is one run; other code (a changed default, a fixed bug) is a new run
    assert sweep.run_id("modality_sweep", {**s, "epochs": 2.0}, "fp") == sweep.run_id("modality_sweep", {**s, "epochs": 2}, "fp")
    before = sweep.run_id("modality_sweep", s, "fp")
    monkeypatch.setattr(runs_module, "_CODE_DIGEST", "0" * 16)
    assert sweep.run_id("modality_sweep", s, "fp") != before


@pytest.mark.parametrize("spec, match", [
    ({"fixed": {}}, "'experiment' is missing"),
    ({"experiment": "nope"}, "unknown experiment"),
    ({"experiment": "modality_sweep", "axis": {}}, "unknown key"),
    ({"experiment": "modality_sweep", "axes": {"set": "a"}}, "non-empty list"),
    ({"experiment": "modality_sweep", "axes": {"set": [["a", "b"]]}}, "text\\+audio"),
    ({"experiment": "modality_sweep", "axes": {"set": ["a"], "seed": [0, 0]}}, "repeats"),
    ({"experiment": "modality_sweep", "fixed": {"set": "a"}, "axes": {"set": ["b"]}}, "both"),
    ({"experiment": "modality_sweep", "axes": {"set": ["a"], "epoch": [1]}}, "takes no setting.*'epoch'"),
    ({"experiment": "modality_sweep", "axes": {"seed": [1]}}, "needs setting.*'set'"),
    ({"experiment": "standin", "axes": {"seed": [1]}}, "needs setting.*'method'"),
])
def test_bad_specs_get_one_clear_message(spec, match):
    with pytest.raises(ValueError, match=match):
        sweep.parse_spec(spec)


def test_bad_toml_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such grid file"):
        sweep.load_spec(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("experiment = \n")
    with pytest.raises(ValueError, match="not valid TOML"):
        sweep.load_spec(tmp_path / "bad.toml")
    spec = sweep.parse_spec({"experiment": "modality_sweep", "axes": {"set": ["a"]}, "data": {}}, base=tmp_path)
    with pytest.raises(ValueError, match="exactly one of npz"):
        sweep.load_data(spec)
    with pytest.raises(ValueError, match="no output folder"):
        sweep.run_grid(spec)
    with pytest.raises(ValueError, match="'local:N'"):
        with sweep.connect("local:two"):
            pass
    with pytest.raises(ValueError, match="needs a Dask scheduler"):
        with sweep.connect(None, workers=2):
            pass


# ------------------------------------------------------------------------------------------ npz views


def test_npz_views_round_trip_and_default_split(tmp_path):
    v = arrays.load_npz(_npz(tmp_path / "d.npz"))
    assert v.modalities == ("a", "b") and v.views["a"].dtype == np.float32 and v.labels.dtype == np.int64
    assert v.train_mask.sum() == 90 and "its train_mask" in v.source
    v2 = arrays.load_npz(_npz(tmp_path / "e.npz", train_mask=None), ["b"], test_fraction=0.25, split_seed=3)
    assert v2.modalities == ("b",) and (~v2.train_mask).sum() == 30 and "held out" in v2.source
    np.testing.assert_array_equal(v2.train_mask, arrays.holdout_mask(120, 0.25, 3))


@pytest.mark.parametrize("overrides, keep, match", [
    ({"labels": None}, None, "no 'labels' array"),
    ({}, ["c"], "no modality array.*'c'"),
    ({"b": np.zeros((119, 3))}, None, "mismatched rows.*'b': 119"),
    ({"a": np.where(np.eye(120, 4) > 0, np.nan, 0.0)}, None, "NaN or infinite values in 4 row"),
    ({"a": np.zeros(120)}, None, "must be 2-D"),
    ({"labels": np.full(120, 0.5)}, None, "integer class indices"),
    ({"labels": -np.ones(120, dtype=int)}, None, ">= 0"),
    ({"train_mask": np.ones(120, dtype=bool)}, None, "both training"),
    ({"train_mask": np.ones(120)}, None, "must be boolean"),
    ({"a": None, "b": None}, None, "holds no modality array"),
    # careless input (issue 20): before, a ZeroDivisionError at run time, a 16 TB allocation, and "NaN or
    # infinite values" the file does not have
    ({"a": np.zeros((120, 0))}, None, "modality 'a' .* has no column"),
    ({"labels": np.full(120, 10**12)}, None, "go up to 1000000000000 with only 120 rows"),
    ({"labels": np.full(120, 1e30)}, None, "must be class indices 0..K-1"),
    ({"a": np.full((120, 4), 1e300)}, None, "beyond float32's range .* in 120 row"),
])
def test_npz_errors_say_what_is_wrong(tmp_path, overrides, keep, match):
    path = _npz(tmp_path / "d.npz", **overrides)
    with pytest.raises(ValueError, match=match):
        arrays.load_npz(path, keep)


def test_npz_missing_file_and_not_an_archive(tmp_path):
    with pytest.raises(FileNotFoundError, match="np.savez"):
        arrays.load_npz(tmp_path / "none.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        arrays.load_npz(tmp_path / "one.npy")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        arrays.load_npz(tmp_path / "junk.npz")


# --------------------------------------------------------------------------------- run folders, resume


def test_grid_skips_finished_runs_resumes_interrupted_ones_and_changed_settings_are_new(tmp_path, monkeypatch):
    npz = _npz(tmp_path / "d.npz")
    ref = sweep.run_grid(_sweep_spec(npz, tmp_path / "ref"), log=None)
    assert len(ref) == 4 and ref["run_id"].is_unique
    assert {"run_id", "set", "seed", "epochs", "hidden", "test_acc", "eta_hat", "attempts"} <= set(ref.columns)
    csv = pd.read_csv(tmp_path / "ref" / sweep.RESULTS_CSV)
    assert list(csv.columns) == list(ref.columns) and len(csv) == 4
    # interrupted at the third run (a crash of the whole process), then run again
    real, calls = sweep.EXPERIMENTS["modality_sweep"], []

    def crash_third(settings, data, work):
        calls.append(settings)
        (work / "partial.txt").write_text("half done")
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real[0](settings, data, work)

    monkeypatch.setitem(sweep.EXPERIMENTS, "modality_sweep", (crash_third, *real[1:]))
    out = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt):
        sweep.run_grid(_sweep_spec(npz, out), log=None)
    status = [sweep.run_status(out / rid) for rid in ref["run_id"]]
    assert status == ["finished", "finished", "unfinished", "new"]
    monkeypatch.setitem(sweep.EXPERIMENTS, "modality_sweep", real)
    finished = {rid: (out / rid / "result.json").stat().st_mtime_ns for rid in ref["run_id"][:2]}
    logs = []
    again = sweep.run_grid(_sweep_spec(npz, out), log=logs.append)
    assert "4 runs, 2 finished, 1 to resume, 1 new" in logs[0]
    assert {rid: (out / rid / "result.json").stat().st_mtime_ns for rid in finished} == finished  # not rerun
    assert list(again["attempts"]) == [1, 1, 2, 1]
    assert not (out / ref["run_id"][2] / "work" / "partial.txt").exists()  # restarted cleanly
    pd.testing.assert_frame_equal(again.drop(columns=VOLATILE), ref.drop(columns=VOLATILE))
    # a third time: nothing runs; a changed setting: four new runs beside the old ones
    assert sweep.run_grid(_sweep_spec(npz, out), log=logs.append)["attempts"].tolist() == [1, 1, 2, 1]
    assert "4 finished, 0 to resume, 0 new" in logs[-1]
    changed = sweep.run_grid(_sweep_spec(npz, out, epochs=4), log=None)
    assert set(changed["run_id"]).isdisjoint(ref["run_id"])
    assert len(sweep.read_results(out)) == 8
    # a changed data file is new runs too
    _npz(npz, n=124)
    assert set(sweep.run_grid(_sweep_spec(npz, tmp_path / "ref"), log=None)["run_id"]).isdisjoint(ref["run_id"])


def test_failed_runs_are_reported_and_retried_on_the_next_call(tmp_path, monkeypatch):
    real = sweep.EXPERIMENTS["modality_sweep"]

    def fail(settings, data, work):
        raise FloatingPointError("boom")

    npz = _npz(tmp_path / "d.npz")
    monkeypatch.setitem(sweep.EXPERIMENTS, "modality_sweep", (fail, *real[1:]))
    with pytest.raises(RuntimeError, match="4 of 4 runs failed.*FloatingPointError: boom.*run the grid again"):
        sweep.run_grid(_sweep_spec(npz, tmp_path / "r"), log=None)
    monkeypatch.setitem(sweep.EXPERIMENTS, "modality_sweep", real)
    assert sweep.run_grid(_sweep_spec(npz, tmp_path / "r", epochs=1), log=None)["attempts"].tolist() == [1] * 4


# ------------------------------------------------------------------------------------------------ Dask


def _kill_first_started_worker(out: Path, killed: list, stop: threading.Event) -> None:
    """Kill (SIGKILL) the worker process running the first run seen started and unfinished."""
    while not stop.is_set():
        for attempts in out.glob("*/attempts.jsonl"):
            if not (attempts.parent / "result.json").exists():
                lines = attempts.read_text().splitlines()
                try:
                    pid = json.loads(lines[0])["pid"] if lines else None
                except ValueError:  # the line is being written: look again
                    pid = None
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    # the run may have finished between the look and the kill (then the worker was idle or
                    # had started another run): the test's assertions allow for that race
                    killed.append((attempts.parent.name, pid, (attempts.parent / "result.json").exists()))
                    return
        time.sleep(0.005)


def test_local_cluster_equals_in_process_and_survives_a_killed_worker(tmp_path):
    npz = _npz(tmp_path / "d.npz")
    # the killed grid reads other data (more rows): its scattered data never shares a content key with the
    # first grid's, which Dask may still be releasing, and its runs last long enough to be caught running
    npz_slow = _npz(tmp_path / "d-slow.npz", n=600)
    small, slow = _sweep_spec(npz, tmp_path / "in"), _sweep_spec(npz_slow, tmp_path / "slow-in", epochs=100)
    threads = torch.get_num_threads()
    inproc, slow_ref = sweep.run_grid(small, log=None), sweep.run_grid(slow, log=None)  # runs of about 1 s
    assert torch.get_num_threads() == threads  # one thread per run (as on a worker), restored after the grid
    logs = []
    # workers forked from this process (already warm) instead of spawned: the same code, seconds sooner
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), \
            sweep.connect("local:2", log=logs.append) as client:
        assert "2 worker(s), dashboard http" in logs[0]
        dask_ = sweep.run_grid({**small, "out": str(tmp_path / "dask")}, scheduler=client, log=None)
        pd.testing.assert_frame_equal(dask_.drop(columns=VOLATILE), inproc.drop(columns=VOLATILE))
        # a worker killed mid-run: the grid completes, every run exactly once, the same results
        out, killed, stop = tmp_path / "kill", [], threading.Event()
        watcher = threading.Thread(target=_kill_first_started_worker, args=(out, killed, stop))
        watcher.start()
        try:
            table = sweep.run_grid({**slow, "out": str(out)}, scheduler=client, log=None)
        finally:
            stop.set()
            watcher.join()
        assert killed, "no worker was killed: the check would be vacuous"
        assert len(table) == 4 and table["run_id"].is_unique and set(table["run_id"]) == set(slow_ref["run_id"])
        # exactly one run was interrupted (the one the killed worker was running) and restarted once
        restarted = table.loc[table["attempts"] > 1, "run_id"].tolist()
        finished_before_kill = killed[0][2]
        assert len(restarted) == (0 if finished_before_kill else 1) or (finished_before_kill and len(restarted) == 1), \
            table[["run_id", "attempts"]]
        assert table["attempts"].max() <= 2, table[["run_id", "attempts"]]
        for rid in restarted:  # the restarted run is the one the killed worker was running
            first = json.loads((out / rid / "attempts.jsonl").read_text().splitlines()[0])
            assert first["pid"] == killed[0][1]
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(table["run_id"])
        pd.testing.assert_frame_equal(table.drop(columns=VOLATILE), slow_ref.drop(columns=VOLATILE))
        # map_runs: the same function over keyword sets, shared data scattered once
        got = sweep.map_runs(_affine, [dict(x=1.0), dict(x=2.0)], scheduler=client, shared={"w": np.arange(3.0)},
                             log=None)
    assert got == sweep.map_runs(_affine, [dict(x=1.0), dict(x=2.0)], shared={"w": np.arange(3.0)}) == [3.0, 6.0]


def _affine(x: float, w: np.ndarray) -> float:
    return float(x * w.sum())


def test_map_runs_rejects_a_keyword_given_twice():
    with pytest.raises(ValueError, match="both in shared and per call"):
        sweep.map_runs(_affine, [dict(x=1.0, w=1)], shared={"w": np.arange(3.0)})


# --------------------------------------------------------------------------------- command line, examples


def test_example_grids_parse():
    examples = sorted((Path(__file__).resolve().parents[1] / "examples" / "sweep").glob("*.toml"))
    assert len(examples) >= 3
    for path in examples:
        spec = sweep.load_spec(path)
        assert len(sweep.expand(spec)) > 1, path


def test_cli_sweep_runs_a_grid_and_refuses_two_schedulers(tmp_path, capsys):
    from mmtheory.cli import main

    _npz(tmp_path / "d.npz")
    (tmp_path / "g.toml").write_text('experiment = "modality_sweep"\nname = "cli"\nout = "runs"\n[data]\n'
                                     'npz = "d.npz"\n[fixed]\nepochs = 2\nhidden = 4\nrefit_epochs = 0\n'
                                     '[axes]\nset = ["a", "a+b"]\n')
    assert main(["sweep", str(tmp_path / "g.toml"), "--table", str(tmp_path / "t.csv")]) == 0
    out, err = capsys.readouterr()
    assert "2 runs, 0 finished" in err and "test_acc" in out
    assert len(pd.read_csv(tmp_path / "t.csv")) == 2 == len(pd.read_csv(tmp_path / "runs" / sweep.RESULTS_CSV))
    assert main(["sweep", str(tmp_path / "g.toml")]) == 0
    assert "2 runs, 2 finished" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "g.toml"), "--workers", "2", "--scheduler", "tcp://x:1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "no such grid file" in capsys.readouterr().err


# ----------------------------------------------------------------------- careless and hostile grids
# Every case: one clear error, and nothing written anywhere under the test's folder (checked before/after).

import socket  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402

from mmtheory import parallel  # noqa: E402


def _tree(root: Path) -> dict:
    """Every path under ``root`` with its size and modification time (files) -- what a refusal must not change."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def _grid(tmp_path: Path, **over) -> dict:
    """A valid modality_sweep grid in ``tmp_path`` (data ``d.npz``, out ``tmp_path/runs``), with overrides."""
    if not (tmp_path / "d.npz").exists():
        _npz(tmp_path / "d.npz")
    spec = {"experiment": "modality_sweep", "name": "g", "out": str(tmp_path / "runs"),
            "data": {"npz": str(tmp_path / "d.npz")},
            "fixed": {"epochs": 1, "hidden": 4, "refit_epochs": 0}, "axes": {"set": ["a", "a+b"]}}
    for k, v in over.items():
        if k in ("fixed", "axes", "data"):
            spec[k] = {**spec[k], **v}
        else:
            spec[k] = v
    return spec


class _Silent:
    """A local TCP server that accepts connections and never answers (or answers ``banner``)."""

    def __init__(self, banner: bytes = b""):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = "tcp://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.banner, self.conns, self.stop = banner, [], threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            if self.banner:
                conn.sendall(self.banner)

    def close(self):
        self.stop.set()
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def _closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"tcp://127.0.0.1:{port}"


def _fake_huge_npz(path: Path) -> Path:
    """An .npz whose 'a' header declares 10^12 x 1000 float64 (no data behind it)."""
    import io

    head = io.BytesIO()
    np.lib.format.write_array_header_2_0(head, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 1000)})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.npy", head.getvalue())
        lab = io.BytesIO()
        np.save(lab, np.zeros(3, dtype=np.int64))
        zf.writestr("labels.npy", lab.getvalue())
    return path


def _bomb_npz(path: Path) -> Path:
    """1.5 MB-class compressed archive that loads as 128 MB."""
    np.savez_compressed(path, a=np.zeros((16_000, 1000)), labels=np.zeros(16_000, dtype=np.int64))
    return path


# case -> (keyword arguments of run_grid, or a callable making them from tmp_path; the expected message)
GRID_CASES = {
    # hangs
    "silent scheduler": (lambda t: dict(spec=_grid(t), scheduler="SILENT", connect_timeout=0.5),
                         "sent no Dask handshake within 0.5 s"),
    "scheduler answering as another service": (lambda t: dict(spec=_grid(t), scheduler="BANNER", connect_timeout=2),
                                               "not as a Dask scheduler"),
    "nothing listens": (lambda t: dict(spec=_grid(t), scheduler=_closed_port(), connect_timeout=2), "cannot reach"),
    "scheduler is not an address": (lambda t: dict(spec=_grid(t), scheduler="tcp://host-without-port"),
                                    "is not an address"),
    # writes where it should not
    "out is the root": (lambda t: dict(spec=_grid(t, out="/")), "root or home folder"),
    "out holds someone's results.csv": (lambda t: dict(spec=_grid(t, out=str(t / "precious"))),
                                        "files that no grid wrote"),
    "out is another grid's": (lambda t: dict(spec=_grid(t, out=str(t / "other"))), "runs of another grid"),
    "out outside the grid file's folder": (lambda t: dict(spec=t / "sub" / "far.toml"), "outside the grid file's folder"),
    "cremad without its cache (absolute out)": (
        lambda t: dict(spec={"experiment": "cremad", "out": str(t / "abs-runs"), "data": {"cache": str(t / "nocache")},
                             "axes": {"method": ["baseline", "ogm-ge"]}}), "no CREMA-D cache"),
    "table outside the grid file's folder": (
        lambda t: dict(spec=t / "sub" / "near.toml", table=str(t / "precious" / "results.csv")),
        "table = .* lies outside the grid file's folder"),
    "table replaces a file no grid wrote": (lambda t: dict(spec=_grid(t), table=str(t / "precious" / "results.csv")),
                                            "exists and this grid did not write it"),
    "table replaces a file no grid wrote (file grid)": (
        lambda t: dict(spec=t / "sub" / "near.toml", table=str(t / "sub" / "mine.csv")),
        "exists and this grid did not write it"),
    "table is a folder": (lambda t: dict(spec=_grid(t), table=str(t / "precious")), "is a folder"),
    # a grid file runs code
    "this:nothing": (lambda t: dict(spec=_grid(t, experiment="this:nothing")), "standard library"),
    "os:system": (lambda t: dict(spec=_grid(t, experiment="os:system")), "standard library"),
    "builtins:eval": (lambda t: dict(spec=_grid(t, experiment="builtins:eval")), "standard library"),
    "not a module name": (lambda t: dict(spec=_grid(t, experiment="a b:c")), "unknown experiment"),
    # no limits
    "a million runs": (lambda t: dict(spec=_grid(t, axes={"seed": list(range(1000)), "init_seed": list(range(1000))})),
                       "2,000,000 runs, more than max_runs=10,000"),
    "zip bomb": (lambda t: dict(spec=_grid(t, data={"npz": str(_bomb_npz(t / "bomb.npz"))}), max_data_bytes=2**20),
                 "more than the budget"),
    "declared 10^12 x 1000": (lambda t: dict(spec=_grid(t, data={"npz": str(_fake_huge_npz(t / "huge.npz"))})),
                              "more than the budget"),
    # late and coerced validation
    "epochs = 'two'": (lambda t: dict(spec=_grid(t, fixed={"epochs": "two"})), "epochs must be an integer >= 1; got 'two'"),
    "epochs = 2.5": (lambda t: dict(spec=_grid(t, fixed={"epochs": 2.5})), "epochs must be an integer >= 1; got 2.5"),
    "unknown modality": (lambda t: dict(spec=_grid(t, axes={"set": ["a", "a+c"]})), "unknown modalities \\['c'\\]"),
    "modality twice": (lambda t: dict(spec=_grid(t, axes={"set": ["a+a"]})), "a modality twice"),
    "ratio 0": (lambda t: dict(spec=_grid(t, axes={"ratio": [0]})), "ratio must be a finite number > 0 and <= 1; got 0"),
    "ratio -1": (lambda t: dict(spec=_grid(t, axes={"ratio": [-1.0]})), "ratio must be .*; got -1.0"),
    "ratio nan": (lambda t: dict(spec=_grid(t, axes={"ratio": [float("nan")]})), "ratio must be .*; got nan"),
    "ratio inf": (lambda t: dict(spec=_grid(t, axes={"ratio": [float("inf")]})), "ratio must be .*; got inf"),
    "ratio '0.5' beside 0.5": (lambda t: dict(spec=_grid(t, axes={"ratio": [0.5, "0.5"]})), "got '0.5'"),
    "seed 1.5": (lambda t: dict(spec=_grid(t, axes={"seed": [1, 1.5, 1.9]})), "seed must be an integer >= 0; got 1.5"),
    "seed true": (lambda t: dict(spec=_grid(t, axes={"seed": [True]})), "seed must be an integer >= 0; got True"),
    "ratio 1 and 1.0": (lambda t: dict(spec=_grid(t, axes={"ratio": [1, 1.0]})), "repeats a value"),
    "unknown stand-in method": (lambda t: dict(spec={"experiment": "standin", "out": str(t / "runs"),
                                                     "axes": {"method": ["ogm", "nope"]}}), "method must be one of"),
    "alpha nan": (lambda t: dict(spec={"experiment": "standin", "out": str(t / "runs"),
                                       "fixed": {"alpha": float("nan")}, "axes": {"method": ["ogm"]}}),
                  "alpha must be a finite number >= 0; got nan"),
    "experiment = 3": (lambda t: dict(spec=_grid(t, experiment=3)), "experiment must be one of .* got 3"),
    "workers 0": (lambda t: dict(spec=_grid(t), scheduler="local", workers=0), "workers must be an integer >= 1; got 0"),
    "local:0": (lambda t: dict(spec=_grid(t), scheduler="local:0"), "must be an integer >= 1; got 0"),
    "retries -5": (lambda t: dict(spec=_grid(t), retries=-5), "retries must be an integer >= 0; got -5"),
    "name with a slash": (lambda t: dict(spec=_grid(t, name="../x")), "name must be"),
    "undecodable grid file": (lambda t: dict(spec=t / "binary.toml"), "cannot read the grid file"),
}


def _prepare_case(tmp_path: Path, case: str):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "results.csv").write_text("mine\n")
    other = _grid(tmp_path, name="other", out=str(tmp_path / "other"))
    (tmp_path / "other").mkdir()
    runs_module.write_json(tmp_path / "other" / runs_module.GRID_MARK, sweep.parse_spec(other).identity)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "far.toml").write_text('experiment = "modality_sweep"\nout = "../elsewhere"\n[data]\n'
                                               'npz = "../d.npz"\n[axes]\nset = ["a"]\n')
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00experiment")
    (tmp_path / "sub" / "near.toml").write_text('experiment = "modality_sweep"\nout = "runs"\n[data]\n'
                                                'npz = "../d.npz"\n[axes]\nset = ["a"]\n')
    (tmp_path / "sub" / "mine.csv").write_text("mine\n")


@pytest.mark.parametrize("case", list(GRID_CASES))
def test_careless_grid_is_one_clear_error_and_writes_nothing(tmp_path, case, monkeypatch):
    make, message = GRID_CASES[case]
    _npz(tmp_path / "d.npz")
    _prepare_case(tmp_path, case)
    kwargs = make(tmp_path)
    servers = []
    if kwargs.get("scheduler") in ("SILENT", "BANNER"):
        servers.append(_Silent(b"SSH-2.0-OpenSSH_9.6\r\n" if kwargs["scheduler"] == "BANNER" else b""))
        kwargs["scheduler"] = servers[0].address
    imported_before = set(sys.modules)
    before = _tree(tmp_path)
    t0 = time.monotonic()
    try:
        with pytest.raises((ValueError, RuntimeError, FileNotFoundError), match=message):
            sweep.run_grid(log=None, **kwargs)
    finally:
        for s in servers:
            s.close()
    assert time.monotonic() - t0 < 30, "a refusal must come quickly"
    assert _tree(tmp_path) == before, "a refused grid wrote something"
    assert "this" not in set(sys.modules) - imported_before  # the Zen of Python was not printed
    assert (tmp_path / "precious" / "results.csv").read_text() == "mine\n"


def test_refusals_have_their_explicit_overrides(tmp_path):
    """out outside the grid file's folder with out_anywhere; more runs with max_runs; the same grid's folder."""
    _npz(tmp_path / "d.npz")
    _prepare_case(tmp_path, "")
    table = sweep.run_grid(tmp_path / "sub" / "far.toml", out_anywhere=True, log=None,
                           **{"max_runs": 1})
    assert len(table) == 1 and (tmp_path / "elsewhere" / runs_module.GRID_MARK).is_file()
    with pytest.raises(ValueError, match="max_runs=1"):
        sweep.run_grid(_grid(tmp_path), max_runs=1, log=None)
    assert len(sweep.run_grid(_grid(tmp_path), log=None)) == 2
    # the same grid again (the folder is its own), then a corrupt result file: one error naming it
    assert len(sweep.run_grid(_grid(tmp_path), log=None)) == 2
    rid = sweep.run_grid(_grid(tmp_path), log=None)["run_id"][0]
    (tmp_path / "runs" / rid / "result.json").write_text("{half")
    with pytest.raises(ValueError, match=f"{rid}/result.json is not valid JSON"):
        sweep.run_grid(_grid(tmp_path), log=None)


def test_a_table_the_grid_wrote_is_replaced_and_any_other_file_is_not(tmp_path, capsys):
    from mmtheory.cli import main

    _npz(tmp_path / "d.npz")
    _prepare_case(tmp_path, "")
    grid, table = tmp_path / "sub" / "near.toml", tmp_path / "sub" / "t.csv"
    assert len(sweep.run_grid(grid, table=table, log=None)) == 1
    assert len(sweep.run_grid(grid, table=table, log=None)) == 1  # its own table, unchanged: replaced
    table.write_text("edited by hand\n")
    with pytest.raises(ValueError, match="did not write it"):
        sweep.run_grid(grid, table=table, log=None)
    assert table.read_text() == "edited by hand\n"
    # the CLI: outside the folder without --out-anywhere, an existing file even with it
    assert main(["sweep", str(grid), "--table", str(tmp_path / "precious" / "results.csv")]) == 2
    assert "outside the grid file's folder" in capsys.readouterr().err
    assert main(["sweep", str(grid), "--table", str(tmp_path / "precious" / "results.csv"), "--out-anywhere"]) == 2
    assert "did not write it" in capsys.readouterr().err
    assert (tmp_path / "precious" / "results.csv").read_text() == "mine\n"
    assert main(["sweep", str(grid), "--table", str(tmp_path / "precious" / "new.csv"), "--out-anywhere"]) == 0
    assert len(pd.read_csv(tmp_path / "precious" / "new.csv")) == 1


def test_the_same_grid_running_twice_is_refused_by_its_lock(tmp_path):
    spec = _grid(tmp_path)
    out = tmp_path / "runs"
    runs_module.claim_folder(out, sweep.parse_spec(spec).identity)
    with runs_module.grid_lock(out, "g"):
        before = _tree(tmp_path)
        with pytest.raises(RuntimeError, match="already running in .*pid %d" % os.getpid()):
            sweep.run_grid(spec, log=None)
        assert _tree(tmp_path) == before
    assert len(sweep.run_grid(spec, log=None)) == 2  # the lock is released with the first run


def test_custom_experiment_ids_cover_its_source_and_data_files(tmp_path, monkeypatch):
    (tmp_path / "mygridexp.py").write_text("def f(settings, data, work):\n    return {'x': 1.0}\n")
    (tmp_path / "table.txt").write_text("1 2 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = {"experiment": "mygridexp:f", "out": str(tmp_path / "runs"), "data": {"table": str(tmp_path / "table.txt")},
            "axes": {"k": [1, 2]}}
    first = set(sweep.run_grid(spec, log=None)["run_id"])
    assert set(sweep.run_grid(spec, log=None)["run_id"]) == first  # unchanged: reused
    (tmp_path / "table.txt").write_text("1 2 4\n")
    second = set(sweep.run_grid(spec, log=None)["run_id"])
    assert second.isdisjoint(first)  # changed data file: new runs
    (tmp_path / "mygridexp.py").write_text("def f(settings, data, work):\n    return {'x': 2.0}\n")
    assert set(sweep.run_grid(spec, log=None)["run_id"]).isdisjoint(first | second)  # changed code: new runs


def test_custom_experiment_ids_cover_the_modules_it_imports_from_its_folder(tmp_path, monkeypatch):
    (tmp_path / "myexp_h.py").write_text("import helper_h\n\ndef f(settings, data, work):\n    return {'k': helper_h.K}\n")
    (tmp_path / "helper_h.py").write_text("K = 2\n")
    pkg = tmp_path / "mypkg_h"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "exp.py").write_text("from .util import K\n\ndef f(settings, data, work):\n    return {'k': K}\n")
    (pkg / "util.py").write_text("from mypkg_h.deep import J\nK = 2 + J\n")
    (pkg / "deep.py").write_text("J = 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert set(sweep.experiment_sources("myexp_h:f")) == {"myexp_h", "helper_h"}
    assert set(sweep.experiment_sources("mypkg_h.exp:f")) == {"mypkg_h", "mypkg_h.exp", "mypkg_h.util",
                                                                 "mypkg_h.deep"}
    for name, changed in (("myexp_h:f", tmp_path / "helper_h.py"), ("mypkg_h.exp:f", pkg / "deep.py")):
        spec = {"experiment": name, "out": str(tmp_path / name.replace(":", "_")), "axes": {"s": [1, 2]}}
        first = set(sweep.run_grid(spec, log=None)["run_id"])
        assert set(sweep.run_grid(spec, log=None)["run_id"]) == first  # unchanged: reused
        changed.write_text(changed.read_text().replace("= 2", "= 100").replace("= 0", "= 98"))
        assert set(sweep.run_grid(spec, log=None)["run_id"]).isdisjoint(first), name  # changed helper: new runs


def test_custom_experiment_ids_cover_files_named_by_fixed_and_axes_settings(tmp_path, monkeypatch):
    (tmp_path / "myexp_s.py").write_text("def f(settings, data, work):\n    return {'x': 1.0}\n")
    for n in ("w.txt", "a.txt", "b.txt"):
        (tmp_path / n).write_text(n)
    (tmp_path / "g.toml").write_text('experiment = "myexp_s:f"\nout = "runs"\n[fixed]\nweights = "w.txt"\n'
                                     'label = "plain"\n[axes]\ncfg = ["a.txt", "b.txt"]\n')
    monkeypatch.syspath_prepend(str(tmp_path))

    def ids():
        t = sweep.run_grid(tmp_path / "g.toml", log=None)
        return dict(zip(t["cfg"], t["run_id"]))

    first = ids()
    assert ids() == first
    (tmp_path / "b.txt").write_text("b, changed")
    second = ids()
    assert second["a.txt"] == first["a.txt"] and second["b.txt"] != first["b.txt"]  # only the run naming b.txt
    (tmp_path / "w.txt").write_text("w, changed")
    assert set(ids().values()).isdisjoint(set(second.values()))  # a [fixed] file: every run


def test_code_digest_covers_the_dependency_pins(monkeypatch):
    before = runs_module.code_digest()
    monkeypatch.setattr(runs_module, "_CODE_DIGEST", None)
    monkeypatch.setattr(runs_module, "_pins", lambda: {"torch": "0.0-other"})
    assert runs_module.code_digest() != before
    monkeypatch.setattr(runs_module, "_CODE_DIGEST", None)
    root = Path(runs_module.__file__).resolve().parents[1]
    assert (root / "constraints.txt").is_file()  # a checkout: the pins file is part of the digest


def test_a_cluster_without_workers_is_an_error_not_a_wait(tmp_path):
    from distributed import LocalCluster

    spec = _grid(tmp_path)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster:
        before = _tree(tmp_path)
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="no worker for 1 s"):
            sweep.run_grid(spec, scheduler=cluster.scheduler_address, worker_timeout=1, log=None)
        assert time.monotonic() - t0 < 30
        assert _tree(tmp_path) == before and not (tmp_path / "runs").exists()


def test_probe_accepts_a_real_scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster:
        parallel.probe_scheduler(cluster.scheduler_address, 5)


def test_cli_refuses_workers_0_and_negative_retries(tmp_path, capsys):
    from mmtheory.cli import main

    for argv, message in ((["--workers", "0"], "must be an integer >= 1"), (["--retries", "-5"], "must be an integer >= 0")):
        with pytest.raises(SystemExit):
            main(["sweep", str(tmp_path / "g.toml"), *argv])
        assert message in capsys.readouterr().err
