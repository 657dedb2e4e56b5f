#!/usr/bin/env bash
# The student site: the book with every exercise's solution removed (prose, code and outputs), its downloads and
# Colab notebooks solution-free, and no Binder/JupyterHub buttons (they open the repository's pages, which hold the
# solutions). Same pages, same jupyter cache as the public site (tools/execute_book.py executes what it lacks).
#   bash tools/build_student_site.sh      (= nox -s student_site)   -> _build/student/_build/html/index.html
# book/_ext/pdf_solutions.py's `student_site` setting does the removal (one mechanism with the PDF's); the site is
# then checked for solution text by tests/book/test_student_site.py. Publish it from its own branch
# (ipynb_colab_branch below: the Colab buttons open that branch's _sources/*.ipynb).
set -euo pipefail
cd "$(dirname "$0")/.."
branch=${STUDENT_SITE_BRANCH:-student-pages}
bash tools/npm_assets.sh                 # the offline MathJax/widget assets (_vendor/), as the book session does
.venv/bin/python tools/execute_book.py
cfg=.student-config.yml
trap 'rm -f "$cfg"' EXIT
.venv/bin/python - "$cfg" "$branch" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open("_config.yml"))
cfg["sphinx"]["config"]["student_site"] = True
cfg["sphinx"]["config"]["ipynb_colab_branch"] = sys.argv[2]
cfg["launch_buttons"]["binderhub_url"] = ""
cfg["launch_buttons"]["jupyterhub_url"] = ""
cfg["title"] = cfg["title"] + " (student edition)"
yaml.safe_dump(cfg, open(sys.argv[1], "w"), allow_unicode=True, sort_keys=False)
PY
rm -rf _build/student
.venv/bin/jupyter-book build . -W -n --keep-going --config "$cfg" --path-output _build/student
.venv/bin/python tools/execute_book.py --verify
.venv/bin/python -m pytest -q -p no:cacheprovider tests/book/test_student_site.py
echo "build_student_site: wrote _build/student/_build/html/index.html"
