"""Figures of the multi-seed studies of chapters 6 and 7 (:mod:`attnbook.experiments.studies`): pure drawing.

Each function takes the study's result (default: the study as the book runs it) and returns a finished figure.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from attnbook import plots
from attnbook.experiments import studies as st

__all__ = ["fig_kq_study", "fig_gd_steps", "fig_e9_certificate", "fig_accuracy_long", "FIGURES",
           "slide_gd_steps_demo", "slide_gd_steps_second", "slide_e9_alignment", "slide_e9_certificate",
           "SLIDE_FIGURES"]

C = plots.COLORS


def fig_kq_study(study: st.KQStudy | None = None) -> Figure:
    """Nuclear-norm gap of every ``(K, Q)`` run against ``ln t`` (median bold), and the fitted rates."""
    study = st.kq_study() if study is None else study
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9, gridspec_kw={"width_ratios": [2.2, 1]})
    floor = st.CERT_FLOOR
    for k, r in enumerate(study.runs):
        ax.plot(r.log_t, np.maximum(r.nuc_gap, floor / 3), color=C["KQ"], lw=0.7, alpha=0.75,
                label=r"one run (data seed $\times$ start)" if k == 0 else None)
    med = [v.median for v in study.summary().values()]
    ax.plot(study.log_t, np.maximum(med, floor / 3), "o-", color=plots.COLORS["theory"], lw=2.2, ms=4,
            label="median over the runs")
    ax.axhspan(floor / 3, floor, color="#DDDDDD", zorder=0, label="below the computation's accuracy")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"$\|\widehat W\|_*/\|W_*\|_*-1$ (log scale)")
    ax.axvline(1e6, color=C["context"], lw=0.8)
    ax.text(1.3e6, 0.3, "margin frame", fontsize=8, color="#666666")
    ax.set_ylim(floor / 3, 1)
    rates = np.sort(study.rates())
    ax2.plot(rates, np.arange(len(rates)), "o", color=C["KQ"], ms=4)
    ax2.axvline(np.median(rates), **plots.THEORY_STYLE, label=f"median {np.median(rates):.2f}")
    ax2.set_xlabel(r"fitted $p$: gap $\propto(\ln t)^p$, $\ln t\in[10^3,10^6]$")
    ax2.set_ylabel("runs, sorted")
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left")),
                                                (ax2, dict(fontsize=8, loc="lower right"))])
    return fig


def _gd_step_colors(study: st.GDStepStudy) -> dict:
    """Step size -> colour, the same in every panel of the book and on the slides."""
    return dict(zip(sorted({r.lr for r in study.runs}),
                    [plots.PALETTE[c] for c in ("sky_blue", "bluish_green", "orange", "vermillion")]))


def _gd_steps_panel(ax, study: st.GDStepStudy, seed: int, k: np.ndarray, title_size: float = 10) -> None:
    """One data seed of :func:`fig_gd_steps`: the fraction of starts recovered by step ``k``, one line per step size
    and loss (no legend)."""
    demo = st.GD_DATA_SEEDS[0]
    for j, (lr, col) in enumerate(_gd_step_colors(study).items()):
        for i, (loss, ls) in enumerate((("exp", "-"), ("logistic", "--"))):
            runs = study.select(lr, loss, seed)
            if not runs:
                continue
            kk = k[k <= runs[0].steps[-1]]
            lift = 0.009 * (2 * j + i - 3.5)  # lines that coincide (at 0 or 1) are drawn just apart
            ax.step(kk, study.recovered_fraction(lr, loss, seed, kk) + lift, where="post", color=col, ls=ls,
                    lw=1.8, marker="osD^"[j % 4], ms=4.5, markevery=(0.03 * j + 0.015 * i, 0.12),
                    markerfacecolor="white" if loss == "logistic" else col,
                    label=rf"$\eta={lr:g}$, {'exponential' if loss == 'exp' else 'logistic'}")
    ax.set_xscale("log")
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlabel("step $k$ (log scale)")
    only_exp = not any(r.loss != "exp" and r.data_seed == seed for r in study.runs)
    ax.set_title(f"demo family, data seed {seed}" + (" (the demo data)" if seed == demo else "")
                 + (", exponential loss" if only_exp else ""), fontsize=title_size)


def _gd_steps_k(study: st.GDStepStudy) -> np.ndarray:
    """The steps at which :func:`fig_gd_steps` reads the recovered fractions (400, log-spaced)."""
    return np.unique(np.geomspace(1, max(r.steps[-1] for r in study.runs), 400).astype(int))


def fig_gd_steps(study: st.GDStepStudy | None = None) -> Figure:
    """Gradient descent with large steps as a distribution: the fraction of perturbed starts that have recovered
    every optimal token (for good) by step ``k``, one panel per data seed, one colour and marker per step size,
    solid lines and filled markers for the exponential loss, dashed lines and open markers for the logistic one."""
    study = st.gd_step_study() if study is None else study
    demo = st.GD_DATA_SEEDS[0]
    seeds = sorted({r.data_seed for r in study.runs}, key=lambda s: (s != demo, s))  # the demo data first
    fig, axes = plots.new_figure(1, len(seeds), width=11.5, height=3.9, sharey=True)
    axes = np.atleast_1d(axes)
    k = _gd_steps_k(study)
    for ax, seed in zip(axes, seeds):
        _gd_steps_panel(ax, study, seed, k)
    axes[0].set_ylabel("fraction of starts recovered by step $k$")
    # one legend, right of the last panel, listing every line drawn anywhere (the first panel has them all)
    handles, labels = axes[0].get_legend_handles_labels()
    plots.finish(fig, legend=False, legends=[(axes[-1], dict(
        handles=handles, labels=labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
        title="step, loss", title_fontsize=8))])
    return fig


E9_FLOOR, E9_GAP_FLOOR = 1e-17, 1e-10  # where the plots put an exact 0, and the solver's accuracy on these data (~1e-11)


def _e9_alignment_panel(ax, paths: dict, eps: float, legend: dict) -> None:
    """The ``V``-free alignment gap of every tilt (``eps`` bold), with ``V`` fixed at ``t = 0`` for ``eps``."""
    for e, q in paths.items():
        hl = e == eps
        ax.plot(q.log_t, np.maximum(q.gap_vfree, E9_FLOOR), color=C["KQ"] if hl else C["context"],
                lw=2.2 if hl else 1.0, zorder=3 if hl else 2,
                label=rf"$\varepsilon={e:g}$: $V$-free gap" if hl else (r"other $\varepsilon$" if e == 0.0 else None))
    p = paths[eps]
    ax.plot(p.log_t, np.maximum(p.alignment, E9_FLOOR), color=C["W"], ls=":", lw=1.6, zorder=3,
            label=rf"$\varepsilon={eps:g}$: $V$ fixed at $t=0$")
    ax.axhline(E9_FLOOR, **plots.THEORY_STYLE, label="Lemma 5.1: 0 (plotted at $10^{-17}$)")
    plots.label_axes(ax, r"$\ln t$ (log scale)", "alignment gap (log scale)", xscale="log", yscale="log",
                     ylim=(E9_FLOOR / 3, 1))
    ax.legend(**legend)


def _e9_certificate_panel(ax, p: st.E9Path, legend: dict) -> None:
    """The nuclear-norm gap of the flow's direction and its distance to ``W°``, with ``1/ln t`` and the band below
    the solver's accuracy."""
    ax.plot(p.log_t, np.maximum(p.nuc_gap, E9_GAP_FLOOR), color=C["KQ"],
            label=r"nuclear-norm gap $\|\widehat W\|_*/\|W_*\|_*-1$")
    ax.plot(p.log_t, np.maximum(p.dist, E9_GAP_FLOOR), color=C["W"], ls="--",
            label=r"distance $\|\widehat W-W^\circ\|_F/\|W^\circ\|_F$")
    x = p.log_t[p.log_t >= 10]
    ax.plot(x, p.nuc_gap[np.flatnonzero(p.log_t >= 10)[0]] * 10 / x, **{**plots.THEORY_STYLE, "linewidth": 1.0},
            label=r"$\propto 1/\ln t$")
    ax.axhspan(E9_GAP_FLOOR / 2, 10 * E9_GAP_FLOOR, color="#DDDDDD", zorder=0, label="below the solver's accuracy")
    plots.label_axes(ax, r"$\ln t$ (log scale; margin frame past $10^6$)", "certificate, distance (log scale)",
                     xscale="log", yscale="log", ylim=(E9_GAP_FLOOR / 2, 10))
    ax.legend(**legend)


def fig_e9_certificate(eps: float = 0.5, paths: dict[float, st.E9Path] | None = None) -> Figure:
    """E9 for one ``eps``: the ``V``-free alignment gap (and, for ``eps``, the error with ``V`` fixed at ``t = 0``),
    the nuclear-norm certificate and the distance to ``W°``."""
    paths = st.e9_study() if paths is None else paths
    p = paths[eps]
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.8, layout="none")  # fixed margins below
    _e9_alignment_panel(ax, paths, eps, dict(fontsize=8, loc="lower left"))
    _e9_certificate_panel(ax2, p, dict(fontsize=8, loc="center right"))  # off the distance line
    ax2.set_title(rf"$\varepsilon={eps:g}$: off-diagonal $m/\sqrt{{a_1a_2}}={p.family[-1]:.4f}$ at "
                  rf"$\ln t=10^{{{np.log10(p.log_t[-1]):.0f}}}$", fontsize=9.5)
    plots.light_ticks(fig, left=0.07, wspace=0.22)  # chapter 7's slider redraws this figure
    return fig


def fig_accuracy_long(rtol: float = 1e-8, study: st.AccuracyStudy | None = None) -> Figure:
    """One tolerance of the long accuracy study: the parameters' relative error and the log-odds error of the
    attention weights against ``ln t`` up to ``1e6``, with ``rtol`` and ``rtol * ln t`` for reference."""
    study = st.accuracy_study() if study is None else study
    if rtol not in study.runs:
        raise ValueError(f"rtol must be one of {st.ACCURACY_RTOLS}; got {rtol!r}")
    r = study.runs[rtol]
    fig, ax = plots.new_figure(width=6.4, height=3.8, layout="none")  # margins: light_ticks below
    ax.plot(r.log_t, r.param_err, color=C["KQ"], label=r"relative error of $(K,Q)$")
    ax.plot(r.log_t, r.logodds_err, color=C["W"], label=r"error of $\ln\sigma_{il}$ (log attention)")
    ax.axhline(rtol, **plots.THEORY_STYLE, label="rtol")
    ax.plot(r.log_t, rtol * r.log_t, color=plots.COLORS["theory"], ls=":", lw=1.2, label=r"rtol $\times\ln t$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-12, 10)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel("error against rtol $=10^{-11}$ (log scale)")
    ax.set_title(rf"rtol $=10^{{{int(round(np.log10(rtol)))}}}$: {r.nfev:,} gradient evaluations to "
                 r"$\ln t=10^6$", fontsize=9.5)
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="upper left"))])
    plots.light_ticks(fig, left=0.13, bottom=0.13, top=0.91)  # the appendix's slider redraws this figure
    return fig


# -- slide versions (tools/build_slides.py): one panel each, text at the book's size on a smaller figure ----------

def _slide_gd_steps(study: st.GDStepStudy | None, seed: int) -> Figure:
    """One data seed of :func:`fig_gd_steps` on a slide: the legend names the step sizes (colour, marker) and the
    losses (solid, dashed) separately."""
    from matplotlib.lines import Line2D

    study = st.gd_step_study() if study is None else study
    fig, ax = plots.new_figure(width=7.4, height=3.3)
    _gd_steps_panel(ax, study, seed, _gd_steps_k(study), title_size=11)
    ax.set_ylabel("starts recovered")
    handles = [Line2D([], [], color=col, marker="osD^"[j % 4], ms=6, label=rf"$\eta={lr:g}$")
               for j, (lr, col) in enumerate(_gd_step_colors(study).items())]
    if any(r.loss == "logistic" and r.data_seed == seed for r in study.runs):
        handles += [Line2D([], [], color="#333333", ls="-", label="exponential"),
                    Line2D([], [], color="#333333", ls="--", marker="o", mfc="white", label="logistic")]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def slide_gd_steps_demo(study: st.GDStepStudy | None = None) -> Figure:
    """Slide version of :func:`fig_gd_steps`, the demo data (both losses)."""
    return _slide_gd_steps(study, st.GD_DATA_SEEDS[0])


def slide_gd_steps_second(study: st.GDStepStudy | None = None) -> Figure:
    """Slide version of :func:`fig_gd_steps`, the second data set of the family (exponential loss)."""
    return _slide_gd_steps(study, st.GD_DATA_SEEDS[1])


def slide_e9_alignment(eps: float = 0.5, paths: dict[float, st.E9Path] | None = None) -> Figure:
    """Slide version of :func:`fig_e9_certificate`, left panel: the alignment gap of every tilt."""
    paths = st.e9_study() if paths is None else paths
    fig, ax = plots.new_figure(width=7.6, height=3.3)
    _e9_alignment_panel(ax, paths, eps, dict(loc="center left", bbox_to_anchor=(1.01, 0.5)))
    ax.get_legend().get_texts()[-1].set_text("Lemma 5.1: 0\n(plotted at $10^{-17}$)")
    return fig


def slide_e9_certificate(eps: float = 0.5, paths: dict[float, st.E9Path] | None = None) -> Figure:
    """Slide version of :func:`fig_e9_certificate`, right panel: the nuclear-norm gap falls to the solver's accuracy
    while the distance to ``W°`` levels off."""
    paths = st.e9_study() if paths is None else paths
    fig, ax = plots.new_figure(width=7.6, height=3.3)
    _e9_certificate_panel(ax, paths[eps], dict(loc="center left", bbox_to_anchor=(1.01, 0.5)))
    ax.set_ylabel("gap, distance (log scale)")
    return fig


#: Slide versions of the figures above that do not fit a slide as drawn (``attnbook.figures.slide_registry``).
SLIDE_FIGURES = {"gd_steps.demo": slide_gd_steps_demo, "gd_steps.second": slide_gd_steps_second,
                 "e9_certificate.alignment": slide_e9_alignment, "e9_certificate.certificate": slide_e9_certificate}


FIGURES = {"kq_study": fig_kq_study, "gd_steps": fig_gd_steps, "e9_certificate": fig_e9_certificate,
           "accuracy_long": fig_accuracy_long}
