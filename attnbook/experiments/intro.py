"""The intro's teaser: the same data, two parameterisations, two limit directions.

The chapter's computations (no drawing: :mod:`attnbook.figures.intro` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib.assumptions import ASSUMPTIONS, check_assumptions
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


@dataclass(frozen=True)
class TeaserLimits:
    """The four flows of the teaser and the four SVM solutions they are compared with.

    Flows are named "W", "KQ" (generic data ``TEASER_DATA``), "beta" and "xi" (the book's diagonal data); SVM
    solutions "fro", "nuc", "l2" and "l1". Each flow's own SVM is the one the theory predicts for it ("W": "fro",
    "KQ": "nuc", "beta": "l2", "xi": "l1"), the other one that of its partner.

    Attributes
    ----------
    sv : dict of str to numpy.ndarray, shape (d,)
        Singular values of the margin-normalised limits of the "W" and "KQ" flows and of the "fro"/"nuc" SVM
        solutions.
    beta : dict of str to numpy.ndarray, shape (d,)
        Margin-normalised limits of the "beta" and "xi" flows and the "l2"/"l1" SVM solutions.
    cos, dist : dict of str to tuple of float
        Per flow, ``(own, other)``: cosine and relative distance ``||W/mu - W_svm|| / ||W_svm||`` of the flow's
        final direction with its predicted SVM solution and with the other one.
    curves : dict of str to tuple of numpy.ndarray, each shape (m,)
        Per flow ``(log_t, cos_own, cos_other)`` for ``t > 1``.
    dist_curves : dict of str to tuple of numpy.ndarray, each shape (m,)
        Per flow ``(log_t, dist_own, dist_other)`` on the same times (NaN while the margin is below 0.1).
    bhat_path : dict of str to numpy.ndarray, shape (m, d)
        For "beta" and "xi": ``beta(t) / mu(t)`` on the same times.
    log_t_end : float
        ``log t`` at the end of the flows.
    """

    sv: dict
    beta: dict
    cos: dict
    dist: dict
    curves: dict
    dist_curves: dict
    bhat_path: dict
    log_t_end: float


def compute_teaser(t_end: float | None = None, log_t_end: float = TEASER_LOG_T_END) -> TeaserLimits:
    """Limit directions of the four flows at ``log t = log_t_end`` (or ``t = t_end``) and the four SVM solutions.

    Returns
    -------
    TeaserLimits
        The flows' limits, cosines and distances to the SVM solutions, and their paths.
    """
    lt_end = float(np.log(t_end)) if t_end is not None else float(log_t_end)
    return _compute_teaser(lt_end)


@memo
def _compute_teaser(log_t_end: float) -> TeaserLimits:
    gen = make_generic_data(**TEASER_DATA)
    diag = make_diagonal_data()
    sv: dict = {}
    beta: dict = {}
    cos: dict = {}
    dist: dict = {}
    curves: dict = {}
    dist_curves: dict = {}
    bhat_path: dict = {}
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
        cos[param] = (own_cos[-1], other_cos[-1])
        dist[param] = (float(own_d[-1]), float(other_d[-1]))
        curves[param] = (traj.log_t[late], own_cos[late], other_cos[late])
        dist_curves[param] = (traj.log_t[late], own_d, other_d)
        if param in ("beta", "xi"):
            bhat_path[param] = np.einsum("mjj->mj", W_mu)
        if param in ("W", "KQ"):
            sv[param] = singular_values(W_hat)
            sv[own] = singular_values(sol_own.W)
        else:
            beta[param] = np.diag(traj.W[-1]) / traj.margin[-1]
            beta[own] = sol_own.beta
    return TeaserLimits(sv=sv, beta=beta, cos=cos, dist=dist, curves=curves, dist_curves=dist_curves,
                        bhat_path=bhat_path, log_t_end=log_t_end)


@dataclass(frozen=True)
class TeaserPoint:
    """One teaser flow at one saved time (:func:`teaser_at`).

    Attributes
    ----------
    log_t : float
        The saved time used (the one nearest the time asked for).
    cos, dist : tuple of float
        ``(own, other)``: cosine and relative distance of ``W / mu`` with the flow's predicted SVM solution and
        with the other one (as in :class:`TeaserLimits`).
    bhat : numpy.ndarray, shape (d,), or None
        For "beta"/"xi": ``beta / mu``; None for "W"/"KQ".
    l1_norm : float or None
        For "beta"/"xi": the l1 norm of ``bhat``; None for "W"/"KQ".
    """

    log_t: float
    cos: tuple
    dist: tuple
    bhat: np.ndarray | None = None
    l1_norm: float | None = None


def teaser_at(flow: str, log_t: float) -> TeaserPoint:
    """The teaser's ``flow`` at the saved time nearest ``log_t``.

    Returns
    -------
    TeaserPoint
        ``log_t``, ``cos``/``dist`` (own, other) and, for "beta"/"xi", ``bhat`` and ``l1_norm``.
    """
    res = compute_teaser()
    x, c_own, c_other = res.curves[flow]
    _, d_own, d_other = res.dist_curves[flow]
    k = int(np.argmin(np.abs(x - log_t)))
    cos, dist = (float(c_own[k]), float(c_other[k])), (float(d_own[k]), float(d_other[k]))
    if flow not in ("beta", "xi"):
        return TeaserPoint(log_t=float(x[k]), cos=cos, dist=dist)
    bhat = res.bhat_path[flow][k]
    return TeaserPoint(log_t=float(x[k]), cos=cos, dist=dist, bhat=bhat, l1_norm=float(np.abs(bhat).sum()))


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
    x, dist, _ = compute_teaser().dist_curves["xi"]
    # NaN (margin still small) counts as "not locked on"; the teaser's grid is fine enough near the lock-on
    # (chapter 3's coarser one needs refined_lock_on), and a test checks that the two agree
    return float(np.exp(crossing(np.log(x), dist, tol)))


@dataclass(frozen=True)
class TeaserScope:
    """Which of the paper's assumptions the teaser's two data sets meet: what the intro may call a theorem.

    Attributes
    ----------
    generic, diagonal : dict of str to bool
        For the generic data ``TEASER_DATA`` (the "W" and "KQ" flows) and the book's diagonal data (the "beta"
        and "xi" flows): assumption name ("1", "1-diag", "2", "3", "4") -> whether it holds
        (:func:`attnlib.check_assumptions`, at ``W(0) = 0``).
    """

    generic: dict[str, bool]
    diagonal: dict[str, bool]


@memo
def teaser_scope() -> TeaserScope:
    """The paper's assumptions on the teaser's data sets (:class:`TeaserScope`).

    The "xi" panel is an instance of Theorem 4.1 (if its limit direction exists) when the diagonal data meet
    Assumptions 1-diag, 2 and 3; the "KQ" panel would be an instance of Theorem 5.1 only with Assumption 4 (and an
    aligned start).

    Returns
    -------
    TeaserScope
    """
    out = {}
    for name, data in (("generic", make_generic_data(**TEASER_DATA)), ("diagonal", make_diagonal_data())):
        report = check_assumptions(data)
        out[name] = {a: bool(report.holds(a)) for a in ASSUMPTIONS}
    return TeaserScope(**out)


def teaser_b1_crossing(from_log_t: float = float(np.log(1e10))) -> float:
    """``log t`` at which the first coordinate of the ``(xi_k, xi_q)``-flow's ``beta / mu`` falls through the l1
    norm ``||beta*||_1`` of the l1-SVM solution (linear interpolation between saved times).

    The intro quotes ``beta_hat_1`` at ``t = 1e300`` beside ``||beta*||_1``; the two agree to three digits only
    because ``beta_hat_1``, falling on its way to ``beta*_1``, passes ``||beta*||_1`` near that time.

    Parameters
    ----------
    from_log_t : float
        Only saved times with ``log t >= from_log_t`` (default: ``t >= 1e10``, a saved time) are used;
        ``beta_hat_1`` must decrease on all of them.

    Returns
    -------
    float
        ``log t`` of the crossing.

    Raises
    ------
    ValueError
        If ``beta_hat_1`` does not decrease after ``from_log_t`` or does not cross ``||beta*||_1`` there.
    """
    res = compute_teaser()
    x, _, _ = res.dist_curves["xi"]
    keep = x >= from_log_t
    b1, target = res.bhat_path["xi"][keep, 0], float(np.abs(res.beta["l1"]).sum())
    if not np.all(np.diff(b1) < 0) or not b1[0] > target > b1[-1]:
        raise ValueError(f"beta_hat_1 does not fall monotonically through ||beta*||_1 = {target:.4f} after "
                         f"log t = {from_log_t}")
    return float(np.interp(target, b1[::-1], x[keep][::-1]))
