"""Exact gradient flow to t = 1e300 (and beyond), and gradient descent, for the four parameterisations.

Directional convergence is logarithmically slow: margins grow like ``log t``. :func:`gradient_flow` therefore
integrates the real ODE ``theta' = -grad L(theta)`` with an adaptive solver (scipy.integrate, LSODA by default)
in physical time on ``[0, 1]`` and in ``s = log t`` afterwards, where ``d theta / ds = -e^s grad L(theta)``; the
factor ``e^s`` is folded into the log-space gradient (``log_scale=s``), so nothing overflows or underflows.
The flow in ``s`` is stiff on data with large token norms; LSODA detects that and switches to BDF, whose Newton
steps use the analytic Jacobian (the scaled Hessian of the loss, :meth:`attnlib.dynamics.FlowModel.jac`). Step control respects attention switches: a step after which some sample's attention
moved by more than ``ATTENTION_STEP_MAX = 0.2`` (total variation) is redone shorter
(:func:`attnlib.dynamics.solve`), so the solver cannot carry a locked sample across a switch where the error
estimate sees nothing (tiny-query data). A switch late in the flow is short in log time (``Delta s`` shrinks like
``e^{-s}``: a fixed stretch of physical time; on ``make_generic_data(50, 16, 32)`` the switch at ``s = 52.7`` needs
steps below 1e-20, under the spacing of ``s``, 7e-15); each restart of the method therefore
steps in its own local time, and BDF and Radau cross such switches as LSODA does. Flows that settle at a
finite stationary point in some directions (data attention cannot separate) turn infinitely stiff in ``s``; they
stop with :class:`FlowStallError` once an evaluation budget is used up.

Along the flow it also accumulates the dual variables of the paper's Lemma A.1,
``phi_il(t) = -(2/n) int_0^t l_i (Sigma(g_i) gamma_i)_l`` (>= 0 under Assumption 2), which give the sinh closed
form ``beta = omega_0^2 sinh(B phi)`` for the diagonal flow and ``W(t) = W(0) + 1/2 sum_il phi_il A_il`` for the
combined one.
"""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
from threadpoolctl import threadpool_limits

from ._validate import MAX_ENTRIES, check_array, check_bool, check_choice, check_scalar, check_seed
from .data import check_data
from .data import AttentionData
from .dynamics import (MAX_LOG_T, PARAM_NAMES, PARAMS, FlowModel, FlowStallError, OverBudget, SolverOptions,
                       check_param, combined_W, solve, split_init)
from .frame import SWITCH_LOG_T, MarginFrameError, log_time_with_frame
from .kernels import (excess_from_logsig, log_attention_path, log_excess_from_logsig, log_logistic_excess_from_logsig,
                      logistic_excess_from_logsig, margin_path)
from .model import cosine, min_loss

__all__ = ["PARAMS", "FlowStallError", "Trajectory", "gradient_flow", "gradient_descent", "default_init", "aligned_bases"]

# MAX_LOG_T (the standard solver's range), PARAMS and FlowStallError live in attnlib.dynamics and are re-exported here
MAX_LOG_T_FRAME = 1e300  # largest log_t_end accepted: beyond MAX_LOG_T the margin frame (attnlib.frame) carries on
_ATOL_FACTOR = 1e-2  # absolute tolerance = 1e-2 * rtol: 1e-3 * rtol costs 25 % more evaluations for "KQ"; 0.1 * rtol
# halves them but leaves 5e-7 relative path error on small early W (zero init)
MAX_NFEV = 50_000  # default evaluation budget: the book's flows need <= 6,000 (n=50, L=16, d=32: ~11,000)


@dataclass
class Trajectory:
    """A gradient-flow or gradient-descent path.

    Attributes
    ----------
    t : numpy.ndarray, shape (m,)
        Saved times (``inf`` beyond float range; :attr:`log_t` is exact).
    log_t : numpy.ndarray, shape (m,)
        ``log t`` (``-inf`` at t = 0).
    W : numpy.ndarray, shape (m, d, d)
        Combined weights ``W(t)`` (``K Q^T``, ``diag(beta)`` or ``diag(xi_k * xi_q)``).
    loss, excess_loss, log_excess_loss : numpy.ndarray, shape (m,)
        Training loss, ``L - L*`` (no cancellation) and its log (finite where the excess underflows).
    params : dict[str, numpy.ndarray]
        Raw parameters at each saved time: {"W"}, {"K", "Q"} (m, d, d_e), {"beta"} or {"xi_k", "xi_q"} (m, d).
    phi : numpy.ndarray, shape (m, n(L-1))
        Accumulated duals ``phi_il(t)`` ordered as ``data.pairs`` (flows only; zeros for gradient descent).
    margin : numpy.ndarray, shape (m,)
        ``mu(W(t))``.
    nfev : int
        Gradient evaluations.
    njev : int
        Hessian (Jacobian) evaluations by the implicit solver; analytic. One costs a few gradients at d <= 10,
        but about 1,200 (plus an LU of the state's size, ~2,000 more) at n=50, L=16, d=32.
    param, loss_kind, method : str
    wall_time : float
        Seconds.
    frame : attnlib.frame.FrameRecord or None
        Where the flow switched to the margin frame, the reference tokens, and the log-odds offsets and attention
        at the saved times past the switch, accurate in absolute terms to the solver tolerance (``None`` without
        a switch). ``W``, ``params`` and ``phi`` stay unscaled there too (float64 holds them to
        ``log t = 1e300``); loss and excess loss use the frame's attention.
    """

    data: AttentionData
    param: str
    t: np.ndarray
    log_t: np.ndarray
    W: np.ndarray
    params: dict
    phi: np.ndarray
    nfev: int
    njev: int = 0
    loss_kind: str = "exp"
    method: str = "gradient_flow"
    wall_time: float = 0.0
    frame: object = None
    loss: np.ndarray = field(init=False)
    excess_loss: np.ndarray = field(init=False)
    log_excess_loss: np.ndarray = field(init=False)
    margin: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if not np.all(np.isfinite(self.W)):
            raise FloatingPointError(f"the {self.method} produced NaN/inf weights (param={self.param!r})")
        d = self.data
        logsig = log_attention_path(d, self.W)  # the whole path at once: the formulas of excess_loss, log_excess_loss
        if self.frame is not None:  # past the switch: the exact attention of the margin frame
            logsig[self.frame.rows] = self.frame.log_attention
        if self.loss_kind == "exp":
            self.excess_loss = excess_from_logsig(d, logsig)
            self.log_excess_loss = log_excess_from_logsig(d, logsig)
            self.loss = min_loss(d) + self.excess_loss
        else:  # L - L* without cancellation (subtracting the losses gives 0 from t ~ 1e50)
            self.excess_loss = logistic_excess_from_logsig(d, logsig)
            self.log_excess_loss = log_logistic_excess_from_logsig(d, logsig)
            self.loss = float(np.mean(np.logaddexp(0.0, -d.gamma_opt))) + self.excess_loss
        self.margin = margin_path(d, self.W)

    def __len__(self) -> int:
        return len(self.t)

    def direction(self) -> np.ndarray:
        """Margin-normalised ``W(t) / mu(W(t))``, shape (m, d, d); NaN where ``mu <= 0``."""
        out = np.full_like(self.W, np.nan)
        ok = self.margin > 0
        out[ok] = self.W[ok] / self.margin[ok, None, None]
        return out

    def cosine_to(self, W_ref) -> np.ndarray:
        """Cosine of ``W(t)`` with a reference matrix (e.g. an SVM solution's ``.W``), shape (m,)."""
        d = self.data.d
        W_ref = check_array(W_ref, "W_ref", shape=(d, d), expected=f"an array of shape (d, d) = ({d}, {d})")
        return np.array([cosine(W, W_ref) if np.any(W) else np.nan for W in self.W])

    def final(self) -> np.ndarray:
        """``W`` at the last saved time, shape (d, d)."""
        return self.W[-1]


def _default_times(t_end: float) -> np.ndarray:
    hi = np.log10(t_end)
    with np.errstate(over="ignore"):
        times = np.logspace(min(-2.0, hi - 2.0), hi, 200)
    times[-1] = t_end  # 10**log10(t_end) may round above t_end (to inf near the largest float)
    return np.concatenate([[0.0], np.minimum(times, t_end)])


T_END_MIN = 1e-100  # smallest t_end accepted: below it LSODA's step size underflows relative to t
LOG_T_END_MIN = 1e-100  # smallest log_t_end accepted: the log-time phase spans [0, log_t_end], and below ~1e-200
# every parameterisation stalled there (50,000 evaluations at log t = 0 for 1e-308; 1e-100 takes < 150)


def _check_times(t_end, t_eval, log_t_end):
    """Validate the time arguments; returns ``(t_eval, log t_end)`` (``t_eval`` None with ``log_t_end``).

    ``log t_end`` is raised to ``log t_eval[-1]`` when the last saved time lies a rounding error (relative
    1e-12) beyond ``t_end``, so that every saved row is integrated."""
    if log_t_end is not None:
        if t_end is not T_END_DEFAULT:
            raise ValueError(f"give t_end or log_t_end, not both (log_t_end = log of the final time); got "
                             f"t_end={t_end!r} and log_t_end={log_t_end!r}")
        log_t_end = check_scalar(log_t_end, "log_t_end", lo=LOG_T_END_MIN, hi=MAX_LOG_T_FRAME)
        if t_eval is not None:
            raise ValueError("give t_eval or log_t_end, not both (use log_t_eval with log_t_end)")
        return None, log_t_end
    t_end = check_scalar(t_end, "t_end", lo=T_END_MIN, hi=float(np.finfo(float).max))
    if t_eval is None:
        t_eval = _default_times(t_end)
    else:
        t_eval = check_array(t_eval, "t_eval", ndim=1, expected="a non-empty 1-D array of finite times in [0, t_end]")
        if t_eval.size == 0:
            raise ValueError("t_eval must be a non-empty 1-D array of finite times in [0, t_end]; got an empty array")
        steps = np.diff(t_eval)
        if np.any(steps <= 0):
            k = int(np.flatnonzero(steps <= 0)[0])
            raise ValueError(f"t_eval must be sorted and strictly increasing (each time saved once); t_eval[{k}] = "
                             f"{t_eval[k]:.17g} is followed by t_eval[{k + 1}] = {t_eval[k + 1]:.17g}")
        if t_eval[0] < 0 or t_eval[-1] > t_end * (1 + 1e-12):
            raise ValueError(f"t_eval must lie within [0, t_end = {t_end:.17g}]; got times from {t_eval[0]:.17g} "
                             f"to {t_eval[-1]:.17g}")
    with np.errstate(divide="ignore"):
        return t_eval, float(np.log(max(t_end, t_eval[-1])))


class _DefaultTime(float):
    """The default ``t_end`` (1e300): a float that :func:`gradient_flow` can tell from an explicit ``t_end`` (so
    ``t_end`` with ``log_t_end`` is refused, never ignored), while ``None`` stays a bad argument."""

    def __repr__(self) -> str:
        return "1e300"


T_END_DEFAULT = _DefaultTime(1e300)  # the final time when neither t_end nor log_t_end is given


def gradient_flow(data: AttentionData, param: str, init, t_end: float = T_END_DEFAULT, t_eval=None, rtol: float = 1e-8,
                  *, loss: str = "exp", log_t_end: float | None = None, log_t_eval=None,
                  method: str = "LSODA", max_nfev: int = MAX_NFEV,
                  switch_log_t: float | None = None) -> Trajectory:
    """Integrate gradient flow ``theta' = -grad L(theta)`` exactly (up to ``rtol``) to very large times.

    Parameters
    ----------
    data : AttentionData
    param : {"W", "KQ", "beta", "xi"}
        What is trained: the combined ``W`` (d, d); separate ``K, Q`` (d, d_e) with ``W = K Q^T``; the combined
        diagonal ``beta`` (d,) with ``W = diag(beta)``; or separate diagonal ``xi_k, xi_q`` (d,) with
        ``beta = xi_k * xi_q``.
    init : array or tuple of arrays
        ``W0`` (d, d), ``(K0, Q0)``, ``beta0`` (d,) or ``(xi_k0, xi_q0)``; see :func:`default_init`.
    t_end : float
        Final time, positive and finite (default 1e300, which is cheap: a few thousand gradient evaluations).
        Give ``t_end`` or ``log_t_end``, not both.
    t_eval : array_like of shape (m,), optional
        Times to save (sorted, in ``[0, t_end]``); default 0 and 200 log-spaced times up to ``t_end``.
    rtol : float
        Relative tolerance of the adaptive solver (absolute tolerance ``1e-2 * rtol``).
    loss : {"exp", "logistic"}
        Training loss (the paper's is exponential).
    log_t_end, log_t_eval : float and array_like, optional
        Integrate to ``log t = log_t_end`` instead of ``t_end`` (at least 1e-100, as ``t_end``; may exceed 709, where ``t`` overflows float64; up
        to ``1e300`` with the margin frame), saving at ``log_t_eval`` (default 200 points uniform in
        ``log log t``). ``log_t_eval`` needs ``log_t_end``.
    method : str
        scipy.integrate.solve_ivp method. The default "LSODA" switches to an implicit (BDF) method where the flow
        is stiff, which it is in log time for data with large token norms; explicit methods ("DOP853", "RK45")
        can need 10x more gradient evaluations there. "BDF" and "Radau" cost more evaluations on the book's data
        (1.4x and 3.9x LSODA's on Tarzanagh et al.'s setup; benchmarks/flow.py) and BDF is less accurate at
        equal rtol.
        Implicit methods get the analytic Jacobian (the scaled Hessian of the loss, :meth:`attnlib.dynamics.FlowModel.jac`).
    max_nfev : int
        Budget of gradient evaluations (default 50,000; the book's flows need at most about 6,000).
    switch_log_t : float, optional
        Where the margin frame (:mod:`attnlib.frame`) may take over: the first ``log t >= switch_log_t`` at which
        every sample's attended token leads every other by log-odds ``>= SWITCH_LOG_ODDS = 10`` (and
        ``>= log t + c log log t - 50``, ``c = 1`` for "KQ"/"xi", 0 otherwise). Default: ``SWITCH_LOG_T = 100``
        when ``log_t_end > MAX_LOG_T = 1e6``, else never (the standard solver alone); ``inf``: never (then
        ``log_t_end <= 1e6``). The frame carries the log-odds offsets as state, cancellation-free and accurate
        to the solver tolerance however large ``log t`` is; ``traj.frame`` records the switch.

    Returns
    -------
    Trajectory

    Raises
    ------
    ValueError
        Unknown ``param`` or ``loss``, an ``init`` of the wrong shape, ``t_end <= 0`` or not finite, bad
        ``t_eval`` / ``log_t_eval``, ``log_t_end`` outside ``[1e-100, 1e300]`` (or above 1e6 with
        ``switch_log_t=inf``), ``switch_log_t`` not positive; both ``t_end`` and ``log_t_end`` given, or
        ``log_t_eval`` without ``log_t_end`` (never silently ignored).
    MarginFrameError
        Past the switch a sample's attended token changed (the frame's assumption; no path beyond is returned),
        or ``log_t_end > 1e6`` and the attention never locked on by ``log t = 1e6``.
    FlowStallError
        If ``max_nfev`` evaluations are used up: the flow has settled at a finite stationary point in some
        directions (e.g. data that are not separable, Assumption 1 or 1-diag fails) and log time turns stiff.
        The message names the time reached and the failing assumption.
        A solver failure on data where that assumption fails (e.g. LSODA's "Unexpected istate") is a stall too.
    RuntimeError
        If the solver fails otherwise (the message says Assumption 1 holds), or if the loss
        rises along the computed path even after one retry at ``rtol = 1e-11``: gradient flow descends, so a
        rising loss means the solver stepped over a token switch, and no trajectory is returned
        (:func:`_loss_rise` gives the tolerance).

    Notes
    -----
    The returned ``loss`` is non-increasing up to ``10 * rtol * L`` between saved times (integration error).
    ``t_eval`` must be strictly increasing; a last time at most 1e-12 (relative) beyond ``t_end`` is integrated
    to, larger ones are refused. ``rtol`` must lie in [1e-13, 0.1] and ``t_end`` in [1e-100, 1.8e308].
    """
    arrays, t_eval, log_end, log_eval, rtol, max_nfev = _check_flow_args(
        data, param, init, t_end, t_eval, rtol, loss, log_t_end, log_t_eval, method, max_nfev)
    options = SolverOptions(method=method, rtol=rtol, atol=_ATOL_FACTOR * rtol,
                            switch_log_t=_check_switch(switch_log_t, log_end))
    cpu_start = time.process_time()
    model = FlowModel(data, param, arrays, loss, max_nfev)
    y0 = np.concatenate([a.ravel() for a in arrays] + [np.zeros(len(data.pairs))])
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: BLAS threads only add overhead
        try:
            saved, frame = _integrate_or_explain(model, y0, log_end, log_eval, options)
        except OverBudget:
            raise FlowStallError(_stall_message(model), log_t=float(model.last_s), nfev=model.nfev) from None
        wall = time.perf_counter() - start
        k = model.n_theta
        thetas = [model.unpack(row[:k]) for row in saved]
        params = {name: np.array([th[j] for th in thetas]) for j, name in enumerate(PARAM_NAMES[param])}
        W = np.array([combined_W(param, th) for th in thetas])
        with np.errstate(over="ignore"):
            t = np.exp(log_eval) if t_eval is None else t_eval.copy()  # t_eval is honoured exactly
        extra = (0, 0) if frame is None else (frame.nfev, frame.njev)
        traj = Trajectory(data=data, param=param, t=t, log_t=log_eval, W=W, params=params, phi=saved[:, k:],
                          nfev=model.nfev + extra[0], njev=model.njev + extra[1], loss_kind=loss,
                          method="gradient_flow", wall_time=wall, frame=frame)
    rise = _loss_rise(traj, rtol)
    if rise is None:
        return _record(traj, cpu_start)
    return _record(_recover_descent(rise, rtol, lambda tighter: gradient_flow(
        data, param, init, t_end, t_eval, tighter, loss=loss, log_t_end=log_t_end, log_t_eval=log_t_eval,
        method=method, max_nfev=max_nfev, switch_log_t=switch_log_t)), cpu_start)


# -- instrumentation: what each flow cost ------------------------------------------------------------------------

_RECORDERS: list[tuple[list, Callable[[dict], None] | None]] = []


@contextmanager
def instrument(callback: Callable[[dict], None] | None = None) -> Iterator[list[dict]]:
    """Record every :func:`gradient_flow` call made inside the ``with`` block (the timing hook of the benchmarks).

    Parameters
    ----------
    callback : callable, optional
        Also called with each record as it is made (e.g. to write it to a file).

    Yields
    ------
    list of dict
        One record per finished call, appended as the calls finish: ``param``, ``n``, ``L``, ``d`` (the data's
        shape), ``log_t_end`` (the last saved log-time), ``nfev``, ``njev`` (gradient and Hessian evaluations),
        ``cpu`` (CPU seconds of the call) and ``wall`` (seconds of integration). A flow that recovers from a loss
        rise with a tighter tolerance records its inner call too.

    Examples
    --------
    >>> with instrument() as calls:  # doctest: +SKIP
    ...     gradient_flow(data, "W", init)
    >>> calls[0]["nfev"]  # doctest: +SKIP
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable (called with each record) or None; got {type(callback).__name__}")
    entry: tuple[list, Callable[[dict], None] | None] = ([], callback)
    _RECORDERS.append(entry)
    try:
        yield entry[0]
    finally:
        _RECORDERS.remove(entry)


def _record(traj: Trajectory, cpu_start: float) -> Trajectory:
    """Hand the cost of a finished flow to the active :func:`instrument` blocks; return ``traj``."""
    if _RECORDERS:
        rec = dict(param=traj.param, n=traj.data.n, L=traj.data.L, d=traj.data.d, log_t_end=float(traj.log_t[-1]),
                   nfev=int(traj.nfev), njev=int(traj.njev), cpu=time.process_time() - cpu_start,
                   wall=float(traj.wall_time))
        for records, callback in _RECORDERS:
            records.append(rec)
            if callback is not None:
                callback(rec)
    return traj


# -- validation at the door ----------------------------------------------------------------------------------

_METHODS = ("LSODA", "BDF", "Radau", "RK45", "RK23", "DOP853")
RTOL_MIN = 1e-13  # scipy raises rtol below 100 machine epsilons (with a warning); 1e-13 is the floor we accept


def _check_flow_args(data, param, init, t_end, t_eval, rtol, loss, log_t_end, log_t_eval, method, max_nfev):
    """Validate every argument of :func:`gradient_flow` before anything is integrated.

    Returns ``(arrays, t_eval, log_end, log_eval, rtol, max_nfev)``."""
    check_data(data)
    check_param(param)
    check_choice(loss, "loss", ("exp", "logistic"))
    check_choice(method, "method", _METHODS)
    rtol = check_scalar(rtol, "rtol", lo=RTOL_MIN, hi=0.1)
    if not (isinstance(max_nfev, (float, np.floating)) and max_nfev == np.inf):  # inf: no budget
        max_nfev = check_scalar(max_nfev, "max_nfev", integer=True, lo=1)
    arrays = split_init(data, param, init)
    if log_t_eval is not None and log_t_end is None:
        raise ValueError("log_t_eval needs log_t_end (the saved log-times of a flow integrated to log t = "
                         "log_t_end); with t_end, save with t_eval")
    t_eval, log_end = _check_times(t_end, t_eval, log_t_end)
    if t_eval is not None:
        with np.errstate(divide="ignore"):
            return arrays, t_eval, log_end, np.log(t_eval), rtol, max_nfev
    if log_t_eval is None:
        log_eval = np.concatenate([[-np.inf], np.log(np.logspace(-2, 0, 20)[:-1]),
                                   np.expm1(np.linspace(0.0, np.log1p(log_end), 180))[:-1], [log_end]])
        return arrays, None, log_end, log_eval, rtol, max_nfev
    want = "a non-empty, strictly increasing 1-D array of log-times in [-inf, log_t_end] (-inf for t = 0)"
    log_eval = check_array(log_t_eval, "log_t_eval", ndim=1, expected=want, finite=False)
    if log_eval.size == 0 or np.any(np.isnan(log_eval)) or np.any(log_eval == np.inf):
        raise ValueError(f"log_t_eval must be {want}; got {log_eval!r}")
    if np.any(np.diff(log_eval) <= 0) or log_eval[-1] > log_end * (1 + 1e-12):
        raise ValueError(f"log_t_eval must be {want} with log_t_end = {log_end:.17g}; got values from "
                         f"{log_eval[0]:.17g} to {log_eval[-1]:.17g}")
    return arrays, None, max(log_end, float(log_eval[-1])), log_eval, rtol, max_nfev


# -- the descent guarantee -------------------------------------------------------------------------------------

DESCENT_RTOL_FACTOR = 10.0  # a saved loss may exceed the previous one by at most 10 * rtol * L (see _loss_rise)
_RETRY_RTOL = 1e-11  # the tighter tolerance of the one retry (the reference runs use 1e-11)


def _loss_rise(traj: Trajectory, rtol: float):
    """The first rise of the loss along ``traj`` beyond what integration error allows, or None.

    Gradient flow descends: ``dL/dt = -||grad L||^2 <= 0``. The saved loss is computed in log space from the
    saved state to ~1e-15; the state itself carries the solver's error, which it keeps below ``rtol`` relative
    per step. A relative perturbation ``rtol`` of ``theta`` changes ``L`` by at most about ``rtol`` times
    ``L``'s logarithmic sensitivity, which is O(1) wherever the path is resolved, so we accept rises up to
    ``10 * rtol * L`` (plus 4 ulp of rounding). Larger rises mean the solver stepped over a feature of the path
    (typically a sample whose attention switches tokens within a step) and the path is wrong from there on.

    Returns
    -------
    tuple ``(k, loss_k, loss_k1)`` of the first violating saved step, or None.
    """
    L = traj.loss
    tol = DESCENT_RTOL_FACTOR * rtol + 4 * np.finfo(float).eps
    allowed = tol * np.abs(L[:-1])
    with np.errstate(invalid="ignore"):
        ok = np.diff(L) <= allowed
        # where L overflows float64 (inf: the true value exceeds 1.8e308, e.g. tokens x 1e8), compare in log space:
        # there L* << L, so a relative rise tol of L is a rise tol of log(L - L*) = log_excess_loss
        huge = ~(np.isfinite(L[:-1]) & np.isfinite(L[1:]))
        ok[huge] = np.diff(traj.log_excess_loss)[huge] <= tol
    bad = np.flatnonzero(~ok)
    if bad.size == 0:
        return None
    k = int(bad[0])
    rise = k, float(L[k]), float(L[k + 1]), float(traj.log_t[k]), float(traj.log_t[k + 1]), traj.param
    if huge[k]:  # the loss itself overflows: report log(L - L*) too
        rise += (float(traj.log_excess_loss[k]), float(traj.log_excess_loss[k + 1]))
    return rise


def _recover_descent(rise, rtol: float, rerun):
    """Recover a non-monotone flow by integrating again at ``rtol = 1e-11``; raise if that does not help.

    Never returns a trajectory whose loss rises (the retry is checked by :func:`gradient_flow` itself)."""
    _k, a, b, s0, s1, param, *logs = rise
    change = (f"rose from {a:.10g} to {b:.10g}" if not logs else
              f"exceeds float64 there and rose in log space, log(L - L*) from {logs[0]:.10g} to {logs[1]:.10g}")
    what = (f"the loss of the gradient flow (param={param!r}) {change} between the saved "
            f"times log t = {s0:.4g} and {s1:.4g} at rtol = {rtol:g}")
    if rtol > _RETRY_RTOL:
        try:
            return rerun(_RETRY_RTOL)
        except (FlowStallError, RuntimeError) as exc:
            raise RuntimeError(f"{what}: the adaptive solver stepped over a sample whose attention switches "
                               f"tokens (typical when one sample's tokens or query are many orders of magnitude "
                               f"smaller than the others'), and the retry at rtol = {_RETRY_RTOL:g} failed too "
                               f"({exc}). A gradient flow's loss never rises, so no trajectory is returned; "
                               f"rescale the data to comparable sizes, or integrate to a smaller t_end") from None
    raise RuntimeError(f"{what}: the adaptive solver stepped over a sample whose attention switches tokens "
                       f"(typical when one sample's tokens or query are many orders of magnitude smaller than "
                       f"the others'). A gradient flow's loss never rises, so no trajectory is returned; rescale "
                       f"the data to comparable sizes, or integrate to a smaller t_end")


def _check_switch(switch_log_t, log_end: float) -> float:
    """The ``log t`` from which the margin frame may take over (``inf``: never)."""
    if switch_log_t is None:
        return SWITCH_LOG_T if log_end > MAX_LOG_T else np.inf
    if isinstance(switch_log_t, (bool, str, bytes)) or not isinstance(switch_log_t, (int, float, np.number)):
        raise TypeError(f"switch_log_t must be a positive number (a log-time; inf: never switch) or None; "
                        f"got {type(switch_log_t).__name__} {switch_log_t!r}")
    switch = float(switch_log_t)
    if np.isnan(switch) or switch <= 0:
        raise ValueError(f"switch_log_t must be a positive log-time (inf: never switch); got {switch_log_t!r}")
    if switch == np.inf and log_end > MAX_LOG_T:
        raise ValueError(f"log_t_end = {log_end:g} > {MAX_LOG_T:g} needs the margin frame, but switch_log_t=inf "
                         f"forbids it")
    if switch > MAX_LOG_T and np.isfinite(switch):
        raise ValueError(f"switch_log_t must be at most {MAX_LOG_T:g} (the standard solver's range); got {switch:g}")
    return switch


def _integrate(model: FlowModel, y0: np.ndarray, log_end: float, log_eval: np.ndarray, options: SolverOptions):
    """Phase 1 in physical time on ``[0, min(1, t_end)]``, then phase 2 in log time (switching to the margin
    frame past ``options.switch_log_t``).

    Returns the state at ``log_eval`` (m,), shape (m, y0.size), and the frame's record (or None)."""
    saved = np.empty((len(log_eval), y0.size))
    t1 = float(np.exp(min(log_end, 0.0)))
    first = log_eval <= np.log(t1)
    ts = np.union1d(np.exp(log_eval[first]), [t1])
    sol = solve(lambda t, y: model.rhs(y, 0.0), lambda t, y: model.jac(y, 0.0), (0.0, t1), y0, ts, options,
                guard=model.attention_step)
    if not sol.success:
        raise RuntimeError(f"gradient flow failed in [0, {t1:g}]: {sol.message}")
    saved[first] = sol.y.T[np.searchsorted(ts, np.exp(log_eval[first]))]
    frame = None
    if log_end > max(0.0, options.switch_log_t):  # the margin frame may take over (attnlib.frame)
        saved[~first], frame = log_time_with_frame(model, sol.y[:, -1], log_end, log_eval[~first], options,
                                                   int(np.sum(first)))
    elif log_end > 0.0:
        saved[~first] = _log_time_phase(model, sol.y[:, -1], log_end, log_eval[~first], options)
    return saved, frame


def _integrate_or_explain(model: FlowModel, y0: np.ndarray, log_end: float, log_eval: np.ndarray,
                          options: SolverOptions):
    """:func:`_integrate`, with scipy's own warnings kept from the user and a solver failure explained: the
    message names the assumption whose failure typically causes it (as :class:`FlowStallError` does). The
    margin frame's own errors (:class:`FlowStallError`, :class:`~attnlib.frame.MarginFrameError`) pass as they are."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return _integrate(model, y0, log_end, log_eval, options)
        except (FlowStallError, MarginFrameError):
            raise
        except RuntimeError as exc:
            noted = "; ".join(sorted({str(w.message) for w in caught}))
            message = f"{exc}{f' (solver: {noted})' if noted else ''}. {_assumption_note(model)}"
            if _assumption_fails(model):  # a stationary point in some directions: the documented stall
                raise FlowStallError(message, log_t=float(model.last_s), nfev=model.nfev) from None
            raise RuntimeError(message) from None


def _assumption_fails(model) -> bool:
    from .assumptions import check_assumptions

    return not check_assumptions(model.data)["1-diag" if model.param in ("beta", "xi") else "1"].holds


def _assumption_note(model) -> str:
    from .assumptions import check_assumptions

    name = "1-diag" if model.param in ("beta", "xi") else "1"
    check = check_assumptions(model.data)[name]
    if not check.holds:
        return (f"Assumption {name} fails here ({check.reason}), so the flow settles at a finite point in some "
                f"directions and turns infinitely stiff in log t; integrate to a smaller t_end")
    return f"Assumption {name} holds here, so this is unexpected: try method='BDF' or a looser rtol"


def _stall_message(model) -> str:
    from .assumptions import check_assumptions

    s = model.last_s
    where = f"log t = {s:.4g} (t = {np.exp(s):.3g})" if s < 709 else f"log t = {s:.4g}"
    name = "1-diag" if model.param in ("beta", "xi") else "1"
    check = check_assumptions(model.data)[name]
    cause = (f"Here Assumption {name} fails: {check.reason}." if not check.holds else
             f"Assumption {name} holds here, so this is unexpected: try method='BDF' or a looser rtol.")
    return (f"gradient flow (param={model.param!r}) stalled at {where}: {model.max_nfev:,} gradient evaluations "
            f"(max_nfev) used up. This happens when the flow settles at a finite stationary point in some "
            f"directions: in log time the equation d theta / d log t = -t grad L multiplies the rounding noise of "
            f"grad L by t, and the step size collapses. Typical cause: data that attention cannot separate. {cause} "
            f"The flow has converged long before this time: integrate to a smaller t_end, or raise max_nfev.")


def _log_time_phase(model: FlowModel, y1: np.ndarray, log_end: float, log_eval: np.ndarray, options: SolverOptions):
    """Phase 2: ``s = log t`` on ``[0, log_end]``; ``d theta / ds = -e^s grad L`` with ``e^s`` folded into the
    log-space gradient. In ``s`` the path is nearly linear (margins grow like ``s``), so an implicit solver takes
    long steps and ``log t = 1e6`` costs about what ``t = 1e300`` does."""
    sol = solve(lambda s, y: model.rhs(y, s), lambda s, y: model.jac(y, s), (0.0, log_end), y1,
                np.minimum(log_eval, log_end), options, guard=model.attention_step)
    if not sol.success:
        raise RuntimeError(f"gradient flow failed in log time: {sol.message}")
    return sol.y.T


#: The most steps :func:`gradient_descent` takes (and saves) in one call: 1e8 steps of the smallest data set take
#: about an hour; more is a mistake, not a run.
MAX_GD_STEPS = 10**8


def gradient_descent(data: AttentionData, param: str, init, lr: float, steps: int, normalized: bool = False,
                     *, loss: str = "exp", n_save: int = 200) -> Trajectory:
    """Gradient descent ``theta <- theta - lr * grad L`` (or ``lr * grad / ||grad||`` when ``normalized``).

    Parameters
    ----------
    data : AttentionData
    param : {"W", "KQ", "beta", "xi"}
        As in :func:`gradient_flow`.
    init : array or tuple of arrays
        As in :func:`gradient_flow`.
    lr : float
        Step size (> 0).
    steps : int
        Number of steps (>= 1).
    normalized : bool
        Normalised GD (the "transformers as SVMs" recipe): the step has length ``lr`` in parameter space, so
        it keeps moving where the gradient underflows.
    loss : {"exp", "logistic"}
    n_save : int
        Saved iterates, log-spaced in the step index (plus step 0 and the last).

    Returns
    -------
    Trajectory
        With ``t = lr * step`` (GF time for plain GD; arc length for normalised GD) and ``phi`` zeros.

    Raises
    ------
    ValueError
        A bad argument; ``steps`` or ``n_save`` above :data:`MAX_GD_STEPS`.
    FloatingPointError
        The iterates leave float64 (``lr`` too large for the data), or normalised GD meets an exactly zero
        gradient.
    """
    check_data(data)
    check_param(param)
    check_choice(loss, "loss", ("exp", "logistic"))
    lr = check_scalar(lr, "lr", lo=0.0, lo_open=True)
    steps = int(check_scalar(steps, "steps", integer=True, lo=1, hi=MAX_GD_STEPS))
    n_save = int(check_scalar(n_save, "n_save", integer=True, lo=1, hi=MAX_GD_STEPS))
    normalized = check_bool(normalized, "normalized")
    arrays = split_init(data, param, init)
    model = FlowModel(data, param, arrays, loss)
    save_at = np.unique(np.concatenate([[0], np.geomspace(1, steps, n_save).astype(int), [steps]]))
    theta = np.concatenate([a.ravel() for a in arrays])
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        saved = _descend(model, theta, lr, normalized, save_at)
    wall = time.perf_counter() - start
    thetas = [model.unpack(row) for row in saved]
    params = {name: np.array([th[i] for th in thetas]) for i, name in enumerate(PARAM_NAMES[param])}
    W = np.array([combined_W(param, th) for th in thetas])
    t = lr * save_at.astype(float)
    with np.errstate(divide="ignore"):
        log_t = np.log(t)
    return Trajectory(data=data, param=param, t=t, log_t=log_t, W=W, params=params,
                      phi=np.zeros((len(t), len(data.pairs))), nfev=model.nfev, loss_kind=loss,
                      method="normalized_gd" if normalized else "gd", wall_time=wall)


def _descend(model: FlowModel, theta: np.ndarray, lr: float, normalized: bool, save_at: np.ndarray) -> list:
    """The GD iterates at the step indices ``save_at`` (sorted, ending at the last step)."""
    saved, j = [], 0
    for step in range(int(save_at[-1]) + 1):
        if step == save_at[j]:
            saved.append(theta.copy())
            j += 1
            if j == len(save_at):
                break
        if normalized:
            theta = theta + lr * _normalised_direction(model, theta)
        else:
            theta = theta + lr * model.descent_velocity(theta)
        if not np.all(np.isfinite(theta)):
            raise FloatingPointError(f"gradient descent diverged at step {step} (lr={lr} too large?)")
    return saved


def _normalised_direction(model: FlowModel, theta: np.ndarray) -> np.ndarray:
    """``-grad / ||grad||``, computed at a log scale that keeps the gradient representable."""
    D = model.descent_velocity(theta, None)  # e^s * gradient with s chosen so the largest term is 1: never underflows
    nrm = np.linalg.norm(D)
    if nrm == 0:
        raise FloatingPointError("the gradient is exactly zero (a stationary point, e.g. K = Q = 0)")
    return D / nrm


def aligned_bases(data: AttentionData) -> tuple[np.ndarray, np.ndarray]:
    """Orthogonal ``U_K, U_Q`` (d, d) aligned with the data (eq. (7)): column ``i`` is ``x_{i,opt}/||.||``
    resp. ``z_i/||z_i||`` (``pi(i) = i``), completed to orthonormal bases.

    Raises
    ------
    ValueError
        If the optimal tokens or the queries are not orthogonal (Assumption 4 (i)) or ``n > d``.
    """
    check_data(data)
    xo = data.X[np.arange(data.n), data.opt]
    out = []
    for M, what in ((xo, "optimal tokens"), (data.z, "queries")):
        norms = np.linalg.norm(M, axis=1)
        if data.n > data.d or np.any(norms == 0):
            raise ValueError(f"aligned bases need n <= d and nonzero {what}")
        U1 = (M / norms[:, None]).T
        if np.abs(U1.T @ U1 - np.eye(data.n)).max() > 1e-10:
            raise ValueError(f"aligned bases need orthogonal {what} (Assumption 4 (i)); check_assumptions says why")
        q, _ = np.linalg.qr(np.concatenate([U1, np.eye(data.d)], axis=1))
        U = q[:, : data.d].copy()
        U[:, : data.n] = U1  # QR may flip signs; keep the data's own unit vectors
        out.append(U)
    return out[0], out[1]


def default_init(data: AttentionData, param: str, scale: float = 0.1, seed: int | None = 0, *,
                 kind: str | None = None, d_e: int | None = None):
    """Initialisations used in the book.

    Parameters
    ----------
    data : AttentionData
    param : {"W", "KQ", "beta", "xi"}
    scale : float
        ``omega_0`` for the paper's initialisation (5), else the entry scale of a random start.
    seed : int or None
        Seed for random starts and for ``omega_0`` (``None``: ``omega_0 = scale * ones``).
    kind : str, optional
        "W"/"beta": "zero" (default) or "random". "xi": "paper" (default; initialisation (5): ``xi_k = sqrt(2)
        omega_0``, ``xi_q = 0``, so ``beta(0) = 0``) or "random". "KQ": "random" (default; entries ``scale *
        N(0, 1)``) or "aligned" (Def. 5.1: ``K = U_K diag(sqrt(2) omega_0) V^T``, ``Q = 0``; needs Assumption 4
        data, see :func:`aligned_bases`).
    d_e : int, optional
        Embedding dimension for "KQ" (default d; the theorems need ``d_e >= d``).

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        In the form :func:`gradient_flow` takes for ``param``.
    """
    check_data(data)
    check_param(param)
    scale = check_scalar(scale, "scale")
    seed = check_seed(seed, allow_none=True)
    if kind is not None and not isinstance(kind, str):
        raise TypeError(f"kind must be None or a string such as 'zero', 'random', 'paper', 'aligned'; got "
                        f"{type(kind).__name__}")
    d = data.d
    if d_e is not None:  # the factors are (d, d_e) float64 arrays
        d_e = check_scalar(d_e, "d_e", integer=True, lo=1, hi=max(1, MAX_ENTRIES // d))
    rng = np.random.default_rng(seed)
    omega0 = scale * (np.ones(d) if seed is None else rng.uniform(0.5, 1.5, size=d))
    kind = kind or {"W": "zero", "beta": "zero", "xi": "paper", "KQ": "random"}[param]
    if param in ("W", "beta"):
        shape = (d, d) if param == "W" else (d,)
        if kind == "zero":
            return np.zeros(shape)
        if kind == "random":
            return scale * rng.standard_normal(shape)
    elif param == "xi":
        if kind == "paper":
            return np.sqrt(2.0) * omega0, np.zeros(d)
        if kind == "random":
            return scale * rng.standard_normal(d), scale * rng.standard_normal(d)
    else:
        d_e = d if d_e is None else int(d_e)
        if kind == "random":
            return scale * rng.standard_normal((d, d_e)), scale * rng.standard_normal((d, d_e))
        if kind == "aligned":
            if d_e < d:
                raise ValueError(f"an aligned initialisation needs d_e >= d; got d_e={d_e}, d={d}")
            U_K, U_Q = aligned_bases(data)
            V = np.eye(d_e) if seed is None else np.linalg.qr(rng.standard_normal((d_e, d_e)))[0]
            Lam = np.zeros((d, d_e))
            Lam[np.arange(d), np.arange(d)] = np.sqrt(2.0) * omega0
            return U_K @ Lam @ V.T, np.zeros((d, d_e))
    kinds = {"W": ("zero", "random"), "beta": ("zero", "random"), "xi": ("paper", "random"),
             "KQ": ("random", "aligned")}[param]
    raise ValueError(f"kind must be one of {kinds} for param {param!r} (unknown kind); got {kind!r}")
