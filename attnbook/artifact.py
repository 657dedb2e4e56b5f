"""The studies artifact: ``python -m attnbook studies`` computes every study of the book into ``_build/studies/``.

A *study* is a cached computation of :mod:`attnbook.experiments` (a function decorated with
:func:`~attnbook.experiments._store.memo`) that a chapter, a figure or a claim test calls: every such function
callable without arguments is one (:func:`registry`), and the calls of the others happen inside them. The command
runs them on ``jobs`` worker processes, longest first (the times of the previous run, ``_build/studies/times.json``),
each study keeping its own process pool for its independent flows, and every result lands in
``_build/studies/<fingerprint>/``, which the claim tests, the book's kernels and the figures command then read
(``attnbook.experiments._store``). Results already there are not computed again; ``fresh=True`` empties the folder
first. Folders of other fingerprints (older sources) are removed.
"""
from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from . import experiments
from .experiments import (STUDIES_ENV, fingerprint, process_context, shutdown_now, sources_unchanged, usable_cores,
                          writing_studies)

__all__ = ["StudyTime", "registry", "compute_studies"]


@dataclass(frozen=True)
class StudyTime:
    """How long one study took in :func:`compute_studies`.

    Attributes
    ----------
    name : str
        ``module.function`` (e.g. ``ch6.compute_gd``).
    seconds : float
        Wall time on its worker (0 when its result was in the artifact already).
    cached : bool
        True when the artifact already held it.
    """

    name: str
    seconds: float
    cached: bool


def _is_study(module, name: str, f) -> bool:
    """A function of ``module`` (not imported into it) that computes: public, or a private memo function."""
    if not inspect.isfunction(inspect.unwrap(f)) or getattr(f, "__module__", None) != module.__name__:
        return False
    if name.startswith("_") and not callable(getattr(f, "is_cached", None)):
        return False
    params = inspect.signature(f).parameters.values()
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def registry() -> dict[str, Callable]:
    """Every study: ``{"module.function": f}`` for each function of :mod:`attnbook.experiments` (its chapter
    modules and shared modules) whose parameters all have defaults, public or a private memo function, in module and
    source order. What a function caches with plain arguments (its own result, the flows it runs through
    :func:`~attnbook.experiments._store.memo`) lands in the artifact."""
    studies = {}
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name.startswith("_") or info.name == "prose":
            continue
        module = importlib.import_module(f"{experiments.__name__}.{info.name}")
        members = [(name, f) for name, f in vars(module).items() if _is_study(module, name, f)]
        members.sort(key=lambda item: inspect.unwrap(item[1]).__code__.co_firstlineno)
        studies.update({f"{info.name}.{name}": f for name, f in members})
    return studies


#: Seconds the longest studies took on the project's 2-core machine: the schedule's order when the artifact holds no
#: previous run's times (a fresh clone), so that they start first instead of last. A hint only: it changes no result.
EXPECTED_SECONDS = {"studies.gd_step_study": 13.0, "frame_accuracy.frame_accuracy_table": 8.4,
                    "studies.kq_study": 7.6, "ch1.assumption_isolation": 6.5, "ch5.init_study": 5.8,
                    "frame_accuracy.reduced_frame_check": 4.3, "studies.assumption_design": 3.1,
                    "studies.accuracy_study": 3.0}


def _times_file(folder: Path) -> Path:
    return folder / "times.json"


def _same_sources(expected: str) -> None:
    """Refuse to go on when this worker's sources are not the ones the command started with."""
    if fingerprint() != expected or not sources_unchanged():
        raise RuntimeError(f"the sources of attnlib/attnbook changed while the studies were computed (fingerprint "
                           f"{expected} at the start): run the studies command again")


def _run_one(job: tuple[str, Path, str]) -> StudyTime:
    """Compute one study (default arguments) into the artifact in ``folder``, on a worker process whose sources
    have the fingerprint ``expected`` (the command's)."""
    name, folder, expected = job
    _same_sources(expected)
    f = registry()[name]
    with writing_studies(folder):
        if callable(getattr(f, "is_cached", None)) and f.is_cached():
            return StudyTime(name, 0.0, True)
        start = time.perf_counter()
        f()
    _same_sources(expected)  # what was stored is what this code computed: else nothing was, say so
    return StudyTime(name, time.perf_counter() - start, False)


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RuntimeError(f"the studies artifact's folder {folder} is not a writable directory "
                           f"({exc.strerror or exc}); name another with {STUDIES_ENV}=DIR") from None


def compute_studies(jobs: int | None = None, only: list[str] | None = None, fresh: bool = False,
                    log: Callable[[str], None] = print) -> list[StudyTime]:
    """Compute every study (or those whose name starts with one of ``only``) into the artifact.

    Parameters
    ----------
    jobs : int, optional
        Worker processes (default: the usable cores, at most 4).
    only : list of str, optional
        Name prefixes, e.g. ``["ch6", "studies.kq_study"]``.
    fresh : bool
        Empty the artifact first.
    log : callable
        Receives one line per finished study.

    Returns
    -------
    list of StudyTime
        One per study, in the order they finished.

    Raises
    ------
    RuntimeError
        Outside a checkout of the book's repository, or with ``ATTNBOOK_STUDIES=off`` (no artifact to write), or
        when the folder is not writable (before any study is computed), or when the sources change during the run.
    ValueError
        When ``only`` matches no study.
    RuntimeError
        When a study raises (the message names it; the study's own traceback is chained).
    """
    folder = writing_studies().folder  # raises RuntimeError when there is none
    names = list(registry())
    if only is not None:
        unknown = [p for p in only if not any(n.startswith(p) for n in names)]
        if unknown:
            raise ValueError(f"only: no study matches {unknown}; studies are {', '.join(names)}")
        names = [n for n in names if any(n.startswith(p) for p in only)]
    _check_writable(folder)
    if not sources_unchanged():
        raise RuntimeError("the sources of attnlib/attnbook changed since this process imported them: run the "
                           "studies command again")
    if fresh:
        shutil.rmtree(folder)
        folder.mkdir(parents=True)
    for old in folder.iterdir():  # results of older sources can never be read again
        if old.is_dir() and old.name != fingerprint():
            shutil.rmtree(old, ignore_errors=True)
    try:
        last = json.loads(_times_file(folder).read_text())
    except (OSError, ValueError):
        last = {}
    names.sort(key=lambda n: -float(last.get(n, EXPECTED_SECONDS.get(n, 0.0))))  # longest first
    jobs = usable_cores() if jobs is None else max(1, int(jobs))
    done: list[StudyTime] = []
    pool = ProcessPoolExecutor(jobs, mp_context=process_context())
    try:
        futures = {pool.submit(_run_one, (n, folder, fingerprint())): n for n in names}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except Exception as exc:  # an error in a study stops the command, naming the study
                raise RuntimeError(f"study {futures[fut]} failed: {type(exc).__name__}: {exc}") from exc
            done.append(result)
            log(f"{result.name:40s} {'in the artifact' if result.cached else f'{result.seconds:7.1f} s'}")
    except BaseException:  # a failed study or Ctrl-C: stop the others now (entries are written atomically)
        shutdown_now(pool)
        raise
    pool.shutdown(wait=True)
    times = {**last, **{t.name: t.seconds for t in done if not t.cached}}
    _times_file(folder).write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    return done
