"""Benchmark: gradient flow past log t = 1e6 in the margin frame (attnlib.frame, issue 18).

Run from the repository root:

    .venv/bin/python benchmarks/frame.py            # all parts (a few minutes on a quiet machine)
    .venv/bin/python benchmarks/frame.py --quick    # parts 1-2 only

Parts (see benchmarks/frame_README.md):
1. Overlap with the standard solver (log t <= 1e6): the frame switched on at log t = 100 against the standard solver
   alone, both at the default rtol 1e-8 and at 1e-10: largest relative path error on log t in [1e2, 1e6], and the
   ratios of gradient evaluations and CPU seconds (frame run / standard run).
2. Cost to log t = 1e30, 1e100, 1e300 with the defaults (rtol 1e-8): gradient evaluations (total and in the frame),
   Jacobians, CPU seconds, against the budget (1e100: <= 20,000 evaluations and <= 5 s; 1e300: <= 10 s).
3. Accuracy far out: the default run against a tighter one (rtol 1e-10) at log t = 1e30, 1e100, 1e300.
4. What the chapters use: the nuclear-norm gap of the (K, Q) flow on make_generic_data(6, 8, 10, 0) to 1e300 (and
   the 20 data seeds 0-19 to 1e300: outcome, evaluations, gap at 1e6 / 1e30 / 1e100), the xi flow's
   distance to the l1-SVM and KKT constant epsilon * ln mu (omega_0 = 0.01, 0.03) at log t = 1e6 ... 1e300.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import attnlib as al

FAR = [1e6, 1e30, 1e100, 1e300]
KQ_GRID = [691.0, 1e4, 1e5, 1e6, 1e8, 1e10, 1e12, 1e15, 1e20, 1e25, 1e30, 1e50, 1e100, 1e300]
BUDGET_NFEV, BUDGET_CPU_100, BUDGET_CPU_300 = 20_000, 5.0, 10.0


def cases():
    """The book's data (n <= 6, d <= 10) and the initialisations the chapters use."""
    gen = al.make_generic_data(6, 8, 10, 0)
    dia = al.make_diagonal_data()
    return [
        ("W", "generic(6,8,10,0)", gen, np.zeros((gen.d, gen.d))),
        ("KQ", "generic(6,8,10,0)", gen, al.default_init(gen, "KQ", 0.01, seed=0)),
        ("beta", "diagonal demo (3,3,4)", dia, np.zeros(dia.d)),
        ("xi", "diagonal demo (3,3,4), omega_0=0.1", dia, al.default_init(dia, "xi", 0.1, seed=None)),
        ("xi", "diagonal demo (3,3,4), omega_0=0.01", dia, al.default_init(dia, "xi", 0.01, seed=None)),
    ]


def timed(*args, **kw):
    c0 = time.process_time()
    try:
        tr = al.gradient_flow(*args, **kw)
    except (RuntimeError, ValueError) as err:  # FlowStallError, MarginFrameError: reported, not hidden
        return None, time.process_time() - c0, f"{type(err).__name__}: {str(err)[:100]}"
    return tr, time.process_time() - c0, ""


def part1(rows):
    print("\n## 1. Overlap with the standard solver, log t in [1e2, 1e6]\n")
    print("| param | data | rtol | path error | evals frame / standard | CPU frame / standard |")
    print("|---|---|---|---|---|---|")
    grid = np.geomspace(1e2, 1e6, 9)
    for param, name, data, init in rows:
        for rtol in (1e-8, 1e-10):
            std, c_std, e1 = timed(data, param, init, log_t_end=1e6, log_t_eval=grid, rtol=rtol, switch_log_t=np.inf)
            fr, c_fr, e2 = timed(data, param, init, log_t_end=1e6, log_t_eval=grid, rtol=rtol, switch_log_t=100.0)
            if std is None or fr is None:
                print(f"| {param} | {name} | {rtol:g} | {e1 or e2} | | |")
                continue
            err = al.path_error(fr, std).max()
            print(f"| {param} | {name} | {rtol:g} | {err:.1e} | {fr.nfev:,} / {std.nfev:,} = {fr.nfev / std.nfev:.2f} "
                  f"| {c_fr:.2f} / {c_std:.2f} = {c_fr / c_std:.2f} |")


def part2(rows):
    print("\n## 2. Cost to log t = 1e30, 1e100, 1e300 (defaults: rtol 1e-8, switch at log t = 100)\n")
    print("| param | data | log t | evals (frame) | Jacobians | CPU [s] | budget |")
    print("|---|---|---|---|---|---|---|")
    for param, name, data, init in rows:
        for end in FAR[1:]:
            tr, cpu, err = timed(data, param, init, log_t_end=end, log_t_eval=[end])
            if tr is None:
                print(f"| {param} | {name} | {end:g} | {err} | | {cpu:.2f} | **MISSED** |")
                continue
            ok = "" if end < 1e100 else ("ok" if (tr.nfev <= BUDGET_NFEV or end > 1e100)
                                         and cpu <= (BUDGET_CPU_100 if end <= 1e100 else BUDGET_CPU_300)
                                         else "**MISSED**")
            print(f"| {param} | {name} | {end:g} | {tr.nfev:,} ({tr.frame.nfev:,}) | {tr.njev:,} | {cpu:.2f} | {ok} |")


def part3(rows):
    print("\n## 3. Default rtol 1e-8 against rtol 1e-10, at log t = 1e30, 1e100, 1e300\n")
    print("| param | data | path error at the three times | evals 1e-8 / 1e-10 |")
    print("|---|---|---|---|")
    for param, name, data, init in rows:
        at = FAR[1:]
        a, _, e1 = timed(data, param, init, log_t_end=at[-1], log_t_eval=at)
        b, _, e2 = timed(data, param, init, log_t_end=at[-1], log_t_eval=at, rtol=1e-10)
        if a is None or b is None:
            print(f"| {param} | {name} | {e1 or e2} | |")
            continue
        err = ", ".join(f"{e:.1e}" for e in al.path_error(a, b))
        print(f"| {param} | {name} | {err} | {a.nfev:,} / {b.nfev:,} |")


def part4():
    print("\n## 4. Numbers for the chapters\n")
    gen = al.make_generic_data(6, 8, 10, 0)
    nuc = al.solve_svm(gen, "nuc")
    for seed in (0, 3):
        tr, cpu, err = timed(gen, "KQ", al.default_init(gen, "KQ", 0.01, seed=seed), log_t_end=KQ_GRID[-1],
                             log_t_eval=KQ_GRID)
        if tr is None:
            print(f"(K, Q) on make_generic_data(6, 8, 10, 0), seed {seed}: {err}")
            continue
        gap = np.linalg.svd(tr.direction(), compute_uv=False).sum(axis=1) / nuc.value - 1.0
        late = (np.array(KQ_GRID) >= 1e10) & (np.array(KQ_GRID) <= 1e30)
        rate = np.polyfit(np.log(np.array(KQ_GRID)[late]), np.log(gap[late]), 1)[0]
        print(f"\n(K, Q) from 0.01 * N(0, 1) (seed {seed}) on make_generic_data(6, 8, 10, 0), {tr.nfev:,} evaluations,"
              f" {cpu:.1f} s CPU; nuclear-norm gap ||W_hat||_* / ||W_nuc||_* - 1 (W_hat = W / mu(W)) and cosine "
              f"with W_nuc; fitted gap ~ (log t)^{rate:.3f} on log t in [1e10, 1e30]:\n")
        print("| log t | gap | cosine |")
        print("|---|---|---|")
        for s, g, c in zip(KQ_GRID, gap, al.svm_cosine(tr, nuc)):
            print(f"| {s:g} | {g:.3e} | {c:.12f} |")
    print("\n(K, Q) from 0.01 * N(0, 1) (seed 0) on make_generic_data(6, 8, 10, s), s = 0..19, to log t = 1e300:\n")
    print("| data seed | outcome | evals | CPU [s] | gap at 1e6 / 1e30 / 1e100 |")
    print("|---|---|---|---|---|")
    for s in range(20):
        data = al.make_generic_data(6, 8, 10, s)
        tr, cpu, err = timed(data, "KQ", al.default_init(data, "KQ", 0.01, seed=0), log_t_end=1e300,
                             log_t_eval=[1e6, 1e30, 1e100, 1e300])
        if tr is None:
            print(f"| {s} | {err} | | {cpu:.1f} | |")
            continue
        if not np.all(tr.frame.ref == data.opt):
            print(f"| {s} | attends a non-optimal token (refs {tr.frame.ref.tolist()}, optimal {data.opt.tolist()}) | "
                  f"{tr.nfev:,} | {cpu:.1f} | (n/a) |")
            continue
        nuc = al.solve_svm(data, "nuc").value
        gap = np.linalg.svd(tr.direction(), compute_uv=False).sum(axis=1) / nuc - 1.0
        print(f"| {s} | ok, {len(tr.frame.support_changes)} support changes | {tr.nfev:,} | {cpu:.1f} | "
              f"{gap[0]:.2e} / {gap[1]:.2e} / {gap[2]:.1e} |")
    dia = al.make_diagonal_data()
    l1 = al.solve_svm(dia, "l1")
    print("\nxi flow on the diagonal demo data (init (5), omega_0 * 1): distance of beta_hat to the l1-SVM and the "
          "KKT constant epsilon * ln mu:\n")
    print("| omega_0 | log t | distance to l1-SVM | epsilon | epsilon * ln mu | evals | CPU [s] |")
    print("|---|---|---|---|---|---|---|")
    for om in (0.01, 0.03):
        tr, cpu, err = timed(dia, "xi", al.default_init(dia, "xi", om, seed=None), log_t_end=1e300, log_t_eval=FAR)
        if tr is None:
            print(f"| {om} | | {err} | | | | |")
            continue
        dist, r = al.svm_distance(tr, l1), al.kkt_residuals(tr, l1)
        for j, s in enumerate(FAR):
            print(f"| {om} | {s:g} | {dist[j]:.2e} | {r.epsilon[j]:.3e} | {r.epsilon[j] * r.log_mu[j]:.4f} | "
                  f"{tr.nfev:,} | {cpu:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="parts 1-2 only")
    args = ap.parse_args()
    print(f"# frame benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()}-CPU {platform.machine()}, "
          f"numpy {np.__version__}, attnlib {al.__version__}")
    rows = cases()
    part1(rows)
    part2(rows)
    if not args.quick:
        part3(rows)
        part4()


if __name__ == "__main__":
    main()
