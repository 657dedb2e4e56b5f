"""Local Sphinx extension: let the book's chapters execute two at a time (enabled in ``_config.yml``).

jupyter-book 1.x executes each chapter while Sphinx *reads* it, so a parallel read (``tools/jb_build.py
--jobs 2``) runs two kernels at once. Sphinx reads serially as soon as one extension does not declare
``parallel_read_safe``; of the book's extensions two leave it undeclared, and both are safe:
``sphinx_multitoc_numbering`` (0.1.3) only replaces ``TocTreeCollector.assign_section_numbers``, which Sphinx
calls in the main process after all documents are read (on the merged environment);
``sphinx_jupyterbook_latex`` (1.0) adds transforms that edit one document's own doctree and, for a LaTeX
builder only, sets configuration at ``builder-inited`` (before reading). This extension records that once every
extension is loaded. A parallel read also merges each Sphinx domain's data from the workers; sphinx-proof 0.4's
``ProofDomain`` keeps no domain data (its proofs live in ``env.proof_list``, which sphinx-proof merges itself
on ``env-merge-info``) but does not define ``merge_domaindata``, so it gets the empty merge it needs.
(The PDF build, ``tools/build_pdf.sh``, reads serially anyway.)
"""
from __future__ import annotations

from sphinx.application import Sphinx

#: Extensions checked to be parallel-read safe although they do not say so (name -> why).
SAFE_UNDECLARED = {
    "sphinx_multitoc_numbering": "only patches TocTreeCollector.assign_section_numbers (runs after reading)",
    "sphinx_jupyterbook_latex": "per-document doctree transforms; LaTeX-only configuration before reading",
}


def _declare_safe(app: Sphinx) -> None:
    for name in SAFE_UNDECLARED:
        ext = app.extensions.get(name)
        if ext is not None and ext.parallel_read_safe is None:
            ext.parallel_read_safe = True


def _merge_nothing(self, docnames, otherdata) -> None:
    """``Domain.merge_domaindata`` for a domain that keeps no data of its own."""


def _let_proof_domain_merge() -> None:
    try:
        from sphinx_proof.domain import ProofDomain
    except ImportError:
        return
    if "merge_domaindata" not in vars(ProofDomain) and not ProofDomain.initial_data:
        ProofDomain.merge_domaindata = _merge_nothing


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _declare_safe)
    _let_proof_domain_merge()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
