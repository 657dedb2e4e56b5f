"""Figures of chapter 5, "The aligned general case" (paper §5, appendix A.6-A.7).

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.ch5`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from attnlib.diagnostics import singular_values
from ..experiments.ch5 import (
    SCALE,
    AlignmentPreserved,
    InitStudy,
    init_study,
    ReducedDynamics,
    SVMsCoincide,
    closed_form_W,
    compute_alignment,
    compute_coincide,
    WIDGET_RTOL,
    WIDGET_THETA,
    compute_misaligned,
    compute_reduced,
    exact_data,
    nuclear_family,
)
from attnlib.model import margin
from . import by_name, compute_home

TIME_LABEL = r"$\ln(1+t)$ (log scale; $=\ln t$ for large $t$)"


def _time(log_t: np.ndarray) -> np.ndarray:
    """``ln(1 + t)`` from ``log t`` without overflow: ~t for small t, ~log t for large t (plotted on a log axis)."""
    return np.logaddexp(0.0, log_t)


def fig_alignment(res: AlignmentPreserved | None = None) -> Figure:
    """Alignment error along the aligned flow on exact and rotated data, against the margin."""
    res = compute_alignment() if res is None else res
    fig, ax = plots.new_figure(width=6.4)
    floor = 1e-18
    for r, col, lab in ((res.exact, plots.COLORS["KQ"], "exactly representable data"),
                        (res.rotated, plots.PALETTE["blue"], "rotated data (rounded)")):
        ok = r.mu > 0
        ax.plot(r.mu[ok], np.maximum(r.err[ok], floor), color=col, label=lab)
    ax.axhline(np.finfo(float).eps, color="grey", ls=":", lw=1, label="float64 machine epsilon")
    ax.axhline(floor, **plots.THEORY_STYLE, label="Lemma 5.1: exactly 0 (drawn at $10^{-18}$)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, 1e-8)
    ax.set_xlabel(r"margin $\mu(t)$ (log scale; $\mu\approx\log t$)")
    ax.set_ylabel("alignment error (log scale)")
    ax.legend(fontsize=9, loc="upper left")
    return fig


def fig_reduced(r: ReducedDynamics | None = None) -> Figure:
    """Singular values of K, Q against the diagonal flow of the reduced problem (42), and beta_hat against a."""
    r = compute_reduced() if r is None else r
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8)
    x = _time(r.log_t)
    cols = [plots.PALETTE[c] for c in ("vermillion", "blue", "bluish_green", "reddish_purple")]
    for j in range(2):
        a1.plot(x, np.abs(r.xi_k[:, j]), color=cols[j], label=f"$|\\xi_{{k,{j + 1}}}|$ from $U_K^\\top KV$")
        a1.plot(x, np.abs(r.xi_q[:, j]), color=cols[j], ls="-.", lw=1.2,
                label=f"$|\\xi_{{q,{j + 1}}}|$ from $U_Q^\\top QV$")
        a1.plot(x, np.abs(r.xi_k_red[:, j]), **{**plots.THEORY_STYLE, "linewidth": 1.0},
                label="'xi' flow on problem (42)" if j == 0 else None)
        a1.plot(x, np.abs(r.xi_q_red[:, j]), **{**plots.THEORY_STYLE, "linewidth": 1.0})
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel(TIME_LABEL)
    a1.set_ylabel("singular value (log scale)")
    a1.legend(fontsize=7.5, loc="upper left")
    for j in range(2):
        a2.plot(x, r.beta_hat[:, j], color=cols[j], label=f"$\\hat\\beta_{j + 1}(t)$")
        a2.axhline(r.a[j], **plots.THEORY_STYLE,
                   label="solution $a_i=1/((1-c_i)\\|x_{i,opt}\\|\\|z_i\\|)$ of (42)" if j == 0 else None)
    plots.label_axes(a2, TIME_LABEL, r"$\hat\beta_j=\xi_{k,j}\xi_{q,j}/\mu$", xscale="log", ylim=(-0.05, 0.35))
    a2.legend(fontsize=8, loc="upper left")
    return fig


def fig_coincide(c: SVMsCoincide | None = None) -> Figure:
    """Singular values of W°, both SVMs and both flows' limits; cosine of both flows with W° over time."""
    c = compute_coincide() if c is None else c
    data = exact_data()
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8)
    mf = np.linspace(-1, 1, 81)
    fam = [nuclear_family(data, x) for x in mf]
    opt = c.nuc_value
    a1.plot(mf, [np.linalg.norm(W, "nuc") / opt for W in fam], color=plots.COLORS["nuc"],
            label=r"$\|W(m)\|_*$ / nuclear SVM value")
    a1.plot(mf, [np.linalg.norm(W) / np.linalg.norm(c.W0) for W in fam], color=plots.COLORS["fro"],
            label=r"$\|W(m)\|_F$ / $\|W^\circ\|_F$")
    a1.plot(mf, [margin(data, W) for W in fam], color=plots.COLORS["theory"], ls=":", label=r"margin $\mu(W(m))$")
    marks = {"W-flow": ("o", plots.PALETTE["sky_blue"]), "KQ-flow": ("s", plots.PALETTE["orange"]),
             "nuclear SVM, rotated data": ("^", plots.COLORS["nuc"])}
    for name, (mk, col) in marks.items():
        a1.plot([c.m[name]], [1.0], marker=mk, color=col, mec="black", ls="none", ms=8, label=name)
    a1.axvline(0, **{**plots.THEORY_STYLE, "linewidth": 1.0}, label=r"$W^\circ$ ($m=0$)")
    a1.set_xlabel(r"off-diagonal coordinate $m/\sqrt{a_1a_2}$")
    a1.set_ylabel("relative norm / margin")
    a1.set_ylim(0.95, 1.35)
    a1.legend(fontsize=7.5, loc="upper center")
    for lt, cos, col, lab in ((c.log_t_W, c.cos_W, plots.COLORS["W"], "W-flow (Frobenius bias)"),
                              (c.log_t_KQ, c.cos_KQ, plots.COLORS["KQ"], "aligned KQ-flow (nuclear bias)")):
        ok = np.isfinite(lt) & (lt > 0)
        a2.plot(lt[ok], np.maximum(1 - cos[ok], 1e-17), color=col, label=lab)
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel(r"$\log t$ (log scale)")
    a2.set_ylabel(r"$1-\cos(W(t),W^\circ)$ (log scale)")
    a2.set_ylim(1e-16, 1)
    a2.legend(fontsize=8)
    return fig


def _misaligned_panels(axes, thetas, scale) -> None:
    a1, a2 = axes
    cols = [plots.PALETTE[c] for c in ("black", "blue", "bluish_green", "orange", "vermillion",
                                          "reddish_purple", "sky_blue")]
    for th, col in zip(thetas, cols):
        r = compute_misaligned(float(th), float(scale))
        lt = _time(r.log_t)
        ok = lt > 0
        lab = f"$\\theta={th / np.pi:.3g}\\pi$"
        a1.plot(lt[ok], np.maximum(r.gap[ok], 1e-18), color=col, label=lab)
        ok2 = ok & (r.mu > 0)
        a2.plot(lt[ok2], np.maximum(1 - r.cos_W0[ok2], 1e-17), color=col, label=lab)
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(TIME_LABEL)
    a1.axhline(1e-18, **plots.THEORY_STYLE, label="aligned: 0")
    a1.set_ylim(3e-19, 2)
    a1.set_ylabel("alignment gap (log scale)")
    a2.set_ylabel(r"$1-\cos(W(t),W^\circ)$ (log scale)")
    a2.set_ylim(1e-17, 2)


def fig_misaligned(thetas=tuple(WIDGET_THETA), scale: float = SCALE) -> Figure:
    """Alignment gap and cosine with W° over time for several misalignment angles."""
    fig, axes = plots.new_figure(1, 2, width=7.8)
    _misaligned_panels(axes, thetas, scale)
    axes[0].legend(fontsize=8, loc="lower left", ncol=2)
    return fig


def fig_misaligned_frame(theta: float = np.pi / 8, scale: float = SCALE) -> Figure:
    """Widget frame: alignment gap over time, and singular values of W(t)/mu(t) against those of W°."""
    r = compute_misaligned(float(theta), float(scale), rtol=WIDGET_RTOL)
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8, layout="none")  # fixed margins below
    lt = _time(r.log_t)
    ok = lt > 0
    a1.plot(lt[ok], np.maximum(r.gap[ok], 1e-18), color=plots.COLORS["KQ"], label="misaligned KQ-flow")
    a1.axhline(1e-18, **plots.THEORY_STYLE, label="aligned init: 0")
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_ylim(3e-19, 2)
    a1.set_xlabel(TIME_LABEL)
    a1.set_ylabel("alignment gap (log scale)")
    a1.set_title(f"$\\theta={theta / np.pi:.3g}\\pi$, scale $={scale:g}$; final cos with $W^\\circ$: "
                 f"{r.cos_W0[-1]:.8f}", fontsize=9)
    a1.legend(fontsize=8, loc="center left")
    sv0 = singular_values(closed_form_W(exact_data()))
    ok2 = ok & (r.mu > 0)
    cols = [plots.PALETTE[c] for c in ("vermillion", "blue", "bluish_green", "reddish_purple")]
    for j in range(4):
        a2.plot(lt[ok2], r.sv[ok2, j], color=cols[j], label=f"$s_{j + 1}(W/\\mu)$")
        a2.axhline(sv0[j], **{**plots.THEORY_STYLE, "linewidth": 1.0}, label="$s_j(W^\\circ)$" if j == 0 else None)
    plots.label_axes(a2, TIME_LABEL, r"singular values of $W(t)/\mu(t)$", xscale="log", ylim=(-0.02, 0.6))
    a2.legend(fontsize=8, loc="upper right")
    plots.light_ticks(fig, left=0.1, bottom=0.17, top=0.89, wspace=0.3)  # the sliders redraw this frame
    return fig


def _init_prediction_panel(ax, study: InitStudy, legend: dict, ms: float = 1.0) -> None:
    """The family coordinate of every limit against its prediction from the start (markers ``ms`` times the
    book's size)."""
    scales = sorted({r.scale for r in study.runs}, reverse=True)
    kq_marks = dict(zip(scales, ("s", "D")))
    kq_cols = dict(zip(scales, (plots.COLORS["KQ"], plots.PALETTE["reddish_purple"])))
    ax.plot([-1, 1], [-1, 1], **{**plots.THEORY_STYLE, "linewidth": 1.0},
            label=r"prediction $\cos\angle(p_1,p_2)$ from the start")
    for sc in scales:
        ax.plot(study.values("m_pred", "KQ", sc), study.values("m", "KQ", sc), ls="none", marker=kq_marks[sc],
                mfc="white", mec=kq_cols[sc], mew=1.3, ms=6 * ms, label=f"$(K,Q)$-flow, start ${sc:g}\\,N(0,1)$")
    for sc in scales:
        ax.plot(study.values("m_pred", "W", sc), study.values("m", "W", sc), ls="none", marker="o",
                color=plots.COLORS["W"], ms=4.5 * ms,
                label=r"$W$-flow from the same $W(0)$" if sc == scales[0] else None)
    plots.label_axes(ax, r"predicted $m/\sqrt{a_1a_2}$ (from $K(0),Q(0)$)", r"limit's $m/\sqrt{a_1a_2}$",
                     xlim=(-1.05, 1.05), ylim=(-1.05, 1.05))
    ax.legend(**legend)


def _init_family_panel(ax, study: InitStudy, legend: dict, ms: float = 1.0) -> None:
    """Where every limit sits on the nuclear-SVM family: nuclear norm at the optimum, Frobenius norm above W°'s
    (markers ``ms`` times the book's size)."""
    data = exact_data()
    W0 = closed_form_W(data)
    mf = np.linspace(-1, 1, 81)
    fam = [nuclear_family(data, x) for x in mf]
    nuc0, fro0 = np.linalg.norm(W0, "nuc"), np.linalg.norm(W0)
    ax.plot(mf, [np.linalg.norm(W, "nuc") / nuc0 for W in fam], color=plots.COLORS["nuc"],
            label=r"$\|W(m)\|_*/\|W^\circ\|_*$ (every $|m|\leq1$ optimal)")
    ax.plot(mf, [np.linalg.norm(W) / fro0 for W in fam], color=plots.COLORS["fro"], ls="-.",
            label=r"$\|W(m)\|_F/\|W^\circ\|_F$")
    m_kq = study.values("m", "KQ")
    ax.plot(m_kq, 1 + study.values("nuc_gap", "KQ"), ls="none", marker="s", mfc="white",
            mec=plots.COLORS["KQ"], mew=1.3, ms=6 * ms, label=r"$(K,Q)$ limits: nuclear norm")
    ax.plot(m_kq, 1 + study.values("fro_gap", "KQ"), ls="none", marker="s", color=plots.COLORS["KQ"], ms=4 * ms,
            label=r"$(K,Q)$ limits: Frobenius norm")
    ax.plot(study.values("m", "W"), 1 + study.values("fro_gap", "W"), ls="none", marker="o",
            color=plots.COLORS["W"], ms=4.5 * ms, label=r"$W$-flow limits (both norms)")
    plots.label_axes(ax, r"off-diagonal coordinate $m/\sqrt{a_1a_2}$", "norm relative to $W^\\circ$'s",
                     ylim=(0.97, 1.45))
    ax.legend(**legend)


def fig_init_dependence(study: InitStudy | None = None) -> Figure:
    """Generic starts: the (K, Q) limits' family coordinate against its prediction from the start, and where every
    limit sits on the nuclear-SVM family (nuclear norm at the optimum, Frobenius norm above W°'s)."""
    study = init_study() if study is None else study
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8, height=3.6)
    _init_prediction_panel(a1, study, dict(fontsize=7.5, loc="upper left"))
    _init_family_panel(a2, study, dict(fontsize=7.5, loc="upper center"))
    return fig


# -- slide versions (tools/build_slides.py): one panel each, text at the book's size on a smaller figure ----------

_SLIDE_TICKS = (-1, -0.5, 0, 0.5, 1)   # fewer ticks than the book's: 18-px labels would run together


def slide_init_prediction(study: InitStudy | None = None) -> Figure:
    """Slide version of :func:`fig_init_dependence`, left panel: the limit's family coordinate against its
    prediction from the start."""
    fig, ax = plots.new_figure(width=7.4, height=3.3)
    _init_prediction_panel(ax, init_study() if study is None else study,
                           dict(loc="center left", bbox_to_anchor=(1.01, 0.5)), ms=1.3)
    ax.get_legend().get_texts()[0].set_text("prediction from\nthe start")
    ax.set_xlabel(r"predicted $m/\sqrt{a_1a_2}$")
    ax.set_xticks(_SLIDE_TICKS)
    ax.set_yticks(_SLIDE_TICKS)
    return fig


def slide_init_family(study: InitStudy | None = None) -> Figure:
    """Slide version of :func:`fig_init_dependence`, right panel: where the limits sit on the nuclear-SVM family."""
    fig, ax = plots.new_figure(width=7.4, height=3.3)
    _init_family_panel(ax, init_study() if study is None else study,
                       dict(loc="center left", bbox_to_anchor=(1.01, 0.5)), ms=1.3)
    texts = ax.get_legend().get_texts()
    for t, words in zip(texts, (r"$\|W(m)\|_*/\|W^\circ\|_*$", r"$\|W(m)\|_F/\|W^\circ\|_F$",
                                r"$(K,Q)$ limits, $\|\cdot\|_*$", r"$(K,Q)$ limits, $\|\cdot\|_F$",
                                r"$W$-flow limits")):
        t.set_text(words)
    ax.set_xticks(_SLIDE_TICKS)
    return fig


#: Slide versions of the figures above that do not fit a slide as drawn (``attnbook.figures.slide_registry``).
SLIDE_FIGURES = {"init_dependence.prediction": slide_init_prediction, "init_dependence.family": slide_init_family}


FIGURES = by_name(fig_alignment, fig_reduced, fig_coincide, fig_misaligned, fig_misaligned_frame,
                  fig_init_dependence)


__getattr__ = compute_home("ch5")  # the chapter's computations keep their old home here
