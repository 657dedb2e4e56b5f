"""The experiments' one cache layer returns frozen results and computes in the background on request; the pool
propagates the work's errors."""
import os
import subprocess
import sys
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

import attnlib as al
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
        assert store.studies_dir() is None and store._disk_entry(_on_disk, (3,), {}) is None
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
        a = store._disk_entry(_on_disk, (3,), {"scale": 2.0})
        assert a is not None and store.fingerprint() in a.path.parts and a.key.startswith(store.fingerprint())
        assert store._disk_entry(_on_disk, (np.ones(2),), {}) is None  # arrays are not keys on disk
        assert store._disk_entry(_on_disk, (3,), {"scale": 3.0}).path != a.path
        with monkeypatch.context() as m:  # another library: another fingerprint, another entry
            m.setattr(store, "_SOURCES", store._Sources("0123456789abcdef0123", store._source_stats(), []))
            m.setattr(store, "source_fingerprint", lambda: "0123456789abcdef0123")
            other = store._disk_entry(_on_disk, (3,), {"scale": 2.0})
            assert other.path != a.path and other.key != a.key
        assert store._disk_entry(_on_disk, (3,), {"scale": 2.0}) == a


@pytest.mark.parametrize("edited", ["attnlib/flow.py", "attnbook/experiments/ch1.py"])
def test_a_changed_line_of_the_library_or_of_the_book_code_changes_the_fingerprint(edited, monkeypatch):
    # The disk cache's key covers both packages: a study's result depends on the library and on the book's code.
    from attnbook.experiments import _store as store

    read = store.Path.read_bytes
    before = store.source_fingerprint()
    assert before == store.fingerprint()  # the sources have not changed since the import
    monkeypatch.setattr(store.Path, "read_bytes",
                        lambda self: read(self) + (b"\n# one more line" if self.as_posix().endswith(edited) else b""))
    assert store.source_fingerprint() != before


def test_a_monkeypatching_test_neither_reads_nor_writes_the_disk_cache(tmp_path, monkeypatch):
    from attnbook.experiments import _store

    monkeypatch.setenv(_store.STUDIES_ENV, str(tmp_path))
    assert _store._PAUSED[0] > 0 and _store._disk_entry(_on_disk, (3,), {}) is None


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


# -- finding 3 of issue 27: the artifact never serves another code's result, another call's result, or a file that
#    executes code, and an unwritable folder costs the result nothing -------------------------------------------

_PROBE = '''from ._store import memo

VALUE = 1


@memo
def study():
    return VALUE


@memo
def other():
    return 0
'''

_WRITER = '''
import importlib, sys
from pathlib import Path
from attnbook.experiments import writing_studies
from attnbook.experiments import probe
source = Path(probe.__file__)
mode = sys.argv[1]
if mode == "reload":
    probe.other()  # the artifact was used before the edit
source.write_text(source.read_text().replace("VALUE = 1", "VALUE = 2"))  # an edit after the import
if mode == "reload":
    probe = importlib.reload(probe)  # what %autoreload does
with writing_studies():
    print(probe.study())
if mode == "reload":
    source.write_text(source.read_text().replace("VALUE = 2", "VALUE = 1"))  # and undone
'''

_READER = "from attnbook.experiments import probe\nprint(probe.study())\n"


@pytest.mark.parametrize("mode", ["edit", "reload"])
def test_an_edit_after_the_import_never_files_one_codes_result_under_the_others_key(tmp_path, mode):
    """Issue 27, finding 3: a process that imported the packages and then saw an edit stored its old code's result
    under the new sources' key (the fingerprint was taken at the first access), or with autoreload the new code's
    result under the old key; a fresh process then read a result its code does not compute."""
    import shutil

    from attnbook.experiments import _store

    for root in _store._package_roots():
        shutil.copytree(root, tmp_path / "src" / root.name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "src" / "attnbook" / "experiments" / "probe.py").write_text(_PROBE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), _store.STUDIES_ENV: str(tmp_path / "studies"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    run = [sys.executable, "-c"]
    writer = subprocess.run([*run, _WRITER, mode], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=240)
    assert writer.returncode == 0, writer.stderr
    assert "StudiesArtifactWarning" in writer.stderr and "changed since this process imported" in writer.stderr
    reader = subprocess.run([*run, _READER], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert reader.returncode == 0, reader.stderr
    on_disk = "2" if mode == "edit" else "1"
    assert reader.stdout.strip() == on_disk  # what the code on disk computes, not what the writer held


@pytest.fixture
def sources(monkeypatch, tmp_path):
    """The fingerprint machinery on a small copy of the sources in tmp_path (``sources / "lib" / "a.py"``)."""
    from attnbook.experiments import _store

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.py").write_text("A = 1\n")
    monkeypatch.setattr(_store, "_package_roots", lambda: (tmp_path / "lib",))
    monkeypatch.setattr(_store, "_SOURCES", _store._take_fingerprint())
    monkeypatch.setattr(_store, "_WARNED", set())
    return tmp_path


def test_an_edit_switches_the_artifact_off_and_undoing_it_on_again(sources):
    from attnbook.experiments import _store

    file = sources / "lib" / "a.py"
    assert _store.sources_unchanged()
    os.utime(file, ns=(0, 10**18))  # touched, same content: still the same sources
    assert _store.sources_unchanged()
    file.write_text("A = 2\n")
    with pytest.warns(_store.StudiesArtifactWarning, match="changed since this process imported"):
        assert not _store.sources_unchanged()
    assert not _store.sources_unchanged()  # warned once
    file.write_text("A = 1\n")
    assert _store.sources_unchanged()


def test_a_module_loaded_before_the_fingerprint_and_edited_since_the_start_keeps_the_artifact_off(sources,
                                                                                                  monkeypatch):
    """``import attnlib``, an edit, then ``import attnbook.experiments``: the fingerprint hashes the edited file, but
    the library in memory is the one loaded before the edit."""
    import types

    from attnbook.experiments import _store

    file = sources / "lib" / "a.py"
    module = types.ModuleType("attnlib.a")
    module.__file__ = str(file)
    monkeypatch.setattr(_store, "_LOADED_EARLIER", [module])
    start = _store._process_start_ns()
    if start is None:
        pytest.skip("no process start time on this platform")
    os.utime(file, ns=(start - 10**10, start - 10**10))  # older than the process: loaded as it is
    assert _store._edited_after_loading(_store._source_stats()) == []
    os.utime(file, ns=(start + 10**10, start + 10**10))  # changed after the process started
    stale = _store._take_fingerprint()
    assert stale.stale == [str(file)]
    monkeypatch.setattr(_store, "_SOURCES", stale)
    with pytest.warns(_store.StudiesArtifactWarning, match="restart"):
        assert not _store.sources_unchanged()


def _stored_entry(store, func, args):
    """The path and bytes of ``func(*args)``'s entry, written as the studies command does."""
    with store.writing_studies():
        func(*args)
    entry = store._disk_entry(func, args, {})
    return entry, entry.path.read_bytes()


def test_an_entry_at_another_calls_path_is_not_served(tmp_path, monkeypatch):
    with _disk_cache_in(tmp_path, monkeypatch, writing=False) as store:
        monkeypatch.setattr(store, "_WARNED", set())
        _on_disk.cache_clear()
        _DISK_CALLS.clear()
        _, blob = _stored_entry(store, _on_disk, (3,))
        wrong = store._disk_entry(_on_disk, (4,), {})
        wrong.path.write_bytes(blob)  # a valid entry, at the path of another argument
        _on_disk.cache_clear()
        with pytest.warns(store.StudiesArtifactWarning, match="is not served: it holds"):
            result = _on_disk(4)
        assert _DISK_CALLS == [3, 4] and len(result["x"]) == 4


def test_a_plain_pickle_at_the_right_path_is_not_served(tmp_path, monkeypatch):
    import pickle

    with _disk_cache_in(tmp_path, monkeypatch, writing=False) as store:
        monkeypatch.setattr(store, "_WARNED", set())
        _on_disk.cache_clear()
        _DISK_CALLS.clear()
        entry = store._disk_entry(_on_disk, (5,), {})
        entry.path.parent.mkdir(parents=True)
        entry.path.write_bytes(pickle.dumps({"x": np.zeros(2), "nested": {}}))  # the old format, or any pickle
        with pytest.warns(store.StudiesArtifactWarning, match="not an entry"):
            assert len(_on_disk(5)["x"]) == 5
        assert _DISK_CALLS == [5]


def test_an_altered_entry_is_not_served(tmp_path, monkeypatch):
    with _disk_cache_in(tmp_path, monkeypatch, writing=False) as store:
        monkeypatch.setattr(store, "_WARNED", set())
        _on_disk.cache_clear()
        _DISK_CALLS.clear()
        entry, blob = _stored_entry(store, _on_disk, (3,))
        entry.path.write_bytes(blob[:-3] + bytes(3))  # the same length, other bytes at the end
        _on_disk.cache_clear()
        with pytest.warns(store.StudiesArtifactWarning, match="does not match its hash"):
            _on_disk(3)
        assert _DISK_CALLS == [3, 3]


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_an_entry_that_would_run_code_is_not_executed(tmp_path, monkeypatch):
    """pickle.loads runs what a file says; the artifact's reader only builds numpy arrays and the packages' classes,
    even for an entry whose header and hash are right (anyone who can write the folder can write those)."""
    import hashlib
    import json
    import pickle

    marker = tmp_path / "ran"
    with _disk_cache_in(tmp_path / "studies", monkeypatch, writing=False) as store:
        monkeypatch.setattr(store, "_WARNED", set())
        _on_disk.cache_clear()
        _DISK_CALLS.clear()
        entry = store._disk_entry(_on_disk, (7,), {})
        payload = pickle.dumps(_Payload(marker))
        header = json.dumps({"key": entry.key, "sha256": hashlib.sha256(payload).hexdigest()}).encode()
        entry.path.parent.mkdir(parents=True)
        entry.path.write_bytes(store._MAGIC + header + b"\n" + payload)
        with pytest.warns(store.StudiesArtifactWarning, match="not posix.system|not os.system"):
            assert len(_on_disk(7)["x"]) == 7
        assert not marker.exists() and _DISK_CALLS == [7]


@pytest.mark.parametrize("kind", ["a file", "/proc", "read-only"])
def test_an_unwritable_artifact_folder_warns_once_keeps_results_in_memory_and_serves_its_hits(tmp_path, monkeypatch,
                                                                                              kind):
    """Issue 27, finding 3: the studies command's workers computed each study and then raised on the write, losing
    it. Now: one warning, the result kept in memory, and what the folder holds still served."""
    folder = {"a file": tmp_path / "file", "/proc": Path("/proc/attnbook-store27-test"),
              "read-only": tmp_path / "ro"}[kind]
    if kind == "/proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    with _disk_cache_in(tmp_path / "ro", monkeypatch, writing=False) as store:
        monkeypatch.setattr(store, "_WARNED", set())
        _on_disk.cache_clear()
        _DISK_CALLS.clear()
        _stored_entry(store, _on_disk, (3,))  # one hit in the folder "ro"
        if kind == "a file":
            folder.write_text("not a folder")
        if kind == "read-only":  # root writes anyway: make the writes fail as they would for a user
            monkeypatch.setattr(store.Path, "write_bytes", lambda self, data: (_ for _ in ()).throw(
                PermissionError(13, "Permission denied", str(self))))
        monkeypatch.setenv(store.STUDIES_ENV, str(folder))
        _on_disk.cache_clear()
        with store.writing_studies(folder):
            with pytest.warns(store.StudiesArtifactWarning, match="not writable"):
                first = _on_disk(4)
            assert _on_disk(4) is first and _DISK_CALLS == [3, 4]  # kept in memory
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                _on_disk(5)  # warned once
            if kind == "read-only":
                assert len(_on_disk(3)["x"]) == 3 and _DISK_CALLS == [3, 4, 5]  # a hit, served


def test_the_studies_command_refuses_an_unwritable_folder_before_computing(tmp_path, monkeypatch):
    from attnbook import artifact
    from attnbook.__main__ import main
    from attnbook.experiments import _store

    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv(_store.STUDIES_ENV, str(tmp_path / "file"))
    with pytest.raises(RuntimeError, match="not a writable directory"):
        artifact.compute_studies(jobs=1, only=["ch1.toy_flow"], log=lambda line: None)
    with pytest.raises(SystemExit) as exc:
        main(["studies", "--only", "ch1.toy_flow"])
    assert exc.value.code == 2


# -- finding 11 of issue 27: pool_map ------------------------------------------------------------------------------

_INTERRUPTED = '''
import os, signal, sys, time
from pathlib import Path
from attnbook.experiments._store import pool_map

# Ctrl-C raises KeyboardInterrupt, as in a Jupyter kernel, whatever this process inherited: started in the background
# of a shell without job control (`cmd &` in a script, as some CI runners start the test command), every process
# inherits SIGINT ignored, and the interrupt this test sends would never arrive.
signal.signal(signal.SIGINT, signal.default_int_handler)

def slow(i):
    (Path(sys.argv[1]) / f"{os.getpid()}.started").write_text("")
    time.sleep(120)
    return i

if __name__ == "__main__":
    try:
        pool_map(slow, range(4), 2)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
'''


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="watches the workers in /proc")
def test_ctrl_c_reaches_the_caller_of_pool_map_at_once_and_ends_its_workers(tmp_path):
    """Issue 27, finding 11: the pool shut down with wait=True, so a kernel interrupt waited for every running item
    (today's items take 120 s). A SIGINT to the caller alone, as a kernel interrupt sends it."""
    import signal
    import time

    script = tmp_path / "interrupted.py"
    script.write_text(_INTERRUPTED)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "ATTNBOOK_STUDIES": "off"}
    proc = subprocess.Popen([sys.executable, str(script), str(marks)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while len(list(marks.glob("*.started"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert len(list(marks.glob("*.started"))) == 2, proc.stderr.read() if proc.poll() is not None else ""
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # a bound for a loaded 2-core machine; before: 120 s
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert out.strip() == "interrupted" and proc.returncode == 0, err
    assert waited < 30, f"the interrupt took {waited:.1f} s to reach the caller"
    workers = [int(p.name.split(".")[0]) for p in marks.glob("*.started")]
    time.sleep(1.0)
    assert not [pid for pid in workers if _alive(pid)], "the workers go on computing"


def _fail_or_sleep(x: int) -> int:
    import time

    if x == 0:
        raise ArithmeticError("first item fails")
    time.sleep(120)
    return x


def test_an_error_of_the_work_reaches_the_caller_without_waiting_for_the_running_items():
    import time

    start = time.monotonic()
    with pytest.raises(ArithmeticError, match="first item fails"):
        pool_map(_fail_or_sleep, [0, 1], workers=2)
    assert time.monotonic() - start < 60  # before: 120 s, the sleeping item's time


_NO_GUARD = '''
from attnbook.experiments._store import pool_map

def square(x):
    return x * x

print(pool_map(square, range(4), 2))
'''

_CALL_OUTSIDE_GUARD = _NO_GUARD + '''
if __name__ == "__main__":
    print("guarded")
'''


@pytest.mark.parametrize("script", [_NO_GUARD, _CALL_OUTSIDE_GUARD], ids=["no guard", "call outside the guard"])
def test_a_script_without_the_main_guard_gets_an_error_that_names_the_fix(tmp_path, script):
    """Issue 27, finding 11: the workers re-import the script, and the caller saw an opaque BrokenProcessPool."""
    path = tmp_path / "script.py"
    path.write_text(script)
    env = {**os.environ, "ATTNBOOK_STUDIES": "off"}
    out = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=240)
    error = [line for line in out.stderr.splitlines() if line.startswith("attnbook.experiments._store.WorkerPoolError")]
    assert out.returncode == 1 and len(error) == 1, out.stderr
    assert 'if __name__ == "__main__":' in error[0] and "guard" in error[0]


@pytest.mark.parametrize("value", ["abc", "0", "-2", "2.5", "1e3"])
def test_a_bad_attnlib_workers_names_the_variable_what_is_expected_and_what_was_given(monkeypatch, value):
    from attnbook.experiments import _store

    monkeypatch.setenv("ATTNLIB_WORKERS", value)
    with pytest.raises(ValueError, match=rf"ATTNLIB_WORKERS must be a positive whole number .*got '{value}'"):
        pool_map(abs, [1, 2])
    monkeypatch.setenv("ATTNLIB_WORKERS", " 3 ")
    assert _store.default_workers() == 3


@pytest.mark.parametrize("workers", [0, -1, 2.5, "two", True])
def test_a_bad_workers_argument_is_named(workers):
    with pytest.raises(ValueError, match="workers must be a positive whole number"):
        pool_map(abs, [1, 2], workers=workers)


_SLOW_STUDY = """
import os, sys, time
import numpy as np
import attnlib as al
from attnbook.experiments import writing_studies
from attnbook.experiments._store import memo
@memo
def study(n):
    with open(os.environ["CALLS_FILE"], "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    time.sleep(1.0)  # long enough for the other process to ask for the same entry meanwhile
    return np.arange(n)
with writing_studies(perturbed_only=sys.argv[1] == "perturbed"), al.perturbed_inputs(1e-12, 1):
    assert list(study(3)) == [0, 1, 2]
"""


def _two_writers(folder, calls, mode: str) -> None:
    env = {**os.environ, "ATTNBOOK_STUDIES": str(folder), "CALLS_FILE": str(calls)}
    procs = [subprocess.Popen([sys.executable, "-c", _SLOW_STUDY, mode], env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]


@pytest.mark.parametrize("mode", ["all", "perturbed"])
def test_two_writers_that_need_one_entry_compute_it_once(tmp_path, mode):
    """The claims stage's two pytest workers (and the studies command's workers) share what they compute: the
    second to ask for an entry the first is computing waits for it and reads it."""
    calls = tmp_path / "calls.txt"
    _two_writers(tmp_path / "studies", calls, mode)
    assert len(calls.read_text().split()) == 1
    assert len(list((tmp_path / "studies").rglob("*.pkl"))) == 1


def test_a_perturbed_only_writer_stores_perturbed_results_only(tmp_path, monkeypatch):
    with _disk_cache_in(tmp_path, monkeypatch, writing=False) as store:
        _on_disk.cache_clear()
        with store.writing_studies(perturbed_only=True):
            _on_disk(7)  # unperturbed: the studies command's to store
            assert not list(tmp_path.rglob("*.pkl"))
            with al.perturbed_inputs(1e-12, 1):
                _on_disk(7)
            assert len(list(tmp_path.rglob("*.pkl"))) == 1


def test_memo_and_pool_map_name_what_they_cannot_take():
    """Found by benchmarks/fuzz.py (issue 27): an unhashable argument gave functools' bare "unhashable type:
    'list'"; memo(42) returned a wrapper; pool_map(None, ...) and pool_map(f, None) raised from inside the pool
    or list()."""
    with pytest.raises(TypeError, match=r"_counted is cached with @memo, so every argument must be hashable .*"
                                        r"argument 0 is a list"):
        _counted([1, 2])
    with pytest.raises(TypeError, match=r"argument 'b' is a dict"):
        _counted(1, b={})
    with pytest.raises(TypeError, match=r"memo needs a function \(func\) to cache; got int"):
        memo(42)
    with pytest.raises(TypeError, match=r"pool_map needs a module-level function \(func\); got NoneType"):
        pool_map(None, [1, 2], workers=2)
    with pytest.raises(TypeError, match=r"items must be an iterable of picklable arguments; got NoneType"):
        pool_map(abs, None, workers=2)


def test_pool_map_refuses_a_lambda_and_a_string_of_workers():
    """Found by benchmarks/fuzz.py (issue 27): a lambda ended in pickle's PicklingError from the pool's feeder;
    workers='2' was accepted (a string is read from ATTNLIB_WORKERS only)."""
    with pytest.raises(TypeError, match=r"func must be a module-level function \(pool_map sends it to the workers "
                                        r"by reference\); .*<lambda> is not"):
        pool_map(lambda x: x, [1, 2], workers=2)
    with pytest.raises(ValueError, match=r"workers must be a positive whole number or None \(a string is read from "
                                         r"ATTNLIB_WORKERS only\); got str '2'"):
        pool_map(abs, [1, 2], workers="2")
