"""Chapter 7 — errata E1-E10 of the paper (arXiv v1), each with a numerical check, and open questions.

Every ``check_eN`` returns a small frozen dataclass of numbers that shows the printed statement failing (where it
can fail numerically) and the corrected one holding; ``tests/claims/test_ch7.py`` asserts them. Flows are cached.

The chapter's computations (no drawing: :mod:`attnbook.figures.ch7` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib.assumptions import ASSUMPTIONS, check_assumptions
from attnlib.data import AttentionData, make_diagonal_data, make_generic_data, make_orthogonal_data
from attnlib.diagnostics import alignment_error, beta_velocity, check_sinh_closed_form, relative_error, right_basis
from attnlib.factorization import padded_diag
from attnlib.flow import Trajectory, aligned_bases, default_init, gradient_flow
from attnlib.model import attention, exp_loss, loss_grad_beta, min_loss
from attnlib.svm import InfeasibleSVMError, solve_selection_svm, solve_svm
from ._store import memo
from .diagonal_studies import xi_frame_flow
from .studies import alignment_gap

#: Widget slider: size of the score offset that breaks Assumption 2 in the E9 experiment.
E9_EPS = (0.0, 0.01, 0.03, 0.1, 0.3, 0.5)


def _Sigma_gamma(data: AttentionData, W) -> np.ndarray:
    """``Sigma(g_i) gamma_i`` for every sample, shape (n, L) (eq. (22))."""
    s = attention(data, W)
    return s * (data.gamma - np.sum(s * data.gamma, axis=1, keepdims=True))


@dataclass(frozen=True)
class E1Shapes:
    """E1 checked on one sample.

    Attributes
    ----------
    shape_X : tuple of int
        Shape ``(L, d)`` of ``X_i``.
    shape_correct : tuple of int
        Shape ``(L,)`` of the corrected ``gamma_i = y_i X_i v``.
    matches_library : bool
        Whether it equals the library's ``data.gamma[i]``.
    printed : str
        What the printed ``y_i X_i^T v`` gives: "defined", or the ``ValueError`` it raises.
    """

    shape_X: tuple
    shape_correct: tuple
    matches_library: bool
    printed: str


def check_e1() -> E1Shapes:
    """E1: ``gamma_i = y_i X_i v`` has shape (L,); the printed ``y_i X_i^T v`` is not even defined (d != L)."""
    data = make_generic_data(4, 3, 5, seed=0, equal_scores=True)
    i = 0
    correct = data.y[i] * data.X[i] @ data.v
    try:
        data.y[i] * data.X[i].T @ data.v
        printed = "defined"
    except ValueError as exc:
        printed = f"ValueError: {exc}"
    return E1Shapes(shape_X=data.X[i].shape, shape_correct=correct.shape,
                    matches_library=np.allclose(correct, data.gamma[i]), printed=printed)


@memo
def _e2_data() -> AttentionData:
    return make_generic_data(4, 3, 4, seed=0, equal_scores=True)


@dataclass(frozen=True)
class E2Separability:
    """E2 checked on data with full but without diagonal separability.

    Attributes
    ----------
    holds : dict of str to bool
        Assumption name (``attnlib.ASSUMPTIONS``) -> whether it holds.
    l1 : str
        "feasible", or "InfeasibleSVMError" if the l1-SVM (diagonal W) raises it.
    fro_value : float
        Optimal value of the Frobenius SVM (feasible: Assumption 1 holds).
    """

    holds: dict[str, bool]
    l1: str
    fro_value: float


def check_e2() -> E2Separability:
    """E2: Assumptions 1, 2, 3 hold but diagonal separability fails, so the l1-SVM is infeasible."""
    data = _e2_data()
    rep = check_assumptions(data)
    try:
        solve_svm(data, "l1")
        l1 = "feasible"
    except InfeasibleSVMError:
        l1 = "InfeasibleSVMError"
    fro = solve_svm(data, "fro")
    return E2Separability(holds={k: rep.holds(k) for k in ASSUMPTIONS}, l1=l1, fro_value=fro.value)


@dataclass(frozen=True)
class E2Flow:
    """One flow of :func:`compute_e2_flows`.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times, ``log t``.
    excess : numpy.ndarray, shape (m,)
        Excess loss ``L - L*``.
    margin : numpy.ndarray, shape (m,)
        Margin of ``W(t)``.
    norm : numpy.ndarray, shape (m,)
        ``||W(t)||_F``.
    """

    log_t: np.ndarray
    excess: np.ndarray
    margin: np.ndarray
    norm: np.ndarray


@dataclass(frozen=True)
class E2Flows:
    """The diagonal flow and the ``W``-flow on the E2 data (:func:`compute_e2_flows`).

    Attributes
    ----------
    grad_end : float
        ``||grad_beta L||`` at the end of the diagonal flow.
    min_loss : float
        The infimum ``L*`` of the loss.
    xi : E2Flow
        The diagonal ``(xi_k, xi_q)``-flow from init (5), to ``t = 1e4``.
    W : E2Flow
        The ``W``-flow from 0, to ``t = 1e300``.
    beta_end : numpy.ndarray, shape (d,)
        ``beta = xi_k * xi_q`` at the end of the diagonal flow: its finite limit.
    beta_drift : float
        ``max |beta(t_end) - beta(t_end / 10)|``: how far ``beta`` still moves over the last decade of ``t``.
    loss0, a3_bound : float
        Assumption 3 as printed: the loss at ``W(0) = 0`` and the least loss with one sample stuck on its non-optimal
        tokens, ``min_j (e^{-gamma_j,nopt} + sum_{i != j} e^{-gamma_i,opt}) / n``; it holds when
        ``loss0 <= a3_bound``.
    """

    grad_end: float
    min_loss: float
    xi: E2Flow
    W: E2Flow
    beta_end: np.ndarray
    beta_drift: float
    loss0: float
    a3_bound: float


@memo
def compute_e2_flows() -> E2Flows:
    """The diagonal (xi_k, xi_q)-flow from init (5) and the W-flow on the E2 data.

    The diagonal flow converges to a *finite* stationary point (the loss has a minimiser over diagonal W), so it is
    run to t = 1e4 only: far enough for the gradient to vanish to ~1e-11. The W-flow runs to t = 1e300.

    Returns
    -------
    E2Flows
    """
    data = _e2_data()
    xi = gradient_flow(data, "xi", default_init(data, "xi", 0.1, seed=None), t_end=1e4)
    W = gradient_flow(data, "W", np.zeros((data.d, data.d)))
    beta_end = np.diag(xi.W[-1])

    def summary(tr: Trajectory) -> E2Flow:
        return E2Flow(log_t=tr.log_t, excess=tr.excess_loss, margin=tr.margin, norm=np.linalg.norm(tr.W, axis=(1, 2)))

    k = int(np.argmin(np.abs(xi.log_t - (xi.log_t[-1] - np.log(10.0)))))
    nopt = np.where(np.arange(data.L)[None, :] == data.opt[:, None], -np.inf, data.gamma).max(axis=1)
    e_opt = np.exp(-data.gamma_opt)
    return E2Flows(grad_end=float(np.linalg.norm(loss_grad_beta(data, beta_end))), min_loss=min_loss(data),
                   xi=summary(xi), W=summary(W), beta_end=beta_end,
                   beta_drift=float(np.abs(beta_end - np.diag(xi.W[k])).max()),
                   loss0=exp_loss(data, np.zeros((data.d, data.d))),
                   a3_bound=float(((np.exp(-nopt) + e_opt.sum() - e_opt) / data.n).min()))


@dataclass(frozen=True)
class E3QueryParallel:
    """E3 checked with and without Assumption 4 (ii) (:func:`check_e3`).

    Attributes
    ----------
    gap_ii : float
        Max over samples of ``| ||psi|| ||z|| - sign <psi, z> |`` (relative) with (ii).
    gap_rotated : float
        The same with the queries rotated.
    assumption4_rotated : bool
        Whether Assumption 4 holds for the rotated queries.
    """

    gap_ii: float
    gap_rotated: float
    assumption4_rotated: bool


def check_e3(angle: float = 0.3) -> E3QueryParallel:
    """E3: eq. (41) ``||psi_i|| ||z_i|| = sign(<x_opt, z_i>) <psi_i, z_i>`` uses Assumption 4 **(ii)** (query
    parallel to the optimal token). Checked at an aligned ``W`` on Assumption 4 data, then with the queries
    rotated by ``angle`` (ii fails).

    Returns
    -------
    E3QueryParallel
    """
    base = make_orthogonal_data()
    out = {}
    for name, z in (("gap_ii", base.z), ("gap_rotated", _rotate_queries(base, angle))):
        data = AttentionData(base.X, z, base.y, base.v)
        xo = data.X[np.arange(data.n), data.opt]
        W = sum(np.outer(xo[i], z[i]) / (np.linalg.norm(xo[i]) * np.linalg.norm(z[i])) for i in range(data.n))
        psi = np.einsum("nld,nl->nd", data.X, _Sigma_gamma(data, 0.3 * W))
        lhs = np.linalg.norm(psi, axis=1) * np.linalg.norm(z, axis=1)
        rhs = np.sign(np.sum(xo * z, axis=1)) * np.sum(psi * z, axis=1)
        out[name] = float(np.max(np.abs(lhs - rhs) / lhs))
    a4 = check_assumptions(AttentionData(base.X, _rotate_queries(base, angle), base.y, base.v)).holds("4")
    return E3QueryParallel(gap_ii=out["gap_ii"], gap_rotated=out["gap_rotated"], assumption4_rotated=a4)


def _rotate_queries(data: AttentionData, angle: float) -> np.ndarray:
    """Tilt each query by ``angle`` towards the last coordinate (so it is no longer parallel to x_opt)."""
    z = np.array(data.z)
    c, s = np.cos(angle), np.sin(angle)
    last = np.zeros(data.d)
    last[-1] = 1.0
    return c * z + s * np.linalg.norm(z, axis=1, keepdims=True) * last * np.array([[1.0], [-1.0]])[: data.n]


@dataclass(frozen=True)
class E4PaddedDiag:
    """E4 checked (:func:`check_e4`).

    Attributes
    ----------
    K_shape : tuple of int
        Shape ``(d, d_e)`` of the zero-padded ``K = [Diag(xi_k), 0]``.
    W_is_Diag : bool
        Whether ``K Q^T = Diag(xi_k * xi_q)`` to rounding.
    W_err : float
        Largest entry of ``|K Q^T - Diag(xi_k * xi_q)|``.
    diag_of_vector_shape : tuple of int
        Shape of ``np.diag`` of a vector: ``(d, d)``, a matrix (``Diag``).
    diag_of_matrix_shape : tuple of int
        Shape of ``np.diag`` of a matrix: ``(d,)``, its diagonal (``diag``).
    """

    K_shape: tuple
    W_is_Diag: bool
    W_err: float
    diag_of_vector_shape: tuple
    diag_of_matrix_shape: tuple


def check_e4(d: int = 3, d_e: int = 5) -> E4PaddedDiag:
    """E4: ``K = [Diag(xi_k), 0]`` (d x d_e, zero-padded, :func:`attnlib.factorization.padded_diag`) gives
    ``K Q^T = Diag(xi_k * xi_q)``; ``diag`` extracts."""
    rng = np.random.default_rng(0)
    xi_k, xi_q = rng.standard_normal(d), rng.standard_normal(d)
    K, Q = padded_diag(xi_k, d_e), padded_diag(xi_q, d_e)
    W_err = float(np.abs(K @ Q.T - np.diag(xi_k * xi_q)).max())
    return E4PaddedDiag(K_shape=K.shape, W_is_Diag=W_err <= 1e-15 * max(1.0, np.abs(xi_k * xi_q).max()), W_err=W_err,
                        diag_of_vector_shape=np.diag(xi_k).shape, diag_of_matrix_shape=np.diag(K @ Q.T).shape)


@memo
def _e5_data() -> AttentionData:
    """Assumption-2 data whose samples have different scores (so the index j vs i matters)."""
    base = make_generic_data(4, 3, 4, seed=3, equal_scores=True)
    g_opt = np.array([6.0, 5.0, 7.0, 4.0])
    g_nopt = np.array([0.0, -1.0, 1.0, 0.5])
    X = np.array(base.X)
    is_opt = np.arange(base.L)[None, :] == base.opt[:, None]
    X[..., -1] = np.where(is_opt, g_opt[:, None], g_nopt[:, None]) * base.y[:, None]
    return AttentionData(X, base.z, base.y, base.v)


@dataclass(frozen=True)
class E5StuckLoss:
    """E5 checked (:func:`check_e5`): the least loss with sample ``j`` on a non-optimal token.

    Attributes
    ----------
    measured : float
        The loss at ``scale * W_s``.
    corrected : float
        The corrected formula ``(exp(-gamma_{j,nopt}) + sum_{i != j} exp(-gamma_{i,opt})) / n``.
    wrong_index : numpy.ndarray, shape (n - 1,)
        The printed variant with ``gamma_{i,nopt}`` for ``gamma_{j,nopt}``, for each ``i != j``.
    wrong_sign : float
        The printed variant with ``exp(+gamma_opt)``.
    selection : numpy.ndarray of int, shape (n,)
        The token selection of ``W_s``.
    opt : numpy.ndarray of int, shape (n,)
        The optimal tokens.
    """

    measured: float
    corrected: float
    wrong_index: np.ndarray
    wrong_sign: float
    selection: np.ndarray
    opt: np.ndarray


def check_e5(j: int = 1, scale: float = 200.0) -> E5StuckLoss:
    """E5: the least loss when sample ``j`` attends only to non-optimal tokens is
    ``(exp(-gamma_{j,nopt}) + sum_{i != j} exp(-gamma_{i,opt})) / n``.

    Measured: the loss at ``scale * W_s`` where ``W_s`` is an SVM direction that selects a non-optimal token for
    sample ``j`` and the optimal token for the others. Compared with the corrected formula and with the printed
    variants (``gamma_{i,nopt}`` for ``gamma_{j,nopt}``, ``exp(+gamma_opt)``).
    """
    data = _e5_data()
    sel = data.opt.copy()
    sel[j] = next(l for l in range(data.L) if l != data.opt[j])
    W_s = solve_selection_svm(data, sel, "fro").W
    measured = exp_loss(data, scale * W_s)
    g_opt = data.gamma_opt
    g_nopt = np.array([np.delete(data.gamma[i], data.opt[i])[0] for i in range(data.n)])
    others = np.delete(np.arange(data.n), j)
    corrected = (np.exp(-g_nopt[j]) + np.exp(-g_opt[others]).sum()) / data.n
    wrong_index = [(np.exp(-g_nopt[i]) + np.exp(-g_opt[others]).sum()) / data.n for i in others]
    wrong_sign = (np.exp(-g_nopt[j]) + np.exp(g_opt[others]).sum()) / data.n
    return E5StuckLoss(measured=measured, corrected=corrected, wrong_index=np.array(wrong_index),
                       wrong_sign=wrong_sign, selection=sel, opt=data.opt)


@dataclass(frozen=True)
class E6BetaVelocity:
    """E6 checked (:func:`check_e6`).

    Attributes
    ----------
    ratio_corrected : numpy.ndarray, shape (k,)
        ``beta'`` divided componentwise by the corrected formula (1 means equal), where it is not ~0.
    ratio_printed : numpy.ndarray, shape (k,)
        The same for the printed formula (with the extra 1/n): n.
    n : int
        Number of samples.
    """

    ratio_corrected: np.ndarray
    ratio_printed: np.ndarray
    n: int


def check_e6(a: float = 0.7, omega0: float = 0.3) -> E6BetaVelocity:
    """E6: under init (5), ``beta' = -2 sqrt(beta^2 + omega_0^4) * grad_beta L`` (no extra 1/n).

    ``beta'`` is computed (:func:`attnlib.diagnostics.beta_velocity`) from the library's ``(xi_k, xi_q)`` gradients at
    a point on the conserved hyperbola
    ``xi_k^2 - xi_q^2 = 2 omega_0^2`` (``xi_k = sqrt2 omega_0 cosh a``, ``xi_q = sqrt2 omega_0 sinh a``).

    Returns
    -------
    E6BetaVelocity
    """
    data = make_diagonal_data()
    w = omega0 * np.ones(data.d)
    xi_k = np.sqrt(2) * w * np.cosh(a * np.arange(1, data.d + 1) / data.d)
    xi_q = np.sqrt(2) * w * np.sinh(a * np.arange(1, data.d + 1) / data.d)
    beta_dot, corrected = beta_velocity(data, xi_k, xi_q, w)
    printed = corrected / data.n
    keep = np.abs(corrected) > 1e-12
    return E6BetaVelocity(ratio_corrected=beta_dot[keep] / corrected[keep],
                          ratio_printed=beta_dot[keep] / printed[keep], n=data.n)


@dataclass(frozen=True)
class MFCQDirection:
    """One direction ``v`` of :func:`check_e7`.

    Attributes
    ----------
    s_dot_v : numpy.ndarray, shape (k,)
        ``<s_il, v>`` for the k active constraints.
    max_g_after_step : float
        The largest active ``g_il`` after a small step along ``v`` (< 0: still strictly feasible).
    """

    s_dot_v: np.ndarray
    max_g_after_step: float


@dataclass(frozen=True)
class E7MFCQ:
    """E7 checked (:func:`check_e7`).

    Attributes
    ----------
    n_active : int
        Active constraints of the l1-SVM at its solution.
    correct : MFCQDirection
        ``v = beta*``: the correct sign, ``<s, v> < 0``.
    printed : MFCQDirection
        ``v = -beta*``: the printed sign, ``<s, v> > 0``.
    """

    n_active: int
    correct: MFCQDirection
    printed: MFCQDirection


def check_e7(step: float = 1e-3) -> E7MFCQ:
    """E7: MFCQ for constraints ``g <= 0`` needs a direction ``v`` with ``<s, v> < 0`` for active ``g``.

    For the l1-SVM (demo-1 data), ``g_il = 1 - beta^T B_il`` and ``s_il = -B_il``. With ``v = beta*`` (a strictly
    separating point) every ``<s_il, v> < 0`` and a small step along ``v`` keeps all constraints strictly
    satisfied; a direction with the printed sign (``<s, v> > 0``, e.g. ``-beta*``) leaves the feasible set.
    """
    data = make_diagonal_data()
    sol = solve_svm(data, "l1")
    b = sol.beta
    active = np.abs(data.B @ b - 1) < 1e-6
    g = lambda beta: 1 - data.B @ beta  # noqa: E731
    n_active = int(active.sum())
    out = {}
    for name, v in (("correct", b), ("printed", -b)):
        s_dot_v = (-data.B[active]) @ v
        out[name] = MFCQDirection(s_dot_v=s_dot_v, max_g_after_step=float(g(b + step * v)[active].max()))
    return E7MFCQ(n_active=n_active, correct=out["correct"], printed=out["printed"])


@memo
def _e8_flow() -> Trajectory:
    data = make_diagonal_data()
    return gradient_flow(data, "xi", default_init(data, "xi", 0.1, seed=None), t_end=1e6)


@dataclass(frozen=True)
class E8Constants:
    """E8 checked (:func:`check_e8`).

    Attributes
    ----------
    dual_shape : tuple of int
        Shape of the l1-SVM's dual ``lambda``: one entry per pair, ``(n (L - 1),)``.
    n_pairs : int
        Number of pairs ``(i, l)``.
    kkt_all_pairs : float
        ``||B^T lambda - sign(beta)||`` on the support, summing over all pairs.
    kkt_first_pair_only : float
        The same using one pair per sample (the printed ``sum_{i=1}^n``).
    sinh_2n, sinh_4n : float
        Relative error of ``beta(t) = omega_0^2 sinh(B phi)`` with the constant 2/n and with 4/n.
    inner_neg_grad : float
        Min over the flow of ``<-grad, beta_f>`` (``beta_f`` the l1-SVM solution).
    inner_grad : float
        Max over the flow of ``<grad, beta_f>``.
    """

    dual_shape: tuple
    n_pairs: int
    kkt_all_pairs: float
    kkt_first_pair_only: float
    sinh_2n: float
    sinh_4n: float
    inner_neg_grad: float
    inner_grad: float


def check_e8() -> E8Constants:
    """E8: (C1) sums over all pairs (lambda in R^{n(L-1)}); the constant in phi is 2/n; (vi) needs -grad.

    Returns
    -------
    E8Constants
    """
    data = make_diagonal_data()
    sol = solve_svm(data, "l1")
    supp = np.abs(sol.beta) > 1e-6
    lam = sol.dual
    all_pairs = data.B.T @ lam
    first = np.array([np.flatnonzero(data.pairs[:, 0] == i)[0] for i in range(data.n)])
    first_only = data.B[first].T @ lam[first]
    tr = _e8_flow()
    beta = np.einsum("mjj->mj", tr.W)
    w2 = 0.1 ** 2
    Bphi = tr.phi @ data.B
    err = lambda pred: float(np.max(relative_error(pred, beta, axis=1)[1:]))  # noqa: E731
    inner = np.array([loss_grad_beta(data, b) @ sol.beta for b in beta])
    return E8Constants(dual_shape=lam.shape, n_pairs=len(data.pairs),
                       kkt_all_pairs=float(np.linalg.norm(all_pairs[supp] - np.sign(sol.beta[supp]))),
                       kkt_first_pair_only=float(np.linalg.norm(first_only[supp] - np.sign(sol.beta[supp]))),
                       sinh_2n=err(w2 * np.sinh(Bphi)), sinh_4n=err(w2 * np.sinh(2 * Bphi)),
                       inner_neg_grad=float(np.min(-inner)), inner_grad=float(np.max(inner)))


@memo
def e9_data(eps: float) -> AttentionData:
    """Assumption 4 data (:func:`attnlib.make_orthogonal_data`) with ``v`` tilted by ``eps`` towards the pair
    offsets: the two tokens of each pair now score ``c gamma_opt +- eps * y_i * u``, so Assumption 2 fails for
    ``eps != 0`` while Assumption 4 still holds."""
    base = make_orthogonal_data()
    v = np.array(base.v)
    v[base.n] += eps
    return AttentionData(base.X, base.z, base.y, v)


@dataclass(frozen=True)
class E9Alignment:
    """The aligned-start ``(K, Q)``-flow on :func:`e9_data` (:func:`compute_e9`).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times, ``log t``.
    err : numpy.ndarray, shape (m,)
        Alignment error of Definition 5.1 along the flow, with ``V`` held at its value at ``t = 0``.
    gap_vfree : numpy.ndarray, shape (m,)
        The ``V``-free alignment gap (:func:`attnbook.experiments.studies.alignment_gap`; Definition 5.1 allows any
        shared ``V``).
    holds : dict of str to bool
        Assumption name (``attnlib.ASSUMPTIONS``) -> whether it holds for the data.
    nuc_gap : float
        Final nuclear-norm certificate ``||W / mu||_* / OPT - 1`` (0 on the solution set; the SVM is not unique, so
        no cosine with one solver output).
    family : float
        Final off-diagonal coordinate ``m / sqrt(a_1 a_2)`` of ``W / mu`` in the aligned bases (0 at W°).
    """

    log_t: np.ndarray
    err: np.ndarray
    gap_vfree: np.ndarray
    holds: dict[str, bool]
    nuc_gap: float
    family: float


@memo
def compute_e9(eps: float) -> E9Alignment:
    """Lemma 5.1 without Assumption 2: the (K, Q)-flow from an aligned start on :func:`e9_data`, t to 1e100.

    Returns
    -------
    E9Alignment
    """
    data = e9_data(eps)
    U_K, U_Q = aligned_bases(data)
    init = default_init(data, "KQ", 0.1, seed=None, kind="aligned")
    V = right_basis(init[0], U_K)
    tr = gradient_flow(data, "KQ", init, t_end=1e100)
    KQ = list(zip(tr.params["K"], tr.params["Q"]))
    rep = check_assumptions(data)
    hat = tr.W[-1] / tr.margin[-1]
    M = U_K.T @ hat @ U_Q
    return E9Alignment(log_t=tr.log_t, err=np.array([alignment_error(K, Q, U_K, U_Q, V) for K, Q in KQ]),
                       gap_vfree=np.array([alignment_gap(K, Q, U_K, U_Q) for K, Q in KQ]),
                       holds={k: rep.holds(k) for k in ASSUMPTIONS},
                       nuc_gap=float(np.linalg.norm(hat, "nuc") / solve_svm(data, "nuc").value - 1.0),
                       family=float((M[0, 1] + M[1, 0]) / 2 / np.sqrt(M[0, 0] * M[1, 1])))


@dataclass(frozen=True)
class E10SinhForm:
    """E10 checked (:func:`check_e10`).

    Attributes
    ----------
    omega0 : numpy.ndarray, shape (d,)
        The non-constant ``omega_0`` of the start.
    sinh_error : float
        Max relative error of Lemma A.1's sinh formula along an xi-flow to ``t = 1e6``.
    conservation : float
        Max drift of ``xi_k^2 - xi_q^2``.
    dloss : float
        ``l'(u) + l(u)`` at ``u = 0.7`` by finite differences (0 for the exponential loss).
    """

    omega0: np.ndarray
    sinh_error: float
    conservation: float
    dloss: float


@memo
def check_e10() -> E10SinhForm:
    """E10: Lemma A.1's sinh formula also holds for a non-constant omega_0 (the paper proves omega_0 = alpha 1);
    ``l'(u) = -l(u)`` for the exponential loss (the paper's ``l_i'`` notation).

    The check is :func:`attnlib.diagnostics.check_sinh_closed_form` (chapter 3 runs it with mixed signs and zero
    patterns, :func:`attnbook.experiments.ch3.compute_e10`).

    Returns
    -------
    E10SinhForm
    """
    data = make_diagonal_data()
    r = check_sinh_closed_form(data, default_init(data, "xi", 0.1, seed=1), t_end=1e6)
    u, h = 0.7, 1e-6
    dl = (np.exp(-(u + h)) - np.exp(-(u - h))) / (2 * h)
    return E10SinhForm(omega0=r.omega0, sinh_error=r.max_err, conservation=r.conservation,
                       dloss=float(dl + np.exp(-u)))


# -- open question 2: the certificate's rate and the direction's -----------------------------------------------

#: ``omega_0`` of the rate measurement and its window in ``ln t`` (past lock-on, before the flow's accuracy floor).
RATE_OMEGAS = (3.0, 1.0)
RATE_WINDOW = (1e6, 1e10)


@dataclass(frozen=True)
class DirectionRate:
    """How fast the diagonal flow's direction reaches the l1-SVM solution off its support (:func:`direction_rate`).

    By the sinh closed form, ``beta_hat_j = (omega_j^2 / 2) (mu^((B lambda)_j - 1) - mu^(-(B lambda)_j - 1))`` with
    ``lambda = phi / ln mu``; a coordinate outside the support therefore decays like ``mu^((B lambda*)_j - 1)``.

    Attributes
    ----------
    coord : int
        The coordinate measured (0-based): the one outside the support with the largest ``(B lambda*)_j``.
    Blam : numpy.ndarray, shape (d,)
        ``B lambda*`` with ``lambda*`` the l1-SVM's multipliers (``SVMSolution.dual``): 1 on the support.
    predicted : float
        The exponent ``(B lambda*)_coord - 1``.
    measured : dict of float to float
        ``omega_0 ->`` the slope of ``ln |beta_hat_coord|`` against ``ln mu`` over :data:`RATE_WINDOW`.
    ends : dict of float to tuple of float
        ``omega_0 -> (beta_hat_coord at ln t = window[0], at ln t = window[1])``.
    window : tuple of float
        The window in ``ln t``.
    """

    coord: int
    Blam: np.ndarray
    predicted: float
    measured: dict[float, float]
    ends: dict[float, tuple]
    window: tuple


@memo
def direction_rate(omegas: tuple = RATE_OMEGAS, window: tuple = RATE_WINDOW) -> DirectionRate:
    """The exponent law of the direction, measured on the book's diagonal data (``make_diagonal_data()``).

    Returns
    -------
    DirectionRate
    """
    data = make_diagonal_data()
    l1 = solve_svm(data, "l1")
    Blam = data.B.T @ l1.dual
    off = np.flatnonzero(np.abs(l1.beta) < 1e-8 * np.abs(l1.beta).max())
    coord = int(off[np.argmax(Blam[off])])
    measured, ends = {}, {}
    for om in omegas:
        tr = xi_frame_flow(float(om), 10.0 * float(window[1]), 1e-8, 300)
        sel = (tr.log_t >= window[0]) & (tr.log_t <= window[1])
        with np.errstate(divide="ignore", invalid="ignore"):  # mu = 0 at t = 0
            bhat = np.abs(np.diagonal(tr.W, axis1=1, axis2=2)[:, coord]) / tr.margin
        measured[float(om)] = float(np.polyfit(np.log(tr.margin[sel]), np.log(bhat[sel]), 1)[0])
        i0, i1 = (int(np.argmin(np.abs(tr.log_t - w))) for w in window)
        ends[float(om)] = (float(bhat[i0]), float(bhat[i1]))
    return DirectionRate(coord=coord, Blam=Blam, predicted=float(Blam[coord] - 1.0), measured=measured, ends=ends,
                         window=tuple(float(w) for w in window))
