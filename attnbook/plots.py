"""The book's single plot style.

Every figure in the book goes through this module so that one method always has one
colour and every page looks the same:

* :func:`use_book_style` sets matplotlib's rcParams (:data:`PALETTE`, the Okabe–Ito
  colour-blind-safe palette darkened where needed to 3:1 contrast, ~11 pt text, a light grid,
  a white figure face with a thin frame so that figures stay readable on light *and* dark pages);
* :data:`COLORS` fixes one colour per method / concept (Frobenius vs nuclear, ℓ2 vs ℓ1,
  theory, GD, normalized GD);
* :func:`new_figure` returns ``(fig, axes)`` in that style, :func:`finish` tidies a figure
  (legends, layout) and :func:`save_figure` writes it to PNG/SVG files.

The colour scheme encodes the paper's analogy: the *dense* biases (Frobenius norm of the
combined ``W``, ℓ2 for plain gradient descent on ``beta``) are blues, the *sparse / low-rank*
biases (nuclear norm for separate ``K, Q``, ℓ1 for the diagonal ``xi`` parameterization) are
oranges/reds. Theory predictions are dark grey and dashed. The pairs that carry the book's
meaning (ℓ1 vs ℓ2, ``W`` vs ``KQ``, Frobenius vs nuclear) also differ in marker
(:func:`series_style`), so a figure still reads in greyscale.

Accessibility (WCAG 2.2, success criterion 1.4.11 "non-text contrast"): every colour of
:data:`PALETTE`, :data:`COLORS` and the colour cycle has at least 3:1 contrast
(:func:`contrast_ratio`) against what is behind a plotted line, which is the figure's own
opaque white face in both of the book's themes. In the dark theme the page is #121212, but
pydata-sphinx-theme shows images through ``filter: brightness(.8) contrast(1.2)``
(:func:`dark_theme_view`); the white card and the colours on it are dimmed together, and
the contrast between them stays above 3:1. ``tests/book/test_widgets_plots.py`` computes both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

__all__ = [
    "OKABE_ITO",
    "PALETTE",
    "COLORS",
    "PAIR_MARKERS",
    "series_style",
    "FIGURE_BACKGROUND",
    "DARK_PAGE_BACKGROUND",
    "relative_luminance",
    "contrast_ratio",
    "dark_theme_view",
    "low_contrast",
    "LINESTYLES",
    "THEORY_STYLE",
    "BOOK_RC",
    "use_book_style",
    "new_figure",
    "finish",
    "save_figure",
    "BUILD_ENV_VAR",
    "is_book_build",
    "PRINT_ENV_VAR",
    "is_print_build",
    "figure_to_pdf",
    "show",
    "glue",
]

#: Environment variable that marks a static-site build: the book build gives it to every kernel it starts
#: (``_config.yml``, ``book_kernels.env``, read by ``tools/execute_book.py``).
BUILD_ENV_VAR = "ATTNLIB_BOOK_BUILD"

#: Resolution of what a PDF figure rasterizes (images drawn with ``imshow``, rasterized artists): print quality.
PRINT_DPI = 300


def is_book_build() -> bool:
    """True when running inside the book build (``ATTNLIB_BOOK_BUILD`` set, not "0").

    The book build sets the variable for its kernels on purpose (``_config.yml``, ``book_kernels.env``);
    nothing else does, so a chapter run in JupyterLab, Binder or Colab gets live widgets and PNG-only outputs.
    """
    return _env_flag(BUILD_ENV_VAR)


def _env_flag(name: str) -> bool:
    """An environment variable used as a switch: on when set to anything but "" or "0"."""
    import os

    return os.environ.get(name, "") not in ("", "0")


#: Environment variable that marks the build of the book's PDF (``tools/build_pdf.sh`` gives it, beside
#: ``ATTNLIB_BOOK_BUILD``, to the kernels that execute into the PDF's own jupyter cache).
PRINT_ENV_VAR = "ATTNLIB_PRINT_BUILD"


def is_print_build() -> bool:
    """True when running inside the build of the book's PDF (``ATTNLIB_PRINT_BUILD`` set, not "0").

    Only then do figures, static twins and tabs also carry a vector ``application/pdf`` output, which the PDF
    prints: rendering it took about a third of the HTML book's execution time, and the web page never shows it.
    """
    return _env_flag(PRINT_ENV_VAR)


#: The Okabe–Ito palette (Okabe & Ito 2008), safe for the common colour-vision deficiencies.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#7F7F7F",
}

#: The book's palette: Okabe–Ito, with the four colours that have less than 3:1 contrast against
#: white (orange 2.25, sky blue 2.31, yellow 1.32) or little margin (vermillion 3.87, kept darker
#: than orange so the two stay apart) darkened in linear RGB. Darkening keeps each colour's
#: chromaticity (hue and saturation), so the palette stays as colour-blind safe as Okabe–Ito:
#: under simulated protanopia, deuteranopia and tritanopia (Machado et al. 2009) the ℓ1/ℓ2 and
#: W/KQ pairs differ by ΔE*ab ≥ 70 (the test checks ≥ 40).
PALETTE: dict[str, str] = {
    **OKABE_ITO,
    "orange": "#B77E00",      # 3.50:1 on white (Okabe–Ito #E69F00: 2.25)
    "sky_blue": "#4491BC",    # 3.49:1 (#56B4E9: 2.31)
    "yellow": "#938C25",      # 3.49:1 (#F0E442: 1.32); an olive, used as a translucent fill
    "vermillion": "#AD4B00",  # 5.55:1 (#D55E00: 3.87)
}

#: What a plotted line is drawn on: the figure's face (``BOOK_RC``), in both themes.
FIGURE_BACKGROUND = "#FFFFFF"
#: The page background of the dark theme (pydata-sphinx-theme), around a figure's white card.
DARK_PAGE_BACKGROUND = "#121212"

_THEORY = "#333333"
_FRAME_WIDTH = 0.8  # points; figure edge (colour: rcParams["figure.edgecolor"])

#: Fixed colour per method / concept. Synonyms share a colour on purpose:
#: ``"W"`` = ``"fro"`` (GD on the combined ``W`` -> Frobenius-norm SVM),
#: ``"KQ"`` = ``"nuc"`` (GF on separate ``K, Q`` -> nuclear-norm SVM),
#: ``"xi"`` = ``"l1"`` (GF on ``xi_k, xi_q`` in the diagonal model -> ℓ1-SVM),
#: ``"beta"`` = ``"l2"`` (GD on ``beta`` directly -> ℓ2-SVM).
COLORS: dict[str, str] = {
    "W": PALETTE["blue"],
    "fro": PALETTE["blue"],
    "KQ": PALETTE["vermillion"],
    "nuc": PALETTE["vermillion"],
    "xi": PALETTE["orange"],
    "l1": PALETTE["orange"],
    "beta": PALETTE["sky_blue"],
    "l2": PALETTE["sky_blue"],
    "theory": _THEORY,
    "gd": PALETTE["bluish_green"],
    "ngd": PALETTE["reddish_purple"],
    "opt": PALETTE["bluish_green"],
    "nopt": PALETTE["grey"],
    "data": PALETTE["grey"],
    "highlight": PALETTE["yellow"],
    "context": "#8A8A8A",  # de-emphasised lines (other runs, reference levels): 3.45:1 on white, 3.85:1 dark
}

#: Markers that tell the meaningful pairs apart without colour: the dense biases (``W``/Frobenius,
#: ``beta``/ℓ2) filled circles, the sparse / low-rank ones (``KQ``/nuclear, ``xi``/ℓ1) open squares.
PAIR_MARKERS: dict[str, dict[str, Any]] = {
    **{k: {"marker": "o"} for k in ("W", "fro", "beta", "l2")},
    **{k: {"marker": "s", "markerfacecolor": "white"} for k in ("KQ", "nuc", "xi", "l1")},
}


def series_style(key: str, *, markevery: float | int | None = 0.1, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for a line of one method: its colour and, for the paired methods, its marker.

    Parameters
    ----------
    key : str
        A key of :data:`COLORS` (``"W"``, ``"KQ"``, ``"xi"``, ``"l2"``, ...).
    markevery : float or int, optional
        As for :meth:`matplotlib.axes.Axes.plot`; the default 0.1 puts a marker every tenth of the axes
        diagonal, on linear and log axes alike. ``None``: a marker at every point.
    **overrides
        Further ``Line2D`` properties; they win over the defaults (``ls=":"``, ``lw=1``, ``label=...``).

    Returns
    -------
    dict
        ``ax.plot(x, y, **series_style("KQ", label="K, Q"))``.

    Raises
    ------
    KeyError
        ``key`` is not in :data:`COLORS`; the message lists the keys.
    """
    if key not in COLORS:
        raise KeyError(f"series_style: unknown key {key!r}; expected one of {sorted(COLORS)}")
    style: dict[str, Any] = {"color": COLORS[key]}
    if key in PAIR_MARKERS:
        style.update(PAIR_MARKERS[key], markersize=4.5, markevery=markevery, markeredgewidth=1.2)
    style.update(overrides)
    return style


def _rgb(color: Any) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.asarray(to_rgb(color), dtype=float)


def relative_luminance(color: Any) -> float:
    """WCAG 2.x relative luminance of a colour (0 for black, 1 for white).

    Parameters
    ----------
    color : str or tuple
        Any matplotlib colour ("#B77E00", "white", (r, g, b)); alpha is ignored.

    Returns
    -------
    float
        ``0.2126 R + 0.7152 G + 0.0722 B`` of the linearized sRGB channels.
    """
    c = _rgb(color)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(a: Any, b: Any) -> float:
    """WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white).

    Success criterion 1.4.11 asks for 3:1 between a graphical object and what is next to it.

    Examples
    --------
    >>> round(contrast_ratio("#E69F00", "white"), 2)
    2.25
    """
    la, lb = sorted((relative_luminance(a), relative_luminance(b)))
    return (lb + 0.05) / (la + 0.05)


def _blend_on_white(color: Any, alpha: float | None) -> np.ndarray:
    from matplotlib.colors import to_rgba

    r, g, b, a = to_rgba(color)
    a = a if alpha is None else a * alpha
    return a * np.array([r, g, b]) + (1.0 - a) * np.ones(3)


def low_contrast(fig: Figure, minimum: float = 3.0) -> list[str]:
    """The lines, markers and bars of ``fig`` whose colour, blended with the white face by its alpha, has less
    than ``minimum`` contrast with it (WCAG 2.2 SC 1.4.11), described one per entry; empty when all pass.

    Filled regions (spans, bands between curves) are backgrounds, not graphical objects, and are not checked;
    neither are text, grid lines and the frame, which :data:`BOOK_RC` sets.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    minimum : float
        The required ratio (3 for graphical objects).

    Returns
    -------
    list of str
    """
    from matplotlib.container import BarContainer

    bad = []
    for k, ax in enumerate(fig.axes):
        for line in ax.lines:
            if not line.get_visible() or len(line.get_xdata()) == 0:
                continue
            parts = []
            if line.get_linestyle() not in ("None", "none", "", " "):
                parts.append(("line", line.get_color()))
            if line.get_marker() not in (None, "None", "none", "", " "):
                parts.append(("marker edge", line.get_markeredgecolor()))
            for what, color in parts:
                ratio = contrast_ratio(_blend_on_white(color, line.get_alpha()), FIGURE_BACKGROUND)
                if ratio < minimum:
                    bad.append(f"axes {k}: {what} {line.get_label()!r} {color} alpha {line.get_alpha()}: {ratio:.2f}:1")
        for cont in ax.containers:
            if isinstance(cont, BarContainer):
                for bar in cont.patches[:1]:
                    ratio = max(contrast_ratio(_blend_on_white(c, None), FIGURE_BACKGROUND)  # RGBA holds alpha
                                for c in (bar.get_facecolor(), bar.get_edgecolor()))
                    if ratio < minimum:
                        bad.append(f"axes {k}: bars {cont.get_label()!r}: {ratio:.2f}:1")
    return bad


def dark_theme_view(color: Any) -> str:
    """The colour a reader of the dark theme sees for ``color`` inside a figure.

    pydata-sphinx-theme (0.17) shows images of the dark theme through the CSS filter
    ``brightness(.8) contrast(1.2)``, which maps each sRGB channel ``v`` to ``1.2 (0.8 v - 0.5) + 0.5``,
    clipped to [0, 1]: white becomes #DBDBDB.

    Returns
    -------
    str
        The resulting colour as ``"#RRGGBB"``.
    """
    from matplotlib.colors import to_hex

    return to_hex(np.clip(1.2 * (0.8 * _rgb(color) - 0.5) + 0.5, 0.0, 1.0))


#: Line styles that go with :data:`COLORS`: measurements solid, predictions dashed.
LINESTYLES: dict[str, str] = {"measured": "-", "theory": "--", "reference": ":"}

#: Keyword arguments for a theory / prediction line: ``ax.plot(x, y, **THEORY_STYLE)``.
THEORY_STYLE: dict[str, Any] = {"color": _THEORY, "linestyle": "--", "linewidth": 1.5, "zorder": 3}

# Cycle for unnamed series: palette order chosen so neighbours differ in hue and lightness.
_CYCLE = [
    PALETTE["blue"],
    PALETTE["vermillion"],
    PALETTE["bluish_green"],
    PALETTE["orange"],
    PALETTE["reddish_purple"],
    PALETTE["sky_blue"],
    PALETTE["black"],
    PALETTE["yellow"],
]

#: The rcParams set by :func:`use_book_style`.
BOOK_RC: dict[str, Any] = {
    # Colours: explicit white face and a thin grey frame (drawn by new_figure), so a
    # figure is a readable "card" on a dark page too (transparent figures lose their black text).
    "figure.facecolor": "white",
    "figure.edgecolor": "#BBBBBB",
    "figure.frameon": True,
    "axes.facecolor": "white",
    "axes.edgecolor": "#333333",
    "axes.labelcolor": "#111111",
    "axes.prop_cycle": cycler(color=_CYCLE),
    "savefig.facecolor": "white",
    "savefig.edgecolor": "auto",
    "savefig.pad_inches": 0.04,
    "savefig.transparent": False,
    "text.color": "#111111",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    # Sizes: ~11 pt body text at the book's content width.
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 12,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "sans-serif"],
    "mathtext.fontset": "dejavusans",
    # Lines and markers.
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "axes.linewidth": 0.8,
    # A light grid behind the data; no top/right spines.
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "grid.linestyle": "-",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": True,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "#CCCCCC",
    # Resolution: 110 dpi inline (6.4 in ~ 700 px, the book's column), 200 dpi for files.
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "figure.constrained_layout.use": True,
    # Static widget twins (matplotlib.animation.to_jshtml): PNG frames, 20 MB hard cap.
    "animation.frame_format": "png",
    "animation.embed_limit": 20.0,
    "image.cmap": "cividis",
}


def use_book_style() -> None:
    """Apply the book's plot style to matplotlib's global rcParams.

    Idempotent; chapters call it once in their setup cell (``plots.use_book_style()``).
    :func:`new_figure` calls it too, so figures made through this module are always styled.

    Examples
    --------
    >>> from attnbook import plots
    >>> plots.use_book_style()
    >>> import matplotlib as mpl
    >>> mpl.rcParams["font.size"]
    11.0
    """
    mpl.rcParams.update(BOOK_RC)


def _default_height(nrows: int, ncols: int, width: float) -> float:
    panel_w = width / max(ncols, 1)
    panel_h = float(np.clip(0.72 * panel_w, 2.6, 4.2))
    return panel_h * nrows


def _add_frame(fig: Figure) -> None:
    """A thin grey frame around the figure: a visible card edge on dark pages.

    Drawn as a figure-level artist (not the figure patch's edge), so that Jupyter's
    ``bbox_inches="tight"`` keeps it instead of cropping it away.
    """
    from matplotlib.patches import Rectangle

    frame = Rectangle((0, 0), 1, 1, transform=fig.transFigure, fill=False,
                      edgecolor=mpl.rcParams["figure.edgecolor"], linewidth=_FRAME_WIDTH, zorder=-10)
    frame.set_gid("attnlib-frame")
    fig.add_artist(frame)


def _ensure_ipython_png() -> None:
    """In IPython/Jupyter, register the PNG formatter for Figure objects if nobody has yet."""
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    ip = get_ipython()
    formatters = getattr(getattr(ip, "display_formatter", None), "formatters", None)
    if not formatters or "image/png" not in formatters:
        return
    mimes = ("image/png", "image/svg+xml", "application/pdf", "image/jpeg")
    if any(Figure in formatters[m].type_printers for m in mimes if m in formatters):
        return  # the inline backend (or the user) already set it up
    from IPython.core.pylabtools import select_figure_formats

    select_figure_formats(ip, {"png"})


_SUBPLOTS_KEYS = frozenset({"sharex", "sharey", "subplot_kw", "gridspec_kw", "width_ratios", "height_ratios"})


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    width: float = 6.4,
    height: float | None = None,
    *,
    squeeze: bool = True,
    **subplots_kw: Any,
) -> tuple[Figure, Any]:
    """Create a figure with ``nrows x ncols`` axes in the book's style.

    Parameters
    ----------
    nrows, ncols : int, default 1
        Grid of panels.
    width : float, default 6.4
        Figure width in inches (6.4 in at 110 dpi fills the book's text column).
    height : float, optional
        Figure height in inches. Default: each panel ~0.72 of its width, clipped to
        [2.6, 4.2] in.
    squeeze : bool, default True
        As in :func:`matplotlib.pyplot.subplots`: a single axes is returned bare,
        a single row/column as a 1-D array.
    **subplots_kw
        As for :func:`matplotlib.pyplot.subplots`: ``sharex``, ``sharey``, ``subplot_kw``,
        ``gridspec_kw``, ``width_ratios``, ``height_ratios`` go to
        :meth:`~matplotlib.figure.Figure.subplots`, the rest (``layout``, ``dpi`` ...) to
        :class:`~matplotlib.figure.Figure`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : matplotlib.axes.Axes or numpy.ndarray of Axes

    Raises
    ------
    ValueError
        If ``nrows``/``ncols`` are not positive integers or ``width``/``height`` are not
        positive.

    Notes
    -----
    The figure is a plain :class:`~matplotlib.figure.Figure`, not managed by pyplot: it is
    shown in Jupyter when it is *returned* (last expression of a cell) or glued
    (``glue("name", fig, display=False)`` then shows it only where the ``{glue:figure}`` is),
    never implicitly at the end of a cell, and it is freed when no longer referenced
    (no ``plt.close`` needed). ``plt.show()``/``plt.savefig()`` do not see it: use
    ``fig.savefig`` or :func:`save_figure`.
    """
    for name, val in (("nrows", nrows), ("ncols", ncols)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < 1:
            raise ValueError(f"new_figure: {name} must be a positive integer, got {val!r}")
    if not width > 0:
        raise ValueError(f"new_figure: width must be > 0 inches, got {width!r}")
    if height is None:
        height = _default_height(int(nrows), int(ncols), float(width))
    elif not height > 0:
        raise ValueError(f"new_figure: height must be > 0 inches, got {height!r}")
    # The figure is NOT registered with pyplot: the inline backend would otherwise also show
    # every open figure at the end of the cell, i.e. each glue(..., display=False) figure twice.
    # So make sure IPython can display a bare Figure (normally done by the inline backend,
    # which is only loaded once pyplot creates a figure).
    _ensure_ipython_png()
    use_book_style()
    fig_kw = {k: v for k, v in subplots_kw.items() if k not in _SUBPLOTS_KEYS}
    sub_kw = {k: v for k, v in subplots_kw.items() if k in _SUBPLOTS_KEYS}
    fig = Figure(figsize=(float(width), float(height)), **fig_kw)
    axes = fig.subplots(int(nrows), int(ncols), squeeze=squeeze, **sub_kw)
    _add_frame(fig)
    return fig, axes


def _iter_axes(fig: Figure) -> Iterable[Axes]:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def finish(
    fig: Figure,
    *,
    legend: bool | str = "auto",
    legend_loc: str = "best",
    suptitle: str | None = None,
    legends: Sequence[tuple[Axes, dict]] = (),
) -> Figure:
    """Tidy a figure before it is shown: legends without duplicates, optional title.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    legend : bool or "auto", default "auto"
        ``"auto"``: add a legend to every axes that has labelled artists (labels not
        starting with ``_``), with duplicate labels removed. ``False``: leave legends alone.
        ``True``: like ``"auto"``.
    legend_loc : str, default "best"
        Legend location.
    suptitle : str, optional
        Figure title. Prefer the caption in the book; use this for standalone files.
    legends : sequence of (Axes, dict), optional
        Legends placed by hand afterwards, in this order: ``ax.legend(**kwargs)`` for each pair (with
        ``legend=False``, the way the chapters place several panels' legends).

    Returns
    -------
    matplotlib.figure.Figure
        The same figure, for chaining (``return finish(fig)``).
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"finish: expected a matplotlib Figure, got {type(fig).__name__}")
    if legend not in (True, False, "auto"):
        raise ValueError(f"finish: legend must be True, False or 'auto', got {legend!r}")
    if legend:
        for ax in _iter_axes(fig):
            handles, labels = ax.get_legend_handles_labels()
            seen: dict[str, Any] = {}
            for h, lab in zip(handles, labels):
                if lab and not lab.startswith("_") and lab not in seen:
                    seen[lab] = h
            if seen:
                ax.legend(list(seen.values()), list(seen.keys()), loc=legend_loc)
    if suptitle:
        fig.suptitle(suptitle)
    for ax, kwargs in legends:
        ax.legend(**kwargs)
    return fig


def label_axes(ax: Axes, xlabel: str, ylabel: str, *, xscale: str | tuple[str, dict] | None = None,
               yscale: str | tuple[str, dict] | None = None, xlim: tuple | None = None,
               ylim: tuple | None = None) -> Axes:
    """Scales, labels and limits of one panel, in that order (``None``: leave as is).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    xlabel, ylabel : str
    xscale, yscale : str or (str, dict), optional
        ``"log"``, or a scale with its options, e.g. ``("symlog", {"linthresh": 1})``.
    xlim, ylim : (float, float), optional
    """
    for set_scale, scale in ((ax.set_xscale, xscale), (ax.set_yscale, yscale)):
        if scale is not None:
            name, kwargs = (scale, {}) if isinstance(scale, str) else scale
            set_scale(name, **kwargs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return ax


def save_figure(
    fig: Figure,
    path: str | Path,
    formats: Sequence[str] = ("png", "svg"),
    *,
    dpi: float | None = None,
) -> list[Path]:
    """Write ``fig`` to ``path`` in every format of ``formats`` (for slides and papers).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or pathlib.Path
        Target without (or with, ignored) suffix, e.g. ``figures/ch2_singular_values``.
        Parent folders are created.
    formats : sequence of str, default ("png", "svg")
        File formats understood by :meth:`~matplotlib.figure.Figure.savefig`.
    dpi : float, optional
        Raster resolution; default ``rcParams["savefig.dpi"]`` (200 in the book style).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if isinstance(formats, str):
        formats = (formats,)
    if not formats:
        raise ValueError("save_figure: formats is empty; give e.g. ('png', 'svg')")
    base = Path(path)
    if base.suffix.lstrip(".") in {"png", "svg", "pdf", "jpg", "jpeg"}:
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        # append the suffix: with_suffix would replace a dot inside the name ("run_1.5e-3" -> "run_1.png")
        target = base.with_name(f"{base.name}.{fmt.lstrip('.')}")
        fig.savefig(target, format=fmt.lstrip("."), dpi=dpi, bbox_inches="tight")
        out.append(target)
    return out


def figure_to_pdf(fig: Figure, *, caption: str | None = None) -> bytes:
    """Render ``fig`` as a vector PDF (what the book's PDF prints), optionally with a line of text under it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Left as it was (the caption is removed again after saving).
    caption : str, optional
        Text set under the figure, inside the PDF, as real text (TrueType, so a PDF reader can select,
        search and read it aloud): what a printed still of an animation or of a tab shows.

    Returns
    -------
    bytes
        The PDF file (``%PDF`` ...); raster parts at :data:`PRINT_DPI`.

    Raises
    ------
    TypeError
        ``fig`` is not a matplotlib Figure, or ``caption`` is not a string.
    """
    import io
    import logging

    if not isinstance(fig, Figure):
        raise TypeError(f"figure_to_pdf(fig): expected a matplotlib Figure, got {type(fig).__name__}")
    if caption is not None and not isinstance(caption, str):
        raise TypeError(f"figure_to_pdf(caption=...): expected a str, got {type(caption).__name__}")
    text = None
    if caption:
        text = fig.text(0.02, -0.01, caption, ha="left", va="top", wrap=True,
                        fontsize=0.9 * mpl.rcParams["font.size"], style="italic")
    buf = io.BytesIO()
    # fontTools, subsetting matplotlib's bundled cmsy10.ttf (mathtext's prime in $\epsilon'$), logs that the font's
    # 'created'/'modified' dates "seem very low": a quirk of that file's header, harmless to the PDF, but a cell's
    # stderr fails the book build. Only that logger, only while saving.
    head_log = logging.getLogger("fontTools.ttLib.tables._h_e_a_d")
    level = head_log.level
    head_log.setLevel(logging.ERROR)
    try:
        with mpl.rc_context({"pdf.fonttype": 42}):
            fig.savefig(buf, format="pdf", dpi=PRINT_DPI, bbox_inches="tight", facecolor=fig.get_facecolor())
    finally:
        head_log.setLevel(level)
        if text is not None:
            text.remove()
    return buf.getvalue()


def show(fig: Figure, *, close: bool = True) -> None:
    """Display ``fig`` as the output of the current notebook cell (one ``image/png`` output).

    In the book build (:func:`is_book_build`) the output is a raw ``image/png`` bundle; in the build of the book's
    PDF (:func:`is_print_build`) it also carries the figure as a vector ``application/pdf``, which the PDF prints.

    The chapters make every figure in the cell that computes it: in JupyterLab, Colab and the
    downloaded ``.ipynb`` the figure is that cell's output, and on the web page myst-nb wraps the
    same output into a numbered figure using the cell's metadata
    (``mystnb: {figure: {caption, name}, image: {alt}}``).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    close : bool, default True
        Close the figure afterwards, so the inline backend does not show it a second time at the
        end of the cell.

    Raises
    ------
    TypeError
        ``fig`` is not a matplotlib Figure.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"show(fig): expected a matplotlib Figure, got {type(fig).__name__}")
    from IPython.display import display

    _ensure_ipython_png()
    if is_book_build():
        import base64

        from IPython.core.pylabtools import print_figure

        bundle = {"image/png": print_figure(fig, "png", base64=True), "text/plain": repr(fig)}
        if is_print_build():
            bundle["application/pdf"] = base64.b64encode(figure_to_pdf(fig)).decode("ascii")
        display(bundle, raw=True)
    else:
        display(fig)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)


def glue(name: str, value: Any, display: bool = False) -> None:
    """``myst_nb.glue`` when myst-nb is installed, so a chapter also runs where it is not (Colab).

    The book build uses myst-nb's ``glue`` (values for ``{glue:text}`` roles). Without myst-nb,
    ``display=False`` does nothing and ``display=True`` shows the value.

    Parameters
    ----------
    name : str
        The key used by ``{glue:text}`name``` in the chapter's Markdown.
    value : Any
        Number, string or figure.
    display : bool, default False
        Also show the value as the cell's output.

    Raises
    ------
    TypeError
        ``name`` is not a non-empty string.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"glue(name, ...): name must be a non-empty str, got {name!r}")
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:
        if display:
            from IPython.display import display as _display

            _display(value)
        return
    _myst_glue(name, value, display=display)


def log10_axis(ax, which: str = "x") -> None:
    """Label a linear axis that carries ``log10`` of a quantity as a log axis (ticks ``10^k``).

    Matplotlib's own log axes overflow (RuntimeWarning) for data near 1e300, which the flows reach.
    """
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(MaxNLocator(nbins=7, integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"$10^{{{int(round(v))}}}$"))


def light_ticks(fig: Figure, *, left: float = 0.08, right: float = 0.99, bottom: float = 0.14, top: float = 0.9,
                wspace: float = 0.25, numticks: int = 8) -> None:
    """Make a widget frame cheap to redraw: at most ``numticks`` major ticks on every log axis, no minor ticks,
    and fixed margins (create the figure with ``new_figure(..., layout="none")``).

    A slider redraws its figure on every move. Constrained layout and the many mathtext labels of log axes that
    span tens of decades were most of a ~1 s redraw (measured on chapter 5's frame); this keeps it near 0.3 s.
    """
    from matplotlib.ticker import LogLocator, NullLocator

    for ax in _iter_axes(fig):
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                axis.set_major_locator(LogLocator(base=10.0, numticks=numticks))
            axis.set_minor_locator(NullLocator())
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top, wspace=wspace)
