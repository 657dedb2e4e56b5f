"""Model, losses and gradients (paper §3, appendix A.1).

Every check compares attnlib with an independent computation: central finite differences of the *naive* loss,
the definitions written out in numpy, or the naive formulas evaluated in high precision with mpmath (enough
digits to absorb the cancellation ``gamma_l - sigma.gamma`` that the library avoids analytically).
"""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import attnlib as al

FD_TOL = 1e-6  # relative error of a central difference with h = 1e-5: O(h^2) truncation + O(eps/h) rounding
MP_TOL = 1e-8  # required agreement with the 50-digit evaluation


# -- hypothesis strategies --------------------------------------------------------------------------------


@st.composite
def data_sets(draw, kinds=("diag", "orth", "generic", "generic_eq")):
    """Random data from every generator (random sizes and seeds)."""
    kind = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**16))
    if kind == "diag":
        n, L, d = draw(st.integers(1, 4)), draw(st.integers(2, 4)), draw(st.integers(2, 5))
        return al.make_diagonal_data(n, L, d, seed=seed)
    if kind == "orth":
        n = draw(st.integers(1, 3))
        L = draw(st.sampled_from([3, 5]))
        d = n + draw(st.integers(1, 2))
        c = draw(st.floats(-1.0, 0.9))
        return al.make_orthogonal_data(n, L, d, seed=seed, c=c)
    n, L, d = draw(st.integers(1, 4)), draw(st.integers(2, 5)), draw(st.integers(2, 5))
    return al.make_generic_data(n, L, d, seed=seed, equal_scores=(kind == "generic_eq"))


@st.composite
def data_and_W(draw, kinds=("diag", "orth", "generic", "generic_eq")):
    """A data set and a random W of moderate size (logits O(1), so no weight is negligible)."""
    data = draw(data_sets(kinds))
    scale = draw(st.floats(0.05, 1.0))
    seed = draw(st.integers(0, 2**16))
    W = scale * np.random.default_rng(seed).standard_normal((data.d, data.d)) / np.sqrt(data.d)
    return data, W


def _assert_fd_close(g, fd, f0, ref, discard=True):
    """``g`` equals the central difference ``fd`` to FD_TOL relative.

    Rounding puts a floor of about eps * |f| / h ~ 2e-11 |f| (h = 1e-5) under every difference quotient, so the
    comparison is only meaningful where the gradient is well above it; cases where attention has saturated (gradient
    below 1e-3 |f|) are discarded (``discard=True``, inside hypothesis tests; else such a case is an error of the
    test's choice of point) and covered by the high-precision tests below.
    """
    well_conditioned = np.linalg.norm(fd) > 1e-3 * abs(f0)
    if discard:
        assume(well_conditioned)
    else:
        assert well_conditioned, "test point too saturated for a finite-difference check"
    assert ref.rel_err(g, fd) < FD_TOL


def _W_at_margin(data: al.AttentionData, mu: float) -> np.ndarray:
    """``W = mu * W_F / mu(W_F)``: a separating W with margin exactly mu (Frobenius SVM direction)."""
    Wf = al.solve_svm(data, "fro").W
    return mu * Wf / al.margin(data, Wf)


# -- high-precision reference ------------------------------------------------------------------------------


def mp_reference(data: al.AttentionData, W: np.ndarray, mu: float) -> dict:
    """Loss, excess loss and the W-gradients of the exponential and logistic losses, in high precision.

    Uses the naive textbook formulas (softmax, ``(Sigma gamma)_l = sigma_l (gamma_l - sigma^T gamma)``, loss minus
    ``L*``), which cancel catastrophically in float64. The working precision is 60 + mu/ln(10) digits, so that at
    least 50 significant digits survive a cancellation of size e^-mu. The scores are ``data.gamma`` (the float64
    numbers that define the data set's loss and ``L*``), every other input is converted exactly.
    Returns mpmath numbers (which do not underflow).
    """
    digits = 60 + int(math.ceil(abs(mu) / math.log(10)))
    with mp.workdps(digits):
        n, L, d = data.n, data.L, data.d
        Wm = [[mp.mpf(float(W[a, b])) for b in range(d)] for a in range(d)]
        G = [[mp.mpf(0)] * d for _ in range(d)]
        GL = [[mp.mpf(0)] * d for _ in range(d)]
        loss = lstar = loss_log = lstar_log = mp.mpf(0)
        for i in range(n):
            X = [[mp.mpf(float(x)) for x in row] for row in data.X[i]]
            z = [mp.mpf(float(x)) for x in data.z[i]]
            gam = [mp.mpf(float(x)) for x in data.gamma[i]]
            Wz = [mp.fsum(Wm[a][b] * z[b] for b in range(d)) for a in range(d)]
            g = [mp.fsum(X[l][a] * Wz[a] for a in range(d)) for l in range(L)]
            gmax = max(g)
            e = [mp.exp(gl - gmax) for gl in g]
            tot = mp.fsum(e)
            sig = [el / tot for el in e]
            u = mp.fsum(s * gm for s, gm in zip(sig, gam))  # y_i Phi_i
            ell = mp.exp(-u)
            w_log = 1 / (1 + mp.exp(u))  # -d/du log(1 + e^-u)
            Sg = [sig[l] * (gam[l] - u) for l in range(L)]  # naive Sigma(g) gamma
            psi = [mp.fsum(Sg[l] * X[l][a] for l in range(L)) for a in range(d)]
            for a in range(d):
                for b in range(d):
                    G[a][b] -= ell * psi[a] * z[b] / n
                    GL[a][b] -= w_log * psi[a] * z[b] / n
            loss += ell / n
            lstar += mp.exp(-max(gam)) / n
            loss_log += mp.log1p(mp.exp(-u)) / n
            lstar_log += mp.log1p(mp.exp(-max(gam))) / n
        return {"grad": G, "grad_logistic": GL, "loss": loss, "excess": loss - lstar,
                "excess_logistic": loss_log - lstar_log, "digits": digits}


def mp_to_np(M, log_scale: float = 0.0) -> np.ndarray:
    """``e^log_scale * M`` as float64 (the scaling is done in high precision, so no underflow)."""
    with mp.workdps(60):
        f = mp.exp(log_scale)
        return np.array([[float(x * f) for x in row] for row in M])


def mp_norm(M) -> mp.mpf:
    return mp.sqrt(mp.fsum(x * x for row in M for x in row))


# -- shapes and the forward pass ---------------------------------------------------------------------------

ALL = ["demo1", "diag_s1", "demo3", "orth_s2", "generic_eq", "generic"]


@pytest.mark.parametrize("data", ALL, indirect=True)
def test_shapes_of_everything(data):
    n, L, d = data.n, data.L, data.d
    assert data.X.shape == (n, L, d) and data.z.shape == (n, d) and data.y.shape == (n,) and data.v.shape == (d,)
    m = n * (L - 1)
    assert data.gamma.shape == (n, L) and data.opt.shape == (n,)
    assert data.B.shape == (m, d) and data.A.shape == (m, d, d)
    assert data.D.shape == (m, d) and data.Z.shape == (m, d) and data.pairs.shape == (m, 2)
    rng = np.random.default_rng(0)
    W = 0.3 * rng.standard_normal((d, d))
    assert al.attention_scores(data, W).shape == (n, L)
    assert al.attention(data, W).shape == (n, L)
    assert al.predict(data, W).shape == (n,)
    for f in (al.exp_loss, al.excess_loss, al.log_excess_loss, al.logistic_loss, al.margin):
        assert isinstance(f(data, W), float)
    assert isinstance(al.min_loss(data), float)
    assert al.loss_grad(data, W).shape == (d, d)
    assert al.logistic_grad(data, W).shape == (d, d)
    K, Q = rng.standard_normal((d, d + 1)), rng.standard_normal((d, d + 1))
    gK, gQ = al.loss_grad_KQ(data, K, Q)
    assert gK.shape == (d, d + 1) and gQ.shape == (d, d + 1)
    assert al.loss_grad_beta(data, rng.standard_normal(d)).shape == (d,)
    gk, gq = al.loss_grad_xi(data, rng.standard_normal(d), rng.standard_normal(d))
    assert gk.shape == (d,) and gq.shape == (d,)


@given(dw=data_and_W())
def test_forward_pass_matches_definitions(dw, ref):
    data, W = dw
    g, sig, phi, gamma = ref.parts(data, W)
    np.testing.assert_allclose(al.attention_scores(data, W), g, rtol=1e-12, atol=1e-12)
    att = al.attention(data, W)
    assert np.all(att >= 0)
    np.testing.assert_allclose(att.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(att, sig, rtol=1e-12, atol=1e-15)
    pred = al.predict(data, W)
    np.testing.assert_allclose(pred, phi, rtol=1e-12, atol=1e-12)
    # y_i Phi_i = gamma_i^T sigma_i, i.e. Phi_i = y_i * (gamma-weighted attention)
    np.testing.assert_allclose(pred, data.y * np.sum(gamma * att, axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(al.exp_loss(data, W), ref.loss(data, W), rtol=1e-12)
    np.testing.assert_allclose(al.logistic_loss(data, W), ref.logistic(data, W), rtol=1e-12)
    np.testing.assert_allclose(al.min_loss(data), np.mean(np.exp(-gamma.max(axis=1))), rtol=1e-14)
    np.testing.assert_allclose(al.margin(data, W), ref.constraint_values(data, W).min(), rtol=1e-12, atol=1e-12)


def test_uniform_attention_at_zero(demo1):
    """At W = 0 the attention is uniform, so L(0) = (1/n) sum_i exp(-mean_l gamma_il) (notation page)."""
    W = np.zeros((demo1.d, demo1.d))
    np.testing.assert_allclose(al.attention(demo1, W), 1 / demo1.L)
    np.testing.assert_allclose(al.exp_loss(demo1, W), np.mean(np.exp(-demo1.gamma.mean(axis=1))), rtol=1e-15)


# -- gradients: finite differences ------------------------------------------------------------------------


@given(dw=data_and_W())
def test_loss_grad_finite_differences(dw, ref):
    data, W = dw
    fd = ref.fd_grad(lambda M: ref.loss(data, M), W)
    _assert_fd_close(al.loss_grad(data, W), fd, ref.loss(data, W), ref)


@given(dw=data_and_W())
def test_logistic_grad_finite_differences(dw, ref):
    data, W = dw
    fd = ref.fd_grad(lambda M: ref.logistic(data, M), W)
    _assert_fd_close(al.logistic_grad(data, W), fd, ref.logistic(data, W), ref)


@given(dw=data_and_W(), de_extra=st.integers(-1, 2), seed=st.integers(0, 2**16))
def test_loss_grad_KQ_finite_differences(dw, de_extra, seed, ref):
    """K, Q of shape (d, d_e) with d_e != d in general (d_e = d - 1 .. d + 2)."""
    data, W = dw
    de = max(1, data.d + de_extra)
    rng = np.random.default_rng(seed)
    scale = np.sqrt(np.linalg.norm(W) / np.sqrt(data.d * de))
    K, Q = scale * rng.standard_normal((data.d, de)), scale * rng.standard_normal((data.d, de))
    gK, gQ = al.loss_grad_KQ(data, K, Q)
    fdK = ref.fd_grad(lambda M: ref.loss(data, M @ Q.T), K)
    fdQ = ref.fd_grad(lambda M: ref.loss(data, K @ M.T), Q)
    f0 = ref.loss(data, K @ Q.T)
    _assert_fd_close(gK, fdK, f0, ref)
    _assert_fd_close(gQ, fdQ, f0, ref)
    # the conservation law (paper appendix A.1, chapter 3): d/dt (K^T K - Q^T Q) = 0 along -grad
    dK = -(K.T @ gK + gK.T @ K)
    dQ = -(Q.T @ gQ + gQ.T @ Q)
    np.testing.assert_allclose(dK, dQ, atol=1e-13 * max(1.0, np.abs(dK).max()))


@given(dw=data_and_W(), seed=st.integers(0, 2**16))
def test_loss_grad_beta_and_xi_finite_differences(dw, seed, ref):
    data, W = dw
    rng = np.random.default_rng(seed)
    beta = np.diag(W).copy()
    gb = al.loss_grad_beta(data, beta)
    fd = ref.fd_grad(lambda b: ref.loss(data, np.diag(b)), beta)
    _assert_fd_close(gb, fd, ref.loss(data, np.diag(beta)), ref)
    np.testing.assert_allclose(gb, np.diag(al.loss_grad(data, np.diag(beta))), rtol=1e-12, atol=1e-16)
    xi_k = rng.standard_normal(data.d) * np.sqrt(np.abs(beta).max() + 0.1)
    xi_q = rng.standard_normal(data.d) * np.sqrt(np.abs(beta).max() + 0.1)
    gk, gq = al.loss_grad_xi(data, xi_k, xi_q)
    fdk = ref.fd_grad(lambda x: ref.loss(data, np.diag(x * xi_q)), xi_k)
    fdq = ref.fd_grad(lambda x: ref.loss(data, np.diag(xi_k * x)), xi_q)
    f0 = ref.loss(data, np.diag(xi_k * xi_q))
    _assert_fd_close(gk, fdk, f0, ref)
    _assert_fd_close(gq, fdq, f0, ref)
    # diagonal conservation law: xi_k^2 - xi_q^2 is constant along the flow
    np.testing.assert_allclose(xi_k * gk, xi_q * gq, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("data", ALL, indirect=True)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_gradient_finite_differences_on_named_data(data, seed, ref, discard=False):
    """The same checks on fixed diagonal, orthogonal and generic data (so each kind is covered every run)."""
    rng = np.random.default_rng(seed)
    d = data.d
    W = 0.4 * rng.standard_normal((d, d)) / np.sqrt(d)
    _assert_fd_close(al.loss_grad(data, W), ref.fd_grad(lambda M: ref.loss(data, M), W), ref.loss(data, W), ref, discard=False)
    _assert_fd_close(al.logistic_grad(data, W), ref.fd_grad(lambda M: ref.logistic(data, M), W),
                     ref.logistic(data, W), ref, discard=False)
    K, Q = 0.5 * rng.standard_normal((d, d + 1)), 0.5 * rng.standard_normal((d, d + 1))
    gK, gQ = al.loss_grad_KQ(data, K, Q)
    _assert_fd_close(gK, ref.fd_grad(lambda M: ref.loss(data, M @ Q.T), K), ref.loss(data, K @ Q.T), ref, discard=False)
    _assert_fd_close(gQ, ref.fd_grad(lambda M: ref.loss(data, K @ M.T), Q), ref.loss(data, K @ Q.T), ref, discard=False)
    beta = np.diag(W).copy()
    _assert_fd_close(al.loss_grad_beta(data, beta), ref.fd_grad(lambda b: ref.loss(data, np.diag(b)), beta),
                     ref.loss(data, np.diag(beta)), ref, discard=False)
    xk, xq = rng.standard_normal(d), rng.standard_normal(d)
    gk, gq = al.loss_grad_xi(data, xk, xq)
    f0 = ref.loss(data, np.diag(xk * xq))
    _assert_fd_close(gk, ref.fd_grad(lambda x: ref.loss(data, np.diag(x * xq)), xk), f0, ref, discard=False)
    _assert_fd_close(gq, ref.fd_grad(lambda x: ref.loss(data, np.diag(xk * x)), xq), f0, ref, discard=False)


@given(dw=data_and_W(), s=st.sampled_from([-30.0, -2.5, 0.7, 10.0, 60.0]), seed=st.integers(0, 2**16))
def test_log_scale_multiplies_by_exp_s(dw, s, seed):
    """Every gradient with ``log_scale=s`` is e^s times the plain gradient (where both are representable)."""
    data, W = dw
    rng = np.random.default_rng(seed)
    K, Q = rng.standard_normal((data.d, data.d + 1)), rng.standard_normal((data.d, data.d + 1))
    b, xk, xq = rng.standard_normal(data.d), rng.standard_normal(data.d), rng.standard_normal(data.d)
    f = math.exp(s)
    pairs = [
        (al.loss_grad(data, W, log_scale=s), al.loss_grad(data, W)),
        (al.logistic_grad(data, W, log_scale=s), al.logistic_grad(data, W)),
        (al.loss_grad_beta(data, b, log_scale=s), al.loss_grad_beta(data, b)),
        *zip(al.loss_grad_KQ(data, K, Q, log_scale=s), al.loss_grad_KQ(data, K, Q)),
        *zip(al.loss_grad_xi(data, xk, xq, log_scale=s), al.loss_grad_xi(data, xk, xq)),
    ]
    for scaled, plain in pairs:
        np.testing.assert_allclose(scaled, f * plain, rtol=1e-11, atol=1e-14 * f * np.abs(plain).max())


# -- the conserved form of the gradient (paper eq. (8)/(38)) -------------------------------------------------


ASSUMPTION2 = ["demo1", "diag_s1", "demo3", "orth_s2", "generic_eq"]


@pytest.mark.parametrize("data", ASSUMPTION2, indirect=True)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_negative_gradient_is_positive_combination_of_constraints(data, seed, ref):
    """Under Assumption 2: -grad_W L = (1/n) sum_il c_il A_il with c_il = l_i sigma_opt sigma_l Delta_i > 0,
    and -grad_beta L = (1/n) sum_il c_il B_il."""
    assert al.check_assumptions(data).holds("2")
    rng = np.random.default_rng(seed)
    W = 0.5 * rng.standard_normal((data.d, data.d))
    _, sig, phi, gamma = ref.parts(data, W)
    ell = np.exp(-data.y * phi)
    opt = gamma.argmax(axis=1)
    lhs = np.zeros((data.d, data.d))
    for i in range(data.n):
        for l in range(data.L):
            if l == opt[i]:
                continue
            c = ell[i] * sig[i, opt[i]] * sig[i, l] * (gamma[i, opt[i]] - gamma[i, l])
            assert c > 0
            dx = data.X[i, opt[i]] - data.X[i, l]
            lhs += c * np.outer(dx, data.z[i]) / data.n
    G = al.loss_grad(data, W)
    np.testing.assert_allclose(-G, lhs, rtol=1e-10, atol=1e-14 * np.abs(lhs).max())
    Wd = np.diag(np.diag(W))
    _, sig, phi, _ = ref.parts(data, Wd)
    ell = np.exp(-data.y * phi)
    lhs_beta = np.zeros(data.d)
    for k, (i, l) in enumerate(data.pairs):
        c = ell[i] * sig[i, opt[i]] * sig[i, l] * (gamma[i, opt[i]] - gamma[i, l])
        lhs_beta += c * data.B[k] / data.n
    np.testing.assert_allclose(-al.loss_grad_beta(data, np.diag(W)), lhs_beta, rtol=1e-10,
                               atol=1e-14 * np.abs(lhs_beta).max())


def test_general_form_and_positivity_needs_assumption_2(ref):
    """Always -grad = (1/n) sum_il l_i (-(Sigma gamma)_l) A_il (since 1^T Sigma = 0); the weights are positive only
    under Assumption 2: with unequal non-optimal scores a better-than-average non-optimal token gets a negative one."""
    data = al.make_generic_data(3, 4, 4, seed=5)
    assert not al.check_assumptions(data).holds("2")
    W = np.zeros((data.d, data.d))
    _, sig, phi, gamma = ref.parts(data, W)
    ell = np.exp(-data.y * phi)
    opt = gamma.argmax(axis=1)
    lhs = np.zeros((data.d, data.d))
    weights = []
    for i, l in data.pairs:
        Sg = sig[i] * (gamma[i] - sig[i] @ gamma[i])
        weights.append(-ell[i] * Sg[l])
        lhs += weights[-1] * np.outer(data.X[i, opt[i]] - data.X[i, l], data.z[i]) / data.n
    np.testing.assert_allclose(-al.loss_grad(data, W), lhs, rtol=1e-10, atol=1e-15)
    assert min(weights) < 0 < max(weights)


# -- numerics at large margins ------------------------------------------------------------------------------

NUMERIC_SETS = ["demo1", "demo3", "generic_eq", "generic"]


@pytest.mark.parametrize("data", NUMERIC_SETS, indirect=True)
def test_loss_grad_accurate_at_margin_300(data):
    W = _W_at_margin(data, 300.0)
    assert al.margin(data, W) == pytest.approx(300.0, rel=1e-12)
    att = al.attention(data, W)
    nonopt = np.delete(att, data.opt + data.L * np.arange(data.n))  # non-optimal weights: all ~e^-300 or less
    assert nonopt.max() < 1e-120  # far below machine epsilon: the regime where gamma_l - sigma.gamma cancels
    ref = mp_reference(data, W, 300.0)
    G_mp = mp_to_np(ref["grad"])
    assert np.all(np.isfinite(G_mp)) and np.abs(G_mp).max() > 0
    G = al.loss_grad(data, W)
    assert np.linalg.norm(G - G_mp) <= MP_TOL * np.linalg.norm(G_mp)
    GL_mp = mp_to_np(ref["grad_logistic"])
    assert np.linalg.norm(al.logistic_grad(data, W) - GL_mp) <= MP_TOL * np.linalg.norm(GL_mp)


@pytest.mark.parametrize("data", NUMERIC_SETS, indirect=True)
def test_scaled_gradient_accurate_where_gradient_underflows(data):
    mu = 1000.0
    W = _W_at_margin(data, mu)
    ref = mp_reference(data, W, mu)
    assert mp_norm(ref["grad"]) < mp.mpf("1e-320")  # the true gradient is below the smallest float64
    G = al.loss_grad(data, W)
    assert np.all(np.isfinite(G)) and np.abs(G).max() < 1e-300  # underflows (no garbage)
    for s in (mu, mu - 5.0, mu + 20.0):
        Gs = al.loss_grad(data, W, log_scale=s)
        Gs_mp = mp_to_np(ref["grad"], s)
        assert np.all(np.isfinite(Gs)) and np.abs(Gs).max() > 0
        assert np.linalg.norm(Gs - Gs_mp) <= MP_TOL * np.linalg.norm(Gs_mp)
        GLs_mp = mp_to_np(ref["grad_logistic"], s)
        assert np.linalg.norm(al.logistic_grad(data, W, log_scale=s) - GLs_mp) <= MP_TOL * np.linalg.norm(GLs_mp)
    # the factorised forms, through the chain rule: K = W, Q = I gives grad_K = G, grad_Q = G^T W
    Gs_mp = mp_to_np(ref["grad"], mu)
    gK, gQ = al.loss_grad_KQ(data, W, np.eye(data.d), log_scale=mu)
    assert np.linalg.norm(gK - Gs_mp) <= MP_TOL * np.linalg.norm(Gs_mp)
    assert np.linalg.norm(gQ - Gs_mp.T @ W) <= MP_TOL * np.linalg.norm(Gs_mp.T @ W)


def test_scaled_diagonal_gradients_accurate_where_gradient_underflows(demo1):
    mu = 1000.0
    beta_l1 = al.solve_svm(demo1, "l1").beta
    beta = mu * beta_l1 / al.margin(demo1, np.diag(beta_l1))
    ref = mp_reference(demo1, np.diag(beta), mu)
    g_mp = np.diag(mp_to_np(ref["grad"], mu))
    assert np.abs(al.loss_grad_beta(demo1, beta)).max() < 1e-300
    gb = al.loss_grad_beta(demo1, beta, log_scale=mu)
    assert np.linalg.norm(gb - g_mp) <= MP_TOL * np.linalg.norm(g_mp)
    xi_k = np.sqrt(np.abs(beta)) * np.sign(beta) + 1.0
    xi_q = beta / xi_k
    gk, gq = al.loss_grad_xi(demo1, xi_k, xi_q, log_scale=mu)
    ref2 = mp_reference(demo1, np.diag(xi_k * xi_q), mu)
    g2 = np.diag(mp_to_np(ref2["grad"], mu))
    assert np.linalg.norm(gk - g2 * xi_q) <= MP_TOL * np.linalg.norm(g2 * xi_q)
    assert np.linalg.norm(gq - g2 * xi_k) <= MP_TOL * np.linalg.norm(g2 * xi_k)


@pytest.mark.parametrize("data", NUMERIC_SETS, indirect=True)
@pytest.mark.parametrize("mu", [0.5, 5.0, 30.0, 100.0, 230.0, 650.0])
def test_excess_loss_matches_high_precision(data, mu):
    W = _W_at_margin(data, mu)
    ex_mp = mp_reference(data, W, mu)["excess"]
    assert ex_mp > 0
    ex = al.excess_loss(data, W)
    assert abs(ex - float(ex_mp)) <= MP_TOL * float(ex_mp)
    naive = al.exp_loss(data, W) - al.min_loss(data)
    if mu >= 100:  # the excess is below eps * L*: the naive difference is 0 or rounding noise, not the excess
        assert float(ex_mp) < 1e-30 and abs(naive - float(ex_mp)) > 0.5 * float(ex_mp)
    with mp.workdps(60):
        assert abs(al.log_excess_loss(data, W) - float(mp.log(ex_mp))) <= MP_TOL


@pytest.mark.parametrize("data", NUMERIC_SETS, indirect=True)
@pytest.mark.parametrize("mu", [800.0, 2000.0, 1e4])
def test_log_excess_loss_where_excess_underflows(data, mu):
    W = _W_at_margin(data, mu)
    ex_mp = mp_reference(data, W, mu)["excess"]
    assert 0 < ex_mp < mp.mpf("1e-320")
    assert al.excess_loss(data, W) < 1e-300  # underflowed, and not garbage
    with mp.workdps(60):
        log_mp = float(mp.log(ex_mp))
    # an absolute error delta in log(excess) is a relative error delta in the excess
    assert abs(al.log_excess_loss(data, W) - log_mp) <= MP_TOL


@pytest.mark.parametrize("data", NUMERIC_SETS, indirect=True)
@pytest.mark.parametrize("t", [1e16, 1e50, 1e100, 1e300])
def test_logistic_excess_loss_matches_high_precision(data, t):
    """Issue 27, finding 4: the logistic loss's excess at margin ln t (where the flow is at time ~t). The
    difference logistic_loss - L* is 0 from t ~ 1e16 (the excess is below eps * L*); the log-space form keeps
    every digit, against mpmath with 60 digits beyond the cancellation."""
    mu = math.log(t)
    W = _W_at_margin(data, mu)
    ex_mp = mp_reference(data, W, mu)["excess_logistic"]
    assert ex_mp > 0
    ex = al.excess_loss(data, W, loss="logistic")
    assert abs(ex - float(ex_mp)) <= MP_TOL * float(ex_mp)
    with mp.workdps(60):
        assert abs(al.log_excess_loss(data, W, loss="logistic") - float(mp.log(ex_mp))) <= MP_TOL
    naive = al.logistic_loss(data, W) - float(np.mean(np.logaddexp(0.0, -data.gamma_opt)))
    assert abs(naive - float(ex_mp)) > 1e-2 * float(ex_mp)  # subtracting the losses: off by 3 % at 1e16, 0 beyond


@pytest.mark.parametrize("data", NUMERIC_SETS, indirect=True)
@pytest.mark.parametrize("mu", [800.0, 2000.0, 1e4])
def test_log_logistic_excess_where_excess_underflows(data, mu):
    W = _W_at_margin(data, mu)
    ex_mp = mp_reference(data, W, mu)["excess_logistic"]
    assert 0 < ex_mp < mp.mpf("1e-320")
    assert al.excess_loss(data, W, loss="logistic") < 1e-300
    with mp.workdps(60):
        log_mp = float(mp.log(ex_mp))
    assert abs(al.log_excess_loss(data, W, loss="logistic") - log_mp) <= MP_TOL


def test_logistic_excess_loss_overflow_and_bad_loss():
    """Scores beyond ~1e3: the excess comes from the log-space form where a factor overflows; and the loss
    argument is checked."""
    base = al.make_generic_data(4, 5, 6, 0)
    data = al.AttentionData(base.X, base.z, base.y, base.v * 3000)
    W = np.zeros((6, 6))
    ex = al.excess_loss(data, W, loss="logistic")
    direct = al.logistic_loss(data, W) - float(np.mean(np.logaddexp(0.0, -data.gamma_opt)))
    assert ex == pytest.approx(direct, rel=1e-12)  # no cancellation here: the two forms agree
    assert al.log_excess_loss(data, W, loss="logistic") == pytest.approx(np.log(direct), rel=1e-12)
    with pytest.raises(ValueError, match=r"loss must be one of \('exp', 'logistic'\); got 'hinge'"):
        al.excess_loss(data, W, loss="hinge")


def test_excess_loss_bounds_and_convergence_to_min_loss(demo1):
    """exp_loss(t W_svm) -> L*: sandwich the excess between bounds derived from the margin t of t W_svm.

    With margin t every non-optimal weight has sigma_l <= sigma_l / sigma_opt <= e^-t, so
    r_i = sum_l sigma_l Delta_il <= (L-1) Delta_max e^-t and excess <= (1/n) sum_i e^-gamma_opt,i expm1(r_i).
    """
    data = demo1
    Ws = al.solve_svm(data, "fro").W
    Ws = Ws / al.margin(data, Ws)
    delta = data.gamma_opt[:, None] - data.gamma
    previous = np.inf
    for t in [1.0, 3.0, 10.0, 30.0, 100.0, 300.0]:
        ex = al.excess_loss(data, t * Ws)
        upper = np.mean(np.exp(-data.gamma_opt) * np.expm1((data.L - 1) * delta.max(axis=1) * np.exp(-t)))
        assert 0 < ex <= upper * (1 + 1e-12)
        assert ex < previous
        previous = ex
        assert al.exp_loss(data, t * Ws) >= al.min_loss(data)
    assert al.exp_loss(data, 100 * Ws) == pytest.approx(al.min_loss(data), rel=1e-15, abs=0)


@given(dw=data_and_W(), scale=st.sampled_from([1.0, 5.0, 30.0, 300.0]))
def test_min_loss_below_exp_loss(dw, scale, ref):
    """L* < L(W) for every finite W. Quantitatively: if pair (i, l) attains the margin mu then
    r_i >= min_l Delta_il * min(1, e^-mu) / L (either sigma_opt >= 1/L, so sigma_l >= e^-mu / L, or some
    non-optimal weight is >= 1/L), hence excess >= (1/n) e^-gamma_opt,i * that lower bound."""
    data, W = dw
    W = W * scale
    ex = al.excess_loss(data, W)
    assert ex >= 0 and np.isfinite(al.log_excess_loss(data, W))
    assert al.exp_loss(data, W) >= al.min_loss(data)
    cv = ref.constraint_values(data, W)
    k = int(np.argmin(cv))
    i = data.pairs[k][0]
    mu = cv[k]
    gaps = np.delete(data.gamma_opt[i] - data.gamma[i], data.opt[i])
    lower = np.exp(-data.gamma_opt[i]) * gaps.min() * np.exp(-max(mu, 0.0)) / (data.L * data.n)
    assert ex >= lower * (1 - 1e-9) or (lower < 1e-300 and al.log_excess_loss(data, W) > -np.inf)
    if mu < 20:  # then the excess is far above rounding, so the plain losses are strictly ordered too
        assert al.exp_loss(data, W) > al.min_loss(data)


@pytest.mark.parametrize("data", ALL, indirect=True)
@pytest.mark.filterwarnings("error")  # no overflow / invalid-value warnings either
def test_no_nan_or_inf_at_huge_norms(data):
    rng = np.random.default_rng(3)
    Ws = al.solve_svm(data, "fro").W
    Ws = Ws / al.margin(data, Ws)
    for W in (1e6 * Ws, -1e6 * Ws, 1e6 * rng.standard_normal((data.d, data.d)), 1e200 * Ws / np.abs(Ws).max()):
        att = al.attention(data, W)
        assert np.all(np.isfinite(att))
        np.testing.assert_allclose(att.sum(axis=1), 1.0, atol=1e-14)
        values = [al.attention_scores(data, W), al.predict(data, W), al.exp_loss(data, W), al.excess_loss(data, W),
                  al.log_excess_loss(data, W), al.logistic_loss(data, W), al.margin(data, W),
                  al.loss_grad(data, W), al.logistic_grad(data, W), *al.loss_grad_KQ(data, W, np.eye(data.d)),
                  al.loss_grad_beta(data, np.diag(W)), *al.loss_grad_xi(data, np.diag(W), np.ones(data.d))]
        for val in values:
            assert np.all(np.isfinite(val))
        assert al.exp_loss(data, W) >= al.min_loss(data) and al.excess_loss(data, W) >= 0
    # along the SVM direction: the loss has converged, log(excess) ~ -mu, and the gradient scaled by e^mu is
    # finite and nonzero although the gradient itself is e^-mu-small
    for mu in (1e3, 1e6):
        W = mu * Ws
        assert al.exp_loss(data, W) == pytest.approx(al.min_loss(data), rel=1e-15, abs=0)
        assert -mu - 50 < al.log_excess_loss(data, W) < -mu + 50
        for G in (al.loss_grad(data, W, log_scale=mu), al.logistic_grad(data, W, log_scale=mu),
                  *al.loss_grad_KQ(data, W, np.eye(data.d), log_scale=mu)):
            assert np.all(np.isfinite(G)) and np.abs(G).max() > 0


# -- cosine -------------------------------------------------------------------------------------------------


@given(shape=st.sampled_from([(3,), (2, 2), (3, 4), (2, 3, 2)]), seed=st.integers(0, 2**16),
       c=st.floats(0.01, 100.0))
def test_cosine(shape, seed, c):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal(shape), rng.standard_normal(shape)
    cos = al.cosine(A, B)
    assert -1 <= cos <= 1
    assert cos == pytest.approx(np.sum(A * B) / np.sqrt(np.sum(A * A) * np.sum(B * B)), abs=1e-14)
    assert al.cosine(B, A) == pytest.approx(cos, abs=1e-15)
    assert al.cosine(A, c * A) == pytest.approx(1.0, abs=1e-14)
    assert al.cosine(A, -c * A) == pytest.approx(-1.0, abs=1e-14)
    assert al.cosine(c * A, B) == pytest.approx(cos, abs=1e-14)


# -- bad inputs ---------------------------------------------------------------------------------------------

W_FUNCS = [al.attention_scores, al.attention, al.predict, al.exp_loss, al.excess_loss, al.log_excess_loss,
           al.margin, al.loss_grad, al.logistic_loss, al.logistic_grad]


@pytest.mark.parametrize("f", W_FUNCS, ids=lambda f: f.__name__)
def test_bad_W_raises(f, demo1):
    d = demo1.d
    for bad in (np.zeros((d, d + 1)), np.zeros(d), np.zeros((d + 1, d + 1)), np.zeros((1, d, d))):
        with pytest.raises(ValueError, match=r"\bW\b.*shape") as exc:
            f(demo1, bad)
        assert str(bad.shape) in str(exc.value)
    for v in (np.nan, np.inf, -np.inf):
        W = np.zeros((d, d))
        W[1, 2] = v
        with pytest.raises(ValueError, match=r"\bW\b.*(NaN|inf)"):
            f(demo1, W)


def test_bad_beta_xi_K_Q_raise(demo1):
    d = demo1.d
    with pytest.raises(ValueError, match=r"\bbeta\b.*shape"):
        al.loss_grad_beta(demo1, np.zeros(d + 1))
    with pytest.raises(ValueError, match=r"\bbeta\b.*shape"):
        al.loss_grad_beta(demo1, np.zeros((d, d)))
    with pytest.raises(ValueError, match=r"\bbeta\b"):
        al.loss_grad_beta(demo1, np.full(d, np.nan))
    with pytest.raises(ValueError, match=r"\bxi_k\b"):
        al.loss_grad_xi(demo1, np.zeros(d - 1), np.zeros(d))
    with pytest.raises(ValueError, match=r"\bxi_q\b"):
        al.loss_grad_xi(demo1, np.zeros(d), np.zeros(d + 2))
    with pytest.raises(ValueError, match=r"\bxi_q\b"):
        al.loss_grad_xi(demo1, np.zeros(d), np.full(d, np.inf))
    with pytest.raises(ValueError, match=r"\bK\b.*shape"):
        al.loss_grad_KQ(demo1, np.zeros((d + 1, d)), np.zeros((d + 1, d)))
    with pytest.raises(ValueError, match=r"\bK\b.*shape"):
        al.loss_grad_KQ(demo1, np.zeros(d), np.zeros(d))
    with pytest.raises(ValueError, match=r"\bQ\b.*shape"):
        al.loss_grad_KQ(demo1, np.zeros((d, d + 1)), np.zeros((d, d)))
    K = np.zeros((d, 2))
    K[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"\bK\b"):
        al.loss_grad_KQ(demo1, K, np.zeros((d, 2)))
    with pytest.raises(ValueError, match=r"\bQ\b"):
        al.loss_grad_KQ(demo1, np.zeros((d, 2)), K)


def test_cosine_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        al.cosine(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="zero"):
        al.cosine(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="zero"):
        al.cosine(np.ones((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN|inf"):
        al.cosine(np.array([1.0, np.nan]), np.ones(2))


def test_loss_grad_direction_where_the_gradient_underflows(demo1):
    """loss_grad_direction: a positive multiple of the gradient with largest entry about 1, also where the
    gradient itself underflows to 0 (margin 1e5; mirror descent at p = 1.01 got 0 there and then NaN)."""
    W = _W_at_margin(demo1, 5.0)
    g, u = al.loss_grad(demo1, W), al.loss_grad_direction(demo1, W)
    assert al.cosine(g, u) == pytest.approx(1.0, abs=1e-14)
    W = _W_at_margin(demo1, 1e5)
    assert not np.any(al.loss_grad(demo1, W))
    u = al.loss_grad_direction(demo1, W)
    assert 1e-3 < np.abs(u).max() < 1e3
    assert al.cosine(u, al.loss_grad(demo1, W, 1e5)) == pytest.approx(1.0, abs=1e-14)
