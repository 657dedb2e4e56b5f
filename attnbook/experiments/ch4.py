"""Figures of chapter 4, "Approximate KKT conditions" (paper appendix A.5, Definition A.3 and Theorem 4.1).

Everything is measured on the demo-1 data (:func:`attnlib.make_diagonal_data`) along the exact ``xi`` gradient flow
from the paper's initialisation (5) with ``omega_0 = 0.1``, integrated to ``log t = 1e6`` (``t = e^(10^6)``, far
beyond ``t = 1e300``). Flows and SVMs are cached, so every figure (and every widget frame) only draws.

The chapter's computations (no drawing: :mod:`attnbook.figures.ch4` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scipy.special import logsumexp

from attnlib.data import AttentionData, make_diagonal_data
from attnlib.assumptions import stuck_loss_bounds
from attnlib.diagnostics import kkt_residuals
from attnlib.flow import Trajectory, default_init, gradient_flow
from attnlib.model import attention_scores, min_loss
from attnlib.svm import solve_svm
from ._store import memo
from .diagonal_studies import LOCK_ON_TOL, locate_lock_on

OMEGA0 = 0.1
#: log t at the end of the book's flow (the library's largest accepted value, MAX_LOG_T). Measured: ~4,000
#: gradient evaluations (+ ~90 Hessians), 0.5 s, with the default rtol; the path turns sharply near log t = 3e5
#: (see the chapter).
LOG_T_END = 1e6
RTOL = 1e-8
LOG_T_1E300 = float(np.log(1e300))
#: log t at the end of the residual figure's flow: the margin frame carries it to ln mu ~ 690 (~2,500 evaluations).
LOG_T_FRAME_END = 1e300
#: Times offered by the certificate widget (values of log t).
WIDGET_LOG_T = [3.0, 10.0, 30.0, 100.0, LOG_T_1E300, 3e3, 1e4, 1e5, 2.5e5, 1e6]


@memo
def demo_data() -> AttentionData:
    """The book's diagonal example (:func:`attnlib.make_diagonal_data`: n = 3, L = 3, d = 4)."""
    return make_diagonal_data()


def demo_flow(omega0: float = OMEGA0, log_t_end: float = LOG_T_END, rtol: float = RTOL) -> Trajectory:
    """The ``xi`` flow on the demo-1 data from initialisation (5) with ``omega_0 = omega0 * 1`` (cached)."""
    return _demo_flow(float(omega0), float(log_t_end), float(rtol))


@memo
def _demo_flow(omega0: float, log_t_end: float, rtol: float) -> Trajectory:
    data = demo_data()
    return gradient_flow(data, "xi", default_init(data, "xi", omega0, seed=None), log_t_end=log_t_end,
                            rtol=rtol, log_t_eval=_log_t_grid(log_t_end))


def _log_t_grid(log_t_end: float) -> np.ndarray:
    """Saved times (log t): the library's default grid plus t = 1e300 and the widget's times."""
    base = np.concatenate([[-np.inf], np.log(np.logspace(-2, 0, 20)[:-1]),
                           np.expm1(np.linspace(0.0, np.log1p(log_t_end), 180))])
    extra = [x for x in [LOG_T_1E300, *WIDGET_LOG_T] if x < 0.999 * log_t_end]
    return np.unique(np.concatenate([base, extra]))


def predicted_constant(beta_l1: np.ndarray, omega0: float) -> float:
    """The limit of ``epsilon(t) ln mu(t)`` for the certificate ``B lambda = arcsinh(beta / omega0^2) / ln mu``.

    On the support ``S`` of the l1-SVM solution ``beta*``, ``arcsinh(mu beta_j / omega0^2) = ln mu +
    ln(2 |beta_j| / omega0^2) + o(1)``, so ``|(B lambda)_j - sign(beta*_j)| ln mu -> ln(2 |beta*_j| / omega0^2)``;
    off the support ``B lambda`` ends inside ``[-1, 1]`` and contributes nothing. Hence
    ``epsilon ln mu -> || ln(2 |beta*_S| / omega0^2) ||_2``.

    Parameters
    ----------
    beta_l1 : array, shape (d,)
        The l1-SVM solution (margin 1).
    omega0 : float
        The (uniform) initialisation scale.
    """
    b = np.abs(np.asarray(beta_l1, dtype=float))
    S = b > 1e-6 * b.max()
    return float(np.linalg.norm(np.log(2.0 * b[S] / omega0 ** 2)))


def fit_rate(log_mu: np.ndarray, values: np.ndarray, lo: float) -> tuple[float, float]:
    """Least-squares fit ``values ~ c (ln mu)^p`` over the points with ``ln mu >= lo``.

    Returns
    -------
    (p, c) : the fitted exponent (the slope on a log-log plot of values against ln mu) and prefactor.
    """
    ok = np.isfinite(log_mu) & np.isfinite(values) & (values > 0) & (log_mu >= lo)
    p, logc = np.polyfit(np.log(log_mu[ok]), np.log(values[ok]), 1)
    return float(p), float(np.exp(logc))


@dataclass(frozen=True)
class ApproximateKKT:
    """Approximate-KKT residuals of the l1-SVM along the demo flow (:func:`compute_kkt`; paper Definition A.3).

    Attributes
    ----------
    log_t, log_mu : numpy.ndarray, shape (m,)
        The saved times (``log t``) and ``ln mu`` there.
    epsilon, epsilon_prime, delta, feasibility : numpy.ndarray, shape (m,)
        The residuals of :func:`attnlib.kkt_residuals`: stationarity (C1), ``||beta_hat - beta_check||``,
        complementary slackness (C3), and ``min_il beta_hat^T B_il - 1`` (C2).
    Blambda : numpy.ndarray, shape (m, d)
        ``B lambda`` from the accumulated duals ``phi``.
    Blambda_beta : numpy.ndarray, shape (m, d)
        ``arcsinh(beta / omega0^2) / ln mu``.
    lam : numpy.ndarray, shape (m, n(L-1))
        The multipliers ``lambda = phi / ln mu``.
    dist : numpy.ndarray, shape (m,)
        ``||beta_hat - beta*|| / ||beta*||``.
    cos : numpy.ndarray, shape (m,)
        Cosine of ``beta(t)`` with ``beta*``.
    beta_hat : numpy.ndarray, shape (m, d)
        ``beta / mu``.
    dual : numpy.ndarray, shape (n(L-1),)
        The SVM's multipliers.
    beta_l1 : numpy.ndarray, shape (d,)
        The l1-SVM solution ``beta*``.
    pairs : tuple of (int, int)
        The ``(i, l)`` of each constraint.
    C : float
        The predicted constant (:func:`predicted_constant`).
    rate, prefactor : float
        The fitted ``epsilon ~ prefactor (ln mu)^rate`` for ``ln mu >= ln mu(t = 1e300)`` (:func:`fit_rate`).
    j1e300 : int
        Index of the saved time nearest ``t = 1e300``.
    identity_error : float
        ``max |Blambda - Blambda_beta|`` over times with ``ln mu >= 1``.
    nfev : int
        Gradient evaluations of the flow.
    wall_time : float
        The flow's wall time in seconds.
    """

    log_t: np.ndarray
    log_mu: np.ndarray
    epsilon: np.ndarray
    epsilon_prime: np.ndarray
    delta: np.ndarray
    feasibility: np.ndarray
    Blambda: np.ndarray
    Blambda_beta: np.ndarray
    lam: np.ndarray
    dist: np.ndarray
    cos: np.ndarray
    beta_hat: np.ndarray
    dual: np.ndarray
    beta_l1: np.ndarray
    pairs: tuple
    C: float
    rate: float
    prefactor: float
    j1e300: int
    identity_error: float
    nfev: int
    wall_time: float


def compute_kkt(omega0: float = OMEGA0, log_t_end: float = LOG_T_END, rtol: float = RTOL) -> ApproximateKKT:
    """Approximate-KKT residuals of the l1-SVM along the demo flow (cached); see :func:`_compute_kkt`."""
    return _compute_kkt(float(omega0), float(log_t_end), float(rtol))


@memo
def _compute_kkt(omega0: float, log_t_end: float, rtol: float) -> ApproximateKKT:
    """Approximate-KKT residuals of the l1-SVM along the demo flow.

    Returns
    -------
    ApproximateKKT
        The residuals, certificates and multipliers along the flow, the SVM's solution, the predicted constant and
        the fitted rate.
    """
    data = demo_data()
    tr = demo_flow(omega0, log_t_end, rtol)
    sol = solve_svm(data, "l1")
    r = kkt_residuals(tr, sol)
    beta = tr.params["xi_k"] * tr.params["xi_q"]
    with np.errstate(invalid="ignore"):
        Bl_beta = np.arcsinh(beta / omega0 ** 2) / r.log_mu[:, None]
        beta_hat = beta / tr.margin[:, None]
    dist = np.linalg.norm(beta_hat - sol.beta, axis=1) / np.linalg.norm(sol.beta)
    j300 = int(np.argmin(np.abs(tr.log_t - LOG_T_1E300)))
    p, c = fit_rate(r.log_mu, r.epsilon, r.log_mu[j300])
    ok = r.log_mu >= 1.0
    return ApproximateKKT(log_t=tr.log_t, log_mu=r.log_mu, epsilon=r.epsilon, epsilon_prime=r.epsilon_prime,
                          delta=r.delta, feasibility=r.feasibility, Blambda=r.Blambda, Blambda_beta=Bl_beta, lam=r.lam,
                          dist=dist, cos=tr.cosine_to(sol.W), beta_hat=beta_hat, dual=np.array(sol.dual),
                          beta_l1=np.array(sol.beta), pairs=data.pairs, C=predicted_constant(sol.beta, omega0),
                          rate=p, prefactor=c, j1e300=j300,
                          identity_error=float(np.max(np.abs(r.Blambda[ok] - Bl_beta[ok]))), nfev=tr.nfev,
                          wall_time=tr.wall_time)


@dataclass(frozen=True)
class KKTCertificate:
    """The certificate of the demo flow at one saved time (:func:`certificate_at`).

    Attributes
    ----------
    Blambda : numpy.ndarray, shape (d,)
        ``B lambda`` at that time.
    lam : numpy.ndarray, shape (n(L-1),)
        The multipliers at that time.
    log_mu, epsilon : float
        ``ln mu`` and the stationarity residual at that time.
    log_t : float
        The saved time used (the one nearest the time asked for).
    beta_l1 : numpy.ndarray, shape (d,)
        The l1-SVM solution.
    dual : numpy.ndarray, shape (n(L-1),)
        The SVM's multipliers.
    pairs : tuple of (int, int)
        The ``(i, l)`` of each constraint.
    """

    Blambda: np.ndarray
    lam: np.ndarray
    log_mu: float
    epsilon: float
    log_t: float
    beta_l1: np.ndarray
    dual: np.ndarray
    pairs: tuple


def certificate_at(log_t: float) -> KKTCertificate:
    """The certificate at the saved time nearest to ``log_t``.

    Returns
    -------
    KKTCertificate
        ``Blambda``, ``lam``, ``log_mu``, ``epsilon``, the exact ``log_t`` used, and the SVM's ``beta_l1`` and
        ``dual``.
    """
    k = compute_kkt()
    j = int(np.nanargmin(np.abs(k.log_t - log_t)))
    return KKTCertificate(Blambda=k.Blambda[j], lam=k.lam[j], log_mu=k.log_mu[j], epsilon=k.epsilon[j],
                          log_t=k.log_t[j], beta_l1=k.beta_l1, dual=k.dual, pairs=k.pairs)


def settled(tol: float = 1e-4) -> np.ndarray:
    """Mask of the saved times at which the direction has settled: ``||beta_hat - beta*|| / ||beta*|| < tol``."""
    return compute_kkt().dist < tol


def extrapolate_duals(tol: float = 1e-4) -> np.ndarray:
    """Linear extrapolation of ``lambda(t)`` in ``1 / ln mu`` to ``1 / ln mu = 0``, fitted on the times at which
    the direction has settled (:func:`settled`); shape (n(L-1),).

    Once ``beta_hat`` is constant, ``phi_il = lambda*_il ln mu + const + o(1)``, so ``lambda`` is affine in
    ``1 / ln mu`` and the intercept is the limit multiplier.
    """
    k = compute_kkt()
    sel = settled(tol)
    if sel.sum() < 3:
        raise ValueError("the flow has not settled on the l1-SVM direction; integrate to a larger log_t_end")
    x = 1.0 / k.log_mu[sel]
    return np.array([np.polyval(np.polyfit(x, lam, 1), 0.0) for lam in k.lam[sel].T])


@dataclass(frozen=True)
class LockOnPoint:
    """When the chapter's flow locks on to ``beta*`` (:func:`lock_on`).

    Attributes
    ----------
    log_t, log_mu : float
        ``log t`` and ``ln mu`` where the relative distance of ``beta_hat`` to ``beta*`` last falls below the
        tolerance.
    """

    log_t: float
    log_mu: float


@memo
def lock_on(tol: float = LOCK_ON_TOL) -> LockOnPoint:
    """When the chapter's flow locks on to ``beta*``: ``log_t`` and ``log_mu`` where the relative distance of
    ``beta_hat`` last falls below ``tol``. The saved times of :func:`compute_kkt` bracket the crossing; the flow is
    then saved densely inside that bracket (:func:`attnbook.experiments.diagonal_studies.locate_lock_on`, the
    locator of chapter 3's table, ~0.5 s), so both chapters report the same time.

    Returns
    -------
    LockOnPoint
        ``log_t`` and ``log_mu`` of the lock-on.
    """
    k = compute_kkt()
    ok = k.log_t > 1.0
    log_t, log_mu = locate_lock_on(OMEGA0, k.log_t[ok], k.log_mu[ok], k.dist[ok], RTOL, tol=tol)
    return LockOnPoint(log_t=log_t, log_mu=log_mu)


# -- the proof of Theorem 4.1, step by step (issue 25: (C2) -> (C1) -> (C3) -> Theorem A.2) ----------------------

#: ``log t`` of the short, densely saved flow whose loss the (C2) figure draws.
EARLY_LOG_T = 12.0


@dataclass(frozen=True)
class MarginDiverges:
    """Step 1 of the proof, (C2), measured on the demo flow (:func:`margin_diverges`).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times ``log t`` (``-inf`` at t = 0).
    loss : numpy.ndarray, shape (m,)
        ``L(t)``.
    L0, stuck_bound, L_star : float
        ``L(0)``, the right-hand side of Assumption 3 (the least of :func:`attnlib.assumptions.stuck_loss_bounds`) and ``L*``.
    sample_margin : numpy.ndarray, shape (m, n)
        ``mu_i(t) = min_{l != opt(i)} beta(t)^T B_il``, each sample's smallest logit gap (``mu = min_i mu_i``).
    log_rest : numpy.ndarray, shape (m, n)
        ``ln(1 - sigma_opt(i)(t))``, the log of the attention off the optimal token (computed in log space, finite
        where ``1 - sigma_opt`` underflows).
    early_log_t, early_loss : numpy.ndarray, shape (k,)
        The same flow saved densely up to ``log t = EARLY_LOG_T``, and its loss (the loss falls to ``L*`` there).
    """

    log_t: np.ndarray
    loss: np.ndarray
    early_log_t: np.ndarray
    early_loss: np.ndarray
    L0: float
    stuck_bound: float
    L_star: float
    sample_margin: np.ndarray
    log_rest: np.ndarray


def margin_diverges() -> MarginDiverges:
    """Step 1 of the proof of Theorem 4.1 along the chapter's flow: the loss stays below Assumption 3's bound, so no
    sample can end on its non-optimal tokens; every sample's attention goes to its optimal token and every logit
    gap, hence the margin, grows without bound.

    Returns
    -------
    MarginDiverges
    """
    data = demo_data()
    tr = demo_flow()
    beta = tr.params["xi_k"] * tr.params["xi_q"]
    gaps = beta @ np.asarray(data.B).T                                   # (m, n(L-1)): beta^T B_il
    i = np.asarray(data.pairs)[:, 0]
    per_sample = np.stack([gaps[:, i == s].min(axis=1) for s in range(data.n)], axis=1)
    is_opt = np.arange(data.L)[None, :] == data.opt[:, None]
    log_rest = []
    for W in tr.W:
        g = attention_scores(data, W)
        log_rest.append(logsumexp(np.where(is_opt, -np.inf, g), axis=1) - logsumexp(g, axis=1))
    early = demo_flow(OMEGA0, EARLY_LOG_T, RTOL)
    return MarginDiverges(log_t=tr.log_t, loss=tr.loss, early_log_t=early.log_t, early_loss=early.loss,
                          L0=float(tr.loss[0]), stuck_bound=float(stuck_loss_bounds(data).min()),
                          L_star=min_loss(data), sample_margin=per_sample, log_rest=np.array(log_rest))


#: The strictly separating direction the chapter pairs the certificate with in (C3): ``e_1`` (every ``B_il`` has a
#: positive first coordinate on the demo data).
SEPARATING_DIRECTION = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class SlacknessStep:
    """Step 3 of the proof, (C3), measured on the demo flow (:func:`slackness_step`).

    Attributes
    ----------
    log_t, log_mu : numpy.ndarray, shape (m,)
        The saved times with ``ln mu >= 1`` and ``ln mu`` there.
    m : numpy.ndarray, shape (n(L-1),)
        The margins ``bar_beta_f^T B_il`` of the separating direction ``SEPARATING_DIRECTION``.
    paired : numpy.ndarray, shape (m,)
        ``sum_il lambda_il m_il`` (equal to ``bar_beta_f^T B lambda``).
    lam_sum : numpy.ndarray, shape (m,)
        ``sum_il lambda_il``.
    bound : numpy.ndarray, shape (m,)
        ``bar_beta_f^T B lambda / min m``, the bound on ``lam_sum`` the pairing gives.
    active : numpy.ndarray of bool, shape (n(L-1),)
        The pairs active at the l1-SVM solution.
    slack : numpy.ndarray, shape (n(L-1),)
        ``beta*^T B_il - 1`` (0 on the active pairs; ``eta_il > 0`` on the others).
    phi_inactive : numpy.ndarray, shape (m, k)
        ``phi_il(t)`` of the ``k`` inactive pairs.
    share_inactive : numpy.ndarray, shape (m,)
        ``sum_inactive lambda / sum lambda``.
    """

    log_t: np.ndarray
    log_mu: np.ndarray
    m: np.ndarray
    paired: np.ndarray
    lam_sum: np.ndarray
    bound: np.ndarray
    active: np.ndarray
    slack: np.ndarray
    phi_inactive: np.ndarray
    share_inactive: np.ndarray


def slackness_step(log_t_end: float = LOG_T_END) -> SlacknessStep:
    """Step 3 of the proof of Theorem 4.1 along the chapter's flow: pairing the certificate with a strictly
    separating direction bounds ``sum lambda``; the inactive pairs' accumulated ``phi`` converges, so their
    ``lambda = phi / ln mu`` vanishes.

    Returns
    -------
    SlacknessStep
    """
    data = demo_data()
    k = compute_kkt(log_t_end=log_t_end)
    ok = k.log_mu >= 1.0
    f = np.asarray(SEPARATING_DIRECTION)
    m = np.asarray(data.B) @ f
    lam = k.lam[ok]
    active = k.dual > 1e-6 * k.dual.max()
    paired = lam @ m
    return SlacknessStep(log_t=k.log_t[ok], log_mu=k.log_mu[ok], m=m, paired=paired, lam_sum=lam.sum(axis=1),
                         bound=(k.Blambda[ok] @ f) / m.min(), active=active,
                         slack=np.asarray(data.B) @ k.beta_l1 - 1.0,
                         phi_inactive=lam[:, ~active] * k.log_mu[ok, None],
                         share_inactive=lam[:, ~active].sum(axis=1) / lam.sum(axis=1))


# -- an l1-SVM with many solutions: which one does the flow pick? ------------------------------------------------

#: Rows ``B_il = (b_il, 0)`` of the data of exercise ch4-ex-nonunique: both samples share the row (1, 1), whose
#: constraint ``beta_1 + beta_2 >= 1`` is the only one active in the interior of the solution set; (2, 1) and (1, 2)
#: are slack there. Every ``beta >= 0`` with ``beta_1 + beta_2 = 1`` is an l1-SVM solution.
NONUNIQUE_B = (((1.0, 1.0), (2.0, 1.0)), ((1.0, 1.0), (1.0, 2.0)))
NONUNIQUE_Y = (1.0, -1.0)
NONUNIQUE_OMEGA0 = ((0.1, 0.1), (0.1, 0.3), (0.3, 0.1), (0.05, 0.2))
NONUNIQUE_LOG_T = 1e3


def make_nonunique_data() -> AttentionData:
    """Data (n = 2, L = 3, d = 3) whose l1-SVM has a segment of solutions: the construction of
    :func:`attnlib.make_diagonal_data` (``v = e_d``, ``z_i = (1, 1, 0)``, optimal token ``4 y_i e_d``, the others
    ``(-b_il, 0)``) with the rows ``NONUNIQUE_B``.

    Returns
    -------
    AttentionData
        Assumptions 1, 1-diag, 2 and 3 hold; ``B_il = (b_il, 0)``.
    """
    b = np.asarray(NONUNIQUE_B)
    n, L, d = b.shape[0], b.shape[1] + 1, b.shape[2] + 1
    X = np.zeros((n, L, d))
    X[:, 0, d - 1] = 4.0 * np.asarray(NONUNIQUE_Y)
    X[:, 1:, : d - 1] = -b
    z = np.zeros((n, d))
    z[:, : d - 1] = 1.0
    v = np.zeros(d)
    v[d - 1] = 1.0
    return AttentionData(X, z, np.asarray(NONUNIQUE_Y), v)


@dataclass(frozen=True)
class NonuniqueRun:
    """The xi flow on :func:`make_nonunique_data` from one ``omega_0`` (:func:`nonunique_runs`).

    Attributes
    ----------
    omega0 : tuple of float
        ``omega_0`` on the two data coordinates (the third, the score coordinate, is 0.1; ``B_il`` is 0 there).
    beta_hat : numpy.ndarray, shape (d,)
        ``beta / mu`` at ``log t = NONUNIQUE_LOG_T``.
    beta_hat_100 : numpy.ndarray, shape (d,)
        The same at the saved time nearest ``log t = 100``.
    predicted_ratio : float
        ``beta_1 / beta_2`` from the mirror coordinates: ``(omega_1 / omega_2)^2 exp(sum_il phi_il (B_il1 - B_il2))``.
    lam : numpy.ndarray, shape (n(L-1),)
        The certificate ``phi / ln mu`` at the end.
    """

    omega0: tuple
    beta_hat: np.ndarray
    beta_hat_100: np.ndarray
    predicted_ratio: float
    lam: np.ndarray


def _nonunique_run(omega0: tuple) -> NonuniqueRun:
    data = make_nonunique_data()
    om = np.array([*omega0, 0.1])
    grid = np.concatenate([[-np.inf], np.expm1(np.linspace(0.0, np.log1p(NONUNIQUE_LOG_T), 60))])
    tr = gradient_flow(data, "xi", (np.sqrt(2.0) * om, np.zeros(data.d)), log_t_end=NONUNIQUE_LOG_T,
                       log_t_eval=grid, rtol=RTOL)
    beta = tr.params["xi_k"] * tr.params["xi_q"]
    j100 = int(np.argmin(np.abs(tr.log_t - 100.0)))
    B = np.asarray(data.B)
    phi = tr.phi[-1]
    ratio = (om[0] / om[1]) ** 2 * np.exp(phi @ (B[:, 0] - B[:, 1]))
    return NonuniqueRun(omega0=tuple(omega0), beta_hat=beta[-1] / tr.margin[-1],
                        beta_hat_100=beta[j100] / tr.margin[j100], predicted_ratio=float(ratio),
                        lam=phi / np.log(tr.margin[-1]))


@memo
def nonunique_runs(omegas: tuple = NONUNIQUE_OMEGA0) -> tuple:
    """The xi flow on :func:`make_nonunique_data` from initialisation (5) with each ``omega_0`` of ``omegas``.

    Returns
    -------
    tuple of NonuniqueRun
    """
    return tuple(_nonunique_run(tuple(om)) for om in omegas)
