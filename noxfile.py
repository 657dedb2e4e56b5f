"""The project's one task runner: a nox session per stage of the test command, and ``test``, the whole pipeline.

    .venv/bin/nox -l                      # the sessions
    .venv/bin/nox -s lint unit            # some stages, in that order
    .venv/bin/nox -s unit -- -k svm -x    # extra arguments go to the stage's tool (pytest for unit/pytest/claims)
    bash tools/test.sh [PYTEST ARGS]      # the README's test command: tools/setup_env.sh, then nox -s test
    bash tools/build_book.sh [--all]      # the README's book command: tools/setup_env.sh, then nox -s book

Every session runs in the project's ``.venv`` (made by tools/setup_env.sh from requirements-lock.txt; nox makes no
virtualenv of its own: ``python=False``) and calls its programs by path (``.venv/bin/python``, ``bash tools/...``,
``node tools/...``), from the repository root, with one BLAS thread and matplotlib's Agg backend. When a stage fails
its session says where the stage's report is.

``test`` runs the stages cheapest first and stops at the first failure: lint, unit, studies, pytest, claims, wheel,
book, pdf, downloads, browser, lab, figures, bench. Meanwhile, in the background (output in ``_build/NAME.log``):
``npm ci`` of the front-end assets and Debian's chromium and TeX (when missing) download while pytest uses the cores,
the claims stage and the wheel stage (building and installing) run beside the pytest stage, the slow unit tests and
the pdf stage beside the book stage, and the downloads, lab and figures stages beside the browser stage (without
screenshots in the pipeline). Each stage prints
``[test] 123s stage: NAME`` and its time. Environment: ``TEST_SKIP_BOOK=1`` stops after the wheel stage,
``LAB_CHECK_ALL=1`` opens every chapter in JupyterLab (about 9 minutes instead of 2 chapters), ``TEST_SCREENSHOTS=1``
makes the browser stage save its full-page screenshots (``nox -s browser`` alone always does).

The unit, pytest and claims stages also write their results as JUnit XML (``_build/junit-unit.xml``,
``junit-pytest.xml``, ``junit-claims.xml``): the book's page "The paper, mapped" (book/paper_map.md) reads each row's
"passed on this build" marks from them, so the book stage after them shows this run's results.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
BUILD = ROOT / "_build"
PY = ".venv/bin/python"
nox.options.default_venv_backend = "none"
nox.options.sessions = ["test"]          # `nox` alone = the test pipeline (without tools/setup_env.sh)
nox.options.error_on_missing_interpreters = False

#: What every stage runs with (the kernels of the book build get theirs from _config.yml, book_kernels.env).
#: PYTHONDONTWRITEBYTECODE unset (nox's None): Python caches the compiled attnlib, attnbook and (pytest's rewritten)
#: test modules in __pycache__, so the pipeline's ~60 Python processes (pytest workers, kernels, subprocesses) do not
#: each compile them again. With it set, as in some containers, collecting the claims took 10 s a process, 5 s without.
ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": None}
#: The JupyterLab check's chapters in the test pipeline: the two that carry every mechanism (the intro's tabs,
#: chapter 7's slider, animation and both downloads); all ten take about 9 minutes on 2 cores (LAB_CHECK_ALL=1).
LAB_CHAPTERS = "intro,ch7_errata"
#: The figures the test pipeline renders beside the pdf stage (one core each).
FIGURE_SUBSET = ["--only", "intro", "ch1", "--format", "png"]
#: The browser check in the test pipeline: every check, no full-page screenshots (they are for a person to look at,
#: `nox -s browser` saves them; they took most of the stage's time). TEST_SCREENSHOTS=1 keeps them.
PIPELINE_BROWSER = ["--jobs", "2", "--no-screenshots"]
PDF_CHAPTER = ["--chapter", "ch1_token_selection"]   # the pipeline's pdf stage: one chapter through LaTeX


class StageFailed(Exception):
    """A stage failed; the message says which and where its report is."""


class Stages:
    """Runs stages in order with ``[prefix] 123s stage: NAME`` lines, and background jobs beside them."""

    def __init__(self, session: nox.Session, prefix: str) -> None:
        self.session, self.prefix = session, prefix
        start = os.environ.get("TEST_START")   # tools/test.sh passes its start, so setup's time counts
        self.start = float(start) if start and prefix == "test" else time.time()
        self.background: dict[str, tuple[subprocess.Popen, float, list[float]]] = {}
        self.cpu_start = _cpu_times()

    def stamp(self, msg: str) -> None:
        print(f"[{self.prefix}] {time.time() - self.start:.0f}s  {msg}", flush=True)

    def run(self, name: str, report: str, fn, args=()) -> None:
        """Run stage ``name`` (``fn(session, args)``); on failure raise StageFailed naming ``report``."""
        self.stamp(f"stage: {name}")
        t0, cpu0 = time.time(), _cpu_times()
        try:
            fn(self.session, list(args))
        except CommandFailed as exc:
            self.stamp(f"FAILED at stage '{name}' ({exc.reason or 'non-zero exit'}) — report: {report}")
            raise StageFailed(name) from exc
        self.stamp(f"  ({name} took {time.time() - t0:.0f}s{_busy_since(cpu0)})")

    def start_background(self, name: str, cmd: list[str]) -> None:
        """Start ``cmd`` now, output in ``_build/NAME.log``; :meth:`wait` before the first stage that needs it."""
        BUILD.mkdir(exist_ok=True)
        self.stamp(f"stage (in the background): {name}, output in _build/{name}.log")
        out = open(BUILD / f"{name}.log", "w")
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=_environ(self.session))
        out.close()
        ended: list[float] = []
        threading.Thread(target=lambda: (proc.wait(), ended.append(time.time())), daemon=True).start()
        self.background[name] = (proc, time.time(), ended)

    def stop(self, name: str) -> None:
        """End background job ``name`` (SIGTERM) if it is still running."""
        job = self.background.pop(name, None)
        if job is not None and job[0].poll() is None:
            job[0].terminate()

    def wait_pytest(self, name: str) -> None:
        """:meth:`wait` for background pytest run ``name``, then print its closing line (from ``_build/NAME.log``)."""
        self.wait(name)
        print(f"{name}: {_last_line(BUILD / f'{name}.log')}")

    def wait(self, name: str) -> None:
        proc, t0, ended = self.background.pop(name)
        rc = proc.wait()
        while not ended:
            time.sleep(0.01)
        log = BUILD / f"{name}.log"
        if rc != 0:
            print("".join(deque(log.open(errors="replace"), maxlen=40)), end="")
            self.stamp(f"FAILED at stage '{name}' (exit {rc}) — report: _build/{name}.log")
            raise StageFailed(name)
        self.stamp(f"  ({name}, in the background, took {ended[0] - t0:.0f}s; waited for at {time.time() - t0:.0f}s)")


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine (Linux's /proc/stat), ``None`` where that is unknown. Whole
    machine, not this pipeline's processes: pool workers started by a forkserver are nobody's waited-for children."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[:3]) + sum(fields[5:7])  # user, nice, system, irq, softirq (not idle, iowait, steal)
    return busy, sum(fields[:8])


def _busy_since(start: tuple[int, int] | None) -> str:
    """``", cores 87% busy"``: the machine's busy share since ``start`` (on a machine doing nothing else: how well
    the stage uses its cores)."""
    now = _cpu_times()
    if start is None or now is None or now[1] <= start[1]:
        return ""
    return f", cores {100 * (now[0] - start[0]) / (now[1] - start[1]):.0f}% busy"


def _environ(session: nox.Session) -> dict[str, str]:
    """The environment ``session.run`` would give a command (nox's None means: unset)."""
    env = {**os.environ, **session.env}
    return {k: v for k, v in env.items() if v is not None}


def _one_stage(session: nox.Session, name: str, fn) -> None:
    """A session that is one stage, its arguments those of the stage's tool: the same stage line, failure message and
    report as in the pipeline."""
    session.env.update(ENV)
    report = REPORTS[name]
    try:
        Stages(session, name).run(name, report, fn, session.posargs)
    except StageFailed:
        session.error(f"stage {name} failed — report: {report}")


# -- the stages ---------------------------------------------------------------------------------------------------
def _pytest(session: nox.Session, log: str, args: list[str], extra: list[str]) -> None:
    """pytest on 2 cores (pytest-xdist), its output also in ``log``. Exit 5 (nothing selected) passes when the
    caller's ``extra`` arguments (``-k ...``) select tests of another stage only."""
    BUILD.mkdir(exist_ok=True)
    cmd = [PY, "-m", "pytest", "-q", "-n", "2", *args, *extra]
    session.log(" ".join(cmd))
    with open(ROOT / log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=_environ(session), text=True, errors="replace")
        for line in proc.stdout:
            sys.stdout.write(line)
            fh.write(line)
        rc = proc.wait()
    sys.stdout.flush()
    if rc == 5 and extra:
        return
    if rc != 0:
        raise CommandFailed(f"pytest exited {rc}")


def _lint(session: nox.Session, args: list[str]) -> None:
    session.run(".venv/bin/ruff", "check", "attnlib", "attnbook", "tests", "tools", "benchmarks", "book/_ext",
                "noxfile.py", *args, external=True)


def _unit(session: nox.Session, args: list[str]) -> None:
    _pytest(session, "_build/unit.log", ["tests/unit", "-m", "not slow", "--junitxml=_build/junit-unit.xml"], args)


#: The library's unit tests marked slow (flows to ln t = 1e100 or t = 1e300, tight reference integrations): out of
#: the unit stage, so a library change hears back in well under a minute; the pipeline runs them beside the book.
SLOW_ARGS = ["tests/unit", "-m", "slow", "--junitxml=_build/junit-slow.xml"]


def _slow(session: nox.Session, args: list[str]) -> None:
    _pytest(session, "_build/slow.log", SLOW_ARGS, args)


def _studies(session: nox.Session, args: list[str]) -> None:
    session.run(PY, "-m", "attnbook", "studies", *args, external=True)


def _pytest_stage(session: nox.Session, args: list[str]) -> None:
    _pytest(session, "_build/pytest.log", ["tests/claims", "tests/book", "--junitxml=_build/junit-pytest.xml"], args)


CLAIMS_ARGS = ["-m", "claims", "--perturb-seed", "1", "--junitxml=_build/junit-claims.xml"]


def _claims(session: nox.Session, args: list[str]) -> None:
    _pytest(session, "_build/claims.log", CLAIMS_ARGS, args)


def _wheel(session: nox.Session, args: list[str]) -> None:
    session.run("bash", "tools/wheel_check.sh", *args, external=True)


def _book(session: nox.Session, args: list[str]) -> None:
    """npm assets, then every changed page executed into the cache (tools/execute_book.py), then Sphinx reads the
    pages from it (jupyter-book build -W: a warning, cell stderr included, fails) and executes nothing (checked)."""
    session.run("bash", "tools/npm_assets.sh", external=True)
    # matplotlib's font cache outside the notebooks: on a fresh machine its first import writes to stderr
    session.run(PY, "-c", "import matplotlib.pyplot", external=True, silent=True)
    session.run(PY, "tools/execute_book.py", *args, external=True)
    try:
        session.run(".venv/bin/jupyter-book", "build", ".", "-W", "-n", "--keep-going", external=True)
    except CommandFailed:
        # Sphinx reads again only changed pages, and a page that warned is not changed: the next build reads every
        # page again (from the cache, executing nothing), so the warning is not lost.
        shutil.rmtree(BUILD / ".doctrees", ignore_errors=True)
        raise
    session.run(PY, "tools/execute_book.py", "--verify", external=True)


def _student_site(session: nox.Session, args: list[str]) -> None:
    session.run("bash", "tools/build_student_site.sh", *args, external=True)


def _downloads_command(args: list[str]) -> list[str]:
    return [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/book/test_notebooks.py",
            "-k", "downloaded_notebook_stands_on_its_own", *args]


def _downloads(session: nox.Session, args: list[str]) -> None:
    session.run(*_downloads_command(args), external=True)


def _browser(session: nox.Session, args: list[str]) -> None:
    session.run("node", "tools/browser_check.mjs", *(args or ["--jobs", "2"]), external=True)


def _lab_command(args: list[str]) -> list[str]:
    only = [] if os.environ.get("LAB_CHECK_ALL", "0") == "1" else ["--only", LAB_CHAPTERS]
    return ["node", "tools/lab_check.mjs", "--jobs", "1", *(args or only)]


def _lab(session: nox.Session, args: list[str]) -> None:
    session.run(*_lab_command(args), external=True)


def _figures(session: nox.Session, args: list[str]) -> None:
    session.run(PY, "-m", "attnbook", "figures", "_build/figures", *args, external=True)


def _pdf(session: nox.Session, args: list[str]) -> None:
    session.run("bash", "tools/build_pdf.sh", *(args or PDF_CHAPTER), external=True)


def _slides(session: nox.Session, args: list[str]) -> None:
    session.run("bash", "tools/build_slides.sh", *args, external=True)


def _bench(session: nox.Session, args: list[str]) -> None:
    session.run(PY, "benchmarks/flow.py", *(args or ["--quick"]), external=True)


# Report of each stage: where to look when it fails.
REPORTS = {
    "lint": "the ruff messages above",
    "unit": "the pytest summary above (also in _build/unit.log)",
    "slow": "the pytest summary above (also in _build/slow.log)",
    "studies": "the traceback above (the study it names)",
    "pytest": "the pytest summary above (also in _build/pytest.log)",
    "claims": "the pytest summary above (also in _build/claims.log)",
    "wheel": "the output above (tools/wheel_check.sh)",
    "book": "_build/html/reports/ (tracebacks of failing cells) and the Sphinx warnings above",
    "downloads": "the pytest messages above",
    "student_site": "the Sphinx warnings and the pytest messages of tests/book/test_student_site.py above",
    "browser": "the messages above; screenshots in _build/screenshots/",
    "lab": "the messages above; screenshots in _build/lab-screenshots/",
    "figures": "the traceback above",
    "pdf": "_build/pdf-src/_build/latex/book.log",
    "slides": "the messages above; screenshots in _build/slides-screenshots/",
    "bench": "the benchmark table above",
}


# -- one session per stage ----------------------------------------------------------------------------------------
@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff check (rules in pyproject.toml); extra arguments go to ruff (e.g. --fix)."""
    _one_stage(session, "lint", _lint)


@nox.session(python=False)
def unit(session: nox.Session) -> None:
    """The library's unit tests, tests/unit without those marked slow, on 2 cores (report: _build/unit.log)."""
    _one_stage(session, "unit", _unit)


@nox.session(python=False)
def slow(session: nox.Session) -> None:
    """The library's unit tests marked slow (long-horizon flows, tight references), on 2 cores (_build/slow.log)."""
    _one_stage(session, "slow", _slow)


@nox.session(python=False)
def studies(session: nox.Session) -> None:
    """python -m attnbook studies: every study computed once into _build/studies/, read by later stages (--jobs N)."""
    _one_stage(session, "studies", _studies)


@nox.session(name="pytest", python=False)
def pytest_(session: nox.Session) -> None:
    """The chapters' claims and the book's tooling, tests/claims tests/book, on 2 cores (_build/pytest.log)."""
    _one_stage(session, "pytest", _pytest_stage)


@nox.session(python=False)
def claims(session: nox.Session) -> None:
    """Every test marked claims again, every input perturbed by a relative 1e-12 (pytest -m claims --perturb-seed 1)."""
    _one_stage(session, "claims", _claims)


@nox.session(python=False)
def wheel(session: nox.Session) -> None:
    """tools/wheel_check.sh: the wheel with [book] in a fresh venv runs chapter 1 outside the repository."""
    _one_stage(session, "wheel", _wheel)


@nox.session(python=False)
def book(session: nox.Session) -> None:
    """The HTML book: changed pages executed into the cache, then jupyter-book build -W (--all: everything again)."""
    _one_stage(session, "book", _book)


@nox.session(name="student_site", python=False)
def student_site(session: nox.Session) -> None:
    """The student site (no solutions, solution-free downloads) in _build/student; not in the default pipeline."""
    _one_stage(session, "student_site", _student_site)


@nox.session(python=False)
def downloads(session: nox.Session) -> None:
    """The executed .ipynb the site offers stand on their own (needs the book)."""
    _one_stage(session, "downloads", _downloads)


@nox.session(python=False)
def browser(session: nox.Session) -> None:
    """Every built page in headless Chromium, offline (tools/browser_check.mjs; installs Debian's chromium if missing)."""
    session.env.update(ENV)
    session.run("bash", "tools/system_packages.sh", "browser", external=True)
    _one_stage(session, "browser", _browser)


@nox.session(python=False)
def lab(session: nox.Session) -> None:
    """The chapters as notebooks in a headless JupyterLab (tools/lab_check.mjs; 2 chapters, LAB_CHECK_ALL=1 all)."""
    _one_stage(session, "lab", _lab)


@nox.session(python=False)
def figures(session: nox.Session) -> None:
    """python -m attnbook figures _build/figures [ARGS] (e.g. -- --only ch3 --format png svg)."""
    _one_stage(session, "figures", _figures)


@nox.session(python=False)
def pdf(session: nox.Session) -> None:
    """One chapter through LaTeX (tools/build_pdf.sh --chapter ch1_token_selection; other arguments replace it)."""
    _one_stage(session, "pdf", _pdf)


@nox.session(python=False)
def slides(session: nox.Session) -> None:
    """The lecture slides, built and checked in headless Chromium (tools/build_slides.sh)."""
    _one_stage(session, "slides", _slides)


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """benchmarks/flow.py --quick (other arguments replace --quick)."""
    _one_stage(session, "bench", _bench)


# -- the pipeline -------------------------------------------------------------------------------------------------
@nox.session(python=False)
def test(session: nox.Session) -> None:
    """The whole test command in order (what tools/test.sh runs after setting up .venv); arguments go to pytest."""
    session.env.update(ENV)
    stages = Stages(session, "test")
    skip_book = os.environ.get("TEST_SKIP_BOOK", "0") == "1"
    pytest_args = session.posargs
    BUILD.mkdir(exist_ok=True)

    try:
        stages.run("lint", REPORTS["lint"], _lint)
        if not skip_book:   # downloads (network, disk) while pytest uses the cores
            stages.start_background("assets", ["bash", "tools/npm_assets.sh"])
            stages.start_background("system", ["bash", "tools/system_packages.sh"])
        stages.run("unit", REPORTS["unit"], _unit, pytest_args)
        stages.run("studies", REPORTS["studies"], _studies)
        # the wheel check (mostly building and installing) beside the two pytest stages, whose workers leave CPU idle
        stages.start_background("wheel", ["bash", "tools/wheel_check.sh"])
        # the claims stage beside the pytest stage: each alone leaves cores idle (kernels and subprocesses starting,
        # a worker's last tests, the claims workers waiting for each other's shared results)
        stages.start_background("claims", [PY, "-m", "pytest", "-q", "-n", "2", *CLAIMS_ARGS])
        stages.run("pytest", REPORTS["pytest"], _pytest_stage, pytest_args)
        stages.wait_pytest("claims")
        stages.wait("wheel")
        # the slow unit tests (one process) beside the book stage, which leaves a core idle while Sphinx reads
        # the pages (beside pytest and claims, which keep both cores busy, they cost about 50 s more CPU)
        stages.start_background("slow", [PY, "-m", "pytest", "-q", *SLOW_ARGS])
        if not skip_book:
            stages.wait("assets")
            stages.wait("system")
            # the one-chapter PDF beside the book stage too: it executes its chapter into the PDF's own jupyter
            # cache (vector figures) and builds in its own folder, so it needs the studies and TeX, not the HTML
            # book, and uses what Sphinx's one-core reading of the pages leaves idle
            stages.start_background("pdf", ["bash", "tools/build_pdf.sh", *PDF_CHAPTER])
            stages.run("book", REPORTS["book"], _book)
        stages.wait_pytest("slow")
        if not skip_book:
            # Beside the browser check: the downloads check, JupyterLab (mostly waiting on a server, kernels and
            # settle times) and a figure subset; each reads the built book or the studies and writes only its own
            # output folder
            stages.start_background("lab", _lab_command([]))
            stages.start_background("figures", [PY, "-m", "attnbook", "figures", "_build/figures", *FIGURE_SUBSET])
            stages.start_background("downloads", _downloads_command([]))
            screenshots = os.environ.get("TEST_SCREENSHOTS", "0") == "1"
            stages.run("browser", REPORTS["browser"], _browser, ["--jobs", "2"] if screenshots else PIPELINE_BROWSER)
            stages.wait("downloads")
            stages.wait("lab")
            stages.wait("pdf")
            stages.wait("figures")
            stages.run("bench", REPORTS["bench"], _bench)
    except StageFailed as exc:   # a background job still running (apt-get, npm) is left to finish, checks are not
        for name in set(stages.background) - {"assets", "system"}:
            stages.stop(name)
        session.error(f"stage {exc} failed")
    stages.stamp(f"all stages passed{_busy_since(stages.cpu_start)}")
    print(f"unit: {_last_line(BUILD / 'unit.log')}")
    print(_last_line(BUILD / "pytest.log"))   # the pytest stage's closing line (claims and book tests), last (CI reads it)


def _last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return lines[-1] if lines else ""
