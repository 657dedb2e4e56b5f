#!/usr/bin/env bash
# Build the HTML book from a fresh clone: bash tools/build_book.sh [--all]
#
#  1. Python: creates .venv if missing and installs requirements-lock.txt + attnlib (editable);
#     skipped when .venv already matches requirements-lock.txt/pyproject.toml (hash kept in .venv).
#  2. Front-end assets (tools/npm_assets.sh): `npm ci` (MathJax, RequireJS, ipywidgets HTML manager), whose
#     postinstall copies them to _vendor/; skipped when node_modules matches package-lock.json.
#  3. jupyter-book build . -W -n --keep-going, two chapters at a time (tools/jb_build.py: Sphinx's parallel
#     read; BOOK_JOBS=1 for one at a time): every chapter executes (execute_notebooks: force);
#     any cell error, cell stderr or Sphinx warning makes this script exit non-zero.
#     Sphinx re-reads only changed pages, so when attnlib/, attnbook/, requirements or the config changed
#     since the last successful build the whole book is rebuilt (-all); --all forces that.
# Output: _build/html/index.html. Check it in a browser: node tools/browser_check.mjs
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
log() { printf '[build_book] %4ss  %s\n' "$(( $(date +%s) - start ))" "$*"; }

# ---- 1. Python environment -------------------------------------------------------------
PY=.venv/bin/python
log "Python environment (tools/setup_env.sh)"
bash tools/setup_env.sh

# ---- 2. Offline front-end assets -------------------------------------------------------
log "front-end assets (tools/npm_assets.sh)"
bash tools/npm_assets.sh

# ---- 3. Build ------------------------------------------------------------------------
# Build the matplotlib font cache outside the notebooks: on a fresh machine the first import
# prints "building the font cache" to stderr, which would fail the -W build.
MPLBACKEND=Agg "$PY" -c "import matplotlib.pyplot" 2>/dev/null

src_hash=$( (find attnlib attnbook tools -name '*.py' -o -name '*.js' -o -name '*.sh' | LC_ALL=C sort | xargs cat; \
             cat requirements-lock.txt pyproject.toml _config.yml _toc.yml book/references.bib) | sha256sum | cut -d' ' -f1)
extra=()
if [ "${1:-}" = "--all" ] || [ "$(cat _build/.book-sources.sha256 2>/dev/null)" != "$src_hash" ]; then
  extra=(--all)
  log "full rebuild (attnlib, attnbook, tools or configuration changed, or --all)"
fi

log "jupyter-book build . -W -n --keep-going ${extra[*]:-} (tools/jb_build.py, ${BOOK_JOBS:-2} chapters at a time)"
rc=0
.venv/bin/python tools/jb_build.py "${extra[@]}" || rc=$?
secs=$(( $(date +%s) - start ))
if [ "$rc" -ne 0 ]; then
  rm -f _build/.book-sources.sha256
  log "FAILED (exit $rc) after ${secs} s; tracebacks of failing cells: _build/html/reports/"
  exit "$rc"
fi
echo "$src_hash" > _build/.book-sources.sha256
log "built _build/html/index.html in ${secs} s (total)"
