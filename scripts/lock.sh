#!/usr/bin/env bash
# Regenerate constraints.txt: resolve pyproject.toml's dependencies afresh in a throw-away virtual
# environment, keeping torch at the pinned version, and write `pip freeze` of the result.
#
#   bash scripts/lock.sh            # newest versions the index offers, torch kept at its pin
#   bash scripts/lock.sh --check    # only say whether constraints.txt is what a fresh resolve gives
#
# Run it on purpose (new dependency, security update), review `git diff constraints.txt`, run the tests,
# commit. It never touches .venv; build.sh reinstalls .venv by itself when constraints.txt changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

torch_pin="$(grep -E '^torch==' "$ROOT/constraints.txt" || true)"
if [ -z "$torch_pin" ]; then
  echo "error: constraints.txt has no torch==X line to keep; add the torch pin first" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "[lock] fresh environment in $work (keeping $torch_pin)"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23.1"
# only torch is constrained: every other version is resolved anew from pyproject.toml
echo "$torch_pin" > "$work/torch.txt"
PIP_CONSTRAINT="$work/torch.txt" "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c "$work/torch.txt" "$ROOT[book,test]"
installed="$("$work/venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
if [ "torch==$installed" != "$torch_pin" ]; then
  echo "error: the resolve installed torch $installed instead of $torch_pin; nothing written" >&2
  exit 1
fi
{
  echo "# The one place where versions are pinned (pip constraints). Regenerate with scripts/lock.sh."
  "$work/venv/bin/python" -m pip freeze --disable-pip-version-check --exclude-editable --all \
    | grep -v -i -E '^(mmtheory|pip|setuptools|wheel)==' \
    | sed -E 's/\+[a-z0-9.]+$//' \
    | LC_ALL=C sort -f
} > "$work/constraints.txt"
if [ "$CHECK" = 1 ]; then
  if diff -u "$ROOT/constraints.txt" "$work/constraints.txt"; then
    echo "[lock] constraints.txt is up to date"
  else
    echo "[lock] constraints.txt differs from a fresh resolve (above)" >&2
    exit 1
  fi
else
  cp "$work/constraints.txt" "$ROOT/constraints.txt.new"
  mv "$ROOT/constraints.txt.new" "$ROOT/constraints.txt"
  echo "[lock] wrote constraints.txt ($(grep -c '==' "$ROOT/constraints.txt") pins); review: git diff constraints.txt"
fi
