"""Build the lecture slides: one offline reveal.js deck per lecture, ``_build/slides/lecture-N.html``.

Usage (normally through ``bash tools/build_slides.sh``)::

    python tools/build_slides.py [--out _build/slides] [--only 1 3]

Sources are ``book/slides/lecture-N.md``: a YAML header between ``---`` lines (``title``, ``minutes``, ``chapters``),
then slides separated by lines holding only ``---``. Slide text is Markdown with ``$...$`` / ``$$...$$`` math. A
figure of the book is placed with ``![alt text](figure:ch3.headline)`` (a name from ``python -m attnbook figures
--list``); the image is rendered by the same figure function the chapter uses, so slides and book cannot drift.
Every figure must be followed by a paragraph starting ``**What to see:**``. Speaker notes go after a line
``Note:`` at the end of a slide.

MathJax and reveal.js are served from ``_build/slides/_vendor/`` (copied from ``_vendor/``, which ``npm ci``
fills), so the decks render with no network.
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "book" / "slides"
VENDOR = ROOT / "_vendor"
FIGURE_RE = re.compile(r"!\[([^\]]*)\]\(figure:([A-Za-z0-9_.]+)\)")
LABEL_RE = re.compile(r"\{([a-z0-9]+-ex-[a-z0-9-]+)\}")   # {ch3-ex-swap}: an exercise of the book, by label


def exercise_pages() -> dict[str, str]:
    """Exercise label -> the book page that holds it (from the ``:label:`` lines of book/*.md)."""
    out = {}
    for page in sorted((ROOT / "book").glob("*.md")):
        for label in re.findall(r"^:label: (\S+-ex-\S+)$", page.read_text(), re.M):
            out[label] = page.stem
    return out

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="icon" href="data:,">
<title>{title}</title>
<link rel="stylesheet" href="_vendor/reveal/reset.css">
<link rel="stylesheet" href="_vendor/reveal/reveal.css">
<link rel="stylesheet" href="_vendor/reveal/theme/white.css">
<style>
  /* WCAG 2.5.8 target size: reveal.js's slide-number link is ~12 px tall and sits against the arrows; 24 px, at left */
  .reveal .slide-number {{ right: auto; left: 8px; }}
  .reveal .slide-number a {{ display: inline-block; min-width: 24px; min-height: 24px; line-height: 24px; }}
  /* WCAG 1.4.3: reveal.js draws the number white on rgba(0,0,0,.4), 2.8:1 on a white slide (axe flags it once the
     number has two digits, in a deck of ten slides or more); .75 gives 10:1 */
  .reveal .slide-number {{ background-color: rgba(0, 0, 0, 0.75); }}
  .reveal {{ font-size: 30px; }}
  .reveal h1 {{ font-size: 1.7em; }} .reveal h2 {{ font-size: 1.25em; }}
  .reveal section img {{ max-height: 440px; margin: 0.2em auto; border: 0; box-shadow: none; }}
  .reveal .what-to-see {{ font-size: 0.75em; color: #333; }}
  .reveal .statement {{ border-left: 6px solid #0072B2; padding: 0.3em 0.8em; background: #f2f7fb; text-align: left; }}
  .reveal .footer {{ position: absolute; bottom: -1.5em; right: 0; font-size: 0.5em; color: #888; }}
  .reveal ul, .reveal ol {{ display: block; }}
  .reveal p, .reveal li {{ line-height: 1.3; }}
</style>
<script>
window.MathJax = {{
  tex: {{ inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]] }},
  options: {{ skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code"] }}
}};
</script>
<script src="_vendor/mathjax/tex-mml-chtml.js"></script>
</head>
<body>
<div class="reveal"><div class="slides">
{slides}
</div></div>
<script src="_vendor/reveal/reveal.js"></script>
<script src="_vendor/reveal/notes.js"></script>
<script>
Reveal.initialize({{ hash: true, slideNumber: "c/t", width: 1280, height: 800, margin: 0.04,
                    plugins: [RevealNotes] }});
</script>
</body>
</html>
"""


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable("table").use(dollarmath_plugin, double_inline=True)
    # Math stays as TeX for MathJax, in \( \) / \[ \] delimiters (HTML-escaped like any text).
    md.add_render_rule("math_inline", lambda self, tokens, idx, options, env:
                       "\\(" + html.escape(tokens[idx].content) + "\\)")
    md.add_render_rule("math_inline_double", lambda self, tokens, idx, options, env:
                       "\\[" + html.escape(tokens[idx].content) + "\\]")
    md.add_render_rule("math_block", lambda self, tokens, idx, options, env:
                       "<p>\\[" + html.escape(tokens[idx].content) + "\\]</p>\n")
    return md


def parse_source(path: Path) -> tuple[dict, list[str]]:
    """Header and slide texts of one lecture source."""
    text = path.read_text()
    m = re.match(r"---\n(.*?)\n---\n(.*)", text, re.S)
    if not m:
        raise ValueError(f"{path}: expected a YAML header between '---' lines at the top")
    header = yaml.safe_load(m.group(1))
    for key in ("title", "minutes", "chapters"):
        if key not in header:
            raise ValueError(f"{path}: header lacks '{key}'")
    slides = [s.strip() for s in re.split(r"\n---[ \t]*\n", m.group(2)) if s.strip()]
    return header, slides


def figures_used(slides: list[str]) -> list[str]:
    return [name for s in slides for _, name in FIGURE_RE.findall(s)]


def check_slide(path: Path, number: int, text: str) -> None:
    """Every figure needs a 'What to see' line on the same slide."""
    if FIGURE_RE.search(text) and "**What to see:**" not in text:
        raise ValueError(f"{path}: slide {number} shows a figure without a '**What to see:**' line")


def link_exercises(text: str, pages: dict[str, str], where: str) -> str:
    """``{label}`` -> a link to the exercise in the built book (``_build/html``, a sibling of ``_build/slides``)."""
    def link(m: re.Match) -> str:
        label = m.group(1)
        if label not in pages:
            raise ValueError(f"{where}: no exercise labelled {label!r} in book/*.md")
        return f"[{label}](../html/book/{pages[label]}.html#{label})"
    return LABEL_RE.sub(link, text)


def render_slide(md: MarkdownIt, text: str) -> str:
    body, _, notes = text.partition("\nNote:")
    body = FIGURE_RE.sub(lambda m: f'<img src="figures/{m.group(2)}.png" alt="{html.escape(m.group(1))}">', body)
    out = md.render(body)
    out = out.replace("<p><strong>What to see:</strong>", '<p class="what-to-see"><strong>What to see:</strong>')
    out = re.sub(r"<blockquote>\s*", '<div class="statement">', out).replace("</blockquote>", "</div>")
    if notes.strip():
        out += f'<aside class="notes">{md.render(notes)}</aside>'
    return f"<section>\n{out}</section>"


def render_figures(names: list[str], outdir: Path) -> None:
    """Render the named book figures to ``outdir/<name>.png`` with the book's own figure functions."""
    sys.path.insert(0, str(ROOT))
    from attnbook import plots
    from attnbook.figures import registry, render_figure

    unknown = sorted(set(names) - set(registry()))
    if unknown:
        raise ValueError(f"unknown figure names {unknown}; see python -m attnbook figures --list")
    outdir.mkdir(parents=True, exist_ok=True)
    plots.use_book_style()
    for name in dict.fromkeys(names):
        render_figure(name, outdir / f"{name}.png", dpi=130)
        print(f"build_slides: figure {name}")


def build(out: Path, only: list[int] | None = None) -> list[Path]:
    sources = sorted(SOURCES.glob("lecture-*.md"), key=lambda p: int(re.findall(r"\d+", p.stem)[0]))
    if only:
        sources = [p for p in sources if int(re.findall(r"\d+", p.stem)[0]) in only]
    if not sources:
        raise SystemExit(f"build_slides: no lecture sources in {SOURCES}")
    if not (VENDOR / "reveal" / "reveal.js").exists() or not (VENDOR / "mathjax").exists():
        raise SystemExit("build_slides: _vendor/reveal or _vendor/mathjax missing (run npm ci)")
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("reveal", "mathjax"):
        shutil.copytree(VENDOR / sub, out / "_vendor" / sub, dirs_exist_ok=True)
    md = _markdown()
    pages = exercise_pages()
    decks, names = [], []
    for path in sources:
        header, slides = parse_source(path)
        for i, s in enumerate(slides, 1):
            check_slide(path, i, s)
        names += figures_used(slides)
        html_slides = "\n".join(render_slide(md, link_exercises(s, pages, f"{path.name} slide {i}"))
                                for i, s in enumerate(slides, 1))
        target = out / f"{path.stem}.html"
        target.write_text(TEMPLATE.format(title=html.escape(header["title"]), slides=html_slides))
        decks.append(target)
        print(f"build_slides: {target.relative_to(ROOT)} ({len(slides)} slides, {header['minutes']} min)")
    render_figures(names, out / "figures")
    return decks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "_build" / "slides"))
    ap.add_argument("--only", type=int, nargs="+", help="lecture numbers to build")
    args = ap.parse_args(argv)
    build(Path(args.out), args.only)


if __name__ == "__main__":
    main()
