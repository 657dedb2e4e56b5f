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


_CALLS = []


@memo
def _counted(a: int, b: int = 1):
    _CALLS.append((a, b))
    return np.full(2, a + b, dtype=float)


def test_memo_prime_and_is_cached_fill_the_cache_from_elsewhere():
    # chapter 2 runs flows on a pool and stores them with prime(); a primed key is not computed again.
    _counted.cache_clear()
    _CALLS.clear()
    assert not _counted.is_cached(5, 2)
    stored = _counted.prime((5, 2), np.array([-1.0, -1.0]))
    assert _counted.is_cached(5, 2) and _counted(5, 2) is stored and _CALLS == []
    with pytest.raises(ValueError, match="read-only"):
        stored[0] = 0.0
    _counted(1)
    _counted(1)
    assert _CALLS == [(1, 1)] and _counted.cache_info().hits == 2 and _counted.cache_info().currsize == 2


def _fails_on_two(x: int) -> int:
    if x == 2:
        raise ArithmeticError(f"no {x}")
    return x


def test_chapter2_prefetch_propagates_a_flow_error(monkeypatch):
    # The old prefetch swallowed errors of the work (a FlowStallError) in a broad except; pool_map does not.
    from attnlib.experiments import ch2

    monkeypatch.setattr(ch2, "_run_flow", lambda key: _fails_on_two(key[0]))
    with pytest.raises(ArithmeticError, match="no 2"):
        ch2.prefetch([(2, 3, 3, 3)], workers=1)
    assert not ch2.tarzanagh_flow.is_cached(2, 3, 3, 3)


_AFTER_A_SOLVE = '''
import attnlib as al
from attnlib.experiments import _store

def solve(seed):
    return al.solve_svm(al.make_generic_data(6, 8, 10, seed), "nuc").status

if __name__ == "__main__":
    al.solve_svm(al.make_generic_data(6, 8, 10, 99), "nuc")   # a conic solve in the parent first
    print(_store.pool_map(solve, range(4), 2))
'''


def test_pool_workers_solve_after_the_parent_solved(tmp_path):
    """With plain fork, workers hung for good inside Clarabel once the parent had solved an SVM; the pool's fork
    server gives them a clean process. (Run in a subprocess so that a hang fails the test instead of the suite.)"""
    import subprocess
    import sys

    script = tmp_path / "after_a_solve.py"
    script.write_text(_AFTER_A_SOLVE)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(["optimal"] * 4)
