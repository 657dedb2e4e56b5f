"""Checks that the book's PDF prints right: what ``tools/build_pdf.sh`` runs on every PDF it writes.

    python tools/pdf_checks.py LATEX_LOG PDF [--max-overfull 5] [--min-ppi 300]

Fails (exit 1, one line per finding) when

* the LaTeX log has a ``Missing character: There is no ... in font ...``: xelatex drops a glyph that the font lacks
  and carries on, so the PDF silently misses it (the set-minus of Assumption 4, the ℓ of "the ℓ1 norm");
* the PDF's text has ``??`` (an unresolved reference or citation), or the log an undefined reference, hyperlink
  target or citation (a ``\\hyperref`` to a missing label prints its text and links nowhere: no "??" shows it);
* the log has more than ``--max-overfull`` overfull hboxes (text running into the margin; an overfull vbox, a page
  a few points too full, is not counted);
* an image in the PDF is a raster of fewer than ``--min-ppi`` pixels per inch as placed on the page
  (``pdfimages -list``; vector figures have no raster at all).

The functions are the checks, each on a text (the log, ``pdftotext``'s output, ``pdfimages -list``'s output), so the
tests feed them synthetic logs (``tests/book/test_pdf_tools.py``).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: TeX wraps its log at this many characters per line (``max_print_line``; build_pdf.sh raises it, but a log
#: written with the default must still be read right).
TEX_LOG_WIDTH = 79
MAX_OVERFULL = 5
MIN_PPI = 300.0

_MISSING = re.compile(r"Missing character: There is no (.+?) \((U\+[0-9A-Fa-f]{4,6})\) in font (.+?)!")
_UNDEFINED = re.compile(r"LaTeX Warning: (Hyper reference|Reference|Citation) [`'](.+?)' on page (\d+) undefined")
_OVERFULL = re.compile(r"^Overfull \\hbox \((.+?)\) (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    """One thing that does not print right: which check found it and where."""

    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


def unwrap_log(log: str) -> str:
    """The log with TeX's hard line wrapping undone (a line of exactly :data:`TEX_LOG_WIDTH` characters continues)."""
    out, pending = [], ""
    for line in log.splitlines():
        if len(line) == TEX_LOG_WIDTH:
            pending += line
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return "\n".join(out)


def missing_characters(log: str) -> list[Finding]:
    """Every ``Missing character`` of the log: the glyph, its code point and the font that lacks it."""
    return [Finding("missing character", f"{m.group(1)} ({m.group(2)}) in font {m.group(3)}")
            for m in _MISSING.finditer(unwrap_log(log))]


def unresolved_references(log: str, pdf_text: str) -> list[Finding]:
    """Undefined references and citations in the log, and ``??`` in the PDF's text."""
    found = [Finding(f"undefined {m.group(1).lower()}", f"{m.group(2)} (page {m.group(3)})")
             for m in _UNDEFINED.finditer(unwrap_log(log))]
    found += [Finding("'??' in the text", f"line {n}: {line.strip()[:100]}")
              for n, line in enumerate(pdf_text.splitlines(), 1) if "??" in line]
    return found


def overfull_boxes(log: str) -> list[Finding]:
    """Every overfull hbox of the log (text wider than its line), with its size and where in the .tex it is."""
    return [Finding("overfull box", f"{m.group(1)} {m.group(2)}") for m in _OVERFULL.finditer(unwrap_log(log))]


def low_resolution_images(pdfimages_list: str, min_ppi: float = MIN_PPI) -> list[Finding]:
    """Raster images below ``min_ppi`` in ``pdfimages -list`` output (soft masks and stencils are not pictures)."""
    lines = pdfimages_list.splitlines()
    if not lines:
        return []
    header = lines[0].split()
    if "x-ppi" not in header or "type" not in header:
        raise ValueError(f"low_resolution_images: expected the header of `pdfimages -list`, got {lines[0]!r}")
    col = {name: header.index(name) for name in ("page", "type", "width", "height", "x-ppi", "y-ppi")}
    found = []
    for line in lines[2:]:  # the header and its dashes
        cells = line.split()
        if len(cells) < len(header) or cells[col["type"]] != "image":
            continue
        ppi = min(float(cells[col["x-ppi"]]), float(cells[col["y-ppi"]]))
        if ppi < min_ppi:
            found.append(Finding("low-resolution image", f"page {cells[col['page']]}: {cells[col['width']]}x"
                                 f"{cells[col['height']]} px at {ppi:.0f} ppi (at least {min_ppi:.0f})"))
    return found


def check(log: str, pdf_text: str, pdfimages_list: str, *, max_overfull: int = MAX_OVERFULL,
          min_ppi: float = MIN_PPI) -> list[Finding]:
    """Every finding of the four checks; the overfull boxes only when there are more than ``max_overfull``."""
    found = missing_characters(log) + unresolved_references(log, pdf_text)
    overfull = overfull_boxes(log)
    if len(overfull) > max_overfull:
        found += overfull + [Finding("overfull boxes", f"{len(overfull)}, at most {max_overfull} allowed")]
    return found + low_resolution_images(pdfimages_list, min_ppi)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="the LaTeX log (_build/pdf-src/_build/latex/book.log)")
    parser.add_argument("pdf", type=Path, help="the PDF")
    parser.add_argument("--max-overfull", type=int, default=MAX_OVERFULL)
    parser.add_argument("--min-ppi", type=float, default=MIN_PPI)
    args = parser.parse_args(argv)
    for path in (args.log, args.pdf):
        if not path.is_file():
            parser.error(f"no such file: {path}")
    log = args.log.read_text(encoding="utf-8", errors="replace")
    text = subprocess.run(["pdftotext", str(args.pdf), "-"], check=True, capture_output=True, text=True).stdout
    images = subprocess.run(["pdfimages", "-list", str(args.pdf)], check=True, capture_output=True, text=True).stdout
    found = check(log, text, images, max_overfull=args.max_overfull, min_ppi=args.min_ppi)
    n_overfull = len(overfull_boxes(log))
    for f in found:
        print(f"pdf_checks: {f}", file=sys.stderr)
    print(f"pdf_checks: {args.pdf.name}: {len(missing_characters(log))} missing characters, {n_overfull} overfull "
          f"boxes (at most {args.max_overfull}), {len(unresolved_references(log, text))} unresolved references, "
          f"{len(low_resolution_images(images, args.min_ppi))} images under {args.min_ppi:.0f} ppi"
          + (" -> FAILED" if found else " -> ok"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
