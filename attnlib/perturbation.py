"""Rounding-sized perturbations of a computation's inputs: is a result a property of the problem, or of the rounding?

A result whose truth is a count or a yes/no (a flow recovers the optimal tokens or not, a selection, a rank) must
not change when the inputs move by the size of a rounding error; otherwise it is a fact about one machine's
floating-point kernels, not about the problem. :func:`perturbed_inputs` makes that testable: inside it,

- every :class:`~attnlib.AttentionData` built has its tokens ``X``, queries ``z`` and value vector ``v`` multiplied
  entrywise by ``1 + rel * N(0, 1)`` (so exact zeros, and with them diagonal structure, stay exact: rounding never
  turns a zero into a non-zero either), and
- every :func:`~attnlib.gradient_flow` and :func:`~attnlib.gradient_descent` start has its arrays multiplied the
  same way (so a zero block, such as ``Q(0) = 0`` or the ``xi_q(0) = 0`` of initialization (5), stays exactly
  zero), except a start that is zero altogether (``W(0) = 0``, ``beta(0) = 0``), which no relative change can
  move: it becomes ``rel * N(0, 1)``.

The noise is drawn from a generator seeded by ``seed`` and the bytes of the array it perturbs, so the same input
is perturbed the same way in every process and in every order of calls (worker processes and caches stay
consistent); a different ``seed`` gives an independent perturbation. Outside the context nothing is changed.

Examples
--------
>>> import attnlib as al
>>> with al.perturbed_inputs(1e-12, seed=3):
...     data = al.make_diagonal_data()          # tokens, queries and v moved by a relative 1e-12
>>> float(abs(data.X - al.make_diagonal_data().X).max()) < 1e-11
True
"""
from __future__ import annotations

import contextlib
import hashlib
from contextvars import ContextVar
from typing import Iterator, NamedTuple

import numpy as np

__all__ = ["Perturbation", "perturbed_inputs", "unperturbed", "active_perturbation", "perturb_relative", "perturb_init"]


class Perturbation(NamedTuple):
    """The perturbation in force: relative size ``rel`` and ``seed``."""

    rel: float
    seed: int


_ACTIVE: ContextVar[Perturbation | None] = ContextVar("attnlib_perturbation", default=None)


@contextlib.contextmanager
def perturbed_inputs(rel: float = 1e-12, seed: int = 0) -> Iterator[Perturbation]:
    """Context in which data sets and flow starts are perturbed by a relative ``rel`` (see the module docstring).

    Parameters
    ----------
    rel : float
        Relative size, in (0, 1e-3]; 1e-12 is a few thousand ulps, the size of a different BLAS kernel's
        rounding after a few thousand operations.
    seed : int
        Non-negative; each seed gives an independent perturbation.

    Yields
    ------
    Perturbation
    """
    from ._validate import check_scalar

    rel = check_scalar(rel, "rel", lo=0.0, lo_open=True, hi=1e-3)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative integer; got {type(seed).__name__} {seed!r}")
    state = Perturbation(float(rel), int(seed))
    token = _ACTIVE.set(state)
    try:
        yield state
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def unperturbed() -> Iterator[None]:
    """Context in which nothing is perturbed, even inside :func:`perturbed_inputs`: for inputs assembled from parts
    that were already perturbed one by one (e.g. :func:`attnlib.data.block_diagonal_data` of data sets built each in
    its own ``perturbed_inputs(rel, seed)``), which must not move a second time."""
    token = _ACTIVE.set(None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_perturbation() -> Perturbation | None:
    """The perturbation in force in this context, or ``None``."""
    return _ACTIVE.get()


def _noise(arr: np.ndarray, state: Perturbation, label: str) -> np.ndarray:
    digest = hashlib.sha256(label.encode() + np.ascontiguousarray(arr).tobytes()).digest()
    rng = np.random.default_rng([state.seed, int.from_bytes(digest[:8], "little")])
    return rng.standard_normal(arr.shape)


def perturb_relative(arr: np.ndarray, label: str) -> np.ndarray:
    """``arr * (1 + rel * N(0, 1))`` entrywise under :func:`perturbed_inputs`, else ``arr`` itself (exact zeros
    stay exact).

    Parameters
    ----------
    arr : numpy.ndarray
        A float array: of a data set (``X``, ``z`` or ``v``) or a part of a flow's start.
    label : str
        Its name; mixed into the seed so that equal arrays under different names move independently.
    """
    state = _ACTIVE.get()
    if state is None:
        return arr
    return arr * (1.0 + state.rel * _noise(arr, state, label))


def perturb_init(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The parts of an initialization under :func:`perturbed_inputs`: each multiplied entrywise by
    ``1 + rel * N(0, 1)``, or, when every entry of every part is zero, replaced by ``rel * N(0, 1)``; outside the
    context the arrays unchanged.

    Parameters
    ----------
    arrays : list of numpy.ndarray
        The parts of one initialization (``[W0]``, ``[K0, Q0]``, ``[beta0]`` or ``[xi_k0, xi_q0]``).
    """
    state = _ACTIVE.get()
    if state is None:
        return arrays
    if any(np.any(a != 0) for a in arrays):
        return [perturb_relative(a, f"init{j}") for j, a in enumerate(arrays)]
    return [state.rel * _noise(a, state, f"init{j}") for j, a in enumerate(arrays)]
