#!/usr/bin/env bash
# The test command (README; .ci/run runs exactly this). On a fresh clone it installs what it needs
# (.venv from requirements.txt, npm assets, Debian's chromium), then
#   1. builds the whole book, executing every chapter (-W: a failing cell or a warning fails),
#   2. checks the built pages in headless Chromium, offline (tools/browser_check.mjs), then the chapters
#      as notebooks in JupyterLab (tools/lab_check.mjs: Run All, figures, widgets, save = no diff),
#   3. regenerates a subset of the figures with `python -m attnlib figures`,
#   4. runs the flow benchmark in its short setting,
#   5. runs the pytest suite (library, chapter claims, widgets); extra arguments go to pytest.
# TEST_SKIP_BOOK=1 skips steps 1-4 (library work).
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg
start=$(date +%s)
stamp() { echo "[test] $(( $(date +%s) - start ))s  $*"; }

bash tools/setup_env.sh
if [ "${TEST_SKIP_BOOK:-0}" != "1" ]; then
  stamp "building the book"
  bash tools/build_book.sh
  if [ ! -x /usr/bin/chromium ]; then
    stamp "installing Debian's chromium for the browser check"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || { echo "test: could not install chromium (needed by tools/browser_check.mjs)" >&2; exit 1; }
  fi
  stamp "browser check"
  node tools/browser_check.mjs --jobs 2
  stamp "JupyterLab check (chapters opened by double-click, Run All, widgets, save)"
  node tools/lab_check.mjs --jobs 2
  stamp "figures subset"
  .venv/bin/python -m attnlib figures _build/figures --only intro ch1 --format png
  if [ -f benchmarks/flow.py ]; then
    stamp "benchmark (short)"
    .venv/bin/python benchmarks/flow.py --quick
  fi
fi
stamp "pytest"
.venv/bin/python -m pytest -q "$@"
