"""Data sets for one-layer softmax attention: the container and seeded generators.

A data set is ``n`` samples ``(X_i, z_i, y_i)`` with tokens ``X_i`` (rows ``x_il``), a query ``z_i`` and a
label ``y_i`` in {-1, +1}, together with the fixed value (head) vector ``v`` (paper §3.1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = [
    "AttentionData",
    "make_diagonal_data",
    "make_orthogonal_data",
    "make_generic_data",
    "block_diagonal_data",
    "diagonal_blocks",
]


def _as_float_array(name: str, value, ndim: int, expected: str) -> np.ndarray:
    from ._validate import check_array
    from .perturbation import perturb_relative

    arr = check_array(value, name, ndim=ndim, expected=f"a numeric array of shape {expected}")
    if name != "y":  # labels are exact; tokens, queries and v move by a rounding-sized amount under perturbed_inputs
        arr = perturb_relative(arr, name)
    arr.setflags(write=False)
    return arr


def _check_sizes(**sizes) -> tuple[int, ...]:
    """The sizes as Python ints (``n=3.0`` gives 3), each checked against its minimum."""
    from ._validate import check_scalar

    mins = {"n": 1, "L": 2, "d": 2}
    out = tuple(check_scalar(value, name, integer=True, lo=mins[name]) for name, value in sizes.items())
    _check_entries(**dict(zip(sizes, out)))
    return out


def _check_entries(**sizes: int) -> None:
    """Refuse sizes whose token array ``X`` (``n * L * d`` entries) would not fit: name the largest size."""
    from ._validate import MAX_ENTRIES

    total = 1
    for value in sizes.values():
        total *= int(value)
    if total > MAX_ENTRIES:
        name = max(sizes, key=lambda k: sizes[k])
        shown = ", ".join(f"{k}={v if v < 10**12 else f'{float(v):.3g}'}" for k, v in sizes.items())
        raise ValueError(f"{name} must be small enough that the tokens X fit in memory (n * L * d <= {MAX_ENTRIES:.0e} "
                         f"entries); got {shown}")


def _readonly(arr: np.ndarray) -> np.ndarray:
    """Mark a derived (cached) array read-only, so the cache cannot be corrupted through it."""
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class AttentionData:
    """An immutable, validated data set ``(X, z, y, v)``.

    Parameters
    ----------
    X : array_like, shape (n, L, d)
        Tokens; ``X[i, l]`` is the token ``x_il`` in R^d.
    z : array_like, shape (n, d)
        Queries ``z_i``.
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    v : array_like, shape (d,)
        The fixed value (head) vector.

    Raises
    ------
    ValueError
        If shapes disagree, an entry is NaN/inf, a label is not +-1, ``L < 2``, or a sample has no unique
        optimal token (two tokens tie for the largest score ``gamma_il``).

    Notes
    -----
    Constraints of the attention SVMs are indexed by ``k = 0 .. n(L-1)-1`` over pairs ``(i, l)`` with
    ``l != opt(i)``, sample-major and ``l`` increasing; :attr:`pairs` lists them.
    """

    X: np.ndarray
    z: np.ndarray
    y: np.ndarray
    v: np.ndarray
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        X = _as_float_array("X", self.X, 3, "(n, L, d)")
        n, L, d = X.shape
        z = _as_float_array("z", self.z, 2, f"(n, d) = ({n}, {d})")
        y = _as_float_array("y", self.y, 1, f"(n,) = ({n},)")
        v = _as_float_array("v", self.v, 1, f"(d,) = ({d},)")
        if n < 1 or d < 1:
            raise ValueError(f"X must have at least one sample and one feature; got shape {X.shape}")
        if L < 2:
            raise ValueError(f"X must have L >= 2 tokens per sample (shape (n, L, d)); got L = {L}")
        if z.shape != (n, d):
            raise ValueError(f"z must have shape (n, d) = ({n}, {d}) to match X; got {z.shape}")
        if y.shape != (n,):
            raise ValueError(f"y must have shape (n,) = ({n},) to match X; got {y.shape}")
        if v.shape != (d,):
            raise ValueError(f"v must have shape (d,) = ({d},) to match X; got {v.shape}")
        bad = np.flatnonzero(np.abs(y) != 1)
        if bad.size:
            raise ValueError(f"y must contain only -1 and +1; y[{bad[0]}] = {y[bad[0]]}")
        for name, arr in (("X", X), ("z", z), ("y", y), ("v", v)):
            object.__setattr__(self, name, arr)
        with np.errstate(over="ignore", invalid="ignore"):
            gamma = y[:, None] * (X @ v)
            spread = np.max(gamma, axis=1) - np.min(gamma, axis=1)
        if not (np.all(np.isfinite(gamma)) and np.all(np.isfinite(spread))):
            i = int(np.flatnonzero(~(np.all(np.isfinite(gamma), axis=1) & np.isfinite(spread)))[0])
            raise ValueError(f"X and v are too large together: the token scores gamma_il = y_i v^T x_il of sample {i} "
                             f"(or their differences) overflow float64 although every entry is finite (max |x| = "
                             f"{np.abs(X).max():.3g}, max |v| = {np.abs(v).max():.3g}); rescale X or v")
        top2 = np.sort(gamma, axis=1)[:, -2:]
        scale = np.abs(gamma).max(axis=1)  # relative to the sample's own scores: tokens x s tie iff tokens do
        ties = np.flatnonzero(top2[:, 1] - top2[:, 0] <= 1e-12 * scale)
        if ties.size:
            i = ties[0]
            raise ValueError(
                f"sample {i} has no unique optimal token: its two largest token scores gamma_il = y_i v^T x_il "
                f"tie at {top2[i, 1]:.6g}; make one token score strictly highest (Assumption 1 needs it)"
            )
        gamma.setflags(write=False)
        self._cache["gamma"] = gamma

    # -- sizes -------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of samples."""
        return self.X.shape[0]

    @property
    def L(self) -> int:
        """Number of tokens per sample."""
        return self.X.shape[1]

    @property
    def d(self) -> int:
        """Token (and query) dimension."""
        return self.X.shape[2]

    # -- scores and optimal tokens -------------------------------------------------------------------
    @property
    def gamma(self) -> np.ndarray:
        """Token scores ``gamma_il = y_i v^T x_il``, shape (n, L) (Def. 3.1; the paper's E1 typo fixed)."""
        return self._cache["gamma"]

    @cached_property
    def opt(self) -> np.ndarray:
        """Index of the optimal token of each sample, shape (n,)."""
        return _readonly(np.argmax(self.gamma, axis=1))

    @cached_property
    def gamma_opt(self) -> np.ndarray:
        """Score of the optimal token, shape (n,)."""
        return _readonly(self.gamma[np.arange(self.n), self.opt])

    @cached_property
    def pairs(self) -> np.ndarray:
        """Constraint index pairs ``(i, l)`` with ``l != opt(i)``, shape (n(L-1), 2), sample-major."""
        rows = [(i, l) for i in range(self.n) for l in range(self.L) if l != self.opt[i]]
        return _readonly(np.array(rows, dtype=int).reshape(-1, 2))

    @cached_property
    def D(self) -> np.ndarray:
        """Token differences ``x_{i,opt(i)} - x_il`` per constraint, shape (n(L-1), d)."""
        i, l = self.pairs.T
        return _readonly(self.X[i, self.opt[i]] - self.X[i, l])

    @cached_property
    def Z(self) -> np.ndarray:
        """The query ``z_i`` of each constraint, shape (n(L-1), d)."""
        return _readonly(self.z[self.pairs[:, 0]])

    @cached_property
    def A(self) -> np.ndarray:
        """Constraint matrices ``A_il = (x_{i,opt} - x_il) z_i^T``, shape (n(L-1), d, d).

        The SVM constraint reads ``<A_il, W> = tr(A_il^T W) >= 1``.
        """
        return _readonly(self.D[:, :, None] * self.Z[:, None, :])

    @cached_property
    def B(self) -> np.ndarray:
        """Diagonal constraint rows ``B_il = z_i * (x_{i,opt} - x_il)``, shape (n(L-1), d).

        For ``W = diag(beta)`` the constraint is ``B_il . beta >= 1``. (The paper stacks them as columns.)
        """
        return _readonly(self.D * self.Z)

    def __repr__(self) -> str:
        return f"AttentionData(n={self.n}, L={self.L}, d={self.d})"


# -- generators -------------------------------------------------------------------------------------

def _check_score(score) -> float:
    """The optimal-token score must be positive: the other tokens score 0, so a score <= 0 makes another token
    optimal (or several tie)."""
    from ._validate import check_scalar

    return check_scalar(score, "score", lo=0.0, lo_open=True)


# The book's diagonal example (chapter 3): the B_il chosen directly (rows: sample i, its two non-optimal tokens).
_DEMO1_B = np.array([[[1.0, 0.6, 0.2], [0.9, -0.3, 0.5]],
                     [[0.8, 0.5, -0.4], [1.1, 0.2, 0.3]],
                     [[0.7, 0.9, 0.1], [1.0, 0.0, 0.6]]])
_DEMO1_Y = np.array([1.0, -1.0, 1.0])


def make_diagonal_data(n: int = 3, L: int = 3, d: int = 4, *, seed: int | None = None,
                       score: float | None = None) -> AttentionData:
    """Data whose diagonal constraint rows ``B_il`` are chosen directly (the book's diagonal example, chapter 3).

    Construction: ``v = e_d``, queries ``z_i = (1, ..., 1, 0)``, the optimal token is
    ``x_{i,1} = score * y_i * e_d`` and the others are ``x_il = (-b_il, 0)``, so that
    ``B_il = (b_il, 0)``, ``gamma_{i,opt} = score`` and ``gamma_{i,nopt} = 0``.

    Parameters
    ----------
    n, L, d : int
        Samples, tokens per sample (>= 2) and dimension (>= 2).
    seed : int or None
        ``None`` returns the book's fixed diagonal example (chapter 3; requires n = L = 3, d = 4); an integer draws
        ``b_il`` at random: first coordinate uniform in [0.5, 1.2], the others N(0, 0.5^2).
    score : float or None
        Optimal-token score; default 4 for the demo, else ``max(4, L ln n + 0.5)``.

    Returns
    -------
    AttentionData
        Meets Assumption 2 (all non-optimal scores equal), diagonal separability (Assumption 1-diag;
        ``beta = c e_1`` separates since every ``b_il[0] > 0``), hence Assumption 1, and Assumption 3 at
        ``W = 0`` (``score >= L ln n`` suffices). Not Assumption 4.
    """
    from ._validate import check_seed
    n, L, d = _check_sizes(n=n, L=L, d=d)
    seed = check_seed(seed, allow_none=True)
    if seed is None:
        if (n, L, d) != (3, 3, 4):
            raise ValueError(f"the fixed demo data has n=3, L=3, d=4; got n={n}, L={L}, d={d}; pass seed=<int> "
                             "for random data of other sizes")
        b, y = _DEMO1_B, _DEMO1_Y
        score = 4.0 if score is None else _check_score(score)
    else:
        rng = np.random.default_rng(seed)
        b = np.empty((n, L - 1, d - 1))
        b[..., 0] = rng.uniform(0.5, 1.2, size=(n, L - 1))
        b[..., 1:] = 0.5 * rng.standard_normal((n, L - 1, d - 2))
        y = rng.choice([-1.0, 1.0], size=n)
        score = max(4.0, L * np.log(n) + 0.5) if score is None else _check_score(score)
    X = np.zeros((n, L, d))
    X[:, 0, d - 1] = score * y
    X[:, 1:, : d - 1] = -b
    z = np.zeros((n, d))
    z[:, : d - 1] = 1.0
    v = np.zeros(d)
    v[d - 1] = 1.0
    return AttentionData(X, z, y, v)


def make_orthogonal_data(n: int = 2, L: int = 3, d: int | None = None, *, seed: int | None = None,
                         c: float | np.ndarray = 0.0) -> AttentionData:
    """Data meeting Assumption 4 (orthogonal optimal tokens and queries, paired non-optimal tokens).

    Construction (exactly representable numbers, so symmetric pairs stay symmetric in float64):
    ``x_{i,opt} = a_i e_i``, ``z_i = s_i b_i e_i`` (``s_i = +-1``: query parallel or antiparallel),
    ``v = sum_i y_i e_i``, and the ``L - 1`` non-optimal tokens come in pairs ``c_i x_{i,opt} +- u``
    with ``u`` supported on the coordinates ``n .. d-1`` (so ``u`` is orthogonal to every optimal token and
    to ``v``).

    Parameters
    ----------
    n : int
        Samples (>= 1).
    L : int
        Tokens per sample; must be odd (Assumption 4 pairs the ``L - 1`` non-optimal tokens).
    d : int or None
        Dimension, at least ``n + 1``; default ``n + 2``.
    seed : int or None
        ``None`` gives the scales of the book's aligned example (chapter 5) for n = 2 (``a = (4, 3)``, ``b = (2, 1.5)``,
        signs ``(+1, -1)``, ``y = (1, 1)``); an integer draws ``a_i`` from {2, 3, 4, 5}, ``b_i`` from
        {1, 1.5, 2}, random signs and labels, and integer perpendicular parts.
    c : float or array of shape (n,)
        The pair parameter ``c_i`` in [-1, 1) (``gamma_{i,nopt} = c_i gamma_{i,opt}``).

    Returns
    -------
    AttentionData
        Meets Assumptions 1, 1-diag (in the aligned basis), 2 and 4; Assumption 3 at ``W = 0`` for the defaults
        (check with :func:`attnlib.check_assumptions`).
    """
    (n,) = _check_sizes(n=n)
    from ._validate import check_scalar, check_seed
    seed = check_seed(seed, allow_none=True)
    L = check_scalar(L, "L", integer=True, lo=3)
    if d is not None:
        d = check_scalar(d, "d", integer=True, lo=2)
    if L % 2 == 0:
        raise ValueError(f"Assumption 4 pairs the L-1 non-optimal tokens, so L must be odd and >= 3; got L={L}")
    d = n + 2 if d is None else int(d)
    _check_entries(n=n, L=L, d=d)
    if d < n + 1:
        raise ValueError(f"need d >= n + 1 (n orthogonal optimal tokens plus room for the pair offsets); "
                         f"got d={d}, n={n}")
    from ._validate import check_array
    c = check_array(c, "c", expected="a number or an array of shape (n,) in [-1, 1)")
    if c.ndim > 1 or c.ndim == 1 and c.shape != (n,):
        raise ValueError(f"c must be a number or an array of shape (n,) = ({n},); got shape {c.shape}")
    c = np.broadcast_to(c, (n,))
    if np.any(c < -1) or np.any(c >= 1):
        raise ValueError(f"c must lie in [-1, 1) (Assumption 4 (iii)); got c={c}")
    rng = np.random.default_rng(seed)
    if seed is None:
        if n != 2:
            raise ValueError(f"the fixed demo data has n=2; got n={n}; pass seed=<int> for other sizes")
        a, b, s, y = np.array([4.0, 3.0]), np.array([2.0, 1.5]), np.array([1.0, -1.0]), np.array([1.0, 1.0])
    else:
        a = rng.choice([2.0, 3.0, 4.0, 5.0], size=n)
        b = rng.choice([1.0, 1.5, 2.0], size=n)
        s = rng.choice([-1.0, 1.0], size=n)
        y = rng.choice([-1.0, 1.0], size=n)
    X = np.zeros((n, L, d))
    z = np.zeros((n, d))
    v = np.zeros(d)
    v[:n] = y
    for i in range(n):
        X[i, 0, i] = a[i]
        z[i, i] = s[i] * b[i]
        for k in range((L - 1) // 2):
            u = np.zeros(d)
            u[n:] = rng.integers(-2, 3, size=d - n) if seed is not None else 0.0
            u[n + k % (d - n)] += 1.0 + k // (d - n)  # nonzero offset; distinct pairs get distinct offsets
            X[i, 1 + 2 * k] = c[i] * X[i, 0] + u
            X[i, 2 + 2 * k] = c[i] * X[i, 0] - u
    return AttentionData(X, z, y, v)


def make_generic_data(n: int = 6, L: int = 8, d: int = 10, seed: int = 0, *,
                      equal_scores: bool = False, score: float = 6.0) -> AttentionData:
    """Gaussian data (the peers' setup by default: n=6, L=8, d=10, unit-norm tokens and queries).

    Parameters
    ----------
    n, L, d : int
        Samples, tokens per sample (>= 2), dimension.
    seed : int
        Seed of ``numpy.random.default_rng``.
    equal_scores : bool
        ``False`` (default): tokens and queries are standard Gaussian vectors normalised to unit norm, ``v`` a
        random unit vector, labels random. ``True``: the first ``d - 1`` coordinates are Gaussian and the last
        carries the score, ``v = e_d``, with ``gamma_{i,opt} = score`` on a random token and 0 on the others
        (chapter 6's generic equal-score example).
    score : float
        Optimal-token score when ``equal_scores`` is True.

    Returns
    -------
    AttentionData
        ``equal_scores=False``: generic, so Assumption 2 fails (non-optimal scores differ); Assumption 1 holds with
        probability one when ``n (L - 1) <= d^2`` and in practice when d is not much smaller than n and L.
        ``equal_scores=True``: Assumption 2 holds, and Assumption 3 at ``W = 0`` when ``score >= L ln n``.
        Check with :func:`attnlib.check_assumptions`.
    """
    from ._validate import check_bool, check_seed
    n, L, d = _check_sizes(n=n, L=L, d=d)
    seed = check_seed(seed)
    equal_scores = check_bool(equal_scores, "equal_scores")
    score = _check_score(score)
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], size=n)
    if not equal_scores:
        X = rng.standard_normal((n, L, d))
        X /= np.linalg.norm(X, axis=2, keepdims=True)
        z = rng.standard_normal((n, d))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        v = rng.standard_normal(d)
        v /= np.linalg.norm(v)
        return AttentionData(X, z, y, v)
    X = np.zeros((n, L, d))
    X[:, :, : d - 1] = rng.standard_normal((n, L, d - 1))
    opt = rng.integers(0, L, size=n)
    X[np.arange(n), opt, d - 1] = score * y
    z = np.zeros((n, d))
    z[:, : d - 1] = rng.standard_normal((n, d - 1))
    v = np.zeros(d)
    v[d - 1] = 1.0
    return AttentionData(X, z, y, v)


def block_diagonal_data(datas) -> AttentionData:
    """Independent data sets of one shape as one data set, each in its own block of coordinates.

    Data set ``b`` contributes its samples ``b n .. (b+1) n - 1``, with tokens and query placed in coordinates
    ``b d .. (b+1) d - 1`` (zeros elsewhere) and ``v`` stacked. For ``W`` block-diagonal, the logits of data set
    ``b``'s samples see only block ``b`` of ``W``, and the gradient of the loss is block-diagonal with block ``b``
    equal to ``1/B`` times the gradient of data set ``b``'s own loss (its products with the zeros are exact zeros).
    So gradient descent on ``W`` with step ``B * lr`` from a block-diagonal start runs ``B`` independent descents
    with step ``lr`` in one iteration: the same arithmetic on ``B`` times larger arrays, for the Python overhead of
    one. With ``B`` a power of two the scaling is exact and each block's iterates are bit-for-bit those of its
    own run.

    Parameters
    ----------
    datas : sequence of AttentionData
        ``B >= 1`` data sets of equal shape ``(n, L, d)``. Build them (perturbed or not) before; assemble under
        :func:`attnlib.perturbation.unperturbed` when inside :func:`attnlib.perturbed_inputs`, so that they do
        not move a second time.

    Returns
    -------
    AttentionData
        ``B n`` samples, ``L`` tokens, dimension ``B d``.
    """
    if not isinstance(datas, (list, tuple)) or not datas:
        raise TypeError(f"datas must be a non-empty list or tuple of attnlib.AttentionData; got {datas!r:.80}")
    for b, data in enumerate(datas):
        check_data(data, f"datas[{b}]")
        if data.X.shape != datas[0].X.shape:
            raise ValueError(f"datas must share one shape (n, L, d); datas[0] has {datas[0].X.shape}, "
                             f"datas[{b}] has {data.X.shape}")
    B, (n, L, d) = len(datas), datas[0].X.shape
    X, z = np.zeros((B * n, L, B * d)), np.zeros((B * n, B * d))
    for b, data in enumerate(datas):
        X[b * n:(b + 1) * n, :, b * d:(b + 1) * d] = data.X
        z[b * n:(b + 1) * n, b * d:(b + 1) * d] = data.z
    return AttentionData(X, z, np.concatenate([data.y for data in datas]), np.concatenate([data.v for data in datas]))


def diagonal_blocks(W, B: int) -> np.ndarray:
    """The ``B`` diagonal blocks of square matrices ``W`` (..., B d, B d), as (..., B, d, d) (the inverse of the
    embedding of :func:`block_diagonal_data` for weights)."""
    from ._validate import check_array, check_scalar

    B = check_scalar(B, "B", integer=True, lo=1)
    W = check_array(W, "W", expected="square matrices (..., B d, B d)")
    if W.ndim < 2 or W.shape[-1] != W.shape[-2] or W.shape[-1] % B:
        raise ValueError(f"W must be square matrices (..., B d, B d) with B = {B}; got shape {W.shape}")
    d = W.shape[-1] // B
    return np.stack([W[..., b * d:(b + 1) * d, b * d:(b + 1) * d] for b in range(B)], axis=-3)


def check_data(data: object, name: str = "data") -> AttentionData:
    """``data`` must be an :class:`attnlib.AttentionData`; returns it."""
    from ._validate import describe

    if not isinstance(data, AttentionData):
        raise TypeError(f"{name} must be an attnlib.AttentionData (e.g. attnlib.make_generic_data()); "
                        f"got {describe(data)}")
    return data
