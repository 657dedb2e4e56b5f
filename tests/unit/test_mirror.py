"""attnlib.mirror: the l_p attention SVM (KKT certificate, p = 2 against solve_svm) and l_p mirror descent."""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al
from attnlib import mirror


@pytest.fixture(scope="module")
def data():
    return al.make_generic_data(4, 3, 4, seed=3, equal_scores=True)


def test_p2_is_the_frobenius_svm(data):
    sol = mirror.solve_lp_svm(data, 2.0)
    ref = al.solve_svm(data, "fro")
    assert np.abs(sol.W - ref.W).max() < 1e-5             # the power-cone solve is accurate to ~1e-6
    assert sol.value == pytest.approx(ref.value, rel=1e-7)


@pytest.mark.parametrize("p", [1.5, 3.0])
def test_lp_svm_kkt_certificate(data, p):
    sol = mirror.solve_lp_svm(data, p)
    assert sol.status == "optimal"
    assert sol.margin == pytest.approx(1.0, abs=1e-6)
    assert sol.stationarity < 1e-4                      # sum lambda A = grad ||W||_p (solver accuracy ~1e-5)
    slack = np.einsum("kde,de->k", data.A, sol.W) - 1
    assert np.abs(sol.dual * slack).max() < 1e-6        # complementary slackness


def test_mirror_maps_are_inverse():
    Z = np.random.default_rng(0).standard_normal((3, 3))
    for p in (1.5, 2.0, 3.0):
        assert np.allclose(mirror.mirror_map(mirror.inverse_mirror_map(Z, p), p), Z)


def test_p2_mirror_descent_is_normalised_gd(data):
    k, Ws = mirror.mirror_descent(data, 2.0, lr=0.2, steps=30, save_every=30)
    ref = al.gradient_descent(data, "W", np.zeros((4, 4)), lr=0.2, steps=30, normalized=True)
    assert k.tolist() == [0, 30]
    assert np.allclose(Ws[-1], ref.W[-1], rtol=1e-8, atol=1e-10)


def test_bad_input(data):
    with pytest.raises(ValueError, match="p"):
        mirror.solve_lp_svm(data, 1.0)
    with pytest.raises(ValueError, match="lr"):
        mirror.mirror_descent(data, 2.0, lr=0.0)


def _assert_lp_certified(data, sol, tol=1e-6):
    """Margin 1 and an independent KKT certificate: sum lambda = ||W||_p and ||sum lambda A||_q <= 1."""
    p = sol.p
    q = p / (p - 1)
    vals = np.einsum("kde,de->k", data.A, sol.W)
    assert vals.min() == pytest.approx(1.0, abs=1e-9)
    G = np.tensordot(sol.dual, data.A, 1)
    top = np.abs(G).max()
    assert top * np.sum((np.abs(G) / top) ** q) ** (1 / q) <= 1 + tol
    assert sol.dual.sum() == pytest.approx(sol.value, rel=tol)
    assert sol.certificate <= tol


@pytest.mark.parametrize("p", [1.00001, 1.01, 1.5, 3.0, 50.0])
def test_lp_svm_near_one_and_far_is_certified(data, p):
    """Issue 27, finding 10: p = 1.00001 raised cvxpy's DCPError (pnorm's rational approximation of p); at
    p = 1.01 the status could be optimal_inaccurate, reported as 'infeasible exactly when Assumption 1 fails'.
    Power cones and our own certificate decide now."""
    sol = mirror.solve_lp_svm(data, p)
    assert sol.status.startswith("optimal")
    _assert_lp_certified(data, sol)


@pytest.mark.parametrize("s", [1e-8, 1e8])
@pytest.mark.parametrize("p", [1.5, 3.0])
def test_lp_svm_is_scale_equivariant(data, p, s):
    """Tokens x s: W / s, multipliers / s (W * s was 0.79 % / 0.70 % off at s = 1e-8 / 1e8, status 'optimal')."""
    ref = mirror.solve_lp_svm(data, p)
    scaled = al.AttentionData(data.X * s, data.z, data.y, data.v)
    sol = mirror.solve_lp_svm(scaled, p)
    _assert_lp_certified(scaled, sol)
    assert sol.value * s == pytest.approx(ref.value, rel=1e-8)
    # a certificate of 1e-9 pins the strictly convex problem's W to about its square root
    np.testing.assert_allclose(sol.W * s, ref.W, atol=1e-4 * np.abs(ref.W).max())
    np.testing.assert_allclose(sol.dual * s, ref.dual, atol=1e-4 * ref.dual.max())


def test_lp_svm_of_non_separable_data_is_infeasible():
    """Two samples with the same query and the same two tokens, ranked oppositely (labels +1 and -1): no W
    ranks both optimal tokens first. It raised RuntimeError; now the SVMs' InfeasibleSVMError."""
    X = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    z = np.array([[1.0, 1.0], [1.0, 1.0]])
    bad = al.AttentionData(X, z, np.array([1.0, -1.0]), np.array([1.0, -1.0]))
    assert not al.check_assumptions(bad).holds("1")
    with pytest.raises(al.InfeasibleSVMError, match="Assumption 1"):
        mirror.solve_lp_svm(bad, 1.5)


def test_mirror_descent_near_one_stays_finite(data):
    """p = 1.01: the q-norm (q = 101) of the gradient underflowed to 0 and the gradient itself to 0 once the
    attention saturated, giving NaN; the direction is now computed in log space (loss_grad_direction)."""
    k, Ws = mirror.mirror_descent(data, 1.01, steps=200)
    assert np.all(np.isfinite(Ws)) and k[-1] == 200
    with pytest.raises(ValueError, match=r"mirror descent with p=1.0001 leaves float64 at step \d+.*use steps <="):
        mirror.mirror_descent(data, 1.0001, steps=800)


def test_mirror_maps_validate():
    with pytest.raises(ValueError, match=r"p must be a real number in \(1, 100\]; got 1"):
        mirror.inverse_mirror_map(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match="inverse_mirror_map overflows float64 for p=1.001"):
        mirror.inverse_mirror_map(np.full((2, 2), 3.0), 1.001)
    with pytest.raises(TypeError, match="Z must be"):
        mirror.inverse_mirror_map(None, 2.0)


def test_lp_svm_optimal_inaccurate_with_a_certificate_is_an_answer(data, monkeypatch):
    """A solver that says optimal_inaccurate about an accurate point: the certificate decides (the old code
    raised 'infeasible exactly when Assumption 1 fails' for any status but 'optimal')."""
    import cvxpy as cp
    original = cp.Problem.solve

    def cautious(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        self._status = "optimal_inaccurate"
        return out

    monkeypatch.setattr(cp.Problem, "solve", cautious)
    sol = mirror.solve_lp_svm(data, 1.5)
    assert sol.status == "optimal_inaccurate" and sol.solver == "CLARABEL"
    _assert_lp_certified(data, sol)
