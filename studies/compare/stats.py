"""Statistics for comparing the final best values of two optimizers over seeds.

- Two-sided Mann-Whitney U (SciPy): no assumption that results are normal.
- Vargha-Delaney A: the probability that a run of the first optimizer beats a run of the
  second (ties count half); 0.5 is no effect. Cliff's delta is ``2A - 1``.
- Seeds needed: Noether's (1987) sample size for the Mann-Whitney test with equal groups,
  ``n = (z(1-alpha/2) + z(power))^2 / (6 (A - 0.5)^2)`` per optimizer, taking the
  observed A as the true effect, and never below the smallest n whose exact test can
  reach ``alpha`` at all.
- Holm's step-down correction when several pairs are tested at once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from scipy import stats

ALPHA = 0.05
POWER = 0.8
NO_EFFECT = 0.5


@dataclasses.dataclass(frozen=True)
class PairTest:
    first: str
    second: str
    n_first: int
    n_second: int
    u_statistic: float
    p_value: float
    vargha_delaney_a: float
    cliffs_delta: float
    seeds_needed: int | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def vargha_delaney_a(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) + P(X = Y) / 2 over all pairs of one value of ``x`` and one of ``y``."""
    wins = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    return wins / (len(x) * len(y))


def smallest_p_value(n_first: int, n_second: int) -> float:
    """The smallest two-sided p-value an exact Mann-Whitney test of these sizes can give."""
    return min(1.0, 2.0 / math.comb(n_first + n_second, n_first))


def seeds_needed(a: float, *, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds per optimizer to detect an effect of size ``a`` (None: no effect observed)."""
    if a == NO_EFFECT:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = math.ceil(z**2 / (6 * (a - NO_EFFECT) ** 2))
    floor = next(k for k in range(1, 100) if smallest_p_value(k, k) < alpha)
    return max(n, floor)


def mann_whitney(first: str, x: Sequence[float], second: str, y: Sequence[float]) -> PairTest:
    """Two-sided Mann-Whitney U of ``x`` against ``y`` with its effect sizes."""
    a = vargha_delaney_a(x, y)
    if len(set(x) | set(y)) == 1:
        u, p = len(x) * len(y) / 2, 1.0  # every value equal: no evidence either way
    else:
        result = stats.mannwhitneyu(x, y, alternative="two-sided")
        u, p = float(result.statistic), float(result.pvalue)
    return PairTest(
        first=first, second=second, n_first=len(x), n_second=len(y), u_statistic=u,
        p_value=p, vargha_delaney_a=a, cliffs_delta=2 * a - 1, seeds_needed=seeds_needed(a),
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
