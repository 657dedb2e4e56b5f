#!/usr/bin/env bash
# The test command (README; .ci/run runs exactly this): bash tools/test.sh [PYTEST ARGS]
# Sets up .venv (tools/setup_env.sh: the exact versions of requirements-lock.txt, skipped when they are installed
# already), then runs the pipeline of noxfile.py, session `test`: the stages cheapest first, so a broken library
# fails in seconds, not after the book build, stopping at the first failure with its name and where its report is:
#   lint       ruff (configured in pyproject.toml)
#   unit       the library's unit tests (tests/unit -m "not slow", well under a minute)
#   slow       the unit tests marked slow (long-horizon flows, tight references; in the background, beside book)
#   pdf        one chapter through LaTeX (tools/build_pdf.sh --chapter ch1_token_selection: executed into the PDF's
#              own jupyter cache with vector figures; in the background, beside book)
#   studies    python -m attnbook studies: every study of the book computed once, read by the later stages
#   pytest     the chapters' claims (tests/claims) and the book's tooling (tests/book)
#   claims     every test marked `claims` again, every data set and flow start perturbed by a relative 1e-12
#              (in the background, beside pytest)
#   wheel      the wheel installed with [book] into a fresh venv runs one chapter outside the repository
#              (in the background, beside pytest and claims)
#   book       changed pages executed into the jupyter cache, then jupyter-book build -W (tools/execute_book.py)
#   downloads  the executed .ipynb the site offers stand on their own
#   browser    the built pages in headless Chromium, offline (tools/browser_check.mjs)
#   lab        the chapters as notebooks in JupyterLab, headless (tools/lab_check.mjs; LAB_CHECK_ALL=1: all ten)
#   figures    a subset of `python -m attnbook figures`
#              (downloads, lab and figures in the background, beside browser: no screenshots unless TEST_SCREENSHOTS=1)
#   bench      benchmarks/flow.py --quick
# with npm's front-end assets and Debian's chromium and TeX (when missing) downloading in the background during
# pytest. Extra arguments go to pytest (unit and pytest stages); TEST_SKIP_BOOK=1 stops after the wheel stage.
# One stage alone: .venv/bin/nox -s unit (nox -l lists them; CONTRIBUTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_START=$(date +%s)   # the pipeline's stage times count from here
echo "[test] 0s  stage: setup"
bash tools/setup_env.sh || { echo "[test] $(( $(date +%s) - TEST_START ))s  FAILED at stage 'setup' — report: the output above (tools/setup_env.sh)"; exit 1; }
echo "[test] $(( $(date +%s) - TEST_START ))s    (setup took $(( $(date +%s) - TEST_START ))s)"
exec .venv/bin/nox --no-color -s test -- "$@"
