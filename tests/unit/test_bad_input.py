"""Bad input at the door (issue 13): every public function x (None, wrong type, wrong shape, NaN, inf, complex,
out of range) -> ValueError or TypeError whose message names the argument and says what form was expected.

The table is built from one valid call per function; each row replaces one argument by one bad value. A row
passes only if the call raises ValueError/TypeError (never a deep AttributeError, LinAlgError or a silent
result) and the message names the argument (as a word) and contains "must" (the expected form follows it).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import attnlib as al

D = 4  # demo 1: n = 3, L = 3, d = 4
DATA = al.make_diagonal_data()
OTHER = al.make_diagonal_data(3, 3, 4, seed=7)  # same sizes, different data
W0 = np.eye(D) * 0.1
VEC = np.full(D, 0.1)
TRAJ_XI = al.gradient_flow(DATA, "xi", al.default_init(DATA, "xi"), t_end=10.0)
TRAJ_KQ = al.gradient_flow(DATA, "KQ", al.default_init(DATA, "KQ"), t_end=10.0)
L1 = al.solve_svm(DATA, "l1")
L1_OTHER = al.solve_svm(OTHER, "l1")
TRAJ_XI_OTHER = al.gradient_flow(OTHER, "xi", al.default_init(OTHER, "xi"), t_end=10.0)
X, Z, Y, V = (np.array(a) for a in (DATA.X, DATA.z, DATA.y, DATA.v))
X_HUGE = X.copy()
X_HUGE[0, 0, 3], X_HUGE[0, 1, 3] = 1.7e308, -1.7e308  # finite tokens whose score difference overflows


def _arr(shape, fill):
    return np.full(shape, fill, dtype=complex if isinstance(fill, complex) else float)


def array_cases(shape, wrong_shape, huge=None):
    """The standard bad values for an array argument of the given shape."""
    cases = [("None", None), ("wrong type", "abc"), ("wrong shape", np.zeros(wrong_shape)),
             ("NaN", _arr(shape, np.nan)), ("inf", _arr(shape, np.inf)), ("complex", _arr(shape, 1 + 1j))]
    if huge is not None:
        cases.append(("out of range", huge))
    return cases


def scalar_cases(out_of_range, integer=False):
    cases = [("None", None), ("wrong type", "1"), ("wrong shape", [1.0, 2.0]), ("NaN", np.nan), ("inf", np.inf),
             ("complex", 1 + 2j)]
    cases += [("out of range", v) for v in out_of_range]
    if integer:
        cases.append(("not an integer", 2.7))
    return cases


DATA_CASES = [("None", None), ("wrong type", "data"), ("tuple", (X, Z, Y, V)), ("dict", {"X": X})]
HUGE_W = np.full((D, D), 1e308)  # finite, but the logits overflow float64

# function name -> (callable, valid keyword arguments, {argument: bad cases})
SPECS = {
    "AttentionData": (al.AttentionData, {"X": X, "z": Z, "y": Y, "v": V}, {
        "X": array_cases((3, 3, D), (3, D), huge=X_HUGE),
        "z": array_cases((3, D), (3, D + 1)),
        "y": array_cases((3,), (4,), huge=np.array([1.0, 2.0, -1.0])),
        "v": array_cases((D,), (D + 1,), huge=np.full(D, 1e308)),
    }),
    "make_generic_data": (al.make_generic_data, {"n": 3, "L": 3, "d": 4, "seed": 0}, {
        "n": scalar_cases([0, -1], integer=True), "L": scalar_cases([1], integer=True),
        "d": scalar_cases([1], integer=True),
        "seed": [("None", None), ("wrong type", "0"), ("NaN", np.nan)],
    }),
    "make_diagonal_data": (al.make_diagonal_data, {"n": 3, "L": 3, "d": 4, "seed": 1}, {
        "n": scalar_cases([0], integer=True), "L": scalar_cases([1], integer=True),
        "score": scalar_cases([])[1:],
    }),
    "make_orthogonal_data": (al.make_orthogonal_data, {"n": 2, "L": 3, "seed": 1}, {
        "n": scalar_cases([0], integer=True), "L": scalar_cases([1, 4], integer=True),
        "c": [("wrong type", "abc"), ("NaN", np.nan), ("complex", 0.5j), ("out of range", 1.5)],
    }),
    "check_assumptions": (al.check_assumptions, {"data": DATA}, {
        "data": DATA_CASES,
        "W0": array_cases((D, D), (D, D + 1))[1:],  # None is the default W(0) = 0
        "rtol": scalar_cases([0.0, -1e-9, 2.0]),
    }),
    "solve_svm": (al.solve_svm, {"data": DATA, "norm": "l1"}, {
        "data": DATA_CASES, "norm": [("None", None), ("wrong type", 2), ("out of range", "linf")],
        "solver": [("wrong type", 3), ("out of range", "NOSUCHSOLVER")],
    }),
    "solve_selection_svm": (al.solve_selection_svm, {"data": DATA, "selection": DATA.opt, "norm": "fro"}, {
        "data": DATA_CASES,
        "selection": [("None", None), ("wrong type", "abc"), ("wrong shape", [0, 0]),
                      ("NaN", [np.nan] * 3), ("complex", [0j] * 3), ("out of range", [0, 5, 0])],
        "norm": [("None", None), ("out of range", "spectral")],
    }),
    "selection_pairs": (al.selection_pairs, {"data": DATA, "selection": DATA.opt}, {
        "data": DATA_CASES,
        "selection": [("None", None), ("wrong shape", [0, 0]), ("out of range", [-1, 0, 0])],
    }),
    "gradient_flow": (al.gradient_flow, {"data": DATA, "param": "W", "init": W0, "t_end": 1.0}, {
        "data": DATA_CASES,
        "param": [("None", None), ("wrong type", 3), ("out of range", "V")],
        "init": array_cases((D, D), (D, D + 1)),
        "t_end": scalar_cases([0.0, -1.0, 1e-250]),
        "t_eval": array_cases((3,), (2, 2))[1:] + [("repeated", [0.0, 0.5, 0.5]), ("unsorted", [0.0, 0.7, 0.2]),
                                               ("out of range", [0.0, 2.0])],
        "rtol": scalar_cases([0.0, -1e-8, 1e-16, 0.5]),
        "loss": [("None", None), ("out of range", "hinge")],
        "method": [("None", None), ("out of range", "Euler")],
        "max_nfev": [c for c in scalar_cases([0], integer=True) if c[0] != "inf"] + [("array", np.array([1, 2]))],
    }),
    "gradient_descent": (al.gradient_descent, {"data": DATA, "param": "W", "init": W0, "lr": 0.1, "steps": 3}, {
        "data": DATA_CASES, "init": array_cases((D, D), (D,)),
        "lr": scalar_cases([0.0, -0.1]),
        "steps": scalar_cases([0], integer=True) + [("too many", 2**70), ("too many", 1e308)],
        "n_save": scalar_cases([0], integer=True) + [("too many", 1e308)],
    }),
    "default_init": (al.default_init, {"data": DATA, "param": "KQ"}, {
        "data": DATA_CASES, "param": [("None", None), ("out of range", "V")],
        "scale": scalar_cases([])[:6], "d_e": scalar_cases([0], integer=True)[1:] + [("too large", 2**70)],
        "seed": [("wrong type", "0"), ("NaN", np.nan), ("out of range", -1)],
        "kind": [("wrong type", 3), ("out of range", "nope")],
    }),
    # issue 27 fuzz leftover: a non-data argument raised AttributeError ('NoneType' has no attribute 'gamma_opt')
    "offset_shift": (al.frame.offset_shift, {"data": DATA}, {"data": DATA_CASES + [("array", X)]}),
    "aligned_bases": (al.aligned_bases, {"data": al.make_orthogonal_data()}, {"data": DATA_CASES}),
    "cosine": (al.cosine, {"A": W0, "B": W0}, {
        "A": array_cases((D, D), (D,))[:6] + [("out of range", np.zeros((D, D)))],
        "B": array_cases((D, D), (D,))[:6],
    }),
    "min_loss": (al.min_loss, {"data": DATA}, {"data": DATA_CASES}),
    "direction": (al.direction, {"data": DATA, "W": W0 + 10 * np.diag(L1.beta)}, {
        "data": DATA_CASES, "W": array_cases((D, D), (D,), huge=HUGE_W)}),
    "singular_values": (al.singular_values, {"W": W0}, {"W": array_cases((D, D), (D,))}),
    "svm_cosine": (al.svm_cosine, {"traj": TRAJ_XI, "sol": L1}, {
        "traj": [("None", None), ("wrong type", W0)],
        "sol": [("None", None), ("wrong type", W0), ("other data", L1_OTHER)]}),
    "svm_distance": (al.svm_distance, {"traj": TRAJ_XI, "sol": L1}, {
        "traj": [("None", None)], "sol": [("None", None), ("other data", L1_OTHER)]}),
    "kkt_residuals": (al.kkt_residuals, {"traj": TRAJ_XI, "sol": L1}, {
        "traj": [("None", None)], "sol": [("None", None), ("other data", L1_OTHER)],
        "support_tol": scalar_cases([-1.0, 1.0])}),
    "path_error": (al.path_error, {"traj": TRAJ_XI, "ref": TRAJ_XI}, {
        "traj": [("None", None)], "ref": [("None", None), ("other data", TRAJ_XI_OTHER), ("other param", TRAJ_KQ)]}),
    "conserved_quantity": (al.conserved_quantity, {"traj": TRAJ_XI}, {"traj": [("None", None), ("wrong type", 1)]}),
    "conservation_error": (al.conservation_error, {"traj": TRAJ_XI}, {"traj": [("None", None)]}),
    "sinh_closed_form": (al.sinh_closed_form, {"traj": TRAJ_XI}, {"traj": [("None", None)]}),
    "check_sinh_closed_form": (al.check_sinh_closed_form,
                               {"data": DATA, "init": al.default_init(DATA, "xi"), "t_end": 10.0}, {
        "data": DATA_CASES,
        "init": [("None", None), ("wrong type", "abc"), ("one array", VEC), ("wrong shape", (VEC, np.zeros(D + 1))),
                 ("NaN", (_arr(D, np.nan), np.zeros(D))), ("inf", (np.zeros(D), _arr(D, np.inf))),
                 ("complex", (_arr(D, 1 + 1j), np.zeros(D))), ("out of range", (VEC, VEC))],
        "t_end": scalar_cases([0.0, -1.0, 1e-250]),
        "rtol": scalar_cases([0.0, -1e-8, 1e-16, 0.5])}),
    "diagonal_network_flow": (al.diagonal_network_flow, {"data": DATA, "omega0": VEC, "t_eval": np.array([0.0, 1.0, 10.0])}, {
        "data": DATA_CASES, "omega0": array_cases((D,), (D + 1,)),
        "t_eval": [("None", None), ("wrong type", "abc"), ("not from 0", np.array([1.0, 2.0])),
                   ("decreasing", np.array([0.0, 2.0, 1.0])), ("NaN", np.array([0.0, np.nan])),
                   ("inf", np.array([0.0, np.inf]))],
        "rtol": scalar_cases([0.0, -1e-8, 2.0])}),
    "stuck_loss_bounds": (al.stuck_loss_bounds, {"data": DATA}, {"data": DATA_CASES}),
    "alignment_error": (al.alignment_error, {"K": np.eye(D), "Q": np.eye(D), "U_K": np.eye(D), "U_Q": np.eye(D), "V": np.eye(D)}, {
        "K": array_cases((D, D), (D,)), "Q": array_cases((D, D), (D, D + 1)),
        "U_K": array_cases((D, D), (D + 1, D)), "V": array_cases((D, D), (2, 2))}),
    "right_basis": (al.right_basis, {"K0": np.eye(D), "U_K": np.eye(D)}, {
        "K0": array_cases((D, D), (D,)), "U_K": array_cases((D, D), (D + 1, D))}),
}

# the model functions of W share one table
for _f in (al.attention_scores, al.attention, al.predict, al.exp_loss, al.excess_loss, al.log_excess_loss,
           al.margin, al.logistic_loss, al.loss_grad_direction):
    SPECS[_f.__name__] = (_f, {"data": DATA, "W": W0}, {"data": DATA_CASES,
                                                       "W": array_cases((D, D), (D, D + 1), huge=HUGE_W)})
for _f in (al.loss_grad, al.logistic_grad):
    SPECS[_f.__name__] = (_f, {"data": DATA, "W": W0}, {"data": DATA_CASES,
                                                       "W": array_cases((D, D), (D, D + 1), huge=HUGE_W),
                                                       "log_scale": scalar_cases([1e6])})
SPECS["loss_grad_KQ"] = (al.loss_grad_KQ, {"data": DATA, "K": W0, "Q": np.eye(D)}, {
    "data": DATA_CASES, "K": array_cases((D, D), (D + 1, D)), "Q": array_cases((D, D), (D, D + 1)),
    "log_scale": scalar_cases([])[:6]})
SPECS["loss_grad_beta"] = (al.loss_grad_beta, {"data": DATA, "beta": VEC}, {
    "data": DATA_CASES, "beta": array_cases((D,), (D, D)), "log_scale": scalar_cases([])[:6]})
SPECS["loss_grad_xi"] = (al.loss_grad_xi, {"data": DATA, "xi_k": VEC, "xi_q": VEC}, {
    "data": DATA_CASES, "xi_k": array_cases((D,), (D + 1,)), "xi_q": array_cases((D,), (1,))})

SPECS["block_diagonal_data"] = (al.block_diagonal_data, {"datas": [DATA, DATA]}, {
    "datas": DATA_CASES[:2] + [("list of arrays", [X, X]), ("shapes differ", [DATA, al.make_generic_data(3, 3, 5)])]})
SPECS["diagonal_blocks"] = (al.diagonal_blocks, {"W": np.zeros((2 * D, 2 * D)), "B": 2}, {
    "W": array_cases((2 * D, 2 * D), (2 * D, D)), "B": scalar_cases([0, 3], integer=True)})

ROWS = [(fname, arg, kind, value) for fname, (_, _, args) in SPECS.items() for arg, cases in args.items()
        for kind, value in cases]
# the argument a message must name, where the bad value surfaces under another name
NAMED = {("AttentionData", "X", "out of range"): "X", ("AttentionData", "v", "out of range"): "v",
         ("direction", "W", "out of range"): "W", ("cosine", "A", "out of range"): "A"}


def test_every_public_function_is_in_the_table():
    from attnlib import assumptions, data, diagnostics, flow, model, svm

    public = {name for mod in (assumptions, data, diagnostics, flow, model, svm) for name in mod.__all__
              if callable(getattr(mod, name)) and not isinstance(getattr(mod, name), type)} | {"AttentionData"}
    missing = public - set(SPECS)
    assert not missing, f"public functions without bad-input rows: {sorted(missing)}"
    assert len(ROWS) >= 300


@pytest.mark.parametrize("fname, arg, kind, value", ROWS, ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in ROWS])
def test_bad_input_gets_a_clear_error(fname, arg, kind, value):
    func, valid, _ = SPECS[fname]
    kwargs = dict(valid, **{arg: value})
    with pytest.raises((ValueError, TypeError)) as exc:
        func(**kwargs)
    msg = str(exc.value)
    name = NAMED.get((fname, arg, kind), arg)
    assert re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", msg), f"message does not name {name!r}: {msg}"
    assert "must" in msg or "too large" in msg or "overflow" in msg, f"message does not say what is expected: {msg}"


def test_valid_calls_of_the_table_work():
    """The rows differ from a working call in exactly one argument."""
    for (func, valid, _) in SPECS.values():
        func(**valid)


# -- CLI ----------------------------------------------------------------------------------------------------------

def _cli(argv, capsys):
    """Run ``python -m attnbook`` in-process (argparse exits with status 2 on a usage error)."""
    from attnbook.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr()


@pytest.mark.parametrize("argv, match", [
    (["--format"], "expected at least one argument"),
    (["--only"], "expected at least one argument"),
    (["--only", ""], "--only needs figure names"),
    (["--only", "nosuchfigure"], "no figure matches"),
])
def test_cli_refuses_bad_options(tmp_path, capsys, argv, match):
    code, out = _cli(["figures", str(tmp_path / "out"), *argv], capsys)
    assert code == 2 and match in out.err, out.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cli_refuses_unwritable_outdir_before_computing(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, out = _cli(["figures", str(blocker / "out"), "--only", "intro"], capsys)
    assert code == 2 and "OUTDIR" in out.err and "not a writable directory" in out.err
    assert out.out == ""  # no figure was computed


def test_save_figure_keeps_dots_in_the_name(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnbook import plots

    fig = plt.figure()
    out = plots.save_figure(fig, tmp_path / "out" / "run_1.5e-3", formats=("png",))
    plt.close(fig)
    assert [p.name for p in out] == ["run_1.5e-3.png"] and out[0].exists()


def test_render_figure_saves_every_path_closes_and_checks_the_name(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnbook.figures import render_figure

    before = plt.get_fignums()
    render_figure("ch1.tokens", [tmp_path / "a.png", tmp_path / "a.svg"], dpi=50)
    assert (tmp_path / "a.png").stat().st_size > 0 and b"<svg" in (tmp_path / "a.svg").read_bytes()
    assert plt.get_fignums() == before
    with pytest.raises(ValueError, match="name must be a figure"):
        render_figure("ch1.nope", tmp_path / "b.png")


# -- issue 27, finding 13: the validation gaps a fuzz found (each failed on the old code as noted) -----------------

def _raises(exc, match, f, *args, **kwargs):
    with pytest.raises(exc, match=match):
        f(*args, **kwargs)


def test_check_scalar_of_an_integer_beyond_float64():
    """10**400 raised a bare OverflowError from float()."""
    from attnlib._validate import check_scalar
    _raises(ValueError, r"x must be a real number; got an integer of 401 digits \(100000\.\.\.\), beyond float64",
            check_scalar, 10**400, "x")
    _raises(ValueError, r"n must be an integer in \[1, inf\); got an integer of 401 digits \(-100000",
            check_scalar, -10**400, "n", integer=True, lo=1)
    assert check_scalar(10**400, "x", finite=False) == np.inf


@pytest.mark.parametrize("make", [al.make_generic_data, lambda n: al.make_diagonal_data(n, seed=0),
                                  lambda n: al.make_orthogonal_data(n, seed=0)])
def test_generators_take_whole_floats_as_sizes(make):
    """n=3.0 passed the check and then failed inside numpy ('float' object cannot be interpreted as an integer)."""
    assert make(3.0).n == 3


@pytest.mark.parametrize("make", [al.make_generic_data, al.make_diagonal_data, al.make_orthogonal_data])
def test_generators_refuse_a_negative_seed_with_their_own_message(make):
    """seed=-1 gave numpy's 'expected non-negative integer'."""
    _raises(ValueError, r"seed must be a non-negative integer.*; got -1", make, seed=-1)
    _raises(TypeError, r"seed must be a non-negative integer.*; got float", make, seed=1.5)


def test_generators_refuse_a_non_positive_score():
    """score=-6 blamed a tie of the non-optimal tokens (the optimal token then scores below them)."""
    _raises(ValueError, r"score must be a real number in \(0, inf\); got -6", al.make_diagonal_data, 4, 3, 5,
            seed=0, score=-6)
    _raises(ValueError, r"score must be a real number in \(0, inf\); got 0", al.make_generic_data,
            equal_scores=True, score=0)


def test_equal_scores_must_be_a_bool():
    """equal_scores="no" was truthy: equal-score data."""
    _raises(TypeError, r"equal_scores must be True or False; got str 'no'", al.make_generic_data,
            equal_scores="no")


def test_gradients_name_the_factors_whose_product_overflows():
    """loss_grad_xi with xi_k * xi_q beyond float64 said 'beta must be ... finite' (beta is no argument)."""
    _raises(ValueError, r"xi_k and xi_q are too large together: their product beta = xi_k \* xi_q overflows",
            al.loss_grad_xi, DATA, np.full(D, 1e200), np.full(D, 1e200))
    _raises(ValueError, r"K and Q are too large together: their product W = K Q\^T overflows",
            al.loss_grad_KQ, DATA, np.full((D, D), 1e200), np.full((D, D), 1e200))


def test_cosine_of_tiny_arrays():
    """Arrays of size 1e-200 have norms that underflow to 0: 'A must be a nonzero array'."""
    assert al.cosine(np.full(3, 1e-200), np.full(3, 1e-200)) == 1.0
    assert al.cosine(np.array([1e-320, 0.0]), np.array([1.0, 1.0])) == pytest.approx(2 ** -0.5, rel=1e-15)
    _raises(ValueError, "A must be a nonzero array", al.cosine, np.zeros(3), np.ones(3))


def test_factorization_gaps():
    """nuclear_factors of a 0 x 0 array blamed d_e; factor_cost returned inf; ok(tol=nan) returned False."""
    from attnlib import factorization as fz
    _raises(ValueError, r"W must be a 2-D array of shape \(d, d'\) with d, d' >= 1; got shape \(0, 0\)",
            fz.nuclear_factors, np.zeros((0, 0)))
    _raises(ValueError, r"the factor cost .* overflows float64: it is e\^922\.4", fz.factor_cost,
            np.full((2, 2), 1e200), np.full((2, 2), 1e200))
    assert fz.factor_cost(np.full(3, 1e100), np.zeros(3)) == pytest.approx(1.5e200, rel=1e-15)
    assert fz.factor_cost(np.ones(3), 2 * np.ones(3)) == 7.5
    check = fz.check_nuclear_subgradient(np.eye(2), np.eye(2))
    assert check.ok()
    _raises(ValueError, r"tol must be a real number in \[0, inf\); got nan", check.ok, tol=float("nan"))


def test_right_basis_needs_d_e_at_least_d():
    """K0 of shape (3, 2) ended in numpy's broadcast error."""
    from attnlib.diagnostics import right_basis
    _raises(ValueError, r"K0 must be an array of shape \(d, d_e\) with d_e >= d .*got shape \(3, 2\)",
            right_basis, np.ones((3, 2)), np.eye(3))


# Found by benchmarks/fuzz.py (issue 27): each test is the fuzz case's minimal input.

@pytest.mark.parametrize("make, kwargs, name", [
    (al.make_generic_data, {"L": 1e308}, "L"),
    (al.make_diagonal_data, {"d": 2**70}, "d"),
    (al.make_orthogonal_data, {"n": 2**70}, "n"),
    (al.make_orthogonal_data, {"d": 10**9, "seed": 1}, "d"),
])
def test_data_sizes_that_cannot_fit_name_the_size(make, kwargs, name):
    """make_*_data(L=1e308) or (d=2**70) ended in numpy's 'Maximum allowed dimension exceeded'."""
    _raises(ValueError, rf"^{name} must be small enough that the tokens X fit in memory", make, **kwargs)


def test_orthogonal_c_of_the_wrong_length():
    """c of shape (3,) for n = 2 ended in numpy's broadcast error."""
    _raises(ValueError, r"c must be a number or an array of shape \(n,\) = \(2,\); got shape \(3,\)",
            al.make_orthogonal_data, 2, 3, seed=1, c=np.zeros(3))
    assert al.make_orthogonal_data(2, 3, seed=1, c=np.zeros(2)).n == 2


def test_alignment_error_of_large_matrices_is_a_number():
    """Entries of 1e300 made alignment_error inf or NaN (norms overflowed); the error is scale-free in K and Q."""
    from attnlib.diagnostics import alignment_error
    rng = np.random.default_rng(0)
    K, Q = rng.standard_normal((2, 4, 5))
    U_K, U_Q = (np.linalg.qr(rng.standard_normal((4, 4)))[0] for _ in range(2))
    V = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    ref = alignment_error(K, Q, U_K, U_Q, V)
    assert 0 < ref < 1
    assert alignment_error(1e300 * K, 1e-300 * Q, U_K, U_Q, V) == pytest.approx(ref, rel=1e-12)
    assert alignment_error(np.full((4, 4), 1e300), np.eye(4), np.eye(4), np.eye(4), np.eye(4)) == pytest.approx(
        alignment_error(np.ones((4, 4)), np.eye(4), np.eye(4), np.eye(4), np.eye(4)), rel=1e-12)
    assert alignment_error(np.eye(4), np.eye(4), np.full((4, 4), 1e300), np.eye(4), np.eye(4)) == pytest.approx(
        1e300 * alignment_error(np.eye(4), np.eye(4), np.ones((4, 4)), np.eye(4), np.eye(4)), rel=1e-12)


def test_right_basis_of_a_tiny_basis_and_its_message():
    """U_K of entries 1e-300 underflowed the row norms to 0 and blamed 'the aligned K0'; a zero row now names
    K0 and U_K."""
    from attnlib.diagnostics import right_basis
    rng = np.random.default_rng(1)
    U = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    K0 = U @ np.diag([2.0, 1.0, 0.5]) @ np.linalg.qr(rng.standard_normal((3, 3)))[0].T
    np.testing.assert_allclose(right_basis(K0, 1e-300 * U), right_basis(K0, U), rtol=0, atol=1e-12)
    _raises(ValueError, r"K0 and U_K must make every row of U_K\^T K0 nonzero .* row 0 is zero",
            right_basis, np.eye(3), np.zeros((3, 3)))


def test_diagonal_network_flow_names_omega0_and_refuses_an_unreachable_rtol():
    """omega0 = -1e300 blamed 'beta' (w_+^2 - w_-^2 = inf - inf); rtol = 1e-308 ended in AttributeError ('list'
    object has no attribute 'T') after LSODA failed."""
    from attnlib.diagnostics import diagonal_network_flow
    t = np.linspace(0, 10, 5)
    _raises(ValueError, r"omega0 must have entries of size at most 1e\+154", diagonal_network_flow, DATA,
            np.full(D, -1e300), t)
    _raises(ValueError, r"rtol must be a real number in \[1e-13, 1\]; got 1e-308", diagonal_network_flow, DATA,
            np.full(D, 0.1), t, rtol=1e-308)
    assert np.all(np.isfinite(diagonal_network_flow(DATA, np.full(D, 0.1), t, rtol=1e-13)))


def test_mirror_descent_refuses_steps_it_cannot_finish():
    """steps=1e308 ran until killed (the fuzz's 60 s limit)."""
    from attnlib.mirror import mirror_descent
    _raises(ValueError, r"steps must be an integer in \[1, 1e\+08\]; got 1e\+308", mirror_descent, DATA, 2.0,
            steps=1e308)


def test_embedding_dimensions_that_cannot_fit_name_d_e():
    """nuclear_factors(d_e=2**70) and padded_diag(d_e=1e308) ended in numpy's 'Maximum allowed dimension
    exceeded'."""
    from attnlib import factorization as fz
    _raises(ValueError, r"d_e must be an integer in \[1, 2\.5e\+07\]; got 1180591620717411303424",
            fz.nuclear_factors, np.eye(4), d_e=2**70)
    _raises(ValueError, r"d_e must be an integer in \[4, 2\.5e\+07\]; got 1e\+308", fz.padded_diag, np.ones(4), 1e308)
    assert fz.padded_diag(np.ones(4), 6).shape == (4, 6)
