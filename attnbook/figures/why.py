"""Figures of the "why" sections (chapters 2, 3): pure functions result -> Figure, plus the ``FIGURES`` registry.

The results come from :mod:`attnbook.experiments.why`; nothing here runs a flow or a solver.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments import why

C = plots.COLORS


def _logt_axis(ax, label: str = r"$\ln t$ (log scale)") -> None:
    ax.set_xscale("log")
    ax.set_xlabel(label)


def fig_sample_weights(r: why.SampleWeights | None = None) -> Figure:
    """Pair weights ``c_il / sum|c|`` along the W-flow (support pairs coloured, the others grey) against the
    Frobenius SVM's normalised duals (dashed); right: the weight left on non-support pairs and
    ``1 - cos(-grad L, W_F)``."""
    r = why.sample_weights() if r is None else r
    x, w, lam, act = r.log_t, np.abs(r.weights), r.lam, r.active
    keep = x >= 0.5
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9)
    for k in np.flatnonzero(~act):
        ax.plot(x[keep], w[keep, k], color=C["nopt"], lw=0.7, alpha=0.85,
                label="non-support pairs" if k == np.flatnonzero(~act)[0] else None)
    for n, k in enumerate(np.flatnonzero(act)):
        color = plots.PALETTE[("blue", "vermillion", "bluish_green", "orange", "reddish_purple")[n % 5]]
        ax.plot(x[keep], w[keep, k], color=color, lw=1.3, label="support pairs" if n == 0 else None)
        ax.axhline(lam[k], color=color, ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_ylim(1e-12, 1.0)
    _logt_axis(ax)
    ax.set_ylabel(r"weight $|c_{il}|/\sum|c|$ (log scale)")
    ax.plot([], [], color=C["theory"], ls="--", lw=0.8, label=r"SVM duals $\lambda_{il}/\sum\lambda$")
    ok = x > 0
    ax2.plot(x[ok], r.nonsupport_mass[ok], color=C["nopt"], label="weight on non-support pairs")
    ax2.plot(x[ok], 1 - r.cos_grad_svm[ok], color=C["fro"], label=r"$1-\cos(-\nabla_W L,\ W_F)$")
    ax2.plot(x[ok], 1 - r.cos_W_svm[ok], color=C["fro"], ls=":", label=r"$1-\cos(W(t),\ W_F)$")
    ax2.set_yscale("log")
    _logt_axis(ax2)
    ax2.set_ylabel("(log scale)")
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left")),
                                                (ax2, dict(fontsize=8, loc="lower left"))])
    return fig


def fig_variational(l1: why.L1VariationalIdentity | None = None,
                    nuc: why.NuclearVariationalIdentity | None = None) -> Figure:
    """Left: the cost of the factorizations ``(e^u xi_k*, e^-u xi_q*)`` of the l1-SVM solution, minimal at the
    balanced ``u = 0`` where it equals ``||beta||_1``. Right: the costs of 2,000 random factorizations
    ``(K* R, Q* R^{-T})`` of the nuclear-SVM solution, all at least ``||W||_*``."""
    l1 = why.variational_l1() if l1 is None else l1
    nuc = why.variational_nuclear() if nuc is None else nuc
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.6)
    ax.plot(l1.u_grid, l1.cost_grid, color=C["xi"], label=r"$\frac{1}{2}(\|e^{u}\xi_k^*\|^2+\|e^{-u}\xi_q^*\|^2)$")
    ax.axhline(l1.l1, **plots.THEORY_STYLE, label=r"$\|\beta\|_1$")
    ax.plot([0.0], [l1.cost], "o", color=C["xi"], label=r"balanced $\xi_k^*=\xi_q^*=\sqrt{\beta}$")
    ax.set_xlabel(r"imbalance $u$ (the same on every coordinate)")
    ax.set_ylabel("factor cost")
    costs = np.asarray(nuc.random_costs)
    ax2.hist(costs, bins=np.geomspace(costs.min() * 0.999, costs.max(), 40), color=C["KQ"], alpha=0.7,
             label=r"$\frac{1}{2}(\|K^*R\|_F^2+\|Q^*R^{-\top}\|_F^2)$, random $R$")
    ax2.axvline(nuc.nuc, **plots.THEORY_STYLE, label=r"$\|W\|_*$")
    ax2.set_xscale("log")
    ax2.set_xlabel("factor cost (log scale)")
    ax2.set_ylabel("count")
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="upper center")),
                                                (ax2, dict(fontsize=8, loc="upper right"))])
    return fig


def _weight_decay_gaps_panel(ax, r: why.WeightDecayVsFlow, note_size: float = 7, every: int = 1) -> None:
    """Nuclear- and Frobenius-norm gaps of ``W/mu`` against the margin: the (K, Q)-flow without weight decay (lines)
    and the weight-decay minimisers (markers; every ``every``-th named by its ``lambda`` in ``note_size``-pt
    text)."""
    ok = r.wd_margin > 0.5
    fl = r.flow_margin > 0.5
    ax.plot(r.flow_margin[fl], r.flow_nuc_gap[fl], color=C["KQ"], label=r"flow: $\|\widehat W\|_*$ gap")
    ax.plot(r.flow_margin[fl], r.flow_fro_gap[fl], color=C["KQ"], ls=":", label=r"flow: $\|\widehat W\|_F$ gap")
    ax.plot(r.wd_margin[ok], r.wd_nuc_gap[ok], "s", color=C["nuc"], mfc="white", mew=1.5,
            label=r"weight decay: $\|\widehat W\|_*$ gap")
    ax.plot(r.wd_margin[ok], r.wd_fro_gap[ok], "^", color=C["fro"], mfc="white", mew=1.5,
            label=r"weight decay: $\|\widehat W\|_F$ gap")
    for m, lam, g in list(zip(r.wd_margin[ok], r.lambdas[ok], r.wd_nuc_gap[ok]))[::every]:
        ax.annotate(rf"$\lambda=10^{{{int(np.round(np.log10(lam)))}}}$", (m, g), xytext=(0, -11),
                    textcoords="offset points", fontsize=note_size, ha="center", va="top", color="#555555")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"margin $\mu(W)$ (log scale)")
    ax.set_ylabel("relative norm gap to the SVM (log scale)")


def fig_weight_decay(r: why.WeightDecayVsFlow | None = None) -> Figure:
    """Explicit vs implicit bias against the margin: the weight-decay minimisers (markers, one per ``lambda``) and
    the (K, Q)-flow without weight decay (line). Left: nuclear- and Frobenius-norm gaps of ``W/mu``. Right: how far
    the penalty ``(||K||^2+||Q||^2)/2`` is from ``||KQ^T||_*``."""
    r = why.weight_decay_vs_flow() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9)
    ok = r.wd_margin > 0.5
    fl = r.flow_margin > 0.5
    _weight_decay_gaps_panel(ax, r)
    ax2.plot(r.flow_margin[fl], np.abs(r.flow_penalty_gap[fl]), color=C["KQ"], label="flow, no weight decay")
    ax2.plot(r.wd_margin[ok], np.maximum(np.abs(r.wd_penalty_gap[ok]), 1e-16), "s", color=C["nuc"],
             mfc="white", mew=1.5, label="weight-decay minimisers")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_ylim(1e-17, 1e-3)
    ax2.set_xlabel(r"margin $\mu(W)$ (log scale)")
    ax2.set_ylabel(r"$\frac{\frac{1}{2}(\|K\|_F^2+\|Q\|_F^2)}{\|KQ^\top\|_*}-1$ (log scale)")
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left")),
                                                (ax2, dict(fontsize=8, loc="center right"))])
    return fig


# -- slide versions (tools/build_slides.py): one panel each, text at the book's size on a smaller figure ----------


def slide_weight_decay_gaps(r: why.WeightDecayVsFlow | None = None) -> Figure:
    """Slide version of :func:`fig_weight_decay`, left panel: the norm gaps against the margin, the legend beside the
    panel, every other ``lambda`` named (all six run together at 18-px text)."""
    fig, ax = plots.new_figure(width=6.0, height=2.75)
    _weight_decay_gaps_panel(ax, why.weight_decay_vs_flow() if r is None else r, note_size=9, every=2)
    ax.set_ylabel("gap to the SVM (log scale)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


#: Slide versions of the figures above that do not fit a slide as drawn (``attnbook.figures.slide_registry``).
SLIDE_FIGURES = {"weight_decay.gaps": slide_weight_decay_gaps}


FIGURES = {"sample_weights": fig_sample_weights, "variational": fig_variational, "weight_decay": fig_weight_decay}
