"""The values the lecture slides quote: every number a slide shows next to a slide version of a figure, computed
from the same results the figure draws (:mod:`attnbook.experiments`, the studies artifact), never typed by hand.

A lecture's source (``book/slides/lecture-N.md``) writes ``{value:ch6-gds-f5-3}``; ``tools/build_slides.py``
replaces it by ``SLIDE_VALUES["ch6-gds-f5-3"]()``. The names follow the chapter's glue names where the chapter quotes
the same number. A value whose slide states an outcome in words asserts that outcome first (:func:`claim`, as a
chapter's cell does), so a deck whose words became false does not build.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..experiments import ch5, ch6
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


#: Name -> the text a slide shows for it (a zero-argument callable; computing it may run a study).
SLIDE_VALUES: dict[str, Callable[[], str]] = {
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
