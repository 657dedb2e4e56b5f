"""Tests of the appendix "How the flows are computed" (attnlib/figures/numerics.py): the claims its text makes."""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al
from attnlib.experiments import numerics as nm
from attnlib.figures import numerics as nm_figures


def test_margin_grows_like_log_t_and_the_flow_cost_does_not():
    c = nm.compute_cost()
    assert abs(c["margin"][-1] / c["log_t"][-1] - 1) < 1e-4  # measured mu = ln t - 5.19 at ln t = 1e6
    assert c["nfev"].max() < 2000 and c["nfev"][-1] < 3 * c["nfev"][2]  # measured 584 at ln t = 10, 1,304 at 1e6
    assert c["gd_log10_steps"][-1] == pytest.approx(1e6 / np.log(10) + 1)


def test_log_space_gradient_is_t_times_the_gradient_where_that_is_representable():
    g = nm.naive_vs_scaled_gradient()
    assert g["log_t"] == pytest.approx(np.log(1e300))
    big = np.abs(g["scaled"]) > 1e-3 * np.abs(g["scaled"]).max()
    assert np.allclose(g["naive"][big] * 1e300, g["scaled"][big], rtol=1e-6)
    assert 0.1 < np.abs(g["scaled"]).max() < 10


def test_accuracy_tracks_the_tolerance():
    a = nm.compute_accuracy()
    errs = [a[t]["err"].max() for t in nm.RTOLS]
    for tol, err in zip(nm.RTOLS, errs):
        assert tol < err < 20 * tol  # measured 3.6x .. 9x the tolerance
    assert errs[nm.RTOLS.index(1e-8)] < 1e-6  # the default meets the target
    assert all(a[t]["nfev"] <= 5000 for t in nm.RTOLS)
    # the error is made in the transient (ln t <= 10) and not in the long log-time phase
    late = a["log_t"] > 10
    for t in nm.RTOLS:
        assert a[t]["err"][late].max() < 1.5 * a[t]["err"][late].min()


def test_solver_comparison():
    m = nm.compute_methods()
    assert m["LSODA"]["err"] < 1e-7 and m["LSODA"]["nfev"] < min(m["DOP853"]["nfev"], m["RK45"]["nfev"]) / 4
    assert m["BDF"]["err"] > 1e-6  # the text says BDF alone misses the target at rtol 1e-8
    assert m["BDF"]["nfev"] < m["Radau"]["nfev"]  # ... and that it is cheaper than Radau (measured 1,531 vs 4,089)
    ratios = [m[k]["nfev"] / m["LSODA"]["nfev"] for k in ("DOP853", "RK45")]
    assert all(4 < r < 10 for r in ratios)  # glued as "about 6 times" (measured 6.0 and 5.6)
    assert all(m[k]["njev"] == 0 for k in ("DOP853", "RK45"))


def test_figures_and_widget_values():
    import matplotlib.pyplot as plt

    for rtol in nm.RTOLS:
        plt.close(nm_figures.fig_accuracy(rtol))
    plt.close(nm_figures.fig_cost())
    with pytest.raises(ValueError, match="rtol must be one of"):
        nm_figures.fig_accuracy(3e-8)


def test_mirrored_flow_stalls_earlier_at_tighter_tolerance():
    from attnlib.experiments.ch1 import make_mirrored_data

    data = make_mirrored_data()
    stall = []
    for rtol in (1e-6, 1e-10):
        with pytest.raises(al.FlowStallError) as err:
            al.gradient_flow(data, "W", np.zeros((data.d, data.d)), 1e300, rtol=rtol, max_nfev=3000)
        stall.append(err.value.log_t)
    assert stall[1] < stall[0] < 60  # measured 19.0 and 34.5


def test_accuracy_to_1e6_parameters_fine_logits_off_by_rtol_times_log_t():
    from attnlib.experiments import studies as st

    acc = st.accuracy_study()
    for rtol in st.ACCURACY_RTOLS:
        a = acc[rtol]
        assert a.log_t[-1] == pytest.approx(1e6)
        assert a.param_err.max() < 20 * rtol  # the parameters (directions) stay at a few times rtol
        late = a.log_t >= 1e3
        ratio = a.logodds_err[late] / (rtol * a.log_t[late])
        assert 0.05 < np.median(ratio) < 50  # the log attention weights are off by about rtol * ln t
        assert a.logodds_err[-1] > 100 * a.logodds_err[np.argmin(np.abs(a.log_t - 691))]
    assert acc[1e-8].logodds_err[-1] > 1e-2  # several percent on the small attention weights at ln t = 1e6
    assert acc["ref_nfev"] < 50_000 // 2  # max_nfev's default leaves room over the costliest flow (measured 12,302)


def test_time_to_cosine_of_the_digits_exercise():
    """The exercise glues when the W-flow reaches cosine 0.999 with W_F, and what GD, the flow and normalised GD
    need to get there; the time is a crossing (rounded up), not a saved time of a coarse grid."""
    r = nm.time_to_cosine()
    data = nm.tarzanagh_data()
    W0, W_F = np.zeros((data.d, data.d)), al.solve_svm(data, "fro").W
    assert 1e33 < r["t"] < 1e35 and r["gd_steps"] == pytest.approx(r["t"] / nm.LR)  # measured t = 5.3e33
    assert 0.999 <= r["cos"] < 0.99901                                                # reached, and only just
    earlier = al.gradient_flow(data, "W", W0, 0.8 * r["t"], t_eval=[0.0, 0.8 * r["t"]])
    assert al.cosine(earlier.final(), W_F) < 0.999                                    # not reached earlier
    assert 0 < r["nfev"] < 2000                                                        # measured 946
    k = r["ngd_steps"]
    ngd = al.gradient_descent(data, "W", W0, lr=nm.LR, steps=k, normalized=True, n_save=10 * k)  # every step
    cos = ngd.cosine_to(W_F)
    assert cos[-1] >= 0.999 > cos[-2]                                                 # the first such step
    with pytest.raises(ValueError, match="target"):
        nm.time_to_cosine(1.5)
