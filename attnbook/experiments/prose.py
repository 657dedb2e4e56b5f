"""Words tied to values: the one helper by which a page's qualitative words follow from what its cells compute.

A sentence such as "every run recovers the optimal tokens" states a computed outcome. On a machine where the
computation comes out differently, the page must not print the sentence beside output that contradicts it. Two
ways, both here:

- :func:`word` / :func:`quantifier` choose the word from the value, and the chapter glues it
  (``glue("ch6-gd-word", word(all_recover, "recovers", "does not recover"))``);
- :func:`claim` asserts the sentence the prose uses in the cell that computes the value, so the build fails on a
  machine where it is false (``claim("eta = 5 recovers in most starts", frac > 0.5)``).

Examples
--------
>>> quantifier(20, 20), quantifier(0, 20), quantifier(13, 20), quantifier(3, 20)
('all', 'none', 'most', 'some')
>>> claim("2 + 2 = 4", 2 + 2 == 4)  # returns nothing, so a cell that ends with it shows no output
"""
from __future__ import annotations

import numpy as np

__all__ = ["ClaimError", "claim", "word", "quantifier"]


class ClaimError(AssertionError):
    """A sentence of the book is false of the value its cell computed (the page must not be built)."""


def _truth(holds, name: str = "holds") -> bool:
    arr = np.asarray(holds)
    if arr.dtype != bool:
        raise TypeError(f"{name} must be a bool or an array of bools (the computed outcome); got "
                        f"{type(holds).__name__} of dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one outcome; got an empty array")
    return bool(arr.all())


def claim(sentence: str, holds, detail: str = "") -> None:
    """Check that the computed outcome ``holds`` (every entry, for an array) makes ``sentence`` true; else raise.

    Returns nothing, so a notebook cell that ends with a claim displays no extra output (a figure cell must
    show only its figure).

    Parameters
    ----------
    sentence : str
        The words the page uses, as a reader would read them.
    holds : bool or array_like of bool
        Whether the sentence is true of the computed values.
    detail : str
        The values, for the error message.

    Raises
    ------
    ClaimError
        Naming the sentence and ``detail``, when ``holds`` is false anywhere.
    """
    if not isinstance(sentence, str) or not sentence:
        raise TypeError(f"sentence must be a non-empty string (the page's words); got {sentence!r}")
    if not _truth(holds):
        raise ClaimError(f"the book says {sentence!r}, but the computed values say otherwise"
                         + (f": {detail}" if detail else ""))


def word(condition, yes: str, no: str) -> str:
    """``yes`` if ``condition`` (every entry, for an array) holds, else ``no``.

    Parameters
    ----------
    condition : bool or array_like of bool
    yes, no : str
        The two wordings; the page glues the one returned.
    """
    return yes if _truth(condition, "condition") else no


def quantifier(k: int, n: int) -> str:
    """The word for ``k`` of ``n``: "all" (k = n), "none" (k = 0), "most" (more than half) or "some".

    Parameters
    ----------
    k, n : int
        ``0 <= k <= n``, ``n >= 1``.
    """
    for name, val in (("k", k), ("n", n)):
        if isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, np.integer)):
            raise TypeError(f"{name} must be an integer count; got {type(val).__name__} {val!r}")
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"need 0 <= k <= n and n >= 1; got k = {k}, n = {n}")
    if k == n:
        return "all"
    if k == 0:
        return "none"
    return "most" if 2 * k > n else "some"
