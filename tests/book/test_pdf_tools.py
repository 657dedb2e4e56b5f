"""The PDF build's own pieces (book/_ext/pdf_solutions.py, tools/build_pdf.sh); the PDF itself is built by the
test command's ``pdf`` stage (one chapter) and by ``bash tools/build_pdf.sh`` (the whole book)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pdf_solutions():
    pytest.importorskip("sphinx_exercise")
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import pdf_solutions
    finally:
        sys.path.pop(0)
    return pdf_solutions


@pytest.mark.parametrize("builder_format, expected", [("latex", 1), ("html", 2)])
def test_pdf_keeps_the_sites_numbering_depth(pdf_solutions, builder_format, expected):
    """sphinx-jupyterbook-latex raises numfig_secnum_depth to 2 at builder-inited; the PDF puts the book's back."""
    app = SimpleNamespace(config=SimpleNamespace(numfig_secnum_depth=1),
                          builder=SimpleNamespace(format=builder_format))
    pdf_solutions._remember_numbering(app, app.config)
    app.config.numfig_secnum_depth = 2          # what sphinx-jupyterbook-latex does for a book with parts
    pdf_solutions._restore_numbering(app)
    assert app.config.numfig_secnum_depth == expected


def test_restore_runs_after_sphinx_jupyterbook_latex(pdf_solutions):
    connected = []
    app = SimpleNamespace(add_config_value=lambda *a, **k: None, add_post_transform=lambda *a: None,
                          connect=lambda event, fn, priority=500: connected.append((event, fn.__name__, priority)))
    pdf_solutions.setup(app)
    assert ("builder-inited", "_restore_numbering", 900) in connected


@pytest.mark.parametrize("args, message", [(["--chapter", "no_such_page"], "--chapter expects a page"),
                                           (["--bogus"], "unknown option")])
def test_build_pdf_rejects_bad_arguments_before_doing_anything(args, message):
    out = subprocess.run(["bash", "tools/build_pdf.sh", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and message in out.stderr
