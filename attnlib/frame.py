r"""The margin frame: gradient flow past the float64 horizon, to ``log t = 1e300``.

Why a frame
-----------
Along gradient flow the attention logits grow like ``s = log t`` while what drives the dynamics are the O(1)
differences between nearly equal margins. The standard solver (:func:`attnlib.gradient_flow` in ``s``) knows the
parameters to relative accuracy ``rtol``, so a log-odds ``(x_{i,r} - x_{il})^T W z_i`` of size ``s`` is known
only to ``rtol * s``: useless once ``rtol * s`` is O(1). The frame carries those differences as state.

Derivation
----------
Fix a *reference token* ``r(i)`` per sample (the token it attends to when the frame starts) and, for every
frame pair ``k = (i, l)`` with ``l != r(i)``, the log-odds offset

.. math:: y_k = (x_{i,r(i)} - x_{il})^\top W z_i - s = \langle A_k, W\rangle - s,
   \qquad A_k = (x_{i,r(i)} - x_{il}) z_i^\top .

Everything ``t \nabla L`` needs comes from ``(y, s)`` alone: with ``a_{il} = \log(t \sigma_{il}) = -y_k +
\log\sigma_{i,r}`` for ``l != r(i)``, ``a_{i,r} = \log\sigma_{i,r} = -\log(1 + \sum_k e^{-(s + y_k)})``, every term
``e^s w_i \sigma_{il}\sigma_{im} (\gamma_{il} - \gamma_{im})`` of the scaled logit gradient ``\rho = -n e^s
\partial L / \partial g`` is ``\exp(\log w_i + a_{il} + a_{im} + \log|\gamma_{il}-\gamma_{im}| + s(1 - m_l - m_m))``
with ``m_l = [l \ne r(i)]``: the exponent offset is 0 or ``-s`` *exactly*, so no ``s`` is ever added to an O(1)
number (``y = O(\log s)`` on the path). The gradient is therefore cancellation-free: as accurate as the offsets
``y`` it is computed from, i.e. to the solver tolerance, however large ``s`` is, without the ``rtol * s`` loss of
the standard solver. It is not exact: ``y`` is integrated beside the parameters and carries the solver's error,
and nothing in the integration ties it to ``<A_k, W> - s`` (the numerics appendix measures the drift,
``max_k |y_k - (<A_k, W> - s)| / s``, and checks the ``W``-flow's ``y`` at ``log t = 1e300`` against the Frobenius
SVM's multipliers).

The parameters are needed only to relative accuracy. Scale them by their growth, ``\tilde\theta =
\theta / s^p`` (``p = 1`` for ``W``, ``\beta``; ``p = 1/2`` for ``K, Q`` and ``\xi_k, \xi_q``) and integrate in
``u = \log s``. With ``F = s^c\, t(-\nabla_W L)`` (``c = 0`` for ``W, \beta``; ``c = 1`` for the bilinear ones,
where ``t \nabla L = O(1/s)``), so that ``F = O(1)`` on the path, and ``v(\tilde\theta, F)`` the parameter velocity
(``F``, ``(F\tilde Q, F^\top\tilde K)``, ``g``, ``(g\tilde\xi_q, g\tilde\xi_k)``):

.. math::
   \frac{d\tilde\theta}{du} = v(\tilde\theta, F) - p\,\tilde\theta, \qquad
   \frac{dy_k}{du} = s\,\big(\langle A_k, \dot W\rangle - 1\big), \qquad
   \frac{d\tilde\phi}{du} = -\tfrac{2}{n}\, \rho_{\text{pairs}} - (1 - c)\,\tilde\phi,

where ``\dot W = dW/ds`` is ``F``, ``F\tilde Q\tilde Q^\top + \tilde K\tilde K^\top F``, ``diag(g)`` or
``diag(g (\tilde\xi_k^2 + \tilde\xi_q^2))``, and ``\tilde\phi = \phi / s^{1-c}`` are the duals of Lemma A.1
(pairs of ``data.pairs``; they grow like ``s`` for ``W, \beta`` and like ``\log s`` for the bilinear ones). Each
``y_k`` is stored as ``v_k = Y_0 \operatorname{asinh}(y_k / Y_0)`` (``Y_0 = 1000``): equal to ``y_k`` on the active
pairs, ``\approx Y_0 \log y_k`` on the inactive ones, whose ``y_k`` grows like ``s = e^u`` and would otherwise cap
every step in ``u`` (the same holds for ``\phi`` unscaled). For ``W`` the ``y``-equation closes on itself,
``dy/ds = G w(y) - 1`` with ``G`` the Gram matrix of the ``A_k``; its fixed point is the KKT system of the
Frobenius SVM.

The ``y``-block is stiff, with eigenvalues of order ``-s`` in ``u``: an implicit solver takes long steps only
with an accurate Jacobian, which :meth:`FrameModel.jac` gives analytically: ``\partial\rho/\partial y_k =
-H_{:, l(k)}`` with ``H = d\rho/dg`` the logit Hessian shared with :meth:`attnlib.dynamics.FlowModel.jac`
(:func:`attnlib.kernels.logit_hessian`), and the parameter blocks follow from the velocity's linearity in ``F``.

Where it is valid
-----------------
The formulas are exact for any ``y``; what they need is that every term's exponent stays representable, i.e.
that each sample keeps attending to its reference token. The frame starts (:func:`attnlib.gradient_flow` switches
on its own) once ``log t >= switch_log_t`` and every sample's attended token leads every other by at least
``SWITCH_LOG_ODDS`` with ``y_k - c u >= -SWITCH_OFFSET - offset_shift`` (:func:`offset_shift`: the offsets settle
near ``-max gamma_opt``). If afterwards a sample's attended token changes
(``s + y_k < 0``) or a competitor gains so much that the scaled gradient terms would leave float range
(``y_k - c u < -EXIT_OFFSET - offset_shift``), the integration stops and :class:`MarginFrameError` is raised: re-referencing at
large ``s`` would need the O(1) log-odds that float64 cannot hold on top of ``s``, so no path that left the
frame's assumptions is ever returned.

Limits and the reduced frame
----------------------------
For "W" and "beta" the ``y``-equation does not depend on the scaled parameters, the Jacobian is block-triangular,
and ``log t = 1e300`` costs about as much as ``1e30``. For "KQ" ``dW/ds`` depends on them, and the ``y``-rows'
``O(s)`` entries eventually swamp the ``O(1)`` parameter block inside the implicit solver's Newton iteration:
measured on ``make_generic_data(6, 8, 10, 0)`` (from ``0.01 N(0, 1)``), Newton failed at every step size from
``log t ~ 1e21`` on, once ``h s eps`` exceeds one, and the run stalled between ``6e23`` and ``7e37``. (The
Jacobian's eigenvalues themselves are fine: the active ``y``-block, divided by ``s``, has eigenvalues between
``3e-3`` and ``4``, and its Schur complement ``O(1)`` ones.) So from ``log t = QSS_LOG_T = 1e17`` on the "KQ"
frame is *reduced* (:class:`ReducedFrame`): the active offsets solve ``<A_k, dW/ds> = 1`` (quasi-steady state;
they differ from the ODE's by ``(dy/du) / (s G) = O(1/s)``, below float64's resolution), the inactive ones are
``s (<A_k, W/s> - 1)``, and the state is ``[theta~, phi~]`` only, with the Jacobian from the implicit-function
theorem. The support changes on its own: an active pair whose weight falls below ``e^-INACTIVE_MIN`` leaves it,
an inactive pair whose scaled slack ``<A_k, W/s> - 1`` falls to ``PROMOTE_SLACK`` joins it (a new stage of the
integration); ``FrameRecord.support_changes`` lists both. "xi" runs reduced past ``QSS_LOG_T`` too: its
offsets' rows carry rounding noise ``~ s eps`` and reach ``~ s`` at the implicit solver's trial states, which came
within 1e10 of float64's limit from ``log t ~ 1e185`` on and turned LSODA's state NaN near ``1e196`` (generic and
orthogonal data), and both implicit methods failed near ``1e45``-``1e50`` on other seeds; reduced, these seeds
reach ``1e300``, and a late support change (``make_diagonal_data(4, 3, 5, 0)``: a pair joins at ``log t ~ 3e158``,
where the full frame stalled) is followed.
"W" and "beta" run reduced too, from ``log t = DEPENDENT_QSS_LOG_T = 1e4`` on, when their constraint rows are
(nearly) dependent (:func:`_reduces`: two frame pairs share a row, or for "W" the rows' smallest singular value is
below ``DEPENDENT_ROWS_RTOL = 1e-8`` times the largest; the paired tokens of Assumption-4 data, exact or perturbed
by rounding). Along the Gram matrix's null directions nothing restores the full frame's offsets and its rounding
noise, ``~ s eps``, accumulates there until the error test stalls (``make_orthogonal_data(3, 5, 6)``, "W": log t
~ 2e7 under a 1e-12 perturbation of the inputs, 7e5 at rtol 1e-10); for "W" the quasi-steady offsets are the
flow's exact fixed point, and reducing at 1e4 instead of 1e17 moves the path by < 1e-7. "KQ" on such rows runs
reduced from ``DEPENDENT_KQ_QSS_LOG_T = 1e8`` (its quasi-steady offsets are off by ``O(1 / log t)``, i.e. rtol,
there; the full frame stalled at ``log t ~ 1e13``; reduced, the path moves by < 1e-8). There the Newton step is
the least-norm one (only the weights' combination outside the null space is determined). A method that raises inside ``solve_ivp`` counts as
failed and the next of ``FRAME_METHODS`` runs; when all fail the error is a :class:`attnlib.FlowStallError`.

Representation of the result
----------------------------
Up to ``log t = 1e300`` the weights themselves fit in float64 (entries ``~ s ||W_svm||``), so
:class:`attnlib.Trajectory` keeps ``W``, the raw parameters and ``phi`` unscaled (to relative accuracy ``rtol``) and
every diagnostic works unchanged. What float64 cannot hold on top of ``s`` -- the log-odds offsets ``y`` and the
attention itself -- is stored in :class:`FrameRecord` (``traj.frame``), accurate in absolute terms to the solver
tolerance; the trajectory's loss, excess loss and its log are computed from this attention, not from ``W``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy.integrate import solve_ivp

from .data import check_data
from .dynamics import (LOG_GUARD, MAX_LOG_T, FlowModel, FlowStallError, OverBudget, SolverOptions, combined_W,
                       neg_grad, solve, velocity, velocity_jacobian)
from .kernels import log_sample_weights, logit_hessian, sum_log_terms

__all__ = ["ACTIVE_OFFSET", "DEPENDENT_KQ_QSS_LOG_T", "DEPENDENT_QSS_LOG_T", "EXIT_OFFSET", "INACTIVE_MIN", "QSS_LOG_T", "SWITCH_LOG_ODDS", "SWITCH_LOG_T", "SWITCH_OFFSET", "FrameRecord", "MarginFrameError",
           "offset_shift"]

SWITCH_LOG_T = 100.0  # earliest log t at which gradient_flow switches to the frame (when it switches on its own)
SWITCH_LOG_ODDS = 10.0  # every sample's attended token must lead every other by this log-odds ...
SWITCH_OFFSET = 50.0  # ... and every offset y_k - c log s must be >= -SWITCH_OFFSET
EXIT_OFFSET = 200.0  # the frame stops (MarginFrameError) once some y_k - c log s < -EXIT_OFFSET (terms ~ e^200)
# Past QSS_LOG_T the bilinear "KQ" frame eliminates its active offsets (ReducedFrame): their quasi-steady
# values differ from the ODE's by O(1/log t) < eps / 10, and the ODE's O(log t) stiff rows stall the solver there.
QSS_LOG_T = 1e17
REDUCED_PARAMS = ("KQ", "xi")
# "xi" too: its offsets' rows, s (<A_k, dW/ds> - 1) in u = log s, carry rounding noise ~ s eps and reach ~ s at the
# implicit solver's trial states; unreduced they came within 1e10 of float64's limit from log t ~ 1e185 on (1e307
# at log t ~ 4e206 on make_generic_data(4, 5, 6, 0)) and LSODA's state turned NaN near log t ~ 1e196, and on other
# seeds LSODA and BDF failed near log t ~ 1e45-1e50. Reduced at 1e17 the path moves by < 5e-8 (against the full
# frame at rtol 1e-10, to 1e100).
# "W" and "beta" on (nearly) dependent constraint rows run reduced from here on (see _reduces): along the Gram
# matrix's null directions nothing restores the offsets, and the rounding noise of s (G w - 1), ~ s eps, accumulates
# there until the full frame's error test stalls (measured: log t ~ 1e7, or 7e5 at rtol 1e-10, on
# make_orthogonal_data(3, 5, 6)). On the fixed point of the W flow the quasi-steady offsets are its exact solution.
DEPENDENT_QSS_LOG_T = 1e4
# ... and "KQ" on dependent rows from here (its quasi-steady offsets differ from the ODE's by O(1 / log t) ~ rtol)
DEPENDENT_KQ_QSS_LOG_T = 1e8
DEPENDENT_ROWS_RTOL = 1e-8  # rows count as dependent when sigma_min < DEPENDENT_ROWS_RTOL sigma_max
ACTIVE_OFFSET = 100.0  # at the reduction, a pair is active (eliminated) if y_k - c log s < ACTIVE_OFFSET ...
INACTIVE_MIN = 60.0  # an active pair whose y_k - c log s exceeds this (weight < e^-60) leaves the support ...
_MAX_SUPPORT_CHANGES = 200
MAX_FRAME_RESTARTS = 3  # a token change in the frame at log t <= MAX_LOG_T / RESTART_FACTOR: switch again later
RESTART_FACTOR = 10.0
PROMOTE_SLACK = 1e-9  # ... and an inactive pair joins it when its scaled margin slack <A_k, W/s> - 1 falls to this
_NEWTON_ITERS, _NEWTON_TOL = 40, 1e-11  # the quasi-steady Newton solve: stop when a step is < tol (1 + |y|)
_NEWTON_MAX_STEP = 4.0  # largest Newton step of an offset (a factor e^4 in its weight)
# The frame is stiff throughout; implicit methods with the analytic Jacobian, the second tried if the first fails
# (measured on the book's data: BDF is cheaper for W and beta, LSODA more robust for the bilinear KQ and xi).
FRAME_METHODS = {"W": ("BDF", "LSODA"), "beta": ("BDF", "LSODA"), "KQ": ("LSODA", "BDF"), "xi": ("LSODA", "BDF")}
_Y0 = 1000.0  # y is stored as v = Y0 asinh(y / Y0): v = y where |y| << Y0, ~ Y0 log y for the inactive pairs,
# whose y grows like s = e^u and would otherwise limit the step in u to rtol^(1/order)
_GROWTH = {"W": 1.0, "beta": 1.0, "KQ": 0.5, "xi": 0.5}  # p: theta grows like s^p
_LOG_SCALE_POWER = {"W": 0, "beta": 0, "KQ": 1, "xi": 1}  # c: F = s^c t (-grad_W L) is O(1) on the path


def offset_shift(data) -> float:
    """How far below 0 the active log-odds offsets settle on this data: ``max(0, max_i gamma_i,opt)``. A pair's
    scaled gradient term is ``~ w_i e^{-y_k} |gamma_l - gamma_k|`` with sample weight ``w_i ~ e^{-gamma_i,opt}``,
    so the offsets balance near ``-gamma_opt``, not near 0. ``SWITCH_OFFSET`` and ``EXIT_OFFSET`` are counted from
    ``-offset_shift`` (an absolute floor misdiagnosed data with scores ~60 as never locking).

    Parameters
    ----------
    data : AttentionData
        The data set (anything else: ``TypeError`` naming ``data``).

    Returns
    -------
    float
        ``max(0, max_i gamma_i,opt)``, >= 0.
    """
    data = check_data(data)
    return float(max(0.0, np.max(data.gamma_opt)))


def _finite(a: np.ndarray, nan: float, big: float) -> np.ndarray:
    """``a`` itself where every entry is finite (the solvers' hot path: no copy), else
    ``np.nan_to_num(a, nan=nan, posinf=big, neginf=-big)``: the same values either way."""
    if np.isfinite(a).all():
        return a
    return np.nan_to_num(a, nan=nan, posinf=big, neginf=-big)


class MarginFrameError(RuntimeError):
    """The flow left the margin frame's assumptions (a sample's attended token changed), or never entered them.

    Attributes
    ----------
    log_t : float
        ``log t`` where it happened.
    sample, token : int
        The sample and the competing token (-1 when the frame never started).
    """

    def __init__(self, message: str, log_t: float = float("nan"), sample: int = -1, token: int = -1):
        super().__init__(message)
        self.log_t, self.sample, self.token = log_t, sample, token


@dataclass(frozen=True)
class FrameRecord:
    """What the margin frame adds to a :class:`attnlib.Trajectory` (``traj.frame``; ``None`` without a switch).

    Attributes
    ----------
    log_t_switch : float
        ``log t`` where :func:`attnlib.gradient_flow` switched from the standard solver to the frame.
    ref : numpy.ndarray, shape (n,)
        Reference token of each sample (the attended one at the switch).
    pairs : numpy.ndarray, shape (n(L-1), 2)
        Frame pairs ``(i, l)``, ``l != ref(i)``, sample-major (equal to ``data.pairs`` when ``ref == data.opt``).
    rows : numpy.ndarray of int, shape (m_f,)
        Indices of the trajectory's saved times that come from the frame (``log t >= log_t_switch``).
    log_odds_offset : numpy.ndarray, shape (m_f, n(L-1))
        ``y_k = (x_{i,ref} - x_il)^T W z_i - log t`` at those times, an integrated state: accurate in absolute
        terms to the solver tolerance (``W`` itself only gives it to ``rtol * log t``), not exact.
    log_attention : numpy.ndarray, shape (m_f, n, L)
        Log-softmax attention at those times, from ``y`` (``log sigma_il = -(log t + y_k) + log sigma_i,ref``).
    nfev, njev : int
        Gradient and Jacobian evaluations spent in the frame (included in the trajectory's totals).
    log_t_reduced : float
        ``log t`` from which the frame ran reduced (active offsets quasi-steady: ``QSS_LOG_T`` for "KQ",
        ``DEPENDENT_QSS_LOG_T`` for "W"/"beta" on dependent constraint rows); ``inf`` if it did not.
    support_changes : tuple of (float, int, int)
        ``(log t, pair, +1 / -1)``: where the reduced frame's support (the active pairs) gained or lost a pair.
    """

    log_t_switch: float
    ref: np.ndarray
    pairs: np.ndarray
    rows: np.ndarray
    log_odds_offset: np.ndarray
    log_attention: np.ndarray
    nfev: int
    njev: int
    log_t_reduced: float = float("inf")
    support_changes: tuple = ()


class FrameModel:
    """The frame's state ``x = [theta / s^p, Y0 asinh(y / Y0), phi / s^(1-c)]`` in ``u = log s``, its right-hand
    side and its analytic Jacobian (``model`` is the standard solver's :class:`attnlib.dynamics.FlowModel`)."""

    def __init__(self, model: FlowModel, ref: np.ndarray, max_nfev: float, log_t_switch: float = float("nan")):
        self.base, self.data, self.param, self.loss = model, model.data, model.param, model.loss
        self.log_t_switch = log_t_switch  # where the standard solver handed over (for messages)
        self.shapes, self.k = model.shapes, model.n_theta
        self.p, self.c = _GROWTH[self.param], _LOG_SCALE_POWER[self.param]
        self.shift = offset_shift(model.data)  # the offsets' natural floor (see offset_shift)
        self.max_nfev, self.nfev, self.njev = max_nfev, 0, 0
        data = self.data
        self.ref = np.asarray(ref, dtype=int)
        self.pairs = np.array([(i, l) for i in range(data.n) for l in range(data.L) if l != self.ref[i]],
                              dtype=int).reshape(-1, 2)
        fi, fl = self.pairs.T
        self.n_pairs = len(self.pairs)
        self._Dr = data.X[fi, self.ref[fi]] - data.X[fi, fl]  # (P, d): x_ref - x_il
        self._Zr = data.z[fi]  # (P, d)
        self._Br = self._Dr * self._Zr  # (P, d): diagonal constraint rows
        nonref = np.ones((data.n, data.L), dtype=bool)
        nonref[np.arange(data.n), self.ref] = False
        self._nonref = nonref
        m = nonref.astype(float)
        self._offset_count = 1.0 - m[:, :, None] - m[:, None, :]  # exponent offset / s: 0 or -1 (or +1 on ref-ref)
        self._diff = model.diff
        self._log_abs_diff, self._sign_diff = model.log_abs_diff, model.sign_diff
        self._pi, self._pl = data.pairs.T  # the duals phi are indexed by data.pairs

    # -- state <-> parameters -----------------------------------------------------------------------
    def state(self, theta: np.ndarray, phi: np.ndarray, s: float) -> np.ndarray:
        """Frame state from unscaled parameters at ``log t = s`` (the switch point)."""
        W = combined_W(self.param, self.base.unpack(theta))
        y = np.einsum("kd,de,ke->k", self._Dr, W, self._Zr) - s
        return np.concatenate([theta / s ** self.p, _Y0 * np.arcsinh(y / _Y0), phi / s ** (1 - self.c)])

    def split(self, x: np.ndarray):
        """Parameters (scaled), ``y`` and ``dy/dv = cosh(v / Y0)`` for the stored ``v = Y0 asinh(y / Y0)``."""
        k, P = self.k, self.n_pairs
        v = np.clip(x[k:k + P] / _Y0, -695.0, 695.0)
        return self.base.unpack(x[:k]), _Y0 * np.sinh(v), np.cosh(v)

    def _s_over_cosh(self, x: np.ndarray, u: float) -> np.ndarray:
        """``s / cosh(v / Y0)`` (P,), from logs: each factor alone may overflow where the ratio does not."""
        z = np.abs(x[self.k:self.k + self.n_pairs] / _Y0)
        return np.exp(u - z - np.log1p(np.exp(-2.0 * z)) + np.log(2.0))

    def unscaled(self, x: np.ndarray, u: float) -> np.ndarray:
        """``[theta, phi]`` in the standard solver's layout (raw parameters, relative accuracy)."""
        k, P = self.k, self.n_pairs
        return np.concatenate([x[:k] * np.exp(self.p * u), x[k + P:] * np.exp((1 - self.c) * u)])

    def _full_y(self, y: np.ndarray) -> np.ndarray:
        Y = np.zeros((self.data.n, self.data.L))
        Y[self._nonref] = y  # sample-major, l increasing: the order of self.pairs
        return Y

    def log_attention(self, y: np.ndarray, u: float):
        """``a = log(t sigma)`` shifted (non-reference tokens) and the true log-softmax, both (n, L)."""
        s = np.exp(u)
        neg = np.where(self._nonref, -(s + self._full_y(y)), -np.inf)  # log sigma_l - log sigma_ref
        top = neg.max(axis=1)  # finite: every sample has a non-reference token (plain numpy: the hot path)
        log_sig_ref = -np.logaddexp(0.0, top + np.log(np.exp(neg - top[:, None]).sum(axis=1)))
        logsig = np.where(self._nonref, neg, 0.0) + log_sig_ref[:, None]
        a = np.where(self._nonref, -self._full_y(y), 0.0) + log_sig_ref[:, None]
        return a, logsig

    def rho(self, y: np.ndarray, u: float):
        """``s^c e^s w_i (Sigma(g_i) gamma_i)`` (n, L) from ``y`` alone, and the log-softmax and log weights."""
        a, logsig = self.log_attention(y, u)
        logw = log_sample_weights(self.data, logsig, self.loss)
        offset = self._log_abs_diff + np.exp(u) * self._offset_count
        rho = sum_log_terms(a, logw, offset, self._sign_diff, self.c * u, LOG_GUARD)
        return rho, logsig, logw

    def W_rate(self, arrays: list[np.ndarray], F: np.ndarray) -> np.ndarray:
        """``dW/ds`` (d, d), or ``d beta / ds`` (d,), given ``F``; linear in ``F`` (leading batch axes allowed)."""
        if self.param in ("W", "beta"):
            return F
        if self.param == "KQ":
            K, Q = arrays
            return F @ (Q @ Q.T) + (K @ K.T) @ F
        return F * (arrays[0] ** 2 + arrays[1] ** 2)

    def pair_rates(self, Wdot: np.ndarray) -> np.ndarray:
        """``<A_k, dW/ds>`` for every frame pair, shape (..., P)."""
        if self.param in ("beta", "xi"):
            return Wdot @ self._Br.T
        return np.einsum("kd,...de,ke->...k", self._Dr, Wdot, self._Zr)


    # -- the ODE --------------------------------------------------------------------------------------
    def rhs(self, u: float, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # only at diverged trial states; see the end
            return self._rhs(u, x)

    def _rhs(self, u: float, x: np.ndarray) -> np.ndarray:
        self.nfev += 1
        self.base.last_s = float(np.exp(u))
        if self.base.nfev + self.nfev > self.max_nfev:
            raise OverBudget
        if not np.isfinite(x).all():
            return np.full(x.size, 1e100)
        arrays, y, _ = self.split(x)
        rho, _, _ = self.rho(y, u)
        F = neg_grad(self.data, self.param, rho)
        dtheta = [v - self.p * a for v, a in zip(velocity(self.param, arrays, F), arrays)]
        dv = self._s_over_cosh(x, u) * (self.pair_rates(self.W_rate(arrays, F)) - 1.0)
        dphi = -2.0 / self.data.n * rho[self._pi, self._pl] - (1 - self.c) * x[self.k + self.n_pairs:]
        out = np.concatenate([d.ravel() for d in dtheta] + [dv, dphi])
        # a diverged trial state: a huge finite rhs makes the solver reject the step (as attnlib.flow does)
        return _finite(out, 1e100, 1e100)

    def jac(self, u: float, x: np.ndarray) -> np.ndarray:
        """Analytic Jacobian of :meth:`rhs`, shape (k + 2P,) * 2 (the duals do not feed back)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._jac(u, x)

    def _jac(self, u: float, x: np.ndarray) -> np.ndarray:
        self.njev += 1
        k, P, n = self.k, self.n_pairs, self.data.n
        J = np.zeros((x.size, x.size))
        if not np.isfinite(x).all():
            return J
        arrays, y, dy_dv = self.split(x)
        rho, logsig, logw = self.rho(y, u)
        F = neg_grad(self.data, self.param, rho)
        H = logit_hessian(rho, logsig, logw, self._diff, self.loss)
        fi, fl = self.pairs.T
        R = -H[fi, :, fl]  # (P, L): d rho_i / d y_k for the sample i of pair k (g_l = g_ref - s - y_k)
        Xf = self.data.X[fi]  # (P, L, d)
        if self.param in ("beta", "xi"):
            dF = np.einsum("kl,kld->kd", R, Xf) * self._Zr / n  # (P, d)
        else:
            dF = np.einsum("kl,kld->kd", R, Xf)[:, :, None] * self._Zr[:, None, :] / n  # (P, d, d)
        J[:k, :k] = velocity_jacobian(self.param, self.shapes, F) - self.p * np.eye(k)
        J[:k, k:k + P] = np.concatenate([v.reshape(P, -1) for v in velocity(self.param, arrays, dF)], axis=1).T
        soc = self._s_over_cosh(x, u)[:, None]  # the v-rows: s (...) / cosh(v / Y0)
        J[k:k + P, :k] = soc * self._pair_rates_theta(arrays, F)
        J[k:k + P, k:k + P] = soc * self.pair_rates(self.W_rate(arrays, dF)).T
        full = np.zeros((n, self.data.L, P))
        full[fi, :, np.arange(P)] = R
        J[k + P:, k:k + P] = -2.0 / n * full[self._pi, self._pl]
        J[k + P:, k + P:] = -(1 - self.c) * np.eye(len(self._pi))
        # chain rule for v = Y0 asinh(y / Y0): the y-columns times dy/dv, plus d(1/cosh(v / Y0))/dv on the diagonal
        J[:, k:k + P] *= dy_dv
        dv = soc[:, 0] * (self.pair_rates(self.W_rate(arrays, F)) - 1.0)
        J[np.arange(k, k + P), np.arange(k, k + P)] -= dv * np.tanh(np.clip(x[k:k + P] / _Y0, -695.0, 695.0)) / _Y0
        return _finite(J, 0.0, 1e300)

    def _pair_rates_theta(self, arrays: list[np.ndarray], F: np.ndarray) -> np.ndarray:
        """``d <A_k, dW/ds> / d theta_scaled`` at fixed ``F``, shape (P, k); zero for "W" and "beta"."""
        P = self.n_pairs
        if self.param in ("W", "beta"):
            return np.zeros((P, self.k))
        if self.param == "xi":
            bg = 2.0 * self._Br * F
            return np.concatenate([bg * arrays[0], bg * arrays[1]], axis=1)
        K, Q = arrays
        a, z = self._Dr, self._Zr
        Fz, Fta = z @ F.T, a @ F  # (P, d): F z_k and F^T a_k
        dK = a[:, :, None] * (Fz @ K)[:, None, :] + Fz[:, :, None] * (a @ K)[:, None, :]
        dQ = Fta[:, :, None] * (z @ Q)[:, None, :] + z[:, :, None] * (Fta @ Q)[:, None, :]
        return np.concatenate([dK.reshape(P, -1), dQ.reshape(P, -1)], axis=1)

    def exit_value(self, u: float, x: np.ndarray) -> float:
        """Zero when the frame's assumptions fail: ``min_k min(s + y_k, y_k - c u + EXIT_OFFSET)``."""
        y = self.split(x)[1]
        return float(min(np.min(np.exp(u) + y), np.min(y - self.c * u) + EXIT_OFFSET + self.shift))

    def exit_error(self, u: float, x: np.ndarray) -> MarginFrameError:
        y = self.split(x)[1]
        j = int(np.argmin(np.minimum(np.exp(u) + y, y - self.c * u + EXIT_OFFSET + self.shift)))
        i, l = (int(v) for v in self.pairs[j])
        s = float(np.exp(u))
        return MarginFrameError(
            f"gradient flow (param={self.param!r}) left the margin frame at log t = {s:.6g}: in sample {i} token "
            f"{l} overtook (or came within e^-{EXIT_OFFSET:g} of overtaking, in scaled-gradient terms) the "
            f"reference token {int(self.ref[i])} the sample attended to when the frame started (log-odds "
            f"{s + y[j]:.4g}). The frame cannot follow a change of the attended token at large log t (the O(1) "
            f"log-odds are not representable on top of log t); no path beyond this point is returned. Integrate "
            f"to log_t_end <= {MAX_LOG_T:g} with switch_log_t=inf (the standard solver), or start the frame later "
            f"(a larger switch_log_t).", log_t=s, sample=i, token=l)


class ReducedFrame:
    """The margin frame past ``QSS_LOG_T`` with the active offsets eliminated (quasi-steady state, a DAE).

    State ``x = [theta / s^p, phi / s^(1-c)]`` in ``u = log s``. The active offsets ``y_a`` (pairs with
    ``y_k - c u < ACTIVE_OFFSET`` when the reduction starts) solve the algebraic equations
    ``<A_k, dW/ds>(theta, y) = 1`` (Newton, warm-started); the ``y``-equation ``dy_k/du = s (<A_k, dW/ds> - 1)``
    says they differ from the full frame's by ``(dy_k/du) / (s G) = O(1/s)``, below float64's resolution for
    ``s >= QSS_LOG_T``. The inactive offsets are ``s (<A_k, W / s> - 1)``, known to relative accuracy, which is all
    their weights ``e^{-y_k}`` (underflowed to zero) need. Why: the full frame's ``y``-rows have entries ``O(s)``,
    and once ``h s eps`` (step, log t, machine epsilon) exceeds the ``O(1)`` parameter block the Newton matrix of
    the implicit solver no longer resolves that block: measured on ``make_generic_data(6, 8, 10, 0)``, Newton
    fails at every step size from ``log t ~ 1e21`` on, and the step collapses (:class:`attnlib.FlowStallError`).
    """

    def __init__(self, fm: FrameModel, y0: np.ndarray, u0: float):
        self.fm, self.k = fm, fm.k
        z0 = y0 - fm.c * u0
        self.active = np.flatnonzero(z0 < ACTIVE_OFFSET)
        self.inactive = np.flatnonzero(z0 >= ACTIVE_OFFSET)
        self._z = z0[self.active].copy()  # warm start: y_a - c u at the last solve
        self._z_inactive = np.maximum(z0, ACTIVE_OFFSET)  # lower bound of y_k - c u on the inactive pairs
        self.demoted: list[tuple[float, int]] = []  # (log t, pair) of active pairs that left the support
        self.promoted: list[tuple[float, int]] = []  # (log t, pair) of inactive pairs that joined it
        self._was_demoted = np.zeros(fm.n_pairs, dtype=bool)

    def _demote(self, u: float, y: np.ndarray) -> bool:
        """Move active pairs whose offset exceeds ``c u + INACTIVE_MIN`` (weight < e^-INACTIVE_MIN relative to the
        support) to the inactive ones: a pair leaving the support has no quasi-steady solution (its equation asks
        for a negative weight). Their offset is then bounded below by ``c u + INACTIVE_MIN``."""
        z = y[self.active] - self.fm.c * u
        out = z > INACTIVE_MIN
        if not np.any(out):
            return False
        gone = self.active[out]
        self.demoted += [(float(np.exp(u)), int(j)) for j in gone]
        self._z_inactive[gone] = INACTIVE_MIN
        self._was_demoted[gone] = True
        self.active = self.active[~out]
        self.inactive = np.sort(np.concatenate([self.inactive, gone]))
        self._z = z[~out]
        return True

    # -- y from the scaled parameters -----------------------------------------------------------------
    def _inactive_y(self, arrays: list[np.ndarray], u: float) -> np.ndarray:
        """``max(s (<A_k, W/s> - 1), c u + z_k)``: the first is known to relative accuracy (enough for weights
        ``e^{-y_k}`` that underflow), the second is the lower bound a pair keeps when it is demoted."""
        ia = self.inactive
        return np.maximum(self._margin_offset(arrays, u)[0][ia], self.fm.c * u + self._z_inactive[ia])

    def _margin_offset(self, arrays: list[np.ndarray], u: float):
        """``s (<A_k, W/s> - 1)`` for every pair and its rounding error bound ``1e3 eps s <|A_k|, |W/s|>``."""
        fm = self.fm
        W_scaled = combined_W(fm.param, arrays)  # W / s
        s = np.exp(u)
        val = s * (np.einsum("kd,de,ke->k", fm._Dr, W_scaled, fm._Zr) - 1.0)
        err = 1e3 * np.finfo(float).eps * s * (np.einsum("kd,de,ke->k", np.abs(fm._Dr), np.abs(W_scaled),
                                                          np.abs(fm._Zr)) + 1.0)
        return val, err

    def _dF(self, rho, logsig, logw) -> np.ndarray:
        """``dF / dy_k`` for the active pairs, shape (P_a, d, d) or (P_a, d); and ``d rho / dy_k`` (n, L, P_a)."""
        fm, a = self.fm, self.active
        data = fm.data
        H = logit_hessian(rho, logsig, logw, fm._diff, fm.loss)
        fi, fl = fm.pairs[a].T
        R = -H[fi, :, fl]  # (P_a, L)
        Xf = data.X[fi]
        G = np.einsum("kl,kld->kd", R, Xf)
        dF = G * fm._Zr[a] / data.n if fm.param in ("beta", "xi") else G[:, :, None] * fm._Zr[a][:, None, :] / data.n
        drho = np.zeros((data.n, data.L, len(a)))
        drho[fi, :, np.arange(len(a))] = R
        return dF, drho

    def solve(self, u: float, x: np.ndarray):
        """``y`` (P,), ``rho``, ``F`` and, for the Jacobian, ``dF/dy_a``, ``d rho/dy_a`` at the quasi-steady state.

        Raises ``_NoSteadyState`` when Newton does not converge (a diverged trial state or a singular system)."""
        fm, a = self.fm, self.active
        self._x = x
        arrays = fm.base.unpack(x[:self.k])
        y = np.empty(fm.n_pairs)
        y[self.inactive] = self._inactive_y(arrays, u)
        y[a] = self._z + fm.c * u
        for _ in range(_NEWTON_ITERS):
            fm.nfev += 1
            if fm.base.nfev + fm.nfev > fm.max_nfev:
                raise OverBudget
            rho, logsig, logw = fm.rho(y, u)
            F = neg_grad(fm.data, fm.param, rho)
            dF, drho = self._dF(rho, logsig, logw)
            resid = fm.pair_rates(fm.W_rate(arrays, F))[a] - 1.0
            Ry = fm.pair_rates(fm.W_rate(arrays, dF))[:, a].T  # (P_a, P_a): d resid_k / d y_j
            try:
                step = _solve_degenerate(Ry, -resid)
            except np.linalg.LinAlgError:
                raise _NoSteadyState from None
            if not np.all(np.isfinite(step)):
                raise _NoSteadyState
            step *= min(1.0, _NEWTON_MAX_STEP / max(np.max(np.abs(step), initial=0.0), 1e-300))  # log-weights
            y[a] += step
            if self._demote(u, y):  # the support shrank: solve again for the remaining active pairs
                a = self.active
                y[self.inactive] = self._inactive_y(arrays, u)
                continue
            if np.max(np.abs(step), initial=0.0) <= _NEWTON_TOL * (1.0 + np.max(np.abs(y[a]), initial=0.0)):
                # one more Newton step would change F by O(step^2): update F, rho to first order and stop
                F = F + np.tensordot(step, dF, axes=1)
                rho = rho + drho @ step
                self._z = y[a] - fm.c * u
                return y, rho, F, arrays, dF, drho
        raise _NoSteadyState

    # -- the ODE --------------------------------------------------------------------------------------
    def _solve_or_none(self, u: float, x: np.ndarray):
        """:meth:`solve` at a finite state, ``None`` where there is no quasi-steady state (or ``x`` is not finite)."""
        if not np.isfinite(x).all():
            return None
        try:
            return self.solve(u, x)
        except _NoSteadyState:
            return None

    def rhs(self, u: float, x: np.ndarray) -> np.ndarray:
        fm = self.fm
        fm.base.last_s = float(np.exp(u))
        with np.errstate(over="ignore", invalid="ignore"):
            solved = self._solve_or_none(u, x)
            if solved is None:
                return np.full(x.size, 1e100)  # the solver rejects the step (as attnlib.flow does)
            _, rho, F, arrays, _, _ = solved
            dtheta = [v - fm.p * a for v, a in zip(velocity(fm.param, arrays, F), arrays)]
            dphi = -2.0 / fm.data.n * rho[fm._pi, fm._pl] - (1 - fm.c) * x[self.k:]
            out = np.concatenate([d.ravel() for d in dtheta] + [dphi])
        return _finite(out, 1e100, 1e100)

    def jac(self, u: float, x: np.ndarray) -> np.ndarray:
        """``d rhs / d x`` with ``dy_a/dtheta = -(d resid/dy_a)^{-1} d resid/dtheta`` (implicit functions)."""
        fm, k = self.fm, self.k
        fm.njev += 1
        J = np.zeros((x.size, x.size))
        with np.errstate(over="ignore", invalid="ignore"):
            solved = self._solve_or_none(u, x)
            if solved is None:
                return J
            _, rho, F, arrays, dF, drho = solved
            a = self.active  # after the solve (which may demote pairs)
            Ry = fm.pair_rates(fm.W_rate(arrays, dF))[:, a].T
            Rtheta = fm._pair_rates_theta(arrays, F)[a]  # (P_a, k)
            try:
                dy = -_solve_degenerate(Ry, Rtheta)  # (P_a, k)
            except np.linalg.LinAlgError:
                return J
            Vy = np.concatenate([v.reshape(len(a), -1) for v in velocity(fm.param, arrays, dF)], axis=1).T
            J[:k, :k] = velocity_jacobian(fm.param, fm.shapes, F) - fm.p * np.eye(k) + Vy @ dy
            J[k:, :k] = -2.0 / fm.data.n * drho[fm._pi, fm._pl] @ dy
            J[k:, k:] = -(1 - fm.c) * np.eye(x.size - k)
        return _finite(J, 0.0, 1e300)

    def exit_value(self, u: float, x: np.ndarray) -> float:
        """Zero when the frame's assumptions fail: an active pair's ``min(s + y_k, y_k - c u + EXIT_OFFSET)``."""
        try:
            y = self.solve(u, x)[0]
        except _NoSteadyState:
            return 1.0  # a trial state; the solver rejects it anyway
        return float(min(self._exit_terms(u, y)))

    def _exit_terms(self, u: float, y: np.ndarray) -> np.ndarray:
        """``min(s + y_k, y_k - c u + EXIT_OFFSET)`` on the active pairs (the full frame's exit condition)."""
        a = self.active
        return np.minimum(np.exp(u) + y[a], y[a] - self.fm.c * u + EXIT_OFFSET + self.fm.shift)

    def exit_error(self, u: float, x: np.ndarray) -> MarginFrameError:
        y = _quasi_steady_offsets(self, u, x)
        return self.fm.exit_error(u, np.concatenate([x[:self.k], _Y0 * np.arcsinh(y / _Y0), x[self.k:]]))

    def promote_value(self, u: float, x: np.ndarray) -> float:
        """Crosses zero (downwards) when an inactive pair reaches the margin of the support: its scaled margin
        slack ``<A_k, W/s> - 1`` falls to ``PROMOTE_SLACK`` (``-PROMOTE_SLACK`` for a pair that was demoted, whose
        slack is ``O(log s / s)``, below the resolution of ``W/s``)."""
        ia = self.inactive
        if not len(ia):
            return 1.0
        val, _ = self._margin_offset(self.fm.base.unpack(x[:self.k]), u)
        slack = val[ia] / np.exp(u)
        return float(np.min(slack - np.where(self._was_demoted[ia], -PROMOTE_SLACK, PROMOTE_SLACK)))

    def promote(self, u: float, x: np.ndarray) -> None:
        """Add the inactive pair that triggered :meth:`promote_value` to the active ones (offset ``c u``)."""
        ia = self.inactive
        val, _ = self._margin_offset(self.fm.base.unpack(x[:self.k]), u)
        slack = val[ia] / np.exp(u) - np.where(self._was_demoted[ia], -PROMOTE_SLACK, PROMOTE_SLACK)
        j = int(ia[np.argmin(slack)])
        self.promoted.append((float(np.exp(u)), j))
        order = np.argsort(np.append(self.active, j))
        self.active = np.append(self.active, j)[order]
        self._z = np.append(self._z, 0.0)[order]
        self.inactive = ia[ia != j]

    def unscaled(self, x: np.ndarray, u: float) -> np.ndarray:
        fm = self.fm
        return np.concatenate([x[:self.k] * np.exp(fm.p * u), x[self.k:] * np.exp((1 - fm.c) * u)])


class _NoSteadyState(Exception):
    pass


def _solve_degenerate(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A^{-1} b``, or the least-squares solution of least norm where ``A`` is singular to working precision
    (active pairs whose constraint rows coincide, e.g. the paired tokens of Assumption-4 data with "beta": only the
    sum of their weights is determined, and the minimum-norm step splits it evenly)."""
    if np.linalg.cond(A) < 1e12:
        return np.linalg.solve(A, b)
    return np.linalg.lstsq(A, b, rcond=1e-12)[0]


def _quasi_steady_offsets(red: ReducedFrame, u: float, x: np.ndarray) -> np.ndarray:
    """The reduced frame's offsets ``y`` (P,) at an accepted state (a saved time or an exit); a state without a
    quasi-steady solution there is a public :class:`MarginFrameError`, never the private ``_NoSteadyState``."""
    try:
        return red.solve(u, x)[0]
    except _NoSteadyState:
        s = float(np.exp(u))
        raise MarginFrameError(
            f"gradient flow (param={red.fm.param!r}) left the reduced margin frame at log t = {s:.6g}: the active "
            f"log-odds offsets have no quasi-steady solution there (Newton on <A_k, dW/ds> = 1 did not converge: the "
            f"active constraints are degenerate or the support changed within a step). No path beyond this point "
            f"is returned; integrate to a smaller log_t_end.", log_t=s) from None


def _switch_event(model, switch_log_t: float):
    """Event for the standard solver in ``s``: positive once ``s >= switch_log_t`` and every sample's attended
    token leads by ``>= max(SWITCH_LOG_ODDS, s + c log s - SWITCH_OFFSET)`` (so ``y_k - c log s >=
    -SWITCH_OFFSET``)."""
    c, k = _LOG_SCALE_POWER[model.param], model.n_theta
    X, z = model.X, model.z
    floor = SWITCH_OFFSET + offset_shift(model.data)

    def event(s, x):
        W = combined_W(model.param, model.unpack(x[:k]))
        g = np.matmul(X, (z @ W.T)[:, :, None])[:, :, 0]
        top2 = np.sort(g, axis=1)[:, -2:]
        gap = float(np.min(top2[:, 1] - top2[:, 0]))
        need = max(SWITCH_LOG_ODDS, s + c * np.log(max(s, 1.0)) - floor)
        return min(s - switch_log_t, gap - need)

    event.terminal, event.direction = True, 1
    return event


def log_time_with_frame(model: FlowModel, x1: np.ndarray, log_end: float, log_eval: np.ndarray,
                        options: SolverOptions, row_offset: int):
    """:func:`_log_time_with_frame_once`, restarted with a later switch (``RESTART_FACTOR`` times the ``log t``
    where it happened) when a sample's attended token changes in the frame while the standard solver is still
    valid there (``log t * RESTART_FACTOR <= MAX_LOG_T``); at most ``MAX_FRAME_RESTARTS`` times. The new frame
    takes the newly attended tokens as references. Beyond that the :class:`MarginFrameError` is raised."""
    for _ in range(MAX_FRAME_RESTARTS):
        try:
            return _log_time_with_frame_once(model, x1, log_end, log_eval, options, row_offset)
        except MarginFrameError as err:
            later = RESTART_FACTOR * err.log_t
            if not (np.isfinite(later) and options.switch_log_t < later <= MAX_LOG_T):
                raise
            options = replace(options, switch_log_t=later)
    return _log_time_with_frame_once(model, x1, log_end, log_eval, options, row_offset)


def _log_time_with_frame_once(model: FlowModel, x1: np.ndarray, log_end: float, log_eval: np.ndarray,
                              options: SolverOptions, row_offset: int):
    """Phase 2 of :func:`attnlib.gradient_flow` with the switch: the standard solver in ``s`` until the switch
    condition holds (at most to ``MAX_LOG_T``), then the margin frame in ``u = log s`` to ``log_end``.

    Parameters
    ----------
    model : FlowModel
    x1 : numpy.ndarray, shape (n_theta + n(L-1),)
        The state at ``log t = 0``.
    log_end : float
    log_eval : numpy.ndarray, shape (m,)
        Saved log-times (increasing, in ``(0, log_end]``).
    options : SolverOptions
    row_offset : int
        Index of ``log_eval[0]`` among the trajectory's saved times (for ``FrameRecord.rows``).

    Returns
    -------
    saved : numpy.ndarray, shape (m, n_theta + n(L-1))
        Raw parameters and duals at ``log_eval``, in the standard solver's layout.
    record : FrameRecord or None
        ``None`` when the flow ended before the switch (``log_end <= MAX_LOG_T`` only).

    Raises
    ------
    MarginFrameError
        If the switch condition never held by ``log t = MAX_LOG_T < log_end``, or the flow left the frame.
    """
    s_max = min(log_end, MAX_LOG_T)
    early = log_eval <= s_max
    sol = solve(lambda s, x: model.rhs(x, s), lambda s, x: model.jac(x, s), (0.0, s_max), x1, log_eval[early],
                options, events=[_switch_event(model, options.switch_log_t)], guard=model.attention_step)
    if not sol.success:
        raise RuntimeError(f"gradient flow failed in log time: {sol.message}")
    saved = np.empty((len(log_eval), x1.size))
    n_std = len(sol.t)  # saved times before the switch (sol.y is a list when there are none)
    if n_std:
        saved[:n_std] = sol.y.T
    if sol.status != 1:  # no switch
        if log_end > MAX_LOG_T:
            raise MarginFrameError(
                f"gradient flow (param={model.param!r}) could not switch to the margin frame by log t = "
                f"{MAX_LOG_T:g}: some sample's attended token never led every other by log-odds >= "
                f"{SWITCH_LOG_ODDS:g} (and >= log t + c log log t - {SWITCH_OFFSET + offset_shift(model.data):g}). "
                f"The flow does not lock its "
                f"attention on this data, and beyond log t = {MAX_LOG_T:g} the standard solver is not accurate; "
                f"integrate to log_t_end <= {MAX_LOG_T:g}", log_t=float(sol.t[-1]))
        return saved, None
    s_sw, x_sw = float(sol.t_events[0][0]), sol.y_events[0][0]
    k = model.n_theta
    W = combined_W(model.param, model.unpack(x_sw[:k]))
    ref = np.argmax(np.matmul(model.X, (model.z @ W.T)[:, :, None])[:, :, 0], axis=1)
    fm = FrameModel(model, ref, model.max_nfev, log_t_switch=s_sw)
    raw, ys, us, log_t_reduced, changes = _frame_path(fm, fm.state(x_sw[:k], x_sw[k:], s_sw), np.log(s_sw),
                                                      np.log(log_end), log_eval[n_std:], options)
    if not np.all(np.isfinite(raw)):
        raise _non_finite_error(fm, raw, ys, us)
    saved[n_std:] = raw
    record = FrameRecord(log_t_switch=s_sw, ref=ref, pairs=fm.pairs, rows=row_offset + np.arange(n_std, len(saved)),
                         log_odds_offset=ys,
                         log_attention=np.array([fm.log_attention(y, u)[1] for y, u in zip(ys, us)]).reshape(
                             len(us), model.data.n, model.data.L),
                         nfev=fm.nfev, njev=fm.njev, log_t_reduced=log_t_reduced, support_changes=changes)
    return saved, record


def _non_finite_error(fm: FrameModel, raw: np.ndarray, ys: np.ndarray, us: np.ndarray) -> Exception:
    """The error for saved frame rows that are not finite: the frame's own state turned NaN/inf (its O(log t) rows
    overflowed at the implicit solver's trial states; a :class:`attnlib.FlowStallError` saying where), or the state is finite
    and only the unscaled parameters overflow float64 (a ``FloatingPointError``)."""
    bad = int(np.flatnonzero(~np.all(np.isfinite(raw), axis=1))[0])
    s_bad = float(np.exp(us[bad]))
    if not np.all(np.isfinite(ys[bad])):
        last = f"log t = {np.exp(us[bad - 1]):.4g}" if bad > 0 else "the switch"
        return FlowStallError(
            f"gradient flow (param={fm.param!r}): the margin frame's state turned non-finite between {last} and "
            f"log t = {s_bad:.4g} (its offsets' rows grow like log t and the implicit solver's trial states overflowed "
            f"float64; the parameters themselves fit float64 there, their entries grow like (log t)^{fm.p:g}). No path beyond is returned; integrate to "
            f"log_t_end <= {np.exp(us[bad - 1]) if bad > 0 else fm.log_t_switch:.4g}.", log_t=s_bad,
            nfev=fm.base.nfev + fm.nfev)
    return FloatingPointError(f"the parameters exceed float64 at log t = {s_bad:.4g} (their entries grow like "
                              f"(log t)^{fm.p:g}); integrate to a smaller log_t_end")


def _frame_path(fm: FrameModel, x0: np.ndarray, u_sw: float, u_end: float, log_eval: np.ndarray,
                options: SolverOptions):
    """The margin frame from ``u_sw = log s_switch`` (state ``x0``) to ``u_end``, saving at ``log_eval`` (m,): the
    full frame, then (past :func:`_reduction_start`) the reduced one.

    Returns ``raw`` (m, n_theta + n(L-1)) in the standard solver's layout, the offsets ``ys`` (m, P), the saved
    ``us`` (m,), ``log_t_reduced`` and the reduced frame's support changes."""
    k = fm.k
    u_eval = np.maximum(np.log(log_eval), u_sw)
    u_red = max(u_sw, np.log(_reduction_start(fm))) if _reduces(fm) else np.inf
    u_mid = min(u_end, u_red)
    first = u_eval <= u_mid
    extra = not (np.any(first) and u_eval[first][-1] >= u_mid)  # save u_mid too (the reduction's start)
    fsol = _frame_solve(fm, fm, (u_sw, u_mid), x0, np.append(u_eval[first], u_mid) if extra else u_eval[first],
                        options)
    states, us = (fsol.y.T[:-1], fsol.t[:-1]) if extra else (fsol.y.T, fsol.t)
    with np.errstate(over="ignore"):
        raw = [fm.unscaled(x, u) for x, u in zip(states, us)]
    ys = [fm.split(x)[1] for x in states]
    log_t_reduced, changes = np.inf, ()
    if u_end > u_mid:  # the reduced frame (quasi-steady active offsets) from log t = QSS_LOG_T on
        x_mid = fsol.y[:, -1]
        red = ReducedFrame(fm, fm.split(x_mid)[1], u_mid)
        log_t_reduced = float(np.exp(u_mid))
        xr = np.concatenate([x_mid[:k], x_mid[k + fm.n_pairs:]])
        raw_r, ys_r, us_r = _reduced_stages(red, xr, u_mid, u_end, u_eval[~first], options)
        raw, ys, us = raw + raw_r, ys + ys_r, np.concatenate([us, us_r])
        changes = tuple(sorted([(s, j, 1) for s, j in red.promoted] + [(s, j, -1) for s, j in red.demoted]))
    raw = np.array(raw).reshape(len(us), -1)
    return raw, np.array(ys).reshape(len(us), fm.n_pairs), us, log_t_reduced, changes


def _reduces(fm: FrameModel) -> bool:
    """Whether the frame runs reduced from some ``log t`` on (:func:`_reduction_start` is finite)."""
    return bool(np.isfinite(_reduction_start(fm)))


def _reduction_start(fm: FrameModel) -> float:
    """``log t`` from which the frame runs reduced (``inf``: never).

    - "W", "beta" on (nearly) dependent constraint rows (:func:`_dependent_rows`): ``DEPENDENT_QSS_LOG_T``;
    - "KQ": ``QSS_LOG_T``, or ``DEPENDENT_KQ_QSS_LOG_T`` on dependent rows (make_orthogonal_data(3, 5, 6): the full
      frame stalled at log t ~ 1e13 on 2 of 3 seeds, 20,000 evaluations; reduced at 1e8, 1e100 in ~1,800);
    - "xi": ``QSS_LOG_T``.
    """
    dependent = _dependent_rows(fm)
    if fm.param in REDUCED_PARAMS:
        return DEPENDENT_KQ_QSS_LOG_T if dependent else QSS_LOG_T
    return DEPENDENT_QSS_LOG_T if dependent else np.inf


def _dependent_rows(fm: FrameModel) -> bool:
    """Whether the frame pairs' constraint rows are (nearly) dependent: for "W" and "KQ" the rows ``A_k`` (the
    smallest singular value below ``DEPENDENT_ROWS_RTOL`` times the largest, or more rows than entries), for "W",
    "KQ" and "beta" two pairs with the same row (up to 1e-12 relative; the paired tokens of Assumption-4 data;
    "beta" rows are always dependent, d < n(L-1), and its full frame is fine on generic data). There the full
    frame's offsets are determined only up to the Gram matrix's null directions, where its rounding noise (~ log t
    eps) accumulates until the implicit solver stalls (orthogonal data, "beta": 0 of 20 seeds reached 1e100; "W"
    on make_orthogonal_data(3, 5, 6): log t ~ 2e7 under a 1e-12 perturbation of the inputs). Reduced, the weights
    are split by a least-norm Newton step and every seed does."""
    if fm.param == "xi":
        return False
    rows = fm._Br if fm.param == "beta" else np.einsum("kd,ke->kde", fm._Dr, fm._Zr).reshape(fm.n_pairs, -1)
    if fm.param != "beta" and (len(rows) > rows.shape[1] or np.linalg.svd(rows, compute_uv=False)[-1]
                               < DEPENDENT_ROWS_RTOL * np.linalg.norm(rows, 2)):
        return True
    unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-300)
    close = np.abs(unit @ unit.T - 1.0) <= 1e-12
    return bool(np.any(close[np.triu_indices(fm.n_pairs, 1)]))


def _reduced_stages(red: ReducedFrame, xr: np.ndarray, ur: float, u_end: float, todo: np.ndarray,
                    options: SolverOptions):
    """The reduced frame from ``ur`` (state ``xr``) to ``u_end``, a stage per support of the quasi-steady offsets;
    the unscaled states (lists of arrays), offsets and the saved ``u`` (at the ``todo`` of each stage)."""
    fm, model = red.fm, red.fm.base
    raw, ys, us = [], [], np.empty(0)
    for _ in range(_MAX_SUPPORT_CHANGES + 1):
        rsol = _frame_solve(fm, red, (ur, u_end), xr, todo, options, red.promote_value)
        if len(rsol.t):  # (rsol.y is a list when no saved time fell into the stage)
            with np.errstate(over="ignore"):
                raw += [red.unscaled(x, u) for x, u in zip(rsol.y.T, rsol.t)]
            ys += [_quasi_steady_offsets(red, u, x) for x, u in zip(rsol.y.T, rsol.t)]
            us = np.concatenate([us, rsol.t])
        if rsol.status != 1:
            return raw, ys, us
        ur, xr = float(rsol.t_events[1][0]), rsol.y_events[1][0]
        todo = todo[todo > ur]
        red.promote(ur, xr)
    raise FlowStallError(f"gradient flow (param={model.param!r}): the support of the reduced margin frame "
                         f"changed more than {_MAX_SUPPORT_CHANGES} times by log t = {np.exp(ur):.4g}; "
                         f"integrate to a smaller log_t_end", log_t=float(np.exp(ur)), nfev=model.nfev + fm.nfev)


def _frame_solve(fm: FrameModel, stage, span: tuple[float, float], x0: np.ndarray, u_eval: np.ndarray,
                 options: SolverOptions, stop_value=None):
    """Integrate one stage of the frame in ``u`` with the stiff methods of ``FRAME_METHODS`` (the second if the
    first fails) at ``options.rtol``, ``options.atol``; raise :class:`MarginFrameError` at an exit and
    :class:`attnlib.FlowStallError` over budget.

    ``stage`` is ``fm`` itself or its :class:`ReducedFrame`: it gives ``rhs``, ``jac``, ``exit_value`` and
    ``exit_error``. ``stop_value`` (optional): a second terminal event (falling through zero) that ends the stage
    early, with ``status == 1`` (the reduced frame's change of support)."""
    model = fm.base
    failures = []
    for frame_method in FRAME_METHODS[model.param]:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # trial states may overflow; the error test
            warnings.simplefilter("ignore")  # rejects them, and a failed method is reported below
            crossed = []  # the last state the exit event saw at or below zero (an exit already reached)
            try:
                fsol = solve_ivp(stage.rhs, span, x0, method=frame_method, rtol=options.rtol, atol=options.atol,
                                 t_eval=u_eval, jac=stage.jac,
                                 events=_frame_events(stage.exit_value, stop_value, crossed))
            except (ValueError, ArithmeticError, np.linalg.LinAlgError, _NoSteadyState) as err:
                if not (isinstance(err, ValueError) and "different signs" in str(err)):
                    # raised inside the method (e.g. BDF's LU solve meeting a non-finite Newton residual, or a
                    # trial state without a quasi-steady solution): a failure of this method, the next one tries
                    failures.append(f"{frame_method} at log t = {model.last_s:.6g}: {type(err).__name__}: "
                                    f"{err or 'no quasi-steady state'}")
                    continue
                # the exit event's root finder in a collapsed step: the new state is past the exit while the
                # dense output at the step's ends disagrees; the exit itself is known (generic (4, 5, 6) "xi" seed 3:
                # sample 1's optimal token gains on its reference token ever faster, and the step collapses)
                if crossed:
                    raise stage.exit_error(*crossed[-1]) from None
                raise MarginFrameError(
                    f"gradient flow (param={model.param!r}) left the margin frame near log t = {model.last_s:.6g}: "
                    f"the step size collapsed and an event of the frame (a sample's attended token changing, or the "
                    f"reduced frame's support changing) could not be located. No path beyond this point is "
                    f"returned.", log_t=model.last_s) from None
            except OverBudget:
                raise FlowStallError(
                    f"gradient flow (param={model.param!r}) stalled in the margin frame at log t = "
                    f"{model.last_s:.4g}: {model.max_nfev:,} gradient evaluations (max_nfev) used up ({fm.nfev:,} in "
                    f"the frame, switched at log t = {fm.log_t_switch:.4g}). Integrate to a smaller log_t_end, or "
                    f"raise max_nfev.", log_t=model.last_s, nfev=model.nfev + fm.nfev) from None
        if fsol.status == 1 and len(fsol.t_events[0]):
            raise stage.exit_error(float(fsol.t_events[0][0]), fsol.y_events[0][0])
        if fsol.success:
            return fsol
        failures.append(f"{frame_method} at log t = {model.last_s:.6g}: {fsol.message}")
    raise FlowStallError(f"gradient flow (param={model.param!r}) stalled in the margin frame near log t = "
                         f"{model.last_s:.4g}: every implicit method failed ({'; '.join(failures)}); the step size "
                         f"collapsed (switched at log t = {fm.log_t_switch:.4g}). Integrate to a smaller log_t_end, "
                         f"or try another rtol.", log_t=model.last_s, nfev=model.nfev + fm.nfev)


def _frame_events(exit_value, stop_value=None, crossed=None) -> list:
    """Terminal events for ``solve_ivp``, falling through zero: the exit, and the optional stop. ``crossed``
    (a list, optional) gets ``(u, x)`` of the last state whose exit value is <= 0."""
    def event(u, x):
        value = exit_value(u, x)
        if crossed is not None and value <= 0:
            crossed.append((float(u), np.array(x, dtype=float)))
        return value

    event.terminal, event.direction = True, -1
    events = [event]
    if stop_value is not None:
        def stop(u, x):
            return stop_value(u, x)

        stop.terminal, stop.direction = True, -1
        events.append(stop)
    return events
