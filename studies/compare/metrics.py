"""What one study of a comparison achieved, computed from its stored trials only.

The best so far is the final model's: the best value of the highest rung reached, so a
configuration screened for one epoch never outranks one trained to the top rung. Compute
is counted in training epochs (what the epoch budget counts) and in time.

Time is *trial time*: the summed durations of its finished trials, in trial order. It
is what one worker spends, it survives interruptions and resumes (gaps between runs
do not count), and HHO proposals answered from its cache cost nothing. A trial whose
worker died counts only the time it is known to have run (:func:`effective_seconds`),
not the time until another process failed it.
"""

from __future__ import annotations

import math
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from search.failures import FAIL_KIND_ATTR, FAIL_REASON_ATTR, WORKER_DIED
from search.schedulers import epochs_counted, screening_trials
from search.schedulers.segments import TRAIN_SECONDS_ATTR, rung_of
from studies.compare.collect import StudyRun
from studies.store.identity import RAN_SECONDS_ATTR


def best_so_far(run: StudyRun) -> list[float | None]:
    """After each finished trial, the value of the final model so far: the best COMPLETE
    value of the highest rung reached (:func:`search.schedulers.final_trial`; with one
    rung, the best value). None until there is one."""
    curve: list[float | None] = []
    best: tuple[int, float] | None = None
    for trial in run.trials:
        if trial.state == TrialState.COMPLETE and trial.value is not None and math.isfinite(trial.value):
            best = max(best or (rung_of(trial), trial.value), (rung_of(trial), trial.value))
        curve.append(None if best is None else best[1])
    return curve


def epochs_so_far(run: StudyRun) -> list[int]:
    """After each finished trial, the training epochs of the trials so far (the compute spent)."""
    rungs = run.record.rungs
    total, curve = 0, []
    for trial in run.trials:
        total += epochs_counted(trial, rungs)
        curve.append(total)
    return curve


def effective_seconds(trial: FrozenTrial) -> float | None:
    """The seconds ``trial`` counts for in trial time; None when unknown.

    Its duration, except for a trial failed because its worker died: that one's duration
    runs until another process noticed, so it counts what it is known to have run (its
    ``ran_seconds``, at most its duration), or is unknown without that record.
    """
    duration = trial.duration.total_seconds() if trial.duration is not None else 0.0
    if trial.state != TrialState.FAIL or trial.user_attrs.get(FAIL_KIND_ATTR) != WORKER_DIED:
        return duration
    ran = trial.user_attrs.get(RAN_SECONDS_ATTR)
    if isinstance(ran, bool) or not isinstance(ran, int | float) or not math.isfinite(ran) or ran < 0:
        return None
    return min(float(ran), duration)


def elapsed_seconds(run: StudyRun) -> list[float]:
    """After each finished trial, the summed :func:`effective_seconds` of the trials so far (unknown counts 0)."""
    total, curve = 0.0, []
    for trial in run.trials:
        total += effective_seconds(trial) or 0.0
        curve.append(total)
    return curve


def first_reaching(curve: list[float | None], target: float) -> int | None:
    """The index of the first point of ``curve`` at or above ``target``; None if never."""
    return next((i for i, value in enumerate(curve) if value is not None and value >= target), None)


def run_metrics(run: StudyRun, *, target: float) -> dict[str, Any]:
    """Everything the report says about ``run``, as JSON-ready values."""
    curve = best_so_far(run)
    elapsed = elapsed_seconds(run)
    epochs = epochs_so_far(run)
    hit = first_reaching(curve, target)
    top = len(run.record.rungs) - 1
    states = [t.state for t in run.trials]
    return {
        "study": run.name,
        "optimizer": run.optimizer,
        "seed": run.seed,
        "best": curve[-1] if curve else None,
        "finished": len(run.trials),
        "complete": states.count(TrialState.COMPLETE),
        "pruned": states.count(TrialState.PRUNED),
        "failed": states.count(TrialState.FAIL),
        "fail_reasons": sorted({str(t.user_attrs[FAIL_REASON_ATTR]) for t in run.trials
                                if t.state == TrialState.FAIL and FAIL_REASON_ATTR in t.user_attrs}),
        "cache_hits": run.cache_hits,
        "trial_seconds": elapsed[-1] if elapsed else 0.0,
        # Trials whose worker died with no record of how long they ran: counted as 0 s above.
        "unknown_durations": sum(effective_seconds(t) is None for t in run.trials),
        "train_seconds": sum(float(t.user_attrs.get(TRAIN_SECONDS_ATTR, 0.0)) for t in run.trials),
        "trials_to_target": None if hit is None else hit + 1,
        "seconds_to_target": None if hit is None else elapsed[hit],
        "epochs_to_target": None if hit is None else epochs[hit],
        "epochs": epochs[-1] if epochs else 0,
        "configurations": len(screening_trials(run.trials)),
        "at_top_rung": sum(t.state == TrialState.COMPLETE and rung_of(t) == top for t in run.trials),
        "best_so_far": curve,
        "elapsed_seconds": elapsed,
        "epochs_so_far": epochs,
    }
