"""Benchmark: the far-horizon grid of issue 27 -- every separable data set of the three generators, every
parameterisation the data admit, flown to ``log t = 1e100`` and ``1e300`` through the margin frame.

Run from the repository root:

    .venv/bin/python benchmarks/far_horizon.py            # 20 seeds per cell, both horizons (see README for time)
    .venv/bin/python benchmarks/far_horizon.py --quick    # 3 seeds, log t = 1e100 only
    ATTNLIB_WORKERS=2 nice .venv/bin/python benchmarks/far_horizon.py --seeds 20 --horizons 1e300

Each run starts from ``default_init(data, param, scale=0.1, seed=0)`` and calls ``gradient_flow(data, param, init,
log_t_end=...)`` with its defaults except ``max_nfev`` (``--max-nfev``, default 20,000: a run that stalls is
bounded and reported as the ``FlowStallError`` it raises; the largest budget a returned run used is printed per
row). The runs of one cell go to ``attnbook``'s process pool (``ATTNLIB_WORKERS``, default 2 here).

A run that returns attending to ``data.opt`` is compared with the matching SVM (``"fro"`` for W, ``"nuc"`` for
KQ, ``"l2"`` for beta, ``"l1"`` for xi) through its margin-normalised direction ``D = W/mu`` (margin 1 over the
SVM's constraints, so ``D`` is feasible):

* **right**: ``svm_distance < 1e-3`` (relative), the distance to the solver's minimiser;
* **right, other minimiser**: farther than that from the solver's point, but ``D`` is itself a minimiser: its norm
  is the SVM's optimal value within ``1e-3`` relative (the certificate: feasible with margin 1 and optimal norm)
  and its distance to the *set* of minimisers (a cvxpy projection onto ``{margin >= 1, norm <= value}``) is
  ``< 1e-3`` ("by the norm alone" when the projection could not be solved accurately). The nuclear and l1 SVMs need not have a unique minimiser (orthogonal data, "KQ");
* **not at the SVM**: neither; the cell gives the distance to the set of minimisers, the norm ratio and whether
  the distance still decreases (its value at the saved time nearest ``log t = log_t_end^(2/3)`` first).

A run that ends attending to other tokens than ``data.opt`` (a locally optimal selection: a correct path, not a
solver failure) is counted apart, "selection, ...", compared in the same way with that selection's SVM
(``solve_selection_svm``, whose constraints are the selected tokens against the lower-scored ones). A run that
raises is listed by its error class; a class that attnlib does not export (a raw scipy/numpy error, or a private
one) is marked RAW. Every failure's message is printed below its table. The goal (issue 27): every cell all
right, or failures that each raise a public, named error whose message is right. Diagonal data admit only the
diagonal parameterisations ("beta", "xi").
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import attnlib as al  # noqa: E402
from attnlib import diagnostics as dg  # noqa: E402

GRID = [("generic", (4, 5, 6)), ("generic", (6, 8, 10)), ("diagonal", (4, 3, 5)), ("diagonal", (6, 4, 8)),
        ("orthogonal", (2, 3, 4)), ("orthogonal", (3, 5, 6))]
MAKERS = {"generic": al.make_generic_data, "diagonal": al.make_diagonal_data, "orthogonal": al.make_orthogonal_data}
SVM_OF = {"W": "fro", "KQ": "nuc", "beta": "l2", "xi": "l1"}
PUBLIC = {al.FlowStallError, al.MarginFrameError}
DIRECTION_TOL = 1e-3
MAX_NFEV = 20_000


def params_of(generator: str) -> tuple[str, ...]:
    return ("beta", "xi") if generator == "diagonal" else ("W", "KQ", "beta", "xi")


def norm_of(D: np.ndarray, norm: str) -> float:
    """The SVM's norm of a direction ``D`` (d, d): nuclear, Frobenius, or l1 / l2 of its diagonal."""
    if norm == "nuc":
        return float(np.linalg.svd(D, compute_uv=False).sum())
    if norm == "fro":
        return float(np.linalg.norm(D))
    return float(np.linalg.norm(np.diag(D), 1 if norm == "l1" else 2))


def constraint_rows(data, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x_sel - x_il`` and ``z_i`` (P, d) of the SVM of the token selection ``sel`` (``data.opt``: the SVM)."""
    i, l = al.selection_pairs(data, sel).T
    return data.X[i, sel[i]] - data.X[i, l], data.z[i]


def distance_to_minimisers(data, sol, D: np.ndarray, sel: np.ndarray) -> float:
    """Relative Frobenius distance from ``D`` to the set of minimisers of the SVM ``sol`` (``{W : margin >= 1,
    norm(W) <= value}``, a cvxpy projection; ``(1 + 1e-7) value`` for the solver's accuracy), ``nan`` when the
    projection is not solved to optimality."""
    import cvxpy as cp

    A, Z = constraint_rows(data, sel)
    if sol.norm in ("l1", "l2"):
        b = cp.Variable(data.d)
        cons = [cp.multiply(A, Z) @ b >= 1, cp.norm(b, 1 if sol.norm == "l1" else 2) <= sol.value * (1 + 1e-7)]
        prob = cp.Problem(cp.Minimize(cp.norm(b - np.diag(D))), cons)
    else:
        W = cp.Variable((data.d, data.d))
        rows = np.einsum("kd,ke->kde", A, Z).reshape(len(A), -1)
        size = cp.normNuc(W) if sol.norm == "nuc" else cp.norm(W, "fro")
        cons = [rows @ cp.vec(W, order="C") >= 1, size <= sol.value * (1 + 1e-7)]
        prob = cp.Problem(cp.Minimize(cp.norm(W - D, "fro")), cons)
    try:
        with warnings.catch_warnings():  # an inaccurate solve is reported as nan below
            warnings.simplefilter("ignore")
            prob.solve(solver="CLARABEL")
    except cp.SolverError:
        return float("nan")
    if prob.status != "optimal":
        return float("nan")
    return float(prob.value) / float(np.linalg.norm(sol.W))


def classify(traj, data, param: str, log_t_end: float, sel: np.ndarray) -> str:
    """The outcome of a run that attends to ``sel`` (``data.opt``, or another selection for W/KQ), compared with
    that selection's SVM (see the module docstring)."""
    own = np.array_equal(sel, data.opt)
    sol = al.solve_svm(data, SVM_OF[param]) if own else al.solve_selection_svm(data, sel, SVM_OF[param])
    prefix = "" if own else "selection, "
    dist = dg.svm_distance(traj, sol)
    if dist[-1] < DIRECTION_TOL:
        return prefix + "right"
    A, Z = constraint_rows(data, sel)
    W = traj.W[-1]
    D = W / np.min(np.einsum("kd,de,ke->k", A, W, Z))  # margin 1 over the SVM's constraints
    ratio = norm_of(D, sol.norm) / sol.value
    to_set = distance_to_minimisers(data, sol, D, sel)
    if abs(ratio - 1) <= DIRECTION_TOL and not to_set >= DIRECTION_TOL:  # nan: the projection was not solved
        return prefix + "right, other minimiser" + ("" if to_set < DIRECTION_TOL else " (by the norm alone)")
    later = np.flatnonzero(traj.log_t > 1)
    mid = later[int(np.argmin(np.abs(np.log(traj.log_t[later]) - 2 / 3 * np.log(log_t_end))))]
    trend = "decreasing" if dist[mid] > dist[-1] else "not decreasing"
    return (f"{prefix}not at the SVM (to the minimisers {to_set:.1e}, norm / optimum {ratio:.6f}, distance "
            f"{trend}: {dist[mid]:.2e} at log t = {traj.log_t[mid]:.0e})")


def one_run(job: tuple) -> tuple[str, float, int, str]:
    """``(outcome, seconds, nfev, message)`` of one flow; ``job = (generator, shape, seed, param, log_t_end,
    max_nfev)``."""
    generator, shape, seed, param, log_t_end, max_nfev = job
    data = MAKERS[generator](*shape, seed=seed)
    start = time.perf_counter()
    try:
        traj = al.gradient_flow(data, param, al.default_init(data, param, 0.1, seed=0), log_t_end=log_t_end,
                                max_nfev=max_nfev)
    except Exception as exc:  # noqa: BLE001 -- the benchmark classifies every failure
        name = type(exc).__name__
        outcome = name if type(exc) in PUBLIC else f"RAW {type(exc).__module__}.{name}"
        return outcome, time.perf_counter() - start, int(getattr(exc, "nfev", 0)), str(exc)
    seconds = time.perf_counter() - start
    logsig = traj.frame.log_attention[-1] if traj.frame is not None else np.log(al.attention(data, traj.final()))
    attended = np.argmax(logsig, axis=1)
    return classify(traj, data, param, log_t_end, attended), seconds, traj.nfev, ""


def cell(outcomes: list[str]) -> str:
    """``right/total (other outcome count, ...)``; "right, other minimiser" counts as right and is named."""
    counts = Counter(outcomes)
    right = counts.pop("right", 0) + sum(v for k, v in counts.items() if k.startswith("right"))  # named below too
    text = f"{right}/{len(outcomes)}"
    if counts:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + ")"
    return text


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, log t = 1e100 only")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 20; 3 with --quick)")
    parser.add_argument("--horizons", type=float, nargs="+", default=None, help="log_t_end values (1e100 1e300)")
    parser.add_argument("--only", choices=sorted(MAKERS), default=None, help="one generator's rows only")
    parser.add_argument("--params", nargs="+", choices=sorted(SVM_OF), default=None, help="these columns only")
    parser.add_argument("--max-nfev", type=int, default=MAX_NFEV, help=f"budget per run (default {MAX_NFEV:,})")
    args = parser.parse_args(argv)
    os.environ.setdefault("ATTNLIB_WORKERS", "2")
    from attnbook.experiments._store import default_workers, pool_map

    seeds = args.seeds or (3 if args.quick else 20)
    horizons = args.horizons or ((1e100,) if args.quick else (1e100, 1e300))
    params = [p for p in ("W", "KQ", "beta", "xi") if args.params is None or p in args.params]
    print(f"commit {commit()}, {time.strftime('%Y-%m-%d %H:%M')}; seeds 0..{seeds - 1} per cell; horizons "
          f"{horizons}; max_nfev {args.max_nfev:,}; {default_workers()} workers; numpy {np.__version__}", flush=True)
    total = time.perf_counter()
    for log_t_end in horizons:
        print(f"\n### log_t_end = {log_t_end:g}\n\n| data | " + " | ".join(params)
              + " | wall time per cell (s) | slowest run (s) | max nfev returned |\n|---|"
              + "---|" * (len(params) + 3), flush=True)
        notes = []
        for generator, shape in GRID:
            if args.only is not None and generator != args.only:
                continue
            row, walls, slowest, nfev_max = [], [], 0.0, 0
            for param in params:
                if param not in params_of(generator):
                    row.append("–")
                    continue
                jobs = [(generator, shape, seed, param, log_t_end, args.max_nfev) for seed in range(seeds)]
                wall = time.perf_counter()
                results = pool_map(one_run, jobs)
                walls.append(f"{param} {time.perf_counter() - wall:.0f}")
                row.append(cell([r[0] for r in results]))
                slowest = max([slowest] + [r[1] for r in results])
                nfev_max = max([nfev_max] + [r[2] for r in results if not r[3]])
                notes += [f"- {generator} {shape} {param} seed {seed} ({r[1]:.0f} s): {r[0]}: {r[3][:400]}"
                          for seed, r in enumerate(results) if r[3]]
            print(f"| {generator} {shape} | " + " | ".join(row) + f" | {', '.join(walls)} | {slowest:.1f} | "
                  f"{nfev_max:,} |", flush=True)
        if notes:
            print("\nFailures (log_t_end = %g):\n%s" % (log_t_end, "\n".join(notes)), flush=True)
    print(f"\ntotal wall time {time.perf_counter() - total:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
