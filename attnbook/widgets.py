"""Interactive figures that also work on the static HTML book.

:func:`explore` turns a *figure function* ``fig_func(**kwargs) -> Figure`` and the values
each slider may take into

* **live in Jupyter** (the default): an ipywidgets control, one ``SelectionSlider`` per
  parameter above an ``Image`` widget that shows the figure. Rendered figures are kept
  in an LRU cache keyed by the slider positions, so going back to a value is instant
  (~10 ms), and ``precompute=True`` renders every combination up front;
* **the static twin** when the book is being built: the figure pre-rendered over the slider
  values and shown as a scrubbable animation (:meth:`matplotlib.animation.Animation.to_jshtml`),
  self-contained, with no external request.

The switch is one setting, the environment variable ``ATTNLIB_BOOK_BUILD`` (:func:`is_book_build`),
and only the book build sets it, on purpose: ``_config.yml`` lists it under ``book_kernels.env``,
and ``tools/execute_book.py``, which executes the chapters for the site and the PDF, starts
every kernel with those variables. JupyterLab, Binder and Colab start kernels without it, so
their readers get the live widgets; ``explore(..., static=True/False)`` overrides it for one
call. The build of the book's PDF (``tools/build_pdf.sh``) also sets ``ATTNLIB_PRINT_BUILD``
(:func:`attnbook.plots.is_print_build`): only then do static twins and tabs carry the vector
``application/pdf`` still that the PDF prints.

:func:`tabs` shows several finished figures as an ``ipywidgets.Tab`` of ``Image`` widgets.
Tab switching happens in the browser, so it also works on the static site through the
widget state the build embeds.

Static twin with several parameters
-----------------------------------
An animation has one slider, so for ``explore(f, a=[...], b=[...])`` the static page sweeps
the **first** parameter with the others fixed at their default (the middle value of each
list, or ``defaults={...}``). ``sweep="all"`` shows one animation per parameter instead
(each sweeping one parameter, the others at their defaults). The frame carries a label
strip such as ``a = 0.1   (b = 3)``.

Accessibility
-------------
Every picture has a text alternative built from the figure's own alt text (``alt=``; default:
the first paragraph of the figure function's docstring) and the frame's slider values, e.g.
"… Frame 3 of 7: log_t = 1e+04.": the ``alt`` of each animation frame (updated as the frame
changes), the ``title`` of the live ``Image`` widget and of each tab's image. The animation's
scrub slider is named after its parameter and announces the frame's values (``aria-valuetext``);
the live sliders carry their parameter's name as description and a tooltip.
"""

from __future__ import annotations

import base64
import functools
import html as _html
import inspect
import io
import itertools
import json
import numbers
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from . import plots
from .plots import BUILD_ENV_VAR, is_book_build  # the book build's switch (defined beside the plot style)

__all__ = [
    "BUILD_ENV_VAR",
    "is_book_build",
    "explore",
    "Explorer",
    "static_twin_html",
    "tabs",
    "figure_to_png",
]


#: Keep each static animation below this many bytes of HTML (the page embeds it base64).
MAX_TWIN_BYTES = 2_000_000

_FA_LINK = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*"\s*/?>')
_EXTERNAL_URL = re.compile(r'(src|href)="(https?:)?//[^"]*"')


# ----------------------------------------------------------------------------- helpers
def _format_value(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=3, threshold=6)
    return str(value)


def _default_alt(fig_func: Callable[..., Figure]) -> str:
    """The text alternative of a figure function that was given none: its docstring's first paragraph."""
    doc = inspect.getdoc(fig_func) or ""
    summary = " ".join(doc.split("\n\n")[0].split()).replace("``", "")
    return summary or f"Figure drawn by {getattr(fig_func, '__name__', 'a figure function')}()."


def _check_alt(alt: Any) -> str | None:
    if alt is None:
        return None
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(f"alt must be a non-empty str describing the figure, got {alt!r:.60}")
    return " ".join(alt.split())


def _frame_alt(alt: str, label: str, k: int, n: int) -> str:
    """``alt`` of one animation frame: the figure's text alternative and where the slider stands."""
    where = " ".join(label.split())
    return f"{alt.rstrip('.')}. Frame {k + 1} of {n}: {where}."


def _check_values(name: str, values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, range)):
        raise ValueError(
            f"parameter {name!r}: expected a sequence of slider values such as {name}=[0.1, 1, 10], "
            f"got {type(values).__name__} {values!r:.60}"
        )
    values = list(values)
    if len(values) == 0:
        raise ValueError(
            f"parameter {name!r} has no values: give a non-empty sequence, e.g. {name}=[0.1, 1, 10]"
        )
    return values


def _check_positive(name: str, value: Any, *, integer: bool = False, lo: float = 0.0) -> float | int:
    """A real number (an integer if ``integer``) above ``lo`` (``>= lo`` for integers), finite; bools and strings
    refused, with a message naming ``name``."""
    kind = "an integer" if integer else "a real number"
    want = f"{kind} {'>=' if integer else '>'} {lo:g}"
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {want}; got {type(value).__name__} {value!r:.40}")
    try:
        x = float(value)
    except OverflowError:  # an int beyond float64 (10**400)
        raise ValueError(f"{name} must be {want} within float64; got an integer of {len(str(abs(value)))} digits"
                         ) from None
    if not np.isfinite(x) or (x < lo if integer else x <= lo) or (integer and x != int(x)):
        raise ValueError(f"{name} must be {want}; got {value!r}")
    return int(x) if integer else x


_MIN_DPI, _MAX_DPI = 10.0, 10_000.0  # below ~5 dpi FreeType refuses the fonts; above, frames of many MB each


_MAX_CACHE = 10**6


def _check_dpi(name: str, value: Any) -> float:
    """A resolution in [_MIN_DPI, _MAX_DPI], with a message naming ``name``."""
    x = _check_positive(name, value)
    if not _MIN_DPI <= x <= _MAX_DPI:
        raise ValueError(f"{name} must be a resolution in [{_MIN_DPI:g}, {_MAX_DPI:g}] dots per inch; got {value!r}")
    return x


def _check_start(start: Any, n: int) -> int:
    """The index of the frame shown first: an integer in [0, n)."""
    if isinstance(start, (bool, np.bool_)) or not isinstance(start, (int, np.integer)):
        raise TypeError(f"start must be an integer frame index in [0, {n}); got {type(start).__name__} {start!r:.40}")
    if not 0 <= start < n:
        raise ValueError(f"start must be a frame index in [0, {n}) ({n} values); got {start}")
    return int(start)


def _same_value(v: Any, value: Any) -> bool:
    """Whether a default names slider value ``v``: the same object, or equal numbers (not bools standing for
    0/1), or equal strings, or arrays/sequences of the same shape with equal entries. ``==`` alone matched
    ``False`` to ``0`` and a scalar to every entry of an array value."""
    if v is value:
        return True
    if isinstance(v, (bool, np.bool_)) or isinstance(value, (bool, np.bool_)):
        return isinstance(v, (bool, np.bool_)) and isinstance(value, (bool, np.bool_)) and bool(v) == bool(value)
    if isinstance(v, numbers.Number) and isinstance(value, numbers.Number):
        return bool(v == value)
    if isinstance(v, (str, bytes)) or isinstance(value, (str, bytes)):
        return type(v) is type(value) and v == value
    if isinstance(v, (np.ndarray, list, tuple)) or isinstance(value, (np.ndarray, list, tuple)):
        try:
            a, b = np.asarray(v), np.asarray(value)
            return a.shape == b.shape and a.dtype.kind == b.dtype.kind and bool(np.array_equal(a, b))
        except Exception:
            return False
    try:
        return type(v) is type(value) and bool(v == value)
    except Exception:
        return False


def _check_fig_func(fig_func: Any, names: Sequence[str]) -> None:
    if not callable(fig_func):
        raise ValueError(f"fig_func must be callable (kwargs -> matplotlib Figure), got {type(fig_func).__name__}")
    try:
        sig = inspect.signature(fig_func)
    except (TypeError, ValueError):  # builtins without a signature: cannot check
        return
    params = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items()
                if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    unknown = [n for n in names if n not in accepted]
    if unknown:
        fname = getattr(fig_func, "__name__", repr(fig_func))
        raise ValueError(
            f"{fname}() has no parameter {', '.join(map(repr, unknown))}; "
            f"its keyword parameters are ({', '.join(accepted) or 'none'})"
        )


def _call(fig_func: Callable[..., Figure], kwargs: Mapping[str, Any]) -> Figure:
    fig = fig_func(**kwargs)
    if not isinstance(fig, Figure):
        fname = getattr(fig_func, "__name__", repr(fig_func))
        raise TypeError(f"{fname}(**{dict(kwargs)!r}) returned {type(fig).__name__}, expected a matplotlib Figure")
    return fig


def _close(fig: Figure) -> None:
    """Close a pyplot-managed figure so Jupyter does not also show it at the end of the cell."""
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # pragma: no cover - headless oddities
        pass


def figure_to_png(fig: Figure, dpi: float | None = None, close: bool = True) -> bytes:
    """Render ``fig`` to PNG bytes (``dpi`` default: the figure's own dpi).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : float, optional
        In [10, 10000] (every ``dpi`` of this module is checked against that range).
    close : bool, default True
        Close the figure afterwards (pyplot figures would otherwise also appear inline).

    Returns
    -------
    bytes
        The PNG file.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure; got {type(fig).__name__}")
    if dpi is not None:
        dpi = _check_dpi("dpi", dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi if dpi is not None else fig.dpi, facecolor=fig.get_facecolor())
    if close:
        _close(fig)
    return buf.getvalue()


def _figure_to_rgba(fig: Figure, dpi: float) -> np.ndarray:
    """Rasterize ``fig`` at ``dpi`` into an (H, W, 4) uint8 array and close it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    old_dpi = fig.dpi
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    try:
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba()).copy()
    finally:
        fig.set_dpi(old_dpi)
        _close(fig)
    return rgba


def _strip_external(html: str) -> str:
    html = _FA_LINK.sub("", html)
    html = _EXTERNAL_URL.sub(lambda m: f'{m.group(1)}="#"', html)
    return html


def _frames_to_jshtml(frames: Sequence[np.ndarray], labels: Sequence[str], dpi: float,
                      start: int = 0, interval: int = 600, alt: str | None = None,
                      slider_name: str = "frame") -> str:
    """Build a to_jshtml animation whose frames are the given RGBA images, pixel for pixel.

    ``alt`` (default: the labels alone) becomes each frame's text alternative with its label; the scrub
    slider is named "``slider_name``: choose the frame" and its ``aria-valuetext`` is the frame's label.
    """
    from matplotlib.animation import FuncAnimation
    import matplotlib as mpl

    strip = 26  # px, label strip above each frame
    height = max(f.shape[0] for f in frames) + strip
    width = max(f.shape[1] for f in frames)
    carrier = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(carrier)
    image = carrier.figimage(np.full((height - strip, width, 4), 255, np.uint8), xo=0, yo=0, origin="upper")
    text = carrier.text(8 / width, 1 - 4 / height, "", ha="left", va="top", fontsize=10,
                        color="#111111", family="sans-serif")

    def draw(k: int):
        img = frames[k]
        pad = np.full((height - strip, width, 4), 255, np.uint8)
        pad[: img.shape[0], : img.shape[1]] = img
        image.set_data(pad)
        text.set_text(labels[k])
        return image, text

    anim = FuncAnimation(carrier, draw, frames=len(frames), interval=interval, blit=False, repeat=False)
    with mpl.rc_context({"savefig.dpi": "figure", "animation.frame_format": "png",
                         "savefig.facecolor": "white", "savefig.edgecolor": "white",
                         "animation.embed_limit": 50.0}):
        html = anim.to_jshtml(default_mode="once")
    html = _strip_external(html)
    m = re.search(r'_anim_img([0-9a-f]+)', html)
    if m:
        html = _still_fallback(html, m.group(1), start)
        html = _accessible(html, m.group(1), start, labels, alt, slider_name)
    if m and start:
        html += (f'\n<script>setTimeout(function(){{try{{anim{m.group(1)}.set_frame({int(start)});}}'
                 f'catch(e){{}}}}, 50);</script>\n')
    return html


def _still_fallback(html: str, anim_id: str, start: int) -> str:
    """Make the animation's HTML show a still frame where its script does not run.

    Where scripts are blocked (an untrusted notebook in JupyterLab, GitHub's notebook view) the
    ``<img>`` of ``to_jshtml`` would stay empty and its buttons dead. The start frame becomes the
    image's initial ``src``, and the controls start hidden and are shown by a script, so a
    script-less viewer sees the figure and no dead control.
    """
    frame = re.search(rf'frames\[{int(start)}\] = "(data:image/png;base64,[A-Za-z0-9+/=\\\n]*)"', html)
    if frame:
        src = frame.group(1).replace("\\\n", "")
        html = html.replace(f'<img id="_anim_img{anim_id}">', f'<img id="_anim_img{anim_id}" src="{src}">', 1)
    html = html.replace('<div class="anim-controls">', '<div class="anim-controls" style="display:none">', 1)
    return html + (f'\n<script>(function(){{var i=document.getElementById("_anim_img{anim_id}");'
                   f'if(i){{var c=i.parentNode.querySelector(".anim-controls");if(c){{c.style.display="";}}}}}})();'
                   f'</script>\n')


#: Target size (WCAG 2.5.8) and a visible focus for the animation's controls; matplotlib's own style has
#: 36 x ~22 px buttons and 13 px radio buttons.
_TWIN_STYLE = """<style>
.animation .anim-buttons button { min-height: 28px; min-width: 36px; }
.animation .anim-state input[type=radio] { width: 20px; height: 20px; margin: 2px; }
.animation .anim-state label { display: inline-block; min-height: 24px; line-height: 24px; }
.animation input[type=range].anim-slider { min-height: 24px; }
</style>"""


def _accessible(html: str, anim_id: str, start: int, labels: Sequence[str], alt: str | None,
                slider_name: str) -> str:
    """Give the animation's image a per-frame ``alt`` and its slider a name and a spoken value."""
    n = len(labels)
    texts = [" ".join(lab.split()) for lab in labels]
    alts = [_frame_alt(alt, lab, k, n) if alt else f"Frame {k + 1} of {n}: {lab}." for k, lab in enumerate(texts)]
    k0 = min(max(int(start), 0), n - 1)
    html = re.sub(rf'<img id="_anim_img{anim_id}"', lambda _: f'<img id="_anim_img{anim_id}" alt="{_html.escape(alts[k0])}"',
                  html, count=1)
    name = _html.escape(f"{slider_name}: choose the frame")
    html = re.sub(rf'<input id="_anim_slider{anim_id}" type="range"',
                  lambda _: (f'<input id="_anim_slider{anim_id}" type="range" aria-label="{name}" '
                             f'aria-valuetext="{_html.escape(texts[k0])}"'), html, count=1)
    data = json.dumps({"alts": alts, "texts": texts}).replace("</", "<\\/")
    script = (f'<script>(function(){{var d={data};function hook(){{var a=window.anim{anim_id};'
              f'if(!a){{setTimeout(hook,20);return;}}var set=a.set_frame;a.set_frame=function(f){{set.call(a,f);'
              f'var i=document.getElementById("_anim_img{anim_id}"),s=document.getElementById("_anim_slider{anim_id}");'
              f'if(i){{i.alt=d.alts[a.current_frame];}}if(s){{s.setAttribute("aria-valuetext",d.texts[a.current_frame]);}}}};'
              f'a.set_frame(a.current_frame);}}hook();}})();</script>')
    return _TWIN_STYLE + html + "\n" + script + "\n"


# ------------------------------------------------------------------------- static twin
def _twin(fig_func: Callable[..., Figure], name: str, values: Sequence[Any], fixed: Mapping[str, Any],
          *, dpi: float, start: int, note: Mapping[str, Any] | None, max_bytes: int, alt: str | None = None) -> str:
    def render(d: float) -> str:
        frames, labels = [], []
        extra = "   ".join(f"{k} = {_format_value(v)}" for k, v in (note or {}).items())
        for v in values:
            frames.append(_figure_to_rgba(_call(fig_func, {**fixed, name: v}), d))
            labels.append(f"{name} = {_format_value(v)}" + (f"   ({extra})" if extra else ""))
        return _frames_to_jshtml(frames, labels, d, start=start, alt=alt or _default_alt(fig_func), slider_name=name)

    html = render(dpi)
    if len(html) > max_bytes:
        smaller = max(40.0, dpi * (0.95 * max_bytes / len(html)) ** 0.5)
        html = render(smaller)
        if len(html) > max_bytes:
            warnings.warn(
                f"static twin for {name!r}: {len(html) / 1e6:.1f} MB of HTML for {len(values)} frames "
                f"even at {smaller:.0f} dpi, over max_bytes={max_bytes:,} ({max_bytes / 1e6:.1f} MB); use fewer values, "
                f"a smaller figure or a larger max_bytes",
                stacklevel=3,
            )
    return html


def static_twin_html(fig_func: Callable[..., Figure], param: str, values: Sequence[Any], *,
                     dpi: float = 96, start: int | None = None, max_bytes: int = MAX_TWIN_BYTES,
                     alt: str | None = None, **fixed: Any) -> str:
    """The static twin of a one-parameter widget: a self-contained scrubbable animation.

    Parameters
    ----------
    fig_func : callable
        ``fig_func(**kwargs) -> matplotlib.figure.Figure``.
    param : str
        Name of the swept keyword argument of ``fig_func``.
    values : sequence
        The slider's values, one frame each (in this order).
    dpi : float, default 96
        Raster resolution of the frames (PNG). If the HTML would exceed ``max_bytes``
        it is re-rendered once at a lower dpi (never below 40), then a warning is issued.
    start : int, optional
        Index of the frame shown first (default: the middle one).
    max_bytes : int, default 2_000_000
    alt : str, optional
        Text alternative of the figure; each frame's ``alt`` is it plus the frame's value
        ("... Frame 3 of 7: log_t = 1e+04."). Default: the first paragraph of ``fig_func``'s docstring.
    **fixed
        Further keyword arguments passed unchanged to every call of ``fig_func``.

    Returns
    -------
    str
        HTML (``<div class="animation">`` with the frames as base64 PNG ``<img>`` data,
        the ``to_jshtml`` controls and their script) without any external URL. The image's
        ``alt`` and the slider's ``aria-valuetext`` follow the frame.

    Raises
    ------
    ValueError
        Empty ``values``, ``param``/``fixed`` names that ``fig_func`` does not accept, or an
        empty or non-str ``alt``.
    TypeError
        ``fig_func`` does not return a Figure.
    """
    if not isinstance(param, str) or not param:
        raise ValueError(f"param must be a parameter name (str), got {param!r}")
    values = _check_values(param, values)
    _check_fig_func(fig_func, [param, *fixed])
    dpi = _check_dpi("dpi", dpi)
    max_bytes = _check_positive("max_bytes", max_bytes, integer=True, lo=1)
    start = len(values) // 2 if start is None else _check_start(start, len(values))
    plots.use_book_style()
    return _twin(fig_func, param, values, fixed, dpi=dpi, start=start, note=None, max_bytes=max_bytes,
                 alt=_check_alt(alt))


# ----------------------------------------------------------------------------- Explorer
class Explorer:
    """Result of :func:`explore`; displays itself as a live widget or as its static twin.

    Attributes
    ----------
    params : dict[str, list]
        Slider values per parameter.
    defaults : dict[str, Any]
        Initial value per parameter.
    static : bool
        True when showing the static twin (book build).
    alt : str
        Text alternative of the figure (without slider values).
    """

    def __init__(self, fig_func: Callable[..., Figure], params: Mapping[str, Sequence[Any]], *,
                 defaults: Mapping[str, Any] | None = None, fixed: Mapping[str, Any] | None = None,
                 static: bool | None = None, sweep: str = "first", dpi: float = 100,
                 static_dpi: float = 96, cache_size: int = 256, precompute: bool = False,
                 continuous_update: bool | None = None, max_bytes: int = MAX_TWIN_BYTES,
                 alt: str | None = None) -> None:
        if not params:
            raise ValueError("explore() needs at least one slider parameter, e.g. explore(f, alpha=[0.1, 1, 10])")
        self.fig_func = fig_func
        self.alt = _check_alt(alt) or _default_alt(fig_func)
        self.params: dict[str, list[Any]] = {n: _check_values(n, v) for n, v in params.items()}
        for arg, value in (("defaults", defaults), ("fixed", fixed)):
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"{arg} must be a mapping {{parameter name: value}} or None; got {type(value).__name__}")
        if static is not None and not isinstance(static, (bool, np.bool_)):
            raise TypeError(f"static must be True, False or None (None: static in the book build); got "
                            f"{type(static).__name__} {static!r:.40}")
        self.fixed: dict[str, Any] = dict(fixed or {})
        clash = set(self.fixed) & set(self.params)
        if clash:
            raise ValueError(f"parameter(s) {sorted(clash)} given both as slider values and in fixed=")
        _check_fig_func(fig_func, [*self.params, *self.fixed])
        if sweep not in ("first", "all"):
            raise ValueError(f"sweep must be 'first' or 'all', got {sweep!r}")
        self.sweep = sweep
        self.dpi, self.static_dpi = _check_dpi("dpi", dpi), _check_dpi("static_dpi", static_dpi)
        self.max_bytes = _check_positive("max_bytes", max_bytes, integer=True, lo=1)
        cache_size = _check_positive("cache_size", cache_size, integer=True, lo=0)
        if cache_size > _MAX_CACHE:
            raise ValueError(f"cache_size must be an integer in [0, {_MAX_CACHE}] (rendered PNGs kept); got {cache_size!r}")
        self.static = is_book_build() if static is None else bool(static)
        self._start: dict[str, int] = {}
        defaults = dict(defaults or {})
        unknown = set(defaults) - set(self.params)
        if unknown:
            raise ValueError(f"defaults= names unknown parameter(s) {sorted(unknown)}; sliders are {list(self.params)}")
        for name, vals in self.params.items():
            if name in defaults:
                idx = self._index_of(name, defaults[name])
            else:
                idx = len(vals) // 2
            self._start[name] = idx
        self.defaults = {n: self.params[n][i] for n, i in self._start.items()}
        self._render = functools.lru_cache(maxsize=cache_size)(self._render_uncached)
        self.continuous_update = precompute if continuous_update is None else continuous_update
        self._widget = None
        self._html: str | None = None
        self.last_update_seconds: float | None = None
        if precompute and not self.static:
            for key in itertools.product(*(range(len(v)) for v in self.params.values())):
                self._render(key)

    def _index_of(self, name: str, value: Any) -> int:
        for i, v in enumerate(self.params[name]):
            try:
                if _same_value(v, value):
                    return i
            except Exception:
                continue
        raise ValueError(f"defaults=: default {value!r} for {name!r} is not one of its slider values {self.params[name]!r}")

    # -- rendering -------------------------------------------------------------------
    def _kwargs(self, key: tuple[int, ...]) -> dict[str, Any]:
        return {**self.fixed, **{n: self.params[n][i] for n, i in zip(self.params, key)}}

    def _render_uncached(self, key: tuple[int, ...]) -> bytes:
        plots.use_book_style()
        return figure_to_png(_call(self.fig_func, self._kwargs(key)), dpi=self.dpi)

    def png(self, **values: Any) -> bytes:
        """PNG bytes of the figure at the given slider values (others at their defaults), cached."""
        unknown = set(values) - set(self.params)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; sliders are {list(self.params)}")
        key = tuple(self._index_of(n, values[n]) if n in values else self._start[n] for n in self.params)
        return self._render(key)

    def print_caption(self) -> str:
        """What the printed still shows (the book's PDF sets it under the figure, as text).

        The slider values of the still and the values the web page's animation and the notebook's
        sliders run through, e.g. "Printed still: c = 1, angle = 0.5. On the web page an animation runs
        c through 4 values (0.25 to 4); run the chapter as a notebook to move every slider."
        """
        shown = ", ".join(f"{n} = {_format_value(v)}" for n, v in self.defaults.items())
        names = list(self.params) if self.sweep == "all" else [next(iter(self.params))]
        runs = "; ".join(f"{n} through {len(self.params[n])} values ({_format_value(self.params[n][0])} to "
                         f"{_format_value(self.params[n][-1])})" for n in names)
        return (f"Printed still: {shown}. On the web page an animation runs {runs}; "
                "run the chapter as a notebook to move every slider.")

    def pdf(self) -> bytes:
        """The still (every slider at its default) as a vector PDF with :meth:`print_caption` under it."""
        plots.use_book_style()
        fig = _call(self.fig_func, self._kwargs(tuple(self._start[n] for n in self.params)))
        try:
            return plots.figure_to_pdf(fig, caption=self.print_caption())
        finally:
            _close(fig)

    def cache_info(self):
        """``functools.lru_cache`` statistics of the rendered figures."""
        return self._render.cache_info()

    # -- static twin -----------------------------------------------------------------
    def static_html(self) -> str:
        """HTML of the static twin (built once, then reused)."""
        if self._html is None:
            plots.use_book_style()
            names = list(self.params) if self.sweep == "all" else [next(iter(self.params))]
            parts = []
            for name in names:
                others = {n: v for n, v in self.defaults.items() if n != name}
                parts.append(_twin(self.fig_func, name, self.params[name], {**self.fixed, **others},
                                   dpi=self.static_dpi, start=self._start[name], note=others,
                                   max_bytes=self.max_bytes, alt=self.alt))
            fixed_note = ", ".join(f"{n} = {_format_value(v)}" for n, v in self.defaults.items()
                                   if n not in names)
            note = ("Static version: drag the slider under the figure"
                    + (f" (fixed: {_html.escape(fixed_note)})" if fixed_note else "")
                    + ". Run this page as a notebook for the live control.")
            self._html = ('<div class="attnlib-static-twin">\n' + "\n".join(parts)
                          + f'\n<p class="attnlib-twin-note" style="font-size:0.85em;opacity:0.8;">{note}</p>\n</div>')
        return self._html

    # -- live widget -----------------------------------------------------------------
    @property
    def widget(self):
        """The live ipywidgets control (``VBox`` of sliders and an ``Image``), built on first use."""
        if self._widget is None:
            self._widget = self._build_widget()
        return self._widget

    def _build_widget(self):
        import ipywidgets as w

        sliders = []
        for name, vals in self.params.items():
            sliders.append(w.SelectionSlider(
                options=[(_format_value(v), i) for i, v in enumerate(vals)],
                value=self._start[name], description=name,
                tooltip=f"{name}: the value the figure below is drawn for",
                continuous_update=self.continuous_update,
                style={"description_width": "initial"},
                layout=w.Layout(width="min(100%, 30em)"),
            ))
        image = _image(self._render(tuple(self._start.values())), self.alt)
        errors = w.Output()

        def describe(key: tuple[int, ...]) -> None:  # the image's text alternative (its title) follows the sliders
            where = ", ".join(f"{n} = {_format_value(self.params[n][i])}" for n, i in zip(self.params, key))
            image.tooltip = f"{self.alt.rstrip('.')}. At {where}."

        describe(tuple(self._start.values()))

        def update(_change=None):
            t0 = time.perf_counter()
            key = tuple(s.value for s in sliders)
            if errors.outputs:
                errors.clear_output()
            try:
                image.value = self._render(key)
                describe(key)
            except Exception:  # show the traceback under the figure, keep the widget alive
                with errors:
                    import traceback

                    traceback.print_exc()
            self.last_update_seconds = time.perf_counter() - t0

        for s in sliders:
            s.observe(update, names="value")
        box = w.VBox([*sliders, image, errors])
        box.add_class("attnlib-explorer")
        box._attnlib_update = update  # handle for tests / timing
        box._attnlib_sliders = sliders
        box._attnlib_image = image
        _add_still(box, lambda: image.value)
        return box

    # -- display ---------------------------------------------------------------------
    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.static:
            display(self.static_bundle(), raw=True)
        else:
            display(self.widget)

    def static_bundle(self) -> dict[str, str]:
        """The static twin as one output: ``text/html`` and a still ``image/png`` (default values), and in the build
        of the book's PDF (:func:`attnbook.plots.is_print_build`) an ``application/pdf`` still.

        Viewers that do not run the HTML's script (GitHub, an untrusted notebook) can show the
        still image instead; web pages and trusted notebooks show the animation. The book's PDF prints
        the ``application/pdf`` still, which says in text what it shows (:meth:`print_caption`).
        """
        bundle = {"text/html": self.static_html(),
                  "image/png": base64.b64encode(self.png()).decode("ascii"),
                  "text/plain": repr(self)}
        if plots.is_print_build():
            bundle["application/pdf"] = base64.b64encode(self.pdf()).decode("ascii")
        return bundle

    def __repr__(self) -> str:
        mode = "static twin" if self.static else "live widget"
        return f"<Explorer {getattr(self.fig_func, '__name__', 'fig_func')} ({mode}) sliders={list(self.params)}>"


def explore(fig_func: Callable[..., Figure], /, *, defaults: Mapping[str, Any] | None = None,
            fixed: Mapping[str, Any] | None = None, static: bool | None = None, sweep: str = "first",
            dpi: float = 100, static_dpi: float = 96, cache_size: int = 256, precompute: bool = False,
            continuous_update: bool | None = None, alt: str | None = None, **params: Sequence[Any]) -> Explorer:
    """A figure with sliders: live ipywidgets in Jupyter, a scrubbable animation on the static site.

    Parameters
    ----------
    fig_func : callable
        ``fig_func(**kwargs) -> matplotlib.figure.Figure``. It is called with one value per
        slider (plus ``fixed``); the figures it returns are rendered to PNG and closed.
    **params : sequence
        One slider per keyword: ``name=[v0, v1, ...]``, the values the slider can take
        (any objects; labels use ``str`` / 4 significant digits).
    defaults : dict, optional
        Initial slider values (must be among the given values). Default: the middle value.
    fixed : dict, optional
        Further keyword arguments passed unchanged to ``fig_func``.
    static : bool, optional
        Force the static twin (True) or the live widget (False). Default: static iff the
        environment variable ``ATTNLIB_BOOK_BUILD`` is set (:func:`is_book_build`: the book build
        gives it to its kernels, ``_config.yml`` ``book_kernels.env``).
    sweep : {"first", "all"}, default "first"
        Static twin with several sliders: animate the first parameter only (others at their
        defaults), or show one animation per parameter.
    dpi, static_dpi : float, default 100, 96
        Resolution of the live image and of the animation frames.
    cache_size : int, default 256
        Size of the LRU cache of rendered figures (keyed by slider positions).
    precompute : bool, default False
        Live mode: render every combination of values now, so every slider move is a
        cache hit (~10 ms); also turns on ``continuous_update``.
    continuous_update : bool, optional
        Redraw while dragging (default: only when ``precompute``).
    alt : str, optional
        Text alternative of the figure, as for a static figure's ``alt``; the slider values are
        appended per frame ("... Frame 3 of 7: log_t = 1e+04.") and to the live image's title.
        Default: the first paragraph of ``fig_func``'s docstring.

    Returns
    -------
    Explorer
        Displays itself when it is the last expression of a cell. ``.widget`` is the
        ipywidgets control, ``.static_html()`` the static twin, ``.png(**values)`` one frame.

    Raises
    ------
    ValueError
        No parameters, an empty value list, a name ``fig_func`` does not accept, or a
        default that is not among the values.

    Examples
    --------
    >>> def fig(alpha, n=3):
    ...     f, ax = plots.new_figure()
    ...     ax.plot(np.arange(n) ** alpha)
    ...     return f
    >>> ex = explore(fig, alpha=[0.5, 1.0, 2.0], fixed={"n": 5})   # doctest: +SKIP
    >>> ex                                                          # doctest: +SKIP
    """
    return Explorer(fig_func, params, defaults=defaults, fixed=fixed, static=static, sweep=sweep, dpi=dpi,
                    static_dpi=static_dpi, cache_size=cache_size, precompute=precompute,
                    continuous_update=continuous_update, alt=alt)


def tabs(figures: Mapping[str, Figure], *, dpi: float = 100, close: bool = True,
         alt: Mapping[str, str] | None = None):
    """Show finished figures as tabs: an ``ipywidgets.Tab`` of ``ipywidgets.Image`` widgets.

    Tab switching is done by the browser, so this is a real widget that also works on the
    static site (the build embeds the widget state, PNGs included).

    Parameters
    ----------
    figures : dict[str, matplotlib.figure.Figure]
        Tab title -> figure, in display order.
    dpi : float, default 100
        Resolution of the PNGs.
    close : bool, default True
        Close the figures after rendering them (so Jupyter does not show them twice).
    alt : dict[str, str], optional
        Tab title -> text alternative of its figure (the image's title, which screen readers read as
        its name). Default, and for titles missing from it: "Figure: <tab title>".

    Returns
    -------
    ipywidgets.Tab

    Raises
    ------
    ValueError
        ``figures`` is empty or not a mapping of titles to Figures, or ``alt`` names a title that
        ``figures`` does not have.
    """
    import ipywidgets as w

    if not isinstance(figures, Mapping):
        raise ValueError(f"figures must be a non-empty dict {{title: matplotlib Figure}}; got {type(figures).__name__}")
    if not figures:
        raise ValueError("figures must be a non-empty dict {title: matplotlib Figure}; got an empty one")
    bad = {k: type(v).__name__ for k, v in figures.items() if not isinstance(v, Figure)}
    if bad:
        raise ValueError(f"figures must map titles to matplotlib Figures; these values are not matplotlib Figures: "
                         f"{bad}")
    dpi = _check_dpi("dpi", dpi)
    alt = dict(alt or {})
    unknown = set(alt) - set(figures)
    if unknown:
        raise ValueError(f"tabs(): alt= names tab(s) {sorted(unknown)} that are not among the titles {list(figures)}")
    titles = [str(k) for k in figures]
    pdfs = {}
    if plots.is_print_build():  # the book's PDF prints the selected tab's figure, saying which tab it is
        for k, f in figures.items():
            others = ", ".join(f"\u201c{t}\u201d" for t in titles if t != str(k))
            pdfs[str(k)] = plots.figure_to_pdf(f, caption=f"Printed: the tab \u201c{k}\u201d; the web page and the "
                                                            f"notebook also show the tab(s) {others}.")
    children = [_image(figure_to_png(f, dpi=dpi, close=close), _check_alt(alt[k]) if k in alt else f"Figure: {k}")
                for k, f in figures.items()]
    tab = w.Tab(children=children, titles=tuple(titles))
    tab.add_class("attnlib-tabs")
    _add_still(tab, lambda: children[tab.selected_index or 0].value,
               (lambda: pdfs[titles[tab.selected_index or 0]]) if pdfs else None)
    return tab


def _image(png: bytes, alt: str):
    """An ``ipywidgets.Image`` of ``png`` whose text alternative is ``alt`` (its ``title``, read as its name).

    ipywidgets 8's views read the model's ``description`` whenever a ``tooltip`` is set
    (``DOMWidgetView.updateTooltip``) and fail ("Could not create a view") on ``Image``, which has none: an empty
    ``description`` is added to the model so the title can be set.
    """
    import ipywidgets as w
    from traitlets import Unicode

    image = w.Image(value=png, format="png", layout=w.Layout(max_width="100%", height="auto"))
    image.add_traits(description=Unicode("").tag(sync=True))
    image.tooltip = alt
    return image


def _add_still(widget: Any, png: Callable[[], bytes], pdf: Callable[[], bytes] | None = None) -> None:
    """Put a still ``image/png`` (and, given ``pdf``, an ``application/pdf``) beside the widget view in its bundle.

    A saved notebook then carries a picture of the control next to its view: viewers without the
    widget's live model or saved state (GitHub, nbviewer, a plain renderer) show the picture
    instead of the text repr ``VBox(children=...)``. JupyterLab still shows the widget; the book's PDF
    prints the ``application/pdf`` still.
    """
    plain = widget._repr_mimebundle_

    def stills() -> dict[str, str]:
        out = {"image/png": base64.b64encode(png()).decode("ascii")}
        if pdf is not None:
            out["application/pdf"] = base64.b64encode(pdf()).decode("ascii")
        return out

    def bundle(**kwargs: Any):
        data = plain(**kwargs)
        if isinstance(data, tuple):  # (data, metadata)
            data, meta = data
            return {**data, **stills()}, meta
        if isinstance(data, dict):
            data = {**data, **stills()}
        return data

    widget._repr_mimebundle_ = bundle
