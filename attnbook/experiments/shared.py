"""Data and flows that more than one chapter's experiments use.

Chapter modules (``ch1`` ... ``ch8``, ``intro``, ``numerics``, ``why``) never import each other (the
``chapters-independent`` contract in pyproject.toml); what two of them share lives in the library or in a
non-chapter module such as this one. Results are frozen and computed once per process
(:func:`attnbook.experiments._store.memo`).
"""
from __future__ import annotations

import numpy as np

from attnlib.data import AttentionData, make_generic_data
from attnlib.flow import Trajectory, gradient_flow
from ._store import memo

__all__ = ["WEIGHTS_SHAPE", "WEIGHTS_SEED", "WEIGHTS_LOG_T", "generic_demo", "weights_log_t_eval", "generic_w_flow"]

#: make_generic_data(n, L, d, seed): the setup of chapter 2 ("why": sample weights; chapter 8: rates for W).
WEIGHTS_SHAPE = (6, 8, 10)
WEIGHTS_SEED = 0
WEIGHTS_LOG_T = 1e3


@memo
def generic_demo() -> AttentionData:
    """Chapter 6's equal-score example (n = 4, L = 3, d = 4, seed 3): its nuclear SVM has rank 2, its Frobenius 3."""
    return make_generic_data(4, 3, 4, seed=3, equal_scores=True)


def weights_log_t_eval(log_t_end: float) -> np.ndarray:
    """Saved times of :func:`generic_w_flow`: t = 0, 29 points in ``log t`` from -3 to 0, 120 log-spaced to the end."""
    return np.concatenate([[-np.inf], np.linspace(-3.0, 0.0, 30)[:-1], np.geomspace(1.0, log_t_end, 120)])


@memo
def generic_w_flow(seed: int = WEIGHTS_SEED, log_t_end: float = WEIGHTS_LOG_T) -> Trajectory:
    """The W-flow from ``W(0) = 0`` on chapter 2's setup ``make_generic_data(6, 8, 10, seed)`` to ``log t =
    log_t_end`` (rtol 1e-8, saved at :func:`weights_log_t_eval`): the sample weights of "why" and chapter 8's rate
    of ``1 - cos(W(t), W_F)`` are read off this one flow."""
    data = make_generic_data(*WEIGHTS_SHAPE, seed)
    return gradient_flow(data, "W", np.zeros((data.d, data.d)), log_t_end=log_t_end,
                         log_t_eval=weights_log_t_eval(log_t_end), rtol=1e-8)
