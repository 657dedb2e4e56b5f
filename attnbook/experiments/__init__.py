"""The book's experiments: data choices, flows, SVM solves and sweeps, one module per chapter.

Results are frozen (read-only arrays, frozen dataclasses) and computed once per process through the one cache
layer in :mod:`attnbook.experiments._store`, which also reads the studies artifact (``_build/studies``, written by
``python -m attnbook studies``). Drawing lives in :mod:`attnbook.figures`; nothing here imports matplotlib, so
tests of a chapter's claims run without it.
"""
from attnbook.experiments._store import (STUDIES_ENV, StudiesArtifactWarning, WorkerPoolError, background,
                                         disk_cache_paused, fingerprint, process_context, shutdown_now,
                                         sources_unchanged, studies_dir, usable_cores, writing_studies)

__all__ = ["STUDIES_ENV", "StudiesArtifactWarning", "WorkerPoolError", "background", "disk_cache_paused",
           "fingerprint", "process_context", "shutdown_now", "sources_unchanged",
           "studies_dir", "usable_cores", "writing_studies"]
