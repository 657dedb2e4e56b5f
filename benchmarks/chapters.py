"""How long each chapter takes to execute, cold, one at a time: the book's standard is under a minute.

    .venv/bin/python benchmarks/chapters.py               # every page of _toc.yml
    .venv/bin/python benchmarks/chapters.py ch6 numerics  # pages whose name contains one of these

Each page runs as the book build runs it (jupytext + nbclient, working directory ``book/``) in a fresh kernel,
with no results shared from elsewhere (``ATTNBOOK_STUDIES=off``: the studies artifact is not read) and nothing else executing, so its time is
what a reader who builds that chapter, or runs it top to bottom in JupyterLab, waits on this machine (kernel start
included). The table lists the wall time and the slowest cells. In
the book build two chapters execute at once and share the cores, so there a chapter takes longer
(``tools/execute_book.py`` prints those times).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import jupytext
import nbclient
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 60.0


def pages(patterns: list[str]) -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    names = [Path(n).name for n in names]
    return [n for n in names if not patterns or any(p in n for p in patterns)]


def _cell_seconds(cell) -> float:
    m = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in m or "shell.execute_reply" not in m:
        return 0.0
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(m["shell.execute_reply"]) - parse(m["iopub.execute_input"])).total_seconds()


def run(name: str) -> tuple[float, list[tuple[float, str]]]:
    """Execute ``book/<name>.md``; return (wall s, [(seconds, first line) of the three slowest cells])."""
    nb = jupytext.read(ROOT / "book" / f"{name}.md")
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=True,
                                     resources={"metadata": {"path": str(ROOT / "book")}})
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    slow = sorted(((_cell_seconds(c), (c.source.splitlines() or [""])[0][:70]) for c in nb.cells
                   if c.cell_type == "code"), reverse=True)[:3]
    return wall, slow


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("patterns", nargs="*", help="run only pages whose name contains one of these")
    args = ap.parse_args(argv)
    os.environ["ATTNBOOK_STUDIES"] = "off"  # cold: the kernel computes every study itself
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    print(f"cores: {len(os.sched_getaffinity(0))}; load average at start: {os.getloadavg()[0]:.1f}")
    print(f"{'page':24s} {'wall s':>7s}  slowest cells")
    over = []
    for name in pages(args.patterns):
        wall, slow = run(name)
        flag = "  OVER BUDGET" if wall > BUDGET_S else ""
        cells = "; ".join(f"{s:.1f} s {src!r}" for s, src in slow if s >= 1.0)
        print(f"{name:24s} {wall:7.1f}  {cells}{flag}", flush=True)
        if wall > BUDGET_S:
            over.append(name)
    print(f"load average at end: {os.getloadavg()[0]:.1f}; budget {BUDGET_S:.0f} s per chapter: "
          + (f"**MISSED** by {', '.join(over)}" if over else "met by every page"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
