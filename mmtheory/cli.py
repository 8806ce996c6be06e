"""``python -m mmtheory``: command line of the companion book."""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from typing import Sequence


def _cmd_claims(args: argparse.Namespace) -> int:
    from mmtheory import claims
    from mmtheory.checks import MULTIPLE_RULE, POWER_RULE

    folder = claims.resolve_results_dir(args.results_dir) / args.profile / "claims"
    if not folder.is_dir() or not any(folder.glob("*.json")):
        where = "" if folder.parent.parent.is_dir() else " (that folder does not exist)"
        build_cmd = "bash scripts/build.sh" + ("" if args.profile == "quick" else f" {args.profile}")
        print(f"error: no claim records of the {args.profile} profile under {folder}{where}. The book's records "
              "are committed in results/ of a checkout of the repository: pass --results-dir <checkout>/results "
              f"or set MMTHEORY_RESULTS_DIR, or execute the chapters ({build_cmd}) to write them.",
              file=sys.stderr)
        return 1
    _, problems = claims.read_records(args.profile, args.results_dir)
    for line in problems:  # one line per stray, malformed or missing thing; never a traceback
        print(f"warning: {line}", file=sys.stderr)
    if args.json or args.format == "json":  # every record whole: status, ours, margin, interval, variant, params
        print(json.dumps(claims.claim_records(args.profile, args.results_dir), indent=2, default=str))
        return 0
    card = claims.scorecard(args.profile, args.results_dir)
    if args.format == "csv":
        card.to_csv(sys.stdout, index=False)
    else:
        cols = (["id", "status", "margin", "units", "variant", "variant_status", "ours"] if not args.wide
                else list(card.columns))
        shown = card.assign(status=[f"{s} (power not shown)" if s == "holds" and p is False else s
                                    for s, p in zip(card["status"], card["power_shown"])])
        with __import__("pandas").option_context("display.max_colwidth", 60, "display.width", 200):
            print(shown[cols].to_string(index=False))
        counts = card["status"].value_counts()
        summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in claims.STATUSES)
        weak = int(((card["power_shown"] == False) & (card["status"] == "holds")).sum())  # noqa: E712 (None: no broken world)
        print(f"\n{len(card)} claims ({args.profile} profile, results in {claims.resolve_results_dir(args.results_dir)}): "
              f"{summary}; {weak} with power not shown")
        print(f"Rules: {POWER_RULE} {MULTIPLE_RULE}")
        if problems:
            print(f"{len(problems)} record problem(s), listed above on stderr.")
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from mmtheory.profiles import PROFILES

    chapters = [args.chapter] if args.chapter else sorted(PROFILES)
    for chapter in chapters:
        if chapter not in PROFILES:
            print(f"error: unknown chapter {chapter!r}; chapters: {sorted(PROFILES)}", file=sys.stderr)
            return 2
        for profile, cfg in PROFILES[chapter].items():
            print(f"{chapter} [{profile}]: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from mmtheory.data import cremad

    manifest = cremad.prepare(args.root, args.cache, size=args.size, max_frames=args.max_frames,
                              resume=not args.no_resume)
    return 0 if manifest["n_ok"] > 0 else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from mmtheory.experiments.cremad import train_cremad
    from mmtheory.train.late_fusion import TrainConfig

    from mmtheory.params import CREMAD, check

    for param in CREMAD.values():  # one validator, one wording, before anything is read or built
        check(param, getattr(args, param.name))
    modalities = tuple(args.modalities.split("+"))
    ogm = {"variant": args.variant, "start_epoch": args.modulation_start, "end_epoch": args.modulation_end,
           "params": args.params, "noise_on": args.noise_on}
    cfg = TrainConfig(method=args.method, epochs=args.epochs, optimizer=args.optimizer, lr=args.lr,
                      lr_step=args.lr_step, lr_gamma=args.lr_gamma, alpha=args.alpha, ogm=ogm, seed=args.seed,
                      save_best=not args.no_save_best,
                      amp=None if args.amp == "auto" else args.amp == "on",
                      channels_last=None if args.channels_last == "auto" else args.channels_last == "on")
    from mmtheory.train import distributed as mmdist

    dist = mmdist.init_from_env()  # under torchrun: one rank of a DistributedDataParallel run, else None
    try:
        result = train_cremad(args.cache, args.out, cfg, modalities=modalities, fusion=args.fusion, width=args.width,
                              batch_size=args.batch_size, split=args.split, device=args.device, preload=args.preload,
                              resume=args.resume, head_init=args.head_init, dist=dist)
    finally:
        if dist is not None:
            mmdist.shutdown()
    if dist is not None and not dist.is_main:
        return 0
    s = result.summary()
    print(f"best test accuracy {s['best_test_acc']:.2f} % (epoch {s['best_epoch']}, selected on the test set), "
          f"last epoch {s['last_test_acc']:.2f} %; history in {args.out}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from mmtheory import sweep

    if args.scheduler and args.workers:
        raise ValueError("give --workers N (a local Dask cluster) or --scheduler ADDRESS (an existing one), not both.")
    scheduler = args.scheduler or (f"local:{args.workers}" if args.workers else None)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if not 0 < args.max_data_gb < float("inf"):
        raise ValueError(f"--max-data-gb must be a positive number; got {args.max_data_gb}.")
    table = sweep.run_grid(args.grid, out=args.out, scheduler=scheduler, retries=args.retries, table=args.table,
                           log=log, max_runs=args.max_runs, max_data_bytes=int(args.max_data_gb * 2**30),
                           out_anywhere=args.out_anywhere, allow_stdlib=args.allow_stdlib,
                           connect_timeout=args.connect_timeout, worker_timeout=args.worker_timeout)
    shown = table.drop(columns=[c for c in ("seconds",) if c in table])
    with __import__("pandas").option_context("display.width", 200, "display.max_columns", 30):
        print(shown.to_string(index=False))
    return 0


def _typed(param):
    """An argparse ``type`` for a declared parameter: its kind only (ranges are checked by the command, so
    a bad value is the one ``error: ...`` line of :func:`mmtheory.params.check`)."""
    def convert(text: str):
        if param.name == "modalities":
            text = text.replace(",", "+")  # written audio,visual on the command line
        try:
            return param.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{param.name} must be {param.describe()}; got {text!r}") from None
    convert.__name__ = param.kind.__name__
    return convert


def _at_least(low: int):
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}; got {text!r}")
        return value
    convert.__name__ = "int"
    return convert


def build_parser() -> argparse.ArgumentParser:
    import inspect

    from mmtheory.params import CREMAD
    from mmtheory.sweep import run_grid

    sweep_defaults = {k: v.default for k, v in inspect.signature(run_grid).parameters.items()}
    parser = argparse.ArgumentParser(
        prog="python -m mmtheory",
        description="Companion book to Huang et al. (NeurIPS 2021) and Peng et al. (CVPR 2022, OGM-GE).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("claims", help="print the reproduction scorecard (one row per claim of the papers)")
    p.add_argument("--profile", default="quick", choices=["quick", "full"], help="which run's results (default quick)")
    p.add_argument("--results-dir", default=None, help="results folder (default: $MMTHEORY_RESULTS_DIR or results/)")
    p.add_argument("--format", default="table", choices=["table", "csv", "json"])
    p.add_argument("--wide", action="store_true", help="show every column in table format")
    p.add_argument("--json", action="store_true",
                   help="print every claim's whole record as JSON (id, status, ours, margin, interval, broken world "
                        "tried and its status, reason, profile, data, every parameter of the run)")
    p.set_defaults(func=_cmd_claims)
    p = sub.add_parser("profiles", help="list the chapters' run profiles and their settings")
    p.add_argument("chapter", nargs="?", help="one chapter (default: all)")
    p.set_defaults(func=_cmd_profiles)

    p = sub.add_parser("prepare", help="preprocess a dataset into a compact cache (one resumable pass)")
    p.add_argument("dataset", choices=["cremad"])
    p.add_argument("--root", required=True, help="CREMA-D folder holding AudioWAV/ and VideoFlash/")
    p.add_argument("--cache", required=True, help="output folder of the cache")
    p.add_argument("--size", type=int, default=224, help="frame side in pixels (default 224)")
    p.add_argument("--max-frames", type=int, default=3, help="frames kept per clip at 1 fps (default 3)")
    p.add_argument("--no-resume", action="store_true", help="start over instead of resuming an interrupted run")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("train", help="train the audio-visual model (baseline, OGM or OGM-GE) on a prepared cache")
    p.add_argument("dataset", choices=["cremad"])
    p.add_argument("--cache", required=True, help="folder made by `prepare cremad`")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, history.csv/json, steps.csv, summary.json")
    for param in CREMAD.values():  # choices, defaults and help: declared once in mmtheory.params
        flag = "--" + {"modulation_start": "modulation-starts", "modulation_end": "modulation-ends"}.get(
            param.name, param.name.replace("_", "-"))
        if param.kind is bool:
            p.add_argument(flag, dest=param.name, action="store_true", help=param.help or None)
            continue
        p.add_argument(flag, dest=param.name, type=_typed(param), default=param.default,
                       choices=[c for c in param.choices] if param.choices else None,
                       help=(param.help + " " if param.help else "") + f"(default {param.default})")
    p.add_argument("--amp", default="auto", choices=["auto", "on", "off"], help="bf16 autocast (auto: on for CUDA)")
    p.add_argument("--channels-last", default="auto", choices=["auto", "on", "off"])
    p.add_argument("--no-save-best", action="store_true",
                   help="do not keep best.pt (weights of the best test epoch, the official script's model selection)")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("sweep", help="run a grid of runs described in a TOML file (in process or on a Dask cluster)",
                       description="Each run gets a folder named by a hash of its settings; finished runs are "
                                   "skipped, unfinished ones restart or resume. Format: README, 'Scaling out'.")
    p.add_argument("grid", help="the grid's TOML file (examples/sweep/*.toml)")
    p.add_argument("--out", default=None, help="folder of the run folders (default: the grid's out)")
    p.add_argument("--workers", type=_at_least(1), default=None,
                   help="run on a local Dask cluster of N >= 1 worker processes, one thread each (default: in process)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--table", default=None, help="also write the results table here (.csv, or .parquet with pyarrow)")
    p.add_argument("--retries", type=_at_least(0), default=2, help="extra attempts of a run that raised (default 2)")
    p.add_argument("--max-runs", type=_at_least(1), default=sweep_defaults["max_runs"],
                   help="refuse a grid of more runs (default %(default)s)")
    p.add_argument("--max-data-gb", type=float, default=sweep_defaults["max_data_bytes"] / 2**30,
                   help="refuse data files larger than this, uncompressed (default %(default)g GiB)")
    p.add_argument("--out-anywhere", action="store_true",
                   help="allow an output folder outside the grid file's folder")
    p.add_argument("--allow-stdlib", action="store_true",
                   help="allow a module:function experiment from Python's standard library")
    p.add_argument("--connect-timeout", type=float, default=sweep_defaults["connect_timeout"],
                   help="seconds to reach a Dask scheduler, handshake included (default %(default)g)")
    p.add_argument("--worker-timeout", type=float, default=sweep_defaults["worker_timeout"],
                   help="seconds a Dask cluster may have no worker before the grid stops (default %(default)g)")
    p.set_defaults(func=_cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted; files written so far are complete (re-run with the same command to continue, "
              "--resume for training).", file=sys.stderr)
        return 130
    except (ValueError, KeyError, RuntimeError, OSError, pickle.UnpicklingError, EOFError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """One line saying what is wrong and what to do, for any error the commands can meet."""
    if isinstance(exc, OSError) and not str(exc).startswith(("cannot", "the ", "no ", "--")) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        hint = {PermissionError: "choose a folder you can write to, or fix its permissions",
                IsADirectoryError: "give a file, not a folder", NotADirectoryError: "give a folder",
                FileNotFoundError: "check the path"}.get(type(exc), "check the path and the disk")
        text = f"{exc.strerror}:{where} ({hint})"
    elif isinstance(exc, (pickle.UnpicklingError, EOFError)):
        text = f"a file could not be unpickled ({type(exc).__name__}: {exc}); it is damaged or not what was expected"
    elif isinstance(exc, KeyError):
        text = f"missing entry {exc}"
    else:
        text = str(exc)
    return " ".join(text.split())
