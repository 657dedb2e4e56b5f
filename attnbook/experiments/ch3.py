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
from attnlib.factorization import factor_cost, l1_factors, nuclear_factors, padded_diag
from attnlib.flow import Trajectory, default_init, gradient_flow
from attnlib.model import (attention_scores, cosine, excess_loss, loss_grad_beta, loss_grad_KQ, loss_grad_xi,
                           margin)
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
    l1_norm2, l2_norm2 : float
        ``||beta_l1||_2`` and ``||beta_l2||_2``: the leading-order predictions ``||beta|| ~ ||beta_l1|| ln t`` for the
        xi-flow (once locked on) and ``||beta_l2|| ln t`` for the beta-flow.
    detour_norm2 : float
        ``||e_1 / B_a1||_2``, the norm of the detour's direction (:func:`compute_saddle`), which the xi-flow
        follows until its lock-on.
    """

    log_t: np.ndarray
    norm_xi: np.ndarray
    mu_xi: np.ndarray
    norm_beta: np.ndarray
    mu_beta: np.ndarray
    l1_norm2: float
    l2_norm2: float
    detour_norm2: float


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
                      l1_norm2=float(np.linalg.norm(svms()["l1"])), l2_norm2=float(np.linalg.norm(svms()["l2"])),
                      detour_norm2=float(1.0 / data().B[:, 0].min()))


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
        The distance at log t = 690 (t = 1e300), 1e4, 1e5 and ``LOG_T_END`` (1e6), from the flow saved at exactly
        those times (:data:`RATE_LOG_T`).
    mu_at : dict log t -> float
        The margin ``mu`` at those times (the same flow).
    """

    inv_log_mu: np.ndarray
    dist_l1: np.ndarray
    log_t: np.ndarray
    at: dict
    mu_at: dict


#: The times (log t) at which :func:`compute_rate` reports the distance and the margin: t = 1e300, ln t = 1e4, 1e5,
#: 1e6.
RATE_LOG_T = (float(np.log(1e300)), 1e4, 1e5, LOG_T_END)


@memo
def _xi_flow_at(log_ts: tuple[float, ...], omega0: float = OMEGA0, rtol: float = 1e-8) -> Trajectory:
    """The xi-flow from init (5) saved at exactly ``log_ts`` (and t = 0)."""
    grid = np.concatenate([[-np.inf], np.asarray(log_ts, dtype=float)])
    return gradient_flow(data(), "xi", xi_init(omega0), log_t_end=max(log_ts), log_t_eval=grid, rtol=rtol)


def compute_rate() -> RateToL1:
    """How slowly the xi-flow approaches the l1 solution: relative distance against ``1/ln mu``.

    The curve comes from the headline flow's saved times; the distances and margins quoted at ``RATE_LOG_T`` from
    the same flow saved at exactly those times (not the nearest saved time, which lies up to 3 % away in ln t).

    Returns
    -------
    RateToL1
    """
    traj = xi_flow()
    ok = traj.margin > np.e
    dist = _rel_dist(beta_hat(traj), svms()["l1"])
    exact = _xi_flow_at(RATE_LOG_T)
    d_at = _rel_dist(beta_hat(exact), svms()["l1"])
    at = {lt: float(d_at[k + 1]) for k, lt in enumerate(RATE_LOG_T)}
    mu_at = {lt: float(exact.margin[k + 1]) for k, lt in enumerate(RATE_LOG_T)}
    return RateToL1(inv_log_mu=1 / np.log(traj.margin[ok]), dist_l1=dist[ok], log_t=traj.log_t[ok], at=at,
                    mu_at=mu_at)


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


# -- issue 25: the detour as a KKT point of the parameter-space margin problem (items 16, 20) ------------------

@dataclass(frozen=True)
class DetourSaddle:
    """The one-coordinate point ``beta_s = e_1 / B_a1`` of the sparse detour, as a KKT point of the nonconvex
    parameter-space margin problem ``min (||xi_k||^2 + ||xi_q||^2)/2`` s.t. ``(xi_k * xi_q)^T B_il >= 1``.

    Attributes
    ----------
    beta_s : numpy.ndarray, shape (d,)
        ``e_1 / B_a1`` with ``a`` the pair of smallest ``B_il,1``.
    active : int
        ``a`` (row of ``data.B``).
    multiplier : float
        Its KKT multiplier ``lambda_a = 1 / B_a1`` (every other pair's is 0).
    slack : float
        ``min_il beta_s^T B_il - 1`` (0: feasible, ``a`` active).
    param_residual : float
        ``max |xi - (B^T lambda) * xi|`` at the balanced factors ``xi_k = xi_q = sqrt(beta_s)``: the stationarity of
        the parameter problem (0).
    subgradient : numpy.ndarray, shape (d,)
        ``B^T lambda`` = ``B_a / B_a1``: 1 on the support, but ``B_a2/B_a1 = 9/7 > 1`` on coordinate 2, outside the
        l1 subdifferential ``[-1, 1]``: not a KKT point of the l1-SVM.
    l1_norm, l1_opt : float
        ``||beta_s||_1`` and the l1-SVM's optimal value.
    seeded_bhat : numpy.ndarray, shape (d,)
        ``beta / mu`` at ``ln t = 1e3`` of the xi-flow whose start seeds coordinate 1 only (``xi_k(0) = sqrt2 omega_0
        e_1``, ``xi_q(0) = 0``: init (5) with ``omega_0,j = 0`` for ``j > 1``).
    seeded_dist : float
        Relative distance of ``seeded_bhat`` to ``beta_s``.
    """

    beta_s: np.ndarray
    active: int
    multiplier: float
    slack: float
    param_residual: float
    subgradient: np.ndarray
    l1_norm: float
    l1_opt: float
    seeded_bhat: np.ndarray
    seeded_dist: float


@memo
def compute_saddle(omega0: float = OMEGA0) -> DetourSaddle:
    """The detour's one-coordinate point: a KKT point of the parameter margin problem, not of the l1-SVM; and the
    flow that reaches it when the start does not seed every coordinate.

    Returns
    -------
    DetourSaddle
    """
    d_ = data()
    B = d_.B
    a = int(np.argmin(B[:, 0]))
    beta_s = np.zeros(d_.d)
    beta_s[0] = 1.0 / B[a, 0]
    lam = np.zeros(len(B))
    lam[a] = 1.0 / B[a, 0]
    sub = B.T @ lam
    xi = np.sqrt(beta_s)
    xk0, xq0 = xi_init(omega0)
    seeded = gradient_flow(d_, "xi", (np.where(np.arange(d_.d) == 0, xk0, 0.0), xq0), log_t_end=1e3)
    bh = beta_hat(seeded)[-1]
    return DetourSaddle(beta_s=beta_s, active=a, multiplier=float(lam[a]), slack=float((B @ beta_s).min() - 1.0),
                        param_residual=float(np.abs(xi - sub * xi).max()), subgradient=sub,
                        l1_norm=float(np.abs(beta_s).sum()), l1_opt=float(np.abs(svms()["l1"]).sum()),
                        seeded_bhat=bh, seeded_dist=float(_rel_dist(bh, beta_s)))


# -- issue 25 item 19: Lemma 4.2's energy inequality and the pairing with a feasible beta_f ----------------------

@dataclass(frozen=True)
class EnergyInequality:
    """Lemma 4.2's argument along the xi-flow from init (5) to t = 1e300 (saved densely in the transient).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times, ``-inf`` (t = 0) first.
    excess : numpy.ndarray, shape (m,)
        ``L(t) - L*`` (:func:`attnlib.excess_loss`).
    dissipated : numpy.ndarray, shape (m,)
        ``D(t) = int_0^t 2 omega_min^2 ||grad_beta L||^2``, by the trapezoid rule (in t up to t = 1, in ln t after).
    budget : float
        ``L(0) - L*``: the energy inequality bounds ``D(t) <= L(0) - L(t) < budget``.
    t_pairing : numpy.ndarray, shape (m,)
        ``t <-grad_beta L, beta_f>`` with the feasible ``beta_f = beta_l1 / mu(beta_l1)`` (``beta_f^T B_il >= 1``).
    t_bound : numpy.ndarray, shape (m,)
        ``t (1/n) sum_i l_i Delta_i sigma_opt(i) (1 - sigma_opt(i))``, the lower bound of the pairing (computed in
        log space, so it stays finite where ``1 - sigma_opt`` underflows).
    t_grad_norm : numpy.ndarray, shape (m,)
        ``t ||grad_beta L||``.
    norm_beta : numpy.ndarray, shape (m,)
        ``||beta(t)||_2``.
    """

    log_t: np.ndarray
    excess: np.ndarray
    dissipated: np.ndarray
    budget: float
    t_pairing: np.ndarray
    t_bound: np.ndarray
    t_grad_norm: np.ndarray
    norm_beta: np.ndarray


@memo
def compute_energy(omega0: float = OMEGA0) -> EnergyInequality:
    """Lemma 4.2 measured: the dissipation ``int 2 omega_min^2 ||grad L||^2`` stays below ``L(0) - L*``, and the
    pairing ``<-grad L, beta_f>`` with a diagonal-feasible ``beta_f`` stays above its lower bound, both -> 0 while
    ``||beta|| -> infinity``.

    Returns
    -------
    EnergyInequality
    """
    d_ = data()
    grid = np.unique(np.concatenate([[-np.inf], np.linspace(-6.0, 3.0, 181),
                                     np.geomspace(3.0, np.log(1e300), 400)]))
    traj = gradient_flow(d_, "xi", xi_init(omega0), log_t_end=np.log(1e300), log_t_eval=grid, rtol=1e-10)
    beta, lt = beta_of(traj), traj.log_t
    scale = np.where(np.isfinite(lt), lt, 0.0)  # log t; t = 0 is evaluated unscaled (t g = 0 there)
    tg = np.array([loss_grad_beta(d_, b, log_scale=s_) for b, s_ in zip(beta, scale)])  # t grad L (grad L at t = 0)
    t = np.exp(lt)
    tg[0] = 0.0
    g0 = loss_grad_beta(d_, beta[0])
    w2min = float(np.min(np.abs(xi_init(omega0)[0])) ** 2 / 2)  # omega_min^2 (init (5): xi_k(0) = sqrt2 omega_0)
    # dissipation: trapezoid in t on [0, 1], in s = ln t beyond (integrand 2 w^2 |t g|^2 e^{-s})
    early = np.flatnonzero(t <= 1.0)
    g_early = np.vstack([g0, tg[early[1:]] / t[early[1:], None]])
    f_t = 2 * w2min * np.sum(g_early ** 2, axis=1)
    D = np.zeros(len(t))
    D[early] = np.concatenate([[0.0], np.cumsum(0.5 * (f_t[1:] + f_t[:-1]) * np.diff(t[early]))])
    late = np.arange(early[-1], len(t))
    f_s = 2 * w2min * np.sum(tg[late] ** 2, axis=1) * np.exp(-lt[late])
    D[late] = D[early[-1]] + np.concatenate([[0.0], np.cumsum(0.5 * (f_s[1:] + f_s[:-1]) * np.diff(lt[late]))])
    excess = np.array([excess_loss(d_, np.diag(b)) for b in beta])
    l1 = svms()["l1"]
    beta_f = l1 / margin(d_, np.diag(l1))
    # the bound (1/n) sum_i l_i Delta_i sigma_opt (1 - sigma_opt), times t, in log space
    rows = np.arange(d_.n)
    nopt = np.ones((d_.n, d_.L), dtype=bool)
    nopt[rows, d_.opt] = False
    gam = d_.gamma
    delta = d_.gamma_opt - np.array([gam[i][nopt[i]].max() for i in rows])  # Assumption 2: one non-optimal score
    bound = []
    for b, s_ in zip(beta, scale):
        logit = attention_scores(d_, np.diag(b))
        lse = np.logaddexp.reduce(logit, axis=1)
        log_sig = logit - lse[:, None]
        log_rest = np.logaddexp.reduce(np.where(nopt, log_sig, -np.inf), axis=1)  # log(1 - sigma_opt)
        log_loss = -np.sum(np.exp(log_sig) * gam, axis=1)
        terms = log_loss + np.log(delta) + log_sig[rows, d_.opt] + log_rest + s_
        bound.append(np.exp(np.logaddexp.reduce(terms)) / d_.n)
    bound = np.array(bound)
    bound[0] = 0.0
    return EnergyInequality(log_t=lt, excess=excess, dissipated=D, budget=float(excess[0]),
                            t_pairing=-tg @ beta_f, t_bound=bound, t_grad_norm=np.linalg.norm(tg, axis=1),
                            norm_beta=np.linalg.norm(beta, axis=1))


# -- issue 25 items 21, 27: the hyperbolic entropy's asymptotics ------------------------------------------------

def hyperbolic_entropy(beta, omega0) -> np.ndarray:
    """``psi(beta) = 1/2 sum_j [beta_j arcsinh(beta_j / omega_j^2) - sqrt(beta_j^2 + omega_j^4)]``.

    Parameters
    ----------
    beta : array_like, shape (..., d)
    omega0 : float or array_like, shape (d,)

    Returns
    -------
    numpy.ndarray, shape (...)
    """
    beta = np.asarray(beta, dtype=float)
    w2 = np.asarray(omega0, dtype=float) ** 2
    return 0.5 * np.sum(beta * np.arcsinh(beta / w2) - np.sqrt(beta ** 2 + w2 ** 2), axis=-1)


def entropy_asymptote(beta, omega0) -> np.ndarray:
    """``1/2 sum_j |beta_j| (ln(2 |beta_j| / omega_j^2) - 1)`` (0 for ``beta_j = 0``), shape (...)."""
    beta = np.abs(np.asarray(beta, dtype=float))
    w2 = np.asarray(omega0, dtype=float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(beta > 0, beta * (np.log(2 * beta / w2) - 1), 0.0)
    return 0.5 * np.sum(term, axis=-1)


@dataclass(frozen=True)
class EntropyAsymptotics:
    """The hyperbolic entropy against its asymptote, on random points and along ``mu b`` for the l1 direction ``b``.

    Attributes
    ----------
    omegas : numpy.ndarray, shape (k,)
        Initial scales (``omega_0 = omega * 1``).
    rem_min, rem_max : numpy.ndarray, shape (k,)
        ``min`` and ``max`` of ``(psi - asymptote) / (||omega_0||^2 / 2)`` over 2,000 random ``beta`` per scale
        (entries ``omega^2 * 10^U(-4, 6)`` with random signs and zeros): the remainder lies in ``[-1, 0]``.
    mu : numpy.ndarray, shape (p,)
        Scales ``mu`` (1e2 ... 1e150; ``beta^2`` overflows past 1e154).
    ratio : numpy.ndarray, shape (k, p)
        ``psi(mu b) / (mu ln mu ||b||_1 / 2)``, ``b`` the l1-SVM solution: -> 1 for every ``omega_0``, like
        ``1 + c(omega_0) / ln mu``.
    """

    omegas: np.ndarray
    rem_min: np.ndarray
    rem_max: np.ndarray
    mu: np.ndarray
    ratio: np.ndarray


def compute_entropy_asymptotics(seed: int = 0) -> EntropyAsymptotics:
    """``psi(beta) = asymptote - rho(beta)`` with ``0 <= rho <= ||omega_0||^2 / 2``, and ``psi(mu b) ~ mu ln mu ||b||_1 / 2``
    for every ``omega_0``.

    Returns
    -------
    EntropyAsymptotics
    """
    rng = np.random.default_rng(seed)
    d = data().d
    omegas = np.array(WIDGET_OMEGA0)
    rem_min, rem_max = [], []
    for om in omegas:
        mag = om ** 2 * 10.0 ** rng.uniform(-4, 6, (2000, d))
        beta = mag * rng.choice([-1.0, 0.0, 1.0], (2000, d), p=[0.45, 0.1, 0.45])
        rem = (hyperbolic_entropy(beta, om) - entropy_asymptote(beta, om)) / (d * om ** 2 / 2)
        rem_min.append(rem.min())
        rem_max.append(rem.max())
    b = svms()["l1"]
    mu = np.geomspace(1e2, 1e150, 75)
    ratio = np.array([hyperbolic_entropy(mu[:, None] * b, om) / (mu * np.log(mu) * np.abs(b).sum() / 2)
                      for om in omegas])
    return EntropyAsymptotics(omegas=omegas, rem_min=np.array(rem_min), rem_max=np.array(rem_max), mu=mu,
                              ratio=ratio)


# -- issue 25 item 24: the minimizers of the factor cost are exactly the balanced factorizations ------------------

@dataclass(frozen=True)
class BalancedFamily:
    """Members of the family of cheapest factorizations, and their costs.

    Attributes
    ----------
    beta : numpy.ndarray, shape (d,)
        The l1-SVM solution.
    l1_costs : numpy.ndarray, shape (k,)
        ``factor_cost`` of ``(s * xi_k*, s * xi_q*)`` for random sign vectors ``s`` (any sign split), divided by
        ``||beta||_1``.
    l1_products : float
        ``max |s xi_k* * s xi_q* - beta|`` over them.
    W : numpy.ndarray, shape (d, d)
        A random rank-2 matrix.
    nuc_costs : numpy.ndarray, shape (k,)
        ``factor_cost(K* R, Q* R) / ||W||_*`` for random orthogonal ``R`` (d_e = d).
    nuc_products, nuc_imbalance : float
        ``max |K* R (Q* R)^T - W|`` and ``max |(K* R)^T K* R - (Q* R)^T Q* R|``: all balanced.
    """

    beta: np.ndarray
    l1_costs: np.ndarray
    l1_products: float
    W: np.ndarray
    nuc_costs: np.ndarray
    nuc_products: float
    nuc_imbalance: float


def compute_balanced_family(k: int = 50, seed: int = 0) -> BalancedFamily:
    """Any sign split of the balanced l1 factors, and ``(U S^1/2 R, V S^1/2 R)`` for any orthogonal ``R``, cost
    exactly the norm.

    Returns
    -------
    BalancedFamily
    """
    rng = np.random.default_rng(seed)
    beta = svms()["l1"]
    xk, xq = l1_factors(beta)
    signs = rng.choice([-1.0, 1.0], (k, len(beta)))
    l1 = np.abs(beta).sum()
    l1_costs = np.array([factor_cost(s_ * xk, s_ * xq) / l1 for s_ in signs])
    l1_prod = float(max(np.abs((s_ * xk) * (s_ * xq) - beta).max() for s_ in signs))
    d = len(beta)
    W = rng.standard_normal((d, 2)) @ rng.standard_normal((2, d))
    K, Q = nuclear_factors(W, d)
    nuc = np.linalg.svd(W, compute_uv=False).sum()
    costs, prods, imbs = [], [], []
    for _ in range(k):
        R, _r = np.linalg.qr(rng.standard_normal((d, d)))
        KR, QR = K @ R, Q @ R
        costs.append(factor_cost(KR, QR) / nuc)
        prods.append(np.abs(KR @ QR.T - W).max())
        imbs.append(np.abs(KR.T @ KR - QR.T @ QR).max())
    return BalancedFamily(beta=beta, l1_costs=l1_costs, l1_products=l1_prod, W=W, nuc_costs=np.array(costs),
                          nuc_products=float(max(prods)), nuc_imbalance=float(max(imbs)))


# -- issue 25 item 18: Lemma 4.1 for starts that are not the rotation of w_pm(0) = omega_0 --------------------

@dataclass(frozen=True)
class EquivalenceAnyStart:
    """Lemma 4.1 for xi-starts satisfying eq. (4) that are not the 45-degree rotation of the network's start.

    Attributes
    ----------
    init : tuple of two numpy.ndarray, each shape (d,)
        ``(xi_k(0), xi_q(0))``: per coordinate ``(sqrt2 w, 0)``, ``(0, sqrt2 w)``, ``(-sqrt2 w, 0)``,
        ``(0, -sqrt2 w)``; all have ``xi_k xi_q = 0 = w(0)`` and ``xi_k^2 + xi_q^2 = 2 w^2 = w_+^2 + w_-^2``.
    rotation_gap : float
        ``max |xi(0) - rotation of (w_+(0), w_-(0))|``: how far the start is from the rotation's image (> 0).
    rel_err : numpy.ndarray, shape (m,)
        ``||beta(t) - w(t)|| / ||beta(t)||`` against :func:`attnlib.diagnostics.diagonal_network_flow` from
        ``w_pm(0) = omega_0`` (both at rtol 1e-10, to t = 1e300).
    """

    init: tuple
    rotation_gap: float
    rel_err: np.ndarray


@memo
def compute_equivalence_any_start(omega0: float = OMEGA0) -> EquivalenceAnyStart:
    """Lemma 4.1 from starts the rotation does not map onto each other: equal ``(beta(0), s(0))``, equal ``beta(t)``.

    Returns
    -------
    EquivalenceAnyStart
    """
    d_ = data()
    om = np.full(d_.d, omega0)
    r2 = np.sqrt(2) * om
    pattern = np.arange(d_.d) % 4
    xk0 = np.select([pattern == 0, pattern == 2], [r2, -r2], 0.0)
    xq0 = np.select([pattern == 1, pattern == 3], [r2, -r2], 0.0)
    traj = gradient_flow(d_, "xi", (xk0, xq0), log_t_end=np.log(1e300), rtol=1e-10)
    w = diagonal_network_flow(d_, om, traj.t)
    rot_k, rot_q = (om + om) / np.sqrt(2), (om - om) / np.sqrt(2)
    gap = float(max(np.abs(xk0 - rot_k).max(), np.abs(xq0 - rot_q).max()))
    return EquivalenceAnyStart(init=(xk0, xq0), rotation_gap=gap, rel_err=relative_error(w, beta_of(traj), axis=1))


# -- issue 25 item 17: the beta-flow's keys are not the tokens its values are read from -------------------------

@dataclass(frozen=True)
class KeyValueCheck:
    """Can the beta-flow be written with keys and values read off the same tokens (as in the p-model)?

    With keys ``k_il = z_i * x_il`` (up to a shift ``c_i`` per sample, which leaves the softmax unchanged), values
    ``v'^T (k_il + c_i)`` reproduce the scores ``gamma_il`` only if ``v'^T (k_i,opt - k_il) = v'^T B_il = y_i Delta_i``
    (the value differences are ``y_i (gamma_i,opt - gamma_il)``) for every pair.

    Attributes
    ----------
    opt_keys : numpy.ndarray, shape (n, d)
        ``z_i * x_i,opt``.
    gamma_opt : numpy.ndarray, shape (n,)
        ``gamma_i,opt``.
    v_fit : numpy.ndarray, shape (d,)
        The least-squares ``v'``.
    residual : float
        ``||B v' - y Delta|| / ||y Delta||`` (0 iff such a ``v'`` exists).
    """

    opt_keys: np.ndarray
    gamma_opt: np.ndarray
    v_fit: np.ndarray
    residual: float


def compute_key_value_check() -> KeyValueCheck:
    """Least squares for ``v'^T B_il = y_i Delta_i`` over all pairs (see :class:`KeyValueCheck`).

    Returns
    -------
    KeyValueCheck
    """
    d_ = data()
    i, l_ = d_.pairs[:, 0], d_.pairs[:, 1]
    rhs = d_.y[i] * (d_.gamma_opt[i] - d_.gamma[i, l_])
    v_fit = np.linalg.lstsq(d_.B, rhs, rcond=None)[0]
    rows = np.arange(d_.n)
    return KeyValueCheck(opt_keys=d_.z * d_.X[rows, d_.opt], gamma_opt=d_.gamma_opt, v_fit=v_fit,
                         residual=float(np.linalg.norm(d_.B @ v_fit - rhs) / np.linalg.norm(rhs)))
