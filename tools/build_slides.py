"""Build the lecture slides: one offline reveal.js deck per lecture, ``_build/slides/lecture-N.html``.

Usage (normally through ``bash tools/build_slides.sh``)::

    python tools/build_slides.py [--out _build/slides] [--only 1 3]

Sources are ``book/slides/lecture-N.md``: a YAML header between ``---`` lines (``title``, ``minutes``, ``chapters``),
then slides separated by lines holding only ``---``. Slide text is Markdown with ``$...$`` / ``$$...$$`` math.

- **Build-ups.** A line holding only ``++`` splits a slide into steps: what follows it appears on the next click
  (a reveal.js fragment), so a derivation can be built up line by line.
- **Speaker notes** go after a line ``Note:`` at the end of *every* slide and start with the slide's place in the
  lecture's clock, ``**12–16 min.**`` (minutes from the start): the slides of a deck must cover 0 to ``minutes``
  without gap or overlap (:func:`check_timing`). reveal.js shows them in the speaker view (key ``S``).
- **Figures.** ``![alt text](figure:ch3.headline)`` places a figure of the book (a name from ``python -m attnbook
  figures --list``), drawn by the book's own figure function (so slides and book cannot drift) and then fitted to
  the slide: the figure is made smaller in inches, never its text, until every label is at least
  :data:`MIN_LABEL_PX` pixels high on the 1280×720 slide (:func:`render_slide_figure`). Every figure must be
  followed by a paragraph starting ``**What to see:**``. A figure too dense for a slide as the book draws it has
  slide versions, one panel each, drawn by the book's own panel code from the same results (``figure:ch6.gd.error``,
  a name from ``attnbook.figures.slide_registry()``); :data:`SLIDE_EXEMPT` lists the figures of a lecture's
  chapters that have no slide, each with its reason.
- **Values.** ``{value:ch6-gds-f5-3}`` is replaced by the text ``attnbook.figures.slides.SLIDE_VALUES`` computes
  for it from the book's experiments (and studies artifact), so a number on a slide is never typed by hand; a value
  whose slide states an outcome in words asserts that outcome, and the build fails if it is false.
- **Exercises** are named as the book numbers them: ``{ch4-ex-omega}`` becomes "Exercise 4.2", linked to the
  exercise in the published book (:func:`exercise_numbers`, :func:`published_url`).
- **Links into the book**: ``[chapter 4](book:ch4_kkt)`` or ``[the rate](book:ch4_kkt#ch4-rate)`` become links to
  the published book, whose address comes from ``_config.yml`` (``html.baseurl`` if set, else the GitHub Pages
  address of ``repository.url``). A relative link is refused: it would be dead once the decks are copied.

MathJax and reveal.js are served from ``_build/slides/_vendor/`` (copied from ``_vendor/``, which ``npm ci``
fills), so the decks render with no network.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "book" / "slides"
VENDOR = ROOT / "_vendor"
FIGURE_RE = re.compile(r"!\[([^\]]*)\]\(figure:([A-Za-z0-9_.]+)\)")
VALUE_RE = re.compile(r"\{value:([A-Za-z0-9_.-]+)\}")  # {value:ch6-gds-f5-3}: a computed value, by name
LABEL_RE = re.compile(r"\{([a-z0-9]+-ex-[a-z0-9-]+)\}")   # {ch3-ex-swap}: an exercise of the book, by label
BOOK_LINK_RE = re.compile(r"\]\(book:([A-Za-z0-9_]+)(?:#([A-Za-z0-9_-]+))?\)")   # [text](book:ch4_kkt#anchor)
TIMING_RE = re.compile(r"^\*\*(\d+)–(\d+) min\.?\*\*")   # a note's first words: **12–16 min.**
FRAGMENT_RE = re.compile(r"\n\+\+[ \t]*\n")              # a line holding only ++: the next build-up step

#: Slide size (CSS pixels) of every deck: reveal.js scales the slide to the screen, 1:1 on a 1280×720 projector.
SLIDE_W, SLIDE_H = 1280, 720
#: The box a figure is fitted into on a slide (CSS pixels at 1280×720), below a title, above a "What to see" line.
FIGURE_BOX = (1180, 430)
#: The smallest text of a figure, in pixels on the 1280×720 slide: legible from the back of a hall.
MIN_LABEL_PX = 18.0


#: Figures the chapters of a lecture show that its deck does not, each with the reason (checked by
#: tests/book/test_slides.py: a figure a lecture's chapters show is on a slide of that lecture, or listed here).
_WIDGET = "an interactive widget (sliders over precomputed frames): a slide would freeze one frame; shown on the book page, "
SLIDE_EXEMPT: dict[str, str] = {
    "ch1.direction_widget": _WIDGET + "section 'Widget: move W along a direction'",
    "ch2.peers_widget": _WIDGET + "section 'Widget: seed and size'",
    "ch3.widget": _WIDGET + "section 'Widget: initial scale omega_0 and time'",
    "ch5.misaligned_frame": _WIDGET + "section 'Widget: misalignment angle and initialization scale'",
    "ch6.sv_at": _WIDGET + "section 'Widget: the singular values at a chosen time'",
    "ch1.mirror_pair": "drawn in the folded solution of a chapter-1 exercise: a slide would show the answer",
}


def chapter_figures(stem: str) -> list[str]:
    """The book's figures (names of ``attnbook.figures.registry()``) that page ``book/<stem>.md`` shows, in order: every
    ``<alias>.fig_<name>`` of a module imported as ``from attnbook.figures import <module> as <alias>``."""
    sys.path.insert(0, str(ROOT))
    from attnbook.figures import registry

    names = registry()
    text = (ROOT / "book" / f"{stem}.md").read_text()
    aliases = {alias: module for module, alias in re.findall(r"from attnbook\.figures import (\w+) as (\w+)", text)}
    shown = [f"{aliases[a]}.{f}" for a, f in re.findall(r"\b(\w+)\.fig_(\w+)", text) if a in aliases]
    return [n for n in dict.fromkeys(shown) if n in names]


def book_figure(name: str) -> str:
    """The book figure a slide's figure stands for: itself, or for a slide version ``ch6.gd.error`` its ``ch6.gd``."""
    return ".".join(name.split(".")[:2])


def toc_pages() -> tuple[list[str], list[str]]:
    """Pages of the book in ``_toc.yml`` order (``book/<stem>`` -> stem): all of them, and the numbered chapters."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages, numbered = [], []
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            stem = Path(chapter["file"]).name
            pages.append(stem)
            if part.get("numbered"):
                numbered.append(stem)
    return [Path(toc["root"]).name] + pages, numbered


def exercise_pages() -> dict[str, str]:
    """Exercise label -> the book page that holds it (from the ``:label:`` lines of book/*.md)."""
    return {label: page for label, (page, _) in exercise_numbers().items()}


def exercise_numbers() -> dict[str, tuple[str, str]]:
    """Exercise label -> (page, name as the book prints it), e.g. ``"ch4-ex-omega" -> ("ch4_kkt", "Exercise 4.2")``.

    The book numbers exercises as Sphinx numbers figures with ``numfig_secnum_depth: 1`` (``_config.yml``): in a
    numbered chapter, chapter number then position in the chapter ("Exercise 4.2"); on an unnumbered page,
    position only ("Exercise 1"). The chapter number is the chapter's place in the numbered part of ``_toc.yml``.
    An exercise with ``:nonumber:`` (the course's projects) takes no number and is named by its title up to the
    first colon ("Project 1").
    """
    _, numbered = toc_pages()
    out = {}
    for page in sorted((ROOT / "book").glob("*.md")):
        prefix = f"{numbered.index(page.stem) + 1}." if page.stem in numbered else ""
        k = 0
        for title, options in re.findall(r"^:{3,}\{exercise\}(.*)\n((?::[a-z-]+:.*\n)*)", page.read_text(), re.M):
            label = re.search(r"^:label: (\S+)$", options, re.M)
            if re.search(r"^:nonumber:", options, re.M):  # e.g. the course's projects: named by their title
                if label:
                    out[label.group(1)] = (page.stem, title.replace("★", "").strip().split(":")[0])
                continue
            k += 1
            if label:
                out[label.group(1)] = (page.stem, f"Exercise {prefix}{k}")
    return out


def published_url() -> str:
    """The published book's address, with a trailing slash (:func:`attnbook.student.published_url` of this
    repository's ``_config.yml``): where slide links and hand-outs point."""
    from attnbook.student import published_url as book_url

    return book_url(ROOT)


def page_anchors(stem: str) -> set[str]:
    """Targets a link into page ``book/<stem>.md`` may name: its ``(target)=`` lines and ``:label:`` options."""
    text = (ROOT / "book" / f"{stem}.md").read_text()
    return set(re.findall(r"^\(([A-Za-z0-9_-]+)\)=$", text, re.M)) | set(re.findall(r"^:label: (\S+)$", text, re.M))


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
  .reveal {{ font-size: 28px; }}
  .reveal .slides section {{ padding: 0 24px; box-sizing: border-box; }}
  .reveal h1 {{ font-size: 1.7em; }} .reveal h2 {{ font-size: 1.3em; margin-bottom: 0.4em; }}
  /* figures carry their own size (tools/build_slides.py fits them into the slide so labels stay >= 18 px) */
  .reveal section img {{ margin: 0.1em auto; border: 0; box-shadow: none; max-width: none; max-height: none; }}
  .reveal .what-to-see {{ font-size: 0.8em; color: #222; margin-top: 0.2em; }}
  .reveal .statement {{ border-left: 6px solid #0072B2; padding: 0.3em 0.8em; background: #f2f7fb; text-align: left; }}
  .reveal .exercise {{ border-left: 6px solid #009E73; padding: 0.3em 0.8em; background: #effaf6; text-align: left; }}
  .reveal ul, .reveal ol {{ display: block; }}
  .reveal p, .reveal li {{ line-height: 1.3; }}
  .reveal table {{ font-size: 0.85em; }}
  .reveal a {{ color: #005A8C; text-decoration: underline; }}   /* WCAG 1.4.1: a link is not told by colour alone */
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
Reveal.initialize({{ hash: true, slideNumber: "c/t", width: {width}, height: {height}, margin: 0,
                    center: false, plugins: [RevealNotes] }});
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


def values_used(slides: list[str]) -> list[str]:
    """The names of the computed values the slides quote (``{value:name}``), in order, without repeats."""
    return list(dict.fromkeys(name for s in slides for name in VALUE_RE.findall(s)))


def fill_values(text: str, values: dict[str, str], where: str) -> str:
    """``{value:name}`` -> ``values[name]``; refuses a name ``values`` does not hold."""
    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ValueError(f"{where}: no value named {m.group(1)!r} (attnbook.figures.slides.SLIDE_VALUES)")
        return values[m.group(1)]
    return VALUE_RE.sub(fill, text)


def value_names() -> list[str]:
    """The names of every value a slide may quote (``attnbook.figures.slides.SLIDE_VALUES``), without computing any."""
    sys.path.insert(0, str(ROOT))
    from attnbook.figures.slides import SLIDE_VALUES

    return list(SLIDE_VALUES)


def compute_values(names: list[str]) -> dict[str, str]:
    """The texts of the named values, computed by ``attnbook.figures.slides`` from the book's results."""
    sys.path.insert(0, str(ROOT))
    from attnbook.figures.slides import slide_values

    return slide_values(names)


def split_notes(text: str) -> tuple[str, str]:
    """A slide's body and its speaker notes (``""`` when it has none)."""
    body, _, notes = text.partition("\nNote:")
    return body, notes.strip()


def check_slide(path: Path, number: int, text: str) -> None:
    """Every figure needs a 'What to see' line on the same slide; every slide needs speaker notes that start with its
    minutes in the lecture (``**12–16 min.**``)."""
    body, notes = split_notes(text)
    if FIGURE_RE.search(body) and "**What to see:**" not in body:
        raise ValueError(f"{path}: slide {number} shows a figure without a '**What to see:**' line")
    if not notes:
        raise ValueError(f"{path}: slide {number} has no speaker notes (a line 'Note:' and what to say)")
    if not TIMING_RE.match(notes):
        raise ValueError(f"{path}: slide {number}'s notes must start with its minutes, e.g. '**12–16 min.**'; "
                         f"got {notes[:30]!r}")


def timing(slides: list[str]) -> list[tuple[int, int]]:
    """The (start, end) minutes of every slide, from the first words of its notes."""
    out = []
    for s in slides:
        m = TIMING_RE.match(split_notes(s)[1])
        out.append((int(m.group(1)), int(m.group(2))) if m else (-1, -1))
    return out


def check_timing(path: Path, slides: list[str], minutes: int) -> None:
    """The slides' minutes run from 0 to the lecture's length, each slide starting where the one before ends."""
    clock = 0
    for number, (start, end) in enumerate(timing(slides), 1):
        if start != clock or end < start:
            raise ValueError(f"{path}: slide {number} runs {start}–{end} min; expected it to start at {clock} "
                             f"(each slide starts where the one before ends) and not end before it starts")
        clock = end
    if clock != minutes:
        raise ValueError(f"{path}: the slides' minutes end at {clock}; expected the lecture's {minutes}")


def link_exercises(text: str, numbers: dict[str, tuple[str, str]], where: str, base: str) -> str:
    """``{label}`` -> "Exercise C.K", linked to the exercise in the published book at ``base``."""
    def link(m: re.Match) -> str:
        label = m.group(1)
        if label not in numbers:
            raise ValueError(f"{where}: no exercise labelled {label!r} in book/*.md")
        page, name = numbers[label]
        return f"[{name}]({base}book/{page}.html#{label})"
    return LABEL_RE.sub(link, text)


def link_book(text: str, base: str, where: str) -> str:
    """``](book:page#anchor)`` -> a link to the published book; refuses a page or anchor the book does not have, and
    any other relative link (dead once the decks are copied)."""
    pages, _ = toc_pages()

    def link(m: re.Match) -> str:
        page, anchor = m.group(1), m.group(2)
        if page not in pages:
            raise ValueError(f"{where}: book:{page} is not a page of the book (_toc.yml); expected one of {pages}")
        if anchor and anchor not in page_anchors(page):
            raise ValueError(f"{where}: book:{page}#{anchor}: no target {anchor!r} in book/{page}.md")
        return f"]({base}book/{page}.html" + (f"#{anchor}" if anchor else "") + ")"
    text = BOOK_LINK_RE.sub(link, text)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"(https?://|mailto:|#|figure:)", target):
            raise ValueError(f"{where}: relative link {target!r}; link into the book with (book:page#anchor)")
    return text


def render_slide(md: MarkdownIt, text: str, sizes: dict[str, tuple[int, int]] | None = None) -> str:
    """One ``<section>``: the body in build-up steps (``++``), figures at their slide size, the notes aside."""
    body, notes = split_notes("\n" + text)
    sizes = sizes or {}

    def img(m: re.Match) -> str:
        w, h = sizes.get(m.group(2), (None, None))
        size = f' width="{w}" height="{h}"' if w else ""
        return f'<img src="figures/{m.group(2)}.png" alt="{html.escape(m.group(1))}"{size}>'
    steps = FRAGMENT_RE.split(FIGURE_RE.sub(img, body))
    out = md.render(steps[0]) + "".join(f'<div class="fragment">\n{md.render(s)}</div>\n' for s in steps[1:])
    out = out.replace("<p><strong>What to see:</strong>", '<p class="what-to-see"><strong>What to see:</strong>')
    out = re.sub(r"<blockquote>\s*<p><strong>(Exercise|In class)",
                 r'<div class="exercise"><p><strong>\1', out)
    out = re.sub(r"<blockquote>\s*", '<div class="statement">', out).replace("</blockquote>", "</div>")
    if notes:
        out += f'<aside class="notes">{md.render(notes)}</aside>'
    return f"<section>\n{out}</section>"


@dataclass(frozen=True)
class SlideFigure:
    """A book figure as placed on a slide.

    Attributes
    ----------
    name : str
        The figure's name in ``attnbook.figures.registry()``.
    width, height : int
        Its size on the 1280×720 slide, CSS pixels.
    min_label_px : float
        Its smallest text on the slide, pixels.
    shrink : float
        How much smaller (in inches) than in the book it was drawn to get there (1 = as in the book).
    """

    name: str
    width: int
    height: int
    min_label_px: float
    shrink: float


def _texts(fig) -> list:
    """Every visible, non-empty text of a drawn figure (titles, labels, tick labels, legends, annotations)."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
            and (t.axes is None or t.axes.get_visible())]


def _tight_inches(fig) -> tuple[float, float]:
    """The figure's size in inches as ``savefig(bbox_inches="tight")`` writes it."""
    import matplotlib as mpl

    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(mpl.rcParams["savefig.pad_inches"])
    return bbox.width, bbox.height


def render_slide_figure(name: str, path: Path, box: tuple[int, int] = FIGURE_BOX,
                        min_label_px: float = MIN_LABEL_PX) -> SlideFigure:
    """Draw the book's figure ``name`` (or a slide version of one, ``attnbook.figures.slide_registry()``) with its own
    figure function and save it as a PNG fitted to ``box``.

    The figure keeps its drawing and its fonts (in points); it is made smaller in inches, so that its text becomes
    larger relative to it, until its smallest text is ``min_label_px`` pixels high once the image is scaled into
    ``box`` (width, height in CSS pixels of the 1280×720 slide). The PNG has twice the pixels of its place on the
    slide. A figure whose layout stops shrinking first (constrained layout keeps a minimum height) is tried
    in a box 40, then 80 pixels taller.

    Raises
    ------
    ValueError
        If ``name`` is not a figure of the book or a slide version of one, or its smallest label cannot reach ``min_label_px`` (the figure would
        have to shrink below a third of its size in the book).
    """
    sys.path.insert(0, str(ROOT))
    from attnbook.figures import registry, slide_registry

    figures = {**registry(), **slide_registry()}
    if name not in figures:
        raise ValueError(f"name must be a figure of the book (python -m attnbook figures --list) or a slide version "
                         f"of one (attnbook.figures.slide_registry()); got {name!r}")
    error = None
    for height in (box[1], box[1] + 40, box[1] + 80):   # a figure whose layout stops shrinking gets a taller place
        try:
            return _fit(name, figures[name], path, (box[0], height), min_label_px)
        except ValueError as exc:
            error = exc
    raise error


def _fit(name: str, draw, path: Path, box: tuple[int, int], min_label_px: float) -> SlideFigure:
    """:func:`render_slide_figure` for one box."""
    import matplotlib.pyplot as plt

    fig = draw()
    if not hasattr(fig.canvas, "get_renderer"):   # a Figure() made without pyplot: give it a raster canvas
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
    try:
        w0, h0 = fig.get_size_inches()
        shrink = 1.0
        for _ in range(20):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fig.canvas.draw()
            if any("constrained_layout not applied" in str(w.message) for w in caught):
                raise ValueError(f"figure {name}: its layout collapses when drawn at {shrink:.2f}× its size for a "
                                 f"{box[0]}×{box[1]} px place; too much text for a slide")
            w_in, h_in = _tight_inches(fig)
            w_px = min(box[0], box[1] * w_in / h_in)            # the image's width on the slide
            px_per_pt = w_px / w_in / 72.0
            smallest = min(t.get_fontsize() for t in _texts(fig)) * px_per_pt
            if smallest >= min_label_px:
                break
            shrink *= min((smallest / min_label_px) ** 1.5, 0.97)
            if shrink < 1 / 3:
                raise ValueError(f"figure {name}: its smallest label cannot reach {min_label_px} px on a slide")
            fig.set_size_inches(w0 * shrink, h0 * shrink)
        else:
            raise ValueError(f"figure {name}: its smallest label stays at {smallest:.1f} px < {min_label_px} px")
        h_px = w_px * h_in / w_in
        with warnings.catch_warnings(record=True) as caught:   # savefig draws again, at its own dpi
            warnings.simplefilter("always")
            fig.savefig(path, dpi=2 * w_px / w_in, bbox_inches="tight")
        if any("constrained_layout not applied" in str(w.message) for w in caught):
            raise ValueError(f"figure {name}: its layout collapses when saved at {shrink:.2f}× its size for a "
                             f"{box[0]}×{box[1]} px place; too much text for a slide")
    finally:
        plt.close(fig)
    return SlideFigure(name, round(w_px), round(h_px), round(smallest, 2), round(shrink, 3))


def render_figures(names: list[str], outdir: Path) -> dict[str, SlideFigure]:
    """Render the named book figures to ``outdir/<name>.png`` for the slides (:func:`render_slide_figure`) and write
    their slide sizes and smallest labels to ``outdir/manifest.json``."""
    sys.path.insert(0, str(ROOT))
    from attnbook import plots

    outdir.mkdir(parents=True, exist_ok=True)
    plots.use_book_style()
    done = {}
    for name in dict.fromkeys(names):
        done[name] = render_slide_figure(name, outdir / f"{name}.png")
        f = done[name]
        print(f"build_slides: figure {name} {f.width}×{f.height} px, smallest label {f.min_label_px} px "
              f"(drawn at {f.shrink:.2f}× {'its' if name.count('.') == 2 else 'the book' + chr(39) + 's'} size)")
    (outdir / "manifest.json").write_text(json.dumps({n: vars(f) for n, f in done.items()}, indent=1) + "\n")
    return done


def deck_html(path: Path, md: MarkdownIt | None = None, sizes: dict[str, tuple[int, int]] | None = None,
              values: dict[str, str] | None = None) -> str:
    """The deck of one lecture source as HTML (after every check of the source); ``values`` (default: computed by
    :func:`compute_values`) fills its ``{value:name}`` places."""
    md = md or _markdown()
    header, slides = parse_source(path)
    numbers, base = exercise_numbers(), published_url()
    for i, s in enumerate(slides, 1):
        check_slide(path, i, s)
    check_timing(path, slides, header["minutes"])
    values = compute_values(values_used(slides)) if values is None else values
    html_slides = "\n".join(
        render_slide(md, link_book(link_exercises(fill_values(s, values, f"{path.name} slide {i}"), numbers,
                                                  f"{path.name} slide {i}", base), base, f"{path.name} slide {i}"),
                     sizes)
        for i, s in enumerate(slides, 1))
    return TEMPLATE.format(title=html.escape(header["title"]), slides=html_slides, width=SLIDE_W, height=SLIDE_H)


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
    wanted = [n for path in sources for n in values_used(parse_source(path)[1])]
    for path in sources:   # every check of every source before the slow part (values not yet computed)
        deck_html(path, md, values={n: n for n in value_names()})
    values = compute_values(wanted)
    names = [n for path in sources for n in figures_used(parse_source(path)[1])]
    figures = render_figures(names, out / "figures")
    sizes = {n: (f.width, f.height) for n, f in figures.items()}
    decks = []
    for path in sources:
        header, slides = parse_source(path)
        target = out / f"{path.stem}.html"
        target.write_text(deck_html(path, md, sizes, values))
        decks.append(target)
        print(f"build_slides: {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target} "
              f"({len(slides)} slides, {header['minutes']} min)")
    return decks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "_build" / "slides"))
    ap.add_argument("--only", type=int, nargs="+", help="lecture numbers to build")
    args = ap.parse_args(argv)
    build(Path(args.out), args.only)


if __name__ == "__main__":
    main()
