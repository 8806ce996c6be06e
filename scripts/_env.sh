# Sourced by build.sh and test.sh: make (once) and activate the project's virtual environment.
# Idempotent: dependencies are reinstalled only when pyproject.toml or constraints.txt change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMTHEORY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "error: $PYTHON is missing or older than 3.10; install Python 3.10+ or set PYTHON=/path/to/python3" >&2
  exit 1
fi
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.mmtheory-stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[setup] installing mmtheory and its dependencies (versions pinned by constraints.txt; a few minutes) ..."
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23.1"
  PIP_CONSTRAINT="$ROOT/constraints.txt" "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$ROOT/constraints.txt" -e "$ROOT[book,test]"
  echo "$want" > "$VENV/.mmtheory-stamp"
  echo "[setup] done"
else
  echo "[setup] environment up to date: $VENV"
fi
export PATH="$VENV/bin:$PATH"
export PYTHONHASHSEED=0
