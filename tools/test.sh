#!/usr/bin/env bash
# The test command (README; .ci/run runs exactly this). On a fresh clone it installs what it needs (.venv from
# requirements-lock.txt, npm assets, Debian's chromium and TeX), then runs the checks cheapest-first, so a broken library
# fails in seconds, not after the book build:
#   lint       ruff (configured in pyproject.toml)
#   unit       the library's unit tests (tests/unit, well under a minute): a broken library fails here first
#   studies    python -m attnbook studies: every study of the book computed once, on both cores, into
#              _build/studies/<fingerprint>/, which the pytest, claims, book, lab and pdf stages read
#   pytest     the chapters' claims (tests/claims) and the book's tooling: notebooks, widgets, packaging, slides,
#              student edition (tests/book); extra arguments go to pytest (both stages)
#   claims     every test marked `claims` (a count, a yes/no, a selection, a rank the book states) again, with
#              every data set and flow start perturbed by a relative 1e-12 (pytest -m claims --perturb-seed 1):
#              a claim that flips under rounding is a fact about one machine, not about the problem
#   wheel      build the wheel, install it with [book] into a fresh venv, run one chapter outside the repo
#   assets     tools/npm_assets.sh (npm ci: MathJax, RequireJS, widget manager), in the background during pytest
#   system     tools/system_packages.sh (Debian's chromium and TeX when missing), in the background during pytest
#   book       jupyter-book build -W: every chapter executes; a failing cell, cell stderr or warning fails
#   downloads  the executed .ipynb the site offers stand on their own (tests/book/test_notebooks.py; needs the
#              book)
#   browser    the built pages in headless Chromium, offline (tools/browser_check.mjs)
#   lab        the chapters as notebooks in JupyterLab, headless (tools/lab_check.mjs: opened by double-click,
#              Run All, figures, no raw MyST, every widget control moved, save leaves no diff); two chapters
#              that cover every mechanism, or all with LAB_CHECK_ALL=1
#   figures    a subset of `python -m attnbook figures` (in the background during pdf: each uses one core)
#   pdf        one chapter through LaTeX (tools/build_pdf.sh --chapter; the whole PDF takes ~4 min, over budget):
#              theorems, exercises without solutions, widgets as stills, no unresolved reference
#   benchmark  benchmarks/flow.py --quick
# TEST_SKIP_BOOK=1 stops after the wheel stage (library work). When a stage fails the script names it and where
# its report is, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg
start=$(date +%s)
stage_start=$start
current=""
stamp() { echo "[test] $(( $(date +%s) - start ))s  $*"; }
stage() {   # stage NAME REPORT-HINT COMMAND...
  current=$1; report=$2; shift 2
  [ -n "${done_stage:-}" ] && stamp "  ($done_stage took $(( $(date +%s) - stage_start ))s)"
  stage_start=$(date +%s)
  stamp "stage: $current"
  "$@" || { rc=$?; stamp "FAILED at stage '$current' (exit $rc) — report: $report"; exit "$rc"; }
  done_stage=$current
}
# A stage that needs little CPU, or one core beside a one-core stage, runs in the background (output in
# _build/NAME.log) and is waited for before the first stage that needs it.
declare -A bg_pid bg_start
stage_bg() {   # stage_bg NAME COMMAND...
  local name=$1; shift
  stamp "stage (in the background): $name, output in _build/$name.log"
  bg_start[$name]=$(date +%s)
  ( s=$(date +%s); rc=0; "$@" || rc=$?; echo "took $(( $(date +%s) - s ))s"; exit "$rc" ) > "_build/$name.log" 2>&1 &
  bg_pid[$name]=$!
}
stage_wait() {   # stage_wait NAME
  local name=$1 rc=0
  wait "${bg_pid[$name]}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "_build/$name.log"; stamp "FAILED at stage '$name' (exit $rc) — report: _build/$name.log"; exit "$rc"
  fi
  stamp "  ($name, in the background, $(tail -n 1 "_build/$name.log"); waited for at $(( $(date +%s) - bg_start[$name] ))s)"
}

stage setup "the output above (tools/setup_env.sh)" bash tools/setup_env.sh
stage lint "the ruff messages above" .venv/bin/ruff check attnlib attnbook tests tools benchmarks
mkdir -p _build
if [ "${TEST_SKIP_BOOK:-0}" != "1" ]; then   # downloads (network, disk) while pytest uses the cores
  stage_bg assets bash tools/npm_assets.sh              # npm: MathJax, RequireJS, widget manager, puppeteer-core
  stage_bg system bash tools/system_packages.sh         # Debian: chromium, TeX (a fresh CI machine has neither)
fi
n_extra=$#
run_pytest() {   # run_pytest LOG ARGS...: pytest on 2 cores (pytest-xdist), output also in LOG
  local log=$1 rc=0; shift
  .venv/bin/python -m pytest -q -n 2 "$@" 2>&1 | tee "$log" || rc=$?
  # exit 5 = nothing selected: fine when the caller's extra arguments (-k ...) select tests of the other stage only
  if [ "$rc" -eq 5 ] && [ "$n_extra" -gt 0 ]; then return 0; fi
  return "$rc"
}
stage unit "the pytest summary above (also in _build/unit.log)" run_pytest _build/unit.log tests/unit "$@"
stage studies "the traceback above (the study it names)" .venv/bin/python -m attnbook studies
stage pytest "the pytest summary above (also in _build/pytest.log)" \
  run_pytest _build/pytest.log tests/claims tests/book "$@"
stage claims "the pytest summary above (also in _build/claims.log)" \
  run_pytest _build/claims.log -m claims --perturb-seed 1
stage wheel "the output above (tools/wheel_check.sh)" bash tools/wheel_check.sh
if [ "${TEST_SKIP_BOOK:-0}" != "1" ]; then
  stage_wait assets
  stage book "_build/html/reports/ (tracebacks of failing cells) and the Sphinx warnings above" \
    bash tools/build_book.sh
  stage downloads "the pytest messages above" \
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/book/test_notebooks.py \
      -k downloaded_notebook_stands_on_its_own
  stage_wait system
  stage browser "the messages above; screenshots in _build/screenshots/" node tools/browser_check.mjs --jobs 2
  # Two chapters that carry every mechanism (the intro's tabs, chapter 7's slider and animation, both downloads):
  # the full check runs every chapter, about 9 minutes on 2 cores, over the test command's budget (LAB_CHECK_ALL=1).
  lab_only=(--only intro,ch7_errata)
  [ "${LAB_CHECK_ALL:-0}" = "1" ] && lab_only=()
  stage lab "the messages above; screenshots in _build/lab-screenshots/" node tools/lab_check.mjs --jobs 1 "${lab_only[@]}"
  stage_bg figures .venv/bin/python -m attnbook figures _build/figures --only intro ch1 --format png   # one core
  stage pdf "_build/pdf-src/_build/latex/book.log" bash tools/build_pdf.sh --chapter ch1_token_selection
  stage_wait figures
  stage benchmark "the benchmark table above" .venv/bin/python benchmarks/flow.py --quick
fi
stamp "  ($done_stage took $(( $(date +%s) - stage_start ))s)"
stamp "all stages passed"
echo "unit: $(tail -n 1 _build/unit.log)"
tail -n 1 _build/pytest.log   # the pytest stage's closing line (claims and book tests), last (CI reads it)
