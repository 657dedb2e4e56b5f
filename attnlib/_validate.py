"""Validation at the door (in the style of scikit-learn's ``check_array`` / ``check_scalar``).

Every public function of attnlib checks its arguments with these helpers before computing anything, so a bad
argument gives a :class:`TypeError` (wrong kind of object: None, a string, a complex or object array) or a
:class:`ValueError` (right kind, wrong shape, NaN/inf, out of range) whose message names the argument, says what
was expected and what was given. Nothing here computes results.
"""
from __future__ import annotations

import hashlib
import numbers
from typing import Any

import numpy as np

__all__ = ["MAX_ENTRIES", "check_array", "check_bool", "check_choice", "check_same_data", "check_scalar", "check_seed",
           "data_fingerprint"]

#: The most float64 entries (800 MB) one array the library allocates from a size argument may hold: data sets
#: (n * L * d tokens) and (d, d_e) factors beyond it are refused, naming the size, instead of failing in numpy.
MAX_ENTRIES = 10**8


def describe(value: Any) -> str:
    """A short description of what was given, for error messages."""
    if value is None:
        return "None"
    if isinstance(value, (str, bytes)):
        return f"{type(value).__name__} {value[:40]!r}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, numbers.Number):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__


def check_array(value: Any, name: str, *, shape: tuple | None = None, ndim: int | None = None,
                expected: str | None = None, finite: bool = True) -> np.ndarray:
    """Convert ``value`` to a real float64 array and check it.

    Parameters
    ----------
    value : array_like
    name : str
        The argument's name, used in messages.
    shape : tuple of int or None, optional
        Required shape; ``None`` entries match any length.
    ndim : int, optional
        Required number of dimensions (implied by ``shape``).
    expected : str, optional
        How the expected form is described in messages (default: from ``shape``).
    finite : bool
        Refuse NaN and +-inf entries.

    Returns
    -------
    numpy.ndarray
        A new float64 array (never a view of the caller's array).

    Raises
    ------
    TypeError
        None, a string, a complex, boolean-free object or otherwise non-numeric value.
    ValueError
        Wrong shape, or NaN/inf entries when ``finite``.
    """
    if shape is not None:
        ndim = len(shape)
    want = expected or (f"an array of shape ({', '.join('*' if s is None else str(s) for s in shape)}"
                        f"{',' if shape is not None and len(shape) == 1 else ''})" if shape is not None
                        else f"a {ndim}-D array" if ndim is not None else "an array")
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be {want} of real numbers; got {describe(value)}")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:  # e.g. ragged nested lists
        raise ValueError(f"{name} must be {want} of real numbers; got {describe(value)} ({exc})") from None
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must be {want} of real numbers; got a complex array (attnlib does not drop "
                        f"imaginary parts silently; pass .real if that is what you mean)")
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be {want} of real numbers; got {describe(value)} with entries of dtype "
                        f"{raw.dtype}")
    arr = np.array(raw, dtype=float)
    if ndim is not None and arr.ndim != ndim or shape is not None and any(
            s is not None and s != a for s, a in zip(shape, arr.shape)):
        raise ValueError(f"{name} must be {want}; got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be {want} with finite entries (no NaN or inf); entry {bad if arr.ndim else ''} is "
                         f"{arr[bad] if arr.ndim else arr}")
    return arr


def check_scalar(value: Any, name: str, *, integer: bool = False, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                 finite: bool = True) -> float | int:
    """Check a real (or integer) scalar and its range; returns it as ``float`` (or ``int``).

    ``lo``/``hi`` are inclusive unless ``lo_open``/``hi_open``. Booleans, strings, None, complex numbers and
    arrays of size other than one are refused with a :class:`TypeError`; a non-integral value where an integer
    is needed (``d_e=2.7``), NaN, inf (when ``finite``) or a value out of range with a :class:`ValueError`.
    """
    kind = "an integer" if integer else "a real number"
    rng = ""
    if lo is not None or hi is not None:
        left = "(" if lo_open or lo is None else "["
        right = ")" if hi_open or hi is None else "]"
        rng = f" in {left}{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}{right}"
    want = f"{kind}{rng}"
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, numbers.Number):
        raise TypeError(f"{name} must be {want}; got {describe(value)}")
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {want}; got the complex number {value!r}")
    try:
        x = float(value)
    except OverflowError:  # an int beyond float64 (10**400)
        if finite or integer:
            digits = str(abs(value))
            raise ValueError(f"{name} must be {want}; got an integer of {len(digits)} digits ({'-' if value < 0 else ''}"
                             f"{digits[:6]}...), beyond float64") from None
        x = np.inf if value > 0 else -np.inf
    if np.isnan(x) or finite and np.isinf(x):
        raise ValueError(f"{name} must be {want}; got {x}")
    if integer:
        if x != np.floor(x):
            raise ValueError(f"{name} must be {want}; got {value!r}, which is not a whole number")
        x = int(x)
    if (lo is not None and (x <= lo if lo_open else x < lo)) or (hi is not None and (x >= hi if hi_open else x > hi)):
        raise ValueError(f"{name} must be {want}; got {value!r}")
    return x


def check_seed(value: Any, name: str = "seed", *, allow_none: bool = False) -> int | None:
    """A seed for ``numpy.random.default_rng``: a non-negative integer (or None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    want = "a non-negative integer" + (" or None" if allow_none else "")
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iu":
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {want}; got {describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be {want}; got {value}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """``True`` or ``False`` (numpy booleans too); strings such as ``"no"`` and numbers are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {describe(value)}")
    return bool(value)


def check_choice(value: Any, name: str, choices: tuple) -> str:
    """``value`` must be one of the strings in ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}; got {describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def data_fingerprint(data) -> str:
    """A cheap fingerprint of a data set's arrays (BLAKE2b of ``X, z, y, v``), cached on the data object.

    Results derived from a data set (SVM solutions) carry it, so diagnostics can refuse to compare a
    trajectory with a result computed on *other* data of the same sizes.
    """
    key = "fingerprint"
    if key not in data._cache:
        h = hashlib.blake2b(digest_size=12)
        for arr in (data.X, data.z, data.y, data.v):
            h.update(repr(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        data._cache[key] = h.hexdigest()
    return data._cache[key]


def check_same_data(data, other_fingerprint: str | None, name: str, what: str) -> None:
    """Refuse a result (``name``) computed on a different data set than ``data``."""
    if other_fingerprint is None or other_fingerprint == "":
        return
    if other_fingerprint != data_fingerprint(data):
        raise ValueError(f"{name} must be {what} computed on the same data set as the trajectory; it was computed "
                         f"on a different data set (same sizes n={data.n}, L={data.L}, d={data.d} perhaps, but "
                         f"other X, z, y or v)")
