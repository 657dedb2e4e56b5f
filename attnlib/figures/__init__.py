"""Figure functions of the book, one module per chapter; ``python -m attnlib figures OUTDIR`` renders them all.

Each chapter module defines ``FIGURES: dict[str, Callable[[], matplotlib.figure.Figure]]``: zero-argument
callables (defaults = the book's settings) that return the finished figure the chapter shows.
"""
from __future__ import annotations

import importlib
from typing import Callable

CHAPTER_MODULES = ("ch1", "ch2", "ch3", "ch4", "ch5", "ch6", "ch7", "intro", "numerics", "studies")


def registry() -> dict[str, Callable]:
    """All figures of the book by name (``"<module>.<figure>"``), in chapter order."""
    out: dict[str, Callable] = {}
    for mod_name in CHAPTER_MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{mod_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{mod_name}":
                continue  # chapter not written yet
            raise
        for name, func in getattr(mod, "FIGURES", {}).items():
            out[f"{mod_name}.{name}"] = func
    return out
