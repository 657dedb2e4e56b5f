"""Chapter 7 — errata E1-E10 of the paper (arXiv v1), each with a numerical check, and open questions.

Every ``check_eN`` returns a small dict of numbers that shows the printed statement failing (where it can fail
numerically) and the corrected one holding; ``tests/claims/test_ch7.py`` asserts them. Flows are cached.

The chapter's computations (no drawing: :mod:`attnbook.figures.ch7` draws them).
"""
from __future__ import annotations

import numpy as np

from attnlib.assumptions import ASSUMPTIONS, check_assumptions
from attnlib.data import AttentionData, make_diagonal_data, make_generic_data, make_orthogonal_data
from attnlib.diagnostics import alignment_error, beta_velocity, check_sinh_closed_form, relative_error, right_basis
from attnlib.factorization import padded_diag
from attnlib.flow import Trajectory, aligned_bases, default_init, gradient_flow
from attnlib.model import attention, exp_loss, loss_grad_beta, min_loss
from attnlib.svm import InfeasibleSVMError, solve_selection_svm, solve_svm
from ._store import memo

#: Widget slider: size of the score offset that breaks Assumption 2 in the E9 experiment.
E9_EPS = (0.0, 0.01, 0.03, 0.1, 0.3, 0.5)


def _Sigma_gamma(data: AttentionData, W) -> np.ndarray:
    """``Sigma(g_i) gamma_i`` for every sample, shape (n, L) (eq. (22))."""
    s = attention(data, W)
    return s * (data.gamma - np.sum(s * data.gamma, axis=1, keepdims=True))


def check_e1() -> dict:
    """E1: ``gamma_i = y_i X_i v`` has shape (L,); the printed ``y_i X_i^T v`` is not even defined (d != L)."""
    data = make_generic_data(4, 3, 5, seed=0, equal_scores=True)
    i = 0
    correct = data.y[i] * data.X[i] @ data.v
    try:
        data.y[i] * data.X[i].T @ data.v
        printed = "defined"
    except ValueError as exc:
        printed = f"ValueError: {exc}"
    return {"shape_X": data.X[i].shape, "shape_correct": correct.shape, "matches_library": np.allclose(
        correct, data.gamma[i]), "printed": printed}


@memo
def _e2_data() -> AttentionData:
    return make_generic_data(4, 3, 4, seed=0, equal_scores=True)


def check_e2() -> dict:
    """E2: Assumptions 1, 2, 3 hold but diagonal separability fails, so the l1-SVM is infeasible."""
    data = _e2_data()
    rep = check_assumptions(data)
    try:
        solve_svm(data, "l1")
        l1 = "feasible"
    except InfeasibleSVMError:
        l1 = "InfeasibleSVMError"
    fro = solve_svm(data, "fro")
    return {"holds": {k: rep.holds(k) for k in ASSUMPTIONS}, "l1": l1, "fro_value": fro.value}


@memo
def compute_e2_flows() -> dict:
    """The diagonal (xi_k, xi_q)-flow from init (5) and the W-flow on the E2 data.

    The diagonal flow converges to a *finite* stationary point (the loss has a minimiser over diagonal W), so it is
    run to t = 1e4 only: far enough for the gradient to vanish to ~1e-11. The W-flow runs to t = 1e300.

    Returns
    -------
    dict
        ``"xi"``/``"W"``: ``{"t", "excess", "margin", "norm"}``; ``"grad_end"``: ``||grad_beta L||`` at the end of the
        diagonal flow; ``"min_loss"``.
    """
    data = _e2_data()
    xi = gradient_flow(data, "xi", default_init(data, "xi", 0.1, seed=None), t_end=1e4)
    W = gradient_flow(data, "W", np.zeros((data.d, data.d)))
    beta_end = np.diag(xi.W[-1])
    out = {"grad_end": float(np.linalg.norm(loss_grad_beta(data, beta_end))), "min_loss": min_loss(data)}
    for name, tr in (("xi", xi), ("W", W)):
        out[name] = {"log_t": tr.log_t, "excess": tr.excess_loss, "margin": tr.margin,
                     "norm": np.linalg.norm(tr.W, axis=(1, 2))}
    return out


def check_e3(angle: float = 0.3) -> dict:
    """E3: eq. (41) ``||psi_i|| ||z_i|| = sign(<x_opt, z_i>) <psi_i, z_i>`` uses Assumption 4 **(ii)** (query
    parallel to the optimal token). Checked at an aligned ``W`` on Assumption 4 data, then with the queries
    rotated by ``angle`` (ii fails).

    Returns
    -------
    dict
        ``"gap_ii"``: max over samples of ``| ||psi|| ||z|| - sign <psi, z> |`` with (ii); ``"gap_rotated"``: the
        same with rotated queries.
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
    out["assumption4_rotated"] = check_assumptions(
        AttentionData(base.X, _rotate_queries(base, angle), base.y, base.v)).holds("4")
    return out


def _rotate_queries(data: AttentionData, angle: float) -> np.ndarray:
    """Tilt each query by ``angle`` towards the last coordinate (so it is no longer parallel to x_opt)."""
    z = np.array(data.z)
    c, s = np.cos(angle), np.sin(angle)
    last = np.zeros(data.d)
    last[-1] = 1.0
    return c * z + s * np.linalg.norm(z, axis=1, keepdims=True) * last * np.array([[1.0], [-1.0]])[: data.n]


def check_e4(d: int = 3, d_e: int = 5) -> dict:
    """E4: ``K = [Diag(xi_k), 0]`` (d x d_e, zero-padded, :func:`attnlib.factorization.padded_diag`) gives
    ``K Q^T = Diag(xi_k * xi_q)``; ``diag`` extracts."""
    rng = np.random.default_rng(0)
    xi_k, xi_q = rng.standard_normal(d), rng.standard_normal(d)
    K, Q = padded_diag(xi_k, d_e), padded_diag(xi_q, d_e)
    W_err = float(np.abs(K @ Q.T - np.diag(xi_k * xi_q)).max())
    return {"K_shape": K.shape, "W_is_Diag": W_err <= 1e-15 * max(1.0, np.abs(xi_k * xi_q).max()), "W_err": W_err,
            "diag_of_vector_shape": np.diag(xi_k).shape, "diag_of_matrix_shape": np.diag(K @ Q.T).shape}


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


def check_e5(j: int = 1, scale: float = 200.0) -> dict:
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
    return {"measured": measured, "corrected": corrected, "wrong_index": np.array(wrong_index),
            "wrong_sign": wrong_sign, "selection": sel, "opt": data.opt}


def check_e6(a: float = 0.7, omega0: float = 0.3) -> dict:
    """E6: under init (5), ``beta' = -2 sqrt(beta^2 + omega_0^4) * grad_beta L`` (no extra 1/n).

    ``beta'`` is computed (:func:`attnlib.diagnostics.beta_velocity`) from the library's ``(xi_k, xi_q)`` gradients at
    a point on the conserved hyperbola
    ``xi_k^2 - xi_q^2 = 2 omega_0^2`` (``xi_k = sqrt2 omega_0 cosh a``, ``xi_q = sqrt2 omega_0 sinh a``).

    Returns
    -------
    dict
        ``"ratio_corrected"``, ``"ratio_printed"``: ``beta'`` divided componentwise by each formula (1 means equal).
    """
    data = make_diagonal_data()
    w = omega0 * np.ones(data.d)
    xi_k = np.sqrt(2) * w * np.cosh(a * np.arange(1, data.d + 1) / data.d)
    xi_q = np.sqrt(2) * w * np.sinh(a * np.arange(1, data.d + 1) / data.d)
    beta_dot, corrected = beta_velocity(data, xi_k, xi_q, w)
    printed = corrected / data.n
    keep = np.abs(corrected) > 1e-12
    return {"ratio_corrected": beta_dot[keep] / corrected[keep], "ratio_printed": beta_dot[keep] / printed[keep],
            "n": data.n}


def check_e7(step: float = 1e-3) -> dict:
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
    out = {"n_active": int(active.sum())}
    for name, v in (("correct", b), ("printed", -b)):
        s_dot_v = (-data.B[active]) @ v
        out[name] = {"s_dot_v": s_dot_v, "max_g_after_step": float(g(b + step * v)[active].max())}
    return out


@memo
def _e8_flow() -> Trajectory:
    data = make_diagonal_data()
    return gradient_flow(data, "xi", default_init(data, "xi", 0.1, seed=None), t_end=1e6)


def check_e8() -> dict:
    """E8: (C1) sums over all pairs (lambda in R^{n(L-1)}); the constant in phi is 2/n; (vi) needs -grad.

    Returns
    -------
    dict
        ``"dual_shape"``, ``"n_pairs"``, ``"kkt_all_pairs"``: ``||B^T lambda - sign(beta)||`` on the support using
        all pairs; ``"kkt_first_pair_only"``: the same using one pair per sample (``sum_{i=1}^n``);
        ``"sinh_2n"``/``"sinh_4n"``: relative error of ``beta(t) = omega_0^2 sinh(B phi)`` with the 2/n constant and
        with 4/n; ``"inner_neg_grad"``/``"inner_grad"``: min over the flow of ``<-grad, beta_f>`` and max of
        ``<grad, beta_f>`` (``beta_f`` = the l1-SVM solution).
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
    return {"dual_shape": lam.shape, "n_pairs": len(data.pairs),
            "kkt_all_pairs": float(np.linalg.norm(all_pairs[supp] - np.sign(sol.beta[supp]))),
            "kkt_first_pair_only": float(np.linalg.norm(first_only[supp] - np.sign(sol.beta[supp]))),
            "sinh_2n": err(w2 * np.sinh(Bphi)), "sinh_4n": err(w2 * np.sinh(2 * Bphi)),
            "inner_neg_grad": float(np.min(-inner)), "inner_grad": float(np.max(inner))}


@memo
def e9_data(eps: float) -> AttentionData:
    """Assumption 4 data (:func:`attnlib.make_orthogonal_data`) with ``v`` tilted by ``eps`` towards the pair
    offsets: the two tokens of each pair now score ``c gamma_opt +- eps * y_i * u``, so Assumption 2 fails for
    ``eps != 0`` while Assumption 4 still holds."""
    base = make_orthogonal_data()
    v = np.array(base.v)
    v[base.n] += eps
    return AttentionData(base.X, base.z, base.y, v)


@memo
def compute_e9(eps: float) -> dict:
    """Lemma 5.1 without Assumption 2: the (K, Q)-flow from an aligned start on :func:`e9_data`, t to 1e100.

    Returns
    -------
    dict
        ``"log_t"``, ``"err"`` (alignment error of Def. 5.1 along the flow), ``"holds"`` (assumptions),
        ``"cos_nuc"`` (final cosine with the W_*-SVM).
    """
    data = e9_data(eps)
    U_K, U_Q = aligned_bases(data)
    init = default_init(data, "KQ", 0.1, seed=None, kind="aligned")
    V = right_basis(init[0], U_K)
    tr = gradient_flow(data, "KQ", init, t_end=1e100)
    err = np.array([alignment_error(K, Q, U_K, U_Q, V) for K, Q in zip(tr.params["K"], tr.params["Q"])])
    rep = check_assumptions(data)
    return {"log_t": tr.log_t, "err": err, "holds": {k: rep.holds(k) for k in ASSUMPTIONS},
            "cos_nuc": tr.cosine_to(solve_svm(data, "nuc").W)[-1]}


@memo
def check_e10() -> dict:
    """E10: Lemma A.1's sinh formula also holds for a non-constant omega_0 (the paper proves omega_0 = alpha 1);
    ``l'(u) = -l(u)`` for the exponential loss (the paper's ``l_i'`` notation).

    The check is :func:`attnlib.diagnostics.check_sinh_closed_form` (chapter 3 runs it with mixed signs and zero
    patterns, :func:`attnbook.experiments.ch3.compute_e10`).

    Returns
    -------
    dict
        ``"omega0"`` (d,), ``"sinh_error"`` (max relative error along an xi-flow to t = 1e6),
        ``"conservation"`` (max drift of ``xi_k^2 - xi_q^2``), ``"dloss"``: ``l'(u) + l(u)`` by finite differences.
    """
    data = make_diagonal_data()
    r = check_sinh_closed_form(data, default_init(data, "xi", 0.1, seed=1), t_end=1e6)
    u, h = 0.7, 1e-6
    dl = (np.exp(-(u + h)) - np.exp(-(u - h))) / (2 * h)
    return {"omega0": r.omega0, "sinh_error": r.max_err, "conservation": r.conservation,
            "dloss": float(dl + np.exp(-u))}
