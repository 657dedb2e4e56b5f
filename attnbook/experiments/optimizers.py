"""The optimizer picks the norm (chapter 8): normalised optimizers on ``W`` and on ``(K, Q)`` against the attention
SVMs in four norms.

For each of :data:`SEEDS` (Gaussian data, :func:`attnlib.data.make_generic_data` with :data:`SHAPE`) and each of
:data:`INITS` (a small random start), every method of :data:`METHODS` (:func:`attnlib.optimizers.optimize`) trains
``W`` and ``(K, Q)`` for :data:`STEPS` steps of size ``LR / (k + 1)^DECAY``. The end point is compared with the
Frobenius, nuclear, spectral and max-norm attention SVMs (:func:`attnlib.svm.solve_svm`) by

* the **norm gap** ``||W / mu(W)||_N / ||W_N||_N - 1``: 0 exactly when the margin-normalised direction solves the
  N-SVM, whichever of its (possibly many) solutions; the certificate this study classifies by;
* the **distance** ``|| W / ||W||_F - W_N / ||W_N||_F ||_F`` to the solver's point (meaningful for the unique
  Frobenius solution; for the others only an upper bound on the distance to the solution set).

Results are frozen and computed once per process (:mod:`attnbook.experiments._store`); the study is in the studies
artifact (a zero-argument ``@memo`` function).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlib.data import make_generic_data
from attnlib.flow import default_init
from attnlib.optimizers import PREDICTED_NORM, optimize
from attnlib.svm import solve_svm
from ._store import memo, pool_map

__all__ = ["SEEDS", "INITS", "METHODS", "PARAMS", "NORMS", "SHAPE", "STEPS", "LR", "DECAY", "INIT_SCALE",
           "PREDICTED", "NORM_NAMES", "OptimizerStudy", "PairSummary", "optimizer_study", "summarize",
           "norm_values"]

SEEDS = tuple(range(20))
#: Two random starts per data set (entries ``INIT_SCALE * N(0, 1)``, seeds ``100 * init + data seed``).
INITS = (0, 1)
METHODS = ("ngd", "sign", "adam", "spectral", "nuclear")
PARAMS = ("W", "KQ")
NORMS = ("fro", "nuc", "spectral", "max")
#: make_generic_data(n, L, d, seed): small enough for 400 runs in well under a minute, and a family whose four SVM
#: directions are far apart (:attr:`OptimizerStudy.svm_distance`).
SHAPE = (4, 4, 6)
STEPS = 800
LR = 1.0
DECAY = 0.5
INIT_SCALE = 0.1
N_SAVE = 25
#: The norm each method is predicted to reach on ``W`` (:data:`attnlib.optimizers.PREDICTED_NORM`); for ``(K, Q)``
#: only gradient descent has one (the nuclear norm: the paper's Theorem 5.1 and conjecture).
PREDICTED = {("W", m): PREDICTED_NORM[m] for m in METHODS} | {("KQ", "ngd"): "nuc"}
NORM_NAMES = {"fro": "Frobenius", "nuc": "nuclear", "spectral": "spectral", "max": "max-norm"}


def norm_values(W: np.ndarray) -> np.ndarray:
    """``(||W||_F, ||W||_*, ||W||_2, max |W_jk|)`` of ``W`` (..., d, d), in the order of :data:`NORMS`."""
    s = np.linalg.svd(W, compute_uv=False)
    return np.stack([np.sqrt(np.sum(s * s, axis=-1)), s.sum(axis=-1), s[..., 0], np.abs(W).max(axis=(-2, -1))],
                    axis=-1)


@dataclass(frozen=True)
class SeedRuns:
    """Every run on one data set (a worker's result); axes ``(init, param, method, ...)``."""

    svm_value: np.ndarray  # (N,)
    svm_distance: np.ndarray  # (N, N)
    gap: np.ndarray  # (I, P, M, N)
    distance: np.ndarray  # (I, P, M, N)
    margin: np.ndarray  # (I, P, M)
    gap_path: np.ndarray  # (I, P, M, N, m)
    step: np.ndarray  # (m,)


def _gaps(data, Ws: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Norm gaps of the margin-normalised ``Ws`` (m, d, d) -> (m, N); NaN where ``mu <= 0`` (no direction)."""
    mu = np.min(np.einsum("kd,mkd->mk", data.D, np.einsum("ke,mde->mkd", data.Z, Ws)), axis=1)
    out = np.full((len(Ws), len(NORMS)), np.nan)
    ok = mu > 0
    out[ok] = norm_values(Ws[ok] / mu[ok, None, None]) / values - 1.0
    return out


def _seed_runs(seed: int) -> SeedRuns:
    data = make_generic_data(*SHAPE, seed)
    sols = [solve_svm(data, n) for n in NORMS]
    values = np.array([s.value for s in sols])
    units = np.array([s.W / np.linalg.norm(s.W) for s in sols])
    shape = (len(INITS), len(PARAMS), len(METHODS))
    gap, dist = np.full(shape + (len(NORMS),), np.nan), np.zeros(shape + (len(NORMS),))
    step = _saved_steps()
    mu, path = np.zeros(shape), np.full(shape + (len(NORMS), len(step)), np.nan)
    for a, init_id in enumerate(INITS):
        for b, param in enumerate(PARAMS):
            init = default_init(data, param, scale=INIT_SCALE, seed=100 * init_id + seed, kind="random")
            for c, method in enumerate(METHODS):
                traj = optimize(data, param, init, method, steps=STEPS, lr=LR, decay=DECAY, n_save=N_SAVE)
                g = _gaps(data, traj.W, values)
                path[a, b, c] = g.T  # traj saves at the steps of _saved_steps
                gap[a, b, c] = g[-1]
                W = traj.W[-1]
                dist[a, b, c] = np.linalg.norm(W / np.linalg.norm(W) - units, axis=(1, 2))
                mu[a, b, c] = traj.margin[-1]
    svm_distance = np.linalg.norm(units[:, None] - units[None, :], axis=(2, 3))
    return SeedRuns(svm_value=values, svm_distance=svm_distance, gap=gap, distance=dist, margin=mu, gap_path=path,
                    step=step)


def _saved_steps() -> np.ndarray:
    """The step indices :func:`attnlib.optimizers.optimize` saves (its log-spaced rule)."""
    return np.unique(np.concatenate([[0], np.geomspace(1, STEPS, N_SAVE).astype(int), [STEPS]]))


@dataclass(frozen=True)
class OptimizerStudy:
    """:data:`METHODS` on ``W`` and ``(K, Q)`` against the :data:`NORMS` attention SVMs, over seeds and starts.

    Axes: ``S`` seeds, ``I`` inits, ``P`` params, ``M`` methods, ``N`` norms (in the orders of the module's tuples).

    Attributes
    ----------
    gap : numpy.ndarray, shape (S, I, P, M, N)
        Final norm gaps ``||W/mu||_N / ||W_N||_N - 1`` (>= 0 up to solver accuracy; NaN where ``mu(W) <= 0``:
        the run ranks a non-optimal token first in some sample, and no margin-normalised direction exists).
    distance : numpy.ndarray, shape (S, I, P, M, N)
        ``|| W/||W||_F - W_N/||W_N||_F ||_F`` to the solver's point of each SVM.
    margin : numpy.ndarray, shape (S, I, P, M)
        ``mu(W)`` at the last step.
    separated : numpy.ndarray of bool, shape (S, I, P, M)
        ``mu(W) > 0`` at the last step.
    closest : numpy.ndarray of int, shape (S, I, P, M)
        Index into :data:`NORMS` of the smallest final gap; -1 where not separated.
    svm_distance : numpy.ndarray, shape (S, N, N)
        Pairwise distances of the four SVM solutions' Frobenius-normalised directions.
    svm_value : numpy.ndarray, shape (S, N)
        The SVMs' optimal norms.
    gap_path : numpy.ndarray, shape (S, I, P, M, N, m)
        Norm gaps at the saved steps ``step`` (NaN before the margin turns positive).
    step : numpy.ndarray of int, shape (m,)
    """

    gap: np.ndarray
    distance: np.ndarray
    margin: np.ndarray
    separated: np.ndarray
    closest: np.ndarray
    svm_distance: np.ndarray
    svm_value: np.ndarray
    gap_path: np.ndarray
    step: np.ndarray

    def runs(self, param: str, method: str) -> slice | tuple:
        """The index ``(:, :, p, m)`` of one (param, method) pair."""
        return (slice(None), slice(None), PARAMS.index(param), METHODS.index(method))

    def closest_counts(self, param: str, method: str) -> dict:
        """``{norm: runs ending closest to it}`` plus ``"not separated"``, over seeds x inits."""
        c = self.closest[self.runs(param, method)].ravel()
        out = {n: int(np.sum(c == k)) for k, n in enumerate(NORMS)}
        out["not separated"] = int(np.sum(c < 0))
        return out

    def median_path(self, param: str, method: str, norm: str) -> np.ndarray:
        """Median over the runs of the pair of the gap to ``norm`` at each saved step, shape (m,) (runs without a
        margin yet left out; NaN where no run has one)."""
        path = self.gap_path[self.runs(param, method)][..., NORMS.index(norm), :].reshape(-1, len(self.step))
        out = np.full(len(self.step), np.nan)
        some = np.any(np.isfinite(path), axis=0)
        out[some] = np.nanmedian(path[:, some], axis=0)
        return out

    def modal_norm(self, param: str, method: str) -> str:
        """The norm most runs of the pair end closest to ("not separated" if most runs do not separate)."""
        counts = self.closest_counts(param, method)
        return max(counts, key=counts.get)


@dataclass(frozen=True)
class PairSummary:
    """One (param, method) pair of :class:`OptimizerStudy` over its seeds x inits runs.

    Attributes
    ----------
    closest : str
        The norm most runs end closest to (or "not separated").
    count, runs : int
        How many runs end closest to it, out of how many.
    not_separated : int
        Runs with ``mu(W) <= 0`` at the end.
    gap : numpy.ndarray, shape (3,)
        Median, min and max over the separated runs of the final gap to ``closest`` (NaN if none).
    distance : numpy.ndarray, shape (3,)
        The same for the distance to the ``closest`` SVM's point.
    margin : float
        Median final margin ``mu(W)``.
    """

    closest: str
    count: int
    runs: int
    not_separated: int
    gap: np.ndarray
    distance: np.ndarray
    margin: float


def _spread(x: np.ndarray) -> np.ndarray:
    x = x[np.isfinite(x)]
    return np.array([np.median(x), x.min(), x.max()]) if x.size else np.full(3, np.nan)


def summarize(r: OptimizerStudy, param: str, method: str) -> PairSummary:
    """:class:`PairSummary` of one (param, method) pair of the study."""
    idx = r.runs(param, method)
    counts = r.closest_counts(param, method)
    modal = r.modal_norm(param, method)
    sep = r.separated[idx]
    k = NORMS.index(modal) if modal in NORMS else None
    gap = _spread(r.gap[idx][..., k][sep]) if k is not None else np.full(3, np.nan)
    dist = _spread(r.distance[idx][..., k][sep]) if k is not None else np.full(3, np.nan)
    return PairSummary(closest=modal, count=counts[modal], runs=int(sep.size), not_separated=counts["not separated"],
                       gap=gap, distance=dist, margin=float(np.median(r.margin[idx])))


@memo
def optimizer_study() -> OptimizerStudy:
    """Every method of :data:`METHODS` on ``W`` and ``(K, Q)``, from :data:`INITS` starts on :data:`SEEDS` data
    sets, :data:`STEPS` steps each, against the four attention SVMs (about 25 s of CPU)."""
    runs = pool_map(_seed_runs, list(SEEDS))
    gap = np.array([r.gap for r in runs])
    separated = np.array([r.margin > 0 for r in runs])
    closest = np.where(separated, np.argmin(np.where(np.isnan(gap), np.inf, gap), axis=-1), -1)
    return OptimizerStudy(gap=gap, distance=np.array([r.distance for r in runs]),
                          margin=np.array([r.margin for r in runs]), separated=separated, closest=closest,
                          svm_distance=np.array([r.svm_distance for r in runs]),
                          svm_value=np.array([r.svm_value for r in runs]),
                          gap_path=np.array([r.gap_path for r in runs]), step=runs[0].step)
