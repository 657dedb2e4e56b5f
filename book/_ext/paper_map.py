"""Local Sphinx extension for the book (book/_ext/, enabled in _config.yml): the ``{paper-map}`` directive of
``book/paper_map.md``.

It renders the registry ``attnbook/paper_map.toml`` as the map's tables (``attnbook.paper_map.render``) when Sphinx
reads the page: each row links to the book's anchor, the figure and the test's source; a claim's value is pasted
from the chapter's executed notebook (myst-nb's cross-page ``{glue:text}`page.md::key```, resolved when the page is
written); and each row's marks are read from the JUnit XML files that the test command's stages write into
``_build/`` (``junit-unit.xml`` and ``junit-pytest.xml``: the tests as run;
``junit-claims.xml``: the claims stage, every input perturbed by a relative 1e-12). Where a file is missing the rows say "no results" and the page says
which file it looked for. Nothing is executed.

The page depends on those files, on the registry and its reader and on the chapters it pastes from (``env.note_dependency``), so
Sphinx reads it again when a test run or a chapter changes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

__version__ = "0.1.0"

#: The JUnit files of the test command's stages, relative to the book's root (noxfile.py writes them).
#: (Not ``junit-slow.xml``: the slow unit tests run beside the book stage and back no row of the map.)
RUN_RESULTS = ("_build/junit-unit.xml", "_build/junit-pytest.xml")
PERTURBED_RESULTS = ("_build/junit-claims.xml",)


def _results(root: Path, names) -> tuple[dict | None, list[str]]:
    from attnbook import paper_map

    found = [root / n for n in names if (root / n).is_file()]
    if not found:
        return None, []
    stamps = [f"`{p.relative_to(root)}` ({datetime.fromtimestamp(p.stat().st_mtime, timezone.utc):%Y-%m-%d %H:%M} UTC)"
              for p in found]
    return paper_map.read_junit(found), stamps


class PaperMap(SphinxDirective):
    """``{paper-map}``: the registry's tables and the index by chapter, in MyST, parsed in place."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from attnbook import paper_map

        root = Path(self.env.srcdir)
        entries = paper_map.load()
        for name in (*RUN_RESULTS, *PERTURBED_RESULTS, paper_map.REGISTRY, paper_map.__file__):
            self.env.note_dependency(str(root / name))
        for page in sorted({e.page for e in entries}):
            self.env.note_dependency(str(root / "book" / f"{page}.md"))
        run, run_files = _results(root, RUN_RESULTS)
        perturbed, perturbed_files = _results(root, PERTURBED_RESULTS)
        marked = paper_map.claims_marks([t for e in entries for t in e.tests], root)
        present = {doc.rsplit("/", 1)[-1] for doc in self.env.found_docs}
        options = self.config.html_theme_options or {}
        repo = (options.get("repository_url") or "").rstrip("/")
        if run is None:
            source = ("**No test results are available in this build**: the marks below say \"no results\". They are "
                      "read from " + " and ".join(f"`{n}`" for n in RUN_RESULTS) + " and `" + PERTURBED_RESULTS[0]
                      + "`, which the test command writes before the book (`bash tools/test.sh`, or "
                      "`nox -s unit pytest claims`).")
        else:
            source = ("Marks read from the test run of this build: " + ", ".join(run_files)
                      + (("; perturbed: " + ", ".join(perturbed_files)) if perturbed_files
                         else "; **no results of the perturbed claims stage** (`_build/junit-claims.xml`)") + ".")
        text = ("(paper-map-results)=\n## This build's test results\n\n" + source + "\n\n"
                + paper_map.render(entries, run, perturbed, marked, present, repo,
                                   boxes=paper_map.scan_book(root / "book").boxes))
        # MyST attaches the headings' sections to the page itself (the page's structure, as for an included file);
        # whatever lies outside a section would land after them, so the text starts with a heading.
        holder = nodes.section()
        holder.document = self.state.document
        self.state.nested_parse(StringList(text.splitlines()), self.content_offset, holder, match_titles=True)
        return holder.children


def setup(app):
    app.add_directive("paper-map", PaperMap)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
