"""Figures of the appendix "How the flows are computed": cost, time change, solvers and accuracy of
:func:`attnlib.gradient_flow`.

Everything runs on the peers' setup (:func:`attnlib.make_generic_data`: n = 6, L = 8, d = 10, seed 0). Results are
cached, so figures and widget frames only draw. Printed quantities are evaluation counts and errors, which are
deterministic; wall times are not shown (they would make the built book differ from run to run).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure

import attnlib as al
from attnlib import plots

__all__ = ["LR", "LOG_T_GRID", "RTOLS", "REF_RTOL", "METHODS", "peers_data", "compute_cost", "compute_accuracy",
           "compute_methods", "naive_vs_scaled_gradient", "fig_cost", "fig_accuracy", "FIGURES"]

#: Step size of the gradient descent the flow is compared with.
LR = 0.1
#: Final log-times of the cost measurement (log t = 690.8 is t = 1e300).
LOG_T_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, float(np.log(1e300)), 1e4, 1e5, 1e6)
#: Tolerances of the accuracy study (the library's default is 1e-8), and of its reference run.
RTOLS = (1e-6, 1e-7, 1e-8, 1e-9, 1e-10)
REF_RTOL = 1e-11
#: scipy.integrate.solve_ivp methods compared (implicit ones get the analytic Hessian).
METHODS = ("LSODA", "BDF", "Radau", "DOP853", "RK45")


@lru_cache(maxsize=None)
def peers_data() -> al.AttentionData:
    """The peers' setup: n = 6, L = 8, d = 10 (seed 0)."""
    return al.make_generic_data()


@lru_cache(maxsize=None)
def _w_flow(**kw) -> al.Trajectory:
    data = peers_data()
    return al.gradient_flow(data, "W", np.zeros((data.d, data.d)), **kw)


@lru_cache(maxsize=None)
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


@lru_cache(maxsize=None)
def compute_accuracy() -> dict:
    """The K,Q flow (small random start, d_e = d) to t = 1e300 at each of :data:`RTOLS`, against a run at
    rtol = 1e-11: relative error of the raw parameters at each of the 200 saved times, and the cost.

    Returns
    -------
    dict
        ``log_t`` (m,); per rtol: ``err`` (m,), ``nfev``, ``njev``; ``ref_nfev``, ``ref_njev``.
    """
    data = peers_data()
    init = al.default_init(data, "KQ", 0.01, seed=0)
    ref = al.gradient_flow(data, "KQ", init, 1e300, rtol=REF_RTOL)
    out = {"log_t": ref.log_t, "ref_nfev": ref.nfev, "ref_njev": ref.njev}
    for rtol in RTOLS:
        tr = al.gradient_flow(data, "KQ", init, 1e300, rtol=rtol)
        out[rtol] = {"err": al.path_error(tr, ref), "nfev": tr.nfev, "njev": tr.njev}
    return out


@lru_cache(maxsize=None)
def compute_methods() -> dict:
    """The W-flow from 0 to t = 1e300 with each of :data:`METHODS` at rtol 1e-8: gradient and Hessian
    evaluations, and the largest relative path error against the LSODA run at rtol 1e-11."""
    data = peers_data()
    ref = _w_flow(t_end=1e300, rtol=REF_RTOL)
    out = {}
    for method in METHODS:
        tr = _w_flow(t_end=1e300, method=method)
        out[method] = {"nfev": tr.nfev, "njev": tr.njev, "err": float(al.path_error(tr, ref).max()),
                       "implicit": method in ("LSODA", "BDF", "Radau")}
    out["n_theta"] = data.d ** 2
    return out


def naive_vs_scaled_gradient() -> dict:
    """At ``W(t = 1e300)`` of the W-flow: the plain gradient (it underflows) and ``t`` times the gradient computed
    in log space (``log_scale = log t``), which is what the log-time flow integrates."""
    tr = _w_flow(t_end=1e300, method="LSODA")  # the same cached run as compute_methods()
    data, W, log_t = tr.data, tr.W[-1], float(tr.log_t[-1])
    return {"log_t": log_t, "naive": al.loss_grad(data, W), "scaled": al.loss_grad(data, W, log_scale=log_t),
            "W": W}


# -- figures ------------------------------------------------------------------------------------------------------

def fig_cost() -> Figure:
    """Left: margin against log t (it grows like log t). Right: the cost of reaching time t, for the flow and for
    gradient descent, as the number of digits of the count."""
    r = compute_cost()
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.0, height=3.7)
    keep = r["log_t"] >= 1.0
    x = r["log_t"][keep]
    ax.plot(x, np.maximum(r["margin"][keep], 1e-2), color=plots.COLORS["W"], label=r"margin $\mu(W(t))$, measured")
    ax.plot(x, x, **plots.THEORY_STYLE, label=r"$\ln t$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-1, 3e6)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"$\mu(W(t))$ (log scale; $0.01$ where $\leq 0$)")
    g = r["grid"]
    ax2.plot(g, np.log10(r["nfev"]), "o-", color=plots.COLORS["W"], label="gradient flow (attnlib): evaluations")
    ax2.plot(g, r["gd_log10_steps"], "s--", color=plots.COLORS["gd"], label=rf"GD, $\eta={LR:g}$: steps $t/\eta$")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel(r"$\ln t$ reached (log scale)")
    ax2.set_ylabel(r"digits of the count, $\log_{10}$ (log scale)")
    plots.finish(fig, legend=False)
    ax.legend(fontsize=8.5, loc="upper left")
    ax2.legend(fontsize=8.5, loc="upper left")
    return fig


def fig_accuracy(rtol: float = 1e-8) -> Figure:
    """Left: relative path error against the rtol = 1e-11 run, for every tolerance (``rtol`` highlighted). Right:
    gradient and Hessian evaluations against the tolerance."""
    if rtol not in RTOLS:
        raise ValueError(f"rtol must be one of {RTOLS}; got {rtol}")
    r = compute_accuracy()
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.0, height=3.7)
    keep = r["log_t"] > -np.inf
    lt = r["log_t"][keep]
    x = np.where(lt < 30, np.log1p(np.exp(np.minimum(lt, 30))), lt)  # ln(1 + t), = ln t for large t
    for tol in RTOLS:
        sel = tol == rtol
        ax.plot(x, np.maximum(r[tol]["err"][keep], 1e-16), color=plots.COLORS["KQ"] if sel else plots.COLORS["nopt"],
                lw=2.2 if sel else 0.9, alpha=1.0 if sel else 0.6, zorder=3 if sel else 2,
                label=rf"rtol $=10^{{{int(np.log10(tol))}}}$" if sel else None)
    ax.axhline(rtol, **plots.THEORY_STYLE, label="rtol")
    ax.axhline(1e-6, color=plots.COLORS["theory"], ls=":", lw=1.2, label=r"target $10^{-6}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-14, 1e-3)
    ax.set_xlabel(r"$\ln(1+t)$ (log scale; $=\ln t$ for large $t$; up to $t=10^{300}$)")
    ax.set_ylabel("relative error of $(K,Q)$ (log scale)")
    tols = np.array(RTOLS)
    ax2.plot(tols, [r[t]["nfev"] for t in RTOLS], "o-", color=plots.COLORS["KQ"], label="gradient evaluations")
    ax2.plot(tols, [r[t]["njev"] for t in RTOLS], "s--", color=plots.COLORS["theory"], label="Hessians")
    ax2.scatter([rtol], [r[rtol]["nfev"]], s=160, facecolor="none", edgecolor="black", zorder=5)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.invert_xaxis()
    ax2.set_xlabel("rtol (log scale, tighter to the right)")
    ax2.set_ylabel("count (log scale)")
    plots.finish(fig, legend=False)
    ax.legend(fontsize=8.5, loc="upper left")
    ax2.legend(fontsize=8.5, loc="center left")
    return fig


FIGURES = {
    "cost": fig_cost,
    "accuracy": fig_accuracy,
}
