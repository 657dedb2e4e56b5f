"""The one-layer softmax attention model, its losses and their gradients (paper §3, appendix A.1).

Everything is computed in log space so that it stays accurate when non-optimal attention weights fall far below
machine epsilon: the softmax Jacobian applied to the scores uses the cancellation-free form
``(Sigma(g) gamma)_l = sum_k sigma_l sigma_k (gamma_l - gamma_k)`` (paper-notes §1, §9), and every gradient takes
an optional ``log_scale`` ``s`` and returns ``e^s`` times the gradient, which stays finite where the gradient
itself underflows (margins beyond about 700). The exact flows (:mod:`attnlib.flow`) integrate in ``log t`` and
pass ``s = log t``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp

from .data import AttentionData

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
    "loss_grad_KQ",
    "loss_grad_beta",
    "loss_grad_xi",
    "logistic_loss",
    "logistic_grad",
    "cosine",
]

_LOG_MAX = 700.0  # exponents are clipped here so a scaled gradient is huge but finite, never inf


def _check_W(data: AttentionData, W) -> np.ndarray:
    W = np.asarray(W, dtype=float)
    if W.shape != (data.d, data.d):
        raise ValueError(f"W must have shape (d, d) = ({data.d}, {data.d}); got {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W contains NaN or inf; all entries must be finite")
    return W


def _check_vec(name: str, data: AttentionData, x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.shape != (data.d,):
        raise ValueError(f"{name} must have shape (d,) = ({data.d},); got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf; all entries must be finite")
    return x


def _check_KQ(data: AttentionData, K, Q) -> tuple[np.ndarray, np.ndarray]:
    K = np.asarray(K, dtype=float)
    Q = np.asarray(Q, dtype=float)
    if K.ndim != 2 or K.shape[0] != data.d:
        raise ValueError(f"K must have shape (d, d_e) with d = {data.d}; got {K.shape}")
    if Q.shape != K.shape:
        raise ValueError(f"Q must have the same shape (d, d_e) as K = {K.shape}; got {Q.shape}")
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(Q))):
        raise ValueError("K or Q contains NaN or inf; all entries must be finite")
    return K, Q


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
    return np.einsum("nld,nd->nl", data.X, data.z @ W.T)


def _log_attention(data: AttentionData, W) -> np.ndarray:
    return log_softmax(attention_scores(data, W), axis=1)


def _log_attention_path(data: AttentionData, Ws: np.ndarray) -> np.ndarray:
    """Log-attention along a path of weights ``Ws`` (m, d, d) -> (m, n, L) (no checks: flows' own output)."""
    return log_softmax(np.einsum("nld,mnd->mnl", data.X, np.einsum("ne,mde->mnd", data.z, Ws)), axis=-1)


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


def _margins_per_sample(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``r_i = gamma_{i,opt} - gamma_i^T sigma_i = sum_l sigma_il (gamma_opt - gamma_il) >= 0``, no cancellation.
    ``logsig`` is (..., n, L); the result (..., n)."""
    gap = data.gamma_opt[:, None] - data.gamma
    return np.sum(np.exp(logsig) * gap, axis=-1)


def exp_loss(data: AttentionData, W) -> float:
    """Exponential loss ``L(W) = (1/n) sum_i exp(-y_i Phi(X_i, z_i))`` (eq. (1)).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    u = data.gamma_opt - _margins_per_sample(data, _log_attention(data, W))
    return float(np.mean(np.exp(-u)))


def min_loss(data: AttentionData) -> float:
    """The infimum ``L* = (1/n) sum_i exp(-gamma_{i,opt})`` (p.5): positive, approached only as ``||W|| -> inf``."""
    return float(np.mean(np.exp(-data.gamma_opt)))


def _log_expm1(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, dtype=float)
    small = r < 1e-5
    with np.errstate(divide="ignore"):
        out = np.where(small, np.log(r) + np.log1p(r / 2 + r * r / 6), 0.0)
        big = np.where(small, 1.0, r)
        out = np.where(small, out, big + np.log(-np.expm1(-big)))
    return out


def log_excess_loss(data: AttentionData, W) -> float:
    """``log(L(W) - L*)``, finite even where the excess loss underflows float64 (margins beyond ~700).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    return float(_log_excess_from_logsig(data, _log_attention(data, W)))


def _log_excess_from_logsig(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``log(L - L*)`` from log-attention (..., n, L) -> (...)."""
    gap = data.gamma_opt[:, None] - data.gamma
    mask = gap > 0
    with np.errstate(divide="ignore"):
        log_r = logsumexp(np.where(mask, logsig + np.log(np.where(mask, gap, 1.0)), -np.inf), axis=-1)
    log_terms = -data.gamma_opt + _log_expm1_from_log(log_r)
    return logsumexp(log_terms, axis=-1) - np.log(data.n)


def _log_expm1_from_log(log_r: np.ndarray) -> np.ndarray:
    """``log(expm1(r))`` given ``log r`` (accurate when r underflows)."""
    r = np.exp(np.minimum(log_r, _LOG_MAX))
    small = log_r < np.log(1e-5)
    return np.where(small, log_r + np.log1p(r / 2 + r * r / 6), _log_expm1(np.where(small, 1.0, r)))


def excess_loss(data: AttentionData, W) -> float:
    """``L(W) - L*`` computed without cancellation: ``(1/n) sum_i e^{-gamma_{i,opt}} expm1(r_i)``.

    Here ``r_i = sum_{l != opt} sigma_il (gamma_{i,opt} - gamma_il) >= 0``, so the result is accurate down to
    the smallest float (use :func:`log_excess_loss` below that).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    return float(_excess_from_logsig(data, _log_attention(data, W)))


def _excess_from_logsig(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``L - L*`` from log-attention (..., n, L) -> (...)."""
    return np.mean(np.exp(-data.gamma_opt) * np.expm1(_margins_per_sample(data, logsig)), axis=-1)


def margin(data: AttentionData, W) -> float:
    """Attention margin ``mu(W) = min_{i, l != opt(i)} (x_{i,opt} - x_il)^T W z_i`` (Def. 4.1).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    W = _check_W(data, W)
    return float(_margin_path(data, W[None])[0])


def _margin_path(data: AttentionData, Ws: np.ndarray) -> np.ndarray:
    """Margins of a path of weights ``Ws`` (m, d, d) -> (m,) (no checks: flows' own output)."""
    return np.min(np.einsum("kd,mkd->mk", data.D, np.einsum("ke,mde->mkd", data.Z, Ws)), axis=1)


def _log_sample_weights(data: AttentionData, logsig: np.ndarray, loss: str) -> np.ndarray:
    """``log(-loss'(u_i))`` with ``u_i = gamma_i^T sigma_i``: ``-u_i`` (exp) or ``log sigmoid(-u_i)`` (logistic)."""
    u = data.gamma_opt - _margins_per_sample(data, logsig)
    if loss == "exp":
        return -u
    if loss == "logistic":
        return -np.logaddexp(0.0, u)
    raise ValueError(f"loss must be 'exp' or 'logistic'; got {loss!r}")


def _scaled_Sigma_gamma(data: AttentionData, W, log_scale: float, loss: str) -> np.ndarray:
    """``e^s * w_i * (Sigma(g_i) gamma_i)``, shape (n, L), with ``w_i = -loss'(u_i)``, all in log space.

    Uses ``(Sigma gamma)_l = sum_k sigma_l sigma_k (gamma_l - gamma_k)``: every term is formed from logs, so
    nothing cancels and nothing underflows before the final (representable) sum.
    """
    logsig = _log_attention(data, W)
    logw = _log_sample_weights(data, logsig, loss)
    diff = data.gamma[:, :, None] - data.gamma[:, None, :]  # (n, L, L): gamma_l - gamma_k
    with np.errstate(divide="ignore"):
        log_abs_diff = np.log(np.abs(diff))
    return _sum_log_terms(logsig, logw, log_abs_diff, np.sign(diff), log_scale, _LOG_MAX)


def _sum_log_terms(logsig: np.ndarray, logw: np.ndarray, log_abs_diff: np.ndarray, sign_diff: np.ndarray,
                   log_scale: float | None, cap: float) -> np.ndarray:
    """``sum_k sign * exp(log_scale + logw_i + logsig_il + logsig_ik + log|gamma_l - gamma_k|)``, shape (n, L).

    Exponents are capped at ``cap``. ``log_scale=None`` picks the scale that makes the largest term ``e^0`` (for
    directions only, e.g. normalised gradient descent)."""
    log_terms = (logw[:, None, None] + logsig[:, :, None] + logsig[:, None, :]) + log_abs_diff
    if log_scale is None:
        log_scale = -float(log_terms.max())
    return (sign_diff * np.exp(np.minimum(log_terms + log_scale, cap))).sum(axis=2)


def _logit_hessian(rho: np.ndarray, logsig: np.ndarray, logw: np.ndarray, diff: np.ndarray,
                   loss: str) -> np.ndarray:
    """``H = d rho / d g`` per sample, shape (n, L, L), for ``rho`` (n, L) a scaled ``w_i (Sigma(g_i) gamma_i)``.

    ``H_i = diag(rho_i) - rho_i sigma_i^T - sigma_i rho_i^T - c_i rho_i r_i^T`` with ``r = Sigma(g) gamma``
    (unscaled) and ``c_i = 1`` for the exponential loss, ``sigmoid(u_i) = 1 - w_i`` for the logistic one.
    ``diff`` is ``gamma_l - gamma_k`` (n, L, L). Linear in ``rho``, so any scale of ``rho`` carries over to ``H``
    (the flows' scaled Hessian, :meth:`attnlib.flow._Model.jac`, and the margin frame, :mod:`attnlib.frame`)."""
    sig = np.exp(logsig)
    r = sig * np.einsum("ik,ilk->il", sig, diff)  # sigma_l (gamma_l - gbar)
    c = np.ones(len(rho)) if loss == "exp" else -np.expm1(logw)  # 1 - w = sigmoid(u) for the logistic loss
    L = rho.shape[1]
    return (np.einsum("il,lm->ilm", rho, np.eye(L)) - rho[:, :, None] * sig[:, None, :]
            - sig[:, :, None] * rho[:, None, :] - c[:, None, None] * rho[:, :, None] * r[:, None, :])


def _grad_from_r(data: AttentionData, r: np.ndarray) -> np.ndarray:
    """``-(1/n) sum_i X_i^T r_i z_i^T``, shape (d, d)."""
    return -(np.matmul(r[:, None, :], data.X)[:, 0, :]).T @ data.z / data.n


def _grad_beta_from_r(data: AttentionData, r: np.ndarray) -> np.ndarray:
    """The diagonal of :func:`_grad_from_r`: ``-(1/n) sum_il r_il x_il * z_i``, shape (d,)."""
    return -np.einsum("nld,nl,nd->d", data.X, r, data.z) / data.n


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
    """
    W = _check_W(data, W)
    return _grad_from_r(data, _scaled_Sigma_gamma(data, W, log_scale, "exp"))


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
    G = loss_grad(data, K @ Q.T, log_scale)
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
    return _grad_beta_from_r(data, _scaled_Sigma_gamma(data, np.diag(beta), log_scale, "exp"))


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
    g = loss_grad_beta(data, xi_k * xi_q, log_scale)
    return g * xi_q, g * xi_k


def logistic_loss(data: AttentionData, W) -> float:
    """Logistic loss ``(1/n) sum_i log(1 + exp(-y_i Phi(X_i, z_i)))`` (not in the paper; peers use it).

    Parameters
    ----------
    data : AttentionData
    W : array_like, shape (d, d)
    """
    u = data.gamma_opt - _margins_per_sample(data, _log_attention(data, W))
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
    return _grad_from_r(data, _scaled_Sigma_gamma(data, W, log_scale, "logistic"))


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
    A = np.asarray(A, dtype=float)
    B = np.asarray(B, dtype=float)
    if A.shape != B.shape:
        raise ValueError(f"cosine needs arrays of equal shape; got {A.shape} and {B.shape}")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        raise ValueError("cosine of arrays with NaN or inf entries is undefined")
    with np.errstate(over="ignore"):
        na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if not (np.isfinite(na) and np.isfinite(nb)):  # entries ~1e300 (the margin frame): the squares overflow
        A, B = _unit_scaled(A), _unit_scaled(B)
        na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if na == 0 or nb == 0:
        raise ValueError("cosine of a zero array is undefined")
    return float(np.vdot(A / na, B / nb))


def _unit_scaled(A: np.ndarray) -> np.ndarray:
    """``A / max|A|`` (``A`` itself if zero): same direction, and its norm cannot overflow."""
    top = np.max(np.abs(A)) if A.size else 0.0
    return A / top if top > 0 else A

