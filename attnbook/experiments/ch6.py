"""Chapter 6 — beyond the theorems (generic data, gradient descent, the logistic loss, Tarzanagh et al.'s setup).

Every experiment here goes beyond what Sheen et al. (2024) prove: full ``(K, Q)`` from a small random start on
generic data, unequal non-optimal scores (Assumption 2 violated), the logistic loss, gradient descent with a step
size, initialisations that violate Assumption 3 (locally optimal token selections) and a real data set
(scikit-learn's bundled digits).

Compute functions (``compute_*``) return frozen dataclasses of read-only arrays; the figure functions draw them
and ``tests/claims/test_ch6.py`` checks them. Each flow runs once and is cached (:func:`attnbook.experiments._store.memo`).

The chapter's computations (no drawing: :mod:`attnbook.figures.ch6` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from attnlib.assumptions import ASSUMPTIONS, check_assumptions, stuck_loss_bounds
from attnlib.data import AttentionData, make_generic_data
from attnlib.diagnostics import singular_values
from attnlib.flow import Trajectory, default_init, gradient_descent, gradient_flow
from attnlib.model import attention, cosine, min_loss
from attnlib.svm import SVMSolution, selection_pairs, solve_selection_svm, solve_svm
from ._store import memo

#: Seed of the demo-2 data ``make_generic_data(4, 3, 4, seed, equal_scores=True)`` used throughout.
DEMO_SEED = 3
#: The K, Q flow approaches its limit slowly: run it to log t = 1e5 (far beyond t = 1e300, log t = 690.8).
LOG_T_END = 1e5
#: log t at which the chapter tabulates the cosines (t = 1e300 is log t = 690.8).
CHECKPOINTS = (300 * np.log(10.0), 1e3, 1e4, 1e5)
#: Widget slider: log t.
WIDGET_LOG_T = (1.0, 3.0, 10.0, 100.0, 1e3, 1e4, 1e5)
#: Size of the perturbation of the non-optimal scores (Assumption 2 violated).
PERTURB = 2.0
#: Gradient-descent step sizes: small ones (compared with the flow to t = GD_T) and large ones.
GD_SMALL_LR = (0.01, 0.03, 0.1, 0.3)
GD_LARGE_LR = (3.0, 10.0)
GD_T = 10.0
#: Steps of the large-step runs of :func:`compute_gd`, every one of them saved (so a step it reports is exact).
GD_LARGE_STEPS = 300
#: Initial shifts c in W(0) = -c W_F (Assumption 3 fails for both).
SHIFTS = (1.0, 4.0)
#: A seed of the setup of Tarzanagh et al.'s public notebooks (n=6, L=8, d=10) whose W-flow from 0 ends on a non-
#: optimal token selection.
PEERS_SEED = 5


@memo
def demo_data() -> AttentionData:
    """Generic equal-score data: n = 4, L = 3, d = 4, Gaussian tokens, gamma_opt = 6, gamma_nopt = 0."""
    return make_generic_data(4, 3, 4, seed=DEMO_SEED, equal_scores=True)


@memo
def perturbed_data(size: float = PERTURB, seed: int = 0) -> AttentionData:
    """Demo-2 data with unequal non-optimal scores: ``size * N(0, 1)`` added to each non-optimal score.

    Only the score coordinate (the last one) of the non-optimal tokens changes; the optimal tokens stay the same,
    but the token differences, hence the SVM constraints and solutions, change too.
    """
    base = demo_data()
    rng = np.random.default_rng(seed)
    nopt = np.ones((base.n, base.L), bool)
    nopt[np.arange(base.n), base.opt] = False
    X = np.array(base.X)
    X[..., -1] += np.where(nopt, size * rng.standard_normal((base.n, base.L)), 0.0) * base.y[:, None]
    return AttentionData(X, base.z, base.y, base.v)


@memo
def digits_data(n_per_class: int = 3, head_scale: float = 30.0) -> AttentionData:
    """Attention data from scikit-learn's bundled 8x8 digits (offline), classes 0 (y = -1) and 1 (y = +1).

    Tokens are the L = 8 pixel rows of an image (d = 8, pixel values / 16); the query is the image's mean row
    (unit norm); the fixed head ``v`` is ``head_scale`` times the unit difference of the class-mean rows,
    computed on the *other* 0/1 images, so the optimal token of an image is its most class-typical row.

    Parameters
    ----------
    n_per_class : int
        Images per class (the first ones of each class), n = 2 * n_per_class.
    head_scale : float
        ``||v||``; it scales the score gaps (to O(1)) and not the SVM constraints.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    imgs, target = digits.images / 16.0, digits.target
    idx = np.concatenate([np.flatnonzero(target == c)[:n_per_class] for c in (0, 1)])
    rest = np.setdiff1d(np.flatnonzero(target <= 1), idx)
    diff = imgs[rest][target[rest] == 1].mean(axis=(0, 1)) - imgs[rest][target[rest] == 0].mean(axis=(0, 1))
    X = imgs[idx]
    z = X.mean(axis=1)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    y = np.where(target[idx] == 1, 1.0, -1.0)
    return AttentionData(X, z, y, head_scale * diff / np.linalg.norm(diff))


def _svm(data: AttentionData, norm: str) -> SVMSolution:
    return solve_svm(data, norm)


def selection_margin(data: AttentionData, W, sel) -> float:
    """``min (x_{i,sel(i)} - x_il)^T W z_i`` over the pairs of :func:`attnlib.svm.solve_selection_svm`."""
    sel = np.asarray(sel, dtype=int)
    i, l = selection_pairs(data, sel).T
    return float(np.einsum("kd,de,ke->k", data.X[i, sel[i]] - data.X[i, l], np.asarray(W), data.z[i]).min())


@dataclass(frozen=True)
class SelectionConsistency:
    """Whether the SVM of a token selection (:func:`attnlib.svm.solve_selection_svm`, constraints on the tokens
    scored below the selected one only) is consistent with the selection (:func:`selection_consistency`).

    Attributes
    ----------
    realized : bool
        Every other token of every sample has a positive margin ``(x_{i,s(i)} - x_il)^T W_s z_i`` (samples without
        a constraint included), so the attention along ``c W_s`` concentrates on ``s(i)`` as ``c -> infinity``.
    higher_margin : float
        The least margin of a token scored strictly higher than the selected one (``inf`` if there is none):
        such a token pulls attention away from the selection.
    tied_margin : float
        The least margin of a token scored exactly as high as the selected one (``inf`` if none): it pulls
        neither way.
    """

    realized: bool
    higher_margin: float
    tied_margin: float

    @property
    def consistent(self) -> bool:
        """Realized, and every pull away fades faster than the push of the support constraints (margin > 1)."""
        return self.realized and self.higher_margin > 1.0

    @property
    def locally_optimal(self) -> bool:
        """Every token scored at least as high has margin above 1: ``W_s`` is then also the SVM with every token
        constrained, all of whose neighbours score lower (Tarzanagh et al.'s locally optimal selection)."""
        return self.realized and min(self.higher_margin, self.tied_margin) > 1.0


def selection_consistency(data: AttentionData, W_s, sel) -> SelectionConsistency:
    """The margins at the selection SVM ``W_s`` of the tokens it leaves unconstrained (see
    :class:`SelectionConsistency`), for the selection ``sel`` (n,)."""
    sel = np.asarray(sel, dtype=int)
    rows = np.arange(data.n)
    logits = np.einsum("ild,de,ie->il", data.X, np.asarray(W_s), data.z)
    margins = logits[rows, sel][:, None] - logits
    others = np.ones((data.n, data.L), bool)
    others[rows, sel] = False
    score = data.gamma[rows, sel][:, None]

    def least(mask: np.ndarray) -> float:
        return float(margins[mask].min()) if mask.any() else float("inf")

    return SelectionConsistency(realized=bool(np.all(margins[others] > 0)),
                                higher_margin=least(others & (data.gamma > score)),
                                tied_margin=least(others & (data.gamma == score)))


def reached_selection(data: AttentionData, W) -> np.ndarray:
    """The token each sample attends to most at ``W``, shape (n,)."""
    return attention(data, W).argmax(axis=1)


def numerical_rank(sv: np.ndarray, rel: float = 1e-4) -> int:
    """Number of singular values above ``rel`` times the largest (the rank the chapter quotes), for ``sv`` (d,)
    sorted in decreasing order."""
    sv = np.asarray(sv, dtype=float)
    return int(np.sum(sv > rel * sv[0]))


def _recovered_step(data: AttentionData, run, lr: float) -> int | None:
    """First saved GD step from which every sample selects its optimal token up to the end (None: not at the end)."""
    ok = np.array([np.array_equal(reached_selection(data, W), data.opt) for W in run.W])
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    first = bad[-1] + 1 if len(bad) else 0
    return int(np.rint(run.t[first] / lr))


def _log_t_eval(log_t_end: float) -> np.ndarray:
    """Save times: t = 0, 19 times in (0, 1), 180 uniform in log(1 + log t), plus the checkpoints."""
    base = np.concatenate([np.log(np.logspace(-2, 0, 20)[:-1]), np.expm1(np.linspace(0.0, np.log1p(log_t_end), 180))])
    extra = np.array([c for c in (*CHECKPOINTS, *WIDGET_LOG_T) if c < log_t_end] + [log_t_end])
    base = base[(np.abs(base[:, None] / extra[None, :] - 1).min(axis=1) > 1e-6) & (base < log_t_end)]
    return np.concatenate([[-np.inf], np.unique(np.concatenate([base, extra]))])


@memo
def _flow(which: str, param: str, loss: str = "exp", log_t_end: float = LOG_T_END) -> Trajectory:
    data = {"demo": demo_data, "perturbed": perturbed_data, "digits": digits_data}[which]()
    init = default_init(data, param, 0.01, seed=DEMO_SEED) if param == "KQ" else np.zeros((data.d, data.d))
    rtol = 1e-6 if which == "digits" else 1e-8
    if log_t_end == 300 * np.log(10.0):
        return gradient_flow(data, param, init, t_end=1e300, loss=loss, rtol=rtol)
    return gradient_flow(data, param, init, loss=loss, log_t_end=log_t_end, log_t_eval=_log_t_eval(log_t_end),
                            rtol=rtol)


def _at(traj: Trajectory, log_t: float) -> int:
    """Index of the saved time closest to ``log t``."""
    return int(np.nanargmin(np.abs(traj.log_t - log_t)))


def _dir_sv(traj: Trajectory) -> np.ndarray:
    """Singular values of ``W(t) / mu(t)`` (NaN while mu <= 0), shape (m, d)."""
    return singular_values(np.nan_to_num(traj.direction())) * np.where(traj.margin > 0, 1.0, np.nan)[:, None]


@dataclass(frozen=True)
class FlowPair:
    """One value for the ``W``-flow and the same for the ``(K, Q)``-flow (what the value is, the field of the
    result holding the pair says).

    Attributes
    ----------
    W : object
        For the ``W``-flow.
    KQ : object
        For the ``(K, Q)``-flow.
    """

    W: Any
    KQ: Any


@dataclass(frozen=True)
class FlowToSVMs:
    """One flow of :func:`compute_kq_vs_w` against both SVM solutions.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times, ``log t``.
    cos_fro, cos_nuc : numpy.ndarray, shape (m,)
        Cosine of ``W(t)`` with the W_F-SVM and with the W_*-SVM solution.
    sv : numpy.ndarray, shape (m, d)
        Singular values of ``W(t) / mu(t)`` (NaN while ``mu <= 0``).
    nfev : int
        Gradient evaluations.
    wall : float
        Seconds the flow took.
    margin : numpy.ndarray, shape (m,)
        Margin ``mu(t)``.
    norm : numpy.ndarray, shape (m,)
        ``||W(t)||_F``.
    checkpoints : dict of float to tuple of float
        ``log t -> (cos_fro, cos_nuc)`` at the saved time closest to each of ``CHECKPOINTS``.
    rate : float or None
        The ``(K, Q)``-flow only (None for the ``W``-flow): the slope ``p`` of ``ln(1 - cos_nuc)`` against
        ``ln ln t`` over ``ln t`` in ``[1e3, 1e5]`` (``1 - cos ~ (ln t)^p``).
    """

    log_t: np.ndarray
    cos_fro: np.ndarray
    cos_nuc: np.ndarray
    sv: np.ndarray
    nfev: int
    wall: float
    margin: np.ndarray
    norm: np.ndarray
    checkpoints: dict[float, tuple[float, float]]
    rate: float | None = None


@dataclass(frozen=True)
class KQVersusW:
    """The ``W``-flow and the ``(K, Q)``-flow on the demo-2 data against the W_F- and the W_*-SVM.

    Attributes
    ----------
    sv_fro, sv_nuc : numpy.ndarray, shape (d,)
        Singular values of the W_F-SVM and of the W_*-SVM solution.
    W_fro, W_nuc : numpy.ndarray, shape (d, d)
        The two SVM solutions.
    cos_fro_nuc : float
        Cosine between them.
    W, KQ : FlowToSVMs
        The ``W``-flow from 0 and the ``(K, Q)``-flow from ``0.01 N(0, 1)``, to ``log t = 1e5``.
    rank_fro, rank_nuc : int
        Numerical ranks (:func:`numerical_rank`) of the two SVM solutions.
    """

    sv_fro: np.ndarray
    sv_nuc: np.ndarray
    W_fro: np.ndarray
    W_nuc: np.ndarray
    cos_fro_nuc: float
    W: FlowToSVMs
    KQ: FlowToSVMs
    rank_fro: int
    rank_nuc: int


@memo
def compute_kq_vs_w() -> KQVersusW:
    """W-flow from 0 and (K, Q)-flow from 0.01 N(0, 1) on the demo-2 data, to log t = 1e5.

    Returns
    -------
    KQVersusW
    """
    data = demo_data()
    fro, nuc = _svm(data, "fro"), _svm(data, "nuc")
    sv_fro, sv_nuc = singular_values(fro.W), singular_values(nuc.W)
    cos_fro_nuc = cosine(fro.W, nuc.W)
    flows = {}
    for p in ("W", "KQ"):
        tr = _flow("demo", p)
        cf, cn = tr.cosine_to(fro.W), tr.cosine_to(nuc.W)
        flows[p] = FlowToSVMs(log_t=tr.log_t, cos_fro=cf, cos_nuc=cn, sv=_dir_sv(tr), nfev=tr.nfev,
                              wall=tr.wall_time, margin=tr.margin, norm=np.linalg.norm(tr.W, axis=(1, 2)),
                              checkpoints={c: (cf[_at(tr, c)], cn[_at(tr, c)]) for c in CHECKPOINTS})
    x, c = flows["KQ"].log_t, flows["KQ"].cos_nuc
    fit = (x >= 1e3) & (x <= LOG_T_END)
    rate = float(np.polyfit(np.log(x[fit]), np.log(1 - c[fit]), 1)[0])
    return KQVersusW(sv_fro=sv_fro, sv_nuc=sv_nuc, W_fro=fro.W, W_nuc=nuc.W, cos_fro_nuc=cos_fro_nuc,
                     W=flows["W"], KQ=replace(flows["KQ"], rate=rate),
                     rank_fro=numerical_rank(sv_fro), rank_nuc=numerical_rank(sv_nuc))


#: ln t at which :func:`gap_vs_distance` reads the demo (K, Q)-flow.
GAP_LOG_T = (1e2, 1e3, 1e4, 1e5)


@dataclass(frozen=True)
class GapDistance:
    """The nuclear-norm certificate of the demo ``(K, Q)``-flow beside its distance to the W_*-SVM solution.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        ``GAP_LOG_T``.
    gap : numpy.ndarray, shape (m,)
        ``||W_hat||_* / ||W_*||_* - 1`` with ``W_hat = W / mu`` (margin 1).
    dist : numpy.ndarray, shape (m,)
        ``||W_hat - W_*||_F / ||W_*||_F``.
    sigma_next : numpy.ndarray, shape (m,)
        ``sigma_{r+1}(W_hat) / ||W_*||_F``, ``r`` the rank of ``W_*``: how far ``W_hat`` is from the rank-``r``
        matrices, on which the nuclear norm is smooth near ``W_*``.
    first_order : numpy.ndarray, shape (m,)
        ``sum_il lambda_il (<A_il, W_hat> - 1) / ||W_*||_*``: the part of the gap that is first order in
        ``W_hat - W_*`` (the slack of ``W_hat`` on the support constraints, weighted by the SVM's multipliers).
    rank : int
        ``r``.
    """

    log_t: np.ndarray
    gap: np.ndarray
    dist: np.ndarray
    sigma_next: np.ndarray
    first_order: np.ndarray
    rank: int


@memo
def gap_vs_distance(log_t: tuple = GAP_LOG_T) -> GapDistance:
    """The demo ``(K, Q)``-flow of :func:`compute_kq_vs_w` read at ``log_t``: certificate, distance, the
    ``(r+1)``-th singular value and the first-order part of the certificate (see :class:`GapDistance`).

    Returns
    -------
    GapDistance
    """
    data = demo_data()
    nuc = _svm(data, "nuc")
    tr = _flow("demo", "KQ")
    r = numerical_rank(singular_values(nuc.W))
    scale = np.linalg.norm(nuc.W)
    rows = []
    for lt in log_t:
        W = tr.direction()[_at(tr, lt)]
        slack = np.einsum("kde,de->k", data.A, W) - 1.0
        rows.append((np.linalg.norm(W, "nuc") / nuc.value - 1.0, np.linalg.norm(W - nuc.W) / scale,
                     singular_values(W)[r] / scale, float(nuc.dual @ slack) / nuc.value))
    g, d, s, f = (np.array(c) for c in zip(*rows))
    return GapDistance(log_t=np.array(log_t, dtype=float), gap=g, dist=d, sigma_next=s, first_order=f, rank=r)


@dataclass(frozen=True)
class FinalCosines:
    """The last cosines (at ``log t = 1e4``) of :func:`compute_unequal_scores`, each data set against its own SVM
    solutions (``W``-flow with the W_F-SVM, ``(K, Q)``-flow with the W_*-SVM).

    Attributes
    ----------
    equal, unequal : FlowPair of float
        On the demo-2 data (equal non-optimal scores) and on :func:`perturbed_data`.
    """

    equal: FlowPair
    unequal: FlowPair


@dataclass(frozen=True)
class UnequalScores:
    """Assumption 2 violated: the flows on :func:`perturbed_data` against those on the equal-score demo-2 data.

    Attributes
    ----------
    gamma : numpy.ndarray, shape (n, L)
        Token scores of the perturbed data.
    holds : dict of str to bool
        Assumption name (``attnlib.ASSUMPTIONS``) -> whether it holds for the perturbed data.
    same_svm : float
        The largest entry difference between the two data sets' SVM solutions (Frobenius and nuclear).
    equal, unequal : FlowPair of (numpy.ndarray, numpy.ndarray)
        ``(log_t, cos)`` of the ``W``-flow with the W_F-SVM and of the ``(K, Q)``-flow with the W_*-SVM, on the
        equal-score and on the perturbed data.
    final : FinalCosines
        The last cosines.
    """

    gamma: np.ndarray
    holds: dict[str, bool]
    same_svm: float
    equal: FlowPair
    unequal: FlowPair
    final: FinalCosines


@memo
def compute_unequal_scores() -> UnequalScores:
    """Assumption 2 violated: W- and (K, Q)-flows on :func:`perturbed_data` vs the equal-score flows.

    Returns
    -------
    UnequalScores
    """
    base, pert = demo_data(), perturbed_data()
    rep = check_assumptions(pert)
    holds = {k: rep.holds(k) for k in ASSUMPTIONS}
    same_svm = max(np.abs(_svm(base, k).W - _svm(pert, k).W).max() for k in ("fro", "nuc"))
    paths, final = {}, {}
    for name, which, lte in (("equal", "demo", LOG_T_END), ("unequal", "perturbed", 1e4)):
        W, KQ = _flow(which, "W", log_t_end=lte), _flow(which, "KQ", log_t_end=lte)
        d_ = base if which == "demo" else pert
        paths[name] = FlowPair(W=(W.log_t, W.cosine_to(_svm(d_, "fro").W)),
                               KQ=(KQ.log_t, KQ.cosine_to(_svm(d_, "nuc").W)))
        k = _at(KQ, 1e4)
        final[name] = FlowPair(W=paths[name].W[1][_at(W, 1e4)], KQ=paths[name].KQ[1][k])
    return UnequalScores(gamma=pert.gamma, holds=holds, same_svm=same_svm, equal=paths["equal"],
                         unequal=paths["unequal"], final=FinalCosines(**final))


@dataclass(frozen=True)
class LossFlows:
    """The ``W``- and ``(K, Q)``-flows on the demo-2 data under one loss (:func:`compute_logistic`).

    Attributes
    ----------
    W : tuple of numpy.ndarray, shape (m_W,) each
        ``(log_t, cos with the W_F-SVM)`` of the ``W``-flow.
    KQ : tuple of numpy.ndarray, shape (m_KQ,) each
        ``(log_t, cos with the W_*-SVM)`` of the ``(K, Q)``-flow.
    final : FlowPair of float
        Those cosines at ``log t = 1e4``.
    dist : FlowPair of float
        Margin-normalised relative distance ``||W / mu - W_svm|| / ||W_svm||`` to the SVM at ``log t = 1e4``.
    """

    W: tuple
    KQ: tuple
    final: FlowPair
    dist: FlowPair


@dataclass(frozen=True)
class LossComparison:
    """Exponential vs logistic loss (:func:`compute_logistic`).

    Attributes
    ----------
    exp, logistic : LossFlows
        The flows under each loss.
    gap : FlowPair of float
        ``||W_hat_exp - W_hat_logistic|| / ||W_hat_exp||`` at ``log t = 1e4`` for each parameterisation.
    """

    exp: LossFlows
    logistic: LossFlows
    gap: FlowPair


@memo
def compute_logistic() -> LossComparison:
    """Exponential vs logistic loss: W- and (K, Q)-flows on the demo-2 data to log t = 1e4.

    Returns
    -------
    LossComparison
    """
    data = demo_data()
    fro, nuc = _svm(data, "fro"), _svm(data, "nuc")
    out, last = {}, {}
    for loss, lte in (("exp", LOG_T_END), ("logistic", 1e4)):
        W, KQ = _flow("demo", "W", loss, lte), _flow("demo", "KQ", loss, lte)
        iw, ik = _at(W, 1e4), _at(KQ, 1e4)
        out[loss] = LossFlows(W=(W.log_t, W.cosine_to(fro.W)), KQ=(KQ.log_t, KQ.cosine_to(nuc.W)),
                              final=FlowPair(W=W.cosine_to(fro.W)[iw], KQ=KQ.cosine_to(nuc.W)[ik]),
                              dist=FlowPair(
                                  W=float(np.linalg.norm(W.direction()[iw] - fro.W) / np.linalg.norm(fro.W)),
                                  KQ=float(np.linalg.norm(KQ.direction()[ik] - nuc.W) / np.linalg.norm(nuc.W))))
        last[loss] = {"W": W.direction()[iw], "KQ": KQ.direction()[ik]}
    gap = {p: float(np.linalg.norm(last["exp"][p] - last["logistic"][p]) / np.linalg.norm(last["exp"][p]))
           for p in ("W", "KQ")}
    return LossComparison(exp=out["exp"], logistic=out["logistic"], gap=FlowPair(**gap))


@dataclass(frozen=True)
class GDRun:
    """One gradient-descent run on ``W`` from 0 of :func:`compute_gd`.

    Attributes
    ----------
    t : numpy.ndarray, shape (m,)
        Saved times ``t = lr * step``.
    loss : numpy.ndarray, shape (m,)
        Loss at those times.
    cos : float
        Cosine with the W_F-SVM at the end.
    selection : numpy.ndarray of int, shape (n,)
        The token each sample attends to most at the end.
    excess : float
        Excess loss ``L - L*`` at the end.
    recovered_step : int or None
        The first saved step from which every sample selects its optimal token for good (the large-step runs save
        every step, so it is exact there); None if some sample is still on another token at the end.
    """

    t: np.ndarray
    loss: np.ndarray
    cos: float
    selection: np.ndarray
    excess: float
    recovered_step: int | None


@dataclass(frozen=True)
class GDvsGF:
    """Gradient descent on ``W`` against gradient flow (:func:`compute_gd`).

    Attributes
    ----------
    lr : numpy.ndarray, shape (k,)
        The small step sizes ``GD_SMALL_LR``.
    path_err : numpy.ndarray, shape (k,)
        Path error ``max_k ||W_gd(k) - W_gf(k lr)|| / ||W_gf(k lr)||`` up to ``t = GD_T`` for each.
    slope : float
        Log-log fit of path error against step size.
    gf : tuple of numpy.ndarray
        ``(t, loss)`` of the flow.
    runs : dict of float to GDRun
        Step size (small ones to ``t = GD_T``, large ones 300 steps) -> the run.
    stuck_level : float
        The excess loss when one sample attends only to a non-optimal token.
    min_loss : float
        The infimum ``L*`` of the loss.
    opt : numpy.ndarray of int, shape (n,)
        The optimal tokens.
    """

    lr: np.ndarray
    path_err: np.ndarray
    slope: float
    gf: tuple
    runs: dict[float, GDRun]
    stuck_level: float
    min_loss: float
    opt: np.ndarray


@memo
def compute_gd() -> GDvsGF:
    """Gradient descent on W with step size lr vs gradient flow at the same times ``t = lr * step``.

    Small steps run to ``t = GD_T``; the path error is ``max_k ||W_gd(k) - W_gf(k lr)|| / ||W_gf(k lr)||``. Large
    steps run ``GD_LARGE_STEPS = 300`` steps, each saved.

    Returns
    -------
    GDvsGF
    """
    data = demo_data()
    fro = _svm(data, "fro")
    W0 = np.zeros((data.d, data.d))
    runs, gds = {}, {}
    for lr in GD_SMALL_LR:
        gds[lr] = gradient_descent(data, "W", W0, lr, int(round(GD_T / lr)))
    # near-equal times (3 * 0.1 vs 0.3) collide in gradient_flow's log-log clock: round them first
    t_all = np.unique(np.round(np.concatenate([g.t for g in gds.values()]), 9))
    gf = gradient_flow(data, "W", W0, t_end=t_all[-1], t_eval=t_all)
    errs = []
    for lr, g in gds.items():
        ref = gf.W[np.abs(t_all[None, :] - g.t[:, None]).argmin(axis=1)]
        nrm = np.linalg.norm(ref, axis=(1, 2))
        e = np.linalg.norm(g.W - ref, axis=(1, 2))[nrm > 0] / nrm[nrm > 0]
        errs.append(e.max())
    for lr in (*GD_SMALL_LR, *GD_LARGE_LR):
        # geomspace saving hits every integer step once its ratio is below 1 + 1 / steps
        g = gds[lr] if lr in gds else gradient_descent(data, "W", W0, lr, GD_LARGE_STEPS,
                                                       n_save=20 * GD_LARGE_STEPS)
        runs[lr] = GDRun(t=g.t, loss=g.loss, cos=g.cosine_to(fro.W)[-1],
                         selection=reached_selection(data, g.W[-1]), excess=g.excess_loss[-1],
                         recovered_step=_recovered_step(data, g, lr))
    errs = np.array(errs)
    slope = np.polyfit(np.log(GD_SMALL_LR), np.log(errs), 1)[0]
    return GDvsGF(lr=np.array(GD_SMALL_LR), path_err=errs, slope=float(slope), gf=(gf.t, gf.loss), runs=runs,
                  stuck_level=_stuck_level(data), min_loss=min_loss(data), opt=data.opt)


def _stuck_level(data: AttentionData) -> float:
    """Least excess loss when one sample attends only to its non-optimal tokens: Assumption 3's bound minus ``L*``."""
    return float(stuck_loss_bounds(data).min() - min_loss(data))


@dataclass(frozen=True)
class ShiftedStart:
    """The ``W``-flow from ``W(0) = -c W_F`` of :func:`compute_selection` (Assumption 3 fails).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times, ``log t``.
    excess : numpy.ndarray, shape (m,)
        Excess loss ``L - L*``.
    cos_global : numpy.ndarray, shape (m,)
        Cosine with the W_F-SVM.
    selection : numpy.ndarray of int, shape (n,)
        The token each sample attends to most at the end.
    W_sel : numpy.ndarray, shape (d, d)
        The Frobenius SVM of that selection.
    cos_sel : numpy.ndarray, shape (m,)
        Cosine with ``W_sel``.
    assumption3 : bool
        Whether Assumption 3 holds at ``W(0)``.
    loss0 : float
        The loss at ``W(0)``.
    sel_margin : float
        The selection margin (:func:`selection_margin`) of the last ``W`` for the selection reached.
    consistency : SelectionConsistency
        :func:`selection_consistency` of ``W_sel``.
    """

    log_t: np.ndarray
    excess: np.ndarray
    cos_global: np.ndarray
    selection: np.ndarray
    W_sel: np.ndarray
    cos_sel: np.ndarray
    assumption3: bool
    loss0: float
    sel_margin: float
    consistency: SelectionConsistency


@dataclass(frozen=True)
class PeersRun:
    """The ``W``-flow from 0 on Tarzanagh et al.'s setup (``make_generic_data(6, 8, 10, seed=PEERS_SEED)``) that
    ends on a non-optimal token selection.

    Attributes
    ----------
    log_t, excess, cos_global, selection, cos_sel, consistency
        As in :class:`ShiftedStart`.
    opt : numpy.ndarray of int, shape (n,)
        The optimal tokens.
    gamma : numpy.ndarray, shape (n, L)
        The token scores.
    """

    log_t: np.ndarray
    excess: np.ndarray
    cos_global: np.ndarray
    selection: np.ndarray
    opt: np.ndarray
    cos_sel: np.ndarray
    gamma: np.ndarray
    consistency: SelectionConsistency


@dataclass(frozen=True)
class LocalSelections:
    """Flows that end on a locally optimal token selection (:func:`compute_selection`).

    Attributes
    ----------
    opt : numpy.ndarray of int, shape (n,)
        The optimal tokens of the demo-2 data.
    stuck_level : float
        The excess loss when one sample attends only to a non-optimal token.
    shifts : dict of float to ShiftedStart
        ``c`` of ``SHIFTS`` -> the flow from ``W(0) = -c W_F``.
    peers : PeersRun
        The ``W``-flow from 0 on Tarzanagh et al.'s setup.
    """

    opt: np.ndarray
    stuck_level: float
    shifts: dict[float, ShiftedStart]
    peers: PeersRun


@memo
def compute_selection() -> LocalSelections:
    """Flows on W from ``W(0) = -c W_F`` (c in SHIFTS): Assumption 3 fails for both.

    Returns
    -------
    LocalSelections
    """
    data = demo_data()
    fro = _svm(data, "fro")
    opt, stuck_level = data.opt, _stuck_level(data)
    shifts = {}
    for c in SHIFTS:
        W0 = -c * fro.W
        tr = gradient_flow(data, "W", W0)
        sel = reached_selection(data, tr.W[-1])
        W_sel = solve_selection_svm(data, sel, "fro").W
        shifts[c] = ShiftedStart(log_t=tr.log_t, excess=tr.excess_loss, cos_global=tr.cosine_to(fro.W),
                                 selection=sel, W_sel=W_sel, cos_sel=tr.cosine_to(W_sel),
                                 assumption3=check_assumptions(data, W0).holds("3"), loss0=tr.loss[0],
                                 sel_margin=selection_margin(data, tr.W[-1], sel),
                                 consistency=selection_consistency(data, W_sel, sel))
    peers = make_generic_data(6, 8, 10, seed=PEERS_SEED)
    tr = gradient_flow(peers, "W", np.zeros((peers.d, peers.d)))
    sel = reached_selection(peers, tr.W[-1])
    W_sel = solve_selection_svm(peers, sel, "fro").W
    return LocalSelections(opt=opt, stuck_level=stuck_level, shifts=shifts, peers=PeersRun(
        log_t=tr.log_t, excess=tr.excess_loss, cos_global=tr.cosine_to(_svm(peers, "fro").W), selection=sel,
        opt=peers.opt, cos_sel=tr.cosine_to(W_sel), gamma=peers.gamma,
        consistency=selection_consistency(peers, W_sel, sel)))


@dataclass(frozen=True)
class DigitsCosines:
    """Cosines of the flows' limits on the digits data with the SVM solutions (:func:`compute_digits`).

    Attributes
    ----------
    W_fro, W_nuc : float
        The ``W``-flow's direction with the W_F-SVM and with the W_*-SVM.
    KQ_nuc, KQ_fro : float
        The ``(K, Q)``-flow's direction with the W_*-SVM and with the W_F-SVM.
    """

    W_fro: float
    W_nuc: float
    KQ_nuc: float
    KQ_fro: float


@dataclass(frozen=True)
class DigitsLimits:
    """The digits data (:func:`digits_data`): assumptions, SVM solutions and the flows' limits at ``t = 1e300``.

    Attributes
    ----------
    holds : dict of str to bool
        Assumption name (``attnlib.ASSUMPTIONS``) -> whether it holds.
    opt : numpy.ndarray of int, shape (n,)
        The optimal rows.
    images : numpy.ndarray, shape (n, 8, 8)
        The images (the tokens).
    y : numpy.ndarray, shape (n,)
        Labels.
    sv_fro, sv_nuc : numpy.ndarray, shape (d,)
        Singular values of the W_F- and W_*-SVM solutions.
    sv_W, sv_KQ : numpy.ndarray, shape (d,)
        Singular values of the ``W``- and ``(K, Q)``-flows' directions ``W / mu`` at the end.
    cos : DigitsCosines
        Cosines of those directions with the SVM solutions.
    selected_opt : bool
        Whether both flows end attending to the optimal rows.
    nfev : FlowPair of int
        Gradient evaluations of each flow.
    gamma : numpy.ndarray, shape (n, L)
        The token scores ``y_i v^T x_il``.
    """

    holds: dict[str, bool]
    opt: np.ndarray
    images: np.ndarray
    y: np.ndarray
    sv_fro: np.ndarray
    sv_nuc: np.ndarray
    sv_W: np.ndarray
    sv_KQ: np.ndarray
    cos: DigitsCosines
    selected_opt: bool
    nfev: FlowPair
    gamma: np.ndarray

    @property
    def runner_up_gaps(self) -> np.ndarray:
        """``gamma_opt - max_{l != opt} gamma_il`` of each image, shape (n,): by how much the optimal row's score
        leads the next best row's."""
        g = np.array(self.gamma, dtype=float)
        top = g[np.arange(len(g)), self.opt]
        g[np.arange(len(g)), self.opt] = -np.inf
        return top - g.max(axis=1)


@memo
def compute_digits() -> DigitsLimits:
    """The digits data: assumptions, SVM solutions and the limits of the W- and (K, Q)-flows (t = 1e300).

    Returns
    -------
    DigitsLimits
    """
    data = digits_data()
    rep = check_assumptions(data)
    fro, nuc = _svm(data, "fro"), _svm(data, "nuc")
    W = _flow("digits", "W", log_t_end=300 * np.log(10.0))
    KQ = _flow("digits", "KQ", log_t_end=300 * np.log(10.0))
    return DigitsLimits(holds={k: rep.holds(k) for k in ASSUMPTIONS}, opt=data.opt, images=data.X, y=data.y,
                        sv_fro=singular_values(fro.W), sv_nuc=singular_values(nuc.W),
                        sv_W=singular_values(W.direction()[-1]), sv_KQ=singular_values(KQ.direction()[-1]),
                        cos=DigitsCosines(W_fro=W.cosine_to(fro.W)[-1], W_nuc=W.cosine_to(nuc.W)[-1],
                                          KQ_nuc=KQ.cosine_to(nuc.W)[-1], KQ_fro=KQ.cosine_to(fro.W)[-1]),
                        selected_opt=all(np.array_equal(reached_selection(data, tr.W[-1]), data.opt)
                                         for tr in (W, KQ)),
                        nfev=FlowPair(W=W.nfev, KQ=KQ.nfev), gamma=data.gamma)
