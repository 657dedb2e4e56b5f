#!/usr/bin/env bash
# Build the HTML book from a fresh clone: bash tools/build_book.sh [--all]   -> _build/html/index.html
#
#  1. Python: tools/setup_env.sh creates .venv if missing and installs requirements-lock.txt + attnlib (editable);
#     skipped when .venv already matches requirements-lock.txt/pyproject.toml.
#  2. nox -s book (noxfile.py):
#     - front-end assets (tools/npm_assets.sh): `npm ci` (MathJax, RequireJS, ipywidgets HTML manager), copied to
#       _vendor/; skipped when node_modules matches package-lock.json;
#     - tools/execute_book.py: every page whose code changed executes into the jupyter cache (_build/.jupyter_cache),
#       two at a time, longest first, with _config.yml's book_kernels.env (the static-twin switch); a failing cell
#       fails here (traceback in _build/html/reports/). The cache is emptied when attnlib, attnbook, the lock or the
#       execution settings change; --all empties it anyway;
#     - jupyter-book build . -W -n --keep-going (execute_notebooks: cache): Sphinx reads the changed pages, every
#       output from the cache; any Sphinx warning or cell stderr fails; then a check that it executed nothing.
# Check the result in a browser: node tools/browser_check.mjs
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash tools/setup_env.sh
rc=0
.venv/bin/nox --no-color -s book -- "$@" || rc=$?
echo "[build_book] $(( $(date +%s) - start ))s  $([ "$rc" = 0 ] && echo "built _build/html/index.html" || echo "FAILED (exit $rc): tracebacks of failing cells in _build/html/reports/, Sphinx warnings above")"
exit "$rc"
