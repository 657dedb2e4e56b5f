"""Chapter 2, "One matrix W: the Frobenius bias": gradient flow on the combined W over many seeds of the peers'
setup (n=6, L=8, d=10, unit-norm Gaussian tokens), gradient flow vs (normalised) gradient descent, and the
singular values of the limit.

Flows are cached (functools.lru_cache), so the figures, the widget and the tests share them.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure

from .. import plots
from ..data import AttentionData, make_generic_data
from ..diagnostics import singular_values
from ..flow import Trajectory, gradient_descent, gradient_flow
from ..model import attention
from ..svm import solve_svm
from .ch1 import log10_axis

PEERS = (6, 8, 10)  # (n, L, d) of the peers' setup
T_END = 1e200  # flows run to t = 1e200 (margin ~ 460)
RTOL = 1e-6  # solver tolerance: the cosines agree with rtol = 1e-8 to 6 digits and it halves the cost
N_SEEDS = 20
EXCESS_TOL = 1e-3  # a seed whose excess loss stays above this has settled on a locally optimal selection
WIDGET_SEEDS = tuple(range(8))
WIDGET_SHAPES = ("n=6, L=8, d=10", "n=3, L=8, d=10", "n=6, L=4, d=10")


def parse_shape(shape: str) -> tuple[int, int, int]:
    """``"n=6, L=8, d=10"`` -> ``(6, 8, 10)``."""
    vals = dict(part.strip().split("=") for part in shape.split(","))
    return int(vals["n"]), int(vals["L"]), int(vals["d"])


_DATA: dict[tuple[int, int, int, int], AttentionData] = {}
_FLOWS: dict[tuple[int, int, int, int], Trajectory] = {}


def peers_data(seed: int, n: int = 6, L: int = 8, d: int = 10) -> AttentionData:
    """``make_generic_data(n, L, d, seed)``, cached (its SVM solutions are cached on it)."""
    key = (int(seed), int(n), int(L), int(d))
    if key not in _DATA:
        _DATA[key] = make_generic_data(n, L, d, seed)
    return _DATA[key]


def _run_flow(key: tuple[int, int, int, int]) -> Trajectory:
    """Flow on ``W`` from 0 to ``T_END`` for one key, with both SVMs solved (cached on ``traj.data``)."""
    seed, n, L, d = key
    data = make_generic_data(n, L, d, seed)
    traj = gradient_flow(data, "W", np.zeros((d, d)), log_t_end=np.log(T_END), rtol=RTOL)
    solve_svm(data, "fro")
    solve_svm(data, "nuc")
    return traj


def _store(key: tuple[int, int, int, int], traj: Trajectory) -> None:
    _FLOWS[key] = traj
    _DATA[key] = traj.data


def prefetch(keys, workers: int = 2) -> None:
    """Run the missing flows for ``keys`` (tuples ``(seed, n, L, d)``), ``workers`` at a time, into the cache.

    Falls back to one process if a process pool cannot be used.
    """
    missing = [tuple(int(v) for v in k) for k in keys]
    missing = [k for k in dict.fromkeys(missing) if k not in _FLOWS]
    if len(missing) > 1 and workers > 1:
        try:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(min(workers, len(missing)), mp_context=mp.get_context("fork")) as pool:
                for key, traj in zip(missing, pool.map(_run_flow, missing)):
                    _store(key, traj)
        except (OSError, ValueError, RuntimeError, ImportError):
            pass  # serial fallback below
    for key in missing:
        if key not in _FLOWS:
            _store(key, _run_flow(key))


def peers_flow(seed: int, n: int = 6, L: int = 8, d: int = 10) -> Trajectory:
    """Gradient flow on ``W`` from ``W(0) = 0`` on :func:`peers_data`, to ``T_END`` (cached)."""
    key = (int(seed), int(n), int(L), int(d))
    if key not in _FLOWS:
        _store(key, _run_flow(key))
    return _FLOWS[key]


def prefetch_widget(workers: int = 2) -> None:
    """Run the flows the widget's static twin shows (seeds at the peers' size, sizes at seed 0)."""
    keys = [(s, *PEERS) for s in WIDGET_SEEDS] + [(WIDGET_SEEDS[0], *parse_shape(sh)) for sh in WIDGET_SHAPES]
    prefetch(keys, workers)


@lru_cache(maxsize=None)
def seed_summary(seed: int, n: int = 6, L: int = 8, d: int = 10) -> dict:
    """One seed's flow against the Frobenius and nuclear SVM solutions.

    Returns
    -------
    dict
        ``log10_t`` (m,), ``cos_fro``/``cos_nuc`` (m,) cosines of ``W(t)`` with the two solutions, ``excess``
        (m,), ``wrong`` number of samples whose final attention peaks on a non-optimal token, ``local`` True when
        the flow settled on a locally optimal selection (``wrong > 0`` or final excess loss > ``EXCESS_TOL``),
        ``sv_limit``/``sv_fro``/``sv_nuc`` (d,) singular values of the final ``W`` scaled to margin 1 (to the
        Frobenius SVM's norm when the final margin is negative) and of the two solutions, ``margin`` (final),
        ``nfev``.
    """
    traj = peers_flow(seed, n, L, d)
    data = traj.data
    F, N = solve_svm(data, "fro"), solve_svm(data, "nuc")
    W = traj.final()
    wrong = int(np.sum(attention(data, W).argmax(axis=1) != data.opt))
    mu = traj.margin[-1]
    W_hat = W / mu if mu > 0 else W * F.value / np.linalg.norm(W)
    with np.errstate(divide="ignore"):
        log10_t = traj.log_t / np.log(10.0)
    return {"log10_t": log10_t, "cos_fro": traj.cosine_to(F.W), "cos_nuc": traj.cosine_to(N.W),
            "excess": traj.excess_loss, "wrong": wrong,
            "local": bool(wrong > 0 or traj.excess_loss[-1] > EXCESS_TOL),
            "sv_limit": singular_values(W_hat), "sv_fro": singular_values(F.W), "sv_nuc": singular_values(N.W),
            "margin": float(mu), "nfev": traj.nfev, "cos_fro_nuc": float(np.vdot(F.W, N.W) /
                                                                          (F.value * np.linalg.norm(N.W)))}


def compute_seed_sweep(seeds=tuple(range(N_SEEDS)), n: int = 6, L: int = 8, d: int = 10) -> dict:
    """Cosines with the two SVM solutions over seeds, split into global and locally optimal outcomes.

    Returns
    -------
    dict
        ``seeds`` (S,), ``log10_t`` (m,), ``cos_fro``/``cos_nuc`` (S, m), ``local`` (S,) bool, ``wrong`` (S,),
        ``final_excess`` (S,), ``cos_fro_final``/``cos_nuc_final`` (S,).
    """
    prefetch([(s, n, L, d) for s in seeds])
    rows = [seed_summary(s, n, L, d) for s in seeds]
    return {"seeds": np.array(seeds), "log10_t": rows[0]["log10_t"],
            "cos_fro": np.array([r["cos_fro"] for r in rows]), "cos_nuc": np.array([r["cos_nuc"] for r in rows]),
            "local": np.array([r["local"] for r in rows]), "wrong": np.array([r["wrong"] for r in rows]),
            "final_excess": np.array([r["excess"][-1] for r in rows]),
            "cos_fro_final": np.array([r["cos_fro"][-1] for r in rows]),
            "cos_nuc_final": np.array([r["cos_nuc"][-1] for r in rows])}


def _band(ax, x, Y, color, label):
    """Median line and min-max band of the rows of ``Y`` (S, m)."""
    ax.fill_between(x, np.nanmin(Y, axis=0), np.nanmax(Y, axis=0), color=color, alpha=0.25, lw=0)
    ax.plot(x, np.nanmedian(Y, axis=0), color=color, label=label)


def fig_seed_sweep() -> Figure:
    """Left: seeds that reach the optimal token selection, median and min-max band of the cosine with the
    Frobenius (-> 1, dashed) and the nuclear SVM solution. Right: the seeds that settle on a locally optimal
    selection, one line each."""
    res = compute_seed_sweep()
    x = res["log10_t"]
    ok = np.isfinite(x) & (x >= -2)
    glob, loc = ~res["local"], res["local"]
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.5, height=3.7, sharey=True)
    _band(ax1, x[ok], res["cos_fro"][glob][:, ok], plots.COLORS["fro"], r"cosine with $W_F$-SVM")
    _band(ax1, x[ok], res["cos_nuc"][glob][:, ok], plots.COLORS["nuc"], r"cosine with $W_*$-SVM")
    ax1.set_title(f"{glob.sum()} of {len(glob)} seeds: optimal tokens selected", fontsize=10)
    for k in np.flatnonzero(loc):
        ax2.plot(x[ok], res["cos_fro"][k, ok], color=plots.COLORS["fro"], lw=1.2, alpha=0.8,
                 label=r"cosine with $W_F$-SVM")
        ax2.plot(x[ok], res["cos_nuc"][k, ok], color=plots.COLORS["nuc"], lw=1.2, alpha=0.8,
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


# -- GF vs normalised GD vs plain GD ---------------------------------------------------------------------------

@lru_cache(maxsize=None)
def compute_gd_comparison(seed: int = 0, lr: float = 0.1) -> dict:
    """Gradient flow, normalised GD and plain GD on one seed of the peers' setup, with the same number of
    gradient evaluations: the flow's, counting each Hessian its implicit solver used as the ``d^2`` gradient
    evaluations it costs by finite differences (generous to GD: the analytic one costs a few gradients).

    Returns
    -------
    dict
        For "GF", "NGD", "GD": ``margin`` (m,), ``cos_fro`` (m,), ``evals`` (m,) gradient evaluations so far
        (GF: only the total is known, at the last entry; NaN elsewhere); and ``budget``.
    """
    traj = peers_flow(seed, *PEERS)
    data = traj.data
    F = solve_svm(data, "fro")
    budget = int(traj.nfev + traj.njev * data.d ** 2)
    out = {"budget": budget,
           "GF": {"margin": traj.margin, "cos_fro": traj.cosine_to(F.W),
                  "evals": np.r_[np.full(len(traj) - 1, np.nan), budget]}}
    W0 = np.zeros((data.d, data.d))
    for name, normalized in (("NGD", True), ("GD", False)):
        gd = gradient_descent(data, "W", W0, lr=lr, steps=budget, normalized=normalized)
        out[name] = {"margin": gd.margin, "cos_fro": gd.cosine_to(F.W), "evals": np.rint(gd.t / lr)}
    return out


GD_COLORS = {"GF": plots.COLORS["W"], "NGD": plots.COLORS["ngd"], "GD": plots.COLORS["gd"]}
GD_LABELS = {"GF": "gradient flow", "NGD": "normalized GD, lr 0.1", "GD": "GD, lr 0.1"}
GD_STYLES = {"GF": {"lw": 5, "alpha": 0.45}, "NGD": {"lw": 2}, "GD": {"lw": 1.5, "linestyle": "--"}}


def fig_gd_comparison() -> Figure:
    """Left: cosine with the Frobenius SVM solution against the margin reached, for the three methods. Right:
    margin against gradient evaluations (the flow: its total budget, one point)."""
    res = compute_gd_comparison()
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.5, height=3.6)
    for name in ("GF", "NGD", "GD"):
        r = res[name]
        ok = r["margin"] > 0
        ax1.plot(np.log10(r["margin"][ok]), 1 - r["cos_fro"][ok], color=GD_COLORS[name], label=GD_LABELS[name],
                 **GD_STYLES[name])
        if name == "GF":
            ax2.scatter([np.log10(res["budget"])], [np.log10(r["margin"][-1])], marker="*", s=180,
                        color=GD_COLORS[name], edgecolor="black", zorder=5, label=GD_LABELS[name] + " (total)")
        else:
            ev = r["evals"] > 0
            pos = ev & ok
            ax2.plot(np.log10(r["evals"][pos]), np.log10(r["margin"][pos]), color=GD_COLORS[name],
                     label=GD_LABELS[name], **GD_STYLES[name])
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
    return fig


# -- singular values ---------------------------------------------------------------------------------------------

def numerical_rank(sv: np.ndarray, tol: float = 1e-6) -> int:
    """Number of singular values above ``tol`` times the largest."""
    return int(np.sum(sv > tol * sv[0]))


def _draw_sv(ax, s: dict, title: str) -> None:
    k = np.arange(1, len(s["sv_fro"]) + 1)
    ax.plot(k, s["sv_fro"], color=plots.COLORS["fro"], linestyle="--", marker="s", mfc="none", ms=8,
            label=r"$W_F$-SVM solution")
    ax.plot(k, s["sv_nuc"], color=plots.COLORS["nuc"], linestyle="--", marker="D", mfc="none", ms=8,
            label=r"$W_*$-SVM solution")
    ax.plot(k, s["sv_limit"], color="black", linestyle="none", marker="o", ms=5,
            label=r"flow: $W(t)/\mu(W(t))$" if s["margin"] > 0 else r"flow: $W(t)$, scaled")
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
        good = int(sweep["seeds"][~sweep["local"]][0])
        bad = int(sweep["seeds"][sweep["local"]][0]) if sweep["local"].any() else good
        seeds = (good, bad)
    fig, axes = plots.new_figure(1, 2, width=9.5, height=3.6, sharey=True)
    for ax, seed in zip(axes, seeds):
        s = seed_summary(seed, *PEERS)
        what = "optimal selection" if not s["local"] else f"locally optimal ({s['wrong']} wrong)"
        _draw_sv(ax, s, f"seed {seed}: {what}")
    axes[0].legend(loc="lower left", fontsize=8)
    return fig


# -- the widget -------------------------------------------------------------------------------------------------

def fig_peers_widget(seed: int = 0, shape: str = WIDGET_SHAPES[0]) -> Figure:
    """Cosines along the flow (left) and singular values of the limit (right) for one seed and data size."""
    n, L, d = parse_shape(shape)
    s = seed_summary(seed, n, L, d)
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.5, height=3.5)
    x = s["log10_t"]
    ok = np.isfinite(x) & (x >= -2)
    ax1.plot(x[ok], s["cos_fro"][ok], color=plots.COLORS["fro"], label=r"cosine with $W_F$-SVM")
    ax1.plot(x[ok], s["cos_nuc"][ok], color=plots.COLORS["nuc"], label=r"cosine with $W_*$-SVM")
    ax1.axhline(1.0, **plots.THEORY_STYLE, label="prediction: 1")
    ax1.set_ylim(0.0, 1.05)
    ax1.set_xlabel("time $t$ (log scale)")
    ax1.set_ylabel("cosine")
    log10_axis(ax1)
    ax1.legend(loc="lower right", fontsize=8)
    status = ("optimal tokens selected" if not s["local"]
              else f"locally optimal: {s['wrong']} sample(s) select a wrong token")
    ax1.set_title(f"{shape}, seed {seed}: {status}", fontsize=9)
    _draw_sv(ax2, s, f"final cosines: $W_F$ {s['cos_fro'][-1]:.4f}, $W_*$ {s['cos_nuc'][-1]:.3f}")
    ax2.legend(loc="upper right", fontsize=8)
    return fig


FIGURES = {
    "seed_sweep": fig_seed_sweep,
    "gd_comparison": fig_gd_comparison,
    "singular_values": fig_singular_values,
    "peers_widget": fig_peers_widget,
}
