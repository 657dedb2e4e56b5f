"""benchmarks/flow.py part 4: its arc-length flow is the library's gradient flow, reparameterised (issue 27,
finding 14). The benchmark's counts and path errors rest on these checks."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import attnlib as al
import attnlib.dynamics as dy


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_flow", Path(__file__).parents[2] / "benchmarks" / "flow.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def data():
    return al.make_generic_data(4, 5, 6, seed=0)


def test_arc_field_jacobian_matches_finite_differences(bench, data):
    """The analytic Jacobian of (v/||v||, 1/||v||) in (W, tau), against central differences at a random state."""
    d = data.d
    fun, jac = bench.arc_field(dy.FlowModel(data, "W", [np.zeros((d, d))], "exp"))
    y = np.append(np.random.default_rng(0).normal(size=d * d), 2.0)
    h = 1e-6
    fd = np.column_stack([(fun(0.0, y + h * e) - fun(0.0, y - h * e)) / (2 * h) for e in np.eye(y.size)])
    J = jac(0.0, y)
    assert np.abs(J - fd).max() <= 1e-7 * np.abs(J).max()


@pytest.mark.parametrize("method, rtol", [("DOP853", 1e-10), ("BDF", 1e-10)])
def test_arc_flow_reproduces_the_log_time_flow(bench, data, method, rtol):
    """W at equal physical time t (found on the arc-length run's clock tau = ln(1 + t)) is the library's W(t): a
    wrong reparameterisation (direction not normalised, wrong clock rate) or time map (ln t for ln(1 + t)) would
    miss by far more than 1e-7 at t = 0.5, 10 and 1e4."""
    d = data.d
    run = bench.arc_flow(data, method, rtol, dense=True, sigma_max=25.0)
    times = np.array([0.5, 10.0, 1e4])
    lib = al.gradient_flow(data, "W", np.zeros((d, d)), times[-1], t_eval=np.r_[0.0, times], rtol=1e-11)
    for t, W in zip(times, lib.W[1:]):
        assert bench.relative_path_error(run.W(run.sigma_at_time(t)), W) < 1e-7, t
    assert run.nfev > 0 and (run.njev > 0) == (method == "BDF")  # BDF steps with the analytic Jacobian


def test_arc_flow_event_time_is_the_log_time_flows(bench, data):
    """Where the arc-length run's cosine with a target direction reaches 0.999, W and ln t agree with the library's
    flow at that time (the time map at the event the benchmark reports). The target is the flow's own W at
    ln t = 60 (cheaper than the SVM's solve; the cosine with it crosses 0.999 at ln t ~ 30)."""
    d = data.d
    target = al.gradient_flow(data, "W", np.zeros((d, d)), rtol=1e-11, log_t_end=60.0, log_t_eval=[60.0]).W[-1]
    run = bench.arc_flow(data, "DOP853", 1e-10, target)
    assert 50.0 < run.sigma_star < 300.0
    W_event = run.sol.y_events[0][0][:-1].reshape(d, d)
    assert al.cosine(W_event, target) == pytest.approx(bench.TARGET_COS, abs=1e-9)
    ls = run.log_t_star()
    lib = al.gradient_flow(data, "W", np.zeros((d, d)), rtol=1e-11, log_t_end=ls, log_t_eval=[ls])
    assert bench.relative_path_error(W_event, lib.W[-1]) < 1e-7


def test_normalised_gd_is_explicit_euler_on_the_arc_length_field(bench, data):
    """Part 5 compares normalised GD with the flow at equal arc length because one normalised GD step of size lr is
    one explicit Euler step of the arc-length ODE: W + lr * (v / ||v||). A step along the raw gradient, or one
    normalised by another norm, would differ by far more than rounding."""
    d = data.d
    fun, _ = bench.arc_field(dy.FlowModel(data, "W", [np.zeros((d, d))], "exp"))
    W = np.random.default_rng(1).normal(size=(d, d))
    step = al.gradient_descent(data, "W", W, 0.1, 1, normalized=True, n_save=2).W[-1]
    euler = W + 0.1 * fun(0.0, np.append(W.ravel(), 0.0))[:-1].reshape(d, d)
    assert np.abs(step - euler).max() <= 1e-14 * np.abs(W).max()


def test_gd_to_cos_counts_the_first_step_that_reaches_the_cosine(bench, data):
    """The step count of part 5 is exact: the cosine with the target is below 0.999 one step before it and at or
    above 0.999 at it (chunked runs restart from the saved W, so they are the same iterates)."""
    d = data.d
    target = al.gradient_flow(data, "W", np.zeros((d, d)), rtol=1e-11, log_t_end=60.0, log_t_eval=[60.0]).W[-1]
    steps = bench.gd_to_cos(data, target, True, 0.1, 10**6)["nfev"]
    before, at = (al.gradient_descent(data, "W", np.zeros((d, d)), 0.1, k, normalized=True, n_save=2).W[-1]
                  for k in (steps - 1, steps))
    assert al.cosine(before, target) < bench.TARGET_COS <= al.cosine(at, target)


def test_normalised_gd_error_is_first_order_in_lr(bench, data):
    """Part 5 extrapolates normalised GD's cost as C / e steps for a path error e; that rests on its error being
    proportional to lr (explicit Euler): path error x steps agrees at lr 0.1 and 0.01 to 10 %."""
    d = data.d
    target = al.gradient_flow(data, "W", np.zeros((d, d)), rtol=1e-11, log_t_end=30.0, log_t_eval=[30.0]).W[-1]
    ref = bench.arc_flow(data, "DOP853", 1e-11, target, dense=True, end_cos=0.9995)
    products = [c.path * c.nfev for c in (bench.normalised_gd_cost(data, target, lr, ref) for lr in (0.1, 0.01))]
    assert products[1] == pytest.approx(products[0], rel=0.1)


def test_cheapest_counts_the_clock_and_skips_runs_above_the_level(bench):
    """A run counts at a level only when both its path and its clock error are within it (normalised GD has no
    clock: nan); the run of least work (evaluations + a Hessian's price x Hessians) is chosen."""
    runs = [bench.Cost("a", 1e-3, 100, 0, 0.0, 1e-7, 1e-3), bench.Cost("a", 1e-4, 300, 0, 0.0, 1e-5, 1e-5),
            bench.Cost("a", 1e-5, 200, 2, 0.0, 1e-6, 1e-6), bench.Cost("gd", 0.1, 50, 0, 0.0, 1e-5, float("nan"))]
    assert bench.cheapest(runs, 1e-5, 10.0).nfev == 50
    assert bench.cheapest(runs[:3], 1e-5, 10.0).nfev == 200  # 200 + 2 x 10 < 300
    assert bench.cheapest(runs[:3], 1e-5, 100.0).nfev == 300  # 200 + 2 x 100 > 300
    assert bench.cheapest(runs[:3], 1e-7, 10.0) is None


def test_hessian_cost_is_a_price_above_one_gradient(bench, data):
    """A Hessian (d^2 x d^2 here) costs more CPU than one gradient; the price is finite and positive."""
    h = bench.hessian_cost(data, np.random.default_rng(2).normal(size=(data.d, data.d)))
    assert 1.0 < h < 1e4
