"""Chapter 3 — the reparameterization trick for diagonal K, Q (paper §4, Lemmas 4.1, 4.2, A.1, Theorem 4.1).

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.ch3`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments.ch3 import (
    LOG_T_END,
    OMEGA0,
    WIDGET_LOG_T,
    WIDGET_OMEGA0,
    DLNEquivalence,
    EnergyInequality,
    MirrorFlowCheck,
    NormGrowth,
    RateToL1,
    SeparateVsCombined,
    ClosedFormAccuracy,
    compute_closed_form,
    compute_energy,
    compute_equivalence,
    compute_headline,
    compute_mirror,
    compute_norm_growth,
    compute_rate,
    compute_widget,
    lock_on_log_t,
    svms,
)
from ..experiments.diagonal_studies import LOCK_ON_TOL, LockOnTheory, lock_on_theory
from . import by_name, compute_home

C = plots.COLORS
_COORD_STYLES = ("-", "--", "-.", ":")


def _sci(x: float) -> str:
    """``x`` as TeX ``a\\times10^{b}`` with one significant digit."""
    e = int(np.floor(np.log10(x)))
    m = round(x / 10 ** e)
    if m == 10:
        m, e = 1, e + 1
    return rf"${m}\times10^{{{e}}}$" if m != 1 else rf"$10^{{{e}}}$"


def fig_equivalence(r: DLNEquivalence | None = None) -> Figure:
    """Lemma 4.1: beta(t) of the xi-flow (solid) and w(t) of the diagonal linear network (markers)."""
    r = compute_equivalence() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=9.6, height=3.6)
    keep = r.log_t >= 0.05
    x = r.log_t[keep]
    for j in range(r.beta.shape[1] - 1):
        ax.loglog(x, r.beta[keep, j], color=plots.PALETTE[("orange", "blue", "bluish_green")[j]],
                  label=rf"$\beta_{j + 1}(t)$, $(\xi_k,\xi_q)$-flow")
        ax.loglog(x[::6], r.w[keep, j][::6], "o", mfc="none", color=plots.PALETTE["black"], ms=4,
                  label=r"$w_{j}(t)$, diagonal linear network" if j == 0 else None)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"coordinate (log scale)")
    ax2.loglog(x, np.maximum(r.rel_err[keep], 1e-17), color=C["xi"], label="measured")
    ax2.axhline(1e-10, **plots.THEORY_STYLE, label="solver tolerance $10^{-10}$")
    plots.label_axes(ax2, r"$\ln t$ (log scale)", r"$\|\beta(t)-w(t)\|/\|\beta(t)\|$ (log scale)")
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=9, loc="upper left")),
                                                     (ax2, dict(fontsize=9, loc="lower right"))])


def fig_closed_form(r: ClosedFormAccuracy | None = None) -> Figure:
    """Lemma A.1: relative error of the sinh closed form and drift of xi_k^2 - xi_q^2, for three tolerances."""
    r = compute_closed_form() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=9.6, height=3.6)
    keep = r.log_t >= 0.05
    x = r.log_t[keep]
    colors = (plots.PALETTE["sky_blue"], plots.PALETTE["orange"], plots.PALETTE["vermillion"])
    for col, rtol in zip(colors, sorted(r.sinh_err, reverse=True)):
        lab = f"rtol = {rtol:.0e}"
        ax.loglog(x, r.sinh_err[rtol][keep], color=col, label=lab)
        ax.axhline(rtol, color=col, ls="--", lw=1)
        ax2.loglog(x, np.maximum(r.cons_err[rtol][keep], 1e-17), color=col, label=lab)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel("relative error of $\\omega_0^2\\sinh(B\\phi)$ (log scale)")
    ax2.set_xlabel(r"$\ln t$ (log scale)")
    ax2.set_ylabel(r"drift of $\xi_k^2-\xi_q^2$ (log scale)")
    return plots.finish(fig, legend_loc="lower right")


def fig_mirror(r: MirrorFlowCheck | None = None) -> Figure:
    """Mirror flow and erratum E6 checked by finite differences in log t."""
    r = compute_mirror() if r is None else r
    s = r.log_t
    fig, (ax, ax2) = plots.new_figure(1, 2, width=9.6, height=3.6)
    for j, col in zip(range(2), (plots.PALETTE["orange"], plots.PALETTE["blue"])):
        ax.plot(s, r.dpsi_fd[:, j], color=col, label=rf"$\frac{{d}}{{ds}}\nabla\psi(\beta)_{j + 1}$ (finite diff.)")
        ax.plot(s[::40], r.neg_tgrad[::40, j], "o", mfc="none", color=plots.PALETTE["black"], ms=4,
                label=r"$-t\,\nabla_\beta\mathcal{L}$ (formula)" if j == 0 else None)
    ax.set_xlabel(r"$s=\ln t$")
    ax.set_ylabel("rate of change in $s = \\ln t$")
    ax2.semilogy(s, r.mirror_err, color=C["xi"], label="mirror identity")
    ax2.semilogy(s, r.e6_err, color=C["gd"], label="E6: corrected eq. (27)")
    ax2.semilogy(s, r.paper_err, color=C["nopt"], ls=":", label="eq. (27) as printed (extra $1/n$)")
    ax2.set_xlabel(r"$s=\ln t$")
    ax2.set_ylabel("relative mismatch (log scale)")
    return plots.finish(fig, legend_loc="center right")


def fig_norm(r: NormGrowth | None = None) -> Figure:
    """Lemma 4.2: ||beta(t)|| diverges like ln t (left: ||beta||/ln t against each flow's prediction), and
    mu(t) - ln t grows like ln ln t for the xi-flow, settles for the beta-flow (right)."""
    r = compute_norm_growth() if r is None else r
    lt = r.log_t
    fig, (ax, ax2) = plots.new_figure(1, 2, width=9.6, height=3.6)
    ax.semilogx(lt, r.norm_xi / lt, **plots.series_style("xi"), label=r"$\|\xi_k\odot\xi_q\|_2/\ln t$, $(\xi_k,\xi_q)$-flow")
    ax.semilogx(lt, r.norm_beta / lt, **plots.series_style("beta"), label=r"$\|\beta\|_2/\ln t$, $\beta$-flow")
    ax.axhline(r.l1_norm2, **plots.THEORY_STYLE, label=rf"$\|\beta_{{\ell_1}}\|_2={r.l1_norm2:.3f}$ ($(\xi_k,\xi_q)$, limit)")
    ax.axhline(r.l2_norm2, **{**plots.THEORY_STYLE, "linestyle": ":"},
               label=rf"$\|\beta_{{\ell_2}}\|_2={r.l2_norm2:.3f}$ ($\beta$-flow)")
    ax.axhline(r.detour_norm2, color=C["context"], ls="-.", lw=1.2,
               label=rf"detour $\|e_1/B_{{a1}}\|_2={r.detour_norm2:.3f}$")
    ax.set_ylim(0, 1.75)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"$\|\beta(t)\|_2/\ln t$")
    lnln = np.log(lt)
    keep = lt >= 3
    ax2.plot(lnln[keep], (r.mu_xi - lt)[keep], **plots.series_style("xi"), label=r"$\mu-\ln t$, $(\xi_k,\xi_q)$-flow")
    ax2.plot(lnln[keep], (r.mu_beta - lt)[keep], **plots.series_style("beta"), label=r"$\mu-\ln t$, $\beta$-flow")
    c = np.median((r.mu_xi - lt - lnln)[lt >= 100])
    ax2.plot(lnln[keep], lnln[keep] + c, **plots.THEORY_STYLE, label=rf"$\ln\ln t {c:+.2f}$ (heuristic)")
    ax2.set_xlabel(r"$\ln\ln t$")
    ax2.set_ylabel(r"$\mu(t)-\ln t$")
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8.5, loc="lower right")),
                                                     (ax2, dict(loc="upper left"))])


def fig_energy(r: EnergyInequality | None = None) -> Figure:
    """Lemma 4.2's argument: the dissipation stays within the energy budget; the pairing with a feasible beta_f stays
    above its lower bound and both vanish."""
    r = compute_energy() if r is None else r
    keep = np.isfinite(r.log_t) & (r.log_t >= 0.01)
    x = r.log_t[keep]
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.0, height=3.8)
    ax.loglog(x, (r.budget - r.excess)[keep], color=C["xi"], label=r"$\mathcal{L}(0)-\mathcal{L}(t)$")
    ax.loglog(x, r.dissipated[keep], color=C["gd"], ls="-.",
              label=r"$\int_0^t 2\omega_{\min}^2\|\nabla_\beta\mathcal{L}\|^2\,d\tau$")
    ax.axhline(r.budget, **plots.THEORY_STYLE, label=r"$\mathcal{L}(0)-\mathcal{L}^*$ (the budget)")
    ax.set_ylim(1e-4, 1.0)
    plots.label_axes(ax, r"$\ln t$ (log scale)", "loss decrease, dissipation (log scale)")
    ax2.loglog(x, r.t_pairing[keep], color=C["xi"], label=r"$t\,\langle-\nabla_\beta\mathcal{L},\beta_f\rangle$")
    ax2.loglog(x, r.t_bound[keep], **plots.THEORY_STYLE,
               label=r"$t\,\frac{1}{n}\sum_i\ell_i\Delta_i\sigma_{\mathrm{opt}}(1-\sigma_{\mathrm{opt}})$ (lower bound)")
    ax2.loglog(x, r.t_grad_norm[keep], color=C["gd"], ls=":", label=r"$t\,\|\nabla_\beta\mathcal{L}\|$")
    plots.label_axes(ax2, r"$\ln t$ (log scale)", "times $t$ (log scale)")
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8.5, loc="lower right")),
                                                     (ax2, dict(fontsize=8.5, loc="lower left"))])


def _lock_on_axis(r: LockOnTheory) -> np.ndarray:
    """The ln(1/omega_0^2) grid the predicted slopes are drawn on: the measured range, 0.3 wider each side."""
    return np.linspace(r.x.min() - 0.3, r.x.max() + 0.3, 50)


def _lock_on_panel(ax, r: LockOnTheory, note_size: float = 8) -> None:
    """The lock-on ln mu against ln(1/omega_0^2): measured squares (each named by its omega_0, text ``note_size``
    pt), the predicted slope through the smallest omega_0 and the table's least-squares line."""
    xs = _lock_on_axis(r)
    ax.plot(r.x, r.log_mu, "s", mfc="white", color=C["xi"], ms=7, label="measured lock-on")
    ax.plot(xs, r.log_mu[-1] + r.slope * (xs - r.x[-1]), **plots.THEORY_STYLE,
            label=rf"predicted slope $(1-r)/(\rho-1)={r.slope:.2f}$")
    fit = np.polyfit(r.x[r.omegas <= 0.3], r.log_mu[r.omegas <= 0.3], 1)  # drawn only; the study has the numbers
    ax.plot(xs, np.polyval(fit, xs), color=C["context"], ls=":", lw=1.2,
            label=rf"least squares over the table's $\omega_0\leq 0.3$: {r.fit_slope:.2f}")
    plots.label_axes(ax, r"$\ln(1/\omega_0^2)$", r"lock-on $\ln\mu$")
    for x, y, om in zip(r.x, r.log_mu, r.omegas):
        ax.annotate(rf"$\omega_0={om:g}$", (x, y), textcoords="offset points", xytext=(6, -12), fontsize=note_size)


def _depth_panel(ax, r: LockOnTheory) -> None:
    """The depth of the detour, min_t ln beta_hat_2, against ln(1/omega_0^2), with the predicted slope."""
    xs = _lock_on_axis(r)
    ax.plot(r.x, np.log(r.bhat2_min), "s", mfc="white", color=C["xi"], ms=7, label=r"measured $\min_t\ln\hat\beta_2$")
    ax.plot(xs, np.log(r.bhat2_min[-1]) + r.depth_slope * (xs - r.x[-1]), **plots.THEORY_STYLE,
            label=rf"predicted slope $-(1-r)={r.depth_slope:.3f}$")
    plots.label_axes(ax, r"$\ln(1/\omega_0^2)$", r"depth of the detour: $\min_t\ln\hat\beta_2(t)$")


def fig_lock_on(r: LockOnTheory | None = None) -> Figure:
    """The lock-on and the detour's depth against ln(1/omega_0^2): measured points and the predicted slopes."""
    r = lock_on_theory() if r is None else r
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.0, height=3.8)
    _lock_on_panel(ax, r)
    _depth_panel(ax2, r)
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8.5, loc="upper left")),
                                                     (ax2, dict(fontsize=8.5, loc="upper right"))])


def _bars(ax, vectors: dict, styles: dict) -> None:
    d = len(next(iter(vectors.values())))
    width = 0.8 / len(vectors)
    for k, (name, vec) in enumerate(vectors.items()):
        x = np.arange(d) - 0.4 + width * (k + 0.5)
        ax.bar(x, vec, width=width, label=name, **styles[name])
    ax.set_xticks(np.arange(d), [rf"$\hat\beta_{j + 1}$" for j in range(d)])
    ax.axhline(0, color="#333333", lw=0.8)


def _svm_bar_style(key: str) -> dict:
    return {"facecolor": "none", "edgecolor": C[key], "linestyle": "--", "linewidth": 1.6, "hatch": "//"}


def fig_headline(r: SeparateVsCombined | None = None) -> Figure:
    """Theorem 4.1 vs its l2 counterpart: distances to both SVM solutions vs log t, and the final directions."""
    r = compute_headline() if r is None else r
    x = r.log_t
    keep = x >= 1.0
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9)
    for p, lab in (("xi", r"$(\xi_k,\xi_q)$-flow"), ("beta", r"$\beta$-flow")):
        ax.loglog(x[keep], r.dist[p]["l1"][keep], color=C[p], label=lab + r" vs $\ell_1$-SVM")
        ax.loglog(x[keep], r.dist[p]["l2"][keep], color=C[p], ls="--", label=lab + r" vs $\ell_2$-SVM")
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"$\|\hat\beta(t)-\beta_{\rm SVM}\|/\|\beta_{\rm SVM}\|$ (log scale)")
    vec = {r"$(\xi_k,\xi_q)$-flow": r.bhat["xi"][-1], r"$\ell_1$-SVM": r.l1,
           r"$\beta$-flow": r.bhat["beta"][-1], r"$\ell_2$-SVM": r.l2}
    styles = {r"$(\xi_k,\xi_q)$-flow": {"color": C["xi"]}, r"$\ell_1$-SVM": _svm_bar_style("l1"),
              r"$\beta$-flow": {"color": C["beta"]}, r"$\ell_2$-SVM": _svm_bar_style("l2")}
    _bars(ax2, vec, styles)
    ax2.set_ylabel(rf"$\hat\beta=\beta/\mu$ at $\ln t = 10^{{{np.log10(x[-1]):.0f}}}$")
    return plots.finish(fig, legend=False, legends=[(ax, dict(fontsize=8.5, loc="lower left")),
                                                     (ax2, dict(fontsize=9))])


def fig_path(r: SeparateVsCombined | None = None) -> Figure:
    """The path of beta_hat(t) against both SVM solutions, projected on (beta_1, beta_2) and (beta_1, beta_3)."""
    r = compute_headline() if r is None else r
    x = r.log_t
    fig, axes = plots.new_figure(1, 2, width=10.0, height=4.0)
    for ax, (a, b) in zip(axes, ((0, 1), (0, 2))):
        for p, lab in (("xi", r"$(\xi_k,\xi_q)$-flow"), ("beta", r"$\beta$-flow")):
            bh = r.bhat[p]
            ok = np.isfinite(bh[:, 0]) & (x >= 0.0)
            ax.plot(bh[ok, a], bh[ok, b], color=C[p], label=lab)
            for lt, mk, lab in ((np.log(1e300), "s", r"$t=10^{300}$"), (1e4, "^", r"$\ln t=10^4$"),
                                (1e5, "v", r"$\ln t=10^5$")):
                k = np.searchsorted(x, lt)
                if p == "xi":
                    ax.plot(bh[k, a], bh[k, b], mk, color=C[p], ms=6, label=lab)
            ax.plot(bh[-1, a], bh[-1, b], "o", color=C[p], ms=5)
        for s, sol, mk in (("l1", r.l1, "*"), ("l2", r.l2, "P")):
            ax.plot(sol[a], sol[b], mk, ms=14, mfc="none", mec=C["theory"], mew=1.5,
                    label=rf"$\ell_{s[1]}$-SVM solution")
            ax.annotate(rf"$\ell_{s[1]}$", (sol[a], sol[b]), textcoords="offset points",
                        xytext=(8, 6 if s == "l1" else -12), color=C["theory"])
        ax.set_xlabel(rf"$\hat\beta_{a + 1}$")
        ax.set_ylabel(rf"$\hat\beta_{b + 1}$")
    return plots.finish(fig, legend=False, legends=[(axes[0], dict(fontsize=8.5, loc="upper right"))])


def fig_rate(r: RateToL1 | None = None) -> Figure:
    """Distance of the xi-flow's direction to the l1 solution against 1/ln mu."""
    r = compute_rate() if r is None else r
    fig, ax = plots.new_figure(width=6.4, height=3.8)
    ax.plot(r.inv_log_mu, r.dist_l1, color=C["xi"], label=r"$(\xi_k,\xi_q)$-flow, $\omega_0=0.1$")
    for lt, lab in ((np.log(1e300), r"$t=10^{300}$"), (1e4, r"$\ln t=10^4$"), (1e5, r"$\ln t=10^5$"),
                    (LOG_T_END, r"$\ln t=10^6$")):
        k = np.argmin(np.abs(r.log_t - lt))
        ax.plot(r.inv_log_mu[k], r.dist_l1[k], "o", color=C["xi"])
        ax.annotate(lab, (r.inv_log_mu[k], r.dist_l1[k]), textcoords="offset points", xytext=(6, -12))
    for om, ls in ((0.3, "--"), (1.0, ":")):
        w = compute_widget(om)
        ok = w.mu > np.e
        ax.plot(1 / np.log(w.mu[ok]), w.dist_l1[ok], color=C["xi"], lw=1, ls=ls,
                label=rf"$\omega_0={om:g}$ (to $\ln t=10^6$)")
    ax.plot([0], [0], "*", ms=14, mfc="none", mec=C["theory"], mew=1.5, label=r"Theorem 4.1: $\ell_1$-SVM at $1/\ln\mu=0$")
    ax.set_xlim(-0.005, 0.35)
    ax.set_ylim(-0.01, 0.36)  # room for the legend above the curves
    ax.set_xlabel(r"$1/\ln\mu(t)$  (time runs right to left)")
    ax.set_ylabel(r"$\|\hat\beta(t)-\beta_{\ell_1}\|/\|\beta_{\ell_1}\|$")
    return plots.finish(fig, legend_loc="upper left")


def fig_widget(omega0: float = OMEGA0, log_t: float = 1000.0) -> Figure:
    """One frame of the widget: distances to both SVMs over time for ``omega0``, and the direction at ``log_t``."""
    r = compute_widget(omega0)
    ref = svms()
    x = r.log_t
    keep = x >= 0.5
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.0, height=3.8, layout="none")  # margins: light_ticks below
    for j, om in enumerate(WIDGET_OMEGA0):
        if om != omega0:
            o = compute_widget(om)
            ax.loglog(o.log_t[keep], o.dist_l1[keep], color=plots.COLORS["context"], lw=0.8, zorder=1,
                      label=r"other $\omega_0$: distance to $\ell_1$" if "other" not in str(ax.get_legend_handles_labels()[1]) else None)
            # one label per grey curve: where it first falls below 0.03, else staggered along the plateau
            low = np.where((o.dist_l1 < 0.03 / 5.0 ** max(0, j - 3)) & (o.log_t > 3.0))[0]
            kl = int(low[0]) if len(low) else int(np.argmin(np.abs(o.log_t - 10.0 ** (1.0 + 0.8 * j))))
            if 1.2e-4 < o.dist_l1[kl] < 2.5:
                ax.text(o.log_t[kl], o.dist_l1[kl], f"{om:g}", fontsize=7.5, color="#666666",
                        ha="center", va="bottom", zorder=2)
    ax.loglog(x[keep], r.dist_l1[keep], **plots.series_style("l1"), label=r"distance to $\ell_1$-SVM")
    ax.loglog(x[keep], r.dist_l2[keep], **plots.series_style("l2"), label=r"distance to $\ell_2$-SVM")
    ax.axvline(log_t, color=C["theory"], lw=1, ls=":")
    lock = lock_on_log_t(omega0)
    if lock <= max(WIDGET_LOG_T):
        ax.plot([lock], [LOCK_ON_TOL], "v", color=C["l1"], ms=8, zorder=3,
                label=rf"locks on to $\ell_1$ (distance $<10^{{-3}}$) at $\ln t\approx${_sci(lock)}")
    else:
        ax.annotate(rf"locks on at $\ln t\approx${_sci(lock)} $\to$", (0.98, 0.06), xycoords="axes fraction",
                    ha="right", fontsize=8.5, color=C["l1"])
    ax.axhline(LOCK_ON_TOL, color=plots.COLORS["context"], lw=0.6, ls="--", zorder=1)
    ax.set_ylim(1e-4, 3)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel("relative distance of $\\hat\\beta(t)$ (log scale)")
    ax.set_title(rf"$\omega_0 = {omega0:g}$ (grey: the other $\omega_0$, labelled)", fontsize=10)
    k = int(np.argmin(np.abs(x - log_t)))
    vec = {r"$\hat\beta(t)$, $(\xi_k,\xi_q)$-flow": r.bhat[k], r"$\ell_1$-SVM": ref["l1"], r"$\ell_2$-SVM": ref["l2"]}
    styles = {r"$\hat\beta(t)$, $(\xi_k,\xi_q)$-flow": {"color": C["xi"]}, r"$\ell_1$-SVM": _svm_bar_style("l1"),
              r"$\ell_2$-SVM": _svm_bar_style("l2")}
    _bars(ax2, vec, styles)
    ax2.set_ylim(-0.1, 1.6)
    ax2.set_title(rf"direction at $\ln t=${_sci(log_t) if log_t >= 1e4 else f'${log_t:g}$'}", fontsize=10)
    ax.legend(fontsize=9, loc="lower left")
    ax2.legend(fontsize=9, loc="upper right")
    plots.light_ticks(fig, left=0.075, right=0.985, bottom=0.13, top=0.92, wspace=0.22)  # the sliders redraw it
    return fig


FIGURES = by_name(fig_equivalence, fig_closed_form, fig_mirror, fig_norm, fig_energy,
                  fig_headline, fig_path, fig_rate, fig_lock_on, fig_widget)


# -- slide versions (tools/build_slides.py): one panel each, text at the book's size on a smaller figure ----------


def slide_lock_on_lock(r: LockOnTheory | None = None) -> Figure:
    """Slide version of :func:`fig_lock_on`, left panel: the lock-on ln mu against ln(1/omega_0^2), the legend
    beside the panel (inside it would cover the squares at 18-px text)."""
    r = lock_on_theory() if r is None else r
    fig, ax = plots.new_figure(width=6.0, height=2.75)
    _lock_on_panel(ax, r, note_size=9)
    legend = ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    for t, words in zip(legend.get_texts()[1:], (rf"predicted slope: {r.slope:.2f}",
                                                 rf"least squares, $\omega_0\leq 0.3$: {r.fit_slope:.2f}")):
        t.set_text(words)
    return fig


#: Slide versions of the figures above that do not fit a slide as drawn (``attnbook.figures.slide_registry``).
SLIDE_FIGURES = {"lock_on.lock": slide_lock_on_lock}


__getattr__ = compute_home("ch3")  # the chapter's computations keep their old home here
