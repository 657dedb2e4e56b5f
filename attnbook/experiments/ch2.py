"""Chapter 2, "One matrix W: the Frobenius bias": gradient flow on the combined W over many seeds of Tarzanagh et al.'s
setup (n=6, L=8, d=10, unit-norm Gaussian tokens), whether the token selections the flows reach are locally optimal
(Tarzanagh et al. 2023a), gradient flow vs (normalised) gradient descent on the flow's clock, and the singular values
of the limit.

Flows are cached (:func:`attnbook.experiments._store.memo`), so the figures, the widget and the tests share them.

The chapter's computations (no drawing: :mod:`attnbook.figures.ch2` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib.data import AttentionData, make_generic_data
from attnlib.diagnostics import singular_values
from attnlib.flow import Trajectory, gradient_descent, gradient_flow
from attnlib.model import attention, cosine, loss_grad
from attnlib.svm import solve_selection_svm, solve_svm
from ._store import memo, pool_map

TARZANAGH_SETUP = (6, 8, 10)  # (n, L, d): the setup of Tarzanagh et al.'s public notebooks
T_END = 1e200  # flows run to t = 1e200 (margin ~ 460)
RTOL = 1e-6  # solver tolerance: the cosines agree with rtol = 1e-8 to 6 digits and it halves the cost
N_SEEDS = 20
EXCESS_TOL = 1e-3  # a seed whose excess loss stays above this has settled on a non-optimal token selection
NEIGHBOUR_TOL = 1e-6  # a constraint with margin within this of 1 at the selection's SVM solution is active
WIDGET_SEEDS = tuple(range(8))
WIDGET_SHAPES = ("n=6, L=8, d=10", "n=3, L=8, d=10", "n=6, L=4, d=10")


def parse_shape(shape: str) -> tuple[int, int, int]:
    """``"n=6, L=8, d=10"`` -> ``(6, 8, 10)``."""
    vals = dict(part.strip().split("=") for part in shape.split(","))
    return int(vals["n"]), int(vals["L"]), int(vals["d"])


def tarzanagh_data(seed: int, n: int = 6, L: int = 8, d: int = 10) -> AttentionData:
    """``make_generic_data(n, L, d, seed)``: the setup of Tarzanagh et al.'s public notebooks at its default size.

    The data of a flow already run is that flow's data (its SVM solutions are cached on it).
    """
    key = (int(seed), int(n), int(L), int(d))
    if tarzanagh_flow.is_cached(*key):
        return tarzanagh_flow(*key).data
    return _generic_data(*key)


@memo
def _generic_data(seed: int, n: int, L: int, d: int) -> AttentionData:
    return make_generic_data(n, L, d, seed)


def _run_flow(key: tuple[int, int, int, int]) -> Trajectory:
    """Flow on ``W`` from 0 to ``T_END`` for one key, with both SVMs solved (cached on ``traj.data``)."""
    seed, n, L, d = key
    data = make_generic_data(n, L, d, seed)
    traj = gradient_flow(data, "W", np.zeros((d, d)), log_t_end=np.log(T_END), rtol=RTOL)
    solve_svm(data, "fro")
    solve_svm(data, "nuc")
    return traj


@memo
def tarzanagh_flow(seed: int, n: int = 6, L: int = 8, d: int = 10) -> Trajectory:
    """Gradient flow on ``W`` from ``W(0) = 0`` on :func:`tarzanagh_data`, to ``T_END`` (cached)."""
    return _run_flow((int(seed), int(n), int(L), int(d)))


def prefetch(keys, workers: int | None = None) -> None:
    """Run the flows of ``keys`` (tuples ``(seed, n, L, d)``) not yet cached, on ``workers`` processes
    (:func:`attnbook.experiments._store.pool_map`; an error of a flow propagates), into :func:`tarzanagh_flow`'s cache.
    """
    keys = [tuple(int(v) for v in k) for k in keys]
    missing = [k for k in dict.fromkeys(keys) if not tarzanagh_flow.is_cached(*k)]
    for key, traj in zip(missing, pool_map(_run_flow, missing, workers)):
        tarzanagh_flow.prime(key, traj)


def prefetch_widget(workers: int | None = None) -> None:
    """Run the flows the widget's static twin shows (seeds at the default size, sizes at seed 0)."""
    keys = [(s, *TARZANAGH_SETUP) for s in WIDGET_SEEDS] + [(WIDGET_SEEDS[0], *parse_shape(sh)) for sh in WIDGET_SHAPES]
    prefetch(keys, workers)


GD_LABELS = {"GF": "gradient flow", "NGD": "normalized GD, lr 0.1", "GD": "GD, lr 0.1"}


# The names of earlier versions (the same objects).
PEERS = TARZANAGH_SETUP
peers_data = tarzanagh_data
peers_flow = tarzanagh_flow


@dataclass(frozen=True)
class SeedSummary:
    """One seed's flow against the Frobenius and nuclear SVM solutions (:func:`seed_summary`).

    Attributes
    ----------
    log10_t : numpy.ndarray, shape (m,)
        ``log10 t`` of the saved times (``-inf`` at ``t = 0``).
    cos_fro, cos_nuc : numpy.ndarray, shape (m,)
        Cosines of ``W(t)`` with the Frobenius and the nuclear SVM solution.
    excess : numpy.ndarray, shape (m,)
        ``L(W(t)) - L*``.
    wrong : int
        Number of samples whose final attention peaks on a non-optimal token.
    local : bool
        True when the flow settled on a token selection other than the optimal one (``wrong > 0`` or final
        excess loss > ``EXCESS_TOL``); :func:`selection_check` tests that this selection is locally optimal.
    sv_limit : numpy.ndarray, shape (d,)
        Singular values of the final ``W`` scaled to margin 1 (to the Frobenius SVM's norm when the final margin is
        negative).
    sv_fro, sv_nuc : numpy.ndarray, shape (d,)
        Singular values of the two SVM solutions.
    margin : float
        The final margin.
    nfev : int
        Gradient evaluations of the flow.
    cos_fro_nuc : float
        Cosine between the two SVM solutions.
    """

    log10_t: np.ndarray
    cos_fro: np.ndarray
    cos_nuc: np.ndarray
    excess: np.ndarray
    wrong: int
    local: bool
    sv_limit: np.ndarray
    sv_fro: np.ndarray
    sv_nuc: np.ndarray
    margin: float
    nfev: int
    cos_fro_nuc: float


@memo
def seed_summary(seed: int, n: int = 6, L: int = 8, d: int = 10) -> SeedSummary:
    """One seed's flow against the Frobenius and nuclear SVM solutions.

    Returns
    -------
    SeedSummary
        The cosines with the two solutions along the flow, the outcome and the singular values of the limit.
    """
    traj = tarzanagh_flow(seed, n, L, d)
    data = traj.data
    F, N = solve_svm(data, "fro"), solve_svm(data, "nuc")
    W = traj.final()
    wrong = int(np.sum(attention(data, W).argmax(axis=1) != data.opt))
    mu = traj.margin[-1]
    W_hat = W / mu if mu > 0 else W * F.value / np.linalg.norm(W)
    with np.errstate(divide="ignore"):
        log10_t = traj.log_t / np.log(10.0)
    return SeedSummary(log10_t=log10_t, cos_fro=traj.cosine_to(F.W), cos_nuc=traj.cosine_to(N.W),
                       excess=traj.excess_loss, wrong=wrong,
                       local=bool(wrong > 0 or traj.excess_loss[-1] > EXCESS_TOL),
                       sv_limit=singular_values(W_hat), sv_fro=singular_values(F.W), sv_nuc=singular_values(N.W),
                       margin=float(mu), nfev=traj.nfev,
                       cos_fro_nuc=float(np.vdot(F.W, N.W) / (F.value * np.linalg.norm(N.W))))


@dataclass(frozen=True)
class SeedSweep:
    """Cosines with the two SVM solutions over seeds, split into global and locally optimal outcomes
    (:func:`compute_seed_sweep`).

    Attributes
    ----------
    seeds : numpy.ndarray, shape (S,)
        The seeds.
    log10_t : numpy.ndarray, shape (m,)
        ``log10 t`` of the saved times (the same for every seed).
    cos_fro, cos_nuc : numpy.ndarray, shape (S, m)
        Cosines of ``W(t)`` with the Frobenius and the nuclear SVM solution, per seed.
    local : numpy.ndarray of bool, shape (S,)
        Whether each seed settled on a non-optimal token selection (:class:`SeedSummary`; locally optimal by
        :func:`compute_local_optimality`).
    wrong : numpy.ndarray, shape (S,)
        Number of samples whose final attention peaks on a non-optimal token.
    final_excess : numpy.ndarray, shape (S,)
        The final excess loss.
    cos_fro_final, cos_nuc_final : numpy.ndarray, shape (S,)
        The final cosines.
    """

    seeds: np.ndarray
    log10_t: np.ndarray
    cos_fro: np.ndarray
    cos_nuc: np.ndarray
    local: np.ndarray
    wrong: np.ndarray
    final_excess: np.ndarray
    cos_fro_final: np.ndarray
    cos_nuc_final: np.ndarray


def compute_seed_sweep(seeds=tuple(range(N_SEEDS)), n: int = 6, L: int = 8, d: int = 10) -> SeedSweep:
    """Cosines with the two SVM solutions over seeds, split into global and locally optimal outcomes.

    Returns
    -------
    SeedSweep
        The per-seed cosines along the flows, outcomes and final values.
    """
    prefetch([(s, n, L, d) for s in seeds])
    rows = [seed_summary(s, n, L, d) for s in seeds]
    return SeedSweep(seeds=np.array(seeds), log10_t=rows[0].log10_t,
                     cos_fro=np.array([r.cos_fro for r in rows]), cos_nuc=np.array([r.cos_nuc for r in rows]),
                     local=np.array([r.local for r in rows]), wrong=np.array([r.wrong for r in rows]),
                     final_excess=np.array([r.excess[-1] for r in rows]),
                     cos_fro_final=np.array([r.cos_fro[-1] for r in rows]),
                     cos_nuc_final=np.array([r.cos_nuc[-1] for r in rows]))


@dataclass(frozen=True)
class SelectionCheck:
    """Is the token selection a flow reached locally optimal in the sense of Tarzanagh et al. (2023a)?
    (:func:`selection_check`).

    The selection ``s`` is the token each sample's final attention peaks on. ``W_s`` solves its Frobenius SVM
    (:func:`attnlib.svm.solve_selection_svm`: every token scored below ``s(i)`` constrained). When every token
    scored *at least* as high as ``s(i)`` also has margin above 1 at ``W_s``, then ``W_s`` solves the SVM with
    every token ``l != s(i)`` constrained (Tarzanagh et al.'s problem), its active constraints (the SVM neighbours)
    are all lower-scored tokens, and ``s`` is locally optimal; otherwise it is not.

    Attributes
    ----------
    seed : int
        The data seed of :func:`tarzanagh_data`.
    selection, opt : numpy.ndarray of int, shape (n,)
        The selected and the optimal token of each sample.
    stuck : numpy.ndarray of int, shape (k,)
        The samples whose selected token is not the optimal one (``k = 0`` for the optimal selection).
    selected_score : numpy.ndarray, shape (k,)
        ``gamma_{i, s(i)}`` of each stuck sample.
    neighbours, neighbour_scores : tuple of k numpy.ndarray
        For each stuck sample, its SVM neighbours (tokens whose constraint is active at ``W_s``, margin within
        ``NEIGHBOUR_TOL`` of 1) and their scores ``gamma_il``.
    higher_margin : float
        Smallest margin ``(x_{i,s(i)} - x_il)^T W_s z_i`` over the tokens ``l != s(i)`` scored at least as high as
        ``s(i)`` (``inf`` when there are none, as for the optimal selection).
    locally_optimal : bool
        ``higher_margin > 1 + NEIGHBOUR_TOL``.
    cos_selection, cos_fro : float
        Cosine of the flow's final ``W`` with ``W_s`` and with the ``W_F``-SVM solution.
    """

    seed: int
    selection: np.ndarray
    opt: np.ndarray
    stuck: np.ndarray
    selected_score: np.ndarray
    neighbours: tuple
    neighbour_scores: tuple
    higher_margin: float
    locally_optimal: bool
    cos_selection: float
    cos_fro: float


@memo
def selection_check(seed: int, n: int = 6, L: int = 8, d: int = 10) -> SelectionCheck:
    """Whether the selection the ``W``-flow from 0 reaches on :func:`tarzanagh_data` is locally optimal.

    Returns
    -------
    SelectionCheck
        The selection, its stuck samples with their SVM neighbours and scores, and the margin of the tokens scored
        at least as high as the selected ones.
    """
    traj = tarzanagh_flow(seed, n, L, d)
    data = traj.data
    W = traj.final()
    rows = np.arange(data.n)
    sel = attention(data, W).argmax(axis=1)
    W_F = solve_svm(data, "fro").W
    W_s = solve_selection_svm(data, sel).W if np.any(sel != data.opt) else W_F
    logits = np.einsum("ild,de,ie->il", data.X, W_s, data.z)  # x_il^T W_s z_i
    margins = logits[rows, sel][:, None] - logits  # (x_{i,s(i)} - x_il)^T W_s z_i, shape (n, L)
    score = data.gamma[rows, sel]
    lower = data.gamma < score[:, None]  # the constrained tokens
    not_lower = ~lower
    not_lower[rows, sel] = False
    neighbour = lower & (margins <= 1 + NEIGHBOUR_TOL)
    stuck = np.flatnonzero(sel != data.opt)
    higher = float(margins[not_lower].min()) if not_lower.any() else float("inf")
    return SelectionCheck(
        seed=int(seed), selection=sel, opt=np.asarray(data.opt), stuck=stuck, selected_score=score[stuck],
        neighbours=tuple(np.flatnonzero(neighbour[i]) for i in stuck),
        neighbour_scores=tuple(data.gamma[i, neighbour[i]] for i in stuck),
        higher_margin=higher, locally_optimal=bool(higher > 1 + NEIGHBOUR_TOL),
        cos_selection=cosine(W, W_s), cos_fro=cosine(W, W_F))


@dataclass(frozen=True)
class LocalOptimality:
    """The selections of a seed sweep checked for local optimality (:func:`compute_local_optimality`).

    Attributes
    ----------
    seeds : numpy.ndarray of int, shape (S,)
        All seeds of the sweep.
    optimal : numpy.ndarray of bool, shape (S,)
        Whether each seed's flow selected the optimal token of every sample.
    checks : tuple of SelectionCheck
        One per seed whose selection is not the optimal one, in seed order.
    cos_own : numpy.ndarray, shape (S,)
        Cosine of each seed's final ``W`` with the Frobenius SVM of the selection it reached (the ``W_F``-SVM for
        the optimal selection).
    """

    seeds: np.ndarray
    optimal: np.ndarray
    checks: tuple
    cos_own: np.ndarray

    @property
    def higher_margin(self) -> np.ndarray:
        """``SelectionCheck.higher_margin`` of each non-optimal selection, shape (len(checks),)."""
        return np.array([c.higher_margin for c in self.checks])

    @property
    def all_locally_optimal(self) -> bool:
        """True when every selection of the sweep is locally optimal."""
        return all(c.locally_optimal for c in self.checks)


def compute_local_optimality(seeds=tuple(range(N_SEEDS)), n: int = 6, L: int = 8, d: int = 10) -> LocalOptimality:
    """:func:`selection_check` for every seed of the sweep whose flow did not select the optimal tokens.

    Returns
    -------
    LocalOptimality
        The checks, and every seed's cosine with the SVM of its own selection.
    """
    prefetch([(s, n, L, d) for s in seeds])
    checks = [selection_check(s, n, L, d) for s in seeds]
    optimal = np.array([c.stuck.size == 0 for c in checks])
    return LocalOptimality(seeds=np.array(seeds), optimal=optimal,
                           checks=tuple(c for c, ok in zip(checks, optimal) if not ok),
                           cos_own=np.array([c.cos_selection for c in checks]))


@dataclass(frozen=True)
class OptimizerPath:
    """One method's path in :func:`compute_gd_comparison`.

    Attributes
    ----------
    margin : numpy.ndarray, shape (m,)
        The margin along the path.
    cos_fro : numpy.ndarray, shape (m,)
        Cosine with the Frobenius SVM solution.
    evals : numpy.ndarray, shape (m,)
        Gradient evaluations so far (gradient flow: only the total is known, at the last entry; NaN elsewhere).
    log_t_flow : numpy.ndarray, shape (m,)
        ``ln t`` of the gradient-flow time each entry corresponds to (``-inf`` at the start): the flow's own time;
        ``lr * k`` after ``k`` steps of plain GD (a step of Euler's method is ``lr`` long in ``t``); for normalised
        GD, whose step is Euler's with time step ``lr / ||grad L||``, the sum of those time steps (integrated
        over the saved iterates with ``ln ||grad L||`` linear in ``k`` between them).
    """

    margin: np.ndarray
    cos_fro: np.ndarray
    evals: np.ndarray
    log_t_flow: np.ndarray


@dataclass(frozen=True)
class GDComparison:
    """Gradient flow, normalised GD and plain GD with the same budget of gradient evaluations
    (:func:`compute_gd_comparison`).

    Attributes
    ----------
    budget : int
        The flow's gradient evaluations (each Hessian counted as ``d^2``), given to both GD runs as steps.
    GF, NGD, GD : OptimizerPath
        Gradient flow, normalised GD and plain GD (labels: ``GD_LABELS``).
    grad_slope : float
        Slope of ``ln ||grad L(W)||_F`` against the margin ``mu(W)`` along normalised GD where ``mu > 5``
        (about -1: the gradient falls like ``e^{-mu}``, so normalised GD's time step ``lr / ||grad L||`` grows
        like ``e^{mu}``).
    """

    budget: int
    GF: OptimizerPath
    NGD: OptimizerPath
    GD: OptimizerPath
    grad_slope: float

    @property
    def runs(self) -> tuple[tuple[str, OptimizerPath], ...]:
        """``(name, path)`` for "GF", "NGD" and "GD", in this order."""
        return (("GF", self.GF), ("NGD", self.NGD), ("GD", self.GD))

    def flow_margin_at(self, log_t) -> np.ndarray:
        """The gradient flow's margin at ``ln t = log_t`` (interpolated between its saved times)."""
        ok = np.isfinite(self.GF.log_t_flow)
        return np.interp(log_t, self.GF.log_t_flow[ok], self.GF.margin[ok])


@memo
def compute_gd_comparison(seed: int = 0, lr: float = 0.1) -> GDComparison:
    """Gradient flow, normalised GD and plain GD on one seed of the setup of Tarzanagh et al.'s public notebooks,
    with the same number of gradient evaluations: the flow's, counting each Hessian its implicit solver used as the ``d^2`` gradient
    evaluations it costs by finite differences (generous to GD: the analytic one costs a few gradients).

    Returns
    -------
    GDComparison
        The ``budget`` and one :class:`OptimizerPath` for each of "GF", "NGD", "GD".
    """
    traj = tarzanagh_flow(seed, *TARZANAGH_SETUP)
    data = traj.data
    F = solve_svm(data, "fro")
    budget = int(traj.nfev + traj.njev * data.d ** 2)
    gf = OptimizerPath(margin=traj.margin, cos_fro=traj.cosine_to(F.W),
                       evals=np.r_[np.full(len(traj) - 1, np.nan), budget], log_t_flow=traj.log_t)
    W0 = np.zeros((data.d, data.d))
    out = {}
    for name, normalized in (("NGD", True), ("GD", False)):
        gd = gradient_descent(data, "W", W0, lr=lr, steps=budget, normalized=normalized)
        steps = np.rint(gd.t / lr)
        if normalized:
            log_grad = np.log([np.linalg.norm(loss_grad(data, W)) for W in gd.W])
            log_t_flow = cumulative_log_time(steps, np.log(lr) - log_grad)
            late = gd.margin > 5
            grad_slope = float(np.polyfit(gd.margin[late], log_grad[late], 1)[0])
        else:
            log_t_flow = gd.log_t
        out[name] = OptimizerPath(margin=gd.margin, cos_fro=gd.cosine_to(F.W), evals=steps, log_t_flow=log_t_flow)
    return GDComparison(budget=budget, GF=gf, NGD=out["NGD"], GD=out["GD"], grad_slope=grad_slope)


def cumulative_log_time(k: np.ndarray, log_dt: np.ndarray) -> np.ndarray:
    """``ln sum_{j < k} dt_j`` at the step indices ``k`` (increasing, from 0), from ``ln dt`` at those indices,
    taking ``ln dt`` linear in ``j`` between them (so each interval's sum is an exact exponential integral)."""
    dk, a, b = np.diff(k), log_dt[:-1], log_dt[1:]
    x = b - a
    with np.errstate(invalid="ignore", divide="ignore"):
        log_factor = np.where(np.abs(x) < 1e-8, x / 2, np.log(np.abs(np.expm1(x) / x)))  # ln((e^x - 1) / x)
    log_inc = np.log(dk) + a + log_factor
    return np.r_[-np.inf, np.logaddexp.accumulate(log_inc)]


def numerical_rank(sv: np.ndarray, tol: float = 1e-6) -> int:
    """Number of singular values above ``tol`` times the largest."""
    return int(np.sum(sv > tol * sv[0]))
