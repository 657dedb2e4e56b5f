"""The "why" sections of chapters 2, 3 and 5: the variational identities, the homogeneity of the logit gaps, the
sample weights behind the Frobenius limit, weight decay against the implicit bias, and the Watson subgradient that
transfers stationarity in Theorem 5.1's proof.

Every function returns a frozen dataclass (read-only arrays) computed once per process.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, logsumexp

from attnlib import factorization as fz
from attnlib.data import AttentionData, make_diagonal_data, make_generic_data, make_orthogonal_data
from attnlib.flow import aligned_bases, default_init, gradient_flow
from attnlib.model import excess_loss, loss_grad_KQ, margin, predict
from attnlib.svm import selection_pairs, solve_selection_svm, solve_svm
from ._store import memo, pool_map
from .shared import WEIGHTS_LOG_T, WEIGHTS_SEED, WEIGHTS_SHAPE, generic_demo, generic_w_flow

STUDY_SEEDS = tuple(range(20))
STUDY_INITS = ("zero", "random")  # W(0) = 0 and W(0) = 0.1 N(0, 1)
STUDY_LOG_T = 1e3
WD_LAMBDAS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10)
WD_LOG_T = 1e4
KQ_SCALE = 0.01                  # (K, Q) entries 0.01 N(0, 1), as in chapter 6
WATSON_LOG_T = (1e1, 1e2, 1e3, 1e4)


# -- the variational identities ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class L1VariationalIdentity:
    """``||beta||_1 = min (||xi_k||^2 + ||xi_q||^2)/2`` over the factorizations ``beta = xi_k * xi_q``.

    Attributes
    ----------
    beta : numpy.ndarray, shape (d,)
        The l1-SVM solution of chapter 3's data (the solver's ~1e-12 entries set to 0).
    xi_k, xi_q : numpy.ndarray, shape (d,)
        Its balanced factors (:func:`attnlib.factorization.l1_factors`).
    cost : float
        Their cost ``(||xi_k||^2 + ||xi_q||^2)/2``.
    l1 : float
        ``||beta||_1``.
    random_costs : numpy.ndarray, shape (n_random,)
        Costs of random other factorizations (``e^u`` scalings on the support, free factors off it).
    u_grid, cost_grid : numpy.ndarray, shape (201,)
        The imbalance ``u`` (the same on every coordinate) and the cost ``||beta||_1 cosh(2u)`` of
        ``(e^u xi_k, e^-u xi_q)``.
    minimized : float
        The minimum BFGS finds over the per-coordinate imbalance.
    minimizer_u : numpy.ndarray, shape (d,)
        Where it finds it.
    """

    beta: np.ndarray
    xi_k: np.ndarray
    xi_q: np.ndarray
    cost: float
    l1: float
    random_costs: np.ndarray
    u_grid: np.ndarray
    cost_grid: np.ndarray
    minimized: float
    minimizer_u: np.ndarray


@memo
def variational_l1(n_random: int = 2000, seed: int = 0) -> L1VariationalIdentity:
    """The identity ``||beta||_1 = min (||xi_k||^2 + ||xi_q||^2)/2`` on the l1-SVM solution of chapter 3's data.

    Other factorizations of the same beta are ``xi_k = e^u * xi_k*``, ``xi_q = e^-u * xi_q*`` on the support
    (cost ``sum_j |beta_j| cosh(2 u_j)``) plus a free factor ``a_j`` off it (cost ``a_j^2 / 2``).

    Returns
    -------
    L1VariationalIdentity
    """
    beta = solve_svm(make_diagonal_data(), "l1").beta.copy()
    beta[np.abs(beta) < 1e-9 * np.abs(beta).max()] = 0.0  # the solver's zeros are ~1e-12
    xi_k, xi_q = fz.l1_factors(beta)
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, 0.5, size=(n_random, beta.size))
    a = rng.normal(0.0, 0.5, size=(n_random, beta.size)) * (beta == 0)
    costs = np.array([fz.factor_cost(np.exp(uu) * xi_k + aa, np.exp(-uu) * xi_q) for uu, aa in zip(u, a)])
    grid = np.linspace(-1.0, 1.0, 201)
    found = minimize(lambda w: fz.factor_cost(np.exp(w) * xi_k, np.exp(-w) * xi_q), u[0], method="BFGS")
    return L1VariationalIdentity(beta=beta, xi_k=xi_k, xi_q=xi_q, cost=fz.factor_cost(xi_k, xi_q),
                                 l1=float(np.abs(beta).sum()), random_costs=costs, u_grid=grid,
                                 cost_grid=np.abs(beta).sum() * np.cosh(2 * grid), minimized=float(found.fun),
                                 minimizer_u=found.x)


@dataclass(frozen=True)
class NuclearVariationalIdentity:
    """``||W||_* = min (||K||_F^2 + ||Q||_F^2)/2`` over the factorizations ``W = K Q^T``.

    Attributes
    ----------
    W : numpy.ndarray, shape (d, d)
        The nuclear-SVM solution of ``generic_demo``.
    K, Q : numpy.ndarray, shape (d, d)
        Its balanced factors ``U S^1/2``, ``V S^1/2`` (:func:`attnlib.factorization.nuclear_factors`).
    cost : float
        Their cost ``(||K||_F^2 + ||Q||_F^2)/2``.
    nuc : float
        ``||W||_*``.
    sv : numpy.ndarray, shape (d,)
        The singular values of ``W``.
    random_costs : numpy.ndarray, shape (k,)
        Costs of the factorizations ``(K R, Q R^{-T})`` for the random ``R`` with ``|det R| > 1e-3``.
    minimized : float
        The minimum BFGS finds over ``R``.
    start_cost : float
        The cost at BFGS's random start.
    product_error : float
        ``max |K_min Q_min^T - W|`` at the BFGS minimizer.
    imbalance : float
        ``max |K_min^T K_min - Q_min^T Q_min|`` there.
    balance_star : float
        The same for the balanced factors ``K``, ``Q``.
    """

    W: np.ndarray
    K: np.ndarray
    Q: np.ndarray
    cost: float
    nuc: float
    sv: np.ndarray
    random_costs: np.ndarray
    minimized: float
    start_cost: float
    product_error: float
    imbalance: float
    balance_star: float


@memo
def variational_nuclear(n_random: int = 2000, seed: int = 0) -> NuclearVariationalIdentity:
    """The identity ``||W||_* = min (||K||_F^2 + ||Q||_F^2)/2`` on the nuclear-SVM solution of ``generic_demo``.

    Every factorization with ``d_e = d`` is ``(K* R, Q* R^{-T})`` for an invertible ``R`` when ``W`` has full
    rank; for rank-deficient ``W`` we add free columns where ``K*`` and ``Q*`` are zero. BFGS over ``R``
    (from a random start) finds the minimum.

    Returns
    -------
    NuclearVariationalIdentity
    """
    W = np.array(solve_svm(generic_demo(), "nuc").W)
    d = W.shape[0]
    K, Q = fz.nuclear_factors(W)
    rng = np.random.default_rng(seed)

    def cost_R(r: np.ndarray) -> float:
        R = r.reshape(d, d)
        return fz.factor_cost(K @ R, Q @ np.linalg.inv(R).T)

    Rs = np.eye(d) + 0.5 * rng.standard_normal((n_random, d, d))
    costs = np.array([cost_R(R.ravel()) for R in Rs if abs(np.linalg.det(R)) > 1e-3])
    start = (np.eye(d) + 0.5 * rng.standard_normal((d, d))).ravel()
    found = minimize(cost_R, start, method="BFGS", options={"gtol": 1e-10})
    R = found.x.reshape(d, d)
    Km, Qm = K @ R, Q @ np.linalg.inv(R).T
    return NuclearVariationalIdentity(W=W, K=K, Q=Q, cost=fz.factor_cost(K, Q), nuc=float(np.linalg.norm(W, "nuc")),
                                      sv=np.linalg.svd(W, compute_uv=False), random_costs=costs,
                                      minimized=float(found.fun), start_cost=cost_R(start),
                                      product_error=float(np.abs(Km @ Qm.T - W).max()),
                                      imbalance=float(np.abs(Km.T @ Km - Qm.T @ Qm).max()),
                                      balance_star=float(np.abs(K.T @ K - Q.T @ Q).max()))


@dataclass(frozen=True)
class Homogeneity:
    """The balanced factors ``(c K*, c Q*)`` of the nuclear-SVM solution ``W*`` of ``generic_demo``, scaled by ``c``.

    Attributes
    ----------
    scales : numpy.ndarray, shape (k,)
        The scales ``c``.
    margin : numpy.ndarray, shape (k,)
        ``mu(c^2 W*)`` (2-homogeneous).
    margin_over_c2 : numpy.ndarray, shape (k,)
        ``margin / c^2`` (1: the SVM's margin).
    y_phi : numpy.ndarray, shape (k, n)
        The outputs ``y_i Phi_i`` (a convex combination of token scores, so bounded).
    gamma_opt : numpy.ndarray, shape (n,)
        The optimal tokens' scores ``gamma_{i,opt}``.
    gamma_max : float
        The largest token score ``max |gamma_il|`` (the bound on ``y_i Phi_i``).
    """

    scales: np.ndarray
    margin: np.ndarray
    margin_over_c2: np.ndarray
    y_phi: np.ndarray
    gamma_opt: np.ndarray
    gamma_max: float


@memo
def homogeneity(scales: tuple = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)) -> Homogeneity:
    """Scale the balanced factors of the nuclear-SVM solution by ``c``: margins grow like ``c^2``, outputs saturate.

    Returns
    -------
    Homogeneity
        The margins ``mu(c^2 W*)`` (2-homogeneous), the outputs ``y_i Phi_i`` and the token scores that bound them
        (the output ``y_i Phi_i = gamma_i^T sigma`` is a convex combination of token scores, so it is bounded).
    """
    data = generic_demo()
    K, Q = fz.nuclear_factors(np.array(solve_svm(data, "nuc").W))
    sc = np.array(scales, float)
    mus = np.array([margin(data, (c * K) @ (c * Q).T) for c in sc])
    outs = np.array([data.y * predict(data, (c * K) @ (c * Q).T) for c in sc])
    return Homogeneity(scales=sc, margin=mus, margin_over_c2=mus / sc**2, y_phi=outs,
                       gamma_opt=np.array(data.gamma_opt), gamma_max=float(np.abs(data.gamma).max()))


# -- sample weights along the W-flow (chapter 2) ------------------------------------------------------------------

def pair_weights(data: AttentionData, Ws: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
    """Normalised weights ``c_il / sum |c|`` of ``-grad_W L = sum_il c_il A_il`` along a path, in log space.

    ``c_il = (1/n) l_i sigma_il (sigma_i^T gamma_i - gamma_il)`` (``l_i = e^{-gamma_i^T sigma_i}``) for the pairs
    ``(i, l)`` of ``pairs`` (default ``data.pairs``; a selection's pairs for a locally optimal direction).

    Parameters
    ----------
    data : AttentionData
    Ws : numpy.ndarray, shape (m, d, d)
    pairs : numpy.ndarray of int, shape (k, 2), optional

    Returns
    -------
    numpy.ndarray, shape (m, k)
        Signed weights; their absolute values sum to 1 in every row.
    """
    pairs = data.pairs if pairs is None else np.asarray(pairs)
    g = np.einsum("ild,mde,ie->mil", data.X, Ws, data.z)
    logsig = log_softmax(g, axis=-1)
    mean_score = np.einsum("mil,il->mi", np.exp(logsig), data.gamma)
    i, l = pairs.T
    gap = mean_score[:, i] - data.gamma[i, l]
    with np.errstate(divide="ignore"):
        logc = -mean_score[:, i] + logsig[:, i, l] + np.log(np.abs(gap))
    return np.sign(gap) * np.exp(logc - logsumexp(logc, axis=1, keepdims=True))


@dataclass(frozen=True)
class SampleWeights:
    """The pair weights of ``-grad_W L`` along the W-flow from 0, against the Frobenius SVM's duals.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
    margin : numpy.ndarray, shape (m,)
        ``mu(W(t))``.
    weights : numpy.ndarray, shape (m, k)
        Signed weights ``c_il / sum |c|`` of the ``k`` pairs (:func:`pair_weights`).
    lam : numpy.ndarray, shape (k,)
        The W_F-SVM's duals, normalised to sum 1.
    active : numpy.ndarray of bool, shape (k,)
        The support pairs of the W_F-SVM.
    nonsupport_mass : numpy.ndarray, shape (m,)
        The total weight ``sum |c|`` on the other pairs.
    dual_dist : numpy.ndarray, shape (m,)
        ``max |weights - lam|``.
    cos_grad_svm, cos_W_svm : numpy.ndarray, shape (m,)
        Cosine of ``-grad_W L`` and of ``W(t)`` with the W_F-SVM solution.
    n_pairs, n_support : int
        The numbers of pairs and of support pairs.
    """

    log_t: np.ndarray
    margin: np.ndarray
    weights: np.ndarray
    lam: np.ndarray
    active: np.ndarray
    nonsupport_mass: np.ndarray
    dual_dist: np.ndarray
    cos_grad_svm: np.ndarray
    cos_W_svm: np.ndarray
    n_pairs: int
    n_support: int


@memo
def sample_weights(seed: int = WEIGHTS_SEED, log_t_end: float = WEIGHTS_LOG_T) -> SampleWeights:
    """The W-flow from 0 on ``make_generic_data(6, 8, 10, seed)`` (:func:`attnbook.experiments.shared.generic_w_flow`):
    pair weights against the Frobenius SVM's duals (see :class:`SampleWeights`)."""
    data = make_generic_data(*WEIGHTS_SHAPE, seed)
    traj = generic_w_flow(seed, log_t_end)
    sol = solve_svm(data, "fro")
    w = pair_weights(data, traj.W)
    lam = sol.dual / sol.dual.sum()
    G = np.einsum("mk,kde->mde", w, data.A)                           # direction of -grad L
    cos = np.einsum("mde,de->m", G, sol.W) / (np.linalg.norm(G, axis=(1, 2)) * np.linalg.norm(sol.W))
    return SampleWeights(log_t=traj.log_t, margin=traj.margin, weights=w, lam=lam, active=sol.active,
                         nonsupport_mass=np.abs(w[:, ~sol.active]).sum(axis=1), dual_dist=np.abs(w - lam).max(axis=1),
                         cos_grad_svm=cos, cos_W_svm=traj.cosine_to(sol.W), n_pairs=len(data.pairs),
                         n_support=int(sol.active.sum()))


@dataclass(frozen=True)
class SampleWeightRun:
    """One run of :func:`sample_weight_study`, at its end (``ln t = STUDY_LOG_T``).

    Attributes
    ----------
    seed : int
        The data seed (also the seed of the random start).
    init : str
        ``"zero"`` or ``"random"`` (:data:`STUDY_INITS`).
    optimal : bool
        Whether the flow reached the optimal tokens ``opt`` (the global selection).
    dual_dist : float
        ``max |weight - normalised dual|`` against the W_F-SVM of the selection reached.
    nonsupport_mass : float
        The weight left on the pairs outside that SVM's support.
    margin : float
        ``mu(W)`` at the end.
    """

    seed: int
    init: str
    optimal: bool
    dual_dist: float
    nonsupport_mass: float
    margin: float


@dataclass(frozen=True)
class SampleWeightStudy:
    """All runs of :func:`sample_weight_study`, one entry per run (seeds outer, initialisations inner).

    Attributes
    ----------
    seed : numpy.ndarray of int, shape (r,)
    init : numpy.ndarray of str, shape (r,)
    optimal : numpy.ndarray of bool, shape (r,)
        Whether the run reached the optimal tokens (the dict key of this column was ``"global"``).
    dual_dist, nonsupport_mass, margin : numpy.ndarray, shape (r,)
        As in :class:`SampleWeightRun`.
    """

    seed: np.ndarray
    init: np.ndarray
    optimal: np.ndarray
    dual_dist: np.ndarray
    nonsupport_mass: np.ndarray
    margin: np.ndarray


def _study_run(key: tuple[int, str]) -> SampleWeightRun:
    seed, init = key
    data = make_generic_data(*WEIGHTS_SHAPE, seed)
    W0 = default_init(data, "W", 0.1, seed=seed, kind=init)
    traj = gradient_flow(data, "W", W0, log_t_end=STUDY_LOG_T, rtol=1e-6)
    sel = np.argmax(np.einsum("ild,de,ie->il", data.X, traj.W[-1], data.z), axis=1)  # the attended tokens
    sol = solve_selection_svm(data, sel, "fro")
    pairs = selection_pairs(data, sel)
    w = pair_weights(data, traj.W[-1:], pairs)[0]
    lam = sol.dual / sol.dual.sum()
    return SampleWeightRun(seed=seed, init=init, optimal=bool(np.array_equal(sel, data.opt)),
                           dual_dist=float(np.abs(w - lam).max()), nonsupport_mass=float(np.abs(w[~sol.active]).sum()),
                           margin=float(traj.margin[-1]))


@memo
def sample_weight_study(seeds: tuple = STUDY_SEEDS, inits: tuple = STUDY_INITS) -> SampleWeightStudy:
    """20 data seeds x 2 initialisations: at ``ln t = STUDY_LOG_T`` (1e3), the distance of the pair weights to the
    normalised duals of the Frobenius SVM *of the token selection the flow reached* (the global SVM when it is
    ``opt``)."""
    runs = pool_map(_study_run, [(s, i) for s in seeds for i in inits])
    return SampleWeightStudy(seed=np.array([r.seed for r in runs]), init=np.array([r.init for r in runs]),
                             optimal=np.array([r.optimal for r in runs]),
                             dual_dist=np.array([r.dual_dist for r in runs]),
                             nonsupport_mass=np.array([r.nonsupport_mass for r in runs]),
                             margin=np.array([r.margin for r in runs]))


# -- weight decay vs the implicit bias ---------------------------------------------------------------------------

def _wd_objective(theta: np.ndarray, data: AttentionData, lam: float, shape: tuple[int, int]):
    d, d_e = shape
    K, Q = theta[: d * d_e].reshape(d, d_e), theta[d * d_e:].reshape(d, d_e)
    f = excess_loss(data, K @ Q.T) + lam * fz.factor_cost(K, Q)
    gK, gQ = loss_grad_KQ(data, K, Q)
    return f, np.concatenate([(gK + lam * K).ravel(), (gQ + lam * Q).ravel()])


@dataclass(frozen=True)
class WeightDecayVsFlow:
    """Weight-decay minimisers (one per ``lambda``) against the (K, Q)-flow without weight decay.

    "Nuclear gap" is ``||W/mu||_* / ||W_*-SVM||_* - 1``, "Frobenius gap" the same against the Frobenius SVM,
    "penalty gap" ``(||K||^2 + ||Q||^2)/2 / ||K Q^T||_* - 1`` (0 exactly when balanced).

    Attributes
    ----------
    lambdas : numpy.ndarray, shape (k,)
    wd_margin, wd_nuc_gap, wd_fro_gap, wd_penalty_gap : numpy.ndarray, shape (k,)
        Margin and gaps of the minimiser for each ``lambda``.
    wd_grad : numpy.ndarray, shape (k,)
        The largest entry of the gradient where L-BFGS stopped.
    wd_imbalance : numpy.ndarray, shape (k,)
        ``max |K^T K - Q^T Q| / max |K^T K|``.
    wd_imbalance_bound : numpy.ndarray, shape (k,)
        The bound on it that stationarity up to ``wd_grad`` gives.
    flow_log_t : numpy.ndarray, shape (m,)
        The flow's saved times with ``mu > 0``.
    flow_margin, flow_nuc_gap, flow_fro_gap, flow_penalty_gap : numpy.ndarray, shape (m,)
        Margin and gaps along the flow.
    nuc_value, fro_value : float
        ``||W||_*`` of the nuclear SVM and ``||W||_F`` of the Frobenius SVM.
    """

    lambdas: np.ndarray
    wd_margin: np.ndarray
    wd_nuc_gap: np.ndarray
    wd_fro_gap: np.ndarray
    wd_penalty_gap: np.ndarray
    wd_grad: np.ndarray
    wd_imbalance: np.ndarray
    wd_imbalance_bound: np.ndarray
    flow_log_t: np.ndarray
    flow_margin: np.ndarray
    flow_nuc_gap: np.ndarray
    flow_fro_gap: np.ndarray
    flow_penalty_gap: np.ndarray
    nuc_value: float
    fro_value: float


@memo
def weight_decay_vs_flow(lambdas: tuple = WD_LAMBDAS, log_t_end: float = WD_LOG_T) -> WeightDecayVsFlow:
    """Explicit vs implicit: minimisers of ``L(K Q^T) + lam (||K||^2 + ||Q||^2)/2`` (L-BFGS, warm-started down
    the ``lam`` path, i.e. along the regularization path) and the (K, Q)-flow without weight decay.

    For both: the margin ``mu``, the nuclear-norm gap ``||W/mu||_* / ||W_*-SVM||_* - 1``, the Frobenius-norm
    gap against the Frobenius SVM, and ``(||K||^2 + ||Q||^2)/2 / ||K Q^T||_* - 1`` (0 exactly when balanced).

    Returns
    -------
    WeightDecayVsFlow
    """
    data = generic_demo()
    d = data.d
    nuc, fro = solve_svm(data, "nuc"), solve_svm(data, "fro")

    def gaps(W: np.ndarray) -> tuple[float, float, float]:
        mu = margin(data, W)
        Wh = W / mu
        return mu, np.linalg.norm(Wh, "nuc") / nuc.value - 1, np.linalg.norm(Wh) / fro.value - 1

    K0, Q0 = default_init(data, "KQ", KQ_SCALE, seed=3)
    theta = np.concatenate([K0.ravel(), Q0.ravel()])
    wd = []
    for lam in lambdas:
        res = minimize(_wd_objective, theta, args=(data, lam, (d, d)), jac=True, method="L-BFGS-B",
                       options={"maxiter": 20_000, "gtol": 1e-14, "ftol": 1e-16})
        theta = res.x
        K, Q = theta[: d * d].reshape(d, d), theta[d * d:].reshape(d, d)
        W = K @ Q.T
        r, KtK = float(np.abs(res.jac).max()), np.abs(K.T @ K).max()
        # stationarity up to the residual gradient r: lambda (K^T K - Q^T Q) = r_K^T K - Q^T r_Q, so the relative
        # imbalance is at most 2 d r max|K, Q| / (lambda max|K^T K|): "balanced up to the optimizer's tolerance"
        bound = 2 * d * r * max(np.abs(K).max(), np.abs(Q).max()) / (lam * KtK)
        wd.append((*gaps(W), fz.factor_cost(K, Q) / np.linalg.norm(W, "nuc") - 1, r,
                   float(np.abs(K.T @ K - Q.T @ Q).max() / KtK), float(bound)))
    traj = gradient_flow(data, "KQ", (K0, Q0), log_t_end=log_t_end)
    ok = traj.margin > 0
    fl = np.array([gaps(W) for W in traj.W[ok]])
    penalty = np.array([fz.factor_cost(K, Q) / np.linalg.norm(K @ Q.T, "nuc") - 1
                        for K, Q in zip(traj.params["K"][ok], traj.params["Q"][ok])])
    wd = np.array(wd)
    return WeightDecayVsFlow(lambdas=np.array(lambdas), wd_margin=wd[:, 0], wd_nuc_gap=wd[:, 1], wd_fro_gap=wd[:, 2],
                             wd_penalty_gap=wd[:, 3], wd_grad=wd[:, 4], wd_imbalance=wd[:, 5],
                             wd_imbalance_bound=wd[:, 6], flow_log_t=traj.log_t[ok], flow_margin=fl[:, 0],
                             flow_nuc_gap=fl[:, 1], flow_fro_gap=fl[:, 2], flow_penalty_gap=penalty,
                             nuc_value=nuc.value, fro_value=fro.value)


# -- Theorem 5.1: the Watson subgradient (chapter 5) -------------------------------------------------------------

def _pair_partner(data: AttentionData) -> np.ndarray:
    """For L = 3 data of Assumption 4: the index (in ``data.pairs``) of each constraint's paired constraint."""
    partner = np.empty(len(data.pairs), int)
    for i in range(data.n):
        rows = np.flatnonzero(data.pairs[:, 0] == i)
        if len(rows) != 2:
            raise ValueError(f"the Watson check pairs the two non-optimal tokens of each sample (L = 3); sample {i} "
                             f"has {len(rows)} non-optimal tokens")
        partner[rows] = rows[::-1]
    return partner


@dataclass(frozen=True)
class WatsonTransfer:
    """Theorem 5.1's transfer of stationarity on the book's aligned example: Watson's subgradient conditions for the
    multipliers of problem (42).

    Attributes
    ----------
    W0 : numpy.ndarray, shape (d, d)
        ``W° = sum_i a_i x_i z_i^T`` (unit vectors).
    a : numpy.ndarray, shape (n,)
        The pair sums ``lambda_i1 + lambda_i2`` fixed by the KKT conditions.
    c : numpy.ndarray, shape (n,)
        ``gamma_{i,(opt+1) mod L} / gamma_{i,opt}``: the relative score of the non-optimal tokens.
    lam_equal, lam_unequal : numpy.ndarray, shape (k,)
        The paper's equal split ``a_i / 2`` and the split ``(split, 1 - split)``.
    G_equal, G_unequal : numpy.ndarray, shape (d, d)
        ``G = sum lambda_il A_il`` for each split.
    UV : numpy.ndarray, shape (d, d)
        ``U_r V_r^T`` of ``W°``.
    check_equal, check_unequal : attnlib.factorization.NuclearSubgradientCheck
        Watson's conditions for ``G_equal`` and ``G_unequal``.
    constraints_equal : numpy.ndarray, shape (k,)
        ``<A_il, W°>``.
    flow : numpy.ndarray, shape (len(WATSON_LOG_T), 6)
        Along the aligned (K, Q)-flow, the multipliers ``phi / ln mu`` at each ``ln t`` of ``WATSON_LOG_T``; columns:
        ln t, mu, ``|U^T G V - I|``, the mixed blocks, ``||E||_op``, the relative difference of paired multipliers.
    U_K, U_Q : numpy.ndarray, shape (d, d)
        The aligned bases of the data (:func:`attnlib.flow.aligned_bases`).
    """

    W0: np.ndarray
    a: np.ndarray
    c: np.ndarray
    lam_equal: np.ndarray
    lam_unequal: np.ndarray
    G_equal: np.ndarray
    G_unequal: np.ndarray
    UV: np.ndarray
    check_equal: fz.NuclearSubgradientCheck
    check_unequal: fz.NuclearSubgradientCheck
    constraints_equal: np.ndarray
    flow: np.ndarray
    U_K: np.ndarray
    U_Q: np.ndarray


@memo
def watson_transfer(split: float = 0.8) -> WatsonTransfer:
    """Theorem 5.1's transfer of stationarity, on the book's aligned example (``make_orthogonal_data()``).

    Problem (42)'s KKT fixes only the *sum* ``lambda_i1 + lambda_i2 = a_i`` of each pair. The paper's multipliers
    split it equally (paired tokens get equal attention), and then ``G = sum lambda_il A_il = sum_i x_i z_i^T``
    (unit vectors) ``= U V^T`` of ``W°``: a Watson subgradient. An unequal split ``(split, 1 - split)`` adds
    ``u_i z_i^T`` terms that break ``E V = 0``. Also: the flow's own multipliers ``phi / ln mu`` along the aligned
    (K, Q)-flow.

    Returns
    -------
    WatsonTransfer
    """
    data = make_orthogonal_data()
    U_K, U_Q = aligned_bases(data)
    xo = data.X[np.arange(data.n), data.opt]
    xh = xo / np.linalg.norm(xo, axis=1, keepdims=True)
    zh = data.z / np.linalg.norm(data.z, axis=1, keepdims=True)
    c = (data.gamma[np.arange(data.n), (data.opt + 1) % data.L] / data.gamma_opt)
    a = 1.0 / ((1 - c) * np.linalg.norm(xo, axis=1) * np.linalg.norm(data.z, axis=1))
    W0 = np.einsum("i,id,ie->de", a, xh, zh)
    i = data.pairs[:, 0]
    first = np.r_[True, i[1:] != i[:-1]]
    lam_equal = a[i] / 2
    lam_unequal = a[i] * np.where(first, split, 1 - split)
    G_eq, G_uneq = fz.pair_sum(data, lam_equal), fz.pair_sum(data, lam_unequal)
    partner = _pair_partner(data)
    traj = gradient_flow(data, "KQ", default_init(data, "KQ", 0.1, kind="aligned"), log_t_end=max(WATSON_LOG_T),
                         log_t_eval=np.unique(np.r_[-np.inf, np.geomspace(1.0, max(WATSON_LOG_T), 61)[:-1],
                                                    WATSON_LOG_T]))
    flow = []
    for lt in WATSON_LOG_T:
        k = int(np.argmin(np.abs(traj.log_t - lt)))
        lam = traj.phi[k] / np.log(traj.margin[k])
        chk = fz.check_nuclear_subgradient(W0, fz.pair_sum(data, lam))
        flow.append((lt, traj.margin[k], chk.uv_error, chk.cross_error, chk.residual_op,
                     float(np.abs(lam - lam[partner]).max() / lam.max())))
    return WatsonTransfer(W0=W0, a=a, c=c, lam_equal=lam_equal, lam_unequal=lam_unequal,
                          G_equal=G_eq, G_unequal=G_uneq, UV=fz.nuclear_subgradient(W0),
                          check_equal=fz.check_nuclear_subgradient(W0, G_eq),
                          check_unequal=fz.check_nuclear_subgradient(W0, G_uneq),
                          constraints_equal=np.einsum("kde,de->k", data.A, W0),
                          flow=np.array(flow), U_K=U_K, U_Q=U_Q)
