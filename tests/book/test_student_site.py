"""The student site (bash tools/build_student_site.sh = nox -s student_site, which runs this file after building):
no solution's text, code or output on any page or in any downloadable source; no launch button that opens the
repository's pages (they hold the solutions). Skipped when the site has not been built."""
from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from attnbook.student import chapter_sources, split_solutions

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "student" / "_build" / "html"
pytestmark = pytest.mark.skipif(not (SITE / "index.html").is_file(), reason="the student site is not built "
                                "(bash tools/build_student_site.sh)")


def _solution_lines() -> dict[str, list[str]]:
    """Per page, the lines only its solutions have (prose and code, long enough to be specific)."""
    lines = {}
    for src in chapter_sources(ROOT / "book"):
        nb = jupytext.read(src)
        split = split_solutions(nb)
        kept = "\n".join(c.source for c in split.student.cells)
        own = [ln.strip() for ln in split.removed_text + [x for c in split.removed_code for x in c.splitlines()]]
        lines[src.stem] = [ln for ln in own if len(ln) > 30 and ln not in kept and "{glue" not in ln
                           and not ln.startswith(("#", ":", "```", "+++", "---"))]
    return lines


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_no_solution_on_any_page_or_in_any_source():
    for page, lines in _solution_lines().items():
        html = (SITE / "book" / f"{page}.html").read_text()
        assert not re.search(r'<div class="[^"]*\bsolution\b', html), page
        for source in (SITE / "_sources" / "book").glob(f"{page}.*"):
            text = source.read_text()
            assert "solution-start" not in text, source
            leaked = [ln for ln in lines if ln in text]
            assert not leaked, f"{source}: {leaked[:2]}"
        page_text = _text(html)
        leaked = [ln for ln in lines if " ".join(ln.split()) in page_text and "$" not in ln and "`" not in ln]
        assert not leaked, f"{page}: {leaked[:2]}"


def test_launch_buttons_open_no_solutions():
    html = (SITE / "book" / "ch1_token_selection.html").read_text()
    assert "mybinder" not in html and "git-pull" not in html
    for m in re.findall(r'href="(https://colab[^"]+)"', html):
        assert "/blob/student-pages/_sources/" in m
