"""Shared fixtures for the attnlib core tests.

Reference quantities here are computed *independently* of attnlib's stable code paths: straight from the
definitions of the paper's §3 (naive softmax, ``Phi = v^T X^T sigma``, ``(Sigma gamma) = sigma * (gamma - sigma.gamma)``)
so that a test compares two different computations of the same mathematical object.
"""
from __future__ import annotations

import contextlib
import os
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import attnlib as al

# Deterministic, file-free hypothesis runs (CI reproducibility; no .hypothesis/ directory needed).
settings.register_profile(
    "attnlib",
    deadline=None,
    max_examples=20,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# HYPOTHESIS_PROFILE=thorough: many more random examples, fresh randomness each run (for local bug hunting).
settings.register_profile("thorough", parent=settings.get_profile("attnlib"), max_examples=300, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "attnlib"))

# name -> factory; every factory is cheap, results are immutable so a session cache is safe (SVMs are cached
# on the data object, which keeps the suite fast).
DATASETS = {
    "demo1": lambda: al.make_diagonal_data(),  # the book's diagonal example (chapter 3; Assumption 2)
    "diag_s1": lambda: al.make_diagonal_data(4, 4, 5, seed=1),
    "demo3": lambda: al.make_orthogonal_data(),  # the book's aligned example (chapter 5; Assumption 4)
    "orth_s2": lambda: al.make_orthogonal_data(3, 5, 5, seed=2, c=0.25),
    "generic_eq": lambda: al.make_generic_data(4, 3, 4, seed=0, equal_scores=True),  # demo 2, Assumption 2
    "generic": lambda: al.make_generic_data(4, 4, 5, seed=1),  # Gaussian, Assumption 2 fails
    "peers": lambda: al.make_generic_data(),  # the peers' setup n=6, L=8, d=10
}
ASSUMPTION2_SETS = ["demo1", "diag_s1", "demo3", "orth_s2", "generic_eq"]

_cache: dict = {}


def get_data(name: str) -> al.AttentionData:
    if name not in _cache:
        _cache[name] = DATASETS[name]()
    return _cache[name]


@pytest.fixture(scope="session")
def data(request) -> al.AttentionData:
    """Indirectly parametrised: ``@pytest.mark.parametrize("data", [...names...], indirect=True)``."""
    return get_data(request.param)


@pytest.fixture(scope="session")
def demo1() -> al.AttentionData:
    return get_data("demo1")


@pytest.fixture(scope="session")
def demo3() -> al.AttentionData:
    return get_data("demo3")


@pytest.fixture(scope="session")
def generic_eq() -> al.AttentionData:
    return get_data("generic_eq")


# -- independent reference implementations ------------------------------------------------------------


def _softmax(g: np.ndarray) -> np.ndarray:
    e = np.exp(g - g.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _parts(d: al.AttentionData, W: np.ndarray):
    """Naive forward pass: logits, attention, outputs Phi, scores gamma (from X, z, y, v only)."""
    g = np.stack([d.X[i] @ W @ d.z[i] for i in range(d.n)])
    sig = _softmax(g)
    phi = np.array([d.v @ d.X[i].T @ sig[i] for i in range(d.n)])
    gamma = d.y[:, None] * np.einsum("nld,d->nl", d.X, d.v)
    return g, sig, phi, gamma


def _loss(d, W):
    _, _, phi, _ = _parts(d, np.asarray(W, float))
    return float(np.mean(np.exp(-d.y * phi)))


def _logistic(d, W):
    _, _, phi, _ = _parts(d, np.asarray(W, float))
    return float(np.mean(np.log1p(np.exp(-d.y * phi))))


def _fd_grad(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central finite differences of a scalar function f at x (any shape)."""
    x = np.array(x, dtype=float)
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        out[idx] = (f(xp) - f(xm)) / (2 * h)
    return out


def _rel_err(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _constraint_values(d: al.AttentionData, W) -> np.ndarray:
    """``(x_{i,opt} - x_il)^T W z_i`` for every pair in ``d.pairs`` order, computed with explicit loops."""
    opt = np.argmax(d.y[:, None] * np.einsum("nld,d->nl", d.X, d.v), axis=1)
    vals = [(d.X[i, opt[i]] - d.X[i, l]) @ W @ d.z[i] for i in range(d.n) for l in range(d.L) if l != opt[i]]
    return np.array(vals)


@pytest.fixture(scope="session")
def ref():
    """Namespace of reference helpers: softmax, parts, loss, logistic, fd_grad, rel_err, constraint_values."""
    return SimpleNamespace(softmax=_softmax, parts=_parts, loss=_loss, logistic=_logistic, fd_grad=_fd_grad,
                           rel_err=_rel_err, constraint_values=_constraint_values)


# -- the claims stage: discrete claims recomputed under a rounding-sized perturbation ---------------------------

#: Relative size of the inputs' perturbation in the claims stage (a few thousand ulps: what a different BLAS
#: kernel's rounding amounts to after a few thousand operations).
PERTURB_REL = 1e-12


def pytest_addoption(parser):
    parser.addoption("--perturb-seed", type=int, default=None, metavar="SEED",
                     help="run every test marked `claims` under attnlib.perturbed_inputs(1e-12, SEED): data sets "
                          "and flow starts move by a relative 1e-12, and the test must still assert the same "
                          "answer (the test command's claims stage: pytest -m claims --perturb-seed 1)")


@pytest.fixture(autouse=True)
def _perturbed_claims(request):
    """Under ``--perturb-seed``, a test marked ``claims`` computes everything under ``al.perturbed_inputs``."""
    seed = request.config.getoption("--perturb-seed")
    if seed is None or request.node.get_closest_marker("claims") is None:
        yield
        return
    from attnbook.experiments import studies_dir, writing_studies

    # the perturbed results a test computes go to the studies artifact (keyed by the perturbation), so the stage's
    # other pytest worker reads them instead of computing them again
    sharing = writing_studies(perturbed_only=True) if studies_dir() is not None else contextlib.nullcontext()
    with al.perturbed_inputs(PERTURB_REL, seed), sharing:
        yield


@pytest.fixture(autouse=True)
def _no_shared_results_from_patched_code(request):
    """A test that monkeypatches must not read results from the studies artifact (``_build/studies``, computed by
    unpatched code), nor store what it computes there."""
    if "monkeypatch" not in request.fixturenames:
        yield
        return
    from attnbook.experiments import disk_cache_paused

    with disk_cache_paused():
        yield
