"""Chapter 6 — beyond the theorems (generic data, gradient descent, the logistic loss, Tarzanagh et al.'s setup).

Every experiment here goes beyond what Sheen et al. (2024) prove: full ``(K, Q)`` from a small random start on
generic data, unequal non-optimal scores (Assumption 2 violated), the logistic loss, gradient descent with a step
size, initialisations that violate Assumption 3 (locally optimal token selections) and a real data set
(scikit-learn's bundled digits).

Compute functions (``compute_*``) return plain dicts of arrays; the figure functions (``fig_*``) draw them and
``tests/test_ch6.py`` calls the same compute functions. Each flow runs once and is cached (``functools.lru_cache``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure

import attnlib as al
from attnlib import plots

__all__ = [
    "DEMO_SEED", "LOG_T_END", "CHECKPOINTS", "WIDGET_LOG_T", "PERTURB", "GD_SMALL_LR", "GD_LARGE_LR",
    "GD_T", "SHIFTS", "PEERS_SEED", "demo_data", "perturbed_data", "digits_data", "selection_svm",
    "selection_margin", "reached_selection",
    "compute_kq_vs_w", "compute_unequal_scores", "compute_logistic", "compute_gd", "compute_selection",
    "compute_digits", "fig_kq_vs_w", "fig_sv_at", "fig_unequal_scores", "fig_logistic", "fig_gd", "fig_selection",
    "fig_digits", "FIGURES",
]

C = plots.COLORS
#: Seed of the demo-2 data ``make_generic_data(4, 3, 4, seed, equal_scores=True)`` used throughout.
DEMO_SEED = 3
#: The K, Q flow approaches its limit slowly: run it to log t = 1e5 (far beyond t = 1e300, log t = 690.8).
LOG_T_END = 1e5
#: log t at which the chapter tabulates the cosines (t = 1e300 is log t = 690.8).
CHECKPOINTS = (300 * np.log(10.0), 1e3, 1e4, 1e5)
#: Widget slider: log t.
WIDGET_LOG_T = (1.0, 3.0, 10.0, 100.0, 1e3, 1e4, 1e5)
#: Size of the perturbation of the non-optimal scores (Assumption 2 violated).
PERTURB = 2.0
#: Gradient-descent step sizes: small ones (compared with the flow to t = GD_T) and large ones.
GD_SMALL_LR = (0.01, 0.03, 0.1, 0.3)
GD_LARGE_LR = (3.0, 10.0)
GD_T = 10.0
#: Initial shifts c in W(0) = -c W_F (Assumption 3 fails for both).
SHIFTS = (1.0, 4.0)
#: A seed of Tarzanagh et al.'s setup (n=6, L=8, d=10) whose W-flow from 0 ends on a non-optimal token selection.
PEERS_SEED = 5


# -- data -------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def demo_data() -> al.AttentionData:
    """Generic equal-score data: n = 4, L = 3, d = 4, Gaussian tokens, gamma_opt = 6, gamma_nopt = 0."""
    return al.make_generic_data(4, 3, 4, seed=DEMO_SEED, equal_scores=True)


@lru_cache(maxsize=None)
def perturbed_data(size: float = PERTURB, seed: int = 0) -> al.AttentionData:
    """Demo-2 data with unequal non-optimal scores: ``size * N(0, 1)`` added to each non-optimal score.

    Only the score coordinate (the last one) of the non-optimal tokens changes; the optimal tokens stay the same,
    but the token differences, hence the SVM constraints and solutions, change too.
    """
    base = demo_data()
    rng = np.random.default_rng(seed)
    nopt = np.ones((base.n, base.L), bool)
    nopt[np.arange(base.n), base.opt] = False
    X = np.array(base.X)
    X[..., -1] += np.where(nopt, size * rng.standard_normal((base.n, base.L)), 0.0) * base.y[:, None]
    return al.AttentionData(X, base.z, base.y, base.v)


@lru_cache(maxsize=None)
def digits_data(n_per_class: int = 3, head_scale: float = 30.0) -> al.AttentionData:
    """Attention data from scikit-learn's bundled 8x8 digits (offline), classes 0 (y = -1) and 1 (y = +1).

    Tokens are the L = 8 pixel rows of an image (d = 8, pixel values / 16); the query is the image's mean row
    (unit norm); the fixed head ``v`` is ``head_scale`` times the unit difference of the class-mean rows,
    computed on the *other* 0/1 images, so the optimal token of an image is its most class-typical row.

    Parameters
    ----------
    n_per_class : int
        Images per class (the first ones of each class), n = 2 * n_per_class.
    head_scale : float
        ``||v||``; it scales the score gaps (to O(1)) and not the SVM constraints.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    imgs, target = digits.images / 16.0, digits.target
    idx = np.concatenate([np.flatnonzero(target == c)[:n_per_class] for c in (0, 1)])
    rest = np.setdiff1d(np.flatnonzero(target <= 1), idx)
    diff = imgs[rest][target[rest] == 1].mean(axis=(0, 1)) - imgs[rest][target[rest] == 0].mean(axis=(0, 1))
    X = imgs[idx]
    z = X.mean(axis=1)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    y = np.where(target[idx] == 1, 1.0, -1.0)
    return al.AttentionData(X, z, y, head_scale * diff / np.linalg.norm(diff))


def _svm(data: al.AttentionData, norm: str) -> al.SVMSolution:
    return al.solve_svm(data, norm)


# -- SVMs for an arbitrary token selection (locally optimal directions) -------------------------------------------

def selection_svm(data: al.AttentionData, sel, norm: str = "fro") -> np.ndarray:
    """The attention SVM of a token selection ``sel`` (a locally optimal direction): ``al.solve_selection_svm(...).W``.

    ``min ||W|| s.t. (x_{i,sel(i)} - x_il)^T W z_i >= 1`` for every ``i`` and every token ``l`` whose score is
    *lower* than the selected one's, ``gamma_il < gamma_{i,sel(i)}``. Tokens of equal or higher score exert no
    force towards the selection (the gradient term of a pair is proportional to ``gamma_{i,sel} - gamma_il``), so
    they get no constraint. With ``sel = opt`` this is the usual W_F- (or W_*-) SVM.

    Parameters
    ----------
    data : AttentionData
    sel : array_like of int, shape (n,)
        The selected token of each sample.
    norm : {"fro", "nuc"}

    Returns
    -------
    numpy.ndarray, shape (d, d)
        The minimiser, scaled to selection margin 1.
    """
    return al.solve_selection_svm(data, np.asarray(sel, dtype=int), norm).W


def selection_margin(data: al.AttentionData, W, sel) -> float:
    """``min (x_{i,sel(i)} - x_il)^T W z_i`` over the pairs of :func:`selection_svm`."""
    sel = np.asarray(sel, dtype=int)
    i, l = al.selection_pairs(data, sel).T
    return float(np.einsum("kd,de,ke->k", data.X[i, sel[i]] - data.X[i, l], np.asarray(W), data.z[i]).min())


def reached_selection(data: al.AttentionData, W) -> np.ndarray:
    """The token each sample attends to most at ``W``, shape (n,)."""
    return al.attention(data, W).argmax(axis=1)


# -- cached flows -------------------------------------------------------------------------------------------------

def _log_t_eval(log_t_end: float) -> np.ndarray:
    """Save times: t = 0, 19 times in (0, 1), 180 uniform in log(1 + log t), plus the checkpoints."""
    base = np.concatenate([np.log(np.logspace(-2, 0, 20)[:-1]), np.expm1(np.linspace(0.0, np.log1p(log_t_end), 180))])
    extra = np.array([c for c in (*CHECKPOINTS, *WIDGET_LOG_T) if c < log_t_end] + [log_t_end])
    base = base[(np.abs(base[:, None] / extra[None, :] - 1).min(axis=1) > 1e-6) & (base < log_t_end)]
    return np.concatenate([[-np.inf], np.unique(np.concatenate([base, extra]))])


@lru_cache(maxsize=None)
def _flow(which: str, param: str, loss: str = "exp", log_t_end: float = LOG_T_END) -> al.Trajectory:
    data = {"demo": demo_data, "perturbed": perturbed_data, "digits": digits_data}[which]()
    init = al.default_init(data, param, 0.01, seed=DEMO_SEED) if param == "KQ" else np.zeros((data.d, data.d))
    rtol = 1e-6 if which == "digits" else 1e-8
    if log_t_end == 300 * np.log(10.0):
        return al.gradient_flow(data, param, init, t_end=1e300, loss=loss, rtol=rtol)
    return al.gradient_flow(data, param, init, loss=loss, log_t_end=log_t_end, log_t_eval=_log_t_eval(log_t_end),
                            rtol=rtol)


def _at(traj: al.Trajectory, log_t: float) -> int:
    """Index of the saved time closest to ``log t``."""
    return int(np.nanargmin(np.abs(traj.log_t - log_t)))


def _dir_sv(traj: al.Trajectory) -> np.ndarray:
    """Singular values of ``W(t) / mu(t)`` (NaN while mu <= 0), shape (m, d)."""
    return al.singular_values(np.nan_to_num(traj.direction())) * np.where(traj.margin > 0, 1.0, np.nan)[:, None]


# -- experiments ---------------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def compute_kq_vs_w() -> dict:
    """W-flow from 0 and (K, Q)-flow from 0.01 N(0, 1) on the demo-2 data, to log t = 1e5.

    Returns
    -------
    dict
        ``log_t`` (m,) per flow under ``"W"``/``"KQ"``: ``{"log_t", "cos_fro", "cos_nuc", "sv" (m, d), "nfev",
        "wall", "checkpoints": {log t: (cos_fro, cos_nuc)}}``; ``"sv_fro"``, ``"sv_nuc"`` (d,) and ``"rank_fro"``,
        ``"rank_nuc"`` of the SVM solutions; ``"W_fro"``, ``"W_nuc"``.
    """
    data = demo_data()
    fro, nuc = _svm(data, "fro"), _svm(data, "nuc")
    out = {"sv_fro": al.singular_values(fro.W), "sv_nuc": al.singular_values(nuc.W), "W_fro": fro.W, "W_nuc": nuc.W,
           "cos_fro_nuc": al.cosine(fro.W, nuc.W)}
    for p in ("W", "KQ"):
        tr = _flow("demo", p)
        cf, cn = tr.cosine_to(fro.W), tr.cosine_to(nuc.W)
        out[p] = {"log_t": tr.log_t, "cos_fro": cf, "cos_nuc": cn, "sv": _dir_sv(tr), "nfev": tr.nfev,
                  "wall": tr.wall_time, "margin": tr.margin, "norm": np.linalg.norm(tr.W, axis=(1, 2)),
                  "checkpoints": {c: (cf[_at(tr, c)], cn[_at(tr, c)]) for c in CHECKPOINTS}}
    x, c = out["KQ"]["log_t"], out["KQ"]["cos_nuc"]
    fit = (x >= 1e3) & (x <= LOG_T_END)
    out["KQ"]["rate"] = float(np.polyfit(np.log(x[fit]), np.log(1 - c[fit]), 1)[0])
    for k in ("fro", "nuc"):
        sv = out[f"sv_{k}"]
        out[f"rank_{k}"] = int(np.sum(sv > 1e-4 * sv[0]))
    return out


@lru_cache(maxsize=None)
def compute_unequal_scores() -> dict:
    """Assumption 2 violated: W- and (K, Q)-flows on :func:`perturbed_data` vs the equal-score flows.

    Returns
    -------
    dict
        ``"gamma"`` (n, L) of the perturbed data, ``"holds"`` (assumption -> bool), and for ``"equal"`` and
        ``"unequal"``: ``{"W": (log_t, cos with W_F-SVM), "KQ": (log_t, cos with W_*-SVM)}``; ``"final"`` the
        last cosines (each data set against its own SVM solutions); ``"same_svm"``: the largest entry difference
        between the two data sets' SVM solutions.
    """
    base, pert = demo_data(), perturbed_data()
    rep = al.check_assumptions(pert)
    out = {"gamma": pert.gamma, "holds": {k: rep.holds(k) for k in al.ASSUMPTIONS},
           "same_svm": max(np.abs(_svm(base, k).W - _svm(pert, k).W).max() for k in ("fro", "nuc"))}
    final = {}
    for name, which, lte in (("equal", "demo", LOG_T_END), ("unequal", "perturbed", 1e4)):
        W, KQ = _flow(which, "W", log_t_end=lte), _flow(which, "KQ", log_t_end=lte)
        d_ = base if which == "demo" else pert
        out[name] = {"W": (W.log_t, W.cosine_to(_svm(d_, "fro").W)),
                     "KQ": (KQ.log_t, KQ.cosine_to(_svm(d_, "nuc").W))}
        k = _at(KQ, 1e4)
        final[name] = {"W": out[name]["W"][1][_at(W, 1e4)], "KQ": out[name]["KQ"][1][k]}
    out["final"] = final
    return out


@lru_cache(maxsize=None)
def compute_logistic() -> dict:
    """Exponential vs logistic loss: W- and (K, Q)-flows on the demo-2 data to log t = 1e4.

    Returns
    -------
    dict
        For ``"exp"`` and ``"logistic"``: ``{"W": (log_t, cos with W_F-SVM), "KQ": (log_t, cos with W_*-SVM),
        "final": {"W", "KQ"} at log t = 1e4, "dist": {"W", "KQ"} margin-normalised distance to the SVM}``;
        ``"gap"``: ``||W_hat_exp - W_hat_logistic|| / ||W_hat_exp||`` at log t = 1e4 for each parameterisation.
    """
    data = demo_data()
    fro, nuc = _svm(data, "fro"), _svm(data, "nuc")
    out, last = {}, {}
    for loss, lte in (("exp", LOG_T_END), ("logistic", 1e4)):
        W, KQ = _flow("demo", "W", loss, lte), _flow("demo", "KQ", loss, lte)
        iw, ik = _at(W, 1e4), _at(KQ, 1e4)
        out[loss] = {"W": (W.log_t, W.cosine_to(fro.W)), "KQ": (KQ.log_t, KQ.cosine_to(nuc.W)),
                     "final": {"W": W.cosine_to(fro.W)[iw], "KQ": KQ.cosine_to(nuc.W)[ik]},
                     "dist": {"W": float(np.linalg.norm(W.direction()[iw] - fro.W) / np.linalg.norm(fro.W)),
                              "KQ": float(np.linalg.norm(KQ.direction()[ik] - nuc.W) / np.linalg.norm(nuc.W))}}
        last[loss] = {"W": W.direction()[iw], "KQ": KQ.direction()[ik]}
    out["gap"] = {p: float(np.linalg.norm(last["exp"][p] - last["logistic"][p]) / np.linalg.norm(last["exp"][p]))
                  for p in ("W", "KQ")}
    return out


@lru_cache(maxsize=None)
def compute_gd() -> dict:
    """Gradient descent on W with step size lr vs gradient flow at the same times ``t = lr * step``.

    Small steps run to ``t = GD_T``; the path error is ``max_k ||W_gd(k) - W_gf(k lr)|| / ||W_gf(k lr)||``. Large
    steps run 300 steps.

    Returns
    -------
    dict
        ``"lr"`` (small), ``"path_err"`` (same length), ``"slope"`` (log-log fit of path error vs lr); ``"gf"``:
        (t, loss) of the flow; ``"runs"``: lr -> (t, loss, cos with W_F-SVM, selection, excess loss at the end);
        ``"stuck_level"``: the excess loss when one sample attends only to a non-optimal token.
    """
    data = demo_data()
    fro = _svm(data, "fro")
    W0 = np.zeros((data.d, data.d))
    runs, gds = {}, {}
    for lr in GD_SMALL_LR:
        gds[lr] = al.gradient_descent(data, "W", W0, lr, int(round(GD_T / lr)))
    # near-equal times (3 * 0.1 vs 0.3) collide in gradient_flow's log-log clock: round them first
    t_all = np.unique(np.round(np.concatenate([g.t for g in gds.values()]), 9))
    gf = al.gradient_flow(data, "W", W0, t_end=t_all[-1], t_eval=t_all)
    errs = []
    for lr, g in gds.items():
        ref = gf.W[np.abs(t_all[None, :] - g.t[:, None]).argmin(axis=1)]
        nrm = np.linalg.norm(ref, axis=(1, 2))
        e = np.linalg.norm(g.W - ref, axis=(1, 2))[nrm > 0] / nrm[nrm > 0]
        errs.append(e.max())
    for lr in (*GD_SMALL_LR, *GD_LARGE_LR):
        g = gds[lr] if lr in gds else al.gradient_descent(data, "W", W0, lr, 300)
        runs[lr] = {"t": g.t, "loss": g.loss, "cos": g.cosine_to(fro.W)[-1],
                    "selection": reached_selection(data, g.W[-1]), "excess": g.excess_loss[-1]}
    errs = np.array(errs)
    slope = np.polyfit(np.log(GD_SMALL_LR), np.log(errs), 1)[0]
    return {"lr": np.array(GD_SMALL_LR), "path_err": errs, "slope": float(slope), "gf": (gf.t, gf.loss),
            "runs": runs, "stuck_level": _stuck_level(data), "min_loss": al.min_loss(data), "opt": data.opt}


def _stuck_level(data: al.AttentionData) -> float:
    """Least excess loss when one sample attends only to its non-optimal tokens (the bound of Assumption 3)."""
    nopt = np.where(np.arange(data.L)[None, :] == data.opt[:, None], -np.inf, data.gamma).max(axis=1)
    return float(np.min(np.exp(-nopt) - np.exp(-data.gamma_opt)) / data.n)


@lru_cache(maxsize=None)
def compute_selection() -> dict:
    """Flows on W from ``W(0) = -c W_F`` (c in SHIFTS): Assumption 3 fails for both.

    Returns
    -------
    dict
        Per c: ``{"log_t", "excess", "cos_global" (with the W_F-SVM), "selection" (n,), "W_sel" (the SVM for the
        reached selection), "cos_sel", "assumption3" (bool), "loss0"}``; plus ``"opt"``, ``"stuck_level"``.
    """
    data = demo_data()
    fro = _svm(data, "fro")
    out = {"opt": data.opt, "stuck_level": _stuck_level(data), "bound3": None}
    for c in SHIFTS:
        W0 = -c * fro.W
        tr = al.gradient_flow(data, "W", W0)
        sel = reached_selection(data, tr.W[-1])
        W_sel = selection_svm(data, sel, "fro")
        out[c] = {"log_t": tr.log_t, "excess": tr.excess_loss, "cos_global": tr.cosine_to(fro.W),
                  "selection": sel, "W_sel": W_sel, "cos_sel": tr.cosine_to(W_sel),
                  "assumption3": al.check_assumptions(data, W0).holds("3"), "loss0": tr.loss[0],
                  "sel_margin": selection_margin(data, tr.W[-1], sel)}
    peers = al.make_generic_data(6, 8, 10, seed=PEERS_SEED)
    tr = al.gradient_flow(peers, "W", np.zeros((peers.d, peers.d)))
    sel = reached_selection(peers, tr.W[-1])
    W_sel = selection_svm(peers, sel, "fro")
    out["peers"] = {"log_t": tr.log_t, "excess": tr.excess_loss, "cos_global": tr.cosine_to(_svm(peers, "fro").W),
                    "selection": sel, "opt": peers.opt, "cos_sel": tr.cosine_to(W_sel), "gamma": peers.gamma}
    return out


@lru_cache(maxsize=None)
def compute_digits() -> dict:
    """The digits data: assumptions, SVM solutions and the limits of the W- and (K, Q)-flows (t = 1e300).

    Returns
    -------
    dict
        ``"holds"``, ``"opt"`` (n,), ``"images"`` (n, 8, 8), ``"y"``; ``"sv_fro"``, ``"sv_nuc"``, ``"sv_W"``,
        ``"sv_KQ"`` (d,) of the SVM solutions and flow directions; ``"cos"``: {"W_fro", "W_nuc", "KQ_nuc",
        "KQ_fro"}; ``"selected_opt"``: whether both flows end attending to the optimal rows.
    """
    data = digits_data()
    rep = al.check_assumptions(data)
    fro, nuc = _svm(data, "fro"), _svm(data, "nuc")
    W = _flow("digits", "W", log_t_end=300 * np.log(10.0))
    KQ = _flow("digits", "KQ", log_t_end=300 * np.log(10.0))
    return {"holds": {k: rep.holds(k) for k in al.ASSUMPTIONS}, "opt": data.opt, "images": data.X, "y": data.y,
            "sv_fro": al.singular_values(fro.W), "sv_nuc": al.singular_values(nuc.W),
            "sv_W": al.singular_values(W.direction()[-1]), "sv_KQ": al.singular_values(KQ.direction()[-1]),
            "cos": {"W_fro": W.cosine_to(fro.W)[-1], "W_nuc": W.cosine_to(nuc.W)[-1],
                    "KQ_nuc": KQ.cosine_to(nuc.W)[-1], "KQ_fro": KQ.cosine_to(fro.W)[-1]},
            "selected_opt": all(np.array_equal(reached_selection(data, tr.W[-1]), data.opt) for tr in (W, KQ)),
            "nfev": {"W": W.nfev, "KQ": KQ.nfev}}


# -- figures -------------------------------------------------------------------------------------------------------

def _logt_axis(ax, label: str = r"$\ln t$ (log scale)") -> None:
    ax.set_xscale("log")
    ax.set_xlabel(label)


def fig_kq_vs_w() -> Figure:
    """Cosines with both SVM solutions vs log t, and the singular values of W(t)/mu(t) climbing one at a time."""
    r = compute_kq_vs_w()
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9)
    for p, ref, lab in (("W", "fro", r"$W$-flow vs $W_F$-SVM"), ("KQ", "nuc", r"$(K,Q)$-flow vs $W_*$-SVM")):
        x = r[p]["log_t"]
        keep = x >= 0.1
        ax.plot(x[keep], 1 - r[p][f"cos_{ref}"][keep], color=C[p], label=lab)
        other = "nuc" if ref == "fro" else "fro"
        ax.plot(x[keep], 1 - r[p][f"cos_{other}"][keep], color=C[p], ls=":",
                label=rf"{lab.split(' vs')[0]} vs $W_{{{'*' if other == 'nuc' else 'F'}}}$-SVM")
    ax.axhline(1 - r["cos_fro_nuc"], **plots.THEORY_STYLE, label=r"$1-\cos(W_F, W_*)$")
    ax.set_yscale("log")
    _logt_axis(ax)
    ax.set_ylabel(r"$1-\cos$ (log scale)")
    ax.axvline(CHECKPOINTS[0], color="#999999", lw=0.8)
    ax.text(CHECKPOINTS[0] * 1.1, 0.5, r"$t=10^{300}$", fontsize=8, color="#666666")
    for p in ("W", "KQ"):
        x, sv = r[p]["log_t"], r[p]["sv"]
        keep = x >= 0.1
        for j in range(3):
            ax2.plot(x[keep], sv[keep, j], color=C[p], lw=1.6 - 0.4 * j,
                     label=(r"$W$-flow" if p == "W" else r"$(K,Q)$-flow") if j == 0 else None)
    for k in ("fro", "nuc"):
        for j, s in enumerate(r[f"sv_{k}"][:3]):
            ax2.axhline(s, color=C[k], ls="--", lw=1.0,
                        label=(r"$W_F$-SVM" if k == "fro" else r"$W_*$-SVM") + r" $\sigma_j$" if j == 0 else None)
    _logt_axis(ax2)
    ax2.set_ylabel(r"singular values $\sigma_1,\sigma_2,\sigma_3$ of $W(t)/\mu(t)$")
    ax2.set_ylim(-0.05, 1.6)
    plots.finish(fig, legend=False)
    ax.legend(fontsize=8, loc="lower left")
    ax2.legend(fontsize=8, loc="upper right", ncol=2)
    return fig


def fig_sv_at(log_t: float = 1e3) -> Figure:
    """Widget frame: singular values of W(t)/mu(t) at one log t, W- and (K, Q)-flow, against both SVMs."""
    r = compute_kq_vs_w()
    fig, ax = plots.new_figure(width=6.4, height=3.4)
    j = np.arange(3)
    for off, p, lab in ((-0.2, "W", r"$W$-flow"), (0.2, "KQ", r"$(K,Q)$-flow")):
        sv = r[p]["sv"][_at_array(r[p]["log_t"], log_t)][:3]
        ax.bar(j + off, np.nan_to_num(sv), width=0.38, color=C[p], alpha=0.85, label=lab)
    for off, k, lab in ((-0.2, "fro", r"$W_F$-SVM"), (0.2, "nuc", r"$W_*$-SVM")):
        ax.scatter(j + off, r[f"sv_{k}"][:3], marker="_", s=900, color=plots.COLORS["theory"], linewidths=2,
                   zorder=4, label=r"SVM targets ($W_F$ left, $W_*$ right)" if k == "fro" else None)
    ax.set_xticks(j, [r"$\sigma_1$", r"$\sigma_2$", r"$\sigma_3$"])
    ax.set_ylim(0, 1.7)
    ax.set_ylabel(r"singular value of $W(t)/\mu(t)$")
    i_k = _at_array(r["KQ"]["log_t"], log_t)
    ax.set_title(rf"$\ln t={log_t:g}$: $\cos(W_{{KQ}},W_*)={r['KQ']['cos_nuc'][i_k]:.4f}$, "
                 rf"$\cos(W_W,W_F)={r['W']['cos_fro'][_at_array(r['W']['log_t'], log_t)]:.5f}$", fontsize=9.5)
    plots.finish(fig, legend=False)
    ax.legend(fontsize=8.5, loc="upper right")
    return fig


def _at_array(log_t: np.ndarray, x: float) -> int:
    return int(np.nanargmin(np.abs(log_t - x)))


def _fig_cos_variants(r: dict, variants: tuple) -> Figure:
    """``1 - cos`` with the SVM against ``ln t`` for the W- and (K,Q)-flows of each ``(key, line style, label)``."""
    fig, ax = plots.new_figure(width=6.4, height=3.6)
    for key, ls, what in variants:
        for p, ref in (("W", r"$W_F$"), ("KQ", r"$W_*$")):
            x, c = r[key][p]
            keep = (x >= 0.1) & (x <= 1e4)
            lab = (r"$W$-flow" if p == "W" else r"$(K,Q)$-flow") + f" vs {ref}-SVM, {what}"
            ax.plot(x[keep], 1 - c[keep], color=C[p], ls=ls, label=lab)
    ax.set_yscale("log")
    _logt_axis(ax)
    ax.set_ylabel(r"$1-\cos$ with the SVM (log scale)")
    plots.finish(fig, legend=False)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def fig_unequal_scores() -> Figure:
    """Assumption 2 violated: the flows still reach the same SVM directions."""
    return _fig_cos_variants(compute_unequal_scores(),
                             (("equal", "-", "equal scores"), ("unequal", "--", "unequal scores")))


def fig_logistic() -> Figure:
    """Exponential vs logistic loss: the same limit directions."""
    return _fig_cos_variants(compute_logistic(), (("exp", "-", "exp loss"), ("logistic", "--", "logistic loss")))


def fig_gd() -> Figure:
    """GD vs GF: path error linear in the step size; large steps jump into a non-optimal selection."""
    r = compute_gd()
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.8)
    lr, err = r["lr"], r["path_err"]
    ax.loglog(lr, err, "o-", color=C["gd"], label="GD on $W$, measured")
    ax.loglog(lr, err[0] * lr / lr[0], **plots.THEORY_STYLE, label=r"slope 1 (Euler: error $=O(\eta)$)")
    ax.set_xlabel(r"step size $\eta$ (log scale)")
    ax.set_ylabel(r"max relative path error to GF, $t\leq 10$")
    t, loss = r["gf"]
    keep = t > 0
    ax2.plot(t[keep], loss[keep] - r["min_loss"], color=plots.COLORS["theory"], lw=2.2, label="gradient flow")
    cols = plots.OKABE_ITO
    for lr_, col in ((0.3, cols["sky_blue"]), (3.0, C["gd"]), (10.0, cols["vermillion"])):
        run = r["runs"][lr_]
        k = run["t"] > 0
        ax2.plot(run["t"][k], run["loss"][k] - r["min_loss"], "-", marker=".", ms=3, color=col,
                 label=rf"GD, $\eta={lr_:g}$")
    ax2.axhline(r["stuck_level"], color=C["nopt"], ls=":", label="one sample stuck on a non-optimal token")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel(r"time $t=\eta\,k$ (log scale)")
    ax2.set_ylabel(r"$\mathcal{L}-\mathcal{L}^*$ (log scale)")
    plots.finish(fig, legend=False)
    ax.legend(fontsize=8.5, loc="upper left")
    ax2.legend(fontsize=8, loc="lower left")
    return fig


def fig_selection() -> Figure:
    """W(0) = -c W_F: c = 1 recovers, c = 4 settles on a locally optimal selection and its own SVM."""
    r = compute_selection()
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.8)
    cols = {SHIFTS[0]: C["W"], SHIFTS[1]: plots.OKABE_ITO["vermillion"]}
    for c in SHIFTS:
        d = r[c]
        x = d["log_t"]
        keep = x >= -2
        ax.plot(x[keep], d["excess"][keep], color=cols[c], label=rf"$W(0)=-{c:g}\,W_F$")
        ax2.plot(x[keep], 1 - d["cos_global"][keep], color=cols[c], label=rf"$c={c:g}$ vs $W_F$-SVM")
        if not np.array_equal(d["selection"], r["opt"]):
            ax2.plot(x[keep], 1 - d["cos_sel"][keep], color=cols[c], ls="--",
                     label=rf"$c={c:g}$ vs SVM of its selection")
    p = r["peers"]
    keep = p["log_t"] >= -2
    ax2.plot(p["log_t"][keep], 1 - p["cos_global"][keep], color=C["gd"],
             label=rf"Tarzanagh et al.'s setup, seed {PEERS_SEED}, $W(0)=0$, vs $W_F$-SVM")
    ax2.plot(p["log_t"][keep], 1 - p["cos_sel"][keep], color=C["gd"], ls="--",
             label=r"the same vs SVM of its selection")
    ax.axhline(r["stuck_level"], **plots.THEORY_STYLE, label="one sample stuck (Assumption 3 bound)")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    ax.set_xlabel(r"$\ln t$ (symlog scale)")
    ax.set_ylabel(r"$\mathcal{L}-\mathcal{L}^*$ (log scale)")
    ax.set_ylim(1e-12, 1)
    ax2.set_xscale("symlog", linthresh=1)
    ax2.set_yscale("log")
    ax2.set_xlabel(r"$\ln t$ (symlog scale)")
    ax2.set_ylabel(r"$1-\cos$ (log scale)")
    plots.finish(fig, legend=False)
    ax.legend(fontsize=8, loc="lower left")
    ax2.legend(fontsize=8, loc="lower left")
    return fig


def fig_digits() -> Figure:
    """Digits: three images with their optimal row, and the singular values of the limits vs the SVMs."""
    r = compute_digits()
    import matplotlib.gridspec as gridspec

    fig, _ = plots.new_figure(width=10.5, height=3.6)
    fig.clf()
    gs = gridspec.GridSpec(2, 5, figure=fig, width_ratios=[1, 1, 1, 0.15, 4.5])
    show = list(range(3)) + list(range(len(r["y"]) - 3, len(r["y"])))
    for k, i in enumerate(show):
        a = fig.add_subplot(gs[k // 3, k % 3])
        a.imshow(r["images"][i], cmap="Greys", vmin=0, vmax=1)
        a.axhline(r["opt"][i] - 0.5, color=C["opt"], lw=1.5)
        a.axhline(r["opt"][i] + 0.5, color=C["opt"], lw=1.5)
        a.set_xticks([])
        a.set_yticks([])
        a.grid(False)
        a.set_title(f"y={int(r['y'][i]):+d}", fontsize=8)
    ax = fig.add_subplot(gs[:, 4])
    j = np.arange(len(r["sv_fro"]))
    for off, key, col, lab in ((-0.2, "sv_W", C["W"], r"$W$-flow"), (0.2, "sv_KQ", C["KQ"], r"$(K,Q)$-flow")):
        ax.bar(j + off, r[key], width=0.38, color=col, alpha=0.85, label=lab + r", $t=10^{300}$")
    for off, key, lab in ((-0.2, "sv_fro", r"$W_F$-SVM / $W_*$-SVM"), (0.2, "sv_nuc", None)):
        ax.scatter(j + off, r[key], marker="_", s=300, color=plots.COLORS["theory"], linewidths=2, zorder=4,
                   label=lab)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xticks(j, [rf"$\sigma_{k + 1}$" for k in j])
    ax.set_ylabel(r"singular values of $W/\mu$ (symlog)")
    ax.legend(fontsize=8)
    return fig


FIGURES = {
    "kq_vs_w": fig_kq_vs_w,
    "sv_at": fig_sv_at,
    "unequal_scores": fig_unequal_scores,
    "logistic": fig_logistic,
    "gd": fig_gd,
    "selection": fig_selection,
    "digits": fig_digits,
}
