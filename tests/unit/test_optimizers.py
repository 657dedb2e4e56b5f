"""attnlib.optimizers (normalised steepest descent in four norms, Adam, RMSProp) and the spectral and max-norm
attention SVMs of attnlib.svm: each optimizer on a case with a known answer, gradients only through the library."""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al
from attnlib.optimizers import NORM_OF, OPTIMIZERS, PREDICTED_NORM, optimize, steepest_direction

NORMS = ("fro", "nuc", "spectral", "max")


def _norm(W, norm):
    return {"fro": lambda: np.linalg.norm(W), "nuc": lambda: np.linalg.norm(W, "nuc"),
            "spectral": lambda: np.linalg.norm(W, 2), "max": lambda: np.abs(W).max()}[norm]()


def _dual(G, norm):
    return {"fro": lambda: np.linalg.norm(G), "nuc": lambda: np.linalg.norm(G, 2),
            "spectral": lambda: np.linalg.norm(G, "nuc"), "max": lambda: np.abs(G).sum()}[norm]()


@pytest.fixture(scope="module")
def data():
    return al.make_generic_data(4, 4, 6, 0)


@pytest.fixture(scope="module")
def svms(data):
    return {n: al.solve_svm(data, n) for n in NORMS}


def _gaps(data, W, svms):
    """Norm gaps ||W/mu||_N / ||W_N||_N - 1 (0 exactly on the N-SVM's solution set)."""
    mu = al.margin(data, W)
    assert mu > 0
    return {n: _norm(W / mu, n) / svms[n].value - 1 for n in NORMS}


# -- the steepest direction ----------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["fro", "max", "spectral", "nuc"])
def test_steepest_direction_attains_the_dual_norm(norm):
    """<G, D> = ||G||_dual with ||D|| = 1, and no random unit direction does better (the definition)."""
    rng = np.random.default_rng(1)
    G = rng.standard_normal((5, 4))
    D = steepest_direction(G, norm)
    assert _norm(D, norm) == pytest.approx(1.0, rel=1e-12)
    assert np.sum(G * D) == pytest.approx(_dual(G, norm), rel=1e-12)
    for _ in range(200):
        E = rng.standard_normal(G.shape)
        assert np.sum(G * E) / _norm(E, norm) <= np.sum(G * D) + 1e-12


def test_spectral_direction_skips_the_null_space():
    """A rank-1 gradient: the polar factor of its range is u v^T, not a full orthogonal matrix."""
    u, v = np.array([3.0, 4.0, 0.0]), np.array([0.0, 1.0, 0.0])
    D = steepest_direction(np.outer(u, v), "spectral")
    np.testing.assert_allclose(D, np.outer(u / 5, v), atol=1e-15)


@pytest.mark.parametrize("G, match", [(np.zeros((2, 2)), "nonzero"), (np.array([[np.nan, 1.0]]), "finite")])
def test_steepest_direction_refuses_no_direction(G, match):
    with pytest.raises(ValueError, match=f"G must be.*{match}"):
        steepest_direction(G, "fro")


def test_steepest_direction_unknown_norm():
    with pytest.raises(ValueError, match="norm must be one of"):
        steepest_direction(np.eye(2), "l1")


# -- each optimizer on a known case ----------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["exp", "logistic"])
@pytest.mark.parametrize("method", ["ngd", "sign", "spectral", "nuclear"])
def test_normalised_steepest_descent_on_W_reaches_its_own_svm(data, svms, method, loss):
    """Normalised steepest descent in a norm on W ends at that norm's attention SVM, for either loss: its own norm
    gap is small and clearly the smallest of the four (a prediction by analogy with Fan, Schmidt & Thrampoulidis
    2025 / Xie et al. 2026 for linear models, here checked on one generic data set)."""
    traj = optimize(data, "W", np.zeros((data.d, data.d)), method, steps=1500, lr=1.0, decay=0.5, loss=loss)
    assert traj.loss_kind == loss
    gaps = _gaps(data, traj.final(), svms)
    own = PREDICTED_NORM[method]
    assert gaps[own] < 0.05, gaps
    assert all(gaps[own] < 0.5 * g for n, g in gaps.items() if n != own), gaps


def test_ngd_is_normalised_gradient_descent_on_W_and_KQ(data):
    """With a constant step, "ngd" is flow.gradient_descent(normalized=True), for W and for (K, Q), both losses."""
    for param in ("W", "KQ"):
        init = al.default_init(data, param, scale=0.1, seed=2, kind="random")
        for loss in ("exp", "logistic"):
            ours = optimize(data, param, init, "ngd", steps=60, lr=0.3, decay=0.0, loss=loss, n_save=60)
            ref = al.gradient_descent(data, param, init, lr=0.3, steps=60, normalized=True, loss=loss, n_save=60)
            np.testing.assert_allclose(ours.t, ref.t, rtol=1e-13)  # the same saved steps, t = lr * step
            # the two scale the gradient differently before normalising: rounding-level differences, which grow
            # slowly along the path (measured 4e-10 relative after 35 steps)
            np.testing.assert_allclose(ours.W, ref.W, rtol=0, atol=1e-8 * np.abs(ref.W).max())


@pytest.mark.parametrize("method", ["sign", "spectral", "nuclear"])
def test_first_step_on_KQ_is_per_block_steepest_descent(data, method):
    """One step on (K, Q): each block moves by lr times the steepest direction of its own gradient, the gradient
    being attnlib.model.loss_grad_KQ's."""
    K, Q = al.default_init(data, "KQ", scale=0.3, seed=4, kind="random")
    traj = optimize(data, "KQ", (K, Q), method, steps=1, lr=0.05)
    gK, gQ = al.loss_grad_KQ(data, K, Q)
    np.testing.assert_allclose(traj.params["K"][-1], K - 0.05 * steepest_direction(gK, NORM_OF[method]), atol=1e-13)
    np.testing.assert_allclose(traj.params["Q"][-1], Q - 0.05 * steepest_direction(gQ, NORM_OF[method]), atol=1e-13)


def test_adam_without_memory_is_sign_descent(data):
    """beta1 = beta2 = 0 and eps = 0: m_hat / sqrt(v_hat) = g / |g| = sign(g), so Adam and RMSProp are sign
    descent, step for step."""
    init = al.default_init(data, "KQ", scale=0.1, seed=5, kind="random")
    sign = optimize(data, "KQ", init, "sign", steps=200, lr=0.5)
    for method in ("adam", "rmsprop"):
        other = optimize(data, "KQ", init, method, steps=200, lr=0.5, beta1=0.0, beta2=0.0)
        np.testing.assert_allclose(other.W, sign.W, rtol=1e-12, atol=1e-12)


def test_rmsprop_is_adam_with_beta1_zero(data):
    init = al.default_init(data, "W", scale=0.1, seed=6, kind="random")
    a = optimize(data, "W", init, "adam", steps=100, lr=0.2, beta1=0.0, beta2=0.9)
    b = optimize(data, "W", init, "rmsprop", steps=100, lr=0.2, beta1=0.7, beta2=0.9)
    np.testing.assert_array_equal(a.W, b.W)


@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_adam_moments_at_a_log_scale_match_plain_adam(data, eps):
    """Adam keeps its moments at the gradient's moving log scale; on a short run where the raw gradient is
    representable that must give textbook Adam on attnlib.model.loss_grad, to rounding."""
    W = al.default_init(data, "W", scale=0.1, seed=7, kind="random").copy()
    ours = optimize(data, "W", W, "adam", steps=40, lr=0.1, decay=0.5, beta1=0.9, beta2=0.99, eps=eps, n_save=40)
    m, v = np.zeros_like(W), np.zeros_like(W)
    for k in range(40):
        g = al.loss_grad(data, W)
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        W = W - 0.1 / np.sqrt(k + 1) * (m / (1 - 0.9 ** (k + 1))) / (np.sqrt(v / (1 - 0.99 ** (k + 1))) + eps)
    np.testing.assert_allclose(ours.final(), W, rtol=1e-9, atol=1e-12)


def test_sign_descent_on_W_reaches_the_max_norm_svm(data, svms):
    """The max-norm SVM is not unique: sign descent is checked by its norm gap (the certificate), not by the
    distance to the solver's point."""
    traj = optimize(data, "W", np.zeros((data.d, data.d)), "sign", steps=1500, lr=1.0)
    W = traj.final() / traj.margin[-1]
    assert np.abs(W).max() == pytest.approx(svms["max"].value, rel=0.05)


def test_keeps_moving_where_the_gradient_underflows(data):
    """Far along, loss_grad(W) is exactly zero in float64, yet the step (taken at a log scale) is not."""
    traj = optimize(data, "W", np.zeros((data.d, data.d)), "spectral", steps=400, lr=200.0, decay=0.0)
    assert traj.margin[-1] > 1000
    assert not np.any(al.loss_grad(data, traj.final()))
    step = traj.params["W"][-1] - traj.params["W"][-2]
    assert np.linalg.norm(step, 2) > 0


def test_trajectory_records_the_method_and_path_length(data):
    traj = optimize(data, "W", np.zeros((data.d, data.d)), "sign", steps=10, lr=0.5, decay=1.0, n_save=10)
    assert traj.method == "sign" and traj.param == "W" and traj.loss_kind == "exp"
    assert traj.t[-1] == pytest.approx(sum(0.5 / (k + 1) for k in range(10)))
    assert traj.nfev == 10
    assert set(PREDICTED_NORM) == set(OPTIMIZERS)


def test_zero_gradient_start_is_refused(data):
    """K = Q = 0 is a stationary point: no direction to normalise."""
    zero = np.zeros((data.d, data.d))
    with pytest.raises(FloatingPointError, match="exactly zero"):
        optimize(data, "KQ", (zero, zero), "spectral", steps=3)


# -- validation at the door -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "lion"}, "method must be one of"),
    ({"param": "beta"}, "param must be one of"),
    ({"loss": "hinge"}, "loss must be one of"),
    ({"lr": 0.0}, "lr"),
    ({"decay": 1.5}, "decay"),
    ({"steps": 0}, "steps"),
    ({"beta1": 1.0}, "beta1"),
    ({"beta2": -0.1}, "beta2"),
    ({"eps": -1e-8}, "eps"),
    ({"n_save": 0}, "n_save"),
    ({"init": np.zeros((2, 2))}, "init"),
])
def test_bad_arguments_name_themselves(data, kwargs, match):
    args = {"param": "W", "init": np.zeros((data.d, data.d)), "method": "sign"} | kwargs
    init, param, method = args.pop("init"), args.pop("param"), args.pop("method")
    with pytest.raises((ValueError, TypeError), match=match):
        optimize(data, param, init, method, **args)


def test_data_is_checked():
    with pytest.raises(TypeError, match="data"):
        optimize("not data", "W", np.zeros((2, 2)), "sign")


# -- the spectral and max-norm attention SVMs ---------------------------------------------------------------------


def test_spectral_svm_certificate(svms, data):
    """Margin 1, and multipliers that certify optimality by themselves: sum lambda = ||W||_2 (no duality gap) and
    ||sum lambda_k A_k||_* <= 1 (dual feasibility: the nuclear norm is the spectral norm's dual), so no feasible W
    has a smaller spectral norm."""
    sol = svms["spectral"]
    assert sol.status == "optimal" and sol.norm == "spectral"
    assert sol.margin == pytest.approx(1.0, abs=1e-12)
    assert sol.value == pytest.approx(np.linalg.norm(sol.W, 2), rel=1e-12)
    G = np.einsum("k,kde->de", sol.dual, data.A)
    assert sol.dual.min() >= 0
    assert sol.dual.sum() == pytest.approx(sol.value, rel=1e-6)
    assert np.linalg.norm(G, "nuc") <= 1 + 1e-6
    # weak duality against every other SVM's point (feasible, margin 1): none has a smaller spectral norm
    for other in ("fro", "nuc", "max"):
        assert np.linalg.norm(svms[other].W, 2) >= sol.value * (1 - 1e-6)


def test_spectral_svm_flattens_the_spectrum(svms):
    """The spectral SVM spends the freedom the flat norm leaves: several singular values tie at the top, unlike the
    Frobenius solution (what makes its solution set large)."""
    s = np.linalg.svd(svms["spectral"].W, compute_uv=False)
    assert np.sum(s > s[0] * (1 - 1e-5)) >= 2
    f = np.linalg.svd(svms["fro"].W, compute_uv=False)
    assert np.sum(f > f[0] * (1 - 1e-5)) == 1


def test_max_svm_certificate(svms, data):
    sol = svms["max"]
    assert sol.status == "optimal" and sol.margin == pytest.approx(1.0, abs=1e-12)
    G = np.einsum("k,kde->de", sol.dual, data.A)
    assert sol.dual.sum() == pytest.approx(sol.value, rel=1e-6)
    assert np.abs(G).sum() <= 1 + 1e-6


def test_one_constraint_closed_forms():
    """One sample, two tokens: the single constraint a^T W z >= 1 (a = x_opt - x_other). Then min ||W||_2 =
    min ||W||_* = 1 / (||a|| ||z||) and min max|W_jk| = 1 / (||a||_1 ||z||_1)."""
    x_opt, x_other, z = np.array([1.0, 2.0, -1.0]), np.array([0.5, -1.0, 0.5]), np.array([0.3, -2.0, 1.0])
    data = al.AttentionData(X=[[x_opt, x_other]], z=[z], y=[1.0], v=x_opt - x_other)
    a = x_opt - x_other
    for norm, expect in (("spectral", 1 / (np.linalg.norm(a) * np.linalg.norm(z))),
                         ("nuc", 1 / (np.linalg.norm(a) * np.linalg.norm(z))),
                         ("max", 1 / (np.abs(a).sum() * np.abs(z).sum()))):
        assert al.solve_svm(data, norm).value == pytest.approx(expect, rel=1e-7), norm
