"""Chapter 2, "One matrix W: the Frobenius bias": gradient flow on the combined W over many seeds of Tarzanagh et al.'s
setup (n=6, L=8, d=10, unit-norm Gaussian tokens), gradient flow vs (normalised) gradient descent, and the
singular values of the limit.

Flows are cached (:func:`attnbook.experiments._store.memo`), so the figures, the widget and the tests share them.

The chapter's computations (no drawing: :mod:`attnbook.figures.ch2` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib.data import AttentionData, make_generic_data
from attnlib.diagnostics import singular_values
from attnlib.flow import Trajectory, gradient_descent, gradient_flow
from attnlib.model import attention
from attnlib.svm import solve_svm
from ._store import memo, pool_map

TARZANAGH_SETUP = (6, 8, 10)  # (n, L, d): the setup of Tarzanagh et al.'s public notebooks
T_END = 1e200  # flows run to t = 1e200 (margin ~ 460)
RTOL = 1e-6  # solver tolerance: the cosines agree with rtol = 1e-8 to 6 digits and it halves the cost
N_SEEDS = 20
EXCESS_TOL = 1e-3  # a seed whose excess loss stays above this has settled on a locally optimal selection
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
        True when the flow settled on a locally optimal selection (``wrong > 0`` or final excess loss
        > ``EXCESS_TOL``).
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
        Whether each seed settled on a locally optimal selection (:class:`SeedSummary`).
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
    """

    margin: np.ndarray
    cos_fro: np.ndarray
    evals: np.ndarray


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
    """

    budget: int
    GF: OptimizerPath
    NGD: OptimizerPath
    GD: OptimizerPath

    @property
    def runs(self) -> tuple[tuple[str, OptimizerPath], ...]:
        """``(name, path)`` for "GF", "NGD" and "GD", in this order."""
        return (("GF", self.GF), ("NGD", self.NGD), ("GD", self.GD))


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
                       evals=np.r_[np.full(len(traj) - 1, np.nan), budget])
    W0 = np.zeros((data.d, data.d))
    out = {}
    for name, normalized in (("NGD", True), ("GD", False)):
        gd = gradient_descent(data, "W", W0, lr=lr, steps=budget, normalized=normalized)
        out[name] = OptimizerPath(margin=gd.margin, cos_fro=gd.cosine_to(F.W), evals=np.rint(gd.t / lr))
    return GDComparison(budget=budget, GF=gf, NGD=out["NGD"], GD=out["GD"])


def numerical_rank(sv: np.ndarray, tol: float = 1e-6) -> int:
    """Number of singular values above ``tol`` times the largest."""
    return int(np.sum(sv > tol * sv[0]))
