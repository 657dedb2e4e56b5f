"""Figures of chapter 4, "Approximate KKT conditions" (paper appendix A.5, Definition A.3 and Theorem 4.1).

Everything is measured on the demo-1 data (:func:`attnlib.make_diagonal_data`) along the exact ``xi`` gradient flow
from the paper's initialisation (5) with ``omega_0 = 0.1``, integrated to ``log t = 1e6`` (``t = e^(10^6)``, far
beyond ``t = 1e300``). Flows and SVMs are cached, so every figure (and every widget frame) only draws.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure

import attnlib as al
from attnlib import plots

__all__ = ["OMEGA0", "LOG_T_END", "LOG_T_FRAME_END", "RTOL", "LOG_T_1E300", "demo_flow", "compute_kkt", "fit_rate",
           "predicted_constant", "certificate_at", "settled", "extrapolate_duals", "fig_subdifferential", "fig_identity", "fig_residuals",
           "fig_duals", "fig_certificate", "FIGURES", "WIDGET_LOG_T"]

OMEGA0 = 0.1
#: log t at the end of the book's flow (the library's largest accepted value, MAX_LOG_T). Measured: ~4,000
#: gradient evaluations (+ ~90 Hessians), 0.5 s, with the default rtol; the path turns sharply near log t = 3e5
#: (see the chapter).
LOG_T_END = 1e6
RTOL = 1e-8
LOG_T_1E300 = float(np.log(1e300))
#: Times offered by the certificate widget (values of log t).
WIDGET_LOG_T = [3.0, 10.0, 30.0, 100.0, LOG_T_1E300, 3e3, 1e4, 1e5, 2.5e5, 1e6]


@lru_cache(maxsize=None)
def demo_data() -> al.AttentionData:
    """The book's diagonal example (:func:`attnlib.make_diagonal_data`: n = 3, L = 3, d = 4)."""
    return al.make_diagonal_data()


def demo_flow(omega0: float = OMEGA0, log_t_end: float = LOG_T_END, rtol: float = RTOL) -> al.Trajectory:
    """The ``xi`` flow on the demo-1 data from initialisation (5) with ``omega_0 = omega0 * 1`` (cached)."""
    return _demo_flow(float(omega0), float(log_t_end), float(rtol))


@lru_cache(maxsize=None)
def _demo_flow(omega0: float, log_t_end: float, rtol: float) -> al.Trajectory:
    data = demo_data()
    return al.gradient_flow(data, "xi", al.default_init(data, "xi", omega0, seed=None), log_t_end=log_t_end,
                            rtol=rtol, log_t_eval=_log_t_grid(log_t_end))


def _log_t_grid(log_t_end: float) -> np.ndarray:
    """Saved times (log t): the library's default grid plus t = 1e300 and the widget's times."""
    base = np.concatenate([[-np.inf], np.log(np.logspace(-2, 0, 20)[:-1]),
                           np.expm1(np.linspace(0.0, np.log1p(log_t_end), 180))])
    extra = [x for x in [LOG_T_1E300, *WIDGET_LOG_T] if x < 0.999 * log_t_end]
    return np.unique(np.concatenate([base, extra]))


def predicted_constant(beta_l1: np.ndarray, omega0: float) -> float:
    """The limit of ``epsilon(t) ln mu(t)`` for the certificate ``B lambda = arcsinh(beta / omega0^2) / ln mu``.

    On the support ``S`` of the l1-SVM solution ``beta*``, ``arcsinh(mu beta_j / omega0^2) = ln mu +
    ln(2 |beta_j| / omega0^2) + o(1)``, so ``|(B lambda)_j - sign(beta*_j)| ln mu -> ln(2 |beta*_j| / omega0^2)``;
    off the support ``B lambda`` ends inside ``[-1, 1]`` and contributes nothing. Hence
    ``epsilon ln mu -> || ln(2 |beta*_S| / omega0^2) ||_2``.

    Parameters
    ----------
    beta_l1 : array, shape (d,)
        The l1-SVM solution (margin 1).
    omega0 : float
        The (uniform) initialisation scale.
    """
    b = np.abs(np.asarray(beta_l1, dtype=float))
    S = b > 1e-6 * b.max()
    return float(np.linalg.norm(np.log(2.0 * b[S] / omega0 ** 2)))


def fit_rate(log_mu: np.ndarray, values: np.ndarray, lo: float) -> tuple[float, float]:
    """Least-squares fit ``values ~ c (ln mu)^p`` over the points with ``ln mu >= lo``.

    Returns
    -------
    (p, c) : the fitted exponent (the slope on a log-log plot of values against ln mu) and prefactor.
    """
    ok = np.isfinite(log_mu) & np.isfinite(values) & (values > 0) & (log_mu >= lo)
    p, logc = np.polyfit(np.log(log_mu[ok]), np.log(values[ok]), 1)
    return float(p), float(np.exp(logc))


def compute_kkt(omega0: float = OMEGA0, log_t_end: float = LOG_T_END, rtol: float = RTOL) -> dict:
    """Approximate-KKT residuals of the l1-SVM along the demo flow (cached); see :func:`_compute_kkt`."""
    return _compute_kkt(float(omega0), float(log_t_end), float(rtol))


@lru_cache(maxsize=None)
def _compute_kkt(omega0: float, log_t_end: float, rtol: float) -> dict:
    """Approximate-KKT residuals of the l1-SVM along the demo flow.

    Returns
    -------
    dict with arrays of shape (m,) unless noted: ``log_t``, ``log_mu``, ``epsilon``, ``epsilon_prime``,
    ``delta``, ``feasibility``, ``Blambda`` (m, d) from ``phi``, ``Blambda_beta`` (m, d) = ``arcsinh(beta /
    omega0^2) / ln mu``, ``lam`` (m, n(L-1)), ``dist`` = ``||beta_hat - beta*|| / ||beta*||``, ``cos``; and
    ``beta_hat`` (m, d), ``dual`` (n(L-1),) and ``beta_l1`` (d,) of the SVM, ``pairs``, the predicted constant
    ``C``, the fitted ``rate``/``prefactor`` of epsilon for ``ln mu >= ln mu(t = 1e300)`` and
    ``identity_error`` = max |Blambda - Blambda_beta| over times with ``ln mu >= 1``.
    """
    data = demo_data()
    tr = demo_flow(omega0, log_t_end, rtol)
    sol = al.solve_svm(data, "l1")
    r = al.kkt_residuals(tr, sol)
    beta = tr.params["xi_k"] * tr.params["xi_q"]
    with np.errstate(invalid="ignore"):
        Bl_beta = np.arcsinh(beta / omega0 ** 2) / r.log_mu[:, None]
        beta_hat = beta / tr.margin[:, None]
    dist = np.linalg.norm(beta_hat - sol.beta, axis=1) / np.linalg.norm(sol.beta)
    j300 = int(np.argmin(np.abs(tr.log_t - LOG_T_1E300)))
    p, c = fit_rate(r.log_mu, r.epsilon, r.log_mu[j300])
    ok = r.log_mu >= 1.0
    return dict(log_t=tr.log_t, log_mu=r.log_mu, epsilon=r.epsilon, epsilon_prime=r.epsilon_prime, delta=r.delta,
                feasibility=r.feasibility, Blambda=r.Blambda, Blambda_beta=Bl_beta, lam=r.lam, dist=dist,
                cos=tr.cosine_to(sol.W), beta_hat=beta_hat, dual=np.array(sol.dual), beta_l1=np.array(sol.beta),
                pairs=data.pairs, C=predicted_constant(sol.beta, omega0), rate=p, prefactor=c, j1e300=j300,
                identity_error=float(np.max(np.abs(r.Blambda[ok] - Bl_beta[ok]))), nfev=tr.nfev,
                wall_time=tr.wall_time)


def certificate_at(log_t: float) -> dict:
    """The certificate at the saved time nearest to ``log_t``: ``Blambda`` (d,), ``lam`` (n(L-1),), ``log_mu``,
    ``epsilon``, the exact ``log_t`` used, and the SVM's ``beta_l1`` and ``dual``."""
    k = compute_kkt()
    j = int(np.nanargmin(np.abs(k["log_t"] - log_t)))
    return dict(Blambda=k["Blambda"][j], lam=k["lam"][j], log_mu=k["log_mu"][j], epsilon=k["epsilon"][j],
                log_t=k["log_t"][j], beta_l1=k["beta_l1"], dual=k["dual"], pairs=k["pairs"])


# -- figures ---------------------------------------------------------------------------------------------

def fig_subdifferential() -> Figure:
    """|x|, its subgradients at 0, and the graph of d|x| with the flow's points (beta_hat_j, (B lambda)_j)."""
    k = compute_kkt()
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
    idx = [int(np.nanargmin(np.abs(k["log_t"] - lt))) for lt in (10.0, LOG_T_1E300, 1e6)]
    marks = ("o", "s", "D")
    names = ("$\\log t=10$", "$t=10^{300}$", "$\\log t=10^6$")
    shades = (plots.OKABE_ITO["sky_blue"], plots.OKABE_ITO["orange"], plots.OKABE_ITO["vermillion"])
    for j, m, name, col in zip(idx, marks, names, shades):
        a2.scatter(k["beta_hat"][j], k["Blambda"][j], marker=m, color=col, zorder=4, s=36,
                   label=f"flow at {name}")
    a2.set_xlabel(r"$\hat\beta_j(t)$ (coordinate $j$)")
    a2.set_ylabel(r"$(B\lambda(t))_j$")
    a2.set_xlim(-0.3, 1.5)
    a2.set_ylim(-1.3, 2.2)
    a2.legend(loc="lower right", fontsize=9)
    return fig


def fig_identity() -> Figure:
    """B lambda from the accumulated duals phi against arcsinh(beta / omega0^2) / ln mu, per coordinate."""
    k = compute_kkt()
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.6)
    ok = k["log_mu"] >= 1.0
    cols = [plots.OKABE_ITO[c] for c in ("orange", "blue", "bluish_green", "reddish_purple")]
    for j in range(k["Blambda"].shape[1]):
        a1.plot(k["log_mu"][ok], k["Blambda"][ok, j], color=cols[j], label=f"$j={j + 1}$: $B\\phi/\\ln\\mu$")
        a1.plot(k["log_mu"][ok], k["Blambda_beta"][ok, j], color=plots.COLORS["theory"], ls="--", lw=1.2,
                label=r"$\mathrm{arcsinh}(\beta/\omega_0^2)/\ln\mu$" if j == 0 else None)
    a1.axhline(1, color="grey", lw=0.8, ls=":")
    a1.set_xscale("log")
    a1.set_xlabel(r"$\ln\mu(t)$ (log scale)")
    a1.set_ylabel(r"$(B\lambda(t))_j$")
    a1.legend(fontsize=8, loc="upper right")
    err = np.abs(k["Blambda"] - k["Blambda_beta"]).max(axis=1)
    a2.plot(k["log_mu"][ok], np.maximum(err[ok], 1e-17), color=plots.COLORS["xi"])
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel(r"$\ln\mu(t)$ (log scale)")
    a2.set_ylabel("largest difference (log scale)")
    return fig


#: log t at the end of the residual figure's flow: the margin frame carries it to ln mu ~ 690 (~2,500 evaluations).
LOG_T_FRAME_END = 1e300


def fig_residuals(log_t_end: float = LOG_T_FRAME_END) -> Figure:
    """epsilon, epsilon', delta against ln mu on log-log axes, with the fitted rate and the predicted C / ln mu;
    right: distance of the direction to the l1-SVM solution. The flow runs to ``log t = log_t_end`` (default
    1e300, through the margin frame), i.e. to the largest ln mu the library reaches."""
    k = compute_kkt(log_t_end=log_t_end)
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8)
    lm = k["log_mu"]
    ok = lm >= 1.0
    a1.plot(lm[ok], k["epsilon"][ok], color=plots.COLORS["xi"], label=r"$\epsilon(t)$ (stationarity)")
    a1.plot(lm[ok], k["delta"][ok], color=plots.OKABE_ITO["bluish_green"], label=r"$\delta(t)$ (slackness)")
    a1.plot(lm[ok], k["epsilon_prime"][ok], color=plots.OKABE_ITO["reddish_purple"],
            label=r"$\epsilon'(t)$ (distance to $\check\beta$)")
    a1.plot(lm[ok], k["C"] / lm[ok], **plots.THEORY_STYLE, label=f"predicted $C/\\ln\\mu$, $C={k['C']:.2f}$")
    tail = lm >= lm[k["j1e300"]]
    a1.plot(lm[tail], k["prefactor"] * lm[tail] ** k["rate"], color="black", lw=0.9, ls=":",
            label=f"fit $\\propto(\\ln\\mu)^{{{k['rate']:.2f}}}$")
    a1.axvline(lm[k["j1e300"]], color="grey", lw=0.8, ls="-.")
    a1.text(lm[k["j1e300"]] * 1.03, 2e-9, "$t=10^{300}$", fontsize=9, color="grey")
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_ylim(1e-9, 10)
    a1.set_xlabel(r"$\ln\mu(t)$ (log scale)")
    a1.set_ylabel("KKT residual (log scale)")
    a1.legend(fontsize=8, loc="lower left")
    a2.plot(lm[ok], k["dist"][ok], color=plots.COLORS["xi"], label=r"$\|\hat\beta(t)-\beta^*\|/\|\beta^*\|$")
    a2.plot(lm[ok], np.maximum(1.0 - k["cos"][ok], 1e-16), color=plots.OKABE_ITO["blue"], ls="--",
            label=r"$1-\cos(\beta(t),\beta^*)$ (floored at $10^{-16}$)")
    a2.axvline(lm[k["j1e300"]], color="grey", lw=0.8, ls="-.")
    a2.text(lm[ok][-1], 3 * k["dist"][-1], "accuracy of the\nreference SVM solution", fontsize=7.5, color="grey",
            ha="right", va="bottom")
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_ylim(3e-17, 3)
    a2.set_xlabel(r"$\ln\mu(t)$ (log scale)")
    a2.set_ylabel(r"gap to the $\ell_1$-SVM (log scale)")
    a2.legend(fontsize=8, loc="upper right")
    return fig


def settled(tol: float = 1e-4) -> np.ndarray:
    """Mask of the saved times at which the direction has settled: ``||beta_hat - beta*|| / ||beta*|| < tol``."""
    return compute_kkt()["dist"] < tol


def extrapolate_duals(tol: float = 1e-4) -> np.ndarray:
    """Linear extrapolation of ``lambda(t)`` in ``1 / ln mu`` to ``1 / ln mu = 0``, fitted on the times at which
    the direction has settled (:func:`settled`); shape (n(L-1),).

    Once ``beta_hat`` is constant, ``phi_il = lambda*_il ln mu + const + o(1)``, so ``lambda`` is affine in
    ``1 / ln mu`` and the intercept is the limit multiplier.
    """
    k = compute_kkt()
    sel = settled(tol)
    if sel.sum() < 3:
        raise ValueError("the flow has not settled on the l1-SVM direction; integrate to a larger log_t_end")
    x = 1.0 / k["log_mu"][sel]
    return np.array([np.polyval(np.polyfit(x, lam, 1), 0.0) for lam in k["lam"][sel].T])


def fig_duals() -> Figure:
    """lambda_il(t) against 1 / ln mu, with the SVM multipliers at 1 / ln mu = 0 and a linear extrapolation."""
    k = compute_kkt()
    fig, ax = plots.new_figure(width=6.4)
    ok = k["log_mu"] >= 2.0
    x = 1.0 / k["log_mu"][ok]
    ext = extrapolate_duals()
    cols = [plots.OKABE_ITO[c] for c in ("blue", "orange", "bluish_green", "reddish_purple", "vermillion",
                                          "sky_blue")]
    sel = settled()
    x_tail = np.linspace(0, 1.0 / k["log_mu"][sel][0], 10)
    for p, ((i, l), col) in enumerate(zip(k["pairs"], cols)):
        ax.plot(x, k["lam"][ok, p], color=col, label=f"$\\lambda_{{{i + 1}{l + 1}}}(t)$")
        ax.plot(x_tail, np.interp(x_tail, [0, x_tail[-1]], [ext[p], k["lam"][sel][0, p]]), color=col, ls=":", lw=1)
        ax.plot([0], [k["dual"][p]], marker="*", ms=11, color=col, mec="black", mew=0.6, ls="none", zorder=5)
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
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.6)
    d = len(c["Blambda"])
    j = np.arange(1, d + 1)
    a1.axhspan(-1, 1, color="#EEEEEE", zorder=0)
    a1.axhline(1, **plots.THEORY_STYLE)
    a1.axhline(-1, **plots.THEORY_STYLE, label=r"box $[-1,1]$")
    a1.bar(j, c["Blambda"], color=plots.COLORS["xi"], width=0.6, label=r"$(B\lambda(t))_j$")
    on = np.abs(c["beta_l1"]) > 1e-6 * np.abs(c["beta_l1"]).max()
    a1.scatter(j[on], np.sign(c["beta_l1"][on]), marker="_", s=900, linewidths=3, color="black", zorder=5,
               label=r"target $\mathrm{sign}(\beta^*_j)$")
    a1.set_xticks(j)
    a1.set_xlabel(r"coordinate $j$ ($\beta^*_j\neq0$ for $j=1,2$)")
    a1.set_ylabel(r"$(B\lambda)_j$")
    a1.set_ylim(-1.5, 3.0)
    a1.set_title(f"$\\log t={c['log_t']:.3g}$, $\\ln\\mu={c['log_mu']:.2f}$, $\\epsilon={c['epsilon']:.2f}$",
                 fontsize=10)
    a1.legend(fontsize=8, loc="upper right", markerscale=0.5)
    k = np.arange(len(c["lam"]))
    active = c["dual"] > 1e-6 * c["dual"].max()
    a2.bar(k, c["lam"], color=[plots.COLORS["xi"] if a else plots.COLORS["nopt"] for a in active], width=0.6)
    a2.scatter(k, c["dual"], marker="_", s=500, linewidths=3, color="black", zorder=5,
               label="SVM multiplier")
    from matplotlib.patches import Patch

    a2.add_artist(a2.legend(handles=[Patch(color=plots.COLORS["xi"], label=r"$\lambda_{il}(t)$, active pair"),
                                     Patch(color=plots.COLORS["nopt"], label=r"$\lambda_{il}(t)$, inactive pair")],
                            fontsize=8, loc="upper right"))
    a2.set_xticks(k, [f"({i + 1},{l + 1})" for i, l in c["pairs"]])
    a2.set_xlabel(r"pair $(i,l)$")
    a2.set_ylabel(r"$\lambda_{il}(t)$")
    a2.set_ylim(0, 2.0)
    a2.legend(fontsize=8, loc="upper left")
    return fig


FIGURES = {
    "subdifferential": fig_subdifferential,
    "identity": fig_identity,
    "residuals": fig_residuals,
    "duals": fig_duals,
    "certificate": fig_certificate,
}
