"""The verdict of a comparison in plain words, from its numbers only.

Its sentences cannot contradict each other: a pair is called significant only when its
(Holm-adjusted) p-value is below ``alpha``; the sentence on the smallest p-value the
test can give appears only when that floor (ties included) is at or above ``alpha``, so
next to a p-value at or above it; seeds needed are stated with the level they are for.
"""

from __future__ import annotations

from typing import Any

from studies.compare.stats import POWER


def verdict(
    optimizers: dict[str, dict[str, Any]], tests: list[dict[str, Any]], *, alpha: float, worst: float
) -> str:
    """One paragraph: which optimizer found better configurations, or that none did, and
    which seeds had no complete trial (counted with the value ``worst``)."""
    if not tests:
        return "Only one optimizer was compared, so there is no test to report."
    sentences = [_pair_sentence(test, optimizers, alpha=alpha, pairs=len(tests)) for test in tests]
    if len(tests) > 1:
        sentences.append(f"p-values are Holm-adjusted for the {len(tests)} pairs tested.")
    sentences += no_complete_trial_sentences(optimizers, worst=worst)
    return " ".join(sentences)


def no_complete_trial_sentences(optimizers: dict[str, dict[str, Any]], *, worst: float) -> list[str]:
    """One sentence per optimizer with seeds whose study has no complete trial."""
    sentences = []
    for name, summary in optimizers.items():
        seeds = summary.get("no_complete_trial", [])
        if seeds:
            sentences.append(
                f"{name} seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} had no complete trial "
                f"and {'are' if len(seeds) > 1 else 'is'} counted with the worst value "
                f"{worst} in the test and the statistics."
            )
    return sentences


def _pair_sentence(test: dict[str, Any], optimizers: dict[str, dict[str, Any]], *, alpha: float, pairs: int) -> str:
    a, b = test["first"], test["second"]
    med_a, med_b = optimizers[a]["best"]["median"], optimizers[b]["best"]["median"]
    relation = "below" if test["significant"] else "not below"
    evidence = (
        f"(median best validation accuracy {med_a:.4f} vs {med_b:.4f} over {test['n_first']} and "
        f"{test['n_second']} seeds; two-sided Mann-Whitney U = {test['u_statistic']:g}, "
        f"{test['method']} p = {test['p_holm']:.3g}, {relation} alpha = {alpha:g}; "
        f"Vargha-Delaney A = {test['vargha_delaney_a']:.2f})"
    )
    if test["significant"]:
        winner, loser = (a, b) if test["vargha_delaney_a"] > 0.5 else (b, a)
        return f"{winner} found better configurations than {loser} at this budget {evidence}."
    floor = test["smallest_p_value"]
    parts = [f"No significant difference between {a} and {b} at this budget {evidence}."]
    if floor >= alpha:
        parts.append(
            f"With these {test['n_first']} and {test['n_second']} values (ties included) the smallest p-value "
            f"the test can give is {floor:.3g}, so it could not have found a difference at alpha = {alpha:g}."
        )
    needed = test["seeds_needed"]
    if needed is None:
        parts.append("The observed effect is nil (A = 0.50), so no number of seeds is expected to separate them.")
    else:
        level = f"alpha = {test['seeds_alpha']:.3g}"
        if pairs > 1:
            level += f" ({alpha:g} / {pairs} pairs, the first step of Holm's correction)"
        parts.append(
            f"If the observed effect is real, about {needed} seeds per optimizer would detect it "
            f"with {POWER:.0%} power at {level}."
        )
    return " ".join(parts)
