"""The gradient-flow dynamics shared by the standard solver (:mod:`attnlib.flow`) and the margin frame
(:mod:`attnlib.frame`): the four parameterisations, the right-hand side ``theta' = -grad L(theta)`` with the duals
of Lemma A.1, its analytic Jacobian, and the call into scipy's adaptive solvers.

The parameterisations (``PARAMS``): the combined ``W`` (d, d); separate ``K, Q`` (d, d_e) with ``W = K Q^T``; the
combined diagonal ``beta`` (d,) with ``W = diag(beta)``; separate diagonal ``xi_k, xi_q`` (d,) with ``beta = xi_k
* xi_q``. Each is a list of arrays (named by ``PARAM_NAMES``); :class:`FlowModel` flattens them into one state
vector ``theta`` followed by the duals ``phi`` (ordered as ``data.pairs``).

In log time ``s = log t`` the flow is ``d theta / ds = -e^s grad L(theta)``; the factor ``e^s`` is folded into
the log-space gradient (``log_scale = s``, :func:`attnlib.kernels.sum_log_terms`), so nothing overflows or
underflows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau, solve_ivp
from scipy.optimize import OptimizeResult as OdeResult, brentq

from ._validate import check_array
from .perturbation import perturb_init
from .data import AttentionData
from .kernels import grad_beta_from_r, grad_from_r, log_sample_weights, logit_hessian, sum_log_terms

__all__ = ["PARAMS", "PARAM_NAMES", "MAX_LOG_T", "LOG_GUARD", "FlowStallError", "OverBudget", "SolverOptions",
           "FlowModel", "check_param", "split_init", "combined_W", "neg_grad", "velocity", "velocity_jacobian",
           "solve", "guarded_solve", "ATTENTION_STEP_MAX", "SOLVERS"]

PARAMS = ("W", "KQ", "beta", "xi")
MAX_LOG_T = 1e6  # largest log t of the standard solver (validated to 1e6 on the book's data; see _check_times)
LOG_GUARD = 230.0  # cap of the log-space gradient terms (e^230 ~ 1e100): far above any on-path value
_HUGE = 1e100
PARAM_NAMES = {"W": ("W",), "KQ": ("K", "Q"), "beta": ("beta",), "xi": ("xi_k", "xi_q")}


class FlowStallError(RuntimeError):
    """The adaptive solver stopped making progress (raised when a flow exceeds its evaluation budget).

    Attributes
    ----------
    log_t : float
        ``log t`` the flow had reached.
    nfev : int
        Gradient evaluations used.
    """

    def __init__(self, message: str, log_t: float = float("nan"), nfev: int = 0):
        super().__init__(message)
        self.log_t, self.nfev = log_t, nfev


class OverBudget(Exception):
    """A flow used up its evaluation budget (``max_nfev``); :func:`attnlib.gradient_flow` turns it into a
    :class:`FlowStallError` that says why."""


@dataclass(frozen=True)
class SolverOptions:
    """How a flow is integrated, fixed for the whole call (the margin frame gets the same object).

    Attributes
    ----------
    method : str
        ``scipy.integrate.solve_ivp`` method of the standard solver ("LSODA", "BDF", ...).
    rtol, atol : float
        Relative and absolute tolerances (of the standard solver and of the margin frame).
    switch_log_t : float
        ``log t`` from which the margin frame may take over (``inf``: never).
    """

    method: str
    rtol: float
    atol: float
    switch_log_t: float = np.inf


# -- the parameterisations ---------------------------------------------------------------------------------

def check_param(param: str) -> None:
    if not isinstance(param, str) or param not in PARAMS:
        raise ValueError(f"param must be one of {PARAMS} ('W' combined, 'KQ' separate K and Q, 'beta' combined "
                         f"diagonal, 'xi' separate diagonal); got {param!r}")


def split_init(data: AttentionData, param: str, init) -> list[np.ndarray]:
    """Validate ``init`` and return its arrays, in the order of ``PARAM_NAMES[param]``."""
    d = data.d
    parts = list(init) if param in ("KQ", "xi") and isinstance(init, (tuple, list)) else [init]
    want = {"W": "W0 of shape (d, d)", "KQ": "a pair (K0, Q0) of shape (d, d_e)", "beta": "beta0 of shape (d,)",
            "xi": "a pair (xi_k0, xi_q0) of shape (d,)"}[param]
    if len(parts) != len(PARAM_NAMES[param]):
        raise ValueError(f"init for param={param!r} must be {want} (d = {d})")
    arrays = [check_array(p, f"init {name}", expected=want) for p, name in zip(parts, PARAM_NAMES[param])]
    for name, a in zip(PARAM_NAMES[param], arrays):
        ok = {"W": a.shape == (d, d), "beta": a.shape == (d,), "xi_k": a.shape == (d,), "xi_q": a.shape == (d,),
              "K": a.ndim == 2 and a.shape[0] == d, "Q": a.shape == arrays[0].shape}[name]
        if not ok:
            raise ValueError(f"init for param={param!r} must be {want} (d = {d}); {name} has shape {a.shape}")
    return perturb_init(arrays)  # unchanged unless inside perturbed_inputs


def combined_W(param: str, arrays: list[np.ndarray]) -> np.ndarray:
    if param == "W":
        return arrays[0]
    if param == "KQ":
        return arrays[0] @ arrays[1].T
    if param == "beta":
        return np.diag(arrays[0])
    return np.diag(arrays[0] * arrays[1])


def neg_grad(data: AttentionData, param: str, r: np.ndarray) -> np.ndarray:
    """``F = -grad_W L`` (d, d), or its diagonal (d,) for "beta" and "xi", from the scaled ``r`` (n, L)."""
    return -grad_beta_from_r(data, r) if param in ("beta", "xi") else -grad_from_r(data, r)


def velocity(param: str, arrays: list[np.ndarray], F: np.ndarray) -> list[np.ndarray]:
    """``-grad_theta L`` given ``F = -grad_W L`` (or its diagonal): ``[F]``, ``[F Q, F^T K]``, ``[g]`` or
    ``[g xi_q, g xi_k]``. Linear in ``F``; ``F`` may carry leading batch axes (..., d, d) or (..., d)."""
    if param in ("W", "beta"):
        return [F]
    if param == "KQ":
        return [F @ arrays[1], np.swapaxes(F, -1, -2) @ arrays[0]]
    return [F * arrays[1], F * arrays[0]]


def velocity_jacobian(param: str, shapes: list[tuple], F: np.ndarray) -> np.ndarray:
    """``d velocity / d theta`` at fixed ``F``, shape (n_theta, n_theta): zero for "W" and "beta"; for "KQ"
    ``d(F Q)/dQ = F (x) I`` and ``d(F^T K)/dK = F^T (x) I``; for "xi" ``diag(g)`` off the diagonal blocks."""
    sizes = [int(np.prod(s)) for s in shapes]
    k, half = sum(sizes), sizes[0]
    J = np.zeros((k, k))
    if param == "KQ":
        d_e = shapes[0][1]
        J[:half, half:] = np.kron(F, np.eye(d_e))
        J[half:, :half] = np.kron(F.T, np.eye(d_e))
    elif param == "xi":
        J[:half, half:] = np.diag(F)
        J[half:, :half] = np.diag(F)
    return J


class FlowModel:
    """Flattens a parameterisation into one vector and evaluates the scaled gradient and dphi/dt.

    The state is ``y = [theta, phi]``, shape (n_theta + n(L-1),): the flattened parameters, then the duals.

    Parameters
    ----------
    data : AttentionData
    param : {"W", "KQ", "beta", "xi"}
    arrays : list of numpy.ndarray
        The parameters, in the order of ``PARAM_NAMES[param]`` (only their shapes are kept).
    loss : {"exp", "logistic"}
    max_nfev : float
        Evaluation budget: :meth:`rhs` raises :class:`OverBudget` beyond it (shared with the margin frame).

    Attributes
    ----------
    shapes, sizes : list
        Shape and size of each parameter array; ``n_theta`` their total size.
    X, z : numpy.ndarray, shapes (n, L, d) and (n, d)
        The data's tokens and queries (contiguous).
    diff, log_abs_diff, sign_diff : numpy.ndarray, shape (n, L, L)
        ``gamma_il - gamma_ik``, its log-modulus and sign (constant along the flow).
    pair_i, pair_l : numpy.ndarray of int, shape (n(L-1),)
        Sample and token of each dual (``data.pairs``).
    nfev, njev : int
        Right-hand side and Jacobian evaluations so far.
    last_s : float
        ``log t`` (the log scale) of the last evaluation, for error messages.
    """

    def __init__(self, data: AttentionData, param: str, arrays: list[np.ndarray], loss: str,
                 max_nfev: float = np.inf):
        self.data, self.param, self.loss, self.max_nfev = data, param, loss, max_nfev
        self.last_s = 0.0
        self.shapes = [a.shape for a in arrays]
        self.sizes = [a.size for a in arrays]
        self.n_theta = sum(self.sizes)
        i, l = data.pairs.T
        self.pair_i, self.pair_l = i, l
        self.diff = data.gamma[:, :, None] - data.gamma[:, None, :]  # (n, L, L): gamma_l - gamma_k, constant
        with np.errstate(divide="ignore"):
            self.log_abs_diff = np.log(np.abs(self.diff))
        self.sign_diff = np.sign(self.diff)
        self.X, self.z = np.ascontiguousarray(data.X), np.ascontiguousarray(data.z)
        self._B_rows = (data.X * data.z[:, None, :])  # (n, L, d): x_il * z_i = d g_il / d beta
        self.nfev = 0
        self.njev = 0

    def unpack(self, theta: np.ndarray) -> list[np.ndarray]:
        out, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            out.append(theta[start:start + size].reshape(shape))
            start += size
        return out

    def _softmax(self, W: np.ndarray):
        """Log-softmax of the logits ``x_il^T W z_i`` and log sample weights ``log(-loss'(u_i))``, shapes (n, L)
        and (n,) (a plain-numpy log-softmax: this is the solver's hot path)."""
        g = np.matmul(self.X, (self.z @ W.T)[:, :, None])[:, :, 0]
        g = g - g.max(axis=1, keepdims=True)
        logsig = g - np.log(np.exp(g).sum(axis=1, keepdims=True))
        return logsig, log_sample_weights(self.data, logsig, self.loss)

    def r_scaled(self, W: np.ndarray, log_scale: float | None, parts=None) -> np.ndarray:
        """``rho = e^s * w_i * (Sigma(g_i) gamma_i)``, shape (n, L), from logs (see attnlib.model).

        ``rho_il / n = -e^s dL/dg_il``: the scaled negative gradient with respect to the logits. Exponents are
        capped at ``LOG_GUARD``: on the path these terms are O(poly(log t)); larger ones only occur at wild trial
        states of the solver, and the cap keeps every derived quantity (step * rhs, W = K Q^T, the error estimate)
        finite, so the solver rejects the step instead of propagating inf/NaN."""
        logsig, logw = self._softmax(W) if parts is None else parts
        return sum_log_terms(logsig, logw, self.log_abs_diff, self.sign_diff, log_scale, LOG_GUARD)

    def rhs(self, theta: np.ndarray, log_scale: float) -> np.ndarray:
        """``-e^s grad L(theta)`` and ``e^s dphi/dt``, stacked."""
        self.nfev += 1
        self.last_s = log_scale
        if self.nfev > self.max_nfev:
            raise OverBudget
        if not np.isfinite(theta).all():  # a diverged trial state: a huge finite rhs makes the solver reject it
            return np.full(theta.size, _HUGE)
        parts, r = self._velocity_parts(theta, log_scale)
        dphi = -2.0 / self.data.n * r[self.pair_i, self.pair_l]
        return np.concatenate([p.ravel() for p in parts] + [dphi])

    def _velocity_parts(self, theta: np.ndarray, log_scale: float | None) -> tuple[list[np.ndarray], np.ndarray]:
        """The parameter blocks of ``-e^s grad L(theta)`` and the scaled ``rho`` (n, L) they come from."""
        arrays = self.unpack(theta)
        r = self.r_scaled(combined_W(self.param, arrays), log_scale)
        return velocity(self.param, arrays, neg_grad(self.data, self.param, r)), r

    def descent_velocity(self, theta: np.ndarray, log_scale: float | None = 0.0) -> np.ndarray:
        """``-e^s grad L(theta)``, shape (n_theta,): the parameter block of :meth:`rhs`, without the duals (gradient
        descent's hot path; the same floating-point operations, so the same bits). ``log_scale=None`` picks ``s``
        so that the largest term is 1 (normalised descent: the direction stays representable)."""
        self.nfev += 1
        return np.concatenate([p.ravel() for p in self._velocity_parts(theta, log_scale)[0]])

    def attention_step(self, y_old: np.ndarray, y_new: np.ndarray) -> float:
        """Largest change of a sample's attention between two states (total variation ``1/2 sum_l |d sigma_il|``,
        in [0, 1]); the guard of :func:`solve`. Not counted in ``nfev`` (no gradient is evaluated)."""
        if not (np.all(np.isfinite(y_old)) and np.all(np.isfinite(y_new))):
            return 0.0  # a diverged state: the solver's own error test deals with it
        k = self.n_theta
        a, b = (np.exp(self._softmax(combined_W(self.param, self.unpack(y[:k])))[0]) for y in (y_old, y_new))
        return float(0.5 * np.abs(a - b).sum(axis=1).max())

    def logit_jacobian(self, arrays: list[np.ndarray]) -> np.ndarray:
        """``M = d g / d theta``, shape (n, L, n_theta): the logits ``g_il = x_il^T W z_i`` are linear in ``W``,
        so ``M`` is constant for "W" and "beta" and linear in the other factor for "KQ" and "xi"."""
        X, z = self.X, self.z
        if self.param == "W":
            return (X[:, :, :, None] * z[:, None, None, :]).reshape(X.shape[0], X.shape[1], -1)
        if self.param == "KQ":
            K, Q = arrays
            dK = X[:, :, :, None] * (z @ Q)[:, None, None, :]  # d g / d K_pq = x_il,p (Q^T z_i)_q
            dQ = (X @ K)[:, :, None, :] * z[:, None, :, None]  # d g / d Q_pq = (K^T x_il)_q z_i,p
            return np.concatenate([dK.reshape(*X.shape[:2], -1), dQ.reshape(*X.shape[:2], -1)], axis=2)
        if self.param == "beta":
            return self._B_rows
        return np.concatenate([self._B_rows * arrays[1], self._B_rows * arrays[0]], axis=2)

    def jac(self, theta: np.ndarray, log_scale: float) -> np.ndarray:
        """Analytic Jacobian of :meth:`rhs`, shape (n_theta + n(L-1),) * 2 (the Hessian of the loss, scaled).

        With ``rho = -n e^s dL/dg`` and ``M = dg/dtheta``, ``rhs = M^T rho / n`` and
        ``J = M^T H M / n + sum_il rho_il d^2 g_il / dtheta^2 / n``, where ``H = d rho / d g`` is, per sample,
        ``diag(rho) - rho sigma^T - sigma rho^T - c rho r^T`` (``r = Sigma(g) gamma`` unscaled; ``c = 1`` for the
        exponential loss, ``sigmoid(u)`` for the logistic one). The last term is nonzero only for the bilinear
        parameterisations ("KQ", "xi"). The duals phi do not feed back, so their columns are zero."""
        self.njev += 1
        n_y = theta.size
        J = np.zeros((n_y, n_y))
        if not np.isfinite(theta).all():
            return J
        data, k = self.data, self.n_theta
        arrays = self.unpack(theta)
        W = combined_W(self.param, arrays)
        parts = self._softmax(W)
        rho = self.r_scaled(W, log_scale, parts)
        H = logit_hessian(rho, *parts, self.diff, self.loss)
        M = self.logit_jacobian(arrays)
        HM = np.matmul(H, M)  # (n, L, n_theta) = d rho / d theta
        J[:k, :k] = M.reshape(-1, k).T @ HM.reshape(-1, k) / data.n
        if self.param in ("KQ", "xi"):  # rho held fixed: the bilinear part
            J[:k, :k] += velocity_jacobian(self.param, self.shapes, neg_grad(data, self.param, rho))
        J[k:, :k] = -2.0 / data.n * HM[self.pair_i, self.pair_l]
        return J


ATTENTION_STEP_MAX = 0.2  # largest change of any sample's attention (total variation) in one accepted step
_GUARD_SHRINK = 8.0  # a step that moved an attention further is redone from its start with max_step = h / 8
_GUARD_RELAX = 2.0  # ... until the flow has passed 2 h beyond that start; then the step size is free again
_FAILURE_RESTARTS = 3  # a failed step (e.g. LSODA's repeated Newton failures) restarts the method from the last
# accepted state with fresh internals (Jacobian, order, step), at most this many times per call (a step below the
# spacing of the local time after progress is not counted: the restart, at local time 0, resolves it)
# scipy's solver class of each method (guarded_solve; benchmarks/flow.py swaps one in to time a finite-difference Jacobian)
SOLVERS = {"LSODA": LSODA, "BDF": BDF, "Radau": Radau, "RK45": RK45, "RK23": RK23, "DOP853": DOP853}


def solve(fun, jac, span: tuple[float, float], y0: np.ndarray, t_eval, options: SolverOptions, events=None,
          guard=None):
    """``scipy.integrate.solve_ivp`` of ``y' = fun(t, y)`` on ``span`` from ``y0`` (k,), saving at ``t_eval`` (m,),
    with ``options.method``, ``rtol`` and ``atol``; implicit methods get the analytic Jacobian ``jac(t, y)`` (k, k).

    ``guard(y_old, y_new)`` (optional; :meth:`FlowModel.attention_step`) adds step control that respects attention
    switches: a step after which some sample's attention moved by more than ``ATTENTION_STEP_MAX`` (total
    variation) is redone from its start with ``max_step = h / 8`` (:func:`guarded_solve`; a failed step, e.g.
    LSODA's repeated Newton failures, restarts the method from the last accepted state, up to 3 times). Without it the error
    estimate alone can accept a step that carries a locked sample across an attention switch (both ends have tiny
    gradients, the barrier between them is never sampled), and the path is wrong from there on.

    Returns an object with ``t``, ``y`` (k, m), ``t_events``, ``y_events``, ``status``, ``success`` and
    ``message``, as ``solve_ivp``'s."""
    method = options.method
    kw = {"jac": jac} if method in ("LSODA", "BDF", "Radau") else {}  # implicit methods use the analytic Hessian
    if guard is None:
        return solve_ivp(fun, span, y0, method=method, rtol=options.rtol, atol=options.atol, t_eval=t_eval,
                         events=events, **kw)
    return guarded_solve(fun, span, y0, t_eval, options, events, guard, kw)


def guarded_solve(fun, span, y0, t_eval, options: SolverOptions, events, guard, kw: dict):
    """The stepping loop of :func:`solve` with the attention guard (scipy's ``OdeSolver`` classes, one step at a
    time; ``t_eval`` from each step's dense output, terminal ``events`` located by ``brentq`` on it).

    Each (re)start of the method measures time from its own start (``tau = t - origin``), so that steps far below
    the spacing of ``t`` stay representable: in log time a late attention switch lasts a ``Delta s`` that shrinks
    like ``e^{-s}`` (a fixed stretch of physical time), below the spacing of ``s`` itself late in the flow (on
    ``make_generic_data(50, 16, 32)`` the switch at ``s = 52.7`` needs steps below 1e-20; the spacing is 7e-15). scipy's BDF, Radau and
    explicit methods refuse such steps ("Required step size is less than spacing between numbers"); a step that
    fails so after progress restarts the method from the last accepted state, where ``tau = 0`` resolves it. The
    attention guard does the same when the redone step falls below the spacing of ``tau`` (a switch after a long
    plateau: on orthogonal data with queries x 100 one at ``s = 250.2`` is ~e^-250 wide); it gives up only when
    a step from ``tau = 0`` falls below 1e-290. A step cap set by a restart is lifted once the method has stepped
    ``2 h`` in its own ``tau`` (in ``t``, ``t_old + 2 h == t_old`` for such steps)."""
    t0, t_end = float(span[0]), float(span[1])
    t_eval = np.asarray([] if t_eval is None else t_eval, dtype=float)
    events = list(events or [])

    def start(t, y, max_step):
        return _LocalSolver(fun, kw.get("jac"), t, y, t_end, options, max_step)

    # relax_tau: once the (re)started method has stepped this far in its local time tau, its step cap is lifted
    # (measured in tau, not t: t_old + 2 h == t_old for a step below the spacing of t)
    solver, relax_tau = start(t0, np.asarray(y0, dtype=float), np.inf), None
    ts, ys = [], []
    t_events, y_events = [np.empty(0) for _ in events], [np.empty((0, len(y0))) for _ in events]
    g_old = [e(t0, solver.y) for e in events]
    j = int(np.searchsorted(t_eval, t0, side="left"))  # t_eval points at t0 itself are saved
    if j < len(t_eval) and t_eval[j] == t0:
        ts.append(t0), ys.append(solver.y.copy())
        j += 1
    status, message = None, "The solver successfully reached the end of the integration interval."
    failures, h = 0, np.inf
    while status is None:
        t_old, tau_old, y_old = solver.t, solver.tau, solver.y.copy()
        step_message = solver.step()
        if solver.status == "failed":
            if not (tau_old > 0 and _SPACING in str(step_message)):  # a step below the spacing of tau after
                failures += 1  # progress is resolved by restarting there (tau = 0); other failures are counted
            if failures > _FAILURE_RESTARTS:
                status, message = -1, step_message
                break
            if h > 0:  # h: the last accepted step
                solver, relax_tau = start(t_old, y_old, h), _GUARD_RELAX * h
            else:
                solver, relax_tau = start(t_old, y_old, np.inf), None
            continue
        h = solver.tau - tau_old
        if guard(y_old, solver.y) > ATTENTION_STEP_MAX:  # redo the step, shorter
            if h <= 4 * np.finfo(float).eps * max(abs(tau_old), 1e-290):
                if tau_old > 0:  # below the spacing of tau only (h may be 0: t + h == t): restart here, where
                    # tau = 0 resolves the step, with the step size the restarted method chooses
                    solver, relax_tau = start(t_old, y_old, np.inf), None
                    continue
                status, message = -1, (f"an attention switch could not be resolved at t = {t_old:.6g}: the step "
                                       f"size fell to the spacing between numbers")
                break
            solver, relax_tau = start(t_old, y_old, h / _GUARD_SHRINK), _GUARD_RELAX * h
            continue
        dense = solver.dense_output()
        t_stop = solver.t
        for k, e in enumerate(events):
            g_new = e(solver.t, solver.y)
            if g_old[k] <= 0 <= g_new and g_old[k] != g_new and getattr(e, "direction", 0) >= 0 or \
                    g_old[k] >= 0 >= g_new and g_old[k] != g_new and getattr(e, "direction", 0) <= 0:
                # to a relative 4 eps of the root (brentq's rtol); xtol > 0 also for a step from t = 0 (brentq
                # refuses xtol = 0); disp=False: its best estimate, never its "failed to converge"
                root = solver.t if solver.t == t_old else brentq(
                    lambda t: e(t, dense(t)), t_old, solver.t, xtol=max(4 * np.finfo(float).eps * abs(t_old), 1e-300),
                    maxiter=200, disp=False)
                t_events[k], y_events[k] = np.append(t_events[k], root), np.vstack([y_events[k], dense(root)])
                if getattr(e, "terminal", False):
                    t_stop, status, message = root, 1, "A termination event occurred."
            g_old[k] = g_new
        k = int(np.searchsorted(t_eval, t_stop, side="right"))
        if k > j:
            ts += list(t_eval[j:k])
            ys += list(dense(t_eval[j:k]).T)
            j = k
        if status is None and solver.status == "finished":
            status = 0
        elif status is None and relax_tau is not None and solver.tau >= relax_tau:
            solver, relax_tau = start(solver.t, solver.y.copy(), np.inf), None
    y = np.array(ys).T if ys else np.empty((len(y0), 0))
    return OdeResult(t=np.array(ts), y=y, t_events=t_events, y_events=y_events, status=status,
                     success=status >= 0, message=message)


_SPACING = "less than spacing between numbers"  # scipy's message for a step below the spacing of t


class _LocalSolver:
    """A scipy ``OdeSolver`` of ``options.method`` started at ``origin`` and stepping in ``tau = t - origin``.

    ``t`` (the global time, ``origin + tau`` rounded), ``tau``, ``y``, ``status``, ``step()`` and
    ``dense_output()`` (taking global times) as the wrapped solver's."""

    def __init__(self, fun, jac, origin: float, y0: np.ndarray, t_end: float, options: SolverOptions,
                 max_step: float):
        self.origin = origin
        kw = {} if jac is None else {"jac": lambda tau, y: jac(origin + tau, y)}
        self._solver = SOLVERS[options.method](lambda tau, y: fun(origin + tau, y), 0.0, y0, t_end - origin,
                                                rtol=options.rtol, atol=options.atol, max_step=max_step, **kw)

    @property
    def tau(self) -> float:
        return self._solver.t

    @property
    def t(self) -> float:
        return self.origin + self._solver.t

    @property
    def y(self) -> np.ndarray:
        return self._solver.y

    @property
    def status(self) -> str:
        return self._solver.status

    def step(self):
        return self._solver.step()

    def dense_output(self):
        local = self._solver.dense_output()
        return lambda t: local(np.asarray(t, dtype=float) - self.origin)
