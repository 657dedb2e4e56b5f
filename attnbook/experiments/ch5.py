"""Figures of chapter 5, "The aligned general case" (paper §5, appendix A.6-A.7).

Data: :func:`attnlib.make_orthogonal_data` (Assumption 4 with exactly representable numbers) and the same data
rotated by a random orthogonal matrix (still Assumption 4, no longer exactly representable). Flows and SVMs are
cached, so each figure and each widget frame only draws.

The chapter's computations (no drawing: :mod:`attnbook.figures.ch5` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib._validate import check_scalar
from attnlib.data import AttentionData, make_orthogonal_data
from attnlib.diagnostics import alignment_error, direction, right_basis, singular_values
from attnlib.flow import Trajectory, aligned_bases, default_init, gradient_flow
from attnlib.model import cosine, margin
from attnlib.svm import solve_svm
from ._store import memo

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


def alignment_gap(K, Q, U_K, U_Q) -> float:
    """A V-free alignment measure: the largest relative off-diagonal mass of ``U_K^T K K^T U_K``,
    ``U_Q^T Q Q^T U_Q`` and ``U_K^T K Q^T U_Q`` (all three are diagonal for aligned ``K, Q``, Def. 5.1)."""
    out = []
    for M in (U_K.T @ K @ K.T @ U_K, U_Q.T @ Q @ Q.T @ U_Q, U_K.T @ K @ Q.T @ U_Q):
        nrm = np.linalg.norm(M)
        out.append(0.0 if nrm == 0 else float(np.linalg.norm(M - np.diag(np.diag(M))) / nrm))
    return max(out)


def misaligned_init(theta: float, scale: float = SCALE, plane: tuple[int, int] = (0, 2),
                    data: AttentionData | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``K0 = R_theta U_K Diag(sqrt(2) omega_0)``, ``Q0 = 0``, with ``omega_0 = scale * (1, 1, .5, .5)``.

    ``R_theta`` rotates by ``theta`` in the plane of the aligned-basis columns ``plane`` (default: ``u^k_1``, the
    direction of sample 1's optimal token, and ``u^k_3``, a direction no optimal token uses). ``theta = 0`` is the
    aligned initialisation; ``theta = pi/2`` swaps the two directions and is aligned again. ``W(0) = 0`` always.
    """
    data = exact_data() if data is None else data
    U_K, _ = aligned_bases(data)
    a, b = U_K[:, plane[0]], U_K[:, plane[1]]
    c, s = np.cos(theta), np.sin(theta)
    R = np.eye(data.d) + (c - 1) * (np.outer(a, a) + np.outer(b, b)) + s * (np.outer(b, a) - np.outer(a, b))
    omega0 = scale * np.array(OMEGA_PATTERN[: data.d])
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
    """Optimality certificate of a matrix ``W`` for the nuclear SVM on Assumption-4 data, against W° (a solution).

    Attributes
    ----------
    margin : float
        The margin of ``W`` (1 at a solution).
    nuc_gap : float
        Its nuclear-norm gap ``||W||_* / ||W°||_* - 1`` (0 exactly on the solution set, since
        ``||W°||_* = sum_i a_i`` is the optimal value).
    dist : float
        Its relative distance ``||W - W°||_F / ||W°||_F`` to W°.
    """

    margin: float
    nuc_gap: float
    dist: float


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
                        nuc_rot_certificate=_nuclear_certificate(rot, np.array(nuc_rot.W)),
                        nuc_value=nuc.value, fro_value=fro.value,
                        sv={k: singular_values(M) for k, M in (("W°", W0), ("Frobenius SVM", fro.W),
                                                                  ("nuclear SVM", nuc.W), ("W-flow", hatW),
                                                                  ("KQ-flow", hatKQ))},
                        log_t_W=trW.log_t, cos_W=trW.cosine_to(W0), log_t_KQ=trKQ.log_t,
                        cos_KQ=trKQ.cosine_to(W0))


def _nuclear_certificate(data: AttentionData, W: np.ndarray) -> NuclearCertificate:
    """Optimality certificate of ``W`` for the nuclear SVM on Assumption-4 data, against W° (a solution)."""
    W0 = closed_form_W(data)
    return NuclearCertificate(margin=float(margin(data, W)),
                              nuc_gap=float(np.linalg.norm(W, "nuc") / np.linalg.norm(W0, "nuc") - 1.0),
                              dist=float(np.linalg.norm(W - W0) / np.linalg.norm(W0)))


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
    wall_time: float


def compute_misaligned(theta: float, scale: float = SCALE, plane: tuple[int, int] = (0, 2),
                       log_t_end: float = LOG_T_1E300, rtol: float = 1e-8) -> MisalignedFlow:
    """KQ flow on the exact data from :func:`misaligned_init`: alignment gap, cosine with W° and singular values
    of ``W(t) / mu(t)`` over time (cached).

    Returns
    -------
    MisalignedFlow
    """
    return _compute_misaligned(float(theta), float(scale), tuple(int(p) for p in plane), float(log_t_end),
                               float(rtol))


@memo
def _compute_misaligned(theta: float, scale: float, plane: tuple[int, int], log_t_end: float,
                        rtol: float) -> MisalignedFlow:
    data = exact_data()
    U_K, U_Q = aligned_bases(data)
    tr = gradient_flow(data, "KQ", misaligned_init(theta, scale, plane), log_t_end=log_t_end, rtol=rtol)
    gap = np.array([alignment_gap(K, Q, U_K, U_Q) for K, Q in zip(tr.params["K"], tr.params["Q"])])
    ok = tr.margin > 0
    sv = np.full((len(tr), data.d), np.nan)
    sv[ok] = singular_values(tr.W[ok] / tr.margin[ok, None, None])
    W0 = closed_form_W(data)
    hat = tr.W[-1] / tr.margin[-1]
    return MisalignedFlow(log_t=tr.log_t, gap=gap, cos_W0=tr.cosine_to(W0), sv=sv, mu=tr.margin, hatW=hat,
                          nuc_norm=float(np.linalg.norm(hat, "nuc")), fro_norm=float(np.linalg.norm(hat)),
                          W0_nuc=float(np.linalg.norm(W0, "nuc")), W0_fro=float(np.linalg.norm(W0)),
                          wall_time=tr.wall_time)


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
