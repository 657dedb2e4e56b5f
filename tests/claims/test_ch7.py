"""Chapter 7 (errata): each erratum's numerical check, via the chapter's functions.

Tests marked ``claims`` are re-run by the test command's claims stage with data and starts moved by a relative 1e-12
(``al.perturbed_inputs``); each held under perturbation seeds 1 and 2. E10's closed form and E9's exactness at eps
= 0 hold under it too: the perturbation keeps the exact zeros of initialisation (5) and of the aligned start's
Q(0) = 0, as rounding does."""
import numpy as np
import pytest

import attnlib as al
from attnbook.experiments import ch7
from attnbook.figures import ch7 as ch7_figures
from attnbook import plots


def test_e1_shapes():
    r = ch7.check_e1()
    assert r.shape_correct == (r.shape_X[0],) and r.matches_library
    assert r.printed.startswith("ValueError")


@pytest.mark.claims
def test_e2_full_but_not_diagonal_separability():
    r = ch7.check_e2()
    assert r.holds["1"] and r.holds["2"] and r.holds["3"] and not r.holds["1-diag"]
    assert r.l1 == "InfeasibleSVMError" and r.fro_value > 0


@pytest.mark.claims
def test_e2_diagonal_flow_stalls_at_a_finite_point():
    r = ch7.compute_e2_flows()
    assert r.grad_end < 1e-8
    assert r.xi.excess[-1] > 0.05 and r.xi.margin[-1] < 0
    assert r.xi.norm[-1] < 2.0
    assert r.W.excess[-1] < 1e-100 and r.W.norm[-1] > 100


@pytest.mark.claims
def test_e3_needs_item_ii():
    r = ch7.check_e3()
    assert r.gap_ii < 1e-12
    assert r.gap_rotated > 1e-2 and not r.assumption4_rotated


def test_e4_Diag_zero_padded():
    r = ch7.check_e4()
    assert r.W_is_Diag and r.K_shape == (3, 5)
    assert r.diag_of_vector_shape == (3, 3) and r.diag_of_matrix_shape == (3,)


@pytest.mark.claims
def test_e5_corrected_bound_is_the_limit_loss():
    r = ch7.check_e5()
    assert not np.array_equal(r.selection, r.opt)
    assert abs(r.measured - r.corrected) < 1e-8 * r.corrected
    assert np.all(np.abs(r.wrong_index - r.measured) > 1e-2)
    assert r.wrong_sign > 10 * r.measured


def test_e6_no_extra_one_over_n():
    r = ch7.check_e6()
    assert np.allclose(r.ratio_corrected, 1.0, rtol=1e-10)
    assert np.allclose(r.ratio_printed, r.n, rtol=1e-10)


@pytest.mark.claims
def test_e7_mfcq_sign():
    r = ch7.check_e7()
    assert r.n_active >= 1
    assert np.all(r.correct.s_dot_v < 0) and r.correct.max_g_after_step < 0
    assert np.all(r.printed.s_dot_v > 0) and r.printed.max_g_after_step > 0


@pytest.mark.claims
def test_e8_pairs_constants_sign():
    r = ch7.check_e8()
    assert r.dual_shape == (r.n_pairs,)
    assert r.kkt_all_pairs < 1e-6 < 1e-2 < r.kkt_first_pair_only
    assert r.sinh_2n < 1e-5 and r.sinh_4n > 1.0
    assert r.inner_neg_grad > 0 > r.inner_grad


@pytest.mark.claims
def test_e9_alignment_is_exact_with_assumption2():
    r0 = ch7.compute_e9(0.0)
    assert r0.holds["2"] and r0.holds["4"] and r0.err.max() < 1e-12


@pytest.mark.claims
def test_e9_alignment_needs_assumption2():
    errs = []
    for eps in (0.01, 0.1):
        r = ch7.compute_e9(eps)
        assert not r.holds["2"] and r.holds["4"]
        assert r.err.max() > 1e-3 * eps / 0.01  # broken, proportional to eps
        assert r.cos_nuc > 0.9999  # the limit still solves the W_*-SVM
        errs.append(r.err[-1])
    assert 8 < errs[1] / errs[0] < 12  # linear in eps


@pytest.mark.claims
def test_e9_alignment_error_per_eps_is_almost_constant():
    """Exercise ch7-ex-e9's answer: final alignment error / eps is almost constant, dropping slightly at the largest
    eps (measured 0.2276 -> 0.2270)."""
    eps = np.array([e for e in ch7.E9_EPS if e > 0])
    ratio = np.array([ch7.compute_e9(e).err[-1] for e in eps]) / eps
    assert ratio.max() < 1.01 * ratio.min()
    assert ratio[-1] < ratio[0]


@pytest.mark.claims
def test_e10_nonconstant_omega0():
    r = ch7.check_e10()
    assert np.ptp(r.omega0) > 0.05
    assert r.sinh_error < 1e-5 and r.conservation < 1e-6 and abs(r.dloss) < 1e-8


@pytest.mark.claims
def test_exercise_e2_full_but_not_diagonal_separability_is_common():
    """Exercise ch7-ex-e2's answer: "a sizeable fraction of seeds" (measured 8 of 20) is separable by a full W but
    not by a diagonal one; none is inseparable."""
    only_full = neither = 0
    for seed in range(20):
        rep = al.check_assumptions(al.make_generic_data(4, 3, 4, seed=seed, equal_scores=True))
        only_full += rep.holds("1") and not rep.holds("1-diag")
        neither += not rep.holds("1")
    assert only_full >= 4 and neither == 0


@pytest.mark.parametrize("name", sorted(ch7_figures.FIGURES))
def test_figures_render(name):
    import matplotlib

    matplotlib.use("Agg")
    fig = ch7_figures.FIGURES[name]()
    assert fig.axes and not plots.low_contrast(fig), plots.low_contrast(fig)  # 3:1 (WCAG 1.4.11)


# -- E9 with the nuclear-norm certificate (attnbook.experiments.studies) ------------------------------------------

from attnbook.experiments import studies as st  # noqa: E402


@pytest.mark.claims
def test_e9_breaking_assumption2_moves_the_limit_within_the_nuclear_family():
    p = st.e9_certificate(0.5)
    late = p.log_t >= 600
    assert abs(p.nuc_gap[-1]) < 1e-8  # the flow solves the nuclear SVM ...
    one_minus_cos = 1 - p.cos_circ[late]
    assert one_minus_cos.min() > 5e-5 and one_minus_cos.max() < 1.05 * one_minus_cos.min()  # ... but not at W°
    assert 0.01 < p.family[-1] < 0.03
    mid = (p.log_t >= 100) & (p.log_t <= 1e4)
    slope = np.polyfit(np.log(p.log_t[mid]), np.log(p.nuc_gap[mid]), 1)[0]
    assert -1.1 < slope < -0.9  # the gap falls like 1 / ln t


@pytest.mark.claims
def test_e9_misalignment_is_permanent():
    p = st.e9_certificate(0.1)
    i1 = np.argmin(np.abs(p.log_t - 1))
    assert p.alignment[i1] > 0.01 and p.alignment[-1] > 0.9 * p.alignment[i1]
    assert st.e9_certificate(0.0).alignment.max() < 1e-8
