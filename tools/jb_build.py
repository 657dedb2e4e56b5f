"""``jupyter-book build . -W -n --keep-going`` with Sphinx's parallel read: chapters execute ``--jobs`` at a time.

jupyter-book 1.x executes notebooks while Sphinx reads them, and its CLI always reads serially; its
``jupyter_book.sphinx.build_sphinx`` (what the CLI calls) takes ``jobs``. Every extension the book uses declares
``parallel_read_safe``. Usage: ``python tools/jb_build.py [--all] [--jobs N]`` from anywhere.

Sphinx would cut the pages into ``jobs`` equal runs in alphabetical order (bibliography + chapters 1-5, then
chapters 6-8 + front matter, then the appendix alone), so one worker idled while the other executed chapter 6.
Here each page is its own batch, longest first (the previous build's execution times, ``_build/chapter-times.json``,
else the source size): the longest-processing-time-first schedule. After the build each page's execution time is
printed and saved there.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import sphinx.builders
from jupyter_book.sphinx import build_sphinx

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
TIMES = BUILD / "chapter-times.json"
#: The standard every chapter is held to (README): it executes in under a minute.
CHAPTER_BUDGET_S = 60.0


def expected_cost(docnames: list[str]) -> dict[str, float]:
    """Each page's expected execution time: the last build's, else its source size (bytes / 1000)."""
    try:
        last = json.loads(TIMES.read_text())
    except (OSError, ValueError):
        last = {}
    cost = {}
    for doc in docnames:
        src = ROOT / f"{doc}.md"
        cost[doc] = float(last.get(doc, src.stat().st_size / 1000 if src.exists() else 0.0))
    return cost


def longest_first_chunks(docnames, nproc: int, maxbatch: int = 10) -> list[list[str]]:
    """One page per batch, the most expensive first (replaces Sphinx's ``make_chunks`` for the read phase)."""
    cost = expected_cost(list(docnames))
    return [[doc] for doc in sorted(docnames, key=lambda d: -cost[d])]


def report_times() -> dict[str, float]:
    """Print each page's execution time (myst-nb's ``exec_data``) and save them to ``_build/chapter-times.json``."""
    try:
        with open(BUILD / ".doctrees" / "environment.pickle", "rb") as fh:
            env = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError):
        return {}
    times = {doc: float(md["exec_data"]["runtime"]) for doc, md in env.nb_metadata.items()
             if md.get("exec_data") and md["exec_data"].get("runtime") is not None}
    if not times:
        return {}
    print("[jb_build] execution time per page (s; with --jobs > 1 two kernels share the cores):")
    for doc, secs in sorted(times.items(), key=lambda kv: -kv[1]):
        flag = f"  over the {CHAPTER_BUDGET_S:.0f} s budget" if secs > CHAPTER_BUDGET_S else ""
        print(f"[jb_build]   {secs:6.1f}  {doc}{flag}")
    merged = {**(json.loads(TIMES.read_text()) if TIMES.exists() else {}), **times}
    TIMES.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--all", action="store_true", help="re-read every page (Sphinx -E)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("BOOK_JOBS", min(2, os.cpu_count() or 1))),
                    help="chapters executed at once (default: BOOK_JOBS or min(2, cores))")
    args = ap.parse_args(argv)
    sphinx.builders.make_chunks = longest_first_chunks  # the read phase's batches (see the module docstring)
    result = build_sphinx(
        str(ROOT), str(BUILD / "html"), use_external_toc=True, noconfig=True,
        path_config=str(ROOT / "_config.yml"),
        confoverrides={"external_toc_path": (ROOT / "_toc.yml").as_posix(), "latex_individualpages": False,
                       "nitpicky": True},
        builder="html", warningiserror=True, keep_going=True, freshenv=args.all, jobs=args.jobs)
    report_times()
    return 0 if result == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
