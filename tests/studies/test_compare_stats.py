from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from studies.compare.stats import holm, mann_whitney, seeds_needed, smallest_p_value, vargha_delaney_a


def test_vargha_delaney_a_counts_wins_and_half_ties():
    assert vargha_delaney_a([3, 4], [1, 2]) == 1.0
    assert vargha_delaney_a([1, 2], [3, 4]) == 0.0
    assert vargha_delaney_a([1, 3], [2, 3]) == pytest.approx((0 + 0 + 1 + 0.5) / 4)


def test_smallest_p_value_of_the_exact_test():
    assert smallest_p_value(2, 2) == pytest.approx(1 / 3)
    assert smallest_p_value(3, 3) == pytest.approx(0.1)
    assert smallest_p_value(4, 4) == pytest.approx(2 / 70)
    # SciPy's exact test on perfectly separated samples gives exactly that floor.
    assert scipy_stats.mannwhitneyu([5, 6, 7, 8], [1, 2, 3, 4], method="exact").pvalue == pytest.approx(2 / 70)


def test_seeds_needed_follows_noether_and_the_exact_floor():
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert seeds_needed(0.75) == math.ceil(z**2 / (6 * 0.25**2)) == 21
    assert seeds_needed(1.0) == 6
    assert seeds_needed(0.0) == 6  # the effect's direction does not matter
    assert seeds_needed(0.5) is None


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_mann_whitney_matches_scipy_and_handles_all_ties():
    x, y = [0.91, 0.93, 0.95, 0.97], [0.90, 0.92, 0.89, 0.94]
    result = mann_whitney("a", x, "b", y)
    expected = scipy_stats.mannwhitneyu(x, y, alternative="two-sided")
    assert result.u_statistic == expected.statistic and result.p_value == pytest.approx(expected.pvalue)
    assert result.cliffs_delta == pytest.approx(2 * result.vargha_delaney_a - 1)
    tied = mann_whitney("a", [0.5, 0.5], "b", [0.5, 0.5])
    assert tied.p_value == 1.0 and tied.vargha_delaney_a == 0.5 and tied.seeds_needed is None
