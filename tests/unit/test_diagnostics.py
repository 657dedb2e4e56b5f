"""Tests of attnlib.diagnostics: directions, SVM agreement, invariants, the sinh closed form, alignment, KKT."""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al
from attnlib import diagnostics as dg

from conftest import get_data

_cache: dict = {}


def xi_flow() -> al.Trajectory:
    if "xi" not in _cache:
        data = get_data("demo1")
        _cache["xi"] = al.gradient_flow(data, "xi", al.default_init(data, "xi", 0.1, seed=0), 1e300)
    return _cache["xi"]


def w_flow() -> al.Trajectory:
    if "W" not in _cache:
        _cache["W"] = al.gradient_flow(get_data("demo1"), "W", np.zeros((4, 4)), 1e300)
    return _cache["W"]


# -- direction, cosine, distance -----------------------------------------------------------------------------------

def test_direction_has_margin_one():
    data = get_data("demo1")
    W = al.solve_svm(data, "fro").W * 7.5
    D = dg.direction(data, W)
    assert al.margin(data, D) == pytest.approx(1.0, rel=1e-12)
    assert np.allclose(D, W / 7.5)


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_direction_raises_when_margin_not_positive(scale):
    data = get_data("demo1")
    with pytest.raises(ValueError, match="not positive"):
        dg.direction(data, scale * al.solve_svm(data, "fro").W)


def test_svm_cosine_and_distance_along_flow():
    tr = w_flow()
    sol = al.solve_svm(get_data("demo1"), "fro")
    cos, dist = dg.svm_cosine(tr, sol), dg.svm_distance(tr, sol)
    assert np.isnan(cos[0]) and np.isnan(dist[0])  # W(0) = 0: no direction yet
    assert cos[-1] > 0.99999 and dist[-1] < 0.01
    assert np.allclose(tr.direction()[-1], dg.direction(get_data("demo1"), tr.W[-1]))


def test_singular_values():
    A = np.diag([3.0, -2.0, 0.5])
    assert np.allclose(dg.singular_values(A), [3.0, 2.0, 0.5])
    assert dg.singular_values(np.stack([A, 2 * A])).shape == (2, 3)


# -- conserved quantities and the sinh closed form -----------------------------------------------------------------

def test_conserved_quantity_shapes_and_values():
    tr = xi_flow()
    C = dg.conserved_quantity(tr)
    assert C.shape == (len(tr.t), 4)
    # C(0) = 2 omega_0^2 ~ 0.03 is a difference of terms ~ 1e3 at t = 1e300; measured drift 5e-7 |C(0)| at
    # rtol 1e-8 (7e-10 of the cancelling terms; test_flow checks 1e-8 relative at rtol 1e-11)
    assert np.allclose(C, C[0], rtol=0, atol=2e-6 * np.abs(C[0]).max())
    assert np.allclose(C[0], tr.params["xi_k"][0] ** 2)  # init (5): xi_q(0) = 0


@pytest.mark.parametrize("param", ["W", "beta"])
def test_conservation_error_paths(param):
    data = get_data("demo1")
    tr = al.gradient_flow(data, param, al.default_init(data, param), 1.0, t_eval=[0.0, 1.0])
    with pytest.raises(ValueError, match="conserve"):
        dg.conservation_error(tr)
    with pytest.raises(ValueError, match="conserve"):
        dg.conserved_quantity(tr)


def test_sinh_closed_form_error_paths():
    data = get_data("demo1")
    with pytest.raises(ValueError, match="param='xi'"):
        dg.sinh_closed_form(w_flow())
    gd = al.gradient_descent(data, "xi", al.default_init(data, "xi"), 0.1, 5)
    with pytest.raises(ValueError, match="gradient_flow"):
        dg.sinh_closed_form(gd)
    rnd = al.gradient_flow(data, "xi", al.default_init(data, "xi", kind="random"), 1.0, t_eval=[0.0, 1.0])
    with pytest.raises(ValueError, match="initialisation"):
        dg.sinh_closed_form(rnd)


def test_sinh_closed_form_with_swapped_roles():
    """init (5) with xi_k(0) = 0 and xi_q(0) = sqrt(2) omega_0: the closed form still holds with sign +."""
    data = get_data("demo1")
    xk, xq = al.default_init(data, "xi", 0.1, seed=3)
    tr = al.gradient_flow(data, "xi", (xq, xk), 1e10)
    beta = tr.params["xi_k"] * tr.params["xi_q"]
    err = np.linalg.norm(dg.sinh_closed_form(tr) - beta, axis=1)[1:] / np.linalg.norm(beta, axis=1)[1:]
    assert err.max() <= 1e-6


def test_check_sinh_closed_form_holds_for_a_nonconstant_omega0_with_mixed_signs():
    """Erratum E10: Lemma A.1 with omega_0 not a multiple of 1, signs and the zero factor mixed per coordinate."""
    data = get_data("demo1")
    om = np.array([0.05, 0.1, 0.15, 0.08])
    xk0 = np.array([np.sqrt(2) * om[0], 0.0, -np.sqrt(2) * om[2], 0.0])
    xq0 = np.array([0.0, -np.sqrt(2) * om[1], 0.0, np.sqrt(2) * om[3]])
    r = dg.check_sinh_closed_form(data, (xk0, xq0), t_end=1e6)
    assert isinstance(r, dg.SinhClosedFormCheck)
    np.testing.assert_allclose(r.omega0, om, rtol=1e-15)
    assert r.sinh_err.ndim == 1 and r.sinh_err[0] == 0.0 and r.max_err == r.sinh_err.max()
    assert r.max_err < 1e-5 and r.conservation < 1e-6
    assert r.beta_final.shape == (data.d,) and np.any(r.beta_final != 0)


def test_check_sinh_closed_form_bad_input_names_the_argument():
    data = get_data("demo1")
    xk0, xq0 = al.default_init(data, "xi", 0.1, seed=None)
    with pytest.raises(ValueError, match="init"):
        dg.check_sinh_closed_form(data, xk0)
    with pytest.raises(ValueError, match=r"init\[1\]"):
        dg.check_sinh_closed_form(data, (xk0, np.zeros(3)))
    with pytest.raises(ValueError, match=r"init\[0\]"):
        dg.check_sinh_closed_form(data, (np.full(data.d, np.nan), xq0))
    with pytest.raises(ValueError, match="init must have the form of initialisation"):
        dg.check_sinh_closed_form(data, (xk0, xk0))          # both factors nonzero
    with pytest.raises(ValueError, match="init must have the form of initialisation"):
        dg.check_sinh_closed_form(data, (np.zeros(data.d), np.zeros(data.d)))
    with pytest.raises((TypeError, ValueError), match="data"):
        dg.check_sinh_closed_form(None, (xk0, xq0))


# -- alignment -----------------------------------------------------------------------------------------------------

def test_alignment_error_zero_for_aligned_and_positive_otherwise():
    data = get_data("demo3")
    K, Q = al.default_init(data, "KQ", 0.1, seed=1, kind="aligned")
    U_K, U_Q = al.aligned_bases(data)
    V = dg.right_basis(K, U_K)
    assert np.allclose(V.T @ V, np.eye(V.shape[0]))
    assert dg.alignment_error(K, Q, U_K, U_Q, V) <= 1e-12  # Q = 0 counts 0
    Kr, Qr = al.default_init(data, "KQ", 0.1, seed=1)
    assert dg.alignment_error(Kr, Qr, U_K, U_Q, V) > 0.1


def test_right_basis_refuses_what_would_give_a_non_orthonormal_v():
    """A singular (or non-orthogonal) U_K, or a K0 not aligned with U_K, returned a V that was not orthonormal."""
    data = get_data("demo3")
    K, _ = al.default_init(data, "KQ", 0.1, seed=1, kind="aligned")
    U_K, _ = al.aligned_bases(data)
    singular = U_K.copy()
    singular[:, -1] = singular[:, 0]
    with pytest.raises(ValueError, match="U_K must be orthogonal"):
        dg.right_basis(K, singular)
    with pytest.raises(ValueError, match="U_K must be orthogonal"):
        dg.right_basis(K, U_K @ np.diag([1.0] * (data.d - 1) + [2.0]))
    Kr, _ = al.default_init(data, "KQ", 0.1, seed=1)              # the default (Gaussian) start: not aligned
    with pytest.raises(ValueError, match="K0 must be aligned with U_K"):
        dg.right_basis(Kr, U_K)
    V = dg.right_basis(3e5 * K, 1e-7 * U_K)                        # scale of either: the same V
    assert np.allclose(V, dg.right_basis(K, U_K), rtol=0, atol=1e-12)
    assert np.allclose(V.T @ V, np.eye(V.shape[0]), rtol=0, atol=1e-12)


def test_right_basis_needs_nonzero_singular_values():
    data = get_data("demo3")
    U_K, _ = al.aligned_bases(data)
    with pytest.raises(ValueError, match="nonzero"):
        dg.right_basis(np.zeros((data.d, data.d)), U_K)


# -- approximate KKT -----------------------------------------------------------------------------------------------

def test_kkt_Blambda_equals_arcsinh_identity():
    """Chapter 4 (paper appendix A.5): B lambda(t) = arcsinh(beta(t) / omega_0^2) / ln mu(t), from beta alone."""
    tr = xi_flow()
    data = get_data("demo1")
    res = dg.kkt_residuals(tr, al.solve_svm(data, "l1"))
    w2 = (tr.params["xi_k"][0] ** 2 + tr.params["xi_q"][0] ** 2) / 2
    beta = tr.params["xi_k"] * tr.params["xi_q"]
    ok = tr.margin > 1
    assert ok.sum() > 100
    ident = np.arcsinh(beta[ok] / w2) / np.log(tr.margin[ok])[:, None]
    assert np.max(np.abs(res.Blambda[ok] - ident)) <= 1e-6 * max(1.0, np.abs(ident).max())
    assert np.all(np.isnan(res.Blambda[~ok]))


def test_kkt_residuals_behave():
    tr = xi_flow()
    res = dg.kkt_residuals(tr, al.solve_svm(get_data("demo1"), "l1"))
    ok = tr.margin > 10
    assert np.all(res.feasibility[ok] >= -1e-9)  # beta_hat is feasible by the definition of mu
    assert np.all(res.lam[ok] >= 0)
    # stationarity residual shrinks, logarithmically: measured 0.43 -> ~0.1 between mu = 10 and 690
    eps = res.epsilon[ok]
    assert eps[-1] < 0.5 * eps[0]
    assert res.epsilon_prime[-1] < 0.2


def test_kkt_residuals_error_paths():
    data = get_data("demo1")
    with pytest.raises(ValueError, match="param='xi'"):
        dg.kkt_residuals(w_flow(), al.solve_svm(data, "l1"))
    with pytest.raises(ValueError, match="l1"):
        dg.kkt_residuals(xi_flow(), al.solve_svm(data, "l2"))


def test_relative_error_is_guarded_at_zero_and_checks_shapes():
    from attnlib.diagnostics import relative_error

    ref = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    a = np.array([[0.0, 0.0], [3.0, 4.5], [0.0, 2.0]])
    np.testing.assert_allclose(relative_error(a, ref, axis=1), [0.0, 0.1, 2.0])  # 0/0 -> 0; x/0 -> |x|
    with pytest.raises(ValueError, match="shape"):
        relative_error(a, ref[:2])


def test_beta_velocity_is_the_chain_rule_and_matches_e6_only_on_the_hyperbola():
    from attnlib.diagnostics import beta_velocity

    data = al.make_diagonal_data(5, 3, 6, seed=0)
    w = 0.3 * np.ones(data.d)
    a = np.linspace(0.1, 1.0, data.d)
    xi_k, xi_q = np.sqrt(2) * w * np.cosh(a), np.sqrt(2) * w * np.sinh(a)
    beta_dot, corrected = beta_velocity(data, xi_k, xi_q, w)
    # beta' by a central difference along the gradient field of (xi_k, xi_q)
    gk, gq = al.loss_grad_xi(data, xi_k, xi_q)
    h = 1e-6
    fd = ((xi_k - h * gk) * (xi_q - h * gq) - (xi_k + h * gk) * (xi_q + h * gq)) / (2 * h)
    np.testing.assert_allclose(beta_dot, fd, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(corrected, beta_dot, rtol=1e-10)        # E6: no extra 1/n on the hyperbola
    off_k = 1.3 * xi_k                                                    # off the conserved hyperbola
    b2, c2 = beta_velocity(data, off_k, xi_q, w)
    assert np.max(np.abs(c2 - b2)) > 1e-3 * np.max(np.abs(b2))
    with pytest.raises(ValueError, match="xi_q"):
        beta_velocity(data, xi_k, xi_q[:2], w)


def test_the_diagonal_network_flow_is_the_xi_flow_lemma_4_1(demo1):
    # Independent solver (its own ODE in w_+, w_-): w(t) equals beta(t) of the library's xi-flow from init (5).
    om = 0.1 * np.ones(demo1.d)
    traj = al.gradient_flow(demo1, "xi", (np.sqrt(2) * om, np.zeros(demo1.d)), t_end=1e4, rtol=1e-10)
    w = dg.diagonal_network_flow(demo1, om, traj.t)
    beta = np.diagonal(traj.W, axis1=1, axis2=2)
    assert np.max(np.abs(w - beta)) <= 1e-6 * np.max(np.abs(beta))
    with pytest.raises(ValueError, match="t_eval must be increasing times starting at 0"):
        dg.diagonal_network_flow(demo1, om, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="omega0"):
        dg.diagonal_network_flow(demo1, np.ones(demo1.d + 1), traj.t)


def test_svm_distance_to_a_selection_svm_uses_the_selection_margin():
    """Issue 27, finding 9: a flow started on a selection SVM's direction (sample 0 attends its second-best
    token). Its margin over data.opt is negative, so normalising by it gave NaN at every time; normalised by the
    selection's own margin the distance is 0 at the start (W(0) = 20 W_sel) and stays small."""
    data = al.make_generic_data(6, 8, 10, seed=5)
    sel = np.array(data.opt)
    sel[0] = int(np.argsort(data.gamma[0])[-2])
    sol = al.solve_selection_svm(data, sel, "fro")
    np.testing.assert_array_equal(sol.selection, sel)
    traj = al.gradient_flow(data, "W", 20 * sol.W, t_end=1e6)
    assert np.all(traj.margin < 0)  # the margin over data.opt: the selection is not opt
    dist = al.svm_distance(traj, sol)
    assert np.all(np.isfinite(dist))
    assert dist[0] < 1e-12 and dist.max() < 1e-3
    i, l = al.selection_pairs(data, sel).T
    W = traj.W[-1]
    mu = np.min(np.einsum("kd,de,ke->k", data.X[i, sel[i]] - data.X[i, l], W, data.z[i]))
    assert dist[-1] == pytest.approx(np.linalg.norm(W / mu - sol.W) / np.linalg.norm(sol.W), rel=1e-12)
    # a solve_svm solution keeps the margin over data.opt (its selection is None)
    full = al.solve_svm(data, "fro")
    assert full.selection is None
    np.testing.assert_allclose(al.svm_distance(traj, full), np.linalg.norm(traj.direction() - full.W, axis=(1, 2))
                               / np.linalg.norm(full.W), equal_nan=True)


def test_sinh_closed_form_names_a_trajectory_not_saved_from_t0():
    """#27 finding 6: a flow saved from t = 1 was told its initialisation is not (5)."""
    data = al.make_diagonal_data()
    traj = al.gradient_flow(data, "xi", al.default_init(data, "xi"), t_end=10.0, t_eval=np.array([1.0, 5.0, 10.0]))
    with pytest.raises(ValueError, match=r"saved from t = 0; its first saved time is t = 1") as exc:
        al.sinh_closed_form(traj)
    assert "initialisation (5)" not in str(exc.value)
