#!/usr/bin/env bash
# Build the whole book: install what is needed, execute the notebooks that changed (in parallel, the
# scorecard last; see scripts/build_book.py), build the HTML.
#   bash scripts/build.sh            # quick profile (CPU, minutes): notebooks/ updated in place
#   bash scripts/build.sh full       # paper-scale profile: executed copies under results/full/notebooks/
#   bash scripts/build.sh quick --force --jobs 1   # further options go to scripts/build_book.py
set -euo pipefail
profile="${1:-quick}"
case "$profile" in
  quick|full) ;;
  -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
  *) echo "error: unknown profile '$profile'; use 'quick' (default) or 'full'" >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
python scripts/build_book.py --profile "$profile" "${@:2}"
