"""Figures of the appendix "How the flows are computed": cost, time change, solvers and accuracy of
:func:`attnlib.gradient_flow`.

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.numerics`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments.numerics import LR, RTOLS, FlowCost, compute_accuracy, compute_cost
from . import by_name, compute_home


def fig_cost(r: FlowCost | None = None) -> Figure:
    """Left: margin against log t (it grows like log t). Right: the cost of reaching time t, for the flow and for
    gradient descent, as the number of digits of the count."""
    r = compute_cost() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.0, height=3.7)
    keep = r.log_t >= 1.0
    x = r.log_t[keep]
    ax.plot(x, np.maximum(r.margin[keep], 1e-2), color=plots.COLORS["W"], label=r"margin $\mu(W(t))$, measured")
    ax.plot(x, x, **plots.THEORY_STYLE, label=r"$\ln t$")
    plots.label_axes(ax, r"$\ln t$ (log scale)", r"$\mu(W(t))$ (log scale; $0.01$ where $\leq 0$)", xscale="log",
                     yscale="log", ylim=(1e-1, 3e6))
    g = r.grid
    ax2.plot(g, np.log10(r.nfev), "o-", color=plots.COLORS["W"], label="gradient flow (attnlib): evaluations")
    ax2.plot(g, r.gd_log10_steps, "s--", color=plots.COLORS["gd"], label=rf"GD, $\eta={LR:g}$: steps $t/\eta$")
    plots.label_axes(ax2, r"$\ln t$ reached (log scale)", r"digits of the count, $\log_{10}$ (log scale)", xscale="log",
                     yscale="log")
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8.5, loc="upper left")),
                                                     (ax2, dict(fontsize=8.5, loc="upper left"))])


def fig_accuracy(rtol: float = 1e-8) -> Figure:
    """Left: relative path error against the rtol = 1e-11 run, for every tolerance (``rtol`` highlighted). Right:
    gradient and Hessian evaluations against the tolerance."""
    if rtol not in RTOLS:
        raise ValueError(f"rtol must be one of {RTOLS}; got {rtol}")
    r = compute_accuracy()
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.0, height=3.7)
    keep = r.log_t > -np.inf
    lt = r.log_t[keep]
    x = np.where(lt < 30, np.log1p(np.exp(np.minimum(lt, 30))), lt)  # ln(1 + t), = ln t for large t
    for tol in RTOLS:
        sel = tol == rtol
        ax.plot(x, np.maximum(r.runs[tol].err[keep], 1e-16), color=plots.COLORS["KQ"] if sel else plots.COLORS["nopt"],
                lw=2.2 if sel else 0.9, alpha=1.0, zorder=3 if sel else 2,
                label=rf"rtol $=10^{{{int(np.log10(tol))}}}$" if sel else None)
    ax.axhline(rtol, **plots.THEORY_STYLE, label="rtol")
    ax.axhline(1e-6, color=plots.COLORS["theory"], ls=":", lw=1.2, label=r"target $10^{-6}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-14, 1e-3)
    ax.set_xlabel(r"$\ln(1+t)$ (log scale; $=\ln t$ for large $t$; up to $t=10^{300}$)")
    ax.set_ylabel("relative error of $(K,Q)$ (log scale)")
    tols = np.array(RTOLS)
    ax2.plot(tols, [r.runs[t].nfev for t in RTOLS], "o-", color=plots.COLORS["KQ"], label="gradient evaluations")
    ax2.plot(tols, [r.runs[t].njev for t in RTOLS], "s--", color=plots.COLORS["theory"], label="Hessians")
    ax2.scatter([rtol], [r.runs[rtol].nfev], s=160, facecolor="none", edgecolor="black", zorder=5)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.invert_xaxis()
    ax2.set_xlabel("rtol (log scale, tighter to the right)")
    ax2.set_ylabel("count (log scale)")
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8.5, loc="upper left")),
                                                     (ax2, dict(fontsize=8.5, loc="center left"))])


FIGURES = by_name(fig_cost, fig_accuracy)


__getattr__ = compute_home("numerics")  # the chapter's computations keep their old home here
