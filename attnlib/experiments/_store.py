"""The one cache layer and the one process pool of the experiments.

:func:`memo` caches a function's result per argument tuple and returns it **frozen**: numpy arrays come back
read-only, lists become tuples and dicts read-only mappings, so a caller that writes into a cached result gets an
error instead of silently changing every later answer. :func:`pool_map` runs independent computations (flows of
different seeds) on worker processes; an exception raised by the work itself (a ``FlowStallError``, a
``ValueError``) propagates to the caller, only a platform without process pools falls back to serial execution.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from types import MappingProxyType
from typing import NamedTuple
from typing import Any, Callable, Iterable, TypeVar

import numpy as np

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
    instances have their array fields frozen (use ``frozen=True`` dataclasses for the results themselves).
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
            freeze(getattr(obj, f.name))
        return obj
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("attnlib"):
        for v in vars(obj).values():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)
    return obj


def memo(func: Callable[..., T]) -> Callable[..., T]:
    """Cache ``func`` per (hashable) argument tuple and return its results frozen (:func:`freeze`).

    The wrapper also has ``cache_clear()``, ``cache_info()`` (hits, misses, currsize), ``is_cached(*args)`` and
    ``prime(args, value)`` (store a result computed elsewhere, e.g. on a :func:`pool_map` worker).
    """
    cache: dict = {}
    stats = {"hits": 0, "misses": 0}

    def key(args, kwargs):
        return functools._make_key(args, kwargs, typed=False)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        k = key(args, kwargs)
        if k in cache:
            stats["hits"] += 1
            return cache[k]
        stats["misses"] += 1
        value = cache[k] = freeze(func(*args, **kwargs))
        return value

    def cache_clear() -> None:
        cache.clear()
        stats.update(hits=0, misses=0)

    def cache_info() -> CacheInfo:
        return CacheInfo(stats["hits"], stats["misses"], len(cache))

    def is_cached(*args, **kwargs) -> bool:
        return key(args, kwargs) in cache

    def prime(args: tuple, value: Any) -> Any:
        cache[key(tuple(args), {})] = freeze(value)
        return cache[key(tuple(args), {})]

    wrapper.cache_clear = cache_clear  # type: ignore[attr-defined]
    wrapper.cache_info = cache_info  # type: ignore[attr-defined]
    wrapper.is_cached = is_cached  # type: ignore[attr-defined]
    wrapper.prime = prime  # type: ignore[attr-defined]
    _MEMOS.append(wrapper)
    return wrapper


def clear_all() -> None:
    """Empty every :func:`memo` cache (tests use it to check that results do not depend on call order)."""
    for m in _MEMOS:
        m.cache_clear()


def default_workers() -> int:
    """Worker processes for :func:`pool_map`: ``ATTNLIB_WORKERS`` if set, else the usable cores (at most 4)."""
    env = os.environ.get("ATTNLIB_WORKERS")
    if env:
        return max(1, int(env))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


#: Modules the pool's server process imports once, so that each worker starts with the library loaded.
POOL_PRELOAD = ["attnlib"]


def _context():
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
        pool = ProcessPoolExecutor(min(workers, len(items)), mp_context=_context())
    except (OSError, ValueError, ImportError, NotImplementedError):
        return [func(x) for x in items]
    with pool:
        return list(pool.map(func, items))
