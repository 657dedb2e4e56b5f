"""Chapter 3 — the reparameterization trick for diagonal K, Q (paper §4, Lemmas 4.1, 4.2, A.1, Theorem 4.1).

Compute functions (``compute_*``) return frozen dataclasses of read-only arrays; the figure functions draw them and
the tests check them. Every flow is run once per setting and cached (:func:`attnbook.experiments._store.memo`).
All experiments use the book's diagonal example (:func:`attnlib.make_diagonal_data`: n = 3, L = 3, d = 4).

The chapter's computations (no drawing: :mod:`attnbook.figures.ch3` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib.data import AttentionData, make_diagonal_data
from attnlib.diagnostics import (diagonal_network_flow, beta_velocity, check_sinh_closed_form, conservation_error, relative_error,
                                 sinh_closed_form)
from attnlib.factorization import padded_diag
from attnlib.flow import Trajectory, default_init, gradient_flow
from attnlib.model import cosine, loss_grad_beta, loss_grad_KQ, loss_grad_xi
from attnlib.svm import solve_svm
from ._store import memo

#: The book's initial scale omega_0 (a constant vector, as in chapter 3's experiments).
OMEGA0 = 0.1
#: How far the headline flows run: log t = 1e6, past the xi-flow's lock-on to the l1-SVM (ln t ~ 2.8e5, ln mu ~ 12.5);
#: the margin frame continues further (:mod:`attnbook.experiments.diagonal_studies`).
LOG_T_END = 1e6
#: Widget sliders: initial scale omega_0 and time (log t).
WIDGET_OMEGA0 = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
WIDGET_LOG_T = (1.0, 3.0, 10.0, 30.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0)


@memo
def data() -> AttentionData:
    """Demo-1 data (n = 3, L = 3, d = 4); its l1-SVM solution is (20/17, 10/51, 0, 0)."""
    return make_diagonal_data()


def svms() -> dict[str, np.ndarray]:
    """The l1- and l2-SVM solutions ``beta`` (each shape (d,)), margin 1 (cached on the data)."""
    return {"l1": solve_svm(data(), "l1").beta, "l2": solve_svm(data(), "l2").beta}


def xi_init(omega0: float = OMEGA0) -> tuple[np.ndarray, np.ndarray]:
    """Initialisation (5) with ``omega_0 = omega0 * 1``: ``xi_k = sqrt(2) omega_0``, ``xi_q = 0`` (each (d,))."""
    return default_init(data(), "xi", scale=omega0, seed=None)


@memo
def xi_flow(omega0: float = OMEGA0, log_t_end: float = LOG_T_END, rtol: float = 1e-8) -> Trajectory:
    """Gradient flow on ``(xi_k, xi_q)`` from initialisation (5), to ``log t = log_t_end`` (cached)."""
    return gradient_flow(data(), "xi", xi_init(omega0), log_t_end=log_t_end, rtol=rtol)


def xi_flow_1e300(rtol: float = 1e-8, omega0: float = OMEGA0) -> Trajectory:
    """Gradient flow on ``(xi_k, xi_q)`` from initialisation (5) to ``t = 1e300`` at tolerance ``rtol`` (cached)."""
    return _xi_flow_1e300(float(rtol), float(omega0))


@memo
def _xi_flow_1e300(rtol: float, omega0: float) -> Trajectory:
    return gradient_flow(data(), "xi", xi_init(omega0), log_t_end=np.log(1e300), rtol=rtol)


@memo
def beta_flow(log_t_end: float = LOG_T_END, rtol: float = 1e-8) -> Trajectory:
    """Gradient flow on ``beta`` itself (the combined diagonal ``W = Diag(beta)``) from 0 (cached)."""
    return gradient_flow(data(), "beta", np.zeros(data().d), log_t_end=log_t_end, rtol=rtol)


def beta_of(traj: Trajectory) -> np.ndarray:
    """``beta(t)`` along a diagonal trajectory, shape (m, d)."""
    return np.einsum("mjj->mj", traj.W)


def beta_hat(traj: Trajectory) -> np.ndarray:
    """Margin-normalised ``beta(t) / mu(beta(t))``, shape (m, d); NaN while ``mu <= 0``."""
    mu = np.where(traj.margin > 0, traj.margin, np.nan)
    return beta_of(traj) / mu[:, None]


def _rel_dist(bh: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.linalg.norm(bh - ref, axis=-1) / np.linalg.norm(ref)


def _cosines(rows: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """:func:`attnlib.cosine` of each row with ``ref`` (NaN for a zero row, e.g. beta at t = 0)."""
    return np.array([cosine(r, ref) if np.any(r) else np.nan for r in np.atleast_2d(rows)])


@dataclass(frozen=True)
class DLNEquivalence:
    """Lemma 4.1: the xi-flow from init (5) against the diagonal linear network from ``w_pm(0) = omega_0``.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times of the xi-flow (to t = 1e300).
    beta : numpy.ndarray, shape (m, d)
        ``beta(t) = xi_k * xi_q`` of the xi-flow.
    w : numpy.ndarray, shape (m, d)
        ``w(t)`` of the diagonal linear network (:func:`attnlib.diagnostics.diagonal_network_flow`) at the same times.
    rel_err : numpy.ndarray, shape (m,)
        ``||beta - w|| / ||beta||`` (0 at t = 0).
    map_err : float
        How far the map's image of ``w_pm(0)`` is from init (5).
    """

    log_t: np.ndarray
    beta: np.ndarray
    w: np.ndarray
    rel_err: np.ndarray
    map_err: float


@memo
def compute_equivalence(omega0: float = OMEGA0) -> DLNEquivalence:
    """Lemma 4.1: ``beta(t)`` of the xi-flow from (5) vs ``w(t)`` of the diagonal linear network from
    ``w_pm(0) = omega_0`` (the map ``xi_k = (w_+ + w_-)/sqrt2``, ``xi_q = (w_+ - w_-)/sqrt2`` sends one start to
    the other).

    Returns
    -------
    DLNEquivalence
    """
    d_ = data()
    om = np.full(d_.d, omega0)
    traj = xi_flow_1e300(1e-10, omega0)
    beta = beta_of(traj)
    w = diagonal_network_flow(d_, om, traj.t)
    rel = relative_error(w, beta, axis=1)
    xk0, xq0 = (om + om) / np.sqrt(2), (om - om) / np.sqrt(2)
    map_err = float(max(np.abs(xk0 - xi_init(omega0)[0]).max(), np.abs(xq0 - xi_init(omega0)[1]).max()))
    return DLNEquivalence(log_t=traj.log_t, beta=beta, w=w, rel_err=rel, map_err=map_err)


@dataclass(frozen=True)
class StationaryStart:
    """The balanced zero start against init (5).

    Attributes
    ----------
    grad_zero : tuple of two numpy.ndarray, each shape (d,)
        The xi-gradient ``(grad_{xi_k} L, grad_{xi_q} L)`` at ``xi_k = xi_q = 0`` (exactly 0).
    grad_paper : tuple of two numpy.ndarray, each shape (d,)
        The same at init (5).
    max_W_zero_flow : float
        ``max |W(t)|`` along the flow from 0 to t = 1e3 (exactly 0).
    beta_end_paper : numpy.ndarray, shape (d,)
        ``beta`` at the end of the headline flow from init (5) (log t = ``LOG_T_END``).
    """

    grad_zero: tuple
    grad_paper: tuple
    max_W_zero_flow: float
    beta_end_paper: np.ndarray


def compute_stationary() -> StationaryStart:
    """The balanced zero start ``xi_k = xi_q = 0`` is a stationary point; init (5) is not.

    Returns
    -------
    StationaryStart
    """
    d_ = data()
    z = np.zeros(d_.d)
    traj0 = gradient_flow(d_, "xi", (z, z), t_end=1e3)
    return StationaryStart(grad_zero=loss_grad_xi(d_, z, z), grad_paper=loss_grad_xi(d_, *xi_init()),
                           max_W_zero_flow=float(np.abs(traj0.W).max()),
                           beta_end_paper=beta_of(xi_flow())[-1])


@dataclass(frozen=True)
class ClosedFormAccuracy:
    """Lemma A.1 and the conservation law along the xi-flow to t = 1e300, per solver tolerance.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times (those of the last tolerance's flow; every tolerance saves the same grid).
    sinh_err : dict rtol -> numpy.ndarray, shape (m,)
        ``||omega_0^2 sinh(B phi) - xi_k xi_q|| / ||xi_k xi_q||`` (0 at t = 0).
    cons_err : dict rtol -> numpy.ndarray, shape (m,)
        Drift of ``xi_k^2 - xi_q^2`` (:func:`attnlib.conservation_error`).
    nfev : dict rtol -> int
        Gradient evaluations of the flow.
    """

    log_t: np.ndarray
    sinh_err: dict
    cons_err: dict
    nfev: dict


@memo
def compute_closed_form(rtols: tuple[float, ...] = (1e-6, 1e-8, 1e-10),
                        omega0: float = OMEGA0) -> ClosedFormAccuracy:
    """Lemma A.1 and the conserved ``xi_k^2 - xi_q^2``, for several solver tolerances.

    Returns
    -------
    ClosedFormAccuracy
        Keyed by the tolerances ``rtols``.
    """
    sinh_err, cons_err, nfev = {}, {}, {}
    for rtol in rtols:
        traj = xi_flow_1e300(rtol, omega0)
        beta = traj.params["xi_k"] * traj.params["xi_q"]
        sinh_err[rtol] = relative_error(sinh_closed_form(traj), beta, axis=1)
        cons_err[rtol] = conservation_error(traj)
        nfev[rtol] = traj.nfev
    return ClosedFormAccuracy(log_t=traj.log_t, sinh_err=sinh_err, cons_err=cons_err, nfev=nfev)


@dataclass(frozen=True)
class MirrorFlowCheck:
    """The mirror-flow identity and erratum E6 by finite differences in ``s = log t``.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        The saved times ``s``.
    dpsi_fd, neg_tgrad : numpy.ndarray, shape (m, d)
        The two sides of the mirror identity: ``d/ds grad psi(beta)`` by finite differences and ``-t grad L``.
    dbeta_fd, dbeta_fixed, dbeta_paper : numpy.ndarray, shape (m, d)
        ``d beta/ds`` by finite differences, by the corrected formula and by the paper's eq. (27) (extra 1/n).
    mirror_err, e6_err, paper_err : numpy.ndarray, shape (m,)
        Relative errors: of the mirror identity, and of the corrected and the printed formula against the finite
        differences.
    plain_err : numpy.ndarray, shape (m,)
        The same for the plain-GF guess ``beta' = -grad L``.
    """

    log_t: np.ndarray
    dpsi_fd: np.ndarray
    neg_tgrad: np.ndarray
    dbeta_fd: np.ndarray
    dbeta_fixed: np.ndarray
    dbeta_paper: np.ndarray
    mirror_err: np.ndarray
    e6_err: np.ndarray
    paper_err: np.ndarray
    plain_err: np.ndarray


@memo
def compute_mirror(omega0: float = OMEGA0, log_t_end: float = 30.0, n_points: int = 661) -> MirrorFlowCheck:
    """Mirror flow ``d/dt grad psi(beta) = -grad L`` and the corrected eq. (27) (erratum E6), by finite
    differences in ``s = log t`` along a densely saved xi-flow.

    With ``psi(beta) = 1/2 sum_j [beta_j arcsinh(beta_j/omega_j^2) - sqrt(beta_j^2 + omega_j^4)]``,
    ``grad psi = arcsinh(beta/omega_0^2)/2``. In log time both identities carry a factor ``t``:
    ``d/ds grad psi = -t grad L`` and ``d beta/ds = -2 sqrt(beta^2 + omega_0^4) * t grad L``.

    Returns
    -------
    MirrorFlowCheck
    """
    d_ = data()
    s = np.linspace(-3.0, log_t_end, n_points)
    traj = gradient_flow(d_, "xi", xi_init(omega0), log_t_end=log_t_end, log_t_eval=s, rtol=1e-10)
    beta = beta_of(traj)
    w2 = np.full(d_.d, omega0) ** 2
    tgrad = np.array([loss_grad_beta(d_, b, log_scale=si) for b, si in zip(beta, s)])
    dpsi = np.gradient(np.arcsinh(beta / w2) / 2, s, axis=0, edge_order=2)
    dbeta = np.gradient(beta, s, axis=0, edge_order=2)
    fixed = -2 * np.sqrt(beta ** 2 + w2 ** 2) * tgrad
    paper = fixed / d_.n

    def rel(a, b):
        return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)

    return MirrorFlowCheck(log_t=s, dpsi_fd=dpsi, neg_tgrad=-tgrad, dbeta_fd=dbeta, dbeta_fixed=fixed,
                           dbeta_paper=paper, mirror_err=rel(dpsi, -tgrad), e6_err=rel(fixed, dbeta),
                           paper_err=rel(paper, dbeta), plain_err=rel(-tgrad, dbeta))


@dataclass(frozen=True)
class ErratumE6:
    """Erratum E6 pointwise, at the saved points of the headline xi-flow after t = 0.

    Attributes
    ----------
    fixed_err : numpy.ndarray, shape (m - 1,)
        Relative error of the corrected eq. (27) against the flow's own ``beta'``.
    paper_ratio : numpy.ndarray, shape (m - 1,)
        ``||beta'_flow|| / ||beta'_paper||`` (= n if only the 1/n is spurious).
    """

    fixed_err: np.ndarray
    paper_ratio: np.ndarray


def compute_e6_pointwise(omega0: float = OMEGA0) -> ErratumE6:
    """Erratum E6 pointwise: the flow's own ``beta' = xi_k' xi_q + xi_k xi_q'`` against the corrected and the
    printed eq. (27), at every saved point of the headline xi-flow (in ``s = log t``, where both carry ``t``).

    Returns
    -------
    ErratumE6
    """
    d_ = data()
    traj = xi_flow()
    fixed_err, ratio = [], []
    for xk, xq, s in zip(traj.params["xi_k"][1:], traj.params["xi_q"][1:], traj.log_t[1:]):
        flow, fixed = beta_velocity(d_, xk, xq, OMEGA0, log_scale=s)
        fixed_err.append(np.linalg.norm(fixed - flow) / np.linalg.norm(flow))
        ratio.append(np.linalg.norm(flow) / np.linalg.norm(fixed / d_.n))
    return ErratumE6(fixed_err=np.array(fixed_err), paper_ratio=np.array(ratio))


@dataclass(frozen=True)
class ErratumE4:
    """Erratum E4: the zero-padded ``Diag`` construction of ``K``, ``Q`` checked at a random ``(xi_k, xi_q)``.

    Attributes
    ----------
    W_err : float
        ``max |K Q^T - Diag(xi_k xi_q)|``.
    grad_err : float
        ``max |diag(grad_K L) - grad_{xi_k} L|`` and the same for Q (the xi-gradient is the diagonal part of the
        full one).
    offdiag_frac : float
        The off-diagonal share of ``||grad_Q L||`` at init (5) (the full K, Q flow would leave the diagonal: the
        diagonal model is a constrained model).
    """

    W_err: float
    grad_err: float
    offdiag_frac: float


def compute_e4(d_e: int = 6) -> ErratumE4:
    """Erratum E4: ``K = [Diag(xi_k), 0]`` (d x d_e, zero-padded) — not ``diag`` — gives ``W = Diag(beta)``.

    Returns
    -------
    ErratumE4
    """
    d_ = data()
    rng = np.random.default_rng(0)
    xk, xq = rng.standard_normal(d_.d), rng.standard_normal(d_.d)
    K, Q = padded_diag(xk, d_e), padded_diag(xq, d_e)  # E4's construction
    gK, gQ = loss_grad_KQ(d_, K, Q)
    gk, gq = loss_grad_xi(d_, xk, xq)
    idx = np.arange(d_.d)
    K0, Q0 = (padded_diag(a, d_e) for a in xi_init())
    gQ0 = loss_grad_KQ(d_, K0, Q0)[1]
    off = gQ0.copy()
    off[idx, idx] = 0.0
    return ErratumE4(W_err=float(np.abs(K @ Q.T - np.diag(xk * xq)).max()),
                     grad_err=float(max(np.abs(gK[idx, idx] - gk).max(), np.abs(gQ[idx, idx] - gq).max())),
                     offdiag_frac=float(np.linalg.norm(off) / np.linalg.norm(gQ0)))


@dataclass(frozen=True)
class ErratumE10:
    """Erratum E10: Lemma A.1 checked for a non-constant ``omega_0``.

    Attributes
    ----------
    omega0 : numpy.ndarray, shape (d,)
        The per-coordinate initial scale.
    init : tuple of two numpy.ndarray, each shape (d,)
        The start ``(xi_k(0), xi_q(0))``.
    sinh_err : numpy.ndarray, shape (m,)
        Relative error of the sinh closed form, as in :class:`ClosedFormAccuracy`.
    max_err : float
        Its maximum.
    cos_l1 : float
        Cosine of ``beta`` at t = 1e300 with the l1-SVM solution.
    """

    omega0: np.ndarray
    init: tuple
    sinh_err: np.ndarray
    max_err: float
    cos_l1: float


@memo
def compute_e10(seed: int = 0) -> ErratumE10:
    """Erratum E10: Lemma A.1 for a non-constant ``omega_0`` with mixed signs and mixed zero patterns.

    ``omega_0`` is ``0.1 * U(0.5, 1.5)`` per coordinate; coordinates alternate between ``xi_k(0) = +-sqrt2 omega``,
    ``xi_q(0) = 0`` and ``xi_k(0) = 0``, ``xi_q(0) = +-sqrt2 omega``.

    Returns
    -------
    ErratumE10
    """
    d_ = data()
    rng = np.random.default_rng(seed)
    om = 0.1 * rng.uniform(0.5, 1.5, d_.d)
    sign = rng.choice([-1.0, 1.0], d_.d)
    on_k = np.arange(d_.d) % 2 == 0
    xk0 = np.where(on_k, sign * np.sqrt(2) * om, 0.0)
    xq0 = np.where(on_k, 0.0, sign * np.sqrt(2) * om)
    r = check_sinh_closed_form(d_, (xk0, xq0), t_end=1e300, rtol=1e-8)
    return ErratumE10(omega0=om, init=(xk0, xq0), sinh_err=r.sinh_err, max_err=r.max_err,
                      cos_l1=cosine(r.beta_final, svms()["l1"]))


@dataclass(frozen=True)
class NormGrowth:
    """Lemma 4.2 along the headline flows, for t >= e.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
    norm_xi, mu_xi : numpy.ndarray, shape (m,)
        ``||beta(t)||_2`` and the margin ``mu(t)`` of the xi-flow.
    norm_beta, mu_beta : numpy.ndarray, shape (m,)
        The same for the beta-flow (same grid).
    l1_norm2 : float
        ``||beta_l1||_2`` (the prediction ``||beta|| ~ ||beta_l1|| mu``).
    """

    log_t: np.ndarray
    norm_xi: np.ndarray
    mu_xi: np.ndarray
    norm_beta: np.ndarray
    mu_beta: np.ndarray
    l1_norm2: float


def compute_norm_growth() -> NormGrowth:
    """Lemma 4.2 along the headline flows: ``||beta(t)||_2`` and the margin ``mu(t)`` against ``log t``.

    Returns
    -------
    NormGrowth
    """
    tx, tb = xi_flow(), beta_flow()
    keep = tx.log_t >= 1.0
    assert np.allclose(tx.log_t, tb.log_t)
    return NormGrowth(log_t=tx.log_t[keep], norm_xi=np.linalg.norm(beta_of(tx)[keep], axis=1), mu_xi=tx.margin[keep],
                      norm_beta=np.linalg.norm(beta_of(tb)[keep], axis=1), mu_beta=tb.margin[keep],
                      l1_norm2=float(np.linalg.norm(svms()["l1"])))


@dataclass(frozen=True)
class SeparateVsCombined:
    """Theorem 4.1's headline: the separate factors ``(xi_k, xi_q)`` against the combined ``beta``, on one grid.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
    bhat : dict flow -> numpy.ndarray, shape (m, d)
        ``beta / mu`` for the flows ``"xi"`` and ``"beta"``.
    dist : dict flow -> dict svm -> numpy.ndarray, shape (m,)
        Relative distance of ``bhat[flow]`` to the SVM solution ``"l1"`` or ``"l2"``.
    cos : dict flow -> dict svm -> numpy.ndarray, shape (m,)
        Cosine of ``beta`` with that SVM solution (NaN at ``beta = 0``).
    l1, l2 : numpy.ndarray, shape (d,)
        The SVM solutions.
    """

    log_t: np.ndarray
    bhat: dict
    dist: dict
    cos: dict
    l1: np.ndarray
    l2: np.ndarray


def compute_headline() -> SeparateVsCombined:
    """Separate ``(xi_k, xi_q)`` vs combined ``beta``: directions, cosines and distances to both SVM solutions.

    Returns
    -------
    SeparateVsCombined
    """
    ref = svms()
    bhat, dist, cos = {}, {}, {}
    for p, traj in (("xi", xi_flow()), ("beta", beta_flow())):
        bh = beta_hat(traj)
        bhat[p] = bh
        dist[p] = {s: _rel_dist(bh, ref[s]) for s in ("l1", "l2")}
        cos[p] = {s: _cosines(beta_of(traj), ref[s]) for s in ("l1", "l2")}
    return SeparateVsCombined(log_t=traj.log_t, bhat=bhat, dist=dist, cos=cos, l1=ref["l1"], l2=ref["l2"])


@dataclass(frozen=True)
class RateToL1:
    """The xi-flow's relative distance to the l1 solution against ``1/ln mu``, for the times with ``mu > e``.

    Attributes
    ----------
    inv_log_mu : numpy.ndarray, shape (m,)
        ``1 / ln mu(t)``.
    dist_l1 : numpy.ndarray, shape (m,)
        Relative distance of ``beta/mu`` to the l1-SVM solution.
    log_t : numpy.ndarray, shape (m,)
    at : dict log t -> float
        The distance at log t = 690 (t = 1e300), 1e4, 1e5 and ``LOG_T_END`` (1e6), interpolated.
    """

    inv_log_mu: np.ndarray
    dist_l1: np.ndarray
    log_t: np.ndarray
    at: dict


def compute_rate() -> RateToL1:
    """How slowly the xi-flow approaches the l1 solution: relative distance against ``1/ln mu``.

    Returns
    -------
    RateToL1
    """
    traj = xi_flow()
    ok = traj.margin > np.e
    dist = _rel_dist(beta_hat(traj), svms()["l1"])
    at = {lt: float(np.interp(lt, traj.log_t[ok], dist[ok])) for lt in (np.log(1e300), 1e4, 1e5, LOG_T_END)}
    return RateToL1(inv_log_mu=1 / np.log(traj.margin[ok]), dist_l1=dist[ok], log_t=traj.log_t[ok], at=at)


@dataclass(frozen=True)
class WidgetFlow:
    """The xi-flow from one initial scale ``omega_0``, as the widget draws it.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
    mu : numpy.ndarray, shape (m,)
        The margin ``mu(t)``.
    bhat : numpy.ndarray, shape (m, d)
        ``beta / mu`` (NaN while ``mu <= 0``).
    dist_l1, dist_l2 : numpy.ndarray, shape (m,)
        Relative distance of ``bhat`` to the l1- and the l2-SVM solution.
    """

    log_t: np.ndarray
    mu: np.ndarray
    bhat: np.ndarray
    dist_l1: np.ndarray
    dist_l2: np.ndarray


@memo
def compute_widget(omega0: float) -> WidgetFlow:
    """One xi-flow per ``omega0`` (log t up to 1e6, rtol 1e-6; cached), see :class:`WidgetFlow`."""
    traj = xi_flow(omega0, log_t_end=max(WIDGET_LOG_T), rtol=1e-6)
    bh = beta_hat(traj)
    ref = svms()
    return WidgetFlow(log_t=traj.log_t, mu=traj.margin, bhat=bh, dist_l1=_rel_dist(bh, ref["l1"]),
                      dist_l2=_rel_dist(bh, ref["l2"]))


def widget_min_dist_l2(omega0: float) -> float:
    """Closest approach of the xi-flow's direction to the l2 solution (relative distance), for t >= e."""
    w = compute_widget(omega0)
    keep = (w.log_t >= 1.0) & np.isfinite(w.dist_l2)
    return float(w.dist_l2[keep].min())


def lock_on_log_t(omega0: float) -> float:
    """``log t`` at which the xi-flow from ``omega0`` locks on to the l1-SVM (margin frame, to ``ln t = 1e300``;
    :func:`attnbook.experiments.diagonal_studies.lock_on_table`, cached)."""
    from .diagonal_studies import lock_on, lock_on_table

    rows = [r for r in lock_on_table() if np.isclose(r.omega0, omega0)]
    return rows[0].log_t if rows else lock_on(omega0).log_t


@dataclass(frozen=True)
class BalancedStart:
    """The xi-flow from a balanced nonzero start ``xi_k(0) = xi_q(0)``, against the nonnegative l1-SVM.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (5,)
        t = 1e300 and log t = 1e4, 1e5, 1e6, 1e300.
    beta_hat : numpy.ndarray, shape (5, d)
        ``beta / mu`` there.
    dist : numpy.ndarray, shape (5,)
        Relative distance of ``beta_hat`` to ``nonneg_l1``.
    nonneg_l1 : numpy.ndarray, shape (d,)
        The nonnegative l1-SVM solution.
    max_imbalance : float
        ``max |xi_k - xi_q| / |xi_k|`` along the flow (0: the factors stay equal).
    min_beta : float
        The smallest ``beta_j(t)`` (>= 0: beta never changes sign).
    """

    log_t: np.ndarray
    beta_hat: np.ndarray
    dist: np.ndarray
    nonneg_l1: np.ndarray
    max_imbalance: float
    min_beta: float


@memo
def compute_balanced_start(scale: float = 0.1) -> BalancedStart:
    """Exercise "a balanced but nonzero start": the xi-flow from ``xi_k(0) = xi_q(0) = scale * 1`` (conserved
    imbalance 0), to ``log t = 1e300`` through the margin frame, against the nonnegative l1-SVM.

    The nonnegative l1-SVM ``min ||beta||_1`` s.t. ``beta^T B_il >= 1``, ``beta >= 0`` is an LP (its objective is
    ``sum beta``), solved with :func:`scipy.optimize.linprog` (status checked).

    Returns
    -------
    BalancedStart
    """
    from scipy.optimize import linprog

    scale = float(scale)
    if not scale > 0:
        raise ValueError(f"scale must be a positive float; got {scale!r}")
    d_ = data()
    start = (scale * np.ones(d_.d), scale * np.ones(d_.d))
    traj = gradient_flow(d_, "xi", start, log_t_end=1e300, log_t_eval=[np.log(1e300), 1e4, 1e5, 1e6, 1e300])
    lp = linprog(np.ones(d_.d), A_ub=-d_.B, b_ub=-np.ones(len(d_.B)), bounds=[(0, None)] * d_.d)
    if lp.status != 0:
        raise RuntimeError(f"nonnegative l1-SVM: linprog failed ({lp.message})")
    bh = beta_hat(traj)
    xk, xq = traj.params["xi_k"], traj.params["xi_q"]
    return BalancedStart(log_t=traj.log_t, beta_hat=bh, dist=_rel_dist(bh, lp.x), nonneg_l1=lp.x,
                         max_imbalance=float((np.abs(xk - xq) / np.abs(xk)).max()),
                         min_beta=float(beta_of(traj).min()))
