"""The intro's teaser: the same data, two parameterisations, two limit directions.

The chapter's computations (no drawing: :mod:`attnlib.figures.intro` draws them).
"""
from __future__ import annotations

import numpy as np

from ..data import make_diagonal_data, make_generic_data
from ..diagnostics import singular_values
from ..flow import default_init, gradient_flow
from ..svm import solve_svm
from ._store import memo

TEASER_DATA = dict(n=3, L=3, d=4, seed=2, equal_scores=True)  # nuclear SVM solution has rank 1 here


@memo
def compute_teaser(t_end: float = 1e300) -> dict:
    """Limit directions of the four flows at ``t_end`` and the four SVM solutions.

    Returns
    -------
    dict
        ``sv``: singular values (d,) of the margin-normalised limits of the "W" and "KQ" flows and of the
        "fro"/"nuc" SVM solutions (generic data ``TEASER_DATA``); ``beta``: margin-normalised limits (d,) of the
        "beta" and "xi" flows and the "l2"/"l1" SVM solutions (demo-1 data); ``cos``: cosine of each flow's
        limit with its predicted SVM solution and with the other one.
    """
    gen = make_generic_data(**TEASER_DATA)
    diag = make_diagonal_data()
    out: dict = {"sv": {}, "beta": {}, "cos": {}}
    runs = {"W": (gen, np.zeros((gen.d, gen.d)), "fro", "nuc"),
            "KQ": (gen, default_init(gen, "KQ", 0.01, seed=0), "nuc", "fro"),
            "beta": (diag, np.zeros(diag.d), "l2", "l1"),
            "xi": (diag, default_init(diag, "xi", 0.1, seed=None), "l1", "l2")}
    for param, (data, init, own, other) in runs.items():
        traj = gradient_flow(data, param, init, t_end=t_end)
        W_hat = traj.direction()[-1]
        sol_own, sol_other = solve_svm(data, own), solve_svm(data, other)
        own_cos, other_cos = traj.cosine_to(sol_own.W), traj.cosine_to(sol_other.W)
        out["cos"][param] = (own_cos[-1], other_cos[-1])
        late = traj.log_t > 0.01  # t > 1: plotted against ln t on a log axis
        out.setdefault("curves", {})[param] = (traj.log_t[late], own_cos[late], other_cos[late])
        if param in ("W", "KQ"):
            out["sv"][param] = singular_values(W_hat)
            out["sv"][own] = singular_values(sol_own.W)
        else:
            out["beta"][param] = np.diag(W_hat)
            out["beta"][own] = sol_own.beta
    return out
