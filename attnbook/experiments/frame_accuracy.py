"""Accuracy evidence for the margin frame (:mod:`attnlib.frame`): the last section of the numerics appendix.

For each parameterisation, on small data (and for ``(K, Q)`` also on the appendix's ``n = 6, L = 8, d = 10`` data
from chapter 6's start), :func:`frame_accuracy` measures

* **overlap** -- the frame switched on at ``log t = 100`` against the standard solver alone, both at
  ``rtol = 1e-10``, on ``log t`` in ``[1e2, 1e6]`` (where the standard solver is validated);
* **far out** -- the frame at the default ``rtol = 1e-8`` against a run at ``rtol = 1e-10``, at
  ``log t = 1e30, 1e100, 1e300``;
* **offset drift** -- the frame carries the log-odds offsets ``y_k = <A_k, W> - log t`` as a state of their own,
  integrated beside the parameters, and nothing forces the two to agree: the largest ``|y_k - (<A_k, W> - s)| / s``
  over the saved times past the switch (``W`` gives the offsets only to ``rtol * s``, hence the division by ``s``).

:func:`reduced_frame_check` varies the constants of the reduced ``(K, Q)`` frame (where it starts,
``QSS_LOG_T``, and when a pair joins its support, ``PROMOTE_SLACK``) on chapter 6's data, and counts the pairs that
join or leave the support (``INACTIVE_MIN`` decides when one leaves). :func:`frame_endpoint` checks the end point of
the ``W``-flow at ``log t = 1e300`` against the Frobenius SVM: the fixed point of ``dy/ds = G w(y) - 1`` is its KKT
system.

The errors are :func:`attnlib.path_error` (largest relative distance of the raw parameters). Agreement between two
solvers, two tolerances or two settings of a constant is evidence of numerical accuracy, not a proof of the limit.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

import attnlib as al
import attnlib.frame as al_frame
from attnlib.perturbation import active_perturbation, perturbed_inputs
from attnbook.experiments._store import default_workers, memo, pool_map, process_context

__all__ = ["CASES", "FAR", "FRAME_CASES", "FRAME_PARAMS", "OVERLAP_GRID", "REDUCED_GRID", "REDUCED_SEED",
           "REDUCED_VARIANTS", "TIGHT_RTOL", "ConstantVariant", "FrameAccuracy", "FrameEndpoint", "ReducedFrameCheck",
           "frame_accuracy", "frame_accuracy_table", "frame_endpoint", "reduced_frame_check"]

FRAME_PARAMS = ("W", "KQ", "beta", "xi")
#: Data of a row: "small" (n = 3; chapter 3's diagonal demo for "beta", "xi") or "n6" (n = 6, L = 8, d = 10, seed 0:
#: the appendix's data, chapter 6's size and start; "KQ" here, "W" for :func:`frame_endpoint`).
CASES = ("small", "n6")
#: The rows of the appendix's table, in order. (No "W" row on the n = 6 data: there the reference run at
#: rtol = 1e-10 fails in the frame's last step for some starts perturbed by 1e-12; the default run is robust.)
FRAME_CASES = (("W", "small"), ("KQ", "small"), ("KQ", "n6"), ("beta", "small"), ("xi", "small"))
_ALL_CASES = (*FRAME_CASES, ("W", "n6"))
FAR = (1e30, 1e100, 1e300)
#: Saved times of the long runs: 1e20 (past the reduction of the "KQ" frame at 1e17) and ``FAR``.
REDUCED_GRID = (1e20, *FAR)
OVERLAP_GRID = tuple(np.geomspace(1e2, 1e6, 5))
TIGHT_RTOL = 1e-10
#: Data seed of ``make_generic_data(6, 8, 10, seed)`` in :func:`reduced_frame_check`: one pair joins the support of the
#: reduced (K, Q) frame at log t ~ 4e20 (seed 0, chapter 6's example, has no change of support).
REDUCED_SEED = 2
#: ``(constant of attnlib.frame, value)`` of the runs of :func:`reduced_frame_check` (library defaults:
#: ``QSS_LOG_T = 1e17``, ``PROMOTE_SLACK = 1e-9``).
REDUCED_VARIANTS = (("QSS_LOG_T", 1e12), ("PROMOTE_SLACK", 1e-7), ("PROMOTE_SLACK", 1e-11))
_CONSTANTS = ("QSS_LOG_T", "PROMOTE_SLACK", "INACTIVE_MIN")
_DEFAULTS = {name: getattr(al_frame, name) for name in _CONSTANTS}


@dataclass(frozen=True)
class FrameAccuracy:
    """One row of the appendix's accuracy table.

    Attributes
    ----------
    param, case : str
        Parameterisation and data (:data:`CASES`).
    key : str
        ``param`` for the small data, ``param + "6"`` for the n = 6 data (the page's glue names).
    data : str
        A description of the data and initialisation.
    overlap_error : float
        Largest relative path error, frame against standard solver (both ``rtol = 1e-10``), ``log t`` in
        ``[1e2, 1e6]``.
    overlap_nfev : tuple of int
        Gradient evaluations of the two overlap runs (frame, standard).
    far_error : numpy.ndarray, shape (3,)
        Relative path error of the default run (``rtol = 1e-8``) against ``rtol = 1e-10`` at ``FAR``.
    far_nfev : tuple of int
        Gradient evaluations to ``log t = 1e300``: default run, tight run.
    offset_drift : float
        Largest ``|y_k - (<A_k, W> - s)| / s`` of the default run over its saved times past the switch: the frame's
        offsets against the ones its own parameters give (to ``rtol * s``).
    log_t_switch : float
        Where the default run switched to the frame.
    log_t_reduced : float
        Where the default run's frame went reduced (quasi-steady active offsets; ``inf``: it did not).
    n_support_changes : int
        Pairs that joined or left the reduced frame's support in the default run.
    """

    param: str
    case: str
    key: str
    data: str
    overlap_error: float
    overlap_nfev: tuple
    far_error: np.ndarray
    far_nfev: tuple
    offset_drift: float
    log_t_switch: float
    log_t_reduced: float
    n_support_changes: int


def _case(param: str, case: str = "small"):
    """The data and initialisation of a row: small generic data for "W" and "KQ" (n = 3, L = 4, d = 5), the
    diagonal demo data of chapter 3 for "beta" and "xi"; the appendix's n = 6 data (``make_generic_data()``) for
    ``case="n6"``, with chapter 6's start for "KQ"."""
    if (param, case) not in _ALL_CASES:
        raise ValueError(f"(param, case) must be one of {_ALL_CASES}; got {(param, case)!r}")
    if case == "n6":
        data = al.make_generic_data(6, 8, 10, 0)
        if param == "W":
            return data, np.zeros((data.d, data.d)), "make_generic_data(6, 8, 10, 0), W = 0"
        return data, al.default_init(data, "KQ", 0.01, seed=0), "make_generic_data(6, 8, 10, 0), 0.01 N(0, 1)"
    if param in ("W", "KQ"):
        data = al.make_generic_data(3, 4, 5, 1)
        if param == "W":
            return data, np.zeros((data.d, data.d)), "make_generic_data(3, 4, 5, 1), W = 0"
        return data, al.default_init(data, "KQ", 0.1, seed=0), "make_generic_data(3, 4, 5, 1), 0.1 N(0, 1)"
    data = al.make_diagonal_data()
    if param == "beta":
        return data, np.zeros(data.d), "make_diagonal_data(), beta = 0"
    return data, al.default_init(data, "xi", 0.1, seed=None), "make_diagonal_data(), omega_0 = 0.1"


def offset_drift(tr: al.Trajectory) -> np.ndarray:
    """``max_k |y_k - (<A_k, W> - s)| / s`` at each saved time of ``tr`` past the switch, shape (m_f,).

    ``y`` is the frame's own state (``tr.frame.log_odds_offset``); ``<A_k, W> - s`` is what the saved ``W`` gives,
    ``A_k = (x_{i,ref(i)} - x_il) z_i^T`` over the frame's pairs."""
    fr, data = tr.frame, tr.data
    i, l = fr.pairs.T
    D, Z = data.X[i, fr.ref[i]] - data.X[i, l], data.z[i]
    s = tr.log_t[fr.rows]
    scaled = np.einsum("kd,mde,ke->mk", D, tr.W[fr.rows] / s[:, None, None], Z)  # <A_k, W / s>
    return np.max(np.abs(fr.log_odds_offset / s[:, None] - (scaled - 1.0)), axis=1)


def _run(job: tuple) -> al.Trajectory:
    """One flow of a table row, ``job = (param, case, run)``: ``run`` "standard" or "frame" (``rtol = 1e-10`` to
    ``log t = 1e6``, saved at :data:`OVERLAP_GRID`; the frame from ``log t = 100``, or never), "default"
    (``rtol = 1e-8``) or "tight" (``rtol = 1e-10``) to ``log t = 1e300``, saved at :data:`REDUCED_GRID` (module level:
    :func:`frame_accuracy_table` sends it to the process pool)."""
    param, case, run = job
    data, init, _ = _case(param, case)
    if run in ("standard", "frame"):
        return al.gradient_flow(data, param, init, log_t_end=1e6, log_t_eval=np.array(OVERLAP_GRID), rtol=TIGHT_RTOL,
                                switch_log_t=np.inf if run == "standard" else 100.0)
    return al.gradient_flow(data, param, init, log_t_end=REDUCED_GRID[-1], log_t_eval=REDUCED_GRID,
                            rtol=1e-8 if run == "default" else TIGHT_RTOL)


_RUNS = ("tight", "standard", "frame", "default")  # the flows of one row, the longest first


def _row(param: str, case: str, runs: dict) -> FrameAccuracy:
    """The row ``(param, case)`` from its four flows (:func:`_run`, keyed by ``run``)."""
    default, far = runs["default"], np.isin(np.array(REDUCED_GRID), FAR)
    return FrameAccuracy(param=param, case=case, key=param + ("6" if case == "n6" else ""), data=_case(param, case)[2],
                         overlap_error=float(al.path_error(runs["frame"], runs["standard"]).max()),
                         overlap_nfev=(runs["frame"].nfev, runs["standard"].nfev),
                         far_error=np.asarray(al.path_error(default, runs["tight"]))[far],
                         far_nfev=(default.nfev, runs["tight"].nfev), offset_drift=float(offset_drift(default).max()),
                         log_t_switch=float(default.frame.log_t_switch),
                         log_t_reduced=float(default.frame.log_t_reduced),
                         n_support_changes=len(default.frame.support_changes))


@memo
def frame_accuracy(param: str, case: str = "small") -> FrameAccuracy:
    """The accuracy evidence for one row of :data:`FRAME_CASES` (``param`` "W", "KQ", "beta" or "xi", ``case`` in
    :data:`CASES`)."""
    if param not in FRAME_PARAMS:
        raise ValueError(f"param must be one of {FRAME_PARAMS}; got {param!r}")
    if (param, case) not in FRAME_CASES:
        raise ValueError(f"(param, case) must be a row of the table, one of {FRAME_CASES}; got {(param, case)!r}")
    return _row(param, case, {run: _run((param, case, run)) for run in _RUNS})


@memo
def frame_accuracy_table(workers: int | None = None) -> tuple[FrameAccuracy, ...]:
    """:func:`frame_accuracy` for the rows of :data:`FRAME_CASES`, in that order; the flows of the rows not cached
    yet run on ``workers`` processes (:func:`attnbook.experiments._store.pool_map`), the n = 6 row's first. (A memo
    function, so that the appendix can start it in the background.)"""
    missing = [row for row in FRAME_CASES if not frame_accuracy.is_cached(*row)]
    missing.sort(key=lambda row: row[1] != "n6")  # the longest flows first, so that the workers finish together
    jobs = [(p, c, run) for p, c in missing for run in _RUNS]
    flows = dict(zip(jobs, pool_map(_run, jobs, workers)))
    for p, c in missing:
        frame_accuracy.prime((p, c), _row(p, c, {run: flows[(p, c, run)] for run in _RUNS}))
    return tuple(frame_accuracy(p, c) for p, c in FRAME_CASES)


# -- the reduced frame's constants --------------------------------------------------------------------------
@contextlib.contextmanager
def _frame_constants(**values):
    """Set module constants of :mod:`attnlib.frame` (the others at their defaults) and restore them on exit."""
    old = {name: getattr(al_frame, name) for name in _CONSTANTS}
    try:
        for name in _CONSTANTS:
            setattr(al_frame, name, values.get(name, _DEFAULTS[name]))
        yield
    finally:
        for name, value in old.items():
            setattr(al_frame, name, value)


def _kq_flow(job: tuple) -> al.Trajectory:
    """One run of :func:`reduced_frame_check`, in a worker process: chapter 6's (K, Q) flow on data seed ``seed``
    (``job = (seed, name, value, perturbation)``) with the constant ``name`` of :mod:`attnlib.frame` set to
    ``value`` (``None``: the library's constants), under the caller's perturbation (``(rel, seed)`` or ``None``)."""
    seed, name, value, perturbation = job
    with contextlib.ExitStack() as stack:
        if perturbation is not None:
            stack.enter_context(perturbed_inputs(*perturbation))
        stack.enter_context(_frame_constants(**({} if name is None else {name: value})))
        data = al.make_generic_data(6, 8, 10, seed)
        return al.gradient_flow(data, "KQ", al.default_init(data, "KQ", 0.01, seed=0),
                                log_t_end=REDUCED_GRID[-1], log_t_eval=REDUCED_GRID)


def _in_other_processes(func, jobs: list) -> list:
    """``[func(job) for job in jobs]`` on worker processes: a job changes module constants of attnlib.frame, which
    must not reach the flows of this process (a background thread's, say). Where no process can be started (a
    sandbox without semaphores) the jobs run here, one after the other, each restoring the constants."""
    from concurrent.futures import ProcessPoolExecutor

    try:
        pool = ProcessPoolExecutor(min(default_workers(), len(jobs)), mp_context=process_context())
    except (OSError, ValueError, ImportError, NotImplementedError):
        return [func(job) for job in jobs]
    with pool:
        return list(pool.map(func, jobs))


@dataclass(frozen=True)
class ConstantVariant:
    """One run of :func:`reduced_frame_check`: a constant of the reduced frame changed.

    Attributes
    ----------
    name : str
        The constant of :mod:`attnlib.frame` (``"QSS_LOG_T"`` or ``"PROMOTE_SLACK"``).
    value, default : float
        Its value in this run, and the library's.
    path_error : numpy.ndarray, shape (4,)
        Relative path error against the run with the library's constants, at :data:`REDUCED_GRID`.
    nfev : int
        Gradient evaluations of the run.
    log_t_reduced : float
        Where its frame went reduced.
    support_changes : tuple of (float, int, int)
        Its ``frame.support_changes``: ``(log t, pair, +1 joins / -1 leaves)``.
    """

    name: str
    value: float
    default: float
    path_error: np.ndarray
    nfev: int
    log_t_reduced: float
    support_changes: tuple


@dataclass(frozen=True)
class ReducedFrameCheck:
    """The reduced (K, Q) frame under changed constants (:func:`reduced_frame_check`).

    Attributes
    ----------
    data : str
        The data and start.
    log_t : numpy.ndarray, shape (4,)
        :data:`REDUCED_GRID`.
    support_changes : tuple of (float, int, int)
        The run with the library's constants: its ``frame.support_changes``, ``(log t, pair, +1 joins / -1 leaves)``.
    log_t_reduced : float
        Where that run's frame went reduced (``QSS_LOG_T``).
    nfev : int
        That run's gradient evaluations.
    variants : tuple of ConstantVariant
        One per entry of :data:`REDUCED_VARIANTS`, in that order.
    n_joined, n_left : int
        Pairs that joined / left the support in the run with the library's constants.
    """

    data: str
    log_t: np.ndarray
    support_changes: tuple
    log_t_reduced: float
    nfev: int
    variants: tuple
    n_joined: int
    n_left: int

    def largest_change(self, name: str) -> float:
        """The largest path error over the variants of constant ``name``."""
        return max(float(v.path_error.max()) for v in self.variants if v.name == name)


@memo
def reduced_frame_check() -> ReducedFrameCheck:
    """Chapter 6's (K, Q) flow (``make_generic_data(6, 8, 10, REDUCED_SEED)``, ``0.01 N(0, 1)``) to
    ``log t = 1e300``, with the library's constants and with each change of :data:`REDUCED_VARIANTS`.

    The reduction replaces the ODE of the active offsets by their quasi-steady values from ``QSS_LOG_T = 1e17`` on;
    starting it at ``1e12`` instead tests that the two agree where both are used. A pair joins the support when its
    scaled slack falls to ``PROMOTE_SLACK``: moving that threshold by a factor 100 either way tests that the pair's
    entry is located accurately. Every run is computed in a worker process (:func:`_in_other_processes`), so that
    the changed module constants of :mod:`attnlib.frame` never reach this process.

    Returns
    -------
    ReducedFrameCheck
        The support changes with the library's constants, and the path errors of the variants against that run.
    """
    state = active_perturbation()
    pert = None if state is None else (state.rel, state.seed)
    jobs = [(REDUCED_SEED, None, None, pert)] + [(REDUCED_SEED, n, v, pert) for n, v in REDUCED_VARIANTS]
    default, *runs = _in_other_processes(_kq_flow, jobs)
    variants = tuple(ConstantVariant(name=n, value=float(v), default=float(_DEFAULTS[n]),
                                     path_error=np.asarray(al.path_error(tr, default)), nfev=int(tr.nfev),
                                     log_t_reduced=float(tr.frame.log_t_reduced),
                                     support_changes=tuple(tr.frame.support_changes))
                     for (n, v), tr in zip(REDUCED_VARIANTS, runs))
    changes = default.frame.support_changes
    return ReducedFrameCheck(data=f"make_generic_data(6, 8, 10, {REDUCED_SEED}), 0.01 N(0, 1)",
                             log_t=np.array(REDUCED_GRID), support_changes=tuple(changes),
                             log_t_reduced=float(default.frame.log_t_reduced), nfev=int(default.nfev),
                             variants=variants, n_joined=sum(1 for c in changes if c[2] > 0),
                             n_left=sum(1 for c in changes if c[2] < 0))


# -- the end point ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameEndpoint:
    """The W-flow's end point at ``log t = 1e300`` against the Frobenius SVM (:func:`frame_endpoint`).

    At ``log t = 1e300`` every sample attends only to its reference token (``sigma_{i,ref} = 1`` in float64), and
    ``dW/ds = t (-grad L) = sum_k w_k A_k`` with pair weights ``w_k = exp(-gamma_{i,ref}) Delta_k exp(-y_k) / n``
    (``Delta_k = gamma_{i,ref} - gamma_il``) computed from the frame's offsets ``y`` alone. The frame's fixed point
    ``G w(y) = 1`` on the support (``G`` the Gram matrix of the ``A_k``), ``w = 0`` and ``G w > 1`` off it, is the
    KKT system of the Frobenius SVM, whose multipliers (scaled so that ``sum_k lambda_k A_k = W_F``) ``w`` must be.

    Attributes
    ----------
    data : str
        The data and start.
    log_t : float
        ``1e300``.
    w : numpy.ndarray, shape (P,)
        The pair weights from ``y`` (``P = n(L-1)`` pairs of ``data.pairs``).
    dual : numpy.ndarray, shape (P,)
        The Frobenius SVM's multipliers (cvxpy), scaled so that ``sum_k dual_k A_k = W_F``.
    n_support, n_svm_active : int
        Pairs with ``w > 0``; pairs in the support of the SVM's multipliers (``SVMSolution.active``).
    same_support : bool
        Whether the two sets coincide.
    kkt_residual : float
        ``max |(G w)_k - 1|`` over the support.
    min_slack : float
        ``min (G w)_k - 1`` off the support (``inf`` if the support is every pair).
    dual_error : float
        ``||w - dual|| / ||dual||``.
    ref_is_opt : bool
        Whether the frame's reference tokens are the optimal ones (the Frobenius SVM is that of the optimal tokens).
    norm_W : float
        ``numpy.linalg.norm(W)`` at ``log t = 1e300``: ``inf``, the sum of squares overflows.
    norm_overflow_log_t : float
        The ``log t`` above which it overflows: ``sqrt(float max) / ||W_F||`` (``W ~ log t * W_F``).
    norm_direction : float
        ``||W / mu(W)||`` there (``traj.direction()``).
    cosine : float
        ``attnlib.cosine(W, W_F)`` there (it rescales before taking norms).
    log_t_switch : float
        Where the flow switched to the frame.
    nfev : int
        Gradient evaluations of the flow.
    """

    data: str
    log_t: float
    w: np.ndarray
    dual: np.ndarray
    n_support: int
    n_svm_active: int
    same_support: bool
    kkt_residual: float
    min_slack: float
    dual_error: float
    ref_is_opt: bool
    norm_W: float
    norm_overflow_log_t: float
    norm_direction: float
    cosine: float
    log_t_switch: float
    nfev: int


@memo
def frame_endpoint() -> FrameEndpoint:
    """The W-flow from 0 on ``make_generic_data(6, 8, 10, 0)`` at ``log t = 1e300`` (the table's "W" row on the
    n = 6 data) against the Frobenius SVM: the pair weights from the frame's offsets, the KKT system they solve,
    and what a plain norm of ``W`` does there.

    Returns
    -------
    FrameEndpoint
    """
    tr = _run(("W", "n6", "default"))
    data, fr = tr.data, tr.frame
    i, l = fr.pairs.T
    g, ref = data.gamma, fr.ref[i]
    y = fr.log_odds_offset[-1]
    w = np.exp(-g[i, ref] + np.log(g[i, ref] - g[i, l]) - y) / data.n
    D, Z = data.X[i, ref] - data.X[i, l], data.z[i]
    Gw = ((D @ D.T) * (Z @ Z.T)) @ w
    sol = al.solve_svm(data, "fro")
    dual = sol.dual * sol.value  # sum_k dual_k A_k = W_F / ||W_F|| for the solver's multipliers
    support = w > 0
    with np.errstate(over="ignore"):
        norm_W = float(np.linalg.norm(tr.W[-1]))
    return FrameEndpoint(data=_case("W", "n6")[2], log_t=float(tr.log_t[-1]), w=w, dual=dual,
                         n_support=int(support.sum()), n_svm_active=int(sol.active.sum()),
                         same_support=bool(np.array_equal(support, sol.active)),
                         kkt_residual=float(np.abs(Gw[support] - 1.0).max()),
                         min_slack=float(np.min(Gw[~support] - 1.0)) if np.any(~support) else float("inf"),
                         dual_error=float(np.linalg.norm(w - dual) / np.linalg.norm(dual)),
                         ref_is_opt=bool(np.array_equal(fr.ref, data.opt)), norm_W=norm_W,
                         norm_overflow_log_t=float(np.sqrt(np.finfo(float).max) / sol.value),
                         norm_direction=float(np.linalg.norm(tr.direction()[-1])),
                         cosine=al.cosine(tr.W[-1], sol.W), log_t_switch=float(fr.log_t_switch),
                         nfev=int(tr.nfev))
