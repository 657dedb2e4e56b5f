"""Figures of chapter 5, "The aligned general case" (paper §5, appendix A.6-A.7).

Data: :func:`attnlib.make_orthogonal_data` (Assumption 4 with exactly representable numbers) and the same data
rotated by a random orthogonal matrix (still Assumption 4, no longer exactly representable). Flows and SVMs are
cached, so each figure and each widget frame only draws.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.figure import Figure

import attnlib as al
from attnlib import plots

__all__ = ["SCALE", "LOG_T_END", "WIDGET_THETA", "WIDGET_SCALE", "exact_data", "rotated_data", "pair_parameters",
           "closed_form_W", "reduced_data", "alignment_gap", "misaligned_init", "aligned_flow", "compute_alignment",
           "compute_reduced", "compute_coincide", "nuclear_family", "family_coordinate", "compute_misaligned", "fig_alignment",
           "fig_reduced", "fig_coincide", "fig_misaligned", "fig_misaligned_frame", "FIGURES"]

SCALE = 0.1
LOG_T_END = 1e6
LOG_T_1E300 = float(np.log(1e300))
#: Misalignment angles (radians) and init scales offered by the widget.
WIDGET_THETA = [0.0, np.pi / 32, np.pi / 8, np.pi / 4, 3 * np.pi / 8, np.pi / 2]
WIDGET_SCALE = [0.03, 0.1, 0.3, 1.0]
#: Anisotropic omega_0 pattern of the misaligned initialisation (a rotation of an isotropic K0 is still aligned).
OMEGA_PATTERN = (1.0, 1.0, 0.5, 0.5)


# -- data and closed forms ---------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def exact_data() -> al.AttentionData:
    """The book's aligned example (:func:`attnlib.make_orthogonal_data`): n = 2, L = 3, d = 4, e-basis, exact."""
    return al.make_orthogonal_data()


@lru_cache(maxsize=None)
def rotation(seed: int = 0, d: int = 4) -> np.ndarray:
    """A random orthogonal matrix R (d, d) (QR of a Gaussian matrix)."""
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))[0]


@lru_cache(maxsize=None)
def rotated_data(seed: int = 0) -> al.AttentionData:
    """The demo-3 data with tokens, queries and head all rotated by one random orthogonal ``R``:
    ``x -> R x``, ``z -> R z``, ``v -> R v``. Scores and Assumption 4 are unchanged, but the numbers are no longer
    exactly representable, so the pair symmetry holds only up to rounding."""
    d0, R = exact_data(), rotation(seed)
    return al.AttentionData(d0.X @ R.T, d0.z @ R.T, d0.y, R @ d0.v)


def pair_parameters(data: al.AttentionData) -> np.ndarray:
    """``c_i`` of Assumption 4 (iii): ``x_{i,opt}^T x_il / ||x_{i,opt}||^2`` for a non-optimal token, shape (n,)."""
    xo = data.X[np.arange(data.n), data.opt]
    other = data.X[np.arange(data.n), (data.opt + 1) % data.L]
    return np.einsum("nd,nd->n", xo, other) / np.einsum("nd,nd->n", xo, xo)


def closed_form_W(data: al.AttentionData) -> np.ndarray:
    """``W° = sum_i x_{i,opt} z_i^T / ((1 - c_i) ||x_{i,opt}||^2 ||z_i||^2)`` (chapter 5, "W° solves both SVMs"), shape (d, d):
    the solution of the Frobenius SVM and a solution of the nuclear SVM under Assumption 4."""
    xo = data.X[np.arange(data.n), data.opt]
    c = pair_parameters(data)
    w = 1.0 / ((1 - c) * np.einsum("nd,nd->n", xo, xo) * np.einsum("nd,nd->n", data.z, data.z))
    return np.einsum("n,nd,ne->de", w, xo, data.z)


def reduced_data(data: al.AttentionData) -> al.AttentionData:
    """The data written in the aligned bases: ``x -> U_K^T x``, ``z -> U_Q^T z``, ``v -> U_K^T v``.

    For an aligned ``W = U_K Diag(beta) U_Q^T`` the logits are ``x~^T Diag(beta) z~``, so the diagonal (``"xi"``)
    flow on these data is the reduced dynamics of appendix A.7, and its diagonal SVM is problem (42).
    """
    U_K, U_Q = al.aligned_bases(data)
    return al.AttentionData(data.X @ U_K, data.z @ U_Q, data.y, U_K.T @ data.v)


def alignment_gap(K, Q, U_K, U_Q) -> float:
    """A V-free alignment measure: the largest relative off-diagonal mass of ``U_K^T K K^T U_K``,
    ``U_Q^T Q Q^T U_Q`` and ``U_K^T K Q^T U_Q`` (all three are diagonal for aligned ``K, Q``, Def. 5.1)."""
    out = []
    for M in (U_K.T @ K @ K.T @ U_K, U_Q.T @ Q @ Q.T @ U_Q, U_K.T @ K @ Q.T @ U_Q):
        nrm = np.linalg.norm(M)
        out.append(0.0 if nrm == 0 else float(np.linalg.norm(M - np.diag(np.diag(M))) / nrm))
    return max(out)


def misaligned_init(theta: float, scale: float = SCALE, plane: tuple[int, int] = (0, 2),
                    data: al.AttentionData | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``K0 = R_theta U_K Diag(sqrt(2) omega_0)``, ``Q0 = 0``, with ``omega_0 = scale * (1, 1, .5, .5)``.

    ``R_theta`` rotates by ``theta`` in the plane of the aligned-basis columns ``plane`` (default: ``u^k_1``, the
    direction of sample 1's optimal token, and ``u^k_3``, a direction no optimal token uses). ``theta = 0`` is the
    aligned initialisation; ``theta = pi/2`` swaps the two directions and is aligned again. ``W(0) = 0`` always.
    """
    data = exact_data() if data is None else data
    U_K, _ = al.aligned_bases(data)
    a, b = U_K[:, plane[0]], U_K[:, plane[1]]
    c, s = np.cos(theta), np.sin(theta)
    R = np.eye(data.d) + (c - 1) * (np.outer(a, a) + np.outer(b, b)) + s * (np.outer(b, a) - np.outer(a, b))
    omega0 = scale * np.array(OMEGA_PATTERN[: data.d])
    return R @ U_K @ np.diag(np.sqrt(2.0) * omega0), np.zeros((data.d, data.d))


# -- flows -------------------------------------------------------------------------------------------------

def aligned_flow(which: str = "exact", log_t_end: float = LOG_T_END) -> al.Trajectory:
    """KQ flow from the aligned init ``default_init(data, "KQ", 0.1, seed=None, kind="aligned")`` (cached).
    ``which``: "exact" (demo-3 data) or "rotated" (:func:`rotated_data`)."""
    return _aligned_flow(str(which), float(log_t_end))


@lru_cache(maxsize=None)
def _aligned_flow(which: str, log_t_end: float) -> al.Trajectory:
    data = exact_data() if which == "exact" else rotated_data()
    return al.gradient_flow(data, "KQ", al.default_init(data, "KQ", SCALE, seed=None, kind="aligned"),
                            log_t_end=log_t_end)


@lru_cache(maxsize=None)
def compute_alignment(log_t_end: float = LOG_T_END) -> dict:
    """Lemma 5.1 measured: alignment error ``alignment_error(K, Q, U_K, U_Q, V)`` along the aligned flows on the
    exact and the rotated data. Returns per data set ``log_t``, ``mu``, ``err`` (m,), ``cos_W0`` (m,)."""
    out = {}
    for which in ("exact", "rotated"):
        tr = aligned_flow(which, log_t_end)
        data = tr.data
        U_K, U_Q = al.aligned_bases(data)
        V = al.right_basis(tr.params["K"][0], U_K)
        err = np.array([al.alignment_error(K, Q, U_K, U_Q, V) for K, Q in zip(tr.params["K"], tr.params["Q"])])
        out[which] = dict(log_t=tr.log_t, mu=tr.margin, err=err, cos_W0=tr.cosine_to(closed_form_W(data)),
                          nfev=tr.nfev, wall_time=tr.wall_time)
    return out


@lru_cache(maxsize=None)
def compute_reduced(which: str = "rotated", log_t_end: float = LOG_T_1E300) -> dict:
    """The singular values of K(t), Q(t) (diagonals of ``U_K^T K V``, ``U_Q^T Q V``) on the rotated (default) or
    exact data against the
    ``xi`` flow on :func:`reduced_data` from the same ``xi_k(0) = diag(U_K^T K0 V)``, ``xi_q(0) = 0``; and the
    margin-normalised ``beta_hat`` against the solution ``a`` of problem (42)."""
    data = exact_data() if which == "exact" else rotated_data()
    U_K, U_Q = al.aligned_bases(data)
    K0, Q0 = al.default_init(data, "KQ", SCALE, seed=None, kind="aligned")
    V = al.right_basis(K0, U_K)
    tr = al.gradient_flow(data, "KQ", (K0, Q0), log_t_end=log_t_end)
    xk = np.array([np.diag(U_K.T @ K @ V) for K in tr.params["K"]])
    xq = np.array([np.diag(U_Q.T @ Q @ V) for Q in tr.params["Q"]])
    red = reduced_data(data)
    tr_red = al.gradient_flow(red, "xi", (np.diag(U_K.T @ K0 @ V).copy(), np.zeros(data.d)),
                              log_t_end=log_t_end, log_t_eval=tr.log_t)
    l1 = al.solve_svm(red, "l1")
    with np.errstate(invalid="ignore", divide="ignore"):
        beta_hat = xk * xq / tr.margin[:, None]
    rel = np.abs(xk - tr_red.params["xi_k"]).max(axis=1) / np.abs(xk).max(axis=1)
    relq = np.abs(xq - tr_red.params["xi_q"]).max(axis=1) / np.maximum(np.abs(xq).max(axis=1), 1e-300)
    return dict(log_t=tr.log_t, xi_k=xk, xi_q=xq, xi_k_red=tr_red.params["xi_k"], xi_q_red=tr_red.params["xi_q"],
                rel_diff=np.maximum(rel, np.where(np.abs(xq).max(axis=1) > 0, relq, 0.0)), beta_hat=beta_hat,
                a=np.array(l1.beta), mu=tr.margin, B42=red.B)


@lru_cache(maxsize=None)
def compute_coincide() -> dict:
    """The closed form W°, the Frobenius and nuclear SVM solutions, and the limits of the W- and KQ-flows on the
    exact data; the nuclear-norm bound argument of chapter 5."""
    data = exact_data()
    W0 = closed_form_W(data)
    fro, nuc = al.solve_svm(data, "fro"), al.solve_svm(data, "nuc")
    trW = al.gradient_flow(data, "W", np.zeros((data.d, data.d)), log_t_end=LOG_T_END)
    trKQ = aligned_flow("exact")
    hatW, hatKQ = trW.W[-1] / trW.margin[-1], trKQ.W[-1] / trKQ.margin[-1]
    U_K, U_Q = al.aligned_bases(data)
    a = np.diag(U_K.T @ W0 @ U_Q)[: data.n]
    rot = rotated_data()
    nuc_rot = al.solve_svm(rot, "nuc")
    m = {"W-flow": family_coordinate(data, hatW), "KQ-flow": family_coordinate(data, hatKQ),
         "nuclear SVM": family_coordinate(data, nuc.W), "Frobenius SVM": family_coordinate(data, fro.W),
         "nuclear SVM, rotated data": family_coordinate(rot, nuc_rot.W)}
    return dict(W0=W0, fro=np.array(fro.W), nuc=np.array(nuc.W), hatW=hatW, hatKQ=hatKQ, a=a, m=m,
                nuc_rot_cos=al.cosine(nuc_rot.W, closed_form_W(rot)),
                nuc_value=nuc.value, fro_value=fro.value,
                sv={k: al.singular_values(M) for k, M in (("W°", W0), ("Frobenius SVM", fro.W),
                                                          ("nuclear SVM", nuc.W), ("W-flow", hatW),
                                                          ("KQ-flow", hatKQ))},
                log_t_W=trW.log_t, cos_W=trW.cosine_to(W0), log_t_KQ=trKQ.log_t, cos_KQ=trKQ.cosine_to(W0))


def nuclear_family(data: al.AttentionData, m_frac: float) -> np.ndarray:
    """``W(m) = U_1 [[a_1, m], [m, a_2]] V_1^T`` with ``m = m_frac sqrt(a_1 a_2)`` (n = 2): for ``|m_frac| <= 1``
    every member has margin 1 and the optimal nuclear norm ``a_1 + a_2`` (the nuclear SVM is not unique), but
    only ``m = 0`` (W°) has the least Frobenius norm."""
    U_K, U_Q = al.aligned_bases(data)
    a = np.diag(U_K.T @ closed_form_W(data) @ U_Q)[: data.n]
    if data.n != 2:
        raise ValueError("nuclear_family is written for n = 2")
    m = m_frac * np.sqrt(a[0] * a[1])
    return U_K[:, :2] @ np.array([[a[0], m], [m, a[1]]]) @ U_Q[:, :2].T


def family_coordinate(data: al.AttentionData, W) -> float:
    """The off-diagonal coordinate ``m / sqrt(a_1 a_2)`` of ``W / mu(W)`` in the aligned bases (n = 2):
    0 for W°, in [-1, 1] for every member of :func:`nuclear_family`."""
    U_K, U_Q = al.aligned_bases(data)
    M = U_K.T @ al.direction(data, W) @ U_Q
    return float((M[0, 1] + M[1, 0]) / 2 / np.sqrt(M[0, 0] * M[1, 1]))


def compute_misaligned(theta: float, scale: float = SCALE, plane: tuple[int, int] = (0, 2),
                       log_t_end: float = LOG_T_1E300, rtol: float = 1e-8) -> dict:
    """KQ flow on the exact data from :func:`misaligned_init`: alignment gap, cosine with W° and singular values
    of ``W(t) / mu(t)`` over time (cached)."""
    return _compute_misaligned(float(theta), float(scale), tuple(int(p) for p in plane), float(log_t_end),
                               float(rtol))


@lru_cache(maxsize=None)
def _compute_misaligned(theta: float, scale: float, plane: tuple[int, int], log_t_end: float, rtol: float) -> dict:
    data = exact_data()
    U_K, U_Q = al.aligned_bases(data)
    tr = al.gradient_flow(data, "KQ", misaligned_init(theta, scale, plane), log_t_end=log_t_end, rtol=rtol)
    gap = np.array([alignment_gap(K, Q, U_K, U_Q) for K, Q in zip(tr.params["K"], tr.params["Q"])])
    ok = tr.margin > 0
    sv = np.full((len(tr), data.d), np.nan)
    sv[ok] = al.singular_values(tr.W[ok] / tr.margin[ok, None, None])
    W0 = closed_form_W(data)
    hat = tr.W[-1] / tr.margin[-1]
    return dict(log_t=tr.log_t, gap=gap, cos_W0=tr.cosine_to(W0), sv=sv, mu=tr.margin, hatW=hat,
                nuc_norm=float(np.linalg.norm(hat, "nuc")), fro_norm=float(np.linalg.norm(hat)),
                W0_nuc=float(np.linalg.norm(W0, "nuc")), W0_fro=float(np.linalg.norm(W0)), wall_time=tr.wall_time)


# -- figures -----------------------------------------------------------------------------------------------

TIME_LABEL = r"$\ln(1+t)$ (log scale; $=\ln t$ for large $t$)"


def _time(log_t: np.ndarray) -> np.ndarray:
    """``ln(1 + t)`` from ``log t`` without overflow: ~t for small t, ~log t for large t (plotted on a log axis)."""
    return np.logaddexp(0.0, log_t)


def fig_alignment() -> Figure:
    """Alignment error along the aligned flow on exact and rotated data, against the margin."""
    res = compute_alignment()
    fig, ax = plots.new_figure(width=6.4)
    floor = 1e-18
    for which, col, lab in (("exact", plots.COLORS["KQ"], "exactly representable data"),
                            ("rotated", plots.OKABE_ITO["blue"], "rotated data (rounded)")):
        r = res[which]
        ok = r["mu"] > 0
        ax.plot(r["mu"][ok], np.maximum(r["err"][ok], floor), color=col, label=lab)
    ax.axhline(np.finfo(float).eps, color="grey", ls=":", lw=1, label="float64 machine epsilon")
    ax.axhline(floor, **plots.THEORY_STYLE, label="Lemma 5.1: exactly 0 (drawn at $10^{-18}$)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, 1e-8)
    ax.set_xlabel(r"margin $\mu(t)$ (log scale; $\mu\approx\log t$)")
    ax.set_ylabel("alignment error (log scale)")
    ax.legend(fontsize=9, loc="upper left")
    return fig


def fig_reduced() -> Figure:
    """Singular values of K, Q against the diagonal flow of the reduced problem (42), and beta_hat against a."""
    r = compute_reduced()
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8)
    x = _time(r["log_t"])
    cols = [plots.OKABE_ITO[c] for c in ("vermillion", "blue", "bluish_green", "reddish_purple")]
    for j in range(2):
        a1.plot(x, np.abs(r["xi_k"][:, j]), color=cols[j], label=f"$|\\xi_{{k,{j + 1}}}|$ from $U_K^\\top KV$")
        a1.plot(x, np.abs(r["xi_q"][:, j]), color=cols[j], ls="-.", lw=1.2,
                label=f"$|\\xi_{{q,{j + 1}}}|$ from $U_Q^\\top QV$")
        a1.plot(x, np.abs(r["xi_k_red"][:, j]), **{**plots.THEORY_STYLE, "linewidth": 1.0},
                label="'xi' flow on problem (42)" if j == 0 else None)
        a1.plot(x, np.abs(r["xi_q_red"][:, j]), **{**plots.THEORY_STYLE, "linewidth": 1.0})
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel(TIME_LABEL)
    a1.set_ylabel("singular value (log scale)")
    a1.legend(fontsize=7.5, loc="upper left")
    for j in range(2):
        a2.plot(x, r["beta_hat"][:, j], color=cols[j], label=f"$\\hat\\beta_{j + 1}(t)$")
        a2.axhline(r["a"][j], **plots.THEORY_STYLE,
                   label="solution $a_i=1/((1-c_i)\\|x_{i,opt}\\|\\|z_i\\|)$ of (42)" if j == 0 else None)
    a2.set_xscale("log")
    a2.set_ylim(-0.05, 0.35)
    a2.set_xlabel(TIME_LABEL)
    a2.set_ylabel(r"$\hat\beta_j=\xi_{k,j}\xi_{q,j}/\mu$")
    a2.legend(fontsize=8, loc="upper left")
    return fig


def fig_coincide() -> Figure:
    """Singular values of W°, both SVMs and both flows' limits; cosine of both flows with W° over time."""
    c = compute_coincide()
    data = exact_data()
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8)
    mf = np.linspace(-1, 1, 81)
    fam = [nuclear_family(data, x) for x in mf]
    opt = c["nuc_value"]
    a1.plot(mf, [np.linalg.norm(W, "nuc") / opt for W in fam], color=plots.COLORS["nuc"],
            label=r"$\|W(m)\|_*$ / nuclear SVM value")
    a1.plot(mf, [np.linalg.norm(W) / np.linalg.norm(c["W0"]) for W in fam], color=plots.COLORS["fro"],
            label=r"$\|W(m)\|_F$ / $\|W^\circ\|_F$")
    a1.plot(mf, [al.margin(data, W) for W in fam], color=plots.COLORS["theory"], ls=":", label=r"margin $\mu(W(m))$")
    marks = {"W-flow": ("o", plots.OKABE_ITO["sky_blue"]), "KQ-flow": ("s", plots.OKABE_ITO["orange"]),
             "nuclear SVM, rotated data": ("^", plots.COLORS["nuc"])}
    for name, (mk, col) in marks.items():
        a1.plot([c["m"][name]], [1.0], marker=mk, color=col, mec="black", ls="none", ms=8, label=name)
    a1.axvline(0, **{**plots.THEORY_STYLE, "linewidth": 1.0}, label=r"$W^\circ$ ($m=0$)")
    a1.set_xlabel(r"off-diagonal coordinate $m/\sqrt{a_1a_2}$")
    a1.set_ylabel("relative norm / margin")
    a1.set_ylim(0.95, 1.35)
    a1.legend(fontsize=7.5, loc="upper center")
    for key, col, lab in (("W", plots.COLORS["W"], "W-flow (Frobenius bias)"),
                          ("KQ", plots.COLORS["KQ"], "aligned KQ-flow (nuclear bias)")):
        lt = c[f"log_t_{key}"]
        ok = np.isfinite(lt) & (lt > 0)
        a2.plot(lt[ok], np.maximum(1 - c[f"cos_{key}"][ok], 1e-17), color=col, label=lab)
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel(r"$\log t$ (log scale)")
    a2.set_ylabel(r"$1-\cos(W(t),W^\circ)$ (log scale)")
    a2.set_ylim(1e-16, 1)
    a2.legend(fontsize=8)
    return fig


def _misaligned_panels(axes, thetas, scale) -> None:
    a1, a2 = axes
    cols = [plots.OKABE_ITO[c] for c in ("black", "blue", "bluish_green", "orange", "vermillion",
                                          "reddish_purple", "sky_blue")]
    for th, col in zip(thetas, cols):
        r = compute_misaligned(float(th), float(scale))
        lt = _time(r["log_t"])
        ok = lt > 0
        lab = f"$\\theta={th / np.pi:.3g}\\pi$"
        a1.plot(lt[ok], np.maximum(r["gap"][ok], 1e-18), color=col, label=lab)
        ok2 = ok & (r["mu"] > 0)
        a2.plot(lt[ok2], np.maximum(1 - r["cos_W0"][ok2], 1e-17), color=col, label=lab)
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(TIME_LABEL)
    a1.axhline(1e-18, **plots.THEORY_STYLE, label="aligned: 0")
    a1.set_ylim(3e-19, 2)
    a1.set_ylabel("alignment gap (log scale)")
    a2.set_ylabel(r"$1-\cos(W(t),W^\circ)$ (log scale)")
    a2.set_ylim(1e-17, 2)


def fig_misaligned(thetas=(0.0, np.pi / 32, np.pi / 8, np.pi / 4, 3 * np.pi / 8, np.pi / 2),
                   scale: float = SCALE) -> Figure:
    """Alignment gap and cosine with W° over time for several misalignment angles."""
    fig, axes = plots.new_figure(1, 2, width=7.8)
    _misaligned_panels(axes, thetas, scale)
    axes[0].legend(fontsize=8, loc="lower left", ncol=2)
    return fig


def fig_misaligned_frame(theta: float = np.pi / 8, scale: float = SCALE) -> Figure:
    """Widget frame: alignment gap over time, and singular values of W(t)/mu(t) against those of W°."""
    r = compute_misaligned(float(theta), float(scale))
    fig, (a1, a2) = plots.new_figure(1, 2, width=7.8)
    lt = _time(r["log_t"])
    ok = lt > 0
    a1.plot(lt[ok], np.maximum(r["gap"][ok], 1e-18), color=plots.COLORS["KQ"], label="misaligned KQ-flow")
    a1.axhline(1e-18, **plots.THEORY_STYLE, label="aligned init: 0")
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_ylim(3e-19, 2)
    a1.set_xlabel(TIME_LABEL)
    a1.set_ylabel("alignment gap (log scale)")
    a1.set_title(f"$\\theta={theta / np.pi:.3g}\\pi$, scale $={scale:g}$; final cos with $W^\\circ$: "
                 f"{r['cos_W0'][-1]:.8f}", fontsize=9)
    a1.legend(fontsize=8, loc="lower left")
    sv0 = al.singular_values(closed_form_W(exact_data()))
    ok2 = ok & (r["mu"] > 0)
    cols = [plots.OKABE_ITO[c] for c in ("vermillion", "blue", "bluish_green", "reddish_purple")]
    for j in range(4):
        a2.plot(lt[ok2], r["sv"][ok2, j], color=cols[j], label=f"$s_{j + 1}(W/\\mu)$")
        a2.axhline(sv0[j], **{**plots.THEORY_STYLE, "linewidth": 1.0}, label="$s_j(W^\\circ)$" if j == 0 else None)
    a2.set_xscale("log")
    a2.set_ylim(-0.02, 0.6)
    a2.set_xlabel(TIME_LABEL)
    a2.set_ylabel(r"singular values of $W(t)/\mu(t)$")
    a2.legend(fontsize=8, loc="upper right")
    return fig


FIGURES = {
    "alignment": fig_alignment,
    "reduced": fig_reduced,
    "coincide": fig_coincide,
    "misaligned": fig_misaligned,
    "misaligned_frame": fig_misaligned_frame,
}
