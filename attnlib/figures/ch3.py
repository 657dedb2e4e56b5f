"""Chapter 3 — the reparameterization trick for diagonal K, Q (paper §4, Lemmas 4.1, 4.2, A.1, Theorem 4.1).

Compute functions (``compute_*``) return plain dicts of arrays; the figure functions (``fig_*``) draw them and
the tests call the same compute functions. Every flow is run once per setting and cached (``functools.lru_cache``).
All experiments use the book's diagonal example (:func:`attnlib.make_diagonal_data`: n = 3, L = 3, d = 4).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure
from scipy.integrate import solve_ivp

import attnlib as al
from attnlib import plots
from attnlib.experiments.diagonal_studies import LOCK_ON_TOL

__all__ = [
    "OMEGA0", "LOG_T_END", "WIDGET_OMEGA0", "WIDGET_LOG_T", "data", "svms", "xi_init", "xi_flow", "beta_flow",
    "beta_hat", "dln_flow", "compute_stationary", "compute_equivalence", "compute_closed_form", "compute_mirror",
    "compute_e4", "compute_e10", "compute_norm_growth", "compute_headline", "compute_rate", "compute_widget",
    "fig_equivalence", "fig_closed_form", "fig_mirror", "fig_norm", "fig_headline", "fig_path", "fig_rate",
    "fig_widget", "FIGURES",
]

#: The book's initial scale omega_0 (a constant vector, as in chapter 3's experiments).
OMEGA0 = 0.1
#: How far the headline flows run: log t = 1e6, past the xi-flow's lock-on to the l1-SVM (ln t ~ 2.6e5, ln mu ~ 12.5);
#: the margin frame continues further (:mod:`attnlib.experiments.diagonal_studies`).
LOG_T_END = 1e6
#: Widget sliders: initial scale omega_0 and time (log t).
WIDGET_OMEGA0 = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
WIDGET_LOG_T = (1.0, 3.0, 10.0, 30.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0)


# -- data, reference solutions and cached flows -------------------------------------------------------------

@lru_cache(maxsize=None)
def data() -> al.AttentionData:
    """Demo-1 data (n = 3, L = 3, d = 4); its l1-SVM solution is (20/17, 10/51, 0, 0)."""
    return al.make_diagonal_data()


def svms() -> dict[str, np.ndarray]:
    """The l1- and l2-SVM solutions ``beta`` (each shape (d,)), margin 1 (cached on the data)."""
    return {"l1": al.solve_svm(data(), "l1").beta, "l2": al.solve_svm(data(), "l2").beta}


def xi_init(omega0: float = OMEGA0) -> tuple[np.ndarray, np.ndarray]:
    """Initialisation (5) with ``omega_0 = omega0 * 1``: ``xi_k = sqrt(2) omega_0``, ``xi_q = 0`` (each (d,))."""
    return al.default_init(data(), "xi", scale=omega0, seed=None)


@lru_cache(maxsize=None)
def xi_flow(omega0: float = OMEGA0, log_t_end: float = LOG_T_END, rtol: float = 1e-8) -> al.Trajectory:
    """Gradient flow on ``(xi_k, xi_q)`` from initialisation (5), to ``log t = log_t_end`` (cached)."""
    return al.gradient_flow(data(), "xi", xi_init(omega0), log_t_end=log_t_end, rtol=rtol)


def xi_flow_1e300(rtol: float = 1e-8, omega0: float = OMEGA0) -> al.Trajectory:
    """Gradient flow on ``(xi_k, xi_q)`` from initialisation (5) to ``t = 1e300`` at tolerance ``rtol`` (cached)."""
    return _xi_flow_1e300(float(rtol), float(omega0))


@lru_cache(maxsize=None)
def _xi_flow_1e300(rtol: float, omega0: float) -> al.Trajectory:
    return al.gradient_flow(data(), "xi", xi_init(omega0), log_t_end=np.log(1e300), rtol=rtol)


@lru_cache(maxsize=None)
def beta_flow(log_t_end: float = LOG_T_END, rtol: float = 1e-8) -> al.Trajectory:
    """Gradient flow on ``beta`` itself (the combined diagonal ``W = Diag(beta)``) from 0 (cached)."""
    return al.gradient_flow(data(), "beta", np.zeros(data().d), log_t_end=log_t_end, rtol=rtol)


def beta_of(traj: al.Trajectory) -> np.ndarray:
    """``beta(t)`` along a diagonal trajectory, shape (m, d)."""
    return np.einsum("mjj->mj", traj.W)


def beta_hat(traj: al.Trajectory) -> np.ndarray:
    """Margin-normalised ``beta(t) / mu(beta(t))``, shape (m, d); NaN while ``mu <= 0``."""
    mu = np.where(traj.margin > 0, traj.margin, np.nan)
    return beta_of(traj) / mu[:, None]


def _rel_dist(bh: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.linalg.norm(bh - ref, axis=-1) / np.linalg.norm(ref)


def _cos(b: np.ndarray, ref: np.ndarray) -> np.ndarray:
    nb = np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(nb > 0, b @ ref / (np.where(nb > 0, nb, 1.0) * np.linalg.norm(ref)), np.nan)


# -- Lemma 4.1: the diagonal linear network, integrated independently -------------------------------------------

def dln_flow(d_: al.AttentionData, omega0: np.ndarray, t_eval: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Gradient flow of the diagonal linear network ``w = (w_+^2 - w_-^2) / 2`` (paper eq. (3)), ``w_pm(0) = omega0``.

    Integrated on its own (``w_+' = -grad_w L * w_+``, ``w_-' = +grad_w L * w_-``), in physical time on
    ``[0, 1]`` and in ``s = log t`` afterwards (``dw/ds = t dw/dt``, the factor ``t`` folded into the gradient).

    Parameters
    ----------
    d_ : AttentionData
    omega0 : array, shape (d,)
    t_eval : array, shape (m,)
        Sorted times, starting at 0.

    Returns
    -------
    numpy.ndarray, shape (m, d)
        ``w(t)`` at ``t_eval``.
    """
    dim = d_.d

    def rhs(y, log_scale):
        wp, wm = y[:dim], y[dim:]
        g = al.loss_grad_beta(d_, (wp ** 2 - wm ** 2) / 2, log_scale=log_scale)
        return np.concatenate([-g * wp, g * wm])

    y0 = np.concatenate([omega0, omega0]).astype(float)
    t_eval = np.asarray(t_eval, dtype=float)
    early = t_eval <= 1.0
    s1 = solve_ivp(lambda t, y: rhs(y, 0.0), (0.0, 1.0), y0, method="LSODA", rtol=rtol, atol=1e-3 * rtol,
                   t_eval=np.union1d(t_eval[early], [1.0]))
    out = np.empty((len(t_eval), 2 * dim))
    out[early] = s1.y.T[np.searchsorted(s1.t, t_eval[early])]
    if np.any(~early):  # u = log(1 + log t): dw/du = (1 + s) t dw/dt, both factors folded into the gradient
        u_eval = np.log1p(np.log(t_eval[~early]))
        s2 = solve_ivp(lambda u, y: rhs(y, np.expm1(u) + u), (0.0, u_eval[-1]), s1.y[:, -1], method="LSODA",
                       rtol=rtol, atol=1e-3 * rtol, t_eval=u_eval)
        out[~early] = s2.y.T
    wp, wm = out[:, :dim], out[:, dim:]
    return (wp ** 2 - wm ** 2) / 2


@lru_cache(maxsize=None)
def compute_equivalence(omega0: float = OMEGA0) -> dict:
    """Lemma 4.1: ``beta(t)`` of the xi-flow from (5) vs ``w(t)`` of the diagonal linear network from
    ``w_pm(0) = omega_0`` (the map ``xi_k = (w_+ + w_-)/sqrt2``, ``xi_q = (w_+ - w_-)/sqrt2`` sends one start to
    the other).

    Returns
    -------
    dict
        ``log_t`` (m,), ``beta`` and ``w`` (m, d), ``rel_err`` (m,) = ``||beta - w|| / ||beta||`` (0 at t = 0),
        ``map_err``: how far the map's image of ``w_pm(0)`` is from init (5).
    """
    d_ = data()
    om = np.full(d_.d, omega0)
    traj = xi_flow_1e300(1e-10, omega0)
    beta = beta_of(traj)
    w = dln_flow(d_, om, traj.t)
    nb = np.linalg.norm(beta, axis=1)
    rel = np.where(nb > 0, np.linalg.norm(beta - w, axis=1) / np.where(nb > 0, nb, 1.0), 0.0)
    xk0, xq0 = (om + om) / np.sqrt(2), (om - om) / np.sqrt(2)
    map_err = float(max(np.abs(xk0 - xi_init(omega0)[0]).max(), np.abs(xq0 - xi_init(omega0)[1]).max()))
    return {"log_t": traj.log_t, "beta": beta, "w": w, "rel_err": rel, "map_err": map_err}


# -- initialisation (5) and the stationary balanced start ---------------------------------------------------------

def compute_stationary() -> dict:
    """The balanced zero start ``xi_k = xi_q = 0`` is a stationary point; init (5) is not.

    Returns
    -------
    dict
        ``grad_zero``: the xi-gradient at 0 (two (d,) arrays, exactly 0); ``grad_paper``: at init (5);
        ``max_W_zero_flow``: ``max |W(t)|`` along the flow from 0 to t = 1e3 (exactly 0);
        ``beta_end_paper``: ``beta`` at t = 1e300 from init (5).
    """
    d_ = data()
    z = np.zeros(d_.d)
    traj0 = al.gradient_flow(d_, "xi", (z, z), t_end=1e3)
    return {"grad_zero": al.loss_grad_xi(d_, z, z), "grad_paper": al.loss_grad_xi(d_, *xi_init()),
            "max_W_zero_flow": float(np.abs(traj0.W).max()),
            "beta_end_paper": beta_of(xi_flow())[-1]}


# -- conservation law and the sinh closed form (Lemma A.1) ---------------------------------------------------------

@lru_cache(maxsize=None)
def compute_closed_form(rtols: tuple[float, ...] = (1e-6, 1e-8, 1e-10), omega0: float = OMEGA0) -> dict:
    """Lemma A.1 and the conserved ``xi_k^2 - xi_q^2``, for several solver tolerances.

    Returns
    -------
    dict
        ``log_t`` (m,), and per rtol (keys of the sub-dicts): ``sinh_err`` (m,) = ``||omega_0^2 sinh(B phi) -
        xi_k xi_q|| / ||xi_k xi_q||`` (0 at t = 0), ``cons_err`` (m,) = :func:`attnlib.conservation_error`,
        ``nfev``.
    """
    out = {"sinh_err": {}, "cons_err": {}, "nfev": {}}
    for rtol in rtols:
        traj = xi_flow_1e300(rtol, omega0)
        beta = traj.params["xi_k"] * traj.params["xi_q"]
        nb = np.linalg.norm(beta, axis=1)
        err = np.linalg.norm(al.sinh_closed_form(traj) - beta, axis=1)
        out["sinh_err"][rtol] = np.where(nb > 0, err / np.where(nb > 0, nb, 1.0), 0.0)
        out["cons_err"][rtol] = al.conservation_error(traj)
        out["nfev"][rtol] = traj.nfev
        out["log_t"] = traj.log_t
    return out


# -- mirror flow and erratum E6 --------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def compute_mirror(omega0: float = OMEGA0, log_t_end: float = 30.0, n_points: int = 661) -> dict:
    """Mirror flow ``d/dt grad psi(beta) = -grad L`` and the corrected eq. (27) (erratum E6), by finite
    differences in ``s = log t`` along a densely saved xi-flow.

    With ``psi(beta) = 1/2 sum_j [beta_j arcsinh(beta_j/omega_j^2) - sqrt(beta_j^2 + omega_j^4)]``,
    ``grad psi = arcsinh(beta/omega_0^2)/2``. In log time both identities carry a factor ``t``:
    ``d/ds grad psi = -t grad L`` and ``d beta/ds = -2 sqrt(beta^2 + omega_0^4) * t grad L``.

    Returns
    -------
    dict
        ``log_t`` (m,), ``dpsi_fd``, ``neg_tgrad`` (m, d): the two sides of the mirror identity;
        ``dbeta_fd``, ``dbeta_fixed``, ``dbeta_paper`` (m, d): beta' by finite differences, by the corrected
        formula and by the paper's eq. (27) (extra 1/n); ``mirror_err``, ``e6_err``, ``paper_err`` (m,): relative
        errors against the finite differences; ``plain_err``: the plain-GF guess ``beta' = -grad L``.
    """
    d_ = data()
    s = np.linspace(-3.0, log_t_end, n_points)
    traj = al.gradient_flow(d_, "xi", xi_init(omega0), log_t_end=log_t_end, log_t_eval=s, rtol=1e-10)
    beta = beta_of(traj)
    w2 = np.full(d_.d, omega0) ** 2
    tgrad = np.array([al.loss_grad_beta(d_, b, log_scale=si) for b, si in zip(beta, s)])
    dpsi = np.gradient(np.arcsinh(beta / w2) / 2, s, axis=0, edge_order=2)
    dbeta = np.gradient(beta, s, axis=0, edge_order=2)
    fixed = -2 * np.sqrt(beta ** 2 + w2 ** 2) * tgrad
    paper = fixed / d_.n

    def rel(a, b):
        return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)

    return {"log_t": s, "dpsi_fd": dpsi, "neg_tgrad": -tgrad, "dbeta_fd": dbeta, "dbeta_fixed": fixed,
            "dbeta_paper": paper, "mirror_err": rel(dpsi, -tgrad), "e6_err": rel(fixed, dbeta),
            "paper_err": rel(paper, dbeta), "plain_err": rel(-tgrad, dbeta)}


def compute_e6_pointwise(omega0: float = OMEGA0) -> dict:
    """Erratum E6 pointwise: the flow's own ``beta' = xi_k' xi_q + xi_k xi_q'`` against the corrected and the
    printed eq. (27), at every saved point of the headline xi-flow (in ``s = log t``, where both carry ``t``).

    Returns
    -------
    dict
        ``fixed_err`` and ``paper_ratio`` (m,): relative error of the corrected formula and the ratio
        ``||beta'_flow|| / ||beta'_paper||`` (= n if only the 1/n is spurious).
    """
    d_ = data()
    traj = xi_flow()
    w2 = np.full(d_.d, OMEGA0) ** 2
    fixed_err, ratio = [], []
    for xk, xq, s in zip(traj.params["xi_k"][1:], traj.params["xi_q"][1:], traj.log_t[1:]):
        gk, gq = al.loss_grad_xi(d_, xk, xq, log_scale=s)
        flow = -(gk * xq + xk * gq)
        fixed = -2 * np.sqrt((xk * xq) ** 2 + w2 ** 2) * al.loss_grad_beta(d_, xk * xq, log_scale=s)
        fixed_err.append(np.linalg.norm(fixed - flow) / np.linalg.norm(flow))
        ratio.append(np.linalg.norm(flow) / np.linalg.norm(fixed / d_.n))
    return {"fixed_err": np.array(fixed_err), "paper_ratio": np.array(ratio)}


# -- errata E4 and E10 -----------------------------------------------------------------------------------------

def compute_e4(d_e: int = 6) -> dict:
    """Erratum E4: ``K = [Diag(xi_k), 0]`` (d x d_e, zero-padded) — not ``diag`` — gives ``W = Diag(beta)``.

    Returns
    -------
    dict
        ``W_err``: ``max |K Q^T - Diag(xi_k xi_q)|``; ``grad_err``: ``max |diag(grad_K L) - grad_{xi_k} L|`` and the
        same for Q (the xi-gradient is the diagonal part of the full one); ``offdiag_frac``: the off-diagonal share
        of ``||grad_Q L||`` at init (5) (the full K, Q flow would leave the diagonal: the diagonal model is a
        constrained model).
    """
    d_ = data()
    rng = np.random.default_rng(0)
    xk, xq = rng.standard_normal(d_.d), rng.standard_normal(d_.d)
    pad = np.zeros((d_.d, d_e - d_.d))
    K, Q = np.hstack([np.diag(xk), pad]), np.hstack([np.diag(xq), pad])
    gK, gQ = al.loss_grad_KQ(d_, K, Q)
    gk, gq = al.loss_grad_xi(d_, xk, xq)
    idx = np.arange(d_.d)
    K0, Q0 = (np.hstack([np.diag(a), pad]) for a in xi_init())
    gQ0 = al.loss_grad_KQ(d_, K0, Q0)[1]
    off = gQ0.copy()
    off[idx, idx] = 0.0
    return {"W_err": float(np.abs(K @ Q.T - np.diag(xk * xq)).max()),
            "grad_err": float(max(np.abs(gK[idx, idx] - gk).max(), np.abs(gQ[idx, idx] - gq).max())),
            "offdiag_frac": float(np.linalg.norm(off) / np.linalg.norm(gQ0))}


@lru_cache(maxsize=None)
def compute_e10(seed: int = 0) -> dict:
    """Erratum E10: Lemma A.1 for a non-constant ``omega_0`` with mixed signs and mixed zero patterns.

    ``omega_0`` is ``0.1 * U(0.5, 1.5)`` per coordinate; coordinates alternate between ``xi_k(0) = +-sqrt2 omega``,
    ``xi_q(0) = 0`` and ``xi_k(0) = 0``, ``xi_q(0) = +-sqrt2 omega``.

    Returns
    -------
    dict
        ``omega0`` (d,), ``init`` (two (d,) arrays), ``sinh_err`` (m,) as in :func:`compute_closed_form`,
        ``max_err``.
    """
    d_ = data()
    rng = np.random.default_rng(seed)
    om = 0.1 * rng.uniform(0.5, 1.5, d_.d)
    sign = rng.choice([-1.0, 1.0], d_.d)
    on_k = np.arange(d_.d) % 2 == 0
    xk0 = np.where(on_k, sign * np.sqrt(2) * om, 0.0)
    xq0 = np.where(on_k, 0.0, sign * np.sqrt(2) * om)
    traj = al.gradient_flow(d_, "xi", (xk0, xq0), t_end=1e300, rtol=1e-8)
    beta = traj.params["xi_k"] * traj.params["xi_q"]
    nb = np.linalg.norm(beta, axis=1)
    err = np.where(nb > 0, np.linalg.norm(al.sinh_closed_form(traj) - beta, axis=1) / np.where(nb > 0, nb, 1), 0.0)
    return {"omega0": om, "init": (xk0, xq0), "sinh_err": err, "max_err": float(err.max()),
            "cos_l1": float(_cos(beta_of(traj)[-1], svms()["l1"]))}


# -- Lemma 4.2: the norm diverges ---------------------------------------------------------------------------------

def compute_norm_growth() -> dict:
    """Lemma 4.2 along the headline flows: ``||beta(t)||_2`` and the margin ``mu(t)`` against ``log t``.

    Returns
    -------
    dict
        ``log_t`` (m,) for t >= e; ``norm_xi``, ``mu_xi`` (m,) for the xi-flow; ``norm_beta``, ``mu_beta`` for the
        beta-flow (same grid); ``l1_norm2``: ``||beta_l1||_2`` (the prediction ``||beta|| ~ ||beta_l1|| mu``).
    """
    tx, tb = xi_flow(), beta_flow()
    keep = tx.log_t >= 1.0
    assert np.allclose(tx.log_t, tb.log_t)
    return {"log_t": tx.log_t[keep], "norm_xi": np.linalg.norm(beta_of(tx)[keep], axis=1), "mu_xi": tx.margin[keep],
            "norm_beta": np.linalg.norm(beta_of(tb)[keep], axis=1), "mu_beta": tb.margin[keep],
            "l1_norm2": float(np.linalg.norm(svms()["l1"]))}


# -- Theorem 4.1: the headline -------------------------------------------------------------------------------

def compute_headline() -> dict:
    """Separate ``(xi_k, xi_q)`` vs combined ``beta``: directions, cosines and distances to both SVM solutions.

    Returns
    -------
    dict
        ``log_t`` (m,); for ``p`` in ("xi", "beta"): ``bhat[p]`` (m, d) = ``beta/mu``; ``dist[p][s]`` and
        ``cos[p][s]`` (m,) against SVM ``s`` in ("l1", "l2"); ``l1``, ``l2``: the SVM solutions (d,).
    """
    ref = svms()
    out = {"bhat": {}, "dist": {}, "cos": {}, "l1": ref["l1"], "l2": ref["l2"]}
    for p, traj in (("xi", xi_flow()), ("beta", beta_flow())):
        bh = beta_hat(traj)
        out["bhat"][p] = bh
        out["dist"][p] = {s: _rel_dist(bh, ref[s]) for s in ("l1", "l2")}
        out["cos"][p] = {s: _cos(beta_of(traj), ref[s]) for s in ("l1", "l2")}
        out["log_t"] = traj.log_t
    return out


def compute_rate() -> dict:
    """How slowly the xi-flow approaches the l1 solution: relative distance against ``1/ln mu``.

    Returns
    -------
    dict
        ``inv_log_mu`` (m,), ``dist_l1`` (m,) for the times with ``mu > e``; ``log_t`` (m,); ``at`` : dict
        ``log t -> distance`` at log t = 690 (t = 1e300), 1e4, 1e5 and ``LOG_T_END`` (1e6).
    """
    traj = xi_flow()
    ok = traj.margin > np.e
    dist = _rel_dist(beta_hat(traj), svms()["l1"])
    at = {lt: float(np.interp(lt, traj.log_t[ok], dist[ok])) for lt in (np.log(1e300), 1e4, 1e5, LOG_T_END)}
    return {"inv_log_mu": 1 / np.log(traj.margin[ok]), "dist_l1": dist[ok], "log_t": traj.log_t[ok], "at": at}


# -- widget: initial scale and time -----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def compute_widget(omega0: float) -> dict:
    """One xi-flow per ``omega0`` (log t up to 1e6, rtol 1e-6; cached): ``log_t``, ``mu``, ``bhat`` (m, d),
    ``dist_l1``, ``dist_l2`` (m,)."""
    traj = xi_flow(omega0, log_t_end=max(WIDGET_LOG_T), rtol=1e-6)
    bh = beta_hat(traj)
    ref = svms()
    return {"log_t": traj.log_t, "mu": traj.margin, "bhat": bh, "dist_l1": _rel_dist(bh, ref["l1"]), "dist_l2": _rel_dist(bh, ref["l2"])}


def widget_min_dist_l2(omega0: float) -> float:
    """Closest approach of the xi-flow's direction to the l2 solution (relative distance), for t >= e."""
    w = compute_widget(omega0)
    keep = (w["log_t"] >= 1.0) & np.isfinite(w["dist_l2"])
    return float(w["dist_l2"][keep].min())


def _lock_on_log_t(omega0: float) -> float:
    """``log t`` at which the xi-flow from ``omega0`` locks on to the l1-SVM (margin frame, to t = e^1e300)."""
    from attnlib.experiments import diagonal_studies

    table = diagonal_studies.lock_on_table()
    rows = [r for r in table if np.isclose(r.omega0, omega0)]
    return rows[0].log_t if rows else diagonal_studies.lock_on(omega0).log_t


def _sci(x: float) -> str:
    """``x`` as TeX ``a\\times10^{b}`` with one significant digit."""
    e = int(np.floor(np.log10(x)))
    m = round(x / 10 ** e)
    if m == 10:
        m, e = 1, e + 1
    return rf"${m}\times10^{{{e}}}$" if m != 1 else rf"$10^{{{e}}}$"


# -- figures ----------------------------------------------------------------------------------------------------

C = plots.COLORS
_COORD_STYLES = ("-", "--", "-.", ":")


def fig_equivalence() -> Figure:
    """Lemma 4.1: beta(t) of the xi-flow (solid) and w(t) of the diagonal linear network (markers)."""
    r = compute_equivalence()
    fig, (ax, ax2) = plots.new_figure(1, 2, width=9.6, height=3.6)
    keep = r["log_t"] >= 0.05
    x = r["log_t"][keep]
    for j in range(r["beta"].shape[1] - 1):
        ax.loglog(x, r["beta"][keep, j], color=plots.OKABE_ITO[("orange", "blue", "bluish_green")[j]],
                  label=rf"$\beta_{j + 1}(t)$, $(\xi_k,\xi_q)$-flow")
        ax.loglog(x[::6], r["w"][keep, j][::6], "o", mfc="none", color=plots.OKABE_ITO["black"], ms=4,
                  label=r"$w_{j}(t)$, diagonal linear network" if j == 0 else None)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"coordinate (log scale)")
    ax2.loglog(x, np.maximum(r["rel_err"][keep], 1e-17), color=C["xi"], label="measured")
    ax2.axhline(1e-10, **plots.THEORY_STYLE, label="solver tolerance $10^{-10}$")
    ax2.set_xlabel(r"$\ln t$ (log scale)")
    ax2.set_ylabel(r"$\|\beta(t)-w(t)\|/\|\beta(t)\|$ (log scale)")
    plots.finish(fig, legend=False)
    ax.legend(fontsize=9, loc="upper left")
    ax2.legend(fontsize=9, loc="lower right")
    return fig


def fig_closed_form() -> Figure:
    """Lemma A.1: relative error of the sinh closed form and drift of xi_k^2 - xi_q^2, for three tolerances."""
    r = compute_closed_form()
    fig, (ax, ax2) = plots.new_figure(1, 2, width=9.6, height=3.6)
    keep = r["log_t"] >= 0.05
    x = r["log_t"][keep]
    colors = (plots.OKABE_ITO["sky_blue"], plots.OKABE_ITO["orange"], plots.OKABE_ITO["vermillion"])
    for col, rtol in zip(colors, sorted(r["sinh_err"], reverse=True)):
        lab = f"rtol = {rtol:.0e}"
        ax.loglog(x, r["sinh_err"][rtol][keep], color=col, label=lab)
        ax.axhline(rtol, color=col, ls="--", lw=1)
        ax2.loglog(x, np.maximum(r["cons_err"][rtol][keep], 1e-17), color=col, label=lab)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel("relative error of $\\omega_0^2\\sinh(B\\phi)$ (log scale)")
    ax2.set_xlabel(r"$\ln t$ (log scale)")
    ax2.set_ylabel(r"drift of $\xi_k^2-\xi_q^2$ (log scale)")
    return plots.finish(fig, legend_loc="lower right")


def fig_mirror() -> Figure:
    """Mirror flow and erratum E6 checked by finite differences in log t."""
    r = compute_mirror()
    s = r["log_t"]
    fig, (ax, ax2) = plots.new_figure(1, 2, width=9.6, height=3.6)
    for j, col in zip(range(2), (plots.OKABE_ITO["orange"], plots.OKABE_ITO["blue"])):
        ax.plot(s, r["dpsi_fd"][:, j], color=col, label=rf"$\frac{{d}}{{ds}}\nabla\psi(\beta)_{j + 1}$ (finite diff.)")
        ax.plot(s[::40], r["neg_tgrad"][::40, j], "o", mfc="none", color=plots.OKABE_ITO["black"], ms=4,
                label=r"$-t\,\nabla_\beta\mathcal{L}$ (formula)" if j == 0 else None)
    ax.set_xlabel(r"$s=\ln t$")
    ax.set_ylabel("rate of change in $s = \\ln t$")
    ax2.semilogy(s, r["mirror_err"], color=C["xi"], label="mirror identity")
    ax2.semilogy(s, r["e6_err"], color=C["gd"], label="E6: corrected eq. (27)")
    ax2.semilogy(s, r["paper_err"], color=C["nopt"], ls=":", label="eq. (27) as printed (extra $1/n$)")
    ax2.set_xlabel(r"$s=\ln t$")
    ax2.set_ylabel("relative mismatch (log scale)")
    return plots.finish(fig, legend_loc="center right")


def fig_norm() -> Figure:
    """Lemma 4.2: ||beta(t)|| diverges like mu(t) ~ ln t (+ ln ln t for the xi-flow)."""
    r = compute_norm_growth()
    lt = r["log_t"]
    fig, (ax, ax2) = plots.new_figure(1, 2, width=9.6, height=3.6)
    ax.loglog(lt, r["norm_xi"], color=C["xi"], label=r"$\|\xi_k\odot\xi_q\|_2$, $(\xi_k,\xi_q)$-flow")
    ax.loglog(lt, r["norm_beta"], color=C["beta"], label=r"$\|\beta\|_2$, $\beta$-flow")
    ax.loglog(lt, r["l1_norm2"] * lt, **plots.THEORY_STYLE, label=r"$\|\beta_{\ell_1}\|_2\,\ln t$")
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"$\|\beta(t)\|_2$ (log scale)")
    lnln = np.log(lt)
    keep = lt >= 3
    ax2.plot(lnln[keep], (r["mu_xi"] - lt)[keep], color=C["xi"], label=r"$\mu-\ln t$, $(\xi_k,\xi_q)$-flow")
    ax2.plot(lnln[keep], (r["mu_beta"] - lt)[keep], color=C["beta"], label=r"$\mu-\ln t$, $\beta$-flow")
    c = np.median((r["mu_xi"] - lt - lnln)[lt >= 100])
    ax2.plot(lnln[keep], lnln[keep] + c, **plots.THEORY_STYLE, label=rf"$\ln\ln t {c:+.2f}$ (heuristic)")
    ax2.set_xlabel(r"$\ln\ln t$")
    ax2.set_ylabel(r"$\mu(t)-\ln t$")
    return plots.finish(fig, legend_loc="upper left")


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


def fig_headline() -> Figure:
    """Theorem 4.1 vs its l2 counterpart: distances to both SVM solutions vs log t, and the final directions."""
    r = compute_headline()
    x = r["log_t"]
    keep = x >= 1.0
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.5, height=3.9)
    for p, lab in (("xi", r"$(\xi_k,\xi_q)$-flow"), ("beta", r"$\beta$-flow")):
        ax.loglog(x[keep], r["dist"][p]["l1"][keep], color=C[p], label=lab + r" vs $\ell_1$-SVM")
        ax.loglog(x[keep], r["dist"][p]["l2"][keep], color=C[p], ls="--", label=lab + r" vs $\ell_2$-SVM")
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel(r"$\|\hat\beta(t)-\beta_{\rm SVM}\|/\|\beta_{\rm SVM}\|$ (log scale)")
    vec = {r"$(\xi_k,\xi_q)$-flow": r["bhat"]["xi"][-1], r"$\ell_1$-SVM": r["l1"],
           r"$\beta$-flow": r["bhat"]["beta"][-1], r"$\ell_2$-SVM": r["l2"]}
    styles = {r"$(\xi_k,\xi_q)$-flow": {"color": C["xi"]}, r"$\ell_1$-SVM": _svm_bar_style("l1"),
              r"$\beta$-flow": {"color": C["beta"]}, r"$\ell_2$-SVM": _svm_bar_style("l2")}
    _bars(ax2, vec, styles)
    ax2.set_ylabel(rf"$\hat\beta=\beta/\mu$ at $\ln t = 10^{{{np.log10(x[-1]):.0f}}}$")
    plots.finish(fig, legend=False)
    ax.legend(fontsize=8.5, loc="lower left")
    ax2.legend(fontsize=9)
    return fig


def fig_path() -> Figure:
    """The path of beta_hat(t) against both SVM solutions, projected on (beta_1, beta_2) and (beta_1, beta_3)."""
    r = compute_headline()
    x = r["log_t"]
    fig, axes = plots.new_figure(1, 2, width=10.0, height=4.0)
    for ax, (a, b) in zip(axes, ((0, 1), (0, 2))):
        for p, lab in (("xi", r"$(\xi_k,\xi_q)$-flow"), ("beta", r"$\beta$-flow")):
            bh = r["bhat"][p]
            ok = np.isfinite(bh[:, 0]) & (x >= 0.0)
            ax.plot(bh[ok, a], bh[ok, b], color=C[p], label=lab)
            for lt, mk, lab in ((np.log(1e300), "s", r"$t=10^{300}$"), (1e4, "^", r"$\ln t=10^4$"),
                                (1e5, "v", r"$\ln t=10^5$")):
                k = np.searchsorted(x, lt)
                if p == "xi":
                    ax.plot(bh[k, a], bh[k, b], mk, color=C[p], ms=6, label=lab)
            ax.plot(bh[-1, a], bh[-1, b], "o", color=C[p], ms=5)
        for s, mk in (("l1", "*"), ("l2", "P")):
            ax.plot(r[s][a], r[s][b], mk, ms=14, mfc="none", mec=C["theory"], mew=1.5,
                    label=rf"$\ell_{s[1]}$-SVM solution")
            ax.annotate(rf"$\ell_{s[1]}$", (r[s][a], r[s][b]), textcoords="offset points",
                        xytext=(8, 6 if s == "l1" else -12), color=C["theory"])
        ax.set_xlabel(rf"$\hat\beta_{a + 1}$")
        ax.set_ylabel(rf"$\hat\beta_{b + 1}$")
    plots.finish(fig, legend=False)
    axes[0].legend(fontsize=8.5, loc="upper right")
    return fig


def fig_rate() -> Figure:
    """Distance of the xi-flow's direction to the l1 solution against 1/ln mu."""
    r = compute_rate()
    fig, ax = plots.new_figure(width=6.4, height=3.8)
    ax.plot(r["inv_log_mu"], r["dist_l1"], color=C["xi"], label=r"$(\xi_k,\xi_q)$-flow, $\omega_0=0.1$")
    for lt, lab in ((np.log(1e300), r"$t=10^{300}$"), (1e4, r"$\ln t=10^4$"), (1e5, r"$\ln t=10^5$"),
                    (LOG_T_END, r"$\ln t=10^6$")):
        k = np.argmin(np.abs(r["log_t"] - lt))
        ax.plot(r["inv_log_mu"][k], r["dist_l1"][k], "o", color=C["xi"])
        ax.annotate(lab, (r["inv_log_mu"][k], r["dist_l1"][k]), textcoords="offset points", xytext=(6, -12))
    for om, ls in ((0.3, "--"), (1.0, ":")):
        w = compute_widget(om)
        ok = w["mu"] > np.e
        ax.plot(1 / np.log(w["mu"][ok]), w["dist_l1"][ok], color=C["xi"], lw=1, ls=ls,
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
    x = r["log_t"]
    keep = x >= 0.5
    # fixed margins: constrained layout would double the cost of every frame
    fig, (ax, ax2) = plots.new_figure(1, 2, width=10.0, height=3.8, layout="none",
                                      gridspec_kw={"left": 0.075, "right": 0.985, "bottom": 0.13, "top": 0.92,
                                                   "wspace": 0.22})
    for j, om in enumerate(WIDGET_OMEGA0):
        if om != omega0:
            o = compute_widget(om)
            ax.loglog(o["log_t"][keep], o["dist_l1"][keep], color="#BBBBBB", lw=0.8, zorder=1,
                      label=r"other $\omega_0$: distance to $\ell_1$" if "other" not in str(ax.get_legend_handles_labels()[1]) else None)
            # one label per grey curve: where it first falls below 0.03, else staggered along the plateau
            low = np.where((o["dist_l1"] < 0.03 / 5.0 ** max(0, j - 3)) & (o["log_t"] > 3.0))[0]
            kl = int(low[0]) if len(low) else int(np.argmin(np.abs(o["log_t"] - 10.0 ** (1.0 + 0.8 * j))))
            if 1.2e-4 < o["dist_l1"][kl] < 2.5:
                ax.text(o["log_t"][kl], o["dist_l1"][kl], f"{om:g}", fontsize=7.5, color="#777777",
                        ha="center", va="bottom", zorder=2)
    ax.loglog(x[keep], r["dist_l1"][keep], color=C["l1"], label=r"distance to $\ell_1$-SVM")
    ax.loglog(x[keep], r["dist_l2"][keep], color=C["l2"], label=r"distance to $\ell_2$-SVM")
    ax.axvline(log_t, color=C["theory"], lw=1, ls=":")
    lock = _lock_on_log_t(omega0)
    if lock <= max(WIDGET_LOG_T):
        ax.plot([lock], [LOCK_ON_TOL], "v", color=C["l1"], ms=8, zorder=3,
                label=rf"locks on to $\ell_1$ (distance $<10^{{-3}}$) at $\ln t\approx${_sci(lock)}")
    else:
        ax.annotate(rf"locks on at $\ln t\approx${_sci(lock)} $\to$", (0.98, 0.06), xycoords="axes fraction",
                    ha="right", fontsize=8.5, color=C["l1"])
    ax.axhline(LOCK_ON_TOL, color="#999999", lw=0.6, ls="--", zorder=1)
    ax.set_ylim(1e-4, 3)
    ax.set_xlabel(r"$\ln t$ (log scale)")
    ax.set_ylabel("relative distance of $\\hat\\beta(t)$ (log scale)")
    ax.set_title(rf"$\omega_0 = {omega0:g}$ (grey: the other $\omega_0$, labelled)", fontsize=10)
    k = int(np.argmin(np.abs(x - log_t)))
    vec = {r"$\hat\beta(t)$, $(\xi_k,\xi_q)$-flow": r["bhat"][k], r"$\ell_1$-SVM": ref["l1"], r"$\ell_2$-SVM": ref["l2"]}
    styles = {r"$\hat\beta(t)$, $(\xi_k,\xi_q)$-flow": {"color": C["xi"]}, r"$\ell_1$-SVM": _svm_bar_style("l1"),
              r"$\ell_2$-SVM": _svm_bar_style("l2")}
    _bars(ax2, vec, styles)
    ax2.set_ylim(-0.1, 1.6)
    ax2.set_title(rf"direction at $\ln t=${_sci(log_t) if log_t >= 1e4 else f'${log_t:g}$'}", fontsize=10)
    ax.legend(fontsize=9, loc="lower left")
    ax2.legend(fontsize=9, loc="upper right")
    return fig


FIGURES = {
    "equivalence": fig_equivalence,
    "closed_form": fig_closed_form,
    "mirror": fig_mirror,
    "norm": fig_norm,
    "headline": fig_headline,
    "path": fig_path,
    "rate": fig_rate,
    "widget": fig_widget,
}
