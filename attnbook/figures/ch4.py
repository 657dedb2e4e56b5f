"""Figures of chapter 4, "Approximate KKT conditions" (paper appendix A.5, Definition A.3 and Theorem 4.1).

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.ch4`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..experiments.ch4 import (
    LOG_T_1E300,
    LOG_T_FRAME_END,
    ApproximateKKT,
    MarginDiverges,
    certificate_at,
    compute_kkt,
    extrapolate_duals,
    margin_diverges,
    settled,
)
from . import by_name, compute_home


def fig_subdifferential(k: ApproximateKKT | None = None) -> Figure:
    """|x|, its subgradients at 0, and the graph of d|x| with the flow's points (beta_hat_j, (B lambda)_j)."""
    k = compute_kkt() if k is None else k
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.6)
    x = np.linspace(-1.5, 1.5, 201)
    a1.plot(x, np.abs(x), color="black", label="$|x|$")
    for s in (-1.0, -0.5, 0.0, 0.5, 1.0):
        a1.plot(x, s * x, color=plots.COLORS["theory"], ls="--", lw=0.9, alpha=0.6,
                label="subgradient lines $s x$, $s\\in[-1,1]$" if s == 1.0 else None)
    a1.set_ylim(-0.4, 1.5)
    a1.set_xlabel("$x$")
    a1.set_ylabel("$|x|$")
    a1.legend(loc="upper center", fontsize=9)
    # the set-valued graph of the subdifferential
    a2.plot([-1.5, 0], [-1, -1], **plots.THEORY_STYLE, label=r"graph of $\partial|\cdot|$")
    a2.plot([0, 0], [-1, 1], **plots.THEORY_STYLE)
    a2.plot([0, 1.5], [1, 1], **plots.THEORY_STYLE)
    idx = [int(np.nanargmin(np.abs(k.log_t - lt))) for lt in (10.0, LOG_T_1E300, 1e6)]
    marks = ("o", "s", "D")
    names = ("$\\log t=10$", "$t=10^{300}$", "$\\log t=10^6$")
    shades = (plots.PALETTE["sky_blue"], plots.PALETTE["orange"], plots.PALETTE["vermillion"])
    for j, m, name, col in zip(idx, marks, names, shades):
        a2.scatter(k.beta_hat[j], k.Blambda[j], marker=m, color=col, zorder=4, s=36,
                   label=f"flow at {name}")
    a2.set_xlabel(r"$\hat\beta_j(t)$ (coordinate $j$)")
    a2.set_ylabel(r"$(B\lambda(t))_j$")
    a2.set_xlim(-0.3, 1.5)
    a2.set_ylim(-1.3, 2.2)
    a2.legend(loc="lower right", fontsize=9)
    return fig


def fig_margin_diverges(res: MarginDiverges | None = None) -> Figure:
    """Step 1 of the proof, (C2): the loss stays below Assumption 3's bound (left), and every sample's smallest logit
    gap grows without bound (right)."""
    res = margin_diverges() if res is None else res
    fig, (a1, a2) = plots.new_figure(1, 2, width=8.4)
    t = np.exp(res.early_log_t)
    ok = t >= 1e-2
    a1.plot(t[ok], res.early_loss[ok], color=plots.COLORS["xi"], label=r"$\mathcal{L}(t)$")
    a1.axhline(res.stuck_bound, **plots.THEORY_STYLE, label="Assumption 3 bound")
    a1.axhline(res.L0, color=plots.COLORS["context"], ls=":", lw=1.2, label=r"$\mathcal{L}(0)$")
    a1.axhline(res.L_star, color=plots.COLORS["context"], ls="-.", lw=1.2, label=r"$\mathcal{L}^*$")
    a1.set_xscale("log")
    a1.set_ylim(0, 1.8 * res.stuck_bound)
    a1.set_xlabel("time $t$ (log scale)")
    a1.set_ylabel("loss")
    a1.legend(fontsize=8, loc="upper right", ncol=2)
    pos = res.log_t >= 1.0
    markers = ("o", "s", "^")
    colors = [plots.PALETTE[c] for c in ("blue", "vermillion", "bluish_green")]
    for i in range(res.sample_margin.shape[1]):
        good = pos & (res.sample_margin[:, i] > 0)
        a2.plot(res.log_t[good], res.sample_margin[good, i], color=colors[i], marker=markers[i], markevery=0.12, ms=4,
                label=f"sample {i + 1}: $\\mu_{i + 1}(t)$")
    a2.plot(res.log_t[pos], res.log_t[pos], **plots.THEORY_STYLE, label=r"$\ln t$")
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel(r"$\ln t$ (log scale)")
    a2.set_ylabel(r"$\mu_i(t)=\min_l\beta^\top B_{il}$ (log scale)")
    a2.legend(fontsize=8, loc="upper left")
    return fig


def fig_identity(k: ApproximateKKT | None = None) -> Figure:
    """B lambda from the accumulated duals phi against arcsinh(beta / omega0^2) / ln mu, per coordinate."""
    k = compute_kkt() if k is None else k
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.6)
    ok = k.log_mu >= 1.0
    cols = [plots.PALETTE[c] for c in ("orange", "blue", "bluish_green", "reddish_purple")]
    for j in range(k.Blambda.shape[1]):
        a1.plot(k.log_mu[ok], k.Blambda[ok, j], color=cols[j], label=f"$j={j + 1}$: $B\\phi/\\ln\\mu$")
        a1.plot(k.log_mu[ok], k.Blambda_beta[ok, j], color=plots.COLORS["theory"], ls="--", lw=1.2,
                label=r"$\mathrm{arcsinh}(\beta/\omega_0^2)/\ln\mu$" if j == 0 else None)
    a1.axhline(1, color="grey", lw=0.8, ls=":")
    a1.set_xscale("log")
    a1.set_xlabel(r"$\ln\mu(t)$ (log scale)")
    a1.set_ylabel(r"$(B\lambda(t))_j$")
    a1.legend(fontsize=8, loc="upper right")
    err = np.abs(k.Blambda - k.Blambda_beta).max(axis=1)
    a2.plot(k.log_mu[ok], np.maximum(err[ok], 1e-17), color=plots.COLORS["xi"])
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel(r"$\ln\mu(t)$ (log scale)")
    a2.set_ylabel("largest difference (log scale)")
    return fig


def fig_residuals(k: ApproximateKKT | None = None) -> Figure:
    """epsilon, epsilon', delta against ln mu on log-log axes, with the fitted rate and the predicted C / ln mu;
    right: distance of the direction to the l1-SVM solution. Default result: the flow to ``log t = 1e300``
    (``LOG_T_FRAME_END``, through the margin frame), i.e. to the largest ln mu the library reaches."""
    k = compute_kkt(log_t_end=LOG_T_FRAME_END) if k is None else k
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8)
    lm = k.log_mu
    ok = lm >= 1.0
    a1.plot(lm[ok], k.epsilon[ok], color=plots.COLORS["xi"], label=r"$\epsilon(t)$ (stationarity)")
    a1.plot(lm[ok], k.delta[ok], color=plots.PALETTE["bluish_green"], label=r"$\delta(t)$ (slackness)")
    a1.plot(lm[ok], k.epsilon_prime[ok], color=plots.PALETTE["reddish_purple"],
            label=r"$\epsilon'(t)$ (distance to $\check\beta$)")
    a1.plot(lm[ok], k.C / lm[ok], **plots.THEORY_STYLE, label=f"predicted $C/\\ln\\mu$, $C={k.C:.2f}$")
    tail = lm >= lm[k.j1e300]
    a1.plot(lm[tail], k.prefactor * lm[tail] ** k.rate, color="black", lw=0.9, ls=":",
            label=f"fit $\\propto(\\ln\\mu)^{{{k.rate:.2f}}}$")
    a1.axvline(lm[k.j1e300], color="grey", lw=0.8, ls="-.")
    a1.text(lm[k.j1e300] * 1.03, 2e-9, "$t=10^{300}$", fontsize=9, color="grey")
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_ylim(1e-9, 10)
    a1.set_xlabel(r"$\ln\mu(t)$ (log scale)")
    a1.set_ylabel("KKT residual (log scale)")
    a1.legend(fontsize=8, loc="lower left")
    a2.plot(lm[ok], k.dist[ok], color=plots.COLORS["xi"], label=r"$\|\hat\beta(t)-\beta^*\|/\|\beta^*\|$")
    a2.plot(lm[ok], np.maximum(1.0 - k.cos[ok], 1e-16), color=plots.PALETTE["blue"], ls="--",
            label=r"$1-\cos(\beta(t),\beta^*)$ (floored at $10^{-16}$)")
    a2.axvline(lm[k.j1e300], color="grey", lw=0.8, ls="-.")
    a2.text(lm[ok][-1], 3 * k.dist[-1], "accuracy of the\nreference SVM solution", fontsize=7.5, color="grey",
            ha="right", va="bottom")
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_ylim(3e-17, 3)
    a2.set_xlabel(r"$\ln\mu(t)$ (log scale)")
    a2.set_ylabel(r"gap to the $\ell_1$-SVM (log scale)")
    a2.legend(fontsize=8, loc="upper right")
    return fig


def fig_duals(k: ApproximateKKT | None = None) -> Figure:
    """lambda_il(t) against 1 / ln mu, with the SVM multipliers at 1 / ln mu = 0 and a linear extrapolation."""
    k = compute_kkt() if k is None else k
    fig, ax = plots.new_figure(width=6.4)
    ok = k.log_mu >= 2.0
    x = 1.0 / k.log_mu[ok]
    ext = extrapolate_duals()
    cols = [plots.PALETTE[c] for c in ("blue", "orange", "bluish_green", "reddish_purple", "vermillion",
                                          "sky_blue")]
    sel = settled()
    x_tail = np.linspace(0, 1.0 / k.log_mu[sel][0], 10)
    for p, ((i, l), col) in enumerate(zip(k.pairs, cols)):
        ax.plot(x, k.lam[ok, p], color=col, label=f"$\\lambda_{{{i + 1}{l + 1}}}(t)$")
        ax.plot(x_tail, np.interp(x_tail, [0, x_tail[-1]], [ext[p], k.lam[sel][0, p]]), color=col, ls=":", lw=1)
        ax.plot([0], [k.dual[p]], marker="*", ms=11, color=col, mec="black", mew=0.6, ls="none", zorder=5)
    ax.plot([], [], marker="*", ms=11, color="white", mec="black", ls="none", label="SVM multipliers (solve_svm)")
    ax.plot([], [], color="grey", ls=":", label=r"linear extrapolation to $1/\ln\mu=0$")
    ax.set_xlabel(r"$1/\ln\mu(t)$ (time runs to the left)")
    ax.set_ylabel(r"$\lambda_{il}(t)=\phi_{il}(t)/\ln\mu(t)$")
    ax.set_xlim(-0.01, None)
    ax.legend(fontsize=8, ncol=2, loc="upper right")
    return fig


def fig_certificate(log_t: float = LOG_T_1E300) -> Figure:
    """Widget frame: B lambda at one time against the box [-1, 1] and the targets sign(beta*), and lambda per pair
    with the active constraints of the l1-SVM marked."""
    c = certificate_at(log_t)
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.6, layout="none")  # margins: light_ticks below
    d = len(c.Blambda)
    j = np.arange(1, d + 1)
    a1.axhspan(-1, 1, color="#EEEEEE", zorder=0)
    a1.axhline(1, **plots.THEORY_STYLE)
    a1.axhline(-1, **plots.THEORY_STYLE, label=r"box $[-1,1]$")
    a1.bar(j, c.Blambda, color=plots.COLORS["xi"], width=0.6, label=r"$(B\lambda(t))_j$")
    on = np.abs(c.beta_l1) > 1e-6 * np.abs(c.beta_l1).max()
    a1.scatter(j[on], np.sign(c.beta_l1[on]), marker="_", s=900, linewidths=3, color="black", zorder=5,
               label=r"target $\mathrm{sign}(\beta^*_j)$")
    a1.set_xticks(j)
    a1.set_xlabel(r"coordinate $j$ ($\beta^*_j\neq0$ for $j=1,2$)")
    a1.set_ylabel(r"$(B\lambda)_j$")
    a1.set_ylim(-1.5, 3.0)
    a1.set_title(f"$\\log t={c.log_t:.3g}$, $\\ln\\mu={c.log_mu:.2f}$, $\\epsilon={c.epsilon:.2f}$",
                 fontsize=10)
    a1.legend(fontsize=8, loc="upper right", markerscale=0.5)
    k = np.arange(len(c.lam))
    active = c.dual > 1e-6 * c.dual.max()
    a2.bar(k, c.lam, color=[plots.COLORS["xi"] if a else plots.COLORS["nopt"] for a in active], width=0.6)
    multiplier = a2.scatter(k, c.dual, marker="_", s=500, linewidths=3, color="black", zorder=5,
                            label="SVM multiplier")
    from matplotlib.patches import Patch

    handles = [multiplier, Patch(color=plots.COLORS["xi"], label=r"$\lambda_{il}(t)$, active pair"),
               Patch(color=plots.COLORS["nopt"], label=r"$\lambda_{il}(t)$, inactive pair")]
    a2.set_xticks(k, [f"({i + 1},{l + 1})" for i, l in c.pairs])
    a2.set_xlabel(r"pair $(i,l)$")
    a2.set_ylabel(r"$\lambda_{il}(t)$")
    a2.set_ylim(0, 2.0)
    a2.legend(handles=handles, fontsize=8, loc="upper left")  # one legend: two overlapped at slide size
    plots.light_ticks(fig, left=0.1, bottom=0.15, wspace=0.3)  # the slider redraws this figure
    return fig


FIGURES = by_name(fig_subdifferential, fig_margin_diverges, fig_identity, fig_residuals, fig_duals, fig_certificate)


__getattr__ = compute_home("ch4")  # the chapter's computations keep their old home here
