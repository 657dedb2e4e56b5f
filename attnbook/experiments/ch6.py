"""Chapter 6 — beyond the theorems (generic data, gradient descent, the logistic loss, Tarzanagh et al.'s setup).

Every experiment here goes beyond what Sheen et al. (2024) prove: full ``(K, Q)`` from a small random start on
generic data, unequal non-optimal scores (Assumption 2 violated), the logistic loss, gradient descent with a step
size, initialisations that violate Assumption 3 (locally optimal token selections) and a real data set
(scikit-learn's bundled digits).

Compute functions (``compute_*``) return read-only dicts of read-only arrays; the figure functions draw them
and ``tests/claims/test_ch6.py`` checks them. Each flow runs once and is cached (:func:`attnbook.experiments._store.memo`).

The chapter's computations (no drawing: :mod:`attnbook.figures.ch6` draws them).
"""
from __future__ import annotations

import numpy as np

from attnlib.assumptions import ASSUMPTIONS, check_assumptions
from attnlib.data import AttentionData, make_generic_data
from attnlib.diagnostics import singular_values
from attnlib.flow import Trajectory, default_init, gradient_descent, gradient_flow
from attnlib.model import attention, cosine, min_loss
from attnlib.svm import SVMSolution, selection_pairs, solve_selection_svm, solve_svm
from ._store import memo

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
#: A seed of the setup of Tarzanagh et al.'s public notebooks (n=6, L=8, d=10) whose W-flow from 0 ends on a non-
#: optimal token selection.
PEERS_SEED = 5


@memo
def demo_data() -> AttentionData:
    """Generic equal-score data: n = 4, L = 3, d = 4, Gaussian tokens, gamma_opt = 6, gamma_nopt = 0."""
    return make_generic_data(4, 3, 4, seed=DEMO_SEED, equal_scores=True)


@memo
def perturbed_data(size: float = PERTURB, seed: int = 0) -> AttentionData:
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
    return AttentionData(X, base.z, base.y, base.v)


@memo
def digits_data(n_per_class: int = 3, head_scale: float = 30.0) -> AttentionData:
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
    return AttentionData(X, z, y, head_scale * diff / np.linalg.norm(diff))


def _svm(data: AttentionData, norm: str) -> SVMSolution:
    return solve_svm(data, norm)


def selection_margin(data: AttentionData, W, sel) -> float:
    """``min (x_{i,sel(i)} - x_il)^T W z_i`` over the pairs of :func:`attnlib.svm.solve_selection_svm`."""
    sel = np.asarray(sel, dtype=int)
    i, l = selection_pairs(data, sel).T
    return float(np.einsum("kd,de,ke->k", data.X[i, sel[i]] - data.X[i, l], np.asarray(W), data.z[i]).min())


def reached_selection(data: AttentionData, W) -> np.ndarray:
    """The token each sample attends to most at ``W``, shape (n,)."""
    return attention(data, W).argmax(axis=1)


def numerical_rank(sv: np.ndarray, rel: float = 1e-4) -> int:
    """Number of singular values above ``rel`` times the largest (the rank the chapter quotes), for ``sv`` (d,)
    sorted in decreasing order."""
    sv = np.asarray(sv, dtype=float)
    return int(np.sum(sv > rel * sv[0]))


def _recovered_step(data: AttentionData, run, lr: float) -> int | None:
    """First saved GD step from which every sample selects its optimal token up to the end (None: not at the end)."""
    ok = np.array([np.array_equal(reached_selection(data, W), data.opt) for W in run.W])
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    first = bad[-1] + 1 if len(bad) else 0
    return int(np.rint(run.t[first] / lr))


def _log_t_eval(log_t_end: float) -> np.ndarray:
    """Save times: t = 0, 19 times in (0, 1), 180 uniform in log(1 + log t), plus the checkpoints."""
    base = np.concatenate([np.log(np.logspace(-2, 0, 20)[:-1]), np.expm1(np.linspace(0.0, np.log1p(log_t_end), 180))])
    extra = np.array([c for c in (*CHECKPOINTS, *WIDGET_LOG_T) if c < log_t_end] + [log_t_end])
    base = base[(np.abs(base[:, None] / extra[None, :] - 1).min(axis=1) > 1e-6) & (base < log_t_end)]
    return np.concatenate([[-np.inf], np.unique(np.concatenate([base, extra]))])


@memo
def _flow(which: str, param: str, loss: str = "exp", log_t_end: float = LOG_T_END) -> Trajectory:
    data = {"demo": demo_data, "perturbed": perturbed_data, "digits": digits_data}[which]()
    init = default_init(data, param, 0.01, seed=DEMO_SEED) if param == "KQ" else np.zeros((data.d, data.d))
    rtol = 1e-6 if which == "digits" else 1e-8
    if log_t_end == 300 * np.log(10.0):
        return gradient_flow(data, param, init, t_end=1e300, loss=loss, rtol=rtol)
    return gradient_flow(data, param, init, loss=loss, log_t_end=log_t_end, log_t_eval=_log_t_eval(log_t_end),
                            rtol=rtol)


def _at(traj: Trajectory, log_t: float) -> int:
    """Index of the saved time closest to ``log t``."""
    return int(np.nanargmin(np.abs(traj.log_t - log_t)))


def _dir_sv(traj: Trajectory) -> np.ndarray:
    """Singular values of ``W(t) / mu(t)`` (NaN while mu <= 0), shape (m, d)."""
    return singular_values(np.nan_to_num(traj.direction())) * np.where(traj.margin > 0, 1.0, np.nan)[:, None]


@memo
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
    out = {"sv_fro": singular_values(fro.W), "sv_nuc": singular_values(nuc.W), "W_fro": fro.W, "W_nuc": nuc.W,
           "cos_fro_nuc": cosine(fro.W, nuc.W)}
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
        out[f"rank_{k}"] = numerical_rank(sv)
    return out


@memo
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
    rep = check_assumptions(pert)
    out = {"gamma": pert.gamma, "holds": {k: rep.holds(k) for k in ASSUMPTIONS},
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


@memo
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


@memo
def compute_gd() -> dict:
    """Gradient descent on W with step size lr vs gradient flow at the same times ``t = lr * step``.

    Small steps run to ``t = GD_T``; the path error is ``max_k ||W_gd(k) - W_gf(k lr)|| / ||W_gf(k lr)||``. Large
    steps run 300 steps.

    Returns
    -------
    dict
        ``"lr"`` (small), ``"path_err"`` (same length), ``"slope"`` (log-log fit of path error vs lr); ``"gf"``:
        (t, loss) of the flow; ``"runs"``: lr -> (t, loss, cos with W_F-SVM, selection, excess loss at the end,
        ``"recovered_step"``: the first saved step from which every sample selects its optimal token for good, or
        ``None`` if some sample is still on another token at the end);
        ``"stuck_level"``: the excess loss when one sample attends only to a non-optimal token.
    """
    data = demo_data()
    fro = _svm(data, "fro")
    W0 = np.zeros((data.d, data.d))
    runs, gds = {}, {}
    for lr in GD_SMALL_LR:
        gds[lr] = gradient_descent(data, "W", W0, lr, int(round(GD_T / lr)))
    # near-equal times (3 * 0.1 vs 0.3) collide in gradient_flow's log-log clock: round them first
    t_all = np.unique(np.round(np.concatenate([g.t for g in gds.values()]), 9))
    gf = gradient_flow(data, "W", W0, t_end=t_all[-1], t_eval=t_all)
    errs = []
    for lr, g in gds.items():
        ref = gf.W[np.abs(t_all[None, :] - g.t[:, None]).argmin(axis=1)]
        nrm = np.linalg.norm(ref, axis=(1, 2))
        e = np.linalg.norm(g.W - ref, axis=(1, 2))[nrm > 0] / nrm[nrm > 0]
        errs.append(e.max())
    for lr in (*GD_SMALL_LR, *GD_LARGE_LR):
        g = gds[lr] if lr in gds else gradient_descent(data, "W", W0, lr, 300)
        runs[lr] = {"t": g.t, "loss": g.loss, "cos": g.cosine_to(fro.W)[-1],
                    "selection": reached_selection(data, g.W[-1]), "excess": g.excess_loss[-1],
                    "recovered_step": _recovered_step(data, g, lr)}
    errs = np.array(errs)
    slope = np.polyfit(np.log(GD_SMALL_LR), np.log(errs), 1)[0]
    return {"lr": np.array(GD_SMALL_LR), "path_err": errs, "slope": float(slope), "gf": (gf.t, gf.loss),
            "runs": runs, "stuck_level": _stuck_level(data), "min_loss": min_loss(data), "opt": data.opt}


def _stuck_level(data: AttentionData) -> float:
    """Least excess loss when one sample attends only to its non-optimal tokens (the bound of Assumption 3)."""
    nopt = np.where(np.arange(data.L)[None, :] == data.opt[:, None], -np.inf, data.gamma).max(axis=1)
    return float(np.min(np.exp(-nopt) - np.exp(-data.gamma_opt)) / data.n)


@memo
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
        tr = gradient_flow(data, "W", W0)
        sel = reached_selection(data, tr.W[-1])
        W_sel = solve_selection_svm(data, sel, "fro").W
        out[c] = {"log_t": tr.log_t, "excess": tr.excess_loss, "cos_global": tr.cosine_to(fro.W),
                  "selection": sel, "W_sel": W_sel, "cos_sel": tr.cosine_to(W_sel),
                  "assumption3": check_assumptions(data, W0).holds("3"), "loss0": tr.loss[0],
                  "sel_margin": selection_margin(data, tr.W[-1], sel)}
    peers = make_generic_data(6, 8, 10, seed=PEERS_SEED)
    tr = gradient_flow(peers, "W", np.zeros((peers.d, peers.d)))
    sel = reached_selection(peers, tr.W[-1])
    W_sel = solve_selection_svm(peers, sel, "fro").W
    out["peers"] = {"log_t": tr.log_t, "excess": tr.excess_loss, "cos_global": tr.cosine_to(_svm(peers, "fro").W),
                    "selection": sel, "opt": peers.opt, "cos_sel": tr.cosine_to(W_sel), "gamma": peers.gamma}
    return out


@memo
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
    rep = check_assumptions(data)
    fro, nuc = _svm(data, "fro"), _svm(data, "nuc")
    W = _flow("digits", "W", log_t_end=300 * np.log(10.0))
    KQ = _flow("digits", "KQ", log_t_end=300 * np.log(10.0))
    return {"holds": {k: rep.holds(k) for k in ASSUMPTIONS}, "opt": data.opt, "images": data.X, "y": data.y,
            "sv_fro": singular_values(fro.W), "sv_nuc": singular_values(nuc.W),
            "sv_W": singular_values(W.direction()[-1]), "sv_KQ": singular_values(KQ.direction()[-1]),
            "cos": {"W_fro": W.cosine_to(fro.W)[-1], "W_nuc": W.cosine_to(nuc.W)[-1],
                    "KQ_nuc": KQ.cosine_to(nuc.W)[-1], "KQ_fro": KQ.cosine_to(fro.W)[-1]},
            "selected_opt": all(np.array_equal(reached_selection(data, tr.W[-1]), data.opt) for tr in (W, KQ)),
            "nfev": {"W": W.nfev, "KQ": KQ.nfev}}
