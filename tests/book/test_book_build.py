"""How the book is built: pages executed into jupyter-cache by tools/execute_book.py (two at a time, with the kernel
environment of _config.yml), then read by an unpatched ``jupyter-book build`` with ``execute_notebooks: cache``.

The build itself is the test command's ``book`` stage; here are its pieces: that jupyter-book finds every page under
the key the pre-execution stored (else it would execute the book a second time), that the static-twin switch reaches
the kernels and nothing else, that the cache is emptied when what the code calls changes, and that no local code
patches Sphinx or Jupyter Book.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute_book = _load(ROOT / "tools" / "execute_book.py", "execute_book")
PAGES = execute_book.pages(CONFIG)


# ------------------------------------------------------------------ the configuration
def test_the_book_reads_its_outputs_from_the_cache():
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "cache" and execute["cache"] == "_build/.jupyter_cache"
    # what the pre-execution and myst-nb both honour: a raising cell fails, cell stderr warns (-W fails), cwd book/
    assert execute["allow_errors"] is False and execute["stderr_output"] == "warn"
    assert execute["run_in_temp"] is False and execute["timeout"] >= 60


def test_local_extensions_live_in_book_ext():
    sphinx = CONFIG["sphinx"]
    assert sphinx["local_extensions"] == {"ipynb_download": "book/_ext/", "pdf_solutions": "book/_ext/",
                                          "pdf_print": "book/_ext/", "paper_map": "book/_ext/"}
    for name in sphinx["local_extensions"]:
        assert (ROOT / "book" / "_ext" / f"{name}.py").is_file() and name in sphinx["config"]["extensions"]
    assert not (ROOT / "tools" / "parallel_read.py").exists() and not (ROOT / "tools" / "jb_build.py").exists()


def test_the_readme_commands_run_nox_sessions():
    assert ".venv/bin/nox --no-color -s book" in (ROOT / "tools" / "build_book.sh").read_text()
    assert ".venv/bin/nox --no-color -s test" in (ROOT / "tools" / "test.sh").read_text()
    noxfile = (ROOT / "noxfile.py").read_text()
    for session in ("lint", "unit", "studies", "pytest", "claims", "wheel", "book", "downloads", "browser", "lab",
                    "figures", "pdf", "slides", "bench", "test"):
        assert f"def {session}(session" in noxfile or f'name="{session}"' in noxfile, session


# ------------------------------------------------------------------ cache keys
def _myst_nb_parser_config():
    """The MyST parser configuration jupyter-book gives myst-nb for this book (_config.yml's parse section)."""
    from jupyter_book.config import get_final_config
    from myst_parser.config.main import MdParserConfig

    sphinx, _ = get_final_config(user_yaml=CONFIG, sourcedir=ROOT, cli_config={"latex_individualpages": False})
    return MdParserConfig(**{f.name: sphinx[f"myst_{f.name}"] for f in dataclasses.fields(MdParserConfig)
                             if f"myst_{f.name}" in sphinx})


def test_pages_are_the_toc_notebooks():
    chapters = {p for p in (ROOT / "book").glob("*.md") if "```{code-cell}" in p.read_text(encoding="utf-8")}
    assert chapters <= set(PAGES) and len(chapters) >= 9
    toc_text = (ROOT / "_toc.yml").read_text()
    assert all(execute_book.docname(p) in toc_text for p in PAGES)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_jupyter_book_finds_the_key_the_pre_execution_stored(path, tmp_path):
    """myst-nb hashes the notebook it reads with the book's parser configuration (colon fences, dollar math, ...);
    the pre-execution's project reads it with jupyter-cache's ``myst_nb_md`` plugin. The two keys must agree, or every
    build executes each changed page twice (and ``execute_book.py --verify`` fails the build)."""
    from jupyter_cache import get_cache
    from myst_nb.core.config import NbParserConfig
    from myst_nb.core.read import create_nb_reader

    cache = get_cache(str(tmp_path / "cache"))
    text = path.read_text(encoding="utf-8")
    reader = create_nb_reader(str(path), _myst_nb_parser_config(), NbParserConfig(), text)
    assert reader is not None and reader.read_fmt == execute_book.READER
    record = cache.add_nb_to_project(str(path), read_data=execute_book.READER)
    project_nb = cache.get_project_notebook(record.pk).nb
    assert cache.create_hashed_notebook(reader.read(text))[1] == cache.create_hashed_notebook(project_nb)[1]


# ------------------------------------------------------------------ the static-twin switch
def test_the_kernel_environment_is_an_explicit_setting():
    from attnbook import widgets

    env = execute_book.kernel_env(CONFIG)
    assert env == {widgets.BUILD_ENV_VAR: "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}


def test_no_sphinx_extension_sets_the_environment():
    """The switch is _config.yml's, given to the kernels by the pre-execution; the extensions leave os.environ alone."""
    for path in (ROOT / "book" / "_ext").glob("*.py"):
        assert "os.environ" not in path.read_text(encoding="utf-8"), path.name
    ipynb_download = _load(ROOT / "book" / "_ext" / "ipynb_download.py", "ipynb_download")
    before = dict(os.environ)
    app = SimpleNamespace(set_html_assets_policy=lambda policy: None, connect=lambda *a, **k: None,
                          add_config_value=lambda *a, **k: None)
    ipynb_download.setup(app)
    assert dict(os.environ) == before


#: The packages whose modules and classes local code must not change (a monkeypatch of their internals).
PATCH_FORBIDDEN = ("sphinx", "sphinx_", "sphinxcontrib", "jupyter_book", "myst_nb", "myst_parser", "jupyter_cache",
                   "docutils")


def _patched_attributes(path: Path) -> list[str]:
    """``mod.attr = ...`` (or setattr) where ``mod`` was imported from a package of PATCH_FORBIDDEN."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                source = module or alias.name
                if source and source.split(".")[0].startswith(PATCH_FORBIDDEN):
                    imported.add((alias.asname or alias.name).split(".")[0])

    def root(expr):
        while isinstance(expr, ast.Attribute):
            expr = expr.value
        return expr.id if isinstance(expr, ast.Name) else None

    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and node.args:
            targets = [ast.Attribute(value=node.args[0], attr="?")]
        for t in targets:
            if isinstance(t, ast.Attribute) and root(t) in imported:
                found.append(f"{path.name}:{node.lineno} {ast.unparse(t)}")
    return found


def test_no_local_code_patches_sphinx_or_jupyter_book():
    files = [*(ROOT / "book" / "_ext").glob("*.py"), *(ROOT / "tools").glob("*.py"), ROOT / "noxfile.py"]
    assert [f for path in files for f in _patched_attributes(path)] == []


def test_the_patch_check_would_catch_a_patch(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sphinx.builders\nfrom sphinx_proof.domain import ProofDomain\n"
                   "sphinx.builders.make_chunks = len\nProofDomain.merge_domaindata = len\n"
                   "setattr(ProofDomain, 'x', 1)\n")
    assert len(_patched_attributes(bad)) == 3


# ------------------------------------------------------------------ invalidation and execution
@pytest.fixture
def small_book(tmp_path, monkeypatch):
    """execute_book on a two-page book in tmp_path: book/good.md prints the kernel's variables, book/bad.md raises."""
    header = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
              "kernelspec:\n  display_name: Python 3 (ipykernel)\n  language: python\n  name: python3\n---\n\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "good.md").write_text(
        header + "# Good\n\n```{code-cell} ipython3\nimport os\nprint(os.environ.get('ATTNLIB_BOOK_BUILD'), "
        "os.environ.get('OPENBLAS_NUM_THREADS'), os.getcwd())\n```\n")
    (tmp_path / "book" / "bad.md").write_text(header + "# Bad\n\n```{code-cell} ipython3\n1 / 0\n```\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/good\nchapters:\n  - file: book/bad\n")
    cfg = {"execute": {**CONFIG["execute"], "timeout": 60}, "book_kernels": CONFIG["book_kernels"]}
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "attnlib").mkdir()
    (tmp_path / "attnlib" / "core.py").write_text("x = 1\n")
    build = tmp_path / "_build"
    for name, value in {"ROOT": tmp_path, "BUILD": build, "TIMES": build / "chapter-times.json",
                        "STAMP": build / ".book-sources.json", "KEYS": build / ".book-cache-keys.json",
                        "REPORTS": build / "html" / "reports"}.items():
        monkeypatch.setattr(execute_book, name, value)
    for var in ("ATTNLIB_BOOK_BUILD", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_invalidation_follows_what_the_code_calls(small_book):
    cfg = execute_book.config()
    cache, doctrees = small_book / "_build" / ".jupyter_cache", small_book / "_build" / ".doctrees"

    def touched():   # make both as a build would, invalidate, report which survived
        cache.mkdir(parents=True, exist_ok=True)
        doctrees.mkdir(parents=True, exist_ok=True)
        execute_book.invalidate(execute_book.config(), everything=False)
        return cache.exists(), doctrees.exists()

    execute_book.invalidate(cfg, everything=False)
    assert touched() == (True, True)                       # nothing changed
    (small_book / "attnlib" / "core.py").write_text("x = 2\n")
    assert touched() == (False, False)                     # the library changed: every page executes again
    (small_book / "_toc.yml").write_text((small_book / "_toc.yml").read_text() + "\n")
    assert touched() == (True, False)                      # only Sphinx's reading changed
    cfg["book_kernels"]["env"]["EXTRA"] = "1"
    (small_book / "_config.yml").write_text(yaml.safe_dump(cfg))
    assert touched() == (False, False)                     # what the kernels run with changed


def test_the_pdf_configuration_keeps_its_own_cache_and_record(small_book):
    """tools/build_pdf.sh executes into a cache of its own (its kernels make vector figures): invalidating it leaves
    the HTML book's cache, Sphinx environment and record alone, and the reverse."""
    html_cfg = execute_book.config()
    pdf_cfg = {**html_cfg, "execute": {**html_cfg["execute"], "cache": "_build/.jupyter_cache_print"},
               "book_kernels": {"env": {**html_cfg["book_kernels"]["env"], "ATTNLIB_PRINT_BUILD": "1"}}}
    (small_book / "pdf.yml").write_text(yaml.safe_dump(pdf_cfg))
    build = small_book / "_build"
    html_cache, print_cache, doctrees = build / ".jupyter_cache", build / ".jupyter_cache_print", build / ".doctrees"
    execute_book.invalidate(html_cfg, everything=False)
    for folder in (html_cache, print_cache, doctrees):
        folder.mkdir(parents=True, exist_ok=True)
    pdf_cfg = execute_book.config("pdf.yml")
    assert execute_book.cache_path(pdf_cfg) == print_cache
    assert execute_book.state_files(pdf_cfg) == (build / ".jupyter_cache_print.sources.json",
                                                  build / ".jupyter_cache_print.keys.json",
                                                  build / ".jupyter_cache_print.times.json")
    assert execute_book.state_files(html_cfg) == (execute_book.STAMP, execute_book.KEYS, execute_book.TIMES)
    execute_book.invalidate(pdf_cfg, everything=False)      # first PDF build: its own record is new
    assert not print_cache.exists() and html_cache.exists() and doctrees.exists()
    print_cache.mkdir()
    execute_book.invalidate(html_cfg, everything=False)     # the HTML book's record did not change
    execute_book.invalidate(pdf_cfg, everything=False)      # nor the PDF's
    assert print_cache.exists() and html_cache.exists() and doctrees.exists()
    with pytest.raises(SystemExit) as exc:
        execute_book.main(["--config", "missing.yml"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_execution_gives_kernels_the_switch_and_fails_on_a_raising_cell(small_book):
    from jupyter_cache import get_cache

    assert execute_book.main(["--jobs", "2"]) == 1          # bad.md raises: the build stops
    report = small_book / "_build" / "html" / "reports" / "book" / "bad.err.log"
    assert "ZeroDivisionError" in report.read_text()
    assert "ATTNLIB_BOOK_BUILD" not in os.environ            # the variables went to the kernels only
    cache = get_cache(str(small_book / "_build" / ".jupyter_cache"))
    good = cache.get_cached_project_nb(str(small_book / "book" / "good.md"))
    assert cache.get_cached_project_nb(str(small_book / "book" / "bad.md")) is None
    out = cache.get_cache_bundle(good.pk).nb.cells[0].outputs[0]["text"]
    assert out.split() == ["1", "1", str(small_book / "book")]   # the switch, one BLAS thread, cwd book/
    assert set(json.loads((small_book / "_build" / "chapter-times.json").read_text())) == {"book/good"}
    assert execute_book.main(["--verify"]) == 0               # nothing but the pre-execution wrote the cache
