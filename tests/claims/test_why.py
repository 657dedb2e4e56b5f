"""Claims of the "why" sections (chapters 2, 3, 5): each test fails if the chapter's statement were false."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from attnbook.experiments import why  # noqa: E402
from attnbook.figures import why as why_figures  # noqa: E402
from attnbook import plots


def test_l1_identity_minimal_at_balanced_factors():
    r = why.variational_l1()
    assert r.cost == pytest.approx(r.l1, rel=1e-12)
    assert r.minimized == pytest.approx(r.l1, rel=1e-10)
    assert r.random_costs.min() >= r.l1 * (1 - 1e-12)
    assert np.allclose(r.xi_k * r.xi_q, r.beta)


def test_nuclear_identity_minimal_at_balanced_factors():
    r = why.variational_nuclear()
    assert r.cost == pytest.approx(r.nuc, rel=1e-9)
    assert r.minimized == pytest.approx(r.nuc, rel=1e-8)           # BFGS over all factorizations finds it
    assert r.start_cost > 2 * r.nuc                                # ... from far away
    assert r.random_costs.min() >= r.nuc * (1 - 1e-12)
    assert r.imbalance < 1e-6 and r.product_error < 1e-9           # the minimiser is balanced
    assert np.sum(r.sv > 1e-6) == 2                                # rank 2, so the identity is not trivial


def test_logit_gaps_are_2_homogeneous_outputs_bounded():
    h = why.homogeneity()
    assert np.allclose(h.margin_over_c2, 1.0, rtol=1e-9)
    assert np.all(h.y_phi <= h.gamma_max + 1e-12)
    assert h.y_phi[-1].min() > 0.999 * h.gamma_opt.min()          # saturated at the largest scale
    assert h.margin[-1] / h.margin[0] == pytest.approx(32.0**2)


def test_sample_weights_concentrate_on_the_support_and_match_the_duals():
    r = why.sample_weights()
    assert r.nonsupport_mass[-1] < 1e-15
    assert r.dual_dist[-1] < 1e-3
    assert 1 - r.cos_grad_svm[-1] < 1e-5
    k10 = int(np.argmin(np.abs(r.log_t - 10)))
    assert r.nonsupport_mass[k10] > 1e3 * r.nonsupport_mass[-1]         # it is the flow that concentrates them
    assert np.all(np.abs(np.abs(r.weights).sum(axis=1) - 1) < 1e-12)


@pytest.mark.claims
def test_sample_weight_study_all_runs():
    st = why.sample_weight_study()
    assert len(st.seed) == 40 and set(st.init) == {"zero", "random"}
    assert 0 < st.optimal.sum() < 40                                    # both kinds of runs are in the study
    assert st.nonsupport_mass.max() < 1e-3
    assert st.dual_dist.max() < 1e-3


@pytest.mark.claims
def test_weight_decay_is_balanced_and_tends_to_the_nuclear_svm():
    r = why.weight_decay_vs_flow()
    assert np.all(r.wd_grad < 1e-8)                                     # stationary points
    assert np.all(np.abs(r.wd_penalty_gap) < 1e-8)                      # penalty = ||W||_* there
    ok = r.wd_margin > 0
    assert np.all(np.diff(r.wd_nuc_gap[ok]) < 0)                        # along the path, towards W_*
    assert np.all(r.wd_nuc_gap[ok] < r.wd_fro_gap[ok])
    assert r.flow_nuc_gap[-1] < 2e-3 and r.flow_fro_gap[-1] > 0.03         # the flow: nuclear, not Frobenius
    big = r.flow_margin > 1.0                          # the flow's imbalance is fixed while the norm grows
    assert np.all(np.diff(r.flow_penalty_gap[big]) < 0) and r.flow_penalty_gap[-1] < 1e-7


def test_watson_transfer_needs_equal_pairs():
    w = why.watson_transfer()
    assert w.check_equal.ok(1e-12) and w.check_equal.rank == 2
    assert np.allclose(w.G_equal, w.UV, atol=1e-14)
    assert np.allclose(w.constraints_equal, 1.0)
    assert not w.check_unequal.ok(1e-3) and w.check_unequal.cross_error > 0.1
    flow = w.flow                                      # columns: ln t, mu, uv, cross, residual, pair difference
    assert np.all(flow[:, 3] < 1e-12) and np.all(flow[:, 5] < 1e-12)
    assert np.all(np.diff(flow[:, 2]) < 0)             # the part on U_r, V_r tends to the identity ...
    c = flow[:, 2] * np.log(flow[:, 1])
    assert c.max() / c.min() < 1.2                     # ... like C / ln mu


@pytest.mark.parametrize("name", sorted(why_figures.FIGURES))
def test_figures_build(name):
    fig = why_figures.FIGURES[name]()
    assert fig.axes and not plots.low_contrast(fig), plots.low_contrast(fig)  # 3:1 (WCAG 1.4.11)


@pytest.mark.claims
def test_weight_decay_minimizers_are_balanced_up_to_the_optimizers_tolerance():
    """Chapter 3's exercise answer: the relative imbalance is within the bound stationarity gives for the gradient
    the optimizer stopped at (a fixed threshold failed on another BLAS kernel: 1.3e-4 against 1e-4)."""
    wd = why.weight_decay_vs_flow()
    assert np.all(wd.wd_imbalance <= wd.wd_imbalance_bound * (1 + 1e-9) + 1e-15)
    assert np.all(wd.wd_imbalance_bound < 1e-2)  # and that bound is small: the minimizers are nearly balanced
