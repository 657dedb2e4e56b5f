"""Attention SVMs (paper §3-§5): the max-margin problems the flows converge to in direction.

All four problems share the constraints ``(x_{i,opt} - x_il)^T W z_i >= 1`` for every sample ``i`` and every
non-optimal token ``l`` and differ in the norm they minimise:

========  ===========================================  ==================================
norm      problem                                      limit of
========  ===========================================  ==================================
"fro"     min ||W||_F                                  gradient flow on one matrix W
"nuc"     min ||W||_*  (the W_*-SVM, d_e >= d)          separate K, Q (Thm 5.1; conjecture)
"l1"      min ||beta||_1, W = diag(beta)                diagonal xi_k, xi_q (Thm 4.1)
"l2"      min ||beta||_2, W = diag(beta)                gradient flow on beta (not in the paper)
========  ===========================================  ==================================
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from .data import AttentionData

__all__ = ["SVMSolution", "InfeasibleSVMError", "solve_svm", "solve_selection_svm", "selection_pairs", "SVM_NORMS"]

SVM_NORMS = ("fro", "nuc", "l1", "l2")
_PRIMARY = {"fro": "CLARABEL", "nuc": "CLARABEL", "l1": "CLARABEL", "l2": "CLARABEL"}
_SECONDARY = {"fro": "SCS", "nuc": "SCS", "l1": "HIGHS", "l2": "SCS"}
# Clarabel's default tolerances (1e-8) leave support constraints slack by up to ~gap / lambda_k (seen: 3e-4 for "nuc")
_SOLVER_OPTS = {"SCS": {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000},
                "CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}, "HIGHS": {}}


class InfeasibleSVMError(ValueError):
    """The attention SVM has no feasible point: the data violate (diagonal) separability."""


@dataclass(frozen=True)
class SVMSolution:
    """Solution of an attention SVM.

    Attributes
    ----------
    W : numpy.ndarray, shape (d, d)
        The minimiser (``diag(beta)`` for the diagonal problems). Scaled so every constraint holds exactly.
    value : float
        The optimal norm (``||W||_F``, ``||W||_*``, ``||beta||_1`` or ``||beta||_2``).
    norm : str
        One of "fro", "nuc", "l1", "l2".
    beta : numpy.ndarray of shape (d,) or None
        The diagonal for "l1"/"l2", else None.
    dual : numpy.ndarray, shape (n(L-1),)
        Lagrange multipliers ``lambda_il >= 0`` of the constraints, ordered as ``data.pairs``; KKT reads
        ``sum_k lambda_k A_k`` in the subdifferential of the norm at ``W``.
    margin : float
        ``mu(W)`` (1 up to solver accuracy).
    solver, status : str
        The cvxpy solver used and its final status.
    """

    W: np.ndarray
    value: float
    norm: str
    beta: np.ndarray | None
    dual: np.ndarray
    margin: float
    solver: str
    status: str

    @property
    def active(self) -> np.ndarray:
        """Boolean mask over ``data.pairs`` of the support constraints (``lambda_k > 1e-6 max lambda``)."""
        return self.dual > 1e-6 * max(float(self.dual.max()), 1e-300)


def _zero_constraint_error(pairs: np.ndarray, rows: np.ndarray, norm: str) -> None:
    zero = np.flatnonzero(np.all(rows == 0, axis=1))
    if zero.size:
        i, l = pairs[zero[0]]
        what = "z_i * (x_{i,opt} - x_il) = 0" if norm in ("l1", "l2") else "(x_{i,opt} - x_il) z_i^T = 0"
        raise InfeasibleSVMError(
            f"the {norm!r} attention SVM is infeasible: for sample {i}, token {l}, {what}, so its constraint "
            f"reads 0 >= 1 (the query is zero or the token equals the optimal one on the query's support); "
            f"remove or perturb that token"
        )


def _problem(cons_rows: tuple[np.ndarray, np.ndarray, np.ndarray], norm: str):
    """The cvxpy problem for constraints ``D_k^T W Z_k >= 1`` given as ``(D, Z, pairs)``."""
    D, Z, pairs = cons_rows
    d = D.shape[1]
    if norm in ("fro", "nuc"):
        _zero_constraint_error(pairs, (D[:, :, None] * Z[:, None, :]).reshape(len(D), -1), norm)
        var = cp.Variable((d, d))
        cons = [cp.sum(cp.multiply(D @ var, Z), axis=1) >= 1]
        # "fro"/"l2" minimise the squared norm (same minimiser; a QP whose multipliers the solvers return
        # accurately -- with the SOC form ||W|| they are only ~sqrt(tolerance) accurate); see _solve_with.
        obj = cp.sum_squares(var) if norm == "fro" else cp.normNuc(var)
    else:
        B = D * Z
        _zero_constraint_error(pairs, B, norm)
        var = cp.Variable(d)
        cons = [B @ var >= 1]
        obj = cp.norm1(var) if norm == "l1" else cp.sum_squares(var)
    return cp.Problem(cp.Minimize(obj), cons), var, cons[0]


def _solve_with(cons_rows, norm: str, solver: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    prob, var, con = _problem(cons_rows, norm)
    try:
        prob.solve(solver=solver, **_SOLVER_OPTS.get(solver, {}))
    except cp.error.SolverError as exc:
        return None, None, f"solver_error: {exc}"
    if var.value is None:
        return None, None, prob.status
    x = np.array(var.value, dtype=float)
    dual = np.maximum(np.array(con.dual_value, dtype=float), 0.0)
    if norm in ("fro", "l2"):  # min ||x||^2 has 2 x = sum_k mu_k a_k; min ||x|| has x / ||x|| = sum_k lambda_k a_k
        dual = dual / (2.0 * np.linalg.norm(x))
    return x, dual, prob.status


def _norm_value(W: np.ndarray, beta: np.ndarray | None, norm: str) -> float:
    if norm == "fro":
        return float(np.linalg.norm(W, "fro"))
    if norm == "nuc":
        return float(np.linalg.norm(W, "nuc"))
    return float(np.linalg.norm(beta, 1 if norm == "l1" else 2))


def solve_svm(data: AttentionData, norm: str, solver: str | None = None) -> SVMSolution:
    """Solve an attention SVM with cvxpy and check the result.

    Parameters
    ----------
    data : AttentionData
    norm : {"fro", "nuc", "l1", "l2"}
        "fro"/"nuc": min ``||W||_F`` / ``||W||_*`` over W of shape (d, d); "l1"/"l2": the diagonal problems
        min ``||beta||_1`` / ``||beta||_2`` over ``W = diag(beta)``.
    solver : str or None
        A cvxpy solver name; default Clarabel, with SCS (or HiGHS for "l1") as fallback when the first answer is
        only "optimal_inaccurate".

    Returns
    -------
    SVMSolution
        Results are cached on the (immutable) data object.

    Raises
    ------
    ValueError
        For an unknown ``norm``.
    InfeasibleSVMError
        When no feasible point exists (Assumption 1, or 1-diag for "l1"/"l2", fails); the message says which
        constraint makes it so when it can.
    RuntimeError
        When no solver reaches an optimal status.
    """
    if norm not in SVM_NORMS:
        raise ValueError(f"norm must be one of {SVM_NORMS}; got {norm!r}")
    key = ("svm", norm, solver)
    if key in data._cache:
        return data._cache[key]
    sol = _solve((data.D, data.Z, data.pairs), norm, solver, "attention SVM")
    data._cache[key] = sol
    return sol


def _margin_rows(D: np.ndarray, Z: np.ndarray, W: np.ndarray) -> float:
    """``min_k D_k^T W Z_k``: the margin over the given constraints."""
    return float(np.min(np.einsum("kd,kd->k", D, Z @ W.T)))


def _solve(cons_rows, norm: str, solver: str | None, label: str) -> SVMSolution:
    """Solve, check statuses (fallback solver, infeasibility), rescale to margin exactly 1."""
    D, Z, _ = cons_rows
    tried = [solver or _PRIMARY[norm]] + ([] if solver else [_SECONDARY[norm]])
    x = dual = None
    statuses = []
    for name in tried:
        x, dual, status = _solve_with(cons_rows, norm, name)
        statuses.append(f"{name}: {status}")
        if status.startswith("infeasible"):
            which = "diagonal separability (Assumption 1-diag)" if norm in ("l1", "l2") else "separability (Assumption 1)"
            raise InfeasibleSVMError(
                f"the {norm!r} {label} is infeasible ({name} reports {status}): the data violate {which}; "
                f"no {'diagonal ' if norm in ('l1', 'l2') else ''}W gives every "
                f"{'selected' if 'selection' in label else 'optimal'} token a higher logit than each lower-scored "
                f"token of its sample. check_assumptions(data) names the failing assumption"
            )
        if status == "optimal":
            break
    if x is None or not statuses[-1].endswith("optimal") and not statuses[-1].endswith("optimal_inaccurate"):
        raise RuntimeError(f"the {norm!r} {label} was not solved: {'; '.join(statuses)}")
    if statuses[-1].endswith("optimal_inaccurate"):
        warnings.warn(f"the {norm!r} {label} solution is only optimal_inaccurate ({'; '.join(statuses)})", RuntimeWarning)
    beta = x if norm in ("l1", "l2") else None
    W = np.diag(x) if beta is not None else x
    mu = _margin_rows(D, Z, W)
    if not mu > 0.999:
        raise RuntimeError(f"the {norm!r} {label} solver returned a point with margin {mu:.6g} < 1 ({'; '.join(statuses)})")
    if mu < 1.0:  # rescale so every constraint holds exactly (changes the value by < 0.1 %, in practice ~1e-9)
        W, beta = W / mu, (None if beta is None else beta / mu)
        mu = _margin_rows(D, Z, W)
    for arr in (W, beta, dual):
        if arr is not None:
            arr.setflags(write=False)
    return SVMSolution(W=W, value=_norm_value(W, beta, norm), norm=norm, beta=beta, dual=dual, margin=mu,
                       solver=tried[len(statuses) - 1], status=statuses[-1].split(": ", 1)[1])


def selection_pairs(data: AttentionData, selection) -> np.ndarray:
    """Pairs ``(i, l)`` constrained by the SVM of a token selection: tokens scored below the selected one.

    Parameters
    ----------
    data : AttentionData
    selection : array_like of int, shape (n,)
        The selected token of each sample (``data.opt`` gives the usual SVM's pairs).

    Returns
    -------
    numpy.ndarray, shape (m, 2)
    """
    sel = np.asarray(selection)
    if sel.shape != (data.n,) or not np.issubdtype(sel.dtype, np.integer) or np.any((sel < 0) | (sel >= data.L)):
        raise ValueError(f"selection must be an integer array of shape (n,) = ({data.n},) with entries in "
                         f"[0, L) = [0, {data.L}); got {np.asarray(selection)!r}")
    i, l = np.nonzero(data.gamma < data.gamma[np.arange(data.n), sel][:, None])
    return np.stack([i, l], axis=1)


def solve_selection_svm(data: AttentionData, selection, norm: str = "fro", solver: str | None = None) -> SVMSolution:
    """The attention SVM of a given token selection (a locally optimal direction when it is not ``opt``).

    ``min ||W|| s.t. (x_{i,sel(i)} - x_il)^T W z_i >= 1`` for every sample ``i`` and every token ``l`` whose
    score is *lower* than the selected one's. Tokens of equal or higher score exert no force towards the
    selection (a pair's gradient term is proportional to ``gamma_{i,sel} - gamma_il``), so they get no
    constraint. With ``selection = data.opt`` this is :func:`solve_svm`'s problem.

    Parameters
    ----------
    data : AttentionData
    selection : array_like of int, shape (n,)
    norm : {"fro", "nuc"}
    solver : str or None
        As in :func:`solve_svm`.

    Returns
    -------
    SVMSolution
        ``dual`` is ordered as :func:`selection_pairs`; ``margin`` is the selection margin (1).

    Raises
    ------
    ValueError
        A bad ``selection`` or ``norm``.
    InfeasibleSVMError
        When no W ranks every selected token above the lower-scored tokens of its sample.
    """
    if norm not in ("fro", "nuc"):
        raise ValueError(f"norm must be 'fro' or 'nuc' for a selection SVM; got {norm!r}")
    pairs = selection_pairs(data, selection)
    i, l = pairs.T
    sel = np.asarray(selection)
    return _solve((data.X[i, sel[i]] - data.X[i, l], data.z[i], pairs), norm, solver, "selection SVM")
