"""Hostile and careless input (issue 11): every case gives one clear error and leaves nothing half-written.

Each table row is one bad input or fault. Crafted pickles are loaded in a subprocess, so a regression
that corrupts memory shows up as a failed test (exit by signal), not as a crashed pytest.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

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


def test_crafted_pickle_through_load_is_one_clear_error(tmp_path):
    from mmtheory.data import iemocap

    path = tmp_path / "IEMOCAP_features_raw.pkl"
    path.write_bytes(pickle.dumps((CRAFTED["object dtype, flags cleared, bytes read as pointers"][0],) * 9, protocol=2))
    with pytest.raises(iemocap.UnsafePickleError, match="refusing to unpickle the numpy dtype 'O8'"):
        iemocap.load(path)
