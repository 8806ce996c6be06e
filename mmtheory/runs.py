"""Run folders of a grid: run ids, digests, the folder protocol, records and the results table.

Every run is a folder ``out/<run_id>``; ``run_id`` hashes the experiment, the settings (numbers as
floats), the data's fingerprint and :func:`code_digest` (the package's source *and* the dependency
pins), so other settings, data, code or dependencies are a new run, never a silent reuse. The folder
holds ``settings.json`` (written first), ``attempts.jsonl`` (one line per start) and, when the run
finished, ``result.json`` (atomically, last).

The grid's folder ``out`` belongs to one grid: :func:`claim_folder` creates it (or adopts an empty
folder, or one written by an earlier version of this code) and marks it with :data:`GRID_MARK`; a
folder holding anything else, or another grid's mark, is refused, so ``results.csv`` of someone
else is never replaced. :func:`grid_lock` keeps a second process running the same grid out.

Every write goes through :mod:`mmtheory._io`. This module imports only ``_io`` and ``_digest``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd

from mmtheory._digest import file_digest, jsonable, params_digest, source_digest
from mmtheory._io import atomic_write_json, atomic_write_text

SCHEMA = 1
SCALARS = (str, int, float, bool)
RESULTS_CSV = "results.csv"
GRID_MARK = ".mmtheory-grid.json"
LOCK_FILE = ".mmtheory-grid.lock"
#: The tables a grid wrote outside its folder (``--table``): path -> SHA-256 of what was written.
TABLES_RECORD = ".mmtheory-tables.json"
INTERNAL_COLUMNS = ("run_id", "attempts", "seconds")
_RUN_DIR = re.compile(r"^[0-9a-f]{16}$")
#: Distributions whose installed versions are part of :func:`code_digest` (beside constraints.txt).
PINNED = ("numpy", "scipy", "pandas", "torch")


def canonical(v: Any) -> Any:
    """Numbers as floats (``ratio = 1`` and ``ratio = 1.0`` are one run), containers recursively."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, Mapping):
        return {str(k): canonical(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [canonical(x) for x in v]
    return v


_CODE_DIGEST: str | None = None


def _pins() -> dict:
    from importlib import metadata

    pins = {}
    for name in PINNED:
        try:
            pins[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pins[name] = None
    return pins


def code_digest() -> str:
    """Digest (16 hex digits) of the package's source, ``constraints.txt`` and the installed versions of
    :data:`PINNED`: part of every run's id.

    A finished run is reused only by the same code and dependencies: a changed default, a fixed bug
    or a dependency upgrade makes new runs instead of silently reusing results computed otherwise.
    """
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        root = Path(__file__).resolve().parent
        files = [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
        constraints = root.parent / "constraints.txt"
        pins = {"source": source_digest(files, root), "versions": _pins(),
                "constraints": file_digest(constraints) if constraints.is_file() else None}
        _CODE_DIGEST = params_digest(pins)
    return _CODE_DIGEST


def run_id(experiment: str, settings: Mapping[str, Any], data_fingerprint: Any = None) -> str:
    """Hash (16 hex digits of SHA-256) of the experiment, the full settings, the data's fingerprint and
    :func:`code_digest`. Numbers are compared as floats."""
    return params_digest({"schema": SCHEMA, "experiment": experiment, "settings": canonical(dict(settings)),
                          "data": data_fingerprint, "code": code_digest()})


def write_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, jsonable(obj))


def read_json(path: Path) -> Any:
    """A JSON file's content; an unreadable or damaged file is one error naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it was damaged or edited by hand. Move it away "
                         "(its run will run again).") from None


def run_status(folder: Path) -> str:
    """``"finished"`` (``result.json``), ``"unfinished"`` (started, no result) or ``"new"``."""
    if (folder / "result.json").is_file():
        return "finished"
    return "unfinished" if folder.exists() else "new"


def execute_run(fn: Callable, resumable: bool, experiment: str, settings: dict, rid: str, data: Any, root: str,
                threads: int | None = None) -> dict:
    """Run one grid run ``fn(settings, data, work)`` in its folder ``root/rid``; return its record.

    A finished folder is returned as it is. Otherwise the attempt is logged, ``work/`` is emptied
    (kept when ``resumable``), the experiment runs, and ``result.json`` is written atomically.
    """
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    folder = Path(root) / rid
    done = folder / "result.json"
    if done.is_file():
        return read_json(done)
    folder.mkdir(exist_ok=True)
    meta = {"experiment": experiment, "settings": settings, "run_id": rid}
    sfile = folder / "settings.json"
    if sfile.is_file():
        if jsonable(read_json(sfile)) != jsonable(meta):
            raise RuntimeError(f"{sfile} holds other settings than run {rid}: the folder was edited or copied by "
                               "hand. Move it away and run the grid again.")
    else:
        write_json(sfile, meta)
    attempts = folder / "attempts.jsonl"
    n = (len(attempts.read_text().splitlines()) if attempts.exists() else 0) + 1
    with open(attempts, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"attempt": n, "pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.time()}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    work = folder / "work"
    if work.exists() and not resumable:
        shutil.rmtree(work)
    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    result = fn(dict(settings), data, work)
    if not isinstance(result, Mapping):
        raise TypeError(f"experiment {experiment!r} returned {type(result).__name__}; it must return a dict of "
                        "scalars (one row of the results table).")
    record = {**meta, "result": dict(result), "attempts": n, "seconds": time.perf_counter() - t0}
    write_json(done, record)
    return read_json(done)


def read_record(folder: str | os.PathLike) -> dict | None:
    """The ``result.json`` record of a run folder, or ``None`` if unfinished."""
    p = Path(folder) / "result.json"
    return read_json(p) if p.is_file() else None


def _numbers(col: pd.Series) -> pd.Series:
    """A result column holding numbers and ``"nan"``/``"inf"`` strings (:func:`jsonable`) as floats."""
    if col.dtype != object:
        return col
    values = [v for v in col if v is not None]
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) or v in ("nan", "inf", "-inf")
                      for v in values):
        return col.map(lambda v: float(v) if v is not None else float("nan"))
    return col


def records_table(records: Sequence[Mapping]) -> pd.DataFrame:
    """One row per record: ``run_id``, every setting, every result, ``attempts``, ``seconds``."""
    rows = [{"run_id": r["run_id"], **r["settings"], **r["result"], "attempts": r["attempts"],
             "seconds": r["seconds"]} for r in records]
    df = pd.DataFrame(rows)
    results = {k for r in records for k in r["result"]}
    for c in results:
        df[c] = _numbers(df[c])
    return df.astype({c: float for c in df.columns if df[c].dtype == object and df[c].isna().all()})


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the table atomically as CSV, or Parquet when ``path`` ends in ``.parquet`` (needs pyarrow)."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError(f"writing {path} needs pyarrow (pip install pyarrow); or give a .csv path.") from None
        import io

        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        from mmtheory._io import atomic_write_bytes

        return atomic_write_bytes(path, buf.getvalue())
    return atomic_write_text(path, table.to_csv(index=False))


def read_results(out: str | os.PathLike) -> pd.DataFrame:
    """The table of every finished run folder under ``out`` (without re-reading the grid)."""
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: no such run folder.")
    records = [r for r in (read_record(p) for p in sorted(out.iterdir()) if p.is_dir()) if r is not None]
    return records_table(records)


# ------------------------------------------------------------------------------------ the grid's folder


def _looks_like_ours(folder: Path) -> bool:
    """A folder written by an earlier version of the grid runner: run folders and the results table only."""
    entries = list(folder.iterdir())
    runs = [p for p in entries if p.is_dir() and _RUN_DIR.match(p.name) and (p / "settings.json").is_file()]
    rest = [p for p in entries if p not in runs and p.name not in (RESULTS_CSV, LOCK_FILE, TABLES_RECORD)]
    return bool(runs) and not rest


def check_folder(out: Path, identity: Mapping[str, Any]) -> bool:
    """Whether ``out`` may hold the grid ``identity`` (``True``: already marked as its own); else one error.

    Writes nothing. Refused: a file; a folder marked by another grid; a non-empty folder that no grid
    marked (it is not the grid's to fill, and its ``results.csv`` would be replaced).
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"out = {str(out)!r} is a file, not a folder; choose a new folder for the grid's runs.")
    if not out.exists():
        return False
    mark = out / GRID_MARK
    if mark.is_file():
        owner = read_json(mark)
        if owner != jsonable(dict(identity)):
            raise ValueError(f"{out} holds the runs of another grid ({owner}); one grid per folder: choose another "
                             "out (or give this grid the other's name and experiment if it is the same grid).")
        return True
    if not any(out.iterdir()) or _looks_like_ours(out):
        return False
    raise ValueError(f"{out} already holds files that no grid wrote (no {GRID_MARK}); a grid writes only into a "
                     "folder of its own: choose a new or empty folder for out.")


def claim_folder(out: Path, identity: Mapping[str, Any]) -> None:
    """Create ``out`` (or adopt it, see :func:`check_folder`) and mark it as the grid's own."""
    if not check_folder(out, identity):
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / GRID_MARK, dict(identity))


def check_table(path: Path, out: Path) -> None:
    """Refuse to replace ``path`` unless it is absent or the grid of ``out`` wrote it (unchanged since).

    Writes nothing. ``out``'s :data:`TABLES_RECORD` lists the tables the grid wrote with the SHA-256
    of their content; a file not listed there, or changed since, is someone else's.
    """
    if path.is_dir():
        raise ValueError(f"table = {str(path)!r} is a folder; give the .csv or .parquet file to write.")
    if path.suffix not in (".csv", ".parquet"):
        raise ValueError(f"table = {str(path)!r} must end in .csv or .parquet.")
    if not path.exists() or path == out / RESULTS_CSV:
        return
    record = out / TABLES_RECORD
    written = read_json(record) if record.is_file() else {}
    if not isinstance(written, dict) or written.get(str(path)) != file_digest(path):
        raise ValueError(f"table = {str(path)!r} exists and this grid did not write it (or it changed since); "
                         "it is not replaced: remove it yourself or give a new path. Nothing was run or written.")


def note_table(path: Path, out: Path) -> None:
    """Record in ``out`` that the grid wrote ``path`` (see :func:`check_table`)."""
    record = out / TABLES_RECORD
    written = read_json(record) if record.is_file() else {}
    written = written if isinstance(written, dict) else {}
    written[str(path)] = file_digest(path)
    write_json(record, written)


@contextlib.contextmanager
def grid_lock(out: Path, name: str) -> Iterator[None]:
    """Hold ``out``'s lock while the grid runs; a second process running the same grid is refused.

    The lock is an ``flock`` (released by the kernel when the holder dies: a killed grid never leaves
    a stale lock).
    """
    import fcntl

    path = out / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            raise RuntimeError(f"grid {name!r} is already running in {out} ({holder}); wait for it to finish "
                               "(its runs are not started twice), then run again to collect the table.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.ctime()}".encode(), 0)
        yield
    finally:
        os.close(fd)
