"""The library's layers (CONTRIBUTING.md, "Architecture"): a module imports only from layers below its own, so the
core never depends on the book's drawing code. Checked on the source, by parsing imports (nothing is executed)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "attnlib"

# Lowest first. A module may import attnlib modules from strictly lower layers only.
LAYERS = [
    {"_validate"},        # argument checks every public function uses (numpy only)
    {"perturbation"},     # rounding-sized perturbations of data and flow starts (perturbed_inputs)
    {"data"},
    {"kernels"},          # log-space kernels of the losses, gradients and Hessians (checked arrays in, no checks)
    {"model"},
    {"assumptions"},
    {"svm"},              # confirms a solver's "infeasible" with the assumptions' LP
    {"factorization"},    # minimal-norm factorizations and the nuclear-norm subdifferential (Thm 5.1's proof)
    {"mirror"},           # l_p mirror descent on W and the l_p attention SVM (chapter 8)
    {"dynamics"},         # parameterisations, the flow's right-hand side and Jacobian, SolverOptions, the solve call
    {"frame"},            # the margin frame of long flows, on the dynamics
    {"flow"},             # the front end: gradient_flow hands long flows to the frame, gradient_descent, Trajectory
    {"diagnostics"},
    {"checks"},           # self-checks of the exercises (compute the right value with the core)
    {"experiments"},      # the book's compute: data choices, flows, SVM solves, sweeps (no matplotlib)
    {"plots"},
    {"widgets"},
    {"figures"},
    {"student"},          # the student edition (reads the book's chapters)
    {"__main__"},
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).with_suffix("").parts[0]


def _attnlib_imports(path: Path, root: Path = ROOT) -> set[str]:
    """Top-level attnlib modules that a source file imports (relative or absolute)."""
    tree = ast.parse(path.read_text())
    depth_pkg = len(path.relative_to(root).parts) - 1          # 0 for attnlib/x.py, 1 for attnlib/figures/x.py
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "attnlib" and len(parts) > 1:
                    out.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "attnlib":
                    continue
                names = parts[1:2] or [a.name for a in node.names]
            elif node.level - 1 == depth_pkg:                  # relative to the attnlib package itself
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            else:                                              # relative within a subpackage
                continue
            out.update(names)
    return out


def test_every_module_has_a_layer():
    modules = {_module_name(p) for p in ROOT.rglob("*.py")} - {"__init__"}
    assert modules <= set(LAYER_OF), f"add {sorted(modules - set(LAYER_OF))} to LAYERS (and CONTRIBUTING.md)"


def _violations(root: Path = ROOT) -> list[str]:
    wrong = []
    for path in sorted(root.rglob("*.py")):
        mod = _module_name(path, root)
        if mod == "__init__":
            continue
        for imported in _attnlib_imports(path, root) - {mod}:
            if imported in LAYER_OF and LAYER_OF[imported] >= LAYER_OF[mod]:
                wrong.append(f"{path.relative_to(root.parent)} imports attnlib.{imported}")
    return wrong


def test_imports_point_down_the_layers():
    wrong = _violations()
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_the_checker_sees_a_violation(tmp_path):
    # The test above must be able to fail: upward imports, relative or absolute, from a module or a subpackage.
    pkg = tmp_path / "attnlib"
    (pkg / "figures").mkdir(parents=True)
    (pkg / "model.py").write_text("from .flow import gradient_flow\nfrom attnlib import plots\nfrom .data import X\n")
    (pkg / "svm.py").write_text("import attnlib.diagnostics\n")
    (pkg / "figures" / "ch1.py").write_text("from ..flow import gradient_flow\nfrom ...attnlib import x\n")
    (pkg / "flow.py").write_text("from attnlib.figures import ch1\n")
    assert sorted(_violations(pkg)) == ["attnlib/flow.py imports attnlib.figures", "attnlib/model.py imports attnlib.flow",
                                        "attnlib/model.py imports attnlib.plots",
                                        "attnlib/svm.py imports attnlib.diagnostics"]


def _private_imports(root: Path = ROOT) -> list[str]:
    """``from <attnlib module> import _name`` anywhere in the package (also inside functions)."""
    wrong = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 0 and (node.module or "").split(".")[0] != "attnlib":
                continue
            where = f"{path.relative_to(root.parent)}: from {'.' * node.level}{node.module or ''}"
            wrong += [f"{where} import {a.name}" for a in node.names if a.name.startswith("_")]
    return wrong


def test_no_private_name_crosses_a_module():
    # What two modules share gets a public name (attnlib._validate is a private *module* with public functions).
    wrong = _private_imports()
    assert not wrong, "private names imported from another attnlib module:\n" + "\n".join(wrong)


def _cycles(root: Path = ROOT) -> list[list[str]]:
    """Import cycles among attnlib's modules (function-level imports included), each as a closed path."""
    graph = {}
    for path in sorted(root.rglob("*.py")):
        mod = _module_name(path, root)
        if mod != "__init__":
            graph.setdefault(mod, set()).update(_attnlib_imports(path, root) - {mod, "__init__"})
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
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checkers_see_a_private_import_and_a_cycle(tmp_path):
    pkg = tmp_path / "attnlib"
    (pkg / "figures").mkdir(parents=True)
    (pkg / "frame.py").write_text("from ._validate import check_array\n\ndef f():\n    from .flow import _solve\n")
    (pkg / "flow.py").write_text("from .frame import f\nfrom attnlib.model import _grad, cosine\n")
    (pkg / "model.py").write_text("import numpy as np\nfrom numpy import _core\n")
    (pkg / "figures" / "ch1.py").write_text("from ..experiments.ch1 import _ray\n")
    assert _private_imports(pkg) == ["attnlib/figures/ch1.py: from ..experiments.ch1 import _ray",
                                     "attnlib/flow.py: from attnlib.model import _grad",
                                     "attnlib/frame.py: from .flow import _solve"]
    assert _cycles(pkg) == [["flow", "frame", "flow"]]


MATPLOTLIB_FREE = ("experiments", "_validate", "data", "kernels", "model", "assumptions", "svm", "dynamics", "flow",
                   "frame", "diagnostics", "checks")


def _imports_top_level(path: Path) -> set[str]:
    """Top-level packages a source file imports (any ``import x`` / ``from x import``, absolute only)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_experiments_and_the_core_never_import_matplotlib():
    wrong = [str(p.relative_to(ROOT.parent)) for p in sorted(ROOT.rglob("*.py"))
             if _module_name(p) in MATPLOTLIB_FREE and "matplotlib" in _imports_top_level(p)]
    assert not wrong, f"these modules import matplotlib: {wrong}"


def test_importing_every_chapters_experiments_leaves_matplotlib_out():
    # Tests of a chapter's claims import attnlib.experiments.<chapter> only: run in a fresh interpreter.
    import subprocess
    import sys

    chapters = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if not p.stem.startswith("_"))
    assert {"ch1", "ch3", "ch7"} <= set(chapters)
    code = ("import importlib, sys\n"
            f"for m in {chapters!r}: importlib.import_module('attnlib.experiments.' + m)\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('matplotlib', 'cvxpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    # no matplotlib below the figures; cvxpy (~2 s to import) only on the first SVM solve
    assert out == "[]", f"importing attnlib.experiments loads {out}"


FIGURE_MODULES = sorted(p for p in (ROOT / "figures").glob("*.py") if p.stem != "__init__")


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
                      (node.level == 0 and (mod[0] == "functools" or mod[:2] in (["attnlib", m] for m in forbidden)))
                if hit:
                    wrong.append(f"{path.name}: from {'.' * node.level}{node.module or ''} import {sorted(names)}")
            elif isinstance(node, ast.Import):
                wrong += [f"{path.name}: import {a.name}" for a in node.names
                          if a.name == "functools" or a.name.startswith("attnlib")]
    assert not wrong, "figure modules must only draw:\n" + "\n".join(wrong)


def test_no_literal_tab_in_library_or_chapter_sources():
    # A TAB in a label or in prose is almost always "\t" eaten from "\to"/"\times" (rendered "o" or "imes").
    repo = ROOT.parent
    files = sorted(ROOT.rglob("*.py")) + sorted((repo / "book").rglob("*.md")) + sorted((repo / "tools").rglob("*.py"))
    assert len(files) > 50
    tabbed = [f"{p.relative_to(repo)}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
              if "\t" in line]
    assert not tabbed, f"literal TAB characters: {tabbed}"
