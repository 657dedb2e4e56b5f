"""Steps below the spacing of t (attnlib.dynamics.guarded_solve measures time from each start of the method).

In log time ``s = log t`` a late attention switch lasts a ``Delta s`` that shrinks like ``e^{-s}`` (a fixed stretch
of physical time): late in the flow that is below the spacing of ``s`` itself. scipy's BDF and Radau refused such steps ("Required
step size is less than spacing between numbers"), so ``method="BDF"``/``"Radau"`` failed where LSODA (which keeps
stepping when ``t + h == t``) succeeded (issue 27 finding 14). Both tests fail on the code before the fix.
"""
from __future__ import annotations

import numpy as np
import pytest

import attnlib as al
from attnlib.dynamics import SolverOptions, solve


@pytest.mark.parametrize("method", ["BDF", "Radau"])
def test_a_transient_far_below_the_spacing_of_t(method):
    """Logistic growth at rate 1e20 starting at t = 50: the switch takes ~7e-19, below the spacing of 50 (7e-15).
    Before: "Required step size is less than spacing between numbers" at the first step."""
    rate = 1e20

    def fun(t, y):
        return rate * y * (1.0 - y)

    def jac(t, y):
        return np.array([[rate * (1.0 - 2.0 * y[0])]])

    options = SolverOptions(method=method, rtol=1e-8, atol=1e-40)
    sol = solve(fun, jac, (50.0, 51.0), np.array([1e-30]), [50.0, 51.0], options, guard=lambda a, b: 0.0)
    assert sol.success, sol.message
    assert sol.t.tolist() == [50.0, 51.0]
    assert sol.y[0, 0] == 1e-30 and sol.y[0, -1] == pytest.approx(1.0, rel=1e-8)


def _late_switch_data():
    """The smallest generator case found where BDF failed: n=10, L=8, d=10, seed 3 (a sample switches tokens
    in log time at a step below the spacing of s; 0.5 s to fail before the fix)."""
    return al.make_generic_data(10, 8, 10, seed=3)


@pytest.mark.slow  # a tight LSODA reference and the implicit methods to t = 1e300
@pytest.mark.parametrize("method, tol", [("BDF", 1e-5), ("Radau", 1e-7)])
def test_implicit_methods_follow_the_flow_across_a_late_switch(method, tol):
    """``gradient_flow(..., method="BDF" / "Radau")`` returns the path of a tight LSODA reference to t = 1e300.
    Measured: BDF 1.4e-6 relative path error (11,201 evaluations, 19 Hessians), Radau 6.9e-9 (25,751, 312)."""
    data = _late_switch_data()
    W0 = np.zeros((data.d, data.d))
    ref = al.gradient_flow(data, "W", W0, 1e300, rtol=1e-11)
    tr = al.gradient_flow(data, "W", W0, 1e300, method=method)
    assert tr.method == "gradient_flow" and np.array_equal(tr.t, ref.t)
    assert float(al.path_error(tr, ref).max()) <= tol


def test_an_event_in_the_first_step_from_t_0_is_located():
    """Issue 27 fuzz leftover: a terminal event crossed in the first step from ``t = 0`` was located by brentq
    with ``xtol = 4 eps |t_old| = 0``, and scipy's ``ValueError: xtol too small (0 <= 0)`` escaped (first seen in
    the frame switch of ``gradient_flow`` on orthogonal data with queries x 100, "KQ")."""
    def crossing(t, y):
        return y[0] - 1e-20

    crossing.terminal, crossing.direction = True, 1
    for method in ("LSODA", "BDF", "RK45"):
        sol = solve(lambda t, y: np.array([1.0]), lambda t, y: np.zeros((1, 1)), (0.0, 1e3), np.array([0.0]), [],
                    SolverOptions(method=method, rtol=1e-8, atol=1e-12), events=[crossing], guard=lambda a, b: 0.0)
        assert sol.status == 1, (method, sol.message)
        assert sol.t_events[0][0] == pytest.approx(1e-20, rel=1e-3), method
