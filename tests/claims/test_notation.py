"""The notation page's claims: Assumption 1-diag against Assumption 4 (its exercise), the SVM table's scope (the
aligned case's nuclear and Frobenius SVMs share a solution, the nuclear one is not unique), Assumption 3's
sufficient gap.

Tests marked ``claims`` are re-run by the test command's claims stage with data moved by a relative 1e-12
(``al.perturbed_inputs``)."""
from pathlib import Path

import jupytext
import numpy as np
import pytest

import attnlib as al

ROOT = Path(__file__).resolve().parents[2]
NOTATION = ROOT / "book" / "notation.md"


def _solution_namespace(label: str) -> dict:
    """Run the page's solution cell of exercise ``label`` (it is self-contained) and return its variables."""
    nb = jupytext.read(NOTATION)
    inside, code = False, []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if f"{{solution-start}} {label}" in cell.source:
                inside = True
            elif inside and "{solution-end}" in cell.source:
                break
        elif inside:
            code.append(cell.source)
    assert len(code) == 1, f"exercise {label}: expected one solution cell, found {len(code)}"
    namespace: dict = {}
    exec(compile(code[0], f"{NOTATION.name}:{label}", "exec"), namespace)  # its claim(...) calls raise if false
    return namespace


@pytest.mark.claims
def test_assumption_4_holds_but_1diag_fails_in_the_original_coordinates():
    """Issue 25 #4: "1-diag holds automatically under Assumption 4" is wrong in the data's coordinates; it holds for
    the rotated problem (42). The page's example fails 1-diag with a margin (a perturbation keeps it failing)."""
    ns = _solution_namespace("notation-ex-1diag")
    data, report = ns["data"], ns["report"]
    assert [report.holds(a) for a in al.ASSUMPTIONS] == [True, False, True, True, True]   # 1, 1-diag, 2, 3, 4
    with pytest.raises(al.InfeasibleSVMError):
        al.solve_svm(data, "l1")
    al.solve_svm(data, "fro")                                        # the full-matrix SVM is feasible
    # the answer's certificate: a positive combination of the B_il vanishes ...
    np.testing.assert_allclose(np.array([1.0, 3.0, 3.0, 3.0]) @ data.B, 0.0, atol=1e-9)
    # ... with the origin inside their hull by a margin, not on its boundary
    assert ns["depths"]["example"] > 0.3 and ns["depths"]["first attempt"] == 0.0
    # in the aligned bases (problem (42)): B_il = (1 - c_i) ||x_opt|| ||z_i|| e_i, separable, l1 solution a_i e_i
    rotated = ns["rotated"]
    assert ns["rotated_report"].holds("1-diag") and ns["rotated_report"].holds("4")
    np.testing.assert_allclose(rotated.B, [[3, 0, 0], [3, 0, 0], [0, 2, 0], [0, 2, 0]], atol=1e-9)
    np.testing.assert_allclose(ns["l1_rotated"], [1 / 3, 1 / 2, 0], atol=1e-6)


def test_the_first_attempt_fails_1diag_only_on_a_knife_edge():
    """The exercise's part 3: u = (0, 0, 1/2) gives B_2l = -B_1l exactly; moving one B_il by 1e-6 makes the data
    diagonally separable, which the tilted example survives."""
    ns = _solution_namespace("notation-ex-1diag")
    B = np.array(ns["weak"].B)
    np.testing.assert_array_equal(B[2:], -B[:2])
    assert not al.check_assumptions(ns["weak"]).holds("1-diag")
    from attnlib.assumptions import lp_feasible

    moved = B + np.array([[1e-6, 0, 0], [1e-6, 0, 0], [0, 0, 0], [0, 0, 0]])
    beta = np.array([3e6, -3e6 - 1, 0.0])                            # nearly orthogonal to (1, 1, 0), of size 3/move
    assert np.all(moved @ beta >= 1 - 1e-6)
    example = np.array(ns["data"].B)
    assert not lp_feasible(example + 0.1 * np.sign(np.random.default_rng(0).standard_normal(example.shape)))


@pytest.mark.claims
def test_svm_table_aligned_case_nuclear_and_frobenius_share_a_solution_which_is_not_unique():
    """Issue 25 #5: under Assumption 4 the W_F solution W° is also a W_* solution, and not the only one."""
    from attnbook.experiments import ch5

    data = ch5.exact_data()
    assert al.check_assumptions(data).holds("4")
    W0 = ch5.closed_form_W(data)
    fro, nuc = al.solve_svm(data, "fro"), al.solve_svm(data, "nuc")
    np.testing.assert_allclose(fro.W, W0, atol=1e-6)
    assert abs(np.linalg.norm(W0, "nuc") / nuc.value - 1) < 1e-6      # W° attains the nuclear optimum
    other = ch5.nuclear_family(data, 0.5)                              # another member of the nuclear solution set
    assert al.margin(data, other) > 1 - 1e-9
    assert abs(np.linalg.norm(other, "nuc") / np.linalg.norm(W0, "nuc") - 1) < 1e-9
    assert np.linalg.norm(other) > np.linalg.norm(W0) * (1 + 1e-3) and np.abs(other - W0).max() > 1e-2


@pytest.mark.claims
@pytest.mark.parametrize("n, L", [(2, 3), (3, 3), (4, 5), (6, 3)])
def test_assumption_3_holds_at_w0_when_the_gap_is_L_ln_n(n, L):
    """The notation page: at W(0) = 0 with equal scores across samples, Delta >= L ln n suffices for Assumption 3."""
    rng = np.random.default_rng(n * 10 + L)
    d = 5
    delta = L * np.log(n)
    X = rng.standard_normal((n, L, d))
    X[:, :, -1] = 0.0
    X[:, 0, -1] = delta                                                # v = e_d: gamma_opt = delta, gamma_nopt = 0
    data = al.AttentionData(X, rng.standard_normal((n, d)), np.ones(n), np.eye(d)[-1])
    report = al.check_assumptions(data)
    assert report.holds("2") and report.holds("3")
    # the page's one-line proof: the condition reads e^{-Delta/L} <= (1 + (n-1) e^{-Delta}) / n, and e^{-Delta/L} = 1/n
    assert np.isclose(np.exp(-delta / L), 1 / n) and (1 + (n - 1) * np.exp(-delta)) / n >= 1 / n
    # half the gap would not do: the condition fails there (the bound is not loose by a factor 2)
    assert np.exp(-0.5 * delta / L) > (1 + (n - 1) * np.exp(-0.5 * delta)) / n
