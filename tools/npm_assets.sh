#!/usr/bin/env bash
# The book's offline front-end assets: `npm ci` (MathJax, RequireJS, the ipywidgets HTML manager, puppeteer-core
# for the browser checks) from package-lock.json, whose postinstall copies the assets to _vendor/; skipped when
# node_modules already matches package-lock.json (hash kept in node_modules/.book-lock.sha256), in which case the
# assets are only re-vendored. Used by the book session (noxfile.py); the test command runs it during the pytest stage.
set -euo pipefail
cd "$(dirname "$0")/.."
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
command -v npm >/dev/null || { echo "npm_assets: npm not found (install Node.js >= 18)" >&2; exit 1; }
lock_hash=$(hash_of package.json package-lock.json)
if [ ! -f package-lock.json ]; then
  echo "npm_assets: npm install (no package-lock.json yet)"
  npm install --no-audit --no-fund
  lock_hash=$(hash_of package.json package-lock.json)
  echo "$lock_hash" > node_modules/.book-lock.sha256
elif [ "$(cat node_modules/.book-lock.sha256 2>/dev/null)" != "$lock_hash" ]; then
  echo "npm_assets: npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.book-lock.sha256
else
  echo "npm_assets: node_modules up to date; re-vendoring assets"
  sh tools/vendor-assets.sh
fi
