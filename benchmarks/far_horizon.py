"""Benchmark: the far-horizon grid of issue 27 -- every separable data set of the three generators, every
parameterisation the data admit, flown to ``log t = 1e100`` and ``1e300`` through the margin frame.

Run from the repository root:

    .venv/bin/python benchmarks/far_horizon.py            # 20 seeds per cell, both horizons (about 20 min)
    .venv/bin/python benchmarks/far_horizon.py --quick    # 3 seeds, log t = 1e100 only (about 1 min)

Each run starts from ``default_init(data, param, scale=0.1, seed=0)``. A run counts as *right* when it returns and
the margin-normalised direction ``W/mu`` at the last saved time lies within ``1e-3`` (relative) of the matching
SVM (``"fro"`` for W, ``"nuc"`` for KQ, ``"l2"`` for beta, ``"l1"`` for xi). A run that ends attending to
other tokens than ``data.opt`` (a locally optimal selection: a correct path, not a solver failure) is counted
apart: for W and KQ as "selection, right" when its cosine with that selection's SVM is within ``1e-3**2 / 2`` of 1
(the same distance), for beta and xi unchecked (the selection SVMs are "fro"/"nuc" only). A run that raises is listed by its
error class; a class that attnlib does not export (a raw scipy/numpy error, or a private one) is marked RAW. The
goal (issue 27): every cell all right, or failures that each raise a public, named error whose message is right.
Diagonal data admit only the diagonal parameterisations ("beta", "xi").
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ATTNLIB_WORKERS", "1")

import attnlib as al  # noqa: E402
from attnlib import diagnostics as dg  # noqa: E402

GRID = [("generic", (4, 5, 6)), ("generic", (6, 8, 10)), ("diagonal", (4, 3, 5)), ("diagonal", (6, 4, 8)),
        ("orthogonal", (2, 3, 4)), ("orthogonal", (3, 5, 6))]
MAKERS = {"generic": al.make_generic_data, "diagonal": al.make_diagonal_data, "orthogonal": al.make_orthogonal_data}
SVM_OF = {"W": "fro", "KQ": "nuc", "beta": "l2", "xi": "l1"}
PUBLIC = {al.FlowStallError, al.MarginFrameError}
DIRECTION_TOL = 1e-3


def params_of(generator: str) -> tuple[str, ...]:
    return ("beta", "xi") if generator == "diagonal" else ("W", "KQ", "beta", "xi")


def one_run(data, param: str, log_t_end: float) -> tuple[str, float]:
    """``("right" | "wrong direction" | error class name, seconds)`` of one flow."""
    start = time.perf_counter()
    try:
        traj = al.gradient_flow(data, param, al.default_init(data, param, 0.1, seed=0), log_t_end=log_t_end)
    except Exception as exc:  # noqa: BLE001 -- the benchmark classifies every failure
        name = type(exc).__name__
        return (name if type(exc) in PUBLIC else f"RAW {type(exc).__module__}.{name}: {str(exc)[:80]}",
                time.perf_counter() - start)
    seconds = time.perf_counter() - start
    logsig = traj.frame.log_attention[-1] if traj.frame is not None else np.log(al.attention(data, traj.final()))
    attended = np.argmax(logsig, axis=1)
    if np.array_equal(attended, data.opt):
        dist = float(dg.svm_distance(traj, al.solve_svm(data, SVM_OF[param]))[-1])
        return ("right" if dist < DIRECTION_TOL else f"wrong direction ({dist:.1e})"), seconds
    if param in ("W", "KQ"):  # locked on another selection: compare with that selection's SVM
        cos = float(traj.cosine_to(al.solve_selection_svm(data, attended, SVM_OF[param]).W)[-1])
        return ("selection, right" if cos > 1 - DIRECTION_TOL ** 2 / 2 else f"selection, wrong ({cos:.6f})"), seconds
    return "selection (not checked)", seconds


def cell(outcomes: list[str]) -> str:
    counts = Counter(outcomes)
    right = counts.pop("right", 0)
    text = f"{right}/{len(outcomes)}"
    if counts:
        text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, log t = 1e100 only")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 20; 3 with --quick)")
    parser.add_argument("--only", choices=sorted(MAKERS), default=None, help="one generator's rows only")
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 20)
    horizons = (1e100,) if args.quick else (1e100, 1e300)
    print(f"seeds per cell: {seeds}; horizons: {horizons}; numpy {np.__version__}")
    for log_t_end in horizons:
        print(f"\n### log_t_end = {log_t_end:g}\n\n| data | W | KQ | beta | xi | slowest run |\n|---|---|---|---|---|---|")
        for generator, shape in GRID:
            if args.only is not None and generator != args.only:
                continue
            row, slowest = [], 0.0
            for param in ("W", "KQ", "beta", "xi"):
                if param not in params_of(generator):
                    row.append("–")
                    continue
                outcomes = []
                for seed in range(seeds):
                    outcome, seconds = one_run(MAKERS[generator](*shape, seed=seed), param, log_t_end)
                    outcomes.append(outcome)
                    slowest = max(slowest, seconds)
                row.append(cell(outcomes))
            print(f"| {generator} {shape} | " + " | ".join(row) + f" | {slowest:.1f} s |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
