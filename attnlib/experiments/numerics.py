"""The experiments of the appendix "How the flows are computed": cost, time change, solvers and accuracy of
:func:`attnlib.gradient_flow`.

Everything runs on the setup of Tarzanagh et al.'s public notebooks (:func:`attnlib.make_generic_data`: n = 6, L = 8,
d = 10, seed 0). Results are cached, so figures and widget frames only draw. Printed quantities are evaluation counts and errors, which are
deterministic; wall times are not shown (they would make the built book differ from run to run).

The chapter's computations (no drawing: :mod:`attnlib.figures.numerics` draws them).
"""
from __future__ import annotations

import numpy as np

from ..data import AttentionData, make_generic_data
from ..diagnostics import path_error
from ..flow import Trajectory, default_init, gradient_flow
from ..model import loss_grad
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


@memo
def compute_cost() -> dict:
    """The W-flow from 0: its margin along the way (to log t = 1e6), and the cost of reaching each of
    :data:`LOG_T_GRID` against the number of GD steps (lr 0.1) that reach the same time.

    Returns
    -------
    dict
        ``log_t``, ``margin`` (m,) along one run; ``grid`` (k,) = LOG_T_GRID with ``nfev``, ``njev`` (k,) of a
        run to each, and ``gd_log10_steps`` (k,) = ``log10(t / lr)``.
    """
    path = _w_flow(log_t_end=1e6)
    nfev, njev = [], []
    for lte in LOG_T_GRID:
        tr = _w_flow(log_t_end=lte, log_t_eval=(lte,))
        nfev.append(tr.nfev)
        njev.append(tr.njev)
    grid = np.array(LOG_T_GRID)
    return {"log_t": path.log_t, "margin": path.margin, "grid": grid, "nfev": np.array(nfev),
            "njev": np.array(njev), "gd_log10_steps": grid / np.log(10.0) - np.log10(LR)}


@memo
def compute_accuracy() -> dict:
    """The K,Q flow (small random start, d_e = d) to t = 1e300 at each of :data:`RTOLS`, against a run at
    rtol = 1e-11: relative error of the raw parameters at each of the 200 saved times, and the cost.

    Returns
    -------
    dict
        ``log_t`` (m,); per rtol: ``err`` (m,), ``nfev``, ``njev``; ``ref_nfev``, ``ref_njev``.
    """
    data = tarzanagh_data()
    init = default_init(data, "KQ", 0.01, seed=0)
    ref = gradient_flow(data, "KQ", init, 1e300, rtol=REF_RTOL)
    out = {"log_t": ref.log_t, "ref_nfev": ref.nfev, "ref_njev": ref.njev}
    for rtol in RTOLS:
        tr = gradient_flow(data, "KQ", init, 1e300, rtol=rtol)
        out[rtol] = {"err": path_error(tr, ref), "nfev": tr.nfev, "njev": tr.njev}
    return out


@memo
def compute_methods() -> dict:
    """The W-flow from 0 to t = 1e300 with each of :data:`METHODS` at rtol 1e-8: gradient and Hessian
    evaluations, and the largest relative path error against the LSODA run at rtol 1e-11."""
    data = tarzanagh_data()
    ref = _w_flow(t_end=1e300, rtol=REF_RTOL)
    out = {}
    for method in METHODS:
        tr = _w_flow(t_end=1e300, method=method)
        out[method] = {"nfev": tr.nfev, "njev": tr.njev, "err": float(path_error(tr, ref).max()),
                       "implicit": method in ("LSODA", "BDF", "Radau")}
    out["n_theta"] = data.d ** 2
    return out


def naive_vs_scaled_gradient() -> dict:
    """At ``W(t = 1e300)`` of the W-flow: the plain gradient (it underflows) and ``t`` times the gradient computed
    in log space (``log_scale = log t``), which is what the log-time flow integrates."""
    tr = _w_flow(t_end=1e300, method="LSODA")  # the same cached run as compute_methods()
    data, W, log_t = tr.data, tr.W[-1], float(tr.log_t[-1])
    return {"log_t": log_t, "naive": loss_grad(data, W), "scaled": loss_grad(data, W, log_scale=log_t),
            "W": W}


peers_data = tarzanagh_data  # the name of earlier versions
