#!/usr/bin/env bash
# The lecture slides, offline: one reveal.js deck per lecture of the course plan (book/course.md),
#   bash tools/build_slides.sh [--only N ...]   -> _build/slides/lecture-N.html
# Sources: book/slides/lecture-N.md (format: tools/build_slides.py). Figures are rendered by the book's own figure
# functions (as `python -m attnbook figures` does); reveal.js and MathJax come from npm (package-lock.json) and are
# copied next to the decks, so they open from the file system or any static server with no network.
# Then checks every deck in headless Chromium (tools/slides_check.mjs): no console error, no off-host request, math
# typeset, every figure loaded, nothing running off a slide or under its controls; screenshots in
# _build/slides-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
bash tools/npm_assets.sh >/dev/null
OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg .venv/bin/python tools/build_slides.py "$@"
node tools/slides_check.mjs
