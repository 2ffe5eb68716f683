"""The verdict of a comparison in plain words, from its numbers only."""

from __future__ import annotations

from typing import Any

from studies.compare.stats import POWER, smallest_p_value


def verdict(optimizers: dict[str, dict[str, Any]], tests: list[dict[str, Any]], *, alpha: float) -> str:
    """One paragraph: which optimizer found better configurations, or that none did."""
    if not tests:
        return "Only one optimizer was compared, so there is no test to report."
    sentences = [_pair_sentence(test, optimizers, alpha=alpha) for test in tests]
    if len(tests) > 1:
        sentences.append(f"p-values are Holm-adjusted for the {len(tests)} pairs tested.")
    return " ".join(sentences)


def _pair_sentence(test: dict[str, Any], optimizers: dict[str, dict[str, Any]], *, alpha: float) -> str:
    a, b = test["first"], test["second"]
    med_a, med_b = optimizers[a]["best"]["median"], optimizers[b]["best"]["median"]
    evidence = (
        f"(median best validation accuracy {med_a:.4f} vs {med_b:.4f} over {test['n_first']} and "
        f"{test['n_second']} seeds; two-sided Mann-Whitney U = {test['u_statistic']:g}, "
        f"p = {test['p_holm']:.3g}; Vargha-Delaney A = {test['vargha_delaney_a']:.2f})"
    )
    if test["significant"]:
        winner, loser = (a, b) if test["vargha_delaney_a"] > 0.5 else (b, a)
        return f"{winner} found better configurations than {loser} at this budget {evidence}."
    floor = smallest_p_value(test["n_first"], test["n_second"])
    parts = [f"No significant difference between {a} and {b} at this budget {evidence}."]
    if floor >= alpha:
        parts.append(
            f"With {test['n_first']} and {test['n_second']} seeds the smallest p-value the test can give "
            f"is {floor:.3g}, so it could not have found a difference at alpha = {alpha:g}."
        )
    needed = test["seeds_needed"]
    if needed is None:
        parts.append("The observed effect is nil (A = 0.50), so no number of seeds is expected to separate them.")
    else:
        parts.append(
            f"If the observed effect is real, about {needed} seeds per optimizer would detect it "
            f"with {POWER:.0%} power at alpha = {alpha:g}."
        )
    return " ".join(parts)
