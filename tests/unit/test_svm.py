"""The attention SVMs (paper §3-§5; chapter 5): feasibility, optimality certificates, closed forms, errors.

Every problem reads: minimise a norm of W subject to <A_k, W> >= 1 for all constraints k = (i, l), l != opt(i)
(W = diag(beta) and <B_k, beta> >= 1 for "l1"/"l2"). For min ||x|| subject to <a_k, x> >= 1 the Lagrangian is
||x|| - sum_k lambda_k (<a_k, x> - 1), so the KKT conditions are
    lambda >= 0,  <a_k, x> >= 1,  lambda_k (<a_k, x> - 1) = 0,  sum_k lambda_k a_k in  d||x||  (subdifferential),
and pairing the last one with x gives  sum_k lambda_k = ||x||  (strong duality). The dual problem is
max sum_k lambda_k subject to ||sum_k lambda_k a_k||_dual <= 1, so lambda is a certificate: any feasible x' has
||x'|| >= <G, x'> / ||G||_dual >= sum_k lambda_k with G = sum_k lambda_k a_k.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import attnlib as al

FEAS_TOL = 1e-6  # constraints hold to this
VALUE_TOL = 1e-5  # agreement of two solvers (relative)
KKT_TOL = 1e-5  # stationarity residual

FRO_NUC_SETS = ["demo1", "diag_s1", "demo3", "orth_s2", "generic_eq", "generic", "peers"]
DIAG_SETS = ["demo1", "diag_s1", "demo3", "orth_s2"]  # diagonally separable (checked in the test)
CASES = [(d, n) for d in FRO_NUC_SETS for n in ("fro", "nuc")] + [(d, n) for d in DIAG_SETS for n in ("l1", "l2")]
SECOND = {"fro": "SCS", "nuc": "SCS", "l1": "HIGHS", "l2": "SCS"}


def _constraint_rows(data, norm) -> np.ndarray:
    """The constraint vectors a_k: vec(A_il) = vec((x_opt - x_il) z_i^T), or B_il = z_i * (x_opt - x_il)."""
    rows = []
    for i, l in data.pairs:
        dx = data.X[i, data.opt[i]] - data.X[i, l]
        rows.append(np.outer(dx, data.z[i]).ravel() if norm in ("fro", "nuc") else data.z[i] * dx)
    return np.array(rows)


def _norm(x: np.ndarray, norm: str) -> float:
    if norm == "fro":
        return float(np.sqrt(np.sum(x * x)))
    if norm == "nuc":
        return float(np.sum(np.linalg.svd(x, compute_uv=False)))
    return float(np.sum(np.abs(x))) if norm == "l1" else float(np.sqrt(np.sum(x * x)))


def _min_norm_by_active_sets(M: np.ndarray):
    """min ||x||_2 s.t. M x >= 1, solved exactly by enumerating active sets S (for few constraints).

    For an active set S with independent rows the KKT point is x = M_S^T lambda_S, lambda_S = (M_S M_S^T)^-1 1;
    it is the (unique, strictly convex problem) optimum iff lambda_S >= 0 and M x >= 1.
    """
    m = M.shape[0]
    for size in range(1, m + 1):
        for S in itertools.combinations(range(m), size):
            MS = M[list(S)]
            if np.linalg.matrix_rank(MS) < size:
                continue
            lam_S = np.linalg.solve(MS @ MS.T, np.ones(size))
            x = MS.T @ lam_S
            if lam_S.min() >= -1e-12 and (M @ x).min() >= 1 - 1e-10:
                lam = np.zeros(m)
                lam[list(S)] = lam_S
                return x, lam
    raise AssertionError("no KKT point found: infeasible?")


def _W_circ(data) -> np.ndarray:
    """Chapter 5: W° = sum_i x_i,opt z_i^T / ((1 - c_i) ||x_i,opt||^2 ||z_i||^2) under Assumption 4."""
    W = np.zeros((data.d, data.d))
    for i in range(data.n):
        xo, z = data.X[i, data.opt[i]], data.z[i]
        l = next(l for l in range(data.L) if l != data.opt[i])
        c = data.X[i, l] @ xo / (xo @ xo)
        W += np.outer(xo, z) / ((1 - c) * (xo @ xo) * (z @ z))
    return W


# -- optimality -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, norm", CASES, indirect=["data"])
def test_svm_solution_is_feasible_and_tight(data, norm, ref):
    if norm in ("l1", "l2"):
        assert al.check_assumptions(data).holds("1-diag")
    sol = al.solve_svm(data, norm)
    assert sol.norm == norm and sol.W.shape == (data.d, data.d)
    if norm in ("l1", "l2"):
        assert sol.beta.shape == (data.d,)
        np.testing.assert_array_equal(sol.W, np.diag(sol.beta))
    else:
        assert sol.beta is None
    cv = ref.constraint_values(data, sol.W)
    assert cv.min() >= 1 - FEAS_TOL
    assert sol.margin == pytest.approx(cv.min(), abs=1e-12)
    assert al.margin(data, sol.W) == pytest.approx(cv.min(), abs=1e-12)
    # the optimum has margin exactly 1: otherwise W / margin would be feasible with a smaller norm
    assert cv.min() <= 1 + FEAS_TOL
    # the support constraints (positive multipliers) are tight
    assert sol.active.any()
    assert np.all(cv[sol.active] <= 1 + FEAS_TOL)
    x = sol.W if norm in ("fro", "nuc") else sol.beta
    assert sol.value == pytest.approx(_norm(x, norm), rel=1e-12)


@pytest.mark.parametrize("data, norm", CASES, indirect=["data"])
def test_svm_value_matches_second_solver(data, norm):
    sol = al.solve_svm(data, norm)
    other = al.solve_svm(data, norm, solver=SECOND[norm])
    assert other.solver == SECOND[norm]
    assert other.value == pytest.approx(sol.value, rel=VALUE_TOL)
    assert al.cosine(other.W, sol.W) > 1 - 1e-6


@pytest.mark.parametrize("data, norm", CASES, indirect=["data"])
def test_svm_kkt_certificate(data, norm, ref):
    """The multipliers in ``sol.dual`` certify optimality (see the module docstring)."""
    sol = al.solve_svm(data, norm)
    lam = sol.dual
    assert lam.shape == (len(data.pairs),) and np.all(lam >= 0)
    cv = ref.constraint_values(data, sol.W)
    M = _constraint_rows(data, norm)
    G = lam @ M  # sum_k lambda_k a_k
    # strong duality and complementary slackness
    assert lam.sum() == pytest.approx(sol.value, rel=FEAS_TOL)
    assert lam @ (cv - 1) <= FEAS_TOL * lam.sum()
    if norm == "fro":
        W = sol.W.ravel()
        assert np.linalg.norm(G) <= 1 + FEAS_TOL  # dual feasibility: ||G||_F <= 1
        assert np.linalg.norm(G - W / np.linalg.norm(W)) <= KKT_TOL  # grad ||W||_F = W / ||W||_F
    elif norm == "nuc":
        G = G.reshape(data.d, data.d)
        # d||W||_* = {G : ||G||_2 <= 1, <G, W> = ||W||_*}
        assert np.linalg.norm(G, 2) <= 1 + FEAS_TOL
        assert np.sum(G * sol.W) == pytest.approx(_norm(sol.W, "nuc"), rel=FEAS_TOL)
    elif norm == "l2":
        assert np.linalg.norm(G - sol.beta / np.linalg.norm(sol.beta)) <= KKT_TOL
    else:  # l1: G_j = sign(beta_j) where beta_j != 0, |G_j| <= 1 elsewhere
        beta = sol.beta
        support = np.abs(beta) > 1e-6 * np.abs(beta).max()
        assert np.abs(G).max() <= 1 + KKT_TOL
        np.testing.assert_allclose(G[support], np.sign(beta[support]), atol=KKT_TOL)


@pytest.mark.parametrize("data", FRO_NUC_SETS, indirect=True)
def test_norm_inequalities_between_svms(data):
    """Each solution is optimal for its own norm: ||W_nuc||_* <= ||W_F||_*, ||W_F||_F <= ||W_nuc||_F; a diagonal
    feasible point bounds the full problems: ||beta_l1||_1 >= ||W_nuc||_*, ||beta_l2||_2 >= ||W_F||_F."""
    fro, nuc = al.solve_svm(data, "fro"), al.solve_svm(data, "nuc")
    assert nuc.value <= _norm(fro.W, "nuc") * (1 + FEAS_TOL)
    assert fro.value <= _norm(nuc.W, "fro") * (1 + FEAS_TOL)
    if al.check_assumptions(data).holds("1-diag"):
        assert al.solve_svm(data, "l1").value >= nuc.value * (1 - FEAS_TOL)
        assert al.solve_svm(data, "l2").value >= fro.value * (1 - FEAS_TOL)


def test_nuclear_and_frobenius_solutions_differ_on_generic_data(generic_eq):
    """Chapter 6's generic equal-score example: on generic equal-score data the two SVMs have different solutions, each strictly
    better in its own norm (by far more than the solver tolerance)."""
    fro, nuc = al.solve_svm(generic_eq, "fro"), al.solve_svm(generic_eq, "nuc")
    assert nuc.value < _norm(fro.W, "nuc") * (1 - 1e-3)
    assert fro.value < _norm(nuc.W, "fro") * (1 - 1e-3)


# -- closed forms -----------------------------------------------------------------------------------------


def test_demo1_l1_solution_closed_form(demo1):
    """Derived by hand: on demo 1 the l1-SVM optimum has support {1, 2} and the active constraints
    (sample 1, token 3): 0.9 b1 - 0.3 b2 >= 1 and (sample 3, token 2): 0.7 b1 + 0.9 b2 >= 1, so
    beta = (20/17, 10/51, 0, 0); the multipliers lambda = (10/51, 20/17) on those two rows certify it."""
    k1 = [tuple(p) for p in demo1.pairs].index((0, 2))
    k2 = [tuple(p) for p in demo1.pairs].index((2, 1))
    B = demo1.B
    BS = B[[k1, k2]][:, :2]
    beta_S = np.linalg.solve(BS, np.ones(2))
    np.testing.assert_allclose(beta_S, [20 / 17, 10 / 51], rtol=1e-14)
    beta = np.array([*beta_S, 0, 0])
    assert (B @ beta).min() >= 1 - 1e-14  # feasible
    lam_S = np.linalg.solve(BS.T, np.ones(2))  # B_S^T lambda = sign(beta) on the support
    np.testing.assert_allclose(lam_S, [10 / 51, 20 / 17], rtol=1e-14)
    lam = np.zeros(len(B))
    lam[[k1, k2]] = lam_S
    g = B.T @ lam
    assert lam.min() >= 0 and np.abs(g[2:]).max() < 1  # strictly inside off the support: the optimum is unique
    assert lam.sum() == pytest.approx(np.abs(beta).sum(), rel=1e-14)  # zero duality gap
    sol = al.solve_svm(demo1, "l1")
    np.testing.assert_allclose(sol.beta, beta, atol=1e-6)
    assert sol.value == pytest.approx(70 / 51, rel=1e-6)
    np.testing.assert_allclose(sol.beta, [1.1765, 0.1961, 0, 0], atol=1e-3)  # chapter 3's l1 solution (rounded)


def test_demo1_l2_solution_closed_form(demo1):
    beta, lam = _min_norm_by_active_sets(demo1.B)
    sol = al.solve_svm(demo1, "l2")
    np.testing.assert_allclose(sol.beta, beta, atol=1e-6)
    assert sol.value == pytest.approx(np.linalg.norm(beta), rel=1e-6)
    np.testing.assert_allclose(sol.dual, lam / np.linalg.norm(beta), atol=1e-5)
    np.testing.assert_allclose(sol.beta, [1.148, 0.2115, 0.0604, 0], atol=1e-3)  # chapter 3's l2 solution (rounded)


@pytest.mark.parametrize("data", ["demo1", "diag_s1", "demo3", "generic_eq"], indirect=True)
def test_frobenius_solution_closed_form(data):
    W, lam = _min_norm_by_active_sets(_constraint_rows(data, "fro"))
    sol = al.solve_svm(data, "fro")
    np.testing.assert_allclose(sol.W, W.reshape(data.d, data.d), atol=1e-6 * max(1.0, np.abs(W).max()))
    assert sol.value == pytest.approx(np.linalg.norm(W), rel=1e-6)


ORTH = [lambda: al.make_orthogonal_data(), lambda: al.make_orthogonal_data(3, 5, 5, seed=2, c=0.25),
        lambda: al.make_orthogonal_data(2, 3, 4, seed=1, c=-0.5),
        lambda: al.make_orthogonal_data(4, 7, 6, seed=2, c=np.array([0.5, -1.0, 0.0, 0.9])),
        lambda: al.make_orthogonal_data(3, 3, 5, seed=3, c=np.array([0.2, -1.0, 0.7]))]


@pytest.mark.parametrize("make", ORTH, ids=[f"orth{k}" for k in range(len(ORTH))])
def test_assumption4_svms_equal_W_circ(make):
    """Chapter 5: under Assumption 4 the Frobenius and the nuclear SVM have the same solution W°."""
    data = make()
    assert al.check_assumptions(data).holds("4")
    Wc = _W_circ(data)
    assert al.margin(data, Wc) == pytest.approx(1.0, rel=1e-12)  # W° is feasible with margin exactly 1
    tol = 1e-6 * np.abs(Wc).max()
    for norm in ("fro", "nuc"):
        for solver in (None, SECOND[norm]):
            sol = al.solve_svm(data, norm, solver=solver)
            np.testing.assert_allclose(sol.W, Wc, atol=tol)
            assert sol.value == pytest.approx(_norm(Wc, norm), rel=1e-6)
    # in this construction the optimal tokens and queries are coordinate axes, so W° is diagonal and the
    # diagonal l1-SVM (problem (42)) has the same solution and ||beta||_1 = ||W°||_*
    np.testing.assert_array_equal(Wc, np.diag(np.diag(Wc)))
    l1 = al.solve_svm(data, "l1")
    np.testing.assert_allclose(l1.beta, np.diag(Wc), atol=tol)
    assert l1.value == pytest.approx(_norm(Wc, "nuc"), rel=1e-6)


# -- errors -----------------------------------------------------------------------------------------------


def _with(data, **changes) -> al.AttentionData:
    kw = {k: np.array(getattr(data, k)) for k in ("X", "z", "y", "v")}
    for k, f in changes.items():
        f(kw[k])
    return al.AttentionData(**kw)


def test_infeasible_error_is_a_value_error():
    assert issubclass(al.InfeasibleSVMError, ValueError)


@pytest.mark.parametrize("norm", al.SVM_NORMS)
def test_zero_query_makes_every_svm_infeasible(demo1, norm):
    data = _with(demo1, z=lambda z: z.__setitem__(1, 0.0))
    with pytest.raises(al.InfeasibleSVMError, match=r"infeasible.*sample 1"):
        al.solve_svm(data, norm)


def test_token_equal_to_optimal_token_on_query_support(demo1):
    """x_02 = 0 equals x_0,opt = 4 e_4 on the support of z_0 = (1,1,1,0): B_02 = 0, so the diagonal constraint
    reads 0 >= 1, while A_02 = 4 e_4 z_0^T != 0 keeps the full problems feasible."""
    data = _with(demo1, X=lambda X: X.__setitem__((0, 2), 0.0))
    np.testing.assert_array_equal(data.B[1], 0)
    report = al.check_assumptions(data)
    assert report.holds("1") and not report.holds("1-diag") and report["1-diag"].sample == 0
    for norm in ("l1", "l2"):
        with pytest.raises(al.InfeasibleSVMError, match=r"infeasible.*sample 0, token 2"):
            al.solve_svm(data, norm)
    for norm in ("fro", "nuc"):
        assert al.solve_svm(data, norm).margin >= 1 - FEAS_TOL


def test_token_equal_to_optimal_token_is_rejected_by_the_data(demo1):
    with pytest.raises(ValueError, match="optimal token"):
        _with(demo1, X=lambda X: X.__setitem__((0, 2), X[0, 0]))


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_separable_but_not_diagonally_separable(generic_eq, norm):
    report = al.check_assumptions(generic_eq)
    assert report.holds("1") and not report.holds("1-diag")
    with pytest.raises(al.InfeasibleSVMError, match=r"infeasible.*diagonal separability"):
        al.solve_svm(generic_eq, norm)
    assert al.solve_svm(generic_eq, "fro").margin >= 1 - FEAS_TOL


@pytest.mark.parametrize("norm", al.SVM_NORMS)
def test_non_separable_data(norm):
    """Sample 2 holds the same two tokens and query as sample 1 with the opposite label: attention cannot tell
    them apart, so <A_2, W> = -<A_1, W> and the constraints contradict each other (Assumption 1 fails)."""
    p, q, z = np.array([1.0, 2.0, 0.5]), np.array([-1.0, 0.5, 1.0]), np.array([0.3, -1.0, 2.0])
    data = al.AttentionData(X=[[p, q], [q, p]], z=[z, z], y=[1.0, -1.0], v=[0.0, 1.0, 0.0])
    np.testing.assert_allclose(data.A[0], -data.A[1])
    assert not al.check_assumptions(data).holds("1")
    with pytest.raises(al.InfeasibleSVMError, match=r"infeasible.*separability \(Assumption 1"):
        al.solve_svm(data, norm)


@pytest.mark.parametrize("bad", ["linf", "Fro", "nuclear", "", None, 2])
def test_unknown_norm_raises(demo1, bad):
    with pytest.raises((ValueError, TypeError), match="norm"):
        al.solve_svm(demo1, bad)


# -- selection SVM (a locally optimal token selection's own SVM, used by chapter 6) ------------------------

def test_selection_svm_with_opt_is_the_usual_svm():
    import attnlib as al
    data = al.make_generic_data(6, 8, 10, seed=0)
    for norm in ("fro", "nuc", "l1", "l2"):  # l1, l2: the diagonal ones (the beta / xi flows' limits; issue 27)
        usual = al.solve_svm(data, norm)
        sel = al.solve_selection_svm(data, data.opt, norm)
        assert sel.value == pytest.approx(usual.value, rel=1e-6)
        if norm != "l1":  # the others have a unique minimiser
            np.testing.assert_allclose(sel.W, usual.W, atol=1e-6 * np.abs(usual.W).max())
        assert sel.margin >= 1 - 1e-9


def test_selection_svm_constrains_only_lower_scored_tokens_and_checks_input():
    import attnlib as al
    data = al.make_generic_data(6, 8, 10, seed=5)
    sel = np.array(data.opt)
    sel[0] = int(np.argsort(data.gamma[0])[-2])  # sample 0 selects its second-best token
    pairs = al.selection_pairs(data, sel)
    assert len(pairs) == len(data.pairs) - 1       # the optimal token of sample 0 is not constrained
    sol = al.solve_selection_svm(data, sel, "fro")
    D = data.X[pairs[:, 0], sel[pairs[:, 0]]] - data.X[pairs[:, 0], pairs[:, 1]]
    assert np.einsum("kd,kd->k", D, data.z[pairs[:, 0]] @ sol.W.T).min() >= 1 - 1e-6
    with pytest.raises(ValueError, match="selection must be an integer array"):
        al.solve_selection_svm(data, sel[:-1])
    with pytest.raises(ValueError, match="norm must be"):
        al.solve_selection_svm(data, sel, "spectral")
    diag = al.solve_selection_svm(data, sel, "l2")  # the diagonal problem: W = diag(beta)
    assert np.array_equal(diag.W, np.diag(diag.beta))
    assert np.einsum("kd,kd->k", D, data.z[pairs[:, 0]] @ diag.W.T).min() >= 1 - 1e-6
