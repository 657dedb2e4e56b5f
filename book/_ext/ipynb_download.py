"""Local Sphinx extension for the book (book/_ext/, enabled in _config.yml, ``sphinx.local_extensions``).

1. Every chapter gets a ".ipynb" entry in the download menu: ``context["ipynb_source"]`` is set,
   which sphinx-book-theme turns into a download link, and the *executed* notebook is written to
   ``_build/html/_sources/<page>.ipynb``. (The theme offers a download by itself only while a
   launch button is configured, and then copies myst-nb's ``jupyter_execute`` file there.)
   With ``execute_notebooks: cache`` (the book's setting) the notebook is the page as myst-nb reads
   it with the outputs of the jupyter-cache merged in, as myst-nb merges them to render the page:
   myst-nb 1.4 writes ``_build/jupyter_execute/<page>.ipynb`` from the notebook it read, which in
   that mode has no outputs. In the other modes that file is the executed notebook and is copied.
2. The Colab launch button of sphinx-book-theme points at ``book/<page>.md`` on GitHub, which
   Colab cannot open. With ``ipynb_colab_branch`` (default ``"gh-pages"``) it is rewritten to
   the executed notebook of the *published site*,
   ``github.com/<org>/<repo>/blob/<ipynb_colab_branch>/_sources/<page>.ipynb``; this works
   when the built ``_build/html`` is pushed to that branch (e.g. ``ghp-import -n -p _build/html``).
   Set ``ipynb_colab_branch: ""`` to keep the theme's link.
3. MathJax on every page (``app.set_html_assets_policy("always")``): Sphinx loads it only on
   pages with math, but chapter titles with math ($K$, $Q$) also appear in the navigation
   sidebar of math-free pages (e.g. the bibliography), where they would stay raw TeX.

It does not execute anything and sets no environment: the chapters are executed before Sphinx reads
them (``tools/execute_book.py``, into the jupyter-cache that ``execute_notebooks: cache`` reads), by
kernels started with ``_config.yml``'s ``book_kernels.env`` (the static-twin switch
``ATTNLIB_BOOK_BUILD=1``, one BLAS thread).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat
from sphinx.util import logging

logger = logging.getLogger(__name__)

__version__ = "0.1.0"


def _from_cache(app, pagename: str):
    """The page's notebook with the jupyter-cache's outputs merged in, as myst-nb renders it: glued values (outputs
    that only carry data for ``{glue}``) taken out (``None`` if the cache lacks the page)."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import create_nb_reader
    from myst_nb.ext.glue import extract_glue_data_cell

    path = Path(app.env.doc2path(pagename))
    text = path.read_text(encoding="utf-8")
    reader = create_nb_reader(str(path), app.env.myst_config, app.env.mystnb_config, text)
    try:
        _, nb = get_cache(app.env.mystnb_config.execution_cache_path).merge_match_into_notebook(reader.read(text))
    except KeyError:
        return None
    for cell in nb.cells:
        if cell.cell_type == "code":
            extract_glue_data_cell(cell)
    return nb


def _offer_executed_notebook(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    """Priority 500, before sphinx-book-theme builds its download buttons (501): a page myst-nb executed offers its
    ``.ipynb``."""
    if app.builder.format != "html" or doctree is None:
        return
    if (getattr(app.env, "nb_metadata", {}).get(pagename) or {}).get("exec_data"):   # not a plain Markdown page
        context["ipynb_source"] = f"{pagename}.ipynb"


def _write_executed_notebook(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    """Priority 502, after sphinx-book-theme's launch buttons (501), which copy ``jupyter_execute/<page>.ipynb`` there."""
    if app.builder.format != "html" or doctree is None or context.get("ipynb_source") != f"{pagename}.ipynb":
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    if app.env.mystnb_config.execution_mode == "cache":
        nb = _from_cache(app, pagename)
        if nb is None:
            logger.warning(f"{pagename}: no executed notebook in the jupyter cache for the .ipynb download",
                           location=pagename)
            return
        nbformat.write(nb, target)
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"   # _build/html -> _build
    if executed.is_file():
        shutil.copy2(executed, target)


def _colab_to_ipynb(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    branch = app.config.ipynb_colab_branch
    if not branch or not context.get("ipynb_source"):
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            url = button.get("url", "")
            if button.get("text") == "Colab" and "/github/" in url and "/blob/" in url:
                head = url.split("/blob/", 1)[0]
                button["url"] = f"{head}/blob/{branch}/_sources/{context['ipynb_source']}"


def setup(app) -> dict[str, Any]:
    app.set_html_assets_policy("always")
    # sphinx-book-theme builds its download and launch buttons at priority 501: offer the .ipynb before, write it
    # after (its launch buttons copy myst-nb's jupyter_execute/<page>.ipynb to the same file).
    app.connect("html-page-context", _offer_executed_notebook, priority=500)
    app.connect("html-page-context", _write_executed_notebook, priority=502)
    app.add_config_value("ipynb_colab_branch", "gh-pages", "html")
    app.connect("html-page-context", _colab_to_ipynb, priority=503)  # after the launch buttons
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
