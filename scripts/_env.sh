# Sourced by build.sh and test.sh: make (once) and activate the project's virtual environment.
# Idempotent: dependencies are reinstalled only when pyproject.toml or constraints.txt change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMTHEORY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: $PYTHON is missing or older than 3.11; install Python 3.11+ or set PYTHON=/path/to/python3" >&2
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
# One CPU code path for every process the build and the tests start (MKL, torch, oneDNN; see
# mmtheory/_dispatch.py): set before any of them loads numpy or torch. MMTHEORY_NATIVE_DISPATCH=1 turns it off.
eval "$(python -c "from mmtheory._dispatch import shell_exports; print(shell_exports())")"
