"""The numbers of a comparison report, as one JSON-ready dict (``summary.json``).

Everything here is computed from the stored trials of the compared studies, so anyone
can recompute it from the storage. A seed whose study has no COMPLETE trial counts with
:data:`NO_COMPLETE_TRIAL_VALUE` (the objective's worst value, what HHO's fitness gives a
failed trial) in the tests and the per-optimizer statistics, and is listed under
``no_complete_trial``, so the worst outcome never drops out of the comparison.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from typing import Any

from search.objective import LstmObjective
from search.schedulers import final_trial
from studies.compare.collect import StudyRun
from studies.compare.metrics import run_metrics
from studies.compare.stats import ALPHA, holm, mann_whitney
from studies.compare.verdict import verdict
from studies.store.storage import mask_url

# 2: the limits of a study (configurations, epochs, time) replace its budget in trials.
SUMMARY_FORMAT = 2
# Default target: this fraction of the best validation accuracy seen in any compared study.
DEFAULT_TARGET_FRACTION = 0.99
# The best value of a seed whose study has no COMPLETE trial: the worst value there is.
NO_COMPLETE_TRIAL_VALUE = LstmObjective.worst_value


def describe(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, mean, sample std, median, min and max of ``values`` (None where undefined)."""
    if not values:
        return {"n": 0, "mean": None, "std": None, "median": None, "min": None, "max": None}
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def build_summary(
    runs: Sequence[StudyRun], *, storage: str, target: float | None, problems: Sequence[str], command: str | None
) -> dict[str, Any]:
    """The summary of a comparison of ``runs`` (see the module docstring)."""
    overall = _best_overall(runs)
    target_value, rule = _target(target, overall)
    metrics = [run_metrics(run, target=target_value) for run in runs]
    groups = {name: [m for m in metrics if m["optimizer"] == name] for name in dict.fromkeys(r.optimizer for r in runs)}
    per_optimizer = {name: _optimizer_summary(group) for name, group in groups.items()}
    tests = _pair_tests(groups)
    reference = runs[0].record
    return {
        "format": SUMMARY_FORMAT,
        "command": command,
        "storage": mask_url(storage),
        "settings": {"limits": reference.limits_text(), "trial_cap": reference.trial_cap,
                     "epoch_budget": reference.epoch_budget, "timeout": reference.timeout,
                     "reduction_factor": reference.reduction_factor, "train": reference.train, "data": reference.data,
                     "space": reference.space, "pruner": reference.pruner,
                     "max_failures": reference.max_failures},
        "not_comparable": list(problems),
        "target": {"value": target_value, "rule": rule},
        "best_overall": overall,
        "optimizers": per_optimizer,
        "tests": tests,
        "verdict": verdict(per_optimizer, tests, alpha=ALPHA, worst=NO_COMPLETE_TRIAL_VALUE),
        "runs": metrics,
    }


def _best_overall(runs: Sequence[StudyRun]) -> dict[str, Any] | None:
    best: dict[str, Any] | None = None
    for run in runs:
        trial = final_trial(run.trials)
        if trial is not None and trial.value is not None and (best is None or trial.value > best["value"]):
            best = {"study": run.name, "optimizer": run.optimizer, "seed": run.seed,
                    "trial": trial.number, "value": trial.value, "params": dict(trial.params)}
    return best


def _target(target: float | None, overall: dict[str, Any] | None) -> tuple[float, str]:
    if target is not None:
        return target, "given with --target"
    if overall is None:
        return 1.0, "no study has a complete trial"
    value = DEFAULT_TARGET_FRACTION * overall["value"]
    rule = f"{DEFAULT_TARGET_FRACTION:g} x the best validation accuracy of the comparison ({overall['value']:.4f})"
    return value, rule


def final_best(run: dict[str, Any]) -> float:
    """The value a seed's run counts with: its best, or the worst value without one."""
    return NO_COMPLETE_TRIAL_VALUE if run["best"] is None else run["best"]


def _optimizer_summary(group: list[dict[str, Any]]) -> dict[str, Any]:
    reached = [m for m in group if m["trials_to_target"] is not None]
    return {
        "studies": [m["study"] for m in group],
        "seeds": [m["seed"] for m in group],
        "best": describe([final_best(m) for m in group]),
        "best_values": [final_best(m) for m in group],
        "no_complete_trial": [m["seed"] for m in group if m["best"] is None],
        "trial_seconds": describe([m["trial_seconds"] for m in group]),
        "train_seconds": describe([m["train_seconds"] for m in group]),
        "finished": sum(m["finished"] for m in group),
        "failed": sum(m["failed"] for m in group),
        "pruned": sum(m["pruned"] for m in group),
        "cache_hits": sum(m["cache_hits"] for m in group),
        "reached_target": len(reached),
        "trials_to_target": describe([m["trials_to_target"] for m in reached]),
        "seconds_to_target": describe([m["seconds_to_target"] for m in reached]),
        "epochs_to_target": describe([m["epochs_to_target"] for m in reached]),
        "configurations": describe([m["configurations"] for m in group]),
        "at_top_rung": describe([m["at_top_rung"] for m in group]),
        "epochs": describe([m["epochs"] for m in group]),
    }


def _pair_tests(groups: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every pair of optimizers tested on every seed's final best; seeds needed at the
    level of Holm's first step, ``ALPHA / pairs``."""
    values = {name: [final_best(m) for m in group] for name, group in groups.items()}
    pairs = [(a, b) for a, b in itertools.combinations(groups, 2) if values[a] and values[b]]
    level = ALPHA / max(len(pairs), 1)
    tests = [mann_whitney(first=a, x=values[a], second=b, y=values[b], alpha=level).to_dict() for a, b in pairs]
    for test, adjusted in zip(tests, holm([t["p_value"] for t in tests]), strict=True):
        test["p_holm"] = adjusted
        test["significant"] = adjusted < ALPHA
    return tests
