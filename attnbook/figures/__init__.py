"""Figure functions of the book, one module per chapter; ``python -m attnbook figures OUTDIR`` renders them all.

Each chapter module draws the results of :mod:`attnbook.experiments` (it runs no flow, solves no SVM and caches
nothing) and defines ``FIGURES: dict[str, Callable[[], matplotlib.figure.Figure]]``: zero-argument callables
(defaults = the book's settings) that fetch the experiment's result and return the finished figure the chapter
shows. A ``fig_*`` without slider arguments also draws a result it is given (``fig_x(result)``, e.g. of
an experiment run with other settings); without one it fetches the experiment's cached result. A figure too dense
for a lecture slide also has slide versions, one panel each, in the module's ``SLIDE_FIGURES``
(:func:`slide_registry`).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Sequence

CHAPTER_MODULES = ("ch1", "ch2", "ch3", "ch4", "ch5", "ch6", "ch7", "intro", "numerics", "why", "ch8",
                   "studies")


def by_name(*funcs: Callable) -> dict[str, Callable]:
    """A chapter's ``FIGURES``: ``{"x": fig_x, ...}`` in the order given (the name without its ``fig_`` prefix)."""
    return {f.__name__.removeprefix("fig_"): f for f in funcs}


def compute_home(chapter: str) -> Callable[[str], object]:
    """A figure module's ``__getattr__``: names it does not define are looked up in
    ``attnbook.experiments.<chapter>``, so ``attnbook.figures.<chapter>.compute_x`` (the old home) keeps working."""
    def __getattr__(name: str):
        return getattr(importlib.import_module(f"attnbook.experiments.{chapter}"), name)

    return __getattr__


def _chapter_modules():
    """The chapter modules that exist, in chapter order, with their names."""
    for mod_name in CHAPTER_MODULES:
        try:
            yield mod_name, importlib.import_module(f"{__name__}.{mod_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{mod_name}":
                continue  # chapter not written yet
            raise


def registry() -> dict[str, Callable]:
    """All figures of the book by name (``"<module>.<figure>"``), in chapter order."""
    return {f"{mod_name}.{name}": func for mod_name, mod in _chapter_modules()
            for name, func in getattr(mod, "FIGURES", {}).items()}


def slide_registry() -> dict[str, Callable]:
    """Slide versions of the book's figures by name, ``"<module>.<figure>.<part>"`` (e.g. ``"ch6.gd.error"``, a
    part of the book's ``"ch6.gd"``), in chapter order.

    A figure whose panels and legends cannot be fitted to a 1280x720 slide with 18-px labels gets, in its chapter
    module's ``SLIDE_FIGURES``, slide versions that draw the same result one panel at a time with the book's own
    panel code; ``tools/build_slides.py`` places them (``![alt](figure:ch6.gd.error)`` in a lecture's source).
    """
    return {f"{mod_name}.{name}": func for mod_name, mod in _chapter_modules()
            for name, func in getattr(mod, "SLIDE_FIGURES", {}).items()}


def render_figure(name: str, path: str | Path | Sequence[str | Path], dpi: int = 150) -> None:
    """Draw the figure ``name`` (a key of :func:`registry`) once and save it to ``path`` (or to each of several paths;
    the suffix picks the format: png, svg, pdf), then close it. SVG and PDF files carry no date, so a rerun gives
    the same bytes.

    Raises
    ------
    ValueError
        If ``name`` is not a figure of the book (the message lists them).
    """
    import matplotlib.pyplot as plt

    figures = registry()
    if name not in figures:
        raise ValueError(f"name must be a figure of the book (python -m attnbook figures --list); got {name!r}")
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    figure = figures[name]()
    try:
        for out in paths:
            dated = out.suffix.lower() in (".svg", ".pdf")
            figure.savefig(out, dpi=dpi, bbox_inches="tight", metadata={"Date": None} if dated else None)
    finally:
        plt.close(figure)
