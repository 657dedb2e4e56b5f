"""Benchmark: attnlib's exact gradient flow against fixed-step and normalised gradient descent.

Run from the repository root:

    .venv/bin/python benchmarks/flow.py            # full run (the large data set takes many minutes)
    .venv/bin/python benchmarks/flow.py --quick    # CI setting, < 60 s: Tarzanagh et al.'s setup only, GD capped at 1e4 steps
    .venv/bin/python benchmarks/flow.py --arc      # part 4 only (the flow in arc length), both data sets
    .venv/bin/python benchmarks/flow.py --precision  # part 5 only (work against precision), both data sets

The parts (see benchmarks/README.md):
1. Cost to reach cosine 0.999 with the Frobenius SVM, training W from 0: exact GF vs GD (lr 0.1) vs normalised GD
   (lr 0.1), on the setup of Tarzanagh et al.'s public notebooks (n=6, L=8, d=10) and a larger one (n=50, L=16, d=32; full run only).
2. GF path error against a rtol=1e-11 reference at every saved time up to t=1e300, and gradient evaluations,
   at d <= 10 (target: error <= 1e-6 with <= 5,000 evaluations).
1b. The solvers side by side (LSODA, BDF, Radau; analytic or finite-difference Jacobian) to the same time.
3. The longest wall time of one flow (to t=1e300) on the book's data sets (target <= 1 s).
4. The same flow in arc length (``--arc`` runs only this part, on both data sets; the full run includes it):
   evaluations to cosine 0.999 and path error against a tight arc-length reference, which is itself checked
   against the library's log-time flow at rtol 1e-11.
5. Work against precision (``--precision`` runs only this part; the full run includes it): every flow on one
   tolerance grid and normalised GD at several step sizes, compared at equal path and clock error.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import lu_factor
from scipy.optimize import brentq, minimize_scalar
from threadpoolctl import threadpool_limits

import attnlib as al
import attnlib.dynamics as dy
from attnlib.kernels import log_expm1

TARGET_COS = 0.999
TARGET_ERR, TARGET_NFEV, TARGET_WALL = 1e-6, 5000, 1.0


def full_flow(data):
    """Exact GF from W = 0 to t = 1e300 (200 saved times) and its CPU seconds."""
    c0 = time.process_time()
    full = al.gradient_flow(data, "W", np.zeros((data.d, data.d)), 1e300)
    return full, time.process_time() - c0


def relevant_svm(data, full):
    """The SVM the flow from W = 0 converges to: the Frobenius SVM of the optimal tokens, or, when the flow
    selects other tokens (a locally optimal direction), the Frobenius SVM of that selection."""
    selection = np.argmax(al.attention(data, full.final()), axis=1)
    if np.array_equal(selection, data.opt):
        return al.solve_svm(data, "fro").W, "Frobenius SVM"
    wrong = int(np.sum(selection != data.opt))
    return (al.solve_selection_svm(data, selection, "fro").W,
            f"selection SVM ({wrong} of {data.n} samples select a non-optimal token)")


def gf_to_cos(data, W_svm, full, cpu):
    """Exact GF from W = 0: the first saved time of ``full`` (200, log-log spaced to 1e300) with cosine >= 0.999,
    then a fresh run to exactly that time so nfev and wall time count only what is needed."""
    cos = full.cosine_to(W_svm)
    hit = np.flatnonzero(np.nan_to_num(cos) >= TARGET_COS)
    if hit.size == 0:
        return dict(nfev=full.nfev, njev=full.njev, wall=full.wall_time, cpu=cpu, cos=float(cos[-1]),
                    reached=False, where="t=1e300")
    t_star = float(full.t[hit[0]])
    c0 = time.process_time()
    tr = al.gradient_flow(data, "W", np.zeros((data.d, data.d)), t_star, t_eval=[0.0, t_star])
    return dict(nfev=tr.nfev, njev=tr.njev, wall=tr.wall_time, cpu=time.process_time() - c0,
                cos=float(tr.cosine_to(W_svm)[-1]), reached=True, where=f"t={t_star:.3g}")


def gd_to_cos(data, W_svm, normalized, lr, cap):
    """(Normalised) GD from W = 0 to the first step where the cosine with ``W_svm`` is >= 0.999, or ``cap`` steps.

    The cosine is checked after chunks growing by 20 %; the first chunk that reaches it is run again from its start
    in chunks of an eighth of its size, down to single steps, so the step count is exact. The chunks run again (at
    most 8/7 of the last chunk) are counted neither in the evaluations nor in the CPU seconds."""
    W = np.zeros((data.d, data.d))
    steps = nfev = 0
    chunk, cos, cpu, wall = 10, float("nan"), 0.0, 0.0
    while steps < cap:
        n = int(min(chunk, cap - steps))
        c0 = time.process_time()
        tr = al.gradient_descent(data, "W", W, lr, n, normalized=normalized, n_save=2)
        c1 = time.process_time() - c0
        cos_n = al.cosine(tr.W[-1], W_svm) if np.any(tr.W[-1]) else float("nan")
        if cos_n >= TARGET_COS and n > 1:
            chunk = max(1, n // 8)  # reached inside this chunk: again from its start, in smaller chunks
            continue
        W, steps, nfev, cos, cpu, wall = tr.W[-1], steps + n, nfev + tr.nfev, cos_n, cpu + c1, wall + tr.wall_time
        if cos >= TARGET_COS:
            break
        if chunk >= 10:
            chunk = int(chunk * 1.2)
    return dict(nfev=nfev, njev=0, wall=wall, cpu=cpu, cos=cos, reached=bool(cos >= TARGET_COS),
                where=f"{steps} steps")


def part1(sets, cap):
    print(f"\n## 1. Cost to reach cosine {TARGET_COS} with the SVM the flow converges to (param 'W' from 0; GD "
          f"capped at {cap:.0e} steps)\n")
    print("| data | target | method | reached | cosine | where | grad evals | Hessians | wall [s] | CPU [s] | "
          "evals / GF | CPU / GF |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, data in sets:
        full, cpu = full_flow(data)
        W_svm, target = relevant_svm(data, full)
        gf = gf_to_cos(data, W_svm, full, cpu)
        rows = [("exact GF (LSODA, rtol 1e-8)", gf),
                ("GD, lr 0.1", gd_to_cos(data, W_svm, False, 0.1, cap)),
                ("normalised GD, lr 0.1", gd_to_cos(data, W_svm, True, 0.1, cap))]
        for name, r in rows:
            print(f"| {label} | {target} | {name} | {'yes' if r['reached'] else 'NO'} | {r['cos']:.6f} | "
                  f"{r['where']} | {r['nfev']} | {r['njev']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
                  f"{r['nfev'] / gf['nfev']:.1f} | {r['cpu'] / gf['cpu']:.1f} |", flush=True)


@contextlib.contextmanager
def finite_difference_jacobian(method):
    """Benchmark-only switch: ``method``'s solver without the analytic Jacobian (scipy then builds it by finite
    differences, one gradient evaluation per state component)."""
    cls = dy.SOLVERS[method]
    dy.SOLVERS[method] = lambda *a, jac=None, **kw: cls(*a, **kw)
    try:
        yield
    finally:
        dy.SOLVERS[method] = cls


def part1b(sets, with_fd):
    """Methods side by side to the time where the default flow reaches cosine 0.999 (part 1), from W = 0."""
    print(f"\n## 1b. Solvers side by side to the time where the default flow reaches cosine {TARGET_COS} (param "
          f"'W' from 0, rtol 1e-8)\n")
    print("| data | method | Jacobian | cosine | rel. diff. of W to LSODA | grad evals | Hessians | CPU [s] | "
          "evals / LSODA | CPU / LSODA |\n|---|---|---|---|---|---|---|---|---|---|")
    for label, data, full_fd in sets:
        full, _ = full_flow(data)
        W_svm, _ = relevant_svm(data, full)
        cos = np.nan_to_num(full.cosine_to(W_svm))
        t_star = float(full.t[np.flatnonzero(cos >= TARGET_COS)[0]])
        base = None
        variants = [(m, "analytic") for m in ("LSODA", "BDF", "Radau")]
        if with_fd and full_fd:
            variants += [(m, "finite differences") for m in ("LSODA", "BDF", "Radau")]
        for method, how in variants:
            ctx = finite_difference_jacobian(method) if how != "analytic" else contextlib.nullcontext()
            c0 = time.process_time()
            try:
                with ctx:
                    tr = al.gradient_flow(data, "W", np.zeros((data.d, data.d)), t_star, t_eval=[0.0, t_star],
                                          method=method)
            except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure as a row
                print(f"| {label} | {method} | {how} | FAILED: {type(exc).__name__}: {str(exc)[:80]} | | | | | | |")
                continue
            cpu = time.process_time() - c0
            row = dict(nfev=tr.nfev, njev=tr.njev, cpu=cpu, W=tr.final())
            base = base or row
            diff = np.linalg.norm(row["W"] - base["W"]) / np.linalg.norm(base["W"])
            print(f"| {label} | {method}{' (default)' if method == 'LSODA' and how == 'analytic' else ''} | {how} | "
                  f"{al.cosine(tr.final(), W_svm):.6f} | {diff:.1e} | {tr.nfev} | {tr.njev} | {cpu:.2f} | "
                  f"{tr.nfev / base['nfev']:.2f} | {cpu / base['cpu']:.2f} |", flush=True)


def part2_3(flows):
    print("\n## 2-3. Path error vs a rtol=1e-11 reference (every saved time up to t=1e300) and cost, d <= 10\n")
    print("| data | param | max rel. path error | grad evals | Hessians | wall [s] | CPU [s] | ref. evals | "
          "error <= 1e-6 | evals <= 5000 | CPU <= 1 s |\n|---|---|---|---|---|---|---|---|---|---|---|")
    worst = dict(err=0.0, nfev=0, wall=0.0, cpu=0.0)
    for label, data, param, init in flows:
        c0 = time.process_time()
        tr = al.gradient_flow(data, param, init, 1e300)
        cpu = time.process_time() - c0
        ref = al.gradient_flow(data, param, init, 1e300, rtol=1e-11)
        err = float(al.path_error(tr, ref).max())
        worst = dict(err=max(worst["err"], err), nfev=max(worst["nfev"], tr.nfev),
                     wall=max(worst["wall"], tr.wall_time), cpu=max(worst["cpu"], cpu))
        ok = lambda c: "yes" if c else "**MISSED**"  # noqa: E731
        print(f"| {label} | {param} | {err:.1e} | {tr.nfev} | {tr.njev} | {tr.wall_time:.2f} | {cpu:.2f} | {ref.nfev} | "
              f"{ok(err <= TARGET_ERR)} | {ok(tr.nfev <= TARGET_NFEV)} | {ok(cpu <= TARGET_WALL)} |",
              flush=True)
    print(f"\nWorst: path error {worst['err']:.1e} (target {TARGET_ERR:g}), {worst['nfev']} evaluations (target "
          f"{TARGET_NFEV}), longest flow {worst['wall']:.2f} s wall / {worst['cpu']:.2f} s CPU (target {TARGET_WALL:g} s;"
          f" wall time is inflated when the machine is loaded).")
    for what, val, tgt in (("path error", worst["err"], TARGET_ERR), ("evaluations", worst["nfev"], TARGET_NFEV),
                           ("time of one flow (CPU s)", worst["cpu"], TARGET_WALL)):
        if val > tgt:
            print(f"TARGET MISSED: {what} {val:.3g} > {tgt:g}")


# -- part 4: the same flow in arc length ---------------------------------------------------------------------------
# The gradient flow W' = -grad L(W) reparameterised by its arc length sigma (dsigma/dt = ||grad L||), with the clock
# tau = ln(1 + t) integrated alongside. With v = e^tau (-grad L(W)) = FlowModel.descent_velocity(W, tau):
#     dW/dsigma = v / ||v||,    dtau/dsigma = 1 / ||v||    (dtau/dt = e^-tau).
# tau rather than ln t: it is regular at t = 0, so the run starts at W = 0 as normalised GD does (sigma is the same
# arc length GD's 0.1 per step measures) and no evaluation of the flow is left out; ln t = tau + ln(1 - e^-tau)
# differs from tau by < 1e-30 where t > 1e30. The logits are linear in W, so an attention switch is O(1) wide in
# sigma, where in log time its width shrinks like e^-s.
ARC_METHODS = ("LSODA", "BDF", "DOP853")
ARC_RTOLS = (1e-8, 1e-7, 1e-6)
ARC_ATOL = 1e-3  # atol = 1e-3 * rtol: W's entries reach O(10-100) and tau O(100); atol only matters near W = 0
ARC_REF = ("DOP853", 1e-12)  # the reference: explicit 8th order (the arc-length field is not stiff), dense output
ARC_REF_END_COS = 0.9995  # the reference runs past cosine 0.999 so that every run's path can be compared
ARC_SIGMA_MAX = 1e6  # arc length at which a run that never reaches cosine 0.999 gives up
ARC_MAX_NFEV, ARC_MAX_NJEV = 50_000, 200  # a run beyond these budgets is reported as failed (the runs that
# succeed need <= 25 Hessians; an n=50 Hessian costs ~0.1 s)


def arc_field(model: dy.FlowModel):
    """Right-hand side and analytic Jacobian of the arc-length flow, for ``scipy.integrate.solve_ivp``.

    Parameters
    ----------
    model : attnlib.dynamics.FlowModel
        Of param "W" (``n_theta = d * d``); its ``nfev`` / ``njev`` count the evaluations.

    Returns
    -------
    fun, jac : callables ``(sigma, y)``
        ``y = (W.ravel(), tau)``, shape (d*d + 1,). ``fun`` returns ``(v / ||v||, 1 / ||v||)`` with
        ``v = FlowModel.descent_velocity(W, tau)``, shape (d*d + 1,); ``jac`` its Jacobian (d*d + 1, d*d + 1) from
        ``J_v = FlowModel.jac``: ``d(v/||v||)/dW = (I - u u^T) J_v / ||v||``, ``d(1/||v||)/dW = -u^T J_v / ||v||^2``,
        ``d(1/||v||)/dtau = -1/||v||`` (``dv/dtau = v``) and ``d(v/||v||)/dtau = 0``. The gradient a Jacobian needs is
        counted as part of that Hessian, not in ``nfev``.
    """
    k, zeros = model.n_theta, np.zeros(model.pair_i.size)

    def fun(sigma, y):
        v = model.descent_velocity(y[:k], y[k])
        norm = np.linalg.norm(v)
        return np.append(v / norm, 1.0 / norm)

    def jac(sigma, y):
        v = model.descent_velocity(y[:k], y[k])
        model.nfev -= 1
        norm = np.linalg.norm(v)
        u = v / norm
        J_v = model.jac(np.concatenate([y[:k], zeros]), y[k])[:k, :k]
        uJ = u @ J_v
        J = np.zeros((k + 1, k + 1))
        J[:k, :k] = (J_v - np.outer(u, uJ)) / norm
        J[k, :k] = -uJ / norm ** 2
        J[k, k] = -1.0 / norm
        return J

    return fun, jac


@dataclass(frozen=True)
class ArcFlow:
    """One arc-length run of the flow of param "W" from W = 0.

    Attributes
    ----------
    sol : OdeResult
        ``solve_ivp``'s result: ``t`` the arc lengths sigma of the accepted steps (m,), ``y`` (d*d + 1, m) the
        states ``(W.ravel(), tau)``, ``sol`` the dense output (when asked for).
    nfev, njev : int
        Gradient evaluations and Hessians.
    cpu : float
        CPU seconds of the solve.
    sigma_star : float
        Arc length where the cosine with the target first reaches 0.999 (``nan``: not reached).
    calls : numpy.ndarray, shape (nfev,)
        sigma of every gradient evaluation (where the work goes).
    """
    sol: object
    nfev: int
    njev: int
    cpu: float
    sigma_star: float
    calls: np.ndarray

    @property
    def d(self) -> int:
        return int(round(np.sqrt(self.sol.y.shape[0] - 1)))

    def W(self, sigma: float) -> np.ndarray:
        """W at arc length ``sigma`` from the dense output, shape (d, d)."""
        return self.sol.sol(sigma)[:-1].reshape(self.d, self.d)

    def sigma_at_time(self, t: float) -> float:
        """The arc length where the flow's physical time is ``t`` (tau = ln(1 + t) is increasing in sigma)."""
        tau = np.log1p(t)
        return brentq(lambda s: self.sol.sol(s)[-1] - tau, self.sol.t[0], self.sol.t[-1], xtol=1e-14, rtol=1e-15)

    def log_t(self, sigma: float) -> float:
        """ln t at arc length ``sigma``: ``ln(e^tau - 1)`` (``attnlib.kernels.log_expm1``, exact for any tau > 0)."""
        return float(log_expm1(self.sol.sol(sigma)[-1]))

    def log_t_star(self) -> float:
        """ln t where the cosine reaches 0.999."""
        return float(log_expm1(self.sol.y_events[0][0][-1]))


def arc_flow(data, method: str, rtol: float, W_svm=None, dense: bool = False, end_cos: float | None = None,
             sigma_max: float = ARC_SIGMA_MAX, clock_error: bool = True, atol_factor: float = ARC_ATOL) -> ArcFlow:
    """The flow of param "W" from W = 0 in arc length (:func:`arc_field`) with ``scipy.integrate.solve_ivp``
    (``method``, ``rtol``, ``atol = atol_factor * rtol``; LSODA, BDF and Radau get the analytic Jacobian).

    ``clock_error=False`` leaves tau out of the error test (W's equation does not depend on tau, so tau is a
    quadrature riding along; an implicit method then no longer checks that its Newton iteration solved for tau).
    With ``W_svm`` (d, d) an event records where the cosine with it reaches 0.999 and ends the run there, or at
    ``end_cos`` when given (a reference that must run past 0.999); else the run ends at ``sigma_max``."""
    d = data.d
    model = dy.FlowModel(data, "W", [np.zeros((d, d))], "exp")
    fun, jac = arc_field(model)
    calls = []

    def counted(sigma, y):
        calls.append(sigma)
        if len(calls) > ARC_MAX_NFEV or model.njev > ARC_MAX_NJEV:
            raise RuntimeError(f"over budget ({ARC_MAX_NFEV} evaluations or {ARC_MAX_NJEV} Hessians) at sigma = "
                               f"{sigma:.6g}, tau = {y[-1]:.6g}")
        return fun(sigma, y)

    def cosine_minus(level):
        def event(sigma, y):
            return al.cosine(y[:-1].reshape(d, d), W_svm) - level if np.any(y[:-1]) else -1.0
        event.terminal = level != TARGET_COS or end_cos is None
        event.direction = 1.0
        return event

    events = [] if W_svm is None else [cosine_minus(TARGET_COS)] + ([cosine_minus(end_cos)] if end_cos else [])
    kw = {"jac": jac} if method in ("LSODA", "BDF", "Radau") else {}
    c0 = time.process_time()
    atol = np.full(d * d + 1, atol_factor * rtol)
    if not clock_error:
        atol[-1] = 1e300  # tau left out of the error test: the steps are chosen by W alone, tau rides along
    sol = solve_ivp(counted, (0.0, sigma_max), np.zeros(d * d + 1), method=method, rtol=rtol, atol=atol,
                    events=events or None, dense_output=dense, **kw)
    cpu = time.process_time() - c0
    if sol.status < 0:
        raise RuntimeError(f"arc-length flow ({method}, rtol {rtol:g}) failed: {sol.message}")
    hit = sol.t_events[0] if events else []
    return ArcFlow(sol, model.nfev, model.njev, cpu, float(hit[0]) if len(hit) else float("nan"), np.array(calls))


def relative_path_error(W, W_ref) -> float:
    """``||W - W_ref|| / max(||W_ref||, 1)`` (the path-error measure of part 2)."""
    return float(np.linalg.norm(W - W_ref) / max(np.linalg.norm(W_ref), 1.0))


def arc_path_error(run: ArcFlow, ref: ArcFlow) -> float:
    """Largest relative error of ``run``'s W at its accepted steps against ``ref`` at equal arc length (up to the
    end of the reference)."""
    d = ref.d
    return max(relative_path_error(run.sol.y[:-1, i].reshape(d, d), ref.W(s))
               for i, s in enumerate(run.sol.t) if s <= ref.sol.t[-1])


def equal_time_error(ref: ArcFlow, times: np.ndarray, Ws: np.ndarray) -> float:
    """Largest relative error of a flow saved at physical ``times`` (Ws, shape (m, d, d)) against ``ref`` at equal
    time, up to the end of the reference."""
    return max(relative_path_error(W, ref.W(ref.sigma_at_time(t))) for t, W in zip(times, Ws)
               if np.log1p(t) <= ref.sol.y[-1, -1])


def arc_clock_error(run: ArcFlow, ref: ArcFlow) -> float:
    """Largest error of ``run``'s clock tau = ln(1 + t) at its accepted steps against ``ref`` at equal arc length,
    relative to ``max(tau_ref, 1)`` (so: relative in ln t once t > e)."""
    return max(abs(run.sol.y[-1, i] - ref.sol.sol(s)[-1]) / max(ref.sol.sol(s)[-1], 1.0)
               for i, s in enumerate(run.sol.t) if s <= ref.sol.t[-1])


def nearest_on_curve(ref: ArcFlow, W, sigma_guess: float) -> tuple[float, float]:
    """Distance (relative, as :func:`relative_path_error`) from ``W`` to the reference curve near ``sigma_guess``
    (within +-1 of arc length) and the sigma where it is attained."""
    lo, hi = max(ref.sol.t[0], sigma_guess - 1.0), min(ref.sol.t[-1], sigma_guess + 1.0)
    res = minimize_scalar(lambda s: np.sum((ref.W(s) - W) ** 2), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-12})  # the squared distance: smooth at its minimum
    return relative_path_error(W, ref.W(res.x)), float(res.x)


def lock_profile(ref: ArcFlow, data, locked: float = 0.99, points: int = 4001) -> tuple[np.ndarray, np.ndarray]:
    """Whether every sample's largest attention is >= ``locked`` along the reference, on ``points`` arc lengths
    uniform in [0, sigma_end]: the grid (points,) and the booleans (points,)."""
    grid = np.linspace(0.0, ref.sol.t[-1], points)
    return grid, np.array([al.attention(data, ref.W(s)).max(axis=1).min() >= locked for s in grid])


def where_evaluations_go(run: ArcFlow, grid: np.ndarray, is_locked: np.ndarray) -> dict:
    """Split ``run``'s gradient evaluations by the reference state at their arc length (:func:`lock_profile`):
    "early" before every sample's attention first locks, then "switches" (some sample not locked: an attention
    moving between tokens) and "locked" (the asymptote)."""
    first = grid[np.argmax(is_locked)] if is_locked.any() else np.inf
    at = np.searchsorted(grid, np.minimum(run.calls, grid[-1]))
    early = run.calls < first
    return dict(early=int(early.sum()), switches=int((~early & ~is_locked[at]).sum()),
                locked=int((~early & is_locked[at]).sum()), sigma_lock=float(first))


def log_time_reference(data, log_ts) -> dict:
    """The library's log-time flow (LSODA, rtol 1e-11) from W = 0, saved at the log-times ``log_ts``: a dict from
    each log-time to W (d, d)."""
    log_ts = np.unique(np.asarray(log_ts, dtype=float))
    tr = al.gradient_flow(data, "W", np.zeros((data.d, data.d)), rtol=1e-11, log_t_end=float(log_ts[-1]),
                          log_t_eval=log_ts)
    return dict(zip(log_ts.tolist(), tr.W))


def cosine_crossing(lib: dict, W_svm) -> tuple[float, float]:
    """The first log-time of ``lib``'s saved grid where the cosine with ``W_svm`` reaches 0.999 (linear
    interpolation in log t between the two saved times around it) and the slope d cos / d ln t there."""
    s = np.array(sorted(lib))
    cos = np.array([al.cosine(lib[x], W_svm) if np.any(lib[x]) else -1.0 for x in s])
    i = int(np.flatnonzero(cos >= TARGET_COS)[0])
    slope = (cos[i] - cos[i - 1]) / (s[i] - s[i - 1])
    return float(s[i - 1] + (TARGET_COS - cos[i - 1]) / slope), float(slope)


ARC_CLOCKS = (True, False)  # tau in the error test, or riding along (not with BDF: its Newton iteration then never
# solves for tau, which drifts until e^tau underflows; measured on n=6: "array must not contain infs or NaNs". With
# LSODA a drifting tau also bends W: descent_velocity caps its terms at e^LOG_GUARD, so at a wild scale tau the
# direction v/||v|| is wrong; the budget below ends such a run)


def try_arc_flow(data, method, rtol, W_svm, clock_error):
    """:func:`arc_flow`, or the text of its failure (a benchmark reports every failure as a row)."""
    print(f"  ({time.strftime('%H:%M:%S')}: {method} rtol {rtol:g}, clock {'in' if clock_error else 'out of'} the "
          f"error test)", file=sys.stderr, flush=True)
    try:
        return arc_flow(data, method, rtol, W_svm, clock_error=clock_error)
    except Exception as exc:  # noqa: BLE001
        return f"FAILED: {type(exc).__name__}: {str(exc)[:70]}"


def part4(sets):
    """The arc-length flow side by side with the log-time flow and normalised GD, on each data set."""
    print(f"\n## 4. The same flow in arc length (param 'W' from 0 to cosine {TARGET_COS}; atol = {ARC_ATOL:g} * rtol; "
          f"path error against {ARC_REF[0]} rtol {ARC_REF[1]:g} in arc length)\n")
    for label, data in sets:
        full, _ = full_flow(data)
        W_svm, target = relevant_svm(data, full)
        cos = np.nan_to_num(full.cosine_to(W_svm))
        t_star = float(full.t[np.flatnonzero(cos >= TARGET_COS)[0]])
        ref = arc_flow(data, *ARC_REF, W_svm, dense=True, end_cos=ARC_REF_END_COS)
        runs = {(m, r, c): try_arc_flow(data, m, r, W_svm, c) for m in ARC_METHODS for r in ARC_RTOLS
                for c in ARC_CLOCKS if c or m != "BDF"}
        done = [r for r in runs.values() if isinstance(r, ArcFlow)]
        # today's default log-time flow to t* (the first of its 200 saved times), saved on 150 times for the error
        c0 = time.process_time()
        times = np.r_[0.0, np.geomspace(1e-2, t_star, 150)]
        log_flow = al.gradient_flow(data, "W", np.zeros((data.d, data.d)), t_star, t_eval=times)
        log_cpu = time.process_time() - c0
        log_err = equal_time_error(ref, times, log_flow.W)
        gd = normalised_gd_cost(data, W_svm, 0.1, ref)
        # the tight log-time flow: checks the reference, locates its own t*, and W of each run at that run's t*
        print(f"  ({time.strftime('%H:%M:%S')}: log-time flow at rtol 1e-11)", file=sys.stderr, flush=True)
        ls_ref = ref.log_t_star()
        checks = [x for x in (np.log(0.5), 0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0) if x < ls_ref]
        lib = log_time_reference(data, checks + [r.log_t_star() for r in done] + [ls_ref]
                                 + list(ls_ref * (1.0 + np.linspace(-0.02, 0.02, 401))))
        ls_lib, slope = cosine_crossing(lib, W_svm)

        print(f"**{label}** ({target}). Log-time flow (LSODA, rtol 1e-11): cosine {TARGET_COS} at ln t* = "
              f"{ls_lib:.6f} (d cos / d ln t = {slope:.2e} there: a cosine error e moves ln t* by e / {slope:.1e}). "
              f"Reference ({ARC_REF[0]}, rtol {ARC_REF[1]:g}, tau in the error test): {ref.nfev} evaluations, "
              f"cosine {TARGET_COS} at sigma = {ref.sigma_star:.4f}, ln t* = {ls_ref:.6f}.\n")
        print("Reference against the log-time flow at rtol 1e-11:\n\n| ln t | rel. error of W at equal t | rel. distance "
              "to the reference curve | ln t of the nearest point - ln t |\n|---|---|---|---|")
        for x in checks + [ls_ref]:
            sig = ref.sigma_at_time(np.exp(x))
            dist, s_near = nearest_on_curve(ref, lib[x], sig)
            print(f"| {x:.4g} | {relative_path_error(ref.W(sig), lib[x]):.1e} | {dist:.1e} | "
                  f"{ref.log_t(s_near) - x:+.1e} |")

        gd_evals = gd.nfev
        print("\n| method | clock tau | rtol | grad evals | Hessians | CPU [s] | evals / norm. GD | norm. GD / evals | "
              "max rel. path error | max clock error | ln t at cos 0.999 | rel. diff. of W there to the log-time "
              "flow (1e-11) | both errors <= 1e-6 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        ok = lambda *e: "yes" if max(e) <= TARGET_ERR else "**no**"  # noqa: E731
        print(f"| LSODA, log time (default) | (ln t) | 1e-8 | {log_flow.nfev} | {log_flow.njev} | {log_cpu:.2f} | "
              f"{log_flow.nfev / gd_evals:.2f} | {gd_evals / log_flow.nfev:.2f} | {log_err:.1e} | | "
              f"{np.log(t_star):.4f} (first of 200 saved times) | | {ok(log_err)} |")
        for (method, rtol, clock), run in runs.items():
            head = f"| {method} | {'error test' if clock else 'rides along'} | {rtol:g} |"
            if not isinstance(run, ArcFlow):
                print(f"{head} {run} | | | | | | | | | |")
                continue
            err, clock_err, ls = arc_path_error(run, ref), arc_clock_error(run, ref), run.log_t_star()
            W_diff = relative_path_error(run.sol.y_events[0][0][:-1].reshape(data.d, data.d), lib[ls])
            print(f"{head} {run.nfev} | {run.njev} | {run.cpu:.2f} | {run.nfev / gd_evals:.2f} | "
                  f"{gd_evals / run.nfev:.2f} | {err:.1e} | {clock_err:.1e} | {ls:.6f} | {W_diff:.1e} | "
                  f"{ok(err, clock_err)} |", flush=True)
        print(f"| normalised GD, lr 0.1 | | | {gd_evals} | 0 | {gd.cpu:.2f} | 1.00 | 1.00 | {gd.path:.1e} | | | | "
              f"{ok(gd.path)} |")

        grid, is_locked = lock_profile(ref, data)
        print("\nWhere the arc-length runs evaluate (state of the reference at each evaluation's arc length; locked: "
              "every sample's largest attention >= 0.99):\n\n| method | clock tau | rtol | early (before the first "
              "lock) | switches (after it, some sample unlocked) | locked |\n|---|---|---|---|---|---|")
        for (method, rtol, clock), run in list(runs.items()) + [(ARC_REF + (True,), ref)]:
            if isinstance(run, ArcFlow):
                w = where_evaluations_go(run, grid, is_locked)
                print(f"| {method} | {'error test' if clock else 'rides along'} | {rtol:g} | {w['early']} | "
                      f"{w['switches']} | {w['locked']} |")
        print(f"\nFirst lock at sigma = {w['sigma_lock']:.2f} (ln t = "
              f"{ref.log_t(w['sigma_lock']):.2f}); unlocked stretches after it (sigma): "
              f"{unlocked_stretches(grid, is_locked, w['sigma_lock'])}\n", flush=True)


def unlocked_stretches(grid, is_locked, start) -> str:
    """The intervals of arc length after ``start`` where some sample is not locked, as text."""
    after = (grid > start) & ~is_locked
    edges = np.flatnonzero(np.diff(np.r_[0, after.astype(int), 0]))
    return ", ".join(f"[{grid[a]:.1f}, {grid[b - 1]:.1f}]" for a, b in zip(edges[::2], edges[1::2])) or "none"


PRECISION_RTOLS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)  # one grid for every method: decades, not tuned per method
PRECISION_METHODS = ("LSODA", "RK45", "DOP853")  # in arc length, atol = rtol (see part5)
PRECISION_LEVELS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)  # path (and clock) error levels of the summary
PRECISION_LRS = {6: (0.1, 0.01, 0.001), 50: (0.1, 0.03, 0.01)}  # normalised GD's step sizes, by n (n=50: 0.35 ms
# a step, so lr 0.001 would take ~7 minutes twice)


@dataclass(frozen=True)
class Cost:
    """One run of the work-precision table: its cost to cosine 0.999 and its accuracy.

    Attributes
    ----------
    family : str
        "log time", "arc LSODA", ... or "normalised GD".
    knob : float
        The run's rtol, or normalised GD's step size lr.
    nfev, njev : int
        Gradient evaluations and Hessians.
    cpu : float
        CPU seconds.
    path, clock : float
        Largest relative path error of W (:func:`relative_path_error`) and clock error (:func:`arc_clock_error`;
        0 for the log-time flow, whose clock is its variable, and nan for normalised GD, which has none).
    """
    family: str
    knob: float
    nfev: int
    njev: int
    cpu: float
    path: float
    clock: float

    @property
    def error(self) -> float:
        """The error that decides at which level the run counts: the larger of path and clock error."""
        return max(self.path, np.nan_to_num(self.clock))

    def work(self, hessian: float) -> float:
        """Evaluations with each Hessian counted as ``hessian`` gradient evaluations (:func:`hessian_cost`)."""
        return self.nfev + hessian * self.njev


def hessian_cost(data, W) -> float:
    """CPU seconds of one analytic Hessian (``FlowModel.jac``, the log-time flow's state of weights and duals) and of
    the LU factorisation an implicit step makes of it, over those of one gradient (``FlowModel.descent_velocity``)
    at ``W`` (d, d); the best of 5 and of 200 calls, on one BLAS thread as the library's flows run (several threads
    spin and bill CPU while they wait)."""
    model = dy.FlowModel(data, "W", [np.zeros((data.d, data.d))], "exp")
    y = np.concatenate([W.ravel(), np.zeros(model.pair_i.size)])
    J = model.jac(y, 0.0)
    shifted = np.eye(J.shape[0]) - 0.1 * J

    def best(call, reps):
        times = []
        for _ in range(5):
            c0 = time.process_time()
            for _ in range(reps):
                call()
            times.append((time.process_time() - c0) / reps)
        return min(times)

    with threadpool_limits(limits=1, user_api="blas"):  # as the library's flows run: one BLAS thread
        hessian = best(lambda: model.jac(y, 0.0), 5) + best(lambda: lu_factor(shifted), 5)
        return hessian / best(lambda: model.descent_velocity(W.ravel(), 0.0), 200)


def normalised_gd_cost(data, W_svm, lr: float, ref: ArcFlow) -> Cost:
    """Normalised GD (lr) to cosine 0.999, its path error at equal arc length (k steps = arc length k * lr: the
    method is explicit Euler on the arc-length ODE with step lr) on 60 saved steps."""
    gd = gd_to_cos(data, W_svm, True, lr, int(1e8))
    if not gd["reached"]:
        raise RuntimeError(f"normalised GD (lr {lr:g}) did not reach cosine {TARGET_COS} in 1e8 steps")
    steps, cpu = gd["nfev"], gd["cpu"]
    tr = al.gradient_descent(data, "W", np.zeros((data.d, data.d)), lr, steps, normalized=True, n_save=60)
    path = max(relative_path_error(W, ref.W(s)) for s, W in zip(tr.t, tr.W) if s <= ref.sol.t[-1])
    return Cost("normalised GD", lr, steps, 0, cpu, path, float("nan"))


def log_time_cost(data, rtol: float, ref: ArcFlow) -> Cost:
    """The library's flow (LSODA, log time) at ``rtol`` to the reference's t*, path error at equal time on 150
    times."""
    t_star = float(np.expm1(ref.sol.y_events[0][0][-1]))
    times = np.r_[0.0, np.geomspace(1e-2, t_star, 150)]
    c0 = time.process_time()
    tr = al.gradient_flow(data, "W", np.zeros((data.d, data.d)), t_star, t_eval=times, rtol=rtol)
    cpu = time.process_time() - c0
    return Cost("log time (library)", rtol, tr.nfev, tr.njev, cpu, equal_time_error(ref, times, tr.W), 0.0)


def arc_cost(data, method: str, rtol: float, W_svm, ref: ArcFlow) -> Cost:
    """:func:`arc_flow` with atol = rtol, clock in the error test."""
    run = arc_flow(data, method, rtol, W_svm, atol_factor=1.0)
    return Cost(f"arc {method}", rtol, run.nfev, run.njev, run.cpu, arc_path_error(run, ref),
                arc_clock_error(run, ref))


def cheapest(costs: list[Cost], level: float, hessian: float) -> Cost | None:
    """The run with the least work (:meth:`Cost.work`) whose :attr:`Cost.error` is <= ``level``."""
    ok = [c for c in costs if c.error <= level]
    return min(ok, key=lambda c: c.work(hessian)) if ok else None


def part5(sets):
    """Work against precision: every method on one rtol grid, normalised GD on a few step sizes, and at each error
    level the cheapest run of each family that reaches it."""
    print(f"\n## 5. Work against precision (param 'W' from 0 to cosine {TARGET_COS}; arc-length runs with atol = rtol "
          f"and the clock in the error test; errors against {ARC_REF[0]} rtol {ARC_REF[1]:g} in arc length)\n")
    for label, data in sets:
        full, _ = full_flow(data)
        W_svm, target = relevant_svm(data, full)
        ref = arc_flow(data, *ARC_REF, W_svm, dense=True, end_cos=ARC_REF_END_COS)
        costs = []
        for rtol in PRECISION_RTOLS:
            print(f"  ({time.strftime('%H:%M:%S')}: {label}, rtol {rtol:g})", file=sys.stderr, flush=True)
            costs.append(log_time_cost(data, rtol, ref))
            costs += [arc_cost(data, m, rtol, W_svm, ref) for m in PRECISION_METHODS]
        gd = []
        for lr in PRECISION_LRS[data.n]:
            print(f"  ({time.strftime('%H:%M:%S')}: {label}, normalised GD lr {lr:g})", file=sys.stderr, flush=True)
            gd.append(normalised_gd_cost(data, W_svm, lr, ref))
        print(f"**{label}** ({target}):\n\n| method | rtol / lr | grad evals | Hessians | CPU [s] | max rel. path error | "
              f"max clock error |\n|---|---|---|---|---|---|---|")
        for c in costs + gd:
            clock = "" if np.isnan(c.clock) else f"{c.clock:.1e}"
            print(f"| {c.family} | {c.knob:g} | {c.nfev} | {c.njev} | {c.cpu:.2f} | {c.path:.1e} | {clock} |")
        # normalised GD is explicit Euler: its error is proportional to lr, so error x steps is a constant C and
        # it needs C / e steps for a path error e (C measured at each lr; the mean is used)
        product = float(np.mean([g.path * g.nfev for g in gd]))
        print(f"\nNormalised GD, path error x steps: {', '.join(f'{g.path * g.nfev:.1f} (lr {g.knob:g})' for g in gd)}"
              f": first order, so it needs C / e steps for a path error e, C = {product:.1f}.\n")
        families = ["log time (library)"] + [f"arc {m}" for m in PRECISION_METHODS]
        h = hessian_cost(data, ref.W(ref.sigma_star))
        print(f"One Hessian and its LU factorisation cost the CPU of {h:.0f} gradients here (at the reference's W at "
              f"cosine {TARGET_COS}): the "
              f"work of a run is its evaluations + {h:.0f} x its Hessians, and each cell is the run of least work.\n")
        print("| error level e | " + " | ".join(families) + " | normalised GD (C / e) | normalised GD / best flow | "
              "normalised GD / library flow | normalised GD lr 0.1 / best flow |\n|---|" + "---|" * (len(families) + 4))
        for level in (gd[0].path,) + PRECISION_LEVELS:
            best = [cheapest([c for c in costs if c.family == f], level, h) for f in families]
            cells = [f"{b.nfev} + {b.njev} H (rtol {b.knob:g})" if b else "not reached" for b in best]
            reached = [b.work(h) for b in best if b]
            need = product / level
            ratios = [f"{need / min(reached):.1f}" if reached else "",
                      f"{need / best[0].work(h):.1f}" if best[0] else "",
                      f"{gd[0].nfev / min(reached):.2f}" if reached else ""]
            name = f"{level:.2g} (lr {gd[0].knob:g}'s own)" if level == gd[0].path else f"{level:g}"
            print(f"| {name} | " + " | ".join(cells) + f" | {need:,.0f} | " + " | ".join(ratios) + " |")
        print(flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI setting: Tarzanagh et al.'s setup only, GD capped at 1e4 steps")
    ap.add_argument("--arc", action="store_true", help="only part 4 (the flow in arc length), on both data sets")
    ap.add_argument("--precision", action="store_true", help="only part 5 (work against precision), on both data sets")
    args = ap.parse_args(argv)
    if sum((args.quick, args.arc, args.precision)) > 1:
        ap.error("--quick, --arc and --precision each select different parts: give one of them")
    warnings.simplefilter("ignore", RuntimeWarning)
    start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# attnlib flow benchmark ({'quick' if args.quick else 'arc length' if args.arc else 'work against precision' if args.precision else 'full'}) — {time.strftime('%Y-%m-%d %H:%M %Z')}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}, "
          f"numpy {np.__version__}")
    tarzanagh = al.make_generic_data()  # n=6, L=8, d=10, seed 0 (Tarzanagh et al.'s setup)
    sets = [("n=6 L=8 d=10", tarzanagh)]
    if not args.quick:
        sets.append(("n=50 L=16 d=32", al.make_generic_data(50, 16, 32, seed=0)))
    if args.arc or args.precision:
        (part4 if args.arc else part5)(sets)
        print(f"\nTotal benchmark time {time.perf_counter() - start:.1f} s.")
        return
    part1(sets, cap=int(1e4) if args.quick else int(1e6))
    part1b([(label, data, data.n * data.d <= 100) for label, data in sets], with_fd=not args.quick)

    demo1, demo3 = al.make_diagonal_data(), al.make_orthogonal_data()
    geq = al.make_generic_data(4, 3, 4, seed=0, equal_scores=True)
    flows = [("demo1", demo1, p, al.default_init(demo1, p, 0.01 if p == "KQ" else 0.1, seed=0))
             for p in ("W", "beta", "xi", "KQ")]
    flows += [("Tarzanagh n=6 L=8 d=10", tarzanagh, "W", np.zeros((10, 10))),
              ("Tarzanagh n=6 L=8 d=10", tarzanagh, "KQ", al.default_init(tarzanagh, "KQ", 0.01, seed=0))]
    if not args.quick:
        flows += [("demo3 (orthogonal)", demo3, "W", np.zeros((demo3.d, demo3.d))),
                  ("demo3 (orthogonal)", demo3, "KQ", al.default_init(demo3, "KQ", 0.1, seed=None, kind="aligned")),
                  ("demo2 (4,3,4 equal scores)", geq, "W", np.zeros((4, 4))),
                  ("demo2 (4,3,4 equal scores)", geq, "KQ", al.default_init(geq, "KQ", 0.01, seed=0)),
                  ("Tarzanagh n=6 L=8 d=10", tarzanagh, "beta", np.zeros(10))]
    part2_3(flows)
    if not args.quick:
        part4(sets)
        part5(sets)
    print(f"\nTotal benchmark time {time.perf_counter() - start:.1f} s.")


if __name__ == "__main__":
    main()
