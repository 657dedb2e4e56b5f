"""AttentionData (validation, immutability, derived quantities) and the generators (paper §3.1; the book's example data sets)."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attnlib as al


def _valid(n=3, L=3, d=4, seed=0):
    """A small valid (X, z, y, v): generic Gaussian data, so the optimal token is unique almost surely."""
    rng = np.random.default_rng(seed)
    return dict(X=rng.standard_normal((n, L, d)), z=rng.standard_normal((n, d)),
                y=rng.choice([-1.0, 1.0], size=n), v=rng.standard_normal(d))


# -- derived quantities -------------------------------------------------------------------------------------


@given(n=st.integers(1, 5), L=st.integers(2, 6), d=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_derived_quantities_match_definitions(n, L, d, seed):
    kw = _valid(n, L, d, seed)
    data = al.AttentionData(**kw)
    assert (data.n, data.L, data.d) == (n, L, d)
    gamma = np.array([[kw["y"][i] * kw["v"] @ kw["X"][i, l] for l in range(L)] for i in range(n)])
    np.testing.assert_allclose(data.gamma, gamma, rtol=1e-13, atol=1e-13)
    opt = gamma.argmax(axis=1)
    np.testing.assert_array_equal(data.opt, opt)
    np.testing.assert_allclose(data.gamma_opt, gamma.max(axis=1), rtol=1e-13, atol=1e-13)
    expected_pairs = [(i, l) for i in range(n) for l in range(L) if l != opt[i]]
    assert [tuple(p) for p in data.pairs] == expected_pairs
    rng = np.random.default_rng(seed + 1)
    W = rng.standard_normal((d, d))
    for k, (i, l) in enumerate(expected_pairs):
        dx = kw["X"][i, opt[i]] - kw["X"][i, l]
        np.testing.assert_allclose(data.D[k], dx, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(data.Z[k], kw["z"][i], rtol=0, atol=0)
        np.testing.assert_allclose(data.A[k], np.outer(dx, kw["z"][i]), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(data.B[k], kw["z"][i] * dx, rtol=1e-13, atol=1e-13)
        # <A_il, W> = tr(A_il^T W) is the SVM constraint (x_opt - x_il)^T W z_i; for W = diag(beta) it is B_il.beta
        assert np.trace(data.A[k].T @ W) == pytest.approx(dx @ W @ kw["z"][i], rel=1e-10, abs=1e-10)
        beta = np.diag(W)
        assert data.B[k] @ beta == pytest.approx(dx @ np.diag(beta) @ kw["z"][i], rel=1e-10, abs=1e-10)


def test_inputs_are_copied_and_accept_lists():
    kw = _valid()
    data = al.AttentionData(**{k: v.tolist() for k, v in kw.items()})
    X = kw["X"]
    data2 = al.AttentionData(**kw)
    X[0, 0, 0] += 100.0  # mutating the caller's array must not change the data set
    np.testing.assert_array_equal(data2.X, data.X)
    assert data.X.dtype == np.float64


# -- immutability -------------------------------------------------------------------------------------------


def test_attention_data_is_immutable(demo1):
    for name in ("X", "z", "y", "v", "gamma"):
        with pytest.raises((dataclasses.FrozenInstanceError, AttributeError)):
            setattr(demo1, name, np.zeros(3))
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError)):
        demo1.new_attribute = 1
    # writing into any array the data set exposes raises (numpy's read-only error is a ValueError)
    for name in ("X", "z", "y", "v", "gamma", "opt", "gamma_opt", "pairs", "D", "Z", "A", "B"):
        arr = getattr(demo1, name)
        with pytest.raises(ValueError, match="read-only"):
            arr[(0,) * arr.ndim] = 7
    with pytest.raises(ValueError, match="read-only"):
        demo1.B[...] *= 2


def test_svm_results_unaffected_by_attempted_mutation():
    data = al.make_diagonal_data()
    before = al.solve_svm(data, "l1").value
    with pytest.raises(ValueError):
        data.B[0, 0] = -1.0
    fresh = al.make_diagonal_data()
    assert al.solve_svm(fresh, "l1").value == pytest.approx(before, rel=1e-12)


# -- bad inputs ---------------------------------------------------------------------------------------------


def _raises_naming(arg: str, match: str | None = None, **overrides):
    kw = _valid()
    kw.update(overrides)
    with pytest.raises((ValueError, TypeError)) as exc:
        al.AttentionData(**kw)
    msg = str(exc.value)
    assert re.search(rf"(?<![\w]){re.escape(arg)}(?![\w])", msg), f"message does not name {arg!r}: {msg}"
    if match is not None:
        assert re.search(match, msg), f"message lacks {match!r}: {msg}"
    return msg


@pytest.mark.parametrize("arg, bad, given", [
    ("X", np.zeros((3, 4)), "(3, 4)"),
    ("X", np.zeros((3, 3, 4, 1)), "(3, 3, 4, 1)"),
    ("z", np.zeros((3, 5)), "(3, 5)"),
    ("z", np.zeros((2, 4)), "(2, 4)"),
    ("z", np.zeros(4), "(4,)"),
    ("y", np.ones(2), "(2,)"),
    ("y", np.ones((3, 1)), "(3, 1)"),
    ("v", np.ones(5), "(5,)"),
    ("v", np.ones((4, 1)), "(4, 1)"),
])
def test_wrong_shapes_raise_naming_argument_and_shapes(arg, bad, given):
    msg = _raises_naming(arg, match="shape", **{arg: bad})
    assert given in msg  # what was given
    assert "(n" in msg or "(d" in msg  # the expected shape


@pytest.mark.parametrize("arg", ["X", "z", "y", "v"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_entries_raise(arg, value):
    kw = _valid()
    bad = kw[arg].copy()
    bad.flat[1] = value
    _raises_naming(arg, match="NaN|inf", **{arg: bad})


@pytest.mark.parametrize("y", [[1.0, 0.0, -1.0], [1.0, 2.0, -1.0], [1.0, -1.0, 0.5], [1.0, 1.0, -3.0]])
def test_labels_must_be_plus_minus_one(y):
    _raises_naming("y", match=r"-1.*\+1|\+1.*-1", y=np.array(y))


def test_non_numeric_input_raises():
    _raises_naming("X", X=[["a", "b"], ["c", "d"]])


def test_single_token_raises():
    kw = _valid(L=1)
    _raises_naming("L", match=">= 2", **kw)


@pytest.mark.parametrize("exact", [True, False])
def test_tied_optimal_tokens_raise(exact):
    kw = _valid(n=3, L=4, d=3, seed=2)
    gamma = kw["y"][:, None] * (kw["X"] @ kw["v"])
    i = 1
    best = int(np.argmax(gamma[i]))
    other = (best + 1) % 4
    # make token `other` score exactly as high as the best one (a copy, or a different token with the same score)
    if exact:
        kw["X"][i, other] = kw["X"][i, best]
    else:
        u = np.cross(kw["v"], np.ones(3))  # orthogonal to v: changes the token, not its score
        kw["X"][i, other] = kw["X"][i, best] + u
    with pytest.raises(ValueError, match=rf"sample {i}.*optimal token"):
        al.AttentionData(**kw)


def test_repr_names_sizes(demo1):
    assert repr(demo1) == "AttentionData(n=3, L=3, d=4)"


# -- generators: construction details and bad parameters -----------------------------------------------------


def test_demo1_matches_paper_notes(demo1):
    """The book's diagonal example (chapter 3): n = L = d - 1 = 3, v = e_4, z_i = (1,1,1,0), y = (1,-1,1), score 4, and the B_il."""
    B = np.array([[1, .6, .2], [.9, -.3, .5], [.8, .5, -.4], [1.1, .2, .3], [.7, .9, .1], [1, 0, .6]])
    np.testing.assert_array_equal(demo1.y, [1, -1, 1])
    np.testing.assert_array_equal(demo1.v, [0, 0, 0, 1])
    np.testing.assert_array_equal(demo1.z, np.tile([1.0, 1, 1, 0], (3, 1)))
    np.testing.assert_array_equal(demo1.gamma, np.tile([4.0, 0, 0], (3, 1)))
    np.testing.assert_array_equal(demo1.opt, [0, 0, 0])
    np.testing.assert_allclose(demo1.B[:, :3], B, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(demo1.B[:, 3], 0)
    np.testing.assert_array_equal(demo1.X[:, 0], np.outer(4 * demo1.y, [0, 0, 0, 1]))


def test_demo3_matches_paper_notes(demo3):
    """The book's aligned example (chapter 5): x_1,opt = 4 e_1, z_1 = 2 e_1, x_2,opt = 3 e_2, z_2 = -1.5 e_2; non-optimal tokens in
    pairs c x_opt +- u with u orthogonal to x_opt and v."""
    e = np.eye(demo3.d)
    xo = demo3.X[np.arange(2), demo3.opt]
    np.testing.assert_array_equal(xo, [4 * e[0], 3 * e[1]])
    np.testing.assert_array_equal(demo3.z, [2 * e[0], -1.5 * e[1]])
    assert demo3.L == 3 and demo3.n == 2
    for i in range(2):
        a, b = (l for l in range(3) if l != demo3.opt[i])
        mid = (demo3.X[i, a] + demo3.X[i, b]) / 2
        u = (demo3.X[i, a] - demo3.X[i, b]) / 2
        c = mid @ xo[i] / (xo[i] @ xo[i])
        np.testing.assert_allclose(mid, c * xo[i], atol=1e-15)  # x_a + x_b = 2 c x_opt
        assert u @ xo[i] == 0 and u @ demo3.v == 0 and np.any(u != 0)


def test_diagonal_generator_structure():
    for seed in range(4):
        data = al.make_diagonal_data(5, 4, 6, seed=seed)
        np.testing.assert_array_equal(data.v, np.eye(6)[5])
        np.testing.assert_array_equal(data.B[:, 5], 0)
        assert np.all(data.B[:, 0] >= 0.5) and np.all(data.B[:, 0] <= 1.2)
        np.testing.assert_array_equal(data.gamma_opt, data.gamma_opt[0])
        assert data.gamma_opt[0] >= data.L * np.log(data.n)  # the docstring's default score
    assert al.make_diagonal_data(seed=None, score=7.0).gamma_opt[0] == 7.0


def test_generic_generator_structure():
    data = al.make_generic_data(6, 8, 10, seed=3)
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=2), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(data.z, axis=1), 1.0, rtol=1e-14)
    assert np.linalg.norm(data.v) == pytest.approx(1.0, rel=1e-14)
    eq = al.make_generic_data(5, 4, 6, seed=3, equal_scores=True, score=7.5)
    np.testing.assert_array_equal(eq.gamma_opt, 7.5)
    np.testing.assert_array_equal(np.sort(eq.gamma, axis=1)[:, :-1], 0.0)
    # seeded: the same seed gives the same data, another seed different data
    np.testing.assert_array_equal(al.make_generic_data(seed=1).X, al.make_generic_data(seed=1).X)
    assert not np.array_equal(al.make_generic_data(seed=1).X, al.make_generic_data(seed=2).X)


@pytest.mark.parametrize("call, arg", [
    (lambda: al.make_orthogonal_data(L=4), "L"),
    (lambda: al.make_orthogonal_data(L=1), "L"),
    (lambda: al.make_orthogonal_data(n=3, d=3, seed=0), "d"),
    (lambda: al.make_orthogonal_data(c=1.0), "c"),
    (lambda: al.make_orthogonal_data(c=-1.5), "c"),
    (lambda: al.make_orthogonal_data(n=3), "n"),  # the fixed demo needs n = 2
    (lambda: al.make_orthogonal_data(n=0, seed=0), "n"),
    (lambda: al.make_diagonal_data(4, 3, 4), "n"),  # the fixed demo is n = L = 3, d = 4
    (lambda: al.make_diagonal_data(3, 1, 4, seed=0), "L"),
    (lambda: al.make_generic_data(3, 1, 4), "L"),
    (lambda: al.make_generic_data(3, 3, 1), "d"),
])
def test_generator_bad_parameters(call, arg):
    with pytest.raises(ValueError) as exc:
        call()
    assert re.search(rf"(?<!\w){arg}\b", str(exc.value)), str(exc.value)
