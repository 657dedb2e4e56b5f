"""Attention SVMs (paper §3-§5): the max-margin problems the flows converge to in direction.

All six problems share the constraints ``(x_{i,opt} - x_il)^T W z_i >= 1`` for every sample ``i`` and every
non-optimal token ``l`` and differ in the norm they minimise:

==========  ===========================================  ==================================
norm        problem                                      limit of
==========  ===========================================  ==================================
"fro"       min ||W||_F                                  gradient flow on one matrix W
"nuc"       min ||W||_*  (the W_*-SVM, d_e >= d)          separate K, Q (Thm 5.1; conjecture)
"l1"        min ||beta||_1, W = diag(beta)                diagonal xi_k, xi_q (Thm 4.1)
"l2"        min ||beta||_2, W = diag(beta)                gradient flow on beta (not in the paper)
"spectral"  min ||W||_2 (largest singular value, an SDP)  spectral steepest descent (attnlib.optimizers)
"max"       min max_jk |W_jk| (entrywise l_inf, an LP)    sign descent (Adam: predicted, not seen)
==========  ===========================================  ==================================

"spectral" and "max" are not in the paper; their minimisers are in general not unique (the norms are flat along
faces), so compare a direction with them by the norm gap, not by the distance to the solver's point.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from ._validate import check_choice, data_fingerprint
from .data import check_data
from .data import AttentionData

__all__ = ["SVMSolution", "InfeasibleSVMError", "solve_svm", "solve_selection_svm", "selection_pairs", "SVM_NORMS"]

SVM_NORMS = ("fro", "nuc", "l1", "l2", "spectral", "max")
_PRIMARY = {"fro": "CLARABEL", "nuc": "CLARABEL", "l1": "CLARABEL", "l2": "CLARABEL", "spectral": "CLARABEL",
            "max": "CLARABEL"}
_SECONDARY = {"fro": "SCS", "nuc": "SCS", "l1": "HIGHS", "l2": "SCS", "spectral": "SCS", "max": "HIGHS"}
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
        The optimal norm (``||W||_F``, ``||W||_*``, ``||beta||_1``, ``||beta||_2``, ``||W||_2`` or
        ``max |W_jk|``).
    norm : str
        One of :data:`SVM_NORMS`: "fro", "nuc", "l1", "l2", "spectral", "max".
    beta : numpy.ndarray of shape (d,) or None
        The diagonal for "l1"/"l2", else None.
    dual : numpy.ndarray, shape (n(L-1),)
        Lagrange multipliers ``lambda_il >= 0`` of the constraints, ordered as ``data.pairs``; KKT reads
        ``sum_k lambda_k A_k`` in the subdifferential of the norm at ``W``.
    margin : float
        ``mu(W)`` (1 up to solver accuracy).
    solver, status : str
        The cvxpy solver used and its final status.
    data_fingerprint : str
        A fingerprint of the data set it was computed on (diagnostics refuse a solution of other data).
    selection : numpy.ndarray of int, shape (n,), or None
        The token selection of a :func:`solve_selection_svm` solution (its constraints are
        :func:`selection_pairs` of it); None for :func:`solve_svm` (the selection ``data.opt``). Diagnostics
        (:func:`attnlib.svm_distance`) normalise by the margin over these constraints.
    """

    W: np.ndarray
    value: float
    norm: str
    beta: np.ndarray | None
    dual: np.ndarray
    margin: float
    solver: str
    status: str
    data_fingerprint: str = field(default="", repr=False, compare=False)
    selection: np.ndarray | None = field(default=None, repr=False, compare=False)

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
    """The cvxpy problem for constraints ``D_k^T W Z_k >= b_k`` given as ``(D, Z, pairs[, b])`` (default b = 1)."""
    import cvxpy as cp  # here, not at module level: importing cvxpy takes ~2 s, and most uses of attnlib solve nothing

    D, Z, pairs = cons_rows[:3]
    rhs = cons_rows[3] if len(cons_rows) > 3 else 1.0
    d = D.shape[1]
    if norm in ("fro", "nuc", "spectral", "max"):
        _zero_constraint_error(pairs, (D[:, :, None] * Z[:, None, :]).reshape(len(D), -1), norm)
        var = cp.Variable((d, d))
        cons = [cp.sum(cp.multiply(D @ var, Z), axis=1) >= rhs]
        # "fro"/"l2" minimise the squared norm (same minimiser; a QP whose multipliers the solvers return
        # accurately -- with the SOC form ||W|| they are only ~sqrt(tolerance) accurate); see _solve_with.
        obj = {"fro": cp.sum_squares, "nuc": cp.normNuc, "spectral": cp.sigma_max,
               "max": lambda x: cp.max(cp.abs(x))}[norm](var)
    else:
        B = D * Z
        _zero_constraint_error(pairs, B, norm)
        var = cp.Variable(d)
        cons = [B @ var >= rhs]
        obj = cp.norm1(var) if norm == "l1" else cp.sum_squares(var)
    return cp.Problem(cp.Minimize(obj), cons), var, cons[0]


def _solve_with(cons_rows, norm: str, solver: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    import cvxpy as cp

    prob, var, con = _problem(cons_rows, norm)
    try:
        with warnings.catch_warnings():  # the status is checked (and a fallback tried) by _solve; cvxpy's own
            warnings.simplefilter("ignore")  # "Solution may be inaccurate" must not reach the user
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
    if norm == "spectral":
        return float(np.linalg.norm(W, 2))
    if norm == "max":
        return float(np.abs(W).max())
    return float(np.linalg.norm(beta, 1 if norm == "l1" else 2))


def solve_svm(data: AttentionData, norm: str, solver: str | None = None) -> SVMSolution:
    """Solve an attention SVM with cvxpy and check the result.

    Parameters
    ----------
    data : AttentionData
    norm : {"fro", "nuc", "l1", "l2", "spectral", "max"}
        "fro"/"nuc": min ``||W||_F`` / ``||W||_*`` over W of shape (d, d); "l1"/"l2": the diagonal problems
        min ``||beta||_1`` / ``||beta||_2`` over ``W = diag(beta)``; "spectral"/"max": min ``||W||_2`` (largest
        singular value) / ``max_jk |W_jk|`` over W of shape (d, d), whose minimisers need not be unique.
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
    data = check_data(data)
    check_choice(norm, "norm", SVM_NORMS)
    _check_solver(solver)
    key = ("svm", norm, solver)
    if key in data._cache:
        return data._cache[key]
    sol = _solve((data.D, data.Z, data.pairs), norm, solver, "attention SVM", _shape(data))
    sol = replace(sol, data_fingerprint=data_fingerprint(data))
    data._cache[key] = sol
    return sol


def _shape(data: AttentionData) -> str:
    return f" of data with n={data.n}, L={data.L}, d={data.d}"


def _check_solver(solver) -> None:
    if solver is None:
        return
    import cvxpy as cp

    if not isinstance(solver, str):
        raise TypeError(f"solver must be None or a cvxpy solver name such as 'CLARABEL' or 'SCS'; got "
                        f"{type(solver).__name__}")
    if solver.upper() not in cp.installed_solvers():
        raise ValueError(f"solver must be None or an installed cvxpy solver, one of {cp.installed_solvers()}; "
                         f"got {solver!r}")


def _margin_rows(D: np.ndarray, Z: np.ndarray, W: np.ndarray) -> float:
    """``min_k D_k^T W Z_k``: the margin over the given constraints."""
    return float(np.min(np.einsum("kd,kd->k", D, Z @ W.T)))


def _pow2_scale(M: np.ndarray) -> np.ndarray:
    """Per row, the power of two nearest its norm (1 for a zero row): dividing by it is exact in float64."""
    nrm = np.linalg.norm(M, axis=1)
    with np.errstate(divide="ignore"):
        return np.where(nrm > 0, 2.0 ** np.round(np.log2(np.where(nrm > 0, nrm, 1.0))), 1.0)


def _equilibrate(D: np.ndarray, Z: np.ndarray, pairs: np.ndarray, diagonal: bool, by: str = "largest"):
    """Rows of unit size for the solver: ``D_k / a_k``, ``Z_k / b_k`` (powers of two), right-hand side
    ``s / c_k`` with ``c_k = a_k b_k``, i.e. the problem in ``W' = s W``. Returns the scaled rows and ``(c, s)``.

    ``by="largest"``: ``s = c_max`` (right-hand sides >= 1). ``by="smallest"``: ``s = c_min`` (right-hand sides
    <= 1): a unit row with right-hand side 1 alone forces ``||W'|| >= 1`` (about), so the solver's variable is of
    order one however far apart the samples are. With a row 1e6 times smaller than the others, ``c_max`` makes
    the variable and objective about 1e6 and 1e12, and both solvers then report "infeasible" ("fro", 6 of 20 of
    the README's samples-1e6-apart sets); ``c_min`` solves them. Neither is best everywhere ("nuc" certifies
    more often with ``c_max``), so :func:`_solve` tries both."""
    a, b = _pow2_scale(D), _pow2_scale(Z)
    if diagonal:  # the rows are B_k = D_k * Z_k, which can be far smaller than ||D_k|| ||Z_k||: scale B_k itself
        a, b = _pow2_scale(D * Z), np.ones(len(Z))
    c = a * b
    s = (float(c.max()) if by == "largest" else float(c.min())) if c.size else 1.0
    return (D / a[:, None], Z / b[:, None], pairs, s / c), c, s


_CERT_TOL = 1e-6  # relative duality gap and dual-norm excess accepted as "solved accurately"


def _dual_norm(G: np.ndarray, norm: str) -> float:
    """The dual norm of ``G`` (spectral for nuclear, nuclear for spectral, entrywise l1 for max, max-abs for l1,
    Euclidean otherwise)."""
    if norm == "nuc":
        return float(np.linalg.norm(G, 2))
    if norm == "spectral":
        return float(np.linalg.norm(G, "nuc"))
    if norm == "max":
        return float(np.abs(G).sum())
    if norm == "l1":
        return float(np.abs(G).max())
    return float(np.linalg.norm(G))


def _certificate_gap(D: np.ndarray, Z: np.ndarray, W: np.ndarray, dual: np.ndarray, value: float,
                     norm: str) -> float:
    """How far ``(W, dual)`` is from a KKT pair of the margin-1 problem: the larger of the relative duality gap
    ``|sum lambda - ||W||| / ||W||`` and the dual-norm excess ``||sum_k lambda_k A_k||_* - 1`` (0 at the optimum;
    for any feasible W, ``sum lambda / ||G||_*`` is a lower bound on the optimum)."""
    G = np.einsum("k,kd,ke->de", dual, D, Z)
    if norm in ("l1", "l2"):
        G = np.diag(G)
    return max(abs(float(dual.sum()) - value) / value, _dual_norm(G, norm) - 1.0)


def _solve(cons_rows, norm: str, solver: str | None, label: str, shape: str = "") -> SVMSolution:
    """Solve, check statuses (fallback solver, infeasibility, KKT certificate), rescale to margin exactly 1.

    Each constraint row is divided by powers of two so that ``||D_k||`` and ``||Z_k||`` are about 1 before the
    solver sees them (:func:`_equilibrate`), and the answer is scaled back: the solvers' absolute tolerances then
    mean the same thing at every data scale, which makes the result scale-equivariant (tokens times ``s`` give
    ``W / s`` and multipliers ``lambda / s``) and copes with samples of very different sizes."""
    D, Z, pairs = cons_rows
    problems = {by: _equilibrate(D, Z, pairs, norm in ("l1", "l2"), by) for by in ("largest", "smallest")}
    names = [solver or _PRIMARY[norm]] + ([] if solver else [_SECONDARY[norm]])
    # each solver with the variable scaled by the largest row, then (if not certified) by the smallest; the
    # primary solver's answers are unchanged wherever its first solve is certified, and the slow fallback solver
    # (SCS) runs only when both scalings fail with the primary one
    bys = ["largest"] + (["smallest"] if problems["smallest"][2] != problems["largest"][2] else [])
    tried = [(name, by) for name in names for by in bys]
    statuses, best = [], None
    for name, by in tried:
        scaled, c, scale = problems[by]
        x, dual, status = _solve_with(scaled, norm, name)
        tag = name if by == "largest" else f"{name} (variable scaled by the smallest row)"
        if status.startswith("infeasible"):
            if _confirm_infeasible(scaled, norm):
                which = ("diagonal separability (Assumption 1-diag)" if norm in ("l1", "l2")
                         else "separability (Assumption 1)")
                raise InfeasibleSVMError(
                    f"the {norm!r} {label} is infeasible ({name} reports {status}): the data violate {which}; "
                    f"no {'diagonal ' if norm in ('l1', 'l2') else ''}W gives every "
                    f"{'selected' if 'selection' in label else 'optimal'} token a higher logit than each "
                    f"lower-scored token of its sample. check_assumptions(data) names the failing assumption")
            status += " (but an LP finds a feasible point)"
        cand = None if x is None else _candidate(x, dual, norm, c, scale, D, Z)
        if cand is not None:
            gap = cand[-1]
            status_ok = gap <= _CERT_TOL  # certified by our own KKT check, whatever the solver's status says
            status = status if gap <= _CERT_TOL else f"{status}, KKT certificate off by {gap:.2g}"
            if best is None or gap < best[1][-1]:
                best = (name, cand, status)
            statuses.append(f"{tag}: {status}")
            if status_ok:
                break
        else:
            statuses.append(f"{tag}: {status}")
    if best is None:
        raise RuntimeError(f"the {norm!r} {label}{shape} was not solved: {'; '.join(statuses)}")
    name, (W, beta, dual, mu, gap), status = best
    if gap > _CERT_TOL:
        warnings.warn(f"the {norm!r} {label}{shape} is solved only inaccurately (KKT certificate off by {gap:.2g}; "
                      f"{'; '.join(statuses)}); its W and multipliers may be off by about that much",
                      RuntimeWarning, stacklevel=3)
    for arr in (W, beta, dual):
        if arr is not None:
            arr.setflags(write=False)
    return SVMSolution(W=W, value=_norm_value(W, beta, norm), norm=norm, beta=beta, dual=dual, margin=mu,
                       solver=name, status=status)


def _confirm_infeasible(scaled, norm: str) -> bool:
    """An independent LP (HiGHS) confirms that no W meets the constraints (guards a solver's wrong verdict)."""
    from .assumptions import lp_feasible

    D, Z, _, rhs = scaled
    rows = D * Z if norm in ("l1", "l2") else (D[:, :, None] * Z[:, None, :]).reshape(len(D), -1)
    try:
        return not lp_feasible(rows / rhs[:, None])
    except RuntimeError:
        return True


def _candidate(x: np.ndarray, dual: np.ndarray, norm: str, c: np.ndarray, scale: float, D: np.ndarray,
               Z: np.ndarray):
    """Undo the row scaling, rescale to margin exactly 1, and measure the KKT certificate.

    Returns ``(W, beta, dual, margin, gap)`` or None when the point does not separate (margin <= 0)."""
    x = x / scale  # W' = c_min W solves the scaled problem
    dual = dual / c  # sum_k lambda'_k A_k / c_k is the same subgradient, so lambda_k = lambda'_k / c_k
    beta = x if norm in ("l1", "l2") else None
    W = np.diag(x) if beta is not None else x
    mu = _margin_rows(D, Z, W)
    if not mu > 0:
        return None
    W, beta = W / mu, (None if beta is None else beta / mu)  # margin exactly 1 (W / mu is feasible and optimal
    mu = _margin_rows(D, Z, W)  # when mu != 1 only by solver tolerance)
    value = _norm_value(W, beta, norm)
    return W, beta, dual, mu, _certificate_gap(D, Z, W, dual, value, norm)


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
    data = check_data(data)
    if selection is None or isinstance(selection, (str, bytes)):
        raise TypeError(f"selection must be an integer array of shape (n,) = ({data.n},); got "
                        f"{type(selection).__name__}")
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
    norm : {"fro", "nuc", "l1", "l2"}
        "l1" and "l2" are the diagonal problems (``W = diag(beta)``), the limits of the "xi" and "beta" flows.
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
    data = check_data(data)
    if not isinstance(norm, str) or norm not in ("fro", "nuc", "l1", "l2"):
        raise ValueError(f"norm must be 'fro', 'nuc', 'l1' or 'l2' for a selection SVM; got {norm!r}")
    _check_solver(solver)
    pairs = selection_pairs(data, selection)
    if len(pairs) == 0:
        raise ValueError("selection must leave at least one token scored below the selected one in some sample "
                         "(the selection SVM has no constraints otherwise, and its minimiser is W = 0); every "
                         f"sample of the given selection {np.asarray(selection).tolist()} selects its "
                         "lowest-scored token")
    i, l = pairs.T
    sel = np.asarray(selection)
    sol = _solve((data.X[i, sel[i]] - data.X[i, l], data.z[i], pairs), norm, solver, "selection SVM",
                 _shape(data))
    sel = sel.astype(int)
    sel.setflags(write=False)
    return replace(sol, data_fingerprint=data_fingerprint(data), selection=sel)
