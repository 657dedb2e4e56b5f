"""Figures of chapter 5, "The aligned general case" (paper §5, appendix A.6-A.7).

Data: :func:`attnlib.make_orthogonal_data` (Assumption 4 with exactly representable numbers) and the same data
rotated by a random orthogonal matrix (still Assumption 4, no longer exactly representable). Flows and SVMs are
cached, so each figure and each widget frame only draws.

The nuclear SVM of these data is not unique (:func:`nuclear_family`), so a flow is compared with it by a
certificate (:func:`nuclear_certificate`: margin, optimal value, a dual bound) and by its distance to W°, never by
the cosine with one solver output. :func:`init_study` runs (K, Q) from generic starts (20 seeds x 2 scales) and
the W-flow from the same W(0): the (K, Q) limits are nuclear-SVM solutions that depend on the start.

The chapter's computations (no drawing: :mod:`attnbook.figures.ch5` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib._validate import check_scalar
from attnlib.data import AttentionData, make_orthogonal_data
from attnlib.diagnostics import alignment_error, direction, right_basis, singular_values
from attnlib.factorization import pair_sum
from attnlib.flow import Trajectory, aligned_bases, default_init, gradient_flow
from attnlib.model import attention, cosine, loss_grad, margin
from attnlib.svm import solve_svm
from ._store import memo, pool_map
from .studies import alignment_gap  # the V-free alignment measure (chapters 5 and 7 share it)

SCALE = 0.1
LOG_T_END = 1e6
LOG_T_1E300 = float(np.log(1e300))
#: Misalignment angles (radians) and init scales offered by the widget.
WIDGET_THETA = [0.0, np.pi / 32, np.pi / 8, np.pi / 4, 3 * np.pi / 8, np.pi / 2]


WIDGET_SCALE = [0.03, 0.1, 0.3, 1.0]
#: Solver tolerance of the widget's flows: a new (theta, scale) must redraw within a second; against rtol = 1e-8
#: the gap curve moves by < 0.05 decades and the singular values by < 1e-4 (tests/claims/test_ch5.py), invisible.
WIDGET_RTOL = 1e-6


#: Anisotropic omega_0 pattern of the misaligned initialisation (a rotation of an isotropic K0 is still aligned).
OMEGA_PATTERN = (1.0, 1.0, 0.5, 0.5)
#: The pattern for a rotation in the plane of the two optimal-token directions ``u^k_1, u^k_2``: it misaligns only
#: if ``omega_1 != omega_2`` (exercise ch5-ex-plane).
OMEGA_PATTERN_12 = (1.0, 0.5, 1.0, 1.0)
#: The initialisation study (:func:`init_study`): data seeds of ``default_init(data, "KQ", scale, seed)``, the
#: entry scales, and the horizon ``ln t`` (the margin frame carries the flows past ``ln t = 1e6``).
INIT_SEEDS = tuple(range(20))
INIT_SCALES = (0.1, 0.01)
INIT_LOG_T = 1e30


@memo
def exact_data() -> AttentionData:
    """The book's aligned example (:func:`attnlib.make_orthogonal_data`): n = 2, L = 3, d = 4, e-basis, exact."""
    return make_orthogonal_data()


@memo
def rotation(seed: int = 0, d: int = 4) -> np.ndarray:
    """A random orthogonal matrix R (d, d) (QR of a Gaussian matrix)."""
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))[0]


@memo
def rotated_data(seed: int = 0) -> AttentionData:
    """The demo-3 data with tokens, queries and head all rotated by one random orthogonal ``R``:
    ``x -> R x``, ``z -> R z``, ``v -> R v``. Scores and Assumption 4 are unchanged, but the numbers are no longer
    exactly representable, so the pair symmetry holds only up to rounding."""
    d0, R = exact_data(), rotation(seed)
    return AttentionData(d0.X @ R.T, d0.z @ R.T, d0.y, R @ d0.v)


def tilted_query_data(angle: float = 0.5) -> AttentionData:
    """:func:`exact_data` with sample 1's query tilted by ``angle`` towards ``e_4``, a direction no token uses: the
    queries stay orthogonal (Assumption 4 (i)) and the pairs intact (iii), Assumption 2 holds, but the query is no
    longer parallel to its optimal token, so Assumption 4 (ii) fails."""
    base = exact_data()
    z = np.array(base.z)
    z[0] = np.linalg.norm(z[0]) * (np.cos(angle) * np.eye(base.d)[0] + np.sin(angle) * np.eye(base.d)[-1])
    return AttentionData(base.X, z, base.y, base.v)


def pair_parameters(data: AttentionData) -> np.ndarray:
    """``c_i`` of Assumption 4 (iii): ``x_{i,opt}^T x_il / ||x_{i,opt}||^2`` for a non-optimal token, shape (n,)."""
    xo = data.X[np.arange(data.n), data.opt]
    other = data.X[np.arange(data.n), (data.opt + 1) % data.L]
    return np.einsum("nd,nd->n", xo, other) / np.einsum("nd,nd->n", xo, xo)


def closed_form_W(data: AttentionData) -> np.ndarray:
    """``W° = sum_i x_{i,opt} z_i^T / ((1 - c_i) ||x_{i,opt}||^2 ||z_i||^2)`` (chapter 5, "W° solves both SVMs"), shape (d, d):
    the solution of the Frobenius SVM and a solution of the nuclear SVM under Assumption 4."""
    xo = data.X[np.arange(data.n), data.opt]
    c = pair_parameters(data)
    w = 1.0 / ((1 - c) * np.einsum("nd,nd->n", xo, xo) * np.einsum("nd,nd->n", data.z, data.z))
    return np.einsum("n,nd,ne->de", w, xo, data.z)


def reduced_data(data: AttentionData) -> AttentionData:
    """The data written in the aligned bases: ``x -> U_K^T x``, ``z -> U_Q^T z``, ``v -> U_K^T v``.

    For an aligned ``W = U_K Diag(beta) U_Q^T`` the logits are ``x~^T Diag(beta) z~``, so the diagonal (``"xi"``)
    flow on these data is the reduced dynamics of appendix A.7, and its diagonal SVM is problem (42).
    """
    U_K, U_Q = aligned_bases(data)
    return AttentionData(data.X @ U_K, data.z @ U_Q, data.y, U_K.T @ data.v)


def misaligned_init(theta: float, scale: float = SCALE, plane: tuple[int, int] = (0, 2),
                    data: AttentionData | None = None,
                    omega: tuple[float, ...] = OMEGA_PATTERN) -> tuple[np.ndarray, np.ndarray]:
    """``K0 = R_theta U_K Diag(sqrt(2) omega_0)``, ``Q0 = 0``, with ``omega_0 = scale * omega`` (default
    ``omega = (1, 1, .5, .5)``).

    ``R_theta`` rotates by ``theta`` in the plane of the aligned-basis columns ``plane`` (default: ``u^k_1``, the
    direction of sample 1's optimal token, and ``u^k_3``, a direction no optimal token uses). ``theta = 0`` is the
    aligned initialisation; ``theta = pi/2`` swaps the two directions and is aligned again. ``W(0) = 0`` always.
    """
    data = exact_data() if data is None else data
    U_K, _ = aligned_bases(data)
    a, b = U_K[:, plane[0]], U_K[:, plane[1]]
    c, s = np.cos(theta), np.sin(theta)
    R = np.eye(data.d) + (c - 1) * (np.outer(a, a) + np.outer(b, b)) + s * (np.outer(b, a) - np.outer(a, b))
    omega0 = scale * np.array(omega[: data.d], dtype=float)
    return R @ U_K @ np.diag(np.sqrt(2.0) * omega0), np.zeros((data.d, data.d))


def aligned_flow(which: str = "exact", log_t_end: float = LOG_T_END) -> Trajectory:
    """KQ flow from the aligned init ``default_init(data, "KQ", 0.1, seed=None, kind="aligned")`` (cached).
    ``which``: "exact" (demo-3 data) or "rotated" (:func:`rotated_data`)."""
    return _aligned_flow(str(which), float(log_t_end))


@memo
def _aligned_flow(which: str, log_t_end: float) -> Trajectory:
    data = exact_data() if which == "exact" else rotated_data()
    return gradient_flow(data, "KQ", default_init(data, "KQ", SCALE, seed=None, kind="aligned"),
                            log_t_end=log_t_end)


@dataclass(frozen=True)
class AlignmentAlongFlow:
    """Lemma 5.1 measured along one aligned K,Q flow (:func:`aligned_flow`).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times, ``log t``.
    mu : numpy.ndarray, shape (m,)
        Margin ``mu(t)`` of ``W(t) = K(t) Q(t)^T``.
    err : numpy.ndarray, shape (m,)
        Alignment error ``alignment_error(K, Q, U_K, U_Q, V)`` of Definition 5.1 (0 for aligned ``K, Q``).
    cos_W0 : numpy.ndarray, shape (m,)
        ``cos(W(t), W°)``, W° the closed form (:func:`closed_form_W`).
    nfev : int
        Gradient evaluations of the flow.
    wall_time : float
        Seconds the flow took.
    """

    log_t: np.ndarray
    mu: np.ndarray
    err: np.ndarray
    cos_W0: np.ndarray
    nfev: int
    wall_time: float


@dataclass(frozen=True)
class AlignmentPreserved:
    """Lemma 5.1 measured on both data sets of chapter 5.

    Attributes
    ----------
    exact : AlignmentAlongFlow
        On the exactly representable data (:func:`exact_data`).
    rotated : AlignmentAlongFlow
        On the same data rotated by a random orthogonal matrix (:func:`rotated_data`).
    """

    exact: AlignmentAlongFlow
    rotated: AlignmentAlongFlow


@memo
def compute_alignment(log_t_end: float = LOG_T_END) -> AlignmentPreserved:
    """Lemma 5.1 measured: alignment error ``alignment_error(K, Q, U_K, U_Q, V)`` along the aligned flows on the
    exact and the rotated data.

    Returns
    -------
    AlignmentPreserved
    """
    out = {}
    for which in ("exact", "rotated"):
        tr = aligned_flow(which, log_t_end)
        data = tr.data
        U_K, U_Q = aligned_bases(data)
        V = right_basis(tr.params["K"][0], U_K)
        err = np.array([alignment_error(K, Q, U_K, U_Q, V) for K, Q in zip(tr.params["K"], tr.params["Q"])])
        out[which] = AlignmentAlongFlow(log_t=tr.log_t, mu=tr.margin, err=err,
                                        cos_W0=tr.cosine_to(closed_form_W(data)), nfev=tr.nfev,
                                        wall_time=tr.wall_time)
    return AlignmentPreserved(exact=out["exact"], rotated=out["rotated"])


@dataclass(frozen=True)
class ReducedDynamics:
    """The K,Q flow written in the aligned bases against the reduced diagonal dynamics of appendix A.7.

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times of the K,Q flow, ``log t``; the reduced flow is saved at the same times.
    xi_k, xi_q : numpy.ndarray, shape (m, d)
        Singular values of ``K(t)``, ``Q(t)``: the diagonals of ``U_K^T K V`` and ``U_Q^T Q V``.
    xi_k_red, xi_q_red : numpy.ndarray, shape (m, d)
        The ``xi`` flow on :func:`reduced_data` from the same ``xi_k(0)``, ``xi_q(0) = 0``.
    rel_diff : numpy.ndarray, shape (m,)
        Largest relative difference between the two, over ``xi_k`` and (where non-zero) ``xi_q``.
    beta_hat : numpy.ndarray, shape (m, d)
        The margin-normalised ``xi_k * xi_q / mu``.
    a : numpy.ndarray, shape (d,)
        The solution of problem (42) (the diagonal l1-SVM on the reduced data).
    mu : numpy.ndarray, shape (m,)
        Margin of the K,Q flow.
    B42 : numpy.ndarray, shape (n (L - 1), d)
        Constraint vectors ``B_il`` of problem (42).
    """

    log_t: np.ndarray
    xi_k: np.ndarray
    xi_q: np.ndarray
    xi_k_red: np.ndarray
    xi_q_red: np.ndarray
    rel_diff: np.ndarray
    beta_hat: np.ndarray
    a: np.ndarray
    mu: np.ndarray
    B42: np.ndarray


@memo
def compute_reduced(which: str = "rotated", log_t_end: float = LOG_T_1E300) -> ReducedDynamics:
    """The singular values of K(t), Q(t) (diagonals of ``U_K^T K V``, ``U_Q^T Q V``) on the rotated (default) or
    exact data against the
    ``xi`` flow on :func:`reduced_data` from the same ``xi_k(0) = diag(U_K^T K0 V)``, ``xi_q(0) = 0``; and the
    margin-normalised ``beta_hat`` against the solution ``a`` of problem (42).

    Returns
    -------
    ReducedDynamics
    """
    data = exact_data() if which == "exact" else rotated_data()
    U_K, U_Q = aligned_bases(data)
    K0, Q0 = default_init(data, "KQ", SCALE, seed=None, kind="aligned")
    V = right_basis(K0, U_K)
    tr = gradient_flow(data, "KQ", (K0, Q0), log_t_end=log_t_end)
    xk = np.array([np.diag(U_K.T @ K @ V) for K in tr.params["K"]])
    xq = np.array([np.diag(U_Q.T @ Q @ V) for Q in tr.params["Q"]])
    red = reduced_data(data)
    tr_red = gradient_flow(red, "xi", (np.diag(U_K.T @ K0 @ V).copy(), np.zeros(data.d)),
                              log_t_end=log_t_end, log_t_eval=tr.log_t)
    l1 = solve_svm(red, "l1")
    with np.errstate(invalid="ignore", divide="ignore"):
        beta_hat = xk * xq / tr.margin[:, None]
    rel = np.abs(xk - tr_red.params["xi_k"]).max(axis=1) / np.abs(xk).max(axis=1)
    relq = np.abs(xq - tr_red.params["xi_q"]).max(axis=1) / np.maximum(np.abs(xq).max(axis=1), 1e-300)
    return ReducedDynamics(log_t=tr.log_t, xi_k=xk, xi_q=xq, xi_k_red=tr_red.params["xi_k"],
                           xi_q_red=tr_red.params["xi_q"],
                           rel_diff=np.maximum(rel, np.where(np.abs(xq).max(axis=1) > 0, relq, 0.0)),
                           beta_hat=beta_hat, a=np.array(l1.beta), mu=tr.margin, B42=red.B)


@dataclass(frozen=True)
class NuclearCertificate:
    """Optimality certificate of a matrix ``W`` (meant to have margin 1, e.g. ``W / mu(W)``) for the nuclear SVM on
    Assumption-4 data, and its distance to W°.

    The dual bound: with ``lambda_il = a_i / (L - 1)`` (every non-optimal token of sample ``i`` alike),
    ``G = sum lambda_il A_il = sum_i x^_i z^_i^T`` has ``||G||_op = 1``, so every feasible ``W`` has
    ``||W||_* >= <G, W> >= sum lambda_il = sum_i a_i``. A ``W`` with margin 1 and nuclear norm equal to that bound is
    a solution; the same ``lambda`` certifies every member of :func:`nuclear_family` (the SVM is not unique).

    Attributes
    ----------
    margin : float
        The margin of ``W`` (1 at a solution).
    nuc_gap : float
        Its nuclear-norm gap ``||W||_* / dual_bound - 1`` (0 exactly on the solution set; ``dual_bound`` is
        ``||W°||_*``, the optimal value).
    dual_bound : float
        ``sum lambda_il = sum_i a_i``: a lower bound on the nuclear norm of every feasible ``W``.
    dual_op : float
        ``||G||_op`` of the dual matrix (at most 1 for the bound to hold; 1 here).
    dist : float
        Its relative distance ``||W - W°||_F / ||W°||_F`` to W°.
    """

    margin: float
    nuc_gap: float
    dual_bound: float
    dual_op: float
    dist: float

    def solves(self, tol: float = 1e-9) -> bool:
        """Margin 1, ``||G||_op <= 1`` and nuclear norm at the dual bound, each to ``tol``: ``W`` solves the SVM."""
        return bool(self.margin >= 1 - tol and self.dual_op <= 1 + tol and abs(self.nuc_gap) <= tol)


def nuclear_certificate(data: AttentionData, W) -> NuclearCertificate:
    """The certificate :class:`NuclearCertificate` of ``W`` on Assumption-4 data ``data``."""
    W = np.asarray(W, dtype=float)
    W0 = closed_form_W(data)
    xo = data.X[np.arange(data.n), data.opt]
    a = 1.0 / ((1 - pair_parameters(data)) * np.linalg.norm(xo, axis=1) * np.linalg.norm(data.z, axis=1))
    lam = a[data.pairs[:, 0]] / (data.L - 1)
    G = pair_sum(data, lam)
    bound = float(lam.sum())
    return NuclearCertificate(margin=float(margin(data, W)), nuc_gap=float(np.linalg.norm(W, "nuc") / bound - 1.0),
                              dual_bound=bound, dual_op=float(np.linalg.norm(G, 2)),
                              dist=float(np.linalg.norm(W - W0) / np.linalg.norm(W0)))


@dataclass(frozen=True)
class SVMsCoincide:
    """Theorem 5.1 on the exact data: W° solves both SVMs and both flows converge to it.

    Attributes
    ----------
    W0 : numpy.ndarray, shape (d, d)
        The closed form W° (:func:`closed_form_W`).
    fro, nuc : numpy.ndarray, shape (d, d)
        The Frobenius and the nuclear SVM solver outputs.
    hatW, hatKQ : numpy.ndarray, shape (d, d)
        ``W / mu`` at the end (``log t = 1e6``) of the W-flow from 0 and of the aligned K,Q flow.
    a : numpy.ndarray, shape (n,)
        The diagonal ``a_i`` of W° in the aligned bases (``||W°||_* = sum a_i``, ``||W°||_F = ||a||``).
    m : dict of str to float
        Off-diagonal coordinate (:func:`family_coordinate`) of "W-flow", "KQ-flow", "nuclear SVM",
        "Frobenius SVM" and "nuclear SVM, rotated data" (the keys are the labels the chapter prints and draws).
    nuc_rot_cos : float
        Cosine of the rotated data's nuclear SVM solver output with their W°.
    nuc_rot_certificate : NuclearCertificate
        Its optimality certificate.
    nuc_value, fro_value : float
        Optimal values of the nuclear and the Frobenius SVM.
    sv : dict of str to numpy.ndarray, shape (d,)
        Singular values of "W°", "Frobenius SVM", "nuclear SVM", "W-flow" and "KQ-flow" (keys: labels).
    log_t_W, cos_W : numpy.ndarray, shape (m_W,)
        Saved ``log t`` of the W-flow and its cosine with W°.
    log_t_KQ, cos_KQ : numpy.ndarray, shape (m_KQ,)
        The same for the aligned K,Q flow.
    """

    W0: np.ndarray
    fro: np.ndarray
    nuc: np.ndarray
    hatW: np.ndarray
    hatKQ: np.ndarray
    a: np.ndarray
    m: dict[str, float]
    nuc_rot_cos: float
    nuc_rot_certificate: NuclearCertificate
    nuc_value: float
    fro_value: float
    sv: dict[str, np.ndarray]
    log_t_W: np.ndarray
    cos_W: np.ndarray
    log_t_KQ: np.ndarray
    cos_KQ: np.ndarray


@memo
def compute_coincide() -> SVMsCoincide:
    """The closed form W°, the Frobenius and nuclear SVM solutions, and the limits of the W- and KQ-flows on the
    exact data; the nuclear-norm bound argument of chapter 5.

    Returns
    -------
    SVMsCoincide
    """
    data = exact_data()
    W0 = closed_form_W(data)
    fro, nuc = solve_svm(data, "fro"), solve_svm(data, "nuc")
    trW = gradient_flow(data, "W", np.zeros((data.d, data.d)), log_t_end=LOG_T_END)
    trKQ = aligned_flow("exact")
    hatW, hatKQ = trW.W[-1] / trW.margin[-1], trKQ.W[-1] / trKQ.margin[-1]
    U_K, U_Q = aligned_bases(data)
    a = np.diag(U_K.T @ W0 @ U_Q)[: data.n]
    rot = rotated_data()
    nuc_rot = solve_svm(rot, "nuc")
    m = {"W-flow": family_coordinate(data, hatW), "KQ-flow": family_coordinate(data, hatKQ),
         "nuclear SVM": family_coordinate(data, nuc.W), "Frobenius SVM": family_coordinate(data, fro.W),
         "nuclear SVM, rotated data": family_coordinate(rot, nuc_rot.W)}
    return SVMsCoincide(W0=W0, fro=np.array(fro.W), nuc=np.array(nuc.W), hatW=hatW, hatKQ=hatKQ, a=a, m=m,
                        nuc_rot_cos=cosine(nuc_rot.W, closed_form_W(rot)),
                        nuc_rot_certificate=nuclear_certificate(rot, np.array(nuc_rot.W)),
                        nuc_value=nuc.value, fro_value=fro.value,
                        sv={k: singular_values(M) for k, M in (("W°", W0), ("Frobenius SVM", fro.W),
                                                                  ("nuclear SVM", nuc.W), ("W-flow", hatW),
                                                                  ("KQ-flow", hatKQ))},
                        log_t_W=trW.log_t, cos_W=trW.cosine_to(W0), log_t_KQ=trKQ.log_t,
                        cos_KQ=trKQ.cosine_to(W0))


def nuclear_family(data: AttentionData, m_frac: float) -> np.ndarray:
    """``W(m) = U_1 [[a_1, m], [m, a_2]] V_1^T`` with ``m = m_frac sqrt(a_1 a_2)`` (n = 2): for ``|m_frac| <= 1``
    every member has margin 1 and the optimal nuclear norm ``a_1 + a_2`` (the nuclear SVM is not unique), but
    only ``m = 0`` (W°) has the least Frobenius norm."""
    U_K, U_Q = aligned_bases(data)
    a = np.diag(U_K.T @ closed_form_W(data) @ U_Q)[: data.n]
    if data.n != 2:
        raise ValueError("nuclear_family is written for n = 2")
    m = m_frac * np.sqrt(a[0] * a[1])
    return U_K[:, :2] @ np.array([[a[0], m], [m, a[1]]]) @ U_Q[:, :2].T


def family_coordinate(data: AttentionData, W) -> float:
    """The off-diagonal coordinate ``m / sqrt(a_1 a_2)`` of ``W / mu(W)`` in the aligned bases (n = 2):
    0 for W°, in [-1, 1] for every member of :func:`nuclear_family`."""
    U_K, U_Q = aligned_bases(data)
    M = U_K.T @ direction(data, W) @ U_Q
    return float((M[0, 1] + M[1, 0]) / 2 / np.sqrt(M[0, 0] * M[1, 1]))


def family_prediction(data: AttentionData, K0, Q0) -> float:
    """The family coordinate a (K, Q)-flow from ``(K0, Q0)`` is predicted to end at (n = 2): ``cos`` of the angle in
    R^{d_e} between ``p_1`` and ``p_2``, the rows ``pi(1)``, ``pi(2)`` of ``U_K^T K0 + U_Q^T Q0``.

    Why (chapter 5, "What the loss cannot see"): while the pair-offset rows of ``U_K^T K`` stay out of play, the
    gradient in the aligned bases has only the entries ``(pi(i), pi(i))``, so row ``pi(i)`` of ``U_K^T K + U_Q^T Q``
    grows like ``exp(phi_i(t)) p_i`` and row ``pi(i)`` of ``U_K^T K - U_Q^T Q`` decays; the 2 x 2 block of
    ``U_K^T W U_Q`` becomes a multiple of the Gram matrix of ``p_1, p_2`` scaled by ``exp(phi_1), exp(phi_2)``.
    Exact for starts that keep those rows at zero (a rotation of ``K0`` in the plane of ``u^k_1, u^k_2`` with
    ``Q0 = 0``); for a random start the pair rows move early, and the prediction is off by their effect.
    """
    U_K, U_Q = aligned_bases(data)
    P = U_K.T @ np.asarray(K0, dtype=float) + U_Q.T @ np.asarray(Q0, dtype=float)
    p1, p2 = P[0], P[1]
    return float(p1 @ p2 / (np.linalg.norm(p1) * np.linalg.norm(p2)))


@dataclass(frozen=True)
class MisalignedFlow:
    """The K,Q flow on the exact data from a misaligned start (:func:`misaligned_init`).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        Saved times, ``log t``.
    gap : numpy.ndarray, shape (m,)
        Alignment gap (:func:`alignment_gap`; 0 for aligned ``K, Q``).
    cos_W0 : numpy.ndarray, shape (m,)
        ``cos(W(t), W°)``.
    sv : numpy.ndarray, shape (m, d)
        Singular values of ``W(t) / mu(t)`` (NaN while ``mu <= 0``).
    mu : numpy.ndarray, shape (m,)
        Margin ``mu(t)``.
    hatW : numpy.ndarray, shape (d, d)
        ``W / mu`` at the end.
    nuc_norm, fro_norm : float
        Nuclear and Frobenius norms of ``hatW``.
    W0_nuc, W0_fro : float
        The same norms of W°.
    m : float
        Family coordinate ``m / sqrt(a_1 a_2)`` of ``hatW`` (:func:`family_coordinate`; 0 at W°).
    m_pred : float
        Its prediction from the start, :func:`family_prediction`.
    certificate : NuclearCertificate
        The nuclear-SVM certificate of ``hatW`` (:func:`nuclear_certificate`).
    wall_time : float
        Seconds the flow took.
    """

    log_t: np.ndarray
    gap: np.ndarray
    cos_W0: np.ndarray
    sv: np.ndarray
    mu: np.ndarray
    hatW: np.ndarray
    nuc_norm: float
    fro_norm: float
    W0_nuc: float
    W0_fro: float
    m: float
    m_pred: float
    certificate: NuclearCertificate
    wall_time: float


def compute_misaligned(theta: float, scale: float = SCALE, plane: tuple[int, int] = (0, 2),
                       log_t_end: float = LOG_T_1E300, rtol: float = 1e-8,
                       omega: tuple[float, ...] = OMEGA_PATTERN) -> MisalignedFlow:
    """KQ flow on the exact data from :func:`misaligned_init`: alignment gap, cosine with W° and singular values
    of ``W(t) / mu(t)`` over time, and the limit's family coordinate and certificate (cached).

    Returns
    -------
    MisalignedFlow
    """
    return _compute_misaligned(float(theta), float(scale), tuple(int(p) for p in plane), float(log_t_end),
                               float(rtol), tuple(float(w) for w in omega))


@memo
def _compute_misaligned(theta: float, scale: float, plane: tuple[int, int], log_t_end: float,
                        rtol: float, omega: tuple[float, ...] = OMEGA_PATTERN) -> MisalignedFlow:
    data = exact_data()
    U_K, U_Q = aligned_bases(data)
    init = misaligned_init(theta, scale, plane, omega=omega)
    tr = gradient_flow(data, "KQ", init, log_t_end=log_t_end, rtol=rtol)
    gap = np.array([alignment_gap(K, Q, U_K, U_Q) for K, Q in zip(tr.params["K"], tr.params["Q"])])
    ok = tr.margin > 0
    sv = np.full((len(tr), data.d), np.nan)
    sv[ok] = singular_values(tr.W[ok] / tr.margin[ok, None, None])
    W0 = closed_form_W(data)
    hat = tr.W[-1] / tr.margin[-1]
    return MisalignedFlow(log_t=tr.log_t, gap=gap, cos_W0=tr.cosine_to(W0), sv=sv, mu=tr.margin, hatW=hat,
                          nuc_norm=float(np.linalg.norm(hat, "nuc")), fro_norm=float(np.linalg.norm(hat)),
                          W0_nuc=float(np.linalg.norm(W0, "nuc")), W0_fro=float(np.linalg.norm(W0)),
                          m=family_coordinate(data, hat), m_pred=family_prediction(data, *init),
                          certificate=nuclear_certificate(data, hat), wall_time=tr.wall_time)


# -- generic starts: what the loss cannot see ---------------------------------------------------------------------

@dataclass(frozen=True)
class InitRun:
    """One flow of :func:`init_study`, from ``(K0, Q0) = default_init(data, "KQ", scale, seed)`` on :func:`exact_data`.

    Attributes
    ----------
    param : str
        "KQ" (the (K, Q)-flow from ``(K0, Q0)``) or "W" (the W-flow from the same ``W(0) = K0 Q0^T``).
    scale : float
        Entry scale of the start (entries ``scale * N(0, 1)``).
    seed : int
        Seed of the start.
    m_pred : float
        :func:`family_prediction` of the (K, Q) start (the same number for both ``param``).
    m : float
        Family coordinate of ``W / mu`` at the end (:func:`family_coordinate`; 0 at W°).
    certificate : NuclearCertificate
        Nuclear-SVM certificate of ``W / mu`` at the end (gap, dual bound, distance to W°).
    fro_gap : float
        Frobenius-norm gap ``||W / mu||_F / ||W°||_F - 1`` at the end (0 only at W°, the Frobenius SVM's solution).
    gap_vfree : float
        :func:`alignment_gap` at the end ("KQ"); NaN for "W".
    log_t_end : float
        The horizon ``ln t``.
    """

    param: str
    scale: float
    seed: int
    m_pred: float
    m: float
    certificate: NuclearCertificate
    fro_gap: float
    gap_vfree: float
    log_t_end: float


def init_run(job: tuple) -> InitRun:
    """One run of :func:`init_study`: ``job = (param, scale, seed, log_t_end)``."""
    param, scale, seed, log_t_end = job
    data = exact_data()
    U_K, U_Q = aligned_bases(data)
    K0, Q0 = default_init(data, "KQ", float(scale), seed=int(seed))
    init = (K0, Q0) if param == "KQ" else K0 @ Q0.T
    tr = gradient_flow(data, param, init, log_t_end=float(log_t_end))
    hat = tr.W[-1] / tr.margin[-1]
    gap = (alignment_gap(tr.params["K"][-1], tr.params["Q"][-1], U_K, U_Q) if param == "KQ" else float("nan"))
    return InitRun(param=str(param), scale=float(scale), seed=int(seed), m_pred=family_prediction(data, K0, Q0),
                   m=family_coordinate(data, hat), certificate=nuclear_certificate(data, hat),
                   fro_gap=float(np.linalg.norm(hat) / np.linalg.norm(closed_form_W(data)) - 1.0),
                   gap_vfree=float(gap), log_t_end=float(log_t_end))


@dataclass(frozen=True)
class InitStudy:
    """:func:`init_study`: every run, in the order (param, scale, seed).

    Attributes
    ----------
    runs : tuple of InitRun
    """

    runs: tuple

    def select(self, param: str, scale: float | None = None) -> tuple:
        """The runs of one parameterisation (and one scale)."""
        return tuple(r for r in self.runs if r.param == param and (scale is None or r.scale == scale))

    def values(self, field: str, param: str, scale: float | None = None) -> np.ndarray:
        """One field of :class:`InitRun` (or of its ``certificate``) over :meth:`select`, shape (k,)."""
        runs = self.select(param, scale)
        if field in ("margin", "nuc_gap", "dual_bound", "dual_op", "dist"):
            return np.array([getattr(r.certificate, field) for r in runs])
        return np.array([getattr(r, field) for r in runs])


@memo
def init_study(seeds: tuple = INIT_SEEDS, scales: tuple = INIT_SCALES, log_t_end: float = INIT_LOG_T,
               workers: int | None = None) -> InitStudy:
    """(K, Q) from generic starts ``default_init(data, "KQ", scale, seed)`` on :func:`exact_data` (Assumption 4),
    and the W-flow from the same ``W(0) = K0 Q0^T``, to ``ln t = log_t_end`` (default 1e30), on the process pool.

    Observed (the chapter asserts it from these runs): every (K, Q) limit solves the nuclear SVM by its
    certificate, at a family coordinate set by the start (:func:`family_prediction`), while every W-flow ends at
    W°. 2 x 20 x 2 = 80 flows, about 0.2 s each.

    Returns
    -------
    InitStudy
    """
    jobs = [(p, float(s), int(k), float(log_t_end)) for p in ("KQ", "W") for s in scales for k in seeds]
    return InitStudy(runs=tuple(pool_map(init_run, jobs, workers)))


@dataclass(frozen=True)
class AlignedGradient:
    """Lemma 5.1's gradient at an aligned point, written in the aligned bases (:func:`aligned_gradient`).

    Attributes
    ----------
    F : numpy.ndarray, shape (d, d)
        ``U_K^T (-grad_W L) U_Q`` at ``K = U_K Diag(xi_k) V^T``, ``Q = U_Q Diag(xi_q) V^T``.
    coef : numpy.ndarray, shape (n,)
        The display's coefficients ``ell_i ||psi_i|| ||z_i|| / n``, ``psi_i = X_i^T Sigma(g_i) gamma_i``.
    off_diag : float
        Relative off-diagonal mass of ``F``: 0 when ``-grad_W L`` is a combination of ``u^k_pi(i) u^q_pi(i)^T``.
    diag_error : float
        ``max_i |F_pi(i)pi(i) - coef_i| / max coef``.
    K_off_diag : float
        Relative off-diagonal mass of ``U_K^T (-grad_K L) V``: 0 when ``dK/dt`` keeps the aligned form.
    psi_cos : numpy.ndarray, shape (n,)
        ``cos(psi_i, x_i,opt)`` (eq. (40): 1).
    """

    F: np.ndarray
    coef: np.ndarray
    off_diag: float
    diag_error: float
    K_off_diag: float
    psi_cos: np.ndarray


def _rel_off(M: np.ndarray) -> float:
    return float(np.linalg.norm(M - np.diag(np.diag(M))) / np.linalg.norm(M))


def aligned_gradient(data: AttentionData | None = None, seed: int = 0) -> AlignedGradient:
    """The gradient of the loss at a random aligned point (``xi_k, xi_q`` uniform in [0.2, 1.2], a random
    orthogonal ``V``) of ``data`` (default: :func:`rotated_data`), against the display of Lemma 5.1's proof.

    Returns
    -------
    AlignedGradient
    """
    data = rotated_data() if data is None else data
    rng = np.random.default_rng(seed)
    U_K, U_Q = aligned_bases(data)
    V = rotation(seed + 1, data.d)
    xi_k, xi_q = rng.uniform(0.2, 1.2, data.d), rng.uniform(0.2, 1.2, data.d)
    K, Q = U_K @ np.diag(xi_k) @ V.T, U_Q @ np.diag(xi_q) @ V.T
    W = K @ Q.T
    G = -loss_grad(data, W)
    s = attention(data, W)
    Sg = s * (data.gamma - np.sum(s * data.gamma, axis=1, keepdims=True))   # Sigma(g_i) gamma_i, eq. (22)
    psi = np.einsum("nld,nl->nd", data.X, Sg)
    ell = np.exp(-np.sum(s * data.gamma, axis=1))
    coef = ell * np.linalg.norm(psi, axis=1) * np.linalg.norm(data.z, axis=1) / data.n
    F = U_K.T @ G @ U_Q
    xo = data.X[np.arange(data.n), data.opt]
    return AlignedGradient(F=F, coef=coef, off_diag=_rel_off(F),
                           diag_error=float(np.abs(np.diag(F)[: data.n] - coef).max() / coef.max()),
                           K_off_diag=_rel_off(U_K.T @ (G @ Q) @ V),
                           psi_cos=np.array([cosine(p, x) for p, x in zip(psi, xo)]))


# -- why a misaligned start is forgotten ------------------------------------------------------------------------

@dataclass(frozen=True)
class MisalignmentMechanism:
    """Rows of ``U_K^T K`` and ``U_Q^T Q`` along chapter 5's misaligned K,Q flow (rotation in the plane (1, 3)).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
    row_mis, row_grow : numpy.ndarray, shape (m,)
        Norms of the misaligned row ``r_3`` (the direction no optimal token uses) and of the growing row ``r_1`` of
        ``U_K^T K``.
    cos_rows : numpy.ndarray, shape (m,)
        ``|cos|`` of the angle in R^{d_e} between ``r_1`` and ``r_3``.
    cos_q_mis : numpy.ndarray, shape (m,)
        ``|cos|`` between ``r_3`` and the growing row ``q_1`` of ``U_Q^T Q`` (``W~_31 = r_3 . q_1``).
    offdiag : numpy.ndarray, shape (m,)
        Relative off-diagonal mass of ``U_K^T K K^T U_K``.
    offdiag_fixed_angle : numpy.ndarray, shape (m,)
        The same if ``r_1`` and ``r_3`` had kept their initial angle (``offdiag * cos_rows[0] / cos_rows``): what
        the growth of ``r_1`` alone explains.
    """

    log_t: np.ndarray
    row_mis: np.ndarray
    row_grow: np.ndarray
    cos_rows: np.ndarray
    cos_q_mis: np.ndarray
    offdiag: np.ndarray
    offdiag_fixed_angle: np.ndarray


@memo
def misalignment_mechanism(theta: float = np.pi / 8, log_t_end: float = LOG_T_1E300,
                           rtol: float = 1e-8) -> MisalignmentMechanism:
    """Chapter 5's misaligned flow at angle ``theta``, resolved into the rows that grow and the row that does not.

    Uses :func:`misaligned_init` on :func:`exact_data`.
    """
    theta = check_scalar(theta, "theta")
    data = exact_data()
    U_K, U_Q = aligned_bases(data)
    traj = gradient_flow(data, "KQ", misaligned_init(theta), log_t_end=float(log_t_end), rtol=float(rtol))
    A = np.einsum("da,mde->mae", U_K, traj.params["K"])  # U_K^T K, (m, d, d_e)
    B = np.einsum("da,mde->mae", U_Q, traj.params["Q"])
    r1, r3, q1 = A[:, 0], A[:, 2], B[:, 0]

    def abs_cos(a, b):
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        ok = (na > 0) & (nb > 0)
        return np.where(ok, np.abs(np.einsum("me,me->m", a, b)) / np.where(ok, na * nb, 1.0), 0.0)

    M = A @ np.swapaxes(A, 1, 2)
    off = np.linalg.norm(M - np.einsum("mii->mi", M)[:, :, None] * np.eye(data.d), axis=(1, 2))
    offdiag = off / np.linalg.norm(M, axis=(1, 2))
    cos_rows = abs_cos(r1, r3)
    with np.errstate(divide="ignore", invalid="ignore"):
        fixed = np.where(cos_rows > 0, offdiag * cos_rows[0] / cos_rows, np.nan)
    return MisalignmentMechanism(log_t=traj.log_t, row_mis=np.linalg.norm(r3, axis=1),
                                 row_grow=np.linalg.norm(r1, axis=1), cos_rows=cos_rows,
                                 cos_q_mis=abs_cos(r3, q1), offdiag=offdiag, offdiag_fixed_angle=fixed)
