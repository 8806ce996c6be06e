"""The package's one JSON normaliser and its hashers (parameters, files, source trees).

Everything that names a record or a run by a hash goes through here, so two places never disagree
about what "the same parameters" or "the same code" means:

* :func:`jsonable` -- a value as plain JSON (numpy scalars as Python numbers, tuples as lists,
  non-finite floats as the strings ``"nan"``, ``"inf"``, ``"-inf"`` so nothing is lost and every
  record is valid JSON);
* :func:`params_digest` -- a short SHA-256 of parameters (key order does not matter);
* :func:`file_digest` -- SHA-256 of a file's bytes;
* :func:`source_digest` -- SHA-256 of the names and bytes of a list of files.

This module imports nothing of mmtheory.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: numpy scalars and arrays as Python values, tuples as lists, non-finite
    floats as ``"nan"``/``"inf"``/``"-inf"``, mapping keys as strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist) and not isinstance(value, (str, bytes)):
        return jsonable(value.tolist())  # numpy scalars and arrays
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def params_digest(params: Any, length: int = 16) -> str:
    """SHA-256 (first ``length`` hex digits) of ``params`` as key-sorted JSON (:func:`jsonable`; other
    objects by ``str``)."""
    text = json.dumps(jsonable(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def source_digest(files: Iterable[str | os.PathLike], base: str | os.PathLike) -> str:
    """SHA-256 (hex) of the names (relative to ``base`` where they lie under it) and bytes of ``files``."""
    base = Path(base)
    h = hashlib.sha256()
    for f in sorted({Path(f) for f in files}):
        name = f.relative_to(base) if f.is_relative_to(base) else f
        h.update(str(name.as_posix() if isinstance(name, Path) else name).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()
