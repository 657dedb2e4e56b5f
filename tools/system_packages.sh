#!/usr/bin/env bash
# Debian packages the checks need, installed with apt-get when missing (needs root; on CI it is):
#   bash tools/system_packages.sh [browser] [tex]     (default: both)
#   browser  chromium                (tools/browser_check.mjs, tools/lab_check.mjs, the slides check)
#   tex      xelatex, latexmk, the LaTeX packages Sphinx's LaTeX writer uses, DejaVu fonts, pdftotext
#            (tools/build_pdf.sh)
# The test command runs it in the background during pytest, so a fresh CI machine downloads while the tests run
# (apt-get calls run one after another: dpkg allows one at a time). Prints what it did.
set -euo pipefail
want=("$@"); [ ${#want[@]} -eq 0 ] && want=(browser tex)
missing=(); browser=(); tex=()
for group in "${want[@]}"; do
  case "$group" in
    browser) [ -x /usr/bin/chromium ] || browser=(chromium) ;;
    tex) if ! command -v xelatex >/dev/null || ! command -v latexmk >/dev/null \
            || ! kpsewhich fncychap.sty >/dev/null 2>&1 || ! command -v pdftotext >/dev/null; then
           tex=(texlive-xetex texlive-latex-extra texlive-fonts-recommended latexmk fonts-dejavu-core poppler-utils)
         fi ;;
    *) echo "system_packages: unknown group '$group' (use browser, tex)" >&2; exit 2 ;;
  esac
done
missing=("${browser[@]}" "${tex[@]}")
if [ ${#missing[@]} -eq 0 ]; then
  echo "system_packages: ${want[*]}: already installed"
  exit 0
fi
echo "system_packages: installing ${missing[*]}"
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "system_packages: cannot install (needs root and apt-get); install these yourself: ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
export DEBIAN_FRONTEND=noninteractive
# chromium with its recommended fonts and libraries; TeX without the recommends (hundreds of MB of documentation)
[ ${#browser[@]} -eq 0 ] || apt-get install -y -qq "${browser[@]}" >/dev/null
[ ${#tex[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${tex[@]}" >/dev/null
echo "system_packages: installed ${missing[*]}"
