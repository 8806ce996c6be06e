"""Hostile and careless input (issue 11): every case gives one clear error and leaves nothing half-written.

Each table row is one bad input or fault. Crafted pickles are loaded in a subprocess, so a regression
that corrupts memory shows up as a failed test (exit by signal), not as a crashed pytest.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mmtheory.data import cremad
from mmtheory.experiments.cremad import paper_runs, train_cremad
from mmtheory.train.late_fusion import CheckpointError, TrainConfig

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------------------------
# 1. Crafted pickles of the dtype / array family (IEMOCAP reader)
# ----------------------------------------------------------------------------------------------------

try:
    from numpy._core import multiarray as _ma
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _ma


class _R:
    """Pickles as ``callable(*args)`` followed by ``BUILD state``: how numpy's own pickles look."""

    def __init__(self, fn, args, state=None):
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self):
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


def _dtype(spec, state=None):
    """A pickled ``np.dtype(spec, False, True)`` with BUILD ``state`` (default: numpy's own state)."""
    return _R(np.dtype, (spec, False, True), state if state is not None else np.dtype(spec).__reduce__()[2])


def _array(dtype, raw, shape=(1,), version=1):
    return _R(_ma._reconstruct, (np.ndarray, (0,), b"b"), (version, shape, dtype, False, raw))


_NO_FLAGS_O8 = (3, "|", None, None, None, -1, -1, 0)  # object dtype with its "holds objects" flags cleared
CRAFTED = {
    "object dtype, flags cleared, bytes read as pointers": (
        _array(_dtype("O8", _NO_FLAGS_O8), b"A" * 8), "numpy dtype 'O8'"),
    "float dtype given object flags, list data": (
        _array(_dtype("f8", (3, "<", None, None, None, -1, -1, 63)), [1.0]), "altered state"),
    "float dtype with item size changed": (
        _array(_dtype("f8", (3, "<", None, None, None, 64, 8, 0)), b"A" * 64), "altered state"),
    "string dtype with item size changed": (
        _array(_dtype("U1", (3, "<", None, None, None, 4000, 4, 8)), b"A" * 4000), "altered state"),
    "void dtype over raw bytes": (_array(_dtype("V8", _NO_FLAGS_O8), b"A" * 8), "numpy dtype 'V8'"),
    "structured dtype with an object field": (
        _array(_R(np.dtype, ("f8,O", False, True), _NO_FLAGS_O8), b"A" * 16), "numpy dtype 'f8,O'"),
    "datetime dtype": (_array(_dtype("M8[s]"), b"A" * 8), r"numpy dtype 'M8\[s\]'"),
    "ndarray called directly over a buffer": (
        _R(np.ndarray, ((1,), "O8", b"A" * 8)), "direct call of numpy.ndarray"),
    "object scalar from raw bytes": (_R(_ma.scalar, (_dtype("O8", _NO_FLAGS_O8), b"A" * 8)), "numpy dtype 'O8'"),
    "_reconstruct of a non-array type": (_R(_ma._reconstruct, (dict, (0,), b"b")), "array of type dict"),
    "raw data shorter than the shape": (_array(_dtype("f8"), b"A" * 8, shape=(2,)), "over 8 bytes"),
    "huge shape over a few bytes": (_array(_dtype("f8"), b"A" * 8, shape=(2**40,)), "over 8 bytes"),
    "list data for a float array": (_array(_dtype("f8"), [1.0]), "raw data is a list"),
    "array state never set": (_R(_ma._reconstruct, (np.ndarray, (0,), b"b")), "state never arrived"),
    "array state version 2": (_array(_dtype("f8"), b"A" * 8, version=2), "state version 2"),
    "os.system": (_R(__import__("os").system, ("echo pwned",)), "refusing to unpickle (posix|os).system"),
    # a 35-byte pickle asking for any amount of memory (here 2**40 bytes: the test would be killed if it ran)
    "bytearray of a size": (_R(bytearray, (2**40,)), r"builtins.bytearray with arguments of types \['int'\]"),
    "bytes of a size": (_R(bytes, (2**40,)), r"builtins.bytes with arguments of types \['int'\]"),
    "bytearray of a size as an array's raw data": (
        _array(_dtype("f8"), _R(bytearray, (2**40,)), shape=(2**37,)), "builtins.bytearray"),
}

_LOADER = textwrap.dedent("""
    import sys
    from mmtheory.data import iemocap
    try:
        obj = iemocap.restricted_load(open(sys.argv[1], "rb").read())
        print("LOADED", repr(obj)[:200])
    except iemocap.UnsafePickleError as exc:
        print("REFUSED", exc)
""")


def _load_in_subprocess(tmp_path: Path, payload: bytes) -> str:
    path = tmp_path / "crafted.pkl"
    path.write_bytes(payload)
    proc = subprocess.run([sys.executable, "-c", _LOADER, str(path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, (f"loading the crafted pickle killed the interpreter (exit {proc.returncode}): "
                                  f"memory corruption in the restricted unpickler.\n{proc.stderr[-2000:]}")
    return proc.stdout


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_pickle_is_refused_without_crash(tmp_path, case):
    obj, message = CRAFTED[case]
    out = _load_in_subprocess(tmp_path, pickle.dumps(obj, protocol=2))
    assert out.startswith("REFUSED"), out
    assert __import__("re").search(message, out), out
    assert "convert it to .npz" in out


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_genuine_numeric_and_string_arrays_still_load(tmp_path, protocol):
    from mmtheory.data import iemocap

    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.asfortranarray(np.arange(4).reshape(2, 2)),
              np.array(["hap", "exc"]), np.array([b"ab"]), np.array([1 + 2j]), np.array([1.5], dtype=">f8"),
              np.zeros((0, 3)), np.array(True)]
    obj = ({"d": arrays, "s": np.float32(2.5), "i": np.int64(-3)}, {"Ses01"}, [1, "a"])
    out = iemocap.restricted_load(pickle.dumps(obj, protocol=protocol))
    for a, b in zip(arrays, out[0]["d"]):
        assert type(b) is np.ndarray and b.dtype == a.dtype and b.flags.owndata
        np.testing.assert_array_equal(a, b)
    assert out[0]["s"] == np.float32(2.5) and out[0]["i"] == -3 and out[1:] == obj[1:]


def test_python2_numpy_pickle_still_loads():
    """numpy 1.x under Python 2 wrote ``dtype('f4', 0, 1)`` (integers) and the raw data as a byte string."""
    from mmtheory.data import iemocap

    raw = np.arange(3, dtype="<f4").tobytes()
    payload = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
               b"(K\x01K\x03\x85cnumpy\ndtype\nU\x02f4K\x00K\x01\x87R(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
               b"K\x00tb\x89U" + bytes([len(raw)]) + raw + b"tb.")
    out = iemocap.restricted_load(payload)
    assert out.dtype == np.float32 and out.tolist() == [0.0, 1.0, 2.0]


def test_crafted_pickle_through_load_is_one_clear_error(tmp_path):
    from mmtheory.data import iemocap

    path = tmp_path / "IEMOCAP_features_raw.pkl"
    path.write_bytes(pickle.dumps((CRAFTED["object dtype, flags cleared, bytes read as pointers"][0],) * 9, protocol=2))
    with pytest.raises(iemocap.UnsafePickleError, match="refusing to unpickle the numpy dtype 'O8'"):
        iemocap.load(path)


# ----------------------------------------------------------------------------------------------------
# 2. Checkpoints, resumes with changed settings, bad settings (CREMA-D training)
# ----------------------------------------------------------------------------------------------------


_RUN = dict(modalities=("audio", "visual"), fusion="concat", width=4, batch_size=4, split="actors", device="cpu")


def _cfg(**kw) -> TrainConfig:
    base = dict(method="ogm-ge", epochs=2, lr=1e-2, lr_step=70, alpha=0.8, ogm={"end_epoch": 1}, seed=0)
    return TrainConfig(**{**base, **kw})


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny prepared cache and one finished 2-epoch run on it."""
    base = tmp_path_factory.mktemp("bad-input")
    clips = [n for n, _ in cremad.official_split("train")[:4]] + [n for n, _ in cremad.official_split("test")[:4]]
    root = cremad.write_tiny_dataset(base / "CREMA-D", clips)  # both splits can be built from it
    cremad.prepare(root, base / "cache", size=16, max_frames=2, progress=False, log=lambda s: None)
    train_cremad(base / "cache", base / "run", _cfg(), **_RUN)
    return base


def _copy_run(trained, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(trained / "run", out)
    return out


def _other_cache(trained, tmp_path) -> Path:
    """The same clips prepared again, one clip fewer usable: another cache identity."""
    cache = tmp_path / "cache2"
    shutil.copytree(trained / "cache", cache)
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["skipped"] = manifest["skipped"] + ["9999_XXX_ANG_XX: no video"]
    (cache / "manifest.json").write_text(json.dumps(manifest))
    return cache


RESUME_CHANGES = {  # name: (TrainConfig changes, train_cremad changes, what the message names)
    "batch size": ({}, {"batch_size": 2}, "batch_size was 4, now 2"),
    "split": ({}, {"split": "official"}, "split was 'actors', now 'official'"),
    "width": ({}, {"width": 8}, "width was 4, now 8"),
    "fusion": ({}, {"fusion": "sum"}, "fusion was 'concat', now 'sum'"),
    "modalities": ({"method": "baseline"}, {"modalities": ("audio",)}, r"modalities was \['audio', 'visual'\], now \['audio'\]"),
    "head init": ({}, {"head_init": "torch"}, "head_init was 'xavier', now 'torch'"),
    "learning rate": ({"lr": 1e-3}, {}, "lr was 0.01, now 0.001"),
    "OGM alpha": ({"alpha": 0.5}, {}, "alpha was 0.8, now 0.5"),
    "OGM modulation end": ({"ogm": {"end_epoch": 2}}, {}, "ogm.end_epoch was 1, now 2"),
    "method": ({"method": "baseline"}, {}, "method was 'ogm-ge', now 'baseline'"),
    "seed": ({"seed": 1}, {}, "seed was 0, now 1"),
    "optimizer": ({"optimizer": "adam"}, {}, "optimizer was 'sgd', now 'adam'"),
    "StepLR period": ({"lr_step": 5}, {}, "lr_step was 70, now 5"),
    "cache identity": ({}, {"cache": "other"}, "cache was '[0-9a-f]{16}', now '[0-9a-f]{16}'"),
    "epochs below those done": ({"epochs": 1}, {}, "already done 2 epochs; epochs=1 is below that"),
    # resolved from the device at fit time and stored resolved (a CPU run resumed on a GPU would switch on bf16)
    "bf16 autocast switched on": ({"amp": True}, {}, "amp was False, now True"),
    "channels-last switched on": ({"channels_last": True}, {}, "channels_last was False, now True"),
}


@pytest.mark.parametrize("case", list(RESUME_CHANGES))
def test_resume_with_a_changed_setting_is_refused_naming_it(trained, tmp_path, case):
    cfg_kw, run_kw, message = RESUME_CHANGES[case]
    out = _copy_run(trained, tmp_path)
    before = _snapshot(out)
    cache = _other_cache(trained, tmp_path) if run_kw.pop("cache", None) else trained / "cache"
    with pytest.raises(CheckpointError, match=message):
        train_cremad(cache, out, _cfg(**cfg_kw), **{**_RUN, **run_kw}, resume=True)
    assert _snapshot(out) == before  # nothing written


def test_resume_with_the_same_settings_extends_the_run(trained, tmp_path):
    out = _copy_run(trained, tmp_path)
    train_cremad(trained / "cache", out, _cfg(epochs=3), **_RUN, resume=True)
    history = json.loads((out / "history.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert len(history) == 3 and summary["config"]["run"]["batch_size"] == 4 and summary["config"]["epochs"] == 3


def test_reused_paper_runs_refuse_other_settings(trained, tmp_path):
    kw = dict(epochs=1, width=4, batch_size=4, split="actors", device="cpu")
    dirs = paper_runs(trained / "cache", tmp_path / "runs", **kw)
    before = {k: _snapshot(d) for k, d in dirs.items()}
    with pytest.raises(CheckpointError, match="batch_size was 4, now 2"):
        paper_runs(trained / "cache", tmp_path / "runs", **{**kw, "batch_size": 2})
    with pytest.raises(CheckpointError, match="already done 1 epochs; epochs=0|must be an integer >= 1"):
        paper_runs(trained / "cache", tmp_path / "runs", **{**kw, "epochs": 0})
    assert {k: _snapshot(d) for k, d in dirs.items()} == before


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


CHECKPOINTS = {
    "zero bytes": (lambda data: b"", "is not a readable checkpoint"),
    "truncated": (_truncated, "is not a readable checkpoint"),
    "random bytes": (lambda data: np.random.default_rng(0).bytes(4096), "is not a readable checkpoint"),
    "a pickle that runs code": (lambda data: pickle.dumps(_R(os.system, ("echo pwned",))), "is not a readable checkpoint"),
    "a tensor file, not a run": (None, r"not an mmtheory training checkpoint \(missing"),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_bad_checkpoint_is_one_clear_error(trained, tmp_path, case):
    damage, message = CHECKPOINTS[case]
    out = _copy_run(trained, tmp_path)
    ckpt = out / "checkpoint.pt"
    if damage is None:
        torch.save({"model": {"w": torch.zeros(2)}}, ckpt)
    else:
        ckpt.write_bytes(damage(ckpt.read_bytes()))
    before = _snapshot(out)
    with pytest.raises(CheckpointError, match=message):
        train_cremad(trained / "cache", out, _cfg(epochs=3), **_RUN, resume=True)
    assert _snapshot(out) == before
    # the command line prints one line, no traceback
    from mmtheory.cli import main

    proc = subprocess.run([sys.executable, "-m", "mmtheory", "train", "cremad", "--cache", str(trained / "cache"),
                           "--out", str(out), "--width", "4", "--batch-size", "4", "--split", "actors", "--epochs", "3",
                           "--resume", "--device", "cpu"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, TQDM_DISABLE="1"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert main is not None


SETTINGS = {  # command line -> the one message
    "--lr-step 0": (["train", "--lr-step", "0"], r"lr_step must be an integer >= 1; got 0\."),
    "--epochs 0": (["train", "--epochs", "0"], r"epochs must be an integer >= 1; got 0\."),
    "--lr -1": (["train", "--lr", "-1"], r"lr must be a finite number > 0; got -1.0\."),
    "--lr nan": (["train", "--lr", "nan"], r"lr must be a finite number > 0; got nan\."),
    "--alpha -0.5": (["train", "--alpha", "-0.5"], r"alpha must be a finite number >= 0; got -0.5\."),
    "--seed -1": (["train", "--seed", "-1"], r"seed must be an integer >= 0; got -1\."),
    "--modulation-ends -2": (["train", "--modulation-ends", "-2"], r"modulation_end must be an integer >= 0; got -2\."),
    "--device cuda without a GPU": (["train", "--device", "cuda"], "--device cuda: no CUDA GPU is available here"),
    "--device tpu": (["train", "--device", "tpu"], "unknown device 'tpu'"),
    "--batch-size 0": (["train", "--batch-size", "0"], r"batch_size must be an integer >= 1; got 0\."),
    "--width 0": (["train", "--width", "0"], r"width must be an integer >= 1; got 0\."),
    "--max-frames 0": (["prepare", "--max-frames", "0"], r"max_frames \(--max-frames, frames kept per clip\) must be an integer >= 1; got 0"),
    "--size 0": (["prepare", "--size", "0"], r"size \(--size, frame side in pixels\) must be an integer >= 1; got 0"),
    "--size -3": (["prepare", "--size", "-3"], r"size \(--size, frame side in pixels\) must be an integer >= 1; got -3"),
}


@pytest.mark.parametrize("case", list(SETTINGS))
def test_bad_setting_is_refused_up_front(trained, tmp_path, case, capsys):
    import torch.cuda

    if "cuda" in case and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    from mmtheory.cli import main

    args, message = SETTINGS[case]
    if args[0] == "train":
        argv = ["train", "cremad", "--cache", str(trained / "cache"), "--out", str(tmp_path / "out"), "--width", "4",
                "--batch-size", "4", "--split", "actors", "--epochs", "1", "--device", "cpu"] + args[1:]
    else:
        argv = ["prepare", "cremad", "--root", str(trained / "CREMA-D"), "--cache", str(tmp_path / "out")] + args[1:]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing written


# ----------------------------------------------------------------------------------------------------
# 3. A kill at every step of `prepare`, then a re-run: the cache ends byte-equal to an uninterrupted one
# ----------------------------------------------------------------------------------------------------


class _Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler in the code under test catches it."""


PREP_CLIPS = ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI", "1003_TIE_SAD_LO"]


@pytest.fixture(scope="module")
def prep_root(tmp_path_factory):
    """Three clips in the real layout, one of them with a broken video, and a reference cache."""
    base = tmp_path_factory.mktemp("prep")
    root = cremad.write_tiny_dataset(base / "root", PREP_CLIPS, seconds=1.1)
    (root / "VideoFlash" / "1003_TIE_SAD_LO.flv").write_bytes(b"FLV\x01 broken")
    cremad.prepare(root, base / "reference", size=8, max_frames=2, progress=False, log=lambda s: None)
    return root, base / "reference"


def _prepare(root, cache, **kw):
    return cremad.prepare(root, cache, size=8, max_frames=2, progress=False, log=lambda s: None, **kw)


def _count_steps(monkeypatch, root, cache) -> list[str]:
    steps = []
    monkeypatch.setattr(cremad, "_step", steps.append)
    _prepare(root, cache)
    monkeypatch.setattr(cremad, "_step", lambda name: None)
    return steps


def _kill_at(monkeypatch, k: int) -> None:
    calls = iter(range(10**6))

    def step(name):
        if next(calls) == k:
            raise _Killed(name)
    monkeypatch.setattr(cremad, "_step", step)


def test_prepare_killed_at_every_step_then_rerun_equals_uninterrupted(prep_root, tmp_path, monkeypatch):
    root, reference = prep_root
    monkeypatch.setattr(cremad, "FLUSH_EVERY", 1)  # a commit per clip: more steps to kill
    ref_bytes = _snapshot(reference)
    steps = _count_steps(monkeypatch, root, tmp_path / "count")
    assert {"config removed", "created spec.npy", "config written", "clip decoded", "arrays flushed",
            "status flushed", "error written", "failure recorded", "errors written"} <= set(steps)
    assert _snapshot(tmp_path / "count") == ref_bytes
    for k, name in enumerate(steps):
        cache = tmp_path / f"kill{k}"
        _kill_at(monkeypatch, k)
        with pytest.raises(_Killed):
            _prepare(root, cache)
        with pytest.raises(cremad.CacheError, match="incomplete|no CREMA-D cache"):
            cremad.CremadCache(cache)  # never mistaken for a complete cache
        # a second kill, later in the re-run (any order of kills), then a clean re-run
        _kill_at(monkeypatch, (3 * k + 1) % len(steps))
        try:
            _prepare(root, cache)
        except _Killed:
            pass
        monkeypatch.setattr(cremad, "_step", lambda name: None)
        _prepare(root, cache)
        assert _snapshot(cache) == ref_bytes, f"killed at step {k} ({name})"


def test_prepare_killed_inside_an_atomic_write(prep_root, tmp_path, monkeypatch):
    root, reference = prep_root
    real_replace = os.replace
    for n in range(4):  # config.json, errors.json (as it happens), errors.json (final), manifest.json
        cache = tmp_path / f"w{n}"
        calls = iter(range(100))

        def replace(src, dst, _n=n):
            if next(calls) == _n:  # the temporary file is written and fsynced, the rename never happens;
                shutil.copy(src, str(src)[:-4] + "k.tmp")  # a hard kill would also skip the clean-up: leave a copy
                raise _Killed(dst)
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(_Killed):
            _prepare(root, cache)
        monkeypatch.setattr(os, "replace", real_replace)
        assert any(p.name.endswith(".tmp") for p in cache.iterdir())  # what a kill leaves behind
        _prepare(root, cache)
        assert _snapshot(cache) == _snapshot(reference), f"killed in atomic write {n}"


def test_damaged_cache_arrays_are_rebuilt(prep_root, tmp_path):
    root, reference = prep_root
    cache = tmp_path / "cache"
    _prepare(root, cache)
    (cache / "frames.npy").write_bytes(b"\x93NUMPY garbage")  # e.g. a disk-full write, a manual edit
    with pytest.raises(cremad.CacheError, match="missing or damaged"):
        cremad.CremadCache(cache)
    _prepare(root, cache)
    assert _snapshot(cache) == _snapshot(reference)


def test_failed_clips_are_retried_once_fixed(prep_root, tmp_path):
    root, _ = prep_root
    fixed = tmp_path / "root"
    shutil.copytree(root, fixed)
    first = _prepare(fixed, tmp_path / "cache")
    assert list(first["failed"]) == ["1003_TIE_SAD_LO"]
    assert "1003_TIE_SAD_LO" in json.loads((tmp_path / "cache" / "errors.json").read_text())
    cremad.write_tiny_dataset(tmp_path / "good", ["1003_TIE_SAD_LO"], seconds=1.1)
    shutil.copy(tmp_path / "good" / "VideoFlash" / "1003_TIE_SAD_LO.flv", fixed / "VideoFlash")
    second = _prepare(fixed, tmp_path / "cache")
    assert second["n_ok"] == 3 and second["failed"] == {}
    clean = tmp_path / "clean"
    _prepare(fixed, clean)
    assert _snapshot(tmp_path / "cache") == _snapshot(clean)


# ----------------------------------------------------------------------------------------------------
# 4. Read-only folders and file modes
# ----------------------------------------------------------------------------------------------------


def _run_unprivileged(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` as an ordinary user: root ignores folder permissions."""
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is missing: cannot test read-only folders as root")
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=dict(os.environ, TQDM_DISABLE="1"))


@pytest.fixture
def readonly(tmp_path_factory):
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="mmtheory-ro-"))
    os.chmod(base, 0o755)
    ro = base / "ro"
    ro.mkdir()
    (ro / "keep.txt").write_text("untouched\n")
    os.chmod(ro, 0o555)
    yield ro
    os.chmod(ro, 0o755)
    shutil.rmtree(base)


READONLY = {
    "prepare into a read-only cache folder": (
        "from mmtheory.cli import main; import sys; sys.exit(main(['prepare', 'cremad', '--root', {root!r}, "
        "'--cache', {ro!r}, '--size', '8']))", r"error: the cache folder .* is not writable; choose a writable --cache"),
    "a claim record into a read-only results folder": (
        "from mmtheory._io import atomic_write_json; atomic_write_json({ro!r} + '/quick/claims/x.json', {{'a': 1}})",
        r"PermissionError: cannot (write|create) .*(Choose a writable folder|choose a writable)"),
    "a checkpoint into a read-only run folder": (
        "import torch; from pathlib import Path; from mmtheory.train.late_fusion import _save_checkpoint; "
        "_save_checkpoint(Path({ro!r}), {{'x': torch.zeros(1)}})", r"PermissionError: cannot write .*checkpoint.pt"),
}


@pytest.mark.parametrize("case", list(READONLY))
def test_read_only_folder_is_one_clear_error(prep_root, readonly, case):
    code, message = READONLY[case]
    root = shutil.copytree(prep_root[0], readonly.parent / "root")  # readable by the unprivileged user
    proc = _run_unprivileged(code.format(root=str(root), ro=str(readonly)), ROOT)
    assert proc.returncode != 0
    assert __import__("re").search(message, proc.stderr), proc.stderr
    assert sorted(p.name for p in readonly.iterdir()) == ["keep.txt"]  # nothing half-written


def test_written_files_respect_the_umask(tmp_path):
    from mmtheory._io import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        os.umask(0o002)
        atomic_write_text(tmp_path / "b.txt", "x")
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / "a.txt").st_mode & 0o777) == oct(0o640)
    assert oct(os.stat(tmp_path / "b.txt").st_mode & 0o777) == oct(0o664)  # mkstemp alone would give 0600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_run_written_before_accuracies_were_percent_is_refused_on_resume_and_reuse(trained, tmp_path):
    """A checkpoint or summary.json without acc_unit = 'percent' holds fractions: resuming or tabulating it would
    mix units, so both are refused with one message, and nothing is written."""
    import torch

    from mmtheory.experiments.cremad import results_table

    out = _copy_run(trained, tmp_path)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["acc_unit"] == "percent"
    del state["acc_unit"]
    torch.save(state, out / "checkpoint.pt")
    before = _snapshot(out)
    with pytest.raises(CheckpointError, match="older mmtheory that stored accuracies as fractions"):
        train_cremad(trained / "cache", out, _cfg(epochs=3), **_RUN, resume=True)
    assert _snapshot(out) == before
    summary = json.loads((out / "summary.json").read_text())
    assert summary["acc_unit"] == "percent"
    results_table({"baseline": out})  # marked: read
    del summary["acc_unit"]
    (out / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(CheckpointError, match="Delete that run folder"):
        results_table({"baseline": out})
