"""The chapters as notebooks: stable under a JupyterLab save, figures made where the code runs,
a Colab install cell from the one configured URL, still-image fallbacks in saved outputs.

The real-browser counterpart is ``tools/lab_check.mjs`` (JupyterLab, double-click, Run All, save).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import jupytext
import matplotlib
import pytest
from jupytext.config import load_jupytext_config

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from attnbook import plots, widgets

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(p for p in BOOK.glob("*.md") if p.read_text(encoding="utf-8").startswith("---\njupytext:"))
CHAPTERS = sorted(p for p in BOOK.glob("*.md") if "```{code-cell}" in p.read_text(encoding="utf-8"))
EXECUTED = ROOT / "_build" / "html" / "_sources" / "book"   # the executed notebooks the site offers for download
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab_cell = _load_tool("colab_cell")


def _read(path: Path):
    return jupytext.read(path, config=load_jupytext_config(str(path)))


def _figure_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and "figure" in c.metadata.get("mystnb", {})]


# ------------------------------------------------------------------ saving changes nothing
def test_every_chapter_is_a_notebook():
    assert set(CHAPTERS) <= set(NOTEBOOKS), "a chapter with code cells has no jupytext header"
    assert len(CHAPTERS) >= 9


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_jupytext_round_trip_is_stable(path):
    """What JupyterLab's jupytext contents manager writes on save equals the file (no diff)."""
    config = load_jupytext_config(str(path))
    assert config is not None, "book/jupytext.toml not found"
    text = path.read_text(encoding="utf-8")
    assert jupytext.writes(_read(path), fmt="md:myst", config=config) == text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_matches_the_running_kernel(path):
    nb = _read(path)
    assert nb.metadata["kernelspec"] == {"display_name": "Python 3 (ipykernel)", "language": "python",
                                         "name": "python3"}
    assert "jupytext_version" not in path.read_text(encoding="utf-8").split("\n---\n", 1)[0]


def test_round_trip_check_would_catch_an_unstable_file(tmp_path):
    """The old form (no blank line after the options, old kernel name) is NOT a fixed point."""
    src = (BOOK / "ch7_errata.md").read_text(encoding="utf-8")
    bad = src.replace("display_name: Python 3 (ipykernel)", "display_name: Python 3")
    bad = bad.replace(":tags: [remove-cell]\n\n", ":tags: [remove-cell]\n", 1)
    (tmp_path / "jupytext.toml").write_text((BOOK / "jupytext.toml").read_text(encoding="utf-8"))
    f = tmp_path / "ch.md"
    f.write_text(bad, encoding="utf-8")
    config = load_jupytext_config(str(f))
    nb = jupytext.read(f, config=config)
    nb.metadata["kernelspec"]["display_name"] = "Python 3 (ipykernel)"  # what a running kernel sets
    assert jupytext.writes(nb, fmt="md:myst", config=config) != bad


# ------------------------------------------------------------------ figures
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_figures_are_made_where_the_code_runs(path):
    text = path.read_text(encoding="utf-8")
    assert "{glue:figure}" not in text, "a figure placed by {glue:figure} is invisible in Jupyter"
    nb = _read(path)
    for i, cell in _figure_cells(nb):
        meta = cell.metadata["mystnb"]
        name = meta["figure"].get("name")
        assert name and meta["figure"].get("caption"), f"figure cell {i}: name and caption needed"
        assert len(meta.get("image", {}).get("alt", "")) > 40, f"{name}: alt text missing or too short"
        assert "plots.show(" in cell.source, f"{name}: the cell must display its figure"
        assert "remove-cell" not in cell.metadata.get("tags", []) and "remove-output" not in cell.metadata.get(
            "tags", []), f"{name}: the figure output would be removed from the page"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_each_figure_has_a_caption_readers_of_the_notebook_see(path):
    """The caption lives in the cell metadata (site) and, tagged remove-cell, in the next Markdown cell."""
    nb = _read(path)
    for i, cell in _figure_cells(nb):
        meta_caption = " ".join(cell.metadata["mystnb"]["figure"]["caption"].split())
        nxt = nb.cells[i + 1]
        assert nxt.cell_type == "markdown" and "remove-cell" in nxt.metadata.get("tags", []), \
            f"cell {i}: no caption cell after the figure"
        assert nxt.source.startswith("**Figure.** ")
        shown = " ".join(nxt.source.removeprefix("**Figure.** ").split())
        assert "{glue" not in shown, "glue roles do not render in JupyterLab"
        if "{glue" in meta_caption:  # numbers glued on the site; the notebook names or prints them
            assert shown.split(".")[0] == meta_caption.split(".")[0]
        else:
            assert shown == meta_caption, f"{cell.metadata['mystnb']['figure']['name']}: captions differ"


def test_show_displays_once_and_closes(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    fig, _ax = plt.subplots()
    plots.show(fig)
    assert shown == [fig]
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(TypeError, match="matplotlib Figure"):
        plots.show("not a figure")


def test_glue_without_myst_nb_is_a_no_op(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as on Colab
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    plots.glue("x", 1.5)
    assert shown == []
    plots.glue("x", 1.5, display=True)
    assert shown == [1.5]
    with pytest.raises(TypeError, match="name"):
        plots.glue("", 1.0)


# ------------------------------------------------------------------ Colab
def test_colab_cells_use_the_configured_repository_url():
    url = colab_cell.repository_url()
    assert colab_cell.main(["--check"]) == 0
    for path in CHAPTERS:
        nb = _read(path)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert f"git+{url}" in first.source, path.name
        assert "remove-cell" in first.metadata["tags"]


def test_colab_check_fails_for_another_url(tmp_path):
    path = tmp_path / "ch.md"
    path.write_text((BOOK / "ch7_errata.md").read_text(encoding="utf-8"), encoding="utf-8")
    assert colab_cell.is_current(path, colab_cell.repository_url())
    assert not colab_cell.is_current(path, "https://github.com/someone/else")


def _run_install_cell(monkeypatch, on_colab: bool) -> list:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append((a, k)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(colab_cell.install_source("https://github.com/org/repo"), {})  # noqa: S102  (the cell as Colab runs it)
    return calls


def test_install_cell_installs_on_colab_only(monkeypatch):
    assert _run_install_cell(monkeypatch, on_colab=False) == []
    calls = _run_install_cell(monkeypatch, on_colab=True)
    assert len(calls) == 1
    cmd = calls[0][0][0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"] and cmd[-1] == "attnlib[notebook] @ git+https://github.com/org/repo"


# ------------------------------------------------------------------ still images in saved outputs
def _fig(a, n=3):
    fig, ax = plots.new_figure()
    ax.plot(np.arange(n) * a)
    return fig


def test_static_twin_output_carries_a_still_image():
    ex = widgets.explore(_fig, a=[1.0, 2.0, 3.0], static=True)
    bundle = ex.static_bundle()
    assert set(bundle) == {"text/html", "image/png", "text/plain"}   # + application/pdf in the PDF's build only
    assert base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)
    html = bundle["text/html"]
    src = re.search(r'<img id="_anim_img\w+"[^>]*\ssrc="data:image/png;base64,([^"]+)"', html)
    assert src, "the animation's <img> has no initial frame"
    assert base64.b64decode(src.group(1)).startswith(PNG_MAGIC)
    assert 'class="anim-controls" style="display:none"' in html  # shown by script only


def test_live_widgets_carry_a_still_image():
    live = widgets.explore(_fig, a=[1.0, 2.0], static=False).widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in live
    assert base64.b64decode(live["image/png"]).startswith(PNG_MAGIC)
    tab = widgets.tabs({"one": _fig(1.0), "two": _fig(2.0)})._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in tab
    assert base64.b64decode(tab["image/png"]).startswith(PNG_MAGIC)


EXECUTED_NBS = sorted(EXECUTED.glob("*.ipynb")) if EXECUTED.is_dir() else []


@pytest.mark.skipif(not EXECUTED_NBS, reason="book not built (_build/html/_sources missing)")
@pytest.mark.parametrize("path", EXECUTED_NBS, ids=lambda p: p.name)
def test_downloaded_notebook_stands_on_its_own(path):
    """The executed .ipynb offered for download: figures as image outputs, a PNG beside every
    animation and every widget view."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        outputs = [o for o in cell.get("outputs", []) if o["output_type"] in ("display_data", "execute_result")]
        if "figure" in cell["metadata"].get("mystnb", {}):
            assert any("image/png" in o["data"] for o in outputs), f"{path.name}: figure cell without image"
        for o in outputs:
            data = o["data"]
            if "application/vnd.jupyter.widget-view+json" in data or 'class="animation"' in "".join(
                    data.get("text/html", "")):
                assert "image/png" in data, f"{path.name}: widget/animation output without a still image"


# ------------------------------------------------------------------ folded solutions
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_solution_cells_are_folded_in_jupyterlab(path):
    """Inside solution-start ... solution-end: code cells have their input collapsed in JupyterLab
    (``jupyter.source_hidden``, which JupyterLab keeps on save; ``outputs_hidden`` and hidden
    Markdown cells it resets when running, so they are not used) and Markdown is a closed
    ``{dropdown}``; the directives themselves render as a closed "Solution to Exercise n" dropdown."""
    nb = _read(path)
    inside, n_solutions, n_folded = False, 0, 0
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type == "markdown" and src.startswith(":::{solution-start}"):
            assert not inside and src.rstrip().endswith(":::") and src.count("\n:::") == 1, \
                "the solution-start directive must be a Markdown cell of its own"
            inside, n_solutions = True, n_solutions + 1
            continue
        if cell.cell_type == "markdown" and src.startswith(":::{solution-end}"):
            assert inside
            inside = False
            continue
        assert "{solution-" not in src, "solution directives must start their own Markdown cell"
        if inside:
            if cell.cell_type == "code":
                assert cell.metadata.get("jupyter") == {"source_hidden": True}, f"visible solution code: {src[:60]!r}"
            else:
                assert src.startswith("::::{dropdown}") and src.rstrip().endswith("::::"), \
                    f"solution text not in a dropdown: {src[:60]!r}"
            n_folded += 1
    assert not inside
    assert n_folded >= n_solutions
