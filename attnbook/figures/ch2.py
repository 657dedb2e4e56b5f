"""Chapter 2, "One matrix W: the Frobenius bias": gradient flow on the combined W over many seeds of Tarzanagh et al.'s
setup (n=6, L=8, d=10, unit-norm Gaussian tokens), gradient flow vs (normalised) gradient descent, and the
singular values of the limit.

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.ch2`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments.ch2 import (
    GD_LABELS,
    TARZANAGH_SETUP,
    WIDGET_SHAPES,
    GDComparison,
    SeedSummary,
    SeedSweep,
    compute_gd_comparison,
    compute_seed_sweep,
    parse_shape,
    seed_summary,
    selection_check,
)
from ..plots import log10_axis
from . import by_name, compute_home


def _band(ax, x, Y, color, label):
    """Median line and min-max band of the rows of ``Y`` (S, m)."""
    ax.fill_between(x, np.nanmin(Y, axis=0), np.nanmax(Y, axis=0), color=color, alpha=0.25, lw=0)
    ax.plot(x, np.nanmedian(Y, axis=0), color=color, label=label)


def fig_seed_sweep(res: SeedSweep | None = None) -> Figure:
    """Left: seeds that reach the optimal token selection, median and min-max band of the cosine with the
    Frobenius (-> 1, dashed) and the nuclear SVM solution. Right: the seeds that settle on a locally optimal
    selection, one line each."""
    res = compute_seed_sweep() if res is None else res
    x = res.log10_t
    ok = np.isfinite(x) & (x >= -2)
    glob, loc = ~res.local, res.local
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.5, height=3.7, sharey=True)
    _band(ax1, x[ok], res.cos_fro[glob][:, ok], plots.COLORS["fro"], r"cosine with $W_F$-SVM")
    _band(ax1, x[ok], res.cos_nuc[glob][:, ok], plots.COLORS["nuc"], r"cosine with $W_*$-SVM")
    ax1.set_title(f"{glob.sum()} of {len(glob)} seeds: optimal tokens selected", fontsize=10)
    for k in np.flatnonzero(loc):
        ax2.plot(x[ok], res.cos_fro[k, ok], **plots.series_style("fro"), lw=1.2, alpha=0.8,
                 label=r"cosine with $W_F$-SVM")
        ax2.plot(x[ok], res.cos_nuc[k, ok], **plots.series_style("nuc"), lw=1.2, alpha=0.8,
                 label=r"cosine with $W_*$-SVM")
    ax2.set_title(f"{loc.sum()} of {len(loc)} seeds: a locally optimal selection", fontsize=10)
    for ax in (ax1, ax2):
        ax.axhline(1.0, **plots.THEORY_STYLE, label="prediction: 1")
        ax.set_xlabel("time $t$ (log scale)")
        log10_axis(ax)
        ax.legend(loc="lower right", fontsize=8)
    ax1.set_ylabel(r"cosine of $W(t)$ with the SVM solution")
    ax1.set_ylim(0.0, 1.05)
    plots.finish(fig, legend_loc="lower right")
    return fig


GD_COLORS = {"GF": plots.COLORS["W"], "NGD": plots.COLORS["ngd"], "GD": plots.COLORS["gd"]}
GD_STYLES = {"GF": {"lw": 5, "alpha": 0.7}, "NGD": {"lw": 2}, "GD": {"lw": 1.5, "linestyle": "--"}}


def fig_gd_comparison(res: GDComparison | None = None) -> Figure:
    """Left: cosine with the Frobenius SVM solution against the margin reached, for the three methods. Middle:
    margin against gradient evaluations (the flow: its total budget, one point). Right: margin against the
    ``ln t`` of the gradient-flow time each iterate corresponds to (plain GD: ``t = lr * k``; normalised GD: the sum
    of its time steps ``lr / ||grad L||``), where the three lie on the flow's one curve; dots mark where each stops
    after the same budget."""
    res = compute_gd_comparison() if res is None else res
    fig, (ax1, ax2, ax3) = plots.new_figure(1, 3, width=11.5, height=3.6)
    for name, r in res.runs:
        ok = r.margin > 0
        ax1.plot(np.log10(r.margin[ok]), 1 - r.cos_fro[ok], color=GD_COLORS[name], label=GD_LABELS[name],
                 **GD_STYLES[name])
        if name == "GF":
            ax2.scatter([np.log10(res.budget)], [np.log10(r.margin[-1])], marker="*", s=180,
                        color=GD_COLORS[name], edgecolor="black", zorder=5, label=GD_LABELS[name] + " (total)")
        else:
            ev = r.evals > 0
            pos = ev & ok
            ax2.plot(np.log10(r.evals[pos]), np.log10(r.margin[pos]), color=GD_COLORS[name],
                     label=GD_LABELS[name], **GD_STYLES[name])
        late = ok & np.isfinite(r.log_t_flow) & (r.log_t_flow > 0.5)
        ax3.plot(np.log10(r.log_t_flow[late]), np.log10(r.margin[late]), color=GD_COLORS[name],
                 label=GD_LABELS[name], **GD_STYLES[name])
        ax3.plot([np.log10(r.log_t_flow[-1])], [np.log10(r.margin[-1])], marker="o", ms=7,
                 color=GD_COLORS[name], markeredgecolor="black", linestyle="none", zorder=6)
    ax1.set_yscale("log")
    ax1.set_xlabel(r"margin $\mu(W)$ (log scale)")
    ax1.set_ylabel(r"$1-\cos(W, W_F)$ (log scale)")
    log10_axis(ax1)
    ax1.legend(loc="lower left", fontsize=8)
    ax2.set_xlabel("gradient evaluations (log scale)")
    ax2.set_ylabel(r"margin $\mu(W)$ (log scale)")
    log10_axis(ax2, "x")
    log10_axis(ax2, "y")
    ax2.legend(loc="upper left", fontsize=8)
    ax3.set_xlabel(r"$\ln t$ of the gradient-flow time (log scale)")
    ax3.set_ylabel(r"margin $\mu(W)$ (log scale)")
    log10_axis(ax3, "x")
    log10_axis(ax3, "y")
    ax3.legend(loc="lower right", fontsize=8)
    return fig


def _kind(seed: int, n: int, L: int, d: int) -> str:
    """How to name a non-optimal selection: "locally optimal" only when :func:`selection_check` confirms it."""
    return "locally optimal" if selection_check(seed, n, L, d).locally_optimal else "not locally optimal"


def _draw_sv(ax, s: SeedSummary, title: str) -> None:
    k = np.arange(1, len(s.sv_fro) + 1)
    ax.plot(k, s.sv_fro, color=plots.COLORS["fro"], linestyle="--", marker="s", mfc="none", ms=8,
            label=r"$W_F$-SVM solution")
    ax.plot(k, s.sv_nuc, color=plots.COLORS["nuc"], linestyle="--", marker="D", mfc="none", ms=8,
            label=r"$W_*$-SVM solution")
    ax.plot(k, s.sv_limit, color="black", linestyle="none", marker="o", ms=5,
            label=r"flow: $W(t)/\mu(W(t))$" if s.margin > 0 else r"flow: $W(t)$, scaled")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_ylim(0, None)
    ax.set_xticks(k)
    ax.set_xlabel("index $k$")
    ax.set_ylabel(r"singular value $s_k$")
    ax.set_title(title, fontsize=10)


def fig_singular_values(seeds: tuple[int, int] | None = None) -> Figure:
    """Singular values at ``t = 1e200`` beside those of the two SVM solutions: a seed that reaches the optimal
    selection (left) and one that does not (right)."""
    sweep = compute_seed_sweep()
    if seeds is None:
        good = int(sweep.seeds[~sweep.local][0])
        bad = int(sweep.seeds[sweep.local][0]) if sweep.local.any() else good
        seeds = (good, bad)
    fig, axes = plots.new_figure(1, 2, width=9.5, height=3.6, sharey=True)
    for ax, seed in zip(axes, seeds):
        s = seed_summary(seed, *TARZANAGH_SETUP)
        what = "optimal selection" if not s.local else f"{_kind(seed, *TARZANAGH_SETUP)} ({s.wrong} wrong)"
        _draw_sv(ax, s, f"seed {seed}: {what}")
    axes[0].legend(loc="lower left", fontsize=8)
    return fig


def fig_peers_widget(seed: int = 0, shape: str = WIDGET_SHAPES[0]) -> Figure:
    """Cosines along the flow (left) and singular values of the limit (right) for one seed and data size."""
    n, L, d = parse_shape(shape)
    s = seed_summary(seed, n, L, d)
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.5, height=3.5, layout="none")  # margins: light_ticks below
    x = s.log10_t
    ok = np.isfinite(x) & (x >= -2)
    ax1.plot(x[ok], s.cos_fro[ok], **plots.series_style("fro"), label=r"cosine with $W_F$-SVM")
    ax1.plot(x[ok], s.cos_nuc[ok], **plots.series_style("nuc"), label=r"cosine with $W_*$-SVM")
    ax1.axhline(1.0, **plots.THEORY_STYLE, label="prediction: 1")
    ax1.set_ylim(0.0, 1.05)
    ax1.set_xlabel("time $t$ (log scale)")
    ax1.set_ylabel("cosine")
    log10_axis(ax1)
    ax1.legend(loc="lower right", fontsize=8)
    status = ("optimal tokens selected" if not s.local
              else f"{_kind(seed, n, L, d)}: {s.wrong} sample(s) select a wrong token")
    ax1.set_title(f"{shape}, seed {seed}: {status}", fontsize=9)
    _draw_sv(ax2, s, f"final cosines: $W_F$ {s.cos_fro[-1]:.4f}, $W_*$ {s.cos_nuc[-1]:.3f}")
    ax2.legend(loc="upper right", fontsize=8)
    plots.light_ticks(fig, bottom=0.15)  # the sliders redraw this figure
    return fig


FIGURES = by_name(fig_seed_sweep, fig_gd_comparison, fig_singular_values, fig_peers_widget)


__getattr__ = compute_home("ch2")  # the chapter's computations keep their old home here
