"""check_assumptions and the generators' promises (paper §3, Assumptions 1-4; erratum E2 of chapter 7).

Verdicts are cross-checked against the definitions computed here: equal non-optimal scores from gamma,
the Assumption-3 bound from its formula, the Assumption-4 geometry from the tokens, separability from the SVMs.
"""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al


def _assumption2(data) -> bool:
    for i in range(data.n):
        nopt = np.delete(data.gamma[i], data.opt[i])
        if nopt.max() - nopt.min() > 1e-9 * np.abs(data.gamma[i]).max():
            return False
    return True


def _assumption3_bound(data) -> float:
    """min_j (1/n) (e^{-gamma_j,nopt} + sum_{i != j} e^{-gamma_i,opt}) (p.8), gamma_nopt = best non-optimal score."""
    g_opt = data.gamma.max(axis=1)
    g_nopt = np.sort(data.gamma, axis=1)[:, -2]
    return min((np.exp(-g_nopt[j]) + np.exp(-g_opt).sum() - np.exp(-g_opt[j])) / data.n for j in range(data.n))


def _assumption4(data, tol=1e-9) -> bool:
    """Assumption 4 (p.11) from the definition: (i) orthogonality, (ii) parallel query, (iii) pairs c x_opt +- u."""
    if data.L % 2 == 0:
        return False
    xo = data.X[np.arange(data.n), data.opt]
    for i in range(data.n):
        for j in range(data.n):
            if i != j and (abs(xo[i] @ xo[j]) > tol or abs(data.z[i] @ data.z[j]) > tol):
                return False
        if abs(abs(xo[i] @ data.z[i]) - np.linalg.norm(xo[i]) * np.linalg.norm(data.z[i])) > tol:
            return False
        rest = [l for l in range(data.L) if l != data.opt[i]]
        while rest:
            a = rest.pop(0)
            partner = [b for b in rest
                       if abs(xo[i] @ (data.X[i, a] - data.X[i, b])) <= tol
                       and np.allclose(data.X[i, a] + data.X[i, b],
                                       2 * (data.X[i, a] @ xo[i] / (xo[i] @ xo[i])) * xo[i], atol=tol)]
            if not partner:
                return False
            rest.remove(partner[0])
            c = data.X[i, a] @ xo[i] / (xo[i] @ xo[i])
            if not -1 - tol <= c < 1:
                return False
    return True


def _verdicts(data, W0=None) -> dict:
    r = al.check_assumptions(data, W0)
    return {name: r.holds(name) for name in al.ASSUMPTIONS}


# -- the generators keep their docstrings' promises -----------------------------------------------------------

DIAGONAL = [dict(), *(dict(n=n, L=L, d=d, seed=s) for s, (n, L, d) in enumerate([(3, 3, 4), (5, 4, 6), (8, 6, 3),
                                                                                   (2, 2, 2), (6, 8, 10)]))]


@pytest.mark.parametrize("kw", DIAGONAL, ids=str)
def test_diagonal_generator_assumptions(kw):
    """Docstring: Assumption 2, 1-diag (hence 1) and 3 at W = 0 hold; not Assumption 4."""
    data = al.make_diagonal_data(**kw)
    v = _verdicts(data)
    assert v["1"] and v["1-diag"] and v["2"] and v["3"] and not v["4"]
    assert _assumption2(data) and not _assumption4(data)
    assert al.exp_loss(data, np.zeros((data.d, data.d))) <= _assumption3_bound(data)
    # the separator the docstring names: beta = c e_1 with c = 1 / min_il b_il[0]
    beta = np.zeros(data.d)
    beta[0] = 1 / data.B[:, 0].min()
    assert (data.B @ beta).min() >= 1 - 1e-12


ORTHOGONAL = [dict(), dict(c=0.5), dict(c=-1.0), *(dict(n=n, L=L, d=d, seed=s, c=c) for s, (n, L, d, c) in
                                                   enumerate([(1, 3, 2, 0.0), (3, 5, 5, 0.25), (4, 7, 6, -0.5),
                                                              (3, 3, 7, 0.9), (5, 5, 6, 0.0)]))]


@pytest.mark.parametrize("kw", ORTHOGONAL, ids=str)
def test_orthogonal_generator_assumptions(kw):
    """Docstring: Assumptions 1, 1-diag, 2 and 4 hold (3 at W = 0 for the defaults)."""
    data = al.make_orthogonal_data(**kw)
    v = _verdicts(data)
    assert v["1"] and v["1-diag"] and v["2"] and v["4"]
    assert _assumption2(data) and _assumption4(data)
    # consequence (notation page, Assumption 2): gamma_nopt = c_i gamma_opt with gamma_opt > 0
    c = kw.get("c", 0.0)
    assert np.all(data.gamma_opt > 0)
    for i in range(data.n):
        np.testing.assert_allclose(np.delete(data.gamma[i], data.opt[i]), c * data.gamma_opt[i], atol=1e-12)
    if "seed" not in kw and "c" not in kw:
        assert v["3"]
        assert al.exp_loss(data, np.zeros((data.d, data.d))) <= _assumption3_bound(data)


@pytest.mark.parametrize("seed", range(5))
def test_generic_generator_assumptions(seed):
    """Docstring: generic data fail Assumption 2 and (n (L-1) <= d^2) are separable; equal_scores=True meets 2,
    and 3 at W = 0 when score >= L ln n."""
    data = al.make_generic_data(seed=seed)
    v = _verdicts(data)
    assert not v["2"] and not _assumption2(data)
    assert v["1"] and not v["4"]
    eq = al.make_generic_data(4, 3, 4, seed=seed, equal_scores=True)
    assert eq.gamma_opt[0] >= eq.L * np.log(eq.n)
    v = _verdicts(eq)
    assert v["2"] and v["3"] and _assumption2(eq)
    assert al.exp_loss(eq, np.zeros((4, 4))) <= _assumption3_bound(eq)
    # a too-small score breaks Assumption 3 at W = 0 (uniform attention loses too much)
    low = al.make_generic_data(6, 8, 10, seed=seed, equal_scores=True, score=1.0)
    assert not al.check_assumptions(low).holds("3")
    assert al.exp_loss(low, np.zeros((10, 10))) > _assumption3_bound(low)


def test_demo1_assumption3_numbers(demo1):
    """The book's diagonal example (chapter 3): Assumption 3 holds at W = 0, 0.264 <= 0.346; here L(0) = e^{-4/3} and the bound is
    (1 + 2 e^{-4}) / 3 (gamma_opt = 4, gamma_nopt = 0 for every sample)."""
    L0 = al.exp_loss(demo1, np.zeros((4, 4)))
    assert L0 == pytest.approx(np.exp(-4 / 3), rel=1e-14)
    assert _assumption3_bound(demo1) == pytest.approx((1 + 2 * np.exp(-4)) / 3, rel=1e-14)
    assert round(L0, 3) == 0.264 and round(_assumption3_bound(demo1), 3) == 0.346
    report = al.check_assumptions(demo1)
    assert report.holds("3")


def test_generic_equal_scores_is_not_diagonally_separable(generic_eq):
    """The data the book uses to contrast W_* and W_F: separable, but no diagonal W separates (erratum E2)."""
    v = _verdicts(generic_eq)
    assert v["1"] and not v["1-diag"] and v["2"]


# -- Assumption 3 with a given initialisation ------------------------------------------------------------------


@pytest.mark.parametrize("data", ["demo1", "demo3", "generic_eq"], indirect=True)
def test_assumption3_depends_on_W0(data):
    Ws = al.solve_svm(data, "fro").W
    bad = al.check_assumptions(data, W0=-10 * Ws)
    assert not bad.holds("3")
    assert al.exp_loss(data, -10 * Ws) > _assumption3_bound(data)
    assert bad["3"].sample is not None
    with pytest.raises(al.AssumptionError, match=r"Assumption 3\b"):
        bad.require("3")
    # far along the SVM direction the loss is within (L-1) Delta_max e^-50 of L*, far below the bound
    good = al.check_assumptions(data, W0=50 * Ws / al.margin(data, Ws))
    assert good.holds("3")


def test_assumption3_bad_W0_shape_raises(demo1):
    with pytest.raises(ValueError, match=r"\bW0\b.*shape"):
        al.check_assumptions(demo1, W0=np.zeros((3, 3)))


# -- Assumption 4: each clause, and require() -------------------------------------------------------------------


def _demo3_with(change):
    d = al.make_orthogonal_data()
    kw = {k: np.array(getattr(d, k)) for k in ("X", "z", "y", "v")}
    change(kw)
    return al.AttentionData(**kw)


def _tilt_query(kw):  # (ii): z_1 no longer parallel to x_1,opt = 3 e_2 (still orthogonal to z_0 = 2 e_1)
    kw["z"][1, 3] = 0.5


def _break_pair(kw):  # (iii): shift one token of sample 1's pair along an axis orthogonal to x_opt and v
    kw["X"][1, 1, 2] += 0.25


def _bad_c(kw):  # (iii): pair parameter c = -1.5 outside [-1, 1)
    xo = kw["X"][1, 0]
    u = kw["X"][1, 1] - kw["X"][1, 2]
    kw["X"][1, 1], kw["X"][1, 2] = -1.5 * xo + u / 2, -1.5 * xo - u / 2


def _rotate_opt(kw):  # (i): x_1,opt gets a component along x_0,opt; its score is unchanged (v = e_0 + e_1)
    kw["X"][1, 0] = kw["X"][1, 0] + np.array([1.0, -1.0, 0, 0])


@pytest.mark.parametrize("change, clause", [(_tilt_query, "(ii)"), (_break_pair, "(iii)"), (_bad_c, "(iii)"),
                                            (_rotate_opt, "(i)")])
def test_assumption4_failures_name_clause_and_sample(change, clause):
    data = _demo3_with(change)
    assert not _assumption4(data)
    report = al.check_assumptions(data)
    assert not report.holds("4")
    assert clause in report["4"].reason
    with pytest.raises(al.AssumptionError) as exc:
        report.require("2", "4")
    msg = str(exc.value)
    assert "Assumption 4" in msg
    if clause != "(i)":
        assert report["4"].sample == 1 and "sample 1" in msg


def test_assumption4_needs_odd_L(demo1):
    data = al.make_diagonal_data(3, 4, 4, seed=0)
    assert not al.check_assumptions(data).holds("4")
    with pytest.raises(al.AssumptionError, match="Assumption 4"):
        al.check_assumptions(data).require("4")


def test_require(demo3, demo1):
    assert issubclass(al.AssumptionError, ValueError)
    al.check_assumptions(demo3).require(*al.ASSUMPTIONS)  # all hold: no error
    report = al.check_assumptions(demo1)
    report.require("1", "1-diag", "2", "3")
    with pytest.raises(al.AssumptionError, match=r"Assumption 4 .*fails.*sample \d"):
        report.require("2", "4")
    with pytest.raises(KeyError):
        report.require("5")


def test_assumption2_failure_names_sample():
    data = al.make_diagonal_data()
    kw = {k: np.array(getattr(data, k)) for k in ("X", "z", "y", "v")}
    kw["X"][2, 1, 3] = 0.5 * kw["y"][2]  # sample 2's first non-optimal token now scores 0.5, the other 0
    data = al.AttentionData(**kw)
    report = al.check_assumptions(data)
    assert not report.holds("2") and report["2"].sample == 2
    with pytest.raises(al.AssumptionError, match=r"Assumption 2 .*sample 2"):
        report.require("2")


def test_report_lists_every_assumption(demo1):
    report = al.check_assumptions(demo1)
    text, md = str(report), report._repr_markdown_()
    for name in al.ASSUMPTIONS:
        assert isinstance(report[name].reason, str) and report[name].reason
        assert name in text and name in md
    with pytest.raises(TypeError):
        al.check_assumptions(demo1.X)


def test_stuck_loss_bounds_are_assumption_3s_right_hand_sides(demo1):
    # sample j on its best non-optimal token, every other on its optimal one: the loss of that attention pattern
    b = al.assumptions.stuck_loss_bounds(demo1)
    e_opt = np.exp(-demo1.gamma_opt)
    for j in range(demo1.n):
        nopt = max(demo1.gamma[j, l] for l in range(demo1.L) if l != demo1.opt[j])
        assert b[j] == pytest.approx((np.exp(-nopt) + e_opt.sum() - e_opt[j]) / demo1.n, rel=1e-14)
    report = al.check_assumptions(demo1)
    assert f"{b.min():.4g}" in report["3"].reason


def _scaled(data, sx=1.0, sz=1.0, sv=1.0):
    return al.AttentionData(data.X * sx, data.z * sz, data.y, data.v * sv)


@pytest.mark.claims
@pytest.mark.parametrize("s", [1e-10, 1e-5, 1e5, 1e10, 1e100])
def test_assumption_verdicts_do_not_change_with_the_data_scale(s):
    """Issue 27, finding 8: Assumptions 2 and 4 used absolute tolerances, so tokens x 1e-10 made Assumption 2
    "hold" on generic data whose non-optimal scores are 52 % apart, and (with the LP and Assumption 3 in linear
    space) tokens x 1e5 or 1e100 ended in overflow errors. The verdicts are now those of the unscaled data at every
    scale of the tokens, the queries and v."""
    for data in (al.make_generic_data(6, 8, 10, 0), al.make_diagonal_data(4, 3, 5, seed=1),
                 al.make_orthogonal_data(2, 3, 4, seed=0)):
        ref = al.check_assumptions(data)
        for scaled in (_scaled(data, sx=s), _scaled(data, sx=s, sz=s), _scaled(data, sv=s)):
            rep = al.check_assumptions(scaled)
            assert [rep.holds(a) for a in ("1", "1-diag", "2", "4")] == \
                [ref.holds(a) for a in ("1", "1-diag", "2", "4")], (s, str(rep))


def test_assumption_2_fails_on_tiny_tokens_with_unequal_scores():
    data = _scaled(al.make_generic_data(6, 8, 10, 0), sx=1e-10)
    check = al.check_assumptions(data)["2"]
    assert not check.holds and check.sample == 0


def test_assumption_4_is_relative_like_aligned_bases():
    """Orthogonal data with sample 1's optimal token turned by a cosine of 1e-4 towards sample 0's, then x 1e-5:
    aligned_bases refuses it (not orthogonal), and so does Assumption 4 now (it held: an absolute 1e-9)."""
    base = al.make_orthogonal_data(2, 3, 4, seed=0)
    X = np.array(base.X)
    o0, o1 = base.opt
    X[1, o1] += 1e-4 * np.linalg.norm(X[1, o1]) * X[0, o0] / np.linalg.norm(X[0, o0])
    data = _scaled(al.AttentionData(X, base.z, base.y, base.v), sx=1e-5, sz=1e-5)
    with pytest.raises(ValueError, match="orthogonal optimal tokens"):
        al.aligned_bases(data)
    check = al.check_assumptions(data)["4"]
    assert not check.holds and "(i) fails" in check.reason


def test_assumption_3_in_log_space_for_huge_scores():
    """Scores of about -3e3 (v x 5000): L(0) and the bounds overflow float64 (check_assumptions raised the loss's
    overflow error); the verdict now comes from logs, equal to the one computed here from the formulas."""
    from scipy.special import logsumexp
    base = al.make_generic_data(4, 5, 6, 0)
    for sv in (5000.0, -5000.0):
        data = _scaled(base, sv=sv)
        log_loss0 = logsumexp(-data.gamma.mean(axis=1)) - np.log(data.n)  # W = 0: uniform attention
        nopt = np.array([np.delete(data.gamma[j], data.opt[j]).max() for j in range(data.n)])
        log_bound = min(logsumexp(np.r_[-nopt[j], np.delete(-data.gamma_opt, j)]) - np.log(data.n)
                        for j in range(data.n))
        assert max(log_loss0, log_bound) > 709  # beyond float64
        check = al.check_assumptions(data)["3"]
        assert check.holds == (log_loss0 <= log_bound) and "e^" in check.reason
