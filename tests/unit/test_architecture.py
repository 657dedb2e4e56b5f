"""The packages' architecture (CONTRIBUTING.md, "Architecture"). The boundaries and layers are import-linter
contracts in pyproject.toml ([tool.importlinter]), run here; the rest is checked on the source, by parsing imports
(nothing is executed): no private name crosses a module, no import cycle, figure modules only draw."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "attnlib"            # the small library
BOOK = REPO / "attnbook"           # the book's runtime: experiments, figures, plots, widgets, checks, student, CLI
PACKAGES = (ROOT, BOOK)


def _lint_imports(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    return subprocess.run([exe, "--no-cache", *args], cwd=REPO, capture_output=True, text=True)


def test_import_contracts_are_kept():
    # pyproject.toml's contracts: attnlib never imports attnbook, matplotlib or ipywidgets; the core's layers;
    # attnbook's layers; the book's computations without matplotlib; the chapters' experiments independent.
    run = _lint_imports()
    assert run.returncode == 0 and "0 broken" in run.stdout, run.stdout + run.stderr
    assert run.stdout.count(" KEPT") == 5, run.stdout


def test_chapters_are_leaves_without_exceptions():
    # No chapter module imports another, and the contract that says so lists no exceptions (ignore_imports).
    import tomllib
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    for contract in contracts:
        assert not contract.get("ignore_imports"), f"contract {contract['id']} ignores imports"
    (chapters,) = [c for c in contracts if c["id"] == "chapters-independent"]
    assert chapters["type"] == "independence" and "attnbook.experiments.why" in chapters["modules"]


def test_the_import_contracts_can_fail(tmp_path):
    # The contracts above must be able to fail: attnbook imports attnlib, so a contract forbidding it is broken.
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["attnlib", "attnbook"]\n\n'
                      '[[tool.importlinter.contracts]]\nname = "upside down"\ntype = "forbidden"\n'
                      'source_modules = ["attnbook.experiments.ch1"]\nforbidden_modules = ["attnlib.flow"]\n')
    run = _lint_imports(str(config))
    assert run.returncode == 1 and "BROKEN" in run.stdout and "attnbook.experiments.ch1 -> attnlib" in run.stdout, \
        run.stdout + run.stderr


def test_the_library_imports_no_book_code_at_run_time():
    # What `import attnlib` really loads, in a fresh interpreter (the contracts read the source).
    code = ("import attnlib, sys\n"
            "book = sorted(m for m in sys.modules if m.split('.')[0] in {'matplotlib', 'ipywidgets', 'attnbook'})\n"
            "assert not book, book\n"
            "assert not any(hasattr(attnlib, m) for m in ('plots', 'widgets', 'checks', 'experiments', 'figures'))\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def _module_name(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).with_suffix("").parts[0]


def _package_imports(path: Path, root: Path = ROOT) -> set[str]:
    """Top-level modules of the package at ``root`` (named by its folder) that a source file imports, relative or
    absolute."""
    package = root.name
    tree = ast.parse(path.read_text())
    depth_pkg = len(path.relative_to(root).parts) - 1          # 0 for attnlib/x.py, 1 for attnbook/figures/x.py
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package and len(parts) > 1:
                    out.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != package:
                    continue
                names = parts[1:2] or [a.name for a in node.names]
            elif node.level - 1 == depth_pkg:                  # relative to the package itself
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            else:                                              # relative within a subpackage
                continue
            out.update(names)
    return out


def _private_imports(root: Path = ROOT) -> list[str]:
    """``from <attnlib or attnbook module> import _name`` anywhere in the package (also inside functions)."""
    wrong = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 0 and (node.module or "").split(".")[0] not in ("attnlib", "attnbook"):
                continue
            where = f"{path.relative_to(root.parent)}: from {'.' * node.level}{node.module or ''}"
            wrong += [f"{where} import {a.name}" for a in node.names if a.name.startswith("_")]
    return wrong


def test_no_private_name_crosses_a_module():
    # What two modules share gets a public name (attnlib._validate is a private *module* with public functions).
    wrong = [w for root in PACKAGES for w in _private_imports(root)]
    assert not wrong, "private names imported from another module:\n" + "\n".join(wrong)


def _cycles(root: Path = ROOT) -> list[list[str]]:
    """Import cycles among the package's top-level modules (function-level imports included), each as a closed
    path."""
    graph = {}
    for path in sorted(root.rglob("*.py")):
        mod = _module_name(path, root)
        if mod != "__init__":
            graph.setdefault(mod, set()).update(_package_imports(path, root) - {mod, "__init__"})
    state, stack, found = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycle():
    cycles = [c for root in PACKAGES for c in _cycles(root)]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checkers_see_a_private_import_and_a_cycle(tmp_path):
    pkg = tmp_path / "attnlib"
    pkg.mkdir()
    (pkg / "frame.py").write_text("from ._validate import check_array\n\ndef f():\n    from .flow import _solve\n")
    (pkg / "flow.py").write_text("from .frame import f\nfrom attnlib.model import _grad, cosine\n")
    (pkg / "model.py").write_text("import numpy as np\nfrom numpy import _core\n")
    assert _private_imports(pkg) == ["attnlib/flow.py: from attnlib.model import _grad",
                                     "attnlib/frame.py: from .flow import _solve"]
    assert _cycles(pkg) == [["flow", "frame", "flow"]]
    book = tmp_path / "attnbook"
    (book / "experiments").mkdir(parents=True)
    (book / "figures").mkdir()
    (book / "plots.py").write_text("from attnbook.widgets import x\nfrom attnlib.flow import _solve\n")
    (book / "widgets.py").write_text("from . import plots\n")
    (book / "experiments" / "ch1.py").write_text("from attnlib.flow import gradient_flow\n")
    (book / "figures" / "ch1.py").write_text("from ..experiments.ch1 import _ray\n")
    assert _private_imports(book) == ["attnbook/figures/ch1.py: from ..experiments.ch1 import _ray",
                                      "attnbook/plots.py: from attnlib.flow import _solve"]
    assert _cycles(book) == [["plots", "widgets", "plots"]]


def test_importing_every_chapters_experiments_leaves_matplotlib_out():
    # Tests of a chapter's claims import attnbook.experiments.<chapter> only: run in a fresh interpreter (the
    # contract "compute-without-matplotlib" checks the source; this checks what is loaded).
    chapters = sorted(p.stem for p in (BOOK / "experiments").glob("*.py") if not p.stem.startswith("_"))
    assert {"ch1", "ch3", "ch7"} <= set(chapters)
    code = ("import importlib, sys\n"
            f"for m in {chapters!r}: importlib.import_module('attnbook.experiments.' + m)\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('matplotlib', 'cvxpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    # no matplotlib below the figures; cvxpy (~2 s to import) only on the first SVM solve
    assert out == "[]", f"importing attnbook.experiments loads {out}"


FIGURE_MODULES = sorted(p for p in (BOOK / "figures").glob("*.py") if p.stem != "__init__")


def test_figure_modules_draw_only():
    # A figure module imports no other figure module (only the package's helpers), no flow, no solver and no cache:
    # it draws experiment results.
    forbidden = {"dynamics", "flow", "frame", "svm", "assumptions", "figures", "functools"}
    wrong = []
    for path in FIGURE_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = (node.module or "").split(".")
                names = {a.name for a in node.names}
                chapters = {q.stem for q in FIGURE_MODULES}
                hit = (node.level == 1 and (node.module is not None or names & chapters)) or (node.level == 2 and (mod[0] in forbidden or names & forbidden)) or \
                      (node.level == 0 and (mod[0] == "functools" or mod[:2] in (["attnlib", m] for m in forbidden)
                                            or mod[:2] == ["attnbook", "figures"]))
                if hit:
                    wrong.append(f"{path.name}: from {'.' * node.level}{node.module or ''} import {sorted(names)}")
            elif isinstance(node, ast.Import):
                wrong += [f"{path.name}: import {a.name}" for a in node.names
                          if a.name == "functools" or a.name.startswith(("attnlib", "attnbook"))]
    assert not wrong, "figure modules must only draw:\n" + "\n".join(wrong)


def test_no_literal_tab_in_library_or_chapter_sources():
    # A TAB in a label or in prose is almost always "\t" eaten from "\to"/"\times" (rendered "o" or "imes").
    repo = REPO
    files = (sorted(ROOT.rglob("*.py")) + sorted(BOOK.rglob("*.py")) + sorted((repo / "book").rglob("*.md"))
             + sorted((repo / "tools").rglob("*.py")))
    assert len(files) > 50
    tabbed = [f"{p.relative_to(repo)}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
              if "\t" in line]
    assert not tabbed, f"literal TAB characters: {tabbed}"


def test_the_experiments_return_typed_results_not_bare_dicts():
    # #24: results are frozen dataclasses; a mapping is allowed only where its keys are data (dict[K, V] named).
    import importlib
    import inspect
    import pkgutil

    from attnbook import experiments

    bare = []
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name == "_store":  # the cache layer itself (it rebuilds frozen mappings)
            continue
        module = importlib.import_module(f"attnbook.experiments.{info.name}")
        for name, obj in vars(module).items():
            f = inspect.unwrap(obj) if callable(obj) else obj
            if not inspect.isfunction(f) or f.__module__ != module.__name__:
                continue
            if name.startswith("_") and not callable(getattr(obj, "is_cached", None)):
                continue  # a private helper (not a cached result): its return is nobody's result
            ann = inspect.signature(f).return_annotation
            text = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
            if text.replace(" ", "") in ("dict", "Mapping", "typing.Mapping", "MappingProxyType", "list"):
                bare.append(f"{module.__name__}.{name} -> {text}")
    assert not bare, "experiment functions returning an untyped mapping (use a frozen dataclass):\n" + "\n".join(bare)
