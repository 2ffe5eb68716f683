"""Statistics for comparing the final best values of two optimizers over seeds.

- Two-sided Mann-Whitney U on the pooled midranks (ties share their mean rank). The
  p-value comes from the permutation distribution of U over the splits of the pooled
  values into groups of the observed sizes, so ties are handled exactly:

  - exact, every split enumerated, when there are at most :data:`EXACT_MAX_SPLITS`
    splits, ``C(n + m, n)`` (10 seeds per optimizer and fewer; enumerated here because
    SciPy's ``permutation_test`` refuses a group of one value);
  - above that, SciPy's Monte-Carlo ``permutation_test`` of :data:`MONTE_CARLO_RESAMPLES`
    random splits drawn with the fixed seed :data:`MONTE_CARLO_SEED` (so a report
    recomputes to the same numbers), raised to the exact smallest p-value where chance
    put it below.

  Two-sided means twice the smaller one-sided p-value, capped at 1 (SciPy's convention).
  No normal approximation is used: with the ties validation accuracies have it can give
  p-values the test cannot reach.
- The smallest p-value the test can give for the observed values, ties included: twice
  the chance that a random split is the most extreme one in either direction (the
  less likely direction counts), ``2 / C(n + m, n)`` without ties.
- Vargha-Delaney A: the probability that a run of the first optimizer beats a run of the
  second (ties count half); 0.5 is no effect. Cliff's delta is ``2A - 1``.
- Seeds needed: Noether's (1987) sample size for the Mann-Whitney test with equal groups,
  ``n = (z(1-alpha/2) + z(power))^2 / (6 (A - 0.5)^2)`` per optimizer, taking the
  observed A as the true effect, and never below the smallest n whose exact test (without
  ties) can go below ``alpha`` at all. With several pairs ``alpha`` is the level of the
  first, most stringent step of Holm's correction, ``ALPHA / pairs``.
- Holm's step-down correction when several pairs are tested at once.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8
NO_EFFECT = 0.5
# Splits of the pooled values up to which the permutation distribution is enumerated.
EXACT_MAX_SPLITS = 200_000
MONTE_CARLO_RESAMPLES = 100_000
MONTE_CARLO_SEED = 0
# Random splits the Monte-Carlo test evaluates per batch (bounds its memory).
PERMUTATION_BATCH = 10_000
EXACT = "exact"
MONTE_CARLO = "monte-carlo"
# Largest group size searched for the smallest n whose exact test can reach a level.
MAX_SEEDS_SEARCHED = 1000


@dataclasses.dataclass(frozen=True)
class PairTest:
    first: str
    second: str
    n_first: int
    n_second: int
    u_statistic: float
    p_value: float
    method: str  # EXACT or MONTE_CARLO
    smallest_p_value: float  # the floor of p for these values, ties included
    vargha_delaney_a: float
    cliffs_delta: float
    seeds_needed: int | None
    seeds_alpha: float  # the level seeds_needed is computed for

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def vargha_delaney_a(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) + P(X = Y) / 2 over all pairs of one value of ``x`` and one of ``y``."""
    wins = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    return wins / (len(x) * len(y))


def smallest_p_value_without_ties(n_first: int, n_second: int) -> float:
    """The smallest two-sided p-value an exact Mann-Whitney test of these sizes can give
    when no two values tie: ``2 / C(n + m, n)``."""
    return min(1.0, 2.0 / math.comb(n_first + n_second, n_first))


def smallest_p_value(*, x: Sequence[float], y: Sequence[float]) -> float:
    """The smallest two-sided p-value the permutation test can give for the pooled values
    of ``x`` and ``y`` split into groups of their sizes, ties included.

    The largest U comes only from the splits whose first group holds the ``len(x)``
    largest values: ``C(t, s)`` of them when the smallest of those values occurs ``t``
    times in the pool and ``s`` times in the group. Likewise for the smallest U. The
    floor is twice the chance of the less likely extreme, capped at 1.
    """
    pooled = sorted([*x, *y])
    splits = math.comb(len(pooled), len(x))
    top = _extreme_splits(pooled[::-1], size=len(x))
    bottom = _extreme_splits(pooled, size=len(x))
    return min(1.0, 2.0 * min(top, bottom) / splits)


def _extreme_splits(ordered: Sequence[float], *, size: int) -> int:
    """How many splits put exactly the first ``size`` values of ``ordered`` (as a
    multiset) into the first group."""
    boundary = ordered[size - 1]
    return math.comb(collections.Counter(ordered)[boundary], ordered[:size].count(boundary))


def seeds_needed(a: float, *, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds per optimizer to detect an effect of size ``a`` at level ``alpha`` (None: no
    effect observed)."""
    if a == NO_EFFECT:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = math.ceil(z**2 / (6 * (a - NO_EFFECT) ** 2))
    floor = next(k for k in range(1, MAX_SEEDS_SEARCHED) if smallest_p_value_without_ties(k, k) < alpha)
    return max(n, floor)


def mann_whitney_p(*, x: Sequence[float], y: Sequence[float]) -> tuple[float, float, str]:
    """U of ``x`` against ``y``, its two-sided permutation p-value and the method
    (:data:`EXACT` or :data:`MONTE_CARLO`, see the module docstring)."""
    ranks = stats.rankdata([*x, *y])
    n = len(x)
    u = float(_u_statistic(ranks[:n], ranks[n:], axis=-1))
    splits = math.comb(len(ranks), n)
    if splits <= EXACT_MAX_SPLITS:
        chosen = itertools.chain.from_iterable(itertools.combinations(range(len(ranks)), n))
        indices = np.fromiter(chosen, dtype=np.intp, count=splits * n).reshape(splits, n)
        null = ranks[indices].sum(axis=1) - n * (n + 1) / 2  # sums of half-integers: exact
        p = 2 * min(np.mean(null >= u), np.mean(null <= u))
        return u, min(1.0, float(p)), EXACT
    result = stats.permutation_test(
        (ranks[:n], ranks[n:]), _u_statistic, permutation_type="independent", vectorized=True,
        n_resamples=MONTE_CARLO_RESAMPLES, batch=PERMUTATION_BATCH, alternative="two-sided", rng=MONTE_CARLO_SEED,
    )
    return u, max(float(result.pvalue), smallest_p_value(x=x, y=y)), MONTE_CARLO


def _u_statistic(x_ranks: np.ndarray, y_ranks: np.ndarray, axis: int) -> np.ndarray:
    """Mann-Whitney U of the first group from its (mid)ranks in the pooled sample."""
    n = x_ranks.shape[axis]
    return np.sum(x_ranks, axis=axis) - n * (n + 1) / 2


def mann_whitney(
    *, first: str, x: Sequence[float], second: str, y: Sequence[float], alpha: float = ALPHA
) -> PairTest:
    """Two-sided Mann-Whitney U of ``x`` against ``y`` with its effect sizes; seeds
    needed are for level ``alpha`` (pass the Holm level when several pairs are tested)."""
    a = vargha_delaney_a(x, y)
    u, p, method = mann_whitney_p(x=x, y=y)
    return PairTest(
        first=first, second=second, n_first=len(x), n_second=len(y), u_statistic=u, p_value=p, method=method,
        smallest_p_value=smallest_p_value(x=x, y=y), vargha_delaney_a=a, cliffs_delta=2 * a - 1,
        seeds_needed=seeds_needed(a, alpha=alpha), seeds_alpha=alpha,
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
