"""Fuzz the public surface of attnlib and attnbook: valid inputs at every scale, edge and bad inputs, outcomes classified.

```bash
python benchmarks/fuzz.py --quick            # a seeded subset, < 2 min
python benchmarks/fuzz.py                    # every case (~3,000), well under 30 min of one core
python benchmarks/fuzz.py --case 123         # re-run one case in this process, with its traceback
python benchmarks/fuzz.py --only svm mirror  # the cases whose target starts with one of these
```

Each case is one line of Python (the reproducer printed for every non-ok, non-clear outcome), evaluated in a
namespace holding ``np``, ``al`` (attnlib), the modules ``frame``, ``mirror``, ``fac`` (factorization), ``diag``
(diagnostics), ``checks``, ``widgets``, ``store`` (attnbook.experiments._store) and the helpers below (``scale``,
``cli``, ...). Cases run one at a time in a forked worker process; a case over its time limit (60 s; 300 s for CLI
runs) is a **hang** and the worker is replaced. Outcomes:

- **ok**: returned, and the invariant checks of its target pass (finite where a number exists; an SVM has margin 1,
  value = its norm of W, and scales as W / c when the tokens are multiplied by c; a flow's loss is non-increasing;
  factors multiply back; attention rows sum to 1; check_assumptions answers the same for data × c; ...);
- **clear**: ValueError / TypeError, or a public error of attnlib / attnbook, raised by attnlib / attnbook code,
  whose message names the argument (or, on valid input, the cause: the error is a documented outcome);
- **unclear**: a public error class whose message does not name the argument, or one raised from inside
  numpy / scipy / cvxpy on invalid input;
- **silent**: returned on input it must refuse, or returned a value that fails an invariant;
- **hang**: over the time limit;
- **crash**: any other exception class (AttributeError, RuntimeError, ZeroDivisionError, LinAlgError, cvxpy's
  errors, ...), a private class, or a public class raised from inside numpy / scipy / cvxpy on valid input. For the
  CLI: a traceback, or an exit status other than 0 (done) and 2 (argparse's usage error).
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import math
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "ATTNLIB_FUZZ_TMP" not in os.environ:  # one scratch folder per run, shared with the processes it starts
    os.environ["ATTNLIB_FUZZ_TMP"] = tempfile.mkdtemp(prefix="attnlib-fuzz-")
    atexit.register(shutil.rmtree, os.environ["ATTNLIB_FUZZ_TMP"], ignore_errors=True)
TMP = Path(os.environ["ATTNLIB_FUZZ_TMP"])
os.environ.setdefault("ATTNBOOK_STUDIES", str(TMP / "studies"))  # never read or write the book's artifact
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import attnlib as al  # noqa: E402
from attnlib import diagnostics as diag  # noqa: E402
from attnlib import factorization as fac  # noqa: E402
from attnlib import frame, mirror  # noqa: E402

CLASSES = ("ok", "clear", "unclear", "silent", "hang", "crash")
PUBLIC_ERRORS = ("ValueError", "TypeError", "InfeasibleSVMError", "FlowStallError", "MarginFrameError",
                 "AssumptionError", "WorkerPoolError", "StudentEditionError", "CourseError", "ClaimError",
                 "FloatingPointError")  # documented by gradient_descent and optimize: the iterates left float64
OWN = (str(ROOT / "attnlib"), str(ROOT / "attnbook"))


# ---------------------------------------------------------------- helpers the reproducers use

def scale(data, cx=1.0, cz=1.0):
    """``data`` with tokens multiplied by ``cx`` and queries by ``cz`` (labels and v unchanged)."""
    return al.AttentionData(np.asarray(data.X) * cx, np.asarray(data.z) * cz, data.y, data.v)


def shrink_query(data, i=0, c=1e-6):
    """``data`` with sample ``i``'s query multiplied by ``c``."""
    z = np.array(data.z)
    z[i] *= c
    return al.AttentionData(data.X, z, data.y, data.v)


def demo_fig(a=1.0, b="x"):
    """A tiny figure for the widget cases."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.5, 1))
    ax.plot([0, 1], [0, float(a)])
    ax.set_title(str(b))
    return fig


def square(x):
    """A module-level function for pool_map."""
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError("x must not be 3; got 3")
    return x


@dataclass(frozen=True)
class CliResult:
    args: tuple
    code: int
    out: str
    err: str


def cli(args, env=None, timeout=300):
    """``python -m attnbook *args`` in a subprocess (cwd = the repository), exit status and output."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), ATTNLIB_WORKERS="1", **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "attnbook", *args], cwd=ROOT, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and every process it started (pool workers)
        proc.communicate()
        raise
    return CliResult(tuple(args), proc.returncode, out, err)


def with_env(name, value, expr_func):
    """Call ``expr_func()`` with the environment variable ``name`` set to ``value`` (then restored)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        return expr_func()
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


_MEMO_CALLS = []


def memo_target(x, y=1.0):
    """A module-level function for the store's ``memo`` (counts its real calls)."""
    _MEMO_CALLS.append((x, y))
    return np.arange(3.0) + len(repr(x)) + (y if isinstance(y, float) else 0.0)


def memo_twice(x, y=1.0, folder=None):
    """``memo(memo_target)`` called twice; returns both results and how often the function really ran."""
    from attnbook.experiments import _store as store

    f = store.memo(memo_target)
    before = len(_MEMO_CALLS)
    if folder is not None:
        os.environ["ATTNBOOK_STUDIES"] = str(folder)
    first, second = f(x, y), f(x, y)
    return first, second, len(_MEMO_CALLS) - before


def namespace() -> dict:
    from attnbook import checks, widgets
    from attnbook.experiments import _store as store

    return dict(np=np, al=al, frame=frame, mirror=mirror, fac=fac, diag=diag, checks=checks, widgets=widgets,
                store=store, scale=scale, shrink_query=shrink_query, demo_fig=demo_fig, square=square,
                fail_on_three=fail_on_three, cli=cli, with_env=with_env, memo_twice=memo_twice, TMP=TMP,
                math=math, Path=Path, __file__=__file__)


# ---------------------------------------------------------------- invariant checks (None = passes)

def _nan_inside(obj, depth=0) -> bool:
    if depth > 6:
        return False
    if isinstance(obj, (float, np.floating)):
        return bool(np.isnan(obj))
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind == "f" and bool(np.isnan(obj).any())
    if isinstance(obj, (tuple, list)):
        return any(_nan_inside(o, depth + 1) for o in obj)
    if isinstance(obj, dict):
        return any(_nan_inside(o, depth + 1) for o in obj.values())
    if hasattr(obj, "__dataclass_fields__"):
        return any(_nan_inside(getattr(obj, f), depth + 1) for f in obj.__dataclass_fields__
                   if f not in ("data", "frame", "certificate"))
    return False


def inv_no_nan(result, ns, **_):
    return "NaN in the result" if _nan_inside(result) else None


def inv_finite(result, ns, **_):
    arr = np.asarray(result, dtype=float) if not isinstance(result, tuple) else np.concatenate(
        [np.ravel(np.asarray(r, dtype=float)) for r in result])
    return None if np.all(np.isfinite(arr)) else f"non-finite result {arr.ravel()[:4]}"


def inv_attention(result, ns, **_):
    if _nan_inside(result):
        return "NaN in the attention"
    rows = np.asarray(result).sum(axis=-1)
    return None if np.allclose(rows, 1.0, rtol=0, atol=1e-9) else f"attention rows sum to {rows.ravel()[:3]}"


def inv_cosine(result, ns, **_):
    if not np.isfinite(result) or abs(result) > 1 + 1e-12:
        return f"cosine {result} outside [-1, 1]"
    return None


def _norm_value(sol):
    W, norm = np.asarray(sol.W), sol.norm
    sv = np.linalg.svd(W, compute_uv=False)
    diag_w = np.asarray(sol.beta) if sol.beta is not None else np.diag(W)
    return {"fro": np.linalg.norm(W), "nuc": sv.sum(), "spectral": sv.max(), "max": np.abs(W).max(),
            "l1": np.abs(diag_w).sum(), "l2": np.linalg.norm(diag_w)}[norm]


def inv_svm(result, ns, norm, c=None, **_):
    """Margin 1 recomputed by the model, value = the norm of W, and W / c for tokens × c."""
    D = ns["D"]
    if _nan_inside(result.W):
        return "NaN in W"
    mu = al.margin(D, result.W)
    if not abs(mu - 1) <= 1e-6:
        return f"margin {mu!r}, not 1"
    val = _norm_value(result)
    if not abs(val - result.value) <= 1e-6 * max(1.0, abs(val)):
        return f"value {result.value!r} but ||W|| = {val!r}"
    if c is not None:
        other = al.solve_svm(scale(D, c), norm)
        if norm in ("fro", "l2"):  # a unique minimiser: W itself scales as 1 / c
            err = np.linalg.norm(other.W * c - result.W) / np.linalg.norm(result.W)
        else:  # faces of minimisers (nuc, spectral, max, l1): the value scales as 1 / c
            err = abs(other.value * c - result.value) / result.value
        if not err <= 1e-4:
            return f"not scale-equivariant: tokens x {c:g} change the solution x c by {err:.2g} (relative)"
    return None


def inv_flow(result, ns, **_):
    tr = result
    if _nan_inside(tr.W) or _nan_inside(tr.log_t):
        return "NaN in the trajectory"
    from scipy.special import logsumexp

    y = np.asarray(tr.data.y)
    # log L(W) = log mean_i exp(-y_i Phi_i(W)), computed here (never overflows) rather than by the library
    log_loss = np.array([logsumexp(-y * al.predict(tr.data, W)) - np.log(len(y)) for W in tr.W])
    if not np.all(np.isfinite(log_loss)):
        return "non-finite loss"
    rise = np.diff(log_loss)
    if rise.size and rise.max() > 1e-6:
        k = int(np.argmax(rise))
        return f"loss rises by a factor e^{rise[k]:.2g} at saved time {k + 1}"
    if np.any(np.diff(tr.log_t) < 0):
        return "saved times not increasing"
    return None


def inv_lp_svm(result, ns, c=None, **_):
    D, p = ns["D"], result.p
    if _nan_inside(result.W):
        return "NaN in W"
    mu = al.margin(D, result.W)
    if not abs(mu - 1) <= 1e-5:
        return f"margin {mu!r}, not 1"
    val = np.sum(np.abs(result.W) ** p) ** (1 / p)
    if not abs(val - result.value) <= 1e-5 * max(1.0, val):
        return f"value {result.value!r} but ||W||_p = {val!r}"
    if c is not None:
        other = mirror.solve_lp_svm(scale(D, c), p)
        err = np.linalg.norm(other.W * c - result.W) / np.linalg.norm(result.W)
        if not err <= 1e-3:
            return f"not scale-equivariant: tokens x {c:g} change W*c by {err:.2g}"
    return None


def inv_mirror_roundtrip(result, ns, W, p, **_):
    back = mirror.inverse_mirror_map(result, p)
    Wv = np.asarray(ns[W] if isinstance(W, str) else W, dtype=float)
    if _nan_inside(result) or not np.allclose(back, Wv, rtol=1e-8, atol=1e-300):
        return "inverse_mirror_map(mirror_map(W)) != W"
    return None


def inv_nuclear_factors(result, ns, W, **_):
    K, Q = result
    Wv = np.asarray(ns[W] if isinstance(W, str) else W, dtype=float)
    scale_ = max(np.abs(Wv).max(), 1e-300)
    if _nan_inside(result) or not np.allclose(K @ Q.T, Wv, rtol=0, atol=1e-9 * scale_):
        return "K Q^T != W"
    nuc = np.linalg.svd(Wv, compute_uv=False).sum()
    cost = fac.factor_cost(K, Q)
    if not abs(cost - nuc) <= 1e-8 * max(nuc, 1e-300):
        return f"factor_cost {cost!r} != ||W||_* {nuc!r}"
    return None


def inv_l1_factors(result, ns, beta, **_):
    a, b = result
    bv = np.asarray(ns[beta] if isinstance(beta, str) else beta, dtype=float)
    if _nan_inside(result) or not np.allclose(a * b, bv, rtol=1e-12, atol=1e-300):
        return "factors do not multiply back to beta"
    return None


def inv_series(result, ns, lo=0.0, hi=np.inf, **_):
    """A diagnostic along a trajectory: NaN allowed (where the direction is undefined), else finite and in range."""
    r = np.asarray(result, dtype=float)
    bad = ~np.isnan(r) & ~((r >= lo) & (r <= hi))
    return f"entries outside [{lo}, {hi}]: {r[bad][:3]}" if bad.any() else None


def inv_kkt(result, ns, **_):
    """KKT residuals: NaN only where mu(t) <= 1 (log mu undefined as a normaliser), finite elsewhere."""
    ok = ns["T"].margin > 1
    for name in ("log_mu", "epsilon", "epsilon_prime", "feasibility", "delta"):
        v = np.asarray(getattr(result, name), dtype=float)
        if not np.all(np.isfinite(v[ok])):
            return f"{name} not finite where mu > 1"
    return None


def inv_orthonormal(result, ns, **_):
    """``right_basis``: a square V with V^T V = I (a V that is not orthonormal is a silent wrong result)."""
    V = np.asarray(result, dtype=float)
    if V.ndim != 2 or V.shape[0] != V.shape[1] or not np.all(np.isfinite(V)):
        return f"not a finite square matrix: shape {V.shape}"
    off = float(np.abs(V.T @ V - np.eye(V.shape[0])).max())
    return None if off <= 1e-10 else f"V^T V differs from the identity by {off:.3g}"


def inv_bool(result, ns, **_):
    return None if isinstance(result, (bool, np.bool_)) else f"returned {type(result).__name__}, not a bool"


def inv_assumptions(result, ns, c, **_):
    D = ns["D"]
    other = al.check_assumptions(scale(D, c))
    a = {k: v.holds for k, v in result.checks.items() if k != "3"}  # Assumption 3 compares losses: not scale-free
    b = {k: v.holds for k, v in other.checks.items() if k != "3"}
    return None if a == b else f"not scale-invariant: {a} vs {b} for tokens x {c:g}"


def inv_png(result, ns, **_):
    return None if isinstance(result, bytes) and result[:8] == b"\x89PNG\r\n\x1a\n" else "not PNG bytes"


def inv_html(result, ns, **_):
    return None if isinstance(result, str) and "<img" in result else "no <img> in the HTML"


def inv_memo(result, ns, **_):
    first, second, calls = result
    if calls != 1:
        return f"memo ran the function {calls} times for two equal calls"
    if not np.array_equal(first, second):
        return "memo returned different values for equal calls"
    if getattr(first, "flags", None) is not None and first.flags.writeable:
        return "memo returned a writable array"
    return None


def inv_pool(result, ns, expected, **_):
    return None if list(result) == list(expected) else f"pool_map returned {result!r}, not {expected!r}"


INVARIANTS = {name[4:]: f for name, f in globals().items() if name.startswith("inv_")}


# ---------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    target: str          # "svm.solve_svm"
    expr: str            # one line of Python: the reproducer
    expect: str          # "valid" (must return), "invalid" (must raise), "either"
    names: tuple = ()    # words a clear error message names (the argument; for valid input also the cause)
    check: str = "no_nan"
    check_kw: tuple = ()  # (key, value) pairs passed to the invariant
    timeout: float = 60.0
    cost: int = 1        # relative cost (quick mode samples cheap cases more)


def bad_arrays(shape, free=False):
    """Edge values of an array argument: (expression, expect); ``free``: any shape is valid."""
    sh = repr(tuple(shape))
    wrong = repr(tuple(shape[:-1]) + (shape[-1] + 1,)) if shape else "(2,)"
    shaped = "either" if free else "invalid"
    return [("None", "invalid"), ("'abc'", "invalid"), (f"np.full({sh}, np.nan)", "invalid"),
            (f"np.full({sh}, np.inf)", "invalid"), (f"np.full({sh}, -np.inf)", "invalid"),
            (f"np.zeros({wrong})", shaped), (f"np.full({sh}, 1+1j)", "invalid"),
            (f"np.empty({sh}, dtype=object)", "invalid"), ("np.float64(1.0)" if shape else "np.zeros((2, 2))", shaped),
            (f"np.zeros({sh})", "either"), (f"np.ones({sh}, dtype=bool)", "either"),
            (f"np.full({sh}, 1e300)", "either"), (f"np.full({sh}, -1e300)", "either"),
            (f"np.full({sh}, 1e-300)", "either"), (f"np.ones({sh}).tolist()", "either"),
            (f"np.ones({sh}, dtype=np.float32)", "either"), (f"np.ones({sh}, dtype=int)", "either"),
            (f"-np.ones({sh})", "either")]


def bad_scalars(integer=False):
    vals = [("None", "invalid"), ("'1'", "invalid"), ("[1.0, 2.0]", "invalid"), ("np.nan", "invalid"),
            ("np.inf", "either"), ("-np.inf", "either"), ("1+2j", "invalid"), ("True", "invalid"),
            ("0", "either"), ("-1", "either"), ("1e308", "either"), ("1e-308", "either"), ("10**400", "either"),
            ("np.float64(2.0)", "either"), ("np.int64(2)", "either"), ("np.array(2.0)", "either"),
            ("np.array([2.0, 3.0])", "invalid")]
    if integer:
        vals += [("2.5", "invalid"), ("3.0", "either"), ("2**70", "either")]
    return vals


def bad_choices(valid):
    return [("None", "invalid"), ("1", "invalid"), ("''", "invalid"), ("'nope'", "invalid"),
            (repr(valid.upper()) if valid.upper() != valid else repr(valid.lower()), "invalid"),
            (f"[{valid!r}]", "invalid"), (f"np.str_({valid!r})", "either")]


BAD_DATA = [("None", "invalid"), ("'data'", "invalid"), ("(D.X, D.z, D.y, D.v)", "invalid"), ("{'X': D.X}", "invalid"),
            ("np.zeros((3, 3, 4))", "invalid"), ("T", "invalid")]

GENERATORS = [("al.make_generic_data({n}, {L}, {d}, {s})", [(4, 5, 6), (6, 8, 10), (3, 3, 4), (2, 4, 3)]),
              ("al.make_diagonal_data({n}, {L}, {d}, seed={s})", [(4, 3, 5), (6, 4, 8), (3, 3, 4), (2, 2, 3)]),
              ("al.make_orthogonal_data({n}, {L}, seed={s})", [(2, 3, None), (3, 5, None), (2, 2, None)])]


def random_data(rng) -> tuple[str, str]:
    """(expression of a random valid data set at a random scale, its generator kind)."""
    g = rng.integers(len(GENERATORS))
    tmpl, sizes = GENERATORS[g]
    n, L, d = sizes[rng.integers(len(sizes))]
    expr = tmpl.format(n=n, L=L, d=d, s=int(rng.integers(0, 50)))
    kind = ("generic", "diagonal", "orthogonal")[g]
    r = rng.random()
    if r < 0.4:
        return expr, kind
    c = float(10.0 ** rng.choice([-8, -6, -4, -2, -1, 1, 2, 4, 6, 8]))
    if r < 0.7:
        return f"scale({expr}, {c:g})", kind
    if r < 0.85:
        return f"scale({expr}, cz={c:g})", kind
    return f"shrink_query({expr}, 0, {c:g})", kind


def edge_cases(target, template, args, names_for=None, check="no_nan", check_kw=(), cost=1, timeout=60.0,
               optional=()):
    """One case per (argument, edge value) of ``template``, a format string with ``{arg}`` slots and ``args``
    ``{arg: (valid_expr, edge_values)}``; ``None`` is a valid value of the ``optional`` arguments."""
    out = []
    valid = {a: v for a, (v, _) in args.items()}
    for arg, (good, edges) in args.items():
        for val, expect in edges:
            if val == good:
                continue
            if val == "None" and (arg in optional or good == "None"):
                expect = "either"
            call = template.format(**{**valid, arg: val})
            names = (names_for or {}).get(arg, (arg,))
            out.append(Case(target, call, expect, names, check, check_kw, timeout, cost))
    return out


def build_cases(seed: int = 0, valid_per_target: int = 40) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases: list[Case] = []

    # data generators: valid sizes / seeds / scores, then edges
    for _ in range(valid_per_target):
        g = rng.integers(3)
        n, L, d = (int(x) for x in rng.integers(2, 9, 3))
        s = int(rng.integers(0, 1000))
        if g == 0:
            sc = float(10.0 ** rng.uniform(-3, 3))
            cases.append(Case("data.make_generic_data", f"al.make_generic_data({n}, {L}, {max(d, 2)}, {s}, score={sc:.6g})",
                              "valid", ("score",)))
        elif g == 1:
            sc = float(10.0 ** rng.uniform(-3, 3))
            cases.append(Case("data.make_diagonal_data", f"al.make_diagonal_data({n}, {min(L, d)}, {d}, seed={s}, score={sc:.6g})",
                              "valid", ("score",)))
        else:
            c = float(rng.uniform(-0.5, 0.5))
            cases.append(Case("data.make_orthogonal_data", f"al.make_orthogonal_data({min(n, 3)}, {L}, seed={s}, c={c:.4g})",
                              "valid", ("c",)))
    ints = bad_scalars(integer=True)
    cases += edge_cases("data.make_generic_data", "al.make_generic_data({n}, {L}, {d}, {seed}, score={score}, "
                        "equal_scores={equal_scores})",
                        {"n": ("4", ints), "L": ("5", ints), "d": ("6", ints), "seed": ("0", ints),
                         "score": ("6.0", bad_scalars()),
                         "equal_scores": ("False", [("'no'", "invalid"), ("0", "invalid"), ("None", "invalid"),
                                                    ("np.bool_(True)", "either")])})
    cases += edge_cases("data.make_diagonal_data", "al.make_diagonal_data({n}, {L}, {d}, seed={seed}, score={score})",
                        {"n": ("3", ints), "L": ("3", ints), "d": ("4", ints), "seed": ("1", ints + [("None", "either")]),
                         "score": ("None", bad_scalars())}, optional=("seed", "score"))
    cases += edge_cases("data.make_orthogonal_data", "al.make_orthogonal_data({n}, {L}, {d}, seed={seed}, c={c})",
                        {"n": ("2", ints), "L": ("3", ints), "d": ("None", ints), "seed": ("1", ints),
                         "c": ("0.0", bad_scalars() + [("np.zeros(2)", "either"), ("np.zeros(3)", "invalid")])},
                        optional=("d", "seed"))
    X, Z, Y, V = ("D.X", "D.z", "D.y", "D.v")
    data_words = ("sample", "token", "tokens", "samples")
    cases += edge_cases("data.AttentionData", "(D := al.make_diagonal_data()) and al.AttentionData({X}, {z}, {y}, {v})",
                        {"X": (X, bad_arrays((3, 3, 4))), "z": (Z, bad_arrays((3, 4))), "y": (Y, bad_arrays((3,))),
                         "v": (V, bad_arrays((4,)))},
                        names_for={a: (a, *data_words) for a in ("X", "z", "y", "v")})
    cases += edge_cases("data.block_diagonal_data", "al.block_diagonal_data({datas})",
                        {"datas": ("[al.make_diagonal_data(), al.make_diagonal_data(seed=2)]",
                                   [("[]", "invalid"), ("None", "invalid"), ("al.make_diagonal_data()", "invalid"),
                                    ("[al.make_diagonal_data()]", "either"), ("[1, 2]", "invalid"),
                                    ("(al.make_diagonal_data(), al.make_generic_data())", "either"),
                                    ("iter([al.make_diagonal_data()])", "either")])})
    cases += edge_cases("data.diagonal_blocks", "al.diagonal_blocks({W}, {B})",
                        {"W": ("np.eye(6)", bad_arrays((6, 6))), "B": ("2", ints)})

    # model: valid W at many scales on random data, then edges
    model_funcs = [("attention", "attention"), ("attention_scores", "finite"), ("predict", "finite"),
                   ("exp_loss", "finite"), ("excess_loss", "finite"), ("log_excess_loss", "no_nan"),
                   ("margin", "finite"), ("loss_grad", "finite"), ("loss_grad_direction", "finite"),
                   ("logistic_loss", "finite"), ("logistic_grad", "finite")]
    for _ in range(valid_per_target * 3):
        data, _kind = random_data(rng)
        fname, check = model_funcs[rng.integers(len(model_funcs))]
        ws = float(10.0 ** rng.uniform(-8, 8))
        cases.append(Case(f"model.{fname}", f"(D := {data}) and al.{fname}(D, {ws:.3g} * np.random.default_rng("
                          f"{int(rng.integers(100))}).standard_normal((D.d, D.d)))", "valid", ("W",), check))
    for fname, check in model_funcs:
        cases += edge_cases(f"model.{fname}", "(D := al.make_diagonal_data()) and al." + fname + "({data}, {W})",
                            {"data": ("D", BAD_DATA[:5]), "W": ("np.eye(4)", bad_arrays((4, 4)))}, check=check)
    cases += edge_cases("model.loss_grad_KQ", "(D := al.make_diagonal_data()) and al.loss_grad_KQ(D, {K}, {Q}, "
                        "log_scale={log_scale})", {"K": ("np.eye(4)", bad_arrays((4, 4))), "Q": ("np.eye(4)", bad_arrays((4, 4))),
                                                   "log_scale": ("0.0", bad_scalars())}, check="finite")
    cases += edge_cases("model.loss_grad_beta", "(D := al.make_diagonal_data()) and al.loss_grad_beta(D, {beta}, "
                        "log_scale={log_scale})", {"beta": ("np.ones(4)", bad_arrays((4,))),
                                                   "log_scale": ("0.0", bad_scalars())}, check="finite")
    cases += edge_cases("model.loss_grad_xi", "(D := al.make_diagonal_data()) and al.loss_grad_xi(D, {xi_k}, {xi_q})",
                        {"xi_k": ("np.ones(4)", bad_arrays((4,))), "xi_q": ("np.ones(4)", bad_arrays((4,)))},
                        check="finite")
    cases += edge_cases("model.excess_loss", "(D := al.make_diagonal_data()) and al.excess_loss(D, np.eye(4), loss={loss})",
                        {"loss": ("'exp'", bad_choices("exp"))}, check="finite")
    cases += edge_cases("model.cosine", "al.cosine({A}, {B})", {"A": ("np.ones(3)", bad_arrays((3,)) + [
        ("np.full(3, 1e-200)", "either"), ("np.zeros(3)", "either")]), "B": ("np.arange(3.0)", bad_arrays((3,)))},
        check="cosine")

    # assumptions: valid at scales (scale-invariance), edges
    for _ in range(valid_per_target):
        data, _kind = random_data(rng)
        c = float(10.0 ** rng.choice([-5, -3, 3, 5]))
        cases.append(Case("assumptions.check_assumptions", f"al.check_assumptions(D := {data})", "valid", ("data",),
                          "assumptions", (("c", c),), cost=2))
    cases += edge_cases("assumptions.check_assumptions", "(D := al.make_diagonal_data()) and al.check_assumptions("
                        "{data}, {W0}, rtol={rtol})", {"data": ("D", BAD_DATA[:5]),
                                                       "W0": ("None", bad_arrays((4, 4))),
                                                       "rtol": ("1e-9", bad_scalars())})
    cases += edge_cases("assumptions.stuck_loss_bounds", "(D := al.make_diagonal_data()) and al.stuck_loss_bounds({data})",
                        {"data": ("D", BAD_DATA[:5])}, check="finite")

    # SVMs: valid data at scales, every norm, scale-equivariance; edges
    for _ in range(valid_per_target * 3):
        data, _kind = random_data(rng)
        norm = al.SVM_NORMS[rng.integers(len(al.SVM_NORMS))]
        c = float(10.0 ** rng.choice([-3, -1, 1, 3]))
        cases.append(Case("svm.solve_svm", f"al.solve_svm(D := {data}, {norm!r})", "valid", ("data", "norm"),
                          "svm", (("norm", norm), ("c", c)), cost=4))
    cases += edge_cases("svm.solve_svm", "(D := al.make_diagonal_data()) and al.solve_svm(D := {data}, {norm}, solver={solver})",
                        {"data": ("D", BAD_DATA[:5] + [("al.make_generic_data(4, 5, 6, 0, equal_scores=True)", "either")]),
                         "norm": ("'fro'", bad_choices("fro")), "solver": ("None", [("'NOPE'", "invalid"), ("1", "invalid"),
                                                                                    ("'SCS'", "either"), ("'ECOS'", "either")])},
                        check="svm", check_kw=(("norm", "fro"),), cost=2)
    cases += edge_cases("svm.solve_selection_svm", "(D := al.make_generic_data(4, 5, 6, 0)) and al.solve_selection_svm("
                        "D, {selection}, {norm})",
                        {"selection": ("D.opt", [("None", "invalid"), ("[0, 0, 0]", "invalid"), ("[0, 0, 0, 9]", "invalid"),
                                                 ("[0, 0, 0, -1]", "invalid"), ("[0.5, 0, 0, 0]", "invalid"),
                                                 ("np.zeros(4, dtype=int)", "either"), ("[True, False, True, False]", "invalid"),
                                                 ("'0000'", "invalid"), ("np.zeros((4, 1), dtype=int)", "invalid")]),
                         "norm": ("'fro'", bad_choices("fro"))}, cost=2)
    cases += edge_cases("svm.selection_pairs", "(D := al.make_generic_data(4, 5, 6, 0)) and al.selection_pairs(D, {selection})",
                        {"selection": ("D.opt", [("None", "invalid"), ("[0, 0, 0]", "invalid"), ("[0, 0, 0, 9]", "invalid"),
                                                 ("[0, 0, 0, -1]", "invalid"), ("[0.5, 0, 0, 0]", "invalid")])})

    # flows: valid random data, params, horizons; edges
    for _ in range(valid_per_target * 3):
        data, kind = random_data(rng)
        params = ["W", "KQ", "beta", "xi"] if kind != "diagonal" else ["beta", "xi", "W", "KQ"]
        p = params[rng.integers(len(params))]
        horizon = rng.choice(["t_end=1e6", "t_end=1e300", "log_t_end=1e100", "t_end=50.0"])
        sc = float(10.0 ** rng.choice([-4, -1, 0, 1]))
        cases.append(Case("flow.gradient_flow", f"(D := {data}) and al.gradient_flow(D, {p!r}, al.default_init(D, {p!r}, "
                          f"{sc:g}, seed={int(rng.integers(20))}), {horizon})", "valid", ("data", "init", "param"),
                          "flow", cost=8, timeout=60.0))
    cases += edge_cases("flow.gradient_flow", "(D := al.make_diagonal_data()) and al.gradient_flow({data}, {param}, {init}, "
                        "t_end={t_end}, rtol={rtol}, max_nfev={max_nfev}, method={method}, loss={loss})",
                        {"data": ("D", BAD_DATA[:5]), "param": ("'W'", bad_choices("W")),
                         "init": ("np.eye(4) * 0.1", bad_arrays((4, 4))), "t_end": ("100.0", bad_scalars()),
                         "rtol": ("1e-8", bad_scalars()), "max_nfev": ("50000", bad_scalars(integer=True)),
                         "method": ("'LSODA'", bad_choices("LSODA") + [("'RK45'", "either"), ("'Radau'", "either")]),
                         "loss": ("'exp'", bad_choices("exp"))}, check="flow", cost=3)
    cases += edge_cases("flow.gradient_flow", "(D := al.make_diagonal_data()) and al.gradient_flow(D, 'W', np.eye(4) * 0.1, "
                        "t_eval={t_eval})", {"t_eval": ("None", [("[]", "invalid"), ("[0.5, 1.0]", "either"),
                                                                 ("[2.0, 1.0]", "invalid"), ("[np.nan]", "invalid"),
                                                                 ("[-1.0, 5.0]", "invalid"), ("[1e301]", "invalid"),
                                                                 ("np.logspace(0, 300, 5)", "either"), ("5.0", "either")])},
                        check="flow", cost=3)
    cases += edge_cases("flow.gradient_flow", "(D := al.make_diagonal_data()) and al.gradient_flow(D, 'xi', "
                        "al.default_init(D, 'xi'), log_t_end={log_t_end}, log_t_eval={log_t_eval})",
                        {"log_t_end": ("100.0", bad_scalars()),
                         "log_t_eval": ("None", [("[]", "invalid"), ("[1.0, 2.0]", "either"), ("[50.0, 200.0]", "invalid"),
                                                 ("[3.0, 1.0]", "invalid"), ("[np.nan]", "invalid"), ("[-5.0, 5.0]", "either")])},
                        check="flow", cost=3, optional=("log_t_end",))
    cases += edge_cases("flow.gradient_descent", "(D := al.make_diagonal_data()) and al.gradient_descent({data}, {param}, "
                        "{init}, {lr}, {steps}, {normalized}, n_save={n_save})",
                        {"data": ("D", BAD_DATA[:5]), "param": ("'W'", bad_choices("W")),
                         "init": ("np.eye(4) * 0.1", bad_arrays((4, 4))), "lr": ("0.1", bad_scalars()),
                         "steps": ("50", bad_scalars(integer=True)), "normalized": ("False", [("'yes'", "invalid"),
                                                                                             ("1", "invalid"),
                                                                                             ("np.bool_(True)", "either")]),
                         "n_save": ("20", bad_scalars(integer=True))}, cost=2)
    cases += edge_cases("flow.default_init", "(D := al.make_diagonal_data()) and al.default_init({data}, {param}, {scale}, seed={seed}, kind={kind}, d_e={d_e})",
                        {"data": ("D", BAD_DATA[:5]), "param": ("'KQ'", bad_choices("KQ")),
                         "scale": ("0.1", bad_scalars()), "seed": ("0", bad_scalars(integer=True) + [("None", "either")]),
                         "kind": ("None", [("'nope'", "invalid"), ("1", "invalid"), ("'aligned'", "either")]),
                         "d_e": ("None", bad_scalars(integer=True) + [("3", "either"), ("100", "either")])},
                        optional=("seed", "kind", "d_e"), names_for={"kind": ("kind", "Assumption")})
    cases += edge_cases("flow.aligned_bases", "(D := al.make_orthogonal_data()) and al.aligned_bases({data})",
                        names_for={"data": ("data", "Assumption")},
                        args={"data": ("D", BAD_DATA[:5] + [("al.make_generic_data()", "either"),
                                                                               ("scale(al.make_orthogonal_data(), 1e-5)", "either"),
                                                                               ("scale(al.make_orthogonal_data(), 1e5)", "either")])})

    # the frame's public helpers
    cases += edge_cases("frame.offset_shift", "(D := al.make_diagonal_data()) and frame.offset_shift({data})",
                        {"data": ("D", BAD_DATA[:5] + [("scale(al.make_generic_data(), 1e-8)", "either"),
                                                                             ("scale(al.make_generic_data(), 1e8)", "either")])},
                        check="finite")

    # diagnostics
    traj = "(D := al.make_diagonal_data(), T := al.gradient_flow(D, 'xi', al.default_init(D, 'xi'), t_end=1e6))"
    trajW = "(D := al.make_generic_data(4, 5, 6, 0), T := al.gradient_flow(D, 'W', np.zeros((6, 6)), t_end=1e6))"
    cases += edge_cases("diagnostics.svm_cosine", traj + " and diag.svm_cosine({traj}, {sol})",
                        {"traj": ("T", [("None", "invalid"), ("D", "invalid"), ("np.zeros((3, 4, 4))", "invalid")]),
                         "sol": ("al.solve_svm(D, 'l1')", [("None", "invalid"), ("al.solve_svm(al.make_diagonal_data(seed=7), 'l1')", "invalid"),
                                                           ("al.solve_svm(D, 'fro')", "either"), ("'fro'", "invalid"),
                                                           ("al.solve_selection_svm(D, D.opt)", "either")])}, check="series",
                        check_kw=(("lo", -1.0 - 1e-12), ("hi", 1.0 + 1e-12)), cost=2)
    cases += edge_cases("diagnostics.svm_distance", trajW + " and diag.svm_distance({traj}, {sol})",
                        {"traj": ("T", [("None", "invalid"), ("D", "invalid")]),
                         "sol": ("al.solve_svm(D, 'fro')", [("None", "invalid"), ("al.solve_selection_svm(D, D.opt)", "either"),
                                                            ("al.solve_selection_svm(D, np.zeros(4, dtype=int))", "either"),
                                                            ("mirror.solve_lp_svm(D, 2.0)", "invalid")])}, check="series", cost=2)
    cases += edge_cases("diagnostics.kkt_residuals", traj + " and diag.kkt_residuals({traj}, {sol}, support_tol={support_tol})",
                        {"traj": ("T", [("None", "invalid")]), "sol": ("al.solve_svm(D, 'l1')", [("None", "invalid")]),
                         "support_tol": ("1e-6", bad_scalars())}, check="kkt", cost=2)
    for fname, arg in [("conserved_quantity", "traj"), ("conservation_error", "traj"), ("sinh_closed_form", "traj")]:
        cases += edge_cases(f"diagnostics.{fname}", traj + f" and diag.{fname}({{{arg}}})",
                            {arg: ("T", [("None", "invalid"), ("D", "invalid"), ("'T'", "invalid")])}, cost=2)
    cases += edge_cases("diagnostics.path_error", traj + " and diag.path_error({traj}, {ref})",
                        {"traj": ("T", [("None", "invalid")]), "ref": ("T", [("None", "invalid"),
                                                                            ("al.gradient_flow(D, 'beta', al.default_init(D, 'beta'), t_end=1e6)", "either")])},
                        check="finite", cost=2)
    cases += edge_cases("diagnostics.direction", "(D := al.make_diagonal_data()) and diag.direction({data}, {W})",
                        {"data": ("D", BAD_DATA[:5]), "W": ("np.eye(4)", bad_arrays((4, 4)))}, check="no_nan")
    cases += edge_cases("diagnostics.singular_values", "diag.singular_values({W})", {"W": ("np.eye(4)", bad_arrays((4, 4), free=True))},
                        check="finite")
    cases += edge_cases("diagnostics.alignment_error", "diag.alignment_error({K}, {Q}, {U_K}, {U_Q}, {V})",
                        {"K": ("np.eye(4)", bad_arrays((4, 4))), "Q": ("np.eye(4)", bad_arrays((4, 4))),
                         "U_K": ("np.eye(4)", bad_arrays((4, 4))), "U_Q": ("np.eye(4)", bad_arrays((4, 4))),
                         "V": ("np.eye(4)", bad_arrays((4, 4)))}, check="finite")
    cases += edge_cases("diagnostics.right_basis", "diag.right_basis({K0}, {U_K})",
                        {"K0": ("np.eye(4)", bad_arrays((4, 4)) + [("np.eye(4)[:, :2]", "either")]),
                         "U_K": ("np.eye(4)", bad_arrays((4, 4)))}, check="orthonormal")
    cases += edge_cases("diagnostics.check_sinh_closed_form", "(D := al.make_diagonal_data()) and "
                        "diag.check_sinh_closed_form({data}, {init}, t_end={t_end}, rtol={rtol})",
                        {"data": ("D", BAD_DATA[:5]), "init": ("al.default_init(D, 'xi')", [("None", "invalid"), ("np.eye(4)", "invalid"),
                                                                                            ("(np.ones(4), np.ones(3))", "invalid"),
                                                                                            ("(np.full(4, np.nan), np.ones(4))", "invalid"),
                                                                                            ("(np.zeros(4), np.zeros(4))", "either")]),
                         "t_end": ("1e6", bad_scalars()), "rtol": ("1e-8", bad_scalars())}, cost=2)
    cases += edge_cases("diagnostics.diagonal_network_flow", "(D := al.make_diagonal_data()) and "
                        "diag.diagonal_network_flow(D, {omega0}, {t_eval}, rtol={rtol})",
                        {"omega0": ("np.full(4, 0.1)", bad_arrays((4,))), "t_eval": ("np.linspace(0, 10, 5)", bad_arrays((5,)) + [
                            ("[]", "invalid"), ("[3.0, 1.0]", "invalid")]), "rtol": ("1e-10", bad_scalars())}, check="finite", cost=2)

    # factorization
    for _ in range(valid_per_target):
        d = int(rng.integers(1, 7))
        sc = float(10.0 ** rng.uniform(-8, 8))
        rank = int(rng.integers(0, d + 1))
        s = int(rng.integers(1000))
        W = f"(lambda r: {sc:.3g} * r.standard_normal(({d}, {rank})) @ r.standard_normal(({rank}, {d})))(np.random.default_rng({s}))"
        cases.append(Case("factorization.nuclear_factors", f"fac.nuclear_factors(W := {W})", "valid", ("W",),
                          "nuclear_factors", (("W", "W"),)))
        cases.append(Case("factorization.l1_factors", f"fac.l1_factors(b := {sc:.3g} * np.random.default_rng({s})"
                          f".standard_normal({d}))", "valid", ("beta",), "l1_factors", (("beta", "b"),)))
    cases += edge_cases("factorization.nuclear_factors", "fac.nuclear_factors({W}, d_e={d_e})",
                        {"W": ("np.eye(4)", bad_arrays((4, 4), free=True) + [("np.zeros((0, 0))", "invalid")]),
                         "d_e": ("None", bad_scalars(integer=True) + [("2", "invalid"), ("8", "either")])}, check="no_nan")
    cases += edge_cases("factorization.l1_factors", "fac.l1_factors({beta})", {"beta": ("np.ones(4)", bad_arrays((4,), free=True))},
                        check="no_nan")
    cases += edge_cases("factorization.factor_cost", "fac.factor_cost({K}, {Q})",
                        {"K": ("np.eye(4)", bad_arrays((4, 4))), "Q": ("np.eye(4)", bad_arrays((4, 4)))}, check="finite")
    cases += edge_cases("factorization.nuclear_subgradient", "fac.nuclear_subgradient({W}, {E})",
                        {"W": ("np.diag([3.0, 2.0, 0.0, 0.0])", bad_arrays((4, 4), free=True)), "E": ("None", bad_arrays((4, 4)))},
                        check="finite")
    cases += edge_cases("factorization.check_nuclear_subgradient", "fac.check_nuclear_subgradient({W}, {G})",
                        {"W": ("np.diag([3.0, 2.0, 0.0, 0.0])", bad_arrays((4, 4))),
                         "G": ("np.diag([1.0, 1.0, 0.5, 0.0])", bad_arrays((4, 4)))}, check="no_nan")
    cases += edge_cases("factorization.NuclearSubgradientCheck.ok",
                        "fac.check_nuclear_subgradient(np.diag([3.0, 2.0, 0, 0]), np.diag([1.0, 1.0, 0.5, 0])).ok({tol})",
                        {"tol": ("1e-8", bad_scalars())}, check="bool")
    cases += edge_cases("factorization.pair_sum", "(D := al.make_diagonal_data()) and fac.pair_sum(D, {lam})",
                        {"lam": ("np.ones(6)", bad_arrays((6,)))}, check="finite")
    cases += edge_cases("factorization.padded_diag", "fac.padded_diag({xi}, {d_e})",
                        {"xi": ("np.ones(4)", bad_arrays((4,), free=True)), "d_e": ("6", bad_scalars(integer=True) + [("2", "invalid")])},
                        check="finite")

    # mirror descent and the l_p SVM
    for _ in range(valid_per_target):
        data, _kind = random_data(rng)
        p = float(rng.choice([1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0]))
        c = float(10.0 ** rng.choice([-2, 2]))
        cases.append(Case("mirror.solve_lp_svm", f"mirror.solve_lp_svm(D := {data}, {p})", "valid", ("data", "p"), "lp_svm",
                          (("c", c),), cost=4))
        cases.append(Case("mirror.mirror_descent", f"mirror.mirror_descent({data}, {p}, steps=200)", "valid",
                          ("data", "p", "lr"), "finite", cost=3))
        s = int(rng.integers(1000))
        W = f"{float(10.0 ** rng.uniform(-8, 8)):.3g} * np.random.default_rng({s}).standard_normal((4, 4))"
        cases.append(Case("mirror.mirror_map", f"mirror.mirror_map(W := {W}, {p})", "valid", ("W", "p"),
                          "mirror_roundtrip", (("W", "W"), ("p", p))))
    cases += edge_cases("mirror.solve_lp_svm", "(D := al.make_diagonal_data()) and mirror.solve_lp_svm(D := {data}, {p})",
                        {"data": ("D", BAD_DATA[:5] + [("al.make_generic_data(4, 5, 6, 0, equal_scores=True)", "either")]),
                         "p": ("2.0", bad_scalars() + [("1.0", "either"), ("1.00001", "either"), ("1.01", "either"), ("0.5", "invalid"),
                                                       ("1e6", "either")])}, check="lp_svm", cost=3)
    cases += edge_cases("mirror.mirror_descent", "(D := al.make_diagonal_data()) and mirror.mirror_descent({data}, {p}, "
                        "lr={lr}, steps={steps}, save_every={save_every})",
                        {"data": ("D", BAD_DATA[:5]), "p": ("2.0", bad_scalars() + [("1.01", "either"), ("1.0", "invalid")]),
                         "lr": ("0.2", bad_scalars()), "steps": ("50", bad_scalars(integer=True)),
                         "save_every": ("10", bad_scalars(integer=True) + [("1000", "either")])}, check="finite", cost=2)
    cases += edge_cases("mirror.mirror_map", "mirror.mirror_map({W}, {p})",
                        {"W": ("np.eye(3)", bad_arrays((3, 3), free=True)), "p": ("2.0", bad_scalars() + [("1.0", "either")])},
                        check="finite")
    cases += edge_cases("mirror.inverse_mirror_map", "mirror.inverse_mirror_map({Z}, {p})",
                        {"Z": ("np.eye(3)", bad_arrays((3, 3), free=True)), "p": ("2.0", bad_scalars() + [("1.0", "either")])},
                        check="finite")

    # exercise self-checks
    for label in ("ch4_ex_omega", "ch5_ex_closed", "ch7_ex_e2", "ch7_ex_e6", "num_ex_digits"):
        edges = bad_scalars() + [("2.5", "either"), ("[3]", "either"), ("(3,)", "either"),
                                                                                ("np.array([[3.0]])", "either")]
        cases += edge_cases(f"checks.{label}", "checks." + label + "({answer})", {"answer": ("1.0", edges)},
                            check="bool", cost=2)

    # the studies store (memo, the on-disk artifact), the pool
    for val, expect in [("1", "valid"), ("2.5", "valid"), ("'a'", "valid"), ("(1, 2)", "valid"), ("None", "valid"),
                        ("np.float64(3.0)", "valid"), ("np.int64(4)", "valid"), ("True", "valid"), ("10**400", "valid"),
                        ("float('nan')", "either"), ("[1, 2]", "either"), ("{'a': 1}", "either"),
                        ("np.arange(3)", "either"), ("frozenset({1})", "either"), ("-0.0", "valid"), ("1e308", "valid")]:
        cases.append(Case("store.memo", f"memo_twice({val})", expect, ("x", "argument", "arguments"), "memo"))
    for folder in ("TMP / 'ro'", "'/proc/attnlib-fuzz'", "Path(__file__)", "TMP / 'file.txt'", "''", "TMP / 'a b'"):
        cases.append(Case("store.memo", f"memo_twice(7.5, 2.0, folder={folder})", "valid", ("ATTNBOOK_STUDIES",), "memo"))
    cases.append(Case("store.memo", "store.memo(42)", "invalid", ("func",)))
    cases.append(Case("store.memo", "store.memo(lambda x: x)(1)", "either", ("func",)))
    for items, expected in [("range(5)", "[0, 1, 4, 9, 16]"), ("[]", "[]"), ("[3]", "[9]"), ("iter([1, 2])", "[1, 4]"),
                            ("np.arange(3)", "[0, 1, 4]"), ("[1.5, -2.0]", "[2.25, 4.0]")]:
        cases.append(Case("pool.pool_map", f"store.pool_map(square, {items}, workers=2)", "valid", ("items",), "pool",
                          (("expected", eval(expected)),), cost=6))
    for workers, expect in [("0", "invalid"), ("-1", "invalid"), ("1.5", "invalid"), ("'2'", "invalid"),
                            ("True", "invalid"), ("np.int64(2)", "either"), ("2.0", "either"), ("10**6", "either"),
                            ("None", "either"), ("np.nan", "invalid")]:
        cases.append(Case("pool.pool_map", f"store.pool_map(square, [1, 2, 3], workers={workers})", expect, ("workers",),
                          "pool", (("expected", [1, 4, 9]),), cost=6))
    for env in ("abc", "0", "-3", "1.5", "", " 2 ", "999999"):
        cases.append(Case("pool.pool_map", f"with_env('ATTNLIB_WORKERS', {env!r}, lambda: store.pool_map(square, [1, 2]))",
                          "either", ("ATTNLIB_WORKERS",), "pool", (("expected", [1, 4]),), cost=6))
    cases.append(Case("pool.pool_map", "store.pool_map(fail_on_three, [1, 2, 3, 4], workers=2)", "invalid", ("x",),
                      cost=6))
    cases.append(Case("pool.pool_map", "store.pool_map(lambda x: x, [1, 2], workers=2)", "invalid", ("func",), cost=6))
    cases.append(Case("pool.pool_map", "store.pool_map(None, [1, 2], workers=2)", "invalid", ("func",), cost=6))
    cases.append(Case("pool.pool_map", "store.pool_map(square, None, workers=2)", "invalid", ("items",), cost=6))

    # widgets
    cases += edge_cases("widgets.figure_to_png", "widgets.figure_to_png({fig}, dpi={dpi})",
                        {"fig": ("demo_fig()", [("None", "invalid"), ("'fig'", "invalid"), ("1", "invalid")]),
                         "dpi": ("None", bad_scalars() + [("72", "either")])}, check="png", cost=2)
    cases += edge_cases("widgets.static_twin_html", "widgets.static_twin_html({fig_func}, {param}, {values}, dpi={dpi}, "
                        "start={start}, max_bytes={max_bytes})",
                        {"fig_func": ("demo_fig", [("None", "invalid"), ("'demo_fig'", "invalid"), ("print", "invalid")]),
                         "param": ("'a'", [("None", "invalid"), ("'nope'", "invalid"), ("''", "invalid"), ("1", "invalid")]),
                         "values": ("[1.0, 2.0]", [("[]", "invalid"), ("None", "invalid"), ("'ab'", "invalid"),
                                                   ("np.array([1.0, 2.0])", "either"), ("(1.0,)", "either"),
                                                   ("[1.0, 1.0]", "either"), ("[np.nan, 1.0]", "either")]),
                         "dpi": ("40", bad_scalars()), "start": ("None", bad_scalars(integer=True) + [("10", "invalid"),
                                                                                                    ("1", "either")]),
                         "max_bytes": ("2000000", bad_scalars(integer=True) + [("10", "invalid")])}, check="html", cost=3,
                        names_for={"param": ("param", "parameter"), "fig_func": ("fig_func", "parameter")})
    cases += edge_cases("widgets.explore", "widgets.explore(demo_fig, a={a}, dpi={dpi}, static={static}, "
                        "cache_size={cache_size}, sweep={sweep})",
                        {"a": ("[1.0, 2.0]", [("[]", "invalid"), ("None", "invalid"), ("1.0", "invalid"), ("'ab'", "invalid"),
                                              ("np.array([1.0, 2.0])", "either"), ("range(3)", "either")]),
                         "dpi": ("40", bad_scalars() + [("'high'", "invalid")]),
                         "static": ("True", [("'yes'", "invalid"), ("1", "invalid"), ("None", "either"), ("False", "either")]),
                         "cache_size": ("256", bad_scalars(integer=True)),
                         "sweep": ("'first'", bad_choices("first"))}, check="no_nan", cost=3)
    cases += edge_cases("widgets.explore", "widgets.explore(demo_fig, a=[1.0, 2.0], dpi=40, static=True, defaults={defaults}, "
                        "fixed={fixed})",
                        {"defaults": ("None", [("{'a': 3.0}", "invalid"), ("{'nope': 1}", "invalid"), ("[1]", "invalid"),
                                               ("{'a': 2.0}", "either"), ("{'a': np.float64(2.0)}", "either")]),
                         "fixed": ("None", [("{'a': 1.0}", "invalid"), ("{'zzz': 1}", "invalid"), ("{'b': 'y'}", "either"),
                                            ("'b'", "invalid")])}, check="no_nan", cost=3,
                        names_for={"fixed": ("fixed", "parameter")})
    cases += edge_cases("widgets.tabs", "widgets.tabs({figures}, dpi={dpi})",
                        {"figures": ("{'a': demo_fig()}", [("{}", "invalid"), ("None", "invalid"), ("[demo_fig()]", "invalid"),
                                                           ("{'a': None}", "invalid"), ("{1: demo_fig()}", "either")]),
                         "dpi": ("40", bad_scalars())}, check="no_nan", cost=2)

    # the command line (subprocesses)
    out = "str(TMP / 'cli-out')"
    cli_cases = [
        ("['figures', '--list']", "valid"), ("['figures']", "invalid"), ("['figures', '--list', '--only', 'nope']", "invalid"),
        ("['figures', '--list', '--only', '']", "invalid"), ("['figures', '--list', '--only', 'ch1']", "valid"),
        (f"['figures', {out}, '--only', 'nope']", "invalid"), (f"['figures', {out}, '--format', 'gif']", "invalid"),
        ("['figures', '/proc/attnlib-fuzz', '--only', 'ch1']", "invalid"),
        ("['figures', __file__, '--only', 'ch1']", "invalid"),
        ("['student-edition']", "invalid"), ("['student-edition', '/proc/attnlib-fuzz']", "invalid"),
        (f"['student-edition', {out} + '-se', '--book', 'nope']", "invalid"),
        (f"['student-edition', {out} + '-se2', '--book', 'README.md']", "invalid"),
        (f"['student-edition', {out} + '-se3', '--answers', {out} + '-se3/key']", "invalid"),
        ("['student-edition', '--help']", "valid"), ("['course', '--help']", "valid"),
        ("['student-edition', __file__]", "invalid"),
        ("['course', str(TMP / 'c'), '--book', 'nope']", "invalid"), ("['course', str(TMP / 'c'), '--seed', 'x']", "invalid"),
        ("['course', str(TMP / 'c'), '--roster', 'nope.txt']", "invalid"),
        ("['course', str(TMP / 'c'), '--lectures', '99', '--no-chapters']", "invalid"),
        ("['grade', 'nope.zip', 'nope']", "invalid"), ("['grade', __file__, str(TMP)]", "invalid"),
        ("['studies', '--list']", "valid"), ("['studies', '--jobs', '0']", "invalid"), ("['studies', '--jobs', '-2']", "invalid"),
        ("['studies', '--jobs', 'x']", "invalid"), ("['studies', '--only', 'nope-nothing']", "invalid"),
        ("['studies', '--only', '']", "invalid"), ("['nope']", "invalid"), ("[]", "invalid"), ("['--help']", "valid"),
    ]
    for args, expect in cli_cases:
        heavy = expect == "valid" and "--list" not in args and "--help" not in args
        cases.append(Case("cli", f"cli({args})", expect, (), "cli", timeout=300.0, cost=100 if heavy else 30))
    return cases


# ---------------------------------------------------------------- classification

def _raised_inside_own_code(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and last.startswith(OWN)


def _names(message: str, names) -> bool:
    return any(re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w])", message) for n in names)


def classify_exception(case: Case, exc: BaseException) -> tuple[str, str]:
    cls = type(exc).__name__
    msg = str(exc).replace("\n", " ")
    head = f"{cls}: {msg[:160]}"
    public = cls in PUBLIC_ERRORS and not cls.startswith("_")
    if not public or isinstance(exc, np.linalg.LinAlgError):
        return "crash", head
    # pool_map hands the work's own errors back from the workers by design
    own = _raised_inside_own_code(exc) or case.target.startswith("pool")
    if case.expect == "valid":
        if not own:
            return "crash", head + " (raised inside a dependency)"
        return ("clear", head) if msg.strip() else ("unclear", head + " (empty message)")
    if not own:
        return "unclear", head + " (raised inside a dependency)"
    return ("clear", head) if _names(msg, case.names) else ("unclear", head + f" (does not name {'/'.join(case.names)})")


def classify_cli(case: Case, res: CliResult) -> tuple[str, str]:
    tail = (res.err.strip().splitlines() or [""])[-1][:160]
    if "Traceback (most recent call last)" in res.err and res.code != 2:
        return "crash", f"exit {res.code}, traceback: {tail}"
    if res.code == 0:
        if case.expect == "invalid":
            return "silent", f"exit 0 on input it must refuse ({res.out.strip()[:80]!r})"
        return "ok", ""
    if res.code == 2 and "error:" in res.err:
        if case.expect == "valid":
            return "unclear", f"usage error on valid input: {tail}"
        return "clear", tail
    return "crash", f"exit {res.code}: {tail}"


def run_case(case: Case, ns: dict) -> tuple[str, str]:
    """Evaluate one case in this process; (class, detail)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np_err = np.seterr(all="ignore")
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the self-checks print their verdicts
                result = eval(case.expr, ns)  # noqa: S307 (the cases are this file's own strings)
        except KeyboardInterrupt:
            raise
        except subprocess.TimeoutExpired:
            return "hang", f"over {case.timeout:g} s"
        except BaseException as exc:  # noqa: BLE001 (classified)
            return classify_exception(case, exc)
        finally:
            np.seterr(**np_err)
        if case.check == "cli":
            return classify_cli(case, result)
        if case.expect == "invalid":
            told = [str(w.message) for w in caught if _names(str(w.message), case.names)]
            if told:  # returned, but warned and named the argument: the user is told
                return "clear", f"warning: {told[0][:160]}"
            return "silent", f"returned {type(result).__name__} on input it must refuse"
        kw = dict(case.check_kw)
        try:
            bad = INVARIANTS[case.check](result, ns, **kw)
        except BaseException as exc:  # noqa: BLE001 (the invariant check itself failed on the result)
            bad = f"invariant check raised {type(exc).__name__}: {str(exc)[:120]}"
        return ("silent", bad) if bad else ("ok", "")


def _worker(conn, cases):
    ns = namespace()
    while True:
        i = conn.recv()
        if i is None:
            return
        case = cases[i]
        ns.pop("D", None)
        start = time.perf_counter()
        out = run_case(case, ns)
        conn.send((*out, time.perf_counter() - start))


class Runner:
    """A forked worker that runs cases one at a time; replaced after a hang."""

    def __init__(self, cases):
        self.cases = cases
        self.ctx = mp.get_context("fork")
        self.proc = None

    def _start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, self.cases), daemon=False)
        self.proc.start()

    def run(self, i):
        if self.proc is None or not self.proc.is_alive():
            self._start()
        case = self.cases[i]
        self.conn.send(i)
        if self.conn.poll(case.timeout + 5):
            try:
                return self.conn.recv()
            except EOFError:
                pass
            self.proc.join(1)
            return "crash", f"the process died (exit {self.proc.exitcode})", 0.0
        self.proc.kill()
        self.proc.join()
        self.proc = None
        return "hang", f"over {case.timeout:g} s", case.timeout

    def close(self):
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(5)


def select(cases, quick, only, seed):
    idx = list(range(len(cases)))
    if only:
        idx = [i for i in idx if any(cases[i].target.startswith(o) for o in only)]
    if quick:
        rng = np.random.default_rng(seed + 1)
        keep = []
        for i in idx:
            c = cases[i]
            p = 0 if c.cost >= 100 else 0.1 if c.check == "cli" else 0.4 / c.cost if c.cost > 1 else 0.2
            if rng.random() < min(p, 1.0):
                keep.append(i)
        idx = keep
    return idx


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seeded subset (< 2 min)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--only", nargs="+", default=None, help="targets starting with these (e.g. svm mirror cli)")
    parser.add_argument("--case", type=int, default=None, help="run one case here, with its traceback")
    parser.add_argument("--list", action="store_true", help="print the cases and exit")
    args = parser.parse_args(argv)
    cases = build_cases(args.seed)
    if args.list:
        for i, c in enumerate(cases):
            print(f"{i:5d} {c.target:40s} {c.expect:8s} {c.expr}")
        return 0
    if args.case is not None:
        c = cases[args.case]
        print(f"case {args.case}: {c.target} ({c.expect})\n  {c.expr}")
        ns = namespace()
        try:
            eval(c.expr, ns)  # noqa: S307
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        runner = Runner(cases)
        print("outcome:", runner.run(args.case))
        runner.close()
        return 0
    idx = select(cases, args.quick, args.only, args.seed)
    runner = Runner(cases)
    counts: dict[str, Counter] = {}
    bad_rows = []
    start = time.perf_counter()
    try:
        for k, i in enumerate(idx):
            cls, detail, secs = runner.run(i)
            counts.setdefault(cases[i].target.split(".")[0], Counter())[cls] += 1
            if cls not in ("ok", "clear"):
                bad_rows.append((i, cls, detail, cases[i]))
            if (k + 1) % 200 == 0:
                print(f"... {k + 1}/{len(idx)} cases, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    finally:
        runner.close()
    total = Counter()
    for c in counts.values():
        total.update(c)
    print(f"\nfuzz: seed {args.seed}, {'quick' if args.quick else 'full'}, {len(idx)} inputs, "
          f"{time.perf_counter() - start:.0f} s\n")
    print("| target | inputs | " + " | ".join(CLASSES) + " |")
    print("|---|---:|" + "---:|" * len(CLASSES))
    for name in sorted(counts):
        c = counts[name]
        print(f"| {name} | {sum(c.values())} | " + " | ".join(str(c[k]) for k in CLASSES) + " |")
    print(f"| **all** | **{sum(total.values())}** | " + " | ".join(f"**{total[k]}**" for k in CLASSES) + " |")
    if bad_rows:
        print("\nnot ok, not clear (case id: class, target, what happened; reproducer):")
        for i, cls, detail, c in bad_rows:
            print(f"[{i}] {cls.upper()} {c.target}: {detail}\n      {c.expr}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
