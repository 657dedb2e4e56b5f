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
computing it. Only that command writes the folder (:class:`writing_studies`), and the claims stage its results
under a perturbation (keyed by it, so never read in place of an unperturbed one): a test or a chapter computes what
is missing in memory and stores nothing. A writer that needs an entry another writer is computing waits for it
(a lock file beside the entry) instead of computing it twice. An entry is keyed by the function, its arguments
(plain numbers, strings and tuples of them; other calls are never stored) and :func:`fingerprint`, a hash of the source files of attnlib and
attnbook and of the installed numerical libraries' versions, so a changed line of either never reads an old result.
The fingerprint is taken when this module is imported and checked against the files at every read and write
(:func:`sources_unchanged`): after an edit the process leaves the artifact alone. Each entry carries its key and a
hash of its payload, checked on read; the payload is read by a restricted unpickler that builds numpy arrays and the
classes of attnlib and attnbook only (the folder must still be trusted: a forged entry can hold wrong numbers).
A folder that cannot be written warns once (:class:`StudiesArtifactWarning`) and keeps results in memory.
Outside a checkout of the book's repository (an installed wheel) there is no artifact and nothing is read.
"""
from __future__ import annotations

import contextlib
import contextvars
import copyreg
import dataclasses
import functools
import hashlib
import io
import json
import os
import pickle
import sys
import threading
import warnings
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, NamedTuple, TypeVar

try:
    import fcntl
except ImportError:  # not POSIX: writers may compute an entry twice (the result is the same)
    fcntl = None

# The modules of attnlib and attnbook this process loaded before this one (not the packages that import it): their
# code may predate the fingerprint taken below (_edited_after_loading).
_LOADED_EARLIER = [m for name, m in list(sys.modules.items()) if name.split(".")[0] in ("attnlib", "attnbook")
                   and name not in ("attnbook", "attnbook.experiments", __name__)]

import numpy as np  # noqa: E402

from attnlib.perturbation import active_perturbation, perturbed_inputs  # noqa: E402

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
    for it, and raises what the computation raised. A call with an unhashable argument (a list, an array) raises a
    TypeError that names the argument; ``memo`` of something not callable raises a TypeError.
    """
    if not callable(func):
        raise TypeError(f"memo needs a function (func) to cache; got {type(func).__name__}")
    cache: dict = {}
    pending: dict = {}  # key -> Future of a computation started by background()
    stats = {"hits": 0, "misses": 0}

    def key(args, kwargs):  # a result computed under perturbed_inputs is a different result
        try:
            k = functools._make_key((active_perturbation(),) + tuple(args), kwargs, typed=False)
            hash(k)
        except TypeError:
            _refuse_unhashable(func, args, kwargs)
        return k

    def compute(k, args, kwargs):
        stats["misses"] += 1
        entry = _disk_entry(func, args, kwargs)
        with _computed_once(entry):  # a writer that needs an entry another writer computes waits, then reads it
            value = _disk_load(entry)
            if value is _ABSENT:
                value = func(*args, **kwargs)
                _disk_store(entry, value)
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
            value = _disk_load(_disk_entry(func, args, kwargs))
            if value is not _ABSENT:
                cache[k] = freeze(value)
        return k in cache

    def prime(args: tuple, value: Any) -> Any:
        _disk_store(_disk_entry(func, tuple(args), {}), value)
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
_WRITING: list[tuple[Path, bool]] = []  # (folder, perturbed_only) of the writing_studies() blocks entered, innermost last
_PLAIN = (bool, int, float, str, type(None), np.integer, np.floating, np.bool_)
_WARNED: set = set()  # the topics StudiesArtifactWarning was given for (once each per process)


class StudiesArtifactWarning(UserWarning):
    """The studies artifact could not be used for a result (its folder is not writable, an entry does not hold what
    its path names, the sources changed since this process imported them): the result is computed, and kept, in
    memory only."""


def _warn_once(topic: Any, message: str) -> None:
    if topic not in _WARNED:
        _WARNED.add(topic)
        warnings.warn(message, StudiesArtifactWarning, stacklevel=4)


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
        return _WRITING[-1][0]
    env = os.environ.get(STUDIES_ENV)
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0") else Path(env)
    root = repository_root()
    return None if root is None else root / "_build" / "studies"


# The fingerprint of the sources. It is taken once, when this module is imported (:data:`_SOURCES`), and every read
# or write of the artifact first checks that the source files on disk still hash to it (:func:`sources_unchanged`):
# an edit after the import switches the artifact off for the rest of the process instead of filing the results of
# the code in memory under the key of the code on disk, or the reverse.

_DISTS = ("numpy", "scipy", "cvxpy", "clarabel", "scikit-learn")
_CLOCK_SLACK_NS = 2 * 10**9  # the process start time read from /proc is exact to about a second


def _package_roots() -> tuple[Path, Path]:
    import attnlib

    return Path(attnlib.__file__).resolve().parent, Path(__file__).resolve().parents[1]


def _source_stats() -> dict[str, tuple[int, int]]:
    """``{path: (mtime_ns, size)}`` of every source file of attnlib and attnbook (a cheap test for an edit)."""
    stats = {}
    for root in _package_roots():
        for path in root.rglob("*.py"):
            try:
                st = path.stat()
            except OSError:  # removed while we looked: the hash decides
                continue
            stats[str(path)] = (st.st_mtime_ns, st.st_size)
    return stats


def source_fingerprint() -> str:
    """Hash of the source files of both packages *as they are on disk now* (the library attnlib and the book's
    attnbook), the Python version and the numerical libraries' versions. :func:`fingerprint` is its value when
    this process imported the packages."""
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256(sys.version.encode())
    for root in _package_roots():
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root.parent).as_posix().encode() + b"\0" + path.read_bytes())
    for dist in _DISTS:
        try:
            h.update(f"{dist}=={version(dist)}".encode())
        except PackageNotFoundError:
            pass
    return h.hexdigest()[:20]


def _process_start_ns() -> int | None:
    """When this process started, in ns since the epoch (Linux's /proc); ``None`` where that is unknown."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot * 10**9 + ticks * 10**9 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _edited_after_loading(stats: dict[str, tuple[int, int]]) -> list[str]:
    """Modules of attnlib/attnbook this process loaded *before* this module whose file changed after the process
    started: the code in memory may be older than the file the fingerprint hashes. (The modules imported with this
    one, e.g. by ``from attnbook.experiments import ch1`` in a fresh process, are read from the files the
    fingerprint hashes a moment later: :func:`sources_unchanged` sees any later edit.)"""
    start = _process_start_ns()
    if start is None or not _LOADED_EARLIER:
        return []
    files = {str(Path(m.__file__).resolve()) for m in _LOADED_EARLIER if getattr(m, "__file__", None)}
    return sorted(f for f in files if f in stats and stats[f][0] > start + _CLOCK_SLACK_NS)


@dataclasses.dataclass
class _Sources:
    fingerprint: str
    stats: dict
    stale: list  # files loaded before the fingerprint was taken and edited since the process started


def _take_fingerprint() -> _Sources:
    stats = _source_stats()  # before the hash: an edit while hashing shows as a changed stat at the next check
    return _Sources(source_fingerprint(), stats, _edited_after_loading(stats))


_SOURCES = _take_fingerprint()


def fingerprint() -> str:
    """The fingerprint of the sources this process runs: :func:`source_fingerprint` taken when this module was
    imported (with attnbook.experiments). It keys the studies artifact; a changed line of either package never
    reads an old cached result."""
    return _SOURCES.fingerprint


def sources_unchanged() -> bool:
    """Whether the source files on disk still hash to :func:`fingerprint` (and none of the modules loaded before it
    was taken changed since the process started). When they do not, the studies artifact is neither read nor
    written for the rest of this process (a :class:`StudiesArtifactWarning` says so once): the code in memory and
    the code on disk differ, and a result could be filed under the wrong key. An edit that is undone restores it.
    """
    if _SOURCES.stale:
        _warn_once(("stale", tuple(_SOURCES.stale)),
                   f"{', '.join(_SOURCES.stale)} changed after this process started and loaded it: the studies "
                   "artifact is not read or written in this process (restart it, e.g. the kernel, to use it)")
        return False
    stats = _source_stats()
    if stats == _SOURCES.stats:
        return True
    now = source_fingerprint()
    if now == _SOURCES.fingerprint:  # touched, not changed (a checkout back and forth)
        _SOURCES.stats = stats
        return True
    _warn_once(("edited", now),
               f"the sources of attnlib/attnbook changed since this process imported them (fingerprint "
               f"{_SOURCES.fingerprint}, on disk now {now}): the studies artifact is not read or written until "
               "they are back, or the process (e.g. the kernel) restarts")
    return False


# -- entries: the key and a hash of the payload in a header, the result as a pickle read by a restricted unpickler

_MAGIC = b"attnbook-study 1\n"


class _Entry(NamedTuple):
    path: Path
    key: str  # what the entry holds: fingerprint, function, arguments, perturbation


def _disk_entry(func: Callable, args: tuple, kwargs: dict) -> _Entry | None:
    """Where ``func(*args, **kwargs)`` is kept in the artifact; ``None`` when this call has no place there."""
    folder = studies_dir()
    if folder is None or _PAUSED[0] or not _plain(args) or not _plain(tuple(kwargs.values())):
        return None
    if not sources_unchanged():
        return None
    name = f"{func.__module__}.{func.__qualname__}"
    call = repr((args, sorted(kwargs.items()), active_perturbation()))
    key = f"{fingerprint()} {name} {call}"
    return _Entry(folder / fingerprint() / name / f"{hashlib.sha256(call.encode()).hexdigest()[:32]}.pkl", key)


def _mappingproxy(d: dict) -> MappingProxyType:
    return MappingProxyType(d)


def _reduce_mappingproxy(m: MappingProxyType):
    return _mappingproxy, (dict(m),)


copyreg.pickle(MappingProxyType, _reduce_mappingproxy)  # frozen results nest in others: let them be stored too

# What a stored result may name: numpy's array, dtype and scalar reconstructors, a few builtin types, this module's
# read-only mapping, and the *classes* of attnlib and attnbook. Nothing else is looked up, so an entry cannot call
# os.system, eval, subprocess or any other function: the worst a forged entry can do is hold wrong numbers.
_NUMPY_GLOBALS = {(core + mod, name) for core in ("numpy._core.", "numpy.core.")
                  for mod, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"),
                                    ("numeric", "_frombuffer"))} | {("numpy", "dtype"), ("numpy", "ndarray")}
_BUILTIN_TYPES = {("builtins", name) for name in ("complex", "set", "frozenset", "slice", "range", "bytearray")}


class _ResultUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS | _BUILTIN_TYPES or (module, name) == (__name__, "_mappingproxy"):
            return super().find_class(module, name)
        if module.split(".")[0] in ("attnlib", "attnbook") and name.isidentifier():
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"a stored result may hold numpy arrays and the classes of attnlib and "
                                     f"attnbook, not {module}.{name}")


def _encode(entry: _Entry, value: Any) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    _ResultUnpickler(io.BytesIO(payload)).load()  # what cannot be read back is not stored
    header = json.dumps({"key": entry.key, "sha256": hashlib.sha256(payload).hexdigest()}).encode()
    return _MAGIC + header + b"\n" + payload


def _decode(entry: _Entry, blob: bytes) -> Any:
    """The result stored in ``blob``; ``ValueError`` naming what is wrong when it is not ``entry``'s."""
    if not blob.startswith(_MAGIC):
        raise ValueError("it is not an entry of the studies artifact")
    header, sep, payload = blob[len(_MAGIC):].partition(b"\n")
    try:
        meta = json.loads(header) if sep else {}
    except ValueError:
        meta = {}
    if meta.get("key") != entry.key:
        raise ValueError(f"it holds {meta.get('key')!r}, not {entry.key!r}")
    if meta.get("sha256") != hashlib.sha256(payload).hexdigest():
        raise ValueError("its content does not match its hash (a partial or altered file)")
    try:
        return _ResultUnpickler(io.BytesIO(payload)).load()
    except Exception as exc:
        raise ValueError(f"its result cannot be read: {type(exc).__name__}: {exc}") from None


def _disk_load(entry: _Entry | None) -> Any:
    if entry is None:
        return _ABSENT
    try:
        blob = entry.path.read_bytes()
    except OSError:  # no entry (or no folder, or an unreadable one): compute
        return _ABSENT
    try:
        return _decode(entry, blob)
    except ValueError as exc:
        _warn_once(("entry", entry.path), f"the studies artifact's {entry.path} is not served: {exc}; the result "
                                          "is computed again")
        return _ABSENT


def _writing(entry: _Entry | None) -> bool:
    """Whether this process stores ``entry`` (inside :class:`writing_studies`; with ``perturbed_only``, only the
    results computed under ``perturbed_inputs``)."""
    return entry is not None and bool(_WRITING) and (not _WRITING[-1][1] or active_perturbation() is not None)


@contextlib.contextmanager
def _computed_once(entry: _Entry | None):
    """Hold an exclusive lock on ``entry`` (a ``.lock`` file beside it) while a writer looks it up and computes it:
    another writing process that needs the same entry meanwhile waits and then reads it, instead of computing it a
    second time (the studies command's workers, the claims stage's pytest workers). Readers take no lock. Locks
    are taken along a call path of memo functions, which never calls itself back, so waits cannot form a cycle;
    the system drops a lock when its process ends."""
    if not _writing(entry) or fcntl is None:
        yield
        return
    lock = entry.path.with_suffix(".lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "ab")
    except OSError:  # an unwritable folder: computed here, and _disk_store warns
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _disk_store(entry: _Entry | None, value: Any) -> None:
    if not _writing(entry) or not sources_unchanged():
        return
    try:
        blob = _encode(entry, value)
    except Exception:  # not picklable (e.g. holds a figure) or not a plain result: memory only
        return
    tmp = entry.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        entry.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(blob)
        os.replace(tmp, entry.path)  # atomic: a reader sees the old file or the whole new one
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        folder = entry.path.parents[2]
        _warn_once(("unwritable", folder), f"the studies artifact's folder {folder} is not writable "
                                           f"({exc.strerror or exc}): results are kept in memory only")


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
    :func:`studies_dir`). ``python -m attnbook studies`` (:mod:`attnbook.artifact`) uses it on its workers; the
    claims stage (``pytest -m claims --perturb-seed S``) uses it with ``perturbed_only=True``, so that its pytest
    workers compute each perturbed result once and share it. Everywhere else the artifact is read-only.

    Parameters
    ----------
    folder : path, optional
        Default :func:`studies_dir`.
    perturbed_only : bool, default False
        Store only results computed under :func:`attnlib.perturbed_inputs` (their keys name the perturbation);
        the unperturbed results stay the studies command's.

    Raises
    ------
    RuntimeError
        When there is no folder (an installed wheel, or ``ATTNBOOK_STUDIES=off``).
    """

    def __init__(self, folder: Path | str | None = None, *, perturbed_only: bool = False):
        folder = studies_dir() if folder is None else Path(folder)
        if folder is None:
            raise RuntimeError("no studies artifact here: attnbook does not run from a checkout of the book's "
                               f"repository, or {STUDIES_ENV} is off")
        self.folder, self.perturbed_only = folder, bool(perturbed_only)

    def __enter__(self):
        _WRITING.append((self.folder, self.perturbed_only))
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


#: The environment variable that sets :func:`pool_map`'s number of worker processes.
WORKERS_ENV = "ATTNLIB_WORKERS"


class WorkerPoolError(RuntimeError):
    """:func:`pool_map`'s pool cannot run the work: a worker process died before returning its result, or the
    calling script lacks the ``if __name__ == "__main__":`` guard that a pool of fresh processes needs."""


def _positive_workers(value: Any, name: str) -> int:
    if isinstance(value, str):
        value = value.strip()
    try:
        n = int(value)
        whole = not isinstance(value, (bool, np.bool_)) and n == float(value)
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or n < 1:
        raise ValueError(f"{name} must be a positive whole number of worker processes (1: no pool); got {value!r}")
    return n


def default_workers() -> int:
    """Worker processes for :func:`pool_map`: ``ATTNLIB_WORKERS`` if set (a positive whole number; 1 runs
    serially), else :func:`usable_cores`. The number never changes a result.

    Raises
    ------
    ValueError
        When ``ATTNLIB_WORKERS`` is not a positive whole number (the message names the variable and the value).
    """
    env = os.environ.get(WORKERS_ENV, "")
    if env.strip():
        return _positive_workers(env, f"the environment variable {WORKERS_ENV}")
    return usable_cores()


#: Modules the pool's server process imports once, so that each worker starts with the library loaded (cvxpy too:
#: attnlib imports it on the first SVM solve, and most pooled runs end with one) and with this module's
#: :func:`fingerprint` taken when the server started, before any worker loads a chapter's code.
POOL_PRELOAD = ["attnlib", "cvxpy", __name__]


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


def _has_main_guard(path: str) -> bool | None:
    """Whether the script at ``path`` has a top-level ``if __name__ == "__main__":``; ``None`` if unreadable."""
    import ast

    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in tree.body:
        test = getattr(node, "test", None) if isinstance(node, ast.If) else None
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            sides = [test.left, *test.comparators]
            if (any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
                    and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)):
                return True
    return False


_GUARD_FIX = ('put the code that calls pool_map (or a study, or background()) under `if __name__ == "__main__":` '
              "at the end of the script")


def _check_main_guard(context) -> None:
    """A pool of fresh processes (forkserver, spawn) imports the main script again in each worker; without the
    ``__main__`` guard each worker would run the script's top-level code, and the pool breaks."""
    if context.get_start_method() == "fork":
        return
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if path and _has_main_guard(path) is False:
        raise WorkerPoolError(f"pool_map needs the main script {path} to have an `if __name__ == \"__main__\":` "
                              "guard: each worker process imports the script again and would run its top-level "
                              f"code; {_GUARD_FIX}")


def shutdown_now(pool) -> None:
    """Shut ``pool`` down at once: cancel what has not started and end the workers, without waiting for them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(1.0)


def _check_picklable(func: Callable) -> None:
    """The workers get ``func`` by reference: a lambda or a nested function is a TypeError naming ``func``."""
    import pickle

    try:
        pickle.dumps(func)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(f"func must be a module-level function (pool_map sends it to the workers by reference); "
                        f"{getattr(func, '__qualname__', func)!s} is not ({exc})") from None


def _refuse_unhashable(func: Callable, args: tuple, kwargs: dict) -> None:
    """A memo-cached call with an unhashable argument: a TypeError that names the argument."""
    named = [(f"argument {i}", a) for i, a in enumerate(args)] + [(f"argument {k!r}", a) for k, a in kwargs.items()]
    for label, value in named:
        try:
            hash(value)
        except TypeError:
            raise TypeError(f"{getattr(func, '__qualname__', func)!s} is cached with @memo, so every argument must be "
                            f"hashable (numbers, strings, tuples of them); {label} is a {type(value).__name__}"
                            ) from None
    raise TypeError(f"{getattr(func, '__qualname__', func)!s} is cached with @memo, so every argument must be hashable")


def pool_map(func: Callable[[Any], T], items: Iterable[Any], workers: int | None = None) -> list[T]:
    """``[func(x) for x in items]``, on ``workers`` processes when there is more than one item.

    ``func`` must be a module-level function (it is sent to the workers by reference) and the items picklable; a
    script that calls it needs the ``if __name__ == "__main__":`` guard. Errors raised by ``func`` propagate; the
    first one, or a KeyboardInterrupt (Ctrl-C, a kernel interrupt), cancels the work not started and ends the
    workers at once, without waiting for the running items. Only the failure to create a pool (no process start
    method on this platform, no semaphores in a sandbox) falls back to running serially.

    Raises
    ------
    TypeError
        When ``func`` is not a picklable (module-level) callable or ``items`` not iterable.
    ValueError
        When ``workers`` (or ``ATTNLIB_WORKERS``) is not a positive whole number; ``workers`` as a string too.
    WorkerPoolError
        When the main script lacks the ``__main__`` guard, or a worker process died (killed, out of memory).
    """
    if not callable(func):
        raise TypeError(f"pool_map needs a module-level function (func); got {type(func).__name__}")
    if isinstance(workers, (str, bytes)):  # a string is read from ATTNLIB_WORKERS only
        raise ValueError(f"workers must be a positive whole number or None (a string is read from ATTNLIB_WORKERS "
                         f"only); got {type(workers).__name__} {workers!r}")
    try:
        items = list(items)
    except TypeError:
        raise TypeError(f"items must be an iterable of picklable arguments; got {type(items).__name__}") from None
    workers = default_workers() if workers is None else _positive_workers(workers, "workers")
    if len(items) <= 1 or workers <= 1:
        return [func(x) for x in items]
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    _check_picklable(func)
    context = process_context()
    _check_main_guard(context)
    try:
        pool = ProcessPoolExecutor(min(workers, len(items)), mp_context=context)
    except (OSError, ValueError, ImportError, NotImplementedError):
        return [func(x) for x in items]
    state = active_perturbation()  # workers compute under the caller's perturbed_inputs, if any
    try:
        if state is None:
            results = list(pool.map(func, items))
        else:
            results = list(pool.map(_perturbed_call, [(state, func, x) for x in items]))
    except BrokenProcessPool as exc:
        shutdown_now(pool)
        raise WorkerPoolError(f"a worker process of pool_map died before returning its result ({exc}): it was "
                              "killed (out of memory, a signal), or the main script's top-level code, which each "
                              f"worker runs again, calls pool_map outside its `if __name__ == \"__main__\":` "
                              f"guard ({_GUARD_FIX}); a worker's own error, if any, is printed above") from exc
    except BaseException:  # the work's error, or Ctrl-C: hand it to the caller now
        shutdown_now(pool)
        raise
    pool.shutdown(wait=True)
    return results


def _perturbed_call(job: tuple) -> Any:
    state, func, x = job
    with perturbed_inputs(state.rel, state.seed):
        return func(x)
