"""The lecture-slide sources and their builder (tools/build_slides.py): every deck parses and builds (without its
figures), has at least 20 slides (120 in all) with speaker notes whose minutes cover the lecture, every figure it
names exists in the book's figure registry and has a 'What to see' line, every exercise it assigns exists and is
named as the book numbers it, every link goes to the published book (none relative), a figure's labels reach 18 px
on a 1280×720 slide, every figure a lecture's chapters show is on one of its slides, every number quoted next to a
figure is a computed value, and math is handed to MathJax untouched. (The decks themselves are built and checked in
Chromium by tools/build_slides.sh.)"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from attnbook.figures import registry, slide_registry

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("build_slides", ROOT / "tools" / "build_slides.py")
bs = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("build_slides", bs)   # dataclasses look their module up there
_spec.loader.exec_module(bs)
SOURCES = sorted((ROOT / "book" / "slides").glob("lecture-*.md"))
#: Every value a slide may quote, standing for itself: the decks' structure is checked without computing the studies.
NAMES = {n: n for n in bs.value_names()}


def course_plan() -> list[dict]:
    """The rows of the course page's lecture plan (the table after ``(course-plan)=`` in book/course.md): lecture
    number, the chapters it links, the minutes of its parts, its deck and the exercise labels it assigns, each with
    its difficulty mark."""
    text = (ROOT / "book" / "course.md").read_text()
    table = text.split("(course-plan)=\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]  # skip header, separator
    rows = []
    for line in table:
        lecture, chapters, parts, deck, assign = [c.strip() for c in line.strip("|").split("|")]
        rows.append({"lecture": int(lecture.split()[0]), "chapters": re.findall(r"\{doc\}`([^`]+)`", chapters),
                     "minutes": [int(m) for m in re.findall(r"(\d+)(?:\s*·|$)", parts)], "deck": int(deck),
                     "assign": dict(re.findall(r"\{ref\}`([a-z0-9]+-ex-[a-z0-9-]+)`( ★+)?", assign))})
    return rows


def exercise_marks() -> dict[str, str]:
    """Exercise label -> its difficulty mark in the chapter (``"★"``, ``"★★"``, ... or ``""``)."""
    out = {}
    for page in sorted((ROOT / "book").glob("*.md")):
        for stars, label in re.findall(r"^:::\{exercise\}\s*(★*).*\n:label: (\S+)$", page.read_text(), re.M):
            out[label] = stars
    return out


def test_one_deck_per_lecture_of_the_course_plan():
    """#34: the course plan has one deck per lecture, numbered in order (seven since chapter 8 got its lecture), each
    lecture's parts add up to 90 minutes, the deck covers the chapters the plan gives it, and assigns the same
    exercises."""
    plan = course_plan()
    assert [r["lecture"] for r in plan] == [r["deck"] for r in plan] == list(range(1, len(plan) + 1))
    assert [p.stem for p in SOURCES] == [f"lecture-{r['deck']}" for r in plan]
    covered = set()
    for row, path in zip(plan, SOURCES):
        header, slides = bs.parse_source(path)
        assert sum(row["minutes"]) == header["minutes"] == 90, (row["lecture"], row["minutes"])
        assert set(header["chapters"]) <= set(row["chapters"]) and header["chapters"], row["lecture"]
        covered |= set(row["chapters"])
        assigned = {label for s in slides for label in bs.LABEL_RE.findall(s)}
        assert assigned == set(row["assign"]), (row["lecture"], assigned ^ set(row["assign"]))
    chapters = {p.stem for p in (ROOT / "book").glob("ch*_*.md")}
    assert chapters <= covered, f"chapters in no lecture: {sorted(chapters - covered)}"  # #31: chapter 8 too


def test_difficulty_marks_agree_with_the_chapters():
    """The stars the course page and the decks print beside an exercise label are the exercise's own."""
    marks = exercise_marks()
    text = (ROOT / "book" / "course.md").read_text()
    for label, stars in re.findall(r"\{ref\}`([a-z0-9]+-ex-[a-z0-9-]+)`( ★+)?", text):
        assert label in marks, label
        if stars:
            assert stars.strip() == marks[label], (label, stars, marks[label])
    for path in SOURCES:
        for label, stars in re.findall(r"\{([a-z0-9]+-ex-[a-z0-9-]+)\}( ★+)?", path.read_text()):
            if stars:
                assert stars.strip() == marks[label], (path.name, label, stars, marks[label])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_deck_parses_and_references_exist(path):
    header, slides = bs.parse_source(path)
    assert header["minutes"] == 90 and header["title"].startswith("Lecture")
    chapters = {p.stem for p in (ROOT / "book").glob("*.md")}
    assert set(header["chapters"]) <= chapters
    names = bs.figures_used(slides)
    assert names and set(names) <= set(registry()) | set(slide_registry())
    assert set(bs.values_used(slides)) <= set(NAMES)
    numbers, base = bs.exercise_numbers(), bs.published_url()
    md = bs._markdown()
    for i, s in enumerate(slides, 1):
        bs.check_slide(path, i, s)
        html = bs.render_slide(md, bs.link_exercises(s, numbers, f"{path.name} slide {i}", base))
        assert "$" not in re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]", "", html, flags=re.S)  # all math delimited for MathJax
    # the timing table adds up to the lecture's length
    minutes = [int(m) for m in re.findall(r"^\|[^|\n]+\|\s*(\d+)\s*\|$", slides[0], re.M)]
    assert sum(minutes) == header["minutes"]


def test_builder_refuses_what_a_reader_could_not_follow(tmp_path):
    md = bs._markdown()
    with pytest.raises(ValueError, match="What to see"):
        bs.check_slide(tmp_path / "x.md", 1, "## A\n![alt](figure:ch1.tokens)\n")
    with pytest.raises(ValueError, match="no exercise labelled"):
        bs.link_exercises("{ch9-ex-nothing}", bs.exercise_numbers(), "x.md slide 1", "https://x.org/")
    bad = tmp_path / "lecture-9.md"
    bad.write_text("---\ntitle: x\n---\n# slide\n")
    with pytest.raises(ValueError, match="lacks 'minutes'"):
        bs.parse_source(bad)
    out = bs.render_slide(md, r"Math $a_{i}<b$ and $$\|W\|_*$$ stay TeX.")
    assert r"\(a_{i}&lt;b\)" in out and r"\[\|W\|_*\]" in out



def test_decks_are_lectures_of_ninety_minutes():
    """#28: every lecture has at least 20 slides (120 in all), each with speaker notes that start with its minutes,
    the minutes running from 0 to 90 without gap; every deck builds (all of the builder's checks, no figures)."""
    counts = {}
    for path in SOURCES:
        header, slides = bs.parse_source(path)
        html = bs.deck_html(path, values=NAMES)
        counts[path.stem] = len(slides)
        assert html.count("<section>") == len(slides) == html.count('<aside class="notes">'), path.stem
        assert bs.timing(slides)[0][0] == 0 and bs.timing(slides)[-1][1] == header["minutes"] == 90
    assert min(counts.values()) >= 20, counts
    assert sum(counts.values()) >= 120, counts


def test_exercises_are_named_as_the_book_numbers_them():
    """#28: a deck says "Exercise 4.2", the number the book prints (chapter in the numbered part of _toc.yml, then the
    exercise's place in the chapter), linked to the exercise in the published book; no raw label is shown."""
    numbers = bs.exercise_numbers()
    assert numbers["ch1-ex-convex"] == ("ch1_token_selection", "Exercise 1.1")
    assert numbers["ch4-ex-omega"] == ("ch4_kkt", "Exercise 4.2")
    assert numbers["ch8-ex-excess"] == ("ch8_research", "Exercise 8.2")
    assert numbers["num-ex-solver"] == ("numerics", "Exercise 2")   # an unnumbered page: its place only
    for page in ROOT.glob("book/ch*_*.md"):   # every exercise of a chapter, in order
        labels = re.findall(r"^:{3,}\{exercise\}.*\n:label: (\S+)$", page.read_text(), re.M)
        chapter = int(re.match(r"ch(\d+)_", page.stem).group(1))
        assert [numbers[label][1] for label in labels] == [f"Exercise {chapter}.{k}" for k in range(1, len(labels) + 1)]
    base = bs.published_url()
    for path in SOURCES:
        html = bs.deck_html(path, values=NAMES)
        shown = re.sub(r"<[^>]+>", "", html)
        assert not bs.LABEL_RE.search(html) and not re.search(r"\b[a-z0-9]+-ex-[a-z0-9-]+\b(?![^<]*>)", shown), path
        for label in {label for s in bs.parse_source(path)[1] for label in bs.LABEL_RE.findall(s)}:
            page, name = numbers[label]
            assert f'<a href="{base}book/{page}.html#{label}">{name}</a>' in html, (path.stem, label)


def test_links_go_to_the_published_book(tmp_path):
    """#28: no relative link (dead once the decks are copied); every link into the book names a page of _toc.yml and
    a target that page has; the address is the GitHub Pages one of repository.url unless html.baseurl is set."""
    assert bs.published_url() == "https://OWNER.github.io/attnlib-book/"   # _config.yml's placeholder
    pages, _ = bs.toc_pages()
    for path in SOURCES:
        html = bs.deck_html(path, values=NAMES)
        for href in re.findall(r'href="([^"]+)"', html.split('<div class="reveal">', 1)[1]):
            assert href.startswith(bs.published_url() + "book/"), (path.stem, href)
            page, _, anchor = href.removeprefix(bs.published_url() + "book/").partition("#")
            assert page.removesuffix(".html") in pages and (not anchor or anchor in bs.page_anchors(page[:-5]))
    assert "https://x.org/book/ch4_kkt.html#ch4-ex-omega" in bs.link_book("[a](book:ch4_kkt#ch4-ex-omega)",
                                                                          "https://x.org/", "w")
    for bad, why in (("[a](../html/book/ch4_kkt.html)", "relative link"), ("[a](book:ch9_none)", "not a page"),
                     ("[a](book:ch4_kkt#no-such-target)", "no target")):
        with pytest.raises(ValueError, match=why):
            bs.link_book(bad, "https://x.org/", "w")


def test_builder_checks_notes_timing_and_build_ups(tmp_path):
    """A slide without notes, or whose notes do not start with its minutes, is refused; the minutes must run from 0
    to the lecture's length without gap or overlap; a line ``++`` starts a build-up step (a reveal.js fragment)."""
    with pytest.raises(ValueError, match="no speaker notes"):
        bs.check_slide(tmp_path / "x.md", 1, "## A\ntext\n")
    with pytest.raises(ValueError, match="must start with its minutes"):
        bs.check_slide(tmp_path / "x.md", 1, "## A\ntext\nNote: say this\n")
    slide = "## A\nNote: **{}–{} min.** say this"
    bs.check_timing(tmp_path, [slide.format(0, 5), slide.format(5, 90)], 90)
    for bad in ([slide.format(0, 5), slide.format(6, 90)], [slide.format(0, 5), slide.format(4, 90)],
                [slide.format(0, 5), slide.format(5, 80)], [slide.format(1, 90)]):
        with pytest.raises(ValueError, match="expected"):
            bs.check_timing(tmp_path, bad, 90)
    out = bs.render_slide(bs._markdown(), "## A\nfirst\n++\nsecond $x$\n++\n- third\nNote: **0–1 min.** notes")
    assert out.count('<div class="fragment">') == 2 and "second \\(x\\)" in out and "<li>third</li>" in out
    assert '<aside class="notes"><p><strong>0–1 min.</strong> notes</p>' in out


def _synthetic_figure(fontsize: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set_xlabel("x label", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize)
    ax.legend(fontsize=fontsize)
    return fig


def test_figure_labels_reach_18_px_on_the_slide(tmp_path, monkeypatch):
    """#28: a figure of 6 pt labels 10 inches wide would show them at ~10 px in a 1180-px box; the slide version is
    drawn smaller until its smallest label is >= 18 px, measured from the saved PNG (its pixel width and dpi) and the
    size it is shown at. A figure that would have to shrink below a third of its size is refused."""
    import matplotlib.image as mpimg
    from PIL import Image

    monkeypatch.setattr("attnbook.figures.registry", lambda: {"t.small": lambda: _synthetic_figure(6),
                                                               "t.tiny": lambda: _synthetic_figure(2)})
    out = bs.render_slide_figure("t.small", tmp_path / "small.png")
    assert out.shrink < 0.6 and out.min_label_px >= bs.MIN_LABEL_PX
    assert out.width <= bs.FIGURE_BOX[0] and out.height <= bs.FIGURE_BOX[1]
    png_w = mpimg.imread(tmp_path / "small.png").shape[1]
    dpi = Image.open(tmp_path / "small.png").info["dpi"][0]
    assert 6 / 72 * dpi * out.width / png_w >= 18 - 0.05   # 6 pt at the image's dpi, scaled to its slide width
    with pytest.raises(ValueError, match="cannot reach"):
        bs.render_slide_figure("t.tiny", tmp_path / "tiny.png")


def test_every_figure_a_lecture_s_chapters_show_is_on_its_slides():
    """#28: a figure a lecture's chapters show is on one of that lecture's slides (the book's figure, or its slide
    versions), unless :data:`SLIDE_EXEMPT` says why not; an exemption names a figure that is in fact missing."""
    missing = {}
    for path in SOURCES:
        header, slides = bs.parse_source(path)
        on_slides = {bs.book_figure(n) for n in bs.figures_used(slides)}
        for stem in header["chapters"]:
            for name in bs.chapter_figures(stem):
                if name not in on_slides:
                    missing[name] = path.stem
    assert set(missing) == set(bs.SLIDE_EXEMPT), {n: missing.get(n, "on a slide") for n in
                                                    set(missing) ^ set(bs.SLIDE_EXEMPT)}
    assert all(len(reason) > 20 for reason in bs.SLIDE_EXEMPT.values())
    # the figures that used to be described in words only, or not placed, are on the slides now
    assert not {"ch6.gd", "ch6.selection", "ch5.init_dependence", "studies.gd_steps"} & set(missing)
    assert not {"why.sample_weights", "why.variational", "why.weight_decay", "ch3.mirror", "ch3.energy", "ch3.norm",
                "ch3.lock_on", "ch5.misaligned", "ch8.optimizers"} & set(missing)
    # what remains is a widget (a slide would freeze one frame) or a figure that would show an exercise's answer
    assert all(reason.startswith(bs._WIDGET) or "solution" in reason for reason in bs.SLIDE_EXEMPT.values())
    assert bs.chapter_figures("ch6_beyond")[:2] == ["ch6.kq_vs_w", "studies.kq_study"]   # the reader itself


def test_slide_versions_stand_for_a_figure_of_the_book():
    """A slide version ``<module>.<figure>.<part>`` belongs to a figure of the book, and its module's own figure."""
    book = registry()
    assert slide_registry()
    for name, draw in slide_registry().items():
        assert name.count(".") == 2 and bs.book_figure(name) in book, name
        assert draw.__module__ == book[bs.book_figure(name)].__module__, name


def test_values_fill_their_places_and_refuse_unknown_names():
    assert bs.values_used(["a {value:x-1} b {value:y} {value:x-1}", "c"]) == ["x-1", "y"]
    assert bs.fill_values("k = {value:x-1}.", {"x-1": "16 of 16"}, "w") == "k = 16 of 16."
    with pytest.raises(ValueError, match="no value named 'z'"):
        bs.fill_values("{value:z}", {"x-1": "1"}, "lecture-9.md slide 2")
    from attnbook.figures.slides import slide_values
    with pytest.raises(ValueError, match="names must be values the slides may quote"):
        slide_values(["no-such-value"])


def test_a_value_whose_words_are_false_stops_the_build(monkeypatch):
    """A value asserts the words around it: if a start that never recovers had two samples stuck, the slide's "exactly
    one sample" would be false and the deck must not build."""
    from attnbook.experiments import studies as st
    from attnbook.experiments.prose import ClaimError
    from attnbook.figures import slides

    def run(stuck):
        return st.GDStart(lr=10.0, loss="exp", data_seed=3, start=0, steps=np.array([0, 1]),
                          optimal=np.array([False, False]), recovered_step=-1, n_stuck=stuck, excess=0.3)
    monkeypatch.setattr(slides.st, "gd_step_study", lambda: st.GDStepStudy(runs=(run(1),)))
    assert slides.slide_values(["ch6-gds-stuck"]) == {"ch6-gds-stuck": "one"}
    monkeypatch.setattr(slides.st, "gd_step_study", lambda: st.GDStepStudy(runs=(run(1), run(2))))
    with pytest.raises(ClaimError, match="exactly one sample"):
        slides.slide_values(["ch6-gds-stuck"])


def test_the_older_decks_values_stop_the_build_when_their_words_are_false(monkeypatch):
    """#slides5: the values behind lectures 2-7's "What to see" lines assert the slide's words. If the certificate at
    t = 1e300 were already in the box (lecture 4 used to say so), or the distance to the l1 direction fell along
    1/ln mu with no plateau (lecture 3 used to say so), the deck must not build."""
    from dataclasses import replace

    from attnbook.experiments import ch3, ch4
    from attnbook.experiments.prose import ClaimError
    from attnbook.figures import slides

    real = ch4.certificate_at
    assert slides.slide_values(["ch4-cert-support"])["ch4-cert-support"].count(" and ") == 1
    done = replace(real(ch4.LOG_T_1E300), Blambda=np.array([1.0, 1.0, 0.3, 0.0]))   # the KKT point reached
    monkeypatch.setattr(slides.ch4, "certificate_at", lambda log_t: done if log_t == ch4.LOG_T_1E300 else real(log_t))
    with pytest.raises(ClaimError, match="still above 1"):
        slides.slide_values(["ch4-cert-support"])

    log_t = np.geomspace(1.0, 1e6, 400)
    inv = 1 / np.log(log_t + np.log(log_t) + 2)          # a margin mu > ln t
    falls = ch3.RateToL1(inv_log_mu=inv, dist_l1=0.5 * inv, log_t=log_t,
                         at={lt: float(np.interp(lt, log_t, 0.5 * inv)) for lt in ch3.RATE_LOG_T},
                         mu_at={lt: 2.0 * lt for lt in ch3.RATE_LOG_T})
    monkeypatch.setattr(slides.ch3, "compute_rate", lambda: falls)
    with pytest.raises(ClaimError, match="plateau"):
        slides.slide_values(["ch3-plateau-lo"])


#: A number that reads as measured: a decimal, a percentage, a power of ten.
_MEASURED = re.compile(r"\d+\.\d+|\d\s*%|\de-\d")


def typed_numbers(para: str) -> list[str]:
    """The measured-looking numbers a slide paragraph types by hand: outside its math (where the inputs live,
    $\\eta=0.3$, $t=10^{300}$) and its ``{value:name}`` places, and not a label (Lemma 4.2, Exercise 4.2)."""
    text = bs.VALUE_RE.sub("", re.sub(r"\$\$.*?\$\$|\$.*?\$", "", para, flags=re.S))
    return _MEASURED.findall(re.sub(r"(Lemma|Theorem|Corollary|Definition|Exercise) \d+\.\d+", "", text))


def numbers_per_slide(numbers_of) -> dict[str, list[str]]:
    """``{"lecture-N slide K": numbers}`` for every slide of every deck whose source ``numbers_of`` finds numbers in."""
    found = {}
    for path in SOURCES:
        for i, source in enumerate(bs.parse_source(path)[1], 1):
            if numbers := numbers_of(source):
                found[f"{path.stem} slide {i}"] = numbers
    return found


def test_what_to_see_lines_type_no_measured_number():
    """#slides5: a measured number on a slide is a ``{value:name}``: no "What to see" line types a decimal, a
    percentage or a power of ten by hand (labels, inputs such as 300 decades, and the 0 and 1 of a limit may stay)."""
    typed = numbers_per_slide(lambda s: [n for para in re.findall(r"\*\*What to see:\*\*.*?(?:\n\n|\nNote:|$)", s, re.S)
                                         for n in typed_numbers(para)])
    assert not typed, typed
    assert typed_numbers("the cosine ends near 0.84, 37 % of it, gap 1e-8") == ["0.84", "7 %", "1e-8"]
    assert not typed_numbers("Lemma 4.2 and eq. (27), seed 5, 300 decades, $\\eta=0.3$, {value:ch6-gd-track}")


def note_numbers(notes: str) -> list[str]:
    """The measured-looking numbers a slide's speaker notes type by hand: :func:`typed_numbers`, and inside the math
    every negative power of ten but the book's perturbation size $10^{-12}$ (an input, like $t=10^{300}$)."""
    math = " ".join(re.findall(r"\$\$.*?\$\$|\$.*?\$", notes, flags=re.S))
    return typed_numbers(notes) + [p for p in re.findall(r"10\^\{?-\d+\}?", math) if p not in ("10^{-12}", "10^-12")]


def test_speaker_notes_type_no_measured_number():
    """#notes5: what an instructor says of a computed outcome is the chapter's claim or a ``{value:name}``, never a
    measured number typed by hand (lecture 2 said the weight off the support "drops below $10^{-15}$")."""
    typed = numbers_per_slide(lambda s: note_numbers(bs.split_notes(s)[1]))
    assert not typed, typed
    assert note_numbers("drops below $10^{-15}$ by step 0.84; a relative $10^{-12}$ perturbation") == ["0.84", "10^{-15}"]
    assert not note_numbers("Definition 5.1, $\\eta=0.1$, $t=10^{300}$, {value:ch6-gd3-range}, $e^{-4/3}$")


#: The values computed from the large-step study: not marked ``claims``, for the reason tests/claims/test_ch6.py
#: gives (the study is itself a distribution over perturbed starts, each start setting its own perturbation); and the
#: values of the (K, Q) study, 40 flows whose perturbed rerun (a minute, cold) tests/claims/test_ch6.py already makes.
STUDY_VALUES = {n for n in NAMES if n.startswith(("ch6-gds-", "ch6-gd3-", "ch6-kq-"))}


@pytest.mark.slow
def test_the_slides_large_step_values_hold():
    from attnbook.figures.slides import slide_values

    values = slide_values(sorted(STUDY_VALUES))   # each asserts the words of its slide
    assert re.fullmatch(r"\d+ of \d+", values["ch6-gds-f3-3"]) and values["ch6-gds-stuck"] == "one"
    assert values["ch6-kq-runs"] == "40"


#: The values about chapter 5's *exactly representable* data (exactly aligned, theta = 0 and pi/2 aligned to exactly 0
#: or to rounding): not marked ``claims``, for the reason tests/claims/test_ch5.py gives (a relative 1e-12 change of
#: the data changes the premise, not the claim).
EXACT_DATA_VALUES = {n for n in NAMES if n.startswith(("ch5-exact-", "ch5-rot-", "ch5-mis-"))}


@pytest.mark.slow
def test_the_slides_exact_data_values_hold():
    from attnbook.figures.slides import slide_values

    values = slide_values(sorted(EXACT_DATA_VALUES))   # each asserts the words of its slide
    assert float(values["ch5-exact-mu0"]) > 100 and float(values["ch5-mis-limit"]) < 1e-8


@pytest.mark.slow
@pytest.mark.claims
def test_the_slides_values_hold():
    """Every other value the decks quote computes and asserts its slide's words (c = 4 stuck on one sample, both
    stuck flows at their selection's SVM, every generic (K, Q) limit a nuclear-SVM solution other than W°, and the
    values behind lectures 2-7's "What to see" lines: the certificate at t = 1e300 still outside the box, ...)."""
    from attnbook.figures.slides import slide_values

    values = slide_values(sorted(set(NAMES) - STUDY_VALUES - EXACT_DATA_VALUES))
    assert values["ch6-gd-large-steps"] == "300" and float(values["ch6-sel-cos-sel"]) > 0.999
    assert float(values["ch5-gen-mlo"]) < -0.5 < 0.5 < float(values["ch5-gen-mhi"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(slide_registry()))
def test_slide_versions_reach_18_px_and_3_to_1(name, tmp_path):
    """Each slide version, drawn from the book's results, fits the slide with labels >= 18 px at (nearly) the size it
    is drawn at, and its lines keep 3:1 contrast (WCAG 1.4.11)."""
    from attnbook import plots

    out = bs.render_slide_figure(name, tmp_path / f"{name}.png")
    assert out.min_label_px >= bs.MIN_LABEL_PX and out.shrink > 0.9, out
    assert out.width <= bs.FIGURE_BOX[0] and out.height <= bs.FIGURE_BOX[1], out
    fig = slide_registry()[name]()
    assert len(fig.axes) == 1 and not plots.low_contrast(fig), plots.low_contrast(fig)
