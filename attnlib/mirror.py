"""l_p mirror descent on the combined W and the l_p attention SVM it converges to in direction.

Julistiono, Tarzanagh & Azizan (2024) show that mirror descent with the potential ``psi(W) = ||W||_p^p / p``
(entrywise p-norm, ``p > 1``) converges in direction to the **l_p attention SVM**
``min ||W||_p  s.t.  (x_{i,opt} - x_il)^T W z_i >= 1``; ``p = 2`` is gradient descent and the Frobenius SVM.

:func:`solve_lp_svm` solves that SVM with cvxpy (status checked, KKT certificate returned);
:func:`mirror_descent` runs the normalised mirror-descent iteration
``grad psi(W_{k+1}) = grad psi(W_k) - lr * g_k / ||g_k||_q`` (``1/p + 1/q = 1``) with the gradient computed in
log space, so it never underflows however large the margin grows.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._validate import check_array, check_scalar
from .assumptions import lp_feasible
from .data import AttentionData, check_data
from .model import loss_grad_direction, margin
from .svm import InfeasibleSVMError

__all__ = ["LpSVMSolution", "solve_lp_svm", "mirror_descent", "mirror_map", "inverse_mirror_map"]

_CERT_TOL = 1e-6  # relative duality gap and dual-norm excess accepted as "solved accurately" (as solve_svm)
_LOG_FLOAT_MAX = float(np.log(np.finfo(float).max))


@dataclass(frozen=True)
class LpSVMSolution:
    """Solution of the l_p attention SVM.

    Attributes
    ----------
    W : numpy.ndarray, shape (d, d)
        Scaled so that the margin is exactly 1 (to the rounding of evaluating the constraints).
    value : float
        ``||W||_p`` (entrywise).
    p : float
    dual : numpy.ndarray, shape (n(L-1),)
        Multipliers ``lambda_il >= 0`` ordered as ``data.pairs``.
    stationarity : float
        ``max |sum lambda_il A_il - grad ||W||_p|``, the KKT residual (small when solved accurately). Near
        ``p = 1`` it is ill-conditioned (an entry of size 1e-9 that is 0 at the optimum has ``|W|^(p-1)`` = 0.8
        at ``p = 1.01``): ``certificate`` is the criterion.
    margin : float
    status : str
        The solver's status (``"optimal"``, or ``"optimal_inaccurate"`` with a certificate that holds).
    certificate : float
        How far ``(W, dual)`` is from a KKT pair: the larger of the relative duality gap
        ``|sum lambda - ||W||_p| / ||W||_p`` and the dual-norm excess ``||sum lambda_k A_k||_q - 1``
        (``1/p + 1/q = 1``); at most 1e-6 unless a ``RuntimeWarning`` said otherwise. For any feasible W,
        ``sum lambda / ||sum lambda_k A_k||_q`` is a lower bound on the optimum.
    solver : str
        The cvxpy solver whose answer is returned.
    """

    W: np.ndarray
    value: float
    p: float
    dual: np.ndarray
    stationarity: float
    margin: float
    status: str
    certificate: float = float("nan")
    solver: str = "CLARABEL"


def _check_p(p) -> float:
    return check_scalar(p, "p", lo=1.0, lo_open=True, hi=100.0)


def mirror_map(W, p: float) -> np.ndarray:
    """``grad psi(W) = sign(W) |W|^(p-1)`` for ``psi(W) = ||W||_p^p / p``, ``p`` in (1, 100]."""
    W = check_array(W, "W", expected="a finite array of any shape")
    p = _check_p(p)
    with np.errstate(over="ignore"):
        return np.sign(W) * np.abs(W) ** (p - 1)


def inverse_mirror_map(Z, p: float) -> np.ndarray:
    """The inverse of :func:`mirror_map`: ``sign(Z) |Z|^(1/(p-1))``, ``p`` in (1, 100].

    Raises
    ------
    ValueError
        For ``p`` outside (1, 100], or when the result overflows float64 (``p`` near 1 raises ``|Z| > 1`` to a
        large power).
    """
    Z = check_array(Z, "Z", expected="a finite array of any shape")
    p = _check_p(p)
    log_top = _log_inverse_size(Z, p)
    if log_top > _LOG_FLOAT_MAX:
        raise ValueError(f"inverse_mirror_map overflows float64 for p={p}: max |Z| = {np.abs(Z).max():.6g} raised "
                         f"to 1/(p-1) = {1 / (p - 1):.6g} is e^{log_top:.6g}")
    return np.sign(Z) * np.abs(Z) ** (1.0 / (p - 1))


def _log_inverse_size(Z: np.ndarray, p: float) -> float:
    top = float(np.abs(Z).max()) if Z.size else 0.0
    return np.log(top) / (p - 1) if top > 0 else -np.inf


def _q_norm(G: np.ndarray, q: float) -> float:
    """``||G||_q`` (entrywise) without overflow or underflow for large ``q`` (``p`` near 1)."""
    top = float(np.abs(G).max()) if G.size else 0.0
    if top == 0 or not np.isfinite(q):
        return top
    return top * float(np.sum((np.abs(G) / top) ** q) ** (1.0 / q))


def _pow2_row_scale(rows: np.ndarray) -> np.ndarray:
    """Per row, the power of two nearest its norm: dividing by it is exact in float64."""
    top = np.abs(rows).max(axis=1)
    nrm = top * np.linalg.norm(rows / top[:, None], axis=1)
    return 2.0 ** np.round(np.log2(nrm))


def solve_lp_svm(data: AttentionData, p: float, solver: str | None = None) -> LpSVMSolution:
    """``min ||W||_p`` (entrywise) s.t. ``<A_il, W> >= 1`` for every pair, with cvxpy (Clarabel, then SCS).

    Solved as :func:`attnlib.solve_svm` is: constraint rows equilibrated (powers of two) and the variable scaled
    by the smallest row, so tokens times ``s`` give ``W / s`` at every ``s``; power cones (no rational
    approximation of ``p``, so ``p`` may be as close to 1 as 1.00001); a solver's "infeasible" confirmed by an
    LP; the answer rescaled to margin exactly 1 and checked by a KKT certificate (``certificate``), whatever
    status the solver reports.

    Parameters
    ----------
    data : AttentionData
    p : float
        In (1, 100].
    solver : str or None
        A cvxpy solver name; default Clarabel with SCS as fallback when Clarabel's answer is not certified.

    Raises
    ------
    InfeasibleSVMError
        When no W meets the constraints (Assumption 1 fails).
    RuntimeError
        When no solver returns a point.
    """
    import cvxpy as cp  # imported on first solve (~2 s)

    data = check_data(data)
    p = _check_p(p)
    if solver is not None and (not isinstance(solver, str) or solver.upper() not in cp.installed_solvers()):
        raise ValueError(f"solver must be None or an installed cvxpy solver, one of {cp.installed_solvers()}; "
                         f"got {solver!r}")
    d = data.d
    rows = data.A.reshape(len(data.pairs), d * d)
    zero = np.flatnonzero(np.all(rows == 0, axis=1))
    if zero.size:
        i, l = data.pairs[zero[0]]
        raise InfeasibleSVMError(f"the l_p attention SVM (p={p}) is infeasible: for sample {i}, token {l}, "
                                 f"(x_opt - x_il) z_i^T = 0, so its constraint reads 0 >= 1")
    c = _pow2_row_scale(rows)
    low = float(c.min())
    scaled, rhs = rows / c[:, None], low / c  # the problem in W' = c_min W
    statuses, best = [], None
    for name in [solver.upper()] if solver else ["CLARABEL", "SCS"]:
        w = cp.Variable(d * d)
        con = scaled @ w >= rhs
        prob = cp.Problem(cp.Minimize(cp.pnorm(w, p, approx=False)), [con])
        opts = ({"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10} if name == "CLARABEL" else
                {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000} if name == "SCS" else {})
        try:
            with warnings.catch_warnings():  # the status and a certificate are checked here
                warnings.simplefilter("ignore")
                prob.solve(solver=name, **opts)
        except cp.error.SolverError as exc:
            statuses.append(f"{name}: solver_error: {exc}")
            continue
        status = prob.status
        if status.startswith("infeasible") and not lp_feasible(rows / c[:, None]):
            raise InfeasibleSVMError(f"the l_p attention SVM (p={p}) is infeasible ({name} reports {status}, "
                                     f"confirmed by an LP): the data violate separability (Assumption 1); "
                                     f"check_assumptions(data) names the failing assumption")
        if w.value is None:
            statuses.append(f"{name}: {status}")
            continue
        cand = _lp_candidate(data, np.asarray(w.value) / low, np.maximum(np.asarray(con.dual_value), 0.0) / c, p)
        if cand is None:
            statuses.append(f"{name}: {status} (the point does not separate)")
            continue
        statuses.append(f"{name}: {status}" + ("" if cand[-1] <= _CERT_TOL else f", KKT certificate off by "
                                                                               f"{cand[-1]:.2g}"))
        if best is None or cand[-1] < best[1][-1]:
            best = (name, cand, status)
        if cand[-1] <= _CERT_TOL:
            break
    if best is None:
        raise RuntimeError(f"the l_p attention SVM (p={p}) of data with n={data.n}, L={data.L}, d={data.d} was not "
                           f"solved: {'; '.join(statuses)}")
    name, (W, value, lam, mu, gap), status = best
    if gap > _CERT_TOL:
        warnings.warn(f"the l_p attention SVM (p={p}) of data with n={data.n}, L={data.L}, d={data.d} is solved only "
                      f"inaccurately (KKT certificate off by {gap:.2g}; {'; '.join(statuses)})", RuntimeWarning,
                      stacklevel=2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        grad = np.sign(W) * np.exp((p - 1) * (np.log(np.abs(W)) - np.log(value)))  # gradient of ||W||_p at W
    for arr in (W, lam):
        arr.setflags(write=False)
    return LpSVMSolution(W=W, value=value, p=p, dual=lam,
                         stationarity=float(np.abs(np.tensordot(lam, data.A, 1) - grad).max()),
                         margin=mu, status=status, certificate=gap, solver=name)


def _lp_candidate(data: AttentionData, w: np.ndarray, lam: np.ndarray, p: float):
    """Margin exactly 1 and the KKT certificate: ``(W, ||W||_p, lambda, margin, gap)``, or None if not separating."""
    W = w.reshape(data.d, data.d)
    mu = margin(data, W)
    if not mu > 0:
        return None
    W = W / mu
    mu = margin(data, W)
    value = _q_norm(W, p)
    G = np.tensordot(lam, data.A, 1)
    gap = max(abs(float(lam.sum()) - value) / value, _q_norm(G, p / (p - 1)) - 1.0)
    return W, value, lam, mu, gap


_MAX_STEPS = 10**8


def mirror_descent(data: AttentionData, p: float, lr: float = 0.2, steps: int = 800,
                   save_every: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Normalised l_p mirror descent on W from ``W = 0``.

    Parameters
    ----------
    data : AttentionData
    p : float
        In (1, 100]; ``p = 2`` is normalised gradient descent.
    lr : float
        Step in the mirror (dual) space, per unit ``q``-norm of the gradient.
    steps, save_every : int
        ``steps`` at most 10**8 (a gradient per step: more would run for days).

    Returns
    -------
    k : numpy.ndarray of int, shape (m,)
        Saved iteration counts (0, save_every, ..., steps).
    W : numpy.ndarray, shape (m, d, d)

    Raises
    ------
    ValueError
        When an iterate ``W = sign(Z) |Z|^(1/(p-1))`` leaves float64 (``p`` near 1 with many steps): the message
        names the step and the largest number of steps that fits.
    """
    data = check_data(data)
    p = _check_p(p)
    lr = check_scalar(lr, "lr", lo=0.0, lo_open=True)
    steps = int(check_scalar(steps, "steps", integer=True, lo=1, hi=_MAX_STEPS))
    save_every = int(check_scalar(save_every, "save_every", integer=True, lo=1))
    q = p / (p - 1)
    Z = np.zeros((data.d, data.d))
    W = np.zeros_like(Z)
    ks, Ws = [0], [W.copy()]
    for k in range(1, steps + 1):
        g = loss_grad_direction(data, W)  # a positive multiple of the gradient that never underflows
        Z -= lr * g / _q_norm(g, q)
        # the logits x^T W z must stay in float64
        log_size = _log_inverse_size(Z, p) + np.log(np.abs(data.X).max() * np.abs(data.z).max() * data.d ** 2)
        if log_size > _LOG_FLOAT_MAX:
            raise ValueError(f"mirror descent with p={p} leaves float64 at step {k}: the iterate W = sign(Z) "
                             f"|Z|^(1/(p-1)) has logits of size up to e^{log_size:.4g} (max |Z| = "
                             f"{np.abs(Z).max():.4g}, 1/(p-1) = {1 / (p - 1):.4g}); use steps <= {k - 1}, a "
                             f"smaller lr, or p further from 1")
        W = np.sign(Z) * np.abs(Z) ** (1.0 / (p - 1))
        if k % save_every == 0 or k == steps:
            ks.append(k)
            Ws.append(W.copy())
    return np.array(ks), np.array(Ws)
