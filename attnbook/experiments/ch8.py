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

from dataclasses import dataclass

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


@dataclass(frozen=True)
class XiScaleFlow:
    """The ``(xi_k, xi_q)``-flow from init (5) with one initial scale, to ``ln t = LOG_T_END`` (a worker's result).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
    margin : numpy.ndarray, shape (m,)
        ``mu(beta(t))``.
    beta : numpy.ndarray, shape (m, d)
        ``xi_k * xi_q``.
    log_excess : numpy.ndarray, shape (m,)
        ``ln(L - L*)``.
    nfev : int
        Gradient evaluations.
    """

    log_t: np.ndarray
    margin: np.ndarray
    beta: np.ndarray
    log_excess: np.ndarray
    nfev: int


def _xi_run(omega0: float) -> XiScaleFlow:
    data = make_diagonal_data()
    traj = gradient_flow(data, "xi", default_init(data, "xi", omega0, seed=None), log_t_end=LOG_T_END,
                         log_t_eval=_log_t_eval(LOG_T_END))
    beta = traj.params["xi_k"] * traj.params["xi_q"]
    return XiScaleFlow(log_t=traj.log_t, margin=traj.margin, beta=beta, log_excess=traj.log_excess_loss,
                       nfev=traj.nfev)


def _rel_dist(bhat: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.linalg.norm(bhat - ref, axis=-1) / np.linalg.norm(ref)


@dataclass(frozen=True)
class InitScaleRun:
    """One initial scale of :func:`init_scale`: the flow (as :class:`XiScaleFlow`) and its distances to the SVMs.

    Attributes
    ----------
    log_t, margin, beta, log_excess : numpy.ndarray, shapes (m,), (m,), (m, d), (m,)
        The flow, as in :class:`XiScaleFlow`.
    nfev : int
    bhat : numpy.ndarray, shape (m, d)
        ``beta / mu`` (NaN where ``mu <= 0``).
    dist_l1, dist_l2 : numpy.ndarray, shape (m,)
        Relative distance of ``bhat`` to the l1- and the l2-SVM solution.
    lock_log_mu, lock_log_excess : float
        ``ln mu`` and ``ln(L - L*)`` from which on ``dist_l1 < LOCK_TOL``; NaN if never.
    min_dist_l2 : float
        The closest approach to the l2 solution.
    """

    log_t: np.ndarray
    margin: np.ndarray
    beta: np.ndarray
    log_excess: np.ndarray
    nfev: int
    bhat: np.ndarray
    dist_l1: np.ndarray
    dist_l2: np.ndarray
    lock_log_mu: float
    lock_log_excess: float
    min_dist_l2: float


@dataclass(frozen=True)
class InitScaleStudy:
    """Initialization scale vs training accuracy on chapter 3's data.

    Attributes
    ----------
    runs : dict omega_0 -> InitScaleRun
        One flow per initial scale, in the order of ``omega0``.
    l1, l2 : numpy.ndarray, shape (d,)
        The l1- and l2-SVM solutions.
    omega0 : numpy.ndarray, shape (k,)
        The initial scales.
    """

    runs: dict
    l1: np.ndarray
    l2: np.ndarray
    omega0: np.ndarray


@memo
def init_scale(omega0: tuple = OMEGA0) -> InitScaleStudy:
    """Flows from init (5) with ``omega_0 = scale * 1`` to ``ln t = 1e5`` on chapter 3's data.

    Returns
    -------
    InitScaleStudy
        Per scale (keyed by the scale) an :class:`InitScaleRun`.
    """
    data = make_diagonal_data()
    l1, l2 = np.array(solve_svm(data, "l1").beta), np.array(solve_svm(data, "l2").beta)
    runs = pool_map(_xi_run, list(omega0))
    out = {}
    for om, r in zip(omega0, runs):
        mu = r.margin
        with np.errstate(invalid="ignore", divide="ignore"):
            bhat = np.where((mu > 0)[:, None], r.beta / mu[:, None], np.nan)
        d1, d2 = _rel_dist(bhat, l1), _rel_dist(bhat, l2)
        far = np.flatnonzero(~(d1 < LOCK_TOL))
        k = far[-1] + 1 if far.size else 0
        locked = k < len(d1)
        out[om] = InitScaleRun(log_t=r.log_t, margin=r.margin, beta=r.beta, log_excess=r.log_excess, nfev=r.nfev,
                               bhat=bhat, dist_l1=d1, dist_l2=d2,
                               lock_log_mu=float(np.log(mu[k])) if locked else np.nan,
                               lock_log_excess=float(r.log_excess[k]) if locked else np.nan,
                               min_dist_l2=float(np.nanmin(d2)))
    return InitScaleStudy(runs=out, l1=l1, l2=l2, omega0=np.array(omega0))


@dataclass(frozen=True)
class WRate:
    """How fast the W-flow's direction approaches the W_F-SVM: ``1 - cos(W(t), W_F)`` against ``ln t``.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
    gap : numpy.ndarray, shape (m,)
        ``1 - cos(W(t), W_F)``.
    slope : float
        Least-squares slope of ``ln gap`` against ``ln ln t`` on ``ln t`` in ``window``.
    window : tuple of two floats
        The fitting window of ``ln t``.
    gap_at : dict ln t -> float
        ``gap`` at the saved time nearest to ``ln t`` = 10, 100 and 1000.
    """

    log_t: np.ndarray
    gap: np.ndarray
    slope: float
    window: tuple
    gap_at: dict


@memo
def w_rate(window: tuple = RATE_WINDOW) -> WRate:
    """Slope of ``ln(1 - cos(W(t), W_F))`` against ``ln ln t`` along chapter 2's W-flow
    (:func:`attnbook.experiments.shared.generic_w_flow`), fitted on ``ln t`` in ``window`` (see :class:`WRate`)."""
    traj = generic_w_flow()
    x, gap = traj.log_t, 1 - traj.cosine_to(solve_svm(make_generic_data(*WEIGHTS_SHAPE, WEIGHTS_SEED), "fro").W)
    sel = (x >= window[0]) & (x <= window[1]) & (gap > 0)
    slope, _ = np.polyfit(np.log(x[sel]), np.log(gap[sel]), 1)
    return WRate(log_t=x, gap=gap, slope=float(slope), window=window,
                 gap_at={lt: float(gap[int(np.argmin(np.abs(x - lt)))]) for lt in (10.0, 100.0, 1000.0)})


def _mirror_run(p: float) -> tuple[np.ndarray, np.ndarray]:
    return mirror_descent(generic_demo(), p, lr=MIRROR_LR, steps=MIRROR_STEPS, save_every=10)


@dataclass(frozen=True)
class MirrorDescentRun:
    """One ``p`` of :func:`mirror`: normalised l_p mirror descent from ``W = 0``.

    Attributes
    ----------
    k : numpy.ndarray of int, shape (m,)
        The saved iterations.
    margin : numpy.ndarray, shape (m,)
        ``mu(W_k)``.
    dist : dict r -> numpy.ndarray, shape (m,)
        Relative distance of ``W_k / mu(W_k)`` to the l_r-SVM solution, for every ``r`` of the study.
    """

    k: np.ndarray
    margin: np.ndarray
    dist: dict


@dataclass(frozen=True)
class MirrorDescentStudy:
    """l_p mirror descent against the l_p attention SVMs on chapter 6's generic example.

    Attributes
    ----------
    runs : dict p -> MirrorDescentRun
    mutual : dict (p, r) -> float
        ``||W_p - W_r|| / ||W_r||`` of the SVM solutions.
    ps : numpy.ndarray, shape (k,)
    stationarity : numpy.ndarray, shape (k,)
        KKT residual of each l_p-SVM solution (:func:`attnlib.mirror.solve_lp_svm`).
    """

    runs: dict
    mutual: dict
    ps: np.ndarray
    stationarity: np.ndarray


@memo
def mirror(ps: tuple = MIRROR_P) -> MirrorDescentStudy:
    """l_p mirror descent from W = 0 on chapter 6's generic example, for each p: the relative distance of
    ``W_k / mu(W_k)`` to each l_p-SVM solution (``runs[p].dist[r]``, shape (m,)), and the SVMs' mutual distances."""
    data = generic_demo()
    svms = {p: solve_lp_svm(data, p) for p in ps}
    runs = pool_map(_mirror_run, list(ps))
    out = {}
    for p, (k, Ws) in zip(ps, runs):
        mu = np.array([margin(data, W) for W in Ws])
        with np.errstate(invalid="ignore", divide="ignore"):
            Wh = np.where((mu > 0)[:, None, None], Ws / mu[:, None, None], np.nan)
        dist = {r: np.linalg.norm(Wh - svms[r].W, axis=(1, 2)) / np.linalg.norm(svms[r].W) for r in ps}
        out[p] = MirrorDescentRun(k=k, margin=mu, dist=dist)
    mutual = {(p, r): float(np.linalg.norm(svms[p].W - svms[r].W) / np.linalg.norm(svms[r].W)) for p in ps for r in ps}
    return MirrorDescentStudy(runs=out, mutual=mutual, ps=np.array(ps),
                              stationarity=np.array([svms[p].stationarity for p in ps]))
