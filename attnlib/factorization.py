"""Why factorization means l1 / nuclear norm: minimal-norm factorizations and the nuclear-norm subdifferential.

Two variational identities explain the biases of chapters 3 and 5:

* ``||beta||_1 = min { (||xi_k||^2 + ||xi_q||^2) / 2 : xi_k * xi_q = beta }``, attained by the *balanced* factors
  ``xi_k = sign(beta) sqrt|beta|``, ``xi_q = sqrt|beta|`` (:func:`l1_factors`);
* ``||W||_* = min { (||K||_F^2 + ||Q||_F^2) / 2 : K Q^T = W }``, attained by ``K = U sqrt(S)``, ``Q = V sqrt(S)``
  for the SVD ``W = U S V^T`` (:func:`nuclear_factors`).

Both follow from ``2ab <= a^2 + b^2`` (coordinatewise, resp. with ``||K Q^T||_* <= ||K||_F ||Q||_F``).

Theorem 5.1's proof transfers stationarity from the diagonal problem (42) to the ``W_*``-SVM with Watson's (1992)
characterization of the subdifferential of the nuclear norm: for ``W = U_r S_r V_r^T`` of rank ``r``,

    ``d||W||_* = { U_r V_r^T + E : U_r^T E = 0, E V_r = 0, ||E||_op <= 1 }``.

:func:`nuclear_subgradient` builds members of this set and :func:`check_nuclear_subgradient` measures how far a
given matrix is from satisfying each condition; :func:`pair_sum` forms the KKT matrix ``sum_il lambda_il A_il``.

The diagonal model's factors are matrices: :func:`padded_diag` builds ``K = [Diag(xi_k), 0]`` of shape (d, d_e), so
``K Q^T = Diag(xi_k * xi_q)`` (erratum E4: ``Diag`` builds a matrix, ``diag`` extracts one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import MAX_ENTRIES, check_array, check_scalar
from .data import AttentionData, check_data

__all__ = ["l1_factors", "nuclear_factors", "factor_cost", "nuclear_subgradient", "NuclearSubgradientCheck",
           "check_nuclear_subgradient", "pair_sum", "padded_diag", "RANK_TOL"]

RANK_TOL = 1e-9  # singular values below RANK_TOL * s_max count as zero (the rank r of W)


def l1_factors(beta) -> tuple[np.ndarray, np.ndarray]:
    """The balanced factorization of ``beta`` with the smallest ``(||xi_k||^2 + ||xi_q||^2) / 2``.

    Parameters
    ----------
    beta : array_like, shape (d,)

    Returns
    -------
    xi_k, xi_q : numpy.ndarray, shape (d,)
        ``xi_k = sign(beta) sqrt|beta|``, ``xi_q = sqrt|beta|``: ``xi_k * xi_q = beta``, ``|xi_k| = |xi_q|`` and
        ``factor_cost(xi_k, xi_q) = ||beta||_1``.
    """
    beta = check_array(beta, "beta", ndim=1, expected="a 1-D array beta of shape (d,)")
    root = np.sqrt(np.abs(beta))
    return np.sign(beta) * root, root


def padded_diag(xi, d_e: int) -> np.ndarray:
    """Erratum E4's construction ``[Diag(xi), 0]``: the (d, d_e) matrix with ``xi`` on its diagonal, zero-padded.

    The diagonal model of Theorem 4.1 and Lemma 4.1 takes ``K = [Diag(xi_k), 0]`` and ``Q = [Diag(xi_q), 0]``, so that
    ``K Q^T = Diag(xi_k * xi_q) = Diag(beta)``; the paper writes ``diag``, which extracts a diagonal.

    Parameters
    ----------
    xi : array_like, shape (d,)
        The diagonal.
    d_e : int
        The embedding dimension, ``d_e >= d``.

    Returns
    -------
    numpy.ndarray, shape (d, d_e)
        ``M[j, j] = xi[j]`` for ``j < d``, every other entry 0.

    Raises
    ------
    ValueError
        If ``xi`` is not a finite 1-D array or ``d_e`` is not an integer ``>= len(xi)``.
    """
    xi = check_array(xi, "xi", ndim=1, expected="a 1-D array xi of shape (d,)")
    d_e = check_scalar(d_e, "d_e", integer=True, lo=len(xi), hi=max(len(xi), MAX_ENTRIES // max(len(xi), 1)))
    M = np.zeros((len(xi), d_e))
    M[:, :len(xi)] = np.diag(xi)
    return M


def _svd_rank(W: np.ndarray, rank_tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    U, s, Vt = np.linalg.svd(W)
    r = int(np.sum(s > rank_tol * max(float(s[0]) if s.size else 0.0, np.finfo(float).tiny)))
    return U, s, Vt.T, r


def _check_square(W, name: str = "W") -> np.ndarray:
    return check_array(W, name, ndim=2, expected=f"a 2-D array {name} of shape (d, d')")


def nuclear_factors(W, d_e: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The balanced factorization ``K = U sqrt(S)``, ``Q = V sqrt(S)`` of ``W = U S V^T``.

    Parameters
    ----------
    W : array_like, shape (d, d')
    d_e : int, optional
        Embedding dimension (columns of ``K`` and ``Q``); default ``min(d, d')``. Must be at least ``rank(W)``;
        the extra columns are zero.

    Returns
    -------
    K : numpy.ndarray, shape (d, d_e)
    Q : numpy.ndarray, shape (d', d_e)
        ``K Q^T = W``, ``K^T K = Q^T Q`` (balanced) and ``factor_cost(K, Q) = ||W||_*``.
    """
    W = _check_square(W)
    if W.size == 0:
        raise ValueError(f"W must be a 2-D array of shape (d, d') with d, d' >= 1; got shape {W.shape}")
    U, s, V, r = _svd_rank(W, RANK_TOL)
    k = min(W.shape)
    if d_e is None:
        d_e = k
    d_e = int(check_scalar(d_e, "d_e", integer=True, lo=1, hi=max(k, MAX_ENTRIES // max(W.shape))))
    if d_e < r:
        raise ValueError(f"d_e must be at least rank(W) = {r} for K Q^T = W to be possible; got d_e={d_e}")
    root = np.sqrt(s[:r])
    K = np.zeros((W.shape[0], d_e))
    Q = np.zeros((W.shape[1], d_e))
    K[:, :r] = U[:, :r] * root
    Q[:, :r] = V[:, :r] * root
    return K, Q


def factor_cost(K, Q) -> float:
    """``(||K||_F^2 + ||Q||_F^2) / 2`` (vectors ``xi_k, xi_q`` or matrices ``K, Q``): the weight-decay penalty."""
    K = check_array(K, "K", expected="an array (the first factor: xi_k or K)")
    Q = check_array(Q, "Q", expected="an array (the second factor: xi_q or Q)")
    if K.ndim != Q.ndim or K.ndim not in (1, 2) or (K.ndim == 1 and K.shape != Q.shape) or \
            (K.ndim == 2 and K.shape[1] != Q.shape[1]):
        raise ValueError(f"K and Q must be vectors of equal length or matrices with equally many columns; got "
                         f"shapes {K.shape} and {Q.shape}")
    top = max(float(np.abs(K).max(initial=0.0)), float(np.abs(Q).max(initial=0.0)))
    if top == 0:
        return 0.0
    # in units of top^2, so that squares of 1e200 do not overflow on the way (only a cost beyond float64 does)
    unit = 0.5 * float(np.sum((K / top) ** 2) + np.sum((Q / top) ** 2))
    log_cost = np.log(unit) + 2 * np.log(top)
    if log_cost > np.log(np.finfo(float).max):
        raise ValueError(f"the factor cost (||K||_F^2 + ||Q||_F^2) / 2 overflows float64: it is e^{log_cost:.6g} "
                         f"(max |entry| = {top:.3g})")
    if 1e-100 < top < 1e100:  # squares neither overflow nor underflow: the direct sum (bit for bit as before)
        return 0.5 * float(np.sum(K * K) + np.sum(Q * Q))
    return unit * top * top


def nuclear_subgradient(W, E=None) -> np.ndarray:
    """A member ``U_r V_r^T + E'`` of Watson's subdifferential of ``||.||_*`` at ``W``.

    Parameters
    ----------
    W : array_like, shape (d, d')
    E : array_like of shape (d, d'), optional
        Its part orthogonal to the row and column spaces of ``W``, ``(I - U_r U_r^T) E (I - V_r V_r^T)``, is
        added, shrunk to operator norm <= 1 when larger. Default: none (the minimal-norm subgradient).

    Returns
    -------
    numpy.ndarray, shape (d, d')
    """
    W = _check_square(W)
    U, _, V, r = _svd_rank(W, RANK_TOL)
    G = U[:, :r] @ V[:, :r].T
    if E is None:
        return G
    E = check_array(E, "E", shape=W.shape, expected=f"an array of the shape of W, {W.shape}")
    Pu = np.eye(W.shape[0]) - U[:, :r] @ U[:, :r].T
    Pv = np.eye(W.shape[1]) - V[:, :r] @ V[:, :r].T
    E = Pu @ E @ Pv
    op = float(np.linalg.norm(E, 2)) if E.size else 0.0
    return G + (E / op if op > 1.0 else E)


@dataclass(frozen=True)
class NuclearSubgradientCheck:
    """How well ``G`` satisfies Watson's three conditions for ``G`` in ``d||W||_*``.

    Attributes
    ----------
    rank : int
        ``r = rank(W)`` (singular values above ``RANK_TOL * s_max``).
    uv_error : float
        ``max |U_r^T G V_r - I_r|``: the part on the row/column spaces must be ``U_r V_r^T``.
    cross_error : float
        ``max(||U_r^T G (I - P_V)||_op, ||(I - P_U) G V_r||_op)``: the mixed blocks must vanish
        (``U_r^T E = 0``, ``E V_r = 0``).
    residual_op : float
        ``||(I - P_U) G (I - P_V)||_op``: the free part ``E`` must have operator norm at most 1.
    op_norm, inner : float
        ``||G||_op`` and ``<G, W> - ||W||_*`` (the equivalent test: ``||G||_op <= 1`` and ``<G, W> = ||W||_*``).
    """

    rank: int
    uv_error: float
    cross_error: float
    residual_op: float
    op_norm: float
    inner: float

    def ok(self, tol: float = 1e-8) -> bool:
        """All three conditions hold up to ``tol`` (a real number >= 0)."""
        tol = check_scalar(tol, "tol", lo=0.0)
        return bool(self.uv_error <= tol and self.cross_error <= tol and self.residual_op <= 1.0 + tol)


def check_nuclear_subgradient(W, G) -> NuclearSubgradientCheck:
    """Measure ``G`` against Watson's characterization of ``d||W||_*`` (see :class:`NuclearSubgradientCheck`).

    Parameters
    ----------
    W, G : array_like, shape (d, d')
    """
    W = _check_square(W)
    G = check_array(G, "G", shape=W.shape, expected=f"an array of the shape of W, {W.shape}")
    U, s, V, r = _svd_rank(W, RANK_TOL)
    Ur, Vr = U[:, :r], V[:, :r]
    Pu = np.eye(W.shape[0]) - Ur @ Ur.T
    Pv = np.eye(W.shape[1]) - Vr @ Vr.T

    def op(M: np.ndarray) -> float:
        return float(np.linalg.norm(M, 2)) if M.size and min(M.shape) else 0.0

    return NuclearSubgradientCheck(
        rank=r,
        uv_error=float(np.abs(Ur.T @ G @ Vr - np.eye(r)).max()) if r else 0.0,
        cross_error=max(op(Ur.T @ G @ Pv), op(Pu @ G @ Vr)),
        residual_op=op(Pu @ G @ Pv),
        op_norm=op(G),
        inner=float(np.sum(G * W) - s.sum()),
    )


def pair_sum(data: AttentionData, lam) -> np.ndarray:
    """``sum_il lambda_il A_il`` with ``A_il = (x_{i,opt} - x_il) z_i^T``: the KKT matrix of the attention SVMs.

    Parameters
    ----------
    data : AttentionData
    lam : array_like, shape (n(L-1),)
        Multipliers ordered as ``data.pairs`` (e.g. ``SVMSolution.dual`` or ``traj.phi[k] / ln mu``).

    Returns
    -------
    numpy.ndarray, shape (d, d)
    """
    data = check_data(data)
    m = len(data.pairs)
    lam = check_array(lam, "lam", shape=(m,), expected=f"a 1-D array of n(L-1) = {m} multipliers")
    return np.tensordot(lam, data.A, axes=1)
