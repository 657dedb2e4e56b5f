"""Checks of the paper's Assumptions 1-4 (plus the diagonal separability its diagonal proofs need, erratum E2)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax, logsumexp

from ._validate import check_array, check_scalar
from .data import check_data
from .data import AttentionData
from .kernels import log_sample_weights
from .model import attention_scores

__all__ = ["AssumptionError", "AssumptionCheck", "AssumptionReport", "check_assumptions", "stuck_loss_bounds",
           "ASSUMPTIONS"]

ASSUMPTIONS = ("1", "1-diag", "2", "3", "4")
_NAMES = {
    "1": "separability",
    "1-diag": "diagonal separability",
    "2": "equal non-optimal scores",
    "3": "small initial loss",
    "4": "orthogonal data, paired tokens",
}


class AssumptionError(ValueError):
    """A paper assumption a result needs does not hold for the given data (or initialisation)."""


@dataclass(frozen=True)
class AssumptionCheck:
    """One assumption's verdict: ``holds``, a one-sentence ``reason`` and the first offending ``sample``."""

    name: str
    holds: bool
    reason: str
    sample: int | None = None


@dataclass(frozen=True)
class AssumptionReport:
    """The result of :func:`check_assumptions`: one :class:`AssumptionCheck` per assumption."""

    checks: dict

    def __getitem__(self, name: str) -> AssumptionCheck:
        if name not in self.checks:
            raise KeyError(f"unknown assumption {name!r}; choose from {ASSUMPTIONS}")
        return self.checks[name]

    def holds(self, name: str) -> bool:
        """Whether assumption ``name`` ("1", "1-diag", "2", "3" or "4") holds."""
        return self[name].holds

    def require(self, *names: str) -> None:
        """Raise :class:`AssumptionError` naming the first listed assumption that fails (and its sample)."""
        for name in names:
            check = self[name]
            if not check.holds:
                where = f" (sample {check.sample})" if check.sample is not None else ""
                raise AssumptionError(f"Assumption {name} ({_NAMES[name]}) fails{where}: {check.reason}")

    def __str__(self) -> str:
        rows = [f"Assumption {c.name:<7} {_NAMES[c.name]:<32} {'holds' if c.holds else 'FAILS':<6} {c.reason}"
                for c in self.checks.values()]
        return "\n".join(rows)

    def _repr_markdown_(self) -> str:
        lines = ["| assumption | | verdict | why |", "|---|---|---|---|"]
        for c in self.checks.values():
            lines.append(f"| {c.name} | {_NAMES[c.name]} | {'holds' if c.holds else '**fails**'} | {c.reason} |")
        return "\n".join(lines)

    __repr__ = __str__


def lp_feasible(rows: np.ndarray) -> bool:
    """Is there x with ``rows @ x >= 1``? (an LP feasibility problem, solved by HiGHS).

    Rows are scaled to unit norm (by powers of two, exactly) and the right-hand side with them, so HiGHS's
    absolute feasibility tolerance means the same at every data scale: ``a_k x >= 1`` reads
    ``(a_k / c_k) x' >= c_max / c_k`` with ``x' = c_max x``."""
    top = np.abs(rows).max(axis=1, initial=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # norms of rows of size 1e200 without overflowing squares
        nrm = top * np.linalg.norm(rows / np.where(top > 0, top, 1.0)[:, None], axis=1)
        c = np.where(nrm > 0, 2.0 ** np.round(np.log2(np.where(nrm > 0, nrm, 1.0))), 1.0)
    from scipy.optimize import linprog  # imported on first use (scipy.optimize takes ~1 s)

    res = linprog(np.zeros(rows.shape[1]), A_ub=-rows / c[:, None], b_ub=-c.max() / c,
                  bounds=[(None, None)] * rows.shape[1], method="highs")
    if res.status not in (0, 2):
        raise RuntimeError(f"separability LP failed: {res.message}")
    return res.status == 0


def _check_separability(data: AttentionData, diagonal: bool) -> AssumptionCheck:
    name = "1-diag" if diagonal else "1"
    rows = data.B if diagonal else data.A.reshape(len(data.pairs), -1)
    zero = np.flatnonzero(np.all(rows == 0, axis=1))
    if zero.size:
        i, l = data.pairs[zero[0]]
        return AssumptionCheck(name, False, f"token {l} of sample {i} cannot be separated from the optimal token "
                               f"(its constraint {'row B_il' if diagonal else 'matrix A_il'} is zero)", int(i))
    what = "beta" if diagonal else "W"
    if lp_feasible(rows):
        return AssumptionCheck(name, True, f"a {what} with (x_opt - x_il)^T {'diag(beta)' if diagonal else 'W'} z_i "
                               f">= 1 for all pairs exists (LP feasible)")
    return AssumptionCheck(name, False, f"no {what} separates the optimal tokens (LP infeasible)")


def _check_equal_scores(data: AttentionData, rtol: float) -> AssumptionCheck:
    """Equal non-optimal scores, relative to the sample's own score scale (``max_l |gamma_il|``), like the data's
    tie test: tokens or ``v`` times ``s`` give the same verdict at every ``s``."""
    for i in range(data.n):
        nopt = np.delete(data.gamma[i], data.opt[i])
        spread = nopt.max() - nopt.min()
        if spread > rtol * np.abs(data.gamma[i]).max():
            return AssumptionCheck("2", False, f"sample {i}'s non-optimal scores differ "
                                   f"(from {nopt.min():.4g} to {nopt.max():.4g})", i)
    return AssumptionCheck("2", True, "every sample has a unique optimal token and equal non-optimal scores")


def stuck_loss_bounds(data: AttentionData) -> np.ndarray:
    """Assumption 3's right-hand sides (paper p. 8): for each sample ``j``, the least loss when ``j`` attends only to
    its non-optimal tokens and every other sample only to its optimal one,
    ``(e^{-gamma_{j,nopt}} + sum_{i != j} e^{-gamma_{i,opt}}) / n``, shape (n,). With unequal non-optimal scores
    ``gamma_{j,nopt}`` is the best of them. Assumption 3 asks ``L(W(0)) <=`` their minimum.

    Parameters
    ----------
    data : AttentionData

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    data = check_data(data)
    nopt = np.where(np.arange(data.L)[None, :] == data.opt[:, None], -np.inf, data.gamma).max(axis=1)
    e_opt = np.exp(-data.gamma_opt)
    return (np.exp(-nopt) + e_opt.sum() - e_opt) / data.n


def _log_stuck_loss_bounds(data: AttentionData) -> np.ndarray:
    """``log`` of :func:`stuck_loss_bounds`, finite where the bounds overflow float64 (scores below -709)."""
    nopt = np.where(np.arange(data.L)[None, :] == data.opt[:, None], -np.inf, data.gamma).max(axis=1)
    terms = np.where(np.eye(data.n, dtype=bool), -nopt[:, None], -data.gamma_opt[None, :])  # row j: sample j stuck
    return logsumexp(terms, axis=1) - np.log(data.n)


def _show(log_value: float) -> str:
    return f"{np.exp(log_value):.4g}" if log_value < 700 else f"e^{log_value:.6g}"


def _check_initial_loss(data: AttentionData, W0) -> AssumptionCheck:
    """Assumption 3, compared in log space (so scores of any size give a verdict, not an overflow)."""
    log_bounds = _log_stuck_loss_bounds(data)
    j = int(np.argmin(log_bounds))
    W0 = np.zeros((data.d, data.d)) if W0 is None else np.asarray(W0, dtype=float)
    logsig = log_softmax(attention_scores(data, W0), axis=1)
    log_loss0 = float(logsumexp(log_sample_weights(data, logsig, "exp")) - np.log(data.n))
    at = "W(0) = 0" if not np.any(W0) else "the given W(0)"
    loss0, bound = _show(log_loss0), _show(log_bounds[j])
    if log_loss0 <= log_bounds[j]:
        return AssumptionCheck("3", True, f"L at {at} is {loss0} <= {bound}, the least loss when "
                               f"sample {j} attends only to non-optimal tokens")
    return AssumptionCheck("3", False, f"L at {at} is {loss0} > {bound}, the least loss when sample "
                           f"{j} attends only to non-optimal tokens (a larger score gap Delta_i or a better "
                           f"initialisation helps)", j)


def _check_orthogonal(data: AttentionData, tol: float) -> AssumptionCheck:
    """Assumption 4 with relative tolerances (cosines, and ratios to the sample's own token scale), so that tokens
    or queries times ``s`` give the same verdict at every ``s`` (as :func:`attnlib.aligned_bases` does)."""
    xo = data.X[np.arange(data.n), data.opt]
    if data.L % 2 == 0:
        return AssumptionCheck("4", False, f"L = {data.L} is even, so the L - 1 non-optimal tokens cannot be paired")
    for M, what in ((xo, "optimal tokens"), (data.z, "queries")):
        norms = np.linalg.norm(M, axis=1)
        off = np.abs(M @ M.T - np.diag(np.diag(M @ M.T)))
        off = off > tol * norms[:, None] * norms[None, :]  # |cosine| > tol (zero vectors are orthogonal to all)
        if np.any(off):
            i, j = np.argwhere(off)[0]
            return AssumptionCheck("4", False, f"(i) fails: {what} of samples {i} and {j} are not orthogonal", int(i))
    for i in range(data.n):
        x, zi = xo[i], data.z[i]
        nx, nz = np.linalg.norm(x), np.linalg.norm(zi)
        if nx == 0:
            return AssumptionCheck("4", False, f"sample {i}'s optimal token is zero", i)
        if abs(abs(x @ zi) - nx * nz) > tol * nx * nz:
            return AssumptionCheck("4", False, f"(ii) fails: sample {i}'s query is not parallel to its optimal token", i)
        others = [l for l in range(data.L) if l != data.opt[i]]
        c = np.array([data.X[i, l] @ x / nx ** 2 for l in others])  # dimensionless
        u = np.array([data.X[i, l] - cl * x for l, cl in zip(others, c)])
        size = np.abs(data.X[i]).max()  # the sample's own token scale
        unmatched = list(range(len(others)))
        while unmatched:
            a = unmatched.pop(0)
            match = [b for b in unmatched
                     if abs(c[a] - c[b]) <= tol * max(1.0, abs(c[a])) and np.abs(u[a] + u[b]).max() <= tol * size]
            if not match:
                return AssumptionCheck("4", False, f"(iii) fails: token {others[a]} of sample {i} has no partner "
                                       f"c x_opt -+ u with the same c", i)
            unmatched.remove(match[0])
            if not -1 - tol <= c[a] < 1:
                return AssumptionCheck("4", False, f"(iii) fails: pair parameter c = {c[a]:.4g} of sample {i} is "
                                       f"outside [-1, 1)", i)
    return AssumptionCheck("4", True, "optimal tokens and queries are orthogonal across samples, each query is "
                           "parallel to its optimal token, and the non-optimal tokens pair up")


def check_assumptions(data: AttentionData, W0=None, *, rtol: float = 1e-9) -> AssumptionReport:
    """Check the paper's assumptions on a data set.

    Parameters
    ----------
    data : AttentionData
    W0 : array_like of shape (d, d), optional
        Initial combined weights for Assumption 3 (default ``W(0) = 0``, as initialisation (5) gives).
    rtol : float
        Relative tolerance for the equalities in Assumptions 2 and 4: relative to each sample's own scores
        (Assumption 2), cosines and ratios to the sample's own token size (Assumption 4), so the verdicts do not
        change when tokens, queries or ``v`` are scaled.

    Returns
    -------
    AssumptionReport
        Entries "1" (separability, p.5), "1-diag" (diagonal separability, which Thm 4.1's proof needs; erratum
        E2), "2" (p.5), "3" (p.8; with unequal non-optimal scores the best non-optimal score is used) and "4"
        (p.11). ``report.require("2", "3")`` raises :class:`AssumptionError` on the first failure.
    """
    check_data(data)
    rtol = check_scalar(rtol, "rtol", lo=0.0, hi=1.0, lo_open=True)
    if W0 is not None:
        W0 = check_array(W0, "W0", shape=(data.d, data.d), expected=f"an array of shape (d, d) = ({data.d}, {data.d})")
    checks = [
        _check_separability(data, diagonal=False),
        _check_separability(data, diagonal=True),
        _check_equal_scores(data, rtol),
        _check_initial_loss(data, W0),
        _check_orthogonal(data, max(rtol, 1e-12)),
    ]
    return AssumptionReport({c.name: c for c in checks})
