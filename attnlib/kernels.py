"""The log-space kernels shared by the model's losses and gradients (:mod:`attnlib.model`), the flows' right-hand
side (:mod:`attnlib.dynamics`) and the margin frame (:mod:`attnlib.frame`).

Every function takes arrays that are already checked (no argument validation: these are the solvers' hot paths)
and works from log-attention ``logsig = log softmax(g)`` (n, L) or a path of them (m, n, L), so that nothing
underflows where non-optimal attention weights fall far below machine epsilon. The scaled logit gradient is
``rho_il = e^s w_i (Sigma(g_i) gamma_i)_l = sum_k e^s w_i sigma_il sigma_ik (gamma_il - gamma_ik)`` (paper §3,
appendix A.1), summed from logs by :func:`sum_log_terms`.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp

from .data import AttentionData

__all__ = ["LOG_MAX", "log_attention_path", "margins_per_sample", "margin_path", "log_sample_weights",
           "sum_log_terms", "logit_hessian", "grad_from_r", "grad_beta_from_r", "excess_from_logsig",
           "log_excess_from_logsig", "log_margins_per_sample", "logistic_excess_from_logsig",
           "log_logistic_excess_from_logsig", "log_log1p_from_log", "log_expm1_from_log", "log_expm1", "unit_scaled"]

LOG_MAX = 700.0  # exponents are clipped here (log-excess helpers only) so nothing turns inf


def log_attention_path(data: AttentionData, Ws: np.ndarray) -> np.ndarray:
    """Log-attention along a path of weights ``Ws`` (m, d, d) -> (m, n, L) (no checks: flows' own output)."""
    return log_softmax(np.einsum("nld,mnd->mnl", data.X, np.einsum("ne,mde->mnd", data.z, Ws)), axis=-1)


def margins_per_sample(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``r_i = gamma_{i,opt} - gamma_i^T sigma_i = sum_l sigma_il (gamma_opt - gamma_il) >= 0``, no cancellation.
    ``logsig`` is (..., n, L); the result (..., n)."""
    gap = data.gamma_opt[:, None] - data.gamma
    return np.sum(np.exp(logsig) * gap, axis=-1)


def margin_path(data: AttentionData, Ws: np.ndarray) -> np.ndarray:
    """Margins of a path of weights ``Ws`` (m, d, d) -> (m,) (no checks: flows' own output)."""
    return np.min(np.einsum("kd,mkd->mk", data.D, np.einsum("ke,mde->mkd", data.Z, Ws)), axis=1)


def log_sample_weights(data: AttentionData, logsig: np.ndarray, loss: str) -> np.ndarray:
    """``log(-loss'(u_i))`` with ``u_i = gamma_i^T sigma_i``: ``-u_i`` (exp) or ``log sigmoid(-u_i)`` (logistic)."""
    u = data.gamma_opt - margins_per_sample(data, logsig)
    if loss == "exp":
        return -u
    if loss == "logistic":
        return -np.logaddexp(0.0, u)
    raise ValueError(f"loss must be 'exp' or 'logistic'; got {loss!r}")


def sum_log_terms(logsig: np.ndarray, logw: np.ndarray, log_abs_diff: np.ndarray, sign_diff: np.ndarray,
                  log_scale: float | None, cap: float) -> np.ndarray:
    """``sum_k sign * exp(log_scale + logw_i + logsig_il + logsig_ik + log|gamma_l - gamma_k|)``, shape (n, L).

    Exponents are capped at ``cap``. ``log_scale=None`` picks the scale that makes the largest term ``e^0`` (for
    directions only, e.g. normalised gradient descent)."""
    log_terms = (logw[:, None, None] + logsig[:, :, None] + logsig[:, None, :]) + log_abs_diff
    if log_scale is None:
        log_scale = -float(log_terms.max())
    return (sign_diff * np.exp(np.minimum(log_terms + log_scale, cap))).sum(axis=2)


def logit_hessian(rho: np.ndarray, logsig: np.ndarray, logw: np.ndarray, diff: np.ndarray,
                  loss: str) -> np.ndarray:
    """``H = d rho / d g`` per sample, shape (n, L, L), for ``rho`` (n, L) a scaled ``w_i (Sigma(g_i) gamma_i)``.

    ``H_i = diag(rho_i) - rho_i sigma_i^T - sigma_i rho_i^T - c_i rho_i r_i^T`` with ``r = Sigma(g) gamma``
    (unscaled) and ``c_i = 1`` for the exponential loss, ``sigmoid(u_i) = 1 - w_i`` for the logistic one.
    ``diff`` is ``gamma_l - gamma_k`` (n, L, L). Linear in ``rho``, so any scale of ``rho`` carries over to ``H``
    (the flows' scaled Hessian, :meth:`attnlib.dynamics.FlowModel.jac`, and the margin frame, :mod:`attnlib.frame`)."""
    sig = np.exp(logsig)
    r = sig * np.einsum("ik,ilk->il", sig, diff)  # sigma_l (gamma_l - gbar)
    c = np.ones(len(rho)) if loss == "exp" else -np.expm1(logw)  # 1 - w = sigmoid(u) for the logistic loss
    L = rho.shape[1]
    return (np.einsum("il,lm->ilm", rho, np.eye(L)) - rho[:, :, None] * sig[:, None, :]
            - sig[:, :, None] * rho[:, None, :] - c[:, None, None] * rho[:, :, None] * r[:, None, :])


def grad_from_r(data: AttentionData, r: np.ndarray) -> np.ndarray:
    """``-(1/n) sum_i X_i^T r_i z_i^T``, shape (d, d)."""
    return -(np.matmul(r[:, None, :], data.X)[:, 0, :]).T @ data.z / data.n


def grad_beta_from_r(data: AttentionData, r: np.ndarray) -> np.ndarray:
    """The diagonal of :func:`grad_from_r`: ``-(1/n) sum_il r_il x_il * z_i``, shape (d,)."""
    return -np.einsum("nld,nl,nd->d", data.X, r, data.z) / data.n


def excess_from_logsig(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``L - L*`` from log-attention (..., n, L) -> (...); ``inf`` only where it overflows float64, never NaN.

    The direct form ``mean(e^{-gamma_opt} expm1(r))`` is used where it is finite; where a factor overflows
    (``0 * inf`` for huge scores) the value comes from the log-space :func:`log_excess_from_logsig`."""
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.mean(np.exp(-data.gamma_opt) * np.expm1(margins_per_sample(data, logsig)), axis=-1)
    return _direct_or_from_log(direct, lambda: log_excess_from_logsig(data, logsig))


def _direct_or_from_log(direct: np.ndarray, log_value) -> np.ndarray:
    """``direct`` where it is finite, elsewhere ``exp(log_value())`` (computed only then; ``inf`` only where the
    value exceeds float64)."""
    bad = ~np.isfinite(direct)
    if np.any(bad):
        with np.errstate(over="ignore"):
            direct = np.where(bad, np.exp(np.minimum(log_value(), 1e4)), direct)
    return direct


def log_excess_from_logsig(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``log(L - L*)`` from log-attention (..., n, L) -> (...)."""
    log_terms = -data.gamma_opt + log_expm1_from_log(log_margins_per_sample(data, logsig))
    return logsumexp(log_terms, axis=-1) - np.log(data.n)


def log_margins_per_sample(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``log r_i`` (see :func:`margins_per_sample`) summed from logs, finite where ``r_i`` underflows; (..., n)."""
    gap = data.gamma_opt[:, None] - data.gamma
    mask = gap > 0
    with np.errstate(divide="ignore"):
        return logsumexp(np.where(mask, logsig + np.log(np.where(mask, gap, 1.0)), -np.inf), axis=-1)


def logistic_excess_from_logsig(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``L - L*`` of the logistic loss from log-attention (..., n, L) -> (...), without cancellation.

    Per sample ``log(1 + e^{-u_i}) - log(1 + e^{-gamma_opt}) = log1p(sigmoid(-gamma_opt) expm1(r_i))`` with
    ``u_i = gamma_opt - r_i``; subtracting the two losses instead loses everything below ``1e-16 L*`` (from
    ``t ~ 1e16`` along a flow). Where a factor overflows, the value comes from
    :func:`log_logistic_excess_from_logsig`; ``inf`` only where it exceeds float64, never NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.exp(-np.logaddexp(0.0, data.gamma_opt)) * np.expm1(margins_per_sample(data, logsig))
        direct = np.mean(np.log1p(a), axis=-1)
    return _direct_or_from_log(direct, lambda: log_logistic_excess_from_logsig(data, logsig))


def log_logistic_excess_from_logsig(data: AttentionData, logsig: np.ndarray) -> np.ndarray:
    """``log(L - L*)`` of the logistic loss from log-attention (..., n, L) -> (...), finite where it underflows:
    ``log log1p(a_i)`` with ``log a_i = log sigmoid(-gamma_opt) + log expm1(r_i)``."""
    log_a = -np.logaddexp(0.0, data.gamma_opt) + log_expm1_from_log(log_margins_per_sample(data, logsig))
    return logsumexp(log_log1p_from_log(log_a), axis=-1) - np.log(data.n)


def log_log1p_from_log(log_a: np.ndarray) -> np.ndarray:
    """``log(log1p(a))`` given ``log a`` (accurate when ``a`` underflows and when it overflows)."""
    small = log_a < -20.0
    with np.errstate(over="ignore", divide="ignore"):
        a = np.exp(np.where(small, log_a, -20.0))
        return np.where(small, log_a + np.log1p(-a / 2 + a * a / 3), np.log(np.logaddexp(0.0, log_a)))


def log_expm1_from_log(log_r: np.ndarray) -> np.ndarray:
    """``log(expm1(r))`` given ``log r`` (accurate when r underflows)."""
    r = np.exp(np.minimum(log_r, LOG_MAX))
    small = log_r < np.log(1e-5)
    return np.where(small, log_r + np.log1p(r / 2 + r * r / 6), log_expm1(np.where(small, 1.0, r)))


def log_expm1(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, dtype=float)
    small = r < 1e-5
    with np.errstate(divide="ignore"):
        out = np.where(small, np.log(r) + np.log1p(r / 2 + r * r / 6), 0.0)
        big = np.where(small, 1.0, r)
        out = np.where(small, out, big + np.log(-np.expm1(-big)))
    return out


def unit_scaled(A: np.ndarray) -> np.ndarray:
    """``A / max|A|`` (``A`` itself if zero or empty): the same direction, and its products and norms can neither
    overflow nor underflow (entries ~1e300 of the margin frame, ~1e-300 of a tiny basis)."""
    top = np.max(np.abs(A)) if A.size else 0.0
    return A / top if top > 0 else A
