"""The one cache layer and the one process pool of the experiments.

:func:`memo` caches a function's result per argument tuple and returns it **frozen**: numpy arrays come back
read-only, lists become tuples and dicts read-only mappings, so a caller that writes into a cached result gets an
error instead of silently changing every later answer. :func:`pool_map` runs independent computations (flows of
different seeds) on worker processes; an exception raised by the work itself (a ``FlowStallError``, a
``ValueError``) propagates to the caller, only a platform without process pools falls back to serial execution.
:func:`background` starts cached computations on a background thread, so that a chapter's studies run while its
first figures draw; a later call returns the result, waiting for it if it is still being computed.

The studies artifact. ``python -m attnbook studies`` computes every study of the book once, in parallel, into
``_build/studies/<fingerprint>/`` of the repository (:func:`studies_dir`); :func:`memo` in every later process (the
claim tests, the book's kernels, JupyterLab, ``python -m attnbook figures``) reads a result from there before
computing it. Only that command writes the folder (:class:`writing_studies`): a test or a chapter computes what is
missing in memory and stores nothing. An entry is keyed by the function, its arguments (plain numbers, strings and
tuples of them; other calls are never stored) and :func:`fingerprint`, a hash of the source files of attnlib and
attnbook and of the installed numerical libraries' versions, so a changed line of either never reads an old result.
Outside a checkout of the book's repository (an installed wheel) there is no artifact and nothing is read.
"""
from __future__ import annotations

import contextvars
import copyreg
import dataclasses
import functools
import hashlib
import os
import pickle
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, NamedTuple, TypeVar

import numpy as np

from attnlib.perturbation import active_perturbation, perturbed_inputs

T = TypeVar("T")


class CacheInfo(NamedTuple):
    """What a :func:`memo` cache holds: hits, misses, entries."""

    hits: int
    misses: int
    currsize: int


_MEMOS: list[Callable] = []


def freeze(obj: Any) -> Any:
    """``obj`` with every numpy array inside it made read-only (containers rebuilt as immutable ones).

    Arrays are flagged read-only in place; lists/tuples become tuples, dicts ``MappingProxyType``; dataclass
    instances have their fields frozen the same way; the list and dict fields of the book's results (dataclasses of
    ``attnbook``, fields set by ``__init__``) are replaced by their immutable copies, while the library's objects
    (``AttentionData``, ``Trajectory``) keep their own state (use ``frozen=True`` dataclasses for results).
    """
    if isinstance(obj, np.ndarray):
        obj.setflags(write=False)
        return obj
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return tuple(freeze(v) for v in obj)
    if isinstance(obj, tuple):  # namedtuple: freeze fields in place
        for v in obj:
            freeze(v)
        return obj
    if isinstance(obj, dict):
        return MappingProxyType({k: freeze(v) for k, v in obj.items()})
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            frozen = freeze(value)
            if frozen is not value and f.init and type(obj).__module__.startswith("attnbook."):
                object.__setattr__(obj, f.name, frozen)  # a table of a book result: its immutable copy
        return obj
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith(("attnlib", "attnbook")):
        for v in vars(obj).values():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)
    return obj


def memo(func: Callable[..., T]) -> Callable[..., T]:
    """Cache ``func`` per (hashable) argument tuple and return its results frozen (:func:`freeze`).

    The wrapper also has ``cache_clear()``, ``cache_info()`` (hits, misses, currsize), ``is_cached(*args)``,
    ``prime(args, value)`` (store a result computed elsewhere, e.g. on a :func:`pool_map` worker) and
    ``defer(*args)`` (used by :func:`background`). A call whose result is being computed in the background waits
    for it, and raises what the computation raised.
    """
    cache: dict = {}
    pending: dict = {}  # key -> Future of a computation started by background()
    stats = {"hits": 0, "misses": 0}

    def key(args, kwargs):  # a result computed under perturbed_inputs is a different result
        return functools._make_key((active_perturbation(),) + tuple(args), kwargs, typed=False)

    def compute(k, args, kwargs):
        stats["misses"] += 1
        path = _disk_path(func, args, kwargs)
        value = _disk_load(path)
        if value is _ABSENT:
            value = func(*args, **kwargs)
            _disk_store(path, value)
        value = cache[k] = freeze(value)
        return value

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        k = key(args, kwargs)
        if k in cache:
            stats["hits"] += 1
            return cache[k]
        running = pending.get(k)
        if running is not None:
            return running.result()
        return compute(k, args, kwargs)

    def cache_clear() -> None:
        cache.clear()
        stats.update(hits=0, misses=0)

    def cache_info() -> CacheInfo:
        return CacheInfo(stats["hits"], stats["misses"], len(cache))

    def is_cached(*args, **kwargs) -> bool:
        k = key(args, kwargs)
        if k not in cache:
            value = _disk_load(_disk_path(func, args, kwargs))
            if value is not _ABSENT:
                cache[k] = freeze(value)
        return k in cache

    def prime(args: tuple, value: Any) -> Any:
        _disk_store(_disk_path(func, tuple(args), {}), value)
        cache[key(tuple(args), {})] = freeze(value)
        return cache[key(tuple(args), {})]

    def defer(*args, **kwargs) -> Callable[[], None] | None:
        """Register the computation of ``func(*args, **kwargs)`` as pending and return the job that runs it
        (``None`` if the result is cached or already pending)."""
        k = key(args, kwargs)
        if k in cache or k in pending:
            return None
        running = pending[k] = Future()
        context = contextvars.copy_context()  # the thread computes under the caller's perturbed_inputs, if any

        def job() -> None:
            try:
                running.set_result(context.run(compute, k, args, kwargs))
            except BaseException as exc:  # handed to the caller that waits for the result
                running.set_exception(exc)
            finally:
                pending.pop(k, None)

        return job

    wrapper.cache_clear = cache_clear  # type: ignore[attr-defined]
    wrapper.cache_info = cache_info  # type: ignore[attr-defined]
    wrapper.is_cached = is_cached  # type: ignore[attr-defined]
    wrapper.prime = prime  # type: ignore[attr-defined]
    wrapper.defer = defer  # type: ignore[attr-defined]
    _MEMOS.append(wrapper)
    return wrapper


def background(*funcs: Callable) -> None:
    """Start ``funcs`` (:func:`memo` functions, called with their default arguments) one after another on a
    background thread (none when every result is cached or pending already).

    A later call of one of them returns its result at once, or waits until the thread has computed it; an error
    raised by the computation is raised by that call. The computations themselves use :func:`pool_map`.
    """
    for f in funcs:
        if not callable(getattr(f, "defer", None)):
            raise TypeError(f"background() expects functions decorated with memo; got {f!r}")
    jobs = [job for job in (f.defer() for f in funcs) if job is not None]
    if jobs:
        threading.Thread(target=lambda: [job() for job in jobs], name="attnlib-background", daemon=True).start()


# -- the studies artifact (_build/studies) ---------------------------------------------------------------------

#: Names the artifact's folder explicitly (a path, or ``off`` for none), instead of the repository's
#: ``_build/studies``: ``benchmarks/chapters.py`` sets ``off`` to time chapters cold.
STUDIES_ENV = "ATTNBOOK_STUDIES"
_ABSENT = object()
_PAUSED = [0]  # > 0 inside disk_cache_paused()
_WRITING: list[Path] = []  # the folders of the writing_studies() blocks entered, innermost last
_PLAIN = (bool, int, float, str, type(None), np.integer, np.floating, np.bool_)


def _plain(x: Any) -> bool:
    return isinstance(x, _PLAIN) or (isinstance(x, tuple) and all(_plain(v) for v in x))


def repository_root() -> Path | None:
    """The checkout of the book's repository this attnbook runs from (it has ``_toc.yml`` beside the package);
    ``None`` for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "_toc.yml").is_file() and (root / "attnbook").is_dir() else None


def studies_dir() -> Path | None:
    """The studies artifact's folder: the one :class:`writing_studies` names, else ``ATTNBOOK_STUDIES`` if set
    (``off`` or empty: none), else ``<repository>/_build/studies`` in a checkout of the repository, else ``None``."""
    if _WRITING:
        return _WRITING[-1]
    env = os.environ.get(STUDIES_ENV)
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0") else Path(env)
    root = repository_root()
    return None if root is None else root / "_build" / "studies"


@functools.lru_cache(maxsize=None)
def fingerprint() -> str:
    """Hash of the source files of both packages (the library attnlib and the book's attnbook), the Python version
    and the numerical libraries' versions: a changed line of either never reads an old cached result."""
    from importlib.metadata import PackageNotFoundError, version

    import attnlib

    h = hashlib.sha256(sys.version.encode())
    for root in (Path(attnlib.__file__).resolve().parent, Path(__file__).resolve().parents[1]):
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root.parent).as_posix().encode() + b"\0" + path.read_bytes())
    for dist in ("numpy", "scipy", "cvxpy", "clarabel", "scikit-learn"):
        try:
            h.update(f"{dist}=={version(dist)}".encode())
        except PackageNotFoundError:
            pass
    return h.hexdigest()[:20]


def _disk_path(func: Callable, args: tuple, kwargs: dict) -> Path | None:
    """Where ``func(*args, **kwargs)`` is kept in the artifact; ``None`` when this call has no place there."""
    folder = studies_dir()
    if folder is None or _PAUSED[0] or not _plain(args) or not _plain(tuple(kwargs.values())):
        return None
    call = repr((args, sorted(kwargs.items()), active_perturbation())).encode()
    return (folder / fingerprint() / f"{func.__module__}.{func.__qualname__}"
            / f"{hashlib.sha256(call).hexdigest()[:32]}.pkl")


def _mappingproxy(d: dict) -> MappingProxyType:
    return MappingProxyType(d)


def _reduce_mappingproxy(m: MappingProxyType):
    return _mappingproxy, (dict(m),)


copyreg.pickle(MappingProxyType, _reduce_mappingproxy)  # frozen results nest in others: let them be stored too


def _disk_load(path: Path | None) -> Any:
    if path is None or not path.is_file():
        return _ABSENT
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # a partial or foreign file: compute again
        return _ABSENT


def _disk_store(path: Path | None, value: Any) -> None:
    if path is None or not _WRITING:
        return
    try:
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # not picklable (e.g. holds a figure): memory only
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one


class disk_cache_paused:
    """Context manager: inside it :func:`memo` neither reads nor writes the studies artifact (the tests use it
    around every test that monkeypatches, so that a patched computation never reads a result of unpatched code)."""

    def __enter__(self):
        _PAUSED[0] += 1
        return self

    def __exit__(self, *exc) -> None:
        _PAUSED[0] -= 1


class writing_studies:
    """Context manager: inside it :func:`memo` reads and also writes the studies artifact in ``folder`` (default:
    :func:`studies_dir`). Only ``python -m attnbook studies`` (:mod:`attnbook.artifact`) uses it, on its workers;
    everywhere else the artifact is read-only.

    Raises
    ------
    RuntimeError
        When there is no folder (an installed wheel, or ``ATTNBOOK_STUDIES=off``).
    """

    def __init__(self, folder: Path | str | None = None):
        folder = studies_dir() if folder is None else Path(folder)
        if folder is None:
            raise RuntimeError("no studies artifact here: attnbook does not run from a checkout of the book's "
                               f"repository, or {STUDIES_ENV} is off")
        self.folder = folder

    def __enter__(self):
        _WRITING.append(self.folder)
        return self

    def __exit__(self, *exc) -> None:
        _WRITING.pop()


def clear_all() -> None:
    """Empty every :func:`memo` cache (tests use it to check that results do not depend on call order)."""
    for m in _MEMOS:
        m.cache_clear()


def usable_cores() -> int:
    """The cores this process may run on, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def default_workers() -> int:
    """Worker processes for :func:`pool_map`: ``ATTNLIB_WORKERS`` if set, else :func:`usable_cores`. The number
    never changes a result."""
    env = os.environ.get("ATTNLIB_WORKERS")
    if env:
        return max(1, int(env))
    return usable_cores()


#: Modules the pool's server process imports once, so that each worker starts with the library loaded (cvxpy too:
#: attnlib imports it on the first SVM solve, and most pooled runs end with one).
POOL_PRELOAD = ["attnlib", "cvxpy"]


def process_context():
    """The ``forkserver`` start method, preloading :data:`POOL_PRELOAD` (``fork`` where there is no forkserver).

    Plain ``fork`` copies the parent's threads' locks: after a conic solver (Clarabel) has run in the parent, a
    forked worker was seen to hang inside ``solve`` for good. The fork server is a fresh single-threaded process
    that imports the library once; workers fork from it, so they start fast and inherit no solver state.
    """
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(POOL_PRELOAD)
        return ctx
    return mp.get_context("fork")


def pool_map(func: Callable[[Any], T], items: Iterable[Any], workers: int | None = None) -> list[T]:
    """``[func(x) for x in items]``, on ``workers`` processes when there is more than one item.

    ``func`` must be a module-level function (it is sent to the workers by reference) and the items picklable.
    Errors raised by ``func`` propagate; only the failure to create a pool (no process start method on this
    platform, no semaphores in a sandbox) falls back to running serially.
    """
    items = list(items)
    workers = default_workers() if workers is None else int(workers)
    if len(items) <= 1 or workers <= 1:
        return [func(x) for x in items]
    from concurrent.futures import ProcessPoolExecutor

    try:
        pool = ProcessPoolExecutor(min(workers, len(items)), mp_context=process_context())
    except (OSError, ValueError, ImportError, NotImplementedError):
        return [func(x) for x in items]
    state = active_perturbation()  # workers compute under the caller's perturbed_inputs, if any
    with pool:
        if state is None:
            return list(pool.map(func, items))
        return list(pool.map(_perturbed_call, [(state, func, x) for x in items]))


def _perturbed_call(job: tuple) -> Any:
    state, func, x = job
    with perturbed_inputs(state.rel, state.seed):
        return func(x)
