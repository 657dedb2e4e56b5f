"""The perturbation switch (al.perturbed_inputs) and the claims stage built on it."""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al
from attnbook.experiments._store import memo, pool_map


def test_data_move_by_a_relative_rel_and_keep_their_zeros():
    base = al.make_diagonal_data()
    with al.perturbed_inputs(1e-12, seed=1):
        moved = al.make_diagonal_data()
    for a, b in ((base.X, moved.X), (base.z, moved.z), (base.v, moved.v)):
        rel = np.abs(b - a)[a != 0] / np.abs(a[a != 0])
        assert 0 < rel.max() < 1e-10 and np.all(b[a == 0] == 0)
    assert np.array_equal(base.y, moved.y)


def test_outside_the_context_nothing_moves():
    with al.perturbed_inputs(1e-12, seed=1):
        pass
    assert al.active_perturbation() is None
    assert np.array_equal(al.make_diagonal_data().X, al.make_diagonal_data().X)


def test_same_seed_same_perturbation_other_seed_another():
    runs = []
    for seed in (2, 2, 3):
        with al.perturbed_inputs(1e-12, seed):
            runs.append(al.make_generic_data(4, 3, 4, 0).X)
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_a_zero_start_is_moved_by_rel():
    data = al.make_generic_data(4, 3, 4, seed=3, equal_scores=True)
    W0 = np.zeros((4, 4))
    plain = al.gradient_descent(data, "W", W0, 0.1, 1, n_save=1)
    with al.perturbed_inputs(1e-12, seed=0):
        d2 = al.make_generic_data(4, 3, 4, seed=3, equal_scores=True)
        moved = al.gradient_descent(d2, "W", W0, 0.1, 1, n_save=1)
    start = moved.W[0]
    assert np.all(plain.W[0] == 0) and 0 < np.abs(start).max() < 1e-11


def test_refuses_bad_arguments():
    with pytest.raises(ValueError, match="rel"):
        with al.perturbed_inputs(0.1):
            pass
    with pytest.raises(TypeError, match="seed"):
        with al.perturbed_inputs(1e-12, seed=-1):
            pass


@memo
def _demo_X_sum() -> float:
    return float(al.make_diagonal_data().X.sum())


def _X_sum(seed: int) -> float:
    return float(al.make_generic_data(4, 3, 4, seed).X.sum())


def test_cached_results_are_kept_apart_and_workers_see_the_switch():
    plain = _demo_X_sum()
    with al.perturbed_inputs(1e-12, seed=5):
        moved = _demo_X_sum()
        in_workers = pool_map(_X_sum, [0, 1], workers=2)
        here = [_X_sum(0), _X_sum(1)]
    assert moved != plain and _demo_X_sum() == plain
    assert in_workers == here != [_X_sum(0), _X_sum(1)]


@pytest.mark.claims
def test_the_claims_stage_perturbs_marked_tests(request):
    seed = request.config.getoption("--perturb-seed")
    state = al.active_perturbation()
    assert (state is None) if seed is None else (state == al.Perturbation(1e-12, seed))
