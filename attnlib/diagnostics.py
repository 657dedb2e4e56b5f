"""Diagnostics along a flow: directions, SVM agreement, conserved quantities, the sinh closed form, alignment,
and the approximate-KKT residuals of the paper's proof of Theorem 4.1 (appendix A.5)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_array, check_same_data, check_scalar, data_fingerprint
from .data import AttentionData, check_data
from .flow import FlowStallError, Trajectory, gradient_flow
from .kernels import unit_scaled
from scipy.integrate import solve_ivp

from .model import loss_grad_beta, loss_grad_xi, margin
from .svm import SVMSolution, selection_pairs

__all__ = [
    "direction",
    "svm_cosine",
    "svm_distance",
    "singular_values",
    "conserved_quantity",
    "conservation_error",
    "path_error",
    "sinh_closed_form",
    "SinhClosedFormCheck",
    "check_sinh_closed_form",
    "diagonal_network_flow",
    "alignment_error",
    "right_basis",
    "KKTResiduals",
    "kkt_residuals",
]


def _check_traj(traj, name: str = "traj") -> Trajectory:
    if not isinstance(traj, Trajectory):
        raise TypeError(f"{name} must be an attnlib.Trajectory (from gradient_flow or gradient_descent); got "
                        f"{type(traj).__name__}")
    return traj


def _check_sol(sol, traj: Trajectory, name: str = "sol") -> SVMSolution:
    """``sol`` must be an SVMSolution computed on ``traj``'s data set."""
    if not isinstance(sol, SVMSolution):
        raise TypeError(f"{name} must be an attnlib.SVMSolution (from solve_svm or solve_selection_svm); got "
                        f"{type(sol).__name__}")
    d = traj.data.d
    if sol.W.shape != (d, d):
        raise ValueError(f"{name} must be an SVM solution of the trajectory's data, with W of shape (d, d) = "
                         f"({d}, {d}); got W of shape {sol.W.shape}")
    check_same_data(traj.data, sol.data_fingerprint, name, "an SVM solution")
    return sol


def direction(data: AttentionData, W) -> np.ndarray:
    """Margin-normalised direction ``W / mu(W)`` (Def. 4.1), shape (d, d).

    Raises
    ------
    ValueError
        If ``mu(W) <= 0`` (W does not yet rank every optimal token first), where the direction is undefined.
    """
    check_data(data)
    mu = margin(data, W)
    if mu <= 0:
        raise ValueError(f"the margin mu(W) = {mu:.4g} is not positive: W does not separate the optimal tokens "
                         f"yet, so W / mu(W) is undefined; use a later time")
    return np.asarray(W, dtype=float) / mu


def svm_cosine(traj: Trajectory, sol: SVMSolution) -> np.ndarray:
    """Cosine of ``W(t)`` with an SVM solution, shape (m,) (NaN where ``W(t) = 0``).

    Raises
    ------
    ValueError
        If ``sol`` was computed on another data set than ``traj``.
    """
    _check_sol(sol, _check_traj(traj))
    return traj.cosine_to(sol.W)


def svm_distance(traj: Trajectory, sol: SVMSolution) -> np.ndarray:
    """Relative distance ``||W(t)/mu(t) - W_svm|| / ||W_svm||`` of margin-normalised directions, shape (m,)
    (NaN where ``mu <= 0``). Both have margin 1, so this is 0 exactly when the direction solves the SVM.

    ``mu`` is the margin over the SVM's own constraints: :func:`attnlib.margin` (over ``data.opt``) for a
    :func:`attnlib.solve_svm` solution, the selection margin ``min (x_{i,sel(i)} - x_il)^T W z_i`` over
    :func:`attnlib.selection_pairs` for a :func:`attnlib.solve_selection_svm` solution.

    Raises
    ------
    ValueError
        If ``sol`` was computed on another data set than ``traj``.
    """
    _check_sol(sol, _check_traj(traj))
    return np.linalg.norm(_svm_direction(traj, sol) - sol.W, axis=(1, 2)) / np.linalg.norm(sol.W)


def _svm_direction(traj: Trajectory, sol: SVMSolution) -> np.ndarray:
    """``W(t) / mu(t)`` with ``mu`` the margin over ``sol``'s constraints, shape (m, d, d); NaN where ``mu <= 0``."""
    if sol.selection is None:
        return traj.direction()
    data, sel = traj.data, sol.selection
    i, l = selection_pairs(data, sel).T
    mu = np.min(np.einsum("kd,mde,ke->mk", data.X[i, sel[i]] - data.X[i, l], traj.W, data.z[i]), axis=1)
    out = np.full_like(traj.W, np.nan)
    ok = mu > 0
    out[ok] = traj.W[ok] / mu[ok, None, None]
    return out


def singular_values(W) -> np.ndarray:
    """Singular values of ``W`` (d, d) or of each matrix of a stack (m, d, d), descending."""
    W = check_array(W, "W", expected="a matrix (d, d) or a stack of matrices (m, d, d)")
    if W.ndim not in (2, 3) or 0 in W.shape:
        raise ValueError(f"W must be a matrix (d, d) or a stack of matrices (m, d, d); got shape {W.shape}")
    return np.linalg.svd(W, compute_uv=False)


def conserved_quantity(traj: Trajectory) -> np.ndarray:
    """The gradient-flow invariant: ``K^T K - Q^T Q`` (m, d_e, d_e) for "KQ", ``xi_k^2 - xi_q^2`` (m, d) for "xi".

    Raises
    ------
    ValueError
        For "W" and "beta", which have no such invariant.
    """
    p = _check_traj(traj).params
    if traj.param == "KQ":
        K, Q = p["K"], p["Q"]
        return np.einsum("mij,mik->mjk", K, K) - np.einsum("mij,mik->mjk", Q, Q)
    if traj.param == "xi":
        return p["xi_k"] ** 2 - p["xi_q"] ** 2
    raise ValueError(f"only 'KQ' and 'xi' flows conserve a quantity; this trajectory has param={traj.param!r}")


def conservation_error(traj: Trajectory) -> np.ndarray:
    """``max |C(t) - C(0)| / max(|C(0)|, ||theta(t)||^2)`` over entries, shape (m,): drift of the invariant
    relative to the size of the terms that cancel in it; 0 where nothing moved (e.g. a flow resting at
    ``xi = (0, 0)``, where both are 0)."""
    C = conserved_quantity(traj)
    size = np.max([np.abs(a).reshape(len(a), -1).max(axis=1) ** 2 for a in traj.params.values()], axis=0)
    scale = np.maximum(np.abs(C[0]).max(), size)
    drift = np.abs(C - C[0]).reshape(len(C), -1).max(axis=1)
    return np.where(drift == 0, 0.0, drift / np.where(scale == 0, 1.0, scale))


def path_error(traj: Trajectory, ref: Trajectory) -> np.ndarray:
    """Relative error of the raw parameters of ``traj`` against ``ref`` at each saved time, shape (m,).

    ``||theta(t) - theta_ref(t)|| / ||theta_ref(t)||`` over all parameters stacked; 0 where both are exactly
    zero (e.g. ``W(0) = 0``). Both trajectories must share ``param`` and saved times.

    Raises
    ------
    ValueError
        If the parameterisations or the saved times differ.
    """
    _check_traj(traj)
    _check_traj(ref, "ref")
    if traj.param != ref.param or not np.array_equal(traj.log_t, ref.log_t):
        raise ValueError(f"ref must be a trajectory of the same param saved at the same times as traj; got "
                         f"param {ref.param!r} vs {traj.param!r} and {len(ref.t)} vs {len(traj.t)} saved times")
    check_same_data(traj.data, data_fingerprint(ref.data), "ref", "a reference trajectory")
    if any(traj.params[k].shape != ref.params[k].shape for k in traj.params):
        raise ValueError("ref must have parameters of the same shapes as traj (e.g. the same d_e for 'KQ')")
    a = np.concatenate([v.reshape(len(traj.t), -1) for v in traj.params.values()], axis=1)
    b = np.concatenate([v.reshape(len(ref.t), -1) for v in ref.params.values()], axis=1)
    with np.errstate(over="ignore"):
        num, den = np.linalg.norm(a - b, axis=1), np.linalg.norm(b, axis=1)
    if not (np.all(np.isfinite(num)) and np.all(np.isfinite(den))):  # entries ~1e300 (past log t = 1e6): scale
        top = np.max(np.abs(b), axis=1, keepdims=True)
        top = np.where(top > 0, top, 1.0)
        num, den = np.linalg.norm((a - b) / top, axis=1), np.linalg.norm(b / top, axis=1)
    return _guarded_ratio(num, den)


def relative_error(a, ref, axis: int = -1) -> np.ndarray:
    """``||a - ref|| / ||ref||`` along ``axis`` (e.g. per saved time of a path), shape of ``a`` without ``axis``.

    0 where ``a`` equals ``ref`` exactly (both zero at ``t = 0``, say); where ``ref`` is zero but ``a`` is not, the
    absolute error ``||a||``.

    Parameters
    ----------
    a, ref : array_like of the same shape, e.g. (m, d)
    axis : int
        The axis the norm runs over.
    """
    a, ref = np.asarray(a, dtype=float), np.asarray(ref, dtype=float)
    if a.shape != ref.shape:
        raise ValueError(f"ref must have the shape of a, {a.shape}; got {ref.shape}")
    return _guarded_ratio(np.linalg.norm(a - ref, axis=axis), np.linalg.norm(ref, axis=axis))


def _guarded_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(num == 0, 0.0, num / np.where(den == 0, 1.0, den))


def beta_velocity(data: AttentionData, xi_k, xi_q, omega0, log_scale: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Erratum E6: the diagonal flow's ``beta' = xi_k' xi_q + xi_k xi_q'`` and the corrected eq. (27).

    On the conserved hyperbola of initialisation (5), ``xi_k^2 - xi_q^2 = 2 omega_0^2`` (or its mirror), the
    product ``beta = xi_k xi_q`` moves with ``beta' = -2 sqrt(beta^2 + omega_0^4) grad_beta L`` (componentwise);
    the paper's eq. (27) has an extra ``1/n``: its right-hand side is the second output divided by ``data.n``.

    Parameters
    ----------
    data : AttentionData
    xi_k, xi_q : array_like, shape (d,)
        A point of the diagonal parameterisation.
    omega0 : float or array_like of shape (d,)
        The initial scale of (5).
    log_scale : float
        ``log t`` to carry the factor ``t`` of log-time (0: physical time).

    Returns
    -------
    beta_dot, corrected : numpy.ndarray, shape (d,) each
        ``beta'`` from the library's ``(xi_k, xi_q)`` gradients, and the corrected formula.
    """
    data = check_data(data)
    xi_k = check_array(xi_k, "xi_k", shape=(data.d,))
    xi_q = check_array(xi_q, "xi_q", shape=(data.d,))
    w2 = np.broadcast_to(np.asarray(omega0, dtype=float), (data.d,)) ** 2
    gk, gq = loss_grad_xi(data, xi_k, xi_q, log_scale=log_scale)
    beta_dot = -(gk * xi_q + xi_k * gq)
    corrected = -2 * np.sqrt((xi_k * xi_q) ** 2 + w2 ** 2) * loss_grad_beta(data, xi_k * xi_q, log_scale=log_scale)
    return beta_dot, corrected


def _omega0_sq(traj: Trajectory) -> np.ndarray:
    if traj.t[0] != 0:
        raise ValueError(f"the sinh closed form reads omega_0 from the initialisation, so the trajectory must be "
                         f"saved from t = 0; its first saved time is t = {traj.t[0]:.3g} (save from 0: t_eval "
                         f"starting at 0, or log_t_eval starting at -inf)")
    xk, xq = traj.params["xi_k"][0], traj.params["xi_q"][0]
    if np.any(xk * xq != 0) or np.any(xk ** 2 + xq ** 2 == 0):
        raise ValueError("the sinh closed form needs the paper's initialisation (5): in every coordinate exactly "
                         "one of xi_k(0), xi_q(0) is zero (default_init(data, 'xi') gives it)")
    return (xk ** 2 + xq ** 2) / 2


def sinh_closed_form(traj: Trajectory) -> np.ndarray:
    """Lemma A.1: ``beta(t) = omega_0^2 * sinh(B phi(t))`` from the duals accumulated along an "xi" flow.

    Returns
    -------
    numpy.ndarray, shape (m, d)
        Compare with ``traj.params["xi_k"] * traj.params["xi_q"]``. Under initialisation (5) with
        ``xi_q(0) = 0`` the sign is ``+``; with ``xi_k(0) = 0`` the roles swap and it is still ``+``.
    """
    if _check_traj(traj).param != "xi" or traj.method != "gradient_flow":
        raise ValueError("the sinh closed form is for gradient_flow trajectories with param='xi'")
    w2 = _omega0_sq(traj)
    return w2 * np.sinh(traj.phi @ traj.data.B)


@dataclass(frozen=True)
class SinhClosedFormCheck:
    """Lemma A.1's closed form against an "xi" flow (see :func:`check_sinh_closed_form`).

    Attributes
    ----------
    omega0 : numpy.ndarray, shape (d,)
        ``omega_0 = sqrt((xi_k(0)^2 + xi_q(0)^2) / 2)``.
    sinh_err : numpy.ndarray, shape (m,)
        ``||omega_0^2 sinh(B phi(t)) - xi_k xi_q|| / ||xi_k xi_q||`` at each saved time (0 where both are 0).
    max_err : float
        The largest entry of ``sinh_err``.
    conservation : float
        The largest drift of ``xi_k^2 - xi_q^2`` (:func:`conservation_error`).
    beta_final : numpy.ndarray, shape (d,)
        ``beta = xi_k * xi_q`` at the last saved time.
    """

    omega0: np.ndarray
    sinh_err: np.ndarray
    max_err: float
    conservation: float
    beta_final: np.ndarray


def check_sinh_closed_form(data: AttentionData, init, t_end: float = 1e6, rtol: float = 1e-8) -> SinhClosedFormCheck:
    """Lemma A.1 for any initialisation of the form (5), also a non-constant ``omega_0`` (erratum E10): the
    ``(xi_k, xi_q)``-flow from ``init`` against its closed form ``beta(t) = omega_0^2 sinh(B phi(t))``.

    Parameters
    ----------
    data : AttentionData
    init : (xi_k(0), xi_q(0)), two arrays of shape (d,)
        In every coordinate exactly one of the two is zero (signs free); ``omega_0^2 = (xi_k(0)^2 + xi_q(0)^2) / 2``.
        :func:`attnlib.default_init` ``(data, "xi", ...)`` gives one.
    t_end, rtol : float
        Passed to :func:`attnlib.gradient_flow`.

    Returns
    -------
    SinhClosedFormCheck
        The relative error of the closed form along the flow (:func:`sinh_closed_form`), the drift of the conserved
        ``xi_k^2 - xi_q^2`` and the final ``beta``.

    Raises
    ------
    ValueError
        If ``init`` is not two finite arrays of shape (d,) with exactly one zero of the two in every coordinate.
    """
    check_data(data)
    if not isinstance(init, (tuple, list)) or len(init) != 2:
        raise ValueError(f"init must be a pair (xi_k(0), xi_q(0)) of arrays of shape (d,); got {type(init).__name__}"
                         f"{f' of length {len(init)}' if isinstance(init, (tuple, list)) else ''}")
    want = f"an array of shape (d,) = ({data.d},)"
    xk0 = check_array(init[0], "init[0] (xi_k(0))", shape=(data.d,), expected=want)
    xq0 = check_array(init[1], "init[1] (xi_q(0))", shape=(data.d,), expected=want)
    if np.any(xk0 * xq0 != 0) or np.any(xk0 ** 2 + xq0 ** 2 == 0):
        raise ValueError("init must have the form of initialisation (5): in every coordinate exactly one of "
                         "xi_k(0), xi_q(0) is zero (default_init(data, 'xi') gives it)")
    traj = gradient_flow(data, "xi", (xk0, xq0), t_end=t_end, rtol=rtol)
    beta = traj.params["xi_k"] * traj.params["xi_q"]
    err = relative_error(sinh_closed_form(traj), beta, axis=1)
    return SinhClosedFormCheck(omega0=np.sqrt((xk0 ** 2 + xq0 ** 2) / 2), sinh_err=err, max_err=float(err.max()),
                               conservation=float(np.max(conservation_error(traj))), beta_final=beta[-1])


def diagonal_network_flow(data: AttentionData, omega0, t_eval, rtol: float = 1e-10) -> np.ndarray:
    """Gradient flow of the diagonal linear network ``w = (w_+^2 - w_-^2) / 2`` (paper eq. (3)), ``w_pm(0) = omega0``.

    Integrated on its own, with its own solver and none of the library's flow code (``w_+' = -grad_w L * w_+``,
    ``w_-' = +grad_w L * w_-``; scipy's LSODA), in physical time on ``[0, 1]`` and in ``u = log(1 + log t)``
    afterwards (the factors ``dt/du`` folded into the gradient): an independent check of Lemma 4.1, the
    equivalence of the ``xi``-flow with the diagonal network (chapter 3).

    Parameters
    ----------
    data : AttentionData
    omega0 : array, shape (d,)
        The network's start ``w_+(0) = w_-(0) = omega0``.
    t_eval : array, shape (m,)
        Sorted times, starting at 0.
    rtol : float
        Relative tolerance (absolute: ``1e-3 rtol``).

    Returns
    -------
    numpy.ndarray, shape (m, d)
        ``w(t)`` at ``t_eval``.
    """
    data = check_data(data)
    omega0 = check_array(omega0, "omega0", shape=(data.d,))
    if np.abs(omega0).max() > _SQRT_FLOAT_MAX:
        raise ValueError(f"omega0 must have entries of size at most {_SQRT_FLOAT_MAX:.3g}, so that the network's "
                         f"w = (w_+^2 - w_-^2) / 2 stays in float64; got max |omega0| = {np.abs(omega0).max():.3g}")
    t_eval = check_array(t_eval, "t_eval", ndim=1)
    if t_eval.size == 0 or t_eval[0] != 0.0 or np.any(np.diff(t_eval) <= 0):
        raise ValueError(f"t_eval must be increasing times starting at 0; got {t_eval[:3]}...")
    rtol = check_scalar(rtol, "rtol", lo=_MIN_RTOL, hi=1.0)
    dim = data.d

    def rhs(y, log_scale):
        wp, wm = y[:dim], y[dim:]
        g = loss_grad_beta(data, (wp ** 2 - wm ** 2) / 2, log_scale=log_scale)
        return np.concatenate([-g * wp, g * wm])

    y0 = np.concatenate([omega0, omega0]).astype(float)
    t_eval = np.asarray(t_eval, dtype=float)
    early = t_eval <= 1.0
    s1 = solve_ivp(lambda t, y: rhs(y, 0.0), (0.0, 1.0), y0, method="LSODA", rtol=rtol, atol=1e-3 * rtol,
                   t_eval=np.union1d(t_eval[early], [1.0]))
    _check_solved(s1, "t", rtol)
    out = np.empty((len(t_eval), 2 * dim))
    out[early] = s1.y.T[np.searchsorted(s1.t, t_eval[early])]
    if np.any(~early):  # u = log(1 + log t): dw/du = (1 + s) t dw/dt, both factors folded into the gradient
        u_eval = np.log1p(np.log(t_eval[~early]))
        s2 = solve_ivp(lambda u, y: rhs(y, np.expm1(u) + u), (0.0, u_eval[-1]), s1.y[:, -1], method="LSODA",
                       rtol=rtol, atol=1e-3 * rtol, t_eval=u_eval)
        _check_solved(s2, "u = log(1 + log t)", rtol)
        out[~early] = s2.y.T
    wp, wm = out[:, :dim], out[:, dim:]
    return (wp ** 2 - wm ** 2) / 2


_SQRT_FLOAT_MAX = 1e154  # omega0^2 must stay in float64
_MIN_RTOL = 1e-13  # LSODA takes no tighter rtol than 100 machine epsilons (scipy raises smaller ones with a warning)


def _check_solved(sol, variable: str, rtol: float) -> None:
    """A failed solve_ivp of the diagonal network is a FlowStallError naming the solver's message."""
    if not sol.success:
        raise FlowStallError(f"diagonal_network_flow: LSODA stopped at {variable} = {sol.t[-1]:.6g} with rtol={rtol:g}: "
                             f"{sol.message}", log_t=float("nan"))


def alignment_error(K, Q, U_K, U_Q, V) -> float:
    """Off-diagonal mass of ``U_K^T K V`` and ``U_Q^T Q V`` (Def. 5.1), relative to the norms of K and Q.

    Parameters
    ----------
    K, Q : array_like, shape (d, d_e)
    U_K, U_Q : array_like, shape (d, d)
        The aligned bases (:func:`attnlib.aligned_bases`).
    V : array_like, shape (d_e, d_e)
        The shared right basis of the aligned initialisation (:func:`right_basis` recovers it from ``K(0)``).

    Returns
    -------
    float
        ``max(||offdiag(U_K^T K V)||_F / ||K||_F, ||offdiag(U_Q^T Q V)||_F / ||Q||_F)``; a zero matrix counts 0.
        Lemma 5.1 says it stays 0 along the flow.
    """
    K = check_array(K, "K", ndim=2, expected="an array of shape (d, d_e)")
    d, d_e = K.shape
    Q = check_array(Q, "Q", shape=K.shape, expected=f"an array of the same shape (d, d_e) = {K.shape} as K")
    U_K = check_array(U_K, "U_K", shape=(d, d), expected=f"an array of shape (d, d) = ({d}, {d})")
    U_Q = check_array(U_Q, "U_Q", shape=(d, d), expected=f"an array of shape (d, d) = ({d}, {d})")
    V = check_array(V, "V", shape=(d_e, d_e), expected=f"an array of shape (d_e, d_e) = ({d_e}, {d_e})")
    errs = []
    v_top = _top(V)
    for U, M in ((U_K, K), (U_Q, Q)):
        m_top, u_top = _top(M), _top(U)
        if m_top == 0:
            errs.append(0.0)
            continue
        M_unit = unit_scaled(M)
        off = unit_scaled(U).T @ M_unit @ unit_scaled(V)
        k = min(off.shape)
        off[np.arange(k), np.arange(k)] = 0.0
        with np.errstate(over="ignore"):  # every factor scaled to max |entry| = 1: only the true ratio can overflow
            errs.append(np.linalg.norm(off) / np.linalg.norm(M_unit) * u_top * v_top)
    return float(max(errs))


def _top(M: np.ndarray) -> float:
    """``max |M_ij|`` (0 for an empty array): the scale that keeps products and norms in float64."""
    return float(np.abs(M).max()) if M.size else 0.0


#: How far from orthonormal (up to one positive scale) ``U_K`` and the normalised rows of ``U_K^T K0`` may be in
#: :func:`right_basis`: far above rounding (1e-16 per operation), far below any misalignment worth the name.
ORTHONORMAL_RTOL = 1e-8


def right_basis(K0, U_K) -> np.ndarray:
    """The shared right basis ``V`` (d_e, d_e) of an aligned ``K0 = U_K Lambda V^T`` with nonzero diagonal
    ``Lambda``: column j is row j of ``U_K^T K0``, normalised, completed to an orthonormal basis.

    Parameters
    ----------
    K0 : array_like, shape (d, d_e), d_e >= d
        The aligned key initialisation (Def. 5.1).
    U_K : array_like, shape (d, d)
        Its left basis: orthogonal up to one positive scale (:func:`attnlib.aligned_bases`).

    Returns
    -------
    numpy.ndarray, shape (d_e, d_e)
        Orthonormal.

    Raises
    ------
    ValueError
        When ``U_K`` is not orthogonal (up to scale), when a row of ``U_K^T K0`` is zero, or when those rows are
        not orthogonal (``K0`` is not aligned with ``U_K``): ``V`` would not be orthonormal. The tolerance is
        :data:`ORTHONORMAL_RTOL`.
    """
    K0 = check_array(K0, "K0", ndim=2, expected="an array of shape (d, d_e) with d_e >= d")
    d = K0.shape[0]
    if K0.shape[1] < d:
        raise ValueError(f"K0 must be an array of shape (d, d_e) with d_e >= d (the aligned initialisation, Def. "
                         f"5.1, needs d_e >= d); got shape {K0.shape}")
    U_K = check_array(U_K, "U_K", shape=(d, d), expected=f"an array of shape (d, d) = ({d}, {d})")
    U = unit_scaled(U_K)
    sv = np.linalg.svd(U, compute_uv=False)
    if sv[-1] < (1 - ORTHONORMAL_RTOL) * sv[0]:  # (a zero U_K makes every row zero: the message below)
        raise ValueError(f"U_K must be orthogonal (up to a positive scale), as aligned_bases returns it; its singular "
                         f"values range from {sv[-1] / max(sv[0], np.finfo(float).tiny):.3g} to 1 (relative)")
    R = unit_scaled(U.T @ unit_scaled(K0))  # scaled, so that norms neither overflow nor underflow
    norms = np.linalg.norm(R, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"K0 and U_K must make every row of U_K^T K0 nonzero (the aligned K0 = U_K Lambda V^T "
                         f"needs every diagonal entry of Lambda nonzero); row {int(np.flatnonzero(norms == 0)[0])} "
                         f"is zero")
    V1 = (R / norms[:, None]).T
    off = np.abs(V1.T @ V1 - np.eye(V1.shape[1])).max()
    if off > ORTHONORMAL_RTOL:
        raise ValueError(f"K0 must be aligned with U_K (K0 = U_K Lambda V^T, Def. 5.1): the rows of U_K^T K0 are not "
                         f"orthogonal (largest |cosine| between two of them, or deviation of a norm: {off:.3g} > "
                         f"{ORTHONORMAL_RTOL:g}), so no orthonormal V gives it")
    q, _ = np.linalg.qr(np.concatenate([V1, np.eye(R.shape[1])], axis=1))
    V = q[:, : R.shape[1]].copy()
    V[:, : R.shape[0]] = V1
    return V


@dataclass(frozen=True)
class KKTResiduals:
    """Approximate-KKT residuals along a diagonal flow (paper Def. A.3, as in chapter 4), each shape (m,).

    Attributes
    ----------
    log_mu : log of the margin ``mu(beta(t))``.
    epsilon : stationarity, ``dist(B lambda(t), d||beta_check||_1)`` (condition (C1)).
    epsilon_prime : ``||beta_hat(t) - beta_check(t)||_2`` with ``beta_check`` = ``beta_hat`` off the limit
        support set to 0.
    feasibility : ``min_il beta_hat^T B_il - 1`` (>= 0 by the definition of mu; condition (C2)).
    delta : complementary slackness, ``max_il lambda_il (beta_hat^T B_il - 1)`` (condition (C3)).
    Blambda : ``B lambda(t) = B phi(t) / ln mu(t)``, shape (m, d): the dual certificate.
    lam : ``lambda(t) = phi(t) / ln mu(t)``, shape (m, n(L-1)).
    """

    log_mu: np.ndarray
    epsilon: np.ndarray
    epsilon_prime: np.ndarray
    feasibility: np.ndarray
    delta: np.ndarray
    Blambda: np.ndarray
    lam: np.ndarray


def kkt_residuals(traj: Trajectory, sol: SVMSolution, support_tol: float = 1e-6) -> KKTResiduals:
    """Residuals of the ``(epsilon, epsilon', delta)``-KKT conditions of the l1-SVM along an "xi" flow.

    Uses the dual certificate ``lambda = phi / ln mu`` of the paper's proof (A.5). Times with ``mu <= 1`` are
    NaN (``ln mu`` must be positive).

    Parameters
    ----------
    traj : Trajectory
        A :func:`attnlib.gradient_flow` trajectory with ``param="xi"``.
    sol : SVMSolution
        The l1-SVM solution (``solve_svm(data, "l1")``): its support defines ``beta_check``.
    support_tol : float
        Coordinates with ``|beta_j| <= support_tol * ||beta||_inf`` count as off the support.
    """
    if _check_traj(traj).param != "xi" or traj.method != "gradient_flow":
        raise ValueError("kkt_residuals needs a gradient_flow trajectory with param='xi'")
    _check_sol(sol, traj)
    support_tol = check_scalar(support_tol, "support_tol", lo=0.0, hi=1.0, hi_open=True)
    if sol.norm != "l1":
        raise ValueError(f"kkt_residuals needs the l1-SVM solution; got norm={sol.norm!r}")
    data = traj.data
    beta = traj.params["xi_k"] * traj.params["xi_q"]
    mu = traj.margin
    ok = mu > 1
    log_mu = np.where(ok, np.log(np.where(ok, mu, 1.0)), np.nan)
    lam = traj.phi / log_mu[:, None]
    Blam = lam @ data.B
    beta_hat = beta / np.where(ok, mu, np.nan)[:, None]
    support = np.abs(sol.beta) > support_tol * np.abs(sol.beta).max()
    beta_check = np.where(support, beta_hat, 0.0)
    sgn = np.sign(sol.beta)
    gap = np.where(support, np.abs(Blam - sgn), np.maximum(np.abs(Blam) - 1.0, 0.0))
    slack = beta_hat @ data.B.T - 1.0
    return KKTResiduals(log_mu=log_mu, epsilon=np.linalg.norm(gap, axis=1),
                        epsilon_prime=np.linalg.norm(beta_hat - beta_check, axis=1),
                        feasibility=slack.min(axis=1), delta=np.max(lam * slack, axis=1), Blambda=Blam, lam=lam)
