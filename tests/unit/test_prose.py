"""Words tied to values (attnbook.experiments.prose): the helper every page uses for its qualitative words."""
from __future__ import annotations

import numpy as np
import pytest

from attnbook.experiments.prose import ClaimError, claim, quantifier, word


def test_claim_returns_nothing_or_names_the_sentence():
    assert claim("all recover", np.array([True, True])) is None  # a cell ending with it shows no output
    with pytest.raises(ClaimError, match="all recover.*3 of 4"):
        claim("all recover", np.array([True, False]), detail="3 of 4")


def test_claim_wants_booleans():
    with pytest.raises(TypeError, match="bool"):
        claim("x", 0.7)
    with pytest.raises(ValueError, match="empty"):
        claim("x", np.array([], dtype=bool))


def test_word_and_quantifier():
    assert word(True, "recovers", "stays") == "recovers" and word(np.array([True, False]), "a", "b") == "b"
    assert [quantifier(k, 4) for k in range(5)] == ["none", "some", "some", "most", "all"]
    with pytest.raises(ValueError):
        quantifier(5, 4)
    with pytest.raises(TypeError):
        quantifier(1.0, 4)
