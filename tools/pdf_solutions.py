"""Sphinx extension: leave the exercises' solutions out of the PDF (``pdf_hide_solutions = True``).

sphinx-exercise's own ``hide_solutions`` breaks the LaTeX writer on gated solutions (``solution-start`` ...
``solution-end``: it drops the start and keeps an end node the writer cannot depart). Here the solutions are
removed after sphinx-exercise has merged each gated solution into one ``solution_node``, and only for the LaTeX
builder, so the HTML book is untouched. tools/build_pdf.sh sets the option unless ``--with-solutions``.
"""
from __future__ import annotations

from sphinx_exercise.nodes import solution_node


def _drop_solutions(app, doctree) -> None:
    if app.builder.format != "latex" or not app.config.pdf_hide_solutions:
        return
    for node in list(doctree.findall(solution_node)):
        node.parent.remove(node)


def setup(app):
    app.add_config_value("pdf_hide_solutions", False, "env")
    app.connect("doctree-read", _drop_solutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
