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
built = pytest.mark.skipif(not (SITE / "index.html").is_file(), reason="the student site is not built "
                           "(bash tools/build_student_site.sh)")

_PAGE = """# Page

:::{exercise} A question
:label: ex-one
State the thing.
:::

:::{solution-start} ex-one
:class: dropdown
:::

The secret argument of the gated solution.

```python
secret_code = 42
```

:::{solution-end}
:::

:::{exercise} Another
:label: ex-two
More.
:::

:::{solution} ex-two
The secret of the block solution.
:::
"""


def _sphinx(tmp_path: Path, builder: str, **config) -> tuple[int, str, Path]:
    """A one-page Sphinx project with gated and block solutions, built with the book's extension."""
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    (src / "index.md").write_text(_PAGE)
    settings = "".join(f"{k} = {v!r}\n" for k, v in config.items())
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_parser', 'sphinx_exercise', 'pdf_solutions']\n"
        "myst_enable_extensions = ['colon_fence']\n" + settings)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", builder, "-q", str(src), str(out)],
                         capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr, out


def test_one_mechanism_removes_gated_and_block_solutions_from_html(tmp_path):
    code, log, out = _sphinx(tmp_path, "html", student_site=True)
    assert code == 0, log
    html = (out / "index.html").read_text()
    assert "State the thing." in html and "More." in html                 # the statements stay
    assert "secret" not in html.lower()                                     # prose and code of both solutions go
    assert "secret" not in (out / "_sources" / "index.md.txt").read_text().lower()


def test_the_public_site_keeps_its_solutions(tmp_path):
    code, log, out = _sphinx(tmp_path, "html")
    assert code == 0, log
    assert "secret argument of the gated solution" in (out / "index.html").read_text()


def test_sphinx_exercise_hide_solutions_is_the_crash_this_replaces(tmp_path):
    # The defect: sphinx-exercise's own switch cannot write a page with a gated solution (kept as evidence; if an
    # upgrade fixes it, this test says so and the book could use it).
    code, log, _ = _sphinx(tmp_path, "html", hide_solutions=True)
    assert code != 0 and "solution_end_node" in log


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


@built
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


@built
def test_launch_buttons_open_no_solutions():
    html = (SITE / "book" / "ch1_token_selection.html").read_text()
    assert "mybinder" not in html and "git-pull" not in html
    for m in re.findall(r'href="(https://colab[^"]+)"', html):
        assert "/blob/student-pages/_sources/" in m
