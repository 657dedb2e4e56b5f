"""The intro's teaser: the same data, two parameterisations, two limit directions.

Drawing only (the package docstring says what that means); the numbers: :mod:`attnbook.experiments.intro`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import plots
from ..experiments.intro import compute_teaser
from . import compute_home


def teaser_figure(t_end: float | None = None) -> Figure:
    """Two panels: singular values of the W and K,Q limits (Frobenius vs nuclear), and the beta and xi limits
    (l2 vs l1), each beside the SVM solution it is expected to reach (black outlines; proved only for xi, if the
    limit exists: the intro's box says which are conjectures or observations)."""
    plots.use_book_style()
    res = compute_teaser(t_end)
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.4)
    k = np.arange(len(res.sv["W"]))
    w = 0.38
    for off, flow, svm, label in ((-w / 2, "W", "fro", "one matrix $W$"), (w / 2, "KQ", "nuc", "separate $K, Q$")):
        ax1.bar(k + off, res.sv[flow], w, color=plots.COLORS[flow], label=f"{label} (flow)")
        ax1.bar(k + off, res.sv[svm], w, fill=False, edgecolor=plots.COLORS["theory"], ls="--", lw=1.2)
    ax1.set_xticks(k, [f"$s_{j + 1}$" for j in k])
    ax1.set_ylabel(r"singular value of $\widehat W$")
    ax1.set_title("Frobenius (dense) vs nuclear (low rank)")
    svm_patch = Patch(fill=False, edgecolor=plots.COLORS["theory"], ls="--", label="SVM solution (expected limit)")
    ax1.legend(handles=ax1.get_legend_handles_labels()[0] + [svm_patch])
    j = np.arange(len(res.beta["beta"]))
    w3 = 0.27
    t_lab = rf"$\ln t=10^{{{np.log10(res.log_t_end):.0f}}}$"
    x300, _, _ = res.dist_curves["xi"]
    k300 = int(np.argmin(np.abs(x300 - np.log(1e300))))
    for off, flow, svm, label in ((-w3, "beta", "l2", r"combined $\beta$"), (w3, "xi", "l1", r"separate $\xi_k,\xi_q$")):
        ax2.bar(j + off, res.beta[flow], w3, color=plots.COLORS[flow], label=f"{label}, {t_lab}")
        ax2.bar(j + off, res.beta[svm], w3, fill=False, edgecolor=plots.COLORS["theory"], ls="--", lw=1.2)
    ax2.bar(j, res.bhat_path["xi"][k300], w3, facecolor=to_rgba(plots.COLORS["xi"], 0.45),
            edgecolor=plots.COLORS["xi"], hatch="..",
            label=r"separate $\xi_k,\xi_q$ at $t=10^{300}$")
    ax2.bar(j, res.beta["l1"], w3, fill=False, edgecolor=plots.COLORS["theory"], ls="--", lw=1.2)
    ax2.set_xticks(j, [rf"$\hat\beta_{i + 1}$" for i in j])
    ax2.set_ylabel(r"coordinate of $\hat\beta = \beta/\mu$")
    ax2.set_ylim(0, 1.65)
    ax2.set_title(r"$\ell_2$ (dense) vs $\ell_1$ (sparse)")
    ax2.legend(handles=ax2.get_legend_handles_labels()[0] + [svm_patch])
    plots.finish(fig, legend=False)
    return fig


def convergence_figure(pair: str = "W-KQ", t_end: float | None = None) -> Figure:
    """Relative distance of the margin-normalised ``W(t)/mu(t)`` to each SVM solution against ``ln t``.

    Parameters
    ----------
    pair : {"W-KQ", "beta-xi"}
        The two flows to show: combined ``W`` vs separate ``K, Q`` (Frobenius vs nuclear), or combined ``beta``
        vs separate ``xi`` (l2 vs l1).
    t_end : float, optional
        Final time (default: ``log t = TEASER_LOG_T_END``).
    """
    flows, svms = {"W-KQ": (("W", "KQ"), ("fro", "nuc")), "beta-xi": (("beta", "xi"), ("l2", "l1"))}[pair]
    names = {"W": "one matrix $W$", "KQ": "separate $K,Q$", "beta": r"combined $\beta$", "xi": r"separate $\xi_k,\xi_q$",
             "fro": "Frobenius", "nuc": "nuclear", "l2": r"$\ell_2$", "l1": r"$\ell_1$"}
    plots.use_book_style()
    res = compute_teaser(t_end)
    fig, ax = plots.new_figure(1, 1, width=7.0, height=3.6)
    for flow, own, other in ((flows[0], svms[0], svms[1]), (flows[1], svms[1], svms[0])):
        x, d_own, d_other = res.dist_curves[flow]
        ax.plot(x, np.maximum(d_own, 1e-16), **plots.series_style(flow),
                label=f"{names[flow]} vs {names[own]} SVM (expected $\\to 0$)")
        ax.plot(x, np.maximum(d_other, 1e-16), **plots.series_style(flow, ls=":"),
                label=f"{names[flow]} vs {names[other]} SVM")
    ax.axvline(np.log(1e300), color="grey", lw=0.8, ls="-.")
    ax.text(np.log(1e300) * 1.15, 0.02, "$t=10^{300}$", color="grey", fontsize=8, transform=ax.get_xaxis_transform())
    ax.set_xscale("log")
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_yscale("log")
    ax.set_ylabel(r"$\|W(t)/\mu(t)-W_{\mathrm{SVM}}\|\,/\,\|W_{\mathrm{SVM}}\|$ (log scale)")
    ax.legend(loc="lower left", fontsize=8)
    plots.finish(fig, legend=False)
    return fig


FIGURES = {"teaser": teaser_figure, "convergence_W_KQ": lambda: convergence_figure("W-KQ"),
           "convergence_beta_xi": lambda: convergence_figure("beta-xi")}


__getattr__ = compute_home("intro")  # the chapter's computations keep their old home here
