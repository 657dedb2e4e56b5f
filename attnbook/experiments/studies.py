"""Multi-seed studies behind chapters 6 and 7: distributions over data seeds and initialisations, not anecdotes.

Every study runs its flows through :func:`attnbook.experiments._store.pool_map` and caches its result with
:func:`attnbook.experiments._store.memo` (frozen: read-only arrays, immutable containers). A study compares a flow
with an SVM by an **optimality certificate** -- the margin-normalised direction ``W / mu(W)`` is feasible (margin
1) by construction, so its relative norm gap ``||W / mu|| / OPT - 1`` is >= 0 and is 0 exactly at a solution --
not by the cosine to one solver output, which is the wrong test where an SVM has several solutions.

The studies
-----------
- :func:`kq_study` -- separate ``(K, Q)`` from a small random start on chapter 6's generic equal-score data
  family (``make_generic_data(4, 3, 4, seed, equal_scores=True)``), 20 data seeds x 2 initialisations, to
  ``ln t = 1e100`` (the margin frame carries the flow past ``ln t = 1e6``): the nuclear-norm gap at each
  checkpoint and its fitted rate in ``ln t``.
- :func:`assumption_design` -- the 2 x 2 design Assumption 2 on/off x Assumption 3 on/off on the setup of
  Tarzanagh et al.'s public notebooks (n = 6, L = 8, d = 10, unit-norm Gaussian tokens and queries, a random
  unit head ``v``): which token selection the ``W``-flow from 0 reaches.
- :func:`unequal_scores_study` -- chapter 6's demo data with ``size * N(0, 1)`` added to the non-optimal scores
  (Assumption 2 fails), 20 draws, ``W``-flow from 0 and ``(K, Q)``-flow from two small random starts.
- :func:`gd_step_study` -- gradient descent on ``W`` with large steps, 16 perturbed starts per step size, loss
  and data seed: the distribution of when (and whether) the optimal tokens are recovered.
- :func:`e9_certificate` -- chapter 7's E9 flow (Assumption 4 data, Assumption 2 broken by ``eps``) with the
  nuclear-norm certificate, the distance to ``W°`` and the ``V``-free alignment gap (:func:`alignment_gap`) along
  the path.
- :func:`accuracy_study` -- the appendix's tolerance study extended to ``ln t = 1e6``: the error of the parameters
  and of the log attention weights.

Numbers at a horizon are evidence about the flow, not a proof about its limit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from scipy.linalg import block_diag

import attnlib as al
from attnbook.experiments._store import memo, pool_map
from attnlib.flow import Trajectory
from attnlib.perturbation import perturb_init, unperturbed

__all__ = [
    "STUDY_RTOL", "KQ_RTOL", "CERT_FLOOR", "KQ_SEEDS", "KQ_INIT_SEEDS", "KQ_LOG_T", "DESIGN_SEEDS", "DESIGN_LOG_T",
    "UNEQUAL_SEEDS", "GD_STEPS", "GD_DATA_SEEDS", "GD_STARTS", "GD_PERTURBATION", "GD_SAVES", "E9_EPS",
    "demo_family", "perturbed_demo", "design_data", "norm_gap", "reached_selection",
    "certificate_spectral_gap", "KQRun", "GapSummary", "KQStudy", "kq_run", "kq_study", "DesignRun",
    "independent_tokens_and_queries", "assumption_design", "UnequalRun", "unequal_scores_study", "GDStart",
    "GDStepStudy", "gd_step_study", "E9Path", "e9_data", "alignment_gap", "e9_certificate", "e9_study",
    "ACCURACY_RTOLS",
    "AccuracyRun", "AccuracyStudy", "accuracy_study",
]

#: Relative tolerance of the selection studies (which tokens a flow selects does not change at 1e-8; tests check it).
STUDY_RTOL = 1e-6
#: Relative tolerance of the (K, Q) study. The nuclear-norm gap needs it: at 1e-6 a gap below ~1e-5 is wrong (data
#: seed 2, start 1: 2.4e-6 instead of 1.3e-9 at ln t = 1e10); 1e-8 agrees with 1e-10 to the solver's accuracy.
KQ_RTOL = 1e-8
#: Relative norm gaps below this are at the accuracy of the computation: the SVM solver's optimal value (~1e-10)
#: and, mostly, the flow at rtol 1e-8 (runs that differ only in where the margin frame takes over disagree below
#: ~1e-8).
CERT_FLOOR = 1e-8
#: (K, Q) study: data seeds of ``make_generic_data(4, 3, 4, seed, equal_scores=True)``, init seeds, ln t saved.
KQ_SEEDS = tuple(range(20))
KQ_INIT_SEEDS = (0, 1)
KQ_SCALE = 0.01
KQ_LOG_T = (1e2, 1e3, 1e4, 1e5, 1e6, 1e10, 1e20, 1e30, 1e100)
#: Assumption 2 x 3 design: data seeds of Tarzanagh et al.'s setup and the ln t at which the selection is read.
DESIGN_SEEDS = tuple(range(20))
DESIGN_LOG_T = (10.0, 100.0, 1000.0)
#: Unequal-score study: draws of the perturbation of chapter 6's demo data.
UNEQUAL_SEEDS = tuple(range(20))
UNEQUAL_SIZE = 2.0
UNEQUAL_LOG_T = (10.0, 1e3)
#: Long gradient descent: (step size, number of steps); eta = 3 leaves its plateau at step ~300, the others need
#: thousands of steps (eta = 5 at ~16,000, eta = 7 at ~14,000) or stay (eta = 10).
GD_STEPS = ((3.0, 2_000), (5.0, 20_000), (7.0, 20_000), (10.0, 20_000))
#: Chapter 6's large-step study: data seeds of the demo family (3 is the chapter's demo data), starts per cell,
#: their relative perturbation and the saved steps per run.
GD_DATA_SEEDS = (3, 1)
GD_STARTS = 16
GD_PERTURBATION = 1e-12
GD_SAVES = 200
#: Chapter 7's E9: sizes of the score offset that breaks Assumption 2.
E9_EPS = (0.0, 0.01, 0.03, 0.1, 0.3, 0.5)


# -- data ------------------------------------------------------------------------------------------------------

def demo_family(seed: int) -> al.AttentionData:
    """Chapter 6's generic equal-score data for one seed: ``make_generic_data(4, 3, 4, seed, equal_scores=True)``
    (n = 4, L = 3, d = 4, Gaussian tokens, ``gamma_opt = 6``, ``gamma_nopt = 0``; Assumptions 1-3 hold)."""
    return al.make_generic_data(4, 3, 4, seed=seed, equal_scores=True)


def perturbed_demo(size: float = UNEQUAL_SIZE, seed: int = 0, base_seed: int = 3) -> al.AttentionData:
    """``demo_family(base_seed)`` with ``size * N(0, 1)`` (generator ``seed``) added to each non-optimal score.

    Only the score coordinate of the non-optimal tokens moves (the same construction as chapter 6's
    ``perturbed_data``), so Assumption 2 fails; the optimal token may change where a perturbed score exceeds 6.
    """
    base = demo_family(base_seed)
    rng = np.random.default_rng(seed)
    nopt = np.ones((base.n, base.L), bool)
    nopt[np.arange(base.n), base.opt] = False
    X = np.array(base.X)
    X[..., -1] += np.where(nopt, size * rng.standard_normal((base.n, base.L)), 0.0) * base.y[:, None]
    return al.AttentionData(X, base.z, base.y, base.v)


def _move_scores(data: al.AttentionData, target: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Tokens ``X`` with the tokens marked in ``which`` (n, L) moved along ``v`` so their score is ``target``."""
    v = data.v
    shift = np.where(which, target - data.gamma, 0.0) * data.y[:, None]
    return np.array(data.X) + shift[..., None] * v / (v @ v)


def design_data(seed: int, a2: bool, a3: bool) -> al.AttentionData:
    """Tarzanagh et al.'s setup (``make_generic_data(6, 8, 10, seed)``) with Assumptions 2 and 3 switched.

    ``a2``: move each non-optimal token along ``v`` so its score becomes the sample's mean non-optimal score
    (Assumption 2 holds; nothing else about the tokens changes). ``a3``: move each optimal token along ``v`` so the
    sample's mean score is ``T + ln n + 1/2``, ``T`` the largest non-optimal score of all samples: every sample's
    loss at ``W = 0`` (uniform attention) is then below ``e^{-T} / n``, below the least loss with a sample stuck
    (Assumption 3).
    Without ``a2``/``a3`` the data are the generic ones, which violate both.

    Raises
    ------
    ValueError
        If the construction does not give the requested assumptions (checked with ``check_assumptions``).
    """
    data = al.make_generic_data(6, 8, 10, seed=seed)
    is_opt = np.arange(data.L)[None, :] == data.opt[:, None]
    if a2:
        mean_nopt = np.where(is_opt, 0.0, data.gamma).sum(axis=1) / (data.L - 1)
        data = al.AttentionData(_move_scores(data, mean_nopt[:, None], ~is_opt), data.z, data.y, data.v)
    if a3:
        top = np.where(is_opt, -np.inf, data.gamma).max()
        nopt_sum = np.where(is_opt, 0.0, data.gamma).sum(axis=1)
        target = data.L * (top + np.log(data.n) + 0.5) - nopt_sum
        data = al.AttentionData(_move_scores(data, target[:, None], is_opt), data.z, data.y, data.v)
    rep = al.check_assumptions(data)
    if rep.holds("2") != a2 or rep.holds("3") != a3 or not rep.holds("1"):
        raise ValueError(f"design_data(seed={seed}, a2={a2}, a3={a3}) gave Assumptions 1/2/3 = "
                         f"{rep.holds('1')}/{rep.holds('2')}/{rep.holds('3')}")
    return data


# -- certificates ------------------------------------------------------------------------------------------------

def reached_selection(data: al.AttentionData, W) -> np.ndarray:
    """The token each sample attends to most at ``W``, shape (n,)."""
    return al.attention(data, W).argmax(axis=1)


def norm_gap(data: al.AttentionData, W, sol: al.SVMSolution, selection=None) -> float:
    """Optimality certificate of ``W`` for the SVM ``sol`` (of the selection ``selection``, default ``opt``).

    ``W`` is divided by its (selection) margin, which makes it feasible with margin 1; the relative gap
    ``||W / mu||_norm / OPT - 1`` is then >= 0 up to the solver's accuracy and 0 exactly at a minimiser. NaN
    where the margin is not positive (the flow has not selected these tokens yet).
    """
    sel = data.opt if selection is None else np.asarray(selection, dtype=int)
    i, l = al.selection_pairs(data, sel).T
    mu = float(np.einsum("kd,de,ke->k", data.X[i, sel[i]] - data.X[i, l], np.asarray(W), data.z[i]).min())
    if mu <= 0:
        return float("nan")
    Wn = np.asarray(W) / mu
    value = np.linalg.norm(Wn, "nuc") if sol.norm == "nuc" else np.linalg.norm(Wn)
    return float(value / sol.value - 1.0)


def _rel_dist(W, ref) -> float:
    return float(np.linalg.norm(W - ref) / np.linalg.norm(ref))


def certificate_spectral_gap(data: al.AttentionData, sol: al.SVMSolution, selection=None,
                             rel: float = 1e-4) -> tuple[int, float]:
    """How strictly the nuclear SVM's dual certificate separates the solution's rank: ``(r, 1 - g_{r+1})``.

    ``G = sum_il lambda_il A_il`` (the multipliers of ``sol``, the constraint matrices of the selection
    ``selection``, default ``opt``) lies in the subdifferential of the nuclear norm at the solution: its singular
    values ``g_1 = ... = g_r = 1`` on the solution's ``r`` singular directions (``r`` its numerical rank, singular
    values above ``rel`` times the largest) and ``g_{r+1} < 1`` next.

    Returns
    -------
    (int, float)
        The rank ``r`` and the gap ``1 - g_{r+1}`` (1 when ``r = d``: no singular value is left).
    """
    if sol.norm != "nuc":
        raise ValueError(f"sol must be a nuclear-norm SVM solution; got norm {sol.norm!r}")
    sel = data.opt if selection is None else np.asarray(selection, dtype=int)
    i, l = al.selection_pairs(data, sel).T
    A = np.einsum("kd,ke->kde", data.X[i, sel[i]] - data.X[i, l], data.z[i])
    g = np.linalg.svd(np.einsum("k,kde->de", sol.dual, A), compute_uv=False)
    sv = np.linalg.svd(sol.W, compute_uv=False)
    r = int(np.sum(sv > rel * sv[0]))
    return r, float(1.0 - (g[r] if r < len(g) else 0.0))


# -- (K, Q) on generic data --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KQRun:
    """One ``(K, Q)``-flow of :func:`kq_study`.

    Attributes
    ----------
    seed, init_seed : int
    log_t : numpy.ndarray, shape (m,)
        The checkpoints reached (all of ``KQ_LOG_T`` unless the flow stalled).
    nuc_gap : numpy.ndarray, shape (m,)
        Nuclear-norm certificate (:func:`norm_gap`) for the nuclear SVM of the selection reached at the end.
    dist_nuc, dist_fro : numpy.ndarray, shape (m,)
        Relative distance of ``W / mu`` to the W_*-SVM and to the W_F-SVM solver outputs.
    optimal : bool
        Whether the selection reached at the end is ``opt``.
    stalled_at : float
        ``ln t`` where the solver stalled (``FlowStallError``) or the margin frame gave up, NaN if neither
        happened; the run then reports the checkpoints before it.
    nfev : int
    rank : int
        Numerical rank ``r`` of the nuclear SVM solution (of the selection reached).
    cert_gap : float
        ``1 - g_{r+1}`` of its dual certificate (:func:`certificate_spectral_gap`).
    """

    seed: int
    init_seed: int
    log_t: np.ndarray
    nuc_gap: np.ndarray
    dist_nuc: np.ndarray
    dist_fro: np.ndarray
    optimal: bool
    stalled_at: float
    nfev: int
    rank: int
    cert_gap: float


def _failure_log_t(exc: Exception, fallback: float) -> float:
    """``ln t`` where a flow gave up: ``FlowStallError.log_t``, else the largest "at log t = x" in the message."""
    if isinstance(exc, al.FlowStallError) and np.isfinite(exc.log_t):
        return float(exc.log_t)
    found = [float(x) for x in re.findall(r"at log t = ([0-9.]+(?:e[+-]?[0-9]+)?)", str(exc))]
    return max(found) if found else fallback


def _flow_as_far_as_it_goes(data: al.AttentionData, init, log_t: np.ndarray, rtol: float):
    """The ``(K, Q)``-flow saved at ``log_t``; if the solver stalls or the margin frame gives up, the flow to the
    checkpoints before that point, and the ``ln t`` where it gave up (NaN when it did not)."""
    failed = float("nan")
    while True:
        try:
            return al.gradient_flow(data, "KQ", init, log_t_end=log_t[-1], log_t_eval=log_t, rtol=rtol), failed
        except RuntimeError as exc:  # FlowStallError, or the margin frame's "failed in the margin frame"
            if not (isinstance(exc, al.FlowStallError) or "margin frame" in str(exc)) or len(log_t) < 2:
                raise
            at = _failure_log_t(exc, log_t[-1])
            failed = at if np.isnan(failed) else min(failed, at)
            log_t = log_t[log_t < min(at, log_t[-1])] if np.any(log_t < at) else log_t[:-1]


def kq_run(args: tuple) -> KQRun:
    """One run of :func:`kq_study`: ``args = (seed, init_seed, log_t, rtol)`` (module level, for the pool)."""
    seed, init_seed, log_t, rtol = args
    data = demo_family(seed)
    init = al.default_init(data, "KQ", KQ_SCALE, seed=init_seed)
    tr, stalled = _flow_as_far_as_it_goes(data, init, np.asarray(log_t, dtype=float), rtol)
    sel = reached_selection(data, tr.W[-1])
    optimal = bool(np.array_equal(sel, data.opt))
    nuc = al.solve_svm(data, "nuc") if optimal else al.solve_selection_svm(data, sel, "nuc")
    fro = al.solve_svm(data, "fro")
    D = tr.direction()
    rank, cert_gap = certificate_spectral_gap(data, nuc, sel)
    return KQRun(seed=seed, init_seed=init_seed, log_t=tr.log_t.copy(),
                 nuc_gap=np.array([norm_gap(data, W, nuc, sel) for W in tr.W]),
                 dist_nuc=np.array([_rel_dist(x, nuc.W) for x in D]),
                 dist_fro=np.array([_rel_dist(x, fro.W) for x in D]),
                 optimal=optimal, stalled_at=stalled, nfev=int(tr.nfev), rank=rank, cert_gap=cert_gap)


@dataclass(frozen=True)
class GapSummary:
    """The nuclear-norm gaps of :func:`kq_study` at one checkpoint, over the runs that reached it and end on the
    optimal selection (:meth:`KQStudy.summary`).

    Attributes
    ----------
    median, min, max : float
        Median, least and largest gap.
    reached : int
        Number of such runs.
    at_floor : int
        How many of them have a gap below ``CERT_FLOOR`` in absolute value (at the computation's accuracy).
    """

    median: float
    min: float
    max: float
    reached: int
    at_floor: int


@dataclass(frozen=True)
class KQStudy:
    """All runs of :func:`kq_study` and their summaries."""

    runs: tuple
    log_t: np.ndarray

    def gaps_at(self, log_t: float) -> np.ndarray:
        """Nuclear-norm gaps of the runs that reached ``log_t`` and end on the optimal selection."""
        return np.array([r.nuc_gap[np.flatnonzero(r.log_t == log_t)[0]] for r in self.runs
                         if r.optimal and np.any(r.log_t == log_t)])

    def summary(self) -> dict[float, GapSummary]:
        """Per checkpoint ``ln t``, the :class:`GapSummary` of the nuclear-norm gaps."""
        out = {}
        for c in self.log_t:
            g = self.gaps_at(c)
            out[float(c)] = GapSummary(median=float(np.median(g)), min=float(g.min()), max=float(g.max()),
                                       reached=len(g), at_floor=int(np.sum(np.abs(g) < CERT_FLOOR)))
        return out

    def rates(self, lo: float = 1e3, hi: float = 1e6, of: str = "gap") -> np.ndarray:
        """Per optimal run, the slope ``p`` of ``ln gap`` (``of="gap"``) or of ``ln dist_nuc`` (``of="dist"``)
        against ``ln ln t`` over ``[lo, hi]`` (gap ~ (ln t)^p), using the checkpoints whose gap is above
        ``100 * CERT_FLOOR`` (where the distance is far above the SVM solver's accuracy too)."""
        if of not in ("gap", "dist"):
            raise ValueError(f"of must be 'gap' or 'dist'; got {of!r}")
        out = []
        for r in self.runs:
            keep = (r.log_t >= lo) & (r.log_t <= hi) & (r.nuc_gap > 100 * CERT_FLOOR)
            y = r.nuc_gap if of == "gap" else r.dist_nuc
            if r.optimal and keep.sum() >= 2:
                out.append(np.polyfit(np.log(r.log_t[keep]), np.log(y[keep]), 1)[0])
        return np.array(out)

    def gap_distance_slopes(self) -> np.ndarray:
        """Per optimal run with at least three checkpoints whose gap is above ``100 * CERT_FLOOR``, the slope of
        ``ln gap`` against ``ln dist_nuc`` there: 2 when the gap is quadratic in the distance."""
        out = []
        for r in self.runs:
            keep = r.nuc_gap > 100 * CERT_FLOOR
            if r.optimal and keep.sum() >= 3:
                out.append(np.polyfit(np.log(r.dist_nuc[keep]), np.log(r.nuc_gap[keep]), 1)[0])
        return np.array(out)

    def distance_at(self, log_t: float) -> np.ndarray:
        """Relative distances ``||W/mu - W_*|| / ||W_*||`` of the optimal runs that reached ``log_t``."""
        return np.array([r.dist_nuc[np.flatnonzero(r.log_t == log_t)[0]] for r in self.runs
                         if r.optimal and np.any(r.log_t == log_t)])

    @property
    def n_other_selection(self) -> int:
        return sum(not r.optimal for r in self.runs)

    @property
    def stalled(self) -> tuple:
        """``(seed, init_seed, ln t)`` of every run whose solver stalled or whose margin frame gave up."""
        return tuple((r.seed, r.init_seed, r.stalled_at) for r in self.runs if np.isfinite(r.stalled_at))


@memo
def kq_study(seeds: tuple = KQ_SEEDS, init_seeds: tuple = KQ_INIT_SEEDS, log_t: tuple = KQ_LOG_T,
             rtol: float = KQ_RTOL, workers: int | None = None) -> KQStudy:
    """``(K, Q)``-flows from ``0.01 N(0, 1)`` on ``demo_family(seed)`` for every seed x init seed, to ``max(log_t)``.

    Returns
    -------
    KQStudy
        ``runs`` in the order seed-major; ``summary()`` and ``rates()`` give the distribution.
    """
    runs = pool_map(kq_run, [(s, i, tuple(log_t), rtol) for s in seeds for i in init_seeds], workers)
    return KQStudy(runs=tuple(runs), log_t=np.asarray(log_t, dtype=float))


# -- Assumption 2 x Assumption 3 -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DesignRun:
    """One ``W``-flow from 0 of :func:`assumption_design`: the selection at each ``DESIGN_LOG_T``, whether it is
    optimal, and the Frobenius certificate (:func:`norm_gap`) for the SVM of the selection reached.

    ``independent`` says whether the data meet the condition of chapter 6's argument that Assumption 3 alone
    makes the ``W``-flow select the optimal tokens (:func:`independent_tokens_and_queries`)."""

    seed: int
    a2: bool
    a3: bool
    optimal: tuple
    n_stuck: int
    fro_gap: float
    cos_fro: float
    independent: bool


def independent_tokens_and_queries(data: al.AttentionData, rtol: float = 1e-8) -> bool:
    """Whether the ``n`` queries are linearly independent and so are the ``L`` tokens of every sample (which needs
    ``n <= d`` and ``L <= d``): every singular value above ``rtol`` times the largest.

    Under this condition ``grad L(W) -> 0`` forces ``(Sigma(g_i) gamma_i)_l -> 0`` for every token of every
    sample (chapter 6, the Assumption 3 argument for the ``W``-flow)."""
    def full_rank(M: np.ndarray) -> bool:
        s = np.linalg.svd(M, compute_uv=False)
        return len(s) == min(M.shape) == M.shape[0] and s[-1] > rtol * s[0]
    return bool(full_rank(np.asarray(data.z)) and all(full_rank(np.asarray(X)) for X in data.X))


def _design_run(args: tuple) -> DesignRun:
    seed, a2, a3, log_t, rtol = args
    data = design_data(seed, a2, a3)
    tr = al.gradient_flow(data, "W", np.zeros((data.d, data.d)), log_t_end=log_t[-1], log_t_eval=np.array(log_t),
                          rtol=rtol)
    if len(tr.W) != len(log_t):
        raise RuntimeError(f"expected the flow saved at {log_t}, got ln t = {tr.log_t}")
    sels = [reached_selection(data, W) for W in tr.W]
    sel = sels[-1]
    ok = np.array_equal(sel, data.opt)
    sol = al.solve_svm(data, "fro") if ok else al.solve_selection_svm(data, sel, "fro")
    return DesignRun(seed=seed, a2=a2, a3=a3, optimal=tuple(bool(np.array_equal(s, data.opt)) for s in sels),
                     n_stuck=int(np.sum(sel != data.opt)), fro_gap=norm_gap(data, tr.W[-1], sol, sel),
                     cos_fro=float(tr.cosine_to(al.solve_svm(data, "fro").W)[-1]),
                     independent=independent_tokens_and_queries(data))


@memo
def assumption_design(seeds: tuple = DESIGN_SEEDS, log_t: tuple = DESIGN_LOG_T, rtol: float = STUDY_RTOL,
                      workers: int | None = None) -> dict[tuple[bool, bool], tuple[DesignRun, ...]]:
    """The 2 x 2 design: ``W``-flow from 0 on :func:`design_data` for every seed and (a2, a3) cell.

    Returns
    -------
    dict
        ``(a2, a3) -> tuple of DesignRun`` (seed order).
    """
    cells = [(a2, a3) for a2 in (True, False) for a3 in (True, False)]
    runs = pool_map(_design_run, [(s, a2, a3, tuple(log_t), rtol) for a2, a3 in cells for s in seeds], workers)
    return {cell: tuple(r for r in runs if (r.a2, r.a3) == cell) for cell in cells}


# -- unequal non-optimal scores on the demo data -------------------------------------------------------------

@dataclass(frozen=True)
class UnequalRun:
    """One flow of :func:`unequal_scores_study` (``param`` "W" from 0, or "KQ" from init seed ``init_seed``):
    whether it ends on the optimal tokens, the certificate for the SVM of the selection it reaches, the cosine
    with the (global) SVM solution, and whether Assumption 3 holds at ``W = 0`` for the draw."""

    seed: int
    param: str
    init_seed: int
    optimal: bool
    n_stuck: int
    gap: float
    cos_global: float
    a3: bool


def _unequal_run(args: tuple) -> UnequalRun:
    seed, param, init_seed, log_t, rtol = args
    data = perturbed_demo(UNEQUAL_SIZE, seed)
    init = np.zeros((data.d, data.d)) if param == "W" else al.default_init(data, "KQ", KQ_SCALE, seed=init_seed)
    tr = al.gradient_flow(data, param, init, log_t_end=log_t[-1], log_t_eval=np.array(log_t), rtol=rtol)
    sel = reached_selection(data, tr.W[-1])
    ok = np.array_equal(sel, data.opt)
    norm = "fro" if param == "W" else "nuc"
    sol = al.solve_svm(data, norm) if ok else al.solve_selection_svm(data, sel, norm)
    return UnequalRun(seed=seed, param=param, init_seed=init_seed, optimal=bool(ok),
                      n_stuck=int(np.sum(sel != data.opt)), gap=norm_gap(data, tr.W[-1], sol, sel),
                      cos_global=float(tr.cosine_to(al.solve_svm(data, norm).W)[-1]),
                      a3=al.check_assumptions(data).holds("3"))


@memo
def unequal_scores_study(seeds: tuple = UNEQUAL_SEEDS, log_t: tuple = UNEQUAL_LOG_T, rtol: float = STUDY_RTOL,
                         workers: int | None = None) -> tuple:
    """``W``-flow from 0 and ``(K, Q)``-flows from two small random starts on ``perturbed_demo(2, seed)``.

    Returns
    -------
    tuple of UnequalRun
    """
    items = [(s, "W", -1, tuple(log_t), rtol) for s in seeds]
    items += [(s, "KQ", i, tuple(log_t), rtol) for s in seeds for i in KQ_INIT_SEEDS]
    return tuple(pool_map(_unequal_run, items, workers))


# -- gradient descent with large steps: a distribution over perturbed starts -----------------------------------

@dataclass(frozen=True)
class GDStart:
    """One start of :func:`gd_step_study`: gradient descent on ``W`` with step ``lr`` and loss ``loss`` on
    ``demo_family(data_seed)``, data and ``W(0) = 0`` perturbed by a relative 1e-12 (``al.perturbed_inputs(1e-12,
    start)``).

    Attributes
    ----------
    steps : numpy.ndarray of int, shape (m,)
        Saved step indices (0, then log-spaced to the horizon).
    optimal : numpy.ndarray of bool, shape (m,)
        Whether every sample attends most to its optimal token at each saved step.
    recovered_step : int
        The first saved step from which every sample stays on its optimal token to the horizon; -1 if some
        sample is on another token at the horizon.
    n_stuck : int
        Samples not on their optimal token at the horizon.
    excess : float
        Excess loss ``L - L*`` at the horizon.
    """

    lr: float
    loss: str
    data_seed: int
    start: int
    steps: np.ndarray
    optimal: np.ndarray
    recovered_step: int
    n_stuck: int
    excess: float


@dataclass(frozen=True)
class GDStepStudy:
    """All starts of :func:`gd_step_study`, with the summaries chapter 6 reports."""

    runs: tuple

    def select(self, lr: float, loss: str = "exp", data_seed: int | None = None) -> tuple:
        """The starts with step ``lr`` and ``loss`` (of one data seed, or all)."""
        return tuple(r for r in self.runs if r.lr == lr and r.loss == loss
                     and (data_seed is None or r.data_seed == data_seed))

    def recovered_fraction(self, lr: float, loss: str = "exp", data_seed: int | None = None,
                           by_step=None) -> np.ndarray:
        """Fraction of the starts recovered (for good, to the horizon) by each step of ``by_step`` (default: the
        horizon alone)."""
        runs = self.select(lr, loss, data_seed)
        rec = np.array([r.recovered_step for r in runs])
        k = np.atleast_1d(np.asarray(runs[0].steps[-1] if by_step is None else by_step))
        return np.mean((rec[None, :] >= 0) & (rec[None, :] <= k[:, None]), axis=1)

    def recovered_count(self, lr: float, loss: str = "exp", data_seed: int | None = None,
                        by_step: int | None = None) -> tuple[int, int]:
        """``(k, n)``: ``k`` of the ``n`` starts recovered (for good, to the horizon) by ``by_step`` (default: the
        horizon)."""
        runs = self.select(lr, loss, data_seed)
        end = runs[0].steps[-1] if by_step is None else by_step
        return sum(0 <= r.recovered_step <= end for r in runs), len(runs)

    def recovery_steps(self, lr: float, loss: str = "exp", data_seed: int | None = None) -> np.ndarray:
        """Recovery steps of the starts that recover by the horizon (sorted)."""
        return np.sort([r.recovered_step for r in self.select(lr, loss, data_seed) if r.recovered_step >= 0])

    def stuck_counts(self, lr: float, loss: str = "exp", data_seed: int | None = None) -> dict[int, int]:
        """``{number of samples stuck at the horizon: number of starts}`` over the starts that did not recover."""
        counts: dict = {}
        for r in self.select(lr, loss, data_seed):
            if r.recovered_step < 0:
                counts[r.n_stuck] = counts.get(r.n_stuck, 0) + 1
        return dict(sorted(counts.items()))


def _gd_cell(args: tuple) -> tuple[GDStart, ...]:
    """The ``starts`` runs of one ``(lr, loss, steps, data seed)`` cell as ONE gradient descent on their
    block-diagonal embedding (``al.block_diagonal_data``: step ``starts * lr`` on the embedding is step ``lr`` on each
    block; ``starts`` a power of two makes every block bit-for-bit its own run), for the Python overhead of one run.
    Each start's data and ``W(0) = 0`` are perturbed in its own ``al.perturbed_inputs(GD_PERTURBATION, start)``
    (which replaces the claims stage's perturbation, as for one run); the assembly moves nothing more."""
    lr, loss, steps, data_seed, starts = args
    datas, inits = [], []
    for start in range(starts):
        with al.perturbed_inputs(GD_PERTURBATION, start):
            datas.append(demo_family(data_seed))
            inits.append(perturb_init([np.zeros((datas[-1].d, datas[-1].d))])[0])
    with unperturbed():
        g = al.gradient_descent(al.block_diagonal_data(datas), "W", block_diag(*inits), starts * lr, steps,
                                loss=loss, n_save=GD_SAVES)
    blocks = al.diagonal_blocks(g.W, starts)  # (saved steps, starts, d, d)
    t = g.t / starts  # the time lr * step of each block's own run
    return tuple(_gd_start(lr, data_seed, start, Trajectory(
        data=datas[start], param="W", t=t, log_t=g.log_t - np.log(starts), W=blocks[:, start],
        params={"W": blocks[:, start]}, phi=np.zeros((len(t), len(datas[start].pairs))), nfev=g.nfev,
        loss_kind=loss, method=g.method)) for start in range(starts))


def _gd_start(lr: float, data_seed: int, start: int, g: Trajectory) -> GDStart:
    """One start's summary from its gradient-descent trajectory ``g`` (``t = lr * step``)."""
    data = g.data
    sel = np.array([reached_selection(data, W) for W in g.W])  # (saved steps, n)
    ok = np.all(sel == data.opt, axis=1)
    saved = np.rint(g.t / lr).astype(int)
    bad = np.flatnonzero(~ok)
    rec = -1 if not ok[-1] else int(saved[0] if bad.size == 0 else saved[bad[-1] + 1])
    return GDStart(lr=lr, loss=g.loss_kind, data_seed=data_seed, start=start, steps=saved, optimal=ok,
                   recovered_step=rec, n_stuck=int(np.sum(sel[-1] != data.opt)), excess=float(g.excess_loss[-1]))


@memo
def gd_step_study(runs: tuple = GD_STEPS, losses: tuple = ("exp", "logistic"), data_seeds: tuple = GD_DATA_SEEDS,
                  starts: int = GD_STARTS, workers: int | None = None) -> GDStepStudy:
    """Gradient descent from ``W = 0`` with large steps on chapter 6's demo family, as a distribution over starts.

    For each ``(step size, steps)`` of ``runs`` and each data seed, ``starts`` runs with the exponential loss whose
    data and ``W(0) = 0`` are perturbed by a relative ``GD_PERTURBATION = 1e-12`` (seeds ``0 .. starts - 1``); the
    other ``losses`` (the logistic one) on the first data seed, the chapter's demo data, only (the study is the
    longest computation of chapter 6). At these step sizes the iteration is chaotic: a single run's fate depends on
    rounding, its distribution over such starts does not.

    Returns
    -------
    GDStepStudy
    """
    cells = [(loss, ds) for loss in losses for ds in (data_seeds if loss == "exp" else data_seeds[:1])]
    items = [(float(lr), loss, int(k), int(ds), starts) for lr, k in runs for loss, ds in cells]
    return GDStepStudy(runs=tuple(run for cell in pool_map(_gd_cell, items, workers) for run in cell))


# -- chapter 7, E9: the certificate along the misaligned flow ---------------------------------------------------

@dataclass(frozen=True)
class E9Path:
    """The ``(K, Q)``-flow of chapter 7's E9 experiment with its certificates.

    Attributes
    ----------
    eps : float
    log_t : numpy.ndarray, shape (m,)
    nuc_gap : numpy.ndarray, shape (m,)
        Nuclear-norm certificate (:func:`norm_gap`); the nuclear SVM's optimal value is the same for every eps.
    cos_circ : numpy.ndarray, shape (m,)
        ``cos(W(t), W°)``, W° the least-Frobenius member of the nuclear-SVM solution family.
    family : numpy.ndarray, shape (m,)
        Off-diagonal coordinate ``m / sqrt(a_1 a_2)`` of ``W / mu`` in the aligned bases (0 at W°; every value in
        [-1, 1] is a nuclear-SVM solution).
    alignment : numpy.ndarray, shape (m,)
        Alignment error of Definition 5.1 with ``V`` held at its value at ``t = 0`` (``alignment_error``).
    gap_vfree : numpy.ndarray, shape (m,)
        The ``V``-free alignment gap (:func:`alignment_gap`): Definition 5.1 allows any shared ``V``, and this is 0
        exactly when some ``V`` aligns ``K, Q``.
    dist : numpy.ndarray, shape (m,)
        Relative distance ``||W / mu - W°||_F / ||W°||_F``.
    """

    eps: float
    log_t: np.ndarray
    nuc_gap: np.ndarray
    cos_circ: np.ndarray
    family: np.ndarray
    alignment: np.ndarray
    gap_vfree: np.ndarray
    dist: np.ndarray


def _w_circ(data: al.AttentionData) -> np.ndarray:
    """``W° = sum_i x_{i,opt} z_i^T / ((1 - c_i) ||x_{i,opt}||^2 ||z_i||^2)`` (chapter 5) for Assumption 4 data."""
    xo = data.X[np.arange(data.n), data.opt]
    other = data.X[np.arange(data.n), (data.opt + 1) % data.L]
    c = np.einsum("nd,nd->n", xo, other) / np.einsum("nd,nd->n", xo, xo)
    w = 1.0 / ((1 - c) * np.einsum("nd,nd->n", xo, xo) * np.einsum("nd,nd->n", data.z, data.z))
    return np.einsum("n,nd,ne->de", w, xo, data.z)


def _family_coordinate(U_K: np.ndarray, U_Q: np.ndarray, D: np.ndarray) -> float:
    M = U_K.T @ D @ U_Q
    return float((M[0, 1] + M[1, 0]) / 2 / np.sqrt(M[0, 0] * M[1, 1]))


def alignment_gap(K, Q, U_K, U_Q) -> float:
    """A ``V``-free alignment measure: the largest relative off-diagonal mass of ``U_K^T K K^T U_K``,
    ``U_Q^T Q Q^T U_Q`` and ``U_K^T K Q^T U_Q`` (all three are diagonal for aligned ``K, Q``, Def. 5.1, whatever the
    shared ``V``). Chapters 5 and 7 use it (``attnbook.experiments.ch5.alignment_gap`` is this function)."""
    out = []
    for M in (U_K.T @ K @ K.T @ U_K, U_Q.T @ Q @ Q.T @ U_Q, U_K.T @ K @ Q.T @ U_Q):
        nrm = np.linalg.norm(M)
        out.append(0.0 if nrm == 0 else float(np.linalg.norm(M - np.diag(np.diag(M))) / nrm))
    return max(out)


def e9_data(eps: float) -> al.AttentionData:
    """Chapter 7's E9 data: ``make_orthogonal_data()`` with ``v`` tilted by ``eps`` towards the pair offsets."""
    base = al.make_orthogonal_data()
    v = np.array(base.v)
    v[base.n] += eps
    return al.AttentionData(base.X, base.z, base.y, v)


@memo
def e9_certificate(eps: float, log_t_end: float = 1e30) -> E9Path:
    """The aligned-start ``(K, Q)``-flow on :func:`e9_data` to ``ln t = log_t_end`` (margin frame past 1e6).

    The saved times run uniformly in ``ln ln t`` from ``ln t = 0.1``, plus ``t = 0``.
    """
    data = e9_data(float(eps))
    U_K, U_Q = al.aligned_bases(data)
    init = al.default_init(data, "KQ", 0.1, seed=None, kind="aligned")
    V = al.right_basis(init[0], U_K)
    log_t = np.geomspace(0.1, log_t_end, 160)
    tr = al.gradient_flow(data, "KQ", init, log_t_end=log_t_end, log_t_eval=log_t)
    nuc = al.solve_svm(data, "nuc")
    W0 = _w_circ(data)
    D = tr.direction()
    ok = tr.margin > 0
    KQ = list(zip(tr.params["K"][ok], tr.params["Q"][ok]))
    return E9Path(eps=float(eps), log_t=tr.log_t[ok],
                  nuc_gap=np.array([norm_gap(data, W, nuc) for W in tr.W[ok]]),
                  cos_circ=tr.cosine_to(W0)[ok],
                  family=np.array([_family_coordinate(U_K, U_Q, x) for x in D[ok]]),
                  alignment=np.array([al.alignment_error(K, Q, U_K, U_Q, V) for K, Q in KQ]),
                  gap_vfree=np.array([alignment_gap(K, Q, U_K, U_Q) for K, Q in KQ]),
                  dist=np.array([_rel_dist(x, W0) for x in D[ok]]))


def _e9_path(eps: float) -> E9Path:
    return e9_certificate(eps)


@memo
def e9_study(eps_values: tuple = E9_EPS, workers: int | None = None) -> dict[float, E9Path]:
    """:func:`e9_certificate` for every ``eps`` (on the process pool): ``eps -> E9Path``."""
    paths = pool_map(_e9_path, [float(e) for e in eps_values], workers)
    return {p.eps: p for p in paths}


# -- appendix: accuracy of a long flow -----------------------------------------------------------------------

#: Accuracy study: tolerances, the reference tolerance, the horizon and the saved ln t.
ACCURACY_RTOLS = (1e-6, 1e-8, 1e-10)
ACCURACY_REF_RTOL = 1e-11
ACCURACY_LOG_T = tuple(np.geomspace(1.0, 1e6, 61))


@dataclass(frozen=True)
class AccuracyRun:
    """A ``(K, Q)``-flow at tolerance ``rtol`` against the reference run, at the saved ``log_t``.

    Attributes
    ----------
    rtol : float
    log_t : numpy.ndarray, shape (m,)
    param_err : numpy.ndarray, shape (m,)
        Relative error of the raw parameters ``(K, Q)`` (:func:`attnlib.path_error`).
    logodds_err : numpy.ndarray, shape (m,)
        Largest absolute error of the log attention weights ``ln sigma_il`` (equivalently of the logits' differences):
        the relative error of the small attention weights.
    nfev : int
    """

    rtol: float
    log_t: np.ndarray
    param_err: np.ndarray
    logodds_err: np.ndarray
    nfev: int


def _accuracy_flow(rtol: float) -> al.Trajectory:
    data = al.make_generic_data()
    init = al.default_init(data, "KQ", 0.01, seed=0)
    return al.gradient_flow(data, "KQ", init, log_t_end=ACCURACY_LOG_T[-1], log_t_eval=np.array(ACCURACY_LOG_T),
                            rtol=rtol)


def _log_attention(data: al.AttentionData, W: np.ndarray) -> np.ndarray:
    g = np.einsum("nld,de,ne->nl", data.X, W, data.z)
    return g - np.logaddexp.reduce(g, axis=1, keepdims=True)


@dataclass(frozen=True)
class AccuracyStudy:
    """All tolerances of :func:`accuracy_study`.

    Attributes
    ----------
    runs : dict of float to AccuracyRun
        ``rtol -> AccuracyRun`` (in the order of the ``rtols`` asked for).
    ref_nfev : int
        Gradient evaluations of the reference run (at ``ACCURACY_REF_RTOL``).
    """

    runs: dict[float, AccuracyRun]
    ref_nfev: int


@memo
def accuracy_study(rtols: tuple = ACCURACY_RTOLS, workers: int | None = None) -> AccuracyStudy:
    """The ``(K, Q)``-flow on Tarzanagh et al.'s setup (``make_generic_data()``, seed 0; start ``0.01 N(0, 1)``)
    to ``ln t = 1e6`` at each tolerance, against a run at ``ACCURACY_REF_RTOL``.

    Returns
    -------
    AccuracyStudy
    """
    flows = pool_map(_accuracy_flow, [ACCURACY_REF_RTOL, *rtols], workers)
    ref, data = flows[0], flows[0].data
    runs = {}
    for rtol, tr in zip(rtols, flows[1:]):
        lo = np.array([np.abs(_log_attention(data, a) - _log_attention(data, b)).max() for a, b in zip(tr.W, ref.W)])
        runs[rtol] = AccuracyRun(rtol=rtol, log_t=tr.log_t, param_err=al.path_error(tr, ref), logodds_err=lo,
                                 nfev=int(tr.nfev))
    return AccuracyStudy(runs=runs, ref_nfev=int(ref.nfev))
