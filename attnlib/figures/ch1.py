"""Chapter 1, "Attention as token selection": a d = 2 toy data set, the loss tending to L* > 0, the attention SVM
constraints in the plane, the assumptions, and what breaks without them.

Every figure function returns a matplotlib Figure; the ``compute_*`` functions hold the numbers (tests call them).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from .. import plots
from ..data import AttentionData, make_generic_data
from ..flow import Trajectory, default_init, gradient_flow
from ..model import attention, excess_loss, margin, min_loss, predict
from ..svm import solve_svm

# The toy data: sample i has one optimal token (0, 4 y_i) (score 4) and two tokens (-b_il, 0) (score 0); its
# query is z_i = (1, c_i / (4 y_i)), so the diagonal constraint rows are B_il = z_i * (x_opt - x_il) = (b_il, c_i).
TOY_B1 = ((1.0, 1.25), (1.4, 1.1), (1.5, 2.0))  # b_il: first coordinate of B_il
TOY_C = (0.5, 0.2, -0.2)  # c_i: second coordinate of B_il (shared by the two tokens of a sample)
TOY_Y = (1.0, -1.0, 1.0)
TOY_SCORE = 4.0
SAMPLE_COLORS = (plots.OKABE_ITO["blue"], plots.OKABE_ITO["vermillion"], plots.OKABE_ITO["bluish_green"],
                 plots.OKABE_ITO["reddish_purple"])


def log10_axis(ax, which: str = "x") -> None:
    """Label a linear axis that carries ``log10`` of a quantity as a log axis (ticks ``10^k``).

    Matplotlib's own log axes overflow (RuntimeWarning) for data near 1e300, which the flows reach.
    """
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(MaxNLocator(nbins=7, integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"$10^{{{int(round(v))}}}$"))


def log10_time(t: np.ndarray) -> np.ndarray:
    """``log10 t`` with ``-inf`` at ``t = 0``."""
    with np.errstate(divide="ignore"):
        return np.log10(t)


def make_toy_data(score: float = TOY_SCORE) -> AttentionData:
    """The chapter's d = 2 data set: n = 3 samples of L = 3 tokens, head ``v = e_2``.

    Parameters
    ----------
    score : float
        The optimal tokens' score ``gamma_{i,opt}`` (the others score 0); 4 meets Assumption 3 at ``W = 0``.

    Returns
    -------
    AttentionData
        ``X`` (3, 3, 2), ``z`` (3, 2), ``y`` (3,), ``v = (0, 1)``; token 0 is optimal in every sample.
    """
    b1, c, y = np.array(TOY_B1), np.array(TOY_C), np.array(TOY_Y)
    n, L = b1.shape[0], b1.shape[1] + 1
    X = np.zeros((n, L, 2))
    X[:, 0, 1] = score * y
    X[:, 1:, 0] = -b1
    z = np.stack([np.ones(n), c / (score * y)], axis=1)
    return AttentionData(X, z, y, np.array([0.0, 1.0]))


def make_mirrored_data(data: AttentionData | None = None, sample: int = 0) -> AttentionData:
    """Append a mirror image of one sample: every token negated, the label flipped, the same query.

    The copy has the same scores ``gamma`` and the same optimal token, but its constraint matrices are
    ``-A_il``: no ``W`` can satisfy both ``<A_il, W> >= 1`` and ``<-A_il, W> >= 1`` (Assumption 1 fails).

    Parameters
    ----------
    data : AttentionData, optional
        Default :func:`make_toy_data`.
    sample : int
        The sample to mirror.

    Returns
    -------
    AttentionData
        ``n + 1`` samples.
    """
    data = make_toy_data() if data is None else data
    X = np.concatenate([data.X, -data.X[sample:sample + 1]])
    z = np.concatenate([data.z, data.z[sample:sample + 1]])
    y = np.concatenate([data.y, -data.y[sample:sample + 1]])
    return AttentionData(X, z, y, data.v)


# -- section 1: scores and the convex combination ------------------------------------------------------------

def compute_phi_along_ray(scales=None, data: AttentionData | None = None) -> dict:
    """``y_i Phi(c W_F)`` along the ray through the Frobenius SVM solution ``W_F``.

    Parameters
    ----------
    scales : array_like of shape (m,), optional
        The factors ``c`` (default 0..12).
    data : AttentionData, optional
        Default :func:`make_toy_data`.

    Returns
    -------
    dict
        ``c`` (m,), ``yPhi`` (m, n) the outputs ``y_i Phi``, ``gamma`` (n, L), ``uniform`` (n,) the score average
        (``y_i Phi`` at ``W = 0``), ``attention`` (m, n, L).
    """
    data = make_toy_data() if data is None else data
    c = np.linspace(0.0, 12.0, 97) if scales is None else np.asarray(scales, dtype=float)
    W_F = solve_svm(data, "fro").W
    att = np.array([attention(data, s * W_F) for s in c])
    yphi = np.array([data.y * predict(data, s * W_F) for s in c])
    return {"c": c, "yPhi": yphi, "gamma": np.array(data.gamma), "uniform": data.gamma.mean(axis=1),
            "attention": att}


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
        ax2.plot(res["c"], res["yPhi"][:, i], color=SAMPLE_COLORS[i], label=f"sample {i + 1}")
    ax2.axhline(data.gamma_opt.max(), **plots.THEORY_STYLE, label=r"$\gamma_{i,\mathrm{opt}}$ (limit)")
    ax2.axhline(res["uniform"][0], color=plots.COLORS["nopt"], linestyle=":", label="score average ($W=0$)")
    ax2.set_xlabel(r"scale $c$ in $W=c\,W_F$")
    ax2.set_ylabel(r"$y_i\Phi=\gamma_i^\top\sigma(X_iWz_i)$")
    ax2.set_ylim(-0.2, data.gamma_opt.max() + 0.4)
    ax2.legend(loc="lower right", fontsize=9)
    return fig


# -- section 2: the loss tends to L* > 0 -----------------------------------------------------------------------

@lru_cache(maxsize=None)
def toy_flow(t_end: float = 1e300) -> Trajectory:
    """Gradient flow on ``W`` from ``W(0) = 0`` on the toy data, to ``t_end`` (cached)."""
    data = make_toy_data()
    return gradient_flow(data, "W", default_init(data, "W"), log_t_end=np.log(t_end))


def compute_loss_flow(t_end: float = 1e300) -> dict:
    """Excess loss and attention on the optimal tokens along the toy flow, with the 1/t prediction.

    Returns
    -------
    dict
        ``t`` (m,), ``excess`` (m,) ``L(W(t)) - L*``, ``prediction`` (m,) ``||W_F||_F^2 / t``, ``ratio`` (m,)
        measured / predicted, ``sigma_opt`` (m, n) attention on each optimal token, ``margin`` (m,),
        ``L_star``, ``L0`` the loss at ``W = 0``, ``cos_fro`` (m,) cosine of ``W(t)`` with ``W_F``.
    """
    traj = toy_flow(t_end)
    data = traj.data
    sol = solve_svm(data, "fro")
    with np.errstate(divide="ignore"):
        pred = np.where(traj.t > 0, sol.value ** 2 / traj.t, np.inf)
    sig = np.array([attention(data, W)[np.arange(data.n), data.opt] for W in traj.W])
    return {"t": traj.t, "excess": traj.excess_loss, "prediction": pred, "ratio": traj.excess_loss / pred,
            "sigma_opt": sig, "margin": traj.margin, "L_star": min_loss(data), "L0": traj.loss[0],
            "cos_fro": traj.cosine_to(sol.W), "nfev": traj.nfev}


def fig_loss_flow() -> Figure:
    """Left: ``L - L*`` along the flow (log-log) beside the prediction ``||W_F||^2 / t``. Right: attention on each
    optimal token tends to 1 (dashed)."""
    res = compute_loss_flow()
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.5)
    ok = res["t"] > 0
    lt = log10_time(res["t"])
    ax1.semilogy(lt[ok], res["excess"][ok], color=plots.COLORS["W"], label="gradient flow on $W$")
    late = ok & (res["t"] >= 10)
    ax1.semilogy(lt[late], res["prediction"][late], **plots.THEORY_STYLE, label=r"$\|W_F\|_F^2/t$")
    log10_axis(ax1)
    ax1.set_yticks([1e0, 1e-100, 1e-200, 1e-300])
    ax1.yaxis.set_minor_locator(NullLocator())
    ax1.set_xlabel("time $t$ (log scale)")
    ax1.set_ylabel(r"$\mathcal{L}(W(t))-\mathcal{L}^*$ (log scale)")
    ax1.legend(loc="lower left")
    for i in range(res["sigma_opt"].shape[1]):
        ax2.plot(lt[ok], res["sigma_opt"][ok, i], color=SAMPLE_COLORS[i], label=f"sample {i + 1}")
    ax2.axhline(1.0, **plots.THEORY_STYLE, label="limit 1")
    ax2.set_xlim(-2, 12)
    log10_axis(ax2)
    ax2.set_xlabel("time $t$ (log scale)")
    ax2.set_ylabel(r"attention on the optimal token $\sigma_{\mathrm{opt}(i)}$")
    ax2.legend(loc="lower right")
    return fig


# -- section 3: the SVM constraints in the plane ---------------------------------------------------------------

@lru_cache(maxsize=None)
def compute_svm_plane(t_end: float = 1e300) -> dict:
    """The diagonal attention SVM of the toy data in the ``beta`` plane, and two flows' normalised paths.

    Returns
    -------
    dict
        ``B`` (n(L-1), 2) constraint rows, ``l1``/``l2`` (2,) SVM solutions, ``path_beta``/``path_xi`` (m, 2) the
        margin-normalised ``beta(t)/mu(t)`` of gradient flow on ``beta`` (from 0) and on ``(xi_k, xi_q)`` (from
        init (5)) where ``mu > 0``, and the cosines of their endpoints with their predicted solutions.
    """
    data = make_toy_data()
    l1, l2 = solve_svm(data, "l1"), solve_svm(data, "l2")
    out = {"B": np.array(data.B), "l1": np.array(l1.beta), "l2": np.array(l2.beta)}
    for name, param, init in (("beta", "beta", np.zeros(data.d)), ("xi", "xi", default_init(data, "xi", seed=None))):
        traj = gradient_flow(data, param, init, log_t_end=np.log(t_end))
        ok = traj.margin > 0
        path = np.array([np.diag(W) for W in traj.W[ok]]) / traj.margin[ok, None]
        out[f"path_{name}"] = path
    out["dist_beta_l2"] = float(np.linalg.norm(out["path_beta"][-1] - out["l2"]))
    out["dist_xi_l1"] = float(np.linalg.norm(out["path_xi"][-1] - out["l1"]))
    return out


def fig_svm_plane() -> Figure:
    """The six half-planes ``beta^T B_il >= 1`` (feasible region shaded), the l1 and l2 solutions with the norm
    balls that touch it, and the margin-normalised paths of the two diagonal flows."""
    res = compute_svm_plane()
    fig, ax = plots.new_figure(1, 1, width=6.4, height=4.6)
    lo, hi = (0.3, -0.45), (1.5, 0.75)
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 400), np.linspace(lo[1], hi[1], 400))
    feas = np.all(res["B"] @ np.stack([g1.ravel(), g2.ravel()]) >= 1, axis=0).reshape(g1.shape)
    ax.contourf(g1, g2, feas.astype(float), levels=[0.5, 1.5], colors=[plots.OKABE_ITO["yellow"]], alpha=0.35)
    xs = np.linspace(lo[0], hi[0], 2)
    data = make_toy_data()
    for k, (b, (i, _)) in enumerate(zip(res["B"], data.pairs)):
        first = k == 0 or data.pairs[k - 1][0] != i
        ax.plot(xs, (1 - b[0] * xs) / b[1], color=SAMPLE_COLORS[i], lw=1.0, alpha=0.8,
                label=rf"$\beta^\top B_{{{i + 1}l}}=1$ (sample {i + 1})" if first else None)
    r1 = np.abs(res["l1"]).sum()
    ax.plot([r1, 0, -r1, 0, r1], [0, r1, 0, -r1, 0], color=plots.COLORS["l1"], lw=1, linestyle=":")
    r2 = np.linalg.norm(res["l2"])
    th = np.linspace(0, 2 * np.pi, 200)
    ax.plot(r2 * np.cos(th), r2 * np.sin(th), color=plots.COLORS["l2"], lw=1, linestyle=":")
    ax.plot(*res["path_beta"].T, color=plots.COLORS["beta"], lw=2, label=r"flow on $\beta$: $\beta(t)/\mu(t)$")
    ax.plot(*res["path_xi"].T, color=plots.COLORS["xi"], lw=2, label=r"flow on $\xi_k,\xi_q$: $\beta(t)/\mu(t)$")
    ax.scatter(*res["path_beta"][0], s=25, color=plots.COLORS["beta"], zorder=5)
    ax.scatter(*res["path_xi"][0], s=25, color=plots.COLORS["xi"], zorder=5)
    ax.scatter(*res["l2"], s=90, marker="s", facecolor="none", edgecolor=plots.COLORS["theory"], lw=2, zorder=5,
               label=r"$\ell_2$-SVM solution")
    ax.scatter(*res["l1"], s=110, marker="D", facecolor="none", edgecolor=plots.COLORS["theory"], lw=2, zorder=5,
               label=r"$\ell_1$-SVM solution")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\beta_1$")
    ax.set_ylabel(r"$\beta_2$")
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.01, 1.0))
    plots.finish(fig, legend=False)
    return fig


# -- section 4: what breaks -----------------------------------------------------------------------------------

BROKEN_GENERIC_SEED = 5  # make_generic_data(6, 8, 10, seed=5): the flow from 0 settles on a wrong token
MIRRORED_T_END = 1e8  # without separability the log-time flow turns stiff (the gradient vanishes in some directions)


@lru_cache(maxsize=None)
def compute_broken(t_end: float = 1e300) -> dict:
    """Gradient flow on ``W`` from 0 on three data sets: the toy data (Assumptions 1-3 hold), its mirrored
    version (Assumption 1 fails) and generic Gaussian data (Assumption 2 fails).

    Returns
    -------
    dict
        For each of "toy", "mirrored", "generic": ``t`` (m,), ``excess`` (m,), ``wrong`` the number of samples
        whose final attention peaks on a non-optimal token, ``norm`` (m,) ``||W(t)||_F``, ``W_final`` (d, d),
        ``data``.
    """
    sets = {"toy": make_toy_data(), "mirrored": make_mirrored_data(),
            "generic": make_generic_data(6, 8, 10, BROKEN_GENERIC_SEED)}
    out = {}
    for name, data in sets.items():
        if name == "toy":
            traj = toy_flow(t_end)
        else:
            end = min(t_end, MIRRORED_T_END) if name == "mirrored" else t_end
            traj = gradient_flow(data, "W", default_init(data, "W"), log_t_end=np.log(end), rtol=1e-6)
        final = attention(data, traj.final())
        out[name] = {"t": traj.t, "excess": traj.excess_loss, "norm": np.linalg.norm(traj.W, axis=(1, 2)),
                     "W_final": traj.final(),
                     "wrong": int(np.sum(final.argmax(axis=1) != data.opt)), "data": data}
    return out


def fig_broken() -> Figure:
    """Excess loss along the flow: it goes to 0 like 1/t only when the assumptions hold."""
    res = compute_broken()
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.5)
    labels = {"toy": "toy data (Assumptions 1-3 hold)", "mirrored": "mirrored toy (Assumption 1 fails)",
              "generic": f"Gaussian, seed {BROKEN_GENERIC_SEED} (Assumption 2 fails)"}
    colors = {"toy": plots.COLORS["W"], "mirrored": plots.COLORS["KQ"], "generic": plots.COLORS["xi"]}
    for name, r in res.items():
        ok = r["t"] > 0
        ax1.semilogy(log10_time(r["t"][ok]), r["excess"][ok], color=colors[name], label=labels[name])
        ax2.semilogy(log10_time(r["t"][ok]), r["norm"][ok], color=colors[name], label=labels[name])
    toy = res["toy"]
    late = toy["t"] >= 10
    ax1.semilogy(log10_time(toy["t"][late]), solve_svm(make_toy_data(), "fro").value ** 2 / toy["t"][late],
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


# -- the widget: move W along a direction ---------------------------------------------------------------------

WIDGET_SCALES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
WIDGET_ANGLES = (0, 15, 30, 45, 60, 90, 120, 150, 180)


@lru_cache(maxsize=None)
def widget_directions() -> tuple[np.ndarray, np.ndarray]:
    """``W_F`` (margin 1) and a matrix ``P`` of the same norm orthogonal to it, each shape (2, 2)."""
    W_F = np.array(solve_svm(make_toy_data(), "fro").W)
    J = np.array([[0.0, -1.0], [1.0, 0.0]])
    P = J - np.vdot(J, W_F) / np.vdot(W_F, W_F) * W_F
    return W_F, P * np.linalg.norm(W_F) / np.linalg.norm(P)


def direction_at(angle: float) -> np.ndarray:
    """``D(angle) = cos(angle) W_F + sin(angle) P`` (angle in degrees), shape (2, 2)."""
    W_F, P = widget_directions()
    a = np.deg2rad(angle)
    return np.cos(a) * W_F + np.sin(a) * P


@lru_cache(maxsize=64)
def _cached_ray(angle: float) -> dict:
    return compute_ray(angle, np.linspace(0.0, 20.0, 81))


def compute_ray(angle: float, scales=None) -> dict:
    """Excess loss and margin along the ray ``W = c D(angle)``.

    Returns
    -------
    dict
        ``c`` (m,), ``excess`` (m,), ``mu_dir`` the margin of ``D(angle)`` (1 at angle 0), ``prediction`` (m,)
        the large-``c`` law ``excess(c_ref) exp(-mu_dir (c - c_ref))`` (meaningful when ``mu_dir > 0``).
    """
    data = make_toy_data()
    D = direction_at(angle)
    c = np.linspace(0.0, 20.0, 81) if scales is None else np.asarray(scales, dtype=float)
    exc = np.array([excess_loss(data, s * D) for s in c])
    mu = margin(data, D)
    ref = np.searchsorted(c, 12.0)
    pred = exc[ref] * np.exp(-mu * (c - c[ref]))
    return {"c": c, "excess": exc, "mu_dir": mu, "prediction": pred}


def fig_direction_widget(c: float = 4.0, angle: float = 0) -> Figure:
    """Attention of every token (left) and the excess loss along the ray (right) at ``W = c D(angle)``."""
    data = make_toy_data()
    W = c * direction_at(angle)
    att = attention(data, W)
    fig, (ax1, ax2) = plots.new_figure(1, 2, width=9.0, height=3.4)
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
    ray = _cached_ray(float(angle))
    ref = _cached_ray(0.0)
    ax2.semilogy(ref["c"], ref["excess"], color=plots.COLORS["W"], alpha=0.35, label=r"along $W_F$ (angle 0°)")
    ax2.semilogy(ray["c"], ray["excess"], color=plots.COLORS["W"], label=f"along $D$ (angle {angle:g}°)")
    if ray["mu_dir"] > 0:
        ax2.semilogy(ray["c"], ray["prediction"], **plots.THEORY_STYLE,
                     label=rf"$\propto e^{{-\mu(D)c}}$, $\mu(D)={ray['mu_dir']:.2f}$")
    ax2.scatter([c], [excess_loss(data, W)], color="black", zorder=5, label="current $W$")
    ax2.set_ylim(1e-10, 1)
    ax2.set_xlabel(r"scale $c$ in $W=c\,D$")
    ax2.set_ylabel(r"$\mathcal{L}-\mathcal{L}^*$ (log scale)")
    ax2.legend(loc="lower left", fontsize=8)
    return fig


FIGURES = {
    "tokens": fig_tokens,
    "loss_flow": fig_loss_flow,
    "svm_plane": fig_svm_plane,
    "broken": fig_broken,
    "direction_widget": fig_direction_widget,
}
