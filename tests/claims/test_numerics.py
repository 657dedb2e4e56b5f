"""Tests of the appendix "How the flows are computed" (attnbook/figures/numerics.py): the claims its text makes.

Tests marked ``claims`` are re-run by the test command's claims stage with data and starts moved by a relative 1e-12
(``al.perturbed_inputs``). That stage found one claim that rounding decides: "BDF alone misses the 1e-6 target at
rtol 1e-8" (BDF's error is near 1e-7 or near 2e-6 depending on a 1e-12 change of the inputs); the appendix now
states over how many perturbed starts it misses (``nm.bdf_spread``)."""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al
from attnbook.experiments import numerics as nm
from attnbook.figures import numerics as nm_figures
from attnbook import plots


@pytest.mark.claims
def test_margin_grows_like_log_t_and_the_flow_cost_does_not():
    c = nm.compute_cost()
    assert abs(c.margin[-1] / c.log_t[-1] - 1) < 1e-4  # measured mu = ln t - 5.19 at ln t = 1e6
    assert c.nfev.max() < 2000 and c.nfev[-1] < 3 * c.nfev[2]  # measured 584 at ln t = 10, 1,304 at 1e6
    assert c.gd_log10_steps[-1] == pytest.approx(1e6 / np.log(10) + 1)


def test_log_space_gradient_is_t_times_the_gradient_where_that_is_representable():
    g = nm.naive_vs_scaled_gradient()
    assert g.log_t == pytest.approx(np.log(1e300))
    big = np.abs(g.scaled) > 1e-3 * np.abs(g.scaled).max()
    assert np.allclose(g.naive[big] * 1e300, g.scaled[big], rtol=1e-6)
    assert 0.1 < np.abs(g.scaled).max() < 10


@pytest.mark.claims
def test_accuracy_tracks_the_tolerance():
    a = nm.compute_accuracy()
    errs = [a.runs[t].err.max() for t in nm.RTOLS]
    for tol, err in zip(nm.RTOLS, errs):
        assert tol < err < 20 * tol  # measured 3.6x .. 9x the tolerance
    assert errs[nm.RTOLS.index(1e-8)] < 1e-6  # the default meets the target
    assert all(a.runs[t].nfev <= 5000 for t in nm.RTOLS)
    assert errs[nm.RTOLS.index(1e-8)] < 1e-6 / 5  # "with room to spare" (measured 6e-8)
    assert a.runs[nm.RTOLS[0]].nfev < a.runs[nm.RTOLS[-1]].nfev < 5 * a.runs[nm.RTOLS[0]].nfev  # "grows slowly"
    # the error is made in the transient (ln t <= 10) and not in the long log-time phase
    late = a.log_t > 10
    for t in nm.RTOLS:
        assert a.runs[t].err[late].max() < 1.5 * a.runs[t].err[late].min()


@pytest.mark.claims
def test_solver_comparison():
    m = nm.compute_methods()
    assert m.runs["LSODA"].err < 1e-7 and m.runs["LSODA"].nfev < min(m.runs["DOP853"].nfev, m.runs["RK45"].nfev) / 4
    assert all(m.runs["LSODA"].nfev < m.runs[k].nfev for k in nm.METHODS if k != "LSODA")  # "cheap"
    assert m.runs["BDF"].nfev < m.runs["Radau"].nfev  # BDF is cheaper than Radau (measured 1,531 vs 4,089)
    # whether BDF meets the target is rounding's decision: test_bdf_misses_the_target_in_some_perturbed_starts
    ratios = [m.runs[k].nfev / m.runs["LSODA"].nfev for k in ("DOP853", "RK45")]
    assert all(4 < r < 10 for r in ratios)  # glued as "about 6 times" (measured 6.0 and 5.6)
    assert all(m.runs[k].njev == 0 for k in ("DOP853", "RK45"))


@pytest.mark.slow
@pytest.mark.claims
@pytest.mark.parametrize("loss", ["exp", "logistic"])
def test_bdf_misses_the_target_in_some_perturbed_starts(loss):
    """The appendix (exp) and exercise num-ex-solver (logistic): over starts perturbed by a relative 1e-12, BDF at
    rtol 1e-8 lands on either side of the 1e-6 target (measured: 6 and 7 of 10 miss, errors 1e-7 or 2e-6 to
    3.5e-6), so the page states how often, not whether. Under the claims stage the spread's own perturbations
    replace the stage's, so the assertion is about the same ten starts."""
    b = nm.bdf_spread(loss)
    assert len(b.seeds) == len(nm.SPREAD_SEEDS) and 0 < b.n_miss < len(b.seeds)
    assert b.err.max() < 1e-5 and b.err.min() < nm.TARGET < b.err.max()


@pytest.mark.claims
def test_logistic_solver_exercise():
    """Exercise num-ex-solver: for the logistic loss the explicit DOP853 is accurate but needs several times
    LSODA's evaluations (measured 6.3 times)."""
    data = nm.tarzanagh_data()
    W0 = np.zeros((data.d, data.d))
    ref = al.gradient_flow(data, "W", W0, 1e300, rtol=1e-11, loss="logistic")
    runs = {m: al.gradient_flow(data, "W", W0, 1e300, method=m, loss="logistic") for m in ("LSODA", "DOP853")}
    assert al.path_error(runs["DOP853"], ref).max() < nm.TARGET and al.path_error(runs["LSODA"], ref).max() < 1e-7
    assert 3 < runs["DOP853"].nfev / runs["LSODA"].nfev < 10


@pytest.mark.claims
def test_frame_table_reaches_1e300_in_a_few_thousand_evaluations():
    from attnbook.experiments.frame_accuracy import frame_accuracy_table

    assert max(r.far_nfev[0] for r in frame_accuracy_table()) < 10_000  # measured 1,085 .. 3,307


def test_figures_and_widget_values():
    import matplotlib.pyplot as plt

    for fig in [nm_figures.fig_accuracy(rtol) for rtol in nm.RTOLS] + [nm_figures.fig_cost()]:
        assert not plots.low_contrast(fig), plots.low_contrast(fig)  # 3:1 (WCAG 1.4.11)
        plt.close(fig)
    with pytest.raises(ValueError, match="rtol must be one of"):
        nm_figures.fig_accuracy(3e-8)


@pytest.mark.claims
def test_mirrored_flow_stalls_earlier_at_tighter_tolerance():
    from attnbook.experiments.ch1 import make_mirrored_data

    data = make_mirrored_data()
    stall = []
    for rtol in (1e-6, 1e-8, 1e-10):
        with pytest.raises(al.FlowStallError) as err:
            al.gradient_flow(data, "W", np.zeros((data.d, data.d)), 1e300, rtol=rtol, max_nfev=3000)
        stall.append(err.value.log_t)
    assert stall[2] < stall[1] < stall[0] < 60  # measured 17.4, 29.8 and 34.6


@pytest.mark.claims
def test_accuracy_to_1e6_parameters_fine_logits_off_by_rtol_times_log_t():
    from attnbook.experiments import studies as st

    acc = st.accuracy_study()
    for rtol in st.ACCURACY_RTOLS:
        a = acc.runs[rtol]
        assert a.log_t[-1] == pytest.approx(1e6)
        assert a.param_err.max() < 20 * rtol  # the parameters (directions) stay at a few times rtol
        late = a.log_t >= 1e3
        ratio = a.logodds_err[late] / (rtol * a.log_t[late])
        assert 0.05 < np.median(ratio) < 50  # the log attention weights are off by about rtol * ln t
        assert a.logodds_err[-1] > 100 * a.logodds_err[np.argmin(np.abs(a.log_t - 691))]
    assert acc.runs[1e-8].logodds_err[-1] > 1e-2  # several percent on the small attention weights at ln t = 1e6
    assert acc.ref_nfev < 50_000 // 2  # max_nfev's default leaves room over the costliest flow (measured 12,302)


def test_time_to_cosine_of_the_digits_exercise():
    """The exercise glues when the W-flow reaches cosine 0.999 with W_F, and what GD, the flow and normalised GD
    need to get there; the time is a crossing (rounded up), not a saved time of a coarse grid."""
    r = nm.time_to_cosine()
    data = nm.tarzanagh_data()
    W0, W_F = np.zeros((data.d, data.d)), al.solve_svm(data, "fro").W
    assert 1e33 < r.t < 1e35 and r.gd_steps == pytest.approx(r.t / nm.LR)  # measured t = 5.3e33
    assert 0.999 <= r.cos < 0.99901                                                   # reached, and only just
    earlier = al.gradient_flow(data, "W", W0, 0.8 * r.t, t_eval=[0.0, 0.8 * r.t])
    assert al.cosine(earlier.final(), W_F) < 0.999                                    # not reached earlier
    assert 0 < r.nfev < 2000                                                           # measured 946
    k = r.ngd_steps
    ngd = al.gradient_descent(data, "W", W0, lr=nm.LR, steps=k, normalized=True, n_save=10 * k)  # every step
    cos = ngd.cosine_to(W_F)
    assert cos[-1] >= 0.999 > cos[-2]                                                 # the first such step
    with pytest.raises(ValueError, match="target"):
        nm.time_to_cosine(1.5)


# -- the appendix's margin-frame table (a study; was in tests/unit/test_frame.py) ----------------------------
def test_appendix_frame_accuracy_table():
    """The numbers of the numerics appendix's margin-frame table: overlap <= 1e-8, far out <= 1e-6, frozen."""
    from attnbook.experiments.frame_accuracy import FRAME_PARAMS, frame_accuracy, frame_accuracy_table
    rows = frame_accuracy_table()
    assert [r.param for r in rows] == list(FRAME_PARAMS)
    assert all(r.overlap_error <= 1e-8 and r.far_error.max() <= 1e-6 for r in rows)
    assert rows[1].log_t_reduced == pytest.approx(al.frame.QSS_LOG_T) and np.isinf(rows[0].log_t_reduced)
    with pytest.raises(ValueError):
        rows[0].far_error[0] = 0.0
    with pytest.raises(ValueError, match="param"):
        frame_accuracy("K")
