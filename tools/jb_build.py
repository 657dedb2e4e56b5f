"""``jupyter-book build . -W -n --keep-going`` with Sphinx's parallel read: chapters execute ``--jobs`` at a time.

jupyter-book 1.x executes notebooks while Sphinx reads them, and its CLI always reads serially; its
``jupyter_book.sphinx.build_sphinx`` (what the CLI calls) takes ``jobs``. Every extension the book uses declares
``parallel_read_safe``. Usage: ``python tools/jb_build.py [--all] [--jobs N]`` from anywhere.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from jupyter_book.sphinx import build_sphinx

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--all", action="store_true", help="re-read every page (Sphinx -E)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("BOOK_JOBS", min(2, os.cpu_count() or 1))),
                    help="chapters executed at once (default: BOOK_JOBS or min(2, cores))")
    args = ap.parse_args(argv)
    result = build_sphinx(
        str(ROOT), str(ROOT / "_build" / "html"), use_external_toc=True, noconfig=True,
        path_config=str(ROOT / "_config.yml"),
        confoverrides={"external_toc_path": (ROOT / "_toc.yml").as_posix(), "latex_individualpages": False,
                       "nitpicky": True},
        builder="html", warningiserror=True, keep_going=True, freshenv=args.all, jobs=args.jobs)
    return 0 if result == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
