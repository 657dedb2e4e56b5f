"""Benchmark: every gradient flow the book runs, timed one by one (target: each <= 1 s on one core).

Run from the repository root:

    .venv/bin/python benchmarks/book_flows.py              # all chapters (about as long as a book build)
    .venv/bin/python benchmarks/book_flows.py ch4 ch6      # some chapters

Each chapter (``book/*.md``) is executed as a notebook (jupytext + nbclient, like the book build) with one extra
first cell that enters ``attnlib.flow.instrument`` (the flow's timing hook) to record, per call, the
parameterisation, the data size, the final log-time, gradient and Hessian evaluations and the CPU time of the call.
Flows cached by the experiments modules count once, as in the book.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_CPU = 1.0

RECORDER = r'''
import json as _json
import attnlib.flow as _flow

def _write(rec):
    with open(LOG_PATH, "a") as fh:
        fh.write(_json.dumps(rec) + "\n")

_instrument = _flow.instrument(callback=_write)  # kept referenced: active for the rest of the kernel's life
_instrument.__enter__()
'''


def run_chapter(path: Path, log_path: Path, timeout: int = 900) -> float:
    nb = jupytext.read(path)
    cell = nbformat.v4.new_code_cell(f"LOG_PATH = {str(log_path)!r}\n" + RECORDER)
    nb.cells.insert(0, cell)
    start = time.perf_counter()
    os.environ.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})  # as the book
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chapters", nargs="*", help="chapter name prefixes (default: every book/*.md with code)")
    args = ap.parse_args(argv)
    pages = sorted(p for p in (ROOT / "book").glob("*.md") if "```{code-cell}" in p.read_text())
    if args.chapters:
        pages = [p for p in pages if any(p.stem.startswith(c) for c in args.chapters)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# flows of the book — {time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}\n")
    print("| chapter | param | n, L, d | log t end | grad evals | Hessians | CPU [s] | <= 1 s |\n"
          "|---|---|---|---|---|---|---|---|")
    worst, total, count, over = 0.0, 0.0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for page in pages:
            log_path = Path(tmp) / f"{page.stem}.jsonl"
            log_path.touch()
            run_chapter(page, log_path)
            for line in log_path.read_text().splitlines():
                r = json.loads(line)
                ok = r["cpu"] <= TARGET_CPU
                worst, total, count, over = max(worst, r["cpu"]), total + r["cpu"], count + 1, over + (not ok)
                print(f"| {page.stem} | {r['param']} | {r['n']}, {r['L']}, {r['d']} | {r['log_t_end']:.4g} | "
                      f"{r['nfev']} | {r['njev']} | {r['cpu']:.2f} | {'yes' if ok else '**MISSED**'} |", flush=True)
    print(f"\n{count} flows, {total:.1f} s CPU in all; the longest took {worst:.2f} s CPU (target {TARGET_CPU:g} s); "
          f"{over} over the target.")
    if over:
        print(f"TARGET MISSED: {over} flow(s) over {TARGET_CPU:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
