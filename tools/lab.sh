#!/usr/bin/env bash
# Run the chapters as notebooks:  bash tools/lab.sh [extra `jupyter lab` options, e.g. --no-browser --port 8899]
#
#  1. tools/setup_env.sh: .venv with attnlib and the book's requirements (skipped when up to date);
#  2. JupyterLab, jupyterlab-myst (renders the chapters' MyST: theorems, exercises, admonitions, math,
#     folded solutions) and jupytext (opens book/*.md as notebooks) from the `lab` extra, if missing;
#  3. the repository's JupyterLab defaults, tools/jupyterlab/overrides.json, copied into the venv's
#     settings (.venv/share/jupyter/lab/settings/overrides.d/): a double-click opens a chapter as a
#     notebook (jupytext's "Jupytext Notebook" viewer for Markdown and MyST files). They are defaults
#     only; your own JupyterLab settings still win;
#  4. starts JupyterLab on book/ (LAB_ROOT overrides it), kernel working directory = book/, like the build.
#
# As root (containers, some hub images) JupyterLab refuses to start unless --allow-root is given; a
# notebook server as root can do anything on the machine, which is why it asks. The flag is added only
# when this script runs as root, where that is already the case.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
if ! .venv/bin/python -c "import jupyterlab, jupyterlab_myst, jupytext" 2>/dev/null; then
  echo "lab: installing JupyterLab, jupyterlab-myst and jupytext into .venv (extra 'lab')"
  .venv/bin/python -m pip install -q -e '.[lab]'
  .venv/bin/python -c "import jupyterlab, jupyterlab_myst, jupytext" \
    || { echo "lab: JupyterLab, jupyterlab-myst or jupytext still missing after installing '.[lab]'" >&2; exit 1; }
fi
settings=$(.venv/bin/python -c "import jupyterlab.labapp as l; print(l.LabApp().app_settings_dir)")
mkdir -p "$settings/overrides.d"
cp tools/jupyterlab/overrides.json "$settings/overrides.d/attnlib-book.json"
root=()
[ "$(id -u)" = 0 ] && root=(--allow-root)
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/jupyter lab --ServerApp.root_dir="${LAB_ROOT:-book}" "${root[@]}" "$@"
