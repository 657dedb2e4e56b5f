#!/usr/bin/env bash
# Regenerate requirements-lock.txt from pyproject.toml (the single source of dependency ranges), then run the full
# test command against the new lock. Usage: bash tools/update_lock.sh [--upgrade] [--no-test]
#   (default)  keep the existing pins where pyproject.toml still allows them; add/remove what changed
#   --upgrade  move every pin to the newest release allowed
#
# The lock is universal (one file for Linux, macOS and Windows, Python >= 3.10): where the newest release of a
# package needs a newer Python, uv pins one version per Python range (e.g. numpy for 3.10 / 3.11 / >= 3.12).
# CI tests the pins for the Python it runs (3.11 on the project's machine).
set -euo pipefail
cd "$(dirname "$0")/.."
upgrade=""; test=1
for a in "$@"; do case $a in --upgrade) upgrade=--upgrade ;; --no-test) test=0 ;;
  *) echo "update_lock: unknown option $a (use --upgrade, --no-test)" >&2; exit 2 ;; esac; done
bash tools/setup_env.sh --uv-only   # .venv/bin/uv, the version pinned in tools/setup_env.sh
UV_PYTHON_DOWNLOADS=never .venv/bin/uv pip compile pyproject.toml --extra book --extra test --extra lab --extra course \
  --universal --python-version 3.10 $upgrade \
  --custom-compile-command "bash tools/update_lock.sh" -o requirements-lock.txt
echo "update_lock: wrote requirements-lock.txt ($(grep -c '==' requirements-lock.txt) pins)"
if [ "$test" = 1 ]; then
  bash tools/setup_env.sh
  bash tools/test.sh
fi
