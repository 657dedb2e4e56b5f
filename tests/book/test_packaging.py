"""The project's packaging contract: one source of dependency ranges, a lock that pins them, a workflow that runs the
README's test command (issue "Reproducible from a fresh machine")."""
from __future__ import annotations

import importlib.metadata
import os
import re
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import attnlib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _requirements(lines) -> dict[str, str]:
    """name -> specifier string of requirement lines that apply to this Python (comments and blanks skipped)."""
    reqs = [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    return {canonicalize_name(r.name): str(r.specifier) for r in reqs if r.marker is None or r.marker.evaluate()}


def _declared(*extras: str) -> dict[str, str]:
    out = _requirements(PROJECT["dependencies"])
    for extra in extras:
        out.update(_requirements(PROJECT["optional-dependencies"][extra]))
    return out


def _lock() -> dict[str, str]:
    """name -> pinned version of requirements-lock.txt, for the Python running the tests (markers evaluated)."""
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        req, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, version = req.strip().split("==")
        pins[canonicalize_name(name)] = version
    return pins


def test_requirements_txt_agrees_with_pyproject():
    # Binder reads requirements.txt: the library, the book and JupyterLab, with pyproject.toml's ranges.
    assert _requirements((ROOT / "requirements.txt").read_text().splitlines()) == _declared("book", "lab")


def test_lock_pins_every_declared_package_within_its_range():
    pins = _lock()
    declared = _declared("book", "test", "lab")
    missing = sorted(set(declared) - set(pins))
    assert not missing, f"requirements-lock.txt lacks {missing}: run bash tools/update_lock.sh"
    outside = {n: (pins[n], spec) for n, spec in declared.items() if not Requirement(f"{n}{spec}").specifier.contains(
        pins[n], prereleases=True)}
    assert not outside, f"pinned versions outside pyproject.toml's ranges: {outside}"
    assert "attnlib" not in pins  # the lock pins dependencies; attnlib itself is installed from the tree


@pytest.mark.skipif(os.environ.get("TEST_LOCK_IGNORED") == "1", reason="the newest releases were installed on purpose")
def test_environment_is_the_lock():
    # What the tests and the book run with is exactly the lock (tools/setup_env.sh installs it).
    pins = _lock()
    wrong = {}
    for name, version in pins.items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have != version:
            wrong[name] = (have, version)
    assert not wrong, f"installed != locked (have, locked): {wrong}; run bash tools/setup_env.sh"


def test_version_has_one_home():
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "attnlib.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", attnlib.__version__)
    assert importlib.metadata.version("attnlib") == attnlib.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {attnlib.__version__}" in changelog or "## Unreleased" in changelog


def test_package_finds_every_subpackage_and_is_licensed():
    # two import packages, one distribution: the library and the book's runtime
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["attnlib*", "attnbook*"]
    assert PROJECT["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    requires = PYPROJECT["build-system"]["requires"]
    assert any(Requirement(r).name == "setuptools" and Requirement(r).specifier.contains("77") for r in requires)
    assert not any(Requirement(r).specifier.contains("76.9") for r in requires if Requirement(r).name == "setuptools")


def test_workflow_runs_the_test_command_and_publishes_main():
    wf = yaml.safe_load((ROOT / ".github/workflows/book.yml").read_text())
    triggers = wf[True] if True in wf else wf["on"]   # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"push", "pull_request"} and triggers["push"]["branches"] == ["main"]
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    runs = [s.get("run", "") for s in steps]
    assert "bash tools/test.sh" in runs
    publish = [s for s in steps if "gh-pages" in s.get("run", "")]
    assert publish and "refs/heads/main" in publish[0]["if"]
    assert all("uses" in s or "run" in s for s in steps)
    assert (ROOT / ".ci/run").read_text().strip().endswith("bash tools/test.sh")


def test_readme_names_the_two_commands_and_the_config_place():
    readme = (ROOT / "README.md").read_text()
    assert "bash tools/build_book.sh" in readme and "bash tools/test.sh" in readme
    assert "_config.yml" in readme and "requirements-lock.txt" in readme


def test_python_is_supported():
    assert sys.version_info >= tuple(int(x) for x in PROJECT["requires-python"].lstrip(">=").split("."))


def test_binder_gets_the_same_jupyterlab_defaults_as_lab_sh(tmp_path):
    """postBuild installs attnlib and copies the repo's JupyterLab overrides where JupyterLab reads them."""
    import json
    import subprocess

    post = (ROOT / "postBuild").read_text()
    lab = (ROOT / "tools" / "lab.sh").read_text()
    copy = 'cp tools/jupyterlab/overrides.json "$settings/overrides.d/attnlib-book.json"'
    assert copy in post and copy in lab
    assert "pip install --no-deps -e ." in post
    viewers = json.loads((ROOT / "tools/jupyterlab/overrides.json").read_text())
    assert viewers["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["markdown"] == "Jupytext Notebook"
    # the settings-directory line runs (with a stub pip) and writes the file where it says
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "pip").write_text("#!/bin/sh\nexit 0\n")
    (stub / "pip").chmod(0o755)
    (stub / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (stub / "python").chmod(0o755)
    pytest.importorskip("jupyterlab")
    env = {"PATH": f"{stub}:/usr/bin:/bin", "HOME": str(tmp_path), "JUPYTERLAB_DIR": str(tmp_path / "app")}
    out = subprocess.run(["bash", "postBuild"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    written = tmp_path / "app" / "settings" / "overrides.d" / "attnlib-book.json"
    assert json.loads(written.read_text()) == viewers


def test_the_library_needs_no_plotting_and_the_book_extra_brings_it():
    # attnlib depends on numpy, scipy and cvxpy (plus threadpoolctl); attnbook's drawing and sliders come with [book].
    core = set(_requirements(PROJECT["dependencies"]))
    assert core == {"numpy", "scipy", "cvxpy", "threadpoolctl"}, core
    assert {"matplotlib", "ipywidgets"} <= set(_requirements(PROJECT["optional-dependencies"]["book"]))
    # Colab installs [notebook]: what attnbook imports when a chapter runs; [book] repeats it (same ranges).
    extras = PROJECT["optional-dependencies"]
    notebook = _requirements(extras["notebook"])
    assert set(notebook) == {"matplotlib", "ipywidgets", "scikit-learn"}
    assert all(_requirements(extras["book"]).get(k) == v for k, v in notebook.items())
