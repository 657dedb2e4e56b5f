"""Execute the book's pages into jupyter-cache before ``jupyter-book build`` reads them.

    python tools/execute_book.py [--jobs N] [--only PAGE ...] [--all]   # before jupyter-book build
    python tools/execute_book.py --verify                               # after it: Sphinx executed nothing
    python tools/execute_book.py --config .pdf-config.yml ...           # another configuration (the PDF's)

``_config.yml`` says ``execute_notebooks: cache``: myst-nb looks each page's notebook up in the jupyter-cache
``_build/.jupyter_cache`` by its key (the hash of its code cells and kernelspec) and executes it only if the key
is missing. This script fills the cache first, with jupyter-cache's own API: the pages that are notebooks form a
jupyter-cache project (read with myst-nb's ``myst_nb_md`` reader, the one myst-nb itself hands to the cache), and
those whose key is missing are executed ``--jobs`` at a time (default ``BOOK_JOBS`` or min(2, cores)) by
jupyter-cache's execution worker, longest first (the previous run's times, ``_build/chapter-times.json``, else
the source size). A page whose prose changed keeps its key and is not executed; a page whose code changed is,
alone. Each kernel runs in the page's folder (``run_in_temp: false``) with the variables of ``_config.yml``'s
``book_kernels.env`` (the static-twin switch ``ATTNLIB_BOOK_BUILD=1`` and one BLAS thread) added to this
process's environment; the worker processes that start the kernels get them, this process does not.

The key is the code only, so what the code calls is checked here: when a hash of attnlib/, attnbook/, the lock,
pyproject.toml, the ``execute`` and ``book_kernels`` sections of _config.yml and this file changes, the cache is
emptied (every page executes again); when the rest of _config.yml, _toc.yml or book/_ext/ changes, only Sphinx's
environment ``_build/.doctrees`` is, so every page is read again from the cache. ``--all`` does both. The hashes are
kept in ``_build/.book-sources.json``.

A cell that raises (without the ``raises-exception`` tag) fails the page: its traceback is printed and saved in
``_build/html/reports/<page>.err.log`` and the script exits 1 after the other pages have run. Each executed page's
time (jupyter-cache records it) is printed, flagged when over the one-minute budget, and saved in
``_build/chapter-times.json``. The cache's records after this run are listed in
``_build/.book-cache-keys.json``; ``--verify`` then checks that the cache holds no other record, i.e. that jupyter-book found every page under the key
computed here and executed none itself (a differing key would make every build execute the book twice). The cache
keeps the last 60 executed notebooks, so undoing an edit finds the earlier outputs.

``--config`` reads another configuration instead of _config.yml: tools/build_pdf.sh passes the PDF's, whose kernels
also get ``ATTNLIB_PRINT_BUILD=1`` (vector figures) and whose cache is its own (``_build/.jupyter_cache_print``), with
its own record of hashes, keys and page times beside it (``_build/.jupyter_cache_print.sources.json``,
``.keys.json``, ``.times.json``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ExecutionWorkerTempMProc, ProcessData

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
TIMES = BUILD / "chapter-times.json"
STAMP = BUILD / ".book-sources.json"
KEYS = BUILD / ".book-cache-keys.json"
DEFAULT_CACHE = "_build/.jupyter_cache"   # the HTML book's (_config.yml); the PDF's is its own (tools/build_pdf.sh)
REPORTS = BUILD / "html" / "reports"
#: The standard every chapter is held to (README): it executes in under a minute.
CHAPTER_BUDGET_S = 60.0
#: Executed notebooks the cache keeps (least recently used dropped first): a few versions of each page, so undoing an
#: edit finds the earlier outputs.
CACHE_LIMIT = 60
#: The jupyter-cache reader myst-nb uses for a MyST Markdown notebook (myst_nb.core.read.create_nb_reader).
READER = {"type": "plugin", "name": "myst_nb_md"}
#: What the pages' code calls (a change empties the cache) and what only Sphinx reads (a change re-reads every page).
EXECUTION_SOURCES = ("attnlib", "attnbook", "requirements-lock.txt", "pyproject.toml", "tools/execute_book.py")
RENDERING_SOURCES = ("_config.yml", "_toc.yml", "book/_ext", "attnbook/paper_map.py", "attnbook/paper_map.toml")
#: Files under EXECUTION_SOURCES that no page's code imports, only Sphinx (the map's registry and reader, read by
#: book/_ext/paper_map.py; tests/book/test_paper_map.py checks that no page imports them): an edit re-reads the pages.
RENDERING_ONLY = frozenset(RENDERING_SOURCES[3:])
#: The sections of _config.yml that change what a kernel computes.
EXECUTION_CONFIG = ("execute", "book_kernels")


def log(msg: str) -> None:
    print(f"[execute_book] {msg}", flush=True)


def config(path: Path | str = "_config.yml") -> dict:
    """The book's configuration (``path`` relative to the repository root)."""
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def cache_path(cfg: dict) -> Path:
    return ROOT / (cfg.get("execute", {}).get("cache") or DEFAULT_CACHE)


def is_html_cache(cfg: dict) -> bool:
    """Whether ``cfg`` executes into the HTML book's cache (else another configuration's, the PDF's)."""
    return cache_path(cfg) == ROOT / DEFAULT_CACHE


def state_files(cfg: dict) -> tuple[Path, Path, Path]:
    """Where the hashes (:func:`invalidate`), the cache's keys (:func:`verify`) and the pages' execution times
    (:func:`report_times`) of ``cfg``'s cache are kept: STAMP, KEYS and TIMES for the HTML book's cache,
    ``<cache>.sources.json``, ``<cache>.keys.json`` and ``<cache>.times.json`` for another (the PDF's, whose
    kernels also render vector figures: its times are not the book's)."""
    if is_html_cache(cfg):
        return STAMP, KEYS, TIMES
    cache = cache_path(cfg)
    return tuple(cache.with_name(f"{cache.name}.{what}.json") for what in ("sources", "keys", "times"))


def kernel_env(cfg: dict) -> dict[str, str]:
    """The variables every kernel of the build starts with (``book_kernels.env`` of _config.yml)."""
    env = (cfg.get("book_kernels") or {}).get("env") or {}
    return {str(k): str(v) for k, v in env.items()}


def pages(cfg: dict) -> list[Path]:
    """The pages of _toc.yml that myst-nb reads as notebooks (a jupytext/kernelspec header), in toc order."""
    from myst_nb.core.read import is_myst_markdown_notebook   # (imported here: --verify does not need myst-nb)

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    out = []
    for name in files:
        path = ROOT / f"{name}.md"
        if path.is_file() and is_myst_markdown_notebook(path.read_text(encoding="utf-8")):
            out.append(path)
    return out


def docname(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix()


# -- what the cache depends on beyond the code ------------------------------------------------------------------------
def _hash_paths(paths, extra: bytes = b"") -> str:
    h = hashlib.sha256(extra)
    for name in paths:
        p = ROOT / name
        files = sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts) if p.is_dir() else [p]
        if p.is_dir():
            files = [f for f in files if f.relative_to(ROOT).as_posix() not in RENDERING_ONLY]
        for f in files:
            if f.exists():
                h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def source_hashes(cfg: dict) -> dict[str, str]:
    execution_cfg = json.dumps({k: cfg.get(k) for k in EXECUTION_CONFIG}, sort_keys=True).encode()
    return {"execution": _hash_paths(EXECUTION_SOURCES, execution_cfg), "rendering": _hash_paths(RENDERING_SOURCES)}


def invalidate(cfg: dict, everything: bool) -> None:
    """Empty the cache and/or Sphinx's environment when what they were made from changed (module docstring)."""
    new = source_hashes(cfg)
    stamp = state_files(cfg)[0]
    try:
        old = json.loads(stamp.read_text())
    except (OSError, ValueError):
        old = {}
    cache = cache_path(cfg)
    # Sphinx's environment of the HTML book; the PDF's build starts from an empty output folder every time
    doctrees = BUILD / ".doctrees" if is_html_cache(cfg) else None
    if everything or old.get("execution") != new["execution"]:
        why = "--all" if everything else "attnlib, attnbook, the lock or the execution settings changed"
        if cache.exists():
            log(f"emptying the cache {cache.relative_to(ROOT)} ({why}): every page executes")
        shutil.rmtree(cache, ignore_errors=True)
        if doctrees is not None:
            shutil.rmtree(doctrees, ignore_errors=True)
    elif old.get("rendering") != new["rendering"] and doctrees is not None:
        log("_config.yml, _toc.yml or book/_ext changed: Sphinx reads every page again (from the cache)")
        shutil.rmtree(doctrees, ignore_errors=True)
    BUILD.mkdir(exist_ok=True)
    stamp.write_text(json.dumps(new, indent=1) + "\n")


# -- execution -----------------------------------------------------------------------------------------------------------
def expected_cost(paths: list[Path], times: Path) -> dict[Path, float]:
    """Each page's expected execution time: the last run's (``times``), else its source size (bytes / 1000)."""
    try:
        last = json.loads(times.read_text())
    except (OSError, ValueError):
        last = {}
    return {p: float(last.get(docname(p), p.stat().st_size / 1000)) for p in paths}


def _start_worker(env: dict[str, str]) -> None:
    os.environ.update(env)   # this worker process starts kernels only: they inherit these


def execute(cfg: dict, only: list[str], jobs: int) -> int:
    """Execute every project page whose key is missing from the cache; 0 if all succeeded."""
    cache = get_cache(str(cache_path(cfg)))
    if cache.get_cache_limit() != CACHE_LIMIT:
        cache.change_cache_limit(CACHE_LIMIT)
    execute_cfg = cfg.get("execute", {})
    all_pages = pages(cfg)
    records = {}
    for path in all_pages:   # the project: every notebook page (re-adding one is a no-op)
        records[path] = cache.add_nb_to_project(str(path), read_data=READER)
    for rec in cache.list_project_records():   # pages no longer in the book leave the project
        if Path(rec.uri) not in records:
            cache.remove_nb_from_project(rec.pk)
    wanted = [p for p in all_pages if not only or any(o in p.stem for o in only)]
    # One execution per missing key: the pages without code cells share one (an empty notebook).
    todo: dict[str, Path] = {}
    for path in wanted:
        nb = cache.get_project_notebook(str(path)).nb
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo.setdefault(cache.create_hashed_notebook(nb)[1], path)
    _, keys, times = state_files(cfg)
    cost = expected_cost(list(todo.values()), times)
    order = sorted(todo.values(), key=lambda p: -cost[p])
    failed: list[Path] = []
    if order:
        env = kernel_env(cfg)
        log(f"executing {len(order)} of {len(wanted)} pages, {jobs} at a time, longest first, in book/ with "
            + " ".join(f"{k}={v}" for k, v in env.items()))
        worker = ExecutionWorkerTempMProc() if execute_cfg.get("run_in_temp") else ExecutionWorkerLocalMProc()
        timeout = execute_cfg.get("timeout", 30)
        allow_errors = bool(execute_cfg.get("allow_errors", False))
        tasks = [ProcessData(records[p].pk, str(p), cache, timeout, allow_errors) for p in order]
        start = time.time()
        # chunksize 1: a free worker takes the next page of the longest-first list (jupyter-cache's own
        # local-parallel executor uses pool.map, which hands each worker a run of pages).
        with multiprocessing.Pool(jobs, initializer=_start_worker, initargs=(env,)) as pool:
            for status, uri in pool.imap_unordered(worker, tasks, chunksize=1):
                path = Path(uri)
                if status == 0:
                    log(f"{time.time() - start:5.0f}s  executed {docname(path)}")
                    continue
                failed.append(path)
                record = cache.get_project_record(uri)
                tb = record.traceback or "(no traceback: see the messages above)"
                report = REPORTS / f"{docname(path)}.err.log"
                report.parent.mkdir(parents=True, exist_ok=True)
                report.write_text(tb, encoding="utf-8")
                log(f"{time.time() - start:5.0f}s  FAILED {docname(path)}: traceback in {report.relative_to(ROOT)}\n{tb}")
        report_times(cache, [p for p in order if p not in failed], times)
    else:
        log(f"all {len(wanted)} pages are in the cache: nothing to execute")
    keys.write_text(json.dumps(sorted(r.pk for r in cache.list_cache_records())) + "\n")
    if failed:
        log(f"FAILED: {', '.join(docname(p) for p in failed)} (tracebacks in {REPORTS.relative_to(ROOT)}/)")
        return 1
    return 0


def report_times(cache, executed: list[Path], times_file: Path) -> dict[str, float]:
    """Print each executed page's time (recorded by jupyter-cache) and merge them into ``times_file`` (the HTML
    book's: ``_build/chapter-times.json``)."""
    times = {}
    for path in executed:
        record = cache.get_cached_project_nb(str(path))
        if record is not None and record.data.get("execution_seconds") is not None:
            times[docname(path)] = round(float(record.data["execution_seconds"]), 1)
    if not times:
        return times
    log("execution time per page (s; pages executed at once share the cores):")
    for doc, secs in sorted(times.items(), key=lambda kv: -kv[1]):
        flag = f"  over the {CHAPTER_BUDGET_S:.0f} s budget" if secs > CHAPTER_BUDGET_S else ""
        log(f"  {secs:6.1f}  {doc}{flag}")
    try:
        merged = json.loads(times_file.read_text())
    except (OSError, ValueError):
        merged = {}
    merged.update(times)
    times_file.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
    return times


def verify(cfg: dict) -> int:
    """0 if the cache holds only the records this script made or found (jupyter-book executed nothing itself)."""
    keys = state_files(cfg)[1]
    try:
        known = set(json.loads(keys.read_text()))
    except (OSError, ValueError):
        log(f"--verify: {keys.relative_to(ROOT)} is missing: run this script before jupyter-book build")
        return 1
    cache = get_cache(str(cache_path(cfg)))
    extra = [r for r in cache.list_cache_records() if r.pk not in known]
    if extra:
        log("FAILED: jupyter-book executed " + ", ".join(Path(r.uri).stem for r in extra) + " itself: the key "
            "myst-nb computed differs from the one computed here (see tests/book/test_book_build.py), or the page "
            "changed during the build")
        return 1
    log("verified: jupyter-book executed nothing (every page came from the cache)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("BOOK_JOBS", min(2, os.cpu_count() or 1))),
                    help="pages executed at once (default: BOOK_JOBS or min(2, cores))")
    ap.add_argument("--only", nargs="+", default=[], metavar="PAGE",
                    help="execute only pages whose name contains one of these (the PDF of one chapter)")
    ap.add_argument("--all", action="store_true", help="empty the cache and Sphinx's environment first")
    ap.add_argument("--verify", action="store_true", help="after jupyter-book build: it executed nothing")
    ap.add_argument("--config", default="_config.yml", metavar="FILE",
                    help="the book's configuration, relative to the repository root (default _config.yml)")
    args = ap.parse_args(argv)
    if not (ROOT / args.config).is_file():
        ap.error(f"--config: expected a configuration file relative to the repository root, got {args.config!r}")
    cfg = config(args.config)
    if args.verify:
        return verify(cfg)
    if cfg.get("execute", {}).get("execute_notebooks") != "cache":
        log("_config.yml: execute.execute_notebooks is not 'cache'; jupyter-book would not read what this executes")
        return 2
    invalidate(cfg, args.all)
    return execute(cfg, args.only, max(1, args.jobs))


if __name__ == "__main__":
    sys.exit(main())
