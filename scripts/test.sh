#!/usr/bin/env bash
# Run the whole test suite: unit tests, then every notebook re-executed and compared by nbval.
#   bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
# Notebooks executed by nbval record their claims in a scratch folder, never over the committed results.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export MMTHEORY_RESULTS_DIR="$scratch/results"
export TQDM_DISABLE=1       # tqdm's own switch: no progress bars in compared outputs
export MMTHEORY_PROGRESS=0  # still read by mmtheory.data.cremad's own bar
start=$(date +%s)
python -m pytest tests notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg \
  --nbval-cell-timeout=900 -p no:cacheprovider "$@"
echo "[test] whole suite took $(( $(date +%s) - start )) s"
