#!/bin/sh
# Copy the front-end assets the offline book needs from node_modules/ into _vendor/.
# Run by `npm ci` / `npm install` (package.json "postinstall"); safe to re-run.
# _vendor/ is generated (gitignored); _config.yml serves it as html_static_path, so
# everything here ends up under _build/html/_static/.
set -eu
cd "$(dirname "$0")/.."
NM=node_modules
OUT=_vendor
for f in "$NM/mathjax/es5/tex-mml-chtml.js" "$NM/requirejs/require.js" \
         "$NM/@jupyter-widgets/html-manager/dist/embed-amd.js"; do
  [ -f "$f" ] || { echo "vendor-assets: missing $f (run npm ci first)" >&2; exit 1; }
done
rm -rf "$OUT"
mkdir -p "$OUT/mathjax" "$OUT/widgets"

# MathJax 3: the combined TeX+MathML -> CommonHTML component plus what it autoloads
# (TeX extensions, menu/a11y, speech-rule engine, CHTML fonts). ~8 MB instead of 24 MB.
MJ="$NM/mathjax/es5"
cp "$MJ/tex-mml-chtml.js" "$OUT/mathjax/"
for d in input ui a11y sre adaptors; do
  [ -d "$MJ/$d" ] && cp -R "$MJ/$d" "$OUT/mathjax/"
done
mkdir -p "$OUT/mathjax/output"
cp -R "$MJ/output/chtml" "$MJ/output/chtml.js" "$OUT/mathjax/output/"

# RequireJS (AMD loader the widget manager expects).
cp "$NM/requirejs/require.js" "$OUT/require.js"

# ipywidgets HTML manager (renders the saved widget state) and the font files it references.
HM="$NM/@jupyter-widgets/html-manager/dist"
cp "$HM/embed-amd.js" "$OUT/widgets/"
for f in "$HM"/*.woff "$HM"/*.woff2 "$HM"/*.ttf "$HM"/*.eot "$HM"/*.svg; do
  [ -f "$f" ] && cp "$f" "$OUT/widgets/"
done

# reveal.js for the lecture slides (tools/build_slides.sh): the core, its CSS and the white theme (fonts inlined).
if [ -d "$NM/reveal.js/dist" ]; then
  mkdir -p "$OUT/reveal/theme"
  cp "$NM/reveal.js/dist/reveal.js" "$NM/reveal.js/dist/reveal.css" "$NM/reveal.js/dist/reset.css" "$OUT/reveal/"
  cp "$NM/reveal.js/dist/theme/white.css" "$OUT/reveal/theme/"
  cp "$NM/reveal.js/dist/plugin/notes.js" "$OUT/reveal/" 2>/dev/null || true
fi

# Our two fixes for RequireJS font paths and the MathJax 2 API used by widget labels.
cp tools/widgets-offline.js "$OUT/widgets-offline.js"
# The book's accessibility overrides of the theme (_config.yml html_css_files / html_js_files).
cp tools/a11y.css tools/a11y.js "$OUT/"

echo "vendor-assets: $(du -sh "$OUT" | cut -f1) in $OUT/ (mathjax $(node -p "require('./$NM/mathjax/package.json').version"), requirejs $(node -p "require('./$NM/requirejs/package.json').version"), html-manager $(node -p "require('./$NM/@jupyter-widgets/html-manager/package.json').version"), reveal.js $(node -p "require('./$NM/reveal.js/package.json').version"))"
