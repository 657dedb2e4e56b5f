"""Chapter 1, "Attention as token selection": a d = 2 toy data set, the loss tending to L* > 0, the attention SVM
constraints in the plane, the assumptions, and what breaks without them.

Every figure function returns a matplotlib Figure; the ``compute_*`` functions hold the numbers (tests call them).

The chapter's computations (no drawing: :mod:`attnbook.figures.ch1` draws them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from attnlib.data import AttentionData, make_generic_data
from attnlib.assumptions import check_assumptions, stuck_loss_bounds
from attnlib.flow import Trajectory, default_init, gradient_flow
from attnlib.model import attention, exp_loss, excess_loss, loss_grad, margin, min_loss, predict
from attnlib.svm import solve_svm
from ._store import memo, pool_map
from .studies import design_data

# The toy data: sample i has one optimal token (0, 4 y_i) (score 4) and two tokens (-b_il, 0) (score 0); its
# query is z_i = (1, c_i / (4 y_i)), so the diagonal constraint rows are B_il = z_i * (x_opt - x_il) = (b_il, c_i).
TOY_B1 = ((1.0, 1.25), (1.4, 1.1), (1.5, 2.0))  # b_il: first coordinate of B_il
TOY_C = (0.5, 0.2, -0.2)  # c_i: second coordinate of B_il (shared by the two tokens of a sample)
TOY_Y = (1.0, -1.0, 1.0)
TOY_SCORE = 4.0
#: Relative tolerance of the toy flow's ODE solver (the library's default; the numerics appendix measures the path
#: error it gives).
TOY_RTOL = 1e-8


def log10_time(t: np.ndarray) -> np.ndarray:
    """``log10 t`` with ``-inf`` at ``t = 0``."""
    with np.errstate(divide="ignore"):
        return np.log10(t)


def make_toy_data(score: float = TOY_SCORE) -> AttentionData:
    """The chapter's d = 2 data set: n = 3 samples of L = 3 tokens, head ``v = e_2``.

    Parameters
    ----------
    score : float
        The optimal tokens' score ``gamma_{i,opt}`` (the others score 0); 4 meets Assumption 3 at ``W = 0``.

    Returns
    -------
    AttentionData
        ``X`` (3, 3, 2), ``z`` (3, 2), ``y`` (3,), ``v = (0, 1)``; token 0 is optimal in every sample.
    """
    b1, c, y = np.array(TOY_B1), np.array(TOY_C), np.array(TOY_Y)
    n, L = b1.shape[0], b1.shape[1] + 1
    X = np.zeros((n, L, 2))
    X[:, 0, 1] = score * y
    X[:, 1:, 0] = -b1
    z = np.stack([np.ones(n), c / (score * y)], axis=1)
    return AttentionData(X, z, y, np.array([0.0, 1.0]))


def make_mirrored_data(data: AttentionData | None = None, sample: int = 0) -> AttentionData:
    """Append a mirror image of one sample: every token negated, the label flipped, the same query.

    The copy has the same scores ``gamma`` and the same optimal token, but its constraint matrices are
    ``-A_il``: no ``W`` can satisfy both ``<A_il, W> >= 1`` and ``<-A_il, W> >= 1`` (Assumption 1 fails).

    Parameters
    ----------
    data : AttentionData, optional
        Default :func:`make_toy_data`.
    sample : int
        The sample to mirror.

    Returns
    -------
    AttentionData
        ``n + 1`` samples.
    """
    data = make_toy_data() if data is None else data
    X = np.concatenate([data.X, -data.X[sample:sample + 1]])
    z = np.concatenate([data.z, data.z[sample:sample + 1]])
    y = np.concatenate([data.y, -data.y[sample:sample + 1]])
    return AttentionData(X, z, y, data.v)


@dataclass(frozen=True)
class PhiAlongRay:
    """``y_i Phi(c W_F)`` along the ray through the Frobenius SVM solution (:func:`compute_phi_along_ray`).

    Attributes
    ----------
    c : numpy.ndarray, shape (m,)
        The factors ``c``.
    yPhi : numpy.ndarray, shape (m, n)
        The outputs ``y_i Phi(c W_F)``.
    gamma : numpy.ndarray, shape (n, L)
        The token scores.
    uniform : numpy.ndarray, shape (n,)
        The score average (``y_i Phi`` at ``W = 0``).
    attention : numpy.ndarray, shape (m, n, L)
        The attention at each ``c W_F``.
    """

    c: np.ndarray
    yPhi: np.ndarray
    gamma: np.ndarray
    uniform: np.ndarray
    attention: np.ndarray


def compute_phi_along_ray(scales=None, data: AttentionData | None = None) -> PhiAlongRay:
    """``y_i Phi(c W_F)`` along the ray through the Frobenius SVM solution ``W_F``.

    Parameters
    ----------
    scales : array_like of shape (m,), optional
        The factors ``c`` (default 0..12).
    data : AttentionData, optional
        Default :func:`make_toy_data`.

    Returns
    -------
    PhiAlongRay
        The outputs, scores and attention along the ray.
    """
    data = make_toy_data() if data is None else data
    c = np.linspace(0.0, 12.0, 97) if scales is None else np.asarray(scales, dtype=float)
    W_F = solve_svm(data, "fro").W
    att = np.array([attention(data, s * W_F) for s in c])
    yphi = np.array([data.y * predict(data, s * W_F) for s in c])
    return PhiAlongRay(c=c, yPhi=yphi, gamma=np.array(data.gamma), uniform=data.gamma.mean(axis=1), attention=att)


@memo
def toy_flow(t_end: float = 1e300) -> Trajectory:
    """Gradient flow on ``W`` from ``W(0) = 0`` on the toy data, to ``t_end`` (cached)."""
    data = make_toy_data()
    return gradient_flow(data, "W", default_init(data, "W"), log_t_end=np.log(t_end), rtol=TOY_RTOL)


@dataclass(frozen=True)
class LossFlow:
    """Excess loss and attention on the optimal tokens along the toy flow (:func:`compute_loss_flow`).

    Attributes
    ----------
    t : numpy.ndarray, shape (m,)
        The saved times.
    excess : numpy.ndarray, shape (m,)
        ``L(W(t)) - L*``.
    prediction : numpy.ndarray, shape (m,)
        The 1/t prediction ``||W_F||_F^2 / t`` (``inf`` at ``t = 0``).
    ratio : numpy.ndarray, shape (m,)
        Measured / predicted excess loss.
    sigma_opt : numpy.ndarray, shape (m, n)
        Attention on each optimal token.
    margin : numpy.ndarray, shape (m,)
        The margin of ``W(t)``.
    L_star : float
        The infimum ``L*`` of the loss.
    L0 : float
        The loss at ``W = 0``.
    cos_fro : numpy.ndarray, shape (m,)
        Cosine of ``W(t)`` with ``W_F``.
    nfev : int
        Gradient evaluations of the flow.
    """

    t: np.ndarray
    excess: np.ndarray
    prediction: np.ndarray
    ratio: np.ndarray
    sigma_opt: np.ndarray
    margin: np.ndarray
    L_star: float
    L0: float
    cos_fro: np.ndarray
    nfev: int


def compute_loss_flow(t_end: float = 1e300) -> LossFlow:
    """Excess loss and attention on the optimal tokens along the toy flow, with the 1/t prediction.

    Returns
    -------
    LossFlow
        The excess loss against its prediction, the attention on the optimal tokens and the cosine with ``W_F``.
    """
    traj = toy_flow(t_end)
    data = traj.data
    sol = solve_svm(data, "fro")
    with np.errstate(divide="ignore"):
        pred = np.where(traj.t > 0, sol.value ** 2 / traj.t, np.inf)
    sig = np.array([attention(data, W)[np.arange(data.n), data.opt] for W in traj.W])
    return LossFlow(t=traj.t, excess=traj.excess_loss, prediction=pred, ratio=traj.excess_loss / pred,
                    sigma_opt=sig, margin=traj.margin, L_star=min_loss(data), L0=traj.loss[0],
                    cos_fro=traj.cosine_to(sol.W), nfev=traj.nfev)


#: Times at which chapter 1 checks the gradient law ``-grad L ~ (L - L*) W_F / ||W_F||^2``.
GRADIENT_LAW_TIMES = (1e2, 1e10, 1e100, 1e300)


@dataclass(frozen=True)
class GradientLaw:
    """The three steps behind ``-grad L ~ (L - L*) W_F / ||W_F||_F^2`` on the toy flow (:func:`gradient_law`).

    Attributes
    ----------
    t : numpy.ndarray, shape (k,)
        The saved times nearest ``GRADIENT_LAW_TIMES``.
    rel_error : numpy.ndarray, shape (k,)
        ``||-grad L - (L - L*) W_F / ||W_F||^2|| / ||(L - L*) W_F / ||W_F||^2||`` there (``t grad L`` computed in
        log space, so nothing underflows at ``t = 1e300``).
    ratio : numpy.ndarray, shape (k,)
        ``(L - L*) t / ||W_F||^2`` there (the 1/t law).
    lam : numpy.ndarray, shape (n(L-1),)
        The Frobenius SVM's multipliers for the objective ``||W||^2 / 2``: ``W_F = sum_il lam_il A_il``.
    stationarity : float
        ``||W_F - sum lam_il A_il|| / ||W_F||``.
    lam_sum, norm_sq : float
        ``sum_il lam_il`` and ``||W_F||_F^2`` (equal by complementary slackness).
    """

    t: np.ndarray
    rel_error: np.ndarray
    ratio: np.ndarray
    lam: np.ndarray
    stationarity: float
    lam_sum: float
    norm_sq: float


def gradient_law(times=GRADIENT_LAW_TIMES) -> GradientLaw:
    """Check ``-grad L ~ (L - L*) W_F / ||W_F||^2`` along the toy flow, and the multiplier identity behind it.

    Returns
    -------
    GradientLaw
        The relative error of the law and ``(L - L*) t / ||W_F||^2`` at the saved times nearest ``times``, and the
        Frobenius SVM's multipliers with ``sum lam = ||W_F||^2``.
    """
    traj = toy_flow()
    data = traj.data
    sol = solve_svm(data, "fro")
    lam = sol.value * np.asarray(sol.dual)  # solve_svm's multipliers are for ||W||; for ||W||^2 / 2 scale by it
    W_F = np.asarray(sol.W)
    idx = [int(np.argmin(np.abs(traj.log_t - np.log(t)))) for t in times]
    err, ratio = [], []
    for k in idx:
        t_grad = -loss_grad(data, traj.W[k], log_scale=traj.log_t[k])   # -t grad L
        pred = traj.excess_loss[k] * traj.t[k] * W_F / sol.value ** 2      # t (L - L*) W_F / ||W_F||^2
        err.append(np.linalg.norm(t_grad - pred) / np.linalg.norm(pred))
        ratio.append(traj.excess_loss[k] * traj.t[k] / sol.value ** 2)
    stat = np.linalg.norm(W_F - np.einsum("k,kde->de", lam, data.A)) / np.linalg.norm(W_F)
    return GradientLaw(t=traj.t[idx], rel_error=np.array(err), ratio=np.array(ratio), lam=lam,
                       stationarity=float(stat), lam_sum=float(lam.sum()), norm_sq=float(sol.value ** 2))


@dataclass(frozen=True)
class SVMPlane:
    """The diagonal attention SVM of the toy data in the ``beta`` plane, and two flows' normalised paths
    (:func:`compute_svm_plane`).

    Attributes
    ----------
    B : numpy.ndarray, shape (n(L-1), 2)
        The constraint rows ``B_il``.
    l1, l2 : numpy.ndarray, shape (2,)
        The l1- and l2-SVM solutions.
    path_beta, path_xi : numpy.ndarray, shape (m, 2)
        The margin-normalised ``beta(t) / mu(t)`` of gradient flow on ``beta`` (from 0) and on ``(xi_k, xi_q)``
        (from init (5)), where ``mu > 0``.
    dist_beta_l2, dist_xi_l1 : float
        Distance of each path's endpoint to its predicted solution.
    """

    B: np.ndarray
    l1: np.ndarray
    l2: np.ndarray
    path_beta: np.ndarray
    path_xi: np.ndarray
    dist_beta_l2: float
    dist_xi_l1: float


@memo
def compute_svm_plane(t_end: float = 1e300) -> SVMPlane:
    """The diagonal attention SVM of the toy data in the ``beta`` plane, and two flows' normalised paths.

    Returns
    -------
    SVMPlane
        The constraint rows, the two SVM solutions, the two flows' paths and their endpoints' distances to their
        predicted solutions.
    """
    data = make_toy_data()
    l1, l2 = solve_svm(data, "l1"), solve_svm(data, "l2")
    B, l1_beta, l2_beta = np.array(data.B), np.array(l1.beta), np.array(l2.beta)
    paths = {}
    for name, param, init in (("beta", "beta", np.zeros(data.d)), ("xi", "xi", default_init(data, "xi", seed=None))):
        traj = gradient_flow(data, param, init, log_t_end=np.log(t_end))
        ok = traj.margin > 0
        path = np.array([np.diag(W) for W in traj.W[ok]]) / traj.margin[ok, None]
        paths[name] = path
    return SVMPlane(B=B, l1=l1_beta, l2=l2_beta, path_beta=paths["beta"], path_xi=paths["xi"],
                    dist_beta_l2=float(np.linalg.norm(paths["beta"][-1] - l2_beta)),
                    dist_xi_l1=float(np.linalg.norm(paths["xi"][-1] - l1_beta)))


#: A sample selects a non-optimal token only if some other token's attention exceeds the optimal token's by more
#: than this; within it, the sample attends (near) uniformly and which weight is largest is a rounding tie.
SELECTION_TOL = 1e-3


@dataclass(frozen=True)
class SelectionOutcome:
    """Which samples' attention selects the optimal token, a non-optimal one, or neither (:func:`selection_outcome`).

    Attributes
    ----------
    wrong, tie, right : numpy.ndarray of bool, shape (n,)
        Exactly one true per sample.
    n_wrong, n_tie, n_right : int
        Their counts.
    sigma_opt : numpy.ndarray, shape (n,)
        Attention on each sample's optimal token.
    sigma_other : numpy.ndarray, shape (n,)
        The largest non-optimal weight of each sample.
    """

    wrong: np.ndarray
    tie: np.ndarray
    right: np.ndarray
    n_wrong: int
    n_tie: int
    n_right: int
    sigma_opt: np.ndarray
    sigma_other: np.ndarray


def selection_outcome(data: AttentionData, W: np.ndarray, tol: float = SELECTION_TOL) -> SelectionOutcome:
    """Which samples' attention at ``W`` selects the optimal token, a non-optimal one, or neither (a tie).

    ``argmax(attention) != opt`` is not a property of the problem when a sample attends uniformly: then the
    weights differ by rounding (the mirrored pair of chapter 1 sits at 1/3 + O(1e-6)) and the argmax is decided by
    the last bits. So a sample counts as **wrong** only if ``max_{l != opt} sigma_l > sigma_opt + tol``, and as a
    **tie** if neither the optimal token nor another one leads by more than ``tol``.

    Returns
    -------
    SelectionOutcome
        The three masks, their counts and the weights compared.
    """
    att = attention(data, W)
    idx = np.arange(data.n)
    s_opt = att[idx, data.opt]
    others = att.copy()
    others[idx, data.opt] = -np.inf
    s_other = others.max(axis=1)
    wrong = s_other > s_opt + tol
    right = s_opt > s_other + tol
    tie = ~wrong & ~right
    return SelectionOutcome(wrong=wrong, tie=tie, right=right, n_wrong=int(wrong.sum()), n_tie=int(tie.sum()),
                            n_right=int(right.sum()), sigma_opt=s_opt, sigma_other=s_other)


BROKEN_GENERIC_SEED = 5  # make_generic_data(6, 8, 10, seed=5): the flow from 0 settles on a wrong token
MIRRORED_T_END = 1e8  # without separability the log-time flow turns stiff (the gradient vanishes in some directions)


@dataclass(frozen=True)
class BrokenRun:
    """Gradient flow on ``W`` from 0 on one data set of :func:`compute_broken`.

    Attributes
    ----------
    t : numpy.ndarray, shape (m,)
        The saved times.
    excess : numpy.ndarray, shape (m,)
        ``L(W(t)) - L*``.
    norm : numpy.ndarray, shape (m,)
        ``||W(t)||_F``.
    W_final : numpy.ndarray, shape (d, d)
        ``W`` at the last saved time.
    wrong : int
        The number of samples whose final attention selects a non-optimal token by more than ``SELECTION_TOL``
        (:func:`selection_outcome`).
    tie : int
        The number of samples attending (near) uniformly, where no token leads by more than that.
    data : AttentionData
        The data set.
    prediction : numpy.ndarray, shape (m,), or None
        For the toy data, the law ``||W_F||_F^2 / t``; None for the others (they have no ``W_F``).
    """

    t: np.ndarray
    excess: np.ndarray
    norm: np.ndarray
    W_final: np.ndarray
    wrong: int
    tie: int
    data: AttentionData
    prediction: np.ndarray | None = None


@dataclass(frozen=True)
class BrokenAssumptions:
    """The flow from 0 where Assumptions 1-3 hold and where one of them fails (:func:`compute_broken`).

    Attributes
    ----------
    toy : BrokenRun
        The toy data (Assumptions 1-3 hold); its ``prediction`` is set.
    mirrored : BrokenRun
        The toy data with a mirrored sample (Assumption 1 fails), run to ``MIRRORED_T_END``.
    generic : BrokenRun
        Generic Gaussian data, seed ``BROKEN_GENERIC_SEED`` (Assumption 2 fails).
    """

    toy: BrokenRun
    mirrored: BrokenRun
    generic: BrokenRun

    @property
    def runs(self) -> tuple[tuple[str, BrokenRun], ...]:
        """``(name, run)`` for "toy", "mirrored" and "generic", in this order."""
        return (("toy", self.toy), ("mirrored", self.mirrored), ("generic", self.generic))


@memo
def compute_broken(t_end: float = 1e300) -> BrokenAssumptions:
    """Gradient flow on ``W`` from 0 on three data sets: the toy data (Assumptions 1-3 hold), its mirrored
    version (Assumption 1 fails) and generic Gaussian data (Assumption 2 fails).

    Returns
    -------
    BrokenAssumptions
        One :class:`BrokenRun` for each of "toy", "mirrored", "generic".
    """
    sets = {"toy": make_toy_data(), "mirrored": make_mirrored_data(),
            "generic": make_generic_data(6, 8, 10, BROKEN_GENERIC_SEED)}
    out = {}
    for name, data in sets.items():
        if name == "toy":
            traj = toy_flow(t_end)
        else:
            end = min(t_end, MIRRORED_T_END) if name == "mirrored" else t_end
            traj = gradient_flow(data, "W", default_init(data, "W"), log_t_end=np.log(end), rtol=1e-6)
        sel = selection_outcome(data, traj.final())
        out[name] = BrokenRun(t=traj.t, excess=traj.excess_loss, norm=np.linalg.norm(traj.W, axis=(1, 2)),
                              W_final=traj.final(), wrong=sel.n_wrong, tie=sel.n_tie, data=data)
    with np.errstate(divide="ignore"):
        out["toy"] = dataclasses.replace(out["toy"], prediction=solve_svm(sets["toy"], "fro").value ** 2 / out["toy"].t)
    return BrokenAssumptions(toy=out["toy"], mirrored=out["mirrored"], generic=out["generic"])


#: Saved times (ln t) of the mirrored flow whose pair attention exercise ch1-ex-mirror plots.
MIRROR_LOG_T = tuple(np.linspace(-3.0, float(np.log(MIRRORED_T_END)), 121))
MIRROR_STARTS = 30  # random starts for the minimisers of the pair's loss
MIRROR_START_SCALE = 1.0


@dataclass(frozen=True)
class MirrorPair:
    """Sample 1 and its mirror image along the flow on the mirrored toy data (:func:`mirror_pair`).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times ``ln t`` (t = 0 first, as ``-inf``).
    attention : numpy.ndarray, shape (m, 2, L)
        The attention of sample 1 (row 0) and of its mirror (row 1, the last sample) at each time.
    pair_excess : numpy.ndarray, shape (m,)
        The pair's part of ``L - L*``: ``(2 / n)`` times the excess loss of the two-sample data set.
    total_loss : numpy.ndarray, shape (m,)
        ``L(W(t))`` of all four samples.
    L0, stuck_bound : float
        ``L(0)`` and the right-hand side of Assumption 3 (the least of :func:`attnlib.assumptions.stuck_loss_bounds`) on the mirrored data.
    start_deviation : numpy.ndarray, shape (MIRROR_STARTS,)
        For each random start ``W ~ MIRROR_START_SCALE N(0, 1)``, ``max |sigma - 1/3|`` of the pair at the minimiser
        of the pair's loss that BFGS finds.
    start_loss : numpy.ndarray, shape (MIRROR_STARTS,)
        The pair's loss (mean over the two samples) there.
    uniform_loss : float
        The pair's loss at uniform attention, ``e^{-4/3}``.
    """

    log_t: np.ndarray
    attention: np.ndarray
    pair_excess: np.ndarray
    total_loss: np.ndarray
    L0: float
    stuck_bound: float
    start_deviation: np.ndarray
    start_loss: np.ndarray
    uniform_loss: float


def mirror_pair_data(mirrored: AttentionData | None = None) -> AttentionData:
    """The two-sample data set of sample 1 and its mirror image (the first and the last sample of the mirrored
    data)."""
    m = make_mirrored_data() if mirrored is None else mirrored
    keep = [0, m.n - 1]
    return AttentionData(m.X[keep], m.z[keep], m.y[keep], m.v)


@memo
def mirror_pair(log_t: tuple = MIRROR_LOG_T, starts: int = MIRROR_STARTS, seed: int = 0) -> MirrorPair:
    """The attention of sample 1 and its mirror along the W-flow from 0 on the mirrored toy data (to
    ``MIRRORED_T_END``, rtol 1e-6 as in :func:`compute_broken`), and the minimisers of the pair's own loss
    ``F(W) = (l_1 + l_mirror) / 2`` from ``starts`` random starts (BFGS with the library's loss and gradient).

    Returns
    -------
    MirrorPair
    """
    from scipy.optimize import minimize

    m = make_mirrored_data()
    pair = mirror_pair_data(m)
    grid = np.concatenate([[-np.inf], np.asarray(log_t, dtype=float)])
    traj = gradient_flow(m, "W", default_init(m, "W"), log_t_end=float(grid[-1]), log_t_eval=grid, rtol=1e-6)
    att = np.array([attention(m, W)[[0, m.n - 1]] for W in traj.W])
    pair_excess = np.array([excess_loss(pair, W) for W in traj.W]) * pair.n / m.n
    rng = np.random.default_rng(seed)
    dev, val = [], []
    shape = (pair.d, pair.d)
    for _ in range(starts):
        w0 = MIRROR_START_SCALE * rng.standard_normal(pair.d * pair.d)
        res = minimize(lambda w: exp_loss(pair, w.reshape(shape)), w0, method="BFGS",
                       jac=lambda w: loss_grad(pair, w.reshape(shape)).ravel(), options={"gtol": 1e-10})
        dev.append(np.abs(attention(pair, res.x.reshape(shape)) - 1.0 / pair.L).max())
        val.append(exp_loss(pair, res.x.reshape(shape)))
    return MirrorPair(log_t=traj.log_t, attention=att, pair_excess=pair_excess, total_loss=traj.loss,
                      L0=float(traj.loss[0]), stuck_bound=float(stuck_loss_bounds(m).min()), start_deviation=np.array(dev),
                      start_loss=np.array(val), uniform_loss=float(exp_loss(pair, np.zeros(shape))))


# -- Assumption 2 or Assumption 3? A study on chapter 2's setup --------------------------------------------------

#: Data seeds and starts of :func:`assumption_isolation`: ``make_generic_data(6, 8, 10, seed)`` with Assumptions 2
#: and 3 switched on or off (:func:`attnbook.experiments.studies.design_data`), each from ``W(0) = 0`` and from a
#: random ``W(0)`` with entries ``ISOLATION_SCALE N(0, 1)`` (generator seeded by the data seed).
ISOLATION_SEEDS = tuple(range(20))
ISOLATION_INITS = ("zero", "random")
ISOLATION_SCALE = 0.3
#: ``ln t`` at which the selection is read (the outcome is settled by ``ln t = 100`` in chapter 6's runs).
ISOLATION_LOG_T = (100.0, 1000.0)


@dataclass(frozen=True)
class IsolationRun:
    """One W-flow of :func:`assumption_isolation`.

    Attributes
    ----------
    seed : int
        The data seed.
    a2, a3 : bool
        Whether the data were built to meet Assumption 2 (equal non-optimal scores) and Assumption 3 at ``W = 0``
        (a large score gap).
    init : str
        "zero" or "random".
    a3_at_start : bool
        Whether Assumption 3 holds at the start actually used (``check_assumptions(data, W0)``).
    gap : float
        The smallest score gap ``min_i (gamma_{i,opt} - max_{l != opt(i)} gamma_il)``.
    n_wrong : tuple of int
        Samples whose attention selects a non-optimal token (:func:`selection_outcome`) at each ``ISOLATION_LOG_T``.
    n_tie : tuple of int
        Samples with no token leading by more than ``SELECTION_TOL`` there.
    """

    seed: int
    a2: bool
    a3: bool
    init: str
    a3_at_start: bool
    gap: float
    n_wrong: tuple
    n_tie: tuple

    @property
    def wrong(self) -> bool:
        """Whether the run ends with some sample on a non-optimal token."""
        return self.n_wrong[-1] > 0


def _isolation_run(args: tuple) -> IsolationRun:
    seed, a2, a3, init, log_t = args
    data = design_data(seed, a2, a3)
    W0 = default_init(data, "W", ISOLATION_SCALE, seed=seed, kind=init)
    tr = gradient_flow(data, "W", W0, log_t_end=log_t[-1], log_t_eval=np.array(log_t), rtol=1e-6)
    if len(tr.W) != len(log_t):
        raise RuntimeError(f"expected the flow saved at ln t = {log_t}, got {tr.log_t}")
    sels = [selection_outcome(data, W) for W in tr.W]
    is_opt = np.arange(data.L)[None, :] == data.opt[:, None]
    gap = float(np.min(data.gamma_opt - np.where(is_opt, -np.inf, data.gamma).max(axis=1)))
    return IsolationRun(seed=seed, a2=a2, a3=a3, init=init, a3_at_start=check_assumptions(data, W0).holds("3"),
                        gap=gap, n_wrong=tuple(s.n_wrong for s in sels), n_tie=tuple(s.n_tie for s in sels))


@dataclass(frozen=True)
class AssumptionIsolation:
    """The runs of :func:`assumption_isolation`, with counts by cell.

    Attributes
    ----------
    runs : tuple of IsolationRun
        Cell-major: ``(a2, a3)`` in the order (True, True), (True, False), (False, True), (False, False), then
        seed, then start.
    """

    runs: tuple

    def cell(self, a2: bool, a3: bool, init: str | None = None) -> tuple:
        """The runs of one cell (and one start, if given)."""
        return tuple(r for r in self.runs if r.a2 == a2 and r.a3 == a3 and (init is None or r.init == init))

    def n_wrong(self, a2: bool, a3: bool, init: str | None = None) -> int:
        """How many runs of the cell end with some sample on a non-optimal token."""
        return sum(r.wrong for r in self.cell(a2, a3, init))

    def n_runs(self, a2: bool, a3: bool, init: str | None = None) -> int:
        return len(self.cell(a2, a3, init))

    @property
    def n_changed(self) -> int:
        """Runs whose outcome (some sample wrong or not) differs between the first and the last saved time."""
        return sum((r.n_wrong[0] > 0) != (r.n_wrong[-1] > 0) for r in self.runs)

    @property
    def n_ties(self) -> int:
        """Samples (over all runs) with no token leading at the end."""
        return sum(r.n_tie[-1] for r in self.runs)


@memo
def assumption_isolation(seeds: tuple = ISOLATION_SEEDS, inits: tuple = ISOLATION_INITS,
                         log_t: tuple = ISOLATION_LOG_T, workers: int | None = None) -> AssumptionIsolation:
    """Which assumption keeps the W-flow off non-optimal tokens? A 2 x 2 design on chapter 2's setup
    (``make_generic_data(6, 8, 10, seed)``, :func:`attnbook.experiments.studies.design_data`): Assumption 2 on or
    off (non-optimal scores made equal, or left as drawn) x a large or a small score gap (Assumption 3 at ``W = 0``
    on or off), ``len(seeds)`` data seeds x the starts ``inits`` per cell, W-flow to ``ln t = max(log_t)``.

    Returns
    -------
    AssumptionIsolation
    """
    cells = [(a2, a3) for a2 in (True, False) for a3 in (True, False)]
    items = [(s, a2, a3, init, tuple(log_t)) for a2, a3 in cells for s in seeds for init in inits]
    return AssumptionIsolation(runs=tuple(pool_map(_isolation_run, items, workers)))


WIDGET_SCALES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
WIDGET_ANGLES = (0, 15, 30, 45, 60, 90, 120, 150, 180)


@memo
def widget_directions() -> tuple[np.ndarray, np.ndarray]:
    """``W_F`` (margin 1) and a matrix ``P`` of the same norm orthogonal to it, each shape (2, 2)."""
    W_F = np.array(solve_svm(make_toy_data(), "fro").W)
    J = np.array([[0.0, -1.0], [1.0, 0.0]])
    P = J - np.vdot(J, W_F) / np.vdot(W_F, W_F) * W_F
    return W_F, P * np.linalg.norm(W_F) / np.linalg.norm(P)


def direction_at(angle: float) -> np.ndarray:
    """``D(angle) = cos(angle) W_F + sin(angle) P`` (angle in degrees), shape (2, 2)."""
    W_F, P = widget_directions()
    a = np.deg2rad(angle)
    return np.cos(a) * W_F + np.sin(a) * P


@dataclass(frozen=True)
class LossAlongRay:
    """Excess loss and margin along the ray ``W = c D(angle)`` (:func:`compute_ray`).

    Attributes
    ----------
    c : numpy.ndarray, shape (m,)
        The factors ``c``.
    excess : numpy.ndarray, shape (m,)
        ``L(c D) - L*``.
    mu_dir : float
        The margin of ``D(angle)`` (1 at angle 0).
    prediction : numpy.ndarray, shape (m,)
        The large-``c`` law ``excess(c_ref) exp(-mu_dir (c - c_ref))`` (meaningful when ``mu_dir > 0``).
    """

    c: np.ndarray
    excess: np.ndarray
    mu_dir: float
    prediction: np.ndarray


@memo
def cached_ray(angle: float) -> LossAlongRay:
    return compute_ray(angle, np.linspace(0.0, 20.0, 81))


def compute_ray(angle: float, scales=None) -> LossAlongRay:
    """Excess loss and margin along the ray ``W = c D(angle)``.

    Returns
    -------
    LossAlongRay
        The excess loss along the ray, the direction's margin and the large-``c`` law.
    """
    data = make_toy_data()
    D = direction_at(angle)
    c = np.linspace(0.0, 20.0, 81) if scales is None else np.asarray(scales, dtype=float)
    exc = np.array([excess_loss(data, s * D) for s in c])
    mu = margin(data, D)
    ref = np.searchsorted(c, 12.0)
    pred = exc[ref] * np.exp(-mu * (c - c[ref]))
    return LossAlongRay(c=c, excess=exc, mu_dir=mu, prediction=pred)
