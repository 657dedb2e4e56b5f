#!/usr/bin/env bash
# What Colab and a student's laptop do: build the wheel (from the sdist, as `pip install git+URL` would), install it
# with the [book] extra into a fresh virtual environment (exact versions from requirements-lock.txt), and from a
# directory OUTSIDE the repository execute one chapter notebook against the installed package alone.
# Usage: bash tools/wheel_check.sh [CHAPTER]   (default book/ch1_token_selection.md). Needs .venv (tools/setup_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
chapter=${1:-book/ch1_token_selection.md}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/attnlib-wheel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
uv=.venv/bin/uv

"$uv" build --quiet --sdist --wheel --out-dir "$tmp/dist" . 2>&1 | { grep -v "^warning: .*is ignored" || true; }
wheel=$(ls "$tmp"/dist/attnlib-*.whl)
echo "wheel_check: built $(basename "$wheel")"
# Every module of both import packages (the library attnlib, the book's attnbook) must be in the one wheel (a
# hand-written package list once left out the figures).
.venv/bin/python - "$wheel" <<'PY'
import pathlib, sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
missing = sorted(str(p) for pkg in ("attnlib", "attnbook") for p in pathlib.Path(pkg).rglob("*.py")
                 if str(p) not in names)
sys.exit(f"wheel_check: the wheel lacks {missing}" if missing else 0)
PY

# The library alone (no extra): numpy, scipy and cvxpy suffice; matplotlib and ipywidgets come only with [book].
"$uv" venv --quiet --python .venv/bin/python "$tmp/core"
"$uv" pip install --quiet --python "$tmp/core/bin/python" "attnlib @ file://$wheel" -c requirements-lock.txt
(cd "$tmp" && env -u PYTHONPATH OPENBLAS_NUM_THREADS=1 "$tmp/core/bin/python" - <<'PY'
import importlib.util
import attnlib as al
absent = [m for m in ("matplotlib", "ipywidgets") if importlib.util.find_spec(m) is not None]
assert not absent, f"the library without [book] installed {absent}"
data = al.make_diagonal_data()
traj = al.gradient_flow(data, "W", al.default_init(data, "W"), t_end=10.0)
svm = al.solve_svm(data, "fro")
assert traj.t[-1] == 10.0 and svm.W.shape == (data.d, data.d)
print(f"wheel_check: attnlib {al.__version__} without [book] runs a flow (no matplotlib, no ipywidgets)")
PY
)

"$uv" venv --quiet --python .venv/bin/python "$tmp/venv"
"$uv" pip install --quiet --python "$tmp/venv/bin/python" "attnlib[book] @ file://$wheel" -c requirements-lock.txt
mkdir "$tmp/student"
cp "$chapter" "$tmp/student/"
cd "$tmp/student"   # outside the repo: only the installed package can be imported
env -u PYTHONPATH OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg "$tmp/venv/bin/python" - "$(basename "$chapter")" "$repo" <<'PY'
import pathlib, sys, time
import attnbook, attnlib, jupytext, nbclient

src, repo = sys.argv[1], pathlib.Path(sys.argv[2]).resolve()
where = pathlib.Path(attnlib.__file__).resolve()
for pkg in (attnlib, attnbook):
    here = pathlib.Path(pkg.__file__).resolve()
    assert repo not in here.parents, f"{pkg.__name__} was imported from the repository ({here}), not the installed wheel"
nb = jupytext.read(src)
t0 = time.perf_counter()
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
assert not errors, errors
stderr = [o.text for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
          if o.output_type == "stream" and o.name == "stderr"]
assert not stderr, f"stderr in cells: {stderr}"
print(f"wheel_check: {src} executed against attnlib {attnlib.__version__} from {where.parent} "
      f"in {time.perf_counter() - t0:.1f} s ({sum(c.cell_type == 'code' for c in nb.cells)} code cells)")
PY
