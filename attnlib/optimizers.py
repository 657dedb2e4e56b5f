"""Optimizers beyond gradient descent, and the norm each is predicted to favour (book chapter 8).

Every method here is a *normalised* steepest descent: at step ``k`` it moves each parameter block by
``eta_k`` times a direction of unit size in its norm, with ``eta_k = lr / (k + 1)^decay`` (``0 < decay <= 1``:
the steps shrink, but their sum diverges, so ``||W||`` grows without bound and the direction can settle). Only the
direction of the gradient enters, so it is taken at a log scale that keeps it representable where the gradient
itself underflows (``e^s grad L``, with ``s`` carried from step to step; Adam keeps its moments at that scale).

============  ===================================  =======================  ======================================
method        step direction of a block with       steepest descent in      predicted limit for ``param="W"``
              gradient ``G``
============  ===================================  =======================  ======================================
"ngd"         ``-G / ||G||_F`` (whole parameter)   Frobenius / Euclidean    "fro" SVM (Tarzanagh et al. 2023)
"sign"        ``-sign(G)``                         entrywise max-norm       "max" SVM (Fan, Schmidt &
                                                                            Thrampoulidis 2025)
"adam"        ``-m_hat / sqrt(v_hat)``             (adaptive; sign-like)    "max" SVM (Fan et al. 2025, without
                                                                            the stability constant)
"rmsprop"     Adam with ``beta1 = 0``              (adaptive; sign-like)    "max" SVM (as Adam)
"spectral"    ``-U V^T`` (polar factor of G; SVD)  spectral norm (Muon)     "spectral" SVM (Fan et al. 2025)
"nuclear"     ``-u_1 v_1^T`` (top singular pair)   nuclear norm             "nuc" SVM (Xie et al. 2026)
============  ===================================  =======================  ======================================

Sources: Tarzanagh, Li, Thrampoulidis & Oymak, "Transformers as Support Vector Machines" (arXiv:2308.16898; gradient
descent on ``W`` of this very model); Fan, Schmidt & Thrampoulidis, "Implicit Bias of Spectral Descent and Muon on
Multiclass Separable Data" (NeurIPS 2025, arXiv:2502.04664; normalised steepest descent in entrywise and Schatten
norms, and Adam); Xie, Wu, Chen & Tang, "Towards The Implicit Bias on Multiclass Separable Data Under Norm
Constraints" (arXiv:2603.22824; nuclear-norm steepest descent, NucGD). The last two are for linear multiclass
classifiers trained with the cross-entropy loss; the softmax-attention model is not linear in ``W``, so for ``"W"`` the predictions are analogies, and for ``param="KQ"`` (the same
methods on ``K`` and ``Q``, each matrix its own block as Muon does) nobody has predicted anything except for
gradient descent (the nuclear SVM; the paper's Theorem 5.1 and its conjecture). :data:`PREDICTED_NORM` holds the
table's last column. Gradients come from the library's log-space gradient (:class:`attnlib.dynamics.FlowModel`, the one behind
:func:`attnlib.flow.gradient_descent` and :func:`attnlib.model.loss_grad`) and :func:`attnlib.dynamics.velocity`
(the chain rule to ``K, Q``); nothing here differentiates anything itself.
"""
from __future__ import annotations

import time

import numpy as np

from ._validate import check_choice, check_scalar
from .data import AttentionData, check_data
from .dynamics import PARAM_NAMES, FlowModel, combined_W, neg_grad, split_init, velocity
from .flow import Trajectory
from .model import log_excess_loss

__all__ = ["OPTIMIZERS", "PREDICTED_NORM", "NORM_OF", "optimize", "steepest_direction"]

OPTIMIZERS = ("ngd", "sign", "adam", "rmsprop", "spectral", "nuclear")
#: The attention SVM (:func:`attnlib.svm.solve_svm` norm) each method is predicted to reach for ``param="W"``.
PREDICTED_NORM = {"ngd": "fro", "sign": "max", "adam": "max", "rmsprop": "max", "spectral": "spectral",
                  "nuclear": "nuc"}
#: The norm in which each normalised method takes unit steps (per block), by its :func:`attnlib.svm.solve_svm` name.
NORM_OF = {"ngd": "fro", "sign": "max", "spectral": "spectral", "nuclear": "nuc"}
_RANK_TOL = 1e-12  # singular values below this times the largest are the gradient's null space (no step there)


def steepest_direction(G: np.ndarray, norm: str) -> np.ndarray:
    """The unit-norm direction ``D`` maximising ``<G, D>`` (minus the step of steepest descent).

    Parameters
    ----------
    G : numpy.ndarray, shape (p, q)
        A gradient (any positive multiple gives the same answer).
    norm : {"fro", "max", "spectral", "nuc"}
        ``G / ||G||_F``; ``sign(G)``; the polar factor ``U V^T`` of ``G``'s range (singular values below
        ``1e-12`` times the largest count as zero, where every choice is steepest: none is taken, as Muon's
        Newton-Schulz iteration does); ``u_1 v_1^T`` for the largest singular value.

    Returns
    -------
    numpy.ndarray, shape (p, q)
        ``<G, D>`` equals the dual norm of ``G`` (``||G||_F``, ``||G||_1`` entrywise, ``||G||_*``, ``||G||_2``).

    Raises
    ------
    ValueError
        For an unknown ``norm``, or a ``G`` that is exactly zero or not finite (no direction exists).
    """
    check_choice(norm, "norm", ("fro", "max", "spectral", "nuc"))
    G = np.asarray(G, dtype=float)
    if not np.all(np.isfinite(G)) or not np.any(G):
        raise ValueError(f"G must be a finite, nonzero gradient to have a steepest direction; got max |G| = "
                         f"{np.abs(G).max() if G.size else 'empty'}")
    if norm == "fro":
        return G / np.linalg.norm(G)
    if norm == "max":
        return np.sign(G)
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    if norm == "nuc":
        return np.outer(U[:, 0], Vt[0])
    keep = s > _RANK_TOL * s[0]
    return U[:, keep] @ Vt[keep]


class _ScaledGradient:
    """``e^s grad_theta L`` per block, and ``s``: the gradient of :class:`attnlib.dynamics.FlowModel` (the hot path
    of :func:`attnlib.flow.gradient_descent`) at a log scale ``s`` carried from step to step so that the largest
    entry stays near 1; it starts at (and falls back to) ``s = -ln(L_exp(W) - L*)``."""

    def __init__(self, data: AttentionData, param: str, arrays: list[np.ndarray], loss: str):
        self.data, self.param = data, param
        self.model = FlowModel(data, param, arrays, loss)
        self.s = None

    def _at(self, arrays: list[np.ndarray], W: np.ndarray, s: float) -> list[np.ndarray]:
        r = self.model.r_scaled(W, s)
        self.model.nfev += 1
        return [-F for F in velocity(self.param, arrays, neg_grad(self.data, self.param, r))]

    def __call__(self, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
        W = combined_W(self.param, arrays)
        s = -log_excess_loss(self.data, W) if self.s is None else self.s
        grads = self._at(arrays, W, s)
        big = max(float(np.abs(g).max()) for g in grads)
        if self.s is not None and not 1e-100 < big < 1e100:  # the carried scale drifted: start afresh
            s = -log_excess_loss(self.data, W)
            grads = self._at(arrays, W, s)
            big = max(float(np.abs(g).max()) for g in grads)
        if big > 0:
            self.s = s - float(np.log(big))
        return grads, s


def _check_args(method, lr, decay, steps, n_save, beta1, beta2, eps):
    check_choice(method, "method", OPTIMIZERS)
    lr = check_scalar(lr, "lr", lo=0.0, lo_open=True)
    decay = check_scalar(decay, "decay", lo=0.0, hi=1.0)
    steps = int(check_scalar(steps, "steps", integer=True, lo=1))
    n_save = int(check_scalar(n_save, "n_save", integer=True, lo=1))
    beta1 = check_scalar(beta1, "beta1", lo=0.0, hi=1.0, hi_open=True)
    beta2 = check_scalar(beta2, "beta2", lo=0.0, hi=1.0, hi_open=True)
    eps = check_scalar(eps, "eps", lo=0.0)
    return lr, decay, steps, n_save, beta1, beta2, eps


class _Adam:
    """Adam's moments kept at the gradient's log scale ``s``: ``m~ = e^s m``, ``v~ = e^{2s} v``."""

    def __init__(self, shapes, beta1: float, beta2: float, eps: float):
        self.m = [np.zeros(sh) for sh in shapes]
        self.v = [np.zeros(sh) for sh in shapes]
        self.s, self.k = None, 0
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def direction(self, grads: list[np.ndarray], s: float) -> list[np.ndarray]:
        self.k += 1
        shift = 0.0 if self.s is None else s - self.s  # rescale the old moments to the new gradient's scale
        self.s = s
        out = []
        for j, g in enumerate(grads):
            self.m[j] = self.beta1 * self.m[j] * np.exp(shift) + (1 - self.beta1) * g
            self.v[j] = self.beta2 * self.v[j] * np.exp(2 * shift) + (1 - self.beta2) * g * g
            m_hat = self.m[j] / (1 - self.beta1 ** self.k)
            v_hat = self.v[j] / (1 - self.beta2 ** self.k)
            den = np.sqrt(v_hat)
            if self.eps > 0:  # eps is in the gradient's own units: e^s eps at this scale (inf: the step is 0)
                with np.errstate(over="ignore"):
                    den = den + self.eps * np.exp(s)
            out.append(np.divide(m_hat, den, out=np.zeros_like(m_hat), where=den > 0))
        return out


def optimize(data: AttentionData, param: str, init, method: str, *, steps: int = 2000, lr: float = 0.1,
             decay: float = 0.5, loss: str = "exp", beta1: float = 0.9, beta2: float = 0.999, eps: float = 0.0,
             n_save: int = 60) -> Trajectory:
    """Train ``W`` or ``(K, Q)`` with a normalised optimizer (the table of :mod:`attnlib.optimizers`).

    Parameters
    ----------
    data : AttentionData
    param : {"W", "KQ"}
    init : array of shape (d, d) or pair of arrays of shape (d, d_e)
        As in :func:`attnlib.flow.gradient_flow` (perturbed inside :func:`attnlib.perturbed_inputs`).
    method : {"ngd", "sign", "adam", "rmsprop", "spectral", "nuclear"}
    steps : int
        Number of steps (>= 1).
    lr : float
        ``eta_0 > 0``.
    decay : float
        In [0, 1]: ``eta_k = lr / (k + 1)^decay``. Any value in (0, 1] makes the steps vanish with a divergent
        sum, the condition of the cited convergence results; 0 is a constant step.
    loss : {"exp", "logistic"}
    beta1, beta2 : float
        Adam's moment decays, in [0, 1) ("rmsprop" uses ``beta1 = 0`` whatever is passed).
    eps : float
        Adam's stability constant (>= 0), in the loss's units. The analyses cited take 0 (the default); a positive
        value turns Adam into unnormalised gradient descent once ``|grad|`` falls below it.
    n_save : int
        Saved iterates, log-spaced in the step index (plus step 0 and the last).

    Returns
    -------
    attnlib.flow.Trajectory
        ``method`` is the optimizer's name, ``t = sum_k eta_k`` (the path length budget) and ``phi`` zeros.

    Raises
    ------
    ValueError
        For a bad argument (named), or ``param`` other than "W"/"KQ".
    FloatingPointError
        If the iterates stop being finite.
    """
    check_data(data)
    check_choice(param, "param", ("W", "KQ"))
    check_choice(loss, "loss", ("exp", "logistic"))
    lr, decay, steps, n_save, beta1, beta2, eps = _check_args(method, lr, decay, steps, n_save, beta1, beta2, eps)
    arrays = [a.copy() for a in split_init(data, param, init)]
    gradient, adam = _ScaledGradient(data, param, arrays, loss), None
    if method in ("adam", "rmsprop"):
        adam = _Adam([a.shape for a in arrays], 0.0 if method == "rmsprop" else beta1, beta2, eps)
    save_at = set(np.unique(np.concatenate([[0], np.geomspace(1, steps, n_save).astype(int), [steps]])).tolist())
    saved, t_saved, t = [], [], 0.0
    start = time.perf_counter()
    for k in range(steps + 1):
        if k in save_at:
            saved.append([a.copy() for a in arrays])
            t_saved.append(t)
        if k == steps:
            break
        grads, s = gradient(arrays)
        eta = lr / (k + 1) ** decay
        for a, D in zip(arrays, _directions(method, grads, s, adam)):
            a -= eta * D
        t += eta
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise FloatingPointError(f"the {method} iterates stopped being finite at step {k} (lr={lr})")
    params = {name: np.array([th[i] for th in saved]) for i, name in enumerate(PARAM_NAMES[param])}
    t_arr = np.array(t_saved)
    with np.errstate(divide="ignore"):
        log_t = np.log(t_arr)
    return Trajectory(data=data, param=param, t=t_arr, log_t=log_t,
                      W=np.array([combined_W(param, th) for th in saved]), params=params,
                      phi=np.zeros((len(t_arr), len(data.pairs))), nfev=gradient.model.nfev, loss_kind=loss, method=method,
                      wall_time=time.perf_counter() - start)


def _directions(method: str, grads: list[np.ndarray], s: float, adam: _Adam | None) -> list[np.ndarray]:
    """The step direction of each block (to be multiplied by ``eta_k``)."""
    if adam is not None:
        return adam.direction(grads, s)
    if method == "ngd":  # one Euclidean normalisation over the whole parameter (normalised GD on theta)
        total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        if total == 0:
            raise FloatingPointError("the gradient is exactly zero (a stationary point, e.g. K = Q = 0)")
        return [g / total for g in grads]
    if not any(np.any(g) for g in grads):
        raise FloatingPointError("the gradient is exactly zero (a stationary point, e.g. K = Q = 0)")
    return [steepest_direction(g, NORM_OF[method]) if np.any(g) else np.zeros_like(g) for g in grads]
