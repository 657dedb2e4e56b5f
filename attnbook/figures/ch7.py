"""Chapter 7 — errata E1-E10 of the paper (arXiv v1), each with a numerical check, and open questions.

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.ch7`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments.ch7 import E9_EPS, E2Flows, compute_e2_flows, compute_e9
from . import by_name, compute_home

C = plots.COLORS


def fig_e2(r: E2Flows | None = None) -> Figure:
    """E2: with Assumptions 2 and 3 but no diagonal separability, the diagonal flow stalls at a finite point."""
    r = compute_e2_flows() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.6)
    for name, f, lab in (("W", r.W, r"$W$-flow (Assumption 1 holds)"),
                         ("xi", r.xi, r"$(\xi_k,\xi_q)$-flow (1-diag fails)")):
        x = f.log_t
        keep = x > -3
        col = C["W"] if name == "W" else C["xi"]
        ax.plot(x[keep], f.excess[keep], color=col, label=lab)
        ax2.plot(x[keep], f.norm[keep], color=col, label=lab)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    ax.set_ylim(1e-12, 1)
    ax.set_xlabel(r"$\ln t$ (symlog scale)")
    ax.set_ylabel(r"$\mathcal{L}-\mathcal{L}^*$ (log scale)")
    ax2.set_xscale("symlog", linthresh=1)
    ax2.set_xlabel(r"$\ln t$ (symlog scale)")
    ax2.set_ylabel(r"$\|W(t)\|_F$")
    xi_end = r.xi.norm[-1]
    ax2.annotate(r"Lemma 4.2 as printed says $\|\beta(t)\|\to\infty$;" + "\n" + rf"measured: stays at {xi_end:.2f}",
                 xy=(r.xi.log_t[-1], xi_end), xytext=(0.35, 0.55), textcoords="axes fraction", fontsize=8,
                 arrowprops={"arrowstyle": "->", "color": "#666666"})
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left")),
                                                     (ax2, dict(fontsize=8, loc="upper left"))])


def fig_e9(eps: float = 0.1) -> Figure:
    """E9: the V-free alignment gap along the aligned (K, Q)-flow when Assumption 2 fails by ``eps`` (and, for the
    highlighted ``eps``, the error with V held at its t = 0 value)."""
    fig, ax = plots.new_figure(width=6.4, height=3.6)
    floor = 1e-17
    for e in E9_EPS:
        r = compute_e9(e)
        x = r.log_t
        keep = x > -5
        hl = e == eps
        ax.plot(x[keep], np.maximum(r.gap_vfree[keep], floor), color=C["KQ"] if hl else C["context"],
                lw=2.2 if hl else 1.0, zorder=3 if hl else 2,
                label=rf"$\varepsilon={e:g}$: $V$-free gap" if hl else None)
    r = compute_e9(eps)
    keep = r.log_t > -5
    ax.plot(r.log_t[keep], np.maximum(r.err[keep], floor), color=C["W"], ls=":", lw=1.6,
            label=rf"$\varepsilon={eps:g}$: error with $V$ fixed at $t=0$")
    ax.axhline(floor, **plots.THEORY_STYLE, label="Lemma 5.1: 0 (plotted at $10^{-17}$)")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, 1)
    ax.set_xlim(-5, r.log_t[-1] * 1.2)
    ax.set_xlabel(r"$\ln t$ (symlog scale)")
    ax.set_ylabel("alignment gap (log scale)")
    ax.set_title(rf"$\varepsilon={eps:g}$: Assumption 2 {'holds' if r.holds['2'] else 'fails'}, "
                 rf"4 {'holds' if r.holds['4'] else 'fails'}; nuclear-norm gap {r.nuc_gap:.0e}, "
                 rf"$m/\sqrt{{a_1a_2}}={r.family:.4f}$", fontsize=9.5)
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8.5, loc="center right"))])


FIGURES = by_name(fig_e2, fig_e9)


__getattr__ = compute_home("ch7")  # the chapter's computations keep their old home here
