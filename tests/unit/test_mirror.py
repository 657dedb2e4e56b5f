"""attnlib.mirror: the l_p attention SVM (KKT certificate, p = 2 against solve_svm) and l_p mirror descent."""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al
from attnlib import mirror


@pytest.fixture(scope="module")
def data():
    return al.make_generic_data(4, 3, 4, seed=3, equal_scores=True)


def test_p2_is_the_frobenius_svm(data):
    sol = mirror.solve_lp_svm(data, 2.0)
    ref = al.solve_svm(data, "fro")
    assert np.abs(sol.W - ref.W).max() < 1e-5             # the power-cone solve is accurate to ~1e-6
    assert sol.value == pytest.approx(ref.value, rel=1e-7)


@pytest.mark.parametrize("p", [1.5, 3.0])
def test_lp_svm_kkt_certificate(data, p):
    sol = mirror.solve_lp_svm(data, p)
    assert sol.status == "optimal"
    assert sol.margin == pytest.approx(1.0, abs=1e-6)
    assert sol.stationarity < 1e-4                      # sum lambda A = grad ||W||_p (solver accuracy ~1e-5)
    slack = np.einsum("kde,de->k", data.A, sol.W) - 1
    assert np.abs(sol.dual * slack).max() < 1e-6        # complementary slackness


def test_mirror_maps_are_inverse():
    Z = np.random.default_rng(0).standard_normal((3, 3))
    for p in (1.5, 2.0, 3.0):
        assert np.allclose(mirror.mirror_map(mirror.inverse_mirror_map(Z, p), p), Z)


def test_p2_mirror_descent_is_normalised_gd(data):
    k, Ws = mirror.mirror_descent(data, 2.0, lr=0.2, steps=30, save_every=30)
    ref = al.gradient_descent(data, "W", np.zeros((4, 4)), lr=0.2, steps=30, normalized=True)
    assert k.tolist() == [0, 30]
    assert np.allclose(Ws[-1], ref.W[-1], rtol=1e-8, atol=1e-10)


def test_bad_input(data):
    with pytest.raises(ValueError, match="p"):
        mirror.solve_lp_svm(data, 1.0)
    with pytest.raises(ValueError, match="lr"):
        mirror.mirror_descent(data, 2.0, lr=0.0)
