"""Claims of chapter 4 (approximate KKT conditions), checked on the flow its figures show."""
import numpy as np
import pytest

from attnlib.experiments import ch4
from attnlib.figures import ch4 as ch4_figures


@pytest.fixture(scope="module")
def kkt():
    return ch4.compute_kkt()


def test_flow_reaches_beyond_1e300(kkt):
    assert kkt["log_t"][-1] >= 1e6 * (1 - 1e-12)
    assert kkt["log_mu"][-1] > 13.0  # mu ~ log t: ln mu ~ 13.8 at log t = 1e6


def test_certificate_identity(kkt):
    """B phi / ln mu equals arcsinh(beta / omega0^2) / ln mu (Lemma A.1 rewritten), up to the solver tolerance."""
    assert kkt["identity_error"] < 1e-6


def test_feasibility_holds_by_construction(kkt):
    ok = np.isfinite(kkt["feasibility"])
    assert np.all(kkt["feasibility"][ok] > -1e-12)


def test_epsilon_is_logarithmically_slow(kkt):
    lm, eps = kkt["log_mu"], kkt["epsilon"]
    j = kkt["j1e300"]
    assert eps[j] > 0.5  # at t = 1e300 the stationarity residual is still of order 1
    assert abs(eps[j] * lm[j] / kkt["C"] - 1) < 0.15
    assert abs(eps[-1] * lm[-1] / kkt["C"] - 1) < 1e-3  # epsilon ln mu -> C = ||ln(2 beta*_S / omega0^2)||
    assert -1.1 < kkt["rate"] < -0.7  # fitted exponent of ln mu
    tail = np.isfinite(lm) & (lm > 2)
    assert np.all(np.diff(eps[tail]) <= 0) and eps[tail][-1] < 0.6 * eps[tail][0]


def test_predicted_constant_value(kkt):
    assert kkt["C"] == pytest.approx(np.linalg.norm(np.log(2 * kkt["beta_l1"][:2] / 0.01)), rel=1e-6)
    assert 6.4 < kkt["C"] < 6.8


def test_other_residuals_shrink(kkt):
    j = kkt["j1e300"]
    assert kkt["delta"][-1] < 0.5 * kkt["delta"][j]
    assert kkt["epsilon_prime"][-1] < 1e-5 < kkt["epsilon_prime"][j]


def test_direction_snaps_late(kkt):
    """At t = 1e300 the direction is still ~20 % from the l1-SVM; by log t = 1e6 it is on it."""
    j = kkt["j1e300"]
    assert kkt["dist"][j] > 0.1
    assert kkt["dist"][-1] < 1e-4
    first = kkt["log_t"][np.argmax(kkt["dist"] < 1e-3)]
    assert 1e5 < first < 1e6


def test_multipliers_extrapolate_to_svm_duals(kkt):
    ext = ch4.extrapolate_duals()
    assert np.allclose(ext, kkt["dual"], atol=5e-3)
    assert not np.allclose(kkt["lam"][-1], kkt["dual"], atol=5e-2)  # ... but lambda(t) itself is still far


def test_certificate_at_end_in_box():
    c = ch4.certificate_at(1e6)
    on = np.abs(c["beta_l1"]) > 1e-6
    assert np.all(np.abs(c["Blambda"][on] - 1) < 0.5)
    assert np.all(np.abs(c["Blambda"][~on]) <= 1)


def test_figures_build():
    import matplotlib.pyplot as plt

    for name, f in ch4_figures.FIGURES.items():
        fig = f()
        assert fig.axes, name
        plt.close(fig)
