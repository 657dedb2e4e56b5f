"""The intro's teaser: the same data, two parameterisations, two limit directions.

The chapter's computations (no drawing: :mod:`attnbook.figures.intro` draws them).
"""
from __future__ import annotations

import numpy as np

from attnlib.data import make_diagonal_data, make_generic_data
from attnlib.diagnostics import singular_values
from attnlib.flow import default_init, gradient_flow
from attnlib.svm import solve_svm
from ._store import memo
from .diagonal_studies import LOCK_ON_TOL, crossing

TEASER_DATA = dict(n=3, L=3, d=4, seed=2, equal_scores=True)  # nuclear SVM solution has rank 1 here


#: How far the teaser's flows run: log t = 1e6, past the xi-flow's lock-on to the l1-SVM (ln t ~ 2.8e5).
TEASER_LOG_T_END = 1e6
#: Saved times (log t) where the intro quotes numbers: ln t = 6, t = 1e10, t = 1e300, ln t = 1e4, 1e5.
TEASER_MARKS = (6.0, float(np.log(1e10)), float(np.log(1e300)), 1e4, 1e5)


def compute_teaser(t_end: float | None = None, log_t_end: float = TEASER_LOG_T_END) -> dict:
    """Limit directions of the four flows at ``log t = log_t_end`` (or ``t = t_end``) and the four SVM solutions.

    Returns
    -------
    dict
        ``sv``: singular values (d,) of the margin-normalised limits of the "W" and "KQ" flows and of the
        "fro"/"nuc" SVM solutions (generic data ``TEASER_DATA``); ``beta``: margin-normalised limits (d,) of the
        "beta" and "xi" flows and the "l2"/"l1" SVM solutions (the book's diagonal data); ``cos`` and ``dist``:
        cosine and relative distance ``||W/mu - W_svm|| / ||W_svm||`` of each flow's final direction with its
        predicted SVM solution and with the other one; ``curves``: per flow ``(log_t, cos_own, cos_other)`` for
        ``t > 1``; ``dist_curves``: per flow ``(log_t, dist_own, dist_other)`` (NaN while the margin is below 0.1); ``bhat_path``: for "beta"/"xi"
        ``beta(t)/mu(t)`` (m, d) on the same times; ``log_t_end``.
    """
    lt_end = float(np.log(t_end)) if t_end is not None else float(log_t_end)
    return _compute_teaser(lt_end)


@memo
def _compute_teaser(log_t_end: float) -> dict:
    gen = make_generic_data(**TEASER_DATA)
    diag = make_diagonal_data()
    out: dict = {"sv": {}, "beta": {}, "cos": {}, "dist": {}, "curves": {}, "dist_curves": {}, "log_t_end": log_t_end}
    runs = {"W": (gen, np.zeros((gen.d, gen.d)), "fro", "nuc"),
            "KQ": (gen, default_init(gen, "KQ", 0.01, seed=0), "nuc", "fro"),
            "beta": (diag, np.zeros(diag.d), "l2", "l1"),
            "xi": (diag, default_init(diag, "xi", 0.1, seed=None), "l1", "l2")}
    grid = np.unique(np.concatenate([[-np.inf], np.expm1(np.linspace(0.0, np.log1p(log_t_end), 300)),
                                     [m for m in TEASER_MARKS if m < log_t_end]]))
    for param, (data, init, own, other) in runs.items():
        traj = gradient_flow(data, param, init, log_t_end=log_t_end, log_t_eval=grid)
        W_hat = traj.direction()[-1]
        sol_own, sol_other = solve_svm(data, own), solve_svm(data, other)
        own_cos, other_cos = traj.cosine_to(sol_own.W), traj.cosine_to(sol_other.W)
        late = traj.log_t > 0.01  # t > 1: plotted against ln t on a log axis
        mu = traj.margin[late]
        # W / mu is a direction only once the margin is clearly positive (K, Q start with mu < 0)
        W_mu = np.where((mu > 0.1)[:, None, None], traj.W[late] / np.where(mu > 0.1, mu, 1.0)[:, None, None], np.nan)
        own_d, other_d = (np.linalg.norm(W_mu - s.W, axis=(1, 2)) / np.linalg.norm(s.W) for s in (sol_own, sol_other))
        out["cos"][param] = (own_cos[-1], other_cos[-1])
        out["dist"][param] = (float(own_d[-1]), float(other_d[-1]))
        out["curves"][param] = (traj.log_t[late], own_cos[late], other_cos[late])
        out["dist_curves"][param] = (traj.log_t[late], own_d, other_d)
        if param in ("beta", "xi"):
            out.setdefault("bhat_path", {})[param] = np.einsum("mjj->mj", W_mu)
        if param in ("W", "KQ"):
            out["sv"][param] = singular_values(W_hat)
            out["sv"][own] = singular_values(sol_own.W)
        else:
            out["beta"][param] = np.diag(traj.W[-1]) / traj.margin[-1]
            out["beta"][own] = sol_own.beta
    return out


def teaser_at(flow: str, log_t: float) -> dict:
    """The teaser's ``flow`` at the saved time nearest ``log_t``: ``log_t``, ``cos``/``dist`` (own, other) and,
    for "beta"/"xi", ``bhat`` (d,) = ``beta / mu`` and its l1 norm ``l1_norm``."""
    res = compute_teaser()
    x, c_own, c_other = res["curves"][flow]
    _, d_own, d_other = res["dist_curves"][flow]
    k = int(np.argmin(np.abs(x - log_t)))
    out = {"log_t": float(x[k]), "cos": (float(c_own[k]), float(c_other[k])), "dist": (float(d_own[k]), float(d_other[k]))}
    if flow in ("beta", "xi"):
        bhat = res["bhat_path"][flow][k]
        out.update(bhat=bhat, l1_norm=float(np.abs(bhat).sum()))
    return out


def teaser_lock_on(tol: float = LOCK_ON_TOL) -> float:
    """``log t`` at which the teaser's ``(xi_k, xi_q)``-flow locks on to the l1-SVM solution.

    The last time the relative distance of ``beta / mu`` to the l1 solution falls below ``tol`` for good
    (chapter 3's definition, :data:`attnbook.experiments.diagonal_studies.LOCK_ON_TOL`), interpolated linearly in
    ``(log log t, log dist)`` between saved times.

    Returns
    -------
    float
        ``log t`` of the lock-on; ``inf`` if the flow is not below ``tol`` at its last saved time.
    """
    if not isinstance(tol, (int, float)) or not 0.0 < tol < 1.0:
        raise ValueError(f"tol must be a number in (0, 1); got {tol!r}")
    x, dist, _ = compute_teaser()["dist_curves"]["xi"]
    # NaN (margin still small) counts as "not locked on"; the teaser's grid is fine enough near the lock-on
    # (chapter 3's coarser one needs refined_lock_on), and a test checks that the two agree
    return float(np.exp(crossing(np.log(x), dist, tol)))
