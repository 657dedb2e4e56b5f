"""Local Sphinx extension for the book (book/_ext/, enabled in _config.yml, ``sphinx.local_extensions``).

1. Every chapter gets a ".ipynb" entry in the download menu: the *executed* notebook that
   myst-nb wrote to ``_build/jupyter_execute/<page>.ipynb`` is copied to
   ``_build/html/_sources/<page>.ipynb`` and ``context["ipynb_source"]`` is set, which
   sphinx-book-theme turns into a download link. (The theme does the same by itself only
   while a launch button is configured; this keeps the download if they are turned off.)
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

__version__ = "0.1.0"


def _copy_executed_notebook(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    if app.builder.format != "html" or doctree is None:
        return
    build_dir = Path(app.outdir).parent  # _build/html -> _build
    executed = build_dir / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():  # plain pages (no code cells) are not executed
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


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
    # sphinx-book-theme builds its download buttons at priority 501; run before it.
    app.connect("html-page-context", _copy_executed_notebook, priority=500)
    app.add_config_value("ipynb_colab_branch", "gh-pages", "html")
    app.connect("html-page-context", _colab_to_ipynb, priority=502)  # after the launch buttons
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
