"""``python -m mmtheory``: command line of the companion book."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


def _cmd_claims(args: argparse.Namespace) -> int:
    from mmtheory import claims

    card = claims.scorecard(args.profile, args.results_dir)
    if args.format == "json":
        print(json.dumps(card.to_dict(orient="records"), indent=2))
    elif args.format == "csv":
        card.to_csv(sys.stdout, index=False)
    else:
        cols = ["id", "paper_value", "ours", "status"] if not args.wide else list(card.columns)
        with __import__("pandas").option_context("display.max_colwidth", 60, "display.width", 200):
            print(card[cols].to_string(index=False))
        counts = card["status"].value_counts()
        summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in claims.STATUSES)
        print(f"\n{len(card)} claims ({args.profile} profile, results in {claims.resolve_results_dir(args.results_dir)}): {summary}")
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


def build_parser() -> argparse.ArgumentParser:
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
    p.set_defaults(func=_cmd_claims)
    p = sub.add_parser("profiles", help="list the chapters' run profiles and their settings")
    p.add_argument("chapter", nargs="?", help="one chapter (default: all)")
    p.set_defaults(func=_cmd_profiles)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
