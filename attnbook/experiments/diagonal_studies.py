"""Studies of the diagonal model beyond ``log t = 1e6``: when the (xi_k, xi_q)-flow locks on to the l1-SVM.

Chapter 3's headline flow (omega_0 = 0.1) leaves the sparse detour and **locks on** to the l1-SVM solution near
``ln mu = 13``; smaller initial scales need the margin frame (:mod:`attnlib.frame`) to get there. This module
measures the lock-on for a range of initial scales (chapter 3's table), the growth exponent of the second
coordinate on the detour (which explains the lock-on's dependence on omega_0), and the same flows on a common
grid for the intro's teaser and chapter 4's residual figure.

Flows are exact gradient flow at rtol 1e-8, the lock-on table's at 1e-6 (which moves the lock-on by < 0.05 in ln mu);
numbers at a horizon are measurements, not proofs. Results are frozen (:func:`attnbook.experiments._store.memo`);
the per-omega_0 flows run on the process pool (:func:`attnbook.experiments._store.pool_map`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib import data as _data
from attnlib._validate import check_scalar
from attnlib.flow import Trajectory, default_init, gradient_flow
from attnlib.svm import solve_svm
from ._store import memo, pool_map

__all__ = ["OMEGA0_TABLE", "LOCK_ON_TOL", "LOG_T_1E300", "LockOn", "DetourExponent", "xi_frame_flow",
           "crossing", "lock_on", "lock_on_table", "lock_on_slope", "detour_exponent",
           "refined_lock_on", "locate_lock_on", "REFINE_POINTS", "OMEGA0_LADDER", "LockOnTheory", "lock_on_theory"]

#: Initial scales of chapter 3's lock-on table (and of its widget).
OMEGA0_TABLE = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
#: "Locked on": the relative distance of beta_hat = beta / mu to the l1-SVM solution stays below this for good.
LOCK_ON_TOL = 1e-3
#: log t at t = 1e300.
LOG_T_1E300 = float(np.log(1e300))


def _grid(log_t_end: float, n_points: int) -> np.ndarray:
    """Saved times (log t): 0, then log-spaced from 1e-2 to ``log_t_end``, plus t = 1e300 and 1e4, 1e5, 1e6."""
    extra = [x for x in (LOG_T_1E300, 1e4, 1e5, 1e6) if x < log_t_end]
    return np.unique(np.concatenate([[-np.inf], np.geomspace(1e-2, log_t_end, n_points), extra]))


@memo
def xi_frame_flow(omega0: float, log_t_end: float = 1e300, rtol: float = 1e-8, n_points: int = 2500) -> Trajectory:
    """Gradient flow on ``(xi_k, xi_q)`` on the book's diagonal data from init (5), ``omega_0 = omega0 * 1``.

    Beyond ``log t = 1e6`` :func:`attnlib.gradient_flow` continues in the margin frame. Saved at ``n_points``
    log-spaced values of ``log t`` (plus 1e300, 1e4, 1e5, 1e6 when inside the range).
    """
    omega0 = check_scalar(omega0, "omega0", lo=0.0, lo_open=True)
    data = _data.make_diagonal_data()
    return gradient_flow(data, "xi", default_init(data, "xi", omega0, seed=None), log_t_end=float(log_t_end),
                         log_t_eval=_grid(float(log_t_end), int(n_points)), rtol=float(rtol))


def _beta_hat(traj: Trajectory) -> np.ndarray:
    beta = np.einsum("mjj->mj", traj.W)
    mu = np.where(traj.margin > 0, traj.margin, np.nan)
    return beta / mu[:, None]


def _rel_dist(bh: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.linalg.norm(bh - ref, axis=-1) / np.linalg.norm(ref)


def _l1_solution() -> np.ndarray:
    """The l1-SVM solution of the book's diagonal data, (d,)."""
    return np.array(solve_svm(_data.make_diagonal_data(), "l1").beta, dtype=float)


@dataclass(frozen=True)
class LockOn:
    """When the xi-flow from ``omega_0`` locks on to the l1-SVM solution (distance < ``LOCK_ON_TOL`` for good).

    Attributes
    ----------
    omega0 : float
    log_mu, log_t : float
        ``ln mu`` and ``log t`` at the last crossing of ``LOCK_ON_TOL``, located on a dense grid inside the bracket
        of the coarse one (:func:`refined_lock_on`); ``inf`` if the flow is not locked on at its end.
    dist_1e300, dist_1e6, dist_end : float
        Relative distance of ``beta_hat`` to the l1-SVM solution at t = 1e300, ``log t = 1e6`` and the end.
    log_t_end : float
    """

    omega0: float
    log_mu: float
    log_t: float
    dist_1e300: float
    dist_1e6: float
    dist_end: float
    log_t_end: float


def _crossing(x: np.ndarray, dist: np.ndarray, tol: float) -> float:
    """``x`` where ``dist`` last falls below ``tol`` for good (log-linear interpolation); ``inf`` if never."""
    above = np.where(~(dist < tol))[0]
    if len(above) == 0:
        return float(x[0])
    k = above[-1]
    if k == len(dist) - 1:
        return float("inf")
    d0, d1 = np.log(dist[k]), np.log(dist[k + 1])
    w = (d0 - np.log(tol)) / (d0 - d1)
    return float(x[k] + w * (x[k + 1] - x[k]))


def crossing(x: np.ndarray, dist: np.ndarray, tol: float = LOCK_ON_TOL) -> float:
    """Where ``dist`` falls below ``tol`` for good, as a value of ``x`` (the lock-on criterion of :class:`LockOn`).

    Parameters
    ----------
    x : array, shape (m,)
        Increasing abscissae (e.g. ``ln mu`` or ``ln log t`` at the saved times).
    dist : array, shape (m,)
        Positive distances; interpolated log-linearly between the last saved time above ``tol`` and the next.
    tol : float, default LOCK_ON_TOL

    Returns
    -------
    float
        ``x[0]`` if ``dist`` is below ``tol`` throughout, ``inf`` if it is not below ``tol`` at the end.
    """
    x, dist = np.asarray(x, dtype=float), np.asarray(dist, dtype=float)
    if x.shape != dist.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError(f"x and dist must be 1-d arrays of one non-zero length; got shapes {x.shape} and {dist.shape}")
    tol = check_scalar(tol, "tol", lo=0.0, lo_open=True)
    return _crossing(x, dist, tol)


#: Saved times in the bracket of the last crossing when the lock-on is located again (see :func:`refined_lock_on`).
REFINE_POINTS = 400


def refined_lock_on(omega0: float, lo: float, hi: float, rtol: float, l1: np.ndarray | None = None,
                    tol: float = LOCK_ON_TOL) -> tuple[float, float]:
    """``(log t, ln mu)`` of the lock-on, located on :data:`REFINE_POINTS` saved times log-spaced in ``[lo, hi]``.

    The direction drops onto the l1 solution abruptly: between two saved times of a coarse grid (a factor 1.3 in
    ``log t`` for the 2,500 points to 1e300 of :func:`xi_frame_flow`) the distance falls by orders of magnitude, and
    interpolating across that gap placed the crossing 6 % early (2.6e5 instead of 2.76e5 for ``omega_0 = 0.1``). So
    the flow is run again to ``hi`` and saved densely inside the bracket ``[lo, hi]`` found on the coarse grid.
    """
    data = _data.make_diagonal_data()
    l1 = _l1_solution() if l1 is None else l1
    traj = gradient_flow(data, "xi", default_init(data, "xi", float(omega0), seed=None), log_t_end=float(hi),
                         log_t_eval=np.geomspace(float(lo), float(hi), REFINE_POINTS), rtol=float(rtol))
    dist = _rel_dist(_beta_hat(traj), l1)
    ok = traj.margin > 1.0
    x = float(np.exp(_crossing(np.log(traj.log_t[ok]), dist[ok], tol)))
    return x, _crossing(np.log(traj.margin[ok]), dist[ok], tol)


def _bracket(log_t: np.ndarray, dist: np.ndarray, tol: float = LOCK_ON_TOL) -> tuple[float, float] | None:
    """The saved times ``(lo, hi)`` around the last crossing of ``tol`` (``None``: below throughout, or not at the
    end)."""
    above = np.flatnonzero(~(dist < tol))
    if len(above) == 0 or above[-1] == len(dist) - 1:
        return None
    k = int(above[-1])
    return float(log_t[k]), float(log_t[k + 1])


def locate_lock_on(omega0: float, log_t: np.ndarray, log_mu: np.ndarray, dist: np.ndarray, rtol: float,
                   l1: np.ndarray | None = None, tol: float = LOCK_ON_TOL) -> tuple[float, float]:
    """``(log t, ln mu)`` of the lock-on of the xi-flow from ``omega0``, from its saved ``log_t``, ``log_mu`` and
    distance ``dist`` to the l1 solution (each (m,), on a coarse grid of ``log t``).

    The last crossing of ``tol`` is located again on a dense grid inside its bracket (:func:`refined_lock_on`,
    same ``rtol``). Where there is no bracket the coarse grid answers: the first saved time if ``dist`` is below
    ``tol`` throughout, ``inf`` if it is not below ``tol`` at the end.
    """
    tol = check_scalar(tol, "tol", lo=0.0, lo_open=True)
    bracket = _bracket(log_t, dist, tol)
    if bracket is None:
        return float(np.exp(_crossing(np.log(log_t), dist, tol))), _crossing(log_mu, dist, tol)
    return refined_lock_on(omega0, *bracket, rtol=rtol, l1=l1, tol=tol)


def _lock_on_row(args: tuple) -> LockOn:
    """One row of the table; ``args = (omega0, log_t_end, rtol, l1)`` with the l1-SVM solution ``l1`` solved by the
    caller (workers only integrate: a conic solver used before a fork can deadlock in the forked child)."""
    omega0, log_t_end, rtol, l1 = args
    traj = xi_frame_flow(omega0, log_t_end, rtol)
    dist = _rel_dist(_beta_hat(traj), l1)
    ok = traj.margin > 1.0
    lt, lmu, dist = traj.log_t[ok], np.log(traj.margin[ok]), dist[ok]

    def at(v: float) -> float:
        return float(dist[np.argmin(np.abs(lt - v))]) if v <= lt[-1] * 1.0001 else float("nan")

    log_t, log_mu = locate_lock_on(omega0, lt, lmu, dist, rtol, l1=l1)
    return LockOn(omega0=float(omega0), log_mu=log_mu, log_t=log_t,
                  dist_1e300=at(LOG_T_1E300), dist_1e6=at(1e6), dist_end=float(dist[-1]), log_t_end=float(lt[-1]))


def lock_on(omega0: float, log_t_end: float = 1e300, rtol: float = 1e-6) -> LockOn:
    """The lock-on of the xi-flow from ``omega0`` (see :class:`LockOn`)."""
    return _lock_on_row((float(omega0), float(log_t_end), float(rtol), _l1_solution()))


@memo
def lock_on_table(omegas: tuple[float, ...] = OMEGA0_TABLE, log_t_end: float = 1e300,
                  rtol: float = 1e-6) -> tuple[LockOn, ...]:
    """:class:`LockOn` for each initial scale in ``omegas`` (flows run on the process pool; rtol 1e-6 moves the
    lock-on by < 0.05 in ln mu against 1e-8, a test checks it)."""
    if len(omegas) == 0:
        raise ValueError("omegas must name at least one initial scale; got an empty tuple")
    l1 = _l1_solution()
    return tuple(pool_map(_lock_on_row, [(float(om), float(log_t_end), float(rtol), l1) for om in omegas], workers=2))


def lock_on_slope(table: tuple[LockOn, ...] | None = None, max_omega0: float = 0.3) -> tuple[float, float]:
    """Least-squares line ``ln mu_lock = a ln(1/omega_0^2) + b`` over the rows with ``omega_0 <= max_omega0``.

    Returns
    -------
    (a, b) : slope and intercept.
    """
    rows = [r for r in (table or lock_on_table()) if r.omega0 <= max_omega0 and np.isfinite(r.log_mu)]
    if len(rows) < 2:
        raise ValueError(f"need at least two locked-on rows with omega0 <= {max_omega0}; got {len(rows)}")
    x = np.array([np.log(1 / r.omega0 ** 2) for r in rows])
    y = np.array([r.log_mu for r in rows])
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)


@dataclass(frozen=True)
class DetourExponent:
    """The growth exponent ``d ln beta_2 / d ln mu`` of the second coordinate on the sparse detour.

    Attributes
    ----------
    measured : float
        Median of ``d ln beta_2 / d ln mu`` over the saved times with ``log t`` in the window.
    spread : float
        Its max - min there.
    predicted : float
        ``B_a2 / B_a1`` of the active pair ``a``.
    active : int
        The pair index ``a`` (the smallest normalised margin at the window's midpoint).
    others_slack : float
        The smallest slack ``B_k beta_hat - 1`` of the other pairs there (> 0: only ``a`` is active).
    """

    measured: float
    spread: float
    predicted: float
    active: int
    others_slack: float


@memo
def detour_exponent(omega0: float = 0.01, window: tuple[float, float] = (1e2, 1e6)) -> DetourExponent:
    """Growth of the second coordinate on the sparse detour, measured and predicted.

    On the detour one constraint ``a`` is active and carries the certificate, so by the sinh closed form
    ``ln beta_j ~ (B phi)_j ~ phi_a B_aj`` and ``ln beta_2 / ln beta_1 -> B_a2 / B_a1``: with ``beta_1 ~ mu``,
    ``d ln beta_2 / d ln mu -> B_a2 / B_a1`` (9/7 on the book's data), and ``beta_hat_2`` grows like
    ``mu^(B_a2/B_a1 - 1)``.

    Returns
    -------
    DetourExponent
    """
    data = _data.make_diagonal_data()
    # the flow only to 10x the window's end (not to 1e300: under a rounding-sized perturbation the rtol-1e-8 flow
    # from omega_0 = 0.01 can overflow float64 there, and the window needs no more)
    traj = xi_frame_flow(omega0, 10.0 * float(window[1]))
    lt = traj.log_t
    sel = (lt >= window[0]) & (lt <= window[1])
    if sel.sum() < 5:
        raise ValueError(f"window {window} holds fewer than 5 saved times of the flow")
    idx = np.where(sel)[0]
    beta2 = np.abs(np.einsum("mjj->mj", traj.W)[idx[0] - 1:idx[-1] + 2, 1])
    slope = np.gradient(np.log(beta2), np.log(traj.margin[idx[0] - 1:idx[-1] + 2]))[1:-1]
    mid = idx[np.argmin(np.abs(np.log(lt[idx]) - 0.5 * np.log(window[0] * window[1])))]
    slack = data.B @ _beta_hat(traj)[mid] - 1.0
    a = int(np.argmin(slack))
    return DetourExponent(measured=float(np.median(slope)), spread=float(slope.max() - slope.min()),
                          predicted=float(data.B[a, 1] / data.B[a, 0]), active=a,
                          others_slack=float(np.delete(slack, a).min()))


#: Initial scales of the lock-on's small-omega_0 slope (:func:`lock_on_theory`): the table's four smallest and two
#: more, where the detour's asymptotics (omega_0 -> 0) hold.
OMEGA0_LADDER = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001)


@dataclass(frozen=True)
class LockOnTheory:
    """The sparse detour and the lock-on predicted from the data (omega_0 -> 0), beside the measured ones.

    The prediction, derived in chapter 3: at ``beta = 0`` every pair carries the same weight, so
    ``-grad L(0)`` is parallel to ``u = sum_il B_il`` and, while attention stays near uniform, the closed form gives
    ``arcsinh(beta_j / omega_0^2) = phi_0 u_j``. When ``beta_1`` reaches order 1 the second coordinate is therefore
    ``ln beta_2 = -(1 - r) ln(1/omega_0^2) + O(1)``, ``r = u_2 / u_1`` (the *depth* of the detour). On the detour
    one pair ``a`` (the smallest ``B_il,1``) carries the certificate, so ``ln beta_2`` grows like ``rho ln mu``,
    ``rho = B_a2 / B_a1``, and ``beta_hat_2`` like ``mu^(rho - 1)``; it reaches the l1 solution's ``beta*_2`` at
    ``ln mu_lock = (1 - r) / (rho - 1) ln(1/omega_0^2) + O(1)``.

    Attributes
    ----------
    u : numpy.ndarray, shape (d,)
        ``sum_il B_il``.
    grad0_cos : float
        Cosine of ``-grad L(0)`` with ``u`` (1: parallel).
    r : float
        ``u_2 / u_1``.
    active : int
        The detour's active pair ``a = argmin_il B_il,1`` (row of ``data.B``).
    rho : float
        ``B_a2 / B_a1`` (9/7 on the book's data).
    depth_slope : float
        Predicted ``d ln beta_hat_2,min / d ln(1/omega_0^2) = -(1 - r)``.
    slope : float
        Predicted ``d ln mu_lock / d ln(1/omega_0^2) = (1 - r) / (rho - 1)`` (2.29).
    omegas : numpy.ndarray, shape (k,)
        The initial scales (:data:`OMEGA0_LADDER`), decreasing.
    x : numpy.ndarray, shape (k,)
        ``ln(1/omega_0^2)``.
    log_mu : numpy.ndarray, shape (k,)
        Measured lock-on ``ln mu`` (:class:`LockOn`).
    bhat2_min : numpy.ndarray, shape (k,)
        Measured smallest ``beta_hat_2 = beta_2 / mu`` after the margin turns positive (``mu > 1``): the depth of the
        detour.
    lock_slopes, depth_slopes : numpy.ndarray, shape (k - 1,)
        Local slopes between consecutive ``omegas`` of ``log_mu`` and of ``ln bhat2_min`` against ``x``.
    fit_slope : float
        Least-squares slope of ``log_mu`` against ``x`` over the table's ``omega_0 <= 0.3`` (:func:`lock_on_slope`).
    """

    u: np.ndarray
    grad0_cos: float
    r: float
    active: int
    rho: float
    depth_slope: float
    slope: float
    omegas: np.ndarray
    x: np.ndarray
    log_mu: np.ndarray
    bhat2_min: np.ndarray
    lock_slopes: np.ndarray
    depth_slopes: np.ndarray
    fit_slope: float


def _detour_depth(omega0: float, log_t_end: float = 100.0, n_points: int = 800) -> float:
    """Smallest ``beta_hat_2`` of the xi-flow from ``omega0`` once ``mu > 1`` (the detour's start), to ``log_t_end``."""
    traj = xi_frame_flow(float(omega0), float(log_t_end), 1e-8, int(n_points))
    ok = traj.margin > 1.0
    return float(np.min(_beta_hat(traj)[ok, 1]))


@memo
def lock_on_theory(omegas: tuple[float, ...] = OMEGA0_LADDER) -> LockOnTheory:
    """The detour's depth and the lock-on slope, predicted from ``B`` and measured on :data:`OMEGA0_LADDER`.

    Lock-on times come from :func:`lock_on_table`: the chapter's table where it has the ``omega_0``, a second table
    (same rtol 1e-6, on the process pool) for the others. The depth from flows to ``log t = 100`` (the detour's
    start lies near ``log t = 10`` for every ``omega_0`` of the ladder), saved at 800 log-spaced times.

    Returns
    -------
    LockOnTheory
    """
    from attnlib.model import cosine, loss_grad_beta

    omegas = tuple(sorted((float(om) for om in omegas), reverse=True))
    if len(omegas) < 2:
        raise ValueError(f"omegas must name at least two initial scales; got {omegas!r}")
    data = _data.make_diagonal_data()
    B = data.B
    u = B.sum(axis=0)
    r = float(u[1] / u[0])
    a = int(np.argmin(B[:, 0]))
    rho = float(B[a, 1] / B[a, 0])
    table = {r_.omega0: r_ for r_ in lock_on_table()}
    missing = tuple(om for om in omegas if om not in table)
    if missing:
        table.update({r_.omega0: r_ for r_ in lock_on_table(missing)})
    rows = [table[om] for om in omegas]
    x = np.log(1.0 / np.array(omegas) ** 2)
    log_mu = np.array([row.log_mu for row in rows])
    depth = np.array([_detour_depth(om) for om in omegas])
    fit, _ = lock_on_slope()
    return LockOnTheory(u=u, grad0_cos=float(cosine(-loss_grad_beta(data, np.zeros(data.d)), u)), r=r, active=a,
                        rho=rho, depth_slope=-(1.0 - r), slope=(1.0 - r) / (rho - 1.0), omegas=np.array(omegas), x=x,
                        log_mu=log_mu, bhat2_min=depth, lock_slopes=np.diff(log_mu) / np.diff(x),
                        depth_slopes=np.diff(np.log(depth)) / np.diff(x), fit_slope=fit)
