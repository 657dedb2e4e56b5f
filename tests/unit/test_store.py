"""The experiments' one cache layer returns frozen results and computes in the background on request; the pool
propagates the work's errors."""
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pytest

from attnbook.experiments import background
from attnbook.experiments._store import freeze, memo, pool_map


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


@dataclass(frozen=True)
class Study:
    runs: dict
    seeds: list


def test_freeze_makes_the_tables_of_a_dataclass_read_only(monkeypatch):
    monkeypatch.setattr(Study, "__module__", "attnbook.experiments.test")  # as if defined in the book's package

    s = freeze(Study({"LSODA": np.ones(2), "BDF": {"nfev": [1, 2]}}, [0, 1]))
    with pytest.raises(TypeError):
        s.runs["Radau"] = np.zeros(2)  # a table keyed by data is a read-only mapping, as a dict result was
    with pytest.raises(ValueError):
        s.runs["LSODA"][0] = 2.0
    assert s.seeds == (0, 1) and s.runs["BDF"]["nfev"] == (1, 2)


def test_freeze_leaves_the_librarys_own_state_alone():
    import attnlib as al

    data = freeze(al.make_diagonal_data())
    al.solve_svm(data, "l1")  # the data object remembers its SVM solutions in a dict of its own
    assert not data.X.flags.writeable


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


@pytest.fixture
def memory_only():
    """The test counts computations: a result left in the studies artifact by an earlier run must not be read."""
    from attnbook.experiments._store import disk_cache_paused

    with disk_cache_paused():
        yield


def test_memo_prime_and_is_cached_fill_the_cache_from_elsewhere(memory_only):
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
    from attnbook.experiments import ch2

    monkeypatch.setattr(ch2, "_run_flow", lambda key: _fails_on_two(key[0]))
    with pytest.raises(ArithmeticError, match="no 2"):
        ch2.prefetch([(2, 3, 3, 3)], workers=1)
    assert not ch2.tarzanagh_flow.is_cached(2, 3, 3, 3)


_AFTER_A_SOLVE = '''
import attnlib as al
from attnbook.experiments import _store

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


_GATE = threading.Event()
_SLOW_CALLS = []


@memo
def _slow(n: int = 4):
    _SLOW_CALLS.append(threading.current_thread().name)
    _GATE.wait(10)
    return np.arange(n, dtype=float)


@memo
def _broken():
    raise ArithmeticError("broken in the background")


def test_background_computes_once_and_a_call_waits_for_it(memory_only):
    _slow.cache_clear()
    _GATE.clear()
    background(_slow)
    background(_slow)  # already pending: not started twice
    assert not _slow.is_cached()
    threading.Timer(0.2, _GATE.set).start()
    first = _slow()  # waits for the background thread
    assert np.array_equal(first, np.arange(4.0)) and not first.flags.writeable
    assert _slow() is first and _SLOW_CALLS == ["attnlib-background"]
    background(_slow)  # cached: nothing to do
    assert _SLOW_CALLS == ["attnlib-background"]


def test_background_error_is_raised_by_the_call_that_needs_the_result():
    background(_broken)
    with pytest.raises(ArithmeticError, match="broken in the background"):
        _broken()
    with pytest.raises(ArithmeticError):  # not cached: a later call computes (and fails) again
        _broken()


def test_background_accepts_only_memo_functions():
    with pytest.raises(TypeError, match="memo"):
        background(abs)



_DISK_CALLS = []


@memo
def _on_disk(n: int, scale: float = 1.0):
    _DISK_CALLS.append(n)
    return {"x": scale * np.arange(n, dtype=float), "nested": MappingProxyType({"n": n})}


@contextmanager
def _disk_cache_in(folder, monkeypatch, writing: bool = True):
    """The studies artifact in ``folder`` (ATTNBOOK_STUDIES), active although this test monkeypatches (conftest
    pauses it for such tests), written to as by ``python -m attnbook studies`` when ``writing``; the pause is
    restored afterwards."""
    from attnbook.experiments import _store

    monkeypatch.setenv(_store.STUDIES_ENV, str(folder))
    paused, _store._PAUSED[0] = _store._PAUSED[0], 0
    try:
        if writing:
            with _store.writing_studies(folder):
                yield _store
        else:
            yield _store
    finally:
        _store._PAUSED[0] = paused


def test_disk_cache_returns_frozen_copies_of_what_was_computed(tmp_path, monkeypatch):
    with _disk_cache_in(tmp_path, monkeypatch):
        _on_disk.cache_clear()
        _DISK_CALLS.clear()
        first = _on_disk(3, scale=2.0)
        assert _DISK_CALLS == [3] and len(list(tmp_path.rglob("*.pkl"))) == 1
        _on_disk.cache_clear()  # as in a new process: memory empty, disk kept
        again = _on_disk(3, scale=2.0)
        assert _DISK_CALLS == [3] and again is not first and np.array_equal(again["x"], first["x"])
        assert not again["x"].flags.writeable and again["nested"]["n"] == 3
        with pytest.raises(TypeError):
            again["x"] = None  # frozen as when computed
        _on_disk(4)  # other arguments: computed
        assert _DISK_CALLS == [3, 4]


_COUNT_CALLS = """
import sys
import numpy as np
from attnbook.experiments import writing_studies
from attnbook.experiments._store import memo
calls = []
@memo
def study(n):
    calls.append(n)
    return np.arange(n)
if sys.argv[1] == "write":
    with writing_studies():  # the folder ATTNBOOK_STUDIES names
        study(5)
assert list(study(5)) == [0, 1, 2, 3, 4]
print(len(calls))
"""


def _count_calls(folder, mode: str) -> str:
    env = {**os.environ, "ATTNBOOK_STUDIES": str(folder)}
    return subprocess.run([sys.executable, "-c", _COUNT_CALLS, mode], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_artifact_is_written_only_by_the_studies_writer_and_read_by_every_process(tmp_path):
    assert _count_calls(tmp_path, "read") == "1" and not list(tmp_path.rglob("*.pkl"))  # a reader stores nothing
    assert _count_calls(tmp_path, "write") == "1" and len(list(tmp_path.rglob("*.pkl"))) == 1
    assert _count_calls(tmp_path, "read") == "0"  # the next process computed nothing


def test_off_means_nothing_is_read_or_written(tmp_path, monkeypatch):
    with _disk_cache_in(tmp_path, monkeypatch, writing=False) as store:
        monkeypatch.setenv(store.STUDIES_ENV, "off")
        assert store.studies_dir() is None and store._disk_path(_on_disk, (3,), {}) is None
        _on_disk.cache_clear()
        _on_disk(5)
        with pytest.raises(RuntimeError, match="no studies artifact"):
            store.writing_studies()
    assert not list(tmp_path.rglob("*"))


def test_the_artifact_defaults_to_the_repository_build_folder(monkeypatch):
    from attnbook.experiments import _store

    monkeypatch.delenv(_store.STUDIES_ENV, raising=False)
    root = _store.repository_root()
    assert root is not None and (root / "_toc.yml").is_file()  # the tests run from a checkout
    assert _store.studies_dir() == root / "_build" / "studies"


def test_a_reader_computes_what_is_missing_in_memory_only(tmp_path, monkeypatch):
    with _disk_cache_in(tmp_path, monkeypatch, writing=False):
        _on_disk.cache_clear()
        _DISK_CALLS.clear()
        _on_disk(6)
        assert _DISK_CALLS == [6] and not list(tmp_path.rglob("*.pkl"))


def test_disk_cache_key_changes_with_the_source_and_skips_unplain_arguments(tmp_path, monkeypatch):
    with _disk_cache_in(tmp_path, monkeypatch) as store:
        a = store._disk_path(_on_disk, (3,), {"scale": 2.0})
        assert a is not None and store.fingerprint() in a.parts
        assert store._disk_path(_on_disk, (np.ones(2),), {}) is None  # arrays are not keys on disk
        assert store._disk_path(_on_disk, (3,), {"scale": 3.0}) != a
        store.fingerprint.cache_clear()
        with monkeypatch.context() as m:
            m.setattr(store.Path, "read_bytes", lambda self: b"an edited source file")
            assert store._disk_path(_on_disk, (3,), {"scale": 2.0}) != a  # another library: another entry
        store.fingerprint.cache_clear()
        assert store._disk_path(_on_disk, (3,), {"scale": 2.0}) == a


@pytest.mark.parametrize("edited", ["attnlib/flow.py", "attnbook/experiments/ch1.py"])
def test_a_changed_line_of_the_library_or_of_the_book_code_changes_the_fingerprint(edited, monkeypatch):
    # The disk cache's key covers both packages: a study's result depends on the library and on the book's code.
    from attnbook.experiments import _store as store

    read = store.Path.read_bytes
    before = store.fingerprint.__wrapped__()      # uncached: the lru_cache of fingerprint() is left alone
    monkeypatch.setattr(store.Path, "read_bytes",
                        lambda self: read(self) + (b"\n# one more line" if self.as_posix().endswith(edited) else b""))
    assert store.fingerprint.__wrapped__() != before


def test_a_monkeypatching_test_neither_reads_nor_writes_the_disk_cache(tmp_path, monkeypatch):
    from attnbook.experiments import _store

    monkeypatch.setenv(_store.STUDIES_ENV, str(tmp_path))
    assert _store._PAUSED[0] > 0 and _store._disk_path(_on_disk, (3,), {}) is None


def test_the_studies_command_writes_each_study_once_and_names_a_bad_choice(tmp_path, monkeypatch):
    from attnbook import artifact
    from attnbook.experiments import _store

    monkeypatch.setenv(_store.STUDIES_ENV, str(tmp_path))
    names = artifact.registry()
    assert "ch6.compute_gd" in names and "studies.gd_step_study" in names and "ch2.compute_seed_sweep" in names
    assert not any(n.startswith(("prose.", "_store.")) for n in names)
    (tmp_path / "0123456789abcdef0123").mkdir()  # an older fingerprint's results: removed
    first = artifact.compute_studies(jobs=1, only=["ch1.toy_flow"], log=lambda line: None)
    assert [(t.name, t.cached) for t in first] == [("ch1.toy_flow", False)]
    assert list(tmp_path.rglob("*toy_flow*/*.pkl")) and not (tmp_path / "0123456789abcdef0123").exists()
    again = artifact.compute_studies(jobs=1, only=["ch1.toy_flow"], log=lambda line: None)
    assert [(t.name, t.cached) for t in again] == [("ch1.toy_flow", True)]
    with pytest.raises(ValueError, match="only: no study matches"):
        artifact.compute_studies(only=["ch99"])
    monkeypatch.setenv(_store.STUDIES_ENV, "off")
    with pytest.raises(RuntimeError, match="no studies artifact"):
        artifact.compute_studies(only=["ch1.toy_flow"])
