"""Independent data sets as one (``block_diagonal_data``): gradient descent on the embedding runs the blocks'
descents in one iteration, bit for bit when their number is a power of two; and ``unperturbed``."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import block_diag

import attnlib as al


def _family(B, seed0=0):
    return [al.make_generic_data(4, 3, 4, seed=seed0 + b, equal_scores=True) for b in range(B)]


def _inits(B, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return [0.1 * rng.standard_normal((d, d)) for _ in range(B)]


def test_gradient_of_the_embedding_is_block_diagonal_with_each_blocks_own_gradient():
    datas, inits = _family(3), _inits(3)
    big = al.block_diagonal_data(datas)
    G = al.loss_grad(big, block_diag(*inits))
    blocks = al.diagonal_blocks(G, 3)
    for b in range(3):
        np.testing.assert_allclose(3 * blocks[b], al.loss_grad(datas[b], inits[b]), rtol=1e-12, atol=1e-15)
    off = G.copy()
    for b in range(3):
        off[4 * b:4 * b + 4, 4 * b:4 * b + 4] = 0.0
    assert np.all(off == 0.0)  # products with the embedding's zeros are exact zeros


@pytest.mark.parametrize("lr, steps", [(0.5, 300), (7.0, 3000)])  # 7.0: the chaotic regime of chapter 6
def test_descent_on_the_embedding_is_each_blocks_own_descent_bit_for_bit(lr, steps):
    B = 4  # a power of two: the step B * lr and the gradient's 1 / (B n) scale exactly
    datas, inits = _family(B), _inits(B)
    g = al.gradient_descent(al.block_diagonal_data(datas), "W", block_diag(*inits), B * lr, steps, n_save=20)
    blocks = al.diagonal_blocks(g.W, B)
    for b in range(B):
        own = al.gradient_descent(datas[b], "W", inits[b], lr, steps, n_save=20)
        np.testing.assert_array_equal(blocks[:, b], own.W)
        np.testing.assert_array_equal(g.t / B, own.t)
    mask = block_diag(*[np.ones((4, 4))] * B) == 0
    assert np.all(g.W[:, mask] == 0.0)


def test_descent_on_the_embedding_agrees_to_rounding_for_any_number_of_blocks():
    B, lr = 3, 0.5
    datas, inits = _family(B, 5), _inits(B, seed=1)
    g = al.gradient_descent(al.block_diagonal_data(datas), "W", block_diag(*inits), B * lr, 200, n_save=5)
    for b, W in enumerate(np.moveaxis(al.diagonal_blocks(g.W, B), 1, 0)):
        own = al.gradient_descent(datas[b], "W", inits[b], lr, 200, n_save=5)
        np.testing.assert_allclose(W, own.W, rtol=1e-10, atol=1e-12)


def test_embedding_shapes_and_scores():
    datas = _family(2) + [al.make_generic_data(4, 3, 4, seed=9)]
    big = al.block_diagonal_data(datas)
    assert big.X.shape == (12, 3, 12) and big.z.shape == (12, 12) and big.v.shape == (12,)
    np.testing.assert_array_equal(big.gamma, np.concatenate([d.gamma for d in datas]))
    np.testing.assert_array_equal(big.opt, np.concatenate([d.opt for d in datas]))


@pytest.mark.parametrize("bad, match", [
    ([], "datas must be a non-empty"),
    ("abc", "datas must be a non-empty"),
    ([al.make_diagonal_data(), 3], r"datas\[1\] must be an attnlib.AttentionData"),
    ([al.make_diagonal_data(), al.make_generic_data(3, 3, 5)], r"datas\[1\] has \(3, 3, 5\)"),
])
def test_embedding_validates_its_argument(bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        al.block_diagonal_data(bad)


@pytest.mark.parametrize("W, B, match", [
    (np.zeros((4, 5)), 2, "square"), (np.zeros((6, 6)), 4, "B = 4"), (np.zeros(4), 1, "square"),
    (np.zeros((4, 4)), 0, "B"), (np.zeros((4, 4)), 1.5, "B"),
])
def test_diagonal_blocks_validates(W, B, match):
    with pytest.raises((TypeError, ValueError), match=match):
        al.diagonal_blocks(W, B)


def test_unperturbed_switches_the_perturbation_off_inside_and_only_inside():
    plain = al.make_generic_data(seed=3).X
    with al.perturbed_inputs(1e-12, seed=2):
        moved = al.make_generic_data(seed=3).X
        with al.unperturbed():
            assert al.active_perturbation() is None
            inside = al.make_generic_data(seed=3).X
        assert al.active_perturbation() == al.Perturbation(1e-12, 2)
    assert not np.array_equal(moved, plain)
    np.testing.assert_array_equal(inside, plain)
