"""The values the lecture slides quote: every number a slide shows beside a figure, computed from the same results
the figure draws (:mod:`attnbook.experiments`, the studies artifact), never typed by hand.

A lecture's source (``book/slides/lecture-N.md``) writes ``{value:ch6-gds-f5-3}``; ``tools/build_slides.py``
replaces it by ``SLIDE_VALUES["ch6-gds-f5-3"]()``. The names follow the chapter's glue names where the chapter quotes
the same number. A value whose slide states an outcome in words asserts that outcome first (:func:`claim`, as a
chapter's cell does, with the chapter's own sentence and tolerance where the chapter asserts it too), so a deck whose
words became false does not build.

A deck's ``**What to see:**`` line either describes only what is drawn, or states an outcome that a claim of its
chapter (or a test in ``tests/claims/test_chN.py``) asserts with the same quantifier and scope, or quotes values from
here whose functions assert its words. The values read the chapters' cached results and run no flow or SVM of their
own.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..experiments import ch2, ch3, ch4, ch5, ch6, ch8, diagonal_studies, why
from ..experiments import studies as st
from ..experiments.prose import claim, word

__all__ = ["SLIDE_VALUES", "slide_values"]


def _count(lr: float, seed: int) -> str:
    """``"k of n"``: starts of the large-step study recovered by the horizon (exponential loss)."""
    return "{} of {}".format(*st.gd_step_study().recovered_count(lr, "exp", seed))


def _gd_slope() -> str:
    g = ch6.compute_gd()
    claim("GD's path error follows the slope-1 line of Euler's method (fitted slope within 0.1 of 1)",
          bool(abs(g.slope - 1) < 0.1), detail=f"slope {g.slope}")
    return f"{g.slope:.2f}"


def _gd_large_steps() -> str:
    """The 300 steps of the one-run figure, after asserting what the slide says of them."""
    g = ch6.compute_gd()
    r10 = g.runs[10.0]
    claim("eta = 10 throws one sample onto a non-optimal token and its loss stays at the stuck level for all the "
          "steps", bool(np.sum(r10.selection != g.opt) == 1 and len(r10.t) == ch6.GD_LARGE_STEPS + 1
                        and np.all(r10.loss[1:] - g.min_loss >= 0.99 * g.stuck_level)))
    return f"{ch6.GD_LARGE_STEPS}"


def _gd3_range() -> str:
    rec = st.gd_step_study().recovery_steps(3.0, "exp", st.GD_DATA_SEEDS[0])
    claim("the perturbed starts at eta = 3 do not all recover at the same step (a matter of rounding)",
          bool(rec[-1] > rec[0]), detail=str(rec))
    return f"{rec[0]:,} to {rec[-1]:,}"


def _gds_range5() -> str:
    rec = st.gd_step_study().recovery_steps(5.0, "exp", st.GD_DATA_SEEDS[0])
    claim("at eta = 5 the recovery steps spread over thousands of steps", bool(rec[-1] - rec[0] > 1000),
          detail=str(rec))
    return f"{rec[0]:,} to {rec[-1]:,}"


def _gds_median5() -> str:
    return f"{np.median(st.gd_step_study().recovery_steps(5.0, 'exp', st.GD_DATA_SEEDS[0])):,.0f}"


def _gds_stuck_one() -> str:
    """The number of samples stuck in every start that has not recovered (the slide says: one)."""
    gs = st.gd_step_study()
    stuck = {r.n_stuck for r in gs.runs if r.recovered_step < 0}
    claim("every start that has not recovered has exactly one sample on a non-optimal token", stuck == {1},
          detail=str(stuck))
    return "one"


def _gds_two_draws() -> str:
    """How the second data set's shares compare with the demo data's: the step sizes in between, and the ends."""
    gs = st.gd_step_study()
    demo, other = st.GD_DATA_SEEDS[:2]
    inner = [lr for lr, _ in st.GD_STEPS[1:-1]]
    ends = [(lr, st.GD_STEPS[-1][0] == lr) for lr in (st.GD_STEPS[0][0], st.GD_STEPS[-1][0])]
    differ = any(gs.recovered_count(lr, "exp", demo) != gs.recovered_count(lr, "exp", other) for lr in inner)
    same_ends = all(gs.recovered_count(lr, "exp", s)[0] == (0 if none else gs.recovered_count(lr, "exp", s)[1])
                    for lr, none in ends for s in (demo, other))
    return (f"the shares in between {word(differ, 'change', 'stay the same')}, the ends "
            f"(all at the smallest step, none at the largest) {word(same_ends, 'do not', 'change too')}")


def _selection() -> ch6.LocalSelections:
    s = ch6.compute_selection()
    c1, c4 = (s.shifts[c] for c in ch6.SHIFTS)
    claim("with c = 1 Assumption 3 fails, yet the flow recovers every optimal token; with c = 4 one sample never does",
          bool(not c1.assumption3 and np.array_equal(c1.selection, s.opt) and not c4.assumption3
               and np.sum(c4.selection != s.opt) == 1))
    claim("both stuck flows converge to their selection's SVM, not to the W_F-SVM",
          bool(c4.cos_sel[-1] > 0.999 and s.peers.cos_sel[-1] > 0.999 and c4.cos_global[-1] < 0.99
               and s.peers.cos_global[-1] < 0.99))
    return s


def _sel_stuck() -> str:
    s = _selection()
    return ", ".join(map(str, np.flatnonzero(s.shifts[ch6.SHIFTS[1]].selection != s.opt)))


def _peers_stuck() -> str:
    p = _selection().peers
    return ", ".join(map(str, np.flatnonzero(p.selection != p.opt)))


def _init() -> ch5.InitStudy:
    study = ch5.init_study()
    kq, w = study.select("KQ"), study.select("W")
    claim("every (K, Q) limit solves the nuclear SVM by its certificate, and none is W°",
          np.array([r.certificate.solves(1e-9) and r.certificate.dist > 1e-3 for r in kq]))
    claim("every W-flow from the same W(0) ends at W°, the Frobenius SVM's solution",
          np.array([r.certificate.dist < 1e-9 and abs(r.fro_gap) < 1e-9 for r in w]))
    return study


def _init_err(scale: float) -> float:
    study = ch5.init_study()
    return float(np.abs(study.values("m", "KQ", scale) - study.values("m_pred", "KQ", scale)).max())


# ---- lecture 2: chapter 2 (the W-flow, Tarzanagh et al.'s seeds) and the sample weights of why.py ----------------

def _sample_weights() -> why.SampleWeights:
    """The pair weights along the W-flow (why.sample_weights), after asserting what the slide says of them."""
    sw = why.sample_weights()
    k10 = int(np.argmin(np.abs(sw.log_t - 10.0)))
    claim("the other pairs' weights fall exponentially once the optimal tokens dominate; every support weight tends "
          "to its dual", bool(sw.nonsupport_mass[k10] > 1e3 * sw.nonsupport_mass[-1] and sw.nonsupport_mass[-1] < 1e-15
                              and sw.dual_dist[-1] < 1e-3))
    claim("from ln t = 10 to the end the weight left off the support falls far faster (at least twice as many "
          "decades) than 1 - cos(-grad L, W_F)",
          bool(_decades(sw.nonsupport_mass, k10) > 2 * _decades(1 - sw.cos_grad_svm, k10) > 0),
          detail=f"{_decades(sw.nonsupport_mass, k10)} against {_decades(1 - sw.cos_grad_svm, k10)} decades")
    return sw


def _minus(text: str) -> str:
    """A number as a slide prints it: the typographic minus sign, not a hyphen."""
    return text.replace("-", "\N{MINUS SIGN}")


def _decades(x: np.ndarray, k: int) -> float:
    """How many decades ``x`` falls from index ``k`` to its last entry."""
    return float(np.log10(x[k] / x[-1]))


def _sw_decades(which: str) -> str:
    sw = _sample_weights()
    k10 = int(np.argmin(np.abs(sw.log_t - 10.0)))
    x = sw.nonsupport_mass if which == "weight" else 1 - sw.cos_grad_svm
    return f"{_decades(x, k10):.0f}"


def _seed_sweep() -> ch2.SeedSweep:
    """The 20 seeds of chapter 2, after asserting the chapter's words (the slide says no more)."""
    sweep = ch2.compute_seed_sweep()
    glob, loc = ~sweep.local, sweep.local
    claim("the seeds that select the optimal tokens end at the Frobenius SVM, clearly not the nuclear one; the locally "
          "optimal ones commit to a wrong token and their cosines level off well below 1",
          bool(0 < loc.sum() < len(loc) and sweep.cos_fro_final[glob].min() > 0.9999
               and sweep.cos_nuc_final.max() < 0.95 and np.all(sweep.wrong[loc] >= 1)
               and sweep.cos_fro_final[loc].max() < 0.95),
          detail=f"{loc.sum()} locally optimal; cosines {sweep.cos_fro_final}")
    return sweep


def _ch2_ranks() -> tuple[int, int, int]:
    """Ranks of W_F, W_* (seed 0) and of the first locally optimal seed's limit, after asserting the slide's words."""
    sweep = _seed_sweep()
    s0, s_loc = ch2.seed_summary(0), ch2.seed_summary(int(sweep.seeds[sweep.local][0]))
    claim("seed 0 (the figure's left panel) selects the optimal tokens and the flow matches W_F's spectrum; the first "
          "locally optimal seed has a spectrum that is not W_F's",
          bool(not s0.local and int(sweep.seeds[~sweep.local][0]) == 0 and np.allclose(s0.sv_limit, s0.sv_fro, rtol=0.05, atol=1e-6)
               and ch2.numerical_rank(s0.sv_nuc) < ch2.numerical_rank(s0.sv_fro)
               and np.max(np.abs(s_loc.sv_limit - s_loc.sv_fro)) > 0.1 * s_loc.sv_fro[0]))
    return ch2.numerical_rank(s0.sv_fro), ch2.numerical_rank(s0.sv_nuc), int(sweep.seeds[sweep.local][0])


# ---- lecture 3: chapter 3 (diagonal K, Q) and the variational identities of why.py ----------------------------------

def _equivalence_max() -> str:
    eq = ch3.compute_equivalence()
    claim("the relative difference stays within a small multiple of the solvers' tolerance",
          bool(eq.rel_err.max() < 1e-6))
    return f"{eq.rel_err.max():.0e}"


def _sinh_drops() -> tuple[float, float]:
    """How much the closed form's median error drops per 100-fold smaller tolerance, after asserting the slide."""
    cf = ch3.compute_closed_form()
    med = {rtol: np.median(cf.sinh_err[rtol][1:]) for rtol in cf.sinh_err}
    claim("the error does not grow over 300 decades of time and drops with each 100-fold smaller tolerance",
          bool(med[1e-6] > 10 * med[1e-8] > 100 * med[1e-10] and cf.sinh_err[1e-8].max() < 2e-6))
    return med[1e-6] / med[1e-8], med[1e-8] / med[1e-10]


def _variational_l1() -> why.L1VariationalIdentity:
    v1 = why.variational_l1()
    claim("rebalancing the l1 factors by e^(+-u) costs ||beta||_1 cosh 2u, smallest at u = 0 where it equals "
          "||beta||_1", bool(np.allclose(v1.cost_grid, v1.l1 * np.cosh(2 * v1.u_grid), rtol=1e-10)
                              and abs(v1.u_grid[np.argmin(v1.cost_grid)]) < 1e-12 and abs(v1.cost / v1.l1 - 1) < 1e-10))
    vn = why.variational_nuclear()
    claim("no random factorization of the nuclear-SVM solution costs less than ||W||_*",
          bool(vn.random_costs.min() > vn.nuc))
    return v1


def _headline() -> ch3.SeparateVsCombined:
    hl = ch3.compute_headline()
    k300 = int(np.argmin(np.abs(hl.log_t - np.log(1e300))))
    claim("the beta-flow goes to the l2 solution; the (xi_k, xi_q)-flow drops beta_3, is still far from l1 at "
          "t = 1e300 and reaches it by ln t = 1e6",
          bool(hl.dist["beta"]["l2"][-1] < 1e-4 and hl.dist["beta"]["l1"][-1] > 0.05
               and abs(hl.bhat["xi"][-1][2]) < 1e-4 < 0.05 < hl.bhat["beta"][-1][2]
               and hl.dist["xi"]["l1"][k300] > 0.1 and hl.dist["xi"]["l1"][-1] < 1e-3))
    return hl


def _path_detour() -> str:
    """The smallest beta_hat_2 of the factorized flow (its sparse detour), after asserting the path slide's words."""
    hl, th = _headline(), diagonal_studies.lock_on_theory()
    first = {p: hl.bhat[p][np.flatnonzero(np.isfinite(hl.bhat[p][:, 0]))[0]] for p in ("xi", "beta")}
    cos0 = [float(b @ th.u / np.linalg.norm(b) / np.linalg.norm(th.u)) for b in first.values()]
    claim("both flows leave 0 along -grad L(0) (parallel to u = sum B_il)",
          bool(th.grad0_cos > 1 - 1e-12 and min(cos0) > 1 - 1e-6), detail=str(cos0))
    b2 = hl.bhat["xi"][:, 1]
    detour = np.nanmin(b2[hl.log_t >= 0])
    claim("the factorized flow takes a sparse detour (beta_hat_2 far below the l1 solution's, beta_hat_3 switched off) "
          "before it reaches the l1 solution",
          bool(detour < 0.25 * hl.l1[1] and abs(hl.bhat["xi"][-1][2]) < 1e-4 and hl.dist["xi"]["l1"][-1] < 1e-3),
          detail=f"smallest beta_hat_2 {detour}, l1 {hl.l1}")
    return f"{detour:.3f}"


def _lock_on_theory() -> diagonal_studies.LockOnTheory:
    th = diagonal_studies.lock_on_theory()
    claim("the local slope of the lock-on approaches the prediction as omega_0 shrinks and is within 1 % of it at the "
          "two smallest scales; the least-squares line over the table is flatter",
          bool(np.all(np.diff(np.abs(th.lock_slopes - th.slope)) < 0) and abs(th.lock_slopes[-1] / th.slope - 1) < 0.01
               and th.fit_slope < th.lock_slopes[-1]),
          detail=f"local slopes {th.lock_slopes}, predicted {th.slope}, fit {th.fit_slope}")
    return th


def _rate() -> ch3.RateToL1:
    rt = ch3.compute_rate()
    detour = rt.dist_l1[(rt.log_t >= 1) & (rt.log_t <= 100)]  # the sparse detour, 1 <= ln t <= 1e2
    claim("the distance to l1 sits on a plateau along the detour, keeps shrinking past it (still far at t = 1e300 and "
          "at ln t = 1e5), then locks on by ln t = 1e6",
          bool(rt.at[np.log(1e300)] > rt.at[1e4] > rt.at[1e5] > rt.at[1e6] and rt.at[1e6] < 1e-3
               and detour.min() > 2 * rt.at[1e5] and rt.at[np.log(1e300)] > 0.1 and np.ptp(detour) < 0.1),
          detail=f"plateau {detour.min()}..{detour.max()}, at {rt.at}")
    return rt


def _plateau(end: str) -> str:
    rt = _rate()
    detour = rt.dist_l1[(rt.log_t >= 1) & (rt.log_t <= 100)]
    return f"{(detour.min() if end == 'lo' else detour.max()):.2f}"


# ---- lecture 4: chapter 4 (the KKT argument) ----------------------------------------------------------------------

def _certificate_1e300() -> ch4.KKTCertificate:
    """The certificate at t = 1e300 (the slide's frame), after asserting what the slide says of it."""
    c = ch4.certificate_at(ch4.LOG_T_1E300)
    on = np.abs(c.beta_l1) > 1e-6
    active = c.dual > 1e-6 * c.dual.max()
    late = ch4.certificate_at(ch4.WIDGET_LOG_T[-1])
    claim("at t = 1e300 B lambda is inside the box off the support but still above 1 on it, and the constraints slack "
          "in the limit still carry part of lambda, a share that falls later",
          bool(np.all(np.abs(c.Blambda[~on]) <= 1) and np.all(c.Blambda[on] > 1)
               and 0 < _slack_share(late, active) < _slack_share(c, active)),
          detail=f"B lambda {c.Blambda}, lambda {c.lam}")
    return c


def _slack_share(c: ch4.KKTCertificate, active: np.ndarray) -> float:
    """The share of ``sum lambda`` on the constraints that are not active at the l1-SVM solution."""
    return float(c.lam[~active].sum() / c.lam.sum())


def _certificate_text(what: str) -> str:
    c = _certificate_1e300()
    active = c.dual > 1e-6 * c.dual.max()
    if what == "support":
        return " and ".join(f"{x:.2f}" for x in c.Blambda[np.abs(c.beta_l1) > 1e-6])
    late = ch4.certificate_at(ch4.WIDGET_LOG_T[-1])
    return f"{100 * _slack_share(c if what == 'share' else late, active):.0f} %"


def _kkt_rate() -> str:
    """The constant C of the predicted rate epsilon ~ C / ln mu, after asserting the slide's words."""
    k, kf = ch4.compute_kkt(), ch4.compute_kkt(log_t_end=ch4.LOG_T_FRAME_END)
    tail = kf.log_mu > 50
    claim("epsilon follows C / ln mu; at t = 1e300 the direction is still visibly off",
          bool(np.all(np.abs(kf.epsilon[tail] * kf.log_mu[tail] / kf.C - 1) < 1e-3) and k.dist[k.j1e300] > 0.1))
    return f"{kf.C:.2f}"


# ---- lecture 5: chapter 5 (aligned K, Q) ----------------------------------------------------------------------------

def _alignment() -> ch5.AlignmentPreserved:
    """The aligned flow on exact and on rotated data, after asserting the slide's words (the chapter's)."""
    res = ch5.compute_alignment()
    ex_, rot_ = res.exact, res.rotated
    rot_mid, rot_late = rot_.err[(rot_.mu > 1) & (rot_.mu <= 100)], rot_.err[rot_.mu > 100]
    claim("exactly representable data stay exactly aligned while the weights are moderate, and within a few units "
          "of rounding after that", bool(_exact_mu0(res) > 100 and ex_.err.max() < 1e-14))
    claim("on the rotated data the error stays at rounding level from mu = 1 to mu = 1e6: it does not drift",
          bool(rot_.err.max() < 1e-12 and rot_late.max() < 10 * np.median(rot_mid)))
    return res


def _exact_mu0(res: ch5.AlignmentPreserved) -> float:
    """The margin at which the exact data's alignment error first leaves 0."""
    return float(res.exact.mu[np.flatnonzero(res.exact.err > 0)[0]])


def _misaligned() -> tuple[list[float], list[float]]:
    """Decades the V-free gap falls for the misaligning angles, and 1 - cos(W, W°) at the end for every angle, after
    asserting the slide's words (the chapter's)."""
    runs = {theta: ch5.compute_misaligned(theta) for theta in ch5.WIDGET_THETA}  # the angles of figure ch5.misaligned
    decades = [float(np.log10(m.gap[1] / m.gap[-1])) for theta, m in runs.items() if 0 < theta < np.pi / 2]
    limit_gap = [float(1 - m.cos_W0[-1]) for m in runs.values()]
    claim("a misalignment towards the pair offsets is forgotten: the gap decays by orders of magnitude and the limit is "
          "W° for every angle of this rotation", bool(min(decades) > 3 and max(limit_gap) < 1e-8),
          detail=f"decades {decades}; 1 - cos(W, W°) {limit_gap}")
    claim("theta = 0 stays exactly aligned and theta = pi/2 is aligned to rounding",
          bool(runs[0.0].gap.max() == 0 and runs[np.pi / 2].gap.max() < 1e-12))
    return decades, limit_gap


# ---- lecture 6: chapter 6 (beyond the theorems) ---------------------------------------------------------------------

def _kq_study() -> st.KQStudy:
    """The 40 (K, Q)-flows of chapter 6's study (figure studies.kq_study), after asserting the slide's words."""
    kq = st.kq_study()
    falls = [bool(np.all(np.diff(r.nuc_gap[:k + 1]) < 0) and np.all(r.nuc_gap[k:] < 10 * st.CERT_FLOOR))
             for r in kq.runs for k in [int(np.argmax(r.nuc_gap < st.CERT_FLOOR))]]
    reach = [bool(np.any(r.nuc_gap < st.CERT_FLOOR)) for r in kq.runs]
    rates = kq.rates()
    claim("every run's nuclear-norm gap falls to the accuracy of the computation and stays there, at speeds (fitted "
          "exponents) that differ from run to run", bool(all(reach) and all(falls) and np.ptp(rates) > 0.5),
          detail=f"{sum(reach)} of {len(reach)} reach {st.CERT_FLOOR}; exponents {rates}")
    return kq


def _gd_track() -> str:
    """How closely eta = 0.3 tracks the flow's excess loss up to t = 10, after asserting the slide's words."""
    g = ch6.compute_gd()
    t, loss = g.gf
    run = g.runs[0.3]
    flow = np.interp(run.t, t, loss) - g.min_loss
    rel = float(np.max(np.abs(run.loss - g.min_loss - flow) / flow))
    claim("eta = 0.3 tracks the flow: its excess loss stays within 20 % of the flow's up to t = 10, and it ends on the "
          "optimal tokens", bool(rel < 0.2 and np.array_equal(run.selection, g.opt)), detail=f"largest gap {rel}")
    return f"{100 * rel:.0f} %"


def _gd3_overshoots() -> str:
    """The first steps of the eta = 3 run, after asserting the slide's words: it overshoots and oscillates, then sits on
    the plateau of one stuck sample (when it leaves the plateau is a matter of rounding: the next slides)."""
    g = ch6.compute_gd()
    ex = g.runs[3.0].loss - g.min_loss
    first = ex[:ch6.GD_LARGE_STEPS // 10]
    claim("eta = 3 overshoots (its loss rises at the first step) and oscillates (it rises again within 10 steps), then "
          "reaches the plateau of one stuck sample",
          bool(ex[1] > ex[0] and np.sum(np.diff(first[:11]) > 0) >= 2 and np.any(first >= 0.99 * g.stuck_level)),
          detail=f"excess loss of the first steps {first[:12]}")
    return "overshoots"


# ---- lecture 7: errata E2 and E9 (chapter 7) and the research directions (chapter 8) -------------------------------

def _e9() -> st.E9Path:
    """The E9 flow at eps = 0.5 (figure studies.e9_certificate), after asserting the slide's words (the chapter's)."""
    q = st.e9_study()[0.5]
    late = q.log_t >= 600
    claim("the flow converges to the nuclear-norm SVM's solution set, but its distance to W° stays put: it ends on a "
          "different member of the family",
          bool(abs(q.nuc_gap[-1]) < 1e-8 and q.dist[late].min() > 5e-3
               and q.dist[late].max() < 1.05 * q.dist[late].min() and abs(q.family[-1]) > 1e-3),
          detail=f"nuclear-norm gap {q.nuc_gap[-1]:.1e}, distance {q.dist[-1]:.2e}, m {q.family[-1]:.4f}")
    return q


def _lock_excess() -> str:
    """The largest ln(L - L*) at which any initial scale of chapter 8 locks on, after asserting the slide's words."""
    runs = ch8.init_scale().runs
    locked = {om: r.lock_log_mu for om, r in runs.items() if r.locked}
    fastest = min(locked, key=locked.get)
    claim("every scale locks on, at an astronomically small excess loss (ln(L - L*) < -100)",
          bool(len(locked) == len(runs) and all(r.lock_log_excess < -100 for r in runs.values())))
    claim("a large omega_0 passes close to l2 first; on this data set the scales below omega_0 = 1 lock on later",
          bool(runs[3.0].min_dist_l2 < 0.01 and min(runs[om].min_dist_l2 for om in (0.03, 0.1, 0.3)) > 0.05
               and fastest == 1.0 and all(locked[om] > locked[1.0] for om in (0.03, 0.1, 0.3))),
          detail=f"ln mu at lock-on: {locked}")
    return _minus(f"{max(r.lock_log_excess for r in runs.values()):,.0f}")


#: Name -> the text a slide shows for it (a zero-argument callable; computing it may run a study).
SLIDE_VALUES: dict[str, Callable[[], str]] = {
    # lecture 2: sample weights (why.sample_weights), many seeds, singular values (ch2)
    "ch2-sw-dual": lambda: f"{_sample_weights().dual_dist[-1]:.0e}",
    "ch2-sw-decades-weight": lambda: _sw_decades("weight"),
    "ch2-sw-decades-angle": lambda: _sw_decades("angle"),
    "ch2-n-global": lambda: f"{int((~_seed_sweep().local).sum())}",
    "ch2-n-local": lambda: f"{int(_seed_sweep().local.sum())}",
    "ch2-cos-fro-min": lambda: f"{np.floor(_seed_sweep().cos_fro_final[~_seed_sweep().local].min() * 1e5) / 1e5:.5f}",
    "ch2-cos-nuc-median": lambda: f"{np.median(_seed_sweep().cos_nuc_final[~_seed_sweep().local]):.2f}",
    "ch2-rank-fro0": lambda: f"{_ch2_ranks()[0]}",
    "ch2-rank-nuc0": lambda: f"{_ch2_ranks()[1]}",
    "ch2-local-seed": lambda: f"{_ch2_ranks()[2]}",
    # lecture 3: chapter 3's flows (ch3, diagonal_studies) and the variational identity (why)
    "ch3-equiv-max": _equivalence_max,
    "ch3-sinh-drop-1": lambda: f"{_sinh_drops()[0]:.0f}",
    "ch3-sinh-drop-2": lambda: f"{_sinh_drops()[1]:.0f}",
    "ch3-var-l1": lambda: f"{_variational_l1().l1:.4f}",
    "ch3-xi-dist-1e300": lambda: f"{_headline().dist['xi']['l1'][np.argmin(np.abs(_headline().log_t - np.log(1e300)))]:.2f}",
    "ch3-path-detour": _path_detour,
    "ch3-local-slope": lambda: f"{_lock_on_theory().lock_slopes[-1]:.2f}",
    "ch3-pred-slope": lambda: f"{_lock_on_theory().slope:.2f}",
    "ch3-fit-slope": lambda: f"{_lock_on_theory().fit_slope:.2f}",
    "ch3-plateau-lo": lambda: _plateau("lo"),
    "ch3-plateau-hi": lambda: _plateau("hi"),
    "ch3-rate-d300": lambda: f"{_rate().at[np.log(1e300)]:.2f}",
    "ch3-rate-d5": lambda: f"{_rate().at[1e5]:.2f}",
    # lecture 4: chapter 4's certificate
    "ch4-C": _kkt_rate,
    "ch4-cert-support": lambda: _certificate_text("support"),
    "ch4-cert-slack": lambda: _certificate_text("share"),
    "ch4-cert-slack-end": lambda: _certificate_text("late"),
    # lecture 5: alignment on exact and rotated data, misaligned starts (ch5)
    "ch5-exact-mu0": lambda: f"{_exact_mu0(_alignment()):.0f}",
    "ch5-exact-max": lambda: f"{_alignment().exact.err.max():.0e}",
    "ch5-rot-err": lambda: f"{_alignment().rotated.err.max():.0e}",
    "ch5-mis-decades": lambda: f"{min(_misaligned()[0]):.1f} to {max(_misaligned()[0]):.1f}",
    "ch5-mis-limit": lambda: f"{max(_misaligned()[1]):.0e}",
    # lecture 6: the (K, Q) study (studies.kq_study), one run each of three step sizes (ch6.gd.runs)
    "ch6-kq-runs": lambda: f"{len(_kq_study().runs)}",
    "ch6-kq-rate-lo": lambda: _minus(f"{_kq_study().rates().min():.1f}"),
    "ch6-kq-rate-hi": lambda: _minus(f"{_kq_study().rates().max():.1f}"),
    "ch6-gd-track": _gd_track,
    "ch6-gd3-overshoots": _gd3_overshoots,
    # lecture 7: E9's certificate (studies.e9_study), the initialization scale (ch8.init_scale)
    "ch7-e9-dist": lambda: f"{_e9().dist[-1]:.3f}",
    "ch7-e9-gap": lambda: f"{abs(_e9().nuc_gap[-1]):.0e}",
    "ch8-lock-excess": _lock_excess,
    # chapter 6, gradient descent against the flow (ch6.gd)
    "ch6-gd-slope": _gd_slope,
    "ch6-gd-large-steps": _gd_large_steps,
    # chapter 6, large steps as a distribution (studies.gd_steps)
    "ch6-gds-starts": lambda: f"{st.GD_STARTS}",
    "ch6-gds-steps": lambda: f"{st.GD_STEPS[1][1]:,}",
    "ch6-gds-steps3": lambda: f"{st.GD_STEPS[0][1]:,}",
    "ch6-gd3-range": _gd3_range,
    "ch6-gds-med5": _gds_median5,
    "ch6-gds-range5": _gds_range5,
    "ch6-gds-stuck": _gds_stuck_one,
    "ch6-gds-two-draws": _gds_two_draws,
    **{f"ch6-gds-f{lr:g}-{seed}": (lambda lr=lr, seed=seed: _count(lr, seed))
       for lr, _ in st.GD_STEPS for seed in st.GD_DATA_SEEDS},
    # chapter 6, a locally optimal selection (ch6.selection)
    "ch6-sel-stuck": _sel_stuck,
    "ch6-sel-cos-sel": lambda: f"{_selection().shifts[ch6.SHIFTS[1]].cos_sel[-1]:.5f}",
    "ch6-sel-cos-global": lambda: f"{_selection().shifts[ch6.SHIFTS[1]].cos_global[-1]:.2f}",
    "ch6-peers-stuck": _peers_stuck,
    "ch6-peers-cos-sel": lambda: f"{_selection().peers.cos_sel[-1]:.5f}",
    "ch6-peers-cos-global": lambda: f"{_selection().peers.cos_global[-1]:.2f}",
    # chapter 5, generic starts (ch5.init_dependence)
    "ch5-gen-n": lambda: f"{len(_init().select('KQ'))}",
    "ch5-gen-mlo": lambda: f"{_init().values('m', 'KQ').min():.2f}",
    "ch5-gen-mhi": lambda: f"{_init().values('m', 'KQ').max():.2f}",
    "ch5-gen-err-big": lambda: f"{_init_err(ch5.INIT_SCALES[0]):.2f}",
    "ch5-gen-err-small": lambda: f"{_init_err(ch5.INIT_SCALES[1]):.0e}",
    "ch5-gen-nucgap": lambda: f"{np.abs(_init().values('nuc_gap', 'KQ')).max():.0e}",
    "ch5-gen-frogap": lambda: f"{100 * _init().values('fro_gap', 'KQ').max():.0f} %",
    "ch5-gen-wdist": lambda: f"{_init().values('dist', 'W').max():.0e}",
}


def slide_values(names: Iterable[str]) -> dict[str, str]:
    """The texts of the named values (each computed once).

    Raises
    ------
    ValueError
        If a name is not in :data:`SLIDE_VALUES` (the message lists them).
    ClaimError
        If a value's slide states an outcome the computed results contradict.
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in SLIDE_VALUES]
    if unknown:
        raise ValueError(f"names must be values the slides may quote (attnbook.figures.slides.SLIDE_VALUES: "
                         f"{sorted(SLIDE_VALUES)}); got {unknown}")
    return {n: SLIDE_VALUES[n]() for n in names}
