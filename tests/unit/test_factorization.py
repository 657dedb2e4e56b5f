"""attnlib.factorization: the variational identities (against cvxpy's SDP form of the nuclear norm and random
factorizations) and Watson's subdifferential (against finite differences and the subgradient inequality)."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attnlib as al
from attnlib import factorization as fz


def _low_rank(rng, d=5, r=2):
    return rng.standard_normal((d, r)) @ rng.standard_normal((r, d))


@given(st.integers(0, 10_000))
@settings(max_examples=30, deadline=None)
def test_l1_factors_attain_l1_and_others_cost_more(seed):
    rng = np.random.default_rng(seed)
    beta = rng.standard_normal(5) * (rng.random(5) < 0.7)
    xk, xq = fz.l1_factors(beta)
    assert np.allclose(xk * xq, beta, atol=1e-14)
    assert fz.factor_cost(xk, xq) == pytest.approx(np.abs(beta).sum(), rel=1e-13, abs=1e-15)
    c = np.exp(rng.standard_normal(5))                   # another factorization: xi_k = c * xk, xi_q = xq / c
    assert fz.factor_cost(c * xk, xq / c) >= np.abs(beta).sum() - 1e-12


def test_nuclear_identity_matches_cvxpy_sdp():
    # ||W||_* = min (tr A + tr C) / 2 over [[A, W], [W^T, C]] >= 0 (the SDP form of the factorization identity)
    rng = np.random.default_rng(1)
    W = _low_rank(rng, 4, 2)
    Z = cp.Variable((8, 8), symmetric=True)
    prob = cp.Problem(cp.Minimize(0.5 * cp.trace(Z)), [Z >> 0, Z[:4, 4:] == W])
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    K, Q = fz.nuclear_factors(W)
    assert fz.factor_cost(K, Q) == pytest.approx(prob.value, rel=1e-6)
    assert fz.factor_cost(K, Q) == pytest.approx(np.linalg.norm(W, "nuc"), rel=1e-12)


@given(st.integers(0, 10_000), st.integers(1, 4))
@settings(max_examples=30, deadline=None)
def test_nuclear_factors_balanced_and_minimal(seed, r):
    rng = np.random.default_rng(seed)
    W = _low_rank(rng, 5, r)
    K, Q = fz.nuclear_factors(W, d_e=6)
    assert K.shape == (5, 6) and Q.shape == (5, 6)
    assert np.allclose(K @ Q.T, W, atol=1e-10 * np.abs(W).max())
    assert np.allclose(K.T @ K, Q.T @ Q, atol=1e-10 * np.abs(W).max())
    R = rng.standard_normal((6, 6)) + 3 * np.eye(6)      # K R, Q R^{-T}: the same product, a larger cost
    assert fz.factor_cost(K @ R, Q @ np.linalg.inv(R).T) >= np.linalg.norm(W, "nuc") * (1 - 1e-12)


def test_nuclear_factors_refuses_too_small_d_e():
    W = _low_rank(np.random.default_rng(0), 4, 3)
    with pytest.raises(ValueError, match="d_e must be at least rank"):
        fz.nuclear_factors(W, d_e=2)


def _nuc(W):
    return np.linalg.svd(W, compute_uv=False).sum()


def test_subgradient_is_the_gradient_at_full_rank():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((4, 4))
    G = fz.nuclear_subgradient(W)
    h = 1e-6
    fd = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = h
        fd[idx] = (_nuc(W + E) - _nuc(W - E)) / (2 * h)
    assert np.abs(fd - G).max() < 1e-7
    assert fz.check_nuclear_subgradient(W, G).ok()


@given(st.integers(0, 10_000))
@settings(max_examples=20, deadline=None)
def test_watson_members_satisfy_the_subgradient_inequality(seed):
    rng = np.random.default_rng(seed)
    W = _low_rank(rng, 5, 2)
    G = fz.nuclear_subgradient(W, E=3 * rng.standard_normal((5, 5)))
    chk = fz.check_nuclear_subgradient(W, G)
    assert chk.ok() and chk.rank == 2
    assert chk.op_norm <= 1 + 1e-10 and abs(chk.inner) < 1e-10 * _nuc(W)
    for _ in range(50):
        H = rng.standard_normal((5, 5)) * rng.exponential()
        assert _nuc(W + H) >= _nuc(W) + np.sum(G * H) - 1e-9


def test_check_rejects_each_broken_condition():
    rng = np.random.default_rng(3)
    W = _low_rank(rng, 5, 2)
    U, s, Vt = np.linalg.svd(W)
    G0 = U[:, :2] @ Vt[:2]
    # E too large: 1.5 u3 v3^T violates the inequality along H = t u3 v3^T
    G = G0 + 1.5 * np.outer(U[:, 2], Vt[2])
    chk = fz.check_nuclear_subgradient(W, G)
    assert not chk.ok() and chk.residual_op == pytest.approx(1.5)
    H = 0.1 * np.outer(U[:, 2], Vt[2])
    assert _nuc(W + H) < _nuc(W) + np.sum(G * H) - 1e-3
    # a mixed block: u1 v3^T
    chk = fz.check_nuclear_subgradient(W, G0 + 0.3 * np.outer(U[:, 0], Vt[2]))
    assert not chk.ok() and chk.cross_error == pytest.approx(0.3)
    # wrong part on the spaces of W
    chk = fz.check_nuclear_subgradient(W, 0.5 * G0)
    assert not chk.ok() and chk.uv_error == pytest.approx(0.5)


def test_pair_sum_matches_the_definition():
    data = al.make_orthogonal_data()
    lam = np.random.default_rng(0).random(len(data.pairs))
    G = fz.pair_sum(data, lam)
    ref = sum(lk * np.outer(data.X[i, data.opt[i]] - data.X[i, l], data.z[i]) for lk, (i, l) in zip(lam, data.pairs))
    assert np.allclose(G, ref)


def test_padded_diag_builds_Diag_zero_padded():
    """Erratum E4: K = [Diag(xi_k), 0], Q = [Diag(xi_q), 0] of shape (d, d_e) give K Q^T = Diag(xi_k * xi_q)."""
    rng = np.random.default_rng(0)
    xi_k, xi_q = rng.standard_normal(3), rng.standard_normal(3)
    K, Q = fz.padded_diag(xi_k, 5), fz.padded_diag(xi_q, 5)
    assert K.shape == (3, 5) and np.array_equal(np.diag(K), xi_k) and not np.any(K[:, 3:])
    assert np.array_equal(K @ Q.T, np.diag(xi_k * xi_q))
    assert np.array_equal(fz.padded_diag([1.0, 2.0], 2), np.diag([1.0, 2.0]))  # d_e = d: plain Diag
    v = np.array([1.0, 2.0])
    fz.padded_diag(v, 3)[0, 0] = 7.0
    assert v[0] == 1.0  # a new array


def test_padded_diag_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="xi"):
        fz.padded_diag(np.ones((2, 2)), 3)
    with pytest.raises(ValueError, match="xi"):
        fz.padded_diag([1.0, np.inf], 3)
    with pytest.raises(ValueError, match="d_e"):
        fz.padded_diag(np.ones(3), 2)
    with pytest.raises(ValueError, match="d_e"):
        fz.padded_diag(np.ones(3), 3.5)
    with pytest.raises(TypeError, match="d_e"):
        fz.padded_diag(np.ones(3), None)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="beta"):
        fz.l1_factors(np.ones((2, 2)))
    with pytest.raises(ValueError, match="G"):
        fz.check_nuclear_subgradient(np.eye(3), np.eye(2))
    with pytest.raises(ValueError, match="lam"):
        fz.pair_sum(al.make_orthogonal_data(), np.ones(3))
    with pytest.raises(ValueError, match="K and Q"):
        fz.factor_cost(np.ones(3), np.ones(4))
    with pytest.raises((TypeError, ValueError), match="W"):
        fz.nuclear_factors(None)
