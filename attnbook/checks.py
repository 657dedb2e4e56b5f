"""Self-checks for the book's numeric exercises: ``attnbook.checks.<exercise_label>(answer)``.

Each check computes the right value with the library at every call (nothing is stored or cached), compares the
student's answer with it and prints "Right", "Close" (within ten times the tolerance) or "Not yet", never the value
itself. For a real-valued answer off by more than a factor 2 it also says in which direction (too large / too
small): far from the value, that teaches (a missing factor, a wrong formula) without letting a few tries home in
on it. A count gets no direction: a few tries would find it. The references are computed inside each check, by no
public helper, and for self-study only: the course's graded questions (:mod:`attnbook.course`) ask for other
variants of these exercises, whose values are in the instructor's autograder alone. The function name is the exercise's label with ``-`` replaced
by ``_`` (exercise ``ch4-ex-omega`` -> ``attnbook.checks.ch4_ex_omega``). Returns ``True`` when the answer is right.

>>> from attnbook import checks
>>> checks.ch7_ex_e2(3)               # doctest: +SKIP
Not yet: ...
"""
from __future__ import annotations

import numpy as np

from attnlib._validate import check_scalar
from attnlib.assumptions import check_assumptions
from attnlib.data import make_diagonal_data, make_generic_data, make_orthogonal_data
from attnlib.diagnostics import beta_velocity
from attnlib.flow import gradient_flow
from attnlib.svm import solve_svm

__all__ = ["CHECKS", "ch4_ex_omega", "ch5_ex_closed", "ch7_ex_e2", "ch7_ex_e6", "num_ex_digits"]


def _number(answer) -> float:
    return check_scalar(answer, "answer")


def _verdict(label: str, ok: bool, hint: str, answer: float | None = None, truth: float | None = None,
             rel: float | None = None) -> bool:
    """Print the verdict; with ``answer``, ``truth`` and ``rel`` (a real-valued answer), say "close" or the
    direction when that is safe (module docstring)."""
    if ok:
        print(f"Right ({label}).")
        return True
    detail = ""
    if answer is not None and truth is not None and rel is not None:
        if abs(answer - truth) <= 10 * rel * abs(truth):
            detail = "close, but outside the tolerance: check the last digits of your computation. "
        elif truth != 0 and (answer / truth > 2 or answer / truth < 0.5):
            side = "too large" if abs(answer) > abs(truth) else "too small"
            sign = " (and of the wrong sign)" if answer * truth < 0 else ""
            detail = f"far off: {side} by more than a factor 2{sign}. "
        else:
            detail = "wrong, within a factor 2. "
    print(f"Not yet ({label}): {detail}{hint}")
    return False


def _close(answer: float, truth: float, rel: float) -> bool:
    return abs(answer - truth) <= rel * abs(truth)


def _graded(label: str, answer, truth: float, rel: float, hint: str) -> bool:
    value = _number(answer)
    return _verdict(label, _close(value, truth, rel), hint, value, truth, rel)


def ch4_ex_omega(answer) -> bool:
    """Exercise ch4-ex-omega: the constant ``C = ||ln(2|beta*_S| / omega_0^2)||_2`` for ``omega_0 = 1``
    (chapter 4's diagonal data). Right within 1 %."""
    beta = solve_svm(make_diagonal_data(), "l1").beta
    support = np.abs(beta) > 1e-8 * np.abs(beta).max()
    truth = float(np.linalg.norm(np.log(2 * np.abs(beta[support]))))        # omega_0 = 1
    return _graded("ch4-ex-omega", answer, truth, 1e-2,
                   "take the support S of the l1-SVM solution beta* and omega_0 = 1 in the formula.")


def ch5_ex_closed(answer) -> bool:
    """Exercise ch5-ex-closed: the nuclear SVM's optimal value on
    ``make_orthogonal_data(n=3, L=5, d=6, seed=1, c=0.3)``. Right within 1e-4 relative."""
    truth = solve_svm(make_orthogonal_data(n=3, L=5, d=6, seed=1, c=0.3), "nuc").value
    return _graded("ch5-ex-closed", answer, truth, 1e-4,
                   "solve the nuclear SVM (or sum the a_i of the closed form) for exactly these data.")


def ch7_ex_e2(answer) -> bool:
    """Exercise ch7-ex-e2: how many of seeds 0..19 of ``make_generic_data(4, 3, 4, seed, equal_scores=True)``
    satisfy Assumption 1 but not Assumption 1-diag. Right if exact."""
    count = 0
    for seed in range(20):
        report = check_assumptions(make_generic_data(4, 3, 4, seed, equal_scores=True))
        count += report.holds("1") and not report.holds("1-diag")
    value = _number(answer)
    return _verdict("ch7-ex-e2", value == count, "count the seeds where Assumption 1 holds AND 1-diag fails.")


def ch7_ex_e6(answer) -> bool:
    """Exercise ch7-ex-e6: the factor by which the printed E6 formula misses on
    ``make_diagonal_data(5, 3, 6, seed=0)``. Right within 1e-6 relative."""
    data = make_diagonal_data(5, 3, 6, seed=0)
    w = 0.3 * np.ones(data.d)
    a = np.linspace(0.1, 1.0, data.d)
    xi_k, xi_q = np.sqrt(2) * w * np.cosh(a), np.sqrt(2) * w * np.sinh(a)
    beta_dot, corrected = beta_velocity(data, xi_k, xi_q, w)
    printed = corrected / data.n
    keep = np.abs(printed) > 1e-12
    truth = float(np.median(beta_dot[keep] / printed[keep]))
    return _graded("ch7-ex-e6", answer, truth, 1e-6,
                   "divide beta' by the printed right-hand side, coordinate by coordinate.")


def num_ex_digits(answer) -> bool:
    """Exercise num-ex-digits: how many steps gradient descent with ``eta = 0.1`` needs to reach the time at which
    the flow's cosine with the Frobenius SVM first reaches 0.999 (on the saved grid). Right within a factor 2."""
    value = _number(answer)
    data = make_generic_data()
    traj = gradient_flow(data, "W", np.zeros((data.d, data.d)), t_end=1e300)
    reached = np.flatnonzero(traj.cosine_to(solve_svm(data, "fro").W) >= 0.999)
    if reached.size == 0:
        raise RuntimeError("the reference flow did not reach the target cosine; report this as a bug")
    truth = float(traj.t[reached[0]]) / 0.1
    ok = truth / 2 <= value <= 2 * truth
    # a factor-2 tolerance: "close" would say little, the direction is safe only far away (a factor 100)
    far = "" if ok or truth / 100 <= value <= 100 * truth else \
        f"far off: too {'large' if value > truth else 'small'} by more than a factor 100. "
    return _verdict("num-ex-digits", ok, far + "gradient descent with step eta covers time eta per step: "
                    "steps = t / eta.")


#: exercise label -> self-check (the student edition points each numeric exercise to its check)
CHECKS = {"ch4-ex-omega": ch4_ex_omega, "ch5-ex-closed": ch5_ex_closed, "ch7-ex-e2": ch7_ex_e2,
          "ch7-ex-e6": ch7_ex_e6, "num-ex-digits": num_ex_digits}
