"""Chapter 6 (beyond the theorems): the claims its figures show, via the chapter's compute functions."""
import numpy as np
import pytest

from attnlib.experiments import ch6
from attnlib.figures import ch6 as ch6_figures


def test_svms_differ_in_rank():
    r = ch6.compute_kq_vs_w()
    assert r["rank_fro"] == 3 and r["rank_nuc"] == 2
    assert r["cos_fro_nuc"] < 0.97  # the two biases are distinguishable on this data


def test_W_flow_reaches_frobenius_svm():
    r = ch6.compute_kq_vs_w()
    cf, cn = r["W"]["checkpoints"][ch6.CHECKPOINTS[0]]
    assert cf > 1 - 1e-6
    assert cn < 0.97


def test_KQ_flow_approaches_nuclear_svm_slowly():
    r = ch6.compute_kq_vs_w()
    cps = r["KQ"]["checkpoints"]
    cos_nuc = [cps[c][1] for c in ch6.CHECKPOINTS]
    cos_fro = [cps[c][0] for c in ch6.CHECKPOINTS]
    assert np.all(np.diff(cos_nuc) > 0)  # still improving at every checkpoint
    assert 0.98 < cos_nuc[0] < 0.9995  # t = 1e300: close, not there
    assert cos_nuc[-1] > 0.999  # log t = 1e5
    assert cos_fro[-1] < 0.97  # not the Frobenius solution
    assert -1.5 < r["KQ"]["rate"] < -0.3  # 1 - cos ~ (ln t)^p, a slow power of ln t


def test_KQ_singular_values_switch_on_one_at_a_time():
    r = ch6.compute_kq_vs_w()
    x, sv = r["KQ"]["log_t"], r["KQ"]["sv"]
    early = np.nanargmin(np.abs(x - 5.0))
    assert sv[early, 1] < 0.2 * r["sv_nuc"][1]  # sigma_2 has not switched on yet
    assert abs(sv[-1, 1] - r["sv_nuc"][1]) < 0.02
    assert np.all(sv[-1, 2:] < 1e-3)  # rank 2 like the W_*-SVM
    assert np.all(r["W"]["sv"][early, :3] > 0.05)  # the W-flow has all three from the start


def test_unequal_scores_same_limits():
    u = ch6.compute_unequal_scores()
    assert not u["holds"]["2"] and u["holds"]["1"]
    assert u["final"]["unequal"]["W"] > 1 - 1e-6
    assert u["final"]["unequal"]["KQ"] > 0.995


def test_logistic_same_limit():
    lg = ch6.compute_logistic()
    assert lg["logistic"]["final"]["W"] > 1 - 1e-6
    assert lg["logistic"]["final"]["KQ"] > 0.995
    assert lg["gap"]["W"] < 1e-5 and lg["gap"]["KQ"] < 5e-3


def test_gd_path_error_first_order_and_large_step_gets_stuck():
    g = ch6.compute_gd()
    assert np.all(np.diff(g["path_err"]) > 0)
    assert 0.8 < g["slope"] < 1.1
    big = g["runs"][10.0]
    assert not np.array_equal(big["selection"], g["opt"])
    assert abs(big["excess"] - g["stuck_level"]) < 1e-3 * g["stuck_level"] + 1e-6
    assert np.array_equal(g["runs"][3.0]["selection"], g["opt"])


def test_selection_when_assumption3_fails():
    s = ch6.compute_selection()
    rec, stuck = s[ch6.SHIFTS[0]], s[ch6.SHIFTS[1]]
    assert not rec["assumption3"] and not stuck["assumption3"]
    assert np.array_equal(rec["selection"], s["opt"]) and rec["cos_global"][-1] > 1 - 1e-5
    assert not np.array_equal(stuck["selection"], s["opt"])
    assert abs(stuck["excess"][-1] - s["stuck_level"]) < 1e-6
    assert stuck["cos_global"][-1] < 0.5
    assert stuck["cos_sel"][-1] > 0.999
    p = s["peers"]
    assert not np.array_equal(p["selection"], p["opt"])
    assert p["cos_sel"][-1] > 0.9999 and p["cos_global"][-1] < 0.9


def test_digits():
    dg = ch6.compute_digits()
    assert dg["holds"]["1"] and not dg["holds"]["2"]
    assert dg["selected_opt"]
    assert dg["cos"]["W_fro"] > 0.9999 and dg["cos"]["KQ_nuc"] > 0.995
    assert dg["cos"]["KQ_fro"] < 0.95 and dg["cos"]["W_nuc"] < 0.95
    rank = lambda sv: int(np.sum(sv > 1e-3 * sv[0]))  # noqa: E731
    assert rank(dg["sv_KQ"]) == rank(dg["sv_nuc"]) == 2
    assert rank(dg["sv_W"]) == rank(dg["sv_fro"]) >= 5


@pytest.mark.parametrize("name", sorted(ch6_figures.FIGURES))
def test_figures_render(name):
    import matplotlib

    matplotlib.use("Agg")
    fig = ch6_figures.FIGURES[name]()
    assert fig.axes
