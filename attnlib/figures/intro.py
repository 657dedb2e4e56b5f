"""The intro's teaser: the same data, two parameterisations, two limit directions."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import plots
from ..data import make_diagonal_data, make_generic_data
from ..diagnostics import singular_values
from ..flow import default_init, gradient_flow
from ..svm import solve_svm

TEASER_DATA = dict(n=3, L=3, d=4, seed=2, equal_scores=True)  # nuclear SVM solution has rank 1 here


#: How far the teaser's flows run: log t = 1e6, past the xi-flow's lock-on to the l1-SVM (ln t ~ 2.6e5).
TEASER_LOG_T_END = 1e6
#: Saved times (log t) where the intro quotes numbers: ln t = 6, t = 1e10, t = 1e300, ln t = 1e4, 1e5.
TEASER_MARKS = (6.0, float(np.log(1e10)), float(np.log(1e300)), 1e4, 1e5)


def compute_teaser(t_end: float | None = None, log_t_end: float = TEASER_LOG_T_END) -> dict:
    """Limit directions of the four flows at ``log t = log_t_end`` (or ``t = t_end``) and the four SVM solutions.

    Returns
    -------
    dict
        ``sv``: singular values (d,) of the margin-normalised limits of the "W" and "KQ" flows and of the
        "fro"/"nuc" SVM solutions (generic data ``TEASER_DATA``); ``beta``: margin-normalised limits (d,) of the
        "beta" and "xi" flows and the "l2"/"l1" SVM solutions (the book's diagonal data); ``cos`` and ``dist``:
        cosine and relative distance ``||W/mu - W_svm|| / ||W_svm||`` of each flow's final direction with its
        predicted SVM solution and with the other one; ``curves``: per flow ``(log_t, cos_own, cos_other)`` for
        ``t > 1``; ``dist_curves``: per flow ``(log_t, dist_own, dist_other)``; ``bhat_path``: for "beta"/"xi"
        ``beta(t)/mu(t)`` (m, d) on the same times; ``log_t_end``.
    """
    lt_end = float(np.log(t_end)) if t_end is not None else float(log_t_end)
    return _compute_teaser(lt_end)


@lru_cache(maxsize=None)
def _compute_teaser(log_t_end: float) -> dict:
    gen = make_generic_data(**TEASER_DATA)
    diag = make_diagonal_data()
    out: dict = {"sv": {}, "beta": {}, "cos": {}, "dist": {}, "curves": {}, "dist_curves": {}, "log_t_end": log_t_end}
    runs = {"W": (gen, np.zeros((gen.d, gen.d)), "fro", "nuc"),
            "KQ": (gen, default_init(gen, "KQ", 0.01, seed=0), "nuc", "fro"),
            "beta": (diag, np.zeros(diag.d), "l2", "l1"),
            "xi": (diag, default_init(diag, "xi", 0.1, seed=None), "l1", "l2")}
    grid = np.unique(np.concatenate([[-np.inf], np.expm1(np.linspace(0.0, np.log1p(log_t_end), 300)),
                                     [m for m in TEASER_MARKS if m < log_t_end]]))
    for param, (data, init, own, other) in runs.items():
        traj = gradient_flow(data, param, init, log_t_end=log_t_end, log_t_eval=grid)
        W_hat = traj.direction()[-1]
        sol_own, sol_other = solve_svm(data, own), solve_svm(data, other)
        own_cos, other_cos = traj.cosine_to(sol_own.W), traj.cosine_to(sol_other.W)
        late = traj.log_t > 0.01  # t > 1: plotted against ln t on a log axis
        W_mu = traj.W[late] / traj.margin[late, None, None]
        own_d, other_d = (np.linalg.norm(W_mu - s.W, axis=(1, 2)) / np.linalg.norm(s.W) for s in (sol_own, sol_other))
        out["cos"][param] = (own_cos[-1], other_cos[-1])
        out["dist"][param] = (float(own_d[-1]), float(other_d[-1]))
        out["curves"][param] = (traj.log_t[late], own_cos[late], other_cos[late])
        out["dist_curves"][param] = (traj.log_t[late], own_d, other_d)
        if param in ("beta", "xi"):
            out.setdefault("bhat_path", {})[param] = np.einsum("mjj->mj", W_mu)
        if param in ("W", "KQ"):
            out["sv"][param] = singular_values(W_hat)
            out["sv"][own] = singular_values(sol_own.W)
        else:
            out["beta"][param] = np.diag(traj.W[-1]) / traj.margin[-1]
            out["beta"][own] = sol_own.beta
    return out


def teaser_at(flow: str, log_t: float) -> dict:
    """The teaser's ``flow`` at the saved time nearest ``log_t``: ``log_t``, ``cos``/``dist`` (own, other) and,
    for "beta"/"xi", ``bhat`` (d,) = ``beta / mu`` and its l1 norm ``l1_norm``."""
    res = compute_teaser()
    x, c_own, c_other = res["curves"][flow]
    _, d_own, d_other = res["dist_curves"][flow]
    k = int(np.argmin(np.abs(x - log_t)))
    out = {"log_t": float(x[k]), "cos": (float(c_own[k]), float(c_other[k])), "dist": (float(d_own[k]), float(d_other[k]))}
    if flow in ("beta", "xi"):
        bhat = res["bhat_path"][flow][k]
        out.update(bhat=bhat, l1_norm=float(np.abs(bhat).sum()))
    return out


def teaser_figure(t_end: float | None = None) -> Figure:
    """Two panels: singular values of the W and K,Q limits (Frobenius vs nuclear), and the beta and xi limits
    (l2 vs l1), each beside the SVM solution the theory predicts (black outlines)."""
    plots.use_book_style()
    res = compute_teaser(t_end)
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.4)
    k = np.arange(len(res["sv"]["W"]))
    w = 0.38
    for off, flow, svm, label in ((-w / 2, "W", "fro", "one matrix $W$"), (w / 2, "KQ", "nuc", "separate $K, Q$")):
        ax1.bar(k + off, res["sv"][flow], w, color=plots.COLORS[flow], label=f"{label} (flow)")
        ax1.bar(k + off, res["sv"][svm], w, fill=False, edgecolor=plots.COLORS["theory"], ls="--", lw=1.2)
    ax1.set_xticks(k, [f"$s_{j + 1}$" for j in k])
    ax1.set_ylabel(r"singular value of $\widehat W$")
    ax1.set_title("Frobenius (dense) vs nuclear (low rank)")
    svm_patch = Patch(fill=False, edgecolor=plots.COLORS["theory"], ls="--", label="SVM solution (theory)")
    ax1.legend(handles=ax1.get_legend_handles_labels()[0] + [svm_patch])
    j = np.arange(len(res["beta"]["beta"]))
    w3 = 0.27
    t_lab = rf"$\ln t=10^{{{np.log10(res['log_t_end']):.0f}}}$"
    x300, _, _ = res["dist_curves"]["xi"]
    k300 = int(np.argmin(np.abs(x300 - np.log(1e300))))
    for off, flow, svm, label in ((-w3, "beta", "l2", r"combined $\beta$"), (w3, "xi", "l1", r"separate $\xi_k,\xi_q$")):
        ax2.bar(j + off, res["beta"][flow], w3, color=plots.COLORS[flow], label=f"{label}, {t_lab}")
        ax2.bar(j + off, res["beta"][svm], w3, fill=False, edgecolor=plots.COLORS["theory"], ls="--", lw=1.2)
    ax2.bar(j, res["bhat_path"]["xi"][k300], w3, color=plots.COLORS["xi"], alpha=0.45, hatch="..",
            label=r"separate $\xi_k,\xi_q$ at $t=10^{300}$")
    ax2.bar(j, res["beta"]["l1"], w3, fill=False, edgecolor=plots.COLORS["theory"], ls="--", lw=1.2)
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
        x, d_own, d_other = res["dist_curves"][flow]
        ax.plot(x, np.maximum(d_own, 1e-16), color=plots.COLORS[flow],
                label=f"{names[flow]} vs {names[own]} SVM (theory: $\\to 0$)")
        ax.plot(x, np.maximum(d_other, 1e-16), color=plots.COLORS[flow], ls=":",
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
