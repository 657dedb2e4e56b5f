#!/usr/bin/env bash
# Create .venv with everything requirements.txt lists plus attnlib (editable). Idempotent: skips pip when
# requirements.txt and pyproject.toml have not changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.attnlib-installed
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup_env: installing requirements into .venv"
  quiet() { "$@" 2>&1 | { grep -v -E "is ignored|BuildBackendWarning|^ " || true; }; }  # pip's exit code survives (pipefail)
  quiet .venv/bin/python -m pip install -q --upgrade pip
  quiet .venv/bin/python -m pip install -q -r requirements.txt
  quiet .venv/bin/python -m pip install -q --no-deps -e .
  .venv/bin/python -c "import attnlib, cvxpy, jupyter_book" # fail loudly if the install did not work
  echo "$want" > "$stamp"
fi
