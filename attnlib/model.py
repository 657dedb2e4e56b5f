"""The one-layer softmax attention model, its losses and their gradients (paper §3, appendix A.1).

Everything is computed in log space so that it stays accurate when non-optimal attention weights fall far below
machine epsilon: the softmax Jacobian applied to the scores uses the cancellation-free form
``(Sigma(g) gamma)_l = sum_k sigma_l sigma_k (gamma_l - gamma_k)`` (paper §3 and appendix A.1), and every gradient takes
an optional ``log_scale`` ``s`` and returns ``e^s`` times the gradient, which stays finite where the gradient
itself underflows (margins beyond about 700). The exact flows (:mod:`attnlib.flow`) integrate in ``log t`` and
pass ``s = log t``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp

from ._validate import check_array, check_choice, check_scalar
from .data import check_data
from .data import AttentionData
from .kernels import (excess_from_logsig, grad_beta_from_r, grad_from_r, log_excess_from_logsig,
                      log_logistic_excess_from_logsig, log_sample_weights, logistic_excess_from_logsig, margin_path,
                      margins_per_sample, unit_scaled)

__all__ = [
    "attention_scores",
    "attention",
    "predict",
    "exp_loss",
    "min_loss",
    "excess_loss",
    "log_excess_loss",
    "margin",
    "loss_grad",
    "loss_grad_direction",
    "loss_grad_KQ",
    "loss_grad_beta",
    "loss_grad_xi",
    "logistic_loss",
    "logistic_grad",
    "cosine",
]

_LOG_FLOAT_MAX = float(np.log(np.finfo(float).max))  # 709.78: e^x overflows float64 beyond this


def _check_W(data: AttentionData, W) -> np.ndarray:
    check_data(data)
    return check_array(W, "W", shape=(data.d, data.d), expected=f"an array of shape (d, d) = ({data.d}, {data.d})")


def _check_vec(name: str, data: AttentionData, x) -> np.ndarray:
    check_data(data)
    return check_array(x, name, shape=(data.d,), expected=f"an array of shape (d,) = ({data.d},)")


def _check_KQ(data: AttentionData, K, Q) -> tuple[np.ndarray, np.ndarray]:
    check_data(data)
    K = check_array(K, "K", shape=(data.d, None), expected=f"an array of shape (d, d_e) with d = {data.d}")
    Q = check_array(Q, "Q", shape=K.shape, expected=f"an array of the same shape (d, d_e) as K = {K.shape}")
    return K, Q


def _check_log_scale(log_scale) -> float:
    return check_scalar(log_scale, "log_scale")


def _overflow(what: str, log_value: float, remedy: str) -> ValueError:
    return ValueError(f"{what} overflows float64: it is e^{log_value:.6g}, beyond the largest float "
                      f"(e^{_LOG_FLOAT_MAX:.2f}); {remedy}")


def attention_scores(data: AttentionData, W) -> np.ndarray:
    """Attention logits ``g_il = x_il^T W z_i``.

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
        Combined attention weights ``W = K Q^T``.

    Returns
    -------
    numpy.ndarray, shape (n, L)
    """
    W = _check_W(data, W)
    with np.errstate(over="ignore", invalid="ignore"):
        g = np.einsum("nld,nd->nl", data.X, data.z @ W.T)
    if not np.all(np.isfinite(g)):
        i = int(np.flatnonzero(~np.all(np.isfinite(g), axis=1))[0])
        raise ValueError(f"W is too large for these tokens: the attention logits x_il^T W z_i of sample {i} overflow "
                         f"float64 (max |W_jk| = {np.abs(W).max():.3g}, max |x_il| = {np.abs(data.X).max():.3g}, "
                         f"max |z_i| = {np.abs(data.z).max():.3g}); the logits must stay below ~1e308")
    return g


def _log_attention(data: AttentionData, W) -> np.ndarray:
    return log_softmax(attention_scores(data, W), axis=1)


def attention(data: AttentionData, W) -> np.ndarray:
    """Softmax attention weights ``sigma(X_i W z_i)``, shape (n, L); rows sum to 1.

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    return np.exp(_log_attention(data, W))


def predict(data: AttentionData, W) -> np.ndarray:
    """Model output ``Phi(X_i, z_i) = v^T X_i^T sigma(X_i W z_i)``, shape (n,).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    return np.sum(attention(data, W) * (data.X @ data.v), axis=1)


def exp_loss(data: AttentionData, W) -> float:
    """Exponential loss ``L(W) = (1/n) sum_i exp(-y_i Phi(X_i, z_i))`` (eq. (1)).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    check_data(data)
    u = data.gamma_opt - margins_per_sample(data, _log_attention(data, W))
    log_L = float(logsumexp(-u) - np.log(data.n))
    if log_L > _LOG_FLOAT_MAX:
        raise _overflow("the loss L(W)", log_L, "the scores gamma_il = y_i v^T x_il are too negative; rescale v or "
                        "the tokens")
    return float(np.mean(np.exp(-u)))  # the direct form: L >= L* holds to the last bit


def min_loss(data: AttentionData) -> float:
    """The infimum ``L* = (1/n) sum_i exp(-gamma_{i,opt})`` (p.5): positive, approached only as ``||W|| -> inf``.

    Raises
    ------
    ValueError
        If ``L*`` overflows float64 (optimal scores below about -709).
    """
    check_data(data)
    log_L = _log_min_loss(data)
    if log_L > _LOG_FLOAT_MAX:
        raise _overflow("L*", log_L, "the optimal scores gamma_{i,opt} are below -709; rescale v or the tokens")
    return float(np.mean(np.exp(-data.gamma_opt)))


def _log_min_loss(data: AttentionData) -> float:
    return float(logsumexp(-data.gamma_opt) - np.log(data.n))


_EXCESS = {"exp": (excess_from_logsig, log_excess_from_logsig),
           "logistic": (logistic_excess_from_logsig, log_logistic_excess_from_logsig)}


def log_excess_loss(data: AttentionData, W, loss: str = "exp") -> float:
    """``log(L(W) - L*)``, finite even where the excess loss underflows float64 (margins beyond ~700).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    loss : {"exp", "logistic"}
        The exponential loss (eq. (1)) or :func:`logistic_loss`, whose infimum is
        ``(1/n) sum_i log(1 + e^{-gamma_{i,opt}})``.
    """
    check_choice(loss, "loss", tuple(_EXCESS))
    return float(_EXCESS[loss][1](data, _log_attention(data, W)))


def excess_loss(data: AttentionData, W, loss: str = "exp") -> float:
    """``L(W) - L*`` computed without cancellation: ``(1/n) sum_i e^{-gamma_{i,opt}} expm1(r_i)``.

    Here ``r_i = sum_{l != opt} sigma_il (gamma_{i,opt} - gamma_il) >= 0``, so the result is accurate down to
    the smallest float (use :func:`log_excess_loss` below that). For ``loss="logistic"`` the terms are
    ``log1p(sigmoid(-gamma_{i,opt}) expm1(r_i))``, equally free of cancellation.

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    loss : {"exp", "logistic"}
        The exponential loss (eq. (1)) or :func:`logistic_loss`.
    """
    check_choice(loss, "loss", tuple(_EXCESS))
    logsig = _log_attention(data, W)
    excess, log_excess = _EXCESS[loss]
    out = float(excess(data, logsig))
    if not np.isfinite(out):
        raise _overflow("the excess loss L(W) - L*", float(log_excess(data, logsig)),
                        f"log_excess_loss(data, W{'' if loss == 'exp' else ', loss=' + repr(loss)}) gives its "
                        "logarithm")
    return out


def margin(data: AttentionData, W) -> float:
    """Attention margin ``mu(W) = min_{i, l != opt(i)} (x_{i,opt} - x_il)^T W z_i`` (Def. 4.1).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    W = _check_W(data, W)
    with np.errstate(over="ignore", invalid="ignore"):
        mu = float(margin_path(data, W[None])[0])
    if not np.isfinite(mu):
        raise ValueError(f"W is too large for these tokens: the margin (x_opt - x_il)^T W z_i overflows float64 "
                         f"(max |W_jk| = {np.abs(W).max():.3g}); W must keep the logits below ~1e308")
    return mu


def _scaled_grad(data: AttentionData, W: np.ndarray, log_scale: float | None, loss: str, reduce) -> np.ndarray:
    """``e^s`` times the gradient, ``reduce(data, rho)`` with ``rho = e^s * w_i * (Sigma(g_i) gamma_i)``, all in
    log space and never capped.

    Uses ``(Sigma gamma)_l = sum_k sigma_l sigma_k (gamma_l - gamma_k)``: every term is formed from logs, so
    nothing cancels and nothing underflows before the final sum. The terms are exponentiated relative to the
    largest one (so ``rho`` has entries of size at most L) and the common factor ``e^{M + s}`` is applied to the
    (d, d) result; if that overflows float64 the gradient is not representable and we say so, instead of
    capping terms (which would flatten the sample weights and turn the direction).
    """
    logsig = _log_attention(data, W)
    logw = log_sample_weights(data, logsig, loss)
    diff = data.gamma[:, :, None] - data.gamma[:, None, :]  # (n, L, L): gamma_l - gamma_k
    with np.errstate(divide="ignore"):
        log_abs_diff = np.log(np.abs(diff))
    log_terms = (logw[:, None, None] + logsig[:, :, None] + logsig[:, None, :]) + log_abs_diff
    top = float(log_terms.max())
    if not np.isfinite(top):  # every pair of tokens ties in score: the gradient is exactly zero
        return reduce(data, np.zeros(logsig.shape))
    with np.errstate(over="ignore", invalid="ignore"):
        unit = reduce(data, (np.sign(diff) * np.exp(log_terms - top)).sum(axis=2))
        if log_scale is None:  # the direction only: e^{-top} times the gradient
            return unit
        biggest = float(np.abs(unit).max())
        log_size = top + log_scale + (np.log(biggest) if biggest > 0 else -np.inf)
        if log_size > _LOG_FLOAT_MAX or not np.all(np.isfinite(unit)):
            raise _overflow("the gradient (times e^log_scale)", log_size,
                            f"pass log_scale <= {log_scale - (log_size - _LOG_FLOAT_MAX) - 1:.6g} to get "
                            "e^log_scale times it")
        return unit * np.exp(top + log_scale)


def loss_grad(data: AttentionData, W, log_scale: float = 0.0) -> np.ndarray:
    """Gradient ``grad_W L = -(1/n) sum_i l_i X_i^T Sigma(g_i) gamma_i z_i^T`` of the exponential loss.

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    log_scale : float
        Return ``e^{log_scale}`` times the gradient, computed in log space: finite and accurate where the
        gradient itself underflows (``log_scale = log t`` in the log-time flow).

    Returns
    -------
    numpy.ndarray, shape (d, d)
        Finite, never capped (so its direction is exact).

    Raises
    ------
    ValueError
        If ``e^{log_scale}`` times the gradient overflows float64; the message gives a ``log_scale`` at which
        it is representable.
    """
    W = _check_W(data, W)
    return _scaled_grad(data, W, _check_log_scale(log_scale), "exp", grad_from_r)


def loss_grad_direction(data: AttentionData, W) -> np.ndarray:
    """A positive multiple of :func:`loss_grad` whose largest term is about 1: the gradient's direction, exact
    wherever the gradient is nonzero however far it underflows (used by normalised methods such as
    :func:`attnlib.mirror.mirror_descent`, which need no ``log_scale``).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)

    Returns
    -------
    numpy.ndarray, shape (d, d)
        Zero only where the gradient is exactly zero (every pair of tokens ties in score).
    """
    W = _check_W(data, W)
    return _scaled_grad(data, W, None, "exp", grad_from_r)


def loss_grad_KQ(data: AttentionData, K, Q, log_scale: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``L(K Q^T)`` in the separate key and query matrices (appendix A.1).

    ``grad_K = (grad_W L) Q`` and ``grad_Q = (grad_W L)^T K``.

    Parameters
    ----------
    data : AttentionData
    K, Q : array_like, shape (d, d_e)
    log_scale : float
        As in :func:`loss_grad`.

    Returns
    -------
    (grad_K, grad_Q) : tuple of numpy.ndarray, each shape (d, d_e)
    """
    K, Q = _check_KQ(data, K, Q)
    with np.errstate(over="ignore", invalid="ignore"):
        W = K @ Q.T
    if not np.all(np.isfinite(W)):
        raise ValueError(f"K and Q are too large together: their product W = K Q^T overflows float64 (max |K_jk| = "
                         f"{np.abs(K).max():.3g}, max |Q_jk| = {np.abs(Q).max():.3g})")
    G = loss_grad(data, W, log_scale)
    return G @ Q, G.T @ K


def loss_grad_beta(data: AttentionData, beta, log_scale: float = 0.0) -> np.ndarray:
    """Gradient in ``beta`` of ``L(diag(beta))``: ``diag(grad_W L)``, shape (d,).

    Parameters
    ----------
    data : AttentionData
    beta : array_like, shape (d,)
    log_scale : float
        As in :func:`loss_grad`.
    """
    beta = _check_vec("beta", data, beta)
    return _scaled_grad(data, np.diag(beta), _check_log_scale(log_scale), "exp", grad_beta_from_r)


def loss_grad_xi(data: AttentionData, xi_k, xi_q, log_scale: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Gradients in ``(xi_k, xi_q)`` of ``L(diag(xi_k * xi_q))`` (diagonal K, Q; §4.1).

    ``grad_{xi_k} = grad_beta L * xi_q`` and ``grad_{xi_q} = grad_beta L * xi_k``.

    Parameters
    ----------
    data : AttentionData
    xi_k, xi_q : array_like, shape (d,)
    log_scale : float
        As in :func:`loss_grad`.

    Returns
    -------
    (grad_xi_k, grad_xi_q) : tuple of numpy.ndarray, each shape (d,)
    """
    xi_k = _check_vec("xi_k", data, xi_k)
    xi_q = _check_vec("xi_q", data, xi_q)
    with np.errstate(over="ignore", invalid="ignore"):
        beta = xi_k * xi_q
    if not np.all(np.isfinite(beta)):
        j = int(np.flatnonzero(~np.isfinite(beta))[0])
        raise ValueError(f"xi_k and xi_q are too large together: their product beta = xi_k * xi_q overflows float64 "
                         f"at entry {j} (xi_k[{j}] = {xi_k[j]:.3g}, xi_q[{j}] = {xi_q[j]:.3g})")
    g = loss_grad_beta(data, beta, log_scale)
    return g * xi_q, g * xi_k


def logistic_loss(data: AttentionData, W) -> float:
    """Logistic loss ``(1/n) sum_i log(1 + exp(-y_i Phi(X_i, z_i)))`` (not in the paper; Tarzanagh et al.'s attention-SVM papers use it).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    check_data(data)
    u = data.gamma_opt - margins_per_sample(data, _log_attention(data, W))
    return float(np.mean(np.logaddexp(0.0, -u)))


def logistic_grad(data: AttentionData, W, log_scale: float = 0.0) -> np.ndarray:
    """Gradient of :func:`logistic_loss` in ``W``, shape (d, d).

    Same as :func:`loss_grad` with the per-sample weight ``e^{-u_i}`` replaced by ``sigmoid(-u_i)``.

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    log_scale : float
        As in :func:`loss_grad`.
    """
    W = _check_W(data, W)
    return _scaled_grad(data, W, _check_log_scale(log_scale), "logistic", grad_from_r)


def cosine(A, B) -> float:
    """Cosine similarity ``<A, B> / (||A|| ||B||)`` of two arrays of the same shape (Frobenius inner product).

    Parameters
    ----------
    A, B : array_like, any equal shape

    Raises
    ------
    ValueError
        If the shapes differ or either array is zero or not finite.
    """
    A = check_array(A, "A", expected="a finite array of any shape")
    B = check_array(B, "B", expected=f"a finite array of the same shape as A, {A.shape}")
    if A.shape != B.shape:
        raise ValueError(f"B must be an array of the same shape as A, {A.shape}; got shape {B.shape}")
    with np.errstate(over="ignore", under="ignore"):
        na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if not (np.isfinite(na) and np.isfinite(nb) and na > 1e-150 and nb > 1e-150):
        # entries ~1e300 (the margin frame) or ~1e-200: the squares overflow or underflow
        A, B = unit_scaled(A), unit_scaled(B)
        na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if na == 0 or nb == 0:
        raise ValueError(f"{'A' if na == 0 else 'B'} must be a nonzero array: the cosine of a zero array is undefined")
    return float(np.clip(np.vdot(A / na, B / nb), -1.0, 1.0))  # |cos| <= 1 also after rounding

