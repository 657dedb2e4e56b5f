"""Figures of chapter 8, "The research around the paper": pure functions result -> Figure, and ``FIGURES``.

The results come from :mod:`attnbook.experiments.ch8`; nothing here runs a flow or a solver.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments import ch8
from ..experiments import optimizers as opt

C = plots.COLORS
_SCALE_COLORS = ("reddish_purple", "vermillion", "orange", "bluish_green", "blue")


def _scale_color(j: int) -> str:
    return plots.PALETTE[_SCALE_COLORS[j % len(_SCALE_COLORS)]]


#: The right end of the init-scale figure's ln mu axis (past the last lock-on, omega_0 = 0.03 near 18).
INIT_SCALE_LOG_MU_MAX = 22.0
#: The right end of the saddle figure's ln t axis (past omega_0 = 0.03's lock-on near ln t = 6e7).
SADDLE_LOG_T_MAX = 1e9


def _drawn(run) -> tuple[np.ndarray, np.ndarray]:
    """``ln mu`` of the saved times the initial-scale figure draws (``mu > 1``, ``ln mu <= INIT_SCALE_LOG_MU_MAX``)
    and their indices into the run's arrays."""
    idx = np.flatnonzero(run.margin > 1.0)
    x = np.log(run.margin[idx])
    keep = x <= INIT_SCALE_LOG_MU_MAX
    return x[keep], idx[keep]


def _init_scale_l1_panel(ax, r: ch8.InitScaleStudy) -> None:
    """Distance of ``beta/mu`` to the l1 SVM against ``ln mu``, one curve per ``omega_0`` (unlabelled), lock-on
    circles and the predicted rate after the last lock-on (labelled)."""
    for j, run in enumerate(r.runs.values()):
        x, i = _drawn(run)
        ax.plot(x, run.dist_l1[i], color=_scale_color(j))
        if run.locked and run.lock_log_mu <= INIT_SCALE_LOG_MU_MAX:
            ax.plot([run.lock_log_mu], [ch8.LOCK_TOL], "o", color=_scale_color(j), mfc="white", mew=1.5)
    ax.axhline(ch8.LOCK_TOL, color=plots.COLORS["context"], lw=0.8, ls=":")
    rate = ch8.lock_on_rate()
    last = list(r.runs.values())[-1]  # the largest scale: its distance is the off-support coordinate's
    if last.locked:
        xr = np.linspace(last.lock_log_mu, INIT_SCALE_LOG_MU_MAX, 20)
        ax.plot(xr, 3 * ch8.LOCK_TOL * np.exp(rate.predicted * (xr - last.lock_log_mu)), **plots.THEORY_STYLE,
                label=rf"$\propto\mu^{{(B\lambda^*)_{rate.coord + 1}-1}}=\mu^{{{rate.predicted:.3f}}}$")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-6)
    ax.set_xlabel(r"$\ln\mu(\beta(t))$")
    ax.set_title(r"to the $\ell_1$-SVM", fontsize=10)


def _init_scale_l2_panel(ax, r: ch8.InitScaleStudy) -> None:
    """Distance of ``beta/mu`` to the l2 SVM against ``ln mu``, one labelled curve per ``omega_0``."""
    for j, (om, run) in enumerate(r.runs.items()):
        x, i = _drawn(run)
        ax.plot(x, run.dist_l2[i], color=_scale_color(j), label=rf"$\omega_0={om:g}$")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\ln\mu(\beta(t))$")
    ax.set_title(r"to the $\ell_2$-SVM", fontsize=10)


def fig_init_scale(r: ch8.InitScaleStudy | None = None) -> Figure:
    """Distance of ``beta/mu`` to the l1 SVM (left) and to the l2 SVM (right) against ``ln mu``, one curve per
    initial scale ``omega_0``; circles where the direction locks on to l1 (chapter 3's lock-on: distance below
    ``LOCK_TOL`` for good)."""
    r = ch8.init_scale() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9, sharex=True)
    _init_scale_l1_panel(ax, r)
    _init_scale_l2_panel(ax2, r)
    for a in (ax, ax2):
        a.set_ylabel(r"distance of $\beta/\mu$ (log scale)")
    plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left")),
                                             (ax2, dict(fontsize=8, loc="lower right"))])
    return fig


def fig_saddles(r: ch8.InitScaleStudy | None = None, omega0: float = 0.03) -> Figure:
    """Saddle to saddle: the coordinates ``|beta_j(t)|`` (left, log scale) and ``beta_j/mu`` (right) of the flow
    from a small ``omega_0`` up to ``ln t = SADDLE_LOG_T_MAX``, against the l1-SVM solution (dashed); the dotted
    vertical line is the lock-on."""
    r = ch8.init_scale() if r is None else r
    run = r.runs[omega0]
    x = run.log_t
    keep = (x > 0.01) & (x <= SADDLE_LOG_T_MAX)
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9)
    for j in range(run.beta.shape[1]):
        col = plots.PALETTE[("blue", "vermillion", "bluish_green", "orange")[j % 4]]
        ax.plot(x[keep], np.abs(run.beta[keep, j]), color=col, label=rf"$|\beta_{j + 1}|$")
        ax2.plot(x[keep], run.bhat[keep, j], color=col, label=rf"$\beta_{j + 1}/\mu$")
        ax2.axhline(r.l1[j], color=col, ls="--", lw=0.9)
    if run.locked and run.lock_log_t <= SADDLE_LOG_T_MAX:
        for a in (ax, ax2):
            a.axvline(run.lock_log_t, color=plots.COLORS["context"], lw=0.9, ls=":")
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


_METHOD_COLORS = {"ngd": "blue", "sign": "orange", "adam": "reddish_purple", "spectral": "bluish_green",
                  "nuclear": "vermillion"}
_METHOD_MARKERS = {"ngd": "o", "sign": "^", "adam": "D", "spectral": "s", "nuclear": "v"}
_NORM_LABELS = {"fro": "Frobenius", "nuc": "nuclear", "spectral": "spectral", "max": "max-norm"}
_PARAM_LABELS = {"W": "on $W$", "KQ": "on $(K, Q)$"}


def _gap_heatmap(ax, r: opt.OptimizerStudy, param: str, size: float = 8) -> object:
    """Median final norm gap per (method, norm); solid box: the norm most runs end closest to, dashed: predicted.
    Cell values and ticks in ``size``-pt text, the runs without a margin one point smaller, the title two larger."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    med = np.array([[np.nanmedian(r.gap[r.runs(param, m)][..., k]) if np.any(r.separated[r.runs(param, m)])
                     else np.nan for k in range(len(opt.NORMS))] for m in opt.METHODS])
    norm = LogNorm(vmin=0.01, vmax=3.0)
    im = ax.imshow(np.clip(med, 0.01, 3.0), cmap="viridis_r", norm=norm, aspect="auto")
    for i, m in enumerate(opt.METHODS):
        sep = int(r.separated[r.runs(param, m)].sum())
        for k in range(len(opt.NORMS)):
            val = med[i, k]
            dark = np.isfinite(val) and norm(np.clip(val, 0.01, 3.0)) > 0.55
            ax.text(k, i, "–" if not np.isfinite(val) else f"{val:.2f}", ha="center", va="center", fontsize=size,
                    color="white" if dark else "black")
        modal = r.modal_norm(param, m)
        if modal in opt.NORMS:
            ax.add_patch(Rectangle((opt.NORMS.index(modal) - 0.48, i - 0.46), 0.96, 0.92, fill=False, lw=2.2,
                                   ec="black"))
        pred = opt.PREDICTED.get((param, m))
        if pred is not None:
            ax.add_patch(Rectangle((opt.NORMS.index(pred) - 0.4, i - 0.36), 0.8, 0.72, fill=False, lw=1.2, ls="--",
                                   ec=plots.PALETTE["vermillion"]))
        if sep < r.separated[r.runs(param, m)].size:
            ax.text(len(opt.NORMS) - 0.45, i, f" {r.separated[r.runs(param, m)].size - sep} no margin",
                    ha="left", va="center", fontsize=size - 1, color=plots.COLORS["theory"])
    ax.set_xticks(range(len(opt.NORMS)), [_NORM_LABELS[n] for n in opt.NORMS], fontsize=size)
    ax.set_yticks(range(len(opt.METHODS)), opt.METHODS, fontsize=size)
    ax.set_xlabel("attention SVM")
    ax.set_title(f"median norm gap, {_PARAM_LABELS[param]}", fontsize=size + 2)
    ax.grid(False)
    return im


def fig_optimizers(r: opt.OptimizerStudy | None = None) -> Figure:
    """The optimizer picks the norm. Top: median final norm gap of each method (rows) to each attention SVM
    (columns), on ``W`` (left) and on ``(K, Q)`` (right); solid box: the norm most runs end closest to, dashed: the
    predicted one. Bottom: the median gap to that norm against the step, one line per method."""
    r = opt.optimizer_study() if r is None else r
    fig, axes = plots.new_figure(2, 2, width=10.5, height=7.4, height_ratios=(1.1, 1.0))
    for j, param in enumerate(opt.PARAMS):
        im = _gap_heatmap(axes[0, j], r, param)
        ax = axes[1, j]
        for m in opt.METHODS:
            modal = r.modal_norm(param, m)
            if modal not in opt.NORMS:
                continue
            path = r.gap_path[r.runs(param, m)][..., opt.NORMS.index(modal), :].reshape(-1, len(r.step))
            with np.errstate(all="ignore"):
                ok = np.mean(np.isfinite(path), axis=0) > 0.5
                med = np.nanmedian(np.where(np.isfinite(path), path, np.inf), axis=0)
            keep = ok & (r.step > 0)
            ax.plot(r.step[keep], med[keep], color=plots.PALETTE[_METHOD_COLORS[m]], marker=_METHOD_MARKERS[m],
                    markersize=4, markevery=3, label=f"{m} → {_NORM_LABELS[modal]}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step $k$ (log scale)")
        ax.set_ylabel("median gap to that norm (log scale)")
        ax.legend(fontsize=7, loc="lower left")
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.9, label="median norm gap (log scale)")
    return fig


# -- slide versions (tools/build_slides.py): one panel each, text at the book's size on a smaller figure ----------


def _slide_heatmap(param: str, r: opt.OptimizerStudy | None) -> Figure:
    fig, ax = plots.new_figure(width=4.4, height=2.3)
    _gap_heatmap(ax, opt.optimizer_study() if r is None else r, param, size=9)
    return fig


def slide_optimizers_w(r: opt.OptimizerStudy | None = None) -> Figure:
    """Slide version of :func:`fig_optimizers`, top left: the median final norm gap of each method to each attention
    SVM, on ``W`` (the cells carry the values, so no colour bar)."""
    return _slide_heatmap("W", r)


def slide_optimizers_kq(r: opt.OptimizerStudy | None = None) -> Figure:
    """Slide version of :func:`fig_optimizers`, top right: the same on ``(K, Q)``."""
    return _slide_heatmap("KQ", r)


def slide_init_scale_l1(r: ch8.InitScaleStudy | None = None) -> Figure:
    """Slide version of :func:`fig_init_scale`, left panel: the distance to the l1 SVM and the lock-ons, with the
    scales named beside it."""
    from matplotlib.lines import Line2D

    r = ch8.init_scale() if r is None else r
    fig, ax = plots.new_figure(width=7.4, height=3.2)
    _init_scale_l1_panel(ax, r)
    ax.set_ylabel(r"distance of $\beta/\mu$")
    scales = [Line2D([], [], color=_scale_color(j), label=rf"$\omega_0={om:g}$") for j, om in enumerate(r.runs)]
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=scales + handles, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def slide_init_scale_l2(r: ch8.InitScaleStudy | None = None) -> Figure:
    """Slide version of :func:`fig_init_scale`, right panel: the distance to the l2 SVM."""
    fig, ax = plots.new_figure(width=7.4, height=3.2)
    _init_scale_l2_panel(ax, ch8.init_scale() if r is None else r)
    ax.set_ylabel(r"distance of $\beta/\mu$")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


#: Slide versions of the figures above that do not fit a slide as drawn (``attnbook.figures.slide_registry``).
SLIDE_FIGURES = {"optimizers.W": slide_optimizers_w, "optimizers.KQ": slide_optimizers_kq,
                 "init_scale.l1": slide_init_scale_l1, "init_scale.l2": slide_init_scale_l2}


FIGURES = {"init_scale": fig_init_scale, "saddles": fig_saddles, "mirror": fig_mirror,
           "optimizers": fig_optimizers}
