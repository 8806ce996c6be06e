r"""Grids of runs, in process or on a Dask cluster: TOML spec -> runs -> hashed, atomic run folders -> one table.

A grid is a small TOML file (``python -m mmtheory sweep grid.toml --workers 2``; README "Scaling out")::

    experiment = "modality_sweep"        # or "standin" (OGM-GE stand-in), "cremad", "package.module:function"
    out = "runs/my-grid"                 # run folders (relative to this file; --out overrides)

    [data]                               # modality_sweep: npz = "...", iemocap = "...", or iemocap_standin = 0
    npz = "mydata.npz"

    [fixed]                              # settings shared by every run
    epochs = 20

    [axes]                               # crossed: one run per combination
    set = ["text", "text+audio"]
    ratio = [0.1, 1.0]
    seed = [0, 1, 2]

Every run is a folder ``out/<run_id>`` where ``run_id`` is a hash of the experiment, the settings
written in the grid (numbers compared as floats), the data (for the built-in experiments the *content*
of its files, by digest; for a ``module:function`` experiment the ``[data]`` values as written) and
the package's source code (:func:`code_digest`), so a changed setting, changed data or changed code is
a new run and never a silent reuse. A setting left out is the function's default, which the code
digest pins; writing ``seed = 0`` or leaving it out are two different runs with the same result. The folder holds ``settings.json`` (written first), ``attempts.jsonl``
(one line per start: process, host, time) and, when the run finished, ``result.json`` (written
atomically, last). Running the grid again skips finished runs; an unfinished one (a killed worker,
an interrupted grid) restarts cleanly in a fresh ``work/`` folder, or -- ``cremad`` -- resumes its
checkpoint there. The results come back as one tidy DataFrame, one row per run with every setting
as a column, also written to ``out/results.csv`` (and ``.parquet`` on request).

Where runs execute (``scheduler``):

* ``None`` -- in this process, one after another;
* ``"local"`` / ``"local:N"`` -- a ``dask.distributed.LocalCluster`` of N worker processes with one
  thread each (default: one per core), started and closed here;
* ``"tcp://host:8786"`` -- an existing Dask scheduler (``dask scheduler`` + ``dask worker``, or a
  ``dask-jobqueue`` cluster, see ``examples/sweep/slurm.py``);
* a ``distributed.Client`` -- used as it is (not closed).

On Dask the grid's data is scattered once to every worker (not sent with each task), each task
pins torch to one thread, a task whose worker dies is retried on another worker (Dask's
``allowed-failures``, plus ``retries`` for exceptions), and the run-folder protocol above makes the
retry start cleanly, so every run is recorded exactly once.

:func:`map_runs` is the same machinery for any function and list of keyword sets, for chapters whose
grids are loops of function calls: ``map_runs(fn, [dict(seed=0), dict(seed=1)], scheduler=None)``.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import itertools
import json
import math
import os
import shutil
import socket
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from mmtheory._io import atomic_write_text

SCHEMA = 1
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
SCALARS = (str, int, float, bool)
RESULTS_CSV = "results.csv"
INTERNAL_COLUMNS = ("run_id", "attempts", "seconds")


# --------------------------------------------------------------------------------------------- spec


@dataclass
class GridSpec:
    """A grid of runs.

    Attributes
    ----------
    experiment : str
        ``"modality_sweep"``, ``"standin"``, ``"cremad"`` or ``"package.module:function"``.
    fixed : dict of str -> scalar
        Settings shared by every run.
    axes : dict of str -> list of scalars
        Settings crossed into runs (in this order; the last axis varies fastest).
    data : dict
        Where the data comes from (see :func:`load_data`).
    out : str or None
        Folder of the run folders (relative paths are relative to ``base``).
    name : str
    base : pathlib.Path
        Folder that relative paths in the spec refer to (the TOML file's folder).
    """

    experiment: str
    fixed: dict = field(default_factory=dict)
    axes: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    out: str | None = None
    name: str = "grid"
    base: Path = field(default_factory=Path.cwd)

    def resolve(self, path: str | os.PathLike) -> Path:
        """``path`` relative to :attr:`base` (``~`` expanded; absolute paths unchanged)."""
        p = Path(os.path.expanduser(str(path)))
        return p if p.is_absolute() else self.base / p


SPEC_KEYS = ("experiment", "fixed", "axes", "data", "out", "name")


def parse_spec(spec: Mapping[str, Any], base: str | os.PathLike | None = None, where: str = "the grid") -> GridSpec:
    """Validate a grid given as a mapping (a parsed TOML file); one clear message per mistake."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a table of {list(SPEC_KEYS)}; got {type(spec).__name__}.")
    unknown = [k for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; a grid has {list(SPEC_KEYS)} "
                         "(settings go under [fixed] or [axes]).")
    exp = spec.get("experiment")
    if not isinstance(exp, str) or not exp:
        raise ValueError(f"{where}: 'experiment' is missing; set it to one of {sorted(EXPERIMENTS)} or "
                         "'package.module:function'.")
    fixed, axes, data = (spec.get(k, {}) for k in ("fixed", "axes", "data"))
    for key, table in (("fixed", fixed), ("axes", axes), ("data", data)):
        if not isinstance(table, Mapping):
            raise ValueError(f"{where}: [{key}] must be a table; got {table!r}.")
    for k, v in fixed.items():
        if not isinstance(v, SCALARS):
            raise ValueError(f"{where}: fixed setting {k!r} = {v!r} must be a string, number or boolean "
                             "(a modality set is written 'text+audio').")
    for k, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: axis {k!r} must be a non-empty list of values; got {values!r}.")
        bad = [v for v in values if not isinstance(v, SCALARS)]
        if bad:
            raise ValueError(f"{where}: axis {k!r} has values {bad} that are not strings, numbers or booleans "
                             "(a modality set is written 'text+audio').")
        if len({json.dumps(v) for v in values}) != len(values):
            raise ValueError(f"{where}: axis {k!r} repeats a value: {values}.")
    both = sorted(set(fixed) & set(axes))
    if both:
        raise ValueError(f"{where}: {both} appear in both [fixed] and [axes]; keep each setting in one of them.")
    out = spec.get("out")
    if out is not None and not isinstance(out, str):
        raise ValueError(f"{where}: 'out' must be a folder path (string); got {out!r}.")
    g = GridSpec(exp, dict(fixed), dict(axes), dict(data), out, str(spec.get("name", "grid")),
                 Path(base) if base is not None else Path.cwd())
    experiment_function(g.experiment)  # unknown experiment: fail now, not on a worker
    check_settings(g)
    return g


def load_spec(path: str | os.PathLike) -> GridSpec:
    """Read and validate a grid TOML file (relative paths inside refer to its folder)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such grid file; see examples/sweep/*.toml for the format.")
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}.") from None
    return parse_spec(spec, base=path.resolve().parent, where=str(path))


def expand(spec: GridSpec) -> list[dict]:
    """Every run's full settings: ``fixed`` merged with each combination of the axes (last axis fastest)."""
    names = list(spec.axes)
    return [{**spec.fixed, **dict(zip(names, combo))} for combo in itertools.product(*spec.axes.values())]


def _canonical(v: Any) -> Any:
    """Numbers as floats (``ratio = 1`` and ``ratio = 1.0`` are one run), containers recursively."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, Mapping):
        return {str(k): _canonical(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_canonical(x) for x in v]
    return v


_CODE_DIGEST: str | None = None


def code_digest() -> str:
    """SHA-256 (16 hex digits) of the package's source files: part of every run's id.

    A finished run is reused only by the same code: a changed default (say a new initialisation) or a
    fixed bug makes new runs instead of silently reusing results computed by other code.
    """
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        import hashlib

        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        _CODE_DIGEST = h.hexdigest()[:16]
    return _CODE_DIGEST


def run_id(experiment: str, settings: Mapping[str, Any], data_fingerprint: Any = None) -> str:
    """Hash (16 hex digits of SHA-256) of the experiment, the full settings, the data's fingerprint and
    the package's code (:func:`code_digest`). Numbers are compared as floats."""
    import hashlib

    blob = json.dumps({"schema": SCHEMA, "experiment": experiment, "settings": _canonical(dict(settings)),
                       "data": data_fingerprint, "code": code_digest()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------- experiments


def _modality_sweep_keys() -> tuple[set, set]:
    from mmtheory.experiments.modality_sweep import modality_sweep

    params = set(inspect.signature(modality_sweep).parameters)
    passed = params - {"views", "labels", "modality_sets", "ratios", "seeds", "train_mask", "seed", "device"}
    return {"set"}, passed | {"set", "ratio", "seed", "init_seed"}


def _run_modality_sweep(settings: dict, data, work: Path) -> dict:
    """One (set, ratio, seed) run of :func:`~mmtheory.experiments.modality_sweep.modality_sweep`.

    Settings: ``set`` ("text+audio"), ``ratio`` (default 1), ``seed`` (subsample seed, default 0),
    ``init_seed`` (the function's ``seed``, initialisation), and any other keyword of the function.
    """
    from mmtheory.experiments.modality_sweep import modality_sweep

    s = dict(settings)
    mset = tuple(str(s.pop("set")).split("+"))
    ratio, seed, init_seed = float(s.pop("ratio", 1.0)), int(s.pop("seed", 0)), int(s.pop("init_seed", 0))
    df = modality_sweep(data.views, data.labels, [mset], [ratio], [seed], train_mask=data.train_mask,
                        seed=init_seed, **s)
    row = df.iloc[0]
    return {k: row[k] for k in df.columns if k not in ("set", "ratio", "seed")}


def _standin_keys() -> tuple[set, set]:
    from mmtheory.experiments.ogm import run_standin

    params = set(inspect.signature(run_standin).parameters)
    return {"method"}, (params - {"world", "methods", "seeds", "unimodal", "ogm_options"}) | {"method", "seed"}


def _run_standin(settings: dict, data, work: Path) -> dict:
    """One (method, seed) run of :func:`~mmtheory.experiments.ogm.run_standin` (no unimodal runs)."""
    from mmtheory.experiments.ogm import run_standin

    s = dict(settings)
    method, seed = str(s.pop("method")), int(s.pop("seed", 0))
    res = run_standin(data, methods=[method], seeds=[seed], unimodal=False, **s)
    row = res.summary.iloc[0]
    return {k: row[k] for k in res.summary.columns if k not in ("method", "seed")}


CREMAD_KEYS = {"method", "epochs", "lr", "alpha", "seed", "fusion", "width", "batch_size", "split", "modalities",
               "modulation_end", "optimizer", "device", "preload", "head_init"}


def _cremad_keys() -> tuple[set, set]:
    return {"method"}, CREMAD_KEYS


def _run_cremad(settings: dict, data, work: Path) -> dict:
    """One CREMA-D training run (:func:`~mmtheory.experiments.cremad.train_cremad`) in ``work``; resumes its
    checkpoint when the run was interrupted."""
    from mmtheory.experiments.cremad import train_cremad
    from mmtheory.train.late_fusion import TrainConfig

    s = dict(settings)
    cfg = TrainConfig(method=s.pop("method"), epochs=int(s.pop("epochs", 100)), lr=float(s.pop("lr", 1e-3)),
                      alpha=float(s.pop("alpha", 0.8)), seed=int(s.pop("seed", 0)),
                      optimizer=str(s.pop("optimizer", "sgd")), ogm={"end_epoch": int(s.pop("modulation_end", 50))})
    mods = tuple(str(s.pop("modalities", "audio+visual")).split("+"))
    train_cremad(data, work, cfg, modalities=mods, resume=(work / "checkpoint.pt").exists(), **s)
    summary = json.loads((work / "summary.json").read_text())
    return {k: v for k, v in summary.items() if isinstance(v, SCALARS) and k not in settings}


#: name -> (run function, allowed/required keys, resumable: keeps ``work/`` across attempts)
EXPERIMENTS: dict[str, tuple[Callable, Callable, bool]] = {
    "modality_sweep": (_run_modality_sweep, _modality_sweep_keys, False),
    "standin": (_run_standin, _standin_keys, False),
    "cremad": (_run_cremad, _cremad_keys, True),
}


def experiment_function(name: str) -> tuple[Callable, bool]:
    """``(run function, resumable)`` of a built-in experiment or of ``"package.module:function"``.

    A custom function is called as ``fn(settings: dict, data, work: Path) -> dict of scalars`` and
    must be importable on the workers; its ``work`` folder is emptied before each attempt.
    """
    if name in EXPERIMENTS:
        fn, _, resumable = EXPERIMENTS[name]
        return fn, resumable
    if ":" not in name:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)} or give "
                         "'package.module:function'.")
    module, _, attr = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"experiment {name!r} cannot be imported ({exc}); it must be importable on every "
                         "worker.") from None
    return fn, False


def check_settings(spec: GridSpec) -> None:
    """Refuse a setting the experiment does not take, or a missing required one (built-in experiments)."""
    if spec.experiment not in EXPERIMENTS:
        return
    required, allowed = EXPERIMENTS[spec.experiment][1]()
    given = set(spec.fixed) | set(spec.axes)
    unknown = sorted(given - allowed)
    if unknown:
        raise ValueError(f"experiment {spec.experiment!r} takes no setting(s) {unknown}; its settings are "
                         f"{sorted(allowed)}.")
    missing = sorted(required - given)
    if missing:
        raise ValueError(f"experiment {spec.experiment!r} needs setting(s) {missing} in [fixed] or [axes].")


# ---------------------------------------------------------------------------------------------- data


def load_data(spec: GridSpec) -> tuple[Any, Any]:
    """The grid's data and its fingerprint (part of every run's hash).

    ``modality_sweep``: ``[data]`` has one of ``npz = path`` (:func:`mmtheory.data.arrays.load_npz`;
    with ``modalities``, ``test_fraction``, ``split_seed``), ``iemocap = path`` (the IEMOCAP reader;
    ``padding``) or ``iemocap_standin = seed``. ``standin``: optional fields of
    :class:`~mmtheory.data.av_standin.AVStandin`. ``cremad``: ``cache = path``. Files are
    fingerprinted by content (SHA-256), so moving a file keeps its runs and changing it makes new ones.
    """
    d = dict(spec.data)
    if spec.experiment == "modality_sweep":
        from mmtheory.data import arrays

        sources = [k for k in ("npz", "iemocap", "iemocap_standin") if k in d]
        if len(sources) != 1:
            raise ValueError("a modality_sweep grid needs exactly one of npz = 'file.npz', iemocap = 'file.pkl' "
                             f"or iemocap_standin = <seed> under [data]; got {sorted(d) or 'none'}.")
        src = sources[0]
        if src == "npz":
            _only(d, {"npz", "modalities", "test_fraction", "split_seed"})
            path = spec.resolve(d["npz"])
            data = arrays.load_npz(path, d.get("modalities"), test_fraction=float(d.get("test_fraction", 0.2)),
                                   split_seed=int(d.get("split_seed", 0)))
            fp = {"npz": arrays.file_digest(path), **{k: v for k, v in d.items() if k != "npz"}}
            return data, fp
        from mmtheory.data import iemocap

        if src == "iemocap":
            _only(d, {"iemocap", "padding"})
            path = spec.resolve(d["iemocap"])
            ds = iemocap.load(path, padding=str(d.get("padding", "utterances")))
            fp = {"iemocap": arrays.file_digest(path), "padding": d.get("padding", "utterances")}
        else:
            _only(d, {"iemocap_standin"})
            ds = iemocap.standin(int(d["iemocap_standin"]))
            fp = {"iemocap_standin": int(d["iemocap_standin"])}
        return arrays.ArrayViews(dict(ds.views), np.asarray(ds.labels), np.asarray(ds.split) == "train",
                                 ds.source), fp
    if spec.experiment == "standin":
        from mmtheory.data.av_standin import AVStandin

        try:
            world = AVStandin(**d)
        except TypeError as exc:
            raise ValueError(f"[data] of a standin grid takes AVStandin fields only ({exc}).") from None
        return world, {"standin": {k: getattr(world, k) for k in world.__dataclass_fields__}}
    if spec.experiment == "cremad":
        _only(d, {"cache"})
        if "cache" not in d:
            raise ValueError("a cremad grid needs cache = '/path/to/cremad-cache' under [data] "
                             "(made by `python -m mmtheory prepare cremad`).")
        from mmtheory.data.arrays import file_digest
        from mmtheory.data.cremad import CremadCache

        cache = CremadCache(spec.resolve(d["cache"]))
        return str(cache.path), {"cremad_manifest": file_digest(cache.path / "manifest.json")}
    return (dict(d), dict(d)) if d else (None, None)


def _only(d: Mapping, allowed: set) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise ValueError(f"[data] has unknown key(s) {extra}; allowed here: {sorted(allowed)}.")


# ------------------------------------------------------------------------------------------ run folders


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


def run_status(folder: Path) -> str:
    """``"finished"`` (``result.json``), ``"unfinished"`` (started, no result) or ``"new"``."""
    if (folder / "result.json").is_file():
        return "finished"
    return "unfinished" if folder.exists() else "new"


def execute_run(experiment: str, settings: dict, rid: str, data: Any, root: str, threads: int | None = None) -> dict:
    """Run one grid run in its folder ``root/rid`` (the task a worker executes); return its record.

    A finished folder is returned as it is. Otherwise the attempt is logged, ``work/`` is emptied
    (kept for a resumable experiment), the experiment runs, and ``result.json`` is written atomically.
    """
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    folder = Path(root) / rid
    done = folder / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"experiment": experiment, "settings": settings, "run_id": rid}
    sfile = folder / "settings.json"
    if sfile.is_file():
        old = json.loads(sfile.read_text())
        if _jsonable(old) != _jsonable(meta):
            raise RuntimeError(f"{sfile} holds other settings than run {rid}: the folder was edited or copied by "
                               "hand. Move it away and run the grid again.")
    else:
        _write_json(sfile, meta)
    attempts = folder / "attempts.jsonl"
    n = (len(attempts.read_text().splitlines()) if attempts.exists() else 0) + 1
    with open(attempts, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"attempt": n, "pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.time()}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    fn, resumable = experiment_function(experiment)
    work = folder / "work"
    if work.exists() and not resumable:
        shutil.rmtree(work)
    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    result = fn(dict(settings), data, work)
    if not isinstance(result, Mapping):
        raise TypeError(f"experiment {experiment!r} returned {type(result).__name__}; it must return a dict of "
                        "scalars (one row of the results table).")
    record = {**meta, "result": _jsonable(dict(result)), "attempts": n, "seconds": time.perf_counter() - t0}
    _write_json(done, record)
    return json.loads(done.read_text())


def read_record(folder: str | os.PathLike) -> dict | None:
    """The ``result.json`` record of a run folder, or ``None`` if unfinished."""
    p = Path(folder) / "result.json"
    return json.loads(p.read_text()) if p.is_file() else None


def records_table(records: Sequence[Mapping]) -> pd.DataFrame:
    """One row per record: ``run_id``, every setting, every result, ``attempts``, ``seconds``."""
    rows = [{"run_id": r["run_id"], **r["settings"], **r["result"], "attempts": r["attempts"],
             "seconds": r["seconds"]} for r in records]
    df = pd.DataFrame(rows)
    return df.astype({c: float for c in df.columns if df[c].dtype == object and df[c].isna().all()})


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the table atomically as CSV, or Parquet when ``path`` ends in ``.parquet`` (needs pyarrow)."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError(f"writing {path} needs pyarrow (pip install pyarrow); or give a .csv path.") from None
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path
    return atomic_write_text(path, table.to_csv(index=False))


# --------------------------------------------------------------------------------------------- Dask


def _local_cluster(n: int | None, log: Callable[[str], None]):
    from distributed import Client, LocalCluster

    n = n or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           env={**{v: "1" for v in THREAD_VARS}, "TQDM_DISABLE": "1",
                                # the statistical profiler samples every task thread every 10 ms
                                "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"})
    return Client(cluster), cluster


@contextlib.contextmanager
def connect(scheduler: Any = None, workers: int | None = None, log: Callable[[str], None] | None = print) -> Iterator:
    """A ``distributed.Client`` for ``scheduler`` (module docstring), or ``None`` to run in process.

    Prints the dashboard address (through ``log``) when a client is made here.
    """
    if scheduler is None or scheduler in ("inprocess", "none", ""):
        if workers not in (None, 0, 1):
            raise ValueError(f"workers={workers} needs a Dask scheduler; pass scheduler='local' (or 'local:N').")
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("scheduler needs dask.distributed (pip install dask distributed).") from None
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise ValueError(f"scheduler must be None, 'local', 'local:N', an address such as 'tcp://host:8786', or a "
                         f"distributed.Client; got {scheduler!r}.")
    cluster = None
    if scheduler == "local" or scheduler.startswith("local:"):
        n = workers
        if scheduler.startswith("local:"):
            try:
                n = int(scheduler.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"scheduler {scheduler!r}: write 'local:N' with N the number of workers.") from None
        if n is not None and n < 1:
            raise ValueError(f"the number of workers must be >= 1; got {n}.")
        client, cluster = _local_cluster(n, log)
    else:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one with "
                             "`dask scheduler` and workers with `dask worker ADDRESS`.") from None
    try:
        if log is not None:
            n = len(client.scheduler_info().get("workers", {}))
            log(f"Dask: {n} worker(s), dashboard {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``n`` inside the block (``None``: unchanged), then restored."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _progress(total: int, desc: str, progress: bool | None):
    from mmtheory._progress import tqdm

    from mmtheory.train.batched import progress_disabled

    disable = progress_disabled() if progress is None else not progress
    return tqdm(total=total, desc=desc, disable=disable)


def _call(fn: Callable, kwargs: dict, shared: dict, threads: int | None):
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return fn(**shared, **kwargs)


def map_runs(fn: Callable, kwargs_list: Sequence[Mapping[str, Any]], scheduler: Any = None, *,
             shared: Mapping[str, Any] | None = None, workers: int | None = None, retries: int = 2,
             threads: int | None = 1, progress: bool | None = None, desc: str = "runs",
             log: Callable[[str], None] | None = print) -> list:
    """``[fn(**shared, **kw) for kw in kwargs_list]``, in process or on Dask; results in input order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers).
    kwargs_list : sequence of dict
        One keyword set per call.
    scheduler : None, "local", "local:N", address or distributed.Client
        Where the calls run (module docstring); ``None``: here, one after another.
    shared : dict, optional
        Keyword arguments common to every call (data): scattered once to every worker.
    workers : int, optional
        Worker count for ``scheduler="local"``.
    retries : int
        Extra attempts of a call that raised (a worker's death is retried by Dask itself).
    threads : int or None
        Torch threads of each call (default 1, in process as on a worker, so results do not depend on
        the scheduler); ``None`` leaves them alone in process.
    progress : bool, optional
        Progress bar (default: on unless ``TQDM_DISABLE``).

    Returns
    -------
    list
        ``fn``'s return values, in the order of ``kwargs_list``.
    """
    kwargs_list = [dict(k) for k in kwargs_list]
    shared = dict(shared or {})
    clash = sorted({k for kw in kwargs_list for k in kw} & set(shared))
    if clash:
        raise ValueError(f"keyword(s) {clash} are given both in shared and per call; keep each in one place.")
    with connect(scheduler, workers, log) as client:
        bar = _progress(len(kwargs_list), desc, progress)
        try:
            if client is None:
                out = []
                with _torch_threads(threads):
                    for kw in kwargs_list:
                        out.append(fn(**shared, **kw))
                        bar.update()
                return out
            from distributed import as_completed

            shared_f = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
            futures = [client.submit(_call, fn, kw, shared_f, threads or 1, pure=False, retries=retries)
                       for kw in kwargs_list]
            index = {f.key: i for i, f in enumerate(futures)}
            out = [None] * len(futures)
            for f in as_completed(futures):
                out[index[f.key]] = f.result()
                bar.update()
            return out
        finally:
            bar.close()


def run_grid(spec: GridSpec | str | os.PathLike | Mapping, out: str | os.PathLike | None = None,
             scheduler: Any = None, *, workers: int | None = None, retries: int = 2, threads: int | None = 1,
             progress: bool | None = None, table: str | os.PathLike | None = None,
             log: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Run every run of a grid that has not finished; return the whole grid's results table.

    Parameters
    ----------
    spec : GridSpec, path of a TOML file, or mapping
    out : path, optional
        Folder of the run folders (default: the spec's ``out``).
    scheduler : None, "local", "local:N", address or distributed.Client
        Where the runs execute (module docstring).
    workers : int, optional
        Worker count for ``scheduler="local"``.
    retries : int
        Extra attempts of a run that raised an exception.
    threads : int or None
        Torch threads of each run (default 1, in process as on a worker, so the table does not depend
        on the scheduler); ``None`` leaves them alone in process.
    table : path, optional
        Also write the table there (``.csv`` or ``.parquet``); ``out/results.csv`` is always written.

    Returns
    -------
    DataFrame
        One row per run, in grid order: ``run_id``, every setting, every result, ``attempts`` and
        ``seconds`` (of the attempt that finished).

    Raises
    ------
    RuntimeError
        If some runs failed (the others are kept on disk; running again retries only the failed ones).
    """
    if isinstance(spec, (str, os.PathLike)):
        spec = load_spec(spec)
    elif isinstance(spec, Mapping):
        spec = parse_spec(spec)
    out = Path(out) if out is not None else (spec.resolve(spec.out) if spec.out else None)
    if out is None:
        raise ValueError("no output folder: set out = '...' in the grid or pass out= (--out).")
    out.mkdir(parents=True, exist_ok=True)
    data, fingerprint = load_data(spec)
    runs = [(run_id(spec.experiment, s, fingerprint), s) for s in expand(spec)]
    pending = [(rid, s) for rid, s in runs if run_status(out / rid) != "finished"]
    if log is not None:
        unfinished = sum(run_status(out / rid) == "unfinished" for rid, _ in pending)
        log(f"grid {spec.name!r}: {len(runs)} runs, {len(runs) - len(pending)} finished, {unfinished} to resume, "
            f"{len(pending) - unfinished} new; folders in {out}")
    errors: dict[str, BaseException] = {}
    if pending:
        with connect(scheduler, workers, log) as client:
            bar = _progress(len(pending), spec.name, progress)
            try:
                if client is None:
                    with _torch_threads(threads):
                        for rid, s in pending:
                            try:
                                execute_run(spec.experiment, s, rid, data, str(out))
                            except Exception as exc:  # keep going; reported below
                                errors[rid] = exc
                            bar.update()
                else:
                    from distributed import as_completed

                    data_f = client.scatter(data, broadcast=True) if data is not None else None
                    futures = [client.submit(execute_run, spec.experiment, s, rid, data_f, str(out), threads or 1,
                                             key=f"run-{spec.name}-{rid}", pure=False, retries=retries)
                               for rid, s in pending]
                    for f in as_completed(futures):
                        if f.status == "error":
                            errors[f.key.rsplit("-", 1)[1]] = f.exception()
                        bar.update()
            finally:
                bar.close()
    records = [r for r in (read_record(out / rid) for rid, _ in runs) if r is not None]
    result = records_table(records)
    write_table(result, out / RESULTS_CSV)
    if table is not None:
        write_table(result, table)
    if errors:
        first = next(iter(errors.items()))
        raise RuntimeError(f"{len(errors)} of {len(runs)} runs failed (first: run {first[0]}: "
                           f"{type(first[1]).__name__}: {first[1]}); the {len(records)} finished runs are kept "
                           f"in {out}. Fix the cause and run the grid again: only unfinished runs run.")
    return result


def read_results(out: str | os.PathLike) -> pd.DataFrame:
    """The table of every finished run folder under ``out`` (without re-reading the grid)."""
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: no such run folder.")
    records = [r for r in (read_record(p) for p in sorted(out.iterdir()) if p.is_dir()) if r is not None]
    return records_table(records)
