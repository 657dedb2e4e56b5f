"""The experiments of the appendix "How the flows are computed": cost, time change, solvers and accuracy of
:func:`attnlib.gradient_flow`.

Everything runs on the setup of Tarzanagh et al.'s public notebooks (:func:`attnlib.make_generic_data`: n = 6, L = 8,
d = 10, seed 0). Results are cached, so figures and widget frames only draw. Printed quantities are evaluation counts and errors, which are
deterministic; wall times are not shown (they would make the built book differ from run to run).

The chapter's computations (no drawing: :mod:`attnbook.figures.numerics` draws them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib.data import AttentionData, make_generic_data
from attnlib.diagnostics import path_error
from attnlib.flow import Trajectory, default_init, gradient_descent, gradient_flow
from attnlib.model import loss_grad
from attnlib.perturbation import perturbed_inputs
from attnlib.svm import solve_svm
from ._store import memo

#: Step size of the gradient descent the flow is compared with.
LR = 0.1
#: Final log-times of the cost measurement (log t = 690.8 is t = 1e300).
LOG_T_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, float(np.log(1e300)), 1e4, 1e5, 1e6)
#: Tolerances of the accuracy study (the library's default is 1e-8), and of its reference run.
RTOLS = (1e-6, 1e-7, 1e-8, 1e-9, 1e-10)
REF_RTOL = 1e-11
#: scipy.integrate.solve_ivp methods compared (implicit ones get the analytic Hessian).
METHODS = ("LSODA", "BDF", "Radau", "DOP853", "RK45")


@memo
def tarzanagh_data() -> AttentionData:
    """The setup of Tarzanagh et al.'s public notebooks: n = 6, L = 8, d = 10 (seed 0)."""
    return make_generic_data()


@memo
def _w_flow(**kw) -> Trajectory:
    data = tarzanagh_data()
    return gradient_flow(data, "W", np.zeros((data.d, data.d)), **kw)


@dataclass(frozen=True)
class FlowCost:
    """The W-flow's margin along the way and the cost of reaching each time (:func:`compute_cost`).

    Attributes
    ----------
    log_t, margin : numpy.ndarray, shape (m,)
        Saved times (``log t``, to 1e6) and the margin there, along one run.
    grid : numpy.ndarray, shape (k,)
        :data:`LOG_T_GRID`.
    nfev, njev : numpy.ndarray of int, shape (k,)
        Gradient and Hessian evaluations of a run to each time of ``grid``.
    gd_log10_steps : numpy.ndarray, shape (k,)
        ``log10(t / lr)``: the digits of the number of GD steps (lr :data:`LR`) that reach the same time.
    """

    log_t: np.ndarray
    margin: np.ndarray
    grid: np.ndarray
    nfev: np.ndarray
    njev: np.ndarray
    gd_log10_steps: np.ndarray


@memo
def compute_cost() -> FlowCost:
    """The W-flow from 0: its margin along the way (to log t = 1e6), and the cost of reaching each of
    :data:`LOG_T_GRID` against the number of GD steps (lr 0.1) that reach the same time.

    Returns
    -------
    FlowCost
        The margin along one run and the cost of a run to each time.
    """
    path = _w_flow(log_t_end=1e6)
    nfev, njev = [], []
    for lte in LOG_T_GRID:
        tr = _w_flow(log_t_end=lte, log_t_eval=(lte,))
        nfev.append(tr.nfev)
        njev.append(tr.njev)
    grid = np.array(LOG_T_GRID)
    return FlowCost(log_t=path.log_t, margin=path.margin, grid=grid, nfev=np.array(nfev), njev=np.array(njev),
                    gd_log10_steps=grid / np.log(10.0) - np.log10(LR))


@dataclass(frozen=True)
class ToleranceRun:
    """The K,Q flow at one tolerance in :func:`compute_accuracy`.

    Attributes
    ----------
    err : numpy.ndarray, shape (m,)
        Relative error of the raw parameters against the reference run, at each saved time.
    nfev, njev : int
        Gradient and Hessian evaluations.
    """

    err: np.ndarray
    nfev: int
    njev: int


@dataclass(frozen=True)
class ToleranceStudy:
    """The K,Q flow to t = 1e300 at each of :data:`RTOLS`, against a run at rtol = 1e-11 (:func:`compute_accuracy`).

    Attributes
    ----------
    log_t : numpy.ndarray, shape (m,)
        The saved times.
    ref_nfev, ref_njev : int
        Gradient and Hessian evaluations of the reference run.
    runs : dict of float to ToleranceRun
        One run per tolerance of :data:`RTOLS`, keyed by the tolerance.
    """

    log_t: np.ndarray
    ref_nfev: int
    ref_njev: int
    runs: dict


@memo
def compute_accuracy() -> ToleranceStudy:
    """The K,Q flow (small random start, d_e = d) to t = 1e300 at each of :data:`RTOLS`, against a run at
    rtol = 1e-11: relative error of the raw parameters at each of the 200 saved times, and the cost.

    Returns
    -------
    ToleranceStudy
        The saved times, the reference run's cost, and one :class:`ToleranceRun` per tolerance.
    """
    data = tarzanagh_data()
    init = default_init(data, "KQ", 0.01, seed=0)
    ref = gradient_flow(data, "KQ", init, 1e300, rtol=REF_RTOL)
    runs = {}
    for rtol in RTOLS:
        tr = gradient_flow(data, "KQ", init, 1e300, rtol=rtol)
        runs[rtol] = ToleranceRun(err=path_error(tr, ref), nfev=tr.nfev, njev=tr.njev)
    return ToleranceStudy(log_t=ref.log_t, ref_nfev=ref.nfev, ref_njev=ref.njev, runs=runs)


@dataclass(frozen=True)
class MethodRun:
    """The W-flow with one solver method in :func:`compute_methods`.

    Attributes
    ----------
    nfev, njev : int
        Gradient and Hessian evaluations.
    err : float
        The largest relative path error against the LSODA run at rtol 1e-11.
    implicit : bool
        Whether the method is implicit (it then uses the analytic Hessian).
    """

    nfev: int
    njev: int
    err: float
    implicit: bool


@dataclass(frozen=True)
class MethodComparison:
    """The W-flow from 0 to t = 1e300 with each of :data:`METHODS` at rtol 1e-8 (:func:`compute_methods`).

    Attributes
    ----------
    runs : dict of str to MethodRun
        One run per method of :data:`METHODS`, keyed by its name.
    n_theta : int
        The number of parameters, ``d^2``.
    """

    runs: dict
    n_theta: int


@memo
def compute_methods() -> MethodComparison:
    """The W-flow from 0 to t = 1e300 with each of :data:`METHODS` at rtol 1e-8: gradient and Hessian
    evaluations, and the largest relative path error against the LSODA run at rtol 1e-11.

    Returns
    -------
    MethodComparison
        One :class:`MethodRun` per method, and the number of parameters.
    """
    data = tarzanagh_data()
    ref = _w_flow(t_end=1e300, rtol=REF_RTOL)
    runs = {}
    for method in METHODS:
        tr = _w_flow(t_end=1e300, method=method)
        runs[method] = MethodRun(nfev=tr.nfev, njev=tr.njev, err=float(path_error(tr, ref).max()),
                                 implicit=method in ("LSODA", "BDF", "Radau"))
    return MethodComparison(runs=runs, n_theta=data.d ** 2)


#: The appendix's accuracy target for a flow's parameters.
TARGET = 1e-6
#: Seeds of the starts perturbed by a relative 1e-12 (:func:`attnlib.perturbed_inputs`) over which
#: :func:`bdf_spread` reports BDF's accuracy.
SPREAD_SEEDS = tuple(range(10))


@dataclass(frozen=True)
class BDFSpread:
    """BDF's accuracy at rtol 1e-8 over perturbed starts (:func:`bdf_spread`).

    Attributes
    ----------
    seeds : numpy.ndarray, shape (k,)
        The seeds of the perturbations.
    err : numpy.ndarray, shape (k,)
        The largest relative path error of each run.
    nfev : numpy.ndarray of int, shape (k,)
        Gradient evaluations of each run.
    n_miss : int
        How many errors exceed :data:`TARGET`.
    """

    seeds: np.ndarray
    err: np.ndarray
    nfev: np.ndarray
    n_miss: int


@memo
def bdf_spread(loss: str = "exp", seeds: tuple = SPREAD_SEEDS) -> BDFSpread:
    """BDF alone at rtol 1e-8 on the W-flow from 0 to t = 1e300, against LSODA at rtol 1e-11, for each of ``seeds``
    under ``perturbed_inputs(1e-12, seed)`` (data and start moved by a relative 1e-12, the reference too).

    Whether BDF meets :data:`TARGET` at this tolerance is decided by rounding: its step-size controller takes one of
    two paths, with errors near 1e-7 or near 2e-6 (measured), and a relative 1e-12 in the inputs picks which. So the
    appendix states how often it misses, over perturbed starts, not whether.

    Returns
    -------
    BDFSpread
        The errors and costs of the runs, and how many miss :data:`TARGET`.
    """
    err, nfev = [], []
    for seed in seeds:
        with perturbed_inputs(1e-12, int(seed)):
            ref = _w_flow(t_end=1e300, rtol=REF_RTOL, loss=loss)
            tr = _w_flow(t_end=1e300, method="BDF", loss=loss)
        err.append(float(path_error(tr, ref).max()))
        nfev.append(int(tr.nfev))
    err_arr = np.array(err)
    return BDFSpread(seeds=np.array(seeds), err=err_arr, nfev=np.array(nfev), n_miss=int((err_arr > TARGET).sum()))


@dataclass(frozen=True)
class ScaledGradient:
    """The gradient at ``W(t = 1e300)`` of the W-flow, plain and in log space (:func:`naive_vs_scaled_gradient`).

    Attributes
    ----------
    log_t : float
        ``log t`` of the point (``ln 1e300``).
    naive : numpy.ndarray, shape (d, d)
        The plain gradient (it underflows).
    scaled : numpy.ndarray, shape (d, d)
        ``t`` times the gradient, computed in log space (``log_scale = log t``).
    W : numpy.ndarray, shape (d, d)
        The point.
    """

    log_t: float
    naive: np.ndarray
    scaled: np.ndarray
    W: np.ndarray


def naive_vs_scaled_gradient() -> ScaledGradient:
    """At ``W(t = 1e300)`` of the W-flow: the plain gradient (it underflows) and ``t`` times the gradient computed
    in log space (``log_scale = log t``), which is what the log-time flow integrates."""
    tr = _w_flow(t_end=1e300, method="LSODA")  # the same cached run as compute_methods()
    data, W, log_t = tr.data, tr.W[-1], float(tr.log_t[-1])
    return ScaledGradient(log_t=log_t, naive=loss_grad(data, W), scaled=loss_grad(data, W, log_scale=log_t), W=W)


#: Cosine with the W_F-SVM direction whose first time the appendix's exercise asks about.
COS_TARGET = 0.999
#: Normalised-GD steps run by :func:`time_to_cosine` (cosine 0.999 takes about 2,400 of them).
NGD_STEPS = 4000


@dataclass(frozen=True)
class TimeToCosine:
    """When the W-flow first reaches a cosine with the W_F-SVM solution, and what that costs
    (:func:`time_to_cosine`).

    Attributes
    ----------
    t : float
        The time, rounded up to two significant digits.
    gd_steps : float
        ``t / LR``: the steps gradient descent with step :data:`LR` needs to reach ``t``.
    nfev, njev : int
        The flow's gradient and Hessian evaluations for one run to ``t`` (saving only ``0`` and ``t``).
    cos : float
        That run's cosine with the W_F solution at ``t``.
    ngd_steps : int
        The first normalised-GD step with cosine >= the target.
    """

    t: float
    gd_steps: float
    nfev: int
    njev: int
    cos: float
    ngd_steps: int


@memo
def time_to_cosine(target: float = COS_TARGET) -> TimeToCosine:
    """When the W-flow from 0 first reaches cosine ``target`` with the W_F-SVM solution, and what that costs.

    The flow is saved at 2,001 log-spaced times in ``[1, 1e100]`` (``target`` must be reached inside); the
    crossing is interpolated linearly in ``log10 t``. Gradient descent with step :data:`LR` needs ``t / LR``
    steps to reach time ``t``; normalised GD (step length :data:`LR`) is run until its cosine reaches ``target``.

    Returns
    -------
    TimeToCosine
        The time, the GD steps, the flow's cost to reach it and its cosine there, and the normalised-GD steps.

    Raises
    ------
    ValueError
        ``target`` is not a float in (0, 1), or it is not reached (by the flow in ``[1, 1e100]``, by normalised GD
        within :data:`NGD_STEPS` steps).
    """
    if not isinstance(target, float) or not 0.0 < target < 1.0:
        raise ValueError(f"target must be a float in (0, 1); got {target!r}")
    data = tarzanagh_data()
    W0, W_F = np.zeros((data.d, data.d)), solve_svm(data, "fro").W
    dense = _w_flow(t_end=1e100, t_eval=(0.0, *np.logspace(0.0, 100.0, 2001).tolist()))
    cos, log10_t = dense.cosine_to(W_F), np.log10(np.maximum(dense.t, 1e-300))
    reached = np.flatnonzero(cos >= target)
    if len(reached) == 0 or reached[0] <= 1:
        raise ValueError(f"cosine {target} must be first reached inside t in [1, 1e100]; it is not on this flow")
    k = int(reached[0])
    w = (target - cos[k - 1]) / (cos[k] - cos[k - 1])
    log10_cross = log10_t[k - 1] + w * (log10_t[k] - log10_t[k - 1])
    unit = np.floor(log10_cross) - 1  # two significant digits, rounded up: the cosine at t is >= target
    t = float(np.ceil(10 ** (log10_cross - unit)) * 10 ** unit)
    run = gradient_flow(data, "W", W0, t, t_eval=[0.0, t])
    # n_save = 10 x steps: the log-spaced saves then include every step (spacing < 1 step up to NGD_STEPS)
    ngd = gradient_descent(data, "W", W0, lr=LR, steps=NGD_STEPS, normalized=True, n_save=10 * NGD_STEPS)
    hit = np.flatnonzero(ngd.cosine_to(W_F) >= target)
    if len(hit) == 0:
        raise ValueError(f"normalised GD does not reach cosine {target} within {NGD_STEPS} steps")
    return TimeToCosine(t=t, gd_steps=t / LR, nfev=int(run.nfev), njev=int(run.njev),
                        cos=float(run.cosine_to(W_F)[-1]), ngd_steps=int(np.rint(ngd.t[hit[0]] / LR)))


peers_data = tarzanagh_data  # the name of earlier versions
