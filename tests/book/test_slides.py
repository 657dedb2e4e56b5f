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


def test_one_deck_per_lecture_of_the_course_plan():
    assert [p.stem for p in SOURCES] == [f"lecture-{k}" for k in range(1, 7)]


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
