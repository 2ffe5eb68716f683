from __future__ import annotations

import itertools
import math

import pytest
from scipy import stats as scipy_stats

from studies.compare.stats import (
    EXACT,
    EXACT_MAX_SPLITS,
    MONTE_CARLO,
    holm,
    mann_whitney,
    mann_whitney_p,
    seeds_needed,
    smallest_p_value,
    smallest_p_value_without_ties,
    vargha_delaney_a,
)


def _u(x, y):
    """U of ``x`` against ``y`` by counting pairs: wins 1, ties 1/2."""
    return sum((a > b) + 0.5 * (a == b) for a in x for b in y)


def brute_force_null(x, y):
    """U of every split of the pooled values into groups of the sizes of ``x`` and ``y``."""
    pooled = [*x, *y]
    null = []
    for chosen in itertools.combinations(range(len(pooled)), len(x)):
        first = [pooled[i] for i in chosen]
        second = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        null.append(_u(first, second))
    return null


def brute_force_p(x, y):
    """Two-sided exact permutation p of U: twice the smaller tail, capped at 1."""
    null, u = brute_force_null(x, y), _u(x, y)
    tail = min(sum(v >= u for v in null), sum(v <= u for v in null)) / len(null)
    return min(1.0, 2 * tail)


def brute_force_floor(x, y):
    """The smallest p any split of the pooled values can give."""
    null = brute_force_null(x, y)
    return min(min(1.0, 2 * min(sum(v >= u for v in null), sum(v <= u for v in null)) / len(null)) for u in null)


CASES = [
    ([0.98, 0.98, 0.98], [0.97, 0.97, 0.97]),
    ([0.98, 0.98, 0.98], [0.97, 0.97, 0.97, 0.97]),
    ([0.98, 0.98, 0.975], [0.97, 0.97, 0.97]),
    ([0.91, 0.93, 0.95, 0.97], [0.90, 0.92, 0.89, 0.94]),
    ([0.5, 0.6, 0.6, 0.7, 0.9], [0.6, 0.6, 0.4, 0.5]),
    ([1, 1, 2, 3, 3, 3], [1, 2, 2, 2, 0, 0, 3]),
    ([0, 0, 0, 0, 1], [0, 0, 0, 0, 0]),
    ([0.5, 0.5], [0.5, 0.5]),
    ([5, 6, 7, 8], [1, 2, 3, 4]),
    ([0.2], [0.1, 0.3, 0.3]),
]


@pytest.mark.parametrize(("x", "y"), CASES)
def test_p_value_and_floor_match_a_brute_force_enumeration(x, y):
    u, p, method = mann_whitney_p(x=x, y=y)
    assert method == EXACT
    assert u == _u(x, y)
    assert p == pytest.approx(brute_force_p(x, y))
    assert smallest_p_value(x=x, y=y) == pytest.approx(brute_force_floor(x, y))
    assert p >= smallest_p_value(x=x, y=y) - 1e-12


def test_the_tied_reproductions_get_their_exact_p_values():
    # The normal approximation gave 0.0469, 0.0247 and 0.0593 here.
    assert mann_whitney_p(x=[0.98] * 3, y=[0.97] * 3)[1] == pytest.approx(0.1)
    assert mann_whitney_p(x=[0.98] * 3, y=[0.97] * 4)[1] == pytest.approx(2 / 35)
    assert mann_whitney_p(x=[0.98, 0.98, 0.975], y=[0.97] * 3)[1] == pytest.approx(0.1)


def test_floor_with_ties_can_exceed_the_untied_floor():
    # Two of three splits put the 1 into the first group: no split is rare enough.
    assert smallest_p_value(x=[0, 1], y=[0, 0]) == pytest.approx(2 * 3 / 6)
    assert smallest_p_value_without_ties(2, 2) == pytest.approx(1 / 3)
    assert smallest_p_value(x=[0.5, 0.5], y=[0.5, 0.5]) == 1.0


def test_large_samples_use_a_seeded_monte_carlo_never_below_the_floor():
    x, y = [0.0] * 10 + [1.0], [0.0] * 11  # C(22, 11) splits, more than the exact limit
    assert math.comb(22, 11) > EXACT_MAX_SPLITS
    u, p, method = mann_whitney_p(x=x, y=y)
    assert method == MONTE_CARLO and u == _u(x, y) == 11 + 0.5 * 110
    assert p == 1.0 == smallest_p_value(x=x, y=y)  # half the splits hold the 1: the test can say nothing
    separated = mann_whitney_p(x=[float(v) for v in range(20, 31)], y=[float(v) for v in range(11)])
    assert separated[2] == MONTE_CARLO and separated[1] < 1e-4
    assert separated == mann_whitney_p(x=[float(v) for v in range(20, 31)], y=[float(v) for v in range(11)])


def test_vargha_delaney_a_counts_wins_and_half_ties():
    assert vargha_delaney_a([3, 4], [1, 2]) == 1.0
    assert vargha_delaney_a([1, 2], [3, 4]) == 0.0
    assert vargha_delaney_a([1, 3], [2, 3]) == pytest.approx((0 + 0 + 1 + 0.5) / 4)


def test_smallest_p_value_without_ties():
    assert smallest_p_value_without_ties(2, 2) == pytest.approx(1 / 3)
    assert smallest_p_value_without_ties(3, 3) == pytest.approx(0.1)
    assert smallest_p_value_without_ties(4, 4) == pytest.approx(2 / 70)
    # SciPy's exact test on perfectly separated samples gives exactly that floor.
    assert scipy_stats.mannwhitneyu([5, 6, 7, 8], [1, 2, 3, 4], method="exact").pvalue == pytest.approx(2 / 70)


def test_seeds_needed_follows_noether_and_the_exact_floor():
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert seeds_needed(0.75) == math.ceil(z**2 / (6 * 0.25**2)) == 21
    assert seeds_needed(1.0) == 6
    assert seeds_needed(0.0) == 6  # the effect's direction does not matter
    assert seeds_needed(0.5) is None


def test_seeds_needed_at_a_holm_level_needs_more_seeds():
    z = scipy_stats.norm.ppf(1 - 0.025 / 2) + scipy_stats.norm.ppf(0.8)
    assert seeds_needed(0.75, alpha=0.025) == math.ceil(z**2 / (6 * 0.25**2)) == 26
    result = mann_whitney(first="a", x=[3, 4, 5], second="b", y=[0, 1, 2], alpha=0.025)
    assert (result.seeds_needed, result.seeds_alpha) == (seeds_needed(1.0, alpha=0.025), 0.025)


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_mann_whitney_matches_scipy_without_ties_and_handles_all_ties():
    x, y = [0.91, 0.93, 0.95, 0.97], [0.90, 0.92, 0.89, 0.94]
    result = mann_whitney(first="a", x=x, second="b", y=y)
    expected = scipy_stats.mannwhitneyu(x, y, alternative="two-sided", method="exact")
    assert result.u_statistic == expected.statistic and result.p_value == pytest.approx(expected.pvalue)
    assert result.cliffs_delta == pytest.approx(2 * result.vargha_delaney_a - 1)
    assert result.smallest_p_value == pytest.approx(2 / 70) and result.method == EXACT
    tied = mann_whitney(first="a", x=[0.5, 0.5], second="b", y=[0.5, 0.5])
    assert tied.p_value == 1.0 and tied.vargha_delaney_a == 0.5 and tied.seeds_needed is None
