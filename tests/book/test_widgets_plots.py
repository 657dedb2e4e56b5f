"""Fast tests of the book's plot style (attnbook.plots) and widgets (attnbook.widgets)."""

import re
import time

import matplotlib

matplotlib.use("Agg")

import ipywidgets as ipw  # noqa: E402
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from attnbook import plots, widgets  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CALLS = []


def small_fig(a, n=8):
    """A cheap figure function; records its calls so the tests can see cache hits."""
    CALLS.append((a, n))
    fig, ax = plots.new_figure(width=3.0, height=2.0)
    x = np.linspace(0, 1, n)
    ax.plot(x, x**a, color=plots.COLORS["W"], label="measured")
    ax.plot(x, x, **plots.THEORY_STYLE, label="theory")
    return plots.finish(fig)


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv(widgets.BUILD_ENV_VAR, raising=False)
    monkeypatch.delenv(plots.PRINT_ENV_VAR, raising=False)
    CALLS.clear()
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- plots
def test_style_and_colors():
    plots.use_book_style()
    assert matplotlib.rcParams["font.size"] == 11
    assert matplotlib.rcParams["figure.facecolor"] == "white"
    assert matplotlib.rcParams["savefig.transparent"] is False
    required = {"W", "fro", "KQ", "nuc", "xi", "l1", "beta", "l2", "theory", "gd", "ngd"}
    assert required <= set(plots.COLORS)
    assert all(mcolors.is_color_like(c) for c in plots.COLORS.values())
    assert plots.COLORS["W"] == plots.COLORS["fro"] and plots.COLORS["KQ"] == plots.COLORS["nuc"]
    assert plots.COLORS["xi"] == plots.COLORS["l1"] and plots.COLORS["beta"] == plots.COLORS["l2"]
    methods = [plots.COLORS[k] for k in ("fro", "nuc", "l1", "l2", "theory", "gd", "ngd")]
    assert len(set(methods)) == len(methods), "methods must have distinct colours"


def _plot_colors():
    """Every line, marker and bar colour plots.py defines: palette, method colours, cycle, theory style."""
    plots.use_book_style()
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    named = {**{f"PALETTE[{k}]": v for k, v in plots.PALETTE.items()},
             **{f"COLORS[{k}]": v for k, v in plots.COLORS.items()},
             **{f"cycle[{i}]": v for i, v in enumerate(cycle)}, "THEORY_STYLE": plots.THEORY_STYLE["color"]}
    return named


def test_contrast_helpers_match_wcag():
    assert plots.contrast_ratio("black", "white") == pytest.approx(21.0)
    assert plots.contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    # the Okabe-Ito colours the book used to draw with, as measured in issue #29
    assert [round(plots.contrast_ratio(c, "white"), 2) for c in ("#E69F00", "#56B4E9", "#F0E442")] == [2.25, 2.31, 1.32]
    assert plots.dark_theme_view("white") == "#dbdbdb"   # pydata's brightness(.8) contrast(1.2)
    assert plots.dark_theme_view("black") == "#000000"


def test_figures_are_opaque_white_cards():
    """The premise of the dark-theme contrast below: lines are drawn on the figure's own white face."""
    plots.use_book_style()
    for key in ("figure.facecolor", "axes.facecolor", "savefig.facecolor"):
        assert mcolors.to_hex(matplotlib.rcParams[key]) == plots.FIGURE_BACKGROUND.lower(), key
    assert matplotlib.rcParams["savefig.transparent"] is False


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_palette_contrast_at_least_3_to_1(theme):
    """WCAG 1.4.11: every plot colour has >= 3:1 against what is behind it, in both of the book's themes."""
    view = (lambda c: c) if theme == "light" else plots.dark_theme_view
    background = view(plots.FIGURE_BACKGROUND)
    low = {name: round(plots.contrast_ratio(view(c), background), 2) for name, c in _plot_colors().items()
           if plots.contrast_ratio(view(c), background) < 3.0}
    assert not low, f"{theme} theme: expected >= 3:1 against {background}, got {low}"


# Machado, Oliveira & Fernandes (2009), severity 1: colour-vision deficiency simulation in linear RGB.
_CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def _lab(rgb):
    """CIE L*a*b* (D65) of linear-RGB values."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 216 / 24389, np.cbrt(t), (24389 / 27 * t + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _linear(color):
    c = np.array(mcolors.to_rgb(color))
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@pytest.mark.parametrize("pair", [("W", "KQ"), ("fro", "nuc"), ("beta", "xi"), ("l2", "l1")])
def test_meaningful_pairs_stay_apart_without_full_colour_vision(pair):
    a, b = (plots.COLORS[k] for k in pair)
    for name, m in _CVD.items():
        d = np.linalg.norm(_lab(np.clip(np.array(m) @ _linear(a), 0, 1)) - _lab(np.clip(np.array(m) @ _linear(b), 0, 1)))
        assert d >= 40, f"{pair} under simulated {name}: expected a colour difference dE >= 40, got {d:.1f}"
    # and in greyscale: a different marker (or marker fill)
    sa, sb = plots.series_style(pair[0]), plots.series_style(pair[1])
    assert (sa["marker"], sa.get("markerfacecolor")) != (sb["marker"], sb.get("markerfacecolor"))


def test_series_style():
    style = plots.series_style("KQ", ls=":", label="K, Q")
    assert style["color"] == plots.COLORS["KQ"] and style["ls"] == ":" and style["marker"] == "s"
    assert "marker" not in plots.series_style("theory")
    with pytest.raises(KeyError, match="unknown key 'WQ'"):
        plots.series_style("WQ")


def test_new_figure_shapes_and_validation():
    fig, ax = plots.new_figure()
    assert isinstance(fig, Figure) and hasattr(ax, "plot")
    fig, axes = plots.new_figure(2, 3)
    assert axes.shape == (2, 3)
    assert fig.get_figwidth() == pytest.approx(6.4)
    assert any(a.get_gid() == "attnlib-frame" for a in fig.artists)  # thin frame for dark pages
    with pytest.raises(ValueError, match="nrows"):
        plots.new_figure(0)
    with pytest.raises(ValueError, match="width"):
        plots.new_figure(width=-1)


def test_finish_dedupes_legend_and_save(tmp_path):
    fig, ax = plots.new_figure(width=3, height=2)
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="a")
    ax.plot([0, 1], [0.5, 0.5], label="_hidden")
    plots.finish(fig)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a"]
    files = plots.save_figure(fig, tmp_path / "sub" / "fig.png")
    assert [f.suffix for f in files] == [".png", ".svg"]
    assert all(f.stat().st_size > 0 for f in files)
    with pytest.raises(TypeError):
        plots.finish("not a figure")


# ---------------------------------------------------------------------- live widget
def test_explore_live_widget_and_cache():
    before = len(plt.get_fignums())
    ex = widgets.explore(small_fig, a=[0.5, 1.0, 2.0], n=[4, 8], static=False)
    assert not ex.static
    box = ex.widget
    assert isinstance(box, ipw.VBox)
    sliders = [c for c in box.children if isinstance(c, ipw.SelectionSlider)]
    image = [c for c in box.children if isinstance(c, ipw.Image)][0]
    assert [s.description for s in sliders] == ["a", "n"]
    assert sliders[0].value == 1 and sliders[1].value == 1  # middle values by default
    assert bytes(image.value).startswith(PNG_MAGIC)
    first = image.value
    sliders[0].value = 0  # new position: renders
    assert bytes(image.value) != bytes(first) and len(CALLS) == 2
    sliders[0].value = 1  # back: cache hit, no new call, fast
    t0 = time.perf_counter()
    sliders[0].value = 0
    assert time.perf_counter() - t0 < 0.3
    assert len(CALLS) == 2
    assert ex.cache_info().hits >= 2
    assert bytes(image.value) == ex.png(a=0.5)
    assert len(plt.get_fignums()) == before, "rendered figures must be closed"


def test_explore_precompute_and_defaults():
    ex = widgets.explore(small_fig, a=[1.0, 2.0], defaults={"a": 2.0}, fixed={"n": 5},
                         static=False, precompute=True)
    assert ex.cache_info().currsize == 2 and ex.defaults == {"a": 2.0}
    assert {n for _, n in CALLS} == {5}
    assert ex.widget.children[0].value == 1
    with pytest.raises(ValueError, match="not one of its slider values"):
        widgets.explore(small_fig, a=[1.0, 2.0], defaults={"a": 3.0}, static=False)


# ----------------------------------------------------------------------- static twin
def test_static_twin_html_is_self_contained():
    html = widgets.static_twin_html(small_fig, "a", [0.5, 1.0, 2.0], n=6)
    assert "<img" in html and 'class="animation"' in html and 'type="range"' in html
    # three frames, plus the start frame again as the <img>'s initial src (a still for script-less viewers)
    assert html.count("data:image/png;base64,") == 3 + 1
    assert not re.search(r"https?://", html), "no external URL may remain (font-awesome link stripped)"
    # the labels are drawn into the frames; as HTML they appear only in text alternatives, not as visible text
    visible = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]*>", "", html, flags=re.S)
    assert "a = 0.5" not in visible
    assert len(html) < widgets.MAX_TWIN_BYTES


def _attr(html, tag_id_prefix, attr):
    m = re.search(rf'<[a-z]+ id="{tag_id_prefix}[0-9a-f]+"[^>]*\s{attr}="([^"]*)"', html)
    assert m, f"no {attr}= on the element {tag_id_prefix}... in the twin's HTML"
    return m.group(1)


def test_static_twin_text_alternatives():
    html = widgets.static_twin_html(small_fig, "a", [0.5, 1.0, 2.0], n=6, alt="A test curve, x to the a.")
    # the start frame (the middle one) is described by the figure's alt text and its slider value
    assert _attr(html, "_anim_img", "alt") == "A test curve, x to the a. Frame 2 of 3: a = 1."
    assert _attr(html, "_anim_slider", "aria-label") == "a: choose the frame"
    assert _attr(html, "_anim_slider", "aria-valuetext") == "a = 1"
    # every frame's alt and spoken value is in the script that follows the frame
    for k, v in enumerate(("0.5", "1", "2")):
        assert f"A test curve, x to the a. Frame {k + 1} of 3: a = {v}." in html
        assert f'"a = {v}"' in html


def test_static_twin_alt_defaults_to_docstring_and_is_checked():
    html = widgets.static_twin_html(small_fig, "a", [1.0, 2.0], start=0)
    assert _attr(html, "_anim_img", "alt") == ("A cheap figure function; records its calls so the tests can see "
                                                "cache hits. Frame 1 of 2: a = 1.")
    for bad in ("", "   ", 3):
        with pytest.raises(ValueError, match="alt must be a non-empty str"):
            widgets.static_twin_html(small_fig, "a", [1.0], alt=bad)


def test_live_image_title_follows_the_sliders():
    ex = widgets.explore(small_fig, a=[1.0, 2.0], static=False, alt="Curve.")
    image, (slider,) = ex.widget._attnlib_image, ex.widget._attnlib_sliders
    assert image.tooltip == "Curve. At a = 2."
    assert slider.description == "a" and slider.tooltip
    slider.value = 0
    assert image.tooltip == "Curve. At a = 1."


def test_build_env_switches_to_static_twin(monkeypatch):
    monkeypatch.setenv(widgets.BUILD_ENV_VAR, "1")
    ex = widgets.explore(small_fig, a=[0.5, 2.0], n=[4, 8])
    assert ex.static
    html = ex.static_html()
    assert html.count('class="animation"') == 1  # first parameter swept, n fixed at default
    assert "fixed: n = 8" in html
    assert widgets.explore(small_fig, a=[1.0], n=[4, 8], sweep="all").static_html().count('class="animation"') == 2
    from IPython.core.formatters import DisplayFormatter  # noqa: F401  (IPython present)

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    ex._ipython_display_()
    assert "animation" in shown[0]["text/html"] and "image/png" in shown[0]  # raw bundle: HTML + still PNG


# ----------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"a": []}, r"parameter 'a' has no values"),
        ({"b": [1, 2]}, r"small_fig\(\) has no parameter 'b'"),
        ({}, r"at least one slider parameter"),
        ({"a": "abc"}, r"expected a sequence of slider values"),
        ({"a": 3}, r"expected a sequence of slider values"),
    ],
)
def test_explore_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.explore(small_fig, static=False, **kwargs)


def test_static_twin_bad_input():
    with pytest.raises(ValueError, match="has no values"):
        widgets.static_twin_html(small_fig, "a", [])
    with pytest.raises(ValueError, match="has no parameter 'zz'"):
        widgets.static_twin_html(small_fig, "zz", [1])
    with pytest.raises(TypeError, match="expected a matplotlib Figure"):
        widgets.static_twin_html(lambda a: None, "a", [1])


# ------------------------------------------------------------------------------ tabs
def test_tabs_widget():
    figs = {"Frobenius": small_fig(1.0), "nuclear": small_fig(2.0)}
    tab = widgets.tabs(figs)
    assert isinstance(tab, ipw.Tab)
    assert tuple(tab.titles) == ("Frobenius", "nuclear")
    assert all(isinstance(c, ipw.Image) and bytes(c.value).startswith(PNG_MAGIC) for c in tab.children)
    assert plt.get_fignums() == []
    assert [c.tooltip for c in tab.children] == ["Figure: Frobenius", "Figure: nuclear"]  # default text alternative
    tab = widgets.tabs({"Frobenius": small_fig(1.0)}, alt={"Frobenius": "A rising curve."})
    assert tab.children[0].tooltip == "A rising curve."
    with pytest.raises(ValueError, match=r"alt= names tab\(s\) \['other'\]"):
        widgets.tabs({"Frobenius": small_fig(1.0)}, alt={"other": "x"})
    with pytest.raises(ValueError, match="non-empty dict"):
        widgets.tabs({})
    with pytest.raises(ValueError, match="not matplotlib Figures"):
        widgets.tabs({"x": 1})


def test_label_axes_and_finish_legends_do_what_the_figures_did_by_hand():
    from attnbook import plots

    fig, (ax, ax2) = plots.new_figure(1, 2)
    ax.plot([1, 10], [1, 100], label="a")
    ax2.plot([1, 2], [3, 4], label="b")
    plots.label_axes(ax, "x", "y", xscale=("symlog", {"linthresh": 1}), yscale="log", ylim=(1e-2, 1e3))
    plots.label_axes(ax2, "u", "v")
    assert (ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(), ax.get_ylabel()) == ("symlog", "log", "x", "y")
    assert ax.xaxis.get_transform().linthresh == 1 and ax.get_ylim() == (1e-2, 1e3)
    assert ax2.get_xscale() == "linear" and ax2.get_xlabel() == "u"
    out = plots.finish(fig, legend=False, legends=[(ax2, dict(loc="lower right", fontsize=7))])
    assert out is fig and ax.get_legend() is None
    leg = ax2.get_legend()
    assert leg is not None and leg._loc == 4 and leg.get_texts()[0].get_fontsize() == 7
    plt.close(fig)


def test_light_ticks_makes_a_frame_cheap_to_redraw():
    fig, (a, b) = plots.new_figure(1, 2, layout="none")
    a.loglog([1e-3, 1e30], [1e-300, 1.0])
    b.plot([0, 1], [0, 1])
    plots.light_ticks(fig, left=0.1)
    fig.canvas.draw()
    assert len(a.xaxis.get_minorticklocs()) == 0 and len(b.yaxis.get_minorticklocs()) == 0
    assert len([t for t in a.yaxis.get_majorticklocs() if 1e-300 <= t <= 1.0]) <= 9  # 300 decades, <= 8 ticks
    assert fig.subplotpars.left == pytest.approx(0.1) and fig.get_layout_engine() is None


def test_low_contrast_finds_pale_lines_and_bars_and_passes_the_book_palette():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color="#BBBBBB", label="pale")                     # 1.92:1
    ax.plot([0, 1], [1, 0], color=plots.COLORS["KQ"], alpha=0.45, label="faded")  # 2.02:1 once blended
    ax.plot([0, 1], [0.5, 0.5], color=plots.COLORS["context"], label="context")  # 3.45:1
    ax.bar([0], [1], color=plots.COLORS["xi"], label="bars")
    ax.axhspan(0, 0.2, color="#EEEEEE")                                          # a region: not checked
    bad = plots.low_contrast(fig)
    assert len(bad) == 2 and "'pale'" in bad[0] and "'faded'" in bad[1]
    assert all(plots.contrast_ratio(c, "white") >= 3 for c in plots.COLORS.values())
    plt.close(fig)


# ------------------------------------------------- issue 27, finding 13: validation gaps of the widgets
@pytest.mark.parametrize("kwargs, exc, match", [
    ({"dpi": "high"}, TypeError, r"dpi must be a real number > 0; got str 'high'"),
    ({"dpi": 0}, ValueError, r"dpi must be a real number > 0; got 0"),
    ({"static_dpi": float("nan")}, ValueError, r"static_dpi must be a real number > 0; got nan"),
    ({"cache_size": 2.5}, ValueError, r"cache_size must be an integer >= 0; got 2.5"),
])
def test_explore_refuses_bad_numbers(kwargs, exc, match):
    """dpi="high" was accepted (float() of it failed later, or not at all in static mode)."""
    with pytest.raises(exc, match=match):
        widgets.explore(small_fig, a=[1.0, 2.0], static=False, **kwargs)


def test_figure_to_png_refuses_what_is_not_a_figure():
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure; got NoneType"):
        widgets.figure_to_png(None)
    with pytest.raises(TypeError, match="dpi must be a real number > 0"):
        widgets.figure_to_png(small_fig(1.0), dpi="high")


@pytest.mark.parametrize("start", [10, -1, 3])
def test_static_twin_start_must_index_a_frame(start):
    """start=10 or -1 (3 values) was accepted and showed no frame or the last one."""
    with pytest.raises(ValueError, match=rf"start must be a frame index in \[0, 3\) \(3 values\); got {start}"):
        widgets.static_twin_html(small_fig, "a", [1.0, 2.0, 3.0], start=start)


def test_defaults_match_values_of_the_same_kind():
    """Defaults were matched by ==: False picked the slider value 0, a scalar matched an array value."""
    with pytest.raises(ValueError, match="default False for 'a' is not one of its slider values"):
        widgets.explore(small_fig, a=[0, 1, 2], defaults={"a": False}, static=False)
    with pytest.raises(ValueError, match="default 1.0 for 'a' is not one of its slider values"):
        widgets.explore(small_fig, a=[np.array([1.0, 1.0]), np.array([2.0, 2.0])], defaults={"a": 1.0},
                        static=False)
    ex = widgets.explore(small_fig, a=[0.5, 1, 2.0], defaults={"a": 1.0}, static=False)  # 1.0 == 1: a number
    assert ex.defaults == {"a": 1}


# ------------------------------------------------------------------ what the book's PDF prints (#28)
def _pdf_text(pdf: bytes, tmp_path) -> str:
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) missing")
    (tmp_path / "f.pdf").write_bytes(pdf)
    return subprocess.run(["pdftotext", str(tmp_path / "f.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_figure_to_pdf_is_vector_with_the_caption_as_text_and_leaves_the_figure_alone(tmp_path):
    fig = small_fig(2.0)
    n_texts = len(fig.texts)
    pdf = plots.figure_to_pdf(fig, caption="Printed still: a = 2.")
    assert pdf.startswith(b"%PDF") and len(fig.texts) == n_texts
    text = _pdf_text(pdf, tmp_path)
    assert "Printed still: a = 2." in " ".join(text.split())
    with pytest.raises(TypeError, match="expected a matplotlib Figure, got str"):
        plots.figure_to_pdf("fig")
    with pytest.raises(TypeError, match=r"caption=.*expected a str, got int"):
        plots.figure_to_pdf(fig, caption=3)


def test_show_adds_a_vector_pdf_only_in_the_pdf_build(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
    plots.show(small_fig(1.0))
    assert isinstance(shown[-1][0], Figure)                 # JupyterLab, Colab: the figure (PNG) as before
    monkeypatch.setenv(widgets.BUILD_ENV_VAR, "1")
    plots.show(small_fig(1.0))
    bundle, kw = shown[-1]
    assert kw == {"raw": True} and set(bundle) == {"image/png", "text/plain"}   # the web page: no PDF to render
    monkeypatch.setenv(plots.PRINT_ENV_VAR, "1")             # tools/build_pdf.sh's kernels
    plots.show(small_fig(1.0))
    bundle, kw = shown[-1]
    assert kw == {"raw": True} and set(bundle) == {"image/png", "application/pdf", "text/plain"}
    import base64

    assert base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)
    assert base64.b64decode(bundle["application/pdf"]).startswith(b"%PDF")


def test_the_printed_still_of_an_animation_says_what_it_shows(tmp_path, monkeypatch):
    ex = widgets.explore(small_fig, a=[0.5, 1.0, 2.0], n=[4, 8], defaults={"a": 2.0}, static=True)
    assert "application/pdf" not in ex.static_bundle()      # the web page's build renders no PDF still
    monkeypatch.setenv(plots.PRINT_ENV_VAR, "1")
    assert ex.print_caption() == ("Printed still: a = 2, n = 8. On the web page an animation runs a through 3 "
                                  "values (0.5 to 2); run the chapter as a notebook to move every slider.")
    import base64

    text = " ".join(_pdf_text(base64.b64decode(ex.static_bundle()["application/pdf"]), tmp_path).split())
    assert "Printed still: a = 2, n = 8." in text


def test_the_printed_still_of_tabs_names_the_tab_only_in_the_pdf_build(monkeypatch, tmp_path):
    assert "application/pdf" not in widgets.tabs({"one": small_fig(1.0), "two": small_fig(2.0)})._repr_mimebundle_()
    monkeypatch.setenv(widgets.BUILD_ENV_VAR, "1")          # the web page's build: no PDF still either
    assert "application/pdf" not in widgets.tabs({"one": small_fig(1.0), "two": small_fig(2.0)})._repr_mimebundle_()
    monkeypatch.setenv(plots.PRINT_ENV_VAR, "1")
    tab = widgets.tabs({"one": small_fig(1.0), "two": small_fig(2.0)})
    import base64

    text = " ".join(_pdf_text(base64.b64decode(tab._repr_mimebundle_()["application/pdf"]), tmp_path).split())
    assert "Printed: the tab “one”; the web page and the notebook also show the tab(s) “two”." in text
    tab.selected_index = 1
    text = " ".join(_pdf_text(base64.b64decode(tab._repr_mimebundle_()["application/pdf"]), tmp_path).split())
    assert "the tab “two”" in text


def test_figure_to_pdf_logs_nothing_for_mathtext_that_needs_cmsy10(caplog):
    """A prime ($\\epsilon'$) comes from matplotlib's cmsy10.ttf, whose header made fontTools log a warning: in a book
    cell that is stderr, and the HTML build (-W) failed on chapter 4's residual figure."""
    import logging

    fig, ax = plots.new_figure()
    ax.set_xlabel(r"$\epsilon'$")
    with caplog.at_level(logging.WARNING):
        pdf = plots.figure_to_pdf(fig)
    assert pdf.startswith(b"%PDF")
    assert not [r for r in caplog.records if r.name.startswith("fontTools")], [r.getMessage() for r in caplog.records]
    assert logging.getLogger("fontTools.ttLib.tables._h_e_a_d").level == logging.NOTSET  # put back


# ------------------------------------------------- found by benchmarks/fuzz.py (issue 27)
@pytest.mark.parametrize("dpi, exc, match", [
    (2.0, ValueError, r"dpi must be a resolution in \[10, 10000\] dots per inch; got 2.0"),  # FreeType's RuntimeError
    (1e-308, ValueError, r"dpi must be a resolution in \[10, 10000\]"),  # "cannot write empty image"
    (1e308, ValueError, r"dpi must be a resolution in \[10, 10000\]"),  # RendererAgg's constructor TypeError
    (10**400, ValueError, r"dpi must be a real number > 0 within float64; got an integer of 401 digits"),  # Overflow
])
def test_resolutions_outside_what_matplotlib_renders_are_refused(dpi, exc, match):
    with pytest.raises(exc, match=match):
        widgets.figure_to_png(small_fig(1.0), dpi=dpi)
    with pytest.raises(exc, match=match):
        widgets.tabs({"a": small_fig(1.0)}, dpi=dpi)
    with pytest.raises(exc, match=match):
        widgets.explore(small_fig, a=[1.0, 2.0], static=False, dpi=dpi)
    plt.close("all")


def test_explore_names_defaults_fixed_and_static_of_the_wrong_kind():
    """defaults=[1] / fixed='b' ended in dict()'s "cannot convert dictionary update sequence"; static='yes' was True."""
    with pytest.raises(TypeError, match=r"defaults must be a mapping \{parameter name: value\} or None; got list"):
        widgets.explore(small_fig, a=[1.0, 2.0], defaults=[1])
    with pytest.raises(TypeError, match=r"fixed must be a mapping \{parameter name: value\} or None; got str"):
        widgets.explore(small_fig, a=[1.0, 2.0], fixed="n")
    with pytest.raises(TypeError, match=r"static must be True, False or None .*got str 'yes'"):
        widgets.explore(small_fig, a=[1.0, 2.0], static="yes")


def test_tabs_names_its_figures_argument():
    for bad in (None, [1], {}):
        with pytest.raises(ValueError, match=r"^figures must be a non-empty dict"):
            widgets.tabs(bad)


@pytest.mark.parametrize("size", [1e308, 2**70])
def test_explore_cache_size_beyond_an_index(size):
    """Found by benchmarks/fuzz.py (issue 27): lru_cache's OverflowError 'cannot fit int into an index-sized
    integer'."""
    with pytest.raises(ValueError, match=r"cache_size must be an integer in \[0, 1000000\]"):
        widgets.explore(small_fig, a=[1.0, 2.0], static=False, cache_size=size)


def test_static_twin_over_its_byte_limit_warns_naming_max_bytes():
    """Found by benchmarks/fuzz.py (issue 27): the warning said "limit 0.0 MB" for max_bytes=10."""
    with pytest.warns(UserWarning, match=r"over max_bytes=10 \(0\.0 MB\)"):
        widgets.static_twin_html(small_fig, "a", [1.0, 2.0], max_bytes=10)
