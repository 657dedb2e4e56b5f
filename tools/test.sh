#!/usr/bin/env bash
# The test command (README, .ci/run): set up the environment from the repo's own files, then run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
.venv/bin/python -m pytest "$@"
