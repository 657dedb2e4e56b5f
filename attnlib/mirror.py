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

from dataclasses import dataclass

import numpy as np

from ._validate import check_scalar
from .data import AttentionData, check_data
from .model import log_excess_loss, loss_grad, margin

__all__ = ["LpSVMSolution", "solve_lp_svm", "mirror_descent", "mirror_map", "inverse_mirror_map"]


@dataclass(frozen=True)
class LpSVMSolution:
    """Solution of the l_p attention SVM.

    Attributes
    ----------
    W : numpy.ndarray, shape (d, d)
    value : float
        ``||W||_p`` (entrywise).
    p : float
    dual : numpy.ndarray, shape (n(L-1),)
        Multipliers ``lambda_il >= 0`` ordered as ``data.pairs``.
    stationarity : float
        ``max |sum lambda_il A_il - grad ||W||_p|``, the KKT residual (small when solved accurately).
    margin : float
    status : str
    """

    W: np.ndarray
    value: float
    p: float
    dual: np.ndarray
    stationarity: float
    margin: float
    status: str


def _check_p(p) -> float:
    return check_scalar(p, "p", lo=1.0, lo_open=True, hi=100.0)


def mirror_map(W: np.ndarray, p: float) -> np.ndarray:
    """``grad psi(W) = sign(W) |W|^(p-1)`` for ``psi(W) = ||W||_p^p / p``."""
    return np.sign(W) * np.abs(W) ** (p - 1)


def inverse_mirror_map(Z: np.ndarray, p: float) -> np.ndarray:
    """The inverse of :func:`mirror_map`: ``sign(Z) |Z|^(1/(p-1))``."""
    return np.sign(Z) * np.abs(Z) ** (1.0 / (p - 1))


def solve_lp_svm(data: AttentionData, p: float) -> LpSVMSolution:
    """``min ||W||_p`` (entrywise) s.t. ``<A_il, W> >= 1`` for every pair, with cvxpy (Clarabel).

    Parameters
    ----------
    data : AttentionData
    p : float
        In (1, 100].

    Raises
    ------
    RuntimeError
        When the solver does not report "optimal".
    """
    import cvxpy as cp  # imported on first solve (~2 s)

    data = check_data(data)
    p = _check_p(p)
    d = data.d
    A = data.A.reshape(len(data.pairs), d * d)
    w = cp.Variable(d * d)
    cons = [A @ w >= 1]
    prob = cp.Problem(cp.Minimize(cp.pnorm(w, p)), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    if prob.status != "optimal":
        raise RuntimeError(f"the l_p attention SVM (p={p}) was not solved: cvxpy status {prob.status!r} (it is "
                           f"infeasible exactly when Assumption 1 fails)")
    W = w.value.reshape(d, d)
    lam = np.maximum(cons[0].dual_value, 0.0)
    value = float(np.sum(np.abs(W) ** p) ** (1 / p))
    grad = mirror_map(W, p) / value ** (p - 1)                  # gradient of ||W||_p at W
    return LpSVMSolution(W=W, value=value, p=p, dual=lam,
                         stationarity=float(np.abs(np.tensordot(lam, data.A, 1) - grad).max()),
                         margin=margin(data, W), status=prob.status)


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

    Returns
    -------
    k : numpy.ndarray of int, shape (m,)
        Saved iteration counts (0, save_every, ..., steps).
    W : numpy.ndarray, shape (m, d, d)
    """
    data = check_data(data)
    p = _check_p(p)
    lr = check_scalar(lr, "lr", lo=0.0, lo_open=True)
    steps = int(check_scalar(steps, "steps", integer=True, lo=1))
    save_every = int(check_scalar(save_every, "save_every", integer=True, lo=1))
    q = p / (p - 1)
    Z = np.zeros((data.d, data.d))
    W = np.zeros_like(Z)
    ks, Ws = [0], [W.copy()]
    for k in range(1, steps + 1):
        g = loss_grad(data, W, -log_excess_loss(data, W))        # scaled to O(1): only its direction matters
        Z -= lr * g / np.linalg.norm(g.ravel(), q)
        W = inverse_mirror_map(Z, p)
        if k % save_every == 0 or k == steps:
            ks.append(k)
            Ws.append(W.copy())
    return np.array(ks), np.array(Ws)
