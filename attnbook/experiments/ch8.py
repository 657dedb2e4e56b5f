"""Chapter 8, "The research around the paper": the small experiments that place the paper among its neighbours.

* initialization scale vs training accuracy (diagonal networks): the ``(xi_k, xi_q)``-flow of chapter 3 from
  init (5) with ``omega_0 = scale * 1`` for several scales, distances of ``beta/mu`` to the l1 and l2 SVMs, and the
  excess loss at which the direction locks on to the l1 solution;
* saddle-to-saddle: the same flows' coordinates, learned one at a time from a small scale;
* rates for the combined W: the measured decay of ``1 - cos(W(t), W_F)`` along the W-flow of chapter 2's setup;
* l_p mirror descent on W (p = 1.5, 2, 3) against the l_p attention SVMs (:mod:`attnlib.mirror`).

Results are frozen and computed once per process (:mod:`attnbook.experiments._store`).
"""
from __future__ import annotations

import numpy as np

from attnlib.data import make_diagonal_data, make_generic_data
from attnlib.mirror import mirror_descent, solve_lp_svm
from attnlib.model import margin
from attnlib.flow import default_init, gradient_flow
from attnlib.svm import solve_svm
from ._store import memo, pool_map
from .shared import WEIGHTS_SEED, WEIGHTS_SHAPE, generic_demo, generic_w_flow

OMEGA0 = (0.03, 0.1, 0.3, 1.0, 3.0)
LOG_T_END = 1e5
LOCK_TOL = 1e-2          # "locked on": the relative distance to the l1 solution stays below this from then on
RATE_WINDOW = (30.0, 1e3)
MIRROR_P = (1.5, 2.0, 3.0)
MIRROR_STEPS = 800
MIRROR_LR = 0.2


def _log_t_eval(log_t_end: float) -> np.ndarray:
    return np.unique(np.r_[-np.inf, np.linspace(-3.0, 0.0, 20)[:-1], np.geomspace(1.0, log_t_end, 240)])


def _xi_run(omega0: float) -> dict:
    data = make_diagonal_data()
    traj = gradient_flow(data, "xi", default_init(data, "xi", omega0, seed=None), log_t_end=LOG_T_END,
                         log_t_eval=_log_t_eval(LOG_T_END))
    beta = traj.params["xi_k"] * traj.params["xi_q"]
    return {"log_t": traj.log_t, "margin": traj.margin, "beta": beta, "log_excess": traj.log_excess_loss,
            "nfev": traj.nfev}


def _rel_dist(bhat: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.linalg.norm(bhat - ref, axis=-1) / np.linalg.norm(ref)


@memo
def init_scale(omega0: tuple = OMEGA0) -> dict:
    """Flows from init (5) with ``omega_0 = scale * 1`` to ``ln t = 1e5`` on chapter 3's data.

    Returns per scale (keyed by the scale): ``log_t``, ``margin``, ``beta`` (m, d), ``bhat`` (``beta/mu``, NaN
    where ``mu <= 0``), ``dist_l1``, ``dist_l2`` (relative), ``lock_log_mu`` / ``lock_log_excess`` (``ln mu`` and
    ``ln(L - L*)`` from which on ``dist_l1 < LOCK_TOL``; NaN if never) and ``min_dist_l2``.
    """
    data = make_diagonal_data()
    l1, l2 = np.array(solve_svm(data, "l1").beta), np.array(solve_svm(data, "l2").beta)
    runs = pool_map(_xi_run, list(omega0))
    out = {}
    for om, r in zip(omega0, runs):
        mu = r["margin"]
        with np.errstate(invalid="ignore", divide="ignore"):
            bhat = np.where((mu > 0)[:, None], r["beta"] / mu[:, None], np.nan)
        d1, d2 = _rel_dist(bhat, l1), _rel_dist(bhat, l2)
        far = np.flatnonzero(~(d1 < LOCK_TOL))
        k = far[-1] + 1 if far.size else 0
        locked = k < len(d1)
        out[om] = {**r, "bhat": bhat, "dist_l1": d1, "dist_l2": d2,
                   "lock_log_mu": float(np.log(mu[k])) if locked else np.nan,
                   "lock_log_excess": float(r["log_excess"][k]) if locked else np.nan,
                   "min_dist_l2": float(np.nanmin(d2))}
    return {"runs": out, "l1": l1, "l2": l2, "omega0": np.array(omega0)}


@memo
def w_rate(window: tuple = RATE_WINDOW) -> dict:
    """Slope of ``ln(1 - cos(W(t), W_F))`` against ``ln ln t`` along chapter 2's W-flow
    (:func:`attnbook.experiments.shared.generic_w_flow`), fitted on ``ln t`` in ``window``; also ``1 - cos`` times
    ``(ln t)^2`` there."""
    traj = generic_w_flow()
    x, gap = traj.log_t, 1 - traj.cosine_to(solve_svm(make_generic_data(*WEIGHTS_SHAPE, WEIGHTS_SEED), "fro").W)
    sel = (x >= window[0]) & (x <= window[1]) & (gap > 0)
    slope, _ = np.polyfit(np.log(x[sel]), np.log(gap[sel]), 1)
    return {"log_t": x, "gap": gap, "slope": float(slope), "window": window,
            "gap_at": {lt: float(gap[int(np.argmin(np.abs(x - lt)))]) for lt in (10.0, 100.0, 1000.0)}}


def _mirror_run(p: float) -> tuple[np.ndarray, np.ndarray]:
    return mirror_descent(generic_demo(), p, lr=MIRROR_LR, steps=MIRROR_STEPS, save_every=10)


@memo
def mirror(ps: tuple = MIRROR_P) -> dict:
    """l_p mirror descent from W = 0 on chapter 6's generic example, for each p: the relative distance of
    ``W_k / mu(W_k)`` to each l_p-SVM solution (``dist[p][r]``, shape (m,)), and the SVMs' mutual distances."""
    data = generic_demo()
    svms = {p: solve_lp_svm(data, p) for p in ps}
    runs = pool_map(_mirror_run, list(ps))
    out = {}
    for p, (k, Ws) in zip(ps, runs):
        mu = np.array([margin(data, W) for W in Ws])
        with np.errstate(invalid="ignore", divide="ignore"):
            Wh = np.where((mu > 0)[:, None, None], Ws / mu[:, None, None], np.nan)
        out[p] = {"k": k, "margin": mu,
                  "dist": {r: np.linalg.norm(Wh - svms[r].W, axis=(1, 2)) / np.linalg.norm(svms[r].W) for r in ps}}
    mutual = {(p, r): float(np.linalg.norm(svms[p].W - svms[r].W) / np.linalg.norm(svms[r].W)) for p in ps for r in ps}
    return {"runs": out, "mutual": mutual, "ps": np.array(ps),
            "stationarity": np.array([svms[p].stationarity for p in ps])}
