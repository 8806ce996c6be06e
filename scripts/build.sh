#!/usr/bin/env bash
# Build the whole book: install what is needed, execute every notebook with papermill, build the HTML.
#   bash scripts/build.sh            # quick profile (CPU, minutes): notebooks/ updated in place
#   bash scripts/build.sh full       # paper-scale profile: executed copies under _runs/full/
set -euo pipefail
profile="${1:-quick}"
case "$profile" in
  quick|full) ;;
  -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
  *) echo "error: unknown profile '$profile'; use 'quick' (default) or 'full'" >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
python scripts/build_book.py --profile "$profile"
