r"""Grids of runs from a TOML file: the spec, its checks, the experiment registry and :func:`run_grid`.

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

**A grid file names code that will be imported and run**, as a Makefile does: a ``module:function``
experiment is imported (and called) on this machine and on every worker. Run only grids you trust.
Modules of the standard library and builtins are refused (``allow_stdlib=True`` to override).

Everything is checked before anything is written or run (:func:`parse_spec`, :func:`check_grid`):
the keys, each setting's type *without coercion* and range (declared once in
:mod:`mmtheory.params`), values repeated after normalisation (``1`` and ``1.0``), the number of runs
(at most ``max_runs``), the modality names against the data, the data's size (before it is loaded),
the scheduler, ``workers >= 1`` and ``retries >= 0``. Then the runs go to hashed folders
(:mod:`mmtheory.runs`) inside a folder the grid owns, one grid per folder, under a lock, and are
dispatched in process or on Dask (:mod:`mmtheory.parallel`).

A ``module:function`` run's id covers the module's source file and the content of every file its
``[data]`` names, so changed code or data is a new run. A setting left out is the function's default,
which the code digest pins; writing ``seed = 0`` or leaving it out are two different runs with the
same result.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import itertools
import json
import math
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from mmtheory import params as P
from mmtheory._digest import file_digest
from mmtheory.parallel import (  # noqa: F401  (re-exported: the grid runner's public names)
    THREAD_VARS,
    check_scheduler,
    connect,
    dispatch,
    map_runs,
    progress_bar,
    torch_threads,
    wait_for_workers,
)
from mmtheory.runs import (  # noqa: F401
    INTERNAL_COLUMNS,
    RESULTS_CSV,
    SCALARS,
    SCHEMA,
    canonical,
    claim_folder,
    check_folder,
    check_table,
    code_digest,
    execute_run,
    grid_lock,
    note_table,
    read_record,
    read_results,
    records_table,
    run_id,
    run_status,
    write_table,
)

#: Most runs a grid may have unless ``max_runs`` (``--max-runs``) says otherwise.
MAX_RUNS = 10_000
#: Largest data (bytes, uncompressed) a grid loads unless ``max_data_bytes`` says otherwise.
MAX_DATA_BYTES = 8 << 30
SPEC_KEYS = ("experiment", "fixed", "axes", "data", "out", "name")


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
    source : pathlib.Path or None
        The TOML file, when the grid was read from one.
    """

    experiment: str
    fixed: dict = field(default_factory=dict)
    axes: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    out: str | None = None
    name: str = "grid"
    base: Path = field(default_factory=Path.cwd)
    source: Path | None = None

    def resolve(self, path: str | os.PathLike) -> Path:
        """``path`` relative to :attr:`base` (``~`` expanded; absolute paths unchanged)."""
        p = Path(os.path.expanduser(str(path)))
        return p if p.is_absolute() else self.base / p

    @property
    def n_runs(self) -> int:
        """The number of runs (the product of the axes' lengths), without expanding them."""
        return math.prod(len(v) for v in self.axes.values())

    @property
    def identity(self) -> dict:
        """What marks the grid's folder as its own (:func:`mmtheory.runs.claim_folder`)."""
        return {"grid": self.name, "experiment": self.experiment}


def _scalar_words(where: str, what: str, v: Any) -> ValueError:
    return ValueError(f"{where}: {what} = {v!r} must be a string, number or boolean (a modality set is written "
                      "'text+audio').")


def parse_spec(spec: Mapping[str, Any], base: str | os.PathLike | None = None, where: str = "the grid", *,
               allow_stdlib: bool = False, source: Path | None = None) -> GridSpec:
    """Validate a grid given as a mapping (a parsed TOML file); one clear message per mistake.

    Nothing is imported but a custom experiment's module (after it is found not to be in the standard
    library), nothing is written.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a table of {list(SPEC_KEYS)}; got {type(spec).__name__}.")
    unknown = [k for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; a grid has {list(SPEC_KEYS)} "
                         "(settings go under [fixed] or [axes]).")
    if "experiment" not in spec:
        raise ValueError(f"{where}: 'experiment' is missing; set it to one of {sorted(EXPERIMENTS)} or "
                         "'package.module:function'.")
    exp = spec["experiment"]
    if not isinstance(exp, str) or not exp:
        raise ValueError(f"{where}: experiment must be one of {sorted(EXPERIMENTS)} or 'package.module:function' "
                         f"(a string); got {exp!r}.")
    fixed, axes, data = (spec.get(k, {}) for k in ("fixed", "axes", "data"))
    for key, table in (("fixed", fixed), ("axes", axes), ("data", data)):
        if not isinstance(table, Mapping):
            raise ValueError(f"{where}: [{key}] must be a table; got {table!r}.")
    for k, v in fixed.items():
        if not isinstance(v, SCALARS):
            raise _scalar_words(where, f"fixed setting {k!r}", v)
    for k, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: axis {k!r} must be a non-empty list of values; got {values!r}.")
        bad = [v for v in values if not isinstance(v, SCALARS)]
        if bad:
            raise ValueError(f"{where}: axis {k!r} has values {bad} that are not strings, numbers or booleans "
                             "(a modality set is written 'text+audio').")
    both = sorted(set(fixed) & set(axes))
    if both:
        raise ValueError(f"{where}: {both} appear in both [fixed] and [axes]; keep each setting in one of them.")
    out = spec.get("out")
    if out is not None and (not isinstance(out, str) or not out.strip()):
        raise ValueError(f"{where}: out must be a folder path (a non-empty string); got {out!r}.")
    name = spec.get("name", source.stem if source is not None else "grid")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"{where}: name must be a non-empty string of letters, digits, '-', '_' or '.'; "
                         f"got {name!r}.")
    experiment_function(exp, allow_stdlib=allow_stdlib)  # unknown experiment: fail now, not on a worker
    fixed, axes = _typed(exp, dict(fixed), dict(axes), where)
    return GridSpec(exp, fixed, axes, dict(data), out, name, Path(base) if base is not None else Path.cwd(), source)


def _typed(experiment: str, fixed: dict, axes: dict, where: str) -> tuple[dict, dict]:
    """Every setting checked (built-in experiments: against :mod:`mmtheory.params`); no value twice on an axis."""
    table = EXPERIMENTS[experiment][1] if experiment in EXPERIMENTS else None
    if table is not None:
        required = EXPERIMENTS[experiment][2]
        given = set(fixed) | set(axes)
        unknown = sorted(given - set(table))
        if unknown:
            raise ValueError(f"{where}: experiment {experiment!r} takes no setting(s) {unknown}; its settings are "
                             f"{sorted(table)}.")
        missing = sorted(required - given)
        if missing:
            raise ValueError(f"{where}: experiment {experiment!r} needs setting(s) {missing} in [fixed] or [axes].")
        fixed = {k: P.check(table[k], v, where) for k, v in fixed.items()}
        axes = {k: [P.check(table[k], v, f"{where}: axis {k!r}") for v in values] for k, values in axes.items()}
    for k, values in axes.items():
        seen: dict[str, Any] = {}
        for v in values:
            key = json.dumps(canonical(v))
            if key in seen:
                raise ValueError(f"{where}: axis {k!r} repeats a value ({seen[key]!r} and {v!r} are one run): "
                                 f"{values}.")
            seen[key] = v
    return fixed, axes


def load_spec(path: str | os.PathLike, *, allow_stdlib: bool = False) -> GridSpec:
    """Read and validate a grid TOML file (relative paths inside refer to its folder)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such grid file; see examples/sweep/*.toml for the format.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the grid file {path} ({getattr(exc, 'strerror', None) or exc}).") from None
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}.") from None
    return parse_spec(spec, base=path.resolve().parent, where=str(path), allow_stdlib=allow_stdlib,
                      source=path.resolve())


def expand(spec: GridSpec) -> list[dict]:
    """Every run's full settings: ``fixed`` merged with each combination of the axes (last axis fastest)."""
    names = list(spec.axes)
    return [{**spec.fixed, **dict(zip(names, combo))} for combo in itertools.product(*spec.axes.values())]


# ---------------------------------------------------------------------------------------- experiments


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


def _run_standin(settings: dict, data, work: Path) -> dict:
    """One (method, seed) run of :func:`~mmtheory.experiments.ogm.run_standin` (no unimodal runs)."""
    from mmtheory.experiments.ogm import run_standin

    s = dict(settings)
    method, seed = str(s.pop("method")), int(s.pop("seed", 0))
    res = run_standin(data, methods=[method], seeds=[seed], unimodal=False, **s)
    row = res.summary.iloc[0]
    return {k: row[k] for k in res.summary.columns if k not in ("method", "seed")}


def _run_cremad(settings: dict, data, work: Path) -> dict:
    """One CREMA-D training run (:func:`~mmtheory.experiments.cremad.train_cremad`) in ``work``; resumes its
    checkpoint when the run was interrupted. Defaults: :data:`mmtheory.params.CREMAD`."""
    from mmtheory.experiments.cremad import config_from_settings, train_cremad

    cfg, kwargs = config_from_settings(settings)
    train_cremad(data, work, cfg, resume=(work / "checkpoint.pt").exists(), **kwargs)
    summary = json.loads((work / "summary.json").read_text())
    return {k: v for k, v in summary.items() if isinstance(v, SCALARS) and k not in settings}


#: name -> (run function, its settings (mmtheory.params), required settings, resumable: keeps ``work/``)
EXPERIMENTS: dict[str, tuple[Callable, dict, set, bool]] = {
    "modality_sweep": (_run_modality_sweep, P.MODALITY_SWEEP, {"set"}, False),
    "standin": (_run_standin, P.STANDIN, {"method"}, False),
    "cremad": (_run_cremad, P.CREMAD, {"method"}, True),
}


def _is_stdlib(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "builtins"


def experiment_function(name: str, *, allow_stdlib: bool = False) -> tuple[Callable, bool]:
    """``(run function, resumable)`` of a built-in experiment or of ``"package.module:function"``.

    A custom function is called as ``fn(settings: dict, data, work: Path) -> dict of scalars`` and
    must be importable on the workers; its ``work`` folder is emptied before each attempt. Its module
    is imported here (a grid file names code that runs); standard-library and builtin modules are
    refused before any import unless ``allow_stdlib``.
    """
    if name in EXPERIMENTS:
        fn, _, _, resumable = EXPERIMENTS[name]
        return fn, resumable
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr.isidentifier() or not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)} or give "
                         "'package.module:function'.")
    if _is_stdlib(module) and not allow_stdlib:
        raise ValueError(f"experiment {name!r} names a module of Python's standard library or builtins; a grid's "
                         "experiment must be your own function (allow_stdlib=True / --allow-stdlib to override).")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"experiment {name!r} cannot be imported ({exc}); it must be importable on every "
                         "worker.") from None
    if not callable(fn):
        raise ValueError(f"experiment {name!r} is not a function; give 'package.module:function'.")
    return fn, False


def _spec_file(name: str) -> Path | None:
    """The source file of module ``name`` (``None``: none, or it cannot be found)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None
    origin = getattr(spec, "origin", None)
    return Path(origin).resolve() if origin and origin.endswith(".py") and os.path.isfile(origin) else None


def _imported_names(path: Path, module: str) -> set[str]:
    """Every module name ``path`` (the source of ``module``) imports, statically, relative imports resolved."""
    import ast

    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError):
        return set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        elif isinstance(node, ast.ImportFrom):
            try:
                base = (importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                        if node.level else (node.module or ""))
            except (ImportError, ValueError):
                continue
            if base:
                parts = base.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                names.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return names


def experiment_sources(name: str) -> dict[str, Path]:
    """The source files of a custom experiment ``"module:function"``: its module and every module it
    imports, transitively, from its own folder (a single-file module) or package (module -> file).

    Imports are read from the source (``import x``, ``from . import y``, ``from x.y import z``), so the
    set does not depend on what else the process imported; modules of other folders (installed
    packages, the standard library) are covered by :func:`mmtheory.runs.code_digest` and the pins.
    """
    module = name.partition(":")[0]
    top = module.split(".", 1)[0]
    own = _spec_file(module)
    if own is None:
        return {}
    top_file = _spec_file(top)
    if top_file is not None and top_file.name == "__init__.py":
        root = top_file.parent  # the experiment's package
    elif top_file is None and "." in module:  # a namespace package: the folder of its top package
        root = own.parents[module.count(".") - 1]
    else:
        root = own.parent
    if root.name in ("site-packages", "dist-packages") or root == Path(sys.prefix).resolve():
        return {module: own}  # a single installed module: its neighbours are other packages
    found: dict[str, Path] = {}
    todo = [(module, own)]
    while todo:
        mod, path = todo.pop()
        if mod in found:
            continue
        found[mod] = path
        for sub in sorted(_imported_names(path, mod) - set(found)):
            if _is_stdlib(sub):
                continue
            f = _spec_file(sub)
            if f is not None and f.is_relative_to(root):
                todo.append((sub, f))
    return found


def _module_digest(name: str) -> str | None:
    """SHA-256 of a custom experiment's source (``None`` if it has none): its module file alone, or,
    when it imports modules of its own folder or package, of all those files (:func:`experiment_sources`)."""
    files = experiment_sources(name)
    if not files:
        return None
    if len(files) == 1:
        return file_digest(next(iter(files.values())))
    h = hashlib.sha256()
    for mod in sorted(files):
        h.update(f"{mod}\0{file_digest(files[mod])}\0".encode())
    return h.hexdigest()


def _strings(v: Any) -> Iterator[str]:
    """Every string in a setting's value, at any depth (lists, tables)."""
    if isinstance(v, str):
        yield v
    elif isinstance(v, Mapping):
        for x in v.values():
            yield from _strings(x)
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _strings(x)


def _setting_files(spec: GridSpec, max_data_bytes: int) -> dict[str, str]:
    """Content digests of the files that a custom experiment's settings name: ``[fixed]`` and ``[axes]``
    strings, at any depth, that are existing files once resolved against the grid's folder."""
    if spec.experiment in EXPERIMENTS:
        return {}
    files = {}
    for v in sorted(set(_strings(dict(spec.fixed))) | set(_strings(dict(spec.axes)))):
        if not v or "\0" in v:
            continue
        path = spec.resolve(v)
        if path.is_file():
            _check_size(path, path.stat().st_size, max_data_bytes)
            files[v] = file_digest(path)
    return files


def _run_fingerprint(settings: Mapping, fingerprint: Any, files: Mapping[str, str]) -> Any:
    """The grid's data fingerprint plus the digests of the files this run's settings name (if any)."""
    named = {v: files[v] for v in _strings(dict(settings)) if v in files}
    return {**fingerprint, "setting_files": named} if named and isinstance(fingerprint, dict) else fingerprint


# ---------------------------------------------------------------------------------------------- data


def _npz_bytes(path: Path) -> int:
    """Uncompressed size of an ``.npz``'s arrays, from their headers (nothing loaded)."""
    from mmtheory.data.arrays import npz_nbytes

    return npz_nbytes(path)


def _check_size(path: Path, nbytes: int, budget: int) -> None:
    if nbytes > budget:
        raise ValueError(f"{path} holds {nbytes / 2**30:.2f} GiB of arrays, more than the grid's data budget of "
                         f"{budget / 2**30:.2f} GiB; raise max_data_bytes (--max-data-gb) if this is intended.")


def load_data(spec: GridSpec, max_data_bytes: int = MAX_DATA_BYTES) -> tuple[Any, Any]:
    """The grid's data and its fingerprint (part of every run's hash); nothing is written.

    ``modality_sweep``: ``[data]`` has one of ``npz = path`` (:func:`mmtheory.data.arrays.load_npz`;
    with ``modalities``, ``test_fraction``, ``split_seed``), ``iemocap = path`` (the IEMOCAP reader;
    ``padding``) or ``iemocap_standin = seed``. ``standin``: optional fields of
    :class:`~mmtheory.data.av_standin.AVStandin`. ``cremad``: ``cache = path``. A ``module:function``:
    the ``[data]`` values as written, and the content of every file they name (plus the source of the
    module and of the modules it imports from its own folder or package, :func:`experiment_sources`;
    files named by ``[fixed]``/``[axes]`` settings join each run's id in :func:`run_grid`). Files are fingerprinted by content (SHA-256), so moving a file keeps its runs and
    changing it makes new ones; a file larger than ``max_data_bytes`` is refused before it is read.
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
            _typed_data(d, {"npz": str, "test_fraction": float, "split_seed": int})
            mods = d.get("modalities")
            if mods is not None and (not isinstance(mods, list) or not all(isinstance(m, str) for m in mods)):
                raise ValueError(f"[data] modalities must be a list of array names; got {mods!r}.")
            path = spec.resolve(d["npz"])
            data = arrays.load_npz(path, mods, test_fraction=float(d.get("test_fraction", 0.2)),
                                   split_seed=int(d.get("split_seed", 0)), max_bytes=max_data_bytes)
            fp = {"npz": file_digest(path), **{k: v for k, v in d.items() if k != "npz"}}
            return data, fp
        from mmtheory.data import iemocap

        if src == "iemocap":
            _only(d, {"iemocap", "padding"})
            _typed_data(d, {"iemocap": str, "padding": str})
            path = spec.resolve(d["iemocap"])
            if path.is_file():
                _check_size(path, path.stat().st_size, max_data_bytes)
            ds = iemocap.load(path, padding=str(d.get("padding", "utterances")))
            fp = {"iemocap": file_digest(path), "padding": d.get("padding", "utterances")}
        else:
            _only(d, {"iemocap_standin"})
            _typed_data(d, {"iemocap_standin": int})
            ds = iemocap.standin(int(d["iemocap_standin"]))
            fp = {"iemocap_standin": int(d["iemocap_standin"])}
        return arrays.ArrayViews(dict(ds.views), np.asarray(ds.labels), np.asarray(ds.split) == "train",
                                 ds.source), fp
    if spec.experiment == "standin":
        from mmtheory.data.av_standin import AVStandin

        for k, v in d.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"[data] {k} of a standin grid must be a finite number; got {v!r}.")
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
        _typed_data(d, {"cache": str})
        from mmtheory.data.cremad import CremadCache

        cache = CremadCache(spec.resolve(d["cache"]))
        return str(cache.path), {"cremad_manifest": file_digest(cache.path / "manifest.json")}
    files = {}
    for k, v in d.items():
        if isinstance(v, str) and v and spec.resolve(v).is_file():
            path = spec.resolve(v)
            _check_size(path, path.stat().st_size, max_data_bytes)
            files[k] = file_digest(path)
    fp = {"data": dict(d), "files": files, "module": _module_digest(spec.experiment)}
    return (dict(d) if d else None), fp


def _only(d: Mapping, allowed: set) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise ValueError(f"[data] has unknown key(s) {extra}; allowed here: {sorted(allowed)}.")


def _typed_data(d: Mapping, kinds: Mapping[str, type]) -> None:
    for k, kind in kinds.items():
        if k in d:
            P.check(P.Param(k, kind), d[k], "[data]")


def check_grid(spec: GridSpec, data: Any, max_runs: int | None = MAX_RUNS) -> None:
    """Checks that need the data or the whole grid: the run count, modality names against the data."""
    if max_runs is not None and spec.n_runs > max_runs:
        raise ValueError(f"grid {spec.name!r} has {spec.n_runs:,} runs, more than max_runs={max_runs:,}; shrink "
                         "its axes, or raise max_runs (--max-runs N) if you mean it.")
    if spec.experiment == "modality_sweep" and data is not None:
        names = list(data.views)
        for s in ([spec.fixed["set"]] if "set" in spec.fixed else spec.axes.get("set", [])):
            parts = s.split("+")
            unknown = [m for m in parts if m not in names]
            if unknown or len(set(parts)) != len(parts):
                raise ValueError(f"set {s!r} names {'unknown modalities ' + str(unknown) if unknown else 'a modality twice'}; "
                                 f"the data's modalities are {names} (join them with '+').")


# ---------------------------------------------------------------------------------------------- runs


def _count(name: str, value: int | None, low: int) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return value


def _out_folder(spec: GridSpec, out: str | os.PathLike | None, out_anywhere: bool) -> Path:
    out = Path(os.path.expanduser(str(out))) if out is not None else (spec.resolve(spec.out) if spec.out else None)
    if out is None:
        raise ValueError("no output folder: set out = '...' in the grid or pass out= (--out).")
    out = Path(os.path.abspath(out))
    if out == Path(out.anchor) or out == Path.home():
        raise ValueError(f"out = {str(out)!r} is the root or home folder; give the grid a folder of its own.")
    if spec.source is not None and not out_anywhere and not out.is_relative_to(spec.source.parent):
        raise ValueError(f"out = {str(out)!r} lies outside the grid file's folder {spec.source.parent}; pass "
                         "out_anywhere=True (--out-anywhere) to write there.")
    return out


def _table_path(spec: GridSpec, table: str | os.PathLike, out: Path, out_anywhere: bool) -> Path:
    """``table`` as an absolute path, under the rules of the out folder; refused if it is not the grid's to replace."""
    path = Path(os.path.abspath(os.path.expanduser(str(table))))
    if spec.source is not None and not out_anywhere and not path.is_relative_to(spec.source.parent):
        raise ValueError(f"table = {str(path)!r} lies outside the grid file's folder {spec.source.parent}; pass "
                         "out_anywhere=True (--out-anywhere) to write there.")
    check_table(path, out)
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError(f"writing {path} needs pyarrow (pip install pyarrow); or give a .csv path.") from None
    return path


def run_grid(spec: GridSpec | str | os.PathLike | Mapping, out: str | os.PathLike | None = None,
             scheduler: Any = None, *, workers: int | None = None, retries: int = 2, threads: int | None = 1,
             progress: bool | None = None, table: str | os.PathLike | None = None,
             log: Callable[[str], None] | None = print, max_runs: int | None = MAX_RUNS,
             max_data_bytes: int = MAX_DATA_BYTES, out_anywhere: bool = False, allow_stdlib: bool = False,
             connect_timeout: float = 20.0, worker_timeout: float = 120.0) -> pd.DataFrame:
    """Run every run of a grid that has not finished; return the whole grid's results table.

    Parameters
    ----------
    spec : GridSpec, path of a TOML file, or mapping
    out : path, optional
        Folder of the run folders (default: the spec's ``out``). It must be new, empty, or this grid's
        own (marked by an earlier run); for a grid read from a file, inside the file's folder unless
        ``out_anywhere``.
    scheduler : None, "local", "local:N", address or distributed.Client
        Where the runs execute (:mod:`mmtheory.parallel`).
    workers : int, optional
        Worker count for ``scheduler="local"`` (>= 1).
    retries : int
        Extra attempts of a run that raised an exception (>= 0).
    threads : int or None
        Torch threads of each run (default 1, in process as on a worker, so the table does not depend
        on the scheduler); ``None`` leaves them alone in process.
    table : path, optional
        Also write the table there (``.csv`` or ``.parquet``); ``out/results.csv`` is always written.
        Same rule as ``out`` (inside the grid file's folder unless ``out_anywhere``); an existing file
        is replaced only if this grid wrote it and it is unchanged (checked before any run).
    max_runs : int or None
        Refuse a grid with more runs (``None``: no limit).
    max_data_bytes : int
        Refuse data files larger than this (uncompressed arrays for an ``.npz``).
    allow_stdlib : bool
        Accept a ``module:function`` experiment from the standard library.
    connect_timeout, worker_timeout : float
        Seconds to reach a scheduler; seconds a cluster may have no worker.

    Returns
    -------
    DataFrame
        One row per run, in grid order: ``run_id``, every setting, every result, ``attempts`` and
        ``seconds`` (of the attempt that finished).

    Raises
    ------
    ValueError
        Anything wrong with the grid, its data, its folder or the scheduler: before anything is written.
    RuntimeError
        If some runs failed (the others are kept on disk; running again retries only the failed ones),
        or the same grid is running in the folder already.
    """
    # everything is checked before anything is written
    _count("retries", retries, 0)
    _count("workers", workers, 1)
    _count("max_runs", max_runs, 1)
    _count("max_data_bytes", max_data_bytes, 1)
    check_scheduler(scheduler, workers)
    if isinstance(spec, (str, os.PathLike)):
        spec = load_spec(spec, allow_stdlib=allow_stdlib)
    elif isinstance(spec, Mapping):
        spec = parse_spec(spec, allow_stdlib=allow_stdlib)
    if spec.n_runs > (max_runs or math.inf):
        check_grid(spec, None, max_runs)
    out = _out_folder(spec, out, out_anywhere)
    check_folder(out, spec.identity)
    table = _table_path(spec, table, out, out_anywhere) if table is not None else None
    data, fingerprint = load_data(spec, max_data_bytes)
    check_grid(spec, data, max_runs)
    fn, resumable = experiment_function(spec.experiment, allow_stdlib=allow_stdlib)
    files = _setting_files(spec, max_data_bytes)
    runs = [(run_id(spec.experiment, s, _run_fingerprint(s, fingerprint, files)), s) for s in expand(spec)]
    pending = [(rid, s) for rid, s in runs if run_status(out / rid) != "finished"]
    errors: dict[str, BaseException] = {}
    with contextlib.ExitStack() as stack:
        client = None
        if pending:  # reach the cluster and see a worker before anything is written
            client = stack.enter_context(connect(scheduler, workers, log, connect_timeout=connect_timeout))
            if client is not None:
                wait_for_workers(client, worker_timeout)
        claim_folder(out, spec.identity)
        stack.enter_context(grid_lock(out, spec.name))
        pending = [(rid, s) for rid, s in runs if run_status(out / rid) != "finished"]  # under the lock
        if log is not None:
            unfinished = sum(run_status(out / rid) == "unfinished" for rid, _ in pending)
            log(f"grid {spec.name!r}: {len(runs)} runs, {len(runs) - len(pending)} finished, {unfinished} to "
                f"resume, {len(pending) - unfinished} new; folders in {out}")
        if pending:
            bar = stack.enter_context(contextlib.closing(progress_bar(len(pending), spec.name, progress)))
            shared = client.scatter(data, broadcast=True) if client is not None and data is not None else data
            calls = [((fn, resumable, spec.experiment, s, rid, shared, str(out),
                       (threads or 1) if client is not None else None), {}) for rid, s in pending]
            _, failed = dispatch(client, execute_run, calls, retries=retries, threads=threads,
                                 keys=[f"run-{spec.name}-{rid}" for rid, _ in pending],
                                 worker_timeout=worker_timeout, on_done=lambda i, ok: bar.update())
            errors = {pending[i][0]: exc for i, exc in failed.items()}
        records = [r for r in (read_record(out / rid) for rid, _ in runs) if r is not None]
        result = records_table(records)
        write_table(result, out / RESULTS_CSV)
    if table is not None:
        write_table(result, table)
        if table != out / RESULTS_CSV:
            note_table(table, out)
    if errors:
        first = next(iter(errors.items()))
        raise RuntimeError(f"{len(errors)} of {len(runs)} runs failed (first: run {first[0]}: "
                           f"{type(first[1]).__name__}: {first[1]}); the {len(records)} finished runs are kept "
                           f"in {out}. Fix the cause and run the grid again: only unfinished runs run.")
    return result
