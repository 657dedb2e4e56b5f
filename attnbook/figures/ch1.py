"""Chapter 1, "Attention as token selection": a d = 2 toy data set, the loss tending to L* > 0, the attention SVM
constraints in the plane, the assumptions, and what breaks without them.

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.ch1`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from .. import plots
from ..experiments.ch1 import (
    BROKEN_GENERIC_SEED,
    BrokenAssumptions,
    LossFlow,
    MirrorPair,
    SVMPlane,
    cached_ray,
    compute_broken,
    compute_loss_flow,
    compute_phi_along_ray,
    compute_svm_plane,
    direction_at,
    log10_time,
    make_toy_data,
    mirror_pair,
)
from attnlib.model import attention, excess_loss, margin
from ..plots import log10_axis
from . import by_name, compute_home

SAMPLE_COLORS = (plots.PALETTE["blue"], plots.PALETTE["vermillion"], plots.PALETTE["bluish_green"],
                 plots.PALETTE["reddish_purple"])


def fig_tokens() -> Figure:
    """Left: the toy tokens in the plane (scores are heights along ``v``). Right: ``y_i Phi`` along ``c W_F``, a
    convex combination of the scores, climbing from their average to ``gamma_{i,opt}`` (dashed)."""
    data = make_toy_data()
    res = compute_phi_along_ray(data=data)
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.6)
    opt_tokens = [tuple(data.X[i, data.opt[i]]) for i in range(data.n)]
    for i in range(data.n):
        col = SAMPLE_COLORS[i]
        xo = np.array(data.X[i, data.opt[i]], dtype=float)
        same = [k for k in range(data.n) if opt_tokens[k] == opt_tokens[i]]
        if len(same) > 1:  # samples sharing an optimal token: draw their stars side by side, not on top
            xo[0] += 0.22 * (same.index(i) - (len(same) - 1) / 2)
        ax1.scatter(*xo, marker="*", s=160, color=col, edgecolor="black", zorder=4,
                    label=f"sample {i + 1} ($y={int(data.y[i]):+d}$)")
        others = np.delete(data.X[i], data.opt[i], axis=0)
        ax1.scatter(others[:, 0], others[:, 1], marker="o", s=40, color=col, edgecolor="black", zorder=4)
        zi = data.z[i] / np.linalg.norm(data.z[i])
        ax1.annotate("", xy=(1.4 * zi[0], 1.4 * zi[1] + 0.25 * (i - 1)), xytext=(0, 0.25 * (i - 1)),
                     arrowprops=dict(arrowstyle="->", color=col, lw=1.5))
    ax1.annotate("", xy=(0, 1.2), xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color="black", lw=2))
    ax1.text(0.12, 1.0, "$v$", fontsize=12)
    ax1.set_xlim(-2.4, 1.6)
    ax1.set_ylim(-4.8, 4.8)
    ax1.set_xlabel("$x_{il,1}$")
    ax1.set_ylabel(r"$x_{il,2}$ (score $\gamma_{il}=y_i\,x_{il,2}$)")
    ax1.legend(loc="lower left", fontsize=8)
    ax1.set_title("tokens (star: optimal; shared stars side by side), queries (arrows)", fontsize=9)
    for i in range(data.n):
        ax2.plot(res.c, res.yPhi[:, i], color=SAMPLE_COLORS[i], label=f"sample {i + 1}")
    ax2.axhline(data.gamma_opt.max(), **plots.THEORY_STYLE, label=r"$\gamma_{i,\mathrm{opt}}$ (limit)")
    ax2.axhline(res.uniform[0], color=plots.COLORS["nopt"], linestyle=":", label="score average ($W=0$)")
    ax2.set_xlabel(r"scale $c$ in $W=c\,W_F$")
    ax2.set_ylabel(r"$y_i\Phi=\gamma_i^\top\sigma(X_iWz_i)$")
    ax2.set_ylim(-0.2, data.gamma_opt.max() + 0.4)
    ax2.legend(loc="lower right", fontsize=9)
    return fig


def fig_loss_flow(res: LossFlow | None = None) -> Figure:
    """Left: ``L - L*`` along the flow (log-log) beside the prediction ``||W_F||^2 / t``. Right: attention on each
    optimal token tends to 1 (dashed)."""
    res = compute_loss_flow() if res is None else res
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.5)
    ok = res.t > 0
    lt = log10_time(res.t)
    ax1.semilogy(lt[ok], res.excess[ok], color=plots.COLORS["W"], label="gradient flow on $W$")
    late = ok & (res.t >= 10)
    ax1.semilogy(lt[late], res.prediction[late], **plots.THEORY_STYLE, label=r"$\|W_F\|_F^2/t$")
    log10_axis(ax1)
    ax1.set_yticks([1e0, 1e-100, 1e-200, 1e-300])
    ax1.yaxis.set_minor_locator(NullLocator())
    ax1.set_xlabel("time $t$ (log scale)")
    ax1.set_ylabel(r"$\mathcal{L}(W(t))-\mathcal{L}^*$ (log scale)")
    ax1.legend(loc="lower left")
    for i in range(res.sigma_opt.shape[1]):
        ax2.plot(lt[ok], res.sigma_opt[ok, i], color=SAMPLE_COLORS[i], label=f"sample {i + 1}")
    ax2.axhline(1.0, **plots.THEORY_STYLE, label="limit 1")
    ax2.set_xlim(-2, 12)
    log10_axis(ax2)
    ax2.set_xlabel("time $t$ (log scale)")
    ax2.set_ylabel(r"attention on the optimal token $\sigma_{\mathrm{opt}(i)}$")
    ax2.legend(loc="lower right")
    return fig


def fig_svm_plane(res: SVMPlane | None = None) -> Figure:
    """The six half-planes ``beta^T B_il >= 1`` (feasible region shaded), the l1 and l2 solutions with the norm
    balls that touch it, and the margin-normalised paths of the two diagonal flows."""
    res = compute_svm_plane() if res is None else res
    fig, ax = plots.new_figure(1, 1, width=6.4, height=4.6)
    lo, hi = (0.3, -0.45), (1.5, 0.75)
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 400), np.linspace(lo[1], hi[1], 400))
    feas = np.all(res.B @ np.stack([g1.ravel(), g2.ravel()]) >= 1, axis=0).reshape(g1.shape)
    ax.contourf(g1, g2, feas.astype(float), levels=[0.5, 1.5], colors=[plots.PALETTE["yellow"]], alpha=0.35)
    xs = np.linspace(lo[0], hi[0], 2)
    data = make_toy_data()
    for k, (b, (i, _)) in enumerate(zip(res.B, data.pairs)):
        first = k == 0 or data.pairs[k - 1][0] != i
        ax.plot(xs, (1 - b[0] * xs) / b[1], color=SAMPLE_COLORS[i], lw=1.0,
                label=rf"$\beta^\top B_{{{i + 1}l}}=1$ (sample {i + 1})" if first else None)
    r1 = np.abs(res.l1).sum()
    ax.plot([r1, 0, -r1, 0, r1], [0, r1, 0, -r1, 0], color=plots.COLORS["l1"], lw=1, linestyle=":")
    r2 = np.linalg.norm(res.l2)
    th = np.linspace(0, 2 * np.pi, 200)
    ax.plot(r2 * np.cos(th), r2 * np.sin(th), color=plots.COLORS["l2"], lw=1, linestyle=":")
    ax.plot(*res.path_beta.T, **plots.series_style("beta"), lw=2, label=r"flow on $\beta$: $\beta(t)/\mu(t)$")
    ax.plot(*res.path_xi.T, **plots.series_style("xi"), lw=2, label=r"flow on $\xi_k,\xi_q$: $\beta(t)/\mu(t)$")
    ax.scatter(*res.path_beta[0], s=25, color=plots.COLORS["beta"], zorder=5)
    ax.scatter(*res.path_xi[0], s=25, color=plots.COLORS["xi"], zorder=5)
    ax.scatter(*res.l2, s=90, marker="s", facecolor="none", edgecolor=plots.COLORS["theory"], lw=2, zorder=5,
               label=r"$\ell_2$-SVM solution")
    ax.scatter(*res.l1, s=110, marker="D", facecolor="none", edgecolor=plots.COLORS["theory"], lw=2, zorder=5,
               label=r"$\ell_1$-SVM solution")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\beta_1$")
    ax.set_ylabel(r"$\beta_2$")
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.01, 1.0))
    plots.finish(fig, legend=False)
    return fig


def fig_broken(res: BrokenAssumptions | None = None) -> Figure:
    """Excess loss along the flow: it goes to 0 like 1/t only when the assumptions hold."""
    res = compute_broken() if res is None else res
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.5)
    labels = {"toy": "toy data (Assumptions 1-3 hold)", "mirrored": "mirrored toy (Assumption 1 fails)",
              "generic": f"Gaussian, seed {BROKEN_GENERIC_SEED} (Assumptions 2, 3 fail)"}
    colors = {"toy": plots.COLORS["W"], "mirrored": plots.COLORS["KQ"], "generic": plots.COLORS["xi"]}
    for name, r in res.runs:
        ok = r.t > 0
        ax1.semilogy(log10_time(r.t[ok]), r.excess[ok], color=colors[name], label=labels[name])
        ax2.semilogy(log10_time(r.t[ok]), r.norm[ok], color=colors[name], label=labels[name])
    toy = res.toy
    late = toy.t >= 10
    ax1.semilogy(log10_time(toy.t[late]), toy.prediction[late],
                 **plots.THEORY_STYLE, label=r"$\|W_F\|_F^2/t$")
    for ax in (ax1, ax2):
        ax.set_xlim(-2, 40)
        log10_axis(ax)
    ax1.set_xlabel("time $t$ (log scale)")
    ax1.set_ylabel(r"$\mathcal{L}-\mathcal{L}^*$ (log scale)")
    ax1.set_ylim(1e-40, 1)
    ax1.legend(loc="lower left", fontsize=8)
    ax2.set_xlabel("time $t$ (log scale)")
    ax2.set_ylabel(r"$\|W(t)\|_F$ (log scale)")
    return fig


def fig_mirror_pair(res: MirrorPair | None = None) -> Figure:
    """Sample 1 and its mirror on the mirrored toy data: their attention along the flow (left) and the pair's part
    of the excess loss (right). Uniform attention is where the flow ends, not where it stays."""
    res = mirror_pair() if res is None else res
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.4)
    ok = np.isfinite(res.log_t)
    lt = res.log_t[ok]
    names = ("optimal token", "token 2", "token 3")
    colors = (plots.COLORS["opt"], plots.PALETTE["blue"], plots.PALETTE["vermillion"])
    markers = ("o", "s", "^")  # the tokens differ in marker too, so the figure reads in greyscale
    for l, (name, col, mk) in enumerate(zip(names, colors, markers)):
        ax1.plot(lt, res.attention[ok, 0, l], color=col, marker=mk, markevery=12, ms=4, label=f"sample 1, {name}")
        ax1.plot(lt, res.attention[ok, 1, l], color=col, ls="--", lw=1.2, marker=mk, markevery=(6, 12), ms=4,
                 mfc="white", label=f"mirror, {name}")
    L = res.attention.shape[-1]
    ax1.axhline(1 / L, **plots.THEORY_STYLE, label="uniform, $1/3$")
    ax1.set_xlabel(r"$\ln t$")
    ax1.set_ylabel(r"attention $\sigma_l$")
    ax1.legend(loc="upper right", fontsize=7, ncol=2)
    ax1.set_ylim(0.2, 0.52)
    ax2.plot(lt, res.pair_excess[ok], color=plots.COLORS["KQ"], label=r"the pair's part of $\mathcal{L}-\mathcal{L}^*$")
    ax2.axhline(res.pair_excess[0], **plots.THEORY_STYLE, label="at uniform attention")
    ax2.set_xlabel(r"$\ln t$")
    ax2.set_ylabel("excess loss of the pair")
    ax2.legend(loc="upper right", fontsize=8)
    return fig


def fig_direction_widget(c: float = 4.0, angle: float = 0) -> Figure:
    """Attention of every token (left) and the excess loss along the ray (right) at ``W = c D(angle)``."""
    data = make_toy_data()
    W = c * direction_at(angle)
    att = attention(data, W)
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.4, layout="none")  # fixed margins below
    width = 0.26
    for l in range(data.L):
        x = np.arange(data.n) + (l - 1) * width
        is_opt = data.opt == l
        ax1.bar(x, att[:, l], width, color=[plots.COLORS["opt"] if o else plots.COLORS["nopt"] for o in is_opt],
                edgecolor="black", lw=0.5)
    ax1.bar([0], [0], color=plots.COLORS["opt"], label="optimal token")
    ax1.bar([0], [0], color=plots.COLORS["nopt"], label="other tokens")
    ax1.axhline(1 / data.L, color=plots.COLORS["theory"], linestyle=":", lw=1, label="uniform ($W=0$)")
    ax1.set_xticks(np.arange(data.n), [f"sample {i + 1}" for i in range(data.n)])
    ax1.set_ylim(0, 1.35)
    ax1.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax1.set_ylabel(r"attention $\sigma(X_iWz_i)_l$")
    ax1.set_title(f"$W = {c:g}\\,D$, angle {angle:g}°, margin $\\mu(W)={margin(data, W):.2f}$", fontsize=10)
    ax1.legend(loc="upper center", fontsize=8, ncol=3)
    ray = cached_ray(float(angle))
    ref = cached_ray(0.0)
    ax2.semilogy(ref.c, ref.excess, color=plots.COLORS["context"], ls="--", label=r"along $W_F$ (angle 0°)")
    ax2.semilogy(ray.c, ray.excess, color=plots.COLORS["W"], label=f"along $D$ (angle {angle:g}°)")
    if ray.mu_dir > 0:
        ax2.semilogy(ray.c, ray.prediction, **plots.THEORY_STYLE,
                     label=rf"$\propto e^{{-\mu(D)c}}$, $\mu(D)={ray.mu_dir:.2f}$")
    ax2.scatter([c], [excess_loss(data, W)], color="black", zorder=5, label="current $W$")
    ax2.set_ylim(1e-10, 1)
    ax2.set_xlabel(r"scale $c$ in $W=c\,D$")
    ax2.set_ylabel(r"$\mathcal{L}-\mathcal{L}^*$ (log scale)")
    ax2.legend(loc="lower left", fontsize=8)
    plots.light_ticks(fig)  # the sliders redraw this figure
    return fig


FIGURES = by_name(fig_tokens, fig_loss_flow, fig_svm_plane, fig_broken, fig_direction_widget, fig_mirror_pair)


__getattr__ = compute_home("ch1")  # the chapter's computations keep their old home here
