"""The experiments' one cache layer returns frozen results; the pool propagates the work's errors."""
from dataclasses import dataclass

import numpy as np
import pytest

from attnlib.experiments._store import freeze, memo, pool_map


@memo
def _arrays(n: int):
    return {"x": np.arange(n, dtype=float), "parts": [np.ones(2), np.zeros(1)]}


def test_memo_returns_read_only_results_that_a_caller_cannot_poison():
    first = _arrays(3)
    with pytest.raises(ValueError, match="read-only"):
        first["x"][0] = 99.0
    with pytest.raises(ValueError, match="read-only"):
        first["parts"][0][1] = 99.0
    with pytest.raises(TypeError):
        first["x"] = None
    assert _arrays(3) is first
    assert np.array_equal(_arrays(3)["x"], [0.0, 1.0, 2.0])


def test_freeze_reaches_dataclass_fields():
    @dataclass(frozen=True)
    class Result:
        values: np.ndarray

    r = freeze(Result(np.ones(3)))
    with pytest.raises(ValueError):
        r.values[0] = 2.0


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise ArithmeticError("two")
    return x


def test_pool_map_keeps_order_and_propagates_errors():
    assert pool_map(abs, [-3, 1, -2], workers=2) == [3, 1, 2]
    with pytest.raises(ArithmeticError, match="two"):
        pool_map(_fail_on_two, [1, 2, 3], workers=2)
