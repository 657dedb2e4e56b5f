"""Local Sphinx extension (book/_ext/): solutions left out (PDF and student site), and the PDF's references.

1. One mechanism for every builder leaves the exercises' solutions out: ``pdf_hide_solutions = True`` (the PDF,
   LaTeX only) or ``student_site = True`` (the student site: HTML and any other builder). sphinx-exercise's own
   ``hide_solutions`` breaks both writers on gated solutions (``solution-start`` ... ``solution-end``: it drops the
   start and keeps an end node no writer can depart: ``NotImplementedError: ... solution_end_node``), so the
   solutions are removed here, after sphinx-exercise has merged each gated solution (its prose, code and outputs)
   into one ``solution_node``. On the student site the page sources offered for download and opened by the Colab
   button (``_sources/<page>.ipynb`` and ``.md``) are rewritten without their solutions when the build finishes
   (``attnbook.student.split_solutions``).
2. References to an exercise on *another* page (the course page's homework lists) resolve: sphinx-exercise
   rewrites only same-page references into its LaTeX form (``\\hyperref[exercise:LABEL]``), so a cross-page one
   pointed at a label that its LaTeX never defines and printed "Exercise ??".
3. Figures, exercises and theorems are numbered as on the site (Exercise 3.2, not 3.10.2): sphinx-jupyterbook-latex
   raises ``numfig_secnum_depth`` to 2 when the table of contents has parts; the book's own value is put back
   after it (the LaTeX preamble in ``_config.yml`` already restarts chapter numbers at the first chapter).

tools/build_pdf.sh sets ``pdf_hide_solutions`` unless ``--with-solutions``.
"""
from __future__ import annotations

from sphinx.addnodes import number_reference
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx_exercise.nodes import exercise_enumerable_node, exercise_latex_number_reference, solution_node


def _hides_solutions(app) -> bool:
    return bool(app.config.student_site or (app.builder.format == "latex" and app.config.pdf_hide_solutions))


def _drop_solutions(app, doctree) -> None:
    if not _hides_solutions(app):
        return
    for node in list(doctree.findall(solution_node)):
        node.parent.remove(node)


def _student_sources(app, exception) -> None:
    """Student site: the downloadable page sources without their solutions (outputs of the other cells kept)."""
    if exception is not None or not app.config.student_site or app.builder.format != "html":
        return
    from pathlib import Path

    import jupytext
    import nbformat
    from attnbook.student import split_solutions

    sources = Path(app.outdir) / "_sources"
    for path in sorted(sources.rglob("*.ipynb")):
        nbformat.write(split_solutions(nbformat.read(path, as_version=4)).student, path)
    for path in sorted([*sources.rglob("*.md"), *sources.rglob("*.md.txt")]):     # the suffix Sphinx copies with
        text = path.read_text(encoding="utf-8")
        if "solution-start}" in text or "{solution}" in text:
            nb = jupytext.reads(text, fmt="md:myst")
            path.write_text(jupytext.writes(split_solutions(nb).student, fmt="md:myst"), encoding="utf-8")


class CrossPageExerciseReferences(SphinxPostTransform):
    """``number_reference`` to an exercise on another page -> sphinx-exercise's LaTeX reference node."""

    default_priority = 25          # after sphinx-exercise's own post-transforms (5-22)
    builders = ("latex",)

    def run(self, **kwargs) -> None:
        registry = getattr(self.env, "sphinx_exercise_registry", {})
        for node in list(self.document.findall(number_reference)):
            label = node.get("refuri", "").rpartition("#")[2]
            target = registry.get(label, {}).get("node")
            if isinstance(target, exercise_enumerable_node):
                new = exercise_latex_number_reference("", "", *node.children, refid=label)
                node.replace_self(new)


def _remember_numbering(app, config) -> None:
    app.pdf_site_numfig_secnum_depth = config.numfig_secnum_depth


def _restore_numbering(app) -> None:
    if app.builder.format == "latex":
        app.config.numfig_secnum_depth = app.pdf_site_numfig_secnum_depth


def setup(app):
    app.add_config_value("pdf_hide_solutions", False, "env")
    app.add_config_value("student_site", False, "env")
    app.connect("build-finished", _student_sources)
    app.connect("config-inited", _remember_numbering)
    app.connect("builder-inited", _restore_numbering, priority=900)  # after sphinx-jupyterbook-latex (500)
    app.connect("doctree-read", _drop_solutions)
    app.add_post_transform(CrossPageExerciseReferences)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
