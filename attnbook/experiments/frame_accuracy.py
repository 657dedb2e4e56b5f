"""Accuracy evidence for the margin frame (:mod:`attnlib.frame`): the last section of the numerics appendix.

For each parameterisation, on small data so that the appendix builds in seconds:

* **overlap** -- the frame switched on at ``log t = 100`` against the standard solver alone, both at
  ``rtol = 1e-10``, on ``log t`` in ``[1e2, 1e6]`` (where the standard solver is validated);
* **far out** -- the frame at the default ``rtol = 1e-8`` against a run at ``rtol = 1e-10``, at
  ``log t = 1e30, 1e100, 1e300``.

The errors are :func:`attnlib.path_error` (largest relative distance of the raw parameters). Agreement between two
solvers, or two tolerances, is evidence of numerical accuracy, not a proof of the limit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import attnlib as al
from attnbook.experiments._store import memo

__all__ = ["FAR", "FRAME_PARAMS", "OVERLAP_GRID", "TIGHT_RTOL", "FrameAccuracy", "frame_accuracy",
           "frame_accuracy_table"]

FRAME_PARAMS = ("W", "KQ", "beta", "xi")
FAR = (1e30, 1e100, 1e300)
OVERLAP_GRID = tuple(np.geomspace(1e2, 1e6, 5))
TIGHT_RTOL = 1e-10


@dataclass(frozen=True)
class FrameAccuracy:
    """One row of the appendix's accuracy table.

    Attributes
    ----------
    param, data : str
        Parameterisation and a description of the data and initialisation.
    overlap_error : float
        Largest relative path error, frame against standard solver (both ``rtol = 1e-10``), ``log t`` in
        ``[1e2, 1e6]``.
    overlap_nfev : tuple of int
        Gradient evaluations of the two overlap runs (frame, standard).
    far_error : numpy.ndarray, shape (3,)
        Relative path error of the default run (``rtol = 1e-8``) against ``rtol = 1e-10`` at ``FAR``.
    far_nfev : tuple of int
        Gradient evaluations to ``log t = 1e300``: default run, tight run.
    log_t_reduced : float
        Where the default run's frame went reduced (quasi-steady active offsets; ``inf``: it did not).
    """

    param: str
    data: str
    overlap_error: float
    overlap_nfev: tuple
    far_error: np.ndarray
    far_nfev: tuple
    log_t_reduced: float


def _case(param: str):
    """The data and initialisation of ``param``'s row: small generic data for "W" and "KQ" (n = 3, T = 4,
    d = 5), the diagonal demo data of chapter 3 for "beta" and "xi"."""
    if param in ("W", "KQ"):
        data = al.make_generic_data(3, 4, 5, 1)
        if param == "W":
            return data, np.zeros((data.d, data.d)), "make_generic_data(3, 4, 5, 1), W = 0"
        return data, al.default_init(data, "KQ", 0.1, seed=0), "make_generic_data(3, 4, 5, 1), 0.1 N(0, 1)"
    data = al.make_diagonal_data()
    if param == "beta":
        return data, np.zeros(data.d), "make_diagonal_data(), beta = 0"
    return data, al.default_init(data, "xi", 0.1, seed=None), "make_diagonal_data(), omega_0 = 0.1"


@memo
def frame_accuracy(param: str) -> FrameAccuracy:
    """The accuracy evidence for one parameterisation ("W", "KQ", "beta" or "xi")."""
    if param not in FRAME_PARAMS:
        raise ValueError(f"param must be one of {FRAME_PARAMS}; got {param!r}")
    data, init, name = _case(param)
    grid = np.array(OVERLAP_GRID)
    std = al.gradient_flow(data, param, init, log_t_end=1e6, log_t_eval=grid, rtol=TIGHT_RTOL, switch_log_t=np.inf)
    fr = al.gradient_flow(data, param, init, log_t_end=1e6, log_t_eval=grid, rtol=TIGHT_RTOL, switch_log_t=100.0)
    far = list(FAR)
    default = al.gradient_flow(data, param, init, log_t_end=far[-1], log_t_eval=far)
    tight = al.gradient_flow(data, param, init, log_t_end=far[-1], log_t_eval=far, rtol=TIGHT_RTOL)
    return FrameAccuracy(param=param, data=name, overlap_error=float(al.path_error(fr, std).max()),
                         overlap_nfev=(fr.nfev, std.nfev), far_error=np.asarray(al.path_error(default, tight)),
                         far_nfev=(default.nfev, tight.nfev), log_t_reduced=float(default.frame.log_t_reduced))


def frame_accuracy_table() -> tuple[FrameAccuracy, ...]:
    """:func:`frame_accuracy` for the four parameterisations, in the order of ``FRAME_PARAMS``."""
    return tuple(frame_accuracy(p) for p in FRAME_PARAMS)
