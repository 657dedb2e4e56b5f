"""Keep every chapter's Colab install cell in step with the repository URL in ``_config.yml``.

Each chapter with code starts with one code cell (tag ``remove-cell``: not on the web page) that
installs the attnlib distribution with its ``[book]`` extra (the library attnlib, the book's package attnbook
and their dependencies) when, and only when, the notebook runs on Google Colab::

    python tools/colab_cell.py          # write/refresh the cell in every chapter (after editing repository.url)
    python tools/colab_cell.py --check  # exit 1 and name the chapters whose cell is missing or stale

The one place to configure the URL is ``repository.url`` in ``_config.yml`` (it also drives the
site's Binder/Colab/GitHub buttons). ``tests/book/test_notebooks.py`` runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml
from jupytext.config import load_jupytext_config

ROOT = Path(__file__).resolve().parent.parent
MARKER = "# Colab: install attnlib"


def repository_url(config_file: Path = ROOT / "_config.yml") -> str:
    """``repository.url`` from the book's ``_config.yml`` (without a trailing slash or ``.git``)."""
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    url = (config.get("repository") or {}).get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError(f"{config_file}: repository.url must be an https:// URL, got {url!r}")
    return url.rstrip("/").removesuffix(".git")


def install_source(url: str) -> str:
    """Source of the install cell for the repository at ``url``."""
    return (
        f"{MARKER} (skipped everywhere else: locally, on Binder and in the book build).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    "attnlib[notebook] @ git+{url}"], check=True)'
    )


def chapters(book: Path = ROOT / "book") -> list[Path]:
    """The chapters that have code cells (the others need no install cell)."""
    return sorted(p for p in book.glob("*.md") if "```{code-cell}" in p.read_text(encoding="utf-8"))


def _first_code(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")


def is_current(path: Path, url: str) -> bool:
    """True if the first code cell of ``path`` is the install cell for ``url``."""
    nb = jupytext.read(path)
    cell = nb.cells[_first_code(nb)]
    return cell.source == install_source(url) and "remove-cell" in cell.metadata.get("tags", [])


def update(path: Path, url: str) -> bool:
    """Insert or refresh the install cell of ``path``; returns True if the file changed."""
    config = load_jupytext_config(str(path))
    nb = jupytext.read(path, config=config)
    first = _first_code(nb)
    cell = nbformat.v4.new_code_cell(install_source(url), metadata={"tags": ["remove-cell"]})
    if nb.cells[first].source.startswith(MARKER):
        nb.cells[first] = cell
    else:
        nb.cells.insert(first, cell)
    text = jupytext.writes(nb, fmt="md:myst", config=config)
    if text == path.read_text(encoding="utf-8"):
        return False
    path.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a chapter is out of date")
    args = parser.parse_args(argv)
    url = repository_url()
    if args.check:
        stale = [p.name for p in chapters() if not is_current(p, url)]
        if stale:
            print(f"colab_cell: install cell missing or not for {url} in: {', '.join(stale)}; "
                  "run `python tools/colab_cell.py`", file=sys.stderr)
            return 1
        return 0
    for p in chapters():
        if update(p, url):
            print(f"colab_cell: updated {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
