"""Local Sphinx extension (book/_ext/) for the PDF (LaTeX) build only; the HTML book is untouched.

1. ``pdf_hide_solutions = True`` leaves the exercises' solutions out. sphinx-exercise's own ``hide_solutions``
   breaks the LaTeX writer on gated solutions (``solution-start`` ... ``solution-end``: it drops the start and keeps
   an end node the writer cannot depart), so the solutions are removed here, after sphinx-exercise has merged each
   gated solution into one ``solution_node``.
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


def _drop_solutions(app, doctree) -> None:
    if app.builder.format != "latex" or not app.config.pdf_hide_solutions:
        return
    for node in list(doctree.findall(solution_node)):
        node.parent.remove(node)


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
    app.connect("config-inited", _remember_numbering)
    app.connect("builder-inited", _restore_numbering, priority=900)  # after sphinx-jupyterbook-latex (500)
    app.connect("doctree-read", _drop_solutions)
    app.add_post_transform(CrossPageExerciseReferences)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
