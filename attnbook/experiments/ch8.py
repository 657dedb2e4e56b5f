"""Chapter 8, "The research around the paper": the small experiments that place the paper among its neighbours.

* initialization scale vs training accuracy (diagonal networks): the ``(xi_k, xi_q)``-flow of chapter 3 from
  init (5) with ``omega_0 = scale * 1`` for several scales (the flows of chapter 3's lock-on table, to
  ``t = e^(1e300)`` through the margin frame), distances of ``beta/mu`` to the l1 and l2 SVMs, and the excess loss
  at which the direction locks on to the l1 solution (chapter 3's lock-on, one definition for both chapters);
* the rate after lock-on: the off-support coordinate of ``beta/mu`` decays like ``mu^((B lambda*)_j - 1)``;
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
from attnlib.svm import solve_svm
from ._store import memo, pool_map
from .diagonal_studies import LOCK_ON_TOL, lock_on_table, xi_frame_flow
from .shared import WEIGHTS_SEED, WEIGHTS_SHAPE, generic_demo, generic_w_flow

OMEGA0 = (0.03, 0.1, 0.3, 1.0, 3.0)
#: The flows are chapter 3's (:func:`attnbook.experiments.diagonal_studies.xi_frame_flow`): to ln t = 1e300 at the
#: tolerance of its lock-on table, so both chapters read one computation.
LOG_T_END = 1e300
XI_RTOL = 1e-6
#: "Locked on": the relative distance to the l1 solution stays below this from then on (chapter 3's definition).
LOCK_TOL = LOCK_ON_TOL
#: The window of ln t in which :func:`lock_on_rate` fits the decay after lock-on.
LOCKED_WINDOW = (1e6, 1e10)
RATE_WINDOW = (30.0, 1e3)
MIRROR_P = (1.5, 2.0, 3.0)
MIRROR_STEPS = 800
MIRROR_LR = 0.2


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
    traj = xi_frame_flow(omega0, LOG_T_END, XI_RTOL)
    return XiScaleFlow(log_t=traj.log_t, margin=traj.margin, beta=np.einsum("mjj->mj", traj.W),
                       log_excess=traj.log_excess_loss, nfev=traj.nfev)


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
    lock_log_mu, lock_log_t : float
        ``ln mu`` and ``ln t`` from which on ``dist_l1 < LOCK_TOL``: chapter 3's lock-on
        (:func:`attnbook.experiments.diagonal_studies.lock_on_table`, located on a dense grid); ``inf`` if never.
    lock_log_excess : float
        ``ln(L - L*)`` there (interpolated linearly in ``mu`` between the saved times); NaN if never.
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
    lock_log_t: float
    lock_log_excess: float
    min_dist_l2: float

    @property
    def locked(self) -> bool:
        """Whether the flow locks on within its horizon."""
        return bool(np.isfinite(self.lock_log_mu))


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
    """Flows from init (5) with ``omega_0 = scale * 1`` on chapter 3's data, to ``ln t = 1e300``, with chapter 3's
    lock-on (every scale must be a row of its table, ``diagonal_studies.OMEGA0_TABLE``).

    Returns
    -------
    InitScaleStudy
        Per scale (keyed by the scale) an :class:`InitScaleRun`.
    """
    data = make_diagonal_data()
    l1, l2 = np.array(solve_svm(data, "l1").beta), np.array(solve_svm(data, "l2").beta)
    table = {r.omega0: r for r in lock_on_table()}
    missing = [om for om in omega0 if float(om) not in table]
    if missing:
        raise ValueError(f"omega0 {missing} are not rows of chapter 3's lock-on table {tuple(table)}")
    runs = pool_map(_xi_run, [float(om) for om in omega0])
    out = {}
    for om, r in zip(omega0, runs):
        mu = r.margin
        with np.errstate(invalid="ignore", divide="ignore"):
            bhat = np.where((mu > 0)[:, None], r.beta / mu[:, None], np.nan)
        d1, d2 = _rel_dist(bhat, l1), _rel_dist(bhat, l2)
        lock = table[float(om)]
        ok = mu > 0
        excess = (float(np.interp(np.exp(lock.log_mu), mu[ok], r.log_excess[ok])) if np.isfinite(lock.log_mu)
                  else float("nan"))
        out[om] = InitScaleRun(log_t=r.log_t, margin=r.margin, beta=r.beta, log_excess=r.log_excess, nfev=r.nfev,
                               bhat=bhat, dist_l1=d1, dist_l2=d2, lock_log_mu=float(lock.log_mu),
                               lock_log_t=float(lock.log_t), lock_log_excess=excess,
                               min_dist_l2=float(np.nanmin(d2)))
    return InitScaleStudy(runs=out, l1=l1, l2=l2, omega0=np.array(omega0))


@dataclass(frozen=True)
class LockOnRate:
    """How fast the diagonal flow's direction approaches the l1 solution after it has locked on.

    Eq. (31) of the paper gives ``beta_hat_j = (omega_0^2 / 2) (mu^((B lambda)_j - 1) - mu^(-(B lambda)_j - 1))``
    with the certificate ``lambda(t) -> lambda*``, the l1-SVM's multipliers; an off-support coordinate therefore
    decays like ``mu^((B lambda*)_j - 1)``.

    Attributes
    ----------
    b_lambda : numpy.ndarray, shape (d,)
        ``B^T lambda*`` (``+-1`` on the support).
    coord : int
        The off-support coordinate with the largest ``|B^T lambda*|`` (the slowest to vanish).
    predicted : float
        ``|B^T lambda*|_coord - 1``.
    measured : dict omega_0 -> float
        Slope of ``ln |beta_hat_coord|`` against ``ln mu`` over ``ln t`` in ``window``, for each scale that has
        locked on before ``window[0]``.
    dist_slope : dict omega_0 -> float
        The same for the relative distance to the l1 solution.
    window : tuple of two floats
    """

    b_lambda: np.ndarray
    coord: int
    predicted: float
    measured: dict[float, float]
    dist_slope: dict[float, float]
    window: tuple


@memo
def lock_on_rate(window: tuple = LOCKED_WINDOW) -> LockOnRate:
    """The decay after lock-on of :func:`init_scale`'s flows, measured against the l1-SVM's multipliers.

    Returns
    -------
    LockOnRate
    """
    data = make_diagonal_data()
    sol = solve_svm(data, "l1")
    bl = data.B.T @ np.asarray(sol.dual)
    support = np.abs(np.asarray(sol.beta)) > 1e-6 * np.abs(sol.beta).max()
    off = np.flatnonzero(~support)
    coord = int(off[np.argmax(np.abs(bl[off]))])
    measured, dist_slope = {}, {}
    for om, run in init_scale().runs.items():
        if not run.lock_log_t < window[0]:
            continue
        sel = (run.log_t >= window[0]) & (run.log_t <= window[1])
        x = np.log(run.margin[sel])
        measured[om] = float(np.polyfit(x, np.log(np.abs(run.bhat[sel, coord])), 1)[0])
        dist_slope[om] = float(np.polyfit(x, np.log(run.dist_l1[sel]), 1)[0])
    return LockOnRate(b_lambda=bl, coord=coord, predicted=float(abs(bl[coord]) - 1.0), measured=measured,
                      dist_slope=dist_slope, window=tuple(window))


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
