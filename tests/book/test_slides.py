"""The lecture-slide sources and their builder (tools/build_slides.py): every deck parses, every figure it names
exists in the book's figure registry and has a 'What to see' line, every exercise it assigns exists, and math is
handed to MathJax untouched. (The decks themselves are built and checked in Chromium by tools/build_slides.sh.)"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from attnbook.figures import registry

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("build_slides", ROOT / "tools" / "build_slides.py")
bs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bs)
SOURCES = sorted((ROOT / "book" / "slides").glob("lecture-*.md"))


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
    assert names and set(names) <= set(registry())
    pages = bs.exercise_pages()
    md = bs._markdown()
    for i, s in enumerate(slides, 1):
        bs.check_slide(path, i, s)
        html = bs.render_slide(md, bs.link_exercises(s, pages, f"{path.name} slide {i}"))
        assert "$" not in re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]", "", html, flags=re.S)  # all math delimited for MathJax
    # the timing table adds up to the lecture's length
    minutes = [int(m) for m in re.findall(r"^\|[^|\n]+\|\s*(\d+)\s*\|$", slides[0], re.M)]
    assert sum(minutes) == header["minutes"]


def test_builder_refuses_what_a_reader_could_not_follow(tmp_path):
    md = bs._markdown()
    with pytest.raises(ValueError, match="What to see"):
        bs.check_slide(tmp_path / "x.md", 1, "## A\n![alt](figure:ch1.tokens)\n")
    with pytest.raises(ValueError, match="no exercise labelled"):
        bs.link_exercises("{ch9-ex-nothing}", bs.exercise_pages(), "x.md slide 1")
    bad = tmp_path / "lecture-9.md"
    bad.write_text("---\ntitle: x\n---\n# slide\n")
    with pytest.raises(ValueError, match="lacks 'minutes'"):
        bs.parse_source(bad)
    out = bs.render_slide(md, r"Math $a_{i}<b$ and $$\|W\|_*$$ stay TeX.")
    assert r"\(a_{i}&lt;b\)" in out and r"\[\|W\|_*\]" in out
