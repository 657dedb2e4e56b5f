"""The book's experiments: data choices, flows, SVM solves and sweeps, one module per chapter.

Results are frozen (read-only arrays, frozen dataclasses) and computed once per process through the one cache
layer in :mod:`attnbook.experiments._store`. Drawing lives in :mod:`attnbook.figures`; nothing here imports
matplotlib, so tests of a chapter's claims run without it.
"""
from attnbook.experiments._store import background

__all__ = ["background"]
