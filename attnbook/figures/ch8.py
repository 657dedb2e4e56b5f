"""Figures of chapter 8, "The research around the paper": pure functions result -> Figure, and ``FIGURES``.

The results come from :mod:`attnbook.experiments.ch8`; nothing here runs a flow or a solver.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments import ch8

C = plots.COLORS
_SCALE_COLORS = ("reddish_purple", "vermillion", "orange", "bluish_green", "blue")


def _scale_color(j: int) -> str:
    return plots.PALETTE[_SCALE_COLORS[j % len(_SCALE_COLORS)]]


def fig_init_scale(r: ch8.InitScaleStudy | None = None) -> Figure:
    """Distance of ``beta/mu`` to the l1 SVM (left) and to the l2 SVM (right) against ``ln mu``, one curve per
    initial scale ``omega_0``; markers where the direction locks on to l1 (distance < 1e-2 from then on)."""
    r = ch8.init_scale() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9, sharex=True)
    for j, (om, run) in enumerate(r.runs.items()):
        ok = run.margin > 1.0
        x = np.log(run.margin[ok])
        col = _scale_color(j)
        ax.plot(x, run.dist_l1[ok], color=col, label=rf"$\omega_0={om:g}$")
        ax2.plot(x, run.dist_l2[ok], color=col, label=rf"$\omega_0={om:g}$")
        if np.isfinite(run.lock_log_mu):
            ax.plot([run.lock_log_mu], [ch8.LOCK_TOL], "o", color=col, mfc="white", mew=1.5)
    ax.axhline(ch8.LOCK_TOL, color=plots.COLORS["context"], lw=0.8, ls=":")
    for a, name in ((ax, r"$\ell_1$"), (ax2, r"$\ell_2$")):
        a.set_yscale("log")
        a.set_xlabel(r"$\ln\mu(\beta(t))$")
        a.set_ylabel(rf"distance of $\beta/\mu$ to the {name}-SVM (log scale)")
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left"))])
    return fig


def fig_saddles(r: ch8.InitScaleStudy | None = None, omega0: float = 0.03) -> Figure:
    """Saddle to saddle: the coordinates ``|beta_j(t)|`` (left, log scale) and ``beta_j/mu`` (right) of the flow
    from a small ``omega_0``, against the l1-SVM solution (dashed)."""
    r = ch8.init_scale() if r is None else r
    run = r.runs[omega0]
    x = run.log_t
    keep = x > 0.01
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9)
    for j in range(run.beta.shape[1]):
        col = plots.PALETTE[("blue", "vermillion", "bluish_green", "orange")[j % 4]]
        ax.plot(x[keep], np.abs(run.beta[keep, j]), color=col, label=rf"$|\beta_{j + 1}|$")
        ax2.plot(x[keep], run.bhat[keep, j], color=col, label=rf"$\beta_{j + 1}/\mu$")
        ax2.axhline(r.l1[j], color=col, ls="--", lw=0.9)
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"$|\beta_j(t)|$ (log scale)")
    ax2.set_xscale("log")
    ax2.set_xlabel(r"$\ln t$ (log scale)")
    ax2.set_ylabel(r"$\beta_j/\mu$ (dashed: $\ell_1$-SVM)")
    ax2.set_ylim(-0.2, 1.6)
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="upper left")),
                                                (ax2, dict(fontsize=8, loc="center left"))])
    return fig


def fig_mirror(r: ch8.MirrorDescentStudy | None = None) -> Figure:
    """l_p mirror descent: the relative distance of ``W_k/mu`` to its own l_p-SVM (solid) and to the other
    ``p``'s SVMs (dotted), per iteration."""
    r = ch8.mirror() if r is None else r
    fig, ax = plots.new_figure(1, 1, width=6.4, height=3.9)
    cols = {1.5: plots.PALETTE["vermillion"], 2.0: plots.PALETTE["blue"], 3.0: plots.PALETTE["bluish_green"]}
    for p, run in r.runs.items():
        k = run.k
        ok = k > 0
        for q, dist in run.dist.items():
            ax.plot(k[ok], dist[ok], color=cols.get(p, "#555555"), ls="-" if q == p else ":",
                    lw=1.8 if q == p else 1.0,
                    label=rf"$p={p:g}$ vs its $\ell_{{{p:g}}}$-SVM" if q == p else None)
    ax.plot([], [], color="#555555", ls=":", lw=1.0, label="vs the other SVMs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration $k$ (log scale)")
    ax.set_ylabel(r"relative distance of $W_k/\mu$ (log scale)")
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left"))])
    return fig


FIGURES = {"init_scale": fig_init_scale, "saddles": fig_saddles, "mirror": fig_mirror}
