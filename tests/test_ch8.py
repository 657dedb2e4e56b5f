"""Claims of chapter 8, "The research around the paper": each test fails if the chapter's statement were false."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from attnlib.experiments import ch8  # noqa: E402
from attnlib.figures import ch8 as ch8_figures  # noqa: E402


def test_each_mirror_descent_run_heads_for_its_own_lp_svm():
    r = ch8.mirror()
    assert np.all(r["stationarity"] < 1e-4)                          # the SVMs are solved (KKT certificate)
    for p, run in r["runs"].items():
        own = run["dist"][p][-1]
        others = [run["dist"][q][-1] for q in r["runs"] if q != p]
        assert own < 0.6 * min(others)                                # closer to its own SVM than to the others
        assert own < 0.15
    assert min(v for (p, q), v in r["mutual"].items() if p != q) > 0.15   # the SVMs really differ


def test_init_scale_tradeoff():
    r = ch8.init_scale()
    runs = r["runs"]
    for om in (0.3, 1.0, 3.0):                                        # these lock on, at tiny excess loss
        assert np.isfinite(runs[om]["lock_log_mu"]) and runs[om]["lock_log_excess"] < -100
        assert runs[om]["dist_l1"][-1] < 1e-3
    for om in (0.03, 0.1):                                            # these have not by ln t = 1e5
        assert np.isnan(runs[om]["lock_log_mu"]) and runs[om]["dist_l1"][-1] > 0.05
    assert runs[3.0]["min_dist_l2"] < 0.01                            # the kernel-like transient of a large scale
    assert min(runs[om]["min_dist_l2"] for om in (0.03, 0.1, 0.3)) > 0.05
    assert runs[1.0]["lock_log_mu"] < runs[0.3]["lock_log_mu"]        # not monotone on this data set
    assert runs[1.0]["lock_log_mu"] < runs[3.0]["lock_log_mu"]


def test_saddle_detour_is_sparse():
    r = ch8.init_scale()
    run = r["runs"][0.03]
    k = int(np.argmin(np.abs(run["log_t"] - 1e3)))
    bhat = run["bhat"][k]
    assert bhat[0] > 1.3 and np.all(np.abs(bhat[1:]) < 0.05)          # only beta_1 is learned ...
    assert np.abs(run["beta"][-1, 1]) > 100 * np.abs(run["beta"][k, 1])  # ... beta_2 is on its way later
    assert np.linalg.norm(bhat - r["l1"]) / np.linalg.norm(r["l1"]) > 0.15


def test_w_rate_is_polynomial_in_log_t():
    w = ch8.w_rate()
    assert -2.5 < w["slope"] < -1.5
    assert w["gap_at"][1000.0] < w["gap_at"][100.0] < w["gap_at"][10.0]


@pytest.mark.parametrize("name", sorted(ch8_figures.FIGURES))
def test_figures_build(name):
    assert ch8_figures.FIGURES[name]().axes
