"""Chapter 6 — beyond the theorems (generic data, gradient descent, the logistic loss, Tarzanagh et al.'s setup).

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.ch6`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments.ch6 import (
    CHECKPOINTS,
    SHIFTS,
    DigitsLimits,
    GDvsGF,
    KQVersusW,
    LocalSelections,
    compute_digits,
    compute_gd,
    compute_kq_vs_w,
    compute_logistic,
    compute_selection,
    compute_unequal_scores,
)
from . import by_name, compute_home

C = plots.COLORS


def _logt_axis(ax, label: str = r"$\ln t$ (log scale)") -> None:
    ax.set_xscale("log")
    ax.set_xlabel(label)


def fig_kq_vs_w(r: KQVersusW | None = None) -> Figure:
    """Cosines with both SVM solutions vs log t, and the singular values of W(t)/mu(t) climbing one at a time."""
    r = compute_kq_vs_w() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9)
    for p, f, lab in (("W", r.W, r"$W$-flow vs $W_F$-SVM"), ("KQ", r.KQ, r"$(K,Q)$-flow vs $W_*$-SVM")):
        # each flow against its own SVM (solid) and against the other one (dotted)
        own, other, other_name = (f.cos_fro, f.cos_nuc, "*") if p == "W" else (f.cos_nuc, f.cos_fro, "F")
        x = f.log_t
        keep = x >= 0.1
        ax.plot(x[keep], 1 - own[keep], color=C[p], label=lab)
        ax.plot(x[keep], 1 - other[keep], color=C[p], ls=":",
                label=rf"{lab.split(' vs')[0]} vs $W_{{{other_name}}}$-SVM")
    ax.axhline(1 - r.cos_fro_nuc, **plots.THEORY_STYLE, label=r"$1-\cos(W_F, W_*)$")
    ax.set_yscale("log")
    _logt_axis(ax)
    ax.set_ylabel(r"$1-\cos$ (log scale)")
    ax.axvline(CHECKPOINTS[0], color=C["context"], lw=0.8)
    ax.text(CHECKPOINTS[0] * 1.1, 0.5, r"$t=10^{300}$", fontsize=8, color="#666666")
    for p, f in (("W", r.W), ("KQ", r.KQ)):
        x, sv = f.log_t, f.sv
        keep = x >= 0.1
        for j in range(3):
            ax2.plot(x[keep], sv[keep, j], color=C[p], lw=1.6 - 0.4 * j,
                     label=(r"$W$-flow" if p == "W" else r"$(K,Q)$-flow") if j == 0 else None)
    for k, sv_svm in (("fro", r.sv_fro), ("nuc", r.sv_nuc)):
        for j, s in enumerate(sv_svm[:3]):
            ax2.axhline(s, color=C[k], ls="--", lw=1.0,
                        label=(r"$W_F$-SVM" if k == "fro" else r"$W_*$-SVM") + r" $\sigma_j$" if j == 0 else None)
    _logt_axis(ax2)
    ax2.set_ylabel(r"$\sigma_j(W(t)/\mu(t))$, $j=1,2,3$")  # short: the slides draw it at 18 px
    ax2.set_ylim(-0.05, 1.6)
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left")),
                                                     (ax2, dict(fontsize=8, loc="upper right", ncol=2))])


def fig_sv_at(log_t: float = 1e3) -> Figure:
    """Widget frame: singular values of W(t)/mu(t) at one log t, W- and (K, Q)-flow, against both SVMs."""
    r = compute_kq_vs_w()
    fig, ax = plots.new_figure(width=6.4, height=3.4)
    j = np.arange(3)
    for off, p, f, lab in ((-0.2, "W", r.W, r"$W$-flow"), (0.2, "KQ", r.KQ, r"$(K,Q)$-flow")):
        sv = f.sv[_at_array(f.log_t, log_t)][:3]
        ax.bar(j + off, np.nan_to_num(sv), width=0.38, color=C[p], alpha=0.85, label=lab)
    for off, k, sv_svm, lab in ((-0.2, "fro", r.sv_fro, r"$W_F$-SVM"), (0.2, "nuc", r.sv_nuc, r"$W_*$-SVM")):
        ax.scatter(j + off, sv_svm[:3], marker="_", s=900, color=plots.COLORS["theory"], linewidths=2,
                   zorder=4, label=r"SVM targets ($W_F$ left, $W_*$ right)" if k == "fro" else None)
    ax.set_xticks(j, [r"$\sigma_1$", r"$\sigma_2$", r"$\sigma_3$"])
    ax.set_ylim(0, 1.7)
    ax.set_ylabel(r"singular value of $W(t)/\mu(t)$")
    i_k = _at_array(r.KQ.log_t, log_t)
    ax.set_title(rf"$\ln t={log_t:g}$: $\cos(W_{{KQ}},W_*)={r.KQ.cos_nuc[i_k]:.4f}$, "
                 rf"$\cos(W_W,W_F)={r.W.cos_fro[_at_array(r.W.log_t, log_t)]:.5f}$", fontsize=9.5)
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8.5, loc="upper right"))])


def _at_array(log_t: np.ndarray, x: float) -> int:
    return int(np.nanargmin(np.abs(log_t - x)))


def _fig_cos_variants(variants: tuple) -> Figure:
    """``1 - cos`` with the SVM against ``ln t`` for the W- and (K,Q)-flows of each ``(flows, line style, label)``,
    ``flows`` holding ``(log_t, cos)`` in its fields ``W`` and ``KQ``."""
    fig, ax = plots.new_figure(width=6.4, height=3.6)
    for flows, ls, what in variants:
        for p, path, ref in (("W", flows.W, r"$W_F$"), ("KQ", flows.KQ, r"$W_*$")):
            x, c = path
            keep = (x >= 0.1) & (x <= 1e4)
            lab = (r"$W$-flow" if p == "W" else r"$(K,Q)$-flow") + f" vs {ref}-SVM, {what}"
            ax.plot(x[keep], 1 - c[keep], color=C[p], ls=ls, label=lab)
    ax.set_yscale("log")
    _logt_axis(ax)
    ax.set_ylabel(r"$1-\cos$ with the SVM (log scale)")
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8, loc="lower left"))])


def fig_unequal_scores() -> Figure:
    """Assumption 2 violated: the flows still reach the same SVM directions."""
    r = compute_unequal_scores()
    return _fig_cos_variants(((r.equal, "-", "equal scores"), (r.unequal, "--", "unequal scores")))


def fig_logistic() -> Figure:
    """Exponential vs logistic loss: the same limit directions."""
    r = compute_logistic()
    return _fig_cos_variants(((r.exp, "-", "exp loss"), (r.logistic, "--", "logistic loss")))


def _gd_error_panel(ax, r: GDvsGF, legend: dict) -> None:
    """The path error of GD to GF against the small step sizes, on the slope-1 line of Euler's method."""
    lr, err = r.lr, r.path_err
    ax.loglog(lr, err, "o-", color=C["gd"], label="GD on $W$, measured")
    ax.loglog(lr, err[0] * lr / lr[0], **plots.THEORY_STYLE, label=r"slope 1 (Euler: error $=O(\eta)$)")
    ax.set_xlabel(r"step size $\eta$ (log scale)")
    ax.set_ylabel(r"max relative path error to GF, $t\leq 10$")
    ax.legend(**legend)


def _gd_runs_panel(ax, r: GDvsGF, legend: dict) -> None:
    """The excess loss of the flow and of one GD run per step size, with the level of one stuck sample."""
    t, loss = r.gf
    keep = t > 0
    ax.plot(t[keep], loss[keep] - r.min_loss, color=plots.COLORS["theory"], lw=2.2, label="gradient flow")
    cols = plots.PALETTE
    for lr_, col in ((0.3, cols["sky_blue"]), (3.0, C["gd"]), (10.0, cols["vermillion"])):
        run = r.runs[lr_]
        k = run.t > 0
        ax.plot(run.t[k], run.loss[k] - r.min_loss, "-", marker=".", ms=3, color=col,
                label=rf"GD, $\eta={lr_:g}$")
    ax.axhline(r.stuck_level, color=C["nopt"], ls=":", label="one sample stuck on a non-optimal token")
    plots.label_axes(ax, r"time $t=\eta\,k$ (log scale)", r"$\mathcal{L}-\mathcal{L}^*$ (log scale)", xscale="log",
                     yscale="log")
    ax.legend(**legend)


def fig_gd(r: GDvsGF | None = None) -> Figure:
    """GD vs GF: path error linear in the step size; large steps jump into a non-optimal selection."""
    r = compute_gd() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.8)
    _gd_error_panel(ax, r, dict(fontsize=8.5, loc="upper left"))
    _gd_runs_panel(ax2, r, dict(fontsize=8, loc="lower left"))
    return fig


_SYMLOG = ("symlog", {"linthresh": 1})


def _selection_colors() -> dict:
    return {SHIFTS[0]: C["W"], SHIFTS[1]: plots.PALETTE["vermillion"]}


def _selection_loss_panel(ax, r: LocalSelections, legend: dict) -> None:
    """The excess loss of the flows from ``W(0) = -c W_F``, with Assumption 3's bound (one sample stuck)."""
    cols = _selection_colors()
    for c in SHIFTS:
        d = r.shifts[c]
        keep = d.log_t >= -2
        ax.plot(d.log_t[keep], d.excess[keep], color=cols[c], label=rf"$W(0)=-{c:g}\,W_F$")
    ax.axhline(r.stuck_level, **plots.THEORY_STYLE, label="one sample stuck (Assumption 3 bound)")
    plots.label_axes(ax, r"$\ln t$ (symlog scale)", r"$\mathcal{L}-\mathcal{L}^*$ (log scale)", xscale=_SYMLOG,
                     yscale="log", ylim=(1e-12, 1))
    ax.legend(**legend)


def _selection_cos_panel(ax, r: LocalSelections, legend: dict, shifted: bool = True, peers: bool = True) -> None:
    """``1 - cos`` with the W_F-SVM (solid) and with the SVM of the selection reached (dashed): the flows from
    ``W(0) = -c W_F`` (``shifted``) and the flow on Tarzanagh et al.'s setup (``peers``)."""
    cols = _selection_colors()
    for c in SHIFTS if shifted else ():
        d = r.shifts[c]
        keep = d.log_t >= -2
        ax.plot(d.log_t[keep], 1 - d.cos_global[keep], color=cols[c], label=rf"$c={c:g}$ vs $W_F$-SVM")
        if not np.array_equal(d.selection, r.opt):
            ax.plot(d.log_t[keep], 1 - d.cos_sel[keep], color=cols[c], ls="--",
                    label=rf"$c={c:g}$ vs SVM of its selection")
    if peers:
        p = r.peers
        keep = p.log_t >= -2
        ax.plot(p.log_t[keep], 1 - p.cos_global[keep], color=C["gd"],
                label="Tarzanagh et al.'s setup, seed 5, $W(0)=0$, vs $W_F$-SVM")
        ax.plot(p.log_t[keep], 1 - p.cos_sel[keep], color=C["gd"], ls="--",
                label="the same vs SVM of its selection")
    plots.label_axes(ax, r"$\ln t$ (symlog scale)", r"$1-\cos$ (log scale)", xscale=_SYMLOG, yscale="log")
    ax.legend(**legend)


def fig_selection(r: LocalSelections | None = None) -> Figure:
    """W(0) = -c W_F: c = 1 recovers, c = 4 settles on a locally optimal selection and its own SVM."""
    r = compute_selection() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.8)
    _selection_loss_panel(ax, r, dict(fontsize=8, loc="lower left"))
    _selection_cos_panel(ax2, r, dict(fontsize=8, loc="lower left"))
    return fig


def fig_digits(r: DigitsLimits | None = None) -> Figure:
    """Digits: three images with their optimal row, and the singular values of the limits vs the SVMs."""
    r = compute_digits() if r is None else r
    import matplotlib.gridspec as gridspec

    fig, _ = plots.new_figure(width=10.5, height=3.6)
    fig.clf()
    gs = gridspec.GridSpec(2, 5, figure=fig, width_ratios=[1, 1, 1, 0.15, 4.5])
    show = list(range(3)) + list(range(len(r.y) - 3, len(r.y)))
    for k, i in enumerate(show):
        a = fig.add_subplot(gs[k // 3, k % 3])
        a.imshow(r.images[i], cmap="Greys", vmin=0, vmax=1)
        a.axhline(r.opt[i] - 0.5, color=C["opt"], lw=1.5)
        a.axhline(r.opt[i] + 0.5, color=C["opt"], lw=1.5)
        a.set_xticks([])
        a.set_yticks([])
        a.grid(False)
        a.set_title(f"y={int(r.y[i]):+d}", fontsize=8)
    ax = fig.add_subplot(gs[:, 4])
    j = np.arange(len(r.sv_fro))
    for off, sv, col, lab in ((-0.2, r.sv_W, C["W"], r"$W$-flow"), (0.2, r.sv_KQ, C["KQ"], r"$(K,Q)$-flow")):
        ax.bar(j + off, sv, width=0.38, color=col, alpha=0.85, label=lab + r", $t=10^{300}$")
    for off, sv, lab in ((-0.2, r.sv_fro, r"$W_F$-SVM / $W_*$-SVM"), (0.2, r.sv_nuc, None)):
        ax.scatter(j + off, sv, marker="_", s=300, color=plots.COLORS["theory"], linewidths=2, zorder=4,
                   label=lab)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xticks(j, [rf"$\sigma_{k + 1}$" for k in j])
    ax.set_ylabel(r"singular values of $W/\mu$ (symlog)")
    ax.legend(fontsize=8)
    return fig


# -- slide versions (tools/build_slides.py): one panel each, text at the book's size on a smaller figure ----------

_SLIDE_LEGEND = dict(loc="center left", bbox_to_anchor=(1.01, 0.5))   # beside the panel, off the data


def slide_gd_error(r: GDvsGF | None = None) -> Figure:
    """Slide version of :func:`fig_gd`, left panel: GD's path error is linear in the step size."""
    fig, ax = plots.new_figure(width=5.6, height=3.2)
    _gd_error_panel(ax, compute_gd() if r is None else r, dict(loc="upper left"))
    ax.set_ylabel(r"max path error to GF, $t\leq 10$")
    return fig


def slide_gd_runs(r: GDvsGF | None = None) -> Figure:
    """Slide version of :func:`fig_gd`, right panel: one run per step size against the flow."""
    fig, ax = plots.new_figure(width=7.6, height=3.2)
    _gd_runs_panel(ax, compute_gd() if r is None else r, _SLIDE_LEGEND)
    ax.get_legend().get_texts()[-1].set_text("one sample stuck")
    return fig


def slide_selection_loss(r: LocalSelections | None = None) -> Figure:
    """Slide version of :func:`fig_selection`, left panel: the excess loss from ``W(0) = -c W_F``."""
    fig, ax = plots.new_figure(width=7.2, height=3.2)
    _selection_loss_panel(ax, compute_selection() if r is None else r, _SLIDE_LEGEND)
    ax.get_legend().get_texts()[-1].set_text("one sample stuck\n(Assumption 3 bound)")
    return fig


def slide_selection_cos(r: LocalSelections | None = None) -> Figure:
    """Slide version of :func:`fig_selection`, right panel, the flows from ``W(0) = -c W_F`` only."""
    fig, ax = plots.new_figure(width=7.2, height=3.2)
    _selection_cos_panel(ax, compute_selection() if r is None else r, _SLIDE_LEGEND, peers=False)
    return fig


def slide_selection_peers(r: LocalSelections | None = None) -> Figure:
    """Slide version of :func:`fig_selection`, right panel, the flow on Tarzanagh et al.'s setup only."""
    fig, ax = plots.new_figure(width=7.2, height=3.2)
    _selection_cos_panel(ax, compute_selection() if r is None else r, _SLIDE_LEGEND, shifted=False)
    texts = ax.get_legend().get_texts()
    texts[0].set_text("seed 5, $W(0)=0$,\nvs $W_F$-SVM")
    texts[1].set_text("vs SVM of\nits selection")
    return fig


#: Slide versions of the figures above that do not fit a slide as drawn (``attnbook.figures.slide_registry``).
SLIDE_FIGURES = {"gd.error": slide_gd_error, "gd.runs": slide_gd_runs, "selection.loss": slide_selection_loss,
                 "selection.cos": slide_selection_cos, "selection.peers": slide_selection_peers}


FIGURES = by_name(fig_kq_vs_w, fig_sv_at, fig_unequal_scores, fig_logistic, fig_gd, fig_selection, fig_digits)


__getattr__ = compute_home("ch6")  # the chapter's computations keep their old home here
