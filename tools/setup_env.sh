#!/usr/bin/env bash
# Create .venv with the exact versions of requirements-lock.txt (library, book, tests, JupyterLab) plus attnlib
# itself (editable). Idempotent: skips the install when the lock and pyproject.toml have not changed since the last
# successful install. The installer is uv (fast, parallel; its own cache in ~/.cache/uv), itself pinned here and
# installed into .venv by pip. TEST_LOCK_IGNORED=1 installs the newest releases within pyproject.toml's ranges
# instead (to see what upstream releases break; not for normal use). --uv-only: create .venv with uv, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python; never download one
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ ! -x .venv/bin/uv ] || [ "$(.venv/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION" 2>&1 | { grep -v "is ignored" || true; }
fi
[ "${1:-}" = "--uv-only" ] && exit 0   # tools/update_lock.sh needs only uv
stamp=.venv/.attnlib-installed
want=$( (cat requirements-lock.txt pyproject.toml; echo "lock-ignored=${TEST_LOCK_IGNORED:-0}") | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  uv=(.venv/bin/uv pip install --quiet --python .venv/bin/python)
  if [ "${TEST_LOCK_IGNORED:-0}" = "1" ]; then
    echo "setup_env: installing the NEWEST releases allowed by pyproject.toml (lock ignored)"
    "${uv[@]}" --upgrade -e '.[book,test,lab]'
  else
    echo "setup_env: installing requirements-lock.txt into .venv"
    "${uv[@]}" -r requirements-lock.txt
    "${uv[@]}" --no-deps -e .
  fi
  # fail loudly if the install did not work (attnlib itself is not imported: a broken library is for lint/pytest)
  .venv/bin/python -c "import importlib.metadata as m, cvxpy, jupyter_book; m.version('attnlib')"
  echo "$want" > "$stamp"
fi
