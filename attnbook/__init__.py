"""attnbook: the runtime of the executable textbook built on :mod:`attnlib` (installed with ``attnlib[book]``).

:mod:`attnlib` is the small library (model, flows, SVMs, data, assumptions, diagnostics, factorization, mirror
descent; numpy, scipy and cvxpy only). This package is what the book's chapters need on top of it:

* :mod:`attnbook.experiments` -- each chapter's computations (data choices, flows, SVM solves, sweeps; no
  matplotlib), the one cache and process pool (:mod:`attnbook.experiments._store`) and the prose helpers;
* :mod:`attnbook.figures` -- one module per chapter that draws the experiments' results;
* :mod:`attnbook.plots`, :mod:`attnbook.widgets` -- the book's plot style, sliders and their static twins;
* :mod:`attnbook.checks` -- self-checks of the numeric exercises (``checks.<label>(answer)``);
* :mod:`attnbook.student` -- the student edition (chapters without their solutions);
* ``python -m attnbook figures OUTDIR`` / ``python -m attnbook student-edition OUTDIR`` -- the command line.

Importing this package imports nothing else; a chapter imports the modules it uses
(``from attnbook import plots, widgets``, ``from attnbook.experiments import ch1``).
"""
