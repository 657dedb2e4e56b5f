#!/usr/bin/env bash
# The whole book as one PDF, through LaTeX (Jupyter Book's pdflatex builder, engine xelatex for the book's Unicode):
#   bash tools/build_pdf.sh                    -> _build/pdf/book.pdf             (exercises without solutions)
#   bash tools/build_pdf.sh --with-solutions   -> _build/pdf/book-solutions.pdf   (for instructors)
#   bash tools/build_pdf.sh --chapter ch1_token_selection -> _build/pdf/ch1_token_selection.pdf (one chapter as
#        the whole document: what the test command checks; the whole PDF takes about 70 s from an empty cache)
# The chapters' outputs come from the PDF's own jupyter cache (_build/.jupyter_cache_print): tools/execute_book.py first
# executes the pages it lacks, as for the HTML book, with ATTNLIB_PRINT_BUILD=1 added to the kernels' variables, so
# every figure (and the still of every widget and animation, which prints instead of the interactive view) also
# carries a vector PDF output. The HTML book does not render those (they took a third of its execution time), so
# the first PDF build executes every page it prints once more (about 45 s for the whole book on 2 cores).
# Installs Debian's TeX packages when they are missing (needs root: apt-get).
# The LaTeX log is _build/pdf-src/_build/latex/book.log. Every PDF is checked (tools/pdf_checks.py): the build fails on
# a "Missing character" (a glyph the font lacks, which xelatex drops silently), on "??" or an undefined reference, on
# more than 5 overfull boxes and on a raster image under 300 ppi.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
log() { printf '[build_pdf] %4ss  %s\n' "$(( $(date +%s) - start ))" "$*"; }

solutions=0; name=book; chapter=""
while [ $# -gt 0 ]; do
  case "$1" in
    --with-solutions) solutions=1; name=book-solutions ;;
    --chapter) chapter=${2:-}; shift
      [ -f "book/$chapter.md" ] || { echo "build_pdf: --chapter expects a page of book/ without .md (e.g. ch1_token_selection), got '$chapter'" >&2; exit 2; }
      name=$chapter ;;
    *) echo "build_pdf: unknown option $1 (use --with-solutions, --chapter NAME)" >&2; exit 2 ;;
  esac
  shift
done
bash tools/system_packages.sh tex || { echo "build_pdf: TeX is missing (see above)" >&2; exit 1; }
bash tools/setup_env.sh
MPLBACKEND=Agg .venv/bin/python -c "import matplotlib.pyplot" 2>/dev/null   # font cache outside the notebooks

# The PDF's configuration = _config.yml, with pdf_hide_solutions (book/_ext/pdf_solutions.py) unless --with-solutions,
# its own jupyter cache and ATTNLIB_PRINT_BUILD=1 for its kernels (attnbook.plots.is_print_build: vector figures). It
# is written beside _config.yml (paths in it are relative to its folder) and removed afterwards.
cfg=.pdf-config.yml; toc=_toc.yml
trap 'rm -f "$cfg" .pdf-toc.yml' EXIT
.venv/bin/python - "$solutions" "$cfg" "$chapter" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open("_config.yml"))
cfg["sphinx"]["config"]["pdf_hide_solutions"] = sys.argv[1] != "1"
cfg["execute"]["cache"] = "_build/.jupyter_cache_print"
cfg["book_kernels"]["env"]["ATTNLIB_PRINT_BUILD"] = "1"
if sys.argv[3]:  # one chapter: it is the whole document (its root page)
    yaml.safe_dump({"format": "jb-book", "root": f"book/{sys.argv[3]}"}, open(".pdf-toc.yml", "w"))
yaml.safe_dump(cfg, open(sys.argv[2], "w"), allow_unicode=True, sort_keys=False)
PY
[ -n "$chapter" ] && toc=.pdf-toc.yml
log "tools/execute_book.py --config $cfg ${chapter:+--only $chapter} (what the PDF's jupyter cache lacks)"
.venv/bin/python tools/execute_book.py --config "$cfg" ${chapter:+--only "$chapter"}
log "jupyter-book build . --builder pdflatex (outputs from the PDF's jupyter cache)"
# One message per log line (TeX wraps at 79 columns by default): tools/pdf_checks.py reads whole messages.
export max_print_line=100000
rm -rf _build/pdf-src && mkdir -p _build/pdf-src
.venv/bin/jupyter-book build . --builder pdflatex --config "$cfg" --toc "$toc" \
  --path-output _build/pdf-src --keep-going
.venv/bin/python tools/execute_book.py --config "$cfg" --verify   # every output came from the cache: Sphinx executed nothing
pdf=_build/pdf-src/_build/latex/book.pdf
[ -s "$pdf" ] || { echo "build_pdf: no PDF was written; see _build/pdf-src/_build/latex/book.log" >&2; exit 1; }
mkdir -p _build/pdf && cp "$pdf" "_build/pdf/$name.pdf"
# What prints wrong fails the build: missing glyphs, "??", overfull boxes, low-resolution images.
log "tools/pdf_checks.py"
.venv/bin/python tools/pdf_checks.py _build/pdf-src/_build/latex/book.log "_build/pdf/$name.pdf" || {
  echo "build_pdf: _build/pdf/$name.pdf does not print right (above); the LaTeX log is _build/pdf-src/_build/latex/book.log" >&2
  exit 1; }
log "wrote _build/pdf/$name.pdf ($(pdfinfo "_build/pdf/$name.pdf" | awk '/^Pages/ {print $2}') pages, $(du -h "_build/pdf/$name.pdf" | cut -f1))"
